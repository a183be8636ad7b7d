"""The family table of issue 12: each real-world model family through qcc's stages, next to ORT int8.

Usage: python bench/families.py [--families DIR] [--qcc PATH] [--work DIR] [--runs N] [--warmup N]
                                [--no-openvino] [--calibration METHOD] [NAME ...]

DIR is what tests/python/models_families.py wrote (NAME.onnx, NAME.calib.npy, NAME.heldout.npy and
ORT fp32's outputs of both). For each family, every stage runs on its own and a failing stage puts
the first line of qcc's error in its cell; the stages after it that need it show `-`:
  import     `qcc import NAME.onnx`
  float err  `qcc run NAME.ir` on the held-out set against ORT fp32: max |qcc - ORT| / max |ORT|
  qcc dB     `qcc NAME.onnx -o NAME.so --calib calib.npy --calibration METHOD` (--calibration,
             default mse: qcc's default), then `qcc run NAME.so` on the held-out set: SQNR
             against ORT fp32 of the first output (each output's is listed under the table)
  ORT dB     quantize_static (QOperator, u8 activations, s8 per-channel weights, MinMax) on the
             same calibration samples, run on the held-out set: SQNR against ORT fp32
  bit-exact  on every tier of --targets (x86-64-v2, x86-64-v3, native): the library built for it
             against `qcc run` of the `--emit int` IR for the same target, all held-out samples
  latency    median ms of process CPU time per run, one thread, the first held-out sample,
             round-robin in this process (bench/int8_vs_peers.py's runners): qcc's library
             through ctypes, ORT int8, OpenVINO int8 (QDQ model) when `openvino` imports
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import QuantFormat

import int8_vs_peers
import quant_accuracy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
def manifest_names(directory):
    """The models a directory's manifest.json lists (models_families.py's or models_real.py's)."""
    with open(os.path.join(directory, "manifest.json")) as f:
        return [m["name"] for m in json.load(f)["families"]]
HEADERS = ["family", "import", "float err", "qcc dB", "ORT int8 dB", "bit-exact", "qcc ms",
           "ORT int8 ms", "OV int8 ms"]


class StageError(Exception):
    """A stage failed; the message is what the table cell shows."""


def first_line(text):
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    line = lines[0] if lines else "(no message)"
    return line.removeprefix("error: ").replace("|", "\\|").replace("`", "")[:100]


