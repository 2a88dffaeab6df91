#!/usr/bin/env bash
# The whole test suite: set-up, formatting, lints (Rust and proto), then every
# unit and integration test. This is the command README.md and .ci/run give.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== buf lint"
.cache/buf/node_modules/.bin/buf lint
# The published contract: cdss.v1 as tagged contract-v1 (a buf image committed next to the
# protos, so a clone needs no tag). Every later change must be backward compatible on the
# wire and in JSON against contract-v1, and in generated code (buf's FILE rules) against
# contract-v1.1 (contract-v1 plus the packaging options go_package, java_*, csharp_namespace).
echo "== buf breaking (wire + JSON against proto/contract-v1.image.json)"
.cache/buf/node_modules/.bin/buf breaking --against proto/contract-v1.image.json \
  --config '{"version":"v2","modules":[{"path":"proto"}],"breaking":{"use":["WIRE_JSON"]}}'
echo "== buf breaking (FILE rules against proto/contract-v1.1.image.json)"
.cache/buf/node_modules/.bin/buf breaking --against proto/contract-v1.1.image.json
echo "== deploy/validate.sh"
bash deploy/validate.sh
echo "== cargo test"
cargo test --locked
echo "== llm eval: the opt-in demo model on two examples (prints SKIPPED unless it is installed)"
scripts/llm-eval-demo.sh
echo "== cdssd rules check / rules measures --check / rules test (the shipped rule packs)"
cargo run --locked --quiet -- rules check rules
cargo run --locked --quiet -- rules measures rules --check rules/MEASURES.md
cargo run --locked --quiet -- rules test rules
