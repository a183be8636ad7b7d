//! The quantizer: float IR + calibrated ranges → QDQ IR. Every op that has an integer form gets
//! its activations as `dequantize(quantize(x))`, its weights as `dequantize` of i8 per-channel
//! constants and its bias as `dequantize` of an i32 constant with scale `S_x·S_w`; its result is
//! quantized where a consumer needs it. The lowering rules (rules/lower.rules) then turn each
//! `quantize(op(dequantize(…)))` sandwich into one integer op.
//!
//! Before: a verified float model with weights loaded and a range for every observed tensor.
//! After: a verified model computing the same function up to quantization error.

use crate::diag::{Error, Result};
use crate::ir::model::{Model, NameSet, NodeId, NodeKind, WeightData};
use crate::ir::op::{Op, OpKind};
use crate::ir::types::{ElemType, TensorType};
use crate::quant::params::{
    activation_in, bias, fit_bias, quantize_weights, weights, Params, Warning, WeightBits,
};
use crate::quant::ranges::Ranges;
use crate::rules::ruleset::Absorption;
use ndarray::{ArrayD, Axis, IxDyn};
use runtime::{DType, Tensor};
use std::collections::HashMap;
use std::sync::Arc;

/// What the quantizer decided and what the user should hear about.
#[derive(Debug, Default)]
pub struct Quantized {
    pub model: Model,
    pub warnings: Vec<Warning>,
    /// Ops left in float (name, op kind) because they have no integer form.
    pub float_ops: Vec<(String, String)>,
    /// Why each op of `float_ops` stays float, by name.
    pub float_reasons: std::collections::BTreeMap<String, String>,
    /// The ops kept float by `--keep-float` (and the producers whose ReLU it kept), by their
    /// names in the QDQ model: lowering must leave them float too.
    pub kept: std::collections::BTreeSet<String>,
}

/// How an op takes part in quantization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Has an integer kernel with constant weights (conv, conv_transpose, gemm).
    Linear,
    /// Has an integer kernel on activations only (add, pools, lookup tables).
    Integer,
    /// Moves codes without changing them: the result keeps its input's parameters.
    PassThrough,
    /// Concat, max, min and reduce max/min: computes on codes that all carry the result's
    /// parameters (see [`Builder::join`]).
    Join,
    /// ReLU and Clip: absorbed into the producer's clamp, or a requantize.
    Activation,
    /// Stays float.
    Float,
}

/// Whether op `user` has an integer form reading 16-bit codes in operand `slot`: a
/// convolution of one group without horizontal dilation, in its input (`--activation-bits-for`).
pub fn reads_sixteen_bits(model: &Model, user: NodeId, slot: usize) -> bool {
    model.node(user).op().is_some_and(|op| {
        op.kind == OpKind::Conv2d
            && op.int_of("groups").unwrap_or(1) == 1
            && op
                .ints("dilations")
                .and_then(|d| d.get(1))
                .is_none_or(|&d| d == 1)
            && slot == 0
    })
}

/// Whether an op only moves codes (reshape, transpose, max-pool, …): quantized, its result is
/// exactly its input's values, so it adds no error of its own.
pub fn moves_codes(model: &Model, n: NodeId) -> bool {
    model
        .node(n)
        .op()
        .is_some_and(|op| role(model, n, op) == Role::PassThrough)
}

