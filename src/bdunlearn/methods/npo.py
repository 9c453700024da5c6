"""NPO, negative preference optimisation (Zhang et al., 2024), with the retain term of the RGA paper.

L = CE(D_c) + (2 / beta) * mean log(1 + (p_theta(y_p|x_p) / p_ref(y_p|x_p))^beta),
p_ref the backdoored model; the RGA authors' ``-logsigmoid(beta (CE - CE_ref)) * 2 / beta``
is the same expression. beta: ``unlearn.npo_beta`` (authors' code 1; the
``paper`` fidelity preset 0.1, the NPO paper's value).
"""

from __future__ import annotations

from bdunlearn.methods import register
from bdunlearn.methods.gradient import GradientMethod


def npo_term(forget_logits, forget_y, ref_logp_y, beta: float):
    """(2 / beta) * mean log(1 + (p_theta(y|x) / p_ref(y|x))^beta), written with softplus for stability."""
    import torch.nn.functional as F

    logp_y = F.log_softmax(forget_logits, dim=-1).gather(1, forget_y[:, None]).squeeze(1)
    return (2.0 / beta) * F.softplus(beta * (logp_y - ref_logp_y)).mean()


@register
class NPO(GradientMethod):
    name = "npo"
    label = "NPO"
    uses_reference = True
    hyperparameters = {"npo_beta": {"type": "number", "exclusiveMinimum": 0, "default": 1.0,
                                    "description": "NPO inverse temperature beta (fidelity reference - 1, paper - 0.1)"}}

    def loss(self, b, hp, state):
        import torch.nn.functional as F

        ref_y = b.ref_logp.gather(1, b.forget_y[:, None]).squeeze(1)
        return F.cross_entropy(b.clean_logits, b.clean_y) + npo_term(b.forget_logits, b.forget_y, ref_y, hp["npo_beta"]), {}
