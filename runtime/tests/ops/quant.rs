//! quantize and dequantize against ONNX QuantizeLinear / DequantizeLinear, per tensor and per
//! axis, for i8, u8 and i32, with exact ties, saturation, infinities and NaN.

use crate::common::*;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use runtime::ops::{dequantize, quantize, QuantParams};
use runtime::{DType, Tensor};

fn range(dtype: DType) -> (i64, i64) {
    match dtype {
        DType::I8 => (-128, 127),
        DType::U8 => (0, 255),
        DType::I32 => (i32::MIN as i64, i32::MAX as i64),
        other => unreachable!("{other} is no code type"),
    }
}

/// Round half to even, written out: the nearest integer, ties to the even neighbour.
fn round_half_even(v: f64) -> f64 {
    let lo = v.floor();
    let frac = v - lo;
    if frac > 0.5 || (frac == 0.5 && lo % 2.0 != 0.0) {
        lo + 1.0
    } else {
        lo
    }
}

/// QuantizeLinear for one element: x / scale in f32, rounded, shifted, saturated.
fn quantize_one(x: f32, scale: f32, zp: i32, dtype: DType) -> i64 {
    let (lo, hi) = range(dtype);
    let v = (x / scale) as f64;
    if v.is_nan() {
        return zp as i64;
    }
    (round_half_even(v) + zp as f64).clamp(lo as f64, hi as f64) as i64
}

/// The index along `axis` of the element at row-major position `flat` of `shape`.
fn channel(shape: &[usize], axis: Option<usize>, flat: usize) -> usize {
    axis.map_or(0, |a| {
        flat / shape[a + 1..].iter().product::<usize>() % shape[a]
    })
}

fn codes(t: &Tensor) -> Vec<i64> {
    t.to_f64_vec().into_iter().map(|v| v as i64).collect()
}

#[derive(Clone, Debug)]
struct Case {
    x: ArrayD<f32>,
    q: QuantParams,
    dtype: DType,
}

