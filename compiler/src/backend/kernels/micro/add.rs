//! The machine-code qadd on AVX-512: sixteen pairs of codes per iteration, each operand's
//! rescale in i32 lanes and the sum's requantization as one floor division of 64-bit products,
//! bit for bit `runtime::qops::qadd` (Cranelift's 128-bit lanes do a quarter of this per
//! instruction, and qadd was a fifth of ResNet-18's time).
//!
//! Called as `(a, b, y, blocks)` (SysV: rdi, rsi, rdx, rcx) over `blocks ≥ 1` runs of 16 codes
//! laid out alike; caller-saved registers only.

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use runtime::qops::fixed::MIN_SHIFT;
use runtime::qops::ADD_LEFT_SHIFT;

/// What one qadd is specialized to: the operands' and result's storage and quantization, and
/// the rescale of each operand and of the sum (`multiply_by_quantized_multiplier`'s
/// multiplier and shift).
#[derive(Clone, Copy, Debug)]
pub struct AddShape {
    /// Whether each of a, b, y holds i8 codes (else u8).
    pub signed: [bool; 3],
    pub za: i32,
    pub zb: i32,
    /// (multiplier, shift) of a, of b, and of the sum.
    pub ra: (i32, i32),
    pub rb: (i32, i32),
    pub rs: (i32, i32),
    pub zy: i32,
    pub lo: i32,
    pub hi: i32,
}

impl AddShape {
    /// Whether this kernel computes it: every multiplier non-negative and every shift a
    /// division (≤ 0, as the verifier holds the operands' and as the quantizer makes the sum's),
    /// and a clamp inside the result's codes. Anything else keeps the Cranelift kernel.
    pub fn fits(&self) -> bool {
        let (qmin, qmax) = if self.signed[2] {
            (-128, 127)
        } else {
            (0, 255)
        };
        [self.ra, self.rb, self.rs]
            .iter()
            .all(|&(m, s)| m >= 0 && (MIN_SHIFT..=0).contains(&s))
            && qmin <= self.lo
            && self.lo <= self.hi
            && self.hi <= qmax
    }
}

/// `(code − z)·2²⁰` times an operand's multiplier: `d·m_h + ((d·m_l + 2¹⁰) >> 11)` with
/// `m = m_h·2¹¹ + m_l` (`fixed::multiply_small_x4` proves it), then the rounding divide by
/// `2^right`.
const E: i32 = 31 - ADD_LEFT_SHIFT;

fn zmm_n(i: u32) -> AsmRegisterZmm {
    registers::zmm::get_zmm(iced_x86::Register::ZMM0 + i).expect("zmm0..zmm31")
}

/// The registers of one operand's rescale: its zero point, the multiplier's two parts, and the
/// rounding divide's mask and threshold.
struct Rescale {
    z: AsmRegisterZmm,
    mh: AsmRegisterZmm,
    ml: AsmRegisterZmm,
    mask: AsmRegisterZmm,
    threshold: AsmRegisterZmm,
    right: i32,
}

const ONE: AsmRegisterZmm = zmm22;
const HALF: AsmRegisterZmm = zmm23;
const MULT: AsmRegisterZmm = zmm24;
const C: AsmRegisterZmm = zmm25;
const N: AsmRegisterZmm = zmm26;
const ZERO: AsmRegisterZmm = zmm27;
const LO: AsmRegisterZmm = zmm28;
const HI: AsmRegisterZmm = zmm29;
const ZP: AsmRegisterZmm = zmm30;

fn dword(a: &mut CodeAssembler, r: AsmRegisterZmm, v: i32) -> Result<(), IcedError> {
    a.mov(eax, v as u32)?;
    a.vpbroadcastd(r, eax)
}

fn qword(a: &mut CodeAssembler, r: AsmRegisterZmm, v: i64) -> Result<(), IcedError> {
    a.mov(rax, v as u64)?;
    a.vpbroadcastq(r, rax)
}

fn setup(
    a: &mut CodeAssembler,
    first: u32,
    z: i32,
    (m, s): (i32, i32),
) -> Result<Rescale, IcedError> {
    let r = Rescale {
        z: zmm_n(first),
        mh: zmm_n(first + 1),
        ml: zmm_n(first + 2),
        mask: zmm_n(first + 3),
        threshold: zmm_n(first + 4),
        right: -s,
    };
    dword(a, r.z, z)?;
    dword(a, r.mh, m >> E)?;
    dword(a, r.ml, m & ((1 << E) - 1))?;
    if r.right > 0 {
        let mask = ((1i64 << r.right) - 1) as i32;
        dword(a, r.mask, mask)?;
        dword(a, r.threshold, mask >> 1)?;
    }
    Ok(r)
}

