//! binary against elementwise f32 arithmetic (and numpy's maximum/minimum) on explicitly
//! broadcast indices.

use crate::common::*;
use ndarray::{ArrayD, Dimension, IxDyn};
use proptest::prelude::*;
use runtime::ops::{binary, broadcast_shapes, BinaryOp};

/// Two operand shapes that broadcast: each keeps a suffix of the axes of one full shape, some of
/// them collapsed to 1.
fn shapes() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    prop::collection::vec(1..=3usize, 0..=4).prop_flat_map(|full| {
        let r = full.len();
        let operand = |full: Vec<usize>| {
            (0..=r, prop::collection::vec(any::<bool>(), r)).prop_map(move |(keep, ones)| {
                (r - keep..r)
                    .map(|a| if ones[a] { 1 } else { full[a] })
                    .collect::<Vec<usize>>()
            })
        };
        (operand(full.clone()), operand(full))
    })
}

/// numpy's result shape for compatible operands: right-aligned, the larger length of each axis.
fn result_shape(a: &[usize], b: &[usize]) -> Vec<usize> {
    let r = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| {
        if i + s.len() >= r {
            s[i + s.len() - r]
        } else {
            1
        }
    };
    (0..r).map(|i| dim(a, i).max(dim(b, i))).collect()
}

fn values(shape: Vec<usize>) -> impl Strategy<Value = ArrayD<f32>> {
    let n: usize = shape.iter().product();
    let v = prop_oneof![4 => -100.0f32..100.0, 1 => any::<f32>()];
    prop::collection::vec(v, n).prop_map(move |v| ArrayD::from_shape_vec(IxDyn(&shape), v).unwrap())
}

/// The element of `x` that output index `idx` reads: right-aligned, length-1 axes repeat.
fn pick(x: &ArrayD<f32>, idx: &[usize]) -> f32 {
    let lead = idx.len() - x.ndim();
    let i: Vec<usize> = x
        .shape()
        .iter()
        .enumerate()
        .map(|(a, &d)| if d == 1 { 0 } else { idx[lead + a] })
        .collect();
    x[IxDyn(&i)]
}

fn case() -> impl Strategy<Value = (Vec<usize>, ArrayD<f32>, ArrayD<f32>, BinaryOp)> {
    let op = prop_oneof![
        Just(BinaryOp::Add),
        Just(BinaryOp::Sub),
        Just(BinaryOp::Mul),
        Just(BinaryOp::Div),
        Just(BinaryOp::Max),
        Just(BinaryOp::Min)
    ];
    (shapes(), op).prop_flat_map(|((sa, sb), op)| {
        (
            Just(result_shape(&sa, &sb)),
            values(sa),
            values(sb),
            Just(op),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn broadcasts_like_numpy((out, a, b, op) in case()) {
        prop_assert_eq!(broadcast_shapes(a.shape(), b.shape()), Some(out.clone()));
        let want = ArrayD::from_shape_fn(IxDyn(&out), |i| {
            let (x, y) = (pick(&a, i.slice()), pick(&b, i.slice()));
            let v = match op {
                BinaryOp::Add => x + y,
                BinaryOp::Sub => x - y,
                BinaryOp::Mul => x * y,
                BinaryOp::Div => x / y,
                // numpy's maximum/minimum: NaN wins.
                BinaryOp::Max if x.is_nan() || y.is_nan() => f32::NAN,
                BinaryOp::Min if x.is_nan() || y.is_nan() => f32::NAN,
                BinaryOp::Max => x.max(y),
                BinaryOp::Min => x.min(y),
            };
            Want::exact(v as f64)
        });
        check_close(&binary(&a, &b, op), &want, 0.0)?;
    }
}

#[test]
fn incompatible_shapes_do_not_broadcast() {
    assert_eq!(broadcast_shapes(&[2, 3], &[3, 2]), None);
    assert_eq!(broadcast_shapes(&[4, 1, 3], &[5, 1]), Some(vec![4, 5, 3]));
    assert_eq!(broadcast_shapes(&[], &[2]), Some(vec![2]));
}
