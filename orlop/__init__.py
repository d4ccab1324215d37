"""orlop: a Kubernetes-compatible persistent-storage control plane.

This file exists for one check, run once at import: that no module compiled by mypyc (setup.py)
is older than its source.  An edit in an editable install or a ``git pull`` changes a source
without rebuilding its C; running the old C would run code that is no longer there.  When any
compiled module's source hash differs from the one recorded at build time (``compiled.json``),
every compiled module is imported from its source instead (they call each other directly in C,
so it is all or none), and the package says so once on stderr.  ``pip install -e .`` rebuilds.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)


def _source(module: str) -> str:
    return os.path.join(_ROOT, *module.split(".")) + ".py"


def _stale(recorded: dict[str, str]) -> list[str]:
    out = []
    for module, digest in recorded.items():
        try:
            with open(_source(module), "rb") as f:
                if hashlib.sha256(f.read()).hexdigest() == digest:
                    continue
        except OSError:
            continue  # an installed package without sources: only the compiled module exists
        out.append(module)
    return out


class _FromSource(importlib.abc.MetaPathFinder):
    """Imports the named modules from their .py files, ahead of the compiled ones beside them."""

    def __init__(self, modules: set[str]) -> None:
        self.modules = modules

    def find_spec(self, name: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if name not in self.modules:
            return None
        return importlib.util.spec_from_file_location(name, _source(name))


def _check_compiled() -> bool:
    """True when the compiled modules are used; installs _FromSource when they are stale."""
    try:
        with open(os.path.join(_HERE, "compiled.json"), "rb") as f:
            recorded = json.load(f)["sources"]
    except (OSError, ValueError, KeyError):
        return False  # not built with mypyc (ORLOP_PURE=1, no compiler): pure Python throughout
    stale = _stale(recorded)
    if not stale:
        return True
    sys.meta_path.insert(0, _FromSource(set(recorded)))
    print(f"orlop: {', '.join(sorted(stale))} changed since it was compiled; running all compiled modules "
          "from source (slower) until `pip install -e .` rebuilds them", file=sys.stderr)
    return False


COMPILED = _check_compiled()
