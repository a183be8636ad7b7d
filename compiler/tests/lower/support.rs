//! Shared by the quantization tests: fixture paths, the fixed input, the comparison of a lowered
//! model with its QDQ model in codes of the output's scale, snapshots, SQNR, and the `qcc` binary.

use qcc::egraph::saturate::{Limits, Report};
use qcc::interp;
use qcc::ir::print::print;
use qcc::ir::verify::verify;
use qcc::ir::weights::read_model;
use qcc::ir::{Model, OpKind};
use qcc::pipeline::optimize;
use qcc::rules::RuleSet;
use runtime::Tensor;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root: fixture paths in snapshots and CLI runs are relative to it.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the workspace root exists")
}

/// Every `*.ir` file in `tests/lower/`, sorted by stem.
pub fn fixtures() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(root().join("tests/lower"))
        .expect("tests/lower exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "ir"))
        .map(|p| {
            (
                p.file_stem()
                    .and_then(|s| s.to_str())
                    .expect("UTF-8 file name")
                    .to_string(),
                p,
            )
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no fixtures in tests/lower");
    out
}

/// Snapshots `text` as `compiler/tests/snapshots/lower__<name>.snap`, with `input` as its input file.
pub fn snapshot(name: &str, input: &Path, text: &str) {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("../snapshots");
    s.set_prepend_module_to_snapshot(false);
    s.set_input_file(input);
    s.set_omit_expression(true);
    s.bind(|| insta::assert_snapshot!(format!("lower__{name}"), text));
}

/// The fixed input of a model: element i of each f32 input is (i·37 + 11 mod 41 − 20.5)/8, spread
/// over [−2.6, 2.6] (the fixtures quantize their input over [−2.56, 2.54], so both ends clamp).
pub fn inputs(model: &Model) -> Vec<Tensor> {
    model
        .inputs
        .iter()
        .map(|&i| {
            let ty = &model.node(i).ty;
            let data = (0..ty.numel())
                .map(|k| ((k * 37 + 11) % 41) as f32 - 20.5)
                .map(|v| v / 8.0)
                .collect();
            Tensor::F32(
                ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&ty.shape), data)
                    .expect("numel matches the shape"),
            )
        })
        .collect()
}

pub fn run(model: &Model, inputs: &[Tensor]) -> Vec<Tensor> {
    interp::run(model, inputs).unwrap_or_else(|e| panic!("@{} does not run:\n{e}", model.name))
}

/// The scale of each output's codes: every output of a fixture is `dequantize` of a per-tensor
/// quantized value.
pub fn output_scales(model: &Model) -> Vec<f64> {
    model
        .outputs
        .iter()
        .map(|&o| {
            let node = model.node(o);
            assert_eq!(
                node.op().map(|op| op.kind),
                Some(OpKind::Dequantize),
                "output %{} is not a dequantize",
                node.name
            );
            let q = model.node(model.operands(o)[0]);
            let p = interp::quant_params(&q.ty)
                .unwrap_or_else(|| panic!("%{} is not quantized", q.name));
            assert_eq!(p.scales.len(), 1, "%{} is quantized per axis", q.name);
            p.scales[0] as f64
        })
        .collect()
}

/// Compares dequantized outputs: at most `codes` steps of each output's scale apart (0: equal).
pub fn within_codes(
    got: &[Tensor],
    want: &[Tensor],
    scales: &[f64],
    codes: f64,
) -> Result<(), String> {
    for (k, ((g, w), s)) in got.iter().zip(want).zip(scales).enumerate() {
        if g.shape() != w.shape() {
            return Err(format!(
                "output {k}: shape {:?} against {:?}",
                g.shape(),
                w.shape()
            ));
        }
        for (i, (a, b)) in g.to_f64_vec().into_iter().zip(w.to_f64_vec()).enumerate() {
            // The dequantized values are S·(q − Z) rounded to f32: allow that rounding, no more.
            let slack = codes * s + 4.0 * f32::EPSILON as f64 * (a.abs() + b.abs());
            if (a - b).abs() > slack {
                return Err(format!(
                    "output {k}, element {i}: {a} against {b}, {:.2} codes apart (scale {s})",
                    (a - b) / s
                ));
            }
        }
    }
    Ok(())
}

