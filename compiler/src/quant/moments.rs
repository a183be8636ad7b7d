//! Means and variances of activations estimated without data, from the BatchNorm statistics
//! folded into the layers: what lets the data-free ranges of layers without BN statistics (a
//! classifier after global pooling, say) be estimates instead of worst-case bounds.
//!
//! A value is described per channel (axis 1) or by one pair for all its elements. A BatchNorm's
//! output channel is `N(β, γ²)`; ReLU and Clip map a Gaussian's moments exactly (the clipped
//! Gaussian's); a linear layer sums its inputs as if they were independent (`Σ w·μ + b`,
//! `Σ w²·σ²`); a residual add takes the worst correlation (`σ = σa + σb`); pooling keeps mean
//! and variance (averaging correlated neighbours barely reduces it), max-pooling over `k` values
//! adds the expected maximum of `k` standard normals times `σ` to the mean. Where the channel
//! axis moves (reshape, transpose) the channels are pooled into one mixture; ops this list does
//! not name (sigmoid, softmax, …) leave the moments unknown.

use std::f64::consts::{FRAC_1_SQRT_2, PI};

/// Mean and variance per channel (`mean.len()` channels) or for every element (length 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Moments {
    pub mean: Vec<f64>,
    pub var: Vec<f64>,
}

/// `erfc` by the classic Chebyshev fit `t·exp(−z² + P(t))`, `t = 1/(1 + z/2)`, relative
/// error below 1.2·10⁻⁷: plenty for a range estimate.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// The standard normal CDF.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x * FRAC_1_SQRT_2)
}

/// The standard normal density.
pub fn normal_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * PI).sqrt()
}

/// Mean and variance of `clamp(X, lo, hi)` for `X ~ N(mean, var)`; `lo`/`hi` may be infinite.
pub fn clip_moments(mean: f64, var: f64, lo: f64, hi: f64) -> (f64, f64) {
    if var <= 0.0 {
        let v = mean.clamp(lo, hi.max(lo));
        return (v, 0.0);
    }
    let s = var.sqrt();
    let (a, b) = ((lo - mean) / s, (hi - mean) / s);
    let (ca, cb) = (
        if lo.is_finite() { normal_cdf(a) } else { 0.0 },
        if hi.is_finite() { normal_cdf(b) } else { 1.0 },
    );
    let (pa, pb) = (
        if lo.is_finite() { normal_pdf(a) } else { 0.0 },
        if hi.is_finite() { normal_pdf(b) } else { 0.0 },
    );
    let (apa, bpb) = (
        if lo.is_finite() { a * pa } else { 0.0 },
        if hi.is_finite() { b * pb } else { 0.0 },
    );
    let inside = cb - ca;
    // ∫ (m + s·z)·φ(z) dz and ∫ (m + s·z)²·φ(z) dz over (a, b).
    let m1 = mean * inside + s * (pa - pb);
    let m2 = mean * mean * inside + 2.0 * mean * s * (pa - pb) + var * (inside + apa - bpb);
    let (lo_mass, hi_mass) = (ca, 1.0 - cb);
    let e1 = m1
        + if lo.is_finite() { lo * lo_mass } else { 0.0 }
        + if hi.is_finite() { hi * hi_mass } else { 0.0 };
    let e2 =
        m2 + if lo.is_finite() {
            lo * lo * lo_mass
        } else {
            0.0
        } + if hi.is_finite() {
            hi * hi * hi_mass
        } else {
            0.0
        };
    (e1, (e2 - e1 * e1).max(0.0))
}

