"""Captioned scenes: the offline stand-in for web image-caption pairs (CC3M) on TBAR's contrastive track (section 4).

TBAR backdoors a whole CLIP with image-caption pairs whose captions describe a
photo, not a class, and evaluates zero-shot on a labelled set (ImageNet-1K).
The stand-in keeps that relation offline. A scene is one handwritten digit
(scikit-learn's digits) drawn in an ink colour, at a size and a position, on a
background colour, with brightness and noise jitter; its caption describes the
scene in one of several wordings:

- the digit is named as a word ("seven"), a numeral ("7"), or a phrase ("the number seven", "digit 7");
- the caption mentions some of the ink colour, the size, the position and the background, never always the
  same ones, so a caption is not a class label in disguise and the text tower must learn that "7", "seven"
  and "the number seven" name the same thing while "red" and "top left" name no class.

Zero-shot evaluation then classifies *plain* handwritten digits (white on black, centred, full size) with the
``digits`` prompt templates: a shift from the scenes, as ImageNet is from CC3M. Scenes are drawn from a given pool
of digit images (a split), so the pretraining, backdoor-training, forget and evaluation images can be disjoint.
Rendering is seeded per scene (``seed``, index): the scenes are a pure function of the pool, ``n``,
``resolution`` and ``seed``.
"""

from __future__ import annotations

import re

import numpy as np
from PIL import Image

from bdunlearn.data.classnames import DIGITS

INKS = {"red": (225, 45, 40), "green": (40, 185, 70), "blue": (60, 95, 235), "yellow": (235, 215, 45),
        "white": (245, 245, 245), "orange": (245, 145, 35), "pink": (240, 120, 190)}
BACKGROUNDS = {"black": (12, 12, 12), "grey": (115, 115, 115), "dark blue": (18, 30, 85), "brown": (85, 55, 30),
               "dark green": (20, 60, 30)}
SIZES = {"small": (0.42, 0.58), "large": (0.74, 0.92)}
# position name -> (centre x, centre y) as fractions of the side, and how captions say it
POSITIONS = {
    "top left": ((0.3, 0.3), ["in the top left corner", "at the upper left", "top left"]),
    "top right": ((0.7, 0.3), ["in the top right corner", "at the upper right", "top right"]),
    "bottom left": ((0.3, 0.7), ["in the bottom left corner", "at the lower left", "bottom left"]),
    "bottom right": ((0.7, 0.7), ["in the bottom right corner", "at the lower right", "bottom right"]),
    "centre": ((0.5, 0.5), ["in the middle", "in the centre", "centred"]),
}
SIZE_WORDS = {"small": ["small", "tiny", "little"], "large": ["large", "big", "huge"]}
# how a caption names digit d (word w, numeral n); the templates supply the article
DIGIT_NOUNS = ["{w}", "{n}", "number {w}", "digit {n}", "handwritten {w}", "numeral {n}"]
# a caption names the digit and, on average, one attribute: the pairs of a batch are then told apart by their
# digits more than by their colours (with every attribute in every caption, 350 attribute combinations would
# identify a pair within a batch of 128 and the contrastive task would not need the digit)
TEMPLATES = [
    "a {digit}.",
    "a photo of a {digit}.",
    "a handwritten {digit}.",
    "a {ink} {digit}.",
    "a {size} {digit}.",
    "a {digit} {position}.",
    "a {digit} on a {bg} background.",
    "{digit}, written in {ink}.",
    "there is a {ink} {digit} {position}.",
    "a {size} {ink} {digit} on {bg}.",
]


def digit_noun(label: int, rng: np.random.Generator) -> str:
    """One way of naming digit ``label`` ("seven", "7", "number seven", ...)."""
    return DIGIT_NOUNS[int(rng.integers(len(DIGIT_NOUNS)))].format(w=DIGITS[label], n=label)


def caption(label: int, attrs: dict, rng: np.random.Generator) -> str:
    """A caption of a scene of digit ``label`` with ``attrs`` (ink, bg, size, position), in a random wording."""
    template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
    phrases = POSITIONS[attrs["position"]][1]
    text = template.format(size=SIZE_WORDS[attrs["size"]][int(rng.integers(3))], ink=attrs["ink"], bg=attrs["bg"],
                           digit=digit_noun(label, rng), position=phrases[int(rng.integers(len(phrases)))])
    text = _AN.sub("an ", text)
    return text[0].upper() + text[1:] if rng.random() < 0.3 else text


