//! Elementwise integer kernels: requantize (per tensor or per channel), 256-entry lookup tables,
//! and qadd / qmul with numpy broadcasting, each exactly as `runtime::qops` computes it.

use super::boundary::{load_code, store_code};
use super::fixed::{finish, finish_x4, multiply, multiply_small_x4, multiply_x4, Pair};
use super::lanes::{map_flat, map_runs, same_layout, splat_i32, Blocks, Never, LANES};
use super::micro::{self, add::AddShape};
use super::{int, ints, zp_scale};
use crate::backend::emit::{mem, Emitter, K};
use crate::backend::layout::{
    address, broadcast_strides, broadcasts_to, elem_size, memory_order, split_each, strides,
};
use crate::backend::target::Target;
use crate::backend::{Operand, Step};
use crate::diag::{Error, Result};
use cranelift_codegen::ir::{types, InstBuilder, Value};
use cranelift_module::{FuncId, Linkage};
use runtime::qops::{qrange, ADD_LEFT_SHIFT};
use runtime::DType;

/// The clamp `[lo, hi]` lies inside the storage range of `d`.
pub(super) fn check_range(what: &str, lo: i32, hi: i32, d: DType) -> Result<()> {
    let (qmin, qmax) = qrange(d);
    if lo < qmin || hi > qmax || lo > hi {
        return Err(Error::msg(format!(
            "{what}: clamp [{lo}, {hi}] is not inside the {d} range [{qmin}, {qmax}]"
        )));
    }
    Ok(())
}

/// Whether the operands can run through [`map_flat`]: laid out as the result, integer codes, and
/// a result of bytes whose zero point is one of its codes ([`finish_x4`] clamps before adding it,
/// which is only the same as clamping the sum when `lo − zp` and `hi − zp` cannot overflow).
fn in_lanes(args: &[&Operand], y: &Operand, zy: i32) -> bool {
    in_codes(args, y, zy) && same_layout(args, y)
}

/// [`in_lanes`] but for the layout: what [`map_runs`] needs of the types.
fn in_codes(args: &[&Operand], y: &Operand, zy: i32) -> bool {
    let yd = y.ty.elem.storage();
    matches!(yd, DType::U8 | DType::I8)
        && (qrange(yd).0..=qrange(yd).1).contains(&zy)
        && args.iter().all(|a| a.ty.elem.storage() != DType::F32)
}

/// Loops over the result in its memory order, split into work units for threads
/// ([`split_each`]), handing `body` the loaded operands (codes, indices and masks as i32 or i64,
/// f32 as f32, broadcast to the result) and its index, and storing what it returns.
pub(super) fn map(
    em: &mut Emitter,
    name: &str,
    args: &[&Operand],
    y: &Operand,
    body: impl Fn(&mut K, &[Value], &[Value]) -> Result<Value>,
) -> Result<FuncId> {
    for a in args {
        if !broadcasts_to(&a.ty.shape, &y.ty.shape) {
            return Err(Error::msg(format!(
                "operand {} does not broadcast to the result {}",
                a.ty, y.ty
            )));
        }
    }
    em.kernel(name, Linkage::Local, |k| {
        let bases: Vec<Value> = args.iter().map(|a| k.base(a.loc)).collect();
        let arg_strides: Vec<Vec<i64>> = args
            .iter()
            .map(|a| broadcast_strides(&a.ty.shape, &strides(&a.ty), &y.ty.shape))
            .collect();
        let yb = k.base(y.loc);
        let ys = strides(&y.ty);
        let yd = y.ty.elem.storage();
        split_each(k, &y.ty.shape, &memory_order(&y.ty), &mut |k, idx| {
            let mut vals = Vec::with_capacity(args.len());
            for (i, a) in args.iter().enumerate() {
                let d = a.ty.elem.storage();
                let addr = address(k, bases[i], idx, &arg_strides[i], elem_size(d));
                vals.push(load_code(k, d, addr));
            }
            let v = body(k, &vals, idx)?;
            let ya = address(k, yb, idx, &ys, elem_size(yd));
            store_code(k, yd, v, ya);
            Ok(())
        })
    })
}

