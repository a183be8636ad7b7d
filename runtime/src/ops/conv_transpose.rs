//! 2-D transposed convolution (ONNX ConvTranspose, NCHW, explicit pads): per image and group one
//! matrix product `Wᵀ·X` into a column buffer, then col2im scatters each column into the output.

use super::geometry::valid_range;
use super::sgemm::{sgemm, Mat, Store};
use super::ConvTransposeParams;
use ndarray::{ArrayD, IxDyn};

/// Every input pixel scatters its weighted kernel into the output:
/// `y[n, g·O/G + o, i·sh + ki·dh − pt, j·sw + kj·dw − pl] += x[n, g·C/G + c, i, j] · w[g·C/G + c, o, ki, kj]`,
/// plus `b[o]` everywhere; contributions that land outside the output are dropped.
///
/// `x` is `[N, C, H, W]`, `w` is `[C, O/G, kh, kw]`, `b` is `[O]`, and the output is
/// `[N, O, Ho, Wo]` with `Ho = (H − 1)·sh − pt − pb + dh·(kh − 1) + output_padding_h + 1`.
pub fn conv_transpose2d(
    x: &ArrayD<f32>,
    w: &ArrayD<f32>,
    b: Option<&ArrayD<f32>>,
    p: &ConvTransposeParams,
) -> ArrayD<f32> {
    let (xs, ws) = (x.shape(), w.shape());
    assert!(
        xs.len() == 4 && ws.len() == 4,
        "conv_transpose2d: input {xs:?} and weight {ws:?} must both be 4-D"
    );
    let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
    let (og, kh, kw) = (ws[1], ws[2], ws[3]);
    let groups = p.groups;
    assert!(
        groups > 0 && ws[0] == c && c % groups == 0,
        "conv_transpose2d: input {xs:?} and weight {ws:?} do not fit {groups} groups"
    );
    assert!(
        p.strides.iter().chain(&p.dilations).all(|&v| v > 0),
        "conv_transpose2d: strides {:?} and dilations {:?} must be positive",
        p.strides,
        p.dilations
    );
    let (cg, o) = (c / groups, og * groups);
    let out_len = |axis: usize, len: usize, k: usize| -> usize {
        p.out_len(axis, len, k).unwrap_or_else(|| {
            panic!("conv_transpose2d: input {xs:?}, weight {ws:?} and {p:?} give an empty output")
        })
    };
    let (ho, wo) = (out_len(0, h, kh), out_len(1, wd, kw));

    let x = x.as_standard_layout();
    let w = w.as_standard_layout();
    let (xd, wdat) = (
        x.as_slice().expect("standard layout"),
        w.as_slice().expect("standard layout"),
    );
    let (plane_in, plane_out) = (h * wd, ho * wo);
    let mut out = vec![0.0f32; n * o * plane_out];
    if let Some(b) = b {
        assert_eq!(
            b.len(),
            o,
            "conv_transpose2d: bias {:?} does not match {o} output channels",
            b.shape()
        );
        for (plane, &bv) in out.chunks_exact_mut(plane_out).zip(b.iter().cycle()) {
            plane.fill(bv);
        }
    }

    let rows = og * kh * kw;
    let mut cols = vec![0.0f32; rows * plane_in];
    let row_ranges: Vec<_> = (0..kh)
        .map(|ki| valid_range(h, ho, p.strides[0], p.pads[0], ki * p.dilations[0]))
        .collect();
    let col_ranges: Vec<_> = (0..kw)
        .map(|kj| valid_range(wd, wo, p.strides[1], p.pads[1], kj * p.dilations[1]))
        .collect();
    for img in 0..n {
        for grp in 0..groups {
            // The group's weights are a row-major [cg, og·kh·kw] block; read transposed.
            let w_group = &wdat[grp * cg * rows..][..cg * rows];
            let x_group = &xd[(img * c + grp * cg) * plane_in..][..cg * plane_in];
            let lhs = Mat {
                data: w_group,
                rs: 1,
                cs: rows,
            };
            sgemm(
                rows,
                plane_in,
                cg,
                lhs,
                Mat::rows(x_group, plane_in),
                &mut cols,
                plane_in,
                Store::Overwrite,
            );

            let out_group = &mut out[(img * o + grp * og) * plane_out..][..og * plane_out];
            let mut col_rows = cols.chunks_exact(plane_in);
            for dst in out_group.chunks_exact_mut(plane_out) {
                for (ki, rows) in row_ranges.iter().enumerate() {
                    for (kj, span) in col_ranges.iter().enumerate() {
                        let col = col_rows
                            .next()
                            .expect("col2im: one column row per output channel and tap");
                        scatter_tap(col, dst, (wd, wo), rows, span, (ki, kj), p);
                    }
                }
            }
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[n, o, ho, wo]), out).expect("conv_transpose2d: output size")
}

/// Adds one tap's contributions (`col[i·W + j]` for every input pixel) to its output plane.
fn scatter_tap(
    col: &[f32],
    dst: &mut [f32],
    (w, wo): (usize, usize),
    rows: &std::ops::Range<usize>,
    span: &std::ops::Range<usize>,
    (ki, kj): (usize, usize),
    p: &ConvTransposeParams,
) {
    let [sh, sw] = p.strides;
    let [dh, dw] = p.dilations;
    let (pt, pl) = (p.pads[0], p.pads[1]);
    if span.is_empty() {
        return;
    }
    for ih in rows.clone() {
        let y = ih * sh + ki * dh - pt;
        let src = &col[ih * w..][span.clone()];
        let x0 = span.start * sw + kj * dw - pl;
        let orow = &mut dst[y * wo..][..wo];
        if sw == 1 {
            for (d, s) in orow[x0..x0 + src.len()].iter_mut().zip(src) {
                *d += s;
            }
        } else {
            for (d, s) in orow[x0..].iter_mut().step_by(sw).zip(src) {
                *d += s;
            }
        }
    }
}
