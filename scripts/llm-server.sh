#!/usr/bin/env bash
# Runs the DEMO LLM server in the foreground on 127.0.0.1:${1:-8081} (cdssd's default llm.base_url).
#
#   DEMO ONLY - NOT CLINICALLY MEANINGFUL: SmolLM2-135M-Instruct served by llama.cpp (xllamacpp).
#   Its JSON is well formed (grammar-constrained) but its medical content is noise.
#
# Installs itself on first use (scripts/setup-llm.sh). Extra arguments go to deploy/llm/demo_server.py.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-llm.sh >/dev/null
PORT="${1:-8081}"
shift || true
exec .cache/llm/venv/bin/python deploy/llm/demo_server.py --port "$PORT" --quiet "$@"
