//! The AVX-512 VNNI micro-kernel: `vpdpbusd` on zmm (16 channels × 4 u8·i8 products per
//! instruction), then the requantization of `fixed.rs` on 16 channels at a time with opmasks.

use super::{Kind, Shape, Table};
use iced_x86::code_asm::*;
use iced_x86::IcedError;

/// Registers: accumulators zmm0..zmm15 (pixel-major), weights zmm24/25, the broadcast
/// activation zmm26; the epilogue's tables zmm16..27 and zmm31, its temporaries zmm28..30.
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
    // The accumulators start at the bias.
    for p in 0..s.pixels {
        for j in 0..regs {
            a.vmovdqu32(
                acc(s, p, j),
                zmmword_ptr(rcx + Table::Bias.at(nb, lanes, j)),
            )?;
        }
    }
    match s.kind {
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
            for (off, uses) in super::taps(s, kh, kw, col_step, row_step) {
                for j in 0..regs {
                    a.vpmovzxbd(zmm26, xmmword_ptr(rdi + (off + 16 * j as i64) as i32))?;
                    for &(p, tap) in &uses {
                        let w = zmmword_ptr(rsi + ((tap * nb + j * lanes) * 4) as i32);
                        a.vpdpbusd(acc(s, p, j), zmm26, w)?;
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
    let step_bytes = (s.tier.block() * 4) as i32;
    let mut row = a.create_label();
    let mut step = a.create_label();
    a.mov(r8, rows as u64)?;
    a.set_label(&mut row)?;
    a.mov(r9, steps as u64)?;
    a.set_label(&mut step)?;
    for (j, &wr) in w.iter().enumerate().take(regs) {
        a.vmovdqu32(wr, zmmword_ptr(rsi + (j * 64) as i32))?;
    }
    for p in 0..s.pixels {
        a.vpbroadcastd(b, dword_ptr(rdi + (p as i64 * s.pixel_step) as i32))?;
        for (j, &wr) in w.iter().enumerate().take(regs) {
            a.vpdpbusd(acc(s, p, j), b, wr)?;
        }
    }
    a.add(rsi, step_bytes)?;
    a.add(rdi, 4)?;
    a.dec(r9)?;
    a.jnz(step)?;
    a.add(rdi, (row_step - 4 * steps as i64) as i32)?;
    a.dec(r8)?;
    a.jnz(row)?;
    Ok(())
}

/// Requantizes, clamps and stores every accumulator as u8 codes: the two roundings as one
/// floor division of the 64-bit products (`super::rounding`), even and odd channels apart.
fn epilogue(a: &mut CodeAssembler, s: &Shape) -> Result<(), IcedError> {
    let (nb, lanes) = (s.tier.block(), s.tier.lanes());
    let regs = s.regs();
    let (t1, t2, t3) = (zmm28, zmm29, zmm30);
    // The tables of one register's channels live in registers while every pixel's accumulator
    // of that register goes through: a memory operand per step would cost a 64-byte load each,
    // and loads, not arithmetic, would bound the epilogue.
    let (mult, mult_odd, ce, co, ne, no, se, so) =
        (zmm16, zmm17, zmm18, zmm19, zmm20, zmm21, zmm22, zmm23);
    let (lo, hi, perm, zero, zp) = (zmm24, zmm25, zmm26, zmm27, zmm31);
    // k3: the channels stored by the last register.
    let tail = s.channels - (regs - 1) * lanes;
    a.mov(eax, ((1u32 << tail) - 1) & 0xFFFF)?;
    a.kmovw(k3, eax)?;
    let m = |tab: Table, j: usize| zmmword_ptr(rcx + tab.at(nb, lanes, j));
    a.vpxord(zero, zero, zero)?;
    a.vmovdqu32(perm, m(Table::Perm, 0))?;
    a.vmovdqu32(lo, m(Table::AbsLo, 0))?;
    a.vmovdqu32(hi, m(Table::AbsHi, 0))?;
    if !s.fold_zp {
        a.vmovdqu32(zp, m(Table::Zp, 0))?;
    }
    for j in 0..regs {
        for (r, tab) in [
            (mult, Table::Mult),
            (mult_odd, Table::MultOdd),
            (ce, Table::CEven),
            (co, Table::COdd),
            (ne, Table::NEven),
            (no, Table::NOdd),
            (se, Table::SEven),
            (so, Table::SOdd),
        ] {
            a.vmovdqu32(r, m(tab, j))?;
        }
        for p in 0..s.pixels {
            let x = acc(s, p, j);
            if s.left {
                // Saturating `x << left`: where shifting back does not give x, it overflowed.
                a.vpsllvd(t1, x, m(Table::Left, j))?;
                a.vpsravd(t2, t1, m(Table::Left, j))?;
                a.vpcmpd(k1, t2, x, 4)?; // not equal
                a.vpsrad(t3, x, 31)?;
                a.vpxord(t3, t3, m(Table::Max, j))?; // i32::MAX, or i32::MIN when x < 0
                a.vmovdqa32(t1.k1(), t3)?;
                a.vmovdqa32(x, t1)?;
            }
            // The products of the even channels and of the odd ones, in i64 lanes.
            a.vpmuldq(t1, x, mult)?;
            a.vpsrlq(t2, x, 32)?;
            a.vpmuldq(t2, t2, mult_odd)?;
            a.vpcmpq(k1, t1, zero, 1)?; // less than
            a.vpcmpq(k2, t2, zero, 1)?;
            a.vpaddq(t1, t1, ce)?;
            a.vpaddq(t2, t2, co)?;
            a.vpsubq(t1.k1(), t1, ne)?;
            a.vpsubq(t2.k2(), t2, no)?;
            a.vpsravq(t1, t1, se)?;
            a.vpsravq(t2, t2, so)?;
            a.vpermt2d(t1, perm, t2)?;
            if !s.fold_zp {
                a.vpaddd(t1, t1, zp)?;
            }
            a.vpmaxsd(t1, t1, lo)?;
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
                a.vpminsd(t1, t1, hi)?;
                // Codes are in [lo, hi] ⊂ [0, 255]: the truncating narrow is exact.
                a.vpmovdb(dst, t1)?;
            }
        }
    }
    Ok(())
}
