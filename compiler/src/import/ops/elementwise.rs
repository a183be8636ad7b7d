//! Elementwise ops: activations, Clip, the four arithmetic ops (folded when both sides are
//! constant, which is how shape arithmetic disappears), the variadic Sum/Max/Min/Mean and
//! inference-mode BatchNormalization.

use super::{attrs, unary};
use crate::diag::Result;
use crate::import::constant::{Arith, Const};
use crate::import::context::{Importer, Val};
use crate::import::node::OnnxNode;
use crate::ir::{Attr, ElemType, OpKind};
use runtime::DType;
use std::sync::Arc;

pub fn relu(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    unary(cx, n, OpKind::Relu, attrs([]))
}

pub fn sigmoid(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    unary(cx, n, OpKind::Sigmoid, attrs([]))
}

pub fn hard_swish(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    unary(cx, n, OpKind::HardSwish, attrs([]))
}

pub fn leaky_relu(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let alpha = n.float_or("alpha", 0.01)?;
    unary(
        cx,
        n,
        OpKind::LeakyRelu,
        attrs([("alpha", Attr::Float(alpha))]),
    )
}

pub fn hard_sigmoid(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let alpha = n.float_or("alpha", 0.2)?;
    let beta = n.float_or("beta", 0.5)?;
    unary(
        cx,
        n,
        OpKind::HardSigmoid,
        attrs([("alpha", Attr::Float(alpha)), ("beta", Attr::Float(beta))]),
    )
}

/// Before opset 11 the bounds are attributes; from 11 they are optional inputs, which qcc needs
/// constant. A missing or infinite bound is no bound.
pub fn clip(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let (min, max) = if n.opset < 11 {
        (n.float("min")?, n.float("max")?)
    } else {
        (bound(cx, n, 1, "minimum")?, bound(cx, n, 2, "maximum")?)
    };
    let mut a = attrs([]);
    for (name, v) in [("min", min), ("max", max)] {
        if let Some(v) = v.filter(|v| !v.is_infinite()) {
            a.insert(name.into(), Attr::Float(v));
        }
    }
    unary(cx, n, OpKind::Clip, a)
}

fn bound(cx: &mut Importer, n: &OnnxNode, i: usize, what: &str) -> Result<Option<f32>> {
    match cx.constant(n, i, what)? {
        None => Ok(None),
        Some(c) if c.len() == 1 => Ok(c.floats().first().copied()),
        Some(c) => Err(n.fail(format!(
            "has a {what} of shape {:?}; Clip takes a single value",
            c.shape()
        ))),
    }
}

pub fn arith(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let (op, kind) = match n.op_type() {
        "Add" => (Arith::Add, OpKind::Add),
        "Sub" => (Arith::Sub, OpKind::Sub),
        "Mul" => (Arith::Mul, OpKind::Mul),
        _ => (Arith::Div, OpKind::Div),
    };
    let out = n.output()?;
    let a = cx.required(n, 0, "the left operand")?;
    let b = cx.required(n, 1, "the right operand")?;
    let (sa, sb) = (
        cx.shape(&a).unwrap_or_default(),
        cx.shape(&b).unwrap_or_default(),
    );
    let extra = if n.opset < 7 {
        legacy_broadcast(n, &sa, &sb)?
    } else {
        0
    };
    if let (Val::Const(x), Val::Const(y)) = (&a, &b) {
        let fold = |y: &Const| Const::arith(op, x, y);
        let c = if extra == 0 {
            fold(y)
        } else {
            y.reshape(&[&sb[..], &vec![1; extra]].concat())
                .and_then(|y| fold(&y))
        };
        let c = c.map_err(|m| n.fail(format!("cannot be folded: {m}")))?;
        cx.define(out, Val::Const(Arc::new(c)));
        return Ok(());
    }
    let x = cx.operand(n, 0, "the left operand")?;
    let y = if extra == 0 {
        cx.operand(n, 1, "the right operand")?
    } else {
        // The right operand gets its trailing size-1 axes: folded into a constant, else unsqueezed.
        let name = format!("{}.broadcast", n.input_name(1).unwrap_or_default());
        let shape = [&sb[..], &vec![1; extra]].concat();
        match &b {
            Val::Const(c) => {
                let c = c
                    .reshape(&shape)
                    .map_err(|m| n.fail(format!("cannot be folded: {m}")))?;
                let elem =
                    ElemType::from_storage(c.to_tensor().map(|t| t.dtype()).unwrap_or(DType::F32));
                cx.weight(&name, &c, elem)
                    .map_err(|m| n.fail(format!("reads `{name}`, but {m}")))?
            }
            _ => {
                let y = cx.operand(n, 1, "the right operand")?;
                let axes = (sb.len()..shape.len()).map(|a| a as i64).collect();
                cx.emit(
                    n,
                    &name,
                    OpKind::Unsqueeze,
                    attrs([("axes", Attr::Ints(axes))]),
                    &[y],
                )?
            }
        }
    };
    let id = cx.emit(n, out, kind, attrs([]), &[x, y])?;
    cx.define(out, Val::Node(id));
    Ok(())
}

