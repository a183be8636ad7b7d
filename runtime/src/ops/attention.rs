//! ONNX Attention (opsets 23–25) on 4-D f32 tensors: `softmax(softcap(q·kᵀ) + bias)·v` per
//! batch and head, with grouped key/value heads, the additive bias made of a float or boolean
//! mask, the causal frontier and the sliding window, and the fully-masked-row guard of the ONNX
//! reference (a query with no attendable key gets zeros, not NaN).

use ndarray::{ArrayD, IxDyn};

/// A mask as the model gives it: additive floats, or booleans (true = attend). Its last axis
/// may be shorter than the keys; the missing keys are masked.
#[derive(Clone, Copy, Debug)]
pub enum AttentionMask<'a> {
    Float(&'a ArrayD<f32>),
    Bool(&'a ArrayD<bool>),
}

/// Which result the op computes: `Y`, or ONNX's `qk_matmul_output` at one of its stages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttentionResult {
    /// `softmax(…)·v`, `[batch, q_heads, q_len, v_head_size]`.
    Output,
    /// The scaled, soft-capped scores before the bias, `[batch, q_heads, q_len, kv_len]`.
    Scores,
    /// The scores with the bias added.
    BiasedScores,
    /// The probabilities after the softmax (and the fully-masked-row guard).
    Probabilities,
}

#[derive(Clone, Copy, Debug)]
pub struct AttentionParams {
    /// The factor on q·kᵀ; like the reference, √scale multiplies q and k each.
    pub scale: f32,
    /// `softcap · tanh(s / softcap)` on the scores when positive.
    pub softcap: f32,
    pub causal: bool,
    /// Keys cached before this block of queries: query `i` is at position `i + offset` for the
    /// causal frontier and the window.
    pub offset: i64,
    /// A query at position p attends keys from `p − left` to `p + right`; −1 leaves a side open.
    pub left_window: i64,
    pub right_window: i64,
    pub result: AttentionResult,
}

/// The element of a mask of any rank ≤ 4 broadcast (right-aligned) against
/// `[batch, heads, q_len, kv_len]`, or `None` past its last axis (a key it does not cover).
fn mask_index(shape: &[usize], at: [usize; 4]) -> Option<Vec<usize>> {
    let r = shape.len();
    if at[3] >= shape[r - 1] {
        return None;
    }
    Some(
        (0..r)
            .map(|a| {
                let i = at[4 - r + a];
                if shape[a] == 1 {
                    0
                } else {
                    i
                }
            })
            .collect(),
    )
}

/// Checks the shapes: q `[b, hq, s, d]`, k `[b, hk, t, d]`, v `[b, hk, t, dv]`, `hq` a multiple of
/// `hk`; a mask of rank 1–4 that broadcasts against `[b, hq, s, ≤t]`.
pub fn attention_shape(
    q: &[usize],
    k: &[usize],
    v: &[usize],
    mask: Option<&[usize]>,
    result: AttentionResult,
) -> Result<Vec<usize>, String> {
    if q.len() != 4 || k.len() != 4 || v.len() != 4 {
        return Err(format!(
            "q {q:?}, k {k:?} and v {v:?} must be 4-D [batch, heads, sequence, head size]"
        ));
    }
    let (b, hq, s, d) = (q[0], q[1], q[2], q[3]);
    if k[0] != b || v[0] != b {
        return Err(format!("q {q:?}, k {k:?} and v {v:?} differ in batch size"));
    }
    if k[3] != d {
        return Err(format!("q {q:?} and k {k:?} differ in head size"));
    }
    if v[1] != k[1] || v[2] != k[2] {
        return Err(format!(
            "k {k:?} and v {v:?} differ in heads or sequence length"
        ));
    }
    if k[1] == 0 || hq % k[1] != 0 {
        return Err(format!(
            "q has {hq} heads, not a multiple of k's {} (grouped-query attention)",
            k[1]
        ));
    }
    let t = k[2];
    if let Some(m) = mask {
        let full = [b, hq, s, t];
        let fits = !m.is_empty()
            && m.len() <= 4
            && m[m.len() - 1] <= t
            && m.iter()
                .rev()
                .skip(1)
                .zip(full.iter().rev().skip(1))
                .all(|(&md, &fd)| md == 1 || md == fd);
        if !fits {
            return Err(format!(
                "the mask {m:?} does not broadcast against [batch, heads, q_len, kv_len] = {full:?}"
            ));
        }
    }
    Ok(match result {
        AttentionResult::Output => vec![b, hq, s, v[3]],
        _ => vec![b, hq, s, t],
    })
}

