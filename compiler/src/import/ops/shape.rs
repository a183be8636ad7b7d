//! Ops that move elements around: Flatten, Reshape, Squeeze, Unsqueeze, Transpose, Concat, Pad,
//! Tile, SpaceToDepth, DepthToSpace.
//! On constants they fold (this is where shape subgraphs end); on graph values they become IR ops
//! with every shape and axis resolved.

use super::attrs;
use crate::diag::Result;
use crate::import::constant::{checked_numel, Const};
use crate::import::context::{Importer, Val, MAX_DIM};
use crate::import::node::OnnxNode;
use crate::ir::{Attr, Attrs, OpKind};
use std::sync::Arc;

/// Folds `f` over a constant input, or emits `kind` with `a` on a graph input.
fn fold_or_emit(
    cx: &mut Importer,
    n: &OnnxNode,
    x: &Val,
    kind: OpKind,
    a: Attrs,
    f: impl FnOnce(&Const) -> Result<Const, String>,
) -> Result<()> {
    let out = n.output()?;
    if let Val::Const(c) = x {
        let folded = f(c).map_err(|m| n.fail(format!("cannot be folded: {m}")))?;
        cx.define(out, Val::Const(Arc::new(folded)));
        return Ok(());
    }
    let id = cx.operand(n, 0, "the input")?;
    let id = cx.emit(n, out, kind, a, &[id])?;
    cx.define(out, Val::Node(id));
    Ok(())
}

fn input_shape(cx: &Importer, n: &OnnxNode, x: &Val) -> Result<Vec<usize>> {
    cx.shape(x)
        .ok_or_else(|| n.fail("reads a value that cannot be used"))
}

fn ints(v: &[usize]) -> Vec<i64> {
    v.iter().map(|&d| d as i64).collect()
}

pub fn flatten(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.required(n, 0, "the input")?;
    let shape = input_shape(cx, n, &x)?;
    // Flatten's axis lies in [-rank, rank]: rank puts everything in the first dimension, and a
    // negative axis counts from the rank (so -1 keeps the last axis apart).
    let raw = n.int_or("axis", 1)?;
    let rank = shape.len() as i64;
    let axis = if raw < 0 { raw + rank } else { raw };
    if !(0..=rank).contains(&axis) {
        return Err(n.fail(format!(
            "has axis {raw}, out of range for an input of shape {shape:?}"
        )));
    }
    let axis = axis as usize;
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis..].iter().product();
    fold_or_emit(
        cx,
        n,
        &x,
        OpKind::Flatten,
        attrs([("axis", Attr::Int(axis as i64))]),
        |c| c.reshape(&[outer, inner]),
    )
}

/// Resolves a Reshape target: `0` copies the input's dimension (unless `allowzero`), `-1` takes
/// whatever is left.
pub fn resolve_reshape(
    target: &[i64],
    input: &[usize],
    allowzero: bool,
) -> Result<Vec<usize>, String> {
    let numel = checked_numel(input).ok_or("the input is too large")?;
    let mut out = Vec::with_capacity(target.len());
    let mut infer_at = None;
    for (i, &d) in target.iter().enumerate() {
        out.push(match d {
            0 if !allowzero => *input.get(i).ok_or_else(|| {
                format!("the target shape {target:?} copies dimension {i} of the input, which has only {}", input.len())
            })?,
            -1 if infer_at.is_none() => {
                infer_at = Some(i);
                1
            }
            -1 => return Err(format!("the target shape {target:?} has more than one -1")),
            d if d >= 0 && d <= MAX_DIM as i64 => d as usize,
            d => return Err(format!("the target shape {target:?} has an invalid dimension {d}")),
        });
    }
    let known = checked_numel(&out).ok_or("the target shape is too large")?;
    if let Some(i) = infer_at {
        if known == 0 || numel % known != 0 {
            return Err(format!("the target shape {target:?} does not divide the {numel} elements of the input {input:?}"));
        }
        out[i] = numel / known;
    } else if known != numel {
        return Err(format!(
            "the target shape {target:?} has {known} elements, the input {input:?} has {numel}"
        ));
    }
    Ok(out)
}

pub fn reshape(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.required(n, 0, "the input")?;
    let shape = input_shape(cx, n, &x)?;
    let target = cx
        .constant_ints(n, 1, "shape")?
        .ok_or_else(|| n.fail("lacks its input 1 (the shape)"))?;
    let allowzero = n.int_or("allowzero", 0)? != 0;
    let new = resolve_reshape(&target, &shape, allowzero)
        .map_err(|m| n.fail(format!("cannot reshape: {m}")))?;
    fold_or_emit(
        cx,
        n,
        &x,
        OpKind::Reshape,
        attrs([("shape", Attr::Ints(ints(&new)))]),
        |c| c.reshape(&new),
    )
}

