"""The "shapes scenes" world (version 2): renderer, prompt grammar and reference checker.

The contract is `shared/SCENES.md`: a plain background and one to four flat shapes
(circle, square, upright triangle) in six colours; prompts in GenEval's six categories
(single_object, colors, two_object, color_attr, counting, position). This module

  * renders scenes (`render`) at any canvas size S, anti-aliased by supersampling;
  * samples training scenes together with a caption that is true of them
    (`sample_scene`, `caption_for`), covering the benchmark's forms and partial
    descriptions of them (no colour, no article, size words, background, plurals);
  * parses a prompt into what it asks for (`parse_prompt`) and reads an image as
    SCENES.md describes (`read_image`), so `check(prompt, image)` says whether an image
    shows its prompt. The checker is for evaluation and data only: it never ranks a
    candidate inside the service.

    python models/tools/scenes_world.py          # checker accuracy on rendered scenes
"""
from __future__ import annotations

import dataclasses
import re

import numpy as np
from scipy import ndimage

COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 220, 40),
    "orange": (245, 140, 30),
    "purple": (140, 50, 170),
}
BACKGROUNDS = {
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "gray": (128, 128, 128),
}
SHAPES = ("circle", "square", "triangle")
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4}
RELATIONS = ("to the left of", "to the right of", "above", "below")
CATEGORIES = ("single_object", "colors", "two_object", "color_attr", "counting", "position")

SIZE_RANGE = (0.18, 0.42)
SIZE_BANDS = {"small": (0.18, 0.24), "large": (0.34, 0.42)}
MARGIN, GAP = 0.04, 0.08
REL_OFFSET = 0.15  # "A left of B": centre of A at least this far left of B's, and |dx| >= |dy|
FG_DISTANCE = 60.0  # an object pixel is this far (RGB) from the background
MIN_OBJECT_AREA = 0.5 * SIZE_RANGE[0] ** 2  # the smallest object: a small triangle
FILL_RATIO = {"circle": np.pi / 4, "square": 1.0, "triangle": 0.5}  # of the shape's own box

_PALETTE = np.array(list(COLOURS.values()), dtype=np.float64)
_BG_PALETTE = np.array(list(BACKGROUNDS.values()), dtype=np.float64)


# ---------------------------------------------------------------- scenes
@dataclasses.dataclass(frozen=True)
class Obj:
    shape: str
    colour: str
    size: float  # box side as a fraction of S
    cx: float  # box centre, fractions of S (y grows downwards)
    cy: float
    jitter: tuple = (0, 0, 0)

    def box(self):
        h = self.size / 2
        return self.cx - h, self.cy - h, self.cx + h, self.cy + h


@dataclasses.dataclass(frozen=True)
class Scene:
    background: str
    objects: tuple


def boxes_apart(a: Obj, b: Obj, gap: float = GAP) -> bool:
    ax0, ay0, ax1, ay1 = a.box()
    bx0, by0, bx1, by1 = b.box()
    dx = max(bx0 - ax1, ax0 - bx1)
    dy = max(by0 - ay1, ay0 - by1)
    return max(dx, dy) >= gap


def relation_holds(a, b, relation: str, offset: float = REL_OFFSET, dominance: float = 0.0) -> bool:
    """`a {relation} b` on box centres, as SCENES.md defines it (a, b: anything with cx, cy).

    Training data asks for a margin (a larger offset, and the main axis ahead by
    `dominance`) so that its captions are not borderline."""
    dx, dy = b.cx - a.cx, b.cy - a.cy  # b relative to a
    if relation == "to the left of":
        return dx >= offset and abs(dx) >= abs(dy) + dominance
    if relation == "to the right of":
        return -dx >= offset and abs(dx) >= abs(dy) + dominance
    if relation == "above":
        return dy >= offset and abs(dy) >= abs(dx) + dominance
    if relation == "below":
        return -dy >= offset and abs(dy) >= abs(dx) + dominance
    raise ValueError(relation)


def place(rng, sizes, tries=200, relation=None, rel_offset=0.18, dominance=0.04):
    """Centres for boxes of the given sizes, inside the margin and GAP apart (None if it fails)."""
    for _ in range(tries):
        objs = []
        for s in sizes:
            lo, hi = MARGIN + s / 2, 1 - MARGIN - s / 2
            ok = False
            for _ in range(50):
                o = Obj("circle", "red", s, float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi)))
                if all(boxes_apart(o, p) for p in objs):
                    objs.append(o)
                    ok = True
                    break
            if not ok:
                break
        if len(objs) == len(sizes) and (relation is None or relation_holds(objs[0], objs[1], relation, rel_offset, dominance)):
            return [(o.cx, o.cy) for o in objs]
    return None


