#!/usr/bin/env python3
"""Summarises the per-round dump of the throughput bench's `rounds` group in stretches of rounds.

    MINI_TELEMETRY_BENCH_DUMP=1 cargo bench -p mini-telemetry-bench --bench throughput -- rounds 2> target/rounds.txt
    python3 scripts/rounds_stretches.py target/rounds.txt [rounds per stretch, default 50]

Each dump line is `round N <start ms> <reference ns> <op ns>...` (span, span + attributes +
event, log macro, counter with attributes). Prints, per stretch of consecutive rounds, when it
started and the median of each column. Then it prints how much slower each column was in the
slow stretches than in the quiet ones; a slow stretch is one whose reference median is above
1.1× the fastest stretch's.
"""
import statistics, sys

rows, starts = [], []
for line in open(sys.argv[1]):
    if line.startswith("round "):
        f = line.split()
        starts.append(float(f[2]))
        rows.append([float(x) for x in f[3:]])
if not rows:
    sys.exit("no `round` lines in the dump (was MINI_TELEMETRY_BENCH_DUMP set?)")
size = int(sys.argv[2]) if len(sys.argv) > 2 else 50
names = ["reference", "span", "span+3 attrs+event", "log macro", "counter 2 attrs"]
print("| rounds | from | " + " | ".join(names) + " |")
print("|---" * (len(names) + 2) + "|")
stretches = []
for i in range(0, len(rows), size):
    med = [statistics.median(c) for c in zip(*rows[i:i + size])]
    stretches.append(med)
    cells = [f"{med[0] / 1000:.1f} µs"] + [f"{m:.1f} ns" for m in med[1:]]
    print(f"| {i}–{i + len(rows[i:i + size]) - 1} | {starts[i] / 1000:.2f} s | " + " | ".join(cells) + " |")
fastest = min(s[0] for s in stretches)
quiet = [s for s in stretches if s[0] <= 1.1 * fastest]
slow = [s for s in stretches if s[0] > 1.1 * fastest]
print()
if quiet and slow:
    ratio = [statistics.median(c[k] for c in slow) / statistics.median(c[k] for c in quiet) for k in range(len(names))]
    print("slow stretches / quiet stretches: " + ", ".join(f"{n} {r:.2f}x" for n, r in zip(names, ratio)))
else:
    print("no slow stretch in this run" if quiet else "no quiet stretch in this run")
print(f"the run lasted {starts[-1] / 1000:.2f} s")
