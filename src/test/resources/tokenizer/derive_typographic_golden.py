"""Derives typographic-golden.jsonl: CLIP reference ids for text as phones and web pages write it.

No reference implementation was run for these cases (ftfy is not installed where they were
written). Each case states, in "fixed", the text that OpenAI CLIP's simple_tokenizer cleans
the input into, derived by hand from the documented rules:
  basic_clean:      ftfy.fix_text (6.3 defaults), then html.unescape twice, then strip
  whitespace_clean: every run of Unicode whitespace (\\s of the `regex` module) to one space
  then .lower()
and "why" names the rule. The ids are then CLIP's BPE of the fixed text, computed here with a
transcription of simple_tokenizer.py's pre-tokenisation pattern and bpe() over the real CLIP
vocabulary (../shared/clip-tokenizer, the Hugging Face files of the same BPE). Two cases are
checked against golden-public.jsonl (which did come from the reference) below.
Run from the repository root: /work/venv/bin/python src/test/resources/tokenizer/derive_typographic_golden.py
(needs the `regex` module, as simple_tokenizer.py does).
"""
import json
import regex as re

CLIP = "../shared/clip-tokenizer/"
vocab = json.load(open(CLIP + "vocab.json", encoding="utf-8"))
merges = [tuple(l.split()) for l in open(CLIP + "merges.txt", encoding="utf-8").read().split("\n")[1:] if l.strip()]
ranks = dict(zip(merges, range(len(merges))))
PAT = re.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""", re.IGNORECASE)
SPECIAL = {"<|startoftext|>": "<|startoftext|>", "<|endoftext|>": "<|endoftext|>"}


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_ENCODER = bytes_to_unicode()


def bpe(token):  # simple_tokenizer.SimpleTokenizer.bpe
    if token in SPECIAL:
        return SPECIAL[token]
    word = tuple(token[:-1]) + (token[-1] + "</w>",)
    pairs = {(a, b) for a, b in zip(word, word[1:])}
    if not pairs:
        return token + "</w>"
    while True:
        bigram = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if bigram not in ranks:
            break
        first, second = bigram
        new_word = []
        i = 0
        while i < len(word):
            try:
                j = word.index(first, i)
                new_word.extend(word[i:j])
                i = j
            except ValueError:
                new_word.extend(word[i:])
                break
            if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                new_word.append(first + second)
                i += 2
            else:
                new_word.append(word[i])
                i += 1
        word = tuple(new_word)
        if len(word) == 1:
            break
        pairs = {(a, b) for a, b in zip(word, word[1:])}
    return " ".join(word)


def encode_clean(fixed):
    """simple_tokenizer.encode on text that basic_clean has already fixed (whitespace_clean and lower applied here)."""
    text = re.sub(r"\s+", " ", fixed).strip().lower()
    ids = [49406]
    for token in re.findall(PAT, text):
        token = "".join(BYTE_ENCODER[b] for b in token.encode("utf-8"))
        ids.extend(vocab[t] for t in bpe(token).split(" "))
    return ids + [49407]


CASES = [
    # (text, fixed, why)
    ("don\u2019t stop: it\u2019s 3.14159", "don't stop: it's 3.14159", "ftfy uncurl_quotes: U+2019 to '"),
    ("\u201ca red circle\u201d on a \u2018white\u2019 background", '"a red circle" on a \'white\' background',
     "ftfy uncurl_quotes: U+201C/U+201D to \", U+2018/U+2019 to '"),
    ("\u201eGuten Tag\u201f und \u201aja\u201b", '"Guten Tag" und \'ja\'', "ftfy uncurl_quotes: U+201E/U+201F, U+201A/U+201B"),
    ("\ufb01sh and \ufb02owers in a \ufb01eld, o\ufb03ce wa\ufb04e", "fish and flowers in a field, office waffle",
     "ftfy fix_latin_ligatures: U+FB01 fi, U+FB02 fl, U+FB03 ffi, U+FB04 ffl"),
    ("\uff21\uff22\uff23 \uff52\uff45\uff44\u3000\uff43\uff49\uff52\uff43\uff4c\uff45\uff01 \uff11\uff12\uff13",
     "ABC red circle! 123", "ftfy fix_character_width: U+FF01..FFEF to their NFKC form, U+3000 to a space"),
    ("\uff76\uff80\uff76\uff85 tower", "\u30ab\u30bf\u30ab\u30ca tower", "ftfy fix_character_width: half-width katakana to full width"),
    ("a\u00a0red\u00a0circle on\u202fwhite", "a red circle on white",
     "whitespace_clean: NBSP and NARROW NBSP are Unicode whitespace"),
    ("\ufeffa red circle", "a red circle", "ftfy remove_control_chars: the byte order mark"),
    ("salt &amp; pepper", "salt & pepper", "ftfy unescape_html (no '<' in the text)"),
    ("caf&eacute; au lait &amp; cr&egrave;me br&ucirc;l&eacute;e", "caf\u00e9 au lait & cr\u00e8me br\u00fbl\u00e9e",
     "ftfy unescape_html: the HTML5 named entities"),
    ("R&amp;amp;D &amp;lt;3", "R&D <3", "ftfy repeats unescape_html until nothing changes"),
    ("don&#8217;t &#x201C;quote&#x201D;", "don't \"quote\"", "ftfy unescape_html (numeric), then uncurl_quotes"),
    ("fish &amp chips &copy 2024", "fish & chips \u00a9 2024",
     "html.unescape: legacy entities without ';' (ftfy leaves them, CLIP's own unescape decodes them)"),
    ("<b>bold</b> &amp;amp;lt; brave", "<b>bold</b> &lt; brave",
     "ftfy skips HTML when the text has '<'; html.unescape twice takes two levels only"),
    ("a&nbsp;red&nbsp;circle", "a red circle", "ftfy unescape_html: &nbsp; is U+00A0, then whitespace_clean"),
    ("P&EACUTE;REZ", "P\u00c9REZ", "ftfy unescape_html: all-caps forms of lower-case entity names"),
    ("\u0093quoted\u0094 text", '"quoted" text', "ftfy fix_c1_controls: C1 as Windows-1252, then uncurl_quotes"),
    ("a photo <|endoftext|> of a cat", "a photo <|endoftext|> of a cat",
     "CLIP's pattern: a literal special token is one token (its BPE cache holds it)"),
    ("<|startoftext|>hello <|ENDOFTEXT|>", "<|startoftext|>hello <|ENDOFTEXT|>",
     "lower() runs before the pattern, so any case of a special token is the token"),
    ("wait\u2026 \u2014 now", "wait\u2026 \u2014 now", "ftfy leaves the ellipsis and the em dash (NFC, not NFKC)"),
    ("rouge c\u0153ur \U0001F642 \u65e5\u672c", "rouge c\u0153ur \U0001F642 \u65e5\u672c",
     "nothing to fix: UTF-8 bytes through CLIP's byte-level BPE"),
    ("cafe\u0301 cre\u0300me", "caf\u00e9 cr\u00e8me", "ftfy's NFC composes the accents"),
]

if __name__ == "__main__":
    public = {json.loads(l)["text"]: json.loads(l)["input_ids"] for l in open(CLIP + "golden-public.jsonl", encoding="utf-8")}
    assert encode_clean("don't stop: it's 3.14159") == public["don't stop: it's 3.14159"]
    assert encode_clean("caf\u00e9 cr\u00e8me br\u00fbl\u00e9e") == public["caf\u00e9 cr\u00e8me br\u00fbl\u00e9e"]
    with open("src/test/resources/tokenizer/typographic-golden.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for text, fixed, why in CASES:
            f.write(json.dumps({"text": text, "fixed": fixed, "why": why, "input_ids": encode_clean(fixed)}) + "\n")
    print(len(CASES), "cases")
