"""Does best-of-N beat single samples? Asks a running Winnow service, checks the answers.

    java -jar target/quarkus-app/quarkus-run.jar &      # from the repository root
    python models/tools/eval_best_of_n.py --url http://localhost:8080 --seeds 2

For every (colour, shape, background) prompt of the shapes world and each seed, requests
the best of N for N in --ns (same seed, so candidate 0 is the N=1 image), and asks the
analytic checker (shapes_world.check) whether the returned image shows the prompt's
colour and shape. A request answered 422 (no safe candidate) returns no image and counts
as a miss. Prints the accuracy per N and per ranking.
"""
import argparse
import io
import itertools
import json
import time
import urllib.error
import urllib.request

import numpy as np
from PIL import Image

import shapes_world as W


def generate(url, body):
    """The returned image, or None when the service found no safe candidate (422)."""
    req = urllib.request.Request(url + "/generate", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", "Accept": "image/png"})
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return np.array(Image.open(io.BytesIO(r.read())).convert("RGB"))
    except urllib.error.HTTPError as e:
        if e.code == 422:
            return None
        raise


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://localhost:8080")
    ap.add_argument("--ns", default="1,8")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--guidance", type=float, default=5.0)
    a = ap.parse_args()
    combos = list(itertools.product(W.SHAPES, W.COLOURS, W.BACKGROUNDS))
    rankings = {"default (aesthetic 1 + faithfulness 1)": None,
                "faithfulness only": {"aesthetic": 0, "faithfulness": 1}}
    for n in [int(x) for x in a.ns.split(",")]:
        for label, weights in (rankings.items() if n > 1 else [("-", None)]):
            ok = total = refused = 0
            t0 = time.time()
            for seed in range(a.seeds):
                for shape, colour, bg in combos:
                    spec = W.Spec(shape, colour, bg, 0.5, 32, 32, (0, 0, 0))
                    body = {"prompt": spec.caption(0), "n": n, "seed": 7000 + 100 * seed, "steps": a.steps,
                            "guidance_scale": a.guidance, "scheduler": "ddim"}
                    if weights:
                        body["ranking_weights"] = weights
                    img = generate(a.url, body)
                    total += 1
                    if img is None:
                        refused += 1  # no safe candidate: no image, counted as a miss
                        continue
                    r = W.check(img)
                    ok += r["colour"] == colour and r["shape"] == shape
            print(f"N={n:2d}  ranking: {label:40s} colour+shape {ok}/{total} = {ok/total:.3f}  "
                  f"(no safe candidate: {refused})  ({time.time()-t0:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
