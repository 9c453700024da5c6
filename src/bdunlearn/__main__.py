"""The ``bdunlearn`` command: run one pipeline step by hand, as its rule would (``python -m bdunlearn.<step>``).

``bdunlearn --help`` lists the steps (the modules whose docstring starts with
"Rule", one per Snakemake rule) with their one-line summaries, read from the
source without importing torch; ``bdunlearn methods [PLUGIN ...]`` lists the
registered unlearning methods (with those of the plugins, module names or ``.py`` files), ``bdunlearn models
[PLUGIN ...]`` the model kinds; ``bdunlearn STEP --help`` shows a step's arguments.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def steps() -> dict[str, str]:
    """``{step: summary}`` of every step module, in name order."""
    out = {}
    for f in sorted(PACKAGE.glob("*.py")):
        doc = ast.get_docstring(ast.parse(f.read_text())) or ""
        if doc.startswith("Rule ``"):
            out[f.stem] = " ".join(doc.split("\n\n", 1)[0].split())
    return out


def usage() -> str:
    lines = ["usage: bdunlearn STEP [--params JSON ...]   |   bdunlearn methods|models [PLUGIN ...]   |   bdunlearn STEP --help", "",
             "Runs one step of the bdunlearn pipeline by hand; `snakemake --cores N` runs them all, cached.",
             "The Snakemake log of a run (`snakemake -n -p`) prints each step's full command line.", "", "steps:"]
    for name, summary in steps().items():
        lines.append(f"  {name:<24} {summary.split(': ', 1)[-1]}")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    step, rest = argv[0], argv[1:]
    if step == "methods":
        from bdunlearn import methods

        methods.load_plugins(rest)
        for m in methods.REGISTRY.values():
            print(f"{m.name:<18} {m.label:<20} {m.family:<12} starts from the {m.start} weights")
        return 0
    if step == "models":
        from bdunlearn import models

        models.load_plugins(rest)
        for k in models.REGISTRY.values():
            default = f" (the {k.modality} default)" if k.default else ""
            print(f"{k.name:<18} {k.label:<26} {k.modality} datasets{default}")
        return 0
    if step not in steps():
        print(f"bdunlearn: unknown step {step!r}; steps: {', '.join(steps())}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"bdunlearn.{step}")
    sys.argv = [f"bdunlearn {step}", *rest]
    module.main(rest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