def _size(rng, band=None):
    lo, hi = SIZE_BANDS.get(band, SIZE_RANGE)
    return float(rng.uniform(lo, hi))


def make_scene(rng, background, specs, relation=None, margin=True):
    """specs: list of (shape, colour, size_band or None). Retries with smaller objects if crowded.

    With a relation, the pair is laid out with a margin (training data) or, with
    margin=False, anywhere SCENES.md's definition allows (ground truth for the checker)."""
    for attempt in range(20):
        sizes = []
        for _, _, band in specs:
            s = _size(rng, band)
            if band is None and attempt > 3:  # crowded: shrink the free-size objects
                s = SIZE_RANGE[0] + (s - SIZE_RANGE[0]) * 0.5 ** (attempt - 3)
            sizes.append(s)
        centres = place(rng, sizes, relation=relation, **({} if margin else {"rel_offset": REL_OFFSET, "dominance": 0.0}))
        if centres is not None:
            objs = tuple(Obj(sh, co, sz, cx, cy, tuple(int(j) for j in rng.integers(-12, 13, size=3)))
                         for (sh, co, _), sz, (cx, cy) in zip(specs, sizes, centres))
            return Scene(background, objs)
    raise RuntimeError(f"could not place {specs}")


# ---------------------------------------------------------------- rendering
def _coverage(o: Obj, S: int, ss: int = 4):
    """Anti-aliased coverage of one object, on the pixel window around its box."""
    x0 = max(0, int(np.floor((o.cx - o.size / 2) * S)) - 1)
    x1 = min(S, int(np.ceil((o.cx + o.size / 2) * S)) + 1)
    y0 = max(0, int(np.floor((o.cy - o.size / 2) * S)) - 1)
    y1 = min(S, int(np.ceil((o.cy + o.size / 2) * S)) + 1)
    xs = x0 + (np.arange((x1 - x0) * ss) + 0.5) / ss
    ys = y0 + (np.arange((y1 - y0) * ss) + 0.5) / ss
    x, y = np.meshgrid(xs, ys)
    half = o.size * S / 2
    dx, dy = x - o.cx * S, y - o.cy * S
    if o.shape == "circle":
        inside = dx * dx + dy * dy <= half * half
    elif o.shape == "square":
        inside = (np.abs(dx) <= half) & (np.abs(dy) <= half)
    elif o.shape == "triangle":
        t = (dy + half) / (2 * half)  # 0 at the apex (top centre), 1 along the base
        inside = (t >= 0) & (t <= 1) & (np.abs(dx) <= t * half)
    else:
        raise ValueError(o.shape)
    cov = inside.reshape(y1 - y0, ss, x1 - x0, ss).mean(axis=(1, 3))
    return (y0, y1, x0, x1), cov


def render(scene: Scene, S: int = 64) -> np.ndarray:
    """uint8 [S, S, 3] RGB."""
    img = np.empty((S, S, 3), dtype=np.float64)
    img[:] = BACKGROUNDS[scene.background]
    for o in scene.objects:
        (y0, y1, x0, x1), cov = _coverage(o, S)
        fg = np.clip(np.array(COLOURS[o.colour]) + np.array(o.jitter), 0, 255)
        win = img[y0:y1, x0:x1]
        img[y0:y1, x0:x1] = cov[..., None] * fg + (1 - cov[..., None]) * win
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- prompts
@dataclasses.dataclass(frozen=True)
class ObjReq:
    shape: str | None  # None: any shape ("two shapes")
    colour: str | None = None
    size: str | None = None  # "small" | "large" | None


@dataclasses.dataclass(frozen=True)
class Requirement:
    """What a prompt asks for: exactly these objects (as a multiset), maybe a relation and a background."""
    objects: tuple  # of ObjReq
    relation: str | None = None  # objects[0] {relation} objects[1]
    background: str | None = None


_NUM = "|".join(NUMBERS)
_COL = "|".join(COLOURS)
_SHP = "|".join(SHAPES)
_REL = "|".join(RELATIONS)
_NP = rf"(?:(?:an?|{_NUM})\s+)?(?:(small|large)\s+)?(?:({_COL})\s+)?(?:(small|large)\s+)?({_SHP}|shape|object)(e?s)?"


