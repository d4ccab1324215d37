"""The storage controllers running in process over a real SQLite store and real directories.

Each test starts the registry and every controller of ``orlop up`` (no HTTP), makes the
objects a user would, and waits (bounded) for what Kubernetes would show.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from inproc import until

from orlop import drivers
from orlop.client import LocalClient
from orlop.drivers import ProvisionRequest
from orlop.drivers.localpath import LocalPathDriver
from orlop.registry.core import Registry
from orlop.store.sqlite import SQLiteStore
from orlop.up import DEFAULT_CLASS, bootstrap, start_controllers


class Cluster:
    def __init__(self, tmp: str):
        self.tmp = tmp
        self.volumes_dir = os.path.join(tmp, "volumes")
        self.store = SQLiteStore(os.path.join(tmp, "store.db"))
        self.registry = Registry(self.store)
        self.client = LocalClient(self.registry, "test")
        self.tasks: list[asyncio.Task[Any]] = []

    async def start(self) -> None:
        drivers.register(LocalPathDriver(self.volumes_dir, node_name="node-1"))
        await bootstrap(self.registry, default_class=True)
        self.tasks = start_controllers(self.registry)

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.store.close()

    async def get(self, kind: str, name: str, ns: str | None = "default") -> dict[str, Any] | None:
        api = "storage.k8s.io/v1" if kind == "StorageClass" else "v1"
        return await self.client.get(api, kind, None if kind in ("PersistentVolume", "StorageClass") else ns, name)

    async def phase(self, kind: str, name: str) -> str | None:
        obj = await self.get(kind, name)
        return None if obj is None else (obj.get("status") or {}).get("phase")


@pytest.fixture
async def cluster(tmp_path):
    c = Cluster(str(tmp_path))
    await c.start()
    yield c
    await c.stop()


def pv(name: str, size: str, cls: str = "manual", policy: str = "Retain", path: str = "/tmp/orlop-test") -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"storageClassName": cls, "capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": policy, "hostPath": {"path": path}}}


def pvc(name: str, size: str, cls: str | None = "manual") -> dict:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if cls is not None:
        spec["storageClassName"] = cls
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": "default"},
            "spec": spec}


async def test_seed000_static_binding_smallest_fit(cluster):
    for name, size in (("pv-1gi", "1Gi"), ("task-pv-volume", "10Gi"), ("pv-20gi", "20Gi")):
        await cluster.client.create(pv(name, size))
    await cluster.client.create(pvc("task-pv-claim", "3Gi"))
    await until(lambda: cluster.phase("PersistentVolumeClaim", "task-pv-claim"), what="claim phase")
    claim = await until(lambda: _bound(cluster, "task-pv-claim"), what="Bound")
    assert claim["spec"]["volumeName"] == "task-pv-volume"
    assert claim["status"]["capacity"] == {"storage": "10Gi"}
    assert claim["metadata"]["annotations"] == {"pv.kubernetes.io/bind-completed": "yes",
                                                "pv.kubernetes.io/bound-by-controller": "yes"}
    vol = await cluster.get("PersistentVolume", "task-pv-volume")
    assert vol["status"]["phase"] == "Bound" and vol["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"]
    # The volume nobody took goes Available (after at most FRESH_GRACE while claims of its class are pending).
    async def available() -> bool:
        return await cluster.phase("PersistentVolume", "pv-1gi") == "Available"
    await until(available, what="pv-1gi Available")


async def _bound(cluster: Cluster, name: str) -> dict[str, Any] | None:
    claim = await cluster.get("PersistentVolumeClaim", name)
    return claim if claim and (claim.get("status") or {}).get("phase") == "Bound" else None


async def test_dynamic_provisioning_and_delete_reclaim_on_disk(cluster):
    await cluster.client.create(pvc("data", "1Gi", cls=None))       # default class local-path
    claim = await until(lambda: _bound(cluster, "data"), what="provisioned claim Bound")
    assert claim["spec"]["storageClassName"] == DEFAULT_CLASS["metadata"]["name"]
    vol = await cluster.get("PersistentVolume", claim["spec"]["volumeName"])
    path = vol["spec"]["hostPath"]["path"]
    assert vol["metadata"]["name"] == f"pvc-{claim['metadata']['uid']}" and os.path.isdir(path)
    assert vol["metadata"]["finalizers"] == ["kubernetes.io/pv-controller", "kubernetes.io/pv-protection"] or \
        set(vol["metadata"]["finalizers"]) == {"kubernetes.io/pv-controller", "kubernetes.io/pv-protection"}
    await cluster.client.delete("v1", "PersistentVolumeClaim", "default", "data")
    await until(lambda: _gone(cluster, "PersistentVolume", vol["metadata"]["name"]), what="PV deleted")
    assert not os.path.exists(path)
    assert await cluster.client.intents() == {}


async def _gone(cluster: Cluster, kind: str, name: str) -> bool:
    return await cluster.get(kind, name) is None


async def test_retain_keeps_data_and_admin_makes_it_available_again(cluster):
    await cluster.client.create({**DEFAULT_CLASS, "metadata": {"name": "keep"}, "reclaimPolicy": "Retain"})
    await cluster.client.create(pvc("kept", "1Gi", cls="keep"))
    claim = await until(lambda: _bound(cluster, "kept"), what="Bound")
    name = claim["spec"]["volumeName"]
    path = (await cluster.get("PersistentVolume", name))["spec"]["hostPath"]["path"]
    with open(os.path.join(path, "f"), "w") as f:
        f.write("data")
    await cluster.client.delete("v1", "PersistentVolumeClaim", "default", "kept")
    await until(lambda: _phase_is(cluster, name, "Released"), what="Released")
    assert open(os.path.join(path, "f")).read() == "data"
    vol = await cluster.get("PersistentVolume", name)
    del vol["spec"]["claimRef"]
    await cluster.client.update(vol)
    await until(lambda: _phase_is(cluster, name, "Available"), what="Available again")


async def _phase_is(cluster: Cluster, name: str, phase: str) -> bool:
    return await cluster.phase("PersistentVolume", name) == phase


async def test_recycle_scrubs_hostpath_and_makes_volume_available(cluster, tmp_path):
    root = tmp_path / "tmp-like"
    os.makedirs(root / "sub")
    (root / "a.txt").write_text("x")
    (root / ".hidden").write_text("y")
    await cluster.client.create(pv("recycled", "1Gi", policy="Recycle", path=str(root)))
    await cluster.client.create(pvc("user", "1Gi"))
    await until(lambda: _bound(cluster, "user"), what="Bound")
    await cluster.client.delete("v1", "PersistentVolumeClaim", "default", "user")
    await until(lambda: _phase_is(cluster, "recycled", "Available"), what="recycled volume Available")
    assert os.path.isdir(root) and os.listdir(root) == []
    vol = await cluster.get("PersistentVolume", "recycled")
    assert "claimRef" not in vol["spec"]


async def test_6_5_recycle_with_no_recycler_fails_the_volume_once(cluster):
    """6-5: a Recycle volume no plugin can recycle (a ``local`` source) is Failed, with one event."""
    vol = pv("unrecyclable", "1Gi", policy="Recycle")
    del vol["spec"]["hostPath"]
    vol["spec"]["local"] = {"path": "/tmp/orlop-test"}
    vol["spec"]["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-1"]}]}]}}
    await cluster.client.create(vol)
    await cluster.client.create(pvc("user", "1Gi"))
    await until(lambda: _bound(cluster, "user"), what="Bound")
    await cluster.client.delete("v1", "PersistentVolumeClaim", "default", "user")
    await until(lambda: _phase_is(cluster, "unrecyclable", "Failed"), what="Failed")
    got = await cluster.get("PersistentVolume", "unrecyclable")
    assert got["status"]["message"] == "No recycler plugin found for the volume!"

    async def events() -> list[dict[str, Any]]:
        items, _ = await cluster.client.list("v1", "Event", "default")
        return [e for e in items if e["involvedObject"]["name"] == "unrecyclable"]
    # (The controller records its events after the writes of the same decision.)
    mine = await until(events, what="the volume's event")
    assert [(e["reason"], e.get("count", 1)) for e in mine] == [("VolumeFailedRecycle", 1)]


def pod(name: str, claim: str, node: str = "", phase: str = "") -> dict[str, Any]:
    """A Pod naming the claim; ``node``: already scheduled there (no agent runs in these tests)."""
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}],
                            "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim}}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


async def _pv_events(cluster: Cluster, name: str) -> list[tuple[str, str, str]]:
    items, _ = await cluster.client.list("v1", "Event", "default")
    return [(e["type"], e["reason"], e["message"]) for e in items if e["involvedObject"]["name"] == name]


async def test_6_11_and_6_14_recycle_waits_for_pods_of_the_claim_unless_a_new_claim_has_its_name(cluster, tmp_path):
    """6-11: a pod that has not terminated names the released claim: no recycling, a Normal
    VolumeFailedRecycle naming it as namespace/name.  6-14: once a claim of that name exists
    again (a new claim, bound elsewhere), those pods are its pods: the volume is recycled."""
    root = tmp_path / "rec"
    os.makedirs(root)
    (root / "old").write_text("x")
    await cluster.client.create(pv("rp", "1Gi", policy="Recycle", path=str(root)))
    await cluster.client.create(pvc("c", "1Gi"))
    await until(lambda: _bound(cluster, "c"), what="Bound")
    await cluster.client.create(pod("u", "c"))                  # not scheduled (no node here)
    await cluster.client.delete("v1", "PersistentVolumeClaim", "default", "c")
    await until(lambda: _gone(cluster, "PersistentVolumeClaim", "c"), what="claim gone (an unscheduled pod holds none)")
    events = await until(lambda: _pv_events(cluster, "rp"), what="an event about rp")
    assert events == [("Normal", "VolumeFailedRecycle", "Volume is used by pods: default/u")]
    assert os.listdir(root) == ["old"] and await cluster.phase("PersistentVolume", "rp") == "Released"
    await cluster.client.create(pv("other", "1Gi", path=str(tmp_path / "other")))
    await cluster.client.create(pvc("c", "1Gi"))
    await until(lambda: _phase_is(cluster, "rp", "Available"), what="recycled", timeout=30)
    assert os.listdir(root) == []
    assert (await cluster.get("PersistentVolumeClaim", "c"))["spec"].get("volumeName") == "other"


async def test_6_5_recycle_that_fails_leaves_the_volume_failed_with_why(cluster, tmp_path):
    """recycleVolumeOperation: the recycler's error marks the volume Failed with its message."""
    path = tmp_path / "a-file"
    path.write_text("not a directory")
    await cluster.client.create(pv("bad", "1Gi", policy="Recycle", path=str(path)))
    await cluster.client.create(pvc("c", "1Gi"))
    await until(lambda: _bound(cluster, "c"), what="Bound")
    await cluster.client.delete("v1", "PersistentVolumeClaim", "default", "c")
    await until(lambda: _phase_is(cluster, "bad", "Failed"), what="Failed")
    vol = await cluster.get("PersistentVolume", "bad")
    assert vol["status"]["message"].startswith("Recycle failed: ") and "not a directory" in vol["status"]["message"]
    events = await until(lambda: _pv_events(cluster, "bad"), what="the volume's event")     # (after the write)
    assert [(t, r) for t, r, _ in events] == [("Warning", "VolumeFailedRecycle")]
    assert path.read_text() == "not a directory"


