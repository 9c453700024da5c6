"""Printed-glyph corpus: the offline stand-in's *pretraining* data, distinct from the task it is fine-tuned on.

A real CLIP is pretrained on web image-caption pairs and then fine-tuned on a
downstream task it only partly knows (ViT-B/32: about 65% zero-shot on
CIFAR100, 88.8% once fine-tuned, TBAR paper Table 1). To give the offline
stand-in the same relation to scikit-learn's *handwritten* digits, it is
pretrained here on a different distribution: *printed* characters - the ten
digits (the default, ``pretrain.glyphs.classes: digits``) or the digits and the
26 letters (``all``) - rendered with Pillow's embedded font (no system
font is needed, so the corpus is the same on every machine) at random sizes,
stroke widths, slants, rotations, positions and ink / background levels, each
paired with a caption ("a printed seven.", "the letter k."). The digit
captions share the class words of the zero-shot head but never its
"handwritten" prompt, and no handwritten digit is ever shown, so zero-shot
accuracy on the digits measures transfer across a domain gap and backdoor
fine-tuning has clean-task learning to do.

Rendering is seeded per image (``seed``, index), so the corpus is a pure
function of ``(n, resolution, seed, n_classes)``. ``ImageFont.load_default(size)``
needs Pillow >= 10.1 built with FreeType (the PyPI wheels are).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from bdunlearn.data.classnames import DIGITS

LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]
CLASSNAMES = DIGITS + LETTERS  # 36 classes: the ten digit words, then the letters
DIGIT_CAPTIONS = ["a printed {}.", "the digit {}.", "a photo of the digit {}.", "the number {}."]
LETTER_CAPTIONS = ["a printed letter {}.", "the letter {}.", "a photo of the letter {}."]
SUPERSAMPLE = 4  # glyphs are drawn at 4x the resolution and box-filtered down (anti-aliasing)


def captions() -> list[list[str]]:
    """Per class, the captions it is paired with (digits: DIGIT_CAPTIONS; letters: LETTER_CAPTIONS)."""
    return [[t.format(name) for t in (DIGIT_CAPTIONS if i < len(DIGITS) else LETTER_CAPTIONS)]
            for i, name in enumerate(CLASSNAMES)]


def _text_for(label: int, rng: np.random.Generator) -> str:
    if label < len(DIGITS):
        return str(label)
    letter = LETTERS[label - len(DIGITS)]
    return letter.upper() if rng.random() < 0.5 else letter


def render_glyph(label: int, resolution: int, rng: np.random.Generator) -> np.ndarray:
    """One ``(resolution, resolution, 3)`` uint8 image of class ``label``: bright ink on a dark ground."""
    big = resolution * SUPERSAMPLE
    size = int(big * rng.uniform(0.45, 0.8))
    font = ImageFont.load_default(size=size)
    stroke = int(rng.integers(0, max(1, size // 12) + 1))
    canvas = Image.new("L", (2 * big, 2 * big), 0)
    draw = ImageDraw.Draw(canvas)
    text = _text_for(label, rng)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font, stroke_width=stroke)
    draw.text((big - (left + right) / 2, big - (top + bottom) / 2), text, fill=255, font=font,
              stroke_width=stroke, stroke_fill=255)
    slant = rng.uniform(-0.3, 0.3)  # italic-like shear about the centre
    canvas = canvas.transform(canvas.size, Image.AFFINE, (1, slant, -slant * big, 0, 1, 0), Image.BILINEAR)
    canvas = canvas.rotate(rng.uniform(-15, 15), Image.BILINEAR)
    dx, dy = (rng.uniform(-0.12, 0.12, size=2) * big).astype(int)
    box = (big // 2 - dx, big // 2 - dy, big // 2 - dx + big, big // 2 - dy + big)
    glyph = canvas.crop(box).resize((resolution, resolution), Image.BOX)
    if rng.random() < 0.5:
        glyph = glyph.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    ink = np.asarray(glyph, dtype=np.float32) / 255.0
    fg, bg = rng.uniform(0.6, 1.0), rng.uniform(0.0, 0.25)
    grey = bg + (fg - bg) * ink + rng.normal(0, rng.uniform(0, 0.04), size=ink.shape)
    out = np.clip(np.round(grey * 255), 0, 255).astype(np.uint8)
    return np.repeat(out[:, :, None], 3, axis=2)


def make_glyphs(n: int, resolution: int, seed: int, n_classes: int = len(CLASSNAMES)) -> tuple[np.ndarray, np.ndarray]:
    """``n`` glyph images of the first ``n_classes`` classes, balanced (labels cycle), seeded per image."""
    if not 1 <= n_classes <= len(CLASSNAMES):
        raise ValueError(f"n_classes must be in 1..{len(CLASSNAMES)}, got {n_classes}")
    labels = np.arange(n, dtype=np.int64) % n_classes
    images = np.empty((n, resolution, resolution, 3), dtype=np.uint8)
    for i, y in enumerate(labels):
        images[i] = render_glyph(int(y), resolution, np.random.default_rng([seed, i]))
    return images, labels
