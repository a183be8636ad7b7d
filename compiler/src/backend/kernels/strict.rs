//! Float ops whose result depends on the order of their arithmetic, evaluated exactly as
//! docs/ir.md "Float ops in an integer graph" defines them (and `runtime::ops::strict` and the
//! interpreter compute them): one accumulator per output, terms in the stated order, a separate
//! multiply and add (Cranelift never fuses them), f64 sums for means, the C library's `expf`.

use super::{pair2, quad};
use crate::backend::emit::{mem, Emitter, K};
use crate::backend::layout::{address, for_each, strides_of};
use crate::backend::{Operand, Step};
use crate::diag::{Error, Result};
use crate::ir::op::OpKind;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, InstBuilder, Value};
use cranelift_module::{FuncId, Linkage};
use runtime::DType;

fn f32_operands(step: &Step) -> Result<()> {
    for o in step.args.iter().chain([&step.out]) {
        if o.ty.elem.storage() != DType::F32 {
            return Err(Error::msg(format!(
                "{} on {} has no kernel (only f32)",
                step.op.kind.name(),
                o.ty
            )));
        }
    }
    Ok(())
}

fn base(k: &mut K, o: &Operand, table: Option<cranelift_module::DataId>) -> Value {
    match table {
        Some(id) => k.table(id),
        None => k.base(o.loc),
    }
}

pub(super) fn load(k: &mut K, base: Value, index: Value) -> Value {
    let a = k.at(base, index, 4, 0);
    k.b.ins().load(types::F32, mem(), a, 0)
}

/// `acc += x·w`, the product rounded first.
fn mac(k: &mut K, acc: cranelift_frontend::Variable, x: Value, w: Value) {
    let p = k.b.ins().fmul(x, w);
    let cur = k.b.use_var(acc);
    let s = k.b.ins().fadd(cur, p);
    k.b.def_var(acc, s);
}

pub fn emit(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    if step.op.kind == OpKind::Reduce && step.out.ty.elem.storage() != DType::F32 {
        // reduce max/min of codes: no arithmetic, one kernel with the float reductions.
        return Ok((super::reduce::reduce(em, name, step)?, 0));
    }
    f32_operands(step)?;
    // Weights arrive as tables (`Loc::Data`), read like any operand.
    let tables: Vec<Option<cranelift_module::DataId>> = vec![None; step.args.len()];
    let bytes = 0;
    let f = match step.op.kind {
        OpKind::Gemm => gemm(em, name, step, &tables)?,
        OpKind::MatMul => matmul(em, name, step, &tables)?,
        OpKind::Conv2d => conv2d(em, name, step, &tables)?,
        OpKind::ConvTranspose2d => conv_transpose2d(em, name, step, &tables)?,
        OpKind::ReduceMean | OpKind::GlobalAvgPool => super::reduce::mean(em, name, step)?,
        OpKind::Reduce => super::reduce::reduce(em, name, step)?,
        OpKind::Normalize => super::reduce::normalize(em, name, step)?,
        OpKind::Softmax => softmax(em, name, step)?,
        OpKind::Sigmoid | OpKind::LeakyRelu | OpKind::HardSigmoid | OpKind::HardSwish => {
            unary(em, name, step)?
        }
        other => {
            return Err(Error::msg(format!(
                "the backend has no float kernel for {}",
                other.name()
            )))
        }
    };
    Ok((f, bytes))
}

