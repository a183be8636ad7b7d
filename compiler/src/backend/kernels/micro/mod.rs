//! Machine-code micro-kernels for convolutions and gemms on AVX2 and AVX-512 VNNI targets: a
//! tile of pixels × output channels accumulated in 256- or 512-bit registers over packed weights,
//! then biased, requantized, clamped and stored as u8 codes, all in one function assembled per
//! layer with iced-x86 (Cranelift's x64 backend has no vectors wider than 128 bits).
//!
//! The Cranelift code around them (`conv_micro.rs`) loops over channel blocks and pixel tiles and
//! calls them with four pointers (SysV ABI, caller-saved registers only):
//! `(activations, weights of the block, output of the tile, tables of the block)`.

pub mod add;
pub mod lut;
pub mod quantize;
mod ymm;
mod zmm;

use crate::backend::target::Target;
use crate::diag::{Error, Result};
use iced_x86::code_asm::{r8, r9, rdi, rsi, CodeAssembler};
use iced_x86::IcedError;

/// Which machine-code tier a target gets; `None` keeps the pure-Cranelift kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// AVX-512 VNNI: `vpdpbusd` on zmm, u8 activations × i8 weights, four per i32 lane.
    Zmm,
    /// AVX-512 VNNI for a layer reading i16 codes (a tensor given 16 bits): `vpdpwssd` on zmm,
    /// i16 activations × weights stored as i16, two per i32 lane. Its steps are as many bytes
    /// as [`Tier::Zmm`]'s (two i16 where four u8), so the loops and tables are the same.
    ZmmWide,
    /// AVX2: activations widened to u16, weights stored as i16, `vpmaddwd` on ymm: exact for
    /// every i8 weight (2·255·128 < 2³¹), unlike `vpmaddubsw`, which saturates in i16.
    Ymm,
    /// AVX2 for a layer whose weights all have |w| ≤ 64 (7-bit quantization): u8 codes against
    /// i8 weights with `vpmaddubsw` (pair sums ≤ 2·255·64 < 2¹⁵, never saturating), pairs of
    /// pairs summed by `vpmaddwd` against ones: the AVX2 ceiling, twice `vpmaddwd`'s MACs.
    YmmBytes,
}

impl Tier {
    /// The tier of a layer whose largest weight magnitude is `max_abs`.
    pub fn choose(target: &Target, max_abs: i32) -> Option<Tier> {
        if target.has("avx512f") && target.has("avx512vnni") {
            Some(Tier::Zmm)
        } else if target.has("avx2") && max_abs <= 64 {
            Some(Tier::YmmBytes)
        } else if target.has("avx2") {
            Some(Tier::Ymm)
        } else {
            None
        }
    }

    /// i32 lanes of one register.
    pub fn lanes(self) -> usize {
        match self {
            Tier::Zmm | Tier::ZmmWide => 16,
            Tier::Ymm | Tier::YmmBytes => 8,
        }
    }

    /// Output channels of a full block: two registers of accumulators per pixel.
    pub fn block(self) -> usize {
        2 * self.lanes()
    }

    /// Pixels of a full tile (the register file: 2·8 zmm or 2·6 ymm accumulators).
    pub fn tile(self) -> usize {
        match self {
            Tier::Zmm | Tier::ZmmWide => 8,
            Tier::Ymm => 6,
            // Ten accumulators: the ones vector and the product take two more registers.
            Tier::YmmBytes => 5,
        }
    }

    /// Pixels of a full depthwise tile: on zmm one register of channels at a time, so sixteen
    /// accumulators (the dense tile's register file) cover sixteen pixels.
    pub fn depthwise_tile(self) -> usize {
        match self {
            Tier::Zmm => 16,
            t => t.tile(),
        }
    }

    /// Activation elements one multiply-accumulate step reads per pixel (one i32 lane's worth).
    pub fn step(self) -> usize {
        match self {
            Tier::Zmm | Tier::YmmBytes => 4,
            Tier::Ymm | Tier::ZmmWide => 2,
        }
    }

    /// Bytes of one activation element as the kernel reads it (u8, or u16 widened, or i16),
    /// and of one packed weight.
    pub fn elem(self) -> usize {
        match self {
            Tier::Zmm | Tier::YmmBytes => 1,
            Tier::Ymm | Tier::ZmmWide => 2,
        }
    }
}

