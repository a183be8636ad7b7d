"""Runs an ONNX model in ONNX Runtime (CPU) over stacked samples: the cross-check of qcc's
`--emit onnx` (compiler/tests/export_onnx.rs). The model is validated with the ONNX checker
(full shape inference) first, so an export ONNX Runtime happens to accept but the standard
does not is still an error.

usage: ort_run.py MODEL.onnx INPUT.npy OUTPUT.npy
INPUT.npy's leading axis counts samples, each one batch of the model's single input; the
outputs of the first graph output are stacked the same way in OUTPUT.npy.
"""

import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    model_path, input_path, output_path = sys.argv[1:]
    onnx.checker.check_model(onnx.load(model_path), full_check=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    samples = np.load(input_path)
    outs = [sess.run(None, {inp.name: s.astype(np.float32)})[0] for s in samples]
    np.save(output_path, np.stack(outs))


if __name__ == "__main__":
    main()