fn role(model: &Model, n: NodeId, op: &Op) -> Role {
    let operands = model.operands(n);
    let is_const = |i: usize| {
        operands.get(i).is_some_and(|&o| {
            model
                .node(o)
                .weight()
                .is_some_and(|w| w.dtype() == runtime::DType::F32)
        })
    };
    // Only f32 values are quantized: indices, masks, f16 and f64 stay as they are, and so does
    // every op that reads or writes one.
    let plain_f32 = |id: NodeId| model.node(id).ty.elem == ElemType::F32;
    // (A gather's constant indices are the exception: they pick elements, not values.)
    let values = match op.kind {
        OpKind::Gather if operands.get(1).is_some_and(|&i| model.node(i).is_weight()) => {
            &operands[..1]
        }
        _ => &operands[..],
    };
    if !plain_f32(n) || !values.iter().all(|&o| plain_f32(o)) {
        return Role::Float;
    }
    match op.kind {
        OpKind::Conv2d if is_const(1) && operands.get(2).is_none_or(|_| is_const(2)) => {
            Role::Linear
        }
        // One group: the weight's axis 1 is then the output channel, the per-channel scale of
        // qconv_transpose2d (with groups it would be o' of g·O/G + o', which the lowering rules
        // do not express).
        OpKind::ConvTranspose2d
            if op.int("groups") == Some(1)
                && is_const(1)
                && operands.get(2).is_none_or(|_| is_const(2)) =>
        {
            Role::Linear
        }
        // The bias becomes one i32 per output column: a vector of N, or a [1, N] row (the same
        // values broadcast down the rows).
        OpKind::Gemm
            if is_const(1)
                && operands.get(2).is_none_or(|&c| {
                    let (shape, n) = (&model.node(c).ty.shape, model.node(n).ty.shape[1]);
                    is_const(2) && (shape[..] == [n] || shape[..] == [1, n])
                })
                && op.float("alpha") == Some(1.0)
                && op.float("beta") == Some(1.0) =>
        {
            Role::Linear
        }
        // An activation of rank 2 to 4 times a constant [K, N] weight (a batched one reads as
        // one [rows, K] matrix, lower-matmul-batched); a 2-D one is usually a gemm already
        // (matmul-as-gemm).
        OpKind::MatMul
            if is_const(1)
                && model.node(operands[1]).ty.rank() == 2
                && (2..=4).contains(&model.node(operands[0]).ty.rank()) =>
        {
            Role::Linear
        }
        // Two activations of rank ≥ 2 (attention's Q·Kᵀ and softmax·V): qmatmul, whose i32 sum
        // of centred-code products is exact while K stays within runtime's QMATMUL_MAX_K.
        OpKind::MatMul
            if operands.iter().all(|&o| !model.node(o).is_weight())
                && operands.iter().all(|&o| model.node(o).ty.rank() >= 2)
                && model
                    .node(operands[0])
                    .ty
                    .shape
                    .last()
                    .is_some_and(|&k| k <= runtime::qops::QMATMUL_MAX_K) =>
        {
            Role::Integer
        }
        OpKind::Add
            if operands.iter().all(|&o| !model.node(o).is_weight())
                && model.node(operands[0]).ty.shape == model.node(operands[1]).ty.shape =>
        {
            Role::Integer
        }
        // An activation times, plus, minus or divided by one constant value (a learnable affine
        // block's scale or offset that no conv absorbed): a function of the one code, so a
        // lookup table. Mul and add take the constant on either side, sub and div second.
        OpKind::Mul | OpKind::Add | OpKind::Sub | OpKind::Div
            if operands.len() == 2
                && is_scalar_const(model, operands[1]) != is_scalar_const(model, operands[0])
                && (is_scalar_const(model, operands[1])
                    || matches!(op.kind, OpKind::Mul | OpKind::Add))
                && !(op.kind == OpKind::Div && is_zero(model, operands[1]))
                && operands.iter().any(|&o| !model.node(o).is_weight())
                && operands
                    .iter()
                    .filter(|&&o| !model.node(o).is_weight())
                    .all(|&o| model.node(o).ty.shape == model.node(n).ty.shape) =>
        {
            Role::Integer
        }
        // Two activations (an SE block's gate times its features), broadcasting as mul does.
        OpKind::Mul if operands.iter().all(|&o| !model.node(o).is_weight()) => Role::Integer,
        OpKind::GlobalAvgPool
        | OpKind::Sigmoid
        | OpKind::HardSwish
        | OpKind::Unary
        | OpKind::HardSigmoid
        | OpKind::LeakyRelu => Role::Integer,
        OpKind::AvgPool => Role::Integer,
        // qsoftmax: a table of e^(−S_x·d) over the code distance below the row's maximum, summed
        // exactly in u32 while the axis stays within runtime's QSOFTMAX_MAX_AXIS.
        OpKind::Softmax
            if softmax_axis_len(model, n, op)
                .is_some_and(|len| len <= runtime::qops::QSOFTMAX_MAX_AXIS) =>
        {
            Role::Integer
        }
        // A resize's result lies within its input's range (nearest copies elements, bilinear
        // takes convex combinations), so it keeps the input's parameters: nearest is then a
        // gather of codes, bilinear the fixed-point form of docs/ir.md. A constant moved around
        // has no calibrated range (import and simplify fold these).
        OpKind::MaxPool
        | OpKind::Reshape
        | OpKind::Flatten
        | OpKind::Squeeze
        | OpKind::Unsqueeze
        | OpKind::Transpose
        | OpKind::Slice
        | OpKind::Resize
            if !model.node(operands[0]).is_weight() =>
        {
            Role::PassThrough
        }
        // Constant padding adds elements of one value: with 0 (the zero point's value, in every
        // range) the codes move unchanged with their parameters; another value gets a range of
        // its own that holds it (calibration saw it), and the codes are requantized to it before
        // the fill (lower-pad-requantize). Per-channel fills (a BatchNorm moved across the pad)
        // stay float.
        OpKind::Pad
            if !model.node(operands[0]).is_weight() && op.attr("channel_values").is_none() =>
        {
            if op.float("value") == Some(0.0) {
                Role::PassThrough
            } else {
                Role::Integer
            }
        }
        // A gather with constant indices picks elements (Pad's edge, reflect and wrap modes, a
        // class token): its result keeps its input's parameters too. Indices computed at run
        // time are plain integers the graph does not quantize, so such a gather stays float.
        OpKind::Gather
            if !model.node(operands[0]).is_weight() && model.node(operands[1]).is_weight() =>
        {
            Role::PassThrough
        }
        OpKind::Concat
            if operands.iter().all(|&o| !model.node(o).is_weight()) && needs_codes(model, n) =>
        {
            Role::Join
        }
        // Max and min are increasing in each operand, so on codes at one set of parameters they
        // are the codes of the float result (an operand requantized to the result's range is
        // clamped first, which commutes with max/min); a reduce max/min is that over a group.
        OpKind::Max | OpKind::Min
            if operands.iter().all(|&o| !model.node(o).is_weight()) && needs_codes(model, n) =>
        {
            Role::Join
        }
        OpKind::Reduce
            if matches!(op.str("fn"), Some("max" | "min"))
                && !model.node(operands[0]).is_weight()
                && needs_codes(model, n) =>
        {
            Role::Join
        }
        OpKind::Relu => Role::Activation,
        // One bound is enough: the requantize clamps the other side at the type's limit.
        OpKind::Clip if op.float("min").is_some() || op.float("max").is_some() => Role::Activation,
        _ => Role::Float,
    }
}

