//! The float kernel of the `unary` op in an integer graph: each function of
//! runtime::ops::UNARY_FNS in CLIF, operation for operation in the order its definition there
//! writes (docs/ir.md, `unary`), calling the same C-library functions, so a library matches the
//! interpreter bit for bit. (Between a dequantize and a quantize a `unary` is a `lut` instead.)

use crate::backend::emit::{mem, Emitter, K};
use crate::backend::Step;
use crate::diag::{Error, Result};
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{types, InstBuilder, Value};
use cranelift_module::{FuncId, Linkage};
use runtime::ops::UnaryFn;
use runtime::DType;

pub fn emit(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    let (x, y) = (&step.args[0], &step.out);
    for o in [x, y] {
        if o.ty.elem.storage() != DType::F32 {
            return Err(Error::msg(format!(
                "unary on {} has no kernel (only f32)",
                o.ty
            )));
        }
    }
    let (f, p) = crate::ir::infer::unary_fn(&step.op).map_err(Error::msg)?;
    let n = x.ty.numel();
    let id = em.kernel(name, Linkage::Local, |k| {
        let (xb, yb) = (k.base(x.loc), k.base(y.loc));
        k.for_range(0, n as i64, 1, |k, i| {
            let xa = k.at(xb, i, 4, 0);
            let v = k.b.ins().load(types::F32, mem(), xa, 0);
            let r = eval(k, f, &p, v)?;
            // The canonical NaN, as runtime::ops::UnaryFn::eval gives.
            let nan = c(k, f32::NAN);
            let r = pick(k, FloatCC::Unordered, r, r, nan, r);
            let ya = k.at(yb, i, 4, 0);
            k.b.ins().store(mem(), r, ya, 0);
            Ok(())
        })
    })?;
    Ok((id, 0))
}

fn c(k: &mut K, v: f32) -> Value {
    k.b.ins().f32const(v)
}

/// `cond ? a : b` on a float comparison.
fn pick(k: &mut K, cc: FloatCC, l: Value, r: Value, a: Value, b: Value) -> Value {
    let t = k.b.ins().fcmp(cc, l, r);
    k.b.ins().select(t, a, b)
}

/// `x > 0 ? x + log1pf(expf(−x)) : log1pf(expf(x))`, both sides computed (no calls skipped
/// changes no result).
fn softplus(k: &mut K, x: Value) -> Result<Value> {
    let nx = k.b.ins().fneg(x);
    let en = k.expf(nx)?;
    let ln = k.libm(en, "log1pf", &[])?;
    let pos = k.b.ins().fadd(x, ln);
    let ep = k.expf(x)?;
    let neg = k.libm(ep, "log1pf", &[])?;
    let z = c(k, 0.0);
    Ok(pick(k, FloatCC::GreaterThan, x, z, pos, neg))
}

