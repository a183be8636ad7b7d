//! Ops whose result compares the input with constants: IsNaN, IsInf, OneHot and Hardmax. Each
//! imports as `compare`, `logic`, `not`, `where`, `arg_max` and `cast` against constant
//! weights, ops every stage already has (kernels included), so none needs code of its own.

use super::attrs;
use crate::diag::Result;
use crate::import::constant::Const;
use crate::import::context::{Importer, Val};
use crate::import::node::OnnxNode;
use crate::ir::{Attr, ElemType, NodeId, OpKind};
use ndarray::{ArrayD, IxDyn};

/// A constant weight named `{out}.{what}` holding `c`, of `c`'s own element type.
fn weight(cx: &mut Importer, n: &OnnxNode, what: &str, c: Const) -> Result<NodeId> {
    let out = n.output()?;
    let elem = ElemType::from_storage(c.to_tensor().expect("a constant is a tensor").dtype());
    cx.weight(&format!("{out}.{what}"), &c, elem)
        .map_err(|m| n.fail(m))
}

fn compare(
    cx: &mut Importer,
    n: &OnnxNode,
    name: &str,
    f: &str,
    a: NodeId,
    b: NodeId,
) -> Result<NodeId> {
    cx.emit(
        n,
        name,
        OpKind::Compare,
        attrs([("fn", Attr::Str(f.into()))]),
        &[a, b],
    )
}

fn define(cx: &mut Importer, n: &OnnxNode, id: NodeId) -> Result<()> {
    cx.define(n.output()?, Val::Node(id));
    Ok(())
}

/// The input, which must hold f32 values (the comparisons below are float ones).
fn float_input(cx: &mut Importer, n: &OnnxNode) -> Result<NodeId> {
    let x = cx.operand(n, 0, "the input")?;
    let t = cx.ty(x);
    if t.elem != ElemType::F32 {
        return Err(n.fail(format!(
            "reads {t}; qcc takes {} of f32 values",
            n.op_type()
        )));
    }
    Ok(x)
}

fn scalar_f32(v: f32) -> Const {
    Const::F32(ArrayD::from_elem(IxDyn(&[1]), v))
}

/// IsNaN: `¬(x = x)`, since NaN is the one value unequal to itself.
pub fn is_nan(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = float_input(cx, n)?;
    let out = n.output()?;
    let same = compare(cx, n, &format!("{out}.ordered"), "equal", x, x)?;
    let id = cx.emit(n, out, OpKind::Not, attrs([]), &[same])?;
    define(cx, n, id)
}

/// IsInf: `x = +∞` and/or `x = −∞`, as `detect_positive` and `detect_negative` ask; with
/// neither, a comparison with NaN, false everywhere.
pub fn is_inf(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = float_input(cx, n)?;
    let out = n.output()?;
    let pos = n.int_or("detect_positive", 1)? != 0;
    let neg = n.int_or("detect_negative", 1)? != 0;
    let mut tests = vec![];
    if pos {
        tests.push(("positive", f32::INFINITY));
    }
    if neg {
        tests.push(("negative", f32::NEG_INFINITY));
    }
    if tests.is_empty() {
        tests.push(("never", f32::NAN));
    }
    let both = tests.len() == 2;
    let mut ids = vec![];
    for (what, v) in tests {
        let c = weight(cx, n, what, scalar_f32(v))?;
        let name = if both {
            format!("{out}.{what}")
        } else {
            out.to_string()
        };
        ids.push(compare(cx, n, &name, "equal", x, c)?);
    }
    let id = match ids[..] {
        [a, b] => cx.emit(
            n,
            out,
            OpKind::Logic,
            attrs([("fn", Attr::Str("or".into()))]),
            &[a, b],
        )?,
        _ => ids[0],
    };
    define(cx, n, id)
}

/// `0..len` as a constant of `elem`'s type (i64 or i32) shaped `[len, 1, …]` with `trailing`
/// ones, so that it broadcasts along the axis it stands for; `shift` is added to each value.
fn positions(len: usize, trailing: usize, shift: i64, i32s: bool) -> Const {
    let mut shape = vec![len];
    shape.extend(std::iter::repeat_n(1, trailing));
    let v: Vec<i64> = (0..len as i64).map(|i| i + shift).collect();
    let c = Const::I64(ArrayD::from_shape_vec(IxDyn(&shape), v).expect("one value per position"));
    if i32s {
        c.cast(crate::import::constant::ConstType::I32)
    } else {
        c
    }
}