fn case() -> impl Strategy<Value = Case> {
    let dtype = prop_oneof![Just(DType::I8), Just(DType::U8), Just(DType::I32)];
    (prop::collection::vec(1..=4usize, 1..=3), dtype, any::<bool>()).prop_flat_map(|(shape, dtype, per_axis)| {
        let (r, n) = (shape.len(), shape.iter().product::<usize>());
        (Just(shape), Just(dtype), if per_axis { (0..r).prop_map(Some).boxed() } else { Just(None).boxed() })
            .prop_flat_map(move |(shape, dtype, axis)| {
                let channels = axis.map_or(1, |a| shape[a]);
                let (lo, hi) = range(dtype);
                // Powers of two make x / scale exact, so ties really are ties.
                let scale = prop_oneof![(-8i32..=8).prop_map(|e| 2f32.powi(e)), 1e-3f32..10.0];
                let zp = (lo.max(-300) as i32)..=(hi.min(300) as i32);
                // Half-integers (ties), ordinary values, anything at all (NaN, ±∞, huge, tiny).
                let value = prop_oneof![3 => (-600i32..600).prop_map(|h| h as f32 * 0.5), 3 => -400.0f32..400.0, 1 => any::<f32>()];
                let x = prop::collection::vec(value, n);
                let params = (prop::collection::vec(scale, channels), prop::collection::vec(zp, channels));
                (Just(shape), x, params, Just(axis), Just(dtype))
            })
            .prop_map(move |(shape, x, (scales, zero_points), axis, dtype)| {
                // Scale the test values by their channel's scale so they land near the code range.
                let x: Vec<f32> = x.iter().enumerate().map(|(i, &v)| v * scales[channel(&shape, axis, i)]).collect();
                Case { x: ArrayD::from_shape_vec(IxDyn(&shape), x).unwrap(), q: QuantParams { scales, zero_points, axis }, dtype }
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn quantize_matches_quantize_linear(c in case()) {
        let got = quantize(&c.x, &c.q, c.dtype);
        prop_assert_eq!(got.dtype(), c.dtype);
        prop_assert_eq!(got.shape(), c.x.shape());
        let want: Vec<i64> = c.x.iter().enumerate().map(|(i, &v)| {
            let ch = channel(c.x.shape(), c.q.axis, i);
            quantize_one(v, c.q.scales[ch], c.q.zero_points[ch], c.dtype)
        }).collect();
        prop_assert_eq!(codes(&got), want);
    }

    #[test]
    fn dequantize_matches_dequantize_linear(c in case()) {
        let q = quantize(&c.x, &c.q, c.dtype);
        let got = dequantize(&q, &c.q);
        let want = ArrayD::from_shape_vec(IxDyn(c.x.shape()), codes(&q).iter().enumerate().map(|(i, &code)| {
            let ch = channel(c.x.shape(), c.q.axis, i);
            Want::exact((code - c.q.zero_points[ch] as i64) as f64 * c.q.scales[ch] as f64)
        }).collect()).unwrap();
        check_close(&got, &want, 1e-6)?;
    }
}

fn per_tensor(scale: f32, zp: i32) -> QuantParams {
    QuantParams {
        scales: vec![scale],
        zero_points: vec![zp],
        axis: None,
    }
}

fn vector(v: &[f32]) -> ArrayD<f32> {
    ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.to_vec()).unwrap()
}

#[test]
fn rounds_half_to_even() {
    let x = vector(&[2.5, 3.5, -2.5, -3.5, 0.5, 1.5, -0.5, 2.4999998, 2.5000002]);
    let q = quantize(&x, &per_tensor(1.0, 0), DType::I8);
    assert_eq!(
        q,
        Tensor::I8(ArrayD::from_shape_vec(IxDyn(&[9]), vec![2, 4, -2, -4, 0, 2, 0, 2, 3]).unwrap())
    );
}

#[test]
fn saturates_at_both_ends() {
    let x = vector(&[
        -1000.0,
        -128.6,
        127.4,
        1000.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
    ]);
    let i8s = quantize(&x, &per_tensor(1.0, 0), DType::I8);
    assert_eq!(codes(&i8s), vec![-128, -128, 127, 127, 127, -128, 0]);
    // u8 with zero point 10: the code range [0, 255] is the real range [-10, 245].
    let u8s = quantize(&x, &per_tensor(1.0, 10), DType::U8);
    assert_eq!(codes(&u8s), vec![0, 0, 137, 255, 255, 0, 10]);
    let i32s = quantize(&vector(&[1e10, -1e10]), &per_tensor(1.0, 0), DType::I32);
    assert_eq!(codes(&i32s), vec![i32::MAX as i64, i32::MIN as i64]);
}

#[test]
fn per_axis_uses_each_channels_parameters() {
    // Shape [2, 3] quantized along axis 1: columns have scales 1, 2, 4 and zero points 0, 1, -1.
    let x =
        ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![3.0f32, 3.0, 3.0, -8.0, 5.0, 10.0]).unwrap();
    let q = QuantParams {
        scales: vec![1.0, 2.0, 4.0],
        zero_points: vec![0, 1, -1],
        axis: Some(1),
    };
    let t = quantize(&x, &q, DType::I8);
    // 3/1 = 3; 3/2 = 1.5 → 2, +1 = 3; 3/4 = 0.75 → 1, −1 = 0; −8; 2.5 → 2, +1 = 3; 2.5 → 2, −1 = 1.
    assert_eq!(codes(&t), vec![3, 3, 0, -8, 3, 1]);
    let back = dequantize(&t, &q);
    assert_eq!(
        back.into_raw_vec_and_offset().0,
        vec![3.0, 4.0, 4.0, -8.0, 4.0, 8.0]
    );
}

#[test]
fn divides_rather_than_multiplying_by_the_reciprocal() {
    // In f32, 2.25 / 0.3 = 7.4999995 but 2.25 · (1 / 0.3) = 7.5 (→ 8), and 0.195 / 0.03 = 6.5
    // (a tie, → 6) but 0.195 · (1 / 0.03) = 6.5000005 (→ 7). QuantizeLinear divides.
    let x = vector(&[2.25, 0.195]);
    let q = QuantParams {
        scales: vec![0.3, 0.03],
        zero_points: vec![0, 0],
        axis: Some(0),
    };
    assert_eq!(codes(&quantize(&x, &q, DType::I8)), vec![7, 6]);
}
