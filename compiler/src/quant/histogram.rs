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

/// Batches at least this long are binned by [`Histogram::add`]'s branch-free loop (its scratch
/// array costs about as much as binning this many values one by one).
const FAST_BATCH: usize = 2048;

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

    /// `2^−exp` as a normal f32, if it is one (else [`Histogram::add`] bins in f64).
    fn f32_scale(&self) -> Option<f32> {
        let s = pow2(-self.exp) as f32;
        (s.is_normal() && s as f64 == pow2(-self.exp)).then_some(s)
    }

    /// Adds `other`'s counts, both at the coarser of the two widths.
    fn merge(&mut self, other: &Half) {
        if other.total == 0 {
            return;
        }
        if self.total == 0 {
            *self = other.clone();
            return;
        }
        let exp = self.exp.max(other.exp);
        let rebinned = |h: &Half| {
            let k = (exp - h.exp) as u32;
            let mut out = vec![0u64; h.counts.len()];
            for (i, &c) in h.counts.iter().enumerate() {
                out[i.checked_shr(k).unwrap_or(0)] += c;
            }
            out
        };
        let mut counts = rebinned(self);
        for (c, n) in counts.iter_mut().zip(rebinned(other)) {
            *c += n;
        }
        *self = Half {
            exp,
            counts,
            total: self.total + other.total,
        };
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

/// The smallest and largest finite value (±∞ when there is none) and how many values are not
/// finite: eight lanes at a time with AVX2 where the CPU has it (the portable loop's code
/// scalarizes the finiteness test, and this pass over every activation of every calibration
/// sample cost as much as binning them).
fn extremes(values: &[f32]) -> (f32, f32, usize) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { extremes_avx2(values) };
    }
    extremes_portable(values)
}

/// [`extremes`] in AVX2 registers: a value is finite when its sign-cleared bits are below
/// those of +∞ (signed compare: they are non-negative); the counts add the compare masks (−1).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn extremes_avx2(values: &[f32]) -> (f32, f32, usize) {
    use std::arch::x86_64::*;
    let infinity_bits = _mm256_set1_epi32(f32::INFINITY.to_bits() as i32);
    let magnitude = _mm256_set1_epi32(0x7fff_ffff);
    let (inf, neg_inf) = (
        _mm256_set1_ps(f32::INFINITY),
        _mm256_set1_ps(f32::NEG_INFINITY),
    );
    let (mut lo, mut hi) = (inf, neg_inf);
    let mut finite_count = 0usize;
    // Blocks short enough that the lane counts cannot overflow.
    let whole = values.len() / 8 * 8;
    for block in values[..whole].chunks(8 << 28) {
        let mut counts = _mm256_setzero_si256();
        for c in block.chunks_exact(8) {
            // SAFETY: `c` holds 8 floats.
            let v = unsafe { _mm256_loadu_ps(c.as_ptr()) };
            let bits = _mm256_and_si256(_mm256_castps_si256(v), magnitude);
            let finite = _mm256_cmpgt_epi32(infinity_bits, bits);
            let as_float = _mm256_castsi256_ps(finite);
            lo = _mm256_min_ps(_mm256_blendv_ps(inf, v, as_float), lo);
            hi = _mm256_max_ps(_mm256_blendv_ps(neg_inf, v, as_float), hi);
            counts = _mm256_sub_epi32(counts, finite);
        }
        let mut lanes = [0u32; 8];
        // SAFETY: `lanes` is 32 bytes.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), counts) };
        finite_count += lanes.iter().map(|&n| n as usize).sum::<usize>();
    }
    let (mut l, mut h) = ([0f32; 8], [0f32; 8]);
    // SAFETY: both arrays are 32 bytes.
    unsafe {
        _mm256_storeu_ps(l.as_mut_ptr(), lo);
        _mm256_storeu_ps(h.as_mut_ptr(), hi);
    }
    let (mut lo, mut hi, mut bad) = extremes_portable(&values[whole..]);
    for k in 0..8 {
        lo = if l[k] < lo { l[k] } else { lo };
        hi = if h[k] > hi { h[k] } else { hi };
    }
    bad += whole - finite_count;
    (lo, hi, bad)
}

