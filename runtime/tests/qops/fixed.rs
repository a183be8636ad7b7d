//! The fixed-point primitives: hand-computed gemmlowp cases, the naive formulas over the whole
//! input range, and the composed multiplier against exact and f64 oracles.

use crate::common::*;
use proptest::prelude::*;
use runtime::qops::fixed::saturating_left_shift;
use runtime::qops::{
    clamp_bounds, fixed_multiplier, multiply_by_quantized_multiplier as mbqm, QuantError, Requant,
};
use runtime::qops::{
    rounding_divide_by_pot as rdbpot, saturating_rounding_doubling_high_mul as srdhm,
};
use runtime::DType;

const HALF: i32 = 1 << 30; // 0.5 in Q31

#[test]
fn srdhm_hand_cases() {
    // The one product that does not fit: (−1)·(−1) in Q31 is 1, saturated to the largest Q31.
    assert_eq!(srdhm(i32::MIN, i32::MIN), i32::MAX);
    // (2³¹ − 1)² / 2³¹ = 2³¹ − 2 + 2⁻³¹: rounds down to 2³¹ − 2.
    assert_eq!(srdhm(i32::MAX, i32::MAX), i32::MAX - 1);
    // −2³¹·(2³¹ − 1) / 2³¹ = −(2³¹ − 1), exact.
    assert_eq!(srdhm(i32::MIN, i32::MAX), -i32::MAX);
    // ½·½ = ¼.
    assert_eq!(srdhm(HALF, HALF), 1 << 29);
    assert_eq!(srdhm(i32::MIN, HALF), -HALF);
    // x·½ for odd x is a tie. gemmlowp adds 2³⁰ to a non-negative product and 1 − 2³⁰ to a
    // negative one, then divides truncating: 1.5 → 2, 0.5 → 1, but −0.5 → 0, −1.5 → −1,
    // −2.5 → −2 (ties toward +∞, as ARM's SQRDMULH).
    assert_eq!(srdhm(3, HALF), 2);
    assert_eq!(srdhm(1, HALF), 1);
    assert_eq!(srdhm(-1, HALF), 0);
    assert_eq!(srdhm(-3, HALF), -1);
    assert_eq!(srdhm(-5, HALF), -2);
    // Not ties: b = 2²⁹ is ¼, and ±3·¼ = ±0.75 → ±1.
    assert_eq!(srdhm(-3, 1 << 29), -1);
    assert_eq!(srdhm(3, 1 << 29), 1);
    assert_eq!(srdhm(0, i32::MIN), 0);
}

#[test]
fn rounding_divide_by_pot_hand_cases() {
    // Ties away from zero: −2.5 → −3, 2.5 → 3, −1.5 → −2, 1.5 → 2, −0.5 → −1.
    assert_eq!(rdbpot(-5, 1), -3);
    assert_eq!(rdbpot(5, 1), 3);
    assert_eq!(rdbpot(-6, 2), -2);
    assert_eq!(rdbpot(6, 2), 2);
    assert_eq!(rdbpot(-1, 1), -1);
    // Not ties: −1.75 → −2, −1.25 → −1, 1.25 → 1; exact: −4/2 = −2.
    assert_eq!(rdbpot(-7, 2), -2);
    assert_eq!(rdbpot(-5, 2), -1);
    assert_eq!(rdbpot(5, 2), 1);
    assert_eq!(rdbpot(-4, 1), -2);
    // Exponent 0 is the identity, at the ends of the range too.
    assert_eq!(rdbpot(i32::MIN, 0), i32::MIN);
    assert_eq!(rdbpot(i32::MAX, 0), i32::MAX);
    // Exponent 31: −2³¹/2³¹ = −1; (2³¹ − 1)/2³¹ ≈ 1 − 2⁻³¹ → 1; ±2³⁰/2³¹ = ±½ → ±1;
    // (2³⁰ − 1)/2³¹ < ½ → 0.
    assert_eq!(rdbpot(i32::MIN, 31), -1);
    assert_eq!(rdbpot(i32::MAX, 31), 1);
    assert_eq!(rdbpot(HALF, 31), 1);
    assert_eq!(rdbpot(-HALF, 31), -1);
    assert_eq!(rdbpot(HALF - 1, 31), 0);
    assert_eq!(rdbpot(-HALF + 1, 31), 0);
}

