//! DAG-aware extraction: each class picks the e-node whose whole sub-DAG is cheapest, counting a
//! class shared by several paths once (egg's greedy extractor counts it once per path, so it would
//! duplicate a residual input or refuse a fold that shares a tensor). Acyclic by construction.

use crate::egraph::analysis::QGraph;
use crate::egraph::cost::node_cost;
use crate::egraph::lang::ENode;
use egg::{Id, Language};
use std::collections::{BTreeMap, HashMap};

/// The chosen e-node of every class reachable from the roots, by canonical class id.
#[derive(Debug, Clone)]
pub struct Choice {
    pub node: HashMap<Id, ENode>,
}

struct Best {
    node: ENode,
    total: f64,
    /// Every class of the sub-DAG (including this one) with its own cost.
    set: BTreeMap<Id, f64>,
}

/// Picks a node per class minimising the DAG cost; `None` when some root has no finite,
/// acyclic extraction.
pub fn extract(egraph: &QGraph, roots: &[Id]) -> Option<(Choice, f64)> {
    let mut best: HashMap<Id, Best> = HashMap::new();
    let mut classes: Vec<Id> = egraph.classes().map(|c| c.id).collect();
    classes.sort();
    let mut costs: HashMap<ENode, f64> = HashMap::new();
    loop {
        let mut changed = false;
        for &cid in &classes {
            for node in egraph[cid].nodes.iter() {
                let own = *costs
                    .entry(node.clone())
                    .or_insert_with(|| node_cost(egraph, node));
                if !own.is_finite() {
                    continue;
                }
                let mut set: BTreeMap<Id, f64> = BTreeMap::new();
                let mut ok = true;
                for &ch in node.children() {
                    let ch = egraph.find(ch);
                    match best.get(&ch) {
                        Some(b) if !b.set.contains_key(&cid) => {
                            set.extend(b.set.iter().map(|(k, v)| (*k, *v)))
                        }
                        _ => {
                            ok = false;
                            break;
                        }
                    }
                }
                if !ok {
                    continue;
                }
                set.insert(cid, own);
                let total: f64 = set.values().sum();
                let better = match best.get(&cid) {
                    None => true,
                    Some(b) => total < b.total * (1.0 - 1e-12) - 1e-9,
                };
                if better {
                    best.insert(
                        cid,
                        Best {
                            node: node.clone(),
                            total,
                            set,
                        },
                    );
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let mut choice = HashMap::new();
    let mut stack: Vec<Id> = roots.iter().map(|&r| egraph.find(r)).collect();
    let mut all: BTreeMap<Id, f64> = BTreeMap::new();
    for r in &stack {
        all.extend(best.get(r)?.set.iter().map(|(k, v)| (*k, *v)));
    }
    while let Some(c) = stack.pop() {
        if choice.contains_key(&c) {
            continue;
        }
        let b = best.get(&c)?;
        for &ch in b.node.children() {
            stack.push(egraph.find(ch));
        }
        choice.insert(c, b.node.clone());
    }
    Some((Choice { node: choice }, all.values().sum()))
}
