"""The ``orlop.io/image`` driver: each claim a sparse image file that the node formats and mounts.

Why this exists: directory volumes (local-path) cannot enforce a size, cannot be
snapshotted consistently and do not behave like the block storage (RBD, EBS) that users'
manifests expect: a filesystem of exactly the claim's size, ReadWriteOnce, grown by
expansion.  This driver gives each claim an image file; ``orlop.node.block`` attaches it
to a loop device on the node, formats it on first use and mounts it.  This module is the
controller side only: files on this machine, no mounts (except freezing a mounted
filesystem while it is copied).

Layout under the base directory (``<data dir>/images``)::

    <pool>/pvc-<claim uid>.img               one volume (sparse; size = request rounded up to MiB)
    <pool>/.pvc-<claim uid>.img.tmp          being made (a crash leaves at most this; the retry redoes it)
    <pool>/snapshots/<snapshot name>.img     one snapshot (independent of its volume)

StorageClass parameters: ``pool`` (a plain directory name, default ``default``),
``fsType`` or ``csi.storage.k8s.io/fstype`` (``ext4`` default, or ``xfs``; XFS images
are at least 300 MiB, mkfs.xfs's minimum), ``imageFeatures`` (kept on the PV, as RBD
classes carry it), ``mkfsOptions`` (extra mkfs arguments, split on whitespace, used by the
node).  Other ``csi.storage.k8s.io/*`` keys (secret references the CSI external-provisioner
consumes) are accepted and ignored; anything else is refused.

The PV source is ``csi`` with driver ``image.orlop.io`` (Kubernetes validates
``spec.csi.driver`` as a DNS subdomain, so the provisioner name with its slash cannot
be used there; the PV's ``pv.kubernetes.io/provisioned-by`` still names
``orlop.io/image``, which is how the controllers find this driver), ``volumeHandle``
``<pool>/pvc-<uid>``, ``fsType`` (Filesystem volumes), and ``volumeAttributes`` ``pool``,
``image``, ``path`` (how the node finds the file), ``imageFeatures``/``mkfsOptions`` when
given.  ``ReadWriteMany`` is refused for Filesystem volumes: one node mounts a filesystem
at a time.  ``node_expansion``: after ``expand`` grew the file, the node grows the
filesystem (the expand controller leaves the claim FileSystemResizePending until then).

Idempotency and crashes: a volume is built under its temp name (``O_TRUNC``: a leftover
from a crash is overwritten, never a second image) and renamed into place complete, so a
final name always holds a whole image.  Provisioning finds and reuses it; delete removes
the image and its temp file; snapshots work the same way.  Copies (snapshot, restore,
clone) use a reflink (FICLONE) where the filesystem has them, else copy only the data
extents (SEEK_DATA/SEEK_HOLE + copy_file_range), so holes stay holes.  A copy of a
volume that is mounted on this machine is taken with the filesystem frozen
(``fsfreeze``), so it is crash-consistent.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import threading
import time
from typing import Any

from ..node import block
from . import DriverError, ProvisionRequest, ProvisionResult, Retryable, os_error, run_blocking

__all__ = ["CSI_DRIVER", "IMAGE_PROVISIONER", "ImageDriver", "copy_sparse"]

IMAGE_PROVISIONER = block.IMAGE_PROVISIONER
CSI_DRIVER = block.IMAGE_DRIVER
HOSTNAME_LABEL = "kubernetes.io/hostname"
MiB = 1 << 20
XFS_MIN_BYTES = 300 * MiB
FS_TYPES = ("ext4", "xfs")
_KNOWN = frozenset({"pool", "fsType", "csi.storage.k8s.io/fstype", "imageFeatures", "mkfsOptions"})
_RESERVED_PREFIX = "csi.storage.k8s.io/"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
_FICLONE = 0x40049409


def _round_mib(size: int) -> int:
    return max(MiB, -(-size // MiB) * MiB)


def _plain(kind: str, value: str) -> str:
    if not _NAME.match(value or "") or value in (".", ".."):
        raise DriverError("InvalidParameter", f"invalid {kind} {value!r}: must be a plain name (letters, digits, "
                                              "'.', '_', '-'; no '/')")
    return value


def copy_sparse(src: str, dst: str) -> None:
    """``dst`` := ``src``, holes kept: a reflink where possible, else the data extents only."""
    fd_in = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fd_out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            size = os.fstat(fd_in).st_size
            try:
                fcntl.ioctl(fd_out, _FICLONE, fd_in)
                return
            except OSError:
                pass
            pos = 0
            while pos < size:
                try:
                    data = os.lseek(fd_in, pos, os.SEEK_DATA)
                except OSError as e:
                    if e.errno == errno.ENXIO:
                        break             # only a hole is left
                    raise
                end = os.lseek(fd_in, data, os.SEEK_HOLE)
                offset = data
                while offset < end:
                    n = os.copy_file_range(fd_in, fd_out, min(end - offset, 1 << 30), offset, offset)
                    if n == 0:
                        break
                    offset += n
                pos = end
            os.ftruncate(fd_out, size)
            os.fsync(fd_out)
        finally:
            os.close(fd_out)
    finally:
        os.close(fd_in)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mount_point_of(image: str) -> str | None:
    """Where the filesystem in ``image`` is mounted on this machine (via its loop device), if it is."""
    if block.find_tool("losetup") is None:
        return None
    device = block.find_loop(image)
    if device is None:
        return None
    points = block.mount_points_of(device)
    return min(points, key=len) if points else None


class ImageDriver:
    """Sparse image files under a base directory; see the module docstring."""

    name = IMAGE_PROVISIONER
    csi_driver = CSI_DRIVER         # what its PVs say in spec.csi.driver (a DNS subdomain, unlike ``name``)
    node_expansion = True

    def __init__(self, base_dir: str | os.PathLike[str], *, node_name: str | None = None,
                 name: str = IMAGE_PROVISIONER):
        path = os.path.abspath(os.fspath(base_dir))
        if os.path.realpath(path) == "/":
            raise ValueError("cannot use root ('/') as the image base directory")
        self.base_dir = path
        self.node_name = node_name
        self.name = name
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    # -- public, async -----------------------------------------------------------------

    async def provision(self, req: ProvisionRequest) -> ProvisionResult:
        return await run_blocking(self._provision, req)

    async def delete(self, pv: dict[str, Any]) -> None:
        await run_blocking(self._delete, pv)

    async def expand(self, pv: dict[str, Any], new_size_bytes: int) -> int:
        return await run_blocking(self._expand, pv, new_size_bytes)

    async def recycle(self, pv: dict[str, Any]) -> None:
        await run_blocking(self._recycle, pv)

    async def snapshot(self, pv: dict[str, Any], snapshot_name: str) -> tuple[str, int, int]:
        """(snapshot handle, size in bytes, creation time in nanoseconds since the epoch)."""
        return await run_blocking(self._snapshot, pv, snapshot_name)

    async def delete_snapshot(self, snapshot_handle: str) -> None:
        await run_blocking(self._delete_snapshot, snapshot_handle)

    # -- paths -------------------------------------------------------------------------

    def pool_dir(self, pool: str) -> str:
        return os.path.join(self.base_dir, _plain("pool", pool))

    def image_path(self, pool: str, volume_name: str) -> str:
        return os.path.join(self.pool_dir(pool), _plain("volume name", volume_name) + ".img")

    def snapshot_path(self, handle: str) -> str:
        parts = (handle or "").split("/")
        if len(parts) != 3 or parts[1] != "snapshots":
            raise DriverError("InvalidSnapshotHandle", f"invalid snapshot handle {handle!r}: expected "
                                                       "<pool>/snapshots/<name>")
        return os.path.join(self.pool_dir(parts[0]), "snapshots", _plain("snapshot name", parts[2]) + ".img")

    def _owned(self, pv: dict[str, Any], verb: str) -> tuple[str, str, str]:
        """(pool, volume name, image path) of a PV this driver made; refuses anything else."""
        csi = (pv.get("spec") or {}).get("csi") or {}
        handle = str(csi.get("volumeHandle") or "")
        pool, sep, volume = handle.partition("/")
        if csi.get("driver") not in (CSI_DRIVER, self.name) or not sep:
            raise DriverError("NotAnImageVolume", f"refusing to {verb} volume {pv.get('metadata', {}).get('name')}: "
                                                  f"it is not an {self.name} volume (volumeHandle {handle!r})")
        path = self.image_path(pool, volume)
        named = ((csi.get("volumeAttributes") or {}).get("path"))
        if named and os.path.normpath(str(named)) != path:
            raise DriverError("PathEscapesBase", f"refusing to {verb} {named}: volumeHandle {handle} names {path}")
        if os.path.realpath(os.path.dirname(path)) != os.path.realpath(self.pool_dir(pool)):
            raise DriverError("PathEscapesBase", f"refusing to {verb} {path}: it escapes the base directory "
                                                 f"{self.base_dir}")
        return pool, volume, path

    # -- provision ---------------------------------------------------------------------

    def _provision(self, req: ProvisionRequest) -> ProvisionResult:
        params = req.parameters
        unknown = sorted(k for k in params if k not in _KNOWN and not k.startswith(_RESERVED_PREFIX))
        if unknown:
            raise DriverError("InvalidParameter", f'invalid option "{unknown[0]}" for volume plugin {self.name}')
        pool = _plain("pool", params.get("pool") or "default")
        fs_type = params.get("fsType") or params.get("csi.storage.k8s.io/fstype") or "ext4"
        if fs_type not in FS_TYPES:
            raise DriverError("InvalidParameter", f'fsType "{fs_type}" is not supported by {self.name}: use ext4 '
                                                  "or xfs")
        if req.volume_mode != "Block" and "ReadWriteMany" in req.access_modes:
            raise DriverError("InvalidAccessMode", f"{self.name} does not support access mode ReadWriteMany for "
                                                   "volumeMode Filesystem: the image holds one filesystem that one "
                                                   "node mounts at a time (use ReadWriteOnce, or volumeMode Block)")
        if (req.claim.get("spec") or {}).get("selector") is not None:
            raise DriverError("SelectorNotSupported", "claim.Spec.Selector is not supported")
        if req.selected_node and self.node_name and req.selected_node != self.node_name:
            raise DriverError("WrongNode", f'the claim selected node "{req.selected_node}" but the images of '
                                           f'{self.name} are on node "{self.node_name}"')
        path = self.image_path(pool, req.volume_name)
        size = _round_mib(req.size_bytes)
        if fs_type == "xfs" and req.volume_mode != "Block":
            size = max(size, XFS_MIN_BYTES)
        with self._lock(path):
            size = self._make_image(req, path, size)
        attrs = {"pool": pool, "image": os.path.basename(path), "path": path}
        for key in ("imageFeatures", "mkfsOptions"):
            if params.get(key):
                attrs[key] = params[key]
        csi: dict[str, Any] = {"driver": CSI_DRIVER, "volumeHandle": f"{pool}/{req.volume_name}"}
        if req.volume_mode != "Block":
            csi["fsType"] = fs_type
        csi["volumeAttributes"] = attrs
        node = req.selected_node or self.node_name
        affinity = None
        if node:
            affinity = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": HOSTNAME_LABEL, "operator": "In", "values": [node]}]}]}}
        return ProvisionResult(source={"csi": csi}, node_affinity=affinity, capacity_bytes=size)

    def _source(self, req: ProvisionRequest) -> tuple[str, str] | None:
        """(source image path, what it is) of a restore or clone."""
        handle, volume = req.source_snapshot_handle, req.source_volume
        if handle:
            path = self.snapshot_path(handle)
            if not os.path.isfile(path):
                raise DriverError("SnapshotNotFound", f"snapshot {handle} not found: {path} does not exist")
            return path, f"snapshot {handle}"
        if volume:
            _, _, path = self._owned(volume, "clone")
            if not os.path.isfile(path):
                raise DriverError("VolumeNotFound", f"source volume {volume['metadata'].get('name')} not found: "
                                                    f"{path} does not exist")
            return path, f"volume {volume['metadata'].get('name')}"
        return None

    def _make_image(self, req: ProvisionRequest, path: str, size: int) -> int:
        source = None
        try:
            if os.path.isfile(path):
                # Made before (a retry, or a restart after the rename): reuse it, never shrink it.
                have = os.path.getsize(path)
                if have < size:
                    os.truncate(path, size)
                return max(have, size)
            source = self._source(req)
            pool_dir = os.path.dirname(path)
            os.makedirs(pool_dir, mode=0o700, exist_ok=True)
            tmp = os.path.join(pool_dir, f".{os.path.basename(path)}.tmp")
            if source is not None:
                src, what = source
                src_size = os.path.getsize(src)
                if size < src_size and _round_mib(req.size_bytes) < src_size:
                    raise DriverError("InvalidSize", f"requested volume size {req.size_bytes} is less than the size "
                                                     f"{src_size} of the source {what}")
                with block.frozen(_mount_point_of(src)):
                    copy_sparse(src, tmp)
                size = max(size, src_size)
                os.truncate(tmp, size)
            else:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
                try:
                    os.ftruncate(fd, size)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            os.rename(tmp, path)
            _fsync_dir(pool_dir)
            return size
        except block.BlockError as e:
            raise DriverError(e.reason, f"cannot copy {source[1] if source else 'the source'} consistently: "
                                        f"{e}") from None
        except OSError as e:
            raise os_error("create image", path, e) from None

    # -- delete, expand, recycle -------------------------------------------------------

    def _not_in_use(self, path: str, verb: str) -> None:
        """Refuse while the image is mounted here; detach a loop device nothing mounts."""
        if not os.path.isfile(path) or block.find_tool("losetup") is None:
            return
        try:
            device = block.find_loop(path)
            if device is None:
                return
            points = block.mount_points_of(device)
            if points:
                raise Retryable("VolumeInUse", f"cannot {verb} image {path}: it is mounted at {points[0]} "
                                               f"(device {device})")
            block.detach(device)
        except block.BlockError as e:
            raise Retryable(e.reason, f"cannot {verb} image {path}: {e}") from None

    def _delete(self, pv: dict[str, Any]) -> None:
        _, _, path = self._owned(pv, "delete")
        with self._lock(path):
            self._not_in_use(path, "delete")
            tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
            for p in (path, tmp):
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass
                except OSError as e:
                    raise os_error("remove", p, e) from None

    def _expand(self, pv: dict[str, Any], new_size_bytes: int) -> int:
        _, _, path = self._owned(pv, "expand")
        want = _round_mib(new_size_bytes)
        with self._lock(path):
            try:
                have = os.path.getsize(path)
                if have < want:
                    os.truncate(path, want)
            except FileNotFoundError:
                raise DriverError("NotFound", f"cannot expand volume: image {path} does not exist") from None
            except OSError as e:
                raise os_error("expand image", path, e) from None
        return max(have, want)

    def _recycle(self, pv: dict[str, Any]) -> None:
        _, _, path = self._owned(pv, "recycle")
        with self._lock(path):
            self._not_in_use(path, "recycle")
            try:
                size = os.path.getsize(path)
                os.truncate(path, 0)           # every block discarded: the next use formats afresh
                os.truncate(path, size)
            except FileNotFoundError:
                raise DriverError("NotFound", f"cannot recycle volume: image {path} does not exist") from None
            except OSError as e:
                raise os_error("scrub image", path, e) from None

    # -- snapshots ---------------------------------------------------------------------

    def _snapshot(self, pv: dict[str, Any], snapshot_name: str) -> tuple[str, int, int]:
        pool, _, src = self._owned(pv, "snapshot")
        handle = f"{pool}/snapshots/{_plain('snapshot name', snapshot_name)}"
        path = self.snapshot_path(handle)
        with self._lock(path):
            try:
                if os.path.isfile(path):
                    st = os.stat(path)
                    return handle, st.st_size, st.st_mtime_ns
                if not os.path.isfile(src):
                    raise DriverError("VolumeNotFound", f"cannot snapshot volume {pv['metadata'].get('name')}: "
                                                        f"image {src} does not exist")
                snap_dir = os.path.dirname(path)
                os.makedirs(snap_dir, mode=0o700, exist_ok=True)
                tmp = os.path.join(snap_dir, f".{os.path.basename(path)}.tmp")
                created = time.time_ns()
                with block.frozen(_mount_point_of(src)):
                    copy_sparse(src, tmp)
                os.utime(tmp, ns=(created, created))
                os.rename(tmp, path)
                _fsync_dir(snap_dir)
                return handle, os.path.getsize(path), created
            except block.BlockError as e:
                raise DriverError(e.reason, f"cannot snapshot volume {pv['metadata'].get('name')} "
                                            f"consistently: {e}") from None
            except OSError as e:
                raise os_error("snapshot image", src, e) from None

    def _delete_snapshot(self, snapshot_handle: str) -> None:
        path = self.snapshot_path(snapshot_handle)
        with self._lock(path):
            tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
            for p in (path, tmp):
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass
                except OSError as e:
                    raise os_error("remove", p, e) from None