/// Squeeze and Unsqueeze take their axes as an attribute before opset 13, as an input after.
fn axes_arg(cx: &mut Importer, n: &OnnxNode) -> Result<Option<Vec<i64>>> {
    if n.opset < 13 {
        n.ints("axes")
    } else {
        cx.constant_ints(n, 1, "axes")
    }
}

pub fn squeeze(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.required(n, 0, "the input")?;
    let shape = input_shape(cx, n, &x)?;
    let mut axes = match axes_arg(cx, n)? {
        Some(a) => n.axes(&a, shape.len(), "axes")?,
        None => (0..shape.len()).filter(|&i| shape[i] == 1).collect(),
    };
    axes.sort_unstable();
    if let Some(&a) = axes.iter().find(|&&a| shape[a] != 1) {
        return Err(n.fail(format!(
            "squeezes axis {a} of shape {shape:?}, which is not of size 1"
        )));
    }
    let new: Vec<usize> = (0..shape.len())
        .filter(|i| !axes.contains(i))
        .map(|i| shape[i])
        .collect();
    fold_or_emit(
        cx,
        n,
        &x,
        OpKind::Squeeze,
        attrs([("axes", Attr::Ints(ints(&axes)))]),
        |c| c.reshape(&new),
    )
}

pub fn unsqueeze(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.required(n, 0, "the input")?;
    let shape = input_shape(cx, n, &x)?;
    let raw = axes_arg(cx, n)?.ok_or_else(|| n.fail("has no axes"))?;
    let rank = shape.len() + raw.len();
    let mut axes = n.axes(&raw, rank, "axes")?;
    axes.sort_unstable();
    let mut dims = shape.iter();
    let new: Vec<usize> = (0..rank)
        .map(|i| {
            if axes.contains(&i) {
                1
            } else {
                dims.next().copied().unwrap_or(1)
            }
        })
        .collect();
    fold_or_emit(
        cx,
        n,
        &x,
        OpKind::Unsqueeze,
        attrs([("axes", Attr::Ints(ints(&axes)))]),
        |c| c.reshape(&new),
    )
}

pub fn transpose(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.required(n, 0, "the input")?;
    let rank = input_shape(cx, n, &x)?.len();
    let perm: Vec<usize> = match n.ints("perm")? {
        None => (0..rank).rev().collect(),
        Some(p) => {
            let perm = n.axes(&p, rank, "perm")?;
            if perm.len() != rank {
                return Err(n.fail(format!(
                    "has perm {p:?}, not a permutation of the {rank} axes of its input"
                )));
            }
            perm
        }
    };
    fold_or_emit(
        cx,
        n,
        &x,
        OpKind::Transpose,
        attrs([("perm", Attr::Ints(ints(&perm)))]),
        |c| c.transpose(&perm),
    )
}

pub fn concat(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let out = n.output()?;
    let mut vals = Vec::with_capacity(n.proto.input.len());
    for i in 0..n.proto.input.len() {
        vals.push((i, cx.required(n, i, "a part")?));
    }
    let first = vals.first().ok_or_else(|| n.fail("has no inputs"))?;
    let rank = input_shape(cx, n, &first.1)?.len();
    let axis = n.axis(
        n.int("axis")?.ok_or_else(|| n.fail("has no axis"))?,
        rank,
        "axis",
    )?;
    let consts: Vec<&Const> = vals
        .iter()
        .filter_map(|(_, v)| {
            if let Val::Const(c) = v {
                Some(&**c)
            } else {
                None
            }
        })
        .collect();
    if consts.len() == vals.len() {
        let c =
            Const::concat(&consts, axis).map_err(|m| n.fail(format!("cannot be folded: {m}")))?;
        cx.define(out, Val::Const(Arc::new(c)));
        return Ok(());
    }
    let mut ops = Vec::with_capacity(vals.len());
    for (i, v) in &vals {
        // Empty constants (exporters emit them) add nothing, and the IR holds no empty tensors.
        if matches!(v, Val::Const(c) if c.is_empty()) {
            continue;
        }
        ops.push(cx.operand(n, *i, "a part")?);
    }
    // A concat of one part is that part.
    let id = match ops[..] {
        [only] => only,
        _ => cx.emit(
            n,
            out,
            OpKind::Concat,
            attrs([("axis", Attr::Int(axis as i64))]),
            &ops,
        )?,
    };
    cx.define(out, Val::Node(id));
    Ok(())
}

