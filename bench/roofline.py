"""Kernel roofline: where the time of qcc's ResNet-18 and MobileNetV2 goes, per conv layer and
per op kind, and MAC/cycle against this machine's measured clock and int8 ceilings.

Usage: python bench/roofline.py [--models DIR] [--qcc PATH] [--work DIR] [--target T,...]
                                [--runs N] [--quick] [NAME ...]

1. The machine: bench/roofline/peak.c, built here with `cc -O2 -mavx2`, measures the clock (a
   chain of dependent adds) and the int8 multiply-accumulate ceilings on registers (AVX2
   vpmaddubsw+vpmaddwd, the exact 16-bit vpmaddwd, 128-bit SSE, and AVX512-VNNI vpdpbusd when
   the CPU has it), all timed on the thread's CPU clock so that time the thread was preempted
   is not counted.
2. Each whole model (NAME.onnx from tests/python/make_models.py, calibrated with minmax on its
   reference input) is compiled once per target with `qcc --profile`: the library then times
   every kernel call itself (CLOCK_MONOTONIC around each call, see backend/link.rs) and
   describes each step (result name, op kind, operand and result types, attributes). The
   weights are those a CPU of the target gets by default: 8-bit where the target has VNNI,
   7-bit otherwise (AVX2's pmaddubsw route needs |w| <= 64).
3. The library runs on one thread through its C ABI (ctypes), a few warm-up runs first; the
   profile is read and reset after every run, and each step's time is its minimum over the runs.
   The library's clock is wall time, so a step the thread was preempted in (or shared its core
   or caches with another process in) reads longer; the work itself is the same every run, so
   the least disturbed run is the kernel's own speed, what the ceilings are compared with. The
   whole model's best and median run are printed beside the sum of the steps' minima.

So every figure is the kernel inside the real model, with its real neighbours in the caches and
no f32 boundary of its own. A step's time includes one clock read (tens of ns). The conv tables
group identical layers (same shapes, strides, pads, groups); "us" is per layer and run, "% time"
is the group's share of the whole model. "% ceiling" is against the target's best int8
instruction sequence measured by peak.c: 128-bit SSE for x86-64-v2, AVX2 for x86-64-v3/v4 and
targets without VNNI, 512-bit VNNI for targets with it. "MAC/B" is MACs per byte of int8
input+output+weights. The by-kind tables sum every step of the model, convs and the rest.
"""

import argparse
import ctypes
import json
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np

from int8_vs_peers import QccLibrary, markdown_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODELS = ["resnet18", "mobilenetv2"]
# Pure Cranelift, the AVX2 machine-code tier, and this machine (the VNNI tier where it has it).
DEFAULT_TARGETS = ["x86-64-v2", "x86-64-v3", "native"]
# The issue's acceptance: MAC/cycle of ResNet-18's 3x3 convolutions as a whole.
ACCEPTANCE = {"x86-64-v2": 13, "x86-64-v3": 26}


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


def host_has_vnni():
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


def target_has_vnni(target):
    """Whether code for `target` may use VNNI: what decides qcc's default weight bits there."""
    base, *extra = target.split("+")
    return any("vnni" in f for f in extra) or (base == "native" and host_has_vnni())


def ceiling_of(target, peak, bits):
    """(label, MAC/cycle) of the best int8 sequence the target's code can use with `bits`-bit
    weights (8-bit ones without VNNI take the exact 16-bit route on AVX2)."""
    if target_has_vnni(target) and "vnni_zmm" in peak:
        return "VNNI zmm", peak["vnni_zmm"]
    if target.split("+")[0] == "x86-64-v2":
        return "SSE 128-bit", peak["sse_maddubs"]
    if bits == "8":
        return "AVX2 16-bit", peak["avx2_maddwd"]
    return "AVX2", peak["avx2_maddubs"]


# --- the step descriptions (`NAME_profile_steps`) ---

