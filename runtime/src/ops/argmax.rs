//! ArgMax and ArgMin (ONNX): the index of the largest (smallest) element along one axis, as i64,
//! the first such index or, with `select_last_index`, the last.

use crate::element::Elem;
use crate::{tensor_each, Tensor};
use ndarray::{ArrayD, Axis, IxDyn};

/// The index along `axis` of each lane's extreme element; the axis is kept as size 1 with
/// `keepdims`, dropped otherwise. Comparisons are IEEE: a NaN never replaces the running
/// extreme, so it wins only when it is the lane's first element.
pub fn arg_extreme(x: &Tensor, axis: usize, keepdims: bool, max: bool, last: bool) -> ArrayD<i64> {
    fn typed<T: Elem>(
        x: &ArrayD<T>,
        axis: usize,
        keepdims: bool,
        max: bool,
        last: bool,
    ) -> ArrayD<i64> {
        assert!(
            axis < x.ndim() && x.shape()[axis] > 0,
            "arg_extreme: axis {axis} of {:?}",
            x.shape()
        );
        let out = x.map_axis(Axis(axis), |lane| {
            let mut best = 0usize;
            for (i, &v) in lane.iter().enumerate().skip(1) {
                let b = lane[best];
                let better = if max { v > b } else { v < b };
                if better || (last && v == b) {
                    best = i;
                }
            }
            best as i64
        });
        if keepdims {
            let mut shape = x.shape().to_vec();
            shape[axis] = 1;
            out.into_shape_with_order(IxDyn(&shape))
                .expect("same element count")
        } else {
            out
        }
    }
    tensor_each!(x, a => typed(a, axis, keepdims, max, last))
}
