"""Train the preview scorer: the scenes verifier fine-tuned to rank x̂0 previews for pruning.

    python models/tools/train_preview_verifier.py data  [--work /tmp/scenes-work] [--chunks 118] [--parts 2 --part 0|1]
    python models/tools/train_preview_verifier.py train [--work /tmp/scenes-work] [--steps 1500]
    python models/tools/train_preview_verifier.py export [--work /tmp/scenes-work]

Speculative best-of-N (issue 12) keeps the best `keep` of `n` candidates after k of the DDIM
steps, judged on the x̂0 preview the k-th step predicts. The committed verifier
(`train_verifier.py`) never saw such previews: they are blurrier, and at few steps their
objects are half formed. This scorer has the same architecture and ONNX interface: the same
frozen prompt reader and comparison, with the scene reader fine-tuned on previews.

  * data: the pack (its torch twin, `eval_scenes.sample_with_previews`: DDIM 20 steps,
    guidance 5, the service's defaults) samples 8 candidates (seeds 40000-40007) for each of
    random prompts (`training_prompts`, rng seed 4242: the benchmark's forms and the pack's
    training captions; never a benchmark prompt, never one of the prompts
    `preview_recall.py` evaluates on) and keeps the decoded previews the engine would score
    for `at` = 0.1 ... 0.5 (k = round(at * 20) = 2, 4, 6, 8, 10: step indices 1, 3, 5, 7, 9),
    the final image, and whether the reference checker finds the final image right. Written
    in chunks of 8 prompts to <work>/preview-data/ (resumable; `--chunks` many).
  * train: the prompt reader stays frozen; the scene reader (from verifier-reader.pt) learns,
    on previews of every level (each prompt's 8 candidates at one level; k = 10 drawn twice
    as often as the others, and one draw in eight the final image itself), with
      - a pairwise ranking loss within each prompt's candidates: a candidate whose final
        image is right should outscore, on its preview, one whose final image is wrong
        (logistic on the difference of log scores);
      - 0.5 x binary cross-entropy of the score against the final image's correctness;
      - distillation: the scene reader's reading of the preview (density, shape, colour,
        size, background) should match the frozen committed reader's reading of the final
        image, which keeps the structured reading intact and says what the preview will become.
    The last tenth of the chunks (by prompt) is held out for choosing the checkpoint (the
    mean top-2-of-8 preview recall over the five levels plus the mean share of right-over-wrong
    pairs); preview_recall.py's prompts are never seen. The checkpoint goes to <work>/preview-verifier-reader.pt.
  * export: models/judges/scenes-verifier-preview/ (model.onnx, judge.json, tokenizer/),
    checked against the torch model with ONNX Runtime.
"""
from __future__ import annotations

import argparse
import copy
import glob
import json
import os
import shutil
import time

import numpy as np
import torch
import torch.nn.functional as F

import scenes_model as M
import scenes_world as W
from clip_bpe import END, ClipTokenizer
from image_aug import to_pixel_values, write_score_judge
from preview_recall import eval_prompts, prune_step
from train_verifier import PACK_TOKENIZER, TOKENIZER_FILES, PromptReader, SceneReader, Verifier, export_onnx

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "judges", "scenes-verifier-preview"))
SEED = 4242
SEED0 = 40000
CANDIDATES = 8
PER_CHUNK = 8  # prompts per data chunk
STEPS = 20
ATS = (0.1, 0.2, 0.3, 0.4, 0.5)
LEVELS = tuple(prune_step(at, STEPS) - 1 for at in ATS)  # 0-based step indices of the previews: 1, 3, 5, 7, 9
S = 64


def data_dir(work):
    return os.path.join(work, "preview-data")


