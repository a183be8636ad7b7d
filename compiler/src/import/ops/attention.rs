//! ONNX Attention (opsets 23–25) as the IR's 4-D `attention`: 3-D inputs split into heads
//! (reshape + transpose) and joined back, the key/value cache concatenated before it (which is
//! also the `present_key`/`present_value` outputs), ONNX's default scale resolved, and
//! `qk_matmul_output` as a second `attention` whose result is the scores at the stage asked for.

use super::attrs;
use crate::diag::Result;
use crate::import::context::{Importer, Val};
use crate::import::node::OnnxNode;
use crate::ir::{Attr, NodeId, OpKind};

/// `[b, s, h·size]` → `[b, h, s, size]`.
fn split_heads(
    cx: &mut Importer,
    n: &OnnxNode,
    x: NodeId,
    heads: i64,
    name: &str,
) -> Result<NodeId> {
    let s = cx.ty(x).shape.clone();
    let hidden = s[2] as i64;
    if heads <= 0 || hidden % heads != 0 {
        return Err(n.fail(format!(
            "splits {name} {s:?} into {heads} heads, which do not divide its last axis"
        )));
    }
    let shape = vec![s[0] as i64, s[1] as i64, heads, hidden / heads];
    let r = cx.emit(
        n,
        &format!("{}.{name}_heads", n.output()?),
        OpKind::Reshape,
        attrs([("shape", Attr::Ints(shape))]),
        &[x],
    )?;
    cx.emit(
        n,
        &format!("{}.{name}_4d", n.output()?),
        OpKind::Transpose,
        attrs([("perm", Attr::Ints(vec![0, 2, 1, 3]))]),
        &[r],
    )
}

/// `[b, h, s, size]` → `[b, s, h·size]`, named `out`.
fn join_heads(cx: &mut Importer, n: &OnnxNode, y: NodeId, out: &str) -> Result<NodeId> {
    let s = cx.ty(y).shape.clone();
    let t = cx.emit(
        n,
        &format!("{out}.heads_last"),
        OpKind::Transpose,
        attrs([("perm", Attr::Ints(vec![0, 2, 1, 3]))]),
        &[y],
    )?;
    let shape = vec![s[0] as i64, s[2] as i64, (s[1] * s[3]) as i64];
    cx.emit(
        n,
        out,
        OpKind::Reshape,
        attrs([("shape", Attr::Ints(shape))]),
        &[t],
    )
}

/// The cache joined before the new keys or values along the sequence axis; the `present` output.
fn with_past(
    cx: &mut Importer,
    n: &OnnxNode,
    past: usize,
    x: NodeId,
    present: usize,
) -> Result<NodeId> {
    let joined = match cx.operand_opt(n, past)? {
        None => x,
        Some(p) => {
            let name = match n.output_name(present) {
                Some(o) => o.to_string(),
                None => format!("{}.present_{present}", n.output()?),
            };
            cx.emit(
                n,
                &name,
                OpKind::Concat,
                attrs([("axis", Attr::Int(2))]),
                &[p, x],
            )?
        }
    };
    if let Some(o) = n.output_name(present) {
        cx.define(o, Val::Node(joined));
    }
    Ok(joined)
}

pub fn attention(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    if n.input_name(6).is_some() {
        return Err(n.fail(
            "gives `nonpad_kv_seqlen` (an external key/value cache), which qcc does not import yet",
        ));
    }
    // The float computation is f32 throughout, which is what every precision asks of f32 inputs.
    n.no_effect(&["softmax_precision"]);
    let mut q = cx.operand(n, 0, "Q")?;
    let mut k = cx.operand(n, 1, "K")?;
    let mut v = cx.operand(n, 2, "V")?;
    let rank = cx.ty(q).rank();
    if rank != cx.ty(k).rank() || rank != cx.ty(v).rank() || !(rank == 3 || rank == 4) {
        return Err(n.fail(format!(
            "has Q {}, K {} and V {}: they must all be 3-D or all 4-D",
            cx.ty(q),
            cx.ty(k),
            cx.ty(v)
        )));
    }
    let q_heads = n.int("q_num_heads")?;
    let kv_heads = n.int("kv_num_heads")?;
    if rank == 3 {
        let (Some(qh), Some(kvh)) = (q_heads, kv_heads) else {
            return Err(n.fail("has 3-D inputs but not both q_num_heads and kv_num_heads"));
        };
        q = split_heads(cx, n, q, qh, "q")?;
        k = split_heads(cx, n, k, kvh, "k")?;
        v = split_heads(cx, n, v, kvh, "v")?;
    }
    let past_len = match cx.input(n, 4)? {
        Some(p) => cx.shape(&p).and_then(|s| s.get(2).copied()).unwrap_or(0),
        None => 0,
    };
    if cx.input(n, 4)?.is_some() != cx.input(n, 5)?.is_some() {
        return Err(n.fail("gives only one of past_key and past_value"));
    }
    k = with_past(cx, n, 4, k, 1)?;
    v = with_past(cx, n, 5, v, 2)?;
    let head_size = cx.ty(q).shape[3];
    let scale = n.float_or("scale", 1.0 / (head_size as f32).sqrt())?;
    let mut a = vec![
        ("scale", Attr::Float(scale)),
        ("softcap", Attr::Float(n.float_or("softcap", 0.0)?)),
        ("is_causal", Attr::Bool(n.int_or("is_causal", 0)? != 0)),
        ("offset", Attr::Int(past_len as i64)),
    ];
    if n.opset >= 25 {
        a.push(("left_window", Attr::Int(n.int_or("left_window_size", -1)?)));
        a.push((
            "right_window",
            Attr::Int(n.int_or("right_window_size", -1)?),
        ));
    }
    let mut operands = vec![q, k, v];
    if let Some(m) = cx.operand_opt(n, 3)? {
        operands.push(m);
    }
    let out = n.output()?;
    let with = |result: &str| {
        let mut a = a.clone();
        a.push(("result", Attr::Str(result.into())));
        a.into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<crate::ir::Attrs>()
    };
    let y = if rank == 4 {
        cx.emit(n, out, OpKind::Attention, with("y"), &operands)?
    } else {
        let y = cx.emit(
            n,
            &format!("{out}.4d"),
            OpKind::Attention,
            with("y"),
            &operands,
        )?;
        join_heads(cx, n, y, out)?
    };
    cx.define(out, Val::Node(y));
    let mode = n.int_or("qk_matmul_output_mode", 0)?;
    if let Some(qk) = n.output_name(3) {
        // The reference's stages: 0 and 1 the (soft-capped) scores, 2 with the mask added, 3
        // the probabilities.
        let result = match mode {
            0 | 1 => "scores",
            2 => "biased_scores",
            3 => "probabilities",
            _ => {
                return Err(n.fail(format!(
                    "has qk_matmul_output_mode = {mode}; ONNX defines 0 to 3"
                )))
            }
        };
        let s = cx.emit(n, qk, OpKind::Attention, with(result), &operands)?;
        cx.define(qk, Val::Node(s));
    }
    Ok(())
}
