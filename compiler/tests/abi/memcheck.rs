//! The generated code reads no scratch it has not written (issue 15, finding 12): compiled
//! models run under valgrind's memcheck with an arena from `aligned_alloc` (never written), on
//! the AVX2 micro-kernels (x86-64-v3) and the Cranelift kernels (x86-64-v2); valgrind does not
//! know AVX-512. Any read of unwritten scratch that reaches an output, a branch or an address is
//! an error, and the test wants none.

use super::support::cc;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGETS: [&str; 2] = ["x86-64-v3", "x86-64-v2"];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// valgrind, which scripts/test.sh installs when it is missing.
fn valgrind() -> &'static str {
    let ok = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "valgrind is not installed: run ./scripts/test.sh (which installs it) or `apt-get install valgrind`"
    );
    "valgrind"
}

/// Compiles `model` (plus `extra` flags) for `target` into `dir/model.so`, links the harness
/// against it and runs it under memcheck; returns memcheck's summary line.
fn memcheck(dir: &Path, model: &Path, extra: &[&str], target: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_qcc"))
        .arg(model)
        // Every step split as far as it goes, so that the threaded runs exercise each split.
        .args(["-o", "model.so", "--target", target, "--thread-grain", "0"])
        .args(extra)
        .current_dir(dir)
        .output()
        .expect("qcc runs");
    assert!(
        out.status.success(),
        "qcc {} --target {target}: {}",
        model.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::copy(
        repo("compiler/tests/abi/memcheck.c"),
        dir.join("memcheck.c"),
    )
    .expect("copied");
    cc(
        dir,
        &[
            "-std=c11".into(),
            "-Wall".into(),
            "-Werror".into(),
            "memcheck.c".into(),
            "-o".into(),
            "prog".into(),
            "./model.so".into(),
            "-Wl,-rpath,$ORIGIN".into(),
        ],
    );
    let run = Command::new(valgrind())
        .args(["--tool=memcheck", "--error-exitcode=99", "./prog"])
        .current_dir(dir)
        .output()
        .expect("valgrind runs");
    let log = String::from_utf8_lossy(&run.stderr);
    let summary = log
        .lines()
        .find(|l| l.contains("ERROR SUMMARY"))
        .unwrap_or_else(|| panic!("no memcheck summary:\n{log}"))
        .to_string();
    assert!(
        run.status.success() && summary.contains(" 0 errors from 0 contexts"),
        "{} on {target} reads scratch it never wrote:\n{log}",
        model.display()
    );
    summary
}

fn all_targets(model: &Path, extra: &[&str]) {
    for target in TARGETS {
        let dir = tempfile::tempdir().expect("dir");
        let summary = memcheck(dir.path(), model, extra, target);
        eprintln!("{} on {target}: {summary}", model.display());
    }
}

/// Padded 3×3 convolutions, one strided with asymmetric padding: the staged copy's last pixel is
/// where the dot product's vector loads run past what was written.
#[test]
fn padded_convolutions_read_only_written_scratch() {
    all_targets(&repo("tests/lower/lower-conv.ir"), &[]);
    all_targets(&repo("tests/lower/lower-conv-clip.ir"), &[]);
}

/// Depthwise convolutions (a channel tail, stride 2, asymmetric padding): on threads each part
/// stages only the rows its output rows read.
#[test]
fn depthwise_parts_read_only_the_band_they_staged() {
    all_targets(&repo("compiler/tests/abi/depthwise.ir"), &[]);
}

/// A whole network (convolutions, pools, a gemm, the output's dequantize), calibrated.
#[test]
fn digits_reads_only_written_scratch() {
    let calib = repo("examples/digits/test_images.npy");
    all_targets(
        &repo("examples/digits/digits.onnx"),
        &["--calib", calib.to_str().expect("utf-8 path")],
    );
}
