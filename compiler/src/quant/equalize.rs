//! Cross-layer equalization (DFQ, Nagel et al. 2019), `--equalize`: for a layer `A` whose output
//! reaches a layer `B` only through positively homogeneous ops, output channel `c` of `A` is
//! divided by `s_c` and input channel `c` of `B` multiplied by it. The function is unchanged
//! (`f(x/s) = f(x)/s` for `s > 0` and `f` ∈ {ReLU, leaky ReLU, max-pool, flatten}), but per-channel
//! weight ranges that differ by orders of magnitude (typical of depthwise layers) come closer, so
//! symmetric per-channel 8-bit weights lose less.
//!
//! With `r1_c = max|W_A[c, …]|` and `r2_c = max|W_B[…, c, …]|`, DFQ's choice
//! `s_c = √(r1_c·r2_c)/r2_c` makes both ranges `√(r1_c·r2_c)`. Chains (`A → B → C`) are swept
//! until no scale moves by more than 0.1% (at most [`MAX_SWEEPS`] sweeps), as DFQ iterates.
//!
//! ReLU6 and `clip(0, 6)` are *not* crossed: `clip(x/s, 0, 6) ≠ clip(x, 0, 6)/s`, and the IR's
//! clip (like the integer requantization clamp that absorbs it) has one bound per tensor, not one
//! per channel. So in MobileNetV2 and EfficientNet-Lite0 only the linear bottleneck pairs (a
//! projection conv feeding the next expansion conv directly) are equalized; DFQ itself replaced
//! ReLU6 by ReLU to do more, which changes the network.
//!
//! Before: a verified float model with weights loaded (BatchNorm folded). After: the same
//! function up to f32 rounding, verified; ops keep their names, so ranges and `--report` still
//! refer to them. A layer's folded-BN record (`bn_gamma`, `bn_beta`) is scaled with its channel,
//! so the data-free ranges and bias correction see the equalized layer.

use crate::diag::{Error, Result};
use crate::ir::attr::Attr;
use crate::ir::model::{Model, NodeId, NodeKind, WeightData};
use crate::ir::op::OpKind;
use ndarray::ArrayD;
use runtime::Tensor;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Sweeps over all pairs at most this many times (one suffices without chains).
pub const MAX_SWEEPS: usize = 32;

/// A pair `A → … → B` to equalize.
#[derive(Clone, Debug)]
struct Pair {
    first: NodeId,
    second: NodeId,
    /// Features of `B`'s input per channel of `A`'s output: 1, or `H·W` after a flatten.
    per: usize,
}

/// What [`equalize`] did: the pairs, by the names of their two layers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Equalized {
    pub pairs: Vec<(String, String)>,
}

/// Whether `id` is a linear layer with a constant f32 weight (and bias, if any) this pass can
/// rescale: conv2d, or gemm with a 2-D weight, a 1-D bias and `trans_a = false`.
fn is_layer(model: &Model, id: NodeId) -> bool {
    let node = model.node(id);
    let Some(op) = node.op() else { return false };
    let ops = model.operands(id);
    let f32_const = |i: usize| {
        ops.get(i)
            .and_then(|&o| model.node(o).weight())
            .is_some_and(|t| t.as_f32().is_some())
    };
    let bias_ok = ops.get(2).is_none_or(|&b| {
        f32_const(2)
            && model.node(b).ty.rank() == 1
            && model.node(b).ty.shape[0] == channels(model, id)
    });
    match op.kind {
        OpKind::Conv2d => f32_const(1) && bias_ok,
        OpKind::Gemm => {
            f32_const(1)
                && model.node(ops[1]).ty.rank() == 2
                && bias_ok
                && op.bool("trans_a") == Some(false)
        }
        _ => false,
    }
}

/// Output channels of a layer (axis 1 of its result).
fn channels(model: &Model, id: NodeId) -> usize {
    model.node(id).ty.shape.get(1).copied().unwrap_or(0)
}

