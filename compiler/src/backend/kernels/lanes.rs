//! Sixteen codes at a time in 128-bit vectors, for the kernels whose elements are independent:
//! loads that widen u8/i8/i32 codes to four i32x4, the store that narrows them back, and the
//! flat loop (whole blocks of 16, then the rest one by one) that same-layout operands share.

use super::boundary::{load_code, store_code};
use crate::backend::emit::{mem, Emitter, K};
use crate::backend::layout::{elem_size, strides};
use crate::backend::Operand;
use crate::diag::Result;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, InstBuilder, Value};
use cranelift_module::{FuncId, Linkage};
use runtime::DType;

/// Codes per block: one 128-bit vector of bytes.
pub const LANES: usize = 16;

/// Sixteen bytes as four i32x4 (lanes 0–3, 4–7, 8–11, 12–15), zero- or sign-extended.
pub fn widen(k: &mut K, d: DType, bytes: Value) -> [Value; 4] {
    let signed = d == DType::I8;
    let w = |k: &mut K, v: Value, high: bool| match (signed, high) {
        (false, false) => k.b.ins().uwiden_low(v),
        (false, true) => k.b.ins().uwiden_high(v),
        (true, false) => k.b.ins().swiden_low(v),
        (true, true) => k.b.ins().swiden_high(v),
    };
    let lo = w(k, bytes, false);
    let hi = w(k, bytes, true);
    [
        w(k, lo, false),
        w(k, lo, true),
        w(k, hi, false),
        w(k, hi, true),
    ]
}

/// Sixteen codes of storage `d` at `addr` as four i32x4.
pub fn load16(k: &mut K, d: DType, addr: Value) -> [Value; 4] {
    match d {
        DType::U8 | DType::I8 => {
            let v = k.b.ins().load(types::I8X16, mem(), addr, 0);
            widen(k, d, v)
        }
        // f32 is no code; the callers only pass integer storage.
        DType::I32 | DType::F32 => {
            [0, 16, 32, 48].map(|o| k.b.ins().load(types::I32X4, mem(), addr, o))
        }
        other => unreachable!("load16 of {other}: the backend refuses other element types before emitting (backend::check_dtypes)"),
    }
}

/// Four i32x4 already inside the code range of `d` (u8 or i8) as sixteen bytes; the saturating
/// packs are then exact.
pub fn narrow(k: &mut K, d: DType, v: [Value; 4]) -> Value {
    let lo = k.b.ins().snarrow(v[0], v[1]);
    let hi = k.b.ins().snarrow(v[2], v[3]);
    if d == DType::I8 {
        k.b.ins().snarrow(lo, hi)
    } else {
        k.b.ins().unarrow(lo, hi)
    }
}

/// Whether every operand has the result's shape and memory layout, so that element `i` of each
/// is at the same index in memory and one flat loop visits them all.
pub fn same_layout(args: &[&Operand], y: &Operand) -> bool {
    args.iter()
        .all(|a| a.ty.shape == y.ty.shape && strides(&a.ty) == strides(&y.ty))
}

/// How [`map_flat`] computes whole blocks of 16 elements.
pub enum Blocks<V> {
    /// One i32x4 per operand (four elements, codes widened) in, the four result codes out.
    Vector(V),
    /// A machine-code function `(operand 0, operand 1, result, blocks)` over a run of whole
    /// blocks (two operands; see `micro::add`).
    Micro(FuncId),
}

/// A kernel over operands laid out as the result (see [`same_layout`]) with a 1-byte result:
/// `blocks` computes every whole block of 16, `scalar` one element (i32 codes) of the last
/// `n % 16`.
pub fn map_flat<V: Fn(&mut K, &[Value]) -> Result<Value>>(
    em: &mut Emitter,
    name: &str,
    args: &[&Operand],
    y: &Operand,
    blocks: Blocks<V>,
    scalar: impl Fn(&mut K, &[Value]) -> Result<Value>,
) -> Result<FuncId> {
    let n = y.ty.numel();
    let yd = y.ty.elem.storage();
    let dts: Vec<DType> = args.iter().map(|a| a.ty.elem.storage()).collect();
    em.kernel(name, Linkage::Local, |k| {
        let bases: Vec<Value> = args.iter().map(|a| k.base(a.loc)).collect();
        let yb = k.base(y.loc);
        let whole = (n / LANES * LANES) as i64;
        // Work units, for threads: chunks of CHUNK elements; the last one also takes the
        // scalar tail.
        let units = (whole as usize).div_ceil(CHUNK).max(1);
        // The last `n % 16` elements, one by one, by the last unit.
        let tail = |k: &mut K, u: Value| -> Result<()> {
            if whole as usize == n {
                return Ok(());
            }
            let last = k.b.ins().icmp_imm_s(IntCC::Equal, u, (units - 1) as i64);
            k.if_then(last, |k| {
                k.for_range(whole, n as i64, 1, |k, i| {
                    let vals: Vec<Value> = dts
                        .iter()
                        .zip(&bases)
                        .map(|(&d, &b)| {
                            let a = k.at(b, i, elem_size(d), 0);
                            load_code(k, d, a)
                        })
                        .collect();
                    let v = scalar(k, &vals)?;
                    let ya = k.at(yb, i, 1, 0);
                    store_code(k, yd, v, ya);
                    Ok(())
                })
            })
        };
        k.for_units(units, |k, u| {
            let start = k.b.ins().imul_imm_s(u, CHUNK as i64);
            let end = k.b.ins().iadd_imm_s(start, CHUNK as i64);
            let all = k.i64(whole);
            let end = k.b.ins().smin(end, all);
            let vector = match &blocks {
                Blocks::Vector(v) => v,
                Blocks::Micro(f) => {
                    if whole > 0 {
                        // A unit holds whole blocks, at least one.
                        let mut ptrs: Vec<Value> = dts
                            .iter()
                            .zip(&bases)
                            .map(|(&d, &b)| k.at(b, start, elem_size(d), 0))
                            .collect();
                        ptrs.push(k.at(yb, start, 1, 0));
                        let count = k.b.ins().isub(end, start);
                        ptrs.push(k.b.ins().sshr_imm_s(count, LANES.trailing_zeros() as i64));
                        k.call(*f, &ptrs);
                    }
                    return tail(k, u);
                }
            };
            k.for_between(start, end, LANES as i64, |k, i| {
                let loaded: Vec<[Value; 4]> = dts
                    .iter()
                    .zip(&bases)
                    .map(|(&d, &b)| {
                        let a = k.at(b, i, elem_size(d), 0);
                        load16(k, d, a)
                    })
                    .collect();
                let mut out = [i; 4];
                for (q, o) in out.iter_mut().enumerate() {
                    let lanes: Vec<Value> = loaded.iter().map(|l| l[q]).collect();
                    *o = vector(k, &lanes)?;
                }
                let v = narrow(k, yd, out);
                let ya = k.at(yb, i, 1, 0);
                k.b.ins().store(mem(), v, ya, 0);
                Ok(())
            })?;
            tail(k, u)
        })
    })
}

/// Elements per work unit of [`map_flat`]: enough that a unit's loop dwarfs its call, few
/// enough that a 56×56×64 activation splits into dozens.
const CHUNK: usize = 4096;

/// `v` of i32x4 splatted from a compile-time constant.
pub fn splat_i32(k: &mut K, v: i32) -> Value {
    let s = k.i32(v);
    k.b.ins().splat(types::I32X4, s)
}
