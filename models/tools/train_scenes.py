"""Train the shapes-scenes latent diffusion pipeline and export it in Optimum's ONNX layout.

    python models/tools/train_scenes.py all --vae-steps 6000 --unet-steps 60000 --threads 2

Stages (each can run alone; state lives in --work, default /tmp/scenes-work):
  tokenizer  learn the pack's CLIP-format BPE vocabulary from the scenes captions
  vae        train the 4x autoencoder on rendered scenes (edge-weighted L1 + MSE, tiny KL)
  data       render --scenes training scenes and encode them once (latent means + the
             scaling factor, as diffusers records it); the scenes are kept so that every
             visit draws a fresh caption that is true of the scene
  unet       train the text encoder and UNet jointly: v prediction, SD's scaled_linear
             DDPM schedule, min-SNR-5 loss weights, 10% empty captions (classifier-free
             guidance), weight EMA; checkpoints every 5 minutes, --resume continues
  export     write models/shapes-scenes/ (ONNX models + configs; --out elsewhere, --version its winnow_version)
Going on from a pack instead of from scratch: fit an encoder to its decoder (train_encoder.py --work DIR, which
writes DIR/vae.pt), then `data --work DIR` (the pack's scaling factor is kept), `unet --work DIR --init-pack PACK`
(its text encoder and UNet as the start; --lr, --warmup) and `export --work DIR --init-pack PACK --out NEW
--version V` (NEW starts as PACK's copy, so the preview decoder comes along; its README says what it is).
`unet --grow-positional` gives the UNet's attention a learned position per cell first (scenes_model.grow_positional),
`--grow-bidirectional K` the text encoder K unmasked blocks after its causal ones (scenes_model.grow_bidirectional).
`data` and `unet` take `--device cuda`; scenes_gpu.sh runs both in one call on a GPU machine, keeping EMA snapshots.
Fixed seeds throughout; with step counts the recipe is the same on every machine (float
results can differ in the last bits between thread counts and CPUs).
"""
from __future__ import annotations

import argparse
import copy
import json
import multiprocessing as mp
import os
import pickle
import shutil
import time

import numpy as np
import torch
import torch.nn.functional as F

import scenes_model as M
import scenes_world as W
from clip_bpe import END, START, ClipTokenizer, build_vocab
from image_aug import to_pixel_values

HERE = os.path.dirname(os.path.abspath(__file__))
PACK = os.path.normpath(os.path.join(HERE, "..", "shapes-scenes"))
NAME = "shapes-scenes"

# DDPM training schedule: Stable Diffusion's (diffusers scheduler_config `scaled_linear`).
T_TRAIN, BETA_START, BETA_END = 1000, 0.00085, 0.012
MIN_SNR_GAMMA = 5.0  # Hang et al. 2023, "Efficient Diffusion Training via Min-SNR Weighting"
POSITION_LR_SCALE = 10.0  # the learning rate of positions new to a trained UNet (--grow-positional), times --lr
# Where a sample's layout is decided: from t = 800 on, x_t keeps under 5% of x_0's variance (SNR < 0.05), and
# which object goes where is already fixed when the denoiser leaves this range (relation_probe.py's question).
LAYOUT_T = 800

EXTRA_WORDS = ["the", "of", "with", "in", "photo", "picture", "image", "drawing", "shape", "shapes", "object",
               "objects", "colour", "color", "grey", "big", "tiny", "next", "beside", "near", "centred",
               "centered", "one", "five", "six", "many", "some", "several", "under", "over", "top", "bottom"]


def alphas_cumprod():
    betas = torch.linspace(BETA_START ** 0.5, BETA_END ** 0.5, T_TRAIN, dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, 0).float()


def adjust_threads():
    """Lets a long run change its thread count: echo 2 > $WINNOW_TRAIN_THREADS_FILE."""
    path = os.environ.get("WINNOW_TRAIN_THREADS_FILE")
    if path and os.path.exists(path):
        n = int(open(path).read().strip() or 0)
        if n > 0 and n != torch.get_num_threads():
            torch.set_num_threads(n)
            print(f"now using {n} threads", flush=True)


