"""Train the aesthetic-tiny judge: a pairwise-preference (Bradley-Terry) reward model.

Run from the repository root:  python models/tools/train_aesthetic.py
It re-creates models/judges/aesthetic-tiny/ (model.onnx, judge.json, README.md) from
scratch and prints the figures. CPU only, one thread, fixed seeds: a rerun gives the
same model and the same figures.

The preferences come from a simulated annotator who looks at rendered shapes-world
images (see `utility` for the annotator's taste) and picks A over B with probability
sigmoid((u(A) - u(B)) / T). The model never sees u: only the noisy A-or-B choices.
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import shapes_world as W  # noqa: E402

OUT = os.path.join(HERE, "..", "judges", "aesthetic-tiny")
SEED = 20240611
TEMPERATURE = 0.2  # annotator noise: P(A preferred) = sigmoid((u_A - u_B) / T)
P_CUT = 0.35  # share of specs sampled with allow_cut=True (shapes may leave the frame)
MIN_SIZE, MAX_SIZE = 0.10, 0.90
N_TRAIN_IMAGES, N_TRAIN_PAIRS = 16000, 64000
N_TEST_IMAGES, N_TEST_PAIRS = 2000, 8000
STEPS, PAIRS_PER_STEP, LR = 1200, 128, 2e-3
EVAL_BLUR_SIGMA = 1.0


# ---------------------------------------------------------------- the annotator

def _luminance(rgb) -> float:
    r, g, b = (float(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def visible_fraction(spec: W.Spec, n: int = 48) -> float:
    """Share of the shape's area that lies inside the 64x64 frame (1.0 = not cut off)."""
    half = spec.size * W.SIZE / 2
    t = ((np.arange(n) + 0.5) / n * 2 - 1) * half
    dx, dy = np.meshgrid(t, t)
    if spec.shape == "circle":
        inside = dx * dx + dy * dy <= half * half
    elif spec.shape == "square":
        inside = np.ones_like(dx, dtype=bool)
    else:
        tt = (dy + half) / (2 * half)
        inside = (tt >= 0) & (tt <= 1) & (np.abs(dx) <= tt * half)
    x, y = spec.cx + dx, spec.cy + dy
    in_frame = (x >= 0) & (x <= W.SIZE) & (y >= 0) & (y <= W.SIZE)
    return float((inside & in_frame).sum() / inside.sum())


def utility_parts(spec: W.Spec) -> dict:
    s = spec.size
    size_term = s / 0.7 if s <= 0.7 else 1.0 - 1.0 * (s - 0.7)  # grows to 70% of width, then dips
    off_centre = float(np.hypot(spec.cx - W.SIZE / 2, spec.cy - W.SIZE / 2) / (W.SIZE / 2))
    fg = np.clip(np.array(W.COLOURS[spec.colour]) + np.array(spec.jitter), 0, 255).astype(np.float64)
    bg = np.array(W.BACKGROUNDS[spec.background], dtype=np.float64)
    contrast = (0.5 * abs(_luminance(fg) - _luminance(bg)) / 255
                + 0.5 * float(np.linalg.norm(fg - bg)) / (255 * np.sqrt(3)))
    cut = 1.0 - visible_fraction(spec)
    return {"size": size_term, "off_centre": off_centre, "contrast": contrast, "cut": cut}


WEIGHTS = {"size": 2.0, "off_centre": -1.5, "contrast": 3.0, "cut": -4.0}


def utility(spec: W.Spec) -> float:
    """The annotator's hidden utility u(spec)."""
    p = utility_parts(spec)
    return float(sum(WEIGHTS[k] * p[k] for k in WEIGHTS))


def sample_world(rng: np.random.Generator, n: int):
    specs = [W.sample_spec(rng, min_size=MIN_SIZE, max_size=MAX_SIZE, allow_cut=bool(rng.random() < P_CUT))
             for _ in range(n)]
    imgs = np.stack([W.render(s) for s in specs])
    u = np.array([utility(s) for s in specs])
    return specs, imgs, u


