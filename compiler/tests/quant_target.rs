//! `--target-sqnr`: the search raises precision only while the outputs fall short, keeps only
//! what lifted them, leaves layers float only with `--target-float`, and what it keeps compiles
//! to the same integer model as the flags it prints; which raise it tries next (16-bit inputs first, then layers by the noise they add,
//! cheapest raise first) on hand-made measurements.

use qcc::backend::target::Target;
use qcc::ir::{Model, OpKind};
use qcc::pipeline::{self, Calibration, Compiled};
use qcc::quant::report::{Halves, Layer, Measured};
use qcc::quant::target::{next, ranked, Precision, Raise};
use qcc::quant::{Method, WeightBits};
use std::collections::BTreeSet;
use std::path::Path;

fn digits() -> (Model, runtime::Tensor) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let model = qcc::ir::weights::read_model(&root.join("examples/digits/digits.ir")).unwrap();
    let images = qcc::npy::read_f32(&root.join("examples/digits/test_images.npy")).unwrap();
    let images = images
        .slice_axis(ndarray::Axis(0), (0..64).into())
        .to_owned();
    (model, images.into())
}

/// The digits model compiled on its samples (adaround: 64 samples) under `precision`, with
/// `target` if given (and float layers allowed to meet it with `float`).
fn compile(
    model: &Model,
    samples: &runtime::Tensor,
    precision: &Precision,
    target: Option<f64>,
    float: bool,
) -> Compiled {
    let mut opts = pipeline::Options::new(Target::native()).unwrap();
    opts.quant.calibration = Calibration::Samples {
        samples: vec![samples.clone()],
        method: Method::Mse,
    };
    opts.quant.weight_bits = Some(WeightBits::Eight);
    opts.quant.keep_float = precision.keep_float.clone();
    opts.quant.bits_for = precision.bits_for.clone();
    opts.quant.wide = precision.wide.clone();
    opts.quant.target_sqnr = target;
    opts.quant.target_float = float;
    pipeline::compile(model, &opts, |_, _| {}).unwrap()
}

/// The integer model as text, with every weight's values (the text holds only small ones).
fn text(c: &Compiled) -> (String, Vec<Vec<f64>>) {
    let m = c.int.as_ref().expect("lowered");
    let weights = m
        .graph
        .node_indices()
        .filter_map(|n| m.node(n).weight().map(|w| w.to_f64_vec()))
        .collect();
    (qcc::ir::print::print(m), weights)
}

#[test]
fn a_target_already_met_changes_nothing() {
    let (model, samples) = digits();
    let plain = compile(&model, &samples, &Precision::default(), None, false);
    let met = compile(&model, &samples, &Precision::default(), Some(10.0), false);
    let search = met.report.target.as_ref().expect("the search ran");
    assert!(search.start_db >= 10.0, "{search:?}");
    assert_eq!((search.steps.len(), &search.gave_up), (0, &None));
    assert_eq!(text(&plain), text(&met));
}

#[test]
fn an_unreachable_target_keeps_only_raises_that_lift_the_outputs() {
    let (model, samples) = digits();
    let searched = compile(&model, &samples, &Precision::default(), Some(120.0), true);
    let search = searched.report.target.clone().expect("the search ran");
    assert!(search.gave_up.is_some(), "120 dB cannot be met: {search:?}");
    assert!(!search.steps.is_empty(), "{search:?}");
    // Every kept step lifted the whole samples' worst output; the end is the last kept step's.
    let mut last = search.start_db;
    for s in search.steps.iter().filter(|s| s.kept) {
        assert!(s.sqnr_db > last, "a kept step did not gain: {search:?}");
        last = s.sqnr_db;
    }
    assert_eq!(search.end_db, last);
    // The raises kept, given as flags, compile to the very same integer model.
    let chosen = search.kept().fold(Precision::default(), |p, r| p.with(r));
    let again = compile(&model, &samples, &chosen, None, false);
    assert_eq!(text(&searched), text(&again));
    // And the printed flags name exactly those raises.
    for r in search.kept() {
        let name = match r {
            Raise::WeightBits(n) | Raise::Wide(n) | Raise::KeepFloat(n) => n,
        };
        assert!(search.flags().contains(name.as_str()), "{}", search.flags());
    }
    // The input's 16 bits are tried first: it is the one integer raise this model has.
    assert_eq!(
        search.steps[0].raise,
        Raise::Wide("image".into()),
        "{search:?}"
    );
}

