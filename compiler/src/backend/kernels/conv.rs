//! qconv2d and qgemm kernels: weights packed at compile time into the rows the dot-product tile
//! reads, the input's zero point folded into the bias (`b − z·Σw`, as the interpreter folds it),
//! padding materialized as a copy filled with the zero point, and the requantization fused into
//! the store. Depthwise convolutions get their own kernel, vectorized along channels.

use super::conv_micro::{self, divmod, Epilogue, Layer};
use super::dot::{self, Dot, Route};
use super::fixed::{finish_x4, multiply_x4, Pair};
use super::micro::{self, Tier};
use super::{int, ints, pair2, quad, zp_scale};
use crate::backend::emit::{mem, Emitter, K, SLACK};
use crate::backend::target::Target;
use crate::backend::{Operand, Step};
use crate::diag::{Error, Result};
use crate::ir::op::Op;
use cranelift_codegen::ir::{types, InstBuilder, StackSlotData, StackSlotKind, Value};
use cranelift_module::{DataId, FuncId, Linkage};
use runtime::qops::qrange;
use runtime::{DType, Tensor};

/// The shape facts of one convolution.
struct Conv {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    groups: usize,
    cg: usize,
    og: usize,
    kh: usize,
    kw: usize,
    ho: usize,
    wo: usize,
    strides: [usize; 2],
    pads: [usize; 4],
    dil: [usize; 2],
}

impl Conv {
    fn new(op: &Op, x: &[usize], w: &[usize], y: &[usize]) -> Result<Conv> {
        if x.len() != 4 || w.len() != 4 || y.len() != 4 {
            return Err(Error::msg("qconv2d needs 4-D input, weight and result"));
        }
        let groups = op.int_of("groups").map_err(Error::msg)?.max(1) as usize;
        let strides = pair2(op, "strides", [1, 1]);
        let dil = pair2(op, "dilations", [1, 1]);
        let pads = quad(op, "pads");
        let g = Conv {
            n: x[0],
            c: x[1],
            h: x[2],
            w: x[3],
            o: w[0],
            groups,
            cg: w[1],
            og: w[0] / groups,
            kh: w[2],
            kw: w[3],
            ho: y[2],
            wo: y[3],
            strides,
            pads,
            dil,
        };
        let span = |k: usize, d: usize| d * (k - 1) + 1;
        let out = |len: usize, p0: usize, p1: usize, k: usize, s: usize, d: usize| {
            (len + p0 + p1).checked_sub(span(k, d)).map(|v| v / s + 1)
        };
        let ok = g.cg * groups == g.c
            && g.og * groups == g.o
            && g.kh > 0
            && g.kw > 0
            && strides.iter().chain(&dil).all(|&v| v > 0)
            && out(g.h, pads[0], pads[2], g.kh, strides[0], dil[0]) == Some(g.ho)
            && out(g.w, pads[1], pads[3], g.kw, strides[1], dil[1]) == Some(g.wo)
            && y[0] == g.n
            && y[1] == g.o;
        if !ok {
            return Err(Error::msg(format!(
                "input {x:?}, weight {w:?}, result {y:?} and the attributes do not describe one \
                 convolution"
            )));
        }
        Ok(g)
    }
    fn padded(&self) -> bool {
        self.pads.iter().any(|&p| p > 0)
    }
    fn hp(&self) -> usize {
        self.h + self.pads[0] + self.pads[2]
    }
    fn wp(&self) -> usize {
        self.w + self.pads[1] + self.pads[3]
    }
    fn depthwise(&self) -> bool {
        self.groups > 1 && self.cg == 1 && self.og == 1
    }