#[test]
fn multiply_by_quantized_multiplier_hand_cases() {
    // M = ½ (2³⁰, shift 0): 100 → 50; M = 1 (2³⁰, shift 1): 100 → 100.
    assert_eq!(mbqm(100, HALF, 0), 50);
    assert_eq!(mbqm(100, HALF, 1), 100);
    // M = ¼ (2³⁰, shift −1): 3·¼ = 0.75: srdhm gives round(1.5) = 2, then 2/2 = 1.
    assert_eq!(mbqm(3, HALF, -1), 1);
    // Rounding twice: 5·¼ = 1.25 should give 1, but srdhm rounds 2.5 up to 3 and the divide
    // rounds 1.5 away from zero to 2. Within one of the exact value, as the oracle tests demand.
    assert_eq!(mbqm(5, HALF, -1), 2);
    // −5·¼ = −1.25: srdhm(−5, ½) = −2 (tie −2.5 toward +∞), then −2/2 = −1.
    assert_eq!(mbqm(-5, HALF, -1), -1);
    // The left shift saturates before the multiply: 2³¹ − 1 times 1 comes out as ≈ (2³¹ − 1)·½.
    assert_eq!(mbqm(i32::MAX, HALF, 1), HALF);
    assert_eq!(mbqm(i32::MIN, HALF, 1), -HALF);
    // The ends of the range with the smallest shift, M = 2⁻³²: −2³¹·½ = −2³⁰ exactly, and
    // −2³⁰/2³¹ = −½ rounds away from zero to −1 (the real product is exactly −½). For 2³¹ − 1,
    // srdhm rounds 2³⁰ − ½ up to 2³⁰, and ½ then rounds to 1, where the real product
    // 0.4999… would round to 0: double rounding once more, still within one.
    assert_eq!(mbqm(i32::MIN, HALF, -31), -1);
    assert_eq!(mbqm(i32::MAX, HALF, -31), 1);
    // A zero multiplier gives 0 whatever the accumulator.
    assert_eq!(mbqm(i32::MAX, 0, 30), 0);
}

#[test]
fn saturating_left_shift_hand_cases() {
    assert_eq!(saturating_left_shift(3, 2), 12);
    assert_eq!(saturating_left_shift(-3, 2), -12);
    assert_eq!(saturating_left_shift(1 << 29, 1), 1 << 30);
    assert_eq!(saturating_left_shift(1 << 30, 1), i32::MAX);
    assert_eq!(saturating_left_shift(-(1 << 30), 1), i32::MIN);
    assert_eq!(saturating_left_shift(-(1 << 30) - 1, 1), i32::MIN);
    assert_eq!(saturating_left_shift(1, 30), 1 << 30);
    assert_eq!(saturating_left_shift(i32::MAX, 0), i32::MAX);
}

#[test]
fn fixed_multiplier_cases() {
    assert_eq!(fixed_multiplier(0.5), Ok((HALF, 0)));
    assert_eq!(fixed_multiplier(1.0), Ok((HALF, 1)));
    // 2⁻³² is the smallest multiplier kept: shift −31.
    assert_eq!(fixed_multiplier(2f64.powi(-32)), Ok((HALF, -31)));
    // Below it every i32 accumulator rounds to 0: the zero multiplier is exact.
    assert_eq!(fixed_multiplier(2f64.powi(-33)), Ok((0, 0)));
    assert_eq!(fixed_multiplier(1e-30), Ok((0, 0)));
    assert_eq!(fixed_multiplier(0.0), Ok((0, 0)));
    // Just below 2³⁰ (shift 30) is kept, 2³⁰ itself needs shift 31.
    assert_eq!(fixed_multiplier(2f64.powi(30) * 0.75), Ok((3 << 29, 30)));
    assert_eq!(
        fixed_multiplier(2f64.powi(30)),
        Err(QuantError::MultiplierTooLarge(2f64.powi(30)))
    );
    assert_eq!(
        fixed_multiplier(1e300),
        Err(QuantError::MultiplierTooLarge(1e300))
    );
    assert!(matches!(
        fixed_multiplier(f64::NAN),
        Err(QuantError::BadMultiplier(_))
    ));
    assert_eq!(fixed_multiplier(-1.0), Err(QuantError::BadMultiplier(-1.0)));
}

