//! Activations against their ONNX formulas, evaluated in f64, over every kind of f32 (NaN,
//! infinities, subnormals, huge and tiny values).

use crate::common::*;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use runtime::ops::{clip, hard_sigmoid, hard_swish, leaky_relu, relu, sigmoid};

/// Any f32 at all, or an ordinary one near the activations' interesting range.
fn values() -> impl Strategy<Value = ArrayD<f32>> {
    let v = prop_oneof![any::<f32>(), -10.0f32..10.0];
    prop::collection::vec(prop::collection::vec(v, 1..6), 1..4).prop_map(|rows| {
        let w = rows[0].len();
        let flat: Vec<f32> = rows
            .iter()
            .flat_map(|r| r.iter().copied().cycle().take(w))
            .collect();
        ArrayD::from_shape_vec(IxDyn(&[rows.len(), w]), flat).unwrap()
    })
}

/// `f` applied in f64 to every element; NaN maps to NaN.
fn want(x: &ArrayD<f32>, f: impl Fn(f64) -> f64) -> ArrayD<Want> {
    x.mapv(|v| Want::exact(if v.is_nan() { f64::NAN } else { f(v as f64) }))
}

/// The same expected values with the rounding magnitude `mag(x)` (at least the value's own).
fn with_mag(want: ArrayD<Want>, x: &ArrayD<f32>, mag: impl Fn(f64) -> f64) -> ArrayD<Want> {
    let mut want = want;
    want.zip_mut_with(x, |w, &v| w.mag = w.mag.max(mag(v as f64)));
    want
}

/// `min(1, max(0, y))` in f64, NaN staying NaN as numpy's clip keeps it.
fn unit_clamp(y: f64) -> f64 {
    y.clamp(0.0, 1.0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn relu_is_max_with_zero(x in values()) {
        check_close(&relu(&x), &want(&x, |v| v.max(0.0)), 0.0)?;
    }

    #[test]
    fn clip_bounds_from_both_sides(x in values(), lo in proptest::option::of(-5.0f32..5.0), hi in proptest::option::of(-5.0f32..5.0)) {
        // ONNX: with min > max every element becomes max.
        let f = |v: f64| {
            let v = lo.map_or(v, |lo| v.max(lo as f64));
            hi.map_or(v, |hi| v.min(hi as f64))
        };
        check_close(&clip(&x, lo, hi), &want(&x, f), 0.0)?;
    }

    #[test]
    fn leaky_relu_scales_negatives(x in values(), alpha in 0.0f32..1.0) {
        check_close(&leaky_relu(&x, alpha), &want(&x, |v| if v >= 0.0 { v } else { alpha as f64 * v }), 1e-6)?;
    }

    #[test]
    fn sigmoid_is_the_logistic_function(x in values()) {
        check_close(&sigmoid(&x), &want(&x, |v| 1.0 / (1.0 + (-v).exp())), 1e-6)?;
    }

    #[test]
    fn hard_sigmoid_is_a_clamped_line(x in values(), alpha in 0.0f32..1.0, beta in -1.0f32..1.0) {
        let f = |v: f64| unit_clamp(alpha as f64 * v + beta as f64);
        // alpha·x + beta may cancel: its rounding scales with the terms, not the result.
        let mag = |v: f64| (alpha as f64 * v).abs() + (beta as f64).abs();
        check_close(&hard_sigmoid(&x, alpha, beta), &with_mag(want(&x, f), &x, mag), 1e-6)?;
    }

    #[test]
    fn hard_swish_is_x_times_hard_sigmoid(x in values()) {
        let mag = |v: f64| v.abs() * (v.abs() / 6.0 + 0.5);
        check_close(&hard_swish(&x), &with_mag(want(&x, |v| v * unit_clamp(v / 6.0 + 0.5)), &x, mag), 1e-6)?;
    }
}

#[test]
fn clip_with_min_above_max_gives_max() {
    let x = ArrayD::from_shape_vec(IxDyn(&[3]), vec![-1.0f32, 0.5, 9.0]).unwrap();
    assert_eq!(
        clip(&x, Some(2.0), Some(1.0)).into_raw_vec_and_offset().0,
        vec![1.0, 1.0, 1.0]
    );
}

#[test]
fn hard_swish_known_points() {
    let x = ArrayD::from_shape_vec(IxDyn(&[4]), vec![-3.0f32, 0.0, 3.0, 6.0]).unwrap();
    assert_eq!(
        hard_swish(&x).into_raw_vec_and_offset().0,
        vec![0.0, 0.0, 3.0, 6.0]
    );
}
