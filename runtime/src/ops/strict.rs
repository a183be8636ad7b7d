//! Strict float kernels for the products (conv2d, conv_transpose2d, gemm, matmul): one f32
//! accumulator per output element, summed in a documented order with a separate multiply and add
//! (two roundings, never a fused multiply-add), so generated code can reproduce them bit for bit.
//! The fast kernels (`gemm` crate: FMA, blocked and CPU-dependent order) stay the default; the
//! interpreter uses these for the float ops left inside an integer graph (docs/ir.md, "Float ops
//! in an integer graph").
//!
//! Every accumulator starts at `+0.0`; a tap that falls in padding or outside the input is
//! skipped (not added as `0·w`); the bias is added last. Rust never contracts `a + b·c` into an
//! FMA, so `acc + x * w` below is exactly "round(x·w), then round(acc + that)".

use super::binary::broadcast_shapes;
use super::{ConvParams, ConvTransposeParams};
use ndarray::{ArrayD, IxDyn};

/// `y[n,o,i,j] = (Σ_{c, p, q} x[n, g·C/G + c, i·sh + p·dh − top, j·sw + q·dw − left] ·
/// w[o, c, p, q]) + b[o]`, the sum over `c`, then `p`, then `q` ascending (the weight's memory
/// order), skipping taps outside the input.
pub fn conv2d(
    x: &ArrayD<f32>,
    w: &ArrayD<f32>,
    b: Option<&ArrayD<f32>>,
    p: &ConvParams,
) -> ArrayD<f32> {
    let (xs, ws) = (x.shape().to_vec(), w.shape().to_vec());
    assert!(
        xs.len() == 4 && ws.len() == 4,
        "conv2d: input {xs:?} and weight {ws:?} must both be 4-D"
    );
    let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
    let (o, cg, kh, kw) = (ws[0], ws[1], ws[2], ws[3]);
    let groups = p.groups.max(1);
    assert!(
        cg * groups == c && o % groups == 0,
        "conv2d: input {xs:?} and weight {ws:?} do not fit {groups} groups"
    );
    let span = |len: usize, k: usize, axis: usize| {
        let padded = len + p.pads[axis] + p.pads[axis + 2];
        let reach = p.dilations[axis] * (k - 1) + 1;
        assert!(
            padded >= reach,
            "conv2d: kernel larger than the padded input"
        );
        (padded - reach) / p.strides[axis] + 1
    };
    let (ho, wo) = (span(h, kh, 0), span(wd, kw, 1));
    let x = x.as_standard_layout();
    let w = w.as_standard_layout();
    let (xd, wdat) = (
        x.as_slice().expect("standard"),
        w.as_slice().expect("standard"),
    );
    let bias: Option<Vec<f32>> = b.map(|b| b.iter().copied().collect());
    let og = o / groups;
    let mut out = vec![0.0f32; n * o * ho * wo];
    let mut k = 0;
    for img in 0..n {
        for oc in 0..o {
            let g = oc / og;
            for i in 0..ho {
                for j in 0..wo {
                    let mut acc = 0.0f32;
                    for ci in 0..cg {
                        let plane = (img * c + g * cg + ci) * h * wd;
                        for pi in 0..kh {
                            let y =
                                (i * p.strides[0] + pi * p.dilations[0]) as i64 - p.pads[0] as i64;
                            if y < 0 || y >= h as i64 {
                                continue;
                            }
                            for qi in 0..kw {
                                let xx = (j * p.strides[1] + qi * p.dilations[1]) as i64
                                    - p.pads[1] as i64;
                                if xx < 0 || xx >= wd as i64 {
                                    continue;
                                }
                                let xv = xd[plane + y as usize * wd + xx as usize];
                                let wv = wdat[((oc * cg + ci) * kh + pi) * kw + qi];
                                acc += xv * wv;
                            }
                        }
                    }
                    if let Some(b) = &bias {
                        acc += b[oc];
                    }
                    out[k] = acc;
                    k += 1;
                }
            }
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[n, o, ho, wo]), out).expect("conv2d: output size")
}

