//! The index, mask and integer kernels (gather, gather_elements, expand, where, compare, logic,
//! not, cast, mod, arg_max/arg_min) on random shapes, axes, index values and element types
//! (f32, i8/u8 codes, i32, i64, bool; row-major and channels-last), each library bit-exact with
//! the interpreter on x86-64-v2 and native, every thread count and a pool.

use super::support::{assert_exact, build};
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use qcc::diag::Source;
use qcc::ir::Model;
use runtime::Tensor;

fn parse(text: &str) -> Model {
    let source = Source {
        name: "index.ir".into(),
        text: text.to_string(),
    };
    let m = qcc::ir::parse::parse(&source).unwrap_or_else(|e| panic!("{e}\n{text}"));
    qcc::ir::verify::verify_or_error(&m, Some(&source)).unwrap_or_else(|e| panic!("{e}\n{text}"));
    m
}

/// `tensor<AxBxE>` (`tensor<E>` for a scalar).
fn ty(shape: &[usize], elem: &str) -> String {
    if shape.is_empty() {
        return format!("tensor<{elem}>");
    }
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("tensor<{}x{elem}>", dims.join("x"))
}

/// Deterministic values in [-3, 3) with a few repeats (ties for arg_max), from `seed`.
fn values(shape: &[usize], seed: u64) -> ArrayD<f32> {
    super::support::stepped_values(shape, seed, 24)
}

fn check(model: &Model, inputs: &[ArrayD<f32>]) {
    let x: Vec<Tensor> = inputs.iter().cloned().map(Tensor::F32).collect();
    for target in ["x86-64-v2", "native"] {
        let lib = build(model, target);
        assert_exact(
            &format!("{target}\n{}", qcc::ir::print::print(model)),
            model,
            &lib,
            &x,
        );
    }
}

/// How the data reaches the op and leaves it: f32 as it is, codes through quantize/dequantize,
/// integers through casts.
#[derive(Clone, Copy, Debug)]
enum Data {
    F32,
    I8,
    U8,
    I32,
    I64,
}

fn data() -> impl Strategy<Value = Data> {
    prop_oneof![
        Just(Data::F32),
        Just(Data::I8),
        Just(Data::U8),
        Just(Data::I32),
        Just(Data::I64)
    ]
}

impl Data {
    fn elem(self) -> &'static str {
        match self {
            Data::F32 => "f32",
            Data::I8 => "!quant<i8, 0.0625, 3>",
            Data::U8 => "!quant<u8, 0.0625, 128>",
            Data::I32 => "i32",
            Data::I64 => "i64",
        }
    }
    /// Lines making `%d` of this type from `%x`, and the op turning `%g` back into f32.
    fn wrap(self, shape: &[usize]) -> String {
        let t = ty(shape, self.elem());
        match self {
            Data::F32 => format!("  %d = relu(%x) : {t}\n"),
            Data::I8 | Data::U8 => format!("  %d = quantize(%x) : {t}\n"),
            Data::I32 => format!("  %d = cast(%x) {{to = \"i32\"}} : {t}\n"),
            Data::I64 => format!("  %d = cast(%x) {{to = \"i64\"}} : {t}\n"),
        }
    }
    fn unwrap(self, shape: &[usize]) -> String {
        let t = ty(shape, "f32");
        match self {
            Data::I8 | Data::U8 => format!("  %y = dequantize(%g) : {t}\n"),
            _ => format!("  %y = cast(%g) {{to = \"f32\"}} : {t}\n"),
        }
    }
}

fn shape(max_rank: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..5, 1..=max_rank)
}

