"""Two small ONNX graphs that keep index and mask ops at run time, for the backend's end-to-end test
(compiler/tests/backend/onnx_index.rs): a segmentation head ending in ArgMax over the channels, and a
block that gathers channels, masks with Where, expands a pooled vector and picks each pixel's best
channel with ArgMax + GatherElements.

Usage: python tests/python/models_index.py OUT

Writes OUT/seg_argmax.onnx and OUT/gather_where.onnx (opset 17, one 1x3x16x16 float input, one float
output: a library's ports are f32, so the indices are cast to float inside the model). Weights are
seeded random.
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def weight(name, shape, rng, scale=0.3):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def const(name, values, dtype=np.int64):
    return numpy_helper.from_array(np.array(values, dtype=dtype), name)


def save(nodes, inits, out_shape, path):
    graph = helper.make_graph(
        nodes,
        os.path.basename(path)[:-5],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)


def seg_argmax(out):
    """Conv-ReLU-Conv to 5 class scores, ArgMax over the channels (keepdims), cast to float."""
    rng = np.random.default_rng(12)
    inits = [
        weight("w1", [8, 3, 3, 3], rng),
        weight("b1", [8], rng, 0.1),
        weight("w2", [5, 8, 1, 1], rng),
        weight("b2", [5], rng, 0.1),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["scores"]),
        helper.make_node("ArgMax", ["scores"], ["cls"], axis=1, keepdims=1),
        helper.make_node("Cast", ["cls"], ["y"], to=TensorProto.FLOAT),
    ]
    save(nodes, inits, [1, 1, 16, 16], os.path.join(out, "seg_argmax.onnx"))


def gather_where(out):
    """Gather of three channels (a negative index too), Where(g > 0.1, g, 0.2·g), plus the
    per-channel mean expanded back to the image, then each pixel's best channel (ArgMax, keepdims)
    and its value (GatherElements), concatenated with the index cast to float."""
    rng = np.random.default_rng(34)
    inits = [
        weight("w1", [6, 3, 3, 3], rng),
        weight("b1", [6], rng, 0.1),
        const("pick", [4, 0, -1]),
        numpy_helper.from_array(np.array(0.1, np.float32), "t"),
        numpy_helper.from_array(np.array(0.2, np.float32), "k"),
        const("full", [1, 3, 16, 16]),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Gather", ["c", "pick"], ["g"], axis=1),
        helper.make_node("Greater", ["g", "t"], ["m"]),
        helper.make_node("Mul", ["g", "k"], ["gk"]),
        helper.make_node("Where", ["m", "g", "gk"], ["w"]),
        helper.make_node("ReduceMean", ["w"], ["mean"], axes=[2, 3], keepdims=1),
        helper.make_node("Expand", ["mean", "full"], ["e"]),
        helper.make_node("Add", ["w", "e"], ["s"]),
        helper.make_node("ArgMax", ["s"], ["best"], axis=1, keepdims=1),
        helper.make_node("GatherElements", ["s", "best"], ["v"], axis=1),
        helper.make_node("Cast", ["best"], ["bf"], to=TensorProto.FLOAT),
        helper.make_node("Concat", ["v", "bf"], ["y"], axis=1),
    ]
    save(nodes, inits, [1, 2, 16, 16], os.path.join(out, "gather_where.onnx"))


if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seg_argmax(out)
    gather_where(out)