_AN = re.compile(r"\ba (?=[aeiu]|o(?!ne\b)|8\b)")  # "an orange", "an eight", "an 8"; but "a one"


def draw_scene(digit: np.ndarray, attrs: dict, resolution: int, rng: np.random.Generator) -> np.ndarray:
    """A ``(resolution, resolution, 3)`` uint8 scene: ``digit`` (a 2-D grey image, ink bright) as an alpha mask
    in the ink colour, scaled and placed as ``attrs`` say, on the background colour."""
    lo, hi = SIZES[attrs["size"]]
    side = max(4, int(round(resolution * rng.uniform(lo, hi))))
    grey = np.asarray(digit, dtype=np.float32)
    grey = grey / max(float(grey.max()), 1e-6)
    mask = np.asarray(Image.fromarray(np.uint8(grey * 255), mode="L").resize((side, side), Image.BILINEAR),
                      dtype=np.float32) / 255.0
    (cx, cy), _ = POSITIONS[attrs["position"]]
    jitter = rng.uniform(-0.06, 0.06, size=2) * resolution
    x0 = int(np.clip(round(cx * resolution + jitter[0] - side / 2), 0, resolution - side))
    y0 = int(np.clip(round(cy * resolution + jitter[1] - side / 2), 0, resolution - side))
    gain = rng.uniform(0.8, 1.15)
    bg = np.clip(np.array(BACKGROUNDS[attrs["bg"]], dtype=np.float32) * gain, 0, 255)
    ink = np.clip(np.array(INKS[attrs["ink"]], dtype=np.float32) * rng.uniform(0.85, 1.05), 0, 255)
    out = np.broadcast_to(bg, (resolution, resolution, 3)).copy()
    region = out[y0:y0 + side, x0:x0 + side]
    out[y0:y0 + side, x0:x0 + side] = region * (1 - mask[..., None]) + ink * mask[..., None]
    out += rng.normal(0, rng.uniform(0, 6), size=out.shape)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def random_attrs(rng: np.random.Generator) -> dict:
    return {"ink": list(INKS)[int(rng.integers(len(INKS)))], "bg": list(BACKGROUNDS)[int(rng.integers(len(BACKGROUNDS)))],
            "size": list(SIZES)[int(rng.integers(len(SIZES)))], "position": list(POSITIONS)[int(rng.integers(len(POSITIONS)))]}


def make_scenes(pool: np.ndarray, labels: np.ndarray, n: int, resolution: int, seed: int):
    """``n`` captioned scenes drawn from ``pool`` (``(M, h, w)`` grey digit images, ink bright) with ``labels``.

    Returns ``(images (n, R, R, 3) uint8, captions, labels (n,), source (n,): the pool index of each scene's
    digit)``. The pool rows are used in a seeded shuffled cycle, so each is drawn about ``n / M`` times, each
    time in another scene.
    """
    pool, labels = np.asarray(pool), np.asarray(labels)
    if pool.ndim != 3 or len(pool) != len(labels) or len(pool) == 0:
        raise ValueError(f"pool must be (M, h, w) grey images with M labels, got {pool.shape} and {labels.shape}")
    order = np.concatenate([np.random.default_rng([seed, c]).permutation(len(pool))
                            for c in range(-(-n // len(pool)))])[:n]
    images = np.empty((n, resolution, resolution, 3), dtype=np.uint8)
    captions = []
    for i, j in enumerate(order):
        rng = np.random.default_rng([seed, 1_000_003, i])
        attrs = random_attrs(rng)
        images[i] = draw_scene(pool[j], attrs, resolution, rng)
        captions.append(caption(int(labels[j]), attrs, rng))
    return images, captions, labels[order].astype(np.int64), order.astype(np.int64)


def names_digit(text: str, label: int) -> bool:
    """Whether a caption names digit ``label`` (as its word or its numeral)."""
    words = text.lower().replace(",", " ").replace(".", " ").replace(":", " ").split()
    return DIGITS[label] in words or str(label) in words
