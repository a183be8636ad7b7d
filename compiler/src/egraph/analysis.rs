//! The e-class analysis: every class knows its tensor type, and whether it is a constant (with
//! its value). Ops whose operands are all constant fold to a new constant leaf in the same class.

use crate::egraph::lang::{Const, ENode};
use crate::interp::eval_op;
use crate::ir::infer::{expected_type, infer};
use crate::ir::op::Op;
use crate::ir::types::TensorType;
use egg::{DidMerge, EGraph, Id};
use runtime::Tensor;
use std::sync::Arc;

/// Constants larger than this (elements) are not folded by the analysis: folding them costs time
/// and memory for little gain, and rules that need them fold explicitly.
pub const FOLD_LIMIT: usize = 1 << 22;

#[derive(Debug, Clone, Default)]
pub struct Data {
    /// `None` for meta leaves (attributes), which are not tensors.
    pub ty: Option<TensorType>,
    pub constant: Option<Arc<Tensor>>,
}

/// The analysis. It also remembers which classes the model returns, since a returned value has a
/// use that no e-node shows (rules guarded by `single_use` must see it).
#[derive(Default, Clone)]
pub struct TensorAnalysis {
    pub roots: Vec<Id>,
    /// Matches already rewritten in this e-graph (rule name, canonical ids at the time), so a
    /// match found again in a later iteration is not rebuilt. Kept here, per run, and not in
    /// the rules, which are shared by concurrent runs.
    pub applied: std::collections::HashSet<(String, Vec<Id>)>,
    /// Replacements refused because they were ill-typed: rule name and reason.
    pub refused: Vec<(String, String)>,
    /// Every successful application: rule name and the class it rewrote (mapped back to the
    /// model's value names after the run, so a report can say where each rule fired).
    pub fired_at: Vec<(String, egg::Id)>,
}

/// How many users a class has: the classes holding an e-node that reads it (attribute leaves
/// aside), plus one per time the model returns it. Two things make a reader less than a use:
/// - the class itself: an identity rule (`x · 1 = x`) leaves `mul(x, 1)` inside x's class, a
///   cycle that extraction never takes, so it is no reader;
/// - alternatives: after `bn(max_pool(c)) = max_pool(bn(c))` both `max_pool(c)` and `bn(c)`
///   read c, but the one class reading them holds both forms and extraction keeps only one. A
///   reader that is not returned and whose every reader holds an e-node not reading it is
///   replaceable; replaceable readers read by the same classes count once together. Counting
///   them apart would block the very fold the move was made for.
/// - dead alternatives: after `bn(conv(c)) = conv'(c)` the unfolded `conv(c)` still reads c, but
///   its only readers are classes that also read c directly, through another e-node (the
///   folded conv), and no e-node reads both. A program takes either the unfolded conv or the
///   folded one, never both, so the replaceable reader adds no use beyond the direct one.
///
/// So `single_use` means: one use in every program extraction can pick (docs/dsl.md).
pub fn use_count(egraph: &QGraph, id: Id) -> usize {
    let id = egraph.find(id);
    let mut groups: Vec<Vec<Id>> = vec![];
    let mut needed = 0;
    let direct = readers(egraph, id);
    let reads = |n: &ENode, c: Id| n.operands().iter().any(|&o| egraph.find(o) == c);
    for &u in &direct {
        let theirs = readers(egraph, u);
        let replaceable = returned(egraph, u) == 0
            && !theirs.is_empty()
            && theirs.iter().all(|&q| {
                egraph[q]
                    .nodes
                    .iter()
                    .any(|n| !n.operands().iter().any(|&c| egraph.find(c) == u))
            });
        let alternative = theirs.iter().all(|&q| {
            q != u
                && direct.contains(&q)
                && egraph[q]
                    .nodes
                    .iter()
                    .all(|n| !(reads(n, u) && reads(n, id)))
        });
        if !replaceable {
            needed += 1;
        } else if alternative {
            // Counted with the direct reader it is an alternative of.
        } else if !groups.contains(&theirs) {
            groups.push(theirs);
        }
    }
    needed + groups.len() + returned(egraph, id)
}

/// The classes other than `id` holding an e-node that has `id` as an operand, sorted.
fn readers(egraph: &QGraph, id: Id) -> Vec<Id> {
    let mut users: Vec<Id> = egraph[id]
        .parents()
        .filter(|&p| {
            egraph
                .id_to_node(p)
                .operands()
                .iter()
                .any(|&c| egraph.find(c) == id)
        })
        .map(|p| egraph.find(p))
        .filter(|&p| p != id)
        .collect();
    users.sort();
    users.dedup();
    users
}

