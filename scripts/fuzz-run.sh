#!/usr/bin/env bash
# The longer fuzz run (not CI): every cargo-fuzz target for FUZZ_SECONDS (default 60) each,
# with libFuzzer, on a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
#   scripts/fuzz-run.sh                  # all targets, 60 s each
#   FUZZ_SECONDS=600 scripts/fuzz-run.sh proto_request rules
# A crash leaves its input in fuzz/artifacts/<target>/; replay it with
# `cargo +nightly fuzz run <target> <file>` and turn it into a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SECONDS:-60}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
[ -d fuzz/corpus ] || scripts/fuzz-corpus.sh
status=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  log="fuzz/artifacts/$t.log"
  mkdir -p fuzz/artifacts
  if cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=4096 >"$log" 2>&1; then
    echo "$t: ok, $(grep -Eo 'Done [0-9]+ runs' "$log" | tail -1)"
  else
    echo "$t: CRASH (see $log and fuzz/artifacts/$t/)"
    status=1
  fi
done
exit $status
