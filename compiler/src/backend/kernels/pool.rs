//! Pooling kernels on channels-last codes: max-pool, average pool (one multiplier per window
//! count, as ONNX's count_include_pad defines the count) and global average pool. The windows
//! are `runtime::ops::geometry::axis_windows`, computed at compile time into per-axis tables.

use super::boundary::{load_code, store_code};
use super::conv_micro::divmod;
use super::fixed::{finish, finish_x4, multiply, multiply_x4, Pair};
use super::lanes::{narrow, splat_i32, widen, LANES};
use super::{pair2, quad, zp_scale};
use crate::backend::emit::{mem, Emitter, K};
use crate::backend::layout::{address, strides};
use crate::backend::Step;
use crate::diag::{Error, Result};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, InstBuilder, Value};
use cranelift_module::{DataId, FuncId, Linkage};
use runtime::ops::geometry::axis_windows;
use runtime::qops::{self, qrange};
use runtime::DType;

/// Per output position along one spatial axis (0: rows, 1: columns) of an input `len` long:
/// `[first inside input position, inside taps, padded taps]`, as i32 triples.
fn axis_table(
    em: &mut Emitter,
    what: &str,
    len: usize,
    g: &Geometry,
    axis: usize,
) -> Result<(DataId, usize)> {
    let (k, stride, dil, ceil) = (g.kernel[axis], g.strides[axis], g.dilations[axis], g.ceil);
    let pads = (g.pads[axis], g.pads[axis + 2]);
    if k == 0 || stride == 0 || dil == 0 {
        return Err(Error::msg(format!(
            "{what}: kernel {k}, stride {stride}, dilation {dil} must be positive"
        )));
    }
    let windows = axis_windows(what, len, k, stride, pads, dil, ceil);
    let mut bytes = Vec::new();
    for w in &windows {
        let first = w.inside.first().copied().unwrap_or(0) as i32;
        for v in [first, w.inside.len() as i32, w.padded as i32] {
            bytes.extend(v.to_le_bytes());
        }
    }
    Ok((em.data(what, bytes)?, windows.len()))
}

struct Geometry {
    kernel: [usize; 2],
    strides: [usize; 2],
    pads: [usize; 4],
    dilations: [usize; 2],
    ceil: bool,
}

fn geometry(step: &Step) -> Result<Geometry> {
    let op = &step.op;
    Ok(Geometry {
        kernel: pair2(op, "kernel_shape", [1, 1]),
        strides: pair2(op, "strides", [1, 1]),
        pads: quad(op, "pads"),
        dilations: pair2(op, "dilations", [1, 1]),
        ceil: op.bool_of("ceil_mode").map_err(Error::msg)?,
    })
}

/// A window's body: `(k, x_pixel(n), rows_entry, cols_entry, c)` → the value to store.
type WindowBody<'a> = dyn Fn(&mut K, Value, [Value; 3], [Value; 3], Value) -> Result<Value> + 'a;

