"""The scenes benchmark: GenEval-style accuracy of the running service, per category and per N.

    ./mvnw -B package -DskipTests && java -jar target/quarkus-app/quarkus-run.jar &   # repo root
    python models/tools/bench_scenes.py --url http://localhost:8080 --seeds 3 --ns 1,2,4,8,16

For each prompt of the fixed benchmark set (`scenes_world.benchmark_prompts`: six categories,
24 prompts each, in exactly SCENES.md's forms) and each seed, it asks the service for the
best of N (`POST /generate`, `Accept: image/png`, everything else at the server's defaults)
and asks the reference checker whether the returned image shows the prompt. A 422 (no
safe candidate) returns no image and counts as a miss. Every prompt is benign, so the share of
candidates the safety judge calls unsafe is its false-positive rate on the pack's samples; it
is printed too. It prints a GenEval-style table:
one row per N, the six categories' accuracies and their mean (the overall score), plus the
share of single-sample errors that best-of-N removes, (acc_N - acc_1) / (1 - acc_1).
With --json FILE it also writes every answer (prompt, seed, N, correct, status).
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

import scenes_world as W


def generate(url, body, retries=20):
    """(status, image or None, candidate verdicts). Retries 429/503 (queue full, warming up)."""
    data = json.dumps({**body, "return_candidates": True}).encode()
    for attempt in range(retries):
        req = urllib.request.Request(url + "/generate", data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                doc = json.loads(r.read())
                img = Image.open(io.BytesIO(base64.b64decode(doc["image"]["png_base64"]))).convert("RGB")
                return 200, np.array(img), [c["verdict"] for c in doc["candidates"]]
        except urllib.error.HTTPError as e:
            if e.code == 422:
                problem = json.loads(e.read() or b"{}")
                return 422, None, [c.get("verdict") for c in problem.get("candidates", [])]
            if e.code in (429, 503) and attempt + 1 < retries:
                time.sleep(1 + attempt)
                continue
            raise
    raise RuntimeError("unreachable")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://localhost:8080")
    ap.add_argument("--ns", default="1,2,4,8,16")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--per-category", type=int, default=24)
    ap.add_argument("--concurrency", type=int, default=2, help="requests in flight (the engine batches them)")
    ap.add_argument("--extra", default="{}", help="JSON merged into every request, e.g. '{\"prune\": {...}}'")
    ap.add_argument("--json", help="write every answer here")
    a = ap.parse_args()
    prompts = W.benchmark_prompts(a.per_category)
    extra = json.loads(a.extra)
    ns = [int(x) for x in a.ns.split(",")]
    results, table = [], {}
    print(f"{len(prompts)} prompts x {a.seeds} seeds per N; server defaults otherwise; {a.url}")
    header = f"{'N':>3s} " + " ".join(f"{c:>13s}" for c in W.CATEGORIES) + f" {'overall':>8s} {'422s':>5s} {'time':>6s}"
    print(header)
    for n in ns:
        jobs = [(cat, p, 7000 + 1000 * s) for s in range(a.seeds) for cat, p in prompts]
        t0 = time.time()

        def run(job):
            cat, p, seed = job
            status, img, verdicts = generate(a.url, {"prompt": p, "n": n, "seed": seed, **extra})
            return cat, p, seed, status, img is not None and W.check(p, img), verdicts

        with ThreadPoolExecutor(a.concurrency) as pool:
            answered = list(pool.map(run, jobs))
        answers = [x[:5] for x in answered]
        verdicts = [v for x in answered for v in x[5]]
        unsafe_share = verdicts.count("unsafe") / max(1, len(verdicts))
        per = {c: np.mean([ok for cat, _, _, _, ok in answers if cat == c]) for c in W.CATEGORIES}
        overall = float(np.mean(list(per.values())))
        refused = sum(st == 422 for _, _, _, st, _ in answers)
        table[n] = (per, overall)
        results.extend({"n": n, "category": c, "prompt": p, "seed": s, "status": st, "correct": bool(ok)}
                       for c, p, s, st, ok in answers)
        print(f"{n:3d} " + " ".join(f"{per[c]:13.3f}" for c in W.CATEGORIES)
              + f" {overall:8.3f} {refused:5d} {time.time() - t0:5.0f}s  (candidates judged unsafe: "
              f"{unsafe_share:.3f} of {len(verdicts)})", flush=True)
    if 1 in table:
        base = table[1][1]
        for n in ns:
            if n > 1:
                removed = (table[n][1] - base) / (1 - base) if base < 1 else float("nan")
                better = all(table[n][0][c] > table[1][0][c] for c in W.CATEGORIES)
                print(f"N={n}: removes {removed:.2f} of single-sample errors; every category better than N=1: {better}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"table": {n: {"categories": per, "overall": o} for n, (per, o) in table.items()},
                       "answers": results}, f, indent=1)


if __name__ == "__main__":
    main()
