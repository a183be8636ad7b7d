//! `--keep-float` and `--weight-bits-for` on the digits example: the named ops stay float (run in
//! strict float, bit for bit) or get the named weight width, an absorbed ReLU keeps its producer
//! with it, and a name the model does not have is refused with a suggestion instead of silently
//! doing nothing. A tensor without a range is an error naming the op that needs it; an integer
//! model quantized again keeps its integer ops as they are. Ranges given without samples survive
//! a data-free bias correction that cannot run, with a warning. `--activation-bits-for NAME=16`
//! gives i16 codes to a model input or a float op's result that convolutions read, and refuses
//! every other tensor with the reason.

use qcc::backend::target::Target;
use qcc::ir::{Model, OpKind};
use qcc::pipeline::{self, default_weight_bits, Calibration, Stage};
use qcc::quant::qdq::{quantize_with, Options};
use qcc::quant::{calibrate, BiasCorrection, Method, WeightBits};
use std::path::Path;

fn digits() -> (Model, qcc::quant::Ranges) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let model = qcc::ir::weights::read_model(&root.join("examples/digits/digits.ir")).unwrap();
    let images = qcc::npy::read_f32(&root.join("examples/digits/test_images.npy")).unwrap();
    let mut opts = pipeline::Options::new(Target::native()).unwrap();
    opts.stop = Stage::Qdq;
    opts.quant.calibration = Calibration::Samples {
        samples: vec![images.into()],
        method: Method::Mse,
    };
    opts.quant.bias_correction = Some(BiasCorrection::Off);
    let compiled = pipeline::compile(&model, &opts, |_, _| {}).unwrap();
    let ranges = compiled.report.ranges.expect("calibrated");
    (compiled.float, ranges)
}

/// The simplified digits model quantized with `opts` on the given ranges, then lowered.
fn lowered(float: &Model, ranges: &qcc::quant::Ranges, opts: &Options) -> Model {
    let mut p = pipeline::Options::new(Target::native()).unwrap();
    p.quant.calibration = Calibration::Ranges(ranges.clone());
    p.quant.weight_bits = Some(opts.bits);
    p.quant.keep_float = opts.keep_float.clone();
    p.quant.bits_for = opts.bits_for.clone();
    p.quant.bias_correction = Some(BiasCorrection::Off);
    pipeline::compile(float, &p, |_, _| {})
        .unwrap()
        .int
        .unwrap()
}

fn count(m: &Model, k: OpKind) -> usize {
    m.ops_in_order()
        .into_iter()
        .filter(|&n| m.node(n).op().map(|o| o.kind) == Some(k))
        .count()
}

#[test]
fn keep_float_keeps_the_op_and_its_absorbed_producer() {
    let (float, ranges) = digits();
    let all = lowered(&float, &ranges, &Options::new(WeightBits::Eight));
    assert_eq!(
        (count(&all, OpKind::QConv2d), count(&all, OpKind::Conv2d)),
        (2, 0)
    );
    let mut opts = Options::new(WeightBits::Eight);
    // The second ReLU, as --report names it: its conv stays float with it.
    opts.keep_float.insert("relu2_Relu_output_0".into());
    let kept = lowered(&float, &ranges, &opts);
    assert_eq!(
        (
            count(&kept, OpKind::QConv2d),
            count(&kept, OpKind::Conv2d),
            count(&kept, OpKind::Relu)
        ),
        (1, 1, 1)
    );
}

/// x → conv a → tanh s → conv b (1×1 convolutions of 3 and 4 channels on 8×8), and four
/// calibration samples of it.
fn tanh_between_convs() -> (Model, ndarray::ArrayD<f32>) {
    let w = |n: usize, k: usize| -> String {
        let v: Vec<String> = (0..n)
            .map(|i| format!("{:?}", ((i * k) % 11) as f32 * 0.1 - 0.5))
            .collect();
        v.join(", ")
    };
    let text = format!(
        "model @m {{\n  weight @w1 : tensor<4x3x1x1xf32> = dense<[{}]>\n  weight @w2 : tensor<4x4x1x1xf32> = dense<[{}]>\n  %x = input : tensor<1x3x8x8xf32>\n  %a = conv2d(%x, @w1) : tensor<1x4x8x8xf32>\n  %s = unary(%a) {{fn = \"tanh\", params = []}} : tensor<1x4x8x8xf32>\n  %b = conv2d(%s, @w2) : tensor<1x4x8x8xf32>\n  return %b\n}}\n",
        w(12, 7),
        w(16, 5)
    );
    let model = qcc::ir::parse::parse(&qcc::diag::Source {
        name: "m.ir".into(),
        text,
    })
    .unwrap();
    let samples: Vec<f32> = (0..4 * 3 * 64)
        .map(|i| ((i * 37) % 29) as f32 * 0.2 - 2.8)
        .collect();
    let samples = ndarray::ArrayD::from_shape_vec(vec![4, 3, 8, 8], samples).unwrap();
    (model, samples)
}

