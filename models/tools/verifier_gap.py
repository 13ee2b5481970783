"""Does a round teach the generator to please the verifier without being right? Read from its traffic.

    python models/tools/verifier_gap.py [TRAFFIC_DIR ...] [--pack-of VERSION=PACK ...] [--mirrored]
        [--pairs PAIRS_JSONL --sample 600] [--json OUT]

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

--mirrored also reads every safe candidate a second time, as the verifier would see its left-right
mirror against the prompt with left and right swapped (relabel_pairs.mirrored_prompt; the world is
mirror-symmetric), and reports the false acceptance when both readings must accept: whether a
second reading by the same verifier would keep its errors out of a pairs file's chosen sides.

--pairs PAIRS_JSONL checks a pairs file's labels instead (traffic_to_pairs.py's or relabel_pairs.py's
format, latents only): for --sample randomly drawn pairs, the share whose chosen side the checker
passes and whose rejected side it fails, overall and for mirrored chosen sides (95% intervals,
bootstrap over pairs). Evaluation only, like the rest: what it says must not choose a training set.
"""
from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict

import numpy as np

import scenes_world as W
from service_twin import Pipelines
from relabel_pairs import mirrored_prompt
from service_twin import JUDGES, ScoreJudge
from traffic_to_pairs import read_traffic


def read_folder(traffic_dir: str, pipes: Pipelines, accept: float, limit: int, mirror_reader=None) -> list:
    """One record per generation: category, per safe candidate (verifier accepts, checker passes, the
    pick's), and with a mirror_reader (the verifier) whether it accepts each candidate's mirror."""
    out = []
    for row in read_traffic(traffic_dir).values():  # the part files' rows (a torn last line skipped)
        if limit and len(out) >= limit:
            break
        version = row["pipeline"]["version"]
        pipe = pipes.of(version, traffic_dir)
        z = np.load(os.path.join(traffic_dir, row["latents"]["file"]))
        safe = [c for c in row["candidates"] if c.get("latent_row") is not None and c["verdict"] == "safe"]
        if not safe:
            continue
        imgs = pipe.decode(z[[c["latent_row"] for c in safe]])
        cands = [(c["scores"]["faithfulness"] >= accept, W.check(row["prompt"], img), c["index"] == row["chosen"])
                 for c, img in zip(safe, imgs)]
        gen = {"category": W.category_of(row["prompt"]), "version": version, "candidates": cands}
        if mirror_reader is not None:
            flipped = np.ascontiguousarray(imgs[:, :, ::-1])
            m = mirror_reader.normalised(flipped, [mirrored_prompt(row["prompt"])] * len(safe)) >= accept
            gen["both_read"] = [(a and bool(b), r, p) for (a, r, p), b in zip(cands, m)]
        out.append(gen)
    return out


def both_readings(gens: list) -> list:
    """The generations as if the verifier accepted only what both its readings accept."""
    return [dict(g, candidates=g["both_read"]) for g in gens]


def check_pairs(path: str, pipes: Pipelines, sample: int) -> dict:
    """How right a pairs file's labels are by the checker, on a random sample of its pairs."""
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    rows = [r for r in rows if r["rejected"] is not None and "latent" in r["chosen"] and "latent" in r["rejected"]]
    rng = np.random.default_rng(27)
    rows = [rows[i] for i in rng.choice(len(rows), size=min(sample, len(rows)), replace=False)]
    cache = {}

    def picture(side, version):
        path, k = side["latent"]
        z = cache.setdefault(path, np.load(path, mmap_mode="r"))[int(k)]
        return pipes.of(side.get("pipeline_version") or version or "v1", path).decode(np.asarray(z)[None])[0]

    chosen_right = np.array([W.check(r["caption"], picture(r["chosen"], r.get("pipeline_version"))) for r in rows])
    rejected_wrong = np.array([not W.check(r["caption"], picture(r["rejected"], r.get("pipeline_version"))) for r in rows])
    mirrored = np.array([bool(r["chosen"].get("mirrored")) for r in rows])

    def share(x):
        if len(x) == 0:
            return None
        boots = [x[rng.integers(0, len(x), len(x))].mean() for _ in range(2000)]
        return {"value": round(float(x.mean()), 4), "ci": [round(float(np.percentile(boots, q)), 4) for q in (2.5, 97.5)],
                "pairs": int(len(x))}

    return {"pairs_file": os.path.abspath(path), "sampled": len(rows),
            "chosen_right": share(chosen_right), "rejected_wrong": share(rejected_wrong),
            "both_right": share(chosen_right & rejected_wrong),
            "chosen_right_mirrored": share(chosen_right[mirrored]),
            "chosen_right_unmirrored": share(chosen_right[~mirrored])}


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
    ap.add_argument("traffic_dirs", nargs="*")
    ap.add_argument("--pack-of", action="append", default=[], metavar="VERSION=PACK",
                    help="the pack of a pipeline version (v1 is models/shapes-scenes)")
    ap.add_argument("--accept", type=float, default=0.5, help="faithfulness at which the verifier accepts")
    ap.add_argument("--limit", type=int, default=0, help="first K generations per folder (0: all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--mirrored", action="store_true", help="also report a second, mirrored reading (above)")
    ap.add_argument("--pairs", help="check this pairs.jsonl's labels (above)")
    ap.add_argument("--sample", type=int, default=600, help="pairs checked with --pairs")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    if not a.traffic_dirs and not a.pairs:
        ap.error("give TRAFFIC_DIRs, --pairs, or both")
    pipes = Pipelines(a.pack_of, a.threads)
    reader = ScoreJudge(JUDGES["faithfulness"], a.threads) if a.mirrored else None
    report = {}
    for d in a.traffic_dirs:
        gens = read_folder(d, pipes, a.accept, a.limit, reader)
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
        if reader is not None:
            both = report[d]["both_readings"] = rates(both_readings(gens))
            print(f"  both readings (the picture and its mirror) must accept: accepts {both['verifier_accepts']['value']:.3f}, "
                  f"false acceptance {both['false_acceptance']['value']:.3f} {both['false_acceptance']['ci']}, "
                  f"false rejection {both['false_rejection']['value']:.3f}", flush=True)
    if a.pairs:
        report["pairs"] = check_pairs(a.pairs, pipes, a.sample)
        print(json.dumps(report["pairs"], indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
