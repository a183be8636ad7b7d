//! The profiling build (`qcc … --profile`): what each timed step of a library is, as the shim's
//! `NAME_profile_steps` describes it, so that a time per step can be read back against the ops.
//!
//! The step list is the schedule itself (one step per kernel call, in call order, including the
//! steps that dequantize or copy an output into the caller's buffer), so a profile never has to
//! be matched to the IR by guesswork.

use crate::backend::Step;
use crate::ir::attr::Attr;
use crate::ir::print::attrs_in_order;
use crate::ir::types::{fmt_shape, ElemType, QuantType, TensorType};

/// Lists longer than this print as a count: per-channel multipliers and scales are data, not
/// what tells one layer's shape from another's, and would make a line kilobytes long.
const LIST_SHOWN: usize = 8;

/// One kernel call of a profiling build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileStep {
    /// The IR name of the op's result (without `%`).
    pub name: String,
    /// The op's IR name (`qconv2d`, `qadd`, `dequantize`, …).
    pub kind: String,
    /// The operands' types, as the IR prints them (long per-axis lists shortened).
    pub operands: Vec<String>,
    pub result: String,
    /// The attributes as the IR prints them (`{strides = [1, 1], …}`, long lists shortened), or
    /// empty.
    pub attrs: String,
}

impl ProfileStep {
    /// The step as the backend scheduled it.
    pub fn of(step: &Step) -> ProfileStep {
        let attrs: Vec<String> = attrs_in_order(&step.op)
            .into_iter()
            .map(|(k, v)| format!("{k} = {}", attr_text(v)))
            .collect();
        ProfileStep {
            name: step.name.clone(),
            kind: step.op.kind.name().to_string(),
            operands: step.args.iter().map(|a| type_text(&a.ty)).collect(),
            result: type_text(&step.out.ty),
            attrs: if attrs.is_empty() {
                String::new()
            } else {
                format!("{{{}}}", attrs.join(", "))
            },
        }
    }

    /// One line of `NAME_profile_steps` (without the newline): name, kind, operand types (joined
    /// by `, ` as an operand list prints), result type and attributes, separated by tabs. No
    /// field holds a tab or a newline: names are IR identifiers and types and attributes print
    /// without them.
    pub fn line(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}",
            self.name,
            self.kind,
            self.operands.join(", "),
            self.result,
            self.attrs
        )
    }
}

/// A tensor type as the IR prints it, except that a per-axis quantization shows how many scales
/// it has instead of listing them.
fn type_text(ty: &TensorType) -> String {
    match &ty.elem {
        ElemType::Quant(QuantType {
            storage,
            scales,
            axis: Some(axis),
            ..
        }) => format!(
            "tensor<{}{}!quant<{storage}, axis {axis}, {} scales>>",
            fmt_shape(&ty.shape),
            if ty.shape.is_empty() { "" } else { "x" },
            scales.len()
        ),
        _ => ty.to_string(),
    }
}

fn attr_text(a: &Attr) -> String {
    match a {
        Attr::Ints(v) if v.len() > LIST_SHOWN => format!("[{} values]", v.len()),
        Attr::Floats(v) if v.len() > LIST_SHOWN => format!("[{} values]", v.len()),
        other => other.to_string(),
    }
}
