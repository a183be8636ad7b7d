//! Kernels that move data between layouts and between reals and codes: quantize at the inputs
//! (f32 row-major → codes, channels-last), dequantize at the outputs, and reshape/flatten (a
//! copy that reorders when one side is channels-last).

use super::fixed::{finish, finish_x4};
use super::lanes::{load16, map_flat, narrow, same_layout, splat_i32, Blocks, Never, LANES};
use super::micro;
use crate::backend::emit::{mem, Emitter, K};
use crate::backend::layout::{
    address, elem_size, is_nhwc, memory_order, split_each, strides, strides_of,
};
use crate::backend::target::Target;
use crate::backend::{Operand, Step};
use crate::diag::{Error, Result};
use crate::ir::types::TensorType;
use cranelift_codegen::ir::{types, InstBuilder, Value};
use cranelift_module::{FuncId, Linkage};
use runtime::qops::qrange;
use runtime::DType;

/// Loads one element: a code (or a bool, 0 or 1) as an i32, an i64 as an i64, an f32 as an
/// f32.
pub fn load_code(k: &mut K, d: DType, addr: Value) -> Value {
    match d {
        DType::U8 | DType::Bool => k.b.ins().uload8(types::I32, mem(), addr, 0),
        DType::I8 => k.b.ins().sload8(types::I32, mem(), addr, 0),
        DType::I16 => k.b.ins().sload16(types::I32, mem(), addr, 0),
        DType::F32 => k.b.ins().load(types::F32, mem(), addr, 0),
        DType::I32 => k.b.ins().load(types::I32, mem(), addr, 0),
        DType::I64 => k.b.ins().load(types::I64, mem(), addr, 0),
        other => unreachable!("load_code of {other}: the backend refuses other element types before emitting (backend::check_dtypes)"),
    }
}

/// Stores an i32 already inside the code range of `d` (bytes keep the low 8 bits), or an i64
/// or f32 as it is.
pub fn store_code(k: &mut K, d: DType, v: Value, addr: Value) {
    match d {
        DType::U8 | DType::I8 | DType::Bool => {
            k.b.ins().istore8(mem(), v, addr, 0);
        }
        DType::I16 => {
            k.b.ins().istore16(mem(), v, addr, 0);
        }
        _ => {
            k.b.ins().store(mem(), v, addr, 0);
        }
    }
}

