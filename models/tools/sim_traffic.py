"""A stand-in for the service's traffic log, for the alignment loop's PILOT only.

    python models/tools/sim_traffic.py OUT_DIR [--generations 1500] [--pack models/shapes-scenes]
        [--instance sim] [--threads 2]

The real training data comes from the running service (`winnow.traffic.dir`); this writes the
same format from training prompts, so the loop (traffic_to_pairs.py, train_generator.py) can be
built and measured before any traffic exists. Generation k:

  * prompt: scenes_world.training_prompt(category k mod 6, rng seeded [--prompt-seed, k]), never
    a held-out prompt;
  * N = --n candidates, seeds TRAINING_SEED_BASE + N*k + i (request seed TRAINING_SEED_BASE + N*k);
  * sampled with the pack's ONNX graphs exactly as the service samples (service_twin.Pipeline:
    its seeded noise, DDIM --steps, guidance --guidance, empty negative prompt), judged and
    ranked as the service does (service_twin.Judges: safety, then the scorers on safe
    candidates, combined = faithfulness + 0.25 * aesthetic on normalised scores).

OUT_DIR/rankings/part-<instance>.jsonl gets one row per generation and OUT_DIR/latents/<id>.npy
the candidates' final latents (float32 [N, 4, 16, 16], the UNet's latent space), in the traffic
log's format (see traffic_to_pairs.py). Ids are UUIDs derived from (instance, k), so a rerun
writes the same ids; an interrupted run continues where its part file ends. No candidate is
ever pruned here (the service's pruning is off by default). The reference checker is not used.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import time
import uuid

import numpy as np

import scenes_world as W
from service_twin import JUDGES, PACK, RANKING_WEIGHTS, Judges, Pipeline, rank

ID_NAMESPACE = uuid.UUID("6f1d1c8e-8a57-4c51-9d0b-27a116ed0c27")


def generation_prompt(k: int, prompt_seed: int) -> str:
    cat = W.CATEGORIES[k % len(W.CATEGORIES)]
    return W.training_prompt(cat, np.random.default_rng([prompt_seed, k]))


def write_batch(out_dir, part, pipe, judges, ks, a):
    """Generates, judges and logs generations ks (one pipeline call for all their candidates)."""
    prompts = [generation_prompt(k, a.prompt_seed) for k in ks]
    seeds = [W.TRAINING_SEED_BASE + a.n * k + i for k in ks for i in range(a.n)]
    expanded = [p for p in prompts for _ in range(a.n)]
    latents = pipe.generate(expanded, seeds, a.steps, a.guidance)
    imgs = pipe.decode(latents)
    verdicts, scores = judges.judge(imgs, expanded)
    for j, k in enumerate(ks):
        gid = str(uuid.uuid5(ID_NAMESPACE, f"{a.instance}/{k}"))
        rel = f"latents/{gid}.npy"
        rows = slice(j * a.n, (j + 1) * a.n)
        np.save(os.path.join(out_dir, rel), np.ascontiguousarray(latents[rows], dtype=np.float32))
        v, s = verdicts[rows], scores[rows]
        ranked = rank(v, s)
        candidates = [{"index": i, "seed": seeds[j * a.n + i], "verdict": v[i], "scores": s[i],
                       "rank": ranked.index(i) if i in ranked else None, "latent_row": i} for i in range(a.n)]
        row = {"id": gid, "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
               "prompt": prompts[j], "negative_prompt": "",
               "pipeline": {"name": pipe.name, "version": pipe.version},
               "judges": judges.describe(),
               "settings": {"n": a.n, "steps": a.steps, "guidance_scale": a.guidance, "scheduler": "ddim",
                            "width": imgs.shape[2], "height": imgs.shape[1], "seed": seeds[j * a.n],
                            "ranking_weights": judges.weights},
               "latents": {"file": rel, "scaling_factor": pipe.scaling_factor, "shape": list(latents[rows].shape)},
               "chosen": ranked[0] if ranked else None,
               "candidates": candidates}
        part.write(json.dumps(row) + "\n")
    part.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--generations", type=int, default=1500, help="total in this part file (a rerun tops it up)")
    ap.add_argument("--pack", default=PACK)
    ap.add_argument("--instance", default="sim", help="part file name; also keys the generation ids")
    ap.add_argument("--first", type=int, default=0, help="generation index k of this part's first row")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--prompt-seed", type=int, default=27)
    ap.add_argument("--batch", type=int, default=8, help="generations sampled together")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out_dir, "rankings"), exist_ok=True)
    os.makedirs(os.path.join(a.out_dir, "latents"), exist_ok=True)
    path = os.path.join(a.out_dir, "rankings", f"part-{a.instance}.jsonl")
    done = sum(1 for line in open(path) if line.strip()) if os.path.exists(path) else 0
    pipe = Pipeline(a.pack, a.threads)
    judges = Judges(JUDGES, RANKING_WEIGHTS, a.threads)
    print(f"{a.pack}: pipeline {pipe.name} {pipe.version}; {done} generations already in {path}", flush=True)
    t0 = time.time()
    with open(path, "a", encoding="utf-8") as part:
        for start in range(a.first + done, a.first + a.generations, a.batch):
            ks = list(range(start, min(start + a.batch, a.first + a.generations)))
            write_batch(a.out_dir, part, pipe, judges, ks, a)
            made = ks[-1] + 1 - a.first - done
            rate = made / (time.time() - t0)
            print(f"{ks[-1] + 1 - a.first}/{a.generations} generations, {rate * 60:.1f}/min, "
                  f"{(a.first + a.generations - ks[-1] - 1) / rate / 60:.0f} min to go", flush=True)


if __name__ == "__main__":
    main()
