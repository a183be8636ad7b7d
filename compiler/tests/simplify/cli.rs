//! The optimizer through the `qcc` binary: a user rule file with `--rules`, `qcc rules check` on
//! good and wrong rules, rule files with mistakes (all reported, nothing written), and a
//! saturation stopped by its iteration limit.

use super::support::{
    agree, count, fixture, inputs, qcc, read, root, run, snapshot, stderr, stdout, without_timing,
    Agree,
};
use qcc::egraph::saturate::Limits;
use qcc::ir::print::print;
use qcc::ir::OpKind;
use qcc::pipeline::optimize;
use qcc::rules::RuleSet;

const USER_RULES: &str = "tests/rules/user/fold_channel_scale.rules";

/// Optimizes `model` (relative to the workspace root) into a temporary directory with the extra
/// arguments; gives the run and the output path.
fn optimize_cli(
    model: &str,
    extra: &[&str],
) -> (std::process::Output, tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("out.ir");
    let mut args = vec![
        model,
        "-o",
        out.to_str().expect("UTF-8 temporary path"),
        "--emit",
        "float",
    ];
    args.extend_from_slice(extra);
    (qcc(&args), dir, out)
}

#[test]
fn user_rule_file_folds_channel_scales() {
    let model = "tests/simplify/user/channel_scale.ir";
    let (o, _dir, out) = optimize_cli(model, &["--rules", USER_RULES, "--explain"]);
    assert!(o.status.success(), "qcc failed:\n{}", stderr(&o));
    let explain = without_timing(&stderr(&o));
    // The file's plain-conv rule is also built in now (rules/affine.rules'
    // fold-per-channel-scale-into-conv, the same rewrite): the e-graph counts the one that
    // added the node first, the built-in.
    for rule in [
        "fold-per-channel-scale-into-conv",
        "fold-channel-scale-into-bn-folded-conv",
        "fold-bn-into-conv",
    ] {
        assert!(
            explain
                .lines()
                .any(|l| l.trim_start().starts_with(rule) && !l.ends_with(" 0")),
            "{rule} did not fire:\n{explain}"
        );
    }
    let (before, after) = (read(&root().join(model)), read(&out));
    assert_eq!(
        count(&after, OpKind::Mul),
        1,
        "only the scalar multiply should be left"
    );
    assert_eq!(count(&after, OpKind::BatchNorm), 0);
    let x = inputs(&before);
    agree(&run(&after, &x), &run(&before, &x), Agree::Rel(1e-4))
        .unwrap_or_else(|e| panic!("the outputs differ: {e}"));
    let written = std::fs::read_to_string(&out).expect("the output reads");
    snapshot(
        "cli_user_rules",
        &fixture("user/channel_scale.ir"),
        &format!("{written}\n--explain:\n{explain}"),
    );
}

#[test]
fn rules_check_passes_the_builtin_and_user_rules() {
    let o = qcc(&["rules", "check"]);
    let text = stdout(&o);
    assert!(
        o.status.success(),
        "qcc rules check failed:\n{text}{}",
        stderr(&o)
    );
    let builtin = RuleSet::all_builtin()
        .expect("the built-in rules load")
        .rules
        .len();
    assert!(
        text.ends_with(&format!("{builtin} passed, 0 failed\n")) && !text.contains("untested"),
        "{text}"
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with("ok ")).count(),
        builtin,
        "{text}"
    );

    let o = qcc(&["rules", "check", USER_RULES]);
    let text = stdout(&o);
    assert!(
        o.status.success(),
        "qcc rules check {USER_RULES} failed:\n{text}{}",
        stderr(&o)
    );
    assert!(text.ends_with("2 passed, 0 failed\n"), "{text}");

    // Every user rule file of the tests, the integer-dialect one included, is checked for real:
    // each rule holds on sampled instances, none is `untested`.
    let dir = root().join("tests/rules/user");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/rules/user exists")
        .map(|e| e.expect("an entry").path())
        .collect();
    files.sort();
    for path in files {
        let rel = format!(
            "tests/rules/user/{}",
            path.file_name()
                .and_then(|s| s.to_str())
                .expect("UTF-8 file name")
        );
        let o = qcc(&["rules", "check", &rel]);
        let text = stdout(&o);
        assert!(
            o.status.success() && text.lines().all(|l| !l.starts_with("untested")),
            "qcc rules check {rel}:\n{text}{}",
            stderr(&o)
        );
    }
}

