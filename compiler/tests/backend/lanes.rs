//! The vectorized elementwise and pooling kernels (16 codes per block, a scalar tail) and the
//! unrolled lookup tables: random lengths, channel counts, windows, scales, zero points and
//! tables, for quantize, dequantize (row-major and channels-last codes), requantize, qadd, qmul
//! (also against one code per image and channel, as squeeze-and-excitation multiplies), lut,
//! the average pool and global average pool, max and min of codes along a row, reshapes of
//! codes between channels-last and row-major, transposes of codes, f32 add/sub/mul/div (also broadcast per channel and
//! per column), compare (f32 and i32) and cast to f32, compiled for each target and compared bit
//! for bit with the interpreter, ties, NaN and ±∞ among the inputs.

use super::support::{assert_exact, build};
use proptest::prelude::*;
use qcc::diag::Source;
use runtime::ops::geometry::axis_windows;
use runtime::qops::{AddParams, MulParams};
use runtime::Tensor;

#[derive(Clone, Debug)]
struct Q {
    scale: f32,
    zp: i32,
}

impl Q {
    fn u8(&self) -> String {
        format!("!quant<u8, {:?}, {}>", self.scale, self.zp)
    }
    fn i8(&self) -> String {
        format!("!quant<i8, {:?}, {}>", self.scale, self.zp - 128)
    }
}

#[derive(Clone, Debug)]
struct Case {
    /// The flat input `[1, len]`.
    len: usize,
    /// The image input `[n, c, h, w]`.
    nchw: [usize; 4],
    /// Quantizations: two inputs, then results.
    q: [Q; 6],
    /// Clamp of the arithmetic results (a fused ReLU6 or none).
    lo: i32,
    hi: i32,
    /// A requantize's multiplier and shift.
    requant: (i32, i32),
    /// Average pool: kernel, strides, pads (top, left), ceil mode, count_include_pad.
    pool: ([usize; 2], [usize; 2], [usize; 2], bool, bool),
    seed: u64,
}

fn quant() -> impl Strategy<Value = Q> {
    (0.002f32..0.1, 0i32..256).prop_map(|(scale, zp)| Q { scale, zp })
}

fn case() -> impl Strategy<Value = Case> {
    (
        1usize..100,
        (1usize..3, 1usize..41, 1usize..6, 1usize..36),
        prop::array::uniform6(quant()),
        (0i32..40, 200i32..256),
        (1i32 << 30..i32::MAX, -31i32..31),
        (
            (1usize..4, 1usize..4),
            (1usize..3, 1usize..3),
            (0usize..2, 0usize..2),
            any::<bool>(),
            any::<bool>(),
        ),
        any::<u64>(),
    )
        .prop_map(|(len, (n, c, h, w), q, (lo, hi), requant, pool, seed)| {
            let ((kh, kw), (sh, sw), (ph, pw), ceil, include) = pool;
            // ONNX wants pads smaller than the kernel.
            let pads = [ph.min(kh - 1), pw.min(kw - 1)];
            Case {
                len,
                nchw: [n, c, h.max(kh), w.max(kw)],
                q,
                lo,
                hi,
                requant,
                pool: ([kh, kw], [sh, sw], pads, ceil, include),
                seed,
            }
        })
}