/// The loops every windowed pool shares: over `n, oh, ow, c` of the result, with the window's
/// row and column tables loaded; `body(k, x_pixel(n), rows_entry, cols_entry, c)` returns the
/// code to store.
fn windowed(
    em: &mut Emitter,
    name: &str,
    step: &Step,
    body: impl Fn(&mut K, Value, [Value; 3], [Value; 3], Value) -> Result<Value>,
    vector: Option<&WindowBody<'_>>,
) -> Result<(FuncId, usize)> {
    let (x, y) = (&step.args[0], &step.out);
    if x.ty.rank() != 4 {
        return Err(Error::msg(format!(
            "pooling needs a 4-D input, not {}",
            x.ty
        )));
    }
    let g = geometry(step)?;
    let (n, c, h, w) = (x.ty.shape[0], x.ty.shape[1], x.ty.shape[2], x.ty.shape[3]);
    let (rows, ho) = axis_table(em, "pool_rows", h, &g, 0)?;
    let (cols, wo) = axis_table(em, "pool_cols", w, &g, 1)?;
    if y.ty.shape != [n, c, ho, wo] {
        return Err(Error::msg(format!(
            "the result {} does not match the pooled shape [{n}, {c}, {ho}, {wo}]",
            y.ty
        )));
    }
    let yd = y.ty.elem.storage();
    let (esz, ysz) = (x.ty.elem.storage().size_bytes(), yd.size_bytes() as i64);
    // Whole 16-channel chunks go through `vector` (16 codes at once) when both layouts keep
    // channels adjacent; the remaining channels through `body`.
    let ys0 = strides(&y.ty);
    let chunks = match vector {
        Some(_) if ys0[1] == 1 && yd.size_bytes() == 1 => c / 16,
        _ => 0,
    };
    let f = em.kernel(name, Linkage::Local, |k| {
        let (xb, yb) = (k.base(x.loc), k.base(y.loc));
        let (rt, ct) = (k.table(rows), k.table(cols));
        let ys = strides(&y.ty);
        if n * ho == 0 {
            return Ok(());
        }
        // Work units for threads: one row of output pixels of one image each, written by no
        // other unit.
        k.for_units(n * ho, |k, u| {
            // One image (the usual case): its index a constant, which every address folds.
            let (ni, oh) = if n == 1 {
                (k.i64(0), u)
            } else {
                divmod(k, u, ho)
            };
            let xn = k.at(xb, ni, (h * w * c * esz) as i64, 0);
            let ra = k.at(rt, oh, 12, 0);
            let r: [Value; 3] = [0, 4, 8].map(|o| k.b.ins().load(types::I32, mem(), ra, o));
            k.for_range(0, wo as i64, 1, |k, ow| {
                let ca = k.at(ct, ow, 12, 0);
                let cc: [Value; 3] = [0, 4, 8].map(|o| k.b.ins().load(types::I32, mem(), ca, o));
                if let Some(vector) = vector {
                    k.for_range(0, chunks as i64, 1, |k, chunk| {
                        let ci = k.b.ins().imul_imm_s(chunk, 16);
                        let v = vector(k, xn, r, cc, ci)?;
                        let ya = address(k, yb, &[ni, ci, oh, ow], &ys, 1);
                        k.b.ins().store(mem(), v, ya, 0);
                        Ok(())
                    })?;
                }
                k.for_range((chunks * 16) as i64, c as i64, 1, |k, ci| {
                    let v = body(k, xn, r, cc, ci)?;
                    let ya = address(k, yb, &[ni, ci, oh, ow], &ys, ysz);
                    store_code(k, yd, v, ya);
                    Ok(())
                })
            })
        })
    })?;
    Ok((f, (ho + wo) * 12))
}

/// Visits the inside taps of a window: `tap(k, address of x[ih, iw, c])`.
#[allow(clippy::too_many_arguments)]
fn taps(
    k: &mut K,
    xn: Value,
    r: [Value; 3],
    cc: [Value; 3],
    ci: Value,
    w: usize,
    c: usize,
    dil: [usize; 2],
    mut tap: impl FnMut(&mut K, Value),
) -> Result<()> {
    let nr = k.b.ins().sextend(types::I64, r[1]);
    let nc = k.b.ins().sextend(types::I64, cc[1]);
    let r0 = k.b.ins().sextend(types::I64, r[0]);
    let c0 = k.b.ins().sextend(types::I64, cc[0]);
    let base = k.at(xn, ci, 1, 0);
    let row0 = k.at(base, r0, (w * c) as i64, 0);
    let px0 = k.at(row0, c0, c as i64, 0);
    k.for_count(nr, |k, i| {
        let row = k.at(px0, i, (dil[0] * w * c) as i64, 0);
        k.for_count(nc, |k, j| {
            let a = k.at(row, j, (dil[1] * c) as i64, 0);
            tap(k, a);
            Ok(())
        })
    })
}

