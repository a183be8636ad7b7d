#!/usr/bin/env bash
# Int8 accuracy benchmark, qcc against ONNX Runtime's static quantization: venv and models as
# scripts/test.sh sets them up, a release build of qcc, then bench/quant_accuracy.py (arguments
# are passed on to it, e.g. model names or --eval 50).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh

phase venv ensure_venv
phase models ensure_models "$QCC_MODELS"
phase build cargo build --release -p qcc
phase bench "$QCC_VENV/bin/python" bench/quant_accuracy.py --models "$QCC_MODELS" --qcc target/release/qcc "$@"
phase_total
