//! The resize kernel (docs/ir.md, "resize"): the source indices and weights of every output row
//! and column are computed at compile time (`runtime::ops::resize`'s tables, so the library and
//! the interpreter agree on each one) and stored as tables. Nearest copies elements — a whole
//! pixel's channels in one copy when channels-last; bilinear weighs four neighbours per element,
//! in the fixed point of `runtime::qops::resize` on codes (16 channels per vector) and in the
//! strict f32 order on floats.

use super::boundary::{load_code, store_code};
use super::lanes::{narrow, splat_i32, widen, LANES};
use crate::backend::emit::{mem, Emitter, K};
use crate::backend::layout::{elem_size, strides};
use crate::backend::Step;
use crate::diag::{Error, Result};
use crate::ir::infer::resize_params;
use cranelift_codegen::ir::{types, InstBuilder, Value};
use cranelift_module::{DataId, FuncId, Linkage};
use runtime::ops::resize::{linear_taps, nearest_indices};
use runtime::ops::{ResizeMode, ResizeParams};
use runtime::qops::resize::{fixed_taps, RESIZE_WEIGHT_BITS};
use runtime::DType;

/// The shapes and layouts both modes need.
struct Frame {
    n: usize,
    c: usize,
    hw: [usize; 2],
    out: [usize; 2],
    /// Byte strides of each logical axis.
    xs: Vec<i64>,
    ys: Vec<i64>,
    esz: i64,
    d: DType,
}

pub fn resize(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    let (x, y) = (&step.args[0], &step.out);
    let p = resize_params(&step.op).map_err(|m| Error::msg(format!("resize: {m}")))?;
    if x.ty.rank() != 4 || y.ty.shape != [x.ty.shape[0], x.ty.shape[1], p.out[0], p.out[1]] {
        return Err(Error::msg(format!(
            "resize of {} to {}: not an NCHW resize to {:?}",
            x.ty, y.ty, p.out
        )));
    }
    let d = x.ty.elem.storage();
    if y.ty.elem.storage() != d {
        return Err(Error::msg(format!(
            "resize of {} to {}: the element types differ",
            x.ty, y.ty
        )));
    }
    let esz = elem_size(d);
    let f = Frame {
        n: x.ty.shape[0],
        c: x.ty.shape[1],
        hw: [x.ty.shape[2], x.ty.shape[3]],
        out: p.out,
        xs: strides(&x.ty).iter().map(|s| s * esz).collect(),
        ys: strides(&y.ty).iter().map(|s| s * esz).collect(),
        esz,
        d,
    };
    let (xl, yl) = (x.loc, y.loc);
    match p.mode {
        ResizeMode::Nearest => nearest(em, name, &p, &f, xl, yl),
        ResizeMode::Linear => linear(em, name, &p, &f, xl, yl),
    }
}

fn i32_table(em: &mut Emitter, what: &str, v: impl IntoIterator<Item = i32>) -> Result<DataId> {
    em.data(what, v.into_iter().flat_map(i32::to_le_bytes).collect())
}

/// Loads entry `i` (i64) of an i32 table as an i64.
fn entry(k: &mut K, table: Value, i: Value, width: i64, field: i32) -> Value {
    let a = k.at(table, i, 4 * width, 0);
    let v = k.b.ins().load(types::I32, mem(), a, 4 * field);
    k.b.ins().sextend(types::I64, v)
}

