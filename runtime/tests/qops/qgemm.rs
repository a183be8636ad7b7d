//! qgemm against the naive formula and against its quantized float simulation.

use crate::common::*;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use runtime::ops::{dequantize, gemm, quantize, QuantParams};
use runtime::qops::{qgemm, Requant};
use runtime::{DType, Tensor};

#[derive(Clone, Debug)]
struct Case {
    a: ArrayD<u8>,
    za: i32,
    /// `[K, N]`, or `[N, K]` with `trans_b`.
    b: ArrayD<i8>,
    c: Option<ArrayD<i32>>,
    trans_b: bool,
    rq: Requant,
}

fn arr<T>(shape: &[usize], v: Vec<T>) -> ArrayD<T> {
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

fn case() -> impl Strategy<Value = Case> {
    // K across 16 (the multiply-add width) and N across 4 (the tile height).
    (
        1..=5usize,
        prop_oneof![1..=20usize, 30..=40usize],
        1..=11usize,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_flat_map(|(m, k, n, trans_b, bias)| {
            let bs = if trans_b { [n, k] } else { [k, n] };
            let a = codes_u8(m * k).prop_map(move |v| arr(&[m, k], v));
            let b = weights_i8(n * k).prop_map(move |v| arr(&bs, v));
            let c = if bias {
                bias_i32(n).prop_map(move |v| Some(arr(&[n], v))).boxed()
            } else {
                Just(None).boxed()
            };
            (a, zero_point_u8(), b, c, Just(trans_b), requant(n)).prop_map(
                |(a, za, b, c, trans_b, rq)| Case {
                    a,
                    za,
                    b,
                    c,
                    trans_b,
                    rq,
                },
            )
        })
}

fn b_at(c: &Case, k: usize, n: usize) -> i64 {
    i64::from(if c.trans_b { c.b[[n, k]] } else { c.b[[k, n]] })
}

fn naive(c: &Case) -> ArrayD<u8> {
    let (m, k) = (c.a.shape()[0], c.a.shape()[1]);
    let n = if c.trans_b {
        c.b.shape()[0]
    } else {
        c.b.shape()[1]
    };
    ArrayD::from_shape_fn(IxDyn(&[m, n]), |i| {
        let mut acc = c.c.as_ref().map_or(0i64, |c| c[i[1]].into());
        for t in 0..k {
            acc += (i64::from(c.a[[i[0], t]]) - i64::from(c.za)) * b_at(c, t, i[1]);
        }
        naive_requant(&c.rq, i[1], wrap(acc)) as u8
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn qgemm_matches_naive_formula(c in case()) {
        prop_assert_eq!(qgemm(&c.a, c.za, &c.b, c.c.as_ref(), c.trans_b, &c.rq), naive(&c));
    }

    /// Within one code of quantize(gemm(dequantize(a), dequantize(b)) + c), per-column weight
    /// scales; power-of-two input and weight scales keep the f32 sums exact.
    #[test]
    fn qgemm_matches_quantized_float_simulation(c in case(), ea in -8i32..=0, eb in prop::collection::vec(-9i32..=-5, 11), y_bits in 4.0f64..13.0, zy in zero_point_u8()) {
        let n = c.rq_channels();
        let sa = 2f32.powi(ea);
        let sb: Vec<f32> = eb[..n].iter().map(|&e| 2f32.powi(e)).collect();
        let sy = (f64::from(sa) * f64::from(sb[0]) * 2f64.powf(y_bits)) as f32;
        let reals: Vec<f64> = sb.iter().map(|&s| f64::from(s) * f64::from(sa) / f64::from(sy)).collect();
        let rq = Requant::from_real(&reals, zy, 0, 255).unwrap();
        let bias = c.c.as_ref().map(|b| b.mapv(|v| v.clamp(-(1 << 20), 1 << 20)));
        let got = qgemm(&c.a, c.za, &c.b, bias.as_ref(), c.trans_b, &rq);

        let af = dequantize(&Tensor::U8(c.a.clone()), &QuantParams { scales: vec![sa], zero_points: vec![c.za], axis: None });
        let axis = if c.trans_b { 0 } else { 1 };
        let bf = dequantize(&Tensor::I8(c.b.clone()), &QuantParams { scales: sb.clone(), zero_points: vec![0; n], axis: Some(axis) });
        let cf = bias.as_ref().map(|b| ArrayD::from_shape_fn(b.raw_dim(), |i| b[&i] as f32 * (sb[i[0]] * sa)));
        let yf = gemm(&af, &bf, cf.as_ref(), 1.0, 1.0, false, c.trans_b);
        let Tensor::U8(want) = quantize(&yf, &QuantParams { scales: vec![sy], zero_points: vec![zy], axis: None }, DType::U8) else { unreachable!() };
        for (g, w) in got.iter().zip(want.iter()) {
            prop_assert!((i32::from(*g) - i32::from(*w)).abs() <= 1, "integer {} vs float simulation {}", g, w);
        }
    }
}

impl Case {
    fn rq_channels(&self) -> usize {
        if self.trans_b {
            self.b.shape()[0]
        } else {
            self.b.shape()[1]
        }
    }
}

#[test]
fn known_values() {
    // a = [[1, 2, 3]] with zero point 1 is [[0, 1, 2]]; b = [[1, -1], [2, -2], [3, -3]]; c = [100, 0].
    // Sums: 0·1 + 1·2 + 2·3 + 100 = 108 and −8; M = 1, output zero point 10: 118 and 2.
    let a = arr(&[1, 3], vec![1u8, 2, 3]);
    let b = arr(&[3, 2], vec![1i8, -1, 2, -2, 3, -3]);
    let c = arr(&[2], vec![100, 0]);
    let rq = Requant {
        multiplier: vec![1 << 30],
        shift: vec![1],
        zero_point: 10,
        lo: 0,
        hi: 255,
    };
    assert_eq!(
        qgemm(&a, 1, &b, Some(&c), false, &rq)
            .into_raw_vec_and_offset()
            .0,
        vec![118, 2]
    );
    let bt = b.t().as_standard_layout().into_owned();
    assert_eq!(
        qgemm(&a, 1, &bt, Some(&c), true, &rq)
            .into_raw_vec_and_offset()
            .0,
        vec![118, 2]
    );
}
