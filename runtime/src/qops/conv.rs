//! qconv2d: the integer 2-D convolution (NCHW). u8 (or, for chosen sensitive tensors, i16)
//! activations, i8 weights per output channel, i32 bias; i32 accumulation, then one
//! requantization per output channel.
//!
//! The input's zero point moves into the bias (`b − Z_x·Σw`, the weights being constant), so the
//! products are of raw codes; padding then holds `Z_x`, the code of 0.0. Grouped convolutions
//! go through an im2row buffer (per output position, its taps ordered (ki, kj, c), so a tap is a
//! contiguous run of channels of an HWC copy of the input) and the tiled dot products of
//! [`super::igemm`]; depthwise convolutions have a direct loop.

use super::igemm::dot_all;
use super::simd::{dispatch, Kernel};
use super::Requant;
use crate::ops::geometry::ConvGeometry;
use crate::ops::ConvParams;
use crate::DType;
use ndarray::{ArrayD, IxDyn};

/// `y[n, o, i, j] = requant_o(acc)` with
/// `acc = b[o] + Σ_{c, ki, kj} w[o, c, ki, kj] · (x̃[n, g·C/G + c, i·sh + ki·dh − pt, j·sw + kj·dw − pl] − Z_x)`
/// modulo 2³², where `g = o / (O/G)`, `x̃` is `x` inside the input and `Z_x` in the padding, and
/// `requant_o(acc) = clamp(Z_y + multiply_by_quantized_multiplier(acc, M₀[o], shift[o]), lo, hi)`.
///
/// `x` is `[N, C, H, W]`, `w` is `[O, C/G, kh, kw]`, `b` is `[O]`; `rq` has one pair per tensor or
/// per output channel.
pub fn qconv2d<T: ActivationCode>(
    x: &ArrayD<T>,
    x_zero_point: i32,
    w: &ArrayD<i8>,
    b: Option<&ArrayD<i32>>,
    p: &ConvParams,
    rq: &Requant,
) -> ArrayD<u8> {
    qconv2d_banded(x, x_zero_point, w, b, p, rq, COLS_BUDGET)
}

/// [`qconv2d`] with an im2row buffer of at most `cols_budget` elements (unless one output row
/// needs more); tests shrink it to exercise the banding.
pub(crate) fn qconv2d_banded<T: ActivationCode>(
    x: &ArrayD<T>,
    x_zero_point: i32,
    w: &ArrayD<i8>,
    b: Option<&ArrayD<i32>>,
    p: &ConvParams,
    rq: &Requant,
    cols_budget: usize,
) -> ArrayD<u8> {
    let g = Geometry::new("qconv2d", x.shape(), w.shape(), p);
    assert!(
        (T::MIN..=T::MAX).contains(&x_zero_point),
        "qconv2d: input zero point {x_zero_point} is outside the {} range",
        T::DTYPE
    );
    rq.check("qconv2d", g.o, DType::U8);
    let x = x.as_standard_layout();
    let w = w.as_standard_layout();
    let (xd, wd) = (
        x.as_slice().expect("standard layout"),
        w.as_slice().expect("standard layout"),
    );
    let bias = folded_bias(wd, b, x_zero_point, g.o, "qconv2d");
    let mut out = vec![0u8; g.n * g.o * g.ho * g.wo];
    if let (Some(xd), true) = (T::as_u8(xd), g.cg == 1 && g.groups > 1) {
        depthwise(&g, xd, wd, x_zero_point as i16, &bias, rq, &mut out);
    } else {
        by_dot_products(
            &g,
            xd,
            wd,
            x_zero_point as i16,
            &bias,
            rq,
            &mut out,
            cols_budget,
        );
    }
    ArrayD::from_shape_vec(IxDyn(&[g.n, g.o, g.ho, g.wo]), out).expect("qconv2d: output size")
}

