//! qcc's quantization parameters in ONNX: `quantize`/`dequantize` become QuantizeLinear/
//! DequantizeLinear with the scales and zero points of the IR type (per tensor, or per axis with
//! `axis`), so the exported model rounds where qcc rounds.

use crate::diag::{Error, Result};
use crate::export::graph::{self, onnx_dtype, Graph};
use crate::ir::{Model, NodeId, QuantType};
use runtime::DType;

/// The scale and zero-point initializers of a quantized type, and its axis when per axis.
fn params(g: &mut Graph, base: &str, q: &QuantType) -> Result<(String, String, Option<usize>)> {
    // Per tensor, ONNX wants scalars; per axis, one value per index of the axis.
    let dims: Vec<usize> = match q.axis {
        None => vec![],
        Some(_) => vec![q.scales.len()],
    };
    let n = if q.axis.is_some() { q.scales.len() } else { 1 };
    let scale = g.floats(&format!("{base}.scale"), &dims, &q.scales[..n]);
    let zps = &q.zero_points[..n];
    let raw: Vec<u8> = match q.storage {
        DType::U8 => zps.iter().map(|&z| z as u8).collect(),
        DType::I8 => zps.iter().map(|&z| z as i8 as u8).collect(),
        DType::I16 => zps.iter().flat_map(|&z| (z as i16).to_le_bytes()).collect(),
        DType::I32 => zps.iter().flat_map(|z| z.to_le_bytes()).collect(),
        other => {
            return Err(Error::msg(format!(
                "{base}: a quantized type stored as {other} has no ONNX form"
            )))
        }
    };
    let zp = g.initializer(
        &format!("{base}.zero_point"),
        onnx_dtype(q.storage),
        &dims,
        raw,
    );
    Ok((scale, zp, q.axis))
}

fn axis_attr(axis: Option<usize>) -> Vec<onnx_protobuf::AttributeProto> {
    axis.map(|a| graph::int("axis", a as i64))
        .into_iter()
        .collect()
}

/// `quantize`: QuantizeLinear to the result's parameters.
pub fn quantize(g: &mut Graph, m: &Model, id: NodeId, x: String) -> Result<()> {
    let node = m.node(id);
    let q = node.ty.elem.quant().ok_or_else(|| {
        Error::msg(format!(
            "%{}: quantize has no quantized result type ({})",
            node.name, node.ty
        ))
    })?;
    if q.storage == DType::I32 {
        return Err(Error::msg(format!(
            "%{}: quantize to i32 has no ONNX QuantizeLinear form (its outputs are 8- and 16-bit)",
            node.name
        )));
    }
    let out = g.value(id);
    let (scale, zp, axis) = params(g, &out, q)?;
    g.node(
        "QuantizeLinear",
        vec![x, scale, zp],
        vec![out],
        axis_attr(axis),
    );
    Ok(())
}

/// `dequantize`: DequantizeLinear with the operand's parameters (a weight's are its type's).
pub fn dequantize(g: &mut Graph, m: &Model, id: NodeId, q_id: NodeId) -> Result<()> {
    let node = m.node(id);
    let operand = m.node(q_id);
    let q = operand.ty.elem.quant().ok_or_else(|| {
        Error::msg(format!(
            "%{}: dequantize reads {}, which is not quantized ({})",
            node.name, operand.name, operand.ty
        ))
    })?;
    let out = g.value(id);
    let (scale, zp, axis) = params(g, &out, q)?;
    g.node(
        "DequantizeLinear",
        vec![g.value(q_id), scale, zp],
        vec![out],
        axis_attr(axis),
    );
    Ok(())
}
