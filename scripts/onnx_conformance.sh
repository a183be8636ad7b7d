#!/usr/bin/env bash
# The ONNX backend node tests (generated from the pinned onnx wheel) through `qcc import` + `qcc run`,
# checked against tests/onnx_conformance/expected_pass.txt. Needs the venv and the release build
# (scripts/test.sh runs it after both). Extra arguments go to the driver: `--update` rewrites the
# list with what passes now, `--only NAME`, `--verbose` (every refusal with its message), `--jobs N`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh

QCC_BIN=${QCC_BIN:-target/release/qcc}
if [[ ! -x "$QCC_BIN" ]]; then
  echo "error: $QCC_BIN not found; build it with \`cargo build --release -p qcc\`" >&2
  exit 1
fi
exec "$QCC_VENV/bin/python" tests/python/onnx_conformance.py \
  --qcc "$QCC_BIN" --work tests/.work/onnx_conformance \
  --expected tests/onnx_conformance/expected_pass.txt --jobs 2 "$@"