    /// The layer as the micro-kernels see it, when they can run it: depthwise, or one group
    /// with kernel rows contiguous in channels-last memory (no horizontal dilation).
    ///
    /// A column (`W = 1` and a `k×1` kernel: a 1-D convolution exported over the height) is
    /// given as the row it is in channels-last memory, `1×H` with a `1×k` kernel: the same
    /// bytes of input, weights (taps in `i` order, channels within) and output, but pixel tiles
    /// that share each weight load between 8 outputs rather than one.
    fn micro(&self) -> Option<Layer> {
        let column = self.w == 1
            && self.kw == 1
            && self.wo == 1
            && self.pads[1] == 0
            && self.pads[3] == 0
            && (self.depthwise() || self.dil[0] == 1);
        if column {
            let dense = self.groups == 1;
            return (dense || self.depthwise()).then_some(Layer {
                n: self.n,
                c: self.c,
                h: 1,
                w: self.h,
                o: self.o,
                kh: 1,
                kw: self.kh,
                ho: 1,
                wo: self.ho,
                strides: [1, self.strides[0]],
                pads: [0, self.pads[0], 0, self.pads[2]],
                dil: [1, self.dil[0]],
                depthwise: self.depthwise(),
                wide: false,
            });
        }
        let dense = self.groups == 1 && self.dil[1] == 1;
        (dense || self.depthwise()).then_some(Layer {
            n: self.n,
            c: self.c,
            h: self.h,
            w: self.w,
            o: self.o,
            kh: self.kh,
            kw: self.kw,
            ho: self.ho,
            wo: self.wo,
            strides: self.strides,
            pads: self.pads,
            dil: self.dil,
            depthwise: self.depthwise(),
            wide: false,
        })
    }

    /// The micro layer of a convolution reading i16 codes (a tensor given 16 bits) and its tier:
    /// the kernels that multiply activations and weights as i16 (`vpdpwssd` with AVX-512 VNNI,
    /// else AVX2's `vpmaddwd`) read them as they are (an i16·i8 pair sum stays below 2²⁴).
    /// The quantizer gives 16 bits only to the inputs of one-group convolutions.
    fn wide(&self, target: &Target) -> Result<(Tier, Layer)> {
        let tier = if target.has("avx512f") && target.has("avx512vnni") {
            Tier::ZmmWide
        } else {
            Tier::Ymm
        };
        if !target.has("avx2") {
            return Err(Error::msg(format!(
                "a convolution reading 16-bit codes (--activation-bits-for) needs AVX2, which target {} lacks: compile for x86-64-v3 or newer, or give the tensor 8 bits",
                target.spec
            )));
        }
        match self.micro() {
            Some(layer) if !layer.depthwise => Ok((
                tier,
                Layer {
                    wide: true,
                    ..layer
                },
            )),
            _ => Err(Error::msg(
                "16-bit codes feed only convolutions of one group without horizontal dilation",
            )),
        }
    }
}

pub fn temp_bytes(op: &Op, args: &[Operand], out: &Operand, target: &Target) -> Vec<usize> {
    let (x, w) = (&args[0].ty.shape, &args[1].ty.shape);
    if x.len() != 4 || w.len() != 4 || out.ty.shape.len() != 4 {
        return vec![];
    }
    if args[0].ty.elem.storage() == DType::I16 {
        return match Conv::new(op, x, w, &out.ty.shape).and_then(|g| g.wide(target)) {
            Ok((tier, layer)) => layer.temp_bytes(tier).into_iter().collect(),
            // qconv2d reports the error itself.
            Err(_) => vec![],
        };
    }
    let tier = Tier::choose(target, operand_max_abs(&args[1]));
    if let (Some(tier), Ok(g)) = (tier, Conv::new(op, x, w, &out.ty.shape)) {
        if let Some(layer) = g.micro() {
            return layer.temp_bytes(tier).into_iter().collect();
        }
    }
    let p = quad(op, "pads");
    if p.iter().all(|&v| v == 0) {
        return vec![];
    }
    vec![x[0] * (x[2] + p[0] + p[2]) * (x[3] + p[1] + p[3]) * x[1] + SLACK]
}

/// Scratch of a qgemm: the AVX2 micro-kernel reads `a` widened to u16.
pub fn gemm_temp_bytes(args: &[Operand], target: &Target) -> Vec<usize> {
    match (
        Tier::choose(target, operand_max_abs(&args[1])),
        gemm_layer(args),
    ) {
        (Some(tier), Some(g)) => g.temp_bytes(tier).into_iter().collect(),
        _ => vec![],
    }
}

/// The largest |w| of an i8 weight operand (128 when it is not one, which picks the route that
/// is exact for every weight).
fn operand_max_abs(o: &Operand) -> i32 {
    match o.weight.as_deref() {
        Some(Tensor::I8(w)) => w.iter().map(|&v| i32::from(v).abs()).max().unwrap_or(0),
        _ => 128,
    }
}

