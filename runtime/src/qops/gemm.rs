//! qgemm: the integer matrix product of u8 activations with a constant i8 matrix
//! quantized per output column, i32 bias, one requantization per column.
//!
//! As in qconv2d, the activations' zero point moves into the bias (`c − Z_a·Σ_k b[k, n]`), and
//! the products are the tiled dot products of [`super::igemm`] (rows of `bᵀ` with rows of `a`).

use super::conv::folded_bias;
use super::igemm::dot_all;
use super::Requant;
use crate::DType;
use ndarray::{ArrayD, IxDyn};

/// `y[m, n] = requant_n(c[n] + Σ_k (a[m, k] − Z_a) · b'[k, n])` modulo 2³², where `b'` is `b`
/// (`[K, N]`) or, with `trans_b`, its transpose (`b` is `[N, K]`); `c` is `[N]` (absent: 0).
pub fn qgemm(
    a: &ArrayD<u8>,
    a_zero_point: i32,
    b: &ArrayD<i8>,
    c: Option<&ArrayD<i32>>,
    trans_b: bool,
    rq: &Requant,
) -> ArrayD<u8> {
    let (sa, sb) = (a.shape(), b.shape());
    assert!(
        sa.len() == 2 && sb.len() == 2,
        "qgemm: operands {sa:?} and {sb:?} must be 2-D"
    );
    let (m, k) = (sa[0], sa[1]);
    let kb = if trans_b { sb[1] } else { sb[0] };
    assert_eq!(
        k, kb,
        "qgemm: inner dimensions of {sa:?} and {sb:?} (trans_b {trans_b}) differ"
    );
    let a = a.as_standard_layout();
    products(
        "qgemm",
        a.as_slice().expect("standard layout"),
        m,
        k,
        a_zero_point,
        b,
        trans_b,
        c,
        rq,
    )
}

#[allow(clippy::too_many_arguments)]
fn products(
    op: &str,
    a: &[u8],
    m: usize,
    k: usize,
    za: i32,
    b: &ArrayD<i8>,
    trans_b: bool,
    c: Option<&ArrayD<i32>>,
    rq: &Requant,
) -> ArrayD<u8> {
    assert!(
        (0..=255).contains(&za),
        "{op}: zero point {za} of a is outside the u8 range"
    );
    let sb = b.shape();
    let n = if trans_b { sb[0] } else { sb[1] };
    rq.check(op, n, DType::U8);
    // bᵀ, one row per output column, as i16.
    let b = b.as_standard_layout();
    let bd = b.as_slice().expect("standard layout");
    let mut lhs = vec![0i16; n * k];
    for (col, dst) in lhs.chunks_exact_mut(k.max(1)).enumerate().take(n) {
        for (t, d) in dst.iter_mut().enumerate() {
            *d = i16::from(if trans_b {
                bd[col * k + t]
            } else {
                bd[t * n + col]
            });
        }
    }
    let bias = folded_bias(&lhs, c, za, n, op);
    let rhs: Vec<i16> = a.iter().map(|&v| i16::from(v)).collect();
    let mut out = vec![0u8; m * n];
    dot_all(n, m, k, &lhs, &rhs, |col, row, acc| {
        out[row * n + col] = rq.apply(col, bias[col].wrapping_add(acc)) as u8
    });
    ArrayD::from_shape_vec(IxDyn(&[m, n]), out).expect("qgemm: output size")
}
