//! The op set and its schema: the one table that the parser, printer, verifier, importer and the
//! rule checker all read (operands, which are optional, attributes with their kinds and defaults).
//! The ops defined before issue 18 are variants here with their schema in [`CORE_SCHEMAS`]; every
//! op added since is an [`OpKind::Family`] whose schema and behaviour live in one file of
//! `crate::ops` (ARCHITECTURE.md, "Op families"). [`schemas`] is the whole table.

use crate::ir::attr::{Attr, AttrKind, Attrs};
use std::sync::OnceLock;

/// Every op of the IR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    Conv2d,
    ConvTranspose2d,
    BatchNorm,
    Relu,
    Clip,
    LeakyRelu,
    Sigmoid,
    HardSigmoid,
    HardSwish,
    Unary,
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
    MaxPool,
    AvgPool,
    GlobalAvgPool,
    Resize,
    ReduceMean,
    Reduce,
    Normalize,
    Flatten,
    Reshape,
    Squeeze,
    Unsqueeze,
    Transpose,
    Slice,
    Concat,
    Pad,
    Gemm,
    MatMul,
    Softmax,
    Attention,
    NllLoss,
    // Ops on the other element types a model's data path carries (indices, masks): never
    // quantized, and the backend has no kernels for them (docs/ir.md, "Element types").
    Cast,
    Compare,
    Logic,
    Not,
    Where,
    Mod,
    ArgMax,
    ArgMin,
    Gather,
    GatherElements,
    Expand,
    Quantize,
    Dequantize,
    // The integer dialect: quantized operands, a declared quantized result (docs/ir.md,
    // "Integer semantics").
    Requantize,
    QConv2d,
    QConvTranspose2d,
    QGemm,
    QAdd,
    QMul,
    QMatMul,
    QSoftmax,
    QAvgPool,
    QGlobalAvgPool,
    Lut,
    /// An op defined in one file of `crate::ops` (an index into `crate::ops::FAMILIES`): its
    /// schema, type, evaluation, import, export and kernel are all there.
    Family(FamilyId),
}

/// The index of an op family in `crate::ops::FAMILIES`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FamilyId(pub u16);

impl FamilyId {
    /// The family's definition.
    pub fn def(self) -> &'static dyn crate::ops::OpFamily {
        crate::ops::FAMILIES[self.0 as usize]
    }
}

impl std::fmt::Debug for FamilyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.def().name())
    }
}

/// How an attribute is declared: its kind and, when it may be left out, the default the printer
/// writes anyway (`None` marks an attribute that is simply absent when not given).
#[derive(Clone, Debug)]
pub struct AttrSpec {
    pub name: &'static str,
    pub kind: AttrKind,
    /// `Some(v)`: always present, `v` when not written. `None`: absent when not written.
    pub default: Option<fn() -> Attr>,
    /// Must be written (has no default and no meaning when absent).
    pub required: bool,
    pub doc: &'static str,
}

/// The operand list of an op.
#[derive(Clone, Debug)]
pub struct OperandSpec {
    /// Names of the operands in order.
    pub names: &'static [&'static str],
    /// How many of the trailing operands may be left out.
    pub optional: usize,
    /// The last operand repeats (concat): at least one is required.
    pub variadic: bool,
}

/// The schema of one op.
#[derive(Clone, Debug)]
pub struct OpSchema {
    pub kind: OpKind,
    pub name: &'static str,
    pub operands: OperandSpec,
    pub attrs: &'static [AttrSpec],
    pub doc: &'static str,
}

impl OpKind {
    /// Ops whose result type is written, not inferred: it carries quantization parameters that no
    /// operand determines. Their shape is still checked against the float analog's.
    pub fn declares_result(self) -> bool {
        use OpKind::*;
        matches!(
            self,
            Quantize
                | Dequantize
                | Requantize
                | QConv2d
                | QConvTranspose2d
                | QGemm
                | QAdd
                | QMul
                | QMatMul
                | QSoftmax
                | QAvgPool
                | QGlobalAvgPool
                | Lut
        )
    }

    /// The float op with the same shape behaviour (and the same meaning, up to quantization).
    pub fn float_analog(self) -> Option<OpKind> {
        use OpKind::*;
        Some(match self {
            QConv2d => Conv2d,
            QConvTranspose2d => ConvTranspose2d,
            QGemm => Gemm,
            QAdd => Add,
            QMul => Mul,
            QMatMul => MatMul,
            QSoftmax => Softmax,
            QAvgPool => AvgPool,
            QGlobalAvgPool => GlobalAvgPool,
            _ => return None,
        })
    }
}

