//! The requantization parameters every integer op ends with, made from real multipliers, and the
//! clamp bounds that absorb ReLU, ReLU6 and Clip.

use super::codes::{qrange, quantize_value};
use super::fixed::{multiply_by_quantized_multiplier, MAX_SHIFT, MIN_SHIFT};
use super::simd::{dispatch, Kernel};
use crate::ops::fixed_point::quantize_multiplier;
use crate::DType;
use thiserror::Error;

/// Why integer-op parameters could not be made.
#[derive(Clone, Debug, PartialEq, Error)]
pub enum QuantError {
    #[error("real multiplier {0} is not a non-negative finite number")]
    BadMultiplier(f64),
    #[error("real multiplier {0} is too large for a fixed-point multiplier (at most 2^30)")]
    MultiplierTooLarge(f64),
    #[error("scale {0} is not a positive finite number")]
    BadScale(f32),
    #[error("{multipliers} multipliers but {shifts} shifts")]
    LengthMismatch { multipliers: usize, shifts: usize },
    #[error("no multiplier")]
    Empty,
    #[error("multiplier {0} is negative")]
    NegativeMultiplier(i32),
    #[error("shift {0} is outside {MIN_SHIFT}..={MAX_SHIFT}")]
    ShiftOutOfRange(i32),
    #[error("clamp [{lo}, {hi}] is not inside the {dtype} range [{qmin}, {qmax}]")]
    BadClamp {
        lo: i32,
        hi: i32,
        dtype: DType,
        qmin: i32,
        qmax: i32,
    },
    #[error("zero point {zero_point} is outside the {dtype} range")]
    BadZeroPoint { zero_point: i32, dtype: DType },
}

/// The fixed-point form `(multiplier, shift)` of a real multiplier `m ≥ 0`:
/// `m ≈ multiplier · 2^(shift − 31)` with `multiplier ∈ [2³⁰, 2³¹)` and `shift ∈ [−31, 30]`, as
/// `ops::fixed_point::quantize_multiplier` rounds it.
///
/// `m < 2⁻³²` (and `m = 0`) becomes `(0, 0)`, which is exact: every i32 accumulator times such an
/// `m` is below ½ in magnitude, so it rounds to 0. `m ≥ 2³⁰` is refused.
pub fn fixed_multiplier(m: f64) -> Result<(i32, i32), QuantError> {
    if !(m.is_finite() && m >= 0.0) {
        return Err(QuantError::BadMultiplier(m));
    }
    match quantize_multiplier(m) {
        // Zero, or so far from 1 that no shift fits.
        None if m > 1.0 => Err(QuantError::MultiplierTooLarge(m)),
        None => Ok((0, 0)),
        Some((_, shift)) if shift < MIN_SHIFT => Ok((0, 0)),
        Some((_, shift)) if shift > MAX_SHIFT => Err(QuantError::MultiplierTooLarge(m)),
        Some(pair) => Ok(pair),
    }
}

/// Requantization of i32 accumulators to codes: for accumulator `acc` of channel `c`,
/// `clamp(zero_point + multiply_by_quantized_multiplier(acc, multiplier[c], shift[c]), lo, hi)`.
///
/// `multiplier` and `shift` have one entry (per tensor) or one per channel. Pooling ops index
/// them by window size instead of channel (see `qavg_pool`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requant {
    pub multiplier: Vec<i32>,
    pub shift: Vec<i32>,
    /// The result's zero point.
    pub zero_point: i32,
    /// The clamp every result ends with: the storage range, narrowed by an absorbed activation.
    pub lo: i32,
    pub hi: i32,
}

impl Requant {
    /// From real multipliers (one, or one per channel) through [`fixed_multiplier`].
    pub fn from_real(
        multipliers: &[f64],
        zero_point: i32,
        lo: i32,
        hi: i32,
    ) -> Result<Requant, QuantError> {
        let pairs = multipliers
            .iter()
            .map(|&m| fixed_multiplier(m))
            .collect::<Result<Vec<_>, _>>()?;
        let (multiplier, shift) = pairs.into_iter().unzip();
        Ok(Requant {
            multiplier,
            shift,
            zero_point,
            lo,
            hi,
        })
    }

    /// How many (multiplier, shift) pairs there are.
    pub fn len(&self) -> usize {
        self.multiplier.len()
    }

    pub fn is_empty(&self) -> bool {
        self.multiplier.is_empty()
    }

    /// Checks what the arithmetic relies on: as many shifts as multipliers (at least one),
    /// multipliers non-negative, shifts in range, the zero point and `lo ≤ hi` inside the range
    /// of `out`, the result's storage type.
    pub fn validate(&self, out: DType) -> Result<(), QuantError> {
        let (qmin, qmax) = qrange(out);
        if self.multiplier.len() != self.shift.len() {
            return Err(QuantError::LengthMismatch {
                multipliers: self.multiplier.len(),
                shifts: self.shift.len(),
            });
        }
        if self.multiplier.is_empty() {
            return Err(QuantError::Empty);
        }
        if let Some(&m) = self.multiplier.iter().find(|&&m| m < 0) {
            return Err(QuantError::NegativeMultiplier(m));
        }
        if let Some(&s) = self
            .shift
            .iter()
            .find(|&&s| !(MIN_SHIFT..=MAX_SHIFT).contains(&s))
        {
            return Err(QuantError::ShiftOutOfRange(s));
        }
        if !(qmin..=qmax).contains(&self.zero_point) {
            return Err(QuantError::BadZeroPoint {
                zero_point: self.zero_point,
                dtype: out,
            });
        }
        if !(qmin <= self.lo && self.lo <= self.hi && self.hi <= qmax) {
            return Err(QuantError::BadClamp {
                lo: self.lo,
                hi: self.hi,
                dtype: out,
                qmin,
                qmax,
            });
        }
        Ok(())
    }