/// `b[o] − Z_x · Σ w[o, …]` modulo 2³² for each of the `o` rows of `w` (`b` absent: 0): the
/// accumulator's starting value when the products are of raw codes.
pub(crate) fn folded_bias<T: Copy + Into<i32>>(
    w: &[T],
    b: Option<&ArrayD<i32>>,
    z: i32,
    o: usize,
    op: &str,
) -> Vec<i32> {
    if let Some(b) = b {
        assert!(
            b.ndim() == 1 && b.len() == o,
            "{op}: bias {:?} does not match {o} output channels",
            b.shape()
        );
    }
    let row = w.len().checked_div(o).unwrap_or(0);
    (0..o)
        .map(|oc| {
            let sum: i32 = w[oc * row..][..row]
                .iter()
                .map(|&v| v.into())
                .fold(0, i32::wrapping_add);
            b.map_or(0, |b| b[oc]).wrapping_sub(z.wrapping_mul(sum))
        })
        .collect()
}

type Geometry = ConvGeometry;

/// The storage of a convolution's activation codes: u8, or i16 for a tensor given 16 bits.
/// Either is read as i16, the element type of the im2row buffer and of `vpmaddwd`: an i16·i8
/// product has at most 2²² in magnitude, so pairs never leave i32 and the sum is exact mod 2³².
pub trait ActivationCode: Copy + Into<i16> + Sync {
    const DTYPE: DType;
    const MIN: i32;
    const MAX: i32;
    /// The codes as u8, for the depthwise loop whose products must fit in i16.
    fn as_u8(codes: &[Self]) -> Option<&[u8]>;
}

impl ActivationCode for u8 {
    const DTYPE: DType = DType::U8;
    const MIN: i32 = 0;
    const MAX: i32 = 255;
    fn as_u8(codes: &[u8]) -> Option<&[u8]> {
        Some(codes)
    }
}

impl ActivationCode for i16 {
    const DTYPE: DType = DType::I16;
    const MIN: i32 = i16::MIN as i32;
    const MAX: i32 = i16::MAX as i32;
    fn as_u8(_: &[i16]) -> Option<&[u8]> {
        None
    }
}

/// The im2row buffer holds at most this many i16 (unless one output row needs more), so a band
/// of output rows stays in L2 and large images do not blow memory.
const COLS_BUDGET: usize = 1 << 17;

/// Per image and group: an HWC copy of the group's padded input, im2row over bands of output
/// rows, and the dot products of each weight row with each im2row row. Rows are zero-padded to a
/// multiple of 16 taps, the width of one AVX2 multiply-add step (zero weights add nothing).
#[allow(clippy::too_many_arguments)]
fn by_dot_products<T: ActivationCode>(
    g: &Geometry,
    xd: &[T],
    wd: &[i8],
    z: i16,
    bias: &[i32],
    rq: &Requant,
    out: &mut [u8],
    cols_budget: usize,
) {
    let k = g.cg * g.kh * g.kw;
    // The HWC input is the im2row matrix itself when rows need no padding.
    let direct = g.is_pointwise() && g.cg.is_multiple_of(16);
    let kp = if direct { k } else { k.next_multiple_of(16) };
    let plane_out = g.ho * g.wo;
    // Weights as rows over (ki, kj, c), the order of an im2row row.
    let mut packed = vec![0i16; g.o * kp];
    for (oc, dst) in packed.chunks_exact_mut(kp.max(1)).enumerate().take(g.o) {
        for c in 0..g.cg {
            for t in 0..g.kh * g.kw {
                dst[t * g.cg + c] = i16::from(wd[(oc * g.cg + c) * g.kh * g.kw + t]);
            }
        }
    }
    let band = if direct {
        g.ho
    } else {
        (cols_budget / (kp * g.wo).max(1)).clamp(1, g.ho)
    };
    let mut cols = if direct {
        Vec::new()
    } else {
        vec![0i16; kp * band * g.wo]
    };
    let mut image = Vec::new();
    let mut accs = vec![0i32; g.og * band * g.wo];
    for img in 0..g.n {
        for grp in 0..g.groups {
            let x_group = &xd[(img * g.c + grp * g.cg) * g.h * g.w..][..g.cg * g.h * g.w];
            padded_hwc(g, x_group, z, &mut image);
            let lhs = &packed[grp * g.og * kp..][..g.og * kp];
            let bias = &bias[grp * g.og..][..g.og];
            let dst = &mut out[(img * g.o + grp * g.og) * plane_out..][..g.og * plane_out];
            for first_row in (0..g.ho).step_by(band) {
                let rows = band.min(g.ho - first_row);
                let positions = rows * g.wo;
                let rhs = if direct {
                    &image[..]
                } else {
                    im2row(
                        g,
                        &image,
                        first_row..first_row + rows,
                        kp,
                        &mut cols[..positions * kp],
                    );
                    &cols[..positions * kp]
                };
                let accs = &mut accs[..g.og * positions];
                dot_all(g.og, positions, kp, lhs, rhs, |o, pos, acc| {
                    accs[o * positions + pos] = acc
                });
                for (o, run) in accs.chunks_exact(positions).enumerate() {
                    rq.apply_run(
                        grp * g.og + o,
                        bias[o],
                        run,
                        &mut dst[o * plane_out + first_row * g.wo..][..positions],
                    );
                }
            }
        }
    }
}

