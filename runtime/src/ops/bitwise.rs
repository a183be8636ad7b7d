//! Bitwise ops on integer tensors with numpy broadcasting: ONNX BitwiseAnd/Or/Xor/Not (any
//! integer type, two's complement) and BitShift (opset 28: any integer type; a right shift of a
//! signed value is arithmetic; a shift by a negative amount or by the type's width or more gives
//! what the sign fill alone gives, -1 for a right shift of a negative value and 0 otherwise,
//! where C leaves it undefined).

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
}

fn is_integer(t: &Tensor) -> bool {
    let d = t.dtype();
    !d.is_float() && d != crate::DType::Bool
}

/// `a op b` for two integer tensors of the same element type. Every integer value sits in an
/// i128 unchanged, its two's complement pattern with it (sign-extended), so and/or/xor and the
/// shifts there, wrapped back to the type (`from_i128` keeps the low bits), are the type's own
/// operations: a left shift loses the bits it moves past the type's width, a right shift of an
/// unsigned value (non-negative in the i128) fills with zeros, of a signed one with its sign.
pub fn bitwise(a: &Tensor, b: &Tensor, op: BitOp) -> Result<Tensor, String> {
    fn typed<T: Elem>(a: &ndarray::ArrayD<T>, b: &Tensor, op: BitOp) -> Result<Tensor, String> {
        let b = T::view(b).ok_or("operands of different element types")?;
        let bits = 8 * std::mem::size_of::<T>() as i128;
        let out = zip_broadcast(a, b, |p, q| {
            let (x, y) = (p.to_i128(), q.to_i128());
            // x < 2^64 and y < 64 here, so x << y stays inside the i128.
            let in_range = (0..bits).contains(&y);
            Ok(T::from_i128(match op {
                BitOp::And => x & y,
                BitOp::Or => x | y,
                BitOp::Xor => x ^ y,
                BitOp::ShiftLeft if in_range => x << y,
                BitOp::ShiftRight if in_range => x >> y,
                BitOp::ShiftLeft => 0,
                BitOp::ShiftRight => -i128::from(x < 0),
            }))
        })?;
        Ok(T::wrap(out))
    }
    if !is_integer(a) {
        return Err(format!("bitwise ops take integers, not {}", a.dtype()));
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
