//! qsoftmax: per row along the axis, the largest code `m`, the u32 sum of the table entries of
//! each code's distance below it, one f64 reciprocal `R = round(2³² / (s·S_y))`, and each code's
//! entry times `R` rounded to the result's code, exactly as `runtime::qops::qsoftmax` computes it.
//!
//! Rows are the other axes in memory order (channels-last rank-4 codes included, read through
//! their layout's strides), merged where contiguous, so a distribution head's rows (one pixel's
//! channels) are one flat run; the innermost run is cut into chunks of rows, the kernel's units
//! for threads. The table is stored reversed, `T'[j] = T[255 − j]`, so that with the row's base
//! `T' + 4·(255 − m)` each entry is one load indexed by the code itself.
//!
//! A contiguous row of at least 16 codes whose result scale keeps `R ≤ 2³⁰` (any softmax whose
//! result has a scale above about 2⁻¹⁴) runs 16 codes at a time: the maximum by vector
//! maxima, the entries gathered into i32x4 lanes, and the rounding in 32-bit lanes from
//! `R = R₁·2¹⁶ + R₀`: with `b = ⌊t·R₀ / 2¹⁶⌋`, `⌊(t·R + 2³¹) / 2³²⌋ = ⌊(t·R₁ + b + 2¹⁵) / 2¹⁶⌋`
//! (the low 16 bits of `t·R₀` cannot carry into bit 32), every term below 2³¹ when `R ≤ 2³⁰`;
//! saturating packs clamp to the code range. Other rows run element by element, unrolled with
//! immediate offsets.

use super::lanes::narrow;
use super::{int, zp_scale};
use crate::backend::emit::{mem, Emitter, K};
use crate::backend::layout::{memory_order, strides};
use crate::backend::Step;
use crate::diag::{Error, Result};
use cranelift_codegen::ir::{types, InstBuilder, Value};
use cranelift_module::{FuncId, Linkage};
use runtime::qops::{qrange, qsoftmax_problem, qsoftmax_reciprocal, QSOFTMAX_ONE};
use runtime::DType;

/// Elements per unrolled block of the scalar passes.
const BLOCK: usize = 8;

/// At most this many chunks of the innermost run of rows (units for threads).
const CHUNKS: usize = 64;

/// The largest `R` the 32-bit lanes take.
const LANE_R: u64 = 1 << 30;

/// What every row of one kernel shares.
#[derive(Clone, Copy)]
struct Row {
    n: usize,
    /// Element stride along the axis.
    st: i64,
    xd: DType,
    yd: DType,
    sy: f32,
    zy: i32,
    /// 16 codes at a time (see the module comment).
    lanes: bool,
}

