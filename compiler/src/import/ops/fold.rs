//! Ops that exist only at import time: Constant, the shape-subgraph ops evaluated on constants
//! (Shape, Size, Gather, Cast, ConstantOfShape), and Identity and Dropout, which vanish in
//! an inference graph.

use crate::diag::Result;
use crate::import::constant::{Const, ConstType};
use crate::import::context::{Importer, Val};
use crate::import::node::OnnxNode;
use crate::import::tensor::{self, const_type, dtype_name};
use crate::ir::ElemType;
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

pub fn gather(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let data = cx
        .constant(n, 0, "data")
        .map_err(|_| not_constant(n, 0))?
        .ok_or_else(|| n.fail("lacks its input 0 (the data)"))?;
    let indices = cx
        .constant(n, 1, "indices")?
        .ok_or_else(|| n.fail("lacks its input 1 (the indices)"))?;
    let idx = indices
        .ints()
        .ok_or_else(|| n.fail(format!("has indices of type {}", indices.ty().name())))?;
    let axis = n.axis(n.int_or("axis", 0)?, data.shape().len(), "axis")?;
    let c = data
        .gather(axis, &idx, indices.shape())
        .map_err(|m| n.fail(format!("cannot be folded: {m}")))?;
    define_const(cx, n, c)
}

pub fn cast(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let to = n.int("to")?.ok_or_else(|| n.fail("has no `to` type"))?;
    let target = i32::try_from(to).ok().and_then(const_type).ok_or_else(|| {
        n.fail(format!(
            "casts to {}; qcc imports f32, u8, i8, i32, and int64 and bool constants",
            dtype_name(to as i32)
        ))
    })?;
    match cx.required(n, 0, "the input")? {
        Val::Const(c) => define_const(cx, n, c.cast(target)),
        Val::Node(id) => {
            // A cast to the type a value already has is a no-op; any other needs a run-time op.
            let from = cx.ty(id).elem.clone();
            let same = match target {
                ConstType::F32 => from == ElemType::F32,
                ConstType::I32 => from == ElemType::I32,
                ConstType::I8 => from == ElemType::I8,
                ConstType::U8 => from == ElemType::U8,
                ConstType::I64 | ConstType::Bool => false,
            };
            if !same {
                return Err(not_constant(n, 0));
            }
            cx.define(n.output()?, Val::Node(id));
            Ok(())
        }
        Val::Unusable(_) => Err(not_constant(n, 0)),
    }
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
