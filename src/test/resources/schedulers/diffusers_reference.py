"""Writes diffusers_reference.json: timesteps and sigmas as diffusers' schedulers compute them.

The formulas below are the numpy lines of diffusers' `set_timesteps` (DDIMScheduler,
EulerDiscreteScheduler, DPMSolverMultistepScheduler, LCMScheduler; diffusers 0.30) for the
Stable Diffusion schedule (1000 steps, scaled_linear 0.00085..0.012, steps_offset 1), so
the Java schedulers are pinned to the reference arithmetic, not to themselves.
Run: python diffusers_reference.py  (numpy only)
"""
import json

import numpy as np

T, OFFSET = 1000, 1
betas = np.linspace(0.00085 ** 0.5, 0.012 ** 0.5, T, dtype=np.float32) ** 2
acp = np.cumprod(1.0 - betas, axis=0)
base_sigmas = np.array(((1 - acp) / acp) ** 0.5)


def ddim(n, spacing):
    if spacing == "linspace":
        return np.linspace(0, T - 1, n).round()[::-1].copy().astype(np.int64)
    if spacing == "leading":
        r = T // n
        return (np.arange(0, n) * r).round()[::-1].copy().astype(np.int64) + OFFSET
    r = T / n
    return np.round(np.arange(T, 0, -r)).astype(np.int64) - 1


def euler(n, spacing):
    if spacing == "linspace":
        ts = np.linspace(0, T - 1, n, dtype=np.float32)[::-1].copy()
    elif spacing == "leading":
        r = T // n
        ts = (np.arange(0, n) * r).round()[::-1].copy().astype(np.float32) + OFFSET
    else:
        r = T / n
        ts = (np.arange(T, 0, -r)).round().copy().astype(np.float32) - 1
    sig = np.interp(ts, np.arange(0, len(base_sigmas)), base_sigmas)
    return ts, np.concatenate([sig, [0.0]]).astype(np.float32)


def dpm(n, spacing):
    last = T
    if spacing == "linspace":
        ts = np.linspace(0, last - 1, n + 1).round()[::-1][:-1].copy().astype(np.int64)
    elif spacing == "leading":
        r = last // (n + 1)
        ts = (np.arange(0, n + 1) * r).round()[::-1][:-1].copy().astype(np.int64) + OFFSET
    else:
        r = T / n
        ts = np.arange(last, 0, -r).round().copy().astype(np.int64) - 1
    sig = np.interp(ts, np.arange(0, len(base_sigmas)), base_sigmas)
    return ts, np.concatenate([sig, [0.0]]).astype(np.float32)


def lcm(n, original=50):
    k = T // original
    origin = np.asarray(list(range(1, original + 1))) * k - 1
    origin = origin[::-1].copy()
    idx = np.floor(np.linspace(0, len(origin), num=n, endpoint=False)).astype(np.int64)
    return origin[idx]


out = {"ddim": {}, "euler": {}, "euler_sigmas": {}, "dpm": {}, "dpm_sigmas": {}, "lcm": {}}
for n in (1, 4, 20, 50):
    for sp in ("linspace", "leading", "trailing"):
        key = f"{sp}/{n}"
        out["ddim"][key] = ddim(n, sp).tolist()
        ts, sig = euler(n, sp)
        out["euler"][key] = [float(x) for x in ts]
        out["euler_sigmas"][key] = [float(x) for x in sig]
        ts, sig = dpm(n, sp)
        out["dpm"][key] = ts.tolist()
        out["dpm_sigmas"][key] = [float(x) for x in sig]
    out["lcm"][str(n)] = lcm(n).tolist()
with open("diffusers_reference.json", "w") as f:
    json.dump(out, f)
print("ok")