/// How many elements the axis of softmax `n` holds.
pub(crate) fn softmax_axis_len(model: &Model, n: NodeId, op: &Op) -> Option<usize> {
    let x = *model.operands(n).first()?;
    let axis = usize::try_from(op.int("axis")?).ok()?;
    model.node(x).ty.shape.get(axis).copied()
}

/// Whether `n` is a constant holding one f32 value (of shape `[]` or `[1]`, so that it broadcasts
/// without widening anything).
fn is_scalar_const(model: &Model, n: NodeId) -> bool {
    let node = model.node(n);
    node.weight()
        .is_some_and(|w| w.dtype() == runtime::DType::F32)
        && node.ty.shape.iter().all(|&d| d == 1)
        && node.ty.rank() <= 1
}

/// Whether `n` is a constant whose values are all zero (a divisor divide-as-table refuses).
fn is_zero(model: &Model, n: NodeId) -> bool {
    model
        .node(n)
        .weight()
        .is_some_and(|w| w.to_f64_vec().iter().all(|&v| v == 0.0))
}

/// Whether some consumer of `n` computes on its codes, directly or through ops that only move
/// them. A value that only leaves the integer graph (a graph output, float consumers) is better
/// joined or moved as floats: a YOLO head concatenates boxes in pixels with scores in [0, 1],
/// and one set of u8 parameters for both would leave the scores a handful of codes.
fn needs_codes(model: &Model, n: NodeId) -> bool {
    model.users(n).into_iter().any(|(u, _)| {
        model.node(u).op().is_some_and(|o| match role(model, u, o) {
            Role::Linear | Role::Integer | Role::Activation | Role::Join => true,
            Role::PassThrough => needs_codes(model, u),
            Role::Float => false,
        })
    })
}

/// Whether the activation `act` (a ReLU/Clip) reading `p` becomes `p`'s clamp: `p` is wrapped for
/// an integer form, nothing else reads it, and some lowering rule takes the whole
/// `quantize(act(p(…)))` sandwich with `act`'s attributes (`lower-conv-relu`, `lower-add-relu`,
/// …; `absorbed` is [`RuleSet::absorbed_activations`](crate::rules::RuleSet::absorbed_activations)).
/// Then the integer op writes the clamped codes at the activation's range directly. Otherwise
/// the activation is quantized on its own (a requantize) and `p` keeps its own range.
fn absorbs_activation(src: &Model, p: NodeId, act: &Op, absorbed: &Absorption) -> bool {
    src.use_count(p) == 1
        && src.node(p).op().is_some_and(|o| {
            matches!(role(src, p, o), Role::Linear | Role::Integer) && absorbed.absorbs(act, o)
        })
}

/// The sandwiches the built-in lowering rules absorb, read once.
fn builtin_absorbed() -> Absorption {
    static FORMS: std::sync::OnceLock<Absorption> = std::sync::OnceLock::new();
    FORMS
        .get_or_init(|| {
            crate::rules::RuleSet::lowering_and(&[])
                .map(|r| r.absorbed_activations())
                .unwrap_or_default()
        })
        .clone()
}

