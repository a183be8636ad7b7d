//! Cross-check against ONNX Runtime: models built by `tests/python/make_models.py` (nobody wrote
//! them for this code) are imported, saved as text, read back and interpreted; every output must
//! match ORT's fp32 output within 1e-4 of its magnitude.

use ndarray::ArrayD;
use qcc::batch::run_batches;
use qcc::ir::weights::{read_model, save_model};
use std::path::{Path, PathBuf};

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

/// max |a − b| / max |b|.
fn rel_err(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f64 {
    let scale = b
        .iter()
        .fold(0f64, |m, &v| m.max((v as f64).abs()))
        .max(1e-12);
    let diff = a
        .iter()
        .zip(b)
        .fold(0f64, |m, (&x, &y)| m.max((x as f64 - y as f64).abs()));
    diff / scale
}

#[test]
fn imported_models_match_onnx_runtime() {
    let dir = models_dir();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut report = vec![];
    let mut failures = vec![];
    for m in manifest["models"]
        .as_array()
        .expect("manifest lists models")
    {
        let name = m["name"].as_str().unwrap();
        let onnx = dir.join(m["onnx"].as_str().unwrap());
        let model = match qcc::import::import_file(&onnx) {
            Ok(model) => model,
            Err(e) => {
                failures.push(format!("{name}: import failed: {e}"));
                continue;
            }
        };
        // Through the text form and back, as a user would run it.
        let ir = work.path().join(format!("{name}.ir"));
        save_model(&model, &ir).unwrap();
        let model = read_model(&ir)
            .unwrap_or_else(|e| panic!("{name}: the imported IR does not read back:\n{e}"));
        let input = qcc::npy::read_f32(&dir.join(m["input"].as_str().unwrap())).unwrap();
        let expected = qcc::npy::read_f32(&dir.join(m["expected"].as_str().unwrap())).unwrap();
        let out = match run_batches(&model, &[input], |_, _| {}) {
            Ok(mut o) => o.remove(0),
            Err(e) => {
                failures.push(format!("{name}: run failed: {e}"));
                continue;
            }
        };
        if out.shape() != expected.shape() {
            failures.push(format!(
                "{name}: output shape {:?}, ORT {:?}",
                out.shape(),
                expected.shape()
            ));
            continue;
        }
        let err = rel_err(&out, &expected);
        report.push(format!(
            "{name:<28} {:>5} ops  rel err {err:.2e}",
            model.ops_in_order().len()
        ));
        if err > 1e-4 {
            failures.push(format!(
                "{name}: max |qcc − ORT| / max |ORT| = {err:.3e} > 1e-4"
            ));
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(!report.is_empty(), "the manifest lists no models");
}
