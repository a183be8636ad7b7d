//! 2-D convolution (ONNX Conv, NCHW): one matrix product per image and group over an im2col
//! buffer, no buffer at all for 1×1 stride-1 unpadded kernels, and a direct loop for depthwise.

use super::geometry::{valid_range, ConvGeometry};
use super::sgemm::{sgemm, Mat, Store};
use super::ConvParams;
use ndarray::{ArrayD, IxDyn};
use std::ops::Range;

/// `y[n, o, i, j] = b[o] + Σ_{c, ki, kj} x[n, g·C/G + c, i·sh + ki·dh − pt, j·sw + kj·dw − pl] · w[o, c, ki, kj]`
/// with `g = o / (O/G)`; taps that fall in the padding read zero.
///
/// `x` is `[N, C, H, W]`, `w` is `[O, C/G, kh, kw]`, `b` is `[O]`.
pub fn conv2d(
    x: &ArrayD<f32>,
    w: &ArrayD<f32>,
    b: Option<&ArrayD<f32>>,
    p: &ConvParams,
) -> ArrayD<f32> {
    conv2d_banded(x, w, b, p, COLS_BUDGET)
}

/// [`conv2d`] with an im2col buffer of at most `cols_budget` floats (tests shrink it to exercise
/// the banding).
fn conv2d_banded(
    x: &ArrayD<f32>,
    w: &ArrayD<f32>,
    b: Option<&ArrayD<f32>>,
    p: &ConvParams,
    cols_budget: usize,
) -> ArrayD<f32> {
    let g = Geometry::new("conv2d", x.shape(), w.shape(), p);
    let x = x.as_standard_layout();
    let w = w.as_standard_layout();
    let (xd, wd) = (
        x.as_slice().expect("standard layout"),
        w.as_slice().expect("standard layout"),
    );
    let plane_out = g.ho * g.wo;
    let mut out = vec![0.0f32; g.n * g.o * plane_out];
    let has_bias = if let Some(b) = b {
        assert_eq!(
            b.len(),
            g.o,
            "conv2d: bias {:?} does not match {} output channels",
            b.shape(),
            g.o
        );
        for (plane, &bv) in out.chunks_exact_mut(plane_out).zip(b.iter().cycle()) {
            plane.fill(bv);
        }
        true
    } else {
        false
    };

    if g.cg == 1 && g.groups > 1 {
        depthwise(&g, xd, wd, &mut out);
    } else {
        by_matrix_product(&g, xd, wd, &mut out, has_bias, cols_budget);
    }
    ArrayD::from_shape_vec(IxDyn(&[g.n, g.o, g.ho, g.wo]), out).expect("conv2d: output size")
}

type Geometry = ConvGeometry;

/// The im2col buffer holds at most this many floats (unless one output row needs more): a band
/// of output rows at a time keeps it in cache and bounds memory for large images.
const COLS_BUDGET: usize = 1 << 18;

/// `out[o-block of group] (+)= W_g · cols`, where `cols` is the im2col matrix of the group's input
/// channels (`[cg·kh·kw, positions]`) for a band of output rows, or, for pointwise kernels, the
/// input itself.
fn by_matrix_product(
    g: &Geometry,
    xd: &[f32],
    wd: &[f32],
    out: &mut [f32],
    has_bias: bool,
    cols_budget: usize,
) {
    let plane_in = g.h * g.w;
    let plane_out = g.ho * g.wo;
    let k = g.cg * g.kh * g.kw;
    let store = if has_bias {
        Store::Accumulate {
            dst_scale: 1.0,
            prod_scale: 1.0,
        }
    } else {
        Store::Overwrite
    };
    let band = if g.is_pointwise() {
        g.ho
    } else {
        (cols_budget / (k * g.wo).max(1)).clamp(1, g.ho)
    };
    let mut cols = if g.is_pointwise() {
        Vec::new()
    } else {
        vec![0.0f32; k * band * g.wo]
    };
    let taps = ColumnTaps::new(g);
    let mut regrouped = Vec::new();
    for img in 0..g.n {
        for grp in 0..g.groups {
            let x_group = &xd[(img * g.c + grp * g.cg) * plane_in..][..g.cg * plane_in];
            let lhs = Mat::rows(&wd[grp * g.og * k..][..g.og * k], k);
            let dst = &mut out[(img * g.o + grp * g.og) * plane_out..][..g.og * plane_out];
            if g.is_pointwise() {
                sgemm(
                    g.og,
                    plane_out,
                    k,
                    lhs,
                    Mat::rows(x_group, plane_out),
                    dst,
                    plane_out,
                    store,
                );
                continue;
            }
            let x_group = taps.layout.regroup(x_group, &mut regrouped);
            for first_row in (0..g.ho).step_by(band) {
                let rows = first_row..(first_row + band).min(g.ho);
                let n = rows.len() * g.wo;
                im2col(g, &taps, x_group, rows, &mut cols[..k * n]);
                sgemm(
                    g.og,
                    n,
                    k,
                    lhs,
                    Mat::rows(&cols, n),
                    &mut dst[first_row * g.wo..],
                    plane_out,
                    store,
                );
            }
        }
    }
}

