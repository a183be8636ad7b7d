//! conv_transpose2d against the ONNX ConvTranspose definition (every input pixel scatters its
//! weighted kernel into the output).

use crate::common::*;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use runtime::ops::{conv_transpose2d, ConvTransposeParams};

#[derive(Clone, Debug)]
struct Case {
    x: ArrayD<f32>,
    w: ArrayD<f32>,
    b: Option<ArrayD<f32>>,
    p: ConvTransposeParams,
}

fn case() -> impl Strategy<Value = Case> {
    let channels = (1..=2usize, 1..=3usize, 1..=3usize, 1..=3usize); // n, groups, cg, og
    let kernel = (
        [1..=3usize, 1..=3],
        [1..=3usize, 1..=3],
        [1..=2usize, 1..=2],
        pads4(3),
    );
    let rest = ([1..=4usize, 1..=4], [0..=2usize, 0..=2], any::<bool>()); // h w, output padding, bias
    (channels, kernel, rest).prop_flat_map(
        |((n, groups, cg, og), (k, strides, dilations, mut pads), (hw, op, bias))| {
            // ONNX requires output_padding < max(stride, dilation); pads must leave an output.
            let output_padding = [
                op[0] % strides[0].max(dilations[0]),
                op[1] % strides[1].max(dilations[1]),
            ];
            for a in 0..2 {
                let full =
                    (hw[a] - 1) * strides[a] + dilations[a] * (k[a] - 1) + 1 + output_padding[a];
                pads[a] = pads[a].min(full - 1);
                pads[a + 2] = pads[a + 2].min(full - 1 - pads[a]);
            }
            let p = ConvTransposeParams {
                strides,
                pads,
                dilations,
                groups,
                output_padding,
            };
            let x = tensor(vec![n, groups * cg, hw[0], hw[1]]);
            let w = tensor(vec![groups * cg, og, k[0], k[1]]);
            let b = if bias {
                tensor(vec![groups * og]).prop_map(Some).boxed()
            } else {
                Just(None).boxed()
            };
            (x, w, b, Just(p)).prop_map(|(x, w, b, p)| Case { x, w, b, p })
        },
    )
}

fn naive(c: &Case) -> ArrayD<Want> {
    let (xs, ws, p) = (c.x.shape(), c.w.shape(), &c.p);
    let (og, kh, kw) = (ws[1], ws[2], ws[3]);
    let cg = xs[1] / p.groups;
    let o = og * p.groups;
    let out_len = |a: usize, len: usize, k: usize| {
        p.strides[a] * (len - 1) + p.output_padding[a] + (k - 1) * p.dilations[a] + 1
            - p.pads[a]
            - p.pads[a + 2]
    };
    let (ho, wo) = (out_len(0, xs[2], kh), out_len(1, xs[3], kw));
    let mut out = ArrayD::from_shape_fn(IxDyn(&[xs[0], o, ho, wo]), |i| {
        Want::exact(c.b.as_ref().map_or(0.0, |b| b[i[1]] as f64))
    });
    for n in 0..xs[0] {
        for ci in 0..xs[1] {
            let g = ci / cg;
            for i in 0..xs[2] {
                for j in 0..xs[3] {
                    for oc in 0..og {
                        for ki in 0..kh {
                            for kj in 0..kw {
                                let y = (i * p.strides[0] + ki * p.dilations[0]) as isize
                                    - p.pads[0] as isize;
                                let z = (j * p.strides[1] + kj * p.dilations[1]) as isize
                                    - p.pads[1] as isize;
                                if y >= 0 && z >= 0 && (y as usize) < ho && (z as usize) < wo {
                                    let term =
                                        at4(&c.x, [n, ci, i, j]) * at4(&c.w, [ci, oc, ki, kj]);
                                    out[IxDyn(&[n, g * og + oc, y as usize, z as usize])].add(term);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn matches_onnx_definition(c in case()) {
        check_close(&conv_transpose2d(&c.x, &c.w, c.b.as_ref(), &c.p), &naive(&c), SUM_TOL)?;
        let strict = runtime::ops::strict::conv_transpose2d(&c.x, &c.w, c.b.as_ref(), &c.p);
        check_close(&strict, &naive(&c), SUM_TOL)?;
    }
}

#[test]
fn stride_two_upsamples_with_gaps() {
    // A 2×2 input, 1×1 kernel of 3, stride 2, output padding 1: every other cell, 4×4 output.
    let x = ArrayD::from_shape_vec(IxDyn(&[1, 1, 2, 2]), vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
    let w = ArrayD::from_elem(IxDyn(&[1, 1, 1, 1]), 3.0f32);
    let p = ConvTransposeParams {
        strides: [2, 2],
        output_padding: [1, 1],
        ..Default::default()
    };
    let y = conv_transpose2d(&x, &w, None, &p);
    assert_eq!(y.shape(), &[1, 1, 4, 4]);
    #[rustfmt::skip]
    let want = vec![
        3.0, 0.0, 6.0, 0.0,
        0.0, 0.0, 0.0, 0.0,
        9.0, 0.0, 12.0, 0.0,
        0.0, 0.0, 0.0, 0.0,
    ];
    assert_eq!(y.iter().copied().collect::<Vec<f32>>(), want);
}
