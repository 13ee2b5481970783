"""A reward (aesthetic) judge from people's picks: Bradley-Terry on the service's feedback folder alone.

    python models/tools/train_reward.py FEEDBACK_DIR OUT_JUDGE_DIR [--version v2-people]

FEEDBACK_DIR is `winnow.feedback.dir`, the imagefolder dataset that `POST /feedback` appends to:
its `metadata.jsonl` (older folders) and every replica's `parts/*/metadata.jsonl` has one row per pick (`chosen`,
`rejected`, `shown_files`, the prompt, the service's model and judge versions), the shown PNGs
under `images/`. Nothing else is read: not the person's notes, not any taste function.

Every pick gives one pair per rejected candidate, (chosen, rejected), and the model is fitted with
the Bradley-Terry loss `-log sigmoid(s_chosen - s_rejected)` (plus a tiny `1e-3 * s^2` that keeps
scores centred), as `train_scenes_aesthetic.py` fits `aesthetic-scenes` and as preference reward
models are fitted. The network is by default the same `AestheticNet` (four stride-2 convolutions, flattened so
position stays visible, an MLP), started from `aesthetic-scenes`' weights (`--init`); `--arch places`
is `PlacesNet`, which sees positions more finely (coordinate channels, an 8 x 8 grid), from random weights;
trained on `image_aug.augment` (blur up to sigma 1.2, colour jitter, noise) and, with `--flip`,
mirrored pictures. A share of the prompts (`--val-share`, by prompt so that no prompt is on both
sides) is kept out as a validation split; the checkpoint with the best validation loss is kept.

OUT_JUDGE_DIR gets a judge with the interface of models/judges/aesthetic-scenes, so it can replace
it (`winnow.judges.aesthetic.path`, live): `model.onnx` (input `pixel_values` float32
[batch,3,64,64], RGB NCHW, p/127.5 - 1; output `score` [batch]), `judge.json` (score_name
`aesthetic`, `winnow_version` from --version, `score.min/max` the 1st and 99th percentile of its
scores over its training images), and README.md (recipe, provenance, metrics). The export is
checked with onnx.checker and against torch in onnxruntime.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import time

import numpy as np
import torch
from torch import nn
from PIL import Image

import feedback_to_pairs
from image_aug import augment, bradley_terry_loss, to_pixel_values, write_score_judge
from train_scenes_aesthetic import AestheticNet

S = 64
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_INIT = os.path.normpath(os.path.join(HERE, "..", "judges", "aesthetic-scenes", "model.onnx"))


# ---------------------------------------------------------------- data
def read_picks(feedback_dir: str) -> list[dict]:
    """Every pick with rejected candidates, of every part of the folder (feedback_to_pairs.read_picks:
    the top metadata.jsonl of older folders and each replica's parts/*/metadata.jsonl, the first row
    of an id only, a torn row skipped); each row gets `_base`, the folder its file names are relative to."""
    rows = []
    for base, row in feedback_to_pairs.read_picks(feedback_dir):
        if row.get("rejected"):
            rows.append({**row, "_base": base})
    if not rows:
        raise SystemExit(f"no picks in {feedback_dir} (metadata.jsonl or parts/*/metadata.jsonl)")
    return rows


def load_image(path: str) -> np.ndarray:
    img = Image.open(path).convert("RGB")
    if img.size != (S, S):
        img = img.resize((S, S), Image.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def build_pairs(rows: list[dict], feedback_dir: str):
    """(images uint8 [M,S,S,3], pairs [(chosen_img, rejected_img, pick_no)], image_of_file)."""
    index, imgs, pairs = {}, [], []

    def img_id(base, file_name):
        path = os.path.join(base, file_name)
        if path not in index:
            index[path] = len(imgs)
            imgs.append(load_image(path))
        return index[path]

    for k, row in enumerate(rows):
        files, base = row["shown_files"], row.get("_base", feedback_dir)
        win = img_id(base, files[str(row["chosen"])])
        for r in row["rejected"]:
            pairs.append((win, img_id(base, files[str(r)]), k))
    return np.stack(imgs), np.array(pairs, dtype=np.int64)


def split_by_prompt(rows: list[dict], share: float, seed: int) -> np.ndarray:
    """A boolean per pick: in the validation split (a seeded share of the distinct prompts)."""
    prompts = sorted({r["prompt"] for r in rows})
    rng = np.random.default_rng(seed)
    val = set(rng.permutation(prompts)[: int(round(share * len(prompts)))].tolist())
    return np.array([r["prompt"] in val for r in rows])


# ---------------------------------------------------------------- model
class PlacesNet(torch.nn.Module):
    """A reward network that sees where things are finely (`--arch places`).

    Why: `AestheticNet` ends at a 4 x 4 grid (16-pixel cells), while a taste for the rule of thirds
    cares about positions at 21 and 43 pixels, inside those cells. This network adds two constant
    coordinate channels to the picture (x and y in [-1, 1], as CoordConv, Liu et al. 2018, so a
    filter can tell where it is), keeps a full-resolution first layer, and ends at an 8 x 8 grid
    (8-pixel cells) squeezed to 16 channels before the flattened MLP. About 3x AestheticNet's
    arithmetic per picture (22 M multiply-adds); it is trained from random weights."""

    def __init__(self, widths=(32, 32, 64, 64), squeeze=16, hidden=128):
        super().__init__()
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, S), torch.linspace(-1, 1, S), indexing="ij")
        self.register_buffer("coords", torch.stack([xs, ys])[None], persistent=False)
        layers, c = [], 5
        for i, w in enumerate(widths):  # strides 1, 2, 2, 2: 64 -> 64 -> 32 -> 16 -> 8
            layers += [nn.Conv2d(c, w, 3, 1 if i == 0 else 2, 1), nn.ReLU()]
            c = w
        layers += [nn.Conv2d(c, squeeze, 1), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(squeeze * 8 * 8, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        xy = self.coords.expand(pixel_values.shape[0], -1, -1, -1)
        return self.head(self.features(torch.cat([pixel_values, xy], 1))).squeeze(1)


ARCHS = {"aesthetic": AestheticNet, "places": PlacesNet}
ARCH_TEXT = {"aesthetic": "`AestheticNet` (as `aesthetic-scenes`)",
             "places": "`PlacesNet` (coordinate channels, an 8 x 8 grid: `train_reward.py`)"}


def init_from_onnx(model: torch.nn.Module, path: str) -> None:
    """Loads the network's weights from an exported judge of the same network (initializer names are the state_dict's)."""
    import onnx
    from onnx import numpy_helper
    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer}
    state = model.state_dict()
    missing = [k for k in state if k not in weights or tuple(weights[k].shape) != tuple(state[k].shape)]
    if missing:
        raise SystemExit(f"{path} does not hold {type(model).__name__} weights (--init must match --arch): {missing}")
    model.load_state_dict({k: torch.as_tensor(weights[k].copy()) for k in state})


def flip(x: torch.Tensor, gen: torch.Generator, mode: str) -> torch.Tensor:
    if mode in ("h", "hv"):
        m = torch.rand(x.shape[0], generator=gen) < 0.5
        x = torch.where(m[:, None, None, None], x.flip(3), x)
    if mode == "hv":
        m = torch.rand(x.shape[0], generator=gen) < 0.5
        x = torch.where(m[:, None, None, None], x.flip(2), x)
    return x


@torch.no_grad()
def scores_of(model, imgs: np.ndarray, batch: int = 512) -> np.ndarray:
    model.eval()
    out = [model(to_pixel_values(imgs[i:i + batch])).numpy() for i in range(0, len(imgs), batch)]
    model.train()
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def pair_stats_on(model, imgs: np.ndarray, pairs: np.ndarray) -> dict:
    """pair_stats, scoring only the images these pairs use (validation every few steps stays cheap)."""
    ids, local = np.unique(pairs[:, :2], return_inverse=True)
    return pair_stats(scores_of(model, imgs[ids]), local.reshape(-1, 2))


def pair_stats(s: np.ndarray, pairs: np.ndarray) -> dict:
    if len(pairs) == 0:
        return {"accuracy": float("nan"), "loss": float("nan")}
    m = s[pairs[:, 0]] - s[pairs[:, 1]]
    return {"accuracy": float(np.mean(m > 0) + 0.5 * np.mean(m == 0)), "loss": float(np.mean(np.logaddexp(0, -m)))}


class AveragedJudge(torch.nn.Module):
    """The exported judge: the mean score of K members (trained alike from different seeds) over the
    mirrorings they were trained with (identity, and with --flip h/hv the mirrored pictures too).
    Why: the taste does not change when a picture is mirrored and the members' errors are partly
    independent, so averaging lowers the variance of a score; one graph, one ONNX call for the service."""

    def __init__(self, members, flip_mode: str):
        super().__init__()
        self.members = torch.nn.ModuleList(members)
        self.flips = {"none": [()], "h": [(), (3,)], "hv": [(), (3,), (2,), (2, 3)]}[flip_mode]

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        total = None
        for m in self.members:
            for dims in self.flips:
                s = m(pixel_values.flip(dims) if dims else pixel_values)
                total = s if total is None else total + s
        return total / (len(self.members) * len(self.flips))


def fit(a, seed: int, imgs, x_all, train_pairs, val_pairs, label: str):
    """One member: Bradley-Terry from the init, the checkpoint with the best validation loss kept."""
    torch.manual_seed(seed)
    model = ARCHS[a.arch]()
    if a.init != "none":
        init_from_onnx(model, a.init)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=a.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=a.steps,
                                                pct_start=max(0.1, 2.5 / a.steps))  # >= 2 warm-up steps
    best = {"loss": float("inf")}
    history, running = [], []
    t_train = time.time()
    for step in range(a.steps):
        idx = torch.randint(0, len(train_pairs), (a.batch,), generator=gen).numpy()
        ia, ib = torch.as_tensor(train_pairs[idx, 0]), torch.as_tensor(train_pairs[idx, 1])
        x = flip(augment(x_all[torch.cat([ia, ib])], gen), gen, a.flip)
        s = model(x)
        margin = s[: a.batch] - s[a.batch:]
        loss = bradley_terry_loss(margin, s)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running.append(float((margin > 0).float().mean()))
        if (step + 1) % a.eval_every == 0 or step + 1 == a.steps:
            v = pair_stats_on(model, imgs, val_pairs)
            history.append({"member": label, "step": step + 1,
                            "train_acc": round(float(np.mean(running[-a.eval_every:])), 4),
                            "val_acc": round(v["accuracy"], 4), "val_loss": round(v["loss"], 4)})
            if v["loss"] < best["loss"]:
                best = {**v, "step": step + 1, "state": {k: t.clone() for k, t in model.state_dict().items()}}
            print(f"[{label}] step {step + 1}/{a.steps} loss {loss.item():.4f} train-acc {history[-1]['train_acc']:.3f} "
                  f"val-acc {v['accuracy']:.4f} val-loss {v['loss']:.4f} {time.time() - t_train:.0f}s", flush=True)
    model.load_state_dict(best["state"])
    model.eval()
    print(f"[{label}] kept step {best['step']}: validation accuracy {best['accuracy']:.4f} loss {best['loss']:.4f}",
          flush=True)
    return model, best, history


# ---------------------------------------------------------------- main
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("feedback_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--version", default="v2-people", help="the judge's winnow_version")
    ap.add_argument("--name", default="aesthetic-scenes-people")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=128, help="pairs per step")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--arch", choices=sorted(ARCHS), default="aesthetic",
                    help="the network: aesthetic (AestheticNet, as aesthetic-scenes) or places (PlacesNet: finer positions)")
    ap.add_argument("--init", help="an exported judge's model.onnx of the same network to start from, or 'none' "
                    "(default: aesthetic-scenes' weights for --arch aesthetic, random weights for places)")
    ap.add_argument("--flip", choices=("none", "h", "hv"), default="none", help="mirror pictures in training")
    ap.add_argument("--val-share", type=float, default=0.1, help="share of prompts kept out for validation")
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--max-picks", type=int, default=0, help="use only the first K picks (0: all), for learning curves")
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--history", help="write the training curve, arguments and provenance (json) here")
    ap.add_argument("--members", type=int, default=1,
                    help="train K members from seeds SEED, SEED+1, ... and export their average (one graph)")
    ap.add_argument("--no-export", action="store_true", help="train and report only (for choosing settings)")
    a = ap.parse_args(argv)
    if a.init is None:
        a.init = DEFAULT_INIT if a.arch == "aesthetic" else "none"
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    t0, c0 = time.time(), time.process_time()

    rows = read_picks(a.feedback_dir)
    if a.max_picks:
        rows = rows[: a.max_picks]
    imgs, pairs = build_pairs(rows, a.feedback_dir)
    is_val_pick = split_by_prompt(rows, a.val_share, a.seed)
    val_mask = is_val_pick[pairs[:, 2]]
    train_pairs, val_pairs = pairs[~val_mask], pairs[val_mask]
    train_imgs_ids = np.unique(train_pairs[:, :2])
    print(f"{len(rows)} picks -> {len(pairs)} pairs over {len(imgs)} images; train {len(train_pairs)} pairs, "
          f"validation {len(val_pairs)} pairs ({int(is_val_pick.sum())} picks); {time.time() - t0:.0f}s", flush=True)

    x_all = to_pixel_values(imgs)
    start_model = ARCHS[a.arch]()
    if a.init != "none":
        init_from_onnx(start_model, a.init)
    start = pair_stats_on(start_model, imgs, val_pairs)
    print(f"start: validation accuracy {start['accuracy']:.4f} loss {start['loss']:.4f}", flush=True)
    t_train = time.time()
    members, bests, history = [], [], []
    for k in range(a.members):
        m, b, h = fit(a, a.seed + k, imgs, x_all, train_pairs, val_pairs, f"member {k + 1}/{a.members}")
        members.append(m); bests.append(b); history += h
    train_seconds = time.time() - t_train
    model = AveragedJudge(members, a.flip).eval()
    torch_s = scores_of(model, imgs)  # one pass over every image: the averaged judge costs K x mirrorings
    v = pair_stats(torch_s, val_pairs)
    best = {**v, "step": [b["step"] for b in bests] if a.members > 1 else bests[0]["step"]}
    final_train = pair_stats(torch_s, train_pairs)
    print(f"the averaged judge ({a.members} member(s) x {len(model.flips)} mirrorings): validation accuracy "
          f"{best['accuracy']:.4f} loss {best['loss']:.4f}; train accuracy {final_train['accuracy']:.4f}", flush=True)
    if a.no_export:
        return

    import onnx
    import onnxruntime as ort
    os.makedirs(a.out_dir, exist_ok=True)
    path = os.path.join(a.out_dir, "model.onnx")
    torch.onnx.export(model, (torch.zeros(2, 3, S, S),), path, dynamo=False, opset_version=17,
                      input_names=["pixel_values"], output_names=["score"],
                      dynamic_axes={"pixel_values": {0: "batch"}, "score": {0: "batch"}})
    m = onnx.load(path)
    m.producer_name = "winnow-train_reward"
    m.doc_string = f"{a.name} {a.version}: Bradley-Terry reward model on people's picks (Winnow feedback)"
    onnx.save(m, path)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    # onnxruntime on every validation image (the exported model's validation figure) and 512 more
    # (the export check); the score range comes from torch's scores, which the check ties to the export's.
    val_ids = np.unique(val_pairs[:, :2])
    extra = np.random.default_rng(a.seed).choice(len(imgs), size=min(512, len(imgs)), replace=False)
    checked = np.union1d(val_ids, extra)
    ort_s = np.full(len(imgs), np.nan, dtype=np.float32)
    for i in range(0, len(checked), 256):
        ids = checked[i:i + 256]
        ort_s[ids] = sess.run(["score"], {"pixel_values": to_pixel_values(imgs[ids]).numpy()})[0]
    max_diff = float(np.abs(ort_s[checked] - torch_s[checked]).max())
    one = sess.run(["score"], {"pixel_values": to_pixel_values(imgs[:1]).numpy()})[0]
    assert one.shape == (1,) and abs(float(one[0]) - float(torch_s[0])) < 1e-4
    if max_diff > 1e-4:
        raise SystemExit(f"onnxruntime and torch differ by {max_diff}")
    lo, hi = (float(v) for v in np.percentile(torch_s[train_imgs_ids], [1, 99]))
    val_ort = pair_stats(ort_s, val_pairs)
    metrics = {
        "validation_pairwise_accuracy": round(val_ort["accuracy"], 4),
        "validation_bt_loss": round(val_ort["loss"], 4),
        "validation_pairs": int(len(val_pairs)),
        "train_pairwise_accuracy": round(final_train["accuracy"], 4),
        "train_pairs": int(len(train_pairs)),
        "picks": len(rows),
        "kept_step": best["step"],
        "members": a.members,
        "mirrorings_averaged": len(model.flips),
    }
    desc = ("Tiny CNN reward model fitted with a Bradley-Terry loss on people's picks collected by the service's "
            "POST /feedback (winnow.feedback.dir); replaces aesthetic-scenes as the `aesthetic` score.")
    write_score_judge(a.out_dir, a.name, "aesthetic", desc, S, None, (round(lo, 4), round(hi, 4)), metrics,
                      version=a.version)
    provenance = describe(rows, a.feedback_dir)
    if a.history:
        with open(a.history, "w") as f:
            json.dump({"args": vars(a), "history": history, "start_validation": start, "metrics": metrics,
                       "provenance": provenance}, f, indent=1)
    write_readme(a, metrics, provenance, start, history, lo, hi, max_diff, os.path.getsize(path), train_seconds,
                 time.time() - t0, time.process_time() - c0, int(is_val_pick.sum()),
                 len({r["prompt"] for r, v in zip(rows, is_val_pick) if v}), len(imgs))
    print(json.dumps(metrics, indent=2))
    print(f"wrote {a.out_dir}: score range {lo:.4f} .. {hi:.4f}, torch vs onnxruntime {max_diff:.1e}; "
          f"{time.time() - t0:.0f}s wall, {time.process_time() - c0:.0f}s CPU")


def describe(rows: list[dict], feedback_dir: str) -> dict:
    """Where the picks came from, as their rows say."""
    import scenes_world as W
    versions = collections.Counter(
        f"{r.get('model', '?')} {r.get('model_version', '?')}; aesthetic "
        f"{(r.get('judges') or {}).get('aesthetic', {}).get('name', '?')} {(r.get('judges') or {}).get('aesthetic', {}).get('version', '?')}; "
        f"faithfulness {(r.get('judges') or {}).get('faithfulness', {}).get('version', '?')}" for r in rows)
    cats = collections.Counter()
    for r in rows:
        try:
            cats[W.category_of(r["prompt"])] += 1
        except ValueError:
            cats["other"] += 1
    seeds = [int(s) for r in rows for s in r.get("seeds", {}).values()]
    times = sorted(r.get("time", "") for r in rows)
    shown = collections.Counter(len(r["shown_files"]) for r in rows)
    return {"feedback_dir": os.path.abspath(feedback_dir), "picks": len(rows),
            "distinct_prompts": len({r["prompt"] for r in rows}),
            "service_versions": dict(versions), "categories": dict(cats), "shown_per_pick": dict(shown),
            "seed_range": [min(seeds), max(seeds)] if seeds else None, "time_range": [times[0], times[-1]] if times else None}


def write_readme(a, metrics, prov, start, history, lo, hi, max_diff, size_bytes, train_seconds, total_seconds,
                 cpu_seconds, val_picks, val_prompts, n_imgs) -> None:
    n_params = a.members * sum(p.numel() for p in ARCHS[a.arch]().parameters())
    versions = "\n".join(f"  - {v}: {n} picks" for v, n in prov["service_versions"].items())
    cats = ", ".join(f"{k} {v}" for k, v in sorted(prov["categories"].items()))
    init = "aesthetic-scenes v1's weights" if a.init == DEFAULT_INIT else ("random weights" if a.init == "none" else a.init)
    curve = " ".join(f"{h['step']}:{h['val_acc']:.3f}" for h in history)
    if a.members > 1:
        curve = "; ".join(f"member {k + 1}: " + " ".join(f"{h['step']}:{h['val_acc']:.3f}" for h in history
                                                         if h["member"].startswith(f"member {k + 1}/"))
                          for k in range(a.members))
    mirrors = {"none": "", "h": " and its horizontal mirror", "hv": " and its three mirrorings (h, v, both)"}[a.flip]
    text = f"""# {a.name} ({a.version})

