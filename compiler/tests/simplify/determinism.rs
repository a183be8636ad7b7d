//! The same input and flags give the same bytes: IR text and `.safetensors`, whatever the hash
//! seeds of the run (every run and every process has its own).

use super::support::{check, models_dir, qcc, stderr};
use qcc::egraph::saturate::Limits;
use qcc::ir::weights::save_model;
use qcc::pipeline::optimize;
use qcc::rules::RuleSet;
use std::path::Path;

/// The `.ir` and `.safetensors` bytes a save left in `dir` (the weights file may be absent).
fn files(dir: &Path) -> (Vec<u8>, Option<Vec<u8>>) {
    let ir = std::fs::read(dir.join("out.ir")).expect("the IR was written");
    (ir, std::fs::read(dir.join("out.safetensors")).ok())
}

#[test]
fn resnet18_optimizes_to_the_same_bytes_twice() {
    let model =
        qcc::import::import_file(&models_dir().join("resnet18.onnx")).expect("resnet18 imports");
    let rules = RuleSet::builtin_and(&[]).expect("the built-in rules load");
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let (out, _) =
                optimize(&model, &rules, &Limits::default()).expect("resnet18 optimizes");
            let dir = tempfile::tempdir().expect("a temporary directory");
            save_model(&out, &dir.path().join("out.ir")).expect("the result saves");
            files(dir.path())
        })
        .collect();
    assert!(
        runs[0].1.is_some(),
        "resnet18's folded weights should go to a .safetensors file"
    );
    assert!(runs[0] == runs[1], "two optimizations of resnet18 differ");
}

/// `tests/simplify/determinism/mixed.ir` (five folds over three rounds, weights large enough to
/// go to a `.safetensors` file, two outputs) is checked like every fixture, then optimized by the
/// binary twice: two processes, two sets of hash seeds, the same bytes.
#[test]
fn fixture_optimizes_to_the_same_bytes_in_two_processes() {
    let rules = RuleSet::builtin_and(&[]).expect("the built-in rules load");
    check(
        "determinism_mixed",
        "determinism/mixed.ir",
        &rules,
        &Limits::default(),
    );
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let out = dir.path().join("out.ir");
            let o = qcc(&[
                "tests/simplify/determinism/mixed.ir",
                "-o",
                out.to_str().expect("UTF-8 path"),
            ]);
            assert!(o.status.success(), "qcc failed:\n{}", stderr(&o));
            files(dir.path())
        })
        .collect();
    assert!(
        runs[0].1.is_some(),
        "the fixture's folded weights should go to a .safetensors file"
    );
    assert!(
        runs[0] == runs[1],
        "two runs differ:\n{}\n---\n{}",
        String::from_utf8_lossy(&runs[0].0),
        String::from_utf8_lossy(&runs[1].0)
    );
}
