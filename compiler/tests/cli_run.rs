//! `qcc run --labels` through the binary: top-1 accuracy of the bundled digits example, and every
//! way a labels file can disagree with the model, as snapshots of what the person sees; and a
//! multi-output model writing only the outputs named.

use ndarray::{arr1, ArrayD, IxDyn};
use ndarray_npy::WriteNpyExt;
use std::path::Path;
use std::process::Command;

/// Copied into every case's scratch directory, so that messages name files without a temp path.
const EXAMPLE: &[&str] = &[
    "digits.ir",
    "digits.safetensors",
    "test_images.npy",
    "test_labels.txt",
];

/// A model whose output is not `[N, classes]`.
const CUBE: &str = "model @cube {
  %x = input : tensor<1x2x3xf32>
  %y = relu(%x) : tensor<1x2x3xf32>
  return %y
}
";

/// A model with two outputs (`%b` is |x|), so that `--labels` must say which one it scores.
const PAIR: &str = "model @pair {
  %x = input : tensor<1x4xf32>
  %a = relu(%x) : tensor<1x4xf32>
  %b = leaky_relu(%x) {alpha = -1.0} : tensor<1x4xf32>
  return %a, %b
}
";

fn npy<T: ndarray_npy::WritableElement>(a: ArrayD<T>) -> Vec<u8> {
    let mut bytes = vec![];
    a.write_npy(&mut bytes).expect("npy encodes");
    bytes
}

fn example_labels() -> Vec<i64> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits/test_labels.txt"),
    )
    .expect("the example's labels are committed");
    text.lines()
        .map(|l| l.parse().expect("an integer per line"))
        .collect()
}

/// The example's labels as text with line `i` (0-based) replaced.
fn labels_text_with(changes: &[(usize, &str)]) -> Vec<u8> {
    let mut lines: Vec<String> = example_labels().iter().map(|l| l.to_string()).collect();
    for &(i, s) in changes {
        lines[i] = s.to_string();
    }
    (lines.join("\n") + "\n").into_bytes()
}

/// Runs `qcc ARGS` in a scratch directory holding the example, the small models and `files`,
/// and snapshots the exit code, stdout, stderr and which `.npy` outputs were written.
fn check(name: &str, files: &[(&str, Vec<u8>)], args: &[&str]) {
    let dir = tempfile::tempdir().expect("scratch directory");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits");
    for f in EXAMPLE {
        std::fs::copy(example.join(f), dir.path().join(f)).expect("example file copied");
    }
    std::fs::write(dir.path().join("cube.ir"), CUBE).expect("written");
    std::fs::write(dir.path().join("pair.ir"), PAIR).expect("written");
    std::fs::write(
        dir.path().join("cube.npy"),
        npy(ArrayD::from_shape_fn(IxDyn(&[2, 2, 3]), |i| i[2] as f32)),
    )
    .expect("written");
    std::fs::write(
        dir.path().join("pair.npy"),
        npy(ArrayD::from_shape_vec(
            IxDyn(&[2, 4]),
            vec![0.0f32, 3.0, 1.0, 2.0, -1.0, 0.5, -2.0, 0.0],
        )
        .expect("shape")),
    )
    .expect("written");
    for (f, bytes) in files {
        std::fs::write(dir.path().join(f), bytes).expect("written");
    }
    let before: Vec<String> = outputs_in(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_qcc"))
        .args(args)
        .current_dir(dir.path())
        .output()
        .expect("qcc runs");
    let written: Vec<String> = outputs_in(dir.path())
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    let text = format!(
        "$ qcc {}\nexit code: {}\nwritten: {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        out.status
            .code()
            .map_or("signal".to_string(), |c| c.to_string()),
        if written.is_empty() {
            "nothing".to_string()
        } else {
            written.join(", ")
        },
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    insta::assert_snapshot!(name, text);
}

fn outputs_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("readable")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".npy"))
        .collect();
    names.sort();
    names
}

const RUN: &[&str] = &[
    "run",
    "digits.ir",
    "--input",
    "test_images.npy",
    "-o",
    "logits.npy",
    "--labels",
];

fn digits(name: &str, labels_file: &str, bytes: Option<Vec<u8>>) {
    let files: Vec<(&str, Vec<u8>)> = bytes.map(|b| vec![(labels_file, b)]).unwrap_or_default();
    let mut args = RUN.to_vec();
    args.push(labels_file);
    check(name, &files, &args);
}

