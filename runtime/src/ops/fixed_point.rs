//! The fixed-point form of a real multiplier, as gemmlowp and TFLite write it: `m = M₀·2^shift`
//! with `M₀ ∈ [0.5, 1)` stored as the i32 `round(M₀·2³¹)`.

/// Decomposes `m > 0` into `(multiplier, shift)` with `m ≈ multiplier·2^(shift − 31)`. `None` for
/// a multiplier that is not a positive finite number or whose shift does not fit.
pub fn quantize_multiplier(m: f64) -> Option<(i32, i32)> {
    if !(m.is_finite() && m > 0.0) {
        return None;
    }
    // frexp: m = frac · 2^exp with frac in [0.5, 1).
    let mut exp = m.log2().floor() as i32 + 1;
    let mut frac = m / 2f64.powi(exp);
    // log2 can be off by one at exact powers of two and near them.
    while frac >= 1.0 {
        frac /= 2.0;
        exp += 1;
    }
    while frac < 0.5 {
        frac *= 2.0;
        exp -= 1;
    }
    let mut q = (frac * 2f64.powi(31)).round() as i64;
    if q == 1i64 << 31 {
        q /= 2;
        exp += 1;
    }
    if !(-62..=62).contains(&exp) {
        return None;
    }
    Some((q as i32, exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_decompositions() {
        assert_eq!(quantize_multiplier(0.5), Some((1 << 30, 0)));
        assert_eq!(quantize_multiplier(1.0), Some((1 << 30, 1)));
        assert_eq!(quantize_multiplier(0.25), Some((1 << 30, -1)));
        // Rounds up to 2^31: halved, shift bumped.
        assert_eq!(quantize_multiplier(1.0 - 1e-12), Some((1 << 30, 1)));
        assert_eq!(quantize_multiplier(0.0), None);
        assert_eq!(quantize_multiplier(-1.0), None);
        assert_eq!(quantize_multiplier(f64::NAN), None);
    }

    #[test]
    fn reconstructs_within_half_an_lsb() {
        for &m in &[1e-6, 0.0123, 0.3, 0.75, 1.5, 3.0, 1234.5] {
            let (q, s) = quantize_multiplier(m).unwrap();
            assert!((1 << 30..=i32::MAX).contains(&q), "{m}: {q}");
            let back = q as f64 * 2f64.powi(s - 31);
            assert!((back - m).abs() <= m * 2f64.powi(-31), "{m} -> {back}");
        }
    }
}
