//! qconv_transpose2d as a sub-pixel convolution: the `sh·sw` output phases of a transposed
//! convolution are each an ordinary stride-1 convolution of the input with a sub-kernel, so one
//! qconv2d with `sh·sw·O` output channels (the phases side by side, missing taps zero) computes
//! every output code on the fast convolution kernels (every tier), and a copy kernel moves the
//! phases to their strided places and drops what the transposed convolution's pads crop.
//!
//! Exact: a code the copy keeps got the same products as the interpreter's (a tap that falls
//! outside the input reads the zero point, a centred 0), the same bias and multiplier, and i32
//! sums wrap, so their order does not matter.
//!
//! Along one axis (stride s, kernel k, dilation d, begin pad p): the transposed convolution
//! writes `x[i]·w[t]` to the full output position `u = i·s + t·d` (its output row is `u − p`).
//! With `u = a·s + r` (`0 ≤ r < s`), the taps reaching phase r are those with `t·d ≡ r (mod s)`,
//! and they read `x[a − ⌊t·d/s⌋]`: a correlation over `M + 1` taps, `M = ⌊d·(k−1)/s⌋`, of the
//! input padded by M in front, tap t at window position `M − ⌊t·d/s⌋`.

use super::conv;
use super::{pair2, quad};
use crate::backend::emit::{mem, Emitter, Loc, SLACK};
use crate::backend::target::Target;
use crate::backend::{Operand, Step};
use crate::diag::{Error, Result};
use crate::ir::attr::{Attr, Attrs};
use crate::ir::op::{Op, OpKind};
use cranelift_codegen::ir::InstBuilder;
use cranelift_module::{FuncId, Linkage};
use runtime::ops::geometry::conv_transpose_out_len;
use runtime::{DType, Tensor};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One spatial axis of the equivalent convolution.
#[derive(Clone, Copy, Debug)]
struct Axis {
    stride: usize,
    dil: usize,
    /// The transposed convolution's begin pad (cropped from the full output).
    crop: usize,
    /// Window length − 1, also the convolution's begin pad.
    m: usize,
    /// The convolution's end pad: enough windows to reach the last output kept.
    pad_end: usize,
    /// Output positions of the convolution (`a` above).
    len: usize,
}

impl Axis {
    /// For an input `len` long, a kernel `k` long and a transposed output `out` long.
    fn new(len: usize, k: usize, stride: usize, dil: usize, crop: usize, out: usize) -> Axis {
        let m = dil * (k - 1) / stride;
        let last = (crop + out - 1) / stride;
        let pad_end = (last + 1).saturating_sub(len);
        Axis {
            stride,
            dil,
            crop,
            m,
            pad_end,
            len: len + pad_end,
        }
    }
    /// Window position and phase of tap `t`.
    fn tap(&self, t: usize) -> (usize, usize) {
        let u = t * self.dil;
        (self.m - u / self.stride, u % self.stride)
    }
    /// Convolution position and phase of transposed output position `o`.
    fn source(&self, o: usize) -> (usize, usize) {
        let u = o + self.crop;
        (u / self.stride, u % self.stride)
    }
}

/// The transposed convolution restated as one qconv2d.
struct SubPixel {
    /// The qconv2d's operands (x as it is, the phase weights, the bias per phase) and result
    /// (its location left for the caller to set).
    args: Vec<Operand>,
    op: Op,
    out: Operand,
    rows: Axis,
    cols: Axis,
    n: usize,
    groups: usize,
    og: usize,
}

impl SubPixel {
    /// Output channels of the convolution: per group, the phases' `og` channels side by side.
    fn channels(&self) -> usize {
        self.groups * self.rows.stride * self.cols.stride * self.og
    }
    /// Bytes of the convolution's result (the phases, uncropped).
    fn bytes(&self) -> usize {
        self.n * self.rows.len * self.cols.len * self.channels()
    }
}

