//! Calibration: run the float model over sample inputs in the interpreter and observe the range
//! of every input and every f32 op result with one observer each.

use crate::batch::{batch_of, count_batches, Layout};
use crate::diag::{Error, Result};
use crate::interp::{run_with, Hooks};
use crate::ir::model::{Model, NodeId};
use crate::ir::types::{fmt_f32, fmt_shape};
use crate::quant::bias_correction::{ChannelMean, Means};
use crate::quant::histogram::Histogram;
use crate::quant::observe::{Method, Observer};
use crate::quant::params::{first_non_finite, fmt_index};
use crate::quant::ranges::{observed_tensors, Ranges};
use ndarray::ArrayD;
use runtime::Tensor;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Refuses a sample file holding NaN or ±∞, naming the sample (by the layout of `batch.rs`), the
/// input and the element within the sample.
fn check_finite(name: &str, shape: &[usize], a: &ArrayD<f32>, layout: Layout) -> Result<()> {
    let Some((idx, v)) = first_non_finite(a) else {
        return Ok(());
    };
    let (sample, within) = if a.shape() == shape {
        (0, idx)
    } else {
        match layout {
            Layout::Stacked => (idx[0], idx[1..].to_vec()),
            Layout::Concatenated => {
                let mut w = idx.clone();
                w[0] = idx[0] % shape[0];
                (idx[0] / shape[0], w)
            }
        }
    };
    Err(Error::msg(format!(
        "calibration sample {sample} of input %{name} holds {} at {} (of {}): calibration samples must be finite",
        fmt_f32(v),
        fmt_index(&within),
        fmt_shape(shape)
    )))
}

/// Feeds a tensor's values to an observer (any memory order: only the values matter).
fn feed(obs: &mut dyn Observer, t: &ArrayD<f32>) {
    match t.as_slice_memory_order() {
        Some(s) => obs.observe(s),
        None => obs.observe(&t.iter().copied().collect::<Vec<_>>()),
    }
}

/// Runs `model` over every sample and returns the range `method` chooses for every input and f32
/// op result. `samples` holds one array per model input, in signature order, whose leading axis
/// counts samples as [`crate::batch`] reads them (shape errors are that module's). A sample with
/// NaN or ±∞ is refused before anything runs; an op that computes one is an error naming it and
/// the sample. `progress(done, total)` is told after every sample.
pub fn calibrate(
    model: &Model,
    samples: &[ArrayD<f32>],
    method: Method,
    progress: impl FnMut(usize, usize),
) -> Result<Ranges> {
    calibrate_with_means(model, samples, method, &[], progress).map(|(r, _)| r)
}

/// [`calibrate`], also returning the per-channel mean of each tensor of `means_of` over the
/// samples (what empirical bias correction needs), from the same interpreter runs.
pub fn calibrate_with_means(
    model: &Model,
    samples: &[ArrayD<f32>],
    method: Method,
    means_of: &[NodeId],
    progress: impl FnMut(usize, usize),
) -> Result<(Ranges, Means)> {
    calibrate_on_cores(model, samples, method, means_of, cores(), progress)
}

/// The cores calibration spreads its samples over.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What one calibration observed.
#[derive(Clone, Debug)]
pub struct Calibrated {
    pub ranges: Ranges,
    pub means: Means,
    /// Every observed tensor's histogram by name, when asked for (`--report-html` draws them
    /// with the range chosen from them).
    pub histograms: BTreeMap<String, Histogram>,
}

/// [`calibrate_with_means`] on at most `cores` threads (at least one). The result does not
/// depend on `cores`: samples run in parallel, but every observer sees its values in sample order.
pub fn calibrate_on_cores(
    model: &Model,
    samples: &[ArrayD<f32>],
    method: Method,
    means_of: &[NodeId],
    cores: usize,
    progress: impl FnMut(usize, usize),
) -> Result<(Ranges, Means)> {
    calibrate_observed(model, samples, method, means_of, false, cores, progress)
        .map(|c| (c.ranges, c.means))
}