/// How often the model returns the class.
fn returned(egraph: &QGraph, id: Id) -> usize {
    egraph
        .analysis
        .roots
        .iter()
        .filter(|&&r| egraph.find(r) == id)
        .count()
}

pub type QGraph = EGraph<ENode, TensorAnalysis>;

/// The op (kind and attributes) an op e-node stands for.
pub fn op_of(egraph: &QGraph, node: &ENode) -> Option<Op> {
    let (kind, meta) = match node {
        ENode::Op(k, c) => (*k, c[0]),
        _ => return None,
    };
    egraph[meta].nodes.iter().find_map(|n| match n {
        ENode::Meta(m) => Some(Op {
            kind,
            attrs: m.attrs.clone(),
        }),
        _ => None,
    })
}

/// The declared result type of a quantize e-node.
pub fn declared_type(egraph: &QGraph, node: &ENode) -> Option<TensorType> {
    let meta = node.meta_id()?;
    egraph[meta].nodes.iter().find_map(|n| match n {
        ENode::Meta(m) => m.ty.clone(),
        _ => None,
    })
}

/// The type an op e-node produces, or why it has none.
pub fn node_type(egraph: &QGraph, node: &ENode) -> Result<TensorType, String> {
    match node {
        ENode::Meta(_) => Err("attributes are not a tensor".into()),
        ENode::Const(c) => Ok(c.ty.clone()),
        ENode::Input(i) => Ok(i.ty.clone()),
        ENode::Op(kind, _) => {
            let op = op_of(egraph, node).ok_or("an op without attributes")?;
            let tys: Option<Vec<&TensorType>> = node
                .operands()
                .iter()
                .map(|&c| egraph[c].data.ty.as_ref())
                .collect();
            let tys = tys.ok_or("an operand is not a tensor")?;
            if kind.declares_result() {
                let declared = declared_type(egraph, node)
                    .ok_or_else(|| format!("{} needs a declared result type", kind.name()))?;
                return expected_type(&op, &tys, &declared);
            }
            infer(&op, &tys)
        }
    }
}

impl egg::Analysis<ENode> for TensorAnalysis {
    type Data = Data;

    fn make(egraph: &mut QGraph, node: &ENode, _id: Id) -> Data {
        match node {
            ENode::Meta(_) => Data::default(),
            ENode::Const(c) => Data {
                ty: Some(c.ty.clone()),
                constant: Some(c.tensor.clone()),
            },
            ENode::Input(i) => Data {
                ty: Some(i.ty.clone()),
                constant: None,
            },
            ENode::Op(kind, _) => {
                let ty = node_type(egraph, node).ok();
                let mut constant = None;
                // Quantize/dequantize stay (the integer lowering wants to see them), and integer
                // ops are never applied to constants alone.
                let foldable = !kind.declares_result();
                if let (Some(t), true) = (&ty, foldable) {
                    let args: Option<Vec<Arc<Tensor>>> = node
                        .operands()
                        .iter()
                        .map(|&c| egraph[c].data.constant.clone())
                        .collect();
                    if let (Some(args), Some(op)) = (args, op_of(egraph, node)) {
                        if t.numel() <= FOLD_LIMIT && t.elem.is_float() {
                            let refs: Vec<&Tensor> = args.iter().map(|a| a.as_ref()).collect();
                            constant = eval_op(&op, &refs, t).ok().map(Arc::new);
                        }
                    }
                }
                Data { ty, constant }
            }
        }
    }

    fn merge(&mut self, a: &mut Data, b: Data) -> DidMerge {
        let mut changed_a = false;
        let mut b_has_more = false;
        match (&a.ty, b.ty) {
            (None, Some(t)) => {
                a.ty = Some(t);
                changed_a = true;
            }
            (Some(_), None) => b_has_more = true,
            _ => {}
        }
        match (&a.constant, b.constant) {
            (None, Some(c)) => {
                a.constant = Some(c);
                changed_a = true;
            }
            (Some(_), None) => b_has_more = true,
            _ => {}
        }
        DidMerge(changed_a, b_has_more)
    }

    fn modify(egraph: &mut QGraph, id: Id) {
        let data = &egraph[id].data;
        let (Some(c), Some(ty)) = (data.constant.clone(), data.ty.clone()) else {
            return;
        };
        if egraph[id]
            .nodes
            .iter()
            .any(|n| matches!(n, ENode::Const(_)))
        {
            return;
        }
        let leaf = egraph.add(ENode::Const(Const::new(c, ty, None)));
        egraph.union(id, leaf);
    }
}
