"""Does the generator read a relation's direction, or only its axis? One sample per seed, the checker as the judge.

    python models/tools/relation_probe.py PACK [PACK ...] [--set tuning|heldout] [--threads 2]

For every position prompt of the set ("A to the left of B", "A above B", ...) and each of the set's
three seed sets x 8 seeds, the pack draws one image (service_twin.Pipeline: the service's noise,
DDIM 20, guidance 5), and the reference checker (scenes_world.check, evaluation only) reads it
twice: against the prompt, and against the prompt with the opposite relation (left <-> right,
above <-> below), same objects. Per relation it prints how often the image shows the asked
relation and how often the opposite one:

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
from collections import defaultdict

import scenes_world as W
from service_twin import Pipeline

OPPOSITE = {"to the left of": "to the right of", "to the right of": "to the left of", "above": "below",
            "below": "above"}
SETS = {"tuning": (W.tuning_prompts, W.SEED_SETS["tuning"]), "heldout": (W.heldout_prompts, W.SEED_SETS["heldout"])}


def relation_of(prompt: str) -> str:
    return next(r for r in sorted(OPPOSITE, key=len, reverse=True) if f" {r} " in prompt)


def flipped(prompt: str) -> str:
    r = relation_of(prompt)
    return prompt.replace(f" {r} ", f" {OPPOSITE[r]} ")


def probe(pack: str, prompt_set: str, threads: int, batch: int = 4) -> dict:
    """{relation: [shows asked, shows opposite, images]}, and "all"."""
    prompts_of, bases = SETS[prompt_set]
    prompts = [p for c, p in prompts_of() if c == "position"]
    pipe = Pipeline(pack, threads)
    counts = defaultdict(lambda: [0, 0, 0])
    for base in bases:
        for i in range(0, len(prompts), batch):
            asked = [p for p in prompts[i:i + batch] for _ in range(8)]
            seeds = [base + k for _ in prompts[i:i + batch] for k in range(8)]
            for p, img in zip(asked, pipe.decode(pipe.generate(asked, seeds, 20, 5.0))):
                for key in (relation_of(p), "all"):
                    c = counts[key]
                    c[0] += W.check(p, img); c[1] += W.check(flipped(p), img); c[2] += 1
    return dict(counts)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("packs", nargs="+")
    ap.add_argument("--set", dest="prompt_set", choices=sorted(SETS), default="tuning")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    for pack in a.packs:
        counts = probe(pack, a.prompt_set, a.threads)
        print(f"{pack}: {counts['all'][2]} images of {a.prompt_set} position prompts, one per seed")
        print(f"  {'relation':16s} {'images':>6s} {'asked':>6s} {'opposite':>8s} {'either':>6s}")
        for rel in list(OPPOSITE) + ["all"]:
            shown, opposite, n = counts[rel]
            print(f"  {rel:16s} {n:6d} {shown / n:6.3f} {opposite / n:8.3f} {(shown + opposite) / n:6.3f}")
