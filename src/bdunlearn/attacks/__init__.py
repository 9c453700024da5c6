"""The registry of backdoor attacks: one module per attack, each registering one :class:`Attack` class.

Everything that lists attacks reads this registry: the config schema's
``attacks`` names and ``attack_params`` blocks and the modality and input-file
checks (``bdunlearn.workflow.config``), the poisoning job's inputs
(``workflow/rules/common.smk``), the poisoning steps (``bdunlearn.poison_images``,
``bdunlearn.poison_text``) and the tables' labels. The registered class is the
trigger itself: :meth:`Attack.build` makes one from a seed and the config's
parameters. Built-in attacks are imported below, in the order the schema lists
them. Torch-free at import: the attack modules import torch inside their methods.
"""

from __future__ import annotations

import inspect
import re

from bdunlearn.attacks.base import MODALITIES, Attack, ImageAttack, TextAttack

REGISTRY: dict[str, type[Attack]] = {}


def register(cls: type[Attack]) -> type[Attack]:
    """Class decorator: add ``cls`` to the registry under ``cls.name``; its parameters' defaults are its
    constructor's."""
    if not re.fullmatch(r"[a-z0-9_]+", cls.name):
        raise ValueError(f"attack class {cls.__name__}: name {cls.name!r} must be lower-case letters, digits and underscores")
    if cls.modality not in MODALITIES:
        raise ValueError(f"attack {cls.name}: modality {cls.modality!r}; allowed: {', '.join(MODALITIES)}")
    old = REGISTRY.get(cls.name)
    if old is not None and old.source != cls.__module__:  # the same module imported again may register again
        raise ValueError(f"attack {cls.name!r} is registered twice ({old.source} and {cls.__module__})")
    signature = inspect.signature(cls)
    for key, frag in cls.parameters.items():
        arg = signature.parameters.get(key)
        if arg is None or arg.default is inspect.Parameter.empty:
            raise ValueError(f"attack {cls.name}: parameter {key!r} must be a constructor argument with a default")
        frag["default"] = arg.default
    if cls.data_dir and cls.data_dir not in cls.parameters:
        raise ValueError(f"attack {cls.name}: data_dir {cls.data_dir!r} is not one of its parameters")
    cls.label = cls.label or cls.name
    cls.source = cls.__module__
    REGISTRY[cls.name] = cls
    return cls


def names(modality: str | None = None) -> list[str]:
    """The registered attacks (of one modality), in registration order."""
    return [n for n, a in REGISTRY.items() if modality in (None, a.modality)]


def get(name: str, modality: str | None = None) -> type[Attack]:
    """The attack ``name`` (of ``modality``, when given); an unknown one is an error listing the allowed names."""
    att = REGISTRY.get(name)
    if att is None or modality not in (None, att.modality):
        kind = f"{modality} attack" if modality else "attack"
        raise ValueError(f"unknown {kind} {name!r}; allowed: {', '.join(names(modality))}")
    return att


def label(name: str) -> str:
    """The tables' name of an attack (the name itself when none is registered)."""
    att = REGISTRY.get(name)
    return att.label if att is not None else name


def schema_fragments() -> tuple[list[str], dict]:
    """The registered names and ``{name: its attack_params block}`` for the config schema."""
    return names(), {n: a.schema() for n, a in REGISTRY.items()}


from bdunlearn.attacks import badnet, blended, wanet, sig, badclip, badnets, addsent, hiddenkiller  # noqa: E402, F401  (built-ins, in schema order)

__all__ = ["Attack", "ImageAttack", "TextAttack", "REGISTRY", "register", "names", "get", "label", "schema_fragments"]
