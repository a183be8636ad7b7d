//! Fusions the rule language cannot state: SiLU, `mul(x, sigmoid(x))` as ONNX exports it,
//! becomes one `unary {fn = "silu"}`, which the quantizer then turns into one lookup table.
//!
//! Why not a rule: a pattern binds each name once, and two operands can only be compared as
//! constant values, never as "the same run-time value"; and the replacement would have to write
//! a string attribute, which the rule language has no literal for.

use crate::ir::{Attr, Model, Op, OpKind};

/// Replaces every `mul(x, sigmoid(x))` and `mul(sigmoid(x), x)` by `unary(x) {fn = "silu"}`,
/// keeping the mul's name; a sigmoid with other users stays for them. Returns how many fused.
/// The float result is bit for bit the same (runtime::ops::unary defines silu as that product).
pub fn fuse_silu(model: &mut Model) -> usize {
    let mut fused = 0;
    for id in model.ops_in_order() {
        let is_mul = model.node(id).op().is_some_and(|o| o.kind == OpKind::Mul);
        if !is_mul {
            continue;
        }
        let ops = model.operands(id);
        let sigmoid_of = |s| {
            let n = model.node(s);
            (n.op().is_some_and(|o| o.kind == OpKind::Sigmoid)).then(|| model.operands(s)[0])
        };
        let x = match (sigmoid_of(ops[1]), sigmoid_of(ops[0])) {
            (Some(x), _) if x == ops[0] => x,
            (_, Some(x)) if x == ops[1] => x,
            _ => continue,
        };
        // Broadcasting cannot be involved: both operands are x's shape.
        let ty = model.node(id).ty.clone();
        let name = model.node(id).name.clone();
        model.node_mut(id).name = model.fresh_name(&format!("{name}_mul"));
        let op = Op::new(
            OpKind::Unary,
            [("fn".to_string(), Attr::Str("silu".into()))]
                .into_iter()
                .collect(),
        );
        let silu = model.add_op(name, op, &[x], ty);
        model.replace_all_uses(id, silu);
        fused += 1;
    }
    if fused > 0 {
        model.remove_dead();
    }
    fused
}
