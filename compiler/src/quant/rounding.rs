//! Learned weight rounding, `--rounding adaround`: every conv2d, gemm and matmul weight keeps its
//! scale, and each weight takes the code below or above `w/s` that makes the layer's output on the
//! calibration samples closest to the float layer's ([`crate::quant::descent`] says how).
//!
//! **On the quantized model's inputs.** A layer of the integer model does not read the float
//! layer's input: it reads what the quantized layers before it made of it. So each layer is
//! searched on the input the quantized model gives it, against the float layer's output on the
//! float input: with `u = w/s`, `d = c − u` and the input's error `e = x_f − x_q`, the error of
//! one output is `s·(uᵀe − dᵀx_q)`, and the search lowers `Σ (dᵀx_q − uᵀe)²` over the patches,
//! `dᵀHd − 2bᵀd` with `H = Σ x_q x_qᵀ` and `b = Σ x_q (eᵀu)`. Rounding then also makes up for
//! what the input's quantization costs, where it can. The model is walked once, in topological
//! order, beside its simulation ([`crate::quant::simulate`]): each layer is searched with every
//! earlier layer already rounded as chosen, so an error made up for upstream is not made up
//! for again (the AdaRound paper, Nagel et al. 2020, also feeds each layer the quantized model's
//! input; GPTQ walks layers in the same order). On EfficientNet-Lite0 (real weights, AMD EPYC,
//! `bench/quant_accuracy.py`) it is 2.5 dB better on held-out crops than the same search on
//! float inputs.
//!
//! **The mean.** Once a layer's codes are chosen, its simulated output is compared with the float
//! one over every position of every sample, and what error is left in each channel's mean goes
//! into its bias ([`crate::quant::qdq::Options::bias_shift`], on top of bias correction): the
//! mean shift the layer's input brings, which bias correction (measured on float inputs) cannot
//! see. The simulation goes on with the shifted output.
//!
//! **Data.** `H` and `b` need, per layer, the patches (im2col columns) the rows read, float and
//! simulated, at evenly spread output positions, spread anew on each sample. The columns kept
//! per layer are bounded ([`MAX_FLOATS`]) so that memory stays flat whatever the resolution; the
//! walk holds the live tensors of every sample twice (float and simulated).
//!
//! The codes only change which int8 values the weights get: the integer semantics (docs/ir.md)
//! are those of nearest rounding. The result does not depend on the core count: samples run in
//! parallel but their patches and sums are kept by sample index, a product split over threads
//! splits its columns (each one thread's whole sum), and each row's search is one thread's work.

use crate::diag::{Error, Result};
use crate::interp::conv_params;
use crate::ir::model::{Model, NodeId};
use crate::ir::op::OpKind;
use crate::quant::bias_correction::Means;
use crate::quant::descent::{descend, Descent};
use crate::quant::params::{quantize_weights, weights, WeightBits};
use crate::quant::simulate::{
    batches, each, fixed_treatments, simulated_weights, spread, Remaining, Sample, Sim,
};
use ndarray::{Array2, ArrayD, ArrayView2, Axis};
use runtime::ops::geometry::conv_out_len;
use runtime::ops::ConvParams;
use runtime::Tensor;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// `--rounding`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Rounding {
    /// `Adaround` when calibrating on at least [`AUTO_MIN_SAMPLES`] samples, else `Nearest`.
    #[default]
    Auto,
    /// Each weight to its nearest code.
    Nearest,
    /// Each weight up or down, by the layer's output error on the calibration samples.
    Adaround,
}

/// The fewest calibration samples `Rounding::Auto` learns from: with 8, EfficientNet-Lite0's
/// held-out SQNR gained 3.3 dB where 32 gained 4.8 (AMD EPYC, `bench/quant_accuracy.py`), and
/// the real models with 4 moved by −1.7 to +2.6 dB (README, "Learned rounding").
pub const AUTO_MIN_SAMPLES: usize = 16;

impl Rounding {
    /// What `self` means when calibrating on `samples` samples (`None`: no samples).
    pub fn resolve(self, samples: Option<usize>) -> Rounding {
        match (self, samples) {
            (Rounding::Auto, Some(n)) if n >= AUTO_MIN_SAMPLES => Rounding::Adaround,
            (Rounding::Auto, _) => Rounding::Nearest,
            (r, _) => r,
        }
    }
}