/// What a micro-kernel multiplies: every output channel against runs of the input (a dense
/// convolution or gemm), or each channel against its own taps (a depthwise convolution).
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// `rows` kernel rows, each a contiguous run of `steps` activation steps per pixel;
    /// `row_step` bytes from one row's activations to the next.
    Dense {
        rows: usize,
        steps: usize,
        row_step: i64,
    },
    /// A `kh × kw` window over u8 activations of the block's channels: `col_step` bytes from
    /// one tap to the next along a row, `row_step` from one row to the next.
    Depthwise {
        kh: usize,
        kw: usize,
        col_step: i64,
        row_step: i64,
    },
}

/// Everything one micro-kernel is specialized to. Strides are in bytes.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub tier: Tier,
    pub kind: Kind,
    /// Pixels in the tile (1..=tier.tile()).
    pub pixels: usize,
    /// Output channels stored (1..=tier.block()).
    pub channels: usize,
    /// From one pixel's activations to the next pixel's.
    pub pixel_step: i64,
    /// From one pixel's output codes to the next pixel's.
    pub out_step: i64,
    /// Whether any channel's shift is positive (the saturating left shift is emitted).
    pub left: bool,
    /// Whether the zero point rides in the rounding constant ([`folds_zero_point`]).
    pub fold_zp: bool,
    /// Whether the clamp's top is 255, which the unsigned saturating narrow does by itself.
    pub saturates: bool,
    /// Whether the clamp's bottom is at or above the zero point (a ReLU's): a negative product
    /// then lands on it however its tie rounds, so the zmm epilogue leaves out the correction
    /// that rounds negative ties away from zero ([`rounding`]'s `N`).
    pub floored: bool,
    /// Whether every channel divides by `2^right` with `right ≥ 1`: the zmm epilogue's floor
    /// division by `2^(31+right)` is then the 64-bit sum's high dword shifted right by
    /// `right − 1`, one 32-bit shift after the gather instead of two 64-bit shifts before it.
    pub high: bool,
}

impl Shape {
    /// Accumulator registers per pixel.
    pub fn regs(&self) -> usize {
        self.channels.div_ceil(self.tier.lanes())
    }
}

/// The per-block tables the epilogue reads, each a vector of `block` i32 lanes, in this order.
#[derive(Clone, Copy)]
pub enum Table {
    Bias = 0,
    Mult,
    /// The multiplier of each odd channel at the even lane below it, where `vpmuldq` reads it.
    MultOdd,
    Left,
    Right,
    /// `2^right − 1` and its half: the rounding divide's remainder mask and threshold.
    Mask,
    Half,
    Max,
    /// 2³⁰ in each i64 lane: the rounding of the doubling high multiply.
    Nudge,
    One,
    /// The clamp relative to the zero point: `lo − zp`, `hi − zp`.
    Lo,
    Hi,
    Zp,
    /// The single-rounding form of the zmm epilogue, in i64 lanes for the even channels and
    /// for the odd ones: `y = (x·m + C − [x·m < 0]·N) >> S` (see [`rounding`]).
    CEven,
    COdd,
    NEven,
    NOdd,
    SEven,
    SOdd,
    /// `vpermt2d` indices gathering the low dwords of the even and odd results in order.
    Perm,
    /// The clamp itself (with the zero point folded into `C`, or added before it).
    AbsLo,
    AbsHi,
    /// [`Shape::high`]'s form: `vpermt2d` indices gathering the high dwords, and each
    /// channel's `right − 1`.
    PermHigh,
    RightLess,
}
const TABLES: usize = 24;

/// The largest right shift for which the zero point can ride in `C`: `x·m` is below 2⁶² in
/// magnitude and `zp·2^(31+right)` must keep the sum inside i64.
const FOLD_MAX_RIGHT: i32 = 22;

/// Whether the zero point folds into the rounding constant of every channel of `rq`.
pub fn folds_zero_point(rq: &RequantSlices) -> bool {
    rq.shift.iter().all(|&s| -s <= FOLD_MAX_RIGHT)
}

