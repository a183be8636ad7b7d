//! `--report`: on the digits example, every quantized layer is listed once, worst first, and
//! none loses more than a well-calibrated int8 layer should (the numbers depend on the float
//! kernels' last bits, so they are bounded rather than snapshotted).

use qcc::backend::target::Target;
use qcc::pipeline::{self, Calibration};
use qcc::quant::{BiasCorrection, Method, WeightBits};
use std::path::Path;

#[test]
fn digits_report_lists_every_layer_worst_first() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let model = qcc::ir::weights::read_model(&root.join("examples/digits/digits.ir")).unwrap();
    let images = qcc::npy::read_f32(&root.join("examples/digits/test_images.npy")).unwrap();
    let mut opts = pipeline::Options::new(Target::native()).unwrap();
    opts.quant.calibration = Calibration::Samples {
        samples: vec![images.into()],
        method: Method::Mse,
    };
    opts.quant.weight_bits = Some(WeightBits::Eight);
    opts.quant.bias_correction = Some(BiasCorrection::Off);
    opts.quant.layer_report = true;
    let compiled = pipeline::compile(&model, &opts, |_, _| {}).unwrap();
    let layers = compiled
        .report
        .layers
        .expect("the per-layer report was asked for");
    let names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        names.len(),
        "a layer is listed twice: {names:?}"
    );
    // Two conv+ReLU layers, the pool, the flatten and the classifier.
    assert_eq!(layers.len(), 5, "{layers:?}");
    assert!(
        layers.windows(2).all(|w| w[0].sqnr_db <= w[1].sqnr_db),
        "not worst first: {layers:?}"
    );
    assert!(
        layers.iter().all(|l| l.sqnr_db > 30.0),
        "a layer lost too much: {layers:?}"
    );
    let text = qcc::quant::report::render(&layers);
    assert!(
        text.starts_with("per-layer SQNR") && text.lines().count() == 6,
        "{text}"
    );
}
