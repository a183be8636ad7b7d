//! The float ops that may remain in an integer model whose result is exact whatever the order:
//! elementwise add/sub/mul/div/max/min (max/min also on codes), relu and clip (one IEEE operation or comparison per element,
//! never contracted into an FMA), and data movement (concat, pad, transpose, slice), which also
//! serves codes. Written as the interpreter's `runtime::ops` write them (`relu` is
//! `x < 0 ? 0 : x`).

use super::boundary::{load_code, store_code};
use crate::backend::emit::{Emitter, K};
use crate::backend::layout::{address, elem_size, for_each, memory_order, strides};
use crate::backend::{Operand, Step};
use crate::diag::{Error, Result};
use crate::ir::attr::Attr;
use crate::ir::op::OpKind;
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{InstBuilder, Value};
use cranelift_module::{FuncId, Linkage};
use runtime::qops::quantize_value;
use runtime::DType;

pub(super) fn f32_only(step: &Step) -> Result<()> {
    for o in step.args.iter().chain([&step.out]) {
        if o.ty.elem.storage() != DType::F32 {
            return Err(Error::msg(format!(
                "{} on {} has no kernel (only f32)",
                step.op.kind.name(),
                o.ty
            )));
        }
    }
    Ok(())
}

pub fn elementwise(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    let args: Vec<&Operand> = step.args.iter().collect();
    let y = &step.out;
    let kind = step.op.kind;
    if matches!(kind, OpKind::Max | OpKind::Min) && y.ty.elem.storage() != DType::F32 {
        // Codes at the result's parameters (the verifier saw to it), loaded as i32.
        let f = super::elementwise::map(em, name, &args, y, |k, v, _| {
            Ok(if kind == OpKind::Max {
                k.b.ins().smax(v[0], v[1])
            } else {
                k.b.ins().smin(v[0], v[1])
            })
        })?;
        return Ok((f, 0));
    }
    f32_only(step)?;
    if matches!(kind, OpKind::Add | OpKind::Sub | OpKind::Mul | OpKind::Div) {
        // One IEEE operation per element, so four lanes at a time give the same bits.
        let op = |k: &mut K, v: &[Value]| -> Result<Value> {
            Ok(match kind {
                OpKind::Add => k.b.ins().fadd(v[0], v[1]),
                OpKind::Sub => k.b.ins().fsub(v[0], v[1]),
                OpKind::Mul => k.b.ins().fmul(v[0], v[1]),
                _ => k.b.ins().fdiv(v[0], v[1]),
            })
        };
        if let Some(f) = super::lanes::map_runs(em, name, &args, y, op, op)? {
            return Ok((f, 0));
        }
    }
    let (lo, hi) = (step.op.float("min"), step.op.float("max"));
    let f = super::elementwise::map(em, name, &args, y, |k, v, _| {
        Ok(match kind {
            OpKind::Add => k.b.ins().fadd(v[0], v[1]),
            OpKind::Sub => k.b.ins().fsub(v[0], v[1]),
            OpKind::Mul => k.b.ins().fmul(v[0], v[1]),
            OpKind::Div => k.b.ins().fdiv(v[0], v[1]),
            OpKind::Max | OpKind::Min => {
                // `a + b` (a NaN) when either is NaN, else the larger/smaller, as `ops::binary`.
                let cc = if kind == OpKind::Max {
                    FloatCC::GreaterThanOrEqual
                } else {
                    FloatCC::LessThanOrEqual
                };
                let first = k.b.ins().fcmp(cc, v[0], v[1]);
                let pick = k.b.ins().select(first, v[0], v[1]);
                let nan = k.b.ins().fcmp(FloatCC::Unordered, v[0], v[1]);
                let sum = k.b.ins().fadd(v[0], v[1]);
                k.b.ins().select(nan, sum, pick)
            }
            OpKind::Relu => {
                let zero = k.b.ins().f32const(0.0);
                let neg = k.b.ins().fcmp(FloatCC::LessThan, v[0], zero);
                k.b.ins().select(neg, zero, v[0])
            }
            _ => {
                // clip: `v < lo ? lo : v`, then `v > hi ? hi : v`, as `ops::clip`.
                let lo = k.b.ins().f32const(lo.unwrap_or(f32::NEG_INFINITY));
                let hi = k.b.ins().f32const(hi.unwrap_or(f32::INFINITY));
                let below = k.b.ins().fcmp(FloatCC::LessThan, v[0], lo);
                let x = k.b.ins().select(below, lo, v[0]);
                let above = k.b.ins().fcmp(FloatCC::GreaterThan, x, hi);
                k.b.ins().select(above, hi, x)
            }
        })
    })?;
    Ok((f, 0))
}

/// Copies every element of `x` to the result at the same coordinates shifted by `offset`
/// (concat's position along its axis, pad's leading pads), each side in its own layout.
fn place(k: &mut K, x: &Operand, y: &Operand, offset: &[i64]) -> Result<()> {
    let d = x.ty.elem.storage();
    let esz = elem_size(d);
    let (xb, yb) = (k.base(x.loc), k.base(y.loc));
    let ys = strides(&y.ty);
    let base = offset
        .iter()
        .zip(&ys)
        .map(|(o, s)| o * s * esz)
        .sum::<i64>();
    let yb = k.b.ins().iadd_imm_s(yb, base);
    let xs = strides(&x.ty);
    copy_runs(
        k,
        (xb, &xs),
        (yb, &ys),
        &x.ty.shape,
        &memory_order(&x.ty),
        d,
    )
}

