//! Ranges without calibration data: from the BatchNorm statistics folded into the layers,
//! moment estimates where they reach, and interval arithmetic everywhere else.
//!
//! - A layer that carries `bn_gamma`/`bn_beta` (a folded BatchNorm), and an unfolded
//!   `batch_norm`, outputs per channel roughly `N(β, γ²)` on the data the network was trained
//!   on: its range is the union over channels of `β ± 3·|γ|`. This is a statistical estimate,
//!   not a bound (three standard deviations hold 99.7% of a Gaussian).
//! - Elementwise functions map their input's range through their extremes (ReLU clips, so a
//!   ReLU after a folded BN gets `[max(0, lo), max(0, hi)]`); pooling, reshaping, transposing
//!   and slicing keep it; concat and padding take unions; softmax is `[0, 1]`; dequantize spans
//!   its codes.
//! - Layers without BN statistics (convolutions, gemm, matmul) and arithmetic (add, sub, mul,
//!   div) get the interval their inputs' intervals soundly imply (for a layer, per output
//!   channel, the exact interval of `Σ w·x + b`, with 0 added where padding or cropping feeds
//!   zeros), narrowed to `μ ± 3σ` where [`crate::quant::moments`] can estimate the moments from
//!   the BN statistics upstream. The bound alone widens with the fan-in: a classifier after
//!   global pooling would get a range tens of times too wide.
//! - A division by an interval containing 0 has no bound: that is an error naming the op.
//!
//! The model's inputs get the range the caller states (moments: uniform over it);
//! [`DEFAULT_INPUT_RANGE`] says why its default is what it is.

use crate::diag::{Error, Result};
use crate::ir::attr::Attr;
use crate::ir::model::{Model, NodeId, NodeKind};
use crate::ir::op::{Op, OpKind};
use crate::ir::types::{fmt_f32, TensorType};
use crate::quant::moments::{clip_moments, expected_max, Moments};
use crate::quant::ranges::{observed_tensors, Ranges};
use ndarray::{Array2, ArrayD, Axis};
use runtime::DType;
use std::collections::{BTreeMap, HashMap};

/// The input range assumed when the caller gives none: `[-2.2, 2.7]`, ImageNet normalisation
/// (`(x − mean)/std` of `x` in [0, 1] spans about `[-2.12, 2.64]`) rounded outward. It also
/// contains the two other usual conventions, `[0, 1]` and `[-1, 1]`: a default that is too wide
/// costs the first layer's input some resolution (≈ 2.3 bits for `[0, 1]` data), one that is
/// too narrow clips the input, which is far worse.
pub const DEFAULT_INPUT_RANGE: (f32, f32) = (-2.2, 2.7);

/// How many standard deviations around β a BatchNorm's output is taken to span.
pub const BN_SIGMAS: f32 = 3.0;

type Interval = (f64, f64);

fn union(a: Interval, b: Interval) -> Interval {
    (a.0.min(b.0), a.1.max(b.1))
}

fn with_zero(a: Interval) -> Interval {
    union(a, (0.0, 0.0))
}

/// The smallest interval holding `f` at each point.
fn hull(points: impl IntoIterator<Item = f64>) -> Interval {
    points
        .into_iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        })
}

fn mul(a: Interval, b: Interval) -> Interval {
    hull([a.0 * b.0, a.0 * b.1, a.1 * b.0, a.1 * b.1])
}

/// Per output channel `c`: `Σ w·x` over `x ∈ x_range` is within `[lo·P + hi·N, hi·P + lo·N]`,
/// `P` and `N` the sums of the channel's positive and negative weights; then `+ bias[c]`.
fn linear(
    x: Interval,
    lanes: impl Iterator<Item = (f64, f64)>,
    bias: impl Fn(usize) -> Interval,
) -> Interval {
    lanes
        .enumerate()
        .map(|(c, (p, n))| {
            let b = bias(c);
            (x.0 * p + x.1 * n + b.0, x.1 * p + x.0 * n + b.1)
        })
        .fold((f64::INFINITY, f64::NEG_INFINITY), union)
}

/// Sums of the positive and of the negative entries.
fn pos_neg<'a>(values: impl Iterator<Item = &'a f32>) -> (f64, f64) {
    values.fold((0.0, 0.0), |(p, n), &v| {
        if v > 0.0 {
            (p + v as f64, n)
        } else {
            (p, n + v as f64)
        }
    })
}

/// The union over channels of `β ± k·|γ|`.
fn bn_range(gamma: &[f32], beta: &[f32]) -> Interval {
    let k = BN_SIGMAS as f64;
    gamma
        .iter()
        .zip(beta)
        .map(|(&g, &b)| {
            (
                b as f64 - k * (g as f64).abs(),
                b as f64 + k * (g as f64).abs(),
            )
        })
        .fold((f64::INFINITY, f64::NEG_INFINITY), union)
}

