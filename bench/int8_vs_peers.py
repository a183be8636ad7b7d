"""Benchmark: latency of qcc's int8 model.so against ONNX Runtime (fp32, int8) and OpenVINO int8.

Usage: python bench/int8_vs_peers.py [--models DIR] [--qcc PATH] [--work DIR] [--runs N]
                                     [--warmup N] [--calib N] [--quick] [--clock cpu|wall]
                                     [--no-openvino] [NAME ...]

For each model (tiny CNN, ResNet-18, MobileNetV2, EfficientNet-Lite0 by default), in ONE process,
at each thread count of --threads (default 1 and 2), every engine set to that many threads:
  qcc          `qcc MODEL.onnx -o MODEL.so --calib calib.npy --calibration minmax`, loaded with
               ctypes and called through its C ABI (qcc_run on one thread, qcc_run_threads on
               more), input and output buffers made once
  ORT fp32     the ONNX model itself, default graph optimizations
  ORT int8     quantize_static: QOperator, u8 activations, s8 per-channel weights, MinMax
  OV int8      quantize_static with QuantFormat.QDQ (otherwise the same), compiled by OpenVINO's
               CPU plugin, which turns the Q/DQ pairs into its int8 kernels
All three quantizers calibrate on the same samples: random crops of the real photos
scikit-image and scikit-learn ship, preprocessed as the model's generator does
(tests/python/photos.py's random_crops, seed 2). The timed input is the model's first test
sample. ORT sessions use intra_op_num_threads=T, inter_op_num_threads=1 and I/O binding onto
preallocated buffers; OpenVINO uses INFERENCE_NUM_THREADS=T, NUM_STREAMS=1 and an infer request
whose input tensor is set once. Timing is round-robin (each round runs every engine once, in an
order rotated per round, so drift in the machine's load hits all alike; on more threads each
turn is a pause, then a burst of runs of one engine, the first untimed, so that no engine's
spinning workers take the cores from the next engine: see time_round_robin), after warm-up rounds;
the one-thread table shows medians of the process's CPU time per run (--clock wall: wall-clock
time), which on a shared machine leaves out the time other processes had the core, and the
CPU/wall column checks that each engine kept to one thread; tables of more threads show
wall-clock time (CPU time sums the threads), and CPU/wall near T shows each engine used them.
A last table gives each engine's speed-up from one thread to each other count. GMAC/s counts the ONNX graph's Conv/Gemm/MatMul multiply-accumulates.
A sanity table gives each int8 output's SQNR against ORT fp32 on the timed sample, so a broken
build cannot post a fast time unnoticed.
"""

import argparse
import ctypes
import json
import math
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import QuantFormat

import interp_vs_ort
import quant_accuracy
import photos  # noqa: E402  (on the path quant_accuracy adds: tests/python)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODELS = ["tiny_cnn", "conv_mlp_head", "resnet18", "mobilenetv2", "efficientnet_lite0"]
ENGINES = ["qcc", "ORT fp32", "ORT int8", "OV int8"]
# How much worse than the best peer's SQNR qcc's may be before the run is an error: the same
# int8 scheme on the same calibration data lands within a few dB (see bench/quant_accuracy.py).
SQNR_SLACK_DB = 6.0


def cpu_description():
    """'MODEL NAME; flags: avx2 avx512_vnni …' from /proc/cpuinfo."""
    name, flags = "unknown CPU", []
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.strip() == "model name" and name == "unknown CPU":
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = value.split()
    wanted = ("sse4_1", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
              "avx_vnni", "avx512_bf16", "amx_int8")
    shown = [f for f in wanted if f in flags]
    return f"{name}, {os.cpu_count()} logical CPUs; flags: {' '.join(shown) or 'no AVX2'}"


# A library port's "dtype" (its NAME_model_json) as numpy's.
PORT_DTYPES = {"f32": np.float32, "i8": np.int8, "u8": np.uint8, "i32": np.int32,
               "i64": np.int64, "bool": np.bool_}


