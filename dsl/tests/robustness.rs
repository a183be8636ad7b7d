//! Hostile input never panics: arbitrary text, token soup and mutated valid files go through
//! parse, check, render and print, and whatever parses prints to a fixed point that checks the
//! same way.

mod common;

use common::TestVocab;
use proptest::prelude::*;

/// `QCC_FUZZ_CASES` when set (scripts/fuzz.sh's long runs), else the CI default.
fn cases(default: u32) -> u32 {
    std::env::var("QCC_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Everything a user can do with a text, none of which may panic.
fn exercise(text: &str) {
    let file = match dsl::parse("fuzz.rules", text) {
        Ok(file) => file,
        Err(d) => {
            assert!(!d.is_empty(), "a failed parse says why");
            assert!(d.render().starts_with("error: "));
            return;
        }
    };
    let messages = |f: &dsl::ast::RuleFile| -> Vec<String> {
        let mut m: Vec<String> = match dsl::check(f, &TestVocab) {
            Ok(()) => vec![],
            Err(d) => {
                assert!(d.render().starts_with("error: "));
                d.iter().map(|x| x.message.clone()).collect()
            }
        };
        m.sort();
        m
    };
    let printed = dsl::print(&file);
    let again = dsl::parse("fuzz.rules", &printed)
        .unwrap_or_else(|d| panic!("printed text does not parse:\n{printed}\n{}", d.render()));
    assert_eq!(dsl::print(&again), printed, "printing is not a fixed point");
    assert_eq!(
        messages(&again),
        messages(&file),
        "printing changed what the checker says"
    );
}

fn fixtures() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ok");
    let mut texts: Vec<String> = std::fs::read_dir(dir)
        .expect("fixtures")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("fixture text"))
        .collect();
    texts.sort();
    texts
}

const TOKENS: &[&str] = &[
    "rule",
    "match",
    "where",
    "let",
    "=>",
    "tolerance",
    "rel",
    "lsb",
    "exact",
    "1e-5",
    "1",
    "0.5",
    "-",
    "+",
    "*",
    "/",
    "==",
    "!=",
    "<",
    "<=",
    "&&",
    "||",
    "!",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "=",
    "_",
    "x",
    "w",
    "conv",
    "conv2d",
    "relu",
    "batch_norm",
    "quantize",
    "dequantize",
    "requantize",
    "sqrt",
    "const",
    "single_use",
    "shape",
    "scale",
    "type",
    "quant",
    "u8",
    "f32",
    "axis",
    "/// doc",
    "// c",
    "\n",
    "fold-bn",
    "pads",
    "epsilon",
    "true",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..80).prop_map(|t| t.join(" "))
}

/// An edit at a relative position of a text.
#[derive(Clone, Debug)]
enum Edit {
    Delete(f64, usize),
    Insert(f64, &'static str),
    Duplicate(f64, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0.0..1.0f64, 1..12usize).prop_map(|(p, n)| Edit::Delete(p, n)),
        (0.0..1.0f64, prop::sample::select(TOKENS)).prop_map(|(p, t)| Edit::Insert(p, t)),
        (0.0..1.0f64, 1..40usize).prop_map(|(p, n)| Edit::Duplicate(p, n)),
    ]
}

fn mutate(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        let at = |p: f64, len: usize| ((p * len as f64) as usize).min(len);
        match e {
            Edit::Delete(p, n) => {
                let i = at(*p, chars.len());
                chars.drain(i..(i + n).min(chars.len()));
            }
            Edit::Insert(p, t) => {
                let i = at(*p, chars.len());
                chars.splice(i..i, t.chars());
            }
            Edit::Duplicate(p, n) => {
                let i = at(*p, chars.len());
                let piece: Vec<char> = chars[i..(i + n).min(chars.len())].to_vec();
                chars.splice(i..i, piece);
            }
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(512), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        exercise(&text);
    }

    #[test]
    fn token_soup_never_panics(text in token_soup()) {
        exercise(&text);
    }

    #[test]
    fn mutated_rules_never_panic(which in 0..64usize, edits in prop::collection::vec(edit(), 1..6)) {
        let texts = fixtures();
        exercise(&mutate(&texts[which % texts.len()], &edits));
    }
}

#[test]
fn valid_fixtures_survive_the_exercise() {
    for text in fixtures() {
        exercise(&text);
    }
}

#[test]
fn nesting_up_to_the_limit_parses_and_beyond_it_is_an_error() {
    let rule = |pattern: String| format!("/// deep\nrule deep {{\n  match {pattern}\n  => x\n}}\n");
    // The rule body's `{` is one level: the pattern may take the rest.
    let depth = dsl::MAX_NESTING - 1;
    let ok = rule(format!("{}x{}", "relu(".repeat(depth), ")".repeat(depth)));
    let file = dsl::parse_and_check("deep.rules", &ok, &TestVocab)
        .unwrap_or_else(|d| panic!("{}", d.render()));
    assert_eq!(dsl::print(&file), ok);
    let too_deep = rule(format!(
        "{}x{}",
        "relu(".repeat(depth + 1),
        ")".repeat(depth + 1)
    ));
    let err = dsl::parse("deep.rules", &too_deep).expect_err("one level too deep");
    assert!(
        err.render().contains("nested more than"),
        "{}",
        err.render()
    );
}

#[test]
fn long_operator_chains_are_refused_without_overflowing_the_stack() {
    for guard in [
        "1 + ".repeat(100_000) + "1",
        "-".repeat(100_000) + "1",
        "!".repeat(100_000) + "true",
    ] {
        let text =
            format!("/// long\nrule long {{\n  match relu(x)\n  where {guard}\n  => x\n}}\n");
        let err = dsl::parse("long.rules", &text).expect_err("too deep an expression");
        assert!(
            err.render().contains("expression nested more than"),
            "{}",
            err.render()
        );
    }
    let fine = "1 + ".repeat(dsl::MAX_EXPR_DEPTH - 1) + "1";
    let text =
        format!("/// long\nrule long {{\n  match relu(x)\n  where {fine} == 1\n  => x\n}}\n");
    exercise(&text);
}