/// The expected maximum of `k` independent standard normals (Blom's approximation
/// `Φ⁻¹((k − 0.375)/(k + 0.25))`, by bisection on Φ).
pub fn expected_max(k: usize) -> f64 {
    if k <= 1 {
        return 0.0;
    }
    let p = (k as f64 - 0.375) / (k as f64 + 0.25);
    let (mut lo, mut hi) = (-10.0, 10.0);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if normal_cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

impl Moments {
    /// One pair for every element.
    pub fn scalar(mean: f64, var: f64) -> Moments {
        Moments {
            mean: vec![mean],
            var: vec![var],
        }
    }

    pub fn channels(&self) -> usize {
        self.mean.len()
    }

    /// Channel `c`'s pair (the only pair when there is one).
    pub fn at(&self, c: usize) -> (f64, f64) {
        let i = if self.mean.len() == 1 { 0 } else { c };
        (self.mean[i], self.var[i])
    }

    /// The mixture of the channels with equal weights, as one pair.
    pub fn pooled(&self) -> Moments {
        let n = self.mean.len() as f64;
        let mean = self.mean.iter().sum::<f64>() / n;
        let second = self
            .mean
            .iter()
            .zip(&self.var)
            .map(|(m, v)| v + m * m)
            .sum::<f64>()
            / n;
        Moments::scalar(mean, (second - mean * mean).max(0.0))
    }

    /// Applies `f` to every channel's pair.
    pub fn map(&self, f: impl Fn(f64, f64) -> (f64, f64)) -> Moments {
        let (mean, var) = self
            .mean
            .iter()
            .zip(&self.var)
            .map(|(&m, &v)| f(m, v))
            .unzip();
        Moments { mean, var }
    }

    /// Channel-wise combination with broadcasting of a single pair; `None` when both have several
    /// channels and their counts differ.
    pub fn zip(
        &self,
        other: &Moments,
        f: impl Fn((f64, f64), (f64, f64)) -> (f64, f64),
    ) -> Option<Moments> {
        let n = match (self.channels(), other.channels()) {
            (a, b) if a == b => a,
            (1, b) => b,
            (a, 1) => a,
            _ => return None,
        };
        let (mean, var) = (0..n).map(|c| f(self.at(c), other.at(c))).unzip();
        Some(Moments { mean, var })
    }

    /// Each channel repeated `times` times (a flatten of `[N, C, H, W]` into `[N, C·H·W]`).
    pub fn repeat_each(&self, times: usize) -> Moments {
        let rep = |v: &Vec<f64>| {
            v.iter()
                .flat_map(|&x| std::iter::repeat_n(x, times))
                .collect()
        };
        Moments {
            mean: rep(&self.mean),
            var: rep(&self.var),
        }
    }

    /// The union over channels of `mean ± k·σ`.
    pub fn range(&self, k: f64) -> (f64, f64) {
        self.mean.iter().zip(&self.var).fold(
            (f64::INFINITY, f64::NEG_INFINITY),
            |(lo, hi), (&m, &v)| {
                let d = k * v.max(0.0).sqrt();
                (lo.min(m - d), hi.max(m + d))
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_matches_tables() {
        for (x, p) in [
            (0.0, 0.5),
            (1.0, 0.841_344_746),
            (-1.96, 0.024_997_895),
            (3.0, 0.998_650_102),
        ] {
            assert!(
                (normal_cdf(x) - p).abs() < 1e-7,
                "Φ({x}) = {} not {p}",
                normal_cdf(x)
            );
        }
    }

    #[test]
    fn relu_of_a_standard_normal() {
        // E[max(0, Z)] = 1/√(2π), E[max(0, Z)²] = 1/2.
        let (m, v) = clip_moments(0.0, 1.0, 0.0, f64::INFINITY);
        let e = 1.0 / (2.0 * PI).sqrt();
        assert!(
            (m - e).abs() < 1e-7 && (v - (0.5 - e * e)).abs() < 1e-7,
            "{m} {v}"
        );
        // Clipping far outside the mass changes nothing; a point mass just clamps.
        let (m, v) = clip_moments(2.0, 0.25, -100.0, 100.0);
        assert!((m - 2.0).abs() < 1e-9 && (v - 0.25).abs() < 1e-9);
        assert_eq!(clip_moments(8.0, 0.0, 0.0, 6.0), (6.0, 0.0));
    }

    #[test]
    fn expected_maxima() {
        // Exact values: E[max of 2] = 1/√π ≈ 0.5642, of 4 ≈ 1.0294, of 9 ≈ 1.4850; Blom's
        // approximation is off by 0.025 at k = 2, its worst case.
        assert!((expected_max(2) - 0.5642).abs() < 0.03);
        assert!((expected_max(4) - 1.0294).abs() < 0.03);
        assert!((expected_max(9) - 1.4850).abs() < 0.03);
        assert_eq!(expected_max(1), 0.0);
    }
}