class QccLibrary:
    """A model.so called through its C ABI, buffers allocated once."""

    def __init__(self, path, threads=1):
        lib = ctypes.CDLL(path)
        lib.qcc_model_json.restype = ctypes.c_char_p
        lib.qcc_scratch_size_threads.restype = ctypes.c_size_t
        lib.qcc_scratch_size_threads.argtypes = [ctypes.c_size_t]
        lib.qcc_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        lib.qcc_run.restype = ctypes.c_int
        lib.qcc_run_threads.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                        ctypes.c_size_t]
        lib.qcc_run_threads.restype = ctypes.c_int
        self.lib = lib
        self.threads = threads
        self.info = json.loads(lib.qcc_model_json())
        self.inputs = [np.zeros(i["shape"], PORT_DTYPES[i["dtype"]]) for i in self.info["inputs"]]
        self.outputs = [np.zeros(o["shape"], PORT_DTYPES[o["dtype"]]) for o in self.info["outputs"]]
        self._scratch = np.zeros(lib.qcc_scratch_size_threads(threads) + 64, np.uint8)
        self._aligned = self._scratch.ctypes.data + (-self._scratch.ctypes.data % 64)
        self._in = (ctypes.c_void_p * len(self.inputs))(*(a.ctypes.data for a in self.inputs))
        self._out = (ctypes.c_void_p * len(self.outputs))(*(a.ctypes.data for a in self.outputs))

    def set_input(self, x):
        """x: the one input's array, a list of arrays in input order, or {input name: array}."""
        names = [i["name"] for i in self.info["inputs"]]
        if isinstance(x, list):
            x = dict(zip(names, x)) if len(x) == len(names) else None
        feeds = x if isinstance(x, dict) else {names[0]: x} if len(names) == 1 else None
        if feeds is None or sorted(feeds) != sorted(names):
            raise SystemExit(f"qcc library wants inputs {names}, the benchmark gave "
                             f"{sorted(feeds) if feeds else 'one array'}")
        for name, buf in zip(names, self.inputs):
            if buf.shape != feeds[name].shape:
                raise SystemExit(f"qcc library wants {name} of shape {buf.shape}, "
                                 f"the benchmark has {feeds[name].shape}")
            np.copyto(buf, feeds[name], casting="no")

    def run(self):
        if self.threads == 1:
            rc = self.lib.qcc_run(self._in, self._out, self._aligned)
        else:
            rc = self.lib.qcc_run_threads(self._in, self._out, self._aligned, self.threads)
        if rc != 0:
            raise SystemExit(f"qcc_run returned {rc}")

    def output(self):
        return self.outputs[0]


class OrtRunner:
    """An ORT session on `threads` threads, bound to preallocated input and output arrays."""

    def __init__(self, path, x, threads=1):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        names = [i.name for i in self.sess.get_inputs()]
        feeds = x if isinstance(x, dict) else {names[0]: x}
        self.x = {k: np.ascontiguousarray(v) for k, v in feeds.items()}
        self.binding = self.sess.io_binding()
        for name in names:
            self.binding.bind_cpu_input(name, self.x[name])
        # Output shapes come from one plain run, so the arrays can be bound once.
        outs = self.sess.run(None, self.x)
        self.outputs = [np.empty_like(o) for o in outs]
        for meta, arr in zip(self.sess.get_outputs(), self.outputs):
            self.binding.bind_output(meta.name, "cpu", 0, arr.dtype, list(arr.shape), arr.ctypes.data)

    def run(self):
        self.sess.run_with_iobinding(self.binding)

    def output(self):
        return self.outputs[0]


class OpenVinoRunner:
    """OpenVINO's CPU plugin on `threads` threads, input tensor set once."""

    def __init__(self, path, x, threads=1):
        import openvino as ov

        core = ov.Core()
        config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}
        self.compiled = core.compile_model(path, "CPU", config)
        got = int(self.compiled.get_property("INFERENCE_NUM_THREADS"))
        if got != threads:
            raise SystemExit(f"OpenVINO compiled {path} for {got} threads, not {threads}")
        # On CPUs with AVX512-BF16 OpenVINO runs the layers left in float in bf16 by default;
        # the table shows it, as users get it.
        self.precision = self.compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
        self.req = self.compiled.create_infer_request()
        ports = self.compiled.inputs
        feeds = x if isinstance(x, dict) else {ports[0].get_any_name(): x}
        self.x = []
        for i, port in enumerate(ports):
            self.x.append(np.ascontiguousarray(feeds[port.get_any_name()]))
            self.req.set_input_tensor(i, ov.Tensor(self.x[-1], shared_memory=True))

    def run(self):
        self.req.infer()

    def output(self):
        return self.req.get_output_tensor(0).data


