//! MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool → `max_pool`, `avg_pool`,
//! `global_avg_pool`, `reduce {fn = "max"}`.

use super::attrs;
use super::window::{pads, pair};
use crate::diag::Result;
use crate::import::context::{Importer, Val, MAX_DIM};
use crate::import::node::OnnxNode;
use crate::ir::{Attr, NodeId, OpKind};

/// The input (checked to be 2-D: rank 4) and `kernel_shape`.
fn input_and_kernel(cx: &mut Importer, n: &OnnxNode) -> Result<(NodeId, Vec<usize>, [usize; 2])> {
    let x = cx.operand(n, 0, "the input")?;
    let xs = cx.ty(x).shape.clone();
    if xs.len() != 4 {
        return Err(n.fail(format!(
            "pools an input of shape {xs:?}; qcc supports 2-D pooling only (rank 4)"
        )));
    }
    let k = match n.ints("kernel_shape")? {
        Some(k) if k.len() == 2 && k.iter().all(|&v| v >= 1 && v <= MAX_DIM as i64) => {
            [k[0] as usize, k[1] as usize]
        }
        Some(k) => {
            return Err(n.fail(format!(
                "has kernel_shape {k:?}; a 2-D pool needs two positive sizes"
            )))
        }
        None => return Err(n.fail("has no kernel_shape")),
    };
    Ok((x, xs, k))
}

fn flag(n: &OnnxNode, name: &str) -> Result<bool> {
    match n.int_or(name, 0)? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(n.fail(format!("has {name} = {v}; it must be 0 or 1"))),
    }
}

pub fn max_pool(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    n.expect_int(
        "storage_order",
        0,
        "qcc supports row-major storage order only",
    )?;
    if super::lift::is_1d(cx, n)? {
        return super::lift::one_d(cx, n, max_pool, false);
    }
    let (x, xs, kernel) = input_and_kernel(cx, n)?;
    let strides = pair(n, "strides")?;
    let dilations = pair(n, "dilations")?;
    let pads = pads(n, [xs[2], xs[3]], kernel, strides, dilations)?;
    let a = attrs([
        (
            "kernel_shape",
            Attr::Ints(kernel.iter().map(|&k| k as i64).collect()),
        ),
        ("strides", Attr::Ints(strides.to_vec())),
        ("pads", Attr::Ints(pads.to_vec())),
        ("dilations", Attr::Ints(dilations.to_vec())),
        ("ceil_mode", Attr::Bool(flag(n, "ceil_mode")?)),
    ]);
    let out = n.output()?;
    let id = cx.emit(n, out, OpKind::MaxPool, a, &[x])?;
    cx.define(out, Val::Node(id));
    if let Some(indices) = n.output_name(1) {
        cx.define(
            indices,
            Val::Unusable(format!(
                "`{indices}` holds the indices of a MaxPool, which qcc does not compute"
            )),
        );
    }
    Ok(())
}

pub fn average_pool(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    if super::lift::is_1d(cx, n)? {
        return super::lift::one_d(cx, n, average_pool, false);
    }
    let (x, xs, kernel) = input_and_kernel(cx, n)?;
    let strides = pair(n, "strides")?;
    if pair(n, "dilations")? != [1, 1] {
        return Err(
            n.fail("has dilations other than 1, which qcc's average pooling does not support")
        );
    }
    let pads = pads(n, [xs[2], xs[3]], kernel, strides, [1, 1])?;
    let a = attrs([
        (
            "kernel_shape",
            Attr::Ints(kernel.iter().map(|&k| k as i64).collect()),
        ),
        ("strides", Attr::Ints(strides.to_vec())),
        ("pads", Attr::Ints(pads.to_vec())),
        ("ceil_mode", Attr::Bool(flag(n, "ceil_mode")?)),
        (
            "count_include_pad",
            Attr::Bool(flag(n, "count_include_pad")?),
        ),
    ]);
    let out = n.output()?;
    let id = cx.emit(n, out, OpKind::AvgPool, a, &[x])?;
    cx.define(out, Val::Node(id));
    Ok(())
}

/// GlobalMaxPool: `reduce {fn = "max"}` over every axis after the first two, kept as size 1
/// (on codes between integer layers, like a max-pool).
pub fn global_max_pool(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.operand(n, 0, "the input")?;
    let rank = cx.ty(x).rank();
    if rank < 3 {
        return Err(n.fail(format!(
            "pools an input of shape {:?}, which has no spatial axes",
            cx.ty(x).shape
        )));
    }
    let out = n.output()?;
    let a = attrs([
        ("fn", Attr::Str("max".into())),
        ("axes", Attr::Ints((2..rank as i64).collect())),
        ("keepdims", Attr::Bool(true)),
    ]);
    let id = cx.emit(n, out, OpKind::Reduce, a, &[x])?;
    cx.define(out, Val::Node(id));
    Ok(())
}

pub fn global_average_pool(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.operand(n, 0, "the input")?;
    let out = n.output()?;
    let id = cx.emit(n, out, OpKind::GlobalAvgPool, attrs([]), &[x])?;
    cx.define(out, Val::Node(id));
    Ok(())
}
