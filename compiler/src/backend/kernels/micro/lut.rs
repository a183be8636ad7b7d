//! The machine-code lookup table on AVX-512 VBMI: 64 codes per iteration, looked up in the
//! 256-byte table held in four zmm registers (two `vpermi2b`, one per half of the table, and
//! each code's top bit picks the half), where Cranelift has no byte gather and loads each code's
//! entry on its own (a SiLU table after every conv was a tenth of YOLO detectors' time).
//!
//! Called as `(x, y, blocks)` (SysV: rdi, rsi, rdx) over `blocks ≥ 1` runs of 16 codes laid out
//! alike; the table, indexed by the raw input byte, is stored after the code. Caller-saved
//! registers only.

use iced_x86::code_asm::*;
use iced_x86::IcedError;

pub fn assemble(by_byte: &[u8; 256]) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let mut table = a.create_label();
    a.lea(rax, ptr(table))?;
    // zmm16..zmm19: entries 0–63, 64–127, 128–191, 192–255.
    a.vmovdqu8(zmm16, zmmword_ptr(rax))?;
    a.vmovdqu8(zmm17, zmmword_ptr(rax + 64))?;
    a.vmovdqu8(zmm18, zmmword_ptr(rax + 128))?;
    a.vmovdqu8(zmm19, zmmword_ptr(rax + 192))?;
    // Four blocks (64 codes) per iteration, then the last 0–3 blocks under a mask of 16 lanes
    // each (masked-off lanes are neither read nor written).
    a.mov(rcx, rdx)?;
    a.shr(rdx, 2)?;
    a.and(rcx, 3)?;
    let mut tail = a.create_label();
    let mut top = a.create_label();
    let mut done = a.create_label();
    a.test(rdx, rdx)?;
    a.je(tail)?;
    a.set_label(&mut top)?;
    a.vmovdqu8(zmm0, zmmword_ptr(rdi))?;
    look_up(&mut a)?;
    a.vmovdqu8(zmmword_ptr(rsi), zmm0)?;
    a.add(rdi, 64)?;
    a.add(rsi, 64)?;
    a.dec(rdx)?;
    a.jne(top)?;
    a.set_label(&mut tail)?;
    a.test(rcx, rcx)?;
    a.je(done)?;
    // k2: the low 16·rcx byte lanes.
    a.shl(rcx, 4)?;
    a.mov(eax, 1u32)?;
    a.shl(rax, cl)?;
    a.dec(rax)?;
    a.kmovq(k2, rax)?;
    a.vmovdqu8(zmm0.k2().z(), zmmword_ptr(rdi))?;
    look_up(&mut a)?;
    a.vmovdqu8(zmmword_ptr(rsi).k2(), zmm0)?;
    a.set_label(&mut done)?;
    a.vzeroupper()?;
    a.ret()?;
    a.set_label(&mut table)?;
    a.db(by_byte)?;
    a.assemble(0)
}

/// zmm0 (64 raw input bytes) → their table entries, in zmm0.
fn look_up(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.vpmovb2m(k1, zmm0)?;
    a.vmovdqa64(zmm1, zmm0)?;
    // Each index's low 7 bits pick one of 128 entries from a register pair.
    a.vpermi2b(zmm0, zmm16, zmm17)?;
    a.vpermi2b(zmm1, zmm18, zmm19)?;
    // Where the top bit is set, the upper half's entry.
    a.vpblendmb(zmm0.k1(), zmm0, zmm1)
}
