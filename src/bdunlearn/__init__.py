"""bdunlearn: a Snakemake pipeline for backdoor-unlearning research.

The package holds all logic; each Snakemake rule calls one CLI module
(``python -m bdunlearn.<module>``). Stage modules:

- ``prepare_images``: datasets to Parquet splits (train / val / test / forget).
- ``poison_images``: poisoned training set and triggered evaluation sets.
- ``pretrain_clip``: a pretrained CLIP exported to safetensors (or a small one trained offline).
- ``build_head``: zero-shot classification head from class names and templates.
- ``finetune_backdoor``: backdoor fine-tuning (CLIP visual encoder or a whole text classifier).
- ``estimate_trigger_vector``: TBAR trigger vector (eq. 2 of the TBAR paper).
- ``search_alpha``: task-negation coefficient grid search (eq. 3).
- ``evaluate``: test metrics of the zero-shot, backdoored and unlearned models.
- ``make_table``: paper-style tables (CSV, Markdown, LaTeX).
- ``prepare_text`` / ``poison_text``: text splits and the BadNets / AddSent / HiddenKiller attacks.
- ``detect_cube``: CUBE detection of poisoned training rows (any adapter).
- ``evaluate_backdoored`` / ``unlearn``: CACC / LFR / PACC of the backdoored model, and GA / NPO / RGA /
  ReTrain / TBAR unlearning on any adapter.
- ``make_unlearning_table`` / ``plot_poison_loss``: RGA paper Tables 2 and 7, and Fig. 4.

Shared modules: ``adapters`` (CLIP and text classifiers behind one interface), ``unlearning`` (the
GA / NPO / RGA losses and loop), ``attacks`` (the attack registry, one module per attack), ``cube``,
``text_models``, ``text_sources``, ``synthetic_text``, ``training``, ``task_vectors``, ``metrics``, ``io``, ``config``.
"""

__version__ = "0.1.0"
