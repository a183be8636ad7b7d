//! Observers on synthetic distributions whose answer is known: uniform data (every method keeps
//! the range), a Gaussian with outliers (the clipping methods drop them), one- and two-sided
//! data; the histogram's growth against building it in one go; properties of every method.

use proptest::prelude::*;
use qcc::quant::histogram::Histogram;
use qcc::quant::observe::{Entropy, Method, MinMax, Mse, Observer, Percentile};
use qcc::quant::params;

/// Deterministic pseudo-random numbers (splitmix64), so the data is the same on every run.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Box–Muller.
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit().max(1e-300), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn uniform(lo: f64, hi: f64, n: usize) -> Vec<f32> {
    let mut r = Rng(1);
    (0..n).map(|_| (lo + (hi - lo) * r.unit()) as f32).collect()
}

/// N(mean, 1) plus `outliers` values at ±50 (alternating, starting positive).
fn gaussian_with_outliers(mean: f64, n: usize, outliers: usize) -> Vec<f32> {
    let mut r = Rng(2);
    let mut v: Vec<f32> = (0..n).map(|_| (mean + r.normal()) as f32).collect();
    v.extend((0..outliers).map(|i| if i % 2 == 0 { 50.0 } else { -50.0 }));
    v
}

/// Every method's range for `data` fed in batches of 10 000, as one line per method.
fn ranges(data: &[f32]) -> Vec<(&'static str, (f32, f32))> {
    let mut obs: Vec<(&'static str, Box<dyn Observer>)> = vec![
        ("minmax", Box::new(MinMax::default())),
        ("percentile", Box::new(Percentile::new(99.99))),
        ("entropy", Box::new(Entropy::default())),
        ("mse", Box::new(Mse::default())),
    ];
    for chunk in data.chunks(10_000) {
        for (_, o) in obs.iter_mut() {
            o.observe(chunk);
        }
    }
    obs.iter().map(|(n, o)| (*n, o.range())).collect()
}

/// Checks each method's range against `[lo, hi]` with a relative tolerance of the span.
fn check(data: &[f32], expected: &[(&str, (f64, f64), f64)]) {
    let got = ranges(data);
    for ((name, (lo, hi)), (ename, (elo, ehi), tol)) in got.iter().zip(expected) {
        assert_eq!(name, ename);
        let span = (ehi - elo).abs().max(1e-9);
        assert!(
            (*lo as f64 - elo).abs() <= tol * span && (*hi as f64 - ehi).abs() <= tol * span,
            "{name}: got [{lo}, {hi}], expected [{elo}, {ehi}] ± {tol}·{span}\nall: {got:?}"
        );
    }
}

#[test]
fn uniform_data_keeps_its_range() {
    let data = uniform(-1.0, 3.0, 200_000);
    check(
        &data,
        &[
            ("minmax", (-1.0, 3.0), 1e-4),
            ("percentile", (-1.0, 3.0), 1e-3),
            ("entropy", (-1.0, 3.0), 0.02),
            ("mse", (-1.0, 3.0), 0.02),
        ],
    );
}

#[test]
fn relu_like_uniform_data_keeps_its_range() {
    // Half exact zeros, half uniform on (0, 6]: the zeros must not pull the window in.
    let mut data = uniform(0.0, 6.0, 100_000);
    data.extend(std::iter::repeat_n(0.0, 100_000));
    check(
        &data,
        &[
            ("minmax", (0.0, 6.0), 1e-4),
            ("percentile", (0.0, 6.0), 1e-3),
            ("entropy", (0.0, 6.0), 0.02),
            ("mse", (0.0, 6.0), 0.02),
        ],
    );
}

/// Where the MSE criterion balances: `n` values inside the window `[0, T]` (or `[−T, T]` when
/// `two_sided`) cost `n·S²/12` with `S = width/255`, and `k` outliers at distance 50 − T cost
/// `k·(50 − T)²`; the derivative vanishes at the returned `T`.
fn mse_optimum(n: usize, k: usize, two_sided: bool) -> f64 {
    let w = if two_sided { 2.0 } else { 1.0 };
    let a = n as f64 * w * w / (12.0 * 255.0 * 255.0);
    k as f64 * 50.0 / (a + k as f64)
}

