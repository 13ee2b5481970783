"""Align the scenes pipeline's UNet with the judges' rankings: Diffusion-DPO and/or RAFT on pairs.jsonl.

    python models/tools/train_generator.py PAIRS_JSONL OUT_PACK --name NAME --method dpo|raft
        [--pack models/shapes-scenes] [--steps 1500 | --minutes 45] [--batch 32] [--lr 1e-5]
        [--beta 2000] [--sft-weight 0] [--p-uncond 0.1] [--ema 0] [--category-weight CATEGORY=FACTOR ...]
        [--work DIR] [--threads 2]

PAIRS_JSONL is traffic_to_pairs.py's output. The UNet starts from --pack's ONNX graph
(onnx_to_torch.py); the text encoder is frozen (its states are computed once per caption). Every
example's x_0 is a candidate's final latent as the service logged it (already in the UNet's
scaled latent space); q(x_t | x_0) and the v target are the pack's training ones (train_scenes.py:
SD's scaled_linear schedule, v prediction, t uniform over the 1000 training steps).

  --method dpo   Diffusion-DPO (Wallace et al. 2023, "Diffusion Model Alignment Using Direct
                 Preference Optimization", eq. 14):
                   L = -log sigmoid( -beta/2 * ( (|v_w - v_theta(x_w,t)|^2 - |v_w - v_ref(x_w,t)|^2)
                                               - (|v_l - v_theta(x_l,t)|^2 - |v_l - v_ref(x_l,t)|^2) ) )
                 with the chosen (w) and rejected (l) latents noised with the same t and noise,
                 squared errors averaged over the latent's elements, v_ref a frozen copy of the
                 starting UNet, and the paper's epsilon errors replaced by v errors (the pack is
                 v-prediction; as the authors' training code does for v models; the constant
                 T * omega(lambda_t) is folded into beta, and the 1/2 is their code's).
                 SFT-only rows (rejected null) are skipped.
  --method raft  RAFT (Dong et al. 2023, "RAFT: Reward rAnked FineTuning"): the pack's own loss,
                 min-SNR-5 weighted v-prediction MSE, on the chosen latents only (each candidate
                 once, SFT-only rows included).
  --t-range LO,HI  draws the training timestep t uniformly from [LO, HI) instead of all 1000 (both
                 methods). A layout is settled in the first, noisiest steps of sampling (the pruning
                 work reads it from x0 previews at a fifth of the steps), and a pair of whole
                 latents that differ in layout differs most in what the UNet must predict there;
                 at low noise both sides are merely reconstructed, which spends the batch on
                 nothing the judges preferred.
  --sft-weight W with dpo: adds W times the RAFT loss on the batch's chosen latents, which keeps
                 the chosen samples likely while DPO widens the gap (DPO alone can lower both).
  --category-weight CATEGORY=FACTOR  draws items whose caption is of that benchmark category
                 (scenes_world.category_of) FACTOR times as often, after the --weighting; with RAFT on
                 every accepted candidate (traffic_to_pairs.py --accept) it spends the steps on the
                 binding categories (position, color_attr) whose right candidates are rarest.

Classifier-free guidance keeps working: each example's caption is replaced by the empty
prompt with probability --p-uncond (0.1, as the pack was trained; both sides of a pair
together). Held-out prompts never train: rows whose caption is one of
scenes_world.heldout_prompts() are dropped and counted (benchmark runs through the service log
them too). No reference checker is used: the pairs carry only the judges' and people's view.
Pairs whose sides are images (people's picks without a traffic row) are counted and skipped: the
scenes pack ships no VAE encoder.

OUT_PACK becomes a copy of --pack with the new unet/model.onnx (opset 17, the same interface;
checked against the torch module in ONNX Runtime), model_index.json's "winnow_version" set to
--name, and a README.md with the recipe and the data's provenance. --work keeps a resumable
checkpoint (every 5 minutes) and the training log.
"""
from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import shutil
import time
from collections import Counter

# OpenMP threads that spin while waiting cost ten times the CPU when other work shares the cores
# (measured on the project's 2-core machine: 17 s instead of 1.4 s a step); read when torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
import torch.nn.functional as F

import scenes_model as M
import scenes_world as W
from onnx_to_torch import PARITY_TOLERANCE, load_pipeline, parity
from service_twin import PACK, Pipeline
from train_scenes import MIN_SNR_GAMMA, T_TRAIN, alphas_cumprod, save


def normalised(prompt: str) -> str:
    return " ".join(prompt.lower().split())


