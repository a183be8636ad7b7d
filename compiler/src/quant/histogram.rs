//! A histogram of one tensor's values that grows as later samples exceed the range seen so far,
//! exactly and deterministically: the input to the percentile, entropy and MSE observers.
//!
//! Negative and positive values are binned on separate halves, each `bins` bins of magnitude
//! anchored at 0, bin `k` holding `[k·2ᵉ, (k+1)·2ᵉ)`. The width is a power of two, the smallest
//! for which the half's largest magnitude fits, so a value's bin is an exact computation. When a
//! value does not fit, the width doubles `k` times and each run of `2ᵏ` bins merges into one:
//! no count moves to a bin that does not contain it and none is lost. Since `⌊⌊v/2ᵉ⌋/2ᵏ⌋ =
//! ⌊v/2ᵉ⁺ᵏ⌋` and the final width is the smallest that fits the largest magnitude, the histogram
//! is the same whatever order the values came in and however they were split into batches.
//! The largest magnitude of a half always lies in its
//! upper half of bins, so the data spans at least `bins/2` bins on its wider side. Exact zeros
//! are counted apart (they are exactly representable on every grid that contains 0); non-finite
//! values are counted apart and otherwise ignored.

/// Bins per half: the data covers 2048–4096 bins on its wider side, 8–16 per u8 step over the
/// full range (TensorRT's 2048-bin histogram gives 16 per step of its 128 levels).
pub const DEFAULT_BINS: usize = 4096;

/// One side of zero: counts of magnitudes.
#[derive(Clone, Debug, PartialEq)]
struct Half {
    /// Bin width is `2^exp`; meaningless while `total == 0`.
    exp: i32,
    counts: Vec<u64>,
    total: u64,
}

fn pow2(e: i32) -> f64 {
    2f64.powi(e)
}

impl Half {
    fn new(bins: usize) -> Half {
        Half {
            exp: 0,
            counts: vec![0; bins],
            total: 0,
        }
    }

    /// The smallest `e` with `m < bins·2ᵉ` (`m > 0`).
    fn fitting_exp(m: f64, bins: usize) -> i32 {
        let b = bins as f64;
        let mut e = (m / b).log2().floor() as i32;
        while m >= b * pow2(e) {
            e += 1;
        }
        while m < b * pow2(e - 1) {
            e -= 1;
        }
        e
    }

    /// Makes room for the magnitude `m > 0`.
    fn fit(&mut self, m: f64) {
        let bins = self.counts.len();
        if self.total == 0 {
            self.exp = Half::fitting_exp(m, bins);
            return;
        }
        if m < bins as f64 * pow2(self.exp) {
            return;
        }
        let k = (Half::fitting_exp(m, bins) - self.exp) as u32;
        let mut merged = vec![0u64; bins];
        for (i, &c) in self.counts.iter().enumerate() {
            // Bin i of width 2^e lies inside bin i >> k of width 2^(e+k).
            merged[i.checked_shr(k).unwrap_or(0)] += c;
        }
        self.counts = merged;
        self.exp += k as i32;
    }

    /// A binner for this half's current width: the scale `2^-exp` computed once, not per value
    /// (calibration bins every activation of every sample; `powi` per value was most of it).
    fn binner(&self) -> impl Fn(f64) -> usize {
        let scale = pow2(-self.exp);
        let last = self.counts.len() - 1;
        move |m| ((m * scale).floor() as usize).min(last)
    }

    /// The counts at the coarser width `2^exp` (`exp ≥ self.exp`), trailing empty bins dropped.
    fn at(&self, exp: i32) -> Vec<u64> {
        if self.total == 0 {
            return vec![];
        }
        let k = (exp - self.exp) as u32;
        let mut out = vec![0u64; self.counts.len()];
        for (i, &c) in self.counts.iter().enumerate() {
            out[i.checked_shr(k).unwrap_or(0)] += c;
        }
        let used = out.iter().rposition(|&c| c > 0).map_or(0, |p| p + 1);
        out.truncate(used);
        out
    }
}

/// The growable two-sided histogram.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    neg: Half,
    pos: Half,
    zeros: u64,
    non_finite: u64,
    min: f32,
    max: f32,
}

/// Both halves at one bin width, as one array from the most negative bin to the most positive:
/// `counts[k]` holds `[(k − zero)·w, (k − zero + 1)·w)`, exact zeros excluded.
#[derive(Clone, Debug, PartialEq)]
pub struct Signed {
    pub width: f64,
    /// Index of the first non-negative bin: the number of bins below 0.
    pub zero: usize,
    pub counts: Vec<u64>,
    /// Exact zeros, not in `counts`.
    pub zeros: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new(DEFAULT_BINS)
    }
}