fn sub_pixel(op: &Op, args: &[Operand], y: &Operand) -> Result<SubPixel> {
    let (x, wo) = (&args[0], &args[1]);
    let w = match wo.weight.as_deref() {
        Some(Tensor::I8(w)) if w.ndim() == 4 => w.as_standard_layout().to_owned(),
        _ => {
            return Err(Error::msg(format!(
                "the weight must be a 4-D i8 constant, not {}",
                wo.ty
            )))
        }
    };
    let groups = op.int_of("groups").map_err(Error::msg)?.max(1) as usize;
    let (xs, ws) = (&x.ty.shape, w.shape().to_vec());
    if xs.len() != 4 || y.ty.rank() != 4 || x.ty.elem.storage() != DType::U8 {
        return Err(Error::msg(format!(
            "qconv_transpose2d takes a 4-D u8 input, not {}",
            x.ty
        )));
    }
    let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
    let (og, kh, kw) = (ws[1], ws[2], ws[3]);
    let strides = pair2(op, "strides", [1, 1]);
    let dil = pair2(op, "dilations", [1, 1]);
    let pads = quad(op, "pads");
    let out_pad = pair2(op, "output_padding", [0, 0]);
    let out_len = |axis: usize, len: usize, k: usize| {
        conv_transpose_out_len(
            len,
            k,
            strides[axis],
            (pads[axis], pads[axis + 2]),
            dil[axis],
            out_pad[axis],
        )
    };
    let (ho, wout) = (y.ty.shape[2], y.ty.shape[3]);
    let fits = ws[0] == c
        && c % groups == 0
        && strides.iter().chain(&dil).all(|&v| v > 0)
        && y.ty.shape[..2] == [n, og * groups]
        && out_len(0, h, kh) == Some(ho)
        && out_len(1, wd, kw) == Some(wout);
    if !fits {
        return Err(Error::msg(format!(
            "input {}, weight {}, result {} and the attributes do not describe one transposed \
             convolution in {groups} groups",
            x.ty, wo.ty, y.ty
        )));
    }
    let cg = c / groups;
    let rows = Axis::new(h, kh, strides[0], dil[0], pads[0], ho);
    let cols = Axis::new(wd, kw, strides[1], dil[1], pads[1], wout);
    let phases = strides[0] * strides[1];
    let o2 = groups * phases * og;
    let (k2h, k2w) = (rows.m + 1, cols.m + 1);
    // w'[(grp, phase, ol), ci, i, j] = w[grp·cg + ci, ol, th, tw] for the taps of that phase
    // at window position (i, j); zero elsewhere.
    let wdat = w.as_slice().expect("standard layout");
    let mut w2 = vec![0i8; o2 * cg * k2h * k2w];
    for grp in 0..groups {
        for ci in 0..cg {
            for ol in 0..og {
                for th in 0..kh {
                    let (i, ry) = rows.tap(th);
                    for tw in 0..kw {
                        let (j, rx) = cols.tap(tw);
                        let oc = (grp * phases + ry * strides[1] + rx) * og + ol;
                        w2[((oc * cg + ci) * k2h + i) * k2w + j] =
                            wdat[(((grp * cg + ci) * og + ol) * kh + th) * kw + tw];
                    }
                }
            }
        }
    }
    // Output channel (grp, phase, ol) of the convolution is channel grp·og + ol of the result.
    let channel = |oc: usize| oc / (phases * og) * og + oc % og;
    let bias: Vec<i32> = match args.get(2).map(|b| b.weight.as_deref()) {
        None => vec![0; o2],
        Some(Some(Tensor::I32(b))) if b.len() == og * groups => {
            let b = b.iter().copied().collect::<Vec<_>>();
            (0..o2).map(|oc| b[channel(oc)]).collect()
        }
        Some(_) => {
            return Err(Error::msg(format!(
                "the bias must be {} i32 constants",
                og * groups
            )))
        }
    };
    let mut attrs = Attrs::new();
    for (name, v) in [
        ("multiplier", op.ints("multiplier")),
        ("shift", op.ints("shift")),
    ] {
        let v = v.ok_or_else(|| Error::msg(format!("qconv_transpose2d needs `{name}`")))?;
        let per_channel = if v.len() == og * groups {
            (0..o2).map(|oc| v[channel(oc)]).collect()
        } else {
            v.to_vec()
        };
        attrs.insert(name.into(), Attr::Ints(per_channel));
    }
    for name in ["lo", "hi"] {
        let v = op
            .int(name)
            .ok_or_else(|| Error::msg(format!("qconv_transpose2d needs `{name}`")))?;
        attrs.insert(name.into(), Attr::Int(v));
    }
    attrs.insert("groups".into(), Attr::Int(groups as i64));
    let pads2 = [rows.m, cols.m, rows.pad_end, cols.pad_end];
    attrs.insert(
        "pads".into(),
        Attr::Ints(pads2.iter().map(|&p| p as i64).collect()),
    );
    let mut wty = wo.ty.clone();
    wty.shape = vec![o2, cg, k2h, k2w];
    let mut bty = wo.ty.clone();
    bty.shape = vec![o2];
    let mut yty = y.ty.clone();
    yty.shape = vec![n, o2, rows.len, cols.len];
    let w2 = ndarray::ArrayD::from_shape_vec(vec![o2, cg, k2h, k2w], w2)
        .expect("the phase weights' size");
    let b2 = ndarray::ArrayD::from_shape_vec(vec![o2], bias).expect("the phase biases' size");
    let weight = |ty, t| Operand {
        loc: Loc::Arena(usize::MAX),
        ty,
        weight: Some(Arc::new(t)),
        node: wo.node,
    };
    Ok(SubPixel {
        args: vec![
            x.clone(),
            weight(wty, Tensor::I8(w2)),
            weight(bty, Tensor::I32(b2)),
        ],
        op: Op::new(OpKind::QConv2d, attrs),
        out: Operand {
            loc: Loc::Arena(usize::MAX),
            ty: yty,
            weight: None,
            node: y.node,
        },
        rows,
        cols,
        n,
        groups,
        og,
    })
}

