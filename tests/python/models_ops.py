"""Small models that together use every ONNX op (and op form) qcc imports, plus BN placements.

Each model has one input and one output; where several branches exist they are flattened and
concatenated (or summed) into that output, so every branch is checked.
"""

import numpy as np
from onnx import TensorProto, helper

from onnx_build import Builder, Case

F32 = np.float32


def _samples(b, shape, n=3):
    """`n` batch-1 samples, standard normal, stacked along a new axis 0."""
    return b.rng.standard_normal((n, *shape)).astype(F32)


def _flat_concat(b, tensors):
    return b.op("Concat", [b.op("Flatten", [t], axis=1) for t in tensors], axis=1)


def every_op_conv():
    """Conv in all its forms, then ConvTranspose with groups, strides and output_padding."""
    b = Builder(seed=101)
    shape = (1, 4, 23, 19)
    h = b.conv("input", 4, 8, 3, stride=2, pads=[0, 1, 1, 2], stem="conv_asym_pads")          # 11x10
    h = b.op("Relu", [h])
    h = b.conv(h, 8, 8, 3, stride=2, group=8, bias=False, auto_pad="SAME_UPPER", stem="dw_same_upper")  # 6x5
    h = b.conv(h, 8, 12, 4, group=2, auto_pad="SAME_LOWER", stem="grouped_same_lower")         # 6x5
    h = b.op("Relu", [h])
    h = b.conv(h, 12, 8, 3, pads=[2, 1, 2, 1], dilations=[2, 1], bias=False, stem="dilated")   # 6x5
    h = b.conv_transpose(h, 8, 6, 3, 2, group=2, pads=[1, 1, 1, 1], output_padding=[1, 0],
                         stem="deconv_grouped")                                                  # 12x9
    h = b.op("Relu", [h])
    y = b.conv_transpose(h, 6, 4, 2, 2, bias=False, stem="deconv_plain")                       # 24x18
    return Case("every_op_conv", b.model("every_op_conv", "input", shape, y, 17), _samples(b, shape),
                "Conv: asymmetric pads, stride 2, depthwise SAME_UPPER without bias, groups=2 with "
                "SAME_LOWER and an even kernel, dilations [2,1]; ConvTranspose: groups=2, stride 2, "
                "pads, output_padding [1,0], and a plain one without bias; opset 17")


def every_op_act():
    """Activations and broadcasting arithmetic with initializer and Constant-node operands."""
    b = Builder(seed=102)
    shape = (1, 8, 6, 6)
    x = "input"
    relu = b.op("Relu", [x])
    leaky = b.op("LeakyRelu", [x], alpha=0.1)
    sig = b.op("Sigmoid", [x])
    hsig = b.op("HardSigmoid", [x], alpha=0.25, beta=0.4)
    hswish = b.op("HardSwish", [x])
    lo = b.init("clip.min", np.array(-0.5, F32))
    hi = b.const("clip.max", np.array(0.75, F32))
    clip_both = b.op("Clip", [x, lo, hi], "clip_both")
    clip_max = b.op("Clip", [x, "", b.init("clip.max_only", np.array(1.0, F32))], "clip_no_min")
    clip_min = b.op("Clip", [x, b.const("clip.min_only", np.array(-0.25, F32))], "clip_no_max")

    per_channel = b.init("scale.c11", b.uniform((1, 8, 1, 1), 0.5, 1.5))
    t1 = b.op("Add", [relu, b.op("Mul", [leaky, per_channel])])
    t2 = b.op("Sub", [sig, hsig])
    t3 = b.op("Div", [hswish, b.op("Add", [sig, b.const("half", np.array(0.5, F32))])])
    t4 = b.op("Div", [b.op("Mul", [clip_both, clip_max]), b.const("div.c11", b.uniform((8, 1, 1), 0.5, 2.0))])
    t5 = b.op("Sub", [b.const("one", np.array(1.0, F32)), b.op("Add", [clip_min, b.init("row", b.normal((6,), 1.0))])])
    pooled = b.op("GlobalAveragePool", [x])
    t6 = b.op("Add", [x, pooled])
    rows = b.op("ReduceMean", [x], axes=[2], keepdims=1)            # 1x8x1x6
    cols = b.op("ReduceMean", [x], axes=[3], keepdims=1)            # 1x8x6x1
    t7 = b.op("Mul", [rows, cols])                                   # both sides broadcast
    y = t1
    for t in (t2, t3, t4, t5, t6, t7):
        y = b.op("Add", [y, t])
    return Case("every_op_act", b.model("every_op_act", x, shape, y, 17), _samples(b, shape),
                "Relu, LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Clip (min+max, missing min, missing "
                "max; bounds from initializers and Constant nodes), Add/Sub/Mul/Div broadcasting "
                "(per-channel, scalar, row, two-sided); opset 17")


