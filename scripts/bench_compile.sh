#!/usr/bin/env bash
# Compile-time benchmark (issue 5): for each model, qcc calibrates once (--save-ranges), then the
# timed compile reuses those ranges, so calibration is excluded. Prints the wall time of the whole
# compile, each stage's time (qcc --explain), the library's size against its int8 weight bytes,
# and the scratch arena against the activations it holds. Then, for ResNet-18 and MobileNetV2
# among them, the calibrated compile end to end (32 photo crops) beside ONNX Runtime's
# quant_pre_process + quantize_static on the same samples, in the same run, and the ratio
# (bench/calib_vs_ort.py; ORT from $QCC_BENCH_PYTHON, or .venv-bench if scripts/bench_int8.sh made
# it, else .venv).
# Needs the test models (./scripts/test.sh builds them into tests/.work/models).
# Usage: scripts/bench_compile.sh [MODEL…]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
M=${QCC_TEST_MODELS:-tests/.work/models}
[[ -f $M/manifest.json ]] || { echo "no models in $M: run ./scripts/test.sh first" >&2; exit 1; }
cargo build --release -q -p qcc
QCC=target/release/qcc
TMP=$(mktemp -d "${TMPDIR:-/tmp}/qcc-bench-compile.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
models=("$@")
((${#models[@]})) || models=(resnet18 mobilenetv2 efficientnet_lite0)
printf '| model | compile s | simplify | quantize | lower | codegen | link | .so | weights | arena | activations |\n'
printf '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n'
for m in "${models[@]}"; do
  "$QCC" "$M/$m.onnx" -o "$TMP/$m.so" --calib "$M/$m.input.npy" --save-ranges "$TMP/$m.json" 2>/dev/null
  t0=${EPOCHREALTIME/./}
  "$QCC" "$M/$m.onnx" -o "$TMP/$m.so" --ranges "$TMP/$m.json" --explain 2>"$TMP/$m.log"
  t1=${EPOCHREALTIME/./}
  ms() { grep -m1 "$1" "$TMP/$m.log" | grep -oE '[0-9]+ ms' | head -1; }
  wrote=$(grep -m1 "^wrote .*\.so" "$TMP/$m.log")
  size=$(sed -E 's/.*\(([^,]+), ([^ ]+ [KM]iB) of weights.*/\1/' <<<"$wrote")
  weights=$(sed -E 's/.*\(([^,]+), ([^ ]+ [KM]iB) of weights.*/\2/' <<<"$wrote")
  arena=$(sed -E 's/.*scratch arena ([^ ]+ [KM]iB).*/\1/' <<<"$wrote")
  acts=$(sed -E 's/.*without reuse: ([^ ]+ [KM]iB).*/\1/' <<<"$wrote")
  printf '| %s | %.2f | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$m" \
    "$(awk -v us=$((t1 - t0)) 'BEGIN { print us / 1e6 }')" \
    "$(ms 'simplify took')" "$(ms 'quantize took')" "$(ms 'lowering took')" \
    "$(ms 'code generation')" "$(ms 'link (cc)')" "$size" "$weights" "$arena" "$acts"
done
echo "(machine load: $(cut -d' ' -f1-3 /proc/loadavg))"
calibrated=()
for m in "${models[@]}"; do
  [[ $m == resnet18 || $m == mobilenetv2 ]] && calibrated+=("$m")
done
if ((${#calibrated[@]})); then
  py=.venv/bin/python
  [[ -x .venv-bench/bin/python ]] && py=.venv-bench/bin/python
  py=${QCC_BENCH_PYTHON:-$py}
  echo
  "$py" bench/calib_vs_ort.py --qcc "$QCC" --models "$M" "${calibrated[@]}"
fi
