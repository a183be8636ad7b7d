#!/usr/bin/env bash
# Kernel roofline: this machine's clock and int8 MAC ceilings (bench/roofline/peak.c, needs cc),
# then MAC/cycle of qcc's code for every conv layer of ResNet-18 and MobileNetV2: venv and models
# as scripts/test.sh sets them up, a release build of qcc, then bench/roofline.py (arguments are
# passed on to it, e.g. --quick or model names).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh

phase venv ensure_venv
phase models ensure_models "$QCC_MODELS"
phase build cargo build --release -p qcc
phase bench "$QCC_VENV/bin/python" bench/roofline.py --models "$QCC_MODELS" --qcc target/release/qcc "$@"
phase_total
