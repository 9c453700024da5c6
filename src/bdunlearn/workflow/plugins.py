"""Plugins: the config's ``plugins`` entries (module names or ``.py`` files), imported so that what they register
(unlearning methods, model kinds, ...) joins the registries. Torch-free.

A ``.py`` file is imported under a name derived from its resolved path and
gets ``__plugin_file__`` (the path), which the registries record as the
plugin's source: jobs re-import it from there.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path


def source_of(module_name: str) -> str:
    """What a job imports to get a class defined in ``module_name``: the plugin file, else the module name."""
    return getattr(sys.modules.get(module_name), "__plugin_file__", module_name)


def load_plugins(entries) -> None:
    """Import each plugin: a module name (``mylab.methods``) or a ``.py`` file; importing registers its classes.

    A registry's ``ValueError`` (a name registered twice) passes through; any other failure is an
    ``ImportError`` naming the config key and the plugin, and the broken module is forgotten so that a
    corrected one loads next time.
    """
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
            except Exception as err:
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