def annotate(rng: np.random.Generator, u: np.ndarray, n_pairs: int):
    """Random pairs (a, b), a != b, and the annotator's noisy choice: 1 if a is preferred."""
    a = rng.integers(0, len(u), n_pairs)
    b = (a + rng.integers(1, len(u), n_pairs)) % len(u)
    p = 1.0 / (1.0 + np.exp(-(u[a] - u[b]) / TEMPERATURE))
    label = (rng.random(n_pairs) < p).astype(np.float32)
    return a, b, label


# ---------------------------------------------------------------- images and augmentation

def to_pixel_values(imgs_uint8) -> torch.Tensor:
    """uint8 [N,64,64,3] (numpy or torch) -> float32 NCHW in [-1, 1], the judge's input."""
    x = torch.as_tensor(imgs_uint8).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, radius: int = 3) -> torch.Tensor:
    """Per-sample separable Gaussian blur of NCHW x; sigma [N] (0 = unchanged)."""
    n, c, h, w = x.shape
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    s = sigma.clamp_min(1e-3)[:, None]
    k = torch.exp(-0.5 * (t[None, :] / s) ** 2)
    k = k / k.sum(dim=1, keepdim=True)  # [N, 2r+1]; sigma ~0 gives a delta
    k = k.repeat_interleave(c, dim=0)  # [N*C, 2r+1]
    y = x.reshape(1, n * c, h, w)
    y = F.pad(y, (radius, radius, 0, 0), mode="replicate")
    y = F.conv2d(y, k[:, None, None, :], groups=n * c)
    y = F.pad(y, (0, 0, radius, radius), mode="replicate")
    y = F.conv2d(y, k[:, None, :, None], groups=n * c)
    return y.reshape(n, c, h, w)


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Light augmentation standing in for a VAE decoder's output: blur (sigma 0-1.2),
    per-channel gain/offset jitter, Gaussian noise. x, result: NCHW in [-1, 1]."""
    n = x.shape[0]
    sigma = torch.rand(n, generator=gen) * 1.2
    x = gaussian_blur(x, sigma)
    gain = 1.0 + (torch.rand(n, 3, 1, 1, generator=gen) - 0.5) * 0.12  # +-6%
    offset = (torch.rand(n, 3, 1, 1, generator=gen) - 0.5) * 0.08  # +-0.04 (+-5 of 255)
    x = (x + 1) * gain - 1 + offset
    noise_std = torch.rand(n, 1, 1, 1, generator=gen) * 0.03
    x = x + noise_std * torch.randn(x.shape, generator=gen)
    return x.clamp(-1.0, 1.0)


def blurred_uint8(imgs: np.ndarray, sigma: float) -> np.ndarray:
    """A fixed Gaussian blur applied to uint8 images, re-quantised to uint8 (eval sets)."""
    x = torch.as_tensor(imgs).permute(0, 3, 1, 2).float()
    y = gaussian_blur(x, torch.full((x.shape[0],), float(sigma)))
    return y.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


# ---------------------------------------------------------------- model

class AestheticNet(nn.Module):
    """Tiny CNN: four stride-2 3x3 convs (64 -> 4 px), flatten (keeps position), MLP -> 1."""

    def __init__(self, widths=(16, 32, 64, 64), hidden=128):
        super().__init__()
        layers, c = [], 3
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, 2, 1), nn.ReLU()]
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c * 4 * 4, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(pixel_values)).squeeze(1)


# ---------------------------------------------------------------- evaluation

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


# ---------------------------------------------------------------- main

def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    t0 = time.time()
    os.makedirs(OUT, exist_ok=True)

    rng = np.random.default_rng(SEED)
    _, train_imgs, train_u = sample_world(rng, N_TRAIN_IMAGES)
    ta, tb, tlabel = annotate(rng, train_u, N_TRAIN_PAIRS)
    test_specs, test_imgs, test_u = sample_world(rng, N_TEST_IMAGES)
    ea, eb, elabel = annotate(rng, test_u, N_TEST_PAIRS)
    ceiling = pair_metrics(test_u, test_u, ea, eb, elabel)["pairwise_accuracy"]
    print(f"data: {N_TRAIN_IMAGES} train images, {N_TRAIN_PAIRS} labelled pairs "
          f"(label flips vs u: {np.mean((tlabel > 0.5) != (train_u[ta] > train_u[tb])):.3f}); "
          f"held-out {N_TEST_IMAGES} images / {N_TEST_PAIRS} pairs; "
          f"annotator ceiling (true u vs noisy labels) {ceiling:.4f}; {time.time() - t0:.0f}s", flush=True)

    train_x = torch.as_tensor(train_imgs)
    gen = torch.Generator().manual_seed(SEED)
    model = AestheticNet()
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=STEPS, pct_start=0.05)
    order = torch.randperm(N_TRAIN_PAIRS, generator=gen)
    pos, t_train = 0, time.time()
    running = []
    for step in range(STEPS):
        if pos + PAIRS_PER_STEP > N_TRAIN_PAIRS:
            order, pos = torch.randperm(N_TRAIN_PAIRS, generator=gen), 0
        idx = order[pos:pos + PAIRS_PER_STEP].numpy()
        pos += PAIRS_PER_STEP
        ia, ib = torch.as_tensor(ta[idx]), torch.as_tensor(tb[idx])
        y = torch.as_tensor(tlabel[idx])
        x = augment(to_pixel_values(train_x[torch.cat([ia, ib])]), gen)
        s = model(x)
        sa, sb = s[:PAIRS_PER_STEP], s[PAIRS_PER_STEP:]
        margin = torch.where(y > 0.5, sa - sb, sb - sa)  # s_winner - s_loser
        loss = F.softplus(-margin).mean() + 1e-3 * (s ** 2).mean()  # Bradley-Terry (+ tiny centring)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running.append(float((margin > 0).float().mean()))
        if (step + 1) % 200 == 0:
            print(f"step {step + 1}/{STEPS} loss {loss.item():.4f} train-acc(200) {np.mean(running[-200:]):.3f} "
                  f"{time.time() - t_train:.0f}s", flush=True)
    train_seconds = time.time() - t_train
    model.eval()

    # ---- export
    path = os.path.join(OUT, "model.onnx")
    import onnx
    import onnxruntime as ort
    torch.onnx.export(model, (torch.zeros(2, 3, 64, 64),), path, dynamo=False, opset_version=17,
                      input_names=["pixel_values"], output_names=["score"],
                      dynamic_axes={"pixel_values": {0: "batch"}, "score": {0: "batch"}})
    m = onnx.load(path)
    m.producer_name = "winnow-train_aesthetic"
    m.doc_string = "aesthetic-tiny: Bradley-Terry reward model on the shapes world (Winnow)"
    onnx.save(m, path)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])

    # ---- evaluate the exported model with onnxruntime
    sc = ort_scores(sess, test_imgs)
    with torch.no_grad():
        st = model(to_pixel_values(test_imgs[:64])).numpy()
    max_diff = float(np.abs(st - sc[:64]).max())
    clean = pair_metrics(sc, test_u, ea, eb, elabel)
    sc_blur = ort_scores(sess, blurred_uint8(test_imgs, EVAL_BLUR_SIGMA))
    blur = pair_metrics(sc_blur, test_u, ea, eb, elabel)
    sc_blur2 = ort_scores(sess, blurred_uint8(test_imgs, 1.5))
    blur2 = pair_metrics(sc_blur2, test_u, ea, eb, elabel)
    rho = spearman(sc, test_u)
    rho_blur = spearman(sc_blur, test_u)
    # Normalisation range: 1st/99th percentile over ~2000 varied world images (the held-out set).
    lo, hi = (float(v) for v in np.percentile(sc, [1, 99]))
    size_bytes = os.path.getsize(path)
    total_seconds = time.time() - t0

    metrics = {
        "heldout_pairwise_accuracy": round(clean["pairwise_accuracy"], 4),
        "heldout_noiseless_agreement": round(clean["noiseless_agreement"], 4),
        "heldout_pairwise_accuracy_blur1.0": round(blur["pairwise_accuracy"], 4),
        "heldout_noiseless_agreement_blur1.0": round(blur["noiseless_agreement"], 4),
        "heldout_pairwise_accuracy_blur1.5": round(blur2["pairwise_accuracy"], 4),
        "heldout_noiseless_agreement_blur1.5": round(blur2["noiseless_agreement"], 4),
        "annotator_ceiling_pairwise_accuracy": round(ceiling, 4),
        "spearman_vs_utility": round(rho, 4),
        "spearman_vs_utility_blur1.0": round(rho_blur, 4),
        "heldout_pairs": N_TEST_PAIRS,
        "heldout_images": N_TEST_IMAGES,
    }
    judge = {
        "schema_version": 1,
        "name": "aesthetic-tiny",
        "role": "score",
        "score_name": "aesthetic",
        "model": "model.onnx",
        "description": ("Tiny CNN reward model trained with a Bradley-Terry loss on a simulated "
                        "annotator's pairwise preferences over shapes-world images: prefers large "
                        "(up to ~70% of the width), centred, well-contrasted shapes that are not cut "
                        "off by the frame."),
        "image_input": {"name": "pixel_values", "layout": "NCHW", "width": 64, "height": 64,
                        "resize": "bilinear", "range": [-1.0, 1.0],
                        "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "dtype": "float32"},
        "text_input": None,
        "output": {"name": "score", "kind": "score"},
        "score": {"min": round(lo, 4), "max": round(hi, 4), "higher_is_better": True},
        "license": "MIT (trained by the Winnow project)",
        "metrics": metrics,
    }
    with open(os.path.join(OUT, "judge.json"), "w") as f:
        json.dump(judge, f, indent=2)
        f.write("\n")
    write_readme(metrics, lo, hi, size_bytes, train_seconds, total_seconds, max_diff)

    print(json.dumps(metrics, indent=2))
    print(f"score range (p1, p99): {lo:.4f} .. {hi:.4f}; model.onnx {size_bytes} bytes; "
          f"torch-vs-onnxruntime max diff {max_diff:.2e}; training {train_seconds:.0f}s, total {total_seconds:.0f}s")
    ok = clean["pairwise_accuracy"] >= 0.85
    print("TARGET held-out pairwise accuracy >= 0.85:", "PASS" if ok else "FAIL")


def write_readme(metrics, lo, hi, size_bytes, train_seconds, total_seconds, max_diff) -> None:
    n_params = None
    try:
        n_params = sum(p.numel() for p in AestheticNet().parameters())
    except Exception:  # pragma: no cover
        pass
    text = f"""# aesthetic-tiny

