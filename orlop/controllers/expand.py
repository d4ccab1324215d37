"""Volume expansion: a bound claim asks for more, the backend grows, PV and claim follow.

Why this exists: users grow a claim by raising ``spec.resources.requests.storage``
(admission already refused classes without ``allowVolumeExpansion``; validation refused
shrinking below ``status.capacity``).  Kubernetes 1.32's expand controller
(``expandAndRecoverFunction``, RecoverVolumeExpansionFailure on) and kubelet then do, and
so does this controller:

1. the claim is marked ``ControllerResizeInProgress``: condition ``Resizing``,
   ``status.allocatedResources.storage`` = the size asked of the backend,
   ``status.allocatedResourceStatuses.storage`` = ControllerResizeInProgress, and the
   annotation ``volume.kubernetes.io/storage-resizer`` = the driver's name;
2. the driver grows the backend volume (idempotent: asking twice for a size is harmless);
3. the PV's ``spec.capacity`` is raised to what the driver provides;
4. if the filesystem must grow on the node (the driver says so with ``node_expansion =
   True``, or the PV carries ``orlop.io/fs-resize-required``): ``NodeResizePending`` and the
   condition ``FileSystemResizePending`` beside ``Resizing``, and the PV remembers the
   claim's old capacity in ``volume.alpha.kubernetes.io/pre-resize-capacity``; the node
   agent finishes (capacity, conditions and resize status cleared), and this controller
   then drops the PV's annotation.  Otherwise the claim is finished here: its
   ``status.capacity`` is the new size, the resize conditions and status go (the
   allocated size stays, as Kubernetes leaves it), event ``VolumeResizeSuccessful``.

A volume no driver of orlop's can grow (hostPath, NFS, a source nothing here serves) is
Kubernetes' "waiting for an external controller to expand this PVC" (ExternalExpanding),
once per change of the request, with no status written and no retry.  A failed expansion
records ``VolumeResizeFailed``; a failure that may pass (``Retryable``) is retried with
backoff at the allocated size, one that will not (``DriverError``) marks the claim
``ControllerResizeInfeasible`` with a ``ControllerResizeError`` condition saying why, and
waits for the user to change the request (lowering it, though not below the capacity the
claim has, is the recovery Kubernetes 1.32 allows).

Claims are looked at when first seen, when their request changes and when their capacity
grows, as Kubernetes' expand controller enqueues them -- never on the controller's own
status writes, so a sync never triggers the next one.

The other path of seed 000 -- an administrator edits a bound PV's capacity -- needs no
backend call: the binder raises the claim's ``status.capacity`` to follow (``pv.decide``).

The decisions (``resize_target``, the ``mark_*`` claim builders) are pure functions of the
objects, tested with tables in tests/unit/test_expand.py.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from ..client import LocalClient
from ..drivers import Driver, DriverError, Retryable, driver_for_volume
from ..jsonobj import clone
from ..quantity import format_quantity, parse_quantity
from ..registry import strategy
from .base import Informers, WorkQueue, key_of
from .pv.decide import ANN_PRE_RESIZE_CAPACITY

COMPONENT = "volume_expand"
# knownResizeConditions (Kubernetes 1.32).
RESIZE_CONDITIONS = ("Resizing", "FileSystemResizePending", "ControllerResizeError", "NodeResizeError")
ANN_RESIZER = "volume.kubernetes.io/storage-resizer"
ANN_FS_RESIZE_REQUIRED = "orlop.io/fs-resize-required"
FS_PENDING_MESSAGE = "Waiting for user to (re-)start a pod to finish file system resize of volume on node."
EXTERNAL_MESSAGE = "waiting for an external controller to expand this PVC"

# status.allocatedResourceStatuses["storage"] values (core/v1 ClaimResourceStatus).
CONTROLLER_IN_PROGRESS = "ControllerResizeInProgress"
CONTROLLER_INFEASIBLE = "ControllerResizeInfeasible"
NODE_PENDING = "NodeResizePending"
NODE_IN_PROGRESS = "NodeResizeInProgress"
NODE_INFEASIBLE = "NodeResizeInfeasible"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _qty(value: Any) -> Decimal:
    try:
        return parse_quantity(value)
    except (ValueError, TypeError):
        return Decimal(0)


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, dict) else {}


def requested(claim: dict[str, Any]) -> Decimal:
    return _qty(((claim.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage", "0"))


def status_capacity(claim: dict[str, Any]) -> Decimal:
    return _qty((_status(claim).get("capacity") or {}).get("storage", "0"))


def pv_capacity(pv: dict[str, Any]) -> Decimal:
    return _qty(((pv.get("spec") or {}).get("capacity") or {}).get("storage"))


def resize_status(claim: dict[str, Any]) -> str:
    """allocatedResourceStatuses["storage"]; a claim marked FileSystemResizePending before
    orlop wrote resize statuses counts as NodeResizePending."""
    got = (_status(claim).get("allocatedResourceStatuses") or {}).get("storage")
    if got:
        return str(got)
    return NODE_PENDING if _has_condition(claim, "FileSystemResizePending") else ""


def allocated(claim: dict[str, Any]) -> str | None:
    size = (_status(claim).get("allocatedResources") or {}).get("storage")
    return str(size) if size else None


def is_bound(claim: dict[str, Any]) -> bool:
    return _status(claim).get("phase") == "Bound" and bool((claim.get("spec") or {}).get("volumeName"))


def needs_expansion(claim: dict[str, Any]) -> bool:
    """A Bound claim whose request exceeds what it has."""
    return is_bound(claim) and status_capacity(claim) > 0 and requested(claim) > status_capacity(claim)


def _has_condition(claim: dict[str, Any], typ: str) -> bool:
    return any(c.get("type") == typ and c.get("status") == "True"
               for c in _status(claim).get("conditions") or [] if isinstance(c, dict))


def node_expand_complete(claim: dict[str, Any], pv: dict[str, Any]) -> bool:
    """isNodeExpandComplete: the claim has what it asks for and what its PV has."""
    cap = status_capacity(claim)
    return cap >= requested(claim) and cap >= pv_capacity(pv)


def resize_target(claim: dict[str, Any], pv: dict[str, Any]) -> str | None:
    """expandAndRecover's choice (the resizer of Kubernetes 1.32, external-resizer's
    controller/expand_and_recover.go): the size to ask of the backend, or None when there is
    nothing to do now.

    While the PV is smaller than the request, a resize under way goes on at its allocated
    size first (a node resize at a size the PV already has: nothing until the node is done);
    otherwise -- and after ControllerResizeInfeasible, the user's way out -- the request is the
    size.  Once the PV is big enough: a node resize pending or running needs nothing; one that
    failed, or a controller resize that did not record its end, resumes at the allocated size
    (the request may have been lowered since).
    """
    request = str(((claim.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage", "0"))
    status, size = resize_status(claim), allocated(claim)
    if pv_capacity(pv) < requested(claim):
        if status in (NODE_PENDING, NODE_IN_PROGRESS):
            target = size or request
            return None if pv_capacity(pv) >= _qty(target) else target
        if status in (NODE_INFEASIBLE, CONTROLLER_IN_PROGRESS):
            return size or request
        return request
    if status in (NODE_IN_PROGRESS, NODE_PENDING):
        return None
    if status in (NODE_INFEASIBLE, CONTROLLER_IN_PROGRESS, CONTROLLER_INFEASIBLE) or (status == "" and size):
        return size or request
    return request


def infeasible_unchanged(claim: dict[str, Any]) -> bool:
    """The backend refused this very size for good and the user has not changed the request."""
    size = allocated(claim)
    return resize_status(claim) == CONTROLLER_INFEASIBLE and size is not None and _qty(size) == requested(claim)


def merge_resize_conditions(claim: dict[str, Any], types: tuple[str, ...], now: str,
                            keep_old: bool = False) -> list[dict[str, Any]]:
    """MergeResizeConditionOnPVC: other conditions kept, these resize conditions set (an
    existing one with the same status keeps its transition time), and the other resize
    conditions dropped unless ``keep_old``."""
    out: list[dict[str, Any]] = []
    done: set[str] = set()
    for c in _status(claim).get("conditions") or []:
        typ = c.get("type") if isinstance(c, dict) else None
        if typ not in RESIZE_CONDITIONS:
            out.append(c)
        elif typ in types:
            out.append(c if c.get("status") == "True" else _condition(typ, now))
            done.add(typ)
        elif keep_old:
            out.append(c)
    out.extend(_condition(t, now) for t in types if t not in done)
    return out


def _condition(typ: str, now: str) -> dict[str, Any]:
    cond: dict[str, Any] = {"type": typ, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
    if typ == "FileSystemResizePending":
        cond["message"] = FS_PENDING_MESSAGE
    return cond


def _with(claim: dict[str, Any], conditions: list[dict[str, Any]], resize: str | None) -> dict[str, Any]:
    """A copy of the claim with these conditions and this allocatedResourceStatuses["storage"]
    (None: the entry removed, the map too when it empties)."""
    new = clone(claim)
    status = new.setdefault("status", {})
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)
    statuses = dict(status.get("allocatedResourceStatuses") or {})
    if resize is None:
        statuses.pop("storage", None)
    else:
        statuses["storage"] = resize
    if statuses:
        status["allocatedResourceStatuses"] = statuses
    else:
        status.pop("allocatedResourceStatuses", None)
    return new


def mark_in_progress(claim: dict[str, Any], size: str, resizer: str, now: str) -> dict[str, Any]:
    """MarkControllerReisizeInProgress (sic): Resizing, ControllerResizeInProgress, the
    allocated size and the resizer annotation."""
    new = _with(claim, merge_resize_conditions(claim, ("Resizing",), now), CONTROLLER_IN_PROGRESS)
    new["status"]["allocatedResources"] = {**(new["status"].get("allocatedResources") or {}), "storage": size}
    new["metadata"]["annotations"] = {**(new["metadata"].get("annotations") or {}), ANN_RESIZER: resizer}
    return new


def mark_finished(claim: dict[str, Any], capacity: str, now: str) -> dict[str, Any]:
    """MarkResizeFinished: the new capacity, no resize conditions or status (the allocated size stays)."""
    new = _with(claim, merge_resize_conditions(claim, (), now), None)
    new["status"]["capacity"] = {**(new["status"].get("capacity") or {}), "storage": capacity}
    return new


def mark_node_pending(claim: dict[str, Any], now: str) -> dict[str, Any]:
    """MarkForFSResize: NodeResizePending, FileSystemResizePending beside Resizing."""
    return _with(claim, merge_resize_conditions(claim, ("FileSystemResizePending",), now, keep_old=True),
                 NODE_PENDING)


def mark_infeasible(claim: dict[str, Any], error: str, now: str) -> dict[str, Any]:
    """markControllerExpansionInfeasible: the backend will not grow to the allocated size;
    ControllerResizeError (in place of Resizing) says why, and the claim waits for a new request."""
    cond = {**_condition("ControllerResizeError", now), "message": f"failed to expand pvc with {error}"}
    conditions = [c if c.get("type") != "ControllerResizeError" else cond
                  for c in merge_resize_conditions(claim, ("ControllerResizeError",), now)]
    return _with(claim, conditions, CONTROLLER_INFEASIBLE)


def with_pre_resize_capacity(pv: dict[str, Any], capacity: str | None) -> dict[str, Any] | None:
    """The PV with the annotation set (a capacity) or removed (None); None when unchanged."""
    anns = (pv.get("metadata") or {}).get("annotations") or {}
    if capacity is None and ANN_PRE_RESIZE_CAPACITY not in anns:
        return None
    if capacity is not None and ANN_PRE_RESIZE_CAPACITY in anns:
        return None         # AddAnnPreResizeCapacity keeps the first one
    new = clone(pv)
    new_anns = dict(anns)
    if capacity is None:
        del new_anns[ANN_PRE_RESIZE_CAPACITY]
    else:
        new_anns[ANN_PRE_RESIZE_CAPACITY] = capacity
    if new_anns:
        new["metadata"]["annotations"] = new_anns
    else:
        new["metadata"].pop("annotations", None)
    return new


def needs_node(driver: Driver, pv: dict[str, Any]) -> bool:
    """The node grows something after the backend did (see the module docstring)."""
    return bool(((pv.get("metadata") or {}).get("annotations") or {}).get(ANN_FS_RESIZE_REQUIRED)
                or getattr(driver, "node_expansion", False))


def expander_for(pv: dict[str, Any]) -> Driver | None:
    """The driver that grows this PV, or None (an external controller's business)."""
    driver = driver_for_volume(pv)
    if driver is None or not getattr(driver, "expandable", True):
        return None
    return driver


class ExpandController:
    def __init__(self, client: LocalClient, informers: Informers):
        self.client = client
        self.claims = informers.get("v1", "PersistentVolumeClaim")
        self.queue = WorkQueue(base_delay=0.5, max_delay=300.0)
        self.claims.on_change(self._on_claim)

    def _on_claim(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        """Kubernetes' enqueue rule: a Bound claim when first seen, when its request changes
        (grows: expand; is lowered: recovery, as the resizer of 1.32 takes it) and when its
        capacity grows (the node finished: the PV's pre-resize annotation goes).  Never on
        the controller's own status writes -- so no sync ever feeds itself.  Of those, only
        claims with something to do or a resize behind them (Kubernetes looks at every
        claim that has just bound too; nothing can be resizing there)."""
        if typ == "DELETED" or not is_bound(obj):
            return
        if not (needs_expansion(obj) or resize_status(obj) or allocated(obj) is not None):
            return
        if old is None or typ == "ADDED" or requested(obj) != requested(old) or \
                status_capacity(obj) > status_capacity(old) or not is_bound(old):
            self.queue.add(key_of(obj))

    async def run(self) -> None:
        await self.queue.process(self.sync, "expand-controller")

    async def sync(self, key: tuple[str, str]) -> None:
        claim = await self.client.get("v1", "PersistentVolumeClaim", key[0], key[1])
        if claim is None or not is_bound(claim):
            return
        pv = await self.client.get("v1", "PersistentVolume", None, claim["spec"]["volumeName"])
        ref = ((pv or {}).get("spec") or {}).get("claimRef") or {}
        if pv is None or ref.get("uid") != claim["metadata"].get("uid"):
            return          # not (yet) bound both ways: the binder's business first
        has_pre = ANN_PRE_RESIZE_CAPACITY in ((pv.get("metadata") or {}).get("annotations") or {})
        if not needs_expansion(claim) and not has_pre:
            return
        driver = expander_for(pv)
        if driver is None:
            # OBSERVATION: no driver here grows this volume: an external controller might.
            await self.client.event(claim, "Warning", "ExternalExpanding", EXTERNAL_MESSAGE, COMPONENT)
            return
        if has_pre and node_expand_complete(claim, pv):
            # OBSERVATION: the node finished: the PV forgets the claim's old capacity.
            new_pv = with_pre_resize_capacity(pv, None)
            if new_pv is not None:
                await self.client.update(new_pv)
            return
        if infeasible_unchanged(claim):
            return          # OBSERVATION: refused for good at this size: waits for a new request
        size = resize_target(claim, pv)
        if size is None:
            return          # OBSERVATION: the PV has grown; the node is on it
        old_capacity = str((_status(claim).get("capacity") or {}).get("storage", "0"))
        if resize_status(claim) == NODE_INFEASIBLE and pv_capacity(pv) >= requested(claim):
            # OBSERVATION: the backend is grown, the node failed: the node tries again.
            await self._node_pending(claim, pv, old_capacity)
            return
        # OBSERVATION: pvc is "Bound", its volume must grow: ControllerResizeInProgress.
        marked = mark_in_progress(claim, size, driver.name, _now())
        if marked != claim:
            claim = await self.client.update(marked, subresource=strategy.BOTH)
        try:
            got = Decimal(await driver.expand(pv, int(_qty(size))))
        except Retryable as e:
            await self._failed(claim, e)
            raise
        except DriverError as e:
            await self._failed(claim, e)
            await self.client.update(mark_infeasible(claim, str(e), _now()), subresource="status")
            return
        new_capacity = format_quantity(max(got, _qty(size)))
        if pv_capacity(pv) < _qty(new_capacity):
            # OBSERVATION: backend grown: the PV records the new capacity first.
            pv["spec"].setdefault("capacity", {})["storage"] = new_capacity
            pv = await self.client.update(pv)
        if needs_node(driver, pv):
            # OBSERVATION: the filesystem grows on the node (node agent): wait for it.
            await self._node_pending(claim, pv, old_capacity)
            return
        # OBSERVATION: nothing left to grow: the claim has its new capacity.
        await self.client.update(mark_finished(claim, new_capacity, _now()), subresource="status")
        await self.client.event(claim, "Normal", "VolumeResizeSuccessful",
                                f"ExpandVolume succeeded for volume {key[0]}/{key[1]}", COMPONENT)

    async def _node_pending(self, claim: dict[str, Any], pv: dict[str, Any], old_capacity: str) -> None:
        """markForPendingNodeExpansion: the PV keeps the claim's old capacity, the claim waits for
        the node.  (The PV first: the node's finish, a claim write, then always finds the
        annotation to drop.)"""
        new_pv = with_pre_resize_capacity(pv, old_capacity)
        if new_pv is not None:
            await self.client.update(new_pv)
        marked = mark_node_pending(claim, _now())
        if marked != claim:
            await self.client.update(marked, subresource="status")

    async def _failed(self, claim: dict[str, Any], e: DriverError) -> None:
        meta = claim["metadata"]
        await self.client.event(claim, "Warning", "VolumeResizeFailed",
                                f"error expanding pvc {meta.get('namespace')}/{meta['name']}: {e}", COMPONENT)