/// `clamp(round_half_even(x / scale) + zero_point, qmin, qmax)`, the division in f32, as
/// `runtime::qops::quantize_value`: NaN gives the zero point, ±∞ saturate.
pub fn quantize(
    em: &mut Emitter,
    name: &str,
    step: &Step,
    target: &Target,
) -> Result<(FuncId, usize)> {
    let (x, y) = (&step.args[0], &step.out);
    let q =
        y.ty.elem
            .quant()
            .ok_or_else(|| Error::msg(format!("quantize to {}, which is not quantized", y.ty)))?
            .clone();
    let tables = match q.axis {
        None => None,
        Some(axis) => {
            let s: Vec<u8> = q.scales.iter().flat_map(|v| v.to_le_bytes()).collect();
            let z: Vec<u8> = q.zero_points.iter().flat_map(|v| v.to_le_bytes()).collect();
            Some((axis, em.data("q_scales", s)?, em.data("q_zps", z)?))
        }
    };
    let d = y.ty.elem.storage();
    let (lo, hi) = qrange(d);
    let (scale, zp) = (q.scales[0], q.zero_points[0]);
    if tables.is_none()
        && matches!(d, DType::U8 | DType::I8 | DType::I16)
        && (lo..=hi).contains(&zp)
    {
        // The machine-code kernel narrows to bytes; i16 codes take the rows kernel.
        if d != DType::I16 && same_layout(&[x], y) && target.has("avx512f") {
            let code = micro::quantize::assemble(scale, zp, lo, hi, d == DType::I8)
                .map_err(|e| Error::msg(format!("assembling the quantize kernel: {e}")))?;
            let f = em.machine_code(&format!("{name}_micro"), &code, 3)?;
            let scalar = |k: &mut K, v: &[Value]| Ok(quantize_one(k, v[0], scale, zp, lo, hi));
            let f = map_flat(em, name, &[x], y, Blocks::Micro::<Never>(f), scalar)?;
            return Ok((f, 0));
        }
        if let Some(c) = planes_to_channels_last(x, y) {
            if d == DType::U8 && target.has("avx512f") && target.has("avx2") {
                let f = quantize_planes(em, name, step, scale, zp, c)?;
                return Ok((f, 0));
            }
        }
        let f = quantize_rows(em, name, step, scale, zp)?;
        return Ok((f, 0));
    }
    let f = em.kernel(name, Linkage::Local, |k| {
        let (xb, yb) = (k.base(x.loc), k.base(y.loc));
        let xs = strides(&x.ty);
        let ys = strides(&y.ty);
        let per_tensor = (k.b.ins().f32const(q.scales[0]), q.zero_points[0]);
        let t = tables.map(|(axis, s, z)| (axis, k.table(s), k.table(z)));
        split_each(k, &y.ty.shape, &memory_order(&y.ty), &mut |k, idx| {
            let xa = address(k, xb, idx, &xs, 4);
            let v = k.b.ins().load(types::F32, mem(), xa, 0);
            let (s, z) = match t {
                None => (per_tensor.0, k.i32(per_tensor.1)),
                Some((axis, st, zt)) => {
                    let sa = k.at(st, idx[axis], 4, 0);
                    let za = k.at(zt, idx[axis], 4, 0);
                    (
                        k.b.ins().load(types::F32, mem(), sa, 0),
                        k.b.ins().load(types::I32, mem(), za, 0),
                    )
                }
            };
            let q = k.b.ins().fdiv(v, s);
            let r = k.b.ins().nearest(q);
            let i = k.b.ins().fcvt_to_sint_sat(types::I32, r);
            // Any |i| beyond 2²⁴ clamps to the same code; bounding it first keeps `+ zp` exact.
            let i = k.clamp(i, -(1 << 24), 1 << 24);
            let i = k.b.ins().iadd(i, z);
            let c = k.clamp(i, lo, hi);
            let ya = address(k, yb, idx, &ys, elem_size(d));
            store_code(k, d, c, ya);
            Ok(())
        })
    })?;
    Ok((f, 0))
}

/// One f32 to its code at a per-tensor `scale` and `zp` (as an i32), clamped to `[lo, hi]`:
/// the scalar step of every per-tensor quantize kernel, for the elements past its blocks.
fn quantize_one(k: &mut K, v: Value, scale: f32, zp: i32, lo: i32, hi: i32) -> Value {
    let s = k.b.ins().f32const(scale);
    let q = k.b.ins().fdiv(v, s);
    let r = k.b.ins().nearest(q);
    let i = k.b.ins().fcvt_to_sint_sat(types::I32, r);
    finish(k, i, zp, lo, hi)
}

/// The channels of an NCHW f32 image quantized to channels-last codes (a network's input,
/// usually RGB), when the planes kernel takes them ([`micro::quantize::PLANES`]) and a plane's
/// bytes fit an instruction's displacement.
fn planes_to_channels_last(x: &Operand, y: &Operand) -> Option<usize> {
    let s = &x.ty.shape;
    let fits = s.len() == 4
        && y.ty.shape == *s
        && strides(&x.ty) == strides_of(s, false)
        && strides(&y.ty) == strides_of(s, true)
        && micro::quantize::PLANES.contains(&s[1])
        && s[2] * s[3] * 4 * s[1] <= i32::MAX as usize;
    fits.then(|| s[1])
}

