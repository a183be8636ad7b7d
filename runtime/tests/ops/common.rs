//! Shared strategies and comparisons for the op tests.

use ndarray::{ArrayD, Dimension, IxDyn};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Values uniform in [-1, 1) scaled by 2^e for one e in [-20, 20] per tensor, so kernels see
/// both tiny and huge magnitudes.
pub fn tensor(shape: Vec<usize>) -> impl Strategy<Value = ArrayD<f32>> {
    let n: usize = shape.iter().product();
    (prop::collection::vec(-1.0f32..1.0, n), -20i32..=20).prop_map(move |(v, e)| {
        let s = 2f32.powi(e);
        ArrayD::from_shape_vec(IxDyn(&shape), v.into_iter().map(|x| x * s).collect()).unwrap()
    })
}

/// Values uniform in [-1, 1), unscaled.
pub fn unit_tensor(shape: Vec<usize>) -> impl Strategy<Value = ArrayD<f32>> {
    let n: usize = shape.iter().product();
    prop::collection::vec(-1.0f32..1.0, n)
        .prop_map(move |v| ArrayD::from_shape_vec(IxDyn(&shape), v).unwrap())
}

/// An expected value with the magnitude its rounding error scales with (for a sum, the sum of the
/// absolute values of its terms).
#[derive(Clone, Copy, Debug, Default)]
pub struct Want {
    pub value: f64,
    pub mag: f64,
}

impl Want {
    pub fn exact(value: f64) -> Self {
        Want {
            value,
            mag: value.abs(),
        }
    }
    pub fn add(&mut self, term: f64) {
        self.value += term;
        self.mag += term.abs();
    }
}

/// `got` has the shape of `want` and every element lies within `rel · mag` of its expected value
/// (NaN where NaN is expected). The result must also be in standard layout.
pub fn check_close(got: &ArrayD<f32>, want: &ArrayD<Want>, rel: f64) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.shape(), want.shape(), "shape");
    prop_assert!(got.is_standard_layout(), "result is not in standard layout");
    for ((idx, &g), w) in got.indexed_iter().zip(want.iter()) {
        let g = g as f64;
        if w.value.is_nan() {
            prop_assert!(
                g.is_nan(),
                "at {:?}: got {} where NaN is expected",
                idx.slice(),
                g
            );
            continue;
        }
        if w.value.is_infinite() {
            prop_assert!(
                g == w.value,
                "at {:?}: got {}, want {}",
                idx.slice(),
                g,
                w.value
            );
            continue;
        }
        let tol = rel * w.mag + f32::MIN_POSITIVE as f64;
        prop_assert!(
            (g - w.value).abs() <= tol,
            "at {:?}: got {}, want {} (tolerance {})",
            idx.slice(),
            g,
            w.value,
            tol
        );
    }
    Ok(())
}

/// Tolerance for sums of f32 products: the kernels' summation order differs from the naive one.
pub const SUM_TOL: f64 = 1e-4;

/// An ONNX-style `[top, left, bottom, right]` padding with each side in `0..=max`.
pub fn pads4(max: usize) -> impl Strategy<Value = [usize; 4]> {
    [0..=max, 0..=max, 0..=max, 0..=max]
}

/// Index helper: `x[[a, b, c, d]]` as f64 for a 4-D array.
pub fn at4(x: &ArrayD<f32>, i: [usize; 4]) -> f64 {
    x[IxDyn(&i)] as f64
}
