//! Sixteen codes at a time in 128-bit vectors, for the kernels whose elements are independent:
//! loads that widen u8/i8/i32 codes to four i32x4, the store that narrows them back, the
//! flat loop (whole blocks of 16, then the rest one by one) that same-layout operands share,
//! and the broadcasting loop over runs, which also carries f32 arithmetic four lanes at a time.

use super::boundary::{load_code, store_code};
use crate::backend::emit::{mem, Emitter, K};
use crate::backend::layout::{broadcast_strides, broadcasts_to, elem_size, memory_order, strides};
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

/// The vector body of a [`map_flat`] that has none: its blocks are machine code
/// ([`Blocks::Micro`]), so this type only names `V`.
pub type Never = fn(&mut K, &[Value]) -> Result<Value>;

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

/// A kernel over operands that broadcast to the result (a squeeze-and-excitation multiply, a
/// bias-like add), in runs along the result's innermost memory axis: in a run every operand
/// either steps with the result (stride 1) or holds one value (stride 0, splatted once per run),
/// so whole blocks of 16 go through `vector` as in [`map_flat`] and each run's last `len % 16`
/// through `scalar`. `vector` gets each operand as f32x4 (f32) or i32x4 (i32, and u8, i8 and
/// bool widened), and gives the result's lanes the same way (bytes and bools narrowed back: in
/// their range already). `None` when that does not hold: a run shorter than a block, an operand
/// strided otherwise along it, or an i64 operand or result.
pub fn map_runs(
    em: &mut Emitter,
    name: &str,
    args: &[&Operand],
    y: &Operand,
    vector: impl Fn(&mut K, &[Value]) -> Result<Value>,
    scalar: impl Fn(&mut K, &[Value]) -> Result<Value>,
) -> Result<Option<FuncId>> {
    let lanes_of = |d: DType| match d {
        DType::F32 => Some(types::F32X4),
        DType::I32 | DType::U8 | DType::I8 | DType::Bool => Some(types::I32X4),
        _ => None,
    };
    // Bools are bytes of 0 or 1: loaded and stored as u8.
    let bytes_of = |d: DType| if d == DType::Bool { DType::U8 } else { d };
    let yd = y.ty.elem.storage();
    let dts: Vec<DType> = args.iter().map(|a| a.ty.elem.storage()).collect();
    let order = memory_order(&y.ty);
    let Some(&inner) = order.last() else {
        return Ok(None);
    };
    let run = y.ty.shape[inner];
    let ys = strides(&y.ty);
    let broadcast = |a: &Operand| -> Option<Vec<i64>> {
        broadcasts_to(&a.ty.shape, &y.ty.shape)
            .then(|| broadcast_strides(&a.ty.shape, &strides(&a.ty), &y.ty.shape))
    };
    let arg_strides: Option<Vec<Vec<i64>>> = args.iter().map(|a| broadcast(a)).collect();
    let Some(arg_strides) = arg_strides else {
        return Ok(None);
    };
    if lanes_of(yd).is_none()
        || dts.iter().any(|&d| lanes_of(d).is_none())
        || run < LANES
        || ys[inner] != 1
        || arg_strides.iter().any(|s| s[inner] != 0 && s[inner] != 1)
    {
        return Ok(None);
    }
    let outer: Vec<usize> = order[..order.len() - 1].to_vec();
    let runs: usize = outer.iter().map(|&d| y.ty.shape[d]).product();
    // Work units, for threads: whole runs, about CHUNK elements each.
    let per_unit = (CHUNK / run).max(1);
    let units = runs.div_ceil(per_unit).max(1);
    let whole = (run / LANES * LANES) as i64;
    let f = em.kernel(name, Linkage::Local, |k| {
        let bases: Vec<Value> = args.iter().map(|a| k.base(a.loc)).collect();
        let yb = k.base(y.loc);
        k.for_units(units, |k, u| {
            let first = k.b.ins().imul_imm_s(u, per_unit as i64);
            let last = k.b.ins().iadd_imm_s(first, per_unit as i64);
            let all = k.i64(runs as i64);
            let last = k.b.ins().smin(last, all);
            k.for_between(first, last, 1, |k, r| {
                // The run's coordinates (innermost outer axis fastest) and each operand's start.
                let mut offs: Vec<Value> = (0..=args.len()).map(|_| k.i64(0)).collect();
                let mut rest = r;
                for &d in outer.iter().rev() {
                    let size = y.ty.shape[d];
                    let (q, c) = if size == 1 {
                        (rest, k.i64(0))
                    } else {
                        (
                            k.b.ins().udiv_imm_s(rest, size as i64),
                            k.b.ins().urem_imm_s(rest, size as i64),
                        )
                    };
                    rest = q;
                    for (i, o) in offs.iter_mut().enumerate() {
                        let s = if i < args.len() {
                            arg_strides[i][d]
                        } else {
                            ys[d]
                        };
                        if s != 0 {
                            let step = k.b.ins().imul_imm_s(c, s);
                            *o = k.b.ins().iadd(*o, step);
                        }
                    }
                }
                let starts: Vec<Value> = (0..args.len())
                    .map(|i| k.at(bases[i], offs[i], elem_size(dts[i]), 0))
                    .collect();
                let ysize = elem_size(yd);
                let ystart = k.at(yb, offs[args.len()], ysize, 0);
                // An operand constant along the run: its value once, splatted.
                let held: Vec<Option<(Value, Value)>> = (0..args.len())
                    .map(|i| {
                        (arg_strides[i][inner] == 0).then(|| {
                            let c = load_code(k, dts[i], starts[i]);
                            let lanes = lanes_of(dts[i]).expect("checked above");
                            (c, k.b.ins().splat(lanes, c))
                        })
                    })
                    .collect();
                k.for_range(0, whole, LANES as i64, |k, j| {
                    let loaded: Vec<[Value; 4]> = (0..args.len())
                        .map(|i| match held[i] {
                            Some((_, v)) => [v; 4],
                            None => {
                                let a = k.at(starts[i], j, elem_size(dts[i]), 0);
                                if dts[i] == DType::F32 {
                                    [0, 16, 32, 48]
                                        .map(|o| k.b.ins().load(types::F32X4, mem(), a, o))
                                } else {
                                    load16(k, bytes_of(dts[i]), a)
                                }
                            }
                        })
                        .collect();
                    let mut out = [j; 4];
                    for (q, o) in out.iter_mut().enumerate() {
                        let lanes: Vec<Value> = loaded.iter().map(|l| l[q]).collect();
                        *o = vector(k, &lanes)?;
                    }
                    let ya = k.at(ystart, j, ysize, 0);
                    if matches!(yd, DType::F32 | DType::I32) {
                        for (q, &v) in out.iter().enumerate() {
                            k.b.ins().store(mem(), v, ya, 16 * q as i32);
                        }
                    } else {
                        let v = narrow(k, bytes_of(yd), out);
                        k.b.ins().store(mem(), v, ya, 0);
                    }
                    Ok(())
                })?;
                k.for_range(whole, run as i64, 1, |k, j| {
                    let vals: Vec<Value> = (0..args.len())
                        .map(|i| match held[i] {
                            Some((c, _)) => c,
                            None => {
                                let a = k.at(starts[i], j, elem_size(dts[i]), 0);
                                load_code(k, dts[i], a)
                            }
                        })
                        .collect();
                    let v = scalar(k, &vals)?;
                    let ya = k.at(ystart, j, ysize, 0);
                    store_code(k, yd, v, ya);
                    Ok(())
                })
            })
        })
    })?;
    Ok(Some(f))
}

/// Elements per work unit of [`map_flat`]: enough that a unit's loop dwarfs its call, few
/// enough that a 56×56×64 activation splits into dozens.
const CHUNK: usize = 4096;

/// `v` of i32x4 splatted from a compile-time constant.
pub fn splat_i32(k: &mut K, v: i32) -> Value {
    let s = k.i32(v);
    k.b.ins().splat(types::I32X4, s)
}
