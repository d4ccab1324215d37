"""hostPath volumes: static PVs that name a directory on the node, as Kubernetes'
in-tree ``kubernetes.io/host-path`` plugin treats them.

Why this exists: seed 000's ``task-pv-volume`` is a hostPath PV with a reclaim policy.
The PV controller must be able to reclaim such volumes exactly as Kubernetes does, and
this module also holds the careful directory operations (scrub, remove, mount lookup)
that the local-path driver shares.

Rules, each Kubernetes' own unless marked:
- Provisioning is refused: Kubernetes' host-path provisioner is off unless
  ``--enable-hostpath-provisioner`` is given, with the message
  ``provisioning in volume plugin "kubernetes.io/host-path" is disabled``.  Static PVs only.
- Recycle scrubs the directory's contents and keeps the directory, as the recycler pod
  does with ``test -e /scrub && rm -rf /scrub/..?* /scrub/.[!.]* /scrub/* && test -z
  "$(ls -A /scrub)"``: every entry, hidden ones included, goes; symbolic links are
  removed, never followed; the directory must exist and end up empty.  Kubernetes
  limits what can be scrubbed only by API validation (``may not be 'recycle' for a
  hostPath mount of '/'``) and by what the recycler pod can mount.  We never scrub a
  path that is or resolves to ``/`` (whatever validation let through), never scrub
  across a filesystem mounted inside the volume (Kubernetes' ``rm -rf`` would descend
  into it; we refuse instead), and an administrator may restrict recycling further to
  a list of directory prefixes (``recycle_prefixes``).
- Delete removes the directory only beneath ``/tmp``, with Kubernetes' message
  ``host_path deleter only supports /tmp/.+ but received provided <path>``.
  Kubernetes matches the unanchored regexp ``/tmp/.+`` against the raw path, so
  ``/var/tmp/x`` or ``/tmp/../etc`` would pass there; we check the normalized path
  and the real location of its parent, so only what is truly under ``/tmp`` goes
  (a deliberate, safer departure).  A missing path is already deleted.
- Expansion is not supported (the in-tree plugin is not expandable); an administrator
  edits the PV's capacity instead, which needs no driver.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import DriverError, ProvisionRequest, ProvisionResult, Retryable, os_error, run_blocking

__all__ = [
    "HOST_PATH_PLUGIN",
    "HostPathDriver",
    "MountEntry",
    "find_mount",
    "mounts_under",
    "read_mountinfo",
    "remove_tree",
    "scrub_directory",
    "volume_path",
]

HOST_PATH_PLUGIN = "kubernetes.io/host-path"
_TMP = "/tmp"


# --- mount table -------------------------------------------------------------------

@dataclass(frozen=True)
class MountEntry:
    """One line of /proc/self/mountinfo."""

    mount_point: str
    device: tuple[int, int]
    fstype: str
    source: str
    options: frozenset[str]  # per-mount and superblock options together


def _unescape(field: str) -> str:
    # The kernel writes space, tab, newline and backslash as \040 \011 \012 \134.
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit() and len(field[i + 1:i + 4]) == 3:
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def read_mountinfo(path: str = "/proc/self/mountinfo") -> list[MountEntry]:
    entries: list[MountEntry] = []
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            left, sep, right = line.rstrip("\n").partition(" - ")
            if not sep:
                continue
            lf, rf = left.split(" "), right.split(" ")
            if len(lf) < 6 or len(rf) < 2:
                continue
            major, _, minor = lf[2].partition(":")
            options = set(lf[5].split(","))
            if len(rf) > 2:
                options.update(rf[2].split(","))
            entries.append(MountEntry(_unescape(lf[4]), (int(major), int(minor)), rf[0],
                                      _unescape(rf[1]), frozenset(options)))
    return entries


def _under(path: str, root: str) -> bool:
    """True if ``path`` is ``root`` or inside it (both normalized absolute paths)."""
    return path == root or root == "/" or path.startswith(root + "/")


def find_mount(path: str) -> MountEntry | None:
    """The mount that holds ``path`` (an existing path): the deepest mount point above
    its real location whose device matches."""
    real = os.path.realpath(path)
    dev = os.stat(real).st_dev
    want = (os.major(dev), os.minor(dev))
    best: MountEntry | None = None
    for m in read_mountinfo():
        if _under(real, m.mount_point) and (best is None or len(m.mount_point) >= len(best.mount_point)):
            if m.device == want:
                best = m
    return best


def mounts_under(path: str) -> list[str]:
    """Mount points strictly inside the real location of ``path``."""
    real = os.path.realpath(path)
    return sorted(m.mount_point for m in read_mountinfo()
                  if m.mount_point != real and _under(m.mount_point, real))


# --- careful directory operations --------------------------------------------------

def volume_path(pv: dict[str, Any]) -> str:
    """The directory a hostPath or local PV names."""
    spec = pv.get("spec") or {}
    for key in ("hostPath", "local"):
        src = spec.get(key)
        if isinstance(src, dict) and src.get("path"):
            return str(src["path"])
    name = (pv.get("metadata") or {}).get("name", "")
    raise DriverError("InvalidVolume", f'volume "{name}" has no hostPath or local path')


def _check_abs(path: str) -> str:
    if "\x00" in path:
        raise DriverError("InvalidPath", f"path {path!r} contains a NUL byte")
    if not posixpath.isabs(path):
        raise DriverError("InvalidPath", f'path "{path}" is not absolute')
    if ".." in path.split("/"):
        raise DriverError("InvalidPath", f"path \"{path}\" must not contain '..'")
    return posixpath.normpath(path)


def _refuse_nested_mounts(path: str, verb: str) -> None:
    nested = mounts_under(path)
    if nested:
        raise DriverError("MountedInside", f"refusing to {verb} {path}: a filesystem is mounted at "
                                           f"{nested[0]} inside it")


def scrub_directory(path: str) -> None:
    """Empty a volume's directory, keep the directory (the recycler's ``rm -rf`` of
    ``/scrub/..?* /scrub/.[!.]* /scrub/*`` followed by ``test -z "$(ls -A /scrub)"``)."""
    path = _check_abs(path)
    real = os.path.realpath(path)
    if real == "/":
        raise DriverError("RecycleForbidden", f'refusing to scrub {path}: it is the root directory "/"')
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise DriverError("NotFound", f"recycler: {path} does not exist") from None
    except OSError as exc:
        raise os_error("stat", path, exc) from None
    if not stat.S_ISDIR(st.st_mode):
        raise DriverError("NotADirectory", f"recycler: {path} is not a directory")
    _refuse_nested_mounts(real, "scrub")
    try:
        with os.scandir(real) as it:
            entries = list(it)
    except OSError as exc:
        raise os_error("open", path, exc) from None
    for entry in entries:
        _remove_entry(entry.path)
    left = sorted(os.listdir(real))
    if left:
        raise Retryable("RecycleFailed", f"{path} is not empty after scrubbing: {left[0]!r} remains")


def _remove_entry(path: str) -> None:
    """Remove one file, link or directory tree; never follow a symbolic link."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise os_error("lstat", path, exc) from None
    if stat.S_ISDIR(st.st_mode):
        failure: list[tuple[str, OSError]] = []

        def onerror(_fn: Any, p: str, info: Any) -> None:
            exc = info[1]
            if not isinstance(exc, FileNotFoundError) and not failure:
                failure.append((p, exc))

        shutil.rmtree(path, onerror=onerror)
        if failure:
            raise os_error("unlinkat", failure[0][0], failure[0][1])
    else:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise os_error("unlinkat", path, exc) from None


def remove_tree(path: str) -> None:
    """``os.RemoveAll``: remove ``path`` and everything under it; missing is fine.  A
    symbolic link is removed itself, never its target; mounts inside are refused."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise os_error("lstat", path, exc) from None
    if stat.S_ISDIR(st.st_mode):
        _refuse_nested_mounts(path, "delete")
    _remove_entry(path)


# --- the driver ----------------------------------------------------------------------

class HostPathDriver:
    """Kubernetes' host-path plugin for static PVs: recycle scrubs, delete only under /tmp."""

    name = HOST_PATH_PLUGIN
    expandable = False      # (not among kube-controller-manager's expandable plugins)

    def __init__(self, recycle_prefixes: Sequence[str] | None = None):
        self.recycle_prefixes = (None if recycle_prefixes is None
                                 else tuple(_check_abs(p) for p in recycle_prefixes))

    async def provision(self, req: ProvisionRequest) -> ProvisionResult:
        raise DriverError("ProvisioningDisabled", f'provisioning in volume plugin "{self.name}" is disabled')

    async def delete(self, pv: dict[str, Any]) -> None:
        await run_blocking(self._delete, pv)

    async def expand(self, pv: dict[str, Any], new_size_bytes: int) -> int:
        raise DriverError("ExpansionNotSupported", f'volume plugin "{self.name}" does not support expansion')

    async def recycle(self, pv: dict[str, Any]) -> None:
        await run_blocking(self._recycle, pv)

    def _delete(self, pv: dict[str, Any]) -> None:
        raw = volume_path(pv)
        refusal = DriverError("DeleteForbidden", f"host_path deleter only supports /tmp/.+ but received provided {raw}")
        if "\x00" in raw or not posixpath.isabs(raw):
            raise refusal
        path = posixpath.normpath(raw)
        if not path.startswith(_TMP + "/"):
            raise refusal
        parent = os.path.realpath(posixpath.dirname(path))
        if not _under(parent, os.path.realpath(_TMP)):
            raise refusal
        remove_tree(path)

    def _recycle(self, pv: dict[str, Any]) -> None:
        path = _check_abs(volume_path(pv))
        if self.recycle_prefixes is not None:
            real = os.path.realpath(path)
            if not any(_under(real, os.path.realpath(p)) and real != os.path.realpath(p)
                       for p in self.recycle_prefixes):
                allowed = ", ".join(self.recycle_prefixes) or "(none)"
                raise DriverError("RecycleForbidden", f"recycling {path} is not allowed: hostPath recycling "
                                                      f"is limited to directories under {allowed}")
        scrub_directory(path)
