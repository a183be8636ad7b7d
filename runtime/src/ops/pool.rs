//! 2-D pooling (ONNX MaxPool, AveragePool, GlobalAveragePool; NCHW).

use super::geometry::axis_windows;
use super::reduce::reduce_mean;
use super::PoolParams;
use ndarray::{ArrayD, IxDyn};

/// Maximum over each window's taps that fall inside the input: padding never wins, NaN does. A
/// window that sees only padding yields `f32::MIN`, as ONNX Runtime does.
pub fn max_pool(x: &ArrayD<f32>, p: &PoolParams) -> ArrayD<f32> {
    pool(
        "max_pool",
        x,
        p,
        f32::MIN,
        |m, v| if v > m || v.is_nan() { v } else { m },
        |m, _| m,
    )
}

/// Mean of each window. The divisor counts the taps inside the input, or with
/// `count_include_pad` also those in the explicit padding — but never those that `ceil_mode`
/// pushes beyond the padded input. A window with nothing to count yields 0.
pub fn avg_pool(x: &ArrayD<f32>, p: &PoolParams, count_include_pad: bool) -> ArrayD<f32> {
    // One f32 accumulator from +0, taps in row-major window order (docs/ir.md, "Float ops in
    // an integer graph").
    pool(
        "avg_pool",
        x,
        p,
        0.0,
        |acc, v| acc + v,
        |sum, w| {
            let count = if count_include_pad {
                w.padded
            } else {
                w.inside
            };
            if count == 0 {
                0.0
            } else {
                sum / count as f32
            }
        },
    )
}

/// Mean over every axis after the first two, kept as length-1 axes.
pub fn global_avg_pool(x: &ArrayD<f32>) -> ArrayD<f32> {
    assert!(
        x.ndim() >= 2,
        "global_avg_pool: input {:?} needs at least 2 axes",
        x.shape()
    );
    if x.ndim() == 2 {
        // No spatial axes: each mean is over one element. (Empty axes would mean "all" to reduce_mean.)
        return x.as_standard_layout().into_owned();
    }
    let axes: Vec<usize> = (2..x.ndim()).collect();
    reduce_mean(x, &axes, true)
}

/// How many of a window's taps lie inside the input and inside the explicitly padded input.
struct WindowCounts {
    inside: usize,
    padded: usize,
}

/// Folds each window's taps in row-major order with `step` from `init`, straight from the input
/// (no per-window copy: the taps of ResNet-18's max pool were gathered into a vector window by
/// window), then `finish`es the fold with the window's counts.
fn pool(
    op: &str,
    x: &ArrayD<f32>,
    p: &PoolParams,
    init: f32,
    step: impl Fn(f32, f32) -> f32,
    finish: impl Fn(f32, WindowCounts) -> f32,
) -> ArrayD<f32> {
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
                let mut acc = init;
                for &i in &r.inside {
                    let row = &plane[i * w..][..w];
                    for &j in &c.inside {
                        acc = step(acc, row[j]);
                    }
                }
                let counts = WindowCounts {
                    inside: r.inside.len() * c.inside.len(),
                    padded: r.padded * c.padded,
                };
                out.push(finish(acc, counts));
            }
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[xs[0], xs[1], rows.len(), cols.len()]), out)
        .expect("pool: output size")
}
