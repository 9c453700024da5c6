"""TBAR's GA (TBAR appendix B.3.4; Graves et al., 2021; Jang et al., 2022): plain gradient ascent on the forget set,
theta <- theta + eta grad CE(U_set, theta), with no retain term: L = -CE(D_p).

Not the RGA paper's GA (eq. 3, method ``ga``), which adds the clean retain term; the two are named apart. TBAR
runs it "with the same TBAR hyper-parameters"; on the classification track its loop settings are the
``unlearn.*`` keys every gradient method reads. On the image-caption track the same method is rule
``unlearn_clip_ga`` (the contrastive loss of the triggered forget pairs, :mod:`bdunlearn.methods.clip_unlearning`).
"""

from __future__ import annotations

from bdunlearn.methods import register
from bdunlearn.methods.gradient import GradientMethod


def tbar_ga_loss(forget_logits, forget_y):
    """-CE of the forget rows (ascending their loss)."""
    import torch.nn.functional as F

    return -F.cross_entropy(forget_logits, forget_y)


@register
class TBARGA(GradientMethod):
    name = "tbar_ga"
    label = "GA (TBAR)"
    retain_rows = False
    keys = tuple(k for k in GradientMethod.keys if k != "retain_pairing")  # no retain batches to pair

    def loss(self, b, hp, state):
        return tbar_ga_loss(b.forget_logits, b.forget_y), {}