def split_top(text, sep=","):
    """`text` split at `sep` outside <>, [] and {}."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch in "<[{":
            depth += 1
        elif ch in ">]}":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def shape_of(ty):
    """[dims] of `tensor<1x64x56x56x!quant<…>>` (or of tensor<…xf32>)."""
    m = re.fullmatch(r"tensor<((?:\d+x)*)(.*)>", ty)
    if not m:
        raise SystemExit(f"cannot read the tensor type `{ty}` of a profile step")
    return [int(d) for d in m.group(1).split("x") if d]


def attrs_of(text):
    """{name: value} of `{strides = [2, 2], groups = 1, …}`: ints and int lists parsed, the rest
    (shortened lists, booleans) kept as text."""
    out = {}
    for item in split_top(text.strip()[1:-1]) if text.strip() else []:
        key, _, value = item.partition(" = ")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


class Step:
    """One kernel call of a profiling build, from its line of `NAME_profile_steps`."""

    def __init__(self, line):
        fields = line.split("\t")
        if len(fields) != 5:
            raise SystemExit(f"a profile step has {len(fields)} fields, not 5: {line!r}")
        self.name, self.kind, operands, self.result, attrs = fields
        self.operands = split_top(operands)
        self.attrs = attrs_of(attrs)
        self.macs, self.key = 0, None
        if self.kind == "qconv2d":
            _, c, h, w = shape_of(self.operands[0])
            m, _, kh, kw = shape_of(self.operands[1])
            _, _, ho, wo = shape_of(self.result)
            g = self.attrs.get("groups", 1)
            self.key = (c, h, w, m, kh, kw, tuple(self.attrs["strides"]),
                        tuple(self.attrs["pads"]), tuple(self.attrs["dilations"]), g, ho, wo)
            self.macs = m * ho * wo * (c // g) * kh * kw
        elif self.kind == "qgemm":
            k = shape_of(self.operands[0])[-1]
            self.macs = int(np.prod(shape_of(self.result))) * k

    def conv_kind(self):
        """dense KxK, depthwise KxK, grouped KxK, or stem (a conv straight on the RGB input)."""
        c, _, _, m, kh, kw, _, _, _, g, _, _ = self.key
        if c <= 4 and g == 1:
            return "stem"
        if g == c == m and g > 1:
            return f"depthwise {kh}x{kw}"
        return f"{'grouped' if g > 1 else 'dense'} {kh}x{kw}"

    def kind_label(self):
        if self.kind == "qconv2d":
            return self.conv_kind()
        if self.kind == "qgemm":
            return "gemm"
        return self.kind


def bytes_of(key):
    """int8 bytes a conv must touch at least: input, output, weights (the arithmetic intensity's
    denominator)."""
    c, h, w, m, kh, kw, _, _, _, group, ho, wo = key
    return c * h * w + m * ho * wo + m * (c // group) * kh * kw


def describe(key):
    c, h, w, m, kh, kw, strides, _, _, group, ho, wo = key
    g = f" g{group}" if group > 1 else ""
    return f"{c}->{m} {h}x{w}->{ho}x{wo} k{kh}x{kw} s{strides[0]}{g}"


# --- compiling and running ---

class ProfiledLibrary(QccLibrary):
    """A `qcc --profile` library: the model's C ABI plus the profile readers."""

    def __init__(self, path):
        super().__init__(path)
        lib = self.lib
        try:
            lib.qcc_profile.restype = ctypes.c_size_t
            lib.qcc_profile.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
            lib.qcc_profile_steps.restype = ctypes.c_char_p
            lib.qcc_profile_runs.restype = ctypes.c_uint64
            lib.qcc_profile_reset.restype = None
        except AttributeError:
            raise SystemExit(f"{path} is not a profiling build (compile it with --profile)")
        self.steps = [Step(line) for line in lib.qcc_profile_steps().decode().splitlines()]
        self._ns = np.zeros(len(self.steps), np.uint64)
        if lib.qcc_profile(None, 0) != len(self.steps):
            raise SystemExit(f"{path}: qcc_profile and qcc_profile_steps disagree on the steps")

    def profile_once(self):
        """Nanoseconds per step of one run."""
        self.lib.qcc_profile_reset()
        self.run()
        self.lib.qcc_profile(self._ns.ctypes.data, len(self.steps))
        if self.lib.qcc_profile_runs() != 1:
            raise SystemExit("the profile counted another run than ours: is another thread "
                             "running this library?")
        return self._ns.copy()


