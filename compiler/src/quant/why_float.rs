//! Why the quantizer leaves an op in float: one sentence per op, for `--explain` and the
//! report. The conditions restate the quantizer's own (`qdq::role`) and the forms the
//! simplify rules (`rules/linear.rules`) bring linear layers into, from the op's side: what
//! it would take for the op to have an integer form.

use crate::ir::model::{Model, NodeId};
use crate::ir::op::{Op, OpKind};

/// Why `n` (an op the quantizer gave no integer role) stays float.
pub fn why(model: &Model, n: NodeId, op: &Op) -> Result<String, String> {
    let operands = model.operands(n);
    let node = |i: usize| operands.get(i).map(|&o| model.node(o));
    let is_const = |i: usize| node(i).is_some_and(|x| x.is_weight());
    let activations = operands
        .iter()
        .filter(|&&o| !model.node(o).is_weight())
        .count();
    Ok(match op.kind {
        OpKind::Conv2d | OpKind::ConvTranspose2d | OpKind::Gemm if !is_const(1) => {
            "its weight is not a constant (an integer kernel needs weights quantized at compile time)"
                .into()
        }
        OpKind::Conv2d | OpKind::ConvTranspose2d | OpKind::Gemm
            if operands.len() > 2 && !is_const(2) =>
        {
            "its bias is not a constant".into()
        }
        OpKind::ConvTranspose2d if op.int_of("groups")? != 1 => format!(
            "a grouped conv_transpose2d (groups = {}): qconv_transpose2d's per-channel scales \
             lie along the weight's axis 1, which holds one group's output channels",
            op.int_of("groups")?
        ),
        OpKind::Gemm if op.float("alpha") != Some(1.0) || op.float("beta") != Some(1.0) => {
            "α or β ≠ 1 and not moved into constant weights (fold-gemm-alpha-beta needs a constant bias)".into()
        }
        OpKind::Gemm => "its bias is neither a vector of N nor a [1, N] row".into(),
        OpKind::MatMul if activations == 2 => {
            "two activations, one of rank < 2 or with K > 33025 (qmatmul's exact i32 sum)".into()
        }
        OpKind::MatMul => "neither an activation of rank 2 to 4 times a constant [K, N] weight \
            (lower-matmul, lower-matmul-batched) nor two activations of rank ≥ 2 with K ≤ 33025 \
            (lower-matmul-activations)"
            .into(),
        OpKind::Add | OpKind::Sub | OpKind::Mul | OpKind::Div
            if activations == 1 && (0..2).any(|i| node(i).is_some_and(|x| x.ty.numel() == 1)) =>
        {
            format!(
                "{} with its one-value constant first: a lookup table takes it second (only mul \
                 and add are taken either way round)",
                op.kind.name()
            )
        }
        OpKind::Add | OpKind::Sub | OpKind::Mul | OpKind::Div if activations < 2 => format!(
            "{} with a constant of more than one value: the integer forms take two activations, \
             or one and a single constant value (a lookup table)",
            op.kind.name()
        ),
        OpKind::Add => "the operands' shapes differ: qadd takes two equal shapes".into(),
        OpKind::Sub | OpKind::Div => format!("no integer {}", op.kind.name()),
        OpKind::Clip => "a clip without bounds".into(),
        OpKind::Softmax => match crate::quant::qdq::softmax_axis_len(model, n, op) {
            Some(len) => format!(
                "its axis holds {len} elements, more than qsoftmax's {} (the u32 sum of its \
                 table entries)",
                runtime::qops::QSOFTMAX_MAX_AXIS
            ),
            None => "softmax has no integer form".into(),
        },
        OpKind::Concat => {
            "its result only leaves the integer graph: joined as floats, each part keeps its own scale"
                .into()
        }
        OpKind::MaxPool
        | OpKind::Reshape
        | OpKind::Flatten
        | OpKind::Squeeze
        | OpKind::Unsqueeze
        | OpKind::Transpose
        | OpKind::Slice
        | OpKind::Resize
        | OpKind::Gather
            if is_const(0) =>
        {
            "it moves a constant (no calibrated range)".into()
        }
        k => format!("{} has no integer form", k.name()),
    })
}