pub fn max_pool(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    let x = &step.args[0];
    let d = x.ty.elem.storage();
    if !matches!(d, DType::U8 | DType::I8) {
        return Err(Error::msg(format!(
            "max_pool on {} has no integer kernel",
            x.ty
        )));
    }
    let (w, c) = (x.ty.shape[3], x.ty.shape[1]);
    let g = geometry(step)?;
    let vector = |k: &mut K, xn: Value, r: [Value; 3], cc: [Value; 3], ci: Value| {
        // The smallest code of the type, as a byte in every lane.
        let init = k.b.ins().iconst(types::I8, i64::from(qrange(d).0 as u8));
        let init = k.b.ins().splat(types::I8X16, init);
        let acc = k.var(types::I8X16, init);
        taps(k, xn, r, cc, ci, w, c, g.dilations, |k, a| {
            let v = k.b.ins().load(types::I8X16, mem(), a, 0);
            let cur = k.b.use_var(acc);
            let m = if d == DType::U8 {
                k.b.ins().umax(cur, v)
            } else {
                k.b.ins().smax(cur, v)
            };
            k.b.def_var(acc, m);
        })?;
        Ok(k.b.use_var(acc))
    };
    windowed(
        em,
        name,
        step,
        |k, xn, r, cc, ci| {
            let init = k.i32(qrange(d).0);
            let acc = k.var(types::I32, init);
            taps(k, xn, r, cc, ci, w, c, g.dilations, |k, a| {
                let v = load_code(k, d, a);
                let cur = k.b.use_var(acc);
                let m = k.b.ins().smax(cur, v);
                k.b.def_var(acc, m);
            })?;
            Ok(k.b.use_var(acc))
        },
        Some(&vector),
    )
}

pub fn avg_pool(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    let (x, y) = (&step.args[0], &step.out);
    let ((sx, zx), (sy, zy)) = (
        zp_scale(&x.ty, "the input")?,
        zp_scale(&y.ty, "the result")?,
    );
    let g = geometry(step)?;
    let window = g.kernel[0] * g.kernel[1];
    let (lo, hi) = qrange(y.ty.elem.storage());
    let rq = qops::avg_pool_requant(sx, sy, window, zy, lo, hi)
        .map_err(|e| Error::msg(format!("qavg_pool: {e}")))?;
    let include_pad = step.op.bool_of("count_include_pad").map_err(Error::msg)?;
    let mult = em.data(
        "avg_mult",
        rq.multiplier.iter().flat_map(|v| v.to_le_bytes()).collect(),
    )?;
    let shift = em.data(
        "avg_shift",
        rq.shift.iter().flat_map(|v| v.to_le_bytes()).collect(),
    )?;
    let (w, c) = (x.ty.shape[3], x.ty.shape[1]);
    let d = x.ty.elem.storage();
    let yd = y.ty.elem.storage();
    let may_shift_left = rq.shift.iter().any(|&s| s > 0);
    let vector = |k: &mut K, xn: Value, r: [Value; 3], cc: [Value; 3], ci: Value| {
        let zero = splat_i32(k, 0);
        let acc = [(); 4].map(|_| k.var(types::I32X4, zero));
        taps(k, xn, r, cc, ci, w, c, g.dilations, |k, a| {
            let v = k.b.ins().load(types::I8X16, mem(), a, 0);
            let v = widen(k, d, v);
            for (acc, v) in acc.iter().zip(v) {
                let cur = k.b.use_var(*acc);
                let s = k.b.ins().iadd(cur, v);
                k.b.def_var(*acc, s);
            }
        })?;
        // The codes were summed as they are: take the zero point off once per inside tap.
        let inside = k.b.ins().imul(r[1], cc[1]);
        let offset = k.b.ins().imul_imm_s(inside, i64::from(zx));
        let offset = k.b.ins().splat(types::I32X4, offset);
        let (m, s) = pair_for(
            k,
            mult,
            shift,
            if include_pad {
                [r[2], cc[2]]
            } else {
                [r[1], cc[1]]
            },
        );
        let out = acc.map(|acc| {
            let sum = k.b.use_var(acc);
            let sum = k.b.ins().isub(sum, offset);
            let v = multiply_x4(k, sum, Pair::Dyn(m, s), may_shift_left);
            finish_x4(k, v, zy, lo, hi)
        });
        Ok(narrow(k, yd, out))
    };
    let (f, bytes) = windowed(
        em,
        name,
        step,
        |k, xn, r, cc, ci| {
            let zero = k.i32(0);
            let acc = k.var(types::I32, zero);
            taps(k, xn, r, cc, ci, w, c, g.dilations, |k, a| {
                let v = load_code(k, d, a);
                let v = k.b.ins().iadd_imm_s(v, -i64::from(zx));
                let cur = k.b.use_var(acc);
                let s = k.b.ins().iadd(cur, v);
                k.b.def_var(acc, s);
            })?;
            let (m, s) = pair_for(
                k,
                mult,
                shift,
                if include_pad {
                    [r[2], cc[2]]
                } else {
                    [r[1], cc[1]]
                },
            );
            let sum = k.b.use_var(acc);
            let v = multiply(k, sum, Pair::Dyn(m, s));
            Ok(finish(k, v, zy, lo, hi))
        },
        Some(&vector),
    )?;
    Ok((f, bytes + window * 8))
}

