//! Sliding-window arithmetic shared by convolution, transposed convolution and pooling.

use std::ops::Range;

/// Output length of a convolution along one axis:
/// `⌊(len + pad_begin + pad_end − dil·(k−1) − 1) / stride⌋ + 1`.
pub fn conv_out_len(
    op: &str,
    len: usize,
    k: usize,
    stride: usize,
    pads: (usize, usize),
    dil: usize,
) -> usize {
    assert!(
        stride > 0 && dil > 0 && k > 0,
        "{op}: kernel {k}, stride {stride} and dilation {dil} must be positive"
    );
    let span = dil * (k - 1) + 1;
    let padded = len + pads.0 + pads.1;
    assert!(
        padded >= span,
        "{op}: padded input length {padded} is shorter than the dilated kernel {span}"
    );
    (padded - span) / stride + 1
}

/// The uncropped output length of a transposed convolution along one axis (every position a tap
/// of some input reaches, plus `output_padding`): `(len − 1)·stride + dil·(k − 1) + 1 +
/// output_padding`. `None` for an empty input or kernel, or a length past `usize`.
pub fn conv_transpose_full_len(
    len: usize,
    k: usize,
    stride: usize,
    dil: usize,
    output_padding: usize,
) -> Option<usize> {
    if len == 0 || k == 0 {
        return None;
    }
    (len - 1)
        .checked_mul(stride)?
        .checked_add(dil.checked_mul(k - 1)?)?
        .checked_add(1 + output_padding)
}

/// Output length of a transposed convolution along one axis: the full length
/// ([`conv_transpose_full_len`]) cropped by `pads` at both ends. `None` when nothing is left.
pub fn conv_transpose_out_len(
    len: usize,
    k: usize,
    stride: usize,
    pads: (usize, usize),
    dil: usize,
    output_padding: usize,
) -> Option<usize> {
    conv_transpose_full_len(len, k, stride, dil, output_padding)?
        .checked_sub(pads.0.checked_add(pads.1)?)
        .filter(|&v| v > 0)
}

/// Output length of a pooling window along one axis, ONNX/PyTorch rules: with `ceil_mode` the
/// division rounds up, but a window that would start beyond the input and its begin padding
/// (it would see only end padding) is dropped.
pub fn pool_out_len(
    op: &str,
    len: usize,
    k: usize,
    stride: usize,
    pads: (usize, usize),
    dil: usize,
    ceil_mode: bool,
) -> usize {
    assert!(
        stride > 0 && dil > 0 && k > 0,
        "{op}: kernel {k}, stride {stride} and dilation {dil} must be positive"
    );
    let span = dil * (k - 1) + 1;
    let padded = len + pads.0 + pads.1;
    assert!(
        padded >= span,
        "{op}: padded input length {padded} is shorter than the dilated kernel {span}"
    );
    let mut out = if ceil_mode {
        (padded - span).div_ceil(stride) + 1
    } else {
        (padded - span) / stride + 1
    };
    if ceil_mode && (out - 1) * stride >= len + pads.0 {
        out -= 1;
    }
    out
}

