//! The AVX2 micro-kernel: u16 activation pairs broadcast against i16 weight pairs, `vpmaddwd`
//! on ymm (8 channels × 2 exact products per instruction), then the requantization of
//! `fixed.rs` on 8 channels at a time with VEX blends instead of opmasks.

use super::{Kind, Shape, Table, Tier};
use iced_x86::code_asm::*;
use iced_x86::IcedError;

/// Registers: accumulators ymm0..ymm11 (pixel-major), weights ymm12/13, the broadcast pair
/// ymm14, the product ymm15; the epilogue reuses ymm12..ymm14.
fn acc(s: &Shape, p: usize, j: usize) -> AsmRegisterYmm {
    registers::ymm::get_ymm(iced_x86::Register::YMM0 + (p * s.regs() + j) as u32)
        .expect("ymm0..ymm11")
}

fn xmm_of(y: AsmRegisterYmm) -> AsmRegisterXmm {
    let i = iced_x86::Register::from(y) as u32 - iced_x86::Register::YMM0 as u32;
    registers::xmm::get_xmm(iced_x86::Register::XMM0 + i).expect("xmm0..xmm15")
}

pub fn assemble(s: &Shape) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let (nb, lanes) = (s.tier.block(), s.tier.lanes());
    let regs = s.regs();
    for p in 0..s.pixels {
        for j in 0..regs {
            a.vmovdqu(
                acc(s, p, j),
                ymmword_ptr(rcx + Table::Bias.at(nb, lanes, j)),
            )?;
        }
    }
    match s.kind {
        Kind::Dense {
            rows,
            steps,
            row_step,
        } if s.tier == Tier::YmmBytes => dense_bytes(&mut a, s, rows, steps, row_step)?,
        Kind::Dense {
            rows,
            steps,
            row_step,
        } => dense(&mut a, s, rows, steps, row_step)?,
        Kind::Depthwise {
            kh,
            kw,
            col_step,
            row_step,
        } => {
            // Two rows of a column per lane, codes zero-extended to i16 (row 2g's in the low
            // half, 2g + 1's shifted to the high), against the two rows' weights as i16:
            // `vpmaddwd` adds both products, exact. A column is packed once per tile and serves
            // every pixel whose window holds it (`super::depthwise_rows`).
            let (packed, t, prod) = (ymm14, ymm13, ymm15);
            let pair = super::depthwise_rows(s.tier);
            for g in 0..kh.div_ceil(pair) {
                let rows = (kh - pair * g).min(pair);
                for (off, uses) in super::taps(s, 1, kw, col_step, row_step) {
                    for j in 0..regs {
                        let at = |k: usize| {
                            let row = (pair * g + k) as i64 * row_step;
                            qword_ptr(rdi + (off + row + 8 * j as i64) as i32)
                        };
                        a.vpmovzxbd(packed, at(0))?;
                        if rows == 2 {
                            a.vpmovzxbd(t, at(1))?;
                            a.vpslld(t, t, 16)?;
                            a.vpor(packed, packed, t)?;
                        }
                        for &(p, col) in &uses {
                            let v = g * kw + col;
                            let w = ymmword_ptr(rsi + ((v * nb + j * lanes) * 4) as i32);
                            a.vpmaddwd(prod, packed, w)?;
                            a.vpaddd(acc(s, p, j), acc(s, p, j), prod)?;
                        }
                    }
                }
            }
        }
    }
    epilogue(&mut a, s)?;
    a.vzeroupper()?;
    a.ret()?;
    a.assemble(0)
}

/// Every output channel of the block against `rows` runs of `steps` pairs of u16 codes.
fn dense(
    a: &mut CodeAssembler,
    s: &Shape,
    rows: usize,
    steps: usize,
    row_step: i64,
) -> Result<(), IcedError> {
    let regs = s.regs();
    let w = [ymm12, ymm13];
    let (b, prod) = (ymm14, ymm15);
    // One step: two u16 activations per pixel against `block` channels of two i16 weights.
    super::dense_loop(a, s, rows, steps, row_step, |a| {
        for (j, &wr) in w.iter().enumerate().take(regs) {
            a.vmovdqu(wr, ymmword_ptr(rsi + (j * 32) as i32))?;
        }
        for p in 0..s.pixels {
            a.vpbroadcastd(b, dword_ptr(rdi + (p as i64 * s.pixel_step) as i32))?;
            for (j, &wr) in w.iter().enumerate().take(regs) {
                a.vpmaddwd(prod, b, wr)?;
                a.vpaddd(acc(s, p, j), acc(s, p, j), prod)?;
            }
        }
        Ok(())
    })
}

/// Every output channel of the block against `rows` runs of `steps` groups of four u8 codes,
/// for weights within ±64: `vpmaddubsw` makes exact i16 pair sums, `vpmaddwd` against ones
/// adds the pairs into i32 lanes. Registers: accumulators ymm0..9, weights ymm10/11, the
/// broadcast ymm12, the product ymm13, ones ymm15.
fn dense_bytes(
    a: &mut CodeAssembler,
    s: &Shape,
    rows: usize,
    steps: usize,
    row_step: i64,
) -> Result<(), IcedError> {
    let regs = s.regs();
    let w = [ymm10, ymm11];
    let (b, prod, ones) = (ymm12, ymm13, ymm15);
    a.mov(eax, 0x0001_0001u32)?;
    a.vmovd(xmm15, eax)?;
    a.vpbroadcastd(ones, xmm15)?;
    super::dense_loop(a, s, rows, steps, row_step, |a| {
        for (j, &wr) in w.iter().enumerate().take(regs) {
            a.vmovdqu(wr, ymmword_ptr(rsi + (j * 32) as i32))?;
        }
        for p in 0..s.pixels {
            a.vpbroadcastd(b, dword_ptr(rdi + (p as i64 * s.pixel_step) as i32))?;
            for (j, &wr) in w.iter().enumerate().take(regs) {
                a.vpmaddubsw(prod, b, wr)?;
                a.vpmaddwd(prod, prod, ones)?;
                a.vpaddd(acc(s, p, j), acc(s, p, j), prod)?;
            }
        }
        Ok(())
    })
}

