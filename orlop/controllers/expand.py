"""Volume expansion: a bound claim asks for more, the backend grows, PV and claim follow.

Why this exists: users grow a claim by raising ``spec.resources.requests.storage``
(admission already refused shrinking and classes without ``allowVolumeExpansion``).
Kubernetes' expand controller and kubelet then do, and so does this controller:

1. claim condition ``Resizing`` and ``status.allocatedResources`` = the request;
2. the driver grows the backend volume (idempotent: asking twice for the same size is
   harmless);
3. the PV's ``spec.capacity`` is raised to what the driver provides;
4. if the filesystem must grow on the node (the driver says so with ``node_expansion =
   True``, or the PV carries the annotation ``orlop.io/fs-resize-required``),
   condition ``FileSystemResizePending`` (the node agent finishes it); otherwise ``status.capacity`` = new size and the conditions
   are cleared, event ``VolumeResizeSuccessful``.

Failures record ``VolumeResizeFailed`` and retry with backoff.  The other path of
seed 000 — an administrator edits a bound PV's capacity — needs no backend call: the
binder raises the claim's ``status.capacity`` to follow (see ``pv.decide``).
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from ..client import LocalClient
from ..drivers import DriverError, driver_for_volume
from ..jsonobj import clone
from ..quantity import format_quantity, parse_quantity
from .base import Informers, WorkQueue, key_of

COMPONENT = "volume_expand"
RESIZE_CONDITIONS = ("Resizing", "FileSystemResizePending")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _qty(value: Any) -> Decimal:
    try:
        return parse_quantity(value)
    except (ValueError, TypeError):
        return Decimal(0)


def requested(claim: dict[str, Any]) -> Decimal:
    return _qty(((claim.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage", "0"))


def status_capacity(claim: dict[str, Any]) -> Decimal:
    return _qty(((claim.get("status") or {}).get("capacity") or {}).get("storage", "0"))


def needs_expansion(claim: dict[str, Any]) -> bool:
    """A Bound claim whose request exceeds what it has."""
    status = claim.get("status") or {}
    return (status.get("phase") == "Bound" and bool((claim.get("spec") or {}).get("volumeName"))
            and status_capacity(claim) > 0 and requested(claim) > status_capacity(claim))


def _has_condition(claim: dict[str, Any], typ: str) -> bool:
    return any(c.get("type") == typ and c.get("status") == "True"
               for c in (claim.get("status") or {}).get("conditions") or [])


def with_conditions(claim: dict[str, Any], types: tuple[str, ...], now: str) -> dict[str, Any]:
    """The claim with exactly these resize conditions (others kept)."""
    new = clone(claim)
    status = new.setdefault("status", {})
    keep = [c for c in status.get("conditions") or [] if c.get("type") not in RESIZE_CONDITIONS]
    for t in types:
        old = next((c for c in claim.get("status", {}).get("conditions") or [] if c.get("type") == t), None)
        cond = {"type": t, "status": "True", "lastProbeTime": None,
                "lastTransitionTime": old.get("lastTransitionTime", now) if old else now}
        if t == "FileSystemResizePending":
            cond["message"] = "Waiting for user to (re-)start a pod to finish file system resize of volume on node."
        keep.append(cond)
    if keep:
        status["conditions"] = keep
    else:
        status.pop("conditions", None)
    return new


class ExpandController:
    def __init__(self, client: LocalClient, informers: Informers):
        self.client = client
        self.claims = informers.get("v1", "PersistentVolumeClaim")
        self.queue = WorkQueue(base_delay=0.5, max_delay=300.0)
        self.claims.on_change(self._on_claim)

    def _on_claim(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if typ != "DELETED" and needs_expansion(obj):
            self.queue.add(key_of(obj))

    async def run(self) -> None:
        await self.queue.process(self.sync, "expand-controller")

    async def sync(self, key: tuple[str, str]) -> None:
        claim = await self.client.get("v1", "PersistentVolumeClaim", key[0], key[1])
        if claim is None or not needs_expansion(claim):
            return
        pv = await self.client.get("v1", "PersistentVolume", None, claim["spec"]["volumeName"])
        if pv is None:
            return
        want = requested(claim)
        size = claim["spec"]["resources"]["requests"]["storage"]
        pv_capacity = _qty(((pv.get("spec") or {}).get("capacity") or {}).get("storage"))
        if pv_capacity >= want and _has_condition(claim, "FileSystemResizePending"):
            # OBSERVATION: the backend is grown and the node has the rest: nothing to do here
            # (going back to Resizing would flip the claim's conditions on every write).
            return
        # OBSERVATION: pvc is "Bound", request > capacity: mark it Resizing.
        now = _now()
        marked = with_conditions(claim, ("Resizing",), now)
        marked["status"]["allocatedResources"] = {"storage": size}
        if marked != claim:
            claim = await self.client.update(marked, subresource="status")
        driver = driver_for_volume(pv)
        if driver is None:
            await self._failed(claim, f'error expanding volume "{key[0]}/{key[1]}" of plugin '
                                      '"kubernetes.io/no-plugin": volume plugin does not support expansion')
            raise RuntimeError("no expander")
        try:
            got = Decimal(await driver.expand(pv, int(want)))
        except DriverError as e:
            await self._failed(claim, f'error expanding volume "{key[0]}/{key[1]}": {e}')
            raise
        new_capacity = format_quantity(max(got, want))
        # OBSERVATION: backend grown: the PV records the new capacity first.
        if _qty(((pv.get("spec") or {}).get("capacity") or {}).get("storage")) < max(got, want):
            pv["spec"].setdefault("capacity", {})["storage"] = new_capacity
            pv = await self.client.update(pv)
        fs_pending = bool((pv.get("metadata", {}).get("annotations") or {}).get("orlop.io/fs-resize-required")
                          or getattr(driver, "node_expansion", False))
        if fs_pending:
            # OBSERVATION: the filesystem grows on the node (node agent): wait for it.
            done = with_conditions(claim, ("FileSystemResizePending",), _now())
            await self.client.update(done, subresource="status")
            return
        # OBSERVATION: nothing left to grow: the claim has its new capacity.
        done = with_conditions(claim, (), _now())
        done["status"]["capacity"] = {**(done["status"].get("capacity") or {}), "storage": new_capacity}
        done["status"].pop("allocatedResources", None)
        await self.client.update(done, subresource="status")
        await self.client.event(claim, "Normal", "VolumeResizeSuccessful",
                                f"ExpandVolume succeeded for volume {key[0]}/{key[1]}", COMPONENT)

    async def _failed(self, claim: dict[str, Any], message: str) -> None:
        await self.client.event(claim, "Warning", "VolumeResizeFailed", message, COMPONENT)
