//! Text round trips. `tests/ir/ok/*.ir` are canonical (but for full-line comments): printing
//! what was parsed gives the text back, and that text parses to an equal model.
//! `tests/ir/loose/*.ir` are valid but not canonical: their canonical form is a snapshot. Any
//! number the printer may meet reads back exactly (a property test).

use super::support::{dump, fixtures, snapshot_settings, source, without_comment_lines};
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use qcc::diag::Source;
use qcc::ir::parse::parse;
use qcc::ir::print::print;
use qcc::ir::verify::verify;
use qcc::ir::{schemas, Attr, ElemType, Model, NodeKind, Op, OpKind, TensorType, WeightData};
use runtime::{DType, Tensor};
use std::collections::BTreeSet;
use std::sync::Arc;

fn parse_ok(dir: &str, stem: &str, text: &str) -> Model {
    match parse(&source(dir, stem, text)) {
        Ok(m) => m,
        Err(e) => panic!("{stem} does not parse:\n{e}"),
    }
}

/// One canonical fixture: print ∘ parse is the identity on its text, parse ∘ print on its model;
/// every node has the span of its statement; the model verifies.
fn check_canonical(stem: &str, text: &str) -> Model {
    let model = parse_ok("ok", stem, text);
    let printed = print(&model);
    assert_eq!(
        printed,
        without_comment_lines(text),
        "{stem}: printing changed the text"
    );
    let again = parse_ok("ok", stem, &printed);
    assert_eq!(
        dump(&again),
        dump(&model),
        "{stem}: the printed text parses to another model"
    );
    for n in model.graph.node_weights() {
        let span = n
            .span
            .unwrap_or_else(|| panic!("{stem}: {} has no span", n.name));
        let stmt = &text[span.start..span.end];
        assert!(
            stmt.contains(&n.name) && !stmt.contains('\n'),
            "{stem}: span of {} is {stmt:?}",
            n.name
        );
    }
    let problems = verify(&model);
    assert!(problems.is_empty(), "{stem} does not verify: {problems:?}");
    model
}

#[test]
fn canonical_fixtures_round_trip() {
    let mut ops = BTreeSet::new();
    for (stem, text) in fixtures("ok") {
        let model = check_canonical(&stem, &text);
        ops.extend(
            model
                .graph
                .node_weights()
                .filter_map(|n| n.op())
                .map(|op| op.kind.name()),
        );
    }
    let missing: Vec<&str> = schemas()
        .iter()
        .map(|s| s.name)
        .filter(|n| !ops.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "ops without a canonical fixture: {missing:?}"
    );
}

/// One loose fixture: its canonical form (a snapshot) is canonical indeed.
fn check_loose(stem: &str, text: &str) {
    let model = parse_ok("loose", stem, text);
    let printed = print(&model);
    let again = parse_ok("loose", stem, &printed);
    assert_eq!(
        print(&again),
        printed,
        "{stem}: the canonical form is not stable"
    );
    assert_eq!(
        dump(&again),
        dump(&model),
        "{stem}: the canonical form is another model"
    );
    snapshot_settings("loose", stem)
        .bind(|| insta::assert_snapshot!(format!("ir_loose__{stem}"), printed));
}

#[test]
fn loose_fixtures_print_canonically() {
    for (stem, text) in fixtures("loose") {
        check_loose(&stem, &text);
    }
}

#[test]
fn inline_data_is_kept_exactly() {
    let (_, text) = fixtures("ok")
        .into_iter()
        .find(|(s, _)| s == "inline_weights")
        .expect("fixture");
    let model = parse_ok("ok", "inline_weights", &text);
    let floats = model
        .find("floats")
        .and_then(|id| model.node(id).weight().cloned())
        .expect("@floats");
    let bits: Vec<u32> = floats
        .as_f32()
        .expect("f32")
        .iter()
        .map(|v| v.to_bits())
        .collect();
    let want: Vec<u32> = [
        -0.0f32,
        1e-5,
        f32::MAX,
        f32::NEG_INFINITY,
        f32::INFINITY,
        f32::NAN,
        0.1,
        123456.79,
    ]
    .iter()
    .map(|v| v.to_bits())
    .collect();
    assert_eq!(bits, want);
    let signed = model
        .find("signed")
        .and_then(|id| model.node(id).weight().cloned())
        .expect("@signed");
    assert_eq!(signed.shape(), &[2, 1, 2]);
    assert_eq!(signed.to_f64_vec(), vec![-128.0, -1.0, 0.0, 127.0]);
    let external = model
        .graph
        .node_weights()
        .filter(|n| matches!(n.kind, NodeKind::Weight(WeightData::External)))
        .count();
    assert_eq!(external, 0);
}

/// The bits of an f32, with every NaN the same (the text has one `nan`).
fn bits(v: f32) -> u32 {
    if v.is_nan() {
        f32::NAN.to_bits()
    } else {
        v.to_bits()
    }
}

fn inline(t: Tensor) -> WeightData {
    WeightData::Inline(Arc::new(t))
}

proptest! {
    /// Any f32 (subnormals, extremes, signed zeros, infinities, NaN) and any integer of a storage
    /// type survives print and parse, in a dense literal and in an attribute.
    #[test]
    fn numbers_survive_print_and_parse(
        floats in prop::collection::vec(prop::num::f32::ANY | prop::num::f32::QUIET_NAN, 1..24),
        alpha in prop::num::f32::ANY,
        bytes in prop::collection::vec(any::<i8>(), 1..8),
        words in prop::collection::vec(any::<i32>(), 1..8),
    ) {
        let mut m = Model::new("numbers");
        let (n, nb, nw) = (floats.len(), bytes.len(), words.len());
        let w = m.add_weight("w", TensorType::f32(vec![n]), inline(Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[n]), floats.clone()).unwrap())));
        let i8_ty = TensorType::new(vec![nb], ElemType::from_storage(DType::I8));
        m.add_weight("b", i8_ty, inline(Tensor::I8(ArrayD::from_shape_vec(IxDyn(&[nb]), bytes.clone()).unwrap())));
        let i32_ty = TensorType::new(vec![nw], ElemType::from_storage(DType::I32));
        m.add_weight("i", i32_ty, inline(Tensor::I32(ArrayD::from_shape_vec(IxDyn(&[nw]), words.clone()).unwrap())));
        let x = m.add_input("x", TensorType::f32(vec![n]));
        let op = Op::new(OpKind::LeakyRelu, [("alpha".to_string(), Attr::Float(alpha))].into_iter().collect());
        let y = m.add_op("y", op, &[x], TensorType::f32(vec![n]));
        let s = m.add_op("s", Op::new(OpKind::Add, Default::default()), &[y, w], TensorType::f32(vec![n]));
        m.outputs.push(s);

        let text = print(&m);
        let back = parse(&Source { name: "numbers.ir".into(), text: text.clone() })
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(print(&back), text.clone());
        let weight = |name: &str| back.find(name).and_then(|id| back.node(id).weight().cloned()).expect("weight");
        let got: Vec<u32> = weight("w").as_f32().expect("f32").iter().map(|&v| bits(v)).collect();
        prop_assert_eq!(got, floats.iter().map(|&v| bits(v)).collect::<Vec<_>>());
        prop_assert_eq!(weight("b").to_le_bytes(), bytes.iter().map(|&v| v as u8).collect::<Vec<_>>());
        prop_assert_eq!(weight("i").to_le_bytes(), words.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>());
        let a = back.find("y").and_then(|id| back.node(id).op().and_then(|o| o.float("alpha"))).expect("alpha");
        prop_assert_eq!(bits(a), bits(alpha));
    }
}
