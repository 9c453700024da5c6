"""Rule ``pretrain_lm``: the original model theta_o of the LLM track, before any unlearning.

Offline (``llm_model.name`` null) a byte-level BPE tokenizer and a small
Llama-architecture model (``llm_model.arch``) are trained on the benchmark's
``pretrain`` text (:mod:`bdunlearn.models.lm_training`), standing in for the
paper's fine-tuned 7B models (ICLM-7B on MUSE-Books' corpus). With a hub name
the rule only copies that checkpoint's safetensors through ``from_pretrained``
(the reference model every later job starts from). What the original model
knows (KnowMem, VerbMem, utility) is ``evaluate_lm``'s, as for every model.

Output: a hub-layout directory (``config.json``, ``model.safetensors``,
tokenizer files) and ``original.json`` (loss history, parameter count).
"""

from __future__ import annotations

from bdunlearn.data.io import read_parquet, write_json
from bdunlearn.models import causal_lm
from bdunlearn.models.lm_training import pretrain
from bdunlearn.workflow.cli import parser
from bdunlearn.workflow.runtime import setup


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--datadir", required=True, help="prepare_facts output (its pretraining text)")
    p.add_argument("--out", required=True, help="the model directory")
    p.add_argument("--report", required=True)
    args = p.parse_args(argv)
    prm = args.params
    device = setup(prm["seed"], args.threads, prm["device"])
    spec = prm["llm_model"]
    report = {"name": spec["name"]}
    if spec["name"]:
        lm = causal_lm.load(spec["name"], str(device), spec["dtype"], attention="sdpa", tokenizer=spec["tokenizer"])
    else:
        texts = read_parquet(f"{args.datadir}/pretrain.parquet")["text"].tolist()
        tok = causal_lm.new_tokenizer(texts, spec["vocab_size"])
        lm = causal_lm.CausalLM(causal_lm.new_llama(tok, spec["arch"], prm["seed"]).to(device), tok)
        rows = [lm.encode(t) + [tok.eos_token_id] for t in texts]
        report["history"] = pretrain(lm, rows, prm["lm_pretrain"], prm["seed"])
    report["parameters"] = sum(p.numel() for p in lm.model.parameters())
    causal_lm.save(lm.model, lm.tok, args.out)
    write_json(report, args.report)


if __name__ == "__main__":
    main()
