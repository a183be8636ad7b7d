//! The interpreter's integer dialect: each integer op mapped onto `runtime::qops`, with the zero
//! points and scales read from the operands' and result's quantized types (docs/ir.md, "Integer
//! semantics").

use crate::diag::{Error, Result};
use crate::ir::op::{Op, OpKind};
use crate::ir::types::TensorType;
use ndarray::ArrayD;
use runtime::ops::{ConvParams, ConvTransposeParams, PoolParams};
use runtime::qops::{self, AddParams, MulParams, Requant};
use runtime::Tensor;

fn zp_scale(t: &TensorType, what: &str) -> Result<(f32, i32)> {
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

fn ints(op: &Op, name: &str) -> Result<Vec<i32>> {
    op.ints(name)
        .ok_or_else(|| Error::msg(format!("{} needs `{name}`", op.kind.name())))?
        .iter()
        .map(|&v| {
            i32::try_from(v).map_err(|_| Error::msg(format!("`{name}` entry {v} does not fit i32")))
        })
        .collect()
}

fn int(op: &Op, name: &str) -> Result<i32> {
    let v = op
        .int(name)
        .ok_or_else(|| Error::msg(format!("{} needs `{name}`", op.kind.name())))?;
    i32::try_from(v).map_err(|_| Error::msg(format!("`{name}` = {v} does not fit i32")))
}

fn requant(op: &Op, y: &TensorType) -> Result<Requant> {
    let (_, zy) = zp_scale(y, "the result")?;
    let rq = Requant {
        multiplier: ints(op, "multiplier")?,
        shift: ints(op, "shift")?,
        zero_point: zy,
        lo: int(op, "lo")?,
        hi: int(op, "hi")?,
    };
    rq.validate(y.elem.storage())
        .map_err(|e| Error::msg(format!("{}: {e}", op.kind.name())))?;
    Ok(rq)
}

fn u8_of<'a>(op: &Op, t: &'a Tensor) -> Result<&'a ArrayD<u8>> {
    match t {
        Tensor::U8(a) => Ok(a),
        other => Err(Error::msg(format!(
            "{} takes u8 activations, got {}",
            op.kind.name(),
            other.dtype()
        ))),
    }
}
fn i8_of<'a>(op: &Op, t: &'a Tensor) -> Result<&'a ArrayD<i8>> {
    match t {
        Tensor::I8(a) => Ok(a),
        other => Err(Error::msg(format!(
            "{} takes i8 weights, got {}",
            op.kind.name(),
            other.dtype()
        ))),
    }
}
fn i32_of<'a>(op: &Op, t: &'a Tensor) -> Result<&'a ArrayD<i32>> {
    match t {
        Tensor::I32(a) => Ok(a),
        other => Err(Error::msg(format!(
            "{} takes an i32 bias, got {}",
            op.kind.name(),
            other.dtype()
        ))),
    }
}

fn pair2(v: Option<&[i64]>, d: [usize; 2]) -> [usize; 2] {
    v.map(|v| [v[0] as usize, v[1] as usize]).unwrap_or(d)
}
fn quad(v: Option<&[i64]>) -> [usize; 4] {
    v.map(|v| [v[0] as usize, v[1] as usize, v[2] as usize, v[3] as usize])
        .unwrap_or([0; 4])
}

