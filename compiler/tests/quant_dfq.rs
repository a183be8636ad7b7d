//! The two DFQ passes against their definitions. Cross-layer equalization on random
//! conv → activation → conv (and conv → flatten → gemm) models whose channels differ in scale by
//! orders of magnitude: the float function is unchanged within f32 rounding, the activation is
//! crossed only when positively homogeneous (ReLU, leaky ReLU, but not ReLU6), and each equalized
//! channel ends with equal weight ranges on both sides (`√(r1·r2)`). Bias correction: the shift
//! it subtracts equals the difference between the layer with rounded and with exact weights on
//! an input that is constant per channel (where that difference is exactly `Σ ε·E[x]`).

use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use qcc::interp::run;
use qcc::ir::{Attr, Attrs, Model, NodeId, Op, OpKind, TensorType, WeightData};
use qcc::quant::bias_correction::shift;
use qcc::quant::equalize::equalize;
use qcc::quant::params::{quantize_weights, weights};
use qcc::quant::WeightBits;
use runtime::Tensor;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Act {
    None,
    Relu,
    Leaky,
    Relu6,
}

#[derive(Clone, Debug)]
struct Case {
    c_in: usize,
    c_mid: usize,
    c_out: usize,
    depthwise_first: bool,
    depthwise_second: bool,
    k: usize,
    act: Act,
    /// conv → act → flatten → gemm instead of a second conv.
    gemm: bool,
    /// Values in [-1, 1] for the weights, biases and input, and per-channel exponents.
    values: Vec<f32>,
    exps: Vec<i32>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        1..=3usize,
        1..=4usize,
        1..=3usize,
        any::<bool>(),
        any::<bool>(),
        1..=3usize,
        prop_oneof![
            Just(Act::None),
            Just(Act::Relu),
            Just(Act::Leaky),
            Just(Act::Relu6)
        ],
        any::<bool>(),
        proptest::collection::vec(-1.0f32..1.0, 2048),
        proptest::collection::vec(-3i32..=3, 16),
    )
        .prop_map(
            |(c_in, mult, c_out, dw1, dw2, k, act, gemm, values, exps)| Case {
                c_in,
                c_mid: if dw1 { c_in * mult } else { mult + 1 },
                c_out,
                depthwise_first: dw1,
                depthwise_second: dw2 && !gemm,
                // Odd kernels, so that `pads = k/2` keeps the spatial size.
                k: k | 1,
                act,
                gemm,
                values,
                exps,
            },
        )
}

struct Gen<'a> {
    values: &'a [f32],
    at: usize,
}

impl Gen<'_> {
    fn array(&mut self, shape: &[usize], scale_axis0: Option<&[i32]>) -> ArrayD<f32> {
        let n: usize = shape.iter().product();
        let inner = n / shape[0].max(1);
        let v: Vec<f32> = (0..n)
            .map(|i| {
                let x = self.values[(self.at + i) % self.values.len()];
                let e = scale_axis0.map_or(0, |s| s[(i / inner) % s.len()]);
                x * 10f32.powi(e)
            })
            .collect();
        self.at += n;
        ArrayD::from_shape_vec(IxDyn(shape), v).expect("size")
    }
}

fn weight(m: &mut Model, name: &str, a: ArrayD<f32>) -> NodeId {
    let ty = TensorType::f32(a.shape().to_vec());
    m.add_weight(name, ty, WeightData::Inline(Arc::new(Tensor::F32(a))))
}

fn conv_op(groups: usize, k: usize) -> Op {
    let mut a = Attrs::new();
    a.insert("groups".into(), Attr::Int(groups as i64));
    let p = (k / 2) as i64;
    a.insert("pads".into(), Attr::Ints(vec![p, p, p, p]));
    Op::new(OpKind::Conv2d, a)
}

