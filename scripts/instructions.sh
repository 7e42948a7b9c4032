#!/usr/bin/env bash
# Instructions per call on the calling thread, counted by callgrind: (Ir(2N) - Ir(N)) / N, so
# set-up (ring allocation, registration) cancels out. Usage: scripts/instructions.sh [op...]
set -euo pipefail
cd "$(dirname "$0")/.."
# The binary cargo names for this build (with other profiles or flags in the environment, the
# newest file in target/ may be another build's).
bin=$(cargo bench -p mini-telemetry-bench --bench instructions --no-run 2>&1 |
  sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -1)
[ -x "$bin" ] || { echo "instructions.sh: no benchmark binary" >&2; exit 1; }
n=10000
ops=${*:-span_disabled span span_root span_unsampled span_unsampled_child span_attrs span_attrs_macro span_attrs_slice span_builder_attrs log log_method counter_attrs counter_bound hist_bound hist_attr request tracing_span tracing_event writer_span writer_span_attrs writer_log}
tmp=$(mktemp -d)
count() {
  case $1 in
    writer_*) # the writer thread (callgrind's thread 2), all of it
      valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$tmp/cg" \
        "$bin" "$1" "$2" >/dev/null 2>&1
      grep -E '^summary:' "$tmp/cg-02" | awk '{print $2}' ;;
    *)
      valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$tmp/cg" \
        --toggle-collect='instructions::probe_*' "$bin" "$1" "$2" >/dev/null 2>&1
      grep -E '^summary:' "$tmp/cg-01" | awk '{print $2}' ;;
  esac
}
: > target/instructions.txt
for op in $ops; do
  a=$(count "$op" $n); b=$(count "$op" $((2 * n)))
  echo "$op: $(( (b - a) / n )) instructions/call" | tee -a target/instructions.txt
  rm -f "$tmp"/cg*
done
rm -rf "$tmp"