#[test]
fn requant_validation() {
    let ok = Requant {
        multiplier: vec![HALF],
        shift: vec![0],
        zero_point: 3,
        lo: 3,
        hi: 255,
    };
    assert_eq!(ok.validate(DType::U8), Ok(()));
    let bad = |f: fn(&mut Requant)| {
        let mut r = ok.clone();
        f(&mut r);
        r.validate(DType::U8)
    };
    assert!(matches!(
        bad(|r| r.shift.push(0)),
        Err(QuantError::LengthMismatch {
            multipliers: 1,
            shifts: 2
        })
    ));
    assert!(matches!(
        bad(|r| r.shift[0] = 31),
        Err(QuantError::ShiftOutOfRange(31))
    ));
    assert!(matches!(
        bad(|r| r.shift[0] = -32),
        Err(QuantError::ShiftOutOfRange(-32))
    ));
    assert!(matches!(
        bad(|r| r.multiplier[0] = -1),
        Err(QuantError::NegativeMultiplier(-1))
    ));
    assert!(matches!(
        bad(|r| r.hi = 256),
        Err(QuantError::BadClamp { .. })
    ));
    assert!(matches!(
        bad(|r| r.lo = 10_000),
        Err(QuantError::BadClamp { .. })
    ));
    assert!(matches!(
        bad(|r| r.zero_point = -1),
        Err(QuantError::BadZeroPoint { .. })
    ));
    assert!(matches!(
        bad(|r| (r.multiplier, r.shift) = (vec![], vec![])),
        Err(QuantError::Empty)
    ));
    // The same clamp is fine for i8 only where it fits.
    assert_eq!(
        Requant {
            lo: -128,
            hi: 127,
            zero_point: 0,
            ..ok.clone()
        }
        .validate(DType::I8),
        Ok(())
    );
    assert!(ok.validate(DType::I8).is_err());
}