/// Shape `s` with some axes set to 1 and some leading axes dropped (one that broadcasts to `s`).
fn broadcast_of(s: &[usize], ones: u32, drop: usize) -> Vec<usize> {
    let drop = drop % (s.len() + 1);
    s[drop..]
        .iter()
        .enumerate()
        .map(|(i, &d)| if ones >> i & 1 == 1 { 1 } else { d })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20, ..ProptestConfig::default() })]

    /// Gather along any axis by indices of any rank (a scalar too), constant (i32 or i64,
    /// negative ones included) or computed at run time (a cast of an input).
    #[test]
    fn gather_equals_the_interpreter(
        dims in shape(4), axis in 0usize..4, ishape in prop::collection::vec(1usize..4, 0..3),
        d in data(), i64_idx in any::<bool>(), run_time in any::<bool>(), seed in any::<u64>(),
    ) {
        let axis = axis % dims.len();
        let len = dims[axis];
        let n: usize = ishape.iter().product();
        let idx: Vec<i64> = (0..n).map(|j| ((seed >> (j % 48)) as i64).wrapping_add(j as i64 * 7).rem_euclid(2 * len as i64) - len as i64).collect();
        let mut out = dims[..axis].to_vec();
        out.extend_from_slice(&ishape);
        out.extend_from_slice(&dims[axis + 1..]);
        let it = if i64_idx { "i64" } else { "i32" };
        let mut text = String::from("model @g {\n");
        let mut inputs = vec![values(&dims, seed)];
        if run_time {
            text += &format!("  %xi = input : {}\n", ty(&ishape, "f32"));
            text += &format!("  %i = cast(%xi) {{to = \"{it}\"}} : {}\n", ty(&ishape, it));
            let v: Vec<f32> = idx.iter().map(|&v| v as f32).collect();
            inputs.push(ArrayD::from_shape_vec(IxDyn(&ishape), v).unwrap());
        } else {
            let v: Vec<String> = idx.iter().map(|v| v.to_string()).collect();
            text += &format!("  weight @i : {} = dense<[{}]>\n", ty(&ishape, it), v.join(", "));
        }
        let i = if run_time { "%i" } else { "@i" };
        text += &format!("  %x = input : {}\n", ty(&dims, "f32"));
        text += &d.wrap(&dims);
        text += &format!("  %g = gather(%d, {i}) {{axis = {axis}}} : {}\n", ty(&out, d.elem()));
        text += &d.unwrap(&out);
        text += "  return %y\n}\n";
        // Inputs in the order the model declares them.
        if run_time {
            inputs.swap(0, 1);
        }
        check(&parse(&text), &inputs);
    }

    /// GatherElements along any axis, indices no larger than the data on the other axes.
    #[test]
    fn gather_elements_equals_the_interpreter(
        dims in shape(4), axis in 0usize..4, shrink in any::<u32>(), d in data(), seed in any::<u64>(),
    ) {
        let axis = axis % dims.len();
        let len = dims[axis] as i64;
        let ishape: Vec<usize> = dims.iter().enumerate().map(|(a, &v)| {
            if a == axis { 1 + (shrink as usize >> 8) % 4 } else { 1 + (shrink as usize >> a) % v }
        }).collect();
        let n: usize = ishape.iter().product();
        let idx: Vec<String> = (0..n).map(|j| (((seed >> (j % 40)) as i64).rem_euclid(2 * len) - len).to_string()).collect();
        let text = format!(
            "model @ge {{\n  weight @i : {} = dense<[{}]>\n  %x = input : {}\n{}  %g = gather_elements(%d, @i) {{axis = {axis}}} : {}\n{}  return %y\n}}\n",
            ty(&ishape, "i64"), idx.join(", "), ty(&dims, "f32"), d.wrap(&dims),
            ty(&ishape, d.elem()), d.unwrap(&ishape),
        );
        check(&parse(&text), &[values(&dims, seed)]);
    }

    /// A mask from a comparison of two broadcast inputs, combined with its negation, selecting
    /// between an input and an expanded one; the values f32 or i64.
    #[test]
    fn where_and_expand_broadcast(
        s in shape(4), ones in any::<(u32, u32, u32)>(), drops in any::<(usize, usize, usize)>(),
        cmp in 0usize..5, logic in 0usize..3, ints in any::<bool>(), seed in any::<u64>(),
    ) {
        let a = broadcast_of(&s, ones.0, drops.0);
        let b = broadcast_of(&s, ones.1, drops.1);
        let e = broadcast_of(&s, ones.2, drops.2);
        let (f, l) = (
            ["equal", "less", "greater", "less_or_equal", "greater_or_equal"][cmp],
            ["and", "or", "xor"][logic],
        );
        let elem = if ints { "i64" } else { "f32" };
        let val = |n: &str, sh: &[usize]| if ints {
            format!("  %{n} = cast(%{n}f) {{to = \"i64\"}} : {}\n", ty(sh, "i64"))
        } else {
            format!("  %{n} = relu(%{n}f) : {}\n", ty(sh, "f32"))
        };
        let mut text = String::from("model @w {\n");
        text += &format!("  %af = input : {}\n  %bf = input : {}\n  %ef = input : {}\n",
            ty(&a, "f32"), ty(&b, "f32"), ty(&e, "f32"));
        text += &val("a", &a);
        text += &val("b", &b);
        text += &val("e", &e);
        let ab = qcc_broadcast(&a, &b);
        text += &format!("  %c = compare(%a, %b) {{fn = \"{f}\"}} : {}\n", ty(&ab, "bool"));
        text += &format!("  %n = not(%c) : {}\n", ty(&ab, "bool"));
        text += &format!("  %k = compare(%b, %a) {{fn = \"less\"}} : {}\n", ty(&ab, "bool"));
        text += &format!("  %m = logic(%n, %k) {{fn = \"{l}\"}} : {}\n", ty(&ab, "bool"));
        let dims: Vec<String> = s.iter().map(|d| d.to_string()).collect();
        text += &format!("  %x = expand(%e) {{shape = [{}]}} : {}\n", dims.join(", "), ty(&s, elem));
        let out = qcc_broadcast(&ab, &s);
        text += &format!("  %g = where(%m, %x, %a) : {}\n", ty(&out, elem));
        text += &format!("  %y = cast(%g) {{to = \"f32\"}} : {}\n", ty(&out, "f32"));
        text += "  return %y\n}\n";
        check(&parse(&text), &[values(&a, seed), values(&b, seed ^ 1), values(&e, seed ^ 2)]);
    }

    /// ArgMax/ArgMin along any axis with and without keepdims and select_last_index, on f32
    /// (ties from repeated values) and on i64.
    #[test]
    fn arg_extremes_equal_the_interpreter(
        dims in shape(4), axis in 0usize..4, max in any::<bool>(), keep in any::<bool>(),
        last in any::<bool>(), ints in any::<bool>(), seed in any::<u64>(),
    ) {
        let axis = axis % dims.len();
        let mut out = dims.clone();
        if keep { out[axis] = 1 } else { out.remove(axis); }
        let op = if max { "arg_max" } else { "arg_min" };
        let (elem, make) = if ints {
            ("i64", "cast(%x) {to = \"i64\"}")
        } else {
            ("f32", "relu(%x)")
        };
        let text = format!(
            "model @a {{\n  %x = input : {}\n  %d = {make} : {}\n  %g = {op}(%d) {{axis = {axis}, keepdims = {keep}, select_last_index = {last}}} : {}\n  %y = cast(%g) {{to = \"f32\"}} : {}\n  return %y\n}}\n",
            ty(&dims, "f32"), ty(&dims, elem), ty(&out, "i64"), ty(&out, "f32"),
        );
        check(&parse(&text), &[values(&dims, seed)]);
    }
}

