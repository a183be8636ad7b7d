//! The `nll_loss` op's attributes and result type, and its runtime reduction: one place for what
//! the schema, inference and the interpreter need (the semantics are `runtime::ops::nll_loss`).

use super::attr::{Attr, AttrKind};
use super::op::{AttrSpec, Op};
use super::types::{ElemType, TensorType};
use runtime::ops::LossReduction;
use runtime::DType;

pub const ATTRS: &[AttrSpec] = &[
    AttrSpec {
        name: "reduction",
        kind: AttrKind::Str,
        default: Some(|| Attr::Str("mean".into())),
        required: false,
        doc: "none (one loss per target), sum, or mean (Σ loss / Σ weight)",
    },
    AttrSpec {
        name: "ignore_index",
        kind: AttrKind::Int,
        default: None,
        required: false,
        doc: "a target value that weighs 0 (absent: none)",
    },
];

pub fn reduction(op: &Op) -> Result<LossReduction, String> {
    match op.str_of("reduction")?.as_str() {
        "none" => Ok(LossReduction::None),
        "sum" => Ok(LossReduction::Sum),
        "mean" => Ok(LossReduction::Mean),
        r => Err(format!(
            "attribute `reduction` = {r:?} is not one of none, sum, mean"
        )),
    }
}

/// x f32 `[N, C, d…]`, target integers `[N, d…]`, weight f32 `[C]`.
pub fn infer(op: &Op, operands: &[&TensorType]) -> Result<TensorType, String> {
    let r = reduction(op)?;
    let (x, t) = (operands[0], operands[1]);
    if x.elem != ElemType::F32 || x.rank() < 2 {
        return Err(format!("operand `x` must be f32 [N, C, …], got {x}"));
    }
    let d = t.elem.storage();
    if t.elem.quant().is_some() || d.is_float() || d == DType::Bool {
        return Err(format!("operand `target` must be integers, got {t}"));
    }
    let want: Vec<usize> = [&x.shape[..1], &x.shape[2..]].concat();
    if t.shape != want {
        return Err(format!(
            "operand `target` ({t}) must be `x` ({x}) without its class axis"
        ));
    }
    if let Some(w) = operands.get(2) {
        if w.elem != ElemType::F32 || w.shape != [x.shape[1]] {
            return Err(format!(
                "operand `weight` must be f32 with one value per class ({}), got {w}",
                x.shape[1]
            ));
        }
    }
    Ok(TensorType::f32(if r == LossReduction::None {
        want
    } else {
        vec![]
    }))
}
