//! The model between passes: a petgraph of nodes (inputs, weights, ops) whose edges are operand
//! slots, with use lists and a deterministic topological order.

use crate::diag::Span;
use crate::ir::op::Op;
use crate::ir::types::TensorType;
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use runtime::Tensor;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;

/// A node's identity in the graph; also the SSA value it defines.
pub type NodeId = NodeIndex;

/// Where a weight's data lives in the text form.
#[derive(Clone, Debug, PartialEq)]
pub enum WeightData {
    /// In the `.safetensors` file the model names, not loaded yet.
    External,
    /// In the `.safetensors` file, loaded.
    Loaded(Arc<Tensor>),
    /// Written inline in the IR (`= dense<[…]>`): small constants.
    Inline(Arc<Tensor>),
}

impl WeightData {
    pub fn tensor(&self) -> Option<&Arc<Tensor>> {
        match self {
            WeightData::External => None,
            WeightData::Loaded(t) | WeightData::Inline(t) => Some(t),
        }
    }
}

/// What a node is.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// A model input (`%x = input : tensor<…>`).
    Input,
    /// A named constant (`weight @name : tensor<…>`), referenced as `@name`.
    Weight(WeightData),
    /// An op applied to its operands.
    Op(Op),
}

/// A node: it defines one value, named `%name` (inputs, ops) or `@name` (weights).
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
    pub ty: TensorType,
    /// Where the node was written, when it came from text (for diagnostics).
    pub span: Option<Span>,
}

impl Node {
    pub fn op(&self) -> Option<&Op> {
        match &self.kind {
            NodeKind::Op(op) => Some(op),
            _ => None,
        }
    }
    pub fn is_weight(&self) -> bool {
        matches!(self.kind, NodeKind::Weight(_))
    }
    pub fn weight(&self) -> Option<&Arc<Tensor>> {
        match &self.kind {
            NodeKind::Weight(w) => w.tensor(),
            _ => None,
        }
    }
}

/// A whole model.
#[derive(Clone, Debug, Default)]
pub struct Model {
    /// `model @name`.
    pub name: String,
    /// The `.safetensors` file named by the IR, relative to the IR file.
    pub weights_file: Option<String>,
    /// Edge weight: the operand slot of the target node that the source node fills.
    pub graph: StableDiGraph<Node, usize>,
    /// Input nodes in signature order.
    pub inputs: Vec<NodeId>,
    /// Returned values in order.
    pub outputs: Vec<NodeId>,
}

