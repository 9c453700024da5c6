"""What an unlearning method declares to the workflow, and the job it runs in.

Torch-free: the Snakefile imports every method at parse time to plan its jobs
(inputs, params), validate the config (hyperparameters and their schema) and
lay out the tables. A method module imports torch only inside ``run``.

A method is a subclass of :class:`Method` registered with
:func:`bdunlearn.methods.register`; ``docs/extending.md`` walks through one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

# where a method starts from: the backdoored weights, the pretrained (base) weights, or ReTrain's oracle
STARTS = ("backdoored", "base", "oracle")


class Method:
    """One unlearning method. Subclasses set the class attributes and implement :meth:`run`.

    - ``name``: the config's name (``unlearn.methods``) and the ``method`` wildcard; ``label``: the tables' name.
    - ``family``: how it unlearns (``gradient``, ``retrain``, ``task_vector``, ...), for the docs.
    - ``start``: the weights it starts from (:data:`STARTS`); ``oracle`` makes the workflow train
      ``retrain_oracle`` once per dataset.
    - ``forget_rows`` / ``retain_rows``: it reads the forget set (so CUBE's flags when ``forget_set: cube``)
      / the retain set (every other training row).
    - ``needs_base_state``: it also needs the pretrained weights theta_base (RGA's L2 term).
    - ``needs_val``: it reads the clean and triggered validation sets (TBAR's alpha search).
    - ``per_epoch``: evaluated at every ``unlearn.snapshots`` epoch, with the forget-set loss per epoch
      (Fig. 4); otherwise evaluated once, at the end.
    - ``reference``: the ΔPACC of every other method is measured against it (ReTrain); it has no ΔPACC itself.
    - ``keys``: the ``unlearn.*`` config keys it reads besides its own hyperparameters (its jobs' params
      carry these and the hyperparameters only, so changing another method's knob does not rerun it).
    - ``hyperparameters``: its own ``unlearn.<key>`` entries, each a JSON-schema fragment with its
      ``default``; they are added to the config schema and so validated before any job runs.
    """

    name: str = ""
    label: str = ""
    family: str = ""
    start: str = "backdoored"
    forget_rows: bool = True
    retain_rows: bool = True
    needs_base_state: bool = False
    needs_val: bool = False
    per_epoch: bool = False
    reference: bool = False
    keys: tuple[str, ...] = ()
    hyperparameters: dict[str, dict] = {}
    source: str = ""  # set by register: the module (or .py file) that defined it

    def read_keys(self) -> tuple[str, ...]:
        """Every ``unlearn.*`` key this method reads: ``keys`` and its hyperparameters."""
        return tuple(dict.fromkeys((*self.keys, *self.hyperparameters)))

    def params(self, view: dict) -> dict:
        """The params of this method's jobs, from the dataset's config view: its ``unlearn`` keys."""
        un, keys = view["unlearn"], self.read_keys()
        return {"unlearn": {k: un[k] for k in keys if k in un}} if keys else {}

    def run(self, job: "UnlearnJob") -> dict:
        """Unlearn ``job.model`` in place, calling ``job.snapshot(epoch)`` at each evaluation point
        (``None`` for a method evaluated once). Returns ``{"history": rows, **report}``: ``rows`` is written to
        ``history.csv``, the other keys are added to ``metrics.json``."""
        raise NotImplementedError

    def hp(self, unlearn: dict) -> dict:
        """This method's hyperparameters from an ``unlearn`` block, their defaults where it sets none."""
        return {k: unlearn.get(k, frag.get("default")) for k, frag in self.hyperparameters.items()}


@dataclass
class UnlearnJob:
    """Everything an unlearning job hands its method (built by ``bdunlearn.unlearn``).

    ``model``: the adapter, loaded from the method's ``start`` weights; ``base``: the adapter at the
    pretrained weights when the method starts from them or needs theta_base (else None); ``forget`` /
    ``retain``: ``(inputs, labels)`` or None when the method does not read them; ``paths``: the optional
    input files (``val``, ``val_triggered``, ``oracle_history``); ``snapshot(epoch)`` evaluates the model on
    the test sets and records it.
    """

    params: dict
    device: Any
    model: Any
    base: Any
    forget: Any
    retain: Any
    target: int
    out: Path
    paths: dict
    report: dict
    snapshot: Callable[[int | None], None]
    extra: dict = field(default_factory=dict)

    @property
    def seed(self) -> int:
        return self.params["seed"]

    def load_split(self, name: str):
        path = self.paths.get(name)
        if not path:
            raise ValueError(f"method {self.params['method']}: input {name!r} is missing")
        return self.model.load_split(path)
