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

/// What [`measure`] found: the SQNR of every quantized layer, of each model input's
/// quantization, and of each model output, on the same samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// Every op of the float model the integer model approximates, worst first.
    pub layers: Vec<Layer>,
    /// Each float model input the integer model quantizes (`op` is `input`).
    pub inputs: Vec<Layer>,
    /// Each model output, in signature order (`op` is the producer's kind).
    pub outputs: Vec<Layer>,
    /// The worst output's SQNR over all samples and each half (what [`worst_output`] gives).
    pub halves: Halves,
}

/// Compares every integer-model tensor named `X.q` (or `X`) with the float model's `%X`.
pub fn report(float: &Model, int: &Model, samples: &[Tensor]) -> Result<Vec<Layer>> {
    let cores = crate::quant::calibrate::cores();
    Ok(measure(float, int, samples, cores)?.layers)
}

/// Signal and noise energy, summed over samples.
type Energy = (f64, f64);

fn add_energy(e: &mut Energy, x: &[f64], y: &[f64]) {
    for (a, b) in x.iter().zip(y) {
        e.0 += a * a;
        e.1 += (a - b) * (a - b);
    }
}

fn sqnr_db((s, n): Energy) -> f64 {
    if n == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (s / n).log10()
    }
}

/// The batches of `samples` a model runs: their count and layout.
fn batches(float: &Model, samples: &[Tensor]) -> Result<(usize, crate::batch::Layout)> {
    let id = *float
        .inputs
        .first()
        .ok_or_else(|| Error::msg("the model has no input"))?;
    let a = samples.first().ok_or_else(|| Error::msg("no samples"))?;
    count_batches(&float.node(id).name, &float.node(id).ty.shape, a.shape())
}

/// `f(batch)` for every batch, on up to `cores` threads, each thread's results in batch order
/// and the threads' in thread order (so sums over them do not depend on timing).
fn each_batch<T: Send>(
    count: usize,
    cores: usize,
    f: impl Fn(usize) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let per = count.div_ceil(cores.max(1)).max(1);
    let f = &f;
    let parts: Vec<Result<Vec<T>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..count)
            .step_by(per)
            .map(|lo| s.spawn(move || (lo..(lo + per).min(count)).map(f).collect()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a measuring thread panicked"))
            .collect()
    });
    let mut out = Vec::with_capacity(count);
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// [`report`], with the model inputs' quantization and the model outputs measured in the same
/// runs (what `--target-sqnr` steers by); the samples run on `cores` threads.
pub fn measure(float: &Model, int: &Model, samples: &[Tensor], cores: usize) -> Result<Measured> {
    Ok(measured(float, int, samples, cores, false)?.0)
}

/// [`measure`], keeping the float model's outputs of the same runs as the [`Reference`] later
/// integer models are compared with.
pub fn measure_keeping(
    float: &Model,
    int: &Model,
    samples: &[Tensor],
    cores: usize,
) -> Result<(Measured, Reference)> {
    let (m, outputs) = measured(float, int, samples, cores, true)?;
    Ok((m, Reference { outputs }))
}

/// Per batch, per output, the float model's values.
type Outputs = Vec<Vec<Vec<f64>>>;

