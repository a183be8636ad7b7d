"""The real-world model families of issue 12 (detectors, segmenters, OCR classifiers) as small ONNX graphs.

Usage: python tests/python/models_families.py OUT [NAME ...]

Each family keeps the ops and topology its real export has (YOLOv8n's C2f/SPPF/DFL decode, YOLOX's
Focus stem and decoupled head, DBNet's FPN with nearest Resize and ConvTranspose head, U-Net's
ConvTranspose and skip Concat, MobileNetV3's SE + HardSwish, PP-LCNet's depthwise-separable
blocks, CRNN's column sequence through a bidirectional LSTM and a GRU, a BERT encoder on int64
token ids and an attention mask) at widths and input sides small enough to run in a second.
Weights are random (seeded),
BatchNorm statistics come from the calibration crops (bn_calibrate.py), so activations are sized
as in a trained network. For every NAME, OUT gets NAME.onnx, NAME.calib.npy (16 random crops of
the photos, axis 0 = samples, each a batch-1 input), NAME.heldout.npy (8 other crops) and ORT
fp32's outputs of both, NAME.calib.expected.npy and NAME.heldout.expected.npy; manifest.json
lists them with each family's input name and a note on what it covers. A family with several
inputs (bert_like) writes the first input's samples as above and lists the others under
`more_inputs`, each with its NAME.SPLIT.inK.npy files.
"""

import dataclasses
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

import bn_calibrate
import photos
from onnx_build import Builder, set_output_shape

OPSET = 17
N_CALIB, N_HELDOUT = 16, 8
# Detectors take RGB in [0, 1] (ultralytics and YOLOX divide by 255 and nothing else).
UNIT_MEAN, UNIT_STD = np.zeros(3, np.float32), np.ones(3, np.float32)


@dataclasses.dataclass
class Family:
    name: str
    model: onnx.ModelProto
    # The samples: one array (a single-input family) or {input name: array}, axis 0 = samples.
    calib: np.ndarray | dict
    heldout: np.ndarray | dict
    note: str


def _samples(size, mean, std):
    """Calibration and held-out crops; different seeds, so no held-out crop was calibrated on."""
    return (photos.random_crops(N_CALIB, size, mean, std, seed=12),
            photos.random_crops(N_HELDOUT, size, mean, std, seed=13))


def _finish(b, name, x, size, y, mean, std, note):
    calib, heldout = _samples(size, mean, std)
    model = b.model(name, x, (1, 3, size, size), y, OPSET)
    bn_calibrate.calibrate(model, calib)
    return Family(name, model, calib, heldout, note)


# Shared layers -------------------------------------------------------------------------------

def _silu(b, x):
    """SiLU as torch.onnx exports it before opset 22's Swish: x * Sigmoid(x)."""
    return b.op("Mul", [x, b.op("Sigmoid", [x])], "silu")