/// [`Shape::floored`]: a product below zero rounds to at most 0, then `zp` (`rounding`'s
/// `C/2^S ≤ 1`, so `(p + C)/2^S < 1`), and the clamp at `lo ≥ zp` takes it to `lo` with or
/// without the correction.
pub fn floored(rq: &RequantSlices) -> bool {
    rq.lo >= rq.zero_point
}

/// [`Shape::high`]: every channel's shift is a right shift of at least one bit.
pub fn divides_past_dword(rq: &RequantSlices) -> bool {
    rq.shift.iter().all(|&s| s <= -1)
}

/// `(C, N, S)` of one channel: `multiply_by_quantized_multiplier`'s two roundings (the doubling
/// high multiply's `(p + 2³⁰) >> 31`, then the divide by `2^right` with ties away from zero)
/// as one floor division of the 64-bit product `p`, plus the zero point when `fold`:
/// `floor((p + 2³⁰ + [right>0]·2^(30+right) + fold·zp·2^(31+right) − [p<0 ∧ right>0]·2³¹)
/// / 2^(31+right))`. Nested floor divisions compose, an integer added inside is added outside;
/// the second rounding's half (`2^(right−1)`, one less for a negative high half, which for
/// right > 0 is exactly a negative product away from zero) becomes the `2^(30+right)` and
/// the `N` correction. Checked against the interpreter by the ties tests and random graphs.
fn rounding(right: i32, zp: i32, fold: bool) -> (i64, i64, i64) {
    let r = right as i64;
    let mut c = 1i64 << 30;
    let mut n = 0;
    if r > 0 {
        c += 1i64 << (30 + r);
        n = 1i64 << 31;
    }
    if fold {
        c += i64::from(zp) << (31 + r);
    }
    (c, n, 31 + r)
}

impl Table {
    /// Byte offset of register `reg`'s lanes of this table inside a block of `block` lanes.
    pub fn at(self, block: usize, lanes: usize, reg: usize) -> i32 {
        ((self as usize * block + reg * lanes) * 4) as i32
    }
}

/// The requantization of a layer (per-tensor values repeated per channel).
pub struct RequantSlices<'a> {
    pub mult: &'a [i32],
    pub shift: &'a [i32],
    pub zero_point: i32,
    pub lo: i32,
    pub hi: i32,
}

/// Bytes of one block's tables.
pub fn table_bytes(tier: Tier) -> usize {
    TABLES * tier.block() * 4
}

/// The tables of every block of `bias.len()` channels, block after block; lanes past the last
/// channel hold zeros (their codes are computed and never stored).
pub fn tables(tier: Tier, bias: &[i32], rq: &RequantSlices) -> Vec<u8> {
    let nb = tier.block();
    let o = bias.len();
    let blocks = o.div_ceil(nb);
    let mut out = Vec::with_capacity(blocks * table_bytes(tier));
    let per = |v: &[i32], c: usize| if v.len() == 1 { v[0] } else { v[c] };
    let fold = folds_zero_point(rq);
    for b in 0..blocks {
        let mut t = vec![[0i32; TABLES]; nb];
        for (lane, row) in t.iter_mut().enumerate() {
            let c = b * nb + lane;
            let (m, s) = if c < o {
                (per(rq.mult, c), per(rq.shift, c))
            } else {
                (0, 0)
            };
            let right = (-s).max(0);
            let mask = ((1i64 << right) - 1) as i32;
            row[Table::Bias as usize] = if c < o { bias[c] } else { 0 };
            row[Table::Mult as usize] = m;
            row[Table::Left as usize] = s.max(0);
            row[Table::Right as usize] = right;
            row[Table::Mask as usize] = mask;
            row[Table::Half as usize] = mask >> 1;
            row[Table::Max as usize] = i32::MAX;
            row[Table::Nudge as usize] = if lane % 2 == 0 { 1 << 30 } else { 0 };
            row[Table::One as usize] = 1;
            row[Table::Lo as usize] = rq.lo - rq.zero_point;
            row[Table::Hi as usize] = rq.hi - rq.zero_point;
            row[Table::Zp as usize] = rq.zero_point;
            row[Table::AbsLo as usize] = rq.lo;
            row[Table::AbsHi as usize] = rq.hi;
            // Dword `lane` of a register takes from the even results' dword `lane` (its low
            // half when even) or the odd results' dword `lane − 1` (index + 16).
            let l = (lane % tier.lanes()) as i32;
            row[Table::Perm as usize] = if l % 2 == 0 { l } else { 16 + l - 1 };
            row[Table::PermHigh as usize] = row[Table::Perm as usize] + 1;
            row[Table::RightLess as usize] = (right - 1).max(0);
        }
        for lane in 0..nb {
            let odd = t[(lane | 1).min(nb - 1)][Table::Mult as usize];
            t[lane][Table::MultOdd as usize] = odd;
        }
        // The i64 tables: the pair of dwords (2i, 2i+1) holds channel 2i's value in the even
        // tables, channel 2i+1's in the odd ones.
        for pair in 0..nb / 2 {
            for (k, (tc, tn, ts)) in [
                (Table::CEven, Table::NEven, Table::SEven),
                (Table::COdd, Table::NOdd, Table::SOdd),
            ]
            .into_iter()
            .enumerate()
            {
                let c = b * nb + 2 * pair + k;
                let right = if c < o { (-per(rq.shift, c)).max(0) } else { 0 };
                let (cv, nv, sv) = rounding(right, rq.zero_point, fold);
                for (tab, v) in [(tc, cv), (tn, nv), (ts, sv)] {
                    t[2 * pair][tab as usize] = v as i32;
                    t[2 * pair + 1][tab as usize] = (v >> 32) as i32;
                }
            }
        }
        for table in 0..TABLES {
            for row in &t {
                out.extend(row[table].to_le_bytes());
            }
        }
    }
    out
}

