//! Convolutions (one group with contiguous kernel rows, or depthwise) and gemms on the
//! machine-code micro-kernels of `micro/`: Cranelift stages the input when the kernel needs it
//! (padded with the zero point, widened to u16 for AVX2's dense kernel), then loops over images,
//! blocks of output channels, output rows and pixel tiles, calling one assembled kernel per tile.

use super::micro::{self, Kind, Shape, Tier};
use crate::backend::emit::{mem, Emitter, Loc, K, SLACK};
use crate::diag::Result;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, InstBuilder, Value};
use cranelift_module::{FuncId, Linkage};
use std::collections::{BTreeMap, BTreeSet};

/// A convolution as the micro-kernels see it: channels-last images, kernel rows of `kw·c`
/// contiguous elements. A gemm is one image of one row, `w` = m pixels, `c` = k channels.
#[derive(Clone, Copy, Debug)]
pub struct Layer {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub kh: usize,
    pub kw: usize,
    pub ho: usize,
    pub wo: usize,
    pub strides: [usize; 2],
    /// Top, left, bottom, right.
    pub pads: [usize; 4],
    /// Vertical, horizontal (the horizontal one is 1 for a dense layer).
    pub dil: [usize; 2],
    /// Each channel convolved with its own `kh × kw` window (`o == c`).
    pub depthwise: bool,
    /// The input holds i16 codes (a tensor given 16 bits), read as they are by the
    /// [`Tier::ZmmWide`] or [`Tier::Ymm`] kernel; a dense layer only.
    pub wide: bool,
}

impl Layer {
    fn padded(&self) -> bool {
        self.pads.iter().any(|&p| p > 0)
    }
    fn hp(&self) -> usize {
        self.h + self.pads[0] + self.pads[2]
    }
    fn wp(&self) -> usize {
        self.w + self.pads[1] + self.pads[3]
    }

    /// Bytes of one activation element as the kernel reads it: the depthwise kernels widen
    /// u8 codes in registers, AVX2's dense kernel reads them widened to u16.
    fn elem(&self, tier: Tier) -> usize {
        if self.depthwise {
            1
        } else if self.wide {
            2
        } else {
            tier.elem()
        }
    }

    /// Whether the kernel reads a staged copy rather than the input itself: padding must be
    /// materialized, and u8 codes widened (i16 codes are read in place).
    fn staged(&self, tier: Tier) -> bool {
        self.padded() || (self.elem(tier) > 1 && !self.wide)
    }

    /// Scratch bytes of the staged copy (with room for the last step's read past a row's run).
    pub fn temp_bytes(&self, tier: Tier) -> Option<usize> {
        self.staged(tier)
            .then(|| self.n * self.hp() * self.wp() * self.c * self.elem(tier) + SLACK)
    }

    /// A 1×1 convolution with unit strides and no padding reads every pixel once, in order: one
    /// long row of pixels, so tiles never break at a row's end.
    fn pointwise(&self) -> bool {
        !self.depthwise && self.kh == 1 && self.kw == 1 && self.strides == [1, 1] && !self.padded()
    }
}

/// The requantization and clamp of the result, per channel or shared.
pub struct Epilogue<'a> {
    /// `b − z·Σw` per output channel.
    pub bias: &'a [i32],
    pub rq: micro::RequantSlices<'a>,
}

