//! nll_loss against its definition: `−x[n, t, d…]·w[t]` per target (0 where `t` is ignored),
//! kept, summed, or divided by the summed weights, in f64.

use crate::common::*;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use runtime::ops::{nll_loss, LossReduction};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn matches_the_definition(
        (x, target, weight, reduction, ignore) in (1..=3usize, 1..=4usize, prop::collection::vec(1..=3usize, 0..=2))
            .prop_flat_map(|(n, c, inner)| {
                let xs = [vec![n, c], inner.clone()].concat();
                let count = n * inner.iter().product::<usize>();
                (
                    unit_tensor(xs),
                    prop::collection::vec(0..c as i64, count),
                    prop::option::of(prop::collection::vec(0.1f32..2.0, c)),
                    prop_oneof![Just(LossReduction::None), Just(LossReduction::Sum), Just(LossReduction::Mean)],
                    prop::option::of(0..c as i64),
                )
            })
    ) {
        let shape = x.shape().to_vec();
        let (c, inner) = (shape[1], shape[2..].iter().product::<usize>());
        let tshape: Vec<usize> = [&shape[..1], &shape[2..]].concat();
        let w = weight.map(|w| ArrayD::from_shape_vec(IxDyn(&[c]), w).unwrap());
        let got = nll_loss(&x, &target, &tshape, w.as_ref(), reduction, ignore).unwrap();
        let flat: Vec<f32> = x.iter().copied().collect();
        let mut losses = vec![];
        let (mut sum, mut weights) = (Want::default(), 0f64);
        for (i, &t) in target.iter().enumerate() {
            if Some(t) == ignore {
                losses.push(Want::exact(0.0));
                continue;
            }
            let wt = w.as_ref().map_or(1.0, |w| w[t as usize] as f64);
            let v = -(flat[((i / inner) * c + t as usize) * inner + i % inner] as f64) * wt;
            losses.push(Want::exact(v));
            sum.add(v);
            weights += wt;
        }
        let want = match reduction {
            LossReduction::None => ArrayD::from_shape_vec(IxDyn(&tshape), losses).unwrap(),
            LossReduction::Sum => ArrayD::from_elem(IxDyn(&[]), sum),
            LossReduction::Mean => ArrayD::from_elem(
                IxDyn(&[]),
                Want { value: sum.value / weights, mag: sum.mag / weights },
            ),
        };
        check_close(&got, &want, 1e-5)?;
    }
}

#[test]
fn a_target_outside_the_classes_is_an_error() {
    let x = ArrayD::from_shape_vec(IxDyn(&[1, 2]), vec![0.5, 0.25]).unwrap();
    let e = nll_loss(&x, &[2], &[1], None, LossReduction::Sum, None).unwrap_err();
    assert!(e.contains("target 2"), "{e}");
    let ok = nll_loss(&x, &[2], &[1], None, LossReduction::Sum, Some(2)).unwrap();
    assert_eq!(ok.into_raw_vec_and_offset().0, vec![0.0]);
}
