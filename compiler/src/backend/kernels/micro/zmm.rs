//! The AVX-512 VNNI micro-kernel: `vpdpbusd` on zmm (16 channels × 4 u8·i8 products per
//! instruction; `vpdpwssd`, 2 i16·i16 products, for i16 codes), then the requantization as one floor division of 64-bit products, with opmasks.

use super::{Kind, Shape, Table, Tier};
use iced_x86::code_asm::*;
use iced_x86::IcedError;

/// Dense registers: accumulators zmm0..zmm15 (pixel-major), weights zmm24/25, the broadcast
/// activation zmm26; then the epilogue's (below).
fn acc(s: &Shape, p: usize, j: usize) -> AsmRegisterZmm {
    zmm_n((p * s.regs() + j) as u32)
}

fn zmm_n(i: u32) -> AsmRegisterZmm {
    registers::zmm::get_zmm(iced_x86::Register::ZMM0 + i).expect("zmm0..zmm31")
}

pub fn assemble(s: &Shape) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let (nb, lanes) = (s.tier.block(), s.tier.lanes());
    let regs = s.regs();
    match s.kind {
        Kind::Dense {
            rows,
            steps,
            row_step,
        } => {
            // The accumulators start at the bias.
            for p in 0..s.pixels {
                for j in 0..regs {
                    let bias = zmmword_ptr(rcx + Table::Bias.at(nb, lanes, j));
                    a.vmovdqu32(acc(s, p, j), bias)?;
                }
            }
            dense(&mut a, s, rows, steps, row_step)?;
            epilogue_setup(&mut a, s)?;
            for j in 0..regs {
                let accs: Vec<_> = (0..s.pixels).map(|p| acc(s, p, j)).collect();
                epilogue_reg(&mut a, s, j, &accs)?;
            }
        }
        Kind::Depthwise {
            kh,
            kw,
            col_step,
            row_step,
        } => {
            // One register of channels at a time: up to 16 pixels' accumulators zmm0..15, and
            // the window's weight vectors held in zmm16..24 and zmm28..31 when they fit (a
            // memory operand per product would make loads, not `vpdpbusd`, the bound).
            let vectors = super::depthwise_vectors(s.tier, kh, kw);
            let free: Vec<u32> = (16..25).chain(28..32).collect();
            let held = vectors <= free.len();
            let accs: Vec<_> = (0..s.pixels).map(|p| zmm_n(p as u32)).collect();
            for j in 0..regs {
                let w = |v: usize| zmmword_ptr(rsi + ((v * nb + j * lanes) * 4) as i32);
                for &x in &accs {
                    a.vmovdqu32(x, zmmword_ptr(rcx + Table::Bias.at(nb, lanes, j)))?;
                }
                if held {
                    for (v, &r) in free.iter().enumerate().take(vectors) {
                        a.vmovdqu32(zmm_n(r), w(v))?;
                    }
                }
                let weight = |v: usize| {
                    if held {
                        WeightOperand::Reg(zmm_n(free[v]))
                    } else {
                        WeightOperand::Mem(w(v))
                    }
                };
                let window = (kh, kw, col_step, row_step);
                depthwise_quads(&mut a, s, window, 16 * j as i64, &accs, weight)?;
                epilogue_setup(&mut a, s)?;
                epilogue_reg(&mut a, s, j, &accs)?;
            }
        }
    }
    a.vzeroupper()?;
    a.ret()?;
    a.assemble(0)
}

/// A weight vector of a depthwise window, held in a register or read from the packed block.
enum WeightOperand {
    Reg(AsmRegisterZmm),
    Mem(AsmMemoryOperand),
}

impl WeightOperand {
    /// `acc += x · self`, four byte products per lane.
    fn dot(
        self,
        a: &mut CodeAssembler,
        acc: AsmRegisterZmm,
        x: AsmRegisterZmm,
    ) -> Result<(), IcedError> {
        match self {
            WeightOperand::Reg(r) => a.vpdpbusd(acc, x, r),
            WeightOperand::Mem(m) => a.vpdpbusd(acc, x, m),
        }
    }
}

