//! ONNX NegativeLogLikelihoodLoss (and SoftmaxCrossEntropyLoss after its log-softmax): the
//! negated input at each target class, weighted per class, an ignored class weighing 0, then
//! kept per element, summed, or divided by the summed weights.

use ndarray::{ArrayD, IxDyn};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossReduction {
    None,
    Sum,
    /// Σ loss / Σ weight (the element count when nothing is weighted or ignored).
    Mean,
}

/// `x` is `[N, C, d…]`, `target` the `N·d…` class indices of `[N, d…]` in row-major order,
/// `weight` one factor per class. The result has the target's shape (`None`) or is a scalar.
/// A target outside `[0, C)` that is not `ignore_index` is an error naming it.
pub fn nll_loss(
    x: &ArrayD<f32>,
    target: &[i64],
    target_shape: &[usize],
    weight: Option<&ArrayD<f32>>,
    reduction: LossReduction,
    ignore_index: Option<i64>,
) -> Result<ArrayD<f32>, String> {
    let shape = x.shape();
    if shape.len() < 2 {
        return Err(format!("the input {shape:?} has no class axis"));
    }
    let (n, c) = (shape[0], shape[1]);
    let inner: usize = shape[2..].iter().product();
    let want: Vec<usize> = [&shape[..1], &shape[2..]].concat();
    if target_shape != want || target.len() != n * inner {
        return Err(format!(
            "the target {target_shape:?} is not the input {shape:?} without its class axis"
        ));
    }
    if let Some(w) = weight {
        if w.shape() != [c] {
            return Err(format!(
                "the weight {:?} is not one per class ({c})",
                w.shape()
            ));
        }
    }
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let mut losses = Vec::with_capacity(target.len());
    let (mut sum, mut weights) = (0f64, 0f64);
    for (i, &t) in target.iter().enumerate() {
        if Some(t) == ignore_index {
            losses.push(0.0);
            continue;
        }
        let class = usize::try_from(t)
            .ok()
            .filter(|&k| k < c)
            .ok_or_else(|| format!("target {t} is not a class in [0, {c})"))?;
        let w = weight.map_or(1.0, |w| w[class]);
        let (b, pos) = (i / inner, i % inner);
        let loss = -xs[(b * c + class) * inner + pos] * w;
        losses.push(loss);
        sum += loss as f64;
        weights += w as f64;
    }
    Ok(match reduction {
        LossReduction::None => {
            ArrayD::from_shape_vec(IxDyn(target_shape), losses).expect("one loss per target")
        }
        LossReduction::Sum => ArrayD::from_elem(IxDyn(&[]), sum as f32),
        LossReduction::Mean => ArrayD::from_elem(IxDyn(&[]), (sum / weights) as f32),
    })
}
