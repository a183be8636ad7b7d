//! Every fixture through one `check`: `ok/` files pass the checker and print back unchanged,
//! `fmt/` files print to a canonical form that is a fixed point, `err/` files fail with the
//! diagnostics in their snapshot, `ast/` files show the tree the compiler lowers. Adding a test
//! is adding a file.

mod common;

use common::TestVocab;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// Runs `f` on every `.rules` file of `fixtures/<dir>` and snapshots its output; reports every
/// failing fixture, not just the first.
fn check(dir: &str, f: fn(&str, &str) -> String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
        .expect("fixture directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rules"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no fixtures in {dir}/");
    let mut failures = vec![];
    for path in paths {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let text = std::fs::read_to_string(&path).expect("readable fixture");
        let name = format!("{dir}/{stem}.rules");
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let out = f(&name, &text);
            insta::with_settings!({
                snapshot_path => root.join("snapshots"),
                prepend_module_to_snapshot => false,
                input_file => &path,
                omit_expression => true,
            }, {
                insta::assert_snapshot!(format!("{dir}__{stem}"), out);
            });
        }));
        if outcome.is_err() {
            failures.push(name);
        }
    }
    assert!(failures.is_empty(), "failing fixtures: {failures:?}");
}

#[test]
fn ok_fixtures_check_and_are_canonical() {
    check("ok", |name, text| {
        let file = dsl::parse_and_check(name, text, &TestVocab)
            .unwrap_or_else(|d| panic!("{name}:\n{}", d.render()));
        let printed = dsl::print(&file);
        assert_eq!(printed, text, "{name} is not in canonical form");
        printed
    });
}

#[test]
fn fmt_fixtures_print_to_a_fixed_point() {
    check("fmt", |name, text| {
        let file = dsl::parse(name, text).unwrap_or_else(|d| panic!("{name}:\n{}", d.render()));
        let printed = dsl::print(&file);
        let again = dsl::parse(name, &printed)
            .unwrap_or_else(|d| panic!("{name} printed:\n{}", d.render()));
        assert_eq!(
            dsl::print(&again),
            printed,
            "{name}: printing is not idempotent"
        );
        printed
    });
}

#[test]
fn err_fixtures_report_their_diagnostics() {
    check("err", |name, text| {
        match dsl::parse_and_check(name, text, &TestVocab) {
            Ok(_) => panic!("{name} was accepted"),
            Err(d) => d.render(),
        }
    });
}

#[test]
fn ast_fixtures_show_the_tree() {
    check("ast", |name, text| {
        let file = dsl::parse_and_check(name, text, &TestVocab)
            .unwrap_or_else(|d| panic!("{name}:\n{}", d.render()));
        format!("{:#?}", file.rules)
    });
}