An aesthetic **reward model learned from people's picks**: the service's `POST /feedback`
(`winnow.feedback.dir`) collected which of a generation's safe candidates a person preferred, and
this judge was fitted to those choices with a **Bradley-Terry** loss,
`-log sigmoid(s_chosen - s_rejected)`, over every (chosen, rejected) pair. It has the interface of
`aesthetic-scenes` (score name `aesthetic`), so it replaces it in the ranking
(`combined = faithfulness + 0.25 x aesthetic`, the score normalised to [0, 1] by `score.min/max`),
live, by pointing `winnow.judges.aesthetic.path` (a symlink) at this folder.

## Interface

- `model.onnx` (opset 17, {size_bytes} bytes, {n_params} parameters): input `pixel_values`
  float32 `[batch, 3, 64, 64]` (RGB, NCHW, `p/127.5 - 1`), output `score` float32 `[batch]`;
  higher = preferred. Architecture {ARCH_TEXT[a.arch]}; the score is the
  mean of {a.members} such network(s) over the picture{mirrors} (`AveragedJudge`: one graph).
- `score.min/max` = {lo:.4f} .. {hi:.4f}: the 1st and 99th percentile of its scores over its
  {n_imgs} training images (candidates as the service serves them).

## Data (provenance)

- Source: a feedback folder (`winnow.feedback.dir`; every part's `metadata.jsonl`; not committed: `annotator.py
  pick` against a service with the versions below remakes it, as `loop.sh`'s picks stage does), {prov['picks']} picks on
  {prov['distinct_prompts']} distinct prompts, shown candidates per pick: {', '.join(f'{k} in {v} picks' for k, v in sorted(prov['shown_per_pick'].items(), reverse=True))}
  (categories: {cats}); seeds {prov['seed_range']}; picked {prov['time_range'][0]} .. {prov['time_range'][1]}.
- Service versions the picks were made on (pipeline; judges as the rows name them):
{versions}
- Only the folder was read: the images and who was chosen over whom. The person was a scripted
  annotator (`models/tools/annotator.py`, a documented hidden taste with noise) asked on training
  prompts only (`scenes_world.training_prompt`, never a held-out prompt); this tool never calls it.
- Pairs: one per rejected candidate, {metrics['train_pairs']} for training and {metrics['validation_pairs']}
  for validation: {val_picks} picks whose prompt is among the {val_prompts} prompts (a seeded {a.val_share:.0%}
  of the distinct prompts) kept out.

## Recipe

{a.steps} steps of {a.batch} pairs, AdamW (weight decay {a.weight_decay}), one-cycle LR (max {a.lr}),
started from {init}; `image_aug.augment` (blur sigma up to 1.2, colour gain/offset jitter, noise),
mirroring `{a.flip}`; the checkpoint with the lowest validation loss is kept (step {metrics['kept_step']});
{a.members} member(s) trained alike from seeds {a.seed}..{a.seed + a.members - 1} (one validation split, seed {a.seed}),
averaged with their mirrorings in the exported graph.
Validation accuracy by step: {curve}.

## Measured

| figure | value |
| --- | --- |
| validation pairwise accuracy (prompts kept out of training), before training (start weights) | {start['accuracy']:.4f} |
| validation pairwise accuracy, exported model in onnxruntime | **{metrics['validation_pairwise_accuracy']:.4f}** |
| training pairwise accuracy | {metrics['train_pairwise_accuracy']:.4f} |
| torch vs onnxruntime, max abs difference (every validation image and 512 more) | {max_diff:.1e} |

Wall time {total_seconds:.0f} s ({train_seconds:.0f} s training), CPU time {cpu_seconds:.0f} s, {a.threads} thread(s).
The held-out evaluation (held-out prompts and seeds, the service before and after the swap) is
`models/tools/eval_reward.py`; its figures follow below once it has run.

## Reproduce

    python models/tools/train_reward.py FEEDBACK_DIR OUT --version {a.version} --steps {a.steps} --batch {a.batch} --lr {a.lr} --flip {a.flip}{'' if a.arch == 'aesthetic' else ' --arch ' + a.arch}{'' if a.init == (DEFAULT_INIT if a.arch == 'aesthetic' else 'none') else ' --init ' + a.init} --seed {a.seed} --members {a.members}{f' --max-picks {a.max_picks}' if a.max_picks else ''}

License: MIT (trained by the Winnow project from synthetic data and scripted picks).
"""
    with open(os.path.join(a.out_dir, "README.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
