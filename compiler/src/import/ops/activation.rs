//! The ONNX activations and elementwise functions that import as one `unary` op: which ONNX op
//! is which function of runtime::ops::UNARY_FNS, and which ONNX attributes are its parameters.

use super::{attrs, unary};
use crate::diag::Result;
use crate::import::context::{Importer, Val};
use crate::import::node::OnnxNode;
use crate::ir::{Attr, OpKind};
use runtime::ops::UnaryFn;

/// ONNX op, function, and the ONNX attribute names of its parameters in the table's order
/// (a missing attribute takes the table's default, which is ONNX's).
const ONNX_UNARY: &[(&str, UnaryFn, &[&str])] = &[
    ("Tanh", UnaryFn::Tanh, &[]),
    ("Exp", UnaryFn::Exp, &[]),
    ("Log", UnaryFn::Log, &[]),
    ("Sqrt", UnaryFn::Sqrt, &[]),
    ("Reciprocal", UnaryFn::Reciprocal, &[]),
    ("Neg", UnaryFn::Neg, &[]),
    ("Abs", UnaryFn::Abs, &[]),
    ("Erf", UnaryFn::Erf, &[]),
    ("Softplus", UnaryFn::Softplus, &[]),
    ("Softsign", UnaryFn::Softsign, &[]),
    ("Elu", UnaryFn::Elu, &["alpha"]),
    ("Selu", UnaryFn::Selu, &["alpha", "gamma"]),
    ("Celu", UnaryFn::Celu, &["alpha"]),
    ("ThresholdedRelu", UnaryFn::ThresholdedRelu, &["alpha"]),
    ("Sin", UnaryFn::Sin, &[]),
    ("Cos", UnaryFn::Cos, &[]),
    ("Tan", UnaryFn::Tan, &[]),
    ("Asin", UnaryFn::Asin, &[]),
    ("Acos", UnaryFn::Acos, &[]),
    ("Atan", UnaryFn::Atan, &[]),
    ("Sinh", UnaryFn::Sinh, &[]),
    ("Cosh", UnaryFn::Cosh, &[]),
    ("Asinh", UnaryFn::Asinh, &[]),
    ("Acosh", UnaryFn::Acosh, &[]),
    ("Atanh", UnaryFn::Atanh, &[]),
    ("Shrink", UnaryFn::Shrink, &["lambd", "bias"]),
    ("Swish", UnaryFn::Swish, &["alpha"]),
    ("Floor", UnaryFn::Floor, &[]),
    ("Ceil", UnaryFn::Ceil, &[]),
    ("Round", UnaryFn::Round, &[]),
    ("Sign", UnaryFn::Sign, &[]),
    ("Mish", UnaryFn::Mish, &[]),
];

/// The ONNX op of a table function and its attribute names in parameter order (the exporter
/// writes the import table backwards, so the two cannot disagree).
pub fn onnx_op_of(f: UnaryFn) -> Option<(&'static str, &'static [&'static str])> {
    ONNX_UNARY
        .iter()
        .find(|e| e.1 == f)
        .map(|&(op, _, names)| (op, names))
}

/// The ONNX op names [`function`] converts.
pub fn onnx_names() -> impl Iterator<Item = &'static str> {
    ONNX_UNARY.iter().map(|e| e.0)
}

/// Converts a table op into `unary {fn, params}`.
pub fn function(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let (_, f, names) = ONNX_UNARY
        .iter()
        .find(|e| e.0 == n.op_type())
        .expect("dispatched by onnx_names");
    let defaults = f.def().params;
    let mut params = Vec::with_capacity(names.len());
    for (name, (_, default)) in names.iter().zip(defaults) {
        params.push(n.float_or(name, *default)?);
    }
    emit(cx, n, *f, params)
}

fn emit(cx: &mut Importer, n: &OnnxNode, f: UnaryFn, params: Vec<f32>) -> Result<()> {
    unary(
        cx,
        n,
        OpKind::Unary,
        attrs([
            ("fn", Attr::Str(f.name().into())),
            ("params", Attr::Floats(params)),
        ]),
    )
}

/// Gelu (opset 20): `approximate = "none"` is the erf form, `"tanh"` the tanh one.
pub fn gelu(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let f = match n.string("approximate")?.as_deref() {
        None | Some("none") => UnaryFn::Gelu,
        Some("tanh") => UnaryFn::GeluTanh,
        Some(other) => {
            return Err(n.fail(format!(
                "has approximate = {other:?}; Gelu knows \"none\" and \"tanh\""
            )))
        }
    };
    emit(cx, n, f, vec![])
}

/// Pow with a constant scalar exponent is a function of the base alone.
pub fn pow(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let e = cx.constant(n, 1, "exponent")?;
    let e = match e {
        Some(c) if c.len() == 1 => c.floats()[0],
        Some(c) => {
            return Err(n.fail(format!(
                "has an exponent of shape {:?}; qcc takes Pow with a single constant exponent",
                c.shape()
            )))
        }
        None => return Err(n.fail("has no exponent")),
    };
    emit(cx, n, UnaryFn::Pow, vec![e])
}

/// PRelu. A slope of one value is `leaky_relu` (one table in int8); any other slope (one per
/// channel, broadcast) is `relu(x) − s·relu(−x)`, exact in float: where one term is x or s·x the
/// other is zero.
pub fn prelu(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let out = n.output()?;
    if let Some(Val::Const(c)) = cx.input(n, 1)? {
        if c.len() == 1 {
            let alpha = c.floats()[0];
            return unary(
                cx,
                n,
                OpKind::LeakyRelu,
                attrs([("alpha", Attr::Float(alpha))]),
            );
        }
    }
    let x = cx.operand(n, 0, "the input")?;
    let s = cx.operand(n, 1, "the slope")?;
    let pos = cx.emit(n, &format!("{out}_pos"), OpKind::Relu, attrs([]), &[x])?;
    let neg_attrs = attrs([
        ("fn", Attr::Str(UnaryFn::Neg.name().into())),
        ("params", Attr::Floats(vec![])),
    ]);
    let nx = cx.emit(n, &format!("{out}_negated"), OpKind::Unary, neg_attrs, &[x])?;
    let neg = cx.emit(n, &format!("{out}_neg"), OpKind::Relu, attrs([]), &[nx])?;
    let scaled = cx.emit(
        n,
        &format!("{out}_scaled"),
        OpKind::Mul,
        attrs([]),
        &[s, neg],
    )?;
    let y = cx.emit(n, out, OpKind::Sub, attrs([]), &[pos, scaled])?;
    cx.define(out, Val::Node(y));
    Ok(())
}