/// [`extremes`], one value at a time.
fn extremes_portable(values: &[f32]) -> (f32, f32, usize) {
    values.iter().fold(
        (f32::INFINITY, f32::NEG_INFINITY, 0),
        |(lo, hi, bad), &v| {
            if v.is_finite() {
                (lo.min(v), hi.max(v), bad)
            } else {
                (lo, hi, bad + 1)
            }
        },
    )
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
        let (lo, hi, bad) = extremes(values);
        self.min = self.min.min(lo);
        self.max = self.max.max(hi);
        // Growing once per batch, before binning, merges each bin at most once per batch.
        let (pmax, nmax) = (hi.max(0.0), (-lo).max(0.0));
        if pmax > 0.0 {
            self.pos.fit(pmax as f64);
        }
        if nmax > 0.0 {
            self.neg.fit(nmax as f64);
        }
        self.non_finite += bad as u64;
        match (bad, self.pos.f32_scale(), self.neg.f32_scale()) {
            (0, Some(ps), Some(ns)) if values.len() >= FAST_BATCH => self.bin_fast(values, ps, ns),
            _ => self.bin_exact(values),
        }
    }

    /// Bins finite values one by one in f64 (non-finite ones are skipped: `add` counted them).
    fn bin_exact(&mut self, values: &[f32]) {
        let (pos_bin, neg_bin) = (self.pos.binner(), self.neg.binner());
        let (mut pos_n, mut neg_n) = (0u64, 0u64);
        for &v in values {
            if !v.is_finite() {
                continue;
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

    /// [`Histogram::bin_exact`]'s bins for finite values, without a branch per value (the sign of
    /// activations and the zeros a ReLU leaves are unpredictable): `|v|·2^−e` in f32 is exact
    /// (a power-of-two scale, `ps`/`ns` normal f32; a subnormal product is below 1 and bins to 0
    /// either way) and below `bins`, so truncating it is the f64 floor. Counts go to one scratch
    /// array: exact zeros to slots `0..ZERO_SLOTS` (by position, so that the zeros a ReLU leaves,
    /// half of its output, do not make every increment wait for the previous one's store:
    /// binning ResNet-18's activations was a fifth of calibrating it), then the negative and
    /// the positive half.
    fn bin_fast(&mut self, values: &[f32], ps: f32, ns: f32) {
        // The slots computed eight lanes wide where the CPU has AVX2 (same arithmetic).
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2")]
            fn wide(h: &mut Histogram, values: &[f32], ps: f32, ns: f32) {
                h.bin_fast_body(values, ps, ns)
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2.
                return unsafe { wide(self, values, ps, ns) };
            }
        }
        self.bin_fast_body(values, ps, ns)
    }

    #[inline(always)]
    fn bin_fast_body(&mut self, values: &[f32], ps: f32, ns: f32) {
        const ZERO_SLOTS: usize = 8;
        let bins = self.pos.counts.len();
        let last = (bins - 1) as f32;
        // A power of two long, so that masking the index proves it in bounds.
        let mut scratch = vec![0u32; (ZERO_SLOTS + 2 * bins).next_power_of_two()];
        let mask = scratch.len() - 1;
        // Slots a block at a time, in a loop the compiler vectorizes (every value finite: `add`
        // binned a batch with NaN or ±∞ exactly), then the increments.
        const BLOCK: usize = 256;
        let mut slots = [0u32; BLOCK];
        let (neg_base, pos_base) = (ZERO_SLOTS as u32, (ZERO_SLOTS + bins) as u32);
        for chunk in values.chunks(u32::MAX as usize) {
            for block in chunk.chunks(BLOCK) {
                for (i, (slot, &v)) in slots.iter_mut().zip(block).enumerate() {
                    let neg = v < 0.0;
                    let scaled = v.abs() * if neg { ns } else { ps };
                    let scaled = if scaled > last { last } else { scaled };
                    // SAFETY: `scaled` is finite (every value is) and in [0, bins), so it fits
                    // an i32 and truncation is exact. Unchecked, the conversion vectorizes; `as`
                    // adds a saturation fix-up per value that kept this loop scalar.
                    let k = unsafe { scaled.to_int_unchecked::<i32>() } as u32
                        + if neg { neg_base } else { pos_base };
                    *slot = if v == 0.0 { (i % ZERO_SLOTS) as u32 } else { k };
                }
                for &slot in &slots[..block.len()] {
                    scratch[slot as usize & mask] += 1;
                }
            }
            self.zeros += scratch[..ZERO_SLOTS]
                .iter()
                .map(|&n| u64::from(n))
                .sum::<u64>();
            for (half, counts) in [
                (&mut self.neg, &scratch[ZERO_SLOTS..ZERO_SLOTS + bins]),
                (
                    &mut self.pos,
                    &scratch[ZERO_SLOTS + bins..ZERO_SLOTS + 2 * bins],
                ),
            ] {
                for (c, &n) in half.counts.iter_mut().zip(counts) {
                    *c += u64::from(n);
                    half.total += u64::from(n);
                }
            }
            scratch.fill(0);
        }
    }

    /// Adds `other`'s counts: the histogram is then the one that would have seen both sets of
    /// values (each half at the coarser width, every count exact; see the module documentation),
    /// so histograms filled on separate threads merge into the sequential one.
    pub fn merge(&mut self, other: &Histogram) {
        assert_eq!(
            self.pos.counts.len(),
            other.pos.counts.len(),
            "Histogram::merge: different bin counts"
        );
        self.pos.merge(&other.pos);
        self.neg.merge(&other.neg);
        self.zeros += other.zeros;
        self.non_finite += other.non_finite;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = f32> {
        prop_oneof![
            -1e3f32..1e3,
            any::<f32>(),
            Just(f32::NAN),
            Just(-f32::NAN),
            Just(f32::INFINITY),
            Just(f32::NEG_INFINITY),
            Just(-0.0),
            Just(f32::MAX),
            Just(f32::MIN),
        ]
    }

    proptest! {
        /// The vector pass finds what one value at a time finds, at every length (a tail of 0–7).
        #[test]
        fn extremes_match_one_at_a_time(values in prop::collection::vec(value(), 0..100)) {
            let want = extremes_portable(&values);
            let got = extremes(&values);
            prop_assert_eq!(got.2, want.2);
            prop_assert_eq!(got.0.to_bits() == want.0.to_bits() || got.0 == want.0, true, "lo {} {}", got.0, want.0);
            prop_assert_eq!(got.1.to_bits() == want.1.to_bits() || got.1 == want.1, true, "hi {} {}", got.1, want.1);
        }
    }
}
