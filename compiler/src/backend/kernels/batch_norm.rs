//! A float `batch_norm` left in an integer graph (one the simplifier rightly did not fold, such as
//! a BatchNorm on the model's input before a padded convolution: issue 15, finding 11). Each
//! element is `(x − mean) / √(var + ε) · γ + β` in exactly `runtime::ops::batch_norm`'s order,
//! one IEEE operation at a time (Cranelift never contracts into an FMA; `sqrt` is correctly
//! rounded on both sides), so the library equals the interpreter bit for bit.

use super::float::f32_only;
use crate::backend::emit::{mem, Emitter};
use crate::backend::layout::{address, for_each, memory_order, strides};
use crate::backend::Step;
use crate::diag::{Error, Result};
use cranelift_codegen::ir::{types, InstBuilder};
use cranelift_module::{FuncId, Linkage};

pub fn emit(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    f32_only(step)?;
    let (x, y) = (&step.args[0], &step.out);
    let c = x.ty.shape.get(1).copied().unwrap_or(0);
    if x.ty.rank() < 2 || step.args[1..].iter().any(|p| p.ty.numel() != c) {
        return Err(Error::msg(format!(
            "batch_norm on {} needs one γ, β, mean and variance per channel (axis 1)",
            x.ty
        )));
    }
    // `Op::new` filled in the schema's default: a missing epsilon is a malformed op.
    let eps = step
        .op
        .float("epsilon")
        .ok_or_else(|| Error::msg("batch_norm without an epsilon"))?;
    let (xs, ys) = (strides(&x.ty), strides(&y.ty));
    let f = em.kernel(name, Linkage::Local, |k| {
        let (xb, yb) = (k.base(x.loc), k.base(y.loc));
        // γ, β, mean, variance: row-major [C] f32 (weights become tables laid out so).
        let params: Vec<_> = step.args[1..5].iter().map(|p| k.base(p.loc)).collect();
        let eps = k.b.ins().f32const(eps);
        for_each(k, &x.ty.shape, &memory_order(&x.ty), &mut |k, idx| {
            let at = |k: &mut crate::backend::emit::K, base| k.at(base, idx[1], 4, 0);
            let p: Vec<_> = params
                .iter()
                .map(|&base| {
                    let a = at(k, base);
                    k.b.ins().load(types::F32, mem(), a, 0)
                })
                .collect();
            let (gamma, beta, mean, var) = (p[0], p[1], p[2], p[3]);
            let xa = address(k, xb, idx, &xs, 4);
            let v = k.b.ins().load(types::F32, mem(), xa, 0);
            let veps = k.b.ins().fadd(var, eps);
            let denom = k.b.ins().sqrt(veps);
            let centred = k.b.ins().fsub(v, mean);
            let scaled = k.b.ins().fdiv(centred, denom);
            let times = k.b.ins().fmul(scaled, gamma);
            let out = k.b.ins().fadd(times, beta);
            let ya = address(k, yb, idx, &ys, 4);
            k.b.ins().store(mem(), out, ya, 0);
            Ok(())
        })
    })?;
    Ok((f, 0))
}
