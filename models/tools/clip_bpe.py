"""CLIP's byte-level BPE tokenizer, and a builder for small vocabularies in its format.

`ClipTokenizer` follows OpenAI CLIP's `simple_tokenizer.py` (lower-casing, whitespace
clean-up, its pre-tokenisation regex, `</w>` word ends, start/end tokens, 77 tokens).
It reads the Hugging Face files (`vocab.json`, `merges.txt`) that Stable Diffusion
exports carry, so the same code checks itself against the real CLIP vocabulary
(`python clip_bpe.py --golden ../../../shared/clip-tokenizer`) and tokenizes for the
shapes-scenes pack, whose vocabulary `build_vocab` learns from the scenes captions.
"""
from __future__ import annotations

import argparse
import html
import json
import os
from collections import Counter

import regex

START, END = "<|startoftext|>", "<|endoftext|>"
PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE)


def bytes_to_unicode() -> dict:
    """CLIP/GPT-2's reversible byte -> printable unicode character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def clean(text: str) -> str:
    text = html.unescape(html.unescape(text)).strip()
    return regex.sub(r"\s+", " ", text).strip().lower()


class ClipTokenizer:
    def __init__(self, folder: str, max_length: int = 77):
        with open(os.path.join(folder, "vocab.json"), encoding="utf-8") as f:
            self.encoder = json.load(f)
        with open(os.path.join(folder, "merges.txt"), encoding="utf-8") as f:
            lines = f.read().split("\n")
        merges = [tuple(l.split()) for l in lines[1:] if l.strip()]
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.byte_encoder = bytes_to_unicode()
        self.max_length = max_length
        self.start_id, self.end_id = self.encoder[START], self.encoder[END]
        self.cache = {}

    def bpe(self, token: str) -> list:
        if token in self.cache:
            return self.cache[token]
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        self.cache[token] = word
        return word

    def encode_unpadded(self, text: str) -> list:
        """Start token, BPE ids, end token; truncated to max_length with the end token kept."""
        ids = []
        for tok in PATTERN.findall(clean(text)):
            tok = "".join(self.byte_encoder[b] for b in tok.encode("utf-8"))
            ids.extend(self.encoder[p] for p in self.bpe(tok))
        ids = [self.start_id] + ids[: self.max_length - 2] + [self.end_id]
        return ids

    def __call__(self, text: str, pad_id: int | None = None) -> list:
        ids = self.encode_unpadded(text)
        pad = self.end_id if pad_id is None else pad_id
        return ids + [pad] * (self.max_length - len(ids))


def build_vocab(words: Counter, out_dir: str, extra_words=()) -> None:
    """Learn BPE merges until every word of `words` is a single token; write CLIP's files.

    The id layout copies CLIP's: 256 byte symbols, the same 256 with `</w>`, one id per
    merge in merge order, then <|startoftext|> and <|endoftext|>. Any text still
    tokenizes (unknown words fall back to smaller pieces, down to single bytes).
    """
    byte_chars = list(bytes_to_unicode().values())
    vocab = byte_chars + [c + "</w>" for c in byte_chars]
    for w in extra_words:
        words[w] += 1
    seqs = {w: list(w[:-1]) + [w[-1] + "</w>"] for w in words}
    merges = []
    while True:
        pairs = Counter()
        for w, seq in seqs.items():
            for i in range(len(seq) - 1):
                pairs[(seq[i], seq[i + 1])] += words[w]
        if not pairs:
            break
        best = max(sorted(pairs), key=lambda p: pairs[p])  # deterministic tie-break
        merges.append(best)
        vocab.append(best[0] + best[1])
        for w, seq in seqs.items():
            merged, i = [], 0
            while i < len(seq):
                if i < len(seq) - 1 and (seq[i], seq[i + 1]) == best:
                    merged.append(seq[i] + seq[i + 1])
                    i += 2
                else:
                    merged.append(seq[i])
                    i += 1
            seqs[w] = merged
    vocab += [START, END]
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({t: i for i, t in enumerate(vocab)}, f, ensure_ascii=False)
    with open(os.path.join(out_dir, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--golden", help="folder with CLIP's vocab.json, merges.txt, golden-public.jsonl")
    args = ap.parse_args()
    tok = ClipTokenizer(args.golden)
    n = bad = 0
    with open(os.path.join(args.golden, "golden-public.jsonl"), encoding="utf-8") as f:
        for line in f:
            case = json.loads(line)
            got = tok.encode_unpadded(case["text"])
            n += 1
            if got != case["input_ids"]:
                bad += 1
                print("MISMATCH", repr(case["text"]), got, case["input_ids"])
    print(f"{n - bad}/{n} golden tokenizations match")
