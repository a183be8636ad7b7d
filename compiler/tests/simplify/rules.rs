//! The built-in rules, one fixture each: `tests/simplify/<rule-name>.ir` must make that rule fire
//! (its `// fires:` line says how often) and print as `<rule-name>.expected.ir`, through the same
//! function as `qcc rules test`; a rule without such a fixture fails the suite.
//! `tests/simplify/folded/` holds rules meeting each other (every BatchNorm must fold);
//! `tests/simplify/unfolded/` the BatchNorms that must stay, with `--explain`'s reason for each.

use super::support::{check, count, fixture, fixtures, qcc, stdout};
use qcc::egraph::saturate::Limits;
use qcc::ir::OpKind;
use qcc::rules::fixture::{expectations, run_fixture, PhaseRules};
use qcc::rules::RuleSet;
use std::collections::BTreeSet;

#[test]
fn every_builtin_rule_fires_in_its_fixture() {
    let all = RuleSet::all_builtin().expect("the built-in rules load");
    let phases = PhaseRules::split(&all);
    let names: BTreeSet<String> = phases
        .simplify
        .rules
        .iter()
        .map(|r| r.name().to_string())
        .collect();
    let mut covered = BTreeSet::new();
    for (stem, path) in fixtures(".") {
        assert!(
            names.contains(&stem),
            "tests/simplify/{stem}.ir is named after no built-in rule"
        );
        let text = std::fs::read_to_string(&path).expect("the fixture reads");
        let want = expectations(&path, &text).unwrap_or_else(|e| panic!("{stem}: {e}"));
        assert!(
            want.fires.iter().any(|(r, n)| *r == stem && *n > 0),
            "{stem}.ir has no `// fires: {stem} N` line: {want:?}"
        );
        let outcome = run_fixture(&path, &phases, &Limits::default(), false)
            .unwrap_or_else(|e| panic!("{stem}: {e}"));
        assert!(
            outcome.problems.is_empty(),
            "{stem}:\n{}",
            outcome.problems.join("\n")
        );
        covered.insert(stem);
    }
    let missing: Vec<&String> = names.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "built-in rules without a fixture in tests/simplify/: {missing:?}"
    );
}

/// The command users run is the one the suite runs: `qcc rules test` over the whole directory
/// passes, and a result changed by hand fails with a unified diff.
#[test]
fn qcc_rules_test_passes_the_builtin_fixtures_and_diffs_a_changed_one() {
    let o = qcc(&["rules", "test", "-", "tests/simplify"]);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}");
    assert!(
        text.ends_with(&format!("{} passed, 0 failed\n", fixtures(".").len())),
        "{text}"
    );

    let dir = tempfile::tempdir().expect("a temporary directory");
    let ir = dir.path().join("fold-bn-into-conv.ir");
    std::fs::copy(fixture("fold-bn-into-conv.ir"), &ir).expect("copied");
    let expected =
        std::fs::read_to_string(fixture("fold-bn-into-conv.expected.ir")).expect("reads");
    std::fs::write(
        dir.path().join("fold-bn-into-conv.expected.ir"),
        expected.replace("groups = 1", "groups = 2"),
    )
    .expect("written");
    let o = qcc(&["rules", "test", "-", ir.to_str().expect("UTF-8")]);
    let text = stdout(&o);
    assert!(!o.status.success(), "{text}");
    assert!(
        text.contains("  --- expected\n  +++ actual\n")
            && text.contains("-  %n = conv2d(%x, @n.w, @n.b) {strides = [1, 1], pads = [0, 0, 0, 0], dilations = [1, 1], groups = 2")
            && text.contains("+  %n = conv2d(%x, @n.w, @n.b) {strides = [1, 1], pads = [0, 0, 0, 0], dilations = [1, 1], groups = 1")
            && text.ends_with("0 passed, 1 failed\n"),
        "{text}"
    );

    // A firing count that is wrong fails (with the blessed result in place), and a malformed
    // `// fires:` line is an error naming its line.
    let source = std::fs::read_to_string(fixture("fold-bn-into-conv.ir")).expect("reads");
    std::fs::write(
        &ir,
        source.replace(
            "// fires: fold-bn-into-conv 1",
            "// fires: fold-bn-into-conv 2",
        ),
    )
    .expect("written");
    let o = qcc(&["rules", "test", "-", ir.to_str().expect("UTF-8"), "--bless"]);
    let text = stdout(&o);
    assert!(
        !o.status.success()
            && text.contains("  fold-bn-into-conv fired 1 times, the fixture says 2\n"),
        "{text}"
    );
    std::fs::write(
        &ir,
        source.replace(
            "// fires: fold-bn-into-conv 1",
            "// fires: fold-bn-into-conv once",
        ),
    )
    .expect("written");
    let o = qcc(&["rules", "test", "-", ir.to_str().expect("UTF-8")]);
    assert!(
        !o.status.success()
            && super::support::stderr(&o).contains("fold-bn-into-conv.ir:3: `// fires:` takes `RULE COUNT` pairs separated by commas, not `fold-bn-into-conv once`"),
        "{}",
        super::support::stderr(&o)
    );
}

