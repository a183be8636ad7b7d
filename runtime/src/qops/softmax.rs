//! qsoftmax: softmax on codes. Along the axis, each code's distance below its row's maximum
//! indexes a 256-entry table of `2¹⁶·e^(−S_x·d)`, the row's sum is exact in u32, and one f64
//! reciprocal per row scales every entry to the result's codes (docs/ir.md, `qsoftmax`).

use super::codes::qrange;
use crate::{DType, Tensor};
use ndarray::{ArrayD, Axis};

/// `T[0]`, the weight of the row's maximum: one in 16-bit fixed point.
pub const QSOFTMAX_ONE: u32 = 1 << 16;

/// The longest axis whose sum cannot leave u32: every entry is at most 2¹⁶, and
/// 65 535 · 2¹⁶ < 2³². The quantizer keeps a softmax over a longer axis float.
pub const QSOFTMAX_MAX_AXIS: usize = 65_535;

/// The smallest result scale: with `s ≥ 2¹⁶` it keeps `R ≤ 2⁴⁶`, so `t·R + 2³¹ < 2⁶³`.
pub const QSOFTMAX_MIN_SCALE: f32 = 1.0 / (1u64 << 30) as f32;

/// The table for input scale `scale`: `T[k] = round_half_even(exp(−S_x·k)·2¹⁶)` for
/// `k = 0 … 255`, in f64 (`−S_x·k` one product, `exp` the platform's, the scaling exact), as the
/// lowering rule computes it.
pub fn qsoftmax_table(scale: f32) -> Vec<u32> {
    (0..256)
        .map(|k| ((-f64::from(scale) * f64::from(k)).exp() * 65536.0).round_ties_even() as u32)
        .collect()
}

/// The row's multiplier `R = round_half_even(2³² / (s·S_y))`: `f64(s)·f64(S_y)` one product, the
/// quotient one division, both IEEE, so every implementation gets the same integer.
pub fn qsoftmax_reciprocal(sum: u32, out_scale: f32) -> u64 {
    (4_294_967_296.0 / (f64::from(sum) * f64::from(out_scale))).round_ties_even() as u64
}

/// Why `(table, axis length, out scale)` is outside what the bounds of docs/ir.md cover, if it is.
pub fn qsoftmax_problem(table: &[i64], axis_len: usize, out_scale: f32) -> Option<String> {
    if table.len() != 256 {
        return Some(format!("the table has {} entries, not 256", table.len()));
    }
    if table[0] != i64::from(QSOFTMAX_ONE) {
        return Some(format!("table entry 0 is {}, not 2^16", table[0]));
    }
    if let Some((i, v)) = table
        .iter()
        .enumerate()
        .find(|(_, &v)| !(0..=i64::from(QSOFTMAX_ONE)).contains(&v))
    {
        return Some(format!("table entry {i} ({v}) is outside [0, 2^16]"));
    }
    if axis_len > QSOFTMAX_MAX_AXIS {
        return Some(format!(
            "the axis has {axis_len} elements, more than {QSOFTMAX_MAX_AXIS} (the u32 sum)"
        ));
    }
    if !(out_scale.is_finite() && out_scale >= QSOFTMAX_MIN_SCALE) {
        return Some(format!(
            "the result scale {out_scale:e} is below 2^-30 (the 64-bit product)"
        ));
    }
    None
}

/// `y_i = clamp(Z_y + ((T[m − x_i]·R + 2³¹) >> 32), qmin, qmax)` along `axis`, `m` the row's
/// largest code, `R` = [`qsoftmax_reciprocal`] of the row's sum of table entries; `x` u8 or i8,
/// the result `out = (S_y, Z_y, u8 or i8)`.
///
/// # Panics
/// When [`qsoftmax_problem`] names a problem, `axis` is out of range, `x` is not u8/i8 or `out`
/// is not a code type with its zero point in range.
pub fn qsoftmax(x: &Tensor, axis: usize, table: &[u32], out: (f32, i32, DType)) -> Tensor {
    let (sy, zy, dt) = out;
    assert!(
        axis < x.shape().len(),
        "qsoftmax: axis {axis} is out of range for {:?}",
        x.shape()
    );
    let wide: Vec<i64> = table.iter().map(|&t| i64::from(t)).collect();
    if let Some(p) = qsoftmax_problem(&wide, x.shape()[axis], sy) {
        panic!("qsoftmax: {p}");
    }
    let (qmin, qmax) = match dt {
        DType::U8 | DType::I8 => qrange(dt),
        other => panic!("qsoftmax: result type {other} must be u8 or i8"),
    };
    assert!(
        (qmin..=qmax).contains(&zy),
        "qsoftmax: result zero point {zy} is outside the {dt} range"
    );
    let mut codes: ArrayD<i32> = match x {
        Tensor::U8(a) => a.mapv(i32::from),
        Tensor::I8(a) => a.mapv(i32::from),
        other => panic!(
            "qsoftmax: input {:?} must be u8 or i8, not {}",
            other.shape(),
            other.dtype()
        ),
    };
    for mut lane in codes.lanes_mut(Axis(axis)) {
        let Some(&m) = lane.iter().max() else {
            continue;
        };
        let entry = |c: i32| u64::from(table[(m - c) as usize]);
        // At most 65 535 entries of at most 2¹⁶: exact in u32.
        let sum: u32 = lane.iter().map(|&c| entry(c) as u32).sum();
        let r = qsoftmax_reciprocal(sum, sy);
        for c in lane.iter_mut() {
            // t ≤ 2¹⁶ and r ≤ 2⁴⁶: the product and the half fit u64 (and i64).
            let v = ((entry(*c) * r + (1 << 31)) >> 32) as i64;
            *c = (i64::from(zy) + v).clamp(qmin.into(), qmax.into()) as i32;
        }
    }
    // Every code was clamped to the result type's range: the narrowing casts are exact.
    match dt {
        DType::U8 => Tensor::U8(codes.mapv(|c| c as u8)),
        _ => Tensor::I8(codes.mapv(|c| c as i8)),
    }
}
