//! Resize in compiled libraries: an FPN-style block (a stride-2 conv, upsampled ×2 and added to
//! the full-resolution branch) for each resize flavour, on codes and — kept float with
//! `--keep-float` — in f32, bit-exact with the interpreter on every tier.

use super::support::{assert_exact, build, integer};
use qcc::diag::Source;
use qcc::egraph::saturate::Limits;
use qcc::ir::Model;
use qcc::pipeline::optimize;
use qcc::quant::qdq::{quantize_with, Options as QuantOptions};
use qcc::quant::{calibrate, Method, WeightBits};
use qcc::rules::RuleSet;
use runtime::Tensor;

/// conv(stride 2) → resize to the input size → add the full-resolution conv → conv.
/// `c` channels (above 16 the code kernels take the vector path, below the scalar one).
fn fpn(c: usize, attrs: &str) -> Model {
    let w = |n: usize, k: f32| {
        let v: Vec<String> = (0..n)
            .map(|i| format!("{:?}", (((i * 37 + 11) % 23) as f32 - 11.0) * k))
            .collect();
        format!("dense<[{}]>", v.join(", "))
    };
    let text = format!(
        "model @fpn {{
  weight @w1 : tensor<{c}x3x3x3xf32> = {w1}
  weight @b1 : tensor<{c}xf32> = {b}
  weight @w2 : tensor<{c}x3x1x1xf32> = {w2}
  weight @w3 : tensor<4x{c}x3x3xf32> = {w3}
  %x = input : tensor<1x3x10x14xf32>
  %lo = conv2d(%x, @w1, @b1) {{strides = [2, 2], pads = [1, 1, 1, 1]}} : tensor<1x{c}x5x7xf32>
  %lr = relu(%lo) : tensor<1x{c}x5x7xf32>
  %up = resize(%lr) {{{attrs}}} : tensor<1x{c}x10x14xf32>
  %hi = conv2d(%x, @w2) : tensor<1x{c}x10x14xf32>
  %s = add(%up, %hi) : tensor<1x{c}x10x14xf32>
  %y = conv2d(%s, @w3) {{pads = [1, 1, 1, 1]}} : tensor<1x4x10x14xf32>
  return %y
}}
",
        w1 = w(c * 27, 0.03),
        b = w(c, 0.01),
        w2 = w(c * 3, 0.05),
        w3 = w(4 * c * 9, 0.01),
    );
    qcc::ir::parse::parse(&Source {
        name: "fpn.ir".into(),
        text: text.clone(),
    })
    .unwrap_or_else(|e| panic!("the FPN model does not parse: {e:?}\n{text}"))
}

fn input(seed: usize) -> ndarray::ArrayD<f32> {
    let data: Vec<f32> = (0..3 * 10 * 14)
        .map(|i| ((i * 7919 + seed * 104729) % 97) as f32 / 24.0 - 2.0)
        .collect();
    ndarray::ArrayD::from_shape_vec(vec![1, 3, 10, 14], data).expect("sizes match")
}

/// Calibration samples stacked on a leading axis, as `calibrate` takes them.
fn calib() -> ndarray::ArrayD<f32> {
    let (a, b) = (input(1), input(2));
    ndarray::stack(ndarray::Axis(0), &[a.view(), b.view()]).expect("same shapes")
}

const FLAVOURS: &[&str] = &[
    // PyTorch's nearest ×2 export (DBNet/YOLO FPNs).
    r#"mode = "nearest", coordinate_transformation_mode = "asymmetric", nearest_mode = "floor", scales = [2.0, 2.0], size = [10, 14]"#,
    r#"mode = "nearest", coordinate_transformation_mode = "half_pixel", nearest_mode = "round_prefer_ceil", scales = [2.0, 2.0], size = [10, 14]"#,
    r#"mode = "linear", coordinate_transformation_mode = "align_corners", scales = [2.0, 2.0], size = [10, 14]"#,
    r#"mode = "linear", coordinate_transformation_mode = "half_pixel", scales = [2.0, 2.0], size = [10, 14]"#,
    r#"mode = "linear", coordinate_transformation_mode = "pytorch_half_pixel", scales = [2.0, 2.0], size = [10, 14]"#,
];

#[test]
fn fpn_resizes_on_codes_equal_the_interpreter() {
    for c in [5, 20] {
        for attrs in FLAVOURS {
            let float = fpn(c, attrs);
            let int = integer(&float, &[calib()], WeightBits::Eight);
            let resizes: Vec<String> = int
                .ops_in_order()
                .into_iter()
                .map(|id| int.node(id))
                .filter(|n| n.op().is_some_and(|o| o.kind == qcc::ir::OpKind::Resize))
                .map(|n| n.ty.to_string())
                .collect();
            assert!(
                resizes.len() == 1 && resizes[0].contains("quant"),
                "{attrs}: the resize is not lowered to codes: {resizes:?}"
            );
            for target in ["x86-64-v2", "x86-64-v3", "native"] {
                let lib = build(&int, target);
                let what = format!("{c} channels, {attrs}, {target}");
                assert_exact(&what, &int, &lib, &[Tensor::F32(input(3))]);
            }
        }
    }
}

/// `--keep-float` on the resize: it runs in f32 between a dequantize and a quantize, in the
/// strict order of docs/ir.md.
#[test]
fn fpn_resizes_kept_float_equal_the_interpreter() {
    let limits = Limits::default();
    let rules = RuleSet::builtin_and(&[]).expect("built-in rules load");
    let lowering = RuleSet::lowering_and(&[]).expect("lowering rules load");
    for attrs in FLAVOURS {
        let (float, _) = optimize(&fpn(20, attrs), &rules, &limits).expect("simplify");
        let ranges =
            calibrate(&float, &[calib().into()], Method::MinMax, |_, _| {}).expect("calibrate");
        let mut opts = QuantOptions::new(WeightBits::Eight);
        opts.keep_float.insert("up".into());
        let q = quantize_with(&float, &ranges, &opts).expect("quantize");
        assert_eq!(q.float_ops, vec![("up".to_string(), "resize".to_string())]);
        let int = optimize(&q.model, &lowering, &limits).expect("lower").0;
        for target in ["x86-64-v2", "native"] {
            let lib = build(&int, target);
            assert_exact(
                &format!("kept float, {attrs}, {target}"),
                &int,
                &lib,
                &[Tensor::F32(input(3))],
            );
        }
    }
}
