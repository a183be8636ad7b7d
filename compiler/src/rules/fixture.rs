//! `qcc rules test`: a rule's snapshot test as data. A fixture `NAME.ir` is rewritten by the
//! rules of its phase, and the printed result must equal `NAME.expected.ir` beside it (a unified
//! diff when not; `--bless` writes it). Comment lines in the fixture say more:
//!
//! - `// fires: RULE N, RULE N`: these rules fire exactly so often (others are not counted);
//! - `// phase: simplify` or `// phase: lower`: the rules it runs through. Without it, the phase
//!   is the one the compiler would run on that model: lower for an already quantized model,
//!   simplify otherwise.
//!
//! A simplify fixture must also compute what it computed before, on a fixed input, within the
//! tolerance of the rules that fired. The built-in rules' fixtures run through [`run_fixture`]
//! in the test suite, as a user's do through the command.

use crate::diag::{Error, Result};
use crate::egraph::saturate::Limits;
use crate::ir::model::Model;
use crate::ir::print::print;
use crate::pipeline::{is_quantized, optimize};
use crate::rules::RuleSet;
use dsl::ast::{Phase, Tolerance};
use runtime::Tensor;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a fixture's comment lines ask for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Expectations {
    /// `// phase: …`, if written.
    pub phase: Option<Phase>,
    /// `// fires: …`: rule name and exact count, in the order written.
    pub fires: Vec<(String, usize)>,
}

/// Reads the `// fires:` and `// phase:` lines of a fixture's text; a malformed one is an
/// error naming its line.
pub fn expectations(path: &Path, text: &str) -> Result<Expectations> {
    let mut out = Expectations::default();
    for (n, line) in text.lines().enumerate() {
        let at = || format!("{}:{}", path.display(), n + 1);
        let Some(comment) = line.trim_start().strip_prefix("//") else {
            continue;
        };
        let comment = comment.trim();
        if let Some(list) = comment.strip_prefix("fires:") {
            for item in list.split(',').filter(|s| !s.trim().is_empty()) {
                let mut words = item.split_whitespace();
                let parsed = match (words.next(), words.next(), words.next()) {
                    (Some(rule), Some(count), None) => {
                        count.parse::<usize>().ok().map(|c| (rule.to_string(), c))
                    }
                    _ => None,
                };
                let Some((rule, count)) = parsed else {
                    return Err(Error::msg(format!(
                        "{}: `// fires:` takes `RULE COUNT` pairs separated by commas, not `{}`",
                        at(),
                        item.trim()
                    )));
                };
                if out.fires.iter().any(|(r, _)| *r == rule) {
                    return Err(Error::msg(format!(
                        "{}: rule {rule} is counted twice",
                        at()
                    )));
                }
                out.fires.push((rule, count));
            }
        } else if let Some(name) = comment.strip_prefix("phase:") {
            let phase = Phase::from_name(name.trim()).ok_or_else(|| {
                Error::msg(format!(
                    "{}: unknown phase `{}` (the phases are `simplify` and `lower`)",
                    at(),
                    name.trim()
                ))
            })?;
            if out.phase.replace(phase).is_some() {
                return Err(Error::msg(format!("{}: the phase is given twice", at())));
            }
        }
    }
    Ok(out)
}

/// `dir/NAME.expected.ir` for `dir/NAME.ir`.
pub fn expected_path(fixture: &Path) -> PathBuf {
    let stem = fixture
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    fixture.with_file_name(format!("{stem}.expected.ir"))
}

/// Whether a path is an expected result rather than a fixture.
pub fn is_expected(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".expected.ir"))
}