def parse_prompt(prompt: str) -> Requirement:
    """Parses the benchmark grammar and the training captions' variants; ValueError otherwise."""
    p = " ".join(prompt.lower().replace(",", " , ").split())
    bg = None
    m = re.search(rf"\s+on an? ({'|'.join(BACKGROUNDS)}) background$", p)
    if m:
        bg, p = m.group(1), p[:m.start()]
    m = re.fullmatch(rf"(.+?)\s+({_REL})\s+(.+)", p)
    if m:
        a, b = _phrase(m.group(1)), _phrase(m.group(3))
        if len(a) != 1 or len(b) != 1:
            raise ValueError(f"a relation takes one object on each side: {prompt!r}")
        return Requirement((a[0], b[0]), m.group(2), bg)
    parts = [x for x in re.split(r"\s*,\s*(?:and\s+)?|\s+and\s+", p) if x]
    objs = []
    for part in parts:
        objs.extend(_phrase(part))
    return Requirement(tuple(objs), None, bg)


def _phrase(text: str):
    m = re.fullmatch(rf"(?:(an?|{_NUM})\s+)?(?:(small|large)\s+)?(?:({_COL})\s+)?(?:(small|large)\s+)?({_SHP}|shape|object)(e?s)?",
                     text.strip())
    if not m:
        raise ValueError(f"not a phrase of the scenes grammar: {text!r}")
    det, size1, colour, size2, shape, plural = m.groups()
    count = NUMBERS.get(det, 1)
    if (count > 1) != bool(plural):
        raise ValueError(f"count and plural disagree: {text!r}")
    shape = None if shape in ("shape", "object") else shape
    return [ObjReq(shape, colour, size1 or size2)] * count


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def noun_phrase(shape, colour=None, size=None, count=1, article="a", size_first=True) -> str:
    """'a red circle', 'three small squares', 'an orange triangle' (article='an-aware')."""
    words = []
    if count > 1:
        words.append([k for k, v in NUMBERS.items() if v == count][0])
    adjs = [w for w in ((size, colour) if size_first else (colour, size)) if w]
    noun = shape + ("s" if count > 1 else "")
    if count == 1 and article:
        first = (adjs + [noun])[0]
        words.append(_article(first) if article == "an-aware" else article)
    return " ".join(words + adjs + [noun])


# ---------------------------------------------------------------- the benchmark's prompts
def random_prompt(category: str, rng) -> str:
    """One prompt of a category, in exactly SCENES.md's forms (a background in a quarter of them)."""
    cols = list(COLOURS)

    def pick(xs, k):
        return [xs[i] for i in rng.choice(len(xs), size=k, replace=False)]

    if category == "single_object":
        r = rng.random()
        p = "a " + ("small " if r < 0.15 else "large " if r < 0.3 else "") + pick(SHAPES, 1)[0]
    elif category == "colors":
        p = f"a {pick(cols, 1)[0]} {pick(SHAPES, 1)[0]}"
    elif category == "two_object":
        p = "a {} and a {}".format(*pick(SHAPES, 2))
    elif category == "color_attr":
        (c1, c2), (s1, s2) = pick(cols, 2), pick(SHAPES, 2)
        p = f"a {c1} {s1} and a {c2} {s2}"
    elif category == "counting":
        p = f"{pick(['two', 'three', 'four'], 1)[0]} {pick(SHAPES, 1)[0]}s"
    elif category == "position":
        p = _position_prompt(rng, cols)
    else:
        raise ValueError(category)
    if rng.random() < 0.25:
        p += f" on a {list(BACKGROUNDS)[rng.integers(3)]} background"
    return p


def benchmark_prompts(per_category: int = 24, seed: int = 2024) -> list:
    """A fixed prompt set: (category, prompt) pairs, distinct within a category."""
    rng = np.random.default_rng(seed)
    out = []
    for cat in CATEGORIES:
        seen = []
        for _ in range(100 * per_category):
            if len(seen) == per_category:
                break
            p = random_prompt(cat, rng)
            if p not in seen:
                seen.append(p)
        out.extend((cat, p) for p in seen)
    return out


