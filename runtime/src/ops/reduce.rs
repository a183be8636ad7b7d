//! Reductions (ONNX ReduceMean).

use ndarray::{ArrayD, IxDyn};

/// Mean over `axes` (all axes when `axes` is empty, as ONNX does by default), accumulated in f64
/// so the result does not depend on the order of a long sum. Reduced axes stay as length 1 with
/// `keepdims`, otherwise they disappear. An empty reduction yields NaN (0/0).
pub fn reduce_mean(x: &ArrayD<f32>, axes: &[usize], keepdims: bool) -> ArrayD<f32> {
    let rank = x.ndim();
    let mut reduced = vec![axes.is_empty(); rank];
    for &a in axes {
        assert!(
            a < rank,
            "reduce_mean: axis {a} out of range for input {:?}",
            x.shape()
        );
        assert!(
            !reduced[a],
            "reduce_mean: axis {a} listed twice in {axes:?}"
        );
        reduced[a] = true;
    }
    let kept: Vec<usize> = (0..rank).filter(|&a| !reduced[a]).collect();
    let gone: Vec<usize> = (0..rank).filter(|&a| reduced[a]).collect();
    let count: usize = gone.iter().map(|&a| x.shape()[a]).product();
    let groups: usize = kept.iter().map(|&a| x.shape()[a]).product();

    // With the reduced axes last, each output element is one run of `count` consecutive elements.
    let perm: Vec<usize> = kept.iter().chain(&gone).copied().collect();
    let view = x.view().permuted_axes(IxDyn(&perm));
    let mut elems = view.iter();
    let out: Vec<f32> = (0..groups)
        .map(|_| {
            let sum: f64 = elems.by_ref().take(count).map(|&v| v as f64).sum();
            (sum / count as f64) as f32
        })
        .collect();

    let shape: Vec<usize> = if keepdims {
        (0..rank)
            .map(|a| if reduced[a] { 1 } else { x.shape()[a] })
            .collect()
    } else {
        kept.iter().map(|&a| x.shape()[a]).collect()
    };
    ArrayD::from_shape_vec(IxDyn(&shape), out).expect("reduce_mean: output size")
}
