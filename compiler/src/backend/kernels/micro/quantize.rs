//! Per-tensor quantize of f32 to byte codes in AVX-512 machine code: 16 floats per `vdivps`
//! (Cranelift's 128-bit division was most of every quantize's time), the same IEEE quotient the
//! interpreter divides, then NaN made 0, clamped to the codes' range less the zero point (which
//! commutes with rounding: its ends are integers), rounded to nearest even, converted, the zero
//! point added and narrowed with saturation (a no-op: the values are in range).
//!
//! Called as `(x, y, blocks)` (SysV: rdi, rsi, rdx) over `blocks ≥ 1` runs of 16 floats in and
//! 16 codes out, laid out alike; the constants are stored after the code. Caller-saved registers
//! only. [`assemble_planes`] is the same arithmetic from `c` planes (an NCHW image) to
//! channels-last u8 codes: 16 pixels of every plane per run.

use iced_x86::code_asm::*;
use iced_x86::IcedError;

/// `signed`: i8 codes (else u8); `lo`, `hi`: the code range; `zp` inside it.
pub fn assemble(scale: f32, zp: i32, lo: i32, hi: i32, signed: bool) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let mut consts = a.create_label();
    load_constants(&mut a, &mut consts)?;
    let mut top = a.create_label();
    a.set_label(&mut top)?;
    codes(&mut a, zmm0, zmmword_ptr(rdi))?;
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
    constants(&mut a, &mut consts, scale, zp, lo, hi)?;
    a.assemble(0)
}

/// The channels a plane-to-channels-last kernel takes: 2 to 4 u8 codes per pixel, packed in
/// one dword each.
pub const PLANES: std::ops::RangeInclusive<usize> = 2..=4;

/// `c` ([`PLANES`]) f32 planes `plane` bytes apart (channel k of 16 pixels at `x + k·plane`)
/// to u8 codes channels-last (`16·c` bytes at `y`): each plane's codes as [`assemble`] computes
/// them, pixel p's channels or-ed into dword p (`code_k << 8k`), then each 128-bit lane's
/// pixels' first `c` bytes gathered (`vpshufb` on the two halves, AVX2) and the lanes'
/// `c` dwords brought together (`vpermd`) for one masked store of `16·c` bytes.
pub fn assemble_planes(
    scale: f32,
    zp: i32,
    lo: i32,
    hi: i32,
    c: usize,
    plane: i32,
) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let mut consts = a.create_label();
    let mut tables = a.create_label();
    load_constants(&mut a, &mut consts)?;
    a.lea(rax, ptr(tables))?;
    // Within each 16 bytes: pixel q's bytes 0..c at q·c, the rest zero (index bit 7). In a
    // low register: `vpshufb` on ymm16 and above would need AVX512BW.
    a.vbroadcasti128(ymm2, xmmword_ptr(rax))?;
    a.vmovdqu32(zmm21, zmmword_ptr(rax + 16))?;
    a.mov(eax, (1u32 << (4 * c)) - 1)?;
    a.kmovw(k2, eax)?;
    let mut top = a.create_label();
    a.set_label(&mut top)?;
    codes(&mut a, zmm0, zmmword_ptr(rdi))?;
    for k in 1..c {
        codes(&mut a, zmm1, zmmword_ptr(rdi + k as i32 * plane))?;
        a.vpslld(zmm1, zmm1, (8 * k) as u32)?;
        a.vpord(zmm0, zmm0, zmm1)?;
    }
    if c < 4 {
        // vpshufb on zmm needs AVX512BW: shuffle the two ymm halves (AVX2) instead.
        a.vextracti64x4(ymm1, zmm0, 1)?;
        a.vpshufb(ymm0, ymm0, ymm2)?;
        a.vpshufb(ymm1, ymm1, ymm2)?;
        a.vinserti64x4(zmm0, zmm0, ymm1, 1)?;
        a.vpermd(zmm0, zmm21, zmm0)?;
    }
    a.vmovdqu32(zmmword_ptr(rsi).k2(), zmm0)?;
    a.add(rdi, 64)?;
    a.add(rsi, (16 * c) as i32)?;
    a.dec(rdx)?;
    a.jne(top)?;
    a.vzeroupper()?;
    a.ret()?;
    constants(&mut a, &mut consts, scale, zp, lo, hi)?;
    a.set_label(&mut tables)?;
    let shuffle: Vec<u8> = (0..16)
        .map(|i| {
            let (q, b) = (i / c, i % c);
            if i < 4 * c {
                (4 * q + b) as u8
            } else {
                0x80
            }
        })
        .collect();
    let perm: Vec<u8> = (0..16u32)
        .map(|i| {
            let (lane, d) = (i / c as u32, i % c as u32);
            if i < 4 * c as u32 {
                4 * lane + d
            } else {
                0
            }
        })
        .flat_map(|v| v.to_le_bytes())
        .collect();
    a.db(&shuffle)?;
    a.db(&perm)?;
    a.assemble(0)
}

fn load_constants(a: &mut CodeAssembler, consts: &mut CodeLabel) -> Result<(), IcedError> {
    a.lea(rax, ptr(*consts))?;
    a.vbroadcastss(zmm16, dword_ptr(rax))?;
    a.vbroadcastss(zmm17, dword_ptr(rax + 4))?;
    a.vbroadcastss(zmm18, dword_ptr(rax + 8))?;
    a.vpbroadcastd(zmm19, dword_ptr(rax + 12))?;
    Ok(())
}

/// Sixteen floats at `src` to codes in the i32 lanes of `dst`.
fn codes(
    a: &mut CodeAssembler,
    dst: AsmRegisterZmm,
    src: AsmMemoryOperand,
) -> Result<(), IcedError> {
    a.vmovups(dst, src)?;
    a.vdivps(dst, dst, zmm16)?;
    // k1: the lanes that are not NaN; the others become +0 (the interpreter's `NaN as i64`).
    a.vcmpps(k1, dst, dst, 7)?;
    a.vmovaps(dst.k1().z(), dst)?;
    a.vmaxps(dst, dst, zmm17)?;
    a.vminps(dst, dst, zmm18)?;
    // Round to nearest even (imm bits 1:0 = 0), precision exception suppressed (bit 3).
    a.vrndscaleps(dst, dst, 8)?;
    a.vcvttps2dq(dst, dst)?;
    a.vpaddd(dst, dst, zmm19)
}

fn constants(
    a: &mut CodeAssembler,
    consts: &mut CodeLabel,
    scale: f32,
    zp: i32,
    lo: i32,
    hi: i32,
) -> Result<(), IcedError> {
    a.set_label(consts)?;
    let words = [
        scale.to_bits(),
        ((lo - zp) as f32).to_bits(),
        ((hi - zp) as f32).to_bits(),
        zp as u32,
    ];
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    a.db(&bytes)
}
