//! Result types of the ops on the element types that are never quantized (cast, compare, logic,
//! not, where, mod) and of arithmetic on them: operands of one plain type, numpy broadcasting.

use super::infer::broadcast;
use super::op::{Op, OpKind};
use super::types::{ElemType, TensorType};
use runtime::DType;

type R<T> = Result<T, String>;

/// The plain (not quantized) storage type of an operand.
fn plain(what: &str, t: &TensorType) -> R<DType> {
    if t.elem.quant().is_some() {
        return Err(format!("operand `{what}` must not be quantized, got {t}"));
    }
    Ok(t.elem.storage())
}

fn both(a: &TensorType, b: &TensorType) -> R<(DType, Vec<usize>)> {
    let (da, db) = (plain("a", a)?, plain("b", b)?);
    if da != db {
        return Err(format!(
            "operands `a` ({a}) and `b` ({b}) have different element types"
        ));
    }
    let shape = broadcast(&a.shape, &b.shape)
        .ok_or_else(|| format!("operands `a` ({a}) and `b` ({b}) do not broadcast"))?;
    Ok((da, shape))
}

fn str_attr<'a>(op: &'a Op, name: &str) -> R<&'a str> {
    op.str(name)
        .ok_or_else(|| format!("attribute `{name}` must be a string"))
}

/// The axis a gather indexes `x` along, once `i` is checked to hold integer indices (Gather and
/// GatherElements read both the same way).
fn indexed_axis(op: &Op, x: &TensorType, i: &TensorType) -> R<usize> {
    let d = plain("indices", i)?;
    if d.is_float() || d == DType::Bool {
        return Err(format!("operand `indices` must be integers, got {i}"));
    }
    let a = op
        .int("axis")
        .ok_or("attribute `axis` must be an integer")?;
    usize::try_from(a)
        .ok()
        .filter(|&a| a < x.rank())
        .ok_or_else(|| format!("attribute `axis` = {a} is out of range for {x}"))
}

/// Arithmetic (add, sub, mul, div) on two operands of one plain type other than f32 and bool.
pub fn arith(a: &TensorType, b: &TensorType) -> R<TensorType> {
    let (d, shape) = both(a, b)?;
    if d == DType::Bool {
        return Err(format!("arithmetic on bool operands ({a}, {b})"));
    }
    Ok(TensorType::new(shape, ElemType::from_storage(d)))
}

/// The type of one of this file's ops; `None` for the other ops.
pub fn infer_data(op: &Op, operands: &[&TensorType]) -> Option<R<TensorType>> {
    use OpKind::*;
    if !matches!(
        op.kind,
        Cast | Compare
            | Logic
            | Not
            | Where
            | Mod
            | ArgMax
            | ArgMin
            | Gather
            | GatherElements
            | Expand
    ) {
        return None;
    }
    let x = operands.first().copied()?;
    let bool_of = |shape: Vec<usize>| TensorType::new(shape, ElemType::Other(DType::Bool));
    let expect_bool = |what: &str, t: &TensorType| -> R<()> {
        if t.elem.storage() != DType::Bool || t.elem.quant().is_some() {
            return Err(format!("operand `{what}` must be bool, got {t}"));
        }
        Ok(())
    };
    Some((|| match op.kind {
        Cast => {
            plain("x", x)?;
            let to = str_attr(op, "to")?;
            let d = DType::from_name(to)
                .ok_or_else(|| format!("attribute `to` = \"{to}\" is not an element type"))?;
            Ok(TensorType::new(x.shape.clone(), ElemType::from_storage(d)))
        }
        Compare => {
            let f = str_attr(op, "fn")?;
            runtime::ops::CmpOp::from_name(f)
                .ok_or_else(|| format!("attribute `fn` = \"{f}\" is not a comparison"))?;
            let (_, shape) = both(x, operands[1])?;
            Ok(bool_of(shape))
        }
        Logic => {
            let f = str_attr(op, "fn")?;
            runtime::ops::LogicOp::from_name(f)
                .ok_or_else(|| format!("attribute `fn` = \"{f}\" is not and, or or xor"))?;
            expect_bool("a", x)?;
            expect_bool("b", operands[1])?;
            let (_, shape) = both(x, operands[1])?;
            Ok(bool_of(shape))
        }
        Not => {
            expect_bool("x", x)?;
            Ok(x.clone())
        }
        Where => {
            expect_bool("cond", x)?;
            let (d, xy) = both(operands[1], operands[2])?;
            let shape = broadcast(&x.shape, &xy).ok_or_else(|| {
                format!("operand `cond` ({x}) does not broadcast with the values' shape {xy:?}")
            })?;
            Ok(TensorType::new(shape, ElemType::from_storage(d)))
        }
        Mod => {
            let (d, shape) = both(x, operands[1])?;
            if d == DType::Bool {
                return Err("mod on bool operands".into());
            }
            if d.is_float() && op.bool("fmod") != Some(true) {
                return Err(format!("mod on {d} operands needs fmod = true"));
            }
            Ok(TensorType::new(shape, ElemType::from_storage(d)))
        }
        ArgMax | ArgMin => {
            plain("x", x)?;
            let a = op
                .int("axis")
                .ok_or("attribute `axis` must be an integer")?;
            let a = usize::try_from(a)
                .ok()
                .filter(|&a| a < x.rank())
                .ok_or_else(|| format!("attribute `axis` = {a} is out of range for {x}"))?;
            let mut shape = x.shape.clone();
            if op.bool("keepdims") == Some(false) {
                shape.remove(a);
            } else {
                shape[a] = 1;
            }
            Ok(TensorType::new(shape, ElemType::Other(DType::I64)))
        }
        Gather => {
            let i = operands[1];
            let a = indexed_axis(op, x, i)?;
            let mut shape = x.shape[..a].to_vec();
            shape.extend_from_slice(&i.shape);
            shape.extend_from_slice(&x.shape[a + 1..]);
            // Codes keep their parameters: a gather only moves elements.
            Ok(TensorType::new(shape, x.elem.clone()))
        }
        GatherElements => {
            let i = operands[1];
            let a = indexed_axis(op, x, i)?;
            let fits =
                i.rank() == x.rank() && (0..x.rank()).all(|k| k == a || i.shape[k] <= x.shape[k]);
            if !fits {
                return Err(format!(
                    "operand `indices` ({i}) does not fit `data` ({x}) along axis {a}"
                ));
            }
            // Codes keep their parameters: a gather only moves elements.
            Ok(TensorType::new(i.shape.clone(), x.elem.clone()))
        }
        Expand => {
            let shape = op
                .ints("shape")
                .ok_or("attribute `shape` must be a list of integers")?
                .iter()
                .map(|&d| {
                    usize::try_from(d)
                        .map_err(|_| format!("attribute `shape` has a negative size {d}"))
                })
                .collect::<R<Vec<usize>>>()?;
            if broadcast(&x.shape, &shape).as_ref() != Some(&shape) {
                return Err(format!("operand `x` ({x}) does not broadcast to {shape:?}"));
            }
            // Codes keep their parameters: an expand only repeats elements.
            Ok(TensorType::new(shape, x.elem.clone()))
        }
        _ => unreachable!("other ops returned above"),
    })())
}
