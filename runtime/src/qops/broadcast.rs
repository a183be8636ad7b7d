//! Elementwise integer ops over two operands with numpy (ONNX multidirectional) broadcasting.

use crate::ops::broadcast_shapes;
use ndarray::{ArrayD, IxDyn, Zip};

/// `f(a, b)` elementwise after broadcasting both operands to their common shape; the result is
/// in standard layout.
pub(crate) fn zip_broadcast(
    op: &str,
    a: &ArrayD<u8>,
    b: &ArrayD<u8>,
    f: impl Fn(i32, i32) -> i32,
) -> ArrayD<u8> {
    let shape = broadcast_shapes(a.shape(), b.shape()).unwrap_or_else(|| {
        panic!(
            "{op}: shapes {:?} and {:?} do not broadcast",
            a.shape(),
            b.shape()
        )
    });
    let av = a
        .broadcast(IxDyn(&shape))
        .expect("lhs broadcasts to the common shape");
    let bv = b
        .broadcast(IxDyn(&shape))
        .expect("rhs broadcasts to the common shape");
    let mut out = ArrayD::<u8>::zeros(IxDyn(&shape));
    Zip::from(&mut out)
        .and(&av)
        .and(&bv)
        .for_each(|o, &x, &y| *o = f(i32::from(x), i32::from(y)) as u8);
    out
}
