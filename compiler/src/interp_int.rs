//! The interpreter's integer dialect: each integer op mapped onto `runtime::qops`, with the zero
//! points and scales read from the operands' and result's quantized types (docs/ir.md, "Integer
//! semantics").

use crate::diag::{Error, Result};
use crate::ir::op::{Op, OpKind};
use crate::ir::types::TensorType;
use ndarray::ArrayD;
use runtime::ops::{ConvParams, ConvTransposeParams, PoolParams};
use runtime::qops::{self, AddParams, MulParams, Requant};
use runtime::{DType, Tensor};

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

/// Every limit the integer kernels put on an op's parameters and element types, as an error
/// rather than the runtime's panic. The interpreter checks it before evaluating, and the
/// verifier calls it too, so that a model `qcc check` accepts always has a reference (one
/// definition of what is valid, not two that drift apart).
pub fn check_int_op(op: &Op, tys: &[&TensorType], y: &TensorType) -> Result<()> {
    let name = op.kind.name();
    let fail = |m: String| Err(Error::msg(format!("{name}: {m}")));
    let stored = |what: &str, t: &TensorType, allowed: &[DType]| -> Result<()> {
        if allowed.contains(&t.elem.storage()) {
            return Ok(());
        }
        let allowed: Vec<String> = allowed.iter().map(|d| d.to_string()).collect();
        fail(format!(
            "{what} is {t}, stored as {} where {name} takes {}",
            t.elem.storage(),
            allowed.join(" or ")
        ))
    };
    let channels = |rq: &Requant, n: usize| -> Result<()> {
        match (rq.len(), n) {
            (1, _) => Ok(()),
            (k, n) if k == n => Ok(()),
            (k, 1) => fail(format!(
                "{k} multipliers where {name} takes one (per tensor)"
            )),
            (k, n) => fail(format!(
                "{k} multipliers for {n} output channels (want 1 or {n})"
            )),
        }
    };
    let u8_in = |i: usize, what: &str| -> Result<()> {
        stored(what, tys[i], &[DType::U8])?;
        zp_scale(tys[i], what).map(|_| ())
    };
    match op.kind {
        OpKind::Requantize => {
            stored("the input", tys[0], &[DType::U8, DType::I8, DType::I32])?;
            stored("the result", y, &[DType::U8, DType::I8])?;
            let rq = requant(op, y)?;
            let n = match rq.len() {
                1 => 1,
                _ if y.rank() < 2 => {
                    return fail(format!(
                        "{} multipliers need a channel axis, and {y} has none",
                        rq.len()
                    ))
                }
                _ => y.shape[1],
            };
            channels(&rq, n)?;
            let (lo, hi) = qops::qrange(tys[0].elem.storage());
            let zx = tys[0].elem.quant().map_or(0, |q| q.zero_points[0]);
            if !(lo..=hi).contains(&zx) {
                return fail(format!(
                    "input zero point {zx} is outside the {} range",
                    tys[0].elem.storage()
                ));
            }
        }
        OpKind::QConv2d | OpKind::QConvTranspose2d | OpKind::QGemm => {
            if op.kind == OpKind::QConv2d {
                // A tensor given 16 bits (`--activation-bits-for`) feeds convolutions only.
                stored("the input", tys[0], &[DType::U8, DType::I16])?;
                zp_scale(tys[0], "the input")?;
            } else {
                u8_in(0, "the input")?;
            }
            stored("the weight", tys[1], &[DType::I8])?;
            if let Some(b) = tys.get(2) {
                stored("the bias", b, &[DType::I32])?;
            }
            stored("the result", y, &[DType::U8])?;
            let rq = requant(op, y)?;
            let n = if op.kind == OpKind::QGemm {
                y.shape.last().copied().unwrap_or(1)
            } else {
                y.shape.get(1).copied().unwrap_or(1)
            };
            channels(&rq, n)?;
        }
        OpKind::QAdd => {
            u8_in(0, "operand a")?;
            u8_in(1, "operand b")?;
            stored("the result", y, &[DType::U8])?;
            let p = add_params(op, tys, y)?;
            for (z, m, sh) in [
                (p.a_zero_point, p.a_multiplier, p.a_shift),
                (p.b_zero_point, p.b_multiplier, p.b_shift),
            ] {
                if let Some(why) = qops::input_problem(z, m, sh) {
                    return fail(why);
                }
            }
        }
        OpKind::QMul => {
            u8_in(0, "operand a")?;
            u8_in(1, "operand b")?;
            stored("the result", y, &[DType::U8])?;
            channels(&requant(op, y)?, 1)?;
        }
        OpKind::QMatMul => {
            u8_in(0, "operand a")?;
            u8_in(1, "operand b")?;
            stored("the result", y, &[DType::U8])?;
            channels(&requant(op, y)?, 1)?;
            if let Some(t) = tys.iter().find(|t| t.rank() < 2) {
                return fail(format!(
                    "operand {t} has fewer than two axes (a vector operand stays a float matmul)"
                ));
            }
        }
        OpKind::QSoftmax => {
            stored("the input", tys[0], &[DType::U8, DType::I8])?;
            stored("the result", y, &[DType::U8, DType::I8])?;
            zp_scale(tys[0], "the input")?;
            let (sy, _) = zp_scale(y, "the result")?;
            let axis = softmax_axis(op, tys[0])?;
            let table = op
                .ints("table")
                .ok_or_else(|| Error::msg("qsoftmax needs `table`"))?;
            if let Some(why) = qops::qsoftmax_problem(table, tys[0].shape[axis], sy) {
                return fail(why);
            }
        }
        OpKind::QAvgPool | OpKind::QGlobalAvgPool => {
            u8_in(0, "the input")?;
            stored("the result", y, &[DType::U8])?;
            zp_scale(y, "the result")?;
            pool_requant(op, tys, y)?;
        }
        OpKind::Lut => {
            stored("the input", tys[0], &[DType::U8, DType::I8])?;
            stored("the result", y, &[DType::U8, DType::I8])?;
            let table = ints(op, "table")?;
            if table.len() != 256 {
                return fail(format!("the table has {} entries, not 256", table.len()));
            }
            let (lo, hi) = qops::qrange(y.elem.storage());
            if let Some((i, v)) = table
                .iter()
                .enumerate()
                .find(|(_, v)| !(lo..=hi).contains(*v))
            {
                return fail(format!(
                    "table entry {i} ({v}) is not a {} code",
                    y.elem.storage()
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// qsoftmax's axis, within the operand's rank.
fn softmax_axis(op: &Op, x: &TensorType) -> Result<usize> {
    let a = op
        .int("axis")
        .ok_or_else(|| Error::msg("qsoftmax needs `axis`"))?;
    usize::try_from(a)
        .ok()
        .filter(|&a| a < x.rank())
        .ok_or_else(|| Error::msg(format!("qsoftmax: axis {a} is out of range for {x}")))
}

/// qadd's parameters: the operands' zero points and rescalings, the result's requantization.
fn add_params(op: &Op, tys: &[&TensorType], y: &TensorType) -> Result<AddParams> {
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
    out.validate(y.elem.storage())
        .map_err(|e| Error::msg(format!("qadd: {e}")))?;
    Ok(AddParams {
        a_zero_point: za,
        a_multiplier: int(op, "a_multiplier")?,
        a_shift: int(op, "a_shift")?,
        b_zero_point: zb,
        b_multiplier: int(op, "b_multiplier")?,
        b_shift: int(op, "b_shift")?,
        out,
    })
}

/// The average pools' requantization, derived from the scales and the window.
fn pool_requant(op: &Op, tys: &[&TensorType], y: &TensorType) -> Result<Requant> {
    let ((sx, _), (sy, zy)) = (zp_scale(tys[0], "the input")?, zp_scale(y, "the result")?);
    let (lo, hi) = qops::qrange(y.elem.storage());
    let r = if op.kind == OpKind::QGlobalAvgPool {
        let count: usize = tys[0].shape[2..].iter().product();
        qops::global_avg_pool_requant(sx, sy, count, zy, lo, hi)
    } else {
        let k = pair2(op.ints("kernel_shape"), [1, 1]);
        qops::avg_pool_requant(sx, sy, k[0] * k[1], zy, lo, hi)
    };
    r.map_err(|e| Error::msg(format!("{}: {e}", op.kind.name())))
}

/// Evaluates an integer op. `tys` are the operands' types, `y` the declared result type.
pub fn eval_int_op(
    op: &Op,
    args: &[&Tensor],
    tys: &[&TensorType],
    y: &TensorType,
) -> Result<Tensor> {
    check_int_op(op, tys, y)?;
    let conv = || -> Result<ConvParams> {
        Ok(ConvParams {
            strides: pair2(op.ints("strides"), [1, 1]),
            pads: quad(op.ints("pads")),
            dilations: pair2(op.ints("dilations"), [1, 1]),
            groups: op.int_of("groups").map_err(Error::msg)? as usize,
        })
    };
    let pool = || -> Result<PoolParams> {
        Ok(PoolParams {
            kernel: pair2(op.ints("kernel_shape"), [1, 1]),
            strides: pair2(op.ints("strides"), [1, 1]),
            pads: quad(op.ints("pads")),
            dilations: [1, 1],
            ceil_mode: op.bool_of("ceil_mode").map_err(Error::msg)?,
        })
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
            let (w, p, rq) = (i8_of(op, args[1])?, conv()?, requant(op, y)?);
            Tensor::U8(match args[0] {
                Tensor::I16(x) => qops::qconv2d(x, zx, w, b, &p, &rq),
                x => qops::qconv2d(u8_of(op, x)?, zx, w, b, &p, &rq),
            })
        }
        OpKind::QConvTranspose2d => {
            let (_, zx) = zp_scale(tys[0], "the input")?;
            let c = conv()?;
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
                op.bool_of("trans_b").map_err(Error::msg)?,
                &requant(op, y)?,
            ))
        }
        OpKind::QAdd => {
            let p = add_params(op, tys, y)?;
            Tensor::U8(qops::qadd(u8_of(op, args[0])?, u8_of(op, args[1])?, &p))
        }
        OpKind::QMul | OpKind::QMatMul => {
            let ((_, za), (_, zb)) = (
                zp_scale(tys[0], "operand a")?,
                zp_scale(tys[1], "operand b")?,
            );
            let p = MulParams {
                a_zero_point: za,
                b_zero_point: zb,
                out: requant(op, y)?,
            };
            let (a, b) = (u8_of(op, args[0])?, u8_of(op, args[1])?);
            // The same parameters: the centred codes' products, requantized once by S_a·S_b/S_y.
            Tensor::U8(if op.kind == OpKind::QMul {
                qops::qmul(a, b, &p)
            } else {
                qops::qmatmul(a, b, &p)
            })
        }
        OpKind::QSoftmax => {
            let (sy, zy) = zp_scale(y, "the result")?;
            // check_int_op held every entry to [0, 2^16].
            let table: Vec<u32> = op
                .ints("table")
                .unwrap_or_default()
                .iter()
                .map(|&t| t as u32)
                .collect();
            qops::qsoftmax(
                args[0],
                softmax_axis(op, tys[0])?,
                &table,
                (sy, zy, out_storage),
            )
        }
        OpKind::QAvgPool => {
            let (_, zx) = zp_scale(tys[0], "the input")?;
            Tensor::U8(qops::qavg_pool(
                u8_of(op, args[0])?,
                zx,
                &pool()?,
                op.bool_of("count_include_pad").map_err(Error::msg)?,
                &pool_requant(op, tys, y)?,
            ))
        }
        OpKind::QGlobalAvgPool => {
            let (_, zx) = zp_scale(tys[0], "the input")?;
            Tensor::U8(qops::qglobal_avg_pool(
                u8_of(op, args[0])?,
                zx,
                &pool_requant(op, tys, y)?,
            ))
        }
        OpKind::Lut => qops::lut(args[0], &ints(op, "table")?, out_storage),
        OpKind::MaxPool => qops::qmax_pool(args[0], &pool_with_dilations(op)?),
        OpKind::Resize => crate::interp::resize(op, args[0])?,
        other => return Err(Error::msg(format!("{} is not an integer op", other.name()))),
    })
}

fn pool_with_dilations(op: &Op) -> Result<PoolParams> {
    Ok(PoolParams {
        kernel: pair2(op.ints("kernel_shape"), [1, 1]),
        strides: pair2(op.ints("strides"), [1, 1]),
        pads: quad(op.ints("pads")),
        dilations: pair2(op.ints("dilations"), [1, 1]),
        ceil_mode: op.bool_of("ceil_mode").map_err(Error::msg)?,
    })
}
