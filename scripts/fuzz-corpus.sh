#!/usr/bin/env bash
# Write the cargo-fuzz seed corpus (fuzz/corpus/<target>/seed-NNN) from the repository's own
# files (examples/, rules/, models/, deploy/, prompts/, kb/): the seeds the CI smoke run
# mutates (cdssd::fuzzing::seeds). Generated, never committed (fuzz/.gitignore).
set -euo pipefail
cd "$(dirname "$0")/.."
out="$PWD/fuzz/corpus"
mkdir -p "$out"
CDSSD_FUZZ_CORPUS="$out" cargo test --locked --quiet --test it -- fuzz_smoke::seed_corpus
for d in "$out"/*/; do
  echo "$(basename "$d"): $(find "$d" -type f | wc -l) inputs"
done