    /// Panics unless [`Requant::validate`] passes and there is one pair or exactly `channels`.
    pub(crate) fn check(&self, op: &str, channels: usize, out: DType) {
        if let Err(e) = self.validate(out) {
            panic!("{op}: {e}");
        }
        assert!(
            self.len() == 1 || self.len() == channels,
            "{op}: {} multipliers for {channels} channels (want 1 or {channels})",
            self.len()
        );
    }

    /// The (multiplier, shift) pair of channel `c` (the only pair when per tensor).
    #[inline]
    pub fn pair(&self, c: usize) -> (i32, i32) {
        let i = if self.multiplier.len() == 1 { 0 } else { c };
        (self.multiplier[i], self.shift[i])
    }

    /// The code of accumulator `acc` in channel `c`.
    #[inline]
    pub fn apply(&self, c: usize, acc: i32) -> i32 {
        let (m, s) = self.pair(c);
        self.finish(multiply_by_quantized_multiplier(acc, m, s))
    }

    /// `out[i] = apply(c, offset + acc[i])` (the sum wrapping) for a run of accumulators of one
    /// channel, as u8 codes: the store of every accumulating kernel, written as one loop that LLVM
    /// vectorizes.
    pub(crate) fn apply_run(&self, c: usize, offset: i32, acc: &[i32], out: &mut [u8]) {
        assert_eq!(
            acc.len(),
            out.len(),
            "apply_run: {} accumulators for {} codes",
            acc.len(),
            out.len()
        );
        let (multiplier, shift) = self.pair(c);
        dispatch(Run {
            rq: self,
            multiplier,
            shift,
            offset,
            acc,
            out,
        });
    }

    /// `clamp(zero_point + scaled, lo, hi)`, the sum taken without overflow.
    #[inline]
    pub fn finish(&self, scaled: i32) -> i32 {
        (i64::from(scaled) + i64::from(self.zero_point))
            .clamp(i64::from(self.lo), i64::from(self.hi)) as i32
    }
}

/// The clamp `[lo, hi]` that absorbs `clip(x, min, max)` into a requantization to
/// `(scale, zero_point, dtype)`: the codes of `min` and `max` (quantized as `quantize` does, so
/// `±∞` give the ends of the storage range). ReLU is `(0, ∞)`: `lo = max(zero_point, qmin)`,
/// `hi = qmax`; ReLU6 is `(0, 6)`: `hi = min(qmax, zero_point + round_half_even(6/scale))`; no
/// activation is `(−∞, ∞)`.
pub fn clamp_bounds(min: f32, max: f32, scale: f32, zero_point: i32, dtype: DType) -> (i32, i32) {
    (
        quantize_value(min, scale, zero_point, dtype),
        quantize_value(max, scale, zero_point, dtype),
    )
}

struct Run<'a> {
    rq: &'a Requant,
    multiplier: i32,
    shift: i32,
    offset: i32,
    acc: &'a [i32],
    out: &'a mut [u8],
}

impl Kernel for Run<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self, _wide: bool) {
        let Run {
            rq,
            multiplier,
            shift,
            offset,
            acc,
            out,
        } = self;
        // `finish` in i32: lo − zp and hi − zp cannot overflow (all three are codes), and
        // clamping before adding the zero point gives the same code.
        let (zp, lo, hi) = (rq.zero_point, rq.lo - rq.zero_point, rq.hi - rq.zero_point);
        for (o, &a) in out.iter_mut().zip(acc) {
            *o = (multiply_by_quantized_multiplier(a.wrapping_add(offset), multiplier, shift)
                .clamp(lo, hi)
                + zp) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The vectorized run of requantizations gives what the scalar definition gives.
        #[test]
        fn apply_run_is_apply(
            acc in prop::collection::vec(prop_oneof![any::<i32>(), Just(i32::MIN), Just(i32::MAX), -5000i32..5000], 0..70),
            (m, s) in (prop_oneof![0..=i32::MAX, Just(i32::MAX), Just(1 << 30)], MIN_SHIFT..=MAX_SHIFT),
            offset in prop_oneof![Just(0), any::<i32>()],
            (zero_point, a, b) in (0..=255i32, 0..=255i32, 0..=255i32),
        ) {
            let rq = Requant { multiplier: vec![m], shift: vec![s], zero_point, lo: a.min(b), hi: a.max(b) };
            let mut out = vec![0u8; acc.len()];
            rq.apply_run(0, offset, &acc, &mut out);
            let want: Vec<u8> = acc.iter().map(|&v| rq.apply(0, v.wrapping_add(offset)) as u8).collect();
            prop_assert_eq!(out, want);
        }
    }
}
