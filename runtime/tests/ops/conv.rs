//! conv2d against the ONNX Conv definition, through all three code paths (im2col + gemm,
//! pointwise, depthwise).

use crate::common::*;
use ndarray::{ArrayD, IxDyn, ShapeBuilder};
use proptest::prelude::*;
use runtime::ops::{conv2d, ConvParams};

#[derive(Clone, Debug)]
struct Case {
    x: ArrayD<f32>,
    w: ArrayD<f32>,
    b: Option<ArrayD<f32>>,
    p: ConvParams,
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    General,
    /// One input channel per group, groups > 1 (channel multiplier `og`).
    Depthwise,
    /// 1×1 kernel, no stride, no padding: the input is the matrix.
    Pointwise,
}

fn case() -> impl Strategy<Value = Case> {
    let mode = prop_oneof![
        Just(Mode::General),
        Just(Mode::Depthwise),
        Just(Mode::Pointwise)
    ];
    let channels = (1..=2usize, 1..=3usize, 1..=3usize, 1..=3usize); // n, groups, cg, og
    let kernel = (
        [1..=3usize, 1..=3],
        [1..=3usize, 1..=3],
        [1..=2usize, 1..=2],
        pads4(2),
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
                    groups,
                    cg,
                    [1, 1],
                    ConvParams {
                        strides: [1, 1],
                        pads: [0; 4],
                        dilations,
                        groups,
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
            let x = tensor(vec![n, c, len(0), len(1)]);
            let w = tensor(vec![o, cg, k[0], k[1]]);
            let b = if bias {
                tensor(vec![o]).prop_map(Some).boxed()
            } else {
                Just(None).boxed()
            };
            (x, w, b, Just(p)).prop_map(|(x, w, b, p)| Case { x, w, b, p })
        },
    )
}

