//! docs/dsl.md's op list is generated from the op table, so it cannot go stale: this test
//! regenerates it and compares (with `QCC_BLESS_DOCS=1` it rewrites the section instead).

use super::support::root;
use qcc::rules::ops_doc::{ops_table, BEGIN, END};

#[test]
fn dsl_doc_lists_every_op_as_the_op_table_has_it() {
    let path = root().join("docs/dsl.md");
    let doc = std::fs::read_to_string(&path).expect("docs/dsl.md reads");
    let start = doc
        .find(BEGIN)
        .expect("docs/dsl.md has the ops section's start marker")
        + BEGIN.len()
        + 1;
    let end = doc[start..].find(END).expect("and its end marker") + start;
    let table = ops_table();
    if std::env::var_os("QCC_BLESS_DOCS").is_some() {
        std::fs::write(&path, format!("{}{table}{}", &doc[..start], &doc[end..]))
            .expect("docs/dsl.md is written");
        return;
    }
    assert!(
        doc[start..end] == table,
        "docs/dsl.md's op list is stale (regenerate it with QCC_BLESS_DOCS=1):\n{}",
        qcc::rules::fixture::diff(&doc[start..end], &table)
    );
}
