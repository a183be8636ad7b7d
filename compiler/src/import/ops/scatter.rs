//! ScatterND, ScatterElements and Scatter with constant indices (what exporters emit for
//! `y[..., 0:2] = …` in detector heads: the indices come from folded shape arithmetic). Which
//! update lands where is then known at import, so the op is `where(written, gather(updates,
//! source), data)` over rows: a constant map from each row of the result to the update row
//! that writes it, and a constant mask of the rows written. Gather and where already go all
//! the way to a library, so no stage needs new code. Duplicate indices: the last update wins
//! (ONNX leaves it open; ONNX Runtime's loop does the same).

use super::attrs;
use crate::diag::Result;
use crate::import::constant::{checked_numel, Const};
use crate::import::context::{Importer, Val};
use crate::import::node::OnnxNode;
use crate::ir::{Attr, ElemType, NodeId, OpKind};
use ndarray::{ArrayD, IxDyn};
use std::sync::Arc;

/// The most rows a scatter's constant map may have (one i32 and one bool per row).
const MAX_ROWS: usize = 1 << 24;

/// Where each of the `rows` result rows comes from: `Some(update row)` or `None` (kept).
type Sources = Vec<Option<usize>>;

fn reduction_none(n: &OnnxNode) -> Result<()> {
    match n.string("reduction")?.as_deref() {
        None | Some("none") => Ok(()),
        Some(r) => Err(n.fail(format!(
            "combines duplicates with reduction `{r}`; qcc takes reduction none only"
        ))),
    }
}

fn indices(cx: &mut Importer, n: &OnnxNode) -> Result<(Vec<i64>, Vec<usize>)> {
    match cx.input(n, 1)? {
        Some(Val::Const(c)) => {
            let v = c
                .ints()
                .ok_or_else(|| n.fail(format!("has indices of type {}", c.ty().name())))?;
            Ok((v, c.shape().to_vec()))
        }
        Some(_) => Err(super::fold::not_constant(n, 1)),
        None => Err(n.fail("lacks its input 1 (the indices)")),
    }
}

/// An index along axis `axis` of length `len`, negative counting from the end. (Called once
/// per index, a million times for a full-rank ScatterND, so the message is built only on
/// failure.)
fn wrap(n: &OnnxNode, i: i64, len: usize, axis: usize) -> Result<usize> {
    let j = if i < 0 { i + len as i64 } else { i };
    if j < 0 || j >= len as i64 {
        return Err(n.fail(format!(
            "has index {i} for axis {axis} of length {len}, out of range"
        )));
    }
    Ok(j as usize)
}

/// What both scatters read first: no reduction, the data's shape, the constant indices and
/// their shape.
fn operands(cx: &mut Importer, n: &OnnxNode) -> Result<(Vec<usize>, Vec<i64>, Vec<usize>)> {
    reduction_none(n)?;
    let data = cx.required(n, 0, "the data")?;
    let shape = cx
        .shape(&data)
        .ok_or_else(|| n.fail("reads a value that cannot be used"))?;
    let (idx, ishape) = indices(cx, n)?;
    Ok((shape, idx, ishape))
}

fn numel(n: &OnnxNode, shape: &[usize]) -> Result<usize> {
    checked_numel(shape)
        .filter(|&c| c <= MAX_ROWS)
        .ok_or_else(|| {
            n.fail(format!(
                "scatters into a value of shape {shape:?}, too large"
            ))
        })
}

/// ScatterND: each index tuple (the last axis of `indices`, `k` long) names a slice
/// `data[i₀, …, i_{k−1}, …]`, which takes the matching slice of `updates`. Rows are those
/// slices.
pub fn scatter_nd(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let (shape, idx, ishape) = operands(cx, n)?;
    let k = *ishape
        .last()
        .ok_or_else(|| n.fail("has scalar indices; ScatterND needs [..., k]"))?;
    if k == 0 || k > shape.len() {
        return Err(n.fail(format!(
            "has index tuples of length {k} into data of rank {}",
            shape.len()
        )));
    }
    let rows = numel(n, &shape[..k])?;
    let updates = idx.len() / k;
    let mut sources: Sources = vec![None; rows];
    for (u, tuple) in idx.chunks(k).enumerate() {
        let mut row = 0;
        for (a, &i) in tuple.iter().enumerate() {
            row = row * shape[a] + wrap(n, i, shape[a], a)?;
        }
        sources[row] = Some(u);
    }
    let width: usize = shape[k..].iter().product();
    let mut ushape = ishape[..ishape.len() - 1].to_vec();
    ushape.extend_from_slice(&shape[k..]);
    emit(cx, n, &shape, &ushape, [updates, width], rows, &sources)
}

