//! `qcc rules check`, `qcc rules print` and `qcc rules test`.

use crate::cli::build::read_rule_files;
use crate::diag::{Error, Result};
use crate::egraph::saturate::Limits;
use crate::rules::check::{check_rule, Verdict};
use crate::rules::fixture::{fixtures_of, run_fixture, PhaseRules};
use crate::rules::ruleset::BUILTIN;
use crate::rules::RuleSet;
use std::path::PathBuf;

fn files(paths: &[PathBuf]) -> Result<Vec<(String, String)>> {
    if paths.is_empty() {
        Ok(BUILTIN
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect())
    } else {
        read_rule_files(paths)
    }
}

pub fn check(paths: &[PathBuf], instances: usize, seed: u64) -> Result<()> {
    let set = RuleSet::load(&files(paths)?)?;
    let mut failed = 0;
    let mut untested = 0;
    let width = set.rules.iter().map(|r| r.name().len()).max().unwrap_or(0);
    for r in &set.rules {
        match check_rule(r, instances, seed) {
            Verdict::Holds { instances, worst } => {
                println!("ok        {:<width$}  {instances} instances, worst difference {worst:.1e} of max |value|", r.name())
            }
            Verdict::Untested { tries, last } => {
                untested += 1;
                println!(
                    "untested  {:<width$}  no instance in {tries} tries: {last}",
                    r.name()
                );
            }
            Verdict::Fails { why, instance } => {
                failed += 1;
                println!(
                    "FAILED    {:<width$}  ({})\n  {why}\n  instance:\n{}",
                    r.name(),
                    r.file,
                    indent(&instance)
                );
            }
        }
    }
    println!(
        "{} passed, {failed} failed",
        set.rules.len() - failed - untested
    );
    if failed > 0 {
        return Err(Error::msg(format!("{failed} rule(s) do not hold")));
    }
    if untested > 0 {
        return Err(Error::msg(format!(
            "{untested} rule(s) could not be instantiated, so they are unchecked"
        )));
    }
    Ok(())
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn print(paths: &[PathBuf]) -> Result<()> {
    for (name, text) in files(paths)? {
        let file = dsl::parse(&name, &text).map_err(|d| Error::msg(d.render()))?;
        print!("{}", dsl::print(&file));
    }
    Ok(())
}

/// `qcc rules test RULES FIXTURE…`: every fixture run, every failure shown with its diff, then a
/// summary; an error when any failed.
pub fn test(
    rules: &std::path::Path,
    fixtures: &[PathBuf],
    no_builtin: bool,
    allowed: &[String],
    bless: bool,
) -> Result<()> {
    let user = if rules.as_os_str() == "-" {
        vec![]
    } else {
        read_rule_files(&[rules.to_path_buf()])?
    };
    if no_builtin && user.is_empty() {
        return Err(Error::msg(
            "--no-builtin-rules with `-` leaves no rules to test",
        ));
    }
    let all = if no_builtin {
        RuleSet::load(&user)?
    } else {
        RuleSet::with_builtin(&user)?
    };
    crate::rules::admit::admit(&all, &user, allowed)?;
    let phases = PhaseRules::split(&all);
    let paths = fixtures_of(fixtures)?;
    let mut failed = 0;
    for path in &paths {
        let outcome = run_fixture(path, &phases, &Limits::default(), bless)?;
        let fired: Vec<String> = outcome
            .fired
            .iter()
            .map(|(r, n)| format!("{r} × {n}"))
            .collect();
        let fired = if fired.is_empty() {
            "no rule fired".to_string()
        } else {
            fired.join(", ")
        };
        let verdict = match (outcome.problems.is_empty(), bless) {
            (true, false) => "ok     ",
            (true, true) => "blessed",
            (false, _) => "FAILED ",
        };
        println!("{verdict} {} ({}: {fired})", path.display(), outcome.phase);
        for p in &outcome.problems {
            println!("  {}", p.trim_end().replace('\n', "\n  "));
        }
        failed += usize::from(!outcome.problems.is_empty());
    }
    println!("{} passed, {failed} failed", paths.len() - failed);
    if failed > 0 {
        return Err(Error::msg(format!("{failed} fixture(s) failed")));
    }
    Ok(())
}
