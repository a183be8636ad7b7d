//! `--target-sqnr`: which layer to give more precision next, and how, when the quantized
//! model's outputs fall short of an SQNR target on the calibration samples. The driver
//! (`crate::pipeline`) quantizes again after each choice and keeps it only if the outputs gained.

use crate::ir::model::{Model, NodeId};
use crate::ir::op::OpKind;
use crate::quant::qdq::{moves_codes, reads_sixteen_bits};
use crate::quant::report::Measured;
use crate::quant::WeightBits;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// One way to give a layer more precision, cheapest first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Raise {
    /// 8-bit weights for a conv/gemm/matmul quantized with 7 (`--weight-bits-for OP=8`): still
    /// integer, on the slower exact dot-product route of a target without VNNI.
    WeightBits(String),
    /// 16-bit codes for a float tensor that only convolutions read (`--activation-bits-for
    /// T=16`): still integer, 257 times finer.
    Wide(String),
    /// The op left in float (`--keep-float OP`): exact, and no longer an integer kernel.
    KeepFloat(String),
}

impl fmt::Display for Raise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Raise::WeightBits(op) => write!(f, "--weight-bits-for {op}=8"),
            Raise::Wide(t) => write!(f, "--activation-bits-for {t}=16"),
            Raise::KeepFloat(op) => write!(f, "--keep-float {op}"),
        }
    }
}

/// The precision choices a search has made so far: what the quantizer is told beside the
/// user's own flags.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Precision {
    pub bits_for: BTreeMap<String, WeightBits>,
    pub wide: BTreeSet<String>,
    pub keep_float: BTreeSet<String>,
}

impl Precision {
    /// Whether `raise` is already in force.
    fn has(&self, raise: &Raise) -> bool {
        match raise {
            Raise::WeightBits(op) => self.bits_for.get(op) == Some(&WeightBits::Eight),
            Raise::Wide(t) => self.wide.contains(t),
            Raise::KeepFloat(op) => self.keep_float.contains(op),
        }
    }

    /// These choices with `raise` added.
    pub fn with(&self, raise: &Raise) -> Precision {
        let mut p = self.clone();
        match raise {
            Raise::WeightBits(op) => {
                p.bits_for.insert(op.clone(), WeightBits::Eight);
            }
            Raise::Wide(t) => {
                p.wide.insert(t.clone());
            }
            Raise::KeepFloat(op) => {
                p.keep_float.insert(op.clone());
            }
        }
        p
    }
}

/// One step of the search: the layer it chose, what it tried there, and the worst output's
/// SQNR after trying it.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub layer: String,
    pub raise: Raise,
    pub sqnr_db: f64,
    /// Whether the step was kept (it raised the worst output's SQNR).
    pub kept: bool,
    /// Why the quantizer refused the raise, when it did (`sqnr_db` is then NaN).
    pub refused: Option<String>,
}

/// What `--target-sqnr` did.
#[derive(Clone, Debug, PartialEq)]
pub struct Search {
    pub target_db: f64,
    /// The worst output's SQNR on the calibration samples before any step, and at the end.
    pub start_db: f64,
    pub end_db: f64,
    pub steps: Vec<Step>,
    /// Why the search stopped when the target was not reached.
    pub gave_up: Option<String>,
}

impl Search {
    /// The raises kept, in the order they were made.
    pub fn kept(&self) -> impl Iterator<Item = &Raise> {
        self.steps.iter().filter(|s| s.kept).map(|s| &s.raise)
    }

    /// The flags that reproduce the result without searching again.
    pub fn flags(&self) -> String {
        let mut keep = vec![];
        let mut other = vec![];
        for r in self.kept() {
            match r {
                Raise::KeepFloat(op) => keep.push(op.as_str()),
                r => other.push(r.to_string()),
            }
        }
        if !keep.is_empty() {
            other.push(format!("--keep-float {}", keep.join(",")));
        }
        other.join(" ")
    }
}

/// The fraction of a tensor's energy its quantization noise has at `db` (0 when exact).
fn noise(db: f64) -> f64 {
    10f64.powf(-db / 10.0)
}

/// Each measured layer with the noise it adds: its own relative noise power less the largest
/// its nearest measured inputs bring (a layer is blamed for what it adds, not for what reaches
/// it), largest first, ties by name.
pub fn ranked(float: &Model, measured: &Measured) -> Vec<(String, f64)> {
    let sqnr: HashMap<&str, f64> = measured
        .layers
        .iter()
        .chain(&measured.inputs)
        .map(|l| (l.name.as_str(), l.sqnr_db))
        .collect();
    let mut ranked: Vec<(String, f64)> = measured
        .layers
        .iter()
        .filter_map(|l| {
            let id = float.find(&l.name)?;
            let incoming = upstream(float, id, &sqnr)
                .into_iter()
                .map(noise)
                .fold(0.0, f64::max);
            Some((l.name.clone(), noise(l.sqnr_db) - incoming))
        })
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked
}