fn gemm(
    em: &mut Emitter,
    name: &str,
    step: &Step,
    t: &[Option<cranelift_module::DataId>],
) -> Result<FuncId> {
    let op = &step.op;
    let (a, b, y) = (&step.args[0], &step.args[1], &step.out);
    let (ta, tb) = (
        op.bool_of("trans_a").map_err(Error::msg)?,
        op.bool_of("trans_b").map_err(Error::msg)?,
    );
    let (alpha, beta) = (
        op.float_of("alpha").map_err(Error::msg)?,
        op.float_of("beta").map_err(Error::msg)?,
    );
    if a.ty.rank() != 2 || b.ty.rank() != 2 {
        return Err(Error::msg(format!(
            "gemm of {} and {} (2-D only)",
            a.ty, b.ty
        )));
    }
    let (m, kk) = if ta {
        (a.ty.shape[1], a.ty.shape[0])
    } else {
        (a.ty.shape[0], a.ty.shape[1])
    };
    let n = if tb { b.ty.shape[0] } else { b.ty.shape[1] };
    let c = step.args.get(2).filter(|_| beta != 0.0);
    let cs = c.map(|c| {
        let s = strides_of(&c.ty.shape, false);
        super::super::layout::broadcast_strides(&c.ty.shape, &s, &[m, n])
    });
    em.kernel(name, Linkage::Local, |k| {
        let (ab, bb) = (base(k, a, t[0]), base(k, b, t[1]));
        let cb = c.map(|c| base(k, c, t[2]));
        let yb = k.base(y.loc);
        k.for_range(0, m as i64, 1, |k, i| {
            k.for_range(0, n as i64, 1, |k, j| {
                let z = k.b.ins().f32const(0.0);
                let acc = k.var(types::F32, z);
                k.for_range(0, kk as i64, 1, |k, p| {
                    let ai = if ta { (p, i, m) } else { (i, p, kk) };
                    let ia = k.b.ins().imul_imm_s(ai.0, ai.2 as i64);
                    let ia = k.b.ins().iadd(ia, ai.1);
                    let bi = if tb { (j, p, kk) } else { (p, j, n) };
                    let ib = k.b.ins().imul_imm_s(bi.0, bi.2 as i64);
                    let ib = k.b.ins().iadd(ib, bi.1);
                    let x = load(k, ab, ia);
                    let w = load(k, bb, ib);
                    mac(k, acc, x, w);
                    Ok(())
                })?;
                let al = k.b.ins().f32const(alpha);
                let sum = k.b.use_var(acc);
                let mut v = k.b.ins().fmul(al, sum);
                if let (Some(cb), Some(cs)) = (cb, &cs) {
                    let ca = address(k, cb, &[i, j], cs, 4);
                    let cv = k.b.ins().load(types::F32, mem(), ca, 0);
                    let be = k.b.ins().f32const(beta);
                    let bc = k.b.ins().fmul(be, cv);
                    v = k.b.ins().fadd(v, bc);
                }
                let idx = k.b.ins().imul_imm_s(i, n as i64);
                let idx = k.b.ins().iadd(idx, j);
                let ya = k.at(yb, idx, 4, 0);
                k.b.ins().store(mem(), v, ya, 0);
                Ok(())
            })
        })
    })
}

