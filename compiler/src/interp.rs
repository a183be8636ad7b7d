//! The interpreter: runs a model node by node through the reference kernels of `runtime::ops`.
//! It is the calibration engine and the oracle every compiled library is compared against.

use crate::diag::{Error, Result};
use crate::ir::attr::Attr;
use crate::ir::model::{Model, NodeId, NodeKind};
use crate::ir::op::{Op, OpKind};
use crate::ir::types::{fmt_shape, ElemType, TensorType};
use ndarray::ArrayD;
use runtime::ops::{self, BinaryOp, ConvParams, ConvTransposeParams, PoolParams, QuantParams};
use runtime::Tensor;
use std::collections::HashMap;
use std::sync::Arc;

fn arr2(v: &[i64]) -> [usize; 2] {
    [v[0] as usize, v[1] as usize]
}
fn arr4(v: &[i64]) -> [usize; 4] {
    [v[0] as usize, v[1] as usize, v[2] as usize, v[3] as usize]
}
fn uvec(v: &[i64]) -> Vec<usize> {
    v.iter().map(|&x| x as usize).collect()
}

pub(crate) fn conv_params(op: &Op) -> Result<ConvParams> {
    Ok(ConvParams {
        strides: arr2(&op.ints_of("strides").map_err(Error::msg)?),
        pads: arr4(&op.ints_of("pads").map_err(Error::msg)?),
        dilations: arr2(&op.ints_of("dilations").map_err(Error::msg)?),
        groups: op.int_of("groups").map_err(Error::msg)? as usize,
    })
}

/// `resize` on any tensor: nearest gathers elements of any type (codes keep their parameters);
/// bilinear is f32 arithmetic on floats and the fixed-point form of docs/ir.md on codes.
pub fn resize(op: &Op, x: &Tensor) -> Result<Tensor> {
    let p = crate::ir::infer::resize_params(op).map_err(|m| Error::msg(format!("resize: {m}")))?;
    Ok(match (p.mode, x) {
        (ops::ResizeMode::Nearest, x) => runtime::tensor_map!(x, a => ops::resize_nearest(a, &p)),
        (ops::ResizeMode::Linear, Tensor::F32(a)) => Tensor::F32(ops::resize_linear(a, &p)),
        (ops::ResizeMode::Linear, codes @ (Tensor::U8(_) | Tensor::I8(_))) => {
            runtime::qops::qresize_linear(codes, &p)
        }
        (ops::ResizeMode::Linear, other) => {
            return Err(Error::msg(format!(
                "resize: bilinear on {} elements is not defined",
                other.dtype()
            )))
        }
    })
}

fn pool_params(op: &Op) -> Result<PoolParams> {
    // avg_pool declares no dilations: its windows are always contiguous.
    let dilations = match op.kind {
        OpKind::AvgPool => [1, 1],
        _ => arr2(&op.ints_of("dilations").map_err(Error::msg)?),
    };
    Ok(PoolParams {
        kernel: arr2(&op.ints_of("kernel_shape").map_err(Error::msg)?),
        strides: arr2(&op.ints_of("strides").map_err(Error::msg)?),
        pads: arr4(&op.ints_of("pads").map_err(Error::msg)?),
        dilations,
        ceil_mode: op.bool_of("ceil_mode").map_err(Error::msg)?,
    })
}

/// The quantization parameters of a quantized type.
pub fn quant_params(t: &TensorType) -> Option<QuantParams> {
    let q = t.elem.quant()?;
    Some(QuantParams {
        scales: q.scales.clone(),
        zero_points: q.zero_points.clone(),
        axis: q.axis,
    })
}

/// Applies a shape-only op to a tensor of any element type.
fn reshape_any(x: &Tensor, shape: &[usize]) -> Tensor {
    runtime::tensor_map!(x, a => ops::reshape(a, shape))
}

