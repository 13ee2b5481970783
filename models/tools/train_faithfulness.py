"""Train the faithfulness-tiny judge: a tiny CLIP-style image/text pair of encoders.

Run from the repository root:  python models/tools/train_faithfulness.py
It re-creates models/judges/faithfulness-tiny/ (model.onnx, judge.json, README.md and a
copy of the tiny-shapes tokenizer) from scratch and prints the figures. CPU only, one
thread, fixed seeds: a rerun gives the same model and the same figures.

Training is contrastive (symmetric InfoNCE with a learnable temperature, as in CLIP) on
shapes-world images paired with one of their three caption forms. Short captions
("red circle") fit several images of a batch and several captions can be equal, so the
targets of each row are spread over every in-batch item that matches (no false negatives).
"""
from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import shapes_world as W  # noqa: E402
from clip_bpe import END, ClipTokenizer  # noqa: E402
from train_aesthetic import augment, blurred_uint8, to_pixel_values  # noqa: E402

OUT = os.path.join(HERE, "..", "judges", "faithfulness-tiny")
PACK_TOKENIZER = os.path.join(HERE, "..", "tiny-shapes", "tokenizer")
TOKENIZER_FILES = ("vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json")
SEED = 20240612
N_TRAIN_IMAGES, N_TEST_IMAGES = 12000, 2000
STEPS, BATCH, LR = 900, 256, 2e-3
EMBED_DIM, TEXT_WIDTH, TEXT_LAYERS, TEXT_HEADS, MAX_LEN = 64, 64, 2, 4, 77
N_CHOICES = 10
EVAL_BLUR_SIGMA = 1.0


# ---------------------------------------------------------------- captions

def all_captions():
    """Every distinct caption of the world: (text, form, shape, colour, background or None)."""
    caps = []
    for form in range(3):
        seen = set()
        for shape, colour, bg in itertools.product(W.SHAPES, W.COLOURS, W.BACKGROUNDS):
            text = W.Spec(shape, colour, bg, 0.5, 32, 32, (0, 0, 0)).caption(form)
            if text in seen:
                continue
            seen.add(text)
            caps.append((text, form, shape, colour, bg if form == 0 else None))
    return caps


def consistent(spec: W.Spec, cap) -> bool:
    _, _, shape, colour, bg = cap
    return spec.shape == shape and spec.colour == colour and (bg is None or spec.background == bg)


# ---------------------------------------------------------------- model

class ImageEncoder(nn.Module):
    """Four 3x3 stride-2 convs (64 -> 4 px), global average + max pool, MLP -> embedding."""

    def __init__(self, widths=(16, 32, 64, 96), dim=EMBED_DIM, hidden=128):
        super().__init__()
        layers, c = [], 3
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, 2, 1), nn.ReLU()]
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(2 * c, hidden), nn.ReLU(), nn.Linear(hidden, dim))

    def forward(self, x):
        f = self.features(x)
        pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        return self.head(pooled)


