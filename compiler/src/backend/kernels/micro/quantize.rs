//! Per-tensor quantize of f32 to byte codes in AVX-512 machine code: 16 floats per `vdivps`
//! (Cranelift's 128-bit division was most of every quantize's time), the same IEEE quotient the
//! interpreter divides, then NaN made 0, clamped to the codes' range less the zero point (which
//! commutes with rounding: its ends are integers), rounded to nearest even, converted, the zero
//! point added and narrowed with saturation (a no-op: the values are in range).
//!
//! Called as `(x, y, blocks)` (SysV: rdi, rsi, rdx) over `blocks ≥ 1` runs of 16 floats in and
//! 16 codes out, laid out alike; the constants are stored after the code. Caller-saved registers
//! only.

use iced_x86::code_asm::*;
use iced_x86::IcedError;

/// `signed`: i8 codes (else u8); `lo`, `hi`: the code range; `zp` inside it.
pub fn assemble(scale: f32, zp: i32, lo: i32, hi: i32, signed: bool) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let mut consts = a.create_label();
    a.lea(rax, ptr(consts))?;
    a.vbroadcastss(zmm16, dword_ptr(rax))?;
    a.vbroadcastss(zmm17, dword_ptr(rax + 4))?;
    a.vbroadcastss(zmm18, dword_ptr(rax + 8))?;
    a.vpbroadcastd(zmm19, dword_ptr(rax + 12))?;
    let mut top = a.create_label();
    a.set_label(&mut top)?;
    a.vmovups(zmm0, zmmword_ptr(rdi))?;
    a.vdivps(zmm0, zmm0, zmm16)?;
    // k1: the lanes that are not NaN; the others become +0 (the interpreter's `NaN as i64`).
    a.vcmpps(k1, zmm0, zmm0, 7)?;
    a.vmovaps(zmm0.k1().z(), zmm0)?;
    a.vmaxps(zmm0, zmm0, zmm17)?;
    a.vminps(zmm0, zmm0, zmm18)?;
    // Round to nearest even (imm bits 1:0 = 0), precision exception suppressed (bit 3).
    a.vrndscaleps(zmm0, zmm0, 8)?;
    a.vcvttps2dq(zmm0, zmm0)?;
    a.vpaddd(zmm0, zmm0, zmm19)?;
    if signed {
        a.vpmovsdb(xmmword_ptr(rsi), zmm0)?;
    } else {
        a.vpmovusdb(xmmword_ptr(rsi), zmm0)?;
    }
    a.add(rdi, 64)?;
    a.add(rsi, 16)?;
    a.dec(rdx)?;
    a.jne(top)?;
    a.vzeroupper()?;
    a.ret()?;
    a.set_label(&mut consts)?;
    let words = [
        scale.to_bits(),
        ((lo - zp) as f32).to_bits(),
        ((hi - zp) as f32).to_bits(),
        zp as u32,
    ];
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    a.db(&bytes)?;
    a.assemble(0)
}
