//! reshape, transpose, expand, concat, pad and slice against index arithmetic, on integer and float elements,
//! from standard and column-major inputs.

use ndarray::{ArrayD, Dimension, IxDyn, ShapeBuilder};
use proptest::prelude::*;
use runtime::ops::{concat, expand, pad, reshape, slice, transpose, SliceAxis};

/// A tensor of distinct i32 values (so a misplaced element shows), stored row- or column-major.
fn ints(shape: Vec<usize>) -> impl Strategy<Value = ArrayD<i32>> {
    any::<bool>().prop_map(move |col_major| {
        let value = |i: IxDyn| {
            i.slice()
                .iter()
                .fold(0i32, |acc, &v| acc * 10 + v as i32 + 1)
        };
        if col_major {
            ArrayD::from_shape_fn(IxDyn(&shape).f(), value)
        } else {
            ArrayD::from_shape_fn(IxDyn(&shape), value)
        }
    })
}

fn shape(max_rank: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1..=4usize, 1..=max_rank)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn reshape_keeps_row_major_order(x in shape(4).prop_flat_map(ints), split in 0..4usize) {
        // Flatten around one split point: [prod(before), prod(after)].
        let s = split.min(x.ndim());
        let new = [x.shape()[..s].iter().product::<usize>(), x.shape()[s..].iter().product()];
        let y = reshape(&x, &new);
        prop_assert_eq!(y.shape(), &new[..]);
        prop_assert!(y.is_standard_layout());
        prop_assert_eq!(y.iter().collect::<Vec<_>>(), x.iter().collect::<Vec<_>>());
    }

    #[test]
    fn expand_repeats_size_one_axes(
        (x, target) in shape(4).prop_flat_map(|s| {
            // Each axis of the result: the input's, or any size where the input has 1; then up
            // to two new leading axes.
            let axes: Vec<_> = s.iter().map(|&d| if d == 1 { (1..=3usize).boxed() } else { Just(d).boxed() }).collect();
            (ints(s.clone()), prop::collection::vec(1..=3usize, 0..=2), axes)
        }).prop_map(|(x, lead, axes)| (x, lead.into_iter().chain(axes).collect::<Vec<_>>()))
    ) {
        let y = expand(&x, &target);
        prop_assert!(y.is_standard_layout());
        prop_assert_eq!(y.shape(), &target[..]);
        let extra = target.len() - x.ndim();
        for (i, &v) in y.indexed_iter() {
            // Input index: the output's, without the new axes, 0 where the input has size 1.
            let j: Vec<usize> = (0..x.ndim()).map(|a| if x.shape()[a] == 1 { 0 } else { i[extra + a] }).collect();
            prop_assert_eq!(v, x[IxDyn(&j)]);
        }
    }

    #[test]
    fn transpose_moves_axis_perm_i_to_i(
        (x, perm) in shape(4).prop_flat_map(|s| {
            let r = s.len();
            (ints(s), Just((0..r).collect::<Vec<usize>>()).prop_shuffle())
        })
    ) {
        let y = transpose(&x, &perm);
        prop_assert!(y.is_standard_layout());
        let want_shape: Vec<usize> = perm.iter().map(|&p| x.shape()[p]).collect();
        prop_assert_eq!(y.shape(), &want_shape[..]);
        for (i, &v) in y.indexed_iter() {
            let mut j = vec![0; perm.len()];
            for (k, &p) in perm.iter().enumerate() {
                j[p] = i[k];
            }
            prop_assert_eq!(v, x[IxDyn(&j)]);
        }
    }

    #[test]
    fn concat_stacks_along_the_axis(
        (xs, axis) in shape(4).prop_flat_map(|s| {
            let r = s.len();
            (0..r).prop_flat_map(move |axis| {
                let s = s.clone();
                let part = (1..=3usize).prop_flat_map(move |len| {
                    let mut t = s.clone();
                    t[axis] = len;
                    ints(t)
                });
                (prop::collection::vec(part, 1..=3), Just(axis))
            })
        })
    ) {
        let refs: Vec<&ArrayD<i32>> = xs.iter().collect();
        let y = concat(&refs, axis);
        prop_assert!(y.is_standard_layout());
        let total: usize = xs.iter().map(|x| x.shape()[axis]).sum();
        prop_assert_eq!(y.shape()[axis], total);
        for (i, &v) in y.indexed_iter() {
            // Find the input that owns position i[axis].
            let mut pos = i[axis];
            let mut src = 0;
            while pos >= xs[src].shape()[axis] {
                pos -= xs[src].shape()[axis];
                src += 1;
            }
            let mut j = i.slice().to_vec();
            j[axis] = pos;
            prop_assert_eq!(v, xs[src][IxDyn(&j)]);
        }
    }

    #[test]
    fn pad_surrounds_with_the_value(
        (x, pads) in shape(4).prop_flat_map(|s| {
            let r = s.len();
            (ints(s), prop::collection::vec(0..=2usize, 2 * r))
        })
    ) {
        let r = x.ndim();
        let y = pad(&x, &pads, -1);
        prop_assert!(y.is_standard_layout());
        for a in 0..r {
            prop_assert_eq!(y.shape()[a], pads[a] + x.shape()[a] + pads[r + a]);
        }
        for (i, &v) in y.indexed_iter() {
            let inside = (0..r).all(|a| i[a] >= pads[a] && i[a] < pads[a] + x.shape()[a]);
            if inside {
                let j: Vec<usize> = (0..r).map(|a| i[a] - pads[a]).collect();
                prop_assert_eq!(v, x[IxDyn(&j)]);
            } else {
                prop_assert_eq!(v, -1);
            }
        }
    }
}