fn f32_of<'a>(op: &Op, t: &'a Tensor) -> Result<&'a ArrayD<f32>> {
    t.as_f32().ok_or_else(|| {
        Error::msg(format!(
            "{}: expected an f32 operand, got {}",
            op.kind.name(),
            t.dtype()
        ))
    })
}

/// Evaluates one op on its operand values. `ty` is the node's (verified) result type.
pub fn eval_op(op: &Op, args: &[&Tensor], ty: &TensorType) -> Result<Tensor> {
    eval_op_in(op, args, ty, FloatMode::Fast)
}

/// How the float products (conv2d, conv_transpose2d, gemm, matmul) are evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloatMode {
    /// The `gemm` crate: FMA and a blocked, CPU-dependent summation order. Float graphs.
    Fast,
    /// `runtime::ops::strict`: one accumulator per output, a documented order, no FMA (docs/ir.md,
    /// "Float ops in an integer graph"), so generated code can match bit for bit.
    Strict,
}

/// Whether a model computes on codes (not just quantize/dequantize): some other op has a
/// quantized result, be it an integer op or one that only moves codes (a slice, transpose or
/// max-pool of codes leaves a graph with no integer arithmetic that still compiles to a library).
/// Its remaining float ops are then evaluated in [`FloatMode::Strict`].
pub fn is_integer_graph(model: &Model) -> bool {
    model.ops_in_order().into_iter().any(|n| {
        let node = model.node(n);
        node.op().is_some_and(|o| {
            !matches!(o.kind, OpKind::Quantize | OpKind::Dequantize)
                && node.ty.elem.quant().is_some()
        })
    })
}

