//! `qcc rules check` and `qcc rules print`.

use crate::cli::build::read_rule_files;
use crate::cli::console::{say, say_raw};
use crate::diag::{Error, Result};
use crate::rules::check::{check_rule, Verdict};
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
                say!("ok        {:<width$}  {instances} instances, worst difference {worst:.1e} of max |value|", r.name())
            }
            Verdict::Untested { tries, last } => {
                untested += 1;
                say!(
                    "untested  {:<width$}  no instance in {tries} tries: {last}",
                    r.name()
                );
            }
            Verdict::Fails { why, instance } => {
                failed += 1;
                say!(
                    "FAILED    {:<width$}  ({})\n  {why}\n  instance:\n{}",
                    r.name(),
                    r.file,
                    indent(&instance)
                );
            }
        }
    }
    say!(
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
        let file = dsl::parse(&name, &text).map_err(|d| crate::rules::ruleset::convert(&d))?;
        say_raw!("{}", dsl::print(&file));
    }
    Ok(())
}