macro_rules! a {
    ($name:literal, $kind:ident, required, $doc:literal) => {
        AttrSpec {
            name: $name,
            kind: AttrKind::$kind,
            default: None,
            required: true,
            doc: $doc,
        }
    };
    ($name:literal, $kind:ident, $doc:literal) => {
        AttrSpec {
            name: $name,
            kind: AttrKind::$kind,
            default: None,
            required: false,
            doc: $doc,
        }
    };
    ($name:literal, $kind:ident = $def:expr, $doc:literal) => {
        AttrSpec {
            name: $name,
            kind: AttrKind::$kind,
            default: Some(|| $def),
            required: false,
            doc: $doc,
        }
    };
}

const fn ops(names: &'static [&'static str], optional: usize) -> OperandSpec {
    OperandSpec {
        names,
        optional,
        variadic: false,
    }
}

const ARG_ATTRS: &[AttrSpec] = &[
    a!("axis", Int, required, "the axis searched"),
    a!(
        "keepdims",
        Bool = Attr::Bool(true),
        "keep the searched axis as size 1"
    ),
    a!(
        "select_last_index",
        Bool = Attr::Bool(false),
        "the last index among equal extremes, not the first"
    ),
];

const CONV_ATTRS: &[AttrSpec] = &[
    a!("strides", Ints = Attr::Ints(vec![1, 1]), "[sh, sw]"),
    a!(
        "pads",
        Ints = Attr::Ints(vec![0, 0, 0, 0]),
        "[top, left, bottom, right]"
    ),
    a!("dilations", Ints = Attr::Ints(vec![1, 1]), "[dh, dw]"),
    a!(
        "groups",
        Int = Attr::Int(1),
        "channel groups; groups == channels is depthwise"
    ),
    a!(
        "bn_gamma",
        Floats,
        "per output channel: the γ of a BatchNorm folded into this op"
    ),
    a!(
        "bn_beta",
        Floats,
        "per output channel: the β of a BatchNorm folded into this op"
    ),
];

const CONV_T_ATTRS: &[AttrSpec] = &[
    a!("strides", Ints = Attr::Ints(vec![1, 1]), "[sh, sw]"),
    a!(
        "pads",
        Ints = Attr::Ints(vec![0, 0, 0, 0]),
        "[top, left, bottom, right], cropped from the full output"
    ),
    a!("dilations", Ints = Attr::Ints(vec![1, 1]), "[dh, dw]"),
    a!("groups", Int = Attr::Int(1), "channel groups"),
    a!(
        "output_padding",
        Ints = Attr::Ints(vec![0, 0]),
        "extra rows/columns at the bottom/right"
    ),
    a!(
        "bn_gamma",
        Floats,
        "per output channel: the γ of a BatchNorm folded into this op"
    ),
    a!(
        "bn_beta",
        Floats,
        "per output channel: the β of a BatchNorm folded into this op"
    ),
];

const POOL_ATTRS: &[AttrSpec] = &[
    a!("kernel_shape", Ints, required, "[kh, kw]"),
    a!("strides", Ints = Attr::Ints(vec![1, 1]), "[sh, sw]"),
    a!(
        "pads",
        Ints = Attr::Ints(vec![0, 0, 0, 0]),
        "[top, left, bottom, right]"
    ),
    a!("dilations", Ints = Attr::Ints(vec![1, 1]), "[dh, dw]"),
    a!(
        "ceil_mode",
        Bool = Attr::Bool(false),
        "round the output size up"
    ),
];

const AVG_POOL_ATTRS: &[AttrSpec] = &[
    a!("kernel_shape", Ints, required, "[kh, kw]"),
    a!("strides", Ints = Attr::Ints(vec![1, 1]), "[sh, sw]"),
    a!(
        "pads",
        Ints = Attr::Ints(vec![0, 0, 0, 0]),
        "[top, left, bottom, right]"
    ),
    a!(
        "ceil_mode",
        Bool = Attr::Bool(false),
        "round the output size up"
    ),
    a!(
        "count_include_pad",
        Bool = Attr::Bool(false),
        "padding counts in the divisor (ONNX semantics)"
    ),
];

