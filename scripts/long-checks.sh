#!/usr/bin/env bash
# The checks too slow for CI: the ring under Miri and loom. Bounded: each step has a timeout.
# Usage: scripts/long-checks.sh
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== miri: ring, record codec, JSON writer (nightly + miri component)"
timeout 1800 cargo +nightly miri test --lib -- ring:: record:: json::
echo "== loom: ring protocol (model-checked, --cfg loom)"
LOOM_MAX_PREEMPTIONS=${LOOM_MAX_PREEMPTIONS:-3} RUSTFLAGS="--cfg loom" \
  timeout 1800 cargo test --lib --release --target-dir target/loom -- loom
echo "all long checks passed"
