"""Preference pairs from Winnow's feedback folder, in Pick-a-Pic's columns (what Diffusion-DPO trains on).

    python models/tools/feedback_to_pairs.py FEEDBACK_DIR OUT_DIR

FEEDBACK_DIR is `winnow.feedback.dir`: an imagefolder dataset (`metadata.jsonl`, one row per
candidate a person was shown, `chosen` true for the one they preferred, PNGs under `images/`).
Every pick becomes one pair per candidate not chosen: the chosen image against it, the chosen one
on a side drawn at random (seeded), so that a model cannot learn "the left one wins". OUT_DIR gets
`pairs.jsonl` with Pick-a-Pic v2's column convention

    caption, jpg_0, jpg_1, label_0, label_1   (+ generation_id, seed_0, seed_1)

where jpg_0/jpg_1 name JPEG files written beside it (quality 95, as Pick-a-Pic stores them) and
label_0/label_1 say which side was preferred (1 and 0, or 0 and 1). Load it with the `datasets`
library: load_dataset("json", data_files="OUT_DIR/pairs.jsonl"), then cast jpg_0/jpg_1 to
Image() after joining OUT_DIR to their paths. Standard library and Pillow only.
"""
from __future__ import annotations

import argparse
import json
import os
import random
from collections import defaultdict

from PIL import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("feedback_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0, help="for the sides of each pair")
    a = ap.parse_args()
    picks = defaultdict(list)
    with open(os.path.join(a.feedback_dir, "metadata.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                picks[row["generation_id"]].append(row)
    os.makedirs(os.path.join(a.out_dir, "images"), exist_ok=True)
    rng = random.Random(a.seed)
    written = 0

    def jpeg(row):
        name = os.path.join("images", os.path.splitext(os.path.basename(row["file_name"]))[0] + ".jpg")
        path = os.path.join(a.out_dir, name)
        if not os.path.exists(path):
            Image.open(os.path.join(a.feedback_dir, row["file_name"])).convert("RGB").save(path, quality=95)
        return name

    with open(os.path.join(a.out_dir, "pairs.jsonl"), "w", encoding="utf-8") as out:
        for generation, rows in picks.items():
            chosen = [r for r in rows if r["chosen"]]
            if len(chosen) != 1:
                continue  # not a complete pick
            win = chosen[0]
            for lose in (r for r in rows if not r["chosen"]):
                left, right = (win, lose) if rng.random() < 0.5 else (lose, win)
                out.write(json.dumps({
                    "caption": win["prompt"], "jpg_0": jpeg(left), "jpg_1": jpeg(right),
                    "label_0": int(left is win), "label_1": int(right is win),
                    "generation_id": generation, "seed_0": left["seed"], "seed_1": right["seed"],
                }) + "\n")
                written += 1
    print(f"{len(picks)} picks -> {written} pairs in {os.path.join(a.out_dir, 'pairs.jsonl')}")


if __name__ == "__main__":
    main()
