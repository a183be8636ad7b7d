//! The requantization's rounding cases, through requantize kernels whose multipliers make ties:
//! every code of a u8 tensor times 0.5, 0.25, … with each shift direction, against the
//! interpreter (whose arithmetic is tested against gemmlowp's cases in runtime/tests/qops).

use super::support::{assert_exact, build};
use qcc::diag::Source;
use runtime::Tensor;

const PAIRS: &[(i64, i64)] = &[
    (1 << 30, 0),
    (1 << 30, -1),
    (1 << 30, -3),
    ((1 << 30) + 1, -2),
    (i32::MAX as i64, -31),
    (i32::MAX as i64, 0),
    (1 << 30, 2),
    (1_518_500_250, 5),
];

#[test]
fn ties_round_as_the_interpreter_rounds() {
    let mut body = String::new();
    let mut outs = Vec::new();
    for (i, (m, s)) in PAIRS.iter().enumerate() {
        body += &format!(
            "  %r{i} = requantize(%q) {{multiplier = [{m}], shift = [{s}], lo = 0, hi = 255}} : tensor<1x256x!quant<u8, 1.0, 128>>\n  %y{i} = dequantize(%r{i}) : tensor<1x256xf32>\n"
        );
        outs.push(format!("%y{i}"));
    }
    let text = format!(
        "model @ties {{\n  %x = input : tensor<1x256xf32>\n  %q = quantize(%x) : tensor<1x256x!quant<u8, 1.0, 128>>\n{body}  return {}\n}}\n",
        outs.join(", ")
    );
    let model = qcc::ir::parse::parse(&Source {
        name: "ties.ir".into(),
        text,
    })
    .expect("the model parses");
    let x: Vec<f32> = (0..256).map(|v| v as f32 - 128.0).collect();
    let x = Tensor::F32(ndarray::ArrayD::from_shape_vec(vec![1, 256], x).expect("256 values"));
    for target in ["x86-64-v2", "x86-64-v3", "native"] {
        let lib = build(&model, target);
        assert_exact(
            &format!("ties ({target})"),
            &model,
            &lib,
            std::slice::from_ref(&x),
        );
    }
}

