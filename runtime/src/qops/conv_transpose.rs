//! qconv_transpose2d: the integer 2-D transposed convolution (NCHW, explicit pads). u8
//! activations, i8 weights per output channel (weight axis 1), i32 bias.
//!
//! How many taps reach an output position depends on the position (fewer at the borders), so the
//! zero point's cross term is no per-channel constant: the input is centred (`x − Z_x`) before
//! the products instead. Per image and group, the tiled dot products of [`super::igemm`] give
//! every tap's contribution (`Wᵀ·X`), and col2im adds them into an i32 accumulator.

use super::igemm::dot_all;
use super::Requant;
use crate::ops::geometry::valid_range;
use crate::ops::ConvTransposeParams;
use crate::DType;
use ndarray::{ArrayD, IxDyn};

/// `y[n, o, ·, ·] = requant_o(acc)` where every input pixel scatters its centred value times its
/// kernel:
/// `acc[n, g·O/G + o, i·sh + ki·dh − pt, j·sw + kj·dw − pl] += w[g·C/G + c, o, ki, kj] · (x[n, g·C/G + c, i, j] − Z_x)`,
/// starting from `b[o]`, modulo 2³²; contributions that land outside the output are dropped.
///
/// `x` is `[N, C, H, W]`, `w` is `[C, O/G, kh, kw]`, `b` is `[O]`; the output is `[N, O, Ho, Wo]`
/// with `Ho = (H − 1)·sh − pt − pb + dh·(kh − 1) + output_padding_h + 1`.
pub fn qconv_transpose2d(
    x: &ArrayD<u8>,
    x_zero_point: i32,
    w: &ArrayD<i8>,
    b: Option<&ArrayD<i32>>,
    p: &ConvTransposeParams,
    rq: &Requant,
) -> ArrayD<u8> {
    let (xs, ws) = (x.shape(), w.shape());
    assert!(
        xs.len() == 4 && ws.len() == 4,
        "qconv_transpose2d: input {xs:?} and weight {ws:?} must both be 4-D"
    );
    let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
    let (og, kh, kw) = (ws[1], ws[2], ws[3]);
    let groups = p.groups;
    assert!(
        groups > 0 && ws[0] == c && c % groups == 0,
        "qconv_transpose2d: input {xs:?} and weight {ws:?} do not fit {groups} groups"
    );
    assert!(
        p.strides.iter().chain(&p.dilations).all(|&v| v > 0),
        "qconv_transpose2d: strides {:?} and dilations {:?} must be positive",
        p.strides,
        p.dilations
    );
    assert!(
        (0..=255).contains(&x_zero_point),
        "qconv_transpose2d: input zero point {x_zero_point} is outside the u8 range"
    );
    let (cg, o) = (c / groups, og * groups);
    rq.check("qconv_transpose2d", o, DType::U8);
    let out_len = |axis: usize, len: usize, k: usize| -> usize {
        p.out_len(axis, len, k).unwrap_or_else(|| {
            panic!("qconv_transpose2d: input {xs:?}, weight {ws:?} and {p:?} give an empty output")
        })
    };
    let (ho, wo) = (out_len(0, h, kh), out_len(1, wd, kw));
    if let Some(b) = b {
        assert!(
            b.ndim() == 1 && b.len() == o,
            "qconv_transpose2d: bias {:?} does not match {o} output channels",
            b.shape()
        );
    }

    let x = x.as_standard_layout();
    let w = w.as_standard_layout();
    let (xd, wdat) = (
        x.as_slice().expect("standard layout"),
        w.as_slice().expect("standard layout"),
    );
    let (plane_in, plane_out) = (h * wd, ho * wo);
    // Row (o, ki, kj) of a group's weights, over its input channels: the transpose of the
    // group's [cg, og·kh·kw] block.
    let rows = og * kh * kw;
    let mut lhs = vec![0i16; groups * rows * cg];
    for grp in 0..groups {
        for ci in 0..cg {
            for r in 0..rows {
                lhs[(grp * rows + r) * cg + ci] = i16::from(wdat[(grp * cg + ci) * rows + r]);
            }
        }
    }
    let row_ranges: Vec<_> = (0..kh)
        .map(|ki| valid_range(h, ho, p.strides[0], p.pads[0], ki * p.dilations[0]))
        .collect();
    let col_ranges: Vec<_> = (0..kw)
        .map(|kj| valid_range(wd, wo, p.strides[1], p.pads[1], kj * p.dilations[1]))
        .collect();

    let mut acc = vec![0i32; o * plane_out];
    let mut out = vec![0u8; n * o * plane_out];
    // The group's centred input, one row per pixel over its channels.
    let mut rhs = vec![0i16; plane_in * cg];
    let mut cols = vec![0i32; rows * plane_in];
    for img in 0..n {
        for (plane, oc) in acc.chunks_exact_mut(plane_out).zip(0..) {
            plane.fill(b.map_or(0, |b| b[oc]));
        }
        for grp in 0..groups {
            let x_group = &xd[(img * c + grp * cg) * plane_in..][..cg * plane_in];
            for (ci, plane) in x_group.chunks_exact(plane_in).enumerate() {
                for (pix, &v) in plane.iter().enumerate() {
                    rhs[pix * cg + ci] = (i32::from(v) - x_zero_point) as i16;
                }
            }
            dot_all(
                rows,
                plane_in,
                cg,
                &lhs[grp * rows * cg..][..rows * cg],
                &rhs,
                |r, pix, v| cols[r * plane_in + pix] = v,
            );
            let acc_group = &mut acc[grp * og * plane_out..][..og * plane_out];
            let mut col_rows = cols.chunks_exact(plane_in);
            for dst in acc_group.chunks_exact_mut(plane_out) {
                for (ki, rr) in row_ranges.iter().enumerate() {
                    for (kj, span) in col_ranges.iter().enumerate() {
                        let col = col_rows
                            .next()
                            .expect("col2im: one row per output channel and tap");
                        for ih in rr.clone() {
                            let y = ih * p.strides[0] + ki * p.dilations[0] - p.pads[0];
                            for iw in span.clone() {
                                let xo = iw * p.strides[1] + kj * p.dilations[1] - p.pads[1];
                                let d = &mut dst[y * wo + xo];
                                *d = d.wrapping_add(col[ih * wd + iw]);
                            }
                        }
                    }
                }
            }
        }
        let dst = &mut out[img * o * plane_out..][..o * plane_out];
        for ((d, &a), i) in dst.iter_mut().zip(&acc).zip(0..) {
            *d = rq.apply(i / plane_out.max(1), a) as u8;
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[n, o, ho, wo]), out).expect("qconv_transpose2d: output size")
}
