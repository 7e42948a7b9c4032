#!/usr/bin/env bash
# The checks too slow for CI: the ring under Miri and loom, and the fuzz targets.
# Bounded: each step has a timeout. Usage: scripts/long-checks.sh [fuzz seconds per target, default 60]
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== miri: ring, record codec, span stack, future adapters, JSON writer (nightly + miri)"
timeout 1800 cargo +nightly miri test --lib -- engine::ring:: engine::record:: engine::current:: api::future:: export::format::write::
echo "== loom: ring protocol (model-checked under --cfg mini_telemetry_loom, a cfg of its own: --cfg loom would also switch tokio, a dev-dependency)"
LOOM_MAX_PREEMPTIONS=${LOOM_MAX_PREEMPTIONS:-3} RUSTFLAGS="--cfg mini_telemetry_loom" \
  timeout 1800 cargo test --lib --release --target-dir target/loom -- loom
echo "== soak: the delivery-guarantee tests, release build, 3 rounds"
for round in 1 2 3; do
  timeout 1800 cargo test --release --test guarantees --test engine -q
done
FUZZ_SECS=${1:-60}
if command -v cargo-fuzz >/dev/null; then
  echo "== fuzz: record decoder and JSON string writer, ${FUZZ_SECS}s each (nightly + cargo-fuzz)"
  (cd fuzz && mkdir -p corpus/record corpus/json_string \
    && timeout $((FUZZ_SECS + 600)) cargo +nightly fuzz run record corpus/record seeds/record -- -max_total_time="$FUZZ_SECS" -rss_limit_mb=2048 \
    && timeout $((FUZZ_SECS + 600)) cargo +nightly fuzz run json_string corpus/json_string -- -max_total_time="$FUZZ_SECS")
else
  echo "== fuzz: skipped (cargo install cargo-fuzz)"
fi
echo "all long checks passed"
