"""The ``orlop.io/image`` driver: real sparse files, real loop devices and mounts where a test needs them.

Every operation is repeated (idempotency), crashes are simulated by leaving what a killed
process leaves (a temp file, an image without a PV), and the driver also runs under the
real controllers (provision -> Bound, expansion -> FileSystemResizePending, Delete).
Loop devices and mounts made here are removed by the fixture, even on failure.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from inproc import until

from orlop import drivers
from orlop.client import LocalClient
from orlop.drivers import DriverError, ProvisionRequest, Retryable
from orlop.drivers.image import CSI_DRIVER, ImageDriver, copy_sparse
from orlop.node import block, mounts
from orlop.node.block import BlockVolumes, ImageVolume
from orlop.registry.core import Registry
from orlop.store.sqlite import SQLiteStore
from orlop.up import bootstrap, start_controllers

MiB = 1 << 20
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="loop devices and mounts need root")


@pytest.fixture
def tmp(tmp_path: Any) -> Any:
    root = str(tmp_path)
    yield root
    if os.geteuid() == 0:
        block.detach_under(root)
        mounts.unmount_all(root)
        assert not [lp for lp in block.list_loops() if lp.backing_file.startswith(root)]


@pytest.fixture
def driver(tmp: str) -> ImageDriver:
    return ImageDriver(os.path.join(tmp, "images"), node_name="node-1")


def request(uid: str = "u1", size: int = 10 * MiB, params: dict[str, str] | None = None, *,
            modes: tuple[str, ...] = ("ReadWriteOnce",), mode: str = "Filesystem", **kw: Any) -> ProvisionRequest:
    claim = {"metadata": {"name": "data", "namespace": "default", "uid": uid},
             "spec": {"accessModes": list(modes), "resources": {"requests": {"storage": str(size)}}}}
    cls = {"metadata": {"name": "image"}, "provisioner": "orlop.io/image", "parameters": params or {}}
    return ProvisionRequest(claim=claim, storage_class=cls, volume_name=f"pvc-{uid}", size_bytes=size,
                            access_modes=list(modes), volume_mode=mode, **kw)


async def provision_pv(driver: ImageDriver, req: ProvisionRequest) -> dict[str, Any]:
    """What the PV controller makes of the driver's result."""
    res = await driver.provision(req)
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": req.volume_name, "annotations": {"pv.kubernetes.io/provisioned-by": driver.name}},
            "spec": {"capacity": {"storage": str(res.capacity_bytes)}, "accessModes": req.access_modes,
                     "volumeMode": req.volume_mode, **res.source}}


def images(driver: ImageDriver, pool: str = "default") -> list[str]:
    d = os.path.join(driver.base_dir, pool)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


# --- provision ------------------------------------------------------------------------------

async def test_provision_makes_one_sparse_image_and_says_where(driver: ImageDriver) -> None:
    res = await driver.provision(request(size=10 * MiB + 1))
    path = os.path.join(driver.base_dir, "default", "pvc-u1.img")
    assert res.source == {"csi": {"driver": CSI_DRIVER, "volumeHandle": "default/pvc-u1", "fsType": "ext4",
                                  "volumeAttributes": {"pool": "default", "image": "pvc-u1.img", "path": path}}}
    assert res.capacity_bytes == 11 * MiB and os.path.getsize(path) == 11 * MiB
    assert os.stat(path).st_blocks == 0                                  # sparse
    assert res.node_affinity == {"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-1"]}]}]}}
    for _ in range(2):
        assert await driver.provision(request(size=10 * MiB + 1)) == res
    assert images(driver) == ["pvc-u1.img"]


@pytest.mark.parametrize("params, mode, modes, want_fs, want_size, attrs", [
    ({"pool": "fast", "fsType": "xfs"}, "Filesystem", ("ReadWriteOnce",), "xfs", 300 * MiB, {}),
    ({"csi.storage.k8s.io/fstype": "xfs", "csi.storage.k8s.io/provisioner-secret-name": "s"}, "Filesystem",
     ("ReadWriteOncePod",), "xfs", 300 * MiB, {}),
    ({"imageFeatures": "layering", "mkfsOptions": "-E nodiscard"}, "Filesystem", ("ReadOnlyMany",), "ext4", 10 * MiB,
     {"imageFeatures": "layering", "mkfsOptions": "-E nodiscard"}),
    ({"fsType": "xfs"}, "Block", ("ReadWriteMany",), None, 10 * MiB, {}),
])
async def test_provision_parameters(driver: ImageDriver, params: dict, mode: str, modes: tuple, want_fs: str | None,
                                    want_size: int, attrs: dict) -> None:
    res = await driver.provision(request(size=10 * MiB, params=params, mode=mode, modes=modes))
    csi = res.source["csi"]
    assert csi.get("fsType") == want_fs and res.capacity_bytes == want_size
    pool = params.get("pool", "default")
    assert csi["volumeAttributes"] == {"pool": pool, "image": "pvc-u1.img",
                                       "path": os.path.join(driver.base_dir, pool, "pvc-u1.img"), **attrs}


