//! The cookbook of docs/dsl.md (`examples/rules/`): each rule file's `qcc rules check` verdict is
//! the documented one, its fixture passes `qcc rules test`, and its rules at work on a model under
//! tests/ leave the output unchanged within their tolerance.

use super::support::{qcc, read, root, stdout};
use qcc::egraph::saturate::Limits;
use qcc::interp;
use qcc::pipeline::optimize;
use qcc::rules::RuleSet;
use runtime::Tensor;

/// Each cookbook file and the rules of it that the checker cannot instantiate yet (so they are
/// applied only under `--allow-unchecked`).
const COOKBOOK: &[(&str, &[&str])] = &[("merge-requantizes", &[]), ("merge-1x1-convs", &[])];

fn rules_file(name: &str) -> (String, String) {
    let rel = format!("examples/rules/{name}.rules");
    let text = std::fs::read_to_string(root().join(&rel)).expect("the cookbook file reads");
    (rel, text)
}

#[test]
fn every_cookbook_file_is_listed() {
    let mut found: Vec<String> = std::fs::read_dir(root().join("examples/rules"))
        .expect("examples/rules exists")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "rules"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut listed: Vec<String> = COOKBOOK.iter().map(|(n, _)| n.to_string()).collect();
    listed.sort();
    assert_eq!(found, listed);
}

#[test]
fn cookbook_rules_check_as_documented_and_their_fixtures_pass() {
    for (name, unchecked) in COOKBOOK {
        let rel = format!("examples/rules/{name}.rules");
        let o = qcc(&["rules", "check", &rel]);
        let text = stdout(&o);
        for line in text.lines().filter(|l| !l.starts_with(char::is_numeric)) {
            let rule = line.split_whitespace().nth(1).unwrap_or_default();
            let want = if unchecked.contains(&rule) {
                "untested "
            } else {
                "ok "
            };
            assert!(line.starts_with(want), "{rel}: {rule}: {line}");
        }
        let mut args = vec![
            "rules".to_string(),
            "test".into(),
            rel.clone(),
            format!("examples/rules/{name}.ir"),
        ];
        for r in *unchecked {
            args.extend(["--allow-unchecked".to_string(), r.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = qcc(&args);
        let text = stdout(&o);
        assert!(
            o.status.success() && text.ends_with("1 passed, 0 failed\n"),
            "{rel}:\n{text}{}",
            super::support::stderr(&o)
        );
        if !unchecked.is_empty() {
            let o = qcc(&args[..4]);
            assert!(
                !o.status.success() && super::support::stderr(&o).contains("--allow-unchecked"),
                "{rel}: an unchecked rule was applied without --allow-unchecked"
            );
        }
    }
}

/// The lowering rule of the cookbook: on every code of the input type, the merged requantize is
/// within one step of the output type of the two it replaces (its tolerance, `lsb 1`).
#[test]
fn merged_requantizes_agree_within_one_step_on_every_code() {
    let fixture = root().join("examples/rules/merge-requantizes.ir");
    let before = read(&fixture);
    let rules = RuleSet::lowering_and(&[rules_file("merge-requantizes")]).expect("the rule loads");
    let (after, report) = optimize(&before, &rules, &Limits::default()).expect("lowers");
    assert_eq!(report.fired.get("merge-requantizes"), Some(&1));
    // Input element i is code i at scale 0.01 and zero point 128.
    let x = Tensor::F32(
        ndarray::ArrayD::from_shape_vec(
            ndarray::IxDyn(&[1, 256]),
            (0..256).map(|i| (i as f32 - 128.0) * 0.01).collect(),
        )
        .expect("256 elements"),
    );
    let out = |m| interp::run(m, std::slice::from_ref(&x)).expect("runs")[0].to_f64_vec();
    let (a, b) = (out(&before), out(&after));
    let step = 0.04;
    let worst = a
        .iter()
        .zip(&b)
        .map(|(p, q)| (p - q).abs())
        .fold(0f64, f64::max);
    assert!(
        worst <= step * 1.001,
        "differs by {worst} > one step {step}"
    );
}