/// Copies a tensor of `shape` whose element at index `i` is read at `src.0 + Σ i·src.1` and
/// written at `dst.0 + Σ i·dst.1` (strides in elements of `d`), looping in `order`. The
/// innermost axes (in `order`) that are dense alike on both sides form one run of bytes
/// contiguous on both (a channels-last concat or split along the channels: a pixel's channels),
/// copied as a block; the loops run over the axes outside it.
fn copy_runs(
    k: &mut K,
    src: (Value, &[i64]),
    dst: (Value, &[i64]),
    shape: &[usize],
    order: &[usize],
    d: DType,
) -> Result<()> {
    let esz = elem_size(d);
    let ((xb, xs), (yb, ys)) = (src, dst);
    let (mut run, mut outer) = (1usize, shape.to_vec());
    for &a in order.iter().rev() {
        if outer[a] == 1 {
            continue;
        }
        if xs[a] != run as i64 || ys[a] != run as i64 {
            break;
        }
        run *= outer[a];
        outer[a] = 1;
    }
    if run > 1 {
        return for_each(k, &outer, order, &mut |k, idx| {
            let xa = address(k, xb, idx, xs, esz);
            let ya = address(k, yb, idx, ys, esz);
            k.copy_bytes(ya, xa, run * esz as usize)
        });
    }
    for_each(k, shape, order, &mut |k, idx| {
        let xa = address(k, xb, idx, xs, esz);
        let v = load_code(k, d, xa);
        let ya = address(k, yb, idx, ys, esz);
        store_code(k, d, v, ya);
        Ok(())
    })
}

pub fn concat(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    let y = &step.out;
    let axis = step.op.int_of("axis").map_err(Error::msg)?;
    let axis = if axis < 0 {
        axis + y.ty.rank() as i64
    } else {
        axis
    } as usize;
    for a in &step.args {
        if a.ty.elem != y.ty.elem {
            return Err(Error::msg(format!(
                "concat of {} into {}: the operands must share the result's element type",
                a.ty, y.ty
            )));
        }
    }
    let f = em.kernel(name, Linkage::Local, |k| {
        let mut at = 0i64;
        for a in &step.args {
            let mut off = vec![0i64; y.ty.rank()];
            off[axis] = at;
            place(k, a, y, &off)?;
            at += a.ty.shape[axis] as i64;
        }
        Ok(())
    })?;
    Ok((f, 0))
}

pub fn pad(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    let (x, y) = (&step.args[0], &step.out);
    let mode = step.op.attr("mode");
    if let Some(Attr::Str(m)) = mode {
        if m != "constant" {
            return Err(Error::msg(format!(
                "pad mode `{m}` has no kernel (only constant)"
            )));
        }
    }
    let pads: Vec<i64> = step.op.ints_of("pads").map_err(Error::msg)?;
    let rank = x.ty.rank();
    if pads.len() != 2 * rank || pads.iter().any(|&p| p < 0) {
        return Err(Error::msg(format!(
            "pads {pads:?} for {}: need 2·rank non-negative entries",
            x.ty
        )));
    }
    let value = step.op.float_of("value").map_err(Error::msg)?;
    let channel_values = match step.op.attr("channel_values") {
        Some(Attr::Floats(v)) => Some(v.clone()),
        _ => None,
    };
    let d = y.ty.elem.storage();
    // The fill: the float itself, or the code that represents it.
    let code = |v: f32| -> i32 {
        match y.ty.elem.quant() {
            None => v.to_bits() as i32,
            Some(q) => quantize_value(v, q.scales[0], q.zero_points[0], d),
        }
    };
    if channel_values.is_some() && (d != DType::F32 || rank < 2) {
        return Err(Error::msg(format!(
            "per-channel pad values on {} have no kernel",
            y.ty
        )));
    }
    let f = em.kernel(name, Linkage::Local, |k| {
        let yb = k.base(y.loc);
        let ys = strides(&y.ty);
        let esz = elem_size(d);
        let table = channel_values
            .as_ref()
            .map(|cv| cv.iter().map(|v| v.to_bits() as i32).collect::<Vec<i32>>());
        let fill = code(value);
        for_each(k, &y.ty.shape, &memory_order(&y.ty), &mut |k, idx| {
            let v = match &table {
                None => k.i32(fill),
                Some(t) => {
                    // A per-channel fill: select along axis 1 (few channels, unrolled).
                    let mut v = k.i32(t[0]);
                    for (c, &bits) in t.iter().enumerate().skip(1) {
                        let is = k.b.ins().icmp_imm_s(
                            cranelift_codegen::ir::condcodes::IntCC::Equal,
                            idx[1],
                            c as i64,
                        );
                        let b = k.i32(bits);
                        v = k.b.ins().select(is, b, v);
                    }
                    v
                }
            };
            let ya = address(k, yb, idx, &ys, esz);
            store_code(k, d, v, ya);
            Ok(())
        })?;
        let lead: Vec<i64> = pads[..rank].to_vec();
        place(k, x, y, &lead)
    })?;
    Ok((f, 0))
}

