//! Random small float models for the differential tests: a chain of layers (convolutions and
//! transposed convolutions with any kernels, strides, pads, output paddings, dilations, groups
//! and channel counts, depthwise convolutions, pools,
//! residual adds, lookup-table activations, slices (negative steps too), the YOLOX Focus stem,
//! concats of differently scaled branches, transposes, max/min of two branches, reduce max/min
//! over one axis, a gemm head) written as IR text with inline weights.

use proptest::prelude::*;
use qcc::diag::Source;
use qcc::ir::Model;

#[derive(Clone, Debug)]
pub enum Act {
    None,
    Relu,
    Relu6,
}

#[derive(Clone, Debug)]
pub enum Layer {
    Conv {
        og: usize,
        k: (usize, usize),
        stride: (usize, usize),
        pads: [usize; 4],
        dil: (usize, usize),
        /// Which divisor of the input channels is the group count.
        groups_pick: usize,
        act: Act,
    },
    /// A transposed convolution; its pads are kept below the full output. One group: a grouped
    /// one stays float (its per-channel scales do not fit `qconv_transpose2d`'s, docs/ir.md).
    ConvTranspose {
        og: usize,
        k: (usize, usize),
        stride: (usize, usize),
        pads: [usize; 4],
        out_pad: (usize, usize),
        dil: (usize, usize),
        act: Act,
    },
    Depthwise {
        k: usize,
        stride: usize,
        pad: usize,
        act: Act,
    },
    MaxPool {
        k: usize,
        stride: usize,
        pad: usize,
    },
    AvgPool {
        k: usize,
        stride: usize,
        pad: usize,
        include_pad: bool,
    },
    /// `x + relu(conv3×3(x))`, the same shape on both sides.
    Residual,
    /// A resize of the spatial axes: nearest (with a rounding mode) or bilinear, with one of
    /// the coordinate mappings and scales (index into `RESIZE_SCALES`) per axis.
    Resize {
        linear: bool,
        coord: usize,
        nearest: usize,
        scales: (usize, usize),
    },
    Sigmoid,
    HardSwish,
    LeakyRelu,
    /// A slice of every axis but the batch: per axis picks of start, step (±1, ±2) and length.
    Slice {
        picks: [(usize, usize, usize); 3],
    },
    /// YOLOX's Focus: the four stride-2 phases of the image joined along the channels.
    Focus,
    /// `concat(x, relu(conv1×1(x)))` along the channels: operands calibrated to different ranges.
    Concat {
        og: usize,
    },
    /// Height and width swapped.
    Transpose,
    /// `max(x, conv1×1(x))` (or min): two operands calibrated to different ranges.
    MaxMin {
        min: bool,
    },
    /// `reduce {fn = max/min}` over axis 1, 2 or 3, kept as size 1.
    Reduce {
        min: bool,
        axis: usize,
    },
    /// Global average pool, flatten, gemm to `outputs` classes.
    Head {
        outputs: usize,
    },
}

#[derive(Clone, Debug)]
pub struct Spec {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub layers: Vec<Layer>,
    pub seed: u64,
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![Just(Act::None), Just(Act::Relu), Just(Act::Relu6)]
}

