//! Softmax and ReduceMean, whose axis conventions changed across opsets (Softmax at 13,
//! ReduceMean's axes from attribute to input at 18).

use super::attrs;
use crate::diag::Result;
use crate::import::context::{Importer, Val};
use crate::import::node::OnnxNode;
use crate::ir::{Attr, OpKind};

/// From opset 13 Softmax normalises one axis (default the last). Before, it coerced its input to
/// 2-D at `axis` (default 1) and normalised the second dimension: for the last axis that is the
/// same thing, otherwise it is flatten → softmax → reshape back.
pub fn softmax(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.operand(n, 0, "the input")?;
    let shape = cx.ty(x).shape.clone();
    let rank = shape.len();
    let out = n.output()?;
    let default = if n.opset < 13 { 1 } else { -1 };
    let axis = n.axis(n.int_or("axis", default)?, rank, "axis")?;
    let id = if n.opset >= 13 || axis + 1 == rank {
        cx.emit(
            n,
            out,
            OpKind::Softmax,
            attrs([("axis", Attr::Int(axis as i64))]),
            &[x],
        )?
    } else {
        let flat = cx.emit(
            n,
            &format!("{out}.flat"),
            OpKind::Flatten,
            attrs([("axis", Attr::Int(axis as i64))]),
            &[x],
        )?;
        let soft = cx.emit(
            n,
            &format!("{out}.softmax"),
            OpKind::Softmax,
            attrs([("axis", Attr::Int(1))]),
            &[flat],
        )?;
        let back = shape.iter().map(|&d| d as i64).collect();
        cx.emit(
            n,
            out,
            OpKind::Reshape,
            attrs([("shape", Attr::Ints(back))]),
            &[soft],
        )?
    };
    cx.define(out, Val::Node(id));
    Ok(())
}

/// Axes come from an attribute before opset 18 and from an optional constant input after; no
/// axes means all of them, unless `noop_with_empty_axes` (18+) makes the op an identity.
pub fn reduce_mean(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.operand(n, 0, "the input")?;
    let rank = cx.ty(x).rank();
    let out = n.output()?;
    let given = if n.opset < 18 {
        n.ints("axes")?
    } else {
        cx.constant_ints(n, 1, "axes")?
    };
    let given = given.filter(|a| !a.is_empty());
    let mut axes = match given {
        Some(a) => n.axes(&a, rank, "axes")?,
        None if n.opset >= 18 && n.int_or("noop_with_empty_axes", 0)? != 0 => {
            cx.define(out, Val::Node(x));
            return Ok(());
        }
        None => (0..rank).collect(),
    };
    axes.sort_unstable();
    let keepdims = n.int_or("keepdims", 1)? != 0;
    let a = attrs([
        ("axes", Attr::Ints(axes.iter().map(|&a| a as i64).collect())),
        ("keepdims", Attr::Bool(keepdims)),
    ]);
    let id = cx.emit(n, out, OpKind::ReduceMean, a, &[x])?;
    cx.define(out, Val::Node(id));
    Ok(())
}