/// A kept op between two integer layers: the quantizer wraps it in dequantize and quantize for
/// its integer consumer, and the lowering rule that turns such a sandwich into a lookup table
/// must not fire on it (it did: `--explain` said "kept" and the library ran a table).
#[test]
fn keep_float_holds_between_integer_layers() {
    let (model, samples) = tanh_between_convs();
    let lower = |keep: &[&str]| {
        let mut p = pipeline::Options::new(Target::native()).unwrap();
        p.quant.calibration = Calibration::Samples {
            samples: vec![samples.clone().into()],
            method: Method::MinMax,
        };
        p.quant.keep_float = keep.iter().map(|s| s.to_string()).collect();
        pipeline::compile(&model, &p, |_, _| {}).unwrap()
    };
    let all = lower(&[]).int.unwrap();
    assert_eq!(
        (count(&all, OpKind::Lut), count(&all, OpKind::Unary)),
        (1, 0)
    );
    let kept = lower(&["s"]);
    let int = kept.int.unwrap();
    assert_eq!(
        (
            count(&int, OpKind::Lut),
            count(&int, OpKind::Unary),
            count(&int, OpKind::QConv2d)
        ),
        (0, 1, 2)
    );
    assert_eq!(
        kept.report.float_ops,
        vec![("s".to_string(), "unary".to_string())]
    );
}

/// x → conv a → tanh s → conv b: which tensors may hold 16-bit codes, and why the others may not.
#[test]
fn sixteen_bit_codes_go_to_tensors_convolutions_read() {
    let (model, samples) = tanh_between_convs();
    let lower = |wide: &[&str], keep: &[&str]| {
        let mut p = pipeline::Options::new(Target::native()).unwrap();
        p.quant.calibration = Calibration::Samples {
            samples: vec![samples.clone().into()],
            method: Method::MinMax,
        };
        p.quant.wide = wide.iter().map(|s| s.to_string()).collect();
        p.quant.keep_float = keep.iter().map(|s| s.to_string()).collect();
        pipeline::compile(&model, &p, |_, _| {}).map(|c| c.int.unwrap())
    };
    // The storage of the codes each qconv2d reads, in order.
    let conv_inputs = |m: &Model| -> Vec<String> {
        m.ops_in_order()
            .into_iter()
            .filter(|&n| m.node(n).op().map(|o| o.kind) == Some(OpKind::QConv2d))
            .map(|n| m.node(m.operands(n)[0]).ty.elem.storage().to_string())
            .collect()
    };
    assert_eq!(conv_inputs(&lower(&["x"], &[]).unwrap()), ["i16", "u8"]);
    // The tanh kept float: its result is quantized from float, so it can take 16 bits.
    assert_eq!(conv_inputs(&lower(&["s"], &["s"]).unwrap()), ["u8", "i16"]);
    let refused = |wide: &[&str]| lower(wide, &[]).unwrap_err().to_string();
    assert_eq!(
        refused(&["s"]),
        "error: --activation-bits-for s=16: %s (unary) is an integer op, whose requantization writes u8 codes; 16 bits are for a model input or the result of an op left in float"
    );
    assert_eq!(
        refused(&["a"]),
        "error: --activation-bits-for a=16: %s (unary) reads %a, and only a convolution of one group without horizontal dilation has a 16-bit input form"
    );
    assert_eq!(
        refused(&["b"]),
        "error: --activation-bits-for b=16: %b is an output of the model; 16-bit codes are for tensors convolutions read"
    );
    assert_eq!(
        refused(&["xx"]),
        "error: --activation-bits-for xx=16: the model has no tensor `%xx` (did you mean `%x`?)"
    );
}

