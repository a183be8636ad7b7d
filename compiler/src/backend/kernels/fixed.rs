//! The requantization every integer kernel ends with, in CLIF: `runtime::qops::fixed`'s
//! `multiply_by_quantized_multiplier` (saturating left shift, gemmlowp's rounding doubling high
//! multiply, rounding divide by a power of two) then zero point and clamp, bit for bit.

use crate::backend::emit::K;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, Endianness, InstBuilder, MemFlagsData, Value};

/// A multiplier and shift: compile-time constants (per tensor) or loaded values (per channel).
#[derive(Clone, Copy)]
pub enum Pair {
    Const(i32, i32),
    Dyn(Value, Value),
}

/// `x · m · 2^(s − 31)` rounded as gemmlowp/TFLite do; `x` an i32, the result an i32.
///
/// Computed in i64, where every step is exact: `x << left` with `left ≤ 30` cannot overflow
/// (|x| < 2³¹), clamping it to i32 is the saturating shift; `(a·m + 2³⁰) >> 31` is
/// `saturating_rounding_doubling_high_mul` for `m ≥ 0` (its only saturating case needs
/// `m = i32::MIN`); and the rounding right shift reads the same low bits of the sign-extended
/// value as it would of the i32.
pub fn multiply(k: &mut K, x: Value, pair: Pair) -> Value {
    let x = k.b.ins().sextend(types::I64, x);
    match pair {
        Pair::Const(m, s) => {
            let left = s.max(0);
            let right = (-s).max(0);
            let shifted = if left > 0 {
                let v = k.b.ins().ishl_imm_s(x, i64::from(left));
                clamp64(k, v)
            } else {
                x
            };
            let mv = k.i64(i64::from(m));
            let prod = k.b.ins().imul(shifted, mv);
            let nudged = k.b.ins().iadd_imm_s(prod, 1 << 30);
            let high = k.b.ins().sshr_imm_s(nudged, 31);
            let r = if right > 0 {
                divide_by_pot_const(k, high, right)
            } else {
                high
            };
            k.b.ins().ireduce(types::I32, r)
        }
        Pair::Dyn(m, s) => {
            let zero = k.i32(0);
            let left = k.b.ins().smax(s, zero);
            let neg = k.b.ins().ineg(s);
            let right = k.b.ins().smax(neg, zero);
            let left = k.b.ins().sextend(types::I64, left);
            let right = k.b.ins().sextend(types::I64, right);
            let v = k.b.ins().ishl(x, left);
            let shifted = clamp64(k, v);
            let mv = k.b.ins().sextend(types::I64, m);
            let prod = k.b.ins().imul(shifted, mv);
            let nudged = k.b.ins().iadd_imm_s(prod, 1 << 30);
            let high = k.b.ins().sshr_imm_s(nudged, 31);
            // mask = 2^right − 1; threshold = (mask >> 1) + (x < 0).
            let one = k.i64(1);
            let pow = k.b.ins().ishl(one, right);
            let mask = k.b.ins().iadd_imm_s(pow, -1);
            let r = divide_by_pot(k, high, right, mask);
            k.b.ins().ireduce(types::I32, r)
        }
    }
}

fn clamp64(k: &mut K, v: Value) -> Value {
    let lo = k.i64(i64::from(i32::MIN));
    let hi = k.i64(i64::from(i32::MAX));
    let v = k.b.ins().smax(v, lo);
    k.b.ins().smin(v, hi)
}

fn divide_by_pot_const(k: &mut K, x: Value, e: i32) -> Value {
    let mask = k.i64((1i64 << e) - 1);
    let ev = k.i64(i64::from(e));
    divide_by_pot(k, x, ev, mask)
}

/// gemmlowp's `RoundingDivideByPOT` on an i64 holding an i32.
fn divide_by_pot(k: &mut K, x: Value, e: Value, mask: Value) -> Value {
    let remainder = k.b.ins().band(x, mask);
    let half = k.b.ins().sshr_imm_s(mask, 1);
    let negative = k.b.ins().icmp_imm_s(IntCC::SignedLessThan, x, 0);
    let negative = k.b.ins().uextend(types::I64, negative);
    let threshold = k.b.ins().iadd(half, negative);
    let shifted = k.b.ins().sshr(x, e);
    let up =
        k.b.ins()
            .icmp(IntCC::SignedGreaterThan, remainder, threshold);
    let up = k.b.ins().uextend(types::I64, up);
    k.b.ins().iadd(shifted, up)
}

