//! How the threaded entries divide real models under the default thread grain: each step's
//! estimated work, its units and the most parts it is worth, and how many threads beyond the
//! caller's a run pays for, snapshotted per model. A small model must run on the calling
//! thread alone (starting a thread costs more than it computes); a large one must split its
//! big layers.

use qcc::backend::target::Target;
use qcc::backend::{codegen, Options, DEFAULT_THREAD_GRAIN_NS};
use qcc::ir::Model;
use qcc::pipeline;
use std::fmt::Write;
use std::path::{Path, PathBuf};

fn models_dir() -> PathBuf {
    let dir = std::env::var_os("QCC_TEST_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/.work/models"));
    assert!(
        dir.join("manifest.json").is_file(),
        "{} has no manifest.json: run ./scripts/test.sh first",
        dir.display()
    );
    dir
}

/// The integer model of `path` (data-free ranges: the division depends on shapes only).
fn int_model(path: &Path) -> Model {
    let float = qcc::import::import_file(path).unwrap_or_else(|e| panic!("{e}"));
    let opts = pipeline::Options::new(Target::parse("x86-64-v3").expect("a target"))
        .expect("built-in rules");
    let compiled = pipeline::compile(&float, &opts, |_, _| {}).expect("the pipeline runs");
    compiled.int.expect("an integer model")
}

/// One line per step (its kind from the profiling build's description), then the total.
fn division(model: &Model) -> String {
    let compiled = codegen(
        model,
        &Options {
            prefix: "qcc".into(),
            target: Target::parse("x86-64-v3").expect("a target"),
            keep_clif: false,
            profile: true,
            thread_grain_ns: DEFAULT_THREAD_GRAIN_NS,
        },
    )
    .expect("compiles");
    let iface = &compiled.interface;
    let kinds = iface
        .profile
        .as_ref()
        .expect("a profiling build lists its steps");
    assert_eq!(kinds.len(), iface.splits.len(), "one kernel per step here");
    let mut out = format!(
        "grain {} ns; a run pays for {} extra thread(s)\n",
        iface.thread_grain_ns,
        iface.extra_threads_paid()
    );
    writeln!(
        out,
        "{:<18} {:>10} {:>6} {:>5}",
        "step", "work ns", "units", "most"
    )
    .unwrap();
    for (k, s) in kinds.iter().zip(&iface.splits) {
        writeln!(
            out,
            "{:<18} {:>10} {:>6} {:>5}",
            k.kind,
            s.work_ns,
            s.units,
            iface.most_parts(s)
        )
        .unwrap();
    }
    out
}

fn check(name: &str, path: &Path) {
    let text = division(&int_model(path));
    let mut s = insta::Settings::clone_current();
    s.set_omit_expression(true);
    s.bind(|| insta::assert_snapshot!(format!("grain_{name}"), text));
}

#[test]
fn a_small_model_stays_on_the_calling_thread() {
    check("tiny_cnn", &models_dir().join("tiny_cnn.onnx"));
}

#[test]
fn a_large_model_splits_its_big_layers() {
    check("resnet18", &models_dir().join("resnet18.onnx"));
}
