//! The normalizations: LayerNormalization, RMSNormalization, InstanceNormalization,
//! GroupNormalization (one `normalize` over trailing axes, then the scale and bias as broadcast
//! `mul`/`add`), LpNormalization (`x / max(reduce{l1|l2}(x), 2⁻¹⁴⁹)`) and LRN (a banded 1×1 conv of
//! the squares).

use super::attrs;
use crate::diag::Result;
use crate::import::constant::Const;
use crate::import::context::{Importer, Val};
use crate::import::node::OnnxNode;
use crate::ir::{Attr, ElemType, NodeId, OpKind};

/// `normalize` over the axes from `axis` on.
fn normalize(
    cx: &mut Importer,
    n: &OnnxNode,
    name: &str,
    x: NodeId,
    axis: usize,
    epsilon: f32,
    rms: bool,
) -> Result<NodeId> {
    cx.emit(
        n,
        name,
        OpKind::Normalize,
        attrs([
            ("axis", Attr::Int(axis as i64)),
            ("epsilon", Attr::Float(epsilon)),
            ("rms", Attr::Bool(rms)),
        ]),
        &[x],
    )
}

/// `y · scale (+ bias)`, each broadcast as numpy does; the last op is named `out`.
fn affine(
    cx: &mut Importer,
    n: &OnnxNode,
    out: &str,
    y: NodeId,
    scale: NodeId,
    bias: Option<NodeId>,
) -> Result<NodeId> {
    let scaled_name = if bias.is_some() {
        format!("{out}.scaled")
    } else {
        out.to_string()
    };
    let scaled = cx.emit(n, &scaled_name, OpKind::Mul, attrs([]), &[y, scale])?;
    match bias {
        Some(b) => cx.emit(n, out, OpKind::Add, attrs([]), &[scaled, b]),
        None => Ok(scaled),
    }
}

/// A per-channel vector `[C]` as `[C, 1, …]` with `trailing` ones, to broadcast along axis 1.
fn per_channel(
    cx: &mut Importer,
    n: &OnnxNode,
    v: NodeId,
    trailing: usize,
    what: &str,
) -> Result<NodeId> {
    if trailing == 0 {
        return Ok(v);
    }
    let out = format!("{}.{what}", n.output()?);
    cx.emit(
        n,
        &out,
        OpKind::Unsqueeze,
        attrs([("axes", Attr::Ints((1..=trailing as i64).collect()))]),
        &[v],
    )
}

/// The training-only outputs (mean, inverse standard deviation) cannot be read.
fn unusable_extras(cx: &mut Importer, n: &OnnxNode) {
    for i in 1..n.proto.output.len() {
        if let Some(extra) = n.output_name(i) {
            let why = format!(
                "`{extra}` is a statistics output of {}, which qcc does not compute",
                n.op_type()
            );
            cx.define(extra, Val::Unusable(why));
        }
    }
}

/// LayerNormalization (17+) and RMSNormalization (23+): over the axes from `axis` (default −1),
/// then `· scale (+ bias)` broadcast against those axes.
pub fn layer_norm(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let rms = n.op_type() == "RMSNormalization";
    let x = cx.operand(n, 0, "the input")?;
    let scale = cx.operand(n, 1, "the scale")?;
    let bias = if rms { None } else { cx.operand_opt(n, 2)? };
    let rank = cx.ty(x).rank();
    let axis = n.axis(n.int_or("axis", -1)?, rank, "axis")?;
    let eps = n.float_or("epsilon", 1e-5)?;
    let out = n.output()?;
    let y = normalize(cx, n, &format!("{out}.normalized"), x, axis, eps, rms)?;
    let id = affine(cx, n, out, y, scale, bias)?;
    cx.define(out, Val::Node(id));
    if rms {
        unusable_extras(cx, n);
    } else {
        layer_stats(cx, n, x, axis, eps)?;
    }
    Ok(())
}

