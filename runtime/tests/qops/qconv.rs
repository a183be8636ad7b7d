//! qconv2d against the naive integer formula through all its code paths (im2row with padded
//! rows, direct pointwise, depthwise), and against its quantized float simulation.

use crate::common::*;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use runtime::ops::{conv2d, dequantize, quantize, ConvParams, QuantParams};
use runtime::qops::{qconv2d, Requant};
use runtime::{DType, Tensor};

#[derive(Clone, Debug)]
struct Case {
    x: ArrayD<u8>,
    zx: i32,
    w: ArrayD<i8>,
    b: Option<ArrayD<i32>>,
    p: ConvParams,
    rq: Requant,
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    General,
    /// More than 16 input channels per group: im2row rows longer than one multiply-add step.
    Wide,
    /// One input channel per group, groups > 1 (channel multiplier `og`).
    Depthwise,
    /// 1×1, no stride or padding, 16 channels per group: the HWC input is the im2row matrix.
    Pointwise,
}

fn arr<T>(shape: &[usize], v: Vec<T>) -> ArrayD<T> {
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

fn case() -> impl Strategy<Value = Case> {
    let mode = prop_oneof![3 => Just(Mode::General), 1 => Just(Mode::Wide), 2 => Just(Mode::Depthwise), 1 => Just(Mode::Pointwise)];
    let channels = (1..=2usize, 1..=3usize, 1..=3usize, 1..=6usize); // n, groups, cg, og
    let kernel = (
        [1..=3usize, 1..=3],
        [1..=3usize, 1..=3],
        [1..=2usize, 1..=2],
        [0..=2usize, 0..=2, 0..=2, 0..=2],
    );
    let extra = ([0..=5usize, 0..=5], any::<bool>());
    (mode, channels, kernel, extra).prop_flat_map(
        |(mode, (n, groups, cg, og), (k, strides, dilations, pads), (extra, bias))| {
            let (groups, cg, k, p) = match mode {
                Mode::General => (
                    groups,
                    cg,
                    k,
                    ConvParams {
                        strides,
                        pads,
                        dilations,
                        groups,
                    },
                ),
                Mode::Wide => (
                    1,
                    cg + 16,
                    k,
                    ConvParams {
                        strides,
                        pads,
                        dilations,
                        groups: 1,
                    },
                ),
                Mode::Depthwise => (
                    groups + 1,
                    1,
                    k,
                    ConvParams {
                        strides,
                        pads,
                        dilations,
                        groups: groups + 1,
                    },
                ),
                Mode::Pointwise => (
                    groups.min(2),
                    16,
                    [1, 1],
                    ConvParams {
                        strides: [1, 1],
                        pads: [0; 4],
                        dilations,
                        groups: groups.min(2),
                    },
                ),
            };
            // The smallest input the dilated kernel fits once padded, plus some.
            let len = |a: usize| {
                (p.dilations[a] * (k[a] - 1) + 1)
                    .saturating_sub(p.pads[a] + p.pads[a + 2])
                    .max(1)
                    + extra[a]
            };
            let (c, o) = (groups * cg, groups * og);
            let xs = [n, c, len(0), len(1)];
            let ws = [o, cg, k[0], k[1]];
            let x = codes_u8(xs.iter().product()).prop_map(move |v| arr(&xs, v));
            let w = weights_i8(ws.iter().product()).prop_map(move |v| arr(&ws, v));
            let b = if bias {
                bias_i32(o).prop_map(move |v| Some(arr(&[o], v))).boxed()
            } else {
                Just(None).boxed()
            };
            (x, zero_point_u8(), w, b, Just(p), requant(o)).prop_map(|(x, zx, w, b, p, rq)| Case {
                x,
                zx,
                w,
                b,
                p,
                rq,
            })
        },
    )
}

/// The ONNX Conv sum over centred codes, padding reading the zero point (so adding nothing), in
/// i64, reduced modulo 2³², then requantized per output channel.
fn naive(c: &Case) -> ArrayD<u8> {
    naive_of(c, &c.x.mapv(i64::from), c.zx)
}

/// [`naive`] over codes `x` (any storage, as i64) with zero point `zx`, the rest of `c`.
fn naive_of(c: &Case, x: &ArrayD<i64>, zx: i32) -> ArrayD<u8> {
    let (xs, ws, p) = (x.shape(), c.w.shape(), &c.p);
    let (o, cg, kh, kw) = (ws[0], ws[1], ws[2], ws[3]);
    let og = o / p.groups;
    let out_len = |a: usize, len: usize, k: usize| {
        (len + p.pads[a] + p.pads[a + 2] - p.dilations[a] * (k - 1) - 1) / p.strides[a] + 1
    };
    let (ho, wo) = (out_len(0, xs[2], kh), out_len(1, xs[3], kw));
    ArrayD::from_shape_fn(IxDyn(&[xs[0], o, ho, wo]), |idx| {
        let (n, oc, i, j) = (idx[0], idx[1], idx[2], idx[3]);
        let mut acc = c.b.as_ref().map_or(0i64, |b| b[oc].into());
        for ci in 0..cg {
            for ki in 0..kh {
                for kj in 0..kw {
                    let ih = (i * p.strides[0] + ki * p.dilations[0]) as isize - p.pads[0] as isize;
                    let iw = (j * p.strides[1] + kj * p.dilations[1]) as isize - p.pads[1] as isize;
                    let inside =
                        ih >= 0 && iw >= 0 && (ih as usize) < xs[2] && (iw as usize) < xs[3];
                    let code = if inside {
                        x[[n, oc / og * cg + ci, ih as usize, iw as usize]]
                    } else {
                        i64::from(zx)
                    };
                    acc += i64::from(c.w[[oc, ci, ki, kj]]) * (code - i64::from(zx));
                }
            }
        }
        naive_requant(&c.rq, oc, wrap(acc)) as u8
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn matches_naive_formula(c in case()) {
        let got = qconv2d(&c.x, c.zx, &c.w, c.b.as_ref(), &c.p, &c.rq);
        prop_assert_eq!(got, naive(&c));
    }

    /// The i16 codes of a tensor given 16 bits, through every path (depthwise ones included,
    /// which take the im2row route for them): each u8 code of the case spread over the i16
    /// range by `q·257 + offset`, the extremes −32768 and 32767 reachable.
    #[test]
    fn sixteen_bit_codes_match_naive_formula(c in case(), offset in -32768i32..=-32768 + 2 * 255) {
        let spread = |q: i32| (q * 257 + offset).clamp(-32768, 32767);
        let x16 = c.x.mapv(|q| spread(i32::from(q)) as i16);
        let zx16 = spread(c.zx);
        let got = qconv2d(&x16, zx16, &c.w, c.b.as_ref(), &c.p, &c.rq);
        prop_assert_eq!(got, naive_of(&c, &x16.mapv(i64::from), zx16));
    }

    /// qconv2d is within one code of quantize(conv2d(dequantize(x), dequantize(w)) + b) with the
    /// same clamp. Input and weight scales are powers of two so that the f32 convolution is exact
    /// (every sum stays below 2²⁴ units); the output scale is anything.
    #[test]
    fn matches_quantized_float_simulation(
        c in case(),
        ex in -8i32..=0,
        ew in prop::collection::vec(-9i32..=-5, 32),
        y_bits in 6.0f64..16.0,
        zy in zero_point_u8(),
        relu in any::<bool>(),
    ) {
        let o = c.w.shape()[0];
        let sx = 2f32.powi(ex);
        let sw: Vec<f32> = ew[..o].iter().map(|&e| 2f32.powi(e)).collect();
        // An output scale that leaves a few hundred codes of spread.
        let sy = (f64::from(sx) * f64::from(sw[0]) * 2f64.powf(y_bits)) as f32;
        let (lo, hi) = if relu { (zy, 255) } else { (0, 255) };
        let reals: Vec<f64> = sw.iter().map(|&s| f64::from(s) * f64::from(sx) / f64::from(sy)).collect();
        let rq = Requant::from_real(&reals, zy, lo, hi).unwrap();
        // A bias the f32 sum holds exactly.
        let b = c.b.as_ref().map(|b| b.mapv(|v| v.clamp(-(1 << 20), 1 << 20)));
        let got = qconv2d(&c.x, c.zx, &c.w, b.as_ref(), &c.p, &rq);

        let xf = dequantize(&Tensor::U8(c.x.clone()), &QuantParams { scales: vec![sx], zero_points: vec![c.zx], axis: None });
        let wf = dequantize(&Tensor::I8(c.w.clone()), &QuantParams { scales: sw.clone(), zero_points: vec![0; o], axis: Some(0) });
        let bf = b.as_ref().map(|b| ArrayD::from_shape_fn(b.raw_dim(), |i| b[&i] as f32 * (sw[i[0]] * sx)));
        let yf = conv2d(&xf, &wf, bf.as_ref(), &c.p);
        let Tensor::U8(want) = quantize(&yf, &QuantParams { scales: vec![sy], zero_points: vec![zy], axis: None }, DType::U8) else { unreachable!() };
        for (g, w) in got.iter().zip(want.iter()) {
            let w = i32::from(*w).clamp(lo, hi);
            prop_assert!((i32::from(*g) - w).abs() <= 1, "integer {} vs float simulation {}", g, w);
        }
    }
}

#[test]
fn known_values() {
    // A 3×3 input of codes 1..9 with zero point 1, a 2×2 kernel of ones, bias 10, M = 1
    // (2³⁰, shift 1), output zero point 5: each output is its window's sum of (x − 1), + 10 + 5.
    let x = arr(&[1, 1, 3, 3], (1..=9u8).collect());
    let w = arr(&[1, 1, 2, 2], vec![1i8; 4]);
    let b = arr(&[1], vec![10]);
    let rq = Requant {
        multiplier: vec![1 << 30],
        shift: vec![1],
        zero_point: 5,
        lo: 0,
        hi: 255,
    };
    let y = qconv2d(&x, 1, &w, Some(&b), &ConvParams::default(), &rq);
    assert_eq!(
        y.iter().copied().collect::<Vec<_>>(),
        vec![8 + 15, 12 + 15, 20 + 15, 24 + 15]
    );
}

#[test]
fn padding_reads_the_zero_point() {
    // Every code equals the zero point: the input is all 0.0, padding too, so each output is
    // the bias alone (requantized by ½: 7 → 4, -7 → -3, ties as srdhm rounds them).
    let x = arr(&[1, 2, 3, 4], vec![200u8; 24]);
    let w = arr(
        &[2, 2, 3, 3],
        (0..36).map(|v| (v * 7 % 255 - 127) as i8).collect(),
    );
    let b = arr(&[2], vec![7, -7]);
    let p = ConvParams {
        strides: [1, 2],
        pads: [2, 1, 0, 2],
        dilations: [1, 1],
        groups: 1,
    };
    let rq = Requant {
        multiplier: vec![1 << 30],
        shift: vec![0],
        zero_point: 100,
        lo: 0,
        hi: 255,
    };
    let y = qconv2d(&x, 200, &w, Some(&b), &p, &rq);
    assert_eq!(y.shape(), &[1, 2, 3, 3]);
    for (idx, &v) in y.indexed_iter() {
        assert_eq!(v, if idx[1] == 0 { 104 } else { 97 }, "at {idx:?}");
    }
}

#[test]
fn accumulators_wrap_modulo_2_to_the_32() {
    // A bias at i32::MAX plus a positive sum wraps to a large negative accumulator, exactly as
    // the naive sum reduced modulo 2³² says; with M = 2⁻³¹·2³⁰ = ½ the result saturates at lo.
    let x = arr(&[1, 1, 1, 2], vec![255u8, 255]);
    let w = arr(&[1, 1, 1, 2], vec![127i8, 127]);
    let b = arr(&[1], vec![i32::MAX]);
    let rq = Requant {
        multiplier: vec![1 << 30],
        shift: vec![0],
        zero_point: 128,
        lo: 0,
        hi: 255,
    };
    let y = qconv2d(&x, 0, &w, Some(&b), &ConvParams::default(), &rq);
    let acc = wrap(i64::from(i32::MAX) + 2 * 127 * 255);
    assert!(acc < 0);
    assert_eq!(y[[0, 0, 0, 0]], naive_requant(&rq, 0, acc) as u8);
    assert_eq!(y[[0, 0, 0, 0]], 0);
}

#[test]
fn non_standard_layout_inputs_give_the_same_result() {
    use ndarray::ShapeBuilder;
    let x = ArrayD::from_shape_fn(IxDyn(&[1, 2, 5, 4]), |i| {
        (i[1] * 40 + i[2] * 9 + i[3] * 3) as u8
    });
    let w = ArrayD::from_shape_fn(IxDyn(&[3, 2, 2, 2]), |i| {
        (i[0] * 13 + i[1] * 5) as i8 - 20 + i[3] as i8
    });
    let p = ConvParams {
        strides: [2, 1],
        pads: [1, 0, 0, 1],
        dilations: [1, 2],
        groups: 1,
    };
    let rq = Requant {
        multiplier: vec![1 << 30, 1 << 30, 1 << 30],
        shift: vec![-4, -5, -6],
        zero_point: 128,
        lo: 0,
        hi: 255,
    };
    let want = qconv2d(&x, 17, &w, None, &p, &rq);
    let xf = ArrayD::from_shape_fn(IxDyn(&[1, 2, 5, 4]).f(), |i| x[&i]);
    let wf = ArrayD::from_shape_fn(IxDyn(&[3, 2, 2, 2]).f(), |i| w[&i]);
    assert_eq!(qconv2d(&xf, 17, &wf, None, &p, &rq), want);
}
