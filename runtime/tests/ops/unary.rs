//! The `unary` functions against their ONNX formulas written naively in f64 (erf by its series),
//! over ordinary values, zeros, infinities and NaN. Each expected value is rounded to f32 first,
//! so a result that overflows f32 is expected as an infinity.

use crate::common::*;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use runtime::ops::{unary, UnaryFn, UNARY_FNS};

fn values() -> impl Strategy<Value = ArrayD<f32>> {
    let special = prop::sample::select(vec![
        0.0f32,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        1.0,
        -1.0,
    ]);
    let v = prop_oneof![4 => -12.0f32..12.0, 1 => -0.01f32..0.01, 1 => special];
    prop::collection::vec(v, 1..40)
        .prop_map(|v| ArrayD::from_shape_vec(IxDyn(&[v.len()]), v).unwrap())
}

/// erf by its Maclaurin series below 3 and the asymptotic expansion of erfc above.
fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    let r = if a < 3.0 {
        let (mut term, mut sum) = (a, a);
        for n in 1..80 {
            term *= -a * a / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        let z = 1.0 / (a * a);
        let tail = (1.0 - 0.5 * z + 0.75 * z * z - 1.875 * z * z * z) * (-a * a).exp()
            / (a * std::f64::consts::PI.sqrt());
        1.0 - tail
    };
    r.copysign(x)
}

fn softplus(x: f64) -> f64 {
    if x > 30.0 {
        x
    } else {
        (1.0 + x.exp()).ln()
    }
}

/// The ONNX definition and the magnitude its f32 rounding error scales with.
fn naive(f: UnaryFn, x: f64, p: &[f64]) -> (f64, f64) {
    use UnaryFn::*;
    let one = |v: f64| (v, v.abs());
    match f {
        Tanh => one(x.tanh()),
        Exp => one(x.exp()),
        Log => one(x.ln()),
        Sqrt => one(x.sqrt()),
        Reciprocal => one(1.0 / x),
        Neg => one(-x),
        Abs => one(x.abs()),
        Erf => one(erf(x)),
        // 1 + erf(x/√2) cancels for negative x: the error scales with x itself.
        Gelu => (0.5 * x * (1.0 + erf(x / 2f64.sqrt())), x.abs()),
        GeluTanh => {
            let k = (2.0 / std::f64::consts::PI).sqrt();
            (
                0.5 * x * (1.0 + (k * (x + 0.044715 * x * x * x)).tanh()),
                x.abs(),
            )
        }
        Softplus => (softplus(x), softplus(x).abs().max(1e-30)),
        Softsign => one(x / (1.0 + x.abs())),
        Elu => (
            if x < 0.0 { p[0] * (x.exp() - 1.0) } else { x },
            x.abs().max(p[0].abs()),
        ),
        Selu => {
            let v = if x > 0.0 {
                p[1] * x
            } else {
                p[1] * (p[0] * x.exp() - p[0])
            };
            (v, (p[1] * x).abs().max((p[0] * p[1]).abs()))
        }
        Celu => {
            let v = x.max(0.0) + (p[0] * ((x / p[0]).exp() - 1.0)).min(0.0);
            (v, v.abs().max(x.abs()).max(p[0].abs()))
        }
        ThresholdedRelu => one(if x > p[0] { x } else { 0.0 }),
        Sin => (x.sin(), 1.0),
        Cos => (x.cos(), 1.0),
        Tan => one(x.tan()),
        Asin => one(x.asin()),
        // acos(x) is near π/2 around 0, where its rounding error scales with π/2, not x.
        Acos => (x.acos(), x.acos().abs().max(1.0)),
        Atan => one(x.atan()),
        Sinh => one(x.sinh()),
        Cosh => one(x.cosh()),
        Asinh => one(x.asinh()),
        Acosh => one(x.acosh()),
        Atanh => one(x.atanh()),
        // The sum x ± bias cancels: its error scales with the operands, not the result.
        Shrink => (
            if x < -p[0] {
                x + p[1]
            } else if x > p[0] {
                x - p[1]
            } else {
                0.0
            },
            x.abs().max(p[1].abs()),
        ),
        Swish => (x / (1.0 + (-(p[0] * x)).exp()), x.abs()),
        Floor => one(x.floor()),
        Ceil => one(x.ceil()),
        Round => one(x.round_ties_even()),
        Sign => one(if x > 0.0 {
            1.0
        } else if x < 0.0 {
            -1.0
        } else {
            0.0
        }),
        Mish => (x * softplus(x).tanh(), x.abs()),
        Silu => (x / (1.0 + (-x).exp()), x.abs()),
        Pow => one(x.powf(p[0])),
    }
}

fn fns() -> impl Strategy<Value = UnaryFn> {
    prop::sample::select(UNARY_FNS.iter().map(|d| d.f).collect::<Vec<_>>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn every_function_matches_its_onnx_formula(
        f in fns(),
        x in values(),
        p in prop::collection::vec(prop_oneof![0.2f32..3.0, -3.0f32..-0.2], 2),
        integral in prop::sample::select(vec![2.0f32, 3.0, -1.0, 0.5]),
    ) {
        let np = f.def().params.len();
        let mut p: Vec<f32> = p[..np].to_vec();
        if f == UnaryFn::Pow {
            p[0] = integral;
        }
        let p64: Vec<f64> = p.iter().map(|&v| v as f64).collect();
        let want = x.mapv(|v| {
            let (w, mag) = naive(f, v as f64, &p64);
            // Shrink's NaN fails both comparisons and is 0, as in ONNX's reference `np.where`.
            let nan = v.is_nan() && f != UnaryFn::Shrink;
            Want { value: if nan { f64::NAN } else { w as f32 as f64 }, mag }
        });
        check_close(&unary(&x, f, &p), &want, 1e-5)
            .map_err(|e| TestCaseError::fail(format!("{}: {e}", f.name())))?;
    }
}

#[test]
fn empty_parameters_are_the_defaults_and_wrong_counts_are_refused() {
    assert_eq!(UnaryFn::Elu.params(&[]).unwrap(), vec![1.0]);
    assert!(UnaryFn::Selu.params(&[1.0]).is_err());
    assert!(UnaryFn::Tanh.params(&[]).unwrap().is_empty());
    for d in UNARY_FNS {
        assert_eq!(UnaryFn::from_name(d.name), Some(d.f));
    }
}

#[test]
fn silu_is_x_times_the_sigmoid_kernel_bit_for_bit() {
    // The fusion of mul(x, sigmoid(x)) into one silu must not change a float result.
    let x = ArrayD::from_shape_vec(IxDyn(&[7]), vec![-30.0f32, -3.3, -0.1, 0.0, 0.7, 5.5, 90.0])
        .unwrap();
    let fused = unary(&x, UnaryFn::Silu, &[]);
    let split = &x * &runtime::ops::sigmoid(&x);
    assert_eq!(fused, split);
}