/// What the user asked of the quantizer beyond the defaults.
#[derive(Clone, Debug)]
pub struct Options {
    /// Weight bits of every linear op not named in `bits_for`.
    pub bits: WeightBits,
    /// Ops (by result name, without `%`) to leave in float: `--keep-float`.
    pub keep_float: std::collections::BTreeSet<String>,
    /// Per-op weight bits: `--weight-bits-for NAME=8`.
    pub bits_for: std::collections::BTreeMap<String, WeightBits>,
    /// Expected input per channel of linear layers, by input tensor name: each such layer's bias
    /// absorbs the mean shift its weight rounding causes (`--bias-correction`, see
    /// [`crate::quant::bias_correction`]). Empty: no correction.
    pub input_means: crate::quant::Means,
    /// Learned weight codes by op name (`--rounding adaround`, see
    /// [`crate::quant::rounding`]), used in place of nearest rounding where given.
    pub rounded: crate::quant::rounding::Rounded,
    /// Per output channel, added to a layer's bias after bias correction (by op name): the mean
    /// output error learned rounding measured in its simulation, with the input the quantized
    /// model gives the layer ([`crate::quant::rounding`]).
    pub bias_shift: crate::quant::Means,
    /// Float tensors (by name) quantized to i16 codes rather than u8: `--activation-bits-for
    /// NAME=16`. Each must be a model input or a float op's result, read only by convolutions
    /// of one group ([`Options::check_wide`]).
    pub wide: std::collections::BTreeSet<String>,
    /// The (activation, producer) pairs the lowering rules take as one sandwich: the rules are
    /// the one truth about which ReLU/Clip becomes its producer's clamp. [`Options::new`] reads
    /// the built-in rules; the driver gives the rules it lowers with (`--rules` included).
    pub absorbed: Absorption,
}

impl Options {
    pub fn new(bits: WeightBits) -> Options {
        Options {
            bits,
            keep_float: Default::default(),
            bits_for: Default::default(),
            input_means: Default::default(),
            rounded: Default::default(),
            bias_shift: Default::default(),
            wide: Default::default(),
            absorbed: builtin_absorbed(),
        }
    }

    /// Every name given must be an op of the model: a typo must not silently do nothing.
    fn check(&self, model: &Model) -> Result<()> {
        let ops: Vec<String> = model
            .ops_in_order()
            .into_iter()
            .map(|n| model.node(n).name.clone())
            .collect();
        for (flag, name) in self
            .keep_float
            .iter()
            .map(|n| ("--keep-float", n))
            .chain(self.bits_for.keys().map(|n| ("--weight-bits-for", n)))
        {
            if !ops.iter().any(|o| o == name) {
                let hint = did_you_mean(name, ops.iter().map(|s| s.as_str()));
                return Err(Error::msg(format!(
                    "{flag}: the model has no op `%{name}`{hint}"
                )));
            }
        }
        Ok(())
    }

    /// Each tensor given 16 bits exists, is f32, and is read only by convolutions of one group
    /// without horizontal dilation (the integer op with an i16 input form and its kernels) and is
    /// no model output: any other reader would need a 16-bit kernel of its own.
    fn check_wide(&self, model: &Model) -> Result<()> {
        for name in &self.wide {
            let flag = format!("--activation-bits-for {name}=16");
            let Some(n) = model.find(name) else {
                let ids = model.inputs.iter().copied().chain(model.ops_in_order());
                let hint = did_you_mean(name, ids.map(|i| model.node(i).name.as_str()));
                return Err(Error::msg(format!(
                    "{flag}: the model has no tensor `%{name}`{hint}"
                )));
            };
            let node = model.node(n);
            if node.is_weight() || !node.ty.elem.is_float() {
                return Err(Error::msg(format!(
                    "{flag}: %{name} is {}, not an f32 activation",
                    node.ty
                )));
            }
            if model.outputs.contains(&n) {
                return Err(Error::msg(format!(
                    "{flag}: %{name} is an output of the model; 16-bit codes are for tensors convolutions read"
                )));
            }
            for (u, slot) in model.users(n) {
                let user = model.node(u);
                let op = user.op().expect("a user is an op");
                if !reads_sixteen_bits(model, u, slot) || self.keep_float.contains(&user.name) {
                    return Err(Error::msg(format!(
                        "{flag}: %{} ({}) reads %{name}, and only a convolution of one group without horizontal dilation has a 16-bit input form",
                        user.name,
                        op.kind.name()
                    )));
                }
            }
        }
        Ok(())
    }
}

/// ` (did you mean `%X`?)` for the name among `names` closest to a misspelt `name`, or nothing.
fn did_you_mean<'a>(name: &str, names: impl IntoIterator<Item = &'a str>) -> String {
    crate::ir::suggest::closest(name, names, 1)
        .first()
        .map(|n| format!(" (did you mean `%{n}`?)"))
        .unwrap_or_default()
}

