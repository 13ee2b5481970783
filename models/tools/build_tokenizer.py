"""Write the tiny-shapes pack's tokenizer files (CLIP BPE format) and their configs.

The vocabulary is learned from the shapes-world captions plus a few common prompt
words, so every world word is one token, as in CLIP; anything else still tokenizes
into smaller pieces.
"""
import json
import os
import sys
from collections import Counter

import shapes_world as W
from clip_bpe import END, START, ClipTokenizer, build_vocab

EXTRA = ["a", "an", "the", "of", "on", "with", "and", "in", "photo", "picture", "image",
         "drawing", "shape", "colour", "color", "grey", "big", "small", "large", "centred",
         "centered", "background"]


def caption_words() -> Counter:
    words = Counter()
    for shape in W.SHAPES:
        for colour in W.COLOURS:
            for bg in W.BACKGROUNDS:
                spec = W.Spec(shape, colour, bg, 0.5, 32, 32, (0, 0, 0))
                for form in range(3):
                    words.update(spec.caption(form).split())
    return words


def write(pack_dir: str) -> None:
    out = os.path.join(pack_dir, "tokenizer")
    build_vocab(caption_words(), out, EXTRA)
    with open(os.path.join(out, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": START, "eos_token": END, "pad_token": END, "unk_token": END}, f, indent=2)
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "do_lower_case": True,
                   "bos_token": START, "eos_token": END, "pad_token": END, "unk_token": END}, f, indent=2)
    tok = ClipTokenizer(out)
    print("vocab size", len(tok.encoder), "e.g.", tok.encode_unpadded("A red circle on a white background"))


if __name__ == "__main__":
    write(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tiny-shapes"))