def qcc_cmd(args, *argv):
    done = subprocess.run([args.qcc, *argv], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise StageError(first_line(done.stderr or done.stdout))


def qcc_run(args, model, x_paths, out_path, outputs):
    """`qcc run` on every input's .npy file ({name: path}); the first output, which the other
    outputs (`outputs`: the model's output names) are written beside."""
    ins = [a for name, path in x_paths.items() for a in ("-i", f"{name}={path}")]
    outs = [a for k, name in enumerate(outputs)
            for a in ("-o", f"{name}={out_path if k == 0 else f'{out_path}.{k}.npy'}")]
    qcc_cmd(args, "run", model, *ins, *outs)
    return np.load(out_path)


def model_inputs(directory, name):
    """[(input name, calibration .npy, held-out .npy)] of `name`, in the model's order: the
    manifest's first input and its `more_inputs` (tests/python/models_real.py)."""
    with open(os.path.join(directory, "manifest.json")) as f:
        entry = next(m for m in json.load(f)["families"] if m["name"] == name)
    first = {"name": entry.get("input_name"), "calib": entry["calib"], "heldout": entry["heldout"]}
    return [(m["name"], os.path.join(directory, m["calib"]), os.path.join(directory, m["heldout"]))
            for m in [first, *entry.get("more_inputs", [])]]


def stage(cells, key, fn):
    """Runs fn; its value, or the error message, goes into cells[key]. Returns (ok, value)."""
    try:
        value = fn()
    except StageError as e:
        cells[key] = str(e)
        return False, None
    except Exception as e:  # noqa: BLE001  (a peer's failure is a cell too, not the end of the run)
        cells[key] = first_line(f"{type(e).__name__}: {e}")
        return False, None
    return True, value


def against(ref, out, what):
    """Both as float64 with the reference's shape, or a StageError naming both shapes."""
    out = np.asarray(out, np.float64)
    if out.size != ref.size:
        raise StageError(f"{what}: output shape {out.shape}, ORT's {ref.shape}")
    return out.reshape(ref.shape)


def bench_family(name, args, openvino_ok):
    d, work = args.families, os.path.join(args.work, name)
    os.makedirs(work, exist_ok=True)
    onnx_path = os.path.join(d, f"{name}.onnx")
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    outputs = [o.name for o in sess.get_outputs()]
    inputs = model_inputs(d, name)
    if inputs[0][0] is None:  # models_families.py's manifests name no input: it has one
        inputs[0] = (sess.get_inputs()[0].name, *inputs[0][1:])
    calib_paths = {n: c for n, c, _ in inputs}
    held_paths = {n: h for n, _, h in inputs}
    calib_flags = [a for n, c in calib_paths.items() for a in ("--calib", f"{n}={c}")]
    calib_flags += ["--calibration", args.calibration]
    ref = np.load(os.path.join(d, f"{name}.heldout.expected.npy")).astype(np.float64)
    held = {n: np.load(h) for n, h in held_paths.items()}
    cells = {h: "-" for h in HEADERS}
    cells["family"] = name

    ir_path = os.path.join(work, f"{name}.ir")
    ok, _ = stage(cells, "import", lambda: qcc_cmd(args, "import", onnx_path, "-o", ir_path))
    if ok:
        cells["import"] = "ok"

        def float_err():
            out = against(ref, qcc_run(args, ir_path, held_paths, os.path.join(work, "float.npy"),
                                       outputs), "float")
            return np.abs(out - ref).max() / np.abs(ref).max()

        ok_f, err = stage(cells, "float err", float_err)
        if ok_f:
            cells["float err"] = f"{err:.1e}"

    so_path = os.path.join(work, f"{name}.so")

    def qcc_int8():
        qcc_cmd(args, onnx_path, "-o", so_path, *calib_flags)
        return against(ref, qcc_run(args, so_path, held_paths, os.path.join(work, "int8.npy"),
                                    outputs), "qcc int8")

    ok_q, q_out = stage(cells, "qcc dB", qcc_int8)
    if ok_q:
        cells["qcc dB"] = f"{quant_accuracy.sqnr_db(ref, q_out):.1f}"

        def bit_exact():
            # Per tier, the library against its own target's integer IR (the default weight
            # width, hence the IR, depends on the target).
            verdicts = []
            for target in args.targets:
                tag = target.replace("-", "")
                so_t = os.path.join(work, f"{name}.{tag}.so")
                int_ir = os.path.join(work, f"{name}.{tag}.int.ir")
                flags = [*calib_flags, "--target", target]
                qcc_cmd(args, onnx_path, "-o", so_t, *flags)
                qcc_cmd(args, onnx_path, "-o", int_ir, "--emit", "int", *flags)
                lib_path = os.path.join(work, f"{tag}.so.npy")
                ir_path_t = os.path.join(work, f"{tag}.int_ir.npy")
                qcc_run(args, so_t, held_paths, lib_path, outputs)
                qcc_run(args, int_ir, held_paths, ir_path_t, outputs)
                diff = 0
                for k in range(len(outputs)):  # every output, bit for bit
                    suffix = f".{k}.npy" if k else ""
                    lib_out = np.load(lib_path + suffix)
                    ir_out = np.load(ir_path_t + suffix)
                    diff += (int(np.count_nonzero(lib_out != ir_out))
                             if lib_out.shape == ir_out.shape else lib_out.size)
                verdicts.append(f"{target}: {'NO, ' + str(diff) + ' differ' if diff else 'yes'}")
            if all(v.endswith("yes") for v in verdicts):
                return f"yes ({len(verdicts)} tiers)"
            return "; ".join(verdicts)

        ok_b, verdict = stage(cells, "bit-exact", bit_exact)
        if ok_b:
            cells["bit-exact"] = verdict

    calib = {n: np.load(c) for n, c in calib_paths.items()}
    qop_path, qdq_path = os.path.join(work, "ort-qop.onnx"), os.path.join(work, "ort-qdq.onnx")

    def ort_int8():
        quant_accuracy.ort_quantize(onnx_path, qop_path, calib, QuantFormat.QOperator, False)
        return against(ref, quant_accuracy.run_ort(qop_path, held), "ORT int8")

    ok_o, o_out = stage(cells, "ORT int8 dB", ort_int8)
    if ok_o:
        cells["ORT int8 dB"] = f"{quant_accuracy.sqnr_db(ref, o_out):.1f}"

    # The table's SQNR is the first output's; a model with several gets each one's too (a
    # detector's first output can be a weak stride that says little about its boxes).
    note = None
    if len(outputs) > 1 and ok_q:
        refs = quant_accuracy.run_ort_outputs(onnx_path, held)
        peers = quant_accuracy.run_ort_outputs(qop_path, held) if ok_o else [None] * len(refs)
        cells_k = []
        for k, (name_k, r) in enumerate(zip(outputs, refs)):
            mine = np.load(os.path.join(work, "int8.npy") + (f".{k}.npy" if k else ""))
            r = r.astype(np.float64)
            q_db = quant_accuracy.sqnr_db(r, mine.astype(np.float64).reshape(r.shape))
            o_db = ("-" if peers[k] is None else
                    f"{quant_accuracy.sqnr_db(r, peers[k].astype(np.float64).reshape(r.shape)):.1f}")
            cells_k.append(f"{name_k} {q_db:.1f} / {o_db}")
        note = f"{name}, each output's SQNR (qcc / ORT int8 dB): " + ", ".join(cells_k)

    x = {n: v[0] for n, v in held.items()}
    runners = {}
    if ok_q:
        ok_l, lib = stage(cells, "qcc ms", lambda: int8_vs_peers.QccLibrary(so_path))
        if ok_l and stage(cells, "qcc ms", lambda: lib.set_input(list(x.values())))[0]:
            runners["qcc ms"] = lib
    if ok_o:
        ok_r, r = stage(cells, "ORT int8 ms", lambda: int8_vs_peers.OrtRunner(qop_path, x))
        if ok_r:
            runners["ORT int8 ms"] = r
    if openvino_ok:
        def ov():
            quant_accuracy.ort_quantize(onnx_path, qdq_path, calib, QuantFormat.QDQ, False)
            return int8_vs_peers.OpenVinoRunner(qdq_path, x)

        ok_v, r = stage(cells, "OV int8 ms", ov)
        if ok_v:
            runners["OV int8 ms"] = r
    if runners:
        times = int8_vs_peers.time_round_robin(runners, args.runs, args.warmup)
        for key, (_wall, cpu) in times.items():
            cells[key] = f"{cpu:.2f}" if cpu >= 0.1 else f"{cpu:.3f}"
    return [cells[h] for h in HEADERS], note


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return int8_vs_peers.cpu_description()
    fields = dict(ln.split(":", 1) for ln in out.splitlines() if ":" in ln)
    name = fields.get("Model name", "unknown CPU").strip()
    return f"{name} ({int8_vs_peers.cpu_description().split('; ', 1)[-1]})"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", help="families to run (default: every one the manifest lists)")
    p.add_argument("--families", default=os.path.join(ROOT, "tests/.work/families"),
                   help="models_families.py output")
    p.add_argument("--qcc", default=os.path.join(ROOT, "target/release/qcc"), help="qcc binary")
    p.add_argument("--work", default=os.path.join(ROOT, "tests/.work/bench_families"),
                   help="where IR files, libraries and quantized models go")
    p.add_argument("--runs", type=int, default=20, help="timed rounds per family")
    p.add_argument("--warmup", type=int, default=3, help="warm-up rounds per family")
    p.add_argument("--targets", default="x86-64-v2,x86-64-v3,native", type=lambda v: v.split(","),
                   help="the tiers the bit-exact column builds for (comma-separated --target values)")
    p.add_argument("--no-openvino", action="store_true", help="leave OpenVINO out even if it imports")
    p.add_argument("--calibration", default="mse",
                   help="qcc's --calibration for every qcc build (mse, qcc's default; layerwise, …)")
    args = p.parse_args()
    if args.runs < 5:
        p.error("--runs must be at least 5: a median of fewer runs is noise")
    if not os.access(args.qcc, os.X_OK):
        raise SystemExit(f"{args.qcc} is not an executable: cargo build --release -p qcc")
    ort.set_default_logger_severity(3)
    openvino_ok, openvino_note = int8_vs_peers.openvino_status()
    if args.no_openvino:
        openvino_ok, openvino_note = False, "--no-openvino"

    print(f"CPU: {cpu_model()}")
    print(f"qcc: {args.qcc}; onnxruntime {ort.__version__}; OpenVINO "
          f"{openvino_note if openvino_ok else 'not run: ' + openvino_note.split(';')[0]}")
    t0 = time.perf_counter()
    rows, notes = [], []
    args.names = args.names or manifest_names(args.families)
    for name in args.names:
        t = time.perf_counter()
        if not os.path.exists(os.path.join(args.families, f"{name}.onnx")):
            raise SystemExit(f"{args.families}/{name}.onnx does not exist: "
                             "run tests/python/models_families.py")
        row, note = bench_family(name, args, openvino_ok)
        rows.append(row)
        if note:
            notes.append(note)
        print(f"[{name}] {time.perf_counter() - t:.0f} s", flush=True)
    n_held = len(np.load(model_inputs(args.families, args.names[0])[0][2]))
    print(f"\n## families: held-out set of {n_held} crops; SQNR against ORT fp32; "
          f"latency: median ms (process CPU time) of {args.runs} "
          "round-robin runs, one thread\n")
    int8_vs_peers.markdown_table(HEADERS, rows)
    if notes:
        print()
        for note in notes:
            print(f"- {note}")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
