"""Kernel roofline: MAC/cycle of qcc's code per conv layer of ResNet-18 and MobileNetV2.

Usage: python bench/roofline.py [--models DIR] [--qcc PATH] [--work DIR] [--quick] [NAME ...]

1. The machine: bench/roofline/peak.c, built here with `cc -O2 -mavx2`, measures the clock (a
   chain of dependent adds) and the int8 multiply-accumulate ceilings on registers (AVX2
   vpmaddubsw+vpmaddwd, the exact 16-bit vpmaddwd, 128-bit SSE, and AVX512-VNNI vpdpbusd when
   the CPU has it), all timed on the thread's CPU clock so that time the thread was preempted
   is not counted.
2. Every Conv of each model (NAME.onnx from tests/python/make_models.py, shapes from ONNX shape
   inference), grouped by identical shape/stride/padding/groups, becomes a one-conv ONNX model
   with random weights; qcc compiles it to a .so (`--calibration minmax` on random inputs), and
   the library is timed through its C ABI (the median of several samples of the thread's CPU
   time, each a batch of calls long enough to dwarf the call overhead).
3. The whole model's .so is timed the same way, so the table shows how much of it the
   convolutions explain.

The time of a one-conv library includes quantizing its f32 input and dequantizing its f32 output
(the ABI is f32), which inside a whole model does not happen: for layers with few MACs per element
(depthwise, small 1×1) that is most of it. "f32 I/O us" estimates it from Relu-only libraries
of the input's and the output's shapes (see boundary_seconds); the kernel columns use the measured
time less that estimate. The estimate errs high, so the truth lies between "MAC/cycle with I/O"
(a lower bound) and "kernel MAC/cycle" (optimistic: where it exceeds the ceiling of the
instructions the code can use, the estimate was too high). "MAC/B" is MACs per byte of int8
input+output+weights. The whole model's time, printed last, is the cross-check with no estimate in it.
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
from onnx import TensorProto, helper, numpy_helper

from int8_vs_peers import QccLibrary, compile_qcc, markdown_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODELS = ["resnet18", "mobilenetv2"]


def measure_peak(work, quick):
    """The JSON peak.c prints: ghz and MAC/cycle per instruction sequence."""
    src = os.path.join(ROOT, "bench/roofline/peak.c")
    exe = os.path.join(work, "peak")
    cmd = ["cc", "-O2", "-mavx2", "-Wall", "-Werror", src, "-o", exe]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"$ {' '.join(cmd)}\n(exit {done.returncode})\n{done.stderr.strip()}")
    out = subprocess.run([exe, *(["--quick"] if quick else [])], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)


def _dims(value_info):
    return [d.dim_value for d in value_info.type.tensor_type.shape.dim]


def conv_layers(path):
    """[(node name, key)] for every Conv; key = (C, H, W, M, kh, kw, strides, pads, dilations,
    group, has_bias, Ho, Wo), everything a one-conv model needs and identical layers share."""
    g = onnx.shape_inference.infer_shapes(onnx.load(path)).graph
    shapes = {v.name: _dims(v) for v in [*g.input, *g.output, *g.value_info]}
    shapes.update({t.name: list(t.dims) for t in g.initializer})
    layers = []
    for n in g.node:
        if n.op_type != "Conv":
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        x, w, y = shapes[n.input[0]], shapes[n.input[1]], shapes[n.output[0]]
        if len(x) != 4 or x[0] != 1:
            raise SystemExit(f"{path}: Conv {n.name} has input shape {x}; expected 1xCxHxW")
        kh, kw = w[2], w[3]
        key = (x[1], x[2], x[3], w[0], kh, kw, tuple(attrs.get("strides", [1, 1])),
               tuple(attrs.get("pads", [0, 0, 0, 0])), tuple(attrs.get("dilations", [1, 1])),
               attrs.get("group", 1), len(n.input) > 2 and n.input[2] != "", y[2], y[3])
        if attrs.get("auto_pad", "NOTSET") not in ("NOTSET", b"NOTSET"):
            raise SystemExit(f"{path}: Conv {n.name} uses auto_pad; write explicit pads")
        layers.append((n.name or n.output[0], key))
    return layers


def macs_of(key):
    c, _, _, m, kh, kw, _, _, _, group, _, ho, wo = key
    return m * ho * wo * (c // group) * kh * kw


def bytes_of(key):
    """int8 bytes a conv must touch at least: input, output, weights (the arithmetic intensity's
    denominator)."""
    c, h, w, m, kh, kw, _, _, _, group, _, ho, wo = key
    return c * h * w + m * ho * wo + m * (c // group) * kh * kw


def kind_of(key):
    c, _, _, m, kh, kw, _, _, _, group, _, _, _ = key
    if group == c and group == m and group > 1:
        return f"depthwise {kh}x{kw}"
    if group > 1:
        return f"grouped {kh}x{kw}"
    return f"dense {kh}x{kw}"


def describe(key):
    c, h, w, m, kh, kw, strides, _, _, group, _, ho, wo = key
    g = f" g{group}" if group > 1 else ""
    return f"{c}->{m} {h}x{w}->{ho}x{wo} k{kh}x{kw} s{strides[0]}{g}"


def one_conv_model(key, seed):
    c, h, w, m, kh, kw, strides, pads, dilations, group, has_bias, ho, wo = key
    rng = np.random.default_rng(seed)
    fan_in = (c // group) * kh * kw
    weight = (rng.standard_normal((m, c // group, kh, kw)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    inits = [numpy_helper.from_array(weight, "w")]
    inputs = ["x", "w"]
    if has_bias:
        inits.append(numpy_helper.from_array((0.1 * rng.standard_normal(m)).astype(np.float32), "b"))
        inputs.append("b")
    node = helper.make_node("Conv", inputs, ["y"], kernel_shape=[kh, kw], strides=list(strides),
                            pads=list(pads), dilations=list(dilations), group=group)
    graph = helper.make_graph(
        [node], "one_conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, h, w])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, m, ho, wo])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    return model


def time_library(lib, samples, min_sample_s):
    """Median CPU seconds per call: `samples` samples, each a batch of calls lasting at least
    min_sample_s. CPU time (the thread's: the library runs in it) leaves out the time other
    processes had the core, as peak.c's measurements do."""
    lib.run()
    t0 = time.thread_time()
    lib.run()
    once = max(time.thread_time() - t0, 1e-7)
    batch = max(1, int(min_sample_s / once))
    times = []
    for _ in range(samples):
        t0 = time.thread_time()
        for _ in range(batch):
            lib.run()
        times.append((time.thread_time() - t0) / batch)
    return statistics.median(times)


def relu_model(shape):
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def boundary_seconds(shape, work, args, cache):
    """Half the time of a Relu-only library on `shape`: an estimate of what a one-conv library
    spends quantizing an f32 input of that shape, or dequantizing an output of it.

    A Relu library is quantize + requantize (the clamp) + dequantize over the tensor; taking half
    of it for one end assumes quantize and dequantize cost about the same per element and counts
    the requantize against them, so the estimate errs high and the kernel figures derived from it
    err optimistic.
    """
    key = tuple(shape)
    if key not in cache:
        stem = os.path.join(work, "relu_" + "x".join(map(str, key)))
        onnx.save(relu_model(list(key)), f"{stem}.onnx")
        calib = np.random.default_rng(7).standard_normal((2, *key)).astype(np.float32)
        np.save(f"{stem}.calib.npy", calib)
        compile_qcc(args.qcc, f"{stem}.onnx", f"{stem}.calib.npy", f"{stem}.so")
        lib = QccLibrary(f"{stem}.so")
        lib.set_input(calib[0])
        cache[key] = time_library(lib, args.samples, args.min_sample_s) / 2
    return cache[key]


def bench_model(name, args, peak):
    """[(node names, key, seconds per call, estimated f32 boundary seconds)], whole model's s."""
    work = os.path.join(args.work, name)
    os.makedirs(work, exist_ok=True)
    path = os.path.join(args.models, f"{name}.onnx")
    if not os.path.exists(path):
        raise SystemExit(f"{path} does not exist: run tests/python/make_models.py first")
    layers = conv_layers(path)
    groups = {}
    for node, key in layers:
        groups.setdefault(key, []).append(node)

    rows, cache = [], {}
    for i, (key, nodes) in enumerate(groups.items()):
        stem = os.path.join(work, f"conv{i:02d}")
        onnx.save(one_conv_model(key, seed=i), f"{stem}.onnx")
        rng = np.random.default_rng(1000 + i)
        calib = rng.standard_normal((4, 1, key[0], key[1], key[2])).astype(np.float32)
        np.save(f"{stem}.calib.npy", calib)
        compile_qcc(args.qcc, f"{stem}.onnx", f"{stem}.calib.npy", f"{stem}.so")
        lib = QccLibrary(f"{stem}.so")
        lib.set_input(calib[0])
        secs = time_library(lib, args.samples, args.min_sample_s)
        io = (boundary_seconds([1, key[0], key[1], key[2]], work, args, cache)
              + boundary_seconds([1, key[3], key[11], key[12]], work, args, cache))
        rows.append((nodes, key, secs, io))
        print(f"  [{name}] {len(rows)}/{len(groups)} {describe(key)}: {secs * 1e6:.0f} us "
              f"(f32 I/O ~{io * 1e6:.0f} us)", file=sys.stderr, flush=True)

    # The whole model, for the share the convolutions explain.
    x = np.load(os.path.join(args.models, f"{name}.input.npy"))
    np.save(os.path.join(work, "calib.npy"), x)
    compile_qcc(args.qcc, path, os.path.join(work, "calib.npy"), os.path.join(work, f"{name}.so"))
    whole = QccLibrary(os.path.join(work, f"{name}.so"))
    whole.set_input(x[0])
    return rows, time_library(whole, args.samples, args.min_sample_s)


def kernel_seconds(secs, io):
    """The conv's own time, or None when the boundary estimate swallows the measurement."""
    k = secs - io
    return k if k > 0.05 * secs else None


def print_model(name, rows, whole_s, peak):
    hz = peak["ghz"] * 1e9
    ceiling = peak["avx2_maddubs"]
    vnni = peak.get("vnni_zmm")
    kernel = [kernel_seconds(s, io) for _, _, s, io in rows]
    # Where the whole model's time goes: there a conv has no f32 boundary, so its kernel time.
    share = [len(nodes) * (k if k is not None else s) for (nodes, _, s, _), k in zip(rows, kernel)]
    total_s = sum(share)
    print(f"\n## {name}: conv layers, identical ones grouped\n")
    headers = ["layers", "n", "shape", "MMAC", "MAC/B", "us", "MAC/cycle with I/O",
               "f32 I/O us (est.)", "kernel us", "kernel GMAC/s", "kernel MAC/cycle",
               "% AVX2 peak", *(["% VNNI peak"] if vnni else []), "% of conv time"]
    table = []
    for (nodes, key, s, io), k, sh in zip(rows, kernel, share):
        macs = macs_of(key)
        shown = nodes[0] if len(nodes) == 1 else f"{nodes[0]} (+{len(nodes) - 1})"
        if k is None:
            rates = ["n/a"] * (3 + bool(vnni))
        else:
            mpc = macs / k / hz
            rates = [f"{macs / k / 1e9:.1f}", f"{mpc:.1f}", f"{100 * mpc / ceiling:.0f}",
                     *([f"{100 * mpc / vnni:.0f}"] if vnni else [])]
        table.append([shown, str(len(nodes)), describe(key), f"{macs / 1e6:.1f}",
                      f"{macs / bytes_of(key):.0f}", f"{s * 1e6:.0f}", f"{macs / s / hz:.1f}",
                      f"{io * 1e6:.0f}",
                      f"{k * 1e6:.0f}" if k is not None else "n/a", *rates,
                      f"{100 * sh / total_s:.1f}"])
    markdown_table(headers, table)

    print(f"\n{name} by kind (all layers of the kind: MACs / summed kernel time, and / summed "
          "time of the one-conv libraries including their f32 I/O):\n")
    kinds = {}
    for (nodes, key, s, _), sh in zip(rows, share):
        k = kinds.setdefault(kind_of(key), [0, 0, 0.0, 0.0])
        k[0] += len(nodes)
        k[1] += len(nodes) * macs_of(key)
        k[2] += sh
        k[3] += len(nodes) * s
    kinds["all convs"] = [sum(v[i] for v in kinds.values()) for i in range(4)]
    table = []
    for kind, (n, macs, ks, s) in sorted(kinds.items(), key=lambda kv: (kv[0] == "all convs", -kv[1][2])):
        mpc = macs / ks / hz
        table.append([kind, str(n), f"{macs / 1e6:.0f}", f"{ks * 1e3:.2f}", f"{mpc:.1f}",
                      f"{100 * mpc / ceiling:.0f}", f"{macs / s / hz:.1f}", f"{100 * ks / total_s:.1f}"])
    markdown_table(["kind", "n", "MMAC", "kernel ms", "MAC/cycle", "% AVX2 peak",
                    "MAC/cycle with I/O", "% of conv time"], table)
    total_macs = kinds["all convs"][1]
    print(f"\nwhole {name}.so: {whole_s * 1e3:.2f} ms ({total_macs / whole_s / hz:.1f} MAC/cycle "
          f"overall); its convolutions' kernel times sum to {total_s * 1e3:.2f} ms "
          f"({100 * total_s / whole_s:.0f}% of it), with the one-conv libraries' f32 I/O to "
          f"{kinds['all convs'][3] * 1e3:.2f} ms")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", default=DEFAULT_MODELS, help="models whose convs to time")
    p.add_argument("--models", default=os.path.join(ROOT, "tests/.work/models"), help="make_models.py output")
    p.add_argument("--qcc", default=os.path.join(ROOT, "target/release/qcc"), help="qcc binary")
    p.add_argument("--work", default=os.path.join(ROOT, "tests/.work/roofline"),
                   help="where the one-conv models and libraries go")
    p.add_argument("--quick", action="store_true", help="fewer and shorter samples")
    args = p.parse_args()
    args.samples = 5 if args.quick else 15
    args.min_sample_s = 0.005 if args.quick else 0.02
    if not os.access(args.qcc, os.X_OK):
        raise SystemExit(f"{args.qcc} is not an executable: cargo build --release -p qcc")
    os.makedirs(args.work, exist_ok=True)

    t0 = time.perf_counter()
    peak = measure_peak(args.work, args.quick)
    print(f"clock: {peak['ghz']:.2f} GHz (dependent adds, thread CPU time)")
    print("int8 MAC/cycle ceilings, operands in registers, one thread:")
    labels = {"avx2_maddubs": "AVX2 vpmaddubsw+vpmaddwd (256-bit)",
              "avx2_maddwd": "AVX2 vpmaddwd on 16-bit (256-bit, exact)",
              "sse_maddubs": "SSE pmaddubsw+pmaddwd (128-bit, Cranelift's width)",
              "vnni_ymm": "AVX512-VNNI vpdpbusd ymm", "vnni_zmm": "AVX512-VNNI vpdpbusd zmm"}
    for k, label in labels.items():
        if k in peak:
            print(f"  {label:<52} {peak[k]:6.1f}  ({peak[k] * peak['ghz']:.0f} GMAC/s)")
    if "vnni_zmm" not in peak:
        print("  (no AVX512-VNNI on this CPU)")
    for name in args.names:
        rows, whole_s = bench_model(name, args, peak)
        print_model(name, rows, whole_s, peak)
    print(f"\n'% AVX2 peak' is against the measured vpmaddubsw+vpmaddwd ceiling above; total "
          f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