def every_op_pool():
    """Max and average pooling variants, global pooling and ReduceMean with attribute axes."""
    b = Builder(seed=103)
    shape = (1, 3, 17, 14)
    x = "input"
    outs = [
        # ceil_mode only matters where the windows do not tile the input exactly: both do here.
        b.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 0, 0], ceil_mode=1),
        b.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2]),
        b.op("AveragePool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=0),
        b.op("AveragePool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1),
        b.op("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 1, 0, 0], ceil_mode=1),
        b.op("AveragePool", [x], kernel_shape=[2, 3], strides=[1, 2]),
        b.op("GlobalAveragePool", [x]),
        b.op("ReduceMean", [x], axes=[2, 3], keepdims=1),
        b.op("ReduceMean", [x], axes=[1], keepdims=0),
    ]
    y = _flat_concat(b, outs)
    return Case("every_op_pool", b.model("every_op_pool", x, shape, y, 17), _samples(b, shape),
                "MaxPool (ceil_mode with asymmetric pads and a partial last window; plain), AveragePool "
                "(count_include_pad 0 and 1 with pads, ceil_mode with a partial last window, rectangular kernel), GlobalAveragePool, ReduceMean with attribute "
                "axes (keepdims 1 and 0), Flatten, Concat; opset 17")


def every_op_shape():
    """Shape manipulation, MatMul, Softmax(-1), Pad and the ops that must vanish (opset 13)."""
    b = Builder(seed=104)
    shape = (1, 6, 4, 5)
    x = b.op("Identity", ["input"])
    x = b.op("Dropout", [x])
    # Reshape to [N, -1] with N computed from the input's shape, as torch.flatten exports.
    n = b.op("Gather", [b.op("Shape", [x]), b.init("idx0", np.array(0, np.int64))], axis=0)
    n = b.op("Unsqueeze", [n, b.init("axes0", np.array([0], np.int64))])
    flat_shape = b.op("Concat", [n, b.const("minus1", np.array([-1], np.int64))], axis=0)
    flat = b.op("Reshape", [x, flat_shape])                                             # 1x120
    r = b.op("Reshape", [x, b.init("shape_0_3_m1_5", np.array([0, 3, -1, 5], np.int64))])  # 1x3x8x5
    t = b.op("Transpose", [r], perm=[0, 2, 1, 3])                                        # 1x8x3x5
    u = b.op("Unsqueeze", [t, b.init("axes1", np.array([1], np.int64))])                 # 1x1x8x3x5
    s = b.op("Squeeze", [u, b.const("axes1c", np.array([1], np.int64))])                 # 1x8x3x5
    mm_w = b.op("MatMul", [s, b.init("mm.weight", b.he((5, 4), 5))])                     # 1x8x3x4
    gram = b.op("MatMul", [s, b.op("Transpose", [s], perm=[0, 1, 3, 2])])                # 1x8x3x3
    soft = b.op("Softmax", [gram], axis=-1)
    pad = b.op("Pad", [x, b.init("pads", np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)),
                       b.init("pad_value", np.array(0.5, F32))], mode="constant")          # 1x6x7x8
    drop = b.op("Dropout", [b.op("Identity", [pad])])
    y = _flat_concat(b, [flat, mm_w, soft, drop])
    return Case("every_op_shape", b.model("every_op_shape", "input", shape, y, 13), _samples(b, shape),
                "Identity and Dropout (must vanish), Reshape (shape from Shape->Gather->Unsqueeze->Concat; "
                "constant shape with 0 and -1), Transpose, Unsqueeze/Squeeze with axes inputs, MatMul "
                "(broadcast weight, batched activation x activation), Softmax axis=-1, Pad constant mode "
                "with pads and value inputs; opset 13")


def every_op_opset11():
    """Gemm attribute combinations, opset-11 Clip/Pad/Softmax forms, on 2-D tensors."""
    b = Builder(seed=105)
    shape = (1, 16)
    x = "input"
    g1 = b.op("Gemm", [x, b.init("g1.weight", b.he((16, 8), 16)), b.init("g1.bias", b.normal((1, 8), 0.5))],
              alpha=0.5, beta=2.0)                                                      # 1x8
    col = b.op("Reshape", [g1, b.init("shape_8_1", np.array([8, 1], np.int64))])        # 8x1
    g2 = b.op("Gemm", [col, b.init("g2.weight", b.he((4, 8), 8)), b.init("g2.bias", b.normal((4,), 0.5))],
              transA=1, transB=1, alpha=1.5, beta=0.25)                                  # 1x4
    g3 = b.op("Gemm", [x, b.init("g3.weight", b.he((16, 5), 16))])                      # 1x5, no C
    clipped = b.op("Clip", [g1, b.init("lo", np.array(-0.5, F32)), b.init("hi", np.array(0.5, F32))])
    padded = b.op("Pad", [x, b.init("pads", np.array([0, 1, 0, 2], np.int64))])          # 1x19, zeros
    mean = b.op("ReduceMean", [b.op("Reshape", [x, b.init("shape_1_4_4", np.array([1, 4, 4], np.int64))])],
                axes=[2], keepdims=0)                                                    # 1x4
    cat = b.op("Concat", [g2, g3, clipped, padded, mean], axis=1)
    # The raw values ride along with their softmax, which alone would flatten errors out.
    y = b.op("Concat", [cat, b.op("Softmax", [cat], axis=1)], axis=1)
    return Case("every_op_opset11", b.model("every_op_opset11", x, shape, y, 11), _samples(b, shape),
                "Gemm (alpha/beta with a 2-D C; transA+transB with a 1-D C; no C), Clip with min/max "
                "inputs, Pad with a pads input (default value), ReduceMean, Reshape, Concat, Softmax "
                "axis=1 on 2-D; opset 11")


def every_op_opset21():
    """Opset-21 forms: ReduceMean with an axes input, Softmax on a 4-D axis, Pad, Squeeze."""
    b = Builder(seed=106)
    shape = (1, 6, 9, 9)
    c = b.op("HardSwish", [b.conv("input", 6, 6, 3, pads=1)])
    se = b.op("ReduceMean", [c, b.init("axes_hw", np.array([2, 3], np.int64))], keepdims=1)   # 1x6x1x1
    h = b.op("Mul", [c, b.op("Sigmoid", [se])])
    h = b.op("Pad", [h, b.init("pads", np.array([0, 0, 1, 0, 0, 0, 1, 2], np.int64))])          # 1x6x11x11
    h = b.op("Mul", [b.op("Softmax", [h], axis=1), h])
    h = b.op("ReduceMean", [h, b.const("axes_last", np.array([-1], np.int64))], keepdims=0)     # 1x6x11
    h = b.op("Unsqueeze", [h, b.init("axes_front", np.array([0], np.int64))])                  # 1x1x6x11
    y = b.op("Squeeze", [h, b.init("axes_sq", np.array([0], np.int64))])                        # 1x6x11
    return Case("every_op_opset21", b.model("every_op_opset21", "input", shape, y, 21), _samples(b, shape),
                "Conv, HardSwish, ReduceMean with an axes input (initializer, and a Constant with a "
                "negative axis, keepdims 0), Sigmoid, Mul broadcast, Pad, Softmax axis=1 on 4-D times "
                "its input, "
                "Unsqueeze/Squeeze; opset 21")


def every_op_pad_modes():
    """Pad's other modes and cropping, on activations between convolutions (opset 19)."""
    b = Builder(seed=107)
    shape = (1, 4, 6, 7)
    c = b.op("Relu", [b.conv("input", 4, 6, 3, pads=1)])                                        # 1x6x6x7
    edge = b.op("Pad", [c, b.init("pads_edge", np.array([0, 0, 2, 1, 0, 0, 1, 3], np.int64))],
                mode="edge")                                                                   # 1x6x9x11
    refl = b.op("Pad", [c, b.init("pads_reflect", np.array([0, 0, 5, 0, 0, 0, 0, 6], np.int64))],
                mode="reflect")                                                                # 1x6x11x13
    # The wrap pad is longer than the axis (8 > 6): the axis repeats more than once.
    wrap = b.op("Pad", [c, b.init("pads_wrap", np.array([1, 8, 2, 0], np.int64)), "",
                        b.init("axes_wrap", np.array([-1, 2], np.int64))], mode="wrap")         # 1x6x14x10
    crop = b.op("Pad", [c, b.init("pads_crop", np.array([0, 0, -1, 2, 0, 0, 1, -3], np.int64)),
                        b.init("crop_value", np.array(-0.25, F32))])                            # 1x6x6x6
    # A 1-D signal as an STFT front end pads it (Silero VAD): reflect on the last axis of rank 3.
    sig = b.op("Reshape", [c, b.init("shape_signal", np.array([1, 1, -1], np.int64))])         # 1x1x252
    sig = b.op("Pad", [sig, b.init("pads_signal", np.array([0, 0, 0, 0, 0, 64], np.int64))],
               mode="reflect")                                                                 # 1x1x316
    convs = [b.conv(h, 6, 4, 3, stem=f"after_{k}") for k, h in
             enumerate((edge, refl, wrap, crop))]
    y = _flat_concat(b, [*convs, sig])
    return Case("every_op_pad_modes", b.model("every_op_pad_modes", "input", shape, y, 19),
                _samples(b, shape),
                "Pad edge, reflect (a pad of 5 on an axis of 6) and wrap (with an axes input, "
                "longer than the axis), constant with negative pads (cropping) and a value, and "
                "reflect on a rank-3 signal; each feeding a conv; opset 19")


def every_op_clip6():
    """The old Clip form: bounds as attributes (opset 6)."""
    b = Builder(seed=107)
    shape = (1, 3, 8, 8)
    h = b.conv("input", 3, 4, 3, pads=1)
    a = b.op("Clip", [h], min=-1.0, max=1.5)
    m = b.op("Clip", [h], max=0.5)
    # ORT has no Add-6 kernel: the branches meet in a Concat.
    y = b.op("Concat", [b.op("Relu", [a]), m], axis=1)
    return Case("every_op_clip6", b.model("every_op_clip6", "input", shape, y, 6), _samples(b, shape),
                "Clip with min/max attributes (both; max only), Conv, Relu, Concat; opset 6")


def bn_variants():
    """BatchNormalization where it does not directly follow a Conv."""
    b = Builder(seed=108)
    shape = (1, 3, 16, 16)
    h = b.bn("input", 3, stem="bn_before_conv")
    h = b.op("Relu", [b.conv(h, 3, 8, 3, pads=1, stem="padded_conv")])
    h = b.conv_transpose(h, 8, 6, 2, 2, stem="deconv")                                  # 1x6x32x32
    h = b.op("Relu", [b.bn(h, 6, stem="bn_after_deconv")])
    h = b.op("Flatten", [b.op("GlobalAveragePool", [h])], axis=1)
    y = b.bn(b.gemm(h, 6, 10), 10, stem="bn_after_gemm")                                # 1x10
    return Case("bn_variants", b.model("bn_variants", "input", shape, y, 17), _samples(b, shape),
                "BN before a padded conv, ConvTranspose followed by BN, Gemm followed by BN on 2-D; opset 17")


# QDQ ----------------------------------------------------------------------------------------

def _qparams(lo, hi, dtype):
    """Asymmetric affine parameters covering [min(lo, 0), max(hi, 0)] (per tensor or per axis)."""
    info = np.iinfo(dtype)
    lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
    scale = np.maximum((hi - lo) / (info.max - info.min), 1e-8).astype(F32)
    zp = np.clip(np.round(info.min - lo / scale), info.min, info.max).astype(dtype)
    return scale, zp


def _qdq_graph(ranges):
    """The QDQ model; with `ranges=None`, the float model with the same weights (to measure ranges).

    Returns (builder, output, activation tensors whose ranges are needed).
    """
    b = Builder(seed=109)
    float_only = ranges is None
    acts = []
    scales = {}  # dequantized tensor -> its scale, for the i32 bias of the layer it feeds

    def act_qdq(t, dtype, axis=None):
        acts.append(t)
        if float_only:
            return t
        lo, hi = ranges[t]
        if axis is not None:
            lo, hi = lo.reshape(-1), hi.reshape(-1)
        else:
            lo, hi = lo.min(), hi.max()
        scale, zp = _qparams(lo, hi, dtype)
        s, z = b.init(f"{t}.scale", scale), b.init(f"{t}.zero_point", zp)
        kw = {} if axis is None else {"axis": axis}
        q = b.op("QuantizeLinear", [t, s, z], f"{t}.q", **kw)
        dq = b.op("DequantizeLinear", [q, s, z], f"{t}.dq", **kw)
        scales[dq] = scale
        return dq

    def weight_qdq(stem, w, dtype, axis, in_scale=None, bias=None):
        """Symmetric i8 / offset u8 weights per output channel, bias as i32 with S_b = S_w * S_x."""
        if float_only:
            return b.init(f"{stem}.weight", w), (None if bias is None else b.init(f"{stem}.bias", bias))
        red = tuple(i for i in range(w.ndim) if i != axis)
        if dtype == np.int8:
            scale = (np.abs(w).max(axis=red) / 127).astype(F32)
            zp = np.zeros_like(scale, np.int8)
        else:
            scale, zp = _qparams(w.min(axis=red), w.max(axis=red), np.uint8)
        bshape = [-1 if i == axis else 1 for i in range(w.ndim)]
        wq = np.clip(np.round(w / scale.reshape(bshape)) + zp.reshape(bshape).astype(np.int32),
                     np.iinfo(dtype).min, np.iinfo(dtype).max).astype(dtype)
        s, z = b.init(f"{stem}.w_scale", scale), b.init(f"{stem}.w_zero_point", zp)
        wdq = b.op("DequantizeLinear", [b.init(f"{stem}.weight_q", wq), s, z], f"{stem}.w_dq", axis=axis)
        if bias is None:
            return wdq, None
        bs = (scale * in_scale).astype(F32)
        bq = np.round(bias / bs).astype(np.int32)
        bdq = b.op("DequantizeLinear", [b.init(f"{stem}.bias_q", bq), b.init(f"{stem}.b_scale", bs),
                                         b.init(f"{stem}.b_zero_point", np.zeros_like(bq))],
                   f"{stem}.b_dq", axis=0)
        return wdq, bdq

    def in_scale(t):
        return None if float_only else scales[t]

    x = act_qdq("input", np.uint8)                                                     # u8 per tensor
    w1, b1 = weight_qdq("conv1", b.he((8, 4, 3, 3), 36), np.int8, 0, in_scale(x),
                        b.normal((8,), 0.1))
    h = b.op("Relu", [b.op("Conv", [x, w1, b1], "conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1])])
    h = act_qdq(h, np.uint8)
    w2, _ = weight_qdq("conv2", b.he((8, 8, 3, 3), 72), np.uint8, 0)                 # u8 per axis
    c2 = b.op("Conv", [h, w2], "conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])
    c2 = act_qdq(c2, np.int8)                                                          # i8 per tensor
    pooled = act_qdq(b.op("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2]), np.uint8)
    s = act_qdq(b.op("Add", [c2, pooled]), np.int8, axis=1)                            # i8 per axis
    s = act_qdq(b.op("Mul", [s, b.op("Sigmoid", [s])], "silu"), np.uint8, axis=1)     # u8 per axis
    g = act_qdq(b.op("Flatten", [b.op("GlobalAveragePool", [s])], axis=1), np.uint8)
    w3, b3 = weight_qdq("fc", b.he((10, 8), 8), np.int8, 0, in_scale(g), b.normal((10,), 0.1))
    y = b.op("Gemm", [g, w3, b3], "fc", transB=1)
    return b, y, acts


def _activation_ranges(b, y, acts, xs):
    import onnxruntime as ort  # only needed here, to observe the float model's ranges

    graph_outputs = [helper.make_tensor_value_info(t, TensorProto.FLOAT, None) for t in [y, *acts]]
    g = helper.make_graph(b.nodes, "qdq_float", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                                list(xs.shape[1:]))],
                          graph_outputs, initializer=b.inits)
    m = helper.make_model_gen_version(g, opset_imports=[helper.make_opsetid("", 13)])
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    per_sample = [sess.run(None, {"input": s})[1:] for s in xs]
    ranges = {}
    for i, t in enumerate(acts):
        vals = np.stack([r[i] for r in per_sample])          # samples x 1 x C x ...
        red = tuple(j for j in range(vals.ndim) if j != 2)
        ranges[t] = (vals.min(axis=red), vals.max(axis=red))  # per channel; per tensor takes min/max
    return ranges


def every_op_qdq():
    """A QDQ model as ORT's quantizer writes it, with u8/i8 per-tensor and per-axis parameters."""
    shape = (1, 4, 10, 10)
    xs = np.random.default_rng(110).uniform(-1.0, 1.0, (3, *shape)).astype(F32)
    ranges = _activation_ranges(*_qdq_graph(None), xs)
    b, y, _ = _qdq_graph(ranges)
    return Case("every_op_qdq", b.model("every_op_qdq", "input", shape, y, 13), xs,
                "QuantizeLinear/DequantizeLinear: activations u8 and i8 per tensor and per axis (axis 1), "
                "weights i8 symmetric and u8 asymmetric per output channel, i32 biases with "
                "S_b = S_w*S_x; Conv, Relu, MaxPool, Add, Sigmoid, Mul, GlobalAveragePool, Flatten, Gemm; "
                "ORT run unoptimised, so the reference is the float simulation; opset 13",
                ort_optimize=False)


def every_op_unary():
    """The functions that import as one `unary` op, each on an input in its domain, and SiLU."""
    b = Builder(seed=110)
    shape = (1, 4, 5, 5)
    x = "input"
    pos = b.op("Add", [b.op("Abs", [x]), b.const("u.half", np.array(0.5, F32))])       # ≥ 0.5
    outs = [b.op(op, [x]) for op in ("Tanh", "Exp", "Neg", "Abs", "Erf", "Softplus", "Softsign",
                                     "Sin", "Cos", "Floor", "Ceil", "Round", "Sign", "Mish")]
    outs += [b.op(op, [pos]) for op in ("Log", "Sqrt", "Reciprocal")]
    outs += [
        b.op("Gelu", [x]),
        b.op("Gelu", [x], approximate="tanh"),
        b.op("Elu", [x], alpha=0.7),
        b.op("Selu", [x]),
        b.op("Selu", [x], alpha=1.5, gamma=1.1),
        b.op("Celu", [x], alpha=1.3),
        b.op("ThresholdedRelu", [x], alpha=0.4),
        b.op("Pow", [x, b.init("u.two", np.array(2.0, F32))]),
        b.op("Pow", [pos, b.const("u.sqrt", np.array(0.5, F32))]),
        b.op("PRelu", [x, b.init("u.slope_c11", b.uniform((4, 1, 1), -0.5, 0.5))]),
        b.op("PRelu", [x, b.init("u.slope_1", np.array([0.2], F32))]),
        b.op("Mul", [x, b.op("Sigmoid", [x])], "silu"),
        b.op("Mul", [b.op("Sigmoid", [x]), x], "silu_swapped"),
    ]
    y = _flat_concat(b, outs)
    return Case("every_op_unary", b.model("every_op_unary", x, shape, y, 20), _samples(b, shape),
                "Tanh, Exp, Log, Sqrt, Reciprocal, Neg, Abs, Erf, Gelu (both approximations), "
                "Softplus, Softsign, Elu, Selu, Celu, ThresholdedRelu, Sin, Cos, Floor, Ceil, Round, "
                "Sign, Mish, Pow with a constant exponent, PRelu (per channel; one slope), SiLU as x·Sigmoid(x) both ways round; "
                "opset 20")


def mobilenetv3_block():
    """A MobileNetV3-style block: conv → HardSwish, depthwise → HardSwish, squeeze-excite
    (pool → 1×1 → ReLU → 1×1 → HardSigmoid, times the features), 1×1 → SiLU, and a GELU head."""
    b = Builder(seed=111)
    shape = (1, 8, 12, 12)
    h = b.op("HardSwish", [b.conv("input", 8, 16, 3, pads=1, stem="expand")])
    h = b.op("HardSwish", [b.conv(h, 16, 16, 3, pads=1, group=16, stem="dw")])
    s = b.op("GlobalAveragePool", [h])
    s = b.op("Relu", [b.conv(s, 16, 4, 1, stem="se_reduce")])
    s = b.op("HardSigmoid", [b.conv(s, 4, 16, 1, stem="se_expand")], alpha=1.0 / 6, beta=0.5)
    h = b.op("Mul", [h, s], "se_scale")
    p = b.conv(h, 16, 12, 1, stem="project")
    h = b.op("Mul", [p, b.op("Sigmoid", [p])], "silu")
    g = b.op("Mul", [h, b.op("Sigmoid", [b.conv(b.op("GlobalAveragePool", [h]), 12, 12, 1, stem="se2")])],
             "sigmoid_gate")
    g = b.op("PRelu", [g, b.init("prelu.slope", b.uniform((12, 1, 1), 0.05, 0.3))])
    y = b.op("Tanh", [b.op("Gelu", [b.conv(g, 12, 8, 1, stem="head")])])
    return Case("mobilenetv3_block", b.model("mobilenetv3_block", "input", shape, y, 20),
                _samples(b, shape, n=8),
                "Conv + HardSwish, depthwise + HardSwish, SE with HardSigmoid and a broadcast Mul, "
                "SiLU as x·Sigmoid(x), a sigmoid-gated SE, PRelu per channel, Gelu and Tanh; opset 20")


def _resize(b, x, scales=None, sizes=None, **attrs):
    """Resize (opset 11+) with constant scales or sizes and an empty roi."""
    s = b.init("scales", np.array(scales, F32)) if scales is not None else ""
    inputs = [x, "", s] if sizes is None else [x, "", "", b.init("sizes", np.array(sizes, np.int64))]
    return b.op("Resize", inputs, **attrs)


def every_op_resize():
    """Resize, opset 13: nearest with every coordinate mode and rounding, scales and sizes, up and
    down; linear with align_corners, half_pixel, pytorch_half_pixel, asymmetric."""
    b = Builder(seed=110)
    shape = (1, 3, 7, 9)
    x = "input"
    nearest = [
        # PyTorch's F.interpolate(scale_factor=2) export: DBNet and YOLO FPNs.
        ((1, 1, 2, 2), None, "asymmetric", "floor"),
        (None, (1, 3, 10, 13), "half_pixel", "round_prefer_floor"),
        ((1, 1, 0.5, 0.75), None, "half_pixel", "round_prefer_ceil"),
        ((1, 1, 1.5, 2.5), None, "pytorch_half_pixel", "floor"),
        (None, (1, 3, 12, 5), "align_corners", "round_prefer_floor"),
        ((1, 1, 3, 1.7), None, "tf_half_pixel_for_nn", "ceil"),
        ((1, 1, 2, 2), None, "half_pixel", "round_prefer_floor"),
    ]
    # torch.onnx writes cubic_coeff_a = -0.75 on every Resize it exports, whatever the mode.
    outs = [_resize(b, x, sc, sz, mode="nearest", coordinate_transformation_mode=c, nearest_mode=r,
                    **({"cubic_coeff_a": -0.75} if i == 0 else {}))
            for i, (sc, sz, c, r) in enumerate(nearest)]
    linear = [
        ((1, 1, 2, 2), None, "align_corners"),
        ((1, 1, 2, 2), None, "half_pixel"),
        (None, (1, 3, 11, 5), "half_pixel"),
        ((1, 1, 1.5, 0.5), None, "pytorch_half_pixel"),
        ((1, 1, 2, 3), None, "asymmetric"),
    ]
    outs += [_resize(b, x, sc, sz, mode="linear", coordinate_transformation_mode=c) for sc, sz, c in linear]
    y = _flat_concat(b, outs)
    return Case("every_op_resize", b.model("every_op_resize", x, shape, y, 13), _samples(b, shape),
                "Resize nearest (asymmetric+floor x2 as PyTorch exports, half_pixel with sizes, "
                "downscaling with round_prefer_ceil, pytorch_half_pixel, align_corners with sizes, "
                "tf_half_pixel_for_nn+ceil with a non-integer scale) and linear (align_corners, "
                "half_pixel with scales and sizes, pytorch_half_pixel up and down, asymmetric); opset 13")


def every_op_resize19():
    """Resize, opset 19: axes, keep_aspect_ratio_policy, half_pixel_symmetric, antialias on an
    upscale (where it changes nothing)."""
    b = Builder(seed=111)
    shape = (1, 2, 6, 8)
    x = "input"
    outs = [
        _resize(b, x, (2, 3), None, axes=[-2, -1], mode="nearest",
                coordinate_transformation_mode="half_pixel_symmetric", nearest_mode="round_prefer_ceil"),
        # Positive axes: ONNX Runtime 1.31 applies the policy to no axis when they are negative.
        _resize(b, x, None, (9, 20), axes=[2, 3], keep_aspect_ratio_policy="not_larger", mode="nearest",
                coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        _resize(b, x, None, (9, 20), axes=[2, 3], keep_aspect_ratio_policy="not_smaller", mode="linear",
                coordinate_transformation_mode="half_pixel"),
        _resize(b, x, (1, 1, 1.5, 2), None, mode="linear", antialias=1,
                coordinate_transformation_mode="half_pixel_symmetric"),
    ]
    y = _flat_concat(b, outs)
    return Case("every_op_resize19", b.model("every_op_resize19", x, shape, y, 19), _samples(b, shape),
                "Resize with axes (positive and negative), keep_aspect_ratio_policy not_larger and "
                "not_smaller with sizes, half_pixel_symmetric nearest and linear, antialias=1 "
                "upscaling; opset 19")


def every_op_upsample():
    """Upsample (opset 9, scales input) and Resize-10: the asymmetric mapping and old rounding."""
    cases = []
    for opset in (9, 10):
        b = Builder(seed=112 + opset)
        shape = (1, 2, 5, 6)
        op = "Upsample" if opset == 9 else "Resize"
        outs = [
            b.op(op, ["input", b.init("scales", np.array(sc, F32))], mode=m)
            for sc, m in [((1, 1, 2, 2), "nearest"), ((1, 1, 1.5, 2.5), "nearest"), ((1, 1, 2, 3), "linear")]
        ]
        if opset == 10:
            outs.append(b.op(op, ["input", b.init("scales", np.array((1, 1, 0.6, 0.5), F32))], mode="nearest"))
        y = _flat_concat(b, outs)
        name = "every_op_upsample9" if opset == 9 else "every_op_resize10"
        cases.append(Case(name, b.model(name, "input", shape, y, opset), _samples(b, shape),
                          f"{op} (opset {opset}): nearest x2, nearest with non-integer scales"
                          f"{' and downscaling' if opset == 10 else ''}, linear; the asymmetric mapping"))
    return cases


def every_op_upsample9():
    return every_op_upsample()[0]


def every_op_resize10():
    return every_op_upsample()[1]


def fpn_resize():
    """An FPN block as DBNet and YOLO have it: a stride-2 branch upsampled x2 (nearest, PyTorch's
    export) and added to the full-resolution branch, then a bilinear x2 head; compiled to int8."""
    b = Builder(seed=114)
    shape = (1, 3, 16, 20)
    hi = b.op("Relu", [b.conv("input", 3, 8, 3, pads=1, stem="hi")])
    lo = b.op("Relu", [b.conv(hi, 8, 16, 3, stride=2, pads=1, stem="lo")])
    lo = b.conv(lo, 16, 8, 1, stem="lateral")
    up = _resize(b, lo, (1, 1, 2, 2), None, mode="nearest", coordinate_transformation_mode="asymmetric",
                 nearest_mode="floor")
    s = b.op("Add", [up, hi])
    s = b.op("Relu", [b.conv(s, 8, 8, 3, pads=1, stem="smooth")])
    s = _resize(b, s, (1, 1, 2, 2), None, mode="linear", coordinate_transformation_mode="half_pixel")
    y = b.conv(s, 8, 2, 3, pads=1, stem="head")
    return Case("fpn_resize", b.model("fpn_resize", "input", shape, y, 13), _samples(b, shape, 4),
                "FPN: conv -> stride-2 conv -> Resize nearest x2 (asymmetric, floor) -> Add -> conv -> "
                "Resize linear x2 (half_pixel) -> conv; opset 13")


def every_op_tile_trilu_topk():
    """Tile, Trilu and TopK on activations, the way attention masks and detector heads use them."""
    b = Builder(seed=108)
    shape = (1, 4, 6, 6)
    c = b.op("Relu", [b.conv("input", 4, 4, 3, pads=1)])                                     # 1x4x6x6
    tiled = b.op("Tile", [c, b.init("repeats", np.array([1, 1, 2, 3], np.int64))])          # 1x4x12x18
    upper = b.op("Trilu", [tiled, b.init("k_upper", np.array(2, np.int64))])                 # upper, k=2
    lower = b.op("Trilu", [c, b.init("k_lower", np.array(-1, np.int64))], upper=0)
    after = b.conv(upper, 4, 4, 3, stride=2, stem="after_trilu")                             # 1x4x5x8
    # The ReLU's zeros tie: ONNX ranks equal elements by index.
    flat = b.op("Reshape", [tiled, b.init("shape_rows", np.array([1, 4, -1], np.int64))])   # 1x4x216
    top_vals, top_idx = b.op("TopK", [flat, b.init("k_top", np.array([7], np.int64))], n_out=2)
    low_vals, low_idx = b.op("TopK", [c, b.init("k_low", np.array([2], np.int64))], n_out=2,
                             axis=1, largest=0)                                              # 1x2x6x6
    as_float = [b.op("Cast", [i], to=TensorProto.FLOAT) for i in (top_idx, low_idx)]
    y = _flat_concat(b, [after, lower, top_vals, low_vals, *as_float])
    return Case("every_op_tile_trilu_topk", b.model("every_op_tile_trilu_topk", "input", shape, y, 17),
                _samples(b, shape),
                "Tile (repeats 2 and 3), Trilu upper with k=2 and lower with k=-1, TopK largest "
                "along the last axis (ReLU zeros tie) and smallest along the channels, indices cast "
                "to float; opset 17")


def every_op_masks():
    """LRN, Hardmax, OneHot, IsNaN and IsInf: ops that compare activations with constants."""
    b = Builder(seed=109)
    shape = (1, 4, 6, 6)
    c = b.op("Relu", [b.conv("input", 4, 6, 3, pads=1)])                                     # 1x6x6x6
    lrn = b.conv(b.op("LRN", [c], size=3, alpha=0.02, beta=0.75, bias=1.5), 6, 4, 3, stem="after_lrn")
    logits = b.conv(c, 6, 5, 1, stem="logits")                                                # 1x5x6x6
    hard = b.op("Hardmax", [logits], axis=1)
    # Indices -3..2 as floats against a depth of 2: negative ones count from the end, -3 and 2
    # fall outside and give a row of the off value.
    best = b.op("ArgMax", [logits], axis=1, keepdims=0)                                       # 1x6x6
    idx = b.op("Sub", [b.op("Cast", [best], to=TensorProto.FLOAT), b.init("three", np.array(3, F32))])
    hot = b.op("OneHot", [idx, b.init("depth", np.array(2, F32)),
                          b.init("off_on", np.array([-1.0, 2.0], F32))], axis=1)             # 1x2x6x6
    # Calibration refuses a model that computes NaN or ±∞, so these see finite values only (the
    # ONNX node tests cover the true cases in the interpreter).
    nan = b.op("Cast", [b.op("IsNaN", [logits])], to=TensorProto.FLOAT)
    inf = b.op("Cast", [b.op("IsInf", [logits], detect_negative=0)], to=TensorProto.FLOAT)
    y = _flat_concat(b, [lrn, hard, hot, nan, inf])
    return Case("every_op_masks", b.model("every_op_masks", "input", shape, y, 13), _samples(b, shape),
                "LRN (size 3), Hardmax along the channels, OneHot of float indices with negative and "
                "out-of-range ones, IsNaN and IsInf (positive only) of finite values; opset 13")


def every_op_einsum():
    """Einsum as exporters write it: attention without the Attention op, a 1x1 conv, a diagonal."""
    b = Builder(seed=110)
    shape = (1, 8, 4, 4)
    c = b.op("Relu", [b.conv("input", 8, 8, 1, stem="stem")])                                   # 1x8x4x4
    heads = b.init("shape_heads", np.array([1, 2, 4, 16], np.int64))
    q = b.op("Reshape", [c, heads])                                                             # 1x2x4x16
    k = b.op("Reshape", [b.conv(c, 8, 8, 1, stem="key"), heads])
    v = b.op("Reshape", [b.conv(c, 8, 8, 1, stem="value"), heads])
    scores = b.op("Einsum", [q, k], equation="bhqd,bhkd->bhqk")                                 # 1x2x4x4
    probs = b.op("Softmax", [scores], axis=-1)
    attended = b.op("Einsum", [probs, v], equation="bhqk , bhkd -> bhqd")                       # 1x2x4x16
    # A 1x1 convolution spelled as a contraction with a weight over the channels.
    proj = b.op("Einsum", [c, b.init("proj.weight", b.he((6, 8), 8))], equation="bchw,kc->bkhw")  # 1x6x4x4
    # The diagonal of each channel's 4x4 map, and an ellipsis over the leading axes.
    diag = b.op("Einsum", [c], equation="bcii->bci")                                            # 1x8x4
    rows = b.op("Einsum", [c, b.init("rows.weight", b.he((4, 3), 4))], equation="...w,wv")       # 1x8x4x3
    y = _flat_concat(b, [attended, proj, diag, rows])
    return Case("every_op_einsum", b.model("every_op_einsum", "input", shape, y, 12), _samples(b, shape),
                "Einsum: attention scores and weighted values (bhqd,bhkd->bhqk; bhqk,bhkd->bhqd with "
                "spaces), a 1x1 conv as bchw,kc->bkhw, a diagonal bcii->bci and an implicit-output "
                "ellipsis ...w,wv; opset 12")


def every_op_scatter():
    """ScatterND and ScatterElements with constant indices, as `y[..., 0:2] = f(y[..., 0:2])` in
    a YOLOv5-style head exports them."""
    b = Builder(seed=111)
    shape = (1, 4, 6, 6)
    c = b.conv("input", 4, 15, 3, pads=1)                                                      # 1x15x6x6
    y = b.op("Sigmoid", [b.op("Transpose", [b.op("Reshape", [c, b.init("shape_anchors",
             np.array([1, 3, 5, 6, 6], np.int64))])], perm=[0, 1, 3, 4, 2])])                 # 1x3x6x6x5
    xy = b.op("Slice", [y, b.init("xy_start", np.array([0], np.int64)),
                        b.init("xy_end", np.array([2], np.int64)),
                        b.init("xy_axis", np.array([4], np.int64))])                          # 1x3x6x6x2
    xy = b.op("Add", [b.op("Mul", [xy, b.init("two", np.array(2, F32))]),
                      b.init("grid", b.uniform((1, 1, 6, 6, 2), 0, 6))])
    # Every element of y[..., 0:2] addressed by its own index tuple (k = rank), as torch exports it.
    idx = np.stack(np.meshgrid(*[np.arange(d) for d in (1, 3, 6, 6)], np.arange(2),
                               indexing="ij"), axis=-1).astype(np.int64)                      # 1x3x6x6x2x5
    y = b.op("ScatterND", [y, b.init("xy_indices", idx), xy])
    # Whole rows (k = 2): anchors 0 and 2 of row 0 and the last anchor given twice (the last wins).
    rows = b.op("Mul", [b.op("Slice", [y, b.init("r_start", np.array([0], np.int64)),
                                       b.init("r_end", np.array([3], np.int64)),
                                       b.init("r_axis", np.array([1], np.int64))]),
                        b.init("half", np.array(0.5, F32))])                                  # 1x3x6x6x5
    y = b.op("ScatterND", [y, b.init("row_indices", np.array([[[0, 0], [0, 2], [0, -1]]], np.int64)),
                           b.op("Slice", [rows, b.init("u_start", np.array([0], np.int64)),
                                          b.init("u_end", np.array([1], np.int64)),
                                          b.init("u_axis", np.array([0], np.int64))])])
    # ScatterElements along the last axis, negative and repeated indices.
    flat = b.op("Reshape", [y, b.init("shape_flat", np.array([1, 3, 180], np.int64))])
    upd = b.op("Slice", [flat, b.init("e_start", np.array([0], np.int64)),
                         b.init("e_end", np.array([4], np.int64)),
                         b.init("e_axis", np.array([2], np.int64))])                          # 1x3x4
    eidx = np.array([[[5, -1, 5, 170], [0, 1, 2, 3], [-180, 179, 7, 7]]], np.int64)
    z = b.op("ScatterElements", [flat, b.init("element_indices", eidx), b.op("Neg", [upd])], axis=2)
    return Case("every_op_scatter", b.model("every_op_scatter", "input", shape, z, 16),
                _samples(b, shape),
                "ScatterND with one index tuple per element (a YOLOv5 head's y[..., 0:2] = ...) and "
                "with row tuples (a repeated one), ScatterElements with negative and repeated "
                "indices; opset 16")


ALL = [every_op_conv, every_op_act, every_op_pool, every_op_shape, every_op_opset11, every_op_opset21,
       every_op_clip6, every_op_qdq, bn_variants, every_op_resize, every_op_resize19, every_op_upsample9,
       every_op_resize10, fpn_resize, every_op_unary, mobilenetv3_block, every_op_pad_modes,
       every_op_tile_trilu_topk, every_op_masks, every_op_einsum,
       every_op_scatter]
