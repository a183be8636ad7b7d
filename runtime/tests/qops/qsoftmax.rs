//! qsoftmax against the formula of docs/ir.md written index by index in i128, against its
//! quantized float simulation (within one code where the documented bound allows it), and at
//! the extremes its bounds are proved for.

use crate::common::*;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use runtime::ops::{dequantize, quantize, softmax, QuantParams};
use runtime::qops::{
    qrange, qsoftmax, qsoftmax_problem, qsoftmax_reciprocal, qsoftmax_table, QSOFTMAX_MAX_AXIS,
    QSOFTMAX_MIN_SCALE, QSOFTMAX_ONE,
};
use runtime::{DType, Tensor};

fn storage() -> impl Strategy<Value = DType> {
    prop_oneof![Just(DType::U8), Just(DType::I8)]
}

/// Codes of `dtype` in `shape`: anything, or a narrow band (rows of near-equal codes, where every
/// term of the sum counts).
fn codes(dtype: DType, shape: Vec<usize>) -> impl Strategy<Value = Tensor> {
    let n: usize = shape.iter().product();
    let (lo, hi) = qrange(dtype);
    (lo..=hi, prop_oneof![Just(255), 0..=8i32])
        .prop_flat_map(move |(base, spread)| {
            let (a, b) = ((base - spread).max(lo), (base + spread).min(hi));
            prop::collection::vec(a..=b, n)
        })
        .prop_map(move |v| {
            let shape = IxDyn(&shape);
            match dtype {
                DType::U8 => Tensor::U8(
                    ArrayD::from_shape_vec(shape, v.iter().map(|&c| c as u8).collect()).unwrap(),
                ),
                _ => Tensor::I8(
                    ArrayD::from_shape_vec(shape, v.iter().map(|&c| c as i8).collect()).unwrap(),
                ),
            }
        })
}

/// A shape of rank 1 to 4 and an axis of it.
fn shape_axis() -> impl Strategy<Value = (Vec<usize>, usize)> {
    prop::collection::vec(1..=5usize, 1..=4)
        .prop_flat_map(|s| {
            let r = s.len();
            (Just(s), 0..r, 1..=40usize)
        })
        .prop_map(|(mut s, a, n)| {
            // The normalized axis is sometimes long, as a classifier's.
            if n > 5 {
                s[a] = n;
            }
            (s, a)
        })
}

/// A table the verifier accepts: the lowering's for some input scale, or any entries in
/// `[0, 2¹⁶]` after `T[0] = 2¹⁶`.
fn table() -> impl Strategy<Value = Vec<u32>> {
    prop_oneof![
        scale().prop_map(qsoftmax_table),
        prop::collection::vec(0..=QSOFTMAX_ONE, 255).prop_map(|mut v| {
            v.insert(0, QSOFTMAX_ONE);
            v
        }),
    ]
}

/// Result scales from the smallest allowed to large ones.
fn out_scale() -> impl Strategy<Value = f32> {
    prop_oneof![
        Just(QSOFTMAX_MIN_SCALE),
        (-30i32..=2, 1.0f32..2.0).prop_map(|(e, m)| m * 2f32.powi(e)),
        Just(1.0 / 255.0),
    ]
}

fn zero_point(dtype: DType) -> impl Strategy<Value = i32> {
    let (lo, hi) = qrange(dtype);
    prop_oneof![Just(lo), Just(hi), Just(0), lo..=hi]
}

/// The formula, element by element: the row walked by coordinates, its maximum and sum in i128,
/// `R` from its definition, `⌊(t·R + 2³¹) / 2³²⌋` by Euclidean division, then the clamp.
fn naive(x: &Tensor, axis: usize, table: &[u32], (sy, zy, dt): (f32, i32, DType)) -> Vec<i32> {
    let shape = x.shape().to_vec();
    let codes: Vec<i128> = x.to_f64_vec().iter().map(|&v| v as i128).collect();
    let strides: Vec<usize> = (0..shape.len())
        .map(|d| shape[d + 1..].iter().product())
        .collect();
    let (qmin, qmax) = qrange(dt);
    (0..codes.len())
        .map(|i| {
            let pos = (i / strides[axis]) % shape[axis];
            let first = i - pos * strides[axis];
            let row: Vec<i128> = (0..shape[axis])
                .map(|j| codes[first + j * strides[axis]])
                .collect();
            let m = *row.iter().max().unwrap();
            let t = |c: i128| i128::from(table[(m - c) as usize]);
            let s: i128 = row.iter().map(|&c| t(c)).sum();
            assert!(s < 1 << 32, "the sum {s} left u32");
            let r = (2f64.powi(32) / (s as f64 * f64::from(sy))).round_ties_even() as i128;
            let v = (t(codes[i]) * r + (1 << 31)).div_euclid(1 << 32);
            assert!(
                t(codes[i]) * r + (1 << 31) < 1 << 63,
                "the product left i64"
            );
            (i128::from(zy) + v).clamp(qmin.into(), qmax.into()) as i32
        })
        .collect()
}

