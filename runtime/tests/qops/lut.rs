//! lut and build_lut: the table is exact by construction, so lut equals the float chain
//! dequantize → f → quantize on every code.

use crate::common::*;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use runtime::ops::{dequantize, hard_swish, quantize, sigmoid, QuantParams};
use runtime::qops::{build_lut, lut, qrange};
use runtime::{DType, Tensor};

/// Every code of `dtype`, in order.
fn all_codes(dtype: DType) -> Tensor {
    match dtype {
        DType::U8 => {
            Tensor::U8(ArrayD::from_shape_vec(IxDyn(&[256]), (0..=255).collect()).unwrap())
        }
        _ => Tensor::I8(ArrayD::from_shape_vec(IxDyn(&[256]), (-128..=127).collect()).unwrap()),
    }
}

fn storage() -> impl Strategy<Value = DType> {
    prop_oneof![Just(DType::U8), Just(DType::I8)]
}

fn params(dtype: DType) -> impl Strategy<Value = (f32, i32, DType)> {
    let (lo, hi) = qrange(dtype);
    (
        scale(),
        prop_oneof![Just(lo), Just(hi), lo..=hi],
        Just(dtype),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn sigmoid_table_is_the_float_chain(input in storage().prop_flat_map(params), output in storage().prop_flat_map(params)) {
        for f in [sigmoid as fn(&ArrayD<f32>) -> ArrayD<f32>, hard_swish] {
            let table = build_lut(|v| f(&ArrayD::from_elem(IxDyn(&[]), v))[[]], input, output);
            let x = all_codes(input.2);
            let per = |(s, z, _): (f32, i32, DType)| QuantParams { scales: vec![s], zero_points: vec![z], axis: None };
            let want = quantize(&f(&dequantize(&x, &per(input))), &per(output), output.2);
            prop_assert_eq!(lut(&x, &table, output.2), want);
        }
    }

    #[test]
    fn indexes_by_code_minus_qmin(codes in prop::collection::vec(any::<i8>(), 1..20), table in prop::collection::vec(0..=255i32, 256)) {
        let x = Tensor::I8(ArrayD::from_shape_vec(IxDyn(&[codes.len()]), codes.clone()).unwrap());
        let y = lut(&x, &table, DType::U8);
        let want: Vec<f64> = codes.iter().map(|&c| f64::from(table[(i32::from(c) + 128) as usize])).collect();
        prop_assert_eq!(y.to_f64_vec(), want);
    }
}

#[test]
fn identity_table() {
    // f = identity with equal parameters: every code maps to itself.
    let table = build_lut(|v| v, (0.1, 3, DType::U8), (0.1, 3, DType::U8));
    assert_eq!(table, (0..=255).collect::<Vec<i32>>());
    let x = all_codes(DType::U8);
    assert_eq!(lut(&x, &table, DType::U8), x);
    // NaN quantizes to the zero point, as ops::quantize has it.
    assert_eq!(
        build_lut(|_| f32::NAN, (1.0, 0, DType::I8), (1.0, -5, DType::I8)),
        vec![-5; 256]
    );
}
