//! requantize against the naive formula (u8, i8 and i32 inputs, u8 and i8 results, per tensor
//! and per axis) and against its quantized float simulation.

use crate::common::*;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use runtime::ops::{dequantize, quantize, QuantParams};
use runtime::qops::{qrange, requantize, Requant};
use runtime::{DType, Tensor};

fn dtype_in() -> impl Strategy<Value = DType> {
    prop_oneof![Just(DType::U8), Just(DType::I8), Just(DType::I32)]
}

fn dtype_out() -> impl Strategy<Value = DType> {
    prop_oneof![Just(DType::U8), Just(DType::I8)]
}

/// Values of `dtype` (i32 ones across the whole range or small) with a zero point in its range,
/// the extremes included.
fn tensor(shape: Vec<usize>, dtype: DType) -> impl Strategy<Value = (Tensor, i32)> {
    let n: usize = shape.iter().product();
    let (lo, hi) = qrange(dtype);
    let zp = prop_oneof![Just(lo), Just(hi), lo..=hi];
    let (lo, hi) = (lo.max(-300), hi.min(300));
    let zp = if dtype == DType::I32 {
        prop_oneof![Just(0), -300..=300, zp].boxed()
    } else {
        zp.boxed()
    };
    let values = match dtype {
        DType::U8 => prop::collection::vec(any::<u8>(), n)
            .prop_map(move |v| Tensor::U8(ArrayD::from_shape_vec(IxDyn(&shape), v).unwrap()))
            .boxed(),
        DType::I8 => prop::collection::vec(any::<i8>(), n)
            .prop_map(move |v| Tensor::I8(ArrayD::from_shape_vec(IxDyn(&shape), v).unwrap()))
            .boxed(),
        _ => prop::collection::vec(
            prop_oneof![
                any::<i32>(),
                -(1 << 16)..(1 << 16),
                Just(i32::MIN),
                Just(i32::MAX),
                lo..=hi
            ],
            n,
        )
        .prop_map(move |v| Tensor::I32(ArrayD::from_shape_vec(IxDyn(&shape), v).unwrap()))
        .boxed(),
    };
    (values, zp)
}

/// Pairs (one or `channels`), a zero point and a clamp of `out`.
fn requant_to(out: DType, channels: usize) -> impl Strategy<Value = Requant> {
    let (qmin, qmax) = qrange(out);
    let pairs = prop_oneof![
        pair().prop_map(|p| vec![p]),
        prop::collection::vec(pair(), channels)
    ];
    let zp = prop_oneof![Just(qmin), Just(qmax), qmin..=qmax];
    (pairs, zp, qmin..=qmax, qmin..=qmax).prop_map(move |(pairs, zero_point, a, b)| {
        let (multiplier, shift) = pairs.into_iter().unzip();
        Requant {
            multiplier,
            shift,
            zero_point,
            lo: a.min(b),
            hi: a.max(b),
        }
    })
}

#[derive(Clone, Debug)]
struct Case {
    x: Tensor,
    zx: i32,
    axis: Option<usize>,
    rq: Requant,
    out: DType,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(1..=4usize, 1..=4),
        dtype_in(),
        dtype_out(),
    )
        .prop_flat_map(|(shape, din, out)| {
            let rank = shape.len();
            (Just(shape), Just(din), Just(out), 0..rank).prop_flat_map(|(shape, din, out, axis)| {
                (tensor(shape.clone(), din), requant_to(out, shape[axis])).prop_map(
                    move |((x, zx), rq)| {
                        let axis = (rq.multiplier.len() > 1).then_some(axis);
                        Case {
                            x,
                            zx,
                            axis,
                            rq,
                            out,
                        }
                    },
                )
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn matches_naive_formula(c in case()) {
        let got = requantize(&c.x, c.zx, &c.rq, c.axis, c.out);
        prop_assert_eq!(got.dtype(), c.out);
        prop_assert_eq!(got.shape(), c.x.shape());
        let shape = c.x.shape().to_vec();
        let values: Vec<i64> = c.x.to_f64_vec().into_iter().map(|v| v as i64).collect();
        let got: Vec<i64> = got.to_f64_vec().into_iter().map(|v| v as i64).collect();
        for (i, (&v, &g)) in values.iter().zip(&got).enumerate() {
            let ch = c.axis.map_or(0, |a| i / shape[a + 1..].iter().product::<usize>() % shape[a]);
            // The centred value modulo 2³², like every i32 accumulator.
            let want = naive_requant(&c.rq, ch, wrap(v - i64::from(c.zx)));
            prop_assert_eq!(g, i64::from(want), "element {}", i);
        }
    }

    /// Within one code of quantize(dequantize(x)) from one quantization to another.
    #[test]
    fn matches_quantized_float_simulation(
        ((x, zx), out) in (prop::collection::vec(1..=5usize, 1..=3), prop_oneof![Just(DType::U8), Just(DType::I8)], dtype_out())
            .prop_flat_map(|(shape, din, out)| (tensor(shape, din), Just(out))),
        sx in scale(),
        u in -4.0f32..4.0,
        zy_frac in 0.0f64..1.0,
    ) {
        let sy = sx * 2f32.powf(u);
        let (qmin, qmax) = qrange(out);
        let zy = qmin + ((qmax - qmin) as f64 * zy_frac) as i32;
        let rq = Requant::from_real(&[f64::from(sx) / f64::from(sy)], zy, qmin, qmax).unwrap();
        let got = requantize(&x, zx, &rq, None, out).to_f64_vec();
        let per = |s: f32, z: i32| QuantParams { scales: vec![s], zero_points: vec![z], axis: None };
        let want = quantize(&dequantize(&x, &per(sx, zx)), &per(sy, zy), out).to_f64_vec();
        for (g, w) in got.iter().zip(&want) {
            prop_assert!((g - w).abs() <= 1.0, "integer {} vs float simulation {}", g, w);
        }
    }
}

#[test]
fn equal_parameters_are_the_identity() {
    // M = 1 (2³⁰, shift 1) and Z_y = Z_x: every code comes back.
    let x = Tensor::U8(ArrayD::from_shape_vec(IxDyn(&[256]), (0..=255).collect()).unwrap());
    let rq = Requant {
        multiplier: vec![1 << 30],
        shift: vec![1],
        zero_point: 77,
        lo: 0,
        hi: 255,
    };
    assert_eq!(requantize(&x, 77, &rq, None, DType::U8), x);
}

#[test]
fn per_axis_picks_each_channel() {
    // [2, 3] i32 accumulators, axis 1: channel j multiplies by 2^−j.
    let x = Tensor::I32(
        ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![40, 40, 40, -40, -40, -40]).unwrap(),
    );
    let rq = Requant {
        multiplier: vec![1 << 30; 3],
        shift: vec![1, 0, -1],
        zero_point: 0,
        lo: -128,
        hi: 127,
    };
    let y = requantize(&x, 0, &rq, Some(1), DType::I8);
    assert_eq!(y.to_f64_vec(), vec![40.0, 20.0, 10.0, -40.0, -20.0, -10.0]);
}
