//! `qcc MODEL.onnx` on a model whose input leaves dimensions open (`N×3×height×8`): the shape
//! comes from `--input-shape` or from the `--calib` arrays, and a malformed `--input-shape` is
//! refused with the form it wants.

#[path = "../../tests/onnx/build.rs"]
mod build;
#[path = "../../tests/onnx/fixtures.rs"]
mod fixtures;

use std::path::Path;
use std::process::Command;

/// Writes the fixture and `n` samples of `sample` (f32) into `dir`.
fn setup(dir: &Path, samples: &[usize]) {
    let (_, bytes) = fixtures::errors()
        .into_iter()
        .find(|(n, _)| *n == "dynamic_height")
        .expect("the fixture exists");
    std::fs::write(dir.join("dyn.onnx"), bytes).unwrap();
    let n: usize = samples.iter().product();
    let data = ndarray::ArrayD::from_shape_fn(samples.to_vec(), |i| (i[0] as f32 * 0.5) - 0.7);
    assert_eq!(data.len(), n);
    ndarray_npy::write_npy(dir.join("calib.npy"), &data).unwrap();
}

/// Runs qcc in `dir`: (success, the first line of the integer model or stderr).
fn qcc(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_qcc"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !stderr.contains("panicked"),
        "qcc {args:?} panicked:\n{stderr}"
    );
    if !out.status.success() {
        return (false, stderr.trim().to_string());
    }
    let ir = std::fs::read_to_string(dir.join("out.int.ir")).unwrap();
    let input = ir
        .lines()
        .find(|l| l.contains("= input"))
        .unwrap_or_default()
        .trim()
        .to_string();
    (true, input)
}

#[test]
fn the_calibration_samples_give_the_open_height() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), &[2, 1, 3, 5, 8]);
    let (ok, text) = qcc(
        dir.path(),
        &[
            "dyn.onnx",
            "-o",
            "out.int.ir",
            "--emit",
            "int",
            "--calib",
            "calib.npy",
        ],
    );
    assert!(ok, "{text}");
    assert!(text.contains("tensor<1x3x5x8xf32>"), "{text}");
}

#[test]
fn input_shape_gives_it_by_name_or_alone() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), &[2, 1, 3, 6, 8]);
    for spec in ["image=1x3x6x8", "1x3x6x8", "1,3,6,8"] {
        let (ok, text) = qcc(
            dir.path(),
            &[
                "dyn.onnx",
                "-o",
                "out.int.ir",
                "--emit",
                "int",
                "--input-shape",
                spec,
                "--calib",
                "calib.npy",
            ],
        );
        assert!(ok, "{spec}: {text}");
        assert!(text.contains("tensor<1x3x6x8xf32>"), "{spec}: {text}");
    }
}

#[test]
fn bad_input_shapes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), &[2, 1, 3, 6, 8]);
    let refusal = |args: &[&str]| {
        let (ok, text) = qcc(dir.path(), args);
        assert!(!ok, "qcc {args:?} succeeded");
        assert!(!dir.path().join("out.int.ir").exists());
        text
    };
    let texts = [
        refusal(&["dyn.onnx", "-o", "out.int.ir", "--input-shape", "1x3xHx8"]),
        refusal(&[
            "dyn.onnx",
            "-o",
            "out.int.ir",
            "--input-shape",
            "1x3x6x8",
            "--input-shape",
            "1x3x6x8",
        ]),
        refusal(&["dyn.onnx", "-o", "out.int.ir"]),
    ];
    insta::assert_snapshot!(texts.join("\n"));
}

/// `qcc import` takes `--input-shape` too, as its refusal of an open dimension tells the user.
#[test]
fn import_takes_the_input_shape_its_refusal_asks_for() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), &[2, 1, 3, 6, 8]);
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_qcc"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!stderr.contains("panicked"), "{stderr}");
        (out.status.success(), stderr)
    };
    let (ok, refusal) = run(&["import", "dyn.onnx", "-o", "dyn.ir"]);
    assert!(!ok);
    assert!(refusal.contains("--input-shape"), "{refusal}");
    let (ok, text) = run(&[
        "import",
        "dyn.onnx",
        "-o",
        "dyn.ir",
        "--input-shape",
        "1x3x6x8",
    ]);
    assert!(ok, "{text}");
    let ir = std::fs::read_to_string(dir.path().join("dyn.ir")).unwrap();
    assert!(ir.contains("tensor<1x3x6x8xf32>"), "{ir}");
}