impl Model {
    pub fn new(name: impl Into<String>) -> Model {
        Model {
            name: name.into(),
            ..Model::default()
        }
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.graph[id]
    }
    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.graph[id]
    }

    pub fn add_input(&mut self, name: impl Into<String>, ty: TensorType) -> NodeId {
        let id = self.graph.add_node(Node {
            name: name.into(),
            kind: NodeKind::Input,
            ty,
            span: None,
        });
        self.inputs.push(id);
        id
    }

    pub fn add_weight(
        &mut self,
        name: impl Into<String>,
        ty: TensorType,
        data: WeightData,
    ) -> NodeId {
        self.graph.add_node(Node {
            name: name.into(),
            kind: NodeKind::Weight(data),
            ty,
            span: None,
        })
    }

    /// Adds an op node whose operands fill slots `0..operands.len()`.
    pub fn add_op(
        &mut self,
        name: impl Into<String>,
        op: Op,
        operands: &[NodeId],
        ty: TensorType,
    ) -> NodeId {
        let id = self.graph.add_node(Node {
            name: name.into(),
            kind: NodeKind::Op(op),
            ty,
            span: None,
        });
        for (slot, &o) in operands.iter().enumerate() {
            self.graph.add_edge(o, id, slot);
        }
        id
    }

    /// The operands of a node in slot order.
    pub fn operands(&self, id: NodeId) -> Vec<NodeId> {
        let mut v: Vec<(usize, NodeId)> = self
            .graph
            .edges_directed(id, Direction::Incoming)
            .map(|e| (*e.weight(), e.source()))
            .collect();
        v.sort();
        v.into_iter().map(|(_, n)| n).collect()
    }

    /// Every use of a node: `(user, slot)`, sorted. A node used twice by one op appears twice.
    pub fn users(&self, id: NodeId) -> Vec<(NodeId, usize)> {
        let mut v: Vec<(NodeId, usize)> = self
            .graph
            .edges_directed(id, Direction::Outgoing)
            .map(|e| (e.target(), *e.weight()))
            .collect();
        v.sort();
        v
    }

    /// How many times the value is used, counting each operand slot and each return.
    pub fn use_count(&self, id: NodeId) -> usize {
        self.graph.edges_directed(id, Direction::Outgoing).count()
            + self.outputs.iter().filter(|&&o| o == id).count()
    }

    /// Makes every user of `old` (and the return list) use `new` instead.
    pub fn replace_all_uses(&mut self, old: NodeId, new: NodeId) {
        let uses: Vec<_> = self
            .graph
            .edges_directed(old, Direction::Outgoing)
            .map(|e| (e.id(), e.target(), *e.weight()))
            .collect();
        for (e, target, slot) in uses {
            self.graph.remove_edge(e);
            self.graph.add_edge(new, target, slot);
        }
        for o in &mut self.outputs {
            if *o == old {
                *o = new;
            }
        }
    }

    /// Removes every node that no output depends on, except inputs (the signature is kept).
    pub fn remove_dead(&mut self) {
        let mut live: BTreeSet<NodeId> = BTreeSet::new();
        let mut stack: Vec<NodeId> = self.outputs.clone();
        stack.extend(self.inputs.iter().copied());
        while let Some(n) = stack.pop() {
            if live.insert(n) {
                stack.extend(self.graph.neighbors_directed(n, Direction::Incoming));
            }
        }
        let dead: Vec<NodeId> = self
            .graph
            .node_indices()
            .filter(|n| !live.contains(n))
            .collect();
        for n in dead {
            self.graph.remove_node(n);
        }
    }

    /// Every node in a topological order that is a function of the graph alone: among the nodes
    /// that are ready, the one added first goes first. `None` if there is a cycle.
    pub fn topo_order(&self) -> Option<Vec<NodeId>> {
        let mut indeg: HashMap<NodeId, usize> = HashMap::new();
        for n in self.graph.node_indices() {
            indeg.insert(n, self.graph.edges_directed(n, Direction::Incoming).count());
        }
        let mut ready: BinaryHeap<Reverse<NodeId>> = indeg
            .iter()
            .filter(|(_, &d)| d == 0)
            .map(|(&n, _)| Reverse(n))
            .collect();
        let mut order = Vec::with_capacity(indeg.len());
        while let Some(Reverse(n)) = ready.pop() {
            order.push(n);
            for e in self.graph.edges_directed(n, Direction::Outgoing) {
                let d = indeg.get_mut(&e.target()).expect("edge target is a node");
                *d -= 1;
                if *d == 0 {
                    ready.push(Reverse(e.target()));
                }
            }
        }
        (order.len() == indeg.len()).then_some(order)
    }

    /// Op nodes only, in topological order.
    pub fn ops_in_order(&self) -> Vec<NodeId> {
        self.topo_order()
            .unwrap_or_default()
            .into_iter()
            .filter(|&n| matches!(self.graph[n].kind, NodeKind::Op(_)))
            .collect()
    }

    /// Weight nodes sorted by name.
    pub fn weights(&self) -> Vec<NodeId> {
        let mut v: Vec<NodeId> = self
            .graph
            .node_indices()
            .filter(|&n| self.graph[n].is_weight())
            .collect();
        v.sort_by(|&a, &b| self.graph[a].name.cmp(&self.graph[b].name));
        v
    }

    /// Finds a node by its name (`x` for `%x`, `conv1.weight` for `@conv1.weight`).
    pub fn find(&self, name: &str) -> Option<NodeId> {
        self.graph
            .node_indices()
            .find(|&n| self.graph[n].name == name)
    }

    /// A name not used by any node, built from `base`. Reads every name: a pass naming many
    /// nodes keeps a [`NameSet`] instead.
    pub fn fresh_name(&self, base: &str) -> String {
        let taken: BTreeSet<&str> = self.graph.node_weights().map(|n| n.name.as_str()).collect();
        if !taken.contains(base) {
            return base.to_string();
        }
        (1..)
            .map(|i| format!("{base}_{i}"))
            .find(|n| !taken.contains(n.as_str()))
            .expect("some name is free")
    }
}

/// Names handed out so far, for a pass that names many nodes: `base` if free, else `base_1`,
/// `base_2`, … as [`Model::fresh_name`] would, but each base remembers where its last search
/// stopped, so n nodes named after one base cost n, not n² (10,000 `relu`s each retrying
/// `relu_1` first, or each collecting the model's names anew).
#[derive(Debug, Default)]
pub struct NameSet {
    taken: std::collections::HashSet<String>,
    next: std::collections::HashMap<String, usize>,
}

impl NameSet {
    /// Marks `name` as used (a node named without asking).
    pub fn take(&mut self, name: &str) {
        self.taken.insert(name.to_string());
    }

    /// A name not used yet, built from `base`; it is used from now on.
    pub fn fresh(&mut self, base: &str) -> String {
        if self.taken.insert(base.to_string()) {
            return base.to_string();
        }
        let i = self.next.entry(base.to_string()).or_insert(1);
        loop {
            let name = format!("{base}_{i}");
            *i += 1;
            if self.taken.insert(name.clone()) {
                return name;
            }
        }
    }
}
