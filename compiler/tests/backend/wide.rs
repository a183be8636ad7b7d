//! Convolutions reading 16-bit codes (`--activation-bits-for NAME=16`): random geometries
//! (channels, kernel, stride, padding, vertical dilation, sizes) quantized with the input given
//! i16 codes, compiled for AVX2 (`vpmaddwd`) and native (`vpdpwssd` with AVX-512 VNNI): the
//! library equals the integer interpreter bit for bit; a target without AVX2 is refused by name.

use super::support::{assert_exact, build, images, list, values};
use proptest::prelude::*;
use qcc::backend::target::Target;
use qcc::diag::Source;
use qcc::ir::{Model, OpKind};
use qcc::pipeline::{self, Calibration};
use qcc::quant::{BiasCorrection, Method, WeightBits};
use runtime::{DType, Tensor};

#[derive(Clone, Debug)]
struct Geometry {
    c: usize,
    o: usize,
    h: usize,
    w: usize,
    k: [usize; 2],
    stride: [usize; 2],
    pads: [usize; 4],
    dil_h: usize,
    relu: bool,
    seed: u64,
}

fn geometry() -> impl Strategy<Value = Geometry> {
    (
        (1usize..=20, 1usize..=40, 1usize..=12, 1usize..=14),
        (1usize..=7, 1usize..=7, 1usize..=2, 1usize..=2),
        (0usize..=3, 0usize..=3, 0usize..=3, 0usize..=3),
        (1usize..=2, any::<bool>(), any::<u64>()),
    )
        .prop_filter_map(
            "the kernel must fit the padded input",
            |((c, o, h, w), (kh, kw, sh, sw), (pt, pl, pb, pr), (dil_h, relu, seed))| {
                let g = Geometry {
                    c,
                    o,
                    h,
                    w,
                    k: [kh, kw],
                    stride: [sh, sw],
                    pads: [pt, pl, pb, pr],
                    dil_h,
                    relu,
                    seed,
                };
                let span_h = (kh - 1) * dil_h + 1;
                (h + pt + pb >= span_h && w + pl + pr >= kw).then_some(g)
            },
        )
}

/// The float model: one convolution (and a ReLU, when asked) of an input in [-3, 3].
fn model(g: &Geometry) -> Model {
    let span_h = (g.k[0] - 1) * g.dil_h + 1;
    let ho = (g.h + g.pads[0] + g.pads[2] - span_h) / g.stride[0] + 1;
    let wo = (g.w + g.pads[1] + g.pads[3] - g.k[1]) / g.stride[1] + 1;
    let wn = g.o * g.c * g.k[0] * g.k[1];
    let (c, h, w, o) = (g.c, g.h, g.w, g.o);
    let y = if g.relu { "%conv" } else { "%y" };
    let mut text = format!(
        "model @wide {{\n  weight @w : tensor<{o}x{c}x{}x{}xf32> = dense<[{}]>\n  weight @b : tensor<{o}xf32> = dense<[{}]>\n  %x = input : tensor<1x{c}x{h}x{w}xf32>\n  {y} = conv2d(%x, @w, @b) {{strides = [{}, {}], pads = [{}, {}, {}, {}], dilations = [{}, 1]}} : tensor<1x{o}x{ho}x{wo}xf32>\n",
        g.k[0],
        g.k[1],
        list(&values(wn, g.seed)),
        list(&values(o, g.seed ^ 0xb1a5)),
        g.stride[0],
        g.stride[1],
        g.pads[0],
        g.pads[1],
        g.pads[2],
        g.pads[3],
        g.dil_h,
    );
    if g.relu {
        text += &format!("  %y = relu(%conv) : tensor<1x{o}x{ho}x{wo}xf32>\n");
    }
    text += "  return %y\n}\n";
    qcc::ir::parse::parse(&Source {
        name: "wide.ir".into(),
        text,
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

fn input(g: &Geometry, samples: usize, seed: u64) -> ndarray::ArrayD<f32> {
    images(samples, [g.c, g.h, g.w], seed, 3.0)
}

/// The integer model with `%x` given 16 bits.
fn integer(float: &Model, g: &Geometry, target: &str) -> Result<Model, String> {
    let target = Target::parse(target).expect("a valid target");
    let mut opts = pipeline::Options::new(target).expect("built-in rules load");
    opts.quant.calibration = Calibration::Samples {
        samples: vec![input(g, 3, g.seed ^ 0xca1).into()],
        method: Method::MinMax,
    };
    opts.quant.weight_bits = Some(WeightBits::Eight);
    opts.quant.bias_correction = Some(BiasCorrection::Off);
    opts.quant.wide = ["x".to_string()].into();
    pipeline::compile(float, &opts, |_, _| {})
        .map(|c| c.int.expect("an integer model"))
        .map_err(|e| e.to_string())
}

proptest! {
    // Each case links two libraries with cc.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn sixteen_bit_convolutions_equal_the_interpreter(g in geometry()) {
        let float = model(&g);
        let int = integer(&float, &g, "native").unwrap_or_else(|e| panic!("{e}\n{g:?}"));
        // The convolution is integer and reads the i16 codes.
        let conv = int
            .ops_in_order()
            .into_iter()
            .find(|&n| int.node(n).op().is_some_and(|o| o.kind == OpKind::QConv2d))
            .unwrap_or_else(|| panic!("no qconv2d in the integer model\n{g:?}"));
        let x = int.operands(conv)[0];
        prop_assert_eq!(int.node(x).ty.elem.storage(), DType::I16);
        let sample = Tensor::F32(input(&g, 0, g.seed.rotate_left(17)));
        for target in ["x86-64-v3", "native"] {
            let lib = build(&int, target);
            assert_exact(&format!("{target}, {g:?}"), &int, &lib, std::slice::from_ref(&sample));
        }
    }
}

#[test]
fn a_target_without_avx2_is_refused_by_name() {
    let g = Geometry {
        c: 3,
        o: 8,
        h: 9,
        w: 9,
        k: [3, 3],
        stride: [2, 2],
        pads: [1, 1, 1, 1],
        dil_h: 1,
        relu: true,
        seed: 7,
    };
    let int = integer(&model(&g), &g, "x86-64-v2").expect("the quantizer does not need AVX2");
    let err = qcc::backend::codegen(
        &int,
        &qcc::backend::Options {
            prefix: "qcc".into(),
            target: Target::parse("x86-64-v2").expect("a valid target"),
            keep_clif: false,
            profile: false,
            thread_grain_ns: 0,
        },
    )
    .err()
    .expect("x86-64-v2 has no 16-bit convolution kernel");
    insta::assert_snapshot!(err.to_string());
}
