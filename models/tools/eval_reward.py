"""Held-out evaluation of a reward judge learned from people's picks, against the person and on the service.

    # the service serving the old aesthetic judge:
    python models/tools/eval_reward.py collect --url http://localhost:8091 --out EVAL/before
    # ... swap the new judge in live (flip winnow.judges.aesthetic.path), then the same requests:
    python models/tools/eval_reward.py collect --url http://localhost:8091 --out EVAL/after --expect-aesthetic v2-people
    python models/tools/eval_reward.py report EVAL/before EVAL/after \\
        --judge old=models/judges/aesthetic-scenes --judge new=JUDGE_DIR --json EVAL/report.json --readme JUDGE_DIR

**Requests.** Every held-out prompt (`scenes_world.heldout_prompts()`: never trained, tuned or
picked on) at every held-out seed set (`scenes_world.SEED_SETS["heldout"]`; the annotator's picks
use 500000+), N candidates each (default 8), everything else at the service's defaults. `collect`
keeps each request's safe candidates' images, their scores as the service returned them, the
returned image and the judges' versions (`records.jsonl` + `images.npy`).

**Agreement with the person (`report`).** Pairs: every two different-looking safe candidates of a
request. The scripted person (`annotator.py`, for evaluation only) labels each pair once, with
their noise (a seeded Bradley-Terry choice); a judge agrees when it scores the person's choice
higher (ties count half). Besides the realised agreement: the expected one over the person's
noise (`sigmoid(du/T)` averaged), agreement with the person's noiseless order, and the person's
own ceiling and repeatability on the same pairs. Judges run in onnxruntime from their folders
(`--judge NAME=DIR`); the service's own scores are checked to order pairs as the folders do.

**The service's pick, before and after.** The same requests before and after the swap return the
same candidates (same seeds and pipeline version; checked) and maybe a different pick. Per request
the person compares the two returned images: a tie when they are the same image, else a (noisy)
choice; reported as wins/ties/losses of the new pick, with the noiseless comparison too. The
faithfulness of both picks is measured by the reference checker (`scenes_world.check`, for
evaluation only), per category and GenEval's mean of categories.

**Intervals.** 95%, cluster bootstrap over prompts (a prompt's seed sets and pairs stay together;
prompts resampled within their category), 2000 resamples; differences are paired.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import annotator as A
import scenes_world as W

CATS = W.CATEGORIES


# ---------------------------------------------------------------- collect
def cmd_collect(a) -> None:
    prompts = W.heldout_prompts() if a.set == "heldout" else W.tuning_prompts()
    jobs = [(cat, p, s) for cat, p in prompts for s in W.SEED_SETS[a.set]]
    if a.limit:
        jobs = jobs[: a.limit]
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    done = [0]

    def one(job):
        g = A.generate(a.url, job[1], a.n, job[2])
        done[0] += 1
        if done[0] % 40 == 0:
            print(f"{done[0]}/{len(jobs)} requests, {time.time() - t0:.0f}s", flush=True)
        return g

    with ThreadPoolExecutor(a.concurrency) as pool:
        gens = list(pool.map(one, jobs))
    images = np.zeros((len(jobs), a.n + 1, W_S, W_S, 3), np.uint8)  # [request, candidate index | returned]
    with open(os.path.join(a.out, "records.jsonl"), "w") as f:
        for k, ((cat, p, s), g) in enumerate(zip(jobs, gens)):
            rec = {"k": k, "category": cat, "prompt": p, "seed": s, "n": a.n}
            if g is None:
                rec.update(status=422)
            else:
                for c in g["candidates"]:
                    images[k, c["index"]] = c["image"]
                images[k, a.n] = g["image"]
                rec.update(status=200, chosen=g["chosen"], safe=[c["index"] for c in g["candidates"]],
                           scores={str(c["index"]): c["scores"] for c in g["candidates"]},
                           model_version=g["model_version"], judges=g["judges"])
            f.write(json.dumps(rec) + "\n")
    np.save(os.path.join(a.out, "images.npy"), images)
    served = {json.dumps(g["judges"].get("aesthetic"), sort_keys=True) for g in gens if g}
    print(f"{len(jobs)} requests in {time.time() - t0:.0f}s; aesthetic judge served: {served}", flush=True)
    if a.expect_aesthetic and any(g and g["judges"]["aesthetic"]["version"] != a.expect_aesthetic for g in gens):
        raise SystemExit(f"not every request was ranked by aesthetic version {a.expect_aesthetic}: {served}")


W_S = 64


def load(folder):
    recs = [json.loads(l) for l in open(os.path.join(folder, "records.jsonl"))]
    return recs, np.load(os.path.join(folder, "images.npy"))


# ---------------------------------------------------------------- judges
class Judge:
    """A score judge from its folder (judge.json + model.onnx), fed as the service feeds it (64x64, no resize)."""

    def __init__(self, folder):
        import onnxruntime as ort
        self.meta = json.load(open(os.path.join(folder, "judge.json")))
        ii = self.meta["image_input"]
        assert ii["layout"] == "NCHW" and ii["width"] == W_S and ii["height"] == W_S, ii
        self.lo, self.hi = ii["range"]
        self.mean, self.std = np.array(ii["mean"])[:, None, None], np.array(ii["std"])[:, None, None]
        self.name, self.version = self.meta["name"], self.meta.get("winnow_version")
        self.sess = ort.InferenceSession(os.path.join(folder, self.meta.get("model", "model.onnx")),
                                         providers=["CPUExecutionProvider"])
        self.inp, self.out = ii["name"], self.meta["output"]["name"]

    def scores(self, imgs: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(imgs), 256):
            x = imgs[i:i + 256].astype(np.float32).transpose(0, 3, 1, 2) / 255.0
            x = ((self.lo + x * (self.hi - self.lo)) - self.mean) / self.std
            out.append(self.sess.run([self.out], {self.inp: x.astype(np.float32)})[0])
        return np.concatenate(out).reshape(-1)


# ---------------------------------------------------------------- statistics
def bootstrap(per_prompt: dict, stat, reps: int = 2000, seed: int = 0):
    """95% interval of stat(list of per-prompt records) resampling prompts within their category."""
    rng = np.random.default_rng(seed)
    by_cat = {}
    for key, rec in per_prompt.items():
        by_cat.setdefault(rec["category"], []).append(key)
    vals = []
    for _ in range(reps):
        sample = [per_prompt[keys[i]] for keys in by_cat.values() for i in rng.integers(len(keys), size=len(keys))]
        vals.append(stat(sample))
    lo, hi = np.nanpercentile(vals, [2.5, 97.5])
    return [round(float(lo), 4), round(float(hi), 4)]


def ratio(field_num, field_den):
    return lambda recs: sum(r[field_num] for r in recs) / max(sum(r[field_den] for r in recs), 1e-12)


def geneval(field):
    """GenEval's overall: the mean over categories of the share of requests right."""
    def f(recs):
        per = {}
        for r in recs:
            n, d = per.get(r["category"], (0.0, 0))
            per[r["category"]] = (n + r[field], d + r["requests"])
        return float(np.mean([n / d for n, d in per.values() if d]))
    return f