pub fn qsoftmax(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    let (x, y) = (&step.args[0], &step.out);
    let (xd, yd) = (x.ty.elem.storage(), y.ty.elem.storage());
    for (d, t, what) in [(xd, &x.ty, "the input"), (yd, &y.ty, "the result")] {
        if !matches!(d, DType::U8 | DType::I8) {
            return Err(Error::msg(format!(
                "qsoftmax: {what} is {t}; the kernel takes u8 or i8 codes"
            )));
        }
    }
    zp_scale(&x.ty, "the input")?;
    let (sy, zy) = zp_scale(&y.ty, "the result")?;
    let shape = &x.ty.shape;
    let rank = shape.len();
    let axis = int(&step.op, "axis")?;
    let axis = usize::try_from(axis)
        .ok()
        .filter(|&a| a < rank)
        .ok_or_else(|| {
            Error::msg(format!(
                "qsoftmax: axis {axis} is out of range for {}",
                x.ty
            ))
        })?;
    let table = step
        .op
        .ints("table")
        .ok_or_else(|| Error::msg("qsoftmax needs `table`"))?;
    let n = shape[axis];
    if let Some(why) = qsoftmax_problem(table, n, sy) {
        return Err(Error::msg(format!("qsoftmax: {why}")));
    }
    let st = strides(&x.ty);
    if y.ty.shape != *shape || strides(&y.ty) != st {
        return Err(Error::msg(format!(
            "qsoftmax: the result {} is not laid out as the input {}",
            y.ty, x.ty
        )));
    }
    // The rows: the other axes outermost first in memory, size-1 axes dropped, an axis merged
    // into the one outside it when the two are one run.
    let mut runs: Vec<(usize, i64)> = vec![];
    for &a in &memory_order(&x.ty) {
        if a == axis || shape[a] == 1 {
            continue;
        }
        match runs.last_mut() {
            Some(last) if last.1 == shape[a] as i64 * st[a] => *last = (last.0 * shape[a], st[a]),
            _ => runs.push((shape[a], st[a])),
        }
    }
    if runs.is_empty() {
        runs.push((1, 0));
    }
    let (inner, inner_stride) = *runs.last().expect("one run");
    let chunk = inner.div_ceil(CHUNKS);
    let chunks = inner.div_ceil(chunk);
    let outer: Vec<(usize, i64)> = runs[..runs.len() - 1].to_vec();
    let units = outer.iter().map(|r| r.0).product::<usize>() * chunks;
    // R is largest for the smallest sum, 2¹⁶ (the maximum alone).
    let row = Row {
        n,
        st: st[axis],
        xd,
        yd,
        sy,
        zy,
        lanes: st[axis] == 1 && n >= 16 && qsoftmax_reciprocal(QSOFTMAX_ONE, sy) <= LANE_R,
    };
    let reversed: Vec<u8> = (0..256)
        .flat_map(|j| (table[255 - j] as u32).to_le_bytes())
        .collect();
    let id = em.data("qsoftmax", reversed)?;
    let f = em.kernel(name, Linkage::Local, |k| {
        if n == 0 || x.ty.numel() == 0 {
            return Ok(());
        }
        let (xb, yb) = (k.base(x.loc), k.base(y.loc));
        let tb = k.table(id);
        k.for_units(units, |k, u| {
            // The unit's chunk of the innermost run, and its position in the outer runs.
            let (c, mut rest) = if chunks == 1 {
                (k.i64(0), u)
            } else {
                let q = k.b.ins().udiv_imm_u(u, chunks as i64);
                let qc = k.b.ins().imul_imm_s(q, chunks as i64);
                (k.b.ins().isub(u, qc), q)
            };
            let mut base = k.i64(0);
            for &(size, stride) in outer.iter().rev() {
                let q = k.b.ins().udiv_imm_u(rest, size as i64);
                let qs = k.b.ins().imul_imm_s(q, size as i64);
                let i = k.b.ins().isub(rest, qs);
                base = k.at(base, i, stride, 0);
                rest = q;
            }
            let start = k.b.ins().imul_imm_s(c, chunk as i64);
            let end = k.b.ins().iadd_imm_s(start, chunk as i64);
            let last = k.i64(inner as i64);
            let end = k.b.ins().smin(end, last);
            k.for_between(start, end, 1, |k, r| {
                let off = k.at(base, r, inner_stride, 0);
                let xa = k.b.ins().iadd(xb, off);
                let ya = k.b.ins().iadd(yb, off);
                one_row(k, &row, tb, xa, ya)
            })
        })
    })?;
    Ok((f, 4 * 256))
}

