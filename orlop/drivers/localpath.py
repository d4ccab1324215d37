"""The ``orlop.io/local-path`` driver: one directory per volume under the node's data dir.

Why this exists: ``orlop up`` needs a default StorageClass that really provisions
storage with no extra software, the way Rancher's local-path-provisioner does for kind
and k3s.  We follow that provisioner (and nfs-subdir-external-provisioner, whose
``pathPattern`` and ``archiveOnDelete`` users copy) so classes written for them work here.

The PV it makes (local-path-provisioner's defaults):
- source ``hostPath`` with ``type: DirectoryOrCreate`` -- local-path-provisioner's
  default ``volumeType``.  hostPath keeps Kubernetes' Recycle semantics (the ``local``
  plugin is not recyclable) and needs nothing from the node but a bind mount.  The
  class annotation ``defaultVolumeType`` or the claim annotation ``volumeType``
  (``local`` / ``hostPath``) switches to a ``local`` source, as there.
- ``nodeAffinity`` requiring ``kubernetes.io/hostname In [<node>]`` when the driver
  serves a node (the claim's selected node, else the driver's own), since the data
  lives on that node's disk.
- capacity = the claim's request.
- directory ``<base>/<pvc-uid name>_<namespace>_<claim name>``, mode 0777 (as
  local-path's ``mkdir -m 0777``), so pods running as any user can write.

StorageClass parameters (anything else is refused, as Kubernetes' in-tree plugins
refuse unknown options):
- ``pathPattern``: nfs-subdir syntax ``${.PVC.namespace}``, ``${.PVC.name}``,
  ``${.PVC.labels.<key>}``, ``${.PVC.annotations.<key>}`` (unknown keys render empty);
  and local-path's template syntax ``{{ .PVName }}``, ``{{ .PVC.Namespace }}``,
  ``{{ .PVC.Name }}``, ``{{ .PVC.UID }}``, ``{{ .PVC.Labels.<key> }}``,
  ``{{ .PVC.Annotations.<key> }}``, ``{{ index .PVC.Annotations "<key>" }}``.  The
  result is a path relative to the base directory: a leading ``/`` is dropped (nfs-subdir
  joins it onto its base), empty and ``.`` parts are dropped, and any ``..`` part is
  refused ("escapes the base directory"), as are symbolic links met on the way, parts
  that are only white space and control characters, so a label or annotation value can
  never reach outside.  An empty result falls back to the default name (nfs-subdir).
  As local-path-provisioner since v0.0.34 (CVE-2025-62878), the result must start with
  ``<namespace>/<claim name>/`` (or be just that) unless the class sets
  ``allowUnsafePathPattern: "true"``,
  so one namespace's claim cannot name another's directory.  Beyond local-path, with or
  without that parameter, a volume never gets a directory another volume has: a
  pattern-made directory must be new (or already this volume's -- a retry keeps the path
  first recorded, whatever the claim's labels say now), must not lie inside or hold
  another volume's directory, nor take the form of a default name (``pvc-<uid>_...``), and
  is recorded as its volume's in the base directory's ``.orlop-volume-owners.json`` (a
  file that is not such a map stops pattern provisioning rather than be ignored); a
  failed mkdir drops the record again.  Directories are made one at a time through
  descriptors opened with O_NOFOLLOW, so no symbolic link -- even one a pod swaps in
  meanwhile -- is followed, and a directory on the way that others may write to (a
  volume's, mode 0777, such as one made before records existed) is refused.  An archive
  never takes a recorded name.  Deleting a volume whose directory the record gives to
  another volume leaves it alone.  Two claims a pattern maps to one directory
  therefore do not share it: the second is refused ("is already the volume of ..."), where
  nfs-subdir and local-path would hand it the first one's data and delete it with either.
- ``nodePath``: another base directory, one of those the driver was configured with
  (local-path's parameter; message "config doesn't contain path X on node Y").
- ``archiveOnDelete`` (nfs-subdir): "true" renames the directory to ``archived-<name>``
  on delete instead of removing it; ``onDelete`` ``delete``/``retain`` takes precedence.
  Unlike nfs-subdir the default is delete (local-path's behaviour).  The choice is
  recorded on the PV (``orlop.io/on-delete``) because delete sees only the PV.
- ``minSize`` / ``maxSize`` (local-path): refuse claims outside the range.

Capacity: recorded always, enforced where the filesystem can.  When the base directory
is on XFS mounted with ``prjquota`` (or ext4 with the ``project`` feature mounted with
``prjquota``), each volume directory gets its own project ID (``FS_IOC_FSSETXATTR``
with PROJINHERIT, kept in the inode, so a retry finds it) and a hard block limit of the
claim's size (``quotactl(Q_SETQUOTA, PRJQUOTA)``); writes beyond it fail with EDQUOT
("disk quota exceeded"), and expansion raises the limit.  Anywhere else -- the common
case, e.g. ext4 without project quotas, tmpfs, overlayfs, or a kernel built without
quota support -- nothing stops a pod from writing past its claim's size, and the PV says
so: ``orlop.io/capacity-enforced: "false"`` and ``orlop.io/capacity-enforcement``
holding the reason.  Space is thin-provisioned, as in local-path: claims may add up to
more than the disk holds.

Idempotency: the directory path is a pure function of (class, claim, volume name), and
every step (mkdir, project ID, limit) is "make it so", so re-running provision after a
crash at any point reuses what the first run made and returns the same result.  Delete
of a missing directory succeeds; archive of an already archived one is a no-op.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import posixpath
import re
import stat
import struct
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..quantity import parse_quantity
from . import DriverError, ProvisionRequest, ProvisionResult, os_error, run_blocking
from .hostpath import _under, find_mount, remove_tree, scrub_directory, volume_path

__all__ = [
    "ANN_CAPACITY_ENFORCED",
    "ANN_CAPACITY_ENFORCEMENT",
    "ANN_ON_DELETE",
    "ANN_QUOTA_PROJECT",
    "LOCAL_PATH_PROVISIONER",
    "LocalPathDriver",
    "QuotaSupport",
    "detect_quota_support",
    "get_project_id",
    "render_path_pattern",
    "safe_relative_path",
]

LOCAL_PATH_PROVISIONER = "orlop.io/local-path"
ANN_CAPACITY_ENFORCED = "orlop.io/capacity-enforced"
ANN_CAPACITY_ENFORCEMENT = "orlop.io/capacity-enforcement"
ANN_QUOTA_PROJECT = "orlop.io/quota-project-id"
ANN_ON_DELETE = "orlop.io/on-delete"
HOSTNAME_LABEL = "kubernetes.io/hostname"

_KNOWN_PARAMETERS = frozenset({"pathPattern", "nodePath", "archiveOnDelete", "onDelete",
                               "allowUnsafePathPattern", "minSize", "maxSize"})
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def _parse_bool(name: str, value: str) -> bool:
    """Go's strconv.ParseBool, with its error text."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise DriverError("InvalidParameter",
                      f'invalid {name} "{value}": strconv.ParseBool: parsing "{value}": invalid syntax')


