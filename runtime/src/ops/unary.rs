//! The `unary` op's functions: one table of names, parameters and f32 definitions. Each
//! definition is a fixed sequence of IEEE f32 operations and C-library calls (`expf`, `logf`,
//! `log1pf`, `tanhf`, `erff`, `sinf`, `cosf`, `powf`), so that it has one result on every machine
//! that links the same C library, and a lookup table built from it is exact by construction.

use ndarray::ArrayD;

extern "C" {
    // std has no stable f32 error function; the C library's is the one a float kernel calls too.
    fn erff(x: f32) -> f32;
    // Rust computes asinh/acosh/atanh with its own formulas: the C library's are what a float
    // kernel calls, so the table calls them (and the other trigonometric ones) directly.
    fn tanf(x: f32) -> f32;
    fn asinf(x: f32) -> f32;
    fn acosf(x: f32) -> f32;
    fn atanf(x: f32) -> f32;
    fn sinhf(x: f32) -> f32;
    fn coshf(x: f32) -> f32;
    fn asinhf(x: f32) -> f32;
    fn acoshf(x: f32) -> f32;
    fn atanhf(x: f32) -> f32;
}

/// A function of the `unary` op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnaryFn {
    Tanh,
    Exp,
    Log,
    Sqrt,
    Reciprocal,
    Neg,
    Abs,
    Erf,
    Gelu,
    GeluTanh,
    Softplus,
    Softsign,
    Elu,
    Selu,
    Celu,
    ThresholdedRelu,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Asinh,
    Acosh,
    Atanh,
    Shrink,
    Swish,
    Floor,
    Ceil,
    Round,
    Sign,
    Mish,
    Silu,
    Pow,
}

/// One row of the table: the name the IR writes, the parameters in order with their defaults,
/// and the formula for the docs.
#[derive(Clone, Copy, Debug)]
pub struct UnaryDef {
    pub f: UnaryFn,
    pub name: &'static str,
    pub params: &'static [(&'static str, f32)],
    pub formula: &'static str,
}

const fn d(
    f: UnaryFn,
    name: &'static str,
    params: &'static [(&'static str, f32)],
    formula: &'static str,
) -> UnaryDef {
    UnaryDef {
        f,
        name,
        params,
        formula,
    }
}

/// SELU's constants as ONNX writes them (f32).
const SELU_ALPHA: f32 = 1.673_263_2;
const SELU_GAMMA: f32 = 1.050_701;

