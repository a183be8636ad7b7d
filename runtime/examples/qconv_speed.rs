//! Times the integer `qconv2d` on the convolutions of ResNet-18 at 224×224 (batch 1, single
//! thread) and prints GMAC/s per layer and for the whole set:
//! `cargo run --release -p qcc-runtime --example qconv_speed`.

use ndarray::{ArrayD, IxDyn};
use runtime::ops::ConvParams;
use runtime::qops::{qconv2d, Requant};
use std::time::Instant;

struct Layer {
    name: &'static str,
    c: usize,
    /// Input height and width.
    hw: usize,
    o: usize,
    k: usize,
    stride: usize,
    pad: usize,
    groups: usize,
    /// How many times the layer occurs in ResNet-18 (0: not part of it).
    times: usize,
}

#[allow(clippy::too_many_arguments)]
const fn layer(
    name: &'static str,
    c: usize,
    hw: usize,
    o: usize,
    k: usize,
    stride: usize,
    pad: usize,
    groups: usize,
    times: usize,
) -> Layer {
    Layer {
        name,
        c,
        hw,
        o,
        k,
        stride,
        pad,
        groups,
        times,
    }
}

const LAYERS: &[Layer] = &[
    layer("conv1 7x7/2", 3, 224, 64, 7, 2, 3, 1, 1),
    layer("layer1 3x3", 64, 56, 64, 3, 1, 1, 1, 4),
    layer("layer2 3x3/2", 64, 56, 128, 3, 2, 1, 1, 1),
    layer("layer2 3x3", 128, 28, 128, 3, 1, 1, 1, 3),
    layer("layer2 1x1/2", 64, 56, 128, 1, 2, 0, 1, 1),
    layer("layer3 3x3/2", 128, 28, 256, 3, 2, 1, 1, 1),
    layer("layer3 3x3", 256, 14, 256, 3, 1, 1, 1, 3),
    layer("layer3 1x1/2", 128, 28, 256, 1, 2, 0, 1, 1),
    layer("layer4 3x3/2", 256, 14, 512, 3, 2, 1, 1, 1),
    layer("layer4 3x3", 512, 7, 512, 3, 1, 1, 1, 3),
    layer("layer4 1x1/2", 256, 14, 512, 1, 2, 0, 1, 1),
    // Not in ResNet-18: pointwise and depthwise layers as MobileNetV2 has them.
    layer("mbv2 1x1", 96, 56, 24, 1, 1, 0, 1, 0),
    layer("mbv2 dw 3x3", 144, 56, 144, 3, 1, 1, 144, 0),
    layer("mbv2 dw 3x3/2", 144, 56, 144, 3, 2, 1, 144, 0),
];

/// Deterministic xorshift values, without a random-number crate.
fn filled<T>(shape: &[usize], seed: u32, f: impl Fn(u32) -> T) -> ArrayD<T> {
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
    ArrayD::from_shape_fn(IxDyn(shape), |_| {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        f(s)
    })
}

fn main() {
    // The best of many runs: the machine is shared, and the minimum is the least disturbed.
    let reps = 30;
    let (mut total_s, mut total_mac) = (0.0f64, 0.0f64);
    for &Layer {
        name,
        c,
        hw,
        o,
        k,
        stride: s,
        pad,
        groups,
        times,
    } in LAYERS
    {
        let x = filled(&[1, c, hw, hw], 1, |v| (v >> 24) as u8);
        let w = filled(&[o, c / groups, k, k], 2, |v| ((v >> 24) % 255) as i8 - 127);
        let b = filled(&[o], 3, |v| (v >> 20) as i32 - 2048);
        let p = ConvParams {
            strides: [s, s],
            pads: [pad; 4],
            dilations: [1, 1],
            groups,
        };
        let reals: Vec<f64> = (0..o).map(|i| 1e-4 * (1.0 + i as f64 / o as f64)).collect();
        let rq = Requant::from_real(&reals, 3, 3, 255).expect("plausible multipliers");
        let y = qconv2d(&x, 128, &w, Some(&b), &p, &rq);
        let best = (0..reps)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(qconv2d(&x, 128, &w, Some(&b), &p, &rq));
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        let out = y.shape();
        let mac = (out[1] * out[2] * out[3] * (c / groups) * k * k) as f64;
        println!(
            "{name:>14}: {:>7.3} ms  {:>6.1} GMAC/s  ({:?} -> {:?})",
            best * 1e3,
            mac / best / 1e9,
            x.shape(),
            out
        );
        total_s += best * times as f64;
        total_mac += mac * times as f64;
    }
    println!(
        "ResNet-18 convolutions: {:.1} ms, {:.2} GMAC, {:.1} GMAC/s",
        total_s * 1e3,
        total_mac / 1e9,
        total_mac / total_s / 1e9
    );
}
