//! Affine quantization `r = scale·(q − zero_point)` (ONNX QuantizeLinear / DequantizeLinear),
//! per tensor or per slice along one axis.

use super::QuantParams;
use crate::{DType, Tensor};
use ndarray::{ArrayD, IxDyn};

/// `clamp(round_half_to_even(x / scale) + zero_point, type range)`, the division in f32 as ONNX
/// QuantizeLinear computes it. NaN quantizes to the zero point; ±∞ saturate.
pub fn quantize(x: &ArrayD<f32>, q: &QuantParams, dtype: DType) -> Tensor {
    let (lo, hi): (i64, i64) = match dtype {
        DType::I8 => (i8::MIN.into(), i8::MAX.into()),
        DType::U8 => (u8::MIN.into(), u8::MAX.into()),
        DType::I16 => (i16::MIN.into(), i16::MAX.into()),
        DType::I32 => (i32::MIN.into(), i32::MAX.into()),
        other => panic!("quantize: target type must be i8, u8, i16 or i32, not {other}"),
    };
    let x = x.as_standard_layout();
    let xd = x.as_slice().expect("standard layout");
    let shape = IxDyn(x.shape());
    // Each code is computed in i64, clamped to the target range, then narrowed (exactly),
    // straight into the result's element type: weights of millions of values are quantized here.
    fn codes<T>(
        xd: &[f32],
        shape: &[usize],
        q: &QuantParams,
        (lo, hi): (i64, i64),
        narrow: impl Fn(i64) -> T,
    ) -> Vec<T> {
        let mut out = Vec::with_capacity(xd.len());
        for_each_slice("quantize", shape, q, |range, scale, zp| {
            let zp = i64::from(zp);
            // Clamping `v / scale` to one step beyond the codes' range before rounding changes no
            // code (the bounds are integers, and rounding is monotone). Within ±2²², adding
            // 1.5·2²³ rounds to an integer, ties to even, and leaves it in the low bits of the
            // sum: a loop the compiler vectorizes, where `round_ties_even` is a libm call per
            // value on the baseline target (a tenth of compiling ResNet-18 went there).
            let (below, above) = (lo - zp - 1, hi - zp + 1);
            if -(1 << 22) <= below && above <= 1 << 22 {
                let (below, above) = (below as f32, above as f32);
                out.extend(xd[range].iter().map(|&v| {
                    let t = v / scale;
                    let t = if t.is_nan() {
                        0.0
                    } else {
                        t.clamp(below, above)
                    };
                    let r = (t + ROUNDER).to_bits() as i32 - ROUNDER.to_bits() as i32;
                    narrow((i64::from(r) + zp).clamp(lo, hi))
                }));
            } else {
                out.extend(xd[range].iter().map(|&v| {
                    // `as` maps NaN to 0 and saturates ±∞, so the i64 sum below cannot overflow.
                    let r = (v / scale).round_ties_even() as i64;
                    narrow(r.saturating_add(zp).clamp(lo, hi))
                }));
            }
        });
        out
    }
    let bounds = (lo, hi);
    let built = match dtype {
        DType::I8 => ArrayD::from_shape_vec(shape, codes(xd, x.shape(), q, bounds, |c| c as i8))
            .map(Tensor::I8),
        DType::U8 => ArrayD::from_shape_vec(shape, codes(xd, x.shape(), q, bounds, |c| c as u8))
            .map(Tensor::U8),
        DType::I16 => ArrayD::from_shape_vec(shape, codes(xd, x.shape(), q, bounds, |c| c as i16))
            .map(Tensor::I16),
        DType::I32 => ArrayD::from_shape_vec(shape, codes(xd, x.shape(), q, bounds, |c| c as i32))
            .map(Tensor::I32),
        _ => unreachable!("rejected above"),
    };
    built.expect("quantize: output size")
}

/// 1.5·2²³: for `|t| ≤ 2²²`, `t + ROUNDER` lies in [2²³, 2²⁴), where f32's step is 1, so the sum
/// is `t` rounded to an integer (ties to even, ROUNDER being even) plus ROUNDER.
const ROUNDER: f32 = 12_582_912.0;

