"""Binding pairs by relabelling: every right two-object candidate in the traffic is read again, by the
verifier, against the captions that name the same objects differently; it is a chosen side where the
verifier accepts it and a rejected side where the verifier rejects it.

    python models/tools/relabel_pairs.py TRAFFIC_DIR [TRAFFIC_DIR ...] OUT_DIR
        [--pack-of VERSION=PACK ...] [--pipeline-version V] [--accept 0.95] [--reject 0.05]
        [--per-caption 24] [--no-mirror]

Why. The judges' pairs (traffic_to_pairs.py) contrast candidates of one request: for "a red circle
to the left of a blue square" the chosen one is right and the rejected one is usually wrong in
every way at once (an object missing, a colour off). Round 1 and 2 of the loop fixed those
whole-image failures and barely moved binding (position best-of-1 0.25 -> 0.33). A pair that
teaches binding holds everything but the binding fixed: the same picture is right for "a red
circle to the left of a blue square" and wrong for "a red circle to the right of a blue square"
or "a blue circle to the left of a red square". Hindsight relabelling (as hindsight experience
replay relabels goals; Andrychowicz et al. 2017) gives such pairs for free: under the caption P',
a candidate made for its sibling P that the verifier rejects for P' is the rejected side, and a
candidate the verifier accepts for P' (made for P' itself, for a sibling that says the same thing
in other words, "B to the right of A", or for a colour_attr prompt whose layout happens to fit)
is the chosen side.

What is read. Every safe candidate whose `faithfulness` is at least --accept for its own prompt,
of the color_attr and position categories (two coloured objects), from each TRAFFIC_DIR (only
--pipeline-version's generations, when given); its final latents are decoded with its pipeline's
VAE (the pack of the row's pipeline version, v1 being models/shapes-scenes). With
mirroring on (the default), each one's latents are also flipped left to right: the world's shapes
(circle, square, upright triangle) are mirror-symmetric, so the mirrored picture is a candidate
for the mirrored prompt (left and right swapped); the decoded mirror is read by the verifier like
any other, so a flip the VAE does not honour is simply rejected or not used. Candidates are
grouped by their two (colour, shape) objects' colours, shapes and background; every caption the
benchmark's grammar makes from a group (both objects' orders, the four relations, the colours
swapped between the shapes, and the color_attr forms) that is not a held-out prompt is scored
against every picture of the group.

Pairs: per caption, pictures the verifier scores at least --accept are chosen, at most --reject
rejected; each rejected picture is paired with a chosen one (round robin over a seeded shuffle),
at most --per-caption pairs a caption. Nothing here reads the reference checker: the verifier
(the service's faithfulness judge) is the only signal, as in traffic_to_pairs.py.

Output: OUT_DIR/pairs.jsonl in traffic_to_pairs.py's format (source "judges", the pair's
generation_id "relabel:<caption>", each side's latent [npy, row] and "relabelled_from": the prompt
it was made for, and "mirrored": true for a flipped one), OUT_DIR/mirrored.npy (the flipped
latents), and OUT_DIR/summary.json.
"""
from __future__ import annotations

import argparse
import json
import os
from collections import Counter, defaultdict

import numpy as np

import scenes_world as W
from service_twin import Pipelines, ScoreJudge
from traffic_to_pairs import read_traffic

VERIFIER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "judges", "scenes-verifier")
SWAPPED_IN_A_MIRROR = {"to the left of": "to the right of", "to the right of": "to the left of"}


def mirrored_prompt(prompt: str) -> str:
    """The prompt a picture's left-right mirror shows: "left of" and "right of" swapped (the world's
    shapes are mirror-symmetric, so nothing else changes)."""
    for a, b in SWAPPED_IN_A_MIRROR.items():
        if f" {a} " in prompt:
            return prompt.replace(f" {a} ", f" {b} ", 1)
    return prompt


def two_objects(prompt: str):
    """((colour, shape), (colour, shape), relation or None, background or None) of a two-object
    coloured prompt in the benchmark's forms, else None."""
    try:
        req = W.parse_prompt(prompt)
    except ValueError:
        return None
    objs = req.objects
    if len(objs) != 2 or any(o.colour is None or o.shape not in W.SHAPES or o.size for o in objs):
        return None
    rel, bg = req.relation, req.background
    return (objs[0].colour, objs[0].shape), (objs[1].colour, objs[1].shape), rel, bg


def caption(a, b, relation, background) -> str:
    body = f"a {a[0]} {a[1]} {relation} a {b[0]} {b[1]}" if relation else f"a {a[0]} {a[1]} and a {b[0]} {b[1]}"
    return body + (f" on a {background} background" if background else "")


def group_key(a, b, background):
    return tuple(sorted({a[0], b[0]})), tuple(sorted({a[1], b[1]})), background


