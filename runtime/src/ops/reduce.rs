//! Reductions over a set of axes (ONNX ReduceMean, ReduceSum, ReduceMax, … ReduceLogSumExp):
//! one order for every one of them, so that generated code can reproduce it bit for bit.

use ndarray::{ArrayD, IxDyn};

/// The function a `reduce` op applies to each group of reduced elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceFn {
    Sum,
    SumSquare,
    L1,
    L2,
    LogSum,
    LogSumExp,
    Max,
    Min,
    Prod,
}

impl ReduceFn {
    /// Every function with its IR name (the `fn` attribute of `reduce`).
    pub const ALL: [(ReduceFn, &'static str); 9] = [
        (ReduceFn::Sum, "sum"),
        (ReduceFn::SumSquare, "sum_square"),
        (ReduceFn::L1, "l1"),
        (ReduceFn::L2, "l2"),
        (ReduceFn::LogSum, "log_sum"),
        (ReduceFn::LogSumExp, "log_sum_exp"),
        (ReduceFn::Max, "max"),
        (ReduceFn::Min, "min"),
        (ReduceFn::Prod, "prod"),
    ];

    pub fn from_name(name: &str) -> Option<ReduceFn> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(f, _)| *f == self)
            .map(|(_, n)| *n)
            .expect("every ReduceFn has a name")
    }
}

/// The shape of a reduction and each output's group of input elements.
struct Groups<T> {
    /// Per output element (row-major), its input elements in row-major order of the reduced axes.
    values: Vec<T>,
    count: usize,
    shape: Vec<usize>,
}

/// Validates `axes` (empty: every axis) and lays the input out so that each output element's
/// group is `count` consecutive values.
fn groups<T: Copy>(x: &ArrayD<T>, axes: &[usize], keepdims: bool, what: &str) -> Groups<T> {
    let rank = x.ndim();
    let mut reduced = vec![axes.is_empty(); rank];
    for &a in axes {
        assert!(
            a < rank,
            "{what}: axis {a} out of range for input {:?}",
            x.shape()
        );
        assert!(!reduced[a], "{what}: axis {a} listed twice in {axes:?}");
        reduced[a] = true;
    }
    let kept: Vec<usize> = (0..rank).filter(|&a| !reduced[a]).collect();
    let gone: Vec<usize> = (0..rank).filter(|&a| reduced[a]).collect();
    let count: usize = gone.iter().map(|&a| x.shape()[a]).product();
    // With the reduced axes last, each output element is one run of `count` consecutive elements.
    let perm: Vec<usize> = kept.iter().chain(&gone).copied().collect();
    let values = x
        .view()
        .permuted_axes(IxDyn(&perm))
        .iter()
        .copied()
        .collect();
    let shape: Vec<usize> = if keepdims {
        (0..rank)
            .map(|a| if reduced[a] { 1 } else { x.shape()[a] })
            .collect()
    } else {
        kept.iter().map(|&a| x.shape()[a]).collect()
    };
    Groups {
        values,
        count,
        shape,
    }
}

fn finish<T: Copy, U>(g: Groups<T>, f: impl Fn(&[T]) -> U, what: &str) -> ArrayD<U>
where
    U: Clone,
{
    let out: Vec<U> = if g.count == 0 {
        let n = g.shape.iter().product();
        vec![f(&[]); n]
    } else {
        g.values.chunks(g.count).map(f).collect()
    };
    ArrayD::from_shape_vec(IxDyn(&g.shape), out).unwrap_or_else(|_| panic!("{what}: output size"))
}

/// Sums widened to f64, from −0.0 (where Rust's `Sum` starts) in order.
fn sum64(vs: impl Iterator<Item = f64>) -> f64 {
    vs.sum()
}

