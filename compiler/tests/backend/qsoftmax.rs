//! The qsoftmax kernel on random shapes, axes (contiguous runs and strided ones, channels-last at
//! rank 4), row lengths (short rows unrolled whole, long ones in blocks, the vector maximum and
//! its tail), u8 and i8 codes in and out, and result scales down to the smallest allowed: each
//! library bit-exact with the interpreter on x86-64-v2, x86-64-v3 and native, every thread count
//! and a pool.

use super::support::{assert_exact, build};
use ndarray::ArrayD;
use proptest::prelude::*;
use qcc::diag::Source;
use qcc::ir::Model;
use runtime::qops::{qsoftmax_table, QSOFTMAX_MIN_SCALE, QSOFTMAX_ONE};
use runtime::Tensor;

fn parse(text: &str) -> Model {
    let source = Source {
        name: "qsoftmax.ir".into(),
        text: text.to_string(),
    };
    let m = qcc::ir::parse::parse(&source).unwrap_or_else(|e| panic!("{e}\n{text}"));
    qcc::ir::verify::verify_or_error(&m, Some(&source)).unwrap_or_else(|e| panic!("{e}\n{text}"));
    m
}

/// Values in [-4, 4), from `seed`, with runs of equal values (ties at the maximum).
fn values(shape: &[usize], seed: u64) -> ArrayD<f32> {
    super::support::stepped_values(shape, seed, 32)
}

/// A shape of rank 1 to 4 and an axis whose length is short, a few vectors long, or long.
fn shape_axis() -> impl Strategy<Value = (Vec<usize>, usize)> {
    (
        prop::collection::vec(1..=5usize, 1..=4),
        any::<prop::sample::Index>(),
        prop_oneof![
            Just(0usize),
            1..=20usize,
            14..=50usize,
            Just(16),
            100..=300usize
        ],
    )
        .prop_map(|(mut s, a, n)| {
            let a = a.index(s.len());
            if n > 0 {
                s[a] = n;
            }
            (s, a)
        })
}

/// A code type: (storage, scale, zero point).
fn codes(scales: &'static [f32]) -> impl Strategy<Value = (&'static str, f32, i32)> {
    (
        prop_oneof![Just("u8"), Just("i8")],
        prop::sample::select(scales),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(d, s, z)| {
            let zs: &[i32] = if d == "u8" {
                &[0, 3, 128, 255]
            } else {
                &[-128, -5, 0, 127]
            };
            (d, s, zs[z.index(zs.len())])
        })
}

fn tensor(shape: &[usize], elem: &str) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("tensor<{}x{elem}>", dims.join("x"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn qsoftmax_matches_the_interpreter(
        (shape, axis) in shape_axis(),
        (xd, sx, zx) in codes(&[0.0625, 0.02, 0.25, 1.5]),
        (yd, sy, zy) in codes(&[0.00390625, 0.003921569, 0.0001, 0.05, 0.9, QSOFTMAX_MIN_SCALE]),
        random_table in prop::collection::vec(0..=QSOFTMAX_ONE, 255),
        use_random in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let table: Vec<u32> = if use_random {
            std::iter::once(QSOFTMAX_ONE).chain(random_table).collect()
        } else {
            qsoftmax_table(sx)
        };
        let table: Vec<String> = table.iter().map(|t| t.to_string()).collect();
        let text = format!(
            "model @qsm {{\n  %x = input : {f}\n  %q = quantize(%x) : {xq}\n  %s = qsoftmax(%q) {{axis = {axis}, table = [{t}]}} : {yq}\n  %y = dequantize(%s) : {f}\n  return %y\n}}\n",
            f = tensor(&shape, "f32"),
            xq = tensor(&shape, &format!("!quant<{xd}, {sx:?}, {zx}>")),
            yq = tensor(&shape, &format!("!quant<{yd}, {sy:?}, {zy}>")),
            t = table.join(", "),
        );
        let model = parse(&text);
        let x = vec![Tensor::F32(values(&shape, seed))];
        for target in ["x86-64-v2", "x86-64-v3", "native"] {
            let lib = build(&model, target);
            assert_exact(&format!("{target}\n{text}"), &model, &lib, &x);
        }
    }
}