/// [`measure`], with the float outputs per batch when `keep` asks for them (empty otherwise).
fn measured(
    float: &Model,
    int: &Model,
    samples: &[Tensor],
    cores: usize,
    keep: bool,
) -> Result<(Measured, Outputs)> {
    let by_name: HashMap<&str, NodeId> = float
        .graph
        .node_indices()
        .map(|n| (float.node(n).name.as_str(), n))
        .collect();
    // int node → float node it approximates (an op's result or a model input).
    let mut pairs: HashMap<NodeId, NodeId> = HashMap::new();
    for n in int.graph.node_indices() {
        let node = int.node(n);
        if node.op().is_none() || node.ty.elem.quant().is_none() {
            continue;
        }
        let base = node.name.strip_suffix(".q").unwrap_or(&node.name);
        if let Some(&f) = by_name.get(base) {
            let fnode = float.node(f);
            if fnode.ty.shape == node.ty.shape
                && (fnode.op().is_some() || float.inputs.contains(&f))
            {
                pairs.insert(n, f);
            }
        }
    }
    same_outputs(float, int)?;
    let (count, layout) = batches(float, samples)?;
    let wanted: std::collections::HashSet<NodeId> = pairs.values().copied().collect();
    type Batch = (BTreeMap<NodeId, Energy>, Vec<Energy>, Vec<Vec<f64>>);
    let one = |b: usize| -> Result<Batch> {
        let feed = model_inputs(float, samples, layout, b);
        let mut fvals: HashMap<NodeId, Vec<f64>> = HashMap::new();
        // A model input never passes the interpreter's hook: it is the feed itself.
        for (&id, t) in float.inputs.iter().zip(&feed) {
            if wanted.contains(&id) {
                fvals.insert(id, t.to_f64_vec());
            }
        }
        let mut obs = |id: NodeId, t: &Tensor| {
            if wanted.contains(&id) {
                fvals.insert(id, t.to_f64_vec());
            }
        };
        let fout = run_with(
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
        let iout = run_with(
            int,
            &feed,
            Hooks {
                observe: Some(&mut obs),
                transform: None,
            },
        )?;
        let mut signal: BTreeMap<NodeId, Energy> = BTreeMap::new();
        for (i, f) in &pairs {
            if let (Some(x), Some(y)) = (fvals.get(f), ivals.get(i)) {
                add_energy(signal.entry(*f).or_default(), x, y);
            }
        }
        let fout: Vec<Vec<f64>> = fout.iter().map(Tensor::to_f64_vec).collect();
        let energy = output_energy(int, &fout, &iout);
        Ok((signal, energy, if keep { fout } else { vec![] }))
    };
    let mut signal: BTreeMap<NodeId, Energy> = BTreeMap::new();
    let mut per_batch: Vec<Vec<Energy>> = Vec::with_capacity(count);
    let mut outputs: Outputs = Vec::new();
    for (s, o, f) in each_batch(count, cores, one)? {
        for (f, e) in s {
            let t = signal.entry(f).or_default();
            t.0 += e.0;
            t.1 += e.1;
        }
        per_batch.push(o);
        if keep {
            outputs.push(f);
        }
    }
    let out_energy = summed(&per_batch, float.outputs.len(), &|_| true);
    let kind = |f: NodeId| {
        float
            .node(f)
            .op()
            .map_or("input", |o| o.kind.name())
            .to_string()
    };
    let (mut layers, mut inputs) = (Vec::new(), Vec::new());
    for (f, e) in signal {
        let layer = Layer {
            name: float.node(f).name.clone(),
            op: kind(f),
            sqnr_db: sqnr_db(e),
        };
        if float.inputs.contains(&f) {
            inputs.push(layer);
        } else {
            layers.push(layer);
        }
    }
    layers.sort_by(|a, b| {
        a.sqnr_db
            .total_cmp(&b.sqnr_db)
            .then_with(|| a.name.cmp(&b.name))
    });
    let output_layers = float
        .outputs
        .iter()
        .zip(out_energy)
        .map(|(&f, e)| Layer {
            name: float.node(f).name.clone(),
            op: kind(f),
            sqnr_db: sqnr_db(e),
        })
        .collect();
    let measured = Measured {
        layers,
        inputs,
        outputs: output_layers,
        halves: halves(&per_batch, float.outputs.len()),
    };
    Ok((measured, outputs))
}

/// The float model and the integer one have the same outputs (the quantizer keeps them).
fn same_outputs(float: &Model, int: &Model) -> Result<()> {
    if float.outputs.len() != int.outputs.len() {
        return Err(Error::msg(format!(
            "the float model has {} outputs and the integer model {}",
            float.outputs.len(),
            int.outputs.len()
        )));
    }
    Ok(())
}

/// Per output, the float output's energy and that of its difference from the integer one.
fn output_energy(int: &Model, float_out: &[Vec<f64>], int_out: &[Tensor]) -> Vec<Energy> {
    float_out
        .iter()
        .zip(int_out)
        .zip(&int.outputs)
        .map(|((x, y), &id)| {
            let mut e = (0.0, 0.0);
            if let Some(y) = real(y, &int.node(id).ty) {
                add_energy(&mut e, x, &y);
            }
            e
        })
        .collect()
}

/// The float model's outputs on every batch of the samples ([`measure_keeping`]): what
/// [`worst_output`] compares integer models with, computed once for many.
pub struct Reference {
    outputs: Outputs,
}

/// The worst output's SQNR of an integer model against the float one's [`Reference`], over
/// all samples and over each half (even and odd batches): the outputs-only [`measure`],
/// running only the integer model.
pub fn worst_output(
    float: &Model,
    int: &Model,
    reference: &Reference,
    samples: &[Tensor],
    cores: usize,
) -> Result<Halves> {
    same_outputs(float, int)?;
    let (count, layout) = batches(float, samples)?;
    let energies = each_batch(count, cores, |b| {
        let feed = model_inputs(float, samples, layout, b);
        let out = run_with(int, &feed, Hooks::default())?;
        Ok(output_energy(int, &reference.outputs[b], &out))
    })?;
    Ok(halves(&energies, float.outputs.len()))
}

/// Per output, the energies of the batches `keep` takes, summed in batch order.
fn summed(per_batch: &[Vec<Energy>], outputs: usize, keep: &dyn Fn(usize) -> bool) -> Vec<Energy> {
    let mut total: Vec<Energy> = vec![(0.0, 0.0); outputs];
    for (_, e) in per_batch.iter().enumerate().filter(|(b, _)| keep(*b)) {
        for (t, e) in total.iter_mut().zip(e) {
            t.0 += e.0;
            t.1 += e.1;
        }
    }
    total
}

/// The worst output's SQNR over all batches and over the even and the odd ones.
fn halves(per_batch: &[Vec<Energy>], outputs: usize) -> Halves {
    let worst = |keep: &dyn Fn(usize) -> bool| {
        summed(per_batch, outputs, keep)
            .into_iter()
            .map(sqnr_db)
            .fold(f64::INFINITY, f64::min)
    };
    Halves {
        all: worst(&|_| true),
        even: worst(&|b| b % 2 == 0),
        odd: worst(&|b| b % 2 == 1),
        count: per_batch.len(),
    }
}

/// The worst output's SQNR over all samples and over each half of them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Halves {
    pub all: f64,
    pub even: f64,
    pub odd: f64,
    /// The batches measured (with one, the halves are the whole and nothing).
    pub count: usize,
}

impl Halves {
    /// Whether `self` gains at least `db` over `before` on each half (on the whole, with a
    /// single batch).
    pub fn gains_on_both(&self, before: &Halves, db: f64) -> bool {
        if self.count < 2 {
            return self.all >= before.all + db;
        }
        self.even >= before.even + db && self.odd >= before.odd + db
    }
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
