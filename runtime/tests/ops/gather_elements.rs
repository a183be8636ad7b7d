//! gather_elements against its definition: each output element is the data element at the
//! index's position with the axis coordinate replaced by the index (negative from the end).

use ndarray::{ArrayD, Dimension, IxDyn};
use proptest::prelude::*;
use runtime::ops::gather_elements;
use runtime::Tensor;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn matches_the_definition(
        (data, ishape, axis, raw) in prop::collection::vec(1..=4usize, 1..=3).prop_flat_map(|dims| {
            let r = dims.len();
            (Just(dims.clone()), 0..r).prop_flat_map(move |(dims, axis)| {
                let ishape: Vec<_> = dims.iter().enumerate()
                    .map(|(a, &d)| if a == axis { (1..=4usize).boxed() } else { (1..=d).boxed() })
                    .collect();
                (Just(dims.clone()), ishape, Just(axis))
            })
        }).prop_flat_map(|(dims, ishape, axis)| {
            let n: usize = ishape.iter().product();
            let len = dims[axis] as i64;
            (Just(dims), Just(ishape), Just(axis), prop::collection::vec(-len..len, n))
        })
    ) {
        let count: usize = data.iter().product();
        let x = ArrayD::from_shape_vec(IxDyn(&data), (0..count as i32).collect()).unwrap();
        let idx = ArrayD::from_shape_vec(IxDyn(&ishape), raw.clone()).unwrap();
        let got = gather_elements(&Tensor::I32(x.clone()), &Tensor::I64(idx.clone()), axis).unwrap();
        let Tensor::I32(got) = got else { panic!("the data's type") };
        prop_assert_eq!(got.shape(), &ishape[..]);
        for (at, &v) in got.indexed_iter() {
            let mut src: Vec<usize> = at.slice().to_vec();
            let i = idx[at.clone()];
            src[axis] = if i < 0 { (i + data[axis] as i64) as usize } else { i as usize };
            prop_assert_eq!(v, x[IxDyn(&src)]);
        }
    }
}

#[test]
fn an_index_out_of_range_is_an_error() {
    let x = Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[2]), vec![1.0, 2.0]).unwrap());
    let i = Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[1]), vec![2]).unwrap());
    let e = gather_elements(&x, &i, 0).unwrap_err();
    assert!(e.contains("index 2"), "{e}");
}
