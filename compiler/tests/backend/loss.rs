//! nll_loss in a library: every reduction, with and without class weights and an ignored class,
//! targets computed at run time (a cast of an input) over images (rank 4, so the i64 targets are
//! channels-last), bit-exact with the interpreter on every tier, thread count and a pool.

use super::support::{assert_exact, build};
use ndarray::{ArrayD, IxDyn};
use qcc::diag::Source;
use runtime::Tensor;

#[test]
fn nll_loss_equals_the_interpreter() {
    // x [2, 5, 3, 4]: targets [2, 3, 4, 1]… are x without its class axis, [2, 3, 4].
    let xs = ArrayD::from_shape_vec(
        IxDyn(&[2, 5, 3, 4]),
        (0..120)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.173)
            .collect(),
    )
    .unwrap();
    // Classes 0..4 with some 3s (the ignored class below).
    let ts = ArrayD::from_shape_vec(
        IxDyn(&[2, 1, 3, 4]),
        (0..24).map(|i| ((i * 7 + 3) % 5) as f32).collect(),
    )
    .unwrap();
    for reduction in ["none", "sum", "mean"] {
        for weighted in [false, true] {
            for ignore in ["", ", ignore_index = 3"] {
                let y = if reduction == "none" {
                    "tensor<2x3x4xf32>"
                } else {
                    "tensor<f32>"
                };
                let (wdecl, warg) = if weighted {
                    (
                        "  weight @w : tensor<5xf32> = dense<[0.5, 2.0, 1.25, 0.75, 3.0]>\n",
                        ", @w",
                    )
                } else {
                    ("", "")
                };
                let text = format!(
                    "model @l {{\n{wdecl}  %x = input : tensor<2x5x3x4xf32>\n  %tf = input : tensor<2x1x3x4xf32>\n  %t4 = cast(%tf) {{to = \"i64\"}} : tensor<2x1x3x4xi64>\n  %t = reshape(%t4) {{shape = [2, 3, 4]}} : tensor<2x3x4xi64>\n  %l = nll_loss(%x, %t{warg}) {{reduction = \"{reduction}\"{ignore}}} : {y}\n  return %l\n}}\n"
                );
                let source = Source {
                    name: "loss.ir".into(),
                    text: text.clone(),
                };
                let model =
                    qcc::ir::parse::parse(&source).unwrap_or_else(|e| panic!("{e}\n{text}"));
                qcc::ir::verify::verify_or_error(&model, Some(&source))
                    .unwrap_or_else(|e| panic!("{e}\n{text}"));
                let inputs = [Tensor::F32(xs.clone()), Tensor::F32(ts.clone())];
                for target in ["x86-64-v2", "native"] {
                    let lib = build(&model, target);
                    assert_exact(&format!("{target}\n{text}"), &model, &lib, &inputs);
                }
            }
        }
    }
}
