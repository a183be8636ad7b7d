//! Learned weight rounding, `--rounding adaround`: every conv2d, gemm and matmul weight keeps its
//! scale, and each weight takes the code below or above `w/s` that makes the layer's output on the
//! calibration samples closest to the float layer's ([`crate::quant::descent`] says how).
//!
//! What a layer's output error needs of the data is `H = Σ x xᵀ` over the input patches `x` an
//! output channel reads (per group of a grouped conv). One run of the float model per sample
//! collects, for every layer, the patches (im2col columns) at evenly spread output positions,
//! spread anew on each sample; `H` is then one matrix product per layer. The columns kept per
//! layer are bounded ([`MAX_FLOATS`]) so that memory stays flat whatever the resolution.
//!
//! The codes only change which int8 values the weights get: the integer semantics (docs/ir.md)
//! are those of nearest rounding, and bias correction then absorbs what mean shift is left.
//! The result does not depend on the core count: samples are collected in parallel but their
//! columns are kept by sample index, and each layer's search is one thread's work.

use crate::batch::{count_batches, model_inputs, Layout};
use crate::diag::{Error, Result};
use crate::interp::{conv_params, run_with, Hooks};
use crate::ir::model::{Model, NodeId};
use crate::ir::op::OpKind;
use crate::quant::descent::{descend, Descent};
use crate::quant::params::{quantize_weights, weights, WeightBits};
use ndarray::{Array2, ArrayD, Axis};
use runtime::ops::geometry::conv_out_len;
use runtime::ops::ConvParams;
use runtime::Tensor;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// `--rounding`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Rounding {
    /// Each weight to its nearest code.
    #[default]
    Nearest,
    /// Each weight up or down, by the layer's output error on the calibration samples.
    Adaround,
}

impl FromStr for Rounding {
    type Err = Error;
    fn from_str(s: &str) -> Result<Rounding> {
        match s {
            "nearest" => Ok(Rounding::Nearest),
            "adaround" => Ok(Rounding::Adaround),
            _ => Err(Error::msg(format!(
                "--rounding takes nearest or adaround, not `{s}`"
            ))),
        }
    }
}

impl fmt::Display for Rounding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rounding::Nearest => "nearest",
            Rounding::Adaround => "adaround",
        })
    }
}

/// The default budget of sweeps over each row: the searches measured on the models in tests/
/// settle in 3 to 6.
pub const DEFAULT_SWEEPS: usize = 8;

/// Floats of input columns kept per layer (64 MB): a 3×3 conv over 512 channels keeps 3,640
/// patches, a 1×1 conv over 64 channels all of its first 262,144.
const MAX_FLOATS: usize = 4 << 20;
/// At most this many patches per layer: beyond it `H` changes little and costs more.
const MAX_COLUMNS: usize = 8192;
/// The damping of `H`, as a share of its mean diagonal.
const DAMPING: f64 = 0.01;

/// What the search did, for `--explain`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Learned {
    /// The layers whose rounding was searched, by op name, with the sampled output error of
    /// their weight rounding before and after (the ratio in dB), worst gain first.
    pub layers: Vec<(String, f64)>,
    /// Weights in those layers, and those that ended away from nearest rounding.
    pub weights: usize,
    pub moved: usize,
    /// Input patches read per layer, at most.
    pub patches: usize,
    /// Layers left at nearest rounding because the samples offer fewer input patches than a
    /// row has weights (a classifier's last gemm sees one row per sample), by op name.
    pub skipped: Vec<String>,
    pub samples: usize,
    /// The sampled output error of all searched layers before and after, summed relative to
    /// each layer's nearest-rounding error: the mean gain in dB.
    pub mean_gain_db: f64,
}

/// The codes chosen per layer (by op name), in the weight's own shape: what
/// [`crate::quant::qdq::Options::rounded`] takes.
pub type Rounded = BTreeMap<String, ArrayD<i8>>;

/// How one layer reads its input: as conv patches or as rows of features.
#[derive(Clone, Debug)]
enum Reads {
    /// A conv2d over an NCHW input with `c` channels and a `kh × kw` kernel, making
    /// `ho × wo` outputs per image.
    Conv {
        p: ConvParams,
        c: usize,
        kh: usize,
        kw: usize,
        ho: usize,
        wo: usize,
    },
    /// Rows of the last axis (gemm's A, matmul's left operand).
    Rows { k: usize },
}

/// One layer whose weight rounding is searched.
struct Layer {
    node: NodeId,
    input: NodeId,
    reads: Reads,
    /// Patch length (every group's taps) and how many patches one sample offers.
    width: usize,
    per_sample: usize,
    /// Patches kept per sample.
    take: usize,
    /// Weight values per output channel and groups.
    kg: usize,
    groups: usize,
    bits: WeightBits,
}

