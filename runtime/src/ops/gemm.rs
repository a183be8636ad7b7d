//! Matrix products: ONNX Gemm (2-D, optional transposes, scaled bias) and MatMul (numpy
//! semantics: 1-D promotion and batch broadcasting).

use super::binary::broadcast_shapes;
use super::sgemm::{sgemm, Mat, Store};
use ndarray::{ArrayD, IxDyn};

/// `alpha·A'·B' + beta·C` where `A'` is `a` or its transpose (`[M, K]`), `B'` is `b` or its
/// transpose (`[K, N]`) and `c` broadcasts to `[M, N]`. With `beta == 0` the bias is not read.
pub fn gemm(
    a: &ArrayD<f32>,
    b: &ArrayD<f32>,
    c: Option<&ArrayD<f32>>,
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
) -> ArrayD<f32> {
    let (sa, sb) = (a.shape(), b.shape());
    assert!(
        sa.len() == 2 && sb.len() == 2,
        "gemm: operands {sa:?} and {sb:?} must be 2-D"
    );
    // A transposed operand is the same buffer read with its strides swapped.
    let (m, k, a_rs, a_cs) = if trans_a {
        (sa[1], sa[0], 1, sa[1])
    } else {
        (sa[0], sa[1], sa[1], 1)
    };
    let (kb, n, b_rs, b_cs) = if trans_b {
        (sb[1], sb[0], 1, sb[1])
    } else {
        (sb[0], sb[1], sb[1], 1)
    };
    assert_eq!(
        k, kb,
        "gemm: inner dimensions of {sa:?} (trans {trans_a}) and {sb:?} (trans {trans_b}) differ"
    );
    let bias = c.map(|c| {
        c.broadcast(IxDyn(&[m, n])).unwrap_or_else(|| {
            panic!(
                "gemm: bias {:?} does not broadcast to [{m}, {n}]",
                c.shape()
            )
        })
    });
    let a = a.as_standard_layout();
    let b = b.as_standard_layout();
    let lhs = Mat {
        data: a.as_slice().expect("standard layout"),
        rs: a_rs,
        cs: a_cs,
    };
    let rhs = Mat {
        data: b.as_slice().expect("standard layout"),
        rs: b_rs,
        cs: b_cs,
    };
    let (mut out, store) = match bias {
        Some(bias) if beta != 0.0 => (
            bias.iter().copied().collect(),
            Store::Accumulate {
                dst_scale: beta,
                prod_scale: alpha,
            },
        ),
        _ => (
            vec![0.0; m * n],
            Store::Accumulate {
                dst_scale: 0.0,
                prod_scale: alpha,
            },
        ),
    };
    sgemm(m, n, k, lhs, rhs, &mut out, n, store);
    ArrayD::from_shape_vec(IxDyn(&[m, n]), out).expect("gemm: output size")
}

/// numpy `matmul`: the last two axes multiply as matrices, the leading (batch) axes broadcast.
/// A 1-D left operand acts as one row and a 1-D right operand as one column; the promoted axis
/// is dropped from the result.
pub fn matmul(a: &ArrayD<f32>, b: &ArrayD<f32>) -> ArrayD<f32> {
    let (sa, sb) = (a.shape(), b.shape());
    assert!(
        !sa.is_empty() && !sb.is_empty(),
        "matmul: operands {sa:?} and {sb:?} must have at least one axis"
    );
    let a_mat: Vec<usize> = if sa.len() == 1 {
        vec![1, sa[0]]
    } else {
        sa.to_vec()
    };
    let b_mat: Vec<usize> = if sb.len() == 1 {
        vec![sb[0], 1]
    } else {
        sb.to_vec()
    };
    let (ra, rb) = (a_mat.len(), b_mat.len());
    let (m, k, kb, n) = (a_mat[ra - 2], a_mat[ra - 1], b_mat[rb - 2], b_mat[rb - 1]);
    assert_eq!(
        k, kb,
        "matmul: inner dimensions of {sa:?} and {sb:?} differ"
    );
    let (a_batch, b_batch) = (&a_mat[..ra - 2], &b_mat[..rb - 2]);
    let batch = broadcast_shapes(a_batch, b_batch)
        .unwrap_or_else(|| panic!("matmul: batch axes of {sa:?} and {sb:?} do not broadcast"));
    let count: usize = batch.iter().product();

    let a = a.as_standard_layout();
    let b = b.as_standard_layout();
    let (ad, bd) = (
        a.as_slice().expect("standard layout"),
        b.as_slice().expect("standard layout"),
    );
    let mut out = vec![0.0f32; count * m * n];
    if b_batch.iter().product::<usize>() == 1 {
        // One right matrix for every batch: the stacked left matrices form one tall product.
        sgemm(
            count * m,
            n,
            k,
            Mat::rows(ad, k),
            Mat::rows(bd, n),
            &mut out,
            n,
            Store::Overwrite,
        );
    } else if m * n > 0 {
        let a_off = batch_offsets(a_batch, &batch, m * k);
        let b_off = batch_offsets(b_batch, &batch, k * n);
        for ((dst, ao), bo) in out.chunks_exact_mut(m * n).zip(a_off).zip(b_off) {
            sgemm(
                m,
                n,
                k,
                Mat::rows(&ad[ao..][..m * k], k),
                Mat::rows(&bd[bo..][..k * n], n),
                dst,
                n,
                Store::Overwrite,
            );
        }
    }

    let mut shape = batch;
    if sa.len() > 1 {
        shape.push(m);
    }
    if sb.len() > 1 {
        shape.push(n);
    }
    ArrayD::from_shape_vec(IxDyn(&shape), out).expect("matmul: output size")
}

/// For each batch index of `out` (row-major), the offset of the matching `block`-sized matrix in
/// an operand whose batch shape `shape` broadcasts to `out`.
pub fn batch_offsets(shape: &[usize], out: &[usize], block: usize) -> Vec<usize> {
    let lead = out.len() - shape.len();
    // Row-major strides of the operand, zero along broadcast (length-1 or missing) axes.
    let mut strides = vec![0usize; out.len()];
    let mut s = block;
    for i in (0..shape.len()).rev() {
        strides[lead + i] = if shape[i] == 1 { 0 } else { s };
        s *= shape[i];
    }
    let count: usize = out.iter().product();
    let mut idx = vec![0usize; out.len()];
    let mut offsets = Vec::with_capacity(count);
    let mut off = 0;
    for _ in 0..count {
        offsets.push(off);
        // Advance the multi-index like an odometer, keeping the offset in step.
        for ax in (0..out.len()).rev() {
            idx[ax] += 1;
            off += strides[ax];
            if idx[ax] < out[ax] {
                break;
            }
            off -= strides[ax] * idx[ax];
            idx[ax] = 0;
        }
    }
    offsets
}
