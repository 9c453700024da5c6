"""bdunlearn: a Snakemake pipeline for backdoor-unlearning research.

The package holds all logic; each Snakemake rule calls one CLI module
(``python -m bdunlearn.<module>``). Stage modules:

- ``prepare_images``: datasets to Parquet splits (train / val / test / forget).
- ``poison_images``: poisoned training set and triggered evaluation sets.
- ``pretrain_clip``: a pretrained CLIP exported to safetensors (or a small one trained offline).
- ``build_head``: zero-shot classification head from class names and templates.
- ``finetune_backdoor``: backdoor fine-tuning of the visual encoder.
- ``estimate_trigger_vector``: TBAR trigger vector (eq. 2 of the TBAR paper).
- ``search_alpha``: task-negation coefficient grid search (eq. 3).
- ``evaluate``: test metrics of the zero-shot, backdoored and unlearned models.
- ``make_table``: paper-style tables (CSV, Markdown, LaTeX).
"""

__version__ = "0.1.0"
