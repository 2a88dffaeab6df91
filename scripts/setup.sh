#!/usr/bin/env bash
# Installs what cdssd's build, run and tests need beyond the Rust toolchain,
# from the package registries only, into the project-local .cache/ (git-ignored).
# Idempotent: a second run only checks. Sections are added by the component
# that needs them (buf for the proto lint, onnxruntime, the demo LLM server...).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache

# --- buf (proto lint), from the npm registry
BUF_VERSION=1.75.0
if [ ! -x .cache/buf/node_modules/.bin/buf ] || ! .cache/buf/node_modules/.bin/buf --version 2>/dev/null | grep -qx "$BUF_VERSION"; then
  echo "setup: installing buf $BUF_VERSION (npm)"
  npm install --silent --no-audit --no-fund --prefix .cache/buf "@bufbuild/buf@$BUF_VERSION"
fi

# --- ONNX Runtime shared library for the risk models, from PyPI (onnxruntime wheel)
# Installed into .cache/onnxruntime/<version>/, the location cdssd looks at by default.
scripts/setup-onnxruntime.sh >/dev/null