/// [`eval_op`] with the float products in `mode`.
pub fn eval_op_in(op: &Op, args: &[&Tensor], ty: &TensorType, mode: FloatMode) -> Result<Tensor> {
    use OpKind::*;
    let f = |i: usize| f32_of(op, args[i]);
    let strict = mode == FloatMode::Strict;
    let out: Tensor = match op.kind {
        Family(f) => {
            let f = f.def();
            let r = if strict {
                f.eval_int(op, args)
            } else {
                f.eval(op, args)
            };
            r.map_err(|m| Error::msg(format!("{}: {m}", f.name())))?
        }
        Conv2d if strict => ops::strict::conv2d(
            f(0)?,
            f(1)?,
            args.get(2).map(|t| f32_of(op, t)).transpose()?,
            &conv_params(op)?,
        )
        .into(),
        Conv2d => ops::conv2d(
            f(0)?,
            f(1)?,
            args.get(2).map(|t| f32_of(op, t)).transpose()?,
            &conv_params(op)?,
        )
        .into(),
        ConvTranspose2d => {
            let c = conv_params(op)?;
            let p = ConvTransposeParams {
                strides: c.strides,
                pads: c.pads,
                dilations: c.dilations,
                groups: c.groups,
                output_padding: arr2(&op.ints_of("output_padding").map_err(Error::msg)?),
            };
            let bias = args.get(2).map(|t| f32_of(op, t)).transpose()?;
            if strict {
                ops::strict::conv_transpose2d(f(0)?, f(1)?, bias, &p).into()
            } else {
                ops::conv_transpose2d(f(0)?, f(1)?, bias, &p).into()
            }
        }
        BatchNorm => ops::batch_norm(
            f(0)?,
            f(1)?,
            f(2)?,
            f(3)?,
            f(4)?,
            op.float_of("epsilon").map_err(Error::msg)?,
        )
        .into(),
        Relu => match args[0] {
            Tensor::F32(a) => ops::relu(a).into(),
            other => other.clone(),
        },
        Clip => ops::clip(f(0)?, op.float("min"), op.float("max")).into(),
        LeakyRelu => ops::leaky_relu(f(0)?, op.float_of("alpha").map_err(Error::msg)?).into(),
        Sigmoid => ops::sigmoid(f(0)?).into(),
        HardSigmoid => ops::hard_sigmoid(
            f(0)?,
            op.float_of("alpha").map_err(Error::msg)?,
            op.float_of("beta").map_err(Error::msg)?,
        )
        .into(),
        HardSwish => ops::hard_swish(f(0)?).into(),
        Unary => {
            let (func, p) = crate::ir::infer::unary_fn(op).map_err(Error::msg)?;
            ops::unary(f(0)?, func, &p).into()
        }
        Max | Min if !matches!(args[0], Tensor::F32(_)) => {
            let max = op.kind == Max;
            match (args[0], args[1]) {
                (Tensor::U8(a), Tensor::U8(b)) => ops::max_min_codes(a, b, max).into(),
                (Tensor::I8(a), Tensor::I8(b)) => ops::max_min_codes(a, b, max).into(),
                _ => {
                    return Err(Error::msg(format!(
                        "{}: operands of different element types",
                        op.kind.name()
                    )))
                }
            }
        }
        Add | Sub | Mul | Div if args[0].dtype() != runtime::DType::F32 => {
            let a = match op.kind {
                Add => ops::ArithOp::Add,
                Sub => ops::ArithOp::Sub,
                Mul => ops::ArithOp::Mul,
                _ => ops::ArithOp::Div,
            };
            ops::arith(args[0], args[1], a)
                .map_err(|m| Error::msg(format!("{}: {m}", op.kind.name())))?
        }
        Mod => {
            let m = if op.bool_of("fmod").map_err(Error::msg)? {
                ops::ArithOp::Fmod
            } else {
                ops::ArithOp::Mod
            };
            ops::arith(args[0], args[1], m).map_err(|e| Error::msg(format!("mod: {e}")))?
        }
        Gather => ops::gather(
            args[0],
            args[1],
            op.int_of("axis").map_err(Error::msg)? as usize,
        )
        .map_err(|m| Error::msg(format!("gather: {m}")))?,
        ArgMax | ArgMin => {
            let axis = op.int_of("axis").map_err(Error::msg)? as usize;
            if axis >= args[0].shape().len() || args[0].shape()[axis] == 0 {
                return Err(Error::msg(format!(
                    "{}: axis {axis} of {:?} holds no element",
                    op.kind.name(),
                    args[0].shape()
                )));
            }
            ops::arg_extreme(
                args[0],
                axis,
                op.bool_of("keepdims").map_err(Error::msg)?,
                op.kind == ArgMax,
                op.bool_of("select_last_index").map_err(Error::msg)?,
            )
            .into()
        }
        Cast => {
            let to = op
                .str("to")
                .and_then(runtime::DType::from_name)
                .ok_or_else(|| Error::msg("cast: attribute `to` is not an element type"))?;
            args[0].cast(to)
        }
        Compare => {
            let f = op
                .str("fn")
                .and_then(ops::CmpOp::from_name)
                .ok_or_else(|| Error::msg("compare: attribute `fn` is not a comparison"))?;
            ops::compare(args[0], args[1], f)
                .map_err(|m| Error::msg(format!("compare: {m}")))?
                .into()
        }
        Logic | Not | Where => {
            let b = |i: usize| match args[i] {
                Tensor::Bool(a) => Ok(a),
                other => Err(Error::msg(format!(
                    "{}: operand {i} must be bool, got {}",
                    op.kind.name(),
                    other.dtype()
                ))),
            };
            match op.kind {
                Not => ops::not(b(0)?).into(),
                Where => ops::where_(b(0)?, args[1], args[2])
                    .map_err(|m| Error::msg(format!("where: {m}")))?,
                _ => {
                    let f = op
                        .str("fn")
                        .and_then(ops::LogicOp::from_name)
                        .ok_or_else(|| Error::msg("logic: attribute `fn` is not and, or or xor"))?;
                    ops::logic(b(0)?, b(1)?, f)
                        .map_err(|m| Error::msg(format!("logic: {m}")))?
                        .into()
                }
            }
        }
        Add | Sub | Mul | Div | Max | Min => {
            let b = match op.kind {
                Add => BinaryOp::Add,
                Sub => BinaryOp::Sub,
                Mul => BinaryOp::Mul,
                Max => BinaryOp::Max,
                Min => BinaryOp::Min,
                _ => BinaryOp::Div,
            };
            ops::binary(f(0)?, f(1)?, b).into()
        }
        MaxPool => match args[0] {
            Tensor::F32(a) => ops::max_pool(a, &pool_params(op)?).into(),
            codes => runtime::qops::qmax_pool(codes, &pool_params(op)?),
        },
        AvgPool => ops::avg_pool(
            f(0)?,
            &pool_params(op)?,
            op.bool_of("count_include_pad").map_err(Error::msg)?,
        )
        .into(),
        GlobalAvgPool => ops::global_avg_pool(f(0)?).into(),
        Resize => resize(op, args[0])?,
        ReduceMean => ops::reduce_mean(
            f(0)?,
            &uvec(&op.ints_of("axes").map_err(Error::msg)?),
            op.bool_of("keepdims").map_err(Error::msg)?,
        )
        .into(),
        Normalize => ops::normalize(
            f(0)?,
            op.int_of("axis").map_err(Error::msg)? as usize,
            op.float_of("epsilon").map_err(Error::msg)?,
            op.bool_of("rms").map_err(Error::msg)?,
        )
        .into(),
        Reduce if !matches!(args[0], Tensor::F32(_)) => {
            let f = crate::ir::infer::reduce_fn(op).map_err(Error::msg)?;
            let max = match f {
                ops::ReduceFn::Max => true,
                ops::ReduceFn::Min => false,
                other => {
                    return Err(Error::msg(format!(
                        "reduce {} needs f32, not codes",
                        other.name()
                    )))
                }
            };
            let axes = uvec(&op.ints_of("axes").map_err(Error::msg)?);
            let keep = op.bool_of("keepdims").map_err(Error::msg)?;
            match args[0] {
                Tensor::U8(a) => ops::reduce_codes(a, max, &axes, keep).into(),
                Tensor::I8(a) => ops::reduce_codes(a, max, &axes, keep).into(),
                other => {
                    return Err(Error::msg(format!(
                        "reduce has no form for {} elements",
                        other.dtype()
                    )))
                }
            }
        }
        Reduce => ops::reduce(
            f(0)?,
            crate::ir::infer::reduce_fn(op).map_err(Error::msg)?,
            &uvec(&op.ints_of("axes").map_err(Error::msg)?),
            op.bool_of("keepdims").map_err(Error::msg)?,
        )
        .into(),
        Flatten | Reshape | Squeeze | Unsqueeze => reshape_any(args[0], &ty.shape),
        Transpose => {
            let perm = uvec(&op.ints_of("perm").map_err(Error::msg)?);
            runtime::tensor_map!(args[0], a => ops::transpose(a, &perm))
        }
        Attention => {
            let p = crate::ir::attention::params(op).map_err(Error::msg)?;
            let mask = match args.get(3) {
                None => None,
                Some(Tensor::F32(m)) => Some(ops::AttentionMask::Float(m)),
                Some(Tensor::Bool(m)) => Some(ops::AttentionMask::Bool(m)),
                Some(t) => {
                    return Err(Error::msg(format!(
                        "attention: a mask of {} values",
                        t.dtype()
                    )))
                }
            };
            let shape = |i: usize| args[i].shape();
            let mask_shape = args.get(3).map(|m| m.shape());
            ops::attention_shape(shape(0), shape(1), shape(2), mask_shape, p.result)
                .map_err(|m| Error::msg(format!("attention: {m}")))?;
            ops::attention(f(0)?, f(1)?, f(2)?, mask, &p).into()
        }
        NllLoss => {
            let r = crate::ir::loss::reduction(op).map_err(Error::msg)?;
            let t = args[1];
            if t.dtype().is_float() || t.dtype() == runtime::DType::Bool {
                return Err(Error::msg(format!(
                    "nll_loss: a target of {} values",
                    t.dtype()
                )));
            }
            let target: Vec<i64> = runtime::tensor_each!(t, a => a.iter().map(|&v| runtime::Elem::to_i128(v) as i64).collect());
            let weight = match args.get(2) {
                Some(w) => Some(f(2).map_err(|_| {
                    Error::msg(format!("nll_loss: a weight of {} values", w.dtype()))
                })?),
                None => None,
            };
            ops::nll_loss(f(0)?, &target, t.shape(), weight, r, op.int("ignore_index"))
                .map_err(|m| Error::msg(format!("nll_loss: {m}")))?
                .into()
        }
        GatherElements => ops::gather_elements(
            args[0],
            args[1],
            op.int_of("axis").map_err(Error::msg)? as usize,
        )
        .map_err(|m| Error::msg(format!("gather_elements: {m}")))?,
        Expand => {
            let to = &ty.shape;
            if ops::broadcast_shapes(args[0].shape(), to).as_ref() != Some(to) {
                return Err(Error::msg(format!(
                    "expand: {:?} does not broadcast to {to:?}",
                    args[0].shape()
                )));
            }
            runtime::tensor_map!(args[0], a => ops::expand(a, to))
        }
        Slice => {
            let axes = crate::ir::infer::slice_axes(op, args[0].shape()).map_err(Error::msg)?;
            runtime::tensor_map!(args[0], a => ops::slice(a, &axes))
        }
        Concat => {
            let axis = op.int_of("axis").map_err(Error::msg)? as usize;
            fn cat<T: runtime::Elem>(args: &[&Tensor], axis: usize) -> Result<Tensor> {
                let xs: Option<Vec<&ArrayD<T>>> = args.iter().map(|t| T::view(t)).collect();
                let xs =
                    xs.ok_or_else(|| Error::msg("concat: operands of different element types"))?;
                Ok(T::wrap(ops::concat(&xs, axis)))
            }
            runtime::with_dtype!(args[0].dtype(), T => cat::<T>(args, axis)?)
        }
        Pad => {
            let pads = uvec(&op.ints_of("pads").map_err(Error::msg)?);
            let v = op.float_of("value").map_err(Error::msg)?;
            if let (Some(Attr::Floats(cv)), Tensor::F32(a)) = (op.attr("channel_values"), args[0]) {
                return Ok(pad_per_channel(a, &pads, cv, &ty.shape).into());
            }
            match args[0] {
                Tensor::F32(a) => ops::pad(a, &pads, v).into(),
                // A padded quantized tensor is filled with the code that represents `value`.
                Tensor::I8(a) => ops::pad(a, &pads, fill_code(ty, v) as i8).into(),
                Tensor::U8(a) => ops::pad(a, &pads, fill_code(ty, v) as u8).into(),
                Tensor::I32(a) => ops::pad(a, &pads, fill_code(ty, v) as i32).into(),
                other => {
                    runtime::tensor_map!(other, a => ops::pad(a, &pads, runtime::Elem::from_f64(v as f64)))
                }
            }
        }
        Gemm if strict => ops::strict::gemm(
            f(0)?,
            f(1)?,
            args.get(2).map(|t| f32_of(op, t)).transpose()?,
            op.float_of("alpha").map_err(Error::msg)?,
            op.float_of("beta").map_err(Error::msg)?,
            op.bool_of("trans_a").map_err(Error::msg)?,
            op.bool_of("trans_b").map_err(Error::msg)?,
        )
        .into(),
        Gemm => ops::gemm(
            f(0)?,
            f(1)?,
            args.get(2).map(|t| f32_of(op, t)).transpose()?,
            op.float_of("alpha").map_err(Error::msg)?,
            op.float_of("beta").map_err(Error::msg)?,
            op.bool_of("trans_a").map_err(Error::msg)?,
            op.bool_of("trans_b").map_err(Error::msg)?,
        )
        .into(),
        MatMul if strict => ops::strict::matmul(f(0)?, f(1)?).into(),
        MatMul => ops::matmul(f(0)?, f(1)?).into(),
        Softmax => ops::softmax(f(0)?, op.int_of("axis").map_err(Error::msg)? as usize).into(),
        Quantize => {
            let q = quant_params(ty)
                .ok_or_else(|| Error::msg("quantize: the result type is not quantized"))?;
            ops::quantize(f(0)?, &q, ty.elem.storage())
        }
        Dequantize => {
            return Err(Error::msg(
                "dequantize is evaluated by the interpreter, which knows its operand's type",
            ));
        }
        Requantize | QConv2d | QConvTranspose2d | QGemm | QAdd | QMul | QMatMul | QSoftmax
        | QAvgPool | QGlobalAvgPool | Lut => {
            return Err(Error::msg(format!(
                "{} is evaluated by the interpreter, which knows its operands' types",
                op.kind.name()
            )));
        }
    };
    Ok(out)
}

