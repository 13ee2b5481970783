"""Does the generator read a relation's direction, or only its axis? One sample per seed, the checker as the judge.

    python models/tools/relation_probe.py PACK [PACK ...] [--set tuning|heldout] [--threads 2]

For every position prompt of the set ("A to the left of B", "A above B", ...) and each of the set's
three seed sets x 8 seeds, the pack draws one image (service_twin.Pipeline: the service's noise,
DDIM 20, guidance 5), and the reference checker (scenes_world.check, evaluation only) reads it
twice: against the prompt, and against the prompt with the opposite relation (left <-> right,
above <-> below), same objects. Per relation it prints how often the image shows the asked
relation and how often the opposite one, and the difference with a 95% interval (a cluster
bootstrap over prompts, bench_scenes.bootstrap: a prompt's 24 images stay together):

  * asked >> opposite: the model follows the relation;
  * asked ~ opposite, and their sum near the share of images with both objects: the model puts
    the pair on the relation's axis (a vertical pair for "above") but which object goes where
    is a coin toss; it reads the relation word, not whose side each object is on;
  * a small sum: it does not even read the axis.

Why a probe and not only the benchmark: the position category alone cannot tell these apart
(every one of them scores about half), and they call for different fixes (a relation's
direction has to be bound to the object named before it, which a causal text encoder's states
for that object cannot see: they come before the relation word).
"""
from __future__ import annotations

import argparse
import dataclasses
from collections import defaultdict

import scenes_world as W
from bench_scenes import bootstrap
from service_twin import Pipeline

OPPOSITE = {"to the left of": "to the right of", "to the right of": "to the left of", "above": "below",
            "below": "above"}
SETS = {"tuning": (W.tuning_prompts, W.SEED_SETS["tuning"]), "heldout": (W.heldout_prompts, W.SEED_SETS["heldout"])}


def probe(pack: str, prompt_set: str, threads: int, batch: int = 4) -> dict:
    """{prompt: [(shows the asked relation, shows the opposite one) per image]} for the set's position prompts."""
    prompts_of, bases = SETS[prompt_set]
    prompts = [p for c, p in prompts_of() if c == "position"]
    pipe = Pipeline(pack, threads)
    seen = defaultdict(list)
    for base in bases:
        for i in range(0, len(prompts), batch):
            asked = [p for p in prompts[i:i + batch] for _ in range(8)]
            seeds = [base + k for _ in prompts[i:i + batch] for k in range(8)]
            for p, img in zip(asked, pipe.decode(pipe.generate(asked, seeds, 20, 5.0))):
                req = W.parse_prompt(p)
                opposite = dataclasses.replace(req, relation=OPPOSITE[req.relation])
                seen[p].append((W.check(req, img), W.check(opposite, img)))
    return dict(seen)


def report(seen: dict) -> list:
    """Rows (relation, images, asked, opposite, either, (lo, hi) of asked - opposite), per relation and in all."""
    rows = []
    for rel in list(OPPOSITE) + ["all"]:
        mine = {p: v for p, v in seen.items() if rel == "all" or W.parse_prompt(p).relation == rel}
        flat = [x for v in mine.values() for x in v]
        n = len(flat)
        asked, opposite = sum(a for a, _ in flat) / n, sum(b for _, b in flat) / n
        ci = bootstrap({("position", p): [a for a, _ in v] for p, v in mine.items()},
                       reference={("position", p): [b for _, b in v] for p, v in mine.items()})["position"]
        rows.append((rel, n, asked, opposite, asked + opposite, ci))
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("packs", nargs="+")
    ap.add_argument("--set", dest="prompt_set", choices=sorted(SETS), default="tuning")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    for pack in a.packs:
        seen = probe(pack, a.prompt_set, a.threads)
        print(f"{pack}: {sum(map(len, seen.values()))} images of {len(seen)} {a.prompt_set} position prompts, "
              "one per seed")
        print(f"  {'relation':16s} {'images':>6s} {'asked':>6s} {'opposite':>8s} {'either':>6s}  asked - opposite [95% CI]")
        for rel, n, asked, opposite, either, (lo, hi) in report(seen):
            print(f"  {rel:16s} {n:6d} {asked:6.3f} {opposite:8.3f} {either:6.3f}  {asked - opposite:+.3f} [{lo:+.3f}, {hi:+.3f}]")