/// numpy matmul of operands of rank ≥ 2: batch axes broadcast, `k` ascending.
fn matmul(
    em: &mut Emitter,
    name: &str,
    step: &Step,
    t: &[Option<cranelift_module::DataId>],
) -> Result<FuncId> {
    let (a, b, y) = (&step.args[0], &step.args[1], &step.out);
    let (ra, rb, ry) = (a.ty.rank(), b.ty.rank(), y.ty.rank());
    if ra < 2 || rb < 2 {
        return Err(Error::msg(format!(
            "matmul of {} and {} has no kernel (1-D operands)",
            a.ty, b.ty
        )));
    }
    let kk = a.ty.shape[ra - 1];
    // Strides of each operand over the result's axes: batch axes broadcast, then (m, ·) / (·, n).
    let sa = strides_of(&a.ty.shape, false);
    let sb = strides_of(&b.ty.shape, false);
    let batch = &y.ty.shape[..ry - 2];
    let bs = |shape: &[usize], st: &[i64]| -> Vec<i64> {
        super::super::layout::broadcast_strides(
            &shape[..shape.len() - 2],
            &st[..st.len() - 2],
            batch,
        )
    };
    let mut a_over_y = bs(&a.ty.shape, &sa);
    a_over_y.extend([sa[ra - 2], 0]);
    let mut b_over_y = bs(&b.ty.shape, &sb);
    b_over_y.extend([0, sb[rb - 1]]);
    let (a_k, b_k) = (sa[ra - 1], sb[rb - 2]);
    let ys = strides_of(&y.ty.shape, false);
    let order: Vec<usize> = (0..ry).collect();
    em.kernel(name, Linkage::Local, |k| {
        let (ab, bb) = (base(k, a, t[0]), base(k, b, t[1]));
        let yb = k.base(y.loc);
        for_each(k, &y.ty.shape, &order, &mut |k, idx| {
            let a0 = address(k, ab, idx, &a_over_y, 4);
            let b0 = address(k, bb, idx, &b_over_y, 4);
            let z = k.b.ins().f32const(0.0);
            let acc = k.var(types::F32, z);
            k.for_range(0, kk as i64, 1, |k, p| {
                let xa = k.at(a0, p, a_k * 4, 0);
                let x = k.b.ins().load(types::F32, mem(), xa, 0);
                let wa = k.at(b0, p, b_k * 4, 0);
                let w = k.b.ins().load(types::F32, mem(), wa, 0);
                mac(k, acc, x, w);
                Ok(())
            })?;
            let v = k.b.use_var(acc);
            let ya = address(k, yb, idx, &ys, 4);
            k.b.ins().store(mem(), v, ya, 0);
            Ok(())
        })
    })
}

/// For output position `o` and tap `t` of a convolution axis: the input position, or −1.
fn conv_taps(len: usize, out: usize, k: usize, s: usize, pad: usize, d: usize) -> Vec<i32> {
    let mut v = Vec::with_capacity(out * k);
    for o in 0..out {
        for t in 0..k {
            let q = (o * s + t * d) as i64 - pad as i64;
            v.push(if q >= 0 && (q as usize) < len {
                q as i32
            } else {
                -1
            });
        }
    }
    v
}

fn transpose_taps(len: usize, out: usize, k: usize, s: usize, pad: usize, d: usize) -> Vec<i32> {
    let mut v = Vec::with_capacity(out * k);
    for o in 0..out {
        for t in 0..k {
            let q = o as i64 + pad as i64 - (t * d) as i64;
            let ok = q >= 0 && q % s as i64 == 0 && ((q / s as i64) as usize) < len;
            v.push(if ok { (q / s as i64) as i32 } else { -1 });
        }
    }
    v
}