/// Per channel `N(β, γ²)`.
fn bn_moments(gamma: &[f32], beta: &[f32]) -> Moments {
    Moments {
        mean: beta.iter().map(|&b| b as f64).collect(),
        var: gamma.iter().map(|&g| (g as f64) * (g as f64)).collect(),
    }
}

/// A constant operand's moments against a result of shape `out`: exact values per channel when
/// it varies only along axis 1 of the result (numpy broadcasting aligns shapes on the right),
/// otherwise the mean and variance of its elements.
fn const_moments(w: &ArrayD<f32>, out: &[usize]) -> Option<Moments> {
    if w.is_empty() {
        return None;
    }
    let rank = out.len();
    let shape = w.shape();
    if shape.len() <= rank && rank >= 2 {
        let pad = rank - shape.len();
        let only_channels = (0..rank).all(|i| i == 1 || i < pad || shape[i - pad] == 1);
        if only_channels && pad < 2 && shape[1 - pad] == out[1] {
            let mean: Vec<f64> = w.iter().map(|&v| v as f64).collect();
            let n = mean.len();
            return Some(Moments {
                mean,
                var: vec![0.0; n],
            });
        }
    }
    let n = w.len() as f64;
    let mean = w.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = w.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    Some(Moments::scalar(mean, var))
}

struct Walk<'m> {
    model: &'m Model,
    known: HashMap<NodeId, Interval>,
    /// Estimated moments of the values computed so far (absent: unknown).
    moments: HashMap<NodeId, Moments>,
    /// `dequantize(constant)` (the weights of an imported QDQ model) as the f32 constant it is.
    dequantized: HashMap<NodeId, ArrayD<f32>>,
}

/// The value of every `dequantize` of a constant in `model`.
fn dequantized_constants(model: &Model) -> HashMap<NodeId, ArrayD<f32>> {
    model
        .ops_in_order()
        .into_iter()
        .filter_map(|n| {
            let op = model.node(n).op()?;
            if op.kind != OpKind::Dequantize {
                return None;
            }
            let src = *model.operands(n).first()?;
            let t = model.node(src).weight()?;
            let q = crate::interp::quant_params(&model.node(src).ty)?;
            Some((n, runtime::ops::dequantize(t, &q)))
        })
        .collect()
}