const RESIZE_ATTRS: &[AttrSpec] = &[
    a!(
        "mode",
        Str = Attr::Str("nearest".into()),
        "`nearest` or `linear` (bilinear)"
    ),
    a!(
        "coordinate_transformation_mode",
        Str = Attr::Str("half_pixel".into()),
        "how an output coordinate maps to the input (ONNX's modes but tf_crop_and_resize)"
    ),
    a!(
        "nearest_mode",
        Str = Attr::Str("round_prefer_floor".into()),
        "how nearest rounds a source coordinate; `simple` is Upsample's and Resize-10's rule"
    ),
    a!(
        "scales",
        Floats,
        required,
        "[sh, sw]: the scales of the coordinate mapping (as given, not out/in)"
    ),
    a!(
        "size",
        Ints,
        required,
        "[oh, ow]: the output's spatial size"
    ),
];

const REQUANT_ATTRS: &[AttrSpec] = &[
    a!(
        "multiplier",
        Ints,
        required,
        "fixed-point multipliers M₀ in [2^30, 2^31), one per tensor or per channel"
    ),
    a!(
        "shift",
        Ints,
        required,
        "their exponents: M = M₀·2^(shift − 31)"
    ),
    a!(
        "lo",
        Int,
        required,
        "the clamp's lower bound (a ReLU sets it to the zero point)"
    ),
    a!("hi", Int, required, "the clamp's upper bound"),
];

const QCONV_ATTRS: &[AttrSpec] = &[
    a!("strides", Ints = Attr::Ints(vec![1, 1]), "[sh, sw]"),
    a!(
        "pads",
        Ints = Attr::Ints(vec![0, 0, 0, 0]),
        "[top, left, bottom, right], filled with the input's zero point"
    ),
    a!("dilations", Ints = Attr::Ints(vec![1, 1]), "[dh, dw]"),
    a!("groups", Int = Attr::Int(1), "channel groups"),
    a!(
        "multiplier",
        Ints,
        required,
        "per output channel: M₀ of S_x·S_w/S_y"
    ),
    a!("shift", Ints, required, "per output channel: the exponent"),
    a!("lo", Int, required, "clamp lower bound"),
    a!("hi", Int, required, "clamp upper bound"),
    a!(
        "bn_gamma",
        Floats,
        "per output channel: the γ of a BatchNorm folded into this op"
    ),
    a!(
        "bn_beta",
        Floats,
        "per output channel: the β of a BatchNorm folded into this op"
    ),
];

const QCONV_T_ATTRS: &[AttrSpec] = &[
    a!("strides", Ints = Attr::Ints(vec![1, 1]), "[sh, sw]"),
    a!(
        "pads",
        Ints = Attr::Ints(vec![0, 0, 0, 0]),
        "[top, left, bottom, right], cropped from the full output"
    ),
    a!("dilations", Ints = Attr::Ints(vec![1, 1]), "[dh, dw]"),
    a!("groups", Int = Attr::Int(1), "channel groups"),
    a!(
        "output_padding",
        Ints = Attr::Ints(vec![0, 0]),
        "extra rows/columns at the bottom/right"
    ),
    a!(
        "multiplier",
        Ints,
        required,
        "per output channel: M₀ of S_x·S_w/S_y"
    ),
    a!("shift", Ints, required, "per output channel: the exponent"),
    a!("lo", Int, required, "clamp lower bound"),
    a!("hi", Int, required, "clamp upper bound"),
    a!(
        "bn_gamma",
        Floats,
        "per output channel: the γ of a BatchNorm folded into this op"
    ),
    a!(
        "bn_beta",
        Floats,
        "per output channel: the β of a BatchNorm folded into this op"
    ),
];

const QGEMM_ATTRS: &[AttrSpec] = &[
    a!("trans_b", Bool = Attr::Bool(false), "b is stored [N, K]"),
    a!(
        "multiplier",
        Ints,
        required,
        "per output column: M₀ of S_a·S_b/S_y"
    ),
    a!("shift", Ints, required, "per output column: the exponent"),
    a!("lo", Int, required, "clamp lower bound"),
    a!("hi", Int, required, "clamp upper bound"),
];

const QADD_ATTRS: &[AttrSpec] = &[
    a!("a_multiplier", Int, required, "M₀ of S_a/(2·max(S_a, S_b))"),
    a!("a_shift", Int, required, "its exponent"),
    a!("b_multiplier", Int, required, "M₀ of S_b/(2·max(S_a, S_b))"),
    a!("b_shift", Int, required, "its exponent"),
    a!(
        "multiplier",
        Int,
        required,
        "M₀ of 2·max(S_a, S_b)/(2^20·S_y)"
    ),
    a!("shift", Int, required, "its exponent"),
    a!("lo", Int, required, "clamp lower bound"),
    a!("hi", Int, required, "clamp upper bound"),
];

