"""The scenes benchmark: GenEval-style accuracy of the running service, per category and per strategy,
on prompts and seeds chosen so that a figure cannot flatter.

    ./mvnw -B package -DskipTests && java -jar target/quarkus-app/quarkus-run.jar &   # repo root
    python models/tools/bench_scenes.py --ns 1,8,8:2@0.2 --json heldout.json           # held-out prompts
    python models/tools/bench_scenes.py --set tuning --ns 8:2@0.2,8:3@0.3                # to choose defaults on

**Prompts and seeds.** `--set heldout` (the default) asks `scenes_world.heldout_prompts()`, prompts
of the benchmark's grammar and category mix that nothing was tuned or trained on; `--set tuning`
asks `tuning_prompts()`, the ones defaults are chosen on; `--set benchmark` the earlier fixed set
(`benchmark_prompts`, 144 prompts, on which the figures before 2026-12-02 were both tuned and
reported). Every prompt is asked once per seed set (`scenes_world.SEED_SETS[set]`: three bases
1000 apart, so that no two requests share a candidate: a request draws seeds seed .. seed+N-1).

**Strategies.** N (best of N), N:KEEP@AT (pruned: `prune` = {"keep": KEEP, "at": AT}), or N:{...}
with any `prune` object as JSON (N:{} asks for the server's default pruning). For each it asks the
service (`POST /generate`, everything else at the server's defaults) and the reference checker
(`scenes_world.check`) says whether the returned image shows the prompt; a 422 (no safe
candidate) is a miss. Beside the accuracy it reports the UNet rows the service spent per request
(its own `winnow_unet_batch_rows` histogram, before and after), the mean of the service's
`timings_ms` per request (`total`, and `preview`, what judging previews cost), and the
client's wall time.

**Intervals.** Every accuracy has a 95% interval from a cluster bootstrap over prompts (a prompt's
seed sets stay together; categories are resampled separately and the overall score is their
mean, GenEval's). With a reference strategy (`--reference 8`), each strategy's difference from it
gets a paired interval (the same prompts and seeds on both sides), which is the one to read when
asking "within 0.02 of best-of-8".

With `--diversity` every safe candidate's image is fetched and the share of distinct layouts among
a request's candidates is reported (`eval_generator.layout`: each object's shape, colour and
3x3 cell). Every prompt is benign, so the share of finished candidates the safety judge calls
unsafe is its false-positive rate; it is printed too. With --json FILE every answer is written
(prompt, seed, strategy, correct, status, timings, the chosen candidate, each candidate's preview score and
the step it was pruned after); `plot_pareto.py` draws accuracy against rows
and against time from it.
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
    """(status, image or None, candidates, timings_ms, wall seconds). Retries 429/503 (queue full, warming up)."""
    data = json.dumps({**body, "return_candidates": True}).encode()
    for attempt in range(retries):
        req = urllib.request.Request(url + "/generate", data=data, headers={"Content-Type": "application/json"})
        t0 = time.time()
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                doc = json.loads(r.read())
                img = Image.open(io.BytesIO(base64.b64decode(doc["image"]["png_base64"]))).convert("RGB")
                return 200, np.array(img), doc["candidates"], doc.get("timings_ms", {}), time.time() - t0
        except urllib.error.HTTPError as e:
            if e.code == 422:
                problem = json.loads(e.read() or b"{}")
                return 422, None, problem.get("candidates", []), {}, time.time() - t0
            if e.code in (429, 503) and attempt + 1 < retries:
                time.sleep(1 + attempt)
                continue
            raise
    raise RuntimeError("unreachable")


def chosen_index(candidates):
    """The index of the candidate the service returned: the best combined score among the safe ones."""
    safe = [c for c in candidates if c.get("verdict") == "safe" and "combined" in c.get("scores", {})]
    return max(safe, key=lambda c: (c["scores"]["combined"], -c["index"]))["index"] if safe else None


def served_versions(url):
    """What the service says it serves (winnow_model_info / winnow_judge_info lines of /q/metrics)."""
    with urllib.request.urlopen(url + "/q/metrics", timeout=60) as r:
        return sorted(line.split(" ")[0] for line in r.read().decode().splitlines()
                      if line.startswith(("winnow_model_info{", "winnow_judge_info{")))


def unet_rows(url):
    """The sum of the service's winnow_unet_batch_rows histogram: every UNet row it has run."""
    with urllib.request.urlopen(url + "/q/metrics", timeout=60) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("winnow_unet_batch_rows_sum"):
                return float(line.rsplit(" ", 1)[1])
    raise RuntimeError("the service reports no winnow_unet_batch_rows")