/// Per-tensor u8 [`quantize`] of an NCHW image to channels-last codes on AVX-512: each row of
/// each image, 16 pixels of every channel plane at a time by `micro::quantize::assemble_planes`
/// (its pixels' channels stored together), the last pixels one channel at a time. The
/// Cranelift rows kernel stores such a result a byte at a time, `c` bytes apart; the input
/// quantize was 4% of MobileNetV2 on one thread of an AMD EPYC.
fn quantize_planes(
    em: &mut Emitter,
    name: &str,
    step: &Step,
    scale: f32,
    zp: i32,
    c: usize,
) -> Result<FuncId> {
    let (x, y) = (&step.args[0], &step.out);
    let (lo, hi) = qrange(DType::U8);
    let (n, h, w) = (x.ty.shape[0], x.ty.shape[2], x.ty.shape[3]);
    let plane = (h * w * 4) as i32;
    let code = micro::quantize::assemble_planes(scale, zp, lo, hi, c, plane)
        .map_err(|e| Error::msg(format!("assembling the planes quantize kernel: {e}")))?;
    let micro = em.machine_code(&format!("{name}_planes"), &code, 3)?;
    let whole = (w / LANES * LANES) as i64;
    em.kernel(name, Linkage::Local, |k| {
        let (xb, yb) = (k.base(x.loc), k.base(y.loc));
        let (xs, ys) = (strides(&x.ty), strides(&y.ty));
        split_each(k, &[n, h], &[0, 1], &mut |k, idx| {
            let xrow = address(k, xb, &[idx[0], idx[1]], &[xs[0], xs[2]], 4);
            let yrow = address(k, yb, &[idx[0], idx[1]], &[ys[0], ys[2]], 1);
            if whole > 0 {
                let blocks = k.i64(whole / LANES as i64);
                k.call(micro, &[xrow, yrow, blocks]);
            }
            k.for_range(whole, w as i64, 1, |k, j| {
                for ch in 0..c {
                    let xa = k.at(xrow, j, 4, ch as i64 * xs[1] * 4);
                    let v = k.b.ins().load(types::F32, mem(), xa, 0);
                    let code = quantize_one(k, v, scale, zp, lo, hi);
                    let ya = k.at(yrow, j, c as i64, ch as i64);
                    store_code(k, DType::U8, code, ya);
                }
                Ok(())
            })
        })
    })
}

/// Per-tensor [`quantize`] to bytes (or i16 codes) along the rows of the f32 input (its last
/// axis, contiguous): 16 floats per block in four f32x4, the rest one by one. `fcvt_to_sint_sat` saturates and maps
/// NaN to 0 as the interpreter's `as i64` does, and clamping to `[lo − zp, hi − zp]` before adding
/// the zero point equals clamping the sum (`zp` is a code, so nothing overflows). A channels-last
/// result puts a row's codes `c` bytes apart: they are stored lane by lane.
fn quantize_rows(em: &mut Emitter, name: &str, step: &Step, scale: f32, zp: i32) -> Result<FuncId> {
    let (x, y) = (&step.args[0], &step.out);
    let d = y.ty.elem.storage();
    let (lo, hi) = qrange(d);
    let rank = x.ty.rank();
    let len = x.ty.shape.last().copied().unwrap_or(1);
    let outer = &x.ty.shape[..rank.saturating_sub(1)];
    em.kernel(name, Linkage::Local, |k| {
        let (xb, yb) = (k.base(x.loc), k.base(y.loc));
        let xs = strides(&x.ty);
        let ys = strides(&y.ty);
        let step_x = xs.last().copied().unwrap_or(1);
        let step_y = ys.last().copied().unwrap_or(1);
        let order: Vec<usize> = (0..outer.len()).collect();
        let whole = (len / LANES * LANES) as i64;
        let esz = elem_size(d);
        split_each(k, outer, &order, &mut |k, idx| {
            let xrow = address(k, xb, idx, &xs, 4);
            let yrow = address(k, yb, idx, &ys, esz);
            k.for_range(0, whole, LANES as i64, |k, j| {
                let xa = k.at(xrow, j, 4 * step_x, 0);
                let sv = k.b.ins().f32const(scale);
                let sv = k.b.ins().splat(types::F32X4, sv);
                let codes = [0, 16, 32, 48].map(|o| {
                    let v = k.b.ins().load(types::F32X4, mem(), xa, o);
                    let q = k.b.ins().fdiv(v, sv);
                    let r = k.b.ins().nearest(q);
                    let i = k.b.ins().fcvt_to_sint_sat(types::I32X4, r);
                    finish_x4(k, i, zp, lo, hi)
                });
                let ya = k.at(yrow, j, step_y * esz, 0);
                // Bytes: one vector of 16 codes; i16 codes: two of 8 (the values are in range,
                // so the saturating narrow is exact).
                let vs = if d == DType::I16 {
                    let lo8 = k.b.ins().snarrow(codes[0], codes[1]);
                    let hi8 = k.b.ins().snarrow(codes[2], codes[3]);
                    vec![lo8, hi8]
                } else {
                    vec![narrow(k, d, codes)]
                };
                let per = (LANES / vs.len()) as i32;
                for (h, &v) in vs.iter().enumerate() {
                    let first = h as i32 * per;
                    if step_y == 1 {
                        k.b.ins().store(mem(), v, ya, first * esz as i32);
                        continue;
                    }
                    for lane in 0..per as u8 {
                        let b = k.b.ins().extractlane(v, lane);
                        let off = (first + i32::from(lane)) * (step_y * esz) as i32;
                        k.b.ins().store(mem(), b, ya, off);
                    }
                }
                Ok(())
            })?;
            k.for_range(whole, len as i64, 1, |k, j| {
                let xa = k.at(xrow, j, 4 * step_x, 0);
                let v = k.b.ins().load(types::F32, mem(), xa, 0);
                let c = quantize_one(k, v, scale, zp, lo, hi);
                let ya = k.at(yrow, j, step_y * esz, 0);
                store_code(k, d, c, ya);
                Ok(())
            })
        })
    })
}

