"""The "shapes world": the synthetic data that every embedded Winnow model is trained on.

One image = one shape (circle, square, upright triangle) of one colour on a plain
background. The world is fixed so the service can be checked from outside: a prompt
such as "a red circle on a white background" has an answer that a few lines of code
can verify (see `check`).
"""
from __future__ import annotations

import dataclasses

import numpy as np

SIZE = 64

COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 220, 40),
    "orange": (245, 140, 30),
    "purple": (140, 50, 170),
}
BACKGROUNDS = {
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "gray": (128, 128, 128),
}
SHAPES = ("circle", "square", "triangle")

# Fill ratio of each shape inside its own bounding box: the checker's shape feature.
FILL_RATIO = {"circle": np.pi / 4, "square": 1.0, "triangle": 0.5}


@dataclasses.dataclass(frozen=True)
class Spec:
    shape: str
    colour: str
    background: str
    size: float  # side / diameter as a fraction of the image width (0.30-0.80)
    cx: float  # centre, in pixels
    cy: float
    jitter: tuple  # small RGB offsets of the shape colour

    def caption(self, form: int = 0) -> str:
        """form 0: full caption; 1: 'a {colour} {shape}'; 2: '{colour} {shape}'."""
        if form == 0:
            return f"a {self.colour} {self.shape} on a {self.background} background"
        if form == 1:
            return f"a {self.colour} {self.shape}"
        return f"{self.colour} {self.shape}"


def sample_spec(rng: np.random.Generator, shape=None, colour=None, background=None,
                min_size=0.30, max_size=0.80, allow_cut=False) -> Spec:
    shape = shape or SHAPES[rng.integers(len(SHAPES))]
    colour = colour or list(COLOURS)[rng.integers(len(COLOURS))]
    background = background or list(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))]
    size = float(rng.uniform(min_size, max_size))
    half = size * SIZE / 2
    if allow_cut:  # used by the aesthetic annotator's data only: shapes may leave the frame
        cx, cy = rng.uniform(0, SIZE, size=2)
    else:
        cx, cy = rng.uniform(half, SIZE - half, size=2)
    jitter = tuple(int(j) for j in rng.integers(-12, 13, size=3))
    return Spec(shape, colour, background, size, float(cx), float(cy), jitter)


def _coverage(spec: Spec, supersample: int = 4) -> np.ndarray:
    """Fraction of each pixel covered by the shape (anti-aliased by supersampling)."""
    n = SIZE * supersample
    coords = (np.arange(n) + 0.5) / supersample
    x, y = np.meshgrid(coords, coords)
    half = spec.size * SIZE / 2
    dx, dy = x - spec.cx, y - spec.cy
    if spec.shape == "circle":
        inside = dx * dx + dy * dy <= half * half
    elif spec.shape == "square":
        inside = (np.abs(dx) <= half) & (np.abs(dy) <= half)
    elif spec.shape == "triangle":
        # Upright isosceles triangle in the spec's square box: apex at the top centre.
        t = (dy + half) / (2 * half)  # 0 at the apex row, 1 at the base
        inside = (t >= 0) & (t <= 1) & (np.abs(dx) <= t * half)
    else:
        raise ValueError(spec.shape)
    return inside.reshape(SIZE, supersample, SIZE, supersample).mean(axis=(1, 3))


def render(spec: Spec) -> np.ndarray:
    """Render a spec to uint8 [64, 64, 3] RGB."""
    cov = _coverage(spec)[..., None]
    fg = np.clip(np.array(COLOURS[spec.colour]) + np.array(spec.jitter), 0, 255)
    bg = np.array(BACKGROUNDS[spec.background], dtype=np.float64)
    img = cov * fg + (1 - cov) * bg
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def sample_batch(rng: np.random.Generator, n: int, **kw):
    specs = [sample_spec(rng, **kw) for _ in range(n)]
    return specs, np.stack([render(s) for s in specs])


def _nearest(rgb: np.ndarray, palette: dict) -> str:
    names = list(palette)
    d = [np.sum((rgb - np.array(palette[k], dtype=np.float64)) ** 2) for k in names]
    return names[int(np.argmin(d))]


def check(img: np.ndarray) -> dict:
    """Analytic checker: the colour, shape and background an image shows.

    Background: nearest background colour to the median of the border pixels.
    Foreground: pixels far from the background colour. Colour: nearest palette colour
    to their median. Shape: the foreground's fill ratio in its bounding box
    (circle pi/4, square 1, triangle 1/2), plus whether the widest row is at the
    bottom (triangle) — the fill ratio alone confuses blurry squares with circles.
    """
    img = img.astype(np.float64)
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    bg_rgb = np.median(border, axis=0)
    background = _nearest(bg_rgb, BACKGROUNDS)
    dist = np.sqrt(np.sum((img - bg_rgb) ** 2, axis=-1))
    mask = dist > 60
    if mask.sum() < 20:
        return {"colour": None, "shape": None, "background": background}
    colour = _nearest(np.median(img[mask], axis=0), COLOURS)
    ys, xs = np.nonzero(mask)
    h = ys.max() - ys.min() + 1
    w = xs.max() - xs.min() + 1
    fill = mask.sum() / float(h * w)
    # Row widths: a triangle widens towards the bottom; circle and square are symmetric.
    rows = mask[ys.min():ys.max() + 1].sum(axis=1).astype(np.float64)
    k = max(1, len(rows) // 4)
    top, bottom = rows[:k].mean(), rows[-k:].mean()
    if bottom > 1.8 * top + 1 and fill < 0.68:
        shape = "triangle"
    else:
        shape = "square" if fill > 0.89 else "circle"
    return {"colour": colour, "shape": shape, "background": background}


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    specs, imgs = sample_batch(rng, 3000)
    ok_c = ok_s = ok_b = 0
    for s, im in zip(specs, imgs):
        r = check(im)
        ok_c += r["colour"] == s.colour
        ok_s += r["shape"] == s.shape
        ok_b += r["background"] == s.background
    n = len(specs)
    print(f"checker on ground truth: colour {ok_c/n:.4f} shape {ok_s/n:.4f} background {ok_b/n:.4f}")
