//! The importer never panics: valid fixtures with bytes flipped, inserted, deleted or cut off, and
//! with attribute values, dimensions and int64 constants replaced by extreme values, must import
//! or fail with an error, whatever happens.

#[path = "fuzz/bounded_alloc.rs"]
mod bounded_alloc;
#[path = "../../tests/onnx/build.rs"]
mod build;
#[path = "../../tests/onnx/fixtures.rs"]
mod fixtures;

use bounded_alloc::{cases, largest_allocation};
use onnx_protobuf::ModelProto;
use proptest::prelude::*;
use protobuf::Message;
use qcc::import::import_bytes;

#[global_allocator]
static ALLOC: bounded_alloc::Bounded = bounded_alloc::Bounded;

#[derive(Clone, Debug)]
enum ByteEdit {
    Flip { at: usize, bit: u8 },
    Set { at: usize, value: u8 },
    Insert { at: usize, value: u8 },
    Delete { at: usize },
    Truncate { at: usize },
}

fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| ByteEdit::Flip { at, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| ByteEdit::Set { at, value }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| ByteEdit::Insert { at, value }),
        any::<usize>().prop_map(|at| ByteEdit::Delete { at }),
        any::<usize>().prop_map(|at| ByteEdit::Truncate { at }),
    ]
}

fn apply(bytes: &mut Vec<u8>, e: &ByteEdit) {
    if bytes.is_empty() {
        return;
    }
    let n = bytes.len();
    match *e {
        ByteEdit::Flip { at, bit } => bytes[at % n] ^= 1 << bit,
        ByteEdit::Set { at, value } => bytes[at % n] = value,
        ByteEdit::Insert { at, value } => bytes.insert(at % (n + 1), value),
        ByteEdit::Delete { at } => {
            bytes.remove(at % n);
        }
        ByteEdit::Truncate { at } => bytes.truncate(at % n),
    }
}

/// Values that break naive size arithmetic.
const EXTREMES: &[i64] = &[
    i64::MIN,
    -(1 << 40),
    -3,
    -2,
    -1,
    0,
    1,
    2,
    3,
    7,
    1 << 31,
    1 << 40,
    i64::MAX,
];

#[derive(Clone, Debug)]
enum FieldEdit {
    /// Replace value `k` of integer attribute `a` of node `n` (indices taken modulo the counts).
    Attr {
        n: usize,
        a: usize,
        k: usize,
        v: i64,
    },
    /// Replace dimension `k` of initializer `t`.
    InitDim { t: usize, k: usize, v: i64 },
    /// Replace value `k` of an int64 initializer `t`.
    InitValue { t: usize, k: usize, v: i64 },
    /// Replace dimension `k` of graph input `i`.
    InputDim { i: usize, k: usize, v: i64 },
    /// Set the opset.
    Opset { v: i64 },
}

fn field_edit() -> impl Strategy<Value = FieldEdit> {
    let v = prop::sample::select(EXTREMES);
    prop_oneof![
        (any::<usize>(), any::<usize>(), any::<usize>(), v.clone())
            .prop_map(|(n, a, k, v)| FieldEdit::Attr { n, a, k, v }),
        (any::<usize>(), any::<usize>(), v.clone()).prop_map(|(t, k, v)| FieldEdit::InitDim {
            t,
            k,
            v
        }),
        (any::<usize>(), any::<usize>(), v.clone()).prop_map(|(t, k, v)| FieldEdit::InitValue {
            t,
            k,
            v
        }),
        (any::<usize>(), any::<usize>(), v).prop_map(|(i, k, v)| FieldEdit::InputDim { i, k, v }),
        (5i64..24).prop_map(|v| FieldEdit::Opset { v }),
    ]
}

fn edit(m: &mut ModelProto, e: &FieldEdit) {
    let set = |xs: &mut Vec<i64>, k: usize, v: i64| {
        if !xs.is_empty() {
            let n = xs.len();
            xs[k % n] = v;
        }
    };
    let g = m.graph.mut_or_insert_default();
    match *e {
        FieldEdit::Attr { n, a, k, v } if !g.node.is_empty() => {
            let len = g.node.len();
            let node = &mut g.node[n % len];
            if !node.attribute.is_empty() {
                let alen = node.attribute.len();
                let attr = &mut node.attribute[a % alen];
                attr.i = v;
                set(&mut attr.ints, k, v);
            }
        }
        FieldEdit::InitDim { t, k, v } if !g.initializer.is_empty() => {
            let len = g.initializer.len();
            set(&mut g.initializer[t % len].dims, k, v);
        }
        FieldEdit::InitValue { t, k, v } if !g.initializer.is_empty() => {
            let len = g.initializer.len();
            set(&mut g.initializer[t % len].int64_data, k, v);
        }
        FieldEdit::InputDim { i, k, v } if !g.input.is_empty() => {
            let len = g.input.len();
            let ty = g.input[i % len].type_.mut_or_insert_default();
            if let Some(onnx_protobuf::type_proto::Value::TensorType(t)) = ty.value.as_mut() {
                let dims = &mut t.shape.mut_or_insert_default().dim;
                if !dims.is_empty() {
                    let n = dims.len();
                    dims[k % n].set_dim_value(v);
                }
            }
        }
        FieldEdit::Opset { v } => {
            if let Some(o) = m.opset_import.first_mut() {
                o.version = v;
            }
        }
        _ => {}
    }
}

/// Imports `bytes`: no panic, no single allocation beyond a bound set by their length (a
/// dimension read from the file is checked before anything of that size is allocated) or, for
/// a constant the importer folds (a ConstantOfShape, a Range), by the fold's cap of
/// `MAX_FOLDED_ELEMENTS` int64s; and an error that renders.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let (r, largest) = largest_allocation(|| import_bytes(bytes, "fuzz.onnx"));
    prop_assert!(
        largest <= 64 * bytes.len() + 8 * qcc::import::MAX_FOLDED_ELEMENTS + (1 << 20),
        "importing {} bytes allocated {largest} at once",
        bytes.len()
    );
    if let Err(e) = r {
        prop_assert!(e.to_string().starts_with("error"), "{e}");
    }
    Ok(())
}

fn fixture() -> impl Strategy<Value = Vec<u8>> {
    (0..fixtures::MODELS.len()).prop_map(|i| (fixtures::MODELS[i].1)().bytes())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(3000), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn byte_mutations_never_panic(mut bytes in fixture(), edits in prop::collection::vec(byte_edit(), 1..6)) {
        for e in &edits {
            apply(&mut bytes, e);
        }
        check(&bytes)?;
    }

    #[test]
    fn extreme_values_never_panic(bytes in fixture(), edits in prop::collection::vec(field_edit(), 1..4)) {
        let mut m = ModelProto::parse_from_bytes(&bytes).expect("fixtures parse");
        for e in &edits {
            edit(&mut m, e);
        }
        let bytes = m.write_to_bytes().expect("serializes");
        check(&bytes)?;
    }
}