/// `(q − zero_point) as f32 · scale`, as `runtime::qops::dequantize_value`.
pub fn dequantize(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    let (x, y) = (&step.args[0], &step.out);
    let q =
        x.ty.elem
            .quant()
            .ok_or_else(|| Error::msg(format!("dequantize of {}, which is not quantized", x.ty)))?
            .clone();
    // Per axis: the scale and zero point of each index along the axis, as tables.
    let tables = match q.axis {
        None => None,
        Some(axis) => {
            let s: Vec<u8> = q.scales.iter().flat_map(|v| v.to_le_bytes()).collect();
            let z: Vec<u8> = q.zero_points.iter().flat_map(|v| v.to_le_bytes()).collect();
            Some((axis, em.data("dq_scales", s)?, em.data("dq_zps", z)?))
        }
    };
    let d = x.ty.elem.storage();
    if tables.is_none() && matches!(d, DType::U8 | DType::I8) {
        let f = dequantize_rows(em, name, step, q.scales[0], q.zero_points[0])?;
        return Ok((f, 0));
    }
    let f = em.kernel(name, Linkage::Local, |k| {
        let (xb, yb) = (k.base(x.loc), k.base(y.loc));
        let xs = strides(&x.ty);
        let ys = strides_of(&y.ty.shape, false);
        let esz = elem_size(d);
        let per_tensor = (k.b.ins().f32const(q.scales[0]), q.zero_points[0]);
        let t = tables.map(|(axis, s, z)| (axis, k.table(s), k.table(z)));
        split_each(k, &x.ty.shape, &memory_order(&x.ty), &mut |k, idx| {
            let xa = address(k, xb, idx, &xs, esz);
            let code = load_code(k, d, xa);
            let (c, s) = match t {
                None => (
                    k.b.ins().iadd_imm_s(code, -i64::from(per_tensor.1)),
                    per_tensor.0,
                ),
                Some((axis, st, zt)) => {
                    let sa = k.at(st, idx[axis], 4, 0);
                    let za = k.at(zt, idx[axis], 4, 0);
                    let s = k.b.ins().load(types::F32, mem(), sa, 0);
                    let z = k.b.ins().load(types::I32, mem(), za, 0);
                    (k.b.ins().isub(code, z), s)
                }
            };
            let r = k.b.ins().fcvt_from_sint(types::F32, c);
            let v = k.b.ins().fmul(r, s);
            let ya = address(k, yb, idx, &ys, 4);
            k.b.ins().store(mem(), v, ya, 0);
            Ok(())
        })
    })?;
    Ok((f, 0))
}

