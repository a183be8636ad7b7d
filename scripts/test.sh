#!/usr/bin/env bash
# The test command (CI runs it through .ci/run): sets up the Python venv, generates the ONNX
# models with their ONNX Runtime reference outputs, then runs every Rust test in release mode.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh

phase venv ensure_venv
phase models ensure_models "$QCC_MODELS"
export QCC_TEST_MODELS="$PWD/$QCC_MODELS"
phase families ensure_families "$QCC_FAMILIES"
export QCC_FAMILIES="$PWD/$QCC_FAMILIES"
phase real-models ensure_real "$QCC_REAL_MODELS"
export QCC_REAL_MODELS="$PWD/$QCC_REAL_MODELS"
phase valgrind ensure_valgrind
phase chromium ensure_chromium
# The README's Python examples (the qcc package, numpy) run in the tests with the venv's
# interpreter.
export QCC_PYTHON="$PWD/$QCC_VENV/bin/python"
# Build first (its own phase, so the time a cold build takes is visible), then test.
phase cargo-build cargo test --workspace --release --no-run
# The ONNX node tests against their checked-in pass list (a few seconds; needs the release qcc,
# which `cargo test --no-run` does not build).
phase onnx-conformance bash -c 'cargo build --release -p qcc --bin qcc && scripts/onnx_conformance.sh'
# Lints are part of the suite: a warning fails it (clippy reuses the release build's dependencies).
phase clippy cargo clippy --workspace --all-targets --release --quiet -- -D warnings
# The Python package as its users get it: `pip install ./python` (maturin, in the workspace's
# release build), before the Rust tests, which run the README's Python examples with it.
phase python-package bash -c 'PATH="$PWD/$1/bin:$PATH" "$1/bin/pip" install --quiet --no-build-isolation --no-deps --force-reinstall ./python' _ "$QCC_VENV"
# (The log lives in the ignored tests/.work: lib.sh's EXIT trap reports failures, so no trap here.)
mkdir -p tests/.work
LOG=tests/.work/cargo-test.log
phase cargo-test bash -c 'set -o pipefail; cargo test --workspace --release 2>&1 | tee "$1"' _ "$LOG"
# The package's own pytest suite; the counts join the closing line.
PYLOG=tests/.work/pytest.log
phase pytest bash -c 'set -o pipefail
  "$1/bin/python" -m pytest -q -p no:cacheprovider python/tests 2>&1 | tee "$2"' _ "$QCC_VENV" "$PYLOG"
phase_total
# One closing line for the whole suite (cargo prints one per test binary, the last often a
# doc-test run with nothing in it; pytest one `N passed … in Ts` line, which cargo's lines must
# not be counted as a second time).
awk '/^test result:/ { p += $4; f += $6 }
     !/^test result:/ && /(passed|failed).* in [0-9.]+s/ {
       if (match($0, /[0-9]+ passed/)) p += substr($0, RSTART, RLENGTH) + 0
       if (match($0, /[0-9]+ failed/)) f += substr($0, RSTART, RLENGTH) + 0 }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$LOG" "$PYLOG"
