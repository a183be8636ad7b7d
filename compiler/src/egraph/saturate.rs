//! The bounded optimizer: load the model into an e-graph, run the rewrites to saturation or a
//! limit, extract the cheapest equivalent model, and say what happened.

use crate::egraph::analysis::{QGraph, TensorAnalysis};
use crate::egraph::convert::{to_egraph_keeping, to_model};
use crate::egraph::extract::extract;
use crate::egraph::lang::ENode;
use crate::ir::model::Model;
use egg::{Rewrite, Runner, SimpleScheduler, StopReason};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Saturation limits. Iterations and e-nodes bound the work deterministically; the time limit is
/// only a safety net (the built-in rules saturate far inside the others).
#[derive(Clone, Debug)]
pub struct Limits {
    pub iterations: usize,
    pub nodes: usize,
    pub time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            iterations: 64,
            nodes: 200_000,
            time: Duration::from_secs(120),
        }
    }
}

/// Why saturation stopped.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Stop {
    /// No rule could add anything: every rewrite the rules allow is in the e-graph.
    #[default]
    Saturated,
    IterationLimit(usize),
    NodeLimit(usize),
    /// The safety net; seconds.
    TimeLimit(f64),
    /// Anything else egg reports.
    Other(String),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Saturated => write!(f, "saturated"),
            Stop::IterationLimit(n) => write!(f, "iteration limit ({n} iterations)"),
            Stop::NodeLimit(n) => write!(f, "e-node limit ({n} nodes)"),
            Stop::TimeLimit(s) => write!(f, "time limit ({s:.0} s)"),
            Stop::Other(s) => write!(f, "{s}"),
        }
    }
}

impl From<&Option<StopReason>> for Stop {
    fn from(stop: &Option<StopReason>) -> Stop {
        match stop {
            None | Some(StopReason::Saturated) => Stop::Saturated,
            Some(StopReason::IterationLimit(n)) => Stop::IterationLimit(*n),
            Some(StopReason::NodeLimit(n)) => Stop::NodeLimit(*n),
            Some(StopReason::TimeLimit(s)) => Stop::TimeLimit(*s),
            Some(StopReason::Other(s)) => Stop::Other(s.clone()),
        }
    }
}

/// What saturation did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Saturated, or the limit that stopped it.
    pub stop: Stop,
    pub iterations: usize,
    pub nodes: usize,
    pub classes: usize,
    /// How often each rule fired, by name (rules that never fired included, with 0).
    pub fired: BTreeMap<String, usize>,
    pub cost_before: f64,
    pub cost_after: f64,
    /// Replacements refused because they were ill-typed: rule name and reason.
    pub refused: Vec<(String, String)>,
    /// Where each rule that fired did: the names of the input model's values it rewrote,
    /// sorted, and how many of its rewrites were of values a rewrite had created (which have no
    /// name in the input).
    pub fired_at: BTreeMap<String, FiredAt>,
}

/// Where one rule fired.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FiredAt {
    pub values: BTreeSet<String>,
    pub unnamed: usize,
}

impl Report {
    pub fn saturated(&self) -> bool {
        self.stop == Stop::Saturated
    }
}

pub type QRewrite = Rewrite<ENode, TensorAnalysis>;

/// Optimizes a verified model (weights loaded) with the given rewrites.
pub fn simplify(
    model: &Model,
    rules: &[QRewrite],
    limits: &Limits,
) -> Result<(Model, Report), String> {
    simplify_keeping(model, rules, limits, &BTreeSet::new())
}

/// [`simplify`], leaving the ops named in `keep` as they are (no rule pattern matches them).
pub fn simplify_keeping(
    model: &Model,
    rules: &[QRewrite],
    limits: &Limits,
    keep: &BTreeSet<String>,
) -> Result<(Model, Report), String> {
    let mut loaded = to_egraph_keeping(model, keep)?;
    let (_, cost_before) =
        extract(&loaded.egraph, &loaded.roots).ok_or("the input model has no finite cost")?;
    let egraph: QGraph =
        std::mem::replace(&mut loaded.egraph, QGraph::new(TensorAnalysis::default()));
    let runner = Runner::default()
        .with_egraph(egraph)
        .with_iter_limit(limits.iterations)
        .with_node_limit(limits.nodes)
        .with_time_limit(limits.time)
        .with_scheduler(SimpleScheduler)
        .run(rules);
    let mut fired: BTreeMap<String, usize> =
        rules.iter().map(|r| (r.name.to_string(), 0)).collect();
    for it in &runner.iterations {
        for (name, n) in &it.applied {
            *fired.entry(name.to_string()).or_default() += n;
        }
    }
    let stop = Stop::from(&runner.stop_reason);
    loaded.egraph = runner.egraph;
    loaded.roots = loaded
        .roots
        .iter()
        .map(|&r| loaded.egraph.find(r))
        .collect();
    loaded.names = loaded
        .names
        .drain()
        .fold(std::collections::HashMap::new(), |mut m, (k, v)| {
            let k = loaded.egraph.find(k);
            m.entry(k)
                .and_modify(|old: &mut String| {
                    if v < *old {
                        *old = v.clone()
                    }
                })
                .or_insert(v);
            m
        });
    let mut fired_at: BTreeMap<String, FiredAt> = BTreeMap::new();
    for (rule, id) in std::mem::take(&mut loaded.egraph.analysis.fired_at) {
        let at = fired_at.entry(rule).or_default();
        match loaded.names.get(&loaded.egraph.find(id)) {
            Some(name) => {
                at.values.insert(name.clone());
            }
            None => at.unnamed += 1,
        }
    }
    let (choice, cost_after) =
        extract(&loaded.egraph, &loaded.roots).ok_or("no finite extraction after saturation")?;
    let out = to_model(&loaded, &choice, model.weights_file.clone())?;
    let report = Report {
        stop,
        iterations: runner.iterations.len(),
        nodes: loaded.egraph.total_number_of_nodes(),
        classes: loaded.egraph.number_of_classes(),
        fired,
        cost_before,
        cost_after,
        refused: std::mem::take(&mut loaded.egraph.analysis.refused),
        fired_at,
    };
    Ok((out, report))
}
