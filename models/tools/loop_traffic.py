"""Served traffic for the alignment loop: training prompts sent to the running service.

    java -Dwinnow.traffic.dir=/work/loop/traffic -jar target/quarkus-app/quarkus-run.jar &
    python models/tools/loop_traffic.py --url http://localhost:8080 --requests 2000 --n 8

In production the traffic is whatever clients ask; here it is a stand-in client that asks for
best-of-N on prompts of the scenes grammar, in equal shares of the six categories, drawn by
`scenes_world.training_prompt` (never a held-out prompt). Request k asks for seed
`--seed-base + k * n`, so no two requests share a candidate and none shares one with the
evaluation's seed sets (`scenes_world.SEED_SETS`). The service keeps each request's ranking and
final latents in its `winnow.traffic.dir` (docs/LOOP.md); this script keeps nothing itself and
checks nothing with the reference checker. It prints the rate.
"""
from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import scenes_world as W


def post(url, body, retries=30):
    """The response's status; retries 429/503 (queue full, warming up, a swap's brief refusal)."""
    data = json.dumps(body).encode()
    for attempt in range(retries):
        req = urllib.request.Request(url + "/generate", data=data,
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                r.read()
                return r.status
        except urllib.error.HTTPError as e:
            e.read()
            if e.code in (429, 503) and attempt + 1 < retries:
                time.sleep(min(10, 1 + attempt))
                continue
            return e.code
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://localhost:8080")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--n", type=int, default=8, help="candidates per request")
    ap.add_argument("--seed-base", type=int, default=W.TRAINING_SEED_BASE)
    ap.add_argument("--prompt-seed", type=int, default=0, help="draws the prompts")
    ap.add_argument("--concurrency", type=int, default=2)
    a = ap.parse_args()
    rng = np.random.default_rng(a.prompt_seed)
    jobs = [(W.training_prompt(W.CATEGORIES[k % len(W.CATEGORIES)], rng), a.seed_base + k * a.n)
            for k in range(a.requests)]
    t0 = time.time()
    statuses = {}
    with ThreadPoolExecutor(a.concurrency) as pool:
        for i, status in enumerate(pool.map(lambda j: post(a.url, {"prompt": j[0], "n": a.n, "seed": j[1]}), jobs), 1):
            statuses[status] = statuses.get(status, 0) + 1
            if i % 100 == 0 or i == len(jobs):
                rate = i / (time.time() - t0)
                print(f"{i}/{len(jobs)} requests, {rate * 60:.1f}/min, statuses {statuses}", flush=True)


if __name__ == "__main__":
    main()
