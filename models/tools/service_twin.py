"""What the Winnow service does with a request, in Python: generate N candidates, judge, rank.

Used by sim_traffic.py (a stand-in for the service's traffic log) and eval_generator.py (the
alignment loop's evaluation), so both see exactly what the service would:

  * `SeededGaussian`: the service's per-candidate noise (src/main/java/dev/winnow/diffusion/
    SeededGaussian.java: xoshiro256** seeded through SplitMix64, Box-Muller), vectorised over
    candidates. A seed gives the same x_T here as in the service (checked bit for bit against
    the Java class), so a candidate logged by the service can be regenerated here and back.
  * `Pipeline`: the pack's own ONNX graphs in ONNX Runtime (the graphs the service runs; faster
    on a CPU than the PyTorch twin, and equal to it within 3e-6, see onnx_to_torch.py --check),
    with the service's DDIM (DdimScheduler.java: diffusers' DDIMScheduler, eta 0, 'leading'
    spacing) and classifier-free guidance uncond + s * (cond - uncond). It returns the FINAL
    latents (what the last DDIM step returns, in the UNet's latent space) as well as images,
    decoded as RgbImage.java does (clamp((x + 1) / 2) * 255, rounded half up).
  * `SafetyJudge`, `ScoreJudge`: a judge folder's model.onnx fed exactly as its judge.json says
    (ImagePreprocessor.java: 0..255 onto `range`, resize, centre crop, mean/std, layout; the
    prompt through the judge's own CLIP BPE tokenizer); the unsafe probability is the sum of the
    unsafe labels' probabilities, unsafe at or above the threshold; a score is normalised to
    [0, 1] with `score.min/max` (ScoreJudge.normalise).
  * `rank`: RankingPolicy.java: combined = sum of weight * normalised score over the safe
    candidates, best first, ties to the lower index; unsafe candidates are never ranked.
"""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import onnxruntime as ort

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # torch's resize threads: no spinning on shared cores
import torch  # noqa: E402
import torch.nn.functional as F
from PIL import Image

from clip_bpe import END, ClipTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.normpath(os.path.join(HERE, ".."))
PACK = os.path.join(MODELS, "shapes-scenes")
JUDGES = {"safety": os.path.join(MODELS, "judges", "nsfw-mobilenet-v2"),
          "faithfulness": os.path.join(MODELS, "judges", "scenes-verifier"),
          "aesthetic": os.path.join(MODELS, "judges", "aesthetic-scenes")}
RANKING_WEIGHTS = {"faithfulness": 1.0, "aesthetic": 0.25}  # application.properties' defaults

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