# ---------------------------------------------------------------- tuning, held-out and training prompts
# Evaluation hygiene: a default is chosen on the tuning prompts and reported on the held-out ones;
# training data (the alignment loop's traffic) never contains a held-out prompt. Both sets come from
# one pool of distinct prompts per category (48 where the grammar has that many; two_object has 24
# and single_object 36 in all), split alternately, so the category mix is the same.
SPLIT_POOL = 48


def _split(which: int) -> list:
    out = []
    for cat in CATEGORIES:
        pool = [p for c, p in benchmark_prompts(SPLIT_POOL, seed=2024) if c == cat]
        out.extend((cat, p) for p in pool[which::2])
    return out


def tuning_prompts() -> list:
    """(category, prompt) pairs to choose defaults on (12-24 per category)."""
    return _split(0)


def heldout_prompts() -> list:
    """(category, prompt) pairs to report on, never tuned or trained on (12-24 per category)."""
    return _split(1)


# Seed sets: a request with seed s draws candidates s .. s+N-1, so bases 1000 apart never share a
# candidate for N <= 1000. Tuning and held-out evaluations use their own bases; the loop's traffic
# uses seeds from TRAINING_SEED_BASE on.
SEED_SETS = {"tuning": (7000, 8000, 9000), "heldout": (21000, 22000, 23000)}
TRAINING_SEED_BASE = 100_000


def training_prompt(category: str, rng) -> str:
    """A prompt of the category in the benchmark's forms that is not a held-out prompt."""
    held = _heldout_set()
    while True:
        p = random_prompt(category, rng)
        if p not in held:
            return p


_HELD = None


def _heldout_set() -> frozenset:
    global _HELD
    if _HELD is None:
        _HELD = frozenset(p for _, p in heldout_prompts())
    return _HELD


def _position_prompt(rng, cols):
    while True:
        c1, c2 = (cols[i] for i in rng.integers(len(cols), size=2))
        s1, s2 = (SHAPES[i] for i in rng.integers(3, size=2))
        if (c1, s1) != (c2, s2):
            rel = RELATIONS[rng.integers(4)]
            return f"a {c1} {s1} {rel} a {c2} {s2}"


# ---------------------------------------------------------------- training scenes and captions
def sample_scene(rng, S_unused=None) -> Scene:
    """A random scene; its object mix favours what the benchmark's categories ask for."""
    bg = list(BACKGROUNDS)[rng.integers(3)]
    cols = list(COLOURS)
    r = rng.random()
    band = lambda: (None, None, "small", "large")[rng.integers(4)] if rng.random() < 0.3 else None
    colour = lambda: cols[rng.integers(6)]
    if r < 0.22:  # one object
        specs = [(SHAPES[rng.integers(3)], colour(), band())]
    elif r < 0.52:  # two objects of different shapes
        a, b = rng.choice(3, size=2, replace=False)
        specs = [(SHAPES[a], colour(), band()), (SHAPES[b], colour(), band())]
    elif r < 0.62:  # two objects of one shape
        s = SHAPES[rng.integers(3)]
        specs = [(s, colour(), band()), (s, colour(), band())]
    elif r < 0.88:  # three or four objects of one shape
        s = SHAPES[rng.integers(3)]
        same = rng.random() < 0.3
        c = colour()
        specs = [(s, c if same else colour(), None) for _ in range(3 + rng.integers(2))]
    else:  # three or four objects, mixed shapes
        specs = [(SHAPES[rng.integers(3)], colour(), None) for _ in range(3 + rng.integers(2))]
    relation = None
    if len(specs) == 2 and rng.random() < 0.5:
        relation = RELATIONS[rng.integers(4)]  # lay the pair out so a relation caption holds
    return make_scene(rng, bg, specs, relation)


# The margins a training caption's relation must hold by (relation_holds' offset and dominance),
# so that no caption names a borderline relation.
CAPTION_MARGINS = (0.18, 0.04)


def has_caption_relation(scene: Scene) -> bool:
    """Whether caption_for can caption the scene by a relation: two objects, one relation holding
    by CAPTION_MARGINS in some order."""
    objs = scene.objects
    return len(objs) == 2 and any(relation_holds(objs[a], objs[b], rel, *CAPTION_MARGINS)
                                  for rel in RELATIONS for a, b in ((0, 1), (1, 0)))