fn naive(c: &Case) -> ArrayD<Want> {
    let (xs, ws, p) = (c.x.shape(), c.w.shape(), &c.p);
    let (o, cg, kh, kw) = (ws[0], ws[1], ws[2], ws[3]);
    let og = o / p.groups;
    let out_len = |a: usize, len: usize, k: usize| {
        (len + p.pads[a] + p.pads[a + 2] - p.dilations[a] * (k - 1) - 1) / p.strides[a] + 1
    };
    let (ho, wo) = (out_len(0, xs[2], kh), out_len(1, xs[3], kw));
    ArrayD::from_shape_fn(IxDyn(&[xs[0], o, ho, wo]), |idx| {
        let (n, oc, i, j) = (idx[0], idx[1], idx[2], idx[3]);
        let mut acc = Want::exact(c.b.as_ref().map_or(0.0, |b| b[oc] as f64));
        let g = oc / og;
        for ci in 0..cg {
            for ki in 0..kh {
                for kj in 0..kw {
                    let ih = (i * p.strides[0] + ki * p.dilations[0]) as isize - p.pads[0] as isize;
                    let iw = (j * p.strides[1] + kj * p.dilations[1]) as isize - p.pads[1] as isize;
                    if ih >= 0 && iw >= 0 && (ih as usize) < xs[2] && (iw as usize) < xs[3] {
                        acc.add(
                            at4(&c.x, [n, g * cg + ci, ih as usize, iw as usize])
                                * at4(&c.w, [oc, ci, ki, kj]),
                        );
                    }
                }
            }
        }
        acc
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn matches_onnx_definition(c in case()) {
        check_close(&conv2d(&c.x, &c.w, c.b.as_ref(), &c.p), &naive(&c), SUM_TOL)?;
        check_close(&runtime::ops::strict::conv2d(&c.x, &c.w, c.b.as_ref(), &c.p), &naive(&c), SUM_TOL)?;
    }

    /// The strict kernel is exactly the documented order: one f32 accumulator from +0, taps
    /// `c, p, q` ascending (padding skipped), each term rounded before it is added, bias last.
    #[test]
    fn strict_is_the_documented_sequence(c in case()) {
        let got = runtime::ops::strict::conv2d(&c.x, &c.w, c.b.as_ref(), &c.p);
        let (xs, ws, p) = (c.x.shape(), c.w.shape(), &c.p);
        let (cg, kh, kw) = (ws[1], ws[2], ws[3]);
        let og = ws[0] / p.groups;
        for (idx, &v) in got.indexed_iter() {
            let (n, oc, i, j) = (idx[0], idx[1], idx[2], idx[3]);
            let mut acc = 0.0f32;
            for ci in 0..cg {
                for ki in 0..kh {
                    for kj in 0..kw {
                        let ih = (i * p.strides[0] + ki * p.dilations[0]) as isize - p.pads[0] as isize;
                        let iw = (j * p.strides[1] + kj * p.dilations[1]) as isize - p.pads[1] as isize;
                        if ih >= 0 && iw >= 0 && (ih as usize) < xs[2] && (iw as usize) < xs[3] {
                            let prod = c.x[[n, oc / og * cg + ci, ih as usize, iw as usize]] * c.w[[oc, ci, ki, kj]];
                            acc += prod;
                        }
                    }
                }
            }
            if let Some(b) = &c.b {
                acc += b[oc];
            }
            prop_assert_eq!(v.to_bits(), acc.to_bits(), "at {:?}", idx);
        }
    }
}

#[test]
fn non_standard_layout_inputs_give_the_same_result() {
    let x = ArrayD::from_shape_fn(IxDyn(&[1, 2, 5, 4]), |i| {
        (i[1] * 20 + i[2] * 4 + i[3]) as f32 * 0.1 - 1.0
    });
    let w = ArrayD::from_shape_fn(IxDyn(&[3, 2, 2, 2]), |i| {
        (i[0] + 2 * i[1]) as f32 - 0.5 * i[2] as f32 + i[3] as f32
    });
    let p = ConvParams {
        strides: [2, 1],
        pads: [1, 0, 0, 1],
        dilations: [1, 2],
        groups: 1,
    };
    let want = conv2d(&x, &w, None, &p);
    // The same values stored column-major.
    let xf = ArrayD::from_shape_fn(IxDyn(&[1, 2, 5, 4]).f(), |i| x[&i]);
    let wf = ArrayD::from_shape_fn(IxDyn(&[3, 2, 2, 2]).f(), |i| w[&i]);
    assert!(!xf.is_standard_layout() && !wf.is_standard_layout());
    assert_eq!(conv2d(&xf, &wf, None, &p), want);
}

#[test]
fn strict_never_fuses_multiply_and_add() {
    // (1 + 2⁻¹²)² = 1 + 2⁻¹¹ + 2⁻²⁴ rounds (ties to even) to 1 + 2⁻¹¹; adding the bias
    // −(1 + 2⁻¹¹) then gives exactly 0. A fused multiply-add would keep the 2⁻²⁴.
    let v = 1.0 + 2f32.powi(-12);
    let x = ArrayD::from_elem(IxDyn(&[1, 1, 1, 1]), v);
    let w = ArrayD::from_elem(IxDyn(&[1, 1, 1, 1]), v);
    let b = ArrayD::from_elem(IxDyn(&[1]), -(1.0 + 2f32.powi(-11)));
    let y = runtime::ops::strict::conv2d(&x, &w, Some(&b), &ConvParams::default());
    assert_eq!(y[[0, 0, 0, 0]].to_bits(), 0.0f32.to_bits());
    assert_eq!(v.mul_add(v, b[0]), 2f32.powi(-24), "the FMA result differs");
}

#[test]
fn known_values() {
    // A 3×3 input, 2×2 all-ones kernel, bias 10: each output is its window's sum plus 10.
    let x =
        ArrayD::from_shape_vec(IxDyn(&[1, 1, 3, 3]), (1..=9).map(|v| v as f32).collect()).unwrap();
    let w = ArrayD::from_elem(IxDyn(&[1, 1, 2, 2]), 1.0f32);
    let b = ArrayD::from_elem(IxDyn(&[1]), 10.0f32);
    let y = conv2d(&x, &w, Some(&b), &ConvParams::default());
    assert_eq!(y.shape(), &[1, 1, 2, 2]);
    assert_eq!(
        y.iter().copied().collect::<Vec<_>>(),
        vec![22.0, 26.0, 34.0, 38.0]
    );
}
