//! The reductions among the strict-float kernels: `reduce_mean`/`global_avg_pool`, `reduce`
//! (every function, and max/min of codes in either layout) and `normalize`, each in the order
//! `runtime::ops` computes it (f64 sums in row-major order of the group, one rounding).

use super::boundary::{load_code, store_code};
use super::lanes::LANES;
use super::strict::load;
use crate::backend::emit::{mem, Emitter, K};
use crate::backend::layout::{address, elem_size, for_each, strides, strides_of};
use crate::backend::Step;
use crate::diag::{Error, Result};
use crate::ir::op::OpKind;
use crate::ir::types::TensorType;
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{types, InstBuilder, Value};
use cranelift_module::{FuncId, Linkage};
use runtime::DType;

/// Where each output's group of reduced elements lies: the kept axes (row-major order of the
/// result) and the reduced ones (row-major order of the group), as shapes and input strides.
struct Groups {
    kept_shape: Vec<usize>,
    kept_strides: Vec<i64>,
    gone_shape: Vec<usize>,
    gone_strides: Vec<i64>,
    out_strides: Vec<i64>,
}

impl Groups {
    /// `axes` as written (negative from the end); none means every axis. Both sides row-major
    /// (f32) unless `layout` gives the operand's and the result's types (codes may be
    /// channels-last).
    fn new(shape: &[usize], axes: &[i64]) -> Groups {
        Self::with_layout(shape, axes, None)
    }

    fn with_layout(
        shape: &[usize],
        axes: &[i64],
        layout: Option<(&TensorType, &TensorType)>,
    ) -> Groups {
        let rank = shape.len();
        let mut gone: Vec<usize> = if axes.is_empty() {
            (0..rank).collect()
        } else {
            axes.iter()
                .map(|&a| if a < 0 { a + rank as i64 } else { a } as usize)
                .collect()
        };
        gone.sort_unstable();
        let kept: Vec<usize> = (0..rank).filter(|a| !gone.contains(a)).collect();
        let kept_shape: Vec<usize> = kept.iter().map(|&a| shape[a]).collect();
        let (xs, out_strides) = match layout {
            None => (strides_of(shape, false), strides_of(&kept_shape, false)),
            Some((x, y)) => {
                let ys = strides(y);
                // With keepdims the result has every axis (the reduced ones of length 1).
                let out = if y.rank() == rank {
                    kept.iter().map(|&a| ys[a]).collect()
                } else {
                    ys
                };
                (strides(x), out)
            }
        };
        Groups {
            kept_strides: kept.iter().map(|&a| xs[a]).collect(),
            gone_shape: gone.iter().map(|&a| shape[a]).collect(),
            gone_strides: gone.iter().map(|&a| xs[a]).collect(),
            out_strides,
            kept_shape,
        }
    }

    fn count(&self) -> usize {
        self.gone_shape.iter().product()
    }

    /// Emits a kernel storing `group(k, first element's address)` at each output element.
    fn kernel(
        &self,
        em: &mut Emitter,
        name: &str,
        step: &Step,
        group: &mut dyn FnMut(&mut K, Value, &Groups) -> Result<Value>,
    ) -> Result<FuncId> {
        let (x, y) = (&step.args[0], &step.out);
        let (xe, ye) = (
            elem_size(x.ty.elem.storage()),
            elem_size(y.ty.elem.storage()),
        );
        em.kernel(name, Linkage::Local, |k| {
            let (xb, yb) = (k.base(x.loc), k.base(y.loc));
            let korder: Vec<usize> = (0..self.kept_shape.len()).collect();
            for_each(k, &self.kept_shape, &korder, &mut |k, kidx| {
                let at = address(k, xb, kidx, &self.kept_strides, xe);
                let v = group(k, at, self)?;
                let ya = address(k, yb, kidx, &self.out_strides, ye);
                store_code(k, y.ty.elem.storage(), v, ya);
                Ok(())
            })
        })
    }

    /// Folds `f(acc, element)` over one group in row-major order, from `init`.
    fn fold(
        &self,
        k: &mut K,
        at: Value,
        init: Value,
        ty: cranelift_codegen::ir::Type,
        f: &mut dyn FnMut(&mut K, Value, Value) -> Result<Value>,
    ) -> Result<Value> {
        self.fold_of(k, DType::F32, at, init, ty, f)
    }

