//! The compiler's rule loader (parse, check against the op table, compile to egg rewrites) and
//! the rule checker on mutated copies of the built-in `rules/*.rules`: byte edits, deleted or
//! duplicated lines and spliced tokens. Loading may fail, never panic; whatever loads is
//! checked on a few random instances.

use super::bounded_alloc::{cases, largest_allocation};
use proptest::prelude::*;
use qcc::rules::check::check_rule;
use qcc::rules::ruleset::BUILTIN;
use qcc::rules::RuleSet;

const TOKENS: &[&str] = &[
    "rule ",
    "=>",
    "where ",
    "let ",
    "if ",
    "(",
    ")",
    "[",
    "]",
    ",",
    "?x",
    "?w",
    "0",
    "-1",
    "1e39",
    "nan",
    "relu",
    "conv2d",
    "quantize",
    "dequantize",
    "qconv2d",
    "/// ",
    "\n",
    " ",
    "{",
    "}",
    "tol ",
    "shape(",
    "len(",
    "==",
    "&&",
    "é",
    "\u{0}",
];

#[derive(Clone, Debug)]
enum Edit {
    Flip { at: usize, bit: u8 },
    DeleteLine { at: usize },
    DuplicateLine { at: usize },
    Insert { at: usize, token: usize },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 0u8..7).prop_map(|(at, bit)| Edit::Flip { at, bit }),
        any::<usize>().prop_map(|at| Edit::DeleteLine { at }),
        any::<usize>().prop_map(|at| Edit::DuplicateLine { at }),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, token)| Edit::Insert { at, token }),
    ]
}

fn apply(text: &str, e: &Edit) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut bytes = text.as_bytes().to_vec();
    match *e {
        // ASCII bits only (bit < 7 on ASCII bytes), so the text stays UTF-8.
        Edit::Flip { at, bit } => {
            let i = at % bytes.len().max(1);
            if bytes.get(i).is_some_and(u8::is_ascii) {
                bytes[i] ^= 1 << bit;
                if bytes[i] == 0x7f || !bytes[i].is_ascii() {
                    bytes[i] = b'?';
                }
            }
            return String::from_utf8(bytes).unwrap_or_else(|_| text.to_string());
        }
        Edit::DeleteLine { at } if !lines.is_empty() => {
            lines.remove(at % lines.len());
        }
        Edit::DuplicateLine { at } if !lines.is_empty() => {
            let l = lines[at % lines.len()].clone();
            lines.insert(at % lines.len(), l);
        }
        Edit::Insert { at, token } => {
            let mut i = at % (text.len() + 1);
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            return format!("{}{}{}", &text[..i], TOKENS[token], &text[i..]);
        }
        _ => {}
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_builtin_rules_load_or_fail_cleanly(which in 0..BUILTIN.len(), edits in prop::collection::vec(edit(), 1..5)) {
        let (name, text) = BUILTIN[which];
        let text = edits.iter().fold(text.to_string(), |t, e| apply(&t, e));
        let (r, largest) = largest_allocation(|| {
            match RuleSet::load(&[(name.to_string(), text.clone())]) {
                Err(e) => Err(e.to_string()),
                Ok(set) => {
                    // A few instances of a few rules: enough to run each code path of the checker.
                    for r in set.rules.iter().take(4) {
                        let _ = check_rule(r, 2, 1);
                    }
                    Ok(())
                }
            }
        });
        prop_assert!(largest <= 256 << 20, "loading {} bytes of rules allocated {largest} at once", text.len());
        if let Err(e) = r {
            prop_assert!(e.starts_with("error"), "{e}");
            prop_assert!(!e.starts_with("error: error:"), "{e}");
        }
    }
}