/// The table of the ops defined before op families, in a fixed order; [`schemas`] appends the
/// families'.
pub static CORE_SCHEMAS: &[OpSchema] = &[
    OpSchema { kind: OpKind::Conv2d, name: "conv2d", operands: ops(&["x", "w", "b"], 1), attrs: CONV_ATTRS,
        doc: "2-D convolution, NCHW input, weight [O, I/groups, kh, kw], optional bias [O]" },
    OpSchema { kind: OpKind::ConvTranspose2d, name: "conv_transpose2d", operands: ops(&["x", "w", "b"], 1), attrs: CONV_T_ATTRS,
        doc: "2-D transposed convolution, weight [I, O/groups, kh, kw], optional bias [O]" },
    OpSchema { kind: OpKind::BatchNorm, name: "batch_norm", operands: ops(&["x", "gamma", "beta", "mean", "var"], 0),
        attrs: &[a!("epsilon", Float = Attr::Float(1e-5), "added to the variance")],
        doc: "inference batch normalization over axis 1: (x − mean)·gamma/√(var + ε) + beta" },
    OpSchema { kind: OpKind::Relu, name: "relu", operands: ops(&["x"], 0), attrs: &[], doc: "max(x, 0)" },
    OpSchema { kind: OpKind::Clip, name: "clip", operands: ops(&["x"], 0),
        attrs: &[a!("min", Float, "lower bound (absent: none)"), a!("max", Float, "upper bound (absent: none)")],
        doc: "min(max(x, min), max); ReLU6 is clip {min = 0.0, max = 6.0}" },
    OpSchema { kind: OpKind::LeakyRelu, name: "leaky_relu", operands: ops(&["x"], 0),
        attrs: &[a!("alpha", Float = Attr::Float(0.01), "slope for x < 0")], doc: "x ≥ 0 ? x : alpha·x" },
    OpSchema { kind: OpKind::Sigmoid, name: "sigmoid", operands: ops(&["x"], 0), attrs: &[], doc: "1 / (1 + e^−x)" },
    OpSchema { kind: OpKind::HardSigmoid, name: "hard_sigmoid", operands: ops(&["x"], 0),
        attrs: &[a!("alpha", Float = Attr::Float(0.2), "slope"), a!("beta", Float = Attr::Float(0.5), "offset")],
        doc: "max(0, min(1, alpha·x + beta))" },
    OpSchema { kind: OpKind::HardSwish, name: "hard_swish", operands: ops(&["x"], 0), attrs: &[],
        doc: "x · max(0, min(1, x/6 + 1/2))" },
    OpSchema { kind: OpKind::Unary, name: "unary", operands: ops(&["x"], 0),
        attrs: &[a!("fn", Str, required, "the function: a name from runtime::ops::UNARY_FNS (tanh, exp, gelu, …)"),
            a!("params", Floats = Attr::Floats(vec![]), "the function's parameters in order; empty: its defaults")],
        doc: "an elementwise function from one table (docs/ir.md, `unary`)" },
    OpSchema { kind: OpKind::Add, name: "add", operands: ops(&["a", "b"], 0), attrs: &[], doc: "a + b, broadcasting" },
    OpSchema { kind: OpKind::Sub, name: "sub", operands: ops(&["a", "b"], 0), attrs: &[], doc: "a − b, broadcasting" },
    OpSchema { kind: OpKind::Mul, name: "mul", operands: ops(&["a", "b"], 0), attrs: &[], doc: "a · b, broadcasting" },
    OpSchema { kind: OpKind::Div, name: "div", operands: ops(&["a", "b"], 0), attrs: &[], doc: "a / b, broadcasting" },
    OpSchema { kind: OpKind::Max, name: "max", operands: ops(&["a", "b"], 0), attrs: &[],
        doc: "the larger of a and b, broadcasting; NaN when either is NaN" },
    OpSchema { kind: OpKind::Min, name: "min", operands: ops(&["a", "b"], 0), attrs: &[],
        doc: "the smaller of a and b, broadcasting; NaN when either is NaN" },
    OpSchema { kind: OpKind::MaxPool, name: "max_pool", operands: ops(&["x"], 0), attrs: POOL_ATTRS,
        doc: "2-D max pooling; padding never wins" },
    OpSchema { kind: OpKind::AvgPool, name: "avg_pool", operands: ops(&["x"], 0), attrs: AVG_POOL_ATTRS,
        doc: "2-D average pooling" },
    OpSchema { kind: OpKind::GlobalAvgPool, name: "global_avg_pool", operands: ops(&["x"], 0), attrs: &[],
        doc: "mean over every axis after the first two, kept as size 1" },
    OpSchema { kind: OpKind::Resize, name: "resize", operands: ops(&["x"], 0), attrs: RESIZE_ATTRS,
        doc: "resize of the spatial axes of NCHW, nearest (any element type: a gather) or bilinear (f32, or codes in fixed point)" },
    OpSchema { kind: OpKind::ReduceMean, name: "reduce_mean", operands: ops(&["x"], 0),
        attrs: &[a!("axes", Ints, required, "axes to reduce"), a!("keepdims", Bool = Attr::Bool(true), "keep reduced axes as size 1")],
        doc: "mean over the given axes" },
    OpSchema { kind: OpKind::Reduce, name: "reduce", operands: ops(&["x"], 0),
        attrs: &[a!("fn", Str, required, "sum, sum_square, l1, l2, log_sum, log_sum_exp, max, min or prod (runtime::ops::ReduceFn)"),
            a!("axes", Ints, required, "axes to reduce"), a!("keepdims", Bool = Attr::Bool(true), "keep reduced axes as size 1")],
        doc: "a reduction over the given axes in one fixed order (docs/ir.md, `reduce`)" },
    OpSchema { kind: OpKind::Normalize, name: "normalize", operands: ops(&["x"], 0),
        attrs: &[a!("axis", Int, required, "the first of the trailing axes each group spans"),
            a!("epsilon", Float = Attr::Float(1e-5), "added to the variance"),
            a!("rms", Bool = Attr::Bool(false), "divide by the root mean square, without centring")],
        doc: "(x − mean)/√(var + ε) over the trailing axes from `axis` (docs/ir.md, `normalize`)" },
    OpSchema { kind: OpKind::Flatten, name: "flatten", operands: ops(&["x"], 0),
        attrs: &[a!("axis", Int = Attr::Int(1), "axes before it form the first dimension")], doc: "to 2-D" },
    OpSchema { kind: OpKind::Reshape, name: "reshape", operands: ops(&["x"], 0),
        attrs: &[a!("shape", Ints, required, "the new shape, fully resolved")], doc: "same elements, new shape" },
    OpSchema { kind: OpKind::Squeeze, name: "squeeze", operands: ops(&["x"], 0),
        attrs: &[a!("axes", Ints, required, "size-1 axes to drop")], doc: "drop size-1 axes" },
    OpSchema { kind: OpKind::Unsqueeze, name: "unsqueeze", operands: ops(&["x"], 0),
        attrs: &[a!("axes", Ints, required, "positions of new size-1 axes in the output")], doc: "insert size-1 axes" },
    OpSchema { kind: OpKind::Transpose, name: "transpose", operands: ops(&["x"], 0),
        attrs: &[a!("perm", Ints, required, "output axis i is input axis perm[i]")], doc: "permute axes" },
    OpSchema { kind: OpKind::Slice, name: "slice", operands: ops(&["x"], 0),
        attrs: &[
            a!("axes", Ints, required, "the sliced axes, ascending, each once"),
            a!("starts", Ints, required, "per sliced axis: the first index taken, in [0, len)"),
            a!("ends", Ints, required, "per sliced axis: the exclusive end, in [-1, len] (-1: past index 0 going down)"),
            a!("steps", Ints, required, "per sliced axis: the stride, non-zero, negative walks down"),
        ],
        doc: "elements start, start + step, … before end along each sliced axis (ONNX Slice, bounds normalized)" },
    OpSchema { kind: OpKind::Concat, name: "concat", operands: OperandSpec { names: &["xs"], optional: 0, variadic: true },
        attrs: &[a!("axis", Int, required, "the axis to join along")], doc: "join along an axis" },
    OpSchema { kind: OpKind::Pad, name: "pad", operands: ops(&["x"], 0),
        attrs: &[a!("pads", Ints, required, "[begin_0, …, begin_n, end_0, …, end_n]"), a!("value", Float = Attr::Float(0.0), "fill value"),
            a!("channel_values", Floats, "per-channel fill values along axis 1 (replace `value`): a BatchNorm moved across padding leaves these")],
        doc: "constant padding" },
    OpSchema { kind: OpKind::Gemm, name: "gemm", operands: ops(&["a", "b", "c"], 1),
        attrs: &[
            a!("alpha", Float = Attr::Float(1.0), "scales a·b"),
            a!("beta", Float = Attr::Float(1.0), "scales c"),
            a!("trans_a", Bool = Attr::Bool(false), "use aᵀ"),
            a!("trans_b", Bool = Attr::Bool(false), "use bᵀ"),
            a!("bn_gamma", Floats, "per output column: the γ of a BatchNorm folded into this op"),
            a!("bn_beta", Floats, "per output column: the β of a BatchNorm folded into this op"),
        ],
        doc: "alpha·op(a)·op(b) + beta·c, c broadcast to [M, N]" },
    OpSchema { kind: OpKind::MatMul, name: "matmul", operands: ops(&["a", "b"], 0), attrs: &[],
        doc: "numpy matmul with batch broadcasting" },
    OpSchema { kind: OpKind::Softmax, name: "softmax", operands: ops(&["x"], 0),
        attrs: &[a!("axis", Int, required, "the axis to normalize")], doc: "e^x / Σ e^x along one axis" },
    OpSchema { kind: OpKind::Attention, name: "attention", operands: ops(&["q", "k", "v", "mask"], 1),
        attrs: super::attention::ATTRS, doc: "softmax(softcap(q·kᵀ·scale) + mask)·v per head, 4-D [batch, heads, seq, size], grouped k/v heads" },
    OpSchema { kind: OpKind::NllLoss, name: "nll_loss", operands: ops(&["x", "target", "weight"], 1),
        attrs: super::loss::ATTRS, doc: "−x[n, target, d…]·weight[target] per target (ONNX NegativeLogLikelihoodLoss), kept, summed or averaged" },
    OpSchema { kind: OpKind::Cast, name: "cast", operands: ops(&["x"], 0),
        attrs: &[a!("to", Str, required, "the element type of the result: f32, f64, f16, i8, u8, i16, u16, i32, u32, i64, u64 or bool")],
        doc: "each element converted as ONNX Cast does (docs/ir.md, `cast`)" },
    OpSchema { kind: OpKind::Compare, name: "compare", operands: ops(&["a", "b"], 0),
        attrs: &[a!("fn", Str, required, "equal, less, greater, less_or_equal or greater_or_equal")],
        doc: "a fn b → bool, broadcasting; false against NaN" },
    OpSchema { kind: OpKind::Logic, name: "logic", operands: ops(&["a", "b"], 0),
        attrs: &[a!("fn", Str, required, "and, or or xor")],
        doc: "a fn b on bools, broadcasting" },
    OpSchema { kind: OpKind::Not, name: "not", operands: ops(&["x"], 0), attrs: &[], doc: "¬x on bools" },
    OpSchema { kind: OpKind::Where, name: "where", operands: ops(&["cond", "x", "y"], 0), attrs: &[],
        doc: "cond ? x : y elementwise, the three broadcast together" },
    OpSchema { kind: OpKind::Mod, name: "mod", operands: ops(&["a", "b"], 0),
        attrs: &[a!("fmod", Bool = Attr::Bool(false), "C fmod (the dividend's sign; required for floats) instead of the divisor's sign")],
        doc: "the remainder of a / b, broadcasting; integers only unless fmod" },
    OpSchema { kind: OpKind::ArgMax, name: "arg_max", operands: ops(&["x"], 0), attrs: ARG_ATTRS,
        doc: "the index (i64) of the largest element along an axis" },
    OpSchema { kind: OpKind::ArgMin, name: "arg_min", operands: ops(&["x"], 0), attrs: ARG_ATTRS,
        doc: "the index (i64) of the smallest element along an axis" },
    OpSchema { kind: OpKind::Gather, name: "gather", operands: ops(&["data", "indices"], 0),
        attrs: &[a!("axis", Int, required, "the axis the indices pick along")],
        doc: "slices of data along an axis picked by integer indices (negative: from the end)" },
    OpSchema { kind: OpKind::GatherElements, name: "gather_elements", operands: ops(&["data", "indices"], 0),
        attrs: &[a!("axis", Int, required, "the axis the indices replace")],
        doc: "data at each index position with one axis replaced by the index (ONNX GatherElements)" },
    OpSchema { kind: OpKind::Expand, name: "expand", operands: ops(&["x"], 0),
        attrs: &[a!("shape", Ints, required, "the result's shape, which x broadcasts to")],
        doc: "x repeated along its size-1 axes and new leading axes (ONNX Expand)" },
    OpSchema { kind: OpKind::Quantize, name: "quantize", operands: ops(&["x"], 0), attrs: &[],
        doc: "f32 → the result's quantized type: clamp(round_half_even(x/scale) + zp)" },
    OpSchema { kind: OpKind::Dequantize, name: "dequantize", operands: ops(&["q"], 0), attrs: &[],
        doc: "the operand's quantized type → f32: scale·(q − zp)" },
    OpSchema { kind: OpKind::Requantize, name: "requantize", operands: ops(&["x"], 0), attrs: REQUANT_ATTRS,
        doc: "clamp(Z_y + M·(q − Z_x), lo, hi), M = S_x/S_y as fixed point, per tensor or per channel" },
    OpSchema { kind: OpKind::QConv2d, name: "qconv2d", operands: ops(&["x", "w", "b"], 1), attrs: QCONV_ATTRS,
        doc: "integer conv2d: u8 x, i8 per-channel w, i32 b; i32 accumulation, requantized per channel" },
    OpSchema { kind: OpKind::QConvTranspose2d, name: "qconv_transpose2d", operands: ops(&["x", "w", "b"], 1), attrs: QCONV_T_ATTRS,
        doc: "integer conv_transpose2d, requantized per output channel" },
    OpSchema { kind: OpKind::QGemm, name: "qgemm", operands: ops(&["a", "b", "c"], 1), attrs: QGEMM_ATTRS,
        doc: "integer gemm: u8 a, i8 b (per output column), i32 c; requantized per column" },
    OpSchema { kind: OpKind::QAdd, name: "qadd", operands: ops(&["a", "b"], 0), attrs: QADD_ATTRS,
        doc: "integer add: both inputs rescaled to a common fixed-point scale, summed, requantized" },
    OpSchema { kind: OpKind::QMul, name: "qmul", operands: ops(&["a", "b"], 0), attrs: REQUANT_ATTRS,
        doc: "integer mul: (a − Z_a)·(b − Z_b) requantized by S_a·S_b/S_y" },
    OpSchema { kind: OpKind::QMatMul, name: "qmatmul", operands: ops(&["a", "b"], 0), attrs: REQUANT_ATTRS,
        doc: "integer matmul of two activations: Σ_k (a − Z_a)·(b − Z_b) in i32, requantized by S_a·S_b/S_y" },
    OpSchema { kind: OpKind::QSoftmax, name: "qsoftmax", operands: ops(&["x"], 0),
        attrs: &[a!("axis", Int, required, "the axis to normalize"),
            a!("table", Ints, required, "256 entries T[k] ≈ 2^16·e^(−S_x·k), indexed by a code's distance below its row's maximum; T[0] = 2^16")],
        doc: "integer softmax: a table of e^(−S_x·d) in 16-bit fixed point, summed per row in u32, scaled by one f64 reciprocal per row" },
    OpSchema { kind: OpKind::QAvgPool, name: "qavg_pool", operands: ops(&["x"], 0), attrs: AVG_POOL_ATTRS,
        doc: "integer average pool, rounding once per output with its own divisor" },
    OpSchema { kind: OpKind::QGlobalAvgPool, name: "qglobal_avg_pool", operands: ops(&["x"], 0), attrs: &[],
        doc: "integer global average pool, rounding once" },
    OpSchema { kind: OpKind::Lut, name: "lut", operands: ops(&["x"], 0),
        attrs: &[a!("table", Ints, required, "256 output codes, indexed by the input code (u8) or code + 128 (i8)")],
        doc: "a single-input elementwise float op as a 256-entry table, exact by construction" },
];