def sibling_captions(a, b, background) -> list:
    """Every benchmark-form caption over the same two colours and shapes: both orders, the four
    relations and the color_attr form, with the colours as given and swapped between the shapes."""
    out = []
    for x, y in ((a, b), ((b[0], a[1]), (a[0], b[1]))):
        if x == y:
            continue
        for p, q in ((x, y), (y, x)):
            for rel in (None,) + W.RELATIONS:
                out.append(caption(p, q, rel, background))
    return sorted(set(out))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dirs", nargs="+", help="TRAFFIC_DIR ... OUT_DIR")
    ap.add_argument("--pack-of", action="append", default=[], metavar="VERSION=PACK")
    ap.add_argument("--pipeline-version", help="read only traffic made by this pipeline version")
    ap.add_argument("--verifier", default=VERIFIER)
    ap.add_argument("--accept", type=float, default=0.95)
    ap.add_argument("--reject", type=float, default=0.05)
    ap.add_argument("--per-caption", type=int, default=24)
    ap.add_argument("--no-mirror", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    *traffic_dirs, out_dir = a.dirs
    if not traffic_dirs:
        ap.error("give at least one TRAFFIC_DIR and the OUT_DIR")
    pipes = Pipelines(a.pack_of, a.threads)
    held = {" ".join(p.lower().split()) for _, p in W.heldout_prompts()}
    os.makedirs(out_dir, exist_ok=True)
    verifier = ScoreJudge(a.verifier, a.threads)
    counts = Counter()

    # 1. The pictures: accepted two-object candidates (and their mirrors), decoded, grouped.
    pictures = []  # dicts: side (pair-side JSON without latent for mirrors), group, image, latent array
    mirrored = []
    for d in traffic_dirs:
        for row in read_traffic(d).values():
            parsed = two_objects(row["prompt"])
            if parsed is None:
                continue
            version = row["pipeline"]["version"]
            if a.pipeline_version and version != a.pipeline_version:
                counts["generations of other versions skipped"] += 1
                continue
            ok = [c for c in row["candidates"] if c["verdict"] == "safe" and c.get("latent_row") is not None
                  and (c["scores"].get("faithfulness") or 0) >= a.accept]
            if not ok:
                continue
            pipe = pipes.of(version, d)
            z = np.load(os.path.join(d, row["latents"]["file"]))[[c["latent_row"] for c in ok]]
            latent_file = os.path.abspath(os.path.join(d, row["latents"]["file"]))
            obj_a, obj_b, rel, bg = parsed
            key = group_key(obj_a, obj_b, bg)
            flips = [False] if a.no_mirror else [False, True]
            for flip in flips:
                zz = np.ascontiguousarray(z[..., ::-1]) if flip else z
                imgs = pipe.decode(zz)
                for c, lat, img in zip(ok, zz, imgs):
                    source = {"index": c["index"], "seed": c["seed"], "pipeline_version": version,
                              "relabelled_from": row["prompt"], "mirrored": flip}
                    if flip:
                        source["latent"] = [None, len(mirrored)]
                        mirrored.append(lat)
                    else:
                        source["latent"] = [latent_file, c["latent_row"]]
                    pictures.append({"side": source, "group": key, "image": img})
                    counts["pictures mirrored" if flip else "pictures"] += 1
    mirror_path = os.path.abspath(os.path.join(out_dir, "mirrored.npy"))
    if mirrored:
        np.save(mirror_path, np.stack(mirrored).astype(np.float32))
    for p in pictures:
        if p["side"]["latent"][0] is None:
            p["side"]["latent"][0] = mirror_path

    # 2. Each group's pictures read against each of its captions; pairs per caption.
    groups = defaultdict(list)
    for p in pictures:
        groups[p["group"]].append(p)
    rng = np.random.default_rng(a.seed)
    by_kind = Counter()
    with open(os.path.join(out_dir, "pairs.jsonl"), "w", encoding="utf-8") as out:
        for key in sorted(groups, key=str):
            members = groups[key]
            first = two_objects(members[0]["side"]["relabelled_from"])
            caps = [c for c in sibling_captions(first[0], first[1], first[3]) if c not in held]
            imgs = np.stack([m["image"] for m in members])
            for cap in caps:
                kind = "position" if two_objects(cap)[2] else "color_attr"
                s = verifier.normalised(imgs, [cap] * len(members))
                chosen = list(np.flatnonzero(s >= a.accept))
                rejected = list(np.flatnonzero(s <= a.reject))
                if not chosen or not rejected:
                    counts["captions without a pair"] += 1
                    continue
                rng.shuffle(chosen)
                rng.shuffle(rejected)
                for k, j in enumerate(rejected[:a.per_caption]):
                    i = chosen[k % len(chosen)]
                    w = dict(members[i]["side"], scores={"faithfulness": float(s[i])})
                    l = dict(members[j]["side"], scores={"faithfulness": float(s[j])})
                    out.write(json.dumps({
                        "caption": cap, "negative_prompt": "", "source": "judges",
                        "generation_id": f"relabel:{cap}", "pipeline_version": w["pipeline_version"],
                        "settings": None, "chosen": w, "rejected": l,
                        "margin": float(s[i] - s[j])}) + "\n")
                    counts["pairs"] += 1
                    by_kind[kind] += 1
                    counts["pairs with a mirrored side"] += bool(w["mirrored"] or l["mirrored"])
                    counts["pairs whose chosen side was made for another prompt"] += w["relabelled_from"] != cap
                counts["captions with pairs"] += 1
    summary = {"traffic": [os.path.abspath(d) for d in traffic_dirs], "groups": len(groups),
               "accept": a.accept, "reject": a.reject, "per_caption": a.per_caption, "mirror": not a.no_mirror,
               "counts": dict(counts), "pairs_by_caption_kind": dict(by_kind)}
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