/// `(q − zero_point) as f32 · scale`, the difference taken exactly in integers.
pub fn dequantize(x: &Tensor, q: &QuantParams) -> ArrayD<f32> {
    // Straight from the codes' slice, each run at its scale: weights of millions of codes are
    // dequantized here (bias correction, constant folding).
    fn values<T: Copy + Into<i64>>(a: &ArrayD<T>, q: &QuantParams) -> Vec<f32> {
        let a = a.as_standard_layout();
        let codes = a.as_slice().expect("standard layout");
        let mut out = Vec::with_capacity(codes.len());
        for_each_slice("dequantize", a.shape(), q, |range, scale, zp| {
            let zp = i64::from(zp);
            out.extend(codes[range].iter().map(|&c| (c.into() - zp) as f32 * scale));
        });
        out
    }
    let out = match x {
        Tensor::I8(a) => values(a, q),
        Tensor::U8(a) => values(a, q),
        Tensor::I16(a) => values(a, q),
        Tensor::I32(a) => values(a, q),
        other => panic!(
            "dequantize: input {:?} must be i8, u8, i16 or i32, not {}",
            x.shape(),
            other.dtype()
        ),
    };
    ArrayD::from_shape_vec(IxDyn(x.shape()), out).expect("dequantize: output size")
}

/// Calls `f(range, scale, zero_point)` for consecutive runs of the row-major elements of a
/// tensor of `shape` that share one quantization parameter pair, in order.
fn for_each_slice(
    op: &str,
    shape: &[usize],
    q: &QuantParams,
    mut f: impl FnMut(std::ops::Range<usize>, f32, i32),
) {
    assert_eq!(
        q.scales.len(),
        q.zero_points.len(),
        "{op}: {} scales but {} zero points",
        q.scales.len(),
        q.zero_points.len()
    );
    let total: usize = shape.iter().product();
    match q.axis {
        None => {
            assert_eq!(
                q.scales.len(),
                1,
                "{op}: per-tensor parameters need one scale, got {}",
                q.scales.len()
            );
            f(0..total, q.scales[0], q.zero_points[0]);
        }
        Some(axis) => {
            assert!(
                axis < shape.len(),
                "{op}: axis {axis} out of range for {shape:?}"
            );
            let channels = shape[axis];
            assert_eq!(
                q.scales.len(),
                channels,
                "{op}: {} scales for axis {axis} of {shape:?}",
                q.scales.len()
            );
            // Row-major: a run of `inner` elements shares one index along `axis`, and the index
            // cycles through the channels.
            let inner: usize = shape[axis + 1..].iter().product();
            let runs = total.checked_div(inner).unwrap_or(0);
            for run in 0..runs {
                let ch = run % channels;
                f(
                    run * inner..(run + 1) * inner,
                    q.scales[ch],
                    q.zero_points[ch],
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The formula of docs/ir.md, one value at a time with libm's rounding.
    fn by_formula(v: f32, scale: f32, zp: i32, (lo, hi): (i64, i64)) -> i64 {
        let r = (v / scale).round_ties_even() as i64;
        r.saturating_add(zp.into()).clamp(lo, hi)
    }

    fn value() -> impl Strategy<Value = f32> {
        prop_oneof![
            // Halves land on ties at scale 0.5 and 1.
            (-80_000i32..80_000).prop_map(|k| k as f32 / 2.0),
            any::<f32>(),
            Just(f32::NAN),
            Just(f32::INFINITY),
            Just(f32::NEG_INFINITY),
            // Around the 2²² edge of the fast path.
            (-8i32..8).prop_map(|k| (1 << 22) as f32 + k as f32 * 0.5),
        ]
    }

    proptest! {
        /// Every target type's codes are the formula's, on the fast path (small bounds) and
        /// off it (i32, or zero points far from the codes' range).
        #[test]
        fn codes_follow_the_formula(
            values in prop::collection::vec(value(), 1..64),
            scale in prop_oneof![Just(0.5f32), Just(1.0), 1e-6f32..1e3],
            zp in prop_oneof![-300i32..300, any::<i32>()],
            dtype in prop_oneof![Just(DType::I8), Just(DType::U8), Just(DType::I16), Just(DType::I32)],
        ) {
            let bounds: (i64, i64) = match dtype {
                DType::I8 => (-128, 127),
                DType::U8 => (0, 255),
                DType::I16 => (-32768, 32767),
                _ => (i32::MIN.into(), i32::MAX.into()),
            };
            let q = QuantParams { scales: vec![scale], zero_points: vec![zp], axis: None };
            let x = ArrayD::from_shape_vec(IxDyn(&[values.len()]), values.clone()).unwrap();
            let got: Vec<i64> = match quantize(&x, &q, dtype) {
                Tensor::I8(a) => a.iter().map(|&c| c.into()).collect(),
                Tensor::U8(a) => a.iter().map(|&c| c.into()).collect(),
                Tensor::I16(a) => a.iter().map(|&c| c.into()).collect(),
                Tensor::I32(a) => a.iter().map(|&c| c.into()).collect(),
                other => panic!("quantize made {other:?}"),
            };
            let want: Vec<i64> = values.iter().map(|&v| by_formula(v, scale, zp, bounds)).collect();
            prop_assert_eq!(got, want);
        }
    }
}
