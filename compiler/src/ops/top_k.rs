//! `top_k {axis, k, largest}`: the i64 indices of each lane's `k` best elements, best first,
//! equal elements in index order (`runtime::ops::top_k_indices` defines the order: NaN above
//! every number, -0 level with +0). ONNX TopK imports as this op and a `gather_elements` of
//! the values at those indices, so the values need no code of their own and keep their type.

use super::OpFamily;
use crate::backend::emit::{mem, Emitter, K};
use crate::backend::layout::{address, elem_size, memory_order, split_each, strides};
use crate::backend::Step;
use crate::diag::{Error, Result};
use crate::export::graph::{self, Graph};
use crate::import::context::{Importer, Val};
use crate::import::node::OnnxNode;
use crate::ir::attr::{Attr, AttrKind, Attrs};
use crate::ir::op::{AttrSpec, Op, OpKind, OperandSpec};
use crate::ir::types::{ElemType, TensorType};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, BlockArg, InstBuilder, MemFlagsData, Value};
use cranelift_module::{FuncId, Linkage};
use runtime::ops::top_k_indices;
use runtime::{DType, Tensor};

pub struct TopK;

/// `(axis, k, largest)`, the axis checked against the data's rank and `k` against its length.
fn params(op: &Op, x: &TensorType) -> std::result::Result<(usize, usize, bool), String> {
    let axis = op.int_of("axis")?;
    let a = usize::try_from(axis)
        .ok()
        .filter(|&a| a < x.rank())
        .ok_or_else(|| format!("axis {axis} is out of range for {x}"))?;
    let k = op.int_of("k")?;
    let len = x.shape[a];
    let k = usize::try_from(k)
        .ok()
        .filter(|&k| (1..=len).contains(&k))
        .ok_or_else(|| format!("k = {k} must be in 1..={len}, the length of axis {a} of {x}"))?;
    Ok((a, k, op.bool_of("largest")?))
}