/// `image[(y·Wp + x)·cg + c]` = channel `c` of the group's input at padded position `(y, x)`,
/// `z` in the padding.
fn padded_hwc<T: ActivationCode>(g: &Geometry, x_group: &[T], z: i16, image: &mut Vec<i16>) {
    let (hp, wp) = g.padded();
    image.clear();
    image.resize(hp * wp * g.cg, z);
    let (pt, pl) = (g.p.pads[0], g.p.pads[1]);
    for (c, plane) in x_group.chunks_exact(g.h * g.w).enumerate() {
        for (y, row) in plane.chunks_exact(g.w).enumerate() {
            let dst = &mut image[((y + pt) * wp + pl) * g.cg + c..];
            for (x, &v) in row.iter().enumerate() {
                dst[x * g.cg] = v.into();
            }
        }
    }
}

/// Row `(oh − first)·Wo + ow` of `cols` (rows of `kp` elements) gets, for each tap `(ki, kj)` in
/// turn, the `cg` channels the tap reads at output position `(oh, ow)`, then zeros up to `kp`.
fn im2row(
    g: &Geometry,
    image: &[i16],
    out_rows: std::ops::Range<usize>,
    kp: usize,
    cols: &mut [i16],
) {
    let (_, wp) = g.padded();
    let ([sh, sw], [dh, dw]) = (g.p.strides, g.p.dilations);
    let k = g.cg * g.kh * g.kw;
    let mut rows = cols.chunks_exact_mut(kp);
    for oh in out_rows {
        for ow in 0..g.wo {
            let dst = rows.next().expect("im2row: one row per output position");
            for ki in 0..g.kh {
                let at = ((oh * sh + ki * dh) * wp + ow * sw) * g.cg;
                let dst = &mut dst[ki * g.kw * g.cg..][..g.kw * g.cg];
                if dw == 1 {
                    // Without dilation the row's taps are neighbours in the HWC image: one run.
                    dst.copy_from_slice(&image[at..][..g.kw * g.cg]);
                } else {
                    for (kj, d) in dst.chunks_exact_mut(g.cg.max(1)).enumerate() {
                        d.copy_from_slice(&image[at + kj * dw * g.cg..][..g.cg]);
                    }
                }
            }
            dst[k..].fill(0);
        }
    }
}

/// One input channel per group: each output row is a weighted sum of shifted input rows,
/// accumulated in i32 (each product `w·x` fits in i16: |w| ≤ 128, 0 ≤ x ≤ 255).
fn depthwise(
    g: &Geometry,
    xd: &[u8],
    wd: &[i8],
    z: i16,
    bias: &[i32],
    rq: &Requant,
    out: &mut [u8],
) {
    dispatch(Depthwise {
        g,
        xd,
        wd,
        z,
        bias,
        rq,
        out,
    });
}

struct Depthwise<'a> {
    g: &'a Geometry,
    xd: &'a [u8],
    wd: &'a [i8],
    z: i16,
    bias: &'a [i32],
    rq: &'a Requant,
    out: &'a mut [u8],
}

