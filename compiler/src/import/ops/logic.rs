//! Comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual), boolean logic (Not, And, Or,
//! Xor), Where, Trilu (a `where` of a constant triangle) and Mod, folded when every input is constant (exporters' shape arithmetic) and
//! imported as IR ops otherwise; Expand, folded or an `expand`; and Range and ReduceProd, which
//! only fold.

use super::fold::{define_const, not_constant};
use crate::diag::Result;
use crate::import::constant::{Arith, Const};
use crate::import::constant_logic::{Cmp, Logic};
use crate::import::context::{Importer, Val};
use crate::import::node::OnnxNode;
use crate::ir::{Attr, OpKind};
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

/// Every input as a constant when all `count` are, so that the op folds.
fn all_folded(cx: &mut Importer, n: &OnnxNode, count: usize) -> Result<Option<Vec<Arc<Const>>>> {
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        match cx.input(n, i)? {
            Some(Val::Const(c)) => out.push(c),
            Some(_) => return Ok(None),
            None => return Err(n.fail(format!("lacks its input {i}"))),
        }
    }
    Ok(Some(out))
}

/// The op computed at run time on inputs `0..count`.
fn run_time(
    cx: &mut Importer,
    n: &OnnxNode,
    kind: OpKind,
    attrs: crate::ir::Attrs,
    count: usize,
) -> Result<()> {
    let operands = (0..count)
        .map(|i| cx.operand(n, i, "an operand"))
        .collect::<Result<Vec<_>>>()?;
    let id = cx.emit(n, n.output()?, kind, attrs, &operands)?;
    cx.define(n.output()?, Val::Node(id));
    Ok(())
}

fn fn_attr(name: &str) -> crate::ir::Attrs {
    super::attrs([("fn", Attr::Str(name.into()))])
}

/// The ONNX comparisons with their fold and their IR `fn`; the exporter reads it backwards.
const COMPARE_OPS: &[(&str, Cmp, &str)] = &[
    ("Equal", Cmp::Eq, "equal"),
    ("Less", Cmp::Lt, "less"),
    ("Greater", Cmp::Gt, "greater"),
    ("LessOrEqual", Cmp::Le, "less_or_equal"),
    ("GreaterOrEqual", Cmp::Ge, "greater_or_equal"),
];

/// The ONNX logic ops with their fold and their IR `fn`.
const LOGIC_OPS: &[(&str, Logic, &str)] = &[
    ("And", Logic::And, "and"),
    ("Or", Logic::Or, "or"),
    ("Xor", Logic::Xor, "xor"),
];

/// The ONNX op that imports as `compare {fn}` or `logic {fn}`.
pub fn onnx_op_of(f: &str) -> Option<&'static str> {
    let compare = COMPARE_OPS.iter().find(|c| c.2 == f).map(|c| c.0);
    compare.or_else(|| LOGIC_OPS.iter().find(|l| l.2 == f).map(|l| l.0))
}

pub fn compare(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let (op, name) = COMPARE_OPS
        .iter()
        .find(|c| c.0 == n.op_type())
        .map(|&(_, op, name)| (op, name))
        .ok_or_else(|| n.fail("is not a comparison"))?;
    let Some(v) = all_folded(cx, n, 2)? else {
        return run_time(cx, n, OpKind::Compare, fn_attr(name), 2);
    };
    let c = fold_result(n, Const::compare(op, &v[0], &v[1]))?;
    define_const(cx, n, c)
}

pub fn logic(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let (op, name) = LOGIC_OPS
        .iter()
        .find(|l| l.0 == n.op_type())
        .map(|&(_, op, name)| (op, name))
        .ok_or_else(|| n.fail("is not a logic op"))?;
    let Some(v) = all_folded(cx, n, 2)? else {
        return run_time(cx, n, OpKind::Logic, fn_attr(name), 2);
    };
    let c = fold_result(n, Const::logic(op, &v[0], &v[1]))?;
    define_const(cx, n, c)
}

pub fn not(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let Some(v) = all_folded(cx, n, 1)? else {
        return run_time(cx, n, OpKind::Not, super::attrs([]), 1);
    };
    let c = fold_result(n, v[0].not())?;
    define_const(cx, n, c)
}

pub fn where_(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let Some(v) = all_folded(cx, n, 3)? else {
        return run_time(cx, n, OpKind::Where, super::attrs([]), 3);
    };
    let c = fold_result(n, Const::select(&v[0], &v[1], &v[2]))?;
    define_const(cx, n, c)
}

