"""Train the scenes verifier: a faithfulness judge that reads composition, not a bag of words.

    python models/tools/train_verifier.py [--work /tmp/scenes-work] [--steps 6000]

CLIP-style scorers embed image and prompt separately and compare the two vectors; they are
known to read captions as bags of words (Yuksekgonul et al. 2023, "When and why
vision-language models behave like bags-of-words"), so "a red circle and a blue square"
and "a blue circle and a red square" look alike to them. This verifier is a single-stream
cross-encoder instead (as ViLT): the prompt's tokens and the image's 8x8 patch features
go through one transformer together, so every word can look at every place, and a
classification token answers "does the image show the prompt?". The judge's score is that
probability.

Training pairs come from scenes whose parameters are known, so every label is ground
truth (`scenes_world.satisfies`, on the scene, never on pixels):
  * positives: captions true of the scene, in the benchmark's forms and partial ones;
  * hard negatives (the kinds the benchmark's categories turn on): colours swapped between
    two objects, one colour or shape changed, a count one off, a relation flipped, an
    object missing from the image or from the prompt, a wrong background;
  * easy negatives: another scene's caption.
Images are renders, their round trips through the pack's autoencoder (the softness of a
generated image), and blurred / noisy versions of either. With --generated FILE, samples
drawn by the trained pipeline and labelled by the reference checker are mixed in (stated
in the judge's README when used).

Writes models/judges/scenes-verifier/ (model.onnx, judge.json, tokenizer/, README.md).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import scenes_world as W
from clip_bpe import END, ClipTokenizer
from image_aug import augment, judge_image_input, to_pixel_values

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "judges", "scenes-verifier"))
PACK_TOKENIZER = os.path.normpath(os.path.join(HERE, "..", "shapes-scenes", "tokenizer"))
TOKENIZER_FILES = ("vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json")
SEED = 20261127
S = 64
MAX_LEN = 32  # the pack's token window (tokenizer_config model_max_length)

WIDTH, LAYERS, HEADS = 128, 4, 4
HARD_KINDS = ("swapped_colours", "count_off_by_one", "flipped_relation", "missing_object")


# ---------------------------------------------------------------- hard negatives
def _phrases(req: W.Requirement):
    return [(o.shape, o.colour, o.size) for o in req.objects]


def render_requirement(req: W.Requirement, rng) -> str:
    """Text for a requirement in the benchmark's forms (counts grouped when the objects are alike)."""
    art = "an-aware" if rng.random() < 0.5 else "a"
    objs = list(req.objects)
    if req.relation:
        a, b = objs
        text = (f"{W.noun_phrase(a.shape or 'shape', a.colour, a.size, 1, art)} {req.relation} "
                f"{W.noun_phrase(b.shape or 'shape', b.colour, b.size, 1, art)}")
    elif len(objs) > 1 and len(set(objs)) == 1:
        o = objs[0]
        text = W.noun_phrase(o.shape or "shape", o.colour, o.size, len(objs), "")
    else:
        groups = {}
        for o in objs:
            groups[o] = groups.get(o, 0) + 1
        ps = [W.noun_phrase(o.shape or "shape", o.colour, o.size, k, art if k == 1 else "") for o, k in groups.items()]
        text = ps[0] if len(ps) == 1 else (" and ".join(ps) if len(ps) == 2 else ", ".join(ps[:-1]) + " and " + ps[-1])
    if req.background:
        text += f" on a {req.background} background"
    return text