/// Constant padding whose fill value depends on the channel (axis 1).
fn pad_per_channel(
    x: &ArrayD<f32>,
    pads: &[usize],
    values: &[f32],
    out_shape: &[usize],
) -> ArrayD<f32> {
    let mut out = ArrayD::<f32>::zeros(ndarray::IxDyn(out_shape));
    for (c, mut plane) in out.axis_iter_mut(ndarray::Axis(1)).enumerate() {
        plane.fill(values.get(c).copied().unwrap_or(0.0));
    }
    out.slice_each_axis_mut(|ax| {
        let i = ax.axis.index();
        ndarray::Slice::from(pads[i]..pads[i] + x.shape()[i])
    })
    .assign(x);
    out
}

/// The stored code of the real value `v` in a (per-tensor) quantized type; `v` itself otherwise.
fn fill_code(ty: &TensorType, v: f32) -> i64 {
    match &ty.elem {
        // Clamped to the storage's codes as the backend's pad kernel does (one definition).
        ElemType::Quant(q) if q.axis.is_none() => {
            runtime::qops::quantize_value(v, q.scales[0], q.zero_points[0], q.storage).into()
        }
        _ => v as i64,
    }
}

/// Sees every op node's value as it is computed.
pub type Observe<'a> = &'a mut dyn FnMut(NodeId, &Tensor);
/// Replaces every op node's value by what it returns.
pub type Transform<'a> = &'a mut dyn FnMut(NodeId, Tensor) -> Tensor;

