//! qconv_transpose2d as a gather: each output pixel sums the input pixels whose scattered
//! kernel reaches it. Which input row (column) each kernel row (column) reads for an output
//! row (column) is decided at compile time into tables; sums wrap in i32 like the interpreter's.

use super::fixed::{finish, multiply, Pair};
use super::{int, ints, pair2, quad, zp_scale};
use crate::backend::emit::{mem, Emitter};
use crate::backend::Step;
use crate::diag::{Error, Result};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, InstBuilder};
use cranelift_module::{FuncId, Linkage};
use runtime::qops::qrange;
use runtime::{DType, Tensor};

/// For output position `o` and kernel tap `t`: the input position it reads, or −1.
fn taps(len: usize, out: usize, k: usize, stride: usize, pad: usize, dil: usize) -> Vec<i32> {
    let mut v = Vec::with_capacity(out * k);
    for o in 0..out {
        for t in 0..k {
            let q = o as i64 + pad as i64 - (t * dil) as i64;
            let ok = q >= 0 && q % stride as i64 == 0 && ((q / stride as i64) as usize) < len;
            v.push(if ok { (q / stride as i64) as i32 } else { -1 });
        }
    }
    v
}

pub fn qconv_transpose2d(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    let (x, wo, y) = (&step.args[0], &step.args[1], &step.out);
    let w = match wo.weight.as_deref() {
        Some(Tensor::I8(w)) if w.ndim() == 4 => w.as_standard_layout().to_owned(),
        _ => {
            return Err(Error::msg(format!(
                "the weight must be a 4-D i8 constant, not {}",
                wo.ty
            )))
        }
    };
    let op = &step.op;
    let groups = op.int("groups").unwrap_or(1).max(1) as usize;
    let (xs, ws) = (&x.ty.shape, w.shape().to_vec());
    if xs.len() != 4 || y.ty.rank() != 4 || x.ty.elem.storage() != DType::U8 {
        return Err(Error::msg(format!(
            "qconv_transpose2d takes a 4-D u8 input, not {}",
            x.ty
        )));
    }
    let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
    let (og, kh, kw) = (ws[1], ws[2], ws[3]);
    let (ho, wout) = (y.ty.shape[2], y.ty.shape[3]);
    if ws[0] != c || c % groups != 0 || y.ty.shape[1] != og * groups || y.ty.shape[0] != n {
        return Err(Error::msg(format!(
            "input {}, weight {} and result {} do not fit {groups} groups",
            x.ty, wo.ty, y.ty
        )));
    }
    let cg = c / groups;
    let o = og * groups;
    let strides = pair2(op, "strides", [1, 1]);
    let dil = pair2(op, "dilations", [1, 1]);
    let pads = quad(op, "pads");
    let (_, zx) = zp_scale(&x.ty, "the input")?;
    let (_, zy) = zp_scale(&y.ty, "the result")?;
    let (mult, shift) = (ints(op, "multiplier")?, ints(op, "shift")?);
    let (lo, hi) = (int(op, "lo")?, int(op, "hi")?);
    let (qmin, qmax) = qrange(y.ty.elem.storage());
    if lo < qmin || hi > qmax || !(mult.len() == 1 || mult.len() == o) || shift.len() != mult.len()
    {
        return Err(Error::msg(format!(
            "{} multipliers for {o} channels, clamp [{lo}, {hi}] for {}",
            mult.len(),
            y.ty
        )));
    }
    let bias: Vec<i32> = match step.args.get(2).map(|b| b.weight.as_deref()) {
        None => vec![0; o],
        Some(Some(Tensor::I32(b))) if b.len() == o => b.iter().copied().collect(),
        Some(_) => return Err(Error::msg(format!("the bias must be {o} i32 constants"))),
    };
    // Packed [oc][ki][kj][ci] from [C, og, kh, kw].
    let wdat = w.as_slice().expect("standard layout");
    let mut packed = vec![0u8; o * kh * kw * cg];
    for oc in 0..o {
        let (grp, ol) = (oc / og, oc % og);
        for ki in 0..kh {
            for kj in 0..kw {
                for ci in 0..cg {
                    let src = (((grp * cg + ci) * og + ol) * kh + ki) * kw + kj;
                    packed[((oc * kh + ki) * kw + kj) * cg + ci] = wdat[src] as u8;
                }
            }
        }
    }
    let i32s = |v: &[i32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let rows = taps(h, ho, kh, strides[0], pads[0], dil[0]);
    let cols = taps(wd, wout, kw, strides[1], pads[1], dil[1]);
    let bytes = packed.len() + 4 * (bias.len() + rows.len() + cols.len() + 2 * mult.len());
    let (wid, bid) = (
        em.data("convt_w", packed)?,
        em.data("convt_b", i32s(&bias))?,
    );
    let (rid, cid) = (
        em.data("convt_rows", i32s(&rows))?,
        em.data("convt_cols", i32s(&cols))?,
    );
    let (mid, sid) = (
        em.data("convt_mult", i32s(&mult))?,
        em.data("convt_shift", i32s(&shift))?,
    );
    let per_channel = mult.len() > 1;
    let f = em.kernel(name, Linkage::Local, |k| {
        let (xb, yb) = (k.base(x.loc), k.base(y.loc));
        let (wt, bt, rt, ct) = (k.table(wid), k.table(bid), k.table(rid), k.table(cid));
        let (mt, st) = (k.table(mid), k.table(sid));
        k.for_range(0, n as i64, 1, |k, ni| {
            let img = k.at(xb, ni, (h * wd * c) as i64, 0);
            let out_img = k.at(yb, ni, (ho * wout * o) as i64, 0);
            k.for_range(0, ho as i64, 1, |k, oy| {
                k.for_range(0, wout as i64, 1, |k, ox| {
                    let px = k.at(out_img, oy, (wout * o) as i64, 0);
                    let px = k.at(px, ox, o as i64, 0);
                    k.for_range(0, o as i64, 1, |k, oc| {
                        let ba = k.at(bt, oc, 4, 0);
                        let b0 = k.b.ins().load(types::I32, mem(), ba, 0);
                        let acc = k.var(types::I32, b0);
                        let grp = k.b.ins().udiv_imm_u(oc, og as i64);
                        let xg = k.at(img, grp, cg as i64, 0);
                        for ki in 0..kh {
                            let ra = k.at(rt, oy, (kh * 4) as i64, (ki * 4) as i64);
                            let ih = k.b.ins().load(types::I32, mem(), ra, 0);
                            let ok = k.b.ins().icmp_imm_s(IntCC::SignedGreaterThanOrEqual, ih, 0);
                            k.if_then(ok, |k| {
                                let ih = k.b.ins().sextend(types::I64, ih);
                                let xrow = k.at(xg, ih, (wd * c) as i64, 0);
                                for kj in 0..kw {
                                    let ca = k.at(ct, ox, (kw * 4) as i64, (kj * 4) as i64);
                                    let iw = k.b.ins().load(types::I32, mem(), ca, 0);
                                    let ok = k.b.ins().icmp_imm_s(
                                        IntCC::SignedGreaterThanOrEqual,
                                        iw,
                                        0,
                                    );
                                    k.if_then(ok, |k| {
                                        let iw = k.b.ins().sextend(types::I64, iw);
                                        let xp = k.at(xrow, iw, c as i64, 0);
                                        let wrow = k.at(
                                            wt,
                                            oc,
                                            (kh * kw * cg) as i64,
                                            ((ki * kw + kj) * cg) as i64,
                                        );
                                        k.for_range(0, cg as i64, 1, |k, ci| {
                                            let xa = k.at(xp, ci, 1, 0);
                                            let xv = k.b.ins().uload8(types::I32, mem(), xa, 0);
                                            let xv = k.b.ins().iadd_imm_s(xv, -i64::from(zx));
                                            let wa = k.at(wrow, ci, 1, 0);
                                            let wv = k.b.ins().sload8(types::I32, mem(), wa, 0);
                                            let p = k.b.ins().imul(xv, wv);
                                            let cur = k.b.use_var(acc);
                                            let s = k.b.ins().iadd(cur, p);
                                            k.b.def_var(acc, s);
                                            Ok(())
                                        })
                                    })?;
                                }
                                Ok(())
                            })?;
                        }
                        let pair = if per_channel {
                            let ma = k.at(mt, oc, 4, 0);
                            let sa = k.at(st, oc, 4, 0);
                            let m = k.b.ins().load(types::I32, mem(), ma, 0);
                            let s = k.b.ins().load(types::I32, mem(), sa, 0);
                            Pair::Dyn(m, s)
                        } else {
                            Pair::Const(mult[0], shift[0])
                        };
                        let sum = k.b.use_var(acc);
                        let v = multiply(k, sum, pair);
                        let code = finish(k, v, zy, lo, hi);
                        let ya = k.at(px, oc, 1, 0);
                        k.b.ins().istore8(mem(), code, ya, 0);
                        Ok(())
                    })
                })
            })
        })
    })?;
    Ok((f, bytes))
}
