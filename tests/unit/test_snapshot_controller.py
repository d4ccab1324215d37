"""The snapshot and snapshot-schedule controllers in process, over a real SQLite registry.

Every controller of ``orlop up`` runs (PV binder and provisioner included), plus the two
snapshot controllers, with a fake in-process driver that records what it is asked to do
and can be made to fail or stall; the tests make the objects a user would and wait
(bounded) for what Kubernetes would show.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest
from inproc import until

from orlop import drivers
from orlop.client import LocalClient
from orlop.controllers.base import Informers
from orlop.controllers.snapshot import SnapshotController
from orlop.controllers.snapshot import decide as sd
from orlop.controllers.snapshotschedule import SnapshotScheduleController
from orlop.drivers import ProvisionRequest, ProvisionResult, Retryable
from orlop.quantity import parse_quantity
from orlop.registry.core import Registry
from orlop.store.sqlite import SQLiteStore
from orlop.up import bootstrap, start_controllers

DRV = "fake.orlop.io"
VS_API = "snapshot.storage.k8s.io/v1"
GiB = 2 ** 30


class FakeDriver:
    """An in-memory backend: volumes and snapshots by name, every call recorded."""

    def __init__(self) -> None:
        self.name = DRV
        self.requests: list[ProvisionRequest] = []
        self.snapshots: dict[str, tuple[str, int]] = {}      # handle -> (volume handle, size)
        self.snapshot_calls: list[str] = []
        self.deleted_snapshots: list[str] = []
        self.fail_snapshots = 0
        self.gate: asyncio.Event | None = None

    async def provision(self, req: ProvisionRequest) -> ProvisionResult:
        self.requests.append(req)
        return ProvisionResult(source={"csi": {"driver": DRV, "volumeHandle": f"pool/{req.volume_name}"}},
                               node_affinity=None, capacity_bytes=req.size_bytes)

    async def delete(self, pv: dict[str, Any]) -> None:
        pass

    async def expand(self, pv: dict[str, Any], new_size_bytes: int) -> int:
        return new_size_bytes

    async def recycle(self, pv: dict[str, Any]) -> None:
        pass

    async def snapshot(self, pv: dict[str, Any], snapshot_name: str) -> tuple[str, int, int]:
        self.snapshot_calls.append(snapshot_name)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_snapshots:
            self.fail_snapshots -= 1
            raise Retryable("IOError", "write /images/x: input/output error")
        handle = f"pool/snapshots/{snapshot_name}"
        size = int(parse_quantity(pv["spec"]["capacity"]["storage"]))
        self.snapshots.setdefault(handle, (pv["spec"]["csi"]["volumeHandle"], size))
        return handle, size, time.time_ns()

    async def delete_snapshot(self, snapshot_handle: str) -> None:
        self.deleted_snapshots.append(snapshot_handle)
        self.snapshots.pop(snapshot_handle, None)


class Cluster:
    def __init__(self, tmp: str):
        self.store = SQLiteStore(os.path.join(tmp, "store.db"))
        self.registry = Registry(self.store)
        self.client = LocalClient(self.registry, "test")
        self.driver = FakeDriver()
        self.tasks: list[asyncio.Task[Any]] = []
        self.snapshot_tasks: list[asyncio.Task[Any]] = []

    async def start(self) -> None:
        drivers.register(self.driver)
        await bootstrap(self.registry, default_class=True)
        self.tasks = start_controllers(self.registry)
        await self.start_snapshot_controllers()
        await self.client.create({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                                  "metadata": {"name": "fake"}, "provisioner": DRV})

    async def start_snapshot_controllers(self) -> None:
        informers = Informers(LocalClient(self.registry, "informers"))
        ctrls = [SnapshotController(LocalClient(self.registry, "snapshot-controller"), informers),
                 SnapshotScheduleController(LocalClient(self.registry, "snapshot-schedule-controller"), informers)]
        self.snapshot_tasks = [asyncio.create_task(informers.run())] + [asyncio.create_task(c.run()) for c in ctrls]

    async def crash_snapshot_controllers(self) -> None:
        for t in self.snapshot_tasks:
            t.cancel()
        await asyncio.gather(*self.snapshot_tasks, return_exceptions=True)

    async def stop(self) -> None:
        await self.crash_snapshot_controllers()
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        drivers.unregister(DRV)
        await self.store.close()

    async def vs(self, name: str, ns: str = "default") -> dict[str, Any] | None:
        return await self.client.get(VS_API, "VolumeSnapshot", ns, name)

    async def content(self, name: str) -> dict[str, Any] | None:
        return await self.client.get(VS_API, "VolumeSnapshotContent", None, name)

    async def claim(self, name: str) -> dict[str, Any] | None:
        return await self.client.get("v1", "PersistentVolumeClaim", "default", name)

    async def events(self, name: str) -> list[tuple[str, str]]:
        evs, _ = await self.client.list("v1", "Event", "default")
        return [(e["reason"], e["message"]) for e in evs if e["involvedObject"]["name"] == name]

    async def ready(self, name: str) -> dict[str, Any] | None:
        obj = await self.vs(name)
        return obj if obj is not None and (obj.get("status") or {}).get("readyToUse") is True else None

    async def bound_claim(self, name: str, size: str = "1Gi", **spec: Any) -> dict[str, Any]:
        await self.client.create(pvc(name, size, **spec))

        async def bound() -> dict[str, Any] | None:
            c = await self.claim(name)
            return c if c is not None and (c.get("status") or {}).get("phase") == "Bound" else None
        return await until(bound, what=f"claim {name} Bound")


def pvc(name: str, size: str = "1Gi", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": "default"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "fake",
                     "resources": {"requests": {"storage": size}}, **spec}}


def vsclass(name: str = "fake-snap", policy: str = "Delete", default: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if default:
        meta["annotations"] = {sd.ANN_DEFAULT_CLASS: "true"}
    return {"apiVersion": VS_API, "kind": "VolumeSnapshotClass", "metadata": meta, "driver": DRV,
            "deletionPolicy": policy}


def snapshot(name: str, claim: str | None = "data", cls: str | None = "fake-snap",
             content: str | None = None) -> dict[str, Any]:
    source = {"volumeSnapshotContentName": content} if content else {"persistentVolumeClaimName": claim}
    spec: dict[str, Any] = {"source": source}
    if cls:
        spec["volumeSnapshotClassName"] = cls
    return {"apiVersion": VS_API, "kind": "VolumeSnapshot", "metadata": {"name": name, "namespace": "default"},
            "spec": spec}


def from_snapshot(name: str) -> dict[str, Any]:
    return {"dataSource": {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": name}}


@pytest.fixture
async def cluster(tmp_path):
    c = Cluster(str(tmp_path))
    await c.start()
    yield c
    await c.stop()


async def test_dynamic_snapshot_binds_both_ways_and_becomes_ready(cluster: Cluster) -> None:
    await cluster.client.create(vsclass())
    await cluster.bound_claim("data")
    await cluster.client.create(snapshot("snap1"))
    vs = await until(lambda: cluster.ready("snap1"), what="snapshot ready")
    uid = vs["metadata"]["uid"]
    content = await cluster.content(f"snapcontent-{uid}")
    assert content is not None
    assert vs["status"]["boundVolumeSnapshotContentName"] == f"snapcontent-{uid}"
    assert vs["status"]["restoreSize"] == "1Gi" and vs["status"]["creationTime"].endswith("Z")
    assert "error" not in vs["status"]
    assert content["spec"]["volumeSnapshotRef"]["uid"] == uid
    assert content["spec"]["deletionPolicy"] == "Delete" and content["spec"]["driver"] == DRV
    assert content["status"]["snapshotHandle"] == f"pool/snapshots/snapshot-{uid}"
    assert content["status"]["restoreSize"] == GiB and content["status"]["readyToUse"] is True
    assert sd.ANN_BEING_CREATED not in (content["metadata"].get("annotations") or {})
    assert content["metadata"]["finalizers"] == [sd.FIN_CONTENT]
    await until(lambda: _has_fins(cluster.vs("snap1"), [sd.FIN_AS_SOURCE, sd.FIN_BOUND]), what="snapshot finalizers")
    assert cluster.driver.snapshot_calls == [f"snapshot-{uid}"]

    async def released() -> bool:
        claim = await cluster.claim("data")
        return claim is not None and sd.FIN_PVC not in (claim["metadata"].get("finalizers") or [])
    await until(released, what="claim protection released once ready")

    async def three_events() -> list[str] | None:
        # An event is written after the change it reports: the last one may trail the status.
        reasons = [r for r, _ in await cluster.events("snap1")]
        return reasons if len(reasons) >= 3 else None
    reasons = await until(three_events, what="the snapshot's events")
    assert reasons == ["CreatingSnapshot", "SnapshotCreated", "SnapshotReady"]
    assert ("SnapshotReady", "Snapshot default/snap1 is ready to use.") in await cluster.events("snap1")


async def _has_fins(obj_coro: Any, fins: list[str]) -> bool:
    obj = await obj_coro
    return obj is not None and sorted(obj["metadata"].get("finalizers") or []) == sorted(fins)


async def test_default_class_is_filled_in(cluster: Cluster) -> None:
    await cluster.client.create(vsclass("fake-default", default=True))
    await cluster.bound_claim("data")
    await cluster.client.create(snapshot("snap1", cls=None))
    vs = await until(lambda: cluster.ready("snap1"), what="snapshot ready")
    assert vs["spec"]["volumeSnapshotClassName"] == "fake-default"


async def test_restore_and_clone_pass_their_sources_to_the_driver(cluster: Cluster) -> None:
    await cluster.client.create(vsclass())
    await cluster.bound_claim("data")
    await cluster.client.create(snapshot("snap1"))
    vs = await until(lambda: cluster.ready("snap1"), what="snapshot ready")
    await cluster.bound_claim("restored", "2Gi", **from_snapshot("snap1"))
    req = next(r for r in cluster.driver.requests if r.claim["metadata"]["name"] == "restored")
    assert req.source_snapshot_handle == f"pool/snapshots/snapshot-{vs['metadata']['uid']}"
    assert req.source_volume is None and req.size_bytes == 2 * GiB
    source = await cluster.claim("data")
    assert source is not None
    await cluster.bound_claim("cloned", "1Gi", dataSource={"kind": "PersistentVolumeClaim", "name": "data"})
    req = next(r for r in cluster.driver.requests if r.claim["metadata"]["name"] == "cloned")
    assert req.source_volume is not None and req.source_volume["metadata"]["name"] == source["spec"]["volumeName"]
    assert req.source_snapshot_handle is None


async def test_restore_refusals(cluster: Cluster) -> None:
    await cluster.client.create(vsclass())
    await cluster.bound_claim("data", "2Gi")
    cluster.driver.gate = asyncio.Event()          # the snapshot is slow: not ready yet
    await cluster.client.create(snapshot("snap1"))
    await cluster.client.create(pvc("early", "2Gi", **from_snapshot("snap1")))
    await until(lambda: _event_with(cluster, "early", "is not Ready"), what="not-ready refusal")
    events = dict(await cluster.events("early"))
    assert events["ProvisioningFailed"] == ('failed to provision volume with StorageClass "fake": error getting '
                                            'handle for DataSource Type VolumeSnapshot by Name snap1: snapshot snap1 '
                                            'is not Ready')
    cluster.driver.gate.set()
    await until(lambda: cluster.ready("snap1"), what="snapshot ready")
    await cluster.client.create(pvc("small", "1Gi", **from_snapshot("snap1")))
    await until(lambda: _event_with(cluster, "small", "is less than the size"), what="too-small refusal")
    assert ("ProvisioningFailed", 'failed to provision volume with StorageClass "fake": error getting handle for '
            'DataSource Type VolumeSnapshot by Name snap1: requested volume size 1073741824 is less than the size '
            '2147483648 for the source snapshot snap1') in await cluster.events("small")
    small = await cluster.claim("small")
    assert small is not None and small["status"]["phase"] == "Pending"

    async def early_bound() -> bool:
        c = await cluster.claim("early")
        return c is not None and c["status"]["phase"] == "Bound"
    await until(early_bound, timeout=20, what="restore once the snapshot is ready")


async def _event_with(cluster: Cluster, name: str, text: str) -> bool:
    return any(text in m for _, m in await cluster.events(name))


async def test_delete_policy_removes_content_and_physical_snapshot(cluster: Cluster) -> None:
    await cluster.client.create(vsclass())
    await cluster.bound_claim("data")
    await cluster.client.create(snapshot("snap1"))
    vs = await until(lambda: cluster.ready("snap1"), what="snapshot ready")
    await until(lambda: _has_fins(cluster.vs("snap1"), [sd.FIN_AS_SOURCE, sd.FIN_BOUND]), what="finalizers")
    name = f"snapcontent-{vs['metadata']['uid']}"
    await cluster.client.delete(VS_API, "VolumeSnapshot", "default", "snap1")

    async def gone() -> bool:
        return await cluster.vs("snap1") is None and await cluster.content(name) is None
    await until(gone, what="snapshot and content gone")
    assert cluster.driver.deleted_snapshots == [f"pool/snapshots/snapshot-{vs['metadata']['uid']}"]
    assert cluster.driver.snapshots == {}


async def test_retain_policy_keeps_content_and_physical_snapshot(cluster: Cluster) -> None:
    await cluster.client.create(vsclass(policy="Retain"))
    await cluster.bound_claim("data")
    await cluster.client.create(snapshot("snap1"))
    vs = await until(lambda: cluster.ready("snap1"), what="snapshot ready")
    await cluster.client.delete(VS_API, "VolumeSnapshot", "default", "snap1")

    async def vs_gone() -> bool:
        return await cluster.vs("snap1") is None
    await until(vs_gone, what="snapshot gone")
    content = await cluster.content(f"snapcontent-{vs['metadata']['uid']}")
    assert content is not None and content["status"]["readyToUse"] is True
    assert (content["metadata"].get("annotations") or {}).get(sd.ANN_BEING_DELETED) == "yes"
    assert cluster.driver.deleted_snapshots == [] and len(cluster.driver.snapshots) == 1


async def test_failed_snapshot_reports_then_recovers(cluster: Cluster) -> None:
    await cluster.client.create(vsclass())
    await cluster.bound_claim("data")
    cluster.driver.fail_snapshots = 1
    await cluster.client.create(snapshot("snap1"))

    async def errored() -> dict[str, Any] | None:
        vs = await cluster.vs("snap1")
        return vs if vs is not None and (vs.get("status") or {}).get("error") else None
    vs = await until(errored, what="snapshot error")
    assert "input/output error" in vs["status"]["error"]["message"]
    assert vs["status"]["readyToUse"] is False
    vs = await until(lambda: cluster.ready("snap1"), what="snapshot ready after a retry")
    assert "error" not in vs["status"]
    content_events = await cluster.events(f"snapcontent-{vs['metadata']['uid']}")
    assert content_events[0][0] == "SnapshotCreationFailed"
    assert content_events[0][1].startswith("Failed to create snapshot: failed to take snapshot of the volume pool/")


async def test_crash_during_snapshot_leaves_nothing_twice(cluster: Cluster) -> None:
    await cluster.client.create(vsclass())
    await cluster.bound_claim("data")
    cluster.driver.gate = asyncio.Event()                 # the driver call never returns...
    await cluster.client.create(snapshot("snap1"))
    await until(lambda: _called(cluster), what="driver called")
    vs = await cluster.vs("snap1")
    assert vs is not None
    content = await cluster.content(f"snapcontent-{vs['metadata']['uid']}")
    assert content is not None and content["metadata"]["annotations"][sd.ANN_BEING_CREATED] == "yes"
    await cluster.crash_snapshot_controllers()            # ...the controller dies mid-call
    cluster.driver.gate.set()
    await cluster.start_snapshot_controllers()            # and starts again
    vs = await until(lambda: cluster.ready("snap1"), what="snapshot ready after restart")
    assert len(cluster.driver.snapshots) == 1
    assert set(cluster.driver.snapshot_calls) == {f"snapshot-{vs['metadata']['uid']}"}
    contents, _ = await cluster.client.list(VS_API, "VolumeSnapshotContent")
    assert [c["metadata"]["name"] for c in contents] == [f"snapcontent-{vs['metadata']['uid']}"]


async def _called(cluster: Cluster) -> bool:
    return bool(cluster.driver.snapshot_calls)


async def test_pre_provisioned_snapshot_binds_and_restores(cluster: Cluster) -> None:
    await cluster.client.create({
        "apiVersion": VS_API, "kind": "VolumeSnapshotContent", "metadata": {"name": "imported"},
        "spec": {"deletionPolicy": "Retain", "driver": DRV, "source": {"snapshotHandle": "pool/snapshots/old"},
                 "volumeSnapshotRef": {"name": "imported-snap", "namespace": "default"}}})
    await cluster.client.create(snapshot("imported-snap", content="imported", cls=None))
    vs = await until(lambda: cluster.ready("imported-snap"), what="pre-provisioned snapshot ready")
    assert vs["status"]["boundVolumeSnapshotContentName"] == "imported"
    content = await cluster.content("imported")
    assert content is not None and content["spec"]["volumeSnapshotRef"]["uid"] == vs["metadata"]["uid"]
    await cluster.bound_claim("restored", **from_snapshot("imported-snap"))
    req = next(r for r in cluster.driver.requests if r.claim["metadata"]["name"] == "restored")
    assert req.source_snapshot_handle == "pool/snapshots/old"


async def test_snapshot_kept_while_a_claim_restores_from_it(cluster: Cluster) -> None:
    await cluster.client.create(vsclass())
    await cluster.bound_claim("data", "2Gi")
    await cluster.client.create(snapshot("snap1"))
    await until(lambda: cluster.ready("snap1"), what="snapshot ready")
    await cluster.client.create(pvc("small", "1Gi", **from_snapshot("snap1")))     # stays Pending (too small)
    await cluster.client.delete(VS_API, "VolumeSnapshot", "default", "snap1")
    await until(lambda: _event_with(cluster, "snap1", "being used to restore"), what="SnapshotDeletePending")
    assert await cluster.vs("snap1") is not None
    await cluster.client.delete("v1", "PersistentVolumeClaim", "default", "small")

    async def vs_gone() -> bool:
        return await cluster.vs("snap1") is None
    await until(vs_gone, timeout=20, what="snapshot deleted once no claim restores from it")


async def test_schedule_takes_and_prunes(cluster: Cluster) -> None:
    await cluster.client.create(vsclass(default=True))
    await cluster.bound_claim("data")
    await cluster.client.create({
        "apiVersion": "orlop.io/v1alpha1", "kind": "SnapshotSchedule", "metadata": {"name": "often",
                                                                                   "namespace": "default"},
        "spec": {"claimNames": ["data"], "interval": "1s", "keep": 2}})

    async def listed() -> list[dict[str, Any]]:
        items, _ = await cluster.client.list(VS_API, "VolumeSnapshot", "default",
                                             label_selector="orlop.io/snapshot-schedule=often")
        return items
    created: set[str] = set()

    async def enough() -> bool:
        created.update(s["metadata"]["name"] for s in await listed())
        return len(created) >= 4
    await until(enough, timeout=15, what="four scheduled snapshots")

    async def pruned() -> bool:
        live = [s for s in await listed() if not s["metadata"].get("deletionTimestamp")]
        return len(live) <= 2
    await until(pruned, what="pruned to keep")
    sched = await cluster.client.get("orlop.io/v1alpha1", "SnapshotSchedule", "default", "often")
    assert sched is not None
    st = sched["status"]
    assert st["lastRun"] and st["nextRun"] >= st["lastRun"]
    assert st["claims"][0]["name"] == "data" and st["claims"][0]["lastSnapshot"].startswith("often-data-")

    async def a_ready_one() -> dict[str, Any] | None:
        return next((s for s in await listed() if (s.get("status") or {}).get("readyToUse")), None)
    snap = await until(a_ready_one, what="a scheduled snapshot ready")
    assert snap["metadata"]["ownerReferences"][0]["uid"] == sched["metadata"]["uid"]
    assert snap["spec"] == {"source": {"persistentVolumeClaimName": "data"}, "volumeSnapshotClassName": "fake-snap"}
    reasons = {r for r, _ in await cluster.events("often")}
    assert {"SuccessfulCreate", "SuccessfulDelete"} <= reasons