def _cbs(b, x, cin, cout, k=1, s=1, stem="cbs", groups=1):
    """Conv (no bias) - BN - SiLU, the ultralytics/YOLOX `Conv` module."""
    h = b.conv(x, cin, cout, k, s, pads=k // 2, group=groups, bias=False, stem=f"{stem}.conv")
    return _silu(b, b.bn(h, cout, stem=f"{stem}.bn"))


def _cbr(b, x, cin, cout, k=3, s=1, stem="cbr"):
    h = b.conv(x, cin, cout, k, s, pads=k // 2, bias=False, stem=f"{stem}.conv")
    return b.op("Relu", [b.bn(h, cout, stem=f"{stem}.bn")])


def _upsample(b, x, factor, roi_omitted=False):
    """nn.Upsample(scale_factor=f, mode='nearest') as torch.onnx exports it at opset 13-17.

    Exporters spell the unused roi either as an empty tensor or as an omitted input (""); the
    YOLOv8 families use the second form, the others the first, so both get imported."""
    roi = "" if roi_omitted else b.init("resize.roi", np.zeros(0, np.float32))
    scales = b.init("resize.scales", np.array([1, 1, factor, factor], np.float32))
    return b.op("Resize", [x, roi, scales], "resize", mode="nearest",
                coordinate_transformation_mode="asymmetric", nearest_mode="floor")


def _i64(b, stem, values):
    return b.init(stem, np.array(values, np.int64))


def _reshape(b, x, shape):
    """Reshape; a 0 keeps the batch (the BN calibration runs all samples as one batch)."""
    return b.op("Reshape", [x, _i64(b, "shape", shape)])


# YOLOv8n ---------------------------------------------------------------------------------------

def _c2f(b, x, cin, cout, n, shortcut, stem):
    """cv1 to 2c, Split in halves, n bottlenecks chained on the second half, Concat all, cv2."""
    c = cout // 2
    h = _cbs(b, x, cin, 2 * c, stem=f"{stem}.cv1")
    parts = b.op("Split", [h, _i64(b, "split", [c, c])], "split", n_out=2, axis=1)
    last = parts[1]
    for i in range(n):
        y = _cbs(b, last, c, c, 3, stem=f"{stem}.m{i}.cv1")
        y = _cbs(b, y, c, c, 3, stem=f"{stem}.m{i}.cv2")
        last = b.op("Add", [last, y]) if shortcut else y
        parts.append(last)
    h = b.op("Concat", parts, axis=1)
    return _cbs(b, h, (2 + n) * c, cout, stem=f"{stem}.cv2")


def _sppf(b, x, c, stem):
    h = _cbs(b, x, c, c // 2, stem=f"{stem}.cv1")
    pools = [h]
    for _ in range(3):
        pools.append(b.op("MaxPool", [pools[-1]], kernel_shape=[5, 5], strides=[1, 1], pads=[2] * 4))
    return _cbs(b, b.op("Concat", pools, axis=1), 2 * c, c, stem=f"{stem}.cv2")


def _anchors_const(b, sides, strides):
    """The anchor centres and strides make_anchors computes, folded to constants (a static export)."""
    pts, st = [], []
    for side, s in zip(sides, strides):
        yy, xx = np.meshgrid(np.arange(side) + 0.5, np.arange(side) + 0.5, indexing="ij")
        pts.append(np.stack([xx.ravel(), yy.ravel()]))
        st.append(np.full(side * side, s))
    anchors = np.concatenate(pts, axis=1)[None].astype(np.float32)
    return b.init("anchors", anchors), b.init("strides", np.concatenate(st)[None, None].astype(np.float32))


def _anchors_from_shapes(b, feats, strides):
    """The same grid computed from the feature maps' shapes, as a dynamic export leaves it:
    Shape, Gather, Cast, Range, Expand, Unsqueeze, Concat and ConstantOfShape."""
    pts, st = [], []
    for f, s in zip(feats, strides):
        shape = b.op("Shape", [f])
        dims = []
        for axis in (2, 3):
            d = b.op("Gather", [shape, b.init("axis", np.array(axis, np.int64))], axis=0)
            df = b.op("Cast", [d], to=TensorProto.FLOAT)
            r = b.op("Range", [b.init("zero", np.array(0.0, np.float32)), df,
                               b.init("one", np.array(1.0, np.float32))])
            dims.append((d, b.op("Add", [r, b.init("half", np.array(0.5, np.float32))])))
        (dh, sy), (dw, sx) = dims
        hw = b.op("Concat", [b.op("Unsqueeze", [dh, _i64(b, "axes", [0])]),
                             b.op("Unsqueeze", [dw, _i64(b, "axes", [0])])], axis=0)
        gy = b.op("Expand", [b.op("Unsqueeze", [sy, _i64(b, "axes", [1])]), hw])
        gx = b.op("Expand", [b.op("Unsqueeze", [sx, _i64(b, "axes", [0])]), hw])
        grid = b.op("Concat", [b.op("Unsqueeze", [g, _i64(b, "axes", [0])]) for g in (gx, gy)], axis=0)
        pts.append(_reshape(b, grid, [2, -1]))
        n = b.op("Mul", [dh, dw])
        one_n = b.op("Concat", [_i64(b, "one_dim", [1]), b.op("Unsqueeze", [n, _i64(b, "axes", [0])])],
                     axis=0)
        value = helper.make_tensor("v", TensorProto.FLOAT, [1], [s])
        st.append(b.op("ConstantOfShape", [one_n], value=value))
    anchors = b.op("Unsqueeze", [b.op("Concat", pts, axis=1), _i64(b, "axes", [0])])
    strides_t = b.op("Unsqueeze", [b.op("Concat", st, axis=1), _i64(b, "axes", [0])])
    return anchors, strides_t


def _yolov8n(name, shape_anchors):
    b = Builder(seed=8)
    size, nc, reg = 64, 4, 16
    x = "images"
    h = _cbs(b, x, 3, 16, 3, 2, "model.0")
    h = _cbs(b, h, 16, 32, 3, 2, "model.1")
    h = _c2f(b, h, 32, 32, 1, True, "model.2")
    h = _cbs(b, h, 32, 64, 3, 2, "model.3")
    p3 = _c2f(b, h, 64, 64, 2, True, "model.4")
    h = _cbs(b, p3, 64, 64, 3, 2, "model.5")
    p4 = _c2f(b, h, 64, 64, 2, True, "model.6")
    h = _cbs(b, p4, 64, 128, 3, 2, "model.7")
    h = _c2f(b, h, 128, 128, 1, True, "model.8")
    p5 = _sppf(b, h, 128, "model.9")
    h = b.op("Concat", [_upsample(b, p5, 2, roi_omitted=True), p4], axis=1)
    n4 = _c2f(b, h, 192, 64, 1, False, "model.12")
    h = b.op("Concat", [_upsample(b, n4, 2, roi_omitted=True), p3], axis=1)
    o3 = _c2f(b, h, 128, 32, 1, False, "model.15")
    h = b.op("Concat", [_cbs(b, o3, 32, 32, 3, 2, "model.16"), n4], axis=1)
    o4 = _c2f(b, h, 96, 64, 1, False, "model.18")
    h = b.op("Concat", [_cbs(b, o4, 64, 64, 3, 2, "model.19"), p5], axis=1)
    o5 = _c2f(b, h, 192, 128, 1, False, "model.21")
    levels = []
    for i, (f, c) in enumerate([(o3, 32), (o4, 64), (o5, 128)]):
        bx = _cbs(b, f, c, 32, 3, stem=f"model.22.cv2.{i}.0")
        bx = _cbs(b, bx, 32, 32, 3, stem=f"model.22.cv2.{i}.1")
        bx = b.conv(bx, 32, 4 * reg, 1, stem=f"model.22.cv2.{i}.2")
        cl = _cbs(b, f, c, 32, 3, stem=f"model.22.cv3.{i}.0")
        cl = _cbs(b, cl, 32, 32, 3, stem=f"model.22.cv3.{i}.1")
        cl = b.conv(cl, 32, nc, 1, stem=f"model.22.cv3.{i}.2")
        levels.append(_reshape(b, b.op("Concat", [bx, cl], axis=1), [0, 4 * reg + nc, -1]))
    h = b.op("Concat", levels, axis=2)
    box, cls = b.op("Split", [h, _i64(b, "split", [4 * reg, nc])], "split", n_out=2, axis=1)
    # DFL: a softmax over 16 bins per side, its expectation taken by a 1x1 conv with weights 0..15.
    n_anchor = sum((size // s) ** 2 for s in (8, 16, 32))
    d = b.op("Transpose", [_reshape(b, box, [0, 4, reg, n_anchor])], perm=[0, 2, 1, 3])
    d = b.op("Softmax", [d], axis=1)
    arange = b.init("dfl.conv.weight", np.arange(reg, dtype=np.float32).reshape(1, reg, 1, 1))
    d = _reshape(b, b.op("Conv", [d, arange], "dfl.conv", kernel_shape=[1, 1]), [0, 4, n_anchor])
    if shape_anchors:
        anchors, strides = _anchors_from_shapes(b, [o3, o4, o5], (8, 16, 32))
    else:
        anchors, strides = _anchors_const(b, [size // s for s in (8, 16, 32)], (8, 16, 32))
    lt, rb = b.op("Split", [d, _i64(b, "split", [2, 2])], "split", n_out=2, axis=1)
    x1y1, x2y2 = b.op("Sub", [anchors, lt]), b.op("Add", [anchors, rb])
    cxy = b.op("Div", [b.op("Add", [x1y1, x2y2]), b.init("two", np.array(2.0, np.float32))])
    wh = b.op("Sub", [x2y2, x1y1])
    boxes = b.op("Mul", [b.op("Concat", [cxy, wh], axis=1), strides])
    y = b.op("Concat", [boxes, b.op("Sigmoid", [cls])], axis=1)
    grid = "anchor grid from Shape/Range/Expand/ConstantOfShape" if shape_anchors else "constant anchor grid"
    return _finish(b, name, x, size, y, UNIT_MEAN, UNIT_STD,
                   "YOLOv8n topology at 1/4 width: SiLU as Sigmoid*Mul, C2f with Split, SPPF, nearest "
                   f"Resize x2 (scales), PAN, DFL decode head ({grid}); 3x{size}x{size}, 4 classes; "
                   "output (1, 8, 84): cx, cy, w, h, class scores")


def yolov8n_like():
    return _yolov8n("yolov8n_like", shape_anchors=False)


def yolov8n_shapes_like():
    return _yolov8n("yolov8n_shapes_like", shape_anchors=True)


# YOLOX-tiny --------------------------------------------------------------------------------

def _focus(b, x):
    """Space-to-depth by four stride-2 Slices of the image, in YOLOX's order."""
    parts = []
    for top, left in ((0, 0), (1, 0), (0, 1), (1, 1)):
        parts.append(b.op("Slice", [x, _i64(b, "starts", [top, left]), _i64(b, "ends", [2**62, 2**62]),
                                    _i64(b, "axes", [2, 3]), _i64(b, "steps", [2, 2])]))
    return b.op("Concat", parts, axis=1)


def _csp(b, x, cin, cout, n, shortcut, stem):
    c = cout // 2
    x1 = _cbs(b, x, cin, c, stem=f"{stem}.conv1")
    x2 = _cbs(b, x, cin, c, stem=f"{stem}.conv2")
    for i in range(n):
        y = _cbs(b, _cbs(b, x1, c, c, stem=f"{stem}.m{i}.conv1"), c, c, 3, stem=f"{stem}.m{i}.conv2")
        x1 = b.op("Add", [x1, y]) if shortcut else y
    return _cbs(b, b.op("Concat", [x1, x2], axis=1), 2 * c, cout, stem=f"{stem}.conv3")


def yolox_tiny_like():
    b = Builder(seed=9)
    size, nc = 96, 4
    x = "images"
    h = _cbs(b, _focus(b, x), 12, 16, 3, stem="stem.conv")
    h = _csp(b, _cbs(b, h, 16, 32, 3, 2, "dark2.0"), 32, 32, 1, True, "dark2.1")
    c3 = _csp(b, _cbs(b, h, 32, 64, 3, 2, "dark3.0"), 64, 64, 1, True, "dark3.1")
    c4 = _csp(b, _cbs(b, c3, 64, 96, 3, 2, "dark4.0"), 96, 96, 1, True, "dark4.1")
    h = _cbs(b, c4, 96, 128, 3, 2, "dark5.0")
    # SPP bottleneck: parallel max pools of 5, 9 and 13.
    s = _cbs(b, h, 128, 64, stem="dark5.1.conv1")
    pools = [s] + [b.op("MaxPool", [s], kernel_shape=[k, k], strides=[1, 1], pads=[k // 2] * 4)
                   for k in (5, 9, 13)]
    h = _cbs(b, b.op("Concat", pools, axis=1), 256, 128, stem="dark5.1.conv2")
    c5 = _csp(b, h, 128, 128, 1, False, "dark5.2")
    f5 = _cbs(b, c5, 128, 96, stem="lateral_conv0")
    h = _csp(b, b.op("Concat", [_upsample(b, f5, 2), c4], axis=1), 192, 96, 1, False, "C3_p4")
    f4 = _cbs(b, h, 96, 64, stem="reduce_conv1")
    o3 = _csp(b, b.op("Concat", [_upsample(b, f4, 2), c3], axis=1), 128, 64, 1, False, "C3_p3")
    h = b.op("Concat", [_cbs(b, o3, 64, 64, 3, 2, "bu_conv2"), f4], axis=1)
    o4 = _csp(b, h, 128, 96, 1, False, "C3_n3")
    h = b.op("Concat", [_cbs(b, o4, 96, 96, 3, 2, "bu_conv1"), f5], axis=1)
    o5 = _csp(b, h, 192, 128, 1, False, "C3_n4")
    levels = []
    for i, (f, c) in enumerate([(o3, 64), (o4, 96), (o5, 128)]):
        stem = _cbs(b, f, c, 32, stem=f"head.stems.{i}")
        cl = _cbs(b, _cbs(b, stem, 32, 32, 3, stem=f"head.cls_convs.{i}.0"), 32, 32, 3,
                  stem=f"head.cls_convs.{i}.1")
        rg = _cbs(b, _cbs(b, stem, 32, 32, 3, stem=f"head.reg_convs.{i}.0"), 32, 32, 3,
                  stem=f"head.reg_convs.{i}.1")
        reg = b.conv(rg, 32, 4, 1, stem=f"head.reg_preds.{i}")
        obj = b.op("Sigmoid", [b.conv(rg, 32, 1, 1, stem=f"head.obj_preds.{i}")])
        cls = b.op("Sigmoid", [b.conv(cl, 32, nc, 1, stem=f"head.cls_preds.{i}")])
        levels.append(_reshape(b, b.op("Concat", [reg, obj, cls], axis=1), [0, 5 + nc, -1]))
    y = b.op("Transpose", [b.op("Concat", levels, axis=2)], perm=[0, 2, 1])
    return _finish(b, "yolox_tiny_like", x, size, y, UNIT_MEAN, UNIT_STD,
                   "YOLOX-tiny topology at 1/3 width: Focus stem (four stride-2 Slices + Concat), CSP "
                   f"blocks, SiLU, SPP, PAFPN with nearest Resize x2, decoupled head; 3x{size}x{size}, "
                   "4 classes; output (1, 84, 9): box, objectness, class scores (not decoded)")


# DBNet -------------------------------------------------------------------------------------

def _basic(b, x, cin, cout, stride, stem):
    h = _cbr(b, x, cin, cout, 3, stride, f"{stem}.a")
    h = b.bn(b.conv(h, cout, cout, 3, pads=1, bias=False, stem=f"{stem}.b.conv"), cout, stem=f"{stem}.b.bn")
    if stride != 1 or cin != cout:
        x = b.bn(b.conv(x, cin, cout, 1, stride, pads=0, bias=False, stem=f"{stem}.down.conv"), cout,
                 stem=f"{stem}.down.bn")
    return b.op("Relu", [b.op("Add", [h, x])])


def dbnet_like():
    b = Builder(seed=10)
    size, inner = 64, 32
    x = "x"
    h = _cbr(b, x, 3, 16, 3, 2, "backbone.conv1")
    h = b.op("MaxPool", [h], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4)
    c2 = _basic(b, h, 16, 16, 1, "backbone.layer1")
    c3 = _basic(b, c2, 16, 32, 2, "backbone.layer2")
    c4 = _basic(b, c3, 32, 48, 2, "backbone.layer3")
    c5 = _basic(b, c4, 48, 64, 2, "backbone.layer4")
    ins = [b.conv(c, ch, inner, 1, bias=False, stem=f"neck.in{i + 2}")
           for i, (c, ch) in enumerate([(c2, 16), (c3, 32), (c4, 48), (c5, 64)])]
    out4 = b.op("Add", [_upsample(b, ins[3], 2), ins[2]])
    out3 = b.op("Add", [_upsample(b, out4, 2), ins[1]])
    out2 = b.op("Add", [_upsample(b, out3, 2), ins[0]])
    ps = []
    for i, (f, up) in enumerate([(ins[3], 8), (out4, 4), (out3, 2), (out2, 1)]):
        p = b.conv(f, inner, inner // 4, 3, pads=1, bias=False, stem=f"neck.p{5 - i}")
        ps.append(_upsample(b, p, up) if up > 1 else p)
    fuse = b.op("Concat", ps, axis=1)
    h = _cbr(b, fuse, inner, inner // 4, 3, 1, "head.binarize.0")
    h = b.op("Relu", [b.bn(b.conv_transpose(h, inner // 4, inner // 4, 2, 2, stem="head.binarize.3"),
                           inner // 4, stem="head.binarize.4")])
    h = b.conv_transpose(h, inner // 4, 1, 2, 2, stem="head.binarize.6")
    y = b.op("Sigmoid", [h])
    return _finish(b, "dbnet_like", x, size, y, photos.IMAGENET_MEAN, photos.IMAGENET_STD,
                   "DBNet (PaddleOCR det) topology: small ResNet backbone, FPN with nearest Resize "
                   "x2/x4/x8 and Add, Concat, head Conv-BN-ReLU, ConvTranspose x2 twice, Sigmoid; "
                   f"3x{size}x{size}; output the (1, 1, {size}, {size}) probability map")


# U-Net -------------------------------------------------------------------------------------

def unet_like():
    b = Builder(seed=11)
    size = 64
    x = "input"

    def double(h, cin, cout, stem):
        return _cbr(b, _cbr(b, h, cin, cout, 3, 1, f"{stem}.0"), cout, cout, 3, 1, f"{stem}.1")

    skips, h, cin = [], x, 3
    for i, c in enumerate((16, 32, 64)):
        h = double(h, cin, c, f"down{i}")
        skips.append((h, c))
        h = b.op("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
        cin = c
    h = double(h, 64, 128, "bottleneck")
    cin = 128
    for i, (skip, c) in enumerate(reversed(skips)):
        h = b.conv_transpose(h, cin, c, 2, 2, stem=f"up{i}.tconv")
        h = double(b.op("Concat", [skip, h], axis=1), 2 * c, c, f"up{i}.conv")
        cin = c
    y = b.conv(h, 16, 2, 1, stem="outc")
    return _finish(b, "unet_like", x, size, y, photos.IMAGENET_MEAN, photos.IMAGENET_STD,
                   "U-Net: 3 levels of double Conv-BN-ReLU and MaxPool, ConvTranspose k2 s2 up, skip "
                   f"Concat; 3x{size}x{size}; output (1, 2, {size}, {size}) logits")


# MobileNetV3 and PP-LCNet ----------------------------------------------------------------------

def _se(b, x, c, squeeze, hsig_alpha, stem):
    """Squeeze-excitation: GAP, 1x1 conv, ReLU, 1x1 conv, HardSigmoid, Mul broadcast over H, W."""
    s = b.op("GlobalAveragePool", [x])
    s = b.op("Relu", [b.conv(s, c, squeeze, 1, stem=f"{stem}.fc1")])
    s = b.op("HardSigmoid", [b.conv(s, squeeze, c, 1, stem=f"{stem}.fc2")], alpha=hsig_alpha, beta=0.5)
    return b.op("Mul", [x, s])


def _act(b, x, kind):
    return b.op("HardSwish" if kind == "hs" else "Relu", [x])


def _cba(b, x, cin, cout, k, s, act, stem, groups=1):
    h = b.conv(x, cin, cout, k, s, pads=k // 2, group=groups, bias=False, stem=f"{stem}.conv")
    h = b.bn(h, cout, stem=f"{stem}.bn")
    return _act(b, h, act) if act else h


def _divisible(v, d=8):
    return max(d, int(v + d / 2) // d * d)


def mobilenetv3_like():
    b = Builder(seed=3)
    size = 96
    x = "input"
    h = _cba(b, x, 3, 16, 3, 2, "hs", "features.0")
    cin = 16
    blocks = [(3, 16, 16, True, "re", 2), (3, 72, 24, False, "re", 2), (3, 88, 24, False, "re", 1),
              (5, 96, 40, True, "hs", 2), (5, 240, 40, True, "hs", 1), (5, 120, 48, True, "hs", 1),
              (5, 288, 96, True, "hs", 2), (5, 576, 96, True, "hs", 1)]
    for i, (k, exp, cout, se, act, s) in enumerate(blocks):
        stem = f"features.{i + 1}.block"
        y = h
        if exp != cin:
            y = _cba(b, y, cin, exp, 1, 1, act, f"{stem}.expand")
        y = _cba(b, y, exp, exp, k, s, act, f"{stem}.dw", groups=exp)
        if se:
            # torchvision's Hardsigmoid exports as HardSigmoid(alpha=1/6, beta=0.5).
            y = _se(b, y, exp, _divisible(exp // 4), 1 / 6, f"{stem}.se")
        y = _cba(b, y, exp, cout, 1, 1, None, f"{stem}.project")
        h = b.op("Add", [h, y]) if s == 1 and cin == cout else y
        cin = cout
    h = _cba(b, h, 96, 576, 1, 1, "hs", "features.last")
    h = b.op("Flatten", [b.op("GlobalAveragePool", [h])], axis=1)
    h = b.op("HardSwish", [b.gemm(h, 576, 256, stem="classifier.0")])
    y = b.gemm(h, 256, 4, stem="classifier.3")
    return _finish(b, "mobilenetv3_like", x, size, y, photos.IMAGENET_MEAN, photos.IMAGENET_STD,
                   "MobileNetV3-Small topology: HardSwish, SE (GAP, conv, ReLU, conv, HardSigmoid, Mul "
                   f"broadcast), depthwise convs, residual Adds, Gemm head; 3x{size}x{size}; 4 classes")


def pplcnet_like():
    b = Builder(seed=4)
    size = 96
    x = "x"
    h = _cba(b, x, 3, 16, 3, 2, "hs", "conv1")
    cin = 16
    blocks = [(3, 32, 1, False), (3, 64, 2, False), (3, 64, 1, False), (3, 128, 2, False),
              (3, 128, 1, False), (5, 256, 2, False), (5, 256, 1, False), (5, 512, 2, True),
              (5, 512, 1, True)]
    for i, (k, cout, s, se) in enumerate(blocks):
        stem = f"blocks.{i}"
        h = _cba(b, h, cin, cin, k, s, "hs", f"{stem}.dw", groups=cin)
        if se:
            # Paddle's hardsigmoid: slope 0.2, offset 0.5.
            h = _se(b, h, cin, cin // 4, 0.2, f"{stem}.se")
        h = _cba(b, h, cin, cout, 1, 1, "hs", f"{stem}.pw")
        cin = cout
    h = b.op("GlobalAveragePool", [h])
    h = b.op("HardSwish", [b.conv(h, 512, 1280, 1, stem="last_conv")])
    h = b.op("Flatten", [h], axis=1)
    y = b.gemm(h, 1280, 4, stem="fc")
    return _finish(b, "pplcnet_like", x, size, y, photos.IMAGENET_MEAN, photos.IMAGENET_STD,
                   "PP-LCNet x0.5 topology (document orientation): depthwise-separable blocks with "
                   "HardSwish, SE with Paddle's HardSigmoid in the last two, GAP, 1x1 conv, Flatten, "
                   f"Gemm; 3x{size}x{size}; 4 classes")


def _recurrent_weights(b, dirs, gates, hidden, width, stem):
    """W, R, B of an ONNX recurrent cell, uniform in +-1/sqrt(hidden) as torch initializes them."""
    k = 1 / np.sqrt(hidden)
    return [b.init(f"{stem}.W", b.uniform((dirs, gates * hidden, width), -k, k)),
            b.init(f"{stem}.R", b.uniform((dirs, gates * hidden, hidden), -k, k)),
            b.init(f"{stem}.B", b.uniform((dirs, 2 * gates * hidden), -k, k))]


def crnn_like():
    b = Builder(seed=5)
    size = 64
    x = "x"
    h = _cbr(b, x, 3, 16, 3, 2, "cnn.0")
    h = _cbr(b, h, 16, 32, 3, 2, "cnn.1")
    h = b.op("MaxPool", [h], kernel_shape=[2, 1], strides=[2, 1])
    h = _cbr(b, h, 32, 48, 3, 1, "cnn.2")
    # [1, C, H, T] -> the column features [T, 1, C], as CRNN's squeeze + permute exports them.
    h = b.op("ReduceMean", [h], axes=[2], keepdims=0)
    seq = b.op("Transpose", [h], perm=[2, 0, 1])
    # A bidirectional LSTM (torch's export: Y [T, 2, 1, H], then transpose and reshape to [T, 1, 2H]).
    y, _, _ = b.op("LSTM", [seq, *_recurrent_weights(b, 2, 4, 32, 48, "rnn.0")], "rnn.0", n_out=3,
                   direction="bidirectional", hidden_size=32)
    y = b.op("Transpose", [y], perm=[0, 2, 1, 3])
    y = _reshape(b, y, [0, 0, 64])
    # A GRU over it, with linear_before_reset as torch exports it (ONNX Runtime has no layout 1).
    y, _ = b.op("GRU", [y, *_recurrent_weights(b, 1, 3, 32, 64, "rnn.1")], "rnn.1", n_out=2,
                hidden_size=32, linear_before_reset=1)
    y = _reshape(b, y, [-1, 32])
    y = b.gemm(y, 32, 11, stem="classifier")
    return _finish(b, "crnn_like", x, size, y, photos.IMAGENET_MEAN, photos.IMAGENET_STD,
                   "CRNN text recognizer topology (EasyOCR, ddddocr): conv stem, columns as a sequence, "
                   "a bidirectional LSTM, a GRU, per-column Gemm; 3x64x64; 16 steps x 11 classes")


def _tokens(n, length, vocab, seed):
    """n (input_ids, attention_mask) pairs as a tokenizer pads a batch of one: [CLS] (id 1), 6 to
    `length` - 1 word ids, [SEP] (id 2), then padding (id 0, mask 0)."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((n, 1, length), np.int64)
    mask = np.zeros((n, 1, length), np.int64)
    for i in range(n):
        used = int(rng.integers(8, length + 1))
        ids[i, 0, :used] = [1, *rng.integers(3, vocab, used - 2), 2]
        mask[i, 0, :used] = 1
    return ids, mask


def bert_like():
    """A BERT encoder as torch.onnx exports a sequence classifier (HF BertForSequenceClassification):
    token ids and an attention mask in (int64), embeddings by Gather, LayerNormalization, the
    extended mask (1 - mask) * -10000 added to the scores, multi-head attention with its reshapes
    and transposes, GELU in its Erf form, the pooler on token 0 (a Gather at run time) and Tanh."""
    b = Builder(seed=9)
    vocab, length, hidden, heads, ffn, layers, classes = 500, 32, 64, 4, 128, 2, 3
    head = hidden // heads
    ids, mask = "input_ids", "attention_mask"

    def linear(x, cin, cout, stem):
        y = b.op("MatMul", [x, b.init(f"{stem}.weight", b.normal((cin, cout), 0.08))])
        return b.op("Add", [y, b.init(f"{stem}.bias", b.normal((cout,), 0.02))])

    def layer_norm(x, stem):
        gamma = b.init(f"{stem}.weight", 1.0 + b.normal((hidden,), 0.05))
        beta = b.init(f"{stem}.bias", b.normal((hidden,), 0.05))
        return b.op("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=1e-12)

    words = b.op("Gather", [b.init("embeddings.word", b.normal((vocab, hidden), 0.5)), ids])
    positions = b.op("Gather", [b.init("embeddings.position", b.normal((length, hidden), 0.5)),
                                b.init("position_ids", np.arange(length, dtype=np.int64)[None])])
    h = layer_norm(b.op("Add", [words, positions]), "embeddings.norm")
    # [1, T] -> [1, 1, 1, T], 0 where attended and -10000 where padded.
    m = b.op("Cast", [b.op("Unsqueeze", [mask, b.init("mask_axes", np.array([1, 2], np.int64))])],
             to=TensorProto.FLOAT)
    m = b.op("Mul", [b.op("Sub", [b.init("one", np.array(1.0, np.float32)), m]),
                     b.init("neg", np.array(-10000.0, np.float32))])
    split = b.init("heads_shape", np.array([0, 0, heads, head], np.int64))
    merged = b.init("merged_shape", np.array([0, 0, hidden], np.int64))
    for i in range(layers):
        p = f"layer.{i}"
        q = b.op("Transpose", [b.op("Reshape", [linear(h, hidden, hidden, f"{p}.query"), split])],
                 perm=[0, 2, 1, 3])
        k = b.op("Transpose", [b.op("Reshape", [linear(h, hidden, hidden, f"{p}.key"), split])],
                 perm=[0, 2, 3, 1])
        v = b.op("Transpose", [b.op("Reshape", [linear(h, hidden, hidden, f"{p}.value"), split])],
                 perm=[0, 2, 1, 3])
        scores = b.op("Div", [b.op("MatMul", [q, k]), b.init(f"{p}.sqrt_d", np.array(np.sqrt(head), np.float32))])
        probs = b.op("Softmax", [b.op("Add", [scores, m])], axis=-1)
        ctx = b.op("Transpose", [b.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
        ctx = b.op("Reshape", [ctx, merged])
        h = layer_norm(b.op("Add", [linear(ctx, hidden, hidden, f"{p}.output"), h]), f"{p}.norm1")
        up = linear(h, hidden, ffn, f"{p}.intermediate")
        gelu = b.op("Erf", [b.op("Div", [up, b.init(f"{p}.sqrt2", np.array(np.sqrt(2.0), np.float32))])])
        gelu = b.op("Mul", [b.op("Mul", [up, b.op("Add", [gelu, b.init(f"{p}.one", np.array(1.0, np.float32))])]),
                            b.init(f"{p}.half", np.array(0.5, np.float32))])
        h = layer_norm(b.op("Add", [linear(gelu, ffn, hidden, f"{p}.ffn_out"), h]), f"{p}.norm2")
    cls = b.op("Gather", [h, b.init("cls_index", np.array(0, np.int64))], axis=1)  # [1, hidden]
    pooled = b.op("Tanh", [b.gemm(cls, hidden, hidden, stem="pooler")])
    y = b.gemm(pooled, hidden, classes, stem="classifier")
    graph = helper.make_graph(
        b.nodes, "bert_like",
        [helper.make_tensor_value_info(ids, TensorProto.INT64, [1, length]),
         helper.make_tensor_value_info(mask, TensorProto.INT64, [1, length])],
        [helper.make_tensor_value_info(y, TensorProto.FLOAT, None)], initializer=b.inits)
    model = helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                          producer_name="qcc-tests")
    calib = dict(zip((ids, mask), _tokens(N_CALIB, length, vocab, seed=14)))
    heldout = dict(zip((ids, mask), _tokens(N_HELDOUT, length, vocab, seed=15)))
    return Family("bert_like", model, calib, heldout,
                  "BERT sequence classifier as torch exports it: int64 ids and mask, Gather "
                  "embeddings, LayerNorm, masked 4-head attention, Erf GELU, pooler on token 0; "
                  "2 layers, 64 wide, 32 tokens, 3 classes")


FAMILIES = {f.__name__: f for f in (yolov8n_like, yolov8n_shapes_like, yolox_tiny_like, dbnet_like,
                                    unet_like, mobilenetv3_like, pplcnet_like, crnn_like, bert_like)}


def _feeds(model, xs):
    """{input name: samples} of a family's samples."""
    return xs if isinstance(xs, dict) else {model.graph.input[0].name: xs}


def _run(model, xs):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = _feeds(model, xs)
    count = len(next(iter(feeds.values())))
    return np.stack([sess.run(None, {k: v[j] for k, v in feeds.items()})[0] for j in range(count)])


def build(out_dir, names):
    os.makedirs(out_dir, exist_ok=True)
    manifest = []
    for name in names:
        if name not in FAMILIES:
            raise SystemExit(f"unknown family {name}; known: {', '.join(FAMILIES)}")
        fam = FAMILIES[name]()
        expected = {"calib": _run(fam.model, fam.calib), "heldout": _run(fam.model, fam.heldout)}
        set_output_shape(fam.model, expected["calib"].shape[1:])
        onnx.checker.check_model(fam.model, full_check=True)
        if not np.isfinite(expected["calib"]).all() or expected["calib"].std() == 0:
            raise SystemExit(f"{name}: ORT's outputs are not finite or constant: the builder is wrong")
        onnx.save(fam.model, os.path.join(out_dir, f"{name}.onnx"))
        inputs = [i.name for i in fam.model.graph.input]
        more = [{"name": i} for i in inputs[1:]]
        for split, xs in (("calib", fam.calib), ("heldout", fam.heldout)):
            feeds = _feeds(fam.model, xs)
            np.save(os.path.join(out_dir, f"{name}.{split}.npy"), feeds[inputs[0]])
            for k, m in enumerate(more, start=1):
                m[split] = f"{name}.{split}.in{k}.npy"
                np.save(os.path.join(out_dir, m[split]), feeds[m["name"]])
            np.save(os.path.join(out_dir, f"{name}.{split}.expected.npy"), expected[split])
        manifest.append({"name": name, "onnx": f"{name}.onnx", "input_name": inputs[0],
                         **{f"{split}{key}": f"{name}.{split}{suffix}.npy" for split in ("calib", "heldout")
                            for key, suffix in (("", ""), ("_expected", ".expected"))},
                         **({"more_inputs": more} if more else {}),
                         "note": fam.note})
        print(f"{name}: {len(fam.model.graph.node)} nodes, output {expected['calib'].shape[1:]}", flush=True)
    # The same layout as make_models.py's manifest, with calib/heldout in place of input/expected.
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump({"families": manifest}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    build(sys.argv[1], sys.argv[2:] or list(FAMILIES))
