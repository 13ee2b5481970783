"""Preference pairs from Winnow's feedback folder, in Pick-a-Pic's columns (what Diffusion-DPO trains on).

    python models/tools/feedback_to_pairs.py FEEDBACK_DIR OUT_DIR

FEEDBACK_DIR is `winnow.feedback.dir`: one imagefolder dataset per service process that took picks,
`parts/<host>-<start>-<pid>/` (replicas sharing the folder each append to their own part only),
each a `metadata.jsonl` with one line per pick (`file_name` the chosen image, `chosen` and `rejected`
candidate indices, `shown_files` and `seeds` by index, the prompt and settings) and PNGs under its
`images/`, the file names relative to that part; a `metadata.jsonl` at the top (folders written
before parts) is read too. `read_picks` reads them all as one dataset, the first row of a
`generation_id` only (a pick is accepted once; a second row could only come from a recorder that
stalled past its claim's timeout and then resumed). Hidden folders (`.held/`, `.picks/`: generations
waiting for a pick) are not data. Every pick becomes one pair
per rejected candidate: the chosen image against it, the chosen one on a side drawn at random
(seeded), so that a model cannot learn "the left one wins". OUT_DIR gets `pairs.jsonl` with
Pick-a-Pic v2's column convention

    caption, jpg_0, jpg_1, label_0, label_1   (+ generation_id, seed_0, seed_1)

where jpg_0/jpg_1 name JPEG files written beside it (quality 95, as Pick-a-Pic stores them) and
label_0/label_1 say which side was preferred (1 and 0, or 0 and 1). Load it with the `datasets`
library: load_dataset("json", data_files="OUT_DIR/pairs.jsonl"), then cast jpg_0/jpg_1 to
Image() after joining OUT_DIR to their paths. Standard library and Pillow only (`read_picks`: the
standard library alone).
"""
from __future__ import annotations

import argparse
import json
import os
import random


def metadata_files(feedback_dir: str) -> list:
    """Every metadata.jsonl of the folder: the top one (folders written before parts), then each part's, by name."""
    found = []
    top = os.path.join(feedback_dir, "metadata.jsonl")
    if os.path.isfile(top):
        found.append(top)
    parts = os.path.join(feedback_dir, "parts")
    if os.path.isdir(parts):
        for name in sorted(os.listdir(parts)):
            meta = os.path.join(parts, name, "metadata.jsonl")
            if not name.startswith(".") and os.path.isfile(meta):
                found.append(meta)
    return found


def read_picks(feedback_dir: str):
    """(the folder its file names are relative to, the row) for each pick of every part, the first row of an id only."""
    seen = set()
    for meta in metadata_files(feedback_dir):
        base = os.path.dirname(meta)
        with open(meta, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    pick = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a row cut short by a crash: the service starts the next row on a line of its own
                if pick["generation_id"] in seen:
                    continue
                seen.add(pick["generation_id"])
                yield base, pick


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("feedback_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0, help="for the sides of each pair")
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out_dir, "images"), exist_ok=True)
    rng = random.Random(a.seed)
    picks = written = 0

    def jpeg(base, file_name):
        from PIL import Image
        name = os.path.join("images", os.path.splitext(os.path.basename(file_name))[0] + ".jpg")
        path = os.path.join(a.out_dir, name)
        if not os.path.exists(path):
            Image.open(os.path.join(base, file_name)).convert("RGB").save(path, quality=95)
        return name

    with open(os.path.join(a.out_dir, "pairs.jsonl"), "w", encoding="utf-8") as out:
        for base, pick in read_picks(a.feedback_dir):
            picks += 1
            win = str(pick["chosen"])
            for lose in map(str, pick["rejected"]):
                left, right = (win, lose) if rng.random() < 0.5 else (lose, win)
                out.write(json.dumps({
                    "caption": pick["prompt"],
                    "jpg_0": jpeg(base, pick["shown_files"][left]), "jpg_1": jpeg(base, pick["shown_files"][right]),
                    "label_0": int(left == win), "label_1": int(right == win),
                    "generation_id": pick["generation_id"],
                    "seed_0": pick["seeds"][left], "seed_1": pick["seeds"][right],
                }) + "\n")
                written += 1
    print(f"{picks} picks -> {written} pairs in {os.path.join(a.out_dir, 'pairs.jsonl')}")


if __name__ == "__main__":
    main()
