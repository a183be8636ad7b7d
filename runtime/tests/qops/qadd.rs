//! qadd against the naive TFLite formula, its symmetry, exact cases, and its quantized float
//! simulation.

use crate::common::*;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use runtime::ops::{binary, dequantize, quantize, BinaryOp, QuantParams};
use runtime::qops::{qadd, AddParams, ADD_LEFT_SHIFT};
use runtime::{DType, Tensor};

/// The sum of two codes with the parameters' fields and the naive primitives.
fn naive_add(p: &AddParams, a: i32, b: i32) -> i32 {
    let a = naive_mbqm(
        (a - p.a_zero_point) << ADD_LEFT_SHIFT,
        p.a_multiplier,
        p.a_shift,
    );
    let b = naive_mbqm(
        (b - p.b_zero_point) << ADD_LEFT_SHIFT,
        p.b_multiplier,
        p.b_shift,
    );
    naive_requant(&p.out, 0, a + b)
}

/// Scales for a, b and y, y within a few powers of two of the larger input scale.
fn scales() -> impl Strategy<Value = (f32, f32, f32)> {
    (scale(), scale(), -8.0f32..2.0).prop_map(|(a, b, u)| (a, b, a.max(b) * 2f32.powf(u)))
}

fn params() -> impl Strategy<Value = AddParams> {
    (
        scales(),
        zero_point_u8(),
        zero_point_u8(),
        zero_point_u8(),
        any::<bool>(),
    )
        .prop_map(|((sa, sb, sy), za, zb, zy, relu)| {
            let lo = if relu { zy } else { 0 };
            AddParams::from_scales((sa, za), (sb, zb), (sy, zy), lo, 255).unwrap()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn matches_naive_formula(((a, b), p) in broadcast_shapes().prop_flat_map(|(sa, sb)| (array_u8(sa), array_u8(sb))).prop_flat_map(|ab| (Just(ab), params()))) {
        prop_assert_eq!(qadd(&a, &b, &p), naive_broadcast(&a, &b, |x, y| naive_add(&p, x, y)));
    }

    /// The scheme treats both operands alike: swapping them (with their parameters) changes nothing.
    #[test]
    fn is_symmetric(a in array_u8(vec![3, 5]), b in array_u8(vec![3, 5]), (sa, sb, sy) in scales(), za in zero_point_u8(), zb in zero_point_u8(), zy in zero_point_u8()) {
        let p = AddParams::from_scales((sa, za), (sb, zb), (sy, zy), 0, 255).unwrap();
        let q = AddParams::from_scales((sb, zb), (sa, za), (sy, zy), 0, 255).unwrap();
        prop_assert_eq!(qadd(&a, &b, &p), qadd(&b, &a, &q));
    }

    /// Within one code of quantize(dequantize(a) + dequantize(b)), clamped alike.
    #[test]
    fn matches_quantized_float_simulation(a in array_u8(vec![4, 16]), b in array_u8(vec![4, 16]), (sa, sb, sy) in scales(), za in zero_point_u8(), zb in zero_point_u8(), zy in zero_point_u8(), relu in any::<bool>()) {
        let lo = if relu { zy } else { 0 };
        let p = AddParams::from_scales((sa, za), (sb, zb), (sy, zy), lo, 255).unwrap();
        let got = qadd(&a, &b, &p);
        let per = |s: f32, z: i32| QuantParams { scales: vec![s], zero_points: vec![z], axis: None };
        let yf = binary(&dequantize(&Tensor::U8(a), &per(sa, za)), &dequantize(&Tensor::U8(b), &per(sb, zb)), BinaryOp::Add);
        let Tensor::U8(want) = quantize(&yf, &per(sy, zy), DType::U8) else { unreachable!() };
        for (g, w) in got.iter().zip(want.iter()) {
            let w = i32::from(*w).max(lo);
            prop_assert!((i32::from(*g) - w).abs() <= 1, "integer {} vs float simulation {}", g, w);
        }
    }

    /// With one scale for all three, the rescaling is exact: a + b − Z_a − Z_b + Z_y, clamped.
    #[test]
    fn equal_scales_add_exactly(a in array_u8(vec![2, 7]), b in array_u8(vec![2, 7]), s in scale(), za in zero_point_u8(), zb in zero_point_u8(), zy in zero_point_u8()) {
        let p = AddParams::from_scales((s, za), (s, zb), (s, zy), 0, 255).unwrap();
        prop_assert_eq!(qadd(&a, &b, &p), naive_broadcast(&a, &b, |x, y| (x - za + y - zb + zy).clamp(0, 255)));
    }
}

#[test]
fn parameters_follow_the_tflite_scheme() {
    // S_a = 0.5, S_b = 0.25: 2·max = 1, so the input multipliers are ½ and ¼ and the output one
    // 1/(2²⁰·S_y) with S_y = 2⁻¹⁰: 2⁻¹⁰ = ½·2⁻⁹.
    let p = AddParams::from_scales((0.5, 1), (0.25, 2), (2f32.powi(-10), 3), 4, 250).unwrap();
    assert_eq!((p.a_multiplier, p.a_shift), (1 << 30, 0));
    assert_eq!((p.b_multiplier, p.b_shift), (1 << 30, -1));
    assert_eq!(
        (p.out.multiplier.clone(), p.out.shift.clone()),
        (vec![1 << 30], vec![-9])
    );
    assert_eq!(
        (
            p.a_zero_point,
            p.b_zero_point,
            p.out.zero_point,
            p.out.lo,
            p.out.hi
        ),
        (1, 2, 3, 4, 250)
    );
    // a = 3 (real 1.0), b = 6 (real 1.0): 2.0 / 2⁻¹⁰ = 2048 codes above 3, clamped to 250.
    let one = |v: u8| ArrayD::from_elem(IxDyn(&[1]), v);
    assert_eq!(qadd(&one(3), &one(6), &p)[[0]], 250);
    // a = 1 and b = 2 are both 0.0: the sum is the zero point 3, raised to lo = 4.
    assert_eq!(qadd(&one(1), &one(2), &p)[[0]], 4);
    assert!(AddParams::from_scales((0.0, 0), (1.0, 0), (1.0, 0), 0, 255).is_err());
}
