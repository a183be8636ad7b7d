//! The ONNX import fixtures: small models written with the builder, one function each. `MODELS`
//! import cleanly (their bytes are committed as `tests/onnx/NAME.onnx`); `ERRORS` must each be
//! refused with a clear sentence.

#![allow(dead_code)]

use super::build::*;

/// Conv → BatchNormalization → Relu → MaxPool → Conv (SAME_UPPER) → Clip (ReLU6 from constant
/// inputs) → GlobalAveragePool → Flatten → Gemm → Softmax.
pub fn tiny_cnn() -> G {
    let mut g = G::new(13);
    g.input("x", &[1, 3, 8, 8])
        .weight("conv1.weight", &[4, 3, 3, 3])
        .weight("conv1.bias", &[4])
        .node(
            "Conv",
            &["x", "conv1.weight", "conv1.bias"],
            &["c1"],
            vec![ints("pads", &[1, 1, 1, 1]), ints("kernel_shape", &[3, 3])],
        )
        .weight("bn.scale", &[4])
        .weight("bn.bias", &[4])
        .weight("bn.mean", &[4])
        .positive("bn.var", &[4])
        .node(
            "BatchNormalization",
            &["c1", "bn.scale", "bn.bias", "bn.mean", "bn.var"],
            &["b1"],
            vec![float("epsilon", 1e-3)],
        )
        .node("Relu", &["b1"], &["r1"], vec![])
        .node(
            "MaxPool",
            &["r1"],
            &["p1"],
            vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])],
        )
        .weight("conv2.weight", &[8, 4, 3, 3])
        .node(
            "Conv",
            &["p1", "conv2.weight"],
            &["c2"],
            vec![string("auto_pad", "SAME_UPPER"), ints("strides", &[2, 2])],
        )
        .node(
            "Constant",
            &[],
            &["zero"],
            vec![tensor_attr("value", f32s("", &[], vec![0.0]))],
        )
        .init(f32s("six", &[], vec![6.0]))
        .node("Clip", &["c2", "zero", "six"], &["r2"], vec![])
        .node("GlobalAveragePool", &["r2"], &["g"], vec![])
        .node("Flatten", &["g"], &["f"], vec![])
        .weight("fc.weight", &[10, 8])
        .weight("fc.bias", &[10])
        .node(
            "Gemm",
            &["f", "fc.weight", "fc.bias"],
            &["logits"],
            vec![int("transB", 1)],
        )
        .node("Softmax", &["logits"], &["probs"], vec![])
        .output("probs");
    g
}

/// What torch.onnx.export writes: scoped names with slashes, a symbolic batch, and a flatten
/// spelled as Shape → Gather → Unsqueeze → Concat → Reshape; one name collides after sanitising.
pub fn pytorch_style() -> G {
    let mut g = G::new(17);
    g.input_with(
        "input.1",
        FLOAT,
        &[D::P("batch"), D::V(3), D::V(4), D::V(4)],
    )
    .weight("features.0.weight", &[4, 3, 3, 3])
    .weight("features.0.bias", &[4])
    .named(
        "/features/features.0/Conv",
        "Conv",
        &["input.1", "features.0.weight", "features.0.bias"],
        &["/features/features.0/Conv_output_0"],
        vec![ints("pads", &[1, 1, 1, 1])],
    )
    .named(
        "/features/features.1/Relu",
        "Relu",
        &["/features/features.0/Conv_output_0"],
        &["/features/features.1/Relu_output_0"],
        vec![],
    )
    .named(
        "/Shape",
        "Shape",
        &["/features/features.1/Relu_output_0"],
        &["/Shape_output_0"],
        vec![],
    )
    .named(
        "/Constant",
        "Constant",
        &[],
        &["/Constant_output_0"],
        vec![tensor_attr("value", i64s("", &[], vec![0]))],
    )
    .named(
        "/Gather",
        "Gather",
        &["/Shape_output_0", "/Constant_output_0"],
        &["/Gather_output_0"],
        vec![int("axis", 0)],
    )
    .init(i64s("onnx::Unsqueeze_axes", &[1], vec![0]))
    .named(
        "/Unsqueeze",
        "Unsqueeze",
        &["/Gather_output_0", "onnx::Unsqueeze_axes"],
        &["/Unsqueeze_output_0"],
        vec![],
    )
    .named(
        "/Constant_1",
        "Constant",
        &[],
        &["/Constant_1_output_0"],
        vec![tensor_attr("value", i64s("", &[1], vec![-1]))],
    )
    .named(
        "/Concat",
        "Concat",
        &["/Unsqueeze_output_0", "/Constant_1_output_0"],
        &["/Concat_output_0"],
        vec![int("axis", 0)],
    )
    .named(
        "/Reshape",
        "Reshape",
        &["/features/features.1/Relu_output_0", "/Concat_output_0"],
        &["/Reshape_output_0"],
        vec![],
    )
    .weight("classifier.weight", &[2, 64])
    .weight("classifier.bias", &[2])
    .named(
        "/classifier/Gemm",
        "Gemm",
        &["/Reshape_output_0", "classifier.weight", "classifier.bias"],
        &["logits"],
        vec![int("transB", 1)],
    )
    .named(
        "Relu_again",
        "Relu",
        &["logits"],
        &["features/features.1/Relu_output_0"],
        vec![],
    )
    .output("features/features.1/Relu_output_0");
    g
}

/// Convolutions whose padding is resolved at import: SAME_LOWER, VALID, dilation, depthwise
/// groups, and ConvTranspose with output_shape, output_padding, SAME_UPPER and groups.
pub fn conv_variants() -> G {
    let mut g = G::new(11);
    g.input("x", &[1, 4, 9, 9])
        .weight("w_k2", &[4, 4, 2, 2])
        .node(
            "Conv",
            &["x", "w_k2"],
            &["same_lower"],
            vec![string("auto_pad", "SAME_LOWER"), ints("strides", &[2, 2])],
        )
        .weight("w_dw", &[4, 1, 3, 3])
        .node(
            "Conv",
            &["x", "w_dw"],
            &["depthwise"],
            vec![string("auto_pad", "VALID"), int("group", 4)],
        )
        .weight("w_3", &[4, 4, 3, 3])
        .node(
            "Conv",
            &["x", "w_3"],
            &["dilated"],
            vec![ints("dilations", &[2, 2]), ints("pads", &[2, 2, 2, 2])],
        )
        .weight("ct.w", &[4, 2, 3, 3])
        .weight("ct.b", &[2])
        .node(
            "ConvTranspose",
            &["x", "ct.w"],
            &["ct_shape"],
            vec![ints("strides", &[2, 2]), ints("output_shape", &[18, 18])],
        )
        .node(
            "ConvTranspose",
            &["x", "ct.w", "ct.b"],
            &["ct_pads"],
            vec![
                ints("strides", &[2, 2]),
                ints("pads", &[1, 1, 1, 1]),
                ints("output_padding", &[1, 1]),
            ],
        )
        .node(
            "ConvTranspose",
            &["x", "ct.w"],
            &["ct_same"],
            vec![ints("strides", &[2, 2]), string("auto_pad", "SAME_UPPER")],
        )
        .weight("ct_g.w", &[4, 1, 3, 3])
        .node(
            "ConvTranspose",
            &["x", "ct_g.w"],
            &["ct_group"],
            vec![int("group", 2)],
        )
        .output("same_lower")
        .output("depthwise")
        .output("dilated")
        .output("ct_shape")
        .output("ct_pads")
        .output("ct_same")
        .output("ct_group");
    g
}

