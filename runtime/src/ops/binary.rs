//! Elementwise binary arithmetic with numpy (ONNX multidirectional) broadcasting.

use super::BinaryOp;
use ndarray::{ArrayD, IxDyn, Zip};

/// The shape two operands broadcast to: right-aligned, each axis equal or 1 on one side.
/// `None` when they do not broadcast.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    // Axis `i` of the result, counted from the right; missing leading axes act as 1.
    let dim = |s: &[usize], i: usize| if i < s.len() { s[s.len() - 1 - i] } else { 1 };
    let mut out = vec![0; rank];
    for i in 0..rank {
        let (da, db) = (dim(a, i), dim(b, i));
        out[rank - 1 - i] = match (da, db) {
            _ if da == db => da,
            (1, _) => db,
            (_, 1) => da,
            _ => return None,
        };
    }
    Some(out)
}

/// `a op b`, elementwise after broadcasting both operands to their common shape.
pub fn binary(a: &ArrayD<f32>, b: &ArrayD<f32>, op: BinaryOp) -> ArrayD<f32> {
    match op {
        BinaryOp::Add => zip_with(a, b, |x, y| x + y),
        BinaryOp::Sub => zip_with(a, b, |x, y| x - y),
        BinaryOp::Mul => zip_with(a, b, |x, y| x * y),
        BinaryOp::Div => zip_with(a, b, |x, y| x / y),
        BinaryOp::Max => zip_with(a, b, |x, y| pick(x, y, x >= y)),
        BinaryOp::Min => zip_with(a, b, |x, y| pick(x, y, x <= y)),
    }
}

/// Max and min: `x + y` (a NaN) when either is NaN, else `x` when `first`, else `y`. The
/// backend's kernel computes the same selects.
fn pick(x: f32, y: f32, first: bool) -> f32 {
    if x.is_nan() || y.is_nan() {
        x + y
    } else if first {
        x
    } else {
        y
    }
}

/// The larger (`max`) or smaller of two arrays of codes at the same quantization parameters,
/// broadcasting: dequantization is increasing, so this is the code of the float max/min.
pub fn max_min_codes<T: Copy + Ord + Default>(
    a: &ArrayD<T>,
    b: &ArrayD<T>,
    max: bool,
) -> ArrayD<T> {
    zip_with(a, b, |x, y| if max { x.max(y) } else { x.min(y) })
}

fn zip_with<T: Copy + Default>(a: &ArrayD<T>, b: &ArrayD<T>, f: impl Fn(T, T) -> T) -> ArrayD<T> {
    let shape = broadcast_shapes(a.shape(), b.shape()).unwrap_or_else(|| {
        panic!(
            "binary: shapes {:?} and {:?} do not broadcast",
            a.shape(),
            b.shape()
        )
    });
    let av = a
        .broadcast(IxDyn(&shape))
        .expect("binary: lhs broadcasts to the common shape");
    let bv = b
        .broadcast(IxDyn(&shape))
        .expect("binary: rhs broadcasts to the common shape");
    // Writing into a fresh standard-layout array keeps the result row-major whatever the inputs are.
    let mut out = ArrayD::<T>::from_elem(IxDyn(&shape), T::default());
    Zip::from(&mut out)
        .and(&av)
        .and(&bv)
        .for_each(|o, &x, &y| *o = f(x, y));
    out
}