A tiny aesthetic **reward model** for the shapes world (64x64 images of one circle, square
or triangle in one of 6 colours on a white, black or gray background). It is trained the way
real aesthetic / preference reward models are: from **pairwise preferences** with a
**Bradley-Terry** loss, `-log sigmoid(s_winner - s_loser)`. The preferences come from a
simulated annotator (below). Higher score = nicer picture. Scores are unbounded; the service
normalises them with `clamp((s - min) / (max - min), 0, 1)` using `score.min/max` from
`judge.json` (the 1st and 99th percentile over {metrics['heldout_images']} varied world images).

## Interface

- `model.onnx` (opset 17, {size_bytes} bytes, {n_params} parameters)
- input `pixel_values`: float32 `[batch, 3, 64, 64]`, RGB, NCHW, pixels `p/127.5 - 1` (range [-1, 1])
- output `score`: float32 `[batch]`
- `judge.json`: the pack's metadata (schema_version 1)

## Architecture

Four 3x3 stride-2 convolutions (3 -> 16 -> 32 -> 64 -> 64 channels, ReLU; 64 -> 4 px),
flattened (so position, i.e. centring and frame contact, stays visible to the head),
then Linear(1024, 128) + ReLU + Linear(128, 1).

## The simulated annotator

A hidden utility over the image's spec (what was rendered):

    u = 2.0 * size_term - 1.5 * off_centre + 3.0 * contrast - 4.0 * cut

