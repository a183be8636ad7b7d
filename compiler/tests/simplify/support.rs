//! Shared by the optimizer tests: fixture paths, the deterministic input every fixture runs on,
//! the numeric comparison of two models, running the `qcc` binary, and `check`, the one function
//! that optimizes a fixture, checks it, and snapshots what came out.

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

/// `tests/simplify/<rel>` at the workspace root.
pub fn fixture(rel: &str) -> PathBuf {
    root().join("tests/simplify").join(rel)
}

/// Every `*.ir` fixture directly in `tests/simplify/<dir>` (not the `*.expected.ir` results),
/// sorted by stem.
pub fn fixtures(dir: &str) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(fixture(dir))
        .expect("fixture directory exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "ir") && !qcc::rules::fixture::is_expected(p)
        })
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
    assert!(!out.is_empty(), "no fixtures in tests/simplify/{dir}");
    out
}

/// Snapshots `text` as `compiler/tests/snapshots/simplify__<name>.snap`, with `input` (a file in
/// the repository) as its input file.
pub fn snapshot(name: &str, input: &Path, text: &str) {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("../snapshots");
    s.set_prepend_module_to_snapshot(false);
    s.set_input_file(input);
    s.set_omit_expression(true);
    s.bind(|| insta::assert_snapshot!(format!("simplify__{name}"), text));
}

/// Reads a model, with a message naming the file when it does not.
pub fn read(path: &Path) -> Model {
    read_model(path).unwrap_or_else(|e| panic!("{} does not read:\n{e}", path.display()))
}

/// The fixed input of a model: element i of each f32 input is (i·37 + 11 mod 41 − 20.5)/8, spread
/// over [−2.6, 2.6], never zero (so signs, ReLU and max-pool all have work to do).
pub fn inputs(model: &Model) -> Vec<Tensor> {
    model
        .inputs
        .iter()
        .map(|&i| {
            let ty = &model.node(i).ty;
            assert_eq!(
                ty.elem.storage(),
                runtime::DType::F32,
                "input %{} is not f32: give the fixture a float input",
                model.node(i).name
            );
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

/// How closely two results must agree.
#[derive(Clone, Copy, Debug)]
pub enum Agree {
    /// Equal values (−0 equals 0; NaN equals NaN).
    Exact,
    /// |a − b| ≤ r · max |b|, per output.
    Rel(f64),
}

/// Compares the outputs of two runs; the error names the output and the worst element.
pub fn agree(got: &[Tensor], want: &[Tensor], how: Agree) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{} outputs against {}", got.len(), want.len()));
    }
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        if g.shape() != w.shape() || g.dtype() != w.dtype() {
            return Err(format!(
                "output {k}: {:?} {} against {:?} {}",
                g.shape(),
                g.dtype(),
                w.shape(),
                w.dtype()
            ));
        }
        let (g, w) = (g.to_f64_vec(), w.to_f64_vec());
        let scale = w.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-12);
        for (i, (&a, &b)) in g.iter().zip(&w).enumerate() {
            let ok = match how {
                Agree::Exact => a == b || (a.is_nan() && b.is_nan()),
                Agree::Rel(r) => (a - b).abs() <= r * scale,
            };
            if !ok {
                return Err(format!(
                    "output {k}, element {i}: {a} against {b} (max |value| {scale:.3e}, {how:?})"
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
        .map(|(name, n)| format!("{name} × {n}\n"))
        .collect()
}

/// Exact agreement is owed when every rule that fired promises `tolerance exact`.
pub fn owed(report: &Report, rules: &RuleSet) -> Agree {
    let exact = report
        .fired
        .iter()
        .filter(|(_, &n)| n > 0)
        .all(|(name, _)| {
            rules
                .rules
                .iter()
                .any(|r| r.name() == name && matches!(r.tolerance(), dsl::ast::Tolerance::Exact))
        });
    if exact {
        Agree::Exact
    } else {
        Agree::Rel(1e-4)
    }
}

/// How many ops of a kind a model has.
pub fn count(model: &Model, kind: OpKind) -> usize {
    model
        .ops_in_order()
        .into_iter()
        .filter(|&id| model.node(id).op().map(|o| o.kind) == Some(kind))
        .count()
}

/// `--explain`'s account of the BatchNorms (folded, or each left and why): its last lines.
pub fn unfolded_lines(report: &Report, out: &Model) -> String {
    let text = qcc::explain::explain(report, out);
    let from = text
        .find("every BatchNorm is folded")
        .or_else(|| text.find("BatchNorms left unfolded"))
        .expect("explain accounts for BatchNorms");
    text[from..].to_string()
}

/// What optimizing one fixture gave, for the test to look at further.
pub struct Checked {
    pub input: Model,
    pub output: Model,
    pub report: Report,
}

/// The one check of the optimizer. Optimizes `tests/simplify/<rel>` with `rules` under `limits`;
/// the result must verify and compute what the input computes on the fixed input (exactly when
/// every rule that fired is exact, else within 1e-4 of the largest value); then the rules that
/// fired, the BatchNorm account of `--explain` and the printed IR are snapshot as
/// `simplify__<name>`.
pub fn check(name: &str, rel: &str, rules: &RuleSet, limits: &Limits) -> Checked {
    let path = fixture(rel);
    let input = read(&path);
    let (output, report) = optimize(&input, rules, limits)
        .unwrap_or_else(|e| panic!("{rel}: the optimizer failed:\n{e}"));
    let problems = verify(&output);
    assert!(
        problems.is_empty(),
        "{rel}: the optimized model does not verify: {problems:?}"
    );
    assert!(
        report.refused.is_empty(),
        "{rel}: replacements were refused: {:?}",
        report.refused
    );
    let x = inputs(&input);
    let how = owed(&report, rules);
    if let Err(e) = agree(&run(&output, &x), &run(&input, &x), how) {
        panic!(
            "{rel}: the optimized model computes something else: {e}\n{}",
            print(&output)
        );
    }
    let rules_fired = fired(&report);
    let text = format!(
        "stop: {}\nrules fired:\n{}{}\n{}",
        report.stop,
        if rules_fired.is_empty() {
            "  none\n".to_string()
        } else {
            indent(&rules_fired)
        },
        unfolded_lines(&report, &output),
        print(&output)
    );
    snapshot(name, &path, &text);
    Checked {
        input,
        output,
        report,
    }
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}

/// Runs the `qcc` binary in the workspace root (so paths in its messages are the repository's),
/// with its cache of checked rule files in the system's temporary directory rather than the
/// user's.
pub fn qcc(args: &[&str]) -> Output {
    qcc_with_cache(args, &std::env::temp_dir().join("qcc-test-cache"))
}

/// [`qcc`] with the given cache directory.
pub fn qcc_with_cache(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qcc"))
        .args(args)
        .current_dir(root())
        .env("QCC_CACHE_DIR", cache)
        .output()
        .expect("the qcc binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("UTF-8 stdout")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("UTF-8 stderr")
}

/// `--explain` output without its timing line, which changes from run to run.
pub fn without_timing(s: &str) -> String {
    s.lines()
        .filter(|l| !l.starts_with("simplify took "))
        .map(|l| format!("{l}\n"))
        .collect()
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