/// For the output rows `out_rows`, row `(c·kh + ki)·kw + kj` of `cols` holds, at every output
/// position, the input value that tap `(ki, kj)` of channel `c` reads there (zero in the padding).
/// `x_group` is the group's input, its rows regrouped by `taps.layout`.
fn im2col(
    g: &Geometry,
    taps: &ColumnTaps,
    x_group: &[f32],
    out_rows: Range<usize>,
    cols: &mut [f32],
) {
    let [sh, _] = g.p.strides;
    let [dh, _] = g.p.dilations;
    let pt = g.p.pads[0];
    let mut rows_of_cols = cols.chunks_exact_mut(out_rows.len() * g.wo);
    for plane in x_group.chunks_exact(g.h * g.w) {
        for ki in 0..g.kh {
            let inside = valid_range(g.ho, g.h, sh, pt, ki * dh);
            for (span, first) in &taps.cols {
                let dst = rows_of_cols
                    .next()
                    .expect("im2col: buffer has one row per tap");
                for (oh, drow) in out_rows.clone().zip(dst.chunks_exact_mut(g.wo)) {
                    if !inside.contains(&oh) || span.is_empty() {
                        drow.fill(0.0);
                        continue;
                    }
                    let src = &plane[(oh * sh + ki * dh - pt) * g.w..][..g.w];
                    drow[..span.start].fill(0.0);
                    drow[span.end..].fill(0.0);
                    drow[span.clone()].copy_from_slice(&src[*first..][..span.len()]);
                }
            }
        }
    }
}

/// One input channel per group: each output plane is a weighted sum of shifted copies of its
/// input plane, accumulated row by row so the output row stays in L1. Compiled for AVX2 as well
/// where the CPU has it: the same multiplies and adds in the same order (Rust never contracts
/// them into FMAs), eight lanes wide instead of the baseline's four.
fn depthwise(g: &Geometry, xd: &[f32], wd: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        fn wide(g: &Geometry, xd: &[f32], wd: &[f32], out: &mut [f32]) {
            depthwise_rows(g, xd, wd, out)
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { wide(g, xd, wd, out) };
        }
    }
    depthwise_rows(g, xd, wd, out)
}

#[inline(always)]
fn depthwise_rows(g: &Geometry, xd: &[f32], wd: &[f32], out: &mut [f32]) {
    let [sh, _] = g.p.strides;
    let [dh, _] = g.p.dilations;
    let pt = g.p.pads[0];
    let (plane_in, plane_out, kernel_len) = (g.h * g.w, g.ho * g.wo, g.kh * g.kw);
    let row_ranges: Vec<_> = (0..g.kh)
        .map(|ki| valid_range(g.ho, g.h, sh, pt, ki * dh))
        .collect();
    let taps = ColumnTaps::new(g);
    let mut regrouped = Vec::new();
    for img in 0..g.n {
        for oc in 0..g.o {
            // With one input channel per group, output channel `oc` belongs to group oc / og.
            let plane = &xd[(img * g.c + oc / g.og) * plane_in..][..plane_in];
            let plane = taps.layout.regroup(plane, &mut regrouped);
            let kernel = &wd[oc * kernel_len..][..kernel_len];
            let dst = &mut out[(img * g.o + oc) * plane_out..][..plane_out];
            for (oh, orow) in dst.chunks_exact_mut(g.wo).enumerate() {
                for (ki, rows) in row_ranges.iter().enumerate() {
                    if !rows.contains(&oh) {
                        continue;
                    }
                    let src = &plane[(oh * sh + ki * dh - pt) * g.w..][..g.w];
                    for (kj, (span, first)) in taps.cols.iter().enumerate() {
                        axpy(
                            &mut orow[span.clone()],
                            &src[*first..][..span.len()],
                            kernel[ki * g.kw + kj],
                        );
                    }
                }
            }
        }
    }
}

/// `y += a·x` over equal-length slices (a separate function so the two are known not to alias).
#[inline(always)]
fn axpy(y: &mut [f32], x: &[f32], a: f32) {
    for (d, s) in y.iter_mut().zip(x) {
        *d += a * s;
    }
}

