//! Calibration end to end on a small model with inline weights: the ranges file of every method
//! and of the data-free ranges, and the errors (bad samples, a model that overflows, ranges files
//! that do not fit the model), all through one `check` into insta snapshots.

use ndarray::{ArrayD, IxDyn};
use qcc::diag::Source;
use qcc::ir::model::Model;
use qcc::quant::{calibrate, data_free_ranges, Method, Ranges, DEFAULT_INPUT_RANGE};
use qcc::Result;

/// conv (with a folded BatchNorm's γ and β) → relu → add the input → relu6 → pool → gemm.
const FIXTURE: &str = r#"
model @calib_fixture {
  weight @w : tensor<2x1x3x3xf32> = dense<[0.1, 0.2, 0.1, 0.0, 0.5, 0.0, -0.1, -0.2, -0.1, 0.3, -0.3, 0.3, 0.0, 0.0, 0.0, -0.3, 0.3, -0.3]>
  weight @b : tensor<2xf32> = dense<[0.1, -0.2]>
  weight @fc : tensor<3x2xf32> = dense<[1.0, -1.0, 0.5, 0.5, -2.0, 1.0]>
  weight @fb : tensor<3xf32> = dense<[0.0, 0.1, -0.1]>
  %x = input : tensor<1x1x4x4xf32>
  %c = conv2d(%x, @w, @b) {pads = [1, 1, 1, 1], bn_gamma = [0.5, 2.0], bn_beta = [0.1, -1.0]} : tensor<1x2x4x4xf32>
  %r = relu(%c) : tensor<1x2x4x4xf32>
  %a = add(%r, %x) : tensor<1x2x4x4xf32>
  %r6 = clip(%a) {min = 0.0, max = 6.0} : tensor<1x2x4x4xf32>
  %p = global_avg_pool(%r6) : tensor<1x2x1x1xf32>
  %f = flatten(%p) : tensor<1x2xf32>
  %y = gemm(%f, @fc, @fb) {trans_b = true} : tensor<1x3xf32>
  return %y
}
"#;

/// 1 / x: infinite where a sample is 0.
const RECIPROCAL: &str = r#"
model @reciprocal {
  weight @one : tensor<f32> = dense<[1.0]>
  %x = input : tensor<1x4xf32>
  %d = div(@one, %x) : tensor<1x4xf32>
  return %d
}
"#;

fn model(text: &str) -> Model {
    qcc::ir::parse::parse(&Source {
        name: "fixture.ir".into(),
        text: text.into(),
    })
    .unwrap()
}

/// `n` samples of shape `[n, 1, 1, 4, 4]` (stacked), deterministic and of growing amplitude.
fn samples(n: usize) -> ArrayD<f32> {
    let v: Vec<f32> = (0..n * 16)
        .map(|i| (i as f32 * 1.3).sin() * (1.0 + (i / 16) as f32) * 0.5)
        .collect();
    ArrayD::from_shape_vec(IxDyn(&[n, 1, 1, 4, 4]), v).unwrap()
}

fn check(name: &str, result: Result<Ranges>) {
    let text = match result {
        Ok(r) => r.to_json(),
        Err(e) => e.to_string(),
    };
    insta::assert_snapshot!(name, text);
}

fn method(name: &str, m: Method) {
    let mut calls = vec![];
    let r = calibrate(&model(FIXTURE), &[samples(5).into()], m, |done, total| {
        calls.push((done, total))
    });
    assert_eq!(calls, (1..=5).map(|d| (d, 5)).collect::<Vec<_>>());
    check(name, r);
}

#[test]
fn the_ranges_do_not_depend_on_the_cores_calibrating() {
    let m = model(FIXTURE);
    for method in [
        Method::MinMax,
        Method::Percentile(99.0),
        Method::Entropy,
        Method::Mse,
    ] {
        let run = |cores| {
            let mut calls = vec![];
            let r = qcc::quant::calibrate::calibrate_on_cores(
                &m,
                &[samples(7).into()],
                method,
                &qcc::quant::bias_correction::linear_inputs(&m),
                cores,
                |done, total| calls.push((done, total)),
            )
            .unwrap();
            assert_eq!(calls, (1..=7).map(|d| (d, 7)).collect::<Vec<_>>());
            assert_eq!(r.1.len(), 2, "the conv's and the gemm's input means");
            // The means' f64 sums run in sample order whatever thread ran the sample.
            format!("{}\n{:?}", r.0.to_json(), r.1)
        };
        let one = run(1);
        for cores in [2, 3, 8] {
            assert_eq!(run(cores), one, "{method} on {cores} cores");
        }
    }
}

