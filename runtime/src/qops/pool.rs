//! Pooling on codes: max pooling compares codes (quantization is monotonic, so the maximum code is
//! the code of the maximum); average pooling sums centred codes exactly and requantizes the sum
//! once, the divisor folded into the multiplier.

use super::fixed::multiply_by_quantized_multiplier;
use super::params::QuantError;
use super::Requant;
use crate::ops::geometry::{axis_windows, AxisWindow};
use crate::ops::PoolParams;
use crate::{DType, Tensor};
use ndarray::{ArrayD, IxDyn};

/// The maximum code of each window over the taps inside the input (the window of ONNX MaxPool,
/// see `ops::max_pool`); a window that sees only padding gives the storage type's minimum, the
/// code `f32::MIN` quantizes to. `x` is u8 or i8 and the result keeps its type.
pub fn qmax_pool(x: &Tensor, p: &PoolParams) -> Tensor {
    match x {
        Tensor::U8(a) => Tensor::U8(max_codes(a, p, u8::MIN)),
        Tensor::I8(a) => Tensor::I8(max_codes(a, p, i8::MIN)),
        _ => panic!(
            "qmax_pool: input {:?} must be u8 or i8, not {}",
            x.shape(),
            x.dtype()
        ),
    }
}

fn max_codes<T: Copy + Ord>(x: &ArrayD<T>, p: &PoolParams, min: T) -> ArrayD<T> {
    pool("qmax_pool", x, p, |window| {
        window.taps().fold(min, Ord::max)
    })
}

/// `y = clamp(Z_y + multiply_by_quantized_multiplier(Σ (x − Z_x), M₀[count − 1], shift[count − 1]), lo, hi)`
/// per window, the sum over the window's taps inside the input (padding reads 0.0, code `Z_x`,
/// and adds nothing). `count` is what ONNX AveragePool divides by: the taps inside the input, or
/// with `count_include_pad` inside the explicitly padded input (never those `ceil_mode` adds
/// beyond it). `rq` has one pair per count `1..=kh·kw`, entry `c − 1` for the real multiplier
/// `S_x / (S_y · c)` ([`avg_pool_requant`]); a window with count 0 gives `clamp(Z_y, lo, hi)`.
pub fn qavg_pool(
    x: &ArrayD<u8>,
    x_zero_point: i32,
    p: &PoolParams,
    count_include_pad: bool,
    rq: &Requant,
) -> ArrayD<u8> {
    assert!(
        (0..=255).contains(&x_zero_point),
        "qavg_pool: input zero point {x_zero_point} is outside the u8 range"
    );
    if let Err(e) = rq.validate(DType::U8) {
        panic!("qavg_pool: {e}");
    }
    let window = p.kernel[0] * p.kernel[1];
    assert_eq!(
        rq.len(),
        window,
        "qavg_pool: {} multipliers for a {}×{} window (want one per count 1..={window})",
        rq.len(),
        p.kernel[0],
        p.kernel[1]
    );
    pool("qavg_pool", x, p, |w| {
        let count = if count_include_pad {
            w.padded
        } else {
            w.inside
        };
        if count == 0 {
            return rq.finish(0) as u8;
        }
        let sum: i32 = w.taps().map(|v| i32::from(v) - x_zero_point).sum();
        let (m, s) = rq.pair(count - 1);
        rq.finish(multiply_by_quantized_multiplier(sum, m, s)) as u8
    })
}

/// `y[n, c, 1, …] = clamp(Z_y + multiply_by_quantized_multiplier(Σ (x[n, c, …] − Z_x), M₀, shift), lo, hi)`,
/// the sum over every axis after the first two (modulo 2³², which only more than 8 421 504
/// positions could reach), `rq` the one pair for the real multiplier `S_x / (S_y · count)`
/// ([`global_avg_pool_requant`]).
pub fn qglobal_avg_pool(x: &ArrayD<u8>, x_zero_point: i32, rq: &Requant) -> ArrayD<u8> {
    let xs = x.shape();
    assert!(
        xs.len() >= 2,
        "qglobal_avg_pool: input {xs:?} needs at least 2 axes"
    );
    assert!(
        (0..=255).contains(&x_zero_point),
        "qglobal_avg_pool: input zero point {x_zero_point} is outside the u8 range"
    );
    rq.check("qglobal_avg_pool", 1, DType::U8);
    let spatial: usize = xs[2..].iter().product();
    let x = x.as_standard_layout();
    let xd = x.as_slice().expect("standard layout");
    let out: Vec<u8> = (0..xs[0] * xs[1])
        .map(|plane| {
            let sum = xd[plane * spatial..][..spatial]
                .iter()
                .fold(0i32, |s, &v| s.wrapping_add(i32::from(v) - x_zero_point));
            rq.apply(0, sum) as u8
        })
        .collect();
    let mut shape = xs.to_vec();
    shape[2..].iter_mut().for_each(|d| *d = 1);
    ArrayD::from_shape_vec(IxDyn(&shape), out).expect("qglobal_avg_pool: output size")
}