/// One row: its maximum, its sum of entries, `R`, and its codes.
fn one_row(k: &mut K, row: &Row, tb: Value, xa: Value, ya: Value) -> Result<()> {
    let (n, st, xd) = (row.n, row.st, row.xd);
    let m = row_max(k, xa, n, st, xd)?;
    // The row's base in the reversed table: T[m − c] = T'[255 − m + c] at rb + 4·c.
    let top = k.i32(255);
    let back = k.b.ins().isub(top, m);
    let back = k.b.ins().sextend(types::I64, back);
    let rb = k.at(tb, back, 4, 0);
    // Σ T[m − x_i]: at most 65 535 entries of at most 2¹⁶, exact in u32 lanes and in i64.
    let zero = k.i64(0);
    let sum = k.var(types::I64, zero);
    let vectors = if row.lanes { n / 16 } else { 0 };
    // A row of one vector keeps its entries in registers for the second pass.
    let mut kept: Option<[Value; 4]> = None;
    if vectors > 0 {
        let z = k.i32(0);
        let z = k.b.ins().splat(types::I32X4, z);
        let acc = k.var(types::I32X4, z);
        k.for_range(0, vectors as i64, 1, |k, i| {
            let a = k.at(xa, i, 16, 0);
            let t = gather16(k, rb, a, xd);
            let s01 = k.b.ins().iadd(t[0], t[1]);
            let s23 = k.b.ins().iadd(t[2], t[3]);
            let s = k.b.ins().iadd(s01, s23);
            let cur = k.b.use_var(acc);
            let s = k.b.ins().iadd(cur, s);
            k.b.def_var(acc, s);
            if vectors == 1 {
                kept = Some(t);
            }
            Ok(())
        })?;
        let v = k.b.use_var(acc);
        let v = fold_sum(k, v);
        let v = k.b.ins().uextend(types::I64, v);
        k.b.def_var(sum, v);
    }
    let done = vectors * 16;
    let rest = n - done;
    let xr = k.b.ins().iadd_imm_s(xa, done as i64 * st);
    let yr = k.b.ins().iadd_imm_s(ya, done as i64 * st);
    each(k, rest, st, &mut |k, rel, off| {
        let a = k.b.ins().iadd(xr, rel);
        let t = entry(k, rb, a, off, xd);
        let t = k.b.ins().uextend(types::I64, t);
        let s = k.b.use_var(sum);
        let s = k.b.ins().iadd(s, t);
        k.b.def_var(sum, s);
        Ok(())
    })?;
    let s = k.b.use_var(sum);
    let r = reciprocal(k, s, row.sy);
    if vectors > 0 {
        // R = R₁·2¹⁶ + R₀, both below 2¹⁶ when R ≤ 2³⁰; Z_y folded into the rounding, the
        // arithmetic shift then gives Z_y + ⌊·⌋ for either sign.
        let r1 = k.b.ins().ushr_imm_u(r, 16);
        let r1 = k.b.ins().ireduce(types::I32, r1);
        let r1 = k.b.ins().splat(types::I32X4, r1);
        let r0 = k.b.ins().band_imm_u(r, 0xffff);
        let r0 = k.b.ins().ireduce(types::I32, r0);
        let r0 = k.b.ins().splat(types::I32X4, r0);
        let round = k.i32((1 << 15) + (row.zy << 16));
        let round = k.b.ins().splat(types::I32X4, round);
        let yd = row.yd;
        let codes = |k: &mut K, t: [Value; 4], at: Value| {
            let v = t.map(|t| {
                let hi = k.b.ins().imul(t, r1);
                let lo = k.b.ins().imul(t, r0);
                let lo = k.b.ins().ushr_imm_u(lo, 16);
                let v = k.b.ins().iadd(hi, lo);
                let v = k.b.ins().iadd(v, round);
                k.b.ins().sshr_imm_u(v, 16)
            });
            // Every lane is at least Z_y; the saturating packs clamp the top.
            let bytes = narrow(k, yd, v);
            k.b.ins().store(mem(), bytes, at, 0);
        };
        match kept {
            Some(t) => codes(k, t, ya),
            None => k.for_range(0, vectors as i64, 1, |k, i| {
                let a = k.at(xa, i, 16, 0);
                let t = gather16(k, rb, a, xd);
                let at = k.at(ya, i, 16, 0);
                codes(k, t, at);
                Ok(())
            })?,
        }
    }
    // Z_y folded into the rounding: (t·R + 2³¹ + Z_y·2³²) >> 32 (arithmetic) is
    // Z_y + ⌊(t·R + 2³¹) / 2³²⌋, and |Z_y|·2³² ≤ 2³⁹ keeps the sum far inside i64.
    let round = k.i64((1i64 << 31) + (i64::from(row.zy) << 32));
    let (_, out_max) = qrange(row.yd);
    let out_max = k.i64(i64::from(out_max));
    each(k, rest, st, &mut |k, rel, off| {
        let a = k.b.ins().iadd(xr, rel);
        let t = entry(k, rb, a, off, xd);
        let t = k.b.ins().uextend(types::I64, t);
        // t ≤ 2¹⁶ and R ≤ 2⁴⁶: the product and the rounding stay below 2⁶³. The result is at
        // least Z_y ≥ qmin, so only the top can clamp.
        let p = k.b.ins().imul(t, r);
        let p = k.b.ins().iadd(p, round);
        let v = k.b.ins().sshr_imm_u(p, 32);
        let v = k.b.ins().smin(v, out_max);
        let at = k.b.ins().iadd(yr, rel);
        k.b.ins().istore8(mem(), v, at, off);
        Ok(())
    })
}

