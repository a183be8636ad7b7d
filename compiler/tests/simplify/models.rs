//! The real models of `QCC_TEST_MODELS` (ONNX, with ONNX Runtime's outputs): imported, optimized
//! with the built-in rules, and checked. Saturation must end by saturating, not at a limit; the
//! result verifies; no BatchNorm is left in the networks that have them; on the model's samples
//! the optimized model computes what the imported one does and what ORT did, within 1e-4 of the
//! largest output. The snapshot lists, per model, the op count before and after and the rules
//! that fired.

use super::support::{agree, count, fired, models_dir, root, snapshot, Agree};
use ndarray::ArrayD;
use qcc::batch::run_batches;
use qcc::egraph::saturate::Limits;
use qcc::ir::verify::verify;
use qcc::ir::{Model, OpKind};
use qcc::pipeline::optimize;
use qcc::rules::RuleSet;
use runtime::Tensor;

/// The models, and whether they hold BatchNorms that must all fold.
const MODELS: &[(&str, bool)] = &[
    ("tiny_cnn", true),
    ("bn_variants", true),
    ("resnet18", true),
    ("mobilenetv2", true),
    ("efficientnet_lite0", true),
    ("every_op_conv", false),
    ("every_op_act", false),
    ("every_op_pool", false),
    ("every_op_shape", false),
    ("every_op_opset11", false),
    ("every_op_opset21", false),
    ("every_op_clip6", false),
    ("every_op_qdq", false),
];

fn outputs(model: &Model, input: &ArrayD<f32>) -> Vec<Tensor> {
    let out = run_batches(model, std::slice::from_ref(input), |_, _| {})
        .unwrap_or_else(|e| panic!("@{} does not run:\n{e}", model.name));
    out.into_iter().map(Tensor::F32).collect()
}

/// Optimizes one model and checks it; gives its snapshot lines, or what went wrong.
fn check_model(name: &str, has_bn: bool, rules: &RuleSet) -> Result<String, String> {
    let dir = models_dir();
    let model = qcc::import::import_file(&dir.join(format!("{name}.onnx")))
        .map_err(|e| format!("import failed: {e}"))?;
    let problems = verify(&model);
    if !problems.is_empty() {
        return Err(format!("the imported model does not verify: {problems:?}"));
    }
    let (out, report) = optimize(&model, rules, &Limits::default())
        .map_err(|e| format!("optimizing failed: {e}"))?;
    let problems = verify(&out);
    if !problems.is_empty() {
        return Err(format!("the optimized model does not verify: {problems:?}"));
    }
    if !report.saturated() {
        return Err(format!("saturation stopped at the {}", report.stop));
    }
    if !report.refused.is_empty() {
        return Err(format!("replacements were refused: {:?}", report.refused));
    }
    let left = count(&out, OpKind::BatchNorm);
    if has_bn && (left > 0 || count(&model, OpKind::BatchNorm) == 0) {
        return Err(format!(
            "{left} of {} BatchNorms are left:\n{}",
            count(&model, OpKind::BatchNorm),
            qcc::explain::explain(&report, &out)
        ));
    }
    let input =
        qcc::npy::read_f32(&dir.join(format!("{name}.input.npy"))).map_err(|e| e.to_string())?;
    let expected = Tensor::F32(
        qcc::npy::read_f32(&dir.join(format!("{name}.expected.npy"))).map_err(|e| e.to_string())?,
    );
    let (before, after) = (outputs(&model, &input), outputs(&out, &input));
    agree(&after, &before, Agree::Rel(1e-4))
        .map_err(|e| format!("optimized against imported: {e}"))?;
    agree(
        &after[..1],
        std::slice::from_ref(&expected),
        Agree::Rel(1e-4),
    )
    .map_err(|e| format!("optimized against ORT: {e}"))?;
    let rules_fired = match fired(&report).lines().collect::<Vec<_>>().join(", ") {
        none if none.is_empty() => "no rule fired".to_string(),
        some => some,
    };
    Ok(format!(
        "{name}: {} → {} ops, {} BatchNorms → {left}; {rules_fired}",
        model.ops_in_order().len(),
        out.ops_in_order().len(),
        count(&model, OpKind::BatchNorm)
    ))
}