/// Every function, in the order docs/ir.md lists them.
pub static UNARY_FNS: &[UnaryDef] = &[
    d(UnaryFn::Tanh, "tanh", &[], "tanhf(x)"),
    d(UnaryFn::Exp, "exp", &[], "expf(x)"),
    d(UnaryFn::Log, "log", &[], "logf(x)"),
    d(UnaryFn::Sqrt, "sqrt", &[], "√x (IEEE)"),
    d(UnaryFn::Reciprocal, "reciprocal", &[], "1 / x"),
    d(UnaryFn::Neg, "neg", &[], "−x"),
    d(UnaryFn::Abs, "abs", &[], "|x|"),
    d(UnaryFn::Erf, "erf", &[], "erff(x)"),
    d(UnaryFn::Gelu, "gelu", &[], "(x·0.5)·(1 + erff(x·(1/√2)))"),
    d(
        UnaryFn::GeluTanh,
        "gelu_tanh",
        &[],
        "(x·0.5)·(1 + tanhf(√(2/π)·(x + 0.044715·((x·x)·x))))",
    ),
    d(
        UnaryFn::Softplus,
        "softplus",
        &[],
        "x > 0 ? x + log1pf(expf(−x)) : log1pf(expf(x))",
    ),
    d(UnaryFn::Softsign, "softsign", &[], "x / (1 + |x|)"),
    d(
        UnaryFn::Elu,
        "elu",
        &[("alpha", 1.0)],
        "x < 0 ? alpha·(expf(x) − 1) : x",
    ),
    d(
        UnaryFn::Selu,
        "selu",
        &[("alpha", SELU_ALPHA), ("gamma", SELU_GAMMA)],
        "x > 0 ? gamma·x : gamma·(alpha·expf(x) − alpha)",
    ),
    d(
        UnaryFn::Celu,
        "celu",
        &[("alpha", 1.0)],
        "max(0, x) + min(0, alpha·(expf(x / alpha) − 1))",
    ),
    d(
        UnaryFn::ThresholdedRelu,
        "thresholded_relu",
        &[("alpha", 1.0)],
        "x > alpha ? x : 0",
    ),
    d(UnaryFn::Sin, "sin", &[], "sinf(x)"),
    d(UnaryFn::Cos, "cos", &[], "cosf(x)"),
    d(UnaryFn::Tan, "tan", &[], "tanf(x)"),
    d(UnaryFn::Asin, "asin", &[], "asinf(x)"),
    d(UnaryFn::Acos, "acos", &[], "acosf(x)"),
    d(UnaryFn::Atan, "atan", &[], "atanf(x)"),
    d(UnaryFn::Sinh, "sinh", &[], "sinhf(x)"),
    d(UnaryFn::Cosh, "cosh", &[], "coshf(x)"),
    d(UnaryFn::Asinh, "asinh", &[], "asinhf(x)"),
    d(UnaryFn::Acosh, "acosh", &[], "acoshf(x)"),
    d(UnaryFn::Atanh, "atanh", &[], "atanhf(x)"),
    d(
        UnaryFn::Shrink,
        "shrink",
        &[("lambd", 0.5), ("bias", 0.0)],
        "x < −lambd ? x + bias : x > lambd ? x − bias : 0",
    ),
    d(
        UnaryFn::Swish,
        "swish",
        &[("alpha", 1.0)],
        "x · (1 / (1 + expf(−(alpha·x))))",
    ),
    d(UnaryFn::Floor, "floor", &[], "⌊x⌋"),
    d(UnaryFn::Ceil, "ceil", &[], "⌈x⌉"),
    d(
        UnaryFn::Round,
        "round",
        &[],
        "nearest integer, ties to even",
    ),
    d(UnaryFn::Sign, "sign", &[], "−1, 0 or 1 (NaN stays NaN)"),
    d(
        UnaryFn::Mish,
        "mish",
        &[],
        "x · tanhf(softplus(x)), softplus as above",
    ),
    d(
        UnaryFn::Silu,
        "silu",
        &[],
        "x · (1 / (1 + expf(−x))), as sigmoid",
    ),
    d(
        UnaryFn::Pow,
        "pow",
        &[("exponent", 1.0)],
        "powf(x, exponent)",
    ),
];

impl UnaryFn {
    /// The function the IR calls `name`.
    pub fn from_name(name: &str) -> Option<UnaryFn> {
        UNARY_FNS.iter().find(|d| d.name == name).map(|d| d.f)
    }

