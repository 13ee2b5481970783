"""The scenes benchmark: GenEval-style accuracy of the running service, per category and per strategy.

    ./mvnw -B package -DskipTests && java -jar target/quarkus-app/quarkus-run.jar &   # repo root
    python models/tools/bench_scenes.py --url http://localhost:8080 --seeds 3 --ns 1,2,4,8,16
    python models/tools/bench_scenes.py --seeds 2 --ns 8,8:2@0.2,16:4@0.2 --json out.json

A strategy is N (best of N) or N:KEEP@AT (speculative best-of-N: the request's `prune` is
{"at": AT, "keep": KEEP}, so the KEEP candidates whose x̂0 previews score best after a fraction
AT of the steps finish and the rest are pruned). Beside each strategy's accuracy it reports the
UNet rows the service spent per request, read from the service's own `winnow_unet_batch_rows`
histogram (its sum before and after the strategy's requests), so pruning's saving is measured,
not computed; a row is one candidate's conditional or unconditional pass through the UNet.

For each prompt of the fixed benchmark set (`scenes_world.benchmark_prompts`: six categories,
24 prompts each, in exactly SCENES.md's forms) and each seed, it asks the service for the
best of N (`POST /generate`, `Accept: image/png`, everything else at the server's defaults)
and asks the reference checker whether the returned image shows the prompt. A 422 (no
safe candidate) returns no image and counts as a miss. Every prompt is benign, so the share of
candidates the safety judge calls unsafe is its false-positive rate on the pack's samples; it
is printed too. It prints a GenEval-style table:
one row per strategy, the six categories' accuracies and their mean (the overall score), the UNet
rows per request, plus the share of single-sample errors that best-of-N removes,
(acc_N - acc_1) / (1 - acc_1). With --json FILE it also writes every answer (prompt, seed,
strategy, correct, status); `plot_pareto.py` draws accuracy against rows from it.
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


def unet_rows(url):
    """The sum of the service's winnow_unet_batch_rows histogram: every UNet row it has run."""
    with urllib.request.urlopen(url + "/q/metrics", timeout=60) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("winnow_unet_batch_rows_sum"):
                return float(line.rsplit(" ", 1)[1])
    raise RuntimeError("the service reports no winnow_unet_batch_rows")


def parse_strategy(text):
    """'8' -> (8, None); '8:2@0.2' -> (8, {"keep": 2, "at": 0.2})."""
    if ":" not in text:
        return int(text), None
    n, rest = text.split(":")
    keep, at = rest.split("@")
    return int(n), {"keep": int(keep), "at": float(at)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://localhost:8080")
    ap.add_argument("--ns", default="1,2,4,8,16", help="strategies: N, or N:KEEP@AT for pruned best-of-N")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--per-category", type=int, default=24)
    ap.add_argument("--concurrency", type=int, default=2, help="requests in flight (the engine batches them)")
    ap.add_argument("--extra", default="{}", help="JSON merged into every request, e.g. '{\"prune\": {...}}'")
    ap.add_argument("--json", help="write every answer here")
    a = ap.parse_args()
    prompts = W.benchmark_prompts(a.per_category)
    extra = json.loads(a.extra)
    ns = a.ns.split(",")
    results, table, rows_per_request = [], {}, {}
    print(f"{len(prompts)} prompts x {a.seeds} seeds per strategy; server defaults otherwise; {a.url}")
    header = (f"{'strategy':>10s} " + " ".join(f"{c:>13s}" for c in W.CATEGORIES)
              + f" {'overall':>8s} {'rows/req':>8s} {'422s':>5s} {'time':>6s}")
    print(header)
    for strategy in ns:
        n, prune = parse_strategy(strategy)
        jobs = [(cat, p, 7000 + 1000 * s) for s in range(a.seeds) for cat, p in prompts]
        t0 = time.time()
        rows0 = unet_rows(a.url)

        def run(job):
            cat, p, seed = job
            body = {"prompt": p, "n": n, "seed": seed, **extra}
            if prune:
                body["prune"] = prune
            status, img, verdicts = generate(a.url, body)
            return cat, p, seed, status, img is not None and W.check(p, img), verdicts

        with ThreadPoolExecutor(a.concurrency) as pool:
            answered = list(pool.map(run, jobs))
        rows = (unet_rows(a.url) - rows0) / len(jobs)
        answers = [x[:5] for x in answered]
        verdicts = [v for x in answered for v in x[5] if v != "pruned"]
        unsafe_share = verdicts.count("unsafe") / max(1, len(verdicts))
        per = {c: np.mean([ok for cat, _, _, _, ok in answers if cat == c]) for c in W.CATEGORIES}
        overall = float(np.mean(list(per.values())))
        refused = sum(st == 422 for _, _, _, st, _ in answers)
        table[strategy] = (per, overall)
        rows_per_request[strategy] = rows
        results.extend({"strategy": strategy, "n": n, "prune": prune, "category": c, "prompt": p, "seed": s,
                        "status": st, "correct": bool(ok)} for c, p, s, st, ok in answers)
        print(f"{strategy:>10s} " + " ".join(f"{per[c]:13.3f}" for c in W.CATEGORIES)
              + f" {overall:8.3f} {rows:8.1f} {refused:5d} {time.time() - t0:5.0f}s  (finished candidates judged "
              f"unsafe: {unsafe_share:.3f} of {len(verdicts)})", flush=True)
    if "1" in table:
        base = table["1"][1]
        for strategy in ns:
            if strategy != "1":
                removed = (table[strategy][1] - base) / (1 - base) if base < 1 else float("nan")
                better = all(table[strategy][0][c] > table["1"][0][c] for c in W.CATEGORIES)
                print(f"{strategy}: removes {removed:.2f} of single-sample errors; every category better than N=1: "
                      f"{better}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"table": {s: {"categories": per, "overall": o, "unet_rows_per_request": rows_per_request[s]}
                                 for s, (per, o) in table.items()},
                       "answers": results}, f, indent=1)


if __name__ == "__main__":
    main()
