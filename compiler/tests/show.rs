//! `qcc show`: the SVG of a small QDQ fixture's QDQ and integer stages, snapshotted (the
//! drawing is a function of the graph alone), and the CLI colouring a real model by SQNR.

use qcc::backend::target::Target;
use qcc::ir::weights::read_model;
use qcc::pipeline::{self, Options};
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/show/residual.ir")
}

fn check(name: &str, text: &str) {
    insta::with_settings!({ prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn residual_block_drawings() {
    let source = read_model(&fixture()).unwrap();
    let opts = Options::new(Target::parse("x86-64-v2").unwrap()).unwrap();
    let compiled = pipeline::compile(&source, &opts, |_, _| {}).unwrap();
    let qdq = compiled.qdq.as_ref().unwrap();
    let int = compiled.int.as_ref().unwrap();
    let drawn_qdq = qcc::show::render(qdq, Some(&source), None);
    let drawn_int = qcc::show::render(int, Some(&source), None);
    // The same graph gives the same bytes.
    assert_eq!(drawn_int, qcc::show::render(int, Some(&source), None));
    // The ReLU became the qconv2d's clamp; the softmax stays float in the integer graph.
    assert!(drawn_int.contains(">qconv2d +relu<"), "{drawn_int}");
    assert!(drawn_int.contains("class=\"node float-in-int\""));
    assert!(!drawn_qdq.contains("class=\"node float-in-int\""));
    check("show_residual_qdq", &drawn_qdq);
    check("show_residual_int", &drawn_int);
}

#[test]
fn cli_colours_by_sqnr() {
    let dir = std::env::var_os("QCC_TEST_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/.work/models"));
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("tiny.svg");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_qcc"))
        .arg("show")
        .arg(dir.join("tiny_cnn.onnx"))
        .arg("-o")
        .arg(&out)
        .arg("--calib")
        .arg(dir.join("tiny_cnn.input.npy"))
        .args(["--color", "sqnr"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"));
    // The three convs, the pools, the flatten and the gemm carry their layer's SQNR, and their
    // boxes are coloured by it (beside the legend's five swatches).
    assert_eq!(svg.matches("\nSQNR ").count(), 7, "{svg}");
    assert_eq!(svg.matches("style=\"fill:hsl(").count(), 7 + 5);
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_qcc"))
        .arg("show")
        .arg(dir.join("tiny_cnn.onnx"))
        .arg("-o")
        .arg(&out)
        .args(["--color", "sqnr"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("give them with --calib"));
}
