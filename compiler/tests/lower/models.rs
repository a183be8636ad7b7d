//! The real models of `QCC_TEST_MODELS` through every quantization stage: imported, simplified,
//! calibrated on their own samples (MinMax), quantized (QDQ) and lowered (int). Both stages are
//! saved, read back (the re-printed text equals the file), verified and run on the samples; the
//! int model's SQNR against ONNX Runtime's float output must stay above a floor set a few dB under
//! what was measured, and the ops left in float are snapshot per model.

use super::support::{models_dir, root, snapshot, sqnr};
use ndarray::ArrayD;
use qcc::batch::run_batches;
use qcc::egraph::saturate::Limits;
use qcc::ir::print::print;
use qcc::ir::verify::verify;
use qcc::ir::weights::{read_model, save_model};
use qcc::ir::{Model, OpKind};
use qcc::pipeline::optimize;
use qcc::quant::{calibrate, Method, WeightBits};
use qcc::rules::RuleSet;
use std::path::Path;

/// Every model the Python builders make, and the SQNR floor (dB) of its int8 output against ORT.
/// Measured (8-bit weights, MinMax on the model's own samples) in the comments; the floors sit
/// about 3 dB under, so that a regression fails and noise does not.
const MODELS: &[(&str, f64)] = &[
    ("tiny_cnn", 35.0),           // 37.9
    ("bn_variants", 39.5),        // 42.5
    ("resnet18", 23.0),           // 25.9
    ("mobilenetv2", 8.0),         // 11.0
    ("efficientnet_lite0", 15.5), // 18.6
    ("every_op_conv", 30.5),      // 33.7
    ("every_op_act", 35.0),       // 37.9
    ("every_op_pool", 40.0),      // 43.0
    ("every_op_shape", 41.0),     // 43.9
    ("every_op_opset11", 41.5),   // 44.4
    ("every_op_opset21", 36.0),   // 39.4
    ("every_op_clip6", 35.0),     // 38.2
    ("every_op_qdq", 43.0),       // 46.0
    ("split_slice_op13", 33.5),   // 36.7
    ("split_op18", 35.0),         // 38.0
    ("split_slice_op9", 33.0),    // 35.8
    ("yolox_focus", 36.0),        // 39.3
];

/// Saves a stage, reads it back and checks that the text re-prints identically and verifies.
fn round_trip(model: &Model, path: &Path) -> Result<Model, String> {
    save_model(model, path).map_err(|e| format!("saving {} failed: {e}", path.display()))?;
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let back =
        read_model(path).map_err(|e| format!("{} does not read back:\n{e}", path.display()))?;
    if print(&back) != text {
        return Err(format!("{} re-prints differently", path.display()));
    }
    let problems = verify(&back);
    if !problems.is_empty() {
        return Err(format!("{} does not verify: {problems:?}", path.display()));
    }
    Ok(back)
}

fn run(model: &Model, input: &ArrayD<f32>) -> Result<ArrayD<f32>, String> {
    let mut out = run_batches(model, std::slice::from_ref(input), |_, _| {})
        .map_err(|e| format!("@{} does not run:\n{e}", model.name))?;
    Ok(out.swap_remove(0))
}

/// The ops of an integer model that compute in f32 (not counting the dequantizes that feed them).
fn float_ops(model: &Model) -> Vec<String> {
    model
        .ops_in_order()
        .into_iter()
        .map(|id| model.node(id))
        .filter(|n| {
            n.ty.elem.quant().is_none() && n.op().is_some_and(|o| o.kind != OpKind::Dequantize)
        })
        .map(|n| format!("{} %{}", n.op().expect("an op").kind.name(), n.name))
        .collect()
}

/// One model through every stage; its snapshot line and measured SQNR, or what went wrong.
fn check_model(name: &str, floor: f64, dir: &Path) -> Result<(String, f64), String> {
    let models = models_dir();
    let model = qcc::import::import_file(&models.join(format!("{name}.onnx")))
        .map_err(|e| format!("import failed: {e}"))?;
    let (float, _) = optimize(
        &model,
        &RuleSet::builtin_and(&[]).map_err(|e| e.to_string())?,
        &Limits::default(),
    )
    .map_err(|e| e.to_string())?;
    let input =
        qcc::npy::read_f32(&models.join(format!("{name}.input.npy"))).map_err(|e| e.to_string())?;
    let expected = qcc::npy::read_f32(&models.join(format!("{name}.expected.npy")))
        .map_err(|e| e.to_string())?;
    let ranges = calibrate(
        &float,
        std::slice::from_ref(&input),
        Method::MinMax,
        |_, _| {},
    )
    .map_err(|e| format!("calibration failed: {e}"))?;
    let q = qcc::quant::qdq::quantize(&float, &ranges, WeightBits::Eight)
        .map_err(|e| format!("quantizing failed: {e}"))?;
    let (int, report) = optimize(
        &q.model,
        &RuleSet::lowering_and(&[]).map_err(|e| e.to_string())?,
        &Limits::default(),
    )
    .map_err(|e| format!("lowering failed: {e}"))?;
    if !report.saturated() || !report.refused.is_empty() {
        return Err(format!(
            "lowering stopped at the {}, refused {:?}",
            report.stop, report.refused
        ));
    }
    let qdq = round_trip(&q.model, &dir.join(format!("{name}.qdq.ir")))?;
    let int = round_trip(&int, &dir.join(format!("{name}.int.ir")))?;
    let got_qdq = run(&qdq, &input)?;
    let got_int = run(&int, &input)?;
    if got_int.shape() != expected.shape() || got_qdq.shape() != expected.shape() {
        return Err(format!(
            "output shapes {:?} (qdq), {:?} (int) against ORT's {:?}",
            got_qdq.shape(),
            got_int.shape(),
            expected.shape()
        ));
    }
    let flat = |a: &ArrayD<f32>| a.iter().copied().collect::<Vec<f32>>();
    let (db, db_qdq) = (
        sqnr(&flat(&got_int), &flat(&expected)),
        sqnr(&flat(&got_qdq), &flat(&expected)),
    );
    eprintln!("{name}: int {db:.1} dB, qdq {db_qdq:.1} dB against ORT");
    if db < floor {
        return Err(format!("int8 SQNR {db:.1} dB against ORT is under the floor of {floor} dB (QDQ: {db_qdq:.1} dB)"));
    }
    let left = float_ops(&int);
    let listed = if left.is_empty() {
        "none".to_string()
    } else {
        left.join(", ")
    };
    Ok((
        format!(
            "{name}: {} ops, {} left float: {listed}",
            int.ops_in_order().len(),
            left.len()
        ),
        db,
    ))
}

#[test]
fn every_model_quantizes_round_trips_and_keeps_its_sqnr() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // Two at a time: the machine the suite runs on has two cores, and each model is one thread.
    let mut results: Vec<(usize, Result<(String, f64), String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|t| {
                let dir = dir.path();
                s.spawn(move || {
                    MODELS
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i % 2 == t)
                        .map(|(i, &(name, floor))| (i, check_model(name, floor, dir)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a model thread panicked"))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(i, r)| r.as_ref().err().map(|e| format!("{}: {e}", MODELS[*i].0)))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let summary: String = results
        .into_iter()
        .map(|(_, r)| r.expect("checked above").0 + "\n")
        .collect();
    snapshot(
        "real_models_float_ops",
        &root().join("tests/python/make_models.py"),
        &summary,
    );
}