/// For each kernel column `kj`: the output columns whose tap lands inside the input row, and where
/// the first of those taps sits in a row regrouped by `layout`. Consecutive output columns then
/// read consecutive elements, whatever the stride.
struct ColumnTaps {
    layout: PhaseLayout,
    cols: Vec<(Range<usize>, usize)>,
}

impl ColumnTaps {
    fn new(g: &Geometry) -> Self {
        let (sw, dw, pl) = (g.p.strides[1], g.p.dilations[1], g.p.pads[1]);
        let layout = PhaseLayout::new(g.w, sw);
        let cols = (0..g.kw)
            .map(|kj| {
                let span = valid_range(g.wo, g.w, sw, pl, kj * dw);
                let first = if span.is_empty() {
                    0
                } else {
                    layout.offset(span.start * sw + kj * dw - pl)
                };
                (span, first)
            })
            .collect();
        ColumnTaps { layout, cols }
    }
}

/// Rows regrouped by stride phase: `row[p], row[p + s], row[p + 2s], …` for p = 0..s, so a strided
/// tap reads a contiguous run (copyable, vectorizable). With stride 1 rows stay as they are.
struct PhaseLayout {
    width: usize,
    stride: usize,
    /// Where each phase starts within a regrouped row.
    starts: Vec<usize>,
}

impl PhaseLayout {
    fn new(width: usize, stride: usize) -> Self {
        let mut starts = Vec::with_capacity(stride);
        let mut at = 0;
        for p in 0..stride {
            starts.push(at);
            at += (width + stride - 1 - p.min(width)) / stride;
        }
        PhaseLayout {
            width,
            stride,
            starts,
        }
    }

    /// Every row of `plane` regrouped (into `buf`), or `plane` itself with stride 1.
    fn regroup<'a>(&self, plane: &'a [f32], buf: &'a mut Vec<f32>) -> &'a [f32] {
        if self.stride == 1 {
            return plane;
        }
        buf.resize(plane.len(), 0.0);
        for (src, dst) in plane
            .chunks_exact(self.width)
            .zip(buf.chunks_exact_mut(self.width))
        {
            if self.stride == 2 {
                // The common case, written as pairs so it compiles to shuffles.
                let (even, odd) = dst.split_at_mut(self.starts[1]);
                for ((e, o), pair) in even.iter_mut().zip(odd.iter_mut()).zip(src.chunks_exact(2)) {
                    *e = pair[0];
                    *o = pair[1];
                }
                if self.width % 2 == 1 {
                    even[even.len() - 1] = src[self.width - 1];
                }
                continue;
            }
            for (p, &start) in self.starts.iter().enumerate() {
                for (d, s) in dst[start..]
                    .iter_mut()
                    .zip(src.iter().skip(p).step_by(self.stride))
                {
                    *d = *s;
                }
            }
        }
        buf
    }

    /// Where element `i` of a row sits once the row is regrouped.
    fn offset(&self, i: usize) -> usize {
        self.starts[i % self.stride] + i / self.stride
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1).
    fn filled(shape: &[usize], seed: u32) -> ArrayD<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(7);
        ArrayD::from_shape_fn(IxDyn(shape), |_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
    }

    /// Banding only changes which output rows one matrix product covers, never the sums: bands of
    /// one row, of a few rows with a shorter last band, and a single band agree.
    #[test]
    fn im2col_bands_agree_with_one_band() {
        let cases = [
            (
                [2, 4, 9, 7],
                [6, 2, 3, 3],
                ConvParams {
                    strides: [1, 1],
                    pads: [1, 2, 0, 1],
                    dilations: [1, 1],
                    groups: 2,
                },
            ),
            (
                [1, 3, 11, 8],
                [4, 3, 2, 3],
                ConvParams {
                    strides: [2, 3],
                    pads: [0, 1, 2, 0],
                    dilations: [2, 1],
                    groups: 1,
                },
            ),
        ];
        for (xs, ws, p) in cases {
            let (x, w, b) = (filled(&xs, 1), filled(&ws, 2), filled(&[ws[0]], 3));
            let whole = conv2d_banded(&x, &w, Some(&b), &p, usize::MAX);
            let k = ws[1] * ws[2] * ws[3];
            for budget in [1, 3 * k * whole.shape()[3]] {
                let banded = conv2d_banded(&x, &w, Some(&b), &p, budget);
                assert_eq!(banded.shape(), whole.shape());
                for (a, e) in banded.iter().zip(whole.iter()) {
                    assert!(
                        (a - e).abs() <= 1e-5 * (k as f32),
                        "budget {budget}: {a} vs {e}"
                    );
                }
            }
        }
    }
}