fn shape(s: &[usize]) -> String {
    s.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

/// The model: every kernel with a vector path, each result dequantized to an output.
fn model_text(c: &Case) -> String {
    let [a, b, y, m, r, p] = &c.q;
    let flat = shape(&[1, c.len]);
    let img = shape(&c.nchw);
    let [n, ch, h, w] = c.nchw;
    let (k, s, pads, ceil, include) = c.pool;
    let pooled = |axis: usize, len: usize| {
        let pad = (pads[axis], pads[axis]);
        axis_windows("test", len, k[axis], s[axis], pad, 1, ceil).len()
    };
    let pool_shape = shape(&[n, ch, pooled(0, h), pooled(1, w)]);
    // qadd and qmul attributes for operands of parameters `qa` and `qb` and a result of `qy`.
    let add_attrs_of = |qa: &Q, qb: &Q, qy: &Q| {
        let add = AddParams::from_scales(
            (qa.scale, qa.zp),
            (qb.scale, qb.zp),
            (qy.scale, qy.zp),
            c.lo,
            c.hi,
        )
        .expect("qadd parameters");
        format!(
            "a_multiplier = {}, a_shift = {}, b_multiplier = {}, b_shift = {}, multiplier = {}, shift = {}, lo = {}, hi = {}",
            add.a_multiplier,
            add.a_shift,
            add.b_multiplier,
            add.b_shift,
            add.out.multiplier[0],
            add.out.shift[0],
            c.lo,
            c.hi
        )
    };
    let mul_attrs_of = |qa: &Q, qb: &Q, qy: &Q| {
        let mul = MulParams::from_scales(
            (qa.scale, qa.zp),
            (qb.scale, qb.zp),
            (qy.scale, qy.zp),
            c.lo,
            c.hi,
        )
        .expect("qmul parameters");
        format!(
            "multiplier = [{}], shift = [{}], lo = {}, hi = {}",
            mul.out.multiplier[0], mul.out.shift[0], c.lo, c.hi
        )
    };
    let (add_attrs, mul_attrs) = (add_attrs_of(a, b, y), mul_attrs_of(a, b, m));
    // The squeeze-and-excitation forms: an image against one code per (image, channel).
    let (se_add_attrs, se_mul_attrs) = (add_attrs_of(a, p, y), mul_attrs_of(p, a, m));
    let (rm, rs) = c.requant;
    let rq =
        |lo: i32, hi: i32| format!("multiplier = [{rm}], shift = [{rs}], lo = {lo}, hi = {hi}");
    let pool_attrs = format!(
        "kernel_shape = [{}, {}], strides = [{}, {}], pads = [{}, {}, {}, {}], ceil_mode = {ceil}, count_include_pad = {include}",
        k[0], k[1], s[0], s[1], pads[0], pads[1], pads[0], pads[1]
    );
    // An i32 operand comes from a weight: no op makes one from an input here.
    let acc: Vec<String> = (0..c.len)
        .map(|i| {
            ((i as i64 * 2_654_435_761 + c.seed as i64 % 1000) % 200_001 - 100_000).to_string()
        })
        .collect();
    // Tables that no arithmetic pattern could pass for: the seed's bytes mixed per entry.
    let table = |lo: i64| {
        let t: Vec<String> = (0..256u64)
            .map(|i| ((i.wrapping_mul(c.seed | 1) >> 7) % 256) as i64 + lo)
            .map(|v| v.to_string())
            .collect();
        format!("table = [{}]", t.join(", "))
    };
    let ops = [
        ("qa", format!("quantize(%x) : tensor<{flat}x{}>", a.u8())),
        ("qb", format!("quantize(%z) : tensor<{flat}x{}>", b.u8())),
        ("qi", format!("quantize(%x) : tensor<{flat}x{}>", a.i8())),
        (
            "add",
            format!("qadd(%qa, %qb) {{{add_attrs}}} : tensor<{flat}x{}>", y.u8()),
        ),
        (
            "mul",
            format!("qmul(%qa, %qb) {{{mul_attrs}}} : tensor<{flat}x{}>", m.u8()),
        ),
        (
            "ru",
            format!(
                "requantize(%qa) {{{}}} : tensor<{flat}x{}>",
                rq(c.lo, c.hi),
                r.u8()
            ),
        ),
        (
            "ri",
            format!(
                "requantize(%qa) {{{}}} : tensor<{flat}x{}>",
                rq(-100, 100),
                r.i8()
            ),
        ),
        (
            "rs",
            format!(
                "requantize(%qi) {{{}}} : tensor<{flat}x{}>",
                rq(0, 255),
                r.u8()
            ),
        ),
        (
            "rw",
            format!(
                "requantize(@acc) {{{}}} : tensor<{flat}x{}>",
                rq(0, 255),
                r.u8()
            ),
        ),
        (
            "lu",
            format!("lut(%qa) {{{}}} : tensor<{flat}x{}>", table(0), r.u8()),
        ),
        (
            "li",
            format!("lut(%qi) {{{}}} : tensor<{flat}x{}>", table(-128), r.i8()),
        ),
        (
            "rmax",
            format!(
                "reduce(%qa) {{fn = \"max\", axes = [1], keepdims = true}} : tensor<1x1x{}>",
                a.u8()
            ),
        ),
        (
            "rmin",
            format!(
                "reduce(%qi) {{fn = \"min\", axes = [1], keepdims = false}} : tensor<1x{}>",
                a.i8()
            ),
        ),
        ("ia", format!("quantize(%img) : tensor<{img}x{}>", a.u8())),
        ("ib", format!("quantize(%img2) : tensor<{img}x{}>", b.u8())),
        (
            "iadd",
            format!("qadd(%ia, %ib) {{{add_attrs}}} : tensor<{img}x{}>", y.u8()),
        ),
        (
            "imul",
            format!("qmul(%ia, %ib) {{{mul_attrs}}} : tensor<{img}x{}>", m.u8()),
        ),
        (
            "pool",
            format!(
                "qavg_pool(%ia) {{{pool_attrs}}} : tensor<{pool_shape}x{}>",
                p.u8()
            ),
        ),
        (
            "gap",
            format!(
                "qglobal_avg_pool(%ib) : tensor<{}x{}>",
                shape(&[n, ch, 1, 1]),
                p.u8()
            ),
        ),
        // Channels-last codes to row-major and back (a detector head's reshape).
        (
            "rows",
            format!(
                "reshape(%ia) {{shape = [{n}, {ch}, {}]}} : tensor<{}x{}>",
                h * w,
                shape(&[n, ch, h * w]),
                a.u8()
            ),
        ),
        (
            "back",
            format!(
                "reshape(%rows) {{shape = [{n}, {}, {w}, {h}]}} : tensor<{}x{}>",
                ch,
                shape(&[n, ch, w, h]),
                a.u8()
            ),
        ),
        (
            "tr",
            format!(
                "transpose(%rows) {{perm = [0, 2, 1]}} : tensor<{}x{}>",
                shape(&[n, h * w, ch]),
                a.u8()
            ),
        ),
        (
            "tr4",
            format!(
                "transpose(%ia) {{perm = [0, 2, 1, 3]}} : tensor<{}x{}>",
                shape(&[n, h, ch, w]),
                a.u8()
            ),
        ),
        (
            "seadd",
            format!(
                "qadd(%ia, %gap) {{{se_add_attrs}}} : tensor<{img}x{}>",
                y.u8()
            ),
        ),
        (
            "semul",
            format!(
                "qmul(%gap, %ia) {{{se_mul_attrs}}} : tensor<{img}x{}>",
                m.u8()
            ),
        ),
    ];
    // Plain values: f32 arithmetic (one operand per channel or per column, broadcast), i32
    // from a cast, comparisons, and casts of their masks back to f32.
    let chan = shape(&[1, ch, 1, 1]);
    let col = shape(&[1, 1, 1, w]);
    let values = |n: usize, k: i64| -> String {
        let v: Vec<String> = (0..n as i64)
            .map(|i| {
                format!(
                    "{:?}",
                    ((i * 37 + k + c.seed as i64 % 11) % 19 - 9) as f32 * 0.25
                )
            })
            .collect();
        v.join(", ")
    };
    let thresholds: Vec<String> = (0..w as i64).map(|i| (i % 5 - 2).to_string()).collect();
    let plain = [
        ("fadd", format!("add(%img, @chan) : tensor<{img}xf32>")),
        ("fsub", format!("sub(@col, %img2) : tensor<{img}xf32>")),
        ("fmul", format!("mul(%x, %z) : tensor<{flat}xf32>")),
        ("fdiv", format!("div(%img, %img2) : tensor<{img}xf32>")),
        (
            "ii",
            format!("cast(%img) {{to = \"i32\"}} : tensor<{img}xi32>"),
        ),
        (
            "iif",
            format!("cast(%ii) {{to = \"f32\"}} : tensor<{img}xf32>"),
        ),
        (
            "ic",
            format!("compare(%ii, @thr) {{fn = \"greater_or_equal\"}} : tensor<{img}xbool>"),
        ),
        (
            "icf",
            format!("cast(%ic) {{to = \"f32\"}} : tensor<{img}xf32>"),
        ),
        (
            "fc",
            format!("compare(%img, %img2) {{fn = \"less\"}} : tensor<{img}xbool>"),
        ),
        (
            "fcf",
            format!("cast(%fc) {{to = \"f32\"}} : tensor<{img}xf32>"),
        ),
    ];
    let mut text = format!(
        "model @lanes {{\n  weight @acc : tensor<{flat}x!quant<i32, 1.0, 7>> = dense<[{}]>\n  weight @chan : tensor<{chan}xf32> = dense<[{}]>\n  weight @col : tensor<{col}xf32> = dense<[{}]>\n  weight @thr : tensor<{col}xi32> = dense<[{}]>\n  %x = input : tensor<{flat}xf32>\n  %z = input : tensor<{flat}xf32>\n  %img = input : tensor<{img}xf32>\n  %img2 = input : tensor<{img}xf32>\n",
        acc.join(", "),
        values(ch, 1),
        values(w, 2),
        thresholds.join(", ")
    );
    let mut outs = Vec::new();
    for (name, op) in &ops {
        text += &format!("  %{name} = {op}\n");
        let ty = op.rsplit_once(" : tensor<").expect("a type").1;
        let dims = ty.split("x!").next().expect("a shape");
        text += &format!("  %o_{name} = dequantize(%{name}) : tensor<{dims}xf32>\n");
        outs.push(format!("%o_{name}"));
    }
    for (name, op) in &plain {
        text += &format!("  %{name} = {op}\n");
        if op.ends_with("xf32>") {
            outs.push(format!("%{name}"));
        }
    }
    text + &format!("  return {}\n}}\n", outs.join(", "))
}

/// Inputs around the quantized ranges, with exact ties of the first scale and NaN and ±∞.
fn inputs(c: &Case) -> Vec<Tensor> {
    let mut state = c.seed | 1;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let scale = c.q[0].scale;
    let mut value = move || {
        let r = next();
        match r % 16 {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => f32::NEG_INFINITY,
            // Half-way between two codes of the first input.
            3..=5 => ((r >> 8) % 600) as f32 / 2.0 * scale - 150.0 * scale,
            _ => ((r >> 8) % 100_000) as f32 / 100_000.0 * 8.0 - 4.0,
        }
    };
    let mut tensor = |s: &[usize]| {
        let data: Vec<f32> = (0..s.iter().product()).map(|_| value()).collect();
        Tensor::F32(ndarray::ArrayD::from_shape_vec(s.to_vec(), data).expect("sizes match"))
    };
    vec![
        tensor(&[1, c.len]),
        tensor(&[1, c.len]),
        tensor(&c.nchw),
        tensor(&c.nchw),
    ]
}

proptest! {
    // Each case links three libraries with cc.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn vector_kernels_equal_the_interpreter(c in case()) {
        let text = model_text(&c);
        let model = qcc::ir::parse::parse(&Source { name: "lanes.ir".into(), text })
            .unwrap_or_else(|e| panic!("the model parses: {e:?}"));
        let xs = inputs(&c);
        for target in ["x86-64-v2", "x86-64-v3", "native"] {
            let lib = build(&model, target);
            assert_exact(&format!("{target}, {c:?}"), &model, &lib, &xs);
        }
    }
}

