"""Benchmark: ONNX Runtime fp32 (one thread) against qcc's reference interpreter, per model.

Usage: python bench/interp_vs_ort.py [--models DIR] [--qcc PATH] [--runs N] [--ort-only] [NAME ...]

Models and inputs come from the directory tests/python/make_models.py writes; the first sample of
NAME.input.npy is timed. qcc's side runs `qcc import NAME.onnx -o WORK/NAME.ir`, then
`qcc bench WORK/NAME.ir --input NAME.input.npy --runs N --json`, whose last stdout line is
`{"median_ms": ..., "min_ms": ..., "runs": N}`.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort

DEFAULT_MODELS = ["tiny_cnn", "resnet18", "mobilenetv2", "efficientnet_lite0"]


def _dims(value_info):
    return [d.dim_value for d in value_info.type.tensor_type.shape.dim]


def gmac(model):
    """Multiply-accumulates of Conv, ConvTranspose, Gemm and MatMul, in units of 1e9."""
    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    shapes = {v.name: _dims(v) for v in [*g.input, *g.output, *g.value_info]}
    shapes.update({t.name: list(t.dims) for t in g.initializer})
    macs = 0
    for n in g.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type == "Conv":
            cin_per_group, kh, kw = shapes[n.input[1]][1:]
            macs += int(np.prod(shapes[n.output[0]])) * cin_per_group * kh * kw
        elif n.op_type == "ConvTranspose":
            _, cout_per_group, kh, kw = shapes[n.input[1]]
            macs += int(np.prod(shapes[n.input[0]])) * cout_per_group * kh * kw
        elif n.op_type == "Gemm":
            a = shapes[n.input[0]]
            k = a[0] if attrs.get("transA", 0) else a[1]
            macs += int(np.prod(shapes[n.output[0]])) * k
        elif n.op_type == "MatMul":
            macs += int(np.prod(shapes[n.output[0]])) * shapes[n.input[0]][-1]
    return macs / 1e9


def time_ort(path, x, runs, warmup):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x}
    for _ in range(warmup):
        sess.run(None, feed)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def time_qcc(qcc, onnx_path, input_path, ir_path, runs):
    imported = subprocess.run([qcc, "import", onnx_path, "-o", ir_path], capture_output=True, text=True)
    if imported.returncode != 0:
        raise SystemExit(f"qcc import {onnx_path} failed:\n{imported.stderr}")
    out = subprocess.run([qcc, "bench", ir_path, "--input", input_path, "--runs", str(runs), "--json"],
                         check=True, capture_output=True, text=True).stdout
    lines = [line for line in out.splitlines() if line.strip()]
    if not lines:
        raise SystemExit(f"qcc bench {ir_path}: printed nothing")
    try:
        result = json.loads(lines[-1])
        return float(result["median_ms"])
    except (ValueError, KeyError, TypeError) as e:
        raise SystemExit(
            f"qcc bench {ir_path}: expected a JSON line with median_ms, got {lines[-1]!r} ({e})") from None


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", default=DEFAULT_MODELS, help="models to time")
    p.add_argument("--models", default=os.path.join(root, "tests/.work/models"), help="make_models.py output")
    p.add_argument("--qcc", default=os.path.join(root, "target/release/qcc"), help="qcc binary")
    p.add_argument("--work", default=os.path.join(root, "tests/.work/bench"), help="where the .ir files go")
    p.add_argument("--runs", type=int, default=20, help="timed runs per model (at least 20)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--ort-only", action="store_true", help="time ONNX Runtime only")
    args = p.parse_args()
    if args.runs < 20:
        p.error("--runs must be at least 20: a median of fewer runs is noise")
    os.makedirs(args.work, exist_ok=True)

    header = f"{'model':<20} {'GMAC':>7} {'ORT fp32 ms':>12} {'qcc interp ms':>14} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for name in args.names:
        onnx_path = os.path.join(args.models, f"{name}.onnx")
        input_path = os.path.join(args.models, f"{name}.input.npy")
        if not os.path.exists(onnx_path):
            raise SystemExit(f"{onnx_path} does not exist: run tests/python/make_models.py first")
        x = np.load(input_path)[0]
        macs = gmac(onnx.load(onnx_path))
        ort_ms = time_ort(onnx_path, x, args.runs, args.warmup)
        if args.ort_only:
            qcc_col, ratio_col = "-", "-"
        else:
            qcc_ms = time_qcc(args.qcc, onnx_path, input_path, os.path.join(args.work, f"{name}.ir"), args.runs)
            qcc_col, ratio_col = f"{qcc_ms:.2f}", f"{qcc_ms / ort_ms:.2f}"
        print(f"{name:<20} {macs:>7.3f} {ort_ms:>12.2f} {qcc_col:>14} {ratio_col:>7}", flush=True)
    print(f"\nmedian of {args.runs} runs after {args.warmup} warm-up runs, one thread; "
          "ratio = qcc / ORT (above 1: qcc slower)")


if __name__ == "__main__":
    sys.exit(main())