/// A qgemm `[m, k] × [k, n]` as the micro-kernels see it: one image of one row of m pixels.
fn gemm_layer(args: &[Operand]) -> Option<Layer> {
    let (a, b) = (&args[0].ty.shape, &args[1].ty.shape);
    if a.len() != 2 || b.len() != 2 {
        return None;
    }
    let (m, k) = (a[0], a[1]);
    let n = if b[0] == k { b[1] } else { b[0] };
    Some(Layer {
        n: 1,
        c: k,
        h: 1,
        w: m,
        o: n,
        kh: 1,
        kw: 1,
        ho: 1,
        wo: m,
        strides: [1, 1],
        pads: [0; 4],
        dil: [1, 1],
        depthwise: false,
        wide: false,
    })
}

fn weights_i8<'a>(o: &'a Operand, what: &str) -> Result<&'a ndarray::ArrayD<i8>> {
    match o.weight.as_deref() {
        Some(Tensor::I8(w)) => Ok(w),
        _ => Err(Error::msg(format!(
            "{what} must be an i8 constant, not {}",
            o.ty
        ))),
    }
}

/// The weights of each of a gemm's output columns: `b`'s rows when transposed, else its
/// columns, gathered in `b`'s memory order (a dynamic index per weight, and a column walk across
/// a matrix of tens of MiB, made this most of the code generation of a large classifier).
fn output_rows(b: &ndarray::ArrayD<i8>, trans_b: bool) -> Vec<Vec<i8>> {
    let b = b
        .view()
        .into_dimensionality::<ndarray::Ix2>()
        .expect("a 2-D gemm operand");
    if trans_b {
        return b.rows().into_iter().map(|r| r.to_vec()).collect();
    }
    let mut rows = vec![Vec::with_capacity(b.nrows()); b.ncols()];
    for r in b.rows() {
        for (row, &v) in rows.iter_mut().zip(r.iter()) {
            row.push(v);
        }
    }
    rows
}

/// The bias with the input's zero point folded in, one i32 per output channel:
/// `b[o] − z·Σ w[o, …]` (wrapping, as the interpreter's `folded_bias`).
fn folded_bias(step: &Step, rows: &[Vec<i8>], z: i32) -> Result<Vec<i32>> {
    let b = match step.args.get(2) {
        None => None,
        Some(o) => match o.weight.as_deref() {
            Some(Tensor::I32(b)) if b.len() == rows.len() => Some(b.iter().copied().collect()),
            _ => {
                return Err(Error::msg(format!(
                    "the bias must be an i32 constant with {} entries, not {}",
                    rows.len(),
                    o.ty
                )))
            }
        },
    };
    let b: Vec<i32> = b.unwrap_or_else(|| vec![0; rows.len()]);
    Ok(rows
        .iter()
        .zip(b)
        .map(|(r, b)| {
            let s = r.iter().fold(0i32, |s, &v| s.wrapping_add(i32::from(v)));
            b.wrapping_sub(z.wrapping_mul(s))
        })
        .collect())
}

/// The requantization of each output channel: constants when shared, tables otherwise.
struct ChannelRequant {
    mult: Vec<i32>,
    shift: Vec<i32>,
    tables: Option<(DataId, DataId)>,
    zero_point: i32,
    lo: i32,
    hi: i32,
}

impl ChannelRequant {
    fn new(em: &mut Emitter, step: &Step, channels: usize) -> Result<ChannelRequant> {
        let mut rq = ChannelRequant::read(step, channels)?;
        if rq.mult.len() > 1 {
            let m = em.data(
                "mult",
                rq.mult.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )?;
            let s = em.data(
                "shift",
                rq.shift.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )?;
            rq.tables = Some((m, s));
        }
        Ok(rq)
    }

    /// The attributes, checked, without the tables the Cranelift kernels read.
    fn read(step: &Step, channels: usize) -> Result<ChannelRequant> {
        let op = &step.op;
        let (mult, shift) = (ints(op, "multiplier")?, ints(op, "shift")?);
        let (lo, hi) = (int(op, "lo")?, int(op, "hi")?);
        let (_, zero_point) = zp_scale(&step.out.ty, "the result")?;
        let (qmin, qmax) = qrange(step.out.ty.elem.storage());
        if step.out.ty.elem.storage() != DType::U8 || lo < qmin || hi > qmax || lo > hi {
            return Err(Error::msg(format!(
                "the result must be u8 with a clamp inside [0, 255], not {} [{lo}, {hi}]",
                step.out.ty
            )));
        }
        if mult.len() != shift.len() || !(mult.len() == 1 || mult.len() == channels) {
            return Err(Error::msg(format!(
                "{} multipliers and {} shifts for {channels} output channels",
                mult.len(),
                shift.len()
            )));
        }
        Ok(ChannelRequant {
            mult,
            shift,
            tables: None,
            zero_point,
            lo,
            hi,
        })
    }

