//! Integer bilinear resize on codes (docs/ir.md, "resize"): the float taps of
//! `ops::resize::linear_taps` with their weights rounded to multiples of 2⁻¹¹, the four products
//! summed in i32 and rounded once. The result keeps its input's scale and zero point: the weights
//! sum to exactly 2²² (each axis' pair to 2¹¹), so the zero point passes through untouched and the
//! result lies between the smallest and largest of its four codes (no clamp).
//! Nearest resize on codes is `ops::resize_nearest`, a gather.

use crate::ops::resize::{linear_taps, LinearTap, ResizeParams};
use crate::Tensor;
use ndarray::{ArrayD, IxDyn};

/// Fraction bits of one axis' weights.
pub const RESIZE_WEIGHT_BITS: u32 = 11;

/// One output index's neighbours along an axis and their fixed-point weights (summing to 2¹¹).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedTap {
    pub lo: usize,
    pub hi: usize,
    pub w_lo: i32,
    pub w_hi: i32,
}

/// `w_lo` rounded to the nearest multiple of 2⁻¹¹ (halves away from zero; `w_lo` ∈ [0, 1]),
/// `w_hi` its complement, so the pair sums to one exactly.
pub fn fixed_taps(taps: &[LinearTap]) -> Vec<FixedTap> {
    let one = 1i32 << RESIZE_WEIGHT_BITS;
    taps.iter()
        .map(|t| {
            let w_lo = (t.w_lo * one as f32).round() as i32;
            FixedTap {
                lo: t.lo,
                hi: t.hi,
                w_lo,
                w_hi: one - w_lo,
            }
        })
        .collect()
}

/// The fixed-point taps of both spatial axes of an input of spatial size `[h, w]`.
pub fn resize_linear_tables(p: &ResizeParams, h: usize, w: usize) -> [Vec<FixedTap>; 2] {
    [
        fixed_taps(&linear_taps(p, 0, h)),
        fixed_taps(&linear_taps(p, 1, w)),
    ]
}

/// One output code: `(Σ wy·wx·q + 2²¹) >> 22`, an arithmetic shift (rounds halves up).
pub fn bilinear_code(q: [i32; 4], r: &FixedTap, c: &FixedTap) -> i32 {
    let shift = 2 * RESIZE_WEIGHT_BITS;
    let acc = r.w_lo * (c.w_lo * q[0] + c.w_hi * q[1]) + r.w_hi * (c.w_lo * q[2] + c.w_hi * q[3]);
    (acc + (1 << (shift - 1))) >> shift
}

/// Bilinear resize of u8 or i8 codes, NCHW.
pub fn qresize_linear(x: &Tensor, p: &ResizeParams) -> Tensor {
    match x {
        Tensor::U8(a) => Tensor::U8(run(a, p, |v| v as i32, |v| v as u8)),
        Tensor::I8(a) => Tensor::I8(run(a, p, |v| v as i32, |v| v as i8)),
        other => panic!(
            "qresize_linear: input {:?} must be u8 or i8 codes, not {}",
            other.shape(),
            other.dtype()
        ),
    }
}

fn run<T: Copy>(
    x: &ArrayD<T>,
    p: &ResizeParams,
    widen: impl Fn(T) -> i32,
    narrow: impl Fn(i32) -> T,
) -> ArrayD<T> {
    let s = x.shape();
    assert!(
        s.len() == 4 && s[2] > 0 && s[3] > 0,
        "qresize_linear: input {s:?} must be NCHW with a non-empty image"
    );
    let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
    let [rows, cols] = resize_linear_tables(p, h, w);
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let mut out = Vec::with_capacity(n * c * p.out[0] * p.out[1]);
    for plane in xs.chunks_exact(h * w) {
        for r in &rows {
            let (top, bottom) = (&plane[r.lo * w..][..w], &plane[r.hi * w..][..w]);
            out.extend(cols.iter().map(|q| {
                let v = [top[q.lo], top[q.hi], bottom[q.lo], bottom[q.hi]].map(&widen);
                narrow(bilinear_code(v, r, q))
            }));
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[n, c, p.out[0], p.out[1]]), out).expect("shape")
}