/// Follows `A`'s result through single-use positively homogeneous ops to a layer reading it as
/// its first operand.
fn pair_from(model: &Model, first: NodeId) -> Option<Pair> {
    if !is_layer(model, first) {
        return None;
    }
    let c = channels(model, first);
    let mut v = first;
    let mut per = 1;
    loop {
        if model.use_count(v) != 1 {
            return None;
        }
        let (user, slot) = *model.users(v).first()?;
        let op = model.node(user).op()?;
        let homogeneous = match op.kind {
            OpKind::Relu | OpKind::MaxPool => true,
            OpKind::LeakyRelu => true,
            OpKind::Clip => op.float("min") == Some(0.0) && op.float("max").is_none(),
            OpKind::Flatten | OpKind::Reshape if per == 1 => {
                let (from, to) = (&model.node(v).ty.shape, &model.node(user).ty.shape);
                // [N, C, rest…] → [N, C·|rest|]: channel c becomes |rest| consecutive features.
                let rest: usize = from.iter().skip(2).product();
                if from.len() >= 2 && to.len() == 2 && to[0] == from[0] && to[1] == from[1] * rest {
                    per = rest;
                    true
                } else {
                    false
                }
            }
            OpKind::Conv2d | OpKind::Gemm => {
                if slot != 0 || !is_layer(model, user) {
                    return None;
                }
                let w = &model.node(model.operands(user)[1]).ty.shape;
                let fits = match op.kind {
                    OpKind::Conv2d => per == 1 && model.node(v).ty.shape.get(1) == Some(&c),
                    _ => {
                        model.node(v).ty.rank() == 2
                            && c * per
                                == if op.bool("trans_b") == Some(true) {
                                    w[1]
                                } else {
                                    w[0]
                                }
                    }
                };
                return fits.then_some(Pair {
                    first,
                    second: user,
                    per,
                });
            }
            _ => false,
        };
        if !homogeneous || slot != 0 {
            return None;
        }
        v = user;
    }
}

/// Flat (standard-layout) indices of `A`'s weight that make output channel `c`.
fn out_lanes(model: &Model, id: NodeId, shape: &[usize]) -> Vec<Vec<usize>> {
    let op = model.node(id).op().expect("a layer");
    let by_rows = op.kind == OpKind::Conv2d || op.bool("trans_b") == Some(true);
    if by_rows {
        let inner: usize = shape.iter().skip(1).product();
        (0..shape[0])
            .map(|o| (o * inner..(o + 1) * inner).collect())
            .collect()
    } else {
        // Gemm [K, N]: channel n is column n.
        let (k, n) = (shape[0], shape[1]);
        (0..n)
            .map(|j| (0..k).map(|i| i * n + j).collect())
            .collect()
    }
}

/// Flat indices of `B`'s weight that read input channel `c` (`per` features per channel).
fn in_lanes(
    model: &Model,
    id: NodeId,
    shape: &[usize],
    c_count: usize,
    per: usize,
) -> Vec<Vec<usize>> {
    let op = model.node(id).op().expect("a layer");
    match op.kind {
        OpKind::Conv2d => {
            let groups = op.int("groups").unwrap_or(1).max(1) as usize;
            let (o_count, cg) = (shape[0], shape[1]);
            let taps: usize = shape.iter().skip(2).product();
            let og = o_count / groups;
            (0..c_count)
                .map(|c| {
                    let (g, ci) = (c / cg, c % cg);
                    (g * og..(g + 1) * og)
                        .flat_map(|o| {
                            let start = (o * cg + ci) * taps;
                            start..start + taps
                        })
                        .collect()
                })
                .collect()
        }
        _ if op.bool("trans_b") == Some(true) => {
            // [N, K]: feature f is column f.
            let (n, k) = (shape[0], shape[1]);
            (0..c_count)
                .map(|c| {
                    (c * per..(c + 1) * per)
                        .flat_map(|f| (0..n).map(move |j| j * k + f))
                        .collect()
                })
                .collect()
        }
        _ => {
            // [K, N]: feature f is row f.
            let n = shape[1];
            (0..c_count)
                .map(|c| (c * per * n..(c + 1) * per * n).collect())
                .collect()
        }
    }
}

/// Makes the weight in `slot` of `op` used by that op alone (a copy under a fresh name when it
/// is shared), so rescaling it changes nothing else.
fn own_weight(model: &mut Model, op: NodeId, slot: usize) -> NodeId {
    let w = model.operands(op)[slot];
    if model.use_count(w) == 1 {
        return w;
    }
    let node = model.node(w).clone();
    let name = model.fresh_name(&node.name);
    let data = match node.kind {
        NodeKind::Weight(WeightData::Inline(t)) => WeightData::Inline(t),
        NodeKind::Weight(d) => WeightData::Loaded(d.tensor().cloned().expect("checked loaded")),
        _ => unreachable!("is_layer checked a constant"),
    };
    let copy = model.add_weight(name, node.ty.clone(), data);
    let edge = model
        .graph
        .edges_connecting(w, op)
        .find(|e| *e.weight() == slot)
        .map(|e| petgraph::visit::EdgeRef::id(&e))
        .expect("the operand edge");
    model.graph.remove_edge(edge);
    model.graph.add_edge(copy, op, slot);
    copy
}

fn max_abs(w: &[f32], lane: &[usize]) -> f64 {
    lane.iter().fold(0.0f64, |m, &i| m.max(w[i].abs() as f64))
}