/// Pools: SAME_UPPER max pool (its unused indices output is fine), dilated ceil-mode max pool,
/// average pools with count_include_pad and VALID, global average pool.
pub fn pools() -> G {
    let mut g = G::new(12);
    g.input("x", &[1, 2, 7, 7])
        .node(
            "MaxPool",
            &["x"],
            &["mp", "mp_indices"],
            vec![
                ints("kernel_shape", &[3, 3]),
                ints("strides", &[2, 2]),
                string("auto_pad", "SAME_UPPER"),
            ],
        )
        .node(
            "MaxPool",
            &["x"],
            &["mp_dilated"],
            vec![
                ints("kernel_shape", &[2, 2]),
                ints("strides", &[2, 2]),
                ints("dilations", &[2, 2]),
                int("ceil_mode", 1),
            ],
        )
        .node(
            "AveragePool",
            &["x"],
            &["ap"],
            vec![
                ints("kernel_shape", &[3, 3]),
                ints("strides", &[2, 2]),
                ints("pads", &[1, 1, 1, 1]),
                int("count_include_pad", 1),
                int("ceil_mode", 1),
            ],
        )
        .node(
            "AveragePool",
            &["x"],
            &["ap_valid"],
            vec![ints("kernel_shape", &[2, 2]), string("auto_pad", "VALID")],
        )
        .node("GlobalAveragePool", &["x"], &["gap"], vec![])
        .output("mp")
        .output("mp_dilated")
        .output("ap")
        .output("ap_valid")
        .output("gap");
    g
}

/// Activations and broadcasting arithmetic; constant-only arithmetic folds into one weight, which
/// two ops share; a three-term Sum becomes two adds.
pub fn activations() -> G {
    let mut g = G::new(14);
    g.input("x", &[1, 4, 2, 2])
        .node("LeakyRelu", &["x"], &["leaky"], vec![float("alpha", 0.1)])
        .node("Sigmoid", &["x"], &["sig"], vec![])
        .node(
            "HardSigmoid",
            &["x"],
            &["hsig"],
            vec![float("alpha", 0.25), float("beta", 0.4)],
        )
        .node("HardSwish", &["x"], &["hswish"], vec![])
        .init(f32s("six", &[], vec![6.0]))
        .node("Clip", &["x", "", "six"], &["clip_max"], vec![])
        .node("Relu", &["x"], &["relu"], vec![])
        .weight("bias4", &[4, 1, 1])
        .node("Add", &["leaky", "bias4"], &["add"], vec![])
        .node("Constant", &[], &["half"], vec![float("value_float", 0.5)])
        .node("Sub", &["sig", "half"], &["sub"], vec![])
        .node("Mul", &["hsig", "hswish"], &["mul"], vec![])
        .init(f32s("two", &[1], vec![2.0]))
        .node("Div", &["clip_max", "two"], &["div"], vec![])
        .init(f32s("c_a", &[2], vec![1.0, 2.0]))
        .init(f32s("c_b", &[2], vec![0.5, 0.25]))
        .node("Add", &["c_a", "c_b"], &["folded"], vec![])
        .node("Mul", &["relu", "folded"], &["scaled"], vec![])
        .node("Sub", &["div", "folded"], &["shifted"], vec![])
        .node("Sum", &["relu", "sig", "bias4"], &["total"], vec![])
        .output("add")
        .output("sub")
        .output("mul")
        .output("scaled")
        .output("shifted")
        .output("total");
    g
}

/// Opset 10 forms: Clip, Pad, Squeeze and Unsqueeze with attributes; Dropout with its mask;
/// Softmax coercing to 2-D at axis 1 (flatten → softmax → reshape).
pub fn opset10() -> G {
    let mut g = G::new(10);
    g.input("x", &[1, 3, 4, 4])
        .node(
            "Clip",
            &["x"],
            &["clipped"],
            vec![float("min", -1.0), float("max", 1.0)],
        )
        .node("Clip", &["x"], &["floor0"], vec![float("min", 0.0)])
        .node(
            "Dropout",
            &["floor0"],
            &["dropped", "mask"],
            vec![float("ratio", 0.5)],
        )
        .node("Softmax", &["dropped"], &["soft"], vec![])
        .node(
            "Pad",
            &["soft"],
            &["padded"],
            vec![ints("pads", &[0, 0, 1, 1, 0, 0, 1, 1]), float("value", 0.5)],
        )
        .node("Unsqueeze", &["padded"], &["u"], vec![ints("axes", &[0])])
        .node("Squeeze", &["u"], &["s"], vec![ints("axes", &[0])])
        .node("Softmax", &["x"], &["soft_last"], vec![int("axis", 3)])
        .output("s")
        .output("clipped")
        .output("soft_last");
    g
}

