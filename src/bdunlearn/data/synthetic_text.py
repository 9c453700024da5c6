"""An offline labelled sentiment corpus for the embedded default text study (``prepare_text`` source ``synthetic``).

No dataset hub is reachable offline, so the default study generates its own
review-like corpus: two classes (0 = negative, 1 = positive, as in SST-2),
several thousand sentences of varied shape and vocabulary. It is built so that
no single word separates the classes:

- every polar adjective and verb occurs in both classes, because a negation
  ("was not", "never", "hardly") flips the polarity of the phrase it governs;
- contrast sentences ("X was dull, but Y was superb") carry both polarities and
  take the label of the clause after the contrast word;
- neutral openers, subjects, intensifiers and tails are shared by both classes.

The label is a function of the whole sentence (polarity of the deciding clause
after negation), so a bag-of-single-words classifier cannot reach the accuracy
a sentence encoder reaches. ``tests/test_text_data.py`` checks that the best
one-word rule stays far from perfect.
"""

from __future__ import annotations

import numpy as np

POSITIVE = ["great", "wonderful", "charming", "brilliant", "moving", "delightful", "superb", "gripping", "witty",
            "beautiful", "clever", "touching", "fresh", "memorable", "stunning", "heartfelt", "engaging", "smart",
            "funny", "inventive", "elegant", "powerful", "warm", "thrilling"]
NEGATIVE = ["dull", "awful", "tedious", "clumsy", "boring", "messy", "bland", "shallow", "lifeless", "predictable",
            "forgettable", "sloppy", "tiresome", "flat", "pointless", "weak", "hollow", "stale", "grating", "silly",
            "lazy", "muddled", "cheap", "drab"]
POS_VERBS = ["loved", "enjoyed", "admired", "adored", "savoured", "treasured"]
NEG_VERBS = ["hated", "disliked", "resented", "regretted", "endured", "loathed"]
SUBJECTS = ["the film", "the movie", "this picture", "the story", "the plot", "the acting", "the script", "the cast",
            "the ending", "the soundtrack", "the director's work", "the dialogue", "the pacing", "the lead performance",
            "the camera work", "the second half", "the opening scene", "the premise", "this sequel", "the documentary"]
INTENSIFIERS = ["", "", "very ", "really ", "quite ", "rather ", "truly ", "remarkably ", "oddly ", "fairly "]
OPENERS = ["", "", "", "honestly , ", "in the end , ", "overall , ", "to be fair , ", "frankly , ", "all in all , ",
           "for two hours , ", "from start to finish , "]
TAILS = ["", "", "", " for most of its running time", " despite its budget", " in every scene", " on a second viewing",
         " to my surprise", " as expected", " for a summer release", " by any standard"]
VIEWERS = ["i", "we", "my friends", "the audience", "everyone in the theater", "my family", "the critics"]
CONTRAST = [", but", ", yet", " ; however ,", ", although in the end"]
NEG_BE = ["was not", "is not", "was never", "is hardly", "was hardly"]
NEG_DO = ["did not", "never", "could not say we"]


def _adj_phrase(rng, polarity: int) -> str:
    word = rng.choice(POSITIVE if polarity else NEGATIVE)
    return f"{rng.choice(INTENSIFIERS)}{word}"


def _clause(rng, polarity: int) -> str:
    """One clause whose meaning has ``polarity``; a third of them reach it through a negation."""
    negate = rng.random() < 0.33
    surface = 1 - polarity if negate else polarity
    kind = rng.integers(3)
    subj = rng.choice(SUBJECTS)
    if kind == 0:
        be = rng.choice(NEG_BE) if negate else rng.choice(["was", "is", "felt", "seemed"])
        return f"{subj} {be} {_adj_phrase(rng, surface)}"
    if kind == 1:
        viewer = rng.choice(VIEWERS)
        verb = rng.choice(POS_VERBS if surface else NEG_VERBS)
        if negate:
            base = {"loved": "love", "enjoyed": "enjoy", "admired": "admire", "adored": "adore", "savoured": "savour",
                    "treasured": "treasure", "hated": "hate", "disliked": "dislike", "resented": "resent",
                    "regretted": "regret", "endured": "endure", "loathed": "loathe"}[verb]
            neg = rng.choice(NEG_DO)
            verb = base if neg != "never" else verb
            return f"{viewer} {neg} {verb} {subj}"
        return f"{viewer} {verb} {subj}"
    adj = _adj_phrase(rng, surface)
    lead = "an" if adj[0] in "aeiou" else "a"
    noun = rng.choice(["film", "ride", "experience", "story", "debut", "comedy", "drama", "thriller"])
    if negate:
        return f"{subj} is {rng.choice(['anything but', 'far from', 'not'])} {lead} {adj} {noun}"
    return f"{subj} is {lead} {adj} {noun}"


def sentence(rng, label: int) -> str:
    """One sentence of class ``label``; 30% are contrast sentences decided by the second clause."""
    opener, tail = rng.choice(OPENERS), rng.choice(TAILS)
    if rng.random() < 0.3:
        first = _clause(rng, 1 - label)
        return f"{opener}{first}{rng.choice(CONTRAST)} {_clause(rng, label)}{tail} ."
    return f"{opener}{_clause(rng, label)}{tail} ."


def generate(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """``n`` sentences with balanced labels (0/1), reproducible from ``seed``; duplicates are redrawn."""
    rng = np.random.default_rng(seed)
    labels = np.array([i % 2 for i in range(n)], dtype=np.int64)
    rng.shuffle(labels)
    seen: set[str] = set()
    texts = []
    for y in labels:
        for _ in range(100):
            s = sentence(rng, int(y))
            if s not in seen:
                break
        seen.add(s)
        texts.append(s)
    return texts, labels
