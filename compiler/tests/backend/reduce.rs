//! The float `reduce` kernel (every function, several axis sets, with and without keepdims, on
//! ordinary values and on rows holding one zero, infinity or NaN each), the float max/min
//! (broadcasting, a NaN operand) and `normalize` (centred or not, several axes and epsilons)
//! equal the interpreter bit for bit on every tier; max, min and reduce max/min between integer
//! layers run on codes.

use super::support::{assert_exact, build};
use qcc::diag::Source;
use runtime::ops::ReduceFn;
use runtime::Tensor;

fn ty(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| format!("{d}x")).collect();
    format!("tensor<{}f32>", dims.concat())
}

#[test]
fn every_reduction_and_max_min_match_the_interpreter_bit_for_bit() {
    let xs = [2usize, 3, 4, 5];
    let axis_sets: [&[usize]; 4] = [&[1], &[0, 2], &[3], &[0, 1, 2, 3]];
    let mut body = String::new();
    let mut outs = vec![];
    for (i, (f, name)) in ReduceFn::ALL.iter().enumerate() {
        for (j, axes) in axis_sets.iter().enumerate() {
            let keep = (i + j) % 2 == 0;
            let shape: Vec<usize> = (0..4)
                .filter_map(|a| match (axes.contains(&a), keep) {
                    (true, true) => Some(1),
                    (true, false) => None,
                    (false, _) => Some(xs[a]),
                })
                .collect();
            // log_sum needs positive sums: it reads |x| + 0.5.
            let src = if *f == ReduceFn::LogSum { "%pos" } else { "%x" };
            body += &format!(
                "  %r{i}_{j} = reduce({src}) {{fn = \"{name}\", axes = {axes:?}, keepdims = {keep}}} : {}\n",
                ty(&shape)
            );
            outs.push(format!("%r{i}_{j}"));
        }
        body += &format!(
            "  %s{i} = reduce(%special) {{fn = \"{name}\", axes = [1], keepdims = false}} : tensor<7xf32>\n"
        );
        outs.push(format!("%s{i}"));
    }
    body +=
        "  %mx = max(%x, %b) : tensor<2x3x4x5xf32>\n  %mn = min(%b, %x) : tensor<2x3x4x5xf32>\n";
    body += "  %n0 = normalize(%x) {axis = 1} : tensor<2x3x4x5xf32>\n";
    body += "  %n1 = normalize(%x) {axis = 3, epsilon = 0.0, rms = true} : tensor<2x3x4x5xf32>\n";
    body += "  %n2 = normalize(%special) {axis = 1, epsilon = 0.001} : tensor<7x4xf32>\n";
    outs.extend(["%mx", "%mn", "%n0", "%n1", "%n2"].map(String::from));
    let text = format!(
        "model @reduce {{\n  weight @half : tensor<1xf32> = dense<[0.5]>\n  %x = input : tensor<2x3x4x5xf32>\n  %b = input : tensor<3x1x5xf32>\n  %special = input : tensor<7x4xf32>\n  %abs = unary(%x) {{fn = \"abs\"}} : tensor<2x3x4x5xf32>\n  %pos = add(%abs, @half) : tensor<2x3x4x5xf32>\n{body}  return {}\n}}\n",
        outs.join(", ")
    );
    let model = qcc::ir::parse::parse(&Source {
        name: "reduce.ir".into(),
        text: text.clone(),
    })
    .unwrap_or_else(|e| panic!("the model parses: {e:?}\n{text}"));
    let x: Vec<f32> = (0..120)
        .map(|i| match i {
            7 => 0.0,
            8 => -0.0,
            _ => ((i * 37 % 120) as f32 - 60.0) * 0.0731,
        })
        .collect();
    let mut b: Vec<f32> = (0..15).map(|i| (i as f32 - 7.0) * 0.21).collect();
    b[4] = f32::NAN;
    let special = vec![
        1.0,
        f32::NAN,
        2.0,
        3.0,
        f32::INFINITY,
        1.0,
        2.0,
        3.0,
        f32::NEG_INFINITY,
        1.0,
        2.0,
        3.0,
        0.0,
        -0.0,
        0.0,
        -0.0,
        -1.0,
        -2.0,
        1.0,
        5.0,
        1e30,
        1e30,
        -1e30,
        2.0,
        88.0,
        90.0,
        -100.0,
        89.5,
    ];
    let t = |shape: Vec<usize>, v: Vec<f32>| {
        Tensor::F32(ndarray::ArrayD::from_shape_vec(shape, v).expect("sizes match"))
    };
    let inputs = [
        t(xs.to_vec(), x),
        t(vec![3, 1, 5], b),
        t(vec![7, 4], special),
    ];
    for target in ["x86-64-v2", "x86-64-v3", "native"] {
        let lib = build(&model, target);
        assert_exact(&format!("reduce ({target})"), &model, &lib, &inputs);
    }
}

