//! ArgMax and ArgMin (index results, int64) and GatherElements (elements picked by an index
//! tensor), computed at run time.

use super::attrs;
use crate::diag::Result;
use crate::import::context::{Importer, Val};
use crate::import::node::OnnxNode;
use crate::ir::{Attr, OpKind};

/// `select_last_index` exists from opset 12; before it, the first index wins, its default.
pub fn arg_extreme(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.operand(n, 0, "the input")?;
    let rank = cx.ty(x).rank();
    let axis = n.axis(n.int_or("axis", 0)?, rank, "axis")?;
    let kind = if n.op_type() == "ArgMax" {
        OpKind::ArgMax
    } else {
        OpKind::ArgMin
    };
    let a = attrs([
        ("axis", Attr::Int(axis as i64)),
        ("keepdims", Attr::Bool(n.int_or("keepdims", 1)? != 0)),
        (
            "select_last_index",
            Attr::Bool(n.int_or("select_last_index", 0)? != 0),
        ),
    ]);
    let out = n.output()?;
    let id = cx.emit(n, out, kind, a, &[x])?;
    cx.define(out, Val::Node(id));
    Ok(())
}

/// Always a run-time `gather_elements` (exporters do not compute shapes with it).
pub fn gather_elements(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.operand(n, 0, "the data")?;
    let i = cx.operand(n, 1, "the indices")?;
    let axis = n.axis(n.int_or("axis", 0)?, cx.ty(x).rank(), "axis")?;
    let out = n.output()?;
    let a = attrs([("axis", Attr::Int(axis as i64))]);
    let id = cx.emit(n, out, OpKind::GatherElements, a, &[x, i])?;
    cx.define(out, Val::Node(id));
    Ok(())
}
