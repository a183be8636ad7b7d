//! Bias correction (DFQ: Nagel et al. 2019, "Data-Free Quantization Through Weight Equalization
//! and Bias Correction", §4.2): rounding the weights to codes moves
//! each output channel's mean by `E[(W_q − W)·x] = Σ_i ε_{o,i}·E[x_i]`, where `ε_{o,i}` is the
//! rounding error of the weights of channel `o` that read input channel `i` (summed over the
//! taps) and `E[x_i]` the expected input on channel `i`. The quantizer subtracts that shift from
//! the float bias before quantizing it, so the integer layer is unbiased on average.
//!
//! `E[x_i]` comes from one of two places:
//! - **empirical**: the per-channel mean of the layer's input observed on the calibration samples
//!   (collected in the same interpreter pass as the ranges, [`crate::quant::calibrate`]);
//! - **data-free**: the moments [`crate::quant::data_free`] estimates from the folded BatchNorm
//!   statistics (`N(β, γ²)` per channel, through ReLU as a clipped Gaussian), where they reach.
//!
//! The mean is over every position of the input; zero padding makes the border positions of a
//! padded convolution see slightly less, which this ignores (DFQ does too).

use crate::diag::{Error, Result};
use crate::ir::model::{Model, NodeId};
use crate::ir::op::{Op, OpKind};
use ndarray::ArrayD;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// `--bias-correction`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BiasCorrection {
    Off,
    Empirical,
    DataFree,
}

impl FromStr for BiasCorrection {
    type Err = Error;
    fn from_str(s: &str) -> Result<BiasCorrection> {
        match s {
            "off" => Ok(BiasCorrection::Off),
            "empirical" => Ok(BiasCorrection::Empirical),
            "data-free" => Ok(BiasCorrection::DataFree),
            _ => Err(Error::msg(format!(
                "--bias-correction takes empirical, data-free or off, not `{s}`"
            ))),
        }
    }
}

impl fmt::Display for BiasCorrection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BiasCorrection::Off => "off",
            BiasCorrection::Empirical => "empirical",
            BiasCorrection::DataFree => "data-free",
        })
    }
}

/// Expected value per channel (axis 1) of a tensor, or one value for all, by tensor name
/// (without `%`).
pub type Means = BTreeMap<String, Vec<f64>>;

