"""Preference pairs from the service's traffic log (the judges' rankings) and its feedback folder
(people's picks), in one format that train_generator.py trains on (Diffusion-DPO, RAFT).

    python models/tools/traffic_to_pairs.py TRAFFIC_DIR [--feedback FEEDBACK_DIR] OUT_DIR
        [--min-margin 0.3] [--max-pairs 0] [--top 1] [--min-chosen C] [--unsafe-rejected]
        [--sft-rows MIN_COMBINED] [--accept SCORE=MIN] [--pipeline-version V]

Inputs
  TRAFFIC_DIR (`winnow.traffic.dir`): `rankings/*.jsonl`, one row per finished generation (prompt,
  settings, pipeline and judges with versions, `chosen`, and per candidate its index, seed,
  verdict safe|unsafe|safety_error|pruned, scores {unsafe_probability, <score>..., combined}, rank
  among the safe ones, latent_row), and `latents/<id>.npy` (float32 [finished, C, h, w]: each
  finished candidate's FINAL latents in the UNet's latent space, before the division by the VAE's
  scaling factor).
  FEEDBACK_DIR (`winnow.feedback.dir`, FeedbackLedger.java): every part's `metadata.jsonl` (feedback_to_pairs.read_picks), rows with
  generation_id, prompt, chosen, rejected (candidate indices), shown_files, seeds, scores.

Output: OUT_DIR/pairs.jsonl, one JSON object a line:

  caption            the prompt
  negative_prompt    the request's negative prompt ("" when none)
  source             "judges" (from the ranking) | "people" (from a feedback pick)
  generation_id      the traffic log's `id` (= feedback's generation_id)
  pipeline_version   the pipeline that made the candidates (null when unknown: feedback without
                     its traffic row); train only on the version you start from, or know why not
  settings           the request's settings (steps, guidance_scale, seed, n, ...)
  chosen, rejected   {"index", "seed", "scores", and either "latent": [npy path, row] (absolute,
                     so OUT_DIR may live anywhere) or, for people's pairs whose generation
                     is not in the traffic log, "image": an absolute PNG path}; rejected is null
                     in an SFT-only row (below)
  margin             chosen combined - rejected combined (the judges' view; null when either has
                     none, e.g. an unsafe rejected candidate)

Judges' pairs: the ranking's top safe candidate (`chosen`) against each other finished candidate
whose combined score is at least --min-margin lower (default 0.3: more than the aesthetic
weight 0.25 alone can make, so the pair differs in faithfulness), largest margins first, at most
--max-pairs per chosen candidate (0: all). With --top K the ranking's first K safe candidates each
serve as chosen that way (rejection sampling keeps more than the single best; --min-chosen sets
the least combined score a chosen side must have). Unsafe candidates are never chosen; with
--unsafe-rejected they are rejected ones (margin null). Safety errors and pruned candidates are
never paired (the former has no trustworthy verdict, the latter no final latent). With --sft-rows
MIN_COMBINED, a chosen candidate that gets no pair but has a combined score of at least
MIN_COMBINED (e.g. one of eight right ones) gives one row with rejected null: RAFT fine-tunes on
every generation's pick, easy prompts included, while DPO skips such rows.

Rejection sampling by one judge (--accept SCORE=MIN, e.g. faithfulness=0.5; what the pilot found
works, docs in train_generator.py): every safe candidate whose SCORE is at least MIN is a chosen
side, whatever its rank (the combined ranking's top-1 drags in the aesthetic judge's taste and
keeps one layout per prompt); each is paired with every finished safe candidate below MIN whose
combined score is at least --min-margin lower (unsafe ones too with --unsafe-rejected), and an
accepted candidate without any pair (all eight right) gives one SFT-only row. So every accepted
candidate is a chosen side, and every pair is right-vs-wrong in the judge's view.

People's pairs: every feedback pick gives chosen vs each rejected index (no margin filter: a
person's choice stands); latents come from the traffic row of the same generation_id when it is
there, else the feedback folder's PNGs (train_generator.py needs an encoder for those, which the
scenes pack does not ship, so it counts and skips them).

Nothing here reads images' content or any reference checker: the judges' scores and people's
picks are the only signal. Storage (what the traffic log costs per candidate): latents float32
C*h*w*4 bytes, 4 KB for this pack's 4x16x16 and 64 KB for SD 1.5's 4x64x64 at 512 px, plus about
0.3 KB of JSON per candidate in the ranking row.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
from collections import Counter

import feedback_to_pairs


def read_traffic(traffic_dir: str) -> dict:
    """{generation id: ranking row} over every rankings/*.jsonl part file."""
    rows = {}
    for path in sorted(glob.glob(os.path.join(traffic_dir, "rankings", "*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:  # a part file being appended to ends mid-line
                    print(f"skipping {path}:{n}: {e}")
                    continue
                rows[row["id"]] = row
    return rows


def side(row: dict, cand: dict) -> dict:
    return {"index": cand["index"], "seed": cand["seed"], "scores": cand["scores"],
            "latent": [row["latents"]["file"], cand["latent_row"]]}


def pair_row(row, source, chosen, rejected, margin):
    return {"caption": row["prompt"], "negative_prompt": row.get("negative_prompt") or "", "source": source,
            "generation_id": row["id"], "pipeline_version": (row.get("pipeline") or {}).get("version"),
            "settings": row.get("settings"), "chosen": chosen, "rejected": rejected, "margin": margin}


def rejected_for(row: dict, best: dict, min_margin: float, max_pairs: int, unsafe_rejected: bool,
                 safe_ok=lambda c: True) -> list:
    """(margin, candidate) for each rejected side of `best`: finished safe candidates that safe_ok
    admits, at least min_margin below it in combined score, largest margins first; then, with
    unsafe_rejected, the unsafe ones (margin None); at most max_pairs (0: all)."""
    scored, unsafe = [], []
    for c in row["candidates"]:
        if c["index"] == best["index"] or c.get("latent_row") is None:
            continue
        if c["verdict"] == "safe" and c["scores"].get("combined") is not None and safe_ok(c):
            margin = best["scores"]["combined"] - c["scores"]["combined"]
            if margin >= min_margin:
                scored.append((margin, c))
        elif c["verdict"] == "unsafe" and unsafe_rejected:
            unsafe.append((None, c))
    scored.sort(key=lambda mc: (-mc[0], mc[1]["index"]))
    return (scored + unsafe)[:max_pairs] if max_pairs > 0 else scored + unsafe


def judges_pairs(row: dict, min_margin: float, max_pairs: int, unsafe_rejected: bool, sft_min,
                 top: int = 1, min_chosen: float = float("-inf"), accept=None) -> list:
    """One generation's pairs from the service's ranking (see the module docstring)."""
    if row.get("chosen") is None:
        return []
    cands = {c["index"]: c for c in row["candidates"]}
    if cands[row["chosen"]]["verdict"] != "safe":
        raise ValueError(f"generation {row['id']}: chosen candidate {row['chosen']} is {cands[row['chosen']]['verdict']}")
    ranked = sorted((c for c in row["candidates"] if c.get("rank") is not None), key=lambda c: c["rank"])
    if accept is not None:
        return accepted_pairs(row, ranked, accept, min_margin, max_pairs, unsafe_rejected)
    out = []
    for best in ranked[:top]:
        top_score = best["scores"].get("combined")
        if best.get("latent_row") is None or top_score is None or top_score < min_chosen:
            continue
        picked = rejected_for(row, best, min_margin, max_pairs, unsafe_rejected)
        out += [pair_row(row, "judges", side(row, best), side(row, c), m) for m, c in picked]
        if not picked and sft_min is not None and top_score >= sft_min:
            out.append(pair_row(row, "judges", side(row, best), None, None))
    return out


def accepted_pairs(row: dict, ranked: list, accept: tuple, min_margin: float, max_pairs: int,
                   unsafe_rejected: bool) -> list:
    """--accept NAME=MIN: every safe candidate whose NAME score is at least MIN is chosen; each is
    paired with every finished safe candidate below MIN whose combined score is at least min_margin
    lower (and unsafe ones with unsafe_rejected); an accepted candidate without a pair gives an
    SFT-only row, so every accepted candidate is in the output exactly once as a chosen side."""
    name, least = accept

    def ok(c):
        v = c["scores"].get(name)
        return v is not None and v >= least

    out = []
    for best in ranked:
        if best.get("latent_row") is None or not ok(best):
            continue
        picked = rejected_for(row, best, min_margin, max_pairs, unsafe_rejected, safe_ok=lambda c: not ok(c))
        out += [pair_row(row, "judges", side(row, best), side(row, c), m) for m, c in picked]
        if not picked:
            out.append(pair_row(row, "judges", side(row, best), None, None))
    return out


def people_pairs(pick: dict, traffic: dict, feedback_dir: str) -> list:
    """One feedback pick's pairs: chosen against each rejected index."""
    row = traffic.get(pick["generation_id"])
    cands = {c["index"]: c for c in row["candidates"]} if row else {}

    def one(i):
        key = str(i)
        c = cands.get(i)
        if c is not None and c.get("latent_row") is not None:
            return side(row, c)
        return {"index": i, "seed": pick["seeds"].get(key), "scores": pick.get("scores", {}).get(key),
                "image": os.path.abspath(os.path.join(feedback_dir, pick["shown_files"][key]))}

    base = row or {"id": pick["generation_id"], "prompt": pick["prompt"],
                   "negative_prompt": pick.get("negative_prompt"), "settings": pick.get("settings")}
    out = []
    win = one(pick["chosen"])
    for j in pick["rejected"]:
        lose = one(j)
        a, b = (win.get("scores") or {}).get("combined"), (lose.get("scores") or {}).get("combined")
        out.append(pair_row(base, "people", win, lose, a - b if a is not None and b is not None else None))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("traffic_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--feedback", help="winnow.feedback.dir: people's picks")
    ap.add_argument("--min-margin", type=float, default=0.3)
    ap.add_argument("--max-pairs", type=int, default=0, help="judges' pairs per generation, largest margins first (0: all)")
    ap.add_argument("--unsafe-rejected", action="store_true", help="pair the top candidate against unsafe ones too")
    ap.add_argument("--sft-rows", type=float, metavar="MIN_COMBINED",
                    help="a chosen-only row for a generation without a pair whose top combined score is at least this")
    ap.add_argument("--top", type=int, default=1, help="the ranking's top TOP safe candidates each serve as chosen")
    ap.add_argument("--min-chosen", type=float, default=float("-inf"), help="a chosen side's least combined score")
    ap.add_argument("--accept", metavar="SCORE=MIN",
                    help="rejection sampling by one judge: every safe candidate whose SCORE (e.g. faithfulness) is at "
                         "least MIN is chosen, against the candidates below MIN (replaces --top/--min-chosen/--sft-rows)")
    ap.add_argument("--pipeline-version", help="keep only traffic made by this pipeline version")
    a = ap.parse_args()
    accept = None
    if a.accept:
        name, _, least = a.accept.partition("=")
        try:
            accept = (name.strip(), float(least))
        except ValueError:
            ap.error("--accept wants SCORE=MIN, e.g. faithfulness=0.5")
    traffic = read_traffic(a.traffic_dir)
    versions = Counter((r.get("pipeline") or {}).get("version") for r in traffic.values())
    print(f"{len(traffic)} generations in {a.traffic_dir}: " + ", ".join(f"{v}: {n}" for v, n in versions.items()))
    if a.pipeline_version:
        traffic = {k: r for k, r in traffic.items() if (r.get("pipeline") or {}).get("version") == a.pipeline_version}
    os.makedirs(a.out_dir, exist_ok=True)
    root = os.path.abspath(a.traffic_dir)
    counts = Counter()
    with open(os.path.join(a.out_dir, "pairs.jsonl"), "w", encoding="utf-8") as out:
        def write(pairs):
            for p in pairs:
                for s in (p["chosen"], p["rejected"]):
                    if s and "latent" in s and not os.path.isabs(s["latent"][0]):
                        s["latent"][0] = os.path.join(root, s["latent"][0])  # absolute: OUT_DIR may live anywhere
                counts[(p["source"], "pairs" if p["rejected"] else "sft rows")] += 1
                out.write(json.dumps(p) + "\n")

        for row in traffic.values():
            pairs = judges_pairs(row, a.min_margin, a.max_pairs, a.unsafe_rejected, a.sft_rows, a.top, a.min_chosen,
                                 accept)
            counts["generations with a row"] += bool(pairs)
            counts["generations without a safe candidate"] += row.get("chosen") is None
            write(pairs)
        if a.feedback:
            for base, pick in feedback_to_pairs.read_picks(a.feedback):  # every replica's part
                if a.pipeline_version and pick["generation_id"] not in traffic:
                    counts["people's picks of other pipeline versions"] += 1
                    continue
                write(people_pairs(pick, traffic, base))
    print(f"{len(traffic)} generations used -> {os.path.join(a.out_dir, 'pairs.jsonl')}: "
          + ", ".join(f"{' '.join(k) if isinstance(k, tuple) else k}: {n}" for k, n in sorted(counts.items(), key=str)))


if __name__ == "__main__":
    main()
