"""Train the tiny-shapes latent diffusion pipeline and export it in Optimum's ONNX layout.

    python models/tools/train_tiny_shapes.py all --vae-steps 1251 --unet-steps 11419 --threads 2

(the step counts of the committed pack; about 45 minutes on an idle 2-core machine).
Without --*-steps each stage runs for --*-minutes of wall-clock time instead.

Stages (each can run alone; state lives in --work, default /tmp/tiny-shapes-work):
  vae      train the autoencoder on rendered shapes-world images
  latents  encode a fixed image set into latents (+ the scaling factor, as diffusers)
  unet     train the text encoder and UNet jointly (epsilon prediction, DDPM schedule,
           10% empty captions for classifier-free guidance, weight EMA)
  export   write models/tiny-shapes/ (ONNX models + configs)
Fixed seeds throughout. With step counts the recipe is the same on every machine (float
results can still differ in the last bits between thread counts and CPUs).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

import shapes_world as W
import tiny_shapes_model as M
from build_tokenizer import write as write_tokenizer
from clip_bpe import ClipTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
PACK = os.path.normpath(os.path.join(HERE, "..", "tiny-shapes"))

# DDPM training schedule: SD's `scaled_linear` betas (diffusers scheduler_config).
T_TRAIN, BETA_START, BETA_END = 1000, 0.00085, 0.012


def alphas_cumprod():
    betas = torch.linspace(BETA_START ** 0.5, BETA_END ** 0.5, T_TRAIN, dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, 0).float()


def to_tensor(imgs: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1


def render_set(seed: int, n: int):
    rng = np.random.default_rng(seed)
    return W.sample_batch(rng, n)


def adjust_threads():
    """Lets a long run take more cores once other jobs finish: echo 2 > $WINNOW_TRAIN_THREADS_FILE."""
    path = os.environ.get("WINNOW_TRAIN_THREADS_FILE")
    if path and os.path.exists(path):
        n = int(open(path).read().strip() or 0)
        if n > 0 and n != torch.get_num_threads():
            torch.set_num_threads(n)
            print(f"now using {n} threads", flush=True)


# ---------------------------------------------------------------- stage: vae
def train_vae(work, minutes, max_steps=None):
    torch.manual_seed(0)
    _, train = render_set(1, 8000)
    _, val = render_set(2, 512)
    enc, dec = M.Encoder(), M.Decoder()
    opt = torch.optim.AdamW(list(enc.parameters()) + list(dec.parameters()), lr=2e-3, weight_decay=0.0)
    rng = np.random.default_rng(3)
    t0, step = time.time(), 0
    while time.time() - t0 < minutes * 60 and (max_steps is None or step < max_steps):
        x = to_tensor(train[rng.integers(len(train), size=64)])
        mean, logvar = enc(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        y = dec(z)
        kl = 0.5 * torch.mean(mean ** 2 + logvar.exp() - 1 - logvar)
        loss = F.mse_loss(y, x) + 0.5 * F.l1_loss(y, x) + 1e-5 * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 100 == 0:
            adjust_threads()
            print(f"vae step {step} loss {loss.item():.4f} psnr {psnr(enc, dec, val):.2f} dB  {time.time()-t0:.0f}s", flush=True)
    print(f"vae done: {step} steps, val PSNR {psnr(enc, dec, val):.2f} dB")
    torch.save({"enc": enc.state_dict(), "dec": dec.state_dict()}, os.path.join(work, "vae.pt"))


@torch.no_grad()
def psnr(enc, dec, imgs):
    x = to_tensor(imgs)
    y = dec(enc(x)[0]).clamp(-1, 1)
    mse = torch.mean(((y - x) / 2) ** 2).item()
    return 10 * np.log10(1.0 / mse)


# ---------------------------------------------------------------- stage: latents
@torch.no_grad()
def encode_latents(work, n):
    vae = torch.load(os.path.join(work, "vae.pt"))
    enc = M.Encoder()
    enc.load_state_dict(vae["enc"])
    specs, imgs = render_set(4, n)
    means, stds = [], []
    for i in range(0, n, 256):
        m, lv = enc(to_tensor(imgs[i:i + 256]))
        means.append(m)
        stds.append(torch.exp(0.5 * lv))
    mean, std = torch.cat(means), torch.cat(stds)
    # diffusers' convention: latents are multiplied by scaling_factor = 1/std(latents)
    # so the diffusion model sees unit variance; the decoder gets latents / factor.
    sample = mean + std * torch.randn_like(mean)
    scaling = float(1.0 / sample.std())
    tok = ClipTokenizer(os.path.join(PACK, "tokenizer"))
    ids = torch.tensor([[tok(s.caption(f)) for f in range(3)] for s in specs], dtype=torch.int32)
    torch.save({"mean": mean, "std": std, "ids": ids, "empty": torch.tensor(tok(""), dtype=torch.int32),
                "scaling_factor": scaling}, os.path.join(work, "latents.pt"))
    print(f"encoded {n} images; scaling_factor {scaling:.5f}")


# ---------------------------------------------------------------- stage: unet
def train_unet(work, minutes, batch=64, resume=False, max_steps=None):
    torch.manual_seed(5)
    data = torch.load(os.path.join(work, "latents.pt"))
    mean, std, ids, empty, scale = data["mean"], data["std"], data["ids"], data["empty"], data["scaling_factor"]
    vocab = len(ClipTokenizer(os.path.join(PACK, "tokenizer")).encoder)
    text, unet = M.TextEncoder(vocab), M.UNet()
    params = list(text.parameters()) + list(unet.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    ema = {"text": copy.deepcopy(text), "unet": copy.deepcopy(unet)}
    step, elapsed = 0, 0.0
    ckpt = os.path.join(work, "unet.pt")
    if resume and os.path.exists(ckpt):
        st = torch.load(ckpt)
        text.load_state_dict(st["text"]); unet.load_state_dict(st["unet"])
        ema["text"].load_state_dict(st["ema_text"]); ema["unet"].load_state_dict(st["ema_unet"])
        opt.load_state_dict(st["opt"]); step, elapsed = st["step"], st["elapsed"]
    acp = alphas_cumprod()
    g = torch.Generator().manual_seed(6 + step)
    n = len(mean)
    t0, last_save = time.time() - elapsed, time.time()
    while time.time() - t0 < minutes * 60 and (max_steps is None or step < max_steps):
        idx = torch.randint(n, (batch,), generator=g)
        form = torch.multinomial(torch.tensor([0.6, 0.2, 0.2]), batch, replacement=True, generator=g)
        tok = ids[idx, form]
        drop = torch.rand(batch, generator=g) < 0.1  # empty caption: teaches the unconditional model
        tok[drop] = empty
        x0 = (mean[idx] + std[idx] * torch.randn(mean[idx].shape, generator=g)) * scale
        t = torch.randint(T_TRAIN, (batch,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        a = acp[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise  # q(x_t | x_0), DDPM eq. 4
        pred = unet(xt, t.float(), text(tok))
        loss = F.mse_loss(pred, noise)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for k, model in (("text", text), ("unet", unet)):
                for pe, p in zip(ema[k].parameters(), model.parameters()):
                    pe.mul_(decay).add_(p, alpha=1 - decay)
        if step % 100 == 0:
            adjust_threads()
            print(f"unet step {step} loss {loss.item():.4f} {time.time()-t0:.0f}s", flush=True)
        if time.time() - last_save > 300:
            save_unet(ckpt, text, unet, ema, opt, step, time.time() - t0)
            last_save = time.time()
    save_unet(ckpt, text, unet, ema, opt, step, time.time() - t0)
    print(f"unet done: {step} steps in {time.time()-t0:.0f}s")


def save_unet(path, text, unet, ema, opt, step, elapsed):
    torch.save({"text": text.state_dict(), "unet": unet.state_dict(), "ema_text": ema["text"].state_dict(),
                "ema_unet": ema["unet"].state_dict(), "opt": opt.state_dict(), "step": step,
                "elapsed": elapsed}, path + ".tmp")
    os.replace(path + ".tmp", path)


# ---------------------------------------------------------------- stage: export
def export(work, out=PACK):
    vae = torch.load(os.path.join(work, "vae.pt"))
    st = torch.load(os.path.join(work, "unet.pt"))
    scale = torch.load(os.path.join(work, "latents.pt"))["scaling_factor"]
    vocab = len(ClipTokenizer(os.path.join(out, "tokenizer")).encoder)
    text, unet, dec = M.TextEncoder(vocab), M.UNet(), M.Decoder()
    text.load_state_dict(st["ema_text"]); unet.load_state_dict(st["ema_unet"]); dec.load_state_dict(vae["dec"])
    for m in (text, unet, dec):
        m.eval()
    b = 2
    jobs = [
        ("text_encoder", text, (torch.zeros(b, M.MAX_LEN, dtype=torch.int32),), ["input_ids"], ["last_hidden_state"],
         {"input_ids": {0: "batch"}, "last_hidden_state": {0: "batch"}}),
        ("unet", unet, (torch.randn(b, 4, 8, 8), torch.tensor([999.0, 1.0]), torch.randn(b, M.MAX_LEN, M.TEXT_DIM)),
         ["sample", "timestep", "encoder_hidden_states"], ["out_sample"],
         {"sample": {0: "batch"}, "timestep": {0: "batch"}, "encoder_hidden_states": {0: "batch"}, "out_sample": {0: "batch"}}),
        ("vae_decoder", M.VaeDecoderExport(dec), (torch.randn(b, 4, 8, 8),), ["latent_sample"], ["sample"],
         {"latent_sample": {0: "batch"}, "sample": {0: "batch"}}),
    ]
    for name, model, args, ins, outs, axes in jobs:
        os.makedirs(os.path.join(out, name), exist_ok=True)
        path = os.path.join(out, name, "model.onnx")
        torch.onnx.export(model, args, path, input_names=ins, output_names=outs, dynamic_axes=axes,
                          opset_version=17, dynamo=False)
        print("wrote", path, os.path.getsize(path))
    write_configs(out, vocab, scale, st["step"])


def write_configs(out, vocab, scale, steps):
    def dump(rel, obj):
        os.makedirs(os.path.dirname(os.path.join(out, rel)), exist_ok=True)
        with open(os.path.join(out, rel), "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")

    dump("model_index.json", {
        "_class_name": "ORTStableDiffusionPipeline", "_diffusers_version": "0.30.0",
        "feature_extractor": [None, None], "requires_safety_checker": False, "safety_checker": [None, None],
        "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": ["optimum", "ORTModelTextEncoder"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["optimum", "ORTModelUnet"],
        "vae_decoder": ["optimum", "ORTModelVaeDecoder"], "winnow_name": "tiny-shapes"})
    dump("scheduler/scheduler_config.json", {
        "_class_name": "PNDMScheduler", "_diffusers_version": "0.30.0", "num_train_timesteps": T_TRAIN,
        "beta_start": BETA_START, "beta_end": BETA_END, "beta_schedule": "scaled_linear", "trained_betas": None,
        "prediction_type": "epsilon", "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
        "timestep_spacing": "leading", "clip_sample": False})
    dump("text_encoder/config.json", {
        "architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "hidden_size": M.TEXT_DIM,
        "max_position_embeddings": M.MAX_LEN, "vocab_size": vocab, "num_hidden_layers": 2,
        "num_attention_heads": 4, "bos_token_id": vocab - 2, "eos_token_id": vocab - 1, "pad_token_id": vocab - 1})
    dump("unet/config.json", {
        "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.30.0", "sample_size": 8,
        "in_channels": 4, "out_channels": 4, "cross_attention_dim": M.TEXT_DIM,
        "block_out_channels": [32, 64], "winnow_training_steps": steps})
    dump("vae_decoder/config.json", {
        "_class_name": "AutoencoderKL", "_diffusers_version": "0.30.0", "latent_channels": 4,
        "in_channels": 3, "out_channels": 3, "sample_size": 64, "scaling_factor": round(scale, 6)})


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("stage", choices=["vae", "latents", "unet", "export", "all"])
    ap.add_argument("--work", default="/tmp/tiny-shapes-work")
    ap.add_argument("--vae-minutes", type=float, default=6)
    ap.add_argument("--unet-minutes", type=float, default=45)
    ap.add_argument("--vae-steps", type=int, help="stop the autoencoder after this many steps (else --vae-minutes)")
    ap.add_argument("--unet-steps", type=int, help="stop the UNet after this many steps (else --unet-minutes)")
    ap.add_argument("--latents", type=int, default=16000)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    os.makedirs(a.work, exist_ok=True)
    if a.stage in ("vae", "all"):
        write_tokenizer(PACK)
        train_vae(a.work, a.vae_minutes if a.vae_steps is None else 1e9, a.vae_steps)
    if a.stage in ("latents", "all"):
        encode_latents(a.work, a.latents)
    if a.stage in ("unet", "all"):
        train_unet(a.work, a.unet_minutes if a.unet_steps is None else 1e9, resume=a.resume, max_steps=a.unet_steps)
    if a.stage in ("export", "all"):
        export(a.work)