/// The model of a case, its input and whether equalization may apply (homogeneous activation).
fn build(c: &Case) -> (Model, ArrayD<f32>, bool) {
    let mut g = Gen {
        values: &c.values,
        at: 0,
    };
    let (h, w) = (5, 4);
    let mut m = Model::new("dfq");
    let x = m.add_input("x", TensorType::f32(vec![1, c.c_in, h, w]));
    let g1 = if c.depthwise_first { c.c_in } else { 1 };
    let w1 = g.array(&[c.c_mid, c.c_in / g1, c.k, c.k], Some(&c.exps));
    let b1 = g.array(&[c.c_mid], Some(&c.exps));
    let (w1, b1) = (weight(&mut m, "w1", w1), weight(&mut m, "b1", b1));
    let shape = vec![1, c.c_mid, h, w];
    let y1 = m.add_op(
        "y1",
        conv_op(g1, c.k),
        &[x, w1, b1],
        TensorType::f32(shape.clone()),
    );
    let a = match c.act {
        Act::None => y1,
        Act::Relu => m.add_op(
            "a",
            Op::new(OpKind::Relu, Attrs::new()),
            &[y1],
            TensorType::f32(shape.clone()),
        ),
        Act::Leaky => {
            let mut at = Attrs::new();
            at.insert("alpha".into(), Attr::Float(0.1));
            m.add_op(
                "a",
                Op::new(OpKind::LeakyRelu, at),
                &[y1],
                TensorType::f32(shape.clone()),
            )
        }
        Act::Relu6 => {
            let mut at = Attrs::new();
            at.insert("min".into(), Attr::Float(0.0));
            at.insert("max".into(), Attr::Float(6.0));
            m.add_op(
                "a",
                Op::new(OpKind::Clip, at),
                &[y1],
                TensorType::f32(shape.clone()),
            )
        }
    };
    let y2 = if c.gemm {
        let feats = c.c_mid * h * w;
        let f = m.add_op(
            "f",
            Op::new(OpKind::Flatten, Attrs::new()),
            &[a],
            TensorType::f32(vec![1, feats]),
        );
        let w2 = g.array(&[feats, c.c_out], None);
        let b2 = g.array(&[c.c_out], None);
        let (w2, b2) = (weight(&mut m, "w2", w2), weight(&mut m, "b2", b2));
        let mut at = Attrs::new();
        at.insert("trans_b".into(), Attr::Bool(false));
        m.add_op(
            "y2",
            Op::new(OpKind::Gemm, at),
            &[f, w2, b2],
            TensorType::f32(vec![1, c.c_out]),
        )
    } else {
        let (g2, o2) = if c.depthwise_second {
            (c.c_mid, c.c_mid)
        } else {
            (1, c.c_out)
        };
        let w2 = g.array(&[o2, c.c_mid / g2, c.k, c.k], None);
        let w2 = weight(&mut m, "w2", w2);
        m.add_op(
            "y2",
            conv_op(g2, c.k),
            &[a, w2],
            TensorType::f32(vec![1, o2, h, w]),
        )
    };
    m.outputs = vec![y2];
    let input = g.array(&[1, c.c_in, h, w], None);
    (m, input, c.act != Act::Relu6)
}

