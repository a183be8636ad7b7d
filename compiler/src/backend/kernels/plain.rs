//! Elementwise kernels on plain (not quantized) values of any type a library holds (f32, i8,
//! u8, i32, i64, bool): cast, compare, logic, not, where and mod, with numpy broadcasting, each
//! computing what `runtime::ops` computes. Bools are bytes holding 0 or 1, loaded as i32.
//!
//! Where the interpreter refuses a run (an integer `mod` by zero) a library has no way to say so
//! (its entry returns no error for data), so it computes a defined value instead: the remainder
//! by zero is 0. docs/ir.md states it.

use super::elementwise::map;
use super::lanes::{map_runs, splat_i32};
use crate::backend::emit::{Emitter, K};
use crate::backend::{Operand, Step};
use crate::diag::{Error, Result};
use crate::ir::op::OpKind;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, InstBuilder, Value};
use cranelift_module::FuncId;
use runtime::ops::{CmpOp, LogicOp};
use runtime::DType;

/// The element types the kernels of this file and `index.rs` load and store.
fn held(d: DType) -> bool {
    matches!(
        d,
        DType::F32 | DType::I8 | DType::U8 | DType::I32 | DType::I64 | DType::Bool
    )
}

/// Refuses, naming the op and type, an operand or result of a type no kernel here loads.
pub(super) fn check_held(step: &Step) -> Result<()> {
    for o in step.args.iter().chain([&step.out]) {
        if !held(o.ty.elem.storage()) {
            return Err(Error::msg(format!(
                "{} on {} has no kernel (f32, i8, u8, i32, i64 and bool only)",
                step.op.kind.name(),
                o.ty
            )));
        }
    }
    Ok(())
}

fn attr<T>(r: std::result::Result<T, String>) -> Result<T> {
    r.map_err(Error::msg)
}

/// `v` (as [`super::boundary::load_code`] loaded a `from` element) converted as ONNX Cast and
/// `runtime::element::convert` do, in the form `store_code` stores for `to`: floats to integers
/// truncate toward zero and saturate (NaN is 0), integers to narrower integers keep the low bits
/// (the byte store drops the rest), integers to f32 round to nearest even, anything to bool is
/// `v != 0` (NaN is true).
pub(super) fn convert(k: &mut K, v: Value, from: DType, to: DType) -> Value {
    let i64_of = |k: &mut K, v: Value| {
        if from == DType::I64 {
            v
        } else {
            // u8 and bool are already zero-extended into the i32, so sign extension is right.
            k.b.ins().sextend(types::I64, v)
        }
    };
    match (from, to) {
        (a, b) if a == b => v,
        (DType::F32, DType::Bool) => {
            let z = k.b.ins().f32const(0.0);
            let ne = k.b.ins().fcmp(FloatCC::NotEqual, v, z);
            k.b.ins().uextend(types::I32, ne)
        }
        (_, DType::Bool) => {
            let ne = k.b.ins().icmp_imm_s(IntCC::NotEqual, v, 0);
            k.b.ins().uextend(types::I32, ne)
        }
        (DType::F32, DType::I64) => k.b.ins().fcvt_to_sint_sat(types::I64, v),
        (DType::F32, DType::I32) => k.b.ins().fcvt_to_sint_sat(types::I32, v),
        (DType::F32, DType::I8 | DType::U8) => {
            let w = k.b.ins().fcvt_to_sint_sat(types::I32, v);
            let (lo, hi) = if to == DType::I8 {
                (-128, 127)
            } else {
                (0, 255)
            };
            k.clamp(w, lo, hi)
        }
        (_, DType::F32) => k.b.ins().fcvt_from_sint(types::F32, v),
        (_, DType::I64) => i64_of(k, v),
        (DType::I64, _) => k.b.ins().ireduce(types::I32, v),
        // i32-held integers to i32 or a byte: the same bits, the store keeps what fits.
        _ => v,
    }
}

