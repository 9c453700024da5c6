"""bdunlearn: a Snakemake pipeline for backdoor-unlearning research.

The package holds all logic. Its top level holds only the step modules, one
per Snakemake rule (``python -m bdunlearn.<step>``; ``bdunlearn --help`` lists
them): each parses its arguments, calls the library and writes its outputs,
and none imports another. The library lies below, in subpackages:

- ``attacks``: the attack registry, one module per backdoor attack (image and text);
- ``models``: the model-kind registry (``clip``, ``text``), the adapters every method talks to, open_clip and
  transformers loading, zero-shot heads, task-vector arithmetic, supervised fine-tuning;
- ``methods``: the unlearning-method registry, one module per method (GA, NPO, RGA, ReTrain, TBAR), and
  TBAR's core (trigger vector, alpha search) that both tracks use;
- ``detection``: CUBE (UMAP + HDBSCAN);
- ``data``: dataset sources (digits, the dataset hub, TSV), the offline stand-in corpora, file I/O
  (Parquet, safetensors, JSON; atomic), pinned downloads;
- ``evaluation``: metrics (CA, ASR, LFR, PACC, detection scores);
- ``workflow``: config validation, the steps' command-line plumbing, process settings, GPU leases,
  plugins, profile checks and the HTML report.
"""

__version__ = "0.1.0"