impl Walk<'_> {
    /// `%x` or `@w`, as the text writes it.
    fn name(&self, id: NodeId) -> String {
        let n = self.model.node(id);
        format!("{}{}", if n.is_weight() { "@" } else { "%" }, n.name)
    }

    fn weight(&self, id: NodeId) -> Option<&ArrayD<f32>> {
        self.model
            .node(id)
            .weight()
            .and_then(|t| t.as_f32())
            .or_else(|| self.dequantized.get(&id))
    }

    /// The interval of an operand: computed before, or a constant's own extremes.
    fn of(&self, id: NodeId) -> Result<Interval> {
        if let Some(&r) = self.known.get(&id) {
            return Ok(r);
        }
        let node = self.model.node(id);
        match &node.kind {
            NodeKind::Weight(_) => {
                let w = self.weight(id).ok_or_else(|| {
                    Error::msg(format!("@{}: weight not loaded or not f32", node.name))
                })?;
                if w.is_empty() {
                    return Ok((0.0, 0.0));
                }
                Ok(hull(w.iter().map(|&v| v as f64)))
            }
            // A value that is not f32 (arg_max's indices, a mask, a cast to an integer) has no
            // range of its own to record, but the f32 values computed from it need one: derived
            // here when asked (such chains are short: they end at a cast back to f32).
            NodeKind::Op(op) if !node.ty.elem.is_float() => self.op(id, op),
            _ => Err(Error::msg(format!(
                "%{}: no range (its element type is {})",
                node.name, node.ty.elem
            ))),
        }
    }

    fn const_operand(&self, op: &Op, id: NodeId, what: &str) -> Result<&ArrayD<f32>> {
        self.weight(id).ok_or_else(|| {
            Error::msg(format!(
                "{}: the {what} {} is not a constant, so no data-free range can be derived",
                op.kind.name(),
                self.name(id)
            ))
        })
    }

    fn op(&self, id: NodeId, op: &Op) -> Result<Interval> {
        use OpKind::*;
        let args = self.model.operands(id);
        let x = || self.of(args[0]);
        let floats = |name: &str| op.attr(name).and_then(Attr::as_floats);
        if let (Some(g), Some(b)) = (floats("bn_gamma"), floats("bn_beta")) {
            return Ok(bn_range(g, b));
        }
        let pads = op.ints("pads").unwrap_or(&[]).iter().any(|&p| p != 0);
        Ok(match op.kind {
            Family(f) => {
                let tys: Vec<&TensorType> = args.iter().map(|&a| &self.model.node(a).ty).collect();
                f.def().range(op, &|i| self.of(args[i]), &tys)?
            }
            BatchNorm => {
                let g = self.const_operand(op, args[1], "gamma")?;
                let b = self.const_operand(op, args[2], "beta")?;
                bn_range(
                    g.as_slice_memory_order().unwrap_or(&[]),
                    b.as_slice_memory_order().unwrap_or(&[]),
                )
            }
            Conv2d | ConvTranspose2d => {
                let w = self.const_operand(op, args[1], "weight")?;
                let xr = if pads || op.kind == ConvTranspose2d {
                    with_zero(x()?)
                } else {
                    x()?
                };
                let bias = match args.get(2) {
                    Some(&b) => Some(self.const_operand(op, b, "bias")?),
                    None => None,
                };
                let bias_of = |c: usize| {
                    bias.and_then(|b| b.iter().nth(c))
                        .map_or((0.0, 0.0), |&v| (v as f64, v as f64))
                };
                if op.kind == Conv2d {
                    linear(
                        xr,
                        w.axis_iter(Axis(0)).map(|lane| pos_neg(lane.iter())),
                        bias_of,
                    )
                } else {
                    // [I, O/g, kh, kw]: output channel g·(O/g) + o reads input channels of group g.
                    // An output position reads only the taps of its phase: kernel row p reaches
                    // output rows with (row + top − p·dh) divisible by sh, so the taps split into
                    // sh·sw classes by (p·dh mod sh, q·dw mod sw), and each output sums one class.
                    // Bounding each class apart is as sound and up to sh·sw times tighter.
                    let groups = op.int_of("groups").map_err(Error::msg)?.max(1) as usize;
                    let (cin, og) = (w.shape()[0], w.shape()[1]);
                    let ig = cin / groups;
                    let at = |name: &str, i: usize| {
                        op.ints(name)
                            .and_then(|v| v.get(i))
                            .map_or(1, |&v| v.max(1) as usize)
                    };
                    let (sh, sw, dh, dw) = (
                        at("strides", 0),
                        at("strides", 1),
                        at("dilations", 0),
                        at("dilations", 1),
                    );
                    let phases = sh * sw;
                    let lanes = (0..groups * og * phases).map(|l| {
                        let (c, ph) = (l / phases, l % phases);
                        let (g, o) = (c / og, c % og);
                        let sl = w.slice_axis(Axis(0), (g * ig..(g + 1) * ig).into());
                        let lane = sl.index_axis(Axis(1), o);
                        let taps = lane.indexed_iter().filter_map(|(i, v)| {
                            let (p, q) = (i[1], i[2]);
                            ((p * dh % sh) * sw + q * dw % sw == ph).then_some(v)
                        });
                        pos_neg(taps)
                    });
                    linear(xr, lanes, |l| bias_of(l / phases))
                }
            }
            Gemm | MatMul => self.product(op, &args)?,
            Relu => {
                let r = x()?;
                (r.0.max(0.0), r.1.max(0.0))
            }
            Clip => {
                let r = x()?;
                let lo = op.float("min").map_or(f64::NEG_INFINITY, f64::from);
                let hi = op.float("max").map_or(f64::INFINITY, f64::from);
                (r.0.clamp(lo, hi.max(lo)), r.1.clamp(lo, hi.max(lo)))
            }
            LeakyRelu => {
                let a = op.float_of("alpha").map_err(Error::msg)? as f64;
                let f = |v: f64| if v >= 0.0 { v } else { a * v };
                let r = x()?;
                hull(
                    [f(r.0), f(r.1)]
                        .into_iter()
                        .chain((r.0 < 0.0 && r.1 > 0.0).then_some(0.0)),
                )
            }
            Sigmoid => {
                let r = x()?;
                let s = |v: f64| 1.0 / (1.0 + (-v).exp());
                (s(r.0), s(r.1))
            }
            HardSigmoid => {
                let (a, b) = (
                    op.float_of("alpha").map_err(Error::msg)? as f64,
                    op.float_of("beta").map_err(Error::msg)? as f64,
                );
                let r = x()?;
                hull([r.0, r.1].map(|v| (a * v + b).clamp(0.0, 1.0)))
            }
            HardSwish => {
                let f = |v: f64| v * (v / 6.0 + 0.5).clamp(0.0, 1.0);
                let r = x()?;
                // The only interior extremum is the minimum at −1.5.
                hull(
                    [f(r.0), f(r.1)]
                        .into_iter()
                        .chain((r.0 < -1.5 && r.1 > -1.5).then_some(f(-1.5))),
                )
            }
            Unary => {
                // The table's functions have no common shape (sin oscillates, pow may dip): the
                // hull of 4097 evenly spaced points and the ends bounds them to within the
                // grid's step, which calibration's own clipping dwarfs.
                let (f, p) = crate::ir::infer::unary_fn(op).map_err(Error::msg)?;
                let r = x()?;
                let n = 4096;
                let pts = (0..=n).map(|i| r.0 + (r.1 - r.0) * i as f64 / n as f64);
                // NaN (log below 0) quantizes to the zero point and ±∞ saturate: the finite
                // values bound the rest.
                let vals: Vec<f64> = pts
                    .map(|v| f.eval(v as f32, &p) as f64)
                    .filter(|v| v.is_finite())
                    .collect();
                if vals.is_empty() {
                    return Err(Error::msg(format!(
                        "unary {}: no finite value over the input range [{}, {}], so it has no data-free bound",
                        f.name(),
                        fmt_f32(r.0 as f32),
                        fmt_f32(r.1 as f32)
                    )));
                }
                hull(vals)
            }
            Add => {
                let (a, b) = (x()?, self.of(args[1])?);
                (a.0 + b.0, a.1 + b.1)
            }
            Sub => {
                let (a, b) = (x()?, self.of(args[1])?);
                (a.0 - b.1, a.1 - b.0)
            }
            Mul => mul(x()?, self.of(args[1])?),
            Div => {
                let (a, b) = (x()?, self.of(args[1])?);
                if b.0 <= 0.0 && b.1 >= 0.0 {
                    return Err(Error::msg(format!(
                        "div: the divisor {} may be 0 (its range is [{}, {}]), so the quotient has no data-free bound",
                        self.name(args[1]),
                        fmt_f32(b.0 as f32),
                        fmt_f32(b.1 as f32)
                    )));
                }
                mul(a, (1.0 / b.1, 1.0 / b.0))
            }
            Max | Min => {
                let (a, b) = (x()?, self.of(args[1])?);
                if op.kind == Max {
                    (a.0.max(b.0), a.1.max(b.1))
                } else {
                    (a.0.min(b.0), a.1.min(b.1))
                }
            }
            Reduce => self.reduce_range(op, args[0], x()?)?,
            // A standardized value of a group of n lies within ±√n (±√(n − 1) when centred).
            Normalize => {
                let shape = &self.model.node(args[0]).ty.shape;
                let axis = op.int_of("axis").map_err(Error::msg)?.max(0) as usize;
                let n: usize = shape[axis.min(shape.len())..].iter().product();
                let r = (n as f64).sqrt();
                (-r, r)
            }
            MaxPool | GlobalAvgPool | ReduceMean | Flatten | Reshape | Squeeze | Unsqueeze
            | Transpose | Resize | Slice => x()?,
            AvgPool => {
                if op.bool_of("count_include_pad").map_err(Error::msg)? && pads {
                    with_zero(x()?)
                } else {
                    x()?
                }
            }
            Pad => {
                let fill = match floats("channel_values") {
                    Some(cv) => hull(cv.iter().map(|&v| v as f64)),
                    None => {
                        let v = op.float_of("value").map_err(Error::msg)? as f64;
                        (v, v)
                    }
                };
                union(x()?, fill)
            }
            Concat => {
                let mut r = (f64::INFINITY, f64::NEG_INFINITY);
                for &a in &args {
                    r = union(r, self.of(a)?);
                }
                r
            }
            Softmax => (0.0, 1.0),
            // A cast keeps values (up to rounding); bools are 0 or 1.
            Cast => x()?,
            Compare | Logic | Not => (0.0, 1.0),
            Gather | GatherElements | Expand => x()?,
            // The output is a convex combination of v's rows (with zeros for a masked row).
            Attention => match op.str("result") {
                Some("y") | None => with_zero(self.of(args[2])?),
                Some("probabilities") => (0.0, 1.0),
                _ => {
                    return Err(Error::msg(
                        "attention: its scores have no data-free bound (calibrate with data)",
                    ))
                }
            },
            NllLoss => {
                return Err(Error::msg(
                    "nll_loss: a loss has no data-free bound (calibrate with data)",
                ))
            }
            ArgMax | ArgMin => {
                let x = self.model.node(args[0]).ty.shape.clone();
                let axis = op.int_of("axis").map_err(Error::msg)? as usize;
                (0.0, x.get(axis).map_or(0.0, |&d| d as f64 - 1.0))
            }
            Where => union(self.of(args[1])?, self.of(args[2])?),
            Mod => {
                let b = self.of(args[1])?;
                let m = b.0.abs().max(b.1.abs());
                (-m, m)
            }
            Dequantize => {
                let q = self
                    .model
                    .node(args[0])
                    .ty
                    .elem
                    .quant()
                    .cloned()
                    .ok_or_else(|| Error::msg("dequantize of a value that is not quantized"))?;
                let (qmin, qmax): (f64, f64) = match q.storage {
                    DType::I8 => (-128.0, 127.0),
                    DType::U8 => (0.0, 255.0),
                    _ => (i32::MIN as f64, i32::MAX as f64),
                };
                q.scales
                    .iter()
                    .zip(&q.zero_points)
                    .map(|(&s, &z)| {
                        hull([(qmin - z as f64) * s as f64, (qmax - z as f64) * s as f64])
                    })
                    .fold((f64::INFINITY, f64::NEG_INFINITY), union)
            }
            Quantize | Requantize | QConv2d | QConvTranspose2d | QGemm | QAdd | QMul | QMatMul
            | QSoftmax | QAvgPool | QGlobalAvgPool | Lut => {
                return Err(Error::msg(format!("{} has no f32 result", op.kind.name())))
            }
        })
    }

    /// A `reduce` of `n` elements each within `r`: the extremes its function reaches.
    fn reduce_range(&self, op: &Op, x: NodeId, r: Interval) -> Result<Interval> {
        use runtime::ops::ReduceFn as F;
        let f = crate::ir::infer::reduce_fn(op).map_err(Error::msg)?;
        let shape = &self.model.node(x).ty.shape;
        let axes = op.ints_of("axes").map_err(Error::msg)?;
        let n: usize = if axes.is_empty() {
            shape.iter().product()
        } else {
            axes.iter().map(|&a| shape[a as usize]).product()
        };
        let nf = n as f64;
        let m = r.0.abs().max(r.1.abs());
        Ok(match f {
            F::Max | F::Min => r,
            F::Sum => (nf * r.0, nf * r.1),
            F::SumSquare => (0.0, nf * m * m),
            F::L1 => (0.0, nf * m),
            F::L2 => (0.0, nf.sqrt() * m),
            F::Prod => {
                let p = m.powi(n as i32);
                (-p, p)
            }
            // Every element equal to one end gives that end plus ln n.
            F::LogSumExp => (r.0 + nf.ln(), r.1 + nf.ln()),
            F::LogSum if r.0 > 0.0 => ((nf * r.0).ln(), (nf * r.1).ln()),
            F::LogSum => {
                return Err(Error::msg(format!(
                    "reduce log_sum: its operand {} may be ≤ 0 (its range is [{}, {}]), so the logarithm has no data-free bound",
                    self.name(x),
                    fmt_f32(r.0 as f32),
                    fmt_f32(r.1 as f32)
                )))
            }
        })
    }

    /// Gemm and matmul: per output column when the right operand is constant (per row when the
    /// left one is), otherwise `K` times the interval product; then `α` and `β·C` for gemm.
    fn product(&self, op: &Op, args: &[NodeId]) -> Result<Interval> {
        let is_gemm = op.kind == OpKind::Gemm;
        let flag = |n: &str| is_gemm && op.bool(n).unwrap_or(false);
        let (a, b) = (args[0], args[1]);
        let c = if is_gemm { args.get(2).copied() } else { None };
        let beta = if is_gemm {
            op.float_of("beta").map_err(Error::msg)? as f64
        } else {
            1.0
        };
        // β·C per output column when C is one value per column, else C's extremes.
        let c_const = c.and_then(|c| self.weight(c));
        let bias_of = |col: usize, n: usize| -> Result<Interval> {
            match (c, c_const) {
                (None, _) => Ok((0.0, 0.0)),
                (Some(_), Some(w)) if w.len() == n && n > 1 => {
                    let v = w.iter().nth(col).copied().unwrap_or(0.0) as f64;
                    Ok(mul((v, v), (beta, beta)))
                }
                (Some(c), _) => Ok(mul(self.of(c)?, (beta, beta))),
            }
        };
        // A constant operand as its 2-D matrices: `[K, N]` slices (right) or `[M, K]` (left).
        let slices = |w: &ArrayD<f32>, transposed: bool| -> Vec<Array2<f32>> {
            let w = w.as_standard_layout().into_owned();
            let shape = w.shape().to_vec();
            let (r, cols) = match shape.len() {
                0 => (1, 1),
                1 => (shape[0], 1),
                n => (shape[n - 2], shape[n - 1]),
            };
            let count = w.len() / (r * cols).max(1);
            let m = w
                .into_shape_with_order((count, r, cols))
                .expect("same element count");
            m.outer_iter()
                .map(|s| {
                    if transposed {
                        s.t().to_owned()
                    } else {
                        s.to_owned()
                    }
                })
                .collect()
        };
        let alpha = if is_gemm {
            op.float_of("alpha").map_err(Error::msg)? as f64
        } else {
            1.0
        };
        let mut out = (f64::INFINITY, f64::NEG_INFINITY);
        if let Some(w) = self.weight(b) {
            let xr = self.of(a)?;
            for m in slices(w, flag("trans_b")) {
                let n = m.ncols();
                let lanes: Vec<(f64, f64)> = m
                    .axis_iter(Axis(1))
                    .map(|col| pos_neg(col.iter()))
                    .collect();
                for (col, &(p, q)) in lanes.iter().enumerate() {
                    let y = mul(
                        linear(xr, std::iter::once((p, q)), |_| (0.0, 0.0)),
                        (alpha, alpha),
                    );
                    let bc = bias_of(col, n)?;
                    out = union(out, (y.0 + bc.0, y.1 + bc.1));
                }
            }
            return Ok(out);
        }
        let y = if let Some(w) = self.weight(a) {
            let xr = self.of(b)?;
            let lanes = slices(w, flag("trans_a")).into_iter().flat_map(|m| {
                m.axis_iter(Axis(0))
                    .map(|row| pos_neg(row.iter()))
                    .collect::<Vec<_>>()
            });
            linear(xr, lanes, |_| (0.0, 0.0))
        } else {
            let ta = &self.model.node(a).ty.shape;
            let k = match ta.len() {
                0 => 1,
                1 => ta[0],
                n if flag("trans_a") => ta[n - 2],
                n => ta[n - 1],
            };
            let p = mul(self.of(a)?, self.of(b)?);
            (p.0 * k as f64, p.1 * k as f64)
        };
        let y = mul(y, (alpha, alpha));
        let bc = match c {
            Some(c) => mul(self.of(c)?, (beta, beta)),
            None => (0.0, 0.0),
        };
        Ok((y.0 + bc.0, y.1 + bc.1))
    }

    /// The moments of an operand: an activation's estimate, or a constant's (see [`const_moments`]).
    fn moments_of(&self, id: NodeId, out_shape: &[usize]) -> Option<Moments> {
        match self.weight(id) {
            Some(w) => const_moments(w, out_shape),
            None => self.moments.get(&id).cloned(),
        }
    }

    /// The estimated moments of an op's result (see [`crate::quant::moments`]).
    fn op_moments(&self, id: NodeId, op: &Op) -> Option<Moments> {
        use OpKind::*;
        let args = self.model.operands(id);
        let out: &[usize] = &self.model.node(id).ty.shape;
        let floats = |name: &str| op.attr(name).and_then(Attr::as_floats);
        if let (Some(g), Some(b)) = (floats("bn_gamma"), floats("bn_beta")) {
            return Some(bn_moments(g, b));
        }
        let x = || self.moments.get(&args[0]).cloned();
        let in_shape: &[usize] = &self.model.node(args[0]).ty.shape;
        match op.kind {
            BatchNorm => {
                let (g, b) = (self.weight(args[1])?, self.weight(args[2])?);
                Some(bn_moments(
                    g.as_slice_memory_order()?,
                    b.as_slice_memory_order()?,
                ))
            }
            Conv2d => {
                let (w, x) = (self.weight(args[1])?, x()?);
                let bias = args.get(2).and_then(|&b| self.weight(b));
                let groups = op.int("groups").unwrap_or(1).max(1) as usize;
                let (o_count, ig) = (w.shape()[0], w.shape()[1]);
                let og = (o_count / groups).max(1);
                if x.channels() != 1 && x.channels() != ig * groups {
                    return None;
                }
                let (mut mean, mut var) = (vec![], vec![]);
                for (o, filter) in w.axis_iter(Axis(0)).enumerate() {
                    let g = o / og;
                    let (mut m, mut v) = (
                        bias.and_then(|b| b.iter().nth(o))
                            .map_or(0.0, |&b| b as f64),
                        0.0,
                    );
                    for (i, taps) in filter.axis_iter(Axis(0)).enumerate() {
                        let (mu, s2) = x.at(g * ig + i);
                        m += taps.iter().map(|&t| t as f64).sum::<f64>() * mu;
                        v += taps.iter().map(|&t| (t as f64) * (t as f64)).sum::<f64>() * s2;
                    }
                    mean.push(m);
                    var.push(v);
                }
                Some(Moments { mean, var })
            }
            Gemm | MatMul => {
                let is_gemm = op.kind == Gemm;
                let w = self.weight(args[1]).filter(|w| w.ndim() == 2)?;
                let w = if is_gemm && op.bool("trans_b").unwrap_or(false) {
                    w.t().to_owned()
                } else {
                    w.to_owned()
                };
                let x = x()?;
                // Per-feature moments only when axis 1 of the left operand is the reduced axis.
                let x = if (is_gemm && op.bool("trans_a").unwrap_or(false)) || in_shape.len() != 2 {
                    x.pooled()
                } else {
                    x
                };
                if x.channels() != 1 && x.channels() != w.shape()[0] {
                    return None;
                }
                let alpha = if is_gemm {
                    op.float("alpha").unwrap_or(1.0) as f64
                } else {
                    1.0
                };
                let beta = if is_gemm {
                    op.float("beta").unwrap_or(1.0) as f64
                } else {
                    1.0
                };
                let c = if is_gemm {
                    args.get(2).and_then(|&c| self.moments_of(c, out))
                } else {
                    None
                };
                let (mut mean, mut var) = (vec![], vec![]);
                for (n, col) in w.axis_iter(Axis(1)).enumerate() {
                    let (mut m, mut v) = (0.0, 0.0);
                    for (k, &t) in col.iter().enumerate() {
                        let (mu, s2) = x.at(k);
                        m += t as f64 * mu;
                        v += (t as f64) * (t as f64) * s2;
                    }
                    let (cm, cv) = c.as_ref().map_or((0.0, 0.0), |c| c.at(n));
                    mean.push(alpha * m + beta * cm);
                    var.push(alpha * alpha * v + beta * beta * cv);
                }
                Some(Moments { mean, var })
            }
            Relu => Some(x()?.map(|m, v| clip_moments(m, v, 0.0, f64::INFINITY))),
            Clip => {
                let lo = op.float("min").map_or(f64::NEG_INFINITY, f64::from);
                let hi = op.float("max").map_or(f64::INFINITY, f64::from);
                Some(x()?.map(|m, v| clip_moments(m, v, lo, hi)))
            }
            MaxPool => {
                let k: i64 = op.ints("kernel_shape").unwrap_or(&[1, 1]).iter().product();
                let e = expected_max(k.max(1) as usize);
                Some(x()?.map(|m, v| (m + e * v.sqrt(), v)))
            }
            // A resize keeps each channel's mean; nearest its variance too, bilinear at most it.
            AvgPool | GlobalAvgPool | Pad | Resize => x(),
            ReduceMean => {
                let rank = in_shape.len() as i64;
                let axes = op.ints("axes").unwrap_or(&[]);
                let over_channels = axes.iter().any(|&a| (a + rank) % rank.max(1) == 1);
                Some(if over_channels { x()?.pooled() } else { x()? })
            }
            Flatten | Reshape | Squeeze | Unsqueeze | Transpose => {
                let x = x()?;
                let keeps = match op.ints("perm") {
                    Some(perm) => perm.len() >= 2 && perm[0] == 0 && perm[1] == 1,
                    None => in_shape.len() >= 2 && out.len() >= 2 && in_shape[..2] == out[..2],
                };
                if x.channels() == 1 || keeps {
                    return Some(x);
                }
                // [N, C, rest…] → [N, C·|rest|]: each channel becomes |rest| consecutive features.
                let rest: usize = in_shape.iter().skip(2).product();
                if op.kind != Transpose
                    && in_shape.len() >= 2
                    && out.len() == 2
                    && out[0] == in_shape[0]
                    && out[1] == in_shape[1] * rest
                {
                    return Some(x.repeat_each(rest));
                }
                Some(x.pooled())
            }
            // A slice keeps each channel it takes; one that picks channels keeps their mixture.
            Slice => {
                let x = x()?;
                let cuts_channels = op.ints("axes").is_some_and(|a| a.contains(&1));
                Some(if cuts_channels && x.channels() > 1 {
                    x.pooled()
                } else {
                    x
                })
            }
            Concat => {
                let axis = op.int("axis").unwrap_or(0);
                let parts: Option<Vec<Moments>> =
                    args.iter().map(|&a| self.moments_of(a, out)).collect();
                let parts = parts?;
                if axis == 1 || axis == 1 - out.len() as i64 {
                    let (mut mean, mut var) = (vec![], vec![]);
                    for (p, &a) in parts.iter().zip(&args) {
                        let c = self.model.node(a).ty.shape.get(1).copied().unwrap_or(1);
                        let p = if p.channels() == 1 {
                            p.repeat_each(c)
                        } else {
                            p.clone()
                        };
                        mean.extend(p.mean);
                        var.extend(p.var);
                    }
                    return Some(Moments { mean, var });
                }
                let all = Moments {
                    mean: parts.iter().map(|p| p.pooled().mean[0]).collect(),
                    var: parts.iter().map(|p| p.pooled().var[0]).collect(),
                };
                Some(all.pooled())
            }
            Add | Sub | Mul | Div => {
                let (a, b) = (
                    self.moments_of(args[0], out)?,
                    self.moments_of(args[1], out)?,
                );
                let worst = |va: f64, vb: f64| (va.sqrt() + vb.sqrt()).powi(2);
                match op.kind {
                    Add => a.zip(&b, |(ma, va), (mb, vb)| (ma + mb, worst(va, vb))),
                    Sub => a.zip(&b, |(ma, va), (mb, vb)| (ma - mb, worst(va, vb))),
                    // Independent factors: Var(XY) = σx²σy² + σx²μy² + σy²μx².
                    Mul => a.zip(&b, |(ma, va), (mb, vb)| {
                        (ma * mb, va * vb + va * mb * mb + vb * ma * ma)
                    }),
                    _ if self.weight(args[1]).is_some()
                        && b.var.iter().all(|&v| v == 0.0)
                        && b.mean.iter().all(|&m| m != 0.0) =>
                    {
                        a.zip(&b, |(ma, va), (mb, _)| (ma / mb, va / (mb * mb)))
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// Whether an op's range is its bound narrowed to the moments' `μ ± 3σ` (layers without BN
/// statistics and arithmetic: where worst-case bounds grow with the fan-in).
fn estimated(op: &Op) -> bool {
    use OpKind::*;
    let bn = op.attr("bn_gamma").is_some() && op.attr("bn_beta").is_some();
    !bn && matches!(
        op.kind,
        Conv2d | ConvTranspose2d | Gemm | MatMul | Add | Sub | Mul | Div
    )
}

/// Ranges for every input and f32 op result of `model` without data: inputs get `input_range`,
/// the rest follows the module documentation. Weights must be loaded.
pub fn data_free_ranges(model: &Model, input_range: (f32, f32)) -> Result<Ranges> {
    data_free_walk(model, input_range).map(|(r, _)| r)
}

/// The expected value per channel of every tensor of `of` whose moments the data-free walk
/// estimates (data-free bias correction); tensors it cannot estimate are left out.
pub fn data_free_means(
    model: &Model,
    input_range: (f32, f32),
    of: &[NodeId],
) -> Result<crate::quant::bias_correction::Means> {
    let (_, moments) = data_free_walk(model, input_range)?;
    Ok(of
        .iter()
        .filter_map(|&n| {
            moments
                .get(&n)
                .map(|m| (model.node(n).name.clone(), m.mean.clone()))
        })
        .collect())
}

/// The ranges of [`data_free_ranges`] and the moments estimated on the way.
fn data_free_walk(
    model: &Model,
    input_range: (f32, f32),
) -> Result<(Ranges, HashMap<NodeId, Moments>)> {
    let (lo, hi) = input_range;
    if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
        return Err(Error::msg(format!(
            "the input range [{}, {}] must be finite with min ≤ max",
            fmt_f32(lo),
            fmt_f32(hi)
        )));
    }
    let mut walk = Walk {
        model,
        known: HashMap::new(),
        moments: HashMap::new(),
        dequantized: dequantized_constants(model),
    };
    let span = hi as f64 - lo as f64;
    for &i in &model.inputs {
        walk.known.insert(i, (lo as f64, hi as f64));
        // Uniform over the input range.
        walk.moments.insert(
            i,
            Moments::scalar((lo as f64 + hi as f64) / 2.0, span * span / 12.0),
        );
    }
    let tensors = observed_tensors(model);
    let mut ranges = BTreeMap::new();
    for &id in &tensors {
        let node = model.node(id);
        if let NodeKind::Op(op) = &node.kind {
            let r = walk.op(id, op).map_err(|e| match e {
                Error::Msg(m) => Error::msg(format!("data-free range of %{}: {m}", node.name)),
                e => e,
            })?;
            let moments = walk.op_moments(id, op);
            let r = match (&moments, estimated(op)) {
                (Some(m), true) => {
                    let (elo, ehi) = m.range(BN_SIGMAS as f64);
                    let (a, b) = (r.0.max(elo), r.1.min(ehi));
                    if a <= b {
                        (a, b)
                    } else {
                        r
                    }
                }
                _ => r,
            };
            if let Some(m) = moments {
                walk.moments.insert(id, m);
            }
            walk.known.insert(id, r);
        }
        let (a, b) = walk.known[&id];
        let (a, b) = (a as f32, b as f32);
        if !(a.is_finite() && b.is_finite() && a <= b) {
            return Err(Error::msg(format!(
                "data-free range of %{}: [{}, {}] is not a finite interval (calibrate with samples instead)",
                node.name,
                fmt_f32(a),
                fmt_f32(b)
            )));
        }
        ranges.insert(node.name.clone(), (a, b));
    }
    Ok((
        Ranges {
            model: model.name.clone(),
            method: format!("data-free, inputs in [{}, {}]", fmt_f32(lo), fmt_f32(hi)),
            ranges,
        },
        walk.moments,
    ))
}
