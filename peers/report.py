#!/usr/bin/env python3
"""Markdown table of the peers benchmark: median per library and its ratio to mini_telemetry.

Reads target/criterion/<group>/<bench>/new/estimates.json (written by
`cargo bench --bench peers`) next to this script, or under the directory given as the only
argument, and prints one row per library: group, library, median (95% CI), and the ratio
peer median / mini_telemetry median (above 1: the peer is slower). A `*_local` row (fastrace's
span under a ready root) is also compared with mini_telemetry_child, ours made the same way.
"""

import json
import sys
from pathlib import Path

OURS = "mini_telemetry"
# Ours as a child of a root span made per burst, the like-for-like row for fastrace's local span.
CHILD = "mini_telemetry_child"
# Group order of benches/peers.rs; any other group found is listed after these.
GROUPS = [
    "span_start_end",
    "span_3_attrs_1_event",
    "log_2_fields_in_span",
    "tracing_event_2_fields",
    "tracing_span",
    "counter_add_2_attrs",
    "counter_bound",
    "histogram_record_1_attr",
    "paced_request",
    "sustained_spans",
    "sustained_logs",
    "tight_loop_span",
    "tight_loop_span_3_attrs_1_event",
    "tight_loop_log",
]
# Library order inside a group; others follow alphabetically.
LIBS = [OURS, CHILD, "mini_telemetry_macro", "opentelemetry", "tracing", "tracing_opentelemetry", "fastrace", "fastrace_local", "metrics"]


def fmt_ns(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    if ns >= 100:
        return f"{ns:.0f} ns"
    if ns >= 1:
        return f"{ns:.2f} ns"
    return f"{ns * 1e3:.0f} ps"


def median(path: Path):
    est = json.loads(path.read_text())["median"]
    ci = est["confidence_interval"]
    return est["point_estimate"], ci["lower_bound"], ci["upper_bound"]


def order(items, preferred):
    return [x for x in preferred if x in items] + sorted(x for x in items if x not in preferred)


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "target" / "criterion"
    if not root.is_dir():
        print(f"no criterion output under {root}: run `cargo bench --bench peers` first", file=sys.stderr)
        return 1
    results = {}
    for est in root.glob("*/*/new/estimates.json"):
        group, lib = est.parts[-4], est.parts[-3]
        results.setdefault(group, {})[lib] = median(est)
    if not results:
        print(f"no estimates.json under {root}", file=sys.stderr)
        return 1

    print("| group | library | median | 95% CI of the median | ratio vs mini_telemetry |")
    print("|---|---|---|---|---|")
    for group in order(results, GROUPS):
        libs = results[group]
        ours = libs.get(OURS, (None,))[0]
        for lib in order(libs, LIBS):
            m, lo, hi = libs[lib]
            if lib == OURS:
                ratio = "1 (ours)"
            elif ours:
                ratio = f"{m / ours:.2f}×"
                # fastrace's local span is a child of a ready root: also against ours made so.
                child = libs.get(CHILD, (None,))[0]
                if lib.endswith("_local") and child:
                    ratio += f" ({m / child:.2f}× vs {CHILD})"
            else:
                ratio = "n/a"
            name = f"**{lib}**" if lib == OURS else lib
            print(f"| {group} | {name} | {fmt_ns(m)} | {fmt_ns(lo)} – {fmt_ns(hi)} | {ratio} |")
    counts = root.parent / "peers-counts.txt"
    if counts.exists():
        print_paced(counts)
        print_sustained(counts)
        print_counts(counts)
    return 0


def print_sustained(path: Path) -> None:
    """The SUSTAINED lines: calls back to back, then a flush; records per second from the first
    call to the end of the flush, and what reached the exporter."""
    rows = {}
    for line in path.read_text().splitlines():
        kind, group, lib, *kv = line.split()
        if kind == "SUSTAINED":
            rows[(group, lib)] = {k: int(v) for k, v in (x.split("=", 1) for x in kv)}
    if not rows:
        return
    print()
    print("| sustained (200,000 calls, then a flush) | library | produced per second, to the end of the flush | ours / theirs | exported | not exported | resident memory grown |")
    print("|---|---|---|---|---|---|---|")
    for group in order({g for g, _ in rows}, GROUPS):
        ours = rows.get((group, OURS))
        for lib in order({l for g, l in rows if g == group}, LIBS):
            r = rows[(group, lib)]
            rate = r["produced"] / r["ns"] * 1e9
            if lib == OURS:
                ratio = "1 (ours)"
            elif ours:
                ratio = f"{(ours['produced'] / ours['ns']) / (r['produced'] / r['ns']):.2f}×"
            else:
                ratio = "n/a"
            lost = max(r["produced"] - r["exported"], 0)
            share = f" ({lost / r['produced']:.0%})" if lost else ""
            name = f"**{lib}**" if lib == OURS else lib
            print(f"| {group} | {name} | {rate / 1e6:.2f} M/s | {ratio} | {r['exported']:,} | {lost:,}{share} | {r['grew_kib'] / 1024:.1f} MiB |")


def print_paced(path: Path) -> None:
    """The PACED lines: each library's request latency, requests paced 2 µs apart."""
    rows = {}
    for line in path.read_text().splitlines():
        kind, group, lib, *kv = line.split()
        if kind == "PACED":
            rows[lib] = {k: int(v) for k, v in (x.split("=", 1) for x in kv)}
    if not rows:
        return
    ours = rows.get(OURS)
    print()
    print("| paced request (2 µs apart) | p50 | p99 | p99.9 | max | p50 vs mini_telemetry | p99.9 vs mini_telemetry |")
    print("|---|---|---|---|---|---|---|")
    for lib in order(rows, LIBS):
        r = rows[lib]
        name = f"**{lib}**" if lib == OURS else lib
        if lib == OURS:
            ratios = "1 (ours) | 1 (ours)"
        elif ours:
            ratios = f"{r['p50'] / ours['p50']:.2f}× | {r['p999'] / ours['p999']:.2f}×"
        else:
            ratios = "n/a | n/a"
        cells = " | ".join(fmt_ns(r[k]) for k in ("p50", "p99", "p999", "max"))
        print(f"| {name} | {cells} | {ratios} |")


def print_counts(path: Path) -> None:
    """The DROPS and PEAK lines of the run: records exported of those produced, and for the
    tight loops how much the process's resident memory grew while the library ran."""
    rows = {}
    for line in path.read_text().splitlines():
        kind, group, lib, *kv = line.split()
        fields = dict(x.split("=", 1) for x in kv)
        rows.setdefault((group, lib), {}).update(fields)
    print()
    print("| group | library | produced | exported | not exported after a final flush | resident memory grown (tight loops, sustained) |")
    print("|---|---|---|---|---|---|")
    for group in order({g for g, _ in rows}, GROUPS):
        for lib in order({l for g, l in rows if g == group}, LIBS):
            f = rows[(group, lib)]
            produced, exported = int(f.get("produced", 0)), int(f.get("exported", 0))
            lost = produced - exported
            share = f" ({lost / produced:.0%})" if produced and lost > 0 else ""
            grew = f"{int(f['grew_kib']) / 1024:.1f} MiB" if "grew_kib" in f else ""
            name = f"**{lib}**" if lib == OURS else lib
            print(f"| {group} | {name} | {produced:,} | {exported:,} | {max(lost, 0):,}{share} | {grew} |")


if __name__ == "__main__":
    sys.exit(main())
