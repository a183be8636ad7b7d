//! Quantization parameters: hand cases as one-line data through one `check` per kind (activation
//! ranges, weights, biases), and properties against the naive formulas.

use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use qcc::ir::types::{ElemType, QuantType, TensorType};
use qcc::quant::params::{self, Chosen, WeightBits, MIN_SCALE};
use qcc::Result;

/// `scales / zero points / axis`, then the warnings, or the error.
fn describe(r: Result<Chosen>) -> String {
    match r {
        Err(e) => e.to_string(),
        Ok(c) => {
            let p = &c.params;
            let mut s = format!(
                "{} scales {:?} zps {:?} axis {:?}",
                p.storage, p.scales, p.zero_points, p.axis
            );
            for w in &c.warnings {
                s.push_str(&format!("; warning: {w}"));
            }
            s
        }
    }
}

fn check_activation(range: (f32, f32), expected: &str) {
    assert_eq!(
        describe(params::activation("t", range)),
        expected,
        "range {range:?}"
    );
}

#[test]
fn activation_ranges() {
    check_activation((0.0, 2.55), "u8 scales [0.01] zps [0] axis None");
    // 127.5 rounds half to even.
    check_activation((-1.0, 1.0), "u8 scales [0.007843138] zps [128] axis None");
    check_activation((-0.5, 1.5), "u8 scales [0.007843138] zps [64] axis None");
    // Ranges that do not contain 0 are widened to it.
    check_activation((1.0, 3.0), "u8 scales [0.011764706] zps [0] axis None");
    check_activation((-3.0, -1.0), "u8 scales [0.011764706] zps [255] axis None");
    check_activation((2.5, 2.5), "u8 scales [0.009803922] zps [0] axis None");
    // Degenerate: all zeros, and a span too small for a sane scale.
    check_activation((0.0, 0.0), "u8 scales [1.0] zps [0] axis None; warning: %t was zero on all the calibration data: quantized with scale 1.0 and zero point 0");
    check_activation((-0.0, 0.0), "u8 scales [1.0] zps [0] axis None; warning: %t was zero on all the calibration data: quantized with scale 1.0 and zero point 0");
    check_activation((0.0, 1e-6), "u8 scales [1.1920929e-7] zps [247] axis None; warning: %t only spans [0.0, 1e-6]: its scale is raised to 1.1920929e-7");
    // The widest finite range still has a finite scale.
    check_activation(
        (f32::MIN, f32::MAX),
        "u8 scales [2.668881e36] zps [128] axis None",
    );
    check_activation(
        (f32::NAN, 1.0),
        "error: %t: the range [nan, 1.0] is not finite",
    );
    check_activation(
        (0.0, f32::INFINITY),
        "error: %t: the range [0.0, inf] is not finite",
    );
    check_activation((1.0, 0.0), "error: %t: the range [1.0, 0.0] is reversed");
}

fn check_weights(shape: &[usize], data: &[f32], axis: usize, bits: WeightBits, expected: &str) {
    let w = ArrayD::from_shape_vec(IxDyn(shape), data.to_vec()).unwrap();
    assert_eq!(
        describe(params::weights("w", &w, axis, bits)),
        expected,
        "{data:?}"
    );
}

#[test]
fn weight_channels() {
    use WeightBits::*;
    check_weights(
        &[2, 2],
        &[0.5, -1.27, 0.0, 0.635],
        0,
        Eight,
        "i8 scales [0.01, 0.005] zps [0, 0] axis Some(0)",
    );
    check_weights(
        &[2, 2],
        &[0.5, -1.27, 0.0, 0.635],
        1,
        Eight,
        "i8 scales [0.003937008, 0.01] zps [0, 0] axis Some(1)",
    );
    check_weights(
        &[2, 2],
        &[6.3, 0.0, -0.63, 0.0],
        0,
        Seven,
        "i8 scales [0.1, 0.01] zps [0, 0] axis Some(0)",
    );
    // An all-zero channel gets scale 1; a vanishing one the floor.
    check_weights(&[3, 2], &[1.27, 0.0, 0.0, -0.0, 0.0, 1e-30], 0, Eight,
        "i8 scales [0.01, 1.0, 1.1920929e-7] zps [0, 0, 0] axis Some(0); warning: @w: output channel 1 is all zeros (scale 1.0); warning: @w: output channel 2 is so small that the scale is raised to 1.1920929e-7 (they quantize to 0)");
    check_weights(
        &[2, 1, 1, 2],
        &[1.0, 2.0, 3.0, f32::NAN],
        0,
        Eight,
        "error: @w holds nan at [1, 0, 0, 1]: a weight must be finite to be quantized",
    );
    check_weights(
        &[2],
        &[f32::NEG_INFINITY, 1.0],
        0,
        Eight,
        "error: @w holds -inf at [0]: a weight must be finite to be quantized",
    );
    check_weights(
        &[2],
        &[1.0, 1.0],
        1,
        Eight,
        "error: @w: no axis 1 in a weight of rank 1",
    );
}

