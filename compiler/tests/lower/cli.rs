//! `qcc MODEL -o OUT.ir --emit int` through the binary: bad calibration data, bad weights, ranges
//! of another model, a bad input range and bad bias-correction/equalization flags are refused with a message (snapshot) and leave no
//! output file; compiling resnet18 twice gives the same bytes.

use super::support::{models_dir, qcc, snapshot, stderr};
use ndarray::{ArrayD, IxDyn};
use std::path::Path;

const DIGITS: &str = "examples/digits/digits.ir";

/// Runs `qcc` with `args` (`OUT` stands for the output path in a fresh directory); it must fail,
/// leave no output, and its stderr, with the directory written as `TMP`, is snapshot.
fn refused(name: &str, dir: &Path, args: &[&str]) {
    let out = dir.join(format!("{name}.ir"));
    let out_s = out.to_str().expect("UTF-8 path");
    let args: Vec<&str> = args
        .iter()
        .map(|&a| if a == "OUT" { out_s } else { a })
        .collect();
    let o = qcc(&args);
    let err = stderr(&o).replace(dir.to_str().expect("UTF-8 path"), "TMP");
    assert!(!o.status.success(), "{name}: qcc succeeded:\n{err}");
    assert!(
        !out.exists(),
        "{name}: qcc failed but left {}",
        out.display()
    );
    assert!(
        !dir.join(format!("{name}.safetensors")).exists(),
        "{name}: qcc failed but left weights"
    );
    snapshot(
        &format!("cli_{name}"),
        &super::support::root().join("compiler/tests/lower/cli.rs"),
        &err,
    );
}

fn write(dir: &Path, file: &str, shape: &[usize], nan_at: Option<usize>) -> String {
    let n: usize = shape.iter().product();
    let mut data: Vec<f32> = (0..n).map(|i| (i % 17) as f32 / 17.0).collect();
    if let Some(i) = nan_at {
        data[i] = f32::NAN;
    }
    let path = dir.join(file);
    qcc::npy::write_f32(
        &path,
        &ArrayD::from_shape_vec(IxDyn(shape), data).expect("numel matches"),
    )
    .expect("the .npy writes");
    path.to_str().expect("UTF-8 path").to_string()
}

#[test]
fn bad_input_is_refused_and_leaves_no_output() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path();
    let wrong = write(dir, "wrong_shape.npy", &[4, 3, 8, 8], None);
    refused(
        "calib_wrong_shape",
        dir,
        &[DIGITS, "-o", "OUT", "--emit", "int", "--calib", &wrong],
    );
    // Sample 3 of five (1x1x8x8 each), element (0, 0, 2, 5) of it.
    let nan = write(dir, "nan.npy", &[5, 1, 8, 8], Some(3 * 64 + 2 * 8 + 5));
    refused(
        "calib_nan",
        dir,
        &[DIGITS, "-o", "OUT", "--emit", "int", "--calib", &nan],
    );
    let x = write(dir, "x.npy", &[2, 1, 3, 3], None);
    refused(
        "nan_weight",
        dir,
        &[
            "tests/lower/bad/nan-weight.ir",
            "-o",
            "OUT",
            "--emit",
            "int",
            "--calib",
            &x,
        ],
    );
    // Ranges saved for tests/cli/tiny.ir, given to the digits model.
    let ranges = dir.join("tiny.ranges.json");
    let tiny_out = dir.join("tiny.qdq.ir");
    let o = qcc(&[
        "tests/cli/tiny.ir",
        "-o",
        tiny_out.to_str().expect("UTF-8 path"),
        "--emit",
        "qdq",
        // A negative LO as its own argument: clap must not take it for a flag.
        "--input-range",
        "-1,1",
        "--save-ranges",
        ranges.to_str().expect("UTF-8 path"),
    ]);
    assert!(
        o.status.success(),
        "saving the ranges of tiny.ir failed:\n{}",
        stderr(&o)
    );
    refused(
        "ranges_of_another_model",
        dir,
        &[
            DIGITS,
            "-o",
            "OUT",
            "--emit",
            "int",
            "--ranges",
            ranges.to_str().expect("UTF-8 path"),
        ],
    );
    refused(
        "input_range_reversed",
        dir,
        &[DIGITS, "-o", "OUT", "--emit", "int", "--input-range", "3,1"],
    );
    refused(
        "bias_correction_without_samples",
        dir,
        &[
            DIGITS,
            "-o",
            "OUT",
            "--emit",
            "int",
            "--bias-correction",
            "empirical",
        ],
    );
    refused(
        "bias_correction_unknown",
        dir,
        &[
            DIGITS,
            "-o",
            "OUT",
            "--emit",
            "int",
            "--calib",
            &x,
            "--bias-correction",
            "dfq",
        ],
    );
    refused(
        "equalize_without_quantizing",
        dir,
        &[DIGITS, "-o", "OUT", "--equalize"],
    );
    refused(
        "target_sqnr_without_samples",
        dir,
        &[DIGITS, "-o", "OUT", "--emit", "int", "--target-sqnr", "30"],
    );
    refused(
        "target_sqnr_not_positive",
        dir,
        &[
            DIGITS,
            "-o",
            "OUT",
            "--emit",
            "int",
            "--calib",
            &x,
            "--target-sqnr",
            "0",
        ],
    );
}

#[test]
fn compiling_resnet18_twice_gives_the_same_bytes() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let models = models_dir();
    let (onnx, calib) = (
        models.join("resnet18.onnx"),
        models.join("resnet18.input.npy"),
    );
    let mut files = vec![];
    for k in 0..2 {
        let out = tmp.path().join(format!("r{k}/resnet18.ir"));
        std::fs::create_dir_all(out.parent().expect("a parent")).expect("a directory");
        let o = qcc(&[
            onnx.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--emit",
            "int",
            "--calib",
            calib.to_str().unwrap(),
        ]);
        assert!(
            o.status.success(),
            "compiling resnet18 failed:\n{}",
            stderr(&o)
        );
        let ir = std::fs::read(&out).expect("the .ir was written");
        let st =
            std::fs::read(out.with_extension("safetensors")).expect("the weights were written");
        files.push((ir, st));
    }
    assert!(files[0].0 == files[1].0, "the two .ir files differ");
    assert!(
        files[0].1 == files[1].1,
        "the two .safetensors files differ"
    );
}
