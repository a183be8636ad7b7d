//! Bitwise ops on integer tensors with numpy broadcasting: ONNX BitwiseAnd/Or/Xor/Not (any
//! integer type, two's complement) and BitShift (unsigned types; a shift by the type's width or
//! more gives 0, as ONNX Runtime computes it, rather than C's undefined behaviour).

use super::arith::zip_broadcast;
use crate::element::Elem;
use crate::{tensor_each, Tensor};

/// A bitwise op of two operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
    ShiftLeft,
    ShiftRight,
}

impl BitOp {
    /// The IR's name of each op (`bitwise {fn = …}`), `not` being the one-operand form.
    pub const ALL: [(&'static str, BitOp); 5] = [
        ("and", BitOp::And),
        ("or", BitOp::Or),
        ("xor", BitOp::Xor),
        ("shift_left", BitOp::ShiftLeft),
        ("shift_right", BitOp::ShiftRight),
    ];
    pub fn from_name(name: &str) -> Option<BitOp> {
        BitOp::ALL.iter().find(|(n, _)| *n == name).map(|&(_, b)| b)
    }
    /// Whether the op is defined on signed types too (ONNX BitShift takes unsigned ones only).
    pub fn takes_signed(self) -> bool {
        !matches!(self, BitOp::ShiftLeft | BitOp::ShiftRight)
    }
}

fn is_integer(t: &Tensor) -> bool {
    let d = t.dtype();
    !d.is_float() && d != crate::DType::Bool
}

/// `a op b` for two integer tensors of the same element type. Every integer value sits in an
/// i128 unchanged and its two's complement pattern with it, so and/or/xor there and wrapping
/// back to the type is the type's own operation.
pub fn bitwise(a: &Tensor, b: &Tensor, op: BitOp) -> Result<Tensor, String> {
    fn typed<T: Elem>(a: &ndarray::ArrayD<T>, b: &Tensor, op: BitOp) -> Result<Tensor, String> {
        let b = T::view(b).ok_or("operands of different element types")?;
        let bits = 8 * std::mem::size_of::<T>() as i128;
        // An unsigned value's bits are its low `bits` bits of the i128.
        let mask = (1i128 << bits) - 1;
        let out = zip_broadcast(a, b, |p, q| {
            let (x, y) = (p.to_i128(), q.to_i128());
            Ok(T::from_i128(match op {
                BitOp::And => x & y,
                BitOp::Or => x | y,
                BitOp::Xor => x ^ y,
                _ if y >= bits => 0,
                BitOp::ShiftLeft => (x << y) & mask,
                BitOp::ShiftRight => x >> y,
            }))
        })?;
        Ok(T::wrap(out))
    }
    if !is_integer(a) {
        return Err(format!("bitwise ops take integers, not {}", a.dtype()));
    }
    if !op.takes_signed() && a.dtype().is_signed_int() {
        return Err(format!("shifts take unsigned integers, not {}", a.dtype()));
    }
    tensor_each!(a, x => typed(x, b, op))
}

/// `!x` (every bit flipped) for an integer tensor.
pub fn bitwise_not(x: &Tensor) -> Result<Tensor, String> {
    fn typed<T: Elem>(a: &ndarray::ArrayD<T>) -> Tensor {
        T::wrap(a.mapv(|v| T::from_i128(!v.to_i128())))
    }
    if !is_integer(x) {
        return Err(format!("bitwise ops take integers, not {}", x.dtype()));
    }
    Ok(tensor_each!(x, a => typed(a)))
}