impl Histogram {
    /// An empty histogram with `bins` bins per side (rounded up to a power of two, at least 2).
    pub fn new(bins: usize) -> Histogram {
        let bins = bins.max(2).next_power_of_two();
        Histogram {
            neg: Half::new(bins),
            pos: Half::new(bins),
            zeros: 0,
            non_finite: 0,
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
        }
    }

    /// Adds every finite value; NaN and ±∞ are only counted ([`Histogram::non_finite`]).
    pub fn add(&mut self, values: &[f32]) {
        let (mut pmax, mut nmax) = (0f32, 0f32);
        for &v in values {
            if v.is_finite() {
                self.min = self.min.min(v);
                self.max = self.max.max(v);
                pmax = pmax.max(v);
                nmax = nmax.max(-v);
            }
        }
        // Growing once per batch, before binning, merges each bin at most once per batch.
        if pmax > 0.0 {
            self.pos.fit(pmax as f64);
        }
        if nmax > 0.0 {
            self.neg.fit(nmax as f64);
        }
        let (pos_bin, neg_bin) = (self.pos.binner(), self.neg.binner());
        let (mut pos_n, mut neg_n) = (0u64, 0u64);
        for &v in values {
            if !v.is_finite() {
                self.non_finite += 1;
            } else if v > 0.0 {
                self.pos.counts[pos_bin(v as f64)] += 1;
                pos_n += 1;
            } else if v < 0.0 {
                self.neg.counts[neg_bin(-v as f64)] += 1;
                neg_n += 1;
            } else {
                self.zeros += 1;
            }
        }
        self.pos.total += pos_n;
        self.neg.total += neg_n;
    }

    /// How many finite values were added.
    pub fn count(&self) -> u64 {
        self.neg.total + self.pos.total + self.zeros
    }

    /// How many NaN and ±∞ were skipped.
    pub fn non_finite(&self) -> u64 {
        self.non_finite
    }

    /// The smallest and largest finite value added; `(0, 0)` before any.
    pub fn min_max(&self) -> (f32, f32) {
        if self.count() == 0 {
            (0.0, 0.0)
        } else {
            (self.min, self.max)
        }
    }

    /// Every count, zeros and bins of both halves (for checking that nothing is lost).
    pub fn total_binned(&self) -> u64 {
        self.zeros + self.neg.counts.iter().sum::<u64>() + self.pos.counts.iter().sum::<u64>()
    }

    /// Both halves at the coarser of their two widths, trimmed to the data. `None` when there are
    /// no non-zero values.
    pub fn signed(&self) -> Option<Signed> {
        let exp = match (self.neg.total > 0, self.pos.total > 0) {
            (false, false) => return None,
            (true, false) => self.neg.exp,
            (false, true) => self.pos.exp,
            (true, true) => self.neg.exp.max(self.pos.exp),
        };
        let mut counts = self.neg.at(exp);
        counts.reverse();
        let zero = counts.len();
        counts.extend(self.pos.at(exp));
        Some(Signed {
            width: pow2(exp),
            zero,
            counts,
            zeros: self.zeros,
        })
    }

    /// The value below which a fraction `q` (in [0, 1]) of the finite values lie, interpolating
    /// linearly inside a bin; exact zeros are a point mass at 0. Clamped to the observed
    /// `[min, max]`; `0` for an empty histogram.
    pub fn quantile(&self, q: f64) -> f32 {
        let n = self.count();
        if n == 0 {
            return 0.0;
        }
        let (lo, hi) = self.min_max();
        let target = q.clamp(0.0, 1.0) * n as f64;
        let value = self.locate(target);
        (value as f32).clamp(lo, hi)
    }

    /// The value at which the cumulative count reaches `target`.
    fn locate(&self, target: f64) -> f64 {
        let mut below = 0f64;
        let wn = pow2(self.neg.exp);
        // Negative bins from the most negative: bin k holds (−(k+1)·w, −k·w].
        for k in (0..self.neg.counts.len()).rev() {
            let c = self.neg.counts[k] as f64;
            if c > 0.0 && below + c >= target {
                let frac = (target - below) / c;
                return -((k + 1) as f64) * wn + frac * wn;
            }
            below += c;
        }
        below += self.zeros as f64;
        if below >= target {
            return 0.0;
        }
        let wp = pow2(self.pos.exp);
        for (k, &c) in self.pos.counts.iter().enumerate() {
            let c = c as f64;
            if c > 0.0 && below + c >= target {
                let frac = (target - below) / c;
                return k as f64 * wp + frac * wp;
            }
            below += c;
        }
        self.max as f64
    }
}
