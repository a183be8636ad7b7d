//! qmatmul: the integer matrix product of two activations, `Σ_k (a − Z_a)·(b − Z_b)` in i32 per
//! result element, `k` ascending and wrapping, requantized once, exactly as
//! `runtime::qops::qmatmul` computes it. Batch axes broadcast through zero strides; every operand
//! is read through its layout's strides, so channels-last rank-4 codes need no copy.

use super::boundary::{load_code, store_code};
use super::elementwise::check_range;
use super::fixed::{finish, finish_x4, multiply, multiply_x4, Pair};
use super::lanes::splat_i32;
use super::{int, ints, zp_scale};
use crate::backend::emit::{mem, Emitter, K};
use crate::backend::layout::{address, broadcast_strides, memory_order, split_each, strides};
use crate::backend::{Operand, Step};
use crate::diag::{Error, Result};
use cranelift_codegen::ir::{types, InstBuilder, Value};
use cranelift_module::{FuncId, Linkage};
use runtime::DType;

/// Each operand's element strides over the result's axes: its batch axes broadcast to the
/// result's, then `row` for the result's row axis and `col` for its column axis.
fn over_result(x: &Operand, batch: &[usize], row: i64, col: i64) -> Vec<i64> {
    let (shape, st) = (&x.ty.shape, strides(&x.ty));
    let r = shape.len();
    let mut v = broadcast_strides(&shape[..r - 2], &st[..r - 2], batch);
    v.extend([row, col]);
    v
}

pub fn qmatmul(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    let (a, b, y) = (&step.args[0], &step.args[1], &step.out);
    let ((_, za), (_, zb), (_, zy)) = (
        zp_scale(&a.ty, "operand a")?,
        zp_scale(&b.ty, "operand b")?,
        zp_scale(&y.ty, "the result")?,
    );
    for (o, what) in [(a, "operand a"), (b, "operand b"), (y, "the result")] {
        if o.ty.elem.storage() != DType::U8 || o.ty.rank() < 2 {
            return Err(Error::msg(format!(
                "qmatmul: {what} is {}; the kernel takes u8 codes of rank ≥ 2",
                o.ty
            )));
        }
    }
    let (m, s) = (ints(&step.op, "multiplier")?, ints(&step.op, "shift")?);
    let (lo, hi) = (int(&step.op, "lo")?, int(&step.op, "hi")?);
    check_range("qmatmul", lo, hi, DType::U8)?;
    let pair = Pair::Const(m[0], s[0]);
    let (ra, rb, ry) = (a.ty.rank(), b.ty.rank(), y.ty.rank());
    let kk = a.ty.shape[ra - 1];
    let (sa, sb) = (strides(&a.ty), strides(&b.ty));
    let batch = &y.ty.shape[..ry - 2];
    let a_over_y = over_result(a, batch, sa[ra - 2], 0);
    let b_over_y = over_result(b, batch, 0, sb[rb - 1]);
    let (a_k, b_k) = (sa[ra - 1], sb[rb - 2]);
    let ys = strides(&y.ty);
    let order = memory_order(&y.ty);
    // Four results at once along the result's innermost axis in memory (the columns of a
    // row-major product; the heads of a channels-last one) when each operand reads it densely
    // or not at all. Integer sums: the same bits in any grouping.
    let lane = *order.last().expect("rank ≥ 2");
    let lanes_ok = |st: &[i64]| st[lane] == 0 || st[lane] == 1;
    let blocks = if ys[lane] == 1 && lanes_ok(&a_over_y) && lanes_ok(&b_over_y) {
        y.ty.shape[lane] / 4
    } else {
        0
    };
    let n_lane = y.ty.shape[lane];
    // The lane axis is looped inside each unit of work (split_each splits the others).
    let mut outer = y.ty.shape.clone();
    outer[lane] = 1;
    let may_shift_left = s[0] > 0;
    let f = em.kernel(name, Linkage::Local, |k| {
        let (ab, bb, yb) = (k.base(a.loc), k.base(b.loc), k.base(y.loc));
        split_each(k, &outer, &order, &mut |k: &mut K, idx| {
            if blocks > 0 {
                k.for_range(0, blocks as i64, 1, |k, jb| {
                    let mut idx = idx.to_vec();
                    idx[lane] = k.b.ins().imul_imm_s(jb, 4);
                    let a0 = address(k, ab, &idx, &a_over_y, 1);
                    let b0 = address(k, bb, &idx, &b_over_y, 1);
                    let zv = splat_i32(k, 0);
                    let (dense_a, dense_b) = (a_over_y[lane] == 1, b_over_y[lane] == 1);
                    let (zav, zbv) = (splat_i32(k, za), splat_i32(k, zb));
                    let sum = if kk <= UNROLL_K {
                        // A head's width or a short sequence: every step inline, each load at a
                        // constant offset from the row's start.
                        let mut sum = zv;
                        for p in 0..kk as i64 {
                            let xa = k.b.ins().iadd_imm_s(a0, p * a_k);
                            let wa = k.b.ins().iadd_imm_s(b0, p * b_k);
                            sum = mac_x4(k, sum, (xa, dense_a, zav), (wa, dense_b, zbv));
                        }
                        sum
                    } else {
                        let acc = k.var(types::I32X4, zv);
                        k.for_range(0, kk as i64, 1, |k, p| {
                            let xa = k.at(a0, p, a_k, 0);
                            let wa = k.at(b0, p, b_k, 0);
                            let sum = k.b.use_var(acc);
                            let sum = mac_x4(k, sum, (xa, dense_a, zav), (wa, dense_b, zbv));
                            k.b.def_var(acc, sum);
                            Ok(())
                        })?;
                        k.b.use_var(acc)
                    };
                    let r = multiply_x4(k, sum, pair, may_shift_left);
                    let v = finish_x4(k, r, zy, lo, hi);
                    let at = address(k, yb, &idx, &ys, 1);
                    for l in 0..4u8 {
                        let c = k.b.ins().extractlane(v, l);
                        let addr = at_lane(k, at, l);
                        store_code(k, DType::U8, c, addr);
                    }
                    Ok(())
                })?;
            }
            k.for_range((blocks * 4) as i64, n_lane as i64, 1, |k, j| {
                let mut idx = idx.to_vec();
                idx[lane] = j;
                let a0 = address(k, ab, &idx, &a_over_y, 1);
                let b0 = address(k, bb, &idx, &b_over_y, 1);
                let zero = k.i32(0);
                let acc = k.var(types::I32, zero);
                k.for_range(0, kk as i64, 1, |k, p| {
                    let xa = k.at(a0, p, a_k, 0);
                    let x = load_code(k, DType::U8, xa);
                    let wa = k.at(b0, p, b_k, 0);
                    let w = load_code(k, DType::U8, wa);
                    let dx = k.b.ins().iadd_imm_s(x, -i64::from(za));
                    let dw = k.b.ins().iadd_imm_s(w, -i64::from(zb));
                    let prod = k.b.ins().imul(dx, dw);
                    let sum = k.b.use_var(acc);
                    let sum = k.b.ins().iadd(sum, prod);
                    k.b.def_var(acc, sum);
                    Ok(())
                })?;
                let sum = k.b.use_var(acc);
                let r = multiply(k, sum, pair);
                let v = finish(k, r, zy, lo, hi);
                let at = address(k, yb, &idx, &ys, 1);
                store_code(k, DType::U8, v, at);
                Ok(())
            })
        })
    })?;
    Ok((f, 0))
}

