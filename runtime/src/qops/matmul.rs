//! qmatmul: the matrix product of two u8 activations (attention's `Q·Kᵀ` and `softmax·V`), the
//! centred codes multiplied and summed exactly in i32, requantized once by `S_a·S_b / S_y`.

use super::mul::MulParams;
use crate::ops::{batch_offsets, broadcast_shapes};
use crate::DType;
use ndarray::{ArrayD, IxDyn};

/// The longest inner dimension whose sum cannot leave i32: every product of centred u8 codes is
/// at most 255² in magnitude, and 33 025 · 255² < 2³¹. Beyond it the quantizer keeps the matmul
/// float; the sum here wraps as every qcc accumulator does.
pub const QMATMUL_MAX_K: usize = (i32::MAX as usize) / (255 * 255);

/// `y[…, m, n] = clamp(Z_y + mbqm(Σ_k (a[…, m, k] − Z_a)·(b[…, k, n] − Z_b), M, shift), lo, hi)`
/// for `a` of shape `[…, M, K]` and `b` of shape `[…, K, N]`, both of rank ≥ 2, their batch axes
/// broadcasting as numpy's `matmul`; `k` ascending, the sum wrapping modulo 2³².
pub fn qmatmul(a: &ArrayD<u8>, b: &ArrayD<u8>, p: &MulParams) -> ArrayD<u8> {
    let (sa, sb) = (a.shape(), b.shape());
    assert!(
        sa.len() >= 2 && sb.len() >= 2,
        "qmatmul: operands {sa:?} and {sb:?} must have at least two axes"
    );
    for z in [p.a_zero_point, p.b_zero_point] {
        assert!(
            (0..=255).contains(&z),
            "qmatmul: input zero point {z} is outside the u8 range"
        );
    }
    p.out.check("qmatmul", 1, DType::U8);
    let (ra, rb) = (sa.len(), sb.len());
    let (m, k, kb, n) = (sa[ra - 2], sa[ra - 1], sb[rb - 2], sb[rb - 1]);
    assert_eq!(
        k, kb,
        "qmatmul: inner dimensions of {sa:?} and {sb:?} differ"
    );
    let (a_batch, b_batch) = (&sa[..ra - 2], &sb[..rb - 2]);
    let batch = broadcast_shapes(a_batch, b_batch)
        .unwrap_or_else(|| panic!("qmatmul: batch axes of {sa:?} and {sb:?} do not broadcast"));
    let a = a.as_standard_layout();
    let b = b.as_standard_layout();
    let (ad, bd) = (
        a.as_slice().expect("standard layout"),
        b.as_slice().expect("standard layout"),
    );
    let count: usize = batch.iter().product();
    let mut out = vec![0u8; count * m * n];
    if m * n > 0 {
        let a_off = batch_offsets(a_batch, &batch, m * k);
        let b_off = batch_offsets(b_batch, &batch, k * n);
        let (za, zb) = (p.a_zero_point, p.b_zero_point);
        for ((dst, ao), bo) in out.chunks_exact_mut(m * n).zip(a_off).zip(b_off) {
            for (i, row) in dst.chunks_exact_mut(n).enumerate() {
                for (j, y) in row.iter_mut().enumerate() {
                    let mut acc = 0i32;
                    for t in 0..k {
                        let x = i32::from(ad[ao + i * k + t]) - za;
                        let w = i32::from(bd[bo + t * n + j]) - zb;
                        acc = acc.wrapping_add(x * w);
                    }
                    *y = p.out.apply(0, acc) as u8;
                }
            }
        }
    }
    let mut shape = batch;
    shape.extend([m, n]);
    ArrayD::from_shape_vec(IxDyn(&shape), out).expect("qmatmul: output size")
}
