//! reduce_mean against a brute-force mean over the matching input elements.

use crate::common::*;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use runtime::ops::reduce_mean;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn matches_the_definition(
        (x, reduced, keepdims) in prop::collection::vec(1..=4usize, 0..=4).prop_flat_map(|s| {
            let r = s.len();
            (tensor(s), prop::collection::vec(any::<bool>(), r), any::<bool>())
        })
    ) {
        let axes: Vec<usize> = (0..x.ndim()).filter(|&a| reduced[a]).collect();
        // ONNX: no axes means every axis.
        let gone = |a: usize| axes.is_empty() || reduced[a];
        let kept_shape: Vec<usize> = (0..x.ndim()).map(|a| if gone(a) { 1 } else { x.shape()[a] }).collect();
        let want = ArrayD::from_shape_fn(IxDyn(&kept_shape), |o| {
            let (mut sum, mut count) = (Want::default(), 0);
            for (i, &v) in x.indexed_iter() {
                if (0..x.ndim()).all(|a| gone(a) || i[a] == o[a]) {
                    sum.add(v as f64);
                    count += 1;
                }
            }
            Want { value: sum.value / count as f64, mag: sum.mag / count as f64 }
        });
        let want = if keepdims {
            want
        } else {
            let shape: Vec<usize> = (0..x.ndim()).filter(|&a| !gone(a)).map(|a| x.shape()[a]).collect();
            want.into_shape_with_order(IxDyn(&shape)).unwrap()
        };
        check_close(&reduce_mean(&x, &axes, keepdims), &want, 1e-6)?;
    }
}