async def test_8_10_a_volume_of_an_external_provisioner_is_left_to_its_deleter(cluster, tmp_path):
    """findDeletablePlugin: provisioned-by names a provisioner orlop does not run (not kubernetes.io/):
    nothing is deleted, no event, the volume stays Released (even though its source is a hostPath
    orlop could remove)."""
    root = tmp_path / "ext"
    os.makedirs(root)
    vol = pv("ext", "1Gi", policy="Delete", path=str(root))
    vol["metadata"]["annotations"] = {drivers.ANN_PROVISIONED_BY: "example.com/nope"}
    await cluster.client.create(vol)
    await cluster.client.create(pvc("c", "1Gi"))
    await until(lambda: _bound(cluster, "c"), what="Bound")
    await cluster.client.delete("v1", "PersistentVolumeClaim", "default", "c")
    await until(lambda: _phase_is(cluster, "ext", "Released"), what="Released")
    await asyncio.sleep(1.0)
    assert await cluster.phase("PersistentVolume", "ext") == "Released" and os.path.isdir(root)
    assert await _pv_events(cluster, "ext") == []


async def test_8_x_a_static_volume_no_plugin_deletes_fails_with_kubernetes_message(cluster):
    vol = pv("static-nfs", "1Gi", policy="Delete")
    del vol["spec"]["hostPath"]
    vol["spec"]["nfs"] = {"server": "127.0.0.1", "path": "/exports"}
    await cluster.client.create(vol)
    await cluster.client.create(pvc("c", "1Gi"))
    await until(lambda: _bound(cluster, "c"), what="Bound")
    await cluster.client.delete("v1", "PersistentVolumeClaim", "default", "c")
    await until(lambda: _phase_is(cluster, "static-nfs", "Failed"), what="Failed")
    message = 'error getting deleter volume plugin for volume "static-nfs": no deletable volume plugin matched'
    assert (await cluster.get("PersistentVolume", "static-nfs"))["status"]["message"] == message
    events = await until(lambda: _pv_events(cluster, "static-nfs"), what="the volume's event")  # (after the write)
    assert events == [("Warning", "VolumeFailedDelete", message)]