def split_strategies(text):
    """'1,8,8:{"at": 0.1, "then": {"at": 0.3}}' -> ['1', '8', '8:{"at": 0.1, "then": {"at": 0.3}}']: commas
    inside a prune object do not separate strategies."""
    out, depth, current = [], 0, ""
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            out.append(current.strip())
            current = ""
        else:
            current += ch
    return out + [current.strip()] if current.strip() else out


def parse_strategy(text):
    """'8' -> (8, None); '8:2@0.2' -> (8, {"keep": 2, "at": 0.2}); '8:{"at": 0.3}' -> (8, {"at": 0.3})."""
    if ":" not in text:
        return int(text), None
    n, rest = text.split(":", 1)
    if rest.startswith("{"):
        return int(n), json.loads(rest)
    keep, at = rest.split("@")
    return int(n), {"keep": int(keep), "at": float(at)}


def prompt_set(name):
    """(category, prompt) pairs and the seed bases of a named set."""
    if name == "heldout":
        return W.heldout_prompts(), W.SEED_SETS["heldout"]
    if name == "tuning":
        return W.tuning_prompts(), W.SEED_SETS["tuning"]
    if name == "benchmark":
        return W.benchmark_prompts(), (7000, 8000)
    raise SystemExit(f"unknown prompt set {name!r}: heldout, tuning or benchmark")


def bootstrap(answers, reps=2000, seed=0, reference=None):
    """95% intervals by a cluster bootstrap over prompts, within each category: {category or 'overall': (lo, hi)}.

    answers: {(category, prompt): [correct per seed set]}; reference: the same for another
    strategy, to bound the paired difference (answers - reference) instead. Categories without
    answers are left out (a run of one category, e.g. relation_probe.py)."""
    rng = np.random.default_rng(seed)
    cats = [c for c in W.CATEGORIES if any(k[0] == c for k in answers)]
    by_cat = {c: [k for k in answers if k[0] == c] for c in cats}
    draws = {c: [] for c in cats}
    for _ in range(reps):
        for c, keys in by_cat.items():
            picked = [keys[i] for i in rng.integers(len(keys), size=len(keys))]
            acc = np.mean([x for k in picked for x in answers[k]])
            if reference is not None:
                acc -= np.mean([x for k in picked for x in reference[k]])
            draws[c].append(acc)
    out = {c: tuple(np.percentile(draws[c], [2.5, 97.5])) for c in cats}
    overall = np.mean([draws[c] for c in cats], axis=0)
    out["overall"] = tuple(np.percentile(overall, [2.5, 97.5]))
    return out


