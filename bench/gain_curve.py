#!/usr/bin/env python3
"""What each extra candidate buys: the gain curve of best-of-N, from the judges' own scores.

    python3 bench/gain_curve.py --url http://localhost:8080 --n 8 --prompts prompts.txt
    python3 bench/gain_curve.py --n 16 --prompt "a red circle" --prompt "two blue squares" --seeds 4 --latency 1,2,4,8,16
    python3 bench/gain_curve.py --self-test

It works with any pack and judges the service has loaded, real models included, where no
reference checker says which image is right: it asks the running service for N candidates per
prompt and seed (`POST /generate` with `return_candidates`, no pruning) and reads every
candidate's verdict and scores. From one N-candidate answer the expected outcome of best-of-k,
for every k <= N, follows exactly: best-of-k picks the highest combined score among k of the
candidates, and each k-subset of the N is equally likely (candidate i's seed is seed + i, and
seeds are arbitrary). With the safe candidates' combined scores sorted, s_1 >= s_2 >= ... >= s_m,
and the N - m unsafe candidates below them all (they are never chosen):

    P(best-of-k chooses the i-th)   = C(N - i, k - 1) / C(N, k)
    P(best-of-k has no safe image)  = C(N - m, k) / C(N, k)
    E[combined of the chosen | k]   = sum_i s_i * P(chooses the i-th) / (1 - P(no safe image))

(the second is the 422 rate of a k-candidate request). The same weights give the expected value
of each score of the chosen image (faithfulness, aesthetic, ...). Averaged over the prompts and
seeds, the table shows how much each extra candidate buys and where the curve flattens; with
--latency it also times k-candidate requests (median of --latency-requests each), so an operator
can pick N for a latency budget. Python 3.8+ standard library only.
"""
from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import sys
import time
import urllib.error
import urllib.request
from math import comb

DEFAULT_PROMPTS = [
    "a red circle to the left of a blue square",
    "two green triangles",
    "a photo of a yellow square and a purple circle",
    "a big blue circle on a white background",
]


def best_of_k(candidates, k):
    """Exact expectations for best-of-k drawn from these N candidates.

    candidates: one dict per candidate, {"safe": bool, "scores": {name: value}} with a "combined"
    score for safe ones. Returns (P(no safe image), {score name: E[score of the chosen | a safe one
    is chosen]}), or (1.0, {}) when no candidate is safe.
    """
    n = len(candidates)
    safe = sorted((c for c in candidates if c["safe"]), key=lambda c: -c["scores"]["combined"])
    m = len(safe)
    total = comb(n, k)
    none_safe = comb(n - m, k) / total
    if m == 0:
        return 1.0, {}
    names = set.intersection(*(set(c["scores"]) for c in safe))
    expected = dict.fromkeys(names, 0.0)
    for i, c in enumerate(safe, start=1):
        p = comb(n - i, k - 1) / total  # the i-th best is in the subset and the i - 1 above it are not
        for name in names:
            expected[name] += p * c["scores"][name]
    return none_safe, {name: v / (1 - none_safe) for name, v in expected.items()}


def brute_force(candidates, k):
    """best_of_k by enumerating every k-subset (for the self-test)."""
    subsets = list(itertools.combinations(range(len(candidates)), k))
    chosen = []
    for s in subsets:
        safe = [candidates[i] for i in s if candidates[i]["safe"]]
        if safe:
            chosen.append(max(safe, key=lambda c: c["scores"]["combined"]))
    none_safe = 1 - len(chosen) / len(subsets)
    if not chosen:
        return 1.0, {}
    names = set.intersection(*(set(c["scores"]) for c in candidates if c["safe"]))
    return none_safe, {name: sum(c["scores"][name] for c in chosen) / len(chosen) for name in names}


def self_test():
    rng = random.Random(7)
    cases = 0
    for _ in range(300):
        n = rng.randint(1, 8)
        cands = []
        for _ in range(n):
            safe = rng.random() > 0.25
            scores = {"combined": round(rng.random(), 6), "aesthetic": rng.random()} if safe else {}
            cands.append({"safe": safe, "scores": scores})
        for k in range(1, n + 1):
            exact, brute = best_of_k(cands, k), brute_force(cands, k)
            assert abs(exact[0] - brute[0]) < 1e-12, (cands, k, exact, brute)
            assert exact[1].keys() == brute[1].keys()
            for name in exact[1]:
                assert abs(exact[1][name] - brute[1][name]) < 1e-9, (cands, k, name, exact, brute)
            cases += 1
    # best-of-1 is the plain average of the safe candidates; best-of-N is the best one
    cands = [{"safe": True, "scores": {"combined": v}} for v in (0.2, 0.9, 0.4)]
    assert abs(best_of_k(cands, 1)[1]["combined"] - 0.5) < 1e-12
    assert abs(best_of_k(cands, 3)[1]["combined"] - 0.9) < 1e-12
    print(f"gain_curve self-test: exact expectations equal enumeration over every subset in {cases} cases")


