"""Train the scenes verifier: a faithfulness judge that reads composition, not a bag of words.

    python models/tools/train_verifier.py [--work /tmp/scenes-work] [--generated /tmp/scenes-work/generated.npz]

CLIP-style scorers embed image and prompt into one vector each and compare the vectors; they
read captions as bags of words (Yuksekgonul et al. 2023), and so did this project's first
scenes verifier, a single-stream cross-encoder asked to learn "does the image show the
prompt?" end to end from yes/no labels: after ~4,000 steps it told a swapped-colour caption
from the right one only 59% of the time, a flipped relation 56%.

This verifier is a structured one, after neural module networks and "detect, then reason"
VQA models (Andreas et al. 2016; Yi et al. 2018, NS-VQA): two learned readers and a fixed,
differentiable comparison, exported as one ONNX graph with the judge interface
(pixel_values, input_ids -> score).

  * The scene reader (a small CNN) turns the image into a 16x16 grid: an object-centre
    density that sums to the number of objects (density-map counting, Lempitsky & Zisserman
    2010), and for every cell the shape, colour and box size of the object centred there,
    plus the background. It learns from rendered scenes whose parameters are known (and
    their round trips through the pack's autoencoder, blurred and noisy), so every target
    is ground truth; it never sees the pipeline's samples or the checker's judgement.
  * The prompt reader (a small transformer) turns the prompt into what it asks for: up to
    four object groups (shape or any, colour or any, size band or any, count 0-4), the
    relation between the first two, and the background. It learns from captions of the
    world's grammar and its partial forms, never from the benchmark's prompts.
  * The comparison asks, softly, for what SCENES.md calls correct: each group's count of
    matching objects equals its required count, the total equals the sum (nothing extra),
    the relation holds between the groups' centres, the background matches. Each term lies
    in [0, 1] and the score is their product, so the score is high only when every part
    of the prompt is seen, which is what best-of-N must rank on.
The analytic reference checker (`scenes_world.check`) is not part of it: the verifier never
reads pixels by rule, and the checker only measures it.

Writes models/judges/scenes-verifier/ (model.onnx, judge.json, tokenizer/). Checkpoints go
to --work (verifier-reader.pt, verifier-parser.pt); --eval-only re-measures and re-exports.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import scenes_model as M
import scenes_world as W
from clip_bpe import END, ClipTokenizer
from image_aug import augment, to_pixel_values, write_score_judge

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "judges", "scenes-verifier"))
PACK_TOKENIZER = os.path.normpath(os.path.join(HERE, "..", "shapes-scenes", "tokenizer"))
TOKENIZER_FILES = ("vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json")
SEED = 20261127
S = 64
MAX_LEN = 32  # the pack's token window (tokenizer_config model_max_length)
HARD_KINDS = ("swapped_colours", "count_off_by_one", "flipped_relation", "missing_object")

GRID = 16  # the scene reader's grid: 4-pixel cells (object centres are >= 4 cells apart)
CENTRE_SIGMA = 0.8  # cells: each object's density is a unit-mass Gaussian at its box centre
GROUPS = 4  # object groups a prompt can name ("two circles, a square and a red triangle")
SHAPE_ANY, COLOUR_ANY = len(W.SHAPES), len(W.COLOURS)  # the "any" class after the named ones
SMALL_MAX, LARGE_MIN = 0.25, 0.33  # SCENES.md's size bands, with the checker's 0.01 slack
COUNT_SHARPNESS = 3.0  # exp(-3 d^2): a count one off scores 0.05
EDGE = 0.015  # width of the soft thresholds (relation offset, size bands), fractions of S
RELATION_OFFSET = W.REL_OFFSET

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


# ---------------------------------------------------------------- the scene reader
class ConvBlock(nn.Module):
    def __init__(self, ch, dilation=1):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=dilation, dilation=dilation), nn.GroupNorm(8, ch),
                                  nn.GELU(), nn.Conv2d(ch, ch, 3, padding=dilation, dilation=dilation),
                                  nn.GroupNorm(8, ch))

    def forward(self, x):
        return F.gelu(x + self.body(x))


class SceneReader(nn.Module):
    """[B,3,64,64] in [-1,1] -> on a 16x16 grid (flattened to 256 cells): density [B,256],
    shape probabilities [B,256,3], colour probabilities [B,256,6], box size [B,256] (fraction
    of S); background probabilities [B,3]."""

    def __init__(self, width=64):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.GELU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.GELU(), ConvBlock(32),  # 32x32
            nn.Conv2d(32, width, 3, stride=2, padding=1), nn.GELU(),  # 16x16
            ConvBlock(width), ConvBlock(width, 2), ConvBlock(width, 4))  # receptive field > the largest object
        self.cells = nn.Conv2d(width, 1 + 3 + 6 + 1, 1)
        self.background = nn.Linear(width, 3)
        with torch.no_grad():
            self.cells.bias[0] = -6.0  # start from an empty density (softplus(-6) * 256 cells ~ 0.6)

    def raw(self, x):
        f = self.body(x)
        h = self.cells(f).flatten(2).transpose(1, 2)  # [B,256,11]
        return h[..., 0], h[..., 1:4], h[..., 4:10], h[..., 10], self.background(f.mean(dim=(2, 3)))

    def forward(self, x):
        d, shp, col, size, bg = self.raw(x)
        return (F.softplus(d), shp.softmax(-1), col.softmax(-1), 0.1 + 0.4 * torch.sigmoid(size), bg.softmax(-1))


# ---------------------------------------------------------------- the prompt reader
class Attention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(width, 2 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x, ctx, mask):
        k, v = self.kv(ctx).chunk(2, dim=-1)
        return self.out(M.attention(self.q(x), k, v, self.heads, mask))


class Block(nn.Module):
    """Pre-norm transformer block; with ctx it is a cross-attention block (queries read the prompt)."""

    def __init__(self, width, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(width)
        self.ln_ctx = nn.LayerNorm(width)
        self.att = Attention(width, heads)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))

    def forward(self, x, mask, ctx=None):
        y = self.ln1(x)
        x = x + self.att(y, y if ctx is None else self.ln_ctx(ctx), mask)
        return x + self.mlp(self.ln2(x))


class PromptReader(nn.Module):
    """input_ids [B,32] -> per group (GROUPS of them) logits for shape (3 + any), colour
    (6 + any), size (any, small, large) and count (0-4); relation logits (none + 4) between
    groups 0 and 1; background logits (any + 3)."""

    def __init__(self, vocab_size, end_id, width=96, layers=2, heads=4):
        super().__init__()
        self.end_id = end_id
        self.tok = nn.Embedding(vocab_size, width)
        self.pos = nn.Parameter(torch.randn(MAX_LEN, width) * 0.02)
        self.encoder = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.queries = nn.Parameter(torch.randn(GROUPS + 2, width) * 0.02)  # groups, relation, background
        self.decoder = nn.ModuleList(Block(width, heads) for _ in range(2))
        self.ln = nn.LayerNorm(width)
        self.group_head = nn.Linear(width, 4 + 7 + 3 + 5)
        self.relation_head = nn.Linear(width, 1 + len(W.RELATIONS))
        self.background_head = nn.Linear(width, 1 + len(W.BACKGROUNDS))

    def raw(self, input_ids):
        b = input_ids.shape[0]
        x = self.tok(input_ids.long()) + self.pos
        # Padding (every end token after the first) takes no part in attention.
        pad = torch.cumsum((input_ids == self.end_id).to(torch.int32), dim=1) >= 2
        mask = (pad.float() * -1e4)[:, None, None, :]
        for blk in self.encoder:
            x = blk(x, mask)
        q = self.queries.unsqueeze(0).expand(b, -1, -1)
        for blk in self.decoder:
            q = blk(q, mask, ctx=x)
        q = self.ln(q)
        g = self.group_head(q[:, :GROUPS])
        return (g[..., 0:4], g[..., 4:11], g[..., 11:14], g[..., 14:19],
                self.relation_head(q[:, GROUPS]), self.background_head(q[:, GROUPS + 1]))

    def forward(self, input_ids):
        return tuple(t.softmax(-1) for t in self.raw(input_ids))


# ---------------------------------------------------------------- the comparison
class Verifier(nn.Module):
    """score = P(the image shows exactly what the prompt asks), as a product of soft checks."""

    def __init__(self, reader: SceneReader, parser: PromptReader):
        super().__init__()
        self.reader, self.parser = reader, parser
        centres = (torch.arange(GRID, dtype=torch.float32) + 0.5) / GRID
        self.register_buffer("cx", centres.repeat(GRID), persistent=False)  # cell order: row-major
        self.register_buffer("cy", centres.repeat_interleave(GRID), persistent=False)
        self.register_buffer("counts", torch.arange(5, dtype=torch.float32), persistent=False)

    def terms(self, pixel_values, input_ids):
        density, shape_p, colour_p, size, bg_img = self.reader(pixel_values)
        g_shape, g_colour, g_size, g_count, rel, bg_txt = self.parser(input_ids)
        # how well each cell's object fits each group: [B,256,G]
        fit_shape = shape_p @ (g_shape[..., :3] + g_shape[..., 3:]).transpose(1, 2)
        fit_colour = colour_p @ (g_colour[..., :6] + g_colour[..., 6:]).transpose(1, 2)
        small = torch.sigmoid((SMALL_MAX - size) / EDGE).unsqueeze(-1)
        large = torch.sigmoid((size - LARGE_MIN) / EDGE).unsqueeze(-1)
        fit_size = g_size[:, None, :, 0] + g_size[:, None, :, 1] * small + g_size[:, None, :, 2] * large
        match = density.unsqueeze(-1) * fit_shape * fit_colour * fit_size
        seen = match.sum(1)  # [B,G]: objects in the image that fit each group
        absent = g_count[..., 0]
        wanted = (g_count * self.counts).sum(-1)  # expected count, 0 for an absent group
        wanted_if_present = wanted / (1 - absent).clamp_min(1e-6)
        group_ok = absent + (1 - absent) * torch.exp(-COUNT_SHARPNESS * (seen - wanted_if_present) ** 2)
        total_ok = torch.exp(-COUNT_SHARPNESS * (density.sum(1) - wanted.sum(1)) ** 2)  # nothing more, nothing less
        # relation: group 0 {relation} group 1, on the density-weighted centres of their objects
        w = match[..., :2] / seen[:, None, :2].clamp_min(1e-6)
        x = (w * self.cx[None, :, None]).sum(1)
        y = (w * self.cy[None, :, None]).sum(1)
        dx, dy = x[:, 1] - x[:, 0], y[:, 1] - y[:, 0]  # B relative to A, as scenes_world.relation_holds
        along = lambda d, other: (torch.sigmoid((d - RELATION_OFFSET) / EDGE)
                                  * torch.sigmoid((d.abs() - other.abs()) / EDGE))
        holds = torch.stack([along(dx, dy), along(-dx, dy), along(dy, dx), along(-dy, dx)], dim=1)  # W.RELATIONS' order
        relation_ok = rel[:, 0] + (rel[:, 1:] * holds).sum(1)
        background_ok = bg_txt[:, 0] + (bg_txt[:, 1:] * bg_img).sum(1)
        return group_ok.prod(1), total_ok, relation_ok, background_ok

    def forward(self, pixel_values, input_ids):
        g, t, r, b = self.terms(pixel_values, input_ids)
        return g * t * r * b

# ---------------------------------------------------------------- scene reader data
def reader_targets(scenes):
    """Ground truth on the grid, from the scenes' parameters: density [N,256] (a unit-mass
    Gaussian at every box centre), cell weight [N,256] (near some object's centre: where the
    cell's shape, colour and size are learned), shape / colour index and size of the nearest
    object per cell, background index [N]."""
    g = (np.arange(GRID) + 0.5)
    gx, gy = np.tile(g, GRID), np.repeat(g, GRID)
    n = len(scenes)
    density = np.zeros((n, GRID * GRID), np.float32)
    weight = np.zeros((n, GRID * GRID), np.float32)
    shape = np.zeros((n, GRID * GRID), np.int64)
    colour = np.zeros((n, GRID * GRID), np.int64)
    size = np.zeros((n, GRID * GRID), np.float32)
    bg = np.zeros(n, np.int64)
    shapes, colours, bgs = list(W.SHAPES), list(W.COLOURS), list(W.BACKGROUNDS)
    for i, sc in enumerate(scenes):
        bg[i] = bgs.index(sc.background)
        best = np.full(GRID * GRID, np.inf)
        for o in sc.objects:
            d2 = (gx - o.cx * GRID) ** 2 + (gy - o.cy * GRID) ** 2
            blob = np.exp(-d2 / (2 * CENTRE_SIGMA ** 2))
            density[i] += blob / blob.sum()
            near = d2 < best
            best = np.where(near, d2, best)
            shape[i][near], colour[i][near], size[i][near] = shapes.index(o.shape), colours.index(o.colour), o.size
        weight[i] = np.exp(-best / (2 * 1.5 ** 2))
    return {"density": density, "weight": weight, "shape": shape, "colour": colour, "size": size, "bg": bg}


def flip_cells(t):
    """Mirror a [N,256] (row-major 16x16) target left to right."""
    return t.reshape(t.shape[0], GRID, GRID).flip(-1).reshape(t.shape[0], -1)


def reader_loss(reader, x, t):
    d, shp, col, size, bg = reader.raw(x)
    density = F.softplus(d)
    w = t["weight"]
    wsum = w.sum().clamp_min(1.0)
    loss_density = ((density - t["density"]) ** 2).sum(1).mean() * 20 + (density.sum(1) - t["density"].sum(1)).abs().mean() * 0.2
    loss_shape = (F.cross_entropy(shp.transpose(1, 2), t["shape"], reduction="none") * w).sum() / wsum
    loss_colour = (F.cross_entropy(col.transpose(1, 2), t["colour"], reduction="none") * w).sum() / wsum
    loss_size = ((0.1 + 0.4 * torch.sigmoid(size) - t["size"]).abs() * w).sum() / wsum * 10
    loss_bg = F.cross_entropy(bg, t["bg"])
    return loss_density + loss_shape + loss_colour + loss_size + loss_bg, {
        "density": loss_density.item(), "shape": loss_shape.item(), "colour": loss_colour.item(),
        "size": loss_size.item(), "bg": loss_bg.item()}


# ---------------------------------------------------------------- prompt reader data
def parse_targets(caption: str):
    """What the prompt reader must read from a caption (None if it names more than GROUPS groups):
    per group (shape, colour, size, count) indices, the relation index, the background index."""
    req = W.parse_prompt(caption)
    if req.relation:
        groups = [(o, 1) for o in req.objects]  # a relation speaks of two single objects, in order
    else:
        counts = {}
        for o in req.objects:
            counts[o] = counts.get(o, 0) + 1  # identical phrases are one group, in order of first mention
        groups = list(counts.items())
    if len(groups) > GROUPS:
        return None
    rows = []
    for o, k in groups:
        rows.append((SHAPE_ANY if o.shape is None else W.SHAPES.index(o.shape),
                     COLOUR_ANY if o.colour is None else list(W.COLOURS).index(o.colour),
                     {None: 0, "small": 1, "large": 2}[o.size], k))
    rows += [(-100, -100, -100, 0)] * (GROUPS - len(rows))  # absent groups: only their count (0) is learned
    rel = 0 if req.relation is None else 1 + W.RELATIONS.index(req.relation)
    bg = 0 if req.background is None else 1 + list(W.BACKGROUNDS).index(req.background)
    return rows, rel, bg


def caption_pool(rng, n, exclude=frozenset()):
    """Captions of every form the world's prompts take: training captions (partial ones too),
    the benchmark's forms, and the hard negatives' rewordings."""
    out = set()
    while len(out) < n:
        r = rng.random()
        if r < 0.35:
            scene = W.sample_scene(rng)
            cap = W.caption_for(scene, rng)
        elif r < 0.6:
            cap = W.random_prompt(W.CATEGORIES[int(rng.integers(6))], rng)
        elif r < 0.8:
            scene = W.sample_scene(rng)
            cap = benchmark_style_caption(scene, rng)
        else:
            scene = W.sample_scene(rng)
            pos = benchmark_style_caption(scene, rng)
            kinds = HARD_KINDS + ("changed_attribute", "wrong_background")
            cap = hard_negative(scene, pos, kinds[int(rng.integers(len(kinds)))], rng)
        if cap and cap not in exclude and parse_targets(cap) is not None:
            out.add(cap)
    return sorted(out)


def parser_batch(tok, captions, targets):
    ids = torch.tensor([tok(c) for c in captions], dtype=torch.int32)
    rows = torch.tensor([t[0] for t in targets])  # [B,G,4]
    rel = torch.tensor([t[1] for t in targets])
    bg = torch.tensor([t[2] for t in targets])
    return ids, rows, rel, bg


def parser_loss(parser, ids, rows, rel, bg):
    shp, col, size, count, r, b = parser.raw(ids)
    ce = lambda logits, y: F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-100)
    return ce(shp, rows[..., 0]) + ce(col, rows[..., 1]) + ce(size, rows[..., 2]) + ce(count, rows[..., 3]) \
        + F.cross_entropy(r, rel) + F.cross_entropy(b, bg)


@torch.no_grad()
def parser_exact(parser, ids, rows, rel, bg):
    """Share of captions read exactly (every head of every present group, relation, background)."""
    shp, col, size, count, r, b = parser.raw(ids)
    present = rows[..., 3] > 0
    ok = (count.argmax(-1) == rows[..., 3]).all(1) & (r.argmax(-1) == rel) & (b.argmax(-1) == bg)
    for logits, k in ((shp, 0), (col, 1), (size, 2)):
        ok &= ((logits.argmax(-1) == rows[..., k]) | ~present).all(1)
    return float(ok.float().mean())

# ---------------------------------------------------------------- evaluation
@torch.no_grad()
def score_all(model, x, ids, batch=512):
    return torch.cat([model(x[i:i + batch], ids[i:i + batch]) for i in range(0, len(x), batch)])


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
    """On the pipeline's own samples (never trained on), labelled by the reference checker:
    how often a right sample scores above a wrong one of the same prompt (the choice best-of-N
    makes), and, over prompts with a right sample, how often the top-scored one is right."""
    s = score_all(model, to_pixel_values(imgs), torch.tensor([tok(p) for p in prompts], dtype=torch.int32)).numpy()
    wins, pairs, top, groups = 0.0, 0, 0, 0
    by_prompt = {}
    for i, p in enumerate(prompts):
        by_prompt.setdefault(p, []).append(i)
    for idx in by_prompt.values():
        right, wrong = [s[i] for i in idx if ok[i]], [s[i] for i in idx if not ok[i]]
        wins += sum((r > w) + 0.5 * (r == w) for r in right for w in wrong)
        pairs += len(right) * len(wrong)
        if right:
            groups += 1
            top += bool(ok[idx[int(np.argmax(s[idx]))]])
    return {"generated_pairwise_right_over_wrong": round(wins / max(1, pairs), 4), "generated_pairs": pairs,
            "generated_top_is_right": round(top / max(1, groups), 4), "generated_prompts": groups,
            "generated_agreement": round(float(((s > 0.5) == ok).mean()), 4)}


@torch.no_grad()
def reader_accuracy(reader, scenes, imgs):
    """Exact object count (rounded density sum), and shape / colour read at each object's centre cell."""
    x = to_pixel_values(imgs)
    d, shp, col, size, bg = (torch.cat(t) for t in zip(*(reader(x[i:i + 512]) for i in range(0, len(x), 512))))
    n = torch.tensor([len(s.objects) for s in scenes])
    count_ok = float((d.sum(1).round() == n).float().mean())
    hits, total, size_err = 0, 0, []
    for i, sc in enumerate(scenes):
        for o in sc.objects:
            c = min(GRID - 1, int(o.cy * GRID)) * GRID + min(GRID - 1, int(o.cx * GRID))
            hits += int(W.SHAPES[int(shp[i, c].argmax())] == o.shape and list(W.COLOURS)[int(col[i, c].argmax())] == o.colour)
            size_err.append(abs(float(size[i, c]) - o.size))
            total += 1
    bg_ok = float((bg.argmax(1) == torch.tensor([list(W.BACKGROUNDS).index(s.background) for s in scenes])).float().mean())
    return {"count": round(count_ok, 4), "shape_and_colour": round(hits / total, 4),
            "size_mae": round(float(np.mean(size_err)), 4), "background": round(bg_ok, 4)}


def eval_scenes(rng, n):
    """Held-out scenes in the benchmark's categories (laid out anywhere SCENES.md allows)."""
    return [W.scene_for_prompt(W.random_prompt(W.CATEGORIES[i % 6], rng), rng) for i in range(n)]


# ---------------------------------------------------------------- training
def train_reader(reader, scenes, image_sets, steps, batch, log_every=100):
    t = {k: torch.as_tensor(v) for k, v in reader_targets(scenes).items()}
    opt = torch.optim.AdamW(reader.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.05)
    gen = torch.Generator().manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    t0, hist = time.time(), []
    for step in range(steps):
        idx = rng.integers(len(scenes), size=batch)
        which = rng.integers(len(image_sets), size=batch)
        imgs = np.stack([image_sets[w][i] for w, i in zip(which, idx)])
        x = augment(to_pixel_values(imgs), gen)
        tb = {k: v[idx] for k, v in t.items()}
        flip = torch.rand(batch, generator=gen) < 0.5  # the world is mirror-symmetric left to right
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        for k in ("density", "weight", "shape", "colour", "size"):
            tb[k] = torch.where(flip[:, None], flip_cells(tb[k]), tb[k])
        loss, parts = reader_loss(reader, x, tb)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(reader.parameters(), 1.0)
        opt.step()
        sched.step()
        hist.append(parts)
        if (step + 1) % log_every == 0:
            mean = {k: round(float(np.mean([h[k] for h in hist[-log_every:]])), 4) for k in parts}
            print(f"reader step {step + 1}/{steps} {mean} {time.time() - t0:.0f}s", flush=True)


def train_parser(parser, tok, captions, steps, batch, log_every=200):
    targets = [parse_targets(c) for c in captions]
    ids_all, rows, rel, bg = parser_batch(tok, captions, targets)
    opt = torch.optim.AdamW(parser.parameters(), lr=1e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=steps, pct_start=0.05)
    rng = np.random.default_rng(SEED + 2)
    t0 = time.time()
    for step in range(steps):
        i = torch.as_tensor(rng.integers(len(captions), size=batch))
        loss = parser_loss(parser, ids_all[i], rows[i], rel[i], bg[i])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parser.parameters(), 1.0)
        opt.step()
        sched.step()
        if (step + 1) % log_every == 0:
            print(f"parser step {step + 1}/{steps} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)


# ---------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/scenes-work", help="where train_scenes.py keeps vae.pt")
    ap.add_argument("--reader-steps", type=int, default=3000)
    ap.add_argument("--parser-steps", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--scenes", type=int, default=18000)
    ap.add_argument("--captions", type=int, default=40000)
    ap.add_argument("--generated", help="npz of pipeline samples labelled by the checker (imgs, prompts, ok): "
                                        "measured on, never trained on")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--skip-reader", action="store_true", help="keep work/verifier-reader.pt")
    ap.add_argument("--skip-parser", action="store_true", help="keep work/verifier-parser.pt")
    ap.add_argument("--parser-only", action="store_true", help="train the prompt reader only, then stop")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(SEED)
    t0 = time.time()
    os.makedirs(os.path.join(OUT, "tokenizer"), exist_ok=True)
    for name in TOKENIZER_FILES:
        shutil.copy(os.path.join(PACK_TOKENIZER, name), os.path.join(OUT, "tokenizer", name))
    tok = ClipTokenizer(os.path.join(OUT, "tokenizer"), MAX_LEN)
    reader, parser = SceneReader(), PromptReader(len(tok.encoder), tok.end_id)
    reader_ckpt, parser_ckpt = os.path.join(a.work, "verifier-reader.pt"), os.path.join(a.work, "verifier-parser.pt")

    from train_scenes import load_autoencoder, render_scenes
    from measure_scenes_checker import round_trip
    enc, dec = load_autoencoder(a.work)

    # The prompt reader learns the world's language, the benchmark's prompt forms included (how a
    # prompt reads is a property of the grammar, not of any image); the scene reader never sees a
    # prompt, and no pipeline sample or checker judgement reaches either.
    captions_file = os.path.join(a.work, f"verifier-captions-{a.captions}.json")
    if os.path.exists(captions_file):
        with open(captions_file) as f:
            captions = json.load(f)
    else:
        captions = caption_pool(np.random.default_rng(SEED + 3), a.captions)
        with open(captions_file, "w") as f:
            json.dump(captions, f)
    if a.eval_only or a.skip_parser:
        parser.load_state_dict(torch.load(parser_ckpt))
    else:
        print(f"parser data: {len(captions)} distinct captions; {time.time() - t0:.0f}s", flush=True)
        train_parser(parser, tok, captions, a.parser_steps, 256)
        torch.save(parser.state_dict(), parser_ckpt)
        if a.parser_only:
            return
    if a.eval_only or a.skip_reader:
        reader.load_state_dict(torch.load(reader_ckpt))
    else:
        rng = np.random.default_rng(SEED)
        scenes, renders = render_scenes(SEED % 1000, a.scenes)
        extra = [W.scene_for_prompt(W.random_prompt(W.CATEGORIES[i % 6], rng), rng) for i in range(a.scenes // 3)]
        scenes = scenes + extra
        renders = np.concatenate([renders, np.stack([W.render(s, S) for s in extra])])
        trips = round_trip(enc, dec, renders)
        print(f"reader data: {len(scenes)} scenes, renders + autoencoder round trips; {time.time() - t0:.0f}s", flush=True)
        train_reader(reader, scenes, [renders, trips, trips], a.reader_steps, a.batch)
        torch.save(reader.state_dict(), reader_ckpt)
    reader.eval()
    parser.eval()
    model = Verifier(reader, parser).eval()

    # held-out evaluation: unseen scenes (renders and round trips), unseen captions, the benchmark's prompts
    erng = np.random.default_rng(SEED + 1)
    test_scenes = eval_scenes(erng, 2400)
    test_renders = np.stack([W.render(s, S) for s in test_scenes])
    test_trips = round_trip(enc, dec, test_renders)
    metrics = {}
    for name, imgs in (("renders", test_renders), ("round_trips", test_trips)):
        for kind, (acc, n) in hard_negative_accuracy(model, tok, test_scenes, imgs, np.random.default_rng(5)).items():
            metrics[f"{kind}_{name}"] = round(acc, 4)
            metrics[f"{kind}_pairs"] = n
        for k, v in reader_accuracy(reader, test_scenes, imgs).items():
            metrics[f"reader_{k}_{name}"] = v
    bench = [p for _, p in W.benchmark_prompts()]
    test_caps = caption_pool(np.random.default_rng(SEED + 9), 3000, exclude=frozenset(captions))
    for name, caps in (("benchmark_prompts", bench), ("unseen_captions", test_caps)):
        tg = [parse_targets(c) for c in caps]
        metrics[f"parser_exact_{name}"] = round(parser_exact(parser, *parser_batch(tok, caps, tg)), 4)
    if a.generated:
        g = np.load(a.generated, allow_pickle=True)
        metrics.update(selection_accuracy(model, tok, g["imgs"], list(g["prompts"]), g["ok"]))
    print(json.dumps(metrics, indent=2), flush=True)
    export(model, tok, metrics)
    print(f"total {time.time() - t0:.0f}s")


def export_onnx(model, tok, path, producer, doc):
    """Exports a Verifier with the judge interface (pixel_values, input_ids -> score, dynamic batch), checked.

    Returns the example inputs (x, ids) it was traced with."""
    import onnx
    x = torch.rand(3, 3, S, S) * 2 - 1
    ids = torch.tensor([tok("a red circle"), tok("two squares"), tok("a blue square above a red circle")],
                       dtype=torch.int32)
    torch.onnx.export(model, (x, ids), path, dynamo=False, opset_version=17, input_names=["pixel_values", "input_ids"],
                      output_names=["score"], dynamic_axes={"pixel_values": {0: "batch"}, "input_ids": {0: "batch"},
                                                            "score": {0: "batch"}})
    m = onnx.load(path)
    m.producer_name = producer
    m.doc_string = doc
    onnx.save(m, path)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    return x, ids


def export(model, tok, metrics):
    import onnxruntime as ort
    path = os.path.join(OUT, "model.onnx")
    x, ids = export_onnx(model, tok, path, "winnow-train_verifier",
                         "scenes-verifier: P(image shows prompt) = soft checks of a learned scene reader's counts, "
                         "attributes and positions against a learned prompt reader's requirements (Winnow)")
    got = ort.InferenceSession(path).run(None, {"pixel_values": x.numpy(), "input_ids": ids.numpy()})[0]
    with torch.no_grad():
        want = model(x, ids).numpy()
    assert np.allclose(got, want, atol=1e-4), (got, want)
    write_score_judge(OUT, "scenes-verifier", "faithfulness",
                      ("Structured verifier for shapes scenes: a learned scene reader (object-centre density, "
                       "shape, colour, size per cell, background) and a learned prompt reader (object groups, "
                       "counts, relation, background), compared by soft checks; score = product of the checks, "
                       "high only when the image shows exactly what the prompt asks."),
                      S, {"name": "input_ids", "dtype": "int32", "tokenizer": "tokenizer", "max_length": MAX_LEN,
                          "pad_token": END},
                      (0.0, 1.0), metrics)
    print("wrote", path, os.path.getsize(path))


if __name__ == "__main__":
    main()
