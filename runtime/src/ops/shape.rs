//! Shape ops that move elements without arithmetic, generic over the element type so the float
//! and the integer interpreters share them. Every result is in standard (row-major) layout.

use ndarray::{ArrayD, ArrayViewD, IxDyn, Slice};

/// The elements of a view in row-major order, as a standard-layout array of `shape`.
fn collect<T: Clone>(view: ArrayViewD<'_, T>, shape: &[usize]) -> ArrayD<T> {
    ArrayD::from_shape_vec(IxDyn(shape), view.iter().cloned().collect())
        .expect("element count matches the shape")
}

/// The same elements in row-major order under a new shape (also flatten, squeeze, unsqueeze).
pub fn reshape<T: Clone>(x: &ArrayD<T>, shape: &[usize]) -> ArrayD<T> {
    let n: usize = shape.iter().product();
    assert_eq!(
        n,
        x.len(),
        "reshape: input {:?} ({} elements) cannot become {shape:?} ({n} elements)",
        x.shape(),
        x.len()
    );
    collect(x.view(), shape)
}

/// Output axis `i` is input axis `perm[i]`.
pub fn transpose<T: Clone>(x: &ArrayD<T>, perm: &[usize]) -> ArrayD<T> {
    let mut seen = vec![false; x.ndim()];
    let is_perm = perm.len() == x.ndim()
        && perm
            .iter()
            .all(|&a| a < seen.len() && !std::mem::replace(&mut seen[a], true));
    assert!(
        is_perm,
        "transpose: {perm:?} is not a permutation of the axes of {:?}",
        x.shape()
    );
    let view = x.view().permuted_axes(IxDyn(perm));
    let shape = view.shape().to_vec();
    collect(view, &shape)
}

/// ONNX Expand: `x` repeated along its size-1 axes (and new leading axes) to `shape`, which
/// numpy broadcasting must take `x` to.
pub fn expand<T: Clone>(x: &ArrayD<T>, shape: &[usize]) -> ArrayD<T> {
    let view = x
        .broadcast(IxDyn(shape))
        .unwrap_or_else(|| panic!("expand: {:?} does not broadcast to {shape:?}", x.shape()));
    collect(view, shape)
}

/// Joins tensors along `axis`; all other axes must agree.
pub fn concat<T: Clone>(xs: &[&ArrayD<T>], axis: usize) -> ArrayD<T> {
    assert!(!xs.is_empty(), "concat: no inputs");
    let first = xs[0].shape();
    assert!(
        axis < first.len(),
        "concat: axis {axis} out of range for {first:?}"
    );
    for x in xs {
        let same = x.ndim() == first.len()
            && (0..first.len()).all(|a| a == axis || x.shape()[a] == first[a]);
        assert!(
            same,
            "concat: {:?} does not fit {first:?} along axis {axis}",
            x.shape()
        );
    }
    let outer: usize = first[..axis].iter().product();
    let mut shape = first.to_vec();
    shape[axis] = xs.iter().map(|x| x.shape()[axis]).sum();
    let mut out = Vec::with_capacity(shape.iter().product());
    // In row-major order the output is, for each index before `axis`, one block of each input.
    let inputs: Vec<_> = xs.iter().map(|x| x.as_standard_layout()).collect();
    let blocks: Vec<usize> = xs
        .iter()
        .map(|x| x.shape()[axis..].iter().product())
        .collect();
    for i in 0..outer {
        for (x, &block) in inputs.iter().zip(&blocks) {
            let data = x.as_slice().expect("standard layout");
            out.extend_from_slice(&data[i * block..][..block]);
        }
    }
    ArrayD::from_shape_vec(IxDyn(&shape), out).expect("concat: output size")
}

/// Surrounds `x` with `value`: `pads = [begin_0, …, begin_{r−1}, end_0, …, end_{r−1}]`.
pub fn pad<T: Clone>(x: &ArrayD<T>, pads: &[usize], value: T) -> ArrayD<T> {
    let rank = x.ndim();
    assert_eq!(
        pads.len(),
        2 * rank,
        "pad: {pads:?} needs 2 entries per axis of {:?}",
        x.shape()
    );
    let shape: Vec<usize> = (0..rank)
        .map(|a| pads[a] + x.shape()[a] + pads[rank + a])
        .collect();
    let mut out = ArrayD::from_elem(IxDyn(&shape), value);
    out.slice_each_axis_mut(|ax| {
        Slice::from(pads[ax.axis.index()]..ax.len - pads[rank + ax.axis.index()])
    })
    .assign(x);
    out
}