/// LayerNormalization's optional Mean and InvStdDev outputs (reduced axes kept as size 1), when
/// the graph names them: `reduce_mean(x)` and `1/√(reduce_mean((x − mean)²) + ε)`.
fn layer_stats(cx: &mut Importer, n: &OnnxNode, x: NodeId, axis: usize, eps: f32) -> Result<()> {
    let (mean_out, inv_out) = (n.output_name(1), n.output_name(2));
    if mean_out.is_none() && inv_out.is_none() {
        return Ok(());
    }
    let out = n.output()?;
    let rank = cx.ty(x).rank();
    let mean_of = |cx: &mut Importer, name: &str, v: NodeId| {
        cx.emit(
            n,
            name,
            OpKind::ReduceMean,
            attrs([
                ("axes", Attr::Ints((axis as i64..rank as i64).collect())),
                ("keepdims", Attr::Bool(true)),
            ]),
            &[v],
        )
    };
    let mean_name = mean_out.map_or(format!("{out}.mean"), str::to_string);
    let mean = mean_of(cx, &mean_name, x)?;
    if let Some(m) = mean_out {
        cx.define(m, Val::Node(mean));
    }
    let Some(inv_out) = inv_out else {
        return Ok(());
    };
    let d = cx.emit(n, &format!("{out}.dev"), OpKind::Sub, attrs([]), &[x, mean])?;
    let sq = cx.emit(n, &format!("{out}.sq"), OpKind::Mul, attrs([]), &[d, d])?;
    let var = mean_of(cx, &format!("{out}.var"), sq)?;
    let c = Const::F32(ndarray::arr0(eps).into_dyn());
    let e = cx
        .weight(&format!("{out}.epsilon"), &c, ElemType::F32)
        .map_err(|m| n.fail(m))?;
    let ve = cx.emit(
        n,
        &format!("{out}.var_eps"),
        OpKind::Add,
        attrs([]),
        &[var, e],
    )?;
    let unary = |cx: &mut Importer, name: &str, f: &str, v: NodeId| {
        cx.emit(
            n,
            name,
            OpKind::Unary,
            attrs([("fn", Attr::Str(f.into()))]),
            &[v],
        )
    };
    let sd = unary(cx, &format!("{out}.sd"), "sqrt", ve)?;
    let inv = unary(cx, inv_out, "reciprocal", sd)?;
    cx.define(inv_out, Val::Node(inv));
    Ok(())
}

/// InstanceNormalization: each image's channel over its spatial axes, then the per-channel
/// scale and bias.
pub fn instance_norm(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.operand(n, 0, "the input")?;
    let scale = cx.operand(n, 1, "the scale")?;
    let bias = cx.operand(n, 2, "the bias")?;
    let rank = cx.ty(x).rank();
    if rank < 3 {
        return Err(n.fail(format!(
            "normalizes an input of shape {:?}; InstanceNormalization needs N, C and spatial axes",
            cx.ty(x).shape
        )));
    }
    let eps = n.float_or("epsilon", 1e-5)?;
    let out = n.output()?;
    let y = normalize(cx, n, &format!("{out}.normalized"), x, 2, eps, false)?;
    let s = per_channel(cx, n, scale, rank - 2, "scale")?;
    let b = per_channel(cx, n, bias, rank - 2, "bias")?;
    let id = affine(cx, n, out, y, s, Some(b))?;
    cx.define(out, Val::Node(id));
    Ok(())
}

/// GroupNormalization: `[N, C, …]` viewed as `[N, G, C/G·…]`, normalized over the last axis,
/// viewed back; the scale and bias are per channel (opset 21) or per group (opset 18).
pub fn group_norm(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.operand(n, 0, "the input")?;
    let scale = cx.operand(n, 1, "the scale")?;
    let bias = cx.operand(n, 2, "the bias")?;
    let shape = cx.ty(x).shape.clone();
    let groups = n
        .int("num_groups")?
        .ok_or_else(|| n.fail("has no `num_groups`"))?;
    let c = *shape.get(1).ok_or_else(|| {
        n.fail(format!(
            "normalizes an input of shape {shape:?}, which has no channel axis"
        ))
    })?;
    let g = usize::try_from(groups)
        .ok()
        .filter(|&g| g > 0 && c % g == 0)
        .ok_or_else(|| n.fail(format!("splits {c} channels into {groups} groups")))?;
    let eps = n.float_or("epsilon", 1e-5)?;
    let out = n.output()?;
    let rest: usize = shape[1..].iter().product::<usize>() / g;
    let grouped = cx.emit(
        n,
        &format!("{out}.grouped"),
        OpKind::Reshape,
        attrs([(
            "shape",
            Attr::Ints(vec![shape[0] as i64, g as i64, rest as i64]),
        )]),
        &[x],
    )?;
    let mut y = normalize(cx, n, &format!("{out}.normalized"), grouped, 2, eps, false)?;
    let back = Attr::Ints(shape.iter().map(|&d| d as i64).collect());
    let per_group = cx.ty(scale).shape == [g] && g != c;
    if per_group {
        // Opset 18: one scale and bias per group, broadcast over the group's elements.
        let s = per_channel(cx, n, scale, 1, "scale")?;
        let b = per_channel(cx, n, bias, 1, "bias")?;
        y = affine(cx, n, &format!("{out}.affine"), y, s, Some(b))?;
        y = cx.emit(n, out, OpKind::Reshape, attrs([("shape", back)]), &[y])?;
    } else {
        y = cx.emit(
            n,
            &format!("{out}.ungrouped"),
            OpKind::Reshape,
            attrs([("shape", back)]),
            &[y],
        )?;
        let s = per_channel(cx, n, scale, shape.len() - 2, "scale")?;
        let b = per_channel(cx, n, bias, shape.len() - 2, "bias")?;
        y = affine(cx, n, out, y, s, Some(b))?;
    }
    cx.define(out, Val::Node(y));
    Ok(())
}

