#!/usr/bin/env bash
# The family table of issue 12 (tests/python/models_families.py's detectors, segmenters and OCR
# classifiers through qcc's stages, next to ORT int8): the test venv, the family models in
# tests/.work/families (rebuilt when their generators change), a release build of qcc (or the
# binary QCC_BIN names), then bench/families.py (arguments are passed on to it, e.g. family names);
# then the same table for the pretrained PP-OCR models of tests/python/models_real.py.
# OpenVINO int8 is timed too when .venv-bench (scripts/bench_int8.sh makes it) has it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh

phase venv ensure_venv
phase families ensure_families "$QCC_FAMILIES"
phase real-models ensure_real "$QCC_REAL_MODELS"
if [[ -z "${QCC_BIN:-}" ]]; then
  phase build cargo build --release -p qcc
  QCC_BIN=target/release/qcc
fi
python=$QCC_VENV/bin/python
if [[ -x .venv-bench/bin/python ]] && .venv-bench/bin/python -c 'import openvino, onnxruntime, skimage' 2>/dev/null; then
  python=.venv-bench/bin/python
fi
phase bench "$python" bench/families.py --families "$QCC_FAMILIES" --qcc "$QCC_BIN" "$@"
if [[ $# -eq 0 ]]; then
  phase bench-real "$python" bench/families.py --families "$QCC_REAL_MODELS" --qcc "$QCC_BIN"
fi
phase_total
