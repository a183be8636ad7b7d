"""A small graph builder over onnx.helper: named nodes, initializers and seeded random layers."""

import dataclasses
from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


@dataclasses.dataclass
class Case:
    """One test model: the ONNX graph, its samples (axis 0) and how ORT should run it."""

    name: str
    model: onnx.ModelProto
    inputs: np.ndarray
    note: str
    # The QDQ models are run unoptimised so that the reference is the float simulation the
    # graph spells out, not ORT's fused integer kernels.
    ort_optimize: bool = True
    # Turns ORT's outputs into a human-readable check (e.g. top-1 classes), written beside the model.
    report: Callable[[np.ndarray], str] | None = None
    # Raises when ORT's outputs show the model is built wrong (e.g. a real network misclassifies).
    check: Callable[[np.ndarray], None] | None = None


class Builder:
    """Accumulates nodes and initializers; layer helpers draw weights from one seeded generator."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.inits = []
        self.names = set()
        self.count = {}

    def fresh(self, stem):
        n = self.count.get(stem, 0)
        self.count[stem] = n + 1
        name = f"{stem}_{n}" if n else stem
        assert name not in self.names, name
        self.names.add(name)
        return name

    def init(self, stem, array):
        """Adds an initializer (dtype kept as given) and returns its name."""
        name = self.fresh(stem)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def const(self, stem, array):
        """Adds a `Constant` node holding `array` and returns its output."""
        out = self.fresh(stem)
        self.nodes.append(helper.make_node(
            "Constant", [], [out], name=out, value=numpy_helper.from_array(np.asarray(array), out)))
        return out

    def op(self, op_type, inputs, stem=None, n_out=1, **attrs):
        """Adds a node; returns its output name (or a list when it has several outputs)."""
        name = self.fresh(stem or op_type.lower())
        outs = [name] if n_out == 1 else [f"{name}:{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=name, **attrs))
        return outs[0] if n_out == 1 else outs

    # Random parameters ------------------------------------------------------------------

    def he(self, shape, fan_in):
        return (self.rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    def uniform(self, shape, lo, hi):
        return self.rng.uniform(lo, hi, shape).astype(np.float32)

    def normal(self, shape, std):
        return (self.rng.standard_normal(shape) * std).astype(np.float32)

    # Layers -----------------------------------------------------------------------------

    def conv(self, x, cin, cout, k, stride=1, pads=None, group=1, bias=True, stem="conv",
             auto_pad=None, dilations=None):
        kh, kw = (k, k) if isinstance(k, int) else k
        w = self.init(f"{stem}.weight", self.he((cout, cin // group, kh, kw), cin // group * kh * kw))
        inputs = [x, w]
        if bias:
            inputs.append(self.init(f"{stem}.bias", self.normal((cout,), 0.1)))
        attrs = {"kernel_shape": [kh, kw], "strides": [stride, stride] if isinstance(stride, int) else stride,
                 "group": group}
        if auto_pad is not None:
            attrs["auto_pad"] = auto_pad
        elif pads is not None:
            attrs["pads"] = [pads] * 4 if isinstance(pads, int) else pads
        if dilations is not None:
            attrs["dilations"] = dilations
        return self.op("Conv", inputs, stem, **attrs)

    def conv_transpose(self, x, cin, cout, k, stride, group=1, bias=True, stem="deconv", **attrs):
        w = self.init(f"{stem}.weight", self.he((cin, cout // group, k, k), cin // group * k * k))
        inputs = [x, w]
        if bias:
            inputs.append(self.init(f"{stem}.bias", self.normal((cout,), 0.1)))
        return self.op("ConvTranspose", inputs, stem, kernel_shape=[k, k], strides=[stride, stride],
                       group=group, **attrs)

    def bn(self, x, c, eps=1e-5, stem="bn"):
        """BatchNormalization with non-trivial statistics and affine parameters."""
        ins = [
            self.init(f"{stem}.gamma", self.uniform((c,), 0.5, 1.5)),
            self.init(f"{stem}.beta", self.normal((c,), 0.2)),
            self.init(f"{stem}.mean", self.normal((c,), 0.2)),
            self.init(f"{stem}.var", self.uniform((c,), 0.5, 2.0)),
        ]
        return self.op("BatchNormalization", [x, *ins], stem, epsilon=eps)

    def gemm(self, x, cin, cout, stem="fc"):
        """A torch-style linear layer: Gemm with transB=1 and a bias."""
        w = self.init(f"{stem}.weight", self.he((cout, cin), cin))
        b = self.init(f"{stem}.bias", self.normal((cout,), 0.1))
        return self.op("Gemm", [x, w, b], stem, transB=1)

    # Model ------------------------------------------------------------------------------

    def model(self, name, x, x_shape, y, opset, domain_opsets=()):
        """Wraps the graph; the output's shape is left open (and the model unchecked) until ORT ran it."""
        graph = helper.make_graph(
            self.nodes, name,
            [helper.make_tensor_value_info(x, TensorProto.FLOAT, list(x_shape))],
            [helper.make_tensor_value_info(y, TensorProto.FLOAT, None)],
            initializer=self.inits)
        imports = [helper.make_opsetid("", opset), *domain_opsets]
        model = helper.make_model_gen_version(graph, opset_imports=imports, producer_name="qcc-tests")
        # IR 4 is the first where initializers need not be listed as graph inputs; old opsets
        # would otherwise get IR 3 and a model with one input per weight.
        model.ir_version = max(model.ir_version, 4)
        return model


def set_output_shape(model, shape):
    """Records the output's concrete shape, as observed from ORT."""
    out = model.graph.output[0]
    out.CopyFrom(helper.make_tensor_value_info(out.name, TensorProto.FLOAT, list(shape)))
