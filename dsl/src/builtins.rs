//! The builtin functions of the rule language: the one table the checker, the docs and the
//! compiler's evaluator agree on. Ops are not here: they come from the compiler's vocabulary.

/// How a builtin reads its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// Values: a pattern operand given here must be declared `const(…)`.
    Value,
    /// Facts about a value's type (shape, rank, dtype, quantization): any operand may be given,
    /// constant or not.
    Meta,
    /// Names of pattern operands, nothing else (`const`, `single_use`).
    Operand,
}

/// One builtin function.
#[derive(Clone, Copy, Debug)]
pub struct Builtin {
    pub name: &'static str,
    pub min_args: usize,
    /// `usize::MAX`: any number.
    pub max_args: usize,
    pub args: ArgKind,
    /// A predicate that only makes sense in a `where` guard.
    pub guard_only: bool,
    pub doc: &'static str,
}

const fn b(name: &'static str, n: usize, args: ArgKind, doc: &'static str) -> Builtin {
    Builtin {
        name,
        min_args: n,
        max_args: n,
        args,
        guard_only: false,
        doc,
    }
}

/// Every builtin, in the order the docs list them.
pub static BUILTINS: &[Builtin] = &[
    Builtin { name: "const", min_args: 1, max_args: usize::MAX, args: ArgKind::Operand, guard_only: true,
        doc: "every operand named is a constant (a weight or a folded expression)" },
    Builtin { name: "single_use", min_args: 1, max_args: 1, args: ArgKind::Operand, guard_only: true,
        doc: "the value has exactly one user (so rewriting it does not duplicate work)" },
    b("rank", 1, ArgKind::Meta, "number of dimensions"),
    b("shape", 1, ArgKind::Meta, "the dimensions, as a list of integers"),
    b("dtype", 1, ArgKind::Meta, "the element type: f32, i8, u8 or i32 (a quantized type's storage type)"),
    b("scale", 1, ArgKind::Meta, "quantization scale: a number, or a vector along `axis` when per axis"),
    b("zero_point", 1, ArgKind::Meta, "quantization zero point: an integer, or a vector along `axis`"),
    b("axis", 1, ArgKind::Meta, "quantization axis, -1 when per tensor"),
    b("qmin", 1, ArgKind::Meta, "smallest value of the storage type (0 for u8, -128 for i8)"),
    b("qmax", 1, ArgKind::Meta, "largest value of the storage type (255 for u8, 127 for i8)"),
    b("codes", 1, ArgKind::Meta, "every code of the value's storage type, in order: [0, 1, …, 255] for u8, [-128, …, 127] for i8 (the index of a lookup table)"),
    b("len", 1, ArgKind::Value, "number of elements of a list or vector"),
    b("all", 1, ArgKind::Value, "every element is true"),
    b("any", 1, ArgKind::Value, "some element is true"),
    b("round", 1, ArgKind::Value, "round to nearest, ties to even (as `quantize` rounds)"),
    b("floor", 1, ArgKind::Value, "round down"),
    b("abs", 1, ArgKind::Value, "absolute value"),
    b("sqrt", 1, ArgKind::Value, "square root"),
    b("exp", 1, ArgKind::Value, "e to the power"),
    b("unary_fn", 3, ArgKind::Value,
        "unary_fn(f, p, v): the `unary` op's function named f with parameters p (empty: its defaults), evaluated in f32 at every element of v (a NaN result gives 0, which quantizes to the zero point as NaN does)"),
    b("sum", 2, ArgKind::Value, "sum(v, axes): the sum over the listed axes, which disappear (`sum(w, [1, 2, 3])` of a conv weight is one number per output channel)"),
    b("reshape", 2, ArgKind::Value, "reshape(v, s): the elements of v in order, with shape s; product(s) = len(v)"),
    b("transpose", 2, ArgKind::Value, "transpose(v, p): axis i of the result is axis p[i] of v; p is a permutation of 0..rank(v)"),
    b("matmul", 2, ArgKind::Value, "matmul(a, b): matrix product of [m, k] and [k, n] → [m, n]; a vector is a row on the left, a column on the right, and its axis is dropped ([m, k]·[k] → [m])"),
    Builtin { name: "concat", min_args: 2, max_args: usize::MAX, args: ArgKind::Value, guard_only: false,
        doc: "concat(axis, a, b, …): joined along `axis`; every other dimension must agree" },
    b("slice", 4, ArgKind::Value, "slice(v, axis, start, end): indices start..end (end excluded) along `axis`; 0 ≤ start ≤ end ≤ the axis's length"),
    b("squeeze", 2, ArgKind::Value, "squeeze(v, axes): the listed axes, each of size 1, removed"),
    b("unsqueeze", 2, ArgKind::Value, "unsqueeze(v, axes): size-1 axes inserted so they sit at the listed positions of the result"),
    b("move_axis", 3, ArgKind::Value, "move_axis(r, a, b): the permutation of 0..r that moves axis a to position b (negative: from the end), the others keeping their order (`transpose(x) {perm: move_axis(rank(x), 1, rank(x) - 1)}` makes the channels last; `move_axis(r, b, a)` undoes it)"),
    b("min", 2, ArgKind::Value, "element-wise minimum"),
    b("max", 2, ArgKind::Value, "element-wise maximum"),
    b("clamp", 3, ArgKind::Value, "clamp(v, lo, hi) = min(max(v, lo), hi)"),
    b("lookup", 2, ArgKind::Value, "lookup(t, i): t[i] at every element of the integers i, for a vector t and 0 ≤ i < len(t) (one lookup table read through another)"),
    b("fixed_point_multiplier", 1, ArgKind::Value,
        "for a real m > 0 written m = M0·2^shift with M0 in [0.5, 1): round(M0·2^31) as i32"),
    b("fixed_point_shift", 1, ArgKind::Value, "the `shift` of that decomposition (positive: shift left)"),
];

/// The builtin of that name.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}