def compile_profiled(args, name, target, work):
    """Compiles NAME.onnx for `target` with --profile; returns (path, weight bits)."""
    path = os.path.join(args.models, f"{name}.onnx")
    if not os.path.exists(path):
        raise SystemExit(f"{path} does not exist: run tests/python/make_models.py first")
    calib = os.path.join(work, "calib.npy")
    np.save(calib, np.load(os.path.join(args.models, f"{name}.input.npy")))
    bits = args.weight_bits or ("8" if target_has_vnni(target) else "7")
    so = os.path.join(work, f"{name}.{re.sub(r'[^A-Za-z0-9.-]', '_', target)}.so")
    cmd = [args.qcc, path, "-o", so, "--calib", calib, "--calibration", "minmax",
           "--target", target, "--weight-bits", bits, "--profile"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"$ {' '.join(cmd)}\n(exit {done.returncode})\n{done.stderr.strip()}")
    return so, bits


def measure(lib, runs, warmup):
    """(seconds per step, its minimum over `runs` runs; the steps' sums of the best and the
    median run)."""
    for _ in range(warmup):
        lib.run()
    samples = np.stack([lib.profile_once() for _ in range(runs)]) * 1e-9
    totals = samples.sum(axis=1)
    return samples.min(axis=0), (float(totals.min()), float(statistics.median(totals)))


# --- the tables ---

def print_model(name, target, bits, steps, secs, runs, peak):
    hz = peak["ghz"] * 1e9
    label, ceiling = ceiling_of(target, peak, bits)
    total = float(secs.sum())
    print(f"\n## {name}, target {target} ({bits}-bit weights): conv layers, identical ones "
          f"grouped\n")
    groups = {}
    for st, s in zip(steps, secs):
        if st.key is not None:
            groups.setdefault(st.key, []).append((st, s))
    table = []
    for key, members in groups.items():
        n = len(members)
        s = sum(x for _, x in members)
        macs = members[0][0].macs
        mpc = n * macs / s / hz
        first = members[0][0].name
        table.append([first if n == 1 else f"{first} (+{n - 1})", str(n), describe(key),
                      f"{macs / 1e6:.1f}", f"{macs / bytes_of(key):.0f}", f"{s / n * 1e6:.1f}",
                      f"{n * macs / s / 1e9:.1f}", f"{mpc:.1f}", f"{100 * mpc / ceiling:.0f}",
                      f"{100 * s / total:.1f}"])
    markdown_table(["layers", "n", "shape", "MMAC", "MAC/B", "us", "GMAC/s", "MAC/cycle",
                    f"% {label} ceiling", "% time"], table)

    print(f"\n{name}, {target}, by kind (every step of the model):\n")
    kinds = {}
    for st, s in zip(steps, secs):
        k = kinds.setdefault(st.kind_label(), [0, 0, 0.0])
        k[0] += 1
        k[1] += st.macs
        k[2] += s
    table = []
    for kind, (n, macs, s) in sorted(kinds.items(), key=lambda kv: -kv[1][2]):
        mpc = macs / s / hz if macs else None
        table.append([kind, str(n), f"{macs / 1e6:.0f}" if macs else "", f"{s * 1e6:.0f}",
                      f"{mpc:.1f}" if mpc else "", f"{100 * mpc / ceiling:.0f}" if mpc else "",
                      f"{100 * s / total:.1f}"])
    all_macs = sum(st.macs for st in steps)
    table.append(["whole model", str(len(steps)), f"{all_macs / 1e6:.0f}", f"{total * 1e6:.0f}",
                  f"{all_macs / total / hz:.1f}", f"{100 * all_macs / total / hz / ceiling:.0f}",
                  "100.0"])
    markdown_table(["kind", "steps", "MMAC", "us", "MAC/cycle", f"% {label} ceiling", "% time"],
                   table)
    print(f"\nwhole {name}.so ({target}): the steps' minima sum to {total * 1e3:.2f} ms; the best "
          f"run took {runs[0] * 1e3:.2f} ms, the median run {runs[1] * 1e3:.2f} ms")


