//! qadd: the sum of two u8 tensors with different quantization parameters, as TFLite computes it:
//! both inputs rescaled to one fixed-point scale with 20 bits of headroom, added exactly, then
//! requantized once to the output.

use super::broadcast::zip_broadcast;
use super::fixed::multiply_by_quantized_multiplier;
use super::params::{fixed_multiplier, QuantError};
use super::Requant;
use crate::DType;
use ndarray::ArrayD;

/// The inputs' codes, centred, are shifted left by this many bits before rescaling, so rescaling
/// by a multiplier ≤ ½ keeps 19 fractional bits (|x − Z| ≤ 255 < 2⁸, so `(x − Z)·2²⁰ < 2²⁸`).
pub const ADD_LEFT_SHIFT: i32 = 20;

/// The parameters of [`qadd`]. With `s = 2·max(S_a, S_b)`, the real multipliers are
/// `S_a / s` (`a_multiplier`, `a_shift`), `S_b / s` (`b_*`), both in `(0, ½]`, and
/// `s / (2²⁰ · S_y)` (`out`, per tensor).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddParams {
    pub a_zero_point: i32,
    pub a_multiplier: i32,
    pub a_shift: i32,
    pub b_zero_point: i32,
    pub b_multiplier: i32,
    pub b_shift: i32,
    pub out: Requant,
}

impl AddParams {
    /// From the operands' and the result's `(scale, zero_point)` and the result's clamp. The real
    /// multipliers are computed in f64 from the f32 scales, in the order written above.
    pub fn from_scales(
        a: (f32, i32),
        b: (f32, i32),
        y: (f32, i32),
        lo: i32,
        hi: i32,
    ) -> Result<AddParams, QuantError> {
        for s in [a.0, b.0, y.0] {
            if !(s.is_finite() && s > 0.0) {
                return Err(QuantError::BadScale(s));
            }
        }
        let (sa, sb, sy) = (f64::from(a.0), f64::from(b.0), f64::from(y.0));
        let twice_max = 2.0 * sa.max(sb);
        let (a_multiplier, a_shift) = fixed_multiplier(sa / twice_max)?;
        let (b_multiplier, b_shift) = fixed_multiplier(sb / twice_max)?;
        let out = Requant::from_real(
            &[twice_max / ((1u64 << ADD_LEFT_SHIFT) as f64 * sy)],
            y.1,
            lo,
            hi,
        )?;
        Ok(AddParams {
            a_zero_point: a.1,
            a_multiplier,
            a_shift,
            b_zero_point: b.1,
            b_multiplier,
            b_shift,
            out,
        })
    }
}

/// `y = clamp(Z_y + mbqm(â + b̂, M_y, shift_y), lo, hi)` with
/// `â = mbqm((a − Z_a)·2²⁰, M_a, shift_a)` and `b̂` likewise (`mbqm` is
/// `multiply_by_quantized_multiplier`), elementwise with numpy broadcasting.
pub fn qadd(a: &ArrayD<u8>, b: &ArrayD<u8>, p: &AddParams) -> ArrayD<u8> {
    check_input("qadd", p.a_zero_point, p.a_multiplier, p.a_shift);
    check_input("qadd", p.b_zero_point, p.b_multiplier, p.b_shift);
    p.out.check("qadd", 1, DType::U8);
    zip_broadcast("qadd", a, b, |x, y| add_codes(p, x, y))
}

/// The sum of one pair of codes.
#[inline]
fn add_codes(p: &AddParams, a: i32, b: i32) -> i32 {
    let a = multiply_by_quantized_multiplier(
        (a - p.a_zero_point) << ADD_LEFT_SHIFT,
        p.a_multiplier,
        p.a_shift,
    );
    let b = multiply_by_quantized_multiplier(
        (b - p.b_zero_point) << ADD_LEFT_SHIFT,
        p.b_multiplier,
        p.b_shift,
    );
    // A shift ≤ 0 keeps each real multiplier below 1, so |a|, |b| ≤ 2²⁸ and the sum fits.
    p.out.apply(0, a + b)
}

/// An input's zero point is a u8 code, and its multiplier may not grow the shifted value
/// (`shift ≤ 0`), so that rescaling never saturates. The compiler's verifier asks the same.
pub fn input_problem(zero_point: i32, multiplier: i32, shift: i32) -> Option<String> {
    if !(0..=255).contains(&zero_point) {
        Some(format!(
            "input zero point {zero_point} is outside the u8 range"
        ))
    } else if multiplier < 0 {
        Some(format!("negative input multiplier {multiplier}"))
    } else if !(super::fixed::MIN_SHIFT..=0).contains(&shift) {
        Some(format!("input shift {shift} is outside -31..=0"))
    } else {
        None
    }
}

fn check_input(op: &str, zero_point: i32, multiplier: i32, shift: i32) {
    if let Some(why) = input_problem(zero_point, multiplier, shift) {
        panic!("{op}: {why}");
    }
}
