//! Resize (ONNX Resize and Upsample) of the two spatial axes of NCHW: the coordinate mapping
//! (one function per `coordinate_transformation_mode`), nearest (a gather of whole elements, so
//! any element type, codes included) and bilinear in f32. The integer bilinear form is in
//! `qops::resize`; both read the tap tables made here, so they agree on every source index.

use ndarray::{ArrayD, IxDyn};

/// How an output element is made from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResizeMode {
    /// The element at the rounded source coordinate.
    Nearest,
    /// Bilinear: the two neighbours along each axis, weighted by distance.
    Linear,
}

/// How an output coordinate maps back to a source coordinate (ONNX
/// `coordinate_transformation_mode`; `tf_crop_and_resize` is not supported).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoordMode {
    HalfPixel,
    HalfPixelSymmetric,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    TfHalfPixelForNn,
}

/// How a source coordinate rounds to an index in nearest mode (ONNX `nearest_mode`, and
/// `Simple`, the rule of Upsample and Resize-10, which have no such attribute).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NearestMode {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
    /// Truncate when upscaling, round up when downscaling (ONNX Runtime's rule before opset 11).
    Simple,
}

impl ResizeMode {
    pub const NAMES: &'static [&'static str] = &["nearest", "linear"];
    pub fn from_name(s: &str) -> Option<ResizeMode> {
        Some(match s {
            "nearest" => ResizeMode::Nearest,
            "linear" => ResizeMode::Linear,
            _ => return None,
        })
    }
}

impl CoordMode {
    pub const NAMES: &'static [&'static str] = &[
        "half_pixel",
        "half_pixel_symmetric",
        "pytorch_half_pixel",
        "align_corners",
        "asymmetric",
        "tf_half_pixel_for_nn",
    ];
    pub fn from_name(s: &str) -> Option<CoordMode> {
        use CoordMode::*;
        Some(match s {
            "half_pixel" => HalfPixel,
            "half_pixel_symmetric" => HalfPixelSymmetric,
            "pytorch_half_pixel" => PytorchHalfPixel,
            "align_corners" => AlignCorners,
            "asymmetric" => Asymmetric,
            "tf_half_pixel_for_nn" => TfHalfPixelForNn,
            _ => return None,
        })
    }

    /// The source coordinate of output index `x` along an axis of `len_in` → `len_out` whose
    /// scale is `scale` (the given scale, not `len_out/len_in`, when the model gave scales).
    /// Computed in f32 in ONNX Runtime's order (half_pixel_symmetric's offset in f64, as it does),
    /// so nearest indices agree with it at exact ties.
    pub fn source(self, x: usize, scale: f32, len_in: usize, len_out: usize) -> f32 {
        let xf = x as f32;
        match self {
            CoordMode::HalfPixel => (xf + 0.5) / scale - 0.5,
            CoordMode::HalfPixelSymmetric => {
                let out_width = scale * len_in as f32;
                let adjustment = len_out as f32 / out_width;
                let center = len_in as f32 / 2.0;
                let offset = center * (1.0 - adjustment);
                (f64::from(offset) + (f64::from(xf) + 0.5) / f64::from(scale) - 0.5) as f32
            }
            CoordMode::PytorchHalfPixel => {
                if len_out > 1 {
                    (xf + 0.5) / scale - 0.5
                } else {
                    0.0
                }
            }
            CoordMode::AlignCorners => {
                if len_out == 1 {
                    0.0
                } else {
                    xf * (len_in as f32 - 1.0) / (len_out as f32 - 1.0)
                }
            }
            CoordMode::Asymmetric => xf / scale,
            CoordMode::TfHalfPixelForNn => (xf + 0.5) / scale,
        }
    }
}

impl NearestMode {
    pub const NAMES: &'static [&'static str] = &[
        "round_prefer_floor",
        "round_prefer_ceil",
        "floor",
        "ceil",
        "simple",
    ];
    pub fn from_name(s: &str) -> Option<NearestMode> {
        use NearestMode::*;
        Some(match s {
            "round_prefer_floor" => RoundPreferFloor,
            "round_prefer_ceil" => RoundPreferCeil,
            "floor" => Floor,
            "ceil" => Ceil,
            "simple" => Simple,
            _ => return None,
        })
    }

    /// The index a source coordinate rounds to, before clamping to the input.
    pub fn pick(self, x: f32, downscale: bool) -> i64 {
        match self {
            NearestMode::RoundPreferFloor => {
                if x == x.trunc() + 0.5 {
                    x.floor() as i64
                } else {
                    x.round() as i64
                }
            }
            // `f32::round` rounds halves away from zero; a negative half clamps to 0 either way.
            NearestMode::RoundPreferCeil => x.round() as i64,
            NearestMode::Floor => x.floor() as i64,
            NearestMode::Ceil => x.ceil() as i64,
            NearestMode::Simple => {
                if downscale {
                    x.ceil() as i64
                } else {
                    x as i64
                }
            }
        }
    }
}

