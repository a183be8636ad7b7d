//! `--emit onnx`: the QDQ stage written back as an ONNX model. Every IR node becomes the ONNX
//! value of the same name: `quantize`/`dequantize` are QuantizeLinear/DequantizeLinear with
//! qcc's own scales and zero points, quantized weights are int8 (biases int32) initializers read
//! through a per-channel DequantizeLinear, float ops are their ONNX ops. ONNX Runtime fuses the
//! sandwiches into its integer kernels, Netron draws it, and it computes what qcc's integer
//! model computes up to the rounding of the requantization.
//!
//! Every op of the float and QDQ stages exports; the integer dialect (qconv2d, requantize, lut,
//! …) is refused by name, since ONNX's QDQ form has no place for its fixed-point multipliers.

pub(crate) mod graph;
mod ops;
mod quant;

use crate::diag::{Error, Result};
use crate::ir::{Model, NodeKind};
use graph::{onnx_dtype, Graph};
use onnx_protobuf::{Message, ModelProto, OperatorSetIdProto};
use std::path::Path;

/// The default-domain opset written: 21 has per-axis QuantizeLinear/DequantizeLinear, `axes`
/// as an input of ReduceMean, Gelu (20) and Mish (18), and every ONNX Runtime since 1.17 runs it.
pub const OPSET: i64 = 21;

/// ONNX IR version 10 goes with opset 21.
const IR_VERSION: i64 = 10;

/// The ONNX model of a float or QDQ model.
pub fn to_onnx(model: &Model) -> Result<ModelProto> {
    let order = model
        .topo_order()
        .ok_or_else(|| Error::msg(format!("@{} has a cycle", model.name)))?;
    let mut g = Graph::new(model);
    for &id in &model.inputs {
        let node = model.node(id);
        let v = Graph::value_info(&g.value(id), &node.ty);
        g.proto.input.push(v);
    }
    for &id in &order {
        let node = model.node(id);
        match &node.kind {
            NodeKind::Input => {}
            NodeKind::Weight(data) => {
                let t = data.tensor().ok_or_else(|| {
                    Error::msg(format!(
                        "@{}: its data is not loaded (read the model with its weights)",
                        node.name
                    ))
                })?;
                let name = g.value(id);
                g.initializer_named(
                    name,
                    onnx_dtype(node.ty.elem.storage()),
                    &node.ty.shape,
                    t.to_le_bytes(),
                );
            }
            NodeKind::Op(_) => {
                ops::export(&mut g, model, id)?;
                let v = Graph::value_info(&g.value(id), &node.ty);
                g.proto.value_info.push(v);
            }
        }
    }
    // ONNX names a graph output by its value; a value returned twice, or an input or weight
    // returned as it is, goes out through an Identity of its own.
    let mut returned = std::collections::BTreeSet::new();
    for &id in &model.outputs {
        let node = model.node(id);
        let value = g.value(id);
        let name = if node.op().is_some() && returned.insert(id) {
            g.proto.value_info.retain(|v| v.name != value);
            value
        } else {
            let out = g.fresh(&format!("{}.out", node.name));
            g.node("Identity", vec![value], vec![out.clone()], vec![]);
            out
        };
        g.proto.output.push(Graph::value_info(&name, &node.ty));
    }
    Ok(ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
            ..Default::default()
        }],
        producer_name: "qcc".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(g.proto).into(),
        ..Default::default()
    })
}

/// The serialized ONNX model.
pub fn to_bytes(model: &Model) -> Result<Vec<u8>> {
    to_onnx(model)?
        .write_to_bytes()
        .map_err(|e| Error::msg(format!("@{}: serializing the ONNX model: {e}", model.name)))
}

/// Writes the ONNX model of `model` to `path` (atomically).
pub fn write(model: &Model, path: &Path) -> Result<()> {
    crate::fsio::write_bytes_atomic(path, &to_bytes(model)?)
}