/// Scratch: the convolution's result (all phases), then whatever the convolution itself needs.
pub fn temp_bytes(op: &Op, args: &[Operand], out: &Operand, target: &Target) -> Vec<usize> {
    // An op that does not fit is refused with its reason when the kernel is emitted.
    let Ok(sp) = sub_pixel(op, args, out) else {
        return vec![];
    };
    let mut temps = vec![sp.bytes() + SLACK];
    temps.extend(conv::temp_bytes(&sp.op, &sp.args, &sp.out, target));
    temps
}

pub fn qconv_transpose2d(
    em: &mut Emitter,
    name: &str,
    step: &Step,
    target: &Target,
) -> Result<(Vec<FuncId>, usize)> {
    let mut sp = sub_pixel(&step.op, &step.args, &step.out)?;
    let (&phases_at, conv_temps) = step
        .temps
        .split_first()
        .ok_or_else(|| Error::msg("qconv_transpose2d was planned without its scratch"))?;
    sp.out.loc = Loc::Arena(phases_at);
    let conv_step = Step {
        name: step.name.clone(),
        op: sp.op.clone(),
        args: sp.args.clone(),
        out: sp.out.clone(),
        temps: conv_temps.to_vec(),
    };
    let (conv_f, mut bytes) = conv::qconv2d(em, &format!("{name}_phases"), &conv_step, target)?;

    // The copy: output pixel (oy, ox), group g reads the phases' pixel (a, b) at channel
    // (g, ry, rx, 0); its source offset splits into a part of oy and a part of (ox, g).
    let (rows, cols) = (sp.rows, sp.cols);
    let (o2, og, groups) = (sp.channels(), sp.og, sp.groups);
    let (ho, wo) = (step.out.ty.shape[2], step.out.ty.shape[3]);
    let o = og * groups;
    let row_src: Vec<i32> = (0..ho)
        .map(|oy| {
            let (a, ry) = rows.source(oy);
            (a * cols.len * o2 + ry * cols.stride * og) as i32
        })
        .collect();
    // Runs of bytes contiguous on both sides, grouped by length: `(dst, src)` offsets in a row.
    let mut runs: Vec<(usize, usize, usize)> = Vec::new();
    for ox in 0..wo {
        let (b, rx) = cols.source(ox);
        for g in 0..groups {
            let (dst, src) = (
                ox * o + g * og,
                b * o2 + (g * rows.stride * cols.stride + rx) * og,
            );
            match runs.last_mut() {
                Some((d, s, len)) if *d + *len == dst && *s + *len == src => *len += og,
                _ => runs.push((dst, src, og)),
            }
        }
    }
    let mut by_len: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
    for (dst, src, len) in runs {
        let t = by_len.entry(len).or_default();
        t.extend((dst as i32).to_le_bytes());
        t.extend((src as i32).to_le_bytes());
    }
    let row_bytes: Vec<u8> = row_src.iter().flat_map(|v| v.to_le_bytes()).collect();
    bytes += row_bytes.len() + by_len.values().map(Vec::len).sum::<usize>();
    let row_id = em.data("convt_rows", row_bytes)?;
    let mut run_ids = Vec::new();
    for (len, table) in by_len {
        let count = table.len() / 8;
        run_ids.push((len, count, em.data("convt_runs", table)?));
    }
    let (n, plane) = (sp.n, rows.len * cols.len * o2);
    let y = step.out.loc;
    // Its own step (one unit per output row), so that the convolution before it runs split
    // over the threads and has finished, on all of them, before any row is copied.
    let f = em.kernel(name, Linkage::Local, |k| {
        let (src, dst) = (k.base(Loc::Arena(phases_at)), k.base(y));
        let rt = k.table(row_id);
        let tables: Vec<_> = run_ids
            .iter()
            .map(|&(len, count, id)| (len, count, k.table(id)))
            .collect();
        k.for_units(n * ho, |k, unit| {
            let img = k.b.ins().udiv_imm_u(unit, ho as i64);
            let oy = k.b.ins().urem_imm_u(unit, ho as i64);
            let src_img = k.at(src, img, plane as i64, 0);
            let dst_img = k.at(dst, img, (ho * wo * o) as i64, 0);
            let ra = k.at(rt, oy, 4, 0);
            let off = k.b.ins().sload32(mem(), ra, 0);
            let src_row = k.b.ins().iadd(src_img, off);
            let dst_row = k.at(dst_img, oy, (wo * o) as i64, 0);
            for &(len, count, t) in &tables {
                k.for_range(0, count as i64, 1, |k, r| {
                    let ea = k.at(t, r, 8, 0);
                    let d = k.b.ins().sload32(mem(), ea, 0);
                    let s = k.b.ins().sload32(mem(), ea, 4);
                    let (d, s) = (k.b.ins().iadd(dst_row, d), k.b.ins().iadd(src_row, s));
                    k.copy_bytes(d, s, len)
                })?;
            }
            Ok(())
        })
    })?;
    Ok((vec![conv_f, f], bytes))
}
