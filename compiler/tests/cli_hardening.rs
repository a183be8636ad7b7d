//! Issue 15's findings, each reproduced from a small input made here and held fixed: what used to
//! panic, abort, escape the model's directory or be silently accepted is now a clear error (a
//! snapshot of its text) or works.

#[path = "../../tests/onnx/build.rs"]
mod build;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn qcc(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qcc"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("qcc runs")
}

/// qcc's stderr, which must be a refusal (exit 1, not a signal, not a panic), with the
/// temporary directory written `$TMP`.
fn refused(dir: &Path, args: &[&str]) -> String {
    let o = qcc(dir, args);
    let err = String::from_utf8_lossy(&o.stderr).replace(&dir.display().to_string(), "$TMP");
    assert_eq!(
        o.status.code(),
        Some(1),
        "qcc {args:?}: {:?}\n{err}",
        o.status
    );
    assert!(!err.contains("panicked"), "qcc {args:?} panicked:\n{err}");
    err
}

fn succeeds(dir: &Path, args: &[&str]) -> String {
    let o = qcc(dir, args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "qcc {args:?} failed:\n{err}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A minimal .npy writer whose header says whatever it is told.
fn npy(path: &Path, shape: &str, data: &[u8]) {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
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

const TINY: &str = "model @tiny {
  weight @k : tensor<1x2x1x1xf32> = dense<[0.5, -2.0]>
  %x = input : tensor<1x2x3x3xf32>
  %m = mul(%x, @k) : tensor<1x2x3x3xf32>
  %r = relu(%m) : tensor<1x2x3x3xf32>
  return %r
}
";

fn samples(dir: &Path) -> String {
    let data: Vec<u8> = (0..72)
        .flat_map(|i| (i as f32 * 0.25 - 9.0).to_le_bytes())
        .collect();
    npy(&dir.join("x.npy"), "(4, 1, 2, 3, 3)", &data);
    "x.npy".into()
}

/// Finding 1: a model returning a weight compiles (it panicked in the backend's schedule), to a
/// library, to CLIF and to an object, and the library returns the constant.
#[test]
fn a_constant_output_compiles() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("c.ir"), TINY.replace("return %r", "return %r, @k")).unwrap();
    let x = samples(d);
    succeeds(d, &["c.ir", "-o", "c.so", "--calib", &x]);
    succeeds(
        d,
        &["c.ir", "-o", "c.clif", "--emit", "clif", "--calib", &x],
    );
    succeeds(d, &["c.ir", "-o", "c.o", "--emit", "obj", "--calib", &x]);
    succeeds(
        d,
        &[
            "run", "c.so", "--input", &x, "-o", "k=k.npy", "-o", "r=r.npy",
        ],
    );
    let k = qcc::npy::read_f32(&d.join("k.npy")).unwrap();
    assert_eq!(k.shape(), &[4, 1, 2, 1, 1]);
    assert_eq!(k.iter().copied().collect::<Vec<_>>(), [0.5, -2.0].repeat(4));
}

/// Finding 2: a 100 KB `.npy` whose header claims 325520833×3×32×32 floats is refused before
/// anything is allocated (it aborted with a 4 TB allocation), by `run` and by `--calib`.
#[test]
fn a_lying_npy_header_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("tiny.ir"), TINY).unwrap();
    npy(
        &d.join("big.npy"),
        "(325520833, 3, 32, 32)",
        &vec![0u8; 100_000],
    );
    let run = refused(d, &["run", "tiny.ir", "--input", "big.npy", "-o", "y.npy"]);
    let calib = refused(d, &["tiny.ir", "-o", "t.so", "--calib", "big.npy"]);
    insta::assert_snapshot!("lying_npy", format!("{run}{calib}"));
    assert!(!d.join("y.npy").exists() && !d.join("t.so").exists());
}

fn external_onnx(dir: &Path, location: &str) -> PathBuf {
    let mut t = build::f32s("w", &[4], vec![]);
    t.data_location = protobuf::EnumOrUnknown::from_i32(1);
    for (k, v) in [("location", location), ("length", "16")] {
        t.external_data.push(onnx_protobuf::StringStringEntryProto {
            key: k.into(),
            value: v.into(),
            ..Default::default()
        });
    }
    let mut g = build::G::new(13);
    g.input("x", &[1, 4])
        .init(t)
        .node("Add", &["x", "w"], &["y"], vec![])
        .output("y");
    let path = dir.join("m.onnx");
    std::fs::write(&path, g.bytes()).unwrap();
    path
}

