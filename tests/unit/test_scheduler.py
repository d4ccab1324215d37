"""The scheduler in process over a real SQLite-backed registry, with the PV controller.

Each test starts the informers, the PV controller and the scheduler (no HTTP), creates
what a user or the node agent would, and waits (bounded) for what Kubernetes would show.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from typing import Any

import pytest
from inproc import until

from orlop import drivers
from orlop.client import LocalClient
from orlop.controllers.base import Informers
from orlop.controllers.pv.controller import PVController
from orlop.drivers.localpath import LOCAL_PATH_PROVISIONER, LocalPathDriver
from orlop.registry.core import Registry
from orlop.scheduler import Scheduler
from orlop.store.sqlite import SQLiteStore
from orlop.up import bootstrap

NOT_HELPFUL = "Preemption is not helpful for scheduling"


class Cluster:
    def __init__(self, tmp: str):
        self.store = SQLiteStore(os.path.join(tmp, "store.db"))
        self.registry = Registry(self.store)
        self.client = LocalClient(self.registry, "test")
        self.volumes_dir = os.path.join(tmp, "volumes")
        self.tasks: list[asyncio.Task[Any]] = []
        self.scheduler: Scheduler | None = None

    async def setup(self) -> None:
        drivers.register(LocalPathDriver(self.volumes_dir, node_name="node-1"))
        await bootstrap(self.registry, default_class=True)

    async def start(self, pv_controller: bool = True) -> None:
        informers = Informers(LocalClient(self.registry, "informers"))
        ctrls: list[Any] = []
        if pv_controller:
            ctrls.append(PVController(LocalClient(self.registry, "persistentvolume-controller"), informers))
        self.scheduler = Scheduler(LocalClient(self.registry, "default-scheduler"), informers,
                                   initial_backoff=0.05, max_backoff=0.2)
        ctrls.append(self.scheduler)
        self.tasks = [asyncio.create_task(informers.run())] + [asyncio.create_task(c.run()) for c in ctrls]

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.store.close()

    async def pod(self, name: str) -> dict[str, Any] | None:
        return await self.client.get("v1", "Pod", "default", name)

    async def bound_to(self, name: str) -> str | None:
        p = await self.pod(name)
        return ((p or {}).get("spec") or {}).get("nodeName")

    async def events(self, name: str, reason: str) -> list[dict[str, Any]]:
        evs, _ = await self.client.list("v1", "Event", "default")
        return [e for e in evs if e["involvedObject"]["name"] == name and e["reason"] == reason]


@pytest.fixture
async def cluster(tmp_path):
    c = Cluster(str(tmp_path))
    await c.setup()
    yield c
    await c.stop()


def node(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "message": "kubelet is posting ready status"}]}}


def pvc(name: str, cls: str | None = None, modes: tuple[str, ...] = ("ReadWriteOnce",)) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": list(modes), "resources": {"requests": {"storage": "1Gi"}}}
    if cls is not None:
        spec["storageClassName"] = cls
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def pod(name: str, *claims: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "nginx"}],
                     "volumes": [{"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}}
                                 for i, c in enumerate(claims)]}}


WFFC_CLASS = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "local-wffc"},
              "provisioner": LOCAL_PATH_PROVISIONER, "reclaimPolicy": "Delete",
              "volumeBindingMode": "WaitForFirstConsumer"}


def scheduled_condition(p: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in (p.get("status") or {}).get("conditions") or [] if c["type"] == "PodScheduled"), None)


async def test_wffc_claim_gets_selected_node_is_provisioned_there_and_pod_bound(cluster):
    await cluster.start()
    for n in ("node-1", "node-2"):
        await cluster.client.create(node(n))
    await cluster.client.create(WFFC_CLASS)
    await cluster.client.create(pvc("www-web-0", "local-wffc"))
    await cluster.client.create(pod("web-0", "www-web-0"))
    assert await until(lambda: cluster.bound_to("web-0"), what="pod bound") == "node-1"
    claim = await cluster.client.get("v1", "PersistentVolumeClaim", "default", "www-web-0")
    assert claim["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == "node-1"
    assert claim["status"]["phase"] == "Bound"
    volume = await cluster.client.get("v1", "PersistentVolume", None, claim["spec"]["volumeName"])
    assert volume["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] \
        == ["node-1"]
    p = await cluster.pod("web-0")
    assert scheduled_condition(p)["status"] == "True"
    evs = await until(lambda: cluster.events("web-0", "Scheduled"), what="Scheduled event")
    assert evs[0]["message"] == "Successfully assigned default/web-0 to node-1"
    assert evs[0]["source"]["component"] == "default-scheduler" and evs[0]["type"] == "Normal"


async def test_missing_claim_fails_then_schedules_once_the_claim_is_bound(cluster):
    await cluster.start()
    for n in ("node-1", "node-2"):
        await cluster.client.create(node(n))

    async def both_nodes_seen() -> bool:       # the message counts the nodes the scheduler knows
        return len(cluster.scheduler.node_informer.cache) == 2
    await until(both_nodes_seen, what="the scheduler to see both nodes")
    await cluster.client.create(pod("web-0", "www-web-0"))
    want = ('0/2 nodes are available: persistentvolumeclaim "www-web-0" not found. '
            f"preemption: 0/2 nodes are available: 2 {NOT_HELPFUL}.")
    evs = await until(lambda: cluster.events("web-0", "FailedScheduling"), what="FailedScheduling")
    assert evs[0]["message"] == want and evs[0]["type"] == "Warning"
    assert evs[0]["source"]["component"] == "default-scheduler"

    async def unschedulable() -> dict[str, Any] | None:
        cond = scheduled_condition(await cluster.pod("web-0") or {})
        return cond if cond and cond["status"] == "False" else None
    cond = await until(unschedulable, what="PodScheduled False")
    assert (cond["reason"], cond["message"]) == ("Unschedulable", want)
    assert await cluster.bound_to("web-0") is None
    # The claim appears (default class, Immediate: provisioned on node-1, the driver's node).
    await cluster.client.create(pvc("www-web-0"))
    assert await until(lambda: cluster.bound_to("web-0"), what="pod bound") == "node-1"
    assert scheduled_condition(await cluster.pod("web-0"))["status"] == "True"


async def test_static_local_volume_is_prebound_and_pins_the_pod(cluster):
    await cluster.start()
    for n in ("node-1", "node-2"):
        await cluster.client.create(node(n))
    await cluster.client.create({**WFFC_CLASS, "metadata": {"name": "local"},
                                 "provisioner": "kubernetes.io/no-provisioner"})
    await cluster.client.create({
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "disk-2"},
        "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "local",
                 "persistentVolumeReclaimPolicy": "Retain", "local": {"path": "/mnt/disk"},
                 "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                     {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-2"]}]}]}}}})
    await cluster.client.create(pvc("data", "local"))
    await cluster.client.create(pod("db", "data"))
    assert await until(lambda: cluster.bound_to("db"), what="pod bound") == "node-2"
    claim = await cluster.client.get("v1", "PersistentVolumeClaim", "default", "data")
    assert claim["spec"]["volumeName"] == "disk-2" and claim["status"]["phase"] == "Bound"
    assert "volume.kubernetes.io/selected-node" not in (claim["metadata"].get("annotations") or {})


async def test_read_write_once_pod_admits_one_pod(cluster):
    await cluster.start()
    await cluster.client.create(node("node-1"))
    await cluster.client.create(pvc("solo", modes=("ReadWriteOncePod",)))
    await cluster.client.create(pod("first", "solo"))
    await cluster.client.create(pod("second", "solo"))

    async def one_bound() -> tuple[str, str] | None:
        a, b = await cluster.bound_to("first"), await cluster.bound_to("second")
        if a and b:
            raise AssertionError("both pods bound to one ReadWriteOncePod claim")
        return ("first", "second") if a else ("second", "first") if b else None
    winner, loser = await until(one_bound, what="one pod bound")
    want = ("0/1 nodes are available: 1 node(s) unavailable due to PersistentVolumeClaim with ReadWriteOncePod "
            "access mode already in-use by another pod. preemption: 0/1 nodes are available: "
            "1 No preemption victims found for incoming pod.")

    async def refused() -> bool:
        return any(e["message"] == want for e in await cluster.events(loser, "FailedScheduling"))
    await until(refused, what="ReadWriteOncePod refusal")
    assert await cluster.bound_to(loser) is None
    # The first pod goes away: the second is retried at once (not at the periodic retry).
    await cluster.client.delete("v1", "Pod", "default", winner, grace_period_seconds=0)
    assert await until(lambda: cluster.bound_to(loser), what="second pod bound") == "node-1"


async def test_500_pods_scheduled_across_3_nodes(cluster, capsys):
    for n in ("node-1", "node-2", "node-3"):
        await cluster.client.create(node(n))
    for i in range(500):
        await cluster.client.create(pod(f"p-{i:03d}"))
    await cluster.start(pv_controller=False)
    t0 = time.perf_counter()

    async def all_bound() -> Counter[str] | None:
        pods, _ = await cluster.client.list("v1", "Pod", "default")
        nodes = Counter((p["spec"].get("nodeName") or "") for p in pods)
        return nodes if "" not in nodes and sum(nodes.values()) == 500 else None
    spread = await until(all_bound, timeout=30, what="500 pods bound")
    elapsed = time.perf_counter() - t0
    with capsys.disabled():
        print(f"\n500 pods scheduled and bound across 3 nodes in {elapsed:.2f}s")
    assert sorted(spread.values()) == [166, 167, 167]
    sched = cluster.scheduler
    assert sched is not None

    async def confirmed() -> bool:
        # An assumed pod is confirmed when the scheduler's informer sees its binding: a list can be
        # a few events ahead of that watch (the store commits, then hands the events to watchers).
        return not sched.assumed
    await until(confirmed, timeout=10, what="the scheduler's informer to see every binding")
    assert sum(sched.node_counts.values()) == 500


async def test_provisioner_giving_up_sends_the_pod_back_to_scheduling(cluster):
    await cluster.start()
    await cluster.client.create(node("node-1"))
    await cluster.client.create({**WFFC_CLASS, "metadata": {"name": "external"},
                                 "provisioner": "example.com/external"})
    await cluster.client.create(pvc("data", "external"))
    await cluster.client.create(pod("app", "data"))

    async def selected() -> str | None:
        c = await cluster.client.get("v1", "PersistentVolumeClaim", "default", "data")
        return (c["metadata"].get("annotations") or {}).get("volume.kubernetes.io/selected-node")
    assert await until(selected, what="selected-node") == "node-1"
    assert await cluster.bound_to("app") is None           # waits for the claim to be Bound
    # The external provisioner gives up: it removes the annotation (Kubernetes' signal to reschedule).
    await cluster.client.merge_patch("v1", "PersistentVolumeClaim", "default", "data",
                                     {"metadata": {"annotations": {"volume.kubernetes.io/selected-node": None}}})
    want = 'running PreBind plugin "VolumeBinding": binding volumes: provisioning failed for PVC "data"'

    async def reported() -> bool:
        return any(e["message"] == want for e in await cluster.events("app", "FailedScheduling"))
    await until(reported, what="PreBind failure reported")
    assert await until(selected, what="selected-node set again") == "node-1"
    cond = scheduled_condition(await cluster.pod("app"))
    assert cond is not None and (cond["status"], cond["reason"]) == ("False", "SchedulerError")
