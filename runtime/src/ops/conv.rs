//! 2-D convolution (ONNX Conv, NCHW): one matrix product per image and group over an im2col
//! buffer, no buffer at all for 1×1 stride-1 unpadded kernels, and a direct loop for depthwise.

use super::geometry::{conv_out_len, valid_range};
use super::sgemm::{sgemm, Mat, Store};
use super::ConvParams;
use ndarray::{ArrayD, IxDyn};

/// `y[n, o, i, j] = b[o] + Σ_{c, ki, kj} x[n, g·C/G + c, i·sh + ki·dh − pt, j·sw + kj·dw − pl] · w[o, c, ki, kj]`
/// with `g = o / (O/G)`; taps that fall in the padding read zero.
///
/// `x` is `[N, C, H, W]`, `w` is `[O, C/G, kh, kw]`, `b` is `[O]`.
pub fn conv2d(x: &ArrayD<f32>, w: &ArrayD<f32>, b: Option<&ArrayD<f32>>, p: &ConvParams) -> ArrayD<f32> {
    let g = Geometry::new(x.shape(), w.shape(), p);
    let x = x.as_standard_layout();
    let w = w.as_standard_layout();
    let (xd, wd) = (x.as_slice().expect("standard layout"), w.as_slice().expect("standard layout"));
    let plane_out = g.ho * g.wo;
    let mut out = vec![0.0f32; g.n * g.o * plane_out];
    let has_bias = if let Some(b) = b {
        assert_eq!(b.len(), g.o, "conv2d: bias {:?} does not match {} output channels", b.shape(), g.o);
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
        by_matrix_product(&g, xd, wd, &mut out, has_bias);
    }
    ArrayD::from_shape_vec(IxDyn(&[g.n, g.o, g.ho, g.wo]), out).expect("conv2d: output size")
}

/// Every dimension of one convolution, checked once.
struct Geometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    groups: usize,
    /// Input and output channels per group.
    cg: usize,
    og: usize,
    kh: usize,
    kw: usize,
    ho: usize,
    wo: usize,
    p: ConvParams,
}

impl Geometry {
    fn new(xs: &[usize], ws: &[usize], p: &ConvParams) -> Self {
        assert!(xs.len() == 4 && ws.len() == 4, "conv2d: input {xs:?} and weight {ws:?} must both be 4-D");
        let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
        let (o, cg, kh, kw) = (ws[0], ws[1], ws[2], ws[3]);
        let groups = p.groups;
        assert!(
            groups > 0 && cg * groups == c && o % groups == 0,
            "conv2d: input {xs:?} and weight {ws:?} do not fit {groups} groups"
        );
        assert!(h > 0 && w > 0, "conv2d: input {xs:?} has an empty spatial axis");
        let ho = conv_out_len("conv2d", h, kh, p.strides[0], (p.pads[0], p.pads[2]), p.dilations[0]);
        let wo = conv_out_len("conv2d", w, kw, p.strides[1], (p.pads[1], p.pads[3]), p.dilations[1]);
        Geometry { n, c, h, w, o, groups, cg, og: o / groups, kh, kw, ho, wo, p: p.clone() }
    }

    /// A 1×1 kernel that neither strides nor pads reads the input planes as they are.
    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.p.strides == [1, 1] && self.p.pads == [0; 4]
    }
}

/// `out[o-block of group] (+)= W_g · cols`, where `cols` is the im2col matrix of the group's input
/// channels (`[cg·kh·kw, ho·wo]`), or the input itself for pointwise kernels.
fn by_matrix_product(g: &Geometry, xd: &[f32], wd: &[f32], out: &mut [f32], has_bias: bool) {
    let plane_in = g.h * g.w;
    let plane_out = g.ho * g.wo;
    let k = g.cg * g.kh * g.kw;
    let store = if has_bias { Store::Accumulate { dst_scale: 1.0, prod_scale: 1.0 } } else { Store::Overwrite };
    let mut cols = if g.is_pointwise() { Vec::new() } else { vec![0.0f32; k * plane_out] };
    for img in 0..g.n {
        for grp in 0..g.groups {
            let x_group = &xd[(img * g.c + grp * g.cg) * plane_in..][..g.cg * plane_in];
            let rhs = if g.is_pointwise() {
                x_group
            } else {
                im2col(g, x_group, &mut cols);
                &cols[..]
            };
            let lhs = &wd[grp * g.og * k..][..g.og * k];
            let dst = &mut out[(img * g.o + grp * g.og) * plane_out..][..g.og * plane_out];
            sgemm(g.og, plane_out, k, Mat::rows(lhs, k), Mat::rows(rhs, plane_out), dst, plane_out, store);
        }
    }
}