/// Before opset 11 `pads` and `value` are attributes; from 11 they are inputs (which qcc needs
/// constant), and from 18 an `axes` input may name the padded axes. Constant padding is the IR's
/// `pad`; the other modes (`edge`, `reflect`, `wrap`) and negative pads (cropping) move elements
/// without making new ones, so each such axis is a `gather` of constant source indices
/// ([`source_index`]), exact on floats and codes alike.
pub fn pad(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let mode = n.string("mode")?.unwrap_or_else(|| "constant".into());
    let mode = match mode.as_str() {
        "constant" => None,
        "edge" => Some(PadMode::Edge),
        "reflect" => Some(PadMode::Reflect),
        "wrap" => Some(PadMode::Wrap),
        _ => {
            return Err(n.fail(format!(
                "has mode `{mode}`; Pad's modes are constant, edge, reflect and wrap"
            )))
        }
    };
    let x = cx.required(n, 0, "the input")?;
    let rank = input_shape(cx, n, &x)?.len();
    let (pads, value, axes) = if n.opset < 11 {
        let pads = n.ints("pads")?.ok_or_else(|| n.fail("has no pads"))?;
        (pads, n.float_or("value", 0.0)?, None)
    } else {
        let pads = cx
            .constant_ints(n, 1, "pads")?
            .ok_or_else(|| n.fail("lacks its input 1 (the pads)"))?;
        let value = match cx.constant(n, 2, "padding value")? {
            None => 0.0,
            Some(c) if c.len() == 1 => c.floats()[0],
            Some(c) => {
                return Err(n.fail(format!(
                    "has a padding value of shape {:?}; Pad takes a single value",
                    c.shape()
                )))
            }
        };
        (pads, value, cx.constant_ints(n, 3, "axes")?)
    };
    let axes = match axes {
        Some(a) => n.axes(&a, rank, "axes")?,
        None => (0..rank).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return Err(n.fail(format!(
            "has {} pads for {} axes; it needs a begin and an end for each",
            pads.len(),
            axes.len()
        )));
    }
    if let Some(p) = pads.iter().find(|p| p.unsigned_abs() > MAX_DIM as u64) {
        return Err(n.fail(format!("has an implausible pad {p}")));
    }
    let mut full = vec![0i64; 2 * rank];
    for (k, &a) in axes.iter().enumerate() {
        full[a] = pads[k];
        full[rank + a] = pads[axes.len() + k];
    }
    let out = n.output()?;
    let mut id = cx.operand(n, 0, "the input")?;
    // Axes whose elements move (a mode other than constant, or a crop) are gathers first; what is
    // left is constant padding with non-negative pads.
    for axis in 0..rank {
        let (begin, end) = (full[axis], full[rank + axis]);
        let (gb, ge) = match mode {
            Some(_) => (begin, end),
            None => (begin.min(0), end.min(0)),
        };
        if gb == 0 && ge == 0 {
            continue;
        }
        let len = cx.ty(id).shape[axis] as i64;
        let count = gb + len + ge;
        if count <= 0 {
            return Err(n.fail(format!(
                "pads axis {axis} (length {len}) by {begin} and {end}, which leaves nothing"
            )));
        }
        if count > MAX_GATHERED {
            return Err(n.fail(format!(
                "pads axis {axis} (length {len}) by {begin} and {end}, to an implausible length {count}"
            )));
        }
        let m = mode.unwrap_or(PadMode::Edge);
        let indices: Vec<i32> = (0..count)
            .map(|i| source_index(m, i - gb, len) as i32)
            .collect();
        id = gather_axis(cx, n, id, axis, indices)?;
        if mode.is_some() {
            full[axis] = 0;
            full[rank + axis] = 0;
        }
    }
    if mode.is_none() && full.iter().any(|&p| p > 0) {
        let kept: Vec<i64> = full.iter().map(|&p| p.max(0)).collect();
        id = cx.emit(
            n,
            out,
            OpKind::Pad,
            attrs([("pads", Attr::Ints(kept)), ("value", Attr::Float(value))]),
            &[id],
        )?;
    }
    cx.define(out, Val::Node(id));
    Ok(())
}