fn layer() -> impl Strategy<Value = Layer> {
    prop_oneof![
        4 => (1usize..41, (1usize..4, 1usize..4), (1usize..3, 1usize..3),
              prop::array::uniform4(0usize..3), (1usize..3, 1usize..3), 0usize..4, act())
            .prop_map(|(og, k, stride, pads, dil, groups_pick, act)| Layer::Conv {
                og, k, stride, pads, dil, groups_pick, act
            }),
        2 => ((1usize..24, (1usize..5, 1usize..5), (1usize..4, 1usize..4)),
              (prop::array::uniform4(0usize..3), (0usize..2, 0usize..2), (1usize..3, 1usize..3)),
              act())
            .prop_map(|((og, k, stride), (pads, out_pad, dil), act)| {
                Layer::ConvTranspose { og, k, stride, pads, out_pad, dil, act }
            }),
        2 => (1usize..4, 1usize..3, 0usize..2, act())
            .prop_map(|(k, stride, pad, act)| Layer::Depthwise { k: 2 * k - 1, stride, pad, act }),
        1 => (2usize..4, 1usize..3, 0usize..2)
            .prop_map(|(k, stride, pad)| Layer::MaxPool { k, stride, pad: pad.min(k / 2) }),
        1 => (2usize..4, 1usize..3, 0usize..2, any::<bool>())
            .prop_map(|(k, stride, pad, include_pad)| Layer::AvgPool { k, stride, pad: pad.min(k / 2), include_pad }),
        1 => Just(Layer::Residual),
        2 => (any::<bool>(), 0usize..6, 0usize..5, (0usize..5, 0usize..5))
            .prop_map(|(linear, coord, nearest, scales)| Layer::Resize { linear, coord, nearest, scales }),
        1 => Just(Layer::Sigmoid),
        1 => Just(Layer::HardSwish),
        1 => Just(Layer::LeakyRelu),
        1 => prop::array::uniform3((0usize..16, 0usize..4, 0usize..16))
            .prop_map(|picks| Layer::Slice { picks }),
        1 => Just(Layer::Focus),
        1 => (1usize..9).prop_map(|og| Layer::Concat { og }),
        1 => Just(Layer::Transpose),
        1 => any::<bool>().prop_map(|min| Layer::MaxMin { min }),
        1 => (any::<bool>(), 1usize..4).prop_map(|(min, axis)| Layer::Reduce { min, axis }),
    ]
}

pub fn spec() -> impl Strategy<Value = Spec> {
    (
        1usize..21,
        4usize..12,
        4usize..12,
        prop::collection::vec(layer(), 1..5),
        prop::option::of(1usize..12),
        any::<u64>(),
    )
        .prop_map(|(c, h, w, mut layers, head, seed)| {
            if let Some(outputs) = head {
                layers.push(Layer::Head { outputs });
            }
            Spec {
                c,
                h,
                w,
                layers,
                seed,
            }
        })
}

/// A deterministic stream of weights in [−1, 1) (xorshift).
struct Weights(u64);

impl Weights {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn dense(&mut self, n: usize, scale: f32) -> String {
        let v: Vec<String> = (0..n)
            .map(|_| format!("{:?}", self.next() * scale))
            .collect();
        format!("dense<[{}]>", v.join(", "))
    }
}

struct Writer {
    weights: Vec<String>,
    body: Vec<String>,
    rng: Weights,
    n: usize,
}

impl Writer {
    fn fresh(&mut self, base: &str) -> String {
        self.n += 1;
        format!("{base}{}", self.n)
    }
    fn weight(&mut self, shape: &[usize], scale: f32) -> String {
        let name = self.fresh("w");
        let n: usize = shape.iter().product();
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        let data = self.rng.dense(n, scale);
        self.weights.push(format!(
            "  weight @{name} : tensor<{}xf32> = {data}",
            dims.join("x")
        ));
        format!("@{name}")
    }
    fn op(&mut self, text: &str, shape: &[usize]) -> String {
        let name = self.fresh("v");
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        self.body.push(format!(
            "  %{name} = {text} : tensor<{}xf32>",
            dims.join("x")
        ));
        format!("%{name}")
    }
    fn act(&mut self, x: String, a: &Act, shape: &[usize]) -> String {
        match a {
            Act::None => x,
            Act::Relu => self.op(&format!("relu({x})"), shape),
            Act::Relu6 => self.op(&format!("clip({x}) {{min = 0.0, max = 6.0}}"), shape),
        }
    }
}

const RESIZE_SCALES: [f32; 5] = [0.5, 0.75, 1.5, 2.0, 3.0];
const RESIZE_COORDS: [&str; 6] = [
    "half_pixel",
    "half_pixel_symmetric",
    "pytorch_half_pixel",
    "align_corners",
    "asymmetric",
    "tf_half_pixel_for_nn",
];
const RESIZE_NEAREST: [&str; 5] = [
    "round_prefer_floor",
    "round_prefer_ceil",
    "floor",
    "ceil",
    "simple",
];

