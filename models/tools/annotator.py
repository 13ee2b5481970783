"""A scripted person who makes picks on the running service, with a documented hidden taste.

    python models/tools/annotator.py pick    --url http://localhost:8091 --picks 1500 --log picks.jsonl
    python models/tools/annotator.py measure --url http://localhost:8091 --requests 150

**The taste ("dusk and thirds").** The person looks at a picture (`scenes_world.read_image` is
their eyes: the border's colour is the background, objects are what stands out from it) and
likes, with a utility `u = sum(weight * part)`:

| part | weight | what it is |
|---|---|---|
| `dark` | +2.0 | how dark the background is: 1 - luminance / 255 (black 0.94, gray 0.50, white 0.04) |
| `warm` | +1.5 | the share of the objects' area in warm colours (red, orange, yellow) |
| `thirds` | +2.0 | the rule of thirds: how near the main (largest) object's centre is to the nearest of the four thirds points (1/3 or 2/3 across and down): 1 on a point, 0 at the canvas centre (0.236 away) or further |
| `empty` | -1.0 | nothing to look at: no object read at all |

It is a moody, off-centre taste, and today's `aesthetic-scenes` judge was trained on a different
person (contrast, a balanced centre of mass, room, crisp): on candidates of training prompts
`measure` finds that judge agreeing with this taste's order on about half of the pairs (docs/QUALITY.md,
"The reward model from people's picks", and the people's judge README give the measured figure).

**The noise.** Shown k candidates with utilities u_1..u_k, the person picks i with probability
`exp(u_i / T) / sum_j exp(u_j / T)`, T = 0.1 (multinomial logit; for two pictures it is exactly
Bradley-Terry, `sigmoid((u_a - u_b) / T)`). Their own ceiling on a set of pairs is the mean of
`sigmoid(|u_a - u_b| / T)` (how often a label agrees with the noiseless order) and their
repeatability the chance that two labels of one pair agree; `measure` prints both.

**`pick`** asks the service (`POST /generate`, N candidates, `return_candidate_images`) on training
prompts only (`scenes_world.training_prompt`: never a held-out prompt) at seeds
`seed_base + 16 * i` (default base 500000: no overlap with `scenes_world.SEED_SETS` nor the
loop's traffic at 100000+), looks at the safe candidates, picks one and posts it
(`POST /feedback`, shown = every safe candidate with an image). Pick i's prompt and choice come
from seeds (`--prompt-seed`, `--choice-seed`, i), so a run is repeatable and `--start` extends
one. `--log` keeps the person's own notes (utilities, parts) beside, for auditing only: the
reward model trains from the service's feedback folder alone.

**`measure`** (to choose the taste; nothing is posted) asks the service for generations on
training prompts at seeds 600000+ and reports, over pairs of a generation's candidates, how
often today's aesthetic scores (as the service returned them) order a pair as this taste does,
and the person's ceiling and repeatability.
"""
from __future__ import annotations

import argparse
import base64
import io
import itertools
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

import scenes_world as W

WEIGHTS = {"dark": 2.0, "warm": 1.5, "thirds": 2.0, "empty": -1.0}
TEMPERATURE = 0.1
WARM = ("red", "orange", "yellow")
THIRDS = tuple((x, y) for x in (1 / 3, 2 / 3) for y in (1 / 3, 2 / 3))
THIRDS_REACH = float(np.hypot(1 / 6, 1 / 6))  # from a thirds point to the canvas centre
SEED_STRIDE = 16  # a request with seed s draws s .. s+N-1; N <= 16


# ---------------------------------------------------------------- the taste
def parts(img: np.ndarray) -> dict:
    """What the person sees in an image (uint8 [S,S,3])."""
    f = img.astype(np.float64)
    border = np.concatenate([f[0], f[-1], f[:, 0], f[:, -1]])
    bg = np.median(border, axis=0)
    lum = 0.2126 * bg[0] + 0.7152 * bg[1] + 0.0722 * bg[2]
    _, seen = W.read_image(img)
    out = {"dark": float(1 - lum / 255), "warm": 0.0, "thirds": 0.0, "empty": float(not seen)}
    if seen:
        areas = np.array([o.area for o in seen])
        out["warm"] = float(sum(o.area for o in seen if o.colour in WARM) / areas.sum())
        main = seen[int(np.argmax(areas))]
        d = min(np.hypot(main.cx - x, main.cy - y) for x, y in THIRDS)
        out["thirds"] = float(1 - min(d / THIRDS_REACH, 1.0))
    return out