# ---------------------------------------------------------------- data
def training_prompts(n: int) -> list:
    """n distinct prompts: three in four of the benchmark's forms (`random_prompt`, the
    categories in turn; a category whose prompts run out is skipped), one in four the pack's
    training captions (`caption_for` a sampled scene: counts, partial descriptions, up to
    four objects); never a benchmark prompt nor one preview_recall.py draws (--prompts up to 24)."""
    exclude = {p for _, p in W.benchmark_prompts()}
    for per in (8, 16, 24):
        for ps in eval_prompts(per).values():
            exclude.update(ps)
    rng = np.random.default_rng(SEED)
    out, seen, live, turn = [], set(exclude), list(W.CATEGORIES), 0
    while len(out) < n:
        turn += 1
        if turn % 4 == 0 or not live:
            p = W.caption_for(W.sample_scene(rng), rng)
        else:
            cat = live[turn % len(live)]
            for _ in range(500):
                p = W.random_prompt(cat, rng)
                if p not in seen:
                    break
            else:
                live.remove(cat)
                continue
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def make_data(a):
    from eval_scenes import load_sampler, sample_with_previews
    os.makedirs(data_dir(a.work), exist_ok=True)
    prompts = training_prompts(a.chunks * PER_CHUNK)
    text, unet, dec, step, scale, tok = load_sampler(a.work)
    seeds = list(range(SEED0, SEED0 + CANDIDATES))
    t0, made = time.time(), 0
    for c in range(a.part, a.chunks, a.parts):
        path = os.path.join(data_dir(a.work), f"chunk-{c:04d}.npz")
        ps = prompts[c * PER_CHUNK:(c + 1) * PER_CHUNK]
        if os.path.exists(path) or not ps:
            continue
        final, previews = sample_with_previews(text, unet, dec, tok, ps, seeds, scale, set(LEVELS), STEPS)
        expanded = [p for p in ps for _ in seeds]
        ok = np.array([W.check(p, im) for p, im in zip(expanded, final)])
        np.savez(path + ".tmp.npz", prompts=np.array(ps), final=final, ok=ok, unet_step=step,
                 previews=np.stack([previews[i] for i in LEVELS], axis=1))  # [N, levels, 64, 64, 3]
        os.replace(path + ".tmp.npz", path)
        made += 1
        print(f"chunk {c + 1}/{a.chunks}: {len(ps)} prompts, right {ok.mean():.3f}; "
              f"{time.time() - t0:.0f}s", flush=True)
    print(f"data: {made} chunks made in {time.time() - t0:.0f}s")


def load_data(work, max_chunks=None):
    files = sorted(glob.glob(os.path.join(data_dir(work), "chunk-*.npz")))
    files = [f for f in files if not f.endswith(".tmp.npz")][:max_chunks]
    zs = [np.load(f) for f in files]
    prompts = [str(p) for z in zs for p in z["prompts"]]
    return (prompts, np.concatenate([z["final"] for z in zs]), np.concatenate([z["previews"] for z in zs]),
            np.concatenate([z["ok"] for z in zs]))


# ---------------------------------------------------------------- training
class _Given(torch.nn.Module):
    """Stands in for the scene reader inside `Verifier.terms`: its "image" is the reading itself."""

    def forward(self, reading):
        return reading


def load_verifier(work, tok):
    reader, parser = SceneReader(), PromptReader(len(tok.encoder), tok.end_id)
    reader.load_state_dict(torch.load(os.path.join(work, "verifier-reader.pt")))
    parser.load_state_dict(torch.load(os.path.join(work, "verifier-parser.pt")))
    return reader.eval(), parser.eval()


@torch.no_grad()
def read_all(reader, imgs, batch=256):
    """The scene reader's reading of uint8 images, concatenated over batches."""
    outs = [reader(to_pixel_values(imgs[i:i + batch])) for i in range(0, len(imgs), batch)]
    return tuple(torch.cat(t) for t in zip(*outs))


def log_score(comparison, reading, ids):
    g, t, r, b = comparison.terms(reading, ids)
    return sum(torch.log(v.clamp_min(1e-6)) for v in (g, t, r, b))