/// Finding 4: data a model names is read only from regular files inside its directory, symbolic
/// links resolved: a link to /etc/passwd or /dev/zero, an absolute or `../` IR weights path are
/// refused (the first was copied into the output, the others read until memory ran out).
#[test]
fn weights_come_only_from_inside_the_models_directory() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("model");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(t.path().join("secret.bin"), [7u8; 64]).unwrap();
    let mut seen = vec![];
    for (name, target) in [
        ("outside.bin", t.path().join("secret.bin")),
        ("zero.bin", PathBuf::from("/dev/zero")),
    ] {
        std::os::unix::fs::symlink(&target, d.join(name)).unwrap();
        external_onnx(&d, name);
        let err = refused(&d, &["import", "m.onnx", "-o", "m.ir"]);
        seen.push(err.replace(&t.path().display().to_string(), "$TMP"));
        assert!(!d.join("m.ir").exists() && !d.join("m.safetensors").exists());
    }
    external_onnx(&d, "../secret.bin");
    seen.push(refused(&d, &["import", "m.onnx", "-o", "m.ir"]));
    // A link that stays inside the directory is fine.
    std::fs::write(d.join("real.bin"), [0u8; 16]).unwrap();
    std::os::unix::fs::symlink("real.bin", d.join("inside.bin")).unwrap();
    external_onnx(&d, "inside.bin");
    succeeds(&d, &["import", "m.onnx", "-o", "m.ir"]);
    let ir = "model @w weights \"WHERE\" {\n  weight @k : tensor<4xf32>\n  %x = input : tensor<4xf32>\n  %y = add(%x, @k) : tensor<4xf32>\n  return %y\n}\n";
    for place in ["/dev/zero", "../m.safetensors", "zero.bin"] {
        std::fs::write(d.join("w.ir"), ir.replace("WHERE", place)).unwrap();
        seen.push(refused(&d, &["check", "w.ir"]));
    }
    insta::assert_snapshot!("weights_outside", seen.join(""));
}

/// Finding 6: a reader that goes away early is no reason to panic: `qcc check m.ir | true`
/// exits 0, and a build whose `--explain` goes to a closed pipe still writes its `-o` file.
#[test]
fn closed_pipes_do_not_stop_qcc() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("tiny.ir"), TINY).unwrap();
    let shell = |cmd: &str| {
        let o = Command::new("bash")
            .args(["-c", &format!("set -o pipefail; {cmd}")])
            .env("QCC", env!("CARGO_BIN_EXE_qcc"))
            .current_dir(d)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(!err.contains("panicked"), "{cmd}: {err}");
        o
    };
    // `sleep` lets the reader close first, so qcc's write finds no reader.
    let o = shell("\"$QCC\" check tiny.ir | (exec 0<&-; true); echo \"status ${PIPESTATUS[0]}\"");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("status 0"),
        "{o:?}"
    );
    let o = shell("(sleep 0.2; \"$QCC\" tiny.ir -o out.ir --emit float --explain 2>&1) | head -c 1 >/dev/null; echo \"status ${PIPESTATUS[0]}\"");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("status 0"),
        "{o:?}"
    );
    assert!(d.join("out.ir").is_file(), "the -o file was not written");
    // Straight from Rust: stdout and stderr both closed before qcc writes.
    let mut child = Command::new(env!("CARGO_BIN_EXE_qcc"))
        .args(["tiny.ir", "-o", "out2.ir", "--emit", "float", "--explain"])
        .current_dir(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    assert!(child.wait().unwrap().success());
    assert!(d.join("out2.ir").is_file());
}

/// A safetensors file written by hand, so that it can say what a writer never would.
fn safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

/// Finding 9: what was silently accepted is refused: an ONNX attribute qcc does not know, a
/// graph output listed twice, a value defined twice, two initializers of one name, and a
/// safetensors header naming one tensor twice (the JSON parser kept the last).
#[test]
fn ambiguous_inputs_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let mut seen = vec![];
    let mut onnx = |g: &build::G| {
        std::fs::write(d.join("m.onnx"), g.bytes()).unwrap();
        seen.push(refused(d, &["import", "m.onnx", "-o", "m.ir"]));
    };
    let mut g = build::G::new(13);
    g.input("x", &[1, 4])
        .node("Relu", &["x"], &["y"], vec![build::int("alpha_typo", 2)])
        .output("y");
    onnx(&g);
    let mut g = build::G::new(13);
    g.input("x", &[1, 4])
        .node("Relu", &["x"], &["y"], vec![])
        .output("y")
        .output("y");
    onnx(&g);
    let mut g = build::G::new(13);
    g.input("x", &[1, 4])
        .node("Relu", &["x"], &["y"], vec![])
        .node("Neg", &["x"], &["y"], vec![])
        .output("y");
    onnx(&g);
    let mut g = build::G::new(13);
    g.input("x", &[1, 4])
        .weight("w", &[4])
        .weight("w", &[4])
        .node("Add", &["x", "w"], &["y"], vec![])
        .output("y");
    onnx(&g);
    // Both entries cover the data, so the file is valid JSON and valid safetensors but for the
    // repeated name.
    let header = r#"{"k":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"k":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
    std::fs::write(d.join("w.safetensors"), safetensors(header, &[0u8; 16])).unwrap();
    std::fs::write(
        d.join("w.ir"),
        "model @w weights \"w.safetensors\" {\n  weight @k : tensor<4xf32>\n  %x = input : tensor<4xf32>\n  %y = add(%x, @k) : tensor<4xf32>\n  return %y\n}\n",
    )
    .unwrap();
    seen.push(refused(d, &["check", "w.ir"]));
    insta::assert_snapshot!("ambiguous_inputs", seen.join(""));
}