fn as_codes(t: &Tensor) -> Vec<i32> {
    t.to_f64_vec().iter().map(|&v| v as i32).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn matches_naive_formula(
        ((x, axis), table, out) in (shape_axis(), storage()).prop_flat_map(|((s, a), d)| (codes(d, s), Just(a)))
            .prop_flat_map(|xa| (Just(xa), table(), (out_scale(), storage()).prop_flat_map(|(s, d)| (Just(s), zero_point(d), Just(d))))),
    ) {
        let y = qsoftmax(&x, axis, &table, out);
        prop_assert_eq!(y.dtype(), out.2);
        prop_assert_eq!(y.shape(), x.shape());
        prop_assert_eq!(as_codes(&y), naive(&x, axis, &table, out));
    }

    /// Within one code of quantize(softmax(dequantize(x))) wherever docs/ir.md's bound,
    /// `(n + 1)/(2¹⁷·S_y) + 2⁻¹⁷` codes, leaves room for the float path's own roundings.
    #[test]
    fn within_one_code_of_quantized_float_softmax(
        ((x, axis), (sx, zx), (sy, zy, dt)) in (shape_axis(), storage()).prop_flat_map(|((s, a), d)| (codes(d, s), Just(a), Just(d)))
            .prop_flat_map(|(x, a, d)| (Just((x, a)), (scale(), zero_point(d)), (-10i32..=0, 1.0f32..2.0, storage()).prop_flat_map(|(e, m, d)| (Just(m * 2f32.powi(e)), zero_point(d), Just(d))))),
    ) {
        let n = x.shape()[axis];
        prop_assume!((n as f64 + 1.0) / (131072.0 * f64::from(sy)) + 1.0 / 131072.0 < 0.95);
        let per = |s: f32, z: i32| QuantParams { scales: vec![s], zero_points: vec![z], axis: None };
        let got = as_codes(&qsoftmax(&x, axis, &qsoftmax_table(sx), (sy, zy, dt)));
        let xf = dequantize(&x, &per(sx, zx));
        let want = as_codes(&quantize(&softmax(&xf, axis), &per(sy, zy), dt));
        for (g, w) in got.iter().zip(&want) {
            prop_assert!((g - w).abs() <= 1, "integer {} vs float simulation {} (n = {})", g, w, n);
        }
    }
}

#[test]
fn equal_codes_share_the_row() {
    // Four equal codes: each t = 2¹⁶, s = 2¹⁸; with S_y = 1/256, s·S_y = 2¹⁰, R = 2²², and
    // (2¹⁶·2²² + 2³¹) >> 32 = 64, a quarter.
    let x = Tensor::U8(ArrayD::from_shape_vec(IxDyn(&[1, 4]), vec![7, 7, 7, 7]).unwrap());
    let table = qsoftmax_table(0.1);
    let y = qsoftmax(&x, 1, &table, (1.0 / 256.0, 0, DType::U8));
    assert_eq!(as_codes(&y), vec![64; 4]);
    // Along axis 0 every row holds one code: all of the mass, 256 codes, clamped to 255; an i8
    // result with zero point −128 lands on 127.
    let y = qsoftmax(&x, 0, &table, (1.0 / 256.0, 0, DType::U8));
    assert_eq!(as_codes(&y), vec![255; 4]);
    let y = qsoftmax(&x, 0, &table, (1.0 / 256.0, -128, DType::I8));
    assert_eq!(as_codes(&y), vec![127; 4]);
}

#[test]
fn table_is_the_documented_formula() {
    let t = qsoftmax_table(0.25);
    assert_eq!(t.len(), 256);
    assert_eq!(t[0], QSOFTMAX_ONE);
    // 2¹⁶·e^(−0.25) = 51 039.49…, 2¹⁶·e^(−1) = 24 109.35…
    assert_eq!((t[1], t[4]), (51039, 24109));
    assert!(t.windows(2).all(|w| w[0] >= w[1]));
    assert_eq!(*qsoftmax_table(1.0).last().unwrap(), 0);
    assert_eq!(QSOFTMAX_MIN_SCALE, 2f32.powi(-30));
}

#[test]
fn extremes_stay_in_range() {
    // The largest product: one element per row (s = 2¹⁶) at the smallest result scale, R = 2⁴⁶.
    assert_eq!(
        qsoftmax_reciprocal(QSOFTMAX_ONE, QSOFTMAX_MIN_SCALE),
        1 << 46
    );
    let biggest = u64::from(QSOFTMAX_ONE) * (1 << 46) + (1 << 31);
    assert!(biggest < 1 << 63);
    // The largest sum: 65 535 maxima.
    let s = QSOFTMAX_MAX_AXIS as u64 * u64::from(QSOFTMAX_ONE);
    assert!(s < 1 << 32);
    let x = Tensor::U8(ArrayD::from_elem(IxDyn(&[QSOFTMAX_MAX_AXIS]), 200u8));
    let table = qsoftmax_table(0.05);
    let y = qsoftmax(&x, 0, &table, (QSOFTMAX_MIN_SCALE, 0, DType::U8));
    assert!(as_codes(&y).iter().all(|&c| c == 255));
    let y = qsoftmax(&x, 0, &table, (1.0 / 255.0, 0, DType::U8));
    assert!(as_codes(&y).iter().all(|&c| c == 0));
    // One more element, a table entry above one, a tiny scale: refused.
    let wide: Vec<i64> = table.iter().map(|&t| i64::from(t)).collect();
    assert!(qsoftmax_problem(&wide, QSOFTMAX_MAX_AXIS + 1, 1.0).is_some());
    assert!(qsoftmax_problem(&wide, 4, QSOFTMAX_MIN_SCALE / 2.0).is_some());
    let mut bad = wide.clone();
    bad[3] = 65537;
    assert!(qsoftmax_problem(&bad, 4, 1.0).is_some());
    bad[0] = 1;
    assert!(qsoftmax_problem(&bad, 4, 1.0).is_some());
    assert!(qsoftmax_problem(&wide, QSOFTMAX_MAX_AXIS, QSOFTMAX_MIN_SCALE).is_none());
}
