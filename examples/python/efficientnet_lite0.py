"""EfficientNet-Lite0 from Python: compile it with qcc on calibration photos, run the int8 library
on numpy arrays and compare with ONNX Runtime fp32. Needs the test models
(`./scripts/test.sh` makes them in tests/.work/models) and `pip install ./python onnxruntime`."""

import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

import qcc

models = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/.work/models")
onnx_path = models / "efficientnet_lite0.onnx"
photos = np.load(models / "efficientnet_lite0.input.npy")[:, 0]  # (N, 3, 224, 224) float32

t = time.perf_counter()
lib = qcc.compile(onnx_path, photos)
compile_s = time.perf_counter() - t

sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
name = sess.get_inputs()[0].name
want = np.stack([sess.run(None, {name: p[None]})[0] for p in photos])
got = np.stack([lib(p[None]) for p in photos])
sqnr = 10 * np.log10(np.sum(want.astype(np.float64) ** 2) / np.sum((want - got) ** 2.0))

x = photos[:1]
runs = [0.0] * 50
for i in range(len(runs)):
    t = time.perf_counter()
    lib(x)
    runs[i] = time.perf_counter() - t
print(f"compiled in {compile_s:.1f} s: {lib}")
print(f"int8 vs ONNX Runtime fp32 on {len(photos)} photos: SQNR {sqnr:.1f} dB, "
      f"top-1 agreement {np.mean(want.argmax(-1) == got.argmax(-1)):.0%}")
print(f"lib(x): median {1e3 * float(np.median(runs)):.2f} ms per image")