#[test]
fn real_models_optimize_correctly() {
    let rules = RuleSet::builtin_and(&[]).expect("the built-in rules load");
    // Two at a time: the machine the suite runs on has two cores, and each model is one thread.
    let results: Vec<(usize, Result<String, String>)> = std::thread::scope(|s| {
        let chunks: Vec<Vec<(usize, &(&str, bool))>> = vec![
            MODELS
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 2 == 0)
                .collect(),
            MODELS
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 2 == 1)
                .collect(),
        ];
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let rules = &rules;
                s.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|(i, &(name, bn))| (i, check_model(name, bn, rules)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a model thread panicked"))
            .collect()
    });
    let mut results = results;
    results.sort_by_key(|(i, _)| *i);
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(i, r)| r.as_ref().err().map(|e| format!("{}: {e}", MODELS[*i].0)))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let summary: String = results
        .into_iter()
        .map(|(_, r)| r.expect("checked above") + "\n")
        .collect();
    snapshot(
        "real_models",
        &root().join("tests/python/make_models.py"),
        &summary,
    );
}

/// `single_use` counts uses in the programs extraction can pick, not dead alternatives: after the
/// built-in BatchNorm folds, the unfolded convolutions still read the folded ones in the e-graph,
/// yet the 1×1-merge user rule (tests/rules/user/merge_1x1.rules), guarded by `single_use` on
/// its inner conv, fires on MobileNetV2. The network extracted from the e-graph holding the
/// merges computes the same within 1e-4 and still matches ONNX Runtime.
#[test]
fn merging_1x1_convs_fires_on_mobilenetv2_after_bn_folding() {
    let dir = models_dir();
    let model = qcc::import::import_file(&dir.join("mobilenetv2.onnx")).expect("imports");
    let file = "tests/rules/user/merge_1x1.rules";
    let text = std::fs::read_to_string(root().join(file)).expect("the rule file reads");
    let rules = RuleSet::builtin_and(&[(file.to_string(), text)]).expect("the rules load");
    let (out, report) = optimize(&model, &rules, &Limits::default()).expect("optimizes");
    assert!(report.saturated(), "stopped at the {}", report.stop);
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    let merged = report.fired.get("merge-1x1-convs").copied().unwrap_or(0);
    assert!(merged > 0, "the merge never fired:\n{}", fired(&report));
    assert_eq!(count(&out, OpKind::BatchNorm), 0);
    let builtin = RuleSet::builtin_and(&[]).expect("the built-in rules load");
    let (plain, _) = optimize(&model, &builtin, &Limits::default()).expect("optimizes");
    let (convs, convs_merged) = (count(&plain, OpKind::Conv2d), count(&out, OpKind::Conv2d));
    // Extraction decides whether a merge pays: across MobileNetV2's bottleneck (wide → narrow →
    // wide) the merged conv costs more MACs than the two it replaces, so it may stay unused.
    assert!(
        convs_merged <= convs,
        "{convs} convs before, {convs_merged} after"
    );
    let input = qcc::npy::read_f32(&dir.join("mobilenetv2.input.npy")).expect("input");
    let expected =
        Tensor::F32(qcc::npy::read_f32(&dir.join("mobilenetv2.expected.npy")).expect("ORT"));
    let (before, after) = (outputs(&model, &input), outputs(&out, &input));
    agree(&after, &before, Agree::Rel(1e-4))
        .unwrap_or_else(|e| panic!("merged against imported: {e}"));
    agree(
        &after[..1],
        std::slice::from_ref(&expected),
        Agree::Rel(1e-4),
    )
    .unwrap_or_else(|e| panic!("merged against ORT: {e}"));
    snapshot(
        "mobilenetv2_merge_1x1",
        &root().join(file),
        &format!(
            "merge-1x1-convs fired {merged} times (in the e-graph, alternatives included)\n\
             convs after the built-in rules: {convs}; with the merge: {convs_merged}\n\
             ops: {} → {}\n",
            plain.ops_in_order().len(),
            out.ops_in_order().len()
        ),
    );
}
