"""Whole networks with random weights: tiny_cnn, conv_mlp_head, resnet18 and mobilenetv2 (torchvision topologies)."""

import numpy as np

import bn_calibrate
import photos
from onnx_build import Builder, Case


def tiny_cnn():
    b = Builder(seed=1)
    x = "input"
    h = x
    for i, (cin, cout) in enumerate([(3, 32), (32, 32), (32, 48)]):
        h = b.conv(h, cin, cout, 3, pads=1, stem=f"conv{i + 1}")
        h = b.bn(h, cout, stem=f"bn{i + 1}")
        h = b.op("Relu", [h])
    h = b.op("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
    h = b.op("GlobalAveragePool", [h])
    h = b.op("Flatten", [h], axis=1)
    y = b.gemm(h, 48, 10)
    names, xs = photos.batch(32, photos.IMAGENET_MEAN, photos.IMAGENET_STD,
                             names=("chelsea", "coffee", "astronaut", "rocket"))
    model = b.model("tiny_cnn", x, (1, 3, 32, 32), y, 17)
    bn_calibrate.calibrate(model, xs)
    return Case("tiny_cnn", model, xs,
                "conv-bn-relu x3, maxpool, global pool, gemm; BN statistics from the samples; opset 17; "
                f"samples: {', '.join(names)} at 32x32")


def conv_mlp_head():
    """Issue 14's fifth benchmark: conv, maxpool, a dilated conv, then an MLP head whose hidden
    layer is Gemm -> BatchNorm1d -> ReLU (the BN folds into the gemm, the ReLU becomes its clamp:
    every layer must run in int8; a 64x2048 weight left float costs half the run)."""
    b = Builder(seed=14)
    x = "input"
    h = b.op("Relu", [b.conv(x, 3, 16, 3, pads=1, stem="conv1")])                       # 16x32x32
    h = b.op("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])                         # 16x16x16
    h = b.conv(h, 16, 32, 3, 2, pads=2, dilations=[2, 2], stem="dilated")                # 32x8x8
    h = b.op("Flatten", [b.op("Relu", [h])], axis=1)                                      # 2048
    h = b.bn(b.gemm(h, 2048, 64, stem="fc1"), 64, stem="bn1d")
    y = b.gemm(b.op("Relu", [h]), 64, 10, stem="fc2")
    names, xs = photos.batch(32, photos.IMAGENET_MEAN, photos.IMAGENET_STD,
                             names=("chelsea", "coffee", "astronaut", "rocket"))
    model = b.model("conv_mlp_head", x, (1, 3, 32, 32), y, 17)
    bn_calibrate.calibrate(model, xs)
    return Case("conv_mlp_head", model, xs,
                "conv-relu, maxpool, dilated conv (stride 2, dilation 2), flatten, Gemm 2048->64 -> "
                "BatchNorm1d -> ReLU -> Gemm 64->10; BN statistics from the samples; opset 17; "
                f"samples: {', '.join(names)} at 32x32")


def _basic_block(b, x, cin, cout, stride, stem):
    h = b.conv(x, cin, cout, 3, stride, pads=1, bias=False, stem=f"{stem}.conv1")
    h = b.op("Relu", [b.bn(h, cout, stem=f"{stem}.bn1")])
    h = b.conv(h, cout, cout, 3, 1, pads=1, bias=False, stem=f"{stem}.conv2")
    h = b.bn(h, cout, stem=f"{stem}.bn2")
    if stride != 1 or cin != cout:
        x = b.conv(x, cin, cout, 1, stride, pads=0, bias=False, stem=f"{stem}.downsample.0")
        x = b.bn(x, cout, stem=f"{stem}.downsample.1")
    return b.op("Relu", [b.op("Add", [h, x])])


def resnet18():
    b = Builder(seed=18)
    x = "input"
    h = b.conv(x, 3, 64, 7, 2, pads=3, bias=False, stem="conv1")
    h = b.op("Relu", [b.bn(h, 64, stem="bn1")])
    h = b.op("MaxPool", [h], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 64
    for layer, (cout, stride) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)]):
        for blk in range(2):
            h = _basic_block(b, h, cin, cout, stride if blk == 0 else 1, f"layer{layer + 1}.{blk}")
            cin = cout
    h = b.op("Flatten", [b.op("GlobalAveragePool", [h])], axis=1)
    y = b.gemm(h, 512, 1000)
    names, xs = photos.batch(224, photos.IMAGENET_MEAN, photos.IMAGENET_STD,
                             names=("chelsea", "astronaut", "china"))
    model = b.model("resnet18", x, (1, 3, 224, 224), y, 17)
    bn_calibrate.calibrate(model, xs)
    return Case("resnet18", model, xs,
                "torchvision ResNet-18 topology, random weights, BN statistics from the samples; opset 17; "
                f"samples: {', '.join(names)}")


def _relu6(b, x, lo, hi):
    return b.op("Clip", [x, lo, hi], "relu6")


def mobilenetv2():
    b = Builder(seed=2)
    lo = b.init("relu6.min", np.array(0.0, np.float32))
    hi = b.init("relu6.max", np.array(6.0, np.float32))
    x = "input"
    h = b.conv(x, 3, 32, 3, 2, pads=1, bias=False, stem="features.0.0")
    h = _relu6(b, b.bn(h, 32, stem="features.0.1"), lo, hi)
    cin, idx = 32, 1
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(n):
            stride = s if i == 0 else 1
            stem = f"features.{idx}.conv"
            hidden = cin * t
            y = h
            if t != 1:
                y = b.conv(y, cin, hidden, 1, bias=False, pads=0, stem=f"{stem}.expand")
                y = _relu6(b, b.bn(y, hidden, stem=f"{stem}.expand_bn"), lo, hi)
            y = b.conv(y, hidden, hidden, 3, stride, pads=1, group=hidden, bias=False, stem=f"{stem}.dw")
            y = _relu6(b, b.bn(y, hidden, stem=f"{stem}.dw_bn"), lo, hi)
            y = b.conv(y, hidden, c, 1, bias=False, pads=0, stem=f"{stem}.project")
            y = b.bn(y, c, stem=f"{stem}.project_bn")
            h = b.op("Add", [h, y]) if stride == 1 and cin == c else y
            cin, idx = c, idx + 1
    h = b.conv(h, 320, 1280, 1, bias=False, pads=0, stem=f"features.{idx}.0")
    h = _relu6(b, b.bn(h, 1280, stem=f"features.{idx}.1"), lo, hi)
    h = b.op("Flatten", [b.op("GlobalAveragePool", [h])], axis=1)
    y = b.gemm(h, 1280, 1000, stem="classifier.1")
    names, xs = photos.batch(224, photos.IMAGENET_MEAN, photos.IMAGENET_STD,
                             names=("coffee", "rocket", "flower"))
    model = b.model("mobilenetv2", x, (1, 3, 224, 224), y, 17)
    bn_calibrate.calibrate(model, xs)
    return Case("mobilenetv2", model, xs,
                "torchvision MobileNetV2 topology, random weights, BN statistics from the samples, ReLU6 "
                f"as Clip(x, min, max) with initializer inputs; opset 17; samples: {', '.join(names)}")