/// The layers `learn` searches: conv2d, gemm (A not transposed) and matmul whose weight operand
/// is an f32 constant, except those kept in float and (named in `skipped`) those whose samples
/// offer fewer patches than a row has weights.
fn layers(
    model: &Model,
    count: usize,
    bits: WeightBits,
    bits_for: &BTreeMap<String, WeightBits>,
    keep_float: &BTreeSet<String>,
    skipped: &mut Vec<String>,
) -> Result<Vec<Layer>> {
    let mut out = vec![];
    for n in model.ops_in_order() {
        let node = model.node(n);
        let op = node.op().expect("ops_in_order yields ops");
        if keep_float.contains(&node.name) {
            continue;
        }
        let operands = model.operands(n);
        let (Some(&x), Some(&w)) = (operands.first(), operands.get(1)) else {
            continue;
        };
        let Some(wt) = model.node(w).weight().and_then(|t| t.as_f32()) else {
            continue;
        };
        let xs = &model.node(x).ty.shape;
        let ws = wt.shape();
        let (reads, width, per_sample, kg, groups) = match op.kind {
            OpKind::Conv2d if xs.len() == 4 && ws.len() == 4 => {
                let p = conv_params(op)?;
                let (kh, kw) = (ws[2], ws[3]);
                let ho = conv_out_len(
                    "conv2d",
                    xs[2],
                    kh,
                    p.strides[0],
                    (p.pads[0], p.pads[2]),
                    p.dilations[0],
                );
                let wo = conv_out_len(
                    "conv2d",
                    xs[3],
                    kw,
                    p.strides[1],
                    (p.pads[1], p.pads[3]),
                    p.dilations[1],
                );
                let groups = p.groups.max(1);
                let c = xs[1];
                let kg = ws[1] * kh * kw;
                (
                    Reads::Conv {
                        p,
                        c,
                        kh,
                        kw,
                        ho,
                        wo,
                    },
                    c * kh * kw,
                    xs[0] * ho * wo,
                    kg,
                    groups,
                )
            }
            OpKind::Gemm
                if xs.len() == 2
                    && ws.len() == 2
                    && !op.bool_of("trans_a").map_err(Error::msg)? =>
            {
                let k = xs[1];
                (Reads::Rows { k }, k, xs[0], k, 1)
            }
            OpKind::MatMul if ws.len() == 2 && !xs.is_empty() => {
                let k = ws[0];
                let rows = xs.iter().product::<usize>() / k.max(1);
                (Reads::Rows { k }, k, rows, k, 1)
            }
            _ => continue,
        };
        if width == 0 || per_sample == 0 || kg == 0 {
            continue;
        }
        let total = (MAX_FLOATS / width).clamp(1, MAX_COLUMNS);
        let take = total.div_ceil(count).clamp(1, per_sample);
        if take * count < kg {
            // Fewer patches than weights per row: some rounding would fit the samples exactly
            // and say nothing of other inputs.
            skipped.push(node.name.clone());
            continue;
        }
        out.push(Layer {
            node: n,
            input: x,
            reads,
            width,
            per_sample,
            take,
            kg,
            groups,
            bits: bits_for.get(&node.name).copied().unwrap_or(bits),
        });
    }
    Ok(out)
}

/// The `take` output positions of sample `b` a layer reads: evenly spread, shifted per sample
/// by the golden ratio so that the samples together cover the image.
fn positions(per_sample: usize, take: usize, b: usize) -> impl Iterator<Item = usize> {
    let step = per_sample as f64 / take as f64;
    let shift = ((b as f64 + 1.0) * 0.618_033_988_749_895).fract();
    (0..take).map(move |j| (((j as f64 + shift) * step) as usize).min(per_sample - 1))
}

/// Appends to `out` the patch the layer reads at output position `pos` of `x` (of shape
/// `shape`, standard layout).
fn patch(layer: &Layer, x: &[f32], shape: &[usize], pos: usize, out: &mut Vec<f32>) {
    match &layer.reads {
        Reads::Rows { k } => out.extend_from_slice(&x[pos * k..(pos + 1) * k]),
        Reads::Conv {
            p,
            c,
            kh,
            kw,
            ho,
            wo,
        } => {
            let (h, w, ho, wo) = (shape[2], shape[3], *ho, *wo);
            let (n, oy, ox) = (pos / (ho * wo), pos / wo % ho, pos % wo);
            for ci in 0..*c {
                let plane = &x[(n * c + ci) * h * w..(n * c + ci + 1) * h * w];
                for ky in 0..*kh {
                    let iy = (oy * p.strides[0] + ky * p.dilations[0]).checked_sub(p.pads[0]);
                    for kx in 0..*kw {
                        let ix = (ox * p.strides[1] + kx * p.dilations[1]).checked_sub(p.pads[1]);
                        out.push(match (iy, ix) {
                            (Some(iy), Some(ix)) if iy < h && ix < w => plane[iy * w + ix],
                            _ => 0.0,
                        });
                    }
                }
            }
        }
    }
}