def utility(img: np.ndarray) -> float:
    p = parts(img)
    return float(sum(w * p[k] for k, w in WEIGHTS.items()))


def choose(utilities, rng: np.random.Generator) -> int:
    """The person's pick among pictures with these utilities (multinomial logit, temperature T)."""
    u = np.asarray(utilities, dtype=np.float64) / TEMPERATURE
    p = np.exp(u - u.max())
    return int(rng.choice(len(u), p=p / p.sum()))


def p_prefers(u_a: float, u_b: float) -> float:
    """P(the person prefers a to b) = sigmoid((u_a - u_b) / T)."""
    return float(1.0 / (1.0 + np.exp(-(u_a - u_b) / TEMPERATURE)))


def ceiling(du) -> tuple[float, float]:
    """(ceiling, repeatability) over pairs with these utility differences."""
    p = 1.0 / (1.0 + np.exp(-np.abs(np.asarray(du, dtype=np.float64)) / TEMPERATURE))
    return float(p.mean()), float((p * p + (1 - p) * (1 - p)).mean())


# ---------------------------------------------------------------- the service
def _post(url: str, path: str, body: dict, retries: int = 30):
    data = json.dumps(body).encode()
    for attempt in range(retries):
        req = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            if e.code in (429, 503) and attempt + 1 < retries:
                time.sleep(min(1 + attempt, 10))
                continue
            return e.code, json.loads(e.read() or b"{}")
    raise RuntimeError("unreachable")


def decode_png(b64: str) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB"))


def generate(url: str, prompt: str, n: int, seed: int) -> dict | None:
    """The service's answer with every safe candidate's image: {id, chosen, image, candidates: [{index,
    seed, image, scores}], model_version, judges}; None when no candidate was safe (422)."""
    status, doc = _post(url, "/generate", {"prompt": prompt, "n": n, "seed": seed,
                                           "return_candidate_images": True, "return_candidates": True})
    if status == 422:
        return None
    if status != 200:
        raise RuntimeError(f"/generate answered {status}: {doc}")
    cands = [{"index": c["index"], "seed": c["seed"], "scores": c.get("scores", {}), "image": decode_png(c["png_base64"])}
             for c in doc["candidates"] if c.get("verdict") == "safe" and c.get("png_base64")]
    image = decode_png(doc["image"]["png_base64"])
    chosen = next((c["index"] for c in cands if np.array_equal(c["image"], image)), None)
    return {"id": doc["id"], "chosen": chosen, "image": image, "candidates": cands, "scores": doc.get("scores", {}),
            "model_version": doc.get("model_version"), "judges": doc.get("judges", {})}


def post_pick(url: str, generation_id: str, chosen: int, shown) -> int:
    status, _ = _post(url, "/feedback", {"generation_id": generation_id, "chosen": int(chosen),
                                         "shown": [int(i) for i in shown]})
    return status


# ---------------------------------------------------------------- commands
def pick_job(i: int, a) -> tuple[str, str, int]:
    """The i-th pick: prompt and seed, (category, prompt, seed)."""
    rng = np.random.default_rng([a.prompt_seed, i])
    cat = W.CATEGORIES[int(rng.integers(len(W.CATEGORIES)))]
    return cat, W.training_prompt(cat, rng), a.seed_base + SEED_STRIDE * i