#[test]
fn rules_in_combination_fold_every_batch_norm() {
    let rules = RuleSet::builtin_and(&[]).expect("the built-in rules load");
    for (stem, _) in fixtures("folded") {
        let c = check(
            &format!("folded_{stem}"),
            &format!("folded/{stem}.ir"),
            &rules,
            &Limits::default(),
        );
        assert!(
            c.report.saturated(),
            "{stem}: saturation stopped at the {}",
            c.report.stop
        );
        assert_eq!(
            count(&c.output, OpKind::BatchNorm),
            0,
            "{stem}: a BatchNorm is left"
        );
    }
}

/// BatchNorms that must stay: the model comes out unchanged, and `--explain` says why.
#[test]
fn unfoldable_batch_norms_are_left_alone_with_a_reason() {
    let rules = RuleSet::builtin_and(&[]).expect("the built-in rules load");
    for (stem, _) in fixtures("unfolded") {
        let c = check(
            &format!("unfolded_{stem}"),
            &format!("unfolded/{stem}.ir"),
            &rules,
            &Limits::default(),
        );
        assert!(
            c.report.saturated(),
            "{stem}: saturation stopped at the {}",
            c.report.stop
        );
        assert_eq!(
            count(&c.output, OpKind::BatchNorm),
            count(&c.input, OpKind::BatchNorm),
            "{stem}: a BatchNorm was folded"
        );
        assert_eq!(
            qcc::ir::print::print(&c.output),
            qcc::ir::print::print(&c.input),
            "{stem}: the model changed"
        );
    }
}

/// The exporters' forms of rules/affine.rules and rules/activation.rules on the models of
/// tests/simplify/user/ (once cookbook rules): each named rule fires, and the output stays within
/// 1e-4 of the largest value.
#[test]
fn exporter_forms_fold_on_models_with_the_output_unchanged() {
    use super::support::{agree, inputs, read, root, run, Agree};
    let rules = RuleSet::builtin_and(&[]).expect("the built-in rules load");
    let cases: &[(&str, &[&str])] = &[
        (
            "tests/simplify/user/channel_scale.ir",
            &["fold-per-channel-scale-into-conv"],
        ),
        (
            "tests/simplify/user/channel_affine.ir",
            &[
                "constant-term-second",
                "fold-per-channel-offset-into-conv-bias",
                "fold-per-channel-scale-into-conv",
            ],
        ),
        (
            "tests/simplify/user/hard_swish.ir",
            &["hard-swish-from-clip"],
        ),
    ];
    for (model, fire) in cases {
        let before = read(&root().join(model));
        let (after, report) = qcc::pipeline::optimize(&before, &rules, &Limits::default())
            .expect("the model optimizes");
        for rule in *fire {
            assert!(
                report.fired.get(*rule).is_some_and(|&n| n > 0),
                "{model}: {rule} did not fire: {:?}",
                report.fired
            );
        }
        let x = inputs(&before);
        agree(&run(&after, &x), &run(&before, &x), Agree::Rel(1e-4))
            .unwrap_or_else(|e| panic!("{model}: the outputs differ: {e}"));
    }
}
