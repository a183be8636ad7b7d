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
            out.extend(xd[range].iter().map(|&v| {
                // `as` maps NaN to 0 and saturates ±∞, so the i64 sum below cannot overflow.
                let r = (v / scale).round_ties_even() as i64;
                narrow(r.saturating_add(zp.into()).clamp(lo, hi))
            }));
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

/// `(q − zero_point) as f32 · scale`, the difference taken exactly in integers.
pub fn dequantize(x: &Tensor, q: &QuantParams) -> ArrayD<f32> {
    let codes: Vec<i64> = match x {
        Tensor::I8(a) => a.as_standard_layout().iter().map(|&v| v.into()).collect(),
        Tensor::U8(a) => a.as_standard_layout().iter().map(|&v| v.into()).collect(),
        Tensor::I16(a) => a.as_standard_layout().iter().map(|&v| v.into()).collect(),
        Tensor::I32(a) => a.as_standard_layout().iter().map(|&v| v.into()).collect(),
        other => panic!(
            "dequantize: input {:?} must be i8, u8, i16 or i32, not {}",
            x.shape(),
            other.dtype()
        ),
    };
    let mut out = Vec::with_capacity(codes.len());
    for_each_slice("dequantize", x.shape(), q, |range, scale, zp| {
        out.extend(
            codes[range]
                .iter()
                .map(|&c| (c - i64::from(zp)) as f32 * scale),
        );
    });
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