@pytest.mark.parametrize("phase", ["Succeeded", "Running"])
async def test_a_scheduled_pod_in_any_phase_keeps_its_claim_until_the_pod_is_deleted(cluster, phase):
    """podUsesPVC: a scheduled pod holds the claim whatever its phase (a Completed Job's pod too)."""
    await cluster.client.create(pvc("held", "1Gi", cls=None))
    await until(lambda: _bound(cluster, "held"), what="Bound")
    created = await cluster.client.create(pod("user", "held", node="node-1"))
    created["status"] = {"phase": phase}
    await cluster.client.update(created, subresource="status")
    await cluster.client.delete("v1", "PersistentVolumeClaim", "default", "held")
    await asyncio.sleep(1.0)
    claim = await cluster.get("PersistentVolumeClaim", "held")
    assert claim is not None and claim["metadata"].get("deletionTimestamp")
    await cluster.client.delete("v1", "Pod", "default", "user", grace_period_seconds=0)
    await until(lambda: _gone(cluster, "PersistentVolumeClaim", "held"), what="claim gone with its pod")


class RefusingDeleter:
    """A backend whose delete fails (not retryably) until told otherwise: a fault a real backend
    gives when, say, the credentials it needs are gone for a while."""

    name = "test.orlop.io/refusing"

    def __init__(self) -> None:
        self.refuse, self.deleted = True, []

    async def delete(self, pv: dict[str, Any]) -> None:
        if self.refuse:
            raise drivers.DriverError("Refused", "the backend refuses for now")
        self.deleted.append(pv["metadata"]["name"])


async def test_a_failed_deletion_is_retried_at_resync_as_kubernetes_does(cluster, monkeypatch):
    """reclaimVolume runs for Failed volumes too: a volume whose deletion failed is Failed (one
    event), and deleted at a later resync once the backend lets it."""
    from orlop.controllers.pv import controller as pv_controller
    backend = RefusingDeleter()
    drivers.register(backend)  # type: ignore[arg-type]
    try:
        vol = pv("retried", "1Gi", policy="Delete")
        vol["metadata"]["annotations"] = {drivers.ANN_PROVISIONED_BY: backend.name}
        await cluster.client.create(vol)
        await cluster.client.create(pvc("user", "1Gi"))
        await until(lambda: _bound(cluster, "user"), what="Bound")
        await cluster.client.delete("v1", "PersistentVolumeClaim", "default", "user")
        await until(lambda: _phase_is(cluster, "retried", "Failed"), what="Failed")
        assert (await cluster.get("PersistentVolume", "retried"))["status"]["message"] == "the backend refuses for now"
        backend.refuse = False
        monkeypatch.setattr(pv_controller, "RESYNC", 0.2)     # the running resync loop reads it each round
        await until(lambda: _gone(cluster, "PersistentVolume", "retried"), what="deleted at a resync", timeout=30)
        assert backend.deleted == ["retried"]
        events, _ = await cluster.client.list("v1", "Event", "default")
        assert [e["reason"] for e in events if e["involvedObject"]["name"] == "retried"] == ["VolumeFailedDelete"]
    finally:
        drivers.unregister(backend.name)