/// ScatterElements (and Scatter, its name before opset 11): `updates[j]` goes to `data[j]`
/// with coordinate `axis` replaced by `indices[j]`. Rows are single elements.
pub fn scatter_elements(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let (shape, idx, ishape) = operands(cx, n)?;
    if ishape.len() != shape.len() {
        return Err(n.fail(format!(
            "has indices of rank {} for data of rank {}",
            ishape.len(),
            shape.len()
        )));
    }
    let axis = n.axis(n.int_or("axis", 0)?, shape.len(), "axis")?;
    let rows = numel(n, &shape)?;
    let mut sources: Sources = vec![None; rows];
    let mut at = vec![0usize; ishape.len()];
    for (u, &i) in idx.iter().enumerate() {
        // `at` walks the indices' positions in row-major order.
        let mut row = 0;
        for (a, &c) in at.iter().enumerate() {
            let c = if a == axis {
                wrap(n, i, shape[a], a)?
            } else if c < shape[a] {
                c
            } else {
                return Err(n.fail(format!(
                    "has indices of shape {ishape:?}, larger than the data's {shape:?} off the axis"
                )));
            };
            row = row * shape[a] + c;
        }
        sources[row] = Some(u);
        for a in (0..at.len()).rev() {
            at[a] += 1;
            if at[a] < ishape[a] {
                break;
            }
            at[a] = 0;
        }
    }
    emit(cx, n, &shape, &ishape, [idx.len(), 1], rows, &sources)
}

/// `where(written, gather(updates as [count, width], source), data as [rows, width])`, back in
/// the data's shape; folded when data and updates are constant.
fn emit(
    cx: &mut Importer,
    n: &OnnxNode,
    shape: &[usize],
    ushape: &[usize],
    [count, width]: [usize; 2],
    rows: usize,
    sources: &Sources,
) -> Result<()> {
    let out = n.output()?;
    let updates = cx.required(n, 2, "the updates")?;
    let given = cx
        .shape(&updates)
        .ok_or_else(|| n.fail("reads updates that cannot be used"))?;
    if given != ushape {
        return Err(n.fail(format!(
            "has updates of shape {given:?}; its indices and data need {ushape:?}"
        )));
    }
    let map: Vec<i64> = sources.iter().map(|s| s.unwrap_or(0) as i64).collect();
    let written = Const::Bool(
        ArrayD::from_shape_vec(
            IxDyn(&[rows, 1]),
            sources.iter().map(Option::is_some).collect(),
        )
        .expect("one flag per row"),
    );
    let to_rows = |c: &Const, r: usize| c.reshape(&[r, width]);
    if let (Some(Val::Const(d)), Some(Val::Const(u))) = (cx.input(n, 0)?, cx.input(n, 2)?) {
        let fold = || -> std::result::Result<Const, String> {
            let picked = to_rows(&u, count)?.gather(0, &map, &[rows])?;
            Const::select(&written, &picked, &to_rows(&d, rows)?)?.reshape(shape)
        };
        let c = fold().map_err(|m| n.fail(format!("cannot be folded: {m}")))?;
        cx.define(out, Val::Const(Arc::new(c)));
        return Ok(());
    }
    let reshape = |cx: &mut Importer, id: NodeId, to: &[usize], name: &str| {
        cx.emit(
            n,
            name,
            OpKind::Reshape,
            attrs([("shape", Attr::Ints(to.iter().map(|&d| d as i64).collect()))]),
            &[id],
        )
    };
    let d = cx.operand(n, 0, "the data")?;
    let u = cx.operand(n, 2, "the updates")?;
    let d2 = reshape(cx, d, &[rows, width], &format!("{out}.data_rows"))?;
    let u2 = reshape(cx, u, &[count, width], &format!("{out}.update_rows"))?;
    let map = Const::I32(
        ArrayD::from_shape_vec(IxDyn(&[rows]), map.iter().map(|&v| v as i32).collect())
            .expect("one source per row"),
    );
    let m = cx
        .weight(&format!("{out}.sources"), &map, ElemType::I32)
        .map_err(|m| n.fail(m))?;
    let w = cx
        .weight(
            &format!("{out}.written"),
            &written,
            ElemType::from_storage(runtime::DType::Bool),
        )
        .map_err(|m| n.fail(m))?;
    let picked = cx.emit(
        n,
        &format!("{out}.picked"),
        OpKind::Gather,
        attrs([("axis", Attr::Int(0))]),
        &[u2, m],
    )?;
    let merged = cx.emit(
        n,
        &format!("{out}.merged"),
        OpKind::Where,
        attrs([]),
        &[w, picked, d2],
    )?;
    let id = reshape(cx, merged, shape, out)?;
    cx.define(out, Val::Node(id));
    Ok(())
}
