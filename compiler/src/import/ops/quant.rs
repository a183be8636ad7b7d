//! QuantizeLinear and DequantizeLinear → `quantize` and `dequantize`. The IR keeps quantization
//! parameters in element types: quantize's result type carries them, dequantize reads them from
//! its operand, and a DequantizeLinear of an integer initializer becomes a weight of quantized type.

use crate::diag::Result;
use crate::import::constant::{Const, ConstType};
use crate::import::context::{Importer, Val};
use crate::import::node::OnnxNode;
use crate::import::tensor;
use crate::ir::{ElemType, OpKind, QuantType, TensorType};
use runtime::DType;

fn storage_of(t: ConstType) -> Option<DType> {
    match t {
        ConstType::U8 => Some(DType::U8),
        ConstType::I8 => Some(DType::I8),
        ConstType::I32 => Some(DType::I32),
        ConstType::F32 | ConstType::I64 | ConstType::Bool => None,
    }
}

/// The quantization parameters of a node applied to a value of shape `shape` stored as
/// `storage` (`None`: take it from the zero point, u8 without one, as ONNX says).
fn params(
    cx: &mut Importer,
    n: &OnnxNode,
    shape: &[usize],
    storage: Option<DType>,
) -> Result<QuantType> {
    n.expect_int(
        "block_size",
        0,
        "qcc supports per-tensor and per-axis quantization only",
    )?;
    let scale = cx
        .constant(n, 1, "scale")?
        .ok_or_else(|| n.fail("lacks its input 1 (the scale)"))?;
    if scale.ty() != ConstType::F32 {
        return Err(n.fail(format!(
            "has a scale of type {}; qcc supports f32 scales only",
            scale.ty().name()
        )));
    }
    let zp = cx.constant(n, 2, "zero point")?;
    let zp_storage = match &zp {
        None => None,
        Some(z) => Some(storage_of(z.ty()).ok_or_else(|| {
            n.fail(format!(
                "has a zero point of type {}; qcc supports u8, i8 and i32 quantization",
                z.ty().name()
            ))
        })?),
    };
    let storage = match (storage, zp_storage) {
        (Some(s), Some(z)) if s != z => {
            return Err(n.fail(format!("quantizes to {s} but its zero point is {z}")));
        }
        (Some(s), _) | (None, Some(s)) => s,
        (None, None) => output_dtype(n)?,
    };
    let scales = scale.floats();
    let zero_points: Vec<i32> = match &zp {
        Some(z) if z.shape() != scale.shape() => {
            return Err(n.fail(format!(
                "has a scale of shape {:?} but a zero point of shape {:?}",
                scale.shape(),
                z.shape()
            )));
        }
        Some(z) => z
            .ints()
            .unwrap_or_default()
            .into_iter()
            .map(|v| v as i32)
            .collect(),
        None => vec![0; scales.len()],
    };
    if let Some(s) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(n.fail(format!(
            "has a scale {s}; scales must be positive and finite"
        )));
    }
    let axis = if scales.len() == 1 {
        None
    } else {
        let axis = n.axis(n.int_or("axis", 1)?, shape.len(), "axis")?;
        if scale.shape().len() != 1 || scales.len() != shape[axis] {
            return Err(n.fail(format!(
                "has {} scales of shape {:?} for axis {axis} of a value of shape {shape:?}; per-axis quantization needs one per index",
                scales.len(),
                scale.shape()
            )));
        }
        Some(axis)
    };
    Ok(QuantType {
        storage,
        scales,
        zero_points,
        axis,
    })
}

/// Opset 21's `output_dtype`, for a QuantizeLinear without a zero point.
fn output_dtype(n: &OnnxNode) -> Result<DType> {
    match n.int_or("output_dtype", 0)? {
        0 | 2 => Ok(DType::U8),
        3 => Ok(DType::I8),
        6 => Ok(DType::I32),
        t => Err(n.fail(format!(
            "quantizes to {}; qcc supports u8, i8 and i32 quantization",
            crate::import::tensor::dtype_name(t as i32)
        ))),
    }
}

pub fn quantize(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    // Opset 23: the division x / scale in another float type than the input's.
    if let Some(p) = n
        .int("precision")?
        .filter(|&p| p != 0 && p != tensor::dtype::FLOAT as i64)
    {
        return Err(n.fail(format!(
            "divides by its scale in {} (`precision`); qcc computes it in f32",
            tensor::dtype_name(p as i32)
        )));
    }
    let x = cx.operand(n, 0, "the input")?;
    let shape = cx.ty(x).shape.clone();
    let q = params(cx, n, &shape, None)?;
    let out = n.output()?;
    let id = cx.emit_quant(
        n,
        out,
        OpKind::Quantize,
        x,
        TensorType::new(shape, ElemType::Quant(q)),
    )?;
    cx.define(out, Val::Node(id));
    Ok(())
}

pub fn dequantize(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    // Opset 23: the result type; qcc dequantizes to f32 only.
    if let Some(t) = n
        .int("output_dtype")?
        .filter(|&t| t != 0 && t != tensor::dtype::FLOAT as i64)
    {
        return Err(n.fail(format!(
            "dequantizes to {} (`output_dtype`); qcc dequantizes to f32 only",
            tensor::dtype_name(t as i32)
        )));
    }
    let out = n.output()?;
    let name = n.input_name(0).unwrap_or_default();
    let q = match cx.required(n, 0, "the input")? {
        Val::Const(c) => {
            let storage = storage_of(c.ty()).ok_or_else(|| {
                n.fail(format!(
                    "dequantizes `{name}` of type {}; it needs u8, i8 or i32 values",
                    c.ty().name()
                ))
            })?;
            let q = params(cx, n, c.shape(), Some(storage))?;
            let w = quantized_weight(cx, n, name, &c, q)?;
            let shape = cx.ty(w).shape.clone();
            let id = cx.emit_quant(n, out, OpKind::Dequantize, w, TensorType::f32(shape))?;
            cx.define(out, Val::Node(id));
            return Ok(());
        }
        Val::Node(id) => id,
        Val::Unusable(why) => return Err(n.fail(format!("reads `{name}`, but {why}"))),
    };
    let ty = cx.ty(q).clone();
    let Some(have) = ty.elem.quant().cloned() else {
        return Err(n.fail(format!(
            "dequantizes `{name}` of type {ty}; qcc needs a quantized value (from a QuantizeLinear or an integer initializer)"
        )));
    };
    let want = params(cx, n, &ty.shape, Some(have.storage))?;
    if want != have {
        return Err(n.fail(format!(
            "reads `{name}` of type {ty} with other parameters ({}); qcc needs a DequantizeLinear to use its QuantizeLinear's parameters",
            ElemType::Quant(want)
        )));
    }
    let id = cx.emit_quant(
        n,
        out,
        OpKind::Dequantize,
        q,
        TensorType::f32(ty.shape.clone()),
    )?;
    cx.define(out, Val::Node(id));
    Ok(())
}

fn quantized_weight(
    cx: &mut Importer,
    n: &OnnxNode,
    name: &str,
    c: &Const,
    q: QuantType,
) -> Result<crate::ir::NodeId> {
    cx.weight(name, c, ElemType::Quant(q))
        .map_err(|m| n.fail(format!("reads `{name}`, but {m}")))
}
