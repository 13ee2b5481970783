#!/usr/bin/env python3
"""docs/capacity.png from the planner's tables (CapacityCommand table --json), eager and CUDA-graph UNet curves.

usage: bench/capacity_plot.py EAGER.json CUDA_GRAPH.json OUT.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

eager, graph = (json.load(open(p)) for p in sys.argv[1:3])
out = sys.argv[3]
POLICIES = [("winnow", "Winnow (step-level batching)", "tab:green"),
            ("request_batching", "request-level dynamic batching", "tab:orange"),
            ("one_at_a_time", "one request at a time (N rows)", "tab:gray")]
CURVES = {"WINNOW": "tab:green", "REQUEST_BATCHING": "tab:orange", "ONE_REQUEST_AT_A_TIME": "tab:gray"}

fig, axes = plt.subplots(1, 3, figsize=(17, 5.2), gridspec_kw={"width_ratios": [1.25, 1.25, 1]})
for ax, data, title in ((axes[0], eager, "eager UNet curve"), (axes[1], graph, "CUDA-graph UNet curve")):
    rows = [r for r in data["rows"] if r["p99_bound_s"] == 10]
    labels = [f"N={r['n']}{' pruned' if r['prune'] else ''}\n{r['steps']} steps" for r in rows]
    width = 0.27
    for k, (key, name, color) in enumerate(POLICIES):
        xs = [i + (k - 1) * width for i in range(len(rows))]
        ax.bar(xs, [r[key] for r in rows], width, label=name, color=color)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel("requests/s one H200 holds at p99 ≤ 10 s")
    ax.set_title(f"SD 1.5, 512², {title}", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
axes[0].legend(fontsize=8)
ax = axes[2]
for data, style, name in ((eager, "-", "eager"), (graph, "--", "CUDA graph")):
    for c in data["p99_curves"]:
        pts = [p for p in c["points"] if p["p99_ms"] == p["p99_ms"]]
        ax.plot([p["rate"] for p in pts], [p["p99_ms"] / 1000 for p in pts], style, color=CURVES[c["policy"]],
                label=f"{c['policy'].lower().replace('_', ' ')} ({name})")
ax.axhline(10, color="black", lw=0.8, ls=":")
ax.axhline(30, color="black", lw=0.8, ls=":")
ax.set_ylim(0, 40)
ax.set_xlabel("Poisson arrival rate (requests/s)")
ax.set_ylabel("p99 latency (s)")
ax.set_title("best-of-4, 20 steps: p99 against load", fontsize=10)
ax.legend(fontsize=7)
ax.grid(alpha=0.3)
fig.tight_layout()
fig.savefig(out, dpi=110)
print("wrote", out)