/// `x` with `axis` replaced by the elements at `indices` along it: one `gather` of a constant
/// index vector, which moves floats and codes alike (its kernel copies, its quantized form keeps
/// the input's parameters).
fn gather_axis(
    cx: &mut Importer,
    n: &OnnxNode,
    x: crate::ir::NodeId,
    axis: usize,
    indices: Vec<i32>,
) -> Result<crate::ir::NodeId> {
    let out = n.output()?;
    let count = indices.len();
    let c = Const::I32(
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[count]), indices)
            .expect("one index per element"),
    );
    let name = format!("{out}.axis{axis}");
    let i = cx
        .weight(&name, &c, crate::ir::ElemType::I32)
        .map_err(|m| n.fail(m))?;
    cx.emit(
        n,
        out,
        OpKind::Gather,
        attrs([("axis", Attr::Int(axis as i64))]),
        &[x, i],
    )
}

/// Tile: each axis repeated `repeats[axis]` times. On a constant it folds; on a graph value each
/// repeated axis is one [`gather_axis`] of `j mod len`, so no new op is needed anywhere. A
/// repeat of 0 would make an empty tensor, which the IR does not hold.
pub fn tile(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.required(n, 0, "the input")?;
    let shape = input_shape(cx, n, &x)?;
    let repeats = cx
        .constant_ints(n, 1, "repeats")?
        .ok_or_else(|| n.fail("lacks its input 1 (the repeats)"))?;
    if repeats.len() != shape.len() {
        return Err(n.fail(format!(
            "has {} repeats for an input of rank {} (shape {shape:?}); it needs one per axis",
            repeats.len(),
            shape.len()
        )));
    }
    for (axis, (&r, &len)) in repeats.iter().zip(&shape).enumerate() {
        if r < 1 || (len as i64).saturating_mul(r) > MAX_GATHERED {
            return Err(n.fail(format!(
                "repeats axis {axis} (length {len}) {r} times; qcc needs a positive repeat that \
                 keeps the axis under {MAX_GATHERED} elements"
            )));
        }
    }
    let indices = |len: usize, r: i64| (0..len as i64 * r).map(move |j| j % len as i64);
    let out = n.output()?;
    if let Val::Const(c) = &x {
        let mut folded = (**c).clone();
        for (axis, (&r, &len)) in repeats.iter().zip(&shape).enumerate() {
            if r != 1 {
                let idx: Vec<i64> = indices(len, r).collect();
                folded = folded
                    .gather(axis, &idx, &[idx.len()])
                    .map_err(|m| n.fail(format!("cannot be folded: {m}")))?;
            }
        }
        cx.define(out, Val::Const(Arc::new(folded)));
        return Ok(());
    }
    let mut id = cx.operand(n, 0, "the input")?;
    for (axis, (&r, &len)) in repeats.iter().zip(&shape).enumerate() {
        if r != 1 {
            id = gather_axis(cx, n, id, axis, indices(len, r).map(|j| j as i32).collect())?;
        }
    }
    cx.define(out, Val::Node(id));
    Ok(())
}

/// The longest axis a Pad mode other than constant (or a crop), or a Tile, may make: its gather
/// holds one i32 index per position, and no model pads an axis to 16 M elements (a larger count is a
/// corrupt pads input, refused before its indices are allocated).
const MAX_GATHERED: i64 = 1 << 24;

/// How Pad fills outside its input when it does not fill with a value.
#[derive(Clone, Copy, Debug, PartialEq)]
enum PadMode {
    /// The nearest end's element.
    Edge,
    /// The mirror image about the end element, not repeating it (numpy's `reflect`), over and
    /// over when the pad is longer than the axis.
    Reflect,
    /// The axis repeated (numpy's `wrap`).
    Wrap,
}

/// The input index (in `0..len`) that result position `j` (counted from the input's first
/// element, so negative in the begin pad) reads along a padded axis of length `len`. Positions
/// inside the input read themselves in every mode, which is what makes a crop an `Edge` gather.
fn source_index(mode: PadMode, j: i64, len: i64) -> i64 {
    match mode {
        PadMode::Edge => j.clamp(0, len - 1),
        PadMode::Wrap => j.rem_euclid(len),
        PadMode::Reflect if len == 1 => 0,
        PadMode::Reflect => {
            // Reflection without repeating the ends has period 2(len − 1).
            let period = 2 * (len - 1);
            let k = j.rem_euclid(period);
            if k < len {
                k
            } else {
                period - k
            }
        }
    }
}

