"""Slice and Split on run-time tensors, and the YOLOX Focus stem: the shapes detectors use.

Split appears in its three forms (the `split` attribute, the `split` input, `num_outputs` with an
uneven last chunk, as YOLOv8 splits channels); Slice with negative steps and axes and INT_MAX /
INT_MIN ends, in its attribute form (opset 9) and its input form; Concat joins branches whose
ranges differ, so the quantizer has to bring them to one set of parameters.
"""

import numpy as np

from onnx_build import Builder, Case

F32 = np.float32
I64 = np.int64
INT_MAX = np.iinfo(np.int64).max
INT_MIN = np.iinfo(np.int64).min


def _samples(b, shape, n=3):
    return b.rng.standard_normal((n, *shape)).astype(F32)


def _ints(b, stem, v):
    return b.init(stem, np.array(v, I64))


def split_slice_op13():
    """Split by the `split` input; Slice with negative steps, negative axes, INT_MAX/INT_MIN ends."""
    b = Builder(seed=301)
    shape = (1, 6, 9, 8)
    h = b.conv("input", 6, 12, 3, pads=1, stem="stem")
    h = b.op("Relu", [h])
    a, c = b.op("Split", [h, _ints(b, "split.sizes", [4, 8])], n_out=2, axis=1)
    # Rows reversed from the last, every other column from 1 to the end (INT_MAX).
    rev = b.op("Slice", [c, _ints(b, "rev.starts", [-1, 1]), _ints(b, "rev.ends", [INT_MIN, INT_MAX]),
                         _ints(b, "rev.axes", [-2, -1]), _ints(b, "rev.steps", [-1, 2])])         # 1x8x9x4
    # Channels 3, 1 (a negative step, its start clamped); the axes input left out: the leading axes.
    pick = b.op("Slice", [a, _ints(b, "pick.starts", [0, 100]), _ints(b, "pick.ends", [1, 0]),
                          "", _ints(b, "pick.steps", [1, -2])])                                       # 1x2x9x8
    pick = b.conv(pick, 2, 8, 3, stride=[1, 2], pads=[1, 1, 1, 1], stem="pick_conv")             # 1x8x9x4
    y = b.op("Concat", [rev, b.op("Sigmoid", [pick])], axis=1)                                    # 1x16x9x4
    y = b.conv(y, 16, 8, 1, stem="head")
    return Case("split_slice_op13", b.model("split_slice_op13", "input", shape, y, 13), _samples(b, shape),
                "Split with a split input; Slice with negative steps and axes, INT_MAX/INT_MIN ends and a "
                "start past the end clamped; Concat of a ReLU branch and a Sigmoid branch; opset 13")


def split_op18():
    """YOLOv8's C2f: Split by num_outputs (uneven), a bottleneck on one half, Concat of all three."""
    b = Builder(seed=302)
    shape = (1, 3, 12, 10)
    h = b.conv("input", 3, 10, 3, stride=2, pads=1, stem="stem")                                 # 1x10x6x5
    h = b.op("Relu", [h])
    p, q, r = b.op("Split", [h], n_out=3, axis=1, num_outputs=3)                                  # 4, 4, 2
    m = b.op("Relu", [b.conv(r, 2, 2, 3, pads=1, stem="bottleneck")])
    m = b.op("Add", [r, m])
    y = b.op("Concat", [p, q, m], axis=1)
    y = b.conv(y, 10, 6, 1, stem="c2f_out")
    return Case("split_op18", b.model("split_op18", "input", shape, y, 18), _samples(b, shape),
                "Split with num_outputs = 3 over 10 channels (4, 4, 2), a residual bottleneck on the "
                "last part, Concat of the three; opset 18")


def split_slice_op9():
    """The attribute forms: Split with a `split` attribute, Slice with starts/ends/axes attributes."""
    b = Builder(seed=303)
    shape = (1, 4, 8, 8)
    h = b.op("Relu", [b.conv("input", 4, 6, 3, pads=1, stem="stem")])
    a, c = b.op("Split", [h], n_out=2, axis=1, split=[2, 4])
    s = b.op("Slice", [c], starts=[1, -6], ends=[INT_MAX, -1], axes=[2, 3])                       # 1x4x7x5
    t = b.op("Slice", [a], starts=[0, 1], ends=[7, 6], axes=[2, 3])                                # 1x2x7x5
    y = b.op("Concat", [s, t], axis=1)
    y = b.conv(y, 6, 4, 3, stem="out")
    return Case("split_slice_op9", b.model("split_slice_op9", "input", shape, y, 9), _samples(b, shape),
                "Split with a split attribute, Slice with attribute bounds (negative start and end, "
                "INT_MAX end), Concat; opset 9")


def yolox_focus():
    """YOLOX's Focus stem: the image's four stride-2 phases joined along the channels, then conv,
    BN, LeakyReLU, and a second stage whose Concat joins branches of different ranges."""
    b = Builder(seed=304)
    shape = (1, 3, 16, 16)
    x = "input"
    phase = []
    for i, j in [(0, 0), (1, 0), (0, 1), (1, 1)]:
        phase.append(b.op("Slice", [x, _ints(b, "focus.starts", [i, j]), _ints(b, "focus.ends", [INT_MAX, INT_MAX]),
                                    _ints(b, "focus.axes", [2, 3]), _ints(b, "focus.steps", [2, 2])]))
    h = b.op("Concat", phase, axis=1)                                                             # 1x12x8x8
    h = b.op("LeakyRelu", [b.bn(b.conv(h, 12, 16, 3, pads=1, bias=False, stem="focus_conv"), 16)], alpha=0.1)
    a = b.op("Relu", [b.conv(h, 16, 8, 1, stem="branch_a")])
    c = b.conv(b.op("MaxPool", [h], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]), 16, 8, 1,
               stem="branch_b")
    y = b.op("Concat", [a, c, h], axis=1)                                                         # 1x32x8x8
    y = b.op("Transpose", [b.conv(y, 32, 6, 1, stem="head")], perm=[0, 2, 3, 1])                 # 1x8x8x6
    return Case("yolox_focus", b.model("yolox_focus", x, shape, y, 13), b.rng.uniform(0, 1, (3, *shape)).astype(F32),
                "YOLOX Focus stem (four stride-2 Slices with INT_MAX ends, Concat), conv+BN+LeakyReLU, a "
                "Concat of a ReLU branch, a linear branch and the trunk (three ranges), NHWC Transpose "
                "of the head; opset 13")


ALL = [split_slice_op13, split_op18, split_slice_op9, yolox_focus]