class Data:
    """pairs.jsonl in memory: latents of every referenced candidate, caption states, pair and SFT indices."""

    def __init__(self, path: str, text, tok):
        self.counts = Counter()
        self.versions, self.sources = Counter(), Counter()
        self.traffic_files = set()
        held = {normalised(p) for _, p in W.heldout_prompts()}
        rows = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                r = json.loads(line)
                if normalised(r["caption"]) in held:
                    self.counts["rows dropped: held-out prompt"] += 1
                elif any(s is not None and "latent" not in s for s in (r["chosen"], r["rejected"])):
                    self.counts["rows skipped: image sides (no VAE encoder)"] += 1
                else:
                    rows.append(r)
        slot, arrays, cache = {}, [], {}

        def latent(s):
            key = (s["latent"][0], int(s["latent"][1]))
            if key not in slot:
                if key[0] not in cache:
                    cache[key[0]] = np.load(key[0])
                    self.traffic_files.add(os.path.dirname(os.path.dirname(key[0])))
                slot[key] = len(arrays)
                arrays.append(cache[key[0]][key[1]])
            return slot[key]

        captions = sorted({r["caption"] for r in rows})
        self.captions = [""] + captions
        cap_index = {c: i + 1 for i, c in enumerate(captions)}  # 0 is the empty prompt
        with torch.no_grad():
            ids = torch.tensor([tok(c) for c in [""] + captions], dtype=torch.int32)
            self.states = torch.cat([text(ids[i:i + 512]) for i in range(0, len(ids), 512)])
        pairs, chosen = [], set()
        gen_index = {}
        for r in rows:
            w = latent(r["chosen"])
            gen = gen_index.setdefault(r["generation_id"], len(gen_index))
            chosen.add((w, cap_index[r["caption"]], gen))
            self.versions[r.get("pipeline_version")] += 1
            self.sources[r["source"]] += 1
            if r["rejected"] is not None:
                pairs.append((w, latent(r["rejected"]), cap_index[r["caption"]], gen))
        self.generations = set(gen_index)
        self.latents = torch.from_numpy(np.stack(arrays)).float() if arrays else torch.zeros(0)
        # columns: chosen latent, rejected latent, caption, generation (pairs); chosen latent, caption, generation (sft)
        self.pairs = torch.tensor(pairs, dtype=torch.long).reshape(-1, 4)
        self.sft = torch.tensor(sorted(chosen), dtype=torch.long).reshape(-1, 3)
        self.counts.update({"rows": len(rows), "pairs": len(pairs), "chosen latents": len(chosen),
                            "generations": len(self.generations), "captions": len(captions)})


def item_weights(items: torch.Tensor, weighting: str, captions=None, category_weights=None) -> torch.Tensor:
    """Sampling weights of training items (rows of data.pairs or data.sft, caption index second to
    last, generation in the last column): 'candidate' uniform over items; 'generation' each
    generation (request) weighs the same however many items it gave, so a hard prompt's one right
    candidate counts as much as an easy prompt's eight. category_weights ({category: factor},
    scenes_world.category_of of the caption, 1 for the rest) then tilts the draw towards the
    categories a round is meant to teach."""
    if weighting == "candidate":
        w = torch.ones(len(items), dtype=torch.float64)
    else:
        gen = items[:, -1]
        w = 1.0 / torch.bincount(gen).double()[gen]
    if category_weights:
        factor = torch.tensor([category_weights.get(W.category_of(c), 1.0) if c else 1.0 for c in captions],
                              dtype=torch.float64)
        w = w * factor[items[:, -2]]
    return w


def noised(x0, t, noise, acp):
    """x_t and the v target for x_0 at t (DDPM eq. 4; Salimans & Ho 2022)."""
    a = acp[t].view(-1, 1, 1, 1)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise, a.sqrt() * noise - (1 - a).sqrt() * x0


def captions(idx, data, p_uncond, g):
    """Caption states for caption indices, each replaced by the empty prompt's with probability p_uncond."""
    drop = torch.rand(len(idx), generator=g) < p_uncond
    return data.states[torch.where(drop, torch.zeros_like(idx), idx)]


def timesteps(n, t_range, g):
    """n training timesteps, uniform over [lo, hi) (the whole schedule by default)."""
    lo, hi = t_range
    return torch.randint(lo, hi, (n,), generator=g)