/// Evaluates an integer op. `tys` are the operands' types, `y` the declared result type.
pub fn eval_int_op(
    op: &Op,
    args: &[&Tensor],
    tys: &[&TensorType],
    y: &TensorType,
) -> Result<Tensor> {
    let conv = || ConvParams {
        strides: pair2(op.ints("strides"), [1, 1]),
        pads: quad(op.ints("pads")),
        dilations: pair2(op.ints("dilations"), [1, 1]),
        groups: op.int("groups").unwrap_or(1) as usize,
    };
    let pool = || PoolParams {
        kernel: pair2(op.ints("kernel_shape"), [1, 1]),
        strides: pair2(op.ints("strides"), [1, 1]),
        pads: quad(op.ints("pads")),
        dilations: [1, 1],
        ceil_mode: op.bool("ceil_mode").unwrap_or(false),
    };
    let out_storage = y.elem.storage();
    Ok(match op.kind {
        OpKind::Requantize => {
            let xq = tys[0]
                .elem
                .quant()
                .ok_or_else(|| Error::msg("requantize of a value that is not quantized"))?;
            let axis = if ints(op, "multiplier")?.len() > 1 {
                Some(1)
            } else {
                None
            };
            qops::requantize(
                args[0],
                xq.zero_points[0],
                &requant(op, y)?,
                axis,
                out_storage,
            )
        }
        OpKind::QConv2d => {
            let (_, zx) = zp_scale(tys[0], "the input")?;
            let b = args.get(2).map(|t| i32_of(op, t)).transpose()?;
            Tensor::U8(qops::qconv2d(
                u8_of(op, args[0])?,
                zx,
                i8_of(op, args[1])?,
                b,
                &conv(),
                &requant(op, y)?,
            ))
        }
        OpKind::QConvTranspose2d => {
            let (_, zx) = zp_scale(tys[0], "the input")?;
            let c = conv();
            let p = ConvTransposeParams {
                strides: c.strides,
                pads: c.pads,
                dilations: c.dilations,
                groups: c.groups,
                output_padding: pair2(op.ints("output_padding"), [0, 0]),
            };
            let b = args.get(2).map(|t| i32_of(op, t)).transpose()?;
            Tensor::U8(qops::qconv_transpose2d(
                u8_of(op, args[0])?,
                zx,
                i8_of(op, args[1])?,
                b,
                &p,
                &requant(op, y)?,
            ))
        }
        OpKind::QGemm => {
            let (_, za) = zp_scale(tys[0], "operand a")?;
            let c = args.get(2).map(|t| i32_of(op, t)).transpose()?;
            Tensor::U8(qops::qgemm(
                u8_of(op, args[0])?,
                za,
                i8_of(op, args[1])?,
                c,
                op.bool("trans_b").unwrap_or(false),
                &requant(op, y)?,
            ))
        }
        OpKind::QAdd => {
            let ((_, za), (_, zb), (_, zy)) = (
                zp_scale(tys[0], "operand a")?,
                zp_scale(tys[1], "operand b")?,
                zp_scale(y, "the result")?,
            );
            let out = Requant {
                multiplier: vec![int(op, "multiplier")?],
                shift: vec![int(op, "shift")?],
                zero_point: zy,
                lo: int(op, "lo")?,
                hi: int(op, "hi")?,
            };
            out.validate(out_storage)
                .map_err(|e| Error::msg(format!("qadd: {e}")))?;
            let p = AddParams {
                a_zero_point: za,
                a_multiplier: int(op, "a_multiplier")?,
                a_shift: int(op, "a_shift")?,
                b_zero_point: zb,
                b_multiplier: int(op, "b_multiplier")?,
                b_shift: int(op, "b_shift")?,
                out,
            };
            Tensor::U8(qops::qadd(u8_of(op, args[0])?, u8_of(op, args[1])?, &p))
        }
        OpKind::QMul => {
            let ((_, za), (_, zb)) = (
                zp_scale(tys[0], "operand a")?,
                zp_scale(tys[1], "operand b")?,
            );
            let p = MulParams {
                a_zero_point: za,
                b_zero_point: zb,
                out: requant(op, y)?,
            };
            Tensor::U8(qops::qmul(u8_of(op, args[0])?, u8_of(op, args[1])?, &p))
        }
        OpKind::QAvgPool => {
            let ((sx, zx), (sy, zy)) = (zp_scale(tys[0], "the input")?, zp_scale(y, "the result")?);
            let p = pool();
            let window = p.kernel[0] * p.kernel[1];
            let (lo, hi) = qops::qrange(out_storage);
            let rq = qops::avg_pool_requant(sx, sy, window, zy, lo, hi)
                .map_err(|e| Error::msg(format!("qavg_pool: {e}")))?;
            Tensor::U8(qops::qavg_pool(
                u8_of(op, args[0])?,
                zx,
                &p,
                op.bool("count_include_pad").unwrap_or(false),
                &rq,
            ))
        }
        OpKind::QGlobalAvgPool => {
            let ((sx, zx), (sy, zy)) = (zp_scale(tys[0], "the input")?, zp_scale(y, "the result")?);
            let count: usize = tys[0].shape[2..].iter().product();
            let (lo, hi) = qops::qrange(out_storage);
            let rq = qops::global_avg_pool_requant(sx, sy, count, zy, lo, hi)
                .map_err(|e| Error::msg(format!("qglobal_avg_pool: {e}")))?;
            Tensor::U8(qops::qglobal_avg_pool(u8_of(op, args[0])?, zx, &rq))
        }
        OpKind::Lut => qops::lut(args[0], &ints(op, "table")?, out_storage),
        OpKind::MaxPool => qops::qmax_pool(args[0], &pool_with_dilations(op)),
        OpKind::Resize => crate::interp::resize(op, args[0])?,
        other => return Err(Error::msg(format!("{} is not an integer op", other.name()))),
    })
}

fn pool_with_dilations(op: &Op) -> PoolParams {
    PoolParams {
        kernel: pair2(op.ints("kernel_shape"), [1, 1]),
        strides: pair2(op.ints("strides"), [1, 1]),
        pads: quad(op.ints("pads")),
        dilations: pair2(op.ints("dilations"), [1, 1]),
        ceil_mode: op.bool("ceil_mode").unwrap_or(false),
    }
}