/// Options of a run.
#[derive(Default)]
pub struct Hooks<'a> {
    /// Called with every op node's value as soon as it is computed (calibration observes here).
    pub observe: Option<Observe<'a>>,
    /// Called after `observe` with every op node's value; what it returns is what the node's
    /// users (and the outputs) read instead. Simulating quantization replaces each activation by
    /// its quantize→dequantize image here without building a QDQ model. The value must keep its
    /// shape and element type (the run fails otherwise).
    pub transform: Option<Transform<'a>>,
}

/// Checks that `t` may be fed to the model input of type `ty`.
pub fn check_input(name: &str, ty: &TensorType, t: &Tensor) -> Result<()> {
    if t.shape() != ty.shape.as_slice() || t.dtype() != ty.elem.storage() {
        return Err(Error::msg(format!(
            "input %{name} expects {ty} but was given {} {}",
            fmt_shape(t.shape()),
            t.dtype()
        )));
    }
    Ok(())
}

/// Runs the model on one set of inputs (in signature order) and returns its outputs in order.
pub fn run(model: &Model, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    run_with(model, inputs, Hooks::default())
}

/// [`run`], with hooks.
pub fn run_with(model: &Model, inputs: &[Tensor], mut hooks: Hooks) -> Result<Vec<Tensor>> {
    if inputs.len() != model.inputs.len() {
        return Err(Error::msg(format!(
            "model @{} takes {} inputs, got {}",
            model.name,
            model.inputs.len(),
            inputs.len()
        )));
    }
    let order = model
        .topo_order()
        .ok_or_else(|| Error::msg("the graph has a cycle"))?;
    let mode = if is_integer_graph(model) {
        FloatMode::Strict
    } else {
        FloatMode::Fast
    };
    // Values are dropped after their last use so that big models run in bounded memory.
    let mut remaining: HashMap<NodeId, usize> =
        order.iter().map(|&n| (n, model.use_count(n))).collect();
    let mut values: HashMap<NodeId, Arc<Tensor>> = HashMap::new();
    for (&id, t) in model.inputs.iter().zip(inputs) {
        let n = model.node(id);
        check_input(&n.name, &n.ty, t)?;
        values.insert(id, Arc::new(t.clone()));
    }
    for &id in &order {
        let node = model.node(id);
        let value: Arc<Tensor> = match &node.kind {
            NodeKind::Input => continue,
            NodeKind::Weight(data) => data
                .tensor()
                .cloned()
                .ok_or_else(|| Error::msg(format!("weight @{} has not been loaded", node.name)))?,
            NodeKind::Op(op) => {
                let operands = model.operands(id);
                let args: Vec<Arc<Tensor>> = operands.iter().map(|o| values[o].clone()).collect();
                let refs: Vec<&Tensor> = args.iter().map(|a| a.as_ref()).collect();
                let t = if op.kind.declares_result()
                    && !matches!(op.kind, OpKind::Quantize | OpKind::Dequantize)
                {
                    let tys: Vec<&TensorType> =
                        operands.iter().map(|&o| &model.node(o).ty).collect();
                    crate::interp_int::eval_int_op(op, &refs, &tys, &node.ty).map_err(
                        |e| match e {
                            Error::Msg(m) => Error::msg(format!("at %{}: {m}", node.name)),
                            e => e,
                        },
                    )?
                } else if op.kind == OpKind::Dequantize {
                    let q = quant_params(&model.node(operands[0]).ty).ok_or_else(|| {
                        Error::msg(format!(
                            "%{}: dequantize of a value that is not quantized",
                            node.name
                        ))
                    })?;
                    Tensor::F32(ops::dequantize(refs[0], &q))
                } else {
                    eval_op_in(op, &refs, &node.ty, mode).map_err(|e| match e {
                        Error::Msg(m) => Error::msg(format!("at %{}: {m}", node.name)),
                        e => e,
                    })?
                };
                drop(args);
                for o in operands {
                    if let Some(r) = remaining.get_mut(&o) {
                        *r = r.saturating_sub(1);
                        if *r == 0 && !model.node(o).is_weight() {
                            values.remove(&o);
                        }
                    }
                }
                if let Some(obs) = hooks.observe.as_mut() {
                    obs(id, &t);
                }
                let t = match hooks.transform.as_mut() {
                    Some(f) => {
                        let (shape, dtype) = (t.shape().to_vec(), t.dtype());
                        let u = f(id, t);
                        if u.shape() != shape.as_slice() || u.dtype() != dtype {
                            return Err(Error::msg(format!(
                                "at %{}: the transform hook turned {} {dtype} into {} {}",
                                node.name,
                                fmt_shape(&shape),
                                fmt_shape(u.shape()),
                                u.dtype()
                            )));
                        }
                        u
                    }
                    None => t,
                };
                Arc::new(t)
            }
        };
        values.insert(id, value);
    }
    model
        .outputs
        .iter()
        .map(|o| {
            values
                .get(o)
                .map(|v| v.as_ref().clone())
                .ok_or_else(|| Error::msg("an output was not computed"))
        })
        .collect()
}
