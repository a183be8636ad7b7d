"""Runs the ONNX backend node tests through `qcc import` + `qcc run` and checks them against a list.

Usage: python tests/python/onnx_conformance.py --qcc BIN --work DIR --expected FILE
       [--jobs N] [--update] [--only SUBSTRING] [--verbose]

The tests are generated from the installed `onnx` wheel (`collect_testcases`: the wheel does not
ship the node test data), so the set follows the pinned onnx version. Each test's model is
imported, run on each of its data sets, and its outputs compared with the expected ones
(rtol 1e-4, atol 1e-5 for floats, exact for integers and bools, same shape and dtype). When
they differ, ONNX Runtime's outputs are a second reference: a few generators round theirs.

Outcomes: `pass`; `refused` (qcc said no with an error message: classed as opset, dtype, op or
other from that message); `wrong` (qcc produced outputs that do not match, or of another shape or
dtype: a silent wrong answer); `crash` (a signal, a Rust panic, exit code 101, or a timeout).

The run fails (exit 1) when a test listed in FILE does not pass, when a test that is not listed
passes (so the list stays true), when a refused test is not listed in `refused.txt` beside FILE
under the reason class it is refused for (so every test that does not pass is listed with its
reason), or on any `wrong` or `crash`. `--update` rewrites both lists instead of failing on them
(wrong and crash still fail).
"""

import argparse
import collections
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import time
import warnings

import numpy as np
import onnx
from onnx.backend.test.case import node as node_cases

RTOL = 1e-4
ATOL = 1e-5
TIMEOUT_S = 60

# Refusal classes, tried in order (an unsupported-op message names the opset too) on the first line of qcc's error message.
REASONS = [
    ("op", re.compile(r"unsupported ONNX op", re.I)),
    ("opset", re.compile(r"opset|operator set", re.I)),
    (
        "dtype",
        re.compile(
            r"element type|int64|\bi64\b|\bbool|float16|\bf16\b|bfloat|float64|\bf64\b|"
            r"string|uint16|uint32|uint64|int16|complex|float8|int4|holds elements of type|"
            r"holds \w+ values",
            re.I,
        ),
    ),
]


def classify(message):
    first = message.strip().splitlines()[0] if message.strip() else ""
    for name, pattern in REASONS:
        if pattern.search(first):
            return name
    return "other"


def qcc_call(args):
    """Runs qcc; returns (outcome, message) where outcome is 'ok', 'refused' or 'crash'."""
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return "crash", f"timed out after {TIMEOUT_S} s"
    err = p.stderr.strip()
    if p.returncode < 0:
        return "crash", f"killed by signal {-p.returncode}: {err[-500:]}"
    if p.returncode == 101 or "panicked at" in err:
        return "crash", f"panic (exit {p.returncode}): {err[-500:]}"
    if p.returncode != 0:
        return "refused", err.removeprefix("error: ")
    return "ok", ""


def ir_ports(ir_path):
    """The input and output names of an .ir file, in signature order."""
    inputs, outputs = [], []
    with open(ir_path) as f:
        for line in f:
            m = re.match(r"\s*%(\S+) = input\b", line)
            if m:
                inputs.append(m.group(1))
            m = re.match(r"\s*return\s+(.*)$", line)
            if m:
                outputs = [o.strip().lstrip("%@") for o in m.group(1).split(",") if o.strip()]
    return inputs, outputs


def compare(expected, got):
    """None when `got` matches `expected`, else why not."""
    if got.shape != expected.shape:
        return f"shape {got.shape}, expected {expected.shape}"
    if got.dtype != expected.dtype:
        return f"dtype {got.dtype}, expected {expected.dtype}"
    if expected.dtype.kind in "fc":
        if not np.allclose(got, expected, rtol=RTOL, atol=ATOL, equal_nan=True):
            err = np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64)))
            return f"max abs error {err:g}"
        return None
    if not np.array_equal(got, expected):
        return f"{np.count_nonzero(got != expected)} of {expected.size} elements differ"
    return None


def matches_ort(model, inputs, got):
    """Whether ONNX Runtime fp32 gives `got` (within the tolerances): a few generators write
    their expected values rounded to 4 digits (averagepool_2d_ceil_last_window_starts_on_pad),
    where ORT, the oracle the rest of qcc's tests use, is exact."""
    try:
        import onnxruntime as ort

        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        feed = {i.name: a for i, a in zip(sess.get_inputs(), inputs)}
        ref = sess.run(None, feed)
    except Exception:  # ORT lacks the op or opset: no second opinion
        return False
    return len(ref) == len(got) and all(compare(np.asarray(r), g) is None for r, g in zip(ref, got))


