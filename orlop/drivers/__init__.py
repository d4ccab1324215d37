"""The controller-side storage driver interface, its errors and the driver registry.

Why this exists: the provisioning, reclaim and expansion controllers decide *when* a
volume is created, removed, scrubbed or grown; a driver decides *how* on one backend.
This module is the one narrow seam between them, so controllers never touch a
filesystem and drivers never touch the API.  Drivers know nothing of HTTP: they take
plain objects (claim, class, PV dicts as decoded from the wire) and return plain data.

Invariant every driver keeps: each operation is named from the claim's UID (the
volume name ``pvc-<claim uid>``) and is safe to repeat.  Provisioning a volume that
already exists returns the same result; deleting or recycling one that is gone
succeeds; a crash between any two steps leaves only things a retry will find and reuse.

How a PV finds its driver (``driver_for_volume``), mirroring Kubernetes' PV controller:
a dynamically provisioned PV is handled by the driver named in its
``pv.kubernetes.io/provisioned-by`` annotation; a static PV by the plugin that owns its
volume source (``hostPath``, as Kubernetes' in-tree host-path plugin; ``rbd``, as its in-tree
rbd plugin, when the ``kubernetes.io/rbd`` driver is registered).
``recycler_for`` follows the same lookup: in Kubernetes only hostPath and NFS volumes are
recyclable, and a ``local`` or ``rbd`` volume is not ("No recycler plugin found for the
volume!"); volumes a registered driver provisioned are recycled by that driver unless it
says ``recyclable = False``.

Errors: ``DriverError`` means the operation cannot succeed as asked (bad parameters,
a path that escapes its base, a forbidden delete); retrying without a change is futile.
``Retryable`` means it may succeed later (no space left, I/O error, busy); the
controller retries with backoff.  Both carry a CamelCase ``reason`` and a message meant
for the event a user reads.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Awaitable, Callable, Container
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

__all__ = [
    "ANN_PROVISIONED_BY",
    "Driver",
    "DriverError",
    "ProvisionRequest",
    "ProvisionResult",
    "Recycler",
    "SERVED",
    "Retryable",
    "driver_for_volume",
    "driver_named",
    "get_driver",
    "os_error",
    "recycler_for",
    "register",
    "run_blocking",
    "unregister",
]

ANN_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
RBD_PLUGIN = "kubernetes.io/rbd"

T = TypeVar("T")


class DriverError(Exception):
    """A backend operation failed and retrying it unchanged will not help."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r}, {self.message!r})"


class Retryable(DriverError):
    """A backend operation failed for a reason that may go away (space, I/O, busy)."""


# errno values after which the same call may well succeed later.
_TRANSIENT = frozenset({
    errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EAGAIN, errno.EBUSY, errno.EINTR,
    errno.ENOMEM, errno.EMFILE, errno.ENFILE, errno.ETIMEDOUT, errno.ESTALE,
})

_REASONS = {
    errno.ENOSPC: "NoSpace",
    errno.EDQUOT: "QuotaExceeded",
    errno.EACCES: "PermissionDenied",
    errno.EPERM: "PermissionDenied",
    errno.EROFS: "ReadOnlyFilesystem",
    errno.ENOENT: "NotFound",
    errno.ENOTDIR: "NotADirectory",
    errno.ENAMETOOLONG: "NameTooLong",
}


def os_error(op: str, path: str, exc: OSError) -> DriverError:
    """Turn an OSError into a DriverError worded as Go's ``*PathError`` ("mkdir /x: no
    space left on device"), the way Kubernetes' events show filesystem failures."""
    code = exc.errno or 0
    text = exc.strerror or str(exc)
    text = text[:1].lower() + text[1:]
    cls = Retryable if code in _TRANSIENT else DriverError
    return cls(_REASONS.get(code, "IOError"), f"{op} {path}: {text}")


@dataclass
class ProvisionRequest:
    """What the provisioning controller asks a driver for.

    ``volume_name`` is ``pvc-<claim uid>``: the name of the PV to be and the key that
    makes provisioning idempotent.  ``selected_node`` is the claim's
    ``volume.kubernetes.io/selected-node`` annotation (WaitForFirstConsumer), if any.
    ``source_snapshot_handle`` (a ready VolumeSnapshotContent's ``status.snapshotHandle``)
    or ``source_volume`` (the bound PV of a claim being cloned) say what the new volume
    starts as, filled by the PV controller from the claim's ``dataSource(Ref)``.
    """

    claim: dict[str, Any]
    storage_class: dict[str, Any]
    volume_name: str
    size_bytes: int
    selected_node: str | None = None
    access_modes: list[str] = field(default_factory=list)
    volume_mode: str = "Filesystem"
    source_snapshot_handle: str | None = None
    source_volume: dict[str, Any] | None = None

    @property
    def parameters(self) -> dict[str, str]:
        return dict(self.storage_class.get("parameters") or {})


