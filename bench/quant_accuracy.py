"""Benchmark: int8 accuracy of qcc against ONNX Runtime's static quantization, per model.

Usage: python bench/quant_accuracy.py [--models DIR] [--qcc PATH] [--work DIR] [--eval N]
                                      [--calib N] [--jobs N] [NAME ...]

For every model, the reference is ONNX Runtime fp32 on an evaluation set; each int8 variant is
scored by its SQNR against that reference (10·log10(Σ ref² / Σ (out − ref)²) over every output
of every sample) and by how often its top-1 class agrees with fp32's (digits: also the top-1
accuracy against the true labels).

Data. The 224×224 models (and tiny_cnn at 32×32) see random square crops of the real photos
scikit-image and scikit-learn ship, resized and normalised exactly as tests/python/make_models.py
does for that model; the evaluation and calibration crops come from different seeds. Digits
calibrates on the first 100 of examples/digits/test_images.npy and is evaluated on the other 350.

Rows.
  qcc w8 METHOD    `qcc MODEL.onnx -o OUT.ir --emit int --calib calib.npy --weight-bits 8
                   --calibration METHOD` (METHOD: minmax, percentile, entropy, layerwise), then
                   `qcc run OUT.ir --input eval.npy -o out.npy`
                   (the integer reference interpreter, which the generated code matches bit for bit);
                   qcc's defaults otherwise (bias correction: empirical, since samples are given),
                   but nearest rounding, as every row says unless it says `adaround`
  qcc w8 default   qcc's defaults (MSE, bias correction empirical, and `--rounding auto`, which
                   learns the rounding from 16 samples or more: here, as `+bc +adaround`)
  ... +target 35   the defaults with `--target-sqnr 35` (precision raised layer by layer while
                   the output's SQNR on the calibration samples is below 35 dB; slow: each
                   raise tried quantizes again)
  qcc wB mse ...   MSE calibration with B-bit weights and: `bc off` (--bias-correction off),
                   `+bc` (empirical), `+bc df` (data-free), `+eq` (--equalize, bias correction
                   off), `+eq +bc` (both), `+bc +adaround` (learned rounding, --rounding adaround);
                   with 8-bit weights also `+in16` (--activation-bits-for INPUT=16: the model
                   input as i16 codes)
  ORT QOperator    quantize_static: QOperator, u8 activations, s8 per-channel weights, MinMax
                   calibration on the same calibration samples; default graph optimizations
  ORT QOp rr       the same with reduce_range=True (7-bit weights)
  ORT QDQ sim      quantize_static with QuantFormat.QDQ, run with ORT_DISABLE_ALL: every Q/DQ pair
                   is executed as float arithmetic, i.e. the quantization-only float simulation
  ORT QDQ sim rr   the same with reduce_range=True: the float simulation of 7-bit weights
  ORT QOp prep     QOperator after onnxruntime's quant_pre_process (which ORT's quantizer asks
                   for: it folds BatchNorm into the convolutions first); not one of the anchors'
                   settings, shown because it changes ORT's accuracy a lot

The "quantize s" column is the wall time of qcc's compile (calibration, quantization, lowering;
two qcc compiles run at once, beside ORT's work) and of ORT's quantize_static call.

ORT's accuracy depends on the CPU: on AVX2 without VNNI its u8·s8 kernels use pmaddubsw, whose
16-bit pair sums saturate; with VNNI (or with reduce_range) they do not. The CPU's flags are printed.
"""

import argparse
import concurrent.futures
import logging
import os
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests/python"))

import models_efficientnet  # noqa: E402  (the generators' own preprocessing constants)
import photos  # noqa: E402