def distill_loss(reading, teacher):
    """The preview's reading against the frozen reader's reading of the final image."""
    d, shp, col, size, bg = reading
    td, tshp, tcol, tsize, tbg = teacher
    w = (td * 4).clamp(max=1.0)  # ~1 at an object's centre cell, 0 far from objects
    wsum = w.sum().clamp_min(1.0)
    loss_density = ((d - td) ** 2).sum(1).mean() * 20 + (d.sum(1) - td.sum(1)).abs().mean() * 0.2
    soft_ce = lambda p, t: -(t * torch.log(p.clamp_min(1e-6))).sum(-1)
    loss_shape = (soft_ce(shp, tshp) * w).sum() / wsum
    loss_colour = (soft_ce(col, tcol) * w).sum() / wsum
    loss_size = ((size - tsize).abs() * w).sum() / wsum * 10
    loss_bg = soft_ce(bg, tbg).mean()
    return loss_density + loss_shape + loss_colour + loss_size + loss_bg


def rank_loss(logs, ok, groups):
    """Within each prompt's candidates: right finals' previews above wrong ones' (logistic on log scores)."""
    logs, ok = logs.view(groups, CANDIDATES), ok.view(groups, CANDIDATES)
    diff = logs[:, :, None] - logs[:, None, :]  # [G, i, j]: i over j
    pair = ok[:, :, None] & ~ok[:, None, :]
    if not pair.any():
        return logs.sum() * 0
    return F.softplus(-diff[pair]).mean()


@torch.no_grad()
def evaluate(reader, comparison, ids, previews, final, ok, keep=2):
    """Per level (and the final image): top-keep-of-8 recall over prompts with a right final
    candidate, the share of right-over-wrong pairs within a prompt, and whether the top-scored
    candidate is right; on held-out chunks."""
    res = {}
    n = len(ok) // CANDIDATES
    okg = ok.reshape(n, CANDIDATES)
    have = okg.any(1)
    names = [f"at{at:.1f}" for at in ATS] + ["final"]
    for li, name in enumerate(names):
        imgs = final if li == len(ATS) else previews[:, li]
        s = torch.cat([log_score(comparison, read_all(reader, imgs[i:i + 256]), ids[i:i + 256]) for i in range(0, len(imgs), 256)]).numpy().reshape(n, CANDIDATES)
        kept = np.argsort(-s, axis=1, kind="stable")[:, :keep]
        recall = float(np.take_along_axis(okg, kept, 1).any(1)[have].mean())
        top = float(okg[np.arange(n), s.argmax(1)][have].mean())
        wins, pairs = 0.0, 0
        for j in range(n):
            r, w = s[j][okg[j]], s[j][~okg[j]]
            wins += float((r[:, None] > w[None, :]).sum() + 0.5 * (r[:, None] == w[None, :]).sum())
            pairs += len(r) * len(w)
        res[name] = {"recall": round(recall, 4), "pairwise": round(wins / max(1, pairs), 4), "top": round(top, 4)}
    res["mean_preview_recall"] = round(float(np.mean([res[f"at{at:.1f}"]["recall"] for at in ATS])), 4)
    return res


def selection_metric(res):
    """What picks the checkpoint: mean preview recall plus mean pairwise ordering, over the levels."""
    return res["mean_preview_recall"] + float(np.mean([res[f"at{at:.1f}"]["pairwise"] for at in ATS]))


