//! Bad input to `qcc run` and `qcc import`: each case is a fixture (a file written by the test
//! or kept in tests/cli/) and a snapshot of the message; none may panic or leave an output file.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A minimal .npy writer, independent of the code under test.
fn npy(path: &Path, descr: &str, shape: &[usize], data: &[u8]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(data);
    std::fs::write(path, bytes).unwrap();
}

fn f32s(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| (i as f32 * 0.25 - 1.0).to_le_bytes())
        .collect()
}

/// Runs qcc; returns its stderr with the temporary directory replaced by `$TMP`, and asserts it
/// failed without panicking and without writing the output.
fn check(args: &[&str], tmp: &Path, output: Option<&Path>) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_qcc"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).replace(&tmp.display().to_string(), "$TMP");
    assert!(!out.status.success(), "qcc {args:?} succeeded:\n{stderr}");
    assert!(
        !stderr.contains("panicked"),
        "qcc {args:?} panicked:\n{stderr}"
    );
    if let Some(o) = output {
        assert!(!o.exists(), "qcc {args:?} left {} behind", o.display());
    }
    let leftovers: Vec<_> = std::fs::read_dir(tmp)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".qcc-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
    stderr
}

#[test]
fn bad_inputs_to_run() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let out = t.join("y.npy");
    let o = out.to_str().unwrap();
    let model = "tests/cli/tiny.ir";
    type MakeInput<'a> = Box<dyn Fn() -> PathBuf + 'a>;
    let cases: Vec<(&str, MakeInput)> = vec![
        (
            "wrong_shape",
            Box::new(|| {
                let p = t.join("wrong_shape.npy");
                npy(&p, "<f4", &[2, 3, 3, 3], &f32s(54));
                p
            }),
        ),
        (
            "wrong_dtype",
            Box::new(|| {
                let p = t.join("wrong_dtype.npy");
                npy(&p, "<f8", &[1, 2, 3, 3], &[0u8; 144]);
                p
            }),
        ),
        (
            "truncated",
            Box::new(|| {
                let p = t.join("truncated.npy");
                npy(&p, "<f4", &[1, 2, 3, 3], &f32s(10));
                p
            }),
        ),
        (
            "not_npy",
            Box::new(|| {
                let p = t.join("not_npy.npy");
                std::fs::write(&p, "just some text\n").unwrap();
                p
            }),
        ),
        ("missing_file", Box::new(|| t.join("does_not_exist.npy"))),
    ];
    for (name, make) in cases {
        let input = make();
        let msg = check(
            &["run", model, "--input", input.to_str().unwrap(), "-o", o],
            t,
            Some(&out),
        );
        insta::assert_snapshot!(format!("run_{name}"), msg);
    }
    // Naming an input the model does not have.
    let good = t.join("good.npy");
    npy(&good, "<f4", &[1, 2, 3, 3], &f32s(18));
    let arg = format!("image={}", good.display());
    insta::assert_snapshot!(
        "run_unknown_input_name",
        check(&["run", model, "--input", &arg, "-o", o], t, Some(&out))
    );
    // An output directory that does not exist.
    let nowhere = t.join("no/such/dir/y.npy");
    insta::assert_snapshot!(
        "run_output_dir_missing",
        check(
            &[
                "run",
                model,
                "--input",
                good.to_str().unwrap(),
                "-o",
                nowhere.to_str().unwrap()
            ],
            t,
            None
        )
    );
}

#[test]
fn good_run_writes_the_output() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("x.npy");
    // Four samples stacked on a new axis: [4, 1, 2, 3, 3].
    npy(&input, "<f4", &[4, 1, 2, 3, 3], &f32s(72));
    let out = tmp.path().join("y.npy");
    let st = Command::new(env!("CARGO_BIN_EXE_qcc"))
        .args([
            "run",
            "tests/cli/tiny.ir",
            "--input",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .current_dir(root())
        .status()
        .unwrap();
    assert!(st.success());
    let y = qcc::npy::read_f32(&out).unwrap();
    assert_eq!(y.shape(), &[4, 1, 2, 3, 3]);
    // relu(x · k) by hand for the first sample's second channel, first element: x = 9·0.25 − 1.
    let x = 9.0f32 * 0.25 - 1.0;
    assert_eq!(y[[0, 0, 1, 0, 0]], (x * -2.0).max(0.0));
}

#[test]
fn bad_onnx_files() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let bad = t.join("bad.onnx");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\n not a model").unwrap();
    let out = t.join("bad.ir");
    let msg = check(
        &["import", bad.to_str().unwrap(), "-o", out.to_str().unwrap()],
        t,
        Some(&out),
    );
    insta::assert_snapshot!("import_not_onnx", msg);
}

/// Outputs that are not regular files are refused, never replaced: a named pipe, a symbolic
/// link, a directory where the header goes (and then the library is not written either, since
/// the two are a pair), and the input model itself.
#[test]
fn outputs_that_must_not_be_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let digits = root().join("examples/digits");
    let ir = digits.join("digits.ir");
    let qcc = |args: &[&std::ffi::OsStr]| {
        let o = Command::new(env!("CARGO_BIN_EXE_qcc"))
            .args(args)
            .current_dir(t)
            .output()
            .unwrap();
        assert!(!o.status.success(), "{args:?} succeeded");
        String::from_utf8(o.stderr).unwrap()
    };
    let os = std::ffi::OsStr::new;
    assert!(Command::new("mkfifo")
        .arg(t.join("pipe.ir"))
        .status()
        .unwrap()
        .success());
    std::fs::write(t.join("notes.txt"), "kept").unwrap();
    std::os::unix::fs::symlink(t.join("notes.txt"), t.join("link.ir")).unwrap();
    std::fs::create_dir(t.join("m.h")).unwrap();
    let mut seen = vec![];
    for (out, extra) in [
        ("pipe.ir", None),
        ("link.ir", None),
        ("m.so", Some("--calib")),
    ] {
        let mut args = vec![ir.as_os_str(), os("-o"), os(out)];
        if extra.is_some() {
            args.push(os("--calib"));
            args.push(digits.join("test_images.npy").into_os_string().leak());
        } else {
            args.extend([os("--emit"), os("float")]);
        }
        seen.push(qcc(&args));
    }
    std::fs::copy(digits.join("digits.onnx"), t.join("d.onnx")).unwrap();
    seen.push(qcc(&[os("import"), os("d.onnx"), os("-o"), os("d.onnx")]));
    insta::assert_snapshot!("outputs_that_must_not_be_replaced", seen.join(""));
    let meta = |p: &str| std::fs::symlink_metadata(t.join(p)).unwrap().file_type();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&meta("pipe.ir")));
    assert!(meta("link.ir").is_symlink());
    assert!(meta("m.h").is_dir());
    assert!(
        !t.join("m.so").exists(),
        "the library was written without its header"
    );
    assert_eq!(
        std::fs::read(t.join("d.onnx")).unwrap(),
        std::fs::read(digits.join("digits.onnx")).unwrap()
    );
}