/// Each file of `tests/rules/wrong/` holds one wrong rule: the check fails and names it. The
/// snapshot keeps the verdict, the reason and the summary (the instance is printed too, but it is
/// long and says the same thing).
#[test]
fn rules_check_refuses_each_wrong_rule() {
    let dir = root().join("tests/rules/wrong");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/rules/wrong exists")
        .map(|e| e.expect("an entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for path in files {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("UTF-8 file name")
            .to_string();
        let rel = format!("tests/rules/wrong/{stem}.rules");
        let o = qcc(&["rules", "check", &rel]);
        let text = stdout(&o);
        assert!(!o.status.success(), "{rel} passed the check:\n{text}");
        let verdict: Vec<&str> = text.lines().take(2).collect();
        assert!(verdict[0].starts_with("FAILED "), "{rel}: {text}");
        let summary = text.lines().last().unwrap_or("");
        let shown = format!(
            "{}\n{}\n{summary}\nstderr: {}",
            verdict[0],
            verdict[1],
            stderr(&o)
        );
        snapshot(&format!("rules_check_wrong_{stem}"), &path, &shown);
    }
}

/// Every mistake in a rule file is reported in one run, and no output is written.
#[test]
fn malformed_rule_file_reports_every_error_and_writes_nothing() {
    let rules = "tests/rules/err/malformed.rules";
    let (o, _dir, out) = optimize_cli("tests/simplify/fold-bn-into-conv.ir", &["--rules", rules]);
    assert!(!o.status.success());
    assert!(!out.exists(), "an output was written");
    assert_eq!(
        std::fs::read_dir(out.parent().expect("a directory"))
            .expect("readable")
            .count(),
        0,
        "something was written"
    );
    let err = stderr(&o);
    assert!(err.matches("error:").count() >= 8, "{err}");
    snapshot("cli_error_malformed_rules", &root().join(rules), &err);
}

/// A rule naming an op or attribute qcc does not have is refused before the model is read: the
/// model path here does not exist, and the error is about the rules alone.
#[test]
fn unknown_op_in_a_rule_is_refused_before_the_model_is_read() {
    let rules = "tests/rules/err/unknown_op.rules";
    let (o, _dir, out) = optimize_cli("tests/simplify/no-such-model.ir", &["--rules", rules]);
    assert!(!o.status.success());
    assert!(!out.exists());
    let err = stderr(&o);
    assert!(
        !err.contains("no-such-model"),
        "the model was read before the rules were checked:\n{err}"
    );
    assert!(
        err.contains("unknown op `conv3d`") && err.contains("no attribute `paddings`"),
        "{err}"
    );
    snapshot("cli_error_unknown_op", &root().join(rules), &err);
}

/// Two BatchNorms in a row need two rounds. Stopped after one, the result still verifies and
/// computes the same function, with one fold done; the CLI says which limit stopped it.
#[test]
fn iteration_limit_gives_a_correct_partial_result_and_says_so() {
    let model = "tests/simplify/limits/two_batch_norms.ir";
    let rules = RuleSet::builtin_and(&[]).expect("the built-in rules load");
    let input = read(&root().join(model));
    let (full, report) = optimize(&input, &rules, &Limits::default()).expect("optimizes");
    assert!(
        report.saturated()
            && report.fired["fold-bn-into-conv"] == 2
            && count(&full, OpKind::BatchNorm) == 0,
        "{report:?}"
    );

    let (o, _dir, out) = optimize_cli(model, &["--iter-limit", "1", "--explain"]);
    assert!(o.status.success(), "qcc failed:\n{}", stderr(&o));
    let err = without_timing(&stderr(&o));
    assert!(
        err.contains("warning: saturation stopped at the iteration limit (1 iterations)"),
        "{err}"
    );
    let partial = read(&out);
    assert_eq!(count(&partial, OpKind::BatchNorm), 1);
    let x = inputs(&input);
    agree(&run(&partial, &x), &run(&input, &x), Agree::Rel(1e-4))
        .unwrap_or_else(|e| panic!("the outputs differ: {e}"));
    let explain: String = err
        .lines()
        .filter(|l| !l.ends_with(" 0"))
        .map(|l| format!("{l}\n"))
        .collect();
    snapshot(
        "cli_iteration_limit",
        &fixture("limits/two_batch_norms.ir"),
        &format!(
            "{}\n--explain (rules that fired):\n{explain}",
            print(&partial)
        ),
    );
}

/// A user rule that fails `qcc rules check` never reaches the model: compiling with it is
/// refused, with the rule, its file and the instance that shows it wrong, and nothing is written.
#[test]
fn a_wrong_user_rule_is_refused_before_it_is_applied() {
    let rules = "tests/rules/wrong/bn_scale_twice.rules";
    let (o, _dir, out) = optimize_cli("tests/simplify/fold-bn-into-conv.ir", &["--rules", rules]);
    assert!(!o.status.success());
    assert!(!out.exists(), "an output was written");
    let err = stderr(&o);
    assert!(
        err.contains("rule fold-bn-into-conv-scaling-bias-twice (tests/rules/wrong/bn_scale_twice.rules) does not hold")
            && err.contains("instance:"),
        "{err}"
    );
}

/// A `phase lower` file runs in the lowering phase: on an already quantized model, `--emit int`
/// applies it (here merging two requantizes), checked on integer-dialect instances like any
/// other rule. `--allow-unchecked` naming no rule of the files is an error.
#[test]
fn a_lowering_phase_user_rule_runs_when_lowering() {
    let model = "examples/rules/merge-requantizes.ir";
    let rules = "examples/rules/merge-requantizes.rules";
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("out.ir");
    let out_s = out.to_str().expect("UTF-8");
    let o = qcc(&[model, "-o", out_s, "--emit", "int", "--rules", rules]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(count(&read(&out), OpKind::Requantize), 1);

    let o = qcc(&[
        model,
        "-o",
        out_s,
        "--emit",
        "int",
        "--rules",
        rules,
        "--allow-unchecked",
        "merge-requantize",
    ]);
    assert!(
        !o.status.success()
            && stderr(&o).contains(
                "--allow-unchecked names no rule of the --rules files: `merge-requantize`"
            ),
        "{}",
        stderr(&o)
    );
}

/// A rule the checker cannot instantiate (`logic(a, a)`: the sampler makes no second operand for
/// `logic` yet) is refused, and nothing written, until `--allow-unchecked` names it; then it
/// applies, with a warning.
#[test]
fn an_unchecked_rule_applies_only_when_vouched_for() {
    let model = "tests/simplify/user/and_same.ir";
    let rules = "tests/rules/unchecked/and_same.rules";
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("out.ir");
    let out_s = out.to_str().expect("UTF-8");
    let base = [model, "-o", out_s, "--emit", "float", "--rules", rules];
    let o = qcc(&base);
    assert!(!o.status.success() && !out.exists(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "it is refused unless `--allow-unchecked drop-and-of-one-value` vouches for it"
        ),
        "{}",
        stderr(&o)
    );
    let mut args = base.to_vec();
    args.extend(["--allow-unchecked", "drop-and-of-one-value"]);
    let o = qcc(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: rule drop-and-of-one-value (tests/rules/unchecked/and_same.rules) is applied unchecked"),
        "{}",
        stderr(&o)
    );
    assert_eq!(count(&read(&out), OpKind::Logic), 0);
}

/// `--no-builtin-rules` means the same in every phase: a QDQ conv lowered with only a user's
/// lowering file keeps its float conv, because the built-in lowering rules did not run.
#[test]
fn no_builtin_rules_drops_the_builtin_lowering_rules_too() {
    let model = "tests/lower/lower-conv.ir";
    let rules = "examples/rules/merge-requantizes.rules";
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("out.ir");
    let out_s = out.to_str().expect("UTF-8");
    let base = [
        model,
        "-o",
        out_s,
        "--emit",
        "int",
        "--rules",
        rules,
        "--allow-unchecked",
        "merge-requantizes",
    ];
    let o = qcc(&base);
    assert!(o.status.success(), "{}", stderr(&o));
    let lowered = read(&out);
    assert_eq!(
        (
            count(&lowered, OpKind::QConv2d),
            count(&lowered, OpKind::Conv2d)
        ),
        (1, 0)
    );
    let mut args = base.to_vec();
    args.push("--no-builtin-rules");
    let o = qcc(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let kept = read(&out);
    assert_eq!(
        (count(&kept, OpKind::QConv2d), count(&kept, OpKind::Conv2d)),
        (0, 1)
    );
}

/// A simplify file on an already quantized model does not run, and qcc says so; an integer model
/// given `--emit int` comes out as it went in (it is not quantized again).
#[test]
fn an_integer_model_is_neither_simplified_nor_quantized_again() {
    let model = "examples/rules/merge-requantizes.expected.ir";
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("out.ir");
    let out_s = out.to_str().expect("UTF-8");
    let o = qcc(&[model, "-o", out_s, "--emit", "int", "--rules", USER_RULES]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: rule fold-channel-scale-into-conv (tests/rules/user/fold_channel_scale.rules) is a simplify-phase rule and examples/rules/merge-requantizes.expected.ir is already quantized: it does not run"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(&out).expect("written"),
        std::fs::read_to_string(root().join(model)).expect("reads")
    );
}

/// The verdicts of a checked file are cached by its content: a second compile takes them from
/// the cache (shown here by planting a verdict the checker would never give), and a changed file
/// is checked again.
#[test]
fn checked_rule_files_are_cached_by_content() {
    let cache = tempfile::tempdir().expect("a temporary directory");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rules = dir.path().join("scale.rules");
    let text = std::fs::read_to_string(root().join(USER_RULES)).expect("reads");
    std::fs::write(&rules, &text).expect("written");
    let out = dir.path().join("out.ir");
    let args = [
        "tests/simplify/user/channel_scale.ir",
        "-o",
        out.to_str().expect("UTF-8"),
        "--emit",
        "float",
        "--rules",
        rules.to_str().expect("UTF-8"),
    ];
    let o = super::support::qcc_with_cache(&args, cache.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let entries: Vec<_> = std::fs::read_dir(cache.path().join("rules-checked"))
        .expect("the cache was made")
        .map(|e| e.expect("an entry").path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = std::fs::read_to_string(&entries[0]).expect("reads");
    assert!(entry.contains("\"unchecked\":[]"), "{entry}");
    std::fs::write(
        &entries[0],
        entry.replace(
            "\"unchecked\":[]",
            "\"unchecked\":[{\"rule\":\"fold-channel-scale-into-conv\",\"why\":\"planted in the cache\"}]",
        ),
    )
    .expect("written");
    std::fs::remove_file(&out).expect("removed");
    let o = super::support::qcc_with_cache(&args, cache.path());
    assert!(
        !o.status.success() && stderr(&o).contains("(planted in the cache)"),
        "the cache was not read:\n{}",
        stderr(&o)
    );
    std::fs::write(&rules, format!("{text}// changed\n")).expect("written");
    let o = super::support::qcc_with_cache(&args, cache.path());
    assert!(
        o.status.success(),
        "a changed file was not checked again:\n{}",
        stderr(&o)
    );
}

/// Every wrong rule of `tests/rules/wrong/` is refused by `--rules` as well as by `qcc rules
/// check`: the compile exits 1 naming the rule, and nothing is written.
#[test]
fn each_wrong_rule_is_refused_by_the_rules_option() {
    let dir = root().join("tests/rules/wrong");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/rules/wrong exists")
        .map(|e| e.expect("an entry").path())
        .collect();
    files.sort();
    for path in files {
        let name = path
            .file_name()
            .and_then(|s| s.to_str())
            .expect("UTF-8 file name");
        let rel = format!("tests/rules/wrong/{name}");
        let text = std::fs::read_to_string(&path).expect("the rule file reads");
        let rule = text
            .lines()
            .find_map(|l| l.strip_prefix("rule "))
            .and_then(|l| l.split_whitespace().next())
            .expect("the file holds a rule");
        let (o, _dir, out) =
            optimize_cli("tests/simplify/fold-bn-into-conv.ir", &["--rules", &rel]);
        let err = stderr(&o);
        assert!(!o.status.success(), "{rel} was accepted:\n{err}");
        assert!(!out.exists(), "{rel}: an output was written");
        assert!(
            err.contains(&format!("rule {rule} ({rel}) does not hold")),
            "{rel}: {err}"
        );
    }
}

/// A repeated pattern variable means one value: the hard-swish recognizer, `x` twice, turns
/// x · relu6(x + 3) / 6 into one op with the same output, and leaves x · relu6(y + 3) / 6 alone.
#[test]
fn hard_swish_is_recognized_only_when_both_operands_are_one_value() {
    let rules = "tests/rules/user/hard_swish.rules";
    let model = "tests/simplify/user/hard_swish.ir";
    let (o, _dir, out) = optimize_cli(model, &["--rules", rules, "--explain"]);
    assert!(o.status.success(), "qcc failed:\n{}", stderr(&o));
    let explain = without_timing(&stderr(&o));
    let (before, after) = (read(&root().join(model)), read(&out));
    assert_eq!(count(&after, OpKind::HardSwish), 1, "{}", print(&after));
    assert_eq!(after.ops_in_order().len(), 1, "{}", print(&after));
    let x = inputs(&before);
    agree(&run(&after, &x), &run(&before, &x), Agree::Rel(1e-5))
        .unwrap_or_else(|e| panic!("the outputs differ: {e}"));
    let fired: String = explain
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            l.starts_with("recognize-hard-swish") || l.starts_with("hard-swish-from-clip")
        })
        .collect();
    snapshot(
        "cli_user_hard_swish",
        &fixture("user/hard_swish.ir"),
        &format!(
            "{}\n--explain: {fired}\n",
            std::fs::read_to_string(&out).expect("the output reads")
        ),
    );

    let model = "tests/simplify/user/hard_swish_two_values.ir";
    let (o, _dir, out) = optimize_cli(model, &["--rules", rules, "--explain"]);
    assert!(o.status.success(), "qcc failed:\n{}", stderr(&o));
    let explain = without_timing(&stderr(&o));
    let (before, after) = (read(&root().join(model)), read(&out));
    assert_eq!(count(&after, OpKind::HardSwish), 0, "{}", print(&after));
    assert_eq!(print(&after), print(&before), "{explain}");
    assert!(explain.contains("no rule fired"), "{explain}");
}