impl OpFamily for TopK {
    fn name(&self) -> &'static str {
        "top_k"
    }
    fn operands(&self) -> OperandSpec {
        OperandSpec {
            names: &["x"],
            optional: 0,
            variadic: false,
        }
    }
    fn attrs(&self) -> &'static [AttrSpec] {
        &[
            AttrSpec {
                name: "axis",
                kind: AttrKind::Int,
                default: None,
                required: true,
                doc: "the axis ranked along (non-negative)",
            },
            AttrSpec {
                name: "k",
                kind: AttrKind::Int,
                default: None,
                required: true,
                doc: "how many indices each lane keeps, 1 to the axis length",
            },
            AttrSpec {
                name: "largest",
                kind: AttrKind::Bool,
                default: Some(|| Attr::Bool(true)),
                required: false,
                doc: "the largest first (true) or the smallest first (false)",
            },
        ]
    }
    fn doc(&self) -> &'static str {
        "the i64 indices of the k largest (smallest) elements along an axis, best first (ONNX TopK)"
    }

    fn infer(&self, op: &Op, operands: &[&TensorType]) -> std::result::Result<TensorType, String> {
        let x = operands[0];
        if x.elem.quant().is_some() {
            return Err(format!(
                "operand `x` must hold plain values, got {x}; rank codes after a dequantize"
            ));
        }
        let (a, k, _) = params(op, x)?;
        let mut shape = x.shape.clone();
        shape[a] = k;
        Ok(TensorType::new(shape, ElemType::from_storage(DType::I64)))
    }

    fn eval(&self, op: &Op, args: &[&Tensor]) -> std::result::Result<Tensor, String> {
        let axis = usize::try_from(op.int_of("axis")?).map_err(|e| e.to_string())?;
        let k = usize::try_from(op.int_of("k")?).map_err(|e| e.to_string())?;
        top_k_indices(args[0], axis, k, op.bool_of("largest")?).map(Tensor::I64)
    }

    fn onnx_ops(&self) -> &'static [&'static str] {
        &["TopK"]
    }
    /// TopK's `k` is an attribute before opset 10 and a one-element input after; qcc needs it
    /// constant (it fixes the result's shape). `sorted = 0` leaves the order to the
    /// implementation, and best-first is one such order.
    fn import(&self, cx: &mut Importer, n: &OnnxNode) -> Result<()> {
        let x = cx.operand(n, 0, "the input")?;
        let xt = cx.ty(x).clone();
        let axis = n.axis(n.int_or("axis", -1)?, xt.rank(), "axis")?;
        let k = if n.opset < 10 {
            n.int("k")?.ok_or_else(|| n.fail("has no `k`"))?
        } else {
            match cx.constant_ints(n, 1, "k")? {
                Some(v) if v.len() == 1 => v[0],
                Some(v) => {
                    return Err(n.fail(format!(
                        "has {} values for `k`; it takes one count",
                        v.len()
                    )))
                }
                None => return Err(n.fail("lacks its input 1 (k)")),
            }
        };
        let len = xt.shape[axis];
        if k < 1 || k > len as i64 {
            return Err(n.fail(format!(
                "keeps k = {k} of axis {axis} (length {len}); qcc needs 1 ≤ k ≤ {len} (k = 0 \
                 would make an empty tensor, which the IR does not hold)"
            )));
        }
        let largest = n.int_or("largest", 1)? != 0;
        n.int("sorted")?;
        let values = n.output_name(0);
        let indices_name = match (n.output_name(1), values) {
            (Some(i), _) => i.to_string(),
            (None, Some(v)) => format!("{v}.indices"),
            (None, None) => return Err(n.fail("has no output")),
        };
        let a: Attrs = [
            ("axis".to_string(), Attr::Int(axis as i64)),
            ("k".to_string(), Attr::Int(k)),
            ("largest".to_string(), Attr::Bool(largest)),
        ]
        .into_iter()
        .collect();
        let idx = cx.emit(n, &indices_name, super::kind(self.name()), a, &[x])?;
        if n.output_name(1).is_some() {
            cx.define(&indices_name, Val::Node(idx));
        }
        if let Some(v) = values {
            let a: Attrs = [("axis".to_string(), Attr::Int(axis as i64))]
                .into_iter()
                .collect();
            let id = cx.emit(n, v, OpKind::GatherElements, a, &[x, idx])?;
            cx.define(v, Val::Node(id));
        }
        Ok(())
    }
    fn export(
        &self,
        g: &mut Graph,
        op: &Op,
        mut inputs: Vec<String>,
        out: String,
    ) -> std::result::Result<(), String> {
        let k = g.ints(&format!("{out}.k"), &[op.int_of("k")?]);
        inputs.push(k);
        let attrs = vec![
            graph::int("axis", op.int_of("axis")?),
            graph::int("largest", i64::from(op.bool_of("largest")?)),
        ];
        g.node("TopK", inputs, vec![format!("{out}.values"), out], attrs);
        Ok(())
    }

    /// Each lane keeps its best `k` so far in the result itself, best first: an element that
    /// beats the last kept one is inserted, shifting the worse ones down. On random data few
    /// elements are inserted, so the cost is close to one pass over the lane. What is kept is
    /// an *entry* whose signed i64 order is the ranking order with ties broken by index: for
    /// keys of 32 bits (every type but i64) the key in the high half and `u32::MAX − index` in
    /// the low half (the index with its 32 bits flipped), so entries compare without reading `x` and a final pass turns them into
    /// indices; for i64 the index itself, compared through its element's key (an element
    /// level with a kept one never passes it, since it comes later).
    fn kernel(&self, em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
        let (x, y) = (&step.args[0], &step.out);
        let d = x.ty.elem.storage();
        if !matches!(
            d,
            DType::F32 | DType::I64 | DType::I32 | DType::I8 | DType::U8
        ) || x.ty.elem.quant().is_some()
            || y.ty.elem.storage() != DType::I64
        {
            return Err(Error::msg(format!(
                "top_k of {} into {} has no kernel (plain f32, i64, i32, i8 or u8 in, i64 out)",
                x.ty, y.ty
            )));
        }
        let (a, kk, largest) = params(&step.op, &x.ty).map_err(Error::msg)?;
        let len = x.ty.shape[a] as i64;
        if len > i64::from(u32::MAX) {
            return Err(Error::msg(format!(
                "top_k along an axis of {len} elements has no kernel (at most 2^32 − 1)"
            )));
        }
        let packed = d != DType::I64;
        let esz = elem_size(d);
        let (xs, ys) = (strides(&x.ty), strides(&y.ty));
        let (xa, ya) = (xs[a] * esz, ys[a] * 8);
        let mut lanes = x.ty.shape.clone();
        lanes[a] = 1;
        let f = em.kernel(name, Linkage::Local, |k| {
            let (xb, yb) = (k.base(x.loc), k.base(y.loc));
            split_each(k, &lanes, &memory_order(&x.ty), &mut |k, idx| {
                let xl = address(k, xb, idx, &xs, esz);
                let yl = address(k, yb, idx, &ys, 8);
                // The kept entries form a heap in the result, worst at the root: an element
                // gets in only by beating the root, and each entry costs log k moves, where
                // insertion into a sorted list shifts up to k (k = 300 of 8400: 0.17 ms).
                let better = |k: &mut K, a: Value, b: Value| -> Value {
                    if packed {
                        // Key and flipped index in one word: distinct, ties settled by index.
                        return k.b.ins().icmp(IntCC::SignedGreaterThan, a, b);
                    }
                    let (ra, rb) = {
                        let at = k.at(xl, a, xa, 0);
                        let ra = key(k, d, at, largest);
                        let at = k.at(xl, b, xa, 0);
                        (ra, key(k, d, at, largest))
                    };
                    let gt = k.b.ins().icmp(IntCC::SignedGreaterThan, ra, rb);
                    let eq = k.b.ins().icmp(IntCC::Equal, ra, rb);
                    let first = k.b.ins().icmp(IntCC::SignedLessThan, a, b);
                    let tie = k.b.ins().band(eq, first);
                    k.b.ins().bor(gt, tie)
                };
                let entry_of = |k: &mut K, i: Value| -> Value {
                    if packed {
                        let at = k.at(xl, i, xa, 0);
                        let ke = key(k, d, at, largest);
                        let high = k.b.ins().ishl_imm_s(ke, 32);
                        let low = k.b.ins().bxor_imm_s(i, i64::from(u32::MAX));
                        k.b.ins().bor(high, low)
                    } else {
                        i
                    }
                };
                // Moves the entry at `start` down the heap of the first `n` places until both
                // children are better than it.
                let sift = |k: &mut K, start: Value, n: Value| -> Result<()> {
                    let (head, body, swap, out) = (
                        k.b.create_block(),
                        k.b.create_block(),
                        k.b.create_block(),
                        k.b.create_block(),
                    );
                    let pos = k.b.append_block_param(head, types::I64);
                    k.b.ins().jump(head, &[BlockArg::Value(start)]);
                    k.b.switch_to_block(head);
                    let twice = k.b.ins().ishl_imm_s(pos, 1);
                    let l = k.b.ins().iadd_imm_s(twice, 1);
                    let leaf = k.b.ins().icmp(IntCC::SignedGreaterThanOrEqual, l, n);
                    k.b.ins().brif(leaf, out, &[], body, &[]);
                    k.b.switch_to_block(body);
                    let r = k.b.ins().iadd_imm_s(l, 1);
                    let l_at = k.at(yl, l, ya, 0);
                    let el = k.b.ins().load(types::I64, mem(), l_at, 0);
                    let has_r = k.b.ins().icmp(IntCC::SignedLessThan, r, n);
                    let r_in = k.b.ins().select(has_r, r, l);
                    let r_at = k.at(yl, r_in, ya, 0);
                    let er = k.b.ins().load(types::I64, mem(), r_at, 0);
                    // The worse child: a missing right child is the left one again.
                    let l_better = better(k, el, er);
                    let c = k.b.ins().select(l_better, r_in, l);
                    let ec = k.b.ins().select(l_better, er, el);
                    let p_at = k.at(yl, pos, ya, 0);
                    let ep = k.b.ins().load(types::I64, mem(), p_at, 0);
                    let down = better(k, ep, ec);
                    k.b.ins().brif(down, swap, &[], out, &[]);
                    k.b.switch_to_block(swap);
                    let c_at = k.at(yl, c, ya, 0);
                    k.b.ins().store(mem(), ec, p_at, 0);
                    k.b.ins().store(mem(), ep, c_at, 0);
                    k.b.ins().jump(head, &[BlockArg::Value(c)]);
                    k.b.switch_to_block(out);
                    Ok(())
                };
                let kept = k.i64(kk as i64);
                // The first k elements, then heap order from the last parent up.
                k.for_range(0, kk as i64, 1, |k, i| {
                    let e = entry_of(k, i);
                    let at = k.at(yl, i, ya, 0);
                    k.b.ins().store(mem(), e, at, 0);
                    Ok(())
                })?;
                k.for_range(0, kk as i64 / 2, 1, |k, j| {
                    let last_parent = k.i64(kk as i64 / 2 - 1);
                    let s = k.b.ins().isub(last_parent, j);
                    sift(k, s, kept)
                })?;
                // The root, the bar to enter, kept in a register between entries.
                let first = k.b.ins().load(types::I64, mem(), yl, 0);
                let bar = k.var(types::I64, first);
                k.for_range(kk as i64, len, 1, |k, i| {
                    let e = entry_of(k, i);
                    let root = k.b.use_var(bar);
                    let enters = better(k, e, root);
                    k.if_then(enters, |k| {
                        k.b.ins().store(mem(), e, yl, 0);
                        let zero = k.i64(0);
                        sift(k, zero, kept)?;
                        let root = k.b.ins().load(types::I64, mem(), yl, 0);
                        k.b.def_var(bar, root);
                        Ok(())
                    })
                })?;
                // Heap sort: the worst entry goes last, the heap shrinks, until best-first.
                k.for_range(1, kk as i64, 1, |k, j| {
                    let count = k.i64(kk as i64);
                    let end = k.b.ins().isub(count, j);
                    let root_at = yl;
                    let end_at = k.at(yl, end, ya, 0);
                    let root = k.b.ins().load(types::I64, mem(), root_at, 0);
                    let last = k.b.ins().load(types::I64, mem(), end_at, 0);
                    k.b.ins().store(mem(), last, root_at, 0);
                    k.b.ins().store(mem(), root, end_at, 0);
                    let zero = k.i64(0);
                    sift(k, zero, end)
                })?;
                if packed {
                    // Entries back to indices: the low half holds u32::MAX − index, the index flipped.
                    k.for_range(0, kk as i64, 1, |k, j| {
                        let at = k.at(yl, j, ya, 0);
                        let e = k.b.ins().load(types::I64, mem(), at, 0);
                        let low = k.b.ins().band_imm_s(e, i64::from(u32::MAX));
                        let i = k.b.ins().bxor_imm_s(low, i64::from(u32::MAX));
                        k.b.ins().store(mem(), i, at, 0);
                        Ok(())
                    })?;
                }
                Ok(())
            })
        })?;
        Ok((f, 0))
    }
    fn has_kernel(&self) -> bool {
        true
    }
}

