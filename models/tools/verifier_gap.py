"""Does a round teach the generator to please the verifier without being right? Read from its traffic.

    python models/tools/verifier_gap.py TRAFFIC_DIR [TRAFFIC_DIR ...] [--pack-of VERSION=PACK ...] [--json OUT]

The loop's reward is the service's judges; its exam is the reference checker, which training never
sees. A generator that learned the verifier's blind spots would make candidates the verifier
accepts but the checker fails, more often than the model before it did. This tool measures that on
kept traffic (`winnow.traffic.dir`, or `sim_traffic.py`'s twin of it): every safe candidate's final
latents are decoded with its pipeline's VAE (the pack named by the row's pipeline version), the
checker reads the image against the prompt (`scenes_world.check`, for evaluation only; nothing here
feeds training), and the verifier's `faithfulness` score is the one the service recorded.

Per traffic folder (each is one model version on training prompts, so the prompts differ between
folders but come from one distribution): the share of candidates the verifier accepts
(faithfulness >= --accept, 0.5 by default) and the share the checker passes, the **false
acceptance** rate P(checker fails | verifier accepts) and the false rejection rate, and the
checker's verdict on the judges' pick. A round that pleases the verifier without being right shows
a false acceptance rate that rises while the verifier's acceptance rises faster than the
checker's. Intervals: 95%, bootstrap over generations (2,000 resamples).
"""
from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict

import numpy as np

import scenes_world as W
from service_twin import PACK, Pipeline
from traffic_to_pairs import read_traffic


def read_folder(traffic_dir: str, packs: dict, accept: float, limit: int, threads: int) -> list:
    """One record per generation: category, per safe candidate (verifier accepts, checker passes), the pick's."""
    pipes, out = {}, []
    for row in read_traffic(traffic_dir).values():  # the part files' rows (a torn last line skipped)
        if limit and len(out) >= limit:
            break
        version = row["pipeline"]["version"]
        if version not in packs:
            raise SystemExit(f"{traffic_dir}: no pack given for pipeline version {version} (--pack-of {version}=DIR)")
        if version not in pipes:
            pipes[version] = Pipeline(packs[version], threads)
        z = np.load(os.path.join(traffic_dir, row["latents"]["file"]))
        safe = [c for c in row["candidates"] if c.get("latent_row") is not None and c["verdict"] == "safe"]
        if not safe:
            continue
        imgs = pipes[version].decode(z[[c["latent_row"] for c in safe]])
        cands = [(c["scores"]["faithfulness"] >= accept, W.check(row["prompt"], img), c["index"] == row["chosen"])
                 for c, img in zip(safe, imgs)]
        out.append({"category": W.category_of(row["prompt"]), "version": version, "candidates": cands})
    return out


def rates(gens: list) -> dict:
    acc = np.array([sum(a for a, _, _ in g["candidates"]) for g in gens], float)
    right = np.array([sum(r for _, r, _ in g["candidates"]) for g in gens], float)
    acc_wrong = np.array([sum(a and not r for a, r, _ in g["candidates"]) for g in gens], float)
    rej_right = np.array([sum((not a) and r for a, r, _ in g["candidates"]) for g in gens], float)
    n = np.array([len(g["candidates"]) for g in gens], float)
    pick = np.array([float(any(p and r for _, r, p in g["candidates"])) for g in gens])
    has_pick = np.array([any(p for _, _, p in g["candidates"]) for g in gens])

    def figures(idx):
        return {
            "verifier_accepts": acc[idx].sum() / n[idx].sum(),
            "checker_passes": right[idx].sum() / n[idx].sum(),
            "false_acceptance": acc_wrong[idx].sum() / max(acc[idx].sum(), 1),
            "false_rejection": rej_right[idx].sum() / max(right[idx].sum(), 1),
            "pick_right": pick[idx][has_pick[idx]].mean() if has_pick[idx].any() else float("nan"),
        }

    point = figures(np.arange(len(gens)))
    rng = np.random.default_rng(27)
    boots = [figures(rng.integers(0, len(gens), len(gens))) for _ in range(2000)]
    return {k: {"value": round(float(v), 4),
                "ci": [round(float(np.percentile([b[k] for b in boots], q)), 4) for q in (2.5, 97.5)]}
            for k, v in point.items()} | {"generations": len(gens), "candidates": int(n.sum())}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("traffic_dirs", nargs="+")
    ap.add_argument("--pack-of", action="append", default=[], metavar="VERSION=PACK",
                    help="the pack of a pipeline version (v1 is models/shapes-scenes)")
    ap.add_argument("--accept", type=float, default=0.5, help="faithfulness at which the verifier accepts")
    ap.add_argument("--limit", type=int, default=0, help="first K generations per folder (0: all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    packs = {"v1": PACK} | dict(p.split("=", 1) for p in a.pack_of)
    report = {}
    for d in a.traffic_dirs:
        gens = read_folder(d, packs, a.accept, a.limit, a.threads)
        by_cat = defaultdict(list)
        for g in gens:
            by_cat[g["category"]].append(g)
        report[d] = {"versions": sorted({g["version"] for g in gens}), "all": rates(gens),
                     "by_category": {c: rates(v) for c, v in sorted(by_cat.items())}}
        r = report[d]["all"]
        print(f"{d} ({', '.join(report[d]['versions'])}; {r['generations']} generations, {r['candidates']} safe "
              f"candidates): verifier accepts {r['verifier_accepts']['value']:.3f}, checker passes "
              f"{r['checker_passes']['value']:.3f}, false acceptance {r['false_acceptance']['value']:.3f} "
              f"{r['false_acceptance']['ci']}, false rejection {r['false_rejection']['value']:.3f}, "
              f"the pick right {r['pick_right']['value']:.3f}", flush=True)
        for c, rc in report[d]["by_category"].items():
            print(f"  {c:14s} accepts {rc['verifier_accepts']['value']:.3f} passes {rc['checker_passes']['value']:.3f} "
                  f"false acceptance {rc['false_acceptance']['value']:.3f} {rc['false_acceptance']['ci']} "
                  f"pick right {rc['pick_right']['value']:.3f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