#[test]
fn clamp_bounds_absorb_activations() {
    let inf = f32::INFINITY;
    // No activation: the storage range.
    assert_eq!(clamp_bounds(-inf, inf, 0.1, 128, DType::U8), (0, 255));
    assert_eq!(clamp_bounds(-inf, inf, 0.1, 0, DType::I8), (-128, 127));
    // ReLU: lo = max(Z, qmin).
    assert_eq!(clamp_bounds(0.0, inf, 0.1, 128, DType::U8), (128, 255));
    assert_eq!(clamp_bounds(0.0, inf, 0.1, -20, DType::I8), (-20, 127));
    // ReLU6: hi = min(qmax, Z + round(6/S)); 6/0.05 = 120.
    assert_eq!(clamp_bounds(0.0, 6.0, 0.05, 10, DType::U8), (10, 130));
    assert_eq!(clamp_bounds(0.0, 6.0, 0.05, 200, DType::U8), (200, 255));
    // 6/0.048 ≈ 125; 6/0.016 = 375 saturates at 255.
    assert_eq!(clamp_bounds(0.0, 6.0, 0.048, 0, DType::U8), (0, 125));
    assert_eq!(clamp_bounds(0.0, 6.0, 0.016, 0, DType::U8), (0, 255));
    // Ties round to even: 6/4 = 1.5 → 2, 2/4 = 0.5 → 0.
    assert_eq!(clamp_bounds(2.0, 6.0, 4.0, 0, DType::U8), (0, 2));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn srdhm_matches_naive(a in any::<i32>(), b in any::<i32>()) {
        prop_assert_eq!(srdhm(a, b), naive_srdhm(a, b));
    }

    #[test]
    fn srdhm_matches_naive_near_ties(a in any::<i32>(), e in 0u32..31) {
        // b = 2^e makes a·b/2³¹ a multiple of 2^(e − 31): many exact halves.
        let b = 1i32 << e;
        prop_assert_eq!(srdhm(a, b), naive_srdhm(a, b));
        prop_assert_eq!(srdhm(a, -b), naive_srdhm(a, -b));
    }

    #[test]
    fn rdbpot_matches_naive(x in any::<i32>(), e in 0i32..=31) {
        prop_assert_eq!(rdbpot(x, e), naive_rdbpot(x, e));
        // Ties exactly: x·2^e ± 2^(e−1).
        if (1..=30).contains(&e) {
            let q = x >> e;
            let tie = (i64::from(q) << e) + (1i64 << (e - 1));
            if let Ok(t) = i32::try_from(tie) {
                prop_assert_eq!(rdbpot(t, e), naive_rdbpot(t, e));
            }
        }
    }

    #[test]
    fn mbqm_matches_naive(x in any::<i32>(), (m, s) in (0..=i32::MAX, -31i32..=30)) {
        prop_assert_eq!(mbqm(x, m, s), naive_mbqm(x, m, s));
    }

    /// Unless the left shift saturates, the result is one of the two integers nearest the exact
    /// product `x·M₀·2^(shift − 31)` (so within ±1 of its rounding), and within ±1 of the f64
    /// oracle `round(x·M)`.
    #[test]
    fn mbqm_is_within_one_of_the_real_product(
        (s, x) in (-31i32..=30).prop_flat_map(|s| {
            // Accumulators whose left shift does not saturate: the ends of that range and anything.
            let (lo, hi) = (i32::MIN >> s.max(0), i32::MAX >> s.max(0));
            (Just(s), prop_oneof![lo..=hi, (-100_000i32).max(lo)..100_000i32.min(hi), Just(lo), Just(hi)])
        }),
        m in prop_oneof![(1i32 << 30)..=i32::MAX, (i32::MAX - 1000)..=i32::MAX, Just(i32::MAX), Just(1 << 30)],
    ) {
        let got = i128::from(mbqm(x, m, s));
        // Exact: x·M₀ / 2^(31 − s).
        let num = i128::from(x) * i128::from(m);
        let den = 1i128 << (31 - s);
        let (floor, ceil) = (num.div_euclid(den), num.div_euclid(den) + i128::from(num.rem_euclid(den) != 0));
        prop_assert!(got == floor || got == ceil, "x {} m {} s {}: {} not in [{}, {}]", x, m, s, got, floor, ceil);
        let real = f64::from(x) * f64::from(m) * 2f64.powi(s - 31);
        prop_assert!((got as f64 - real.round()).abs() <= 1.0, "x {} m {} s {}: {} vs {}", x, m, s, got, real);
    }

    /// `fixed_multiplier` then `mbqm` approximates multiplying by the real number.
    #[test]
    fn fixed_multiplier_round_trips(e in -31i32..30, frac in 0.5f64..1.0, x in -(1i32 << 20)..(1 << 20)) {
        let real = frac * 2f64.powi(e);
        let (m, s) = fixed_multiplier(real).unwrap();
        prop_assert!((1 << 30..=i32::MAX).contains(&m) && (-31..=30).contains(&s));
        let back = f64::from(m) * 2f64.powi(s - 31);
        prop_assert!((back - real).abs() <= real * 2f64.powi(-31));
        if (i64::from(x) << s.max(0)).abs() < 1i64 << 31 {
            prop_assert!((f64::from(mbqm(x, m, s)) - f64::from(x) * real).abs() <= 1.0 + f64::from(x).abs() * real * 2f64.powi(-30));
        }
    }

    #[test]
    fn requant_apply_matches_naive(rq in requant(3), c in 0usize..3, acc in any::<i32>()) {
        prop_assert_eq!(rq.apply(c, acc), naive_requant(&rq, c, acc));
    }
}
