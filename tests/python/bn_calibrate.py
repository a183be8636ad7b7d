"""Sets BatchNormalization running statistics from data, so random networks behave like trained ones.

With random statistics, activations of a deep random network drift in scale layer after layer
and the logits end up nearly the same for every input: a test against them would barely notice
an op that ignores its input. A trained network's BN maps its input to roughly zero mean and unit
variance per channel. To get that in one ORT run, every BN is replaced by the normalisation
computed from the batch itself (all samples at once, statistics over N, H, W); the batch means and
variances come out as extra outputs and become the running statistics of the real model.
"""

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def _batch_norm_from_data(node, rank, inits):
    """Nodes computing BN with the batch's own statistics, and the names of those statistics."""
    x, gamma, beta = node.input[:3]
    name = node.name
    eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
    axes = [0] + list(range(2, rank))
    c = inits[gamma].dims[0]
    bshape = [1, c] + [1] * (rank - 2)
    mean, var = f"{name}.calib_mean", f"{name}.calib_var"
    extra = [
        numpy_helper.from_array(np.array(bshape, np.int64), f"{name}.calib_shape"),
        numpy_helper.from_array(np.array(eps, np.float32), f"{name}.calib_eps"),
    ]
    nodes = [
        helper.make_node("ReduceMean", [x], [mean], axes=axes, keepdims=1),
        helper.make_node("Sub", [x, mean], [f"{name}.calib_d"]),
        helper.make_node("Mul", [f"{name}.calib_d", f"{name}.calib_d"], [f"{name}.calib_d2"]),
        helper.make_node("ReduceMean", [f"{name}.calib_d2"], [var], axes=axes, keepdims=1),
        helper.make_node("Add", [var, f"{name}.calib_eps"], [f"{name}.calib_ve"]),
        helper.make_node("Sqrt", [f"{name}.calib_ve"], [f"{name}.calib_sd"]),
        helper.make_node("Div", [f"{name}.calib_d", f"{name}.calib_sd"], [f"{name}.calib_n"]),
        helper.make_node("Reshape", [gamma, f"{name}.calib_shape"], [f"{name}.calib_g"]),
        helper.make_node("Reshape", [beta, f"{name}.calib_shape"], [f"{name}.calib_b"]),
        helper.make_node("Mul", [f"{name}.calib_n", f"{name}.calib_g"], [f"{name}.calib_ng"]),
        helper.make_node("Add", [f"{name}.calib_ng", f"{name}.calib_b"], [node.output[0]]),
    ]
    return nodes, extra, mean, var


def calibrate(model, samples):
    """Overwrites every BN's mean and variance with the statistics of its input over `samples`.

    `samples` has shape (N, 1, ...): the N batch-1 inputs are run as one batch of N.
    """
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    inferred = onnx.shape_inference.infer_shapes(model)
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in
             list(inferred.graph.value_info) + list(inferred.graph.input)}
    nodes, extra, stats = [], [], []
    for node in g.node:
        if node.op_type != "BatchNormalization":
            nodes.append(node)
            continue
        ns, ex, mean, var = _batch_norm_from_data(node, ranks[node.input[0]], inits)
        nodes += ns
        extra += ex
        stats.append((node, mean, var))
    x = g.input[0]
    dims = [d.dim_value for d in x.type.tensor_type.shape.dim]
    batch = samples.reshape(len(samples) * dims[0], *dims[1:])
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for _, m, v in stats for n in (m, v)]
    replaced = {n.input[slot] for n, _, _ in stats for slot in (3, 4)}
    calib_graph = helper.make_graph(
        nodes, g.name + "_calib",
        [helper.make_tensor_value_info(x.name, TensorProto.FLOAT, [batch.shape[0], *dims[1:]])],
        outputs, initializer=[i for i in g.initializer if i.name not in replaced] + extra)
    calib = helper.make_model(calib_graph, opset_imports=model.opset_import, ir_version=model.ir_version)
    sess = ort.InferenceSession(calib.SerializeToString(), providers=["CPUExecutionProvider"])
    values = sess.run(None, {x.name: batch})
    for i, (node, _, _) in enumerate(stats):
        for slot, value in ((3, values[2 * i]), (4, values[2 * i + 1])):
            name = node.input[slot]
            inits[name].CopyFrom(numpy_helper.from_array(value.reshape(-1).astype(np.float32), name))