async def test_deleting_a_bound_pv_first_still_deletes_the_backend(cluster):
    await cluster.client.create(pvc("first", "1Gi", cls=None))
    claim = await until(lambda: _bound(cluster, "first"), what="Bound")
    name = claim["spec"]["volumeName"]
    path = (await cluster.get("PersistentVolume", name))["spec"]["hostPath"]["path"]
    await cluster.client.delete("v1", "PersistentVolume", None, name)
    await asyncio.sleep(0.5)
    vol = await cluster.get("PersistentVolume", name)
    assert vol is not None and vol["metadata"].get("deletionTimestamp") and os.path.isdir(path)
    await cluster.client.delete("v1", "PersistentVolumeClaim", "default", "first")
    await until(lambda: _gone(cluster, "PersistentVolume", name), what="PV gone")
    assert not os.path.exists(path)


async def test_expansion_grows_pv_and_claim(cluster):
    await cluster.client.create(pvc("grow", "1Gi", cls=None))
    claim = await until(lambda: _bound(cluster, "grow"), what="Bound")
    claim["spec"]["resources"]["requests"]["storage"] = "2Gi"
    await cluster.client.update(claim)

    async def grown() -> bool:
        c = await cluster.get("PersistentVolumeClaim", "grow")
        return c["status"].get("capacity", {}).get("storage") == "2Gi" and not c["status"].get("conditions")
    await until(grown, what="claim capacity 2Gi")
    vol = await cluster.get("PersistentVolume", claim["spec"]["volumeName"])
    assert vol["spec"]["capacity"]["storage"] == "2Gi"
    done = await cluster.get("PersistentVolumeClaim", "grow")
    # MarkResizeFinished (Kubernetes 1.32): the resize status goes, the allocated size stays.
    assert "allocatedResourceStatuses" not in done["status"]
    assert done["status"]["allocatedResources"] == {"storage": "2Gi"}
    assert done["metadata"]["annotations"]["volume.kubernetes.io/storage-resizer"] == "orlop.io/local-path"
    # (The event is recorded after the status write that finishes the resize, as Kubernetes does.)
    await until(lambda: _events(cluster, "grow"), what="the resize event")
    assert await _events(cluster, "grow") == [("Normal", "VolumeResizeSuccessful",
                                              "ExpandVolume succeeded for volume default/grow")]


async def _events(cluster: Cluster, name: str) -> list[tuple[str, str, str]]:
    """The claim's events but the binder's and provisioner's (a class the controller has not seen
    yet can give a ProvisioningFailed before the claim binds)."""
    items, _ = await cluster.client.list("v1", "Event", "default")
    return [(e["type"], e["reason"], e["message"]) for e in items
            if e["involvedObject"]["name"] == name and not e["reason"].startswith("Provisioning")]


async def test_growing_a_volume_no_driver_here_can_grow_waits_for_an_external_controller(cluster):
    """hostPath is not among kube-controller-manager's expandable plugins: one ExternalExpanding
    event, nothing written to the claim, no retries."""
    await cluster.client.create({**DEFAULT_CLASS, "metadata": {"name": "manual"}, "allowVolumeExpansion": True,
                                 "provisioner": "kubernetes.io/no-provisioner"})
    await cluster.client.create(pv("task-pv-volume", "10Gi"))
    await cluster.client.create(pvc("task-pv-claim", "3Gi"))
    claim = await until(lambda: _bound(cluster, "task-pv-claim"), what="Bound")
    claim["spec"]["resources"]["requests"]["storage"] = "30Gi"
    await cluster.client.update(claim)
    await until(lambda: _events(cluster, "task-pv-claim"), what="an event")
    await asyncio.sleep(1.5)            # (time for retries, were there any)
    assert await _events(cluster, "task-pv-claim") == [
        ("Warning", "ExternalExpanding", "waiting for an external controller to expand this PVC")]
    after = await cluster.get("PersistentVolumeClaim", "task-pv-claim")
    assert after["status"] == {**claim["status"]}
    assert (await cluster.get("PersistentVolume", "task-pv-volume"))["spec"]["capacity"] == {"storage": "10Gi"}


async def test_expansion_refused_for_good_waits_for_a_new_request_then_recovers(cluster):
    """A backend that cannot grow the volume (its directory is gone): VolumeResizeFailed and
    ControllerResizeInfeasible, no retries at that size; lowering the request (still above
    the capacity, as Kubernetes 1.32 allows) grows it to the new size once the backend can."""
    await cluster.client.create(pvc("lost", "1Gi", cls=None))
    claim = await until(lambda: _bound(cluster, "lost"), what="Bound")
    vol = await cluster.get("PersistentVolume", claim["spec"]["volumeName"])
    path = (vol["spec"].get("local") or vol["spec"].get("hostPath"))["path"]
    os.rename(path, path + ".away")
    claim["spec"]["resources"]["requests"]["storage"] = "3Gi"
    await cluster.client.update(claim)

    async def infeasible() -> dict[str, Any] | None:
        c = await cluster.get("PersistentVolumeClaim", "lost")
        return c if (c["status"].get("allocatedResourceStatuses") or {}).get("storage") == \
            "ControllerResizeInfeasible" else None
    c = await until(infeasible, what="ControllerResizeInfeasible")
    assert c["status"]["allocatedResources"] == {"storage": "3Gi"} and c["status"]["capacity"] == {"storage": "1Gi"}
    await asyncio.sleep(1.5)
    assert (await cluster.get("PersistentVolumeClaim", "lost"))["metadata"]["resourceVersion"] == \
        c["metadata"]["resourceVersion"]                # nothing tried again at 3Gi
    assert await _events(cluster, "lost") == [
        ("Warning", "VolumeResizeFailed",
         f"error expanding pvc default/lost: cannot expand volume: directory {path} does not exist")]
    os.rename(path + ".away", path)
    c["spec"]["resources"]["requests"]["storage"] = "2Gi"
    await cluster.client.update(c)

    async def grown() -> dict[str, Any] | None:
        got = await cluster.get("PersistentVolumeClaim", "lost")
        return got if got["status"]["capacity"] == {"storage": "2Gi"} else None
    done = await until(grown, what="capacity 2Gi")
    assert "allocatedResourceStatuses" not in done["status"] and not done["status"].get("conditions")
    assert (await cluster.get("PersistentVolume", vol["metadata"]["name"]))["spec"]["capacity"] == {"storage": "2Gi"}


