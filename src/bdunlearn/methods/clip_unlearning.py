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
- GA+DECREE and TBAR+DECREE (:func:`windowed_ga`, :func:`windowed_tbar`): the same on DECREE's proxy forget set,
  each step (a GA epoch, an alpha) scored on the validation images and stopped by the early-stopping window of
  :class:`bdunlearn.methods.decree.Window`; the state kept is the window's choice.
"""

from __future__ import annotations

import copy

from bdunlearn.evaluation.metrics import accuracy, attack_success_rate
from bdunlearn.evaluation.zeroshot_metrics import zeroshot_ca_asr, zeroshot_classifier
from bdunlearn.methods.decree import Window
from bdunlearn.methods.tbar_core import AlphaEvaluator
from bdunlearn.models.contrastive import ContrastiveConfig, train_pairs
from bdunlearn.models.task_vectors import subtract
from bdunlearn.models.training import predict


def float_state(model) -> dict:
    """Every floating-point tensor of ``model``'s state (what TBAR's task vectors span on this track)."""
    return {k: v for k, v in model.state_dict().items() if v.is_floating_point()}


def trigger_vector(model, tokenizer, images, captions, spec, recipe: dict, device, seed: int,
                   on_epoch=None) -> tuple[dict, list]:
    """Eq. 2 on the whole CLIP: ``(tau, history)``; ``model`` is left at theta(backdoored + trigger).
    ``on_epoch(epoch, model)`` scores each epoch's vector (Fig. 11, :func:`epoch_scorer`)."""
    theta_bd = {k: v.detach().clone() for k, v in float_state(model).items()}
    cfg = ContrastiveConfig.from_dict({**recipe, "loss": "clip"})
    history = train_pairs(model, tokenizer, images, captions, spec.mean, spec.std, cfg, device, seed,
                          desc="trigger_vector", on_epoch=on_epoch)
    return subtract(float_state(model), theta_bd), history


def epoch_scorer(model, spec, tokenizer, meta: dict, val, val_triggered, test, test_triggered, search: dict, device,
                 batch_size: int = 256):
    """TBAR over fine-tuning epochs (Fig. 11): an ``on_epoch`` for :func:`trigger_vector` that takes the vector of
    that epoch, tau_k = theta_k - theta_bd, chooses its alpha on the validation images (``search``: grid, rule,
    max_asr, and ``strategy``: the dense grid, or the adaptive search of
    :mod:`bdunlearn.methods.alpha_strategies` with its ``patience``) and scores theta_bd - alpha tau_k on the test
    images. ``model`` is a copy at theta_bd that the scorer edits in place (the training model is left alone)."""
    from bdunlearn.methods.alpha_strategies import CachedGrid, check_grid, pick

    check_grid(search["grid"], search.get("strategy", "grid"))
    theta_bd = {k: v.detach().clone() for k, v in float_state(model).items()}

    def score(epoch, trained) -> dict:
        tau = subtract(float_state(trained), theta_bd)
        ev = ZeroShotAlphaEvaluator(model, spec, tokenizer, meta, theta_bd, tau, val, val_triggered, device, batch_size)
        points = CachedGrid(search["grid"], ev)
        chosen = points(pick(points, search)[0])
        ev.set_alpha(chosen["alpha"])
        t = zeroshot_ca_asr(model, spec, tokenizer, meta, test, test_triggered, device, batch_size)
        return {"alpha": chosen["alpha"], "val_ca": chosen["val_ca"], "val_asr": chosen["val_asr"],
                "test_ca": t["ca"], "test_asr": t["asr"], "evaluations": len(points.rows)}

    return score


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


def window_scores(model, spec, tokenizer, meta: dict, val, proxy, true_triggered, proxy_target: int, device,
                  batch_size: int = 256) -> dict:
    """One step's scores: val CA, the proxy ASR (``proxy``: val images with the inverted trigger, towards the
    inferred ``proxy_target``) and, for analysis only (the defender does not have it), the planted trigger's val
    ASR (``true_triggered``, towards ``meta["target"]``)."""
    clf = zeroshot_classifier(model, spec, tokenizer, meta, device)
    out = {"val_ca": accuracy(predict(clf, val[0], device, batch_size), val[1]),
           "val_asr_proxy": attack_success_rate(predict(clf, proxy[0], device, batch_size), proxy[1], proxy_target)}
    out["val_asr_true"] = attack_success_rate(predict(clf, true_triggered[0], device, batch_size), true_triggered[1],
                                              int(meta["target"]))
    return out


def windowed_ga(model, tokenizer, images, captions, spec, recipe: dict, max_epochs: int, score, window: Window,
                device, seed: int) -> dict:
    """GA+DECREE: gradient ascent on the proxy pairs for at most ``max_epochs`` epochs, ``score(model)`` after
    each, until ``window`` stops; ``model`` is left at the window's chosen epoch (0: the backdoored model)."""
    kept = {"state": copy.deepcopy(model.state_dict())}

    def on_epoch(epoch, m):
        row = score(m)
        go = window.add(epoch, row)
        if window.chosen == epoch:
            kept["state"] = copy.deepcopy(m.state_dict())
        return {**row, "stop": not go}

    history = gradient_ascent(model, tokenizer, images, captions, spec, {**recipe, "epochs": max_epochs}, device,
                              seed, on_epoch=on_epoch)
    model.load_state_dict(kept["state"])
    return {"history": history, **window.report()}


def windowed_tbar(evaluator: ZeroShotAlphaEvaluator, alphas, score, window: Window) -> dict:
    """TBAR+DECREE: theta_bd - alpha tau for each alpha of ``alphas`` (increasing), ``score(model)`` at each,
    until ``window`` stops; the model is left at the window's chosen alpha (0: the backdoored model)."""
    for a in alphas:
        evaluator.set_alpha(a)
        if not window.add(float(a), score(evaluator.model)):
            break
    evaluator.set_alpha(window.chosen or 0.0)
    return window.report()
