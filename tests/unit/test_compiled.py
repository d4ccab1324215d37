"""The modules setup.py compiles with mypyc are never run stale: a changed source sends every
compiled module back to its source (orlop/__init__.py)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import orlop

PACKAGE = Path(orlop.__file__).parent
DOCUMENTS = len(list((PACKAGE / "registry" / "openapi").glob("*.json")))   # schema.py finds them all
# (An editable install's finder, should it come first, is set aside.)
PROBE = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__module__.startswith('__editable__')]; "
         "import orlop, orlop.registry.core as c, orlop.jsonobj as j, orlop.registry.schema as s; "
         "print(orlop.COMPILED, c.__spec__.origin, j.__spec__.origin, len(s.openapi_index()['paths']))")


def run_copy(root: Path) -> subprocess.CompletedProcess[str]:
    """The probe against the package copied under root (found first: the working directory)."""
    return subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, "PYTHONPATH": str(root)}, cwd=root,
                          capture_output=True, text=True, check=True, timeout=60)


def test_source_hashes_tell_a_changed_module(tmp_path):
    real = hashlib.sha256((PACKAGE / "jsonobj.py").read_bytes()).hexdigest()
    assert orlop._stale({"orlop.jsonobj": real}) == []
    assert orlop._stale({"orlop.jsonobj": "0" * 64}) == ["orlop.jsonobj"]
    spec = orlop._FromSource({"orlop.jsonobj"}).find_spec("orlop.jsonobj")
    assert spec is not None and spec.origin == str(PACKAGE / "jsonobj.py")
    assert orlop._FromSource({"orlop.jsonobj"}).find_spec("orlop.quantity") is None


def test_an_edited_source_runs_every_compiled_module_from_source(tmp_path):
    if not orlop.COMPILED:
        pytest.skip("no fresh mypyc build here (ORLOP_PURE=1, no C compiler, or sources edited since): "
                    "nothing compiled to go stale")
    shutil.copytree(PACKAGE, tmp_path / "orlop", ignore=shutil.ignore_patterns("__pycache__"))
    fresh = run_copy(tmp_path)
    compiled, core, jsonobj, documents = fresh.stdout.split()
    assert (compiled, fresh.stderr) == ("True", "")
    for origin in (core, jsonobj):      # (mypyc names some of them one "orlop/" too deep)
        assert origin.startswith(str(tmp_path / "orlop")) and origin.endswith(".so")
    assert int(documents) == DOCUMENTS
    with open(tmp_path / "orlop" / "jsonobj.py", "a") as f:
        f.write("\n# edited after the build\n")
    stale = run_copy(tmp_path)
    compiled, core, jsonobj, documents = stale.stdout.split()
    assert compiled == "False"
    # all or none: core.py (unchanged) is run from source too, since compiled modules call each other in C
    assert core == str(tmp_path / "orlop" / "registry" / "core.py")
    assert jsonobj == str(tmp_path / "orlop" / "jsonobj.py") and int(documents) == DOCUMENTS
    assert stale.stderr.startswith("orlop: orlop.jsonobj changed since it was compiled; running all compiled "
                                   "modules from source")
