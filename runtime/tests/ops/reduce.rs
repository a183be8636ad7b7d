//! reduce_mean and reduce against brute-force formulas over the matching input elements.

use crate::common::*;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use runtime::ops::{reduce, reduce_mean, ReduceFn};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn matches_the_definition(
        (x, reduced, keepdims) in prop::collection::vec(1..=4usize, 0..=4).prop_flat_map(|s| {
            let r = s.len();
            (tensor(s), prop::collection::vec(any::<bool>(), r), any::<bool>())
        })
    ) {
        let axes: Vec<usize> = (0..x.ndim()).filter(|&a| reduced[a]).collect();
        // ONNX: no axes means every axis.
        let gone = |a: usize| axes.is_empty() || reduced[a];
        let kept_shape: Vec<usize> = (0..x.ndim()).map(|a| if gone(a) { 1 } else { x.shape()[a] }).collect();
        let want = ArrayD::from_shape_fn(IxDyn(&kept_shape), |o| {
            let (mut sum, mut count) = (Want::default(), 0);
            for (i, &v) in x.indexed_iter() {
                if (0..x.ndim()).all(|a| gone(a) || i[a] == o[a]) {
                    sum.add(v as f64);
                    count += 1;
                }
            }
            Want { value: sum.value / count as f64, mag: sum.mag / count as f64 }
        });
        let want = if keepdims {
            want
        } else {
            let shape: Vec<usize> = (0..x.ndim()).filter(|&a| !gone(a)).map(|a| x.shape()[a]).collect();
            want.into_shape_with_order(IxDyn(&shape)).unwrap()
        };
        check_close(&reduce_mean(&x, &axes, keepdims), &want, 1e-6)?;
    }
}

/// The naive value of one `reduce` group, in f64 (the kernel's order and roundings differ).
fn naive(f: ReduceFn, vs: &[f64]) -> Want {
    let mut sum = Want::default();
    match f {
        ReduceFn::Sum => vs.iter().for_each(|&v| sum.add(v)),
        ReduceFn::SumSquare | ReduceFn::L2 => vs.iter().for_each(|&v| sum.add(v * v)),
        ReduceFn::L1 => vs.iter().for_each(|&v| sum.add(v.abs())),
        ReduceFn::Max => return Want::exact(vs.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v))),
        ReduceFn::Min => return Want::exact(vs.iter().fold(f64::INFINITY, |m, &v| m.min(v))),
        ReduceFn::Prod => {
            let p: f64 = vs.iter().product();
            return Want {
                value: p,
                mag: p.abs() * vs.len() as f64,
            };
        }
        ReduceFn::LogSum => {
            let s: f64 = vs.iter().sum();
            // ln's error scales with the relative error of its argument, which cancellation
            // in the sum may make large; the absolute values bound it.
            let mag: f64 = vs.iter().map(|v| v.abs()).sum();
            return Want {
                value: s.ln(),
                mag: 1.0 + mag / s.abs(),
            };
        }
        ReduceFn::LogSumExp => {
            let m = vs.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
            let s: f64 = vs.iter().map(|v| (v - m).exp()).sum();
            return Want {
                value: m + s.ln(),
                mag: m.abs() + 1.0,
            };
        }
    }
    if f == ReduceFn::L2 {
        return Want {
            value: sum.value.sqrt(),
            mag: sum.mag.sqrt(),
        };
    }
    sum
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn reduce_matches_the_definition(
        f in prop::sample::select(ReduceFn::ALL.iter().map(|(f, _)| *f).collect::<Vec<_>>()),
        (x, reduced, keepdims) in prop::collection::vec(1..=4usize, 0..=4).prop_flat_map(|s| {
            let r = s.len();
            (unit_tensor(s), prop::collection::vec(any::<bool>(), r), any::<bool>())
        })
    ) {
        // log_sum needs a positive sum: shift the values into (0, 2).
        let x = if f == ReduceFn::LogSum { x.mapv(|v| v + 1.0) } else { x };
        let axes: Vec<usize> = (0..x.ndim()).filter(|&a| reduced[a]).collect();
        let gone = |a: usize| axes.is_empty() || reduced[a];
        let kept_shape: Vec<usize> = (0..x.ndim()).map(|a| if gone(a) { 1 } else { x.shape()[a] }).collect();
        let want = ArrayD::from_shape_fn(IxDyn(&kept_shape), |o| {
            let vs: Vec<f64> = x
                .indexed_iter()
                .filter(|(i, _)| (0..x.ndim()).all(|a| gone(a) || i[a] == o[a]))
                .map(|(_, &v)| v as f64)
                .collect();
            naive(f, &vs)
        });
        let want = if keepdims {
            want
        } else {
            let shape: Vec<usize> = (0..x.ndim()).filter(|&a| !gone(a)).map(|a| x.shape()[a]).collect();
            want.into_shape_with_order(IxDyn(&shape)).unwrap()
        };
        check_close(&reduce(&x, f, &axes, keepdims), &want, 1e-6)?;
    }
}

#[test]
fn max_and_min_propagate_nan_and_empty_groups_give_the_identity() {
    let x = ArrayD::from_shape_vec(IxDyn(&[3]), vec![1.0, f32::NAN, 2.0]).unwrap();
    assert!(reduce(&x, ReduceFn::Max, &[0], false)[[]].is_nan());
    assert!(reduce(&x, ReduceFn::Min, &[0], false)[[]].is_nan());
    let empty = ArrayD::<f32>::zeros(IxDyn(&[2, 0]));
    let at = |f| reduce(&empty, f, &[1], false).into_raw_vec_and_offset().0;
    assert_eq!(at(ReduceFn::Sum), vec![0.0, 0.0]);
    assert_eq!(at(ReduceFn::Prod), vec![1.0, 1.0]);
    assert_eq!(at(ReduceFn::Max), vec![f32::NEG_INFINITY; 2]);
    assert_eq!(at(ReduceFn::Min), vec![f32::INFINITY; 2]);
    assert_eq!(at(ReduceFn::LogSumExp), vec![f32::NEG_INFINITY; 2]);
}
