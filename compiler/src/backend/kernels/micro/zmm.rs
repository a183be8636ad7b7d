//! The AVX-512 VNNI micro-kernel: `vpdpbusd` on zmm (16 channels × 4 u8·i8 products per
//! instruction), then the requantization of `fixed.rs` on 16 channels at a time with opmasks.

use super::{Kind, Shape, Table};
use iced_x86::code_asm::*;
use iced_x86::IcedError;

/// Registers: accumulators zmm0..zmm15 (pixel-major), weights zmm24/25, the broadcast
/// activation zmm26; the epilogue's tables zmm16..26 and zmm30, its temporaries zmm27..29.
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

/// Requantizes, clamps and stores every accumulator as u8 codes.
fn epilogue(a: &mut CodeAssembler, s: &Shape) -> Result<(), IcedError> {
    let (nb, lanes) = (s.tier.block(), s.tier.lanes());
    let regs = s.regs();
    let (t1, t2, t3) = (zmm27, zmm28, zmm29);
    // The tables of one register's channels live in registers while every pixel's accumulator
    // of that register goes through: a memory operand per step would cost a 64-byte load each,
    // and loads, not arithmetic, would bound the epilogue.
    let (mult, mult_odd, mask, half, right) = (zmm16, zmm17, zmm18, zmm19, zmm20);
    let (lo, hi, zp, nudge, one, left, max) = (zmm21, zmm22, zmm23, zmm24, zmm25, zmm26, zmm30);
    // k2 selects the odd lanes; k3 the channels stored by the last register.
    a.mov(eax, 0xAAAAu32)?;
    a.kmovw(k2, eax)?;
    let tail = s.channels - (regs - 1) * lanes;
    a.mov(eax, ((1u32 << tail) - 1) & 0xFFFF)?;
    a.kmovw(k3, eax)?;
    let m = |tab: Table, j: usize| zmmword_ptr(rcx + tab.at(nb, lanes, j));
    a.vmovdqu32(nudge, m(Table::Nudge, 0))?;
    a.vmovdqu32(one, m(Table::One, 0))?;
    a.vmovdqu32(max, m(Table::Max, 0))?;
    for j in 0..regs {
        for (r, tab) in [
            (mult, Table::Mult),
            (mult_odd, Table::MultOdd),
            (mask, Table::Mask),
            (half, Table::Half),
            (right, Table::Right),
            (lo, Table::Lo),
            (hi, Table::Hi),
            (zp, Table::Zp),
        ] {
            a.vmovdqu32(r, m(tab, j))?;
        }
        if s.left {
            a.vmovdqu32(left, m(Table::Left, j))?;
        }
        for p in 0..s.pixels {
            let x = acc(s, p, j);
            if s.left {
                // Saturating `x << left`: where shifting back does not give x, it overflowed.
                a.vpsllvd(t1, x, left)?;
                a.vpsravd(t2, t1, left)?;
                a.vpcmpd(k1, t2, x, 4)?; // not equal
                a.vpsrad(t3, x, 31)?;
                a.vpxord(t3, t3, max)?; // i32::MAX, or i32::MIN when x < 0
                a.vmovdqa32(t1.k1(), t3)?;
                a.vmovdqa32(x, t1)?;
            }
            // (x·m + 2³⁰) >> 31, even lanes then odd lanes in i64, bits 31..62 kept.
            a.vpmuldq(t1, x, mult)?;
            a.vpsrlq(t2, x, 32)?;
            a.vpmuldq(t2, t2, mult_odd)?;
            a.vpaddq(t1, t1, nudge)?;
            a.vpaddq(t2, t2, nudge)?;
            a.vpsrlq(t1, t1, 31)?;
            a.vpsllq(t2, t2, 1)?;
            a.vpblendmd(x.k2(), t1, t2)?;
            // Rounding divide by 2^right: up by one where the remainder passes the threshold,
            // `mask >> 1` plus one for a negative x (compared as `remainder − [x < 0]`).
            a.vpandd(t1, x, mask)?;
            a.vpsrad(t2, x, 31)?;
            a.vpaddd(t1, t1, t2)?;
            a.vpcmpd(k1, t1, half, 6)?; // signed greater than
            a.vpsravd(x, x, right)?;
            a.vpaddd(x.k1(), x, one)?;
            a.vpmaxsd(x, x, lo)?;
            a.vpminsd(x, x, hi)?;
            a.vpaddd(x, x, zp)?;
            // Codes are in [0, 255]: the truncating narrow is exact.
            let dst = xmmword_ptr(rdx + (p as i64 * s.out_step + (j * lanes) as i64) as i32);
            if j + 1 == regs && tail < lanes {
                a.vpmovdb(dst.k3(), x)?;
            } else {
                a.vpmovdb(dst, x)?;
            }
        }
    }
    Ok(())
}
