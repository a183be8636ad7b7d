//! Every real model of `QCC_TEST_MODELS` quantized the way `qcc MODEL --emit int --equalize` does
//! without samples: equalized, data-free ranges, data-free bias correction, lowered and run on
//! its samples. Each must run and carry signal (SQNR against ONNX Runtime above 0 dB); the SQNR
//! and what each step changed are snapshot per model. Nothing here depends on the CPU: there is
//! no calibration run, the integer ops are exact and the float ops left in the integer graph are
//! evaluated in strict float.

use super::support::{models_dir, root, snapshot, sqnr};
use qcc::backend::target::Target;
use qcc::batch::run_batches;
use qcc::pipeline;
use qcc::quant::WeightBits;

const MODELS: &[&str] = &[
    "tiny_cnn",
    "bn_variants",
    "resnet18",
    "mobilenetv2",
    "efficientnet_lite0",
    "every_op_conv",
    "every_op_act",
    "every_op_pool",
    "every_op_shape",
    "every_op_opset11",
    "every_op_opset21",
    "every_op_clip6",
    "every_op_qdq",
    "split_slice_op13",
    "split_op18",
    "split_slice_op9",
    "yolox_focus",
];

fn check_model(name: &str) -> Result<String, String> {
    let models = models_dir();
    let model = qcc::import::import_file(&models.join(format!("{name}.onnx")))
        .map_err(|e| format!("import failed: {e}"))?;
    // The pipeline's defaults without samples: data-free ranges and data-free bias correction.
    let mut opts = pipeline::Options::new(Target::native()).map_err(|e| e.to_string())?;
    // An already quantized model (every_op_qdq) is only lowered: the CLI refuses --equalize on it.
    opts.quant.equalize = !pipeline::is_quantized(&model);
    opts.quant.weight_bits = Some(WeightBits::Eight);
    let compiled = pipeline::compile(&model, &opts, |_, _| {}).map_err(|e| e.to_string())?;
    let report = &compiled.report;
    let (pairs, corrected) = (
        report.equalized.as_ref().map_or(0, |e| e.pairs.len()),
        report.bias_corrected,
    );
    let int = compiled.int.as_ref().ok_or("no integer model")?;
    let input =
        qcc::npy::read_f32(&models.join(format!("{name}.input.npy"))).map_err(|e| e.to_string())?;
    let expected = qcc::npy::read_f32(&models.join(format!("{name}.expected.npy")))
        .map_err(|e| e.to_string())?;
    let got = run_batches(int, std::slice::from_ref(&input), |_, _| {})
        .map_err(|e| format!("the int model does not run: {e}"))?
        .swap_remove(0);
    if got.shape() != expected.shape() || got.iter().any(|v| !v.is_finite()) {
        return Err(format!(
            "output {:?} (finite: {}) against ORT's {:?}",
            got.shape(),
            got.iter().all(|v| v.is_finite()),
            expected.shape()
        ));
    }
    let flat = |a: &ndarray::ArrayD<f32>| a.iter().copied().collect::<Vec<f32>>();
    let db = sqnr(&flat(&got), &flat(&expected));
    if db <= 0.0 {
        return Err(format!("SQNR {db:.1} dB: the output carries no signal"));
    }
    Ok(format!(
        "{name}: {pairs} pairs equalized, {corrected} layer inputs with estimated means, int {db:.1} dB against ORT"
    ))
}

#[test]
fn every_model_quantizes_without_data() {
    let results: Vec<Result<String, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|t| {
                s.spawn(move || {
                    MODELS
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i % 2 == t)
                        .map(|(i, name)| (i, check_model(name).map_err(|e| format!("{name}: {e}"))))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<_> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("a model thread panicked"))
            .collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, r)| r).collect()
    });
    let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failures.is_empty(), "{failures:?}");
    let summary: String = results
        .into_iter()
        .map(|r| r.expect("checked") + "\n")
        .collect();
    snapshot(
        "real_models_data_free",
        &root().join("tests/python/make_models.py"),
        &summary,
    );
}
