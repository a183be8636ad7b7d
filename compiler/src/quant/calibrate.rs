//! Calibration: run the float model over sample inputs in the interpreter and observe the range
//! of every input and every f32 op result with one observer each.

use crate::batch::{count_batches, model_inputs, Layout};
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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

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
    samples: &[Tensor],
    method: Method,
    progress: impl FnMut(usize, usize),
) -> Result<Ranges> {
    calibrate_with_means(model, samples, method, &[], progress).map(|(r, _)| r)
}

/// [`calibrate`], also returning the per-channel mean of each tensor of `means_of` over the
/// samples (what empirical bias correction needs), from the same interpreter runs.
pub fn calibrate_with_means(
    model: &Model,
    samples: &[Tensor],
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
    samples: &[Tensor],
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
    samples: &[Tensor],
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
        if a.dtype() != node.ty.elem.storage() {
            return Err(Error::msg(format!(
                "input %{} is {}, but its calibration samples are {}",
                node.name,
                node.ty,
                a.dtype()
            )));
        }
        let k = count_batches(&node.name, &node.ty.shape, a.shape())?;
        if let Some(p) = plan {
            if p.0 != k.0 {
                return Err(Error::msg(format!(
                    "the calibration inputs hold different sample counts ({} and {})",
                    p.0, k.0
                )));
            }
        }
        plan = Some(k);
        if let Some(a) = a.as_f32() {
            check_finite(&node.name, &node.ty.shape, a, k.1)?;
        }
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
    let wanted: HashSet<NodeId> = means_of.iter().copied().collect();
    // Every core takes the next sample until none is left, observing with observers of its
    // own, fed as the interpreter computes each value (nothing is copied). The observers then
    // merge, which gives the observers of one sequential run exactly (their state does not depend
    // on the order of the values: min/max, exact histograms), and the per-sample channel sums of
    // the means are added in sample order. So the ranges do not depend on the core count.
    let cores = cores.max(1).min(count.max(1));
    let next = AtomicUsize::new(0);
    // The lowest sample that failed so far: samples after it are not started.
    let failed = AtomicUsize::new(usize::MAX);
    let (tx, rx) = mpsc::channel::<usize>();
    let workers: Vec<Worker> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cores)
            .map(|_| {
                let (wanted, next, failed, tx) = (&wanted, &next, &failed, tx.clone());
                let mut w = Worker {
                    observers: tensors.iter().map(|&n| (n, fresh())).collect(),
                    sums: BTreeMap::new(),
                    error: None,
                };
                s.spawn(move || {
                    loop {
                        let b = next.fetch_add(1, Ordering::Relaxed);
                        if b >= count || b > failed.load(Ordering::Relaxed) {
                            break;
                        }
                        if let Err(e) = w.run(model, samples, layout, b, wanted) {
                            failed.fetch_min(b, Ordering::Relaxed);
                            w.error = Some((b, e));
                            break;
                        }
                        // The receiver lives until every worker is done.
                        let _ = tx.send(b);
                    }
                    w
                })
            })
            .collect();
        drop(tx);
        // Progress counts finished samples; the callback runs on this thread.
        for (done, _) in rx.iter().enumerate() {
            progress(done + 1, count);
        }
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    // The first sample that failed, in sample order, is the one reported: every sample before
    // it was run.
    let mut workers = workers;
    if let Some(i) = (0..workers.len())
        .filter(|&i| workers[i].error.is_some())
        .min_by_key(|&i| workers[i].error.as_ref().map(|e| e.0))
    {
        let (_, e) = workers[i].error.take().expect("filtered on errors");
        return Err(e);
    }
    let mut observers: HashMap<NodeId, Box<dyn Observer + Send>> = HashMap::new();
    let mut sums: BTreeMap<NodeId, BTreeMap<usize, (Vec<f64>, u64)>> = BTreeMap::new();
    for w in workers {
        for (id, o) in w.observers {
            match observers.get_mut(&id) {
                Some(seen) => seen.merge(o.as_ref()),
                None => {
                    observers.insert(id, o);
                }
            }
        }
        for (id, per_sample) in w.sums {
            sums.entry(id).or_default().extend(per_sample);
        }
    }
    let ranges: BTreeMap<String, (f32, f32)> = tensors
        .iter()
        .map(|&n| (model.node(n).name.clone(), observers[&n].range()))
        .collect();
    let means = means_of
        .iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|n| {
            let mut m = ChannelMean::default();
            for s in sums.remove(n).unwrap_or_default().into_values() {
                m.add(s);
            }
            (model.node(*n).name.clone(), m.mean())
        })
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

/// One calibration thread's observers and per-sample channel sums, and its first failure.
struct Worker {
    observers: HashMap<NodeId, Box<dyn Observer + Send>>,
    sums: BTreeMap<NodeId, BTreeMap<usize, (Vec<f64>, u64)>>,
    error: Option<(usize, Error)>,
}

impl Worker {
    /// Runs sample `b` through the interpreter, feeding each f32 value to its observer (if it
    /// has one) and to its channel sums (if in `means_of`) as it is computed. A non-finite observed value fails the sample.
    fn run(
        &mut self,
        model: &Model,
        samples: &[Tensor],
        layout: Layout,
        b: usize,
        means_of: &HashSet<NodeId>,
    ) -> Result<()> {
        let inputs = model_inputs(model, samples, layout, b);
        let mut bad: Option<(NodeId, Vec<usize>, f32)> = None;
        let mut observe = |id: NodeId, t: &Tensor| {
            let Some(a) = t.as_f32() else {
                return;
            };
            if let Some(obs) = self.observers.get_mut(&id) {
                if bad.is_none() && !all_finite(a) {
                    bad = first_non_finite(a).map(|(i, v)| (id, i, v));
                }
                feed(obs.as_mut(), a);
            }
            if means_of.contains(&id) {
                self.sums
                    .entry(id)
                    .or_default()
                    .insert(b, ChannelMean::sums_of(a));
            }
        };
        for (&id, t) in model.inputs.iter().zip(&inputs) {
            observe(id, t);
        }
        run_with(
            model,
            &inputs,
            Hooks {
                observe: Some(&mut observe),
                transform: None,
            },
        )?;
        match bad {
            Some((id, i, v)) => Err(non_finite_error(model, id, &i, v, b)),
            None => Ok(()),
        }
    }
}

/// Whether every value is finite: a scan without early exit inside each block, so it vectorizes.
fn all_finite(a: &ArrayD<f32>) -> bool {
    match a.as_slice_memory_order() {
        Some(s) => s
            .chunks(4096)
            .all(|c| c.iter().fold(true, |ok, v| ok & v.is_finite())),
        None => a.iter().all(|v| v.is_finite()),
    }
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
