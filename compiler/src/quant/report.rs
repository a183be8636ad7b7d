//! `--report`: per layer, how much signal survives quantization — the SQNR between the float
//! model's activation and the integer model's dequantized one on the calibration samples, worst
//! first, so a user sees where accuracy goes.

use crate::batch::{count_batches, model_inputs};
use crate::diag::{Error, Result};
use crate::interp::{run_with, Hooks};
use crate::ir::model::{Model, NodeId};
use crate::ir::types::TensorType;
use runtime::Tensor;
use std::collections::{BTreeMap, HashMap};

/// One layer's quantization error.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    /// The float tensor's name (without `%`).
    pub name: String,
    /// The op producing it in the float model.
    pub op: String,
    /// 10·log10(Σ x² / Σ (x − x̂)²) over every sample; `inf` when exact.
    pub sqnr_db: f64,
}

/// The real values of a quantized tensor (or the tensor itself when it is f32).
fn real(t: &Tensor, ty: &TensorType) -> Option<Vec<f64>> {
    match ty.elem.quant() {
        None => Some(t.to_f64_vec()),
        Some(q) if q.axis.is_none() => {
            let (s, z) = (q.scales[0] as f64, q.zero_points[0] as f64);
            Some(t.to_f64_vec().into_iter().map(|v| s * (v - z)).collect())
        }
        Some(_) => None,
    }
}

/// Compares every integer-model tensor named `X.q` (or `X`) with the float model's `%X`.
pub fn report(float: &Model, int: &Model, samples: &[Tensor]) -> Result<Vec<Layer>> {
    let by_name: HashMap<&str, NodeId> = float
        .graph
        .node_indices()
        .map(|n| (float.node(n).name.as_str(), n))
        .collect();
    // int node → float node it approximates.
    let mut pairs: HashMap<NodeId, NodeId> = HashMap::new();
    for n in int.graph.node_indices() {
        let node = int.node(n);
        if node.op().is_none() || node.ty.elem.quant().is_none() {
            continue;
        }
        let base = node.name.strip_suffix(".q").unwrap_or(&node.name);
        if let Some(&f) = by_name.get(base) {
            if float.node(f).ty.shape == node.ty.shape && float.node(f).op().is_some() {
                pairs.insert(n, f);
            }
        }
    }
    let mut signal: BTreeMap<NodeId, (f64, f64)> = BTreeMap::new();
    let (count, layout) = {
        let id = *float
            .inputs
            .first()
            .ok_or_else(|| Error::msg("the model has no input"))?;
        let a = samples.first().ok_or_else(|| Error::msg("no samples"))?;
        count_batches(&float.node(id).name, &float.node(id).ty.shape, a.shape())?
    };
    for b in 0..count {
        let feed = model_inputs(float, samples, layout, b);
        let mut fvals: HashMap<NodeId, Vec<f64>> = HashMap::new();
        let wanted: std::collections::HashSet<NodeId> = pairs.values().copied().collect();
        let mut obs = |id: NodeId, t: &Tensor| {
            if wanted.contains(&id) {
                fvals.insert(id, t.to_f64_vec());
            }
        };
        run_with(
            float,
            &feed,
            Hooks {
                observe: Some(&mut obs),
                transform: None,
            },
        )?;
        let mut ivals: HashMap<NodeId, Vec<f64>> = HashMap::new();
        let mut obs = |id: NodeId, t: &Tensor| {
            if pairs.contains_key(&id) {
                if let Some(v) = real(t, &int.node(id).ty) {
                    ivals.insert(id, v);
                }
            }
        };
        run_with(
            int,
            &feed,
            Hooks {
                observe: Some(&mut obs),
                transform: None,
            },
        )?;
        for (i, f) in &pairs {
            if let (Some(x), Some(y)) = (fvals.get(f), ivals.get(i)) {
                let e = signal.entry(*f).or_default();
                for (a, b) in x.iter().zip(y) {
                    e.0 += a * a;
                    e.1 += (a - b) * (a - b);
                }
            }
        }
    }
    let mut layers: Vec<Layer> = signal
        .into_iter()
        .map(|(f, (s, n))| Layer {
            name: float.node(f).name.clone(),
            op: float
                .node(f)
                .op()
                .map(|o| o.kind.name().to_string())
                .unwrap_or_default(),
            sqnr_db: if n == 0.0 {
                f64::INFINITY
            } else {
                10.0 * (s / n).log10()
            },
        })
        .collect();
    layers.sort_by(|a, b| {
        a.sqnr_db
            .total_cmp(&b.sqnr_db)
            .then_with(|| a.name.cmp(&b.name))
    });
    Ok(layers)
}

/// The report as printed: worst layers first.
pub fn render(layers: &[Layer]) -> String {
    let width = layers.iter().map(|l| l.name.len()).max().unwrap_or(0);
    let mut s = format!(
        "per-layer SQNR, float against int8 on the calibration samples ({} layers, worst first):\n",
        layers.len()
    );
    for l in layers {
        s.push_str(&format!(
            "  {:>7.1} dB  %{:<width$}  {}\n",
            l.sqnr_db, l.name, l.op
        ));
    }
    s
}
