//! qmatmul: the integer matrix product of two activations, `Σ_k (a − Z_a)·(b − Z_b)` in i32 per
//! result element, `k` ascending and wrapping, requantized once, exactly as
//! `runtime::qops::qmatmul` computes it. Batch axes broadcast through zero strides; every operand
//! is read through its layout's strides, so channels-last rank-4 codes need no copy.

use super::boundary::{load_code, store_code};
use super::elementwise::check_range;
use super::fixed::{finish, multiply, Pair};
use super::{int, ints, zp_scale};
use crate::backend::emit::{Emitter, K};
use crate::backend::layout::{address, broadcast_strides, memory_order, split_each, strides};
use crate::backend::{Operand, Step};
use crate::diag::{Error, Result};
use cranelift_codegen::ir::{types, InstBuilder};
use cranelift_module::{FuncId, Linkage};
use runtime::DType;

/// Each operand's element strides over the result's axes: its batch axes broadcast to the
/// result's, then `row` for the result's row axis and `col` for its column axis.
fn over_result(x: &Operand, batch: &[usize], row: i64, col: i64) -> Vec<i64> {
    let (shape, st) = (&x.ty.shape, strides(&x.ty));
    let r = shape.len();
    let mut v = broadcast_strides(&shape[..r - 2], &st[..r - 2], batch);
    v.extend([row, col]);
    v
}

pub fn qmatmul(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    let (a, b, y) = (&step.args[0], &step.args[1], &step.out);
    let ((_, za), (_, zb), (_, zy)) = (
        zp_scale(&a.ty, "operand a")?,
        zp_scale(&b.ty, "operand b")?,
        zp_scale(&y.ty, "the result")?,
    );
    for (o, what) in [(a, "operand a"), (b, "operand b"), (y, "the result")] {
        if o.ty.elem.storage() != DType::U8 || o.ty.rank() < 2 {
            return Err(Error::msg(format!(
                "qmatmul: {what} is {}; the kernel takes u8 codes of rank ≥ 2",
                o.ty
            )));
        }
    }
    let (m, s) = (ints(&step.op, "multiplier")?, ints(&step.op, "shift")?);
    let (lo, hi) = (int(&step.op, "lo")?, int(&step.op, "hi")?);
    check_range("qmatmul", lo, hi, DType::U8)?;
    let pair = Pair::Const(m[0], s[0]);
    let (ra, rb, ry) = (a.ty.rank(), b.ty.rank(), y.ty.rank());
    let kk = a.ty.shape[ra - 1];
    let (sa, sb) = (strides(&a.ty), strides(&b.ty));
    let batch = &y.ty.shape[..ry - 2];
    let a_over_y = over_result(a, batch, sa[ra - 2], 0);
    let b_over_y = over_result(b, batch, 0, sb[rb - 1]);
    let (a_k, b_k) = (sa[ra - 1], sb[rb - 2]);
    let ys = strides(&y.ty);
    let order = memory_order(&y.ty);
    let f = em.kernel(name, Linkage::Local, |k| {
        let (ab, bb, yb) = (k.base(a.loc), k.base(b.loc), k.base(y.loc));
        split_each(k, &y.ty.shape, &order, &mut |k: &mut K, idx| {
            let a0 = address(k, ab, idx, &a_over_y, 1);
            let b0 = address(k, bb, idx, &b_over_y, 1);
            let zero = k.i32(0);
            let acc = k.var(types::I32, zero);
            k.for_range(0, kk as i64, 1, |k, p| {
                let xa = k.at(a0, p, a_k, 0);
                let x = load_code(k, DType::U8, xa);
                let wa = k.at(b0, p, b_k, 0);
                let w = load_code(k, DType::U8, wa);
                let dx = k.b.ins().iadd_imm_s(x, -i64::from(za));
                let dw = k.b.ins().iadd_imm_s(w, -i64::from(zb));
                let prod = k.b.ins().imul(dx, dw);
                let sum = k.b.use_var(acc);
                let sum = k.b.ins().iadd(sum, prod);
                k.b.def_var(acc, sum);
                Ok(())
            })?;
            let sum = k.b.use_var(acc);
            let r = multiply(k, sum, pair);
            let v = finish(k, r, zy, lo, hi);
            let at = address(k, yb, idx, &ys, 1);
            store_code(k, DType::U8, v, at);
            Ok(())
        })
    })?;
    Ok((f, 0))
}
