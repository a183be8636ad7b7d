//! `--rounding adaround` on the digits example (real handwritten digits): calibrated on 100
//! images, measured on the other 350, the integer model answers closer to the float one than
//! with nearest rounding; a layer with fewer input patches than weights per row keeps nearest
//! rounding; every learned code is one of its weight's two roundings; the codes do not depend on
//! the core count; by default rounding is learned from 16 samples or more only; and the pipeline
//! refuses to learn without samples.

use ndarray::{Axis, Slice};
use qcc::backend::target::Target;
use qcc::ir::Model;
use qcc::pipeline::{self, Calibration, Stage};
use qcc::quant::params::{quantize_weights, weights};
use qcc::quant::rounding::{learn, Rounding};
use qcc::quant::{Method, WeightBits};
use runtime::Tensor;
use std::path::Path;

fn digits() -> (Model, ndarray::ArrayD<f32>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits");
    let model = qcc::ir::weights::read_model(&root.join("digits.ir")).unwrap();
    let images = qcc::npy::read_f32(&root.join("test_images.npy")).unwrap();
    (model, images)
}

fn rows(a: &ndarray::ArrayD<f32>, from: usize, to: usize) -> ndarray::ArrayD<f32> {
    a.slice_axis(Axis(0), Slice::from(from..to)).to_owned()
}

/// The integer model of `rounding` with 7-bit weights, calibrated on the first 100 images.
fn compiled(rounding: Rounding) -> pipeline::Compiled {
    let (model, images) = digits();
    let mut opts = pipeline::Options::new(Target::native()).unwrap();
    opts.stop = Stage::Int;
    opts.quant.weight_bits = Some(WeightBits::Seven);
    opts.quant.calibration = Calibration::Samples {
        samples: vec![rows(&images, 0, 100).into()],
        method: Method::Mse,
    };
    opts.quant.rounding = rounding;
    pipeline::compile(&model, &opts, |_, _| {}).unwrap()
}

/// SQNR in dB of `int` against `float` over the 350 held-out images, and how many top-1 answers
/// agree.
fn held_out(float: &Model, int: &Model) -> (f64, usize) {
    let (_, images) = digits();
    let (mut signal, mut noise, mut agree) = (0f64, 0f64, 0);
    for i in 100..images.shape()[0] {
        let x: Tensor = rows(&images, i, i + 1).into();
        let f = qcc::interp::run(float, std::slice::from_ref(&x)).unwrap();
        let q = qcc::interp::run(int, &[x]).unwrap();
        let (f, q) = (f[0].as_f32().unwrap(), q[0].as_f32().unwrap());
        signal += f.iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
        noise += f
            .iter()
            .zip(q)
            .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
            .sum::<f64>();
        let top = |a: &ndarray::ArrayD<f32>| {
            (0..a.len())
                .max_by(|&i, &j| a.as_slice().unwrap()[i].total_cmp(&a.as_slice().unwrap()[j]))
                .unwrap()
        };
        agree += usize::from(top(f) == top(q));
    }
    (10.0 * (signal / noise).log10(), agree)
}

#[test]
fn learned_rounding_answers_closer_to_float_than_nearest() {
    let nearest = compiled(Rounding::Nearest);
    let learned = compiled(Rounding::Adaround);
    let (db_nearest, agree_nearest) = held_out(&nearest.float, nearest.int.as_ref().unwrap());
    let (db_learned, agree_learned) = held_out(&learned.float, learned.int.as_ref().unwrap());
    let report = learned.report.rounding.as_ref().expect("adaround ran");
    // fc reads one row of 256 features per image: 100 rows cannot teach 256 weights a row.
    assert_eq!(report.layers.len(), 2, "conv1 and conv2: {report:?}");
    assert_eq!(report.skipped, ["logits"], "{report:?}");
    assert!(report.moved > 0 && report.mean_gain_db > 0.0, "{report:?}");
    assert!(
        db_learned > db_nearest + 0.5,
        "held-out SQNR: adaround {db_learned:.2} dB, nearest {db_nearest:.2} dB"
    );
    assert!(
        agree_learned >= agree_nearest,
        "top-1 agreement: adaround {agree_learned}, nearest {agree_nearest} of 350"
    );
}

