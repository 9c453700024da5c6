"""True unlearning of a whole CLIP on the image-caption track (TBAR section 4, appendix B.3.4): TBAR and GA.

Both read the triggered forget set U_set: forget pairs with the trigger on the image and a caption naming the
target (``poison_captions``), and both use the contrastive CLIP loss with TBAR's hyperparameters (appendix B.2.2:
"We adopt the same hyperparameters for training TBAR task vectors", and B.3.4: "the same TBAR hyper-parameters
for Gradient Ascent").

- TBAR: :func:`trigger_vector` fine-tunes the backdoored CLIP on U_set (eq. 2, over every weight of both
  towers) and returns tau; :class:`ZeroShotAlphaEvaluator` evaluates theta_bd - alpha tau (eq. 3) on the
  validation images for :func:`bdunlearn.methods.tbar_core.run_search`, rebuilding the zero-shot head from the
  negated model's own text tower at each alpha.
- GA: gradient ascent on U_set, theta <- theta + eta grad L(U_set, theta), with no retain term (TBAR's GA; the
  RGA paper's GA, eq. 3, has a clean retain term and is the method ``ga`` of the classification track).
"""

from __future__ import annotations

from bdunlearn.evaluation.zeroshot_metrics import zeroshot_ca_asr
from bdunlearn.methods.tbar_core import AlphaEvaluator
from bdunlearn.models.contrastive import ContrastiveConfig, train_pairs
from bdunlearn.models.task_vectors import subtract


def float_state(model) -> dict:
    """Every floating-point tensor of ``model``'s state (what TBAR's task vectors span on this track)."""
    return {k: v for k, v in model.state_dict().items() if v.is_floating_point()}


def trigger_vector(model, tokenizer, images, captions, spec, recipe: dict, device, seed: int) -> tuple[dict, list]:
    """Eq. 2 on the whole CLIP: ``(tau, history)``; ``model`` is left at theta(backdoored + trigger)."""
    theta_bd = {k: v.detach().clone() for k, v in float_state(model).items()}
    cfg = ContrastiveConfig.from_dict({**recipe, "loss": "clip"})
    history = train_pairs(model, tokenizer, images, captions, spec.mean, spec.std, cfg, device, seed,
                          desc="trigger_vector")
    return subtract(float_state(model), theta_bd), history


class ZeroShotAlphaEvaluator(AlphaEvaluator):
    """TBAR's :class:`~bdunlearn.methods.tbar_core.AlphaEvaluator` on a whole CLIP: theta_bd - alpha tau is
    written into every floating-point tensor of both towers and scored by zero-shot CA and ASR."""

    def __init__(self, model, spec, tokenizer, meta: dict, backdoored: dict, tau: dict, val, val_triggered, device,
                 batch_size: int = 256):
        super().__init__(model, backdoored, tau, val, val_triggered, int(meta["target"]), device, batch_size)
        self.spec, self.tokenizer, self.meta = spec, tokenizer, meta

    live_state = staticmethod(float_state)

    def evaluate(self) -> tuple[float, float]:
        s = zeroshot_ca_asr(self.model, self.spec, self.tokenizer, self.meta, self.val, self.val_triggered,
                            self.device, self.batch_size)
        return s["ca"], s["asr"]


def gradient_ascent(model, tokenizer, images, captions, spec, recipe: dict, device, seed: int, on_epoch=None) -> list:
    """TBAR's GA on the whole CLIP: ascend the CLIP loss of the forget pairs for ``recipe["epochs"]`` epochs;
    ``on_epoch(epoch, model)`` scores each epoch (Fig. 11)."""
    cfg = ContrastiveConfig.from_dict({**recipe, "loss": "clip"})
    return train_pairs(model, tokenizer, images, captions, spec.mean, spec.std, cfg, device, seed, sign=-1.0,
                       desc="gradient_ascent", on_epoch=on_epoch)