/// The [`qavg_pool`] requantization from input scale `S_x` to `(S_y, Z_y)` for a window of
/// `window` taps: entry `c − 1` is the real multiplier `S_x / (S_y · c)` (in f64).
pub fn avg_pool_requant(
    x_scale: f32,
    y_scale: f32,
    window: usize,
    zero_point: i32,
    lo: i32,
    hi: i32,
) -> Result<Requant, QuantError> {
    let reals: Vec<f64> = (1..=window)
        .map(|c| divided(x_scale, y_scale, c))
        .collect::<Result<_, _>>()?;
    Requant::from_real(&reals, zero_point, lo, hi)
}

/// The [`qglobal_avg_pool`] requantization: the real multiplier `S_x / (S_y · count)` (in f64),
/// `count` the number of positions averaged.
pub fn global_avg_pool_requant(
    x_scale: f32,
    y_scale: f32,
    count: usize,
    zero_point: i32,
    lo: i32,
    hi: i32,
) -> Result<Requant, QuantError> {
    Requant::from_real(
        &[divided(x_scale, y_scale, count.max(1))?],
        zero_point,
        lo,
        hi,
    )
}

fn divided(x_scale: f32, y_scale: f32, count: usize) -> Result<f64, QuantError> {
    for s in [x_scale, y_scale] {
        if !(s.is_finite() && s > 0.0) {
            return Err(QuantError::BadScale(s));
        }
    }
    Ok(f64::from(x_scale) / (f64::from(y_scale) * count as f64))
}

/// One window of a pooling: its taps inside the input and how many taps each way counts.
struct Window<'a, T> {
    plane: &'a [T],
    width: usize,
    rows: &'a AxisWindow,
    cols: &'a AxisWindow,
    /// Taps inside the input.
    inside: usize,
    /// Taps inside the explicitly padded input.
    padded: usize,
}

impl<T: Copy> Window<'_, T> {
    fn taps(&self) -> impl Iterator<Item = T> + '_ {
        self.rows.inside.iter().flat_map(move |&i| {
            self.cols
                .inside
                .iter()
                .map(move |&j| self.plane[i * self.width + j])
        })
    }
}

fn pool<T: Copy, U>(
    op: &str,
    x: &ArrayD<T>,
    p: &PoolParams,
    reduce: impl Fn(&Window<'_, T>) -> U,
) -> ArrayD<U> {
    let xs = x.shape();
    assert_eq!(xs.len(), 4, "{op}: input {xs:?} must be 4-D [N, C, H, W]");
    let (h, w) = (xs[2], xs[3]);
    assert!(
        h > 0 && w > 0,
        "{op}: input {xs:?} has an empty spatial axis"
    );
    let rows = axis_windows(
        op,
        h,
        p.kernel[0],
        p.strides[0],
        (p.pads[0], p.pads[2]),
        p.dilations[0],
        p.ceil_mode,
    );
    let cols = axis_windows(
        op,
        w,
        p.kernel[1],
        p.strides[1],
        (p.pads[1], p.pads[3]),
        p.dilations[1],
        p.ceil_mode,
    );
    let x = x.as_standard_layout();
    let xd = x.as_slice().expect("standard layout");
    let mut out = Vec::with_capacity(xs[0] * xs[1] * rows.len() * cols.len());
    for plane in xd.chunks_exact(h * w) {
        for r in &rows {
            for c in &cols {
                let window = Window {
                    plane,
                    width: w,
                    rows: r,
                    cols: c,
                    inside: r.inside.len() * c.inside.len(),
                    padded: r.padded * c.padded,
                };
                out.push(reduce(&window));
            }
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[xs[0], xs[1], rows.len(), cols.len()]), out)
        .expect("pool: output size")
}
