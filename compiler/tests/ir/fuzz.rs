//! Bad input never panics: arbitrary strings, fixtures mangled byte- and token-wise, and
//! mangled `.safetensors` files go through parse, print and load_weights. Whatever parses must
//! print to text that parses to the same print.

use super::support::{fixtures, safetensors_for, source};
use crate::bounded_alloc::{cases, largest_allocation};
use proptest::prelude::*;
use qcc::diag::Source;
use qcc::ir::parse::parse;
use qcc::ir::print::print;
use qcc::ir::weights::load_weights;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Pieces of IR (and of trouble) spliced into fixtures.
const TOKENS: &[&str] = &[
    "%x",
    "@w",
    "%",
    "@",
    "model",
    "weights",
    "weight",
    "input",
    "return",
    "dense<[",
    "]>",
    "tensor<",
    "1x3x",
    "0x",
    "xf32",
    "xi8",
    "!quant<",
    "u8, ",
    "axis 0, ",
    "[",
    "]",
    "{",
    "}",
    "(",
    ")",
    "<",
    ">",
    ",",
    ":",
    "=",
    "\"",
    "\\",
    "\\u{",
    "\\u{110000}",
    "//",
    "\n",
    " ",
    "0",
    "-1",
    "1.5",
    "1e99",
    "-1e-50",
    "99999999999999999999",
    "nan",
    "-inf",
    "relu",
    "conv2d",
    "concat",
    "max_pool",
    "quantize",
    "kernel_shape = [",
    "axis = ",
    "true",
    "é",
    "\u{0}",
    "\r\n",
];

#[derive(Clone, Debug)]
enum Mutation {
    Flip { at: usize, bit: u8 },
    Delete { at: usize, len: usize },
    Duplicate { at: usize, len: usize },
    Insert { at: usize, token: usize },
    SwapLines { a: usize, b: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        (any::<usize>(), 1usize..12).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, token)| Mutation::Insert { at, token }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let n = bytes.len().max(1);
    match *m {
        Mutation::Flip { at, bit } => {
            if let Some(b) = bytes.get_mut(at % n) {
                *b ^= 1 << bit;
            }
        }
        Mutation::Delete { at, len } => {
            let start = (at % n).min(bytes.len());
            let end = (start + len).min(bytes.len());
            bytes.drain(start..end);
        }
        Mutation::Duplicate { at, len } => {
            let start = (at % n).min(bytes.len());
            let end = (start + len).min(bytes.len());
            let piece = bytes[start..end].to_vec();
            bytes.splice(end..end, piece);
        }
        Mutation::Insert { at, token } => {
            let at = (at % n).min(bytes.len());
            bytes.splice(at..at, TOKENS[token].bytes());
        }
        Mutation::SwapLines { a, b } => {
            let mut lines: Vec<Vec<u8>> =
                bytes.split(|&c| c == b'\n').map(<[u8]>::to_vec).collect();
            let l = lines.len();
            lines.swap(a % l, b % l);
            *bytes = lines.join(&b'\n');
        }
    }
}

/// A directory holding the generated weights of every fixture (under each fixture's file name),
/// so that mangled fixtures that still parse also load.
fn weights_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ir-fuzz-weights");
        std::fs::create_dir_all(&dir).expect("temp dir");
        for (stem, text) in fixtures("ok") {
            let model = parse(&source("ok", &stem, &text)).expect("fixtures parse");
            if let Some(file) = &model.weights_file {
                std::fs::write(dir.join(file), safetensors_for(&model)).expect("write weights");
            }
        }
        dir
    })
}