@pytest.mark.parametrize("params, modes, reason, message", [
    ({"poool": "x"}, ("ReadWriteOnce",), "InvalidParameter", 'invalid option "poool" for volume plugin orlop.io/image'),
    ({"pool": "../etc"}, ("ReadWriteOnce",), "InvalidParameter", "invalid pool '../etc': must be a plain name"),
    ({"pool": "a/b"}, ("ReadWriteOnce",), "InvalidParameter", "invalid pool 'a/b'"),
    ({"fsType": "btrfs"}, ("ReadWriteOnce",), "InvalidParameter", 'fsType "btrfs" is not supported'),
    ({}, ("ReadWriteMany",), "InvalidAccessMode", "does not support access mode ReadWriteMany for volumeMode "
                                                  "Filesystem"),
])
async def test_provision_refusals(driver: ImageDriver, params: dict, modes: tuple, reason: str, message: str) -> None:
    with pytest.raises(DriverError) as e:
        await driver.provision(request(params=params, modes=modes))
    assert e.value.reason == reason and message in str(e.value)
    assert not isinstance(e.value, Retryable)
    assert not os.path.exists(os.path.join(driver.base_dir, "default", "pvc-u1.img"))


async def test_crash_leftovers_are_reused_never_doubled(driver: ImageDriver) -> None:
    pool = os.path.join(driver.base_dir, "default")
    os.makedirs(pool)
    with open(os.path.join(pool, ".pvc-u1.img.tmp"), "wb") as f:    # killed while making the image
        f.write(b"half" * 1000)
    res = await driver.provision(request())
    assert images(driver) == ["pvc-u1.img"] and res.capacity_bytes == 10 * MiB
    with open(os.path.join(pool, "pvc-u1.img"), "r+b") as f:         # killed after the rename: no PV yet
        f.write(b"formatted")
    assert await driver.provision(request()) == res
    with open(os.path.join(pool, "pvc-u1.img"), "rb") as f:
        assert f.read(9) == b"formatted"
    # Many at once (retries racing): still one image.
    await asyncio.gather(*(driver.provision(request("u2")) for _ in range(8)))
    assert images(driver) == ["pvc-u1.img", "pvc-u2.img"]


# --- delete, expand, recycle -------------------------------------------------------------------

async def test_delete_expand_recycle_are_idempotent(driver: ImageDriver) -> None:
    pv = await provision_pv(driver, request())
    path = pv["spec"]["csi"]["volumeAttributes"]["path"]
    for _ in range(2):
        assert await driver.expand(pv, 20 * MiB + 5) == 21 * MiB
    assert os.path.getsize(path) == 21 * MiB
    assert await driver.expand(pv, 5 * MiB) == 21 * MiB                 # never shrinks
    with open(path, "r+b") as f:
        f.write(b"secret")
    for _ in range(2):
        await driver.recycle(pv)
    assert os.path.getsize(path) == 21 * MiB and os.stat(path).st_blocks == 0
    with open(path, "rb") as f:
        assert f.read(6) == b"\0" * 6
    open(os.path.join(os.path.dirname(path), ".pvc-u1.img.tmp"), "w").close()
    for _ in range(2):
        await driver.delete(pv)
    assert images(driver) == []
    with pytest.raises(DriverError, match="does not exist") as e:
        await driver.expand(pv, 30 * MiB)
    assert e.value.reason == "NotFound"


@pytest.mark.parametrize("csi, message", [
    ({"driver": CSI_DRIVER, "volumeHandle": "../x/pvc-1"}, "invalid pool '..'"),
    ({"driver": CSI_DRIVER, "volumeHandle": "default/pvc-1", "volumeAttributes": {"path": "/etc/passwd"}},
     "refusing to delete /etc/passwd"),
    ({"driver": "rbd.csi.ceph.com", "volumeHandle": "default/pvc-1"}, "it is not an orlop.io/image volume"),
])
async def test_delete_refuses_what_is_not_ours(driver: ImageDriver, csi: dict, message: str) -> None:
    with pytest.raises(DriverError, match=message):
        await driver.delete({"metadata": {"name": "pv"}, "spec": {"csi": csi}})


