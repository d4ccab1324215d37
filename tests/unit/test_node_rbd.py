"""The node side of Ceph RBD volumes against a real one-mon one-OSD cluster (as root).

What a pod may use (the in-tree plugin's sources and ceph-csi's PVs) is read into an
``RbdVolume`` (table tests, no cluster).  Then the VolumeManager publishes RBD images into
pods over a real registry: real ``rbd-fuse`` processes, loop devices, mkfs and mounts.
Every image a test makes is removed at its end (which only works when nothing watches it
any more), and every rbd-fuse, mount and loop device a test's node root holds is taken
down by the fixture, by PID / path, even when the test fails.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import json
import os
import signal
import stat
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from conftest import Ceph

from orlop.client import LocalClient
from orlop.drivers import ceph as cephclient
from orlop.node import block, mounts, rbd
from orlop.node.rbd import RbdVolume, RbdVolumes
from orlop.node.volumes import ATTACHED_NODE, VolumeManager, VolumeWait
from orlop.registry.core import Registry
from orlop.store.sqlite import SQLiteStore
from orlop.up import bootstrap

MiB = 1 << 20
MONS = ["127.0.0.1:6789"]
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="rbd-fuse, loop devices and mounts need root")


# --- what a source says ----------------------------------------------------------------------------

def rbd_pv(name: str = "pv-1", src: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "64Mi"},
                     "rbd": src if src is not None else {"monitors": MONS, "image": "foo"}, **spec}}


def csi_pv(name: str = "pvc-1", attrs: dict[str, Any] | None = None, **csi: Any) -> dict[str, Any]:
    a = {"clusterID": "c1", "pool": "kube", "imageName": "csi-vol-1", "monitors": "127.0.0.1:6789,127.0.0.2:6789"}
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"},
                     "csi": {"driver": "rbd.csi.ceph.com", "volumeHandle": "0001-c1-kube-1",
                             "volumeAttributes": attrs if attrs is not None else a, **csi}}}


def vol(**changes: Any) -> RbdVolume:
    base = RbdVolume(name="pv-1", monitors=tuple(MONS), pool="rbd", image="foo", user="admin",
                     keyring="/etc/ceph/keyring", secret=None, fs_type="ext4", read_only=False, pv_name="pv-1")
    return replace(base, **changes)


@pytest.mark.parametrize("volume, want", [
    # seed 002 实践一: the keyring file; the API server's defaults (pool, user, keyring) may be absent.
    ({"name": "rbdpd", "rbd": {"monitors": ["10.10.113.15:6789", "10.10.113.16:6789"], "pool": "kube",
                               "image": "foo", "fsType": "xfs", "readOnly": False, "user": "admin",
                               "keyring": "/etc/ceph/keyring"}},
     RbdVolume("rbdpd", ("10.10.113.15:6789", "10.10.113.16:6789"), "kube", "foo", "admin", "/etc/ceph/keyring",
               None, "xfs", False)),
    ({"name": "v", "rbd": {"monitors": ["m:6789"], "image": "foo"}},
     RbdVolume("v", ("m:6789",), "rbd", "foo", "admin", "/etc/ceph/keyring", None, "ext4", False)),
    # 实践二: secretRef in the pod's namespace; seed 003: readOnly.
    ({"name": "v", "rbd": {"monitors": ["m"], "image": "foo", "user": "client.kube", "secretRef": {"name": "s"},
                           "readOnly": True}},
     RbdVolume("v", ("m",), "rbd", "foo", "kube", "/etc/ceph/keyring", ("team-a", "s"), "ext4", True)),
])
def test_inline_sources(volume: dict[str, Any], want: RbdVolume) -> None:
    assert rbd.inline_volume(volume, "team-a") == want


@pytest.mark.parametrize("pv, want", [
    (rbd_pv(), vol()),
    # A PV's secretRef without a namespace means the pod's (upstream's getSecretNameAndNamespace).
    (rbd_pv(src={"monitors": MONS, "image": "foo", "secretRef": {"name": "s"}}), vol(secret=("team-a", "s"))),
    (rbd_pv(src={"monitors": MONS, "image": "foo", "secretRef": {"name": "s", "namespace": "ceph"}}),
     vol(secret=("ceph", "s"))),
    (rbd_pv(src={"monitors": MONS, "image": "foo", "readOnly": True}, mountOptions=["noatime"]),
     vol(read_only=True, mount_options=("noatime",))),
    (rbd_pv(accessModes=["ReadOnlyMany"]), vol(read_only=True)),
    (rbd_pv(volumeMode="Block"), vol(fs_type="")),
    # ceph-csi: pool/imageName/monitors in volumeAttributes, the key in nodeStageSecretRef.
    (csi_pv(fsType="xfs", nodeStageSecretRef={"name": "csi-rbd-secret", "namespace": "ceph-csi"}),
     RbdVolume("pvc-1", ("127.0.0.1:6789", "127.0.0.2:6789"), "kube", "csi-vol-1", "admin", "/etc/ceph/keyring",
               ("ceph-csi", "csi-rbd-secret"), "xfs", False, pv_name="pvc-1")),
    (csi_pv(readOnly=True), RbdVolume("pvc-1", ("127.0.0.1:6789", "127.0.0.2:6789"), "kube", "csi-vol-1", "admin",
                                      "/etc/ceph/keyring", None, "ext4", True, pv_name="pvc-1")),
])
def test_pv_sources(pv: dict[str, Any], want: RbdVolume) -> None:
    assert rbd.is_rbd_pv(pv)
    assert rbd.pv_volume(pv, "team-a") == want
    assert want.key == f"{want.pool}-image-{want.image}"


@pytest.mark.parametrize("pv, message", [
    (rbd_pv(src={"monitors": [], "image": "foo"}), "rbd volume pv-1 names no Ceph monitors"),
    (rbd_pv(src={"monitors": MONS, "image": "a/b"}), "image 'a/b' cannot be used"),
    (rbd_pv(src={"monitors": MONS, "image": "foo", "fsType": "btrfs"}),
     'filesystem type "btrfs" of volume pv-1 is not supported'),
    (csi_pv(attrs={"clusterID": "c9", "pool": "kube", "imageName": "x"}),
     "names no Ceph monitors (volumeAttributes.monitors; clusterID 'c9' is not known on this node)"),
    (csi_pv(attrs={"monitors": "m", "pool": "kube"}), "volumeAttributes.imageName is required"),
])
def test_unusable_sources(pv: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        rbd.pv_volume(pv, "default")


def test_other_pvs_are_not_rbd() -> None:
    assert not rbd.is_rbd_pv({"spec": {"csi": {"driver": "image.orlop.io"}}})
    assert not rbd.is_rbd_pv({"spec": {"hostPath": {"path": "/x"}}})


KEY = "AQBYqiBczFfTIBAAnzbnceQ9jXK0bAQLVQ5ZXA=="


def secret(data: dict[str, str]) -> dict[str, Any]:
    return {"kind": "Secret", "metadata": {"name": "s", "namespace": "ns"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def test_credentials_secret_wins_over_keyring(tmp_path: Any) -> None:
    keyring = tmp_path / "keyring"
    keyring.write_text(f"[client.admin]\n\tkey = {KEY}\n\tcaps mon = \"allow *\"\n")
    from_file = rbd.credentials(vol(keyring=str(keyring)), None)
    assert (from_file.user, from_file.key, from_file.monitors) == ("admin", KEY, tuple(MONS))
    other = "AQD3tQJr4mB8DhAA0AQi6I4LJYy2G5KMNMERnA=="
    # `ceph auth get-key client.admin | base64` (with or without the trailing newline) wins over the file.
    got = rbd.credentials(vol(keyring=str(keyring), secret=("ns", "s")), secret({"key": other + "\n"}))
    assert (got.user, got.key) == ("admin", other)
    # ceph-csi's Secret names the user itself.
    got = rbd.credentials(vol(secret=("ns", "s")), secret({"userID": "kube", "userKey": other}))
    assert (got.user, got.key) == ("kube", other)


@pytest.mark.parametrize("volume, sec, reason, message", [
    (vol(secret=("ns", "ceph-secret")), None, "SecretNotFound", "secret ns/ceph-secret not found"),
    (vol(secret=("ns", "s")), secret({"key": "not a key!"}), "InvalidSecret", "secret ns/s holds no cephx key"),
    (vol(keyring="/nowhere/keyring"), None, "KeyringNotFound", "keyring /nowhere/keyring does not exist"),
])
def test_credentials_errors(volume: RbdVolume, sec: dict[str, Any] | None, reason: str, message: str) -> None:
    with pytest.raises(cephclient.CephError, match=message) as e:
        rbd.credentials(volume, sec)
    assert e.value.reason == reason


def test_keyring_without_the_user(tmp_path: Any) -> None:
    keyring = tmp_path / "keyring"
    keyring.write_text(f"[client.kube]\n\tkey = {KEY}\n")
    with pytest.raises(cephclient.CephError, match=f"keyring {keyring} holds no key for client.admin"):
        rbd.credentials(vol(keyring=str(keyring)), None)


# --- on a real cluster --------------------------------------------------------------------------------

def fuse_processes(root: str) -> list[int]:
    """rbd-fuse processes serving a mount point under ``root``."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().decode(errors="replace").split("\0")
                with open(f"/proc/{entry}/stat") as f:
                    zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
            except OSError:
                continue
            if not zombie and os.path.basename(argv[0]) == "rbd-fuse" and any(a.startswith(root) for a in argv):
                out.append(int(entry))
    return sorted(out)


