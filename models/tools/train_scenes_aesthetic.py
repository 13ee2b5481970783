"""Train the scenes aesthetic judge: a Bradley-Terry reward model of a simulated annotator's taste.

    python models/tools/train_scenes_aesthetic.py

The method of real preference reward models: pairs of images, a simulated annotator's
noisy A-or-B choice, and a CNN trained with the Bradley-Terry loss
-log sigmoid(s_winner - s_loser). What changes is the world (the shapes scenes of
SCENES.md, as the default pack draws them) and so the annotator's taste, which now
judges a composition (see `utility`). Writes models/judges/aesthetic-scenes/.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np
import torch
import torch.nn as nn

import scenes_world as W
from image_aug import blurred_uint8, bradley_terry_loss, gaussian_blur, to_pixel_values, write_score_judge

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "judges", "aesthetic-scenes"))
SEED = 20261128
S = 64
TEMPERATURE = 0.2  # annotator noise: P(A preferred) = sigmoid((u_A - u_B) / T)
N_TRAIN_IMAGES, N_TRAIN_PAIRS = 24000, 96000
N_TEST_IMAGES, N_TEST_PAIRS = 2000, 8000
STEPS, PAIRS_PER_STEP, LR = 3000, 128, 2e-3
P_BLURRED, MAX_BLUR = 0.4, 1.5  # share of images shown soft, and how soft at most


# ---------------------------------------------------------------- the model
class AestheticNet(nn.Module):
    """Tiny CNN: four stride-2 3x3 convs (64 -> 4 px), flatten (keeps position), MLP -> 1."""

    def __init__(self, widths=(24, 48, 96, 96), hidden=128):
        super().__init__()
        layers, c = [], 3
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, 2, 1), nn.ReLU()]
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c * 4 * 4, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(pixel_values)).squeeze(1)



# ---------------------------------------------------------------- the annotator
def _luminance(rgb) -> float:
    r, g, b = (float(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(o: W.Obj, background: str) -> float:
    fg = np.clip(np.array(W.COLOURS[o.colour]) + np.array(o.jitter), 0, 255).astype(np.float64)
    bg = np.array(W.BACKGROUNDS[background], dtype=np.float64)
    return (0.5 * abs(_luminance(fg) - _luminance(bg)) / 255
            + 0.5 * float(np.linalg.norm(fg - bg)) / (255 * np.sqrt(3)))


def utility_parts(scene: W.Scene, blur: float) -> dict:
    objs = scene.objects
    areas = np.array([o.size ** 2 for o in objs])
    xs, ys = np.array([o.cx for o in objs]), np.array([o.cy for o in objs])
    # Balance: how far the objects' area-weighted centre sits from the canvas centre (0..0.7).
    balance = float(np.hypot((areas * xs).sum() / areas.sum() - 0.5, (areas * ys).sum() / areas.sum() - 0.5))
    # Breathing room: the smallest gap between two boxes, up to 0.2 of the side (1 for one object).
    gaps = [max(max(b.box()[0] - a.box()[2], a.box()[0] - b.box()[2]), max(b.box()[1] - a.box()[3], a.box()[1] - b.box()[3]))
            for i, a in enumerate(objs) for b in objs[i + 1:]]
    room = min(1.0, min(gaps) / 0.2) if gaps else 1.0
    # Edge crowding: how close the nearest box comes to the frame, below 0.1 of the side.
    edge = min(min(o.box()[0], o.box()[1], 1 - o.box()[2], 1 - o.box()[3]) for o in objs)
    crowding = max(0.0, 0.1 - edge) / 0.1
    # Presence: objects of a comfortable size (mean side up to 0.35, then flat).
    presence = min(1.0, float(np.mean([o.size for o in objs])) / 0.35)
    return {"worst_contrast": min(contrast(o, scene.background) for o in objs), "balance": balance, "room": room,
            "crowding": crowding, "presence": presence, "softness": blur / MAX_BLUR}


WEIGHTS = {"worst_contrast": 3.0, "balance": -3.0, "room": 1.5, "crowding": -1.5, "presence": 1.5, "softness": -2.0}


def utility(scene: W.Scene, blur: float) -> float:
    """The annotator's hidden utility of a scene shown with a given blur."""
    p = utility_parts(scene, blur)
    return float(sum(WEIGHTS[k] * p[k] for k in WEIGHTS))


def sample_world(rng, n):
    scenes = [W.sample_scene(rng) for _ in range(n)]
    blur = np.where(rng.random(n) < P_BLURRED, rng.uniform(0, MAX_BLUR, n), 0.0)
    imgs = np.stack([W.render(s, S) for s in scenes])
    x = torch.as_tensor(imgs).permute(0, 3, 1, 2).float()
    imgs = gaussian_blur(x, torch.as_tensor(blur, dtype=torch.float32)).round().clamp(0, 255).byte() \
        .permute(0, 2, 3, 1).numpy()
    u = np.array([utility(s, b) for s, b in zip(scenes, blur)])
    return scenes, imgs, u


