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
    for target in ["x86-64-v2", "native"] {
        let lib = build(&model, target);
        assert_exact(
            &format!("ties ({target})"),
            &model,
            &lib,
            std::slice::from_ref(&x),
        );
    }
}