def caption_for(scene: Scene, rng, detail: float | None = None, relation_share: float = 0.55) -> str:
    """A random caption that is true of the scene: every object is counted exactly; colours,
    sizes, the background and articles may be left out (partial descriptions). A pair is captioned
    by a relation that holds with probability relation_share (when one does)."""
    objs = list(scene.objects)
    n = len(objs)
    r = rng.random()
    use_colour = rng.random() < (0.7 if detail is None else detail)
    article = "an-aware" if rng.random() < 0.5 else ("a" if rng.random() < 0.85 else "")
    size_first = rng.random() < 0.7

    def size_word(o):
        if rng.random() < 0.5:
            for w, (lo, hi) in SIZE_BANDS.items():
                if lo <= o.size <= hi:
                    return w
        return None

    def np_(o, with_colour):
        return noun_phrase(o.shape, o.colour if with_colour else None, size_word(o), 1, article or "", size_first)

    text = None
    if n == 2 and r < relation_share:
        for rel in rng.permutation(RELATIONS):
            for a, b in ((0, 1), (1, 0)):
                if relation_holds(objs[a], objs[b], rel, *CAPTION_MARGINS):
                    ca = use_colour or objs[a].shape == objs[b].shape
                    text = f"{np_(objs[a], ca)} {rel} {np_(objs[b], ca)}"
                    break
            if text:
                break
    if text is None:
        shapes = {o.shape for o in objs}
        colours = {o.colour for o in objs}
        if n > 1 and len(shapes) == 1 and (r < 0.8 or not use_colour):
            o = objs[0]
            c = o.colour if (use_colour and len(colours) == 1) else None
            text = noun_phrase(o.shape, c, None, n, "", size_first)
        else:
            order = list(rng.permutation(n))
            if not use_colour and rng.random() < 0.5 and n > 1:
                # grouped counts: "two circles and a square"
                groups = {}
                for i in order:
                    groups.setdefault(objs[i].shape, []).append(objs[i])
                phrases = [noun_phrase(s, None, None, len(g), article or "", size_first) for s, g in groups.items()]
            else:
                phrases = [np_(objs[i], use_colour) for i in order]
            text = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
            if len(phrases) == 2 and rng.random() < 0.9:
                text = " and ".join(phrases)
    if rng.random() < 0.4:
        text += f" on {'a' if rng.random() < 0.9 else 'an'} {scene.background} background"
    return text


# ---------------------------------------------------------------- reading an image
@dataclasses.dataclass(frozen=True)
class Seen:
    shape: str
    colour: str
    size: float
    cx: float
    cy: float
    area: float


def _nearest(rgb, palette: np.ndarray) -> int:
    return int(np.argmin(((palette - rgb) ** 2).sum(axis=1)))


def read_image(img: np.ndarray):
    """(background, [Seen]) as SCENES.md's reading rules describe.

    Objects are the connected regions over FG_DISTANCE from the border's colour, specks
    under a third of the smallest object's area dropped. Each is then measured on its
    anti-aliased edge too: a pixel's coverage is its colour's position between the
    background and the object's median colour, so sizes, fill ratios and centres are
    read to a fraction of a pixel rather than from a thresholded outline.
    """
    S = img.shape[0]
    f = img.astype(np.float64)
    border = np.concatenate([f[0], f[-1], f[:, 0], f[:, -1]])
    bg_rgb = np.median(border, axis=0)
    background = list(BACKGROUNDS)[_nearest(bg_rgb, _BG_PALETTE)]
    mask = np.sqrt(((f - bg_rgb) ** 2).sum(axis=-1)) > FG_DISTANCE
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3)))
    min_area = MIN_OBJECT_AREA * S * S / 3
    seen = []
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        comp = labels[sl] == i
        if comp.sum() < min_area:
            continue
        median = np.median(f[sl][comp], axis=0)
        colour = list(COLOURS)[_nearest(median, _PALETTE)]
        y0, y1 = max(0, sl[0].start - 1), min(S, sl[0].stop + 1)
        x0, x1 = max(0, sl[1].start - 1), min(S, sl[1].stop + 1)
        win = f[y0:y1, x0:x1]
        own = np.isin(labels[y0:y1, x0:x1], (0, i))
        d = median - bg_rgb
        cov = np.clip(((win - bg_rgb) @ d) / max(d @ d, 1e-6), 0, 1) * own
        area = cov.sum()
        shape = _shape_of(cov, cov.max(axis=0).sum(), cov.max(axis=1).sum())
        # The box side follows from the area and the shape's fill ratio; the box centre from
        # the centroid (a triangle's centroid lies a sixth of its side below its box centre).
        side = np.sqrt(area / FILL_RATIO[shape])
        ys, xs = np.mgrid[y0:y1, x0:x1] + 0.5
        cx, cy = (xs * cov).sum() / area, (ys * cov).sum() / area
        if shape == "triangle":
            cy -= side / 6
        seen.append(Seen(shape, colour, side / S, cx / S, cy / S, area / (S * S)))
    return background, seen