    /// The micro-kernels' view.
    fn micro(&self) -> micro::RequantSlices<'_> {
        micro::RequantSlices {
            mult: &self.mult,
            shift: &self.shift,
            zero_point: self.zero_point,
            lo: self.lo,
            hi: self.hi,
        }
    }

    fn pair(&self, k: &mut K, oc: Value) -> Pair {
        match self.tables {
            None => Pair::Const(self.mult[0], self.shift[0]),
            Some((m, s)) => {
                let (mt, st) = (k.table(m), k.table(s));
                let ma = k.at(mt, oc, 4, 0);
                let sa = k.at(st, oc, 4, 0);
                let m = k.b.ins().load(types::I32, mem(), ma, 0);
                let s = k.b.ins().load(types::I32, mem(), sa, 0);
                Pair::Dyn(m, s)
            }
        }
    }

    /// The u8 codes of four accumulators of output channel `oc` (an i64): an i32x4.
    fn code_x4(&self, k: &mut K, acc: Value, oc: Value) -> Value {
        let pair = self.pair(k, oc);
        let may_shift_left = self.shift.iter().any(|&s| s > 0);
        let v = multiply_x4(k, acc, pair, may_shift_left);
        finish_x4(k, v, self.zero_point, self.lo, self.hi)
    }

    fn bytes(&self) -> usize {
        if self.tables.is_some() {
            self.mult.len() * 8
        } else {
            0
        }
    }
}

/// Packs rows of weights along the dot's runs, each run padded with zeros to whole vectors.
fn pack_rows(dot: &Dot, rows: &[Vec<i8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * dot.row_bytes());
    for r in rows {
        let mut at = 0;
        for &(_, len) in &dot.segs {
            out.extend(r[at..at + len].iter().map(|&v| v as u8));
            out.resize(out.len() + len.div_ceil(16) * 16 - len, 0);
            at += len;
        }
    }
    out
}

fn max_abs(rows: &[Vec<i8>]) -> i32 {
    rows.iter()
        .flatten()
        .map(|&v| i32::from(v).abs())
        .max()
        .unwrap_or(0)
}

/// How many pixels and output channels one tile computes: the pixels are the lanes of the
/// requantization, which shares one multiplier per channel.
const TILE_PIXELS: usize = 4;
const TILE_CHANNELS: usize = 2;

/// Loops `lo..hi` in steps of `tile`, then one shorter tile for the remainder:
/// `body(k, start, count)` with `count` the tile size used.
fn tiled(
    k: &mut K,
    lo: usize,
    hi: usize,
    tile: usize,
    body: &dyn Fn(&mut K, Value, usize) -> Result<()>,
) -> Result<()> {
    let full = lo + (hi - lo) / tile * tile;
    k.for_range(lo as i64, full as i64, tile as i64, |k, i| body(k, i, tile))?;
    if full < hi {
        let i = k.i64(full as i64);
        body(k, i, hi - full)?;
    }
    Ok(())
}

/// Bias, requantization and the store of one output channel of a tile: `sum` holds up to four
/// pixels' dot products, pixel p's code goes to `out + p·stride + oc`.
#[allow(clippy::too_many_arguments)]
fn epilogue(
    k: &mut K,
    rq: &ChannelRequant,
    bias: Value,
    sum: Value,
    oc: Value,
    out: Value,
    stride: i64,
    pixels: usize,
) {
    let ba = k.at(bias, oc, 4, 0);
    let bv = k.b.ins().load(types::I32, mem(), ba, 0);
    let bv = k.b.ins().splat(types::I32X4, bv);
    let acc = k.b.ins().iadd(sum, bv);
    let codes = rq.code_x4(k, acc, oc);
    // Codes are in [0, 255]: both narrowings are exact.
    let h = k.b.ins().snarrow(codes, codes);
    let bytes = k.b.ins().unarrow(h, h);
    let ya = k.at(out, oc, 1, 0);
    for p in 0..pixels {
        let b = k.b.ins().extractlane(bytes, p as u8);
        k.b.ins().store(mem(), b, ya, (p as i64 * stride) as i32);
    }
}