/// An i64 whose signed order is TopK's ranking of the element at `at` (reversed when the
/// smallest are wanted, so the kernel always keeps the greatest keys). For f32: `x + 0` turns
/// -0 into +0; the bits of a negative number, its magnitude bits flipped, order below the
/// positives' bits as the values do; NaN takes the greatest key.
fn key(k: &mut K, d: DType, at: Value, largest: bool) -> Value {
    let v = match d {
        DType::F32 => {
            let x = k.b.ins().load(types::F32, mem(), at, 0);
            let z = k.b.ins().f32const(0.0);
            let x = k.b.ins().fadd(x, z);
            let nan = k.b.ins().fcmp(FloatCC::Unordered, x, x);
            let bits = k.b.ins().bitcast(types::I32, MemFlagsData::new(), x);
            let sign = k.b.ins().sshr_imm_s(bits, 31);
            let flip = k.b.ins().band_imm_s(sign, 0x7fff_ffff);
            let ordered = k.b.ins().bxor(bits, flip);
            let top = k.i32(i32::MAX);
            let v = k.b.ins().select(nan, top, ordered);
            k.b.ins().sextend(types::I64, v)
        }
        DType::I64 => k.b.ins().load(types::I64, mem(), at, 0),
        DType::I32 => k.b.ins().sload32(mem(), at, 0),
        DType::I8 => k.b.ins().sload8(types::I64, mem(), at, 0),
        _ => k.b.ins().uload8(types::I64, mem(), at, 0),
    };
    if largest {
        v
    } else {
        k.b.ins().bnot(v)
    }
}