/// The broadcast shape of two shapes (numpy).
fn qcc_broadcast(a: &[usize], b: &[usize]) -> Vec<usize> {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            let p = if i + a.len() >= n {
                a[i + a.len() - n]
            } else {
                1
            };
            let q = if i + b.len() >= n {
                b[i + b.len() - n]
            } else {
                1
            };
            p.max(q)
        })
        .collect()
}

/// Every cast between the types a library holds, on floats that round, saturate and are not
/// numbers, and integers that wrap when narrowed; and mod (both signs, fmod on floats with a
/// zero divisor).
#[test]
fn casts_and_mod_equal_the_interpreter() {
    let special = [
        0.0f32,
        -0.0,
        0.5,
        -0.5,
        1.5,
        2.5,
        -2.5,
        127.4,
        127.6,
        -128.6,
        255.5,
        256.0,
        300.7,
        -300.2,
        65535.9,
        1e10,
        -1e10,
        3e9,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MIN_POSITIVE,
        9.3e18,
        -9.3e18,
        16777217.0,
        1e-40,
    ];
    let n = special.len();
    let x = ArrayD::from_shape_vec(IxDyn(&[n]), special.to_vec()).unwrap();
    let types = ["f32", "i8", "u8", "i32", "i64", "bool"];
    for from in types {
        for to in types {
            let first = if from == "f32" {
                "  %a = relu(%x) : tensor<Nxf32>\n".to_string()
            } else {
                format!("  %a = cast(%x) {{to = \"{from}\"}} : tensor<Nx{from}>\n")
            };
            let text = format!(
                "model @c {{\n  %x = input : tensor<Nxf32>\n{first}  %b = cast(%a) {{to = \"{to}\"}} : tensor<Nx{to}>\n  %y = cast(%b) {{to = \"f32\"}} : tensor<Nxf32>\n  return %y\n}}\n"
            )
            .replace("tensor<N", &format!("tensor<{n}"));
            // relu(x) is not x for negatives and NaN: cast straight from the input too.
            let text = text.replace("  %a = relu(%x) : ", "  %a = cast(%x) {to = \"f32\"} : ");
            check(&parse(&text), std::slice::from_ref(&x));
        }
    }
    // Mod on every integer type and fmod on f32, dividends and divisors of both signs
    // (−1 included); fmod by zero and of infinities gives NaN as the interpreter does.
    let a: Vec<f32> = (0..24).map(|i| (i as f32 - 12.0) * 5.5).collect();
    let b: Vec<f32> = [3.0, -3.0, 7.0, -1.0, 1.0, -7.0].to_vec();
    let xa = ArrayD::from_shape_vec(IxDyn(&[4, 6]), a).unwrap();
    let xb = ArrayD::from_shape_vec(IxDyn(&[6]), b).unwrap();
    for t in ["i8", "u8", "i32", "i64"] {
        for fmod in [false, true] {
            let text = format!(
                "model @m {{\n  %p = input : tensor<4x6xf32>\n  %q = input : tensor<6xf32>\n  %a = cast(%p) {{to = \"{t}\"}} : tensor<4x6x{t}>\n  %b = cast(%q) {{to = \"{t}\"}} : tensor<6x{t}>\n  %g = mod(%a, %b) {{fmod = {fmod}}} : tensor<4x6x{t}>\n  %y = cast(%g) {{to = \"f32\"}} : tensor<4x6xf32>\n  return %y\n}}\n"
            );
            let xb = if t == "u8" {
                xb.mapv(f32::abs)
            } else {
                xb.clone()
            };
            check(&parse(&text), &[xa.clone(), xb]);
        }
    }
    let fa = ArrayD::from_shape_vec(IxDyn(&[n]), special.to_vec()).unwrap();
    let fb = fa.mapv(|v| if v.is_finite() { v * 0.37 - 1.0 } else { 0.0 });
    let text = format!(
        "model @f {{\n  %a = input : tensor<{n}xf32>\n  %b = input : tensor<{n}xf32>\n  %y = mod(%a, %b) {{fmod = true}} : tensor<{n}xf32>\n  return %y\n}}\n"
    );
    check(&parse(&text), &[fa, fb]);
}

