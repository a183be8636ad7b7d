//! The detector, segmenter and OCR-style families of issue 12 (tests/python/models_families.py:
//! YOLOv8n with its decode head and a shape-built anchor grid, YOLOX-tiny's Focus stem, DBNet,
//! U-Net, MobileNetV3, PP-LCNet): each imports, its float interpreter run matches ONNX Runtime
//! fp32, and its int8 library equals its integer IR bit for bit on every instruction route.
//! (Their int8 accuracy and latency beside ORT int8 are `scripts/bench_families.sh`'s table.)

use super::support::{assert_exact, build, integer, npy};
use qcc::quant::WeightBits;
use runtime::Tensor;
use std::path::{Path, PathBuf};

const ROUTES: &[(WeightBits, &str)] = &[
    (WeightBits::Seven, "x86-64-v2"),
    (WeightBits::Seven, "x86-64-v3"),
    (WeightBits::Eight, "x86-64-v3"),
    (WeightBits::Eight, "native"),
];

/// The families directory, which scripts/test.sh fills (ensure_families in scripts/lib.sh).
fn families_dir() -> PathBuf {
    let dir = std::env::var_os("QCC_FAMILIES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/.work/families"));
    assert!(
        dir.join("manifest.json").is_file(),
        "{} has no manifest.json: run ./scripts/test.sh, which builds the family models first",
        dir.display()
    );
    dir
}

fn check(name: &str) {
    let dir = families_dir();
    let float = qcc::import::import_file(&dir.join(format!("{name}.onnx")))
        .unwrap_or_else(|e| panic!("{name}: import: {e}"));
    let calib = npy(&dir.join(format!("{name}.calib.npy")));
    let expected = npy(&dir.join(format!("{name}.calib.expected.npy")));
    // Float: the first sample against ORT fp32, relative to the output's largest magnitude.
    let x = calib.index_axis(ndarray::Axis(0), 0).to_owned();
    let want = expected.index_axis(ndarray::Axis(0), 0).to_owned();
    let got = qcc::interp::run(&float, &[Tensor::F32(x.clone())])
        .unwrap_or_else(|e| panic!("{name}: the float model does not run: {e}"));
    let got = got[0].as_f32().expect("an f32 output");
    assert_eq!(got.len(), want.len(), "{name}: output size");
    let scale = want
        .iter()
        .fold(0f32, |m, v| m.max(v.abs()))
        .max(f32::MIN_POSITIVE);
    let err = got
        .iter()
        .zip(want.iter())
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
        / scale;
    assert!(
        err <= 1e-4,
        "{name}: float differs from ORT by {err:e} of max |value|"
    );
    // Int8: calibrated on the calibration crops, every route bit-exact with the integer IR.
    for &(bits, target) in ROUTES {
        let int = integer(&float, std::slice::from_ref(&calib), bits);
        let lib = build(&int, target);
        let what = format!("{name} ({bits:?} weights, {target})");
        assert_exact(&what, &int, &lib, &[Tensor::F32(x.clone())]);
    }
}

#[test]
fn yolov8n_like() {
    check("yolov8n_like");
}

/// The anchor grid built at run time from Shape, Range, Expand and ConstantOfShape.
#[test]
fn yolov8n_shapes_like() {
    check("yolov8n_shapes_like");
}

#[test]
fn yolox_tiny_like() {
    check("yolox_tiny_like");
}

#[test]
fn dbnet_like() {
    check("dbnet_like");
}

#[test]
fn unet_like() {
    check("unet_like");
}

#[test]
fn mobilenetv3_like() {
    check("mobilenetv3_like");
}

#[test]
fn pplcnet_like() {
    check("pplcnet_like");
}