/// The longest reduction the vector path writes out step by step (attention's head widths and
/// short sequences); longer ones loop.
const UNROLL_K: usize = 64;

/// `sum + (x − Z_x)·(w − Z_w)` on four lanes, each operand given as (its address, whether its
/// four codes are consecutive bytes rather than one code repeated, its zero point splatted).
fn mac_x4(k: &mut K, sum: Value, x: (Value, bool, Value), w: (Value, bool, Value)) -> Value {
    let x = load_x4(k, x.0, x.1, x.2);
    let w = load_x4(k, w.0, w.1, w.2);
    let prod = k.b.ins().imul(x, w);
    k.b.ins().iadd(sum, prod)
}

/// Four codes at `addr` (consecutive bytes when `dense`, else one code repeated) as i32 lanes
/// less the zero point `z` (splatted).
fn load_x4(k: &mut K, addr: Value, dense: bool, z: Value) -> Value {
    let x = if dense {
        let word = k.b.ins().load(types::I32, mem(), addr, 0);
        let v = k.b.ins().scalar_to_vector(types::I32X4, word);
        let bytes = k.b.ins().bitcast(types::I8X16, mem(), v);
        let half = k.b.ins().uwiden_low(bytes);
        k.b.ins().uwiden_low(half)
    } else {
        let c = load_code(k, DType::U8, addr);
        k.b.ins().splat(types::I32X4, c)
    };
    k.b.ins().isub(x, z)
}

/// The address of lane `l` after `at` (one byte per code).
fn at_lane(k: &mut K, at: Value, l: u8) -> Value {
    if l == 0 {
        at
    } else {
        k.b.ins().iadd_imm_s(at, i64::from(l))
    }
}