    /// [`Groups::fold`] over elements of type `d` (codes are handed over as i32).
    fn fold_of(
        &self,
        k: &mut K,
        d: DType,
        at: Value,
        init: Value,
        ty: cranelift_codegen::ir::Type,
        f: &mut dyn FnMut(&mut K, Value, Value) -> Result<Value>,
    ) -> Result<Value> {
        let acc = k.var(ty, init);
        let gorder: Vec<usize> = (0..self.gone_shape.len()).collect();
        for_each(k, &self.gone_shape, &gorder, &mut |k, gidx| {
            let a = address(k, at, gidx, &self.gone_strides, elem_size(d));
            let v = load_code(k, d, a);
            let cur = k.b.use_var(acc);
            let next = f(k, cur, v)?;
            k.b.def_var(acc, next);
            Ok(())
        })?;
        Ok(k.b.use_var(acc))
    }
}

/// reduce_mean and global_avg_pool: each value widened to f64, summed from −0.0 (as Rust's
/// `Sum` starts) in row-major order of the reduced elements, divided in f64, rounded once.
pub(super) fn mean(em: &mut Emitter, name: &str, step: &Step) -> Result<FuncId> {
    let x = &step.args[0];
    let axes: Vec<i64> = if step.op.kind == OpKind::GlobalAvgPool {
        (2..x.ty.rank() as i64).collect()
    } else {
        step.op.ints_of("axes").map_err(Error::msg)?
    };
    let g = Groups::new(&x.ty.shape, &axes);
    let count = g.count();
    g.kernel(em, name, step, &mut |k, at, g| {
        let z = k.b.ins().f64const(-0.0);
        let sum = g.fold(k, at, z, types::F64, &mut |k, acc, v| {
            let v = k.b.ins().fpromote(types::F64, v);
            Ok(k.b.ins().fadd(acc, v))
        })?;
        let cnt = k.b.ins().f64const(count as f64);
        let m = k.b.ins().fdiv(sum, cnt);
        Ok(k.b.ins().fdemote(types::F32, m))
    })
}

/// `reduce`, in `runtime::ops::reduce_group`'s order: f64 sums from −0.0 rounded once (`l2`
/// after an f64 square root, `log_sum` then `logf`), an f64 product from 1, NaN-propagating
/// max/min, and log_sum_exp as `m + logf(Σ expf(x − m))` with the expf results summed in f64.
pub(super) fn reduce(em: &mut Emitter, name: &str, step: &Step) -> Result<FuncId> {
    use runtime::ops::ReduceFn as F;
    let f = crate::ir::infer::reduce_fn(&step.op).map_err(Error::msg)?;
    let x = &step.args[0];
    let d = x.ty.elem.storage();
    if d != DType::F32 {
        // Max/min of codes (the verifier allows no other reduce of them), in each layout.
        let g = Groups::with_layout(
            &x.ty.shape,
            &step.op.ints_of("axes").map_err(Error::msg)?,
            Some((&x.ty, &step.out.ty)),
        );
        let (lo, hi) = runtime::qops::qrange(d);
        let run = g.gone_shape.iter().product::<usize>();
        if g.gone_strides == [1] && run >= LANES && matches!(d, DType::U8 | DType::I8) {
            return g.kernel(em, name, step, &mut |k, at, _| {
                max_min_run(k, d, f == F::Max, at, run)
            });
        }
        return g.kernel(em, name, step, &mut |k, at, g| {
            let init = k.i32(if f == F::Max { lo } else { hi });
            g.fold_of(k, d, at, init, types::I32, &mut |k, acc, v| {
                Ok(if f == F::Max {
                    k.b.ins().smax(acc, v)
                } else {
                    k.b.ins().smin(acc, v)
                })
            })
        });
    }
    let g = Groups::new(&x.ty.shape, &step.op.ints_of("axes").map_err(Error::msg)?);
    g.kernel(em, name, step, &mut |k, at, g| {
        let y = reduce_group(k, f, at, g)?;
        // A NaN result is the canonical quiet NaN, as `runtime::ops::reduce_group` gives it.
        let nan = k.b.ins().fcmp(FloatCC::Unordered, y, y);
        let canonical = k.b.ins().f32const(f32::NAN);
        Ok(k.b.ins().select(nan, canonical, y))
    })
}