/// The depthwise products with four rows of a column per lane (`super::depthwise_rows`): each
/// column of each group of rows is packed once (row k's codes shifted to byte k, the rows or-ed)
/// and serves every pixel whose window holds it, so one `vpdpbusd` takes four taps, not one
/// against three zero bytes (two to four times fewer products on 3×3 to 7×7 windows; the
/// shifts and ors cost less than the products they save, at stride 2 too: MobileNetV2 −4%,
/// EfficientNet-Lite0 −8% on an AMD EPYC). The window is `(kh, kw, col_step, row_step)`; its
/// codes are at `rdi + offset + channels`.
fn depthwise_quads(
    a: &mut CodeAssembler,
    s: &Shape,
    (kh, kw, col_step, row_step): (usize, usize, i64, i64),
    channels: i64,
    accs: &[AsmRegisterZmm],
    weight: impl Fn(usize) -> WeightOperand,
) -> Result<(), IcedError> {
    let (packed, t1, t2) = (zmm25, zmm26, zmm27);
    let quad = super::depthwise_rows(s.tier);
    for g in 0..kh.div_ceil(quad) {
        let rows = (kh - g * quad).min(quad);
        // The window's columns over the tile: each offset with the pixels (and the column of
        // their window) that read it.
        for (off, uses) in super::taps(s, 1, kw, col_step, row_step) {
            let at = |k: usize| {
                let row = (g * quad + k) as i64 * row_step;
                xmmword_ptr(rdi + (off + row + channels) as i32)
            };
            a.vpmovzxbd(packed, at(0))?;
            for k in 1..rows {
                let t = if k == 2 { t2 } else { t1 };
                a.vpmovzxbd(t, at(k))?;
                a.vpslld(t, t, (8 * k) as u32)?;
                match (k, rows) {
                    (1, 3..) => {}                                 // or-ed with row 2's below
                    (2, _) => a.vpternlogd(packed, t1, t2, 0xFE)?, // packed | t1 | t2
                    _ => a.vpord(packed, packed, t)?,
                }
            }
            for &(p, col) in &uses {
                weight(g * kw + col).dot(a, accs[p], packed)?;
            }
        }
    }
    Ok(())
}

/// Every output channel of the block against `rows` runs of `steps` four-byte steps.
fn dense(
    a: &mut CodeAssembler,
    s: &Shape,
    rows: usize,
    steps: usize,
    row_step: i64,
) -> Result<(), IcedError> {
    let regs = s.regs();
    let w = [zmm24, zmm25];
    let b = zmm26;
    super::dense_loop(a, s, rows, steps, row_step, |a| {
        for (j, &wr) in w.iter().enumerate().take(regs) {
            a.vmovdqu32(wr, zmmword_ptr(rsi + (j * 64) as i32))?;
        }
        for p in 0..s.pixels {
            a.vpbroadcastd(b, dword_ptr(rdi + (p as i64 * s.pixel_step) as i32))?;
            for (j, &wr) in w.iter().enumerate().take(regs) {
                if s.tier == Tier::ZmmWide {
                    a.vpdpwssd(acc(s, p, j), b, wr)?;
                } else {
                    a.vpdpbusd(acc(s, p, j), b, wr)?;
                }
            }
        }
        Ok(())
    })
}

/// Registers of the epilogue: per register of channels, its tables; for all, the permute
/// indices, a zero, the clamp and (unfolded) the zero point; temporaries zmm28..30.
const MULT: AsmRegisterZmm = zmm16;
const MULT_ODD: AsmRegisterZmm = zmm17;
const CE: AsmRegisterZmm = zmm18;
const CO: AsmRegisterZmm = zmm19;
const NE: AsmRegisterZmm = zmm20;
const NO: AsmRegisterZmm = zmm21;
const SE: AsmRegisterZmm = zmm22;
const SO: AsmRegisterZmm = zmm23;
const LO: AsmRegisterZmm = zmm24;
const HI: AsmRegisterZmm = zmm25;
const PERM: AsmRegisterZmm = zmm26;
const ZERO: AsmRegisterZmm = zmm27;
const ZP: AsmRegisterZmm = zmm31;

fn table(s: &Shape, tab: Table, j: usize) -> AsmMemoryOperand {
    zmmword_ptr(rcx + tab.at(s.tier.block(), s.tier.lanes(), j))
}