/// The patches of every layer on every sample: `[layer][sample]` → `take × width` floats.
fn collect(
    model: &Model,
    layers: &[Layer],
    samples: &[Tensor],
    count: usize,
    layout: Layout,
    cores: usize,
) -> Result<Vec<Vec<Vec<f32>>>> {
    let mut readers: HashMap<NodeId, Vec<usize>> = HashMap::new();
    for (i, l) in layers.iter().enumerate() {
        readers.entry(l.input).or_default().push(i);
    }
    let kept: Mutex<Vec<Vec<Vec<f32>>>> = Mutex::new(vec![vec![vec![]; count]; layers.len()]);
    let next = AtomicUsize::new(0);
    let failed: Mutex<Option<(usize, Error)>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..cores.clamp(1, count.max(1)) {
            s.spawn(|| loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= count {
                    break;
                }
                let inputs = model_inputs(model, samples, layout, b);
                let mut mine: Vec<(usize, Vec<f32>)> = vec![];
                let mut observe = |id: NodeId, t: &Tensor| {
                    let (Some(ls), Some(a)) = (readers.get(&id), t.as_f32()) else {
                        return;
                    };
                    let a = a.as_standard_layout();
                    let x = a.as_slice().expect("standard layout");
                    for &i in ls {
                        let l = &layers[i];
                        let mut cols = Vec::with_capacity(l.take * l.width);
                        for pos in positions(l.per_sample, l.take, b) {
                            patch(l, x, a.shape(), pos, &mut cols);
                        }
                        mine.push((i, cols));
                    }
                };
                for (&id, t) in model.inputs.iter().zip(&inputs) {
                    observe(id, t);
                }
                let run = run_with(
                    model,
                    &inputs,
                    Hooks {
                        observe: Some(&mut observe),
                        transform: None,
                    },
                );
                if let Err(e) = run {
                    let mut f = failed.lock().expect("no thread panics holding it");
                    if f.as_ref().is_none_or(|(fb, _)| b < *fb) {
                        *f = Some((b, e));
                    }
                    break;
                }
                let mut k = kept.lock().expect("no thread panics holding it");
                for (i, cols) in mine {
                    k[i][b] = cols;
                }
            });
        }
    });
    if let Some((_, e)) = failed.into_inner().expect("threads joined") {
        return Err(e);
    }
    Ok(kept.into_inner().expect("threads joined"))
}

/// The weight rows of output channel `o` in `w` (`axis` is the output axis), as one vector.
fn row(w: &ArrayD<f32>, axis: usize, o: usize) -> Vec<f32> {
    w.index_axis(Axis(axis), o).iter().copied().collect()
}

/// One layer's codes and the outcome of each row's search.
type Searched = (ArrayD<i8>, Vec<Descent>);

