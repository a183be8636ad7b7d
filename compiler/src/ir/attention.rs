//! The `attention` op's attributes, result type and runtime parameters: one place for what the
//! schema, inference and the interpreter need to know about it (the semantics are
//! `runtime::ops::attention`).

use super::attr::{Attr, AttrKind};
use super::op::{AttrSpec, Op};
use super::types::{ElemType, TensorType};
use runtime::ops::{attention_shape, AttentionParams, AttentionResult};
use runtime::DType;

/// The names `result` takes, with what each computes.
const RESULTS: &[(&str, AttentionResult)] = &[
    ("y", AttentionResult::Output),
    ("scores", AttentionResult::Scores),
    ("biased_scores", AttentionResult::BiasedScores),
    ("probabilities", AttentionResult::Probabilities),
];

pub const ATTRS: &[AttrSpec] = &[
    AttrSpec {
        name: "scale",
        kind: AttrKind::Float,
        default: None,
        required: true,
        doc: "the factor on q·kᵀ (ONNX's default 1/√head_size is resolved at import)",
    },
    AttrSpec {
        name: "softcap",
        kind: AttrKind::Float,
        default: Some(|| Attr::Float(0.0)),
        required: false,
        doc: "scores become softcap·tanh(s/softcap) when positive",
    },
    AttrSpec {
        name: "is_causal",
        kind: AttrKind::Bool,
        default: Some(|| Attr::Bool(false)),
        required: false,
        doc: "a query attends no key after its own position",
    },
    AttrSpec {
        name: "offset",
        kind: AttrKind::Int,
        default: Some(|| Attr::Int(0)),
        required: false,
        doc: "cached keys before the first query: query i is at position i + offset",
    },
    AttrSpec {
        name: "left_window",
        kind: AttrKind::Int,
        default: Some(|| Attr::Int(-1)),
        required: false,
        doc: "keys more than this many positions before the query are masked (−1: none)",
    },
    AttrSpec {
        name: "right_window",
        kind: AttrKind::Int,
        default: Some(|| Attr::Int(-1)),
        required: false,
        doc: "keys more than this many positions after the query are masked (−1: none)",
    },
    AttrSpec {
        name: "result",
        kind: AttrKind::Str,
        default: Some(|| Attr::Str("y".into())),
        required: false,
        doc: "y, or the scores: scores (after softcap), biased_scores (mask added), probabilities (after softmax)",
    },
];

/// The runtime parameters of an `attention` op, its attributes checked.
pub fn params(op: &Op) -> Result<AttentionParams, String> {
    let result = op.str_of("result")?;
    let result = RESULTS
        .iter()
        .find(|r| r.0 == result.as_str())
        .map(|r| r.1)
        .ok_or_else(|| {
            let names: Vec<&str> = RESULTS.iter().map(|r| r.0).collect();
            format!(
                "attribute `result` = {result:?} is not one of {}",
                names.join(", ")
            )
        })?;
    let scale = op
        .float("scale")
        .ok_or("attribute `scale` must be a float")?;
    if !(scale.is_finite() && scale > 0.0) {
        return Err(format!("attribute `scale` = {scale} must be positive"));
    }
    let softcap = op.float_of("softcap")?;
    if !softcap.is_finite() || softcap < 0.0 {
        return Err(format!(
            "attribute `softcap` = {softcap} must be 0 or positive"
        ));
    }
    let window = |name: &str| -> Result<i64, String> {
        let w = op.int_of(name)?;
        if w < -1 {
            return Err(format!("attribute `{name}` = {w} must be −1 or at least 0"));
        }
        Ok(w)
    };
    Ok(AttentionParams {
        scale,
        softcap,
        causal: op.bool_of("is_causal")?,
        offset: op.int_of("offset")?,
        left_window: window("left_window")?,
        right_window: window("right_window")?,
        result,
    })
}

/// q, k, v f32 of shapes `[b, hq, s, d]`, `[b, hk, t, d]`, `[b, hk, t, dv]`; an f32 or bool mask.
pub fn infer(op: &Op, operands: &[&TensorType]) -> Result<TensorType, String> {
    let p = params(op)?;
    for (name, t) in ["q", "k", "v"].iter().zip(operands) {
        if t.elem != ElemType::F32 {
            return Err(format!("operand `{name}` must be f32, got {t}"));
        }
    }
    let mask = operands.get(3);
    if let Some(m) = mask {
        let plain = m.elem.quant().is_none();
        if !(plain && matches!(m.elem.storage(), DType::F32 | DType::Bool)) {
            return Err(format!("operand `mask` must be f32 or bool, got {m}"));
        }
    }
    let shape = attention_shape(
        &operands[0].shape,
        &operands[1].shape,
        &operands[2].shape,
        mask.map(|m| &m.shape[..]),
        p.result,
    )?;
    Ok(TensorType::f32(shape))
}
