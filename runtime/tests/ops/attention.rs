//! attention against the ONNX definition written out: k and v heads repeated for grouped
//! queries, the mask padded and broadcast to `[b, h, s, t]` as an additive bias, the causal and
//! window bias, `softmax(softcap(q·kᵀ·scale) + bias)·v` in f64, a fully masked row giving zeros.

use crate::common::*;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use runtime::ops::{attention, AttentionMask, AttentionParams, AttentionResult};

/// A mask's shape (rank 1–4, last axis ≤ t), its values as floats and as bits, and whether the
/// op gets the bits.
type MaskCase = (Vec<usize>, Vec<f32>, Vec<bool>, bool);

#[derive(Debug, Clone)]
struct Case {
    q: ArrayD<f32>,
    k: ArrayD<f32>,
    v: ArrayD<f32>,
    mask: Option<MaskCase>,
    p: AttentionParams,
}

fn case() -> impl Strategy<Value = Case> {
    (
        1..=2usize,
        1..=2usize,
        1..=2usize,
        1..=4usize,
        1..=5usize,
        1..=4usize,
        1..=3usize,
    )
        .prop_flat_map(|(b, hk, group, s, t, d, dv)| {
            let hq = hk * group;
            let full = [b, hq, s, t];
            let mask_shape = (1..=4usize, prop::collection::vec(any::<bool>(), 4), 1..=t).prop_map(
                move |(r, ones, last)| {
                    let mut m: Vec<usize> = (4 - r..4)
                        .map(|a| if ones[a] { 1 } else { full[a] })
                        .collect();
                    *m.last_mut().unwrap() = last;
                    m
                },
            );
            let mask = prop::option::of((mask_shape, any::<bool>()).prop_flat_map(
                |(shape, is_bool)| {
                    let n: usize = shape.iter().product();
                    (
                        Just(shape),
                        prop::collection::vec(-2.0f32..2.0, n),
                        prop::collection::vec(any::<bool>(), n),
                        Just(is_bool),
                    )
                },
            ));
            let params = (
                prop_oneof![Just(None), Just(Some(0.1f32)), Just(Some(1.0f32))],
                prop_oneof![Just(0.0f32), Just(1.5f32)],
                any::<bool>(),
                0..=2i64,
                prop_oneof![Just(-1i64), 0..=2i64],
                prop_oneof![Just(-1i64), 0..=2i64],
                prop_oneof![
                    Just(AttentionResult::Output),
                    Just(AttentionResult::Scores),
                    Just(AttentionResult::BiasedScores),
                    Just(AttentionResult::Probabilities)
                ],
            )
                .prop_map(
                    move |(scale, softcap, causal, offset, left, right, result)| AttentionParams {
                        scale: scale.unwrap_or(1.0 / (d as f32).sqrt()),
                        softcap,
                        causal,
                        offset,
                        left_window: left,
                        right_window: right,
                        result,
                    },
                );
            (
                unit_tensor(vec![b, hq, s, d]),
                unit_tensor(vec![b, hk, t, d]),
                unit_tensor(vec![b, hk, t, dv]),
                mask,
                params,
            )
                .prop_map(|(q, k, v, mask, p)| Case { q, k, v, mask, p })
        })
}