/// Copies `x` (channels-last) into the padded buffer, the border filled with the zero point,
/// and the slack after it too: the last tile's vector loads read into it (zero weights cancel
/// those bytes, but they must have been written, or valgrind sees uninitialised reads).
fn pad_input(k: &mut K, g: &Conv, x: Value, dst: Value, zx: i32) -> Result<()> {
    let (hp, wp, c) = (g.hp(), g.wp(), g.c);
    k.fill_bytes(dst, zx as u8, g.n * hp * wp * c + SLACK)?;
    let row = g.w * c;
    k.for_range(0, g.n as i64, 1, |k, n| {
        k.for_range(0, g.h as i64, 1, |k, h| {
            let src_img = k.at(x, n, (g.h * row) as i64, 0);
            let src = k.at(src_img, h, row as i64, 0);
            let dst_img = k.at(dst, n, (hp * wp * c) as i64, 0);
            let dst_row = k.at(
                dst_img,
                h,
                (wp * c) as i64,
                ((g.pads[0] * wp + g.pads[1]) * c) as i64,
            );
            k.copy_bytes(dst_row, src, row)
        })
    })
}

pub fn qconv2d(
    em: &mut Emitter,
    name: &str,
    step: &Step,
    target: &Target,
) -> Result<(FuncId, usize)> {
    let (x, wo, y) = (&step.args[0], &step.args[1], &step.out);
    let w = weights_i8(wo, "the weight")?;
    let g = Conv::new(&step.op, &x.ty.shape, w.shape(), &y.ty.shape)?;
    let (_, zx) = zp_scale(&x.ty, "the input")?;
    if !matches!(x.ty.elem.storage(), DType::U8 | DType::I16) {
        return Err(Error::msg(format!(
            "qconv2d takes u8 (or 16-bit) activations, not {}",
            x.ty
        )));
    }
    let w = w.as_standard_layout();
    let wd = w.as_slice().expect("standard layout");
    let per_oc = g.cg * g.kh * g.kw;
    let wide = if x.ty.elem.storage() == DType::I16 {
        Some(g.wide(target)?)
    } else {
        None
    };
    let tier = Tier::choose(target, operand_max_abs(wo));
    if let (Some(tier), Some(layer), true) = (tier, g.micro(), g.depthwise()) {
        let taps = g.kh * g.kw;
        let rows: Vec<Vec<i8>> = (0..g.c)
            .map(|ch| wd[ch * taps..][..taps].to_vec())
            .collect();
        return micro_conv(em, name, step, tier, &layer, &rows, zx);
    }
    if g.depthwise() {
        let rq = ChannelRequant::new(em, step, g.o)?;
        return depthwise(em, name, step, &g, wd, zx, rq);
    }
    // Runs: with one group and no horizontal dilation a kernel row is contiguous in
    // channels-last memory (kw·C bytes); otherwise each tap reads its group's cg channels.
    let (wp, c) = (g.wp() as i64, g.c as i64);
    let whole_rows = g.groups == 1 && g.dil[1] == 1;
    let segs: Vec<(i64, usize)> = if whole_rows {
        (0..g.kh)
            .map(|i| ((i * g.dil[0]) as i64 * wp * c, g.kw * g.cg))
            .collect()
    } else {
        (0..g.kh)
            .flat_map(|i| {
                (0..g.kw).map(move |j| {
                    (
                        ((i * g.dil[0]) as i64 * wp + (j * g.dil[1]) as i64) * c,
                        g.cg,
                    )
                })
            })
            .collect()
    };
    // Row `o` lists w[o, ic, i, j] in the runs' order: (i, j, ic).
    let rows: Vec<Vec<i8>> = (0..g.o)
        .map(|o| {
            let mut r = Vec::with_capacity(per_oc);
            for i in 0..g.kh {
                for j in 0..g.kw {
                    for ic in 0..g.cg {
                        r.push(wd[((o * g.cg + ic) * g.kh + i) * g.kw + j]);
                    }
                }
            }
            r
        })
        .collect();
    if let Some((tier, layer)) = wide {
        return micro_conv(em, name, step, tier, &layer, &rows, zx);
    }
    if let (Some(tier), Some(layer)) = (tier, g.micro()) {
        return micro_conv(em, name, step, tier, &layer, &rows, zx);
    }
    let rq = ChannelRequant::new(em, step, g.o)?;
    let dot = Dot {
        segs,
        route: Route::choose(target, max_abs(&rows)),
    };
    let bias = folded_bias(step, &rows, zx)?;
    let packed = pack_rows(&dot, &rows);
    let row_bytes = dot.row_bytes() as i64;
    let bytes = packed.len() + bias.len() * 4 + rq.bytes();
    let wid = em.data("conv_w", packed)?;
    let bid = em.data(
        "conv_b",
        bias.iter().flat_map(|v| v.to_le_bytes()).collect(),
    )?;
    let temps = step.temps.clone();
    let f = em.kernel(name, Linkage::Local, |k| {
        let xb = k.base(x.loc);
        let src = if g.padded() {
            let t = k.temp(temps[0]);
            pad_input(k, &g, xb, t, zx)?;
            t
        } else {
            xb
        };
        let yb = k.base(y.loc);
        let (wt, bt) = (k.table(wid), k.table(bid));
        let (hp, wpx) = (g.hp() as i64, g.wp() as i64);
        // A 1×1 convolution with unit strides and no padding reads each pixel once, in order:
        // one long row of pixels, so the pixel tiles never break at a row's end.
        let pointwise = g.kh == 1 && g.kw == 1 && g.strides == [1, 1] && !g.padded();
        let (rows_out, cols_out) = if pointwise {
            (1, g.ho * g.wo)
        } else {
            (g.ho, g.wo)
        };
        // Work units, for threads: (image, output row); each writes its own row.
        k.for_units(g.n * rows_out, |k, u| {
            let (n, oh) = divmod(k, u, rows_out);
            let img = k.at(src, n, hp * wpx * c, 0);
            let out_img = k.at(yb, n, (g.ho * g.wo * g.o) as i64, 0);
            {
                let row = k.at(img, oh, g.strides[0] as i64 * wpx * c, 0);
                let out_row = k.at(out_img, oh, (cols_out * g.o) as i64, 0);
                k.for_range(0, g.groups as i64, 1, |k, gi| {
                    let grow = k.at(row, gi, g.cg as i64, 0);
                    let oc0 = k.b.ins().imul_imm_s(gi, g.og as i64);
                    tiled(k, 0, cols_out, TILE_PIXELS, &|k, ow, np| {
                        let acts: Vec<Value> = (0..np)
                            .map(|p| {
                                k.at(
                                    grow,
                                    ow,
                                    g.strides[1] as i64 * c,
                                    (p * g.strides[1]) as i64 * c,
                                )
                            })
                            .collect();
                        let out_px = k.at(out_row, ow, g.o as i64, 0);
                        tiled(k, 0, g.og, TILE_CHANNELS, &|k, j, no| {
                            let oc = k.b.ins().iadd(oc0, j);
                            let wrows: Vec<Value> = (0..no)
                                .map(|o| k.at(wt, oc, row_bytes, o as i64 * row_bytes))
                                .collect();
                            let sums = dot::tile(k, &dot, &acts, &wrows)?;
                            for (o, &s) in sums.iter().enumerate() {
                                let occ = k.b.ins().iadd_imm_s(oc, o as i64);
                                epilogue(k, &rq, bt, s, occ, out_px, g.o as i64, np);
                            }
                            Ok(())
                        })
                    })
                })
            }
        })
    })?;
    Ok((f, bytes))
}

