//! Programs calling libraries: C compiled against the generated headers (two prefixes in one
//! program; a CPU refusal), the README's C and Python examples as written there, and
//! `qcc run model.so`.

use super::library::missing_feature;
use super::support::{cc, check, run_python, Standin, NX};
use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use std::path::Path;
use std::process::Command;

/// Copies a C file of `tests/abi` into `dir`, compiles it with the libraries and runs it.
fn compile_and_run(dir: &Path, source: &str, libs: &[&str]) -> std::process::Output {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/abi")
        .join(source);
    std::fs::copy(&src, dir.join(source)).expect("copied");
    let mut args = vec![
        "-std=c11".to_string(),
        "-Wall".into(),
        "-Werror".into(),
        source.into(),
        "-o".into(),
        "prog".into(),
    ];
    args.extend(libs.iter().map(|l| l.to_string()));
    // The libraries' sonames are their file names, found beside the program.
    args.push("-Wl,-rpath,$ORIGIN".into());
    cc(dir, &args);
    Command::new(dir.join("prog")).output().expect("runs")
}

#[test]
fn two_models_in_one_program() {
    let dir = tempfile::tempdir().expect("dir");
    Standin::new("alpha").build(dir.path(), "alpha");
    Standin::new("beta").two().build(dir.path(), "beta");
    let out = compile_and_run(dir.path(), "two_models.c", &["alpha.so", "beta.so"]);
    assert!(out.status.success(), "{out:?}");
    check("two_models", &String::from_utf8_lossy(&out.stdout));
}

#[test]
fn c_caller_on_a_cpu_without_the_features() {
    let dir = tempfile::tempdir().expect("dir");
    Standin::new("wide")
        .features(&[missing_feature()])
        .build(dir.path(), "wide");
    let out = compile_and_run(dir.path(), "refuse.c", &["wide.so"]);
    assert!(out.status.success(), "{out:?}");
    check("c_refusal", &String::from_utf8_lossy(&out.stdout));
}

/// The first fenced block of `lang` in the README's "Calling model.so" section.
pub fn readme_block(lang: &str) -> String {
    readme_block_with(lang, "")
}

/// The first `lang` block of the README's "Calling model.so" section that contains `marker`.
pub fn readme_block_with(lang: &str, marker: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Calling model.so"))
        .expect("a \"Calling model.so\" section");
    let fence = format!("```{lang}\n");
    section
        .split(&fence)
        .skip(1)
        .map(|rest| &rest[..rest.find("```").expect("closed")])
        .find(|block| block.contains(marker))
        .unwrap_or_else(|| panic!("no {lang} block with {marker:?}"))
        .to_string()
}

#[test]
fn readme_c_example() {
    let dir = tempfile::tempdir().expect("dir");
    Standin::new("qcc").build(dir.path(), "model");
    std::fs::write(dir.path().join("main.c"), readme_block("c")).expect("written");
    cc(
        dir.path(),
        &[
            "-std=c11".into(),
            "-Wall".into(),
            "-Werror".into(),
            "main.c".into(),
            "-o".into(),
            "main".into(),
            "./model.so".into(),
            "-Wl,-rpath,$ORIGIN".into(),
        ],
    );
    let out = Command::new(dir.path().join("main"))
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
    check("readme_c", &String::from_utf8_lossy(&out.stdout));
}

#[test]
fn readme_python_example() {
    let dir = tempfile::tempdir().expect("dir");
    Standin::new("qcc").build(dir.path(), "model");
    let text = run_python(dir.path(), &readme_block_with("python", "ctypes"));
    check("readme_python", &text);
}

/// `qcc run model.so` gives what the library computes, over several samples.
#[test]
fn qcc_run_a_library() {
    let dir = tempfile::tempdir().expect("dir");
    Standin::new("named").build(dir.path(), "model");
    let x = ArrayD::from_shape_fn(IxDyn(&[3, 2, 3]), |i| (i[0] * 10 + i[1] * 3 + i[2]) as f32);
    let mut bytes = vec![];
    x.write_npy(&mut bytes).expect("encodes");
    std::fs::write(dir.path().join("x.npy"), bytes).expect("written");
    let qcc = env!("CARGO_BIN_EXE_qcc");
    let out = Command::new(qcc)
        .args(["run", "model.so", "--input", "x.npy", "-o", "y.npy"])
        .current_dir(dir.path())
        .output()
        .expect("qcc runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let y = ArrayD::<f32>::read_npy(std::fs::File::open(dir.path().join("y.npy")).expect("y"))
        .expect("npy");
    assert_eq!(y, x.mapv(|v| 2.0 * v));
    assert_eq!(NX, 6);
    // A wrong shape names both; a library for another CPU is refused; nothing is written.
    let wide = Standin::new("wide").features(&[missing_feature()]);
    wide.build(dir.path(), "wide");
    let mut bad = vec![];
    ArrayD::<f32>::zeros(IxDyn(&[2, 3, 2]))
        .write_npy(&mut bad)
        .expect("encodes");
    std::fs::write(dir.path().join("bad.npy"), bad).expect("written");
    let mut text = vec![];
    for (args, name) in [
        (
            ["run", "model.so", "--input", "bad.npy", "-o", "out.npy"],
            "shape",
        ),
        (
            ["run", "wide.so", "--input", "x.npy", "-o", "out.npy"],
            "cpu",
        ),
    ] {
        let out = Command::new(qcc)
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("qcc runs");
        assert!(!out.status.success());
        text.push(format!(
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
                .replace(missing_feature(), "FEATURE")
                .trim_end()
        ));
    }
    assert!(!dir.path().join("out.npy").exists());
    check("qcc_run_errors", &text.join("\n"));
}

/// The README's example of the `qcc` Python package (installed by scripts/test.sh before the
/// tests), on the bundled digits model and its images as calibration data: it compiles, runs,
/// saves a library that loads, and prints the report.
#[test]
fn readme_python_package_example() {
    let dir = tempfile::tempdir().expect("dir");
    let digits = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits");
    std::fs::copy(digits.join("digits.onnx"), dir.path().join("model.onnx")).expect("copied");
    std::fs::copy(digits.join("test_images.npy"), dir.path().join("calib.npy")).expect("copied");
    let block = readme_block_with("python", "import numpy as np, qcc");
    let check = "\nassert y.shape == (1, 10), y.shape\nassert qcc.load(\"model.so\")(calib[:1]).tolist() == y.tolist()\n";
    let text = run_python(dir.path(), &format!("{block}{check}"));
    assert!(dir.path().join("model.h").exists());
    assert!(text.contains("sqnr"), "{text}");
}
