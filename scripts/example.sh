#!/usr/bin/env bash
# The bundled example end to end (needs only cargo): builds qcc, then checks, optimizes and runs
# the digits model of examples/digits (a small CNN with BatchNorm trained on scikit-learn's
# handwritten digits) on its 450 test images, showing each command, what it printed and how long
# it took. Every stage is one `step` line below, ending with the native int8 library.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

EX=examples/digits
QCC=target/release/qcc
TMP=$(mktemp -d "${TMPDIR:-/tmp}/qcc-example.XXXXXX")
STEP=0
_on_exit() {
  local rc=$?
  rm -rf "$TMP"
  if ((rc != 0)); then
    echo "scripts/example.sh: step $STEP failed (exit $rc)" >&2
  fi
}
trap _on_exit EXIT

_now_us() { echo "${EPOCHREALTIME/./}"; }
_took() { awk -v us="$1" 'BEGIN { if (us < 1e6) printf "%.0f ms", us / 1e3; else printf "%.1f s", us / 1e6 }'; }
T0=$(_now_us)

# step TITLE CMD ARGS...: prints the title and the command line, runs it (its stdout and
# stderr go to the terminal and to $TMP/last.out), then the time it took.
step() {
  local title t0
  title=$1
  shift
  STEP=$((STEP + 1))
  local shown="$*"
  shown=${shown//$QCC/qcc}
  printf '\n== %d. %s\n$ %s\n' "$STEP" "$title" "${shown//$TMP/\$TMP}"
  t0=$(_now_us)
  "$@" 2>&1 | tee "$TMP/last.out"
  printf '   [%s]\n' "$(_took $(( $(_now_us) - t0 )))"
}

echo "qcc example: $EX/digits.onnx (conv-BN-ReLU ×2, max-pool, gemm), 450 test images of 8×8 digits"
echo "(qcc is $QCC; \$TMP is $TMP, removed at exit)"

step "build qcc" cargo build --release -p qcc
step "check the imported model (qcc import $EX/digits.onnx wrote it)" \
  "$QCC" check "$EX/digits.ir"
step "run it on the test images: float, BatchNorm unfolded" \
  "$QCC" run "$EX/digits.ir" --input "$EX/test_images.npy" -o "$TMP/logits.npy" --labels "$EX/test_labels.txt"
before=$(grep '^top-1:' "$TMP/last.out")
step "optimize: fold the BatchNorms into the convolutions" \
  "$QCC" "$EX/digits.ir" -o "$TMP/digits.opt.ir" --emit float --explain
step "check the optimized model" \
  "$QCC" check "$TMP/digits.opt.ir"
step "run the optimized model on the test images" \
  "$QCC" run "$TMP/digits.opt.ir" --input "$EX/test_images.npy" -o "$TMP/logits.opt.npy" --labels "$EX/test_labels.txt"
after=$(grep '^top-1:' "$TMP/last.out")
step "compile to a native int8 library (calibrating activation ranges on the images)" \
  "$QCC" "$EX/digits.ir" -o "$TMP/digits.so" --calib "$EX/test_images.npy" --explain
step "run the library on the test images (qcc run loads model.so like any C program would)" \
  "$QCC" run "$TMP/digits.so" --input "$EX/test_images.npy" -o "$TMP/logits.int8.npy" --labels "$EX/test_labels.txt"
int8=$(grep '^top-1:' "$TMP/last.out")
step "its C header (generated beside it)" \
  sed -n '/^size_t/,/^const char/p' "$TMP/digits.h"

printf '\n== summary\n'
printf '  imported  (BatchNorm unfolded): %s\n' "$before"
printf '  optimized (BatchNorm folded):   %s\n' "$after"
printf '  int8 library (digits.so):       %s\n' "$int8"
if [[ "$before" == "$after" ]]; then
  echo "  the accuracy is unchanged by folding"
else
  echo "  warning: folding changed the accuracy (float rounding reordered near a tie)"
fi
printf '  total %s\n' "$(_took $(( $(_now_us) - T0 )))"