/// Depthwise: each channel convolved with its own kernel; 16 channels per vector, products
/// exact in i16 (255·128 < 2¹⁵) and summed in i32.
fn depthwise(
    em: &mut Emitter,
    name: &str,
    step: &Step,
    g: &Conv,
    wd: &[i8],
    zx: i32,
    rq: ChannelRequant,
) -> Result<(FuncId, usize)> {
    let (x, y) = (&step.args[0], &step.out);
    let c = g.c;
    let cp = c.div_ceil(16) * 16;
    let taps = g.kh * g.kw;
    // Packed as [tap][channel], channels padded to whole vectors.
    let mut packed = vec![0u8; taps * cp];
    for ch in 0..c {
        for t in 0..taps {
            packed[t * cp + ch] = wd[ch * taps + t] as u8;
        }
    }
    let rows: Vec<Vec<i8>> = (0..c).map(|ch| wd[ch * taps..][..taps].to_vec()).collect();
    let bias = folded_bias(step, &rows, zx)?;
    let bytes = packed.len() + bias.len() * 4 + rq.bytes();
    let wid = em.data("dw_w", packed)?;
    let bid = em.data("dw_b", bias.iter().flat_map(|v| v.to_le_bytes()).collect())?;
    let temps = step.temps.clone();
    let (hp, wp) = (g.hp() as i64, g.wp() as i64);
    let ci = c as i64;
    let f = em.kernel(name, Linkage::Local, |k| {
        let xb = k.base(x.loc);
        let src = if g.padded() {
            let t = k.temp(temps[0]);
            pad_input(k, g, xb, t, zx)?;
            t
        } else {
            xb
        };
        let yb = k.base(y.loc);
        let (wt, bt) = (k.table(wid), k.table(bid));
        // Four pixels' accumulators of one 16-channel chunk, `[pixel][channel]` i32s: read back
        // per channel as one four-pixel vector, which shares the channel's multiplier.
        let slot =
            k.b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 256, 6));
        // Work units, for threads: (image, output row); each writes its own row.
        k.for_units(g.n * g.ho, |k, u| {
            let (n, oh) = divmod(k, u, g.ho);
            let img = k.at(src, n, hp * wp * ci, 0);
            let out_img = k.at(yb, n, (g.ho * g.wo) as i64 * ci, 0);
            {
                let row = k.at(img, oh, g.strides[0] as i64 * wp * ci, 0);
                let out_row = k.at(out_img, oh, g.wo as i64 * ci, 0);
                tiled(k, 0, g.wo, TILE_PIXELS, &|k, ow, np| {
                    let px0 = k.at(row, ow, g.strides[1] as i64 * ci, 0);
                    let out_px = k.at(out_row, ow, ci, 0);
                    k.for_range(0, cp as i64 / 16, 1, |k, chunk| {
                        let wc = k.at(wt, chunk, 16, 0);
                        for p in 0..np {
                            let zero = k.i32(0);
                            let zv = k.b.ins().splat(types::I32X4, zero);
                            let accs: Vec<_> = (0..4).map(|_| k.var(types::I32X4, zv)).collect();
                            let pxc = k.at(px0, chunk, 16, (p * g.strides[1]) as i64 * ci);
                            for i in 0..g.kh {
                                for j in 0..g.kw {
                                    let off =
                                        ((i * g.dil[0]) as i64 * wp + (j * g.dil[1]) as i64) * ci;
                                    let a = k.b.ins().load(types::I8X16, mem(), pxc, off as i32);
                                    let w = k.b.ins().load(
                                        types::I8X16,
                                        mem(),
                                        wc,
                                        ((i * g.kw + j) * cp) as i32,
                                    );
                                    let al = k.b.ins().uwiden_low(a);
                                    let ah = k.b.ins().uwiden_high(a);
                                    let wl = k.b.ins().swiden_low(w);
                                    let wh = k.b.ins().swiden_high(w);
                                    let pl = k.b.ins().imul(al, wl);
                                    let ph = k.b.ins().imul(ah, wh);
                                    let parts = [
                                        k.b.ins().swiden_low(pl),
                                        k.b.ins().swiden_high(pl),
                                        k.b.ins().swiden_low(ph),
                                        k.b.ins().swiden_high(ph),
                                    ];
                                    for (acc, part) in accs.iter().zip(parts) {
                                        let cur = k.b.use_var(*acc);
                                        let next = k.b.ins().iadd(cur, part);
                                        k.b.def_var(*acc, next);
                                    }
                                }
                            }
                            for (q, acc) in accs.iter().enumerate() {
                                let v = k.b.use_var(*acc);
                                k.b.ins().stack_store(
                                    types::I64,
                                    v,
                                    slot,
                                    (p * 64 + q * 16) as i32,
                                );
                            }
                        }
                        let base_c = k.b.ins().imul_imm_s(chunk, 16);
                        let cv = k.i64(ci);
                        let left = k.b.ins().isub(cv, base_c);
                        let sixteen = k.i64(16);
                        let lanes = k.b.ins().smin(left, sixteen);
                        let sa = k.b.ins().stack_addr(types::I64, slot, 0);
                        k.for_count(lanes, |k, lane| {
                            let occ = k.b.ins().iadd(base_c, lane);
                            let aa = k.at(sa, lane, 4, 0);
                            let zero = k.i32(0);
                            let mut v = k.b.ins().splat(types::I32X4, zero);
                            for p in 0..np {
                                let s = k.b.ins().load(types::I32, mem(), aa, (p * 64) as i32);
                                v = k.b.ins().insertlane(v, s, p as u8);
                            }
                            epilogue(k, &rq, bt, v, occ, out_px, ci, np);
                            Ok(())
                        })
                    })
                })
            }
        })
    })?;
    Ok((f, bytes))
}

