//! Diagnostics: each `tests/ir/err/*.ir` fails to parse, and what a person would read (every
//! problem in the file, rendered with file:line:col and carets) is a snapshot.

use super::support::{fixtures, snapshot_settings, source};
use qcc::diag::{render, Error};
use qcc::ir::parse::parse;

/// One error fixture: parsing fails with diagnostics at spans inside the text.
fn check_error(stem: &str, text: &str) {
    let src = source("err", stem, text);
    let diags = match parse(&src) {
        Ok(_) => panic!("{stem} parses, but it is an error fixture"),
        Err(Error::Source { diags, .. }) => diags,
        Err(other) => panic!("{stem}: not a source error: {other}"),
    };
    assert!(!diags.is_empty(), "{stem}: an error without diagnostics");
    for d in &diags {
        assert!(
            d.span.start <= d.span.end && d.span.end <= text.len(),
            "{stem}: span {:?} outside the text",
            d.span
        );
    }
    snapshot_settings("err", stem)
        .bind(|| insta::assert_snapshot!(format!("ir_err__{stem}"), render(&src, &diags)));
}

#[test]
fn error_fixtures_report_every_problem() {
    for (stem, text) in fixtures("err") {
        check_error(&stem, &text);
    }
}