/// The max (or min) of `len` contiguous byte codes of type `d` at `at`, as an i32: 16 lanes at
/// a time, the lanes then folded one by one, the last `len % 16` codes one by one. Max and min
/// are exact whatever the order.
fn max_min_run(k: &mut K, d: DType, max: bool, at: Value, len: usize) -> Result<Value> {
    let signed = d == DType::I8;
    let pick = |k: &mut K, a: Value, b: Value| match (max, signed) {
        (true, true) => k.b.ins().smax(a, b),
        (true, false) => k.b.ins().umax(a, b),
        (false, true) => k.b.ins().smin(a, b),
        (false, false) => k.b.ins().umin(a, b),
    };
    let first = k.b.ins().load(types::I8X16, mem(), at, 0);
    let acc = k.var(types::I8X16, first);
    let whole = (len / LANES * LANES) as i64;
    k.for_range(LANES as i64, whole, LANES as i64, |k, j| {
        let a = k.at(at, j, 1, 0);
        let v = k.b.ins().load(types::I8X16, mem(), a, 0);
        let cur = k.b.use_var(acc);
        let next = pick(k, cur, v);
        k.b.def_var(acc, next);
        Ok(())
    })?;
    let lanes = k.b.use_var(acc);
    let widen = |k: &mut K, b: Value| {
        if signed {
            k.b.ins().sextend(types::I32, b)
        } else {
            k.b.ins().uextend(types::I32, b)
        }
    };
    let b0 = k.b.ins().extractlane(lanes, 0);
    let mut m = widen(k, b0);
    for lane in 1..LANES as u8 {
        let b = k.b.ins().extractlane(lanes, lane);
        let v = widen(k, b);
        m = if max {
            k.b.ins().smax(m, v)
        } else {
            k.b.ins().smin(m, v)
        };
    }
    let out = k.var(types::I32, m);
    k.for_range(whole, len as i64, 1, |k, j| {
        let a = k.at(at, j, 1, 0);
        let v = load_code(k, d, a);
        let cur = k.b.use_var(out);
        let next = if max {
            k.b.ins().smax(cur, v)
        } else {
            k.b.ins().smin(cur, v)
        };
        k.b.def_var(out, next);
        Ok(())
    })?;
    Ok(k.b.use_var(out))
}

/// One f32 output of `reduce` from the group at `at`.
fn reduce_group(k: &mut K, f: runtime::ops::ReduceFn, at: Value, g: &Groups) -> Result<Value> {
    use runtime::ops::ReduceFn as F;
    let sum = |k: &mut K, term: &dyn Fn(&mut K, Value) -> Value| -> Result<Value> {
        let z = k.b.ins().f64const(-0.0);
        g.fold(k, at, z, types::F64, &mut |k, acc, v| {
            let v = k.b.ins().fpromote(types::F64, v);
            let t = term(k, v);
            Ok(k.b.ins().fadd(acc, t))
        })
    };
    let square = |k: &mut K, v: Value| k.b.ins().fmul(v, v);
    Ok(match f {
        F::Sum | F::LogSum => {
            let s = sum(k, &|_, v| v)?;
            let s = k.b.ins().fdemote(types::F32, s);
            if f == F::LogSum {
                k.libm(s, "logf", &[])?
            } else {
                s
            }
        }
        F::SumSquare => {
            let s = sum(k, &square)?;
            k.b.ins().fdemote(types::F32, s)
        }
        F::L1 => {
            let s = sum(k, &|k, v| k.b.ins().fabs(v))?;
            k.b.ins().fdemote(types::F32, s)
        }
        F::L2 => {
            let s = sum(k, &square)?;
            let r = k.b.ins().sqrt(s);
            k.b.ins().fdemote(types::F32, r)
        }
        F::Prod => {
            let one = k.b.ins().f64const(1.0);
            let p = g.fold(k, at, one, types::F64, &mut |k, acc, v| {
                let v = k.b.ins().fpromote(types::F64, v);
                Ok(k.b.ins().fmul(acc, v))
            })?;
            k.b.ins().fdemote(types::F32, p)
        }
        F::Max | F::Min => {
            let (init, cc) = if f == F::Max {
                (f32::NEG_INFINITY, FloatCC::GreaterThan)
            } else {
                (f32::INFINITY, FloatCC::LessThan)
            };
            let init = k.b.ins().f32const(init);
            g.fold(k, at, init, types::F32, &mut |k, acc, v| {
                // A NaN element is taken and then kept: no comparison with it holds.
                let better = k.b.ins().fcmp(cc, v, acc);
                let nan = k.b.ins().fcmp(FloatCC::Unordered, v, v);
                let take = k.b.ins().bor(better, nan);
                Ok(k.b.ins().select(take, v, acc))
            })?
        }
        F::LogSumExp => {
            let ninf = k.b.ins().f32const(f32::NEG_INFINITY);
            let m = g.fold(k, at, ninf, types::F32, &mut |k, acc, v| {
                let gt = k.b.ins().fcmp(FloatCC::GreaterThan, v, acc);
                let acc_nan = k.b.ins().fcmp(FloatCC::Unordered, acc, acc);
                let take = k.b.ins().bor(gt, acc_nan);
                Ok(k.b.ins().select(take, v, acc))
            })?;
            // An infinite maximum is replaced by 0 (so all −∞ gives ln 0 = −∞).
            let abs = k.b.ins().fabs(m);
            let inf = k.b.ins().f32const(f32::INFINITY);
            let is_inf = k.b.ins().fcmp(FloatCC::Equal, abs, inf);
            let zero = k.b.ins().f32const(0.0);
            let m = k.b.ins().select(is_inf, zero, m);
            let z = k.b.ins().f64const(-0.0);
            let s = g.fold(k, at, z, types::F64, &mut |k, acc, v| {
                let d = k.b.ins().fsub(v, m);
                let e = k.expf(d)?;
                let e = k.b.ins().fpromote(types::F64, e);
                Ok(k.b.ins().fadd(acc, e))
            })?;
            let s = k.b.ins().fdemote(types::F32, s);
            let l = k.libm(s, "logf", &[])?;
            k.b.ins().fadd(m, l)
        }
    })
}