pub fn transpose(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    let (x, y) = (&step.args[0], &step.out);
    let rank = x.ty.rank();
    let perm: Vec<usize> = match step.op.ints("perm") {
        Some(p) => p.iter().map(|&v| v as usize).collect(),
        None => (0..rank).rev().collect(),
    };
    let mut seen = vec![false; rank];
    if perm.len() != rank
        || perm
            .iter()
            .any(|&a| a >= rank || std::mem::replace(&mut seen[a], true))
    {
        return Err(Error::msg(format!(
            "perm {perm:?} is not a permutation of {rank} axes"
        )));
    }
    let d = x.ty.elem.storage();
    let xs = strides(&x.ty);
    // Result axis i is input axis perm[i].
    let src: Vec<i64> = perm.iter().map(|&a| xs[a]).collect();
    let ys = strides(&y.ty);
    if elem_size(d) == 1 {
        if let Some((batch, rows, cols)) =
            matrix_transpose(&y.ty.shape, &memory_order(&y.ty), &src, &ys)
        {
            let f = em.kernel(name, Linkage::Local, |k| {
                let (xb, yb) = (k.base(x.loc), k.base(y.loc));
                k.for_range(0, batch as i64, 1, |k, b| {
                    let xi = k.at(xb, b, (rows * cols) as i64, 0);
                    let yi = k.at(yb, b, (rows * cols) as i64, 0);
                    super::boundary::transpose_bytes(k, xi, yi, rows, cols)
                })
            })?;
            return Ok((f, 0));
        }
    }
    let f = em.kernel(name, Linkage::Local, |k| {
        let (xb, yb) = (k.base(x.loc), k.base(y.loc));
        copy_runs(
            k,
            (xb, &src),
            (yb, &ys),
            &y.ty.shape,
            &memory_order(&y.ty),
            d,
        )
    })?;
    Ok((f, 0))
}

/// When a permutation of `shape` (read at element strides `src`, written at `dst`, the result
/// walked in `order`) moves whole matrices, `(batch, rows, cols)`: `batch` consecutive blocks,
/// each read as a row-major `rows × cols` matrix and written as its transpose. Axes of length
/// 1 drop out and neighbours dense alike on both sides merge first, so a channels-last swap of
/// channels and pixels is one matrix.
fn matrix_transpose(
    shape: &[usize],
    order: &[usize],
    src: &[i64],
    dst: &[i64],
) -> Option<(usize, usize, usize)> {
    // (length, source stride, result stride), outermost in the result's memory first.
    let mut dims: Vec<(usize, i64, i64)> = Vec::new();
    for &a in order {
        if shape[a] == 1 {
            continue;
        }
        let d = (shape[a], src[a], dst[a]);
        match dims.last_mut() {
            Some(o) if o.1 == d.1 * d.0 as i64 && o.2 == d.2 * d.0 as i64 => {
                *o = (o.0 * d.0, d.1, d.2);
            }
            _ => dims.push(d),
        }
    }
    let (batch, outer, inner) = match dims.as_slice() {
        [o, i] => (1, *o, *i),
        [b, o, i] => {
            let block = (o.0 * i.0) as i64;
            if b.1 != block || b.2 != block {
                return None;
            }
            (b.0, *o, *i)
        }
        _ => return None,
    };
    // The result is `outer × inner` row-major; the source steps 1 along `outer` and `outer`
    // along `inner`: it is the `inner × outer` matrix, transposed.
    (inner.2 == 1 && outer.2 == inner.0 as i64 && outer.1 == 1 && inner.1 == outer.0 as i64)
        .then_some((batch, inner.0, outer.0))
}

/// Result element `i` is input element `start + step·i` along every axis: the input is read
/// from a constant offset with strides `step·stride`, each side in its own layout.
pub fn slice(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    let (x, y) = (&step.args[0], &step.out);
    let axes = crate::ir::infer::slice_axes(&step.op, &x.ty.shape).map_err(Error::msg)?;
    let d = x.ty.elem.storage();
    let esz = elem_size(d);
    let xs = strides(&x.ty);
    let first: i64 = axes
        .iter()
        .zip(&xs)
        .map(|(a, s)| a.start as i64 * s * esz)
        .sum();
    let src: Vec<i64> = axes.iter().zip(&xs).map(|(a, s)| a.step * s).collect();
    let f = em.kernel(name, Linkage::Local, |k| {
        let (xb, yb) = (k.base(x.loc), k.base(y.loc));
        let xb = k.b.ins().iadd_imm_s(xb, first);
        let ys = strides(&y.ty);
        copy_runs(
            k,
            (xb, &src),
            (yb, &ys),
            &y.ty.shape,
            &memory_order(&y.ty),
            d,
        )
    })?;
    Ok((f, 0))
}
