//! Softmax, LogSoftmax and the Reduce* ops, whose axis conventions changed across opsets
//! (Softmax at 13, the reductions' axes from attribute to input at 18, ReduceSum's at 13).

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

/// Each ONNX Reduce* op other than ReduceMean: its IR function, and whether a reduction over no
/// axes (`noop_with_empty_axes`) leaves each element as it is. The exporter reads it backwards.
const REDUCE_OPS: &[(&str, &str, bool)] = &[
    ("ReduceSum", "sum", true),
    ("ReduceSumSquare", "sum_square", false),
    ("ReduceL1", "l1", false),
    ("ReduceL2", "l2", false),
    ("ReduceLogSum", "log_sum", false),
    ("ReduceLogSumExp", "log_sum_exp", false),
    ("ReduceMax", "max", true),
    ("ReduceMin", "min", true),
    ("ReduceProd", "prod", true),
];

fn reduce_fn(op_type: &str) -> Option<(&'static str, bool)> {
    REDUCE_OPS
        .iter()
        .find(|r| r.0 == op_type)
        .map(|&(_, f, noop)| (f, noop))
}

/// The ONNX op that imports as `reduce {fn}`.
pub fn onnx_op_of(f: &str) -> Option<&'static str> {
    REDUCE_OPS.iter().find(|r| r.1 == f).map(|r| r.0)
}

/// ReduceProd of a constant folds at import (shape subgraphs, int64 included); of a run-time
/// value it is a `reduce`.
pub fn reduce_prod(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    match cx.required(n, 0, "the input")? {
        Val::Const(_) => super::logic::reduce_prod(cx, n),
        _ => reduce(cx, n),
    }
}

/// ReduceMean (`reduce_mean`) and the other reductions (`reduce {fn}`). Axes come from an
/// attribute before opset 18 (13 for ReduceSum) and from an optional constant input after; no
/// axes means all of them, unless `noop_with_empty_axes` makes it a reduction over no axis: the
/// identity for sum/mean/max/min/prod, else the function of each element alone (ONNX's reference
/// squares for ReduceSumSquare), computed as a reduction over a new axis of length 1.
pub fn reduce(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.operand(n, 0, "the input")?;
    let rank = cx.ty(x).rank();
    let out = n.output()?;
    let input_from = if n.op_type() == "ReduceSum" { 13 } else { 18 };
    let given = if n.opset < input_from {
        n.ints("axes")?
    } else {
        cx.constant_ints(n, 1, "axes")?
    };
    let given = given.filter(|a| !a.is_empty());
    if given.is_some() {
        // The flag only says what an empty axes list means.
        n.no_effect(&["noop_with_empty_axes"]);
    }
    let func = reduce_fn(n.op_type());
    let keepdims = n.int_or("keepdims", 1)? != 0;
    let emit = |cx: &mut Importer, name: &str, axes: Vec<i64>, keepdims: bool, x| {
        let mut a = attrs([
            ("axes", Attr::Ints(axes)),
            ("keepdims", Attr::Bool(keepdims)),
        ]);
        let kind = match func {
            Some((f, _)) => {
                a.insert("fn".into(), Attr::Str(f.into()));
                OpKind::Reduce
            }
            None => OpKind::ReduceMean,
        };
        cx.emit(n, name, kind, a, &[x])
    };
    let mut axes = match given {
        Some(a) => n.axes(&a, rank, "axes")?,
        None if n.opset >= input_from && n.int_or("noop_with_empty_axes", 0)? != 0 => {
            let id = match func {
                Some((_, false)) => {
                    let one = cx.emit(
                        n,
                        &format!("{out}.each"),
                        OpKind::Unsqueeze,
                        attrs([("axes", Attr::Ints(vec![0]))]),
                        &[x],
                    )?;
                    emit(cx, out, vec![0], false, one)?
                }
                _ => x,
            };
            cx.define(out, Val::Node(id));
            return Ok(());
        }
        None => (0..rank).collect(),
    };
    axes.sort_unstable();
    let axes = axes.iter().map(|&a| a as i64).collect();
    let id = emit(cx, out, axes, keepdims, x)?;
    cx.define(out, Val::Node(id));
    Ok(())
}

/// LogSoftmax as `d − reduce{log_sum_exp}(d)` with `d = x − reduce{max}(x)`, along the axis,
/// kept as size 1: subtracting the maximum first keeps the result exact for large inputs (where
/// `x − (m + ln s)` would round `m + ln s` at the scale of `m`), and `log(softmax(x))` would
/// lose the small probabilities. Before opset 13 the input is coerced to 2-D at `axis` (default
/// 1), as Softmax does: flatten, normalise the second axis, reshape back.
pub fn log_softmax(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.operand(n, 0, "the input")?;
    let shape = cx.ty(x).shape.clone();
    let rank = shape.len();
    let out = n.output()?;
    let default = if n.opset < 13 { 1 } else { -1 };
    let axis = n.axis(n.int_or("axis", default)?, rank, "axis")?;
    let flat = n.opset < 13 && axis + 1 != rank;
    let (src, lane) = if flat {
        let f = cx.emit(
            n,
            &format!("{out}.flat"),
            OpKind::Flatten,
            attrs([("axis", Attr::Int(axis as i64))]),
            &[x],
        )?;
        (f, 1)
    } else {
        (x, axis)
    };
    let lane_reduce = |cx: &mut Importer, name: &str, f: &str, x| {
        cx.emit(
            n,
            name,
            OpKind::Reduce,
            attrs([
                ("fn", Attr::Str(f.into())),
                ("axes", Attr::Ints(vec![lane as i64])),
                ("keepdims", Attr::Bool(true)),
            ]),
            &[x],
        )
    };
    let m = lane_reduce(cx, &format!("{out}.max"), "max", src)?;
    let d = cx.emit(
        n,
        &format!("{out}.shifted"),
        OpKind::Sub,
        attrs([]),
        &[src, m],
    )?;
    let lse = lane_reduce(cx, &format!("{out}.lse"), "log_sum_exp", d)?;
    let name = if flat {
        format!("{out}.logsoftmax")
    } else {
        out.to_string()
    };
    let mut id = cx.emit(n, &name, OpKind::Sub, attrs([]), &[d, lse])?;
    if flat {
        let back = shape.iter().map(|&d| d as i64).collect();
        id = cx.emit(
            n,
            out,
            OpKind::Reshape,
            attrs([("shape", Attr::Ints(back))]),
            &[id],
        )?;
    }
    cx.define(out, Val::Node(id));
    Ok(())
}