@root_only
async def test_delete_waits_while_mounted_and_detaches_an_idle_loop(driver: ImageDriver, tmp: str) -> None:
    pv = await provision_pv(driver, request())
    path = pv["spec"]["csi"]["volumeAttributes"]["path"]
    nodes = BlockVolumes(os.path.join(tmp, "node"))
    nodes.stage(ImageVolume(pv["metadata"]["name"], path, "ext4"))
    with pytest.raises(Retryable, match="it is mounted at .*/mounts/pvc-u1") as e:
        await driver.delete(pv)
    assert e.value.reason == "VolumeInUse" and os.path.exists(path)
    nodes.unstage(pv["metadata"]["name"])
    assert block.find_loop(path) is None
    block.attach(path)                                                  # an idle loop device (a crashed agent's)
    await driver.delete(pv)
    assert images(driver) == [] and not [lp for lp in block.list_loops() if lp.backing_file == path]


# --- snapshots, restore, clone ------------------------------------------------------------------

def test_copy_sparse_keeps_holes(tmp: str) -> None:
    src, dst = os.path.join(tmp, "s"), os.path.join(tmp, "d")
    with open(src, "wb") as f:
        f.write(b"head")
        f.seek(200 * MiB)
        f.write(b"tail")
        f.truncate(300 * MiB)
    copy_sparse(src, dst)
    assert os.path.getsize(dst) == 300 * MiB and os.stat(dst).st_blocks * 512 < 4 * MiB
    with open(dst, "rb") as f:
        assert f.read(4) == b"head"
        f.seek(200 * MiB)
        assert f.read(4) == b"tail"


async def test_snapshot_restore_clone(driver: ImageDriver) -> None:
    pv = await provision_pv(driver, request())
    path = pv["spec"]["csi"]["volumeAttributes"]["path"]
    with open(path, "r+b") as f:
        f.write(b"version-1")
    got = await driver.snapshot(pv, "snapshot-s1")
    handle, size, created = got
    assert handle == "default/snapshots/snapshot-s1" and size == 10 * MiB and created > 0
    assert await driver.snapshot(pv, "snapshot-s1") == got                 # repeated: the same snapshot
    with open(path, "r+b") as f:
        f.write(b"version-2")
    snap_file = os.path.join(driver.base_dir, "default", "snapshots", "snapshot-s1.img")
    with open(snap_file, "rb") as f:
        assert f.read(9) == b"version-1"
    # Restore, grown to the request; repeated.
    for _ in range(2):
        res = await driver.provision(request("r1", 20 * MiB, source_snapshot_handle=handle))
    restored = res.source["csi"]["volumeAttributes"]["path"]
    assert res.capacity_bytes == 20 * MiB and os.path.getsize(restored) == 20 * MiB
    with open(restored, "rb") as f:
        assert f.read(9) == b"version-1"
    # Clone of the live volume.
    res = await driver.provision(request("c1", 10 * MiB, source_volume=pv))
    with open(res.source["csi"]["volumeAttributes"]["path"], "rb") as f:
        assert f.read(9) == b"version-2"
    with pytest.raises(DriverError, match="requested volume size 5242880 is less than the size 10485760 of the "
                                          "source snapshot default/snapshots/snapshot-s1") as e:
        await driver.provision(request("r2", 5 * MiB, source_snapshot_handle=handle))
    assert e.value.reason == "InvalidSize"
    with pytest.raises(DriverError, match="snapshot default/snapshots/nope not found") as e:
        await driver.provision(request("r3", source_snapshot_handle="default/snapshots/nope"))
    with pytest.raises(DriverError, match="invalid snapshot handle"):
        await driver.provision(request("r4", source_snapshot_handle="default/../../etc"))
    assert images(driver) == ["pvc-c1.img", "pvc-r1.img", "pvc-u1.img", "snapshots"]
    # The snapshot outlives its volume; deleting it is idempotent.
    await driver.delete(pv)
    assert os.path.exists(snap_file)
    for _ in range(2):
        await driver.delete_snapshot(handle)
    assert not os.path.exists(snap_file)


