//! The test vocabulary: the compiler's op table as of writing, plus a `requantize` shaped the way
//! the integer ops are expected to look, so that quantization rules can be checked here.

/// (op, min operands, max operands, attributes)
const OPS: &[(&str, usize, usize, &[&str])] = &[
    (
        "conv2d",
        2,
        3,
        &[
            "strides",
            "pads",
            "dilations",
            "groups",
            "bn_gamma",
            "bn_beta",
        ],
    ),
    (
        "conv_transpose2d",
        2,
        3,
        &[
            "strides",
            "pads",
            "dilations",
            "groups",
            "output_padding",
            "bn_gamma",
            "bn_beta",
        ],
    ),
    ("batch_norm", 5, 5, &["epsilon"]),
    ("relu", 1, 1, &[]),
    ("clip", 1, 1, &["min", "max"]),
    ("leaky_relu", 1, 1, &["alpha"]),
    ("sigmoid", 1, 1, &[]),
    ("hard_sigmoid", 1, 1, &["alpha", "beta"]),
    ("hard_swish", 1, 1, &[]),
    ("add", 2, 2, &[]),
    ("sub", 2, 2, &[]),
    ("mul", 2, 2, &[]),
    ("div", 2, 2, &[]),
    (
        "max_pool",
        1,
        1,
        &["kernel_shape", "strides", "pads", "dilations", "ceil_mode"],
    ),
    (
        "avg_pool",
        1,
        1,
        &[
            "kernel_shape",
            "strides",
            "pads",
            "ceil_mode",
            "count_include_pad",
        ],
    ),
    ("global_avg_pool", 1, 1, &[]),
    ("reduce_mean", 1, 1, &["axes", "keepdims"]),
    ("flatten", 1, 1, &["axis"]),
    ("reshape", 1, 1, &["shape"]),
    ("squeeze", 1, 1, &["axes"]),
    ("unsqueeze", 1, 1, &["axes"]),
    ("transpose", 1, 1, &["perm"]),
    ("concat", 1, usize::MAX, &["axis"]),
    ("pad", 1, 1, &["pads", "value"]),
    (
        "gemm",
        2,
        3,
        &["alpha", "beta", "trans_a", "trans_b", "bn_gamma", "bn_beta"],
    ),
    ("matmul", 2, 2, &[]),
    ("unary", 1, 1, &["fn", "params"]),
    ("softmax", 1, 1, &["axis"]),
    ("quantize", 1, 1, &[]),
    ("dequantize", 1, 1, &[]),
    ("requantize", 1, 1, &["multiplier", "shift", "lo", "hi"]),
];

pub struct TestVocab;

impl dsl::Vocabulary for TestVocab {
    fn op_arity(&self, op: &str) -> Option<(usize, usize)> {
        OPS.iter().find(|o| o.0 == op).map(|o| (o.1, o.2))
    }
    fn has_attr(&self, op: &str, attr: &str) -> bool {
        OPS.iter().any(|o| o.0 == op && o.3.contains(&attr))
    }
}