def _splitmix(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def seeded_gaussian(seeds, count: int) -> np.ndarray:
    """float32 [len(seeds), count]: each row what `new SeededGaussian(seed).fill(new float[count])` gives."""
    with np.errstate(over="ignore"):
        x = np.array([int(s) & 0xFFFFFFFFFFFFFFFF for s in seeds], dtype=np.uint64)
        s = [_splitmix(x + _GOLDEN * np.uint64(k + 1)) for k in range(4)]

        def next_uniform():  # xoshiro256** (Blackman & Vigna 2018), 53 bits, in (0, 1]
            result = _rotl(s[1] * np.uint64(5), 7) * np.uint64(9)
            t = s[1] << np.uint64(17)
            s[2] ^= s[0]
            s[3] ^= s[1]
            s[1] ^= s[2]
            s[0] ^= s[3]
            s[2] ^= t
            s[3] = _rotl(s[3], 45)
            return ((result >> np.uint64(11)) + np.uint64(1)).astype(np.float64) * 2.0 ** -53

        out = np.empty((len(x), count + count % 2), dtype=np.float64)
        for i in range(0, out.shape[1], 2):  # Box-Muller: r cos(theta), then the spare r sin(theta)
            r = np.sqrt(-2 * np.log(next_uniform()))
            theta = 2 * np.pi * next_uniform()
            out[:, i], out[:, i + 1] = r * np.cos(theta), r * np.sin(theta)
    return out[:, :count].astype(np.float32)


def folder_version(folder: str, declared=None) -> str:
    """A pack's or judge's version as the service computes it (PackVersion.java): the declared
    `winnow_version`, else "sha256-" and 12 hex digits of SHA-256 over every file's relative path,
    size and bytes in path order, leaving out Markdown, README, LICENSE and hidden files."""
    if isinstance(declared, str) and declared.strip():
        return declared.strip()
    files = []
    for root, _, names in os.walk(folder):
        for n in names:
            rel = os.path.relpath(os.path.join(root, n), folder).replace(os.sep, "/")
            low = n.lower()
            if any(part.startswith(".") for part in rel.split("/")) or low.endswith(".md") \
                    or low.startswith("readme") or low == "license":
                continue
            files.append(rel)
    h = hashlib.sha256()
    for rel in sorted(files, key=lambda r: r.encode()):  # java.nio.file.Path order on Unix: the bytes
        path = os.path.join(folder, rel)
        h.update(rel.encode() + b"\0" + str(os.path.getsize(path)).encode() + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return "sha256-" + h.hexdigest()[:12]


def session(path: str, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    # no spinning while waiting: on cores shared with other work a spinning pool costs far more than it saves
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def to_uint8(y: np.ndarray) -> np.ndarray:
    """A decoder's NCHW output in [-1, 1] -> uint8 NHWC as RgbImage.java does it."""
    v = np.clip((y.astype(np.float32) + np.float32(1)) / np.float32(2), 0, 1) * np.float32(255)
    return np.floor(v.astype(np.float64) + 0.5).astype(np.uint8).transpose(0, 2, 3, 1)


# ---------------------------------------------------------------- the pipeline
class Pipeline:
    """A pipeline pack in ONNX Runtime, sampled as the service samples it (DDIM, eta 0)."""

    def __init__(self, pack: str = PACK, threads: int = 2):
        self.pack = pack
        with open(os.path.join(pack, "tokenizer", "tokenizer_config.json")) as f:
            self.tok = ClipTokenizer(os.path.join(pack, "tokenizer"), int(json.load(f)["model_max_length"]))
        self.text = session(os.path.join(pack, "text_encoder", "model.onnx"), threads)
        self.unet = session(os.path.join(pack, "unet", "model.onnx"), threads)
        self.vae = session(os.path.join(pack, "vae_decoder", "model.onnx"), threads)
        with open(os.path.join(pack, "vae_decoder", "config.json")) as f:
            self.scaling_factor = float(json.load(f).get("scaling_factor", 0.18215))
        with open(os.path.join(pack, "scheduler", "scheduler_config.json")) as f:
            self.sched = json.load(f)
        if self.sched.get("timestep_spacing", "leading") != "leading" or self.sched.get("beta_schedule") != "scaled_linear":
            raise ValueError(f"{pack}: only DDIM with 'leading' spacing and a scaled_linear schedule is twinned here")
        if self.sched.get("prediction_type") not in ("v_prediction", "epsilon"):
            raise ValueError(f"{pack}: prediction type {self.sched.get('prediction_type')}")
        T = int(self.sched["num_train_timesteps"])
        betas = np.linspace(self.sched["beta_start"] ** 0.5, self.sched["beta_end"] ** 0.5, T, dtype=np.float64) ** 2
        self.alphas_cumprod = np.cumprod(1 - betas)
        self.final_alpha = 1.0 if self.sched.get("set_alpha_to_one", True) else self.alphas_cumprod[0]
        self.latent_shape = tuple(d if isinstance(d, int) else -1 for d in self.unet.get_inputs()[0].shape[1:])
        with open(os.path.join(pack, "model_index.json")) as f:
            index = json.load(f)
        self.name = index.get("winnow_name", os.path.basename(os.path.normpath(pack)))
        self.version = folder_version(pack, index.get("winnow_version"))

    def timesteps(self, steps: int) -> np.ndarray:
        """diffusers' 'leading' spacing: (0..steps-1) * (T // steps), reversed, + steps_offset."""
        ratio = int(self.sched["num_train_timesteps"]) // steps
        return (np.arange(steps) * ratio).round()[::-1].astype(np.int64) + int(self.sched.get("steps_offset", 0))

    def encode(self, prompts) -> np.ndarray:
        ids = np.array([self.tok(p) for p in prompts], dtype=np.int32)
        return self.text.run(None, {"input_ids": ids})[0]

    def generate(self, prompts, seeds, steps: int = 20, guidance: float = 5.0, negative: str = "",
                 rows_per_call: int = 128, on_x0=None) -> np.ndarray:
        """Final latents float32 [len(seeds), C, h, w]: candidate i of prompt prompts[i] from seed seeds[i].

        on_x0(k, x0), if given, sees every step's x̂0 prediction after k steps (k = 1 .. steps): the
        preview the engine decodes and judges when it prunes after k steps."""
        n = len(seeds)
        c, h, w = self.latent_shape
        x = seeded_gaussian(seeds, c * h * w).reshape(n, c, h, w)  # DDIM's init_noise_sigma is 1
        unique = sorted(set(prompts))
        states = dict(zip(unique, self.encode(unique)))
        cond = np.stack([states[p] for p in prompts])
        uncond = np.repeat(self.encode([negative]), n, axis=0)
        ratio = int(self.sched["num_train_timesteps"]) // steps
        v_pred = self.sched["prediction_type"] == "v_prediction"
        half = max(1, rows_per_call // 2)
        for k, t in enumerate(self.timesteps(steps), start=1):
            out = np.empty_like(x)
            for i in range(0, n, half):
                xs = x[i:i + half]
                rows = np.concatenate([xs, xs])
                feeds = {"sample": rows, "timestep": np.full(len(rows), t, dtype=np.float32),
                         "encoder_hidden_states": np.concatenate([uncond[i:i + half], cond[i:i + half]])}
                u, cnd = np.split(self.unet.run(None, feeds)[0], 2)
                out[i:i + half] = u + np.float32(guidance) * (cnd - u)
            a_t = self.alphas_cumprod[t]
            a_prev = self.alphas_cumprod[t - ratio] if t - ratio >= 0 else self.final_alpha
            a, b = np.sqrt(a_t), np.sqrt(1 - a_t)
            xd, od = x.astype(np.float64), out.astype(np.float64)
            if v_pred:
                x0 = (a * xd - b * od).astype(np.float32)
                eps = (a * od + b * xd).astype(np.float32)
            else:
                x0, eps = ((xd - b * od) / a).astype(np.float32), out
            if on_x0 is not None:
                on_x0(k, x0)
            x = (np.sqrt(a_prev) * x0.astype(np.float64) + np.sqrt(1 - a_prev) * eps.astype(np.float64)).astype(np.float32)
        return x

    def decode(self, latents: np.ndarray, batch: int = 256) -> np.ndarray:
        """uint8 NHWC images of final latents (divided by the scaling factor, as the service does)."""
        z = (latents / np.float32(self.scaling_factor)).astype(np.float32)
        return np.concatenate([to_uint8(self.vae.run(None, {"latent_sample": z[i:i + batch]})[0])
                               for i in range(0, len(z), batch)])


class Pipelines:
    """Pipelines by version, for tools that read traffic made by several: v1 is the repository's pack,
    the others come from `--pack-of VERSION=PACK` arguments; each is opened once, when first asked for."""

    def __init__(self, pack_of: list, threads: int = 1):
        self.packs = {"v1": PACK} | dict(p.split("=", 1) for p in pack_of)
        self.threads = threads
        self.open = {}

    def of(self, version: str, where: str = "") -> "Pipeline":
        if version not in self.packs:
            raise SystemExit(f"{where}: no pack given for pipeline version {version} (--pack-of {version}=DIR)")
        if version not in self.open:
            self.open[version] = Pipeline(self.packs[version], self.threads)
        return self.open[version]


# ---------------------------------------------------------------- judges
def _resize(planes: np.ndarray, out_w: int, out_h: int, mode: str) -> np.ndarray:
    """float32 [N, C, H, W] -> [N, C, out_h, out_w], as Resize.java's modes do it."""
    x = torch.from_numpy(np.ascontiguousarray(planes))
    if mode in ("bilinear", "bilinear_align_corners"):
        return F.interpolate(x, size=(out_h, out_w), mode="bilinear",
                             align_corners=mode == "bilinear_align_corners").numpy()
    if mode == "nearest":
        return F.interpolate(x, size=(out_h, out_w), mode="nearest-exact").numpy()
    if mode in ("bicubic", "bilinear_antialias"):  # PIL's convolution resampling, on float planes
        resample = Image.BICUBIC if mode == "bicubic" else Image.BILINEAR
        n, c = planes.shape[:2]
        return np.stack([np.stack([np.asarray(Image.fromarray(planes[i, j], mode="F").resize((out_w, out_h), resample))
                                   for j in range(c)]) for i in range(n)])
    raise ValueError(f"unsupported resize mode '{mode}'")


class Judge:
    """A judge folder (judge.json + model) in ONNX Runtime, its inputs built as judge.json declares."""

    def __init__(self, folder: str, threads: int = 2):
        self.folder = folder
        with open(os.path.join(folder, "judge.json")) as f:
            self.meta = json.load(f)
        if self.meta.get("native_image_input"):
            raise ValueError(f"{folder}: judges with a native image input are not twinned here")
        self.session = session(os.path.join(folder, self.meta["model"]), threads)
        self.name = self.meta["name"]
        self.version = folder_version(folder, self.meta.get("winnow_version"))
        t = self.meta.get("text_input")
        self.tok = ClipTokenizer(os.path.join(folder, t["tokenizer"]), t["max_length"]) if t else None
        self.pad_id = self.tok.encoder[t.get("pad_token") or END] if t else None

    def pixels(self, imgs: np.ndarray) -> np.ndarray:
        """uint8 NHWC images -> the image input tensor (ImagePreprocessor.java)."""
        spec = self.meta["image_input"]
        lo, hi = (np.float32(v) for v in spec["range"])
        unit = imgs.astype(np.float32) / np.float32(255)
        x = unit if (lo, hi) == (0, 1) else lo + (hi - lo) * unit
        x = x.transpose(0, 3, 1, 2)
        h, w = x.shape[2:]
        W, H = spec["width"], spec["height"]
        if spec.get("crop") == "center":  # cover the input size keeping the aspect ratio, then the middle
            rw, rh = (W, max(H, int(W * h / w))) if W / w >= H / h else (max(W, int(H * w / h)), H)
            x = _resize(x, rw, rh, spec["resize"]) if (rw, rh) != (w, h) else x
            y0, x0 = (rh - H) // 2, (rw - W) // 2
            x = x[:, :, y0:y0 + H, x0:x0 + W]
        elif (W, H) != (w, h):
            x = _resize(x, W, H, spec["resize"])
        mean = np.array(spec["mean"], dtype=np.float32)[None, :, None, None]
        std = np.array(spec["std"], dtype=np.float32)[None, :, None, None]
        x = (x - mean) / std
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1) if spec["layout"] == "NHWC" else x, dtype=np.float32)

    def run(self, imgs: np.ndarray, prompts=None, batch: int = 64) -> np.ndarray:
        out = []
        for i in range(0, len(imgs), batch):
            feeds = {self.meta["image_input"]["name"]: self.pixels(imgs[i:i + batch])}
            if self.tok is not None:
                t = self.meta["text_input"]
                ids = [self.tok(p, self.pad_id) for p in prompts[i:i + batch]]
                feeds[t["name"]] = np.array(ids, dtype=np.int64 if t.get("dtype") == "int64" else np.int32)
            outs = dict(zip([o.name for o in self.session.get_outputs()], self.session.run(None, feeds)))
            out.append(outs[self.meta["output"]["name"]])
        return np.concatenate(out)


class SafetyJudge(Judge):
    def __init__(self, folder: str = JUDGES["safety"], threads: int = 2):
        super().__init__(folder, threads)
        labels = self.meta["labels"]
        self.unsafe = [labels.index(l) for l in self.meta["unsafe_labels"]]
        self.threshold = float(self.meta["threshold"])
        if self.meta["output"].get("kind", "probabilities") not in ("probabilities", "logits"):
            raise ValueError(f"{self.folder}: output kind {self.meta['output']['kind']} is not twinned here")

    def unsafe_probability(self, imgs: np.ndarray) -> np.ndarray:
        """float64 [N]; NaN where the model's row is not finite (the service's safety_error)."""
        p = self.run(imgs).astype(np.float64)
        if self.meta["output"].get("kind") == "logits":
            p = np.exp(p - p.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
        unsafe = p[:, self.unsafe].sum(axis=1)
        unsafe[~np.isfinite(p).all(axis=1)] = np.nan
        return unsafe

    def verdicts(self, unsafe: np.ndarray) -> list:
        return ["safety_error" if np.isnan(u) else "safe" if u < self.threshold else "unsafe" for u in unsafe]


class ScoreJudge(Judge):
    def __init__(self, folder: str, threads: int = 2):
        super().__init__(folder, threads)
        self.score_name = self.meta["score_name"]

    def normalised(self, imgs: np.ndarray, prompts) -> np.ndarray:
        """Scores mapped onto [0, 1] with judge.json's score.min/max (ScoreJudge.normalise)."""
        raw = self.run(imgs, prompts).reshape(-1).astype(np.float64)
        s = self.meta["score"]
        unit = (raw - s["min"]) / (s["max"] - s["min"])
        if s.get("higher_is_better") is False:
            unit = 1 - unit
        return np.clip(unit, 0, 1)


class Judges:
    """The service's judges with its default paths and weights; `judge` scores one flat batch."""

    def __init__(self, paths: dict = JUDGES, weights: dict = RANKING_WEIGHTS, threads: int = 2):
        self.safety = SafetyJudge(paths["safety"], threads)
        self.scorers = [ScoreJudge(paths[k], threads) for k in paths if k != "safety"]
        self.weights = dict(weights)

    def describe(self) -> dict:
        """The traffic log's `judges` field: role -> name and version."""
        out = {"safety": {"name": self.safety.name, "version": self.safety.version}}
        out.update({s.score_name: {"name": s.name, "version": s.version} for s in self.scorers})
        return out

    def judge(self, imgs: np.ndarray, prompts) -> tuple:
        """(verdicts [N], scores [N] dicts as the service reports them: unsafe_probability, then for
        safe candidates each normalised score and `combined`)."""
        unsafe = self.safety.unsafe_probability(imgs)
        verdicts = self.safety.verdicts(unsafe)
        safe = np.array([v == "safe" for v in verdicts])
        norm = {}
        for s in self.scorers:
            norm[s.score_name] = np.full(len(imgs), np.nan)
            if safe.any():
                norm[s.score_name][safe] = s.normalised(imgs[safe], [p for p, k in zip(prompts, safe) if k])
        scores = []
        for i, v in enumerate(verdicts):
            row = {"unsafe_probability": float(unsafe[i])}
            if v == "safe":
                mine = {k: float(a[i]) for k, a in norm.items()}
                row.update(mine)
                row["combined"] = combined(mine, self.weights)
            scores.append(row)
        return verdicts, scores


def combined(normalised: dict, weights: dict) -> float:
    """RankingPolicy.combined: sum of weight * score; a missing or non-finite score counts 0."""
    return float(sum(weights.get(k, 0.0) * v for k, v in normalised.items() if v is not None and np.isfinite(v)))


def rank(verdicts, scores) -> list:
    """RankingPolicy.ranked: the safe candidates' indices best first (by combined, ties to the lower index)."""
    def key(i):
        c = scores[i].get("combined")
        return (-(c if c is not None and np.isfinite(c) else -np.inf), i)
    return sorted((i for i, v in enumerate(verdicts) if v == "safe"), key=key)