#[test]
fn weight_bits_for_one_op() {
    let (float, ranges) = digits();
    let mut opts = Options::new(WeightBits::Eight);
    opts.bits_for.insert("logits".into(), WeightBits::Seven);
    let m = lowered(&float, &ranges, &opts);
    let gemm = m
        .ops_in_order()
        .into_iter()
        .find(|&n| m.node(n).op().map(|o| o.kind) == Some(OpKind::QGemm))
        .unwrap();
    let w = m.operands(gemm)[1];
    let codes = m.node(w).weight().unwrap().to_f64_vec();
    let max = codes.iter().fold(0f64, |a, v| a.max(v.abs()));
    assert_eq!(
        max, 63.0,
        "7-bit weights reach ±63 exactly on their largest channel"
    );
    let conv = m
        .ops_in_order()
        .into_iter()
        .find(|&n| m.node(n).op().map(|o| o.kind) == Some(OpKind::QConv2d))
        .unwrap();
    let codes = m.node(m.operands(conv)[1]).weight().unwrap().to_f64_vec();
    assert_eq!(
        codes.iter().fold(0f64, |a, v| a.max(v.abs())),
        127.0,
        "the other layers keep 8 bits"
    );
}

#[test]
fn unknown_names_are_refused_with_a_suggestion() {
    let (float, ranges) = digits();
    let mut opts = Options::new(WeightBits::Eight);
    opts.keep_float.insert("relu2".into());
    let e = quantize_with(&float, &ranges, &opts)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "error: --keep-float: the model has no op `%relu2` (did you mean `%relu2_Relu_output_0`?)"
    );
}

#[test]
fn an_op_without_a_range_is_named() {
    let (float, mut ranges) = digits();
    ranges.ranges.remove("relu2_Relu_output_0");
    let e = quantize_with(&float, &ranges, &Options::new(WeightBits::Eight))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "error: quantizing %pool_MaxPool_output_0 (max_pool): no calibrated range for %relu2_Relu_output_0: calibrate this model (or give --ranges for it)"
    );
}

#[test]
fn an_integer_model_quantized_again_is_kept_as_it_is() {
    let (float, ranges) = digits();
    let int = lowered(&float, &ranges, &Options::new(WeightBits::Eight));
    let images = qcc::npy::read_f32(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits/test_images.npy"),
    )
    .unwrap();
    let again_ranges = calibrate(&int, &[images.clone().into()], Method::Mse, |_, _| {}).unwrap();
    let again = lowered(&int, &again_ranges, &Options::new(WeightBits::Eight));
    assert_eq!(
        (count(&again, OpKind::QConv2d), count(&again, OpKind::QGemm)),
        (count(&int, OpKind::QConv2d), count(&int, OpKind::QGemm))
    );
    let x = runtime::Tensor::F32(
        images
            .slice_axis(ndarray::Axis(0), (0..1).into())
            .to_owned()
            .into_shape_with_order(vec![1, 1, 8, 8])
            .unwrap()
            .into_dyn(),
    );
    assert_eq!(
        qcc::interp::run(&again, std::slice::from_ref(&x)).unwrap(),
        qcc::interp::run(&int, std::slice::from_ref(&x)).unwrap()
    );
}

/// A float op left in an integer graph is evaluated in strict float: the kept gemm's result is
/// bit for bit `runtime::ops::strict::gemm` of the values it read (the fast kernel's FMA and
/// blocking would differ in the last bits).
#[test]
fn a_kept_float_gemm_runs_in_strict_float() {
    let (float, ranges) = digits();
    let mut opts = Options::new(WeightBits::Eight);
    opts.keep_float.insert("logits".into());
    let int = lowered(&float, &ranges, &opts);
    assert!(qcc::interp::is_integer_graph(&int));
    let gemm = int
        .ops_in_order()
        .into_iter()
        .find(|&n| int.node(n).op().map(|o| o.kind) == Some(OpKind::Gemm))
        .expect("the kept gemm");
    let operands = int.operands(gemm);
    let images = qcc::npy::read_f32(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits/test_images.npy"),
    )
    .unwrap();
    for i in 0..8 {
        let x = runtime::Tensor::F32(
            images
                .slice_axis(ndarray::Axis(0), (i..i + 1).into())
                .to_owned()
                .into_shape_with_order(vec![1, 1, 8, 8])
                .unwrap()
                .into_dyn(),
        );
        let mut seen: std::collections::BTreeMap<qcc::ir::NodeId, runtime::Tensor> =
            Default::default();
        let mut observe = |id: qcc::ir::NodeId, t: &runtime::Tensor| {
            if id == gemm || operands.contains(&id) {
                seen.insert(id, t.clone());
            }
        };
        qcc::interp::run_with(
            &int,
            std::slice::from_ref(&x),
            qcc::interp::Hooks {
                observe: Some(&mut observe),
                transform: None,
            },
        )
        .unwrap();
        let value = |id: qcc::ir::NodeId| -> ndarray::ArrayD<f32> {
            match seen.get(&id) {
                Some(t) => t.as_f32().unwrap().clone(),
                None => int.node(id).weight().unwrap().as_f32().unwrap().clone(),
            }
        };
        let op = int.node(gemm).op().unwrap();
        let c = operands.get(2).map(|&c| value(c));
        let want = runtime::ops::strict::gemm(
            &value(operands[0]),
            &value(operands[1]),
            c.as_ref(),
            op.float("alpha").unwrap(),
            op.float("beta").unwrap(),
            op.bool("trans_a").unwrap(),
            op.bool("trans_b").unwrap(),
        );
        let got = value(gemm);
        let bits = |a: &ndarray::ArrayD<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want), "sample {i}");
    }
}