async def test_interrupted_provisioning_is_finished_or_undone(tmp_path):
    """A crash after the backend volume was made but before its PV: the next start finishes it
    (claim still there) or removes the volume (claim gone) — nothing is orphaned."""
    c = Cluster(str(tmp_path))
    drv = LocalPathDriver(c.volumes_dir, node_name="node-1")
    drivers.register(drv)
    await bootstrap(c.registry, default_class=True)
    cls = await c.get("StorageClass", "local-path")
    kept = await c.client.create(pvc("kept", "1Gi", cls="local-path"))
    gone = await c.client.create(pvc("gone", "1Gi", cls="local-path"))
    made = {}
    for claim in (kept, gone):   # what _provision did before the "crash"
        name = f"pvc-{claim['metadata']['uid']}"
        await c.client.put_intent(name, {"claim": claim, "class": cls, "provisioner": "orlop.io/local-path"})
        result = await drv.provision(ProvisionRequest(claim=claim, storage_class=cls, volume_name=name,
                                                      size_bytes=1 << 30))
        made[claim["metadata"]["name"]] = result.source["hostPath"]["path"]
    gone["metadata"]["finalizers"] = []
    await c.client.update(gone)
    await c.client.delete("v1", "PersistentVolumeClaim", "default", "gone")
    assert await c.get("PersistentVolumeClaim", "gone") is None
    c.tasks = start_controllers(c.registry)        # the restart
    try:
        claim = await until(lambda: _bound(c, "kept"), what="interrupted claim Bound")
        vol = await c.get("PersistentVolume", claim["spec"]["volumeName"])
        assert vol["spec"]["hostPath"]["path"] == made["kept"]    # the same directory, reused
        await until(lambda: _not_exists(made["gone"]), what="orphan removed")
        await until(lambda: _no_intents(c), what="intents cleared")
    finally:
        await c.stop()


async def _not_exists(path: str) -> bool:
    return not os.path.exists(path)


async def _no_intents(c: Cluster) -> bool:
    return await c.client.intents() == {}


async def test_pending_claim_event_says_why_each_volume_did_not_fit(cluster):
    await cluster.client.create(pv("small", "1Gi"))
    await cluster.client.create(pv("slow", "5Gi", cls="slow"))
    for name in ("small", "slow"):
        await until(lambda name=name: _phase_is(cluster, name, "Available"), what="volumes Available")
    await cluster.client.create(pvc("big", "3Gi", cls=""))

    async def event() -> str | None:
        items, _ = await cluster.client.list("v1", "Event", "default")
        msgs = [e["message"] for e in items if e["involvedObject"]["name"] == "big" and e["reason"] == "FailedBinding"]
        return msgs[0] if msgs else None
    msg = await until(event, what="FailedBinding event")
    assert msg.startswith("no persistent volumes available for this claim and no storage class is set")
    assert 'slow: storageClassName "slow" != ""' in msg and "small" in msg


# --- a new volume a claim takes goes from Pending to Bound in one write ------------------------------------

class WatchLog:
    """Every version of one object a watch sees, in order: ``seen`` (type, object), ``phases``."""

    def __init__(self, cluster: Cluster, kind: str, name: str, namespace: str | None = None):
        self.cluster, self.kind, self.name, self.namespace = cluster, kind, name, namespace
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.task: asyncio.Task[None] | None = None

    @property
    def phases(self) -> list[str | None]:
        return [(o.get("status") or {}).get("phase") for _, o in self.seen]

    async def __aenter__(self) -> WatchLog:
        _, rv = await self.cluster.client.list("v1", self.kind, self.namespace)

        async def run() -> None:
            async for ev in self.cluster.client.watch("v1", self.kind, self.namespace, resource_version=rv):
                if ev.object["metadata"]["name"] == self.name:
                    self.seen.append((ev.type, ev.object))
        self.task = asyncio.create_task(run())
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)



def _shape(vol: dict[str, Any]) -> Any:
    """What must not depend on the path a binding took: everything but names, uids, times and versions."""
    return ([(e["manager"], e["operation"], e.get("subresource"), e["fieldsV1"])
             for e in vol["metadata"]["managedFields"]],
            sorted(vol["metadata"]["annotations"].items()), sorted(vol["status"]), vol["status"]["phase"],
            vol["metadata"].get("generation"), sorted(vol["spec"]["claimRef"]))


