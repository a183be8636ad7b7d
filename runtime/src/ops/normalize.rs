//! Normalization over the trailing axes (what ONNX LayerNormalization, InstanceNormalization,
//! GroupNormalization and RMSNormalization compute before their scale and bias), in f64 with
//! one rounding per output, so that generated code can reproduce it bit for bit.

use ndarray::{ArrayD, IxDyn};

/// Each group of the elements sharing the indices before `axis` (the trailing axes from `axis`
/// on, row-major): `(x − μ)·(1/√(σ² + ε))` with `μ` the f64 mean and `σ²` the f64 mean of
/// `(x − μ)²`, or with `rms` `x·(1/√(mean(x²) + ε))`, every step in f64 from the f32 inputs
/// (sums in row-major order from −0.0) and the result rounded once to f32.
pub fn normalize(x: &ArrayD<f32>, axis: usize, epsilon: f32, rms: bool) -> ArrayD<f32> {
    assert!(
        axis <= x.ndim(),
        "normalize: axis {axis} out of range for input {:?}",
        x.shape()
    );
    let n: usize = x.shape()[axis..].iter().product();
    let x = x.as_standard_layout();
    let values = x.as_slice().expect("standard layout is contiguous");
    let mut out = Vec::with_capacity(values.len());
    if n > 0 {
        for g in values.chunks(n) {
            let (mu, inv) = group_stats(g, epsilon, rms);
            out.extend(g.iter().map(|&v| ((v as f64 - mu) * inv) as f32));
        }
    }
    ArrayD::from_shape_vec(IxDyn(x.shape()), out).expect("normalize: output size")
}

/// The centre (0 with `rms`) and the inverse spread of one group.
pub fn group_stats(g: &[f32], epsilon: f32, rms: bool) -> (f64, f64) {
    let count = g.len() as f64;
    let mu = if rms {
        0.0
    } else {
        g.iter().map(|&v| v as f64).sum::<f64>() / count
    };
    let var = g
        .iter()
        .map(|&v| {
            let d = v as f64 - mu;
            d * d
        })
        .sum::<f64>()
        / count;
    (mu, 1.0 / (var + epsilon as f64).sqrt())
}
