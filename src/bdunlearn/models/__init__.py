"""The registry of model kinds: one module per kind, each registering one :class:`ModelKind` class.

Everything that builds a model reads this registry: the workflow's model spec
and input functions (``workflow/rules/common.smk``), the config schema's
``datasets.<name>.model_kind`` and the kinds' own config checks
(``bdunlearn.workflow.config``), and every step that loads a model
(:func:`load_adapter`). Built-in kinds: ``clip`` (image, the default) and
``text`` (text, the default); more come from the config's ``plugins``. A
plugin's kind puts its source in the spec (``plugin``), so each job imports
it before loading. Torch-free at import.
"""

from __future__ import annotations

import re

from bdunlearn.models.base import MODALITIES, ModelContext, ModelKind
from bdunlearn.workflow.plugins import load_plugins, source_of

REGISTRY: dict[str, ModelKind] = {}


def register(cls: type[ModelKind]) -> type[ModelKind]:
    """Class decorator: instantiate ``cls`` and add it to the registry under ``cls.name``."""
    kind = cls()
    if not re.fullmatch(r"[a-z0-9_]+", kind.name or ""):
        raise ValueError(f"model kind class {cls.__name__}: name {kind.name!r} must be lower-case letters, digits "
                         "and underscores")
    if kind.modality not in MODALITIES:
        raise ValueError(f"model kind {kind.name}: modality {kind.modality!r}; allowed: {', '.join(MODALITIES)}")
    kind.label = kind.label or kind.name
    kind.source = source_of(cls.__module__)
    old = REGISTRY.get(kind.name)
    if old is not None and old.source != kind.source:  # the same module imported again may register again
        raise ValueError(f"model kind {kind.name!r} is registered twice ({old.source} and {kind.source})")
    if kind.default:
        other = next((k for k in REGISTRY.values() if k.default and k.modality == kind.modality
                      and k.name != kind.name), None)
        if other is not None:
            raise ValueError(f"model kind {kind.name!r}: {other.name!r} is already the default {kind.modality} kind")
    REGISTRY[kind.name] = kind
    return cls


def names(modality: str | None = None) -> list[str]:
    """The registered kinds (of one modality), in registration order."""
    return [n for n, k in REGISTRY.items() if modality in (None, k.modality)]


def get(name: str, modality: str | None = None) -> ModelKind:
    """The kind ``name`` (of ``modality``, when given); an unknown one is an error listing the allowed names."""
    kind = REGISTRY.get(name)
    if kind is None or modality not in (None, kind.modality):
        what = f"{modality} model kind" if modality else "model kind"
        raise ValueError(f"unknown {what} {name!r}; allowed: {', '.join(names(modality))}")
    return kind


def default_for(modality: str) -> str:
    """The default kind of a modality (``clip`` for image datasets, ``text`` for text datasets)."""
    return next(k.name for k in REGISTRY.values() if k.default and k.modality == modality)


def is_builtin(kind: ModelKind) -> bool:
    return kind.source.startswith(__name__ + ".")


def spec_for(kind: ModelKind, ctx: ModelContext) -> dict:
    """The full model spec of a dataset's model: the kind's own spec, its ``kind`` and, for a plugin's kind, the
    plugin that defines it."""
    spec = {**kind.spec(ctx), "kind": kind.name}
    if not is_builtin(kind):
        spec["plugin"] = kind.source
    return spec


def load_adapter(spec: dict, weights=None, device="cpu"):
    """The adapter a model spec describes, with ``weights`` (a safetensors file of its editable state) loaded.
    A spec naming a ``plugin`` imports it first."""
    if spec.get("kind") not in REGISTRY and spec.get("plugin"):
        load_plugins([spec["plugin"]])
    return get(str(spec.get("kind"))).load(spec, weights, device)


from bdunlearn.models import clip, text  # noqa: E402, F401  (built-ins register themselves)

__all__ = ["ModelKind", "ModelContext", "REGISTRY", "register", "get", "names", "default_for", "is_builtin",
           "spec_for", "load_adapter"]
