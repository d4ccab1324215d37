"""Builds the control plane's hottest modules as C extensions with mypyc; everything else stays Python.

Why: every write, watch event and binding decision of `orlop up` runs on one event-loop thread,
and that thread's CPU time per object is the figure issue 3's speed targets measure (README,
Benchmarks). mypyc (mypy's compiler, from the mypy package) turns these typed modules into C
that calls the same objects without the interpreter's bytecode loop (the gain, measured:
README, Benchmarks, fifth to seventh rounds).  The modules are ordinary Python and stay
importable as such:

- ``ORLOP_PURE=1 pip install ...`` installs pure Python (and removes built modules from a
  source tree); so does a machine with no C compiler, saying so.
- The build records each compiled module's source hash in ``orlop/compiled.json``.  A module
  whose source has changed since (an edit in an editable install, a ``git pull``) is not run
  from stale C: ``orlop/__init__.py`` then imports every compiled module from its source and
  says once that the package runs uncompiled until it is rebuilt.

mypyc runs only for a build command, not when pip only reads the package's metadata.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# Hot modules (py-spy: the server's own time per static pair), compiled as one group so that
# calls between them are C calls.  A module here must type-check under mypy; an instance
# method or module function replaced at run time (a test's monkeypatch) is not seen by calls
# made from compiled code.
COMPILED = [
    "orlop/quantity.py",
    "orlop/registry/managedfields.py",
    "orlop/registry/strategy.py",
    "orlop/controllers/pv/decide.py",
    "orlop/registry/core.py",
    "orlop/store/sqlite.py",
    "orlop/api/server.py",
    "orlop/api/decoding.py",
    "orlop/registry/schema.py",
    "orlop/registry/defaults.py",
    "orlop/registry/selectors.py",
    "orlop/registry/warnings.py",
    "orlop/jsonobj.py",
    "orlop/registry/validation.py",
    "orlop/controllers/base.py",
    "orlop/controllers/pv/controller.py",
    "orlop/client.py",
    "orlop/registry/watchstream.py",
]
GROUP = "orlop._compiled"  # the group's shared library: orlop/_compiled__mypyc.*.so
MANIFEST = os.path.join("orlop", "compiled.json")


def module_name(path: str) -> str:
    return path[: -len(".py")].replace("/", ".")


def source_hashes() -> dict[str, str]:
    out = {}
    for path in COMPILED:
        with open(path, "rb") as f:
            out[module_name(path)] = hashlib.sha256(f.read()).hexdigest()
    return out


def remove_built(root: str) -> None:
    """Modules a previous build left in a source tree: they would shadow the sources, and one no
    longer in COMPILED would fail to import.  orlop has no other extension modules."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    for built in glob.glob(os.path.join(root, "orlop", "**", "*" + suffix), recursive=True):
        os.remove(built)
    manifest = os.path.join(root, MANIFEST)
    if os.path.exists(manifest):
        os.remove(manifest)


def compiler_found() -> bool:
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(os.environ.get("CC", cc).split()[0]) is not None


class BuildCompiled(build_ext):
    """build_ext that records the compiled sources' hashes beside the modules it built."""

    def run(self) -> None:
        if self.inplace:
            remove_built(".")
        super().run()
        # Beside the modules: the source tree for an editable install, the build tree otherwise.
        root = "." if self.inplace else self.build_lib
        with open(os.path.join(root, MANIFEST), "w") as f:
            json.dump({"sources": source_hashes()}, f, indent=1, sort_keys=True)


def extensions() -> list[Extension]:
    """mypyc's extensions, made (mypy and C generation, ~1 min) only when a build is asked for."""
    if not BUILDS & set(sys.argv[1:]):
        return []  # metadata only (egg_info, dist_info)
    compiler = compiler_found()
    if os.environ.get("ORLOP_PURE", "") not in ("", "0") or not compiler:
        if not compiler:
            print("orlop: no C compiler found; installing pure Python (slower, README)", file=sys.stderr)
        remove_built(".")
        return []
    from mypyc.build import mypycify

    # Only the compiled modules are judged; the modules they import are read, not checked.
    return mypycify(["--follow-imports=silent", "--ignore-missing-imports", *COMPILED],
                    opt_level="3", group_name=GROUP)


BUILDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "develop", "install"}

setup(ext_modules=extensions(), cmdclass={"build_ext": BuildCompiled})
