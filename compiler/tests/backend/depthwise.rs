//! Depthwise convolutions of random geometries (channels past a block's last, every window
//! from 1×1 to 7×7, strides, padding, dilations, no clamp, ReLU, ReLU6) quantized and compiled
//! for every tier: the library equals the integer interpreter bit for bit. The AVX-512 kernel
//! packs up to four rows of a window's column into each lane, so windows of 1 to 7 rows cover
//! one group and two, whole and partial, with the weights held in registers and (7×7, fourteen
//! vectors) read from memory.

use super::support::{assert_exact, build, images, integer, list, values};
use proptest::prelude::*;
use qcc::diag::Source;
use qcc::ir::{Model, OpKind};
use qcc::quant::WeightBits;
use runtime::Tensor;

#[derive(Clone, Debug)]
struct Geometry {
    c: usize,
    h: usize,
    w: usize,
    k: [usize; 2],
    stride: [usize; 2],
    pads: [usize; 4],
    dil: [usize; 2],
    /// 0: none, 1: ReLU, 2: ReLU6.
    act: usize,
    seed: u64,
}

impl Geometry {
    fn out(&self) -> Option<[usize; 2]> {
        let span = |k: usize, d: usize| (k - 1) * d + 1;
        let (sh, sw) = (span(self.k[0], self.dil[0]), span(self.k[1], self.dil[1]));
        let (ph, pw) = (
            self.h + self.pads[0] + self.pads[2],
            self.w + self.pads[1] + self.pads[3],
        );
        (ph >= sh && pw >= sw).then(|| {
            [
                (ph - sh) / self.stride[0] + 1,
                (pw - sw) / self.stride[1] + 1,
            ]
        })
    }
}

fn geometry() -> impl Strategy<Value = Geometry> {
    (
        (1usize..=40, 1usize..=12, 1usize..=20),
        (1usize..=7, 1usize..=7, 1usize..=2, 1usize..=2),
        prop::array::uniform4(0usize..=3),
        (1usize..=2, 1usize..=2, 0usize..3, any::<u64>()),
    )
        .prop_filter_map(
            "the window must fit the padded input",
            |((c, h, w), (kh, kw, sh, sw), pads, (dh, dw, act, seed))| {
                let g = Geometry {
                    c,
                    h,
                    w,
                    k: [kh, kw],
                    stride: [sh, sw],
                    pads,
                    dil: [dh, dw],
                    act,
                    seed,
                };
                g.out().is_some().then_some(g)
            },
        )
}

/// The float model: one depthwise convolution, then its activation.
fn model(g: &Geometry) -> Model {
    let [ho, wo] = g.out().expect("a geometry that fits");
    let (c, h, w) = (g.c, g.h, g.w);
    let conv = if g.act == 0 { "%y" } else { "%conv" };
    let mut text = format!(
        "model @depthwise {{\n  weight @w : tensor<{c}x1x{}x{}xf32> = dense<[{}]>\n  weight @b : tensor<{c}xf32> = dense<[{}]>\n  %x = input : tensor<1x{c}x{h}x{w}xf32>\n  {conv} = conv2d(%x, @w, @b) {{strides = [{}, {}], pads = [{}, {}, {}, {}], dilations = [{}, {}], groups = {c}}} : tensor<1x{c}x{ho}x{wo}xf32>\n",
        g.k[0],
        g.k[1],
        list(&values(c * g.k[0] * g.k[1], g.seed)),
        list(&values(c, g.seed ^ 0xb1a5)),
        g.stride[0],
        g.stride[1],
        g.pads[0],
        g.pads[1],
        g.pads[2],
        g.pads[3],
        g.dil[0],
        g.dil[1],
    );
    let ty = format!("tensor<1x{c}x{ho}x{wo}xf32>");
    match g.act {
        1 => text += &format!("  %y = relu(%conv) : {ty}\n"),
        2 => text += &format!("  %y = clip(%conv) {{min = 0.0, max = 6.0}} : {ty}\n"),
        _ => {}
    }
    text += "  return %y\n}\n";
    qcc::ir::parse::parse(&Source {
        name: "depthwise.ir".into(),
        text,
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

fn input(g: &Geometry, samples: usize, seed: u64) -> ndarray::ArrayD<f32> {
    images(samples, [g.c, g.h, g.w], seed, 4.0)
}

proptest! {
    // Each case links three libraries with cc.
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn depthwise_convolutions_equal_the_interpreter(g in geometry()) {
        let int = integer(&model(&g), &[input(&g, 3, g.seed ^ 0xca1)], WeightBits::Eight);
        let convs = int
            .ops_in_order()
            .into_iter()
            .filter(|&n| int.node(n).op().is_some_and(|o| o.kind == OpKind::QConv2d))
            .count();
        prop_assert_eq!(convs, 1, "the convolution is integer\n{:?}", g);
        let sample = Tensor::F32(input(&g, 0, g.seed.rotate_left(17)));
        for target in ["x86-64-v2", "x86-64-v3", "native"] {
            let lib = build(&int, target);
            assert_exact(&format!("{target}, {g:?}"), &int, &lib, std::slice::from_ref(&sample));
        }
    }
}
