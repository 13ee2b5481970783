"""How well a scorer's ranking of x̂0 previews predicts which candidates end up right (issue 12).

    python models/tools/preview_recall.py [--work /tmp/scenes-work] [--prompts 16] [--seeds 8] [--at 0.2,0.3,0.5]

Speculative best-of-N keeps the best `keep` of `n` candidates after a fraction `at` of the
steps, judged on the x̂0 preview each DDIM step predicts. This samples the pack (the torch
twin of the exported pipeline: DDIM 20 steps, guidance 5, the service's defaults) for random
grammar prompts (`--prompts` distinct ones per category, `--seeds` candidates each; seeds from
20000, not the benchmark's),
keeps the previews at each `at`, decodes them, scores them with the committed verifier
(`models/judges/scenes-verifier`, through ONNX Runtime, as the service would) and asks the
reference checker whether each *final* image is right. Per `at` it prints:

  * recall: of prompts with at least one right final candidate, the share whose `keep`
    best-scored previews include a right one (top-keep-of-n recall);
  * pruned accuracy: the share of prompts whose pruned run ends right, i.e. the verifier's
    choice among the kept candidates' final images is right; beside it full best-of-n (the
    verifier over all n final images) and best-of-keep without pruning (the first `keep`
    seeds), the two ends pruning sits between;
  * UNet rows spent, relative to full best-of-n: (at * n + (1 - at) * keep) / n.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import onnxruntime as ort
import torch

import scenes_model as M
import scenes_world as W
from clip_bpe import ClipTokenizer
from eval_scenes import load_sampler, sample_with_previews
from image_aug import to_pixel_values

HERE = os.path.dirname(os.path.abspath(__file__))
VERIFIER = os.path.normpath(os.path.join(HERE, "..", "judges", "scenes-verifier"))


def verifier_scores(session, tok, imgs, prompts):
    x = to_pixel_values(imgs).numpy()
    ids = np.array([tok(p) for p in prompts], dtype=np.int32)
    return np.concatenate([session.run(None, {"pixel_values": x[i:i + 256], "input_ids": ids[i:i + 256]})[0]
                           for i in range(0, len(x), 256)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/scenes-work")
    ap.add_argument("--prompts", type=int, default=16, help="per category")
    ap.add_argument("--seeds", type=int, default=8, help="n: candidates per prompt")
    ap.add_argument("--keep", default="2", help="comma-separated keep values")
    ap.add_argument("--at", default="0.2,0.3,0.5")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.time()
    text, unet, dec, step, scale, tok = load_sampler(a.work)
    vtok = ClipTokenizer(os.path.join(VERIFIER, "tokenizer"), M.MAX_LEN)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = a.threads
    session = ort.InferenceSession(os.path.join(VERIFIER, "model.onnx"), opts)
    ats = [float(x) for x in a.at.split(",")]
    keeps = [int(k) for k in a.keep.split(",")]
    capture = {round(at * a.steps): at for at in ats}
    rng = np.random.default_rng(12)
    seeds = list(range(20000, 20000 + a.seeds))
    rows = []  # (category, ok[n], final score[n], {at: preview score[n]})
    for cat in W.CATEGORIES:
        prompts = []  # nothing trains here, so any prompt of the grammar may be drawn (two_object has only 24)
        for _ in range(1000 * a.prompts):
            p = W.random_prompt(cat, rng)
            if p not in prompts:
                prompts.append(p)
            if len(prompts) == a.prompts:
                break
        final, previews = sample_with_previews(text, unet, dec, tok, prompts, seeds, scale, set(capture), a.steps)
        expanded = [p for p in prompts for _ in seeds]
        ok = np.array([W.check(p, im) for p, im in zip(expanded, final)]).reshape(len(prompts), -1)
        fs = verifier_scores(session, vtok, final, expanded).reshape(len(prompts), -1)
        ps = {capture[i]: verifier_scores(session, vtok, im, expanded).reshape(len(prompts), -1)
              for i, im in previews.items()}
        for j in range(len(prompts)):
            rows.append((cat, ok[j], fs[j], {at: s[j] for at, s in ps.items()}))
        print(f"{cat}: {len(prompts)} prompts x {len(seeds)} seeds, single {ok.mean():.3f}, "
              f"any right {ok.any(1).mean():.3f}  ({time.time() - t0:.0f}s)", flush=True)

    n = a.seeds
    full = np.mean([ok[int(np.argmax(fs))] for _, ok, fs, _ in rows])
    print(f"\nUNet step {step}; {len(rows)} prompts, n = {n}; DDIM {a.steps}, guidance 5; "
          f"full best-of-{n} (verifier on final images): {full:.3f}; "
          f"any right: {np.mean([ok.any() for _, ok, _, _ in rows]):.3f}")
    for keep in keeps:
        plain = np.mean([ok[:keep][int(np.argmax(fs[:keep]))] for _, ok, fs, _ in rows])
        print(f"\nkeep {keep} of {n}; best-of-{keep} without pruning (first {keep} seeds): {plain:.3f}")
        print("    at  rows vs full  recall (top-keep previews hold a right one)  pruned accuracy")
        for at in ats:
            hit, have, acc = 0, 0, []
            for _, ok, fs, pv in rows:
                kept = np.argsort(-pv[at], kind="stable")[:keep]
                if ok.any():
                    have += 1
                    hit += bool(ok[kept].any())
                acc.append(ok[kept[int(np.argmax(fs[kept]))]])
            cost = (at * n + (1 - at) * keep) / n
            print(f"  {at:4.2f}  {cost:10.2f}  {hit / max(1, have):43.3f}  {np.mean(acc):15.3f}")
    print(f"\n{time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
