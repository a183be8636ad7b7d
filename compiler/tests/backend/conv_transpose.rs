//! qconv_transpose2d straight from integer IR (any kernel, stride, pads, output padding,
//! dilation and group count, per-channel multipliers, weights within ±63 or the full i8 range):
//! the library's sub-pixel convolution equals the integer interpreter bit for bit on every tier.
//! Grouped ones are written here because the quantizer leaves them float (docs/ir.md).

use super::support::{assert_exact, build};
use proptest::prelude::*;
use qcc::diag::Source;
use runtime::ops::geometry::conv_transpose_out_len;
use runtime::Tensor;

#[derive(Clone, Debug)]
struct Case {
    cg: usize,
    og: usize,
    groups: usize,
    hw: (usize, usize),
    k: (usize, usize),
    stride: (usize, usize),
    pads: [usize; 4],
    out_pad: (usize, usize),
    dil: (usize, usize),
    seven_bit: bool,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (1usize..20, 1usize..20, 1usize..4, (1usize..7, 1usize..7)),
        (
            (1usize..5, 1usize..5),
            (1usize..4, 1usize..4),
            prop::array::uniform4(0usize..3),
        ),
        (
            (0usize..2, 0usize..2),
            (1usize..3, 1usize..3),
            any::<bool>(),
            any::<u64>(),
        ),
    )
        .prop_map(
            |((cg, og, groups, hw), (k, stride, pads), (out_pad, dil, seven_bit, seed))| Case {
                cg,
                og,
                groups,
                hw,
                k,
                stride,
                pads,
                out_pad,
                dil,
                seven_bit,
                seed,
            },
        )
}

/// A deterministic stream (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> i64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) % n) as i64
    }
}

fn list<T: std::fmt::Display>(v: impl IntoIterator<Item = T>) -> String {
    v.into_iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The model text, or `None` when the pads leave no output.
fn text(c: &Case) -> Option<String> {
    let mut r = Rng(c.seed | 1);
    let (ci, o) = (c.cg * c.groups, c.og * c.groups);
    let (h, w) = c.hw;
    let ho = conv_transpose_out_len(
        h,
        c.k.0,
        c.stride.0,
        (c.pads[0], c.pads[2]),
        c.dil.0,
        c.out_pad.0,
    )?;
    let wo = conv_transpose_out_len(
        w,
        c.k.1,
        c.stride.1,
        (c.pads[1], c.pads[3]),
        c.dil.1,
        c.out_pad.1,
    )?;
    let wmax: i64 = if c.seven_bit { 63 } else { 127 };
    let weights = list((0..ci * c.og * c.k.0 * c.k.1).map(|_| r.next(2 * wmax as u64 + 1) - wmax));
    let wscales = list((0..c.og).map(|_| "0.01"));
    let bias = list((0..o).map(|_| r.next(20001) - 10000));
    let bscales = list((0..o).map(|_| "0.0002"));
    let zeros = |n: usize| list((0..n).map(|_| 0));
    let mult = list((0..o).map(|_| (1 << 30) + r.next(1 << 30)));
    let shift = list((0..o).map(|_| -(r.next(4) + 6)));
    let (zx, zy) = (r.next(256), r.next(256));
    let lo = r.next(zy as u64 + 1);
    Some(format!(
        "model @ct {{
  weight @w : tensor<{ci}x{og}x{kh}x{kw}x!quant<i8, axis 1, [{wscales}], [{wz}]>> = dense<[{weights}]>
  weight @b : tensor<{o}x!quant<i32, axis 0, [{bscales}], [{bz}]>> = dense<[{bias}]>
  %x = input : tensor<1x{ci}x{h}x{w}xf32>
  %xq = quantize(%x) : tensor<1x{ci}x{h}x{w}x!quant<u8, 0.02, {zx}>>
  %rq = qconv_transpose2d(%xq, @w, @b) {{strides = [{sh}, {sw}], pads = [{pads}], dilations = [{dh}, {dw}], groups = {g}, output_padding = [{oph}, {opw}], multiplier = [{mult}], shift = [{shift}], lo = {lo}, hi = 255}} : tensor<1x{o}x{ho}x{wo}x!quant<u8, 0.04, {zy}>>
  %y = dequantize(%rq) : tensor<1x{o}x{ho}x{wo}xf32>
  return %y
}}
",
        og = c.og,
        kh = c.k.0,
        kw = c.k.1,
        wz = zeros(c.og),
        bz = zeros(o),
        sh = c.stride.0,
        sw = c.stride.1,
        pads = list(c.pads),
        dh = c.dil.0,
        dw = c.dil.1,
        g = c.groups,
        oph = c.out_pad.0,
        opw = c.out_pad.1,
    ))
}

proptest! {
    // Each case links three small libraries with cc (~25 ms each).
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn qconv_transpose2d_equals_the_interpreter(c in case()) {
        let Some(text) = text(&c) else { return Ok(()) };
        let model = qcc::ir::parse::parse(&Source { name: "ct.ir".into(), text: text.clone() })
            .unwrap_or_else(|e| panic!("the model does not parse: {e:?}\n{text}"));
        let mut r = Rng(c.seed.rotate_left(17) | 1);
        let n = c.cg * c.groups * c.hw.0 * c.hw.1;
        let x = ndarray::ArrayD::from_shape_vec(
            vec![1, c.cg * c.groups, c.hw.0, c.hw.1],
            (0..n).map(|_| (r.next(4001) - 2000) as f32 / 1000.0).collect(),
        )
        .expect("the input's size");
        for target in ["x86-64-v2", "x86-64-v3", "native"] {
            let lib = build(&model, target);
            assert_exact(&format!("{target}, {c:?}"), &model, &lib, &[Tensor::F32(x.clone())]);
        }
    }
}