/// Emits the kernel `name` for `layer`: `rows[o]` holds output channel o's weights, `kh` runs of
/// `kw·c` in the order the activations are read (a depthwise layer: its `kh·kw` taps). Returns
/// the function and its table bytes.
#[allow(clippy::too_many_arguments)]
pub fn emit(
    em: &mut Emitter,
    name: &str,
    tier: Tier,
    g: &Layer,
    rows: &[Vec<i8>],
    ep: &Epilogue,
    x: Loc,
    y: Loc,
    zx: i32,
    temp: Option<usize>,
) -> Result<(FuncId, usize)> {
    let (nb, elem) = (tier.block(), g.elem(tier));
    let tile = if g.depthwise {
        tier.depthwise_tile()
    } else {
        tier.tile()
    };
    let (hp, wp) = (g.hp(), g.wp());
    let (kind, packed, wbytes) = if g.depthwise {
        let kind = Kind::Depthwise {
            kh: g.kh,
            kw: g.kw,
            col_step: (g.dil[1] * g.c) as i64,
            row_step: (g.dil[0] * wp * g.c) as i64,
        };
        let wbytes = micro::depthwise_weight_bytes(tier, g.kh, g.kw);
        (kind, micro::pack_depthwise(tier, rows, g.kh, g.kw), wbytes)
    } else {
        let run = g.kw * g.c;
        let steps = run.div_ceil(tier.step());
        let kind = Kind::Dense {
            rows: g.kh,
            steps,
            row_step: (g.dil[0] * wp * g.c * elem) as i64,
        };
        let wbytes = micro::weight_bytes(tier, g.kh, steps);
        (kind, micro::pack(tier, rows, g.kh, run), wbytes)
    };
    let tables = micro::tables(tier, ep.bias, &ep.rq);
    let bytes = packed.len() + tables.len();
    let wid = em.data("micro_w", packed)?;
    let tid = em.data("micro_t", tables)?;
    let tbytes = micro::table_bytes(tier);
    // A depthwise block reads its own channels of each pixel; a dense one reads them all.
    let act_block = if g.depthwise { nb as i64 } else { 0 };

    let pointwise = g.pointwise();
    let (out_rows, out_cols) = if pointwise {
        (1, g.ho * g.wo)
    } else {
        (g.ho, g.wo)
    };
    // Rows of output pixels, the unit threads split: an image row, or for a pointwise layer
    // (one long row) chunks of whole tiles, about 16 of them.
    let (rows, chunk) = if pointwise {
        let tiles = out_cols.div_ceil(tile);
        let per = tiles.div_ceil(16).max(1);
        (tiles.div_ceil(per), per * tile)
    } else {
        (out_rows, out_cols)
    };
    let pixel_step = (g.strides[1] * g.c * elem) as i64;
    let row_adv = (g.strides[0] * wp * g.c * elem) as i64;
    let left = ep.rq.shift.iter().any(|&s| s > 0);
    let fold_zp = micro::folds_zero_point(&ep.rq);
    let saturates = ep.rq.hi == 255;
    let floored = micro::floored(&ep.rq);
    let high = micro::divides_past_dword(&ep.rq);

    // One kernel per distinct (pixels, channels) this layer needs: full tiles and blocks, the
    // last pixels of a row, the last channels.
    let mut kernels: BTreeMap<(usize, usize), FuncId> = BTreeMap::new();
    let pixel_kinds: BTreeSet<usize> = [tile.min(out_cols), out_cols % tile]
        .into_iter()
        .filter(|&p| p > 0)
        .collect();
    let channel_kinds: Vec<usize> = [if g.o >= nb { nb } else { 0 }, g.o % nb]
        .into_iter()
        .filter(|&c| c > 0)
        .collect();
    for &pixels in &pixel_kinds {
        for &channels in &channel_kinds {
            let shape = Shape {
                tier,
                kind,
                pixels,
                channels,
                pixel_step,
                out_step: g.o as i64,
                left,
                fold_zp,
                saturates,
                floored,
                high,
            };
            let code = micro::assemble(&shape)?;
            let f = em.machine_code(&format!("{name}_micro_{pixels}x{channels}"), &code, 4)?;
            kernels.insert((pixels, channels), f);
        }
    }

    let f = em.kernel(name, Linkage::Local, |k| {
        let xb = k.base(x);
        // Units of a depthwise layer of one image go row by row (each row's blocks together),
        // so that a part of them reads a band of rows, and stages only that band.
        let banded = g.depthwise && g.n == 1;
        let src = match temp {
            Some(off) => {
                let t = k.temp(off);
                if banded {
                    stage_band(k, g, xb, t, zx, g.o.div_ceil(nb))?;
                } else {
                    stage(k, g, xb, t, zx, tier)?;
                }
                t
            }
            None => xb,
        };
        let yb = k.base(y);
        let (wt, tt) = (k.table(wid), k.table(tid));
        // Work units, for threads: (image, block of output channels, row of output pixels), in
        // the order one thread visits them, so a part of the range keeps one block's packed
        // weights in cache while its rows stream past them. Each unit writes its own pixels'
        // channels of one block: no two units write the same byte.
        let nbt = g.o.div_ceil(nb);
        let full_blocks = g.o / nb;
        let units = g.n * nbt * rows;
        k.for_units(units, |k, u| {
            let (n, b, r) = if banded {
                let (r, b) = divmod(k, u, nbt);
                (k.i64(0), b, r)
            } else {
                let (t, r) = divmod(k, u, rows);
                let (n, b) = divmod(k, t, nbt);
                (n, b, r)
            };
            let img = k.at(src, n, (hp * wp * g.c * elem) as i64, 0);
            let out_img = k.at(yb, n, (g.ho * g.wo * g.o) as i64, 0);
            let row = |k: &mut K, channels: usize| -> Result<()> {
                let wb = k.at(wt, b, wbytes as i64, 0);
                let tb = k.at(tt, b, tbytes as i64, 0);
                let ob = k.at(out_img, b, nb as i64, 0);
                let ab = k.at(img, b, act_block, 0);
                // A row of `row_px` pixels: a row of the image, or one chunk of the long row
                // a pointwise layer reads.
                let (arow, orow) = if pointwise {
                    (
                        k.at(ab, r, chunk as i64 * pixel_step, 0),
                        k.at(ob, r, (chunk * g.o) as i64, 0),
                    )
                } else {
                    (
                        k.at(ab, r, row_adv, 0),
                        k.at(ob, r, (out_cols * g.o) as i64, 0),
                    )
                };
                let cols = |k: &mut K, count: usize| -> Result<()> {
                    let full = count / tile * tile;
                    let call = |k: &mut K, ow: Value, pixels: usize| {
                        let a = k.at(arow, ow, pixel_step, 0);
                        let o = k.at(orow, ow, g.o as i64, 0);
                        k.call(kernels[&(pixels, channels)], &[a, wb, o, tb]);
                    };
                    k.for_range(0, full as i64, tile as i64, |k, ow| {
                        call(k, ow, tile);
                        Ok(())
                    })?;
                    if full < count {
                        let ow = k.i64(full as i64);
                        call(k, ow, count - full);
                    }
                    Ok(())
                };
                if !pointwise || rows == 1 {
                    return cols(k, out_cols);
                }
                let last = out_cols - (rows - 1) * chunk;
                if last == chunk {
                    cols(k, chunk)
                } else {
                    let inner =
                        k.b.ins()
                            .icmp_imm_s(IntCC::UnsignedLessThan, r, (rows - 1) as i64);
                    k.if_else(inner, |k| cols(k, chunk), |k| cols(k, last))
                }
            };
            if full_blocks == nbt {
                row(k, nb)
            } else if full_blocks == 0 {
                row(k, g.o % nb)
            } else {
                let whole =
                    k.b.ins()
                        .icmp_imm_s(IntCC::UnsignedLessThan, b, full_blocks as i64);
                k.if_else(whole, |k| row(k, nb), |k| row(k, g.o % nb))
            }
        })
    })?;
    Ok((f, bytes))
}