/// The SQNRs of the nearest measured tensors upstream of `id` (through ops the integer model
/// does not measure, such as an op kept float or a reshape of codes).
fn upstream(float: &Model, id: NodeId, sqnr: &HashMap<&str, f64>) -> Vec<f64> {
    let mut found = vec![];
    let mut seen = BTreeSet::new();
    let mut stack: Vec<NodeId> = float.operands(id);
    while let Some(n) = stack.pop() {
        let node = float.node(n);
        if node.is_weight() || !seen.insert(n) {
            continue;
        }
        match sqnr.get(node.name.as_str()) {
            Some(&db) => found.push(db),
            None => stack.extend(float.operands(n)),
        }
    }
    found
}

/// The conv/gemm/matmul whose weights make a measured layer: the layer itself, or the producer
/// of a ReLU/Clip that the integer op absorbs (the report names the activation).
fn linear_owner(float: &Model, id: NodeId) -> Option<NodeId> {
    let is_linear = |n: NodeId| {
        float.node(n).op().is_some_and(|o| {
            matches!(o.kind, OpKind::Conv2d | OpKind::Gemm | OpKind::MatMul)
                && float.operands(n).iter().any(|&w| float.node(w).is_weight())
        })
    };
    if is_linear(id) {
        return Some(id);
    }
    let op = float.node(id).op()?;
    let first = *float.operands(id).first()?;
    (matches!(op.kind, OpKind::Relu | OpKind::Clip) && is_linear(first)).then_some(first)
}

/// The ways to raise a layer's precision, cheapest first: 8-bit weights where it has 7, then
/// (with `allow_float`) float. [`next`] passes over those in force.
fn raises(
    float: &Model,
    layer: &str,
    bits: WeightBits,
    now: &Precision,
    allow_float: bool,
) -> Vec<Raise> {
    let Some(id) = float.find(layer) else {
        return vec![];
    };
    let mut out = vec![];
    if let Some(owner) = linear_owner(float, id) {
        let name = float.node(owner).name.clone();
        if now.bits_for.get(&name).copied().unwrap_or(bits) == WeightBits::Seven {
            out.push(Raise::WeightBits(name));
        }
    }
    if allow_float {
        out.push(Raise::KeepFloat(layer.to_string()));
    }
    out
}

/// Every float tensor that 16 bits could be given now: a model input, or the result of an op
/// kept float, read only by convolutions of one group without horizontal dilation, and no
/// model output.
fn widenable(float: &Model, now: &Precision) -> Vec<NodeId> {
    let float_results = now.keep_float.iter().filter_map(|n| float.find(n));
    let kept = |n: NodeId| now.keep_float.contains(&float.node(n).name);
    // A conv whose ReLU/Clip is kept float stays float with it.
    let kept_with_activation = |conv: NodeId| {
        float.users(conv).iter().any(|&(a, _)| {
            kept(a)
                && float
                    .node(a)
                    .op()
                    .is_some_and(|o| matches!(o.kind, OpKind::Relu | OpKind::Clip))
        })
    };
    float
        .inputs
        .iter()
        .copied()
        .chain(float_results)
        .filter(|&x| {
            let users = float.users(x);
            !users.is_empty()
                && !float.outputs.contains(&x)
                && float.node(x).ty.elem.is_float()
                && users.iter().all(|&(u, slot)| {
                    reads_sixteen_bits(float, u, slot) && !kept(u) && !kept_with_activation(u)
                })
        })
        .collect()
}

/// The next raise to try, and the layer (or tensor) it is for: 16 bits for a float tensor
/// convolutions read first (integer, and where int8 loses most on image models: the input),
/// then the layers by [`ranked`] (but those that only move codes), each with its raises
/// cheapest first ([`raises`]); none in `refused` or already in force.
pub fn next(
    float: &Model,
    measured: &Measured,
    bits: WeightBits,
    now: &Precision,
    refused: &BTreeSet<Raise>,
    allow_float: bool,
) -> Option<(String, Raise)> {
    let wide = widenable(float, now).into_iter().map(|x| {
        let name = float.node(x).name.clone();
        (name.clone(), Raise::Wide(name))
    });
    // An op that only moves codes (a reshape, a max-pool) adds no error: nothing to raise. (A
    // layer whose SQNR is above its input's may still add error: a gemm averages its input's
    // noise down, and its own rounding is still there.)
    let layers = ranked(float, measured)
        .into_iter()
        .filter(|(layer, _)| float.find(layer).is_some_and(|n| !moves_codes(float, n)))
        .flat_map(|(layer, _)| {
            raises(float, &layer, bits, now, allow_float)
                .into_iter()
                .map(move |r| (layer.clone(), r))
        });
    wide.chain(layers)
        .find(|(_, r)| !refused.contains(r) && !now.has(r))
}
