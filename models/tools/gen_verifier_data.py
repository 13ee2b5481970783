"""Samples of the trained scenes pipeline, labelled by the reference checker: the verifier's exam.

    python models/tools/gen_verifier_data.py --out /tmp/scenes-work/generated.npz --images 6400

Prompts are drawn at random from the six categories' grammar (`scenes_world.random_prompt`),
never one of the benchmark's prompts, seeds from 10^6 up (the benchmark's are 7000-9000), DDIM 20 steps with guidance 5
(the service's defaults), 4 seeds per prompt, so the set holds exactly the choice best-of-N
asks of the verifier: which of a prompt's samples is right. Each image is labelled by the
reference checker. `train_verifier.py --generated FILE` measures the verifier on it (how often
a right sample outscores a wrong one of the same prompt); no model trains on it, and the
checker never ranks anything in the service.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

import scenes_world as W
from eval_scenes import load_sampler, sample


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/scenes-work")
    ap.add_argument("--out", default="/tmp/scenes-work/generated.npz")
    ap.add_argument("--images", type=int, default=12000)
    ap.add_argument("--per-prompt", type=int, default=4, help="seeds per prompt")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    text, unet, dec, step, scale, tok = load_sampler(a.work)
    rng = np.random.default_rng(31337)
    imgs, prompts, oks = [], [], []
    seed = 10 ** 6
    held_out = {p for _, p in W.benchmark_prompts()}  # the benchmark's prompts never reach training

    def fresh_prompt():
        while True:
            p = W.random_prompt(W.CATEGORIES[int(rng.integers(6))], rng)
            if p not in held_out:
                return p
    while len(oks) < a.images:
        batch = [fresh_prompt() for _ in range(8)]
        seeds = list(range(seed, seed + a.per_prompt))
        seed += a.per_prompt
        out = sample(text, unet, dec, tok, batch, seeds, scale)
        for p, im in zip(np.repeat(batch, len(seeds)), out):
            imgs.append(im)
            prompts.append(str(p))
            oks.append(W.check(p, im))
        if len(oks) % 800 == 0:
            print(f"{len(oks)} images, {np.mean(oks):.3f} correct", flush=True)
    np.savez_compressed(a.out, imgs=np.stack(imgs), prompts=np.array(prompts), ok=np.array(oks),
                        unet_step=step)
    print(f"wrote {a.out}: {len(oks)} images from UNet step {step}, {np.mean(oks):.3f} correct")


if __name__ == "__main__":
    main()
