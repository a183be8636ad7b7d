//! qconv_transpose2d against the naive scatter formula, and against its quantized float
//! simulation.

use crate::common::*;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use runtime::ops::{conv_transpose2d, dequantize, quantize, ConvTransposeParams, QuantParams};
use runtime::qops::{qconv_transpose2d, Requant};
use runtime::{DType, Tensor};

#[derive(Clone, Debug)]
struct Case {
    x: ArrayD<u8>,
    zx: i32,
    w: ArrayD<i8>,
    b: Option<ArrayD<i32>>,
    p: ConvTransposeParams,
    rq: Requant,
}

fn arr<T>(shape: &[usize], v: Vec<T>) -> ArrayD<T> {
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

fn out_len(p: &ConvTransposeParams, a: usize, len: usize, k: usize) -> i64 {
    (len as i64 - 1) * p.strides[a] as i64
        + (p.dilations[a] * (k - 1)) as i64
        + 1
        + p.output_padding[a] as i64
        - p.pads[a] as i64
        - p.pads[a + 2] as i64
}

fn case() -> impl Strategy<Value = Case> {
    let channels = (1..=2usize, 1..=2usize, 1..=18usize, 1..=5usize); // n, groups, cg, og
    let geometry = (
        [1..=3usize, 1..=3],
        [1..=3usize, 1..=3],
        [1..=2usize, 1..=2],
        [0..=2usize, 0..=2, 0..=2, 0..=2],
        [0..=2usize, 0..=2],
    );
    (channels, geometry, [1..=4usize, 1..=4], any::<bool>())
        .prop_filter_map(
            "empty output",
            |((n, groups, cg, og), (k, strides, dilations, pads, op), hw, bias)| {
                // ONNX wants output_padding below the stride or the dilation.
                let output_padding = [
                    op[0] % strides[0].max(dilations[0]),
                    op[1] % strides[1].max(dilations[1]),
                ];
                let p = ConvTransposeParams {
                    strides,
                    pads,
                    dilations,
                    groups,
                    output_padding,
                };
                (out_len(&p, 0, hw[0], k[0]) > 0 && out_len(&p, 1, hw[1], k[1]) > 0)
                    .then_some((n, groups, cg, og, k, p, hw, bias))
            },
        )
        .prop_flat_map(|(n, groups, cg, og, k, p, hw, bias)| {
            let (c, o) = (groups * cg, groups * og);
            let xs = [n, c, hw[0], hw[1]];
            let ws = [c, og, k[0], k[1]];
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
        })
}

/// Each input pixel adds its centred code times its kernel into the output, in i64; then the
/// sum modulo 2³² is requantized per output channel.
fn naive(c: &Case) -> ArrayD<u8> {
    let (xs, ws, p) = (c.x.shape(), c.w.shape(), &c.p);
    let (og, kh, kw) = (ws[1], ws[2], ws[3]);
    let cg = xs[1] / p.groups;
    let o = og * p.groups;
    let (ho, wo) = (
        out_len(p, 0, xs[2], kh) as usize,
        out_len(p, 1, xs[3], kw) as usize,
    );
    let mut acc = ArrayD::<i64>::from_shape_fn(IxDyn(&[xs[0], o, ho, wo]), |i| {
        c.b.as_ref().map_or(0, |b| b[i[1]].into())
    });
    for n in 0..xs[0] {
        for ci in 0..xs[1] {
            let g = ci / cg;
            for i in 0..xs[2] {
                for j in 0..xs[3] {
                    let v = i64::from(c.x[[n, ci, i, j]]) - i64::from(c.zx);
                    for oo in 0..og {
                        for ki in 0..kh {
                            for kj in 0..kw {
                                let y = (i * p.strides[0] + ki * p.dilations[0]) as i64
                                    - p.pads[0] as i64;
                                let x = (j * p.strides[1] + kj * p.dilations[1]) as i64
                                    - p.pads[1] as i64;
                                if y >= 0 && x >= 0 && (y as usize) < ho && (x as usize) < wo {
                                    acc[[n, g * og + oo, y as usize, x as usize]] +=
                                        v * i64::from(c.w[[ci, oo, ki, kj]]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    ArrayD::from_shape_fn(acc.raw_dim(), |i| {
        naive_requant(&c.rq, i[1], wrap(acc[&i])) as u8
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn matches_naive_formula(c in case()) {
        let got = qconv_transpose2d(&c.x, c.zx, &c.w, c.b.as_ref(), &c.p, &c.rq);
        prop_assert_eq!(got, naive(&c));
    }

    /// Within one code of quantize(conv_transpose2d(dequantize(x), dequantize(w)) + b), per
    /// output channel scales along weight axis 1; power-of-two input and weight scales keep the
    /// f32 sums exact.
    #[test]
    fn matches_quantized_float_simulation(c in case(), ex in -8i32..=0, ew in prop::collection::vec(-9i32..=-5, 10), y_bits in 6.0f64..14.0, zy in zero_point_u8()) {
        let o = c.w.shape()[1] * c.p.groups;
        let sx = 2f32.powi(ex);
        let sw: Vec<f32> = ew[..o].iter().map(|&e| 2f32.powi(e)).collect();
        let sy = (f64::from(sx) * f64::from(sw[0]) * 2f64.powf(y_bits)) as f32;
        let reals: Vec<f64> = sw.iter().map(|&s| f64::from(s) * f64::from(sx) / f64::from(sy)).collect();
        let rq = Requant::from_real(&reals, zy, 0, 255).unwrap();
        let b = c.b.as_ref().map(|b| b.mapv(|v| v.clamp(-(1 << 20), 1 << 20)));
        let got = qconv_transpose2d(&c.x, c.zx, &c.w, b.as_ref(), &c.p, &rq);

        let xf = dequantize(&Tensor::U8(c.x.clone()), &QuantParams { scales: vec![sx], zero_points: vec![c.zx], axis: None });
        // Weight [C, O/G, kh, kw]: output channel g·O/G + o has the scale of index o of group g.
        let og = c.w.shape()[1];
        let cg = c.w.shape()[0] / c.p.groups;
        let wf = ArrayD::from_shape_fn(c.w.raw_dim(), |i| f32::from(c.w[&i]) * sw[i[0] / cg * og + i[1]]);
        let bf = b.as_ref().map(|b| ArrayD::from_shape_fn(b.raw_dim(), |i| b[&i] as f32 * (sw[i[0]] * sx)));
        let yf = conv_transpose2d(&xf, &wf, bf.as_ref(), &c.p);
        let Tensor::U8(want) = quantize(&yf, &QuantParams { scales: vec![sy], zero_points: vec![zy], axis: None }, DType::U8) else { unreachable!() };
        for (g, w) in got.iter().zip(want.iter()) {
            prop_assert!((i32::from(*g) - i32::from(*w)).abs() <= 1, "integer {} vs float simulation {}", g, w);
        }
    }
}
