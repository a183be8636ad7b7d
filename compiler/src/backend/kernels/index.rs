//! Kernels that move elements by index: gather, gather_elements, expand, and arg_max/arg_min
//! (the index of each lane's extreme), on any element type a library holds (codes included:
//! they only move, so they keep their parameters), each side in its own layout.
//!
//! An index outside `[-len, len)`, which the interpreter refuses, cannot be reported from a
//! library (its entry returns no error for data): the kernels clamp it to the nearest end of the
//! axis instead, so they never read outside the data (docs/ir.md states it).

use super::boundary::{load_code, store_code};
use super::plain::check_held;
use crate::backend::emit::{mem, Emitter, K};
use crate::backend::layout::{address, elem_size, is_nhwc, memory_order, split_each, strides};
use crate::backend::Step;
use crate::diag::{Error, Result};
use crate::ir::op::OpKind;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, InstBuilder, Value};
use cranelift_module::{FuncId, Linkage};
use runtime::DType;

/// The op's `axis`, checked against the data's rank (the verifier made it non-negative).
fn axis(step: &Step) -> Result<usize> {
    let a = step.op.int_of("axis").map_err(Error::msg)?;
    usize::try_from(a)
        .ok()
        .filter(|&a| a < step.args[0].ty.rank())
        .ok_or_else(|| Error::msg(format!("axis {a} is out of range for {}", step.args[0].ty)))
}

/// Loads the index at `addr` (an integer of type `d`) as an i64 in `[0, len)`: a negative index
/// counts from the end, one still outside the axis is clamped to its nearest end.
fn index_at(k: &mut K, d: DType, addr: Value, len: usize) -> Value {
    let i = match d {
        DType::I64 => k.b.ins().load(types::I64, mem(), addr, 0),
        DType::I32 => k.b.ins().sload32(mem(), addr, 0),
        DType::I8 => k.b.ins().sload8(types::I64, mem(), addr, 0),
        _ => k.b.ins().uload8(types::I64, mem(), addr, 0),
    };
    let neg = k.b.ins().icmp_imm_s(IntCC::SignedLessThan, i, 0);
    let wrapped = k.b.ins().iadd_imm_s(i, len as i64);
    let i = k.b.ins().select(neg, wrapped, i);
    let zero = k.i64(0);
    let last = k.i64(len as i64 - 1);
    let i = k.b.ins().smax(i, zero);
    k.b.ins().smin(i, last)
}

fn index_type(step: &Step) -> Result<DType> {
    let d = step.args[1].ty.elem.storage();
    if !matches!(d, DType::I64 | DType::I32 | DType::I8 | DType::U8) {
        return Err(Error::msg(format!(
            "{} with {} indices has no kernel (i64, i32, i8 or u8)",
            step.op.kind.name(),
            step.args[1].ty
        )));
    }
    Ok(d)
}

/// `y[pre, i…, post] = x[pre, indices[i…], post]`. When neither side is channels-last, each
/// `post` block is contiguous on both sides and copied as bytes; otherwise element by element.
pub fn gather(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    check_held(step)?;
    let (x, ind, y) = (&step.args[0], &step.args[1], &step.out);
    let a = axis(step)?;
    let id = index_type(step)?;
    let r = ind.ty.rank();
    let len = x.ty.shape[a];
    let d = x.ty.elem.storage();
    let esz = elem_size(d);
    let (xs, is, ys) = (strides(&x.ty), strides(&ind.ty), strides(&y.ty));
    let f = em.kernel(name, Linkage::Local, |k| {
        if y.ty.numel() == 0 {
            return Ok(());
        }
        let (xb, ib, yb) = (k.base(x.loc), k.base(ind.loc), k.base(y.loc));
        // The x address of output index `idx` (only its first a + r coordinates are read when
        // `whole` blocks are copied).
        let source = |k: &mut K, idx: &[Value]| {
            let ia = address(k, ib, &idx[a..a + r], &is, elem_size(id));
            let j = index_at(k, id, ia, len);
            let pre = address(k, xb, &idx[..a], &xs[..a], esz);
            k.at(pre, j, xs[a] * esz, 0)
        };
        if !is_nhwc(&x.ty) && !is_nhwc(&y.ty) {
            let block: usize = x.ty.shape[a + 1..].iter().product();
            let outer = &y.ty.shape[..a + r];
            let order: Vec<usize> = (0..outer.len()).collect();
            return split_each(k, outer, &order, &mut |k, idx| {
                let src = source(k, idx);
                let dst = address(k, yb, idx, &ys[..a + r], esz);
                k.copy_bytes(dst, src, block * esz as usize)
            });
        }
        split_each(k, &y.ty.shape, &memory_order(&y.ty), &mut |k, idx| {
            let row = source(k, idx);
            let src = address(k, row, &idx[a + r..], &xs[a + 1..], esz);
            let v = load_code(k, d, src);
            let dst = address(k, yb, idx, &ys, esz);
            store_code(k, d, v, dst);
            Ok(())
        })
    })?;
    Ok((f, 0))
}