/// normalize, as `runtime::ops::normalize`: per group of the trailing `n` elements, the f64 mean
/// (skipped with `rms`), the f64 mean of the squared deviations, `inv = 1/√(var + ε)` in f64,
/// then each `(x − μ)·inv` rounded once to f32. Three passes over the group.
pub(super) fn normalize(em: &mut Emitter, name: &str, step: &Step) -> Result<FuncId> {
    let (x, y) = (&step.args[0], &step.out);
    let axis = step.op.int_of("axis").map_err(Error::msg)?.max(0) as usize;
    let n: usize = x.ty.shape[axis.min(x.ty.rank())..].iter().product();
    let groups: usize = x.ty.shape[..axis.min(x.ty.rank())].iter().product();
    let eps = step.op.float_of("epsilon").map_err(Error::msg)? as f64;
    let rms = step.op.bool_of("rms").map_err(Error::msg)?;
    em.kernel(name, Linkage::Local, |k| {
        if n == 0 {
            return Ok(());
        }
        let (xb, yb) = (k.base(x.loc), k.base(y.loc));
        k.for_range(0, groups as i64, 1, |k, g| {
            let first = k.b.ins().imul_imm_s(g, n as i64);
            let sum = |k: &mut K, mu: Option<Value>| -> Result<Value> {
                let z = k.b.ins().f64const(-0.0);
                let acc = k.var(types::F64, z);
                k.for_range(0, n as i64, 1, |k, i| {
                    let at = k.b.ins().iadd(first, i);
                    let v = load(k, xb, at);
                    let v = k.b.ins().fpromote(types::F64, v);
                    let t = match mu {
                        None => v,
                        Some(mu) => {
                            let d = k.b.ins().fsub(v, mu);
                            k.b.ins().fmul(d, d)
                        }
                    };
                    let cur = k.b.use_var(acc);
                    let s = k.b.ins().fadd(cur, t);
                    k.b.def_var(acc, s);
                    Ok(())
                })?;
                Ok(k.b.use_var(acc))
            };
            let count = k.b.ins().f64const(n as f64);
            let mu = if rms {
                k.b.ins().f64const(0.0)
            } else {
                let s = sum(k, None)?;
                k.b.ins().fdiv(s, count)
            };
            let sq = sum(k, Some(mu))?;
            let var = k.b.ins().fdiv(sq, count);
            let e = k.b.ins().f64const(eps);
            let ve = k.b.ins().fadd(var, e);
            let sd = k.b.ins().sqrt(ve);
            let one = k.b.ins().f64const(1.0);
            let inv = k.b.ins().fdiv(one, sd);
            k.for_range(0, n as i64, 1, |k, i| {
                let at = k.b.ins().iadd(first, i);
                let v = load(k, xb, at);
                let v = k.b.ins().fpromote(types::F64, v);
                let d = k.b.ins().fsub(v, mu);
                let z = k.b.ins().fmul(d, inv);
                let z = k.b.ins().fdemote(types::F32, z);
                let ya = k.at(yb, at, 4, 0);
                k.b.ins().store(mem(), z, ya, 0);
                Ok(())
            })
        })
    })
}