/// Mean over `axes` (all axes when `axes` is empty, as ONNX does by default), accumulated in f64
/// so the result does not depend on the order of a long sum. Reduced axes stay as length 1 with
/// `keepdims`, otherwise they disappear. An empty reduction yields NaN (0/0).
pub fn reduce_mean(x: &ArrayD<f32>, axes: &[usize], keepdims: bool) -> ArrayD<f32> {
    let g = groups(x, axes, keepdims, "reduce_mean");
    let count = g.count as f64;
    finish(
        g,
        |vs| (sum64(vs.iter().map(|&v| v as f64)) / count) as f32,
        "reduce_mean",
    )
}

/// `f` over `axes` (every axis when empty), in the order docs/ir.md (`reduce`) fixes: sums of
/// f64 terms in row-major order of the reduced elements, rounded to f32 once (`l2` takes the
/// f64 square root first); `log_sum` is `logf` of that rounded sum; `log_sum_exp` is
/// `m + logf(Σ expf(x − m))` with `m` the group's maximum (0 when it is infinite), the `expf`
/// results summed in f64; `max`/`min` propagate NaN; `prod` multiplies in f64. An empty group
/// gives the identity: 0, 1, −∞ (max, log_sum, log_sum_exp) or +∞ (min). NaN is `0x7fc00000`.
pub fn reduce(x: &ArrayD<f32>, f: ReduceFn, axes: &[usize], keepdims: bool) -> ArrayD<f32> {
    let g = groups(x, axes, keepdims, "reduce");
    finish(g, |vs| reduce_group(f, vs), "reduce")
}

/// One output of [`reduce`] from its group of values, in order. A NaN result is always the
/// canonical quiet NaN (`0x7fc00000`): Rust's `ln` and the C library's `logf` disagree on a
/// NaN's sign, and a compiled kernel must give the same bits.
pub fn reduce_group(f: ReduceFn, vs: &[f32]) -> f32 {
    let y = reduce_raw(f, vs);
    if y.is_nan() {
        f32::NAN
    } else {
        y
    }
}

fn reduce_raw(f: ReduceFn, vs: &[f32]) -> f32 {
    let wide = || vs.iter().map(|&v| v as f64);
    match f {
        ReduceFn::Sum => sum64(wide()) as f32,
        ReduceFn::SumSquare => sum64(wide().map(|v| v * v)) as f32,
        ReduceFn::L1 => sum64(wide().map(f64::abs)) as f32,
        ReduceFn::L2 => sum64(wide().map(|v| v * v)).sqrt() as f32,
        ReduceFn::LogSum => (sum64(wide()) as f32).ln(),
        ReduceFn::LogSumExp => {
            // The maximum ignoring NaN (a NaN element still makes the sum NaN).
            let m = vs.iter().fold(
                f32::NEG_INFINITY,
                |m, &v| if v > m || m.is_nan() { v } else { m },
            );
            let m = if m.is_infinite() { 0.0 } else { m };
            let s = sum64(vs.iter().map(|&v| (v - m).exp() as f64)) as f32;
            m + s.ln()
        }
        ReduceFn::Max => vs.iter().fold(
            f32::NEG_INFINITY,
            |m, &v| {
                if v > m || v.is_nan() {
                    v
                } else {
                    m
                }
            },
        ),
        ReduceFn::Min => vs.iter().fold(
            f32::INFINITY,
            |m, &v| {
                if v < m || v.is_nan() {
                    v
                } else {
                    m
                }
            },
        ),
        ReduceFn::Prod => wide().fold(1.0f64, |p, v| p * v) as f32,
    }
}

/// `reduce` max/min of codes at one set of quantization parameters (the result keeps them):
/// dequantization is increasing, so the extreme code is the code of the extreme value. Groups
/// are never empty here (the IR holds no empty tensors).
pub fn reduce_codes<T: Copy + Ord>(
    x: &ArrayD<T>,
    max: bool,
    axes: &[usize],
    keepdims: bool,
) -> ArrayD<T> {
    let g = groups(x, axes, keepdims, "reduce");
    assert!(
        g.count > 0,
        "reduce: an empty group of codes has no extreme"
    );
    finish(
        g,
        |vs| {
            let it = vs.iter().copied();
            if max { it.max() } else { it.min() }.expect("a non-empty group")
        },
        "reduce",
    )
}
