#!/usr/bin/env bash
# What CI checks, stopping at the first failure: run before every commit.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test