/// Bytes of one block's packed weights: `rows · steps` steps of `block` channels.
pub fn weight_bytes(tier: Tier, rows: usize, steps: usize) -> usize {
    rows * steps * tier.block() * tier.step() * tier.elem()
}

/// Packs `w[o]` (each `rows · run` weights in the order the activations are read) as
/// `[block][row][step][channel][element]`, zero past `run` and past the last channel, i8 for
/// [`Tier::Zmm`], i16 for [`Tier::Ymm`] and [`Tier::ZmmWide`].
pub fn pack(tier: Tier, w: &[Vec<i8>], rows: usize, run: usize) -> Vec<u8> {
    let (nb, e) = (tier.block(), tier.step());
    let steps = run.div_ceil(e);
    let o = w.len();
    let mut out = Vec::with_capacity(o.div_ceil(nb) * weight_bytes(tier, rows, steps));
    for b in 0..o.div_ceil(nb) {
        for r in 0..rows {
            for s in 0..steps {
                for lane in 0..nb {
                    for i in 0..e {
                        let (c, k) = (b * nb + lane, s * e + i);
                        let v = if c < o && k < run {
                            w[c][r * run + k]
                        } else {
                            0
                        };
                        match tier {
                            Tier::Zmm | Tier::YmmBytes => out.push(v as u8),
                            Tier::Ymm | Tier::ZmmWide => out.extend(i16::from(v).to_le_bytes()),
                        }
                    }
                }
            }
        }
    }
    out
}

/// Rows of a depthwise window's column that one i32 lane packs: four u8·i8 byte products per
/// `vpdpbusd` lane on zmm, two i16 products per `vpmaddwd` lane on ymm (codes and weights
/// widened to i16, the pair sum exact). A column is packed once per tile and serves every
/// pixel whose window holds it, so one product takes that many taps.
pub fn depthwise_rows(tier: Tier) -> usize {
    match tier {
        Tier::Zmm | Tier::ZmmWide => 4,
        Tier::Ymm | Tier::YmmBytes => 2,
    }
}

/// Vectors of `block` i32 lanes in one block's depthwise weights: one per column of each
/// group of [`depthwise_rows`] rows.
pub fn depthwise_vectors(tier: Tier, kh: usize, kw: usize) -> usize {
    kh.div_ceil(depthwise_rows(tier)) * kw
}

/// Bytes of one block's depthwise weights.
pub fn depthwise_weight_bytes(tier: Tier, kh: usize, kw: usize) -> usize {
    depthwise_vectors(tier, kh, kw) * tier.block() * 4
}

