"""Accuracy against UNet rows per request, one point per strategy: the Pareto plot of docs/QUALITY.md.

    python models/tools/plot_pareto.py OUT.png BENCH.json [BENCH.json ...] [--title TEXT]

Reads the JSON files `bench_scenes.py --json` writes (each holds one or more strategies: N, or
N:KEEP@AT for pruned best-of-N, with the overall accuracy and the UNet rows per request that the
service's own metrics counted) and draws them: best-of-N without pruning as a line through
N = 1, 2, 4, 8, 16, each pruned strategy as a labelled point, and the Pareto front (the
strategies no other one beats in accuracy at fewer or equal rows) marked. A later file's
strategy replaces an earlier one's of the same name. It prints the table it drew.
"""
from __future__ import annotations

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(paths):
    points = {}
    for path in paths:
        with open(path) as f:
            table = json.load(f)["table"]
        for strategy, row in table.items():
            points[strategy] = (row["unet_rows_per_request"], row["overall"])
    return points


def pareto(points):
    """Strategies that no other reaches with at least the accuracy and at most the rows (one strictly better)."""
    front = []
    for s, (rows, acc) in points.items():
        if not any((r2 <= rows and a2 >= acc) and (r2 < rows or a2 > acc) for s2, (r2, a2) in points.items() if s2 != s):
            front.append(s)
    return sorted(front, key=lambda s: points[s][0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("bench", nargs="+")
    ap.add_argument("--title", default="shapes-scenes, scenes benchmark through the service (288 requests per point)")
    a = ap.parse_args()
    points = load(a.bench)
    plain = sorted((s for s in points if ":" not in s), key=lambda s: int(s))
    pruned = sorted((s for s in points if ":" in s), key=lambda s: points[s][0])
    front = set(pareto(points))
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    ax.plot([points[s][0] for s in plain], [points[s][1] for s in plain], "o-", color="#555555",
            label="best-of-N, no pruning")
    for s in plain:
        ax.annotate(f"N={s}", points[s], textcoords="offset points", xytext=(6, -12), fontsize=9, color="#333333")
    colours = {"8": "#1f77b4", "16": "#d62728"}
    for s in pruned:
        n = s.split(":")[0]
        ax.plot(*points[s], "s", color=colours.get(n, "#2ca02c"), markersize=7,
                label=f"{n} → {s.split(':')[1].split('@')[0]} pruned" if s == min(
                    (x for x in pruned if x.split(":")[0] == n), key=lambda x: points[x][0]) else None)
        ax.annotate("at " + s.split("@")[1], points[s], textcoords="offset points", xytext=(6, 4), fontsize=8,
                    color=colours.get(n, "#2ca02c"))
    fx = [points[s][0] for s in sorted(front, key=lambda s: points[s][0])]
    fy = [points[s][1] for s in sorted(front, key=lambda s: points[s][0])]
    ax.step(fx, fy, where="post", color="#2ca02c", alpha=0.5, linewidth=6, zorder=0, label="Pareto front")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("UNet rows per request (measured by the service; log scale)")
    ax.set_ylabel("overall accuracy (GenEval-style, 6 categories)")
    ax.set_title(a.title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    fig.savefig(a.out)
    print(f"{'strategy':>10s} {'rows/request':>12s} {'overall':>8s}  Pareto")
    for s in plain + pruned:
        print(f"{s:>10s} {points[s][0]:12.1f} {points[s][1]:8.3f}  {'*' if s in front else ''}")


if __name__ == "__main__":
    main()
