//! requantize: codes of one quantization to codes of another (Q/DQ pairs with different
//! parameters, i32 accumulators to u8 or i8), per tensor or per channel along one axis.

use super::codes::qrange;
use super::Requant;
use crate::{DType, Tensor};
use ndarray::{ArrayD, IxDyn};

/// `y = clamp(Z_y + multiply_by_quantized_multiplier(x − Z_x, M₀[c], shift[c]), lo, hi)` with `c`
/// the element's index along `axis` (per channel) or 0 (per tensor, `axis` ignored), the real
/// multiplier being `S_x / S_y`. `x` is u8, i8 or i32 (`x − Z_x` modulo 2³² for i32, like every
/// accumulator); the result has storage type `out` (u8 or i8).
pub fn requantize(
    x: &Tensor,
    x_zero_point: i32,
    rq: &Requant,
    axis: Option<usize>,
    out: DType,
) -> Tensor {
    let shape = x.shape().to_vec();
    assert!(
        matches!(out, DType::U8 | DType::I8),
        "requantize: result type {out} must be u8 or i8"
    );
    let (qmin, qmax) = match x.dtype() {
        DType::F32 => panic!("requantize: input {shape:?} must be u8, i8 or i32, not f32"),
        dt => qrange(dt),
    };
    assert!(
        (qmin..=qmax).contains(&x_zero_point),
        "requantize: input zero point {x_zero_point} is outside the {} range",
        x.dtype()
    );
    let channels = match (rq.len(), axis) {
        (1, _) => 1,
        (_, Some(a)) => {
            assert!(
                a < shape.len(),
                "requantize: axis {a} out of range for {shape:?}"
            );
            shape[a]
        }
        (n, None) => panic!("requantize: {n} multipliers need an axis"),
    };
    rq.check("requantize", channels, out);
    // Row-major: runs of `inner` elements share a channel, and the channel cycles.
    let inner: usize = axis
        .filter(|_| channels > 1)
        .map_or(1, |a| shape[a + 1..].iter().product());
    let code =
        |i: usize, v: i32| rq.apply(i / inner.max(1) % channels, v.wrapping_sub(x_zero_point));
    let codes: Vec<i32> = match x {
        Tensor::U8(a) => a
            .as_standard_layout()
            .iter()
            .enumerate()
            .map(|(i, &v)| code(i, v.into()))
            .collect(),
        Tensor::I8(a) => a
            .as_standard_layout()
            .iter()
            .enumerate()
            .map(|(i, &v)| code(i, v.into()))
            .collect(),
        Tensor::I32(a) => a
            .as_standard_layout()
            .iter()
            .enumerate()
            .map(|(i, &v)| code(i, v))
            .collect(),
        _ => unreachable!("rejected above"),
    };
    // `check` put [lo, hi] inside the range of `out`: the narrowing casts are exact.
    let s = IxDyn(&shape);
    match out {
        DType::U8 => Tensor::U8(
            ArrayD::from_shape_vec(s, codes.into_iter().map(|c| c as u8).collect())
                .expect("requantize: output size"),
        ),
        _ => Tensor::I8(
            ArrayD::from_shape_vec(s, codes.into_iter().map(|c| c as i8).collect())
                .expect("requantize: output size"),
        ),
    }
}