/// `clamp(zero_point + v, lo, hi)`; `v` is an i32 and the sum cannot overflow once `v` is
/// clamped to a range wider than `[lo − zp, hi − zp]`.
pub fn finish(k: &mut K, v: Value, zero_point: i32, lo: i32, hi: i32) -> Value {
    // |zero_point| ≤ 2³¹ only in i32 storage, where lo/hi are the i32 limits: clamp in i64.
    let v = k.b.ins().sextend(types::I64, v);
    let s = k.b.ins().iadd_imm_s(v, i64::from(zero_point));
    let lo = k.i64(i64::from(lo));
    let hi = k.i64(i64::from(hi));
    let s = k.b.ins().smax(s, lo);
    let s = k.b.ins().smin(s, hi);
    k.b.ins().ireduce(types::I32, s)
}

/// [`multiply`] on four i32 lanes that share one multiplier and shift (four pixels of one output
/// channel), bit for bit the same: the saturating left shift by compare-and-select, the high
/// multiply as two `pmuldq` products in i64 lanes (`x·m + 2³⁰` fits, `m ≥ 0`), whose bits 31..62
/// are the same under a logical or an arithmetic shift, and the rounding divide with the
/// threshold's "+1 when negative" taken from the sign mask.
///
/// `may_shift_left` is false when every shift of the tables is ≤ 0 (known at compile time): the
/// saturating left shift is then skipped.
pub fn multiply_x4(k: &mut K, x: Value, pair: Pair, may_shift_left: bool) -> Value {
    let (m, left, right) = match pair {
        Pair::Const(m, s) => {
            let m = k.i32(m);
            let (l, r) = (s.max(0), (-s).max(0));
            let l = (l > 0).then(|| k.i32(l));
            let r = (r > 0).then(|| k.i32(r));
            (m, l, r)
        }
        Pair::Dyn(m, s) if !may_shift_left => {
            let r = k.b.ins().ineg(s);
            (m, None, Some(r))
        }
        Pair::Dyn(m, s) => {
            let zero = k.i32(0);
            let l = k.b.ins().smax(s, zero);
            let neg = k.b.ins().ineg(s);
            let r = k.b.ins().smax(neg, zero);
            (m, Some(l), Some(r))
        }
    };
    let shifted = match left {
        None => x,
        Some(l) => {
            let max = k.i32(i32::MAX);
            let min = k.i32(i32::MIN);
            let hi_lim = k.b.ins().sshr(max, l);
            let lo_lim = k.b.ins().sshr(min, l);
            let hi_v = k.b.ins().splat(types::I32X4, hi_lim);
            let lo_v = k.b.ins().splat(types::I32X4, lo_lim);
            let max_v = k.b.ins().splat(types::I32X4, max);
            let min_v = k.b.ins().splat(types::I32X4, min);
            let v = k.b.ins().ishl(x, l);
            let over = k.b.ins().icmp(IntCC::SignedGreaterThan, x, hi_v);
            let under = k.b.ins().icmp(IntCC::SignedLessThan, x, lo_v);
            let v = k.b.ins().bitselect(over, max_v, v);
            k.b.ins().bitselect(under, min_v, v)
        }
    };
    let mv = k.b.ins().splat(types::I32X4, m);
    let nudge = k.i64(1 << 30);
    let nudge = k.b.ins().splat(types::I64X2, nudge);
    let halves: Vec<Value> = [false, true]
        .into_iter()
        .map(|high| {
            let (a, b) = if high {
                (k.b.ins().swiden_high(shifted), k.b.ins().swiden_high(mv))
            } else {
                (k.b.ins().swiden_low(shifted), k.b.ins().swiden_low(mv))
            };
            let p = k.b.ins().imul(a, b);
            let p = k.b.ins().iadd(p, nudge);
            let p = k.b.ins().ushr_imm_s(p, 31);
            k.b.ins().bitcast(types::I8X16, little(), p)
        })
        .collect();
    // Lanes 0 and 2 of each half: the low 32 bits of each shifted product.
    let mask: [u8; 16] = [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27];
    let mask = k.b.func.dfg.immediates.push(mask.to_vec().into());
    let high = k.b.ins().shuffle(halves[0], halves[1], mask);
    let high = k.b.ins().bitcast(types::I32X4, little(), high);
    divide_by_pot_x4(k, high, right)
}

