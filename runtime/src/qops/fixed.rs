//! The fixed-point arithmetic every requantizing op ends with: gemmlowp's saturating rounding
//! doubling high multiply and rounding divide by a power of two, composed as TFLite's
//! `MultiplyByQuantizedMultiplier`. The single definition the kernels and the backend share.

/// The smallest `shift` a quantized multiplier may have (`rounding_divide_by_pot` by 31).
pub const MIN_SHIFT: i32 = -31;
/// The largest `shift` a quantized multiplier may have (a left shift by 30).
pub const MAX_SHIFT: i32 = 30;

/// `a·b / 2³¹` rounded to the nearest integer, ties toward +∞, saturated: the only product that
/// does not fit, `i32::MIN · i32::MIN`, gives `i32::MAX`.
///
/// gemmlowp writes it as `(a·b + nudge) / 2³¹` with a truncating division and `nudge = 2³⁰` for
/// `a·b ≥ 0`, `1 − 2³⁰` otherwise. For a negative product that is `⌊(a·b + 2³⁰) / 2³¹⌋` too, so the
/// tie `−k − ½` goes to `−k` (toward +∞, like ARM's `SQRDMULH`), not away from zero.
#[inline]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = i64::from(a) * i64::from(b);
    // |ab| ≤ 2⁶² − 2³¹·(2³¹ − 1) < 2⁶³ − 2³⁰, so adding the nudge cannot overflow; the arithmetic
    // shift is the floor division.
    ((ab + (1 << 30)) >> 31) as i32
}

/// `x / 2^exponent` rounded to the nearest integer, ties away from zero, for `exponent` in
/// `0..=31`: gemmlowp's `RoundingDivideByPOT`, `(x >> e) + (remainder > threshold)` with
/// `remainder = x & (2^e − 1)` and `threshold = (2^e − 1) >> 1`, one more for negative `x`.
#[inline]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    debug_assert!(
        (0..=31).contains(&exponent),
        "rounding_divide_by_pot: exponent {exponent} is outside 0..=31"
    );
    // 2^31 − 1 is still an i32, so exponent 31 needs no special case; all in i32 so that a loop
    // of these vectorizes.
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// `x · 2^shift` for `shift` in `0..=30`, clamped to the i32 range.
#[inline]
pub fn saturating_left_shift(x: i32, shift: i32) -> i32 {
    debug_assert!(
        (0..=MAX_SHIFT).contains(&shift),
        "saturating_left_shift: shift {shift} is outside 0..={MAX_SHIFT}"
    );
    // Compared in i32 (the largest and smallest x whose shift fits) so that a loop vectorizes.
    if x > i32::MAX >> shift {
        i32::MAX
    } else if x < i32::MIN >> shift {
        i32::MIN
    } else {
        x << shift
    }
}

/// `x · multiplier · 2^(shift − 31)`, rounded as TFLite's `MultiplyByQuantizedMultiplier` rounds:
/// a positive shift first multiplies `x` by `2^shift` (saturating), then
/// [`saturating_rounding_doubling_high_mul`], then a negative shift divides by `2^−shift`
/// with [`rounding_divide_by_pot`]. `multiplier` is non-negative (normally in `[2³⁰, 2³¹)`, as
/// `quantize_multiplier` makes it) and `shift` is in `MIN_SHIFT..=MAX_SHIFT`.
#[inline]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    debug_assert!(
        multiplier >= 0,
        "multiply_by_quantized_multiplier: negative multiplier {multiplier}"
    );
    debug_assert!(
        (MIN_SHIFT..=MAX_SHIFT).contains(&shift),
        "multiply_by_quantized_multiplier: shift {shift} out of range"
    );
    let left = shift.max(0);
    let right = (-shift).max(0);
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(saturating_left_shift(x, left), multiplier),
        right,
    )
}