/// Row `(c·kh + ki)·kw + kj` of `cols` holds, for every output position, the input value its tap
/// `(ki, kj)` of channel `c` reads (zero in the padding).
fn im2col(g: &Geometry, x_group: &[f32], cols: &mut [f32]) {
    let [sh, sw] = g.p.strides;
    let [dh, dw] = g.p.dilations;
    let (pt, pl) = (g.p.pads[0], g.p.pads[1]);
    let plane_out = g.ho * g.wo;
    let mut rows_of_cols = cols.chunks_exact_mut(plane_out);
    for plane in x_group.chunks_exact(g.h * g.w) {
        for ki in 0..g.kh {
            let rows = valid_range(g.ho, g.h, sh, pt, ki * dh);
            for kj in 0..g.kw {
                let span = valid_range(g.wo, g.w, sw, pl, kj * dw);
                let dst = rows_of_cols.next().expect("im2col: buffer has one row per tap");
                for (oh, drow) in dst.chunks_exact_mut(g.wo).enumerate() {
                    if !rows.contains(&oh) || span.is_empty() {
                        drow.fill(0.0);
                        continue;
                    }
                    let ih = oh * sh + ki * dh - pt;
                    let src = &plane[ih * g.w..][..g.w];
                    let iw0 = span.start * sw + kj * dw - pl;
                    drow[..span.start].fill(0.0);
                    drow[span.end..].fill(0.0);
                    let inside = &mut drow[span.clone()];
                    if sw == 1 {
                        inside.copy_from_slice(&src[iw0..iw0 + inside.len()]);
                    } else {
                        for (d, s) in inside.iter_mut().zip(src[iw0..].iter().step_by(sw)) {
                            *d = *s;
                        }
                    }
                }
            }
        }
    }
}

/// One input channel per group: each output plane is a weighted sum of shifted copies of its
/// input plane, accumulated row by row so the output row stays in L1.
fn depthwise(g: &Geometry, xd: &[f32], wd: &[f32], out: &mut [f32]) {
    let [sh, sw] = g.p.strides;
    let [dh, dw] = g.p.dilations;
    let (pt, pl) = (g.p.pads[0], g.p.pads[1]);
    let (plane_in, plane_out, taps) = (g.h * g.w, g.ho * g.wo, g.kh * g.kw);
    let row_ranges: Vec<_> = (0..g.kh).map(|ki| valid_range(g.ho, g.h, sh, pt, ki * dh)).collect();
    let mut phased = Phased::new(g.w, sw);
    // Per kernel column: the output columns it reaches and where its first input sits in the
    // regrouped row.
    let col_taps: Vec<_> = (0..g.kw)
        .map(|kj| {
            let span = valid_range(g.wo, g.w, sw, pl, kj * dw);
            let first = if span.is_empty() { 0 } else { phased.offset(span.start * sw + kj * dw - pl) };
            (span, first)
        })
        .collect();
    for img in 0..g.n {
        for oc in 0..g.o {
            // With one input channel per group, output channel `oc` belongs to group oc / og.
            let plane = &xd[(img * g.c + oc / g.og) * plane_in..][..plane_in];
            let kernel = &wd[oc * taps..][..taps];
            let dst = &mut out[(img * g.o + oc) * plane_out..][..plane_out];
            for (oh, orow) in dst.chunks_exact_mut(g.wo).enumerate() {
                for (ki, rows) in row_ranges.iter().enumerate() {
                    if !rows.contains(&oh) {
                        continue;
                    }
                    let src = phased.load(&plane[(oh * sh + ki * dh - pt) * g.w..][..g.w]);
                    for (kj, (span, first)) in col_taps.iter().enumerate() {
                        let wv = kernel[ki * g.kw + kj];
                        let o = &mut orow[span.clone()];
                        let s = &src[*first..][..o.len()];
                        for (d, s) in o.iter_mut().zip(s) {
                            *d += wv * s;
                        }
                    }
                }
            }
        }
    }
}

/// An input row regrouped by stride phase (`row[p], row[p + s], row[p + 2s], …` for p = 0..s), so
/// a strided tap reads a contiguous, vectorizable run.
struct Phased {
    stride: usize,
    buf: Vec<f32>,
    /// Where each phase starts in `buf`.
    starts: Vec<usize>,
}

impl Phased {
    fn new(len: usize, stride: usize) -> Self {
        let starts = (0..stride).map(|p| (0..p).map(|q| (len + stride - 1 - q) / stride).sum()).collect();
        Phased { stride, buf: vec![0.0; if stride > 1 { len } else { 0 }], starts }
    }

    /// The regrouped row (the row itself when the stride is 1).
    fn load<'a>(&'a mut self, row: &'a [f32]) -> &'a [f32] {
        if self.stride == 1 {
            return row;
        }
        for (p, &start) in self.starts.iter().enumerate() {
            for (d, s) in self.buf[start..].iter_mut().zip(row.iter().skip(p).step_by(self.stride)) {
                *d = *s;
            }
        }
        &self.buf
    }

    /// Where element `i` of the original row sits in the regrouped one.
    fn offset(&self, i: usize) -> usize {
        self.starts[i % self.stride] + i / self.stride
    }
}
