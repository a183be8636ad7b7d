//! One converter per ONNX op (grouped by theme, one file per group) and the table that picks it.

mod activation;
mod attention;
mod conv;
mod einsum;
mod elementwise;
mod fold;
mod index;
mod lift;
mod linear;
mod logic;
mod loss;
mod mask;
mod norm;
mod pool;
mod quant;
mod recurrent;
mod reduce;
mod resize;
mod scatter;
mod shape;
mod slice;
mod window;

use crate::diag::{Error, Result};
use crate::import::context::{Importer, Val};
use crate::import::node::OnnxNode;
use crate::ir::{Attr, Attrs, OpKind};

type Converter = fn(&mut Importer, &OnnxNode) -> Result<()>;

/// Every ONNX op qcc imports (default domain), with its converter.
pub const SUPPORTED: &[(&str, Converter)] = &[
    ("Add", elementwise::arith),
    ("And", logic::logic),
    ("ArgMax", index::arg_extreme),
    ("Attention", attention::attention),
    ("ArgMin", index::arg_extreme),
    ("AveragePool", pool::average_pool),
    ("BatchNormalization", elementwise::batch_norm),
    ("Cast", fold::cast),
    ("CastLike", fold::cast),
    ("Clip", elementwise::clip),
    ("Concat", shape::concat),
    ("Constant", fold::constant),
    ("ConstantOfShape", fold::constant_of_shape),
    ("Conv", conv::conv),
    ("ConvTranspose", conv::conv_transpose),
    ("DequantizeLinear", quant::dequantize),
    ("Div", elementwise::arith),
    ("DepthToSpace", shape::space_depth),
    ("Dropout", fold::dropout),
    ("Einsum", einsum::einsum),
    ("Equal", logic::compare),
    ("Expand", logic::expand),
    ("Flatten", shape::flatten),
    ("Gather", fold::gather),
    ("GatherElements", index::gather_elements),
    ("Gelu", activation::gelu),
    ("Gemm", linear::gemm),
    ("GroupNormalization", norm::group_norm),
    ("GlobalAveragePool", pool::global_average_pool),
    ("GlobalMaxPool", pool::global_max_pool),
    ("Greater", logic::compare),
    ("GRU", recurrent::gru),
    ("GreaterOrEqual", logic::compare),
    ("HardSigmoid", elementwise::hard_sigmoid),
    ("Hardmax", mask::hardmax),
    ("HardSwish", elementwise::hard_swish),
    ("Identity", fold::identity),
    ("InstanceNormalization", norm::instance_norm),
    ("IsInf", mask::is_inf),
    ("IsNaN", mask::is_nan),
    ("LayerNormalization", norm::layer_norm),
    ("LeakyRelu", elementwise::leaky_relu),
    ("LRN", norm::lrn),
    ("LSTM", recurrent::lstm),
    ("Less", logic::compare),
    ("LessOrEqual", logic::compare),
    ("MatMul", linear::matmul),
    ("Max", elementwise::variadic),
    ("MaxPool", pool::max_pool),
    ("Mean", elementwise::variadic),
    ("Min", elementwise::variadic),
    ("Mod", logic::mod_),
    ("Mul", elementwise::arith),
    ("NegativeLogLikelihoodLoss", loss::nll_loss),
    ("PRelu", activation::prelu),
    ("Not", logic::not),
    ("OneHot", mask::one_hot),
    ("Or", logic::logic),
    ("Pad", shape::pad),
    ("Pow", activation::pow),
    ("QuantizeLinear", quant::quantize),
    ("Range", logic::range),
    ("LogSoftmax", reduce::log_softmax),
    ("LpNormalization", norm::lp_norm),
    ("ReduceL1", reduce::reduce),
    ("ReduceL2", reduce::reduce),
    ("ReduceLogSum", reduce::reduce),
    ("ReduceLogSumExp", reduce::reduce),
    ("ReduceMax", reduce::reduce),
    ("ReduceMean", reduce::reduce),
    ("ReduceMin", reduce::reduce),
    ("ReduceProd", reduce::reduce_prod),
    ("ReduceSum", reduce::reduce),
    ("ReduceSumSquare", reduce::reduce),
    ("RMSNormalization", norm::layer_norm),
    ("Relu", elementwise::relu),
    ("Reshape", shape::reshape),
    ("Resize", resize::resize),
    ("RNN", recurrent::rnn),
    ("Scatter", scatter::scatter_elements),
    ("ScatterElements", scatter::scatter_elements),
    ("ScatterND", scatter::scatter_nd),
    ("Shape", fold::shape),
    ("Sigmoid", elementwise::sigmoid),
    ("Size", fold::size),
    ("Slice", slice::slice),
    ("Softmax", reduce::softmax),
    ("SoftmaxCrossEntropyLoss", loss::softmax_cross_entropy),
    ("SpaceToDepth", shape::space_depth),
    ("Split", slice::split),
    ("Squeeze", shape::squeeze),
    ("Sub", elementwise::arith),
    ("Sum", elementwise::variadic),
    ("Tile", shape::tile),
    ("Transpose", shape::transpose),
    ("Trilu", logic::trilu),
    ("Unsqueeze", shape::unsqueeze),
    ("Upsample", resize::upsample),
    ("Where", logic::where_),
    ("Xor", logic::logic),
];

pub use activation::onnx_op_of as unary_onnx_op;
pub use logic::onnx_op_of as logic_onnx_op;
pub use reduce::onnx_op_of as reduce_onnx_op;

/// The ONNX ops that import as `unary` (beside [`SUPPORTED`]).
pub fn unary_onnx_names() -> impl Iterator<Item = &'static str> {
    activation::onnx_names()
}

/// Converts one node, binding its outputs in `cx`.
pub fn convert(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let domain = n.proto.domain.as_str();
    let name = if n.proto.name.is_empty() {
        n.output_name(0).unwrap_or_default()
    } else {
        n.proto.name.as_str()
    };
    if !(domain.is_empty() || domain == "ai.onnx") {
        return Err(Error::msg(format!(
            "unsupported ONNX op `{}` from domain `{domain}` (node `{name}`)",
            n.op_type()
        )));
    }
    if activation::onnx_names().any(|op| op == n.op_type()) {
        activation::function(cx, n)?;
    } else if let Some(family) = crate::ops::importer_of(n.op_type()) {
        family.import(cx, n)?;
    } else {
        match SUPPORTED.iter().find(|(op, _)| *op == n.op_type()) {
            Some((_, f)) => f(cx, n)?,
            None => {
                return Err(Error::msg(format!(
                    "unsupported ONNX op `{}` (node `{name}`, opset {})",
                    n.op_type(),
                    n.opset
                )))
            }
        }
    }
    match n.unread_attribute() {
        Some(a) => Err(n.fail(format!(
            "has an attribute `{a}` that qcc does not know for {}: ignoring it could change what the node computes",
            n.op_type()
        ))),
        None => Ok(()),
    }
}

/// An attribute dictionary from pairs.
fn attrs<const N: usize>(pairs: [(&str, Attr); N]) -> Attrs {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// A one-operand op on input 0.
fn unary(cx: &mut Importer, n: &OnnxNode, kind: OpKind, a: Attrs) -> Result<()> {
    let x = cx.operand(n, 0, "the input")?;
    let out = n.output()?;
    let id = cx.emit(n, out, kind, a, &[x])?;
    cx.define(out, Val::Node(id));
    Ok(())
}