/// The attention of 4-D `q`, `k`, `v` (shapes as [`attention_shape`] checks; panics otherwise).
pub fn attention(
    q: &ArrayD<f32>,
    k: &ArrayD<f32>,
    v: &ArrayD<f32>,
    mask: Option<AttentionMask<'_>>,
    p: &AttentionParams,
) -> ArrayD<f32> {
    let mask_shape = mask.map(|m| match m {
        AttentionMask::Float(a) => a.shape().to_vec(),
        AttentionMask::Bool(a) => a.shape().to_vec(),
    });
    let out_shape = attention_shape(
        q.shape(),
        k.shape(),
        v.shape(),
        mask_shape.as_deref(),
        p.result,
    )
    .unwrap_or_else(|m| panic!("attention: {m}"));
    let (b, hq, s, d) = (q.shape()[0], q.shape()[1], q.shape()[2], q.shape()[3]);
    let (hk, t, dv) = (k.shape()[1], k.shape()[2], v.shape()[3]);
    let group = hq / hk;
    let root = p.scale.sqrt();
    let q = q.mapv(|x| x * root);
    let k = k.mapv(|x| x * root);
    let (q, k, v) = (
        q.as_standard_layout(),
        k.as_standard_layout(),
        v.as_standard_layout(),
    );
    let (qs, ks, vs) = (
        q.as_slice().expect("standard layout"),
        k.as_slice().expect("standard layout"),
        v.as_slice().expect("standard layout"),
    );
    let mut out = Vec::with_capacity(out_shape.iter().product());
    let mut scores = vec![0f32; t];
    let mut bias = vec![0f32; t];
    for bi in 0..b {
        for h in 0..hq {
            let kh = h / group;
            let kv = (bi * hk + kh) * t;
            for i in 0..s {
                let qrow = &qs[((bi * hq + h) * s + i) * d..][..d];
                for (j, sc) in scores.iter_mut().enumerate() {
                    let krow = &ks[(kv + j) * d..][..d];
                    let dot: f32 = qrow.iter().zip(krow).map(|(a, b)| a * b).sum();
                    *sc = if p.softcap > 0.0 {
                        (dot / p.softcap).tanh() * p.softcap
                    } else {
                        dot
                    };
                }
                let pos = i as i64 + p.offset;
                for (j, bj) in bias.iter_mut().enumerate() {
                    let mut x = match (mask, &mask_shape) {
                        (Some(m), Some(shape)) => match mask_index(shape, [bi, h, i, j]) {
                            None => f32::NEG_INFINITY,
                            Some(at) => match m {
                                AttentionMask::Float(a) => a[IxDyn(&at)],
                                AttentionMask::Bool(a) => {
                                    if a[IxDyn(&at)] {
                                        0.0
                                    } else {
                                        f32::NEG_INFINITY
                                    }
                                }
                            },
                        },
                        _ => 0.0,
                    };
                    let j = j as i64;
                    let hidden = (p.causal && j > pos)
                        || (p.left_window >= 0 && pos - j > p.left_window)
                        || (p.right_window >= 0 && j - pos > p.right_window);
                    if hidden {
                        x += f32::NEG_INFINITY;
                    }
                    *bj = x;
                }
                if p.result == AttentionResult::Scores {
                    out.extend_from_slice(&scores);
                    continue;
                }
                for (sc, bj) in scores.iter_mut().zip(&bias) {
                    *sc += bj;
                }
                if p.result == AttentionResult::BiasedScores {
                    out.extend_from_slice(&scores);
                    continue;
                }
                softmax_row(&mut scores);
                // A query whose every key is masked attends nothing: zeros, whatever its scores.
                if bias.iter().all(|&x| x == f32::NEG_INFINITY) {
                    scores.iter_mut().for_each(|x| *x = 0.0);
                }
                if p.result == AttentionResult::Probabilities {
                    out.extend_from_slice(&scores);
                    continue;
                }
                for c in 0..dv {
                    let y: f32 = scores
                        .iter()
                        .enumerate()
                        .map(|(j, &w)| w * vs[(kv + j) * dv + c])
                        .sum();
                    out.push(y);
                }
            }
        }
    }
    ArrayD::from_shape_vec(IxDyn(&out_shape), out).expect("attention: one value per output")
}

/// The reference's softmax of one row: the maximum subtracted first (NaN if any score is NaN),
/// and a row of −∞ gives zeros rather than NaN.
fn softmax_row(x: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| {
        if v.is_nan() || m.is_nan() {
            f32::NAN
        } else {
            m.max(v)
        }
    });
    let shift = if max == f32::NEG_INFINITY { 0.0 } else { max };
    let mut sum = 0f32;
    for v in x.iter_mut() {
        *v = (*v - shift).exp();
        sum += *v;
    }
    let sum = if sum == 0.0 { 1.0 } else { sum };
    x.iter_mut().for_each(|v| *v /= sum);
}