/// [`calibrate_on_cores`], also keeping each tensor's histogram when `histograms` is set.
pub fn calibrate_observed(
    model: &Model,
    samples: &[ArrayD<f32>],
    method: Method,
    means_of: &[NodeId],
    histograms: bool,
    cores: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<Calibrated> {
    if samples.len() != model.inputs.len() {
        return Err(Error::msg(format!(
            "model @{} takes {} input{}, but calibration samples were given for {}",
            model.name,
            model.inputs.len(),
            if model.inputs.len() == 1 { "" } else { "s" },
            samples.len()
        )));
    }
    let mut plan: Option<(usize, Layout)> = None;
    for (&id, a) in model.inputs.iter().zip(samples) {
        let node = model.node(id);
        let k = count_batches(&node.name, &node.ty.shape, a)?;
        if let Some(p) = plan {
            if p.0 != k.0 {
                return Err(Error::msg(format!(
                    "the calibration inputs hold different sample counts ({} and {})",
                    p.0, k.0
                )));
            }
        }
        plan = Some(k);
        check_finite(&node.name, &node.ty.shape, a, k.1)?;
    }
    let (count, layout) = plan.unwrap_or((1, Layout::Stacked));

    let tensors = observed_tensors(model);
    let fresh = || {
        if histograms {
            method.observer_with_histogram()
        } else {
            method.observer()
        }
    };
    let mut observers: HashMap<NodeId, Box<dyn Observer + Send>> =
        tensors.iter().map(|&n| (n, fresh())).collect();
    let mut means: BTreeMap<NodeId, ChannelMean> = means_of
        .iter()
        .map(|&n| (n, ChannelMean::default()))
        .collect();
    let wanted: HashSet<NodeId> = tensors.iter().chain(means_of).copied().collect();
    // Samples run on every core in waves; then each observer is fed its tensor's values in
    // sample order (observers split over the cores), so the ranges are those of a sequential
    // run, bit for bit, however many cores there are.
    let cores = cores.max(1);
    let mut done = 0;
    while done < count {
        let wave: Vec<usize> = (done..count.min(done + cores)).collect();
        let runs: Vec<Result<SampleRun>> = std::thread::scope(|s| {
            let handles: Vec<_> = wave
                .iter()
                .map(|&b| {
                    let wanted = &wanted;
                    s.spawn(move || run_sample(model, samples, layout, b, wanted))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        // The first sample that failed, in sample order, is the one reported.
        let mut ok = Vec::with_capacity(runs.len());
        for (&b, run) in wave.iter().zip(runs) {
            let run = run?;
            if let Some((id, i, v)) = &run.bad {
                return Err(non_finite_error(model, *id, i, *v, b));
            }
            ok.push(run);
        }
        let runs = ok;
        let mut work: Vec<(&NodeId, &mut Box<dyn Observer + Send>)> =
            observers.iter_mut().collect();
        let per_core = work.len().div_ceil(cores).max(1);
        std::thread::scope(|s| {
            for chunk in work.chunks_mut(per_core) {
                let runs = &runs;
                s.spawn(move || {
                    for (id, obs) in chunk.iter_mut() {
                        for run in runs {
                            if let Some(a) = run.values.get(*id) {
                                feed(obs.as_mut(), a);
                            }
                        }
                    }
                });
            }
        });
        for run in &runs {
            for (id, m) in means.iter_mut() {
                if let Some(a) = run.values.get(id) {
                    m.observe(a);
                }
            }
        }
        done += wave.len();
        for b in (done - wave.len())..done {
            progress(b + 1, count);
        }
    }
    let ranges: BTreeMap<String, (f32, f32)> = tensors
        .iter()
        .map(|&n| (model.node(n).name.clone(), observers[&n].range()))
        .collect();
    let means = means
        .iter()
        .map(|(&n, m)| (model.node(n).name.clone(), m.mean()))
        .collect();
    let histograms = tensors
        .iter()
        .filter_map(|&n| {
            let h = observers[&n].histogram()?;
            Some((model.node(n).name.clone(), h.clone()))
        })
        .collect();
    Ok(Calibrated {
        ranges: Ranges {
            model: model.name.clone(),
            method: method.to_string(),
            ranges,
        },
        means,
        histograms,
    })
}

/// What one calibration sample produced: the values the observers and means read (inputs and
/// op results), and the first non-finite value of an observed tensor.
struct SampleRun {
    values: HashMap<NodeId, ArrayD<f32>>,
    bad: Option<(NodeId, Vec<usize>, f32)>,
}

/// Runs sample `b` through the interpreter, keeping the f32 values of `wanted`.
fn run_sample(
    model: &Model,
    samples: &[ArrayD<f32>],
    layout: Layout,
    b: usize,
    wanted: &HashSet<NodeId>,
) -> Result<SampleRun> {
    let inputs: Vec<Tensor> = model
        .inputs
        .iter()
        .zip(samples)
        .map(|(&id, a)| batch_of(a, &model.node(id).ty.shape, layout, b))
        .collect();
    let mut values = HashMap::new();
    for (&id, t) in model.inputs.iter().zip(&inputs) {
        if let (true, Some(a)) = (wanted.contains(&id), t.as_f32()) {
            values.insert(id, a.clone());
        }
    }
    let mut bad: Option<(NodeId, Vec<usize>, f32)> = None;
    let mut observe = |id: NodeId, t: &Tensor| {
        let (true, Some(a)) = (wanted.contains(&id), t.as_f32()) else {
            return;
        };
        if bad.is_none() {
            if let Some((i, v)) = first_non_finite(a) {
                bad = Some((id, i, v));
            }
        }
        values.insert(id, a.clone());
    };
    run_with(
        model,
        &inputs,
        Hooks {
            observe: Some(&mut observe),
            transform: None,
        },
    )?;
    Ok(SampleRun { values, bad })
}

/// The error for a non-finite value computed on sample `b`: a non-finite weight is the usual
/// culprit, so it is named rather than the op it poisons.
fn non_finite_error(model: &Model, id: NodeId, i: &[usize], v: f32, b: usize) -> Error {
    for w in model.operands(id) {
        if let Some((wi, wv)) = model
            .node(w)
            .weight()
            .and_then(|t| t.as_f32())
            .and_then(first_non_finite)
        {
            return Error::msg(format!(
                "@{} holds {} at {}: a weight must be finite (%{} computes {} at {} on calibration sample {b})",
                model.node(w).name,
                fmt_f32(wv),
                fmt_index(&wi),
                model.node(id).name,
                fmt_f32(v),
                fmt_index(i)
            ));
        }
    }
    Error::msg(format!(
        "%{} computes {} at {} on calibration sample {b}: the float model does not stay finite there",
        model.node(id).name,
        fmt_f32(v),
        fmt_index(i)
    ))
}