/// Equalizes every pair the module documentation describes. Deterministic: pairs are taken in
/// the model's topological order.
pub fn equalize(src: &Model) -> Result<(Model, Equalized)> {
    let mut model = src.clone();
    let order = model
        .topo_order()
        .ok_or_else(|| Error::msg("the graph has a cycle"))?;
    let pairs: Vec<Pair> = order.iter().filter_map(|&n| pair_from(&model, n)).collect();
    if pairs.is_empty() {
        return Ok((model, Equalized::default()));
    }
    // Working copies of every weight and bias involved, keyed by the (now private) weight node.
    let mut work: BTreeMap<NodeId, ArrayD<f32>> = BTreeMap::new();
    let mut layer_weight: BTreeMap<NodeId, (NodeId, Option<NodeId>)> = BTreeMap::new();
    for p in &pairs {
        for layer in [p.first, p.second] {
            if layer_weight.contains_key(&layer) {
                continue;
            }
            let w = own_weight(&mut model, layer, 1);
            let b = (model.operands(layer).len() > 2).then(|| own_weight(&mut model, layer, 2));
            for id in std::iter::once(w).chain(b) {
                let t = model
                    .node(id)
                    .weight()
                    .and_then(|t| t.as_f32())
                    .expect("f32 const");
                work.insert(id, t.as_standard_layout().into_owned());
            }
            layer_weight.insert(layer, (w, b));
        }
    }
    // The per-channel factor each first layer's outputs were divided by, in total.
    let mut divided: BTreeMap<NodeId, Vec<f64>> = BTreeMap::new();
    for _ in 0..MAX_SWEEPS {
        let mut moved = 0.0f64;
        for p in &pairs {
            let (wa, ba) = layer_weight[&p.first];
            let (wb, _) = layer_weight[&p.second];
            let c = channels(&model, p.first);
            let a_lanes = out_lanes(&model, p.first, work[&wa].shape());
            let b_lanes = in_lanes(&model, p.second, work[&wb].shape(), c, p.per);
            let scales: Vec<f64> = {
                let (a, b) = (
                    work[&wa].as_slice().expect("standard layout"),
                    work[&wb].as_slice().expect("standard layout"),
                );
                a_lanes
                    .iter()
                    .zip(&b_lanes)
                    .map(|(la, lb)| {
                        let (r1, r2) = (max_abs(a, la), max_abs(b, lb));
                        if r1 > 0.0 && r2 > 0.0 && (r1 * r2).is_finite() {
                            (r1 * r2).sqrt() / r2
                        } else {
                            1.0
                        }
                    })
                    .collect()
            };
            for (ch, &s) in scales.iter().enumerate() {
                moved = moved.max(s.ln().abs());
                let a = work
                    .get_mut(&wa)
                    .and_then(|w| w.as_slice_mut())
                    .expect("owned");
                for &i in &a_lanes[ch] {
                    a[i] = (a[i] as f64 / s) as f32;
                }
                if let Some(ba) = ba {
                    let b = work
                        .get_mut(&ba)
                        .and_then(|w| w.as_slice_mut())
                        .expect("owned");
                    b[ch] = (b[ch] as f64 / s) as f32;
                }
                let bw = work
                    .get_mut(&wb)
                    .and_then(|w| w.as_slice_mut())
                    .expect("owned");
                for &i in &b_lanes[ch] {
                    bw[i] = (bw[i] as f64 * s) as f32;
                }
            }
            let d = divided.entry(p.first).or_insert_with(|| vec![1.0; c]);
            for (t, s) in d.iter_mut().zip(&scales) {
                *t *= s;
            }
        }
        if moved < 1e-3 {
            break;
        }
    }
    for (id, a) in work {
        let node = model.node_mut(id);
        let t = Arc::new(Tensor::F32(a));
        node.kind = NodeKind::Weight(match &node.kind {
            NodeKind::Weight(WeightData::Inline(_)) => WeightData::Inline(t),
            _ => WeightData::Loaded(t),
        });
    }
    for (layer, d) in divided {
        if let NodeKind::Op(op) = &mut model.node_mut(layer).kind {
            for key in ["bn_gamma", "bn_beta"] {
                if let Some(Attr::Floats(v)) = op.attrs.get_mut(key) {
                    for (x, s) in v.iter_mut().zip(&d) {
                        *x = (*x as f64 / s) as f32;
                    }
                }
            }
        }
    }
    model.remove_dead();
    crate::ir::verify::verify_or_error(&model, None)?;
    let pairs = pairs
        .iter()
        .map(|p| {
            (
                model.node(p.first).name.clone(),
                model.node(p.second).name.clone(),
            )
        })
        .collect();
    Ok((model, Equalized { pairs }))
}
