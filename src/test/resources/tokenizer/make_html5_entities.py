"""Writes src/main/resources/dev/winnow/tokenizer/html5-entities.tsv: Python's html.entities.html5.

That dictionary is the WHATWG HTML5 named character reference table that `html.unescape`
(used twice by OpenAI CLIP's simple_tokenizer) and ftfy's `unescape_html` decode with. One
line per name, in Python's order: the name as Python keys it (with its ';' when the
standard requires one; 106 legacy names also appear without), a tab, and the code points
it stands for in hex, space-separated.
Run from the repository root with any Python 3.9+: python3 src/test/resources/tokenizer/make_html5_entities.py
"""
import html.entities

with open("src/main/resources/dev/winnow/tokenizer/html5-entities.tsv", "w", encoding="ascii", newline="\n") as f:
    for name, text in html.entities.html5.items():
        f.write(name + "\t" + " ".join("%x" % ord(c) for c in text) + "\n")