/// Searches one layer's rounding; returns its codes and the per-row outcomes.
fn search(model: &Model, layer: &Layer, cols: &[Vec<f32>], sweeps: usize) -> Result<Searched> {
    let node = model.node(layer.node);
    let op = node.op().expect("a layer is an op");
    let wnode = model.node(model.operands(layer.node)[1]);
    let w = wnode
        .weight()
        .and_then(|t| t.as_f32())
        .expect("checked by layers()");
    let axis = match op.kind {
        OpKind::Gemm if !op.bool_of("trans_b").map_err(Error::msg)? => 1,
        OpKind::MatMul => 1,
        _ => 0,
    };
    let chosen = weights(&wnode.name, w, axis, layer.bits)?;
    let mut codes = quantize_weights(w, &chosen.params, layer.bits);
    let qmax = layer.bits.qmax();
    let n: usize = cols.iter().map(|c| c.len() / layer.width).sum();
    let x = Array2::from_shape_vec((n, layer.width), cols.concat())
        .map_err(|e| Error::msg(format!("adaround: {e}")))?;
    let outputs = w.shape()[axis];
    let og = outputs / layer.groups;
    let mut outcomes = vec![];
    for g in 0..layer.groups {
        let xg = x.slice(ndarray::s![.., g * layer.kg..(g + 1) * layer.kg]);
        let h = xg.t().dot(&xg);
        let mean_diag = h.diag().iter().map(|&v| v as f64).sum::<f64>() / layer.kg as f64;
        if mean_diag <= 0.0 || !mean_diag.is_finite() {
            continue;
        }
        let lambda = DAMPING * mean_diag;
        let rows: Vec<usize> = (g * og..(g + 1) * og)
            .filter(|&o| chosen.params.scales[o] > 0.0 && row(w, axis, o).iter().any(|&v| v != 0.0))
            .collect();
        if rows.is_empty() {
            continue;
        }
        let us: Vec<Vec<f64>> = rows
            .iter()
            .map(|&o| {
                let s = chosen.params.scales[o] as f64;
                row(w, axis, o).iter().map(|&v| v as f64 / s).collect()
            })
            .collect();
        let mut cs: Vec<Vec<i32>> = rows
            .iter()
            .map(|&o| {
                codes
                    .index_axis(Axis(axis), o)
                    .iter()
                    .map(|&c| c as i32)
                    .collect()
            })
            .collect();
        let d = Array2::from_shape_fn((rows.len(), layer.kg), |(r, i)| {
            (cs[r][i] as f64 - us[r][i]) as f32
        });
        let g0 = d.dot(&h);
        let h = h.as_standard_layout();
        let h = h.as_slice().expect("standard layout");
        for (r, &o) in rows.iter().enumerate() {
            let g0r: Vec<f32> = g0.row(r).to_vec();
            let out = descend(h, &g0r, lambda, &us[r], &mut cs[r], qmax, sweeps);
            outcomes.push(out);
            for (dst, &c) in codes.index_axis_mut(Axis(axis), o).iter_mut().zip(&cs[r]) {
                *dst = c as i8;
            }
        }
    }
    Ok((codes, outcomes))
}

/// Chooses the rounding of every conv2d, gemm and matmul weight of `float` on the calibration
/// `samples` (as calibration reads them), with each layer's weight width (`bits`, or its entry in
/// `bits_for`). `progress(done, total)` counts searched layers.
#[allow(clippy::too_many_arguments)]
pub fn learn(
    float: &Model,
    samples: &[Tensor],
    bits: WeightBits,
    bits_for: &BTreeMap<String, WeightBits>,
    keep_float: &BTreeSet<String>,
    sweeps: usize,
    cores: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<(Rounded, Learned)> {
    let (count, layout) = match float.inputs.first().zip(samples.first()) {
        Some((&id, a)) => count_batches(&float.node(id).name, &float.node(id).ty.shape, a.shape())?,
        None => (1, Layout::Stacked),
    };
    let mut skipped = vec![];
    let layers = layers(float, count, bits, bits_for, keep_float, &mut skipped)?;
    let cols = collect(float, &layers, samples, count, layout, cores)?;
    let total = layers.len();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Searched>>>> =
        Mutex::new((0..total).map(|_| None).collect());
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        for _ in 0..cores.clamp(1, total.max(1)) {
            let tx = tx.clone();
            let (layers, cols, next, results) = (&layers, &cols, &next, &results);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let r = search(float, &layers[i], &cols[i], sweeps);
                results.lock().expect("no thread panics holding it")[i] = Some(r);
                let _ = tx.send(());
            });
        }
        drop(tx);
        for (done, ()) in rx.iter().enumerate() {
            progress(done + 1, total);
        }
    });
    let mut rounded = Rounded::new();
    let mut learned = Learned {
        skipped,
        samples: count,
        patches: layers.iter().map(|l| l.take * count).max().unwrap_or(0),
        ..Learned::default()
    };
    let mut gains = vec![];
    for (l, r) in layers
        .iter()
        .zip(results.into_inner().expect("threads joined"))
    {
        let (codes, outcomes) = r.expect("every layer was searched")?;
        let before: f64 = outcomes.iter().map(|o| o.before).sum();
        let after: f64 = outcomes.iter().map(|o| o.after).sum();
        let name = float.node(l.node).name.clone();
        learned.weights += codes.len();
        learned.moved += outcomes.iter().map(|o| o.moved).sum::<usize>();
        if before > 0.0 && after > 0.0 {
            let gain = 10.0 * (before / after).log10();
            gains.push(gain);
            learned.layers.push((name.clone(), gain));
        }
        rounded.insert(name, codes);
    }
    learned
        .layers
        .sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    learned.mean_gain_db = if gains.is_empty() {
        0.0
    } else {
        gains.iter().sum::<f64>() / gains.len() as f64
    };
    Ok((rounded, learned))
}