# ---------------------------------------------------------------- report
def cmd_report(a) -> None:
    t0 = time.time()
    recs_b, imgs_b = load(a.before)
    recs_a, imgs_a = load(a.after) if a.after else (None, None)
    judges = {}
    for spec in a.judge:
        name, folder = spec.split("=", 1)
        judges[name] = Judge(folder)
    per_prompt = {}
    utils_cache = {}

    def util(img):
        key = img.tobytes()
        if key not in utils_cache:
            utils_cache[key] = A.utility(img)
        return utils_cache[key]

    # --- pairs of candidates, labelled by the person
    n_pairs = 0
    same_candidates = True
    judge_scores = {name: {} for name in judges}
    for rb in recs_b:
        if rb["status"] != 200:
            continue
        k = rb["k"]
        safe = rb["safe"]
        cand = imgs_b[k, safe]
        if recs_a is not None:
            ra = recs_a[k]
            assert ra["prompt"] == rb["prompt"] and ra["seed"] == rb["seed"]
            if ra["status"] != 200 or ra["safe"] != safe or not np.array_equal(imgs_a[k, safe], cand):
                same_candidates = False
        us = np.array([util(im) for im in cand])
        sc = {name: j.scores(cand) for name, j in judges.items()}
        for name in judges:
            judge_scores[name][k] = sc[name]
        rng = np.random.default_rng([a.label_seed, k])
        pr = per_prompt.setdefault(rb["prompt"], {"category": rb["category"], "pairs": 0, "requests": 0,
                                                  "ceiling": 0.0, "repeat": 0.0, "label_vs_order": 0.0,
                                                  **{f"{n}_{m}": 0.0 for n in list(judges) + ["service_before", "service_after"]
                                                     for m in ("agree", "expected", "noiseless")}})
        pr["requests"] += 1
        svc = {"service_before": [rb["scores"][str(i)].get("aesthetic", np.nan) for i in safe]}
        if recs_a is not None and recs_a[k]["status"] == 200:
            svc["service_after"] = [recs_a[k]["scores"][str(i)].get("aesthetic", np.nan) for i in recs_a[k]["safe"]]
        for i, j in itertools.combinations(range(len(safe)), 2):
            if np.array_equal(cand[i], cand[j]):
                continue
            p_i = A.p_prefers(us[i], us[j])
            label_i = rng.random() < p_i  # the person's choice: i over j?
            du = us[i] - us[j]
            pr["pairs"] += 1
            pr["ceiling"] += max(p_i, 1 - p_i)
            pr["repeat"] += p_i * p_i + (1 - p_i) * (1 - p_i)
            pr["label_vs_order"] += 0.5 if du == 0 else float(label_i == (du > 0))
            for name, s in list(sc.items()) + list(svc.items()):
                d = s[i] - s[j]
                pr[f"{name}_agree"] += 0.5 if d == 0 else float(label_i == (d > 0))
                pr[f"{name}_expected"] += 0.5 if d == 0 else (p_i if d > 0 else 1 - p_i)
                pr[f"{name}_noiseless"] += 0.5 if d == 0 or du == 0 else float((d > 0) == (du > 0))
            n_pairs += 1
    recs = list(per_prompt.values())
    report = {"requests": sum(r["requests"] for r in recs), "prompts": len(recs), "pairs": n_pairs,
              "annotator": {"temperature": A.TEMPERATURE, "weights": A.WEIGHTS,
                            "ceiling": round(ratio("ceiling", "pairs")(recs), 4),
                            "ceiling_ci": bootstrap(per_prompt, ratio("ceiling", "pairs")),
                            "repeatability": round(ratio("repeat", "pairs")(recs), 4),
                            "labels_agree_with_noiseless_order": round(ratio("label_vs_order", "pairs")(recs), 4)},
              "agreement": {}}
    names = list(judges) + ["service_before"] + (["service_after"] if recs_a is not None else [])
    for name in names:
        entry = {}
        for m in ("agree", "expected", "noiseless"):
            f = ratio(f"{name}_{m}", "pairs")
            entry[m] = round(f(recs), 4)
            entry[f"{m}_ci"] = bootstrap(per_prompt, f)
        if name in judges:
            entry["judge"] = f"{judges[name].name} {judges[name].version}"
        report["agreement"][name] = entry
    if len(judges) >= 2:
        n0, n1 = list(judges)[:2]
        f = lambda rs: ratio(f"{n1}_agree", "pairs")(rs) - ratio(f"{n0}_agree", "pairs")(rs)
        report["agreement"][f"{n1}_minus_{n0}"] = {"agree": round(f(recs), 4), "agree_ci": bootstrap(per_prompt, f)}
    per_cat = {}
    for c in CATS:
        rc = [r for r in recs if r["category"] == c]
        if rc:
            per_cat[c] = {name: round(ratio(f"{name}_agree", "pairs")(rc), 4) for name in judges}
            per_cat[c]["pairs"] = sum(r["pairs"] for r in rc)
    report["agreement_by_category"] = per_cat

    # --- the service's pick before and after
    if recs_a is not None:
        report["same_candidates_before_and_after"] = same_candidates
        report["served"] = {"before": sorted({json.dumps(r["judges"].get("aesthetic")) for r in recs_b if r["status"] == 200}),
                            "after": sorted({json.dumps(r["judges"].get("aesthetic")) for r in recs_a if r["status"] == 200})}
        picks = {}
        for rb, ra in zip(recs_b, recs_a):
            pp = picks.setdefault(rb["prompt"], {"category": rb["category"], "requests": 0, "win": 0, "tie": 0, "loss": 0,
                                                 "win_nl": 0, "tie_nl": 0, "loss_nl": 0, "expected_win": 0.0,
                                                 "faith_before": 0, "faith_after": 0, "changed": 0})
            pp["requests"] += 1
            k = rb["k"]
            ib = imgs_b[k, rb["n"]] if rb["status"] == 200 else None
            ia = imgs_a[k, ra["n"]] if ra["status"] == 200 else None
            pp["faith_before"] += int(ib is not None and W.check(rb["prompt"], ib))
            pp["faith_after"] += int(ia is not None and W.check(ra["prompt"], ia))
            if ib is None or ia is None or np.array_equal(ib, ia):
                pp["tie"] += 1
                pp["tie_nl"] += 1
                pp["expected_win"] += 0.5
                continue
            pp["changed"] += 1
            ua, ub = util(ia), util(ib)
            p = A.p_prefers(ua, ub)
            new_wins = np.random.default_rng([a.label_seed, 1, k]).random() < p
            pp["win" if new_wins else "loss"] += 1
            pp["expected_win"] += p
            pp["win_nl" if ua > ub else "loss_nl" if ua < ub else "tie_nl"] += 1
        pr = list(picks.values())
        tot = {f: sum(r[f] for r in pr) for f in ("requests", "win", "tie", "loss", "win_nl", "tie_nl", "loss_nl", "changed")}
        decided = lambda rs: sum(r["win"] for r in rs) / max(sum(r["win"] + r["loss"] for r in rs), 1)
        score = lambda rs: (sum(r["win"] for r in rs) + 0.5 * sum(r["tie"] for r in rs)) / sum(r["requests"] for r in rs)
        report["new_pick_vs_old_pick"] = {
            **tot,
            "win_share": round(tot["win"] / tot["requests"], 4), "win_share_ci": bootstrap(picks, ratio("win", "requests")),
            "tie_share": round(tot["tie"] / tot["requests"], 4),
            "loss_share": round(tot["loss"] / tot["requests"], 4), "loss_share_ci": bootstrap(picks, ratio("loss", "requests")),
            "prefers_new_when_different": round(decided(pr), 4), "prefers_new_when_different_ci": bootstrap(picks, decided),
            "win_plus_half_tie": round(score(pr), 4), "win_plus_half_tie_ci": bootstrap(picks, score),
            "expected_win_plus_half_tie": round(sum(r["expected_win"] for r in pr) / tot["requests"], 4),
            "noiseless_prefers_new_when_different": round(tot["win_nl"] / max(tot["win_nl"] + tot["loss_nl"], 1), 4),
        }
        fb, fa = geneval("faith_before"), geneval("faith_after")
        report["faithfulness_of_pick"] = {
            "before": round(fb(pr), 4), "before_ci": bootstrap(picks, fb),
            "after": round(fa(pr), 4), "after_ci": bootstrap(picks, fa),
            "after_minus_before": round(fa(pr) - fb(pr), 4),
            "after_minus_before_ci": bootstrap(picks, lambda rs: fa(rs) - fb(rs)),
            "by_category": {c: {"before": round(sum(r["faith_before"] for r in pr if r["category"] == c) /
                                                max(sum(r["requests"] for r in pr if r["category"] == c), 1), 4),
                                "after": round(sum(r["faith_after"] for r in pr if r["category"] == c) /
                                               max(sum(r["requests"] for r in pr if r["category"] == c), 1), 4)}
                            for c in CATS if any(r["category"] == c for r in pr)},
            "checker": "scenes_world.check (reference checker, evaluation only); GenEval mean over categories",
        }
    report["seconds"] = round(time.time() - t0, 1)
    text = json.dumps(report, indent=2)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    if a.readme:
        update_readme(a, report)