# ---------------------------------------------------------------- stage: tokenizer
def caption_words():
    from collections import Counter
    words = Counter()
    rng = np.random.default_rng(0)
    for _ in range(20000):
        words.update(W.caption_for(W.sample_scene(rng), rng).replace(",", " ,").split())
    for _, p in W.benchmark_prompts():
        words.update(p.split())
    return words


def write_tokenizer(pack=PACK):
    out = os.path.join(pack, "tokenizer")
    build_vocab(caption_words(), out, EXTRA_WORDS)
    with open(os.path.join(out, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": START, "eos_token": END, "pad_token": END, "unk_token": END}, f, indent=2)
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "CLIPTokenizer", "model_max_length": M.MAX_LEN, "do_lower_case": True,
                   "bos_token": START, "eos_token": END, "pad_token": END, "unk_token": END}, f, indent=2)
    tok = ClipTokenizer(out)
    print("vocab size", len(tok.encoder), "e.g.", tok.encode_unpadded("a red circle to the left of a blue square"))


# ---------------------------------------------------------------- rendering in parallel
def _render_chunk(args):
    seed, n = args
    rng = np.random.default_rng(seed)
    scenes = [W.sample_scene(rng) for _ in range(n)]
    return scenes, np.stack([W.render(s, M.IMAGE_SIZE) for s in scenes])


def render_scenes(seed, n, workers=2, chunk=2000):
    return render_batches([(seed, n)], workers, chunk)[0]