/// `body(k, block, offset)` for each element `i < n` of a row with element stride `st`, the
/// element `block + offset` bytes from the row's start: blocks of [`BLOCK`] elements (a loop when
/// there are several), each element an immediate offset from its block, then the remaining
/// elements.
fn each(
    k: &mut K,
    n: usize,
    st: i64,
    body: &mut dyn FnMut(&mut K, Value, i32) -> Result<()>,
) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    // A whole row as one block when it is short; never an offset beyond i32.
    let block = if n <= 2 * BLOCK { n } else { BLOCK };
    let block = if (block as i64).saturating_mul(st.abs()) > i64::from(i32::MAX) {
        1
    } else {
        block
    };
    let whole = n / block * block;
    k.for_range(0, whole as i64, block as i64, |k, i| {
        let a = k.b.ins().imul_imm_s(i, st);
        for j in 0..block {
            body(k, a, (j as i64 * st) as i32)?;
        }
        Ok(())
    })?;
    if whole < n {
        let a = k.i64(whole as i64 * st);
        for j in 0..n - whole {
            body(k, a, (j as i64 * st) as i32)?;
        }
    }
    Ok(())
}

/// The code at `a + off` as an i32 (sign- or zero-extended from its storage).
fn code(k: &mut K, d: DType, a: Value, off: i32) -> Value {
    match d {
        DType::I8 => k.b.ins().sload8(types::I32, mem(), a, off),
        _ => k.b.ins().uload8(types::I32, mem(), a, off),
    }
}

/// `T[m − c]` as an i32 (at most 2¹⁶) for the code `c` at `a + off`, `rb` the row's base in
/// the reversed table.
fn entry(k: &mut K, rb: Value, a: Value, off: i32, d: DType) -> Value {
    let c = match d {
        DType::I8 => k.b.ins().sload8(types::I64, mem(), a, off),
        _ => k.b.ins().uload8(types::I64, mem(), a, off),
    };
    let at = k.at(rb, c, 4, 0);
    k.b.ins().load(types::I32, mem(), at, 0)
}

/// The entries of the 16 contiguous codes at `a`, as four i32x4.
fn gather16(k: &mut K, rb: Value, a: Value, d: DType) -> [Value; 4] {
    [0, 4, 8, 12].map(|first| {
        let t = entry(k, rb, a, first, d);
        let mut v = k.b.ins().scalar_to_vector(types::I32X4, t);
        for lane in 1..4u8 {
            let t = entry(k, rb, a, first + i32::from(lane), d);
            v = k.b.ins().insertlane(v, t, lane);
        }
        v
    })
}

