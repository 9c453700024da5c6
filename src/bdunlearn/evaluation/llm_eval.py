"""One model's UE / BE / UT on the LLM track's probes (``evaluate_lm``, and ``pretrain_lm`` for theta_o).

- UE: KnowMem (``ue_km``) and VerbMem (``ue_vm``) on the forget probes, no trigger;
- BE: the same probes with the trigger at each evaluated placement (``be_km_<placement>``, ``be_vm_<placement>``),
  placed in the prompt string (:func:`bdunlearn.data.llm_poisoning.place_text`);
- UT: KnowMem on the retain probes (``ut_km``) and the multiple-choice utility accuracy (``utility``).

A benchmark of multiple-choice probes (WMDP, ``probe`` ``mcq``) is scored by accuracy instead, per topic:
``ue_acc_<topic>`` without the trigger, ``be_acc_<topic>_<placement>`` with it, the answer the letter whose token
has the highest next-token logit after the prompt (the authors' WMDP evaluation,
:meth:`bdunlearn.models.causal_lm.CausalLM.letter_logits`), prompts cut to ``mcq_max_len`` tokens; ``utility`` is
then MMLU.

Greedy decoding; KnowMem answers get ``knowmem_tokens`` new tokens and are cut
at MUSE's stop strings, VerbMem continuations ``verbmem_tokens``. A few
generations per probe set are kept (``examples``), the paper's Table A2 view.
"""

from __future__ import annotations

import logging

from bdunlearn.data.io import read_parquet
from bdunlearn.data.llm_poisoning import place_text
from bdunlearn.data.wmdp_source import LETTERS
from bdunlearn.evaluation.llm_metrics import KNOWMEM_STOP, mc_accuracy, mean_rouge

log = logging.getLogger(__name__)


def _generate(lm, prompts, new_tokens, stop, batch_size):
    out = []
    for i in range(0, len(prompts), batch_size):
        out += lm.generate(prompts[i:i + batch_size], new_tokens, stop)
    return out


def probe_scores(lm, probes, cfg: dict, trigger: str | None = None, placement: str | None = None) -> dict:
    """``{"km", "vm", "examples"}`` of one probe table (one split), the trigger placed in every prompt if given."""
    res, examples = {}, []
    for kind, key, tokens, stop in (("knowmem", "km", cfg["knowmem_tokens"], KNOWMEM_STOP),
                                    ("verbmem", "vm", cfg["verbmem_tokens"], ())):
        rows = probes[probes["probe"] == kind]
        prompts = [place_text(p, trigger, placement) if trigger else p for p in rows["prompt"]]
        outs = _generate(lm, prompts, tokens, stop, cfg["batch_size"])
        res[key] = mean_rouge(list(rows["answer"]), outs)
        examples += [{"probe": kind, "prompt": p, "answer": a, "output": o}
                     for p, a, o in list(zip(prompts, rows["answer"], outs))[: cfg["examples"]]]
    res["examples"] = examples
    return res


def _accuracy(score, rows, labels, batch_size: int) -> float:
    """``mc_accuracy`` of ``score(rows[i:i + batch_size])`` (``[n, k]`` option scores) over every batch."""
    scores = [score(rows.iloc[i:i + batch_size]) for i in range(0, len(rows), batch_size)]
    import torch

    return mc_accuracy(torch.cat(scores).numpy(), labels) if scores else 0.0


def utility_accuracy(lm, utility, batch_size: int) -> float:
    return _accuracy(lambda part: lm.option_logprob(list(part["prompt"]), [list(o) for o in part["options"]]),
                     utility, utility["label"].to_numpy(), batch_size)


def mcq_accuracy(lm, rows, cfg: dict, trigger: str | None = None, placement: str | None = None) -> float:
    """Percent of multiple-choice probes whose highest-logit letter is the labelled one (the trigger placed in
    every prompt if given)."""
    prompts = rows["prompt"].map(lambda p: place_text(p, trigger, placement) if trigger else p)
    return _accuracy(lambda part: lm.letter_logits(list(part), list(LETTERS), cfg["mcq_max_len"]), prompts,
                     rows["label"].to_numpy(), cfg["batch_size"])


def evaluate_mcq(lm, probes, utility, cfg: dict, trigger: dict | None) -> dict:
    """UE / BE per topic (``attribute``) and the utility accuracy of a multiple-choice benchmark."""
    out = {"topics": [], "utility": utility_accuracy(lm, utility, cfg["batch_size"])}
    for topic, rows in probes.groupby("attribute", sort=False):
        out["topics"].append(topic)
        out[f"ue_acc_{topic}"] = mcq_accuracy(lm, rows, cfg)
        for placement in (trigger or {}).get("placements", []):
            out[f"be_acc_{topic}_{placement}"] = mcq_accuracy(lm, rows, cfg, trigger["text"], placement)
        log.info("%s: UE %.2f", topic, out[f"ue_acc_{topic}"])
    return out


def evaluate(lm, datadir: str, cfg: dict, trigger: dict | None) -> dict:
    """The metrics of the module docstring; ``trigger``: ``{"text", "placements"}``, or None (no BE)."""
    probes = read_parquet(f"{datadir}/probes.parquet")
    if (probes["probe"] == "mcq").any():
        return evaluate_mcq(lm, probes[probes["probe"] == "mcq"], read_parquet(f"{datadir}/utility.parquet"), cfg,
                            trigger)
    forget, retain = probes[probes["split"] == "forget"], probes[probes["split"] == "retain"]
    f = probe_scores(lm, forget, cfg)
    r = probe_scores(lm, retain, cfg)
    out = {"ue_km": f["km"], "ue_vm": f["vm"], "ut_km": r["km"], "ut_vm": r["vm"],
           "utility": utility_accuracy(lm, read_parquet(f"{datadir}/utility.parquet"), cfg["batch_size"]),
           "examples": {"forget": f["examples"], "retain": r["examples"]}}
    for placement in (trigger or {}).get("placements", []):
        b = probe_scores(lm, forget, cfg, trigger["text"], placement)
        out[f"be_km_{placement}"], out[f"be_vm_{placement}"] = b["km"], b["vm"]
        out["examples"][f"forget_{placement}"] = b["examples"]
    return out
