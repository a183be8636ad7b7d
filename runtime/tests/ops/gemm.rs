//! gemm (ONNX Gemm) and matmul (numpy matmul) against explicit triple loops.

use crate::common::*;
use ndarray::{ArrayD, Dimension, IxDyn};
use proptest::prelude::*;
use runtime::ops::{gemm, matmul};

#[derive(Clone, Debug)]
struct GemmCase {
    a: ArrayD<f32>,
    b: ArrayD<f32>,
    c: Option<ArrayD<f32>>,
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
}

fn gemm_case() -> impl Strategy<Value = GemmCase> {
    let dims = (
        1..=9usize,
        0..=9usize,
        1..=9usize,
        any::<bool>(),
        any::<bool>(),
    );
    let scalars = (
        prop_oneof![Just(1.0f32), -2.0f32..2.0],
        prop_oneof![Just(0.0f32), Just(1.0), -2.0f32..2.0],
    );
    // Bias shapes that broadcast to [M, N]: none, scalar, [N], [1, N], [M, 1], [M, N].
    (dims, scalars, 0..6usize).prop_flat_map(|((m, k, n, ta, tb), (alpha, beta), c_kind)| {
        let a = tensor(if ta { vec![k, m] } else { vec![m, k] });
        let b = tensor(if tb { vec![n, k] } else { vec![k, n] });
        let c_shape = match c_kind {
            1 => Some(vec![]),
            2 => Some(vec![n]),
            3 => Some(vec![1, n]),
            4 => Some(vec![m, 1]),
            5 => Some(vec![m, n]),
            _ => None,
        };
        let c = match c_shape {
            Some(s) => tensor(s).prop_map(Some).boxed(),
            None => Just(None).boxed(),
        };
        (a, b, c).prop_map(move |(a, b, c)| GemmCase {
            a,
            b,
            c,
            alpha,
            beta,
            trans_a: ta,
            trans_b: tb,
        })
    })
}

fn naive_gemm(g: &GemmCase) -> ArrayD<Want> {
    let at = |i: usize, k: usize| if g.trans_a { g.a[[k, i]] } else { g.a[[i, k]] } as f64;
    let bt = |k: usize, j: usize| if g.trans_b { g.b[[j, k]] } else { g.b[[k, j]] } as f64;
    let (m, k) = if g.trans_a {
        (g.a.shape()[1], g.a.shape()[0])
    } else {
        (g.a.shape()[0], g.a.shape()[1])
    };
    let n = if g.trans_b {
        g.b.shape()[0]
    } else {
        g.b.shape()[1]
    };
    ArrayD::from_shape_fn(IxDyn(&[m, n]), |i| {
        let (i, j) = (i[0], i[1]);
        let mut dot = Want::default();
        (0..k).for_each(|t| dot.add(at(i, t) * bt(t, j)));
        let mut out = Want {
            value: g.alpha as f64 * dot.value,
            mag: (g.alpha as f64 * dot.mag).abs(),
        };
        if let Some(c) = &g.c {
            // Right-aligned broadcast of the bias.
            let cv = match c.ndim() {
                0 => c[IxDyn(&[])],
                1 => c[[j]],
                _ => {
                    c[[
                        if c.shape()[0] == 1 { 0 } else { i },
                        if c.shape()[1] == 1 { 0 } else { j },
                    ]]
                }
            };
            out.add(g.beta as f64 * cv as f64);
        }
        out
    })
}

/// Two matmul operands: 1-D or with broadcastable batch axes.
fn matmul_case() -> impl Strategy<Value = (ArrayD<f32>, ArrayD<f32>)> {
    let batch = prop::collection::vec((1..=3usize, any::<bool>(), any::<bool>()), 0..=2);
    let vector = (prop::bool::weighted(0.2), prop::bool::weighted(0.2));
    (
        batch,
        0..=2usize,
        0..=2usize,
        vector,
        (1..=5usize, 0..=5usize, 1..=5usize),
    )
        .prop_flat_map(|(batch, drop_a, drop_b, (vec_a, vec_b), (m, k, n))| {
            // Each operand keeps a suffix of the batch axes, some collapsed to 1, or is 1-D.
            let side = |drop: usize, which: usize, last: [usize; 2]| -> Vec<usize> {
                let kept = &batch[drop.min(batch.len())..];
                kept.iter()
                    .map(|&(d, one_a, one_b)| if [one_a, one_b][which] { 1 } else { d })
                    .chain(last)
                    .collect()
            };
            let a_shape = if vec_a {
                vec![k]
            } else {
                side(drop_a, 0, [m, k])
            };
            let b_shape = if vec_b {
                vec![k]
            } else {
                side(drop_b, 1, [k, n])
            };
            (tensor(a_shape), tensor(b_shape))
        })
}

