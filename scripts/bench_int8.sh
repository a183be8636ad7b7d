#!/usr/bin/env bash
# Int8 latency benchmark, qcc's model.so against ONNX Runtime fp32/int8 and OpenVINO int8, one
# thread: the test venv and models as scripts/test.sh sets them up, a second venv (.venv-bench)
# with the peers (bench/requirements.txt), a release build of qcc, then bench/int8_vs_peers.py
# (arguments are passed on to it, e.g. --quick or model names).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh

phase venv ensure_venv
phase models ensure_models "$QCC_MODELS"
# The models stay those the test venv made (their stamp names it); only the timing runs here.
QCC_VENV=.venv-bench
QCC_REQUIREMENTS=bench/requirements.txt
phase bench-venv ensure_venv
phase build cargo build --release -p qcc
phase bench "$QCC_VENV/bin/python" bench/int8_vs_peers.py --models "$QCC_MODELS" --qcc target/release/qcc "$@"
phase_total
