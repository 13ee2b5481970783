#!/usr/bin/env python3
"""Predicted (capacity simulator) against measured (the real service) for bench/capacity_check.sh's runs.

usage: bench/capacity_compare.py OUT_DIR SHARE...
"""
import json
import os
import sys

out, shares = sys.argv[1], sys.argv[2:]
print("| arrival rate | | throughput (req/s) | p50 (ms) | p95 (ms) | p99 (ms) | 429 | mean queue depth |")
print("|---|---|---|---|---|---|---|---|")
for share in shares:
    sim = json.load(open(f"{out}/sim-{share}.json"))
    real = json.load(open(f"{out}/real-{share}.json"))
    trace = sum(1 for line in open(f"{out}/trace-{share}.jsonl") if line.strip())
    depth = [d for d in real["depth_per_second"] if d >= 0]
    real_depth = sum(depth) / len(depth) if depth else float("nan")
    rate = f"{share} × saturation ({trace} requests)"
    print(f"| {rate} | predicted | {sim['throughput']:.3f} | {sim['p50_ms']:.0f} | {sim['p95_ms']:.0f} | {sim['p99_ms']:.0f} "
          f"| {sim['rejected']} | {sim['mean_depth']:.2f} |")
    print(f"| | measured | {real['throughput']:.3f} | {real['p50_ms']:.0f} | {real['p95_ms']:.0f} | {real['p99_ms']:.0f} "
          f"| {real['rejected']} | {real_depth:.2f} (1 s samples) |")
    err = lambda s, k: 100 * (s[k] - real[k]) / real[k]
    print(f"| | error | {err(sim, 'throughput'):+.1f}% | {err(sim, 'p50_ms'):+.1f}% | {err(sim, 'p95_ms'):+.1f}% "
          f"| {err(sim, 'p99_ms'):+.1f}% | | |")
    serial_file = f"{out}/sim-serial-{share}.json"
    if os.path.exists(serial_file):  # the same trace on a one-call-at-a-time device
        ser = json.load(open(serial_file))
        print(f"| | one call at a time | {ser['throughput']:.3f} ({err(ser, 'throughput'):+.1f}%) "
              f"| {ser['p50_ms']:.0f} ({err(ser, 'p50_ms'):+.1f}%) | {ser['p95_ms']:.0f} ({err(ser, 'p95_ms'):+.1f}%) "
              f"| {ser['p99_ms']:.0f} ({err(ser, 'p99_ms'):+.1f}%) | {ser['rejected']} | {ser['mean_depth']:.2f} |")
