"""Benchmark: calibrated compile time, qcc end to end against ONNX Runtime's static quantization.

Usage: python bench/calib_vs_ort.py [--models DIR] [--qcc PATH] [--calib N] [--repeat N] [NAME ...]

For each model (ResNet-18 by default), N random photo crops (32 by default, made as
bench/quant_accuracy.py makes its calibration set) are the calibration samples of both tools, in
the same run, alternating, each timed `--repeat` times (the median is printed, and every run):

  qcc   `qcc MODEL.onnx -o model.so --calib calib.npy --explain`, wall time of the process: import,
        simplify, calibrate, round weights (`--rounding auto` learns them from 16 samples or
        more), quantize, lower, code generation and link, to a loadable model.so. Its stages
        come from --explain's `… took N ms` lines.
  qcc nearest  the same with `--rounding nearest`: no learned rounding.
  ORT   `quant_pre_process` (shape inference, BatchNorm folding; skip_symbolic_shape as
        bench/quant_accuracy.py, the models' shapes being static) then `quantize_static`
        (QOperator, u8 activations, s8 per-channel weights, MinMax, the same samples), in this
        process (the import of onnxruntime is not counted).

Both use every core they are given (ORT's session its default intra-op threads, qcc its
calibration threads). The ratio is qcc's median over ORT's.
"""

import argparse
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests/python"))

import photos  # noqa: E402

ort.set_default_logger_severity(3)
logging.getLogger().setLevel(logging.ERROR)

# Model name -> (input side, mean, std), as tests/python/make_models.py preprocesses.
SIDES = {
    "resnet18": (224, photos.IMAGENET_MEAN, photos.IMAGENET_STD),
    "mobilenetv2": (224, photos.IMAGENET_MEAN, photos.IMAGENET_STD),
}
STAGE = re.compile(r"^\s*(simplify|calibrate|quantize|lowering) took (\d+) ms"
                   r"|^\s*(schedule and memory plan|code generation \(cranelift\)|object file|"
                   r"link \(cc\)): (\d+) ms")


class _Reader(CalibrationDataReader):
    def __init__(self, input_name, xs):
        self.feeds = iter([{input_name: x} for x in xs])

    def get_next(self):
        return next(self.feeds, None)


def time_qcc(qcc, onnx_path, calib_path, work, *flags):
    """Wall seconds of one compile, and its stage times in ms from --explain."""
    t0 = time.perf_counter()
    done = subprocess.run([qcc, onnx_path, "-o", os.path.join(work, "model.so"),
                           "--calib", calib_path, "--explain", *flags],
                          capture_output=True, text=True)
    secs = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"qcc failed (exit {done.returncode}):\n{done.stderr}")
    stages = {}
    for line in (done.stdout + done.stderr).splitlines():
        m = STAGE.match(line)
        if m:
            name, ms = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
            stages[name.split(" ")[0]] = int(ms)
        m = re.match(r"^adaround: .* took (\d+) ms$", line)
        if m:
            stages["adaround"] = int(m.group(1))
    return secs, stages


def time_ort(onnx_path, calib, work):
    """Wall seconds of quant_pre_process + quantize_static."""
    prep, dst = os.path.join(work, "prep.onnx"), os.path.join(work, "ort-int8.onnx")
    t0 = time.perf_counter()
    quant_pre_process(onnx_path, prep, skip_symbolic_shape=True)
    input_name = ort.InferenceSession(prep, providers=["CPUExecutionProvider"]).get_inputs()[0].name
    quantize_static(prep, dst, _Reader(input_name, calib), quant_format=QuantFormat.QOperator,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    per_channel=True, calibrate_method=CalibrationMethod.MinMax)
    return time.perf_counter() - t0


def cpu():
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return "unknown CPU"
    name = re.search(r"^model name\s*:\s*(.*)$", info, re.M)
    return f"{name.group(1) if name else 'unknown CPU'}, {os.cpu_count()} logical cores"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", default=["resnet18"], help=f"models ({', '.join(SIDES)})")
    p.add_argument("--models", default=os.path.join(ROOT, "tests/.work/models"))
    p.add_argument("--qcc", default=os.path.join(ROOT, "target/release/qcc"))
    p.add_argument("--calib", type=int, default=32, help="calibration crops")
    p.add_argument("--repeat", type=int, default=3, help="timed runs of each tool")
    args = p.parse_args()
    print(f"CPU: {cpu()}; load before: {os.getloadavg()[0]:.2f}")
    print("| model | qcc s (median) | qcc nearest s | ORT s (median) | qcc / ORT | nearest / ORT "
          "| qcc stages, ms (last run) |")
    print("|---|--:|--:|--:|--:|--:|---|")
    for name in args.names:
        if name not in SIDES:
            raise SystemExit(f"unknown model {name}; known: {', '.join(SIDES)}")
        side, mean, std = SIDES[name]
        onnx_path = os.path.join(args.models, f"{name}.onnx")
        if not os.path.exists(onnx_path):
            raise SystemExit(f"{onnx_path} does not exist: run tests/python/make_models.py first")
        calib = photos.random_crops(args.calib, side, mean, std, seed=2)
        with tempfile.TemporaryDirectory(prefix="qcc-calib-bench.") as work:
            calib_path = os.path.join(work, "calib.npy")
            np.save(calib_path, calib)
            qcc_runs, nearest_runs, ort_runs, stages = [], [], [], {}
            for _ in range(args.repeat):
                secs, stages = time_qcc(args.qcc, onnx_path, calib_path, work)
                qcc_runs.append(secs)
                nearest_runs.append(
                    time_qcc(args.qcc, onnx_path, calib_path, work, "--rounding", "nearest")[0])
                ort_runs.append(time_ort(onnx_path, calib, work))
        q, n, o = (statistics.median(r) for r in (qcc_runs, nearest_runs, ort_runs))
        shown = ", ".join(f"{k} {v}" for k, v in stages.items())
        print(f"| {name} | {q:.2f} | {n:.2f} | {o:.2f} | {q / o:.2f} | {n / o:.2f} | {shown} |")
        print(f"  runs: qcc {' '.join(f'{s:.2f}' for s in qcc_runs)}; "
              f"nearest {' '.join(f'{s:.2f}' for s in nearest_runs)}; "
              f"ORT {' '.join(f'{s:.2f}' for s in ort_runs)}")
    print(f"(load after: {os.getloadavg()[0]:.2f}; {args.calib} calibration samples)")


if __name__ == "__main__":
    sys.exit(main())