fn nearest(
    em: &mut Emitter,
    name: &str,
    p: &ResizeParams,
    f: &Frame,
    xl: crate::backend::emit::Loc,
    yl: crate::backend::emit::Loc,
) -> Result<(FuncId, usize)> {
    let rows = nearest_indices(p, 0, f.hw[0]);
    let cols = nearest_indices(p, 1, f.hw[1]);
    let bytes = (rows.len() + cols.len()) * 4;
    let rt = i32_table(em, "resize_rows", rows.iter().map(|&i| i as i32))?;
    let ct = i32_table(em, "resize_cols", cols.iter().map(|&i| i as i32))?;
    // Channels-last on both sides: a pixel's channels are one contiguous run.
    let pixel_run = f.xs[1] == f.esz && f.ys[1] == f.esz;
    let func = em.kernel(name, Linkage::Local, |k| {
        let (xb, yb) = (k.base(xl), k.base(yl));
        let (rt, ct) = (k.table(rt), k.table(ct));
        k.for_range(0, f.n as i64, 1, |k, ni| {
            let xn = k.at(xb, ni, f.xs[0], 0);
            let yn = k.at(yb, ni, f.ys[0], 0);
            k.for_range(0, f.out[0] as i64, 1, |k, oy| {
                let iy = entry(k, rt, oy, 1, 0);
                let xrow = k.at(xn, iy, f.xs[2], 0);
                let yrow = k.at(yn, oy, f.ys[2], 0);
                k.for_range(0, f.out[1] as i64, 1, |k, ox| {
                    let ix = entry(k, ct, ox, 1, 0);
                    let src = k.at(xrow, ix, f.xs[3], 0);
                    let dst = k.at(yrow, ox, f.ys[3], 0);
                    if pixel_run {
                        return k.copy_bytes(dst, src, f.c * f.esz as usize);
                    }
                    k.for_range(0, f.c as i64, 1, |k, ci| {
                        let s = k.at(src, ci, f.xs[1], 0);
                        let t = k.at(dst, ci, f.ys[1], 0);
                        let v = load_code(k, f.d, s);
                        store_code(k, f.d, v, t);
                        Ok(())
                    })
                })
            })
        })
    })?;
    Ok((func, bytes))
}

/// Per output index: `[lo, hi, w_lo, w_hi]`, the weights as i32 (codes: multiples of 2⁻¹¹) or as
/// f32 bits.
fn linear_table(
    em: &mut Emitter,
    what: &str,
    p: &ResizeParams,
    axis: usize,
    len: usize,
    codes: bool,
) -> Result<DataId> {
    let taps = linear_taps(p, axis, len);
    let mut v = vec![];
    if codes {
        for t in fixed_taps(&taps) {
            v.extend([t.lo as i32, t.hi as i32, t.w_lo, t.w_hi]);
        }
    } else {
        for t in taps {
            v.extend([
                t.lo as i32,
                t.hi as i32,
                t.w_lo.to_bits() as i32,
                t.w_hi.to_bits() as i32,
            ]);
        }
    }
    i32_table(em, what, v)
}