struct Builder<'a> {
    src: &'a Model,
    ranges: &'a Ranges,
    bits: WeightBits,
    bits_for: &'a std::collections::BTreeMap<String, WeightBits>,
    input_means: &'a crate::quant::Means,
    rounded: &'a crate::quant::rounding::Rounded,
    bias_shift: &'a crate::quant::Means,
    wide: &'a std::collections::BTreeSet<String>,
    out: Model,
    /// The f32 value of each source node in the new model.
    float_of: HashMap<NodeId, NodeId>,
    /// The quantized value of each source node, once some consumer asked for it.
    quant_of: HashMap<NodeId, NodeId>,
    /// `dequantize(quant_of[n])`, shared by every consumer.
    deq_of: HashMap<NodeId, NodeId>,
    /// Parameters a node's result must take (pass-through ops keep their input's).
    forced: HashMap<NodeId, Params>,
    params_of: HashMap<NodeId, Params>,
    warnings: Vec<Warning>,
    /// Every name in `out`: [`Model::fresh_name`] per node would make quantizing quadratic.
    names: NameSet,
}

impl Builder<'_> {
    fn name(&mut self, base: &str) -> String {
        self.names.fresh(base)
    }

    /// Gives each returned value its source name again. An output the integer graph computes is
    /// returned through its `dequantize`, first named `y.dq`; but the name is the library's
    /// interface (the header's `NAME_OUTPUT_y`, model.json, the Python package's result keys),
    /// which must not change because the model was quantized. The node that held the name moves
    /// aside: `y.q` when it holds codes (a join), `y.f` when it is the float op the
    /// quantize reads (dead once lowering fuses the pair).
    fn keep_output_names(&mut self, src: &Model) {
        for (i, &s) in src.outputs.iter().enumerate() {
            let o = self.out.outputs[i];
            let want = src.node(s).name.clone();
            if self.out.node(o).name == want {
                continue;
            }
            // Two outputs returning one value keep the name it got first.
            if self.out.outputs[..i].contains(&o) {
                continue;
            }
            if let Some(holder) = self.out.find(&want) {
                let suffix = match self.out.node(holder).ty.elem {
                    ElemType::Quant(_) => "q",
                    _ => "f",
                };
                let moved = self.name(&format!("{want}.{suffix}"));
                self.out.node_mut(holder).name = moved;
            }
            self.out.node_mut(o).name = want;
        }
    }

    /// The quantization parameters of a source tensor.
    fn params(&mut self, n: NodeId) -> Result<Params> {
        if let Some(p) = self.forced.get(&n).or_else(|| self.params_of.get(&n)) {
            return Ok(p.clone());
        }
        let name = &self.src.node(n).name;
        let range = self.ranges.get(name).ok_or_else(|| {
            Error::msg(format!(
                "no calibrated range for %{name}: calibrate this model (or give --ranges for it)"
            ))
        })?;
        let storage = if self.wide.contains(name) {
            DType::I16
        } else {
            DType::U8
        };
        let chosen = activation_in(name, range, storage)?;
        self.warnings.extend(chosen.warnings);
        self.params_of.insert(n, chosen.params.clone());
        Ok(chosen.params)
    }

    /// `quantize(x)` of a source tensor, created once.
    fn quantized(&mut self, n: NodeId) -> Result<NodeId> {
        if let Some(&q) = self.quant_of.get(&n) {
            return Ok(q);
        }
        let p = self.params(n)?;
        let f = self.float_of[&n];
        let shape = self.out.node(f).ty.shape.clone();
        let name = self.name(&format!("{}.q", self.src.node(n).name));
        let q = self.out.add_op(
            name,
            Op::new(OpKind::Quantize, Default::default()),
            &[f],
            TensorType::new(shape, ElemType::Quant(p.quant_type())),
        );
        self.quant_of.insert(n, q);
        Ok(q)
    }

    /// `dequantize(quantize(x))` of a source tensor, created once.
    fn dequantized(&mut self, n: NodeId) -> Result<NodeId> {
        if let Some(&d) = self.deq_of.get(&n) {
            return Ok(d);
        }
        let q = self.quantized(n)?;
        let shape = self.out.node(q).ty.shape.clone();
        let name = self.name(&format!("{}.dq", self.src.node(n).name));
        let d = self.out.add_op(
            name,
            Op::new(OpKind::Dequantize, Default::default()),
            &[q],
            TensorType::f32(shape),
        );
        self.deq_of.insert(n, d);
        Ok(d)
    }

    /// The operands of concat `n`, each as codes with the parameters the result takes: those
    /// its operands share when they all agree (nothing is requantized, as when the Focus stem
    /// joins four slices of one image), its own calibrated ones otherwise. An operand with other
    /// parameters is `quantize(dequantize(q))` at the result's, which lowers to a requantize;
    /// one whose integer producer feeds only this concat is quantized straight from that
    /// producer, so the producer's own requantization writes the result's parameters (one
    /// rounding, no extra pass).
    fn join(&mut self, n: NodeId, roles: &HashMap<NodeId, Role>) -> Result<Vec<NodeId>> {
        let operands = self.src.operands(n);
        let mut own = Vec::with_capacity(operands.len());
        for &o in &operands {
            own.push(self.params(o)?);
        }
        let p = if own.iter().all(|q| q == &own[0]) {
            own[0].clone()
        } else {
            self.params(n)?
        };
        self.forced.insert(n, p.clone());
        let mut args = Vec::with_capacity(operands.len());
        for (&o, q) in operands.iter().zip(&own) {
            if q == &p {
                args.push(self.quantized(o)?);
                continue;
            }
            let direct = self.src.use_count(o) == 1
                && !self.quant_of.contains_key(&o)
                && matches!(
                    roles.get(&o),
                    Some(Role::Linear | Role::Integer | Role::Activation)
                );
            let f = if direct {
                self.float_of[&o]
            } else {
                self.dequantized(o)?
            };
            let shape = self.out.node(f).ty.shape.clone();
            let name = self.name(&format!("{}.q", self.src.node(o).name));
            args.push(self.out.add_op(
                name,
                Op::new(OpKind::Quantize, Default::default()),
                &[f],
                TensorType::new(shape, ElemType::Quant(p.quant_type())),
            ));
        }
        Ok(args)
    }

    /// A constant of a quantized type and its dequantize.
    fn const_dequantized(&mut self, name: &str, t: Tensor, params: &Params) -> NodeId {
        let shape = t.shape().to_vec();
        let ty = TensorType::new(shape.clone(), ElemType::Quant(params.quant_type()));
        let data = if t.len() <= crate::egraph::convert::INLINE_LIMIT {
            WeightData::Inline(Arc::new(t))
        } else {
            WeightData::Loaded(Arc::new(t))
        };
        let wname = self.name(name);
        let w = self.out.add_weight(wname, ty, data);
        let dname = self.name(&format!("{name}.dq"));
        self.out.add_op(
            dname,
            Op::new(OpKind::Dequantize, Default::default()),
            &[w],
            TensorType::f32(shape),
        )
    }

    /// Weights (i8 per output channel) and bias (i32, `S_x·S_w`) of a linear op.
    fn linear_operands(&mut self, n: NodeId, op: &Op) -> Result<Vec<NodeId>> {
        let operands = self.src.operands(n);
        let x = operands[0];
        let x_params = self.params(x)?;
        let dx = self.dequantized(x)?;
        let wnode = self.src.node(operands[1]);
        let w = wnode
            .weight()
            .and_then(|t| t.as_f32())
            .ok_or_else(|| Error::msg(format!("@{} is not an f32 constant", wnode.name)))?;
        let axis = match op.kind {
            OpKind::Gemm if !op.bool_of("trans_b").map_err(Error::msg)? => 1,
            OpKind::ConvTranspose2d | OpKind::MatMul => 1,
            _ => 0,
        };
        let bits = self
            .bits_for
            .get(&self.src.node(n).name)
            .copied()
            .unwrap_or(self.bits);
        let mut chosen = weights(&wnode.name, w, axis, bits)?;
        self.warnings.extend(std::mem::take(&mut chosen.warnings));
        let mut b: Vec<f32> = match operands.get(2) {
            Some(&b) => self
                .src
                .node(b)
                .weight()
                .and_then(|t| t.as_f32())
                .map(|a| a.iter().copied().collect())
                .unwrap_or_default(),
            None => vec![0.0; chosen.params.scales.len()],
        };
        let raised = if op.kind == OpKind::MatMul {
            vec![]
        } else {
            fit_bias(&mut chosen.params, &b, x_params.scales[0])
        };
        let mut wq = quantize_weights(w, &chosen.params, bits);
        if let Some(codes) = self
            .rounded
            .get(&self.src.node(n).name)
            .filter(|c| c.shape() == w.shape())
        {
            // Learned codes hold for the scales they were learned at.
            for o in (0..chosen.params.scales.len()).filter(|o| !raised.contains(o)) {
                wq.index_axis_mut(Axis(axis), o)
                    .assign(&codes.index_axis(Axis(axis), o));
            }
        }
        if op.kind == OpKind::MatMul {
            // No bias operand to fold a correction into: the weights alone.
            let dw = self.const_dequantized(
                &format!("{}.q", wnode.name),
                Tensor::I8(wq),
                &chosen.params,
            );
            return Ok(vec![dx, dw]);
        }
        // (A transposed a holds its features along axis 0, where no channel mean was observed.)
        let trans_a = op.kind == OpKind::Gemm && op.bool("trans_a") == Some(true);
        let shift = self
            .input_means
            .get(&self.src.node(x).name)
            .filter(|_| !trans_a)
            .and_then(|means| {
                let deq =
                    runtime::ops::dequantize(&Tensor::I8(wq.clone()), &chosen.params.runtime());
                crate::quant::bias_correction::shift(op, w, &deq, means)
            });
        let dw =
            self.const_dequantized(&format!("{}.q", wnode.name), Tensor::I8(wq), &chosen.params);
        if let Some(shift) = shift {
            for (v, d) in b.iter_mut().zip(shift) {
                *v = (*v as f64 - d) as f32;
            }
        }
        if let Some(add) = self.bias_shift.get(&self.src.node(n).name) {
            for (v, d) in b.iter_mut().zip(add) {
                *v = (*v as f64 + d) as f32;
            }
        }
        let bname = match operands.get(2) {
            Some(&b) => self.src.node(b).name.clone(),
            None => format!("{}.bias", self.src.node(n).name),
        };
        let qb = bias(&bname, &b, &chosen.params.scales, x_params.scales[0])?;
        self.warnings.extend(qb.warnings);
        let bt = Tensor::I32(
            ArrayD::from_shape_vec(IxDyn(&[qb.values.len()]), qb.values).expect("one per channel"),
        );
        let db = self.const_dequantized(&format!("{bname}.q"), bt, &qb.params);
        Ok(vec![dx, dw, db])
    }
}

