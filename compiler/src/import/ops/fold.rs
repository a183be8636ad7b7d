//! Ops that exist only at import time: Constant, the shape-subgraph ops evaluated on constants
//! (Shape, Size, Gather, Cast, ConstantOfShape), and Identity and Dropout, which vanish in
//! an inference graph.

use crate::diag::Result;
use crate::import::constant::{Const, ConstType};
use crate::import::context::{Importer, Val};
use crate::import::node::OnnxNode;
use crate::import::tensor::{self, dtype_name};
use crate::ir::{Attr, OpKind};
use ndarray::{ArrayD, IxDyn};
use std::sync::Arc;

pub(super) fn define_const(cx: &mut Importer, n: &OnnxNode, c: Const) -> Result<()> {
    cx.define(n.output()?, Val::Const(Arc::new(c)));
    Ok(())
}

/// A run-time input where only a constant can be folded.
pub(super) fn not_constant(n: &OnnxNode, i: usize) -> crate::diag::Error {
    n.fail(format!(
        "reads `{}`, which is computed at run time; qcc evaluates {} only on constants (shape computations)",
        n.input_name(i).unwrap_or_default(),
        n.op_type()
    ))
}

pub fn constant(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let out = n.output()?;
    let value = if let Some(t) = n.tensor("value")? {
        // Decoded now but reported only if used, like an initializer.
        match tensor::decode(t, &format!("the value of {}", n.label()), None) {
            Ok(c) => Val::Const(Arc::new(c)),
            Err(m) => Val::Unusable(m),
        }
    } else if let Some(f) = n.float("value_float")? {
        Val::Const(Arc::new(Const::F32(ArrayD::from_elem(IxDyn(&[]), f))))
    } else if let Some(v) = n.floats("value_floats")? {
        let len = v.len();
        Val::Const(Arc::new(Const::F32(
            ArrayD::from_shape_vec(IxDyn(&[len]), v).expect("a vector fits its length"),
        )))
    } else if let Some(i) = n.int("value_int")? {
        Val::Const(Arc::new(Const::I64(ArrayD::from_elem(IxDyn(&[]), i))))
    } else if let Some(v) = n.ints("value_ints")? {
        Val::Const(Arc::new(Const::i64_vec(v)))
    } else if let Some(a) = n.proto.attribute.first() {
        return Err(n.fail(format!(
            "holds a `{}` value, which qcc does not import",
            a.name
        )));
    } else {
        return Err(n.fail("has no value"));
    };
    cx.define(out, value);
    Ok(())
}

/// The shape of any value with a static shape; from opset 15 a `start..end` part of it.
pub fn shape(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.required(n, 0, "the input")?;
    let shape = cx.shape(&x).unwrap_or_default();
    let rank = shape.len() as i64;
    let clamp = |v: i64| (if v < 0 { v + rank } else { v }).clamp(0, rank) as usize;
    let start = clamp(n.int_or("start", 0)?);
    let end = clamp(n.int_or("end", rank)?).max(start);
    define_const(
        cx,
        n,
        Const::i64_vec(shape[start..end].iter().map(|&d| d as i64).collect()),
    )
}

pub fn size(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.required(n, 0, "the input")?;
    let numel: usize = cx.shape(&x).unwrap_or_default().iter().product();
    define_const(
        cx,
        n,
        Const::I64(ArrayD::from_elem(IxDyn(&[]), numel as i64)),
    )
}

/// Folds on constants; a run-time `gather` when the data or the indices are computed.
pub fn gather(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let both = (
        cx.required(n, 0, "the data")?,
        cx.required(n, 1, "the indices")?,
    );
    let (Val::Const(data), Val::Const(indices)) = both else {
        let x = cx.operand(n, 0, "the data")?;
        let i = cx.operand(n, 1, "the indices")?;
        let axis = n.axis(n.int_or("axis", 0)?, cx.ty(x).rank(), "axis")?;
        let out = n.output()?;
        let id = cx.emit(
            n,
            out,
            OpKind::Gather,
            super::attrs([("axis", Attr::Int(axis as i64))]),
            &[x, i],
        )?;
        cx.define(out, Val::Node(id));
        return Ok(());
    };
    let idx = indices
        .ints()
        .ok_or_else(|| n.fail(format!("has indices of type {}", indices.ty().name())))?;
    let axis = n.axis(n.int_or("axis", 0)?, data.shape().len(), "axis")?;
    let c = data
        .gather(axis, &idx, indices.shape())
        .map_err(|m| n.fail(format!("cannot be folded: {m}")))?;
    define_const(cx, n, c)
}