#[test]
fn float_elements_too() {
    let x = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![0.5f32, 1.5, 2.5, 3.5, 4.5, 5.5]).unwrap();
    assert_eq!(
        transpose(&x, &[1, 0]).into_raw_vec_and_offset().0,
        vec![0.5, 3.5, 1.5, 4.5, 2.5, 5.5]
    );
    assert_eq!(
        pad(&x, &[0, 1, 0, 0], 9.0).into_raw_vec_and_offset().0,
        vec![9.0, 0.5, 1.5, 2.5, 9.0, 3.5, 4.5, 5.5]
    );
    assert_eq!(reshape(&x, &[3, 2, 1]).shape(), &[3, 2, 1]);
}

/// Per axis of `shape`: a first index, a non-zero step in -3..=3 and an end that leaves at least
/// one element, clamped to -1 as ONNX normalization clamps a negative step's end.
fn slice_axes(shape: Vec<usize>) -> impl Strategy<Value = Vec<(i64, i64, i64)>> {
    shape
        .into_iter()
        .map(|d| {
            (0..d, prop_oneof![-3..=-1i64, 1..=3i64], 1..=4usize).prop_map(move |(s, step, n)| {
                let s = s as i64;
                // The most elements this start and step can reach.
                let room = if step > 0 {
                    (d as i64 - s + step - 1) / step
                } else {
                    s / -step + 1
                };
                let n = (n as i64).min(room);
                let end = (s + step * n).clamp(-1, d as i64);
                (s, end, step)
            })
        })
        .collect::<Vec<_>>()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn slice_takes_start_plus_i_times_step(
        (x, bounds) in shape(4).prop_flat_map(|s| (ints(s.clone()), slice_axes(s)))
    ) {
        let axes: Vec<SliceAxis> = bounds
            .iter()
            .zip(x.shape())
            .map(|(&(s, e, st), &d)| SliceAxis::new(d, s, e, st).expect("normalized bounds"))
            .collect();
        let y = slice(&x, &axes);
        prop_assert!(y.is_standard_layout());
        for (d, &(s, e, st)) in bounds.iter().enumerate() {
            // ⌈(e − s)/st⌉ by counting.
            let mut n = 0;
            let mut i = s;
            while (st > 0 && i < e) || (st < 0 && i > e) {
                n += 1;
                i += st;
            }
            prop_assert_eq!(y.shape()[d], n);
        }
        for (i, &v) in y.indexed_iter() {
            let j: Vec<usize> = (0..y.ndim())
                .map(|d| (bounds[d].0 + bounds[d].2 * i[d] as i64) as usize)
                .collect();
            prop_assert_eq!(v, x[IxDyn(&j)]);
        }
    }
}

#[test]
fn slice_reverses_and_skips() {
    let x = ArrayD::from_shape_vec(IxDyn(&[6]), (0u8..6).collect()).unwrap();
    let rev = SliceAxis::new(6, 5, -1, -2).unwrap();
    assert_eq!(slice(&x, &[rev]).into_raw_vec_and_offset().0, vec![5, 3, 1]);
    let odd = SliceAxis::new(6, 1, 6, 2).unwrap();
    assert_eq!(slice(&x, &[odd]).into_raw_vec_and_offset().0, vec![1, 3, 5]);
    assert_eq!(
        SliceAxis::new(6, 0, 7, 1),
        None,
        "an end past the axis is not normalized"
    );
    assert_eq!(SliceAxis::new(6, 0, 3, 0), None, "a zero step");
}
