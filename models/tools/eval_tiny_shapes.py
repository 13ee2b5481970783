"""Measure the exported tiny-shapes pack with ONNX Runtime, as the service would run it.

    python models/tools/eval_tiny_shapes.py [--pack models/tiny-shapes] [--seeds 4] [--guidance 5]

Samples every (colour, shape, background) prompt of the world with DDIM (diffusers'
defaults for the pack's scheduler config: `leading` spacing, steps_offset 1,
set_alpha_to_one false, eta 0) and classifier-free guidance, decodes, and asks the
analytic checker (shapes_world.check) what it sees. Prints the fraction of single
samples whose colour and shape both match, and writes a contact sheet.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import time

import numpy as np
import onnxruntime as ort
from PIL import Image

import shapes_world as W
from clip_bpe import ClipTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))


class Pipeline:
    def __init__(self, pack, threads=2):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        load = lambda n: ort.InferenceSession(os.path.join(pack, n, "model.onnx"), so, providers=["CPUExecutionProvider"])
        self.text, self.unet, self.vae = load("text_encoder"), load("unet"), load("vae_decoder")
        self.tok = ClipTokenizer(os.path.join(pack, "tokenizer"))
        cfg = json.load(open(os.path.join(pack, "scheduler", "scheduler_config.json")))
        betas = np.linspace(cfg["beta_start"] ** 0.5, cfg["beta_end"] ** 0.5, cfg["num_train_timesteps"], dtype=np.float64) ** 2
        self.acp = np.cumprod(1 - betas)
        self.cfg = cfg
        self.scale = json.load(open(os.path.join(pack, "vae_decoder", "config.json")))["scaling_factor"]

    def encode(self, prompts):
        ids = np.array([self.tok(p) for p in prompts], dtype=np.int32)
        return self.text.run(None, {"input_ids": ids})[0]

    def generate(self, prompts, seeds, steps=20, guidance=5.0):
        b = len(prompts)
        cond, uncond = self.encode(prompts), self.encode([""] * b)
        latents = np.stack([np.random.default_rng(s).standard_normal((4, 8, 8)) for s in seeds]).astype(np.float32)
        # DDIM timesteps, "leading" spacing (diffusers DDIMScheduler.set_timesteps)
        ratio = self.cfg["num_train_timesteps"] // steps
        ts = (np.arange(steps) * ratio)[::-1] + self.cfg["steps_offset"]
        for t in ts:
            x = np.concatenate([latents, latents])
            tt = np.full(2 * b, t, dtype=np.float32)
            eps = self.unet.run(None, {"sample": x, "timestep": tt, "encoder_hidden_states": np.concatenate([uncond, cond])})[0]
            eps = eps[:b] + guidance * (eps[b:] - eps[:b])
            prev = t - ratio
            a_t, a_prev = self.acp[t], (self.acp[prev] if prev >= 0 else self.acp[0])
            x0 = (latents - np.sqrt(1 - a_t) * eps) / np.sqrt(a_t)  # DDIM eq. 12, "predicted x0"
            latents = (np.sqrt(a_prev) * x0 + np.sqrt(1 - a_prev) * eps).astype(np.float32)  # eta = 0
        img = self.vae.run(None, {"latent_sample": (latents / self.scale).astype(np.float32)})[0]
        img = np.clip((img + 1) / 2, 0, 1).transpose(0, 2, 3, 1)
        return np.round(img * 255).astype(np.uint8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pack", default=os.path.join(HERE, "..", "tiny-shapes"))
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--form", type=int, default=0, help="caption form: 0 full, 1 'a red circle', 2 'red circle'")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sheet", default="/tmp/tiny-shapes-sheet.png")
    a = ap.parse_args()
    pipe = Pipeline(a.pack, a.threads)
    combos = list(itertools.product(W.SHAPES, W.COLOURS, W.BACKGROUNDS))
    jobs = [(W.Spec(s, c, b, 0.5, 32, 32, (0, 0, 0)), seed) for seed in range(a.seeds) for s, c, b in combos]
    t0 = time.time()
    imgs = []
    for i in range(0, len(jobs), 54):
        chunk = jobs[i:i + 54]
        imgs.append(pipe.generate([j[0].caption(a.form) for j in chunk], [1000 + k + i for k in range(len(chunk))],
                                  a.steps, a.guidance))
    imgs = np.concatenate(imgs)
    both = col = shp = bg = 0
    for (spec, _), im in zip(jobs, imgs):
        r = W.check(im)
        col += r["colour"] == spec.colour
        shp += r["shape"] == spec.shape
        bg += r["background"] == spec.background
        both += r["colour"] == spec.colour and r["shape"] == spec.shape
    n = len(jobs)
    print(f"{n} prompts (form {a.form}), DDIM {a.steps} steps, guidance {a.guidance}: "
          f"colour+shape {both/n:.3f}  colour {col/n:.3f}  shape {shp/n:.3f}  background {bg/n:.3f}  "
          f"({time.time()-t0:.1f}s)")
    sheet = imgs[:54].reshape(6, 9, 64, 64, 3).transpose(0, 2, 1, 3, 4).reshape(6 * 64, 9 * 64, 3)
    Image.fromarray(sheet).save(a.sheet)


if __name__ == "__main__":
    main()