async def test_new_volume_taken_by_a_claim_skips_the_available_write(cluster):
    # The Kubernetes way first: the volume is made Available, then the claim binds it.
    await cluster.client.create(pv("first-pv", "1Gi"))
    await until(lambda: _phase_is(cluster, "first-pv", "Available"), what="first-pv Available")
    await cluster.client.create(pvc("first", "1Gi"))
    await until(lambda: _bound(cluster, "first"), what="first Bound")
    # Claim and volume together: the claim takes the new volume at once.
    async with WatchLog(cluster, "PersistentVolume", "second-pv") as log:
        await cluster.client.create(pvc("second", "1Gi"))
        await cluster.client.create(pv("second-pv", "1Gi"))
        claim = await until(lambda: _bound(cluster, "second"), what="second Bound")
        await until(lambda: _phase_is(cluster, "second-pv", "Bound"), what="second-pv Bound")
        await asyncio.sleep(0.1)
    assert log.phases == ["Pending", "Bound"]
    assert claim["spec"]["volumeName"] == "second-pv"
    first = await cluster.get("PersistentVolume", "first-pv")
    second = await cluster.get("PersistentVolume", "second-pv")
    assert _shape(second) == _shape(first)      # the same object as "syncVolume, then syncClaim" leaves
    assert second["status"] == {"phase": "Bound", "lastPhaseTransitionTime": second["status"]["lastPhaseTransitionTime"]}


async def test_waiting_claim_takes_a_new_volume_directly(cluster):
    await cluster.client.create(pvc("early", "1Gi"))

    async def provisioning_failed() -> bool:
        items, _ = await cluster.client.list("v1", "Event", "default")
        return any(e["involvedObject"]["name"] == "early" and e["reason"] == "ProvisioningFailed" for e in items)
    await until(provisioning_failed, what="claim waits (no volume, no class)")
    async with WatchLog(cluster, "PersistentVolume", "late-pv") as log:
        await cluster.client.create(pv("late-pv", "1Gi"))
        await until(lambda: _bound(cluster, "early"), what="early Bound")
        await until(lambda: _phase_is(cluster, "late-pv", "Bound"), what="late-pv Bound")
        await asyncio.sleep(0.1)
    assert log.phases == ["Pending", "Bound"]


async def test_volume_with_no_claim_in_sight_is_available_at_once(cluster):
    from orlop.controllers.pv.controller import FRESH_GRACE
    start = asyncio.get_running_loop().time()
    await cluster.client.create(pv("lonely", "1Gi"))
    await until(lambda: _phase_is(cluster, "lonely", "Available"), timeout=FRESH_GRACE * 0.75, what="Available")
    assert asyncio.get_running_loop().time() - start < FRESH_GRACE * 0.75


async def test_new_volume_no_claim_can_take_is_available_soon(cluster):
    from orlop.controllers.pv.controller import FRESH_GRACE
    async with WatchLog(cluster, "PersistentVolume", "small") as log:
        await cluster.client.create(pvc("big", "5Gi"))
        await cluster.client.create(pv("small", "1Gi"))
        await until(lambda: _phase_is(cluster, "small", "Available"), timeout=FRESH_GRACE + 2, what="Available")
    assert log.phases[-1] == "Available" and "Bound" not in log.phases
    assert await cluster.phase("PersistentVolumeClaim", "big") == "Pending"



PROVISIONER_ANNOTATIONS = ("volume.kubernetes.io/storage-provisioner", "volume.beta.kubernetes.io/storage-provisioner")


async def test_provisioned_claim_gets_its_provisioner_annotations_with_the_bind_write(cluster):
    """setClaimProvisioner's write is folded into the bind: created, then one write to Bound that
    carries both annotation forms -- the claim Kubernetes leaves, one write fewer."""
    async with WatchLog(cluster, "PersistentVolumeClaim", "quick", "default") as log:
        await cluster.client.create(pvc("quick", "1Gi", cls=None))
        claim = await until(lambda: _bound(cluster, "quick"), what="quick Bound")
        await asyncio.sleep(0.1)
    anns = claim["metadata"]["annotations"]
    assert {a: anns.get(a) for a in PROVISIONER_ANNOTATIONS} == dict.fromkeys(PROVISIONER_ANNOTATIONS,
                                                                             "orlop.io/local-path")
    assert anns["pv.kubernetes.io/bind-completed"] == "yes" and anns["pv.kubernetes.io/bound-by-controller"] == "yes"
    assert [t for t, _ in log.seen] == ["ADDED", "MODIFIED"]
    assert (log.seen[1][1].get("status") or {}).get("phase") == "Bound"


class SlowDriver:
    """A provisioner that takes its time (and can be told to fail)."""

    name = "example.com/slow"

    def __init__(self, delay: float, fail: bool = False):
        self.delay, self.fail = delay, fail

    async def provision(self, req: ProvisionRequest) -> Any:
        from orlop.drivers import DriverError, ProvisionResult
        await asyncio.sleep(self.delay)
        if self.fail:
            raise DriverError("NoSpace", "out of space")
        return ProvisionResult({"hostPath": {"path": f"/tmp/orlop-slow/{req.volume_name}"}}, None, req.size_bytes)

    async def delete(self, pv: dict[str, Any]) -> None:
        return None


async def _provisioner_annotations(cluster: Cluster, name: str) -> dict[str, str] | None:
    claim = await cluster.get("PersistentVolumeClaim", name)
    anns = (claim or {}).get("metadata", {}).get("annotations") or {}
    got = {a: anns[a] for a in PROVISIONER_ANNOTATIONS if a in anns}
    return got if len(got) == 2 else None


