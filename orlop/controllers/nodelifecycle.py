"""Node lifecycle: notices nodes that stopped reporting and keeps condition taints current.

Why this exists: a node agent that dies cannot say so.  Kubernetes' node lifecycle
controller watches each node's heartbeat -- its Lease ``kube-node-lease/<node>``
(``spec.renewTime``) and the Ready condition's ``lastHeartbeatTime`` -- and when neither
moved for the grace period marks the node's conditions Unknown; the scheduler then
avoids the node through the taint that follows.  Without this, a StatefulSet pod whose
node vanished would be scheduled to, and wait on, a dead node forever.

What it does (Kubernetes' monitorNodeHealth and doNoScheduleTaintingPass):

- a heartbeat is any change of the Lease's ``renewTime`` or of the Ready condition's
  ``lastHeartbeatTime``, timed by this controller's own clock when it sees the change
  (so clock skew between machines does not matter); at start every node counts as just
  heard from, except one that never reported Ready, which is timed from its
  ``creationTimestamp``;
- no heartbeat for ``grace_period`` (40 s, Kubernetes' ``--node-monitor-grace-period``;
  ``startup_grace_period`` 60 s for a node that never reported Ready): Ready becomes
  ``Unknown``, reason ``NodeStatusUnknown``, message ``Kubelet stopped posting node
  status.`` (``lastHeartbeatTime`` kept, ``lastTransitionTime`` now), and MemoryPressure,
  DiskPressure and PIDPressure likewise (added as ``NodeStatusNeverUpdated`` / ``Kubelet
  never posted node status.`` when missing); a node that never reported Ready gets
  Ready Unknown ``NodeStatusNeverUpdated`` / ``Kubelet never posted node status.``;
- taints follow conditions, each pass: Ready False -> ``node.kubernetes.io/not-ready``,
  Ready Unknown -> ``node.kubernetes.io/unreachable``, MemoryPressure / DiskPressure /
  PIDPressure / NetworkUnavailable True -> ``node.kubernetes.io/<...>-pressure`` /
  ``network-unavailable``, ``spec.unschedulable`` -> ``node.kubernetes.io/unschedulable``,
  all ``NoSchedule`` with ``timeAdded``; such taints the conditions no longer call for are
  removed.  So when the Lease is renewed and the agent reports Ready True again, the
  ``unreachable`` taint goes.  Other taints are never touched.

Not done (orlop does not evict): the ``NoExecute`` taints and taint-based eviction.  The
node agent must post ``Ready True`` again after coming back (kubelet does: it compares
its status with the server's and patches the difference).

Writes are compare-and-swap updates (status, then spec); a conflict re-queues the node.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from dataclasses import dataclass
from typing import Any

from ..client import LocalClient
from ..errors import StatusError
from ..jsonobj import clone
from ..scheduler.taints import CONDITION_TAINT_KEYS, condition, condition_taints
from .base import Informers, WorkQueue

log = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-node-lease"
GRACE_PERIOD = 40.0
STARTUP_GRACE_PERIOD = 60.0
MONITOR_PERIOD = 5.0

_PRESSURE_CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure")


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: Any) -> float | None:
    try:
        return datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# --------------------------------------------------------------------------- pure decisions

def stale_conditions(node: dict[str, Any], now: str) -> list[dict[str, Any]] | None:
    """The node's conditions once it is known to have stopped reporting, or None when
    they already say so.  ``now``: RFC 3339 time for ``lastTransitionTime``."""
    conds = [clone(c) for c in (node.get("status") or {}).get("conditions") or [] if isinstance(c, dict)]
    created = (node.get("metadata") or {}).get("creationTimestamp") or now
    changed = False
    ready = next((c for c in conds if c.get("type") == "Ready"), None)
    if ready is None:
        conds.append({"type": "Ready", "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                      "message": "Kubelet never posted node status.", "lastHeartbeatTime": created,
                      "lastTransitionTime": now})
        changed = True
    elif ready.get("status") != "Unknown":
        ready.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.",
                     lastTransitionTime=now)
        changed = True
    for type_ in _PRESSURE_CONDITIONS:
        cur = next((c for c in conds if c.get("type") == type_), None)
        if cur is None:
            conds.append({"type": type_, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                          "message": "Kubelet never posted node status.", "lastHeartbeatTime": created,
                          "lastTransitionTime": now})
            changed = True
        elif cur.get("status") != "Unknown":
            cur.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.",
                       lastTransitionTime=now)
            changed = True
    return conds if changed else None


def reconciled_taints(node: dict[str, Any], now: str) -> list[dict[str, Any]] | None:
    """``spec.taints`` with the condition taints added and the stale ones removed, or None
    when nothing changes.  Only NoSchedule taints with this controller's keys are managed."""
    taints = [t for t in (node.get("spec") or {}).get("taints") or [] if isinstance(t, dict)]
    want = condition_taints(node)
    want_keys = {(t["key"], t["effect"]) for t in want}
    managed = [t for t in taints if t.get("effect") == "NoSchedule" and t.get("key") in CONDITION_TAINT_KEYS]
    have_keys = {(t.get("key"), t.get("effect")) for t in managed}
    remove = [t for t in managed if (t.get("key"), t.get("effect")) not in want_keys]
    add = [{**t, "timeAdded": now} for t in want if (t["key"], t["effect"]) not in have_keys]
    if not add and not remove:
        return None
    return [t for t in taints if not any(t is r for r in remove)] + add