def post(url, body, timeout=600, retries=20):
    data = json.dumps(body).encode()
    for attempt in range(retries):
        req = urllib.request.Request(url + "/generate", data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return 200, json.loads(r.read())
        except urllib.error.HTTPError as e:
            if e.code == 422:
                return 422, json.loads(e.read() or b"{}")
            if e.code in (429, 503) and attempt + 1 < retries:
                time.sleep(1 + attempt)
                continue
            raise
    raise RuntimeError("the service stayed busy")


def candidates_of(doc):
    """The answer's candidates as best_of_k wants them (a 422's problem lists them too)."""
    out = []
    for c in doc.get("candidates") or []:
        scores = {k: v for k, v in (c.get("scores") or {}).items() if v is not None and k != "unsafe_probability"}
        out.append({"safe": c.get("verdict") == "safe" and "combined" in scores, "scores": scores})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://localhost:8080")
    ap.add_argument("--n", type=int, default=8, help="candidates per request (N); the curve runs k = 1..N")
    ap.add_argument("--prompts", help="a file with one prompt per line (default: a few scenes prompts)")
    ap.add_argument("--prompt", action="append", default=[], help="a prompt (repeatable)")
    ap.add_argument("--seeds", type=int, default=3, help="requests per prompt (seeds 1000, 2000, ...)")
    ap.add_argument("--extra", default="{}", help="JSON merged into every request, e.g. '{\"steps\": 30}'")
    ap.add_argument("--latency", default="", help="also time k-candidate requests for these k, e.g. 1,2,4,8")
    ap.add_argument("--latency-requests", type=int, default=3)
    ap.add_argument("--json", help="write the curve here")
    ap.add_argument("--self-test", action="store_true", help="check the exact formulas against enumeration, then exit")
    a = ap.parse_args()
    if a.self_test:
        self_test()
        return
    prompts = list(a.prompt)
    if a.prompts:
        with open(a.prompts, encoding="utf-8") as f:
            prompts += [line.strip() for line in f if line.strip()]
    prompts = prompts or DEFAULT_PROMPTS
    extra = json.loads(a.extra)
    answers = []
    t0 = time.time()
    for p in prompts:
        for s in range(a.seeds):
            status, doc = post(a.url, {**extra, "prompt": p, "n": a.n, "seed": 1000 * (s + 1), "return_candidates": True})
            cands = candidates_of(doc)
            if len(cands) != a.n:
                sys.exit(f"the service answered {status} without {a.n} candidates for {p!r}: {json.dumps(doc)[:300]}")
            answers.append(cands)
    print(f"{len(answers)} requests of N = {a.n} ({len(prompts)} prompts x {a.seeds} seeds) in {time.time() - t0:.0f} s; "
          f"{a.url}")
    names = sorted(set.intersection(*(set(c["scores"]) for cands in answers for c in cands if c["safe"]))
                   - {"combined", "preview"})
    latency = {}
    for k in [int(x) for x in a.latency.split(",") if x.strip()]:
        times = []
        for r in range(a.latency_requests):
            t = time.time()
            post(a.url, {**extra, "prompt": prompts[r % len(prompts)], "n": k, "seed": 99_000 + r})
            times.append(time.time() - t)
        latency[k] = statistics.median(times)
    curve = []
    for k in range(1, a.n + 1):
        rows = [best_of_k(cands, k) for cands in answers]
        with_image = [e for none, e in rows if e]
        row = {"k": k, "no_safe_image": statistics.mean(none for none, _ in rows)}
        for name in ["combined"] + names:
            # a request whose N candidates were all unsafe says nothing about scores
            row[name] = statistics.mean(e[name] for e in with_image) if with_image else float("nan")
        curve.append(row)
    base, top = curve[0]["combined"], curve[-1]["combined"]
    head = f"{'k':>3s} {'E[combined]':>12s} {'gain':>8s} {'of N gain':>9s} {'422 rate':>9s}" + "".join(
        f" {n:>13s}" for n in names) + (f" {'p50 latency':>12s}" if latency else "")
    print("expected outcome of best-of-k (the chosen image's scores; the gain is over k = 1):")
    print(head)
    for row in curve:
        share = (row["combined"] - base) / (top - base) if top > base else float("nan")
        line = (f"{row['k']:3d} {row['combined']:12.4f} {row['combined'] - base:+8.4f} {share:9.2f} "
                f"{row['no_safe_image']:9.3f}" + "".join(f" {row[n]:13.4f}" for n in names))
        if latency:
            line += f" {latency[row['k']]:11.2f}s" if row["k"] in latency else f" {'':>12s}"
        print(line)
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"n": a.n, "requests": len(answers), "prompts": prompts, "curve": curve,
                       "latency_seconds": latency}, f, indent=1)


if __name__ == "__main__":
    main()