/// A resize of axes 2 and 3 of an NCHW tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResizeParams {
    pub mode: ResizeMode,
    pub coord: CoordMode,
    pub nearest: NearestMode,
    /// The scales of the coordinate mapping, [h, w].
    pub scales: [f32; 2],
    /// The output's spatial size, [h, w].
    pub out: [usize; 2],
}

/// The source index of every output index along spatial axis `axis` (0: rows, 1: columns).
pub fn nearest_indices(p: &ResizeParams, axis: usize, len_in: usize) -> Vec<usize> {
    let (scale, len_out) = (p.scales[axis], p.out[axis]);
    (0..len_out)
        .map(|x| {
            let s = p.coord.source(x, scale, len_in, len_out);
            p.nearest.pick(s, scale < 1.0).clamp(0, len_in as i64 - 1) as usize
        })
        .collect()
}

/// One output index's two neighbours along an axis and their weights (which sum to 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearTap {
    pub lo: usize,
    pub hi: usize,
    pub w_lo: f32,
    pub w_hi: f32,
}

/// The bilinear taps along spatial axis `axis`: the source coordinate clamped into the input,
/// its floor and the next index (both clamped), each weighted by the distance to the other; at
/// the clamped border both neighbours are the same element with weight ½ each.
pub fn linear_taps(p: &ResizeParams, axis: usize, len_in: usize) -> Vec<LinearTap> {
    let (scale, len_out) = (p.scales[axis], p.out[axis]);
    let last = len_in as i64 - 1;
    (0..len_out)
        .map(|x| {
            let s = p
                .coord
                .source(x, scale, len_in, len_out)
                .clamp(0.0, last as f32);
            let lo = (s as i64).min(last);
            let hi = (lo + 1).min(last);
            if lo == hi {
                return LinearTap {
                    lo: lo as usize,
                    hi: hi as usize,
                    w_lo: 0.5,
                    w_hi: 0.5,
                };
            }
            LinearTap {
                lo: lo as usize,
                hi: hi as usize,
                w_lo: (s - hi as f32).abs(),
                w_hi: (s - lo as f32).abs(),
            }
        })
        .collect()
}

fn check<T>(op: &str, x: &ArrayD<T>, p: &ResizeParams) -> [usize; 4] {
    let s = x.shape();
    assert!(
        s.len() == 4 && s[2] > 0 && s[3] > 0,
        "{op}: input {s:?} must be NCHW with a non-empty image"
    );
    assert!(
        p.out[0] > 0 && p.out[1] > 0,
        "{op}: output size {:?} must be positive",
        p.out
    );
    [s[0], s[1], s[2], s[3]]
}

/// Nearest resize: every output element is an input element, whatever its type.
pub fn resize_nearest<T: Copy>(x: &ArrayD<T>, p: &ResizeParams) -> ArrayD<T> {
    let [n, c, h, w] = check("resize", x, p);
    let (rows, cols) = (nearest_indices(p, 0, h), nearest_indices(p, 1, w));
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let mut out = Vec::with_capacity(n * c * p.out[0] * p.out[1]);
    for plane in xs.chunks_exact(h * w) {
        for &r in &rows {
            out.extend(cols.iter().map(|&q| plane[r * w + q]));
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[n, c, p.out[0], p.out[1]]), out).expect("shape")
}

/// Bilinear resize in f32: `w_lo(y)·(w_lo(x)·x[y_lo, x_lo] + w_hi(x)·x[y_lo, x_hi]) +
/// w_hi(y)·(w_lo(x)·x[y_hi, x_lo] + w_hi(x)·x[y_hi, x_hi])`, each product and sum rounded in that
/// order (docs/ir.md, "resize").
pub fn resize_linear(x: &ArrayD<f32>, p: &ResizeParams) -> ArrayD<f32> {
    let [n, c, h, w] = check("resize", x, p);
    let (rows, cols) = (linear_taps(p, 0, h), linear_taps(p, 1, w));
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let mut out = Vec::with_capacity(n * c * p.out[0] * p.out[1]);
    for plane in xs.chunks_exact(h * w) {
        for r in &rows {
            let (top, bottom) = (&plane[r.lo * w..][..w], &plane[r.hi * w..][..w]);
            out.extend(cols.iter().map(|q| {
                let t = q.w_lo * top[q.lo] + q.w_hi * top[q.hi];
                let b = q.w_lo * bottom[q.lo] + q.w_hi * bottom[q.hi];
                r.w_lo * t + r.w_hi * b
            }));
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[n, c, p.out[0], p.out[1]]), out).expect("shape")
}