/// Max, min and reduce max between integer layers compute on codes (nothing but the final
/// `normalize` is left in float), and the library equals the integer interpreter on every tier.
#[test]
fn max_min_and_reduce_max_run_on_codes_and_normalize_stays_float() {
    let w = |n: usize, seed: usize| -> String {
        let v: Vec<String> = (0..n)
            .map(|i| format!("{:?}", (((i * 7 + seed * 13) % 17) as f32 - 8.0) * 0.11))
            .collect();
        v.join(", ")
    };
    let text = format!(
        "model @mixed {{
  weight @w1 : tensor<4x3x1x1xf32> = dense<[{}]>
  weight @w2 : tensor<4x3x1x1xf32> = dense<[{}]>
  weight @w3 : tensor<4x4x1x1xf32> = dense<[{}]>
  %x = input : tensor<1x3x6x6xf32>
  %a = conv2d(%x, @w1) : tensor<1x4x6x6xf32>
  %b = conv2d(%x, @w2) : tensor<1x4x6x6xf32>
  %m = max(%a, %b) : tensor<1x4x6x6xf32>
  %n = min(%a, %b) : tensor<1x4x6x6xf32>
  %s = add(%m, %n) : tensor<1x4x6x6xf32>
  %r = reduce(%s) {{fn = \"max\", axes = [3], keepdims = true}} : tensor<1x4x6x1xf32>
  %q = reduce(%s) {{fn = \"min\", axes = [1], keepdims = true}} : tensor<1x1x6x6xf32>
  %c = conv2d(%r, @w3) : tensor<1x4x6x1xf32>
  %y = normalize(%c) {{axis = 1}} : tensor<1x4x6x1xf32>
  %z = relu(%q) : tensor<1x1x6x6xf32>
  return %y, %z
}}
",
        w(12, 1),
        w(12, 2),
        w(16, 3)
    );
    let float = qcc::ir::parse::parse(&Source {
        name: "mixed.ir".into(),
        text: text.clone(),
    })
    .unwrap_or_else(|e| panic!("the model parses: {e:?}\n{text}"));
    let sample = |seed: usize, n: usize| {
        let v: Vec<f32> = (0..n * 108)
            .map(|i| (((i * 31 + seed * 17) % 41) as f32 - 20.0) * 0.09)
            .collect();
        ndarray::ArrayD::from_shape_vec(vec![n, 3, 6, 6], v).expect("sizes match")
    };
    let int = super::support::integer(&float, &[sample(1, 4)], qcc::quant::WeightBits::Eight);
    let left = super::support::float_arithmetic(&int);
    assert!(
        left.iter().all(|o| o.ends_with("= normalize")) && !left.is_empty(),
        "left in float: {left:?}\n{}",
        qcc::ir::print::print(&int)
    );
    let x = Tensor::F32(sample(5, 1));
    for target in ["x86-64-v2", "x86-64-v3", "native"] {
        let lib = build(&int, target);
        assert_exact(
            &format!("mixed ({target})"),
            &int,
            &lib,
            std::slice::from_ref(&x),
        );
    }
}
