#!/usr/bin/env bash
# Kernel roofline: this machine's clock and int8 MAC ceilings (bench/roofline/peak.c, needs cc),
# then, from `qcc --profile` builds of the whole ResNet-18 and MobileNetV2 for each target, the
# time and MAC/cycle of every conv layer and op kind: venv and models as scripts/test.sh sets them
# up, a release build of qcc, then bench/roofline.py (arguments are passed on to it, e.g.
# --quick, --target x86-64-v3 or model names).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh

phase venv ensure_venv
phase models ensure_models "$QCC_MODELS"
phase build cargo build --release -p qcc
phase bench "$QCC_VENV/bin/python" bench/roofline.py --models "$QCC_MODELS" --qcc target/release/qcc "$@"
phase_total
