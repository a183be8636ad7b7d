//! Model graph ⇄ e-graph. Into: every node becomes an e-node, names remembered per class. Out of:
//! the extracted choice becomes a fresh model that keeps the original names where a class had one.

use crate::egraph::analysis::{node_type, op_of, QGraph, TensorAnalysis};
use crate::egraph::extract::Choice;
use crate::egraph::lang::{Const, ENode, InputLeaf, Meta};
use crate::ir::model::{Model, NameSet, NodeId, NodeKind, WeightData};
use crate::ir::op::Op;
use crate::ir::types::TensorType;
use egg::Id;
use std::collections::{BTreeSet, HashMap};

/// Weights with at most this many elements are printed inline.
pub const INLINE_LIMIT: usize = 16;

/// A model loaded into an e-graph.
pub struct Loaded {
    pub egraph: QGraph,
    /// The class of every returned value, in order.
    pub roots: Vec<Id>,
    /// The name each class had in the model (the first node that landed in it).
    pub names: HashMap<Id, String>,
    /// The model's inputs: name and type, in signature order.
    pub inputs: Vec<(String, TensorType)>,
    pub name: String,
}

fn meta_for(op: &Op, ty: &TensorType, frozen: bool) -> Meta {
    let declared = op.kind.declares_result().then(|| ty.clone());
    Meta::with_frozen(op.attrs.clone(), declared, frozen)
}

/// Loads a verified model (weights loaded) into a fresh e-graph.
pub fn to_egraph(model: &Model) -> Result<Loaded, String> {
    to_egraph_keeping(model, &BTreeSet::new())
}

/// [`to_egraph`], the ops named in `keep` frozen: no rule pattern matches them.
pub fn to_egraph_keeping(model: &Model, keep: &BTreeSet<String>) -> Result<Loaded, String> {
    let mut egraph = QGraph::new(TensorAnalysis::default());
    let mut ids: HashMap<NodeId, Id> = HashMap::new();
    let mut names: HashMap<Id, String> = HashMap::new();
    let order = model.topo_order().ok_or("the graph has a cycle")?;
    let input_index: HashMap<NodeId, usize> = model
        .inputs
        .iter()
        .enumerate()
        .map(|(i, &n)| (n, i))
        .collect();
    for n in order {
        let node = model.node(n);
        let id = match &node.kind {
            NodeKind::Input => egraph.add(ENode::Input(InputLeaf::new(
                input_index[&n],
                node.ty.clone(),
            ))),
            NodeKind::Weight(w) => {
                let t = w
                    .tensor()
                    .ok_or_else(|| format!("weight @{} is not loaded", node.name))?;
                egraph.add(ENode::Const(Const::new(
                    t.clone(),
                    node.ty.clone(),
                    Some(&node.name),
                )))
            }
            NodeKind::Op(op) => {
                let frozen = keep.contains(&node.name);
                let meta = egraph.add(ENode::Meta(meta_for(op, &node.ty, frozen)));
                let mut children = vec![meta];
                children.extend(model.operands(n).iter().map(|o| ids[o]));
                egraph.add(ENode::Op(op.kind, children.into_boxed_slice()))
            }
        };
        ids.insert(n, id);
        names.entry(id).or_insert_with(|| node.name.clone());
    }
    egraph.rebuild();
    egraph.analysis.roots = model.outputs.iter().map(|o| egraph.find(ids[o])).collect();
    let names = names.into_iter().map(|(k, v)| (egraph.find(k), v)).fold(
        HashMap::new(),
        |mut m, (k, v)| {
            m.entry(k).or_insert(v);
            m
        },
    );
    Ok(Loaded {
        roots: model.outputs.iter().map(|o| egraph.find(ids[o])).collect(),
        inputs: model
            .inputs
            .iter()
            .map(|&i| (model.node(i).name.clone(), model.node(i).ty.clone()))
            .collect(),
        names,
        egraph,
        name: model.name.clone(),
    })
}

/// Builds the model the choice describes. Names: a class keeps the name it had; a new op class is
/// named after its op kind, a new constant after its first user and operand (`conv1.w`).
pub fn to_model(
    loaded: &Loaded,
    choice: &Choice,
    weights_file: Option<String>,
) -> Result<Model, String> {
    let eg = &loaded.egraph;
    let mut model = Model::new(loaded.name.clone());
    model.weights_file = weights_file;
    let mut made: HashMap<Id, NodeId> = HashMap::new();
    for (name, ty) in &loaded.inputs {
        model.add_input(name.clone(), ty.clone());
    }
    // Reserve every original name so that new nodes never take one a kept node will use.
    let mut taken = NameSet::default();
    for n in loaded.names.values() {
        taken.take(n);
    }

    // Iterative post-order so deep models do not overflow the stack.
    enum Step {
        Enter(Id, String),
        Exit(Id, String),
    }
    for &root in &loaded.roots {
        let mut stack = vec![Step::Enter(eg.find(root), String::new())];
        while let Some(step) = stack.pop() {
            match step {
                Step::Enter(c, hint) => {
                    if made.contains_key(&c) {
                        continue;
                    }
                    let node = choice
                        .node
                        .get(&c)
                        .ok_or("extraction left a class without a choice")?;
                    stack.push(Step::Exit(c, hint));
                    if let ENode::Op(kind, _) = node {
                        let own = loaded
                            .names
                            .get(&c)
                            .cloned()
                            .unwrap_or_else(|| kind.name().to_string());
                        let slots = kind.schema().operands.names;
                        for (i, &ch) in node.operands().iter().enumerate().rev() {
                            let slot = slots.get(i).or(slots.last()).copied().unwrap_or("x");
                            stack.push(Step::Enter(eg.find(ch), format!("{own}.{slot}")));
                        }
                    }
                }
                Step::Exit(c, hint) => {
                    if made.contains_key(&c) {
                        continue;
                    }
                    let node = &choice.node[&c];
                    let id = match node {
                        ENode::Input(i) => model.inputs[i.index],
                        ENode::Meta(_) => {
                            return Err("a tensor class chose an attribute leaf".into())
                        }
                        ENode::Const(k) => {
                            let base = loaded
                                .names
                                .get(&c)
                                .cloned()
                                .or_else(|| k.name.as_deref().map(String::from));
                            let name = match base {
                                Some(n) if loaded.names.get(&c) == Some(&n) => n,
                                Some(n) => taken.fresh(&n),
                                None => taken.fresh(if hint.is_empty() { "const" } else { &hint }),
                            };
                            let data = if k.tensor.len() <= INLINE_LIMIT {
                                WeightData::Inline(k.tensor.clone())
                            } else {
                                WeightData::Loaded(k.tensor.clone())
                            };
                            model.add_weight(name, k.ty.clone(), data)
                        }
                        ENode::Op(..) => {
                            let op = op_of(eg, node).ok_or("an op without attributes")?;
                            let ty = node_type(eg, node)?;
                            let operands: Vec<NodeId> = node
                                .operands()
                                .iter()
                                .map(|&ch| made[&eg.find(ch)])
                                .collect();
                            let name = match loaded.names.get(&c) {
                                Some(n) => n.clone(),
                                None => taken.fresh(op.kind.name()),
                            };
                            model.add_op(name, op, &operands, ty)
                        }
                    };
                    made.insert(c, id);
                }
            }
        }
    }
    model.outputs = loaded.roots.iter().map(|r| made[&eg.find(*r)]).collect();
    Ok(model)
}
