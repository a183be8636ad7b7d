//! ONNX GatherElements: `y[i…] = data[i…]` with axis `axis` of the index replaced by
//! `indices[i…]` (negative: from the end); the result has the indices' shape, which matches the
//! data's on every other axis up to its size.

use crate::element::Elem;
use crate::{tensor_each, Tensor};
use ndarray::{ArrayD, IxDyn};

pub fn gather_elements(data: &Tensor, indices: &Tensor, axis: usize) -> Result<Tensor, String> {
    let dims = data.shape().to_vec();
    let ishape = indices.shape().to_vec();
    if indices.dtype().is_float() || indices.dtype() == crate::DType::Bool {
        return Err(format!("indices must be integers, not {}", indices.dtype()));
    }
    let fits = ishape.len() == dims.len()
        && axis < dims.len()
        && (0..dims.len()).all(|a| a == axis || ishape[a] <= dims[a]);
    if !fits {
        return Err(format!(
            "indices {ishape:?} do not fit data {dims:?} along axis {axis}"
        ));
    }
    let len = dims[axis] as i128;
    let idx: Vec<i128> =
        tensor_each!(indices, a => a.iter().map(|&v| v.to_i128()).collect::<Vec<i128>>());
    // Each index's position in the data, row-major, with the axis coordinate replaced.
    let mut at = Vec::with_capacity(idx.len());
    let mut coord = vec![0usize; ishape.len()];
    for &i in &idx {
        let j = if i < 0 { i + len } else { i };
        if !(0..len).contains(&j) {
            return Err(format!(
                "index {i} is out of range for axis {axis} of length {len}"
            ));
        }
        let mut flat = 0usize;
        for (a, (&c, &d)) in coord.iter().zip(&dims).enumerate() {
            flat = flat * d + if a == axis { j as usize } else { c };
        }
        at.push(flat);
        for a in (0..coord.len()).rev() {
            coord[a] += 1;
            if coord[a] < ishape[a] {
                break;
            }
            coord[a] = 0;
        }
    }
    fn typed<T: Elem>(x: &ArrayD<T>, at: &[usize], shape: &[usize]) -> Tensor {
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        T::wrap(
            ArrayD::from_shape_vec(IxDyn(shape), at.iter().map(|&k| xs[k]).collect())
                .expect("gather_elements: one element per index"),
        )
    }
    Ok(tensor_each!(data, a => typed(a, &at, &ishape)))
}
