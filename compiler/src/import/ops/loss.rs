//! NegativeLogLikelihoodLoss as the IR's `nll_loss`, and SoftmaxCrossEntropyLoss as a
//! log-softmax over the class axis (the optional `log_prob` output) followed by `nll_loss`.

use super::attrs;
use crate::diag::Result;
use crate::import::context::{Importer, Val};
use crate::import::node::OnnxNode;
use crate::ir::{Attr, Attrs, NodeId, OpKind};

/// The `nll_loss` of `x` (log-probabilities) against the node's target and optional weight.
fn loss(cx: &mut Importer, n: &OnnxNode, x: NodeId) -> Result<()> {
    let target = cx.operand(n, 1, "the target")?;
    let mut operands = vec![x, target];
    if let Some(w) = cx.operand_opt(n, 2)? {
        operands.push(w);
    }
    let reduction = n.string("reduction")?.unwrap_or_else(|| "mean".into());
    let mut a: Attrs = attrs([("reduction", Attr::Str(reduction))]);
    if let Some(i) = n.int("ignore_index")? {
        a.insert("ignore_index".into(), Attr::Int(i));
    }
    let out = n.output()?;
    let id = cx.emit(n, out, OpKind::NllLoss, a, &operands)?;
    cx.define(out, Val::Node(id));
    Ok(())
}

pub fn nll_loss(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.operand(n, 0, "the input")?;
    loss(cx, n, x)
}

/// `log_prob = x − max − log Σ exp(x − max)` along axis 1, then the loss of it.
pub fn softmax_cross_entropy(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.operand(n, 0, "the scores")?;
    if cx.ty(x).rank() < 2 {
        return Err(n.fail(format!("has scores {} without a class axis", cx.ty(x))));
    }
    let out = n.output()?;
    let lane = |f: &str| {
        attrs([
            ("fn", Attr::Str(f.into())),
            ("axes", Attr::Ints(vec![1])),
            ("keepdims", Attr::Bool(true)),
        ])
    };
    let m = cx.emit(n, &format!("{out}.max"), OpKind::Reduce, lane("max"), &[x])?;
    let d = cx.emit(
        n,
        &format!("{out}.shifted"),
        OpKind::Sub,
        attrs([]),
        &[x, m],
    )?;
    let lse = cx.emit(
        n,
        &format!("{out}.lse"),
        OpKind::Reduce,
        lane("log_sum_exp"),
        &[d],
    )?;
    let name = match n.output_name(1) {
        Some(p) => p.to_string(),
        None => format!("{out}.log_prob"),
    };
    let log_prob = cx.emit(n, &name, OpKind::Sub, attrs([]), &[d, lse])?;
    if let Some(p) = n.output_name(1) {
        cx.define(p, Val::Node(log_prob));
    }
    loss(cx, n, log_prob)
}