/// Layout ops with negative axes, Concat with an empty part (exporters emit them), MatMul with
/// broadcasting, ReduceMean with attribute axes, Pad with constant inputs (opset 13).
pub fn shapes() -> G {
    let mut g = G::new(13);
    g.input("x", &[2, 3, 4])
        .node("Transpose", &["x"], &["t"], vec![])
        .node("Transpose", &["x"], &["t2"], vec![ints("perm", &[0, 2, 1])])
        .init(i64s("axis_last", &[1], vec![-1]))
        .node("Unsqueeze", &["x", "axis_last"], &["u"], vec![])
        .init(i64s("axis3", &[1], vec![3]))
        .node("Squeeze", &["u", "axis3"], &["sq"], vec![])
        .init(i64s("axis0", &[1], vec![0]))
        .node("Unsqueeze", &["x", "axis0"], &["u0"], vec![])
        .node("Squeeze", &["u0"], &["sq_all"], vec![])
        .node(
            "Concat",
            &["x", "sq", "sq_all"],
            &["cat"],
            vec![int("axis", -1)],
        )
        .init(f32s("nothing", &[2, 3, 0], vec![]))
        .node(
            "Concat",
            &["nothing", "cat"],
            &["cat_empty"],
            vec![int("axis", 2)],
        )
        .node("Flatten", &["x"], &["flat0"], vec![int("axis", 0)])
        .node("Flatten", &["x"], &["flat_last"], vec![int("axis", -1)])
        .init(i64s("shape_0_m1", &[2], vec![0, -1]))
        .node("Reshape", &["x", "shape_0_m1"], &["r"], vec![])
        .node(
            "ReduceMean",
            &["x"],
            &["mean"],
            vec![ints("axes", &[-1]), int("keepdims", 0)],
        )
        .node("ReduceMean", &["x"], &["mean_all"], vec![])
        .init(i64s("pads", &[6], vec![0, 1, 0, 0, 1, 0]))
        .init(f32s("pad_value", &[], vec![-1.0]))
        .node("Pad", &["x", "pads", "pad_value"], &["pad"], vec![])
        .weight("mm.w", &[4, 5])
        .node("MatMul", &["x", "mm.w"], &["mm"], vec![])
        .weight("mm.b", &[5])
        .node("Add", &["mm", "mm.b"], &["mm_bias"], vec![])
        .output("t")
        .output("t2")
        .output("cat_empty")
        .output("flat0")
        .output("flat_last")
        .output("r")
        .output("mean")
        .output("mean_all")
        .output("pad")
        .output("mm_bias");
    g
}

/// Opset 18: ReduceMean's axes as an input (and noop_with_empty_axes), Pad's axes input,
/// Shape's start and end.
pub fn opset18() -> G {
    let mut g = G::new(18);
    g.input("x", &[1, 2, 3, 4])
        .init(i64s("hw", &[2], vec![2, 3]))
        .node("ReduceMean", &["x", "hw"], &["rm"], vec![])
        .node(
            "ReduceMean",
            &["x"],
            &["rm_noop"],
            vec![int("noop_with_empty_axes", 1)],
        )
        .node("ReduceMean", &["x"], &["rm_all"], vec![int("keepdims", 0)])
        .init(i64s("pads", &[2], vec![1, 2]))
        .init(i64s("last", &[1], vec![-1]))
        .node("Pad", &["x", "pads", "", "last"], &["pad_axes"], vec![])
        .node(
            "Shape",
            &["x"],
            &["middle"],
            vec![int("start", 1), int("end", -1)],
        )
        .init(i64s("minus_one", &[1], vec![-1]))
        .node(
            "Concat",
            &["middle", "minus_one"],
            &["target"],
            vec![int("axis", 0)],
        )
        .node("Reshape", &["x", "target"], &["reshaped"], vec![])
        .output("rm")
        .output("rm_noop")
        .output("rm_all")
        .output("pad_axes")
        .output("reshaped");
    g
}

/// A QDQ model: u8 activations per tensor, an i8 weight per output channel and an i32 bias as
/// initializers dequantized in place, an i8 output.
pub fn qdq() -> G {
    let mut g = G::new(13);
    g.input("x", &[1, 2, 4, 4])
        .init(f32s("x_scale", &[], vec![0.05]))
        .init(u8s("x_zp", &[], vec![128]))
        .node("QuantizeLinear", &["x", "x_scale", "x_zp"], &["xq"], vec![])
        .node(
            "DequantizeLinear",
            &["xq", "x_scale", "x_zp"],
            &["xdq"],
            vec![],
        )
        .init(i8s("w_q", &[3, 2, 1, 1], vec![-127, 5, 64, -3, 0, 127]))
        .init(f32s("w_scale", &[3], vec![0.01, 0.02, 0.005]))
        .init(i8s("w_zp", &[3], vec![0, 0, 0]))
        .node(
            "DequantizeLinear",
            &["w_q", "w_scale", "w_zp"],
            &["w"],
            vec![int("axis", 0)],
        )
        .init(i32s("b_q", &[3], vec![100, -200, 3000]))
        .init(f32s("b_scale", &[3], vec![0.0005, 0.001, 0.00025]))
        .node(
            "DequantizeLinear",
            &["b_q", "b_scale"],
            &["b"],
            vec![int("axis", 0)],
        )
        .node("Conv", &["xdq", "w", "b"], &["conv"], vec![])
        .node("Relu", &["conv"], &["relu"], vec![])
        .init(f32s("y_scale", &[], vec![0.1]))
        .init(i8s("y_zp", &[], vec![-128]))
        .node(
            "QuantizeLinear",
            &["relu", "y_scale", "y_zp"],
            &["yq"],
            vec![],
        )
        .node(
            "DequantizeLinear",
            &["yq", "y_scale", "y_zp"],
            &["y"],
            vec![],
        )
        .output("y");
    g
}

/// Shape arithmetic that must fold away entirely: torch's F.pad pattern (ConstantOfShape,
/// Concat, Reshape, Slice with step −1, Transpose, Cast), Size and integer Div, Identity.
pub fn shape_folding() -> G {
    let mut g = G::new(13);
    g.input("x", &[1, 2, 3, 3])
        .init(i64s("four", &[1], vec![4]))
        .node(
            "ConstantOfShape",
            &["four"],
            &["zeros4"],
            vec![tensor_attr("value", i64s("", &[1], vec![0]))],
        )
        .node(
            "Constant",
            &[],
            &["p"],
            vec![ints("value_ints", &[1, 1, 2, 2])],
        )
        .node("Concat", &["p", "zeros4"], &["p8"], vec![int("axis", 0)])
        .init(i64s("pairs", &[2], vec![-1, 2]))
        .node("Reshape", &["p8", "pairs"], &["p42"], vec![])
        .init(i64s("start", &[1], vec![-1]))
        .init(i64s("end", &[1], vec![i64::MIN]))
        .init(i64s("ax0", &[1], vec![0]))
        .init(i64s("step", &[1], vec![-1]))
        .node(
            "Slice",
            &["p42", "start", "end", "ax0", "step"],
            &["reversed"],
            vec![],
        )
        .node(
            "Transpose",
            &["reversed"],
            &["columns"],
            vec![ints("perm", &[1, 0])],
        )
        .init(i64s("flat", &[1], vec![-1]))
        .node("Reshape", &["columns", "flat"], &["onnx_pads"], vec![])
        .node(
            "Cast",
            &["onnx_pads"],
            &["onnx_pads_i64"],
            vec![int("to", INT64 as i64)],
        )
        .node("Pad", &["x", "onnx_pads_i64"], &["padded"], vec![])
        .node("Size", &["x"], &["numel"], vec![])
        .init(i64s("two", &[], vec![2]))
        .node("Div", &["numel", "two"], &["half"], vec![])
        .node("Unsqueeze", &["half", "ax0"], &["half1"], vec![])
        .node("Shape", &["x"], &["xs"], vec![])
        .init(i64s("one", &[1], vec![1]))
        .node("Gather", &["xs", "one"], &["channels"], vec![])
        .node(
            "Concat",
            &["channels", "half1"],
            &["target"],
            vec![int("axis", 0)],
        )
        .node("Identity", &["x"], &["x_again"], vec![])
        .node("Reshape", &["x_again", "target"], &["reshaped"], vec![])
        .output("padded")
        .output("reshaped");
    g
}

