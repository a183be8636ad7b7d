//! Batch normalization in inference form (ONNX BatchNormalization with running statistics).

use ndarray::{ArrayD, Axis};

/// `(x − mean) / √(var + eps) · gamma + beta`, channel by channel along axis 1 of an input of
/// rank ≥ 2; the per-channel parameters are 1-D of length C.
pub fn batch_norm(
    x: &ArrayD<f32>,
    gamma: &ArrayD<f32>,
    beta: &ArrayD<f32>,
    mean: &ArrayD<f32>,
    var: &ArrayD<f32>,
    eps: f32,
) -> ArrayD<f32> {
    assert!(
        x.ndim() >= 2,
        "batch_norm: input {:?} needs at least 2 axes",
        x.shape()
    );
    let c = x.shape()[1];
    for (name, p) in [
        ("gamma", gamma),
        ("beta", beta),
        ("mean", mean),
        ("var", var),
    ] {
        assert_eq!(
            p.len(),
            c,
            "batch_norm: {name} {:?} does not match input {:?} with {c} channels",
            p.shape(),
            x.shape()
        );
    }
    let params = |p: &ArrayD<f32>| p.iter().copied().collect::<Vec<f32>>();
    let (g, b, m) = (params(gamma), params(beta), params(mean));
    let denom: Vec<f32> = var.iter().map(|&v| (v + eps).sqrt()).collect();
    let mut out = x.as_standard_layout().into_owned();
    for mut image in out.outer_iter_mut() {
        for (ch, mut plane) in image.axis_iter_mut(Axis(0)).enumerate() {
            let (gc, bc, mc, dc) = (g[ch], b[ch], m[ch], denom[ch]);
            plane.mapv_inplace(|v| (v - mc) / dc * gc + bc);
        }
    }
    out
}
