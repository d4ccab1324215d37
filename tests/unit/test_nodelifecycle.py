"""Node lifecycle: stale nodes become Unknown and tainted; condition taints follow conditions.

Pure tables for the two decisions, then the controller in process over a real registry
with a short grace period: a node whose Lease stops being renewed turns Ready Unknown
with the unreachable taint, and gets rid of the taint once it renews and reports Ready.
"""

from __future__ import annotations

import asyncio
import datetime
import os
from typing import Any

import pytest
from inproc import until

from orlop.client import LocalClient
from orlop.controllers.base import Informers
from orlop.controllers.nodelifecycle import NodeLifecycleController, reconciled_taints, stale_conditions
from orlop.registry.core import Registry
from orlop.store.sqlite import SQLiteStore
from orlop.up import bootstrap

NOW = "2024-05-01T10:00:00Z"
T0 = "2024-05-01T09:00:00Z"
UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}
NOT_READY = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}


def node(conds: list[dict[str, Any]] | None = None, taints: list[dict[str, Any]] | None = None,
         unschedulable: bool = False) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Node",
                           "metadata": {"name": "node-1", "creationTimestamp": T0}, "spec": {}, "status": {}}
    if conds is not None:
        obj["status"]["conditions"] = conds
    if taints is not None:
        obj["spec"]["taints"] = taints
    if unschedulable:
        obj["spec"]["unschedulable"] = True
    return obj


def cond(type_: str, status: str, reason: str = "KubeletReady") -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": "m", "lastHeartbeatTime": T0,
            "lastTransitionTime": T0}


STOPPED = {"status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status.",
           "lastHeartbeatTime": T0, "lastTransitionTime": NOW}
NEVER = {"status": "Unknown", "reason": "NodeStatusNeverUpdated", "message": "Kubelet never posted node status.",
         "lastHeartbeatTime": T0, "lastTransitionTime": NOW}