/// Writes the `cols × rows` transpose of the row-major `rows × cols` bytes at `src` to `dst`:
/// whole 16 × 16 tiles as sixteen vectors interleaved four times (each round pairs row `t` with
/// row `t + 8`, low and high halves: after four, row `t` holds column `t`), the right and bottom
/// edges one byte at a time.
pub(super) fn transpose_bytes(
    k: &mut K,
    src: Value,
    dst: Value,
    rows: usize,
    cols: usize,
) -> Result<()> {
    let (r16, c16) = ((rows / 16 * 16) as i64, (cols / 16 * 16) as i64);
    let lo: Vec<u8> = (0..8).flat_map(|i| [i, i + 16]).collect();
    let hi: Vec<u8> = (8..16).flat_map(|i| [i, i + 16]).collect();
    let one = |k: &mut K, i: Value, j: Value| {
        let a = k.at(src, i, cols as i64, 0);
        let a = k.at(a, j, 1, 0);
        let v = k.b.ins().load(types::I8, mem(), a, 0);
        let b = k.at(dst, j, rows as i64, 0);
        let b = k.at(b, i, 1, 0);
        k.b.ins().store(mem(), v, b, 0);
    };
    k.for_range(0, r16, 16, |k, i| {
        k.for_range(0, c16, 16, |k, j| {
            let a = k.at(src, i, cols as i64, 0);
            let a = k.at(a, j, 1, 0);
            let mut r: Vec<Value> = (0..16)
                .map(|t| k.b.ins().load(types::I8X16, mem(), a, (t * cols) as i32))
                .collect();
            for _ in 0..4 {
                let mut next = Vec::with_capacity(16);
                for t in 0..8 {
                    let m = k.b.func.dfg.immediates.push(lo.clone().into());
                    next.push(k.b.ins().shuffle(r[t], r[t + 8], m));
                    let m = k.b.func.dfg.immediates.push(hi.clone().into());
                    next.push(k.b.ins().shuffle(r[t], r[t + 8], m));
                }
                r = next;
            }
            let b = k.at(dst, j, rows as i64, 0);
            let b = k.at(b, i, 1, 0);
            for (t, v) in r.into_iter().enumerate() {
                k.b.ins().store(mem(), v, b, (t * rows) as i32);
            }
            Ok(())
        })?;
        k.for_range(0, 16, 1, |k, t| {
            let row = k.b.ins().iadd(i, t);
            k.for_range(c16, cols as i64, 1, |k, j| {
                one(k, row, j);
                Ok(())
            })
        })
    })?;
    k.for_range(r16, rows as i64, 1, |k, i| {
        k.for_range(0, cols as i64, 1, |k, j| {
            one(k, i, j);
            Ok(())
        })
    })
}

/// Per-tensor [`dequantize`] of byte codes along the rows of the (row-major) f32 result: 16
/// codes per block widened to four i32x4, `(q − z)` converted and multiplied by the scale in
/// four f32x4, the same two IEEE operations per element as one by one; the rest of a row one by
/// one. A channels-last input puts a row's codes `c` bytes apart: they are read one by one.
fn dequantize_rows(
    em: &mut Emitter,
    name: &str,
    step: &Step,
    scale: f32,
    zp: i32,
) -> Result<FuncId> {
    let (x, y) = (&step.args[0], &step.out);
    let d = x.ty.elem.storage();
    let rank = y.ty.rank();
    let len = y.ty.shape.last().copied().unwrap_or(1);
    let outer = &y.ty.shape[..rank.saturating_sub(1)];
    em.kernel(name, Linkage::Local, |k| {
        let (xb, yb) = (k.base(x.loc), k.base(y.loc));
        let xs = strides(&x.ty);
        let ys = strides_of(&y.ty.shape, false);
        let step_x = xs.last().copied().unwrap_or(1);
        let order: Vec<usize> = (0..outer.len()).collect();
        let whole = if step_x == 1 {
            (len / LANES * LANES) as i64
        } else {
            0
        };
        split_each(k, outer, &order, &mut |k, idx| {
            let xrow = address(k, xb, idx, &xs, 1);
            let yrow = address(k, yb, idx, &ys, 4);
            k.for_range(0, whole, LANES as i64, |k, j| {
                let xa = k.at(xrow, j, 1, 0);
                let sv = k.b.ins().f32const(scale);
                let sv = k.b.ins().splat(types::F32X4, sv);
                let zv = splat_i32(k, zp);
                let codes = load16(k, d, xa);
                let ya = k.at(yrow, j, 4, 0);
                for (q, c) in codes.into_iter().enumerate() {
                    let c = k.b.ins().isub(c, zv);
                    let r = k.b.ins().fcvt_from_sint(types::F32X4, c);
                    let v = k.b.ins().fmul(r, sv);
                    k.b.ins().store(mem(), v, ya, 16 * q as i32);
                }
                Ok(())
            })?;
            k.for_range(whole, len as i64, 1, |k, j| {
                let xa = k.at(xrow, j, step_x, 0);
                let code = load_code(k, d, xa);
                let c = k.b.ins().iadd_imm_s(code, -i64::from(zp));
                let r = k.b.ins().fcvt_from_sint(types::F32, c);
                let s = k.b.ins().f32const(scale);
                let v = k.b.ins().fmul(r, s);
                let ya = k.at(yrow, j, 4, 0);
                k.b.ins().store(mem(), v, ya, 0);
                Ok(())
            })
        })
    })
}

