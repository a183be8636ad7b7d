//! qmul: the elementwise product of two u8 tensors, as TFLite computes it: the centred codes
//! multiplied exactly, then requantized once by `S_a·S_b / S_y`.

use super::broadcast::zip_broadcast;
use super::params::QuantError;
use super::Requant;
use crate::DType;
use ndarray::ArrayD;

/// The parameters of [`qmul`]: the operands' zero points and the requantization by the real
/// multiplier `S_a·S_b / S_y` (per tensor).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MulParams {
    pub a_zero_point: i32,
    pub b_zero_point: i32,
    pub out: Requant,
}

impl MulParams {
    /// From the operands' and the result's `(scale, zero_point)` and the result's clamp; the real
    /// multiplier is `(S_a · S_b) / S_y` in f64.
    pub fn from_scales(
        a: (f32, i32),
        b: (f32, i32),
        y: (f32, i32),
        lo: i32,
        hi: i32,
    ) -> Result<MulParams, QuantError> {
        for s in [a.0, b.0, y.0] {
            if !(s.is_finite() && s > 0.0) {
                return Err(QuantError::BadScale(s));
            }
        }
        let m = f64::from(a.0) * f64::from(b.0) / f64::from(y.0);
        Ok(MulParams {
            a_zero_point: a.1,
            b_zero_point: b.1,
            out: Requant::from_real(&[m], y.1, lo, hi)?,
        })
    }
}

/// `y = clamp(Z_y + multiply_by_quantized_multiplier((a − Z_a)·(b − Z_b), M, shift), lo, hi)`,
/// elementwise with numpy broadcasting (the product is exact: at most 255² in magnitude).
pub fn qmul(a: &ArrayD<u8>, b: &ArrayD<u8>, p: &MulParams) -> ArrayD<u8> {
    for z in [p.a_zero_point, p.b_zero_point] {
        assert!(
            (0..=255).contains(&z),
            "qmul: input zero point {z} is outside the u8 range"
        );
    }
    p.out.check("qmul", 1, DType::U8);
    zip_broadcast("qmul", a, b, |x, y| {
        p.out.apply(0, (x - p.a_zero_point) * (y - p.b_zero_point))
    })
}
