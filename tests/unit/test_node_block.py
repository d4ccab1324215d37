"""The node side of image volumes with real loop devices, mkfs and mounts (as root).

``BlockVolumes`` alone (attach, format once, mount once, grow, unstage), then the
VolumeManager publishing image volumes into pods over a real registry (no controllers).
Every loop device and mount a test makes is removed by the fixture, even on failure:
only devices backed by files under the test's own directory are touched.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import time
from typing import Any

import pytest

from orlop.client import LocalClient
from orlop.node import block, mounts
from orlop.node.block import BlockError, BlockVolumes, ImageVolume, image_volume, mount_options
from orlop.node.volumes import VolumeManager, resized_claim, volume_device_mounts
from orlop.registry.core import Registry
from orlop.store.sqlite import SQLiteStore
from orlop.up import bootstrap

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loop devices and mounts need root")
MiB = 1 << 20


@pytest.fixture
def tmp(tmp_path: Any) -> Any:
    root = str(tmp_path)
    yield root
    block.detach_under(root)
    mounts.unmount_all(root)
    assert not mounts.mount_points(root)
    assert not [lp for lp in block.list_loops() if lp.backing_file.startswith(root)]


def image(tmp: str, name: str, size: int) -> str:
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def loops_of(path: str) -> list[str]:
    st = os.stat(path)
    return [lp.device for lp in block.list_loops() if lp.inode == st.st_ino]


def wait_for(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def fs_bytes(path: str) -> int:
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize


# --- the PV as the node reads it ----------------------------------------------------------

def pv(name: str = "pv-1", path: str = "/images/default/pvc-1.img", fs: str | None = "ext4", **spec: Any) -> dict:
    csi: dict[str, Any] = {"driver": "image.orlop.io", "volumeHandle": f"default/{name}",
                           "volumeAttributes": {"path": path}}
    if fs is not None:
        csi["fsType"] = fs
    annotations = spec.pop("annotations", {})
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name, "annotations": annotations},
            "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "64Mi"}, "csi": csi, **spec}}


@pytest.mark.parametrize("obj, want", [
    (pv(), ImageVolume("pv-1", "/images/default/pvc-1.img", "ext4")),
    (pv(fs=None), ImageVolume("pv-1", "/images/default/pvc-1.img", "ext4")),
    (pv(fs="xfs"), ImageVolume("pv-1", "/images/default/pvc-1.img", "xfs")),
    (pv(volumeMode="Block"), ImageVolume("pv-1", "/images/default/pvc-1.img", "")),
    (pv(accessModes=["ReadOnlyMany"]), ImageVolume("pv-1", "/images/default/pvc-1.img", "ext4", read_only=True)),
    (pv(accessModes=["ReadOnlyMany", "ReadWriteOnce"]), ImageVolume("pv-1", "/images/default/pvc-1.img", "ext4")),
    (pv(mountOptions=["noatime", "discard", "noatime"]),
     ImageVolume("pv-1", "/images/default/pvc-1.img", "ext4", mount_options=("discard", "noatime"))),
    # The beta annotation replaces spec.mountOptions, as kubelet's MountOptionFromSpec.
    (pv(mountOptions=["discard"], annotations={"volume.beta.kubernetes.io/mount-options": "noatime,sync"}),
     ImageVolume("pv-1", "/images/default/pvc-1.img", "ext4", mount_options=("noatime", "sync"))),
])
def test_image_volume_from_pv(obj: dict, want: ImageVolume) -> None:
    assert image_volume(obj) == want


def test_image_volume_attributes_and_refusals() -> None:
    obj = pv()
    obj["spec"]["csi"]["readOnly"] = True
    obj["spec"]["csi"]["volumeAttributes"]["mkfsOptions"] = "-E  nodiscard -L data"
    got = image_volume(obj)
    assert got.read_only and got.mkfs_options == ("-E", "nodiscard", "-L", "data")
    with pytest.raises(ValueError, match="no absolute volumeAttributes.path"):
        image_volume(pv(path="relative.img"))
    with pytest.raises(ValueError, match='filesystem type "btrfs" of volume pv-1 is not supported'):
        image_volume(pv(fs="btrfs"))
    assert mount_options({"metadata": {}, "spec": {}}) == ()


# --- BlockVolumes -------------------------------------------------------------------------

def test_stage_formats_once_and_reuses_the_device(tmp: str) -> None:
    path = image(tmp, "a.img", 32 * MiB)
    vol = ImageVolume("pv-a", path, "ext4")
    nodes = BlockVolumes(os.path.join(tmp, "node"))
    first = nodes.stage(vol)
    assert first.formatted and first.fs_complete and first.device_bytes == 32 * MiB
    assert first.path == os.path.join(tmp, "node", "plugins", "orlop.io~image", "mounts", "pv-a")
    assert mounts.is_mount_point(first.path)
    uuid = block.probe(first.device).uuid
    assert uuid and block.probe(path).uuid == uuid            # the image file itself says so too
    with open(os.path.join(first.path, "data"), "w") as f:
        f.write("kept")
    # Again, and from a new instance (an agent restart): same device, never reformatted.
    for again in (nodes.stage(vol), BlockVolumes(os.path.join(tmp, "node")).stage(vol)):
        assert (again.device, again.formatted) == (first.device, False)
    assert loops_of(path) == [first.device]
    assert block.probe(first.device).uuid == uuid
    # Down and up again: a new attach, the same filesystem and data.
    nodes.unstage("pv-a", path)
    assert loops_of(path) == [] and not os.path.exists(first.path)
    again = nodes.stage(vol)
    assert not again.formatted and block.probe(again.device).uuid == uuid
    with open(os.path.join(again.path, "data")) as f:
        assert f.read() == "kept"
    nodes.unstage("pv-a", path)
    nodes.unstage("pv-a", path)                                 # nothing left: fine
    assert loops_of(path) == []


def test_stage_after_a_crash_between_attach_and_mount_reuses_the_loop_device(tmp: str) -> None:
    path = image(tmp, "c.img", 16 * MiB)
    device = block.attach(path)                                 # what a killed agent left behind
    staged = BlockVolumes(os.path.join(tmp, "node")).stage(ImageVolume("pv-c", path, "ext4"))
    assert staged.device == device and loops_of(path) == [device]


def test_read_only_staging(tmp: str) -> None:
    path = image(tmp, "ro.img", 16 * MiB)
    nodes = BlockVolumes(os.path.join(tmp, "node"))
    with pytest.raises(BlockError, match="failed to mount unformatted volume as read only"):
        nodes.stage(ImageVolume("pv-ro", path, "ext4", read_only=True))
    assert loops_of(path) == [] and block.probe(path).fs_type == ""   # nothing made, nothing left
    nodes.stage(ImageVolume("pv-ro", path, "ext4"))
    nodes.unstage("pv-ro", path)
    staged = nodes.stage(ImageVolume("pv-ro", path, "ext4", read_only=True))
    with pytest.raises(OSError) as e:
        open(os.path.join(staged.path, "x"), "w")
    assert e.value.errno == errno.EROFS


def test_block_mode_gives_the_device(tmp: str) -> None:
    path = image(tmp, "blk.img", 8 * MiB)
    staged = BlockVolumes(os.path.join(tmp, "node")).stage(ImageVolume("pv-b", path, ""))
    assert staged.path == staged.device and stat.S_ISBLK(os.stat(staged.device).st_mode)
    assert staged.device_bytes == 8 * MiB and block.probe(path).fs_type == ""      # never formatted


def test_ext4_grows_offline_at_the_next_stage(tmp: str) -> None:
    path = image(tmp, "g.img", 32 * MiB)
    vol = ImageVolume("pv-g", path, "ext4")
    nodes = BlockVolumes(os.path.join(tmp, "node"))
    staged = nodes.stage(vol)
    before = fs_bytes(staged.path)
    with open(os.path.join(staged.path, "data"), "w") as f:
        f.write("intact")
    os.truncate(path, 64 * MiB)                                 # the driver's expand
    online = nodes.expand(vol)
    assert online is not None and online.device_bytes == 64 * MiB
    if not online.fs_complete:                                  # resize2fs refused online (no CAP_SYS_RESOURCE)
        assert fs_bytes(staged.path) == before
        nodes.unstage("pv-g", path)
        staged = nodes.stage(vol)                               # e2fsck -f -y + resize2fs, then mount
        assert not staged.formatted
    assert staged.fs_complete and fs_bytes(staged.path) > before + 24 * MiB
    with open(os.path.join(staged.path, "data")) as f:
        assert f.read() == "intact"


def test_unstage_detaches_copies_in_other_mount_namespaces(tmp: str) -> None:
    """A container started while the volume was staged holds a copy of the staging mount; removing the
    staging directory detaches that copy too (Linux >= 3.18), so the device is really released."""
    path = image(tmp, "ns.img", 16 * MiB)
    nodes = BlockVolumes(os.path.join(tmp, "node"))
    staged = nodes.stage(ImageVolume("pv-ns", path, "ext4"))
    holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sleep", "60"])
    try:
        wait_for(lambda: staged.path in open(f"/proc/{holder.pid}/mountinfo").read())
        nodes.unstage("pv-ns", path)
        assert staged.path not in open(f"/proc/{holder.pid}/mountinfo").read()
        assert loops_of(path) == []
    finally:
        holder.kill()
        holder.wait()


def test_offline_grow_waits_while_the_filesystem_is_busy_elsewhere(tmp: str) -> None:
    """A process elsewhere still holds the filesystem (its cwd): no e2fsck then, it is mounted as it is."""
    path = image(tmp, "h.img", 32 * MiB)
    vol = ImageVolume("pv-h", path, "ext4")
    nodes = BlockVolumes(os.path.join(tmp, "node"))
    staged = nodes.stage(vol)
    holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sleep", "60"], cwd=staged.path)
    try:
        wait_for(lambda: os.readlink(f"/proc/{holder.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt"))
        nodes.unstage("pv-h", path)
        os.truncate(path, 64 * MiB)
        held = nodes.stage(vol)                                  # mounted as it is, not resized
        assert not held.fs_complete and fs_bytes(held.path) < 33 * MiB
        nodes.unstage("pv-h", path)
    finally:
        holder.kill()
        holder.wait()
    wait_for(lambda: not loops_of(path))                         # autoclear: gone with the last mount
    grown = nodes.stage(vol)
    assert grown.fs_complete and not grown.formatted
    assert fs_bytes(grown.path) > 50 * MiB


def test_xfs_grows_online_while_mounted(tmp: str) -> None:
    path = image(tmp, "x.img", 300 * MiB)
    vol = ImageVolume("pv-x", path, "xfs")
    nodes = BlockVolumes(os.path.join(tmp, "node"))
    staged = nodes.stage(vol)
    before = fs_bytes(staged.path)
    os.truncate(path, 400 * MiB)
    grown = nodes.expand(vol)
    assert grown is not None and grown.fs_complete and grown.device_bytes == 400 * MiB
    assert fs_bytes(staged.path) >= before + 90 * MiB
    assert mounts.is_mount_point(staged.path)                   # never unmounted for it
    # Grown while the agent was down: the restarted agent's stage grows it.
    os.truncate(path, 500 * MiB)
    again = BlockVolumes(os.path.join(tmp, "node")).stage(vol)
    assert again.fs_complete and again.device_bytes == 500 * MiB and fs_bytes(staged.path) >= before + 190 * MiB
    assert nodes.expand(ImageVolume("pv-other", image(tmp, "o.img", MiB), "xfs")) is None   # not staged here


def test_existing_filesystem_of_another_type_is_never_reformatted(tmp: str) -> None:
    path = image(tmp, "m.img", 300 * MiB)
    nodes = BlockVolumes(os.path.join(tmp, "node"))
    nodes.stage(ImageVolume("pv-m", path, "xfs"))
    nodes.unstage("pv-m", path)
    uuid = block.probe(path).uuid
    with pytest.raises(BlockError, match='failed to mount the volume as "ext4", it already contains xfs'):
        nodes.stage(ImageVolume("pv-m", path, "ext4"))
    assert block.probe(path) == block.Probe("xfs", uuid) and loops_of(path) == []


def test_failed_mkfs_leaves_nothing_attached(tmp: str) -> None:
    path = image(tmp, "f.img", 16 * MiB)
    with pytest.raises(BlockError, match="mkfs.ext4 -b banana") as e:
        BlockVolumes(os.path.join(tmp, "node")).stage(ImageVolume("pv-f", path, "ext4", mkfs_options=("-b", "banana")))
    assert e.value.reason == "CommandFailed"
    assert loops_of(path) == [] and not os.path.exists(os.path.join(tmp, "node", "plugins", "orlop.io~image",
                                                                    "mounts", "pv-f"))


def test_missing_tool_is_named_with_its_package(tmp: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = image(tmp, "t.img", 300 * MiB)
    bin_dir = os.path.join(tmp, "bin")
    os.mkdir(bin_dir)
    for tool in ("losetup", "blkid", "mount"):
        os.symlink(block.find_tool(tool) or tool, os.path.join(bin_dir, tool))
    monkeypatch.setenv("PATH", bin_dir)
    monkeypatch.setattr(block, "SBIN_DIRS", ())
    with pytest.raises(BlockError) as e:
        BlockVolumes(os.path.join(tmp, "node")).stage(ImageVolume("pv-t", path, "xfs"))
    assert e.value.reason == "ToolMissing"
    assert str(e.value) == 'executable file not found in $PATH: "mkfs.xfs" is needed on this node (install xfsprogs)'
    monkeypatch.undo()
    assert loops_of(path) == []


def test_not_root_is_said_plainly(tmp: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(BlockError, match="needs root .* runs as uid 1000") as e:
        BlockVolumes(tmp).stage(ImageVolume("pv-n", image(tmp, "n.img", MiB), "ext4"))
    assert e.value.reason == "NotRoot"


def test_missing_image_file(tmp: str) -> None:
    with pytest.raises(BlockError, match=r"image .*/gone.img of volume pv-g does not exist on this node"):
        BlockVolumes(tmp).stage(ImageVolume("pv-g", os.path.join(tmp, "gone.img"), "ext4"))


def test_leftovers_after_a_restart(tmp: str) -> None:
    nodes = BlockVolumes(os.path.join(tmp, "node"))
    used, stale, attached = (image(tmp, f"{n}.img", 16 * MiB) for n in ("used", "stale", "attached"))
    nodes.stage(ImageVolume("pv-used", used, "ext4"))
    nodes.stage(ImageVolume("pv-stale", stale, "ext4"))
    block.attach(attached)
    images = {"pv-used": used, "pv-stale": stale, "pv-attached": attached, "pv-idle": image(tmp, "i.img", MiB)}
    assert BlockVolumes(os.path.join(tmp, "node")).leftovers(images, {"pv-used"}) == {"pv-stale", "pv-attached"}


# --- pods: the VolumeManager over a real registry ---------------------------------------

class Node:
    def __init__(self, tmp: str):
        self.tmp = tmp
        self.store = SQLiteStore(os.path.join(tmp, "store.db"))
        self.client = LocalClient(Registry(self.store), "test")
        self.events: list[tuple[str, str, str, str]] = []
        self.manager = self.new_manager()

    def new_manager(self) -> VolumeManager:
        return VolumeManager(self.client, "node-1", os.path.join(self.tmp, "node", "pods"), mount=True,
                             emit=lambda obj, t, r, m: self.events.append((obj["metadata"]["name"], t, r, m)))

    async def claim(self, name: str, path: str, size: str = "32Mi", fs: str | None = "ext4", mode: str = "Filesystem",
                    access: str = "ReadWriteOnce") -> tuple[dict, dict]:
        c = await self.client.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                      "metadata": {"name": name, "namespace": "default"},
                                      "spec": {"accessModes": [access], "volumeMode": mode, "volumeName": f"pv-{name}",
                                               "resources": {"requests": {"storage": size}}}})
        obj = pv(f"pv-{name}", path, fs, volumeMode=mode, accessModes=[access], capacity={"storage": size},
                 claimRef={"namespace": "default", "name": name, "uid": c["metadata"]["uid"]})
        v = await self.client.create(obj)
        c["status"] = {"phase": "Bound", "accessModes": [access], "capacity": {"storage": size}}
        c = await self.client.update(c, subresource="status")
        return c, v

    async def setup(self, pod: dict, manager: VolumeManager | None = None) -> dict[str, str]:
        claims = {c["metadata"]["name"]: c for c in (await self.client.list("v1", "PersistentVolumeClaim", "default"))[0]}
        volumes = {v["metadata"]["name"]: v for v in (await self.client.list("v1", "PersistentVolume"))[0]}
        return await (manager or self.manager).setup(pod, lambda ns, n: claims.get(n), lambda ns, n: volumes.get(n))


def pod(name: str, uid: str, *claims: tuple[str, bool]) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default", "uid": uid},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "busybox"}],
                     "volumes": [{"name": f"v-{c}", "persistentVolumeClaim": {"claimName": c, "readOnly": ro}}
                                 for c, ro in claims]}}


@pytest.fixture
async def node(tmp: str) -> Any:
    n = Node(tmp)
    await bootstrap(n.client.registry)
    yield n
    for uid in list(n.manager._pod_images) + list(n.manager._ready):
        await n.manager.teardown(uid)
    await n.store.close()


async def test_pods_share_one_staged_mount_and_the_last_one_unstages(node: Node) -> None:
    path = image(node.tmp, "p.img", 32 * MiB)
    await node.claim("data", path)
    a = await node.setup(pod("a", "uid-a", ("data", False)))
    b = await node.setup(pod("b", "uid-b", ("data", True)))
    staging = node.manager.block.staging_path("pv-data")
    assert a["v-data"] == os.path.join(node.tmp, "node", "pods", "uid-a", "volumes", "v-data")
    for host in (a["v-data"], b["v-data"]):
        assert mounts.is_mount_point(host) and os.stat(host).st_dev == os.stat(staging).st_dev
    with open(os.path.join(a["v-data"], "f"), "w") as f:
        f.write("from a")
    with open(os.path.join(b["v-data"], "f")) as f:
        assert f.read() == "from a"
    with pytest.raises(OSError) as e:                      # pod b's claim is readOnly
        open(os.path.join(b["v-data"], "g"), "w")
    assert e.value.errno == errno.EROFS
    uuid = block.probe(path).uuid
    assert len(loops_of(path)) == 1
    await node.manager.teardown("uid-a")
    assert mounts.is_mount_point(staging) and not os.path.exists(a["v-data"])     # b still uses it
    await node.manager.teardown("uid-b")
    assert not os.path.exists(staging) and loops_of(path) == []
    c = await node.setup(pod("c", "uid-c", ("data", False)))
    assert block.probe(path).uuid == uuid                   # formatted exactly once
    with open(os.path.join(c["v-data"], "f")) as f:
        assert f.read() == "from a"


async def test_agent_restart_finds_the_device_and_cleans_what_no_pod_uses(node: Node) -> None:
    kept, gone = image(node.tmp, "k.img", 16 * MiB), image(node.tmp, "g.img", 16 * MiB)
    await node.claim("kept", kept)
    _, gone_pv = await node.claim("gone", gone)
    await node.setup(pod("k", "uid-k", ("kept", False)))
    await node.setup(pod("g", "uid-g", ("gone", False)))
    devices = (loops_of(kept), loops_of(gone))
    restarted = node.new_manager()                          # a new agent: nothing in memory
    paths = await node.setup(pod("k", "uid-k", ("kept", False)), restarted)
    assert loops_of(kept) == devices[0] and os.path.ismount(paths["v-kept"])
    await restarted.teardown("uid-g")                       # the gone pod's binds (its uid is a leftover)
    await restarted.cleanup_images({"pv-kept"}, [gone_pv])
    assert loops_of(gone) == [] and not os.path.exists(restarted.block.staging_path("pv-gone"))
    assert loops_of(kept) == devices[0]
    node.manager = restarted


async def test_block_mode_pod_gets_the_device_node(node: Node) -> None:
    path = image(node.tmp, "b.img", 8 * MiB)
    await node.claim("raw", path, size="8Mi", fs=None, mode="Block")
    paths = await node.setup(pod("p", "uid-p", ("raw", False)))
    host = paths["v-raw"]
    (device,) = loops_of(path)
    assert stat.S_ISBLK(os.stat(host).st_mode) and os.stat(host).st_rdev == os.stat(device).st_rdev
    container = {"name": "c", "volumeDevices": [{"name": "v-raw", "devicePath": "/dev/xvda"}]}
    assert [(m.host_path, m.container_path) for m in volume_device_mounts(container, paths)] == [(host, "/dev/xvda")]
    await node.manager.teardown("uid-p")
    assert loops_of(path) == []


async def test_failed_mount_event_names_the_cause(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    await node.claim("lost", os.path.join(node.tmp, "missing.img"))
    from orlop.node.volumes import VolumeWait
    with pytest.raises(VolumeWait) as e:
        await node.setup(pod("p", "uid-p", ("lost", False)))
    assert e.value.reason == "FailedMount"
    assert e.value.message.startswith('MountVolume.MountDevice failed for volume "pv-lost" : image ')
    assert e.value.message.endswith("missing.img of volume pv-lost does not exist on this node")


async def test_online_resize_finishes_the_claim(node: Node) -> None:
    path = image(node.tmp, "x.img", 300 * MiB)
    claim, _ = await node.claim("grow", path, size="300Mi", fs="xfs")
    paths = await node.setup(pod("p", "uid-p", ("grow", False)))
    assert not node.manager.wants_resize(claim)
    before = fs_bytes(paths["v-grow"])
    # What the expand controller leaves: image and PV grown, the claim FileSystemResizePending.
    os.truncate(path, 400 * MiB)
    volume = await node.client.get("v1", "PersistentVolume", None, "pv-grow")
    assert volume["metadata"]["annotations"]["orlop.io/attached-node"] == "node-1"
    volume["spec"]["capacity"]["storage"] = "400Mi"
    await node.client.update(volume)
    claim["status"]["allocatedResources"] = {"storage": "400Mi"}
    claim["status"]["allocatedResourceStatuses"] = {"storage": "NodeResizePending"}
    claim["status"]["conditions"] = [{"type": "FileSystemResizePending", "status": "True"}]
    claim = await node.client.update(claim, subresource="status")
    assert node.manager.wants_resize(claim)
    await node.manager.resize(claim)
    got = await node.client.get("v1", "PersistentVolumeClaim", "default", "grow")
    assert got["status"]["capacity"] == {"storage": "400Mi"}
    assert "conditions" not in got["status"] and "allocatedResourceStatuses" not in got["status"]
    assert got["status"]["allocatedResources"] == {"storage": "400Mi"}
    assert fs_bytes(paths["v-grow"]) >= before + 90 * MiB
    msg = 'MountVolume.NodeExpandVolume succeeded for volume "pv-grow" node-1'
    assert ("p", "Normal", "FileSystemResizeSuccessful", msg) in node.events
    assert ("grow", "Normal", "FileSystemResizeSuccessful", msg) in node.events


def test_resized_claim_keeps_other_conditions() -> None:
    claim = {"metadata": {"name": "c"}, "status": {"capacity": {"storage": "1Gi"}, "conditions": [
        {"type": "Resizing", "status": "True"}, {"type": "FileSystemResizePending", "status": "True"},
        {"type": "ModifyingVolume", "status": "True"}],
        "allocatedResourceStatuses": {"storage": "NodeResizePending", "example.com/x": "y"}}}
    got = resized_claim(claim, "2Gi")
    assert got["status"] == {"capacity": {"storage": "2Gi"}, "conditions": [{"type": "ModifyingVolume", "status": "True"}],
                             "allocatedResourceStatuses": {"example.com/x": "y"}}
    assert claim["status"]["capacity"] == {"storage": "1Gi"}          # the input is untouched


def test_run_reports_failures() -> None:
    with pytest.raises(BlockError, match=r"^losetup --bogus failed with exit status 1: "):
        block.run(["losetup", "--bogus"])


async def test_volume_manager_without_mounts_only_names_the_image(tmp: str) -> None:
    n = Node(tmp)
    await bootstrap(n.client.registry)
    try:
        manager = VolumeManager(n.client, "node-1", os.path.join(tmp, "pods"), mount=False)
        await n.claim("sim", "/nowhere/sim.img")
        paths = await n.setup(pod("p", "uid-p", ("sim", False)), manager)
        assert paths == {"v-sim": "/nowhere/sim.img"}
    finally:
        await n.store.close()
