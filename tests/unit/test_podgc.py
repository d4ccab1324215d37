"""Pod GC: orphaned pods after the quarantine, terminating pods nobody will finish.

Tables for the pure decisions, then the controller in process over a real registry:
a pod bound to a node that does not exist is marked Failed (DisruptionTarget) and
removed after the quarantine; a pod deleted gracefully on a node that stays NotReady is
force-deleted once the node has been down for the timeout.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest
from inproc import until

from orlop.client import LocalClient
from orlop.controllers.base import Informers
from orlop.controllers.podgc import (
    PodGC,
    failed_status,
    orphaned_nodes,
    terminated_to_delete,
    terminating_to_delete,
)
from orlop.registry.core import Registry
from orlop.store.sqlite import SQLiteStore
from orlop.up import bootstrap

T0 = 1_700_000_000.0          # 2023-11-14T22:13:20Z


def iso(t: float) -> str:
    import datetime
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str, node: str = "", deleting_at: float | None = None, phase: str = "Running",
        created: float = T0) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": f"uid-{name}",
                            "creationTimestamp": iso(created)}
    if deleting_at is not None:
        meta["deletionTimestamp"] = iso(deleting_at)
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "nginx"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": {"phase": phase}}


def node(name: str, ready: str = "True", since: float = T0, taints: list | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": iso(T0 - 1000)}, "spec": {"taints": taints or []},
            "status": {"conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": iso(since)}]}}


OOS = [{"key": "node.kubernetes.io/out-of-service", "value": "nodeshutdown", "effect": "NoExecute"}]


def test_orphaned_nodes() -> None:
    pods = [pod("a", "node-1"), pod("b", "gone"), pod("c"), pod("d", "gone")]
    assert orphaned_nodes(pods, {"node-1": {}}) == {"gone"}


@pytest.mark.parametrize("p,nodes,now,want", [
    (pod("running", "n"), {"n": node("n", "Unknown")}, T0 + 9999, False),                  # not terminating
    (pod("unscheduled", deleting_at=T0), {}, T0, True),
    (pod("ready-node", "n", deleting_at=T0), {"n": node("n")}, T0 + 9999, False),        # the agent finishes it
    (pod("oos", "n", deleting_at=T0 + 30), {"n": node("n", "False", since=T0, taints=OOS)}, T0 + 1, True),
    (pod("oos-but-ready", "n", deleting_at=T0), {"n": node("n", taints=OOS)}, T0 + 1, False),
    (pod("down-long", "n", deleting_at=T0 + 30), {"n": node("n", "Unknown", since=T0)}, T0 + 300, True),
    (pod("down-short", "n", deleting_at=T0 + 30), {"n": node("n", "Unknown", since=T0)}, T0 + 299, False),
    (pod("grace-left", "n", deleting_at=T0 + 400), {"n": node("n", "Unknown", since=T0)}, T0 + 350, False),
    (pod("orphan", "gone", deleting_at=T0), {}, T0 + 9999, False),                         # quarantine path
], ids=lambda v: v["metadata"]["name"] if isinstance(v, dict) and "metadata" in v else None)
def test_terminating_to_delete(p, nodes, now, want) -> None:
    got = terminating_to_delete([p], nodes, now, 300.0)
    assert (got == [p]) is want


def test_terminated_beyond_threshold_oldest_first() -> None:
    pods = [pod(f"p{i}", "n", phase="Succeeded", created=T0 + i) for i in range(5)] + [pod("live", "n")]
    assert [p["metadata"]["name"] for p in terminated_to_delete(pods, 3)] == ["p0", "p1"]
    assert terminated_to_delete(pods, 5) == [] and terminated_to_delete(pods, 0) == []


def test_failed_status() -> None:
    cond = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
            "message": "PodGC: node no longer exists"}
    p = pod("x", "gone")
    p["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    assert failed_status(p, cond, "NOW") == {"status": {"phase": "Failed", "conditions": [
        {"type": "Ready", "status": "False"}, {**cond, "lastProbeTime": None, "lastTransitionTime": "NOW"}]}}
    assert failed_status(p, None, "NOW") == {"status": {"phase": "Failed"}}
    assert failed_status(pod("done", phase="Succeeded"), cond, "NOW") is None


# --------------------------------------------------------------------------- in process

async def bind(client: LocalClient, name: str, node_name: str) -> None:
    await client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                         "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
    await client.bind_pod("default", name, node_name)


async def test_orphans_and_stuck_terminating_pods_are_removed(tmp_path):
    store = SQLiteStore(os.path.join(tmp_path, "store.db"))
    registry = Registry(store)
    await bootstrap(registry)
    client = LocalClient(registry, "test")
    informers = Informers(LocalClient(registry, "informers"))
    gc = PodGC(LocalClient(registry, "pod-garbage-collector"), informers, period=0.05, quarantine=0.3,
               terminating_timeout=0.5)
    await client.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "live"},
                         "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    await client.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "dead"},
                         "status": {"conditions": [{"type": "Ready", "status": "Unknown",
                                                    "lastTransitionTime": iso(time.time())}]}})
    await bind(client, "orphan", "vanished")
    await bind(client, "kept", "live")
    await bind(client, "stuck", "dead")
    # Graceful delete (1 s): the pod stays Terminating, and the dead node's agent never finishes it.
    await client.delete("v1", "Pod", "default", "stuck", grace_period_seconds=1)
    stuck = await client.get("v1", "Pod", "default", "stuck")
    assert stuck is not None and stuck["metadata"].get("deletionTimestamp")

    seen: list[dict[str, Any]] = []
    informers.get("v1", "Pod").on_change(lambda typ, obj, old: seen.append(obj) if obj["metadata"]["name"] ==
                                         "orphan" else None)
    tasks = [asyncio.create_task(informers.run()), asyncio.create_task(gc.run())]
    try:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await until(lambda: _gone(client, "orphan"), what="orphan removed")
        assert loop.time() - t0 >= 0.3                          # not before the quarantine
        last = seen[-1]
        assert last["status"]["phase"] == "Failed"
        cond = next(c for c in last["status"]["conditions"] if c["type"] == "DisruptionTarget")
        assert (cond["status"], cond["reason"], cond["message"]) == ("True", "DeletionByPodGC",
                                                                     "PodGC: node no longer exists")
        await until(lambda: _gone(client, "stuck"), what="stuck terminating pod removed")
        assert await client.get("v1", "Pod", "default", "kept") is not None
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await store.close()


async def _gone(client: LocalClient, name: str) -> bool:
    return await client.get("v1", "Pod", "default", name) is None