fn max_abs(a: &ArrayD<f32>) -> f32 {
    a.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

fn weight_of(m: &Model, name: &str) -> ArrayD<f32> {
    let id = m.find(name).expect("the weight");
    m.node(id)
        .weight()
        .and_then(|t| t.as_f32())
        .expect("f32")
        .clone()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn equalization_keeps_the_function_and_balances_ranges(c in case()) {
        let (model, input, homogeneous) = build(&c);
        let (eq, done) = equalize(&model).expect("equalizes");
        prop_assert_eq!(done.pairs.len(), usize::from(homogeneous));
        let x = Tensor::F32(input);
        let before = run(&model, std::slice::from_ref(&x)).expect("runs").remove(0);
        let after = run(&eq, std::slice::from_ref(&x)).expect("runs").remove(0);
        let (b, a) = (before.as_f32().expect("f32"), after.as_f32().expect("f32"));
        // Rescaling by powers spread over 10^±6 moves each product by a few ulps only; a sum of
        // such products may cancel far below its terms, so the tolerance is relative to the sum
        // of the terms' magnitudes: the same network on |weights| and |input|, without its
        // activation (|act(z)| ≤ |z| for every activation here).
        let magnitude = Case {
            values: c.values.iter().map(|v| v.abs()).collect(),
            act: Act::None,
            ..c.clone()
        };
        let (abs_model, abs_input, _) = build(&magnitude);
        let bound = run(&abs_model, &[Tensor::F32(abs_input)]).expect("runs").remove(0);
        let bound = bound.as_f32().expect("f32");
        for ((p, q), m) in b.iter().zip(a.iter()).zip(bound.iter()) {
            let tol = 1e-4 * m.max(1e-30);
            prop_assert!((p - q).abs() <= tol, "{} became {} (tolerance {})", p, q, tol);
        }
        if homogeneous {
            // After one pair's equalization both sides of channel i span √(r1·r2).
            let (w1, w2) = (weight_of(&eq, "w1"), weight_of(&eq, "w2"));
            for ch in 0..c.c_mid {
                let r1 = max_abs(&w1.index_axis(ndarray::Axis(0), ch).to_owned());
                let r2 = if c.gemm {
                    let per = w2.shape()[0] / c.c_mid;
                    w2.slice_axis(ndarray::Axis(0), (ch * per..(ch + 1) * per).into())
                        .iter()
                        .fold(0.0f32, |m, v| m.max(v.abs()))
                } else if c.depthwise_second {
                    max_abs(&w2.index_axis(ndarray::Axis(0), ch).to_owned())
                } else {
                    max_abs(&w2.index_axis(ndarray::Axis(1), ch).to_owned())
                };
                if r1 > 0.0 && r2 > 0.0 {
                    prop_assert!((r1 - r2).abs() <= 1e-5 * r1.max(r2), "channel {}: {} against {}", ch, r1, r2);
                }
            }
        }
    }

    #[test]
    fn bias_correction_shift_is_the_mean_error_of_rounded_weights(c in case(), bits8 in any::<bool>()) {
        let mut g = Gen { values: &c.values, at: 7 };
        let groups = if c.depthwise_first { c.c_in } else { 1 };
        let w = g.array(&[c.c_mid, c.c_in / groups, c.k, c.k], Some(&c.exps));
        let means: Vec<f64> = g.array(&[c.c_in], None).iter().map(|&v| v as f64 * 3.0).collect();
        let bits = if bits8 { WeightBits::Eight } else { WeightBits::Seven };
        let chosen = weights("w", &w, 0, bits).expect("finite");
        let wq = quantize_weights(&w, &chosen.params, bits);
        let deq = runtime::ops::dequantize(&Tensor::I8(wq), &chosen.params.runtime());
        let op = conv_op(groups, c.k);
        let got = shift(&op, &w, &deq, &means).expect("fits");
        // A constant input per channel, no padding: every output is Σ w·E[x].
        let mut at = Attrs::new();
        at.insert("groups".into(), Attr::Int(groups as i64));
        let plain = runtime::ops::ConvParams { groups, ..Default::default() };
        let x = ArrayD::from_shape_fn(IxDyn(&[1, c.c_in, c.k, c.k]), |i| means[i[1]] as f32);
        let exact = runtime::ops::strict::conv2d(&x, &w, None, &plain);
        let rounded = runtime::ops::strict::conv2d(&x, &deq, None, &plain);
        for o in 0..c.c_mid {
            let want = rounded[[0, o, 0, 0]] as f64 - exact[[0, o, 0, 0]] as f64;
            let scale = w.index_axis(ndarray::Axis(0), o).iter().map(|v| v.abs() as f64).sum::<f64>() * 3.0;
            prop_assert!((got[o] - want).abs() <= 1e-5 * scale.max(1e-30), "channel {}: {} against {}", o, got[o], want);
        }
    }
}
