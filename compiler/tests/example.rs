//! The bundled example (`examples/digits`) stays consistent with itself: the committed IR is what
//! `qcc import` makes of the committed ONNX, and the interpreter scores the committed test images
//! exactly as `examples/digits/README.md` says, before and after the optimizer folds the BatchNorms.

use qcc::batch::run_batches;
use qcc::egraph::saturate::Limits;
use qcc::import::import_file;
use qcc::ir::weights::{read_model, save_model};
use qcc::ir::Model;
use qcc::pipeline::optimize;
use qcc::rules::RuleSet;
use std::path::{Path, PathBuf};

fn example(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/digits")
        .join(file)
}

/// The README's `top-1: C/N = P%` line: (C, N).
fn readme_top1() -> (usize, usize) {
    let readme = std::fs::read_to_string(example("README.md"))
        .expect("examples/digits/README.md is committed");
    let line = readme
        .lines()
        .find_map(|l| l.trim().strip_prefix("top-1: "))
        .expect("the README states `top-1: C/N = P%`");
    let (count, _) = line.split_once(" = ").expect("`C/N = P%`");
    let (c, n) = count.split_once('/').expect("`C/N`");
    (
        c.parse().expect("C is an integer"),
        n.parse().expect("N is an integer"),
    )
}

/// How many test images the model classifies right: argmax (first maximum) against the labels.
fn correct(model: &Model) -> (usize, usize) {
    let images =
        qcc::npy::read_f32(&example("test_images.npy")).expect("test images are committed");
    let labels: Vec<usize> = std::fs::read_to_string(example("test_labels.txt"))
        .expect("test labels are committed")
        .lines()
        .map(|l| l.parse().expect("one class per line"))
        .collect();
    let logits = run_batches(model, &[images], |_, _| {})
        .expect("the example runs")
        .remove(0);
    assert_eq!(
        logits.shape(),
        [labels.len(), 10],
        "one row of 10 logits per test image"
    );
    let right = logits
        .outer_iter()
        .zip(&labels)
        .filter(|(row, &y)| {
            let best = (0..row.len()).fold(0, |b, j| if row[j] > row[b] { j } else { b });
            best == y
        })
        .count();
    (right, labels.len())
}

#[test]
fn the_ir_is_the_import_of_the_onnx() {
    let dir = tempfile::tempdir().expect("scratch directory");
    let model = import_file(&example("digits.onnx")).expect("the example imports");
    save_model(&model, &dir.path().join("digits.ir")).expect("saved");
    for file in ["digits.ir", "digits.safetensors"] {
        let fresh = std::fs::read(dir.path().join(file)).expect("written");
        let committed = std::fs::read(example(file)).expect("committed");
        assert!(
            fresh == committed,
            "examples/digits/{file} is not what `qcc import examples/digits/digits.onnx -o examples/digits/digits.ir` writes; rerun it"
        );
    }
}

#[test]
fn accuracy_is_the_readme_s() {
    let (c, n) = readme_top1();
    assert!(
        c * 100 >= 97 * n,
        "the README claims {c}/{n}, below the example's 97% target"
    );
    let model = read_model(&example("digits.ir")).expect("the example reads");
    assert_eq!(
        correct(&model),
        (c, n),
        "the interpreter's top-1 on the test images differs from the README's"
    );
}

#[test]
fn folding_batch_norm_keeps_the_accuracy() {
    let model = read_model(&example("digits.ir")).expect("the example reads");
    let rules = RuleSet::builtin_and(&[]).expect("built-in rules compile");
    let (folded, report) =
        optimize(&model, &rules, &Limits::default()).expect("the example optimizes");
    assert!(
        !qcc::ir::print::print(&folded).contains("batch_norm("),
        "no BatchNorm is left"
    );
    assert_eq!(
        report.fired.get("fold-bn-into-conv-without-bias"),
        Some(&2),
        "both BatchNorms fold into their convolutions"
    );
    assert_eq!(correct(&folded), readme_top1());
}
