//! The sliding-window attributes shared by Conv, ConvTranspose and the pools: 2-D strides,
//! dilations and pads, with ONNX's `auto_pad` resolved to explicit `[top, left, bottom, right]`.

use crate::diag::Result;
use crate::import::context::MAX_DIM;
use crate::import::node::OnnxNode;

/// Whether every value lies in `lo..=MAX_DIM` (larger ones would only come from a corrupt file,
/// and would overflow the size arithmetic).
fn within(v: &[i64], lo: i64) -> bool {
    v.iter().all(|&x| x >= lo && x <= MAX_DIM as i64)
}

/// How `auto_pad` asks for padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoPad {
    NotSet,
    Valid,
    SameUpper,
    SameLower,
}

pub fn auto_pad(n: &OnnxNode) -> Result<AutoPad> {
    let s = n.string("auto_pad")?.unwrap_or_else(|| "NOTSET".into());
    Ok(match s.as_str() {
        "NOTSET" | "" => AutoPad::NotSet,
        "VALID" => AutoPad::Valid,
        "SAME_UPPER" => AutoPad::SameUpper,
        "SAME_LOWER" => AutoPad::SameLower,
        other => {
            return Err(n.fail(format!(
                "has auto_pad `{other}`, which is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER"
            )))
        }
    })
}

/// A 2-element attribute of positive integers (`strides`, `dilations`), `[1, 1]` when absent.
pub fn pair(n: &OnnxNode, name: &str) -> Result<[i64; 2]> {
    match n.ints(name)? {
        None => Ok([1, 1]),
        Some(v) if v.len() == 2 && within(&v, 1) => Ok([v[0], v[1]]),
        Some(v) => Err(n.fail(format!(
            "has {name} {v:?}; a 2-D window needs two positive values"
        ))),
    }
}

/// A 2-element attribute of non-negative integers (`output_padding`), `[0, 0]` when absent.
pub fn pair0(n: &OnnxNode, name: &str) -> Result<[i64; 2]> {
    match n.ints(name)? {
        None => Ok([0, 0]),
        Some(v) if v.len() == 2 && within(&v, 0) => Ok([v[0], v[1]]),
        Some(v) => Err(n.fail(format!(
            "has {name} {v:?}; a 2-D window needs two non-negative values"
        ))),
    }
}

/// The explicit `pads` attribute, `[0, 0, 0, 0]` when absent.
pub fn explicit_pads(n: &OnnxNode) -> Result<[i64; 4]> {
    match n.ints("pads")? {
        None => Ok([0; 4]),
        Some(v) if v.len() == 4 && within(&v, 0) => Ok([v[0], v[1], v[2], v[3]]),
        Some(v) => Err(n.fail(format!("has pads {v:?}; a 2-D window needs four non-negative values [top, left, bottom, right]"))),
    }
}

/// Splits a total padding between the two ends: SAME_UPPER puts the odd one at the end,
/// SAME_LOWER at the beginning.
pub fn split(total: i64, upper: bool) -> (i64, i64) {
    let small = total / 2;
    if upper {
        (small, total - small)
    } else {
        (total - small, small)
    }
}

/// Pads of a convolution or pooling window over the spatial dims `hw` of its input.
/// SAME keeps `ceil(in / stride)` outputs, padding `(out − 1)·stride + (k − 1)·d + 1 − in`.
pub fn pads(
    n: &OnnxNode,
    hw: [usize; 2],
    kernel: [usize; 2],
    strides: [i64; 2],
    dilations: [i64; 2],
) -> Result<[i64; 4]> {
    let mode = auto_pad(n)?;
    Ok(match mode {
        AutoPad::NotSet => explicit_pads(n)?,
        AutoPad::Valid => [0; 4],
        AutoPad::SameUpper | AutoPad::SameLower => {
            let mut p = [0; 4];
            for i in 0..2 {
                let input = hw[i] as i64;
                let out = (input + strides[i] - 1) / strides[i];
                let eff = (kernel[i] as i64 - 1) * dilations[i] + 1;
                let total = ((out - 1) * strides[i] + eff - input).max(0);
                (p[i], p[i + 2]) = split(total, mode == AutoPad::SameUpper);
            }
            p
        }
    })
}

/// ConvTranspose's `output_shape`: the spatial size it asks for (a full `[N, C, H, W]` is accepted too).
pub fn output_shape(n: &OnnxNode) -> Result<Option<[i64; 2]>> {
    match n.ints("output_shape")? {
        None => Ok(None),
        Some(s) if s.len() >= 2 && within(&s[s.len() - 2..], 1) => {
            Ok(Some([s[s.len() - 2], s[s.len() - 1]]))
        }
        Some(s) => Err(n.fail(format!(
            "has output_shape {s:?}; a 2-D transposed convolution needs a positive [height, width]"
        ))),
    }
}

/// The kernel size: from the weight's shape, checked against `kernel_shape` when the node has it.
pub fn kernel_from_weight(n: &OnnxNode, w: &[usize]) -> Result<[usize; 2]> {
    let k = [w[2], w[3]];
    if let Some(ks) = n.ints("kernel_shape")? {
        if ks.len() != 2 || ks[0] != k[0] as i64 || ks[1] != k[1] as i64 {
            return Err(n.fail(format!(
                "has kernel_shape {ks:?}, but its weight's kernel is {k:?}"
            )));
        }
    }
    Ok(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_padding_goes_where_same_upper_and_lower_say() {
        assert_eq!(split(3, true), (1, 2));
        assert_eq!(split(3, false), (2, 1));
        assert_eq!(split(2, true), (1, 1));
        assert_eq!(split(0, false), (0, 0));
    }
}