#[test]
fn calibrate_minmax() {
    method("calibrate_minmax", Method::MinMax);
}

#[test]
fn calibrate_percentile() {
    method("calibrate_percentile", Method::Percentile(99.0));
}

#[test]
fn calibrate_entropy() {
    method("calibrate_entropy", Method::Entropy);
}

#[test]
fn calibrate_mse() {
    method("calibrate_mse", Method::Mse);
}

#[test]
fn data_free() {
    check(
        "data_free",
        data_free_ranges(&model(FIXTURE), DEFAULT_INPUT_RANGE),
    );
}

#[test]
fn concatenated_samples_give_the_same_ranges() {
    let m = model(FIXTURE);
    let stacked = calibrate(&m, &[samples(5).into()], Method::MinMax, |_, _| {}).unwrap();
    let flat = samples(5)
        .into_shape_with_order(IxDyn(&[5, 1, 4, 4]))
        .unwrap();
    assert_eq!(
        calibrate(&m, &[flat.into()], Method::MinMax, |_, _| {}).unwrap(),
        stacked
    );
}

#[test]
fn error_nan_sample() {
    let mut s = samples(5);
    s[[3, 0, 0, 2, 1]] = f32::NAN;
    check(
        "error_nan_sample",
        calibrate(&model(FIXTURE), &[s.into()], Method::MinMax, |_, _| {}),
    );
}

#[test]
fn error_inf_in_concatenated_samples() {
    let mut s = samples(5)
        .into_shape_with_order(IxDyn(&[5, 1, 4, 4]))
        .unwrap();
    s[[4, 0, 3, 3]] = f32::NEG_INFINITY;
    check(
        "error_inf_in_concatenated_samples",
        calibrate(&model(FIXTURE), &[s.into()], Method::Entropy, |_, _| {}),
    );
}

#[test]
fn error_wrong_shape() {
    let s = ArrayD::<f32>::zeros(IxDyn(&[5, 1, 1, 4, 5]));
    check(
        "error_wrong_shape",
        calibrate(&model(FIXTURE), &[s.into()], Method::MinMax, |_, _| {}),
    );
}

#[test]
fn error_wrong_input_count() {
    check(
        "error_wrong_input_count",
        calibrate(
            &model(FIXTURE),
            &[samples(2).into(), samples(2).into()],
            Method::MinMax,
            |_, _| {},
        ),
    );
}

#[test]
fn error_op_not_finite() {
    let s = ArrayD::<f32>::from_shape_vec(
        IxDyn(&[2, 1, 4]),
        vec![1.0, 2.0, 3.0, 4.0, 1.0, 0.0, 2.0, 3.0],
    )
    .unwrap();
    check(
        "error_op_not_finite",
        calibrate(&model(RECIPROCAL), &[s.into()], Method::MinMax, |_, _| {}),
    );
}

#[test]
fn error_data_free_division() {
    check(
        "error_data_free_division",
        data_free_ranges(&model(RECIPROCAL), (-1.0, 1.0)),
    );
}

