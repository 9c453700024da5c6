"""TBAR as an unlearning method on any adapter, with the forget rows as U_set.

tau = theta(backdoored fine-tuned on the forget rows, with their labels) -
theta(backdoored) (eq. 2), then the alpha grid search on the clean and
triggered validation sets (eq. 3, TBAR's rule), and theta_bd - alpha* tau; the
same library (:mod:`bdunlearn.methods.tbar_core`) as the image track's three rules. With
``forget_set: cube`` this is detect-then-negate: the trigger is never used to
build the forget set (the triggered validation set still picks alpha).
Reads ``trigger_vector`` (overridden by ``unlearn.tbar``) and ``alpha_search``.
"""

from __future__ import annotations

from bdunlearn.methods import register
from bdunlearn.methods.base import Method


@register
class TBAR(Method):
    name = "tbar"
    label = "TBAR"
    family = "task_vector"
    needs_val = True
    retain_rows = False
    hyperparameters = {"tbar": {"$ref": "#/$defs/finetune", "default": {},
                                "description": "overrides of the trigger-vector fine-tuning of method tbar "
                                               "(default - the dataset's trigger_vector recipe)"}}

    def params(self, view):
        return {"tbar_finetune": {**view["trigger_vector"], **view["unlearn"].get("tbar", {})},
                "alpha_search": view["alpha_search"]}

    def run(self, job):
        import pandas as pd

        from bdunlearn.methods.tbar_core import AlphaEvaluator, run_search, trigger_vector
        from bdunlearn.models.task_vectors import negate, norm

        prm, model = job.params, job.model
        theta_bd = {k: v.detach().clone() for k, v in model.editable_state().items()}
        tau, fit = trigger_vector(model, prm, prm["tbar_finetune"], *job.forget, job.device, tag="unlearn-tbar")
        model.load_editable_state(theta_bd)
        ev = AlphaEvaluator(model, theta_bd, tau, job.load_split("val"), job.load_split("val_triggered"),
                            job.target, job.device, prm["eval_batch_size"])
        title = f"{prm['dataset']} / {prm['attack']} (forget set: {job.report['forget_set']})"
        chosen = run_search(ev, prm["alpha_search"], job.out, title)
        model.load_editable_state(negate(theta_bd, tau, chosen["alpha"]))
        job.snapshot(None)
        return {"history": pd.DataFrame(fit["history"]), "alpha": chosen["alpha"], "tau_norm": norm(tau)}