# Model name -> (input side, mean, std), as make_models.py's builders preprocess.
IMAGE_MODELS = {
    "efficientnet_lite0": (224, models_efficientnet.MEAN, models_efficientnet.STD),
    "resnet18": (224, photos.IMAGENET_MEAN, photos.IMAGENET_STD),
    "mobilenetv2": (224, photos.IMAGENET_MEAN, photos.IMAGENET_STD),
    "tiny_cnn": (32, photos.IMAGENET_MEAN, photos.IMAGENET_STD),
    "conv_mlp_head": (32, photos.IMAGENET_MEAN, photos.IMAGENET_STD),
}
DEFAULT_MODELS = [*IMAGE_MODELS, "digits"]
METHODS = ["minmax", "percentile", "entropy", "mse", "layerwise"]
# (label, weight bits, calibration, extra qcc flags); --no-methods keeps only the mse rows.
QCC_ROWS = [(f"qcc w8 {m}", 8, m, []) for m in METHODS if m != "mse"] + [
    (f"qcc w{b} mse{label}", b, "mse", flags)
    for b in (8, 7)
    for label, flags in [(" bc off", ["--bias-correction", "off"]),
                         (" +bc", ["--bias-correction", "empirical"]),
                         (" +bc df", ["--bias-correction", "data-free"]),
                         (" +eq", ["--equalize", "--bias-correction", "off"]),
                         (" +eq +bc", ["--equalize", "--bias-correction", "empirical"]),
                         (" +bc +adaround", ["--bias-correction", "empirical",
                                             "--rounding", "adaround"])]
] + [
    # The model input given 16-bit codes ({input}: its name, read from the ONNX file).
    (f"qcc w8 mse{label}", 8, "mse", flags)
    for label, flags in [(" +bc +in16", ["--bias-correction", "empirical",
                                         "--activation-bits-for", "{input}=16"]),
                         (" +bc +adaround +in16", ["--bias-correction", "empirical",
                                                   "--rounding", "adaround",
                                                   "--activation-bits-for", "{input}=16"])]
]
# Every row but `default` names its rounding: `--rounding auto` (the default) learns it from 16
# samples or more, which would make every row an adaround row.
QCC_ROWS = [(label, bits, method, flags if "--rounding" in flags else [*flags, "--rounding", "nearest"])
            for label, bits, method, flags in QCC_ROWS] + [("qcc w8 default", 8, "mse", []),
                                                           ("qcc w8 default +target 35", 8, "mse",
                                                            ["--target-sqnr", "35"])]
DIGITS_CALIB = 100

ort.set_default_logger_severity(3)
# The quantizer logs a warning per BatchNorm weight and asks for pre-processing on every call.
logging.getLogger().setLevel(logging.ERROR)


def datasets(name, args):
    """(onnx path, calibration samples, evaluation samples, labels or None)."""
    if name == "digits":
        images = np.load(os.path.join(ROOT, "examples/digits/test_images.npy")).astype(np.float32)
        with open(os.path.join(ROOT, "examples/digits/test_labels.txt")) as f:
            labels = np.array([int(line) for line in f if line.strip()])
        if len(images) != len(labels):
            raise SystemExit(f"digits: {len(images)} images but {len(labels)} labels")
        xs = images[:, None]  # (N, 1, 1, 8, 8): every sample one batch-1 input
        return (os.path.join(ROOT, "examples/digits/digits.onnx"), xs[:DIGITS_CALIB],
                xs[DIGITS_CALIB:], labels[DIGITS_CALIB:])
    if name not in IMAGE_MODELS:
        raise SystemExit(f"unknown model {name}; known: {', '.join(DEFAULT_MODELS)}")
    size, mean, std = IMAGE_MODELS[name]
    path = os.path.join(args.models, f"{name}.onnx")
    if not os.path.exists(path):
        raise SystemExit(f"{path} does not exist: run tests/python/make_models.py first")
    return path, photos.random_crops(args.calib, size, mean, std, seed=2), \
        photos.random_crops(args.eval, size, mean, std, seed=1), None


def feeds_of(names, xs):
    """{input name: samples}: `xs` is one array of samples (a single-input model) or already
    such a dict (bench/families.py's models with several inputs)."""
    if isinstance(xs, dict):
        return xs
    if len(names) != 1:
        raise SystemExit(f"the model has inputs {names}; the benchmark gave one array")
    return {names[0]: xs}


def run_ort(path, xs, optimize=True):
    """The first output of every sample (xs: samples, or {input name: samples})."""
    return run_ort_outputs(path, xs, optimize)[0]