/// Requantizes, clamps and stores every accumulator as u8 codes.
fn epilogue(a: &mut CodeAssembler, s: &Shape) -> Result<(), IcedError> {
    let (nb, lanes) = (s.tier.block(), s.tier.lanes());
    let regs = s.regs();
    let (t1, t2, t3) = (ymm12, ymm13, ymm14);
    for p in 0..s.pixels {
        for j in 0..regs {
            let x = acc(s, p, j);
            let m = |tab: Table| ymmword_ptr(rcx + tab.at(nb, lanes, j));
            if s.left {
                // Saturating `x << left`: where shifting back does not give x, it overflowed.
                a.vpsllvd(t1, x, m(Table::Left))?;
                a.vpsravd(t2, t1, m(Table::Left))?;
                a.vpcmpeqd(t2, t2, x)?;
                a.vpsrad(t3, x, 31)?;
                a.vpxor(t3, t3, m(Table::Max))?; // i32::MAX, or i32::MIN when x < 0
                a.vpblendvb(x, t3, t1, t2)?;
            }
            if s.floored && s.high {
                // zmm's single rounding (`super::rounding`) without its correction for
                // negative ties, which the clamp makes moot: `floor((x·m + C) / 2^(31+r))`
                // as the sum's high dword shifted by r − 1, the zero point inside C or added.
                products(a, x, (t1, t2), m(Table::CEven), m(Table::COdd), &m)?;
                a.vpsrlq(t1, t1, 32)?;
                a.vpblendd(x, t1, t2, 0xAA)?;
                a.vpsravd(x, x, m(Table::RightLess))?;
                if !s.fold_zp {
                    a.vpaddd(x, x, m(Table::Zp))?;
                }
                a.vpmaxsd(x, x, m(Table::AbsLo))?;
                a.vpminsd(x, x, m(Table::AbsHi))?;
                store(a, s, x, t1, p, j)?;
                continue;
            }
            // (x·m + 2³⁰) >> 31, even lanes then odd lanes in i64, bits 31..62 kept.
            products(a, x, (t1, t2), m(Table::Nudge), m(Table::Nudge), &m)?;
            a.vpsrlq(t1, t1, 31)?;
            a.vpsllq(t2, t2, 1)?;
            a.vpblendd(x, t1, t2, 0xAA)?;
            // Rounding divide by 2^right: the compare's −1 adds one where the remainder passes
            // the threshold, `mask >> 1` plus one for a negative x (as `remainder − [x < 0]`).
            a.vpand(t1, x, m(Table::Mask))?;
            a.vpsrad(t2, x, 31)?;
            a.vpaddd(t1, t1, t2)?;
            a.vpcmpgtd(t1, t1, m(Table::Half))?;
            a.vpsravd(x, x, m(Table::Right))?;
            a.vpsubd(x, x, t1)?;
            a.vpmaxsd(x, x, m(Table::Lo))?;
            a.vpminsd(x, x, m(Table::Hi))?;
            a.vpaddd(x, x, m(Table::Zp))?;
            store(a, s, x, t1, p, j)?;
        }
    }
    Ok(())
}

/// The 64-bit products `x·m` of the even lanes into `t.0` and of the odd lanes (shifted down)
/// into `t.1`, each plus its i64 constant: the start of both roundings.
fn products(
    a: &mut CodeAssembler,
    x: AsmRegisterYmm,
    (even, odd): (AsmRegisterYmm, AsmRegisterYmm),
    add_even: AsmMemoryOperand,
    add_odd: AsmMemoryOperand,
    m: &impl Fn(Table) -> AsmMemoryOperand,
) -> Result<(), IcedError> {
    a.vpmuldq(even, x, m(Table::Mult))?;
    a.vpsrlq(odd, x, 32)?;
    a.vpmuldq(odd, odd, m(Table::MultOdd))?;
    a.vpaddq(even, even, add_even)?;
    a.vpaddq(odd, odd, add_odd)
}

/// Stores the codes of pixel `p`, register `j` (`x`, each in [0, 255]; `t` a temporary).
fn store(
    a: &mut CodeAssembler,
    s: &Shape,
    x: AsmRegisterYmm,
    t: AsmRegisterYmm,
    p: usize,
    j: usize,
) -> Result<(), IcedError> {
    let lanes = s.tier.lanes();
    let regs = s.regs();
    let tail = s.channels - (regs - 1) * lanes;
    // Codes are in [0, 255]: both saturating packs are exact.
    let (xx, x1) = (xmm_of(x), xmm_of(t));
    a.vextracti128(x1, x, 1)?;
    a.vpackusdw(xx, xx, x1)?;
    a.vpackuswb(xx, xx, xx)?;
    let at = p as i64 * s.out_step + (j * lanes) as i64;
    if j + 1 == regs && tail < lanes {
        for i in 0..tail {
            a.vpextrb(byte_ptr(rdx + (at + i as i64) as i32), xx, i as u32)?;
        }
    } else {
        a.vmovq(qword_ptr(rdx + at as i32), xx)?;
    }
    Ok(())
}