/// The transposed convolution as a gather: `y[n, g·O/G + o, i, j] = (Σ_{c, p, q} x[n, g·C/G + c,
/// (i + top − p·dh)/sh, (j + left − q·dw)/sw] · w[g·C/G + c, o, p, q]) + b[o]`, over the taps
/// whose input position is whole and inside the input, `c`, then `p`, then `q` ascending.
pub fn conv_transpose2d(
    x: &ArrayD<f32>,
    w: &ArrayD<f32>,
    b: Option<&ArrayD<f32>>,
    p: &ConvTransposeParams,
) -> ArrayD<f32> {
    let (xs, ws) = (x.shape().to_vec(), w.shape().to_vec());
    assert!(
        xs.len() == 4 && ws.len() == 4,
        "conv_transpose2d: input {xs:?} and weight {ws:?} must both be 4-D"
    );
    let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
    let (og, kh, kw) = (ws[1], ws[2], ws[3]);
    let groups = p.groups.max(1);
    assert!(
        ws[0] == c && c % groups == 0,
        "conv_transpose2d: input {xs:?} and weight {ws:?} do not fit {groups} groups"
    );
    let (cg, o) = (c / groups, og * groups);
    let out_len = |axis: usize, len: usize, k: usize| -> usize {
        p.out_len(axis, len, k).unwrap_or_else(|| {
            panic!("conv_transpose2d: input {xs:?}, weight {ws:?} and {p:?} give an empty output")
        })
    };
    let (ho, wo) = (out_len(0, h, kh), out_len(1, wd, kw));
    let x = x.as_standard_layout();
    let w = w.as_standard_layout();
    let (xd, wdat) = (
        x.as_slice().expect("standard"),
        w.as_slice().expect("standard"),
    );
    let bias: Option<Vec<f32>> = b.map(|b| b.iter().copied().collect());
    // The input index a tap reads, when whole and inside.
    let source = |out: usize, k: usize, axis: usize, len: usize| -> Option<usize> {
        let t = out as i64 + p.pads[axis] as i64 - (k * p.dilations[axis]) as i64;
        let s = p.strides[axis] as i64;
        (t >= 0 && t % s == 0 && t / s < len as i64).then(|| (t / s) as usize)
    };
    let mut out = vec![0.0f32; n * o * ho * wo];
    let mut k = 0;
    for img in 0..n {
        for oc in 0..o {
            let (g, oi) = (oc / og, oc % og);
            for i in 0..ho {
                for j in 0..wo {
                    let mut acc = 0.0f32;
                    for ci in 0..cg {
                        let cin = g * cg + ci;
                        for pi in 0..kh {
                            let Some(y) = source(i, pi, 0, h) else {
                                continue;
                            };
                            for qi in 0..kw {
                                let Some(xx) = source(j, qi, 1, wd) else {
                                    continue;
                                };
                                let xv = xd[((img * c + cin) * h + y) * wd + xx];
                                let wv = wdat[((cin * og + oi) * kh + pi) * kw + qi];
                                acc += xv * wv;
                            }
                        }
                    }
                    if let Some(b) = &bias {
                        acc += b[oc];
                    }
                    out[k] = acc;
                    k += 1;
                }
            }
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[n, o, ho, wo]), out).expect("conv_transpose2d: output size")
}

/// `y[m, n] = alpha·(Σ_k A'[m, k]·B'[k, n]) + beta·C[m, n]`, `k` ascending; the product by
/// `alpha` and the bias term are computed and added in that order (`beta == 0` or no `C`: no
/// bias term at all).
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
    let at = |m: usize, k: usize| if trans_a { a[[k, m]] } else { a[[m, k]] };
    let bt = |k: usize, n: usize| if trans_b { b[[n, k]] } else { b[[k, n]] };
    let (m, k) = if trans_a {
        (sa[1], sa[0])
    } else {
        (sa[0], sa[1])
    };
    let (kb, n) = if trans_b {
        (sb[1], sb[0])
    } else {
        (sb[0], sb[1])
    };
    assert_eq!(k, kb, "gemm: inner dimensions of {sa:?} and {sb:?} differ");
    let bias = c.filter(|_| beta != 0.0).map(|c| {
        c.broadcast(IxDyn(&[m, n])).unwrap_or_else(|| {
            panic!(
                "gemm: bias {:?} does not broadcast to [{m}, {n}]",
                c.shape()
            )
        })
    });
    let mut out = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f32;
            for p in 0..k {
                acc += at(i, p) * bt(p, j);
            }
            let mut y = alpha * acc;
            if let Some(bias) = &bias {
                y += beta * bias[[i, j]];
            }
            out.push(y);
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[m, n]), out).expect("gemm: output size")
}

/// numpy `matmul` with one accumulator per output element, `k` ascending (1-D operands promoted
/// as numpy does, batch axes broadcast).
pub fn matmul(a: &ArrayD<f32>, b: &ArrayD<f32>) -> ArrayD<f32> {
    let a2 = if a.ndim() == 1 {
        a.view().insert_axis(ndarray::Axis(0)).to_owned()
    } else {
        a.to_owned()
    };
    let b2 = if b.ndim() == 1 {
        b.view().insert_axis(ndarray::Axis(1)).to_owned()
    } else {
        b.to_owned()
    };
    let (ra, rb) = (a2.ndim(), b2.ndim());
    let (m, k) = (a2.shape()[ra - 2], a2.shape()[ra - 1]);
    let (kb, n) = (b2.shape()[rb - 2], b2.shape()[rb - 1]);
    assert_eq!(
        k,
        kb,
        "matmul: inner dimensions of {:?} and {:?} differ",
        a.shape(),
        b.shape()
    );
    let batch =
        broadcast_shapes(&a2.shape()[..ra - 2], &b2.shape()[..rb - 2]).unwrap_or_else(|| {
            panic!(
                "matmul: batch axes of {:?} and {:?} do not broadcast",
                a.shape(),
                b.shape()
            )
        });
    let full =
        |s: (usize, usize)| -> Vec<usize> { batch.iter().copied().chain([s.0, s.1]).collect() };
    let av = a2.broadcast(IxDyn(&full((m, k)))).expect("broadcast");
    let bv = b2.broadcast(IxDyn(&full((k, n)))).expect("broadcast");
    let count: usize = batch.iter().product();
    let av = av.to_shape((count, m, k)).expect("reshape").to_owned();
    let bv = bv.to_shape((count, k, n)).expect("reshape").to_owned();
    let mut out = Vec::with_capacity(count * m * n);
    for t in 0..count {
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0f32;
                for p in 0..k {
                    acc += av[[t, i, p]] * bv[[t, p, j]];
                }
                out.push(acc);
            }
        }
    }
    let mut shape = batch.clone();
    if a.ndim() != 1 {
        shape.push(m);
    }
    if b.ndim() != 1 {
        shape.push(n);
    }
    ArrayD::from_shape_vec(IxDyn(&shape), out).expect("matmul: output size")
}
