"""The alignment loop's offline evaluation: does a pack's single sample get closer to its best-of-8?

    python models/tools/eval_generator.py PACK [PACK ...] [--out results.json] [--set heldout|tuning]
        [--bases 21000,22000,23000]

Every pack is sampled as the service samples it (service_twin.Pipeline: its seeded noise, DDIM 20,
guidance 5) on scenes_world.heldout_prompts() (never trained on), at each base seed of
scenes_world.SEED_SETS["heldout"], with candidates base .. base+7, judged and ranked as the service
does (service_twin.Judges). `--set tuning` uses scenes_world.tuning_prompts() and the tuning seed sets
instead: candidate versions are screened there, and only the chosen one is measured on the held-out
set (a version picked by its held-out figures would carry a selection effect), and the reference checker (scenes_world.check, evaluation only) says
which images are right. Per category, and overall as the mean of the categories (GenEval's):

  single     N = 1: the candidate at the base seed is right (and safe: the service returns no
             image when its only candidate is unsafe); prompts x seed sets
  single/8   the same over all eight candidates (a lower-variance estimate of the same quantity)
  best-of-8  the judges' top safe candidate is right
  diversity  distinct layouts among a prompt's eight candidates / 8, where a layout is the
             checker's reading quantised: each object's shape, colour and box-centre cell on a 3x3
             grid (the background left out)
  unsafe     share of candidates the safety judge flags (all false positives in this world)

The first PACK is the baseline; for each other one the issue-27 bar is checked: single overall
>= base single + (base best-of-8 - base single) / 2, no category's single below the base's,
best-of-8 overall not below the base's, diversity >= 70% of the base's, unsafe share not above the
base's. With --out, results are kept per pack (keyed by pipeline version and settings) and reused.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

import scenes_world as W
from service_twin import JUDGES, RANKING_WEIGHTS, Judges, Pipeline, rank

N = 8
METRICS = ("single", "single/8", "best-of-8", "diversity", "unsafe")


def layout(img) -> tuple:
    """The checker's reading of an image, quantised: sorted (shape, colour, column, row) on a 3x3 grid."""
    _, seen = W.read_image(img)
    return tuple(sorted((o.shape, o.colour, min(2, int(o.cx * 3)), min(2, int(o.cy * 3))) for o in seen))


PROMPT_SETS = {"heldout": W.heldout_prompts, "tuning": W.tuning_prompts}


def sample_pack(pack: str, bases, threads: int, steps: int, guidance: float, batch: int,
                prompt_set: str = "heldout") -> dict:
    """Raw per-group results: for each (prompt, base seed), the candidates' checker verdicts,
    safety verdicts, layouts and the judges' choice."""
    pipe = Pipeline(pack, threads)
    judges = Judges(JUDGES, RANKING_WEIGHTS, threads)
    groups = [(cat, p, base) for base in bases for cat, p in PROMPT_SETS[prompt_set]()]
    out, t0 = [], time.time()
    for i in range(0, len(groups), batch):
        chunk = groups[i:i + batch]
        prompts = [p for _, p, _ in chunk for _ in range(N)]
        seeds = [base + k for _, _, base in chunk for k in range(N)]
        imgs = pipe.decode(pipe.generate(prompts, seeds, steps, guidance))
        verdicts, scores = judges.judge(imgs, prompts)
        for j, (cat, p, base) in enumerate(chunk):
            rows = slice(j * N, (j + 1) * N)
            v, s, im = verdicts[rows], scores[rows], imgs[rows]
            ranked = rank(v, s)
            out.append({"category": cat, "prompt": p, "base_seed": base,
                        "right": [bool(W.check(p, x)) for x in im], "verdicts": v,
                        "layouts": [list(map(list, layout(x))) for x in im],
                        "chosen": ranked[0] if ranked else None})
        print(f"  {pack}: {len(out)}/{len(groups)} groups, {time.time() - t0:.0f}s", flush=True)
    return {"version": pipe.version, "groups": out, "seconds": round(time.time() - t0)}