/// Opset 9: initializers listed among the graph inputs (as exporters did before IR version 4),
/// Slice with attributes, BatchNormalization on a 2-D value.
pub fn opset9() -> G {
    let mut g = G::new(9);
    g.input("x", &[1, 4])
        .input("W", &[4, 3])
        .weight("W", &[4, 3])
        .weight("C", &[3])
        .node(
            "Gemm",
            &["x", "W", "C"],
            &["y"],
            vec![float("alpha", 0.5), float("beta", 2.0)],
        )
        .init(i64s("shape3", &[3], vec![1, 3, 1]))
        .node(
            "Slice",
            &["shape3"],
            &["shape2"],
            vec![ints("starts", &[0]), ints("ends", &[2])],
        )
        .node("Reshape", &["y", "shape2"], &["r"], vec![])
        .weight("g", &[3])
        .weight("b", &[3])
        .weight("m", &[3])
        .positive("v", &[3])
        .node(
            "BatchNormalization",
            &["r", "g", "b", "m", "v"],
            &["bn"],
            vec![],
        )
        .output("bn");
    g
}

/// Builds one fixture model.
pub type Fixture = fn() -> G;

/// An int64 input (token ids, say) passed through: run-time int64 values import as such.
pub fn int64_input() -> G {
    let mut g = G::new(13);
    g.input_with("ids", INT64, &[D::V(1), D::V(8)])
        .node("Identity", &["ids"], &["y"], vec![])
        .output("y");
    g
}

/// Gather on run-time data with a constant index: a `gather` op, not a fold.
pub fn gather_at_run_time() -> G {
    let mut g = G::new(13);
    g.input("x", &[3, 4])
        .init(i64s("i", &[], vec![1]))
        .node("Gather", &["x", "i"], &["y"], vec![])
        .output("y");
    g
}

/// Expand on run-time data to a shape computed from constants and run-time shapes (as
/// Attention's function body repeats key heads): an `expand` op; a Mod on the head counts folds.
pub fn expand_at_run_time() -> G {
    let mut g = G::new(13);
    g.input("x", &[1, 2, 3])
        .init(i64s("four", &[1], vec![4]))
        .init(i64s("three", &[1], vec![3]))
        .node("Mod", &["four", "three"], &["one"], vec![])
        .node("Shape", &["x"], &["xs"], vec![])
        .node("Slice", &["xs", "one", "three"], &["tail"], vec![])
        .node(
            "Concat",
            &["four", "tail"],
            &["target"],
            vec![int("axis", 0)],
        )
        .node("Expand", &["x", "target"], &["y"], vec![])
        .output("y");
    g
}

/// A ViT-style self-attention block at opset 23: 16 tokens of width 64, the Q/K/V projections,
/// 8 heads of size 8 split out to 4-D, Attention, the heads joined, the output projection and
/// the residual; ONNX Runtime is its reference (compiler/tests/import.rs).
pub fn vit_attention() -> G {
    let (tokens, width, heads) = (16i64, 64i64, 8i64);
    let size = width / heads;
    let mut g = G::new(23);
    g.input("x", &[1, tokens, width]);
    // Weights of ViT's scale (±0.1), so the softmax neither saturates nor flattens.
    let small = |name: &str, dims: &[i64], salt: i64| {
        let n: i64 = dims.iter().product();
        let v = (0..n)
            .map(|i| (((i * 37 + salt * 11) % 101) as f32 - 50.0) / 500.0)
            .collect();
        f32s(name, dims, v)
    };
    g.init(i64s("split", &[4], vec![1, tokens, heads, size]))
        .init(i64s("join", &[3], vec![1, tokens, width]));
    for (salt, p) in ["q", "k", "v"].iter().enumerate() {
        g.init(small(&format!("w{p}"), &[width, width], salt as i64))
            .init(small(&format!("b{p}"), &[width], salt as i64 + 5))
            .node(
                "MatMul",
                &["x", &format!("w{p}")],
                &[&format!("{p}_mm")],
                vec![],
            )
            .node(
                "Add",
                &[&format!("{p}_mm"), &format!("b{p}")],
                &[&format!("{p}_proj")],
                vec![],
            )
            .node(
                "Reshape",
                &[&format!("{p}_proj"), "split"],
                &[&format!("{p}_heads")],
                vec![],
            )
            .node(
                "Transpose",
                &[&format!("{p}_heads")],
                &[&format!("{p}_4d")],
                vec![ints("perm", &[0, 2, 1, 3])],
            );
    }
    g.node("Attention", &["q_4d", "k_4d", "v_4d"], &["attn"], vec![])
        .node(
            "Transpose",
            &["attn"],
            &["attn_t"],
            vec![ints("perm", &[0, 2, 1, 3])],
        )
        .node("Reshape", &["attn_t", "join"], &["attn_joined"], vec![])
        .init(small("wo", &[width, width], 9))
        .node("MatMul", &["attn_joined", "wo"], &["o"], vec![])
        .node("Add", &["x", "o"], &["y"], vec![])
        .output_shaped("y", &[1, tokens, width]);
    g
}

/// Opset 6: Clip's attributes, arithmetic with the legacy `broadcast`/`axis` alignment (a
/// per-channel constant, a run-time value, a folded constant pair), Gemm's `broadcast`.
pub fn opset6() -> G {
    let mut g = G::new(6);
    g.input("x", &[1, 3, 2, 2])
        .input("scale", &[3, 2])
        .weight("bias", &[3])
        .node(
            "Add",
            &["x", "bias"],
            &["biased"],
            vec![int("broadcast", 1), int("axis", 1)],
        )
        .node(
            "Mul",
            &["biased", "scale"],
            &["scaled"],
            vec![int("broadcast", 1), int("axis", 1)],
        )
        .node(
            "Clip",
            &["scaled"],
            &["clipped"],
            vec![float("min", -1.0), float("max", 1.5)],
        )
        .init(f32s("k", &[2, 2], vec![1.0, 2.0, 3.0, 4.0]))
        .init(f32s("col", &[2], vec![10.0, 20.0]))
        .node(
            "Add",
            &["k", "col"],
            &["k_col"],
            vec![int("broadcast", 1), int("axis", 0)],
        )
        .node(
            "Sub",
            &["clipped", "k_col"],
            &["shifted"],
            vec![int("broadcast", 1)],
        )
        .node("Flatten", &["shifted"], &["flat"], vec![])
        .weight("fc.w", &[12, 2])
        .weight("fc.b", &[2])
        .node(
            "Gemm",
            &["flat", "fc.w", "fc.b"],
            &["y"],
            vec![int("broadcast", 1)],
        )
        .output("y");
    g
}

