#!/usr/bin/env bash
# Runs the DEMO LLM server on 127.0.0.1:PORT (default 8081, cdssd's default llm.base_url).
#
#   DEMO ONLY - NOT CLINICALLY MEANINGFUL.
#   scripts/llm-server.sh [PORT] [ARGS...]
#       SmolLM2-135M, in the foreground (the default: quick start, images, CI).
#   scripts/llm-server.sh --demo-qwen [PORT] [--exec CMD ARGS...]
#       OPT-IN Qwen2.5-Coder-1.5B-Instruct (unofficial repackaging: deploy/llm/NOTICE). The server
#       runs as `nobody` (setpriv, when started as root) and, with --exec, inside a new network
#       namespace with nothing but its own loopback (`unshare -n`, where the kernel allows it):
#       the model server cannot reach any network, and CMD (e.g. `target/release/cdssd llm eval ...
#       --config deploy/llm/demo-qwen.toml`) runs in the same namespace, then everything stops.
#
# Installs itself on first use (scripts/setup-llm.sh). Extra ARGS go to deploy/llm/demo_server.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.cache/llm/venv/bin/python
if [[ "${1:-}" != "--demo-qwen" ]]; then
  scripts/setup-llm.sh >/dev/null
  PORT="${1:-8081}"
  shift || true
  exec "$PY" deploy/llm/demo_server.py --port "$PORT" --quiet "$@"
fi
shift
scripts/setup-llm.sh --demo-qwen >/dev/null
PORT=8081
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then PORT="$1"; shift; fi
ARGS=(deploy/llm/demo_server.py --port "$PORT" --quiet
      --model .cache/llm/model/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf --alias qwen2.5-coder-1.5b-instruct-demo
      --threads "${CDSSD_DEMO_LLM_THREADS:-2}" --parallel 1 --ctx 8192)
EXEC=()
while [[ $# -gt 0 ]]; do
  if [[ "$1" == "--exec" ]]; then shift; EXEC=("$@"); break; fi
  ARGS+=("$1"); shift
done
DROP=()
if [[ "$(id -u)" == 0 ]] && command -v setpriv >/dev/null; then
  DROP=(setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs)
fi
if [[ ${#EXEC[@]} -eq 0 ]]; then
  echo "llm-server: Qwen DEMO server as ${DROP:+nobody}${DROP:-$(id -un)} on 127.0.0.1:$PORT (network isolation needs --exec)" >&2
  exec "${DROP[@]}" "$PY" "${ARGS[@]}"
fi
if [[ "${CDSSD_NETLESS:-}" != 1 ]] && command -v unshare >/dev/null && unshare -n true 2>/dev/null; then
  # Re-run this script inside a fresh network namespace (only loopback, brought up here).
  exec unshare -n env CDSSD_NETLESS=1 bash -c 'ip link set lo up && exec "$0" "$@"' "$0" --demo-qwen "$PORT" \
    "${ARGS[@]:14}" --exec "${EXEC[@]}"
fi
[[ "${CDSSD_NETLESS:-}" == 1 ]] && echo "llm-server: in a network namespace with loopback only" >&2
READY="$(mktemp -u)"
"${DROP[@]}" "$PY" "${ARGS[@]}" --ready-file "$READY" >/dev/null &
LLM=$!
trap 'kill "$LLM" 2>/dev/null; rm -f "$READY"' EXIT
for _ in $(seq 1 900); do [[ -s "$READY" ]] && break; kill -0 "$LLM" 2>/dev/null || exit 1; sleep 0.2; done
"${EXEC[@]}"
