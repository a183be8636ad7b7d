//! Single-input activations, as ONNX defines them. NaN passes through every one of them.

use ndarray::ArrayD;

/// Applies `f` to every element; the result is in standard layout.
fn map(x: &ArrayD<f32>, f: impl Fn(f32) -> f32) -> ArrayD<f32> {
    let mut out = x.as_standard_layout().into_owned();
    out.mapv_inplace(f);
    out
}

/// `max(x, 0)`.
pub fn relu(x: &ArrayD<f32>) -> ArrayD<f32> {
    map(x, |v| if v < 0.0 { 0.0 } else { v })
}

/// `min(max(x, min), max)`; a missing bound does not clip. When `min > max` every element becomes
/// `max`, as ONNX specifies.
pub fn clip(x: &ArrayD<f32>, min: Option<f32>, max: Option<f32>) -> ArrayD<f32> {
    let (lo, hi) = (
        min.unwrap_or(f32::NEG_INFINITY),
        max.unwrap_or(f32::INFINITY),
    );
    map(x, |v| {
        let v = if v < lo { lo } else { v };
        if v > hi {
            hi
        } else {
            v
        }
    })
}

/// `x` for `x ≥ 0`, `alpha·x` below.
pub fn leaky_relu(x: &ArrayD<f32>, alpha: f32) -> ArrayD<f32> {
    map(x, |v| if v < 0.0 { alpha * v } else { v })
}

/// `1 / (1 + e^(−x))`.
pub fn sigmoid(x: &ArrayD<f32>) -> ArrayD<f32> {
    map(x, |v| 1.0 / (1.0 + (-v).exp()))
}

fn hard_sigmoid_scalar(v: f32, alpha: f32, beta: f32) -> f32 {
    // `clamp` keeps NaN.
    (alpha * v + beta).clamp(0.0, 1.0)
}

/// `max(0, min(1, alpha·x + beta))`.
pub fn hard_sigmoid(x: &ArrayD<f32>, alpha: f32, beta: f32) -> ArrayD<f32> {
    map(x, |v| hard_sigmoid_scalar(v, alpha, beta))
}

/// `x · hard_sigmoid(x, 1/6, 1/2)`.
pub fn hard_swish(x: &ArrayD<f32>) -> ArrayD<f32> {
    map(x, |v| v * hard_sigmoid_scalar(v, 1.0 / 6.0, 0.5))
}