# --------------------------------------------------------------------------- the controller

@dataclass
class _Health:
    probe: float                 # monotonic time of the last heartbeat seen
    renew: Any = None            # the Lease's renewTime last seen
    heartbeat: Any = None        # the Ready condition's lastHeartbeatTime last seen


class NodeLifecycleController:
    def __init__(self, client: LocalClient, informers: Informers, *, grace_period: float = GRACE_PERIOD,
                 startup_grace_period: float = STARTUP_GRACE_PERIOD, monitor_period: float = MONITOR_PERIOD):
        self.client = client
        self.nodes = informers.get("v1", "Node")
        self.leases = informers.get("coordination.k8s.io/v1", "Lease")
        self.grace_period, self.startup_grace_period = grace_period, startup_grace_period
        self.monitor_period = monitor_period
        self.queue = WorkQueue()
        self.health: dict[str, _Health] = {}
        self.nodes.on_change(self._on_node)
        self.leases.on_change(self._on_lease)

    def _on_node(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        name = obj["metadata"]["name"]
        if typ == "DELETED":
            self.health.pop(name, None)
            return
        self.queue.add(name)

    def _on_lease(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if obj["metadata"].get("namespace") == LEASE_NAMESPACE and typ != "DELETED":
            self.queue.add(obj["metadata"]["name"])

    async def run(self) -> None:
        await self.nodes.synced.wait()
        await self.leases.synced.wait()
        await asyncio.gather(self.queue.process(self.sync, "node-lifecycle"), self._ticker())

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.monitor_period)
            for _, name in list(self.nodes.cache):
                self.queue.add(name)

    def _observe(self, name: str, node: dict[str, Any]) -> _Health:
        """Record heartbeats seen since the last look (monotonic clock)."""
        now = time.monotonic()
        lease = self.leases.cache.get((LEASE_NAMESPACE, name))
        renew = ((lease or {}).get("spec") or {}).get("renewTime")
        ready = condition(node, "Ready")
        heartbeat = (ready or {}).get("lastHeartbeatTime")
        h = self.health.get(name)
        if h is None:
            probe = now
            if ready is None:
                created = _parse_time(node["metadata"].get("creationTimestamp"))
                if created is not None:
                    probe = now - max(0.0, time.time() - created)
            h = self.health[name] = _Health(probe, renew, heartbeat)
            if renew is not None:
                h.probe = now
            return h
        if renew is not None and renew != h.renew:
            h.renew, h.probe = renew, now
        if heartbeat is not None and heartbeat != h.heartbeat:
            h.heartbeat, h.probe = heartbeat, now
        return h

    async def sync(self, name: str) -> None:
        node = self.nodes.cache.get(("", name))
        if node is None:
            self.health.pop(name, None)
            return
        h = self._observe(name, node)
        grace = self.grace_period if condition(node, "Ready") is not None else self.startup_grace_period
        now = now_rfc3339()
        if time.monotonic() - h.probe > grace:
            conds = stale_conditions(node, now)
            if conds is not None:
                new = clone(node)
                new.setdefault("status", {})["conditions"] = conds
                try:
                    node = await self.client.update(new, subresource="status")
                except StatusError as e:
                    if e.code in (404, 409):
                        self.queue.add_after(name, 0.1)
                        return
                    raise
                log.info("node %s stopped posting status: Ready Unknown", name)
                # Our own write is not a heartbeat.
                h.heartbeat = (condition(node, "Ready") or {}).get("lastHeartbeatTime")
        taints = reconciled_taints(node, now)
        if taints is not None:
            new = clone(node)
            new.setdefault("spec", {})["taints"] = taints
            if not taints:
                new["spec"].pop("taints")
            try:
                await self.client.update(new)
            except StatusError as e:
                if e.code in (404, 409):
                    self.queue.add_after(name, 0.1)
                    return
                raise