pub fn cast(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    check_held(step)?;
    let (from, to) = (step.args[0].ty.elem.storage(), step.out.ty.elem.storage());
    let scalar = |k: &mut K, v: &[Value]| Ok(convert(k, v[0], from, to));
    if matches!(from, DType::Bool | DType::U8 | DType::I8 | DType::I32) && to == DType::F32 {
        // A one-hot or a mask made float: each lane converted exactly as one by one.
        let vector = |k: &mut K, v: &[Value]| Ok(k.b.ins().fcvt_from_sint(types::F32X4, v[0]));
        if let Some(f) = map_runs(em, name, &[&step.args[0]], &step.out, vector, scalar)? {
            return Ok((f, 0));
        }
    }
    let f = map(em, name, &[&step.args[0]], &step.out, |k, v, _| {
        scalar(k, v)
    })?;
    Ok((f, 0))
}

pub fn compare(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    check_held(step)?;
    let f = attr(step.op.str_of("fn"))?;
    let c = CmpOp::from_name(&f)
        .ok_or_else(|| Error::msg(format!("compare: `fn` = \"{f}\" is not a comparison")))?;
    let float = step.args[0].ty.elem.storage() == DType::F32;
    let args: Vec<&Operand> = step.args.iter().collect();
    // Ordered float comparisons: false against NaN, `equal` too.
    let fcc = match c {
        CmpOp::Equal => FloatCC::Equal,
        CmpOp::Less => FloatCC::LessThan,
        CmpOp::Greater => FloatCC::GreaterThan,
        CmpOp::LessOrEqual => FloatCC::LessThanOrEqual,
        CmpOp::GreaterOrEqual => FloatCC::GreaterThanOrEqual,
    };
    // Bytes are loaded extended into an i32 (u8 and bool with zeros), so the signed order of
    // the loaded values is the order of the elements.
    let icc = match c {
        CmpOp::Equal => IntCC::Equal,
        CmpOp::Less => IntCC::SignedLessThan,
        CmpOp::Greater => IntCC::SignedGreaterThan,
        CmpOp::LessOrEqual => IntCC::SignedLessThanOrEqual,
        CmpOp::GreaterOrEqual => IntCC::SignedGreaterThanOrEqual,
    };
    let scalar = |k: &mut K, v: &[Value]| {
        let holds = if float {
            k.b.ins().fcmp(fcc, v[0], v[1])
        } else {
            k.b.ins().icmp(icc, v[0], v[1])
        };
        Ok(k.b.ins().uextend(types::I32, holds))
    };
    // Lane masks are all ones or zeros: `& 1` makes them the bools' 0 and 1.
    let vector = |k: &mut K, v: &[Value]| {
        let mask = if float {
            k.b.ins().fcmp(fcc, v[0], v[1])
        } else {
            k.b.ins().icmp(icc, v[0], v[1])
        };
        let one = splat_i32(k, 1);
        Ok(k.b.ins().band(mask, one))
    };
    if let Some(f) = map_runs(em, name, &args, &step.out, vector, scalar)? {
        return Ok((f, 0));
    }
    let f = map(em, name, &args, &step.out, |k, v, _| scalar(k, v))?;
    Ok((f, 0))
}

pub fn logic(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    check_held(step)?;
    let kind = step.op.kind;
    let l =
        if kind == OpKind::Logic {
            let f = attr(step.op.str_of("fn"))?;
            Some(LogicOp::from_name(&f).ok_or_else(|| {
                Error::msg(format!("logic: `fn` = \"{f}\" is not and, or or xor"))
            })?)
        } else {
            None
        };
    let args: Vec<&Operand> = step.args.iter().collect();
    let f = map(em, name, &args, &step.out, |k, v, _| {
        Ok(match (kind, l) {
            (OpKind::Not, _) => k.b.ins().bxor_imm_s(v[0], 1),
            // cond ? x : y; the condition is 0 or 1.
            (OpKind::Where, _) => k.b.ins().select(v[0], v[1], v[2]),
            (_, Some(LogicOp::And)) => k.b.ins().band(v[0], v[1]),
            (_, Some(LogicOp::Or)) => k.b.ins().bor(v[0], v[1]),
            _ => k.b.ins().bxor(v[0], v[1]),
        })
    })?;
    Ok((f, 0))
}