@pytest.mark.parametrize("conds,want", [
    # Ready True -> Unknown; pressure conditions too, missing ones added as never updated.
    ([cond("Ready", "True"), cond("MemoryPressure", "False")],
     [{"type": "Ready", **STOPPED}, {"type": "MemoryPressure", **STOPPED},
      {"type": "DiskPressure", **NEVER}, {"type": "PIDPressure", **NEVER}]),
    # Never reported at all.
    (None, [{"type": "Ready", **NEVER}, {"type": "MemoryPressure", **NEVER}, {"type": "DiskPressure", **NEVER},
            {"type": "PIDPressure", **NEVER}]),
    # Already Unknown everywhere: nothing to write.
    ([{"type": t, **STOPPED} for t in ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")], None),
    # NetworkUnavailable is left alone; Ready False -> Unknown.
    ([cond("Ready", "False"), cond("NetworkUnavailable", "False")] +
     [{"type": t, **STOPPED} for t in ("MemoryPressure", "DiskPressure", "PIDPressure")],
     [{"type": "Ready", **STOPPED}, cond("NetworkUnavailable", "False")] +
     [{"type": t, **STOPPED} for t in ("MemoryPressure", "DiskPressure", "PIDPressure")]),
], ids=["ready-true", "never-posted", "already-unknown", "ready-false"])
def test_stale_conditions(conds, want) -> None:
    assert stale_conditions(node(conds), NOW) == want


@pytest.mark.parametrize("obj,want", [
    (node([cond("Ready", "True")]), None),
    (node([cond("Ready", "Unknown")]), [{**UNREACHABLE, "timeAdded": NOW}]),
    (node([cond("Ready", "False")]), [{**NOT_READY, "timeAdded": NOW}]),
    (node([cond("Ready", "Unknown")], taints=[{**UNREACHABLE, "timeAdded": T0}]), None),
    # Back to Ready: the unreachable taint goes, a user's taint stays.
    (node([cond("Ready", "True")], taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"},
                                           {**UNREACHABLE, "timeAdded": T0}]),
     [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]),
    # Unknown -> False: unreachable swapped for not-ready.
    (node([cond("Ready", "False")], taints=[{**UNREACHABLE, "timeAdded": T0}]), [{**NOT_READY, "timeAdded": NOW}]),
    # A NoExecute taint with a managed key is not ours to remove.
    (node([cond("Ready", "True")], taints=[{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]), None),
    (node([cond("Ready", "True"), cond("DiskPressure", "True")], unschedulable=True),
     [{"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule", "timeAdded": NOW},
      {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule", "timeAdded": NOW}]),
    (node([cond("Ready", "True")], taints=[{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]),
     []),
], ids=["ready", "unknown", "false", "already-tainted", "recovered", "unknown-to-false", "noexecute-kept",
        "pressure-and-cordon", "uncordoned"])
def test_reconciled_taints(obj, want) -> None:
    assert reconciled_taints(obj, NOW) == want


# --------------------------------------------------------------------------- in process

def micro_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def test_lease_expiry_marks_node_unknown_and_renewal_clears_the_taint(tmp_path):
    store = SQLiteStore(os.path.join(tmp_path, "store.db"))
    registry = Registry(store)
    await bootstrap(registry)
    client = LocalClient(registry, "test")
    informers = Informers(LocalClient(registry, "informers"))
    ctrl = NodeLifecycleController(LocalClient(registry, "node-controller"), informers, grace_period=0.4,
                                   monitor_period=0.05)
    tasks = [asyncio.create_task(informers.run()), asyncio.create_task(ctrl.run())]
    try:
        for name in ("node-1", "node-2"):
            await client.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                                 "status": {"conditions": [cond("Ready", "True")]}})
            await client.create({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                 "metadata": {"name": name, "namespace": "kube-node-lease"},
                                 "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                                          "renewTime": micro_now()}})

        async def renew(name: str) -> None:
            lease = await client.get("coordination.k8s.io/v1", "Lease", "kube-node-lease", name)
            lease["spec"]["renewTime"] = micro_now()
            await client.update(lease)

        async def ready(name: str) -> dict[str, Any]:
            n = await client.get("v1", "Node", None, name)
            return next(c for c in n["status"]["conditions"] if c["type"] == "Ready")

        async def node_1_unknown() -> bool:
            await renew("node-2")          # node-2 keeps renewing its lease
            return (await ready("node-1"))["status"] == "Unknown"
        await until(node_1_unknown, what="node-1 Ready Unknown")
        r = await ready("node-1")
        assert (r["reason"], r["message"]) == ("NodeStatusUnknown", "Kubelet stopped posting node status.")
        assert r["lastHeartbeatTime"] == T0

        async def tainted() -> list[dict[str, Any]] | None:
            return ((await client.get("v1", "Node", None, "node-1")).get("spec") or {}).get("taints")
        taints = await until(tainted, what="unreachable taint")
        assert [(t["key"], t["effect"]) for t in taints] == [("node.kubernetes.io/unreachable", "NoSchedule")]
        assert taints[0]["timeAdded"]
        assert (await ready("node-2"))["status"] == "True"
        assert not ((await client.get("v1", "Node", None, "node-2")).get("spec") or {}).get("taints")

        # node-1 comes back: renews its lease and reports Ready True again.
        await renew("node-1")
        n1 = await client.get("v1", "Node", None, "node-1")
        n1["status"]["conditions"] = [{**cond("Ready", "True"), "lastHeartbeatTime": micro_now()[:19] + "Z"}]
        await client.update(n1, subresource="status")

        async def untainted() -> bool:
            await renew("node-1")
            return not ((await client.get("v1", "Node", None, "node-1")).get("spec") or {}).get("taints")
        await until(untainted, what="taint removed")
        assert (await ready("node-1"))["status"] == "True"
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await store.close()