/// OneHot: `on` where the (new) axis position equals the index, `off` elsewhere. An index in
/// `[-depth, 0)` counts from the end; one outside `[-depth, depth)` gives a row of `off`. With
/// the index unsqueezed at `axis`, the mask is `u = p ∨ u = p − depth` over the positions `p`,
/// so no arithmetic on the indices is needed. Float indices are truncated to i64 first, as
/// ONNX Runtime casts them.
pub fn one_hot(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let out = n.output()?;
    let mut idx = cx.operand(n, 0, "the indices")?;
    let depth = match cx.constant(n, 1, "depth")? {
        Some(c) if c.len() == 1 => c.floats()[0],
        Some(c) => {
            return Err(n.fail(format!(
                "has a depth of shape {:?}; it takes a single value",
                c.shape()
            )))
        }
        None => return Err(n.fail("lacks its input 1 (the depth)")),
    };
    if !(depth >= 1.0 && depth <= crate::import::context::MAX_DIM as f32) {
        return Err(n.fail(format!(
            "has depth {depth}; qcc needs a positive depth (0 would make an empty tensor)"
        )));
    }
    let depth = depth as usize;
    let values = cx
        .constant(n, 2, "values")?
        .ok_or_else(|| n.fail("lacks its input 2 (the off and on values)"))?;
    if values.len() != 2 {
        return Err(n.fail(format!(
            "has values of shape {:?}; it takes [off, on]",
            values.shape()
        )));
    }
    let t = cx.ty(idx).clone();
    let d = t.elem.storage();
    if t.elem.quant().is_some() || d == runtime::DType::Bool {
        return Err(n.fail(format!("reads indices of type {t}")));
    }
    let i32s = d == runtime::DType::I32;
    if d != runtime::DType::I64 && !i32s {
        idx = cx.emit(
            n,
            &format!("{out}.indices"),
            OpKind::Cast,
            attrs([("to", Attr::Str("i64".into()))]),
            &[idx],
        )?;
    }
    let rank = t.rank() + 1;
    let axis = n.axis(n.int_or("axis", -1)?, rank, "axis")?;
    let u = cx.emit(
        n,
        &format!("{out}.unsqueezed"),
        OpKind::Unsqueeze,
        attrs([("axes", Attr::Ints(vec![axis as i64]))]),
        &[idx],
    )?;
    let trailing = rank - 1 - axis;
    let from_start = weight(cx, n, "positions", positions(depth, trailing, 0, i32s))?;
    let from_end = weight(
        cx,
        n,
        "positions_from_end",
        positions(depth, trailing, -(depth as i64), i32s),
    )?;
    let a = compare(cx, n, &format!("{out}.at"), "equal", u, from_start)?;
    let b = compare(cx, n, &format!("{out}.at_from_end"), "equal", u, from_end)?;
    let mask = cx.emit(
        n,
        &format!("{out}.mask"),
        OpKind::Logic,
        attrs([("fn", Attr::Str("or".into()))]),
        &[a, b],
    )?;
    let pick = |i: usize| {
        values
            .gather(0, &[i as i64], &[1])
            .map_err(|m| n.fail(format!("cannot read its values: {m}")))
    };
    let (off, on) = (pick(0)?, pick(1)?);
    let off = weight(cx, n, "off", off)?;
    let on = weight(cx, n, "on", on)?;
    let id = cx.emit(n, out, OpKind::Where, attrs([]), &[mask, on, off])?;
    define(cx, n, id)
}

/// Hardmax: 1 at each lane's first largest element along `axis`, 0 elsewhere, as
/// `cast(arg_max(x) = positions)`. Before opset 13 the input is read as a matrix
/// `[∏ dims before axis, ∏ dims from axis]` (axis 1 by default) and the lane is its row.
pub fn hardmax(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let out = n.output()?;
    let x = float_input(cx, n)?;
    let shape = cx.ty(x).shape.clone();
    let legacy = n.opset < 13;
    let axis = n.axis(
        n.int_or("axis", if legacy { 1 } else { -1 })?,
        shape.len(),
        "axis",
    )?;
    let (lanes, a) = if legacy {
        let rows: usize = shape[..axis].iter().product();
        let cols: usize = shape[axis..].iter().product();
        let m = cx.emit(
            n,
            &format!("{out}.matrix"),
            OpKind::Reshape,
            attrs([("shape", Attr::Ints(vec![rows as i64, cols as i64]))]),
            &[x],
        )?;
        (m, 1)
    } else {
        (x, axis)
    };
    let lshape = cx.ty(lanes).shape.clone();
    let best = cx.emit(
        n,
        &format!("{out}.best"),
        OpKind::ArgMax,
        attrs([
            ("axis", Attr::Int(a as i64)),
            ("keepdims", Attr::Bool(true)),
            ("select_last_index", Attr::Bool(false)),
        ]),
        &[lanes],
    )?;
    let trailing = lshape.len() - 1 - a;
    let p = weight(cx, n, "positions", positions(lshape[a], trailing, 0, false))?;
    let mask = compare(cx, n, &format!("{out}.mask"), "equal", best, p)?;
    let name = if legacy {
        format!("{out}.ones")
    } else {
        out.to_string()
    };
    let mut id = cx.emit(
        n,
        &name,
        OpKind::Cast,
        attrs([("to", Attr::Str("f32".into()))]),
        &[mask],
    )?;
    if legacy {
        id = cx.emit(
            n,
            out,
            OpKind::Reshape,
            attrs([(
                "shape",
                Attr::Ints(shape.iter().map(|&d| d as i64).collect()),
            )]),
            &[id],
        )?;
    }
    define(cx, n, id)
}