@dataclass
class ProvisionResult:
    """What a driver made: the PV's volume source and what the PV must say about it.

    ``source`` is the one-key volume source dict (``{"hostPath": {...}}``,
    ``{"local": {...}}``) merged into ``pv.spec``; ``node_affinity`` is ``pv.spec.nodeAffinity``
    when the volume lives on one node; ``annotations`` go on the PV.
    """

    source: dict[str, Any]
    node_affinity: dict[str, Any] | None
    capacity_bytes: int
    annotations: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Driver(Protocol):
    """A storage backend as the controllers see it.  All methods are idempotent."""

    name: str  # the provisioner name StorageClasses use, e.g. "orlop.io/local-path"

    async def provision(self, req: ProvisionRequest) -> ProvisionResult: ...

    async def delete(self, pv: dict[str, Any]) -> None: ...

    async def expand(self, pv: dict[str, Any], new_size_bytes: int) -> int: ...

    async def recycle(self, pv: dict[str, Any]) -> None: ...


Recycler = Callable[[dict[str, Any]], Awaitable[None]]

_registry: dict[str, Driver] = {}


def register(driver: Driver) -> None:
    """Make ``driver`` the one serving its provisioner name (replacing any earlier one)."""
    _registry[driver.name] = driver


def unregister(name: str) -> None:
    _registry.pop(name, None)


def get_driver(provisioner: str) -> Driver | None:
    """The driver for a StorageClass's ``provisioner``, or None (then, as in Kubernetes,
    the claim waits for an external provisioner)."""
    driver = _registry.get(provisioner)
    if driver is None:
        from .hostpath import HOST_PATH_PLUGIN, HostPathDriver
        if provisioner == HOST_PATH_PLUGIN:
            driver = HostPathDriver()
            _registry[provisioner] = driver
    return driver


class _Served(Container[str]):
    """The provisioner names orlop's own drivers serve, as registered at the time of asking:
    the PV controller provisions for these and, for any other name outside ``kubernetes.io/``,
    waits for an external provisioner (Kubernetes' ExternalProvisioning)."""

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and get_driver(name) is not None


SERVED: Container[str] = _Served()


def driver_named(name: str) -> Driver | None:
    """The driver a VolumeSnapshotClass / VolumeSnapshotContent ``driver`` names: by its provisioner
    name, or by the CSI driver name its PVs carry (a driver's optional ``csi_driver`` attribute)."""
    driver = get_driver(name)
    if driver is None:
        driver = next((d for d in _registry.values() if getattr(d, "csi_driver", None) == name), None)
    return driver


def driver_for_volume(pv: dict[str, Any]) -> Driver | None:
    """The driver that deletes, expands and recycles this PV (see the module docstring)."""
    annotations = (pv.get("metadata") or {}).get("annotations") or {}
    provisioner = annotations.get(ANN_PROVISIONED_BY)
    if provisioner:
        driver = get_driver(provisioner)
        if driver is not None:
            return driver
    spec = pv.get("spec") or {}
    if spec.get("hostPath") is not None:
        from .hostpath import HOST_PATH_PLUGIN
        return get_driver(HOST_PATH_PLUGIN)
    if spec.get("rbd") is not None:
        return get_driver(RBD_PLUGIN)    # as Kubernetes' rbd plugin deletes and expands static rbd PVs
    return None


def recycler_for(pv: dict[str, Any]) -> Recycler | None:
    """The coroutine function that scrubs this PV, or None when nothing can recycle it
    (the controller then records Kubernetes' "No recycler plugin found for the volume!")."""
    driver = driver_for_volume(pv)
    if driver is None or not getattr(driver, "recyclable", True):
        return None
    return driver.recycle


async def run_blocking(fn: Callable[..., T], *args: Any) -> T:
    """Run blocking filesystem work off the event loop."""
    return await asyncio.to_thread(fn, *args)