def _shape_of(cov: np.ndarray, w: float, h: float) -> str:
    """Fill ratio of the box (disc pi/4, square 1, triangle 1/2), and whether it widens downwards."""
    fill = cov.sum() / max(w * h, 1e-6)
    rows = cov.sum(axis=1)
    rows = rows[rows > 0.05 * rows.max()]
    k = max(1, len(rows) // 4)
    top, bottom = rows[:k].mean(), rows[-k:].mean()
    if fill < 0.66 and bottom > 1.6 * top + 0.5:
        return "triangle"
    return "square" if fill > 0.9 else "circle"


def _matches(o: Seen, r: ObjReq) -> bool:
    if r.shape is not None and o.shape != r.shape:
        return False
    if r.colour is not None and o.colour != r.colour:
        return False
    if r.size is not None:
        lo, hi = SIZE_BANDS[r.size]
        if not (lo - 0.01 <= o.size <= hi + 0.01):  # slack for reading the side off pixels
            return False
    return True


def _assign(seen, reqs, i=0, used=()):
    """All ways to give each requirement its own seen object (small n: brute force)."""
    if i == len(reqs):
        yield ()
        return
    for j, o in enumerate(seen):
        if j not in used and _matches(o, reqs[i]):
            for rest in _assign(seen, reqs, i + 1, used + (j,)):
                yield (j,) + rest


def check(prompt: str | Requirement, img: np.ndarray) -> bool:
    """Whether the image shows exactly what the prompt asks for."""
    req = parse_prompt(prompt) if isinstance(prompt, str) else prompt
    background, seen = read_image(img)
    if req.background is not None and background != req.background:
        return False
    if len(seen) != len(req.objects):
        return False
    for a in _assign(seen, list(req.objects)):
        if req.relation is None or relation_holds(seen[a[0]], seen[a[1]], req.relation):
            return True
    return False


def satisfies(scene: Scene, prompt: str | Requirement) -> bool:
    """Ground truth: whether a scene (its parameters, not its pixels) shows what a prompt asks."""
    req = parse_prompt(prompt) if isinstance(prompt, str) else prompt
    if req.background is not None and scene.background != req.background:
        return False
    if len(scene.objects) != len(req.objects):
        return False
    for a in _assign(list(scene.objects), list(req.objects)):
        if req.relation is None or relation_holds(scene.objects[a[0]], scene.objects[a[1]], req.relation):
            return True
    return False


def category_of(prompt: str) -> str:
    """The benchmark category a prompt in SCENES.md's forms belongs to."""
    req = parse_prompt(prompt)
    if req.relation:
        return "position"
    objs = req.objects
    if len(objs) == 1:
        return "colors" if objs[0].colour else "single_object"
    if len(set(objs)) == 1 and objs[0].colour is None:
        return "counting"
    return "color_attr" if objs[0].colour else "two_object"


def scene_for_prompt(prompt: str, rng, margin=False) -> Scene:
    """A scene that satisfies a prompt (free attributes drawn at random): ground truth for tests."""
    req = parse_prompt(prompt)
    bg = req.background or list(BACKGROUNDS)[rng.integers(3)]
    specs = [(r.shape or SHAPES[rng.integers(3)], r.colour or list(COLOURS)[rng.integers(6)], r.size)
             for r in req.objects]
    return make_scene(rng, bg, specs, req.relation, margin)


def main():
    import argparse
    import time
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seeds", type=int, default=20)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    prompts = benchmark_prompts()
    t0 = time.time()
    per = {c: [0, 0] for c in CATEGORIES}
    for cat, p in prompts:
        assert category_of(p) == cat, (p, category_of(p), cat)
        for _ in range(a.seeds):
            ok = check(p, render(scene_for_prompt(p, rng), a.size))
            per[cat][0] += ok
            per[cat][1] += 1
    for c, (ok, n) in per.items():
        print(f"{c:14s} {ok / n:.4f}  ({n} renders)")
    print(f"{time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