impl FromStr for Rounding {
    type Err = Error;
    fn from_str(s: &str) -> Result<Rounding> {
        match s {
            "auto" => Ok(Rounding::Auto),
            "nearest" => Ok(Rounding::Nearest),
            "adaround" => Ok(Rounding::Adaround),
            _ => Err(Error::msg(format!(
                "--rounding takes auto, nearest or adaround, not `{s}`"
            ))),
        }
    }
}

impl fmt::Display for Rounding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rounding::Auto => "auto",
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
    /// The layers whose rounding was searched, by op name, with their sampled output error (on
    /// the quantized model's input, against the float layer) with nearest rounding and with the
    /// codes chosen (the ratio in dB), worst gain first.
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

/// The patches the layer reads at output positions `at` of `x` (of shape `shape`, standard
/// layout): `at.len() × width` floats, one patch after another.
fn gather(layer: &Layer, x: &[f32], shape: &[usize], at: &[usize]) -> Vec<f32> {
    let mut out = vec![0.0; at.len() * layer.width];
    match &layer.reads {
        Reads::Rows { k } => {
            for (dst, &pos) in out.chunks_exact_mut(*k).zip(at) {
                dst.copy_from_slice(&x[pos * k..(pos + 1) * k]);
            }
        }
        Reads::Conv {
            p,
            c,
            kh,
            kw,
            ho,
            wo,
        } => {
            let (h, w, ho, wo) = (shape[2], shape[3], *ho, *wo);
            let taps = kh * kw;
            // Channel by channel, so that each input plane is read while it is in cache (a
            // 1×1 conv over a thousand channels would otherwise miss on every value).
            for ci in 0..*c {
                for (j, &pos) in at.iter().enumerate() {
                    let (n, oy, ox) = (pos / (ho * wo), pos / wo % ho, pos % wo);
                    let plane = &x[(n * c + ci) * h * w..(n * c + ci + 1) * h * w];
                    let dst = &mut out[j * layer.width + ci * taps..][..taps];
                    for ky in 0..*kh {
                        let iy = (oy * p.strides[0] + ky * p.dilations[0]).checked_sub(p.pads[0]);
                        for kx in 0..*kw {
                            let ix =
                                (ox * p.strides[1] + kx * p.dilations[1]).checked_sub(p.pads[1]);
                            if let (Some(iy), Some(ix)) = (iy, ix) {
                                if iy < h && ix < w {
                                    dst[ky * kw + kx] = plane[iy * w + ix];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// The patches a layer reads on one sample, float and simulated: `take × width` floats each.
fn patches(sim: &Sim, layer: &Layer, s: &Sample) -> Result<(Vec<f32>, Vec<f32>)> {
    let name = &sim.model.node(layer.input).name;
    let at: Vec<usize> = positions(layer.per_sample, layer.take, s.index).collect();
    let one = |t: Option<&Tensor>| -> Result<Vec<f32>> {
        let a = t
            .and_then(|t| t.as_f32())
            .ok_or_else(|| Error::msg(format!("adaround: %{name} is not a computed f32 tensor")))?;
        let a = a.as_standard_layout();
        let x = a.as_slice().expect("standard layout");
        Ok(gather(layer, x, a.shape(), &at))
    };
    Ok((
        one(sim.reference(s, layer.input))?,
        one(sim.simulated(s, layer.input))?,
    ))
}

/// Continues the simulation of a searched layer with its chosen codes, and with the bias that
/// bias correction gives it for them (as [`crate::quant::qdq`] will).
fn resimulate(sim: &mut Sim, layer: &Layer, codes: &ArrayD<i8>, means: &Means) -> Result<()> {
    let float = sim.model;
    let operands = float.operands(layer.node);
    let op = float.node(layer.node).op().expect("a layer is an op");
    let wnode = float.node(operands[1]);
    let w = wnode
        .weight()
        .and_then(|t| t.as_f32())
        .expect("checked by layers()");
    let chosen = weights(&wnode.name, w, weight_axis(op)?, layer.bits)?;
    let deq = runtime::ops::dequantize(&Tensor::I8(codes.clone()), &chosen.params.runtime());
    if let Some(&bias) = operands.get(2) {
        if let Some(b) = float.node(bias).weight().and_then(|t| t.as_f32()) {
            let mut b = b.clone();
            let shift = means
                .get(&float.node(layer.input).name)
                .and_then(|m| crate::quant::bias_correction::shift(op, w, &deq, m));
            for (v, d) in b.iter_mut().zip(shift.unwrap_or_default()) {
                *v = (*v as f64 - d) as f32;
            }
            sim.weights.insert(bias, Arc::new(Tensor::F32(b)));
        }
    }
    sim.weights.insert(operands[1], Arc::new(Tensor::F32(deq)));
    Ok(())
}

/// The weight rows of output channel `o` in `w` (`axis` is the output axis), as one vector.
fn row(w: &ArrayD<f32>, axis: usize, o: usize) -> Vec<f32> {
    w.index_axis(Axis(axis), o).iter().copied().collect()
}

/// One layer's codes and the outcome of each row's search.
type Searched = (ArrayD<i8>, Vec<Descent>);

/// Searches one layer's rounding on its input patches, float (`xf`) and simulated (`xq`), one
/// `take × width` block per sample; returns its codes and the per-row outcomes.
///
/// A row's output on a patch is `w·x_f` in float and `s·c·x_q` in the simulation; with
/// `u = w/s`, `d = c − u` and the input's error `e = x_f − x_q`, their difference is
/// `s·(uᵀe − dᵀx_q)`, whose square summed over the patches is, up to a constant,
/// `s²·(dᵀHd − 2bᵀd)` with `H = Σ x_q x_qᵀ` and `b = Σ x_q (eᵀu)`.
fn search(
    model: &Model,
    layer: &Layer,
    xf: &[Vec<f32>],
    xq: &[Vec<f32>],
    sweeps: usize,
    cores: usize,
) -> Result<Searched> {
    let node = model.node(layer.node);
    let op = node.op().expect("a layer is an op");
    let wnode = model.node(model.operands(layer.node)[1]);
    let w = wnode
        .weight()
        .and_then(|t| t.as_f32())
        .expect("checked by layers()");
    let axis = weight_axis(op)?;
    let chosen = weights(&wnode.name, w, axis, layer.bits)?;
    let mut codes = quantize_weights(w, &chosen.params, layer.bits);
    let qmax = layer.bits.qmax();
    let n: usize = xq.iter().map(|c| c.len() / layer.width).sum();
    let block = |cols: &[Vec<f32>]| {
        Array2::from_shape_vec((n, layer.width), cols.concat())
            .map_err(|e| Error::msg(format!("adaround: {e}")))
    };
    let x = block(xq)?;
    let e = block(xf)? - &x;
    let outputs = w.shape()[axis];
    let og = outputs / layer.groups;
    let mut outcomes = vec![];
    for g in 0..layer.groups {
        let cols = ndarray::s![.., g * layer.kg..(g + 1) * layer.kg];
        let (xg, eg) = (x.slice(cols), e.slice(cols));
        let h = par_dot(xg.t(), xg, cores);
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
        let u = Array2::from_shape_fn((layer.kg, rows.len()), |(i, r)| us[r][i] as f32);
        // `eᵀu` per patch and row, then `b` per row.
        let eu = par_dot(eg, u.view(), cores);
        let b = par_dot(eu.t(), xg, cores);
        let g0 = par_dot(d.view(), h.view(), cores) - &b;
        let h = h.as_standard_layout();
        let h = h.as_slice().expect("standard layout");
        let one = |r: usize, cs: &mut Vec<i32>| -> Descent {
            let g0r: Vec<f32> = g0.row(r).to_vec();
            let br: Vec<f32> = b.row(r).to_vec();
            let mut out = descend(h, &g0r, &br, lambda, &us[r], cs, qmax, sweeps);
            // The constant `Σ (eᵀu)²` makes both the row's whole sampled output error.
            let constant: f64 = eu.column(r).iter().map(|&v| v as f64 * v as f64).sum();
            out.before += constant;
            out.after += constant;
            out
        };
        // Rows are independent: split them over the cores when there is enough to share.
        let per = if rows.len() * layer.kg * layer.kg >= PARALLEL_WORK {
            rows.len().div_ceil(cores.max(1))
        } else {
            rows.len()
        };
        let found: Vec<Descent> = if per >= rows.len() {
            // One thread's work (a depthwise group's row): no thread to start.
            (cs.iter_mut().enumerate())
                .map(|(r, c)| one(r, c))
                .collect()
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = cs
                    .chunks_mut(per.max(1))
                    .enumerate()
                    .map(|(k, chunk)| {
                        let one = &one;
                        scope.spawn(move || {
                            (chunk.iter_mut().enumerate())
                                .map(|(j, c)| one(k * per + j, c))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                    .collect()
            })
        };
        outcomes.extend(found);
        for (r, &o) in rows.iter().enumerate() {
            for (dst, &c) in codes.index_axis_mut(Axis(axis), o).iter_mut().zip(&cs[r]) {
                *dst = c as i8;
            }
        }
    }
    Ok((codes, outcomes))
}

/// Per channel along `axis`: the sum of `reference − simulated` and how many values it has.
fn channel_error(reference: &Tensor, simulated: &Tensor, axis: usize) -> (Vec<f64>, usize) {
    let (Some(r), Some(v)) = (reference.as_f32(), simulated.as_f32()) else {
        return (vec![], 0);
    };
    if axis >= r.ndim() || r.shape() != v.shape() {
        return (vec![], 0);
    }
    let channels = r.shape()[axis];
    let inner: usize = r.shape()[axis + 1..].iter().product();
    let (r, v) = (r.as_standard_layout(), v.as_standard_layout());
    let (r, v) = (
        r.as_slice().expect("standard"),
        v.as_slice().expect("standard"),
    );
    let mut sums = vec![0f64; channels];
    // Contiguous runs of `inner` values share a channel, channels cycling.
    for (k, (r, v)) in r
        .chunks(inner.max(1))
        .zip(v.chunks(inner.max(1)))
        .enumerate()
    {
        let run: f64 = r.iter().zip(v).map(|(&a, &b)| (a - b) as f64).sum();
        sums[k % channels] += run;
    }
    (sums, r.len() / channels.max(1))
}

/// The mean per channel of every sample's [`channel_error`], shrunk towards zero by how much
/// the samples disagree: `δ·max(0, 1 − SE²/δ²)` with `SE²` the variance of the per-sample means
/// over the sample count. A shift that only some samples want is the calibration set's, not the
/// data's.
fn mean_of(sums: &[(Vec<f64>, usize)]) -> Vec<f64> {
    let channels = sums.iter().map(|s| s.0.len()).max().unwrap_or(0);
    let per: Vec<Vec<f64>> = sums
        .iter()
        .filter(|s| s.1 > 0 && s.0.len() == channels)
        .map(|s| s.0.iter().map(|v| v / s.1 as f64).collect())
        .collect();
    let n = per.len() as f64;
    (0..channels)
        .map(|c| {
            if per.len() < 2 {
                return 0.0;
            }
            let mean = per.iter().map(|p| p[c]).sum::<f64>() / n;
            let var = per.iter().map(|p| (p[c] - mean).powi(2)).sum::<f64>() / (n - 1.0);
            if mean == 0.0 {
                return 0.0;
            }
            mean * (1.0 - var / n / (mean * mean)).max(0.0)
        })
        .collect()
}

/// `t` with `shift[c]` added to every value of channel `c` along `axis`.
fn shifted(t: &Tensor, axis: usize, shift: &[f64]) -> Tensor {
    match t.as_f32() {
        Some(a) if axis < a.ndim() && a.shape()[axis] == shift.len() => {
            let inner: usize = a.shape()[axis + 1..].iter().product();
            let mut a = a.as_standard_layout().into_owned();
            let x = a.as_slice_mut().expect("standard");
            for (k, run) in x.chunks_mut(inner.max(1)).enumerate() {
                let d = shift[k % shift.len()] as f32;
                run.iter_mut().for_each(|v| *v += d);
            }
            Tensor::F32(a)
        }
        _ => t.clone(),
    }
}

/// The live tensors of every sample the walk holds, float and simulated, at most (bytes): the
/// samples beyond what fits are left out, evenly (a 800×608 layout detector holds about 62 MB a
/// sample).
const WALK_BYTES: usize = 3 << 29;

/// The most bytes of non-weight values alive at once when `model` runs in `order` on one sample
/// (each freed after its last user).
fn peak_live_bytes(model: &Model, order: &[NodeId]) -> usize {
    let mut left: HashMap<NodeId, usize> = order.iter().map(|&n| (n, model.use_count(n))).collect();
    let size = |n: NodeId| {
        let ty = &model.node(n).ty;
        // Float values: the walk runs the float model.
        ty.shape.iter().product::<usize>() * 4
    };
    let (mut live, mut peak) = (0usize, 0usize);
    for &n in order {
        if model.node(n).is_weight() {
            continue;
        }
        live += size(n);
        peak = peak.max(live);
        for o in model.operands(n) {
            if model.node(o).is_weight() {
                continue;
            }
            if let Some(r) = left.get_mut(&o) {
                *r = r.saturating_sub(1);
                if *r == 0 {
                    live = live.saturating_sub(size(o));
                }
            }
        }
    }
    peak
}

/// Multiply-adds below which a product or a search stays on one thread.
const PARALLEL_WORK: usize = 1 << 22;

/// `a·b`, the columns of `b` split over `cores` threads when the product is large enough to
/// repay them (the same values either way: each column is one thread's whole sum).
fn par_dot(a: ArrayView2<f32>, b: ArrayView2<f32>, cores: usize) -> Array2<f32> {
    let n = b.ncols();
    if cores <= 1 || n < 2 || a.nrows() * a.ncols() * n < PARALLEL_WORK {
        return a.dot(&b);
    }
    let per = n.div_ceil(cores);
    let parts: Vec<Array2<f32>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .step_by(per)
            .map(|j| {
                let part = b.slice(ndarray::s![.., j..(j + per).min(n)]);
                scope.spawn(move || a.dot(&part))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let views: Vec<ArrayView2<f32>> = parts.iter().map(|p| p.view()).collect();
    ndarray::concatenate(Axis(1), &views).expect("parts of one product")
}

/// The output axis of a layer's weight.
fn weight_axis(op: &crate::ir::op::Op) -> Result<usize> {
    Ok(match op.kind {
        OpKind::Gemm if !op.bool_of("trans_b").map_err(Error::msg)? => 1,
        OpKind::MatMul => 1,
        _ => 0,
    })
}

/// How many samples calibration reads from `samples` (what [`Rounding::resolve`] weighs).
pub fn sample_count(float: &Model, samples: &[Tensor]) -> Result<usize> {
    batches(float, samples).map(|(n, _)| n)
}

/// Chooses the rounding of every conv2d, gemm and matmul weight of `float` on the calibration
/// `samples` (as calibration reads them), with each layer's weight width (`bits`, or its entry in
/// `bits_for`). `progress(done, total)` counts searched layers.
///
/// The model is walked in topological order over every sample beside its simulation
/// ([`crate::quant::simulate`]) as `qdq` quantizes it (nearest rounding, bias corrected with
/// `means`). Each layer is searched on the input the simulation gives it, with every earlier
/// layer already rounded as chosen, so that its rounding also makes up for the error its input
/// brings and errors do not compound unseen; the simulation then goes on with its codes.
#[allow(clippy::too_many_arguments)]
pub fn learn(
    float: &Model,
    qdq: &Model,
    means: &Means,
    samples: &[Tensor],
    bits: WeightBits,
    bits_for: &BTreeMap<String, WeightBits>,
    keep_float: &BTreeSet<String>,
    sweeps: usize,
    cores: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<(Rounded, Means, Learned)> {
    let (count, layout) = batches(float, samples)?;
    let order = float
        .topo_order()
        .ok_or_else(|| Error::msg("the graph has a cycle"))?;
    // Samples spread evenly over the set, as many as the walk's memory allows.
    let k = count
        .min(WALK_BYTES / (2 * peak_live_bytes(float, &order)).max(1))
        .max(1);
    let mut skipped = vec![];
    let layers = layers(float, k, bits, bits_for, keep_float, &mut skipped)?;
    let at: HashMap<NodeId, usize> = layers
        .iter()
        .enumerate()
        .map(|(i, l)| (l.node, i))
        .collect();
    let mut sim = Sim {
        model: float,
        weights: simulated_weights(float, qdq),
        treat: fixed_treatments(float, qdq),
        outputs: float.outputs.iter().copied().collect(),
    };
    let mut states = spread(float, samples, (count, layout), k);
    let mut remaining = Remaining::new(float, &order);
    let total = layers.len();
    let mut results: Vec<Option<Searched>> = (0..total).map(|_| None).collect();
    let mut shifts = Means::new();
    for &id in &order {
        if float.node(id).is_weight() {
            continue;
        }
        if let Some(&i) = at.get(&id) {
            let layer = &layers[i];
            let cols = each(&mut states, cores, |s| patches(&sim, layer, s))?;
            let (xf, xq): (Vec<_>, Vec<_>) = cols.into_iter().unzip();
            let found = search(float, layer, &xf, &xq, sweeps, cores)?;
            resimulate(&mut sim, layer, &found.0, means)?;
            results[i] = Some(found);
            progress(results.iter().flatten().count(), total);
        }
        each(&mut states, cores, |s| sim.evaluate(s, id))?;
        if let Some(layer) = at.get(&id).map(|&i| &layers[i]) {
            if float
                .node(id)
                .op()
                .is_some_and(|op| op.kind != OpKind::MatMul)
            {
                // What error is left in the mean, the bias takes: with the layer's own input,
                // so this also corrects the mean shift earlier layers bring.
                let axis = match layer.reads {
                    Reads::Conv { .. } => 1,
                    Reads::Rows { .. } => float.node(id).ty.shape.len().saturating_sub(1),
                };
                let sums = each(&mut states, cores, |s| {
                    Ok(channel_error(&s.reference[&id], &s.simulated[&id], axis))
                })?;
                let shift = mean_of(&sums);
                each(&mut states, cores, |s| {
                    let t = shifted(&s.simulated[&id], axis, &shift);
                    s.simulated.insert(id, Arc::new(t));
                    Ok(())
                })?;
                shifts.insert(float.node(id).name.clone(), shift);
            }
        }
        each(&mut states, cores, |s| {
            sim.to_grid(s, id);
            Ok(())
        })?;
        remaining.after(&sim, &mut states, id);
    }
    let mut rounded = Rounded::new();
    let mut learned = Learned {
        skipped,
        samples: k,
        patches: layers.iter().map(|l| l.take * k).max().unwrap_or(0),
        ..Learned::default()
    };
    let mut gains = vec![];
    for (l, r) in layers.iter().zip(results) {
        let (codes, outcomes) =
            r.ok_or_else(|| Error::msg("adaround: a layer the walk did not reach"))?;
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
    Ok((rounded, shifts, learned))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_shift_the_samples_agree_on_is_kept_and_one_they_dispute_is_dropped() {
        // Channel 0: every sample 0.5 off (kept whole); channel 1: +1 and −1 in turn with a
        // small mean (the spread swamps it: dropped); channel 2: exact.
        let sums: Vec<(Vec<f64>, usize)> = (0..8)
            .map(|s| {
                let wobble = if s % 2 == 0 { 1.0 } else { -0.9 };
                (vec![0.5 * 10.0, wobble * 10.0, 0.0], 10)
            })
            .collect();
        let shift = mean_of(&sums);
        assert!((shift[0] - 0.5).abs() < 1e-12, "{shift:?}");
        assert_eq!(shift[1], 0.0, "{shift:?}");
        assert_eq!(shift[2], 0.0, "{shift:?}");
    }

    #[test]
    fn one_sample_gives_no_shift() {
        assert_eq!(mean_of(&[(vec![3.0, -1.0], 4)]), vec![0.0, 0.0]);
    }

    #[test]
    fn channel_error_and_shifted_agree_on_the_channel_axis() {
        let r = Tensor::F32(ArrayD::from_shape_fn(vec![2, 3, 2, 2], |i| {
            i[1] as f32 + 0.25
        }));
        let v = Tensor::F32(ArrayD::from_shape_fn(vec![2, 3, 2, 2], |i| i[0] as f32));
        let (sums, count) = channel_error(&r, &v, 1);
        assert_eq!(count, 8);
        // Channel c: 8 values of c + 0.25 less 4 zeros and 4 ones.
        assert_eq!(sums, vec![-2.0, 6.0, 14.0]);
        let moved = shifted(&v, 1, &[1.0, 2.0, 3.0]);
        let (after, _) = channel_error(&r, &moved, 1);
        assert_eq!(after, vec![-10.0, -10.0, -10.0]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// A product split over threads is the same bytes as on one (the larger cases are
        /// past [`PARALLEL_WORK`], so split).
        #[test]
        fn par_dot_is_dot(m in 1usize..64, k in 1usize..400, n in 1usize..400, seed in any::<u32>()) {
            let f = |i: usize| ((i as u64 * 2654435761 + seed as u64) % 1009) as f32 / 97.0 - 5.0;
            let a = Array2::from_shape_fn((m, k), |(i, j)| f(i * k + j));
            let b = Array2::from_shape_fn((k, n), |(i, j)| f(7 + i * n + j));
            let one = a.dot(&b);
            for cores in [2, 3] {
                prop_assert_eq!(&par_dot(a.view(), b.view(), cores), &one);
            }
        }
    }
}