def raft_loss(unet, x0, ctx, acp, snr, g, t_range=(0, T_TRAIN)):
    t = timesteps(len(x0), t_range, g)
    xt, v = noised(x0, t, torch.randn(x0.shape, generator=g), acp)
    w = (torch.clamp(snr[t], max=MIN_SNR_GAMMA) / (snr[t] + 1)).view(-1, 1, 1, 1)
    return (w * (unet(xt, t.float(), ctx) - v) ** 2).mean()


def dpo_loss(unet, ref, xw, xl, ctx, acp, beta, g, t_range=(0, T_TRAIN)):
    """Diffusion-DPO (eq. 14 with v errors); returns (loss, implicit accuracy: share of pairs whose
    chosen side the model fits better than the reference does, relative to the rejected side)."""
    b = len(xw)
    t = timesteps(b, t_range, g).repeat(2)
    noise = torch.randn(xw.shape, generator=g).repeat(2, 1, 1, 1)
    xt, v = noised(torch.cat([xw, xl]), t, noise, acp)
    c = ctx.repeat(2, 1, 1)
    err = ((unet(xt, t.float(), c) - v) ** 2).mean(dim=(1, 2, 3))
    with torch.no_grad():
        ref_err = ((ref(xt, t.float(), c) - v) ** 2).mean(dim=(1, 2, 3))
    model_diff = err[:b] - err[b:]
    ref_diff = ref_err[:b] - ref_err[b:]
    inside = -0.5 * beta * (model_diff - ref_diff)
    return -F.logsigmoid(inside).mean(), (inside > 0).float().mean()


def train(a, data, unet):
    acp = alphas_cumprod()
    snr = acp / (1 - acp)
    ref = copy.deepcopy(unet).eval().requires_grad_(False) if a.method == "dpo" else None
    unet.train()
    ema = copy.deepcopy(unet).eval().requires_grad_(False) if a.ema > 0 else None
    opt = torch.optim.AdamW(unet.parameters(), lr=a.lr, weight_decay=0.0)
    step, elapsed, cpu_elapsed = 0, 0.0, 0.0
    ckpt = os.path.join(a.work, "train.pt")
    if a.resume and os.path.exists(ckpt):
        st = torch.load(ckpt, weights_only=False)
        unet.load_state_dict(st["unet"]); opt.load_state_dict(st["opt"])
        if ema is not None:
            ema.load_state_dict(st["ema"])
        step, elapsed = st["step"], st["elapsed"]
        cpu_elapsed = st.get("cpu", 0.0)
        print(f"resumed at step {step}", flush=True)
    g = torch.Generator().manual_seed(a.seed + step)
    items = data.pairs if a.method == "dpo" else data.sft
    if len(items) == 0:
        raise SystemExit(f"no {'pairs' if a.method == 'dpo' else 'chosen latents'} to train on")
    weights = item_weights(items, a.weighting, data.captions, a.category_weights)
    t0, last_save = time.time() - elapsed, time.time()
    cpu0 = time.process_time() - cpu_elapsed

    def checkpoint():
        return {"unet": unet.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": time.time() - t0,
                "cpu": time.process_time() - cpu0, **({"ema": ema.state_dict()} if ema is not None else {})}

    total = a.steps or 10 ** 9
    log = open(os.path.join(a.work, "train.log"), "a")
    stats = Counter()
    while step < total and time.time() - t0 < a.minutes * 60:
        for grp in opt.param_groups:
            grp["lr"] = a.lr * min(1.0, (step + 1) / a.warmup)
        if a.method == "dpo":
            w, l, cap, _ = items[torch.multinomial(weights, a.batch, replacement=True, generator=g)].T
            ctx = captions(cap, data, a.p_uncond, g)
            loss, acc = dpo_loss(unet, ref, data.latents[w], data.latents[l], ctx, acp, a.beta, g, a.t_range)
            stats["dpo"] += loss.item(); stats["acc"] += acc.item()
            if a.sft_weight > 0:
                sft = raft_loss(unet, data.latents[w], ctx, acp, snr, g, a.t_range)
                stats["sft"] += sft.item()
                loss = loss + a.sft_weight * sft
        else:
            x, cap, _ = items[torch.multinomial(weights, a.batch, replacement=True, generator=g)].T
            loss = raft_loss(unet, data.latents[x], captions(cap, data, a.p_uncond, g), acp, snr, g, a.t_range)
            stats["sft"] += loss.item()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        step += 1
        stats["n"] += 1
        if ema is not None:
            with torch.no_grad():
                for pe, p in zip(ema.parameters(), unet.parameters()):
                    pe.mul_(a.ema).add_(p, alpha=1 - a.ema)
        if step % 50 == 0:
            msg = f"step {step} " + " ".join(f"{k} {v / stats['n']:.4f}" for k, v in stats.items() if k != "n") \
                  + f" {time.time() - t0:.0f}s"
            print(msg, flush=True)
            log.write(msg + "\n"); log.flush()
            stats = Counter()
        if time.time() - last_save > 300:
            save(ckpt, checkpoint())
            last_save = time.time()
    save(ckpt, checkpoint())
    minutes = (time.time() - t0) / 60
    a.cpu_minutes = (time.process_time() - cpu0) / 60
    print(f"done: {step} steps in {minutes:.1f} min wall, {a.cpu_minutes:.1f} CPU-min", flush=True)
    return (ema if ema is not None else unet).eval(), step, minutes