def loops_under(root: str) -> list[str]:
    return [lp.device for lp in block.list_loops() if lp.backing_file.startswith(root)]


def loops_of_images(names: list[str]) -> list[str]:
    """Loop devices on one of these images' files, wherever (also those on a dead rbd-fuse: the kernel
    then names the file "/<image> (deleted)")."""
    out = json.loads(block.run(["losetup", "--list", "--json", "--output", "NAME,BACK-FILE"]).stdout or "{}")
    return [d["name"] for d in out.get("loopdevices") or []
            if os.path.basename(str(d.get("back-file") or "").removesuffix(" (deleted)")) in names]


async def gone(what: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while what():
        assert asyncio.get_running_loop().time() < deadline, f"still there: {what()}"
        await asyncio.sleep(0.05)


def fs_bytes(path: str) -> int:
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize


@pytest.fixture
def tmp(tmp_path: Any) -> Iterator[str]:
    root = str(tmp_path)
    yield root
    for node_root in {os.path.join(root, d) for d in os.listdir(root)}:
        if os.path.isdir(os.path.join(node_root, "plugins", "kubernetes.io~rbd")):
            with contextlib.suppress(Exception):
                rbd.purge(node_root)
    mounts.unmount_all(root)
    block.detach_under(root)
    for pid in fuse_processes(root):           # only ours: their command line names our directory
        os.kill(pid, signal.SIGKILL)
    mounts.unmount_all(root)
    assert not mounts.mount_points(root)
    assert not loops_under(root)
    assert not fuse_processes(root)


class Images:
    """Images made by one test, removed at its end (``rbd rm`` fails while anything watches one)."""

    def __init__(self, ceph: Ceph):
        self.ceph = ceph
        self.made: list[str] = []

    def make(self, size_mb: int = 64, pool: str = "rbd") -> str:
        name = f"t-{uuid.uuid4().hex[:10]}"
        self.ceph.cluster.rbd("create", f"{pool}/{name}", "--size", str(size_mb))
        self.made.append(f"{pool}/{name}")
        return name

    def watchers(self, name: str, pool: str = "rbd") -> list[Any]:
        return list(json.loads(self.ceph.cluster.rbd("status", f"{pool}/{name}", "--format", "json"))["watchers"])

    def resize(self, name: str, size_mb: int, pool: str = "rbd") -> None:
        self.ceph.cluster.rbd("resize", f"{pool}/{name}", "--size", str(size_mb))

    def remove_all(self) -> None:
        for spec in self.made:
            self.ceph.cluster.rbd("rm", "--no-progress", spec)


@pytest.fixture
def images(ceph: Ceph) -> Iterator[Images]:
    imgs = Images(ceph)
    yield imgs
    names = [spec.split("/", 1)[1] for spec in imgs.made]
    leaked = loops_of_images(names) if os.geteuid() == 0 else []
    for device in leaked:
        block.detach(device)
    imgs.remove_all()
    assert not leaked, f"loop devices left on the test's images: {leaked}"


class Node:
    """A VolumeManager over a real registry (no controllers); its rbd Ceph timeout is short."""

    def __init__(self, tmp: str, ceph: Ceph):
        self.tmp, self.ceph = tmp, ceph
        self.store = SQLiteStore(os.path.join(tmp, "store.db"))
        self.client = LocalClient(Registry(self.store), "test")
        self.events: list[tuple[str, str, str, str]] = []
        self.root = os.path.join(tmp, "node")
        self.manager = self.new_manager()

    def new_manager(self, root: str | None = None) -> VolumeManager:
        root = root or self.root
        return VolumeManager(self.client, "node-1", os.path.join(root, "pods"), mount=True,
                             emit=lambda obj, t, r, m: self.events.append((obj["metadata"]["name"], t, r, m)),
                             rbd_volumes=RbdVolumes(root, timeout=4))

    @property
    def rbd(self) -> RbdVolumes:
        return self.manager.rbd

    def keyring(self, user: str = "admin", key: str | None = None) -> str:
        path = os.path.join(self.tmp, f"keyring-{user}")
        with open(path, "w") as f:
            f.write(f"[client.{user}]\n\tkey = {key or self.ceph.admin_key}\n")
        return path

    async def secret(self, name: str, data: dict[str, str], namespace: str = "default") -> None:
        await self.client.create({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/rbd",
                                  "metadata": {"name": name, "namespace": namespace},
                                  "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}})

    async def claim(self, name: str, pv_spec: dict[str, Any], size: str = "64Mi", mode: str = "Filesystem",
                    access: str = "ReadWriteOnce") -> tuple[dict[str, Any], dict[str, Any]]:
        c = await self.client.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                      "metadata": {"name": name, "namespace": "default"},
                                      "spec": {"accessModes": [access], "volumeMode": mode, "volumeName": f"pv-{name}",
                                               "resources": {"requests": {"storage": size}}}})
        v = await self.client.create({
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"pv-{name}"},
            "spec": {"accessModes": [access], "capacity": {"storage": size}, "volumeMode": mode,
                     "claimRef": {"namespace": "default", "name": name, "uid": c["metadata"]["uid"]}, **pv_spec}})
        c["status"] = {"phase": "Bound", "accessModes": [access], "capacity": {"storage": size}}
        c = await self.client.update(c, subresource="status")
        return c, v

    async def setup(self, pod: dict[str, Any], manager: VolumeManager | None = None) -> dict[str, str]:
        claims = {c["metadata"]["name"]: c for c in (await self.client.list("v1", "PersistentVolumeClaim", "default"))[0]}
        volumes = {v["metadata"]["name"]: v for v in (await self.client.list("v1", "PersistentVolume"))[0]}
        return await (manager or self.manager).setup(pod, lambda ns, n: claims.get(n), lambda ns, n: volumes.get(n))

    async def fails(self, pod: dict[str, Any], manager: VolumeManager | None = None) -> VolumeWait:
        with pytest.raises(VolumeWait) as e:
            await self.setup(pod, manager)
        assert e.value.reason == "FailedMount"
        return e.value


