#!/usr/bin/env bash
# Quick start with the whole pipeline on one machine: the DEMO LLM server on
# 127.0.0.1:8081 next to cdssd (gRPC 127.0.0.1:50051, metrics 127.0.0.1:9464).
#
#   The LLM is a DEMO model (SmolLM2-135M) - NOT CLINICALLY MEANINGFUL. Its drafts
#   show the mechanics (schema, streaming, provenance, flags), not medicine.
#
# Settings for the small demo model come from deploy/llm/demo.toml (longer LLM
# timeouts, a shorter prompt). Ctrl-C stops both. Extra arguments go to `cdssd serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
PORT="${CDSSD_DEMO_LLM_PORT:-8081}"
READY=.cache/llm/ready.$$
rm -f "$READY"
.cache/llm/venv/bin/python deploy/llm/demo_server.py --port "$PORT" --quiet --ready-file "$READY" &
LLM_PID=$!
trap 'kill "$LLM_PID" 2>/dev/null || true; rm -f "$READY"' EXIT
for _ in $(seq 600); do
  [ -s "$READY" ] && break
  kill -0 "$LLM_PID" 2>/dev/null || { echo "quickstart: the demo LLM server failed to start" >&2; exit 1; }
  sleep 0.1
done
[ -s "$READY" ] || { echo "quickstart: the demo LLM server did not become ready in 60 s" >&2; exit 1; }
echo "quickstart: DEMO LLM (not clinically meaningful) at $(cat "$READY")/v1"
export CDSSD__LLM__BASE_URL="http://127.0.0.1:$PORT/v1"
cargo run --release --locked -- serve --config deploy/llm/demo.toml "$@"
