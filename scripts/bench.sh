#!/usr/bin/env bash
# Benchmark qcc's interpreter against ONNX Runtime: venv and models as scripts/test.sh sets them
# up, a release build of qcc, then bench/interp_vs_ort.py (arguments are passed on to it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh

phase venv ensure_venv
phase models ensure_models "$QCC_MODELS"
phase build cargo build --release -p qcc
phase bench "$QCC_VENV/bin/python" bench/interp_vs_ort.py --models "$QCC_MODELS" --qcc target/release/qcc "$@"
phase_total
