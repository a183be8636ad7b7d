//! Float ops left in an integer graph: a weight they read is stored as f32 (its dequantize
//! folded at compile time, the values those the interpreter's dequantize gives), the library
//! still matches the interpreter bit for bit, and `--explain` names every such op and why.

use super::support::qcc;
use qcc::backend::target::Target;
use qcc::ir::{Model, OpKind};
use qcc::pipeline;
use runtime::Tensor;

/// A QDQ model whose gemm scales its products by α = 0.5: no lowering rule takes it (the
/// simplify phase moves α into the weight, but a model that comes quantized is only lowered),
/// so it stays float in the integer graph with its weight and bias dequantized.
const QDQ_ALPHA: &str = "model @alpha {
  weight @w : tensor<3x6x!quant<i8, axis 0, [0.011, 0.0073, 0.0052], [0, 0, 0]>> = dense<[12, -7, 33, 90, -127, 5, 0, 61, -40, 3, 18, -22, 100, 7, -9, 44, -66, 127]>
  weight @b : tensor<3x!quant<i32, axis 0, [0.00021999999, 0.000146, 0.000104], [0, 0, 0]>> = dense<[1200, -3000, 25000]>
  %wd = dequantize(@w) : tensor<3x6xf32>
  %bd = dequantize(@b) : tensor<3xf32>
  %x = input : tensor<2x6xf32>
  %xq = quantize(%x) : tensor<2x6x!quant<u8, 0.02, 128>>
  %xd = dequantize(%xq) : tensor<2x6xf32>
  %g = gemm(%xd, %wd, %bd) {alpha = 0.5, beta = 1.0, trans_a = false, trans_b = true} : tensor<2x3xf32>
  %gq = quantize(%g) : tensor<2x3x!quant<u8, 0.04, 110>>
  %y = dequantize(%gq) : tensor<2x3xf32>
  return %y
}
";

fn parse(text: &str) -> Model {
    qcc::ir::parse::parse(&qcc::diag::Source {
        name: "alpha.ir".into(),
        text: text.into(),
    })
    .expect("the fixture parses")
}

#[test]
fn a_float_ops_weights_are_dequantized_at_compile_time() {
    let qdq = parse(QDQ_ALPHA);
    let opts = pipeline::Options::new(Target::native()).expect("built-in rules load");
    let compiled = pipeline::compile(&qdq, &opts, |_, _| {}).expect("the pipeline runs");
    let int = compiled.int.as_ref().expect("an integer model");
    let weight_dequantizes = int
        .ops_in_order()
        .into_iter()
        .filter(|&id| {
            int.node(id)
                .op()
                .is_some_and(|o| o.kind == OpKind::Dequantize)
                && int.node(int.operands(id)[0]).is_weight()
        })
        .count();
    assert_eq!(weight_dequantizes, 0, "{}", qcc::ir::print::print(int));
    assert_eq!(compiled.report.folded, vec!["wd", "bd"]);
    // The folded model computes what the QDQ model computes, bit for bit.
    let x = Tensor::F32(ndarray::ArrayD::from_shape_fn(vec![2, 6], |i| {
        (i[0] * 6 + i[1]) as f32 / 5.0 - 1.0
    }));
    let bits = |m: &Model| match &qcc::interp::run(m, std::slice::from_ref(&x)).unwrap()[0] {
        Tensor::F32(a) => a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        t => panic!("output is {}", t.dtype()),
    };
    assert_eq!(bits(int), bits(&qdq));
}

/// `--explain` on the digits example with its gemm kept float: the quantizer's reason for it
/// is printed among the float ops left in the integer graph.
#[test]
fn explain_lists_every_float_op_left_and_why() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("m.int.ir");
    let o = qcc(&[
        "examples/digits/digits.ir",
        "-o",
        out.to_str().expect("UTF-8"),
        "--emit",
        "int",
        "--explain",
        "--keep-float",
        "logits",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(
            "float ops left in the integer graph (1):\n  gemm %logits: --keep-float asked for it\n"
        ),
        "{err}"
    );
    let o = qcc(&[
        "examples/digits/digits.ir",
        "-o",
        out.to_str().expect("UTF-8"),
        "--emit",
        "int",
        "--explain",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("no float op is left in the integer graph\n"),
        "{err}"
    );
}

/// A softmax runs on codes (qsoftmax) while its axis holds at most 65 535 elements, whose table
/// entries sum exactly in u32; over a longer axis it stays float and `--explain` says why.
#[test]
fn a_softmax_runs_on_codes_up_to_the_u32_sum() {
    for (n, on_codes) in [(65_535usize, true), (65_536, false)] {
        let float = parse(&format!(
            "model @soft {{\n  %x = input : tensor<1x{n}xf32>\n  %y = softmax(%x) {{axis = 1}} : tensor<1x{n}xf32>\n  return %y\n}}\n"
        ));
        let mut opts = pipeline::Options::new(Target::native()).expect("built-in rules load");
        let sample = ndarray::ArrayD::from_shape_fn(vec![1, 1, n], |i| (i[2] % 97) as f32 / 10.0);
        opts.quant.calibration = pipeline::Calibration::Samples {
            samples: vec![sample.into()],
            method: qcc::quant::Method::MinMax,
        };
        let compiled = pipeline::compile(&float, &opts, |_, _| {}).expect("the pipeline runs");
        let int = compiled.int.as_ref().expect("an integer model");
        let kinds: Vec<OpKind> = int
            .ops_in_order()
            .into_iter()
            .filter_map(|id| int.node(id).op().map(|o| o.kind))
            .collect();
        assert_eq!(
            kinds.contains(&OpKind::QSoftmax),
            on_codes,
            "{n}: {kinds:?}"
        );
        assert_eq!(
            kinds.contains(&OpKind::Softmax),
            !on_codes,
            "{n}: {kinds:?}"
        );
        let why = compiled.report.float_reasons.get("y").cloned();
        if on_codes {
            assert_eq!(why, None);
        } else {
            assert_eq!(
                why.as_deref(),
                Some("its axis holds 65536 elements, more than qsoftmax's 65535 (the u32 sum of its table entries)")
            );
        }
    }
}
