//! The lowering rules, one fixture each: `tests/lower/<rule-name>.ir` is a QDQ model as the
//! quantizer writes it (u8 per-tensor activations, i8 per-axis weights, i32 biases at S_x·S_w)
//! that must make that rule fire; a rule of rules/lower.rules without such a fixture fails.

use super::support::{check, fixtures};
use qcc::rules::RuleSet;
use std::collections::BTreeSet;

/// The lowering rules proper, and the one cancellation rule of rules/quant.rules they rely on.
fn lowering_rule_names() -> BTreeSet<String> {
    let text = include_str!("../../../rules/lower.rules");
    let mut names: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("rule "))
        .map(|l| l.trim_end_matches('{').trim().to_string())
        .collect();
    names.insert("cancel-dequantize-quantize".to_string());
    names
}

#[test]
fn every_lowering_rule_fires_in_its_fixture() {
    let rules = RuleSet::lowering_and(&[]).expect("the lowering rules load");
    let names = lowering_rule_names();
    assert!(names.len() > 10, "rules/lower.rules reads as {names:?}");
    let mut covered = BTreeSet::new();
    for (stem, path) in fixtures() {
        assert!(
            names.contains(&stem),
            "tests/lower/{stem}.ir is named after no lowering rule"
        );
        let c = check(&stem, &path, &rules);
        assert!(
            c.report.fired.get(&stem).is_some_and(|&n| n > 0),
            "{stem}.ir does not make {stem} fire: {:?}",
            c.report.fired
        );
        // Lowered means no float arithmetic is left: only the input's quantize and the output's
        // dequantize stay f32-facing.
        let float_ops: Vec<String> = c
            .output
            .ops_in_order()
            .into_iter()
            .map(|id| c.output.node(id))
            .filter(|n| {
                n.ty.elem.quant().is_none()
                    && n.op()
                        .is_some_and(|o| o.kind != qcc::ir::OpKind::Dequantize)
            })
            .map(|n| format!("%{}", n.name))
            .collect();
        assert!(
            float_ops.is_empty(),
            "{stem}: ops left in float: {float_ops:?}"
        );
        covered.insert(stem);
    }
    let missing: Vec<&String> = names.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "lowering rules without a fixture in tests/lower/: {missing:?}"
    );
}

/// lower-softmax computes its table in the rule language; it must be the table docs/ir.md
/// defines and `runtime::qops::qsoftmax_table` computes, entry for entry, for each input scale.
#[test]
fn lower_softmax_writes_the_runtime_table() {
    let rules = RuleSet::lowering_and(&[]).expect("the lowering rules load");
    let path = super::support::root().join("tests/lower/lower-softmax.ir");
    let out = check("lower-softmax", &path, &rules).output;
    let mut seen = 0;
    for id in out.ops_in_order() {
        let node = out.node(id);
        let Some(op) = node.op().filter(|o| o.kind == qcc::ir::OpKind::QSoftmax) else {
            continue;
        };
        let x = out.node(out.operands(id)[0]);
        let sx = x.ty.elem.quant().expect("codes").scales[0];
        let want: Vec<i64> = runtime::qops::qsoftmax_table(sx)
            .into_iter()
            .map(i64::from)
            .collect();
        assert_eq!(
            op.ints("table").expect("a table"),
            &want[..],
            "%{}",
            node.name
        );
        seen += 1;
    }
    assert_eq!(seen, 2, "the fixture's two softmaxes are lowered");
}