/// The shared body of conv2d and conv_transpose2d: per output `(n, o, i, j)`, the sum over the
/// group's input channel `c`, kernel row `p`, column `q` of `x·w` over the taps the tables allow,
/// then `+ b[o]`. `w_index(o, c, p, q)` is the weight's flat index.
#[allow(clippy::too_many_arguments)]
fn windowed(
    em: &mut Emitter,
    name: &str,
    step: &Step,
    t: &[Option<cranelift_module::DataId>],
    rows: Vec<i32>,
    cols: Vec<i32>,
    kh: usize,
    kw: usize,
    cg: usize,
    og: usize,
    w_index: impl Fn(&mut K, Value, Value, usize, usize) -> Value,
) -> Result<FuncId> {
    let (x, y) = (&step.args[0], &step.out);
    let (n, c, h, w) = (x.ty.shape[0], x.ty.shape[1], x.ty.shape[2], x.ty.shape[3]);
    let (o, ho, wo) = (y.ty.shape[1], y.ty.shape[2], y.ty.shape[3]);
    let bytes = |v: &[i32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let (rid, cid) = (
        em.data("taps_rows", bytes(&rows))?,
        em.data("taps_cols", bytes(&cols))?,
    );
    em.kernel(name, Linkage::Local, |k| {
        let xb = k.base(x.loc);
        let wb = base(k, &step.args[1], t[1]);
        let bb = step.args.get(2).map(|b| base(k, b, t[2]));
        let yb = k.base(y.loc);
        let (rt, ct) = (k.table(rid), k.table(cid));
        k.for_range(0, n as i64, 1, |k, ni| {
            k.for_range(0, o as i64, 1, |k, oc| {
                let g = k.b.ins().udiv_imm_u(oc, og as i64);
                let c0 = k.b.ins().imul_imm_s(g, cg as i64);
                k.for_range(0, ho as i64, 1, |k, i| {
                    k.for_range(0, wo as i64, 1, |k, j| {
                        let z = k.b.ins().f32const(0.0);
                        let acc = k.var(types::F32, z);
                        k.for_range(0, cg as i64, 1, |k, ci| {
                            let ch = k.b.ins().iadd(c0, ci);
                            let plane = k.b.ins().imul_imm_s(ni, c as i64);
                            let plane = k.b.ins().iadd(plane, ch);
                            let xplane = k.at(xb, plane, (h * w * 4) as i64, 0);
                            for p in 0..kh {
                                let ra = k.at(rt, i, (kh * 4) as i64, (p * 4) as i64);
                                let ih = k.b.ins().load(types::I32, mem(), ra, 0);
                                for q in 0..kw {
                                    let ca = k.at(ct, j, (kw * 4) as i64, (q * 4) as i64);
                                    let iw = k.b.ins().load(types::I32, mem(), ca, 0);
                                    let lo = k.b.ins().smin(ih, iw);
                                    let ok = k.b.ins().icmp_imm_s(
                                        IntCC::SignedGreaterThanOrEqual,
                                        lo,
                                        0,
                                    );
                                    k.if_then(ok, |k| {
                                        let ih = k.b.ins().sextend(types::I64, ih);
                                        let iw = k.b.ins().sextend(types::I64, iw);
                                        let pos = k.b.ins().imul_imm_s(ih, w as i64);
                                        let pos = k.b.ins().iadd(pos, iw);
                                        let xv = load(k, xplane, pos);
                                        let wi = w_index(k, oc, ci, p, q);
                                        let wv = load(k, wb, wi);
                                        mac(k, acc, xv, wv);
                                        Ok(())
                                    })?;
                                }
                            }
                            Ok(())
                        })?;
                        let mut v = k.b.use_var(acc);
                        if let Some(bb) = bb {
                            let bv = load(k, bb, oc);
                            v = k.b.ins().fadd(v, bv);
                        }
                        let plane = k.b.ins().imul_imm_s(ni, o as i64);
                        let plane = k.b.ins().iadd(plane, oc);
                        let pos = k.b.ins().imul_imm_s(plane, ho as i64);
                        let pos = k.b.ins().iadd(pos, i);
                        let pos = k.b.ins().imul_imm_s(pos, wo as i64);
                        let pos = k.b.ins().iadd(pos, j);
                        let ya = k.at(yb, pos, 4, 0);
                        k.b.ins().store(mem(), v, ya, 0);
                        Ok(())
                    })
                })
            })
        })
    })
}

fn conv2d(
    em: &mut Emitter,
    name: &str,
    step: &Step,
    t: &[Option<cranelift_module::DataId>],
) -> Result<FuncId> {
    let (x, wt, y) = (&step.args[0], &step.args[1], &step.out);
    if x.ty.rank() != 4 || wt.ty.rank() != 4 {
        return Err(Error::msg(format!("conv2d of {} (4-D only)", x.ty)));
    }
    let (s, d, p) = (
        pair2(&step.op, "strides", [1, 1]),
        pair2(&step.op, "dilations", [1, 1]),
        quad(&step.op, "pads"),
    );
    let (o, cg, kh, kw) = (
        wt.ty.shape[0],
        wt.ty.shape[1],
        wt.ty.shape[2],
        wt.ty.shape[3],
    );
    let groups = step.op.int_of("groups").map_err(Error::msg)?.max(1) as usize;
    let rows = conv_taps(x.ty.shape[2], y.ty.shape[2], kh, s[0], p[0], d[0]);
    let cols = conv_taps(x.ty.shape[3], y.ty.shape[3], kw, s[1], p[1], d[1]);
    windowed(
        em,
        name,
        step,
        t,
        rows,
        cols,
        kh,
        kw,
        cg,
        o / groups,
        move |k, oc, ci, p, q| {
            let r = k.b.ins().imul_imm_s(oc, cg as i64);
            let r = k.b.ins().iadd(r, ci);
            let r2 = k.b.ins().imul_imm_s(r, (kh * kw) as i64);
            k.b.ins().iadd_imm_s(r2, (p * kw + q) as i64)
        },
    )
}

fn conv_transpose2d(
    em: &mut Emitter,
    name: &str,
    step: &Step,
    t: &[Option<cranelift_module::DataId>],
) -> Result<FuncId> {
    let (x, wt, y) = (&step.args[0], &step.args[1], &step.out);
    if x.ty.rank() != 4 || wt.ty.rank() != 4 {
        return Err(Error::msg(format!(
            "conv_transpose2d of {} (4-D only)",
            x.ty
        )));
    }
    let (s, d, p) = (
        pair2(&step.op, "strides", [1, 1]),
        pair2(&step.op, "dilations", [1, 1]),
        quad(&step.op, "pads"),
    );
    let (og, kh, kw) = (wt.ty.shape[1], wt.ty.shape[2], wt.ty.shape[3]);
    let groups = step.op.int_of("groups").map_err(Error::msg)?.max(1) as usize;
    let cg = x.ty.shape[1] / groups;
    let rows = transpose_taps(x.ty.shape[2], y.ty.shape[2], kh, s[0], p[0], d[0]);
    let cols = transpose_taps(x.ty.shape[3], y.ty.shape[3], kw, s[1], p[1], d[1]);
    // Weight [C, og, kh, kw]: input channel g·cg + c, output channel o mod og.
    windowed(
        em,
        name,
        step,
        t,
        rows,
        cols,
        kh,
        kw,
        cg,
        og,
        move |k, oc, ci, p, q| {
            let g = k.b.ins().udiv_imm_u(oc, og as i64);
            let ol = k.b.ins().urem_imm_u(oc, og as i64);
            let ch = k.b.ins().imul_imm_s(g, cg as i64);
            let ch = k.b.ins().iadd(ch, ci);
            let r = k.b.ins().imul_imm_s(ch, og as i64);
            let r = k.b.ins().iadd(r, ol);
            let r = k.b.ins().imul_imm_s(r, (kh * kw) as i64);
            k.b.ins().iadd_imm_s(r, (p * kw + q) as i64)
        },
    )
}

/// Per lane: the NaN-ignoring maximum, `e = expf(x − max)` and their sum in lane order, `e/sum`.
fn softmax(em: &mut Emitter, name: &str, step: &Step) -> Result<FuncId> {
    let (x, y) = (&step.args[0], &step.out);
    let rank = x.ty.rank();
    let axis = step.op.int_of("axis").map_err(Error::msg)?;
    let axis = if axis < 0 { axis + rank as i64 } else { axis } as usize;
    let shape = x.ty.shape.clone();
    let st = strides_of(&shape, false);
    let lane = shape[axis];
    let mut outer = shape.clone();
    outer[axis] = 1;
    let order: Vec<usize> = (0..rank).collect();
    em.kernel(name, Linkage::Local, |k| {
        let (xb, yb) = (k.base(x.loc), k.base(y.loc));
        for_each(k, &outer, &order, &mut |k, idx| {
            let xa = address(k, xb, idx, &st, 4);
            let ya = address(k, yb, idx, &st, 4);
            let step_bytes = st[axis] * 4;
            let ninf = k.b.ins().f32const(f32::NEG_INFINITY);
            let mx = k.var(types::F32, ninf);
            k.for_range(0, lane as i64, 1, |k, t| {
                let a = k.at(xa, t, step_bytes, 0);
                let v = k.b.ins().load(types::F32, mem(), a, 0);
                let cur = k.b.use_var(mx);
                // f32::max: the other operand when one is NaN, else the larger.
                let gt = k.b.ins().fcmp(FloatCC::GreaterThan, v, cur);
                let cur_nan = k.b.ins().fcmp(FloatCC::Unordered, cur, cur);
                let take = k.b.ins().bor(gt, cur_nan);
                let m = k.b.ins().select(take, v, cur);
                k.b.def_var(mx, m);
                Ok(())
            })?;
            let zero = k.b.ins().f32const(0.0);
            let sum = k.var(types::F32, zero);
            k.for_range(0, lane as i64, 1, |k, t| {
                let a = k.at(xa, t, step_bytes, 0);
                let v = k.b.ins().load(types::F32, mem(), a, 0);
                let m = k.b.use_var(mx);
                let d = k.b.ins().fsub(v, m);
                let e = k.expf(d)?;
                let o = k.at(ya, t, step_bytes, 0);
                k.b.ins().store(mem(), e, o, 0);
                let cur = k.b.use_var(sum);
                let s = k.b.ins().fadd(cur, e);
                k.b.def_var(sum, s);
                Ok(())
            })?;
            k.for_range(0, lane as i64, 1, |k, t| {
                let o = k.at(ya, t, step_bytes, 0);
                let e = k.b.ins().load(types::F32, mem(), o, 0);
                let s = k.b.use_var(sum);
                let q = k.b.ins().fdiv(e, s);
                k.b.ins().store(mem(), q, o, 0);
                Ok(())
            })
        })
    })
}

/// sigmoid `1/(1 + expf(−x))`, leaky_relu `x < 0 ? alpha·x : x`, hard_sigmoid
/// `clamp(alpha·x + beta, 0, 1)`, hard_swish `x · hard_sigmoid(x, 1/6, 1/2)`.
fn unary(em: &mut Emitter, name: &str, step: &Step) -> Result<FuncId> {
    let (x, y) = (&step.args[0], &step.out);
    let kind = step.op.kind;
    let alpha = step.op.float("alpha");
    let beta = step.op.float("beta");
    let n = x.ty.numel();
    em.kernel(name, Linkage::Local, |k| {
        let (xb, yb) = (k.base(x.loc), k.base(y.loc));
        k.for_range(0, n as i64, 1, |k, i| {
            let v = load(k, xb, i);
            let hard = |k: &mut K, v: Value, a: f32, b: f32| {
                let av = k.b.ins().f32const(a);
                let bv = k.b.ins().f32const(b);
                let t = k.b.ins().fmul(av, v);
                let t = k.b.ins().fadd(t, bv);
                let (z, one) = (k.b.ins().f32const(0.0), k.b.ins().f32const(1.0));
                let lt = k.b.ins().fcmp(FloatCC::LessThan, t, z);
                let t = k.b.ins().select(lt, z, t);
                let gt = k.b.ins().fcmp(FloatCC::GreaterThan, t, one);
                k.b.ins().select(gt, one, t)
            };
            let r = match kind {
                OpKind::Sigmoid => {
                    let nv = k.b.ins().fneg(v);
                    let e = k.expf(nv)?;
                    let one = k.b.ins().f32const(1.0);
                    let d = k.b.ins().fadd(one, e);
                    k.b.ins().fdiv(one, d)
                }
                OpKind::LeakyRelu => {
                    let a = k.b.ins().f32const(alpha.unwrap_or(0.01));
                    let z = k.b.ins().f32const(0.0);
                    let neg = k.b.ins().fcmp(FloatCC::LessThan, v, z);
                    let s = k.b.ins().fmul(a, v);
                    k.b.ins().select(neg, s, v)
                }
                OpKind::HardSigmoid => hard(k, v, alpha.unwrap_or(0.2), beta.unwrap_or(0.5)),
                _ => {
                    let h = hard(k, v, 1.0 / 6.0, 0.5);
                    k.b.ins().fmul(v, h)
                }
            };
            let ya = k.at(yb, i, 4, 0);
            k.b.ins().store(mem(), r, ya, 0);
            Ok(())
        })
    })
}