/// The rules that fired, with their counts, one per line, sorted by name.
pub fn fired(report: &Report) -> String {
    report
        .fired
        .iter()
        .filter(|(_, &n)| n > 0)
        .map(|(name, n)| format!("  {name} × {n}\n"))
        .collect()
}

/// Whether every rule that fired promises `tolerance exact`.
pub fn exact(report: &Report, rules: &RuleSet) -> bool {
    report
        .fired
        .iter()
        .filter(|(_, &n)| n > 0)
        .all(|(name, _)| {
            rules
                .rules
                .iter()
                .any(|r| r.name() == name && matches!(r.tolerance(), dsl::ast::Tolerance::Exact))
        })
}

/// What lowering one fixture gave.
pub struct Checked {
    pub output: Model,
    pub report: Report,
}

/// The one check of the lowering. Lowers `tests/lower/<name>.ir` with the lowering rules; the
/// result must verify, saturate, and compute on the fixed input what the QDQ model computes,
/// within one code of the output's scale (exactly when every rule that fired is exact); the
/// rules that fired and the printed integer IR are snapshot as `lower__<name>`.
pub fn check(name: &str, path: &Path, rules: &RuleSet) -> Checked {
    let input =
        read_model(path).unwrap_or_else(|e| panic!("{} does not read:\n{e}", path.display()));
    let (output, report) = optimize(&input, rules, &Limits::default())
        .unwrap_or_else(|e| panic!("{name}: lowering failed:\n{e}"));
    let problems = verify(&output);
    assert!(
        problems.is_empty(),
        "{name}: the lowered model does not verify: {problems:?}"
    );
    assert!(
        report.saturated(),
        "{name}: saturation stopped at the {}",
        report.stop
    );
    assert!(
        report.refused.is_empty(),
        "{name}: replacements were refused: {:?}",
        report.refused
    );
    let x = inputs(&input);
    let codes = if exact(&report, rules) { 0.0 } else { 1.0 };
    if let Err(e) = within_codes(
        &run(&output, &x),
        &run(&input, &x),
        &output_scales(&input),
        codes,
    ) {
        panic!(
            "{name}: the lowered model computes something else: {e}\n{}",
            print(&output)
        );
    }
    let rules_fired = fired(&report);
    let text = format!(
        "rules fired:\n{}\n{}",
        if rules_fired.is_empty() {
            "  none\n".to_string()
        } else {
            rules_fired
        },
        print(&output)
    );
    snapshot(name, path, &text);
    Checked { output, report }
}

/// Signal-to-quantization-noise ratio of `got` against `want`, in dB.
pub fn sqnr(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len(), "SQNR of arrays of different lengths");
    let signal: f64 = want.iter().map(|&w| (w as f64).powi(2)).sum();
    let noise: f64 = got
        .iter()
        .zip(want)
        .map(|(&g, &w)| (g as f64 - w as f64).powi(2))
        .sum();
    10.0 * (signal / noise.max(1e-30)).log10()
}

/// Runs the `qcc` binary in the workspace root (so paths in its messages are the repository's).
pub fn qcc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qcc"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the qcc binary runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("UTF-8 stderr")
}

/// The directory of the ONNX models and ORT outputs that `tests/python/make_models.py` builds.
pub fn models_dir() -> PathBuf {
    let dir = std::env::var_os("QCC_TEST_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("tests/.work/models"));
    assert!(
        dir.join("manifest.json").is_file(),
        "{} has no manifest.json: run ./scripts/test.sh, which builds the ONNX models with Python first",
        dir.display()
    );
    dir
}
