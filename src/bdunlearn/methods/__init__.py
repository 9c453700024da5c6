"""The registry of unlearning methods: one module per method, each registering one :class:`Method` class.

Everything that lists methods reads this registry: the workflow's input and
params functions and wildcard constraints (``workflow/rules/common.smk``), the
config schema's ``unlearn.methods`` and hyperparameters (``bdunlearn.config``),
the unlearning step (``bdunlearn.unlearn``) and the tables' order and labels.
Built-in methods are imported below, in table order; more come from the
config's ``plugins`` (importable module names or ``.py`` files), loaded by
:func:`load_plugins`. Torch-free at import.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from .base import STARTS, Method, UnlearnJob

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
    m.source = getattr(sys.modules.get(cls.__module__), "__plugin_file__", cls.__module__)
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


def load_plugins(entries) -> None:
    """Import each plugin: a module name (``mylab.methods``) or a ``.py`` file; importing registers its methods."""
    for entry in entries or []:
        entry = str(entry)
        if entry.endswith(".py"):
            path = Path(entry).resolve()
            if not path.is_file():
                raise FileNotFoundError(f"config key 'plugins': no file {path}")
            name = f"bdunlearn_plugin_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
            if name in sys.modules:
                continue
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            module.__plugin_file__ = str(path)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except ValueError:
                del sys.modules[name]
                raise
            except Exception as err:  # a broken plugin: say which, and let a corrected one load next time
                del sys.modules[name]
                raise ImportError(f"config key 'plugins': {path} failed to import: {type(err).__name__}: {err}") from err
        else:
            try:
                importlib.import_module(entry)
            except ValueError:
                raise
            except Exception as err:
                sys.modules.pop(entry, None)
                raise ImportError(f"config key 'plugins': cannot import {entry!r} ({type(err).__name__}: {err})") from err


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


from . import retrain, ga, npo, rga, tbar  # noqa: E402,F401  (built-ins register themselves, in table order)

__all__ = ["Method", "UnlearnJob", "REGISTRY", "register", "get", "names", "load_plugins", "import_method",
           "schema_fragments", "is_builtin"]