/// [`multiply`] of `d · 2^left_shift` on four lanes, for `|d| ≤ 255` (a difference of two codes),
/// a constant shift `s ≤ 0` and `left_shift` in `11..=23`, entirely in i32 lanes.
///
/// The doubling high multiply of `x = d·2^L` by `m` is `⌊(d·2^L·m + 2³⁰) / 2³¹⌋ =
/// ⌊(d·m + 2^(30−L)) / 2^(31−L)⌋` (divide numerator and denominator by `2^L`). With
/// `E = 31 − L` and `m = m_h·2^E + m_l` (`0 ≤ m_l < 2^E`), `d·m_h·2^E` is a multiple of `2^E`,
/// so the floor is `d·m_h + ⌊(d·m_l + 2^(E−1)) / 2^E⌋`: `|d·m_h| < 2⁸·2^(31−E) ≤ 2³¹` and
/// `|d·m_l| < 2^(8+E) ≤ 2³¹` fit an i32, and `>>` is the floor. Its only saturating case needs
/// `x = i32::MIN`, which `|d| ≤ 255` rules out for `L ≤ 23`. Two `pmulld`s instead of widening
/// to i64 lanes: qadd rescales both operands this way (ADD_LEFT_SHIFT = 20).
pub fn multiply_small_x4(k: &mut K, d: Value, left_shift: i32, m: i32, s: i32) -> Value {
    debug_assert!(s <= 0 && m >= 0 && (11..=23).contains(&left_shift));
    let e = 31 - left_shift;
    let (mh, ml) = (m >> e, m & ((1 << e) - 1));
    let mh = k.i32(mh);
    let mh = k.b.ins().splat(types::I32X4, mh);
    let ml = k.i32(ml);
    let ml = k.b.ins().splat(types::I32X4, ml);
    let half = k.i32(1 << (e - 1));
    let half = k.b.ins().splat(types::I32X4, half);
    let whole = k.b.ins().imul(d, mh);
    let part = k.b.ins().imul(d, ml);
    let part = k.b.ins().iadd(part, half);
    let part = k.b.ins().sshr_imm_s(part, i64::from(e));
    let high = k.b.ins().iadd(whole, part);
    let right = (s < 0).then(|| k.i32(-s));
    divide_by_pot_x4(k, high, right)
}

/// gemmlowp's `RoundingDivideByPOT` on four i32 lanes by a shared exponent (none: `x`).
fn divide_by_pot_x4(k: &mut K, high: Value, right: Option<Value>) -> Value {
    match right {
        None => high,
        Some(e) => {
            let one = k.i32(1);
            let pow = k.b.ins().ishl(one, e);
            let mask = k.b.ins().iadd_imm_s(pow, -1);
            let half = k.b.ins().sshr_imm_s(mask, 1);
            let mask_v = k.b.ins().splat(types::I32X4, mask);
            let half_v = k.b.ins().splat(types::I32X4, half);
            let remainder = k.b.ins().band(high, mask_v);
            let sign = k.b.ins().sshr_imm_s(high, 31);
            let threshold = k.b.ins().isub(half_v, sign);
            let up =
                k.b.ins()
                    .icmp(IntCC::SignedGreaterThan, remainder, threshold);
            let shifted = k.b.ins().sshr(high, e);
            k.b.ins().isub(shifted, up)
        }
    }
}

/// Bitcasts between vectors of different lanes need an explicit byte order.
fn little() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

/// [`finish`] on four lanes: `clamp(v, lo − zp, hi − zp) + zp`, the same as clamping the sum
/// but without its overflow (`lo`, `hi` and `zp` are u8-sized here).
pub fn finish_x4(k: &mut K, v: Value, zero_point: i32, lo: i32, hi: i32) -> Value {
    let lo = k.i32(lo - zero_point);
    let hi = k.i32(hi - zero_point);
    let zp = k.i32(zero_point);
    let lo = k.b.ins().splat(types::I32X4, lo);
    let hi = k.b.ins().splat(types::I32X4, hi);
    let zp = k.b.ins().splat(types::I32X4, zp);
    let v = k.b.ins().smax(v, lo);
    let v = k.b.ins().smin(v, hi);
    k.b.ins().iadd(v, zp)
}