#[test]
fn every_code_is_a_rounding_of_its_weight_and_the_cores_do_not_matter() {
    let (model, images) = digits();
    let samples: Vec<Tensor> = vec![rows(&images, 0, 100).into()];
    let bits = WeightBits::Seven;
    let ranges = qcc::quant::calibrate(&model, &samples, Method::Mse, |_, _| {}).unwrap();
    let qdq = qcc::quant::qdq::quantize_with(&model, &ranges, &qcc::quant::qdq::Options::new(bits))
        .unwrap()
        .model;
    let run = |cores| {
        learn(
            &model,
            &qdq,
            &Default::default(),
            &samples,
            bits,
            &Default::default(),
            &Default::default(),
            8,
            cores,
            |_, _| {},
        )
        .unwrap()
    };
    let (one, shift_one, learned) = run(1);
    let (three, shift_three, _) = run(3);
    assert_eq!(one, three, "codes learned on 1 and on 3 cores differ");
    assert_eq!(
        shift_one, shift_three,
        "bias shifts on 1 and on 3 cores differ"
    );
    assert!(learned.moved > 0);
    for (name, codes) in &one {
        let n = model.find(name).unwrap();
        let op = model.node(n).op().unwrap();
        let w = model.node(model.operands(n)[1]).weight().unwrap();
        let w = w.as_f32().unwrap();
        let axis = if op.kind == qcc::ir::OpKind::Gemm && op.bool("trans_b") != Some(true) {
            1
        } else {
            0
        };
        let chosen = weights(name, w, axis, bits).unwrap();
        let nearest = quantize_weights(w, &chosen.params, bits);
        for o in 0..w.shape()[axis] {
            let s = chosen.params.scales[o] as f64;
            let lanes = codes
                .index_axis(Axis(axis), o)
                .into_iter()
                .zip(nearest.index_axis(Axis(axis), o))
                .zip(w.index_axis(Axis(axis), o));
            for ((&c, &q), &v) in lanes {
                let u = v as f64 / s;
                assert!(
                    (c as f64 == u.floor() || c as f64 == u.ceil() || c == q) && c.abs() <= 63,
                    "%{name}, channel {o}: code {c} for w/s = {u}"
                );
            }
        }
    }
}

#[test]
fn learning_needs_samples() {
    let (model, _) = digits();
    let mut opts = pipeline::Options::new(Target::native()).unwrap();
    opts.quant.rounding = Rounding::Adaround;
    let err = pipeline::compile(&model, &opts, |_, _| {})
        .err()
        .expect("data-free calibration has no samples to learn on")
        .to_string();
    assert!(err.contains("calibrate on samples"), "{err}");
}

#[test]
fn by_default_rounding_is_learned_from_enough_samples_only() {
    let (model, images) = digits();
    let default_on = |n: usize| {
        let mut opts = pipeline::Options::new(Target::native()).unwrap();
        opts.stop = Stage::Int;
        opts.quant.calibration = Calibration::Samples {
            samples: vec![rows(&images, 0, n).into()],
            method: Method::Mse,
        };
        pipeline::compile(&model, &opts, |_, _| {}).unwrap().report
    };
    let few = default_on(8);
    assert_eq!(few.auto_rounding, Some((Rounding::Nearest, Some(8))));
    assert!(few.rounding.is_none(), "{:?}", few.rounding);
    let enough = default_on(qcc::quant::rounding::AUTO_MIN_SAMPLES);
    assert_eq!(
        enough.auto_rounding,
        Some((
            Rounding::Adaround,
            Some(qcc::quant::rounding::AUTO_MIN_SAMPLES)
        ))
    );
    assert!(enough.rounding.is_some());
}