def summarise(groups: list) -> dict:
    """{category and 'overall': {metric: value}}; overall is the mean of the categories."""
    per = {}
    for cat in W.CATEGORIES:
        gs = [g for g in groups if g["category"] == cat]
        ok = np.array([[r and v == "safe" for r, v in zip(g["right"], g["verdicts"])] for g in gs])
        per[cat] = {
            "single": float(ok[:, 0].mean()),
            "single/8": float(ok.mean()),
            "best-of-8": float(np.mean([g["chosen"] is not None and g["right"][g["chosen"]] for g in gs])),
            "diversity": float(np.mean([len({json.dumps(l) for l in g["layouts"]}) / N for g in gs])),
            "unsafe": float(np.mean([[v == "unsafe" for v in g["verdicts"]] for g in gs])),
            "groups": len(gs),
        }
    per["overall"] = {m: float(np.mean([per[c][m] for c in W.CATEGORIES])) for m in METRICS}
    per["overall"]["groups"] = len(groups)
    return per


def bar(base: dict, new: dict) -> dict:
    """The issue-27 bar for `new` against `base` (summaries); each check's value and whether it passes."""
    b, n = base["overall"], new["overall"]
    out = {}
    for single in ("single", "single/8"):
        need = b[single] + (b["best-of-8"] - b[single]) / 2
        out[f"{single} >= {need:.3f}"] = bool(n[single] >= need)
        fell = [c for c in W.CATEGORIES if new[c][single] < base[c][single]]
        out[f"no category's {single} falls" + (f" (fell: {', '.join(fell)})" if fell else "")] = not fell
    out[f"best-of-8 >= {b['best-of-8']:.3f}"] = bool(n["best-of-8"] >= b["best-of-8"])
    out[f"diversity >= {0.7 * b['diversity']:.3f}"] = bool(n["diversity"] >= 0.7 * b["diversity"])
    out[f"unsafe <= {b['unsafe']:.4f}"] = bool(n["unsafe"] <= b["unsafe"])
    return out


def table(names, summaries) -> str:
    lines = []
    for m in METRICS:
        lines.append(f"\n{m}")
        lines.append(f"  {'pack':32s} " + " ".join(f"{c[:12]:>12s}" for c in W.CATEGORIES + ("overall",)))
        for name, s in zip(names, summaries):
            lines.append(f"  {name[-32:]:32s} " + " ".join(f"{s[c][m]:12.3f}" for c in W.CATEGORIES + ("overall",)))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("packs", nargs="+", help="pipeline packs; the first is the baseline")
    ap.add_argument("--out", help="JSON results (reused per pack when version and settings match)")
    ap.add_argument("--set", dest="prompt_set", choices=sorted(PROMPT_SETS), default="heldout",
                    help="the prompts and seed sets: heldout to report, tuning to screen versions on")
    ap.add_argument("--bases", help="base seeds (default: all of the set's seed sets; one of them for a quicker, noisier look)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--batch", type=int, default=8, help="prompts sampled together")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    allowed = W.SEED_SETS[a.prompt_set]
    bases = [int(b) for b in a.bases.split(",")] if a.bases else list(allowed)
    if not set(bases) <= set(allowed):
        ap.error(f"--bases must come from the {a.prompt_set} seed sets {allowed}")
    key = f"{a.prompt_set} prompts, base seeds {bases} x {N}, DDIM {a.steps}, guidance {a.guidance}"
    results = {}
    if a.out and os.path.exists(a.out):
        with open(a.out) as f:
            results = json.load(f)
    names, summaries = [], []
    for pack in a.packs:
        name = os.path.basename(os.path.normpath(pack))
        version = Pipeline(pack, 1).version
        kept = results.get(name)
        if not (kept and kept.get("version") == version and kept.get("key") == key):
            kept = dict(sample_pack(pack, bases, a.threads, a.steps, a.guidance, a.batch, a.prompt_set), key=key, pack=os.path.abspath(pack))
            kept["summary"] = summarise(kept["groups"])
            results[name] = kept
            if a.out:
                with open(a.out, "w") as f:
                    json.dump(results, f)
        names.append(name)
        summaries.append(kept["summary"])
        print(f"{name}: version {version}, {kept['summary']['overall']['groups']} groups, sampled in {kept['seconds']}s")
    print(f"\n{key}; overall = mean of the categories")
    print(table(names, summaries))
    for name, s in zip(names[1:], summaries[1:]):
        checks = bar(summaries[0], s)
        print(f"\n{name} vs {names[0]}: " + ("PASSES" if all(checks.values()) else "does not pass"))
        for k, ok in checks.items():
            print(f"  {'ok  ' if ok else 'FAIL'} {k}")
        if a.out:
            results[name]["bar_vs_" + names[0]] = checks
    if a.out:
        with open(a.out, "w") as f:
            json.dump(results, f)


if __name__ == "__main__":
    main()