/// Packs depthwise weights `w[c]` (each `kh·kw` weights, row-major over the window) as
/// `[block][row group][column][channel]` lanes: the weights of rows `r·g .. r·g + r − 1` of
/// one column (`r` = [`depthwise_rows`], zero past the window and past the last channel), as
/// four i8 on zmm (`vpdpbusd`) or two i16 on ymm (`vpmaddwd`), against the same rows' codes
/// packed alike.
pub fn pack_depthwise(tier: Tier, w: &[Vec<i8>], kh: usize, kw: usize) -> Vec<u8> {
    let nb = tier.block();
    let rows = depthwise_rows(tier);
    let mut out = Vec::with_capacity(w.len().div_ceil(nb) * depthwise_weight_bytes(tier, kh, kw));
    for block in w.chunks(nb) {
        for g in 0..kh.div_ceil(rows) {
            for col in 0..kw {
                for ch in 0..nb {
                    let at = |k: usize| {
                        let row = g * rows + k;
                        match block.get(ch) {
                            Some(r) if row < kh => r[row * kw + col],
                            _ => 0,
                        }
                    };
                    let lane = if rows == 4 {
                        [at(0) as u8, at(1) as u8, at(2) as u8, at(3) as u8]
                    } else {
                        let (lo, hi) = (
                            i16::from(at(0)).to_le_bytes(),
                            i16::from(at(1)).to_le_bytes(),
                        );
                        [lo[0], lo[1], hi[0], hi[1]]
                    };
                    out.extend(lane);
                }
            }
        }
    }
    out
}

/// The loop of every dense kernel: `rows` kernel rows of `steps` steps, `step` emitting one
/// (the block's weights at rsi, pixel p's four activation bytes at rdi + p·pixel_step); the
/// weights then advance one step of the block, the activations four bytes, and after the last
/// step of a row, to the next row.
fn dense_loop(
    a: &mut CodeAssembler,
    s: &Shape,
    rows: usize,
    steps: usize,
    row_step: i64,
    step: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> Result<(), IcedError> {
    let mut row_top = a.create_label();
    let mut step_top = a.create_label();
    a.mov(r8, rows as u64)?;
    a.set_label(&mut row_top)?;
    a.mov(r9, steps as u64)?;
    a.set_label(&mut step_top)?;
    step(a)?;
    a.add(rsi, (s.tier.block() * 4) as i32)?;
    a.add(rdi, 4)?;
    a.dec(r9)?;
    a.jnz(step_top)?;
    a.add(rdi, (row_step - 4 * steps as i64) as i32)?;
    a.dec(r8)?;
    a.jnz(row_top)?;
    Ok(())
}

/// The distinct activation offsets a depthwise tile reads, in memory order, each with the
/// (pixel, tap) pairs that use it: neighbouring pixels share columns, each is loaded once.
fn taps(
    s: &Shape,
    kh: usize,
    kw: usize,
    col_step: i64,
    row_step: i64,
) -> Vec<(i64, Vec<(usize, usize)>)> {
    let mut at: std::collections::BTreeMap<i64, Vec<(usize, usize)>> = Default::default();
    for i in 0..kh {
        for j in 0..kw {
            for p in 0..s.pixels {
                let off = i as i64 * row_step + j as i64 * col_step + p as i64 * s.pixel_step;
                at.entry(off).or_default().push((p, i * kw + j));
            }
        }
    }
    at.into_iter().collect()
}

/// Assembles one micro-kernel.
pub fn assemble(shape: &Shape) -> Result<Vec<u8>> {
    let empty = match shape.kind {
        Kind::Dense { rows, steps, .. } => rows == 0 || steps == 0,
        Kind::Depthwise { kh, kw, .. } => kh == 0 || kw == 0,
    };
    let tile = match shape.kind {
        Kind::Dense { .. } => shape.tier.tile(),
        Kind::Depthwise { .. } => shape.tier.depthwise_tile(),
    };
    if empty
        || shape.pixels == 0
        || shape.pixels > tile
        || shape.channels == 0
        || shape.channels > shape.tier.block()
    {
        return Err(Error::msg(format!("no micro-kernel for {shape:?}")));
    }
    let bytes = match shape.tier {
        Tier::Zmm | Tier::ZmmWide => zmm::assemble(shape),
        Tier::Ymm | Tier::YmmBytes => ymm::assemble(shape),
    };
    bytes.map_err(|e| Error::msg(format!("assembling the micro-kernel {shape:?}: {e}")))
}
