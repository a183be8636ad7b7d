//! Scale (issue 15, finding 3; issue 13, "Scale"): the passes are linear or n·log n in the
//! model's size. Tests count work rather than time it: extraction's sweeps and merged classes
//! for n and 2n ops, the "did you mean" searches' budget; and a 20,000-op chain goes through
//! the whole pipeline into a library that matches the interpreter. `scripts/bench_scale.sh`
//! prints the times and memory.

use super::support::{assert_exact, build, integer};
use qcc::diag::Source;
use qcc::egraph::convert::to_egraph;
use qcc::egraph::extract::{extract_counting, Work};
use qcc::ir::Model;
use qcc::quant::WeightBits;
use runtime::Tensor;
use std::fmt::Write;

/// `n` relus in a row.
fn relu_chain(n: usize) -> String {
    let mut t = String::from("model @chain {\n  %v0 = input : tensor<1x16xf32>\n");
    for i in 1..=n {
        let _ = writeln!(t, "  %v{i} = relu(%v{}) : tensor<1x16xf32>", i - 1);
    }
    let _ = writeln!(t, "  return %v{n}\n}}");
    t
}

/// `n` diamonds: each value feeds a relu and a sigmoid whose sum is the next value, so every
/// add joins two branches that share everything below them.
fn diamond_chain(n: usize) -> String {
    let mut t = String::from("model @diamonds {\n  %d0 = input : tensor<1x16xf32>\n");
    for i in 1..=n {
        let p = i - 1;
        let _ = writeln!(t, "  %r{i} = relu(%d{p}) : tensor<1x16xf32>");
        let _ = writeln!(t, "  %s{i} = sigmoid(%d{p}) : tensor<1x16xf32>");
        let _ = writeln!(t, "  %d{i} = add(%r{i}, %s{i}) : tensor<1x16xf32>");
    }
    let _ = writeln!(t, "  return %d{n}\n}}");
    t
}

fn parse(text: String) -> Result<Model, qcc::Error> {
    qcc::ir::parse::parse(&Source {
        name: "scale.ir".into(),
        text,
    })
}

fn extraction_work(text: String) -> Work {
    let model = parse(text).expect("parses");
    let loaded = to_egraph(&model).expect("loads");
    let (choice, work) = extract_counting(&loaded.egraph, &loaded.roots);
    assert!(choice.is_some(), "every class has a choice");
    work
}

/// Doubling the model doubles extraction's work, at most: the same number of sweeps, and twice
/// the classes merged into sub-DAG maps. (Copying a child's map per class, as extraction once
/// did, merges n²/2 classes: 5.7 GB for 20,000 relus.)
#[test]
fn extraction_work_is_linear() {
    for (what, make) in [
        ("relu chain", relu_chain as fn(usize) -> String),
        ("diamond chain", diamond_chain),
    ] {
        let (small, large) = (extraction_work(make(2000)), extraction_work(make(4000)));
        assert_eq!(
            small.passes, large.passes,
            "{what}: sweeps {small:?} {large:?}"
        );
        assert!(
            large.merged <= 2 * small.merged + 16,
            "{what}: classes merged grow faster than the model: {small:?} → {large:?}"
        );
    }
    // A chain shares each child's map whole; each diamond walks only its own short branch.
    assert!(extraction_work(relu_chain(4000)).merged <= 4);
    assert!(extraction_work(diamond_chain(4000)).merged <= 3 * 4000);
}

/// Thousands of undefined names among thousands of defined ones: every one is reported, the
/// first with the closest name, and the search stops suggesting once it has compared about a
/// million names (the search per name made 8,000 of each take 19 s).
#[test]
fn many_undefined_names_are_reported_within_a_budget() {
    let n = 3000;
    let mut t = String::from("model @typos {\n  %v0 = input : tensor<1x4xf32>\n");
    for i in 1..=n {
        let _ = writeln!(t, "  %v{i} = relu(%v{}) : tensor<1x4xf32>", i - 1);
    }
    for i in 1..=n {
        let _ = writeln!(t, "  %w{i} = relu(%u{i}) : tensor<1x4xf32>");
    }
    let _ = writeln!(t, "  return %v{n}\n}}");
    let err = parse(t)
        .expect_err("undefined names are errors")
        .to_string();
    assert_eq!(
        err.matches("undefined value %u").count(),
        n,
        "{}",
        &err[..2000]
    );
    let first = err
        .find("undefined value %u1\n")
        .expect("the first is reported");
    assert!(
        err[first..]
            .lines()
            .take(8)
            .any(|l| l.contains("did you mean")),
        "{}",
        &err[first..first + 600]
    );
    let suggested = err.matches("did you mean").count();
    assert!(
        (100..n).contains(&suggested),
        "{suggested} of {n} undefined names got a suggestion"
    );
}

/// A 20,000-op chain compiles through every stage into a library, which computes what the
/// integer interpreter computes.
#[test]
fn twenty_thousand_ops_compile_to_a_library() {
    let float = parse(relu_chain(20_000)).expect("parses");
    let x = ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&[1, 16]), |i| i[1] as f32 / 4.0 - 2.0);
    let int = integer(&float, std::slice::from_ref(&x), WeightBits::Eight);
    assert!(
        int.ops_in_order().len() >= 20_000,
        "the chain stays a chain"
    );
    let lib = build(&int, "native");
    assert_exact("relu chain", &int, &lib, &[Tensor::F32(x)]);
}
