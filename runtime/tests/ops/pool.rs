//! max_pool, avg_pool and global_avg_pool against the ONNX definitions, including ceil_mode,
//! dilation, asymmetric padding and count_include_pad.

use crate::common::*;
use ndarray::{ArrayD, Dimension, IxDyn};
use proptest::prelude::*;
use runtime::ops::{avg_pool, global_avg_pool, max_pool, PoolParams};

fn case() -> impl Strategy<Value = (ArrayD<f32>, PoolParams)> {
    let window = (
        [1..=3usize, 1..=3],
        [1..=3usize, 1..=3],
        [1..=2usize, 1..=2],
        pads4(2),
        any::<bool>(),
    );
    (window, 1..=2usize, 1..=3usize, [0..=5usize, 0..=5]).prop_flat_map(
        |((kernel, strides, dilations, pads, ceil_mode), n, c, extra)| {
            let p = PoolParams {
                kernel,
                strides,
                pads,
                dilations,
                ceil_mode,
            };
            let len = |a: usize| {
                (dilations[a] * (kernel[a] - 1) + 1)
                    .saturating_sub(pads[a] + pads[a + 2])
                    .max(1)
                    + extra[a]
            };
            (tensor(vec![n, c, len(0), len(1)]), Just(p))
        },
    )
}

/// The ONNX output length: floor or ceil of the window count, dropping a ceil-mode window that
/// would start past the input and its begin padding.
fn out_len(len: usize, p: &PoolParams, a: usize) -> usize {
    let span = p.dilations[a] * (p.kernel[a] - 1) + 1;
    let q = (len + p.pads[a] + p.pads[a + 2] - span) as f64 / p.strides[a] as f64;
    let mut out = if p.ceil_mode { q.ceil() } else { q.floor() } as usize + 1;
    if p.ceil_mode && (out - 1) * p.strides[a] >= len + p.pads[a] {
        out -= 1;
    }
    out
}

/// The window of output `(i, j)`: every tap's input coordinates (possibly outside the input).
fn taps(p: &PoolParams, i: usize, j: usize) -> Vec<(isize, isize)> {
    let mut t = Vec::new();
    for ki in 0..p.kernel[0] {
        for kj in 0..p.kernel[1] {
            let y = (i * p.strides[0] + ki * p.dilations[0]) as isize - p.pads[0] as isize;
            let z = (j * p.strides[1] + kj * p.dilations[1]) as isize - p.pads[1] as isize;
            t.push((y, z));
        }
    }
    t
}

fn naive(
    x: &ArrayD<f32>,
    p: &PoolParams,
    reduce: impl Fn(&[f64], &[(isize, isize)]) -> Want,
) -> ArrayD<Want> {
    let s = x.shape();
    let (h, w) = (s[2] as isize, s[3] as isize);
    ArrayD::from_shape_fn(
        IxDyn(&[s[0], s[1], out_len(s[2], p, 0), out_len(s[3], p, 1)]),
        |idx| {
            let window = taps(p, idx[2], idx[3]);
            let inside: Vec<f64> = window
                .iter()
                .filter(|&&(y, z)| y >= 0 && y < h && z >= 0 && z < w)
                .map(|&(y, z)| at4(x, [idx[0], idx[1], y as usize, z as usize]))
                .collect();
            reduce(&inside, &window)
        },
    )
}

fn naive_max(x: &ArrayD<f32>, p: &PoolParams) -> ArrayD<Want> {
    naive(x, p, |inside, _| {
        Want::exact(inside.iter().fold(f32::MIN as f64, |m, &v| m.max(v)))
    })
}

fn naive_avg(x: &ArrayD<f32>, p: &PoolParams, count_include_pad: bool) -> ArrayD<Want> {
    let (h, w) = (x.shape()[2] as isize, x.shape()[3] as isize);
    let (pt, pl, pb, pr) = (
        p.pads[0] as isize,
        p.pads[1] as isize,
        p.pads[2] as isize,
        p.pads[3] as isize,
    );
    naive(x, p, |inside, window| {
        let count = if count_include_pad {
            // Cells of the explicitly padded input; ceil_mode's overhang does not count.
            window
                .iter()
                .filter(|&&(y, z)| y >= -pt && y < h + pb && z >= -pl && z < w + pr)
                .count()
        } else {
            inside.len()
        };
        let mut sum = Want::default();
        inside.iter().for_each(|&v| sum.add(v));
        if count == 0 {
            Want::exact(0.0)
        } else {
            Want {
                value: sum.value / count as f64,
                mag: sum.mag / count as f64,
            }
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn max_pool_matches_onnx_definition((x, p) in case()) {
        check_close(&max_pool(&x, &p), &naive_max(&x, &p), 0.0)?;
    }

    #[test]
    fn avg_pool_matches_onnx_definition((x, p) in case(), count_include_pad in any::<bool>()) {
        check_close(&avg_pool(&x, &p, count_include_pad), &naive_avg(&x, &p, count_include_pad), SUM_TOL)?;
    }

    #[test]
    fn global_avg_pool_is_the_spatial_mean(shape in prop::collection::vec(1..=4usize, 2..=5)) {
        let x = ArrayD::from_shape_fn(IxDyn(&shape), |i| i.slice().iter().enumerate().map(|(a, &v)| ((a + 1) * v) as f32).sum::<f32>() - 3.0);
        let mut out_shape = shape.clone();
        out_shape[2..].iter_mut().for_each(|d| *d = 1);
        let spatial: usize = shape[2..].iter().product();
        let want = ArrayD::from_shape_fn(IxDyn(&out_shape), |o| {
            let mut sum = Want::default();
            for (idx, &v) in x.indexed_iter() {
                if idx[0] == o[0] && idx[1] == o[1] {
                    sum.add(v as f64);
                }
            }
            Want { value: sum.value / spatial as f64, mag: sum.mag / spatial as f64 }
        });
        check_close(&global_avg_pool(&x), &want, 1e-6)?;
    }
}

#[test]
fn count_include_pad_excludes_the_ceil_mode_overhang() {
    // 4×4 ones, 2×2 window, stride 2, pad 1 at the top/left only, ceil mode: windows start at
    // -1, 1 and 3; the last one reaches row/column 4, beyond the padded input.
    let x = ArrayD::from_elem(IxDyn(&[1, 1, 4, 4]), 1.0f32);
    let p = PoolParams {
        kernel: [2, 2],
        strides: [2, 2],
        pads: [1, 1, 0, 0],
        dilations: [1, 1],
        ceil_mode: true,
    };
    let with_pad = avg_pool(&x, &p, true);
    assert_eq!(with_pad.shape(), &[1, 1, 3, 3]);
    // Per axis the windows hold (input, padded) cells (1, 2), (2, 2), (1, 1).
    assert_eq!(
        with_pad.iter().copied().collect::<Vec<_>>(),
        vec![0.25, 0.5, 0.5, 0.5, 1.0, 1.0, 0.5, 1.0, 1.0]
    );
    let without = avg_pool(&x, &p, false);
    assert_eq!(without.iter().copied().collect::<Vec<_>>(), vec![1.0; 9]);
}

#[test]
fn max_pool_padding_never_wins() {
    let x = ArrayD::from_elem(IxDyn(&[1, 1, 2, 2]), -5.0f32);
    let p = PoolParams {
        kernel: [3, 3],
        strides: [1, 1],
        pads: [1; 4],
        dilations: [1, 1],
        ceil_mode: false,
    };
    assert!(max_pool(&x, &p).iter().all(|&v| v == -5.0));
}
