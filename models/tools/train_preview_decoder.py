"""Train the pack's preview decoder: a tiny stand-in for the VAE decoder that pruning's x̂0 previews go through.

    python models/tools/train_preview_decoder.py data   [--work /tmp/preview-decoder] [--prompts 240]
    python models/tools/train_preview_decoder.py train  [--work /tmp/preview-decoder] [--steps 6000]
    python models/tools/train_preview_decoder.py export [--work /tmp/preview-decoder]
    python models/tools/train_preview_decoder.py time                                  # ms per image, both decoders

Speculative best-of-N (issue 25) decodes every live candidate's x̂0 preview and lets the preview
judge read it. On the embedded pack the VAE decode was the larger part of that (about 7 ms of an
image's 10), more than a UNet row. Real systems preview through a tiny decoder instead (TAESD for
Stable Diffusion: the same latents in, a rougher image out, a fraction of the FLOPs). This is one
for `shapes-scenes`, trained here by distillation:

  * data: the pack itself in ONNX Runtime (`service_twin.Pipeline`: the service's DDIM 20,
    guidance 5) samples 8 candidates for each of random *training* prompts
    (`scenes_world.training_prompt`, rng seed 2525: the benchmark's forms, never a held-out
    prompt; seeds from 900000, apart from every evaluation's and the loop's) and keeps the x̂0
    each step predicts after k = 1 ... 10, 12, 16 and 20 steps (the range pruning judges in, and
    final images), with what the pack's own VAE decoder makes of it (uint8, as the service's
    RgbImage has it). Nothing about correctness or any judge is used: the target is the VAE's
    image of the same latent.
  * train: the tiny decoder (below) learns to map a latent to the VAE's image: L1 + MSE on
    [-1, 1] pixels, AdamW, cosine schedule; a tenth of the prompts is held out and reported
    (mean absolute error in 0..255 levels, per level of k).
  * export: models/shapes-scenes/preview_decoder/ (model.onnx with the VAE decoder's interface:
    `latent_sample` [batch, 4, 16, 16] divided by the scaling factor in, `sample` [batch, 3, 64, 64]
    in [-1, 1] out; config.json saying what it is), checked against torch with ONNX Runtime.

Architecture: every layer works at the latent's 16x16 but the last two; a 3x3 stem to 48
channels, three residual 3x3 blocks, a 1x1 to 12 channels and a 2x pixel shuffle to 32x32, one
3x3 conv there, and a 2x pixel shuffle to 64x64 RGB: 0.13 M parameters, about 70 MFLOPs an image,
about 8x faster than the pack's VAE decoder in ONNX Runtime on a CPU (`time`).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import scenes_world as W
import service_twin as T

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "shapes-scenes", "preview_decoder"))
LEVELS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16, 20)
SEED_BASE = 900_000
CHUNK_PROMPTS = 8


class TinyDecoder(nn.Module):
    """Latent [B, 4, 16, 16] (divided by the scaling factor) -> image [B, 3, 64, 64] in [-1, 1]."""

    def __init__(self, latent_channels: int = 4, width: int = 48, blocks: int = 3):
        super().__init__()
        self.stem = nn.Conv2d(latent_channels, width, 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1))
            for _ in range(blocks))
        self.to32 = nn.Conv2d(width, 12 * 4, 1)  # pixel shuffle 2: 12 channels at 32x32
        self.mid = nn.Conv2d(12, 12, 3, padding=1)
        self.to64 = nn.Conv2d(12, 3 * 4, 3, padding=1)  # pixel shuffle 2: RGB at 64x64

    def forward(self, z):
        h = F.relu(self.stem(z))
        for b in self.blocks:
            h = F.relu(h + b(h))
        h = F.pixel_shuffle(self.to32(h), 2)
        h = F.relu(h + self.mid(h))
        return torch.tanh(F.pixel_shuffle(self.to64(h), 2))


def data(args):
    os.makedirs(os.path.join(args.work, "data"), exist_ok=True)
    pipe = T.Pipeline(threads=2)
    rng = np.random.default_rng(2525)
    prompts = []
    for i in range(args.prompts):
        prompts.append(W.training_prompt(W.CATEGORIES[i % len(W.CATEGORIES)], rng))
    t0 = time.time()
    for c in range(0, len(prompts), CHUNK_PROMPTS):
        path = os.path.join(args.work, "data", f"chunk-{c // CHUNK_PROMPTS:04d}.npz")
        if os.path.exists(path):
            continue
        chunk = prompts[c:c + CHUNK_PROMPTS]
        batch_prompts = [p for p in chunk for _ in range(8)]
        seeds = [SEED_BASE + (c + i // 8) * 8 + i % 8 for i in range(len(batch_prompts))]
        kept = {}
        pipe.generate(batch_prompts, seeds, on_x0=lambda k, x0: kept.__setitem__(k, x0.copy()) if k in LEVELS else None)
        latents = np.stack([kept[k] for k in LEVELS], axis=1)  # [n, levels, 4, 16, 16], not yet scaled
        images = pipe.decode(latents.reshape(-1, *latents.shape[2:])).reshape(len(seeds), len(LEVELS), 64, 64, 3)
        np.savez_compressed(path, latents=(latents / np.float32(pipe.scaling_factor)).astype(np.float32),
                            images=images, prompt_index=np.array([c + i // 8 for i in range(len(seeds))]))
        print(f"chunk {c // CHUNK_PROMPTS}: {len(seeds)} candidates x {len(LEVELS)} levels ({time.time() - t0:.0f} s)",
              flush=True)


def load(work):
    files = sorted(glob.glob(os.path.join(work, "data", "chunk-*.npz")))
    if not files:
        raise SystemExit(f"no data under {work}/data: run `data` first")
    z, x, p = [], [], []
    for f in files:
        d = np.load(f)
        z.append(d["latents"])
        x.append(d["images"])
        p.append(d["prompt_index"])
    return np.concatenate(z), np.concatenate(x), np.concatenate(p)


def to_target(images):
    """uint8 NHWC -> float [-1, 1] NCHW (what the VAE output was before RgbImage rounded it)."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1