#[test]
fn without_target_float_every_layer_stays_integer() {
    let (model, samples) = digits();
    let searched = compile(&model, &samples, &Precision::default(), Some(120.0), false);
    let search = searched.report.target.expect("the search ran");
    assert!(
        search
            .steps
            .iter()
            .all(|s| !matches!(s.raise, Raise::KeepFloat(_))),
        "{search:?}"
    );
    assert!(
        searched.report.float_ops.is_empty(),
        "{:?}",
        searched.report.float_ops
    );
    assert!(
        search
            .gave_up
            .as_deref()
            .is_some_and(|w| w.contains("--target-float")),
        "{search:?}"
    );
}

fn layer(name: &str, op: &str, sqnr_db: f64) -> Layer {
    Layer {
        name: name.into(),
        op: op.into(),
        sqnr_db,
    }
}

/// The digits model's measurement as `--report` would have it, by hand: the input at 45 dB, the
/// first conv+ReLU at 44, the second at 30, the pool and flatten passing it on, the classifier
/// at 29.
fn measured() -> Measured {
    Measured {
        layers: vec![
            layer("logits", "gemm", 29.0),
            layer("relu2_Relu_output_0", "relu", 30.0),
            layer("pool_MaxPool_output_0", "max_pool", 30.0),
            layer("Flatten_output_0", "flatten", 30.0),
            layer("relu1_Relu_output_0", "relu", 44.0),
        ],
        inputs: vec![layer("image", "input", 45.0)],
        outputs: vec![layer("logits", "gemm", 29.0)],
        halves: Halves {
            all: 29.0,
            even: 29.0,
            odd: 29.0,
            count: 2,
        },
    }
}

#[test]
fn layers_rank_by_the_noise_they_add_not_the_noise_they_carry() {
    let (model, _) = digits();
    let float = compile(&model, &digits().1, &Precision::default(), None, false).float;
    let ranked: Vec<String> = ranked(&float, &measured())
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    // relu2 adds 30 dB's noise over relu1's 44; logits adds 29 over 30; the pool and flatten
    // add nothing, ties by name.
    assert_eq!(
        ranked,
        [
            "relu2_Relu_output_0",
            "logits",
            "relu1_Relu_output_0",
            "Flatten_output_0",
            "pool_MaxPool_output_0"
        ]
    );
}

#[test]
fn the_next_raise_is_the_cheapest_one_not_in_force_or_refused() {
    let (model, samples) = digits();
    let float = compile(&model, &samples, &Precision::default(), None, false).float;
    let m = measured();
    let none = BTreeSet::new();
    let take = |bits, now: &Precision, refused: &BTreeSet<Raise>| {
        next(&float, &m, bits, now, refused, true).map(|(_, r)| r)
    };
    // 16 bits for the input first, while it is not in force.
    let wide = Raise::Wide("image".into());
    assert_eq!(
        take(WeightBits::Eight, &Precision::default(), &none),
        Some(wide.clone())
    );
    let now = Precision::default().with(&wide);
    // Then the layer adding the most noise: 8-bit weights for its conv where it has 7 (the
    // report names the ReLU; the weights are its conv's), float where it has 8.
    let conv = float
        .ops_in_order()
        .into_iter()
        .find(|&n| {
            float.node(n).op().is_some_and(|o| o.kind == OpKind::Conv2d)
                && float
                    .users(n)
                    .iter()
                    .any(|&(u, _)| float.node(u).name == "relu2_Relu_output_0")
        })
        .map(|n| float.node(n).name.clone())
        .expect("relu2's conv");
    assert_eq!(
        take(WeightBits::Seven, &now, &none),
        Some(Raise::WeightBits(conv.clone()))
    );
    let keep = Raise::KeepFloat("relu2_Relu_output_0".into());
    assert_eq!(take(WeightBits::Eight, &now, &none), Some(keep.clone()));
    // A refused raise is passed over for the next layer's.
    let refused: BTreeSet<Raise> = [keep.clone()].into();
    assert_eq!(
        take(WeightBits::Eight, &now, &refused),
        Some(Raise::KeepFloat("logits".into()))
    );
    // relu2 kept float: its result feeds a pool, not a convolution, so it cannot take 16 bits.
    let kept = now.with(&keep);
    assert_eq!(
        take(WeightBits::Eight, &kept, &none),
        Some(Raise::KeepFloat("logits".into()))
    );
    // relu1 kept float: its result feeds only relu2's conv, which can read 16 bits.
    let relu1 = Raise::KeepFloat("relu1_Relu_output_0".into());
    assert_eq!(
        take(WeightBits::Eight, &now.with(&relu1), &none),
        Some(Raise::Wide("relu1_Relu_output_0".into()))
    );
    // Unless relu2 is kept float too, taking its conv with it. The pool and the flatten only
    // move codes: with logits float as well, nothing is left.
    let spent = kept.with(&relu1).with(&Raise::KeepFloat("logits".into()));
    assert_eq!(take(WeightBits::Eight, &spent, &none), None);
}