def cmd_pick(a) -> None:
    assert a.n <= SEED_STRIDE
    lock = threading.Lock()
    log = open(a.log, "a", encoding="utf-8") if a.log else None
    stats = {"posted": 0, "skipped": 0, "failed": 0}
    t0 = time.time()
    next_slot = [t0]

    def one(i):
        if a.rate > 0:  # at most `rate` picks a second, across all workers
            with lock:
                wait = next_slot[0] - time.time()
                next_slot[0] = max(next_slot[0], time.time()) + 1.0 / a.rate
            if wait > 0:
                time.sleep(wait)
        cat, prompt, seed = pick_job(i, a)
        g = generate(a.url, prompt, a.n, seed)
        if g is None or len(g["candidates"]) < 2:
            with lock:
                stats["skipped"] += 1
            return
        us = [utility(c["image"]) for c in g["candidates"]]
        k = choose(us, np.random.default_rng([a.choice_seed, i]))
        shown = [c["index"] for c in g["candidates"]]
        status = post_pick(a.url, g["id"], shown[k], shown)
        with lock:
            stats["posted" if status == 204 else "failed"] += 1
            if status != 204:
                print(f"pick {i}: /feedback answered {status}", flush=True)
            if log:
                log.write(json.dumps({"i": i, "generation_id": g["id"].split(".")[0], "category": cat, "prompt": prompt,
                                      "seed": seed, "shown": shown, "chosen": shown[k], "service_chosen": g["chosen"],
                                      "utilities": [round(u, 4) for u in us], "status": status}) + "\n")
                log.flush()
            done = sum(stats.values())
            if done % a.progress == 0:
                el = time.time() - t0
                print(f"{done}/{a.picks} picks ({stats}) {el:.0f}s, {done / el * 60:.1f}/min", flush=True)

    with ThreadPoolExecutor(a.concurrency) as pool:
        list(pool.map(one, range(a.start, a.start + a.picks)))
    print(f"done: {stats} in {time.time() - t0:.0f}s", flush=True)


def cmd_measure(a) -> None:
    rng = np.random.default_rng(a.prompt_seed)
    jobs = [(W.training_prompt(W.CATEGORIES[i % 6], rng), a.seed_base + SEED_STRIDE * i) for i in range(a.requests)]
    with ThreadPoolExecutor(a.concurrency) as pool:
        gens = [g for g in pool.map(lambda j: generate(a.url, j[0], a.n, j[1]), jobs) if g is not None]
    du, agree, expect = [], [], []
    per_part = {k: [0, 0] for k in WEIGHTS}
    for g in gens:
        ps = [parts(c["image"]) for c in g["candidates"]]
        us = [sum(w * p[k] for k, w in WEIGHTS.items()) for p in ps]
        aes = [c["scores"]["aesthetic"] for c in g["candidates"]]
        for i, j in itertools.combinations(range(len(us)), 2):
            if np.array_equal(g["candidates"][i]["image"], g["candidates"][j]["image"]):
                continue
            d, da = us[i] - us[j], aes[i] - aes[j]
            du.append(d)
            agree.append(0.5 if d == 0 or da == 0 else float((d > 0) == (da > 0)))
            pij = p_prefers(us[i], us[j])
            expect.append(pij if da > 0 else 1 - pij)
            for k in WEIGHTS:
                dk = ps[i][k] - ps[j][k]
                if abs(dk) > 1e-9 and da != 0:
                    per_part[k][0] += (dk > 0) == (da > 0)
                    per_part[k][1] += 1
    c, r = ceiling(du)
    print(json.dumps({
        "generations": len(gens), "pairs": len(du),
        "today_judge_agrees_with_taste_order": round(float(np.mean(agree)), 4),
        "today_judge_expected_agreement_with_noisy_labels": round(float(np.mean(expect)), 4),
        "today_judge_agrees_with_more_of_each_part": {k: round(v[0] / max(v[1], 1), 4) for k, v in per_part.items()},
        "annotator_ceiling": round(c, 4), "annotator_repeatability": round(r, 4),
        "weights": WEIGHTS, "temperature": TEMPERATURE}, indent=2))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("pick", "measure"):
        p = sub.add_parser(name)
        p.add_argument("--url", default="http://localhost:8091")
        p.add_argument("--n", type=int, default=4, help="candidates per request")
        p.add_argument("--concurrency", type=int, default=2)
        p.add_argument("--prompt-seed", type=int, default=27)
        if name == "pick":
            p.add_argument("--picks", type=int, default=1500)
            p.add_argument("--start", type=int, default=0, help="first pick number (to extend a run)")
            p.add_argument("--seed-base", type=int, default=500_000)
            p.add_argument("--choice-seed", type=int, default=2703)
            p.add_argument("--rate", type=float, default=0.0, help="picks per second at most (0: as fast as served)")
            p.add_argument("--log", help="the person's own notes (jsonl); not training data")
            p.add_argument("--progress", type=int, default=50)
        else:
            p.add_argument("--requests", type=int, default=150)
            p.add_argument("--seed-base", type=int, default=600_000)
    a = ap.parse_args(argv)
    if a.seed_base < 400_000:
        sys.exit("seed base below 400000 would overlap the evaluation seed sets or the loop's traffic")
    (cmd_pick if a.cmd == "pick" else cmd_measure)(a)


if __name__ == "__main__":
    main()
