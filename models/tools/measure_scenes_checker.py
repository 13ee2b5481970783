"""How often the reference checker is right, per benchmark category: on rendered scenes, and
on the same scenes after the autoencoder's round trip (the sharpest a generated image can be).

    python models/tools/measure_scenes_checker.py [--work /tmp/scenes-work] [--seeds 10]

Scenes are drawn for the benchmark's own prompts (`scenes_world.benchmark_prompts`), anywhere
SCENES.md allows (relations without a margin), so the figures are the checker's accuracy on
exactly what the benchmark asks.
"""
import argparse

import numpy as np
import torch

import scenes_model as M
import scenes_world as W
from image_aug import from_pixel_values, to_pixel_values
from train_scenes import load_autoencoder


@torch.no_grad()
def round_trip(enc, dec, imgs):
    out = []
    for i in range(0, len(imgs), 256):
        out.append(from_pixel_values(dec(enc(to_pixel_values(imgs[i:i + 256]))[0])))
    return np.concatenate(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/scenes-work")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--no-autoencoder", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(11)
    cases = [(c, p) for c, p in W.benchmark_prompts() for _ in range(a.seeds)]
    imgs = np.stack([W.render(W.scene_for_prompt(p, rng), M.IMAGE_SIZE) for _, p in cases])
    rec = None
    if not a.no_autoencoder:
        enc, dec = load_autoencoder(a.work)
        rec = round_trip(enc, dec, imgs)
        mse = np.mean((rec.astype(np.float64) - imgs) ** 2)
        print(f"autoencoder round trip: PSNR {10 * np.log10(255 ** 2 / mse):.2f} dB over {len(imgs)} scenes")
    print(f"{'category':14s} {'renders':>8s} {'round trip':>10s}")
    for cat in W.CATEGORIES:
        idx = [i for i, (c, _) in enumerate(cases) if c == cat]
        ok = np.mean([W.check(cases[i][1], imgs[i]) for i in idx])
        ok_rt = np.mean([W.check(cases[i][1], rec[i]) for i in idx]) if rec is not None else float("nan")
        print(f"{cat:14s} {ok:8.4f} {ok_rt:10.4f}   ({len(idx)} scenes)")


if __name__ == "__main__":
    main()
