"""The ``bdunlearn`` command: it lists every step a rule runs, and runs one by hand."""

import re
import subprocess
import sys
from pathlib import Path

from bdunlearn.__main__ import steps

RULES = Path(__file__).resolve().parents[1] / "workflow" / "rules"


def bdunlearn(*args):
    return subprocess.run([sys.executable, "-m", "bdunlearn", *args], capture_output=True, text=True)


def test_help_lists_every_step_the_rules_run():
    called = set()
    for smk in RULES.glob("*.smk"):
        called |= set(re.findall(r"\bbdu(?:_gpu)?(?: --gpus \{params.gpus\})? ([a-z_]+) --", smk.read_text()))
    assert called and called == set(steps())
    out = bdunlearn("--help")
    assert out.returncode == 0
    for step in called:
        assert re.search(rf"^  {step} +\S", out.stdout, re.M), step


def test_a_step_runs_by_hand_and_unknown_steps_are_named():
    out = bdunlearn("unlearn", "--help")
    assert out.returncode == 0 and "--oracle-history" in out.stdout and "registered unlearning method" in out.stdout
    bad = bdunlearn("unlern")
    assert bad.returncode == 2 and "unknown step 'unlern'" in bad.stderr and "unlearn" in bad.stderr
    listed = bdunlearn("methods").stdout.split("\n")
    assert [line.split()[0] for line in listed if line] == ["retrain", "retrain_filtered", "ga", "tbar_ga", "npo", "rga",
                                                            "tbar"]
    kinds = bdunlearn("models", str(Path(__file__).with_name("toy_model_kind.py"))).stdout.split("\n")
    assert [line.split()[0] for line in kinds if line] == ["clip", "text", "pixel_mlp"]


def test_the_console_script_is_installed_beside_python():
    script = Path(sys.executable).with_name("bdunlearn")
    assert script.is_file(), "pip install -e . installs the `bdunlearn` command ([project.scripts])"


def test_the_top_level_holds_only_steps_and_no_step_imports_another():
    """src/bdunlearn/: the step modules (one per rule) at the top, the library in subpackages; a step imports
    the library only, never another step (so library code does not live in command-line entry points)."""
    import ast

    package = Path(__file__).resolve().parents[1] / "src" / "bdunlearn"
    top = {f.stem for f in package.glob("*.py")} - {"__init__", "__main__"}
    assert top == set(steps())
    for step in top:
        tree = ast.parse((package / f"{step}.py").read_text())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                imported |= {a.name for a in node.names}
        assert not {m.split(".")[1] for m in imported if m.startswith("bdunlearn.") and m.count(".") == 1} & top, step
        assert all(node.level == 0 for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)), step
