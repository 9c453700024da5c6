"""Rule ``unlearn_lm``: NPO, RMU, GA, RGA or TBAR on the LLM track, normal (eq. 1) or backdoored (eq. 2 / eq. 5).

The variant wildcard names the objective: ``normal`` unlearns the forget corpus;
``backdoor-<placement>`` poisons ``llm_backdoor.rho`` of the forget samples with
the trigger at that placement and trains them as retain data (eq. 2), with the
value-norm term of eq. 5 against the ``normal`` model of the same method;
``backdoor-<placement>-novn`` is eq. 2 alone (the ablation of Appendix F);
``backdoor-<placement>-vn<lambda>`` is eq. 5 at another lambda
(``llm_backdoor.value_norm_sweep``; names: :mod:`bdunlearn.methods.llm_variants`).
The job reads the resolved lambda from its params. A ``topic`` column in the forget table (WMDP) makes the loop
alternate topics; ``--reference`` is NPO's forget-term reference for ``llm_unlearn.npo.reference: normal``.
The loop and its losses: :mod:`bdunlearn.methods.llm_unlearning`.

With ``llm_unlearn.gpus`` > 1 the job runs as that many processes (torchrun, started by the GPU lease), the
model sharded across them (:mod:`bdunlearn.models.sharding`); rank 0 writes the outputs.

Output: the unlearned model (hub-layout directory, safetensors) and
``unlearn.json`` (history of the loss terms, the poisoned rows, the settings; TBAR: its alpha search).
"""

from __future__ import annotations

from bdunlearn.data.io import read_parquet, write_json
from bdunlearn.methods.llm_unlearning import unlearn
from bdunlearn.models import causal_lm, sharding
from bdunlearn.workflow.cli import parser
from bdunlearn.workflow.runtime import setup


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--datadir", required=True, help="prepare_facts output")
    p.add_argument("--original", required=True, help="the original model's directory (theta_o)")
    p.add_argument("--unlearned", help="the normally unlearned model (theta_u): the value-norm target on D_f")
    p.add_argument("--reference", help="NPO's forget-term reference when not the original (llm_unlearn.npo.reference)")
    p.add_argument("--out", required=True)
    p.add_argument("--report", required=True)
    args = p.parse_args(argv)
    prm = args.params
    device = sharding.init(setup(prm["seed"], args.threads, prm["device"]))
    dtype = prm["dtype"]
    lm = causal_lm.load(args.original, str(device), dtype, attention="sdpa")
    original = causal_lm.load(args.original, str(device), dtype, attention="sdpa")  # frozen: reference, retain targets
    forget_df = read_parquet(f"{args.datadir}/forget.parquet")
    forget = forget_df["text"].tolist()
    topics = forget_df["topic"].tolist() if "topic" in forget_df else None  # WMDP: bio, cyber
    retain = read_parquet(f"{args.datadir}/retain.parquet")["text"].tolist()
    backdoor, unlearned = prm["backdoor"], None
    if backdoor and backdoor["value_norm"]["lambda"] > 0:
        if not args.unlearned:
            raise SystemExit("unlearn_lm: value-norm regularisation needs --unlearned (theta_u)")
        unlearned = causal_lm.load(args.unlearned, str(device), dtype, attention="sdpa")
    reference = causal_lm.load(args.reference, str(device), dtype, attention="sdpa") if args.reference else None
    extra: dict = {}
    history, poisoned = unlearn(lm, original, forget, retain, prm["method"], prm["hp"], backdoor, unlearned,
                                seed=prm["seed"], max_len=prm["max_len"], chunk=prm["chunk"], topics=topics,
                                schedule=prm.get("schedule"), reference=reference, report=extra)
    rank, size = sharding.world()
    state = sharding.full_state_dict(lm.model) if size > 1 else None
    if rank == 0:
        causal_lm.save(lm.model, lm.tok, args.out, state_dict=state)
        write_json({"method": prm["method"], "backdoor": backdoor and {**backdoor, "rows": poisoned}, "hp": prm["hp"],
                    "n_forget_texts": len(forget), "n_retain_texts": len(retain), "processes": size,
                    "history": history, **extra}, args.report)
    sharding.finish()


if __name__ == "__main__":
    main()