def diversity(candidates):
    """Distinct layouts among a request's safe candidates' images / their number (None with fewer than two)."""
    from eval_generator import layout
    imgs = [np.array(Image.open(io.BytesIO(base64.b64decode(c["png_base64"]))).convert("RGB"))
            for c in candidates if c.get("png_base64")]
    if len(imgs) < 2:
        return None
    return len({layout(x) for x in imgs}) / len(imgs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://localhost:8080")
    ap.add_argument("--ns", default="1,2,4,8,16", help="strategies: N, N:KEEP@AT, or N:{prune JSON}")
    ap.add_argument("--set", default="heldout", help="heldout (default), tuning or benchmark")
    ap.add_argument("--seed-bases", help="comma-separated request seeds per prompt (default: the set's three seed sets)")
    ap.add_argument("--reference", help="a strategy to give every other one a paired difference interval against")
    ap.add_argument("--reference-from", help="a --json FILE of an earlier run (same set and seeds) that holds the "
                                             "--reference strategy's answers, instead of asking for it again")
    ap.add_argument("--diversity", action="store_true", help="fetch safe candidates' images; report distinct layouts")
    ap.add_argument("--concurrency", type=int, default=2, help="requests in flight (the engine batches them)")
    ap.add_argument("--extra", default="{}", help="JSON merged into every request, e.g. '{\"steps\": 30}'")
    ap.add_argument("--json", help="write the table and every answer here")
    ap.add_argument("--limit", type=int, help="only the first LIMIT prompts of each category (a quick look, not a result)")
    a = ap.parse_args()
    prompts, bases = prompt_set(a.set)
    if a.limit:
        prompts = [x for c in W.CATEGORIES for x in [y for y in prompts if y[0] == c][:a.limit]]
    if a.seed_bases:
        bases = tuple(int(x) for x in a.seed_bases.split(","))
    extra = json.loads(a.extra)
    if a.diversity:
        extra["return_candidate_images"] = True
    ns = split_strategies(a.ns)
    results, table, by_prompt, picks = [], {}, {}, {}
    print(f"{a.set}: {len(prompts)} prompts x seed sets {list(bases)} per strategy; server defaults otherwise; {a.url}")
    print(f"{'strategy':>16s} " + " ".join(f"{c:>13s}" for c in W.CATEGORIES)
          + f" {'overall [95% CI]':>22s} {'rows/req':>8s} {'total ms':>8s} {'preview':>7s} {'wall s':>6s} {'422s':>4s}")
    for strategy in ns:
        n, prune = parse_strategy(strategy)
        jobs = [(cat, p, base) for base in bases for cat, p in prompts]
        t0 = time.time()
        rows0 = unet_rows(a.url)

        def run(job):
            cat, p, seed = job
            body = {"prompt": p, "n": n, "seed": seed, **extra}
            if prune is not None:
                body["prune"] = prune
            status, img, candidates, timings, wall = generate(a.url, body)
            return {"category": cat, "prompt": p, "seed": seed, "status": status,
                    "correct": bool(img is not None and W.check(p, img)), "timings_ms": timings, "wall_s": wall,
                    "verdicts": [c.get("verdict") for c in candidates],
                    "chosen": chosen_index(candidates),
                    "preview": [c.get("scores", {}).get("preview") for c in candidates],
                    "pruned_at_step": [c.get("pruned_at_step") for c in candidates],
                    "diversity": diversity(candidates) if a.diversity else None}

        with ThreadPoolExecutor(a.concurrency) as pool:
            answered = list(pool.map(run, jobs))
        rows = (unet_rows(a.url) - rows0) / len(jobs)
        grouped = {}
        for x in answered:
            grouped.setdefault((x["category"], x["prompt"]), []).append(x["correct"])
        by_prompt[strategy] = grouped
        picks[strategy] = {(x["prompt"], x["seed"]): x for x in answered}
        per = {c: float(np.mean([x["correct"] for x in answered if x["category"] == c])) for c in W.CATEGORIES}
        overall = float(np.mean(list(per.values())))
        ci = bootstrap(grouped)
        verdicts = [v for x in answered for v in x["verdicts"] if v != "pruned"]
        mean = lambda key: float(np.mean([x["timings_ms"].get(key, 0) for x in answered]))
        divs = [x["diversity"] for x in answered if x["diversity"] is not None]
        row = {"categories": per, "overall": overall, "ci95": ci, "unet_rows_per_request": rows,
               "total_ms": mean("total"), "preview_ms": mean("preview"),
               "wall_s": float(np.mean([x["wall_s"] for x in answered])),
               "refused_422": sum(x["status"] == 422 for x in answered),
               "unsafe_share": verdicts.count("unsafe") / max(1, len(verdicts)),
               "diversity": float(np.mean(divs)) if divs else None, "requests": len(jobs)}
        table[strategy] = row
        results.extend({"strategy": strategy, "n": n, "prune": prune, **x} for x in answered)
        print(f"{strategy:>16s} " + " ".join(f"{per[c]:13.3f}" for c in W.CATEGORIES)
              + f" {overall:6.3f} [{ci['overall'][0]:.3f}, {ci['overall'][1]:.3f}] {rows:8.1f} {row['total_ms']:8.0f}"
              f" {row['preview_ms']:7.0f} {row['wall_s']:6.2f} {row['refused_422']:4d}  ({time.time() - t0:.0f} s;"
              f" unsafe {row['unsafe_share']:.3f} of {len(verdicts)} finished"
              + (f"; diversity {row['diversity']:.3f}" if divs else "") + ")", flush=True)
    print("\nper category, 95% intervals (cluster bootstrap over prompts):")
    for strategy, row in table.items():
        print(f"{strategy:>16s} " + " ".join(f"[{row['ci95'][c][0]:.2f},{row['ci95'][c][1]:.2f}]" for c in W.CATEGORIES))
    if a.reference and a.reference_from and a.reference not in table:
        with open(a.reference_from) as f:
            earlier = json.load(f)
        if earlier["set"] != a.set or earlier["seed_bases"] != list(bases):
            raise SystemExit(f"{a.reference_from}: set {earlier['set']} seeds {earlier['seed_bases']}, not {a.set} {list(bases)}")
        table[a.reference] = earlier["table"][a.reference]
        ref_answers = [x for x in earlier["answers"] if x["strategy"] == a.reference]
        by_prompt[a.reference] = {}
        for x in ref_answers:
            by_prompt[a.reference].setdefault((x["category"], x["prompt"]), []).append(x["correct"])
        picks[a.reference] = {(x["prompt"], x["seed"]): x for x in ref_answers}
    if a.reference and a.reference in table:
        print(f"\ndifference from {a.reference} (paired: same prompts and seeds), 95% intervals:")
        ref = by_prompt[a.reference]
        for strategy, row in table.items():
            if strategy == a.reference:
                continue
            d = bootstrap(by_prompt[strategy], reference=ref)
            diff = {c: row["categories"][c] - table[a.reference]["categories"][c] for c in W.CATEGORIES}
            row["vs_reference"] = {"strategy": a.reference, "diff": diff,
                                   "overall_diff": row["overall"] - table[a.reference]["overall"], "ci95": d,
                                   "rows_share": row["unet_rows_per_request"] / table[a.reference]["unet_rows_per_request"],
                                   "total_ms_share": row["total_ms"] / max(1e-9, table[a.reference]["total_ms"])}
            # With the same n: how often the reference's pick survived pruning (a paired, low-noise recall).
            ref_picks = picks[a.reference]
            survived = [picks[strategy][k]["verdicts"][r["chosen"]] != "pruned" for k, r in ref_picks.items()
                        if r["chosen"] is not None and k in picks[strategy]
                        and len(picks[strategy][k]["verdicts"]) == len(r["verdicts"])]
            row["vs_reference"]["kept_reference_pick"] = float(np.mean(survived)) if survived else None
            v = row["vs_reference"]
            print(f"{strategy:>16s} overall {v['overall_diff']:+.3f} [{d['overall'][0]:+.3f}, {d['overall'][1]:+.3f}]; "
                  + ", ".join(f"{c} {diff[c]:+.3f} [{d[c][0]:+.2f},{d[c][1]:+.2f}]" for c in W.CATEGORIES)
                  + f"; rows x{v['rows_share']:.2f}, service time x{v['total_ms_share']:.2f}"
                  + (f"; kept {a.reference}'s pick {v['kept_reference_pick']:.3f}" if survived else ""))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"set": a.set, "seed_bases": list(bases), "served": served_versions(a.url), "table": table,
                       "answers": results}, f, indent=1)


if __name__ == "__main__":
    main()