def dense3x3_rate(steps, secs, hz):
    """MAC/cycle of the dense 3x3 convolutions as a whole (their MACs over their time)."""
    chosen = [(st.macs, s) for st, s in zip(steps, secs)
              if st.key is not None and st.conv_kind() == "dense 3x3"]
    macs = sum(m for m, _ in chosen)
    return macs / sum(s for _, s in chosen) / hz if chosen else None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", default=DEFAULT_MODELS, help="models to profile")
    p.add_argument("--models", default=os.path.join(ROOT, "tests/.work/models"), help="make_models.py output")
    p.add_argument("--qcc", default=os.path.join(ROOT, "target/release/qcc"), help="qcc binary")
    p.add_argument("--work", default=os.path.join(ROOT, "tests/.work/roofline"),
                   help="where the profiling libraries go")
    p.add_argument("--target", action="append", metavar="T,...",
                   help=f"qcc targets to compile for, comma-separated or repeated (default: "
                        f"{','.join(DEFAULT_TARGETS)})")
    p.add_argument("--weight-bits", choices=["7", "8"],
                   help="weight bits of every library (default: 8 where the target has VNNI, "
                        "7 elsewhere, as qcc chooses)")
    p.add_argument("--runs", type=int, help="timed runs per library (default 40, 10 with --quick)")
    p.add_argument("--quick", action="store_true", help="fewer runs, shorter peak measurements")
    args = p.parse_args()
    runs = args.runs or (10 if args.quick else 40)
    targets = [t.strip() for ts in args.target or [",".join(DEFAULT_TARGETS)]
               for t in ts.split(",") if t.strip()]
    if runs < 1:
        raise SystemExit("--runs must be at least 1")
    if not os.access(args.qcc, os.X_OK):
        raise SystemExit(f"{args.qcc} is not an executable: cargo build --release -p qcc")
    os.makedirs(args.work, exist_ok=True)

    t0 = time.perf_counter()
    peak = measure_peak(args.work, args.quick)
    hz = peak["ghz"] * 1e9
    print(f"clock: {peak['ghz']:.2f} GHz (dependent adds, thread CPU time)")
    print("int8 MAC/cycle ceilings, operands in registers, one thread:")
    labels = {"avx2_maddubs": "AVX2 vpmaddubsw+vpmaddwd (256-bit)",
              "avx2_maddwd": "AVX2 vpmaddwd on 16-bit (256-bit, exact)",
              "sse_maddubs": "SSE pmaddubsw+pmaddwd (128-bit)",
              "vnni_ymm": "AVX512-VNNI vpdpbusd ymm", "vnni_zmm": "AVX512-VNNI vpdpbusd zmm"}
    for k, label in labels.items():
        if k in peak:
            print(f"  {label:<52} {peak[k]:6.1f}  ({peak[k] * peak['ghz']:.0f} GMAC/s)")
    if "vnni_zmm" not in peak:
        print("  (no AVX512-VNNI on this CPU)")

    summary = []
    for name in args.names:
        work = os.path.join(args.work, name)
        os.makedirs(work, exist_ok=True)
        for target in targets:
            so, bits = compile_profiled(args, name, target, work)
            lib = ProfiledLibrary(so)
            lib.set_input(np.load(os.path.join(args.models, f"{name}.input.npy"))[0])
            print(f"  [{name} {target}] compiled, {len(lib.steps)} steps; {runs} runs",
                  file=sys.stderr, flush=True)
            secs, totals = measure(lib, runs, warmup=max(2, runs // 10))
            print_model(name, target, bits, lib.steps, secs, totals, peak)
            if name == "resnet18":
                summary.append((target, dense3x3_rate(lib.steps, secs, hz)))

    if summary:
        print("\nResNet-18's dense 3x3 convolutions as a whole (their MACs / their summed time):")
        for target, rate in summary:
            want = ACCEPTANCE.get(target)
            verdict = "" if want is None or rate is None else \
                f"  (acceptance >= {want}: {'met' if rate >= want else 'NOT met'})"
            shown = "n/a" if rate is None else f"{rate:.1f}"
            print(f"  {target:<12} {shown} MAC/cycle{verdict}")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