- `size_term`: shape size s as a fraction of the width; `s / 0.7` up to 70%, then
  `1 - (s - 0.7)` (flat, slightly down: 0.8 at 90%). Prefers larger shapes.
- `off_centre`: distance of the shape's centre from the image centre / 32 px (0 centred,
  1.41 in a corner). Prefers centred shapes.
- `contrast`: half the luminance difference (Rec.709 weights) of shape and background colour
  / 255, plus half their RGB distance / (255 sqrt 3) (shape colour includes its jitter).
  E.g. green on gray 0.15, yellow on white 0.30, red on white 0.66, yellow on black 0.73.
  Prefers well-contrasted shapes.
- `cut`: share of the shape's area outside the frame. Dislikes cut-off shapes strongly.

For a pair (A, B) the annotator picks A with probability `sigmoid((u_A - u_B) / T)`,
T = {TEMPERATURE} (label noise: about 6% of random pairs are labelled against u; close
pairs are near coin flips). Nothing but the A/B choice reaches the model.

## Data

Specs from `shapes_world.sample_spec` with size uniform in [{MIN_SIZE}, {MAX_SIZE}] of the width,
`allow_cut=True` for {int(P_CUT * 100)}% of them (the centre anywhere in the frame, so some shapes
are cut off), rendered by `shapes_world.render`. Training: {N_TRAIN_IMAGES} images and
{N_TRAIN_PAIRS} labelled random pairs; held out: {N_TEST_IMAGES} other images and {N_TEST_PAIRS}
labelled pairs among them. Training images get light augmentation, since the judge scores
images decoded by a latent diffusion model (softer edges): Gaussian blur with sigma uniform
in 0-1.2 px, per-channel gain +-6% and offset +-0.04, Gaussian noise with std up to 0.03.
Training: {STEPS} steps of {PAIRS_PER_STEP} pairs, AdamW, one-cycle LR (max {LR}).

