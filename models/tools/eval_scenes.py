"""Sample the scenes pipeline offline (PyTorch, from a training checkpoint) and check the images.

    python models/tools/eval_scenes.py [--work /tmp/scenes-work] [--prompts 8] [--seeds 8]

For quick looks while training: DDIM exactly as diffusers does it for the pack's scheduler
config (v prediction, `leading` spacing, steps_offset 1, eta 0) with classifier-free
guidance, then the reference checker per category: single-sample accuracy and "any of
the seeds correct" (what a perfect verifier could pick). The benchmark that counts drives
the running service instead (`bench_scenes.py`).
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

import scenes_model as M
import scenes_world as W
from clip_bpe import ClipTokenizer
from image_aug import from_pixel_values
from train_scenes import PACK, alphas_cumprod, load_pipeline


def load_sampler(work):
    """(text encoder, UNet, VAE decoder, UNet step, latent scaling factor, tokenizer) from a checkpoint in work."""
    text, unet, dec, step = load_pipeline(work)
    scale = torch.load(os.path.join(work, "latents.pt"), weights_only=False)["scaling_factor"]
    return text, unet, dec, step, scale, ClipTokenizer(os.path.join(PACK, "tokenizer"), M.MAX_LEN)


def sample(text, unet, dec, tok, prompts, seeds, scale, steps=20, guidance=5.0):
    """uint8 images [len(prompts) * len(seeds), 64, 64, 3], prompt-major."""
    return sample_with_previews(text, unet, dec, tok, prompts, seeds, scale, (), steps, guidance)[0]


@torch.no_grad()
def sample_with_previews(text, unet, dec, tok, prompts, seeds, scale, preview_steps, steps=20, guidance=5.0):
    """(final images, {step index: decoded x̂0 previews that step predicts}) for the step indices
    in preview_steps; uint8 [len(prompts) * len(seeds), 64, 64, 3], prompt-major."""
    acp = alphas_cumprod()
    ts = (np.arange(0, steps) * (1000 // steps)).round()[::-1].astype(np.int64) + 1  # leading, steps_offset 1
    ids = torch.tensor([tok(p) for p in prompts], dtype=torch.int32)
    cond = text(ids).repeat_interleave(len(seeds), 0)
    uncond = text(torch.tensor([tok("")], dtype=torch.int32)).expand_as(cond)
    x = torch.stack([torch.randn(M.LATENT_CH, M.LATENT_SIZE, M.LATENT_SIZE, generator=torch.Generator().manual_seed(s))
                     for _ in prompts for s in seeds])
    previews = {}
    for i, t in enumerate(ts):
        tt = torch.full((len(x) * 2,), float(t))
        out = unet(torch.cat([x, x]), tt, torch.cat([uncond, cond]))
        vu, vc = out.chunk(2)
        v = vu + guidance * (vc - vu)
        a_t = acp[t]
        a_prev = acp[ts[i + 1]] if i + 1 < len(ts) else acp[0]  # set_alpha_to_one False
        x0 = a_t.sqrt() * x - (1 - a_t).sqrt() * v  # v prediction -> x0
        if i in preview_steps:
            previews[i] = from_pixel_values(dec(x0 / scale))
        eps = (1 - a_t).sqrt() * x + a_t.sqrt() * v
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps  # DDIM eq. 12, eta = 0
    return from_pixel_values(dec(x / scale)), previews


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/scenes-work")
    ap.add_argument("--prompts", type=int, default=8, help="per category")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--grid", help="write a PNG grid of the first prompts' samples here")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    text, unet, dec, step, scale, tok = load_sampler(a.work)
    bench = W.benchmark_prompts()
    seeds = list(range(1000, 1000 + a.seeds))
    t0 = time.time()
    print(f"checkpoint step {step}; DDIM {a.steps}, guidance {a.guidance}, {a.seeds} seeds")
    single, anyof = [], []
    grid = []
    for cat in W.CATEGORIES:
        prompts = [p for c, p in bench if c == cat][:a.prompts]
        imgs = sample(text, unet, dec, tok, prompts, seeds, scale, a.steps, a.guidance)
        ok = np.array([W.check(p, im) for p, im in zip(np.repeat(prompts, len(seeds)), imgs)]).reshape(len(prompts), -1)
        single.append(ok.mean())
        anyof.append(ok.any(axis=1).mean())
        grid.append(imgs.reshape(len(prompts), len(seeds), 64, 64, 3)[:2])
        print(f"{cat:14s} single {ok.mean():.3f}  any-of-{len(seeds)} {ok.any(axis=1).mean():.3f}", flush=True)
    print(f"{'overall':14s} single {np.mean(single):.3f}  any-of-{len(seeds)} {np.mean(anyof):.3f}  "
          f"({time.time() - t0:.0f}s)")
    if a.grid:
        from PIL import Image
        g = np.concatenate(grid)  # [12, seeds, 64, 64, 3]
        rows = [np.concatenate(list(r), axis=1) for r in g]
        Image.fromarray(np.concatenate(rows, axis=0)).save(a.grid)


if __name__ == "__main__":
    main()