def hard_negative(scene: W.Scene, caption: str, kind: str, rng):
    """A caption of the given kind that is false of the scene, or None when the kind does not apply."""
    req = W.parse_prompt(caption)
    objs = list(req.objects)
    cols = list(W.COLOURS)
    for _ in range(10):
        new = None
        if kind == "swapped_colours":
            idx = [i for i, o in enumerate(objs) if o.colour]
            if len(idx) >= 2:
                i, j = rng.choice(idx, size=2, replace=False)
                if objs[i].colour != objs[j].colour and objs[i].shape != objs[j].shape:
                    o2 = list(objs)
                    o2[i] = W.ObjReq(objs[i].shape, objs[j].colour, objs[i].size)
                    o2[j] = W.ObjReq(objs[j].shape, objs[i].colour, objs[j].size)
                    new = W.Requirement(tuple(o2), req.relation, req.background)
        elif kind == "count_off_by_one":
            if req.relation is None:
                n = len(objs)
                m = n + (1 if (n == 1 or rng.random() < 0.5) and n < 4 else -1)
                o = objs[int(rng.integers(n))]
                if m >= 1:
                    if len(set(objs)) == 1:
                        new = W.Requirement((o,) * m, None, req.background)
                    elif m > n:
                        new = W.Requirement(tuple(objs) + (o,), None, req.background)
                    else:
                        o2 = list(objs)
                        o2.pop(int(rng.integers(n)))
                        new = W.Requirement(tuple(o2), None, req.background)
        elif kind == "flipped_relation":
            if req.relation:
                if rng.random() < 0.5:
                    opp = {"to the left of": "to the right of", "to the right of": "to the left of",
                           "above": "below", "below": "above"}[req.relation]
                    new = W.Requirement(req.objects, opp, req.background)
                else:
                    new = W.Requirement((objs[1], objs[0]), req.relation, req.background)
        elif kind == "missing_object":
            # the prompt names an object the image lacks (an extra phrase), or, less often, the
            # image holds one the prompt does not name (a phrase dropped)
            if len(objs) == 1 or (len(objs) < 4 and req.relation is None and rng.random() < 0.7):
                extra = W.ObjReq(W.SHAPES[rng.integers(3)], cols[rng.integers(6)] if objs[0].colour else None)
                new = W.Requirement(tuple(objs) + (extra,), None, req.background)
            elif len(set(objs)) > 1:
                o2 = list(objs)
                o2.pop(int(rng.integers(len(o2))))
                new = W.Requirement(tuple(o2), None, req.background)
        elif kind == "changed_attribute":
            i = int(rng.integers(len(objs)))
            o = objs[i]
            if o.colour and rng.random() < 0.5:
                o = W.ObjReq(o.shape, cols[rng.integers(6)], o.size)
            else:
                o = W.ObjReq(W.SHAPES[rng.integers(3)], o.colour, o.size)
            o2 = list(objs)
            o2[i] = o
            new = W.Requirement(tuple(o2), req.relation, req.background)
        elif kind == "wrong_background":
            bgs = [b for b in W.BACKGROUNDS if b != scene.background]
            new = W.Requirement(req.objects, req.relation, bgs[rng.integers(2)])
        if new is None:
            return None
        if not W.satisfies(scene, new):
            return render_requirement(new, rng)
    return None


def benchmark_style_caption(scene: W.Scene, rng) -> str:
    """A caption in exactly the benchmark's forms when the scene has one, else a training caption."""
    objs = scene.objects
    bg = f" on a {scene.background} background" if rng.random() < 0.3 else ""
    if len(objs) == 1:
        o = objs[0]
        return (f"a {o.colour} {o.shape}" if rng.random() < 0.5 else f"a {o.shape}") + bg
    if len({o.shape for o in objs}) == 1 and (len(objs) > 2 or rng.random() < 0.5):
        return f"{['', '', 'two', 'three', 'four'][len(objs)]} {objs[0].shape}s" + bg
    if len(objs) == 2:
        a, b = objs
        for rel in W.RELATIONS:
            if (a.colour, a.shape) != (b.colour, b.shape) and W.relation_holds(a, b, rel) and rng.random() < 0.6:
                return f"a {a.colour} {a.shape} {rel} a {b.colour} {b.shape}" + bg
        if a.shape != b.shape:
            if rng.random() < 0.5 and a.colour != b.colour:
                return f"a {a.colour} {a.shape} and a {b.colour} {b.shape}" + bg
            return f"a {a.shape} and a {b.shape}" + bg
    return W.caption_for(scene, rng)


# ---------------------------------------------------------------- model
class Block(nn.Module):
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


class ConvBlock(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), nn.GroupNorm(8, ch), nn.GELU(),
                                  nn.Conv2d(ch, ch, 3, padding=1), nn.GroupNorm(8, ch))

    def forward(self, x):
        return F.gelu(x + self.body(x))