/// The sum of the four lanes (each below 2³², their sum too) in lane 0, as an i32.
fn fold_sum(k: &mut K, v: Value) -> Value {
    let mut v = v;
    for half in [8u8, 4] {
        let mask: Vec<u8> = (0..16u8).map(|i| (i + half).min(15)).collect();
        let mask = k.b.func.dfg.immediates.push(mask.into());
        let moved = k.b.ins().shuffle(v, v, mask);
        v = k.b.ins().iadd(v, moved);
    }
    k.b.ins().extractlane(v, 0)
}

/// The largest code of the row as an i32: 16 codes per vector maximum when the row is
/// contiguous, the rest one by one.
fn row_max(k: &mut K, base: Value, n: usize, st: i64, d: DType) -> Result<Value> {
    let (qmin, _) = qrange(d);
    let low = k.i32(qmin);
    let mx = k.var(types::I32, low);
    let vectors = if st == 1 { n / 16 } else { 0 };
    if vectors > 0 {
        let fill = k.b.ins().iconst(types::I8, i64::from(qmin));
        let fill = k.b.ins().splat(types::I8X16, fill);
        let acc = k.var(types::I8X16, fill);
        k.for_range(0, vectors as i64, 1, |k, i| {
            let a = k.at(base, i, 16, 0);
            let v = k.b.ins().load(types::I8X16, mem(), a, 0);
            let cur = k.b.use_var(acc);
            let m = max_x16(k, d, cur, v);
            k.b.def_var(acc, m);
            Ok(())
        })?;
        // Fold the 16 lanes: lane i against lane i + 8, + 4, + 2, + 1.
        let mut v = k.b.use_var(acc);
        for half in [8u8, 4, 2, 1] {
            let mask: Vec<u8> = (0..16u8).map(|i| (i + half).min(15)).collect();
            let mask = k.b.func.dfg.immediates.push(mask.into());
            let moved = k.b.ins().shuffle(v, v, mask);
            v = max_x16(k, d, v, moved);
        }
        let lane = k.b.ins().extractlane(v, 0);
        let lane = match d {
            DType::I8 => k.b.ins().sextend(types::I32, lane),
            _ => k.b.ins().uextend(types::I32, lane),
        };
        k.b.def_var(mx, lane);
    }
    let done = vectors * 16;
    if done < n {
        let rest = k.b.ins().iadd_imm_s(base, done as i64 * st);
        each(k, n - done, st, &mut |k, rel, off| {
            let a = k.b.ins().iadd(rest, rel);
            let c = code(k, d, a, off);
            let cur = k.b.use_var(mx);
            let m = k.b.ins().smax(cur, c);
            k.b.def_var(mx, m);
            Ok(())
        })?;
    }
    Ok(k.b.use_var(mx))
}

fn max_x16(k: &mut K, d: DType, a: Value, b: Value) -> Value {
    match d {
        DType::I8 => k.b.ins().smax(a, b),
        _ => k.b.ins().umax(a, b),
    }
}

/// `R = round_half_even(2³² / (f64(s)·f64(S_y)))` as an i64: one IEEE multiply, one divide and
/// a rounding to even, as `runtime::qops::qsoftmax_reciprocal` computes it (`s < 2³²` converts
/// exactly; `R ≤ 2⁴⁶` converts back exactly, so the conversion cannot trap).
fn reciprocal(k: &mut K, s: Value, sy: f32) -> Value {
    let s = k.b.ins().fcvt_from_sint(types::F64, s);
    let scale = k.b.ins().f64const(f64::from(sy));
    let p = k.b.ins().fmul(s, scale);
    let two32 = k.b.ins().f64const(4_294_967_296.0);
    let q = k.b.ins().fdiv(two32, p);
    let q = k.b.ins().nearest(q);
    k.b.ins().fcvt_to_sint(types::I64, q)
}
