"""Block volumes (``orlop.io/image``) end to end: the real kubectl against ``orlop up`` as root.

Why this exists: an image volume is only right if a user sees what a cloud disk gives:
data written through one pod is read back by the next, the filesystem is made once,
growing the claim grows what ``df`` shows in the pod (online for XFS; for ext4, which
these machines cannot grow online, after the pod is recreated, with the claim
FileSystemResizePending meanwhile), Delete removes the image, and a kill -9 while
claims are being provisioned leaves exactly one image per claim.  Each test uses its own
class and pool; what it attached or mounted is removed even when it fails.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from helpers import create_namespace, get_json, unique, wait_pod_ready, wait_until

from orlop.node import block, mounts

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loop devices, mounts and the process runtime need root")
GiB = 1 << 30


def dump(*objs: dict[str, Any]) -> str:
    return yaml.safe_dump_all(objs)


@pytest.fixture
def pool(orlop: Any) -> Iterator[tuple[str, str]]:
    """(class name, pool name) of a class of our own; afterwards nothing of the pool stays attached."""
    name = unique("image")
    yield name, name
    pool_dir = os.path.join(orlop.data_dir, "images", name)
    if os.path.isdir(pool_dir):
        block.detach_under(pool_dir)
    orlop.kubectl("delete", "storageclass", name, "--ignore-not-found", check=False)


def storage_class(name: str, pool: str, fs: str) -> dict[str, Any]:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
            "provisioner": "orlop.io/image", "reclaimPolicy": "Delete", "allowVolumeExpansion": True,
            "volumeBindingMode": "Immediate", "parameters": {"pool": pool, "fsType": fs}}


def claim(name: str, cls: str, size: str = "1Gi") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": cls,
                     "resources": {"requests": {"storage": size}}}}


def pod(name: str, claim_name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 2,
                     "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "100000"],
                                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                     "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}]}}


def run_pod(o: Any, ns: str, name: str, claim_name: str) -> None:
    o.kubectl("create", "-n", ns, "-f", "-", input=dump(pod(name, claim_name)))
    wait_pod_ready(o, ns, name, 60)


def df_kib(o: Any, ns: str, name: str) -> int:
    out = o.kubectl("exec", name, "-n", ns, "--", "df", "-k", "/data").stdout
    return int(out.strip().splitlines()[-1].split()[1])


def uuid_of(path: str) -> str:
    cp = subprocess.run(["blkid", "-p", "-s", "UUID", "-o", "value", path], capture_output=True, text=True)
    return cp.stdout.strip()


def bound_claim(o: Any, ns: str, name: str) -> dict[str, Any]:
    wait_until(lambda: get_json(o, "pvc", name, "-n", ns).get("status", {}).get("phase") == "Bound", 30,
               f"claim {name} to be Bound")
    return get_json(o, "pvc", name, "-n", ns)


def conditions(c: dict[str, Any]) -> list[str]:
    return [x["type"] for x in c.get("status", {}).get("conditions") or []]


def attached(path: str) -> bool:
    return any(lp.backing_file == path for lp in block.list_loops())


def events_of(o: Any, ns: str, name: str) -> list[tuple[str, str]]:
    out = get_json(o, "events", "-n", ns, "--field-selector", f"involvedObject.name={name}")
    return [(e["reason"], e["message"]) for e in out["items"]]


def test_ext4_data_survives_pods_and_grows_offline(orlop: Any, pool: tuple[str, str]) -> None:
    cls, pool_name = pool
    ns = unique("img")
    create_namespace(orlop, ns)
    orlop.kubectl("create", "-f", "-", input=dump(storage_class(cls, pool_name, "ext4")))
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(claim("data", cls)))
    c = bound_claim(orlop, ns, "data")
    pv = get_json(orlop, "pv", c["spec"]["volumeName"])
    path = pv["spec"]["csi"]["volumeAttributes"]["path"]
    assert path == os.path.join(orlop.data_dir, "images", pool_name, f"pvc-{c['metadata']['uid']}.img")
    assert os.path.getsize(path) == GiB and uuid_of(path) == ""          # not formatted before first use

    run_pod(orlop, ns, "writer", "data")
    uuid = uuid_of(path)
    assert uuid
    orlop.kubectl("exec", "writer", "-n", ns, "--", "sh", "-c", "echo hello from writer > /data/f")
    assert 900_000 < df_kib(orlop, ns, "writer") < 1_048_576

    # Grow while mounted: ext4 cannot grow online here, so the claim waits for the pod to be recreated.
    orlop.kubectl("patch", "pvc", "data", "-n", ns, "-p", '{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}')
    wait_until(lambda: "FileSystemResizePending" in conditions(get_json(orlop, "pvc", "data", "-n", ns))
               or get_json(orlop, "pvc", "data", "-n", ns)["status"]["capacity"]["storage"] == "2Gi", 30,
               "the claim to wait for the node (or be grown online)")
    c = get_json(orlop, "pvc", "data", "-n", ns)
    online = c["status"]["capacity"]["storage"] == "2Gi"
    assert os.path.getsize(path) == 2 * GiB
    assert get_json(orlop, "pv", pv["metadata"]["name"])["spec"]["capacity"]["storage"] == "2Gi"
    if not online:
        assert c["status"]["capacity"]["storage"] == "1Gi"
        assert df_kib(orlop, ns, "writer") < 1_048_576
        out = orlop.kubectl("get", "pvc", "data", "-n", ns).stdout
        assert "1Gi" in out.splitlines()[1]

    orlop.kubectl("delete", "pod", "writer", "-n", ns, "--timeout=60s", timeout=70)
    assert not attached(path)                                            # last user gone: unmounted, detached
    run_pod(orlop, ns, "reader", "data")
    assert orlop.kubectl("exec", "reader", "-n", ns, "--", "cat", "/data/f").stdout == "hello from writer\n"
    wait_until(lambda: get_json(orlop, "pvc", "data", "-n", ns)["status"]["capacity"]["storage"] == "2Gi", 30,
               "the claim's capacity to become 2Gi")
    c = get_json(orlop, "pvc", "data", "-n", ns)
    assert "FileSystemResizePending" not in conditions(c) and "Resizing" not in conditions(c)
    assert 1_900_000 < df_kib(orlop, ns, "reader") <= 2_097_152
    assert uuid_of(path) == uuid                                         # formatted exactly once
    if not online:
        assert any(r == "FileSystemResizeSuccessful" and pv["metadata"]["name"] in m
                   for r, m in events_of(orlop, ns, "data"))

    orlop.kubectl("delete", "namespace", ns, "--timeout=90s", timeout=100)
    wait_until(lambda: orlop.kubectl("get", "pv", pv["metadata"]["name"], check=False).returncode != 0, 30,
               "the PV to be deleted")
    assert not os.path.exists(path) and not attached(path)
    assert not mounts.mount_points(os.path.join(orlop.data_dir, "node", "plugins"))


def test_xfs_grows_online_in_a_running_pod(orlop: Any, pool: tuple[str, str]) -> None:
    cls, pool_name = pool
    ns = unique("imgx")
    create_namespace(orlop, ns)
    orlop.kubectl("create", "-f", "-", input=dump(storage_class(cls, pool_name, "xfs")))
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(claim("data", cls)))
    pv_name = bound_claim(orlop, ns, "data")["spec"]["volumeName"]
    path = get_json(orlop, "pv", pv_name)["spec"]["csi"]["volumeAttributes"]["path"]
    run_pod(orlop, ns, "app", "data")
    before = get_json(orlop, "pod", "app", "-n", ns)
    orlop.kubectl("exec", "app", "-n", ns, "--", "sh", "-c", "echo kept > /data/f")
    small = df_kib(orlop, ns, "app")
    assert small < 1_048_576
    orlop.kubectl("patch", "pvc", "data", "-n", ns, "-p", '{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}')
    wait_until(lambda: get_json(orlop, "pvc", "data", "-n", ns)["status"]["capacity"]["storage"] == "2Gi", 30,
               "the claim's capacity to become 2Gi without a restart")
    c = get_json(orlop, "pvc", "data", "-n", ns)
    assert "FileSystemResizePending" not in conditions(c) and "Resizing" not in conditions(c)
    # Kubernetes 1.32's end state: no resize status, the allocated size kept, and the PV's
    # pre-resize-capacity annotation (set while the node was on it) dropped again.
    assert "allocatedResourceStatuses" not in c["status"] and c["status"]["allocatedResources"] == {"storage": "2Gi"}
    wait_until(lambda: "volume.alpha.kubernetes.io/pre-resize-capacity" not in
               (get_json(orlop, "pv", pv_name)["metadata"].get("annotations") or {}), 30,
               "the PV's pre-resize-capacity annotation to go")
    assert df_kib(orlop, ns, "app") > small + 1_000_000                 # the same pod sees it
    after = get_json(orlop, "pod", "app", "-n", ns)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["status"]["containerStatuses"][0]["restartCount"] == 0
    assert orlop.kubectl("exec", "app", "-n", ns, "--", "cat", "/data/f").stdout == "kept\n"
    reasons = [r for r, m in events_of(orlop, ns, "data") if pv_name in m]
    assert "FileSystemResizeSuccessful" in reasons
    orlop.kubectl("delete", "namespace", ns, "--timeout=90s", timeout=100)
    wait_until(lambda: not os.path.exists(path), 30, "the image to be deleted")
    assert not attached(path)


def test_block_mode_claim_is_a_device_in_the_pod(orlop: Any, pool: tuple[str, str]) -> None:
    cls, pool_name = pool
    ns = unique("imgb")
    create_namespace(orlop, ns)
    orlop.kubectl("create", "-f", "-", input=dump(storage_class(cls, pool_name, "ext4")))
    raw = claim("raw", cls, "16Mi")
    raw["spec"]["volumeMode"] = "Block"
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(raw))
    pv = get_json(orlop, "pv", bound_claim(orlop, ns, "raw")["spec"]["volumeName"])
    assert pv["spec"]["volumeMode"] == "Block" and "fsType" not in pv["spec"]["csi"]
    path = pv["spec"]["csi"]["volumeAttributes"]["path"]
    for name in ("one", "two"):
        p = pod(name, "raw")
        c = p["spec"]["containers"][0]
        del c["volumeMounts"]
        c["volumeDevices"] = [{"name": "data", "devicePath": "/block/xvda"}]
        orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(p))
        wait_pod_ready(orlop, ns, name, 60)
        size = orlop.kubectl("exec", name, "-n", ns, "--", "blockdev", "--getsize64", "/block/xvda").stdout
        assert size.strip() == str(16 << 20)
        if name == "one":
            orlop.kubectl("exec", name, "-n", ns, "--", "sh", "-c", "printf raw-bytes > /block/xvda")
        else:
            out = orlop.kubectl("exec", name, "-n", ns, "--", "head", "-c", "9", "/block/xvda").stdout
            assert out == "raw-bytes"
        orlop.kubectl("delete", "pod", name, "-n", ns, "--timeout=60s", timeout=70)
    with open(path, "rb") as f:
        assert f.read(9) == b"raw-bytes" and uuid_of(path) == ""       # never formatted
    assert not attached(path)
    orlop.kubectl("delete", "namespace", ns, "--timeout=90s", timeout=100)
    wait_until(lambda: not os.path.exists(path), 30, "the image to be deleted")


def test_kill_9_while_provisioning_leaves_one_image_per_claim(fresh_orlop: Any) -> None:
    o = fresh_orlop
    o.kubectl("create", "-f", "-", input=dump(storage_class("image", "crash", "ext4")))
    claims = dump(*(claim(f"c{i:02d}", "image", "64Mi") for i in range(50)))
    pool_dir = os.path.join(o.data_dir, "images", "crash")
    env = {**os.environ, "KUBECONFIG": o.kubeconfig}
    creating = subprocess.Popen(["kubectl", f"--cache-dir={o.cache_dir}", "create", "-f", "-"], env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    try:
        assert creating.stdin is not None
        creating.stdin.write(claims)
        creating.stdin.close()
        # Kill -9 as soon as the first images appear: claims are still being created and provisioned.
        wait_until(lambda: os.path.isdir(pool_dir) and len(os.listdir(pool_dir)) > 0, 30, "the first image",
                   interval=0.002)
        o.stop(signal.SIGKILL)
        at_kill = len(os.listdir(pool_dir))
        creating.wait(30)
        o.start()
        o.kubectl("create", "-f", "-", input=claims, check=False)      # the ones the kill interrupted
        wait_until(lambda: len(get_json(o, "pvc")["items"]) == 50 and all(
            c.get("status", {}).get("phase") == "Bound" for c in get_json(o, "pvc")["items"]), 60,
            f"every claim to be Bound after the restart ({at_kill} images at the kill)")
        uids = {c["metadata"]["uid"] for c in get_json(o, "pvc")["items"]}
        assert sorted(os.listdir(pool_dir)) == sorted(f"pvc-{u}.img" for u in uids)
        pvs = get_json(o, "pv")["items"]
        assert sorted(p["spec"]["csi"]["volumeHandle"] for p in pvs) == sorted(f"crash/pvc-{u}" for u in uids)
        o.kubectl("delete", "pvc", "--all", "--timeout=60s", timeout=70)
        wait_until(lambda: not get_json(o, "pv")["items"], 60, "every PV to be deleted")
        assert os.listdir(pool_dir) == []
    finally:
        if creating.poll() is None:
            creating.kill()
            creating.wait()
        if os.path.isdir(pool_dir):
            block.detach_under(pool_dir)


def test_failed_mount_says_what_is_missing(orlop: Any) -> None:
    """A static image PV whose file is missing: the pod waits with kubelet's FailedMount naming the file."""
    ns = unique("imgm")
    create_namespace(orlop, ns)
    pv_name = unique("img-pv")
    missing = os.path.join(orlop.data_dir, "images", "nowhere", f"{pv_name}.img")
    pv = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": pv_name},
          "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "",
                   "persistentVolumeReclaimPolicy": "Retain", "claimRef": {"namespace": ns, "name": "data"},
                   "csi": {"driver": "image.orlop.io", "volumeHandle": "nowhere/x", "fsType": "ext4",
                           "volumeAttributes": {"path": missing}}}}
    orlop.kubectl("create", "-f", "-", input=json.dumps(pv))
    c = claim("data", "")
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(c))
    bound_claim(orlop, ns, "data")
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(pod("p", "data")))
    want = f'MountVolume.MountDevice failed for volume "{pv_name}" : image {missing} of volume {pv_name} does ' \
           "not exist on this node"
    wait_until(lambda: ("FailedMount", want) in events_of(orlop, ns, "p"), 30, "the FailedMount event")
    assert get_json(orlop, "pod", "p", "-n", ns)["status"]["phase"] == "Pending"
    orlop.kubectl("delete", "namespace", ns, "--timeout=90s", timeout=100)
    orlop.kubectl("delete", "pv", pv_name)
    assert not glob.glob(missing)