def run_ort_outputs(path, xs, optimize=True):
    """Every output of every sample, one stacked array per output (xs as for run_ort)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    feeds = feeds_of([i.name for i in sess.get_inputs()], xs)
    count = len(next(iter(feeds.values())))
    runs = [sess.run(None, {k: v[j] for k, v in feeds.items()}) for j in range(count)]
    return [np.stack([r[k] for r in runs]).astype(np.float32) for k in range(len(runs[0]))]


class _Reader(CalibrationDataReader):
    def __init__(self, feeds):
        count = len(next(iter(feeds.values())))
        self.feeds = iter([{k: v[j] for k, v in feeds.items()} for j in range(count)])

    def get_next(self):
        return next(self.feeds, None)


def ort_quantize(src, dst, calib, fmt, reduce_range):
    names = [i.name for i in ort.InferenceSession(src, providers=["CPUExecutionProvider"]).get_inputs()]
    feeds = feeds_of(names, calib)

    def quantize(model):
        quantize_static(model, dst, _Reader(feeds), quant_format=fmt,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        per_channel=True, reduce_range=reduce_range,
                        calibrate_method=CalibrationMethod.MinMax)

    try:
        quantize(src)
    except Exception:  # noqa: BLE001 - any failure gets ORT's documented remedy, once
        # quantize_static needs every tensor's type; models exported without value_info
        # (PaddlePaddle's, through paddle2onnx) get them from ORT's own pre-processing step,
        # as its documentation says to do (shape inference and graph optimization).
        from onnxruntime.quantization.shape_inference import quant_pre_process
        pre = dst + ".pre.onnx"
        quant_pre_process(src, pre, skip_symbolic_shape=True)
        quantize(pre)


def run_qcc(qcc, onnx_path, calib_path, eval_path, work, label, bits, method, flags):
    """qcc's integer output on the evaluation set, or the failing command and its stderr."""
    stem = os.path.join(work, label.replace(" ", "_").replace("+", "p"))
    steps = [
        [qcc, onnx_path, "-o", f"{stem}.ir", "--emit", "int", "--calib", calib_path,
         "--weight-bits", str(bits), "--calibration", method, *flags],
        [qcc, "run", f"{stem}.ir", "--input", eval_path, "-o", f"{stem}.out.npy"],
    ]
    secs = 0.0
    for k, cmd in enumerate(steps):
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            return None, f"$ {' '.join(cmd)}\n(exit {done.returncode})\n{done.stderr.strip()}", 0.0
        if k == 0:  # the compile: calibration, quantization and lowering
            secs = time.perf_counter() - t0
    return np.load(f"{stem}.out.npy").astype(np.float32), None, secs


def sqnr_db(ref, out):
    noise = float(np.sum((out.astype(np.float64) - ref) ** 2))
    signal = float(np.sum(ref.astype(np.float64) ** 2))
    return float("inf") if noise == 0 else 10 * np.log10(signal / noise)


def top1(y):
    return y.reshape(len(y), -1).argmax(axis=1)


def score(ref, out, labels):
    if out.shape != ref.shape:
        raise SystemExit(f"output shape {out.shape} differs from the fp32 reference's {ref.shape}")
    row = {"sqnr": sqnr_db(ref, out), "agree": 100 * np.mean(top1(out) == top1(ref))}
    if labels is not None:
        row["acc"] = 100 * np.mean(top1(out) == labels)
    return row


def bench_model(name, args, pool):
    t0 = time.perf_counter()
    work = os.path.join(args.work, name)
    os.makedirs(work, exist_ok=True)
    onnx_path, calib, evals, labels = datasets(name, args)
    calib_path, eval_path = os.path.join(work, "calib.npy"), os.path.join(work, "eval.npy")
    np.save(calib_path, calib)
    np.save(eval_path, evals)

    qcc_runs = [r for r in QCC_ROWS if not (args.no_methods and r[2] != "mse")]
    input_name = ort.InferenceSession(onnx_path).get_inputs()[0].name
    futures = {label: pool.submit(run_qcc, args.qcc, onnx_path, calib_path, eval_path, work,
                                  label, bits, m, [f.replace("{input}", input_name) for f in flags])
               for label, bits, m, flags in qcc_runs}

    ref = run_ort(onnx_path, evals)
    rows, failures = [("ORT fp32", score(ref, ref, labels))], []
    ort_variants = [("ORT QOperator", QuantFormat.QOperator, False, True),
                    ("ORT QOperator reduce_range", QuantFormat.QOperator, True, True),
                    ("ORT QDQ float-sim", QuantFormat.QDQ, False, False),
                    ("ORT QDQ float-sim rr", QuantFormat.QDQ, True, False)]
    ort_rows = []
    for label, fmt, rr, optimize in ort_variants:
        dst = os.path.join(work, f"ort-{fmt.name}-rr{int(rr)}.onnx")
        t0 = time.perf_counter()
        ort_quantize(onnx_path, dst, calib, fmt, rr)
        secs = time.perf_counter() - t0
        ort_rows.append((label, {**score(ref, run_ort(dst, evals, optimize), labels), "secs": secs}))
    # Symbolic shape inference would need sympy, which the pinned venv does not have; the models'
    # shapes are static, so ONNX's own inference is enough.
    prep = os.path.join(work, "ort-prep.onnx")
    quant_pre_process(onnx_path, prep, skip_symbolic_shape=True)
    dst = os.path.join(work, "ort-prep-QOperator.onnx")
    t0 = time.perf_counter()
    ort_quantize(prep, dst, calib, QuantFormat.QOperator, False)
    secs = time.perf_counter() - t0
    ort_rows.append(("ORT QOperator prep (BN fold)",
                     {**score(ref, run_ort(dst, evals), labels), "secs": secs}))

    for label, fut in futures.items():
        out, err, secs = fut.result()
        if err is not None:
            failures.append((label, err))
            rows.append((label, None))
        else:
            rows.append((label, {**score(ref, out, labels), "secs": secs}))
    rows += ort_rows
    return rows, failures, len(calib), len(evals), time.perf_counter() - t0