#[test]
fn outliers_are_clipped_by_all_but_minmax() {
    // Two outliers in two million. Percentile and entropy clip at the Gaussian's edge; MSE where
    // the outliers' clipping error balances the rounding error it saves (T ≈ 8.2).
    let data = gaussian_with_outliers(0.0, 2_000_000, 2);
    let got = ranges(&data);
    assert_eq!(got[0].1, (-50.0, 50.0));
    for (name, (lo, hi)) in &got[1..3] {
        assert!(
            (-6.0..-3.0).contains(lo) && (3.0..6.0).contains(hi),
            "{name}: [{lo}, {hi}]\nall: {got:?}"
        );
    }
    let t = mse_optimum(2_000_000, 2, true);
    let (lo, hi) = got[3].1;
    assert!(
        (lo as f64 + t).abs() < 0.02 * t && (hi as f64 - t).abs() < 0.02 * t,
        "mse [{lo}, {hi}], optimum ±{t}"
    );
}

#[test]
fn one_sided_data_with_outliers_is_clipped_on_its_side() {
    // After a ReLU: max(0, N(1, 1)) with one outlier at 50 (the −50 one becomes 0).
    let data: Vec<f32> = gaussian_with_outliers(1.0, 2_000_000, 2)
        .into_iter()
        .map(|v| v.max(0.0))
        .collect();
    let got = ranges(&data);
    assert_eq!(got[0].1, (0.0, 50.0));
    for (name, (lo, hi)) in &got[1..3] {
        assert!(
            *lo == 0.0 && (4.0..7.0).contains(hi),
            "{name}: [{lo}, {hi}]\nall: {got:?}"
        );
    }
    let positive = data.iter().filter(|&&v| v > 0.0).count() - 1;
    let t = mse_optimum(positive, 1, false);
    let (lo, hi) = got[3].1;
    assert!(
        lo == 0.0 && (hi as f64 - t).abs() < 0.02 * t,
        "mse [{lo}, {hi}], optimum {t}"
    );
}

#[test]
fn mse_keeps_outliers_that_cost_more_clipped_than_kept() {
    // 0.01% outliers at ±50: clipping them costs 20·45² ≈ 40 000, rounding on [−50, 50] only
    // 200 000·(100/255)²/12 ≈ 2 600. Percentile and entropy clip regardless.
    let got = ranges(&gaussian_with_outliers(0.0, 200_000, 20));
    let mse = got[3].1;
    assert!(mse.0 < -40.0 && mse.1 > 40.0, "{got:?}");
    assert!(got[1].1 .1 < 8.0 && got[2].1 .1 < 8.0, "{got:?}");
}

#[test]
fn asymmetric_two_sided_data_gets_an_asymmetric_window() {
    // 90% uniform on [0, 4], 10% on [−0.5, 0]: the window follows both sides, not ±max.
    let mut data = uniform(0.0, 4.0, 180_000);
    data.extend(uniform(-0.5, 0.0, 20_000));
    check(
        &data,
        &[
            ("minmax", (-0.5, 4.0), 1e-4),
            ("percentile", (-0.5, 4.0), 1e-3),
            ("entropy", (-0.5, 4.0), 0.03),
            ("mse", (-0.5, 4.0), 0.03),
        ],
    );
}

#[test]
fn empty_and_constant_observers() {
    assert_eq!(
        ranges(&[]),
        vec![
            ("minmax", (0.0, 0.0)),
            ("percentile", (0.0, 0.0)),
            ("entropy", (0.0, 0.0)),
            ("mse", (0.0, 0.0))
        ]
    );
    assert_eq!(
        ranges(&[0.0; 10]),
        vec![
            ("minmax", (0.0, 0.0)),
            ("percentile", (0.0, 0.0)),
            ("entropy", (0.0, 0.0)),
            ("mse", (0.0, 0.0))
        ]
    );
    for (name, (lo, hi)) in ranges(&[2.5; 1000]) {
        assert!(lo <= 0.0 || lo == 2.5, "{name}: {lo}");
        assert_eq!(hi, 2.5, "{name}");
    }
}

#[test]
fn non_finite_values_are_skipped() {
    let mut h = Histogram::default();
    h.add(&[1.0, f32::NAN, -2.0, f32::INFINITY, 0.0]);
    assert_eq!(
        (h.count(), h.non_finite(), h.min_max()),
        (3, 2, (-2.0, 1.0))
    );
    let mut m = MinMax::default();
    m.observe(&[f32::NAN, 3.0, f32::NEG_INFINITY]);
    assert_eq!(m.range(), (3.0, 3.0));
}

