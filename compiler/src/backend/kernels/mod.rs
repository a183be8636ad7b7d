//! One kernel per op of the integer IR, each specialized to its shapes and constants: which
//! kernel an op gets, the scratch it needs, and the attribute readers they share.

mod batch_norm;
mod boundary;
mod conv;
mod conv_micro;
mod conv_transpose;
mod dot;
mod elementwise;
mod fixed;
mod float;
mod index;
mod lanes;
mod loss;
mod micro;
mod plain;
mod pool;
mod qmatmul;
mod qsoftmax;
mod reduce;
mod resize;
mod strict;
mod unary;

use crate::backend::emit::Emitter;
use crate::backend::target::Target;
use crate::backend::{Operand, Step};
use crate::diag::{Error, Result};
use crate::ir::op::{Op, OpKind};
use crate::ir::types::TensorType;
use cranelift_module::FuncId;
use runtime::DType;

/// Scratch bytes a kernel needs besides its operands (a padded copy of a convolution's input,
/// a transposed convolution's phases).
pub fn temp_bytes(op: &Op, args: &[Operand], out: &Operand, target: &Target) -> Result<Vec<usize>> {
    Ok(match op.kind {
        OpKind::QConv2d => conv::temp_bytes(op, args, out, target),
        OpKind::QGemm => conv::gemm_temp_bytes(args, target),
        OpKind::QConvTranspose2d => conv_transpose::temp_bytes(op, args, out, target),
        _ => vec![],
    })
}

/// Emits the kernel of `step` as function `name`; returns it and the bytes of constant data
/// (packed weights, tables) it put in the object.
/// The step's kernels, to run one after the other (each a threaded step of its own, with a
/// barrier between: a transposed convolution's phases are all computed before they are
/// copied), and the bytes of weights they hold.
pub fn emit(
    em: &mut Emitter,
    name: &str,
    step: &Step,
    target: &Target,
) -> Result<(Vec<FuncId>, usize)> {
    // Kernels that pack their weights read them from the operand; every other kernel reads a
    // weight like any value, from a table laid out as the value would be in the arena.
    let packs = matches!(
        step.op.kind,
        OpKind::QConv2d | OpKind::QGemm | OpKind::QConvTranspose2d
    );
    let mut step = step.clone();
    let mut table_bytes = 0;
    if !packs {
        for a in &mut step.args {
            if let Some(w) = &a.weight {
                let bytes = weight_table(w, &a.ty)?;
                table_bytes += bytes.len();
                a.loc = crate::backend::emit::Loc::Data(em.data("const", bytes)?);
            }
        }
    }
    let step = &step;
    let (fs, bytes) = match step.op.kind {
        OpKind::QConvTranspose2d => conv_transpose::qconv_transpose2d(em, name, step, target)?,
        _ => {
            let (f, bytes) = dispatch(em, name, step, target)?;
            (vec![f], bytes)
        }
    };
    Ok((fs, bytes + table_bytes))
}

/// A weight's bytes in the layout `layout::strides` gives its type.
fn weight_table(w: &runtime::Tensor, ty: &TensorType) -> Result<Vec<u8>> {
    use crate::backend::layout::{elem_size, strides};
    let st = strides(ty);
    let esz = elem_size(ty.elem.storage()) as usize;
    let mut out = vec![0u8; ty.numel() * esz];
    let shape = ty.shape.clone();
    let mut put = |i: usize, bytes: &[u8]| {
        // Logical row-major index i → coordinates → the layout's offset.
        let mut rest = i;
        let mut off = 0i64;
        for d in (0..shape.len()).rev() {
            off += (rest % shape[d]) as i64 * st[d];
            rest /= shape[d];
        }
        out[off as usize * esz..][..esz].copy_from_slice(bytes);
    };
    // `to_le_bytes` walks the elements in logical row-major order, whatever the array's strides.
    w.to_le_bytes()
        .chunks_exact(esz)
        .enumerate()
        .for_each(|(i, b)| put(i, b));
    if w.shape() != ty.shape.as_slice() {
        return Err(Error::msg(format!(
            "a weight's data {:?} does not match its type {ty}",
            w.shape()
        )));
    }
    Ok(out)
}

