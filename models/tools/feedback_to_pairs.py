"""Preference pairs from Winnow's feedback folder, in Pick-a-Pic's columns (what Diffusion-DPO trains on).

    python models/tools/feedback_to_pairs.py FEEDBACK_DIR OUT_DIR

FEEDBACK_DIR is `winnow.feedback.dir`: an imagefolder dataset whose `metadata.jsonl` has one line
per pick (`file_name` the chosen image, `chosen` and `rejected` candidate indices, `shown_files`
and `seeds` by index, the prompt and settings), PNGs under `images/`. Every pick becomes one pair
per rejected candidate: the chosen image against it, the chosen one on a side drawn at random
(seeded), so that a model cannot learn "the left one wins". OUT_DIR gets `pairs.jsonl` with
Pick-a-Pic v2's column convention

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

from PIL import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("feedback_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0, help="for the sides of each pair")
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out_dir, "images"), exist_ok=True)
    rng = random.Random(a.seed)
    picks = written = 0

    def jpeg(file_name):
        name = os.path.join("images", os.path.splitext(os.path.basename(file_name))[0] + ".jpg")
        path = os.path.join(a.out_dir, name)
        if not os.path.exists(path):
            Image.open(os.path.join(a.feedback_dir, file_name)).convert("RGB").save(path, quality=95)
        return name

    with open(os.path.join(a.feedback_dir, "metadata.jsonl"), encoding="utf-8") as f, \
            open(os.path.join(a.out_dir, "pairs.jsonl"), "w", encoding="utf-8") as out:
        for line in f:
            if not line.strip():
                continue
            pick = json.loads(line)
            picks += 1
            win = str(pick["chosen"])
            for lose in map(str, pick["rejected"]):
                left, right = (win, lose) if rng.random() < 0.5 else (lose, win)
                out.write(json.dumps({
                    "caption": pick["prompt"],
                    "jpg_0": jpeg(pick["shown_files"][left]), "jpg_1": jpeg(pick["shown_files"][right]),
                    "label_0": int(left == win), "label_1": int(right == win),
                    "generation_id": pick["generation_id"],
                    "seed_0": pick["seeds"][left], "seed_1": pick["seeds"][right],
                }) + "\n")
                written += 1
    print(f"{picks} picks -> {written} pairs in {os.path.join(a.out_dir, 'pairs.jsonl')}")


if __name__ == "__main__":
    main()