/// Pad's modes that move elements (edge, reflect longer than nothing, wrap longer than its
/// axis) and a crop: one constant-index `gather` per padded axis, and what is left of a constant
/// Pad with negative pads as a `pad`.
pub fn pad_modes() -> G {
    let mut g = G::new(19);
    g.input("x", &[1, 2, 3, 4])
        .init(i64s("pe", &[8], vec![0, 0, 2, 0, 0, 0, 1, 1]))
        .node("Pad", &["x", "pe"], &["edge"], vec![string("mode", "edge")])
        .init(i64s("pr", &[2], vec![3, 1]))
        .init(i64s("ar", &[1], vec![-1]))
        .node(
            "Pad",
            &["x", "pr", "", "ar"],
            &["reflect"],
            vec![string("mode", "reflect")],
        )
        .init(i64s("pw", &[8], vec![0, 0, 4, 0, 0, 0, 0, 0]))
        .node("Pad", &["x", "pw"], &["wrap"], vec![string("mode", "wrap")])
        .init(i64s("pc", &[8], vec![0, 0, -1, 1, 0, 0, 0, -2]))
        .init(f32s("v", &[], vec![0.5]))
        .node("Pad", &["x", "pc", "v"], &["crop"], vec![])
        .output("edge")
        .output("reflect")
        .output("wrap")
        .output("crop");
    g
}

/// Einsum (opset 12) as transposes, reshapes, sums, gathers, muls and matmuls: attention scores,
/// a batched matmul whose weight broadcasts over the batch, an outer product, a transpose that
/// sums an axis, a batch diagonal, a chain of three operands and an ellipsis.
pub fn einsum() -> G {
    let mut g = G::new(12);
    g.input("q", &[1, 2, 4, 8])
        .input("k", &[1, 2, 5, 8])
        .node(
            "Einsum",
            &["q", "k"],
            &["scores"],
            vec![string("equation", "bhqd,bhkd->bhqk")],
        )
        .input("a", &[2, 3, 4])
        .weight("w", &[1, 4, 5])
        .node(
            "Einsum",
            &["a", "w"],
            &["batched"],
            vec![string("equation", "bij,bjk->bik")],
        )
        .input("u", &[3])
        .input("v", &[4])
        .node(
            "Einsum",
            &["u", "v"],
            &["outer"],
            vec![string("equation", "i,j->ij")],
        )
        .node(
            "Einsum",
            &["a"],
            &["summed"],
            vec![string("equation", "ijk -> kj")],
        )
        .input("d", &[2, 3, 3])
        .node(
            "Einsum",
            &["d"],
            &["diagonal"],
            vec![string("equation", "bii->bi")],
        )
        .weight("m1", &[4, 6])
        .weight("m2", &[6, 2])
        .node(
            "Einsum",
            &["a", "m1", "m2"],
            &["chain"],
            vec![string("equation", "bij,jk,kl->bil")],
        )
        .node(
            "Einsum",
            &["a", "m1"],
            &["ellipsis"],
            vec![string("equation", "...j,jk")],
        );
    for o in [
        "scores", "batched", "outer", "summed", "diagonal", "chain", "ellipsis",
    ] {
        g.output(o);
    }
    g
}

pub const MODELS: &[(&str, Fixture)] = &[
    ("tiny_cnn", tiny_cnn),
    ("pad_modes", pad_modes),
    ("einsum", einsum),
    ("int64_input", int64_input),
    ("gather_at_run_time", gather_at_run_time),
    ("expand_at_run_time", expand_at_run_time),
    ("vit_attention", vit_attention),
    ("pytorch_style", pytorch_style),
    ("conv_variants", conv_variants),
    ("pools", pools),
    ("activations", activations),
    ("opset10", opset10),
    ("shapes", shapes),
    ("opset18", opset18),
    ("qdq", qdq),
    ("shape_folding", shape_folding),
    ("opset9", opset9),
    ("opset6", opset6),
    ("opset28_ml_domain", opset28_ml_domain),
    ("shape_logic", shape_logic),
    ("reductions", reductions),
    ("reductions13", reductions13),
    ("logsoftmax11", logsoftmax11),
    ("one_d_and_blocks", one_d_and_blocks),
];

/// Opset 18: variadic Max/Min/Mean/Sum with broadcasting, every Reduce* with its axes as an
/// input (and noop_with_empty_axes, elementwise for ReduceSumSquare), LogSoftmax on a middle axis,
/// LayerNormalization with its Mean and InvStdDev outputs, InstanceNormalization,
/// GroupNormalization with per-group scales, LpNormalization.
pub fn reductions() -> G {
    let mut g = G::new(18);
    g.input("x", &[2, 4, 3, 3])
        .input("y", &[4, 1, 3])
        .weight("z", &[3])
        .node("Max", &["x", "y", "z"], &["max"], vec![])
        .node("Min", &["x", "y"], &["min"], vec![])
        .node("Mean", &["x", "y", "z"], &["mean"], vec![])
        .node("Sum", &["x", "y"], &["sum"], vec![])
        .init(i64s("hw", &[2], vec![-1, 2]))
        .node(
            "ReduceSum",
            &["x", "hw"],
            &["rsum"],
            vec![int("keepdims", 0)],
        )
        .node("ReduceSumSquare", &["x", "hw"], &["rsq"], vec![])
        .node("ReduceL1", &["x", "hw"], &["rl1"], vec![])
        .node("ReduceL2", &["x", "hw"], &["rl2"], vec![])
        .node("ReduceLogSumExp", &["x", "hw"], &["rlse"], vec![])
        .node("ReduceMax", &["x", "hw"], &["rmax"], vec![])
        .node("ReduceMin", &["x"], &["rmin_all"], vec![int("keepdims", 0)])
        .node("ReduceProd", &["x", "hw"], &["rprod"], vec![])
        .node("ReduceLogSum", &["rsq", "hw"], &["rlogsum"], vec![])
        .node(
            "ReduceSumSquare",
            &["x"],
            &["rsq_noop"],
            vec![int("noop_with_empty_axes", 1)],
        )
        .node(
            "ReduceMax",
            &["x"],
            &["rmax_noop"],
            vec![int("noop_with_empty_axes", 1)],
        )
        .node("LogSoftmax", &["x"], &["logsoftmax"], vec![int("axis", 1)])
        .weight("ln.scale", &[3, 3])
        .weight("ln.bias", &[3])
        .node(
            "LayerNormalization",
            &["x", "ln.scale", "ln.bias"],
            &["ln", "ln.mean", "ln.inv_std"],
            vec![int("axis", -2), float("epsilon", 1e-3)],
        )
        .weight("in.scale", &[4])
        .weight("in.bias", &[4])
        .node(
            "InstanceNormalization",
            &["x", "in.scale", "in.bias"],
            &["in"],
            vec![],
        )
        .weight("gn.scale", &[2])
        .weight("gn.bias", &[2])
        .node(
            "GroupNormalization",
            &["x", "gn.scale", "gn.bias"],
            &["gn"],
            vec![int("num_groups", 2)],
        )
        .node("LpNormalization", &["x"], &["lp"], vec![int("axis", 1)]);
    for o in [
        "max",
        "min",
        "mean",
        "sum",
        "rsum",
        "rl1",
        "rl2",
        "rlse",
        "rmax",
        "rmin_all",
        "rprod",
        "rlogsum",
        "rsq_noop",
        "rmax_noop",
        "logsoftmax",
        "ln",
        "ln.mean",
        "ln.inv_std",
        "in",
        "gn",
        "lp",
    ] {
        g.output(o);
    }
    g
}

