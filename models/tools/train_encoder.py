"""Fit a VAE encoder to a pack's fixed VAE decoder, so that pictures can be turned back into the latents its UNet uses.

    python models/tools/train_encoder.py TRAFFIC_DIR [TRAFFIC_DIR ...] --work DIR
        [--pack models/shapes-scenes] [--steps 3000] [--batch 64] [--threads 2]

Why: the scenes pack ships only the decoder (as SD exports do), and the autoencoder it was trained
with was not kept. Without an encoder, two things stop: people's picks whose sides are PNGs only
(train_generator.py counts and skips them) and the pack's own supervised training on rendered
scenes (train_scenes.py's data and unet stages encode scenes first). A new encoder trained jointly
with a new decoder would give a different latent space, which the pack's UNet does not speak; this
one is fitted to the pack's decoder, frozen, and to the latents the UNet itself produced:

- **latent regression** on the service's logged final latents (`winnow.traffic.dir`'s
  `latents/*.npy`, the UNet's space): each is decoded by the pack's decoder and quantised to
  uint8 (what a PNG holds), and the encoder's mean, times the pack's scaling factor, is asked to
  give the latent back (MSE in the UNet's space);
- **reconstruction** on freshly rendered scenes (scenes_world), every --recon-every steps: the
  frozen decoder of the encoder's mean should give the scene back (train_scenes.py's
  edge-weighted L1 + MSE), so the encoder also works on pictures the UNet never drew.

Mean only (the log-variance head is kept at train_scenes' shape but not trained; the pack's
latents were encoded as means). Validation on traffic latents held out by generation: the latent
error relative to the latents' variance (1 - R^2), the round trip's PSNR on rendered scenes, and
the reference checker on round trips of every benchmark category (train_scenes' bar for the
autoencoder: >= 0.95 each), the checker being evaluation only.

Writes DIR/vae.pt in train_scenes.py's format ({"enc", "dec", ...}, the decoder being the pack's),
so `train_scenes.py data --work DIR` encodes scenes into the pack's latent space, and
DIR/encoder-report.json with the validation figures.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
import torch.nn.functional as F

import scenes_model as M
import scenes_world as W
from image_aug import from_pixel_values, to_pixel_values
from onnx_to_torch import load_pipeline
from service_twin import PACK, Pipeline
from train_scenes import psnr, recon_loss, render_scenes, save


def traffic_latents(dirs):
    """(latents [N,4,16,16] in the UNet's space, generation index per latent) from traffic dirs."""
    arrays, gens = [], []
    for d in dirs:
        for f in sorted(glob.glob(os.path.join(d, "latents", "*.npy"))):
            a = np.load(f)
            arrays.append(a)
            gens.extend([len(arrays) - 1] * len(a))  # one file per generation
    if not arrays:
        raise SystemExit("no latents/*.npy under " + ", ".join(dirs))
    return torch.from_numpy(np.concatenate(arrays)).float(), np.array(gens)


def decode_uint8(pack, z_unet, threads):
    """The service's pictures of UNet-space latents (the pack's decoder in ONNX Runtime, as service_twin
    decodes: z / scale, clamped and rounded to uint8); ten times faster than the torch copy on a CPU."""
    return Pipeline(pack, threads).decode(z_unet.numpy())


@torch.no_grad()
def validate(enc, dec, scale, val_imgs, val_z, scene_imgs, check_scenes):
    enc.eval()
    pred = torch.cat([enc(to_pixel_values(val_imgs[i:i + 512]))[0] for i in range(0, len(val_imgs), 512)]) * scale
    out = {"latent_unexplained_variance": round(float(((pred - val_z) ** 2).mean() / val_z.var()), 5),
           "render_round_trip_psnr_db": round(psnr(enc, dec, scene_imgs), 2)}
    if check_scenes:
        x = to_pixel_values(np.stack([img for _, _, img in check_scenes]))
        back = from_pixel_values(torch.cat([dec(enc(x[i:i + 256])[0]) for i in range(0, len(x), 256)]))
        per = {}
        for (cat, prompt, _), img in zip(check_scenes, back):
            per.setdefault(cat, []).append(bool(W.check(prompt, img)))
        out["checker_on_round_trips"] = {c: round(float(np.mean(v)), 3) for c, v in per.items()}
    enc.train()
    return out


def checker_scenes(n_per_prompt=4, seed=11):
    """(category, prompt, rendered uint8 image) for the benchmark prompts, scenes drawn anywhere SCENES.md allows."""
    rng = np.random.default_rng(seed)
    out = []
    for cat, p in W.benchmark_prompts():
        for _ in range(n_per_prompt):
            out.append((cat, p, W.render(W.scene_for_prompt(p, rng), M.IMAGE_SIZE)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("traffic", nargs="+", help="traffic dirs (winnow.traffic.dir) whose latents/*.npy the UNet made")
    ap.add_argument("--work", required=True)
    ap.add_argument("--pack", default=PACK)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64, help="latents and rendered scenes per step, each")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--scenes", type=int, default=20000, help="rendered scenes for the reconstruction term")
    ap.add_argument("--recon-every", type=int, default=8, metavar="K",
                    help="the reconstruction term every K steps (0: never); it runs the decoder backwards, "
                         "which costs about ten encoder steps on a CPU")
    ap.add_argument("--recon-batch", type=int, default=8)
    ap.add_argument("--val-share", type=float, default=0.05, help="generations held out for validation")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.work, exist_ok=True)
    t0, cpu0 = time.time(), time.process_time()

    _, _, dec, scale, _ = load_pipeline(a.pack)
    dec.requires_grad_(False)
    z, gens = traffic_latents(a.traffic)
    rng = np.random.default_rng(a.seed)
    held = rng.random(gens.max() + 1) < a.val_share
    val = held[gens]
    imgs = decode_uint8(a.pack, z, a.threads)
    tr_z, tr_imgs = z[~val], imgs[~val]
    va_z, va_imgs = z[val], imgs[val]
    _, renders = render_scenes(7, a.scenes)
    _, val_renders = render_scenes(8, 128)
    checks = checker_scenes()
    print(f"{len(tr_z)} training latents, {len(va_z)} held out (by generation), {len(renders)} rendered scenes; "
          f"prepared in {time.time() - t0:.0f}s", flush=True)

    enc = M.Encoder()
    opt = torch.optim.AdamW(enc.parameters(), lr=a.lr, weight_decay=0.0)
    log, rec = [], torch.tensor(float('nan'))
    for step in range(1, a.steps + 1):
        for g in opt.param_groups:  # cosine decay to a tenth, as train_scenes' autoencoder
            g["lr"] = a.lr * float(0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * step / a.steps)))
        i = rng.integers(len(tr_z), size=a.batch)
        reg = F.mse_loss(enc(to_pixel_values(tr_imgs[i]))[0] * scale, tr_z[i])
        loss = reg
        if a.recon_every and step % a.recon_every == 0:
            x = to_pixel_values(renders[rng.integers(len(renders), size=a.recon_batch)])
            rec = recon_loss(x, dec(enc(x)[0]))
            loss = reg + rec
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(enc.parameters(), 1.0)
        opt.step()
        if step % 250 == 0 or step == a.steps:
            v = validate(enc, dec, scale, va_imgs, va_z, val_renders, checks if step == a.steps else [])
            v.update(step=step, latent_mse=round(reg.item(), 5), recon=round(rec.item(), 5),
                     seconds=round(time.time() - t0))
            log.append(v)
            print(json.dumps(v), flush=True)
    save(os.path.join(a.work, "vae.pt"), {"enc": enc.state_dict(), "dec": dec.state_dict(), "step": a.steps,
                                          "elapsed": time.time() - t0, "fitted_to": os.path.abspath(a.pack)})
    report = {"pack": os.path.abspath(a.pack), "traffic": [os.path.abspath(d) for d in a.traffic],
              "training_latents": len(tr_z), "held_out_latents": len(va_z), "rendered_scenes": len(renders),
              "steps": a.steps, "batch": a.batch, "lr": a.lr, "wall_min": round((time.time() - t0) / 60, 1),
              "cpu_min": round((time.process_time() - cpu0) / 60, 1), "final": log[-1], "log": log}
    with open(os.path.join(a.work, "encoder-report.json"), "w") as f:
        json.dump(report, f, indent=1)
    print(f"wrote {a.work}/vae.pt; {report['wall_min']} min wall, {report['cpu_min']} CPU-min", flush=True)


if __name__ == "__main__":
    main()