class Verifier(nn.Module):
    """[CLS] + prompt tokens + 64 image patches (8x8 grid, 8 px each) -> one transformer -> P(match)."""

    def __init__(self, vocab_size, end_id, width=WIDTH, layers=LAYERS, heads=HEADS):
        super().__init__()
        self.end_id = end_id
        self.stem = nn.Sequential(
            nn.Conv2d(3, 24, 3, stride=2, padding=1), nn.GELU(),  # 32x32
            nn.Conv2d(24, 64, 3, stride=2, padding=1), nn.GELU(), ConvBlock(64),  # 16x16
            nn.Conv2d(64, width, 3, stride=2, padding=1), nn.GELU(), ConvBlock(width))  # 8x8
        self.img_pos = nn.Parameter(torch.randn(64, width) * 0.02)
        self.tok = nn.Embedding(vocab_size, width)
        self.txt_pos = nn.Parameter(torch.randn(MAX_LEN, width) * 0.02)
        self.cls = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.types = nn.Parameter(torch.randn(3, width) * 0.02)  # cls, text, image
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(width)
        self.head = nn.Linear(width, 1)

    def logits(self, pixel_values, input_ids):
        b = pixel_values.shape[0]
        img = self.stem(pixel_values).flatten(2).transpose(1, 2) + self.img_pos + self.types[2]
        txt = self.tok(input_ids.long()) + self.txt_pos + self.types[1]
        cls = self.cls.expand(b, 1, -1) + self.types[0]
        x = torch.cat([cls, txt, img], dim=1)
        # Padding (every end token after the first) takes no part in attention.
        pad = torch.cumsum((input_ids == self.end_id).to(torch.int32), dim=1) >= 2
        keep = torch.cat([torch.zeros(b, 1, dtype=torch.bool), pad, torch.zeros(b, 64, dtype=torch.bool)], dim=1)
        mask = (keep.float() * -1e4)[:, None, None, :]
        for blk in self.blocks:
            x = blk(x, mask)
        return self.head(self.ln(x[:, 0])).squeeze(1)

    def forward(self, pixel_values, input_ids):
        return torch.sigmoid(self.logits(pixel_values, input_ids))


# ---------------------------------------------------------------- data
class Pairs:
    """Draws (image, caption ids, label) batches from a fixed pool of scenes and their images."""

    def __init__(self, scenes, image_sets, tok, rng, generated=None, generated_share=0.25):
        self.scenes, self.image_sets, self.tok, self.rng = scenes, image_sets, tok, rng
        self.generated, self.generated_share = generated, generated_share
        self.cache = {}

    def ids(self, text):
        if text not in self.cache:
            self.cache[text] = self.tok(text)
        return self.cache[text]

    def batch(self, n):
        rng = self.rng
        imgs, ids, labels = [], [], []
        n_gen = int(n * self.generated_share) if self.generated is not None else 0
        for _ in range(n - n_gen):
            i = int(rng.integers(len(self.scenes)))
            scene = self.scenes[i]
            imgs.append(self.image_sets[int(rng.integers(len(self.image_sets)))][i])
            pos = benchmark_style_caption(scene, rng) if rng.random() < 0.5 else W.caption_for(scene, rng)
            r = rng.random()
            text, label = pos, 1.0
            if r < 0.55:
                kinds = HARD_KINDS + ("changed_attribute", "wrong_background")
                kind = kinds[int(rng.integers(len(kinds)))]
                neg = hard_negative(scene, pos, kind, rng)
                if neg is not None:
                    text, label = neg, 0.0
            elif r < 0.65:
                other = self.scenes[int(rng.integers(len(self.scenes)))]
                cap = W.caption_for(other, rng)
                if not W.satisfies(scene, cap):
                    text, label = cap, 0.0
            imgs_label = label
            ids.append(self.ids(text))
            labels.append(imgs_label)
        if n_gen:
            g_imgs, g_prompts, g_ok = self.generated
            for j in rng.integers(len(g_ok), size=n_gen):
                imgs.append(g_imgs[j])
                ids.append(self.ids(g_prompts[j]))
                labels.append(float(g_ok[j]))
        return np.stack(imgs), torch.tensor(ids, dtype=torch.int32), torch.tensor(labels)