/// `x` (codes, i32 lanes) rescaled into `out`, with `t`, `u` and k3 as scratch.
fn rescale(
    a: &mut CodeAssembler,
    r: &Rescale,
    x: AsmRegisterZmm,
    out: AsmRegisterZmm,
    t: AsmRegisterZmm,
    u: AsmRegisterZmm,
) -> Result<(), IcedError> {
    a.vpsubd(x, x, r.z)?;
    a.vpmulld(out, x, r.mh)?;
    a.vpmulld(t, x, r.ml)?;
    a.vpaddd(t, t, HALF)?;
    a.vpsrad(t, t, E)?;
    a.vpaddd(out, out, t)?;
    if r.right > 0 {
        // gemmlowp's RoundingDivideByPOT: up by one where the remainder passes
        // (mask >> 1) + [x < 0].
        a.vpandd(t, out, r.mask)?;
        a.vpsrad(u, out, 31)?;
        a.vpsubd(u, r.threshold, u)?;
        a.vpcmpgtd(k3, t, u)?;
        a.vpsrad(out, out, r.right)?;
        a.vpaddd(out.k3(), out, ONE)?;
    }
    Ok(())
}

pub fn assemble(s: &AddShape) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let ra = setup(&mut a, 12, s.za, s.ra)?;
    let rb = setup(&mut a, 17, s.zb, s.rb)?;
    dword(&mut a, ONE, 1)?;
    dword(&mut a, HALF, 1 << (E - 1))?;
    let (m, shift) = s.rs;
    let fold = -shift <= super::FOLD_MAX_RIGHT;
    let (c, n, sh) = super::rounding(-shift, s.zy, fold);
    dword(&mut a, MULT, m)?;
    qword(&mut a, C, c)?;
    qword(&mut a, N, n)?;
    a.vpxord(ZERO, ZERO, ZERO)?;
    dword(&mut a, LO, s.lo)?;
    dword(&mut a, HI, s.hi)?;
    dword(&mut a, ZP, s.zy)?;
    // The odd i32 lanes, where the odd products' results go.
    a.mov(eax, 0xAAAAu32)?;
    a.kmovw(k4, eax)?;

    let mut top = a.create_label();
    a.set_label(&mut top)?;
    for (signed, x, src) in [(s.signed[0], zmm0, rdi), (s.signed[1], zmm1, rsi)] {
        if signed {
            a.vpmovsxbd(x, xmmword_ptr(src))?;
        } else {
            a.vpmovzxbd(x, xmmword_ptr(src))?;
        }
    }
    rescale(&mut a, &ra, zmm0, zmm2, zmm3, zmm4)?;
    rescale(&mut a, &rb, zmm1, zmm5, zmm6, zmm7)?;
    a.vpaddd(zmm0, zmm2, zmm5)?;
    // The sum times the multiplier in i64 lanes, even and odd lanes apart, then both roundings
    // as one floor division (`super::rounding`).
    a.vpmuldq(zmm1, zmm0, MULT)?;
    a.vpsrlq(zmm2, zmm0, 32)?;
    a.vpmuldq(zmm2, zmm2, MULT)?;
    a.vpcmpq(k1, zmm1, ZERO, 1)?; // less than
    a.vpcmpq(k2, zmm2, ZERO, 1)?;
    a.vpaddq(zmm1, zmm1, C)?;
    a.vpaddq(zmm2, zmm2, C)?;
    a.vpsubq(zmm1.k1(), zmm1, N)?;
    a.vpsubq(zmm2.k2(), zmm2, N)?;
    a.vpsraq(zmm1, zmm1, sh as i32)?;
    a.vpsraq(zmm2, zmm2, sh as i32)?;
    a.vpsllq(zmm2, zmm2, 32)?;
    a.vpblendmd(zmm1.k4(), zmm1, zmm2)?;
    if !fold {
        a.vpaddd(zmm1, zmm1, ZP)?;
    }
    a.vpmaxsd(zmm1, zmm1, LO)?;
    a.vpminsd(zmm1, zmm1, HI)?;
    // Codes inside [lo, hi], itself inside the result's range: the truncating narrow is exact.
    a.vpmovdb(xmmword_ptr(rdx), zmm1)?;
    a.add(rdi, 16)?;
    a.add(rsi, 16)?;
    a.add(rdx, 16)?;
    a.dec(rcx)?;
    a.jne(top)?;
    a.vzeroupper()?;
    a.ret()?;
    a.assemble(0)
}