/// SpaceToDepth and DepthToSpace: a reshape to 6-D, a transpose and a reshape back (code
/// movement only). `DCR` mode puts the block offsets in the leading channels, `CRD` (DepthToSpace,
/// and SpaceToDepth from opset 25) in the trailing ones.
pub fn space_depth(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.operand(n, 0, "the input")?;
    let s = cx.ty(x).shape.clone();
    if s.len() != 4 {
        return Err(n.fail(format!(
            "rearranges an input of shape {s:?}; it needs [N, C, H, W]"
        )));
    }
    let b = n
        .int("blocksize")?
        .filter(|&b| b >= 1 && b <= MAX_DIM as i64)
        .ok_or_else(|| n.fail("needs a positive `blocksize`"))? as usize;
    let (nn, c, h, w) = (s[0], s[1], s[2], s[3]);
    let to_depth = n.op_type() == "SpaceToDepth";
    let crd = match n.string("mode")?.as_deref() {
        None | Some("DCR") => false,
        Some("CRD") => true,
        Some(m) => return Err(n.fail(format!("has mode {m:?}; {} knows DCR and CRD", n.op_type()))),
    };
    let (six, perm, last): (Vec<usize>, Vec<i64>, Vec<usize>) = if to_depth {
        if h % b != 0 || w % b != 0 {
            return Err(n.fail(format!(
                "splits a {h}×{w} image into blocks of {b}, which does not divide it"
            )));
        }
        let perm = if crd {
            vec![0, 1, 3, 5, 2, 4]
        } else {
            vec![0, 3, 5, 1, 2, 4]
        };
        (
            vec![nn, c, h / b, b, w / b, b],
            perm,
            vec![nn, c * b * b, h / b, w / b],
        )
    } else {
        if c % (b * b) != 0 {
            return Err(n.fail(format!(
                "moves {c} channels into blocks of {b}×{b}, which does not divide them"
            )));
        }
        let cc = c / (b * b);
        if crd {
            (
                vec![nn, cc, b, b, h, w],
                vec![0, 1, 4, 2, 5, 3],
                vec![nn, cc, h * b, w * b],
            )
        } else {
            (
                vec![nn, b, b, cc, h, w],
                vec![0, 3, 4, 1, 5, 2],
                vec![nn, cc, h * b, w * b],
            )
        }
    };
    let out = n.output()?;
    let ints = |v: &[usize]| Attr::Ints(v.iter().map(|&d| d as i64).collect());
    let r = cx.emit(
        n,
        &format!("{out}.blocks"),
        OpKind::Reshape,
        attrs([("shape", ints(&six))]),
        &[x],
    )?;
    let t = cx.emit(
        n,
        &format!("{out}.moved"),
        OpKind::Transpose,
        attrs([("perm", Attr::Ints(perm))]),
        &[r],
    )?;
    let id = cx.emit(
        n,
        out,
        OpKind::Reshape,
        attrs([("shape", ints(&last))]),
        &[t],
    )?;
    cx.define(out, Val::Node(id));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{resolve_reshape, source_index, PadMode};

    #[test]
    fn reshape_targets_resolve_like_onnx() {
        assert_eq!(
            resolve_reshape(&[0, -1], &[2, 3, 4], false).unwrap(),
            vec![2, 12]
        );
        assert_eq!(resolve_reshape(&[-1], &[2, 3], false).unwrap(), vec![6]);
        assert_eq!(
            resolve_reshape(&[1, 0, -1], &[2, 3, 4], false).unwrap(),
            vec![1, 3, 8]
        );
        assert!(resolve_reshape(&[-1, -1], &[4], false).is_err());
        assert!(resolve_reshape(&[5, -1], &[4], false).is_err());
        assert!(resolve_reshape(&[0, 0, 0], &[4], false).is_err());
        assert!(resolve_reshape(&[3], &[4], false).is_err());
        assert!(resolve_reshape(&[2, 0], &[4], true)
            .unwrap_err()
            .contains("elements"));
    }

    fn row(mode: PadMode, begin: i64, len: i64, end: i64) -> Vec<i64> {
        (-begin..len + end)
            .map(|j| source_index(mode, j, len))
            .collect()
    }

    /// numpy.pad([0, 1, 2], (4, 4), mode) gives these, and numpy is what ONNX's reference follows.
    #[test]
    fn source_indices_follow_numpy() {
        assert_eq!(
            row(PadMode::Edge, 4, 3, 4),
            [0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 2]
        );
        assert_eq!(
            row(PadMode::Wrap, 4, 3, 4),
            [2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0]
        );
        assert_eq!(
            row(PadMode::Reflect, 4, 3, 4),
            [0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2]
        );
        assert_eq!(row(PadMode::Reflect, 2, 1, 2), [0, 0, 0, 0, 0]);
    }
}
