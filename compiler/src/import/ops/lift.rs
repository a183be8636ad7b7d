//! 1-D convolutions and pools as their 2-D forms over a height of 1: the input (and a
//! convolution's weight) gain an axis of length 1 before the spatial one, the window attributes
//! a leading 1 (the pads a leading 0 at each end), and the result loses the axis again. Every
//! later stage (integer forms, kernels on every tier) is then the 2-D one's.

use super::{attrs, Converter};
use crate::diag::Result;
use crate::import::context::{Importer, Val};
use crate::import::node::OnnxNode;
use crate::ir::{Attr, NodeId, OpKind};
use std::sync::Arc;

/// Whether input 0 of `n` is 1-D data: rank 3, `[N, C, L]`.
pub fn is_1d(cx: &mut Importer, n: &OnnxNode) -> Result<bool> {
    Ok(match cx.required(n, 0, "the input")? {
        Val::Node(id) => cx.ty(id).rank() == 3,
        _ => false,
    })
}

/// Value `i` of `n` with an axis of length 1 inserted at 2, bound under a fresh ONNX-side name
/// (a constant stays a constant, so a weight is still a weight).
fn lifted_input(cx: &mut Importer, n: &OnnxNode, i: usize, what: &str) -> Result<String> {
    let out = n.output()?;
    let name = format!("{out}.lifted{i}");
    let v = match cx.required(n, i, what)? {
        Val::Const(c) => {
            let mut shape = c.shape().to_vec();
            shape.insert(2.min(shape.len()), 1);
            let c = c
                .reshape(&shape)
                .map_err(|m| n.fail(format!("cannot lift {what} to 2-D: {m}")))?;
            Val::Const(Arc::new(c))
        }
        _ => {
            let id = cx.operand(n, i, what)?;
            Val::Node(unsqueeze(cx, n, &name, id)?)
        }
    };
    cx.define(&name, v);
    Ok(name)
}

fn unsqueeze(cx: &mut Importer, n: &OnnxNode, name: &str, x: NodeId) -> Result<NodeId> {
    cx.emit(
        n,
        name,
        OpKind::Unsqueeze,
        attrs([("axes", Attr::Ints(vec![2]))]),
        &[x],
    )
}

/// Converts 1-D node `n` with the 2-D converter `convert`; `weight` lifts input 1 too.
pub fn one_d(cx: &mut Importer, n: &OnnxNode, convert: Converter, weight: bool) -> Result<()> {
    let out = n.output()?;
    let mut p = n.proto.clone();
    for a in p.attribute.iter_mut() {
        match a.name.as_str() {
            "kernel_shape" | "strides" | "dilations" if a.ints.len() == 1 => a.ints.insert(0, 1),
            "pads" if a.ints.len() == 2 => a.ints = vec![0, a.ints[0], 0, a.ints[1]],
            _ => {}
        }
    }
    p.input[0] = lifted_input(cx, n, 0, "the input")?;
    if weight {
        p.input[1] = lifted_input(cx, n, 1, "the weight")?;
    }
    let wide = format!("{out}.2d");
    p.output[0] = wide.clone();
    let lifted = OnnxNode::new(&p, n.opset);
    convert(cx, &lifted)?;
    n.read_as(&lifted);
    let Some(Val::Node(y)) = cx.lookup(&wide) else {
        return Err(n.fail("did not produce a value in its 2-D form"));
    };
    let id = cx.emit(
        n,
        out,
        OpKind::Squeeze,
        attrs([("axes", Attr::Ints(vec![2]))]),
        &[y],
    )?;
    cx.define(out, Val::Node(id));
    Ok(())
}
