//! Single values between reals and codes: the range of each storage type, and quantize /
//! dequantize of one element exactly as `ops::quantize` / `ops::dequantize` compute them.

use crate::DType;

/// `[qmin, qmax]` of a storage type.
///
/// # Panics
/// For any type but `U8`, `I8`, `I16` and `I32`, which are no storage type of a quantized tensor.
pub fn qrange(dtype: DType) -> (i32, i32) {
    match dtype {
        DType::U8 => (0, 255),
        DType::I8 => (-128, 127),
        DType::I16 => (-32768, 32767),
        DType::I32 => (i32::MIN, i32::MAX),
        other => panic!("qrange: {other} is not a quantized storage type"),
    }
}

/// ONNX QuantizeLinear of one value: `clamp(round_half_even(x / scale) + zero_point, qmin, qmax)`,
/// the division in f32. NaN gives the zero point, ±∞ saturate.
pub fn quantize_value(x: f32, scale: f32, zero_point: i32, dtype: DType) -> i32 {
    let (lo, hi) = qrange(dtype);
    // `as` maps NaN to 0 and saturates ±∞, so the sum cannot overflow i64.
    let r = (x / scale).round_ties_even() as i64;
    r.saturating_add(zero_point.into())
        .clamp(lo.into(), hi.into()) as i32
}

/// ONNX DequantizeLinear of one code: `(q − zero_point)` exactly, then as f32 times `scale`.
pub fn dequantize_value(q: i32, scale: f32, zero_point: i32) -> f32 {
    (i64::from(q) - i64::from(zero_point)) as f32 * scale
}
