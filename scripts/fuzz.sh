#!/usr/bin/env bash
# Long fuzz runs of the targets `cargo test` runs briefly (issue 15): the IR text parser and the
# safetensors reader (compiler/tests/ir/fuzz.rs), the ONNX importer (compiler/tests/import_fuzz.rs),
# the .npy reader and the compiler's rule loader/checker (compiler/tests/fuzz.rs) and the rule
# language (dsl/tests/robustness.rs). Usage: scripts/fuzz.sh [CASES] (default 20000 per target,
# or QCC_FUZZ_CASES). A failure prints proptest's minimal case.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh

export QCC_FUZZ_CASES=${1:-${QCC_FUZZ_CASES:-20000}}
echo "fuzzing with $QCC_FUZZ_CASES cases per target"
phase fuzz-ir cargo test --release -p qcc --test ir fuzz
phase fuzz-onnx cargo test --release -p qcc --test import_fuzz
phase fuzz-npy-rules cargo test --release -p qcc --test fuzz
phase fuzz-dsl cargo test --release -p qcc-dsl --test robustness
phase_total
