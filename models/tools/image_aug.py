"""Helpers shared by the judges' training scripts: pixels in the judges' input range, a
per-sample Gaussian blur, the light augmentation that stands in for a VAE decoder's softer
output, the reward models' Bradley-Terry loss, and the judge folder's writer."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def to_pixel_values(imgs_uint8) -> torch.Tensor:
    """uint8 [N,64,64,3] (numpy or torch) -> float32 NCHW in [-1, 1], the judge's input."""
    x = torch.as_tensor(imgs_uint8).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def from_pixel_values(y: torch.Tensor) -> np.ndarray:
    """NCHW in [-1, 1] (a decoder's output; clamped) -> uint8 NHWC, the inverse of `to_pixel_values`."""
    return np.round(((y.clamp(-1, 1) + 1) * 127.5).permute(0, 2, 3, 1).numpy()).astype(np.uint8)


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


def bradley_terry_loss(margin: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """The reward models' loss: Bradley-Terry on each pair's score margin (preferred minus other;
    -log sigmoid(margin) = softplus(-margin)), plus a tiny pull of every score towards 0 so the
    scores' level, which the pairs leave free, stays put."""
    return F.softplus(-margin).mean() + 1e-3 * (scores ** 2).mean()


def blurred_uint8(imgs: np.ndarray, sigma: float) -> np.ndarray:
    """A fixed Gaussian blur applied to uint8 images, re-quantised to uint8 (eval sets)."""
    x = torch.as_tensor(imgs).permute(0, 3, 1, 2).float()
    y = gaussian_blur(x, torch.full((x.shape[0],), float(sigma)))
    return y.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def write_score_judge(folder: str, name: str, score_name: str, description: str, size: int, text_input, score_range,
                      metrics: dict, version: str = "v1") -> None:
    """judge.json for a scenes scorer (role `score`, `model.onnx`, output `score`, higher is better);
    `version` is its `winnow_version`, what responses, metrics and preference rows name."""
    import json
    import os
    meta = {
        "schema_version": 1, "winnow_version": version, "name": name, "role": "score", "score_name": score_name, "model": "model.onnx",
        "description": description,
        "image_input": judge_image_input(size),
        "text_input": text_input,
        "output": {"name": "score", "kind": "score"},
        "score": {"min": score_range[0], "max": score_range[1], "higher_is_better": True},
        "license": "MIT (trained by the Winnow project)",
        "metrics": metrics,
    }
    with open(os.path.join(folder, "judge.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")


def judge_image_input(size: int) -> dict:
    """judge.json's `image_input` for the scenes judges: RGB NCHW float32, 0..255 mapped to -1..1
    (what `to_pixel_values` feeds them in training)."""
    return {"name": "pixel_values", "layout": "NCHW", "width": size, "height": size, "resize": "bilinear",
            "range": [-1.0, 1.0], "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "dtype": "float32"}