def run_case(case, qcc, work):
    """One test: returns (name, outcome, reason class or '', detail)."""
    d = os.path.join(work, case.name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    model_path = os.path.join(d, "model.onnx")
    ir_path = os.path.join(d, "model.ir")
    onnx.save(case.model, model_path)
    outcome, msg = qcc_call([qcc, "import", model_path, "-o", ir_path])
    if outcome != "ok":
        return case.name, outcome, classify(msg) if outcome == "refused" else "", msg
    in_names, out_names = ir_ports(ir_path)
    for k, (inputs, expected) in enumerate(case.data_sets):
        # A numpy scalar (a loss reduced to one value) is a tensor of rank 0.
        inputs, expected = ([np.asarray(a) if isinstance(a, np.generic) else a for a in v] for v in (inputs, expected))
        if len(inputs) != len(in_names) or len(expected) != len(out_names):
            return (
                case.name,
                "refused",
                "other",
                f"the IR has {len(in_names)} inputs and {len(out_names)} outputs, the test "
                f"{len(inputs)} and {len(expected)} (optional or non-tensor values)",
            )
        if not all(isinstance(a, np.ndarray) for a in list(inputs) + list(expected)):
            return case.name, "refused", "other", "the test feeds or expects non-tensor values"
        args = [qcc, "run", ir_path]
        for i, (name, a) in enumerate(zip(in_names, inputs)):
            p = os.path.join(d, f"in{k}_{i}.npy")
            np.save(p, a)
            args += ["-i", f"{name}={p}"]
        out_paths = [os.path.join(d, f"out{k}_{i}.npy") for i in range(len(out_names))]
        for name, p in zip(out_names, out_paths):
            args += ["-o", f"{name}={p}"]
        outcome, msg = qcc_call(args)
        if outcome != "ok":
            return case.name, outcome, classify(msg) if outcome == "refused" else "", msg
        got = [np.load(p) for p in out_paths]
        for name, g, e in zip(out_names, got, expected):
            why = compare(np.asarray(e), g)
            if why and not matches_ort(case.model, inputs, got):
                return case.name, "wrong", "", f"data set {k}, output {name}: {why}"
    shutil.rmtree(d, ignore_errors=True)
    return case.name, "pass", "", ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qcc", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--expected", required=True)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--update", action="store_true")
    ap.add_argument("--only", default=None, help="run only tests whose name contains this")
    ap.add_argument("--verbose", action="store_true", help="print every non-pass with its message")
    args = ap.parse_args()

    t0 = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = node_cases.collect_testcases(None)
    cases = sorted(cases, key=lambda c: c.name)
    if args.only:
        cases = [c for c in cases if args.only in c.name]
    os.makedirs(args.work, exist_ok=True)
    t1 = time.time()

    qcc = os.path.abspath(args.qcc)
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda c: run_case(c, qcc, args.work), cases))
    t2 = time.time()

    by = collections.Counter(r[1] for r in results)
    reasons = collections.Counter(r[2] for r in results if r[1] == "refused")
    passed = {r[0] for r in results if r[1] == "pass"}
    print(
        f"onnx {onnx.__version__} node tests: {len(results)} in {t2 - t1:.0f} s "
        f"(+{t1 - t0:.0f} s generating)"
    )
    print(
        f"  pass {by['pass']}, refused {by['refused']} "
        f"(opset {reasons['opset']}, dtype {reasons['dtype']}, op {reasons['op']}, "
        f"other {reasons['other']}), wrong {by['wrong']}, crash {by['crash']}"
    )

    refused_path = os.path.join(os.path.dirname(args.expected), "refused.txt")
    refused = [
        (name, reason, detail.splitlines()[0] if detail else "")
        for name, outcome, reason, detail in results
        if outcome == "refused"
    ]
    failures = []
    for name, outcome, _, detail in results:
        if outcome in ("wrong", "crash"):
            failures.append(f"{outcome}: {name}: {detail}")
    if args.verbose:
        for name, outcome, reason, detail in results:
            if outcome == "refused":
                print(f"refused ({reason}): {name}: {detail.splitlines()[0] if detail else ''}")

    if args.update:
        if args.only:
            sys.exit("--update needs the whole suite (no --only)")
        with open(args.expected, "w") as f:
            f.write(
                "# ONNX node tests qcc passes (tests/python/onnx_conformance.py; regenerate with\n"
                "# scripts/onnx_conformance.sh --update)\n"
            )
            for name in sorted(passed):
                f.write(name + "\n")
        print(f"wrote {len(passed)} names to {args.expected}")
        with open(refused_path, "w") as f:
            f.write(
                "# ONNX node tests qcc refuses, each with its reason class and qcc's message\n"
                "# (tests/python/onnx_conformance.py; regenerate with scripts/onnx_conformance.sh --update)\n"
            )
            for name, reason, why in sorted(refused):
                f.write(f"{name}\t{reason}\t{why}\n")
        print(f"wrote {len(refused)} refusals to {refused_path}")
    else:
        # The refusal list stays true too: each refused test is listed under the reason class it
        # is refused for (the message's wording may change; the class may not, silently).
        listed_refused = {}
        with open(refused_path) as f:
            for line in f:
                if line.strip() and not line.startswith("#"):
                    name, reason, _ = line.rstrip("\n").split("\t", 2)
                    listed_refused[name] = reason
        if not args.only:
            for name, reason, why in sorted(refused):
                if listed_refused.get(name) != reason:
                    failures.append(
                        f"refused ({reason}) but listed as {listed_refused.get(name)!r} in "
                        f"{refused_path}: {name}: {why} (--update)"
                    )
            gone = set(listed_refused) - {r[0] for r in refused}
            for name in sorted(gone):
                failures.append(f"listed in {refused_path} but no longer refused: {name} (--update)")
        listed = set()
        with open(args.expected) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    listed.add(line)
        ran = {r[0] for r in results}
        detail = {r[0]: r for r in results}
        for name in sorted((listed & ran) - passed):
            _, outcome, reason, why = detail[name]
            first = why.splitlines()[0] if why else ""
            failures.append(f"no longer passes ({outcome} {reason}): {name}: {first}")
        for name in sorted(passed - listed):
            failures.append(f"passes but is not in {args.expected}: {name} (add it, or --update)")

    for f in failures:
        print(f)
    if failures:
        print(f"onnx conformance: {len(failures)} failures")
        sys.exit(1)


if __name__ == "__main__":
    main()