def train(args):
    torch.manual_seed(7)
    torch.set_num_threads(2)
    z, x, p = load(args.work)
    held = p % 10 == 9
    zt = torch.from_numpy(z[~held].reshape(-1, *z.shape[2:]))
    xt = x[~held].reshape(-1, *x.shape[2:])
    zh, xh = z[held], x[held]
    print(f"train {len(zt)} latents ({int((~held).sum())} candidates), held out {int(held.sum())} candidates")
    model = TinyDecoder()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=args.steps, pct_start=0.05)
    rng = np.random.default_rng(11)
    t0 = time.time()
    for step in range(1, args.steps + 1):
        idx = rng.integers(0, len(zt), args.batch)
        out = model(zt[idx])
        target = to_target(xt[idx])
        loss = F.l1_loss(out, target) + F.mse_loss(out, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0 or step == args.steps:
            print(f"step {step}: loss {loss.item():.4f} ({time.time() - t0:.0f} s)", flush=True)
    torch.save(model.state_dict(), os.path.join(args.work, "preview-decoder.pt"))
    report = evaluate(model, zh, xh)
    with open(os.path.join(args.work, "preview-decoder-eval.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(report, indent=2))


@torch.no_grad()
def evaluate(model, zh, xh):
    """Mean absolute error in 0..255 levels against the VAE's image, per level of k, on held-out prompts."""
    model.eval()
    out = {}
    for li, k in enumerate(LEVELS):
        pred = model(torch.from_numpy(np.ascontiguousarray(zh[:, li])))
        img = T.to_uint8(pred.numpy()).astype(np.int16)
        out[f"mae_levels_k{k}"] = round(float(np.abs(img - xh[:, li].astype(np.int16)).mean()), 3)
    out["held_out_candidates"] = int(len(zh))
    return out


def export(args):
    model = TinyDecoder()
    model.load_state_dict(torch.load(os.path.join(args.work, "preview-decoder.pt")))
    model.eval()
    os.makedirs(OUT, exist_ok=True)
    onnx_path = os.path.join(OUT, "model.onnx")
    z = torch.randn(2, 4, 16, 16)
    torch.onnx.export(model, (z,), onnx_path, input_names=["latent_sample"], output_names=["sample"],
                      dynamic_axes={"latent_sample": {0: "batch"}, "sample": {0: "batch"}}, opset_version=17,
                      dynamo=False)
    sess = T.session(onnx_path, 2)
    diff = float(np.abs(sess.run(None, {"latent_sample": z.numpy()})[0] - model(z).detach().numpy()).max())
    with open(os.path.join(args.work, "preview-decoder-eval.json")) as f:
        report = json.load(f)
    config = {
        "_class_name": "WinnowPreviewDecoder",
        "distilled_from": "vae_decoder",
        "description": "A tiny stand-in for the VAE decoder, for the x\u03020 previews that pruning judges only "
                       "(never for a returned image): the VAE decoder's interface, about a tenth of its cost. "
                       "Trained by models/tools/train_preview_decoder.py on the pack's own previews of training "
                       "prompts, with the VAE's image of each as the target.",
        "latent_channels": 4,
        "sample_size": 64,
        "levels_k": list(LEVELS),
        "metrics": {**report, "onnx_vs_torch_max_abs_diff": diff},
    }
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    print(f"wrote {onnx_path} (onnx vs torch max abs diff {diff:.2e})")


def timing(_args):
    """Median ms per batch of 8 latents: the pack's VAE decoder against the preview decoder (ONNX Runtime, 2 threads)."""
    z = np.random.default_rng(0).standard_normal((8, 4, 16, 16)).astype(np.float32)
    for name in ("vae_decoder", "preview_decoder"):
        path = os.path.join(T.PACK, name, "model.onnx")
        if not os.path.exists(path):
            continue
        s = T.session(path, 2)
        for _ in range(5):
            s.run(None, {"latent_sample": z})
        ts = []
        for _ in range(50):
            t0 = time.perf_counter()
            s.run(None, {"latent_sample": z})
            ts.append(time.perf_counter() - t0)
        print(f"{name}: {1000 * np.median(ts):.2f} ms per 8 latents")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["data", "train", "export", "time"])
    ap.add_argument("--work", default="/tmp/preview-decoder")
    ap.add_argument("--prompts", type=int, default=240)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    {"data": data, "train": train, "export": export, "time": timing}[args.command](args)


if __name__ == "__main__":
    main()