/// 1-D Conv (strided, padded), MaxPool and AveragePool lifted to 2-D; GlobalMaxPool,
/// SpaceToDepth, DepthToSpace (both modes) and the new table functions on an image.
pub fn one_d_and_blocks() -> G {
    let mut g = G::new(13);
    g.input("x", &[1, 2, 16])
        .weight("w", &[4, 2, 3])
        .weight("b", &[4])
        .node(
            "Conv",
            &["x", "w", "b"],
            &["c"],
            vec![ints("pads", &[1, 1]), ints("strides", &[2])],
        )
        .node("MaxPool", &["c"], &["mp"], vec![ints("kernel_shape", &[2])])
        .node(
            "AveragePool",
            &["c"],
            &["ap"],
            vec![ints("kernel_shape", &[3]), ints("pads", &[1, 1])],
        )
        .input("img", &[1, 8, 4, 4])
        .node("GlobalMaxPool", &["img"], &["gmp"], vec![])
        .node(
            "SpaceToDepth",
            &["img"],
            &["s2d"],
            vec![int("blocksize", 2)],
        )
        .node(
            "DepthToSpace",
            &["img"],
            &["d2s"],
            vec![int("blocksize", 2)],
        )
        .node(
            "DepthToSpace",
            &["img"],
            &["d2s_crd"],
            vec![int("blocksize", 2), string("mode", "CRD")],
        )
        .node("Tan", &["img"], &["tan"], vec![])
        .node("Asinh", &["img"], &["asinh"], vec![])
        .node(
            "Shrink",
            &["img"],
            &["shrink"],
            vec![float("lambd", 0.3), float("bias", 0.1)],
        );
    for o in [
        "mp", "ap", "gmp", "s2d", "d2s", "d2s_crd", "tan", "asinh", "shrink",
    ] {
        g.output(o);
    }
    g
}

/// Opset 13, before the other reductions' axes inputs: ReduceSum's axes as an input beside
/// ReduceMax's and ReduceL2's attributes; `noop_with_empty_axes` written out beside given axes,
/// as tf2onnx does, where it changes nothing.
pub fn reductions13() -> G {
    let mut g = G::new(13);
    g.input("x", &[2, 3, 4])
        .init(i64s("last", &[1], vec![-1]))
        .node(
            "ReduceSum",
            &["x", "last"],
            &["rsum"],
            vec![int("noop_with_empty_axes", 0)],
        )
        .node("ReduceMax", &["x"], &["rmax"], vec![ints("axes", &[0, 2])])
        .node(
            "ReduceL2",
            &["x"],
            &["rl2"],
            vec![ints("axes", &[1]), int("keepdims", 0)],
        )
        .output("rsum")
        .output("rmax")
        .output("rl2");
    g
}

/// Opset 11: LogSoftmax coerces its input to 2-D at `axis` (flatten, normalise, reshape back).
pub fn logsoftmax11() -> G {
    let mut g = G::new(11);
    g.input("x", &[2, 3, 4])
        .node("LogSoftmax", &["x"], &["y"], vec![int("axis", 1)])
        .output("y");
    g
}

/// A shape subgraph of the kind detectors build their anchor grids with: comparisons, Where,
/// Range, Expand, ReduceProd and boolean logic on the input's shape all fold, leaving one Add of a
/// constant grid and one Reshape.
pub fn shape_logic() -> G {
    let mut g = G::new(17);
    g.input("x", &[1, 2, 3, 4])
        .init(i64s("zero", &[], vec![0]))
        .init(i64s("one", &[1], vec![1]))
        .init(i64s("step", &[], vec![1]))
        .init(i64s("two", &[], vec![2]))
        .init(i64s("last", &[], vec![3]))
        .node("Shape", &["x"], &["s"], vec![])
        .node("Gather", &["s", "last"], &["w"], vec![])
        .node("Range", &["zero", "w", "step"], &["cols"], vec![])
        .node("Cast", &["cols"], &["colsf"], vec![int("to", 1)])
        .node("Greater", &["s", "two"], &["big"], vec![])
        .node("Where", &["big", "s", "one"], &["grid_shape"], vec![])
        .node("Expand", &["colsf", "grid_shape"], &["grid"], vec![])
        .node("Add", &["x", "grid"], &["shifted"], vec![])
        .node("ReduceProd", &["s"], &["numel"], vec![int("keepdims", 1)])
        .node("Less", &["numel", "one"], &["empty"], vec![])
        .node("Not", &["empty"], &["nonempty"], vec![])
        .node("Equal", &["numel", "numel"], &["same"], vec![])
        .node("And", &["nonempty", "same"], &["keep"], vec![])
        .node("Where", &["keep", "numel", "one"], &["inner"], vec![])
        .node(
            "Concat",
            &["one", "inner"],
            &["flat_shape"],
            vec![int("axis", 0)],
        )
        .node("Reshape", &["shifted", "flat_shape"], &["y"], vec![])
        .output("y");
    g
}

/// The newest opset, with `ai.onnx.ml` declared but unused, and a Dropout whose `training_mode`
/// is a bool constant false (the identity).
pub fn opset28_ml_domain() -> G {
    let mut g = G::new(28);
    g.declare("ai.onnx.ml", 5)
        .input("x", &[1, 4])
        .init(bools("training", &[], vec![false]))
        .init(f32s("ratio", &[], vec![0.5]))
        .node("Dropout", &["x", "ratio", "training"], &["dropped"], vec![])
        .node("Relu", &["dropped"], &["y"], vec![])
        .output("y");
    g
}

