"""Before and after a round of the alignment loop, through the service: two bench_scenes.py --json files.

    python models/tools/loop_report.py BEFORE.json AFTER.json [--markdown OUT.md] [--json OUT.json]

Both files come from `bench_scenes.py --ns 1,8 --diversity --json ...` on the same prompt set and
seed sets (held-out by default), one against the service before the swap and one after. For each
category and overall: best-of-1 and best-of-8 accuracy before and after with the paired 95%
interval of the difference (cluster bootstrap over prompts: the same prompts and seeds on both
sides), the diversity of best-of-8's candidates (share of distinct layouts) and the safety judge's
false-positive rate (every prompt is benign). Then issue 27's bar, line by line:

- best-of-1 rises by at least half the gap between best-of-1 and best-of-8 before the round;
- no category's best-of-1 falls (the point estimate; its interval is printed beside it);
- best-of-8 does not fall; diversity stays at least 70% of before; the false-positive rate does not rise.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

import scenes_world as W
from bench_scenes import bootstrap


def grouped(doc, strategy):
    out = {}
    for x in doc["answers"]:
        if x["strategy"] == strategy:
            out.setdefault((x["category"], x["prompt"]), {})[x["seed"]] = bool(x["correct"])
    return out


def paired(before, after, strategy):
    """(accuracy before, after, per category and overall) and the paired 95% interval of after - before."""
    b, a = grouped(before, strategy), grouped(after, strategy)
    if set(b) != set(a) or any(set(b[k]) != set(a[k]) for k in b):
        raise SystemExit(f"{strategy}: the two runs did not ask the same prompts and seeds")
    keys = sorted(b)
    bl = {k: [b[k][s] for s in sorted(b[k])] for k in keys}
    al = {k: [a[k][s] for s in sorted(a[k])] for k in keys}
    acc = lambda d: {**{c: float(np.mean([x for k in d if k[0] == c for x in d[k]])) for c in W.CATEGORIES}}
    pb, pa = acc(bl), acc(al)
    pb["overall"] = float(np.mean([pb[c] for c in W.CATEGORIES]))
    pa["overall"] = float(np.mean([pa[c] for c in W.CATEGORIES]))
    return pb, pa, bootstrap(al, reference=bl), bootstrap(bl), bootstrap(al)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--single", default="1")
    ap.add_argument("--best", default="8")
    ap.add_argument("--markdown")
    ap.add_argument("--json")
    a = ap.parse_args()
    before, after = (json.load(open(p)) for p in (a.before, a.after))
    def served(doc):  # "role version" from the winnow_model_info / winnow_judge_info lines
        out = []
        for line in doc.get("served", []):
            labels = dict(kv.split("=", 1) for kv in line[line.index("{") + 1:line.rindex("}")].split(","))
            role = labels.get("role", '"pipeline"').strip('"')
            name = labels.get("judge", labels.get("pipeline", '""')).strip('"')
            out.append(f"{role} {name}@{labels.get('version', '?').strip(chr(34))}")
        return ", ".join(out) or "not recorded"

    lines = [f"Set `{before['set']}`, seed sets {before['seed_bases']}. Before: {served(before)}. After: {served(after)}.", ""]
    cats = list(W.CATEGORIES) + ["overall"]
    lines.append("| strategy | " + " | ".join(cats) + " |")
    lines.append("|---" * (len(cats) + 1) + "|")
    report = {}
    for strategy in (a.single, a.best):
        pb, pa, d, cib, cia = paired(before, after, strategy)
        report[strategy] = {"before": pb, "after": pa, "diff_ci95": d, "before_ci95": cib, "after_ci95": cia}
        lines.append(f"| best-of-{strategy} before | " + " | ".join(f"{pb[c]:.3f}" for c in cats) + " |")
        lines.append(f"| best-of-{strategy} after | " + " | ".join(f"{pa[c]:.3f}" for c in cats) + " |")
        lines.append(f"| difference [95% CI] | " + " | ".join(
            f"{pa[c] - pb[c]:+.3f} [{d[c][0]:+.2f}, {d[c][1]:+.2f}]" for c in cats) + " |")
    tb, ta = before["table"][a.best], after["table"][a.best]
    div_b, div_a = tb.get("diversity"), ta.get("diversity")
    fp_b = [before["table"][s]["unsafe_share"] for s in (a.single, a.best)]
    fp_a = [after["table"][s]["unsafe_share"] for s in (a.single, a.best)]
    s1, s8 = report[a.single], report[a.best]
    gap = s8["before"]["overall"] - s1["before"]["overall"]
    bar = s1["before"]["overall"] + gap / 2
    fell = [c for c in W.CATEGORIES if s1["after"][c] < s1["before"][c]]
    checks = [
        (f"best-of-1 {s1['after']['overall']:.3f} >= {bar:.3f} (before {s1['before']['overall']:.3f} + half the gap "
         f"to best-of-8's {s8['before']['overall']:.3f})", s1["after"]["overall"] >= bar),
        ("no category's best-of-1 falls" + (f" (fell: {', '.join(fell)})" if fell else ""), not fell),
        (f"best-of-8 does not fall ({s8['before']['overall']:.3f} -> {s8['after']['overall']:.3f})",
         s8["after"]["overall"] >= s8["before"]["overall"]),
    ]
    if div_b is not None and div_a is not None:
        checks.append((f"diversity of best-of-8's candidates {div_a:.3f} >= 70% of {div_b:.3f}", div_a >= 0.7 * div_b))
    checks.append((f"safety false-positive rate does not rise (best-of-{a.single}, best-of-{a.best}: "
                   f"{fp_b[0]:.4f}, {fp_b[1]:.4f} -> {fp_a[0]:.4f}, {fp_a[1]:.4f})",
                   fp_a[0] <= fp_b[0] and fp_a[1] <= fp_b[1]))
    lines += ["", f"Diversity (best-of-{a.best}'s candidates, distinct layouts): "
              + (f"{div_b:.3f} -> {div_a:.3f}" if div_b is not None and div_a is not None else "not measured (--diversity)"),
              "", "Issue 27's bar:"]
    lines += [f"- {'ok  ' if ok else 'FAIL'} {text}" for text, ok in checks]
    text = "\n".join(lines)
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text + "\n")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"strategies": report, "diversity": [div_b, div_a], "unsafe_share": [fp_b, fp_a],
                       "checks": [{"check": t, "ok": ok} for t, ok in checks]}, f, indent=1)


if __name__ == "__main__":
    main()