@pytest.mark.parametrize("fail", [False, True])
async def test_claim_waiting_for_slow_or_failing_provisioning_shows_its_provisioner(cluster, monkeypatch, fail):
    """While provisioning takes long, or after it failed, the Pending claim carries the
    annotations, as Kubernetes writes them before it provisions."""
    from orlop.controllers.pv import controller
    monkeypatch.setattr(controller, "ANNOTATE_AFTER", 0.1)
    drivers.register(SlowDriver(delay=0.05 if fail else 1.5, fail=fail))
    try:
        await cluster.client.create({**DEFAULT_CLASS, "metadata": {"name": "slow"}, "provisioner": "example.com/slow"})
        await cluster.client.create(pvc("waits", "1Gi", cls="slow"))
        anns = await until(lambda: _provisioner_annotations(cluster, "waits"), what="provisioner annotations")
        assert anns == dict.fromkeys(PROVISIONER_ANNOTATIONS, "example.com/slow")
        assert await cluster.phase("PersistentVolumeClaim", "waits") == "Pending"
        if fail:
            async def failed() -> bool:
                items, _ = await cluster.client.list("v1", "Event", "default")
                return any(e["involvedObject"]["name"] == "waits" and e["reason"] == "ProvisioningFailed"
                           for e in items)
            await until(failed, what="ProvisioningFailed")
        else:
            await until(lambda: _bound(cluster, "waits"), what="slow claim Bound")
    finally:
        drivers.unregister("example.com/slow")


async def test_claim_of_an_external_provisioner_waits_for_it_and_binds_what_it_makes(cluster):
    """findProvisionablePlugin: a provisioner orlop does not run and not named kubernetes.io/...
    is external: the claim gets its annotations and a Normal ExternalProvisioning event, never
    ProvisioningFailed; the PV the external provisioner creates, pre-bound, binds it."""
    await cluster.client.create({**DEFAULT_CLASS, "metadata": {"name": "ext"}, "provisioner": "example.com/ext"})
    await asyncio.sleep(0.3)        # (the controller's class informer sees it: no "not found" first)
    claim = await cluster.client.create(pvc("extclaim", "1Gi", cls="ext"))
    anns = await until(lambda: _provisioner_annotations(cluster, "extclaim"), what="provisioner annotations")
    assert anns == dict.fromkeys(PROVISIONER_ANNOTATIONS, "example.com/ext")

    async def reasons() -> list[tuple[str, str, str]] | None:
        items, _ = await cluster.client.list("v1", "Event", "default")
        got = [(e["type"], e["reason"], e["message"]) for e in items if e["involvedObject"]["name"] == "extclaim"]
        return got or None
    events = await until(reasons, what="an event about the claim")
    assert events == [("Normal", "ExternalProvisioning",
                       "Waiting for a volume to be created either by the external provisioner 'example.com/ext' "
                       "or manually by the system administrator. If volume creation is delayed, please verify "
                       "that the provisioner is running and correctly registered.")]
    made = pv(f"pvc-{claim['metadata']['uid']}", "1Gi", cls="ext", policy="Delete")
    made["spec"]["claimRef"] = {"kind": "PersistentVolumeClaim", "namespace": "default", "name": "extclaim",
                                "uid": claim["metadata"]["uid"]}
    await cluster.client.create(made)
    bound = await until(lambda: _bound(cluster, "extclaim"), what="Bound to the external provisioner's PV")
    assert bound["spec"]["volumeName"] == made["metadata"]["name"]
    assert not [e for e in await reasons() or [] if e[1] == "ProvisioningFailed"]


async def test_failed_provisioning_lets_the_scheduler_choose_again(cluster):
    """rescheduleProvisioning: a claim the scheduler sent to a node (selected-node) whose
    provisioning fails loses the annotation; the event is the external provisioner library's
    ("failed to ...", as for any provisioner outside kubernetes.io/)."""
    drivers.register(SlowDriver(delay=0.01, fail=True))
    try:
        await cluster.client.create({**DEFAULT_CLASS, "metadata": {"name": "slow"}, "provisioner": "example.com/slow"})
        await asyncio.sleep(0.3)        # (the controller's class informer sees it)
        claim = pvc("placed", "1Gi", cls="slow")
        claim["metadata"]["annotations"] = {"volume.kubernetes.io/selected-node": "node-1"}
        await cluster.client.create(claim)

        async def failed() -> list[str] | None:
            got = [m for t, r, m in await _pv_events(cluster, "placed") if r == "ProvisioningFailed"]
            return got or None
        assert (await until(failed, what="ProvisioningFailed"))[0] == \
            'failed to provision volume with StorageClass "slow": out of space'
        anns = (await cluster.get("PersistentVolumeClaim", "placed"))["metadata"]["annotations"]
        assert "volume.kubernetes.io/selected-node" not in anns
        assert anns["volume.kubernetes.io/storage-provisioner"] == "example.com/slow"
    finally:
        drivers.unregister("example.com/slow")


async def test_held_volumes_are_let_go_after_their_grace_in_the_order_they_were_held(tmp_path, monkeypatch):
    """Volumes held for claims that have yet to try them (``_hold``) each get FRESH_GRACE from
    when they were first held, oldest first -- one timer serves them all."""
    from orlop.client import LocalClient
    from orlop.controllers.base import Informers
    from orlop.controllers.pv import controller as pv_controller
    from orlop.registry.core import Registry
    from orlop.store.sqlite import SQLiteStore
    monkeypatch.setattr(pv_controller, "FRESH_GRACE", 0.3)
    store = SQLiteStore(str(tmp_path / "store.db"))
    try:
        ctl = pv_controller.PVController(LocalClient(Registry(store), "t"), Informers(LocalClient(Registry(store), "t")))
        ctl.unbound["manual"] = {("default", "c1"), ("default", "c2")}      # claims that have not tried yet
        over: list[str] = []
        worker = asyncio.create_task(_record(ctl.volume_queue, lambda name: over.append(name)))
        assert ctl._hold(pv("first", "1Gi")) is True
        await asyncio.sleep(0.1)
        assert ctl._hold(pv("second", "1Gi")) is True
        assert ctl._hold(pv("first", "1Gi")) is True          # (held again: its grace still counts from the first time)
        async def let_go(*names: str) -> bool:
            return over == list(names)
        await until(lambda: let_go("first"), timeout=5, what="first let go")
        assert ctl._hold(pv("first", "1Gi")) is False and ctl._hold(pv("second", "1Gi")) in (True, False)
        await until(lambda: let_go("first", "second"), timeout=5, what="second let go")
        assert ctl._hold(pv("second", "1Gi")) is False
        assert over == ["first", "second"] and ctl._grace_timer is None and not ctl._grace
    finally:
        worker.cancel()
        await store.close()


