//! One kernel per op of the integer IR, each specialized to its shapes and constants: which
//! kernel an op gets, the scratch it needs, and the attribute readers they share.

mod boundary;
mod conv;
mod conv_transpose;
mod dot;
mod elementwise;
mod fixed;
mod float;
mod pool;

use crate::backend::emit::Emitter;
use crate::backend::target::Target;
use crate::backend::{Operand, Step};
use crate::diag::{Error, Result};
use crate::ir::op::{Op, OpKind};
use crate::ir::types::TensorType;
use cranelift_module::FuncId;

/// Scratch bytes a kernel needs besides its operands (a padded copy of a convolution's input).
pub fn temp_bytes(op: &Op, args: &[Operand], out: &Operand) -> Result<Vec<usize>> {
    let _ = out;
    Ok(match op.kind {
        OpKind::QConv2d => conv::temp_bytes(op, args),
        _ => vec![],
    })
}

/// Emits the kernel of `step` as function `name`; returns it and the bytes of constant data
/// (packed weights, tables) it put in the object.
pub fn emit(em: &mut Emitter, name: &str, step: &Step, target: &Target) -> Result<(FuncId, usize)> {
    match step.op.kind {
        OpKind::Quantize => boundary::quantize(em, name, step),
        OpKind::Dequantize => boundary::dequantize(em, name, step),
        OpKind::Reshape | OpKind::Flatten | OpKind::Squeeze | OpKind::Unsqueeze => {
            boundary::reshape(em, name, step)
        }
        OpKind::Requantize => elementwise::requantize(em, name, step),
        OpKind::Lut => elementwise::lut(em, name, step),
        OpKind::QAdd => elementwise::qadd(em, name, step),
        OpKind::QMul => elementwise::qmul(em, name, step),
        OpKind::MaxPool => pool::max_pool(em, name, step),
        OpKind::QAvgPool => pool::avg_pool(em, name, step),
        OpKind::QGlobalAvgPool => pool::global_avg_pool(em, name, step),
        OpKind::QConv2d => conv::qconv2d(em, name, step, target),
        OpKind::QGemm => conv::qgemm(em, name, step, target),
        OpKind::QConvTranspose2d => conv_transpose::qconv_transpose2d(em, name, step),
        OpKind::Add | OpKind::Sub | OpKind::Mul | OpKind::Div | OpKind::Relu | OpKind::Clip => {
            float::elementwise(em, name, step)
        }
        OpKind::Concat => float::concat(em, name, step),
        OpKind::Pad => float::pad(em, name, step),
        OpKind::Transpose => float::transpose(em, name, step),
        other => Err(Error::msg(format!(
            "the backend has no kernel for {} on {}",
            other.name(),
            step.args
                .iter()
                .map(|a| a.ty.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The (scale, zero point) of a per-tensor quantized type.
pub(crate) fn zp_scale(t: &TensorType, what: &str) -> Result<(f32, i32)> {
    let q = t
        .elem
        .quant()
        .ok_or_else(|| Error::msg(format!("{what} is {t}, not quantized")))?;
    if q.axis.is_some() {
        return Err(Error::msg(format!(
            "{what} must be quantized per tensor, not {t}"
        )));
    }
    Ok((q.scales[0], q.zero_points[0]))
}

pub(crate) fn ints(op: &Op, name: &str) -> Result<Vec<i32>> {
    op.ints(name)
        .ok_or_else(|| Error::msg(format!("{} needs `{name}`", op.kind.name())))?
        .iter()
        .map(|&v| {
            i32::try_from(v).map_err(|_| Error::msg(format!("`{name}` entry {v} does not fit i32")))
        })
        .collect()
}

pub(crate) fn int(op: &Op, name: &str) -> Result<i32> {
    let v = op
        .int(name)
        .ok_or_else(|| Error::msg(format!("{} needs `{name}`", op.kind.name())))?;
    i32::try_from(v).map_err(|_| Error::msg(format!("`{name}` = {v} does not fit i32")))
}

pub(crate) fn pair2(op: &Op, name: &str, d: [usize; 2]) -> [usize; 2] {
    op.ints(name)
        .map(|v| [v[0] as usize, v[1] as usize])
        .unwrap_or(d)
}

pub(crate) fn quad(op: &Op, name: &str) -> [usize; 4] {
    op.ints(name)
        .map(|v| [v[0] as usize, v[1] as usize, v[2] as usize, v[3] as usize])
        .unwrap_or([0; 4])
}