/// The multiplier and shift of a window whose count is `taps[0]·taps[1]` (i32s), from the tables
/// indexed by count − 1. An empty window sums to 0, and any multiplier maps 0 to 0: it takes
/// entry 0.
fn pair_for(k: &mut K, mult: DataId, shift: DataId, taps: [Value; 2]) -> (Value, Value) {
    let count = k.b.ins().imul(taps[0], taps[1]);
    let zero = k.i32(0);
    let idx = k.b.ins().iadd_imm_s(count, -1);
    let idx = k.b.ins().smax(idx, zero);
    let idx = k.b.ins().uextend(types::I64, idx);
    let (mt, st) = (k.table(mult), k.table(shift));
    let ma = k.at(mt, idx, 4, 0);
    let sa = k.at(st, idx, 4, 0);
    let m = k.b.ins().load(types::I32, mem(), ma, 0);
    let s = k.b.ins().load(types::I32, mem(), sa, 0);
    (m, s)
}

pub fn global_avg_pool(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    let (x, y) = (&step.args[0], &step.out);
    if x.ty.rank() != 4 {
        return Err(Error::msg(format!(
            "qglobal_avg_pool needs a 4-D input, not {}",
            x.ty
        )));
    }
    let ((sx, zx), (sy, zy)) = (
        zp_scale(&x.ty, "the input")?,
        zp_scale(&y.ty, "the result")?,
    );
    let (n, c, h, w) = (x.ty.shape[0], x.ty.shape[1], x.ty.shape[2], x.ty.shape[3]);
    let (lo, hi) = qrange(y.ty.elem.storage());
    let rq = qops::global_avg_pool_requant(sx, sy, h * w, zy, lo, hi)
        .map_err(|e| Error::msg(format!("qglobal_avg_pool: {e}")))?;
    let (m, s) = rq.pair(0);
    let d = x.ty.elem.storage();
    let yd = y.ty.elem.storage();
    let f = em.kernel(name, Linkage::Local, |k| {
        let (xb, yb) = (k.base(x.loc), k.base(y.loc));
        let ys = strides(&y.ty);
        let chunks = if ys[1] == 1 && yd.size_bytes() == 1 {
            c / LANES
        } else {
            0
        };
        // Σ (x − zx) taken modulo 2³² as the interpreter's wrapping sum: Σ x − count·zx.
        let offset = ((h * w) as i32).wrapping_mul(zx);
        k.for_range(0, n as i64, 1, |k, ni| {
            let xn = k.at(xb, ni, (h * w * c) as i64, 0);
            // 16 channels at a time: one vector load per pixel, four i32x4 sums.
            k.for_range(0, chunks as i64, 1, |k, chunk| {
                let zero = splat_i32(k, 0);
                let acc = [(); 4].map(|_| k.var(types::I32X4, zero));
                let px = k.at(xn, chunk, LANES as i64, 0);
                k.for_range(0, (h * w) as i64, 1, |k, p| {
                    let a = k.at(px, p, c as i64, 0);
                    let v = k.b.ins().load(types::I8X16, mem(), a, 0);
                    let v = widen(k, d, v);
                    for (acc, v) in acc.iter().zip(v) {
                        let cur = k.b.use_var(*acc);
                        let s = k.b.ins().iadd(cur, v);
                        k.b.def_var(*acc, s);
                    }
                    Ok(())
                })?;
                let offset = splat_i32(k, offset);
                let out = acc.map(|acc| {
                    let sum = k.b.use_var(acc);
                    let sum = k.b.ins().isub(sum, offset);
                    let v = multiply_x4(k, sum, Pair::Const(m, s), true);
                    finish_x4(k, v, zy, lo, hi)
                });
                let v = narrow(k, yd, out);
                let ci = k.b.ins().imul_imm_s(chunk, LANES as i64);
                let zero64 = k.i64(0);
                let ya = address(k, yb, &[ni, ci, zero64, zero64], &ys, 1);
                k.b.ins().store(mem(), v, ya, 0);
                Ok(())
            })?;
            k.for_range((chunks * LANES) as i64, c as i64, 1, |k, ci| {
                let zero = k.i32(0);
                let acc = k.var(types::I32, zero);
                let px = k.at(xn, ci, 1, 0);
                k.for_range(0, (h * w) as i64, 1, |k, p| {
                    let a = k.at(px, p, c as i64, 0);
                    let v = load_code(k, d, a);
                    let v = k.b.ins().iadd_imm_s(v, -i64::from(zx));
                    let cur = k.b.use_var(acc);
                    let s = k.b.ins().iadd(cur, v);
                    k.b.def_var(acc, s);
                    Ok(())
                })?;
                let sum = k.b.use_var(acc);
                let v = multiply(k, sum, Pair::Const(m, s));
                let v = finish(k, v, zy, lo, hi);
                let zero64 = k.i64(0);
                let ya = address(k, yb, &[ni, ci, zero64, zero64], &ys, 1);
                store_code(k, yd, v, ya);
                Ok(())
            })
        })
    })?;
    Ok((f, 0))
}

