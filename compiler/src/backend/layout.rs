//! How tensors are laid out in memory inside a library, and loops over them. Four-dimensional
//! quantized activations are channels-last (NHWC: a pixel's channels are contiguous, the axis
//! every dot product runs along); everything else, and every f32 tensor at the boundary, is
//! row-major as in the IR.

use crate::backend::emit::K;
use crate::diag::Result;
use crate::ir::types::TensorType;
use cranelift_codegen::ir::{InstBuilder, Value};
use runtime::DType;

/// Whether a value of this type is stored channels-last.
pub fn is_nhwc(ty: &TensorType) -> bool {
    ty.rank() == 4 && ty.elem.storage() != DType::F32
}

/// Element strides of each logical axis (the IR's axis order) for a value of `ty`.
pub fn strides(ty: &TensorType) -> Vec<i64> {
    strides_of(&ty.shape, is_nhwc(ty))
}

pub fn strides_of(shape: &[usize], nhwc: bool) -> Vec<i64> {
    if nhwc {
        let (c, h, w) = (shape[1] as i64, shape[2] as i64, shape[3] as i64);
        vec![h * w * c, 1, w * c, c]
    } else {
        let mut s = vec![1i64; shape.len()];
        for d in (0..shape.len().saturating_sub(1)).rev() {
            s[d] = s[d + 1] * shape[d + 1] as i64;
        }
        s
    }
}

/// Logical axes from the outermost to the innermost in memory.
pub fn memory_order(ty: &TensorType) -> Vec<usize> {
    if is_nhwc(ty) {
        vec![0, 2, 3, 1]
    } else {
        (0..ty.rank()).collect()
    }
}

/// The strides an operand of shape `op_shape` is read with while iterating over `shape`
/// (numpy broadcasting: axes aligned on the right, size-1 axes repeat).
pub fn broadcast_strides(op_shape: &[usize], op_strides: &[i64], shape: &[usize]) -> Vec<i64> {
    let lead = shape.len() - op_shape.len();
    (0..shape.len())
        .map(|d| {
            if d < lead {
                0
            } else {
                let od = d - lead;
                if op_shape[od] == 1 && shape[d] != 1 {
                    0
                } else {
                    op_strides[od]
                }
            }
        })
        .collect()
}

/// Whether an operand of `op_shape` broadcasts to `shape` (numpy: aligned on the right, each
/// size equal or 1).
pub fn broadcasts_to(op_shape: &[usize], shape: &[usize]) -> bool {
    op_shape.len() <= shape.len()
        && op_shape
            .iter()
            .rev()
            .zip(shape.iter().rev())
            .all(|(&p, &q)| p == q || p == 1)
}

/// Runs `body(index)` for every index of `shape`, loops nested in `order` (outermost first);
/// `index[d]` is the i64 coordinate along logical axis `d`.
pub fn for_each(
    k: &mut K,
    shape: &[usize],
    order: &[usize],
    body: &mut dyn FnMut(&mut K, &[Value]) -> Result<()>,
) -> Result<()> {
    let mut index: Vec<Option<Value>> = vec![None; shape.len()];
    nest(k, shape, order, &mut index, body)
}

fn nest(
    k: &mut K,
    shape: &[usize],
    order: &[usize],
    index: &mut Vec<Option<Value>>,
    body: &mut dyn FnMut(&mut K, &[Value]) -> Result<()>,
) -> Result<()> {
    match order.split_first() {
        None => {
            let idx: Vec<Value> = index
                .iter()
                .map(|v| v.expect("every axis looped"))
                .collect();
            body(k, &idx)
        }
        Some((&d, rest)) => k.for_range(0, shape[d] as i64, 1, |k, i| {
            index[d] = Some(i);
            nest(k, shape, rest, index, body)
        }),
    }
}

/// `base + Σ index[d]·strides[d]·elem` (zero strides cost nothing).
pub fn address(k: &mut K, base: Value, index: &[Value], strides: &[i64], elem: i64) -> Value {
    let mut a = base;
    for (&i, &s) in index.iter().zip(strides) {
        if s != 0 {
            a = k.at(a, i, s * elem, 0);
        }
    }
    a
}

/// Bytes per element of a storage type.
pub fn elem_size(d: DType) -> i64 {
    d.size_bytes() as i64
}

/// [`for_each`] split into work units for threads ([`K::for_units`]): the outermost axes in
/// `order`, as many as make at least 16 iterations, are one flat unit index (each unit is then
/// whole inner loops, written by no other unit); the unit's coordinates come from one division
/// per axis. Its users (the index, mask and elementwise kernels) write each result element once, from
/// operands no unit writes, so any partition gives the same bytes.
pub fn split_each(
    k: &mut K,
    shape: &[usize],
    order: &[usize],
    body: &mut dyn FnMut(&mut K, &[Value]) -> Result<()>,
) -> Result<()> {
    if shape.contains(&0) {
        return Ok(());
    }
    let (mut lead, mut units) = (0, 1usize);
    while lead < order.len() && units < 16 {
        units *= shape[order[lead]];
        lead += 1;
    }
    let outer = order[..lead].to_vec();
    // The inner loops run over the shape with the unit's axes pinned to size 1.
    let mut inner = shape.to_vec();
    for &a in &outer {
        inner[a] = 1;
    }
    k.for_units(units, |k, u| {
        let mut pinned: Vec<(usize, Value)> = Vec::with_capacity(outer.len());
        let mut rest = u;
        for &a in outer.iter().rev() {
            let n = shape[a] as i64;
            if n == 1 {
                continue;
            }
            let nv = k.i64(n);
            let q = k.b.ins().udiv(rest, nv);
            let qn = k.b.ins().imul(q, nv);
            pinned.push((a, k.b.ins().isub(rest, qn)));
            rest = q;
        }
        for_each(k, &inner, order, &mut |k, idx| {
            let mut idx = idx.to_vec();
            for &(a, v) in &pinned {
                idx[a] = v;
            }
            body(k, &idx)
        })
    })
}