/// A table of i32s in the object.
fn i32_table(em: &mut Emitter, what: &str, v: &[i32]) -> Result<cranelift_module::DataId> {
    em.data(what, v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

pub fn requantize(
    em: &mut Emitter,
    name: &str,
    step: &Step,
    target: &Target,
) -> Result<(FuncId, usize)> {
    let (x, y) = (&step.args[0], &step.out);
    let (_, zx) = zp_scale(&x.ty, "the operand")?;
    let (_, zy) = zp_scale(&y.ty, "the result")?;
    let (m, s) = (ints(&step.op, "multiplier")?, ints(&step.op, "shift")?);
    let (lo, hi) = (int(&step.op, "lo")?, int(&step.op, "hi")?);
    check_range("requantize", lo, hi, y.ty.elem.storage())?;
    let per_channel = m.len() > 1;
    if per_channel && (x.ty.rank() < 2 || x.ty.shape[1] != m.len() || s.len() != m.len()) {
        return Err(Error::msg(format!(
            "{} multipliers for {}: per-channel requantization runs along axis 1",
            m.len(),
            x.ty
        )));
    }
    let tables = if per_channel {
        Some((i32_table(em, "mult", &m)?, i32_table(em, "shift", &s)?))
    } else {
        None
    };
    let byte_in = matches!(x.ty.elem.storage(), DType::U8 | DType::I8);
    if !per_channel && byte_in && same_layout(&[x], y) && has_byte_lookup(target) {
        // A function of one byte code: its 256 results (the integer semantics' own
        // `Requant::apply`) through the lookup kernel.
        let rq = runtime::qops::Requant {
            multiplier: m.clone(),
            shift: s.clone(),
            zero_point: zy,
            lo,
            hi,
        };
        let (qmin, _) = qrange(x.ty.elem.storage());
        let table: Vec<i32> = (qmin..qmin + 256)
            .map(|c| rq.apply(0, c.wrapping_sub(zx)))
            .collect();
        return lut_codes(em, name, x, y, &table, target);
    }
    if !per_channel && in_lanes(&[x], y, zy) {
        let f = map_flat(
            em,
            name,
            &[x],
            y,
            Blocks::Vector(|k: &mut K, v: &[Value]| {
                // The input zero point may be any i32: the subtraction wraps, as in the
                // interpreter.
                let z = splat_i32(k, zx);
                let c = k.b.ins().isub(v[0], z);
                let r = multiply_x4(k, c, Pair::Const(m[0], s[0]), true);
                Ok(finish_x4(k, r, zy, lo, hi))
            }),
            |k, v| {
                let c = k.b.ins().iadd_imm_s(v[0], -i64::from(zx));
                let r = multiply(k, c, Pair::Const(m[0], s[0]));
                Ok(finish(k, r, zy, lo, hi))
            },
        )?;
        return Ok((f, 0));
    }
    let f = map(em, name, &[x], y, |k, v, idx| {
        let c = k.b.ins().iadd_imm_s(v[0], -i64::from(zx));
        let pair = match tables {
            None => Pair::Const(m[0], s[0]),
            Some((tm, ts)) => {
                let (mb, sb) = (k.table(tm), k.table(ts));
                let ma = k.at(mb, idx[1], 4, 0);
                let sa = k.at(sb, idx[1], 4, 0);
                let mv =
                    k.b.ins()
                        .load(types::I32, crate::backend::emit::mem(), ma, 0);
                let sv =
                    k.b.ins()
                        .load(types::I32, crate::backend::emit::mem(), sa, 0);
                Pair::Dyn(mv, sv)
            }
        };
        let r = multiply(k, c, pair);
        Ok(finish(k, r, zy, lo, hi))
    })?;
    Ok((f, if per_channel { m.len() * 8 } else { 0 }))
}

pub fn lut(em: &mut Emitter, name: &str, step: &Step, target: &Target) -> Result<(FuncId, usize)> {
    let (x, y) = (&step.args[0], &step.out);
    let table = ints(&step.op, "table")?;
    let yd = y.ty.elem.storage();
    let (qmin, qmax) = qrange(yd);
    if table.len() != 256 || table.iter().any(|v| !(qmin..=qmax).contains(v)) {
        return Err(Error::msg(format!(
            "lut: the table must hold 256 {yd} codes (it has {} entries)",
            table.len()
        )));
    }
    lut_codes(em, name, x, y, &table, target)
}

/// Whether [`micro::lut`] runs on `target`. Its byte moves, masks and blends are AVX512BW,
/// which every VBMI CPU has (and Cranelift, so the library's feature record, has no separate
/// name for).
fn has_byte_lookup(target: &Target) -> bool {
    target.has("avx512f") && target.has("avx512vbmi")
}

/// `y = table[x − qmin]` for byte codes `x` (`qmin` the least code of x's type): the VBMI
/// machine code over same-layout operands, else Cranelift byte loads.
fn lut_codes(
    em: &mut Emitter,
    name: &str,
    x: &Operand,
    y: &Operand,
    table: &[i32],
    target: &Target,
) -> Result<(FuncId, usize)> {
    let yd = y.ty.elem.storage();
    let bias = match x.ty.elem.storage() {
        DType::U8 => 0,
        DType::I8 => 128,
        other => return Err(Error::msg(format!("lut of {other} codes"))),
    };
    let id = em.data("lut", table.iter().map(|&v| v as u8).collect())?;
    let look = |k: &mut K, v: &[Value]| {
        let t = k.table(id);
        let i = k.b.ins().iadd_imm_s(v[0], bias);
        let i = k.b.ins().uextend(types::I64, i);
        let a = k.b.ins().iadd(t, i);
        Ok(load_code(k, yd, a))
    };
    if same_layout(&[x], y) && has_byte_lookup(target) {
        let by_byte: [u8; 256] =
            std::array::from_fn(|b| table[(b as u8 as i64 + bias) as usize % 256] as u8);
        let code = micro::lut::assemble(&by_byte)
            .map_err(|e| Error::msg(format!("assembling the lookup kernel: {e}")))?;
        let f = em.machine_code(&format!("{name}_micro"), &code, 3)?;
        return Ok((
            map_flat(em, name, &[x], y, Blocks::Micro::<Never>(f), look)?,
            256,
        ));
    }
    if same_layout(&[x], y) {
        return Ok((lut_flat(em, name, x, y, table, bias)?, 256));
    }
    let f = map(em, name, &[x], y, |k, v, _| look(k, v))?;
    Ok((f, 256))
}

/// [`lut`] over same-layout bytes: the table is stored in the order of the raw input bytes (an
/// i8 code `c` at byte `c as u8`), so each element is two byte loads and a store, 16 per
/// iteration with fixed offsets; no gather exists to do it in vectors.
fn lut_flat(
    em: &mut Emitter,
    name: &str,
    x: &Operand,
    y: &Operand,
    table: &[i32],
    bias: i64,
) -> Result<FuncId> {
    let by_byte: Vec<u8> = (0..256)
        .map(|b| table[(b as u8 as i64 + bias) as usize % 256] as u8)
        .collect();
    let id = em.data("lut", by_byte)?;
    let n = y.ty.numel();
    em.kernel(name, Linkage::Local, |k| {
        let (xb, yb) = (k.base(x.loc), k.base(y.loc));
        let t = k.table(id);
        let look = |k: &mut K, xa: Value, ya: Value, off: i32| {
            let c = k.b.ins().uload8(types::I64, mem(), xa, off);
            let a = k.b.ins().iadd(t, c);
            let v = k.b.ins().uload8(types::I32, mem(), a, 0);
            k.b.ins().istore8(mem(), v, ya, off);
        };
        let whole = (n / LANES * LANES) as i64;
        k.for_range(0, whole, LANES as i64, |k, i| {
            let (xa, ya) = (k.at(xb, i, 1, 0), k.at(yb, i, 1, 0));
            for off in 0..LANES as i32 {
                look(k, xa, ya, off);
            }
            Ok(())
        })?;
        k.for_range(whole, n as i64, 1, |k, i| {
            let (xa, ya) = (k.at(xb, i, 1, 0), k.at(yb, i, 1, 0));
            look(k, xa, ya, 0);
            Ok(())
        })
    })
}

pub fn qadd(em: &mut Emitter, name: &str, step: &Step, target: &Target) -> Result<(FuncId, usize)> {
    let (a, b, y) = (&step.args[0], &step.args[1], &step.out);
    let ((_, za), (_, zb), (_, zy)) = (
        zp_scale(&a.ty, "operand a")?,
        zp_scale(&b.ty, "operand b")?,
        zp_scale(&y.ty, "the result")?,
    );
    let op = &step.op;
    let (am, ash) = (int(op, "a_multiplier")?, int(op, "a_shift")?);
    let (bm, bsh) = (int(op, "b_multiplier")?, int(op, "b_shift")?);
    let (m, s) = (int(op, "multiplier")?, int(op, "shift")?);
    let (lo, hi) = (int(op, "lo")?, int(op, "hi")?);
    check_range("qadd", lo, hi, y.ty.elem.storage())?;
    // (code − z) << 20 fits: |code − z| ≤ 255.
    let scalar = |k: &mut K, v: &[Value]| {
        let da = k.b.ins().iadd_imm_s(v[0], -i64::from(za));
        let da = k.b.ins().ishl_imm_s(da, i64::from(ADD_LEFT_SHIFT));
        let ra = multiply(k, da, Pair::Const(am, ash));
        let db = k.b.ins().iadd_imm_s(v[1], -i64::from(zb));
        let db = k.b.ins().ishl_imm_s(db, i64::from(ADD_LEFT_SHIFT));
        let rb = multiply(k, db, Pair::Const(bm, bsh));
        let sum = k.b.ins().iadd(ra, rb);
        let r = multiply(k, sum, Pair::Const(m, s));
        Ok(finish(k, r, zy, lo, hi))
    };
    let vector = |k: &mut K, v: &[Value]| {
        // (code − z)·2²⁰ rescaled in i32 lanes: |code − z| ≤ 255, and the verifier holds
        // the shifts ≤ 0 (`runtime::qops::input_problem`); the general form stays for any
        // other.
        let scaled = |k: &mut K, x: Value, z: i32, m: i32, s: i32| {
            let z = splat_i32(k, z);
            let d = k.b.ins().isub(x, z);
            if s <= 0 && m >= 0 {
                multiply_small_x4(k, d, ADD_LEFT_SHIFT, m, s)
            } else {
                let d = k.b.ins().ishl_imm_s(d, i64::from(ADD_LEFT_SHIFT));
                multiply_x4(k, d, Pair::Const(m, s), true)
            }
        };
        let ra = scaled(k, v[0], za, am, ash);
        let rb = scaled(k, v[1], zb, bm, bsh);
        let sum = k.b.ins().iadd(ra, rb);
        let r = multiply_x4(k, sum, Pair::Const(m, s), true);
        Ok(finish_x4(k, r, zy, lo, hi))
    };
    let shape = AddShape {
        signed: [a, b, y].map(|o| o.ty.elem.storage() == DType::I8),
        za,
        zb,
        ra: (am, ash),
        rb: (bm, bsh),
        rs: (m, s),
        zy,
        lo,
        hi,
    };
    let bytes = [a, b]
        .iter()
        .all(|o| matches!(o.ty.elem.storage(), DType::U8 | DType::I8));
    let f = if in_lanes(&[a, b], y, zy) && bytes && target.has("avx512f") && shape.fits() {
        let code = micro::add::assemble(&shape)
            .map_err(|e| Error::msg(format!("assembling the qadd kernel {shape:?}: {e}")))?;
        let f = em.machine_code(&format!("{name}_micro"), &code, 4)?;
        map_flat(em, name, &[a, b], y, Blocks::Micro::<Never>(f), scalar)?
    } else if in_lanes(&[a, b], y, zy) {
        map_flat(em, name, &[a, b], y, Blocks::Vector(vector), scalar)?
    } else if let Some(f) = in_codes(&[a, b], y, zy)
        .then(|| map_runs(em, name, &[a, b], y, vector, scalar))
        .transpose()?
        .flatten()
    {
        f
    } else {
        map(em, name, &[a, b], y, |k, v, _| scalar(k, v))?
    };
    Ok((f, 0))
}

pub fn qmul(em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
    let (a, b, y) = (&step.args[0], &step.args[1], &step.out);
    let ((_, za), (_, zb), (_, zy)) = (
        zp_scale(&a.ty, "operand a")?,
        zp_scale(&b.ty, "operand b")?,
        zp_scale(&y.ty, "the result")?,
    );
    let (m, s) = (ints(&step.op, "multiplier")?, ints(&step.op, "shift")?);
    let (lo, hi) = (int(&step.op, "lo")?, int(&step.op, "hi")?);
    check_range("qmul", lo, hi, y.ty.elem.storage())?;
    let pair = Pair::Const(m[0], s[0]);
    let scalar = |k: &mut K, v: &[Value]| {
        let da = k.b.ins().iadd_imm_s(v[0], -i64::from(za));
        let db = k.b.ins().iadd_imm_s(v[1], -i64::from(zb));
        let p = k.b.ins().imul(da, db);
        let r = multiply(k, p, pair);
        Ok(finish(k, r, zy, lo, hi))
    };
    let vector = |k: &mut K, v: &[Value]| {
        let (za, zb) = (splat_i32(k, za), splat_i32(k, zb));
        let da = k.b.ins().isub(v[0], za);
        let db = k.b.ins().isub(v[1], zb);
        let p = k.b.ins().imul(da, db);
        let r = multiply_x4(k, p, pair, true);
        Ok(finish_x4(k, r, zy, lo, hi))
    };
    let f = if in_lanes(&[a, b], y, zy) {
        map_flat(em, name, &[a, b], y, Blocks::Vector(vector), scalar)?
    } else if let Some(f) = in_codes(&[a, b], y, zy)
        .then(|| map_runs(em, name, &[a, b], y, vector, scalar))
        .transpose()?
        .flatten()
    {
        f
    } else {
        map(em, name, &[a, b], y, |k, v, _| scalar(k, v))?
    };
    Ok((f, 0))
}