/// Trilu: the upper (or lower) triangle of the last two axes from diagonal `k` on, zeros
/// elsewhere. The triangle is a constant `[rows, cols]` mask, so this is `Where(mask, x, 0)`:
/// folded on a constant, a run-time `where` otherwise. A select keeps every kept element as it
/// is (inf and NaN included), which a multiply by a 0/1 mask would not.
pub fn trilu(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let upper = n.int_or("upper", 1)? != 0;
    let k = match cx.constant_ints(n, 1, "k")? {
        None => 0,
        Some(v) if v.len() == 1 => v[0],
        Some(v) => {
            return Err(n.fail(format!(
                "has {} values for `k`; it takes a single diagonal offset",
                v.len()
            )))
        }
    };
    let x = cx.required(n, 0, "the input")?;
    let shape = cx
        .shape(&x)
        .ok_or_else(|| n.fail("reads a value that cannot be used"))?;
    let [.., rows, cols] = shape[..] else {
        return Err(n.fail(format!(
            "takes the triangle of an input of shape {shape:?}; it needs at least two axes"
        )));
    };
    let keep: Vec<bool> = (0..rows as i64)
        .flat_map(|i| (0..cols as i64).map(move |j| if upper { j - i >= k } else { j - i <= k }))
        .collect();
    let mask = Const::Bool(
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[rows, cols]), keep)
            .expect("one flag per element"),
    );
    let ty = match &x {
        Val::Const(c) => c.ty(),
        Val::Node(id) => {
            let t = cx.ty(*id);
            if t.elem.quant().is_some() {
                return Err(n.fail(format!(
                    "reads {t}, quantized codes, whose zero is their zero point; qcc takes Trilu \
                     of unquantized values"
                )));
            }
            super::fold::const_type_of(t.elem.storage())
                .ok_or_else(|| n.fail(format!("reads {t}, a type qcc has no zero constant of")))?
        }
        Val::Unusable(_) => return Err(n.fail("reads a value that cannot be used")),
    };
    let zero = Const::F32(ndarray::ArrayD::zeros(ndarray::IxDyn(&[1]))).cast(ty);
    if let Val::Const(c) = &x {
        let folded = fold_result(n, Const::select(&mask, c, &zero))?;
        return define_const(cx, n, folded);
    }
    let out = n.output()?;
    let elem = crate::ir::ElemType::from_storage(
        zero.to_tensor()
            .expect("every constant is a tensor")
            .dtype(),
    );
    let m = cx
        .weight(
            &format!("{out}.triangle"),
            &mask,
            crate::ir::ElemType::from_storage(runtime::DType::Bool),
        )
        .map_err(|m| n.fail(m))?;
    let z = cx
        .weight(&format!("{out}.zero"), &zero, elem)
        .map_err(|m| n.fail(m))?;
    let xid = cx.operand(n, 0, "the input")?;
    let id = cx.emit(n, out, OpKind::Where, super::attrs([]), &[m, xid, z])?;
    cx.define(out, Val::Node(id));
    Ok(())
}

/// Folds on constants (the head-count arithmetic of Attention's function body uses it).
pub fn mod_(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let fmod = n.int_or("fmod", 0)? != 0;
    if let Some(v) = all_folded(cx, n, 2)? {
        let op = if fmod { Arith::Fmod } else { Arith::Mod };
        let c = fold_result(n, Const::arith(op, &v[0], &v[1]))?;
        return define_const(cx, n, c);
    }
    run_time(
        cx,
        n,
        OpKind::Mod,
        super::attrs([("fmod", Attr::Bool(fmod))]),
        2,
    )
}

pub fn range(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let start = folded(cx, n, 0, "the start")?;
    let limit = folded(cx, n, 1, "the limit")?;
    let delta = folded(cx, n, 2, "the delta")?;
    let c = fold_result(n, Const::range(&start, &limit, &delta))?;
    define_const(cx, n, c)
}

/// Folds on a constant; on run-time data an `expand` to the broadcast shape (the identity when
/// that is the input's own shape). The shape itself must be known at import.
pub fn expand(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let shape = cx
        .constant_ints(n, 1, "shape")?
        .ok_or_else(|| n.fail("lacks its input 1 (the shape)"))?;
    let x = match cx.required(n, 0, "the input")? {
        Val::Const(x) => {
            let c = fold_result(n, x.expand(&shape))?;
            return define_const(cx, n, c);
        }
        _ => cx.operand(n, 0, "the input")?,
    };
    let target = shape
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<Vec<usize>, _>>()
        .map_err(|_| n.fail(format!("has a negative size in its shape {shape:?}")))?;
    let from = cx.ty(x).shape.clone();
    let to = crate::ir::infer::broadcast(&from, &target).ok_or_else(|| {
        n.fail(format!(
            "cannot expand {from:?} to {target:?}: the shapes do not broadcast"
        ))
    })?;
    let out = n.output()?;
    if to == from {
        cx.define(out, Val::Node(x));
        return Ok(());
    }
    let to: Vec<i64> = to.iter().map(|&d| d as i64).collect();
    let id = cx.emit(
        n,
        out,
        OpKind::Expand,
        super::attrs([("shape", Attr::Ints(to))]),
        &[x],
    )?;
    cx.define(out, Val::Node(id));
    Ok(())
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
    if given.is_some() {
        n.no_effect(&["noop_with_empty_axes"]);
    }
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