fn out_len(len: usize, k: usize, s: usize, p0: usize, p1: usize, d: usize) -> Option<usize> {
    let span = d * (k - 1) + 1;
    (len + p0 + p1).checked_sub(span).map(|v| v / s + 1)
}

/// The model's IR text; layers that do not fit the current shape are skipped.
pub fn text(spec: &Spec) -> String {
    let mut wr = Writer {
        weights: vec![],
        body: vec![],
        rng: Weights(spec.seed | 1),
        n: 0,
    };
    let mut shape = vec![1, spec.c, spec.h, spec.w];
    let mut x = "%x".to_string();
    for layer in &spec.layers {
        if shape.len() != 4 {
            break;
        }
        let (c, h, w) = (shape[1], shape[2], shape[3]);
        match layer {
            Layer::Conv {
                og,
                k,
                stride,
                pads,
                dil,
                groups_pick,
                act,
            } => {
                let divisors: Vec<usize> = (1..=c).filter(|g| c % g == 0).collect();
                let groups = divisors[groups_pick % divisors.len()];
                let o = og * groups;
                let (Some(ho), Some(wo)) = (
                    out_len(h, k.0, stride.0, pads[0], pads[2], dil.0),
                    out_len(w, k.1, stride.1, pads[1], pads[3], dil.1),
                ) else {
                    continue;
                };
                let fan_in = (c / groups * k.0 * k.1) as f32;
                let wt = wr.weight(&[o, c / groups, k.0, k.1], 2.0 / fan_in.sqrt());
                let b = wr.weight(&[o], 0.2);
                let next = vec![1, o, ho, wo];
                let y = wr.op(
                    &format!(
                        "conv2d({x}, {wt}, {b}) {{strides = [{}, {}], pads = [{}, {}, {}, {}], dilations = [{}, {}], groups = {groups}}}",
                        stride.0, stride.1, pads[0], pads[1], pads[2], pads[3], dil.0, dil.1
                    ),
                    &next,
                );
                x = wr.act(y, act, &next);
                shape = next;
            }
            Layer::ConvTranspose {
                og,
                k,
                stride,
                pads,
                out_pad,
                dil,
                act,
            } => {
                let (groups, o) = (1, *og);
                let t_len =
                    |len: usize, k: usize, s: usize, p0: usize, p1: usize, d: usize, op: usize| {
                        ((len - 1) * s + d * (k - 1) + 1 + op)
                            .checked_sub(p0 + p1)
                            .filter(|&v| v > 0)
                    };
                let (Some(ho), Some(wo)) = (
                    t_len(h, k.0, stride.0, pads[0], pads[2], dil.0, out_pad.0),
                    t_len(w, k.1, stride.1, pads[1], pads[3], dil.1, out_pad.1),
                ) else {
                    continue;
                };
                // Strides compound over a chain: keep the models small.
                if ho * wo > 40 * 40 {
                    continue;
                }
                let fan_in = (c / groups * k.0 * k.1) as f32;
                let wt = wr.weight(&[c, *og, k.0, k.1], 2.0 / fan_in.sqrt());
                let b = wr.weight(&[o], 0.2);
                let next = vec![1, o, ho, wo];
                let y = wr.op(
                    &format!(
                        "conv_transpose2d({x}, {wt}, {b}) {{strides = [{}, {}], pads = [{}, {}, {}, {}], dilations = [{}, {}], groups = {groups}, output_padding = [{}, {}]}}",
                        stride.0, stride.1, pads[0], pads[1], pads[2], pads[3], dil.0, dil.1, out_pad.0, out_pad.1
                    ),
                    &next,
                );
                x = wr.act(y, act, &next);
                shape = next;
            }
            Layer::Depthwise {
                k,
                stride,
                pad,
                act,
            } => {
                let (Some(ho), Some(wo)) = (
                    out_len(h, *k, *stride, *pad, *pad, 1),
                    out_len(w, *k, *stride, *pad, *pad, 1),
                ) else {
                    continue;
                };
                let wt = wr.weight(&[c, 1, *k, *k], 2.0 / *k as f32);
                let b = wr.weight(&[c], 0.2);
                let next = vec![1, c, ho, wo];
                let y = wr.op(
                    &format!(
                        "conv2d({x}, {wt}, {b}) {{strides = [{stride}, {stride}], pads = [{pad}, {pad}, {pad}, {pad}], groups = {c}}}"
                    ),
                    &next,
                );
                x = wr.act(y, act, &next);
                shape = next;
            }
            Layer::MaxPool { k, stride, pad } | Layer::AvgPool { k, stride, pad, .. } => {
                let (Some(ho), Some(wo)) = (
                    out_len(h, *k, *stride, *pad, *pad, 1),
                    out_len(w, *k, *stride, *pad, *pad, 1),
                ) else {
                    continue;
                };
                let next = vec![1, c, ho, wo];
                let attrs = format!(
                    "kernel_shape = [{k}, {k}], strides = [{stride}, {stride}], pads = [{pad}, {pad}, {pad}, {pad}]"
                );
                x = match layer {
                    Layer::AvgPool { include_pad, .. } => wr.op(
                        &format!("avg_pool({x}) {{{attrs}, count_include_pad = {include_pad}}}"),
                        &next,
                    ),
                    _ => wr.op(&format!("max_pool({x}) {{{attrs}}}"), &next),
                };
                shape = next;
            }
            Layer::Residual => {
                let wt = wr.weight(&[c, c, 3, 3], 0.5 / (c as f32).sqrt());
                let b = wr.weight(&[c], 0.1);
                let y = wr.op(
                    &format!("conv2d({x}, {wt}, {b}) {{pads = [1, 1, 1, 1]}}"),
                    &shape,
                );
                let r = wr.act(y, &Act::Relu, &shape);
                x = wr.op(&format!("add({x}, {r})"), &shape);
            }
            Layer::Resize {
                linear,
                coord,
                nearest,
                scales,
            } => {
                let s = [RESIZE_SCALES[scales.0], RESIZE_SCALES[scales.1]];
                let (ho, wo) = (
                    ((h as f32 * s[0]).floor() as usize).max(1),
                    ((w as f32 * s[1]).floor() as usize).max(1),
                );
                let next = vec![1, c, ho, wo];
                x = wr.op(
                    &format!(
                        "resize({x}) {{mode = \"{}\", coordinate_transformation_mode = \"{}\", nearest_mode = \"{}\", scales = [{:?}, {:?}], size = [{ho}, {wo}]}}",
                        if *linear { "linear" } else { "nearest" },
                        RESIZE_COORDS[*coord],
                        RESIZE_NEAREST[*nearest],
                        s[0],
                        s[1]
                    ),
                    &next,
                );
                shape = next;
            }
            Layer::Sigmoid => x = wr.op(&format!("sigmoid({x})"), &shape),
            Layer::HardSwish => x = wr.op(&format!("hard_swish({x})"), &shape),
            Layer::LeakyRelu => x = wr.op(&format!("leaky_relu({x}) {{alpha = 0.1}}"), &shape),
            Layer::Slice { picks } => {
                let (mut starts, mut ends, mut steps, mut next) = (vec![], vec![], vec![], vec![1]);
                for (&dim, &(s, t, n)) in [c, h, w].iter().zip(picks) {
                    let step = [-2i64, -1, 1, 2][t];
                    let start = (s % dim) as i64;
                    let room = if step > 0 {
                        (dim as i64 - start + step - 1) / step
                    } else {
                        start / -step + 1
                    };
                    let len = 1 + (n as i64 % room);
                    starts.push(start);
                    ends.push((start + step * len).clamp(-1, dim as i64));
                    steps.push(step);
                    next.push(len as usize);
                }
                x = wr.op(
                    &format!(
                        "slice({x}) {{axes = [1, 2, 3], starts = {starts:?}, ends = {ends:?}, steps = {steps:?}}}"
                    ),
                    &next,
                );
                shape = next;
            }
            Layer::Focus => {
                let (h2, w2) = (h / 2, w / 2);
                if h2 == 0 || w2 == 0 {
                    continue;
                }
                let quarter = [1, c, h2, w2];
                let mut parts = vec![];
                for (i, j) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    parts.push(wr.op(
                        &format!(
                            "slice({x}) {{axes = [2, 3], starts = [{i}, {j}], ends = [{}, {}], steps = [2, 2]}}",
                            i + 2 * h2 - 1,
                            j + 2 * w2 - 1
                        ),
                        &quarter,
                    ));
                }
                let next = vec![1, 4 * c, h2, w2];
                x = wr.op(&format!("concat({}) {{axis = 1}}", parts.join(", ")), &next);
                shape = next;
            }
            Layer::Concat { og } => {
                let wt = wr.weight(&[*og, c, 1, 1], 3.0 / (c as f32).sqrt());
                let b = wr.weight(&[*og], 0.5);
                let y = wr.op(&format!("conv2d({x}, {wt}, {b})"), &[1, *og, h, w]);
                let r = wr.act(y, &Act::Relu, &[1, *og, h, w]);
                let next = vec![1, c + og, h, w];
                x = wr.op(&format!("concat({x}, {r}) {{axis = 1}}"), &next);
                shape = next;
            }
            Layer::Transpose => {
                let next = vec![1, c, w, h];
                x = wr.op(&format!("transpose({x}) {{perm = [0, 1, 3, 2]}}"), &next);
                shape = next;
            }
            Layer::MaxMin { min } => {
                let wt = wr.weight(&[c, c, 1, 1], 2.0 / (c as f32).sqrt());
                let b = wr.weight(&[c], 0.5);
                let y = wr.op(&format!("conv2d({x}, {wt}, {b})"), &shape);
                let f = if *min { "min" } else { "max" };
                x = wr.op(&format!("{f}({x}, {y})"), &shape);
            }
            Layer::Reduce { min, axis } => {
                let mut next = shape.clone();
                next[*axis] = 1;
                let f = if *min { "min" } else { "max" };
                x = wr.op(
                    &format!("reduce({x}) {{fn = \"{f}\", axes = [{axis}], keepdims = true}}"),
                    &next,
                );
                shape = next;
            }
            Layer::Head { outputs } => {
                let g = wr.op(&format!("global_avg_pool({x})"), &[1, c, 1, 1]);
                let f = wr.op(&format!("flatten({g})"), &[1, c]);
                let wt = wr.weight(&[*outputs, c], 1.0 / (c as f32).sqrt());
                let b = wr.weight(&[*outputs], 0.1);
                x = wr.op(
                    &format!("gemm({f}, {wt}, {b}) {{trans_b = true}}"),
                    &[1, *outputs],
                );
                shape = vec![1, *outputs];
            }
        }
    }
    format!(
        "model @random {{\n{}\n  %x = input : tensor<1x{}x{}x{}xf32>\n{}\n  return {x}\n}}\n",
        wr.weights.join("\n"),
        spec.c,
        spec.h,
        spec.w,
        wr.body.join("\n")
    )
}

pub fn model(spec: &Spec) -> Model {
    let text = text(spec);
    qcc::ir::parse::parse(&Source {
        name: "random.ir".into(),
        text: text.clone(),
    })
    .unwrap_or_else(|e| panic!("the generated model does not parse: {e:?}\n{text}"))
}

/// `n` deterministic input samples in [−2, 2) for a model with input `[1, c, h, w]`.
pub fn samples(spec: &Spec, n: usize, seed: u64) -> ndarray::ArrayD<f32> {
    let mut r = Weights(seed | 1);
    let len = spec.c * spec.h * spec.w;
    let data: Vec<f32> = (0..n * len).map(|_| r.next() * 2.0).collect();
    ndarray::ArrayD::from_shape_vec(vec![n, spec.c, spec.h, spec.w], data).expect("sizes match")
}