def annotate(rng: np.random.Generator, u: np.ndarray, n_pairs: int):
    """Random pairs (a, b), a != b, and the annotator's noisy choice: 1 if a is preferred."""
    a = rng.integers(0, len(u), n_pairs)
    b = (a + rng.integers(1, len(u), n_pairs)) % len(u)
    p = 1.0 / (1.0 + np.exp(-(u[a] - u[b]) / TEMPERATURE))
    label = (rng.random(n_pairs) < p).astype(np.float32)
    return a, b, label


def pair_metrics(score: np.ndarray, u: np.ndarray, a, b, label) -> dict:
    d = score[a] - score[b]
    du = u[a] - u[b]
    return {
        "pairwise_accuracy": float(np.mean((d > 0) == (label > 0.5))),
        "noiseless_agreement": float(np.mean((d > 0) == (du > 0))),
    }


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    rx = np.argsort(np.argsort(x)).astype(np.float64)
    ry = np.argsort(np.argsort(y)).astype(np.float64)
    return float(np.corrcoef(rx, ry)[0, 1])


def ort_scores(session, imgs: np.ndarray, batch: int = 256) -> np.ndarray:
    out = []
    for i in range(0, len(imgs), batch):
        pv = to_pixel_values(imgs[i:i + batch]).numpy()
        out.append(session.run(["score"], {"pixel_values": pv})[0])
    return np.concatenate(out)



def light_augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Per-channel gain/offset jitter and noise; no blur (softness is part of the taste here)."""
    n = x.shape[0]
    gain = 1.0 + (torch.rand(n, 3, 1, 1, generator=gen) - 0.5) * 0.12
    offset = (torch.rand(n, 3, 1, 1, generator=gen) - 0.5) * 0.08
    x = (x + 1) * gain - 1 + offset
    x = x + torch.rand(n, 1, 1, 1, generator=gen) * 0.03 * torch.randn(x.shape, generator=gen)
    return x.clamp(-1.0, 1.0)


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    t0 = time.time()
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(SEED)
    _, train_imgs, train_u = sample_world(rng, N_TRAIN_IMAGES)
    ta, tb, tlabel = annotate(rng, train_u, N_TRAIN_PAIRS)
    _, test_imgs, test_u = sample_world(rng, N_TEST_IMAGES)
    ea, eb, elabel = annotate(rng, test_u, N_TEST_PAIRS)
    ceiling = pair_metrics(test_u, test_u, ea, eb, elabel)["pairwise_accuracy"]
    print(f"data ready; annotator ceiling {ceiling:.4f}; {time.time() - t0:.0f}s", flush=True)

    train_x = torch.as_tensor(train_imgs)
    gen = torch.Generator().manual_seed(SEED)
    model = AestheticNet()
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=STEPS, pct_start=0.05)
    t_train, running = time.time(), []
    for step in range(STEPS):
        idx = torch.randint(0, N_TRAIN_PAIRS, (PAIRS_PER_STEP,), generator=gen).numpy()
        ia, ib = torch.as_tensor(ta[idx]), torch.as_tensor(tb[idx])
        y = torch.as_tensor(tlabel[idx])
        s = model(light_augment(to_pixel_values(train_x[torch.cat([ia, ib])]), gen))
        sa, sb = s[:PAIRS_PER_STEP], s[PAIRS_PER_STEP:]
        margin = torch.where(y > 0.5, sa - sb, sb - sa)
        loss = bradley_terry_loss(margin, s)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running.append(float((margin > 0).float().mean()))
        if (step + 1) % 250 == 0:
            print(f"step {step + 1}/{STEPS} loss {loss.item():.4f} train-acc {np.mean(running[-250:]):.3f} "
                  f"{time.time() - t_train:.0f}s", flush=True)
    train_seconds = time.time() - t_train
    model.eval()

    import onnx
    import onnxruntime as ort
    path = os.path.join(OUT, "model.onnx")
    torch.onnx.export(model, (torch.zeros(2, 3, S, S),), path, dynamo=False, opset_version=17,
                      input_names=["pixel_values"], output_names=["score"],
                      dynamic_axes={"pixel_values": {0: "batch"}, "score": {0: "batch"}})
    m = onnx.load(path)
    m.producer_name = "winnow-train_scenes_aesthetic"
    m.doc_string = "aesthetic-scenes: Bradley-Terry reward model on the shapes scenes (Winnow)"
    onnx.save(m, path)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    sc = ort_scores(sess, test_imgs)
    with torch.no_grad():
        max_diff = float(np.abs(model(to_pixel_values(test_imgs[:64])).numpy() - sc[:64]).max())
    clean = pair_metrics(sc, test_u, ea, eb, elabel)
    blur = pair_metrics(ort_scores(sess, blurred_uint8(test_imgs, 1.0)), test_u, ea, eb, elabel)
    lo, hi = (float(v) for v in np.percentile(sc, [1, 99]))
    metrics = {
        "heldout_pairwise_accuracy": round(clean["pairwise_accuracy"], 4),
        "heldout_noiseless_agreement": round(clean["noiseless_agreement"], 4),
        "heldout_pairwise_accuracy_blur1.0": round(blur["pairwise_accuracy"], 4),
        "annotator_ceiling_pairwise_accuracy": round(ceiling, 4),
        "spearman_vs_utility": round(spearman(sc, test_u), 4),
        "heldout_pairs": N_TEST_PAIRS,
        "heldout_images": N_TEST_IMAGES,
    }
    write_score_judge(OUT, "aesthetic-scenes", "aesthetic",
                      ("Tiny CNN reward model trained with a Bradley-Terry loss on a simulated annotator's "
                       "pairwise preferences over shapes scenes: prefers well-contrasted, balanced, uncrowded, "
                       "crisp compositions."),
                      S, None, (round(lo, 4), round(hi, 4)), metrics)
    write_readme(metrics, lo, hi, os.path.getsize(path), train_seconds, time.time() - t0, max_diff)
    print(json.dumps(metrics, indent=2))
    print("TARGET held-out pairwise accuracy >= 0.85:", "PASS" if clean["pairwise_accuracy"] >= 0.85 else "FAIL")


def write_readme(metrics, lo, hi, size_bytes, train_seconds, total_seconds, max_diff) -> None:
    n_params = sum(p.numel() for p in AestheticNet().parameters())
    weights = ", ".join(f"{k} {v:+.1f}" for k, v in WEIGHTS.items())
    text = f"""# aesthetic-scenes

