//! A user's rule files admitted before use: every rule is checked as `qcc rules check` checks it,
//! a rule that does not hold is refused with the instance that shows it, and a rule the checker
//! could not instantiate is refused unless the user names it in `--allow-unchecked`. The verdicts
//! of a file are cached by its content (under the user's cache directory, never the repository),
//! so compiling again with the same file checks nothing.

use crate::diag::{Error, Result};
use crate::rules::check::{check_rule, Verdict, CHECK_INSTANCES, CHECK_SEED};
use crate::rules::RuleSet;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What checking one file found, when nothing in it was wrong: the rules that could not be
/// instantiated, with the checker's reason. This is what the cache keeps.
#[derive(Clone, Debug, Default, PartialEq)]
struct Unchecked(Vec<(String, String)>);

/// Checks every rule of `user` (files already loaded into `rules`) and refuses the set when one
/// does not hold, or could not be checked and is not in `allowed`. Names in `allowed` that are no
/// rule of the user's files are refused too: a misspelt exemption would exempt nothing.
pub fn admit(rules: &RuleSet, user: &[(String, String)], allowed: &[String]) -> Result<()> {
    let mut wrong = vec![];
    let mut unchecked = vec![];
    let mut user_rules = BTreeSet::new();
    for (file, text) in user {
        let of_file: Vec<_> = rules.rules.iter().filter(|r| r.file == *file).collect();
        user_rules.extend(of_file.iter().map(|r| r.name().to_string()));
        let key = cache_key(text);
        if let Some(found) = key.as_ref().and_then(|k| cached(k, text)) {
            unchecked.extend(found.0.into_iter().map(|(r, why)| (r, file.clone(), why)));
            continue;
        }
        let mut found = Unchecked::default();
        let mut file_wrong = false;
        for r in of_file {
            match check_rule(r, CHECK_INSTANCES, CHECK_SEED) {
                Verdict::Holds { .. } => {}
                Verdict::Untested { tries, last } => found.0.push((
                    r.name().to_string(),
                    format!("no instance in {tries} tries: {last}"),
                )),
                Verdict::Fails { why, instance } => {
                    file_wrong = true;
                    wrong.push(format!(
                        "rule {} ({file}) does not hold: {why}\n  instance:\n    {}",
                        r.name(),
                        instance.trim_end().replace('\n', "\n    ")
                    ));
                }
            }
        }
        // Only a file with no wrong rule is remembered: a wrong one is refused every time, and
        // its user is about to change it anyway.
        if let (false, Some(k)) = (file_wrong, &key) {
            store(k, text, &found);
        }
        unchecked.extend(found.0.into_iter().map(|(r, why)| (r, file.clone(), why)));
    }
    let unknown: Vec<&String> = allowed
        .iter()
        .filter(|a| !user_rules.contains(*a))
        .collect();
    if !unknown.is_empty() {
        wrong.push(format!(
            "--allow-unchecked names no rule of the --rules files: {}",
            unknown
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for (rule, file, why) in &unchecked {
        if allowed.contains(rule) {
            eprintln!("warning: rule {rule} ({file}) is applied unchecked ({why})");
        } else {
            wrong.push(format!(
                "rule {rule} ({file}) could not be checked ({why}): it is refused unless `--allow-unchecked {rule}` vouches for it"
            ));
        }
    }
    if wrong.is_empty() {
        return Ok(());
    }
    Err(Error::msg(format!(
        "{}\n(`qcc rules check FILE` shows every rule's verdict)",
        wrong.join("\n")
    )))
}

/// Where checked files are remembered: `$QCC_CACHE_DIR`, else `$XDG_CACHE_HOME/qcc`, else
/// `$HOME/.cache/qcc`; with none of them set, nothing is cached.
fn cache_dir() -> Option<PathBuf> {
    let var = |v: &str| {
        std::env::var_os(v)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    };
    var("QCC_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("qcc")))
        .or_else(|| var("HOME").map(|d| d.join(".cache/qcc")))
        .map(|d| d.join("rules-checked"))
}

/// The checker that gave a verdict: this executable (a rebuilt qcc may check differently) and the
/// instance count and seed.
fn checker_identity() -> String {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::metadata(&p).ok().map(|m| (p, m)))
        .map(|(p, m)| {
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{} {} {modified}", p.display(), m.len())
        })
        .unwrap_or_default();
    format!(
        "qcc {} ({exe}), {CHECK_INSTANCES} instances, seed {CHECK_SEED}",
        env!("CARGO_PKG_VERSION")
    )
}

/// The cache file of a rule file's text. The hash only names the file: an entry is used only
/// when the text and the checker stored in it are equal to this ones, so a collision costs a
/// check, never a wrong verdict.
fn cache_key(text: &str) -> Option<PathBuf> {
    let dir = cache_dir()?;
    Some(dir.join(format!("{:016x}.json", fnv1a(text.as_bytes()))))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn cached(path: &Path, text: &str) -> Option<Unchecked> {
    let entry: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    if entry["text"].as_str()? != text || entry["checker"].as_str()? != checker_identity() {
        return None;
    }
    let list = entry["unchecked"].as_array()?;
    list.iter()
        .map(|u| {
            Some((
                u["rule"].as_str()?.to_string(),
                u["why"].as_str()?.to_string(),
            ))
        })
        .collect::<Option<Vec<_>>>()
        .map(Unchecked)
}

/// Writes an entry through a temporary file renamed into place, so a concurrent compile never
/// reads half of one. A cache that cannot be written only means checking again next time.
fn store(path: &Path, text: &str, found: &Unchecked) {
    let Some(dir) = path.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let entry = serde_json::json!({
        "checker": checker_identity(),
        "text": text,
        "unchecked": found.0.iter().map(|(r, why)| serde_json::json!({"rule": r, "why": why})).collect::<Vec<_>>(),
    });
    if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) {
        use std::io::Write as _;
        if tmp.write_all(entry.to_string().as_bytes()).is_ok() {
            let _ = tmp.persist(path);
        }
    }
}