/// The epilogue's registers shared by every register of channels, and k3, the channels stored
/// by the last register.
fn epilogue_setup(a: &mut CodeAssembler, s: &Shape) -> Result<(), IcedError> {
    let lanes = s.tier.lanes();
    let tail = s.channels - (s.regs() - 1) * lanes;
    a.mov(eax, ((1u32 << tail) - 1) & 0xFFFF)?;
    a.kmovw(k3, eax)?;
    a.vpxord(ZERO, ZERO, ZERO)?;
    let perm = if s.high { Table::PermHigh } else { Table::Perm };
    a.vmovdqu32(PERM, table(s, perm, 0))?;
    a.vmovdqu32(LO, table(s, Table::AbsLo, 0))?;
    a.vmovdqu32(HI, table(s, Table::AbsHi, 0))?;
    if !s.fold_zp {
        a.vmovdqu32(ZP, table(s, Table::Zp, 0))?;
    }
    Ok(())
}

/// Requantizes, clamps and stores register `j`'s accumulators (`accs[p]` for pixel p) as u8
/// codes: the two roundings as one floor division of the 64-bit products (`super::rounding`),
/// even and odd channels apart. The tables of register `j`'s channels live in registers while
/// every pixel goes through: a memory operand per step would cost a 64-byte load each, and
/// loads, not arithmetic, would bound the epilogue.
fn epilogue_reg(
    a: &mut CodeAssembler,
    s: &Shape,
    j: usize,
    accs: &[AsmRegisterZmm],
) -> Result<(), IcedError> {
    let lanes = s.tier.lanes();
    let regs = s.regs();
    let tail = s.channels - (regs - 1) * lanes;
    let (t1, t2, t3) = (zmm28, zmm29, zmm30);
    let mut held = vec![
        (MULT, Table::Mult),
        (MULT_ODD, Table::MultOdd),
        (CE, Table::CEven),
        (CO, Table::COdd),
    ];
    if !s.floored {
        held.extend([(NE, Table::NEven), (NO, Table::NOdd)]);
    }
    if s.high {
        held.push((SE, Table::RightLess));
    } else {
        held.extend([(SE, Table::SEven), (SO, Table::SOdd)]);
    }
    for (r, tab) in held {
        a.vmovdqu32(r, table(s, tab, j))?;
    }
    for (p, &x) in accs.iter().enumerate() {
        if s.left {
            // Saturating `x << left`: where shifting back does not give x, it overflowed.
            a.vpsllvd(t1, x, table(s, Table::Left, j))?;
            a.vpsravd(t2, t1, table(s, Table::Left, j))?;
            a.vpcmpd(k1, t2, x, 4)?; // not equal
            a.vpsrad(t3, x, 31)?;
            a.vpxord(t3, t3, table(s, Table::Max, j))?; // i32::MAX, or i32::MIN when x < 0
            a.vmovdqa32(t1.k1(), t3)?;
            a.vmovdqa32(x, t1)?;
        }
        // The products of the even channels and of the odd ones, in i64 lanes.
        a.vpmuldq(t1, x, MULT)?;
        a.vpsrlq(t2, x, 32)?;
        a.vpmuldq(t2, t2, MULT_ODD)?;
        if !s.floored {
            a.vpcmpq(k1, t1, ZERO, 1)?; // less than
            a.vpcmpq(k2, t2, ZERO, 1)?;
        }
        a.vpaddq(t1, t1, CE)?;
        a.vpaddq(t2, t2, CO)?;
        if !s.floored {
            a.vpsubq(t1.k1(), t1, NE)?;
            a.vpsubq(t2.k2(), t2, NO)?;
        }
        if s.high {
            // floor(q / 2^(32 + r − 1)): the high dwords, gathered, shifted by r − 1.
            a.vpermt2d(t1, PERM, t2)?;
            a.vpsravd(t1, t1, SE)?;
        } else {
            a.vpsravq(t1, t1, SE)?;
            a.vpsravq(t2, t2, SO)?;
            a.vpermt2d(t1, PERM, t2)?;
        }
        if !s.fold_zp {
            a.vpaddd(t1, t1, ZP)?;
        }
        a.vpmaxsd(t1, t1, LO)?;
        let dst = xmmword_ptr(rdx + (p as i64 * s.out_step + (j * lanes) as i64) as i32);
        let dst = if j + 1 == regs && tail < lanes {
            dst.k3()
        } else {
            dst
        };
        if s.saturates {
            // At least lo ≥ 0: the unsigned saturating narrow clamps at 255.
            a.vpmovusdb(dst, t1)?;
        } else {
            a.vpminsd(t1, t1, HI)?;
            // Codes are in [lo, hi] ⊂ [0, 255]: the truncating narrow is exact.
            a.vpmovdb(dst, t1)?;
        }
    }
    Ok(())
}
