#!/usr/bin/env bash
# Scale benchmark (issue 15, finding 3; issue 13, "Scale"): a chain of N relus through
# `qcc --emit float` (parse, verify, simplify, print) and through the whole pipeline into a
# library (calibration on 4 samples, quantize, lower, codegen, link), and N undefined names among
# N defined ones through `qcc check`. Prints N → wall s, user s, max RSS per case (/usr/bin/time).
# Usage: scripts/bench_scale.sh [N…] (default 5000 10000 20000).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -x /usr/bin/time ]] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
cargo build --release -q -p qcc
QCC=$PWD/target/release/qcc
PY=${QCC_PYTHON:-$PWD/.venv/bin/python}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/qcc-bench-scale.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
sizes=("$@")
((${#sizes[@]})) || sizes=(5000 10000 20000)

chain() { # N FILE: N relus in a row
  awk -v n="$1" 'BEGIN {
    print "model @chain {"; print "  %v0 = input : tensor<1x16xf32>"
    for (i = 1; i <= n; i++) printf "  %%v%d = relu(%%v%d) : tensor<1x16xf32>\n", i, i - 1
    printf "  return %%v%d\n}\n", n }' > "$2"
}
typos() { # N FILE: N defined values and N uses of undefined ones
  awk -v n="$1" 'BEGIN {
    print "model @typos {"; print "  %v0 = input : tensor<1x4xf32>"
    for (i = 1; i <= n; i++) printf "  %%v%d = relu(%%v%d) : tensor<1x4xf32>\n", i, i - 1
    for (i = 1; i <= n; i++) printf "  %%w%d = relu(%%u%d) : tensor<1x4xf32>\n", i, i
    printf "  return %%v%d\n}\n", n }' > "$2"
}
# measure LABEL N CMD…: one table row from /usr/bin/time's wall, user and max RSS.
measure() {
  local label=$1 n=$2
  shift 2
  /usr/bin/time -f '%e %U %M' -o "$TMP/time" "$@" >/dev/null 2>"$TMP/err" || [[ $label == check* ]]
  # (time writes "Command exited with non-zero status" first when it did: check's case)
  read -r wall user rss < <(tail -1 "$TMP/time")
  printf '| %s | %d | %.2f | %.2f | %d |\n' "$label" "$n" "$wall" "$user" $((rss / 1024))
}
"$PY" -c "import numpy as np; np.save('$TMP/x.npy', np.random.RandomState(0).randn(4, 1, 16).astype(np.float32))"
printf '| case | N | wall s | user s | max RSS MiB |\n|---|--:|--:|--:|--:|\n'
for n in "${sizes[@]}"; do
  chain "$n" "$TMP/chain$n.ir"
  typos "$n" "$TMP/typos$n.ir"
  measure "--emit float" "$n" "$QCC" "$TMP/chain$n.ir" --emit float -o "$TMP/out$n.ir"
  measure "-o model.so" "$n" "$QCC" "$TMP/chain$n.ir" -o "$TMP/m$n.so" --calib "$TMP/x.npy"
  measure "check, N undefined" "$n" "$QCC" check "$TMP/typos$n.ir"
done
echo "(machine load: $(cut -d' ' -f1-3 /proc/loadavg))"
