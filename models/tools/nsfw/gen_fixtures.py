#!/usr/bin/env python3
"""Generate Winnow's NSFW-judge parity fixtures: deterministic, non-explicit,
synthetic 224x224 RGB PNGs (exactly the model's input size, so no resize is involved).

Pixels are computed with integer/float numpy arithmetic only (no RNG library, no
anti-aliased drawing), so the pixel values are identical on every machine.

usage: gen_fixtures.py OUT_DIR
"""
from __future__ import annotations

import os
import sys

import numpy as np
from PIL import Image

S = 224
yy, xx = np.mgrid[0:S, 0:S].astype(np.float64)


def hash_u32(*keys: np.ndarray) -> np.ndarray:
    """Deterministic integer hash (splitmix64 finaliser) of integer arrays -> uint32."""
    h = np.zeros(np.broadcast(*keys).shape, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in keys:
            h = h ^ np.asarray(k).astype(np.uint64)
            h = h + np.uint64(0x9E3779B97F4A7C15)
            h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            h = h ^ (h >> np.uint64(31))
    return (h >> np.uint64(32)).astype(np.uint32)


def u8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def gradient_rgb():
    r = xx * 255 / (S - 1)
    g = yy * 255 / (S - 1)
    b = 255 - (xx + yy) * 255 / (2 * (S - 1))
    return u8(np.stack([r, g, b], -1))


def checkerboard():
    cell = ((xx // 28) + (yy // 28)) % 2 == 0
    img = np.where(cell[..., None], [240, 240, 240], [20, 20, 20])
    return u8(img)


def noise_blocks():
    by, bx = (yy // 8).astype(np.int64), (xx // 8).astype(np.int64)
    ch = np.arange(3).reshape(1, 1, 3)
    return (hash_u32(by[..., None], bx[..., None], ch, 1) % 256).astype(np.uint8)


def noise_fine():
    # per-pixel colour noise quantised to 8 levels/channel (keeps the PNG small)
    ch = np.arange(3).reshape(1, 1, 3)
    q = hash_u32(yy.astype(np.int64)[..., None], xx.astype(np.int64)[..., None], ch, 2) % 8
    return u8(q * 255 / 7)


def skin_flat():
    return np.broadcast_to(np.array([224, 172, 150], np.uint8), (S, S, 3)).copy()


def shapes():
    img = np.empty((S, S, 3))
    img[:] = [235, 235, 220]
    circle = (xx - 70) ** 2 + (yy - 70) ** 2 <= 45 ** 2
    rect = (xx >= 120) & (xx < 200) & (yy >= 30) & (yy < 100)
    tri = (yy >= 130) & (yy < 210) & (np.abs(xx - 70) <= (yy - 130) * 0.6)
    ring = np.abs(np.hypot(xx - 160, yy - 165) - 35) <= 8
    img[circle] = [220, 30, 30]
    img[rect] = [30, 90, 220]
    img[tri] = [30, 170, 60]
    img[ring] = [250, 200, 20]
    return u8(img)


def smooth_blob():
    d2 = ((xx - 112) / 60) ** 2 + ((yy - 120) / 80) ** 2
    g = np.exp(-d2)[..., None]
    bg = np.array([30, 40, 60], np.float64)
    fg = np.array([230, 180, 150], np.float64)
    return u8(bg + (fg - bg) * g)


def sine_stripes():
    t = (xx + 0.5 * yy) * 2 * np.pi / 37
    r = 127.5 + 127.5 * np.sin(t)
    g = 127.5 + 127.5 * np.sin(t + 2.1)
    b = 127.5 + 127.5 * np.sin(t + 4.2)
    return u8(np.stack([r, g, b], -1))


def radial_rings():
    rr = np.hypot(xx - 111.5, yy - 111.5)
    v = 127.5 + 127.5 * np.cos(rr * 2 * np.pi / 24)
    return u8(np.stack([v, v * 0.6 + 60, 255 - v], -1))


def black():
    return np.zeros((S, S, 3), np.uint8)


FIXTURES = {
    "gradient_rgb": gradient_rgb,
    "checkerboard": checkerboard,
    "noise_blocks": noise_blocks,
    "noise_fine": noise_fine,
    "skin_flat": skin_flat,
    "shapes": shapes,
    "smooth_blob": smooth_blob,
    "sine_stripes": sine_stripes,
    "radial_rings": radial_rings,
    "black": black,
}


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for i, (name, fn) in enumerate(FIXTURES.items()):
        arr = fn()
        assert arr.shape == (S, S, 3) and arr.dtype == np.uint8, name
        path = os.path.join(out, f"{i:02d}_{name}.png")
        Image.fromarray(arr, "RGB").save(path, optimize=True)
        print(f"{path}: {os.path.getsize(path)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