/// The tensors whose means bias correction needs: the first operand of every conv2d and gemm.
pub fn linear_inputs(model: &Model) -> Vec<NodeId> {
    let mut v: Vec<NodeId> = model
        .ops_in_order()
        .into_iter()
        .filter(|&n| {
            model
                .node(n)
                .op()
                .is_some_and(|o| matches!(o.kind, OpKind::Conv2d | OpKind::Gemm))
        })
        .filter_map(|n| model.operands(n).first().copied())
        .filter(|&x| !model.node(x).is_weight())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The f64 sum of a run in four interleaved partial sums: one running sum waits on each add's
/// latency, and these sums cover every activation of every calibration sample (a tenth of
/// calibrating MobileNetV2). The order is fixed, so a sample's sums do not depend on threads.
fn run_sum(run: &[f32]) -> f64 {
    let mut part = [0.0f64; 4];
    let mut quads = run.chunks_exact(4);
    for q in &mut quads {
        for k in 0..4 {
            part[k] += f64::from(q[k]);
        }
    }
    let tail: f64 = quads.remainder().iter().map(|&v| f64::from(v)).sum();
    (part[0] + part[1]) + (part[2] + part[3]) + tail
}

/// Running per-channel sums of a tensor's values.
#[derive(Clone, Debug, Default)]
pub struct ChannelMean {
    sum: Vec<f64>,
    count: u64,
}

impl ChannelMean {
    /// Adds every element of `a` to the sum of its axis-1 index (all to one sum below rank 2).
    pub fn observe(&mut self, a: &ArrayD<f32>) {
        self.add(ChannelMean::sums_of(a));
    }

    /// One tensor's per-channel sums and the values per channel, what [`ChannelMean::observe`]
    /// adds: computed apart so that samples run on other threads can be added in sample order
    /// (f64 sums depend on their order).
    pub fn sums_of(a: &ArrayD<f32>) -> (Vec<f64>, u64) {
        if a.ndim() < 2 {
            return (
                vec![a.iter().map(|&v| v as f64).sum::<f64>()],
                a.len() as u64,
            );
        }
        // In standard layout (copied only if `a` is a view that is not), channel c of image n is
        // one contiguous run of `inner` values.
        let a = a.as_standard_layout();
        let data = a.as_slice().expect("standard layout");
        let c = a.shape()[1];
        let inner: usize = a.shape()[2..].iter().product();
        let mut sums = vec![0.0f64; c];
        // (An empty axis leaves every sum 0; a zero chunk length would not do.)
        if c > 0 && inner > 0 {
            for image in data.chunks_exact(c * inner) {
                for (sum, run) in sums.iter_mut().zip(image.chunks_exact(inner)) {
                    *sum += run_sum(run);
                }
            }
        }
        (sums, (a.len() / c.max(1)) as u64)
    }

    /// Adds what [`ChannelMean::sums_of`] computed.
    pub fn add(&mut self, (sums, count): (Vec<f64>, u64)) {
        if self.sum.len() != sums.len() {
            self.sum = vec![0.0; sums.len()];
        }
        for (s, v) in self.sum.iter_mut().zip(sums) {
            *s += v;
        }
        self.count += count;
    }

    pub fn mean(&self) -> Vec<f64> {
        let n = self.count.max(1) as f64;
        self.sum.iter().map(|s| s / n).collect()
    }
}

/// The shift `E[(W_q − W)·x]` per output channel of a conv2d or gemm whose weight `w` was
/// quantized to `wq` (dequantized values), for input channel means `means` (one per input channel
/// of the layer, or one for all). `None` when the means do not fit the layer.
pub fn shift(op: &Op, w: &ArrayD<f32>, wq: &ArrayD<f32>, means: &[f64]) -> Option<Vec<f64>> {
    let mean = |i: usize| means.get(if means.len() == 1 { 0 } else { i }).copied();
    if w.shape() != wq.shape() || w.ndim() < 2 {
        return None;
    }
    let dims = w.shape().to_vec();
    let w = w.as_standard_layout();
    let wq = wq.as_standard_layout();
    let (w, wq) = (w.as_slice()?, wq.as_slice()?);
    let shape = [dims[0], dims[1], dims.iter().skip(2).product()];
    match op.kind {
        OpKind::Conv2d => {
            let [o_count, cg, taps] = shape;
            let groups = op.int("groups").unwrap_or(1).max(1) as usize;
            let og = o_count / groups;
            if means.len() != 1 && means.len() != cg * groups {
                return None;
            }
            (0..o_count)
                .map(|o| {
                    let g = o / og.max(1);
                    (0..cg)
                        .map(|ci| {
                            let start = (o * cg + ci) * taps;
                            let e: f64 = (start..start + taps)
                                .map(|k| wq[k] as f64 - w[k] as f64)
                                .sum();
                            mean(g * cg + ci).map(|m| e * m)
                        })
                        .sum::<Option<f64>>()
                })
                .collect()
        }
        OpKind::Gemm => {
            let [rows, cols, _] = shape;
            let trans_b = op.bool("trans_b") == Some(true);
            let (k_count, n_count) = if trans_b { (cols, rows) } else { (rows, cols) };
            if means.len() != 1 && means.len() != k_count {
                return None;
            }
            (0..n_count)
                .map(|n| {
                    (0..k_count)
                        .map(|k| {
                            let i = if trans_b { n * cols + k } else { k * cols + n };
                            mean(k).map(|m| (wq[i] as f64 - w[i] as f64) * m)
                        })
                        .sum::<Option<f64>>()
                })
                .collect()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    /// Per-channel sums of contiguous tensors match a plain sum over each channel, empty axes
    /// included.
    #[test]
    fn channel_sums_match_plain_sums() {
        for shape in [
            vec![1, 3, 5, 7],
            vec![2, 4, 3],
            vec![3, 2],
            vec![1, 0, 4],
            vec![2, 3, 0],
            vec![0, 3, 2],
        ] {
            let n: usize = shape.iter().product();
            let a = ArrayD::from_shape_vec(
                IxDyn(&shape),
                (0..n).map(|i| (i as f32 * 0.37).sin()).collect(),
            )
            .unwrap();
            let (sums, count) = ChannelMean::sums_of(&a);
            let want: Vec<f64> = (0..shape[1])
                .map(|c| {
                    a.index_axis(ndarray::Axis(1), c)
                        .iter()
                        .map(|&v| v as f64)
                        .sum()
                })
                .collect();
            assert_eq!(sums.len(), want.len(), "{shape:?}");
            for (s, w) in sums.iter().zip(&want) {
                assert!(
                    (s - w).abs() <= 1e-12 * (1.0 + w.abs()),
                    "{shape:?}: {s} vs {w}"
                );
            }
            assert_eq!(count, (n / shape[1].max(1)) as u64, "{shape:?}");
        }
    }
}
