"""How well a scorer's ranking of x̂0 previews predicts which candidates end up right (issue 12).

    python models/tools/preview_recall.py [--work /tmp/scenes-work] [--prompts 16] [--seeds 8] [--keep 2]
        [--at 0.1,0.2,0.3,0.5] [--verifier DIR[,DIR...]] [--final-verifier DIR] [--cache FILE]

Speculative best-of-N keeps the best `keep` of `n` candidates after k = round(at * steps)
UNet steps (k clamped to [1, steps - 1]), judged on the x̂0 preview the k-th step predicts
(0-based step index k - 1), as the service does. This samples the pack (the torch twin of
the exported pipeline: DDIM 20 steps, guidance 5, the service's defaults) for random grammar
prompts (`--prompts` distinct ones per category, drawn with rng seed 12, see `eval_prompts`;
`--seeds` candidates each, seeds from 20000, not the benchmark's), keeps the previews for
each `at`, decodes them, scores them with each judge folder given by `--verifier` (repeatable
or comma-separated; default the committed `models/judges/scenes-verifier`), through ONNX
Runtime, as the service would, and asks the reference checker whether each *final* image is
right. Every judge sees the same samples, so their tables compare directly.

`--keep` takes comma-separated entries, each `keep` (of n = `--seeds`) or `n:keep` (n <=
`--seeds`: the first n seeds), e.g. `--seeds 16 --keep 8:2,16:4`. Per judge, per entry, per
`at` it prints:

  * recall: of prompts with at least one right final candidate, the share whose `keep`
    best-scored previews include a right one (top-keep-of-n recall);
  * pruned accuracy: the share of prompts whose pruned run ends right, i.e. the choice among
    the kept candidates' final images is right; beside it full best-of-n (all n final images)
    and best-of-keep without pruning (the first `keep` seeds), the two ends pruning sits
    between. Final images are ranked by the same judge, or with `--final-verifier DIR` by
    that one in every table (the service prunes with a preview judge and ranks the
    survivors' final images with its normal judges);
  * UNet rows spent, relative to full best-of-n: (k * n + (steps - k) * keep) / (steps * n).

`--cache FILE` (an .npz outside the repository) keeps the sampled finals, previews and the
checker's labels, so further judges are scored on the same samples without sampling again;
it is reused only when prompts, seeds, steps and capture steps match.
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
from image_aug import to_pixel_values

HERE = os.path.dirname(os.path.abspath(__file__))
VERIFIER = os.path.normpath(os.path.join(HERE, "..", "judges", "scenes-verifier"))
EVAL_RNG_SEED = 12
EVAL_SEED0 = 20000


def prune_step(at: float, steps: int) -> int:
    """k: UNet steps run before pruning, as the engine computes it."""
    return min(steps - 1, max(1, int(round(at * steps))))


def rows_spent(k: int, steps: int, n: int, keep: int) -> float:
    """UNet rows of a pruned run relative to full best-of-n."""
    return (k * n + (steps - k) * keep) / (steps * n)


def eval_prompts(per_category: int) -> dict:
    """{category: prompts} this script evaluates on (any prompt of the grammar, benchmark ones
    included: nothing trains here; two_object has only 24)."""
    rng = np.random.default_rng(EVAL_RNG_SEED)
    out = {}
    for cat in W.CATEGORIES:
        prompts = []
        for _ in range(1000 * per_category):
            p = W.random_prompt(cat, rng)
            if p not in prompts:
                prompts.append(p)
            if len(prompts) == per_category:
                break
        out[cat] = prompts
    return out


def verifier_scores(session, tok, imgs, prompts):
    x = to_pixel_values(imgs).numpy()
    ids = np.array([tok(p) for p in prompts], dtype=np.int32)
    return np.concatenate([session.run(None, {"pixel_values": x[i:i + 256], "input_ids": ids[i:i + 256]})[0]
                           for i in range(0, len(x), 256)])


def sample_all(a, capture):
    """{category: (prompts, ok [P,n], final uint8 [P*n,...], {step index: previews})}, from --cache when it matches."""
    from eval_scenes import load_sampler, sample_with_previews
    seeds = list(range(EVAL_SEED0, EVAL_SEED0 + a.seeds))
    key = f"prompts={a.prompts} seeds={a.seeds} steps={a.steps} capture={sorted(capture)}"
    if a.cache and os.path.exists(a.cache):
        z = np.load(a.cache, allow_pickle=True)
        if str(z["key"]) == key:
            print(f"samples from {a.cache}", flush=True)
            return {cat: (list(z[f"{cat}/prompts"]), z[f"{cat}/ok"], z[f"{cat}/final"],
                          {i: z[f"{cat}/preview{i}"] for i in capture}) for cat in W.CATEGORIES}, int(z["unet_step"])
        print(f"{a.cache} was made for other settings; sampling again", flush=True)
    t0 = time.time()
    text, unet, dec, step, scale, tok = load_sampler(a.work)
    out = {}
    for cat, prompts in eval_prompts(a.prompts).items():
        final, previews = sample_with_previews(text, unet, dec, tok, prompts, seeds, scale, set(capture), a.steps)
        expanded = [p for p in prompts for _ in seeds]
        ok = np.array([W.check(p, im) for p, im in zip(expanded, final)]).reshape(len(prompts), -1)
        out[cat] = (prompts, ok, final, previews)
        print(f"{cat}: {len(prompts)} prompts x {len(seeds)} seeds, single {ok.mean():.3f}, "
              f"any right {ok.any(1).mean():.3f}  ({time.time() - t0:.0f}s)", flush=True)
    if a.cache:
        arrays = {"key": key, "unet_step": step}
        for cat, (prompts, ok, final, previews) in out.items():
            arrays.update({f"{cat}/prompts": np.array(prompts, dtype=object), f"{cat}/ok": ok, f"{cat}/final": final})
            arrays.update({f"{cat}/preview{i}": im for i, im in previews.items()})
        np.savez(a.cache, **arrays)
    return out, step


def report(rows, n_max, entries, ats, steps, capture_of):
    """Tables for one judge; rows: (category, ok[n], final score[n], {at: preview score[n]})."""
    lines = []
    for n, keep in entries:
        full = np.mean([ok[:n][int(np.argmax(fs[:n]))] for _, ok, fs, _ in rows])
        anyr = np.mean([ok[:n].any() for _, ok, _, _ in rows])
        plain = np.mean([ok[:keep][int(np.argmax(fs[:keep]))] for _, ok, fs, _ in rows])
        lines.append(f"\nkeep {keep} of {n}: full best-of-{n} {full:.3f}; any right {anyr:.3f}; "
                     f"best-of-{keep} without pruning (first {keep} seeds) {plain:.3f}")
        lines.append("    at   k  rows vs full  recall (top-keep previews hold a right one)  pruned accuracy")
        for at in ats:
            hit, have, acc = 0, 0, []
            for _, ok, fs, pv in rows:
                ok, fs, p = ok[:n], fs[:n], pv[at][:n]
                kept = np.argsort(-p, kind="stable")[:keep]
                if ok.any():
                    have += 1
                    hit += bool(ok[kept].any())
                acc.append(ok[kept[int(np.argmax(fs[kept]))]])
            k = capture_of[at] + 1
            lines.append(f"  {at:4.2f}  {k:2d}  {rows_spent(k, steps, n, keep):10.3f}  "
                         f"{hit / max(1, have):43.3f}  {np.mean(acc):15.3f}")
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/scenes-work")
    ap.add_argument("--prompts", type=int, default=16, help="per category")
    ap.add_argument("--seeds", type=int, default=8, help="candidates sampled per prompt (the largest n)")
    ap.add_argument("--keep", default="2", help="comma-separated entries: keep (of n = --seeds) or n:keep")
    ap.add_argument("--at", default="0.1,0.2,0.3,0.5")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--verifier", action="append",
                    help="judge folder(s) (model.onnx, tokenizer/); repeatable or comma-separated")
    ap.add_argument("--final-verifier", help="judge folder ranking the final images (default: each judge itself)")
    ap.add_argument("--cache", help="npz keeping the samples and labels (outside the repository)")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.time()
    folders = [d for v in (a.verifier or [VERIFIER]) for d in v.split(",") if d]
    ats = [float(x) for x in a.at.split(",")]
    capture_of = {at: prune_step(at, a.steps) - 1 for at in ats}  # 0-based step index of the preview
    entries = []
    for e in a.keep.split(","):
        n, keep = (int(v) for v in e.split(":")) if ":" in e else (a.seeds, int(e))
        assert 1 <= keep <= n <= a.seeds, e
        entries.append((n, keep))
    samples, step = sample_all(a, set(capture_of.values()))
    print(f"\nUNet step {step}; {sum(len(s[0]) for s in samples.values())} prompts, {a.seeds} seeds "
          f"from {EVAL_SEED0}; DDIM {a.steps}, guidance 5; preview after k = round(at * steps) steps "
          f"(step index k - 1)")
    def judge(folder):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = a.threads
        opts.inter_op_num_threads = 1
        return (ort.InferenceSession(os.path.join(folder, "model.onnx"), opts),
                ClipTokenizer(os.path.join(folder, "tokenizer"), M.MAX_LEN))

    final_judge = judge(a.final_verifier) if a.final_verifier else None
    if a.final_verifier:
        print(f"final images ranked by {os.path.relpath(a.final_verifier)} in every table")
    for folder in folders:
        session, tok = judge(folder)
        fsession, ftok = final_judge or (session, tok)
        rows = []
        for cat, (prompts, ok, final, previews) in samples.items():
            expanded = [p for p in prompts for _ in range(a.seeds)]
            fs = verifier_scores(fsession, ftok, final, expanded).reshape(len(prompts), -1)
            ps = {at: verifier_scores(session, tok, previews[i], expanded).reshape(len(prompts), -1)
                  for at, i in capture_of.items()}
            rows += [(cat, ok[j], fs[j], {at: s[j] for at, s in ps.items()}) for j in range(len(prompts))]
        print(f"\n== {os.path.relpath(folder)}")
        print("\n".join(report(rows, a.seeds, entries, ats, a.steps, capture_of)))
    print(f"\n{time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