/// The same pairs through the convolution kernels' four-pixel vector requantization: per
/// channel (tables) in a 1×1 and a depthwise convolution, and per tensor, one convolution per
/// pair; with a ReLU's clamp too. Every code 0..=255 reaches every channel, with weights of
/// both signs.
#[test]
fn conv_epilogue_ties_round_as_the_interpreter_rounds() {
    let n = PAIRS.len();
    let mults = |ps: &[(i64, i64)]| {
        let m: Vec<String> = ps.iter().map(|p| p.0.to_string()).collect();
        let s: Vec<String> = ps.iter().map(|p| p.1.to_string()).collect();
        format!(
            "multiplier = [{}], shift = [{}]",
            m.join(", "),
            s.join(", ")
        )
    };
    let scales = vec!["1.0"; n].join(", ");
    let zeros = vec!["0"; n].join(", ");
    let sign = |o: usize| if o % 3 == 1 { -1 } else { 1 + (o % 2) as i32 };
    let eye: Vec<String> = (0..n * n)
        .map(|i| if i / n == i % n { sign(i / n) } else { 0 }.to_string())
        .collect();
    let diag: Vec<String> = (0..n).map(|o| sign(o).to_string()).collect();
    let attrs = "strides = [1, 1], pads = [0, 0, 0, 0], dilations = [1, 1]";
    let out = |c: usize| format!("tensor<1x{c}x16x16x!quant<u8, 1.0, 128>>");
    let mut text = format!(
        "model @conv_ties {{\n  weight @w : tensor<{n}x{n}x1x1x!quant<i8, axis 0, [{scales}], [{zeros}]>> = dense<[{}]>\n  weight @d : tensor<{n}x1x1x1x!quant<i8, axis 0, [{scales}], [{zeros}]>> = dense<[{}]>\n  %x = input : tensor<1x{n}x16x16xf32>\n  %q = quantize(%x) : tensor<1x{n}x16x16x!quant<u8, 1.0, 128>>\n",
        eye.join(", "),
        diag.join(", ")
    );
    text += &format!(
        "  %p = qconv2d(%q, @w) {{{attrs}, groups = 1, {}, lo = 0, hi = 255}} : {}\n  %yp = dequantize(%p) : tensor<1x{n}x16x16xf32>\n",
        mults(PAIRS),
        out(n)
    );
    text += &format!(
        "  %d = qconv2d(%q, @d) {{{attrs}, groups = {n}, {}, lo = 0, hi = 255}} : {}\n  %yd = dequantize(%d) : tensor<1x{n}x16x16xf32>\n",
        mults(PAIRS),
        out(n)
    );
    // Only right shifts: the tables' path without the saturating left shift.
    let right: Vec<(i64, i64)> = PAIRS.iter().map(|&(m, s)| (m, -s.abs())).collect();
    text += &format!(
        "  %r = qconv2d(%q, @w) {{{attrs}, groups = 1, {}, lo = 0, hi = 255}} : {}\n  %yr = dequantize(%r) : tensor<1x{n}x16x16xf32>\n",
        mults(&right),
        out(n)
    );
    // A ReLU's clamp (lo at or above the zero point) with right shifts of a bit or more: the
    // micro-kernels' shortest epilogue (no correction for negative ties, the sum's high dword
    // shifted); then the clamp alone, with every shift of the pairs.
    let past: Vec<(i64, i64)> = PAIRS.iter().map(|&(m, s)| (m, -s.abs().max(1))).collect();
    text += &format!(
        "  %f = qconv2d(%q, @w) {{{attrs}, groups = 1, {}, lo = 128, hi = 255}} : {}\n  %yf = dequantize(%f) : tensor<1x{n}x16x16xf32>\n",
        mults(&past),
        out(n)
    );
    text += &format!(
        "  %fd = qconv2d(%q, @d) {{{attrs}, groups = {n}, {}, lo = 140, hi = 250}} : {}\n  %yfd = dequantize(%fd) : tensor<1x{n}x16x16xf32>\n",
        mults(&past),
        out(n)
    );
    text += &format!(
        "  %g = qconv2d(%q, @w) {{{attrs}, groups = 1, {}, lo = 128, hi = 255}} : {}\n  %yg = dequantize(%g) : tensor<1x{n}x16x16xf32>\n",
        mults(PAIRS),
        out(n)
    );
    let mut outs: Vec<String> = ["%yp", "%yd", "%yr", "%yf", "%yfd", "%yg"]
        .map(String::from)
        .into();
    for (i, p) in PAIRS.iter().enumerate() {
        let row: Vec<String> = (0..n)
            .map(|c| if c == i { sign(i) } else { 0 }.to_string())
            .collect();
        text += &format!(
            "  weight @t{i} : tensor<1x{n}x1x1x!quant<i8, axis 0, [1.0], [0]>> = dense<[{}]>\n  %t{i} = qconv2d(%q, @t{i}) {{{attrs}, groups = 1, {}, lo = 0, hi = 255}} : {}\n  %yt{i} = dequantize(%t{i}) : tensor<1x1x16x16xf32>\n",
            row.join(", "),
            mults(&[*p]),
            out(1)
        );
        outs.push(format!("%yt{i}"));
    }
    text += &format!("  return {}\n}}\n", outs.join(", "));
    let model = qcc::ir::parse::parse(&Source {
        name: "conv_ties.ir".into(),
        text,
    })
    .expect("the model parses");
    let x: Vec<f32> = (0..n * 256)
        .map(|i| ((i % 256 + 37 * (i / 256)) % 256) as f32 - 128.0)
        .collect();
    let x = Tensor::F32(ndarray::ArrayD::from_shape_vec(vec![1, n, 16, 16], x).expect("values"));
    for target in ["x86-64-v2", "x86-64-v3", "native"] {
        let lib = build(&model, target);
        assert_exact(
            &format!("conv ties ({target})"),
            &model,
            &lib,
            std::slice::from_ref(&x),
        );
    }
}