    pub fn def(self) -> &'static UnaryDef {
        UNARY_FNS
            .iter()
            .find(|d| d.f == self)
            .expect("every UnaryFn has a row")
    }

    pub fn name(self) -> &'static str {
        self.def().name
    }

    /// The parameters to evaluate with: `given` when it has one value per parameter, the
    /// defaults when it is empty.
    pub fn params(self, given: &[f32]) -> Result<Vec<f32>, String> {
        let want = self.def().params;
        if given.is_empty() {
            return Ok(want.iter().map(|p| p.1).collect());
        }
        if given.len() != want.len() {
            let names: Vec<&str> = want.iter().map(|p| p.0).collect();
            return Err(format!(
                "unary `{}` takes {} parameter(s) {names:?}, got {}",
                self.name(),
                want.len(),
                given.len()
            ));
        }
        Ok(given.to_vec())
    }

    /// The function at one point; `p` holds one value per parameter (see [`UnaryFn::params`]).
    /// A NaN result is always the canonical quiet NaN (`0x7fc00000`): C libraries and call
    /// sites disagree on a NaN's sign, and a compiled kernel must give the same bits.
    pub fn eval(self, x: f32, p: &[f32]) -> f32 {
        let y = self.eval_raw(x, p);
        if y.is_nan() {
            f32::NAN
        } else {
            y
        }
    }

    fn eval_raw(self, x: f32, p: &[f32]) -> f32 {
        use UnaryFn::*;
        match self {
            Tanh => x.tanh(),
            Exp => x.exp(),
            Log => x.ln(),
            Sqrt => x.sqrt(),
            Reciprocal => 1.0 / x,
            Neg => -x,
            Abs => x.abs(),
            // SAFETY: erff is a pure C function of one float.
            Erf => unsafe { erff(x) },
            Gelu => (x * 0.5) * (1.0 + unsafe { erff(x * std::f32::consts::FRAC_1_SQRT_2) }),
            GeluTanh => {
                const K: f32 = 0.797_884_6; // √(2/π)
                (x * 0.5) * (1.0 + (K * (x + 0.044_715 * ((x * x) * x))).tanh())
            }
            Softplus => softplus(x),
            Softsign => x / (1.0 + x.abs()),
            Elu => {
                if x < 0.0 {
                    p[0] * (x.exp() - 1.0)
                } else {
                    x
                }
            }
            Selu => {
                if x > 0.0 {
                    p[1] * x
                } else {
                    p[1] * (p[0] * x.exp() - p[0])
                }
            }
            Celu => max0(x) + min0(p[0] * ((x / p[0]).exp() - 1.0)),
            ThresholdedRelu => {
                if x > p[0] || x.is_nan() {
                    x
                } else {
                    0.0
                }
            }
            Sin => x.sin(),
            Cos => x.cos(),
            // SAFETY: pure C functions of one float.
            Tan => unsafe { tanf(x) },
            Asin => unsafe { asinf(x) },
            Acos => unsafe { acosf(x) },
            Atan => unsafe { atanf(x) },
            Sinh => unsafe { sinhf(x) },
            Cosh => unsafe { coshf(x) },
            Asinh => unsafe { asinhf(x) },
            Acosh => unsafe { acoshf(x) },
            Atanh => unsafe { atanhf(x) },
            Shrink => {
                if x < -p[0] {
                    x + p[1]
                } else if x > p[0] {
                    x - p[1]
                } else {
                    0.0
                }
            }
            Swish => x * (1.0 / (1.0 + (-(p[0] * x)).exp())),
            Floor => x.floor(),
            Ceil => x.ceil(),
            Round => x.round_ties_even(),
            Sign => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    x * 0.0
                }
            }
            Mish => x * softplus(x).tanh(),
            Silu => x * (1.0 / (1.0 + (-x).exp())),
            Pow => x.powf(p[0]),
        }
    }
}

/// `max(0, x)` keeping NaN.
fn max0(x: f32) -> f32 {
    if x < 0.0 {
        0.0
    } else {
        x
    }
}

/// `min(0, x)` keeping NaN.
fn min0(x: f32) -> f32 {
    if x > 0.0 {
        0.0
    } else {
        x
    }
}

/// `log(1 + e^x)` without overflow: for positive x, `x + log(1 + e^−x)`.
fn softplus(x: f32) -> f32 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// `f` applied to every element with parameters `p` (one per parameter, or empty for the
/// defaults); the result is in standard layout.
pub fn unary(x: &ArrayD<f32>, f: UnaryFn, p: &[f32]) -> ArrayD<f32> {
    let p = f
        .params(p)
        .unwrap_or_else(|e| panic!("unary: {e} (callers verify first)"));
    let mut out = x.as_standard_layout().into_owned();
    out.mapv_inplace(|v| f.eval(v, &p));
    out
}
