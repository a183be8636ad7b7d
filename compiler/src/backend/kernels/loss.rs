//! nll_loss (ONNX NegativeLogLikelihoodLoss) as `runtime::ops::nll_loss` computes it: targets in
//! row-major order, each loss `(−x[n, t, d…])·w_t` in f32, the sums of losses and weights in f64
//! in that order, one rounding at the end. One work unit: the sums are never split.
//!
//! A target outside `[0, C)` that is not `ignore_index`, which the interpreter refuses, is
//! clamped to the nearest class (a library has no error for data), so nothing outside `x` or
//! the weights is read.

use super::plain::check_held;
use crate::backend::emit::{mem, Emitter};
use crate::backend::layout::{address, elem_size, for_each, strides};
use crate::backend::Step;
use crate::diag::{Error, Result};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, InstBuilder};
use cranelift_module::{FuncId, Linkage};
use runtime::ops::LossReduction;
use runtime::DType;

pub fn nll_loss(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    check_held(step)?;
    let (x, t, y) = (&step.args[0], &step.args[1], &step.out);
    let w = step.args.get(2);
    let r = crate::ir::loss::reduction(&step.op).map_err(Error::msg)?;
    // Optional, with no default: absent means no target is ignored.
    let ignore = step.op.int("ignore_index");
    let td = t.ty.elem.storage();
    if x.ty.elem.storage() != DType::F32
        || !matches!(td, DType::I64 | DType::I32 | DType::I8 | DType::U8)
    {
        return Err(Error::msg(format!(
            "nll_loss of {} by targets {}: f32 scores, i64/i32/i8/u8 targets",
            x.ty, t.ty
        )));
    }
    let c = x.ty.shape[1] as i64;
    let (xs, ts, ys) = (strides(&x.ty), strides(&t.ty), strides(&y.ty));
    let order: Vec<usize> = (0..t.ty.rank()).collect();
    let f = em.kernel(name, Linkage::Local, |k| {
        let (xb, tb, yb) = (k.base(x.loc), k.base(t.loc), k.base(y.loc));
        let wb = w.map(|w| k.base(w.loc));
        let zero64 = k.b.ins().f64const(0.0);
        let sum = k.var(types::F64, zero64);
        let weights = k.var(types::F64, zero64);
        for_each(k, &t.ty.shape, &order, &mut |k, idx| {
            let ta = address(k, tb, idx, &ts, elem_size(td));
            let tv = match td {
                DType::I64 => k.b.ins().load(types::I64, mem(), ta, 0),
                DType::I32 => k.b.ins().sload32(mem(), ta, 0),
                DType::I8 => k.b.ins().sload8(types::I64, mem(), ta, 0),
                _ => k.b.ins().uload8(types::I64, mem(), ta, 0),
            };
            let ignored = match ignore {
                Some(v) => k.b.ins().icmp_imm_s(IntCC::Equal, tv, v),
                None => k.b.ins().iconst(types::I8, 0),
            };
            let lo = k.i64(0);
            let hi = k.i64(c - 1);
            let class = k.b.ins().smax(tv, lo);
            let class = k.b.ins().smin(class, hi);
            // x[n, class, d…]: the target's axis 0 is x's, its others are x's from axis 2.
            let xa = address(k, xb, &idx[..1], &xs[..1], 4);
            let xa = address(k, xa, &idx[1..], &xs[2..], 4);
            let xa = k.at(xa, class, xs[1] * 4, 0);
            let xv = k.b.ins().load(types::F32, mem(), xa, 0);
            let wv = match wb {
                Some(wb) => {
                    let a = k.at(wb, class, 4, 0);
                    k.b.ins().load(types::F32, mem(), a, 0)
                }
                None => k.b.ins().f32const(1.0),
            };
            let neg = k.b.ins().fneg(xv);
            let loss = k.b.ins().fmul(neg, wv);
            if r == LossReduction::None {
                let zero = k.b.ins().f32const(0.0);
                let v = k.b.ins().select(ignored, zero, loss);
                let ya = address(k, yb, idx, &ys, 4);
                k.b.ins().store(mem(), v, ya, 0);
                return Ok(());
            }
            for (acc, v) in [(sum, loss), (weights, wv)] {
                let s = k.b.use_var(acc);
                let v = k.b.ins().fpromote(types::F64, v);
                let added = k.b.ins().fadd(s, v);
                let s = k.b.ins().select(ignored, s, added);
                k.b.def_var(acc, s);
            }
            Ok(())
        })?;
        let total = k.b.use_var(sum);
        let v = match r {
            LossReduction::None => return Ok(()),
            LossReduction::Sum => total,
            LossReduction::Mean => {
                let ws = k.b.use_var(weights);
                k.b.ins().fdiv(total, ws)
            }
        };
        let v = k.b.ins().fdemote(types::F32, v);
        k.b.ins().store(mem(), v, yb, 0);
        Ok(())
    })?;
    Ok((f, 0))
}