# --- path patterns -------------------------------------------------------------------

_NFS_SUBDIR = re.compile(r"\$\{\.PVC\.((labels|annotations)\.(.*?)|.*?)\}")
_TEMPLATE = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")
_INDEX = re.compile(r"""^index\s+\.PVC\.(Labels|Annotations)\s+(?:"((?:[^"\\]|\\.)*)"|`([^`]*)`)$""")


def render_path_pattern(pattern: str, claim: dict[str, Any], volume_name: str) -> str:
    """Substitute a ``pathPattern`` (both syntaxes) from the claim; no safety checks."""
    meta = claim.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    data = {"name": meta.get("name", ""), "namespace": meta.get("namespace", "")}

    def nfs(m: re.Match[str]) -> str:
        if m.group(2) == "labels":
            return str(labels.get(m.group(3), ""))
        if m.group(2) == "annotations":
            return str(annotations.get(m.group(3), ""))
        return str(data.get(m.group(1), ""))

    fields = {".PVName": volume_name, ".PVC.Name": meta.get("name", ""),
              ".PVC.Namespace": meta.get("namespace", ""), ".PVC.UID": meta.get("uid", "")}

    def template(m: re.Match[str]) -> str:
        expr = m.group(1)
        if expr in fields:
            return str(fields[expr])
        for prefix, source in ((".PVC.Labels.", labels), (".PVC.Annotations.", annotations)):
            if expr.startswith(prefix) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", expr[len(prefix):]):
                return str(source.get(expr[len(prefix):], ""))
        idx = _INDEX.match(expr)
        if idx:
            source = labels if idx.group(1) == "Labels" else annotations
            key = idx.group(3) if idx.group(3) is not None else re.sub(r"\\(.)", r"\1", idx.group(2))
            return str(source.get(key, ""))
        raise DriverError("InvalidParameter", f"failed to create path from pattern {pattern}: "
                                              f'unsupported template expression "{m.group(0)}"')

    return _TEMPLATE.sub(template, _NFS_SUBDIR.sub(nfs, pattern))


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_relative_path(rendered: str, pattern: str) -> str:
    """Normalize a rendered pattern to a path inside the base, or refuse it."""
    if "\x00" in rendered:
        raise DriverError("InvalidParameter", f"path {rendered!r} made from pathPattern {pattern!r} "
                                              "contains a NUL byte")
    if _CONTROL.search(rendered):
        raise DriverError("InvalidParameter", f"path {rendered!r} made from pathPattern {pattern!r} "
                                              "contains a control character")
    parts = [p for p in rendered.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise DriverError("PathEscapesBase", f'path "{rendered}" made from pathPattern "{pattern}" '
                                             "escapes the base directory")
    if any(not p.strip() for p in parts):
        raise DriverError("InvalidParameter", f"path {rendered!r} made from pathPattern {pattern!r} "
                                              "has a part that is only white space")
    return "/".join(parts)


def check_claim_prefix(rendered: str, claim: dict[str, Any]) -> None:
    """local-path-provisioner's safe pathPattern: the path starts with <namespace>/<claim name>/."""
    meta = claim.get("metadata") or {}
    prefix = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
    if rendered != prefix and not rendered.startswith(prefix + "/"):
        raise DriverError("InvalidParameter", "pathPattern must start with {{ .PVC.Namespace }}/{{ .PVC.Name }}/: "
                                              f'{rendered} (or the StorageClass sets allowUnsafePathPattern: "true")')


OWNERS_FILE = ".orlop-volume-owners.json"
# The default directory name of a volume (pvc-<uid>_<ns>_<name>): never a pattern's first part,
# so no pattern takes a directory a default-named volume has or will have.
_DEFAULT_NAMED = re.compile(r"^pvc-[^/]*_")


def _check_name(kind: str, value: str) -> None:
    if not value or value in (".", "..") or "/" in value or "\x00" in value:
        raise DriverError("InvalidParameter", f"invalid {kind} {value!r}: must be a single path component")


# --- project quotas --------------------------------------------------------------------

_FS_IOC_FSGETXATTR = 0x801C581F  # _IOR('X', 31, struct fsxattr)
_FS_IOC_FSSETXATTR = 0x401C5820  # _IOW('X', 32, struct fsxattr)
_FS_XFLAG_PROJINHERIT = 0x00000200
_FSXATTR = struct.Struct("=IIIII8s")  # xflags, extsize, nextents, projid, cowextsize, pad

_PRJQUOTA = 2
_Q_GETQUOTA = 0x800007
_Q_SETQUOTA = 0x800008
_QIF_BLIMITS = 1
_QIF_DQBLKSIZE = 1024

# Project IDs we hand out: above the small numbers administrators put in /etc/projid.
_PROJ_MIN = 1 << 20
_PROJ_SPAN = (1 << 31) - _PROJ_MIN


class _IfDqblk(ctypes.Structure):
    _fields_ = [("dqb_bhardlimit", ctypes.c_uint64), ("dqb_bsoftlimit", ctypes.c_uint64),
                ("dqb_curspace", ctypes.c_uint64), ("dqb_ihardlimit", ctypes.c_uint64),
                ("dqb_isoftlimit", ctypes.c_uint64), ("dqb_curinodes", ctypes.c_uint64),
                ("dqb_btime", ctypes.c_uint64), ("dqb_itime", ctypes.c_uint64),
                ("dqb_valid", ctypes.c_uint32)]


_libc: Any = None


def _quotactl(cmd: int, device: str, qid: int, block: _IfDqblk) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.quotactl.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p]
    if _libc.quotactl((cmd << 8) | _PRJQUOTA, os.fsencode(device), qid, ctypes.byref(block)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def _get_quota(device: str, qid: int) -> _IfDqblk | None:
    block = _IfDqblk()
    try:
        _quotactl(_Q_GETQUOTA, device, qid, block)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None  # XFS: no dquot for this ID, so nothing uses it (ext4 answers zeros)
        raise  # ESRCH: quotas are off; ENOSYS/EINVAL: not supported here
    return block


def _set_block_limit(device: str, qid: int, size_bytes: int) -> None:
    block = _IfDqblk()
    block.dqb_bhardlimit = -(-size_bytes // _QIF_DQBLKSIZE)
    block.dqb_bsoftlimit = 0
    block.dqb_valid = _QIF_BLIMITS
    _quotactl(_Q_SETQUOTA, device, qid, block)


def _fsxattr(path: str) -> tuple[int, int, int, int, int, bytes]:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        return _FSXATTR.unpack(fcntl.ioctl(fd, _FS_IOC_FSGETXATTR, bytes(_FSXATTR.size)))
    finally:
        os.close(fd)


def get_project_id(path: str) -> int:
    """The project ID stored in a file's or directory's inode (0 when none)."""
    return _fsxattr(path)[3]


def _set_project_id(path: str, project_id: int, inherit: bool) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        xflags, extsize, nextents, _, cow, pad = _FSXATTR.unpack(
            fcntl.ioctl(fd, _FS_IOC_FSGETXATTR, bytes(_FSXATTR.size)))
        if inherit:
            xflags |= _FS_XFLAG_PROJINHERIT
        fcntl.ioctl(fd, _FS_IOC_FSSETXATTR, _FSXATTR.pack(xflags, extsize, nextents, project_id, cow, pad))
    finally:
        os.close(fd)


def _set_project_tree(root: str, project_id: int) -> None:
    """``xfs_quota -c 'project -s'``: tag a directory and what is already in it."""
    _set_project_id(root, project_id, inherit=True)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            _set_project_id(os.path.join(dirpath, name), project_id, inherit=True)
        for name in filenames:
            p = os.path.join(dirpath, name)
            if stat.S_ISREG(os.lstat(p).st_mode):
                _set_project_id(p, project_id, inherit=False)


@dataclass(frozen=True)
class QuotaSupport:
    """Whether volumes under a directory can have their capacity enforced, and why not."""

    enforced: bool
    detail: str          # how it is enforced, or the reason it is not
    device: str = ""
    mount_point: str = ""


def detect_quota_support(path: str) -> QuotaSupport:
    """Look at the filesystem holding ``path``: project quotas on and usable?"""
    try:
        mount = find_mount(path)
    except OSError as exc:
        return QuotaSupport(False, f"cannot inspect the filesystem of {path}: {exc.strerror}")
    if mount is None:
        return QuotaSupport(False, f"the filesystem of {path} is not in /proc/self/mountinfo; "
                                   "capacity is recorded, not enforced")
    where = f"{mount.fstype} filesystem at {mount.mount_point}"
    if mount.fstype not in ("xfs", "ext4"):
        return QuotaSupport(False, f"{where} has no project quotas; capacity is recorded, not enforced")
    if "pqnoenforce" in mount.options:
        return QuotaSupport(False, f"{where} accounts project quotas without enforcing them (pqnoenforce); "
                                   "capacity is recorded, not enforced")
    if not mount.options & {"prjquota", "pquota", "pqenforce"}:
        return QuotaSupport(False, f"{where} is not mounted with prjquota; capacity is recorded, not enforced")
    try:
        _get_quota(mount.source, 0)
    except OSError as exc:
        reason = (exc.strerror or str(exc))
        return QuotaSupport(False, f"project quotas on {mount.source} ({where}) are unusable: "
                                   f"{reason[:1].lower() + reason[1:]}; capacity is recorded, not enforced")
    return QuotaSupport(True, f"{mount.fstype} project quota", mount.source, mount.mount_point)


# --- the driver ------------------------------------------------------------------------

class LocalPathDriver:
    """Directories under a base directory on this node; see the module docstring."""

    name = LOCAL_PATH_PROVISIONER
    QUOTA_CACHE_SECONDS = 30.0

    def __init__(self, base_dir: str | os.PathLike[str], *, node_name: str | None = None,
                 extra_base_dirs: Sequence[str | os.PathLike[str]] = (), name: str = LOCAL_PATH_PROVISIONER):
        self.name = name
        self.node_name = node_name
        self.base_dir = self._check_base(base_dir)
        self.base_dirs = (self.base_dir, *(self._check_base(b) for b in extra_base_dirs))
        self._lock = threading.Lock()
        self._owners_lock = threading.Lock()       # the owners file of every base: one writer at a time
        self._quota_cache: dict[str, tuple[float, QuotaSupport]] = {}

    @staticmethod
    def _check_base(base: str | os.PathLike[str]) -> str:
        path = os.path.abspath(os.fspath(base))
        if path == "/" or os.path.realpath(path) == "/":
            raise ValueError("cannot use root ('/') as a local-path base directory")
        return path

    # -- public, async ---------------------------------------------------------------

    async def provision(self, req: ProvisionRequest) -> ProvisionResult:
        return await run_blocking(self._provision, req)

    async def delete(self, pv: dict[str, Any]) -> None:
        await run_blocking(self._delete, pv)

    async def expand(self, pv: dict[str, Any], new_size_bytes: int) -> int:
        return await run_blocking(self._expand, pv, new_size_bytes)

    async def recycle(self, pv: dict[str, Any]) -> None:
        await run_blocking(self._recycle, pv)

    def quota_support(self, base: str | None = None) -> QuotaSupport:
        base = base or self.base_dir
        now = time.monotonic()
        hit = self._quota_cache.get(base)
        if hit and now - hit[0] < self.QUOTA_CACHE_SECONDS:
            return hit[1]
        support = detect_quota_support(base)
        self._quota_cache[base] = (now, support)
        return support

    # -- provision -------------------------------------------------------------------

    def _provision(self, req: ProvisionRequest) -> ProvisionResult:
        _check_name("volume name", req.volume_name)
        params = req.parameters
        unknown = sorted(set(params) - _KNOWN_PARAMETERS)
        if unknown:
            raise DriverError("InvalidParameter", f'invalid option "{unknown[0]}" for volume plugin {self.name}')
        if req.volume_mode == "Block":
            raise DriverError("UnsupportedVolumeMode", f"{self.name} does not support block volume provisioning")
        claim_spec = req.claim.get("spec") or {}
        if claim_spec.get("selector") is not None:
            raise DriverError("SelectorNotSupported", "claim.Spec.Selector is not supported")
        node = req.selected_node or self.node_name
        if req.selected_node and self.node_name and req.selected_node != self.node_name:
            raise DriverError("WrongNode", f'the claim selected node "{req.selected_node}" but this '
                                           f'{self.name} driver serves node "{self.node_name}"')
        self._check_size(req, params)
        on_delete = self._on_delete(params)
        volume_type = self._volume_type(req)
        if volume_type == "local" and not node:
            raise DriverError("InvalidParameter", "a local volume needs a node for its nodeAffinity, "
                                                  "and neither the claim nor the driver names one")

        base = self._base_for(params.get("nodePath"), node)
        meta = req.claim.get("metadata") or {}
        default = "_".join((req.volume_name, meta.get("namespace", ""), meta.get("name", "")))
        relative = default
        pattern = params.get("pathPattern")
        if pattern is not None:
            rendered = render_path_pattern(pattern, req.claim, req.volume_name)
            relative = safe_relative_path(rendered, pattern)
            if relative and not _parse_bool("allowUnsafePathPattern", params.get("allowUnsafePathPattern", "false")):
                check_claim_prefix(rendered, req.claim)
        if pattern is not None and relative:
            relative, recorded = self._take(base, relative, req.volume_name)
            try:
                path = self._make_dirs(base, relative)
            except DriverError:
                if recorded:
                    self._forget(posixpath.join(base, relative), req.volume_name)    # nothing was made
                raise
        else:
            path = self._make_dirs(base, default)

        annotations = {ANN_ON_DELETE: on_delete}
        support = self.quota_support(base)
        if support.enforced:
            project_id = self._apply_quota(path, req.volume_name, req.size_bytes, support)
            annotations.update({ANN_CAPACITY_ENFORCED: "true", ANN_CAPACITY_ENFORCEMENT: support.detail,
                                ANN_QUOTA_PROJECT: str(project_id)})
        else:
            annotations.update({ANN_CAPACITY_ENFORCED: "false", ANN_CAPACITY_ENFORCEMENT: support.detail})

        if volume_type == "local":
            source: dict[str, Any] = {"local": {"path": path}}
        else:
            source = {"hostPath": {"path": path, "type": "DirectoryOrCreate"}}
        affinity = None
        if node:
            affinity = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": HOSTNAME_LABEL, "operator": "In", "values": [node]}]}]}}
        return ProvisionResult(source=source, node_affinity=affinity, capacity_bytes=req.size_bytes,
                               annotations=annotations)

    def _check_size(self, req: ProvisionRequest, params: dict[str, str]) -> None:
        requests = ((req.claim.get("spec") or {}).get("resources") or {}).get("requests") or {}
        shown = str(requests.get("storage", req.size_bytes))
        for key, too in (("minSize", "below minimum size"), ("maxSize", "exceeds maximum size")):
            if key not in params:
                continue
            try:
                limit = parse_quantity(params[key])
            except Exception as exc:
                raise DriverError("InvalidParameter", f'invalid StorageClass parameter {key} "{params[key]}": '
                                                      f"{exc}") from None
            size = Decimal(req.size_bytes)
            if (key == "minSize" and size < limit) or (key == "maxSize" and size > limit):
                raise DriverError("InvalidSize", f"PVC requests {shown} which is {too} {params[key]}")

    @staticmethod
    def _on_delete(params: dict[str, str]) -> str:
        on_delete = params.get("onDelete")
        if on_delete in ("delete", "retain"):
            return on_delete
        if "archiveOnDelete" in params and _parse_bool("archiveOnDelete", params["archiveOnDelete"]):
            return "archive"
        return "delete"

    @staticmethod
    def _volume_type(req: ProvisionRequest) -> str:
        value = (((req.claim.get("metadata") or {}).get("annotations") or {}).get("volumeType")
                 or ((req.storage_class.get("metadata") or {}).get("annotations") or {}).get("defaultVolumeType")
                 or "hostPath")
        kind = value.lower()
        if kind not in ("hostpath", "local"):
            raise DriverError("InvalidParameter", "failed to create persistent volume source: "
                                                  f'"{value}" is not a recognised volume type')
        return "local" if kind == "local" else "hostPath"

    def _base_for(self, node_path: str | None, node: str | None) -> str:
        if node_path is None:
            return self.base_dir
        wanted = posixpath.normpath(node_path) if posixpath.isabs(node_path) else None
        if wanted in self.base_dirs:
            return wanted
        raise DriverError("InvalidParameter", f"config doesn't contain path {node_path} on node {node or ''}")

    # -- which volume a pattern-made directory belongs to -----------------------------------

    def _owners(self, base: str) -> dict[str, str]:
        path = os.path.join(base, OWNERS_FILE)
        try:
            with open(path, "rb") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise os_error("read", path, exc) from None
        except ValueError as exc:
            data = exc
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            # Fails closed: without its records no pattern-made directory may be given or removed.
            raise DriverError("Unreadable", f"{path} is not a map of directory to volume name ({data!r:.60}); "
                                            "repair or remove it")
        return data

    def _save_owners(self, base: str, owners: dict[str, str]) -> None:
        path = os.path.join(base, OWNERS_FILE)
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            os.makedirs(base, mode=0o755, exist_ok=True)
            with open(tmp, "w") as f:
                json.dump(owners, f, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            raise os_error("write", path, exc) from None

    def _take(self, base: str, relative: str, volume: str) -> tuple[str, bool]:
        """Record ``relative`` as ``volume``'s directory, refusing one that is (or is inside, or
        holds) another volume's; (the path to make, whether it was recorded just now).
        Recorded before the directory is made, so a retry after a crash finds its own record
        -- and keeps its first path even if the claim's labels changed since."""
        full = posixpath.join(base, relative)
        with self._owners_lock:
            owners = self._owners(base)
            mine = next((k for k, v in owners.items() if v == volume), None)
            if mine is not None:
                return mine, False
            holder = owners.get(relative)
            if holder is not None:
                raise DriverError("PathInUse", f'directory "{full}" is already the volume of {holder}; '
                                               "a volume never gets another volume's directory")
            parts = relative.split("/")
            if _DEFAULT_NAMED.match(parts[0]):
                raise DriverError("PathInUse", f'path "{relative}" has the form of a volume\'s own directory name '
                                               "(pvc-<uid>_...), which no pathPattern may take")
            for i in range(1, len(parts)):
                ancestor = "/".join(parts[:i])
                if ancestor in owners:
                    raise DriverError("PathInUse", f'directory "{full}" would lie inside the directory of volume '
                                                   f"{owners[ancestor]}")
            below = next((v for k, v in owners.items() if k.startswith(relative + "/")), None)
            if below is not None:
                raise DriverError("PathInUse", f'directory "{full}" would hold the directory of volume {below}')
            if os.path.lexists(full):
                raise DriverError("PathInUse", f'directory "{full}" exists already and is not the directory of '
                                               "this claim's volume; orlop does not hand a claim data it did not make "
                                               "(remove it, or use another pathPattern)")
            owners[relative] = volume
            self._save_owners(base, owners)
            return relative, True

    def _may_remove(self, path: str, volume: str) -> bool:
        """Not when the record gives the directory to another volume: then it is left alone."""
        base = self._base_of(path)
        with self._owners_lock:
            holder = self._owners(base).get(posixpath.relpath(path, base))
        return holder in (None, volume)

    def _forget(self, path: str, volume: str) -> None:
        """Drop ``volume``'s record of ``path`` (after the directory was removed, archived or let go)."""
        base = self._base_of(path)
        relative = posixpath.relpath(path, base)
        with self._owners_lock:
            owners = self._owners(base)
            if owners.get(relative) == volume:
                del owners[relative]
                self._save_owners(base, owners)

    def _make_dirs(self, base: str, relative: str) -> str:
        """mkdir -p base/relative, one directory at a time, each opened (O_NOFOLLOW) relative to
        its parent's descriptor: no symbolic link is ever followed below the base, even one
        swapped in while this runs.  A directory on the way that others may write to (mode
        0777: another volume's directory, whose pods could plant links in it) is refused.
        The last directory gets mode 0777; an existing one is reused as it is."""
        try:
            os.makedirs(base, mode=0o755, exist_ok=True)
        except OSError as exc:
            raise os_error("mkdir", base, exc) from None
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise os_error("open", base, exc) from None
        current = base
        try:
            parts = relative.split("/")
            for i, part in enumerate(parts):
                current = posixpath.join(current, part)
                last = i == len(parts) - 1
                try:
                    os.mkdir(part, 0o777 if last else 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
                except OSError as exc:
                    raise os_error("mkdir", current, exc) from None
                try:
                    nfd = os.open(part, flags, dir_fd=fd)
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.EMLINK, errno.ENOTDIR):
                        raise os_error("open", current, exc) from None
                    try:
                        link = stat.S_ISLNK(os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode)
                    except OSError:
                        link = exc.errno != errno.ENOTDIR
                    if link:
                        raise DriverError("PathEscapesBase", f"{current} is a symbolic link; refusing to provision "
                                                             "through it (it could lead outside the base directory)"
                                          ) from None
                    raise DriverError("NotADirectory", f"mkdir {current}: file exists and is not a directory"
                                      ) from None
                os.close(fd)
                fd = nfd
                st = os.fstat(fd)
                if last:
                    os.fchmod(fd, 0o777)
                elif st.st_mode & 0o022 or st.st_uid != os.geteuid():
                    raise DriverError("PathInUse", f"{current} is writable by others (a volume's directory?); "
                                                   "refusing to make a volume inside it")
        finally:
            os.close(fd)
        return current

    def _apply_quota(self, path: str, volume_name: str, size_bytes: int, support: QuotaSupport) -> int:
        try:
            with self._lock:
                project_id = get_project_id(path)
                if project_id == 0:
                    project_id = _PROJ_MIN + zlib.crc32(volume_name.encode()) % _PROJ_SPAN
                    for _ in range(4096):
                        used = _get_quota(support.device, project_id)
                        if used is None or not (used.dqb_bhardlimit or used.dqb_curspace or used.dqb_curinodes):
                            break
                        project_id = _PROJ_MIN + (project_id - _PROJ_MIN + 1) % _PROJ_SPAN
                    _set_project_tree(path, project_id)
            _set_block_limit(support.device, project_id, size_bytes)
        except OSError as exc:
            raise os_error("set project quota on", path, exc) from None
        return project_id

    # -- delete, expand, recycle -----------------------------------------------------------

    def _owned_path(self, pv: dict[str, Any], verb: str) -> str:
        raw = volume_path(pv)
        path = posixpath.normpath(raw) if posixpath.isabs(raw) else ""
        if path and verb != "delete" and os.path.islink(path):
            # (delete only unlinks it; scrubbing or growing would act on whatever it points to)
            raise DriverError("PathEscapesBase", f"refusing to {verb} {raw}: it is a symbolic link, not the "
                                                 "volume's directory")
        if path and ".." not in raw.split("/"):
            parent = os.path.realpath(posixpath.dirname(path))
            for base in self.base_dirs:
                real_base = os.path.realpath(base)
                if _under(parent, real_base) and os.path.realpath(path) != real_base:
                    return path
        raise DriverError("PathEscapesBase", f"refusing to {verb} {raw}: the path escapes the base directory "
                                             f"of {self.name} ({', '.join(self.base_dirs)})")

    def _delete(self, pv: dict[str, Any]) -> None:
        path = self._owned_path(pv, "delete")
        volume = (pv.get("metadata") or {}).get("name", "")
        if not self._may_remove(path, volume):
            return      # the directory is another volume's now (see the module docstring)
        annotations = (pv.get("metadata") or {}).get("annotations") or {}
        on_delete = annotations.get(ANN_ON_DELETE, "delete")
        if on_delete == "retain":
            self._forget(path, volume)          # the data stays; no later claim is handed it
            return
        if on_delete == "archive":
            self._archive(path)
            self._forget(path, volume)
            return
        project_id = int(annotations.get(ANN_QUOTA_PROJECT, "0") or 0)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                project_id = get_project_id(path) or project_id
        except OSError:
            pass
        remove_tree(path)
        self._forget(path, volume)
        if project_id:
            self._clear_limit(path, project_id)

    def _clear_limit(self, path: str, project_id: int) -> None:
        support = self.quota_support(self._base_of(path))
        if support.enforced:
            try:
                _set_block_limit(support.device, project_id, 0)
            except OSError as exc:
                raise os_error("clear project quota of", path, exc) from None

    def _base_of(self, path: str) -> str:
        parent = os.path.realpath(posixpath.dirname(path))
        matching = [b for b in self.base_dirs if _under(parent, os.path.realpath(b))]
        return max(matching, key=lambda b: len(os.path.realpath(b))) if matching else self.base_dir

    def _archive(self, path: str) -> None:
        """Rename to archived-<name> (-1, -2, ... when taken), never to a name a pattern-made
        volume has recorded, so no claim is ever handed an archive."""
        if not os.path.lexists(path):
            return  # archived (or removed) already
        base = self._base_of(path)
        parent, leaf = posixpath.split(path)
        with self._owners_lock:
            owners = self._owners(base)
            target = posixpath.join(parent, "archived-" + leaf)
            n = 1
            while os.path.lexists(target) or posixpath.relpath(target, base) in owners:
                target = posixpath.join(parent, f"archived-{leaf}-{n}")
                n += 1
            try:
                os.rename(path, target)
            except OSError as exc:
                raise os_error("rename", path, exc) from None

    def _expand(self, pv: dict[str, Any], new_size_bytes: int) -> int:
        path = self._owned_path(pv, "expand")
        if not os.path.isdir(path):
            raise DriverError("NotFound", f"cannot expand volume: directory {path} does not exist")
        support = self.quota_support(self._base_of(path))
        if support.enforced:
            name = (pv.get("metadata") or {}).get("name", "") or posixpath.basename(path)
            self._apply_quota(path, name, new_size_bytes, support)
        return new_size_bytes

    def _recycle(self, pv: dict[str, Any]) -> None:
        scrub_directory(self._owned_path(pv, "scrub"))