async def test_held_volumes_wait_while_claims_of_their_class_are_tried_up_to_fresh_max(tmp_path, monkeypatch):
    """A backlog of claims being worked through keeps its class's new volumes held past
    FRESH_GRACE (each would otherwise get an Available write just before a claim binds it):
    they are let go once no claim of the class was tried for FRESH_GRACE, or at FRESH_MAX."""
    from orlop.client import LocalClient
    from orlop.controllers.base import Informers
    from orlop.controllers.pv import controller as pv_controller
    from orlop.registry.core import Registry
    from orlop.store.sqlite import SQLiteStore
    monkeypatch.setattr(pv_controller, "FRESH_GRACE", 0.3)
    monkeypatch.setattr(pv_controller, "FRESH_MAX", 1.2)
    store = SQLiteStore(str(tmp_path / "store.db"))
    loop = asyncio.get_running_loop()
    try:
        ctl = pv_controller.PVController(LocalClient(Registry(store), "t"), Informers(LocalClient(Registry(store), "t")))
        ctl.unbound["manual"] = {("default", f"c{i}") for i in range(5)}     # claims that have not tried yet
        over: list[tuple[str, float]] = []
        worker = asyncio.create_task(_record(ctl.volume_queue, lambda name: over.append((name, loop.time()))))

        async def tried_for(seconds: float) -> None:
            """Claims of the class tried every 50 ms (volumes whose time comes meanwhile are held on)."""
            end = loop.time() + seconds
            while loop.time() < end:
                ctl.tried["manual"] = loop.time()
                for name, _ in over:
                    ctl._hold(pv(name, "1Gi"))
                await asyncio.sleep(0.05)

        start = loop.time()
        assert ctl._hold(pv("busy", "1Gi")) is True
        await tried_for(0.7)                            # (past FRESH_GRACE: held on)
        assert ctl._hold(pv("busy", "1Gi")) is True
        quiet = loop.time()
        await until(lambda: _async(ctl._hold(pv("busy", "1Gi")) is False), timeout=5, what="let go")
        assert 0.2 <= loop.time() - quiet < 0.6         # FRESH_GRACE after the last claim tried

        start = loop.time()
        assert ctl._hold(pv("capped", "1Gi")) is True
        await tried_for(1.6)                            # claims tried all along: FRESH_MAX still lets it go
        assert ctl._hold(pv("capped", "1Gi")) is False
        let_go = [t for name, t in over if name == "capped"]
        assert let_go and 1.15 <= max(let_go) - start < 1.5
    finally:
        worker.cancel()
        await store.close()


async def _record(queue: Any, seen: Any) -> None:
    """The volume worker in these tests: shows what is queued, in order, and takes it off."""
    while True:
        seen(await queue.get())


async def _async(value: bool) -> bool:
    return value


async def test_a_bound_pair_is_not_decided_again_until_one_of_them_changes(tmp_path, monkeypatch):
    """Resyncs of a settled pair find the same inputs as the last sync that had nothing to do
    and skip the decision; a change to either object (here an admin taking the volume's
    claimRef away) is decided again, and the claim binds its volume back as Kubernetes does."""
    from orlop.controllers.base import Informers
    from orlop.controllers.pv import controller as pv_controller
    monkeypatch.setattr(pv_controller, "RESYNC", 0.1)
    cluster = Cluster(str(tmp_path))        # the binder alone, to count its decisions
    await bootstrap(cluster.registry)
    informers = Informers(LocalClient(cluster.registry, "informers"))
    ctl = pv_controller.PVController(LocalClient(cluster.registry, "persistentvolume-controller"), informers)
    cluster.tasks = [asyncio.create_task(informers.run()), asyncio.create_task(ctl.run())]
    try:
        await cluster.client.create(pv("quiet-pv", "1Gi"))
        await cluster.client.create(pvc("quiet", "1Gi"))
        await until(lambda: _bound(cluster, "quiet"), what="Bound")
        await until(lambda: _phase_is(cluster, "quiet-pv", "Bound"), what="PV Bound")
        # (the volume's own sync of its bound state may come just after the API shows it)
        await until(lambda: _async(ctl.claims_decided > 0 and ctl.volumes_decided > 0), what="both decided")
        for _ in range(5):
            # Once the pair has settled (its own writes' events synced), windows of several
            # resyncs of both pass without a decision; without the memo every resync decides.
            before = (ctl.claims_decided, ctl.volumes_decided)
            await asyncio.sleep(0.6)
            if (ctl.claims_decided, ctl.volumes_decided) == before:
                break
        else:
            raise AssertionError(f"decided again at every resync: {before}")
        claims_before = ctl.claims_decided
        vol = await cluster.get("PersistentVolume", "quiet-pv")
        uid = vol["spec"]["claimRef"]["uid"]
        del vol["spec"]["claimRef"]
        await cluster.client.update(vol)

        async def rebound() -> bool:
            got = await cluster.get("PersistentVolume", "quiet-pv")
            return (got["spec"].get("claimRef") or {}).get("uid") == uid and got["status"]["phase"] == "Bound"
        await until(rebound, what="the claim binding its volume again")
        assert ctl.claims_decided > claims_before
    finally:
        await cluster.stop()
