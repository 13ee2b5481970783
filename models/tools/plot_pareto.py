"""Accuracy against cost, one point per strategy, with 95% intervals: the Pareto plots of docs/QUALITY.md.

    python models/tools/plot_pareto.py OUT.png BENCH.json [BENCH.json ...] [--title TEXT]

Reads the JSON files `bench_scenes.py --json` writes (each holds one or more strategies: N, or
N:KEEP@AT / N:{...} for pruned best-of-N, with the overall accuracy, its 95% interval, the UNet
rows per request that the service's own metrics counted and the service's mean time per request,
previews included) and draws two panels: accuracy against UNet rows, and accuracy against the
service's time per request (what pruning's previews cost shows here, not in rows). Best-of-N
without pruning is a line through its N, each pruned strategy a labelled point, every point with
its interval, and the Pareto front (the strategies no other one beats in accuracy at no more cost)
marked. A later file's strategy replaces an earlier one's of the same name. It prints the table it
drew. Files written before intervals and times were measured draw without them.
"""
from __future__ import annotations

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(paths):
    """{strategy: row}, each row with 'rows', 'ms' (None when not measured), 'acc', 'lo', 'hi'."""
    points = {}
    for path in paths:
        with open(path) as f:
            table = json.load(f)["table"]
        for strategy, row in table.items():
            lo, hi = row.get("ci95", {}).get("overall", (row["overall"], row["overall"]))
            points[strategy] = {"rows": row["unet_rows_per_request"], "ms": row.get("total_ms"),
                                "acc": row["overall"], "lo": lo, "hi": hi}
    return points


def pareto(points, cost):
    """Strategies that no other reaches with at least the accuracy at no more cost (one strictly better)."""
    front = []
    for s, p in points.items():
        if p[cost] is None:
            continue
        if not any(q[cost] is not None and q[cost] <= p[cost] and q["acc"] >= p["acc"]
                   and (q[cost] < p[cost] or q["acc"] > p["acc"]) for s2, q in points.items() if s2 != s):
            front.append(s)
    return sorted(front, key=lambda s: points[s][cost])


def short(strategy):
    """A pruned strategy's label: '2@0.2' for keep 2 at 0.2, '+0.05' for a margin, '→' before a later
    decision; 'default' for the server's ({}); the name itself when it is not a prune object."""
    rest = strategy.split(":", 1)[1]
    if not rest.startswith("{"):
        return rest
    p = json.loads(rest)
    if not p:
        return "default"
    parts = []
    while p:
        parts.append(f"{p.get('keep', '?')}@{p.get('at', '?')}" + (f"+{p['margin']}" if p.get("margin") else ""))
        p = p.get("then")
    return "→".join(parts)


def is_plain(strategy):
    return ":" not in strategy


def panel(ax, points, cost, label):
    plain = sorted((s for s in points if is_plain(s)), key=lambda s: int(s))
    pruned = sorted((s for s in points if not is_plain(s)), key=lambda s: points[s][cost] or 0)
    drawn = [s for s in plain + pruned if points[s][cost] is not None]
    if not drawn:
        ax.set_visible(False)
        return set()
    err = lambda ss: [[points[s]["acc"] - points[s]["lo"] for s in ss], [points[s]["hi"] - points[s]["acc"] for s in ss]]
    xs = [s for s in plain if points[s][cost] is not None]
    ax.errorbar([points[s][cost] for s in xs], [points[s]["acc"] for s in xs], yerr=err(xs), fmt="o-",
                color="#555555", capsize=3, label="best-of-N, no pruning")
    for s in xs:
        ax.annotate(f"N={s}", (points[s][cost], points[s]["acc"]), textcoords="offset points", xytext=(6, -12),
                    fontsize=8, color="#333333")
    colours = {"8": "#1f77b4", "16": "#d62728"}
    seen = set()
    for k, s in enumerate(s for s in pruned if points[s][cost] is not None):
        n = s.split(":")[0]
        ax.errorbar([points[s][cost]], [points[s]["acc"]], yerr=err([s]), fmt="s", color=colours.get(n, "#2ca02c"),
                    capsize=3, markersize=6, label=f"best-of-{n}, pruned" if n not in seen else None)
        seen.add(n)
        ax.annotate(short(s), (points[s][cost], points[s]["acc"]), textcoords="offset points",
                    xytext=(6, 4) if k % 2 == 0 else (6, -12), fontsize=7,  # neighbours: one above, one below
                    color=colours.get(n, "#2ca02c"))
    front = pareto(points, cost)
    ax.step([points[s][cost] for s in front], [points[s]["acc"] for s in front], where="post", color="#2ca02c",
            alpha=0.4, linewidth=6, zorder=0, label="Pareto front")
    ax.set_xscale("log", base=2)
    ax.set_xlabel(label)
    ax.set_ylabel("overall accuracy (mean of 6 categories), 95% CI")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return set(front)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("bench", nargs="+")
    ap.add_argument("--title", default="shapes-scenes, held-out prompts x 3 seed sets, through the service")
    a = ap.parse_args()
    points = load(a.bench)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), dpi=110)
    front_rows = panel(left, points, "rows", "UNet rows per request (counted by the service; log scale)")
    front_ms = panel(right, points, "ms", "service time per request, previews included (ms; log scale)")
    fig.suptitle(a.title, fontsize=10)
    fig.tight_layout()
    fig.savefig(a.out)
    print(f"{'strategy':>16s} {'rows/req':>9s} {'ms/req':>8s} {'overall':>8s} {'95% CI':>16s}  Pareto (rows, time)")
    for s in sorted(points, key=lambda s: points[s]["rows"]):
        p = points[s]
        ms = f"{p['ms']:8.0f}" if p["ms"] is not None else f"{'-':>8s}"
        print(f"{s:>16s} {p['rows']:9.1f} {ms} {p['acc']:8.3f} [{p['lo']:.3f}, {p['hi']:.3f}]  "
              f"{'*' if s in front_rows else ' '}{'*' if s in front_ms else ' '}")


if __name__ == "__main__":
    main()