impl Kernel for Depthwise<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self, _wide: bool) {
        let Depthwise {
            g,
            xd,
            wd,
            z,
            bias,
            rq,
            out,
        } = self;
        let ([sh, sw], [dh, dw]) = (g.p.strides, g.p.dilations);
        let (pt, pl) = (g.p.pads[0], g.p.pads[1]);
        let (hp, wp) = g.padded();
        let (plane_in, plane_out, taps) = (g.h * g.w, g.ho * g.wo, g.kh * g.kw);
        // Padded input rows regrouped by stride phase, `row[p], row[p + sw], row[p + 2·sw], …` for
        // p = 0..sw: the taps of one kernel column along an output row are then contiguous.
        let mut starts = Vec::with_capacity(sw);
        let mut at = 0;
        for phase in 0..sw {
            starts.push(at);
            at += (wp + sw - 1 - phase.min(wp)) / sw;
        }
        let regrouped = |x: usize| starts[x % sw] + x / sw;
        let mut plane = vec![z; hp * wp];
        let mut acc = vec![0i32; g.wo];
        for img in 0..g.n {
            for oc in 0..g.o {
                // With one input channel per group, output channel `oc` reads channel oc / og. The
                // padding of `plane` keeps `z` from its creation: only the inside is overwritten.
                let src = &xd[(img * g.c + oc / g.og) * plane_in..][..plane_in];
                for (y, row) in src.chunks_exact(g.w).enumerate() {
                    let dst = &mut plane[(y + pt) * wp..][..wp];
                    if sw == 1 {
                        for (d, &v) in dst[pl..].iter_mut().zip(row) {
                            *d = i16::from(v);
                        }
                        continue;
                    }
                    for (phase, &start) in starts.iter().enumerate() {
                        // The first padded column of this phase inside the input, and onwards.
                        let first = pl + (phase + sw - pl % sw) % sw;
                        if first >= pl + g.w {
                            continue;
                        }
                        for (d, &v) in dst[start + first / sw..]
                            .iter_mut()
                            .zip(row[first - pl..].iter().step_by(sw))
                        {
                            *d = i16::from(v);
                        }
                    }
                }
                let kernel = &wd[oc * taps..][..taps];
                let dst = &mut out[(img * g.o + oc) * plane_out..][..plane_out];
                for (oh, orow) in dst.chunks_exact_mut(g.wo).enumerate() {
                    acc.fill(bias[oc]);
                    for ki in 0..g.kh {
                        let row = &plane[(oh * sh + ki * dh) * wp..][..wp];
                        for kj in 0..g.kw {
                            let wv = i16::from(kernel[ki * g.kw + kj]);
                            for (a, &v) in acc.iter_mut().zip(&row[regrouped(kj * dw)..][..g.wo]) {
                                *a = a.wrapping_add(i32::from(wv * v));
                            }
                        }
                    }
                    rq.apply_run(oc, 0, &acc, orow);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic codes from a seed.
    fn filled<T>(shape: &[usize], seed: u32, f: impl Fn(u32) -> T) -> ArrayD<T> {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(7);
        ArrayD::from_shape_fn(IxDyn(shape), |_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            f(s >> 8)
        })
    }

    /// Banding only changes which output rows one product covers: bands of one row, of a few
    /// rows with a shorter last band, and a single band agree.
    #[test]
    fn im2row_bands_agree_with_one_band() {
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
                [5, 3, 2, 3],
                ConvParams {
                    strides: [2, 3],
                    pads: [0, 1, 2, 0],
                    dilations: [2, 1],
                    groups: 1,
                },
            ),
        ];
        for (xs, ws, p) in cases {
            let (x, w, b) = (
                filled(&xs, 1, |v| v as u8),
                filled(&ws, 2, |v| v as i8),
                filled(&[ws[0]], 3, |v| (v % 5000) as i32 - 2500),
            );
            let rq = Requant {
                multiplier: vec![1 << 30],
                shift: vec![-6],
                zero_point: 100,
                lo: 0,
                hi: 255,
            };
            let whole = qconv2d_banded(&x, 37, &w, Some(&b), &p, &rq, usize::MAX);
            let row = (ws[1] * ws[2] * ws[3]).next_multiple_of(16) * whole.shape()[3];
            for budget in [1, 3 * row] {
                assert_eq!(
                    qconv2d_banded(&x, 37, &w, Some(&b), &p, &rq, budget),
                    whole,
                    "budget {budget}"
                );
            }
        }
    }
}
