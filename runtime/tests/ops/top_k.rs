//! top_k_indices against its definition: the element at result position p of a lane is the one
//! that exactly p elements of the lane beat, where a beats b when it ranks higher (NaN above
//! every number, -0 equal to +0) or ranks the same at a lower index.

use ndarray::{ArrayD, Dimension, IxDyn};
use proptest::prelude::*;
use runtime::ops::top_k_indices;
use runtime::Tensor;

/// Where `v` stands in TopK's order: NaN above every number, -0 level with +0.
fn place(v: f32) -> (bool, f64) {
    if v.is_nan() {
        (true, 0.0)
    } else {
        (false, v as f64 + 0.0)
    }
}

/// Whether `a` (at index `i`) beats `b` (at index `j`): it stands higher (lower, when the
/// smallest are wanted), or level at a lower index.
fn beats(largest: bool, a: f32, i: usize, b: f32, j: usize) -> bool {
    let (pa, pb) = (place(a), place(b));
    let ahead = if largest { pa > pb } else { pa < pb };
    ahead || (pa == pb && i < j)
}

/// Few distinct values, so that ties, signed zeros and NaN meet often.
fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        (-3i32..=3).prop_map(|v| v as f32),
        Just(-0.0f32),
        Just(f32::NAN),
        Just(f32::INFINITY),
        Just(f32::NEG_INFINITY),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn matches_the_definition(
        (dims, axis, k, largest, raw) in prop::collection::vec(1..=5usize, 1..=3)
            .prop_flat_map(|dims| {
                let r = dims.len();
                (Just(dims), 0..r)
            })
            .prop_flat_map(|(dims, axis)| {
                let n: usize = dims.iter().product();
                let len = dims[axis];
                (Just(dims), Just(axis), 1..=len, any::<bool>(), prop::collection::vec(value(), n))
            })
    ) {
        let x = ArrayD::from_shape_vec(IxDyn(&dims), raw).unwrap();
        let got = top_k_indices(&Tensor::F32(x.clone()), axis, k, largest).unwrap();
        let mut want_shape = dims.clone();
        want_shape[axis] = k;
        prop_assert_eq!(got.shape(), &want_shape[..]);
        let v = |at: &[usize]| x[IxDyn(at)];
        for (at, &i) in got.indexed_iter() {
            let p = at[axis];
            let mut src: Vec<usize> = at.slice().to_vec();
            src[axis] = i as usize;
            let mine = v(&src);
            let beaten_by = (0..dims[axis])
                .filter(|&j| {
                    let mut o = src.clone();
                    o[axis] = j;
                    beats(largest, v(&o), j, mine, i as usize)
                })
                .count();
            prop_assert_eq!(beaten_by, p, "position {:?} holds index {}", at.slice(), i);
        }
    }
}

#[test]
fn integers_rank_by_value_and_k_must_fit() {
    let x = Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[5]), vec![3, -1, 7, 3, i64::MIN]).unwrap());
    let top = top_k_indices(&x, 0, 3, true).unwrap();
    assert_eq!(top.as_slice().unwrap(), &[2, 0, 3]);
    let bottom = top_k_indices(&x, 0, 2, false).unwrap();
    assert_eq!(bottom.as_slice().unwrap(), &[4, 1]);
    let e = top_k_indices(&x, 0, 6, true).unwrap_err();
    assert!(e.contains("1..=5"), "{e}");
}