# ---------------------------------------------------------------- evaluation
@torch.no_grad()
def hard_negative_accuracy(model, tok, scenes, imgs, rng):
    """Per kind: how often the true caption (benchmark form) scores above its hard negative."""
    res = {}
    for kind in HARD_KINDS:
        rows_img, pos_ids, neg_ids = [], [], []
        for scene, img in zip(scenes, imgs):
            pos = benchmark_style_caption(scene, rng)
            neg = hard_negative(scene, pos, kind, rng)
            if neg is None:
                continue
            rows_img.append(img)
            pos_ids.append(tok(pos))
            neg_ids.append(tok(neg))
        x = to_pixel_values(np.stack(rows_img))
        sp = score_all(model, x, torch.tensor(pos_ids, dtype=torch.int32))
        sn = score_all(model, x, torch.tensor(neg_ids, dtype=torch.int32))
        res[kind] = (float((sp > sn).float().mean()), len(rows_img))
    return res


@torch.no_grad()
def selection_accuracy(model, tok, imgs, prompts, ok):
    """On held-out pipeline samples: how often a right sample scores above a wrong one of the
    same prompt (the choice best-of-N makes), and the share of prompts with a right sample
    where the top-scored one is right."""
    s = score_all(model, to_pixel_values(imgs), torch.tensor([tok(p) for p in prompts], dtype=torch.int32)).numpy()
    wins, pairs, top, groups = 0, 0, 0, 0
    for p in dict.fromkeys(prompts):
        idx = [i for i, q in enumerate(prompts) if q == p]
        right, wrong = [s[i] for i in idx if ok[i]], [s[i] for i in idx if not ok[i]]
        wins += sum(r > w for r in right for w in wrong)
        pairs += len(right) * len(wrong)
        if right:
            groups += 1
            top += bool(ok[idx[int(np.argmax(s[idx]))]])
    return {"generated_pairwise_right_over_wrong": round(wins / max(1, pairs), 4), "generated_pairs": pairs,
            "generated_top_is_right": round(top / max(1, groups), 4), "generated_prompts": groups}


@torch.no_grad()
def score_all(model, x, ids, batch=512):
    return torch.cat([model.logits(x[i:i + batch], ids[i:i + batch]) for i in range(0, len(x), batch)])


def eval_scenes(rng, n):
    """Held-out scenes in the benchmark's categories (laid out anywhere SCENES.md allows)."""
    return [W.scene_for_prompt(W.random_prompt(W.CATEGORIES[i % 6], rng), rng) for i in range(n)]


