#!/usr/bin/env bash
# Python environment that trains / builds the shipped risk models (models/*/).
# Not needed to build, test or run cdssd: only to re-create or check the models.
#
#   scripts/setup-models-env.sh           # create .cache/models-venv from models/requirements.txt
#   scripts/setup-models-env.sh --build   # ... and re-create every models/<id>/ in place
#   scripts/setup-models-env.sh --check   # ... and check that a rebuild is byte-identical
#                                         #     to the committed files (exit 1 if not)
set -euo pipefail

PYTHON="${PYTHON:-python3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.cache/models-venv"
REQ="$ROOT/models/requirements.txt"
STAMP="$VENV/.requirements.sha256"

want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]]; then
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ" >&2
  echo "$want" > "$STAMP"
fi
py="$VENV/bin/python"

# Each model directory has exactly one generator: train.py (fitted) or build.py (published equations).
generators() {
  for d in "$ROOT"/models/*/; do
    for g in train.py build.py; do
      [[ -f "$d$g" ]] && echo "$d$g"
    done
  done
}

case "${1:-}" in
  "") echo "$py" ;;
  --build)
    for g in $(generators); do
      echo "== $g" >&2
      (cd "$(dirname "$g")" && PYTHONHASHSEED=0 "$py" "$(basename "$g")" --out .)
    done ;;
  --check)
    status=0
    for g in $(generators); do
      d=$(dirname "$g")
      tmp=$(mktemp -d)
      (cd "$d" && PYTHONHASHSEED=0 "$py" "$(basename "$g")" --out "$tmp" >/dev/null)
      for f in "$tmp"/*; do
        name=$(basename "$f")
        if cmp -s "$f" "$d/$name"; then
          echo "same      $(basename "$d")/$name"
        else
          echo "DIFFERENT $(basename "$d")/$name"
          status=1
        fi
      done
      rm -rf "$tmp"
    done
    exit $status ;;
  *) echo "usage: $0 [--build|--check]" >&2; exit 64 ;;
esac