def render_batches(batches, workers=2, chunk=2000):
    """[(scenes, images)] for each (seed, n) in batches, as render_scenes(seed, n) gives them, all
    rendered in one pool (so that many workers have enough jobs)."""
    jobs = [[(seed * 100003 + i, min(chunk, n - i * chunk)) for i in range((n + chunk - 1) // chunk)]
            for seed, n in batches]
    with mp.get_context("fork").Pool(workers) as pool:
        parts = pool.map(_render_chunk, [j for batch in jobs for j in batch])
    out, k = [], 0
    for batch in jobs:
        mine, k = parts[k:k + len(batch)], k + len(batch)
        out.append(([s for p in mine for s in p[0]], np.concatenate([p[1] for p in mine])))
    return out


# ---------------------------------------------------------------- stage: vae
def edge_weights(x):
    """1 on flat areas, 5 within a pixel of an edge: edges are what the checker reads."""
    g = (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().sum(1, keepdim=True)
    gx = F.pad(g, (0, 0, 0, 1)) + F.pad(g, (0, 0, 1, 0))
    g = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().sum(1, keepdim=True)
    gy = F.pad(g, (0, 1, 0, 0)) + F.pad(g, (1, 0, 0, 0))
    edge = ((gx + gy) > 0.05).float()
    return 1 + 4 * F.max_pool2d(edge, 3, 1, 1)


def recon_loss(x, y):
    """The autoencoder's reconstruction loss: MSE + half L1, each pixel weighted by edge_weights(x)."""
    return (edge_weights(x) * ((y - x) ** 2 + 0.5 * (y - x).abs())).mean()


def train_vae(work, minutes, max_steps=None, batch=32, resume=False):
    torch.manual_seed(0)
    _, train = render_scenes(1, 40000)
    _, val = render_scenes(2, 512)
    enc, dec = M.Encoder(), M.Decoder()
    params = list(enc.parameters()) + list(dec.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.0)
    step, elapsed = 0, 0.0
    ckpt = os.path.join(work, "vae.pt")
    if resume and os.path.exists(ckpt):
        st = torch.load(ckpt, weights_only=False)
        enc.load_state_dict(st["enc"]); dec.load_state_dict(st["dec"]); opt.load_state_dict(st["opt"])
        step, elapsed = st["step"], st["elapsed"]
    rng = np.random.default_rng(3 + step)
    t0, last_save = time.time() - elapsed, time.time()
    total = max_steps or 10 ** 9
    while time.time() - t0 < minutes * 60 and step < total:
        if max_steps:  # cosine decay to a tenth over a fixed step budget
            for g in opt.param_groups:
                g["lr"] = 1e-3 * float(0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * step / max_steps)))
        x = to_pixel_values(train[rng.integers(len(train), size=batch)])
        mean, logvar = enc(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        y = dec(z)
        kl = 0.5 * torch.mean(mean ** 2 + logvar.exp() - 1 - logvar)
        loss = recon_loss(x, y) + 1e-6 * kl
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        if step % 200 == 0:
            adjust_threads()
            print(f"vae step {step} loss {loss.item():.4f} psnr {psnr(enc, dec, val):.2f} dB  {time.time()-t0:.0f}s",
                  flush=True)
        if time.time() - last_save > 300:
            save(ckpt, {"enc": enc.state_dict(), "dec": dec.state_dict(), "opt": opt.state_dict(), "step": step,
                        "elapsed": time.time() - t0})
            last_save = time.time()
    save(ckpt, {"enc": enc.state_dict(), "dec": dec.state_dict(), "opt": opt.state_dict(), "step": step,
                "elapsed": time.time() - t0})
    print(f"vae done: {step} steps, val PSNR {psnr(enc, dec, val):.2f} dB")


def save(path, obj):
    torch.save(obj, path + ".tmp")
    os.replace(path + ".tmp", path)


@torch.no_grad()
def psnr(enc, dec, imgs):
    x = to_pixel_values(imgs)
    y = dec(enc(x)[0]).clamp(-1, 1)
    mse = torch.mean(((y - x) / 2) ** 2).item()
    return 10 * np.log10(1.0 / mse)


def load_autoencoder(work):
    st = torch.load(os.path.join(work, "vae.pt"), weights_only=False)
    enc, dec = M.Encoder(), M.Decoder()
    enc.load_state_dict(st["enc"]); dec.load_state_dict(st["dec"])
    return enc.eval(), dec.eval()


# ---------------------------------------------------------------- stage: data
@torch.no_grad()
def encode_data(work, n, device="cpu", workers=2):
    enc, _ = load_autoencoder(work)
    scenes, means = [], []
    chunk = 20000
    batches = [(4 + i // chunk, min(chunk, n - i)) for i in range(0, n, chunk)]
    # On the CPU a chunk at a time (memory); on a GPU everything first, so that no worker is forked
    # from a process that holds a CUDA context, and many workers have enough jobs.
    rendered = render_batches(batches, workers) if device != "cpu" else None
    enc.to(device)
    for k, (seed, count) in enumerate(batches):
        s, imgs = rendered[k] if rendered else render_scenes(seed, count, workers)
        scenes.extend(s)
        for j in range(0, len(imgs), 500):
            means.append(enc(to_pixel_values(imgs[j:j + 500]).to(device))[0].half().cpu())
        print(f"encoded {len(scenes)} scenes", flush=True)
    mean = torch.cat(means)
    # diffusers' convention: latents are multiplied by scaling_factor = 1/std(latents)
    # so the diffusion model sees unit variance; the decoder gets latents / factor.
    scaling = float(1.0 / mean[:20000].float().std())
    fitted_to = torch.load(os.path.join(work, "vae.pt"), weights_only=False).get("fitted_to")
    if fitted_to and not os.path.isdir(fitted_to):  # fitted on another machine: the pack of that name here
        fitted_to = os.path.join(os.path.dirname(PACK), os.path.basename(os.path.normpath(fitted_to)))
    if fitted_to:  # an encoder fitted to a pack's decoder (train_encoder.py) speaks that pack's latent space
        with open(os.path.join(fitted_to, "vae_decoder", "config.json")) as f:
            scaling = float(json.load(f)["scaling_factor"])
    torch.save({"mean": mean, "scaling_factor": scaling}, os.path.join(work, "latents.pt"))
    with open(os.path.join(work, "scenes.pkl"), "wb") as f:
        pickle.dump(scenes, f)
    print(f"encoded {n} scenes; scaling_factor {scaling:.5f}")


# ---------------------------------------------------------------- stage: unet
def train_unet(work, minutes, batch=64, resume=False, max_steps=None, lr=5e-4, warmup=1000, init_pack=None,
               relation_share=0.55, seed=0, grow_positional=False, device="cpu", snapshot_minutes=0.0,
               snapshot_dir=None, grow_bidirectional=0, relation_scenes=0.0, layout_share=0.0, layout_weight=0.0):
    """init_pack: go on from a pack's text encoder and UNet (its ONNX graphs mapped back to torch)
    instead of from scratch; the encoded scenes must be in that pack's latent space (train_encoder.py).
    seed: shifts every random stream (0 is v1's and v2's runs), so a continuation on the same scenes
    does not draw the batches, captions and noise an earlier run drew, in the same order.
    grow_positional: give the UNet's attention a learned position per cell first
    (scenes_model.grow_positional), starting from the same function.
    device: where the models train ("cuda" on a GPU machine). Every random draw (batches, captions,
    timesteps, noise) is still made on the CPU from the same seeded streams, so a step count is the
    same recipe on any device (floats differ in the last bits).
    snapshot_minutes > 0: also keep the EMA weights alone every so often (snapshot_dir, default WORK,
    /snap-STEP/unet.pt, which `export --work .../snap-STEP` reads with WORK/vae.pt beside it), to
    choose among on the tuning prompts.
    grow_bidirectional > 0: that many unmasked blocks after the text encoder's causal ones first
    (scenes_model.grow_bidirectional), starting from the same function.
    Training a relation's direction on purpose (all 0: the plain recipe, with its random streams
    unchanged): relation_scenes, the share of samples drawn from the two-object scenes whose pair a
    relation holds for, and captioned by it; layout_share, the share whose timestep is drawn from
    [LAYOUT_T, 1000), where the layout is decided; layout_weight, the least loss weight a sample at
    t >= LAYOUT_T gets (min-SNR-5 gives v prediction SNR / (SNR + 1) there: 0.005-0.04, against up to
    0.83 in the middle, so the steps that place the objects barely train)."""
    torch.manual_seed(5 + seed)
    data = torch.load(os.path.join(work, "latents.pt"), weights_only=False)
    latents, scale = data["mean"], data["scaling_factor"]
    with open(os.path.join(work, "scenes.pkl"), "rb") as f:
        scenes = pickle.load(f)
    tok = ClipTokenizer(os.path.join(PACK, "tokenizer"), M.MAX_LEN)
    empty = torch.tensor(tok(""), dtype=torch.int32)
    text, unet = M.TextEncoder(len(tok.encoder)), M.UNet()
    if init_pack:
        from onnx_to_torch import load_pipeline as load_pack
        text, unet, _, _, _ = load_pack(init_pack)
        text.train(); unet.train()
    ckpt = os.path.join(work, "unet.pt")
    st = torch.load(ckpt, weights_only=False, map_location=device) if resume and os.path.exists(ckpt) else None
    if st:  # a grown run resumes grown, whatever this command line says
        grow_positional = grow_positional or M.is_positional(st["unet"])
        grow_bidirectional = max(grow_bidirectional, M.bidirectional_blocks(st["text"]))
    if grow_positional and not unet.positional:
        unet = M.grow_positional(unet)
    if grow_bidirectional and not text.bidirectional:
        text = M.grow_bidirectional(text, grow_bidirectional)
    text.to(device); unet.to(device)
    params = list(text.parameters()) + list(unet.parameters())
    print(f"text encoder {sum(p.numel() for p in text.parameters())/1e6:.2f}M, "
          f"UNet {sum(p.numel() for p in unet.parameters())/1e6:.2f}M parameters", flush=True)
    # new positions (grow_positional) start at zero beside weights long trained: a larger step for them
    pos = [p for name, p in unet.named_parameters() if name.endswith(".pos")]
    rest = [p for p in params if all(p is not q for q in pos)]
    groups = [{"params": rest, "scale": 1.0}] + ([{"params": pos, "scale": POSITION_LR_SCALE}] if pos else [])
    opt = torch.optim.AdamW(groups, lr=lr, weight_decay=0.01)
    ema = {"text": copy.deepcopy(text), "unet": copy.deepcopy(unet)}
    step, elapsed = 0, 0.0
    if st:
        text.load_state_dict(st["text"]); unet.load_state_dict(st["unet"])
        ema["text"].load_state_dict(st["ema_text"]); ema["unet"].load_state_dict(st["ema_unet"])
        opt.load_state_dict(st["opt"]); step, elapsed = st["step"], st["elapsed"]
    acp = alphas_cumprod()
    snr = acp / (1 - acp)
    g = torch.Generator().manual_seed(6 + step + 1_000_003 * seed)
    rng = np.random.default_rng(7 + step + 1_000_003 * seed)
    n = len(latents)
    relational = torch.tensor([i for i, sc in enumerate(scenes) if W.has_caption_relation(sc)]) if relation_scenes > 0 else None
    if relational is not None:
        print(f"{len(relational)} of {n} scenes have a relation to caption; {relation_scenes:.0%} of samples "
              f"come from them", flush=True)
    t0, last_save = time.time() - elapsed, time.time()
    last_snap = time.time()
    total = max_steps or 10 ** 9
    ema_params = list(ema["text"].parameters()) + list(ema["unet"].parameters())  # in `params`' order
    while time.time() - t0 < minutes * 60 and step < total:
        for grp in opt.param_groups:
            grp["lr"] = grp["scale"] * lr * min(1.0, (step + 1) / warmup)
        idx = torch.randint(n, (batch,), generator=g)
        related = torch.zeros(batch, dtype=torch.bool)
        if relational is not None:
            related = torch.rand(batch, generator=g) < relation_scenes
            idx = torch.where(related, relational[torch.randint(len(relational), (batch,), generator=g)], idx)
        caption = lambda i, rel: W.caption_for(scenes[i], rng, relation_share=1.0 if rel else relation_share)
        ids = torch.stack([empty if rng.random() < 0.1 else  # empty caption: the unconditional model
                           torch.tensor(tok(caption(i, rel)), dtype=torch.int32)
                           for i, rel in zip(idx.tolist(), related.tolist())]).to(device)
        x0 = (latents[idx].float() * scale).to(device)
        t = torch.randint(T_TRAIN, (batch,), generator=g)
        if layout_share > 0:
            t = torch.where(torch.rand(batch, generator=g) < layout_share,
                            torch.randint(LAYOUT_T, T_TRAIN, (batch,), generator=g), t)
        noise = torch.randn(x0.shape, generator=g).to(device)
        a = acp[t].view(-1, 1, 1, 1).to(device)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise  # q(x_t | x_0), DDPM eq. 4
        v = a.sqrt() * noise - (1 - a).sqrt() * x0  # v target (Salimans & Ho 2022, eq. 8 of appendix D)
        pred = unet(xt, t.float().to(device), text(ids))
        # min-SNR-gamma weights for v prediction: min(SNR, gamma) / (SNR + 1)
        w = torch.clamp(snr[t], max=MIN_SNR_GAMMA) / (snr[t] + 1)
        if layout_weight > 0:
            w = torch.where(t >= LAYOUT_T, torch.clamp(w, min=layout_weight), w)
        w = w.view(-1, 1, 1, 1).to(device)
        loss = (w * (pred - v) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        decay = min(0.9995, (1 + step) / (10 + step))
        with torch.no_grad():  # ema = decay * ema + (1 - decay) * live, all tensors in one call each
            torch._foreach_mul_(ema_params, decay)
            torch._foreach_add_(ema_params, params, alpha=1 - decay)
        if step % 100 == 0:
            adjust_threads()
            print(f"unet step {step} loss {loss.item():.4f} {time.time()-t0:.0f}s", flush=True)
        if time.time() - last_save > 300:
            save_unet(ckpt, text, unet, ema, opt, step, time.time() - t0)
            last_save = time.time()
        if snapshot_minutes and time.time() - last_snap > snapshot_minutes * 60:
            save_snapshot(snapshot_dir or work, ema, step, time.time() - t0)
            last_snap = time.time()
    if snapshot_minutes:
        save_snapshot(snapshot_dir or work, ema, step, time.time() - t0)
    save_unet(ckpt, text, unet, ema, opt, step, time.time() - t0)
    print(f"unet done: {step} steps in {time.time()-t0:.0f}s")


def save_unet(path, text, unet, ema, opt, step, elapsed):
    save(path, {"text": text.state_dict(), "unet": unet.state_dict(), "ema_text": ema["text"].state_dict(),
                "ema_unet": ema["unet"].state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": elapsed})


def save_snapshot(folder, ema, step, elapsed):
    """The EMA weights alone (what export reads), on the CPU: about 16 MB against unet.pt's 65."""
    cpu = lambda model: {k: v.detach().cpu() for k, v in model.state_dict().items()}
    snap = os.path.join(folder, f"snap-{step}")
    os.makedirs(snap, exist_ok=True)
    save(os.path.join(snap, "unet.pt"), {"ema_text": cpu(ema["text"]), "ema_unet": cpu(ema["unet"]), "step": step,
                                         "elapsed": elapsed})
    print(f"snapshot {snap}", flush=True)


# ---------------------------------------------------------------- stage: export
def load_pipeline(work, pack=PACK):
    st = torch.load(os.path.join(work, "unet.pt"), weights_only=False, map_location="cpu")
    vocab = len(ClipTokenizer(os.path.join(pack, "tokenizer")).encoder)
    text = M.TextEncoder(vocab, bidirectional=M.bidirectional_blocks(st["ema_text"]))
    unet = M.UNet(positional=M.is_positional(st["ema_unet"]))
    text.load_state_dict(st["ema_text"]); unet.load_state_dict(st["ema_unet"])
    # a snapshot folder (WORK/snap-STEP, save_snapshot) has no vae.pt of its own: its run's is one up
    _, dec = load_autoencoder(work if os.path.exists(os.path.join(work, "vae.pt")) else os.path.dirname(work))
    return text.eval(), unet.eval(), dec, st["step"]


def export(work, out=PACK, init_pack=None, version="v1"):
    """The pack at `out`; with init_pack (a continued training) `out` starts as a copy of that pack,
    so the parts this recipe does not make (preview decoder, READMEs) come along."""
    if init_pack and os.path.abspath(out) != os.path.abspath(init_pack) and not os.path.exists(out):
        shutil.copytree(init_pack, out)
    text, unet, dec, steps = load_pipeline(work, out)
    if init_pack:  # the training steps in all, and a README line saying what this copy is
        with open(os.path.join(init_pack, "unet", "config.json")) as f:
            before = int(json.load(f).get("winnow_training_steps", 0))
        with open(os.path.join(init_pack, "model_index.json")) as f:
            base = json.load(f).get("winnow_version")
        readme = os.path.join(out, "README.md")
        old = open(readme).read() if os.path.exists(readme) else ""
        with open(readme, "w") as f:
            f.write(f"> **Version {version}**: `{os.path.basename(os.path.normpath(init_pack))}` {base} with its text "
                    f"encoder and UNet trained {steps} steps more by `train_scenes.py unet --init-pack` on rendered "
                    f"scenes encoded by an encoder fitted to its decoder (`train_encoder.py`); {before + steps} steps "
                    "in all. The rest of this README describes the pack it started from.\n\n" + old)
        steps += before
    if init_pack:  # a continued pack keeps its factor (its latents.pt may be on the machine that trained it)
        with open(os.path.join(out, "vae_decoder", "config.json")) as f:
            scale = float(json.load(f)["scaling_factor"])
    else:
        scale = torch.load(os.path.join(work, "latents.pt"), weights_only=False)["scaling_factor"]
    b, L = 2, M.LATENT_SIZE
    jobs = [
        ("text_encoder", text, (torch.zeros(b, M.MAX_LEN, dtype=torch.int32),), ["input_ids"], ["last_hidden_state"],
         {"input_ids": {0: "batch"}, "last_hidden_state": {0: "batch"}}),
        ("unet", unet, (torch.randn(b, M.LATENT_CH, L, L), torch.tensor([999.0, 1.0]), torch.randn(b, M.MAX_LEN, M.TEXT_DIM)),
         ["sample", "timestep", "encoder_hidden_states"], ["out_sample"],
         {"sample": {0: "batch"}, "timestep": {0: "batch"}, "encoder_hidden_states": {0: "batch"},
          "out_sample": {0: "batch"}}),
        ("vae_decoder", dec, (torch.randn(b, M.LATENT_CH, L, L),), ["latent_sample"], ["sample"],
         {"latent_sample": {0: "batch"}, "sample": {0: "batch"}}),
    ]
    for name, model, args, ins, outs, axes in jobs:
        os.makedirs(os.path.join(out, name), exist_ok=True)
        path = os.path.join(out, name, "model.onnx")
        torch.onnx.export(model, args, path, input_names=ins, output_names=outs, dynamic_axes=axes,
                          opset_version=17, dynamo=False)
        print("wrote", path, os.path.getsize(path))
    write_configs(out, len(ClipTokenizer(os.path.join(out, "tokenizer")).encoder), scale, steps, version,
                  unet.positional, text.bidirectional)


def write_configs(out, vocab, scale, steps, version="v1", positional=False, bidirectional=0):
    def dump(rel, obj):
        os.makedirs(os.path.dirname(os.path.join(out, rel)), exist_ok=True)
        with open(os.path.join(out, rel), "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")

    dump("model_index.json", {
        "_class_name": "ORTStableDiffusionPipeline", "_diffusers_version": "0.30.0",
        "feature_extractor": [None, None], "requires_safety_checker": False, "safety_checker": [None, None],
        "scheduler": ["diffusers", "DDIMScheduler"], "text_encoder": ["optimum", "ORTModelTextEncoder"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["optimum", "ORTModelUnet"],
        "vae_decoder": ["optimum", "ORTModelVaeDecoder"], "winnow_name": NAME,
        "winnow_version": version})
    dump("scheduler/scheduler_config.json", {
        "_class_name": "DDIMScheduler", "_diffusers_version": "0.30.0", "num_train_timesteps": T_TRAIN,
        "beta_start": BETA_START, "beta_end": BETA_END, "beta_schedule": "scaled_linear",
        "prediction_type": "v_prediction", "set_alpha_to_one": False, "steps_offset": 1,
        "timestep_spacing": "leading", "clip_sample": False})
    dump("text_encoder/config.json", {
        "architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "hidden_size": M.TEXT_DIM,
        "max_position_embeddings": M.MAX_LEN, "vocab_size": vocab, "num_hidden_layers": 3,
        "num_attention_heads": 4, "bos_token_id": vocab - 2, "eos_token_id": vocab - 1, "pad_token_id": vocab - 1,
        **({"winnow_bidirectional_layers": bidirectional} if bidirectional else {})})
    dump("unet/config.json", {
        "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.30.0", "sample_size": M.LATENT_SIZE,
        "in_channels": M.LATENT_CH, "out_channels": M.LATENT_CH, "cross_attention_dim": M.TEXT_DIM,
        "block_out_channels": list(M.UNet().chs), "winnow_training_steps": steps,
        **({"winnow_positional_attention": True} if positional else {})})
    dump("vae_decoder/config.json", {
        "_class_name": "AutoencoderKL", "_diffusers_version": "0.30.0", "latent_channels": M.LATENT_CH,
        "in_channels": 3, "out_channels": 3, "sample_size": M.IMAGE_SIZE, "block_out_channels": [64, 128, 128],
        "scaling_factor": round(scale, 6)})


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("stage", choices=["tokenizer", "vae", "data", "unet", "export", "all"])
    ap.add_argument("--work", default="/tmp/scenes-work")
    ap.add_argument("--vae-minutes", type=float, default=30)
    ap.add_argument("--unet-minutes", type=float, default=600)
    ap.add_argument("--vae-steps", type=int, help="stop the autoencoder after this many steps (else --vae-minutes)")
    ap.add_argument("--unet-steps", type=int, help="stop the UNet after this many steps (else --unet-minutes)")
    ap.add_argument("--scenes", type=int, default=400000)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--seed", type=int, default=0,
                    help="unet: shift the random streams (batches, captions, noise); 0 gave v1 and v2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2, help="data: processes rendering scenes")
    ap.add_argument("--device", default="cpu", help="data, unet: torch device (cuda on a GPU machine)")
    ap.add_argument("--snapshot-minutes", type=float, default=0.0,
                    help="unet: keep the EMA weights alone every so often as SNAPSHOT_DIR/snap-STEP/unet.pt")
    ap.add_argument("--snapshot-dir", help="unet: where snapshots go (default --work)")
    ap.add_argument("--init-pack", help="unet: go on from this pack's text encoder and UNet (with an encoder fitted "
                                        "to its decoder: train_encoder.py); export: start --out as its copy")
    ap.add_argument("--lr", type=float, default=5e-4, help="unet: AdamW learning rate")
    ap.add_argument("--warmup", type=int, default=1000, help="unet: linear warm-up steps")
    ap.add_argument("--relation-captions", type=float, default=0.55, metavar="P",
                    help="unet: how often a two-object scene whose pair a relation holds for is captioned by it "
                         "(the benchmark's position category asks for relations)")
    ap.add_argument("--grow-positional", action="store_true",
                    help="unet: give the UNet's attention a learned position per cell first, "
                         "starting from the same function")
    ap.add_argument("--grow-bidirectional", type=int, default=0, metavar="K",
                    help="unet: add K unmasked blocks after the text encoder's causal ones first, "
                         "starting from the same function")
    ap.add_argument("--relation-scenes", type=float, default=0.0, metavar="P",
                    help="unet: the share of samples drawn from two-object scenes with a relation, captioned by it")
    ap.add_argument("--layout-share", type=float, default=0.0, metavar="P",
                    help=f"unet: the share of samples whose timestep is drawn from [{LAYOUT_T}, 1000), where the "
                         "layout is decided")
    ap.add_argument("--layout-weight", type=float, default=0.0, metavar="W",
                    help=f"unet: the least loss weight of a sample at t >= {LAYOUT_T} (min-SNR gives 0.005-0.04)")
    ap.add_argument("--batch", type=int, default=64, help="unet: samples per step")
    ap.add_argument("--out", default=PACK, help="export: the pack folder to write")
    ap.add_argument("--version", default="v1", help="export: model_index.json's winnow_version")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    os.makedirs(a.work, exist_ok=True)
    if a.stage in ("tokenizer", "all"):
        write_tokenizer()
    if a.stage in ("vae", "all"):
        train_vae(a.work, a.vae_minutes if a.vae_steps is None else 1e9, a.vae_steps, resume=a.resume)
    if a.stage in ("data", "all"):
        encode_data(a.work, a.scenes, a.device, a.workers)
    if a.stage in ("unet", "all"):
        train_unet(a.work, a.unet_minutes if a.unet_steps is None else 1e9, resume=a.resume, max_steps=a.unet_steps,
                   lr=a.lr, warmup=a.warmup, init_pack=a.init_pack,
                   relation_share=a.relation_captions, seed=a.seed, grow_positional=a.grow_positional,
                   device=a.device, snapshot_minutes=a.snapshot_minutes, snapshot_dir=a.snapshot_dir,
                   grow_bidirectional=a.grow_bidirectional, relation_scenes=a.relation_scenes,
                   layout_share=a.layout_share, layout_weight=a.layout_weight, batch=a.batch)
    if a.stage in ("export", "all"):
        export(a.work, a.out, a.init_pack, a.version)
