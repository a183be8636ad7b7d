//! normalize against the textbook standardization of each trailing-axes group.

use crate::common::*;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use runtime::ops::normalize;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn standardizes_each_group(
        (x, axis) in prop::collection::vec(1..=4usize, 1..=4).prop_flat_map(|s| {
            let r = s.len();
            (unit_tensor(s), 0..r)
        }),
        rms in any::<bool>(),
        eps in prop_oneof![Just(0.0f32), Just(1e-5f32), Just(0.1f32)],
    ) {
        let outer: usize = x.shape()[..axis].iter().product();
        let n: usize = x.shape()[axis..].iter().product();
        let flat: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let mut want = Vec::with_capacity(flat.len());
        for g in 0..outer {
            let vs = &flat[g * n..(g + 1) * n];
            let mean = if rms { 0.0 } else { vs.iter().sum::<f64>() / n as f64 };
            let var = vs.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
            let sd = (var + eps as f64).sqrt();
            for v in vs {
                let z = (v - mean) / sd;
                // A constant group (σ = 0, ε = 0) is 0/0.
                want.push(if sd == 0.0 { Want::exact(f64::NAN) } else { Want { value: z, mag: z.abs() + 1.0 } });
            }
        }
        let want = ArrayD::from_shape_vec(IxDyn(x.shape()), want).unwrap();
        check_close(&normalize(&x, axis, eps, rms), &want, 1e-6)?;
    }
}