/// Inserts quantize/dequantize around every op with an integer form.
pub fn quantize(src: &Model, ranges: &Ranges, bits: WeightBits) -> Result<Quantized> {
    quantize_with(src, ranges, &Options::new(bits))
}

/// [`quantize`] with per-op choices.
pub fn quantize_with(src: &Model, ranges: &Ranges, opts: &Options) -> Result<Quantized> {
    opts.check(src)?;
    opts.check_wide(src)?;
    // A ReLU/Clip absorbed into its producer's clamp is that producer's result (it is what
    // `--report` names): keeping it float keeps the producer float too.
    let mut keep = opts.keep_float.clone();
    for n in src.ops_in_order() {
        let node = src.node(n);
        if !opts.keep_float.contains(&node.name)
            || node.op().map(|o| role(src, n, o)) != Some(Role::Activation)
        {
            continue;
        }
        if let Some(&p) = src.operands(n).first() {
            if absorbs_activation(src, p, node.op().expect("an op"), &opts.absorbed) {
                keep.insert(src.node(p).name.clone());
            }
        }
    }
    let mut b = Builder {
        src,
        ranges,
        bits: opts.bits,
        bits_for: &opts.bits_for,
        input_means: &opts.input_means,
        rounded: &opts.rounded,
        bias_shift: &opts.bias_shift,
        wide: &opts.wide,
        out: Model::new(src.name.clone()),
        float_of: HashMap::new(),
        quant_of: HashMap::new(),
        deq_of: HashMap::new(),
        forced: HashMap::new(),
        params_of: HashMap::new(),
        warnings: vec![],
        names: NameSet::default(),
    };
    b.out.weights_file = src.weights_file.clone();
    let order = src
        .topo_order()
        .ok_or_else(|| Error::msg("the graph has a cycle"))?;
    let mut float_ops = vec![];
    let mut float_reasons = std::collections::BTreeMap::new();
    let mut kept = std::collections::BTreeSet::new();
    // Whether a source tensor lives in the integer world (so float consumers read it through
    // dequantize and the integer producer is not kept alive in float).
    let mut integer: HashMap<NodeId, bool> = HashMap::new();
    // The role each op was given (an op kept float has Role::Float).
    let mut roles: HashMap<NodeId, Role> = HashMap::new();
    for &n in &order {
        let node = src.node(n);
        match &node.kind {
            NodeKind::Input => {
                b.names.take(&node.name);
                let id = b.out.add_input(node.name.clone(), node.ty.clone());
                b.float_of.insert(n, id);
                // Only f32 inputs are quantized: token ids and masks reach their ops as they
                // are.
                integer.insert(n, node.ty.elem.storage() == runtime::DType::F32);
            }
            NodeKind::Weight(w) => {
                b.names.take(&node.name);
                let id = b
                    .out
                    .add_weight(node.name.clone(), node.ty.clone(), w.clone());
                b.float_of.insert(n, id);
                integer.insert(n, false);
            }
            NodeKind::Op(op) => {
                let operands = src.operands(n);
                // An op that already reads codes (an integer or QDQ model quantized again) is
                // kept as it is: it has nothing left to quantize.
                let reads_codes = operands
                    .iter()
                    .any(|&o| !src.node(o).is_weight() && !src.node(o).ty.elem.is_float());
                let r = match role(src, n, op) {
                    _ if keep.contains(&node.name) || reads_codes => Role::Float,
                    // Moving a float value on its way out of the integer graph: quantizing it
                    // here would only cost precision. (Max-pool has no float kernel in a
                    // library, so it always runs on codes, where it is exact.)
                    Role::PassThrough
                        if op.kind != OpKind::MaxPool
                            && !integer[&operands[0]]
                            && !needs_codes(src, n) =>
                    {
                        Role::Float
                    }
                    r => r,
                };
                if r != Role::Float && opts.wide.contains(&node.name) {
                    return Err(Error::msg(format!(
                        "--activation-bits-for {}=16: %{} ({}) is an integer op, whose requantization writes u8 codes; 16 bits are for a model input or the result of an op left in float",
                        node.name,
                        node.name,
                        op.kind.name()
                    )));
                }
                let args: Result<Vec<NodeId>> = (|| {
                    Ok(match r {
                        Role::Linear => b.linear_operands(n, op)?,
                        Role::Join => b.join(n, &roles)?,
                        // A constant operand (the value of a scale or offset table) stays float.
                        Role::Integer | Role::PassThrough => operands
                            .iter()
                            .map(|&o| {
                                if src.node(o).is_weight() {
                                    Ok(b.float_of[&o])
                                } else {
                                    b.dequantized(o)
                                }
                            })
                            .collect::<Result<_>>()?,
                        // An activation reads its producer's float result: the consumer quantizes
                        // after it, so the producer is requantized straight to the post-ReLU range.
                        Role::Activation => {
                            let o = operands[0];
                            let absorbs = absorbs_activation(src, o, op, &opts.absorbed);
                            vec![if absorbs {
                                b.float_of[&o]
                            } else {
                                b.dequantized(o)?
                            }]
                        }
                        Role::Float => operands
                            .iter()
                            .map(|&o| {
                                if integer[&o] && !src.node(o).is_weight() {
                                    b.dequantized(o)
                                } else {
                                    Ok(b.float_of[&o])
                                }
                            })
                            .collect::<Result<_>>()?,
                    })
                })();
                let args = args.map_err(|e| match e {
                    Error::Msg(m) => Error::msg(format!(
                        "quantizing %{} ({}): {m}",
                        node.name,
                        op.kind.name()
                    )),
                    e => e,
                })?;

                if r == Role::PassThrough {
                    let p = b.params(operands[0])?;
                    b.forced.insert(n, p);
                }
                if r == Role::Float {
                    float_ops.push((node.name.clone(), op.kind.name().to_string()));
                    let why = if opts.keep_float.contains(&node.name) {
                        "--keep-float asked for it".to_string()
                    } else if keep.contains(&node.name) {
                        "the ReLU/Clip it absorbs was kept float (--keep-float)".to_string()
                    } else if reads_codes {
                        // Codes (a model that came quantized) or plain indices and masks.
                        let plain = operands.iter().map(|&o| src.node(o)).find(|o| {
                            !o.is_weight() && !o.ty.elem.is_float() && o.ty.elem.quant().is_none()
                        });
                        match plain {
                            Some(o) => format!(
                                "it reads %{}, {} values (indices or a mask), which are not quantized",
                                o.name,
                                o.ty.elem.storage()
                            ),
                            None => "it already reads codes (the model came quantized)".to_string(),
                        }
                    } else if role(src, n, op) == Role::PassThrough {
                        "it moves a float value on its way out of the integer graph".to_string()
                    } else {
                        crate::quant::why_float::why(src, n, op).map_err(Error::msg)?
                    };
                    float_reasons.insert(node.name.clone(), why);
                }
                let mut op = op.clone();
                if r == Role::Linear {
                    // Folded-BatchNorm records are not needed past this point.
                    op.attrs.remove("bn_gamma");
                    op.attrs.remove("bn_beta");
                }
                let name = b.name(&node.name);
                if keep.contains(&node.name) {
                    kept.insert(name.clone());
                }
                roles.insert(n, r);
                if r == Role::Join {
                    // The concat itself is the quantized value; its float is its dequantize.
                    let p = b.params(n)?;
                    let ty =
                        TensorType::new(node.ty.shape.clone(), ElemType::Quant(p.quant_type()));
                    let id = b.out.add_op(name, op, &args, ty);
                    b.quant_of.insert(n, id);
                    let d = b.dequantized(n)?;
                    b.float_of.insert(n, d);
                    integer.insert(n, true);
                    continue;
                }
                let id = b.out.add_op(name, op, &args, node.ty.clone());
                b.float_of.insert(n, id);
                integer.insert(n, r != Role::Float);
            }
        }
    }
    b.out.outputs = src
        .outputs
        .iter()
        .map(|&o| {
            if integer[&o] && src.node(o).op().is_some() {
                b.dequantized(o)
            } else {
                Ok(b.float_of[&o])
            }
        })
        .collect::<Result<_>>()?;
    b.keep_output_names(src);
    b.out.remove_dead();
    crate::ir::verify::verify_or_error(&b.out, None)?;
    Ok(Quantized {
        model: b.out,
        warnings: b.warnings,
        float_ops,
        float_reasons,
        kept,
    })
}