/// The default weight width follows `--target`, not the machine qcc runs on: 7 bits for a target
/// without VNNI (so `pmaddubsw` cannot saturate), 8 for one with it, whatever this CPU has.
#[test]
fn the_target_decides_the_default_weight_bits() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits");
    let dir = tempfile::tempdir().unwrap();
    for (target, bits) in [
        ("x86-64-v2", 7),
        ("x86-64-v3", 7),
        ("x86-64-v4", 7),
        ("x86-64-v4+avx512vnni", 8),
        ("x86-64-v3+avxvnni", 8),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_qcc"))
            .arg(root.join("digits.ir"))
            .args([
                "-o",
                "m.int.ir",
                "--emit",
                "int",
                "--explain",
                "--target",
                target,
            ])
            .arg("--calib")
            .arg(root.join("test_images.npy"))
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{target}: {stderr}");
        assert!(
            stderr.contains(&format!("quantized with {bits}-bit weights")),
            "{target} should default to {bits}-bit weights:\n{stderr}"
        );
    }
}

#[test]
fn default_weight_bits_reads_the_targets_vnni() {
    for (spec, bits) in [
        ("x86-64-v3", WeightBits::Seven),
        ("x86-64-v4+avx512vnni", WeightBits::Eight),
        // avx512vnni without avx512vl has no VNNI on xmm/ymm: the byte route stays 7-bit.
        ("x86-64-v3+avx512vnni", WeightBits::Seven),
    ] {
        let target = Target::parse(spec).unwrap();
        assert_eq!(default_weight_bits(&target), bits, "{spec}");
    }
}

/// A gemm reading `x / (x + x)`: finite on every sample, but a division by an activation whose
/// range holds 0 has no finite data-free range.
const RATIO: &str = r#"
model @ratio {
  weight @w : tensor<4x3xf32> = dense<[0.5, -0.25, 1.0, 0.75, 0.1, -0.6, 0.3, 0.2, -0.4, 0.9, -0.8, 0.05]>
  %x = input : tensor<1x4xf32>
  %s = add(%x, %x) : tensor<1x4xf32>
  %d = div(%x, %s) : tensor<1x4xf32>
  %y = gemm(%d, @w) : tensor<1x3xf32>
  return %y
}
"#;

/// Ranges from a file or a caller, without samples: data-free bias correction is then the
/// default, and where it cannot carry its input range through the model the compile goes on
/// without it and says so; asked for by name, its failure stays an error.
#[test]
fn ranges_without_samples_outlive_a_failed_data_free_correction() {
    let model = qcc::ir::parse::parse(&qcc::diag::Source {
        name: "ratio.ir".into(),
        text: RATIO.into(),
    })
    .unwrap();
    let samples = ndarray::ArrayD::from_shape_fn(vec![8, 1, 4], |i| 0.3 + (i[0] + i[2]) as f32);
    let mut opts = pipeline::Options::new(Target::native()).unwrap();
    opts.stop = Stage::Qdq;
    opts.quant.calibration = Calibration::Samples {
        samples: vec![samples.into()],
        method: Method::MinMax,
    };
    let ranges = pipeline::compile(&model, &opts, |_, _| {})
        .unwrap()
        .report
        .ranges
        .expect("calibrated");
    let mut p = pipeline::Options::new(Target::native()).unwrap();
    p.quant.calibration = Calibration::Ranges(ranges);
    let compiled = pipeline::compile(&model, &p, |_, _| {}).unwrap();
    let warned: Vec<String> = compiled
        .report
        .warnings
        .iter()
        .map(|w| w.to_string())
        .collect();
    assert!(
        warned.iter().any(|w| w.starts_with("no bias correction")),
        "{warned:?}"
    );
    assert!(compiled.int.is_some());
    p.quant.bias_correction = Some(BiasCorrection::DataFree);
    let refused = pipeline::compile(&model, &p, |_, _| {})
        .err()
        .expect("refused");
    assert!(refused.to_string().contains("data-free range"), "{refused}");
}
