//! The float `unary` kernel (a `unary` left outside a dequantize/quantize pair): every function
//! of the table, with its parameters, on ordinary values, zeros, ties, infinities and NaN, equals
//! the interpreter bit for bit on every tier.

use super::support::{assert_exact, build};
use qcc::diag::Source;
use runtime::ops::UNARY_FNS;
use runtime::Tensor;

#[test]
fn every_unary_function_matches_the_interpreter_bit_for_bit() {
    let mut x: Vec<f32> = vec![
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        0.5,
        -0.5,
        1.5,
        -2.5,
        1e-30,
        -1e-30,
        1e30,
        -1e30,
        88.0,
        -104.0,
        0.4,
    ];
    x.extend((0..240).map(|i| (i as f32 - 120.0) * 0.1037));
    let n = x.len();
    let mut body = String::new();
    let mut outs = vec![];
    for (i, d) in UNARY_FNS.iter().enumerate() {
        // Non-default parameters where there are any: the kernel must read them.
        let p: Vec<String> = d
            .params
            .iter()
            .map(|&(_, v)| format!("{:?}", if d.name == "pow" { 3.0 } else { v * 0.75 }))
            .collect();
        body += &format!(
            "  %y{i} = unary(%x) {{fn = \"{}\", params = [{}]}} : tensor<1x{n}xf32>\n",
            d.name,
            p.join(", ")
        );
        outs.push(format!("%y{i}"));
    }
    let text = format!(
        "model @unary {{\n  %x = input : tensor<1x{n}xf32>\n{body}  return {}\n}}\n",
        outs.join(", ")
    );
    let model = qcc::ir::parse::parse(&Source {
        name: "unary.ir".into(),
        text,
    })
    .expect("the model parses");
    let x = Tensor::F32(ndarray::ArrayD::from_shape_vec(vec![1, n], x).expect("n values"));
    for target in ["x86-64-v2", "x86-64-v3", "native"] {
        let lib = build(&model, target);
        assert_exact(
            &format!("unary ({target})"),
            &model,
            &lib,
            std::slice::from_ref(&x),
        );
    }
}
