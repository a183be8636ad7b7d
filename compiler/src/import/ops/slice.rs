//! Slice and Split. On constants they fold (shape subgraphs); on run-time values each becomes
//! `slice` ops whose bounds are normalized here, once, by ONNX's rules (negative indices count
//! from the end, then clamped; a negative step's end may be -1, "past index 0").

use super::attrs;
use crate::diag::Result;
use crate::import::constant::normalize_slice;
use crate::import::context::{Importer, Val};
use crate::import::node::OnnxNode;
use crate::ir::{Attr, OpKind};
use runtime::ops::{slice_len, SliceAxis};
use std::sync::Arc;

/// One sliced axis after normalization: (axis, start, end, step).
type Bound = (usize, i64, i64, i64);

/// Binds `out` to `x` sliced by `bounds` (in any axis order): folded on a constant, the value
/// itself when nothing is cut, a `slice` op otherwise.
fn emit_slice(
    cx: &mut Importer,
    n: &OnnxNode,
    input: usize,
    x: &Val,
    shape: &[usize],
    out: &str,
    bounds: &[Bound],
) -> Result<()> {
    if let Val::Const(c) = x {
        // Shape subgraphs may slice to nothing (an empty constant, which a concat then drops).
        let mut axes: Vec<SliceAxis> = shape.iter().map(|&d| SliceAxis::full(d)).collect();
        for &(axis, start, end, step) in bounds {
            axes[axis] = SliceAxis::new(shape[axis], start, end, step).ok_or_else(|| {
                n.fail(format!(
                    "cannot be folded: bounds {start}..{end} by {step} on axis {axis}"
                ))
            })?;
        }
        cx.define(out, Val::Const(Arc::new(c.strided(&axes))));
        return Ok(());
    }
    let mut kept: Vec<Bound> = Vec::with_capacity(bounds.len());
    for &(axis, start, end, step) in bounds {
        let dim = shape[axis] as i64;
        if slice_len(start, end, step) == Some(0) {
            cx.define(
                out,
                Val::Unusable(format!(
                    "it is empty: {} takes nothing from axis {axis} (length {dim}) with start {start}, end {end}, step {step}, and the IR holds no empty tensors",
                    n.label()
                )),
            );
            return Ok(());
        }
        // The whole axis in order cuts nothing.
        if !(start == 0 && end == dim && step == 1) {
            kept.push((axis, start, end, step));
        }
    }
    kept.sort_by_key(|b| b.0);
    let id = cx.operand(n, input, "the data")?;
    if kept.is_empty() {
        cx.define(out, Val::Node(id));
        return Ok(());
    }
    let list = |f: fn(&Bound) -> i64| Attr::Ints(kept.iter().map(f).collect());
    let a = attrs([
        ("axes", list(|b| b.0 as i64)),
        ("starts", list(|b| b.1)),
        ("ends", list(|b| b.2)),
        ("steps", list(|b| b.3)),
    ]);
    let id = cx.emit(n, out, OpKind::Slice, a, &[id])?;
    cx.define(out, Val::Node(id));
    Ok(())
}

/// Before opset 10 the bounds are attributes; from 10 they are inputs (constants after
/// folding), with optional axes and steps.
pub fn slice(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.required(n, 0, "the data")?;
    let shape = cx
        .shape(&x)
        .ok_or_else(|| n.fail("reads a value that cannot be used"))?;
    let (starts, ends, axes, steps) = if n.opset < 10 {
        (n.ints("starts")?, n.ints("ends")?, n.ints("axes")?, None)
    } else {
        (
            cx.constant_ints(n, 1, "starts")?,
            cx.constant_ints(n, 2, "ends")?,
            cx.constant_ints(n, 3, "axes")?,
            cx.constant_ints(n, 4, "steps")?,
        )
    };
    let starts = starts.ok_or_else(|| n.fail("has no starts"))?;
    let ends = ends.ok_or_else(|| n.fail("has no ends"))?;
    let axes = match axes {
        Some(a) => n.axes(&a, shape.len(), "axes")?,
        None => (0..starts.len()).collect(),
    };
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(n.fail(format!(
            "has {} starts, {} ends, {} axes and {} steps; they must be as many",
            starts.len(),
            ends.len(),
            axes.len(),
            steps.len()
        )));
    }
    let mut bounds = Vec::with_capacity(axes.len());
    for (k, &axis) in axes.iter().enumerate() {
        let dim = *shape.get(axis).ok_or_else(|| {
            n.fail(format!(
                "slices axis {axis} of a value of shape {shape:?} (starts lists more axes than it has)"
            ))
        })? as i64;
        if steps[k] == 0 {
            return Err(n.fail(format!("has step 0 for axis {axis}")));
        }
        let (start, end) = normalize_slice(dim, starts[k], ends[k], steps[k]);
        bounds.push((axis, start, end, steps[k]));
    }
    emit_slice(cx, n, 0, &x, &shape, n.output()?, &bounds)
}

/// Split along `axis`: sizes from the `split` attribute (opsets 1–12; opset 1 also as input 1),
/// the `split` input (13+), `num_outputs` (18+: chunks of ⌈len/n⌉, the last one shorter), or
/// equal parts, one per output.
pub fn split(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.required(n, 0, "the input")?;
    let shape = cx
        .shape(&x)
        .ok_or_else(|| n.fail("reads a value that cannot be used"))?;
    let axis = n.axis(n.int_or("axis", 0)?, shape.len(), "axis")?;
    let dim = shape[axis] as i64;
    let outputs = n.proto.output.len();
    let split = if n.opset >= 13 || (n.opset < 2 && n.input_name(1).is_some()) {
        cx.constant_ints(n, 1, "split")?
    } else {
        n.ints("split")?
    };
    let num_outputs = if n.opset >= 18 {
        n.int("num_outputs")?
    } else {
        None
    };
    let sizes: Vec<i64> = match (split, num_outputs) {
        (Some(_), Some(_)) => {
            return Err(n.fail("gives both `split` and `num_outputs`; ONNX allows one"))
        }
        (Some(s), None) => {
            if s.len() != outputs || s.iter().any(|&v| v < 0) || s.iter().sum::<i64>() != dim {
                return Err(n.fail(format!(
                    "splits axis {axis} (length {dim}) into {s:?}, which must be {outputs} non-negative sizes summing to {dim}"
                )));
            }
            s
        }
        (None, Some(k)) => {
            if k < 1 || k as usize != outputs || k > dim {
                return Err(n.fail(format!(
                    "has num_outputs = {k} but {outputs} outputs, splitting axis {axis} of length {dim}"
                )));
            }
            let chunk = (dim + k - 1) / k;
            (0..k).map(|i| chunk.min(dim - i * chunk).max(0)).collect()
        }
        (None, None) => {
            if outputs == 0 || dim % outputs as i64 != 0 {
                return Err(n.fail(format!(
                    "splits axis {axis} of length {dim} into {outputs} equal parts, which do not divide it"
                )));
            }
            vec![dim / outputs as i64; outputs]
        }
    };
    let mut offset = 0;
    for (i, &size) in sizes.iter().enumerate() {
        if let Some(out) = n.output_name(i) {
            emit_slice(
                cx,
                n,
                0,
                &x,
                &shape,
                out,
                &[(axis, offset, offset + size, 1)],
            )?;
        }
        offset += size;
    }
    Ok(())
}
