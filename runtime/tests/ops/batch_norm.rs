//! batch_norm against `(x − mean) / √(var + eps) · gamma + beta` along axis 1, in f64.

use crate::common::*;
use ndarray::ArrayD;
use proptest::prelude::*;
use runtime::ops::batch_norm;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn matches_the_definition(
        (x, gamma, beta, mean, var) in prop::collection::vec(1..=4usize, 2..=5).prop_flat_map(|s| {
            let c = s[1];
            (tensor(s), unit_tensor(vec![c]), unit_tensor(vec![c]), unit_tensor(vec![c]), unit_tensor(vec![c]))
        }),
        eps in prop_oneof![Just(1e-5f32), 1e-6f32..1e-1],
    ) {
        let var = var.mapv(f32::abs);
        let want = ArrayD::from_shape_fn(x.raw_dim(), |i| {
            let c = i[1];
            let (xv, m, v, g, b) = (x[&i] as f64, mean[c] as f64, var[c] as f64, gamma[c] as f64, beta[c] as f64);
            let d = (v + eps as f64).sqrt();
            // Rounding scales with the operands of the subtraction, not just its result.
            Want { value: (xv - m) / d * g + b, mag: (xv.abs() + m.abs()) / d * g.abs() + b.abs() }
        });
        check_close(&batch_norm(&x, &gamma, &beta, &mean, &var, eps), &want, 1e-5)?;
    }
}