/// `(v / d, v % d)` of a non-negative i64, without the division when `d` is 1.
pub(super) fn divmod(k: &mut K, v: Value, d: usize) -> (Value, Value) {
    if d == 1 {
        (v, k.i64(0))
    } else {
        (
            k.b.ins().udiv_imm_s(v, d as i64),
            k.b.ins().urem_imm_s(v, d as i64),
        )
    }
}

/// Writes the kernel's view of `x` to `dst`: `[n][hp][wp][c]` elements of the tier's width, the
/// border filled with the zero point. Only the border is filled: the interior is written once.
fn stage(k: &mut K, g: &Layer, x: Value, dst: Value, zx: i32, tier: Tier) -> Result<()> {
    let (hp, wp, c) = (g.hp(), g.wp(), g.c);
    let elem = g.elem(tier);
    let row = g.w * c;
    // An i16 zero point fills as its two's-complement bits.
    let fill = |k: &mut K, at: Value, n: usize| -> Result<()> {
        match elem {
            1 => k.fill_bytes(at, zx as u8, n),
            _ => fill_u16(k, at, zx as i16 as u16, n),
        }
    };
    // Bytes of one source element: i16 codes are copied, u8 ones copied or widened.
    let src_elem = if g.wide { 2 } else { 1 };
    k.for_range(0, g.n as i64, 1, |k, n| {
        let src_img = k.at(x, n, (g.h * row * src_elem) as i64, 0);
        let dst_img = k.at(dst, n, (hp * wp * c * elem) as i64, 0);
        fill(k, dst_img, g.pads[0] * wp * c)?;
        let bottom =
            k.b.ins()
                .iadd_imm_s(dst_img, ((g.pads[0] + g.h) * wp * c * elem) as i64);
        fill(k, bottom, g.pads[2] * wp * c)?;
        k.for_range(0, g.h as i64, 1, |k, h| {
            let src = k.at(src_img, h, (row * src_elem) as i64, 0);
            let dst_row = k.at(
                dst_img,
                h,
                (wp * c * elem) as i64,
                (g.pads[0] * wp * c * elem) as i64,
            );
            fill(k, dst_row, g.pads[1] * c)?;
            let right =
                k.b.ins()
                    .iadd_imm_s(dst_row, ((g.pads[1] + g.w) * c * elem) as i64);
            fill(k, right, g.pads[3] * c)?;
            let inner = k.b.ins().iadd_imm_s(dst_row, (g.pads[1] * c * elem) as i64);
            match (elem, g.wide) {
                (1, _) => k.copy_bytes(inner, src, row),
                (_, true) => k.copy_bytes(inner, src, 2 * row),
                _ => widen(k, inner, src, row),
            }
        })
    })?;
    // The last step of the last row reads past the copy into its slack: written, so that no
    // read of the kernel touches scratch nobody wrote (the weights there are zero).
    let end = k.b.ins().iadd_imm_s(dst, (g.n * hp * wp * c * elem) as i64);
    k.fill_bytes(end, 0, SLACK)
}

