"""Builds the ONNX test models, runs them in ONNX Runtime and writes models, samples and references.

Usage: python tests/python/make_models.py OUT

For every model NAME, OUT holds NAME.onnx, NAME.input.npy (float32, axis 0 = samples; sample i
is exactly one model input, batch 1) and NAME.expected.npy (ORT's output for each sample, stacked
along axis 0), plus manifest.json listing them. The directory is built beside OUT and moved into
place only when every model succeeded, so a half-built OUT never exists.
"""

import json
import os
import shutil
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort

import models_efficientnet
import models_nets
import models_ops
import models_slice
from onnx_build import set_output_shape

BUILDERS = [
    models_nets.tiny_cnn,
    models_nets.conv_mlp_head,
    models_nets.resnet18,
    models_nets.mobilenetv2,
    *models_ops.ALL,
    *models_slice.ALL,
    models_efficientnet.efficientnet_lite0,
]


# Warnings (e.g. the opset-6 model's "support not guaranteed") would only bury the summary.
ort.set_default_logger_severity(3)


def run_ort(case):
    opts = ort.SessionOptions()
    # One thread: the references are then bit-for-bit reproducible run to run.
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    if not case.ort_optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(case.model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    outs = [sess.run(None, {inp.name: sample})[0] for sample in case.inputs]
    return inp.name, np.stack(outs).astype(np.float32)


def check_output(case, expected):
    if not np.all(np.isfinite(expected)):
        raise SystemExit(f"{case.name}: ORT output has NaN or infinity")
    flat = expected.reshape(len(expected), -1)
    if flat.shape[1] > 1 and np.any(flat.std(axis=1) == 0):
        raise SystemExit(f"{case.name}: ORT output is constant for some sample; the model tests nothing")


def build(out_dir):
    tmp = out_dir.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    manifest = []
    for builder in BUILDERS:
        t0 = time.perf_counter()
        case = builder()
        if case.inputs.dtype != np.float32 or not 1 <= len(case.inputs):
            raise SystemExit(f"{case.name}: samples must be float32 with a leading samples axis")
        input_name, expected = run_ort(case)
        check_output(case, expected)
        if case.check is not None:
            case.check(expected)
        set_output_shape(case.model, expected.shape[1:])
        onnx.checker.check_model(case.model, full_check=True)
        onnx.save(case.model, os.path.join(tmp, f"{case.name}.onnx"))
        np.save(os.path.join(tmp, f"{case.name}.input.npy"), case.inputs)
        np.save(os.path.join(tmp, f"{case.name}.expected.npy"), expected)
        if case.report is not None:
            text = case.report(expected)
            with open(os.path.join(tmp, f"{case.name}.labels.txt"), "w") as f:
                f.write(text)
            print(text, end="")
        manifest.append({
            "name": case.name,
            "onnx": f"{case.name}.onnx",
            "input": f"{case.name}.input.npy",
            "expected": f"{case.name}.expected.npy",
            "input_name": input_name,
            "note": case.note,
        })
        opset = next(o.version for o in case.model.opset_import if o.domain in ("", "ai.onnx"))
        print(f"  {case.name:<24} opset {opset:>2}  input {str(case.inputs.shape):<22} "
              f"expected {str(expected.shape):<18} {time.perf_counter() - t0:5.2f} s")
    with open(os.path.join(tmp, "manifest.json"), "w") as f:
        json.dump({"models": manifest}, f, indent=2)
        f.write("\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.rename(tmp, out_dir)


def main(argv):
    if len(argv) != 2:
        raise SystemExit(f"usage: {argv[0]} OUT_DIR")
    t0 = time.perf_counter()
    build(argv[1])
    print(f"  {len(BUILDERS)} models in {argv[1]} ({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main(sys.argv)
