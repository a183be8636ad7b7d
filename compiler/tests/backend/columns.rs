//! Convolutions over a column (`W = 1` and a `k×1` kernel: 1-D convolutions exported over the
//! height, as jax2tf writes magika's): the micro-kernels run them as the row they are in
//! channels-last memory, and the library still equals the integer interpreter bit for bit,
//! dense and depthwise, with strides, top and bottom padding and dilation, on every tier.

use super::support::{assert_exact, build, float_arithmetic, integer, stepped_values};
use qcc::diag::Source;
use qcc::quant::WeightBits;
use runtime::Tensor;

/// One column layer: input channels and height, output channels, kernel height, stride,
/// (top, bottom) padding, dilation, groups.
struct Case {
    c: usize,
    h: usize,
    o: usize,
    k: usize,
    stride: usize,
    pads: (usize, usize),
    dil: usize,
    groups: usize,
}

fn check(case: &Case, bits: WeightBits) {
    let Case {
        c,
        h,
        o,
        k,
        stride,
        pads: (top, bottom),
        dil,
        groups,
    } = *case;
    let ho = (h + top + bottom - dil * (k - 1) - 1) / stride + 1;
    let weights = stepped_values(&[o, c / groups, k, 1], (c * 31 + o * 7 + k) as u64, 9);
    let dense: Vec<String> = weights.iter().map(|v| format!("{:?}", v * 0.25)).collect();
    let text = format!(
        "model @column {{
  weight @w : tensor<{o}x{cg}x{k}x1xf32> = dense<[{}]>
  %x = input : tensor<1x{c}x{h}x1xf32>
  %y = conv2d(%x, @w) {{strides = [{stride}, 1], pads = [{top}, 0, {bottom}, 0], dilations = [{dil}, 1], groups = {groups}}} : tensor<1x{o}x{ho}x1xf32>
  %r = relu(%y) : tensor<1x{o}x{ho}x1xf32>
  return %r
}}
",
        dense.join(", "),
        cg = c / groups,
    );
    let float = qcc::ir::parse::parse(&Source {
        name: "column.ir".into(),
        text: text.clone(),
    })
    .unwrap_or_else(|e| panic!("the model parses: {e:?}\n{text}"));
    let calib = stepped_values(&[4, c, h, 1], 11, 16);
    let int = integer(&float, &[calib], bits);
    assert!(
        float_arithmetic(&int).is_empty(),
        "the convolution is integer:\n{}",
        qcc::ir::print::print(&int)
    );
    let x = Tensor::F32(stepped_values(&[1, c, h, 1], 5, 16));
    for target in ["x86-64-v2", "x86-64-v3", "native"] {
        let lib = build(&int, target);
        let what = format!(
            "c{c} h{h} o{o} k{k} s{stride} p{top},{bottom} d{dil} g{groups} ({target}, {bits:?})"
        );
        assert_exact(&what, &int, &lib, std::slice::from_ref(&x));
    }
}

#[test]
fn column_convolutions_equal_the_interpreter() {
    let cases = [
        // magika's layer, smaller: unpadded, more pixels than a tile, channels over a block.
        Case {
            c: 24,
            h: 40,
            o: 40,
            k: 5,
            stride: 1,
            pads: (0, 0),
            dil: 1,
            groups: 1,
        },
        // Padding on both ends (staged with the zero point), a stride, odd channel counts.
        Case {
            c: 3,
            h: 23,
            o: 37,
            k: 3,
            stride: 2,
            pads: (1, 2),
            dil: 1,
            groups: 1,
        },
        // A pointwise column, and one shorter than a tile.
        Case {
            c: 17,
            h: 9,
            o: 5,
            k: 1,
            stride: 1,
            pads: (0, 0),
            dil: 1,
            groups: 1,
        },
        Case {
            c: 8,
            h: 6,
            o: 70,
            k: 3,
            stride: 1,
            pads: (1, 1),
            dil: 1,
            groups: 1,
        },
        // Dilated: dense keeps its row form (the kernel's run would not be contiguous).
        Case {
            c: 6,
            h: 30,
            o: 9,
            k: 3,
            stride: 1,
            pads: (2, 2),
            dil: 2,
            groups: 1,
        },
        // Depthwise, dilated and strided.
        Case {
            c: 20,
            h: 33,
            o: 20,
            k: 3,
            stride: 2,
            pads: (2, 1),
            dil: 2,
            groups: 20,
        },
        Case {
            c: 33,
            h: 12,
            o: 33,
            k: 5,
            stride: 1,
            pads: (2, 2),
            dil: 1,
            groups: 33,
        },
        // Grouped: not a micro-kernel layer either way.
        Case {
            c: 8,
            h: 14,
            o: 12,
            k: 3,
            stride: 1,
            pads: (1, 1),
            dil: 1,
            groups: 4,
        },
    ];
    for case in &cases {
        for bits in [WeightBits::Seven, WeightBits::Eight] {
            check(case, bits);
        }
    }
}