/// [`stage`] for a banded depthwise layer (one image, units `row · blocks + block`): only the
/// padded rows the call's units read, `r_first·s ..= r_last·s + (kh − 1)·d`, and the row after
/// them (a tail block's last load runs a few bytes past its row), so that the parts of a
/// threaded run share the copying instead of each staging the whole image. Depthwise kernels
/// read u8 codes, staged as they are.
fn stage_band(k: &mut K, g: &Layer, x: Value, dst: Value, zx: i32, blocks: usize) -> Result<()> {
    let (hp, wp, c) = (g.hp() as i64, g.wp(), g.c);
    let (row, prow) = (g.w * c, wp * c);
    let (lo, hi) = k.unit_bounds();
    let some = k.b.ins().icmp(IntCC::SignedLessThan, lo, hi);
    k.if_else(
        some,
        |k| {
            let first = k.b.ins().udiv_imm_s(lo, blocks as i64);
            let last = k.b.ins().iadd_imm_s(hi, -1);
            let last = k.b.ins().udiv_imm_s(last, blocks as i64);
            let p_lo = k.b.ins().imul_imm_s(first, g.strides[0] as i64);
            let p_hi = k.b.ins().imul_imm_s(last, g.strides[0] as i64);
            let p_hi =
                k.b.ins()
                    .iadd_imm_s(p_hi, ((g.kh - 1) * g.dil[0] + 2) as i64);
            let cap = k.i64(hp);
            let p_hi = k.b.ins().smin(p_hi, cap);
            let (top, bottom) = (g.pads[0] as i64, (g.pads[0] + g.h) as i64);
            k.for_between(p_lo, p_hi, 1, |k, p| {
                let d = k.at(dst, p, prow as i64, 0);
                let above = k.b.ins().icmp_imm_s(IntCC::SignedLessThan, p, top);
                let below =
                    k.b.ins()
                        .icmp_imm_s(IntCC::SignedGreaterThanOrEqual, p, bottom);
                let pad = k.b.ins().bor(above, below);
                k.if_else(
                    pad,
                    |k| k.fill_bytes(d, zx as u8, prow),
                    |k| {
                        let ih = k.b.ins().iadd_imm_s(p, -top);
                        let s = k.at(x, ih, row as i64, 0);
                        k.fill_bytes(d, zx as u8, g.pads[1] * c)?;
                        let inner = k.b.ins().iadd_imm_s(d, (g.pads[1] * c) as i64);
                        k.copy_bytes(inner, s, row)?;
                        let right = k.b.ins().iadd_imm_s(d, ((g.pads[1] + g.w) * c) as i64);
                        k.fill_bytes(right, zx as u8, g.pads[3] * c)
                    },
                )
            })
        },
        |_| Ok(()),
    )?;
    // As in `stage`: the slack past the whole copy is written, whichever part reads it.
    let end = k.b.ins().iadd_imm_s(dst, (hp as usize * prow) as i64);
    k.fill_bytes(end, 0, SLACK)
}

/// Sets `n` u16 elements at `dst` to `v`.
fn fill_u16(k: &mut K, dst: Value, v: u16, n: usize) -> Result<()> {
    let s = k.b.ins().iconst(types::I16, i64::from(v));
    let splat = k.b.ins().splat(types::I16X8, s);
    k.for_range(0, (n / 8) as i64, 1, |k, i| {
        let d = k.at(dst, i, 16, 0);
        k.b.ins().store(mem(), splat, d, 0);
        Ok(())
    })?;
    for t in n / 8 * 8..n {
        k.b.ins().store(mem(), s, dst, (t * 2) as i32);
    }
    Ok(())
}

/// Copies `n` u8 codes from `src` to `dst` as u16.
fn widen(k: &mut K, dst: Value, src: Value, n: usize) -> Result<()> {
    k.for_range(0, (n / 16) as i64, 1, |k, i| {
        let s = k.at(src, i, 16, 0);
        let v = k.b.ins().load(types::I8X16, mem(), s, 0);
        let lo = k.b.ins().uwiden_low(v);
        let hi = k.b.ins().uwiden_high(v);
        let d = k.at(dst, i, 32, 0);
        k.b.ins().store(mem(), lo, d, 0);
        k.b.ins().store(mem(), hi, d, 16);
        Ok(())
    })?;
    for t in n / 16 * 16..n {
        let v = k.b.ins().uload8(types::I32, mem(), src, t as i32);
        k.b.ins().istore16(mem(), v, dst, (t * 2) as i32);
    }
    Ok(())
}