#[test]
fn methods_read_back_from_their_names() {
    for m in [
        Method::MinMax,
        Method::Percentile(99.99),
        Method::Percentile(99.9),
        Method::Entropy,
        Method::Mse,
    ] {
        assert_eq!(m.to_string().parse::<Method>().unwrap(), m);
    }
    assert_eq!(
        "percentile".parse::<Method>().unwrap(),
        Method::Percentile(99.999)
    );
    assert_eq!(Method::default(), Method::Mse);
    for bad in [
        "kl",
        "percentile:",
        "percentile:40",
        "percentile:101",
        "percentile:nan",
    ] {
        assert_eq!(
            bad.parse::<Method>().unwrap_err().to_string(),
            format!("error: unknown calibration method `{bad}`: expected minmax, percentile, percentile:P (P in (50, 100]), entropy, mse or layerwise")
        );
    }
}

fn values() -> impl Strategy<Value = Vec<f32>> {
    let v = prop_oneof![
        4 => -10f32..10.0,
        1 => Just(0.0f32),
        1 => -1e-30f32..1e-30,
        1 => -1e6f32..1e6,
    ];
    prop::collection::vec(v, 0..300)
}

proptest! {
    /// However values are split into batches and ordered, the histogram is the one built from
    /// all of them at once: re-binning moves every count to the bin that holds its value and
    /// loses none.
    #[test]
    fn growing_histograms_equal_the_one_built_at_once(v in values(), cuts in prop::collection::vec(0usize..300, 0..6), rotate in 0usize..300) {
        let mut all = Histogram::new(64);
        all.add(&v);
        prop_assert_eq!(all.total_binned(), v.len() as u64);
        let mut w = v.clone();
        if !w.is_empty() {
            let k = rotate % w.len();
            w.rotate_left(k);
        }
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(w.len())).collect();
        cuts.sort();
        let mut grown = Histogram::new(64);
        let mut start = 0;
        for c in cuts.into_iter().chain(std::iter::once(w.len())) {
            grown.add(&w[start..c]);
            prop_assert_eq!(grown.total_binned(), c as u64);
            start = c;
        }
        prop_assert_eq!(&grown, &all);
        if let Some(s) = grown.signed() {
            prop_assert_eq!(s.counts.iter().sum::<u64>() + s.zeros, v.len() as u64);
        }
    }

    /// Long batches take the branch-free binning, short ones the value-by-value one: a batch
    /// added whole, in short pieces, or split over histograms that are then merged (as
    /// calibration threads do) gives one histogram. The values are long runs of the short
    /// strategy's, with NaN and ±∞ among them or not.
    #[test]
    fn long_batches_and_merged_histograms_equal_short_batches(
        parts in prop::collection::vec(values(), 1..4),
        repeat in 8usize..40,
        bad in prop::collection::vec((0usize..100_000, prop_oneof![Just(f32::NAN), Just(f32::INFINITY), Just(f32::NEG_INFINITY)]), 0..3),
        cut in 0usize..100_000,
        bins in prop_oneof![Just(64usize), Just(4096)],
    ) {
        let mut v: Vec<f32> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        let one = v.clone();
        for _ in 1..repeat {
            v.extend(one.iter().map(|x| x * 0.75));
        }
        for (at, x) in bad {
            if !v.is_empty() {
                let i = at % v.len();
                v[i] = x;
            }
        }
        let mut whole = Histogram::new(bins);
        whole.add(&v);
        let mut short = Histogram::new(bins);
        for piece in v.chunks(1000) {
            short.add(piece);
        }
        prop_assert_eq!(&whole, &short);
        let c = cut % (v.len() + 1);
        let (mut a, mut b) = (Histogram::new(bins), Histogram::new(bins));
        a.add(&v[..c]);
        b.add(&v[c..]);
        let mut ab = a.clone();
        ab.merge(&b);
        b.merge(&a);
        prop_assert_eq!(&ab, &whole);
        prop_assert_eq!(&b, &whole);
    }

    /// Every method's range, once widened, contains 0 and gives a zero point in [0, 255]; the
    /// clipping methods stay inside the observed extremes.
    #[test]
    fn every_range_makes_valid_parameters(v in values()) {
        let mut mm = MinMax::default();
        mm.observe(&v);
        let (min, max) = mm.range();
        for (name, (lo, hi)) in ranges(&v) {
            prop_assert!(lo <= hi, "{}: [{}, {}]", name, lo, hi);
            prop_assert!(lo >= min.min(0.0) && hi <= max.max(0.0), "{}: [{}, {}] outside [{}, {}]", name, lo, hi, min, max);
            let c = params::activation("t", (lo, hi)).unwrap();
            let (rlo, rhi) = c.params.u8_range();
            prop_assert!(rlo <= 0.0 && 0.0 <= rhi);
            prop_assert!((0..=255).contains(&c.params.zero_points[0]));
        }
    }
}