fn check_bias(b: &[f32], weight_scales: &[f32], input_scale: f32, expected: &str) {
    let got = match params::bias("b", b, weight_scales, input_scale) {
        Err(e) => e.to_string(),
        Ok(q) => {
            let mut s = format!(
                "{} scales {:?} values {:?}",
                q.params.storage, q.params.scales, q.values
            );
            for w in &q.warnings {
                s.push_str(&format!("; warning: {w}"));
            }
            s
        }
    };
    assert_eq!(got, expected, "{b:?}");
}

#[test]
fn bias_values() {
    // S_b = 0.5·0.25 = 0.125; 2.5 and 3.5 steps round half to even, both signs.
    check_bias(
        &[0.3125, 0.4375, -0.3125, 1.0],
        &[0.5],
        0.25,
        "i32 scales [0.125, 0.125, 0.125, 0.125] values [2, 4, -2, 8]",
    );
    check_bias(
        &[1.0, 1.0],
        &[0.5, 0.25],
        0.5,
        "i32 scales [0.25, 0.125] values [4, 8]",
    );
    // Saturation at both ends is reported per channel.
    // S_b = 2⁻²⁰: 2048 is 2³¹ steps (one too many), −2048 exactly i32::MIN, 2047.999 just fits.
    check_bias(&[2048.0, 2047.999, -2048.0, -2049.0], &[0.0009765625], 0.0009765625,
        "i32 scales [9.536743e-7, 9.536743e-7, 9.536743e-7, 9.536743e-7] values [2147483647, 2147482624, -2147483648, -2147483648]; warning: @b: the bias of channels 0, 3 does not fit i32 at scale S_w·S_x and is saturated");
    check_bias(&[1e7], &[0.001], 0.001, "i32 scales [1.0000001e-6] values [2147483647]; warning: @b: the bias of channel 0 does not fit i32 at scale S_w·S_x and is saturated");
    check_bias(
        &[1.0, f32::NAN],
        &[0.1],
        0.1,
        "error: @b holds nan at [1]: a bias must be finite to be quantized",
    );
    check_bias(
        &[1.0, 1.0],
        &[0.1, 0.1, 0.1],
        0.1,
        "error: @b: a bias of 2 channels with 3 weight scales (expected 2 or 1)",
    );
    check_bias(
        &[1.0],
        &[0.1],
        0.0,
        "error: @b: the input scale 0.0 is not a positive number",
    );
    check_bias(
        &[1.0, 1.0],
        &[0.1, -0.1],
        0.1,
        "error: @b: the weight scale of channel 1 is -0.1, not a positive number",
    );
}

#[test]
fn params_convert_to_the_ir_type() {
    let c = params::activation("t", (-1.0, 1.0)).unwrap();
    let q: QuantType = (&c.params).into();
    assert_eq!(
        TensorType::new(vec![2], ElemType::Quant(q)).to_string(),
        "tensor<2x!quant<u8, 0.007843138, 128>>"
    );
    let w = ArrayD::from_shape_vec(IxDyn(&[2, 1]), vec![0.5, -0.25]).unwrap();
    let q: QuantType = params::weights("w", &w, 0, WeightBits::Eight)
        .unwrap()
        .params
        .into();
    assert_eq!(
        q.to_string(),
        "!quant<i8, axis 0, [0.003937008, 0.001968504], [0, 0]>"
    );
}

fn finite() -> impl Strategy<Value = f32> {
    prop_oneof![-1e3f32..1e3, -1e-3f32..1e-3, Just(0.0), -1e30f32..1e30]
}

