//! Softmax along one axis (ONNX Softmax, opset 13 and later).

use ndarray::{ArrayD, Axis};

/// `e^(x − max) / Σ e^(x − max)` along `axis`; subtracting the lane's maximum keeps the
/// exponentials finite without changing the result.
pub fn softmax(x: &ArrayD<f32>, axis: usize) -> ArrayD<f32> {
    assert!(
        axis < x.ndim(),
        "softmax: axis {axis} out of range for input {:?}",
        x.shape()
    );
    let mut out = x.as_standard_layout().into_owned();
    for mut lane in out.lanes_mut(Axis(axis)) {
        let max = lane.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let mut sum = 0.0f32;
        for v in lane.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        lane.mapv_inplace(|v| v / sum);
    }
    out
}