// The example scores the same whichever way its labels come.

#[test]
fn digits_text() {
    digits("digits_text", "test_labels.txt", None);
}

#[test]
fn digits_npy_i64() {
    digits(
        "digits_npy_i64",
        "labels.npy",
        Some(npy(arr1(&example_labels()).into_dyn())),
    );
}

#[test]
fn digits_npy_u8() {
    let y: Vec<u8> = example_labels().iter().map(|&l| l as u8).collect();
    digits(
        "digits_npy_u8",
        "labels.npy",
        Some(npy(arr1(&y).into_dyn())),
    );
}

#[test]
fn named_output() {
    // pair.npy's samples peak at index 1 in %b = |x| and at 2: both labels are right for %b.
    check(
        "named_output",
        &[("y.txt", b"1\n2\n".to_vec())],
        &[
            "run", "pair.ir", "-i", "pair.npy", "-o", "a=a.npy", "-o", "b=b.npy", "--labels",
            "b=y.txt",
        ],
    );
}

// Labels that do not fit the model.

#[test]
fn count_mismatch() {
    let mut text = labels_text_with(&[]);
    text.truncate(text.len() - 2);
    digits("count_mismatch", "short.txt", Some(text));
}

#[test]
fn not_an_integer() {
    digits(
        "not_an_integer",
        "bad.txt",
        Some(labels_text_with(&[(2, "seven"), (9, "  3.0")])),
    );
}

#[test]
fn empty_line() {
    digits("empty_line", "gap.txt", Some(labels_text_with(&[(4, "")])));
}

#[test]
fn out_of_range_text() {
    digits(
        "out_of_range_text",
        "range.txt",
        Some(labels_text_with(&[(4, "10"), (6, "-1")])),
    );
}

#[test]
fn out_of_range_npy() {
    let mut y = example_labels();
    y[3] = 12;
    digits(
        "out_of_range_npy",
        "range.npy",
        Some(npy(arr1(&y).into_dyn())),
    );
}

#[test]
fn npy_float() {
    let y: Vec<f32> = example_labels().iter().map(|&l| l as f32).collect();
    digits("npy_float", "float.npy", Some(npy(arr1(&y).into_dyn())));
}

#[test]
fn npy_column() {
    let y = example_labels();
    let n = y.len();
    digits(
        "npy_column",
        "column.npy",
        Some(npy(
            ArrayD::from_shape_vec(IxDyn(&[n, 1]), y).expect("shape")
        )),
    );
}

#[test]
fn not_utf8() {
    digits(
        "not_utf8",
        "binary.txt",
        Some(vec![b'1', b'\n', 0xff, 0xfe, b'\n']),
    );
}

#[test]
fn missing_file() {
    digits("missing_file", "nowhere.txt", None);
}

#[test]
fn output_not_classes() {
    check(
        "output_not_classes",
        &[("y.txt", b"0\n1\n".to_vec())],
        &[
            "run", "cube.ir", "-i", "cube.npy", "-o", "y.npy", "--labels", "y.txt",
        ],
    );
}

#[test]
fn several_outputs_unnamed() {
    check(
        "several_outputs_unnamed",
        &[("y.txt", b"0\n1\n".to_vec())],
        &[
            "run", "pair.ir", "-i", "pair.npy", "-o", "a=a.npy", "-o", "b=b.npy", "--labels",
            "y.txt",
        ],
    );
}

#[test]
fn unknown_output() {
    check(
        "unknown_output",
        &[("y.txt", b"0\n1\n".to_vec())],
        &[
            "run", "pair.ir", "-i", "pair.npy", "-o", "a=a.npy", "-o", "b=b.npy", "--labels",
            "c=y.txt",
        ],
    );
}

#[test]
fn one_of_two_outputs() {
    check(
        "one_of_two_outputs",
        &[],
        &["run", "pair.ir", "-i", "pair.npy", "-o", "b=b.npy"],
    );
}

#[test]
fn two_outputs_one_unnamed() {
    check(
        "two_outputs_one_unnamed",
        &[],
        &["run", "pair.ir", "-i", "pair.npy", "-o", "b.npy"],
    );
}
