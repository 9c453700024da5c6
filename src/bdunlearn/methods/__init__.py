"""The registry of unlearning methods: one module per method, each registering one :class:`Method` class.

Everything that lists methods reads this registry: the workflow's input and
params functions and wildcard constraints (``workflow/rules/common.smk``), the
config schema's ``unlearn.methods`` and hyperparameters (``bdunlearn.workflow.config``),
the unlearning step (``bdunlearn.unlearn``) and the tables' order and labels.
Built-in methods are imported below, in table order; more come from the
config's ``plugins`` (importable module names or ``.py`` files), loaded by
:func:`load_plugins`. Torch-free at import.
"""

from __future__ import annotations

from bdunlearn.methods.base import STARTS, Method, UnlearnJob
from bdunlearn.workflow.plugins import load_plugins, source_of

REGISTRY: dict[str, Method] = {}
_NAME_OK = "abcdefghijklmnopqrstuvwxyz0123456789_"


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: instantiate ``cls`` and add it to the registry under ``cls.name``."""
    m = cls()
    if not m.name or set(m.name) - set(_NAME_OK) or m.name == "backdoored":
        raise ValueError(f"method class {cls.__name__}: name {m.name!r} must be lower-case letters, digits and "
                         "underscores, and not 'backdoored'")
    if m.start not in STARTS:
        raise ValueError(f"method {m.name}: start {m.start!r}; allowed: {', '.join(STARTS)}")
    m.label = m.label or m.name
    m.source = source_of(cls.__module__)
    old = REGISTRY.get(m.name)
    if old is not None and old.source != m.source:  # the same module imported again may register again
        raise ValueError(f"method {m.name!r} is registered twice ({old.source} and {m.source})")
    for key in m.hyperparameters:
        owner = next((o for o in REGISTRY.values() if key in o.hyperparameters and o.source != m.source), None)
        if owner is not None:
            raise ValueError(f"method {m.name!r} ({m.source}): hyperparameter unlearn.{key} is already method "
                             f"{owner.name!r}'s; give it a name of its own (e.g. {m.name}_{key})")
    REGISTRY[m.name] = m
    return cls


def get(name: str) -> Method:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown unlearning method {name!r}; registered: {', '.join(REGISTRY)}") from None


def names() -> list[str]:
    return list(REGISTRY)


def is_builtin(method: Method) -> bool:
    return method.source.startswith(__name__ + ".")


def import_method(name: str, source: str | None) -> Method:
    """The method ``name``, importing ``source`` first when it is a plugin."""
    if name not in REGISTRY and source:
        load_plugins([source])
    return get(name)


def schema_fragments() -> tuple[dict, dict]:
    """The registered hyperparameters as ``({key: schema without default}, {key: {"default": ...}})``."""
    props, defaults = {}, {}
    for m in REGISTRY.values():
        for key, frag in m.hyperparameters.items():
            props[key] = {k: v for k, v in frag.items() if k != "default"}
            if "default" in frag:
                defaults[key] = {"default": frag["default"]}
    return props, defaults


from bdunlearn.methods import retrain, ga, tbar_ga, npo, rga, tbar  # noqa: E402, F401  (built-ins register themselves, in table order)

__all__ = ["Method", "UnlearnJob", "REGISTRY", "register", "get", "names", "load_plugins", "import_method",
           "schema_fragments", "is_builtin"]