/// LpNormalization: `x / ‖x‖_p` along `axis` (default −1), p 1 or 2, the norm a `reduce`
/// kept as size 1; a lane of zeros stays zeros.
pub fn lp_norm(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.operand(n, 0, "the input")?;
    let rank = cx.ty(x).rank();
    let axis = n.axis(n.int_or("axis", -1)?, rank, "axis")?;
    let f = match n.int_or("p", 2)? {
        1 => "l1",
        2 => "l2",
        p => return Err(n.fail(format!("has p = {p}; ONNX allows 1 or 2"))),
    };
    let out = n.output()?;
    let norm = cx.emit(
        n,
        &format!("{out}.norm"),
        OpKind::Reduce,
        attrs([
            ("fn", Attr::Str(f.into())),
            ("axes", Attr::Ints(vec![axis as i64])),
            ("keepdims", Attr::Bool(true)),
        ]),
        &[x],
    )?;
    // A zero norm (its lane all zeros) divides by the smallest positive f32 instead, which
    // leaves the zeros (ONNX's reference returns 0 there, not 0/0); any other norm is at least
    // that, so `max` leaves it alone.
    let c = Const::F32(ndarray::arr0(f32::from_bits(1)).into_dyn());
    let tiny = cx
        .weight(&format!("{out}.tiny"), &c, ElemType::F32)
        .map_err(|m| n.fail(m))?;
    let safe = cx.emit(
        n,
        &format!("{out}.divisor"),
        OpKind::Max,
        attrs([]),
        &[norm, tiny],
    )?;
    let id = cx.emit(n, out, OpKind::Div, attrs([]), &[x, safe])?;
    cx.define(out, Val::Node(id));
    Ok(())
}

/// LRN (local response normalization across channels):
/// `y = x / (bias + alpha/size · Σ x²)^beta`, the sum over channels `c − ⌊(size−1)/2⌋ ..= c +
/// ⌈(size−1)/2⌉` inside the input. The windowed sum of squares is a 1×1 `conv2d` with a banded
/// 0/1 weight `[C, C, 1, 1]`, the power a `unary pow`: no op of its own, and the convolution
/// quantizes like any other. For `[N, C, H, W]` inputs (the only LRN exporters emit).
pub fn lrn(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let out = n.output()?;
    let x = cx.operand(n, 0, "the input")?;
    let shape = cx.ty(x).shape.clone();
    if shape.len() != 4 || cx.ty(x).elem != ElemType::F32 {
        return Err(n.fail(format!(
            "normalizes {}; qcc takes LRN of f32 [N, C, H, W] values",
            cx.ty(x)
        )));
    }
    let size = n.int("size")?.ok_or_else(|| n.fail("has no `size`"))?;
    if size < 1 {
        return Err(n.fail(format!("has size {size}; it must be positive")));
    }
    let alpha = n.float_or("alpha", 1e-4)?;
    let beta = n.float_or("beta", 0.75)?;
    let bias = n.float_or("bias", 1.0)?;
    let c = shape[1];
    let (before, after) = ((size - 1) / 2, (size - 1) - (size - 1) / 2);
    let band: Vec<f32> = (0..c as i64)
        .flat_map(|o| {
            (0..c as i64).map(move |i| f32::from(u8::from(o - before <= i && i <= o + after)))
        })
        .collect();
    let band = Const::F32(
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[c, c, 1, 1]), band)
            .expect("one weight per channel pair"),
    );
    let w = cx
        .weight(&format!("{out}.window"), &band, ElemType::F32)
        .map_err(|m| n.fail(m))?;
    let scalar = |v: f32| Const::F32(ndarray::ArrayD::from_elem(ndarray::IxDyn(&[1]), v));
    let scale = cx
        .weight(
            &format!("{out}.alpha_over_size"),
            &scalar(alpha / size as f32),
            ElemType::F32,
        )
        .map_err(|m| n.fail(m))?;
    let b = cx
        .weight(&format!("{out}.bias"), &scalar(bias), ElemType::F32)
        .map_err(|m| n.fail(m))?;
    let sq = cx.emit(
        n,
        &format!("{out}.squares"),
        OpKind::Mul,
        attrs([]),
        &[x, x],
    )?;
    let sum = cx.emit(
        n,
        &format!("{out}.window_sums"),
        OpKind::Conv2d,
        attrs([]),
        &[sq, w],
    )?;
    let scaled = cx.emit(
        n,
        &format!("{out}.scaled"),
        OpKind::Mul,
        attrs([]),
        &[sum, scale],
    )?;
    let base = cx.emit(
        n,
        &format!("{out}.base"),
        OpKind::Add,
        attrs([]),
        &[scaled, b],
    )?;
    let power = cx.emit(
        n,
        &format!("{out}.divisor"),
        OpKind::Unary,
        attrs([
            ("fn", Attr::Str(runtime::ops::UnaryFn::Pow.name().into())),
            ("params", Attr::Floats(vec![beta])),
        ]),
        &[base],
    )?;
    let id = cx.emit(n, out, OpKind::Div, attrs([]), &[x, power])?;
    cx.define(out, Val::Node(id));
    Ok(())
}
