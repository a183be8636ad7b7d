//! qmul against the naive formula, exact cases and its quantized float simulation.

use crate::common::*;
use proptest::prelude::*;
use runtime::ops::{binary, dequantize, quantize, BinaryOp, QuantParams};
use runtime::qops::{qmul, MulParams};
use runtime::{DType, Tensor};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn matches_naive_formula(
        ((a, b), (sa, sb, u), (za, zb, zy)) in broadcast_shapes().prop_flat_map(|(sa, sb)| (array_u8(sa), array_u8(sb)))
            .prop_flat_map(|ab| (Just(ab), (scale(), scale(), -2.0f32..10.0), (zero_point_u8(), zero_point_u8(), zero_point_u8()))),
        relu in any::<bool>(),
    ) {
        let lo = if relu { zy } else { 0 };
        let p = MulParams::from_scales((sa, za), (sb, zb), (sa * sb * 2f32.powf(u), zy), lo, 255).unwrap();
        let want = naive_broadcast(&a, &b, |x, y| naive_requant(&p.out, 0, (x - za) * (y - zb)));
        prop_assert_eq!(qmul(&a, &b, &p), want);
    }

    /// Within one code of quantize(dequantize(a) · dequantize(b)).
    #[test]
    fn matches_quantized_float_simulation(a in array_u8(vec![3, 17]), b in array_u8(vec![17]), sa in scale(), sb in scale(), u in -2.0f32..10.0, za in zero_point_u8(), zb in zero_point_u8(), zy in zero_point_u8()) {
        let sy = sa * sb * 2f32.powf(u);
        let p = MulParams::from_scales((sa, za), (sb, zb), (sy, zy), 0, 255).unwrap();
        let got = qmul(&a, &b, &p);
        let per = |s: f32, z: i32| QuantParams { scales: vec![s], zero_points: vec![z], axis: None };
        let yf = binary(&dequantize(&Tensor::U8(a), &per(sa, za)), &dequantize(&Tensor::U8(b), &per(sb, zb)), BinaryOp::Mul);
        let Tensor::U8(want) = quantize(&yf, &per(sy, zy), DType::U8) else { unreachable!() };
        for (g, w) in got.iter().zip(want.iter()) {
            prop_assert!((i32::from(*g) - i32::from(*w)).abs() <= 1, "integer {} vs float simulation {}", g, w);
        }
    }

    /// S_y = S_a·S_b makes M = 1: the product of the centred codes, shifted and clamped.
    #[test]
    fn unit_multiplier_is_exact(a in array_u8(vec![9]), b in array_u8(vec![9]), s in scale(), za in zero_point_u8(), zb in zero_point_u8(), zy in zero_point_u8()) {
        let t = 2f32.powi(-3);
        let p = MulParams::from_scales((s, za), (t, zb), (s * t, zy), 0, 255).unwrap();
        prop_assert_eq!(qmul(&a, &b, &p), naive_broadcast(&a, &b, |x, y| ((x - za) * (y - zb) + zy).clamp(0, 255)));
    }
}