def train(a):
    t0 = time.time()
    tok = ClipTokenizer(PACK_TOKENIZER, M.MAX_LEN)
    teacher, parser = load_verifier(a.work, tok)
    for p in list(teacher.parameters()) + list(parser.parameters()):
        p.requires_grad_(False)
    reader = copy.deepcopy(teacher)
    for p in reader.parameters():
        p.requires_grad_(True)
    comparison = Verifier(_Given(), parser).eval()
    prompts, final, previews, ok = load_data(a.work, a.max_chunks)
    n_prompts = len(prompts)
    n_val = max(PER_CHUNK, (n_prompts // PER_CHUNK // 10) * PER_CHUNK)  # the last tenth of the chunks
    n_train = n_prompts - n_val
    cut = n_train * CANDIDATES
    ids = torch.tensor([tok(p) for p in prompts for _ in range(CANDIDATES)], dtype=torch.int32)
    ok_t = torch.as_tensor(ok)
    print(f"data: {n_prompts} prompts x {CANDIDATES} ({n_train} train, {n_val} held out), "
          f"{len(ATS)} preview levels + final; right finals {ok.mean():.3f}; {time.time() - t0:.0f}s", flush=True)
    teach = read_all(teacher, final[:cut])
    print(f"teacher readings of the final images: {time.time() - t0:.0f}s", flush=True)
    val = (ids[cut:], previews[cut:], final[cut:], ok[cut:])
    base = evaluate(teacher, comparison, *val)
    print("held out, committed verifier:", json.dumps(base), flush=True)
    best, best_metric = copy.deepcopy(reader.state_dict()), selection_metric(base)
    history = [{"step": 0, **base}]
    opt = torch.optim.AdamW(reader.parameters(), lr=a.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=a.steps, pct_start=0.05)
    rng = np.random.default_rng(SEED + 1)
    cand = np.arange(CANDIDATES)
    parts_hist = []
    reader.train()
    step = 0
    for step in range(1, a.steps + 1):
        g = rng.choice(n_train, size=a.groups, replace=False)
        rows = (g[:, None] * CANDIDATES + cand[None, :]).reshape(-1)
        # one level per prompt's candidates: 0-5 with 5 folded onto the last (at 0.5 drawn twice as
        # often as the others; the committed model was trained so), and one in eight the final image
        level = rng.integers(len(ATS) + 1, size=a.groups)
        level = np.where(rng.random(a.groups) < 1 / 8, len(ATS), np.minimum(level, len(ATS) - 1))
        lv = np.repeat(level, CANDIDATES)
        imgs = np.stack([final[r] if l == len(ATS) else previews[r, l] for r, l in zip(rows, lv)])
        reading = reader(to_pixel_values(imgs))
        logs = log_score(comparison, reading, ids[rows])
        y = ok_t[rows]
        score = logs.exp().clamp(1e-6, 1 - 1e-6)
        l_rank = rank_loss(logs, y, a.groups)
        l_bce = F.binary_cross_entropy(score, y.float())
        l_distill = distill_loss(reading, tuple(t[rows] for t in teach))
        loss = l_rank + 0.5 * l_bce + a.distill * l_distill
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(reader.parameters(), 1.0)
        opt.step()
        sched.step()
        parts_hist.append((l_rank.item(), l_bce.item(), l_distill.item()))
        out_of_time = time.time() - t0 > a.minutes * 60
        if step % 50 == 0:
            m = np.mean(parts_hist[-50:], axis=0)
            print(f"step {step}/{a.steps} rank {m[0]:.4f} bce {m[1]:.4f} distill {m[2]:.4f} "
                  f"{time.time() - t0:.0f}s", flush=True)
        if step % a.eval_every == 0 or step == a.steps or out_of_time:
            reader.eval()
            res = evaluate(reader, comparison, *val)
            reader.train()
            history.append({"step": step, **res})
            metric = selection_metric(res)
            print(f"held out at step {step}:", json.dumps(res), flush=True)
            if metric > best_metric:
                best, best_metric = copy.deepcopy(reader.state_dict()), metric
                print(f"  best so far ({metric:.4f})", flush=True)
        if out_of_time:
            print(f"stopping at step {step}: --minutes {a.minutes} reached", flush=True)
            break
    torch.save(best, os.path.join(a.work, "preview-verifier-reader.pt"))
    summary = {"steps_run": step, "train_prompts": n_train, "held_out_prompts": n_val, "candidates": CANDIDATES,
               "train_seconds": round(time.time() - t0), "history": history}
    with open(os.path.join(a.work, "preview-verifier-train.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(f"saved {os.path.join(a.work, 'preview-verifier-reader.pt')}; total {time.time() - t0:.0f}s")


# ---------------------------------------------------------------- export
def export(a):
    import onnxruntime as ort
    os.makedirs(os.path.join(OUT, "tokenizer"), exist_ok=True)
    for name in TOKENIZER_FILES:
        shutil.copy(os.path.join(PACK_TOKENIZER, name), os.path.join(OUT, "tokenizer", name))
    tok = ClipTokenizer(os.path.join(OUT, "tokenizer"), M.MAX_LEN)
    reader, parser = load_verifier(a.work, tok)
    reader.load_state_dict(torch.load(os.path.join(a.work, "preview-verifier-reader.pt")))
    model = Verifier(reader, parser).eval()
    with open(os.path.join(a.work, "preview-verifier-train.json")) as f:
        summary = json.load(f)
    path = os.path.join(OUT, "model.onnx")
    x, ids = export_onnx(model, tok, path, "winnow-train_preview_verifier",
                         "scenes-verifier-preview: the scenes verifier with its scene reader fine-tuned on x̂0 previews "
                         "(DDIM 20, steps 2-10) to rank candidates by whether their final image will be right (Winnow)")
    # ONNX Runtime against torch, on real previews and finals of the held-out chunks
    prompts, final, previews, ok = load_data(a.work)
    pick = np.arange(len(ok) - 512, len(ok))
    imgs = np.concatenate([previews[pick[:256], 0], previews[pick[256:], 2], final[pick[::4]]])
    pv = to_pixel_values(imgs)
    tid = torch.tensor([tok(prompts[i // CANDIDATES]) for i in np.concatenate([pick, pick[::4]])], dtype=torch.int32)
    pv, tid = torch.cat([pv, x]), torch.cat([tid, ids])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, opts)
    got = sess.run(None, {"pixel_values": pv.numpy(), "input_ids": tid.numpy()})[0]
    with torch.no_grad():
        want = model(pv, tid).numpy()
    diff = float(np.abs(got - want).max())
    assert diff < 1e-4, diff
    print(f"ONNX Runtime vs torch on {len(pv)} inputs: max abs diff {diff:.2e}")
    best = max(summary["history"], key=selection_metric)
    base = summary["history"][0]
    metrics = {"train_prompts": summary["train_prompts"], "held_out_prompts": summary["held_out_prompts"],
               "candidates_per_prompt": CANDIDATES, "steps_run": summary["steps_run"],
               "onnx_vs_torch_max_abs_diff": float(f"{diff:.2e}")}
    for name in [f"at{at:.1f}" for at in ATS] + ["final"]:
        metrics[f"held_out_top2of8_recall_{name}"] = best[name]["recall"]
        metrics[f"held_out_pairwise_{name}"] = best[name]["pairwise"]
        metrics[f"held_out_top2of8_recall_{name}_scenes_verifier"] = base[name]["recall"]
        metrics[f"held_out_pairwise_{name}_scenes_verifier"] = base[name]["pairwise"]
    metrics["held_out_top_is_right_final"] = best["final"]["top"]
    metrics["held_out_top_is_right_final_scenes_verifier"] = base["final"]["top"]
    write_score_judge(OUT, "scenes-verifier-preview", "faithfulness",
                      ("Preview scorer for speculative best-of-N: scores the decoded x̂0 preview a DDIM step predicts "
                       "(after 10-50% of the steps), for pruning candidates before they finish; ranks them by how "
                       "likely their final image is to show the prompt. The scenes verifier's architecture and "
                       "prompt reader, its scene reader fine-tuned on the pack's previews with the final image's "
                       "correctness as the target. Meant for previews: final images are for scenes-verifier to rank."),
                      S, {"name": "input_ids", "dtype": "int32", "tokenizer": "tokenizer", "max_length": M.MAX_LEN,
                          "pad_token": END},
                      (0.0, 1.0), metrics)
    print("wrote", path, os.path.getsize(path))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("stage", choices=("data", "train", "export"))
    ap.add_argument("--work", default="/tmp/scenes-work")
    ap.add_argument("--chunks", type=int, default=118, help="data: chunks of 8 prompts x 8 candidates")
    ap.add_argument("--parts", type=int, default=1, help="data: run this many processes side by side, ...")
    ap.add_argument("--part", type=int, default=0, help="data: ... this one making chunks part, part + parts, ...")
    ap.add_argument("--max-chunks", type=int, help="train: use only the first this many chunks")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--groups", type=int, default=8, help="prompts per batch (x 8 candidates)")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--distill", type=float, default=1.0, help="weight of the distillation loss")
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--minutes", type=float, default=30.0, help="train: stop after this wall time")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(SEED)
    if a.stage == "data":
        make_data(a)
    elif a.stage == "train":
        train(a)
    else:
        export(a)


if __name__ == "__main__":
    main()