/// The fixtures a command line names: files as given, directories as the `.ir` files directly
/// inside them (sorted), expected results left out.
pub fn fixtures_of(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = vec![];
    for p in paths {
        if p.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| Error::io(p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "ir") && !is_expected(f))
                .collect();
            inside.sort();
            if inside.is_empty() {
                return Err(Error::msg(format!("{} holds no .ir fixture", p.display())));
            }
            out.extend(inside);
        } else if !is_expected(p) {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// The rules of each phase a fixture may run through.
pub struct PhaseRules {
    pub simplify: RuleSet,
    pub lower: RuleSet,
}

impl PhaseRules {
    pub fn split(all: &RuleSet) -> PhaseRules {
        PhaseRules {
            simplify: all.only(Phase::Simplify),
            lower: all.only(Phase::Lower),
        }
    }
    fn of(&self, phase: Phase) -> &RuleSet {
        match phase {
            Phase::Simplify => &self.simplify,
            Phase::Lower => &self.lower,
        }
    }
}

/// What running one fixture gave.
pub struct Outcome {
    pub phase: Phase,
    /// The printed result.
    pub output: String,
    /// The rewritten model.
    pub model: Model,
    /// Rules that fired, with their counts (only those that fired).
    pub fired: BTreeMap<String, usize>,
    /// Every way the fixture failed: a count that differs, a different result, a changed value,
    /// a missing expected file. Empty when it passes.
    pub problems: Vec<String>,
}

/// Runs one fixture through the rules of its phase and compares it with its expected file (or,
/// with `bless`, writes that file).
pub fn run_fixture(
    path: &Path,
    rules: &PhaseRules,
    limits: &Limits,
    bless: bool,
) -> Result<Outcome> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let want = expectations(path, &text)?;
    let input = crate::ir::weights::read_model(path)?;
    let phase = want.phase.unwrap_or(if is_quantized(&input) {
        Phase::Lower
    } else {
        Phase::Simplify
    });
    let set = rules.of(phase);
    for (rule, _) in &want.fires {
        if !set.rules.iter().any(|r| r.name() == rule) {
            return Err(Error::msg(format!(
                "{}: `// fires:` counts {rule}, which is no rule of the {phase} phase here",
                path.display()
            )));
        }
    }
    let (model, report) = optimize(&input, set, limits)
        .map_err(|e| Error::msg(format!("{}: {e}", path.display())))?;
    let fired: BTreeMap<String, usize> = report
        .fired
        .iter()
        .filter(|(_, &n)| n > 0)
        .map(|(r, &n)| (r.clone(), n))
        .collect();
    let mut problems = vec![];
    if !report.saturated() {
        problems.push(format!("saturation stopped at the {}", report.stop));
    }
    for (rule, why) in &report.refused {
        problems.push(format!("a replacement of {rule} was refused: {why}"));
    }
    for (rule, n) in &want.fires {
        let got = fired.get(rule).copied().unwrap_or(0);
        if got != *n {
            problems.push(format!("{rule} fired {got} times, the fixture says {n}"));
        }
    }
    if phase == Phase::Simplify {
        if let Err(e) = same_values(&input, &model, set, &fired) {
            problems.push(format!("the result computes something else: {e}"));
        }
    }
    let output = print(&model);
    let expected = expected_path(path);
    if bless {
        std::fs::write(&expected, &output).map_err(|e| Error::io(&expected, e))?;
    } else {
        match std::fs::read_to_string(&expected) {
            Ok(e) if e == output => {}
            Ok(e) => problems.push(format!(
                "the result differs from {}:\n{}",
                expected.display(),
                diff(&e, &output)
            )),
            Err(_) => problems.push(format!(
                "{} does not exist: run with --bless to write it, then read it",
                expected.display()
            )),
        }
    }
    Ok(Outcome {
        phase,
        output,
        model,
        fired,
        problems,
    })
}

/// A unified diff, expected first.
pub fn diff(expected: &str, actual: &str) -> String {
    similar::TextDiff::from_lines(expected, actual)
        .unified_diff()
        .context_radius(2)
        .header("expected", "actual")
        .to_string()
}

/// The input and the result agree on a fixed input: exactly when every rule that fired is
/// exact, else within the loosest relative tolerance among them (of the largest value).
fn same_values(
    before: &Model,
    after: &Model,
    rules: &RuleSet,
    fired: &BTreeMap<String, usize>,
) -> std::result::Result<(), String> {
    let Some(x) = fixed_inputs(before) else {
        return Ok(());
    };
    let mut rel = 0f64;
    for r in rules.rules.iter().filter(|r| fired.contains_key(r.name())) {
        rel = rel.max(match r.tolerance() {
            Tolerance::Exact => 0.0,
            Tolerance::Rel(v) => v,
            // A float phase has no integer results; treat an LSB tolerance as a relative one of
            // the same order rather than let it pass everything.
            Tolerance::Lsb(_) => 1e-2,
        });
    }
    let run = |m: &Model| crate::interp::run(m, &x).map_err(|e| e.to_string());
    let (want, got) = (run(before)?, run(after)?);
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        if g.shape() != w.shape() {
            return Err(format!(
                "output {k}: shape {:?} against {:?}",
                g.shape(),
                w.shape()
            ));
        }
        let (g, w) = (g.to_f64_vec(), w.to_f64_vec());
        let scale = w.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-12);
        for (i, (&a, &b)) in g.iter().zip(&w).enumerate() {
            let same = a == b || (a.is_nan() && b.is_nan());
            if !same && (a - b).abs() > rel * scale {
                return Err(format!(
                    "output {k}, element {i}: {a} against {b} (max |value| {scale:.3e}, relative tolerance {rel:e})"
                ));
            }
        }
    }
    Ok(())
}

/// Element i of each f32 input is (i·37 + 11 mod 41 − 20.5)/8: spread over [−2.6, 2.6], never
/// zero, so signs, ReLU and max-pool all have work to do. None when an input is not f32.
pub fn fixed_inputs(model: &Model) -> Option<Vec<Tensor>> {
    model
        .inputs
        .iter()
        .map(|&i| {
            let ty = &model.node(i).ty;
            (ty.elem.storage() == runtime::DType::F32).then(|| {
                let data = (0..ty.numel())
                    .map(|k| (((k * 37 + 11) % 41) as f32 - 20.5) / 8.0)
                    .collect();
                Tensor::F32(
                    ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&ty.shape), data)
                        .expect("numel matches the shape"),
                )
            })
        })
        .collect()
}