/// Cast, and CastLike (whose target is its second input's type). Folds on constants of the types
/// folding knows; otherwise a run-time `cast` (none when the type is already the target).
pub fn cast(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let code = if n.op_type() == "CastLike" {
        match cx.required(n, 1, "the type example")? {
            Val::Const(c) => c.to_tensor().map(|t| t.dtype()),
            Val::Node(id) => Some(cx.ty(id).elem.storage()),
            Val::Unusable(_) => return Err(not_constant(n, 1)),
        }
    } else {
        let to = n.int("to")?.ok_or_else(|| n.fail("has no `to` type"))?;
        i32::try_from(to).ok().and_then(tensor::ir_dtype).ok_or_else(|| {
            n.fail(format!(
                "casts to {}; qcc holds float, double, float16, int8/16/32/64, uint8/16/32/64 and bool",
                dtype_name(to as i32)
            ))
        })
        .map(Some)?
    };
    let target = code.ok_or_else(|| n.fail("has a type example of no type qcc holds"))?;
    let input = cx.required(n, 0, "the input")?;
    if let Val::Const(c) = &input {
        if let Some(t) = const_type_of(target) {
            return define_const(cx, n, c.cast(t));
        }
    }
    let x = cx.operand(n, 0, "the input")?;
    let from = cx.ty(x).elem.clone();
    if from.quant().is_none() && from.storage() == target {
        cx.define(n.output()?, Val::Node(x));
        return Ok(());
    }
    let id = cx.emit(
        n,
        n.output()?,
        OpKind::Cast,
        super::attrs([("to", Attr::Str(target.name().into()))]),
        &[x],
    )?;
    cx.define(n.output()?, Val::Node(id));
    Ok(())
}

/// The folding type of an IR storage type, for the types folding knows.
pub(super) fn const_type_of(d: runtime::DType) -> Option<ConstType> {
    use runtime::DType;
    Some(match d {
        DType::F32 => ConstType::F32,
        DType::I64 => ConstType::I64,
        DType::I32 => ConstType::I32,
        DType::I8 => ConstType::I8,
        DType::U8 => ConstType::U8,
        DType::Bool => ConstType::Bool,
        _ => return None,
    })
}

pub fn constant_of_shape(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let dims = cx
        .constant_ints(n, 0, "shape")?
        .ok_or_else(|| n.fail("lacks its input 0 (the shape)"))?;
    let mut shape = Vec::with_capacity(dims.len());
    for d in dims {
        shape.push(
            usize::try_from(d).map_err(|_| n.fail(format!("asks for a negative dimension {d}")))?,
        );
    }
    let value = match n.tensor("value")? {
        Some(t) => tensor::decode(t, &format!("the value of {}", n.label()), None)
            .map_err(|m| n.fail(format!("cannot be folded: {m}")))?,
        None => Const::F32(ArrayD::from_elem(IxDyn(&[]), 0.0)),
    };
    let c = value
        .filled(&shape)
        .map_err(|m| n.fail(format!("cannot be folded: {m}")))?;
    define_const(cx, n, c)
}

pub fn identity(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let x = cx.required(n, 0, "the input")?;
    cx.define(n.output()?, x);
    Ok(())
}

/// Dropout is the identity at inference; its mask output is not computed, and a `training_mode`
/// (opset 12+) that is not a constant false is refused.
pub fn dropout(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    if n.opset >= 12 {
        // A training-mode Dropout drops at random: only a constant false is the identity.
        match cx.input(n, 2)? {
            None => {}
            Some(Val::Const(t)) if t.floats().iter().any(|&v| v != 0.0) => {
                return Err(n.fail(
                    "runs in training mode (its `training_mode` is true); qcc imports inference graphs only",
                ));
            }
            Some(Val::Const(_)) => {}
            Some(_) => {
                return Err(n.fail(format!(
                    "reads its `training_mode` from `{}`, which is computed at run time; qcc imports inference graphs only, so it must be a constant false",
                    n.input_name(2).unwrap_or_default()
                )))
            }
        }
    }
    // In inference a Dropout is the identity, whatever its ratio and seed (and opsets before 7
    // marked inference with `is_test`, which qcc has always taken as given).
    n.no_effect(&["ratio", "seed", "is_test"]);
    let x = cx.required(n, 0, "the input")?;
    cx.define(n.output()?, x);
    if let Some(mask) = n.output_name(1) {
        cx.define(
            mask,
            Val::Unusable(format!(
                "`{mask}` is the mask of a Dropout, which qcc does not compute"
            )),
        );
    }
    Ok(())
}