## Measured (exported model, onnxruntime, held-out pairs)

| figure | clean | blur sigma 1.0 | blur sigma 1.5 |
| --- | --- | --- | --- |
| pairwise accuracy vs the annotator's noisy labels | {metrics['heldout_pairwise_accuracy']:.4f} | {metrics['heldout_pairwise_accuracy_blur1.0']:.4f} | {metrics['heldout_pairwise_accuracy_blur1.5']:.4f} |
| agreement with the noiseless utility ordering | {metrics['heldout_noiseless_agreement']:.4f} | {metrics['heldout_noiseless_agreement_blur1.0']:.4f} | {metrics['heldout_noiseless_agreement_blur1.5']:.4f} |

- Ceiling: the true utility itself scores {metrics['annotator_ceiling_pairwise_accuracy']:.4f} against the noisy labels.
- Spearman rank correlation of score with u over the held-out images: {metrics['spearman_vs_utility']:.4f}
  (blur 1.0: {metrics['spearman_vs_utility_blur1.0']:.4f}).
- Score normalisation range (p1, p99): {lo:.4f} .. {hi:.4f}.
- torch vs onnxruntime max abs difference: {max_diff:.1e}.
- Training takes about 3-4 minutes on one CPU thread (about 4-5 minutes in all, with
  rendering and evaluation); the script prints the exact times.

## Reproduce

From the repository root (CPU, torch, numpy, onnx, onnxruntime):

    python models/tools/train_aesthetic.py

It renders the data, trains, exports and evaluates with onnxruntime, and rewrites this
folder (model.onnx, judge.json, README.md). Seeds are fixed and it runs on one thread.

License: MIT (trained by the Winnow project).
"""
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