/// The property: no panic anywhere; a model that parses prints to text that parses and prints
/// the same; errors render.
fn check_never_panics(text: &str) -> Result<(), TestCaseError> {
    let src = Source {
        name: "fuzz.ir".into(),
        text: text.to_string(),
    };
    match parse(&src) {
        Ok(mut model) => {
            let printed = print(&model);
            let again = parse(&Source {
                name: "printed.ir".into(),
                text: printed.clone(),
            });
            prop_assert!(
                again.is_ok(),
                "the print of a parsed model does not parse:\n{}\n{}",
                printed,
                again.err().map(|e| e.to_string()).unwrap_or_default()
            );
            if let Ok(again) = again {
                prop_assert_eq!(print(&again), printed);
            }
            if let Err(e) = load_weights(&mut model, &weights_dir().join("fuzz.ir")) {
                let _ = e.to_string();
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    Ok(())
}

/// Valid fixtures (canonical and loose) and error fixtures. A valid text with one or two
/// mutations still parses about a quarter of the time, which is what exercises the round trip.
fn fixture_texts(valid_only: bool) -> &'static [(String, String)] {
    static F: OnceLock<(Vec<(String, String)>, usize)> = OnceLock::new();
    let (all, valid) = F.get_or_init(|| {
        let mut all = fixtures("ok");
        all.extend(fixtures("loose"));
        let valid = all.len();
        all.extend(fixtures("err"));
        (all, valid)
    });
    if valid_only {
        &all[..*valid]
    } else {
        all
    }
}

fn mutated(texts: &[(String, String)], index: usize, mutations: &[Mutation]) -> String {
    let mut bytes = texts[index % texts.len()].1.clone().into_bytes();
    for m in mutations {
        apply(&mut bytes, m);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(400), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        check_never_panics(&text)?;
    }

    #[test]
    fn ir_alphabet_soup_never_panics(text in "[%@a-z0-9<>{}()\\[\\],:=. \n\"!x_\\\\-]{0,160}") {
        check_never_panics(&format!("model @m {{\n{text}\n}}"))?;
    }

    #[test]
    fn mutated_fixtures_never_panic(index in any::<usize>(), mutations in prop::collection::vec(mutation(), 1..6)) {
        check_never_panics(&mutated(fixture_texts(false), index, &mutations))?;
    }

    #[test]
    fn slightly_mutated_valid_fixtures_round_trip(index in any::<usize>(), mutations in prop::collection::vec(mutation(), 1..3)) {
        check_never_panics(&mutated(fixture_texts(true), index, &mutations))?;
    }

    #[test]
    fn mutated_weight_files_never_panic(mutations in prop::collection::vec(mutation(), 1..4)) {
        let (stem, text) = fixture_texts(true).iter().find(|(s, _)| s == "cnn").expect("fixture");
        let model = parse(&source("ok", stem, text)).expect("fixture parses");
        let mut bytes = safetensors_for(&model);
        for m in &mutations {
            apply(&mut bytes, m);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("cnn.safetensors"), &bytes).expect("write");
        let mut model = model;
        let (r, largest) = largest_allocation(|| load_weights(&mut model, &dir.path().join("cnn.ir")));
        prop_assert!(largest <= 16 * bytes.len() + (1 << 20), "{} bytes allocated {largest} at once", bytes.len());
        if let Err(e) = r {
            prop_assert!(e.to_string().starts_with("error"));
        }
    }

    /// Headers that lie about lengths: the 8-byte header length, a tensor's shape and its data
    /// offsets set to values far beyond the file, the same key twice.
    #[test]
    fn lying_safetensors_headers_are_refused_within_bounds(
        header_len in prop_oneof![Just(None), Just(Some(u64::MAX)), Just(Some(1u64 << 40)), (0u64..200).prop_map(Some)],
        dim in prop_oneof![Just(4u64), Just(1 << 31), Just(1 << 40), Just(u64::MAX)],
        end in prop_oneof![Just(16u64), Just(1 << 40), Just(u64::MAX)],
        twice in any::<bool>(),
    ) {
        let entry = format!(r#""k":{{"dtype":"F32","shape":[{dim}],"data_offsets":[0,{end}]}}"#);
        let header = if twice { format!("{{{entry},{entry}}}") } else { format!("{{{entry}}}") };
        let mut bytes = header_len.unwrap_or(header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header.as_bytes());
        bytes.extend([0u8; 16]);
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("w.safetensors"), &bytes).expect("write");
        let text = "model @w weights \"w.safetensors\" {\n  weight @k : tensor<4xf32>\n  %x = input : tensor<4xf32>\n  %y = add(%x, @k) : tensor<4xf32>\n  return %y\n}\n";
        let mut model = parse(&Source { name: "w.ir".into(), text: text.into() }).expect("parses");
        let (r, largest) = largest_allocation(|| load_weights(&mut model, &dir.path().join("w.ir")));
        prop_assert!(largest <= 16 * bytes.len() + (1 << 20), "{} bytes allocated {largest} at once", bytes.len());
        // A drawn header length may happen to be the true one (55 here).
        let honest = header_len.is_none_or(|n| n == header.len() as u64)
            && dim == 4
            && end == 16
            && !twice;
        prop_assert_eq!(r.is_ok(), honest, "{:?}", r.err().map(|e| e.to_string()));
    }
}
