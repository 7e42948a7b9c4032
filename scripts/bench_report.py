#!/usr/bin/env python3
"""Regenerates the measured table in BENCHMARKS.md from criterion's output.

Usage: cargo bench --bench hot_path && python3 scripts/bench_report.py
Reads target/criterion/<group>/<bench>/new/estimates.json and replaces the text between
<!-- hot_path:begin --> and <!-- hot_path:end --> in BENCHMARKS.md.
"""
import json, os, pathlib, platform, subprocess, datetime

root = pathlib.Path(__file__).resolve().parent.parent
crit = root / "target" / "criterion"

def fmt(ns):
    return f"{ns * 1000:.0f} ps" if ns < 1 else f"{ns:.2f} ns" if ns < 100 else f"{ns:.0f} ns"

rows = []
for est in sorted(crit.glob("*/*/new/estimates.json")):
    group, bench = est.parts[-4], est.parts[-3]
    e = json.loads(est.read_text())
    med = e["median"]["point_estimate"]
    lo = e["median"]["confidence_interval"]["lower_bound"]
    hi = e["median"]["confidence_interval"]["upper_bound"]
    rows.append((group, bench, med, lo, hi))

order = ["disabled", "baseline", "span", "log", "counter", "histogram"]
rows.sort(key=lambda r: (order.index(r[0]) if r[0] in order else 99, r[1]))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
lines = [
    f"Measured {datetime.date.today()} on {cpu}, {os.cpu_count()} vCPU, {platform.system()} {platform.release()}, {rustc}.",
    "",
    "| group | benchmark | median | 95% CI of the median |",
    "|---|---|---|---|",
]
for g, b, m, lo, hi in rows:
    lines.append(f"| {g} | {b} | **{fmt(m)}** | {fmt(lo)} – {fmt(hi)} |")
table = "\n".join(lines)

md = root / "BENCHMARKS.md"
text = md.read_text()
a, b = "<!-- hot_path:begin -->", "<!-- hot_path:end -->"
i, j = text.index(a) + len(a), text.index(b)
md.write_text(text[:i] + "\n" + table + "\n" + text[j:])
print(table)