# ---------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/scenes-work", help="where train_scenes.py keeps vae.pt")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--scenes", type=int, default=30000)
    ap.add_argument("--generated", help="npz of generated samples labelled by the checker (imgs, prompts, ok)")
    ap.add_argument("--generated-share", type=float, default=0.25, help="share of each batch from --generated")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--init", action="store_true",
                    help="start from the last run's weights (work/verifier.pt), e.g. to fine-tune with --generated")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(SEED)
    t0 = time.time()
    os.makedirs(os.path.join(OUT, "tokenizer"), exist_ok=True)
    for name in TOKENIZER_FILES:
        shutil.copy(os.path.join(PACK_TOKENIZER, name), os.path.join(OUT, "tokenizer", name))
    tok = ClipTokenizer(os.path.join(OUT, "tokenizer"), MAX_LEN)
    rng = np.random.default_rng(SEED)

    from train_scenes import load_autoencoder, render_scenes
    from measure_scenes_checker import round_trip
    enc, dec = load_autoencoder(a.work)
    scenes, renders = render_scenes(SEED % 1000, a.scenes)
    extra = [W.scene_for_prompt(W.random_prompt(W.CATEGORIES[i % 6], rng), rng) for i in range(a.scenes // 3)]
    scenes = scenes + extra
    renders = np.concatenate([renders, np.stack([W.render(s, S) for s in extra])])
    trips = round_trip(enc, dec, renders)
    print(f"data: {len(scenes)} scenes, renders + autoencoder round trips; {time.time() - t0:.0f}s", flush=True)
    generated = None
    if a.generated:
        g = np.load(a.generated, allow_pickle=True)
        # the last tenth (whole prompts: samples come prompt-major) is held out to measure selection
        cut = int(len(g["ok"]) * 0.9) // 32 * 32
        generated = (g["imgs"][:cut], list(g["prompts"][:cut]), g["ok"][:cut])
        held_generated = (g["imgs"][cut:], list(g["prompts"][cut:]), g["ok"][cut:])
        print(f"generated samples: {cut} to train on, {np.mean(generated[2]):.2f} correct; "
              f"{len(held_generated[2])} held out", flush=True)
    pairs = Pairs(scenes, [renders, trips, trips], tok, rng, generated, a.generated_share)

    model = Verifier(len(tok.encoder), tok.end_id)
    ckpt = os.path.join(a.work, "verifier.pt")
    if a.eval_only or a.init:
        model.load_state_dict(torch.load(ckpt))
    if a.eval_only:
        pass
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.01)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=5e-4, total_steps=a.steps, pct_start=0.05)
        gen = torch.Generator().manual_seed(SEED)
        t_train, accs = time.time(), []
        for step in range(a.steps):
            imgs, ids, labels = pairs.batch(a.batch)
            x = augment(to_pixel_values(imgs), gen)
            logit = model.logits(x, ids)
            loss = F.binary_cross_entropy_with_logits(logit, labels)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            accs.append(float(((logit > 0).float() == labels).float().mean()))
            if (step + 1) % 200 == 0:
                print(f"step {step + 1}/{a.steps} loss {loss.item():.4f} acc(200) {np.mean(accs[-200:]):.3f} "
                      f"{time.time() - t_train:.0f}s", flush=True)
        torch.save(model.state_dict(), ckpt)
        print(f"trained in {time.time() - t_train:.0f}s")
    model.eval()

    # held-out evaluation: renders and round trips of unseen scenes
    erng = np.random.default_rng(SEED + 1)
    test_scenes = eval_scenes(erng, 2000)
    test_renders = np.stack([W.render(s, S) for s in test_scenes])
    test_trips = round_trip(enc, dec, test_renders)
    metrics = {}
    for name, imgs in (("renders", test_renders), ("round_trips", test_trips)):
        for kind, (acc, n) in hard_negative_accuracy(model, tok, test_scenes, imgs, np.random.default_rng(5)).items():
            metrics[f"{kind}_{name}"] = round(acc, 4)
            metrics[f"{kind}_pairs"] = n
    if generated is not None:
        metrics.update(selection_accuracy(model, tok, *held_generated))
    print(json.dumps(metrics, indent=2))
    export(model, tok, metrics)
    print(f"total {time.time() - t0:.0f}s")


def export(model, tok, metrics):
    import onnx
    path = os.path.join(OUT, "model.onnx")
    dummy = (torch.zeros(2, 3, S, S), torch.tensor([tok("a red circle"), tok("two squares")], dtype=torch.int32))
    torch.onnx.export(model, dummy, path, dynamo=False, opset_version=17, input_names=["pixel_values", "input_ids"],
                      output_names=["score"], dynamic_axes={"pixel_values": {0: "batch"}, "input_ids": {0: "batch"},
                                                            "score": {0: "batch"}})
    m = onnx.load(path)
    m.producer_name = "winnow-train_verifier"
    m.doc_string = "scenes-verifier: P(image shows prompt), a single-stream cross-encoder (Winnow)"
    onnx.save(m, path)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    meta = {
        "schema_version": 1,
        "name": "scenes-verifier",
        "role": "score",
        "score_name": "faithfulness",
        "model": "model.onnx",
        "description": ("Single-stream cross-encoder (prompt tokens + 8x8 image patches in one transformer) "
                        "trained on shapes scenes with hard negatives; score = probability that the image "
                        "shows exactly what the prompt asks."),
        "image_input": judge_image_input(S),
        "text_input": {"name": "input_ids", "dtype": "int32", "tokenizer": "tokenizer", "max_length": MAX_LEN,
                       "pad_token": END},
        "output": {"name": "score", "kind": "score"},
        "score": {"min": 0.0, "max": 1.0, "higher_is_better": True},
        "license": "MIT (trained by the Winnow project)",
        "metrics": metrics,
    }
    with open(os.path.join(OUT, "judge.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print("wrote", path, os.path.getsize(path))


if __name__ == "__main__":
    main()