/// An NCHW image quantized to channels-last codes (a network's input), through the AVX-512
/// planes kernel (two to four channels, 16 pixels of each plane at a time) and the rows
/// kernels around it: every channel count from 1 to 5, rows shorter than a block, one block,
/// and blocks with a tail, ties, NaN and ±∞ among the values, on every target.
#[test]
fn images_quantize_to_channels_last_as_the_interpreter() {
    for c in 1..=5 {
        for w in [1, 15, 16, 37] {
            let case = Case {
                len: 1,
                nchw: [2, c, 3, w],
                q: std::array::from_fn(|i| Q {
                    scale: 0.0173 + 0.01 * i as f32,
                    zp: 31 * i as i32,
                }),
                lo: 0,
                hi: 255,
                requant: (1 << 30, 0),
                pool: ([1, 1], [1, 1], [0, 0], false, false),
                seed: (c * 100 + w) as u64,
            };
            let img = shape(&case.nchw);
            let (qa, zp) = (case.q[0].scale, case.q[0].zp);
            let text = format!(
                "model @planes {{\n  %img = input : tensor<{img}xf32>\n  %q = quantize(%img) : tensor<{img}x!quant<u8, {qa:?}, {zp}>>\n  %y = dequantize(%q) : tensor<{img}xf32>\n  return %y\n}}\n"
            );
            let model = qcc::ir::parse::parse(&Source {
                name: "planes.ir".into(),
                text,
            })
            .unwrap_or_else(|e| panic!("the model parses: {e:?}"));
            let x = inputs(&case).swap_remove(2);
            for target in ["x86-64-v2", "x86-64-v3", "native"] {
                let lib = build(&model, target);
                assert_exact(
                    &format!("{target}, c = {c}, w = {w}"),
                    &model,
                    &lib,
                    std::slice::from_ref(&x),
                );
            }
        }
    }
}
