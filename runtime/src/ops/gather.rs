//! ONNX Gather: slices of `data` along one axis picked by an index tensor of any integer type
//! (negative indices count from the end). The result's shape is
//! `data.shape[..axis] ++ indices.shape ++ data.shape[axis + 1..]`.

use crate::element::Elem;
use crate::{tensor_each, Tensor};
use ndarray::{ArrayD, Axis, IxDyn};

pub fn gather(data: &Tensor, indices: &Tensor, axis: usize) -> Result<Tensor, String> {
    let dims = data.shape().to_vec();
    let len = *dims
        .get(axis)
        .ok_or_else(|| format!("axis {axis} is out of range for shape {dims:?}"))?;
    if indices.dtype().is_float() || indices.dtype() == crate::DType::Bool {
        return Err(format!("indices must be integers, not {}", indices.dtype()));
    }
    let idx: Vec<usize> =
        tensor_each!(indices, a => a.iter().map(|&v| v.to_i128()).collect::<Vec<i128>>())
            .into_iter()
            .map(|i| {
                let j = if i < 0 { i + len as i128 } else { i };
                usize::try_from(j).ok().filter(|&j| j < len).ok_or_else(|| {
                    format!("index {i} is out of range for axis {axis} of length {len}")
                })
            })
            .collect::<Result<_, _>>()?;
    let mut shape = dims[..axis].to_vec();
    shape.extend_from_slice(indices.shape());
    shape.extend_from_slice(&dims[axis + 1..]);
    fn typed<T: Elem>(x: &ArrayD<T>, idx: &[usize], axis: usize, shape: &[usize]) -> Tensor {
        let picked = x.select(Axis(axis), idx);
        // `select` keeps the axis with idx.len() entries; the index shape replaces it in place.
        let picked = picked.as_standard_layout();
        T::wrap(
            ArrayD::from_shape_vec(IxDyn(shape), picked.iter().copied().collect())
                .expect("gather: one element per output position"),
        )
    }
    Ok(tensor_each!(data, a => typed(a, &idx, axis, &shape)))
}