/// `y[i…] = x[i…]` with coordinate `axis` replaced by `indices[i…]`.
pub fn gather_elements(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    check_held(step)?;
    let (x, ind, y) = (&step.args[0], &step.args[1], &step.out);
    let a = axis(step)?;
    let id = index_type(step)?;
    let len = x.ty.shape[a];
    let d = x.ty.elem.storage();
    let esz = elem_size(d);
    let (mut xs, is, ys) = (strides(&x.ty), strides(&ind.ty), strides(&y.ty));
    let xa = xs[a];
    xs[a] = 0;
    let f = em.kernel(name, Linkage::Local, |k| {
        if y.ty.numel() == 0 {
            return Ok(());
        }
        let (xb, ib, yb) = (k.base(x.loc), k.base(ind.loc), k.base(y.loc));
        split_each(k, &y.ty.shape, &memory_order(&y.ty), &mut |k, idx| {
            let ia = address(k, ib, idx, &is, elem_size(id));
            let j = index_at(k, id, ia, len);
            let row = address(k, xb, idx, &xs, esz);
            let src = k.at(row, j, xa * esz, 0);
            let v = load_code(k, d, src);
            let dst = address(k, yb, idx, &ys, esz);
            store_code(k, d, v, dst);
            Ok(())
        })
    })?;
    Ok((f, 0))
}

/// `x` repeated to the result's shape (numpy broadcasting).
pub fn expand(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    check_held(step)?;
    let f = super::elementwise::map(em, name, &[&step.args[0]], &step.out, |_, v, _| Ok(v[0]))?;
    Ok((f, 0))
}

/// The i64 index along `axis` of each lane's largest (arg_max) or smallest (arg_min) element,
/// as `runtime::ops::arg_extreme`: a lane is scanned from its start, an element replaces the
/// running extreme when strictly beyond it (IEEE: never a NaN, which thus wins only as the
/// first element), or, with `select_last_index`, also when equal.
pub fn arg_extreme(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    check_held(step)?;
    let (x, y) = (&step.args[0], &step.out);
    let a = axis(step)?;
    let keepdims = step.op.bool_of("keepdims").map_err(Error::msg)?;
    let last = step.op.bool_of("select_last_index").map_err(Error::msg)?;
    let max = step.op.kind == OpKind::ArgMax;
    let d = x.ty.elem.storage();
    if y.ty.elem.storage() != DType::I64 || x.ty.elem.quant().is_some() {
        return Err(Error::msg(format!(
            "{} of {} into {}: plain values in, i64 out",
            step.op.kind.name(),
            x.ty,
            y.ty
        )));
    }
    let n = x.ty.shape[a] as i64;
    let esz = elem_size(d);
    let (xs, ys) = (strides(&x.ty), strides(&y.ty));
    // The lanes: x's shape with the axis at 1, looped in x's memory order.
    let mut lanes = x.ty.shape.clone();
    lanes[a] = 1;
    let f = em.kernel(name, Linkage::Local, |k| {
        if x.ty.numel() == 0 {
            return Ok(());
        }
        let (xb, yb) = (k.base(x.loc), k.base(y.loc));
        split_each(k, &lanes, &memory_order(&x.ty), &mut |k, idx| {
            let start = address(k, xb, idx, &xs, esz);
            let first = load_code(k, d, start);
            let ty = k.b.func.dfg.value_type(first);
            let zero = k.i64(0);
            let best_i = k.var(types::I64, zero);
            let best_v = k.var(ty, first);
            k.for_range(1, n, 1, |k, i| {
                let at = k.at(start, i, xs[a] * esz, 0);
                let v = load_code(k, d, at);
                let b = k.b.use_var(best_v);
                let better = if d == DType::F32 {
                    let cc = match (max, last) {
                        (true, false) => FloatCC::GreaterThan,
                        (true, true) => FloatCC::GreaterThanOrEqual,
                        (false, false) => FloatCC::LessThan,
                        (false, true) => FloatCC::LessThanOrEqual,
                    };
                    k.b.ins().fcmp(cc, v, b)
                } else {
                    let cc = match (max, last) {
                        (true, false) => IntCC::SignedGreaterThan,
                        (true, true) => IntCC::SignedGreaterThanOrEqual,
                        (false, false) => IntCC::SignedLessThan,
                        (false, true) => IntCC::SignedLessThanOrEqual,
                    };
                    k.b.ins().icmp(cc, v, b)
                };
                let bi = k.b.use_var(best_i);
                let ni = k.b.ins().select(better, i, bi);
                let nv = k.b.ins().select(better, v, b);
                k.b.def_var(best_i, ni);
                k.b.def_var(best_v, nv);
                Ok(())
            })?;
            // The result's index: the lane's with the axis dropped unless kept.
            let out_idx: Vec<Value> = if keepdims {
                idx.to_vec()
            } else {
                idx.iter()
                    .enumerate()
                    .filter(|&(i, _)| i != a)
                    .map(|(_, &v)| v)
                    .collect()
            };
            let dst = address(k, yb, &out_idx, &ys, 8);
            let bi = k.b.use_var(best_i);
            k.b.ins().store(mem(), bi, dst, 0);
            Ok(())
        })
    })?;
    Ok((f, 0))
}