/// Finding 10: a byte order mark is skipped; bytes that are not UTF-8 are located by line and
/// column; a library or an array given where text is expected is named for what it is; an ONNX
/// model runs and checks as it compiles; a rules error says `error:` once.
#[test]
fn files_of_the_wrong_kind_are_named() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("bom.ir"), format!("\u{feff}{TINY}")).unwrap();
    succeeds(d, &["check", "bom.ir"]);
    let mut latin1 = TINY.as_bytes().to_vec();
    latin1.splice(68..68, *b"// caf\xe9\n");
    std::fs::write(d.join("latin1.ir"), latin1).unwrap();
    let mut seen = vec![refused(d, &["check", "latin1.ir"])];
    std::fs::write(
        d.join("lib.so"),
        b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0\xff\xfe",
    )
    .unwrap();
    std::fs::copy(d.join("lib.so"), d.join("lib.ir")).unwrap();
    seen.push(refused(d, &["check", "lib.so"]));
    seen.push(refused(d, &["check", "lib.ir"]));
    npy(&d.join("a.npy"), "(1,)", &[0u8; 4]);
    seen.push(refused(d, &["check", "a.npy"]));
    std::fs::write(d.join("bad.rules"), "rule r { relu(?x) => }\n").unwrap();
    let rules = refused(d, &["rules", "print", "bad.rules"]);
    assert!(!rules.contains("error: error:"), "{rules}");
    seen.push(rules);
    insta::assert_snapshot!("wrong_kinds", seen.join(""));
    let mut g = build::G::new(13);
    g.input("x", &[1, 4])
        .node("Relu", &["x"], &["y"], vec![])
        .output("y");
    std::fs::write(d.join("m.onnx"), g.bytes()).unwrap();
    assert!(succeeds(d, &["check", "m.onnx"]).contains("valid"));
    npy(&d.join("x4.npy"), "(1, 4)", &[0u8; 16]);
    succeeds(d, &["run", "m.onnx", "--input", "x4.npy", "-o", "y.npy"]);
}

/// Finding 10: an error on a 5 MB line shows a window around the place, not the line and a
/// caret per byte (a 50 MB line printed 157 MB), and still names the real line and column.
#[test]
fn an_error_on_a_huge_line_shows_a_window() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let long = format!(
        "  %r = relu(%m) : tensor<1x2x3x4xf32> // {}\n",
        "x".repeat(5 << 20)
    );
    let text = TINY.replace("  %r = relu(%m) : tensor<1x2x3x3xf32>\n", &long);
    std::fs::write(d.join("long.ir"), text).unwrap();
    let err = refused(d, &["check", "long.ir"]);
    assert!(err.len() < 4096, "{} bytes of diagnostics", err.len());
    insta::assert_snapshot!("huge_line", err);
}

/// Outputs are created as any program creates a file, 0666 less the umask (they were 0644
/// whatever the umask), and a build's `.ir` and `.safetensors` appear together.
#[test]
fn outputs_follow_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("tiny.ir"), TINY).unwrap();
    let digits = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits/digits.ir");
    for (umask, mode) in [("077", 0o600), ("022", 0o644), ("002", 0o664)] {
        let out = format!("out{umask}.ir");
        let st = Command::new("bash")
            .args([
                "-c",
                &format!("umask {umask} && exec \"$QCC\" \"$M\" -o {out} --emit float"),
            ])
            .env("QCC", env!("CARGO_BIN_EXE_qcc"))
            .env("M", &digits)
            .current_dir(d)
            .status()
            .unwrap();
        assert!(st.success());
        for f in [out.clone(), out.replace(".ir", ".safetensors")] {
            let m = std::fs::metadata(d.join(&f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(m, mode, "{f} under umask {umask}: {m:o}");
        }
    }
}

/// What a converter reads only when training is no reason to refuse a model: PyTorch writes a
/// BatchNormalization's `momentum` into every export (the digits example has one).
#[test]
fn training_only_attributes_import() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let digits = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits/digits.onnx");
    succeeds(d, &["import", digits.to_str().unwrap(), "-o", "d.ir"]);
}
