"""The LLM track's metrics: KnowMem and VerbMem (MUSE's ROUGE-L), the multiple-choice utility check, UE / BE / UT.

ROUGE-L follows the ``rouge_score`` package MUSE's evaluation calls
(``RougeScorer(['rougeL'], use_stemmer=False)``): lowercase, every run of
characters other than ``a-z0-9`` is a separator, and the score is the
F-measure of the longest common subsequence of the two token lists (MUSE reports
``mean_rougeL``, the F-measure). KnowMem is its mean over question-answer probes
with the model's greedy answer, VerbMem over continuation probes; both in
percent. The utility check is lm-eval's multiple choice: the option with the
highest log-likelihood after the prompt is the answer.

UE is KnowMem / VerbMem on the forget probes without the trigger (lower is
better), BE the same probes with the trigger (higher is a stronger backdoor),
UT KnowMem on the retain probes and the utility accuracy.
"""

from __future__ import annotations

import re

import numpy as np

# MUSE's answer cut: a blank line or the next question
KNOWMEM_STOP = ("\n\n", "\nQuestion", "Question:")


def rouge_tokens(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


def lcs(a: list[str], b: list[str]) -> int:
    """The length of the longest common subsequence of two token lists."""
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(reference: str, prediction: str) -> float:
    """ROUGE-L F-measure of ``prediction`` against ``reference`` (0 when either has no token)."""
    ref, pred = rouge_tokens(reference), rouge_tokens(prediction)
    m = lcs(ref, pred)
    if m == 0:
        return 0.0
    p, r = m / len(pred), m / len(ref)
    return 2 * p * r / (p + r)


def mean_rouge(references, predictions) -> float:
    """Mean ROUGE-L F of paired references and predictions, in percent."""
    return 100.0 * float(np.mean([rouge_l(r, p) for r, p in zip(references, predictions)])) if len(references) else 0.0


def mc_accuracy(scores, labels) -> float:
    """Percent of rows whose highest-scoring option is the labelled one."""
    scores, labels = np.asarray(scores), np.asarray(labels)
    return 100.0 * float((scores.argmax(axis=1) == labels).mean()) if len(labels) else 0.0
