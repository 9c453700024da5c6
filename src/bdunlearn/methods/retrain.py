"""ReTrain: the oracle every ΔPACC is measured against, and its detector-dependent variant.

- ``retrain`` (the paper's gold standard, and what the RGA authors' code
  trains): the backdoor fine-tuning recipe from the pretrained weights on the
  whole clean training split, whatever the detector found. It does not depend
  on the attack, so rule ``retrain_oracle`` trains it once per dataset and this
  method only evaluates it on each attack's test sets.
- ``retrain_filtered``: the same recipe on the training set minus the forget
  rows (detect-then-retrain, as CUBE itself proposes): whatever the detector
  misses is learned again.
"""

from __future__ import annotations

from bdunlearn.methods import register
from bdunlearn.methods.base import Method


@register
class ReTrain(Method):
    name = "retrain"
    label = "ReTrain"
    family = "retrain"
    start = "oracle"
    forget_rows = False
    retain_rows = False
    reference = True

    def run(self, job):
        import pandas as pd

        from bdunlearn.data.io import read_json

        fit = read_json(job.paths["oracle_history"])
        job.report["n_retain"] = fit["n_samples"]  # the rows the oracle was trained on
        job.snapshot(None)
        return {"history": pd.DataFrame(fit["history"])}


@register
class ReTrainFiltered(Method):
    name = "retrain_filtered"
    label = "ReTrain (filtered)"
    family = "retrain"
    start = "base"

    def params(self, view):
        return {"finetune": view["finetune"]}

    def run(self, job):
        import pandas as pd

        from bdunlearn.models.training import finetune_adapter

        fit = finetune_adapter(job.model, job.params, *job.retain, job.device, tag="retrain")
        job.snapshot(None)
        return {"history": pd.DataFrame(fit["history"])}
