"""GA, gradient ascent on the forget set (RGA paper, eq. 3): L = CE(D_c) - CE(D_p)."""

from __future__ import annotations

from bdunlearn.methods import register
from bdunlearn.methods.gradient import GradientMethod


def ga_loss(clean_logits, clean_y, forget_logits, forget_y):
    """Eq. 3: clean cross-entropy minus forget-set cross-entropy."""
    import torch.nn.functional as F

    return F.cross_entropy(clean_logits, clean_y) - F.cross_entropy(forget_logits, forget_y)


@register
class GA(GradientMethod):
    name = "ga"
    label = "GA"

    def loss(self, b, hp, state):
        return ga_loss(b.clean_logits, b.clean_y, b.forget_logits, b.forget_y), {}
