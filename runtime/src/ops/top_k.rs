//! TopK (ONNX): the indices of the `k` largest (or smallest) elements along one axis, best
//! first, equal elements in index order (ONNX's tie rule). The order is total so that every
//! implementation agrees on every input: NaN ranks above every number (numpy's sort order), and
//! -0 equals +0 (IEEE's, and so ORT's).

use crate::element::Elem;
use crate::{tensor_each, Tensor};
use ndarray::{ArrayD, Axis, IxDyn};
use std::cmp::Ordering;

/// The total order TopK ranks by: numbers as IEEE compares them, then NaN above all; integers
/// and bools by value.
fn rank<T: Elem>(a: T, b: T) -> Ordering {
    if T::FLOAT {
        let (a, b) = (a.to_f64(), b.to_f64());
        match (a.is_nan(), b.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => a.partial_cmp(&b).expect("neither is NaN"),
        }
    } else {
        a.to_i128().cmp(&b.to_i128())
    }
}

/// For each lane along `axis`, the indices of its `k` best elements (the largest, or with
/// `largest == false` the smallest), best first; the result has `x`'s shape with `k` at `axis`.
pub fn top_k_indices(
    x: &Tensor,
    axis: usize,
    k: usize,
    largest: bool,
) -> Result<ArrayD<i64>, String> {
    fn typed<T: Elem>(
        x: &ArrayD<T>,
        axis: usize,
        k: usize,
        largest: bool,
    ) -> Result<ArrayD<i64>, String> {
        let len = *x
            .shape()
            .get(axis)
            .ok_or_else(|| format!("axis {axis} is out of range for shape {:?}", x.shape()))?;
        if k == 0 || k > len {
            return Err(format!(
                "k = {k} must be in 1..={len}, the length of axis {axis}"
            ));
        }
        let mut shape = x.shape().to_vec();
        shape[axis] = k;
        let mut out = ArrayD::<i64>::zeros(IxDyn(&shape));
        let mut order: Vec<usize> = Vec::with_capacity(len);
        for (lane, mut dst) in x
            .lanes(Axis(axis))
            .into_iter()
            .zip(out.lanes_mut(Axis(axis)))
        {
            order.clear();
            order.extend(0..len);
            // A stable sort keeps equal elements in index order.
            if largest {
                order.sort_by(|&i, &j| rank(lane[j], lane[i]));
            } else {
                order.sort_by(|&i, &j| rank(lane[i], lane[j]));
            }
            for (d, &i) in dst.iter_mut().zip(&order[..k]) {
                *d = i as i64;
            }
        }
        Ok(out)
    }
    tensor_each!(x, a => typed(a, axis, k, largest))
}