/// Mod: floats (`fmod` only) through C's `fmod` on f64, as the interpreter's `f64 %` (exact, so
/// rounding back to f32 is exact too); integers as the interpreter's i128 remainder: `fmod`
/// takes the dividend's sign, the default the divisor's. A divisor of 0 or −1 divides by 1
/// instead: for −1 that is the same remainder (0) without the overflow of `MIN % −1`, for 0 it
/// is the defined result 0 where the interpreter refuses.
/// Whether `t` holds plain integers (not codes, not bools): what integer arithmetic computes on.
pub(super) fn is_plain_integer(t: &crate::ir::types::TensorType) -> bool {
    let d = t.elem.storage();
    t.elem.quant().is_none() && !d.is_float() && d != DType::Bool
}

/// Add, sub, mul and div on plain integers (index arithmetic: a class from a flat TopK index
/// is `i mod classes`, its box `i / classes`), as `runtime::ops::arith` computes them: two's
/// complement wrapping, division truncating toward zero. A library cannot report the
/// interpreter's error for a zero divisor, so it gives 0 there (as `mod` does) and never
/// divides by it; `MIN / −1` wraps to `MIN` by negating instead of trapping.
pub fn int_arith(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    check_held(step)?;
    let kind = step.op.kind;
    let args: Vec<&Operand> = step.args.iter().collect();
    let f = map(em, name, &args, &step.out, |k, v, _| {
        let (x, y) = (v[0], v[1]);
        Ok(match kind {
            OpKind::Add => k.b.ins().iadd(x, y),
            OpKind::Sub => k.b.ins().isub(x, y),
            OpKind::Mul => k.b.ins().imul(x, y),
            _ => {
                let ty = k.b.func.dfg.value_type(y);
                // y ∈ {−1, 0} ⟺ y + 1 ≤ 1 unsigned: the two divisors `sdiv` traps on.
                let y1 = k.b.ins().iadd_imm_s(y, 1);
                let bad = k.b.ins().icmp_imm_s(IntCC::UnsignedLessThanOrEqual, y1, 1);
                let one = k.b.ins().iconst(ty, 1);
                let safe = k.b.ins().select(bad, one, y);
                let q = k.b.ins().sdiv(x, safe);
                let zero = k.b.ins().iconst(ty, 0);
                let by_zero = k.b.ins().icmp_imm_s(IntCC::Equal, y, 0);
                let negated = k.b.ins().ineg(x);
                let special = k.b.ins().select(by_zero, zero, negated);
                k.b.ins().select(bad, special, q)
            }
        })
    })?;
    Ok((f, 0))
}

pub fn modulo(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    check_held(step)?;
    let fmod = attr(step.op.bool_of("fmod"))?;
    let d = step.out.ty.elem.storage();
    if d == DType::Bool || (d == DType::F32 && !fmod) {
        return Err(Error::msg(format!("mod on {d} with fmod = {fmod}")));
    }
    let args: Vec<&Operand> = step.args.iter().collect();
    let f = map(em, name, &args, &step.out, |k, v, _| {
        if d == DType::F32 {
            let a = k.b.ins().fpromote(types::F64, v[0]);
            let b = k.b.ins().fpromote(types::F64, v[1]);
            let r = k.libm_of(types::F64, a, "fmod", &[b])?;
            return Ok(k.b.ins().fdemote(types::F32, r));
        }
        let ty = k.b.func.dfg.value_type(v[1]);
        let (x, y) = (v[0], v[1]);
        // y ∈ {−1, 0} ⟺ y + 1 ≤ 1 unsigned.
        let y1 = k.b.ins().iadd_imm_s(y, 1);
        let bad = k.b.ins().icmp_imm_s(IntCC::UnsignedLessThanOrEqual, y1, 1);
        let one = k.b.ins().iconst(ty, 1);
        let y = k.b.ins().select(bad, one, y);
        let r = k.b.ins().srem(x, y);
        if fmod {
            return Ok(r);
        }
        // The divisor's sign: a non-zero remainder of the other sign moves by y.
        let nz = k.b.ins().icmp_imm_s(IntCC::NotEqual, r, 0);
        let signs = k.b.ins().bxor(r, y);
        let differ = k.b.ins().icmp_imm_s(IntCC::SignedLessThan, signs, 0);
        let fix = k.b.ins().band(nz, differ);
        let moved = k.b.ins().iadd(r, y);
        Ok(k.b.ins().select(fix, moved, r))
    })?;
    Ok((f, 0))
}
