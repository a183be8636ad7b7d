//! Choosing a clipping window `[a, b] ∋ 0` on a histogram for the u8 grid (255 steps of
//! `S = (b − a)/255`): the entropy (KL divergence) and MSE criteria, and the search they share.
//!
//! **Candidates.** On the signed histogram (see [`Signed`]) a window is a pair `(j, i)`: `j` bins
//! below zero and `i` above, so `a = −j·w`, `b = i·w`, and 0 is always inside (u8 activations
//! are asymmetric, so the two sides are chosen independently, not as TensorRT's `±T`). A window
//! spans at least 255 bins (one bin per quantization step, as TensorRT's candidates start at its
//! 128 levels), so clipping goes down to 1/8–1/16 of the data's extent. One-sided data (after a
//! ReLU) has `j = 0` only and the search is TensorRT's one-dimensional one.
//!
//! **Search.** Exhaustive on a coarse grid (every `⌈n/64⌉`-th bin of each side, both ends
//! included), then around the best window on grids 8 times finer, each within one coarse step,
//! down to single bins. Ties go to the wider window. Deterministic: no randomness, a fixed order.
//!
//! **Entropy.** TensorRT's calibration criterion adapted to u8: the reference `P` is the
//! histogram inside the window with the mass outside added to the two edge bins; the candidate
//! `Q` merges the window's bins (without the outside mass) into 255 consecutive groups, group `l`
//! holding bins `⌊l·n/255⌋ .. ⌊(l+1)·n/255⌋`, and spreads each group's mass evenly over the bins
//! where `P` is non-zero. The window minimising `KL(P‖Q) = Σ p·ln(p/q)` wins. Where TensorRT
//! smooths both distributions, `Q` is mixed with a uniform distribution over `P`'s support with
//! weight 10⁻⁴ (`Q` is then never 0 where `P` is not, and the KL stays a per-group sum computed
//! from prefix sums). Exact zeros are left out: every window represents 0 exactly, and a spike
//! at 0 would otherwise punish wide windows for spreading it over the first group.
//!
//! **MSE.** The expected squared error of quantizing the histogram's values on the window's
//! grid: `S²/12` per value inside (uniform rounding error), and for each value outside its
//! distance to the nearer end squared (value at the bin centre, plus the bin's own `w²/12`).
//! Exact zeros cost nothing and are left out.

use crate::quant::histogram::{Histogram, Signed};

/// Quantization steps of the u8 grid.
pub const LEVELS: usize = 255;

/// Weight of the uniform distribution mixed into the entropy criterion's `Q`.
const SMOOTHING: f64 = 1e-4;

/// Coarse grid: this many steps per side.
const COARSE: usize = 64;

/// Each refinement makes the grid this much finer.
const REFINE: usize = 8;

/// Finds the `(j, i)` minimising `cost` over windows of at least `min_bins` bins.
fn search(
    n_neg: usize,
    n_pos: usize,
    min_bins: usize,
    cost: impl Fn(usize, usize) -> f64,
) -> (usize, usize) {
    let mut best = (n_neg, n_pos);
    let mut best_cost = cost(n_neg, n_pos);
    let grid = |n: usize, lo: usize, hi: usize, step: usize| -> Vec<usize> {
        // From the top so that, cost for cost, the wider window is found first and kept.
        let mut v: Vec<usize> = (lo..=hi.min(n)).rev().step_by(step).collect();
        if v.last() != Some(&lo) {
            v.push(lo);
        }
        v
    };
    let mut step = n_neg.max(n_pos).div_ceil(COARSE).max(1);
    let (mut jr, mut ir) = ((0, n_neg), (0, n_pos));
    loop {
        for &j in &grid(n_neg, jr.0, jr.1, step) {
            for &i in &grid(n_pos, ir.0, ir.1, step) {
                if i + j < min_bins {
                    continue;
                }
                let c = cost(j, i);
                if c < best_cost {
                    best_cost = c;
                    best = (j, i);
                }
            }
        }
        if step == 1 {
            return best;
        }
        jr = (best.0.saturating_sub(step), best.0 + step);
        ir = (best.1.saturating_sub(step), best.1 + step);
        step = step.div_ceil(REFINE).max(1);
    }
}

/// The range of window `(j, i)`, narrowed to the observed extremes where the outermost bin goes
/// past them (the window never loses 0).
fn window_range(h: &Histogram, s: &Signed, (j, i): (usize, usize)) -> (f32, f32) {
    let (min, max) = h.min_max();
    // `+ 0.0` turns a −0.0 (no bins below zero) into 0.0.
    let lo = (-(j as f64) * s.width).max(min.min(0.0) as f64) + 0.0;
    let hi = (i as f64 * s.width).min(max.max(0.0) as f64);
    (lo as f32, hi as f32)
}

/// Prefix sums over the signed bins.
struct Prefix {
    count: Vec<f64>,
    plogp: Vec<f64>,
    nonzero: Vec<f64>,
    /// `Σ h·c` and `Σ h·c²` with `c` the bin centre.
    first: Vec<f64>,
    second: Vec<f64>,
}

