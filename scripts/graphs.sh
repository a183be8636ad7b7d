#!/usr/bin/env bash
# Regenerates the example drawings under docs/graphs/ with `qcc show`: EfficientNet-Lite0's
# integer graph coloured by each layer's SQNR on its six test photos, and the tiny CNN's QDQ
# stage; and EfficientNet-Lite0's --report-html page (same photos) under docs/report/. Uses the
# venv and test models of scripts/test.sh (made if missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh

ensure_venv
ensure_models
cargo build --release -p qcc --bin qcc
QCC=target/release/qcc
M=$QCC_MODELS
mkdir -p docs/graphs
"$QCC" show "$M/efficientnet_lite0.onnx" -o docs/graphs/efficientnet_lite0.int.svg \
  --calib "$M/efficientnet_lite0.input.npy" --color sqnr --target x86-64-v4+avx512vnni
"$QCC" show "$M/tiny_cnn.onnx" -o docs/graphs/tiny_cnn.qdq.svg --stage qdq \
  --calib "$M/tiny_cnn.input.npy" --target x86-64-v4+avx512vnni
mkdir -p docs/report
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$QCC" "$M/efficientnet_lite0.onnx" -o "$work/efficientnet_lite0.int.ir" --emit int \
  --calib "$M/efficientnet_lite0.input.npy" --target x86-64-v4+avx512vnni \
  --report-html docs/report/efficientnet_lite0.html
echo "wrote docs/graphs/efficientnet_lite0.int.svg docs/graphs/tiny_cnn.qdq.svg docs/report/efficientnet_lite0.html"