/// Inputs that must be refused: a name and the bytes.
pub fn errors() -> Vec<(&'static str, Vec<u8>)> {
    let tiny = tiny_cnn().bytes();
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x06\0\0\0".to_vec();
    png.extend((0u32..64).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8));
    let one = |opset: i64, f: &dyn Fn(&mut G)| {
        let mut g = G::new(opset);
        f(&mut g);
        g.bytes()
    };
    vec![
        ("truncated", tiny[..tiny.len() / 2].to_vec()),
        ("png", png),
        ("empty", vec![]),
        ("no_graph", {
            let mut m = tiny_cnn().build();
            m.graph.clear();
            protobuf::Message::write_to_bytes(&m).expect("serializes")
        }),
        (
            "opset_29",
            one(29, &|g| {
                g.input("x", &[1])
                    .node("Relu", &["x"], &["y"], vec![])
                    .output("y");
            }),
        ),
        (
            "dropout_training",
            one(13, &|g| {
                g.input("x", &[1, 4])
                    .init(bools("training", &[], vec![true]))
                    .node("Dropout", &["x", "", "training"], &["y"], vec![])
                    .output("y");
            }),
        ),
        (
            "dropout_training_at_run_time",
            one(13, &|g| {
                g.input("x", &[1, 4])
                    .input("t", &[1])
                    .node("Relu", &["t"], &["training"], vec![])
                    .node("Dropout", &["x", "", "training"], &["y"], vec![])
                    .output("y");
            }),
        ),
        (
            "zero_size_input",
            one(18, &|g| {
                g.input("x", &[0, 3, 4])
                    .init(i64s("shape", &[3], vec![3, 4, 0]))
                    .node(
                        "Reshape",
                        &["x", "shape"],
                        &["y"],
                        vec![int("allowzero", 1)],
                    )
                    .output("y");
            }),
        ),
        ("only_ml_domain", {
            let mut g = G::new(13);
            g.declare("ai.onnx.ml", 3)
                .input("x", &[1, 4])
                .node("Relu", &["x"], &["y"], vec![])
                .output("y");
            let mut m = g.build();
            m.opset_import.retain(|o| !o.domain.is_empty());
            protobuf::Message::write_to_bytes(&m).expect("a built model serializes")
        }),
        (
            "unsupported_op",
            one(13, &|g| {
                g.input("boxes", &[1, 4, 4])
                    .input("scores", &[1, 1, 4])
                    .named(
                        "NonMaxSuppression_12",
                        "NonMaxSuppression",
                        &["boxes", "scores"],
                        &["selected"],
                        vec![],
                    )
                    .output("selected");
            }),
        ),
        (
            "resize_cubic",
            one(13, &|g| {
                g.input("x", &[1, 3, 4, 4])
                    .init(f32s("scales", &[4], vec![1.0, 1.0, 2.0, 2.0]))
                    .named(
                        "Resize_3",
                        "Resize",
                        &["x", "", "scales"],
                        &["y"],
                        vec![string("mode", "cubic")],
                    )
                    .output("y");
            }),
        ),
        (
            "resize_crop",
            one(13, &|g| {
                g.input("x", &[1, 3, 4, 4])
                    .init(f32s(
                        "roi",
                        &[8],
                        vec![0.0, 0.0, 0.2, 0.2, 1.0, 1.0, 0.8, 0.8],
                    ))
                    .init(f32s("scales", &[4], vec![1.0, 1.0, 2.0, 2.0]))
                    .named(
                        "Resize_4",
                        "Resize",
                        &["x", "roi", "scales"],
                        &["y"],
                        vec![string(
                            "coordinate_transformation_mode",
                            "tf_crop_and_resize",
                        )],
                    )
                    .output("y");
            }),
        ),
        (
            "resize_channels",
            one(13, &|g| {
                g.input("x", &[1, 3, 4, 4])
                    .init(i64s("sizes", &[4], vec![1, 6, 8, 8]))
                    .named(
                        "Resize_5",
                        "Resize",
                        &["x", "", "", "sizes"],
                        &["y"],
                        vec![],
                    )
                    .output("y");
            }),
        ),
        (
            "resize_antialias_down",
            one(18, &|g| {
                g.input("x", &[1, 3, 4, 4])
                    .init(f32s("scales", &[2], vec![0.5, 0.5]))
                    .named(
                        "Resize_6",
                        "Resize",
                        &["x", "", "scales"],
                        &["y"],
                        vec![
                            string("mode", "linear"),
                            int("antialias", 1),
                            ints("axes", &[2, 3]),
                        ],
                    )
                    .output("y");
            }),
        ),
        (
            "custom_domain",
            one(13, &|g| {
                g.input("x", &[1, 4])
                    .custom("com.microsoft", "FusedGelu", &["x"], &["y"])
                    .output("y");
            }),
        ),
        (
            "dynamic_height",
            one(13, &|g| {
                g.input_with(
                    "image",
                    FLOAT,
                    &[D::P("N"), D::V(3), D::P("height"), D::V(8)],
                )
                .node("Relu", &["image"], &["y"], vec![])
                .output("y");
            }),
        ),
        (
            "reshape_runtime_shape",
            one(13, &|g| {
                g.input("x", &[2, 6])
                    .input_with("shape", INT32, &[D::V(2)])
                    .node("Reshape", &["x", "shape"], &["y"], vec![])
                    .output("y");
            }),
        ),
        (
            "float16_weight",
            one(13, &|g| {
                g.input("x", &[1, 2, 4, 4])
                    .init(f16_zeros("conv.weight", &[2, 2, 1, 1]))
                    .node("Conv", &["x", "conv.weight"], &["y"], vec![])
                    .output("y");
            }),
        ),
        (
            "int64_at_run_time",
            one(13, &|g| {
                g.input("x", &[1, 2])
                    .init(i64s("offset", &[2], vec![1, 2]))
                    .node("Add", &["x", "offset"], &["y"], vec![])
                    .output("y");
            }),
        ),
        (
            "pad_mode_unknown",
            one(13, &|g| {
                g.input("x", &[1, 1, 4, 4])
                    .init(i64s("pads", &[8], vec![0, 0, 1, 1, 0, 0, 1, 1]))
                    .node(
                        "Pad",
                        &["x", "pads"],
                        &["y"],
                        vec![string("mode", "symmetric")],
                    )
                    .output("y");
            }),
        ),
        (
            "pad_crops_everything",
            one(13, &|g| {
                g.input("x", &[1, 1, 4, 4])
                    .init(i64s("pads", &[8], vec![0, 0, -2, 0, 0, 0, -2, 0]))
                    .node("Pad", &["x", "pads"], &["y"], vec![])
                    .output("y");
            }),
        ),
        (
            "tile_zero_repeat",
            one(13, &|g| {
                g.input("x", &[1, 2, 3])
                    .init(i64s("repeats", &[3], vec![1, 0, 2]))
                    .node("Tile", &["x", "repeats"], &["y"], vec![])
                    .output("y");
            }),
        ),
        (
            "top_k_longer_than_axis",
            one(13, &|g| {
                g.input("x", &[1, 5])
                    .init(i64s("k", &[1], vec![6]))
                    .node("TopK", &["x", "k"], &["values", "indices"], vec![])
                    .output("values");
            }),
        ),
        (
            "scatter_nd_reduction_add",
            one(16, &|g| {
                g.input("x", &[2, 3])
                    .input("u", &[1, 3])
                    .init(i64s("i", &[1, 1], vec![1]))
                    .node(
                        "ScatterND",
                        &["x", "i", "u"],
                        &["y"],
                        vec![string("reduction", "add")],
                    )
                    .output("y");
            }),
        ),
        (
            "scatter_nd_index_out_of_range",
            one(13, &|g| {
                g.input("x", &[2, 3])
                    .input("u", &[1, 3])
                    .init(i64s("i", &[1, 1], vec![2]))
                    .node("ScatterND", &["x", "i", "u"], &["y"], vec![])
                    .output("y");
            }),
        ),
        (
            "batchnorm_training_output",
            one(9, &|g| {
                g.input("x", &[1, 2, 2, 2])
                    .weight("g", &[2])
                    .weight("b", &[2])
                    .weight("m", &[2])
                    .positive("v", &[2])
                    .node(
                        "BatchNormalization",
                        &["x", "g", "b", "m", "v"],
                        &["y", "running_mean"],
                        vec![],
                    )
                    .output("y")
                    .output("running_mean");
            }),
        ),
        (
            "maxpool_indices_used",
            one(13, &|g| {
                g.input("x", &[1, 1, 4, 4])
                    .node(
                        "MaxPool",
                        &["x"],
                        &["y", "idx"],
                        vec![ints("kernel_shape", &[2, 2])],
                    )
                    .node("Relu", &["idx"], &["z"], vec![])
                    .output("z");
            }),
        ),
        (
            "dequantize_other_params",
            one(13, &|g| {
                g.input("x", &[1, 4])
                    .init(f32s("s1", &[], vec![0.05]))
                    .init(f32s("s2", &[], vec![0.1]))
                    .node("QuantizeLinear", &["x", "s1"], &["q"], vec![])
                    .node("DequantizeLinear", &["q", "s2"], &["y"], vec![])
                    .output("y");
            }),
        ),
        (
            "conv3d",
            one(13, &|g| {
                g.input("x", &[1, 2, 4, 4, 4])
                    .weight("w", &[4, 2, 3, 3, 3])
                    .node("Conv", &["x", "w"], &["y"], vec![])
                    .output("y");
            }),
        ),
        (
            "undefined_value",
            one(13, &|g| {
                g.input("x", &[1, 4])
                    .node("Add", &["x", "nowhere"], &["y"], vec![])
                    .output("y");
            }),
        ),
        (
            "shape_mismatch",
            one(13, &|g| {
                g.input("x", &[1, 3])
                    .weight("w", &[4])
                    .named("add_bias", "Add", &["x", "w"], &["y"], vec![])
                    .output("y");
            }),
        ),
        (
            "auto_pad_unknown",
            one(13, &|g| {
                g.input("x", &[1, 1, 4, 4])
                    .weight("w", &[1, 1, 3, 3])
                    .node(
                        "Conv",
                        &["x", "w"],
                        &["y"],
                        vec![string("auto_pad", "SAME")],
                    )
                    .output("y");
            }),
        ),
        (
            "conv_transpose_output_too_large",
            one(13, &|g| {
                g.input("x", &[1, 1, 4, 4])
                    .weight("w", &[1, 1, 3, 3])
                    .node(
                        "ConvTranspose",
                        &["x", "w"],
                        &["y"],
                        vec![ints("output_shape", &[9, 9])],
                    )
                    .output("y");
            }),
        ),
        (
            "squeeze_not_one",
            one(13, &|g| {
                g.input("x", &[1, 3])
                    .init(i64s("axes", &[1], vec![-1]))
                    .node("Squeeze", &["x", "axes"], &["y"], vec![])
                    .output("y");
            }),
        ),
        (
            "slice_runtime_starts",
            one(13, &|g| {
                g.input("x", &[1, 3, 4, 4])
                    .input_with("starts", FLOAT, &[D::V(1)])
                    .init(i64s("ends", &[1], vec![4]))
                    .node("Slice", &["x", "starts", "ends"], &["y"], vec![])
                    .output("y");
            }),
        ),
        (
            "slice_empty_used",
            one(13, &|g| {
                g.input("x", &[1, 3, 4, 4])
                    .init(i64s("starts", &[1], vec![3]))
                    .init(i64s("ends", &[1], vec![1]))
                    .init(i64s("axes", &[1], vec![-1]))
                    .node("Slice", &["x", "starts", "ends", "axes"], &["s"], vec![])
                    .node("Relu", &["s"], &["y"], vec![])
                    .output("y");
            }),
        ),
        (
            "split_sizes_wrong",
            one(13, &|g| {
                g.input("x", &[1, 6, 2, 2])
                    .init(i64s("split", &[2], vec![2, 3]))
                    .node("Split", &["x", "split"], &["a", "b"], vec![int("axis", 1)])
                    .output("a");
            }),
        ),
        (
            "einsum_bad_equation",
            one(12, &|g| {
                g.input("x", &[2, 3])
                    .node(
                        "Einsum",
                        &["x"],
                        &["y"],
                        vec![string("equation", "ij->j.i")],
                    )
                    .output("y");
            }),
        ),
        (
            "einsum_size_mismatch",
            one(12, &|g| {
                g.input("x", &[2, 3])
                    .input("y", &[4, 5])
                    .node(
                        "Einsum",
                        &["x", "y"],
                        &["z"],
                        vec![string("equation", "ij,jk->ik")],
                    )
                    .output("z");
            }),
        ),
        (
            "einsum_int64_sum",
            one(12, &|g| {
                g.input_with("x", INT64, &[D::V(2), D::V(3)])
                    .node("Einsum", &["x"], &["y"], vec![string("equation", "ij->i")])
                    .output("y");
            }),
        ),
        (
            "clip_runtime_bound",
            one(13, &|g| {
                g.input("x", &[1, 3])
                    .input_with("hi", FLOAT, &[])
                    .node("Clip", &["x", "", "hi"], &["y"], vec![])
                    .output("y");
            }),
        ),
    ]
}