/// A max-pool or average pool left in float (kept with `--keep-float`): row-major
/// `[N, C, H, W]` f32, each window's inside taps visited in row-major order as
/// `runtime::ops::{max_pool, avg_pool}` visit them — the max a fold from `f32::MIN` that takes a
/// NaN, the mean one f32 sum from +0 divided once by the count (0 for an empty window) — so the
/// library equals the interpreter bit for bit.
pub fn float_pool(em: &mut Emitter, name: &str, step: &Step, max: bool) -> Result<(FuncId, usize)> {
    let (x, y) = (&step.args[0], &step.out);
    if x.ty.elem.storage() != DType::F32 || y.ty.elem.storage() != DType::F32 || x.ty.rank() != 4 {
        return Err(Error::msg(format!(
            "a float pool takes and gives 4-D f32, not {} → {}",
            x.ty, y.ty
        )));
    }
    let (h, w) = (x.ty.shape[2] as i64, x.ty.shape[3] as i64);
    let g = geometry(step)?;
    // max_pool declares no count_include_pad: padding never wins a maximum, so it never counts.
    let include_pad = !max && step.op.bool_of("count_include_pad").map_err(Error::msg)?;
    let dil = [g.dilations[0] as i64, g.dilations[1] as i64];
    let body = |k: &mut K, xn: Value, r: [Value; 3], cc: [Value; 3], ci: Value| {
        let init = k.b.ins().f32const(if max { f32::MIN } else { 0.0 });
        let acc = k.var(types::F32, init);
        let nr = k.b.ins().sextend(types::I64, r[1]);
        let nc = k.b.ins().sextend(types::I64, cc[1]);
        let r0 = k.b.ins().sextend(types::I64, r[0]);
        let c0 = k.b.ins().sextend(types::I64, cc[0]);
        // Row-major: a channel's plane is h·w floats, a row w, a pixel one.
        let plane = k.at(xn, ci, h * w * 4, 0);
        let row0 = k.at(plane, r0, w * 4, 0);
        let px0 = k.at(row0, c0, 4, 0);
        k.for_count(nr, |k, i| {
            let row = k.at(px0, i, dil[0] * w * 4, 0);
            k.for_count(nc, |k, j| {
                let a = k.at(row, j, dil[1] * 4, 0);
                let v = k.b.ins().load(types::F32, mem(), a, 0);
                let cur = k.b.use_var(acc);
                let next = if max {
                    let above = k.b.ins().fcmp(FloatCC::GreaterThan, v, cur);
                    let nan = k.b.ins().fcmp(FloatCC::Unordered, v, v);
                    let take = k.b.ins().bor(above, nan);
                    k.b.ins().select(take, v, cur)
                } else {
                    k.b.ins().fadd(cur, v)
                };
                k.b.def_var(acc, next);
                Ok(())
            })
        })?;
        let sum = k.b.use_var(acc);
        if max {
            return Ok(sum);
        }
        let count = if include_pad {
            k.b.ins().imul(r[2], cc[2])
        } else {
            k.b.ins().imul(r[1], cc[1])
        };
        let divisor = k.b.ins().fcvt_from_sint(types::F32, count);
        let mean = k.b.ins().fdiv(sum, divisor);
        let empty = k.b.ins().icmp_imm_s(IntCC::Equal, count, 0);
        let zero = k.b.ins().f32const(0.0);
        Ok(k.b.ins().select(empty, zero, mean))
    };
    windowed(em, name, step, body, None)
}