class Block(nn.Module):
    """Pre-LN transformer block with causal self-attention (CLIP's text tower, in small)."""

    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))

    def forward(self, x, mask):
        b, t, c = x.shape
        h = self.heads
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        q = q.reshape(b, t, h, c // h).transpose(1, 2)
        k = k.reshape(b, t, h, c // h).transpose(1, 2)
        v = v.reshape(b, t, h, c // h).transpose(1, 2)
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(c // h)) + mask
        y = att.softmax(dim=-1) @ v
        x = x + self.out(y.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp(self.ln2(x))


class TextEncoder(nn.Module):
    """Token + position embeddings, causal transformer, features at the first end token."""

    def __init__(self, vocab_size, end_id, dim=EMBED_DIM, width=TEXT_WIDTH, layers=TEXT_LAYERS,
                 heads=TEXT_HEADS, max_len=MAX_LEN):
        super().__init__()
        self.end_id = end_id
        self.tok = nn.Embedding(vocab_size, width)
        self.pos = nn.Parameter(torch.randn(max_len, width) * 0.01)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(width)
        self.proj = nn.Linear(width, dim)
        mask = torch.full((max_len, max_len), -1e4).triu(1)
        self.register_buffer("mask", mask, persistent=False)
        self.register_buffer("positions", torch.arange(max_len, dtype=torch.float32), persistent=False)

    def forward(self, ids):
        x = self.tok(ids.long()) + self.pos
        for blk in self.blocks:
            x = blk(x, self.mask)
        x = self.ln(x)
        # Pool at the first end token (CLIP pools at its end-of-text token); padding = end token.
        first_end = (ids == self.end_id).float().argmax(dim=1).float()  # [B]
        onehot = (self.positions[None, :] == first_end[:, None]).float()  # [B, T]
        return self.proj((onehot[:, :, None] * x).sum(dim=1))


class FaithfulnessModel(nn.Module):
    def __init__(self, vocab_size, end_id):
        super().__init__()
        self.image = ImageEncoder()
        self.text = TextEncoder(vocab_size, end_id)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(10.0)))

    def forward(self, pixel_values, input_ids):
        img = F.normalize(self.image(pixel_values), dim=-1)
        txt = F.normalize(self.text(input_ids), dim=-1)
        return (img * txt).sum(dim=-1), img, txt


# ---------------------------------------------------------------- evaluation helpers

class OrtJudge:
    def __init__(self, path):
        import onnxruntime as ort
        self.sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])

    def run(self, imgs_uint8, ids, batch=500):
        outs = [[], [], []]
        for i in range(0, len(ids), batch):
            feeds = {"pixel_values": to_pixel_values(imgs_uint8[i:i + batch]).numpy(),
                     "input_ids": ids[i:i + batch].astype(np.int32)}
            for o, r in zip(outs, self.sess.run(["score", "image_embeds", "text_embeds"], feeds)):
                o.append(r)
        return [np.concatenate(o) for o in outs]


def choice_accuracy(judge: OrtJudge, imgs, specs, cap_ids, caps, choices) -> float:
    """Top-1 over N_CHOICES full captions per image, using the graph's `score` output row by row."""
    n, k = choices.shape
    rows_img = np.repeat(imgs, k, axis=0)
    rows_ids = cap_ids[choices.reshape(-1)]
    score = judge.run(rows_img, rows_ids)[0].reshape(n, k)
    return float(np.mean(score.argmax(axis=1) == 0))  # column 0 holds the true caption


def embedding_accuracies(judge: OrtJudge, imgs, specs, cap_ids, caps) -> dict:
    """Retrieval over all captions of a form, from the embeddings outputs."""
    _, img_emb, _ = judge.run(imgs, np.repeat(cap_ids[:1], len(imgs), axis=0))
    _, _, txt_emb = judge.run(np.repeat(imgs[:1], len(cap_ids), axis=0), cap_ids)
    sim = img_emb @ txt_emb.T
    res = {}
    for form, name in ((0, "full_54way"), (1, "colour_shape_18way_form1"), (2, "colour_shape_18way_form2")):
        cols = [j for j, c in enumerate(caps) if c[1] == form]
        best = np.array(cols)[sim[:, cols].argmax(axis=1)]
        res[name] = float(np.mean([consistent(s, caps[j]) for s, j in zip(specs, best)]))
    return res


# ---------------------------------------------------------------- main

def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    t0 = time.time()
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(os.path.join(OUT, "tokenizer"))
    for name in TOKENIZER_FILES:
        shutil.copy(os.path.join(PACK_TOKENIZER, name), os.path.join(OUT, "tokenizer", name))
    tok = ClipTokenizer(os.path.join(OUT, "tokenizer"))
    caps = all_captions()
    cap_ids = np.array([tok(c[0]) for c in caps], dtype=np.int32)  # [90, 77]
    cap_index = {c[0]: i for i, c in enumerate(caps)}
    full_idx = [i for i, c in enumerate(caps) if c[1] == 0]

    rng = np.random.default_rng(SEED)
    train_specs, train_imgs = W.sample_batch(rng, N_TRAIN_IMAGES)
    test_specs, test_imgs = W.sample_batch(rng, N_TEST_IMAGES)
    # Compatibility of every image with every caption (targets for the contrastive loss).
    train_ok = np.array([[consistent(s, c) for c in caps] for s in train_specs])
    print(f"data: {N_TRAIN_IMAGES} train / {N_TEST_IMAGES} held-out images, {len(caps)} distinct captions, "
          f"vocab {len(tok.encoder)}; {time.time() - t0:.0f}s", flush=True)

    gen = torch.Generator().manual_seed(SEED)
    model = FaithfulnessModel(len(tok.encoder), tok.end_id)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=STEPS, pct_start=0.05)
    train_x = torch.as_tensor(train_imgs)
    ids_t = torch.as_tensor(cap_ids)
    ok_t = torch.as_tensor(train_ok)
    spec_caps = np.array([[cap_index[s.caption(f)] for f in range(3)] for s in train_specs])  # [N, 3]
    t_train, running = time.time(), []
    for step in range(STEPS):
        idx = torch.randint(0, N_TRAIN_IMAGES, (BATCH,), generator=gen)
        form = torch.randint(0, 3, (BATCH,), generator=gen)
        cap = torch.as_tensor(spec_caps[idx.numpy(), form.numpy()])  # caption index per row
        uniq, inv = torch.unique(cap, return_inverse=True)  # encode each distinct caption once
        x = augment(to_pixel_values(train_x[idx]), gen)
        img = F.normalize(model.image(x), dim=-1)
        txt = F.normalize(model.text(ids_t[uniq]), dim=-1)[inv]
        scale = model.logit_scale.clamp(max=math.log(100.0)).exp()
        logits = scale * img @ txt.T  # [B images, B texts]
        pos = ok_t[idx][:, cap].float()  # image i matches text j
        loss_i = -(pos / pos.sum(1, keepdim=True) * logits.log_softmax(dim=1)).sum(1).mean()
        loss_t = -(pos.T / pos.T.sum(1, keepdim=True) * logits.T.log_softmax(dim=1)).sum(1).mean()
        loss = 0.5 * (loss_i + loss_t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            running.append(float(pos[torch.arange(BATCH), logits.argmax(1)].mean()))
        if (step + 1) % 100 == 0:
            print(f"step {step + 1}/{STEPS} loss {loss.item():.4f} in-batch i->t acc(100) "
                  f"{np.mean(running[-100:]):.3f} T={1 / scale.item():.4f} {time.time() - t_train:.0f}s", flush=True)
    train_seconds = time.time() - t_train
    model.eval()

    # ---- export (one graph, dynamic batch)
    import onnx
    path = os.path.join(OUT, "model.onnx")
    dummy = (torch.zeros(2, 3, 64, 64), torch.as_tensor(cap_ids[:2]))
    torch.onnx.export(model, dummy, path, dynamo=False, opset_version=17,
                      input_names=["pixel_values", "input_ids"],
                      output_names=["score", "image_embeds", "text_embeds"],
                      dynamic_axes={"pixel_values": {0: "batch"}, "input_ids": {0: "batch"},
                                    "score": {0: "batch"}, "image_embeds": {0: "batch"},
                                    "text_embeds": {0: "batch"}})
    m = onnx.load(path)
    m.producer_name = "winnow-train_faithfulness"
    m.doc_string = "faithfulness-tiny: CLIP-style prompt/image cosine scorer on the shapes world (Winnow)"
    for out in m.graph.output:  # the exporter leaves the embedding width symbolic: pin it
        if out.name in ("image_embeds", "text_embeds"):
            out.type.tensor_type.shape.dim[1].Clear()
            out.type.tensor_type.shape.dim[1].dim_value = EMBED_DIM
    onnx.save(m, path)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    judge = OrtJudge(path)

    # ---- evaluate the exported model with onnxruntime
    erng = np.random.default_rng(SEED + 1)
    choices = np.zeros((N_TEST_IMAGES, N_CHOICES), dtype=np.int64)
    for i, s in enumerate(test_specs):
        true = cap_index[s.caption(0)]
        others = [j for j in full_idx if j != true]
        choices[i, 0] = true
        choices[i, 1:] = erng.choice(others, N_CHOICES - 1, replace=False)
    blur_imgs = blurred_uint8(test_imgs, EVAL_BLUR_SIGMA)
    blur2_imgs = blurred_uint8(test_imgs, 1.5)
    top1 = choice_accuracy(judge, test_imgs, test_specs, cap_ids, caps, choices)
    top1_blur = choice_accuracy(judge, blur_imgs, test_specs, cap_ids, caps, choices)
    top1_blur2 = choice_accuracy(judge, blur2_imgs, test_specs, cap_ids, caps, choices)
    emb = embedding_accuracies(judge, test_imgs, test_specs, cap_ids, caps)
    emb_blur = embedding_accuracies(judge, blur_imgs, test_specs, cap_ids, caps)

    # torch vs onnxruntime, and score == dot(image_embeds, text_embeds)
    rows = np.arange(64)
    pair_ids = cap_ids[choices[rows, 0]]
    o_score, o_img, o_txt = judge.run(test_imgs[rows], pair_ids)
    with torch.no_grad():
        t_score = model(to_pixel_values(test_imgs[rows]), torch.as_tensor(pair_ids))[0].numpy()
    max_diff = float(np.abs(o_score - t_score).max())
    assert np.abs(o_score - (o_img * o_txt).sum(1)).max() < 1e-5

    # Normalisation range over matching and non-matching pairs (random caption forms).
    mrng = np.random.default_rng(SEED + 2)
    match = np.array([cap_index[s.caption(int(mrng.integers(3)))] for s in test_specs])
    mismatch = np.array([mrng.choice([j for j, c in enumerate(caps) if not consistent(s, c)]) for s in test_specs])
    s_match = judge.run(test_imgs, cap_ids[match])[0]
    s_mismatch = judge.run(test_imgs, cap_ids[mismatch])[0]
    lo, hi = (float(v) for v in np.percentile(np.concatenate([s_match, s_mismatch]), [1, 99]))
    pair_auc = float(np.mean(s_match[:, None] > s_mismatch[None, :]))
    size_bytes = os.path.getsize(path)
    total_seconds = time.time() - t0

    metrics = {
        "heldout_top1_of_10": round(top1, 4),
        "heldout_top1_of_10_blur1.0": round(top1_blur, 4),
        "heldout_top1_of_10_blur1.5": round(top1_blur2, 4),
        "heldout_top1_of_54_full": round(emb["full_54way"], 4),
        "heldout_top1_of_54_full_blur1.0": round(emb_blur["full_54way"], 4),
        "heldout_top1_of_18_colour_shape": round(emb["colour_shape_18way_form1"], 4),
        "heldout_top1_of_18_colour_shape_blur1.0": round(emb_blur["colour_shape_18way_form1"], 4),
        "heldout_match_vs_mismatch_auc": round(pair_auc, 4),
        "mean_score_match": round(float(s_match.mean()), 4),
        "mean_score_mismatch": round(float(s_mismatch.mean()), 4),
        "heldout_images": N_TEST_IMAGES,
    }
    meta = {
        "schema_version": 1,
        "name": "faithfulness-tiny",
        "role": "score",
        "score_name": "faithfulness",
        "model": "model.onnx",
        "description": ("Tiny CLIP-style pair of encoders (CNN image tower, causal transformer text "
                        "tower over CLIP-BPE ids) trained contrastively on the shapes world; score = "
                        "cosine similarity of the prompt's and the image's embeddings."),
        "image_input": {"name": "pixel_values", "layout": "NCHW", "width": 64, "height": 64,
                        "resize": "bilinear", "range": [-1.0, 1.0],
                        "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "dtype": "float32"},
        "text_input": {"name": "input_ids", "dtype": "int32", "tokenizer": "tokenizer",
                       "max_length": MAX_LEN, "pad_token": END},
        "output": {"name": "score", "kind": "score"},
        "score": {"min": round(lo, 4), "max": round(hi, 4), "higher_is_better": True},
        "license": "MIT (trained by the Winnow project)",
        "metrics": metrics,
    }
    with open(os.path.join(OUT, "judge.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    n_params = sum(p.numel() for p in model.parameters())
    write_readme(metrics, lo, hi, size_bytes, n_params, 1 / float(model.logit_scale.exp()),
                 train_seconds, total_seconds, max_diff)

    print(json.dumps(metrics, indent=2))
    print(f"score range (p1, p99): {lo:.4f} .. {hi:.4f}; model.onnx {size_bytes} bytes, {n_params} params; "
          f"torch-vs-onnxruntime max diff {max_diff:.2e}; training {train_seconds:.0f}s, total {total_seconds:.0f}s")
    print("TARGET held-out top-1 of 10 >= 0.90:", "PASS" if top1 >= 0.90 else "FAIL")


def write_readme(metrics, lo, hi, size_bytes, n_params, temperature, train_seconds, total_seconds, max_diff):
    text = f"""# faithfulness-tiny

A tiny **prompt-faithfulness** scorer for the shapes world (64x64 images of one circle,
square or triangle in one of 6 colours on a white, black or gray background): a CLIP-style
pair of encoders trained contrastively. The score of an (image, prompt) pair is the
**cosine similarity** of their L2-normalised embeddings (in [-1, 1]; higher = the image
shows what the prompt says). The service normalises it with
`clamp((s - min) / (max - min), 0, 1)` using `score.min/max` from `judge.json` (the 1st and
99th percentile over held-out matching and non-matching pairs).

## Interface

- `model.onnx` (opset 17, one graph, {size_bytes} bytes, {n_params} parameters)
- inputs: `pixel_values` float32 `[batch, 3, 64, 64]` (RGB, NCHW, `p/127.5 - 1`, range [-1, 1]);
  `input_ids` int32 `[batch, 77]` (CLIP BPE ids: start token, tokens, end token, padded with
  the end token `<|endoftext|>`, as `tokenizer/` + `models/tools/clip_bpe.py` produce them)
- outputs: `score` float32 `[batch]` (cosine of row i's image and row i's prompt),
  `image_embeds` float32 `[batch, {EMBED_DIM}]`, `text_embeds` float32 `[batch, {EMBED_DIM}]` (both L2-normalised).
  To score one image against many prompts, repeat the image row (or use the embeddings).
- `tokenizer/`: a copy of the tiny-shapes pack's CLIP-BPE tokenizer (vocab.json, merges.txt,
  special_tokens_map.json, tokenizer_config.json), so the judge is self-contained.

## Architecture

- Image tower: four 3x3 stride-2 convolutions (3 -> 16 -> 32 -> 64 -> 96, ReLU; 64 -> 4 px),
  global average and max pooling (192 features), Linear(192, 128) + ReLU + Linear(128, {EMBED_DIM}).
- Text tower (CLIP's, in small): token embedding ({TEXT_WIDTH} wide) + learned positions ({MAX_LEN}),
  {TEXT_LAYERS} pre-LayerNorm transformer blocks with causal self-attention ({TEXT_HEADS} heads, MLP x2, GELU),
  final LayerNorm, features taken at the first end token, Linear({TEXT_WIDTH}, {EMBED_DIM}).
- Learnable temperature (CLIP's logit scale, capped at 100); learned T = {temperature:.4f}. It is only used in training.

## Training

Contrastive, symmetric InfoNCE (image->text and text->image cross-entropy over the batch's
cosine logits / T) on {N_TRAIN_IMAGES} images from `shapes_world.sample_batch` (default world: sizes
0.30-0.80, not cut), each step {BATCH} images each paired with one of its three caption forms
(`caption(0)` "a red circle on a white background", `caption(1)` "a red circle",
`caption(2)` "red circle") drawn uniformly. Short captions match several images of a batch, and
captions repeat, so each row's target is spread evenly over all in-batch items that match (no
false negatives). {STEPS} steps, AdamW, one-cycle LR (max {LR}). Light augmentation, since the
judge scores images decoded by a latent diffusion model (softer edges): Gaussian blur with sigma
uniform in 0-1.2 px, per-channel gain +-6% and offset +-0.04, Gaussian noise with std up to 0.03.

## Measured (exported model, onnxruntime, {N_TEST_IMAGES} held-out images)

| figure | clean | blur sigma 1.0 | blur sigma 1.5 |
| --- | --- | --- | --- |
| top-1 of {N_CHOICES}: the true full caption vs 9 other distinct full captions (`score` output) | {metrics['heldout_top1_of_10']:.4f} | {metrics['heldout_top1_of_10_blur1.0']:.4f} | {metrics['heldout_top1_of_10_blur1.5']:.4f} |
| top-1 of all 54 full captions (embeddings) | {metrics['heldout_top1_of_54_full']:.4f} | {metrics['heldout_top1_of_54_full_blur1.0']:.4f} | |
| top-1 of the 18 "a colour shape" captions (embeddings) | {metrics['heldout_top1_of_18_colour_shape']:.4f} | {metrics['heldout_top1_of_18_colour_shape_blur1.0']:.4f} | |

- Matching vs non-matching pair scores (random caption forms): mean {metrics['mean_score_match']:.3f} vs
  {metrics['mean_score_mismatch']:.3f}, AUC {metrics['heldout_match_vs_mismatch_auc']:.4f}.
- Score normalisation range (p1, p99): {lo:.4f} .. {hi:.4f}.
- torch vs onnxruntime max abs difference: {max_diff:.1e}.
- Training takes about 3-4 minutes on one CPU thread (about 5 minutes in all, with
  rendering and evaluation); the script prints the exact times.

## Reproduce

From the repository root (CPU, torch, numpy, regex, onnx, onnxruntime):

    python models/tools/train_faithfulness.py

It copies the tokenizer from `models/tiny-shapes/tokenizer/`, renders the data, trains,
exports, evaluates with onnxruntime and rewrites this folder. Seeds are fixed and it runs on
one thread.

License: MIT (trained by the Winnow project).
"""
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