#[test]
fn ranges_files_read_back() {
    let m = model(FIXTURE);
    let r = calibrate(&m, &[samples(5).into()], Method::Entropy, |_, _| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ranges.json");
    r.save(&path).unwrap();
    assert_eq!(Ranges::load(&path, &m).unwrap(), r);
}

/// A ranges file (given as text) loaded against the fixture.
fn load(text: &str) -> Result<Ranges> {
    let r = Ranges::from_json(text, "ranges.json")?;
    r.check(&model(FIXTURE), "ranges.json")?;
    Ok(r)
}

#[test]
fn error_ranges_names() {
    check(
        "error_ranges_names",
        load(
            r#"{"qcc_ranges": 1, "model": "other", "method": "minmax", "ranges": {"x": [0, 1], "cc": [0, 1], "r6x": [0, 6], "zzz": [1, 2], "c": [0, 1]}}"#,
        ),
    );
}

#[test]
fn error_ranges_malformed() {
    let cases = [
        "[1, 2]",
        r#"{"qcc_ranges": 2, "model": "m", "method": "x", "ranges": {}}"#,
        r#"{"model": "m", "method": "x", "ranges": {}}"#,
        r#"{"qcc_ranges": 1, "model": "m", "method": "x", "ranges": {"x": [1, 0]}}"#,
        r#"{"qcc_ranges": 1, "model": "m", "method": "x", "ranges": {"x": [0, "1"]}}"#,
        r#"{"qcc_ranges": 1, "model": "m", "method": "x", "ranges": {"x": [0, 1e39]}}"#,
        r#"{"qcc_ranges": 1, "model": 3, "method": "x", "ranges": {}}"#,
        r#"{"qcc_ranges": 1, "model": "m", "method": "x", "ranges": {"x": [0, 1],}}"#,
    ];
    let text: Vec<String> = cases
        .iter()
        .map(|c| format!("{c}\n  {}", load(c).unwrap_err()))
        .collect();
    insta::assert_snapshot!("error_ranges_malformed", text.join("\n"));
}

/// The fixture through the pipeline with `method`, up to the QDQ model, on 7 samples (and the
/// histograms `layerwise` reads).
fn pipeline_on_fixture(method: Method) -> qcc::pipeline::Compiled {
    let mut opts = qcc::pipeline::Options::new(qcc::backend::target::Target::native()).unwrap();
    opts.stop = qcc::pipeline::Stage::Qdq;
    opts.quant.histograms = true;
    opts.quant.calibration = qcc::pipeline::Calibration::Samples {
        samples: vec![samples(7).into()],
        method,
    };
    qcc::pipeline::compile(&model(FIXTURE), &opts, |_, _| {}).unwrap()
}

/// `layerwise` on the fixture: the ranges it chooses and what it reports. Every chosen range
/// contains the MSE range (no candidate is narrower), the simulated output is no worse than
/// with MSE's ranges, and the choice is the same on 1, 2 and 3 cores.
#[test]
fn calibrate_layerwise() {
    let mse = pipeline_on_fixture(Method::Mse);
    let layerwise = pipeline_on_fixture(Method::Layerwise);
    let (before, after) = (
        mse.report.ranges.as_ref().unwrap(),
        layerwise.report.ranges.as_ref().unwrap(),
    );
    for (name, &(lo, hi)) in &after.ranges {
        let (a, b) = before.ranges[name];
        assert!(
            lo <= a && hi >= b,
            "%{name}: [{lo}, {hi}] inside MSE's [{a}, {b}]"
        );
    }
    let summary = layerwise.report.layerwise.clone().unwrap();
    assert!(summary.chosen_db >= summary.mse_db, "{summary:?}");
    let float = &mse.float;
    let histograms = mse.report.histograms.as_ref().unwrap();
    for cores in [1, 2, 3] {
        let mut calls = vec![];
        let (r, s) = qcc::quant::layerwise::choose(
            float,
            mse.qdq.as_ref().unwrap(),
            &[samples(7).into()],
            before,
            histograms,
            cores,
            |done, total| calls.push((done, total)),
        )
        .unwrap();
        assert_eq!((&r, &s), (after, &summary), "{cores} cores");
        let total = calls.last().map_or(0, |c| c.1);
        assert_eq!(calls, (1..=total).map(|d| (d, total)).collect::<Vec<_>>());
    }
    let by: Vec<String> = summary
        .by_candidate
        .iter()
        .map(|(m, n)| format!("{m}: {n}"))
        .collect();
    insta::assert_snapshot!(format!(
        "{}\nchosen on {} samples ({}), {} refused by the output\nsimulated output SQNR {:.2} dB with MSE ranges, {:.2} dB chosen",
        after.to_json(),
        summary.samples,
        by.join(", "),
        summary.refused,
        summary.mse_db,
        summary.chosen_db
    ));
}