fn eval(k: &mut K, f: UnaryFn, p: &[f32], x: Value) -> Result<Value> {
    use UnaryFn::*;
    Ok(match f {
        Tanh => k.libm(x, "tanhf", &[])?,
        Exp => k.expf(x)?,
        Log => k.libm(x, "logf", &[])?,
        Sqrt => k.b.ins().sqrt(x),
        Reciprocal => {
            let one = c(k, 1.0);
            k.b.ins().fdiv(one, x)
        }
        Neg => k.b.ins().fneg(x),
        Abs => k.b.ins().fabs(x),
        Erf => k.libm(x, "erff", &[])?,
        Gelu => {
            let (h, r) = (c(k, 0.5), c(k, std::f32::consts::FRAC_1_SQRT_2));
            let xh = k.b.ins().fmul(x, h);
            let xr = k.b.ins().fmul(x, r);
            let e = k.libm(xr, "erff", &[])?;
            let one = c(k, 1.0);
            let s = k.b.ins().fadd(one, e);
            k.b.ins().fmul(xh, s)
        }
        GeluTanh => {
            let (h, kk, a) = (c(k, 0.5), c(k, 0.797_884_6), c(k, 0.044_715));
            let xh = k.b.ins().fmul(x, h);
            let x2 = k.b.ins().fmul(x, x);
            let x3 = k.b.ins().fmul(x2, x);
            let t = k.b.ins().fmul(a, x3);
            let t = k.b.ins().fadd(x, t);
            let t = k.b.ins().fmul(kk, t);
            let t = k.libm(t, "tanhf", &[])?;
            let one = c(k, 1.0);
            let s = k.b.ins().fadd(one, t);
            k.b.ins().fmul(xh, s)
        }
        Softplus => softplus(k, x)?,
        Softsign => {
            let a = k.b.ins().fabs(x);
            let one = c(k, 1.0);
            let d = k.b.ins().fadd(one, a);
            k.b.ins().fdiv(x, d)
        }
        Elu => {
            let e = k.expf(x)?;
            let one = c(k, 1.0);
            let e = k.b.ins().fsub(e, one);
            let a = c(k, p[0]);
            let neg = k.b.ins().fmul(a, e);
            let z = c(k, 0.0);
            pick(k, FloatCC::LessThan, x, z, neg, x)
        }
        Selu => {
            let (a, g) = (c(k, p[0]), c(k, p[1]));
            let pos = k.b.ins().fmul(g, x);
            let e = k.expf(x)?;
            let ae = k.b.ins().fmul(a, e);
            let d = k.b.ins().fsub(ae, a);
            let neg = k.b.ins().fmul(g, d);
            let z = c(k, 0.0);
            pick(k, FloatCC::GreaterThan, x, z, pos, neg)
        }
        Celu => {
            let a = c(k, p[0]);
            let q = k.b.ins().fdiv(x, a);
            let e = k.expf(q)?;
            let one = c(k, 1.0);
            let e = k.b.ins().fsub(e, one);
            let t = k.b.ins().fmul(a, e);
            let z = c(k, 0.0);
            // max0 keeps NaN (x < 0 ? 0 : x), min0 too (t > 0 ? 0 : t).
            let lo = pick(k, FloatCC::LessThan, x, z, z, x);
            let hi = pick(k, FloatCC::GreaterThan, t, z, z, t);
            k.b.ins().fadd(lo, hi)
        }
        ThresholdedRelu => {
            let (a, z) = (c(k, p[0]), c(k, 0.0));
            // x > alpha, or x is NaN: x.
            pick(k, FloatCC::UnorderedOrGreaterThan, x, a, x, z)
        }
        Sin => k.libm(x, "sinf", &[])?,
        Cos => k.libm(x, "cosf", &[])?,
        Tan => k.libm(x, "tanf", &[])?,
        Asin => k.libm(x, "asinf", &[])?,
        Acos => k.libm(x, "acosf", &[])?,
        Atan => k.libm(x, "atanf", &[])?,
        Sinh => k.libm(x, "sinhf", &[])?,
        Cosh => k.libm(x, "coshf", &[])?,
        Asinh => k.libm(x, "asinhf", &[])?,
        Acosh => k.libm(x, "acoshf", &[])?,
        Atanh => k.libm(x, "atanhf", &[])?,
        Shrink => {
            let (l, b, z) = (c(k, p[0]), c(k, p[1]), c(k, 0.0));
            let nl = c(k, -p[0]);
            let up = k.b.ins().fadd(x, b);
            let down = k.b.ins().fsub(x, b);
            // x > lambd ? x − bias : 0, then x < −lambd overrides (NaN: 0).
            let hi = pick(k, FloatCC::GreaterThan, x, l, down, z);
            pick(k, FloatCC::LessThan, x, nl, up, hi)
        }
        Swish => {
            let a = c(k, p[0]);
            let ax = k.b.ins().fmul(a, x);
            let nx = k.b.ins().fneg(ax);
            let e = k.expf(nx)?;
            let one = c(k, 1.0);
            let d = k.b.ins().fadd(one, e);
            let s = k.b.ins().fdiv(one, d);
            k.b.ins().fmul(x, s)
        }
        Floor => k.b.ins().floor(x),
        Ceil => k.b.ins().ceil(x),
        Round => k.b.ins().nearest(x),
        Sign => {
            let (z, one, m1) = (c(k, 0.0), c(k, 1.0), c(k, -1.0));
            let x0 = k.b.ins().fmul(x, z);
            let lt = pick(k, FloatCC::LessThan, x, z, m1, x0);
            pick(k, FloatCC::GreaterThan, x, z, one, lt)
        }
        Mish => {
            let s = softplus(k, x)?;
            let t = k.libm(s, "tanhf", &[])?;
            k.b.ins().fmul(x, t)
        }
        Silu => {
            let nx = k.b.ins().fneg(x);
            let e = k.expf(nx)?;
            let one = c(k, 1.0);
            let d = k.b.ins().fadd(one, e);
            let s = k.b.ins().fdiv(one, d);
            k.b.ins().fmul(x, s)
        }
        Pow => {
            let e = c(k, p[0]);
            k.libm(x, "powf", &[e])?
        }
    })
}
