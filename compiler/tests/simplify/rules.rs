//! The built-in rules, one fixture each: `tests/simplify/<rule-name>.ir` must make that rule fire,
//! and a rule without such a fixture fails the suite. `tests/simplify/folded/` holds rules meeting
//! each other (every BatchNorm must fold); `tests/simplify/unfolded/` the BatchNorms that must
//! stay, with `--explain`'s reason for each.

use super::support::{check, count, fixtures};
use qcc::egraph::saturate::Limits;
use qcc::ir::OpKind;
use qcc::rules::RuleSet;
use std::collections::BTreeSet;

#[test]
fn every_builtin_rule_fires_in_its_fixture() {
    let rules = RuleSet::builtin_and(&[]).expect("the built-in rules load");
    let names: BTreeSet<String> = rules.rules.iter().map(|r| r.name().to_string()).collect();
    let mut covered = BTreeSet::new();
    for (stem, _) in fixtures(".") {
        assert!(
            names.contains(&stem),
            "tests/simplify/{stem}.ir is named after no built-in rule"
        );
        let c = check(&stem, &format!("{stem}.ir"), &rules, &Limits::default());
        assert!(
            c.report.saturated(),
            "{stem}: saturation stopped at the {}",
            c.report.stop
        );
        assert!(
            c.report.fired.get(&stem).is_some_and(|&n| n > 0),
            "{stem}.ir does not make {stem} fire: {:?}",
            c.report.fired
        );
        covered.insert(stem);
    }
    let missing: Vec<&String> = names.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "built-in rules without a fixture in tests/simplify/: {missing:?}"
    );
}

#[test]
fn rules_in_combination_fold_every_batch_norm() {
    let rules = RuleSet::builtin_and(&[]).expect("the built-in rules load");
    for (stem, _) in fixtures("folded") {
        let c = check(
            &format!("folded_{stem}"),
            &format!("folded/{stem}.ir"),
            &rules,
            &Limits::default(),
        );
        assert!(
            c.report.saturated(),
            "{stem}: saturation stopped at the {}",
            c.report.stop
        );
        assert_eq!(
            count(&c.output, OpKind::BatchNorm),
            0,
            "{stem}: a BatchNorm is left"
        );
    }
}

/// BatchNorms that must stay: the model comes out unchanged, and `--explain` says why.
#[test]
fn unfoldable_batch_norms_are_left_alone_with_a_reason() {
    let rules = RuleSet::builtin_and(&[]).expect("the built-in rules load");
    for (stem, _) in fixtures("unfolded") {
        let c = check(
            &format!("unfolded_{stem}"),
            &format!("unfolded/{stem}.ir"),
            &rules,
            &Limits::default(),
        );
        assert!(
            c.report.saturated(),
            "{stem}: saturation stopped at the {}",
            c.report.stop
        );
        assert_eq!(
            count(&c.output, OpKind::BatchNorm),
            count(&c.input, OpKind::BatchNorm),
            "{stem}: a BatchNorm was folded"
        );
        assert_eq!(
            qcc::ir::print::print(&c.output),
            qcc::ir::print::print(&c.input),
            "{stem}: the model changed"
        );
    }
}