fn dispatch(em: &mut Emitter, name: &str, step: &Step, target: &Target) -> Result<(FuncId, usize)> {
    // Exhaustive, with no fallback: an op added to the schema without a kernel does not build,
    // rather than reaching a user as "no kernel" on a graph the optimizer produced.
    match step.op.kind {
        OpKind::Quantize => boundary::quantize(em, name, step, target),
        OpKind::Dequantize => boundary::dequantize(em, name, step),
        OpKind::Reshape | OpKind::Flatten | OpKind::Squeeze | OpKind::Unsqueeze => {
            boundary::reshape(em, name, step)
        }
        OpKind::Requantize => elementwise::requantize(em, name, step, target),
        OpKind::Lut => elementwise::lut(em, name, step, target),
        OpKind::QAdd => elementwise::qadd(em, name, step, target),
        OpKind::QMul => elementwise::qmul(em, name, step),
        OpKind::QMatMul => qmatmul::qmatmul(em, name, step),
        OpKind::QSoftmax => qsoftmax::qsoftmax(em, name, step),
        OpKind::MaxPool if step.args[0].ty.elem.storage() == DType::F32 => {
            pool::float_pool(em, name, step, true)
        }
        OpKind::MaxPool => pool::max_pool(em, name, step),
        OpKind::AvgPool => pool::float_pool(em, name, step, false),
        OpKind::Resize => resize::resize(em, name, step),
        OpKind::QAvgPool => pool::avg_pool(em, name, step),
        OpKind::QGlobalAvgPool => pool::global_avg_pool(em, name, step),
        OpKind::QConv2d => conv::qconv2d(em, name, step, target),
        OpKind::QGemm => conv::qgemm(em, name, step, target),
        OpKind::QConvTranspose2d => Err(Error::msg(
            "qconv_transpose2d is two kernels, emitted by `emit`",
        )),
        OpKind::Add | OpKind::Sub | OpKind::Mul | OpKind::Div
            if plain::is_plain_integer(&step.out.ty) =>
        {
            plain::int_arith(em, name, step)
        }
        OpKind::Add
        | OpKind::Sub
        | OpKind::Mul
        | OpKind::Div
        | OpKind::Max
        | OpKind::Min
        | OpKind::Relu
        | OpKind::Clip => float::elementwise(em, name, step),
        OpKind::Concat => float::concat(em, name, step),
        OpKind::BatchNorm => batch_norm::emit(em, name, step),
        OpKind::Gemm
        | OpKind::MatMul
        | OpKind::Conv2d
        | OpKind::ConvTranspose2d
        | OpKind::ReduceMean
        | OpKind::Reduce
        | OpKind::Normalize
        | OpKind::GlobalAvgPool
        | OpKind::Softmax
        | OpKind::Sigmoid
        | OpKind::LeakyRelu
        | OpKind::HardSigmoid
        | OpKind::HardSwish => strict::emit(em, name, step),
        OpKind::Unary => unary::emit(em, name, step),
        OpKind::Pad => float::pad(em, name, step),
        OpKind::Transpose => float::transpose(em, name, step),
        OpKind::Slice => float::slice(em, name, step),
        OpKind::Cast => plain::cast(em, name, step),
        OpKind::Compare => plain::compare(em, name, step),
        OpKind::Logic | OpKind::Not | OpKind::Where => plain::logic(em, name, step),
        OpKind::Mod => plain::modulo(em, name, step),
        OpKind::ArgMax | OpKind::ArgMin => index::arg_extreme(em, name, step),
        OpKind::Gather => index::gather(em, name, step),
        OpKind::GatherElements => index::gather_elements(em, name, step),
        OpKind::Expand => index::expand(em, name, step),
        // The ops [`has_kernel`] answers no for: the schedule refuses a graph holding one by
        // name before any code is generated (backend/mod.rs), so none reaches here.
        OpKind::NllLoss => loss::nll_loss(em, name, step),
        OpKind::Attention => Err(no_kernel(step.op.kind)),
        OpKind::Family(f) => f.def().kernel(em, name, step),
    }
}

/// Whether a kernel computes `kind`. The others (attention, and the families without one) run only in the interpreter (`qcc run`), and the backend refuses a library holding one,
/// naming it, before generating code.
pub fn has_kernel(kind: OpKind) -> bool {
    match kind {
        OpKind::Attention => false,
        OpKind::Family(f) => f.def().has_kernel(),
        _ => true,
    }
}

fn no_kernel(kind: OpKind) -> Error {
    Error::msg(format!(
        "no kernel computes {} yet (`qcc run` interprets it)",
        kind.name()
    ))
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