def export_pack(a, unet, vocab, data, steps, minutes, base_version):
    """OUT_PACK: a copy of --pack with the new UNet graph, its version and its recipe."""
    if os.path.exists(a.out_pack):
        if not a.force:
            raise SystemExit(f"{a.out_pack} exists (--force replaces it)")
        shutil.rmtree(a.out_pack)
    shutil.copytree(a.pack, a.out_pack)
    path = os.path.join(a.out_pack, "unet", "model.onnx")
    b, L = 2, M.LATENT_SIZE
    args = (torch.randn(b, M.LATENT_CH, L, L), torch.tensor([999.0, 1.0]), torch.randn(b, M.MAX_LEN, M.TEXT_DIM))
    # the interface and opset of train_scenes.export
    torch.onnx.export(unet, args, path, input_names=["sample", "timestep", "encoder_hidden_states"],
                      output_names=["out_sample"], opset_version=17, dynamo=False,
                      dynamic_axes={"sample": {0: "batch"}, "timestep": {0: "batch"},
                                    "encoder_hidden_states": {0: "batch"}, "out_sample": {0: "batch"}})
    diff = parity(unet, path, "unet", vocab)
    if not diff < PARITY_TOLERANCE:
        raise SystemExit(f"{path}: ONNX Runtime differs from torch by {diff:.2e}")
    with open(os.path.join(a.out_pack, "model_index.json")) as f:
        index = json.load(f)
    index["winnow_version"] = a.name
    with open(os.path.join(a.out_pack, "model_index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    write_readme(a, data, steps, minutes, base_version, diff)
    print(f"wrote {a.out_pack} (UNet ONNX vs torch max abs diff {diff:.2e})")


def write_readme(a, data, steps, minutes, base_version, diff):
    method = {"dpo": f"Diffusion-DPO (Wallace et al. 2023, eq. 14 with v-prediction errors), beta {a.beta:g}"
                     + (f", plus {a.sft_weight:g} x the RAFT loss on the chosen latents" if a.sft_weight > 0 else ""),
              "raft": "RAFT (Dong et al. 2023): min-SNR-5 weighted v-prediction loss on the chosen candidates' latents"}
    c = data.counts
    lines = [
        f"# {a.name}",
        "",
        f"`{os.path.basename(os.path.normpath(a.pack))}` (pipeline version `{base_version}`) with its UNet fine-tuned "
        "on the service's own best-of-N rankings (issue 27, the alignment loop). Everything but "
        "`unet/model.onnx` and `model_index.json`'s `winnow_version` is the base pack's.",
        "",
        "## Recipe (`models/tools/train_generator.py`)",
        "",
        f"- method: {method[a.method]}",
        f"- {steps} steps of batch {a.batch} ({'pairs' if a.method == 'dpo' else 'chosen latents'}), AdamW lr {a.lr:g} "
        f"(warm-up {a.warmup} steps, no weight decay), gradient clip 1.0, "
        + (f"EMA {a.ema:g} (the EMA weights are exported)" if a.ema > 0 else "no EMA") + f", seed {a.seed}",
        f"- timesteps: t uniform over [{a.t_range[0]}, {a.t_range[1]}) of the {T_TRAIN} training steps",
        f"- sampling: {a.weighting} weighting"
        + (" (each generation weighs the same, whatever number of items it gave)" if a.weighting == "generation" else
           " (uniform over items)"),
        *([f"- category weights: " + ", ".join(f"{k} x{v:g}" for k, v in a.category_weights.items())
           + " (scenes_world.category_of of the caption; the rest x1)"] if a.category_weights else []),
        f"- text encoder frozen; caption replaced by the empty prompt for {a.p_uncond:.0%} of examples "
        "(classifier-free guidance)",
        f"- {minutes:.0f} min wall ({a.cpu_minutes:.0f} CPU-min) on {a.threads} CPU threads; ONNX opset 17, "
        f"ONNX Runtime vs torch max abs diff {diff:.1e}",
        "",
        "## Data",
        "",
        f"- pairs: `{os.path.abspath(a.pairs)}` (traffic_to_pairs.py) from the traffic log(s) "
        + ", ".join(f"`{d}`" for d in sorted(data.traffic_files)),
        f"- {c['generations']} generations, {c['captions']} distinct prompts, {c['pairs']} preference pairs, "
        f"{c['chosen latents']} distinct chosen candidates; sources: "
        + ", ".join(f"{k} {v}" for k, v in data.sources.items()),
        "- made by pipeline version(s): " + ", ".join(f"`{k}` ({v} rows)" for k, v in data.versions.items()),
        f"- dropped: {c['rows dropped: held-out prompt']} rows with a held-out prompt; "
        f"{c['rows skipped: image sides (no VAE encoder)']} rows whose sides are images only",
        "- the only reward is the service's judges (safety, faithfulness, aesthetic) and people's picks: held-out "
        "prompts (`scenes_world.heldout_prompts()`) and the reference checker's verdicts were never used in training",
        "",
        f"Made {datetime.date.today().isoformat()}. Licence MIT, like the base pack.",
        "",
    ]
    with open(os.path.join(a.out_pack, "README.md"), "w") as f:
        f.write("\n".join(lines))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs")
    ap.add_argument("out_pack")
    ap.add_argument("--name", required=True, help="the new pack's winnow_version")
    ap.add_argument("--method", choices=["dpo", "raft"], required=True)
    ap.add_argument("--pack", default=PACK, help="the pack to start from (and copy)")
    ap.add_argument("--steps", type=int, help="stop after this many steps (else --minutes)")
    ap.add_argument("--minutes", type=float, default=45)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--beta", type=float, default=2000.0, help="DPO's beta (KL strength; larger stays closer)")
    ap.add_argument("--sft-weight", type=float, default=0.0)
    ap.add_argument("--t-range", default=f"0,{T_TRAIN}", metavar="LO,HI",
                    help="training timesteps drawn uniformly from [LO, HI) (default: all)")
    ap.add_argument("--p-uncond", type=float, default=0.1)
    ap.add_argument("--ema", type=float, default=0.0, help="EMA decay of the exported weights (0: none)")
    ap.add_argument("--weighting", choices=["generation", "candidate"], default="generation",
                    help="how training items are drawn: each generation equally (default) or each item equally")
    ap.add_argument("--category-weight", action="append", default=[], metavar="CATEGORY=FACTOR",
                    help="draw the prompts of a category FACTOR times as often (repeatable; e.g. position=3)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", help="checkpoint and log folder (default OUT_PACK.work)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--force", action="store_true", help="replace OUT_PACK")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if a.sft_weight > 0 and a.method != "dpo":
        ap.error("--sft-weight goes with --method dpo (raft is the SFT loss alone)")
    try:
        a.t_range = tuple(int(x) for x in a.t_range.split(","))
        assert len(a.t_range) == 2 and 0 <= a.t_range[0] < a.t_range[1] <= T_TRAIN
    except (ValueError, AssertionError):
        ap.error(f"--t-range must be LO,HI with 0 <= LO < HI <= {T_TRAIN}")
    try:
        a.category_weights = {k: float(v) for k, v in (cw.split("=") for cw in a.category_weight)}
        assert all(k in W.CATEGORIES and v > 0 for k, v in a.category_weights.items())
    except (ValueError, AssertionError):
        ap.error(f"--category-weight must be CATEGORY=FACTOR, FACTOR > 0, CATEGORY one of {', '.join(W.CATEGORIES)}")
    a.work = a.work or os.path.normpath(a.out_pack) + ".work"
    os.makedirs(a.work, exist_ok=True)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    text, unet, _, _, tok = load_pipeline(a.pack)
    base_version = Pipeline(a.pack, 1).version
    data = Data(a.pairs, text, tok)
    print(f"{a.pairs}: " + ", ".join(f"{k} {v}" for k, v in data.counts.items()), flush=True)
    others = {v for v in data.versions if v != base_version}
    if others:
        print(f"note: rows from pipeline versions {sorted(map(str, others))}, not the base {base_version} "
              "(off-policy for DPO's reference)", flush=True)
    model, steps, minutes = train(a, data, unet)
    export_pack(a, model, len(tok.encoder), data, steps, minutes, base_version)


if __name__ == "__main__":
    main()