/// The full op table: [`CORE_SCHEMAS`], then one schema per op family in `crate::ops::FAMILIES`
/// order.
pub fn schemas() -> &'static [OpSchema] {
    static ALL: OnceLock<Vec<OpSchema>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all = CORE_SCHEMAS.to_vec();
        all.extend(
            crate::ops::FAMILIES
                .iter()
                .enumerate()
                .map(|(i, f)| OpSchema {
                    kind: OpKind::Family(FamilyId(i as u16)),
                    name: f.name(),
                    operands: f.operands(),
                    attrs: f.attrs(),
                    doc: f.doc(),
                }),
        );
        all
    })
}

impl OpKind {
    pub fn schema(self) -> &'static OpSchema {
        match self {
            OpKind::Family(id) => &schemas()[CORE_SCHEMAS.len() + id.0 as usize],
            _ => CORE_SCHEMAS
                .iter()
                .find(|s| s.kind == self)
                .expect("every OpKind has a schema"),
        }
    }
    pub fn name(self) -> &'static str {
        self.schema().name
    }
    pub fn from_name(name: &str) -> Option<OpKind> {
        schemas().iter().find(|s| s.name == name).map(|s| s.kind)
    }
    /// The family definition of an op defined in `crate::ops`.
    pub fn family(self) -> Option<&'static dyn crate::ops::OpFamily> {
        match self {
            OpKind::Family(id) => Some(id.def()),
            _ => None,
        }
    }
}

