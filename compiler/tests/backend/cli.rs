//! `qcc MODEL -o model.so` from the command line: the backend's stages as files (`--emit clif`,
//! `--emit obj`), and refused requests, each a clear message with no output left behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn qcc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qcc"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("qcc runs")
}

/// The integer digits model, written once per test into `dir`.
fn digits_int(dir: &Path) -> PathBuf {
    let out = dir.join("digits.int.ir");
    let o = qcc(&[
        "examples/digits/digits.ir",
        "-o",
        out.to_str().expect("UTF-8 path"),
        "--emit",
        "int",
        "--calib",
        "examples/digits/test_images.npy",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn clif_and_object_are_the_backend_stages() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let int = digits_int(dir.path());
    let clif = dir.path().join("digits.clif");
    let obj = dir.path().join("digits.o");
    for (path, emit) in [(&clif, "clif"), (&obj, "obj")] {
        let o = qcc(&[
            int.to_str().unwrap(),
            "-o",
            path.to_str().unwrap(),
            "--emit",
            emit,
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let text = std::fs::read_to_string(&clif).expect("CLIF is text");
    // One function per kernel, each named, and the entry.
    assert!(
        text.contains("; qcc_k0\n") && text.contains("function"),
        "{}",
        &text[..200.min(text.len())]
    );
    let bytes = std::fs::read(&obj).expect("the object exists");
    assert_eq!(&bytes[..4], b"\x7fELF", "an ELF object");
}

#[test]
fn bad_requests_are_refused_without_output() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let int = digits_int(dir.path());
    let int = int.to_str().unwrap();
    let so = dir.path().join("m.so");
    let so = so.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &[int, "-o", so, "--target", "arm64"],
            "unknown target `arm64`",
        ),
        (
            &[int, "-o", so, "--target", "x86-64-v3+avx9"],
            "unknown CPU feature `avx9`",
        ),
        (
            &[int, "-o", so, "--prefix", "9lives"],
            "is not a C identifier",
        ),
        (
            &[int, "-o", so, "--emit", "int"],
            "an output ending in .so is a shared library",
        ),
        (
            &[int, "-o", so, "--calib", "examples/digits/test_images.npy"],
            "is already quantized",
        ),
    ];
    for (args, want) in cases {
        let o = qcc(args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "qcc {args:?} succeeded");
        assert!(
            !stderr.contains("panicked"),
            "qcc {args:?} panicked:\n{stderr}"
        );
        assert!(
            stderr.contains(want),
            "qcc {args:?}: expected `{want}` in:\n{stderr}"
        );
        assert!(!Path::new(so).exists(), "qcc {args:?} left {so} behind");
    }
}