/// What the interpreter refuses, a library computes as docs/ir.md defines, reading nothing
/// outside its buffers: an index beyond the axis is clamped to its nearest end, a remainder by
/// zero is 0.
#[test]
fn refused_data_has_a_defined_result() {
    let text = "model @r {
  %x = input : tensor<3xf32>
  %k = input : tensor<4xf32>
  %i = cast(%k) {to = \"i64\"} : tensor<4xi64>
  %g = gather(%x, %i) {axis = 0} : tensor<4xf32>
  %j = cast(%x) {to = \"i32\"} : tensor<3xi32>
  %z = cast(%k) {to = \"i32\"} : tensor<4xi32>
  %s = slice(%z) {starts = [0], ends = [3], axes = [0], steps = [1]} : tensor<3xi32>
  %m = mod(%j, %s) {fmod = false} : tensor<3xi32>
  %y = cast(%m) {to = \"f32\"} : tensor<3xf32>
  return %g, %y
}
";
    let model = parse(text);
    let x = ArrayD::from_shape_vec(IxDyn(&[3]), vec![10.0f32, 20.0, 30.0]).unwrap();
    let k = ArrayD::from_shape_vec(IxDyn(&[4]), vec![5.0f32, -9.0, 0.0, -1.0]).unwrap();
    let lib = build(&model, "native");
    let out = lib.run(&[Tensor::F32(x), Tensor::F32(k)], 0xA5);
    assert_eq!(out[0], vec![30.0, 10.0, 10.0, 30.0]);
    // 10 mod 5, 20 mod −9 (the divisor's sign), 30 mod 0.
    assert_eq!(out[1], vec![0.0, -7.0, 0.0]);
}

/// Constant masks and indices (bool and i64 weights) are tables in the object, laid out as the
/// values would be in the arena (channels-last at rank 4).
#[test]
fn constant_masks_and_indices_are_read_from_tables() {
    let text = "model @t {
  weight @c : tensor<1x2x1x3xbool> = dense<[1, 0, 0, 0, 1, 1]>
  weight @k : tensor<1x2x2x3xi64> = dense<[5, -6, 7, 8, 9, -10, 11, 12, -13, 14, 15, 16]>
  weight @i : tensor<2xi32> = dense<[-1, 0]>
  %x = input : tensor<1x2x2x3xf32>
  %a = cast(%x) {to = \"i64\"} : tensor<1x2x2x3xi64>
  %w = where(@c, %a, @k) : tensor<1x2x2x3xi64>
  %g = gather(%w, @i) {axis = 1} : tensor<1x2x2x3xi64>
  %y = cast(%g) {to = \"f32\"} : tensor<1x2x2x3xf32>
  return %y
}
";
    let x = values(&[1, 2, 2, 3], 5).mapv(|v| v * 4.0);
    check(&parse(text), &[x]);
}