fn linear(
    em: &mut Emitter,
    name: &str,
    p: &ResizeParams,
    f: &Frame,
    xl: crate::backend::emit::Loc,
    yl: crate::backend::emit::Loc,
) -> Result<(FuncId, usize)> {
    let codes = match f.d {
        DType::U8 | DType::I8 => true,
        DType::F32 => false,
        other => {
            return Err(Error::msg(format!(
                "resize: bilinear on {other} elements is not defined"
            )))
        }
    };
    let rt = linear_table(em, "resize_rows", p, 0, f.hw[0], codes)?;
    let ct = linear_table(em, "resize_cols", p, 1, f.hw[1], codes)?;
    let bytes = (f.out[0] + f.out[1]) * 16;
    let chunks = if codes && f.xs[1] == 1 && f.ys[1] == 1 {
        f.c / LANES
    } else {
        0
    };
    let shift = 2 * RESIZE_WEIGHT_BITS as i64;
    let func = em.kernel(name, Linkage::Local, |k| {
        let (xb, yb) = (k.base(xl), k.base(yl));
        let (rt, ct) = (k.table(rt), k.table(ct));
        k.for_range(0, f.n as i64, 1, |k, ni| {
            let xn = k.at(xb, ni, f.xs[0], 0);
            let yn = k.at(yb, ni, f.ys[0], 0);
            k.for_range(0, f.out[0] as i64, 1, |k, oy| {
                let (lo, hi) = (entry(k, rt, oy, 4, 0), entry(k, rt, oy, 4, 1));
                let ra = k.at(rt, oy, 16, 0);
                let wt = if codes { types::I32 } else { types::F32 };
                let ry = [8, 12].map(|o| k.b.ins().load(wt, mem(), ra, o));
                let top = k.at(xn, lo, f.xs[2], 0);
                let bottom = k.at(xn, hi, f.xs[2], 0);
                let yrow = k.at(yn, oy, f.ys[2], 0);
                k.for_range(0, f.out[1] as i64, 1, |k, ox| {
                    let (l, h) = (entry(k, ct, ox, 4, 0), entry(k, ct, ox, 4, 1));
                    let ca = k.at(ct, ox, 16, 0);
                    let rx = [8, 12].map(|o| k.b.ins().load(wt, mem(), ca, o));
                    let src = [
                        k.at(top, l, f.xs[3], 0),
                        k.at(top, h, f.xs[3], 0),
                        k.at(bottom, l, f.xs[3], 0),
                        k.at(bottom, h, f.xs[3], 0),
                    ];
                    let dst = k.at(yrow, ox, f.ys[3], 0);
                    if chunks > 0 {
                        let wy = ry.map(|w| k.b.ins().splat(types::I32X4, w));
                        let wx = rx.map(|w| k.b.ins().splat(types::I32X4, w));
                        let round = splat_i32(k, 1 << (shift - 1));
                        k.for_range(0, chunks as i64, 1, |k, chunk| {
                            let off = k.b.ins().imul_imm_s(chunk, LANES as i64);
                            let q = src.map(|s| {
                                let a = k.b.ins().iadd(s, off);
                                let v = k.b.ins().load(types::I8X16, mem(), a, 0);
                                widen(k, f.d, v)
                            });
                            let out: [Value; 4] = std::array::from_fn(|i| {
                                let v = [q[0][i], q[1][i], q[2][i], q[3][i]];
                                let t = mix(k, wx, v[0], v[1]);
                                let b = mix(k, wx, v[2], v[3]);
                                let acc = mix(k, wy, t, b);
                                let acc = k.b.ins().iadd(acc, round);
                                k.b.ins().sshr_imm_s(acc, shift)
                            });
                            let packed = narrow(k, f.d, out);
                            let a = k.b.ins().iadd(dst, off);
                            k.b.ins().store(mem(), packed, a, 0);
                            Ok(())
                        })?;
                    }
                    k.for_range((chunks * LANES) as i64, f.c as i64, 1, |k, ci| {
                        let v = src.map(|s| {
                            let a = k.at(s, ci, f.xs[1], 0);
                            load_code(k, f.d, a)
                        });
                        let t = mix(k, rx, v[0], v[1]);
                        let b = mix(k, rx, v[2], v[3]);
                        let mut y = mix(k, ry, t, b);
                        if codes {
                            let r = k.b.ins().iadd_imm_s(y, 1 << (shift - 1));
                            y = k.b.ins().sshr_imm_s(r, shift);
                        }
                        let a = k.at(dst, ci, f.ys[1], 0);
                        store_code(k, f.d, y, a);
                        Ok(())
                    })
                })
            })
        })
    })?;
    Ok((func, bytes))
}

/// `w[0]·a + w[1]·b`: i32 (or i32x4) products and sum, or f32 with each product rounded first.
fn mix(k: &mut K, w: [Value; 2], a: Value, b: Value) -> Value {
    if k.b.func.dfg.value_type(a) == types::F32 {
        let pa = k.b.ins().fmul(w[0], a);
        let pb = k.b.ins().fmul(w[1], b);
        k.b.ins().fadd(pa, pb)
    } else {
        let pa = k.b.ins().imul(w[0], a);
        let pb = k.b.ins().imul(w[1], b);
        k.b.ins().iadd(pa, pb)
    }
}