An aesthetic **reward model** for the shapes scenes that the default pack draws (64x64, one to
four shapes on a plain background; `shared/SCENES.md`). Trained as real preference reward
models are: from **pairwise preferences** with a **Bradley-Terry** loss,
`-log sigmoid(s_winner - s_loser)`, where the preferences come from a simulated annotator.
Higher score = nicer picture. The service normalises scores with
`clamp((s - min) / (max - min), 0, 1)` using `score.min/max` from `judge.json` (the 1st and
99th percentile over {metrics['heldout_images']} held-out images). It ranks; it knows nothing
of prompts (that is the verifier's job, `../scenes-verifier/`).

## Interface

- `model.onnx` (opset 17, {size_bytes} bytes, {n_params} parameters): input `pixel_values`
  float32 `[batch, 3, 64, 64]` (RGB, NCHW, `p/127.5 - 1`), output `score` float32 `[batch]`.
- Architecture: `AestheticNet` (four stride-2 convolutions, flattened so that position stays
  visible, MLP).

## The simulated annotator's taste

A hidden utility of the scene as shown (`u = sum(weight * part)`; weights: {weights}):

- `worst_contrast`: the contrast of the least visible object with the background (half the
  luminance difference, half the RGB distance, each scaled to 0..1). A yellow square on white
  spoils a picture however good the rest is.
- `balance`: how far the objects' area-weighted centre sits from the canvas centre.
- `room`: the smallest gap between two objects, up to 0.2 of the side (crowded scenes are worse).
- `crowding`: how far the nearest object intrudes into the outer tenth of the canvas.
- `presence`: objects of a comfortable size (mean side up to 0.35 of the canvas).
- `softness`: {int(P_BLURRED * 100)}% of the images are shown blurred (Gaussian sigma up to {MAX_BLUR} px);
  the annotator dislikes soft pictures, so among a prompt's candidates the crisp ones win.

For a pair (A, B) the annotator picks A with probability `sigmoid((u_A - u_B) / T)`, T = {TEMPERATURE}.
Only the choice reaches the model. Training: {N_TRAIN_IMAGES} images from
`scenes_world.sample_scene`, {N_TRAIN_PAIRS} labelled random pairs, {STEPS} steps of {PAIRS_PER_STEP} pairs,
AdamW, one-cycle LR (max {LR}), colour and noise jitter (no blur: softness is part of the taste).

## Measured (exported model, onnxruntime, {metrics['heldout_pairs']} held-out pairs of {metrics['heldout_images']} other images)

| figure | value |
| --- | --- |
| pairwise accuracy vs the annotator's noisy labels (bar 0.85) | **{metrics['heldout_pairwise_accuracy']:.4f}** |
| agreement with the noiseless utility ordering | {metrics['heldout_noiseless_agreement']:.4f} |
| pairwise accuracy, images blurred by sigma 1.0 | {metrics['heldout_pairwise_accuracy_blur1.0']:.4f} |
| the annotator's own ceiling (true utility vs noisy labels) | {metrics['annotator_ceiling_pairwise_accuracy']:.4f} |
| Spearman correlation of score and utility | {metrics['spearman_vs_utility']:.4f} |

Score normalisation range (p1, p99): {lo:.4f} .. {hi:.4f}; torch vs onnxruntime max abs
difference {max_diff:.1e}. Training took {train_seconds:.0f} s ({total_seconds:.0f} s in all) on one CPU thread.

## Reproduce

    python models/tools/train_scenes_aesthetic.py

Fixed seeds, one thread. License: MIT (trained by the Winnow project from synthetic data).
"""
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