/// The naive formula, in f64.
fn naive(c: &Case) -> ArrayD<Want> {
    let (q, k, v, p) = (&c.q, &c.k, &c.v, &c.p);
    let (b, hq, s, d) = (q.shape()[0], q.shape()[1], q.shape()[2], q.shape()[3]);
    let (hk, t, dv) = (k.shape()[1], k.shape()[2], v.shape()[3]);
    let bias = |bi: usize, h: usize, i: usize, j: usize| -> f64 {
        let mut x = 0.0;
        if let Some((shape, floats, bits, is_bool)) = &c.mask {
            let r = shape.len();
            let full = [bi, h, i, j];
            if j >= shape[r - 1] {
                x = f64::NEG_INFINITY;
            } else {
                let at: Vec<usize> = (0..r)
                    .map(|a| if shape[a] == 1 { 0 } else { full[4 - r + a] })
                    .collect();
                let flat = at.iter().zip(shape).fold(0, |acc, (&i, &n)| acc * n + i);
                x = if *is_bool {
                    if bits[flat] {
                        0.0
                    } else {
                        f64::NEG_INFINITY
                    }
                } else {
                    floats[flat] as f64
                };
            }
        }
        let pos = i as i64 + p.offset;
        let j = j as i64;
        if (p.causal && j > pos)
            || (p.left_window >= 0 && pos - j > p.left_window)
            || (p.right_window >= 0 && j - pos > p.right_window)
        {
            x = f64::NEG_INFINITY;
        }
        x
    };
    let out_last = if p.result == AttentionResult::Output {
        dv
    } else {
        t
    };
    let mut out = ArrayD::from_elem(IxDyn(&[b, hq, s, out_last]), Want::default());
    for bi in 0..b {
        for h in 0..hq {
            let kh = h / (hq / hk);
            for i in 0..s {
                let mut score = vec![0f64; t];
                let mut biases = vec![0f64; t];
                for j in 0..t {
                    let mut dot = 0.0;
                    for e in 0..d {
                        dot += at4(q, [bi, h, i, e]) * at4(k, [bi, kh, j, e]);
                    }
                    dot *= p.scale as f64;
                    if p.softcap > 0.0 {
                        dot = (dot / p.softcap as f64).tanh() * p.softcap as f64;
                    }
                    score[j] = dot;
                    biases[j] = bias(bi, h, i, j);
                }
                if p.result == AttentionResult::Scores {
                    for j in 0..t {
                        out[IxDyn(&[bi, h, i, j])] = Want {
                            value: score[j],
                            mag: 1.0,
                        };
                    }
                    continue;
                }
                let biased: Vec<f64> = score.iter().zip(&biases).map(|(a, b)| a + b).collect();
                if p.result == AttentionResult::BiasedScores {
                    for j in 0..t {
                        out[IxDyn(&[bi, h, i, j])] = Want {
                            value: biased[j],
                            mag: 1.0 + biases[j].abs(),
                        };
                    }
                    continue;
                }
                let max = biased.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let prob: Vec<f64> = if max == f64::NEG_INFINITY {
                    vec![0.0; t]
                } else {
                    let e: Vec<f64> = biased.iter().map(|x| (x - max).exp()).collect();
                    let sum: f64 = e.iter().sum();
                    e.iter().map(|x| x / sum).collect()
                };
                if p.result == AttentionResult::Probabilities {
                    for (j, &pj) in prob.iter().enumerate() {
                        out[IxDyn(&[bi, h, i, j])] = Want {
                            value: pj,
                            mag: 1.0,
                        };
                    }
                    continue;
                }
                for c in 0..dv {
                    let mut y = Want::default();
                    for (j, &pj) in prob.iter().enumerate() {
                        y.add(pj * at4(v, [bi, kh, j, c]));
                    }
                    y.mag = y.mag.max(1.0);
                    out[IxDyn(&[bi, h, i, c])] = y;
                }
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn matches_the_definition(c in case()) {
        let floats;
        let bits;
        let mask = match &c.mask {
            None => None,
            Some((shape, f, b, false)) => {
                floats = ArrayD::from_shape_vec(IxDyn(shape), f.clone()).unwrap();
                let _ = b;
                Some(AttentionMask::Float(&floats))
            }
            Some((shape, _, b, true)) => {
                bits = ArrayD::from_shape_vec(IxDyn(shape), b.clone()).unwrap();
                Some(AttentionMask::Bool(&bits))
            }
        };
        let got = attention(&c.q, &c.k, &c.v, mask, &c.p);
        check_close(&got, &naive(&c), SUM_TOL)?;
    }
}

/// A NaN score in a row whose keys are all masked does not leak: the row is zeros.
#[test]
fn a_fully_masked_row_is_zero_even_with_nan_scores() {
    let q = ArrayD::from_shape_vec(IxDyn(&[1, 1, 1, 1]), vec![f32::NAN]).unwrap();
    let k = ArrayD::from_shape_vec(IxDyn(&[1, 1, 2, 1]), vec![1.0, 2.0]).unwrap();
    let v = ArrayD::from_shape_vec(IxDyn(&[1, 1, 2, 1]), vec![3.0, 4.0]).unwrap();
    let m = ArrayD::from_shape_vec(IxDyn(&[1, 2]), vec![false, false]).unwrap();
    let p = AttentionParams {
        scale: 1.0,
        softcap: 0.0,
        causal: false,
        offset: 0,
        left_window: -1,
        right_window: -1,
        result: AttentionResult::Output,
    };
    let y = attention(&q, &k, &v, Some(AttentionMask::Bool(&m)), &p);
    assert_eq!(y.into_raw_vec_and_offset().0, vec![0.0]);
}