proptest! {
    /// The naive formula, with the range widened to 0 and `Z` clamped; 0 always representable.
    #[test]
    fn activation_matches_the_formula(a in finite(), b in finite()) {
        let (lo, hi) = (a.min(b), a.max(b));
        let c = params::activation("t", (lo, hi)).unwrap();
        let (s, z) = (c.params.scales[0], c.params.zero_points[0]);
        let (wlo, whi) = (lo.min(0.0) as f64, hi.max(0.0) as f64);
        prop_assert!((0..=255).contains(&z));
        if whi == wlo {
            prop_assert_eq!((s, z), (1.0, 0));
        } else {
            let naive = (((whi - wlo) / 255.0) as f32).max(MIN_SCALE);
            prop_assert_eq!(s, naive);
            prop_assert_eq!(z, (255.0 - whi / s as f64).round_ties_even().clamp(0.0, 255.0) as i32);
            // The codes span the widened range to within one step at each end.
            let (rlo, rhi) = c.params.u8_range();
            prop_assert!(rlo <= 0.0 && rhi >= 0.0);
            prop_assert!(rlo as f64 <= wlo + s as f64 && rhi as f64 >= whi - s as f64, "{:?} for [{}, {}]", (rlo, rhi), wlo, whi);
        }
    }

    /// Weight codes stay in `[-qmax, qmax]` and dequantize to within half a step.
    #[test]
    fn weight_codes_round_to_the_nearest_step(data in prop::collection::vec(-10f32..10.0, 1..24), seven in any::<bool>()) {
        let n = data.len();
        let w = ArrayD::from_shape_vec(IxDyn(&[n, 1]), data.clone()).unwrap();
        let bits = if seven { WeightBits::Seven } else { WeightBits::Eight };
        let c = params::weights("w", &w, 0, bits).unwrap();
        let q = params::quantize_weights(&w, &c.params, bits);
        for (i, (&v, &code)) in data.iter().zip(q.iter()).enumerate() {
            let s = c.params.scales[i];
            prop_assert!((code as i32).abs() <= bits.qmax());
            if v != 0.0 {
                prop_assert!(((code as f32 * s) - v).abs() <= s * 0.5 * (1.0 + 1e-5), "{} → {} at scale {}", v, code, s);
            }
        }
    }
}

/// `fit_bias` on per-channel weight scales, then the bias quantized at the scales it leaves:
/// the raised channels, the new scales and the bias codes (no saturation warning).
fn check_fit_bias(b: &[f32], weight_scales: &[f32], input_scale: f32, expected: &str) {
    let mut p = params::Params {
        storage: runtime::DType::I8,
        scales: weight_scales.to_vec(),
        zero_points: vec![0; weight_scales.len()],
        axis: Some(0),
    };
    let raised = params::fit_bias(&mut p, b, input_scale);
    let q = params::bias("b", b, &p.scales, input_scale).unwrap();
    let mut got = format!(
        "raised {raised:?} scales {:?} values {:?}",
        p.scales, q.values
    );
    for w in &q.warnings {
        got.push_str(&format!("; warning: {w}"));
    }
    assert_eq!(got, expected, "{b:?}");
}

#[test]
fn a_bias_too_large_for_its_scale_raises_the_weight_scale() {
    // A channel a folded BatchNorm nearly switched off: weights at MIN_SCALE, bias 5 at S_x =
    // 0.02 would be 2.1e9 codes, past i32. The scale rises to the float just above the one at
    // which the bias is 2³⁰ codes (it rounds to exactly 2³⁰ at the f32 product S_w·S_x);
    // the other channel keeps its scale.
    check_fit_bias(
        &[5.0, 0.1],
        &[MIN_SCALE, 0.01],
        0.02,
        "raised [0] scales [2.3283066e-7, 0.01] values [1073741824, 500]",
    );
    // Nothing to raise: every bias fits with room to spare.
    check_fit_bias(
        &[1.0, -1.0],
        &[0.01, 0.001],
        0.5,
        "raised [] scales [0.01, 0.001] values [200, -2000]",
    );
    // A negative bias counts by its magnitude.
    check_fit_bias(
        &[-5.0],
        &[MIN_SCALE],
        0.02,
        "raised [0] scales [2.3283066e-7] values [-1073741824]",
    );
}