/// Sum, Max, Min and Mean of any number of inputs, broadcasting: a left-to-right chain of
/// binary ops (`add`, `max`, `min`; Mean is the sum divided by the count). A Sum of constants
/// folds.
pub fn variadic(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let out = n.output()?;
    let count = n.proto.input.len();
    let mut vals = Vec::with_capacity(count);
    for i in 0..count {
        vals.push(cx.required(n, i, "a term")?);
    }
    if vals.is_empty() {
        return Err(n.fail("has no inputs"));
    }
    let kind = match n.op_type() {
        "Max" => OpKind::Max,
        "Min" => OpKind::Min,
        _ => OpKind::Add,
    };
    let mean = n.op_type() == "Mean";
    if kind == OpKind::Add && !mean && vals.iter().all(|v| matches!(v, Val::Const(_))) {
        let mut acc: Option<Const> = None;
        for v in &vals {
            let Val::Const(c) = v else { continue };
            acc = Some(match acc {
                None => (**c).clone(),
                Some(a) => Const::arith(Arith::Add, &a, c)
                    .map_err(|m| n.fail(format!("cannot be folded: {m}")))?,
            });
        }
        if let Some(c) = acc {
            cx.define(out, Val::Const(Arc::new(c)));
        }
        return Ok(());
    }
    let mut acc = cx.operand(n, 0, "a term")?;
    for i in 1..count {
        let term = cx.operand(n, i, "a term")?;
        let name = if i + 1 == count && !mean {
            out.to_string()
        } else {
            format!("{out}.{i}")
        };
        acc = cx.emit(n, &name, kind, attrs([]), &[acc, term])?;
    }
    if mean && count > 1 {
        let c = Const::F32(ndarray::arr0(count as f32).into_dyn());
        let divisor = cx
            .weight(&format!("{out}.count"), &c, ElemType::F32)
            .map_err(|m| n.fail(m))?;
        acc = cx.emit(n, out, OpKind::Div, attrs([]), &[acc, divisor])?;
    }
    cx.define(out, Val::Node(acc));
    Ok(())
}

/// Before opset 7 arithmetic broadcast only with `broadcast = 1`, aligning the right operand at
/// `axis` of the left one (trailing when absent). numpy aligns trailing dimensions, so the right
/// operand needs this many size-1 axes appended.
fn legacy_broadcast(n: &OnnxNode, xs: &[usize], ys: &[usize]) -> Result<usize> {
    if n.int_or("broadcast", 0)? == 0 {
        if xs != ys {
            return Err(n.fail(format!(
                "combines shapes {xs:?} and {ys:?} without broadcast = 1"
            )));
        }
        return Ok(0);
    }
    let Some(axis) = n.int("axis")? else {
        return Ok(0);
    };
    let axis = n.axis(axis, xs.len(), "axis")?;
    xs.len().checked_sub(axis + ys.len()).ok_or_else(|| {
        n.fail(format!("aligns a value of shape {ys:?} at axis {axis} of one of shape {xs:?}, which does not fit"))
    })
}

pub fn batch_norm(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    n.expect_int("training_mode", 0, "qcc imports inference graphs only")?;
    n.expect_int("spatial", 1, "qcc supports per-channel statistics only")?;
    // The running statistics' update rate: used only when training (PyTorch always exports it).
    n.no_effect(&["momentum"]);
    let mut ops = Vec::with_capacity(5);
    for (i, what) in [
        "the input",
        "the scale",
        "the bias",
        "the mean",
        "the variance",
    ]
    .into_iter()
    .enumerate()
    {
        ops.push(cx.operand(n, i, what)?);
    }
    let epsilon = n.float_or("epsilon", 1e-5)?;
    let out = n.output()?;
    let id = cx.emit(
        n,
        out,
        OpKind::BatchNorm,
        attrs([("epsilon", Attr::Float(epsilon))]),
        &ops,
    )?;
    cx.define(out, Val::Node(id));
    for i in 1..n.proto.output.len() {
        if let Some(extra) = n.output_name(i) {
            let why = format!("`{extra}` is a training-mode output of BatchNormalization, which qcc does not compute");
            cx.define(extra, Val::Unusable(why));
        }
    }
    Ok(())
}