impl OpSchema {
    pub fn attr(&self, name: &str) -> Option<&AttrSpec> {
        self.attrs.iter().find(|a| a.name == name)
    }
    /// The smallest and largest operand count (`usize::MAX` for variadic).
    pub fn arity(&self) -> (usize, usize) {
        let n = self.operands.names.len();
        if self.operands.variadic {
            (n, usize::MAX)
        } else {
            (n - self.operands.optional, n)
        }
    }
    /// Attributes with their defaults filled in, in schema order.
    pub fn with_defaults(&self, attrs: &Attrs) -> Attrs {
        let mut out = attrs.clone();
        for spec in self.attrs {
            if let (Some(def), false) = (spec.default, attrs.contains_key(spec.name)) {
                out.insert(spec.name.to_string(), def());
            }
        }
        out
    }
}

/// An op instance: its kind and its attributes (defaults filled in).
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    pub kind: OpKind,
    pub attrs: Attrs,
}

impl Op {
    /// An op with the schema's defaults filled in.
    pub fn new(kind: OpKind, attrs: Attrs) -> Op {
        let attrs = kind.schema().with_defaults(&attrs);
        Op { kind, attrs }
    }
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.get(name)
    }
    pub fn int(&self, name: &str) -> Option<i64> {
        self.attr(name).and_then(Attr::as_int)
    }
    pub fn float(&self, name: &str) -> Option<f32> {
        self.attr(name).and_then(Attr::as_float)
    }
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.attr(name).and_then(Attr::as_bool)
    }
    pub fn ints(&self, name: &str) -> Option<&[i64]> {
        self.attr(name).and_then(Attr::as_ints)
    }
    pub fn floats(&self, name: &str) -> Option<&[f32]> {
        self.attr(name).and_then(Attr::as_floats)
    }
    pub fn str(&self, name: &str) -> Option<&str> {
        self.attr(name).and_then(Attr::as_str)
    }

    /// A schema-backed read: an attribute the schema declares with a default or as required,
    /// so it is present on any op built by [`Op::new`] and verified; its absence or another kind
    /// is an error naming both, never a restated default.
    fn declared<T>(&self, name: &str, get: impl Fn(&Attr) -> Option<T>) -> Result<T, String> {
        let spec = self.kind.schema().attr(name);
        match (self.attr(name), spec) {
            (_, None) => Err(format!(
                "{} declares no attribute `{name}`",
                self.kind.name()
            )),
            (Some(a), Some(spec)) => get(a).ok_or_else(|| {
                format!(
                    "{}: attribute `{name}` = {a} is not a {}",
                    self.kind.name(),
                    spec.kind.name()
                )
            }),
            (None, Some(_)) => Err(format!("{} has no attribute `{name}`", self.kind.name())),
        }
    }
    pub fn int_of(&self, name: &str) -> Result<i64, String> {
        self.declared(name, Attr::as_int)
    }
    pub fn float_of(&self, name: &str) -> Result<f32, String> {
        self.declared(name, Attr::as_float)
    }
    pub fn bool_of(&self, name: &str) -> Result<bool, String> {
        self.declared(name, Attr::as_bool)
    }
    pub fn ints_of(&self, name: &str) -> Result<Vec<i64>, String> {
        self.declared(name, |a| a.as_ints().map(<[i64]>::to_vec))
    }
    pub fn floats_of(&self, name: &str) -> Result<Vec<f32>, String> {
        self.declared(name, |a| a.as_floats().map(<[f32]>::to_vec))
    }
    pub fn str_of(&self, name: &str) -> Result<String, String> {
        self.declared(name, |a| a.as_str().map(str::to_string))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_resolve() {
        for s in schemas() {
            assert_eq!(OpKind::from_name(s.name), Some(s.kind));
            assert_eq!(s.kind.schema().name, s.name);
            for a in s.attrs {
                if let Some(d) = a.default {
                    assert_eq!(d().kind(), a.kind, "{}.{}", s.name, a.name);
                }
            }
        }
    }
}