MARK = "<!-- eval_reward.py -->"


def update_readme(a, r) -> None:
    path = os.path.join(a.readme, "README.md")
    body = open(path).read().split(MARK)[0].rstrip() + "\n\n" + MARK + "\n"
    ag = r["agreement"]
    rows = "\n".join(
        f"| {e.get('judge', name)} | **{e['agree']:.4f}** [{e['agree_ci'][0]:.4f}, {e['agree_ci'][1]:.4f}] | "
        f"{e['expected']:.4f} | {e['noiseless']:.4f} |"
        for name, e in ag.items() if "expected" in e)
    an = r["annotator"]
    text = f"""## Held-out evaluation (`eval_reward.py`)

{r['requests']} requests: the {r['prompts']} held-out prompts x seed sets {list(W.SEED_SETS['heldout'])}, N =
{a.n_label} candidates each, {r['pairs']} pairs of different-looking candidates, each labelled once by the
scripted person (their ceiling on these pairs {an['ceiling']:.4f}, repeatability {an['repeatability']:.4f}).
Agreement with the person's choices, 95% cluster-bootstrap interval over prompts:

| judge | agreement (bar 0.85) | expected over the person's noise | with their noiseless order |
| --- | --- | --- | --- |
{rows}
"""
    if "new_pick_vs_old_pick" in r:
        w, fa = r["new_pick_vs_old_pick"], r["faithfulness_of_pick"]
        text += f"""
The service's pick after the live swap against its pick before, for the same requests (same
candidates: {r['same_candidates_before_and_after']}), as the person judges them: new pick preferred
{w['win']}, same image {w['tie']}, old pick preferred {w['loss']} of {w['requests']}; where the picks
differ the person prefers the new one {w['prefers_new_when_different']:.4f}
[{w['prefers_new_when_different_ci'][0]:.4f}, {w['prefers_new_when_different_ci'][1]:.4f}] (noiseless
{w['noiseless_prefers_new_when_different']:.4f}). Faithfulness of the pick (reference checker, GenEval
mean over categories): before {fa['before']:.4f} [{fa['before_ci'][0]:.4f}, {fa['before_ci'][1]:.4f}],
after {fa['after']:.4f} [{fa['after_ci'][0]:.4f}, {fa['after_ci'][1]:.4f}], difference
{fa['after_minus_before']:+.4f} [{fa['after_minus_before_ci'][0]:+.4f}, {fa['after_minus_before_ci'][1]:+.4f}].
"""
    with open(path, "w") as f:
        f.write(body + text)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--url", default="http://localhost:8091")
    c.add_argument("--out", required=True)
    c.add_argument("--n", type=int, default=8)
    c.add_argument("--set", choices=("heldout", "tuning"), default="heldout")
    c.add_argument("--concurrency", type=int, default=2)
    c.add_argument("--limit", type=int, default=0, help="first K requests only (smoke tests)")
    c.add_argument("--expect-aesthetic", help="fail unless every request was ranked by this aesthetic version")
    r = sub.add_parser("report")
    r.add_argument("before")
    r.add_argument("after", nargs="?")
    r.add_argument("--judge", action="append", default=[], help="NAME=JUDGE_DIR (the first two are compared)")
    r.add_argument("--label-seed", type=int, default=2727)
    r.add_argument("--json")
    r.add_argument("--readme", help="a judge folder whose README.md gets the figures")
    a = ap.parse_args(argv)
    if a.cmd == "collect":
        cmd_collect(a)
    else:
        a.n_label = json.loads(open(os.path.join(a.before, "records.jsonl")).readline())["n"]
        cmd_report(a)


if __name__ == "__main__":
    main()