def print_table(name, rows, failures, n_calib, n_eval, secs, labels):
    print(f"\n## {name}  ({n_eval} evaluation samples, {n_calib} calibration samples, {secs:.0f} s)\n")
    head = f"| {'variant':<30} | {'SQNR dB':>8} | {'top-1 agree %':>13} |"
    rule = f"|{'-' * 32}|{'-' * 9}:|{'-' * 14}:|"
    if labels:
        head += f" {'accuracy %':>10} |"
        rule += f"{'-' * 11}:|"
    # qcc: the compile (calibrate, quantize, lower), two at a time; ORT: quantize_static.
    head += f" {'quantize s':>10} |"
    rule += f"{'-' * 11}:|"
    print(head)
    print(rule)
    for label, r in rows:
        if r is None:
            cells = f" {'FAILED':>8} | {'-':>13} |" + (f" {'-':>10} |" if labels else "")
            cells += f" {'-':>10} |"
        else:
            sq = "exact" if r["sqnr"] == float("inf") else f"{r['sqnr']:.1f}"
            cells = f" {sq:>8} | {r['agree']:>13.1f} |" + (f" {r['acc']:>10.1f} |" if labels else "")
            cells += f" {r['secs']:>10.2f} |" if "secs" in r else f" {'-':>10} |"
        print(f"| {label:<30} |{cells}")
    for label, err in failures:
        print(f"\n{label} failed:\n{err}")
    best = max(((lbl, r) for lbl, r in rows if r is not None and lbl.startswith("qcc w8")),
               key=lambda lr: lr[1]["sqnr"], default=None)
    if best is not None:
        print(f"\nbest qcc 8-bit row by SQNR: {best[0].removeprefix('qcc w8 ')} "
              f"({best[1]['sqnr']:.1f} dB)")
    sys.stdout.flush()


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return "unknown"
    shown = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni") if f in flags]
    return " ".join(shown) or "no AVX2"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", default=DEFAULT_MODELS, help="models to measure")
    p.add_argument("--models", default=os.path.join(ROOT, "tests/.work/models"), help="make_models.py output")
    p.add_argument("--qcc", default=os.path.join(ROOT, "target/release/qcc"), help="qcc binary")
    p.add_argument("--work", default=os.path.join(ROOT, "tests/.work/quant_accuracy"),
                   help="where calibration/evaluation sets, quantized models and outputs go")
    p.add_argument("--eval", type=int, default=100, help="evaluation crops per image model")
    p.add_argument("--calib", type=int, default=32, help="calibration crops per image model")
    p.add_argument("--jobs", type=int, default=2, help="qcc processes run at once")
    p.add_argument("--no-methods", action="store_true",
                   help="only the MSE-calibrated rows (bias correction, equalization, weight bits)")
    args = p.parse_args()
    if not os.access(args.qcc, os.X_OK):
        raise SystemExit(f"{args.qcc} is not an executable: cargo build --release -p qcc")
    print(f"CPU: {cpu_flags()}")
    t0 = time.perf_counter()
    summary = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for name in args.names:
            rows, failures, n_calib, n_eval, secs = bench_model(name, args, pool)
            print_table(name, rows, failures, n_calib, n_eval, secs, labels=name == "digits")
            for label, r in rows:
                if label.startswith("qcc w8") and r is not None:
                    summary.setdefault(label.removeprefix("qcc w8 "), {})[name] = r["sqnr"]
    # The default calibration method should be the one that wins across models, not on one.
    complete = {m: v for m, v in summary.items() if len(v) == len(args.names)}
    if complete:
        print("\nqcc 8-bit rows, mean SQNR over all models (dB):")
        for m, v in sorted(complete.items(), key=lambda mv: -np.mean(list(mv[1].values()))):
            print(f"  {m:<12} {np.mean(list(v.values())):6.1f}")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s; SQNR and agreement against ORT fp32 on the "
          "same samples; qcc outputs from its integer reference interpreter")


if __name__ == "__main__":
    sys.exit(main())
