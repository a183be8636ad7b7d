//! Add, Sub, Mul, Div and Mod on tensors of any numeric type other than f32 (whose fast kernels
//! are `binary.rs`), with numpy broadcasting and ONNX Runtime's semantics per type: integers wrap
//! on overflow and divide toward zero (C), f16 computes in f32 and rounds once per element,
//! f64 natively. An integer division or modulo by zero is an error, not a trap.

use super::binary::broadcast_shapes;
use crate::element::Elem;
use crate::{tensor_each, DType, Tensor};
use ndarray::{ArrayD, IxDyn};

/// One of the arithmetic ops of this file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    /// ONNX Mod with `fmod = 0`: the remainder takes the divisor's sign (Python's `%`); integers
    /// only.
    Mod,
    /// ONNX Mod with `fmod = 1`: C's `fmod`, the remainder takes the dividend's sign.
    Fmod,
}

/// `f(a, b)` elementwise over the broadcast shape.
pub fn zip_broadcast<A: Copy, B: Copy, C>(
    a: &ArrayD<A>,
    b: &ArrayD<B>,
    f: impl Fn(A, B) -> Result<C, String>,
) -> Result<ArrayD<C>, String> {
    let shape = broadcast_shapes(a.shape(), b.shape()).ok_or_else(|| {
        format!(
            "shapes {:?} and {:?} do not broadcast",
            a.shape(),
            b.shape()
        )
    })?;
    let x = a.broadcast(IxDyn(&shape)).expect("broadcast shape");
    let y = b.broadcast(IxDyn(&shape)).expect("broadcast shape");
    let v: Result<Vec<C>, String> = x.iter().zip(y.iter()).map(|(&p, &q)| f(p, q)).collect();
    Ok(ArrayD::from_shape_vec(IxDyn(&shape), v?).expect("one value per element"))
}

/// Integer arithmetic through i128, which holds every product of two 64-bit values, then
/// wrapped back to the type: the result C's two's complement arithmetic gives.
fn int_op<T: Elem>(op: ArithOp, p: T, q: T) -> Result<T, String> {
    let (x, y) = (p.to_i128(), q.to_i128());
    let v = match op {
        ArithOp::Add => x + y,
        ArithOp::Sub => x - y,
        ArithOp::Mul => x.wrapping_mul(y),
        _ if y == 0 => return Err("integer division by zero".into()),
        // i128 division truncates toward zero, as C does.
        ArithOp::Div => x / y,
        ArithOp::Fmod => x % y,
        ArithOp::Mod => {
            let r = x % y;
            if r != 0 && (r < 0) != (y < 0) {
                r + y
            } else {
                r
            }
        }
    };
    Ok(T::from_i128(v))
}

fn float_op(op: ArithOp, x: f64, y: f64) -> Result<f64, String> {
    Ok(match op {
        ArithOp::Add => x + y,
        ArithOp::Sub => x - y,
        ArithOp::Mul => x * y,
        ArithOp::Div => x / y,
        ArithOp::Fmod => x % y,
        ArithOp::Mod => return Err("Mod on floats needs fmod = 1".into()),
    })
}

fn arith_typed<T: Elem>(a: &ArrayD<T>, b: &ArrayD<T>, op: ArithOp) -> Result<Tensor, String> {
    let out = match T::DTYPE {
        // f16 computes in f32. Taking the f32 operation through f64 gives the same bits: f64 has
        // more than 2·24 + 2 significand bits, so +, −, ×, ÷ of f32 values rounded to f64 and
        // then to f32 are correctly rounded f32 results (fmod is exact in both).
        DType::F16 | DType::F32 => zip_broadcast(a, b, |p, q| {
            float_op(op, p.to_f64(), q.to_f64()).map(|v| T::from_f64(v as f32 as f64))
        })?,
        DType::F64 => zip_broadcast(a, b, |p, q| {
            float_op(op, p.to_f64(), q.to_f64()).map(T::from_f64)
        })?,
        DType::Bool => return Err("arithmetic on bool".into()),
        _ => zip_broadcast(a, b, |p, q| int_op(op, p, q))?,
    };
    Ok(T::wrap(out))
}

/// `a op b` for two tensors of the same numeric type.
pub fn arith(a: &Tensor, b: &Tensor, op: ArithOp) -> Result<Tensor, String> {
    if a.dtype() != b.dtype() {
        return Err(format!(
            "operands of different element types ({} and {})",
            a.dtype(),
            b.dtype()
        ));
    }
    tensor_each!(a, x => arith_typed(x, Elem::view(b).expect("same type"), op))
}