/// The positions `o` in `0..count` whose tap `o·stride + offset − pad` falls inside `0..len`.
///
/// For a convolution `o` is an output position and `len` the input length; for a transposed
/// convolution the roles swap (`o` runs over input positions, `len` is the output length).
pub(crate) fn valid_range(
    count: usize,
    len: usize,
    stride: usize,
    pad: usize,
    offset: usize,
) -> Range<usize> {
    // o·stride + offset ≥ pad
    let lo = if pad > offset {
        (pad - offset).div_ceil(stride)
    } else {
        0
    };
    // o·stride + offset − pad ≤ len − 1
    let hi = if len + pad > offset {
        ((len - 1 + pad - offset) / stride + 1).min(count)
    } else {
        0
    };
    lo.min(hi)..hi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_range_matches_brute_force() {
        for count in 0..7 {
            for len in 1..6 {
                for stride in 1..4 {
                    for pad in 0..4 {
                        for offset in 0..6 {
                            let want: Vec<usize> = (0..count)
                                .filter(|&o| {
                                    let t = (o * stride + offset) as isize - pad as isize;
                                    t >= 0 && t < len as isize
                                })
                                .collect();
                            let got: Vec<usize> =
                                valid_range(count, len, stride, pad, offset).collect();
                            assert_eq!(
                                got, want,
                                "count {count} len {len} stride {stride} pad {pad} offset {offset}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn ceil_mode_keeps_partial_windows_but_not_ones_in_end_padding() {
        // len 5, k 2, stride 2: the ceil-mode third window starts at 4 and sees the last cell.
        assert_eq!(pool_out_len("t", 5, 2, 2, (0, 0), 1, false), 2);
        assert_eq!(pool_out_len("t", 5, 2, 2, (0, 0), 1, true), 3);
        // len 4, k 2, stride 2, end pad 1: a third window would start at 4, in the end padding.
        assert_eq!(pool_out_len("t", 4, 2, 2, (0, 1), 1, true), 2);
        // Begin padding shifts the limit: len 4, pads (1, 1): the third window starts at 3 (input).
        assert_eq!(pool_out_len("t", 4, 2, 2, (1, 1), 1, true), 3);
    }
}

/// Every dimension of one 2-D convolution, checked once: shared by the float and the integer
/// kernels so that both agree on what a convolution's shape means.
pub(crate) struct ConvGeometry {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub groups: usize,
    /// Input and output channels per group.
    pub cg: usize,
    pub og: usize,
    pub kh: usize,
    pub kw: usize,
    pub ho: usize,
    pub wo: usize,
    pub p: super::ConvParams,
}

impl ConvGeometry {
    /// Checks the shapes of input `xs` and weight `ws` against `p`; `op` names the caller in the
    /// panic message a caller bug gets.
    pub fn new(op: &str, xs: &[usize], ws: &[usize], p: &super::ConvParams) -> Self {
        assert!(
            xs.len() == 4 && ws.len() == 4,
            "{op}: input {xs:?} and weight {ws:?} must both be 4-D"
        );
        let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
        let (o, cg, kh, kw) = (ws[0], ws[1], ws[2], ws[3]);
        let groups = p.groups;
        assert!(
            groups > 0 && cg * groups == c && o % groups == 0,
            "{op}: input {xs:?} and weight {ws:?} do not fit {groups} groups"
        );
        assert!(
            h > 0 && w > 0,
            "{op}: input {xs:?} has an empty spatial axis"
        );
        let ho = conv_out_len(
            op,
            h,
            kh,
            p.strides[0],
            (p.pads[0], p.pads[2]),
            p.dilations[0],
        );
        let wo = conv_out_len(
            op,
            w,
            kw,
            p.strides[1],
            (p.pads[1], p.pads[3]),
            p.dilations[1],
        );
        ConvGeometry {
            n,
            c,
            h,
            w,
            o,
            groups,
            cg,
            og: o / groups,
            kh,
            kw,
            ho,
            wo,
            p: p.clone(),
        }
    }

    /// A 1×1 kernel that neither strides nor pads reads the input planes as they are.
    pub fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.p.strides == [1, 1] && self.p.pads == [0; 4]
    }

    /// Height and width of the input once padded.
    pub fn padded(&self) -> (usize, usize) {
        (
            self.h + self.p.pads[0] + self.p.pads[2],
            self.w + self.p.pads[1] + self.p.pads[3],
        )
    }
}

/// The taps of one window along one axis: those inside the input (as input indices) and how many
/// lie inside the padded input.
#[derive(Clone)]
pub struct AxisWindow {
    pub inside: Vec<usize>,
    pub padded: usize,
}

pub fn axis_windows(
    op: &str,
    len: usize,
    k: usize,
    stride: usize,
    pads: (usize, usize),
    dil: usize,
    ceil_mode: bool,
) -> Vec<AxisWindow> {
    let out = pool_out_len(op, len, k, stride, pads, dil, ceil_mode);
    (0..out)
        .map(|o| {
            // Positions are shifted by the begin padding so they stay non-negative.
            let taps = (0..k).map(|t| o * stride + t * dil);
            let inside = taps
                .clone()
                .filter(|&q| q >= pads.0 && q < pads.0 + len)
                .map(|q| q - pads.0)
                .collect();
            let padded = taps.filter(|&q| q < pads.0 + len + pads.1).count();
            AxisWindow { inside, padded }
        })
        .collect()
}
