//! softmax against `e^x / Σ e^x` along the axis, evaluated in f64.

use crate::common::*;
use ndarray::{ArrayD, Axis, IxDyn};
use proptest::prelude::*;
use runtime::ops::softmax;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn matches_the_definition(
        (x, axis) in prop::collection::vec(1..=5usize, 1..=4).prop_flat_map(|s| {
            let r = s.len();
            (tensor(s), 0..r)
        })
    ) {
        let mut want = x.mapv(|_| Want::default());
        for (lane, mut out) in x.lanes(Axis(axis)).into_iter().zip(want.lanes_mut(Axis(axis))) {
            // Shifting by the maximum changes nothing mathematically; it keeps f64 finite too.
            let max = lane.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
            let sum: f64 = lane.iter().map(|&v| (v as f64 - max).exp()).sum();
            for (o, &v) in out.iter_mut().zip(lane.iter()) {
                // Outputs lie in [0, 1]: compare with an absolute tolerance.
                *o = Want { value: (v as f64 - max).exp() / sum, mag: 1.0 };
            }
        }
        check_close(&softmax(&x, axis), &want, 1e-5)?;
    }
}

#[test]
fn huge_inputs_stay_finite() {
    let x = ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![1000.0f32, 1000.0, -1000.0]).unwrap();
    assert_eq!(
        softmax(&x, 1).into_raw_vec_and_offset().0,
        vec![0.5, 0.5, 0.0]
    );
}
