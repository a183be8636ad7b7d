//! resize_nearest and resize_linear against the ONNX Resize definition written out in f64: the
//! source coordinate of every coordinate_transformation_mode, each nearest_mode's rounding, and
//! linear interpolation between the floor neighbour and the next, indices clamped to the edge.

use crate::common::*;
use ndarray::ArrayD;
use proptest::prelude::*;
use runtime::ops::{
    resize_linear, resize_nearest, CoordMode, NearestMode, ResizeMode, ResizeParams,
};

const COORDS: [CoordMode; 6] = [
    CoordMode::HalfPixel,
    CoordMode::HalfPixelSymmetric,
    CoordMode::PytorchHalfPixel,
    CoordMode::AlignCorners,
    CoordMode::Asymmetric,
    CoordMode::TfHalfPixelForNn,
];
const NEAREST: [NearestMode; 5] = [
    NearestMode::RoundPreferFloor,
    NearestMode::RoundPreferCeil,
    NearestMode::Floor,
    NearestMode::Ceil,
    NearestMode::Simple,
];
/// Scales given to the op (the `sizes` form adds out/len ones).
const SCALES: [f32; 8] = [0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 4.0];

/// Params and an input shape; the output size is floor(len·scale) (the `scales` form) or a given
/// size whose scale is out/len (the `sizes` form).
fn case() -> impl Strategy<Value = (Vec<usize>, ResizeParams)> {
    (
        (1..=2usize, 1..=3usize, 1..=6usize, 1..=6usize),
        (0..6usize, 0..5usize, any::<bool>()),
        ([0..8usize, 0..8], [1..=9usize, 1..=9], any::<bool>()),
    )
        .prop_map(|((n, c, h, w), (ci, ni, linear), (si, sizes, by_size))| {
            let len = [h, w];
            let (scales, out) = if by_size {
                let out = sizes;
                ([0, 1].map(|a| out[a] as f32 / len[a] as f32), out)
            } else {
                let s = si.map(|i| SCALES[i]);
                let out = [0, 1].map(|a| ((len[a] as f32 * s[a]).floor() as usize).max(1));
                (s, out)
            };
            let p = ResizeParams {
                mode: if linear {
                    ResizeMode::Linear
                } else {
                    ResizeMode::Nearest
                },
                coord: COORDS[ci],
                nearest: NEAREST[ni],
                scales,
                out,
            };
            (vec![n, c, h, w], p)
        })
}

/// ONNX's `coordinate_transformation_mode` formulas, each operation rounded to f32 as ONNX
/// Runtime does (its nearest indices differ from exact arithmetic where a quotient rounds onto a
/// tie, e.g. 1.5/f32(1/3) = 4.5); half_pixel_symmetric's second half in f64 and then rounded, as it does.
fn source(mode: CoordMode, x: usize, scale: f32, len_in: usize, len_out: usize) -> f64 {
    let (x, li, lo) = (x as f32, len_in as f32, len_out as f32);
    f64::from(match mode {
        CoordMode::HalfPixel => (x + 0.5) / scale - 0.5,
        CoordMode::HalfPixelSymmetric => {
            let offset = li / 2.0 * (1.0 - lo / (scale * li));
            (f64::from(offset) + (f64::from(x) + 0.5) / f64::from(scale) - 0.5) as f32
        }
        CoordMode::PytorchHalfPixel if len_out > 1 => (x + 0.5) / scale - 0.5,
        CoordMode::PytorchHalfPixel => 0.0,
        CoordMode::AlignCorners if len_out == 1 => 0.0,
        CoordMode::AlignCorners => x * (li - 1.0) / (lo - 1.0),
        CoordMode::Asymmetric => x / scale,
        CoordMode::TfHalfPixelForNn => (x + 0.5) / scale,
    })
}

fn nearest(mode: NearestMode, s: f64, scale: f64, len_in: usize) -> usize {
    let i = match mode {
        NearestMode::RoundPreferFloor if s.fract().abs() == 0.5 => s.floor(),
        NearestMode::RoundPreferCeil if s.fract().abs() == 0.5 => s.ceil(),
        NearestMode::RoundPreferFloor | NearestMode::RoundPreferCeil => s.round(),
        NearestMode::Floor => s.floor(),
        NearestMode::Ceil => s.ceil(),
        NearestMode::Simple if scale < 1.0 => s.ceil(),
        NearestMode::Simple => s.trunc(),
    };
    i.clamp(0.0, len_in as f64 - 1.0) as usize
}

fn naive(x: &ArrayD<f32>, p: &ResizeParams) -> ArrayD<Want> {
    let s = x.shape();
    let (h, w) = (s[2], s[3]);
    let [oh, ow] = p.out;
    let axis = |a: usize, o: usize| source(p.coord, o, p.scales[a], s[2 + a], p.out[a]);
    ArrayD::from_shape_fn(vec![s[0], s[1], oh, ow], |i| {
        let (n, c, oy, ox) = (i[0], i[1], i[2], i[3]);
        let (sy, sx) = (axis(0, oy), axis(1, ox));
        match p.mode {
            ResizeMode::Nearest => {
                let y = nearest(p.nearest, sy, f64::from(p.scales[0]), h);
                let z = nearest(p.nearest, sx, f64::from(p.scales[1]), w);
                Want::exact(f64::from(x[[n, c, y, z]]))
            }
            ResizeMode::Linear => {
                // Neighbours floor(s) and floor(s) + 1, read with edge padding.
                let at = |v: f64, len: usize| (v.max(0.0) as usize).min(len - 1);
                let (fy, fx) = (sy.floor(), sx.floor());
                let (ry, rx) = (sy - fy, sx - fx);
                let mut want = Want::default();
                for (dy, wy) in [(0.0, 1.0 - ry), (1.0, ry)] {
                    for (dx, wx) in [(0.0, 1.0 - rx), (1.0, rx)] {
                        let v = f64::from(x[[n, c, at(fy + dy, h), at(fx + dx, w)]]);
                        want.add(wy * wx * v);
                    }
                }
                want
            }
        }
    })
}

proptest! {
    #[test]
    fn resize_matches_onnx((x, p) in case().prop_flat_map(|(s, p)| (tensor(s), Just(p)))) {
        let got = match p.mode {
            ResizeMode::Nearest => resize_nearest(&x, &p),
            ResizeMode::Linear => resize_linear(&x, &p),
        };
        check_close(&got, &naive(&x, &p), 1e-6)?;
    }
}

#[test]
fn nearest_x2_asymmetric_floor_repeats_each_pixel() {
    // PyTorch's F.interpolate(scale_factor=2, mode="nearest"), as exported.
    let x = ArrayD::from_shape_vec(vec![1, 1, 2, 2], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
    let p = ResizeParams {
        mode: ResizeMode::Nearest,
        coord: CoordMode::Asymmetric,
        nearest: NearestMode::Floor,
        scales: [2.0, 2.0],
        out: [4, 4],
    };
    let y = resize_nearest(&x, &p);
    let want = [
        1., 1., 2., 2., 1., 1., 2., 2., 3., 3., 4., 4., 3., 3., 4., 4.,
    ];
    assert_eq!(y.iter().copied().collect::<Vec<f32>>(), want);
}