impl Prefix {
    fn new(s: &Signed) -> Prefix {
        let n = s.counts.len();
        let mut p = Prefix {
            count: Vec::with_capacity(n + 1),
            plogp: Vec::with_capacity(n + 1),
            nonzero: Vec::with_capacity(n + 1),
            first: Vec::with_capacity(n + 1),
            second: Vec::with_capacity(n + 1),
        };
        let (mut a, mut b, mut c, mut d, mut e) = (0f64, 0f64, 0f64, 0f64, 0f64);
        for (k, &h) in s.counts.iter().enumerate() {
            p.count.push(a);
            p.plogp.push(b);
            p.nonzero.push(c);
            p.first.push(d);
            p.second.push(e);
            let h = h as f64;
            let centre = (k as f64 - s.zero as f64 + 0.5) * s.width;
            a += h;
            b += xlogx(h);
            c += if h > 0.0 { 1.0 } else { 0.0 };
            d += h * centre;
            e += h * centre * centre;
        }
        p.count.push(a);
        p.plogp.push(b);
        p.nonzero.push(c);
        p.first.push(d);
        p.second.push(e);
        p
    }
}

fn xlogx(x: f64) -> f64 {
    if x > 0.0 {
        x * x.ln()
    } else {
        0.0
    }
}

/// The entropy criterion's range for the values in `h` (see the module documentation).
pub fn entropy_range(h: &Histogram) -> (f32, f32) {
    let Some(s) = h.signed() else {
        return h.min_max();
    };
    let p = Prefix::new(&s);
    let n_all = s.counts.len();
    let total = p.count[n_all];
    let bins = |k: usize| s.counts[k] as f64;
    let kl = |j: usize, i: usize| -> f64 {
        let (start, end) = (s.zero - j, s.zero + i);
        let n = end - start;
        let slice = p.count[end] - p.count[start];
        if slice == 0.0 {
            return f64::INFINITY;
        }
        let (left, right) = (p.count[start], total - p.count[end]);
        // P's edge bins carry the clipped mass.
        let p_first = bins(start) + left;
        let p_last = bins(end - 1) + right;
        // Per group: mass of P, mass of the slice (Q's source), P's support, Σ p·ln p.
        let group = |l: usize| -> (f64, f64, f64, f64) {
            let (g0, g1) = (start + l * n / LEVELS, start + (l + 1) * n / LEVELS);
            let m = p.count[g1] - p.count[g0];
            let mut pm = m;
            let mut nz = p.nonzero[g1] - p.nonzero[g0];
            let mut plogp = p.plogp[g1] - p.plogp[g0];
            for (edge, pe) in [(start, p_first), (end - 1, p_last)] {
                if (g0..g1).contains(&edge) && pe != bins(edge) {
                    pm += pe - bins(edge);
                    if bins(edge) == 0.0 {
                        nz += 1.0;
                    }
                    plogp += xlogx(pe) - xlogx(bins(edge));
                }
            }
            (pm, m, nz, plogp)
        };
        let groups: Vec<(f64, f64, f64, f64)> = (0..LEVELS).map(group).collect();
        let support: f64 = groups.iter().map(|g| g.2).sum();
        let ln_total = total.ln();
        let mut sum = 0.0;
        for &(pm, m, nz, plogp) in &groups {
            if pm == 0.0 {
                continue;
            }
            let q = (1.0 - SMOOTHING) * m / (nz * slice) + SMOOTHING / support;
            // Σ over the group's bins of p·ln(p/N) − p·ln q, in counts.
            sum += plogp - pm * ln_total - pm * q.ln();
        }
        sum / total
    };
    let best = search(s.zero, n_all - s.zero, LEVELS.min(n_all), kl);
    window_range(h, &s, best)
}

/// The MSE criterion's range for the values in `h` (see the module documentation).
pub fn mse_range(h: &Histogram) -> (f32, f32) {
    let Some(s) = h.signed() else {
        return h.min_max();
    };
    let p = Prefix::new(&s);
    let n_all = s.counts.len();
    let w = s.width;
    let bin_var = w * w / 12.0;
    let err = |j: usize, i: usize| -> f64 {
        let (start, end) = (s.zero - j, s.zero + i);
        let (a, b) = (-(j as f64) * w, i as f64 * w);
        let step = (b - a) / LEVELS as f64;
        let inside = p.count[end] - p.count[start];
        // Σ h·(c − e)² = Σh·c² − 2e·Σh·c + e²·Σh over the bins outside each end.
        let tail = |k0: usize, k1: usize, e: f64| {
            let n = p.count[k1] - p.count[k0];
            (p.second[k1] - p.second[k0]) - 2.0 * e * (p.first[k1] - p.first[k0])
                + e * e * n
                + n * bin_var
        };
        inside * step * step / 12.0 + tail(0, start, a) + tail(end, n_all, b)
    };
    let best = search(s.zero, n_all - s.zero, LEVELS.min(n_all), err);
    window_range(h, &s, best)
}

/// The percentile range: the `(100 − p)`-th and `p`-th percentiles of the values (`p` in
/// percent, e.g. 99.99), each clamped to the observed extremes.
pub fn percentile_range(h: &Histogram, p: f64) -> (f32, f32) {
    let q = (p / 100.0).clamp(0.0, 1.0);
    let (lo, hi) = (h.quantile(1.0 - q), h.quantile(q));
    (lo.min(hi), hi.max(lo))
}
