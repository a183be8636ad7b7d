//! qresize_linear against its formula written out (weights rounded from the f64 ONNX taps, i64
//! sums, one rounding), and against the quantized float simulation (within one code).

use ndarray::{ArrayD, Dimension, IxDyn};
use proptest::prelude::*;
use runtime::ops::{resize_linear, CoordMode, NearestMode, ResizeMode, ResizeParams};
use runtime::qops::qresize_linear;
use runtime::Tensor;

const COORDS: [CoordMode; 5] = [
    CoordMode::HalfPixel,
    CoordMode::PytorchHalfPixel,
    CoordMode::AlignCorners,
    CoordMode::Asymmetric,
    CoordMode::TfHalfPixelForNn,
];
const SCALES: [f32; 6] = [0.5, 0.75, 1.0, 1.5, 2.0, 4.0];

fn case() -> impl Strategy<Value = (Vec<u8>, Vec<usize>, ResizeParams)> {
    (
        (1..=2usize, 1..=3usize, 1..=5usize, 1..=5usize),
        0..5usize,
        [0..6usize, 0..6],
    )
        .prop_flat_map(|((n, c, h, w), ci, si)| {
            let s = si.map(|i| SCALES[i]);
            let len = [h, w];
            let out = [0, 1].map(|a| ((len[a] as f32 * s[a]).floor() as usize).max(1));
            let p = ResizeParams {
                mode: ResizeMode::Linear,
                coord: COORDS[ci],
                nearest: NearestMode::RoundPreferFloor,
                scales: s,
                out,
            };
            (
                prop::collection::vec(any::<u8>(), n * c * h * w),
                Just(vec![n, c, h, w]),
                Just(p),
            )
        })
}

fn source(mode: CoordMode, x: usize, scale: f64, li: usize, lo: usize) -> f64 {
    let x = x as f64;
    match mode {
        CoordMode::HalfPixel => (x + 0.5) / scale - 0.5,
        CoordMode::PytorchHalfPixel if lo > 1 => (x + 0.5) / scale - 0.5,
        CoordMode::AlignCorners if lo > 1 => x * (li as f64 - 1.0) / (lo as f64 - 1.0),
        CoordMode::PytorchHalfPixel | CoordMode::AlignCorners => 0.0,
        CoordMode::Asymmetric => x / scale,
        _ => (x + 0.5) / scale,
    }
}

/// (lo, hi, weight of lo in 2⁻¹¹): the source clamped into the input, at the edge half each.
fn tap(p: &ResizeParams, a: usize, o: usize, len: usize) -> (usize, usize, i64) {
    let s = source(p.coord, o, f64::from(p.scales[a]), len, p.out[a]).clamp(0.0, len as f64 - 1.0);
    let lo = s.floor() as usize;
    let hi = (lo + 1).min(len - 1);
    let w = if lo == hi { 0.5 } else { 1.0 - (s - lo as f64) };
    (lo, hi, (w * 2048.0).round() as i64)
}

proptest! {
    #[test]
    fn qresize_linear_matches_its_formula((v, shape, p) in case()) {
        let x = ArrayD::from_shape_vec(IxDyn(&shape), v).unwrap();
        let Tensor::U8(got) = qresize_linear(&Tensor::U8(x.clone()), &p) else { panic!("u8 in, u8 out") };
        let (h, w) = (shape[2], shape[3]);
        let mut max_off = 0i64;
        for ((i, &g), _) in got.indexed_iter().zip(0..) {
            let (n, c, oy, ox) = (i[0], i[1], i[2], i[3]);
            let (y0, y1, wy) = tap(&p, 0, oy, h);
            let (x0, x1, wx) = tap(&p, 1, ox, w);
            let q = |y: usize, z: usize| i64::from(x[[n, c, y, z]]);
            let acc = wy * (wx * q(y0, x0) + (2048 - wx) * q(y0, x1))
                + (2048 - wy) * (wx * q(y1, x0) + (2048 - wx) * q(y1, x1));
            let want = (acc + (1 << 21)).div_euclid(1 << 22);
            prop_assert_eq!(i64::from(g), want, "at {:?}", i.slice());
            // Within one code of the float resize of the same codes.
            let xf = x.mapv(f32::from);
            let f = resize_linear(&xf, &p)[[n, c, oy, ox]];
            max_off = max_off.max((f64::from(f) - g as f64).abs().ceil() as i64);
        }
        prop_assert!(max_off <= 1, "off by {max_off} codes from the float resize");
    }
}

#[test]
fn i8_codes_round_halves_up() {
    // Two codes −3 and −2 halfway: −2.5 rounds up to −2.
    let x = ArrayD::from_shape_vec(IxDyn(&[1, 1, 1, 2]), vec![-3i8, -2]).unwrap();
    let p = ResizeParams {
        mode: ResizeMode::Linear,
        coord: CoordMode::AlignCorners,
        nearest: NearestMode::RoundPreferFloor,
        scales: [1.0, 1.5],
        out: [1, 3],
    };
    let Tensor::I8(y) = qresize_linear(&Tensor::I8(x), &p) else {
        panic!("i8")
    };
    assert_eq!(y.iter().copied().collect::<Vec<i8>>(), vec![-3, -2, -2]);
}