def openvino_status():
    """(usable, version or the reason it is not)."""
    try:
        import openvino as ov
    except ImportError as e:
        return False, f"cannot import openvino ({e}); it is pinned in bench/requirements.txt"
    return True, ov.get_version()


def compile_qcc(qcc, onnx_path, calib_path, so_path):
    cmd = [qcc, onnx_path, "-o", so_path, "--calib", calib_path, "--calibration", "minmax"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"$ {' '.join(cmd)}\n(exit {done.returncode})\n{done.stderr.strip()}")
    return time.perf_counter() - t0


# Runs per turn of an engine on more than one thread, and the pause before each turn (see
# time_round_robin).
BURST = 5
SETTLE_S = 0.05


def time_round_robin(runners, rounds, warmup, burst=1):
    """{runner: (median wall ms, median CPU ms)}; each round gives every engine a turn, starting
    one further along.

    CPU time is the process's (every thread's), so an engine that used more than one thread
    shows CPU > wall, and time the process was preempted on a busy machine is not counted.
    A turn of more than one run starts with a pause of SETTLE_S and one untimed run: on more
    than one thread, ORT's and OpenVINO's workers spin for a while after a run waiting for the
    next, and would take the cores from whichever engine ran next (every engine, ORT fp32
    included, was then timed no faster on 2 threads than on 1). The pause lets them sleep; the
    untimed run wakes this engine's own, and the timed runs find them awake, as in a service
    running one model.
    """
    names = list(runners)
    wall = {n: [] for n in names}
    cpu = {n: [] for n in names}
    timed = max(burst - 1, 1)
    for r in range(warmup + -(-rounds // timed)):
        for k in range(len(names)):
            name = names[(r + k) % len(names)]
            fn = runners[name].run
            if burst > 1:
                time.sleep(SETTLE_S)
            for b in range(burst):
                c0, t0 = time.process_time_ns(), time.perf_counter_ns()
                fn()
                t1, c1 = time.perf_counter_ns(), time.process_time_ns()
                if r >= warmup and (b > 0 or burst == 1) and len(wall[name]) < rounds:
                    wall[name].append((t1 - t0) / 1e6)
                    cpu[name].append((c1 - c0) / 1e6)
    return {n: (statistics.median(wall[n]), statistics.median(cpu[n])) for n in names}


def bench_model(name, args, openvino_ok):
    work = os.path.join(args.work, name)
    os.makedirs(work, exist_ok=True)
    onnx_path = os.path.join(args.models, f"{name}.onnx")
    if not os.path.exists(onnx_path):
        raise SystemExit(f"{onnx_path} does not exist: run tests/python/make_models.py first")
    if name not in quant_accuracy.IMAGE_MODELS:
        raise SystemExit(f"unknown model {name}; known: {', '.join(quant_accuracy.IMAGE_MODELS)}")
    size, mean, std = quant_accuracy.IMAGE_MODELS[name]
    calib = photos.random_crops(args.calib, size, mean, std, seed=2)
    calib_path = os.path.join(work, "calib.npy")
    np.save(calib_path, calib)
    x = np.load(os.path.join(args.models, f"{name}.input.npy"))[0]

    so_path = os.path.join(work, f"{name}.so")
    qcc_secs = compile_qcc(args.qcc, onnx_path, calib_path, so_path)
    qop_path, qdq_path = os.path.join(work, "ort-qop.onnx"), os.path.join(work, "ort-qdq.onnx")
    quant_accuracy.ort_quantize(onnx_path, qop_path, calib, QuantFormat.QOperator, False)
    if openvino_ok:
        quant_accuracy.ort_quantize(onnx_path, qdq_path, calib, QuantFormat.QDQ, False)
    per_threads = {}
    for threads in args.threads:
        per_threads[threads] = time_engines(name, args, openvino_ok, x, threads, so_path, onnx_path,
                                            qop_path, qdq_path, qcc_secs)
    return interp_vs_ort.gmac(onnx.load(onnx_path)), per_threads


def time_engines(name, args, openvino_ok, x, threads, so_path, onnx_path, qop_path, qdq_path,
                 qcc_secs):
    """(medians, sqnr, extra) of every engine on `threads` threads."""
    qcc = QccLibrary(so_path, threads)
    qcc.set_input(x)
    runners = {"qcc": qcc, "ORT fp32": OrtRunner(onnx_path, x, threads),
               "ORT int8": OrtRunner(qop_path, x, threads)}
    if openvino_ok:
        runners["OV int8"] = OpenVinoRunner(qdq_path, x, threads)

    for r in runners.values():
        r.run()
    ref = runners["ORT fp32"].output().astype(np.float64)
    sqnr = {}
    for label, r in runners.items():
        out = np.asarray(r.output(), np.float64)
        if out.shape != ref.shape:
            raise SystemExit(f"{name}: {label} output shape {out.shape}, ORT fp32's {ref.shape}")
        if label != "ORT fp32":
            sqnr[label] = quant_accuracy.sqnr_db(ref, out)

    both = time_round_robin(runners, args.runs, args.warmup, BURST if threads > 1 else 1)
    use_cpu = args.clock == "cpu" and threads == 1
    medians = {n: (cpu if use_cpu else wall) for n, (wall, cpu) in both.items()}
    extra = {"cpu_over_wall": {n: cpu / wall for n, (wall, cpu) in both.items()},
             "qcc_compile_s": qcc_secs,
             "qcc_features": f"{qcc.info.get('target')}, {qcc.info.get('weight_bits')}-bit weights"}
    if openvino_ok:
        extra["ov_precision"] = runners["OV int8"].precision
    return medians, sqnr, extra


def markdown_table(headers, rows):
    """Prints a Markdown table, first column left-aligned, the others right-aligned."""
    for r in rows:
        if len(r) != len(headers):
            raise ValueError(f"table row {r} has {len(r)} cells for {len(headers)} headers")
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    print(line(headers))
    print("|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":"
                         for i, w in enumerate(widths)) + "|")
    for r in rows:
        print(line(r))


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def print_tables(results, args, openvino_note):
    for threads in args.threads:
        print_tables_at({name: (g, *per[threads]) for name, (g, per) in results.items()},
                        args, openvino_note, threads)
    if len(args.threads) > 1 and 1 in args.threads:
        print("\n## speed-up from one thread (median latency on 1 / on T threads)\n")
        others = [t for t in args.threads if t != 1]
        engines = [e for e in ENGINES if all(e in per[1][0] for _, per in results.values())]
        rows = []
        for name, (_, per) in results.items():
            rows.append([name, *(f"{per[1][0][e] / per[t][0][e]:.2f}" for t in others for e in engines)])
        markdown_table(["model", *(f"{e} ×{t}" for t in others for e in engines)], rows)


def print_tables_at(results, args, openvino_note, threads):
    clock = "process CPU time" if args.clock == "cpu" and threads == 1 else "wall-clock time"
    where = "one thread" if threads == 1 else f"{threads} threads each"
    turns = "" if threads == 1 else f" (turns of {BURST} after a pause, the first untimed)"
    print(f"\n## latency, median ms ({clock}) of {args.runs} round-robin runs{turns} after "
          f"{args.warmup} warm-up rounds, {where}\n")
    headers = ["model", "GMAC", *(f"{e} ms" for e in ENGINES), *(f"{e} GMAC/s" for e in ENGINES),
               "qcc/ORT-int8", "qcc/OV-int8"]
    rows, ratios_ort, ratios_ov = [], [], []
    for name, (g, med, _, _) in results.items():
        r_ort = med["qcc"] / med["ORT int8"]
        r_ov = med["qcc"] / med["OV int8"] if "OV int8" in med else None
        ratios_ort.append(r_ort)
        if r_ov is not None:
            ratios_ov.append(r_ov)
        rows.append([name, f"{g:.3f}",
                     *(f"{med[e]:.2f}" if e in med else "-" for e in ENGINES),
                     *(f"{g / (med[e] / 1e3):.1f}" if e in med else "-" for e in ENGINES),
                     f"{r_ort:.2f}", f"{r_ov:.2f}" if r_ov is not None else "-"])
    markdown_table(headers, rows)
    print(f"\ngeometric mean qcc/ORT-int8: {geomean(ratios_ort):.2f}")
    if ratios_ov:
        print(f"geometric mean qcc/OV-int8:  {geomean(ratios_ov):.2f}")
    else:
        print(f"geometric mean qcc/OV-int8:  - (OpenVINO not run: {openvino_note})")
    print("ratios below 1: qcc faster")

    print(f"\n## sanity ({where}): SQNR (dB) of each int8 output against ORT fp32 on the timed "
          f"sample; CPU/wall (about {threads} when an engine uses its {threads} thread(s) and the "
          "machine is idle, above when it used more, below when it waited for the CPU)\n")
    labels = [e for e in ENGINES if e != "ORT fp32"]
    rows = [[name, *(f"{sqnr[e]:.1f}" if e in sqnr else "-" for e in labels),
             *(f"{extra['cpu_over_wall'][e]:.2f}" if e in extra["cpu_over_wall"] else "-" for e in ENGINES),
             f"{extra['qcc_compile_s']:.1f}", str(extra["qcc_features"]), extra.get("ov_precision", "-")]
            for name, (_, _, sqnr, extra) in results.items()]
    markdown_table(["model", *(f"{e} dB" for e in labels), *(f"{e} CPU/wall" for e in ENGINES),
                    "qcc build s", "qcc library built for", "OV precision"], rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", default=DEFAULT_MODELS, help="models to time")
    p.add_argument("--models", default=os.path.join(ROOT, "tests/.work/models"), help="make_models.py output")
    p.add_argument("--qcc", default=os.path.join(ROOT, "target/release/qcc"), help="qcc binary")
    p.add_argument("--work", default=os.path.join(ROOT, "tests/.work/bench_int8"),
                   help="where calibration sets, libraries and quantized models go")
    p.add_argument("--runs", type=int, help="timed rounds per model [default 40, --quick 10]")
    p.add_argument("--warmup", type=int, help="warm-up rounds per model [default 5, --quick 2]")
    p.add_argument("--calib", type=int, help="calibration crops per model [default 16, --quick 4]")
    p.add_argument("--quick", action="store_true", help="fewer runs and calibration samples")
    p.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                   help="what the latency columns show: the process's CPU time per run (robust "
                        "on a shared machine) or wall-clock time; the other shows in CPU/wall")
    p.add_argument("--threads", default="1,2",
                   help="comma-separated thread counts, each engine set to each [default 1,2]")
    p.add_argument("--no-openvino", action="store_true",
                   help="run without OpenVINO (otherwise a missing openvino is an error)")
    args = p.parse_args()
    args.runs = args.runs or (10 if args.quick else 40)
    args.warmup = args.warmup if args.warmup is not None else (2 if args.quick else 5)
    args.calib = args.calib or (4 if args.quick else 16)
    try:
        args.threads = [int(t) for t in args.threads.split(",")]
    except ValueError:
        p.error(f"--threads takes comma-separated counts, not {args.threads!r}")
    if any(t < 1 for t in args.threads):
        p.error("--threads counts are at least 1")
    if args.runs < 5:
        p.error("--runs must be at least 5: a median of fewer runs is noise")
    if not os.access(args.qcc, os.X_OK):
        raise SystemExit(f"{args.qcc} is not an executable: cargo build --release -p qcc")

    openvino_ok, openvino_note = openvino_status()
    if args.no_openvino:
        openvino_ok, openvino_note = False, "--no-openvino"
    elif not openvino_ok:
        raise SystemExit(f"OpenVINO: {openvino_note} (or pass --no-openvino)")

    print(f"CPU: {cpu_description()}")
    print(f"onnxruntime {ort.__version__}; OpenVINO {openvino_note if openvino_ok else 'not run: ' + openvino_note}")
    t0 = time.perf_counter()
    results = {}
    for name in args.names:
        t = time.perf_counter()
        results[name] = bench_model(name, args, openvino_ok)
        print(f"[{name}] {time.perf_counter() - t:.0f} s", flush=True)
    print_tables(results, args, openvino_note)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    # A fast library that computes the wrong thing must not pass for a result.
    wrong = [f"{name} ({sqnr['qcc']:.1f} dB, best peer {max(v for k, v in sqnr.items() if k != 'qcc'):.1f} dB)"
             for name, (_, per) in results.items() for (_, sqnr, _) in per.values()
             if sqnr["qcc"] < max(v for k, v in sqnr.items() if k != "qcc") - SQNR_SLACK_DB]
    if wrong:
        raise SystemExit(f"error: qcc's output is more than {SQNR_SLACK_DB} dB further from fp32 "
                         f"than a peer's on {', '.join(wrong)}: its times do not count")


if __name__ == "__main__":
    sys.exit(main())