def pod(name: str, uid: str, *volumes: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default", "uid": uid},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "busybox"}], "volumes": list(volumes)}}


def inline(image: str, name: str = "rbdpd", **src: Any) -> dict[str, Any]:
    return {"name": name, "rbd": {"monitors": [MONS[0]], "pool": "rbd", "image": image, "user": "admin", **src}}


def claim_volume(claim: str, read_only: bool = False) -> dict[str, Any]:
    return {"name": f"v-{claim}", "persistentVolumeClaim": {"claimName": claim, "readOnly": read_only}}


@pytest.fixture
async def node(tmp: str, ceph: Ceph) -> Any:
    n = Node(tmp, ceph)
    await bootstrap(n.client.registry)
    yield n
    for uid in list(n.manager._pod_rbd) + list(n.manager._ready):
        with contextlib.suppress(Exception):
            await n.manager.teardown(uid)
    await n.store.close()


def staging_fs(n: Node, image: str) -> block.MountEntry:
    entry = block.mount_entry(n.rbd.staging_path(f"rbd-image-{image}"))
    assert entry is not None
    return entry


def nothing_left(n: Node, images: Images, image: str) -> None:
    """Unstaged: no rbd-fuse, no fuse mount, no loop device, no staging, no watchers, no keyring copy."""
    assert fuse_processes(n.tmp) == []
    assert not mounts.mount_points(n.tmp)
    assert loops_under(n.tmp) == [] and loops_of_images([image]) == []
    assert not os.path.exists(n.rbd.client_dir(f"rbd-image-{image}"))
    assert not os.path.exists(n.rbd.staging_path(f"rbd-image-{image}"))
    assert images.watchers(image) == []


@root_only
async def test_inline_keyring_volume_formats_once_and_leaves_nothing(node: Node, images: Images) -> None:
    image = images.make()
    keyring = node.keyring()
    paths = await node.setup(pod("rbd", "uid-a", inline(image, keyring=keyring)))
    host = paths["rbdpd"]
    assert host == os.path.join(node.root, "pods", "uid-a", "volumes", "rbdpd") and mounts.is_mount_point(host)
    staged = staging_fs(node, image)
    assert staged.fstype == "ext4" and staged.mount_point == os.path.join(
        node.root, "plugins", "kubernetes.io~rbd", "mounts", f"rbd-image-{image}")
    (pid,) = fuse_processes(node.tmp)
    fuse = os.path.join(node.root, "plugins", "kubernetes.io~rbd", "images", f"rbd-image-{image}", "fuse")
    assert block.mount_entry(fuse).fstype == "fuse.rbd-fuse"               # type: ignore[union-attr]
    assert stat.S_IMODE(os.stat(os.path.join(os.path.dirname(fuse), "keyring")).st_mode) == 0o600
    assert len(images.watchers(image)) == 1
    (loop,) = loops_under(node.tmp)
    uuid_before = block.probe(loop).uuid
    with open(os.path.join(host, "hello"), "w") as f:
        f.write("written by rbd-keyring")
    await node.manager.teardown("uid-a")
    nothing_left(node, images, image)
    # Again: a new rbd-fuse, the same filesystem (formatted exactly once) and data.
    paths = await node.setup(pod("rbd", "uid-b", inline(image, keyring=keyring)))
    assert fuse_processes(node.tmp) != [pid]
    assert block.probe(loops_under(node.tmp)[0]).uuid == uuid_before
    with open(os.path.join(paths["rbdpd"], "hello")) as f:
        assert f.read() == "written by rbd-keyring"
    await node.manager.teardown("uid-b")
    nothing_left(node, images, image)


@root_only
async def test_inline_secret_ref_in_the_pods_namespace_wins_over_the_keyring(node: Node, images: Images) -> None:
    image = images.make()
    # 实践二: `ceph auth get-key client.kube | base64`; the keyring named (the API default) does not exist.
    await node.secret("ceph-secret", {"key": node.ceph.user_key + "\n"})
    volume = inline(image, user="kube", keyring="/nowhere/keyring", secretRef={"name": "ceph-secret"},
                    fsType="xfs")
    volume["rbd"]["monitors"] = [node.ceph.monitors]
    images.resize(image, 300)                                   # mkfs.xfs wants 300 MiB
    paths = await node.setup(pod("rbd2", "uid-s", volume))
    assert staging_fs(node, image).fstype == "xfs"
    with open(os.path.join(paths["rbdpd"], "f"), "w") as f:
        f.write("x")
    conf = open(os.path.join(node.rbd.client_dir(f"rbd-image-{image}"), "keyring")).read()
    assert "[client.kube]" in conf and node.ceph.user_key in conf
    await node.manager.teardown("uid-s")
    nothing_left(node, images, image)


@root_only
async def test_pv_through_a_claim_second_pod_reads_what_the_first_wrote(node: Node, images: Images) -> None:
    """Seed 004: a PV with an rbd source and a secretRef without namespace (the pod's), two pods in turn."""
    image = images.make()
    await node.secret("ceph-secret", {"key": node.ceph.admin_key})
    await node.claim("ceph-claim", {"rbd": {"monitors": MONS, "pool": "rbd", "image": image, "user": "admin",
                                            "secretRef": {"name": "ceph-secret"}, "fsType": "ext4",
                                            "readOnly": False}})
    a = await node.setup(pod("ceph-pod1", "uid-1", claim_volume("ceph-claim")))
    pv = await node.client.get("v1", "PersistentVolume", None, "pv-ceph-claim")
    assert pv["metadata"]["annotations"][ATTACHED_NODE] == "node-1"
    with open(os.path.join(a["v-ceph-claim"], "rbd-test.txt"), "w") as f:
        f.write("Ceph RBD test\n")
    await node.manager.teardown("uid-1")
    nothing_left(node, images, image)
    pv = await node.client.get("v1", "PersistentVolume", None, "pv-ceph-claim")
    assert ATTACHED_NODE not in (pv["metadata"].get("annotations") or {})
    b = await node.setup(pod("ceph-pod2", "uid-2", claim_volume("ceph-claim")))
    with open(os.path.join(b["v-ceph-claim"], "rbd-test.txt")) as f:
        assert f.read() == "Ceph RBD test\n"
    await node.manager.teardown("uid-2")
    nothing_left(node, images, image)


@root_only
async def test_pods_share_one_rbd_fuse_and_the_last_one_stops_it(node: Node, images: Images) -> None:
    image = images.make()
    keyring = node.keyring()
    a = await node.setup(pod("a", "uid-a", inline(image, keyring=keyring)))
    b = await node.setup(pod("b", "uid-b", inline(image, name="other", keyring=keyring)))
    pids = fuse_processes(node.tmp)
    assert len(pids) == 1 and len(loops_under(node.tmp)) == 1
    with open(os.path.join(a["rbdpd"], "f"), "w") as f:
        f.write("shared")
    with open(os.path.join(b["other"], "f")) as f:
        assert f.read() == "shared"
    await node.manager.teardown("uid-a")
    assert fuse_processes(node.tmp) == pids and mounts.is_mount_point(b["other"])
    await node.manager.teardown("uid-b")
    nothing_left(node, images, image)


@root_only
async def test_read_only(node: Node, images: Images) -> None:
    """Seed 003: readOnly: true.  Never formats; read-only all the way down (rbd-fuse, loop, mount)."""
    image = images.make()
    keyring = node.keyring()
    wait = await node.fails(pod("ro", "uid-ro", inline(image, keyring=keyring, readOnly=True)))
    assert wait.message == ('MountVolume.MountDevice failed for volume "rbdpd" : failed to mount unformatted '
                            "volume as read only")
    nothing_left(node, images, image)
    rw = await node.setup(pod("rw", "uid-rw", inline(image, keyring=keyring)))
    with open(os.path.join(rw["rbdpd"], "data"), "w") as f:
        f.write("from rw")
    await node.manager.teardown("uid-rw")
    ro = await node.setup(pod("ro", "uid-ro", inline(image, keyring=keyring, readOnly=True)))
    with open(os.path.join(ro["rbdpd"], "data")) as f:
        assert f.read() == "from rw"
    with pytest.raises(OSError) as e:
        open(os.path.join(ro["rbdpd"], "new"), "w")
    assert e.value.errno == errno.EROFS
    fuse = block.mount_entry(os.path.join(node.rbd.client_dir(f"rbd-image-{image}"), "fuse"))
    assert fuse is not None and "ro" in fuse.options
    assert [lp.read_only for lp in block.list_loops() if lp.backing_file.startswith(node.tmp)] == [True]
    assert "ro" in staging_fs(node, image).options
    # Read-write use while it is staged read-only here: refused, saying why.
    wait = await node.fails(pod("rw2", "uid-rw2", inline(image, keyring=keyring)))
    assert f"rbd image rbd/{image} is mounted read-only on this node" in wait.message
    await node.manager.teardown("uid-ro")
    nothing_left(node, images, image)


@root_only
async def test_agent_restart_adopts_and_cleans_what_no_pod_uses(node: Node, images: Images) -> None:
    kept, gone, claimed = images.make(), images.make(), images.make()
    keyring = node.keyring()
    await node.claim("data", {"rbd": {"monitors": MONS, "image": claimed, "keyring": keyring}})
    k = await node.setup(pod("k", "uid-k", inline(kept, keyring=keyring), claim_volume("data")))
    await node.setup(pod("g", "uid-g", inline(gone, keyring=keyring)))
    before = {img: (fuse_processes(node.rbd.client_dir(f"rbd-image-{img}")), staging_fs(node, img).device)
              for img in (kept, gone, claimed)}
    assert all(len(p) == 1 for p, _ in before.values())
    with open(os.path.join(k["rbdpd"], "f"), "w") as f:
        f.write("kept")

    restarted = node.new_manager()                      # a new agent: nothing in memory
    paths = await node.setup(pod("k", "uid-k", inline(kept, keyring=keyring), claim_volume("data")), restarted)
    for img in (kept, claimed):                         # the same rbd-fuse, loop device and filesystem
        assert (fuse_processes(restarted.rbd.client_dir(f"rbd-image-{img}")), staging_fs(node, img).device) == \
            before[img]
    with open(os.path.join(paths["rbdpd"], "f")) as f:
        assert f.read() == "kept"
    assert len(fuse_processes(node.tmp)) == 3           # never a second rbd-fuse for an image
    await restarted.teardown("uid-g")                   # the gone pod's binds (its uid is a leftover)
    await restarted.cleanup_images({"pv-data"}, [(await node.client.get("v1", "PersistentVolume", None,
                                                                          "pv-data"))])
    assert images.watchers(gone) == [] and not os.path.exists(restarted.rbd.client_dir(f"rbd-image-{gone}"))
    assert fuse_processes(node.tmp) == sorted(before[kept][0] + before[claimed][0])
    node.manager = restarted
    await restarted.teardown("uid-k")
    nothing_left(node, images, kept)
    nothing_left(node, images, claimed)


@root_only
async def test_leftovers_of_an_earlier_run_are_cleaned_when_no_pod_binds_them(node: Node, images: Images) -> None:
    image = images.make()
    await node.setup(pod("p", "uid-p", inline(image, keyring=node.keyring())))
    mounts.unmount_all(os.path.join(node.root, "pods"))     # the pod went while the agent was down
    restarted = node.new_manager()
    await restarted.cleanup_images(set(), [])
    node.manager = restarted
    nothing_left(node, images, image)


@root_only
async def test_a_dead_rbd_fuse_is_replaced(node: Node, images: Images) -> None:
    """rbd-fuse killed while the agent was down: the next stage takes its remains down (the mount
    that answers ENOTCONN, the loop device on it) and starts a new one once the dead client's watch
    has expired on the OSD (until then the image is "still being used")."""
    image = images.make()
    keyring = node.keyring()
    paths = await node.setup(pod("p", "uid-p", inline(image, keyring=keyring)))
    with open(os.path.join(paths["rbdpd"], "f"), "w") as f:
        f.write("synced")
    os.sync()
    (pid,) = fuse_processes(node.tmp)
    mounts.unmount_all(os.path.join(node.root, "pods"))
    os.kill(pid, signal.SIGKILL)
    await gone(lambda: fuse_processes(node.tmp))
    node.manager = restarted = node.new_manager()
    message = ""
    for _ in range(90):
        try:
            again = await node.setup(pod("s", "uid-s", inline(image, keyring=keyring)), restarted)
            break
        except VolumeWait as w:
            message = w.message
            assert "is still being used" in w.message, w.message
            await asyncio.sleep(1)
    else:
        raise AssertionError(f"never staged again: {message}")
    with open(os.path.join(again["rbdpd"], "f")) as f:
        assert f.read() == "synced"
    assert len(fuse_processes(node.tmp)) == 1 and len(loops_under(node.tmp)) == 1
    await restarted.teardown("uid-s")
    nothing_left(node, images, image)


@root_only
async def test_unstage_while_something_still_holds_the_filesystem(node: Node, images: Images,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A process elsewhere keeps the filesystem busy: unstage says so within its bound and leaves rbd-fuse
    serving it; once the holder is gone, unstaging again finishes."""
    monkeypatch.setattr(rbd, "LOOP_GONE_TIMEOUT", 1.0)
    image = images.make()
    paths = await node.setup(pod("p", "uid-p", inline(image, keyring=node.keyring())))
    holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sleep", "60"], cwd=paths["rbdpd"])
    try:
        await gone(lambda: os.readlink(f"/proc/{holder.pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt"))
        with pytest.raises(rbd.RbdError, match=f"loop device /dev/loop[0-9]+ of rbd image rbd-image-{image} is "
                                               "still in use on this node; rbd-fuse is left running"):
            await node.manager.teardown("uid-p")
        assert len(fuse_processes(node.tmp)) == 1 and len(images.watchers(image)) == 1
    finally:
        holder.kill()
        holder.wait()
    await gone(lambda: loops_under(node.tmp))                  # the kernel's deferred detach (autoclear)
    await node.manager.teardown("uid-p")
    nothing_left(node, images, image)


@root_only
async def test_csi_pv_with_ceph_csi_secret_in_block_mode(node: Node, images: Images) -> None:
    image = images.make(size_mb=16)
    await node.secret("csi-rbd-secret", {"userID": node.ceph.user, "userKey": node.ceph.user_key}, "default")
    await node.claim("raw", {"csi": {"driver": "rbd.csi.ceph.com", "volumeHandle": f"0001-x-rbd-{image}",
                                     "volumeAttributes": {"clusterID": "x", "pool": "rbd", "imageName": image,
                                                          "monitors": node.ceph.monitors},
                                     "nodeStageSecretRef": {"name": "csi-rbd-secret", "namespace": "default"}}},
                     size="16Mi", mode="Block")
    paths = await node.setup(pod("p", "uid-p", claim_volume("raw")))
    (device,) = loops_under(node.tmp)
    host = paths["v-raw"]
    assert stat.S_ISBLK(os.stat(host).st_mode) and os.stat(host).st_rdev == os.stat(device).st_rdev
    assert block.probe(device).fs_type == ""                    # volumeMode Block: never formatted
    conf = open(os.path.join(node.rbd.client_dir(f"rbd-image-{image}"), "keyring")).read()
    assert "[client.kube]" in conf
    await node.manager.teardown("uid-p")
    nothing_left(node, images, image)


# --- errors -------------------------------------------------------------------------------------------

@root_only
async def test_errors_name_the_cause_and_leave_nothing(node: Node, images: Images,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    image = images.make()
    keyring = node.keyring()
    wait = await node.fails(pod("p", "uid-1", inline(image, secretRef={"name": "no-such-secret"})))
    assert wait.message == ('MountVolume.NewMounter initialization failed for volume "rbdpd" : secret '
                            "default/no-such-secret not found")

    await node.secret("bad", {"key": "AQD3tQJr4mB8DhAA0AQi6I4LJYy2G5KMNMERnA=="})
    wait = await node.fails(pod("p", "uid-2", inline(image, secretRef={"name": "bad"})))
    assert wait.message == (f'MountVolume.MountDevice failed for volume "rbdpd" : connecting to Ceph monitors '
                            f"{MONS[0]} as client.admin: authentication failed (wrong user or key?)")

    wait = await node.fails(pod("p", "uid-3", inline("no-such-image", keyring=keyring)))
    assert wait.message.endswith(": rbd image rbd/no-such-image does not exist")

    wait = await node.fails(pod("p", "uid-4", inline(image, pool="no-such-pool", keyring=keyring)))
    assert wait.message.endswith(f': pool "no-such-pool" does not exist in the Ceph cluster at {MONS[0]}')

    unreachable = inline(image, keyring=keyring)
    unreachable["rbd"]["monitors"] = ["127.0.0.1:6799"]
    wait = await node.fails(pod("p", "uid-5", unreachable))
    assert "connecting to Ceph monitors 127.0.0.1:6799 as client.admin: no answer within 4s" in wait.message

    # client.kube may only use pool rbd.
    with contextlib.suppress(RuntimeError):
        node.ceph.cluster.create_pool("other")
    other = images.make(pool="other")
    kube_keyring = node.keyring("kube", node.ceph.user_key)
    wait = await node.fails(pod("p", "uid-6", inline(other, pool="other", user="kube", keyring=kube_keyring)))
    assert f"opening rbd image other/{other}: permission denied" in wait.message

    bin_dir = os.path.join(node.tmp, "bin")
    os.mkdir(bin_dir)
    monkeypatch.setenv("PATH", bin_dir)
    monkeypatch.setattr(block, "SBIN_DIRS", ())
    wait = await node.fails(pod("p", "uid-7", inline(image, keyring=keyring)))
    assert wait.message == ('MountVolume.MountDevice failed for volume "rbdpd" : executable file not found in '
                            '$PATH: "rbd-fuse" is needed on this node to mount rbd volumes (install rbd-fuse)')
    monkeypatch.undo()
    nothing_left(node, images, image)
    assert not os.path.exists(node.rbd.images_dir) or os.listdir(node.rbd.images_dir) == []


@root_only
async def test_an_image_used_read_write_elsewhere_is_refused(node: Node, images: Images) -> None:
    """Another node (here: another agent root) has the image: upstream's 'still being used'."""
    image = images.make()
    keyring = node.keyring()
    elsewhere = node.new_manager(os.path.join(node.tmp, "node-2"))
    await node.setup(pod("a", "uid-a", inline(image, keyring=keyring)), elsewhere)
    try:
        wait = await node.fails(pod("b", "uid-b", inline(image, keyring=keyring)))
        assert f"rbd image rbd/{image} is still being used (watchers: 127.0.0.1:0/" in wait.message
        assert len(fuse_processes(node.tmp)) == 1                       # only the other node's
        assert not os.path.exists(node.rbd.client_dir(f"rbd-image-{image}"))
    finally:
        await elsewhere.teardown("uid-a")
    nothing_left(node, images, image)


# --- growth -------------------------------------------------------------------------------------------

async def grow_claim(n: Node, claim: dict[str, Any], image: str, size_mb: int) -> dict[str, Any]:
    """What the provisioner and the expand controller leave: the image and the PV grown, the claim
    FileSystemResizePending."""
    n.ceph.cluster.rbd("resize", f"rbd/{image}", "--size", str(size_mb))
    volume = await n.client.get("v1", "PersistentVolume", None, claim["spec"]["volumeName"])
    volume["spec"]["capacity"]["storage"] = f"{size_mb}Mi"
    await n.client.update(volume)
    claim = await n.client.get("v1", "PersistentVolumeClaim", "default", claim["metadata"]["name"])
    claim["status"]["allocatedResources"] = {"storage": f"{size_mb}Mi"}
    claim["status"]["allocatedResourceStatuses"] = {"storage": "NodeResizePending"}
    claim["status"]["conditions"] = [{"type": "FileSystemResizePending", "status": "True"}]
    return await n.client.update(claim, subresource="status")


@root_only
async def test_xfs_grows_online_without_a_remount(node: Node, images: Images) -> None:
    image = images.make(size_mb=300)
    claim, _ = await node.claim("grow", {"rbd": {"monitors": MONS, "image": image, "keyring": node.keyring(),
                                                 "fsType": "xfs"}}, size="300Mi")
    paths = await node.setup(pod("p", "uid-p", claim_volume("grow")))
    before, pids = fs_bytes(paths["v-grow"]), fuse_processes(node.tmp)
    assert not node.manager.wants_resize(claim)
    claim = await grow_claim(node, claim, image, 400)
    assert node.manager.wants_resize(claim)
    await node.manager.resize(claim)
    got = await node.client.get("v1", "PersistentVolumeClaim", "default", "grow")
    assert got["status"]["capacity"] == {"storage": "400Mi"} and "conditions" not in got["status"]
    assert fs_bytes(paths["v-grow"]) >= before + 90 * MiB
    assert fuse_processes(node.tmp) == pids                      # the same rbd-fuse: no remount
    msg = 'MountVolume.NodeExpandVolume succeeded for volume "pv-grow" node-1'
    assert ("p", "Normal", "FileSystemResizeSuccessful", msg) in node.events
    assert ("grow", "Normal", "FileSystemResizeSuccessful", msg) in node.events
    await node.manager.teardown("uid-p")
    nothing_left(node, images, image)


@root_only
async def test_ext4_grows_online_or_at_the_next_stage(node: Node, images: Images) -> None:
    image = images.make(size_mb=32)
    claim, _ = await node.claim("e", {"rbd": {"monitors": MONS, "image": image, "keyring": node.keyring()}},
                                size="32Mi")
    paths = await node.setup(pod("p", "uid-p", claim_volume("e")))
    with open(os.path.join(paths["v-e"], "data"), "w") as f:
        f.write("intact")
    before = fs_bytes(paths["v-e"])
    claim = await grow_claim(node, claim, image, 64)
    await node.manager.resize(claim)
    got = await node.client.get("v1", "PersistentVolumeClaim", "default", "e")
    if got["status"]["capacity"] != {"storage": "64Mi"}:       # resize2fs refused online here
        assert fs_bytes(paths["v-e"]) == before
        await node.manager.teardown("uid-p")
        paths = await node.setup(pod("q", "uid-q", claim_volume("e")))   # e2fsck + resize2fs before the mount
        got = await node.client.get("v1", "PersistentVolumeClaim", "default", "e")
        assert got["status"]["capacity"] == {"storage": "64Mi"}
    assert fs_bytes(paths["v-e"]) > before + 24 * MiB
    with open(os.path.join(paths["v-e"], "data")) as f:
        assert f.read() == "intact"
    for uid in list(node.manager._pod_rbd):
        await node.manager.teardown(uid)
    nothing_left(node, images, image)


async def test_without_mounts_only_the_staging_path_is_named(tmp_path: Any) -> None:
    store = SQLiteStore(os.path.join(str(tmp_path), "store.db"))
    client = LocalClient(Registry(store), "test")
    await bootstrap(client.registry)
    try:
        manager = VolumeManager(client, "node-1", os.path.join(str(tmp_path), "pods"), mount=False)
        got = await manager.setup(pod("p", "uid-p", inline("foo", secretRef={"name": "absent"})),
                                  lambda ns, n: None, lambda ns, n: None)
        assert got == {"rbdpd": os.path.join(str(tmp_path), "plugins", "kubernetes.io~rbd", "mounts",
                                             "rbd-image-foo")}
    finally:
        await store.close()

