#!/usr/bin/env python3
"""Summarises bench JSON results by label: one Markdown row per (label, binary), each figure the
median over the runs that carry that label (runs of build variants are interleaved so machine
noise hits each alike).

    python3 bench/compare.py target/bench/variants/*.json
"""
import json
import statistics
import sys
from collections import defaultdict


def figures(entry):
    return {
        "init_ms": entry["init"]["median_ms"],
        "first_ms": entry["first_invocation"]["median_ms"],
        "p50_ms": entry["warm"]["p50_ms"],
        "p99_ms": entry["warm"]["p99_ms"],
        "cpu_us": entry.get("cpu_us_per_request_p50") or entry["cpu_us_per_request_precise"],
        "peak_mib": entry["peak_rss_kib"] / 1024,
        "bin_mb": entry["binary_bytes"] / 1e6,
        "zip_mb": (entry["zip_bytes"] or 0) / 1e6,
    }


def main(paths):
    runs = defaultdict(lambda: defaultdict(list))  # label -> binary -> [figures]
    order = []
    for path in paths:
        with open(path) as f:
            report = json.load(f)
        label = report.get("label") or path
        if label not in order:
            order.append(label)
        for entry in [report["floor"], *report["functions"]]:
            runs[label][entry["name"]].append(figures(entry))
    cols = ["init_ms", "first_ms", "p50_ms", "p99_ms", "cpu_us", "peak_mib", "bin_mb", "zip_mb"]
    print("| variant | binary | runs | init ms | x floor | 1st call ms | warm p50 ms | warm p99 ms "
          "| CPU us/req (p50) | peak RSS MiB | binary MB | zip MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label in order:
        floor_init = None
        for name, samples in runs[label].items():
            med = {c: statistics.median(s[c] for s in samples) for c in cols}
            if name == "hello-floor":
                floor_init = med["init_ms"]
            ratio = "" if name == "hello-floor" or not floor_init else f"{med['init_ms'] / floor_init:.2f}"
            print(f"| {label} | {name} | {len(samples)} | {med['init_ms']:.2f} | {ratio} | "
                  f"{med['first_ms']:.2f} | {med['p50_ms']:.2f} | {med['p99_ms']:.2f} | "
                  f"{med['cpu_us']:.0f} | {med['peak_mib']:.1f} | {med['bin_mb']:.2f} | {med['zip_mb']:.2f} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
