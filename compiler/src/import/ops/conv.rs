//! Conv and ConvTranspose → `conv2d` and `conv_transpose2d`, with auto_pad and ConvTranspose's
//! `output_shape` resolved into explicit pads from the static input shape.

use super::attrs;
use super::window::{
    auto_pad, explicit_pads, kernel_from_weight, output_shape, pads, pair, pair0, split, AutoPad,
};
use crate::diag::Result;
use crate::import::context::{Importer, Val};
use crate::import::node::OnnxNode;
use crate::ir::{Attr, NodeId, OpKind};
use runtime::ops::geometry::conv_transpose_full_len;

/// The input, weight and optional bias of a convolution, checked to be 2-D.
fn operands(cx: &mut Importer, n: &OnnxNode) -> Result<(Vec<NodeId>, Vec<usize>, Vec<usize>)> {
    let x = cx.operand(n, 0, "the input")?;
    let w = cx.operand(n, 1, "the weight")?;
    let b = cx.operand_opt(n, 2)?;
    let (xs, ws) = (cx.ty(x).shape.clone(), cx.ty(w).shape.clone());
    if xs.len() != 4 || ws.len() != 4 {
        return Err(n.fail(format!(
            "has an input of shape {xs:?} and a weight of shape {ws:?}; qcc supports 2-D convolutions only (both of rank 4)"
        )));
    }
    let mut ops = vec![x, w];
    ops.extend(b);
    Ok((ops, xs, ws))
}

fn group(n: &OnnxNode) -> Result<i64> {
    match n.int_or("group", 1)? {
        g if g >= 1 => Ok(g),
        g => Err(n.fail(format!("has group = {g}; it must be positive"))),
    }
}

pub fn conv(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    if super::lift::is_1d(cx, n)? {
        return super::lift::one_d(cx, n, conv, true);
    }
    let (ops, xs, ws) = operands(cx, n)?;
    let kernel = kernel_from_weight(n, &ws)?;
    let strides = pair(n, "strides")?;
    let dilations = pair(n, "dilations")?;
    let pads = pads(n, [xs[2], xs[3]], kernel, strides, dilations)?;
    let a = attrs([
        ("strides", Attr::Ints(strides.to_vec())),
        ("pads", Attr::Ints(pads.to_vec())),
        ("dilations", Attr::Ints(dilations.to_vec())),
        ("groups", Attr::Int(group(n)?)),
    ]);
    let out = n.output()?;
    let id = cx.emit(n, out, OpKind::Conv2d, a, &ops)?;
    cx.define(out, Val::Node(id));
    Ok(())
}

/// ONNX sizes a transposed convolution's output as
/// `full = stride·(in − 1) + output_padding + (k − 1)·d + 1`, minus the pads; an `output_shape`
/// (or SAME, which asks for `in·stride`) fixes the output and so the total padding.
pub fn conv_transpose(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let (ops, xs, ws) = operands(cx, n)?;
    let kernel = kernel_from_weight(n, &ws)?;
    let strides = pair(n, "strides")?;
    let dilations = pair(n, "dilations")?;
    let output_padding = pair0(n, "output_padding")?;
    let mode = auto_pad(n)?;
    // Every value is positive (checked above, and bounded by MAX_DIM), so the length fits i64.
    let full = |i: usize| {
        conv_transpose_full_len(
            xs[2 + i],
            kernel[i],
            strides[i] as usize,
            dilations[i] as usize,
            output_padding[i] as usize,
        )
        .map_or(0, |v| v as i64)
    };
    let target: Option<[i64; 2]> = match output_shape(n)? {
        Some(t) => Some(t),
        None if matches!(mode, AutoPad::SameUpper | AutoPad::SameLower) => {
            Some([xs[2] as i64 * strides[0], xs[3] as i64 * strides[1]])
        }
        None => None,
    };
    let pads = match (target, mode) {
        (Some(t), _) => {
            let mut p = [0i64; 4];
            for i in 0..2 {
                let total = full(i) - t[i];
                if total < 0 {
                    return Err(n.fail(format!(
                        "asks for an output of {t:?}, larger than the full transposed convolution ({} x {}); qcc cannot pad it further",
                        full(0),
                        full(1)
                    )));
                }
                (p[i], p[i + 2]) = split(total, mode == AutoPad::SameUpper);
            }
            p
        }
        (None, AutoPad::Valid) => [0; 4],
        (None, _) => explicit_pads(n)?,
    };
    let a = attrs([
        ("strides", Attr::Ints(strides.to_vec())),
        ("pads", Attr::Ints(pads.to_vec())),
        ("dilations", Attr::Ints(dilations.to_vec())),
        ("groups", Attr::Int(group(n)?)),
        ("output_padding", Attr::Ints(output_padding.to_vec())),
    ]);
    let out = n.output()?;
    let id = cx.emit(n, out, OpKind::ConvTranspose2d, a, &ops)?;
    cx.define(out, Val::Node(id));
    Ok(())
}