/// A convolution or gemm on the machine-code micro-kernels (`rows` as `conv_micro::emit` takes
/// them).
fn micro_conv(
    em: &mut Emitter,
    name: &str,
    step: &Step,
    tier: Tier,
    layer: &Layer,
    rows: &[Vec<i8>],
    zx: i32,
) -> Result<(FuncId, usize)> {
    let rq = ChannelRequant::read(step, layer.o)?;
    let bias = folded_bias(step, rows, zx)?;
    let ep = Epilogue {
        bias: &bias,
        rq: rq.micro(),
    };
    let (x, y) = (step.args[0].loc, step.out.loc);
    let temp = step.temps.first().copied();
    conv_micro::emit(em, name, tier, layer, rows, &ep, x, y, zx, temp)
}

pub fn qgemm(
    em: &mut Emitter,
    name: &str,
    step: &Step,
    target: &Target,
) -> Result<(FuncId, usize)> {
    let (a, bo, y) = (&step.args[0], &step.args[1], &step.out);
    let b = weights_i8(bo, "operand b")?;
    let (_, za) = zp_scale(&a.ty, "operand a")?;
    if a.ty.rank() != 2 || b.ndim() != 2 || a.ty.elem.storage() != DType::U8 {
        return Err(Error::msg(format!(
            "qgemm takes a 2-D u8 a and a 2-D i8 b, not {} and {}",
            a.ty, bo.ty
        )));
    }
    let trans_b = step.op.bool_of("trans_b").map_err(Error::msg)?;
    let (m, kk) = (a.ty.shape[0], a.ty.shape[1]);
    let (n, kb) = if trans_b {
        (b.shape()[0], b.shape()[1])
    } else {
        (b.shape()[1], b.shape()[0])
    };
    if kk != kb || y.ty.shape != [m, n] {
        return Err(Error::msg(format!(
            "a {}, b {} (trans_b {trans_b}) and the result {} do not describe one gemm",
            a.ty, bo.ty, y.ty
        )));
    }
    let rows = output_rows(b, trans_b);
    if let Some(tier) = Tier::choose(target, operand_max_abs(bo)) {
        let layer = gemm_layer(&step.args).expect("checked 2-D above");
        return micro_conv(em, name, step, tier, &layer, &rows, za);
    }
    let rq = ChannelRequant::new(em, step, n)?;
    let dot = Dot {
        segs: vec![(0, kk)],
        route: Route::choose(target, max_abs(&rows)),
    };
    let bias = folded_bias(step, &rows, za)?;
    let packed = pack_rows(&dot, &rows);
    let row_bytes = dot.row_bytes() as i64;
    let bytes = packed.len() + bias.len() * 4 + rq.bytes();
    let wid = em.data("gemm_w", packed)?;
    let bid = em.data(
        "gemm_b",
        bias.iter().flat_map(|v| v.to_le_bytes()).collect(),
    )?;
    let f = em.kernel(name, Linkage::Local, |k| {
        let (ab, yb) = (k.base(a.loc), k.base(y.loc));
        let (wt, bt) = (k.table(wid), k.table(bid));
        tiled(k, 0, m, TILE_PIXELS, &|k, i, np| {
            let acts: Vec<Value> = (0..np)
                .map(|p| k.at(ab, i, kk as i64, (p * kk) as i64))
                .collect();
            let out_row = k.at(yb, i, n as i64, 0);
            tiled(k, 0, n, TILE_CHANNELS, &|k, j, no| {
                let wrows: Vec<Value> = (0..no)
                    .map(|o| k.at(wt, j, row_bytes, o as i64 * row_bytes))
                    .collect();
                let sums = dot::tile(k, &dot, &acts, &wrows)?;
                for (o, &s) in sums.iter().enumerate() {
                    let col = k.b.ins().iadd_imm_s(j, o as i64);
                    epilogue(k, &rq, bt, s, col, out_row, n as i64, np);
                }
                Ok(())
            })
        })
    })?;
    Ok((f, bytes))
}