@root_only
async def test_snapshot_of_a_mounted_volume_is_frozen_and_consistent(driver: ImageDriver, tmp: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    pv = await provision_pv(driver, request(size=300 * MiB, params={"fsType": "xfs"}))
    path = pv["spec"]["csi"]["volumeAttributes"]["path"]
    nodes = BlockVolumes(os.path.join(tmp, "node"))
    staged = nodes.stage(ImageVolume("pvc-u1", path, "xfs"))
    with open(os.path.join(staged.path, "data"), "w") as f:
        f.write("in the page cache only")                               # not synced: the freeze flushes it
    calls: list[list[str]] = []
    real_run = block.run

    def spy(argv: list[str], **kw: Any) -> Any:
        if argv[0] == "fsfreeze":
            calls.append(argv)
        return real_run(argv, **kw)
    monkeypatch.setattr(block, "run", spy)
    handle, _, _ = await driver.snapshot(pv, "snapshot-m1")
    clone = await driver.provision(request("c2", 300 * MiB, source_volume=pv))
    monkeypatch.undo()
    assert calls == [["fsfreeze", "--freeze", staged.path], ["fsfreeze", "--unfreeze", staged.path]] * 2
    with open(os.path.join(staged.path, "after"), "w") as f:          # thawed: writable again
        f.write("x")
    restored = await driver.provision(request("r5", 300 * MiB, source_snapshot_handle=handle))
    for name, res in (("pvc-r5", restored), ("pvc-c2", clone)):
        copy = nodes.stage(ImageVolume(name, res.source["csi"]["volumeAttributes"]["path"], "xfs"))
        assert not copy.formatted                                       # same XFS (same UUID: mounted nouuid)
        with open(os.path.join(copy.path, "data")) as f:
            assert f.read() == "in the page cache only"


# --- under the controllers ------------------------------------------------------------------------

@pytest.fixture
async def cluster(tmp: str) -> Any:
    store = SQLiteStore(os.path.join(tmp, "store.db"))
    registry = Registry(store)
    driver = ImageDriver(os.path.join(tmp, "images"), node_name="node-1")
    drivers.register(driver)
    await bootstrap(registry)
    tasks = start_controllers(registry)
    yield LocalClient(registry, "test"), driver
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    drivers.unregister(driver.name)
    await store.close()


async def test_controllers_provision_expand_and_delete(cluster: Any) -> None:
    client, driver = cluster
    await client.create({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "image"},
                         "provisioner": "orlop.io/image", "allowVolumeExpansion": True, "reclaimPolicy": "Delete",
                         "parameters": {"fsType": "ext4"}})
    await client.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "metadata": {"name": "data", "namespace": "default"},
                         "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "image",
                                  "resources": {"requests": {"storage": "16Mi"}}}})

    async def claim() -> dict:
        return await client.get("v1", "PersistentVolumeClaim", "default", "data")
    c = await until(lambda: _if(claim(), lambda c: c.get("status", {}).get("phase") == "Bound"), what="Bound")
    pv = await client.get("v1", "PersistentVolume", None, c["spec"]["volumeName"])
    path = pv["spec"]["csi"]["volumeAttributes"]["path"]
    assert pv["spec"]["csi"]["driver"] == CSI_DRIVER and os.path.getsize(path) == 16 * MiB
    assert c["status"]["capacity"] == {"storage": "16Mi"}
    c["spec"]["resources"]["requests"]["storage"] = "32Mi"
    await client.update(c)
    c = await until(lambda: _if(claim(), lambda c: any(x["type"] == "FileSystemResizePending"
                                                       for x in c["status"].get("conditions") or [])),
                    what="FileSystemResizePending")
    assert c["status"]["capacity"] == {"storage": "16Mi"}            # until the node grows the filesystem
    assert os.path.getsize(path) == 32 * MiB
    await asyncio.sleep(1.0)                # the claim then rests: no write flips it back to Resizing
    rested = await claim()
    assert rested["metadata"]["resourceVersion"] == c["metadata"]["resourceVersion"]
    # Kubernetes 1.32's MarkForFSResize: FileSystemResizePending beside Resizing, NodeResizePending.
    assert [x["type"] for x in rested["status"]["conditions"]] == ["Resizing", "FileSystemResizePending"]
    assert rested["status"]["allocatedResourceStatuses"] == {"storage": "NodeResizePending"}
    assert rested["status"]["allocatedResources"] == {"storage": "32Mi"}
    assert rested["metadata"]["annotations"]["volume.kubernetes.io/storage-resizer"] == "orlop.io/image"
    pv = await client.get("v1", "PersistentVolume", None, pv["metadata"]["name"])
    assert pv["spec"]["capacity"] == {"storage": "32Mi"}
    assert pv["metadata"]["annotations"]["volume.alpha.kubernetes.io/pre-resize-capacity"] == "16Mi"
    # Raised again while the node has yet to grow the filesystem: that resize finishes first
    # (the resizer waits for the node), and the claim rests -- no write feeds the next sync.
    rested["spec"]["resources"]["requests"]["storage"] = "48Mi"
    again = await client.update(rested)
    await asyncio.sleep(1.5)
    still = await claim()
    assert still["metadata"]["resourceVersion"] == again["metadata"]["resourceVersion"]
    assert still["status"]["allocatedResourceStatuses"] == {"storage": "NodeResizePending"}
    assert still["status"]["allocatedResources"] == {"storage": "32Mi"} and os.path.getsize(path) == 32 * MiB
    await client.delete("v1", "PersistentVolumeClaim", "default", "data")
    await until(lambda: _gone(client, pv["metadata"]["name"]), what="PV deleted")
    assert not os.path.exists(path)


async def _if(obj: Any, check: Any) -> Any:
    got = await obj
    return got if got is not None and check(got) else None


async def _gone(client: LocalClient, name: str) -> bool:
    return await client.get("v1", "PersistentVolume", None, name) is None
