//! Shape-subgraph ops that only fold: comparisons (Equal, Less, Greater, LessOrEqual,
//! GreaterOrEqual), boolean logic (Not, And, Or, Xor), Where, Range, Expand and ReduceProd. Once
//! the input shapes are fixed, exporters' shape arithmetic built from them is constant; on a
//! value computed at run time each is refused by name (the IR holds no bool or int64).

use super::fold::{define_const, not_constant};
use crate::diag::Result;
use crate::import::constant::Const;
use crate::import::constant_logic::{Cmp, Logic};
use crate::import::context::{Importer, Val};
use crate::import::node::OnnxNode;
use std::sync::Arc;

/// Input `i` as a constant, or the run-time refusal naming the op.
fn folded(cx: &mut Importer, n: &OnnxNode, i: usize, what: &str) -> Result<Arc<Const>> {
    match cx.input(n, i)? {
        Some(Val::Const(c)) => Ok(c),
        Some(_) => Err(not_constant(n, i)),
        None => Err(n.fail(format!("lacks its input {i} ({what})"))),
    }
}

fn fold_result(n: &OnnxNode, r: Result<Const, String>) -> Result<Const> {
    r.map_err(|m| n.fail(format!("cannot be folded: {m}")))
}

pub fn compare(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let op = match n.op_type() {
        "Equal" => Cmp::Eq,
        "Less" => Cmp::Lt,
        "Greater" => Cmp::Gt,
        "LessOrEqual" => Cmp::Le,
        _ => Cmp::Ge,
    };
    let a = folded(cx, n, 0, "the left operand")?;
    let b = folded(cx, n, 1, "the right operand")?;
    let c = fold_result(n, Const::compare(op, &a, &b))?;
    define_const(cx, n, c)
}

pub fn logic(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let op = match n.op_type() {
        "And" => Logic::And,
        "Or" => Logic::Or,
        _ => Logic::Xor,
    };
    let a = folded(cx, n, 0, "the left operand")?;
    let b = folded(cx, n, 1, "the right operand")?;
    let c = fold_result(n, Const::logic(op, &a, &b))?;
    define_const(cx, n, c)
}

pub fn not(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let a = folded(cx, n, 0, "the input")?;
    let c = fold_result(n, a.not())?;
    define_const(cx, n, c)
}

pub fn where_(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let cond = folded(cx, n, 0, "the condition")?;
    let x = folded(cx, n, 1, "the values where true")?;
    let y = folded(cx, n, 2, "the values where false")?;
    let c = fold_result(n, Const::select(&cond, &x, &y))?;
    define_const(cx, n, c)
}

pub fn range(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let start = folded(cx, n, 0, "the start")?;
    let limit = folded(cx, n, 1, "the limit")?;
    let delta = folded(cx, n, 2, "the delta")?;
    let c = fold_result(n, Const::range(&start, &limit, &delta))?;
    define_const(cx, n, c)
}

pub fn expand(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = folded(cx, n, 0, "the input")?;
    let shape = cx
        .constant_ints(n, 1, "shape")?
        .ok_or_else(|| n.fail("lacks its input 1 (the shape)"))?;
    let c = fold_result(n, x.expand(&shape))?;
    define_const(cx, n, c)
}

/// `axes` is an attribute before opset 18 and an input from 18, where an empty list means all
/// axes unless `noop_with_empty_axes`.
pub fn reduce_prod(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = folded(cx, n, 0, "the input")?;
    let rank = x.shape().len();
    let given = if n.opset < 18 {
        n.ints("axes")?
    } else {
        cx.constant_ints(n, 1, "axes")?
    };
    let given = given.filter(|a| !a.is_empty());
    let mut axes = match given {
        Some(a) => n.axes(&a, rank, "axes")?,
        None if n.opset >= 18 && n.int_or("noop_with_empty_axes", 0)? != 0 => {
            cx.define(n.output()?, Val::Const(x));
            return Ok(());
        }
        None => (0..rank).collect(),
    };
    axes.sort_unstable();
    let keepdims = n.int_or("keepdims", 1)? != 0;
    let c = fold_result(n, x.reduce_prod(&axes, keepdims))?;
    define_const(cx, n, c)
}
