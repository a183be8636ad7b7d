//! docs/ir.md is written by hand and checked here: it has the sections a reader expects, an
//! entry for every op of the schema with its operands and every attribute (kind and default),
//! no entry for an op that does not exist, and the grammar verbatim.

use qcc::ir::op::AttrSpec;
use qcc::ir::schemas;
use std::path::Path;

fn doc() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ir.md"))
        .expect("docs/ir.md exists")
}

/// The text of `## title` up to the next `## `.
fn section<'a>(doc: &'a str, title: &str) -> &'a str {
    let head = format!("\n## {title}\n");
    let start = doc
        .find(&head)
        .unwrap_or_else(|| panic!("docs/ir.md has no section `## {title}`"))
        + head.len();
    let end = doc[start..].find("\n## ").map_or(doc.len(), |e| start + e);
    &doc[start..end]
}

/// Every `### \`op\`` entry of the Ops section: name and body.
fn op_entries(ops: &str) -> Vec<(&str, &str)> {
    let mut out = vec![];
    for part in ops.split("\n### ").skip(1) {
        let (title, body) = part.split_once('\n').unwrap_or((part, ""));
        out.push((title.trim().trim_matches('`'), body));
    }
    out
}

/// The table row of an attribute must give its kind and its default (or say it is required, or
/// that it may be absent).
fn check_attr_row(op: &str, body: &str, spec: &AttrSpec) {
    let prefix = format!("| `{}` |", spec.name);
    let row = body
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("{op}: no row for `{}`", spec.name));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert_eq!(
        cells.get(2).copied(),
        Some(spec.kind.name()),
        "{op}.{}: kind in {row}",
        spec.name
    );
    let default = match (spec.default, spec.required) {
        (Some(d), _) => format!("`{}`", d()),
        (None, true) => "required".to_string(),
        (None, false) => "—".to_string(),
    };
    assert_eq!(
        cells.get(3).copied(),
        Some(default.as_str()),
        "{op}.{}: default in {row}",
        spec.name
    );
}

#[test]
fn docs_have_their_sections() {
    let doc = doc();
    for title in ["Tour", "Types", "Weights", "Ops", "Grammar"] {
        section(&doc, title);
    }
}

#[test]
fn docs_describe_every_op_with_its_attributes() {
    let doc = doc();
    let entries = op_entries(section(&doc, "Ops"));
    for (name, _) in &entries {
        assert!(
            schemas().iter().any(|s| s.name == *name),
            "docs/ir.md describes `{name}`, which is not an op"
        );
    }
    for schema in schemas() {
        let body = entries
            .iter()
            .find(|(n, _)| *n == schema.name)
            .map(|(_, b)| *b);
        let body =
            body.unwrap_or_else(|| panic!("docs/ir.md has no entry `### \\`{}\\``", schema.name));
        let operands = body
            .lines()
            .find(|l| l.starts_with("Operands:"))
            .unwrap_or_else(|| panic!("{}: no `Operands:` line", schema.name));
        for o in schema.operands.names {
            assert!(
                operands.contains(&format!("`{o}`")),
                "{}: operand `{o}` missing from {operands}",
                schema.name
            );
        }
        for spec in schema.attrs {
            check_attr_row(schema.name, body, spec);
        }
        let rows = body.lines().filter(|l| l.starts_with("| `")).count();
        assert_eq!(
            rows,
            schema.attrs.len(),
            "{}: the table has rows for attributes the op does not have",
            schema.name
        );
        if schema.attrs.is_empty() {
            assert!(
                body.contains("No attributes"),
                "{}: say that it has no attributes",
                schema.name
            );
        }
    }
}

#[test]
fn docs_grammar_is_the_grammar() {
    let doc = doc();
    let grammar = section(&doc, "Grammar");
    let start = grammar.find("```pest\n").expect("a ```pest block") + "```pest\n".len();
    let end = grammar[start..].find("```").expect("the block ends") + start;
    assert_eq!(
        &grammar[start..end],
        include_str!("../../src/ir/grammar.pest"),
        "docs/ir.md's grammar differs from grammar.pest"
    );
}
