#!/usr/bin/env python3
"""Compares target/instructions.txt (written by scripts/instructions.sh) with the instruction
table of BENCHMARKS.md, and fails when an operation got more expensive than that table allows.

A callgrind count does not move with the host's load, so a rise is more work done, not noise.
The two counts of one build still differ by a few instructions (set-up that does not cancel
out exactly: a 20-instruction row reads 20 in one run and 21 in the next, so a row may also
move by `--slack` instructions whatever its margin), and the writer thread's counts depend on how many records each of its passes
finds, and on which `memcpy` the C library picked for the CPU: those rows get a wider margin.

Usage: scripts/instructions_check.py [--caller-margin PCT] [--writer-margin PCT]
Operations not counted in this run (`scripts/instructions.sh span log`) are listed and skipped.
Exit status: 0 when every counted row is within its margin, 1 when one is above it, 2 when an
operation is missing from the table.
"""

import argparse
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent


def table(text: str) -> dict[str, int]:
    """The rows between BENCHMARKS.md's instructions markers."""
    m = re.search(r"<!-- instructions:begin -->(.*?)<!-- instructions:end -->", text, re.S)
    if not m:
        sys.exit("BENCHMARKS.md has no instructions table")
    rows = {}
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[1].isdigit():
            rows[cells[0]] = int(cells[1])
    return rows


def measured(text: str) -> dict[str, int]:
    """`op: N instructions/call` lines."""
    return {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^(\w+): (\d+) instructions/call$", text, re.M)
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--caller-margin", type=float, default=3.0, help="percent, calling thread")
    ap.add_argument("--writer-margin", type=float, default=8.0, help="percent, writer_* rows")
    ap.add_argument("--slack", type=int, default=2, help="instructions any row may move")
    args = ap.parse_args()
    base = table((root / "BENCHMARKS.md").read_text())
    now = measured((root / "target" / "instructions.txt").read_text())
    status = 0
    print(f"{'operation':<22} {'table':>7} {'now':>7} {'change':>8}  margin")
    for op in sorted(set(base) | set(now), key=lambda o: (o.startswith("writer_"), o)):
        if op not in now:
            print(f"{op:<22} {base[op]:>7} {'-':>7}  not counted in this run")
            continue
        if op not in base:
            print(f"{op:<22} {'-':>7} {now[op]:>7}  missing from BENCHMARKS.md: add it")
            status = max(status, 2)
            continue
        margin = args.writer_margin if op.startswith("writer_") else args.caller_margin
        change = 100.0 * (now[op] - base[op]) / base[op]
        beyond_slack = abs(now[op] - base[op]) > args.slack
        verdict = ""
        if change > margin and beyond_slack:
            verdict = "  MORE WORK: above the margin"
            status = max(status, 1)
        elif change < -margin and beyond_slack:
            verdict = "  less work: update the table (scripts/bench_report.py)"
        print(f"{op:<22} {base[op]:>7} {now[op]:>7} {change:>+7.1f}%  {margin:g}%{verdict}")
    return status


if __name__ == "__main__":
    sys.exit(main())
