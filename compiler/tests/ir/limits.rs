//! One truth about what is valid (issue 15, finding 7): every refusal of the integer
//! interpreter, walked one by one on the fixture that holds every integer op, is a refusal of
//! the verifier too, so no model passes `qcc check` (and compiles to a library) without a
//! reference to compare it with. Before, a requantize with shift 99 passed the verifier.

use super::support::snapshot_settings;
use qcc::diag::Source;
use qcc::ir::parse::parse;
use qcc::ir::verify::verify;
use runtime::Tensor;

const FIXTURE: &str = include_str!("../../../tests/ir/ok/integer.ir");

/// (what, text to find, its replacement): each makes one parameter one the kernels refuse.
const CASES: &[(&str, &str, &str)] = &[
    (
        "requantize shift 99",
        "shift = [1], lo = 0",
        "shift = [99], lo = 0",
    ),
    (
        "requantize shift -32",
        "shift = [1], lo = 0",
        "shift = [-32], lo = 0",
    ),
    (
        "requantize negative multiplier",
        "requantize(%c) {multiplier = [1073741824]",
        "requantize(%c) {multiplier = [-5]",
    ),
    (
        "requantize lo above hi",
        "shift = [1], lo = 0, hi = 255",
        "shift = [1], lo = 200, hi = 100",
    ),
    (
        "requantize hi beyond u8",
        "shift = [1], lo = 0, hi = 255",
        "shift = [1], lo = 0, hi = 300",
    ),
    (
        "requantize 3 multipliers for 2 channels",
        "requantize(%c) {multiplier = [1073741824], shift = [1]",
        "requantize(%c) {multiplier = [1, 1, 1], shift = [1, 1, 1]",
    ),
    (
        "requantize multipliers and shifts differ in number",
        "requantize(%c) {multiplier = [1073741824], shift = [1]",
        "requantize(%c) {multiplier = [1073741824], shift = [1, 1]",
    ),
    (
        "requantize shift beyond i32",
        "shift = [1], lo = 0",
        "shift = [4294967296], lo = 0",
    ),
    (
        "requantize result zero point beyond u8",
        "!quant<u8, 0.125, 3>>",
        "!quant<u8, 0.125, 300>>",
    ),
    ("qconv2d shift -50", "shift = [-4, -5]", "shift = [-4, -50]"),
    (
        "qconv2d 3 multipliers for 2 channels",
        "multiplier = [1073741824, 1073741824], shift = [-4, -5]",
        "multiplier = [1, 1, 1], shift = [-4, -5, -5]",
    ),
    (
        "qconv2d result stored as i8",
        "hi = 255} : tensor<1x2x4x4x!quant<u8, 0.25, 3>>\n  %r",
        "hi = 127} : tensor<1x2x4x4x!quant<i8, 0.25, 3>>\n  %r",
    ),
    ("qadd a_shift above 0", "a_shift = 0", "a_shift = 3"),
    (
        "qadd negative b_multiplier",
        "b_multiplier = 1073741824",
        "b_multiplier = -1",
    ),
    ("qadd shift -40", "shift = -18", "shift = -40"),
    (
        "qadd result quantized per axis",
        "shift = -18, lo = 0, hi = 255} : tensor<1x2x4x4x!quant<u8, 0.25, 3>>",
        "shift = -18, lo = 0, hi = 255} : tensor<1x2x4x4x!quant<u8, axis 1, [0.25, 0.25], [3, 3]>>",
    ),
    (
        "qmul per-channel multipliers",
        "qmul(%a, %r) {multiplier = [1073741824], shift = [0]",
        "qmul(%a, %r) {multiplier = [1, 1], shift = [0, 0]",
    ),
    (
        "qmul lo below u8",
        "shift = [0], lo = 0",
        "shift = [0], lo = -1",
    ),
    (
        "qgemm shift 31",
        "shift = [-2, -3, -1]",
        "shift = [-2, -3, 31]",
    ),
    (
        "qconv_transpose2d shift -33",
        "shift = [-3]",
        "shift = [-33]",
    ),
    ("lut of 255 entries", ", 254, 255]}", ", 254]}"),
    ("lut entry 256 for u8", ", 254, 255]}", ", 254, 256]}"),
    ("lut entry -1 for u8", "table = [0, 1,", "table = [-1, 1,"),
    (
        "qsoftmax table entry 0 below 2^16",
        "table = [65536, 51039,",
        "table = [65535, 51039,",
    ),
    (
        "qsoftmax table entry above 2^16",
        "table = [65536, 51039,",
        "table = [65536, 65537,",
    ),
    (
        "qsoftmax table of 257 entries",
        "table = [65536, 51039,",
        "table = [65536, 65536, 51039,",
    ),
    (
        "qsoftmax result scale below 2^-30",
        "!quant<u8, 0.00390625, 0>>",
        "!quant<u8, 1e-10, 0>>",
    ),
    (
        "qsoftmax result stored as i32",
        "!quant<u8, 0.00390625, 0>>",
        "!quant<i32, 0.00390625, 0>>",
    ),
];

fn input() -> Tensor {
    Tensor::F32(
        ndarray::Array::from_shape_fn(vec![1, 1, 4, 4], |i| (i[2] * 4 + i[3]) as f32 * 0.5 - 3.0)
            .into_dyn(),
    )
}

#[test]
fn the_fixture_is_valid_and_runs() {
    let m = parse(&Source {
        name: "integer.ir".into(),
        text: FIXTURE.into(),
    })
    .expect("parses");
    assert_eq!(verify(&m), vec![]);
    qcc::interp::run(&m, &[input()]).expect("runs");
}

#[test]
fn every_refusal_of_the_interpreter_is_one_of_the_verifier() {
    let mut report = String::new();
    for &(what, find, replace) in CASES {
        assert_eq!(
            FIXTURE.matches(find).count(),
            1,
            "{what}: `{find}` is not unique in the fixture"
        );
        let text = FIXTURE.replacen(find, replace, 1);
        let m = parse(&Source {
            name: "integer.ir".into(),
            text,
        });
        let m = match m {
            Ok(m) => m,
            // The parser itself refuses what it cannot hold (an integer beyond i64 would be one).
            Err(e) => {
                report.push_str(&format!(
                    "{what}\n  parser: {}\n",
                    e.to_string().lines().next().unwrap_or("")
                ));
                continue;
            }
        };
        let interp = qcc::interp::run(&m, &[input()])
            .expect_err(what)
            .to_string();
        let problems = verify(&m);
        assert!(
            !problems.is_empty(),
            "{what}: the interpreter refuses it ({interp}) but the verifier accepts it"
        );
        report.push_str(&format!(
            "{what}\n  interpreter: {interp}\n  verifier: {}\n",
            problems[0].message
        ));
    }
    snapshot_settings("ok", "integer")
        .bind(|| insta::assert_snapshot!("ir_limits_refusals", report));
}
