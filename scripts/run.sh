#!/usr/bin/env bash
# Quick start: set up, build and run the daemon on the embedded default
# configuration (gRPC on 127.0.0.1:50051, metrics on 127.0.0.1:9464).
# Stop with Ctrl-C (graceful drain).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo run --release --locked -- serve "$@"