/// Reshape, flatten, squeeze, unsqueeze: the same elements in row-major order under a new shape.
pub fn reshape(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    let (x, y) = (&step.args[0], &step.out);
    let d = x.ty.elem.storage();
    if d != y.ty.elem.storage() {
        return Err(Error::msg(format!(
            "reshape from {} to {} changes the element type",
            x.ty, y.ty
        )));
    }
    let esz = elem_size(d);
    let (xn, yn) = (is_nhwc(&x.ty), is_nhwc(&y.ty));
    if xn && yn && x.ty.shape != y.ty.shape {
        // Both channels-last with different shapes: walk the result, find each element's
        // row-major flat index, and take the input element with the same one.
        let f = em.kernel(name, Linkage::Local, |k| {
            let (xb, yb) = (k.base(x.loc), k.base(y.loc));
            let (xs, ys) = (strides(&x.ty), strides(&y.ty));
            let flat = strides_of(&y.ty.shape, false);
            let xshape = x.ty.shape.clone();
            split_each(k, &y.ty.shape, &memory_order(&y.ty), &mut |k, idx| {
                let mut f = k.i64(0);
                for (i, s) in idx.iter().zip(&flat) {
                    let t = k.b.ins().imul_imm_s(*i, *s);
                    f = k.b.ins().iadd(f, t);
                }
                let mut xa = xb;
                for dim in (0..xshape.len()).rev() {
                    let c = k.b.ins().urem_imm_u(f, xshape[dim] as i64);
                    f = k.b.ins().udiv_imm_u(f, xshape[dim] as i64);
                    xa = k.at(xa, c, xs[dim] * esz, 0);
                }
                let v = load_code(k, d, xa);
                let ya = address(k, yb, idx, &ys, esz);
                store_code(k, d, v, ya);
                Ok(())
            })
        })?;
        return Ok((f, 0));
    }
    if xn != yn && esz == 1 {
        // Byte codes between channels-last and row-major: per image, the transpose of a
        // pixels × channels matrix (channels-last side) and a channels × pixels one, where the
        // row-major side is read in its flat order with the channels-last side's dimensions.
        let nhwc = if xn { &x.ty } else { &y.ty };
        let (n, c) = (nhwc.shape[0], nhwc.shape[1]);
        let pixels = nhwc.shape[2] * nhwc.shape[3];
        let f = em.kernel(name, Linkage::Local, |k| {
            let (xb, yb) = (k.base(x.loc), k.base(y.loc));
            k.for_range(0, n as i64, 1, |k, i| {
                let xi = k.at(xb, i, (c * pixels) as i64, 0);
                let yi = k.at(yb, i, (c * pixels) as i64, 0);
                if xn {
                    transpose_bytes(k, xi, yi, pixels, c)
                } else {
                    transpose_bytes(k, xi, yi, c, pixels)
                }
            })
        })?;
        return Ok((f, 0));
    }
    let f = em.kernel(name, Linkage::Local, |k| {
        let (xb, yb) = (k.base(x.loc), k.base(y.loc));
        if xn == yn {
            // Same memory order on both sides: the bytes are already in place.
            let n = x.ty.numel() * esz as usize;
            return k.copy_bytes(yb, xb, n);
        }
        // Walk the channels-last side in its memory order; the other side's offset is the
        // row-major flat index of the same coordinates.
        let (walk, wb, ob): (&TensorType, Value, Value) =
            if xn { (&x.ty, xb, yb) } else { (&y.ty, yb, xb) };
        let ws = strides(walk);
        let os = strides_of(&walk.shape, false);
        split_each(k, &walk.shape, &memory_order(walk), &mut |k, idx| {
            let wa = address(k, wb, idx, &ws, esz);
            let oa = address(k, ob, idx, &os, esz);
            let (src, dst) = if xn { (wa, oa) } else { (oa, wa) };
            let v = load_code(k, d, src);
            store_code(k, d, v, dst);
            Ok(())
        })
    })?;
    Ok((f, 0))
}
