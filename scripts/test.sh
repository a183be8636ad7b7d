#!/usr/bin/env bash
# The test command (CI runs it through .ci/run): sets up the Python venv, generates the ONNX
# models with their ONNX Runtime reference outputs, then runs every Rust test in release mode.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh

phase venv ensure_venv
phase models ensure_models "$QCC_MODELS"
export QCC_TEST_MODELS="$PWD/$QCC_MODELS"
phase cargo-test cargo test --workspace --release
phase_total