fn naive_matmul(a: &ArrayD<f32>, b: &ArrayD<f32>) -> ArrayD<Want> {
    // Promote 1-D operands, then broadcast the batch axes right-aligned.
    let a2 = if a.ndim() == 1 {
        a.clone()
            .into_shape_with_order(IxDyn(&[1, a.len()]))
            .unwrap()
    } else {
        a.clone()
    };
    let b2 = if b.ndim() == 1 {
        b.clone()
            .into_shape_with_order(IxDyn(&[b.len(), 1]))
            .unwrap()
    } else {
        b.clone()
    };
    let (ra, rb) = (a2.ndim(), b2.ndim());
    let (m, k, n) = (a2.shape()[ra - 2], a2.shape()[ra - 1], b2.shape()[rb - 1]);
    let rank = ra.max(rb);
    let batch_dim =
        |s: &[usize], i: usize, r: usize| if i + r >= rank { s[i + r - rank] } else { 1 };
    let batch: Vec<usize> = (0..rank - 2)
        .map(|i| batch_dim(a2.shape(), i, ra).max(batch_dim(b2.shape(), i, rb)))
        .collect();
    let mut shape = batch.clone();
    shape.extend([m, n]);
    let full = ArrayD::from_shape_fn(IxDyn(&shape), |idx| {
        let idx = idx.slice();
        let index_in = |x: &ArrayD<f32>, row: usize, col: usize| {
            let r = x.ndim();
            let mut j: Vec<usize> = (0..r - 2)
                .map(|a| {
                    if x.shape()[a] == 1 {
                        0
                    } else {
                        idx[a + rank - r]
                    }
                })
                .collect();
            j.extend([row, col]);
            x[IxDyn(&j)] as f64
        };
        let (i, jj) = (idx[rank - 2], idx[rank - 1]);
        let mut dot = Want::default();
        (0..k).for_each(|t| dot.add(index_in(&a2, i, t) * index_in(&b2, t, jj)));
        dot
    });
    // Drop the promoted axes again.
    let mut out_shape = batch;
    if a.ndim() > 1 {
        out_shape.push(m);
    }
    if b.ndim() > 1 {
        out_shape.push(n);
    }
    full.into_shape_with_order(IxDyn(&out_shape)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn gemm_matches_onnx_definition(g in gemm_case()) {
        let got = gemm(&g.a, &g.b, g.c.as_ref(), g.alpha, g.beta, g.trans_a, g.trans_b);
        check_close(&got, &naive_gemm(&g), SUM_TOL)?;
        let strict = runtime::ops::strict::gemm(&g.a, &g.b, g.c.as_ref(), g.alpha, g.beta, g.trans_a, g.trans_b);
        check_close(&strict, &naive_gemm(&g), SUM_TOL)?;
    }

    #[test]
    fn matmul_matches_numpy((a, b) in matmul_case()) {
        check_close(&matmul(&a, &b), &naive_matmul(&a, &b), SUM_TOL)?;
        check_close(&runtime::ops::strict::matmul(&a, &b), &naive_matmul(&a, &b), SUM_TOL)?;
    }
}

#[test]
fn matmul_vector_cases() {
    let v = ArrayD::from_shape_vec(IxDyn(&[3]), vec![1.0f32, 2.0, 3.0]).unwrap();
    let m = ArrayD::from_shape_vec(IxDyn(&[3, 2]), vec![1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0]).unwrap();
    let vm = matmul(&v, &m);
    assert_eq!(vm.shape(), &[2]);
    assert_eq!(vm.into_raw_vec_and_offset().0, vec![4.0, 5.0]);
    let vv = matmul(&v, &v);
    assert_eq!(vv.shape(), &[] as &[usize]);
    assert_eq!(vv[IxDyn(&[])], 14.0);
}
