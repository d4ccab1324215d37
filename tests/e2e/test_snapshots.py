"""Volume snapshots end to end: the real kubectl against ``orlop up``.

Why this exists: snapshot.storage.k8s.io and orlop.io/SnapshotSchedule are custom resources
to kubectl, so what it prints and sends is decided by discovery, the OpenAPI documents and the
server's tables; and a snapshot is only right if a claim restored from it holds the data of
the snapshot's moment (later writes to the source not seen), a clone holds the source's data,
and a schedule takes and prunes snapshots on its own.  The data tests use the real
``orlop.io/image`` driver and the process runtime (root: loop devices and mounts).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from helpers import create_namespace, get_json, parse_table, unique, wait_pod_ready, wait_until

V1 = "snapshot.storage.k8s.io/v1"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="loop devices, mounts and the process runtime need root")


def dump(*objs: dict[str, Any]) -> str:
    return yaml.safe_dump_all(objs)


def image_class(name: str) -> dict[str, Any]:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
            "provisioner": "orlop.io/image", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate",
            "parameters": {"pool": name, "fsType": "ext4"}}


def snapshot_class(name: str, policy: str = "Delete", default: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if default:
        meta["annotations"] = {"snapshot.storage.kubernetes.io/is-default-class": "true"}
    return {"apiVersion": V1, "kind": "VolumeSnapshotClass", "metadata": meta, "driver": "orlop.io/image",
            "deletionPolicy": policy}


def claim(name: str, cls: str, size: str = "1Gi", source: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "storageClassName": cls,
                            "resources": {"requests": {"storage": size}}}
    if source:
        spec["dataSource"] = source
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": spec}


def snapshot(name: str, claim_name: str, cls: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"source": {"persistentVolumeClaimName": claim_name}}
    if cls:
        spec["volumeSnapshotClassName"] = cls
    return {"apiVersion": V1, "kind": "VolumeSnapshot", "metadata": {"name": name}, "spec": spec}


def pod(name: str, claim_name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 2,
                     "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "100000"],
                                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                     "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}]}}


@pytest.fixture
def ns(orlop: Any) -> Iterator[str]:
    name = unique("snap")
    create_namespace(orlop, name)
    yield name
    orlop.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def classes(orlop: Any) -> Iterator[tuple[str, str]]:
    """(StorageClass, VolumeSnapshotClass) of the image driver, with a pool of their own."""
    name = unique("snapimg")
    orlop.kubectl("create", "-f", "-", input=dump(image_class(name), snapshot_class(name)))
    yield name, name
    pool_dir = os.path.join(orlop.data_dir, "images", name)
    if os.path.isdir(pool_dir):
        from orlop.node import block
        block.detach_under(pool_dir)
    orlop.kubectl("delete", "volumesnapshotclass,storageclass", name, "--ignore-not-found", check=False)


def bound(o: Any, ns: str, name: str) -> dict[str, Any]:
    wait_until(lambda: get_json(o, "pvc", name, "-n", ns).get("status", {}).get("phase") == "Bound", 60,
               f"claim {name} to be Bound")
    return get_json(o, "pvc", name, "-n", ns)


def ready(o: Any, ns: str, name: str, timeout: float = 60) -> dict[str, Any]:
    wait_until(lambda: get_json(o, "volumesnapshot", name, "-n", ns).get("status", {}).get("readyToUse") is True,
               timeout, f"snapshot {name} to be ready")
    return get_json(o, "volumesnapshot", name, "-n", ns)


def run_pod(o: Any, ns: str, name: str, claim_name: str) -> None:
    o.kubectl("create", "-n", ns, "-f", "-", input=dump(pod(name, claim_name)))
    wait_pod_ready(o, ns, name, 60)


def test_kinds_columns_and_errors(orlop: Any, ns: str) -> None:
    cls = unique("vsc")
    orlop.kubectl("create", "-f", "-", input=dump(snapshot_class(cls, policy="Retain", default=True)))
    try:
        header, rows = parse_table(orlop.kubectl("get", "vsclass", cls).stdout)
        assert header == ["NAME", "DRIVER", "DELETIONPOLICY", "AGE"]
        assert rows[0]["NAME"] == cls and rows[0]["DRIVER"] == "orlop.io/image"
        assert rows[0]["DELETIONPOLICY"] == "Retain"

        orlop.kubectl("apply", "-n", ns, "-f", "-", input=dump(snapshot("s1", "nope", cls)))
        orlop.kubectl("apply", "-n", ns, "-f", "-", input=dump(snapshot("s1", "nope", cls)))   # unchanged
        header, rows = parse_table(orlop.kubectl("get", "volumesnapshot", "-n", ns).stdout)
        assert header == ["NAME", "READYTOUSE", "SOURCEPVC", "SOURCESNAPSHOTCONTENT", "RESTORESIZE",
                          "SNAPSHOTCLASS", "SNAPSHOTCONTENT", "CREATIONTIME", "AGE"]
        assert rows[0]["NAME"] == "s1" and rows[0]["SOURCEPVC"] == "nope" and rows[0]["SNAPSHOTCLASS"] == cls
        assert rows[0]["SOURCESNAPSHOTCONTENT"] == ""          # null cells print as blanks
        # The claim does not exist: the snapshot says so in its status and events.
        wait_until(lambda: "error" in get_json(orlop, "vs", "s1", "-n", ns).get("status", {}), 30, "status.error")
        described = orlop.kubectl("describe", "volumesnapshot", "s1", "-n", ns).stdout
        assert re.search(r"^Kind:\s+VolumeSnapshot$", described, re.M)
        assert "SnapshotContentCreationFailed" in described
        assert 'failed to retrieve PVC nope from the lister' in described

        cp = orlop.kubectl("get", "volumesnapshot", "nothere", "-n", ns, check=False)
        assert cp.returncode != 0
        assert cp.stderr.strip() == ('Error from server (NotFound): volumesnapshots.snapshot.storage.k8s.io '
                                     '"nothere" not found')
        bad = snapshot("bad", "a")
        bad["spec"]["source"]["volumeSnapshotContentName"] = "b"
        cp = orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(bad), check=False)
        assert cp.returncode != 0
        assert ('spec.source: Invalid value: "object": exactly one of volumeSnapshotContentName and '
                'persistentVolumeClaimName must be set') in cp.stderr
        cp = orlop.kubectl("patch", "vs", "s1", "-n", ns, "-p", '{"spec":{"source":{"persistentVolumeClaimName":'
                                                                '"other"}}}', "--type", "merge", check=False)
        assert "Spec.Source.PersistentVolumeClaimName is immutable" in cp.stderr
        cp = orlop.kubectl("patch", "vs", "s1", "-n", ns, "-p", '{"metadata":{"labels":{"a":"b"}}}', check=False)
        assert "UnsupportedMediaType" in cp.stderr or "unknown format" in cp.stderr
        orlop.kubectl("label", "vs", "s1", "-n", ns, "team=db")
        assert get_json(orlop, "vs", "s1", "-n", ns)["metadata"]["labels"] == {"team": "db"}
        cp = orlop.kubectl("create", "-f", "-", input=dump({**snapshot_class("x"), "deletionPolicy": "Keep"}),
                           check=False)
        assert 'Unsupported value: "Keep": supported values: "Delete", "Retain"' in cp.stderr
        explained = orlop.kubectl("explain", "volumesnapshot.spec.source").stdout
        assert "persistentVolumeClaimName" in explained
        # A pre-provisioned content (Retain) named by no snapshot yet.
        orlop.kubectl("create", "-f", "-", input=dump({
            "apiVersion": V1, "kind": "VolumeSnapshotContent", "metadata": {"name": cls},
            "spec": {"deletionPolicy": "Retain", "driver": "orlop.io/image",
                     "source": {"snapshotHandle": "default/snapshots/imported"},
                     "volumeSnapshotRef": {"name": "imported", "namespace": ns}}}))
        header, rows = parse_table(orlop.kubectl("get", "volumesnapshotcontent", cls).stdout)
        assert header == ["NAME", "READYTOUSE", "RESTORESIZE", "DELETIONPOLICY", "DRIVER", "VOLUMESNAPSHOTCLASS",
                          "VOLUMESNAPSHOT", "VOLUMESNAPSHOTNAMESPACE", "AGE"]
        assert (rows[0]["DELETIONPOLICY"], rows[0]["VOLUMESNAPSHOT"], rows[0]["VOLUMESNAPSHOTNAMESPACE"]) == (
            "Retain", "imported", ns)
        cp = orlop.kubectl("get", "vsc", "nothere", check=False)
        assert cp.stderr.strip() == ('Error from server (NotFound): volumesnapshotcontents.snapshot.storage.k8s.io '
                                     '"nothere" not found')
        orlop.kubectl("delete", "vsc", cls, "--timeout=30s")
        orlop.kubectl("delete", "vs", "s1", "-n", ns, "--timeout=30s")
    finally:
        orlop.kubectl("delete", "vsclass", cls, "--ignore-not-found", check=False)


def test_schedule_takes_and_prunes(orlop: Any, ns: str, classes: tuple[str, str]) -> None:
    sc, vsc = classes
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(claim("data", sc)))
    bound(orlop, ns, "data")
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump({
        "apiVersion": "orlop.io/v1alpha1", "kind": "SnapshotSchedule", "metadata": {"name": "often"},
        "spec": {"claimNames": ["data"], "interval": "2s", "keep": 2, "snapshotClassName": vsc}}))
    seen: set[str] = set()

    def listed() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = get_json(orlop, "vs", "-n", ns, "-l", "orlop.io/snapshot-schedule=often")["items"]
        seen.update(s["metadata"]["name"] for s in items)
        return items
    wait_until(lambda: len({*seen, *(s["metadata"]["name"] for s in listed())}) >= 4, 40, "four scheduled snapshots")
    assert all(re.fullmatch(r"often-data-\d{14}", n) for n in seen)
    wait_until(lambda: len([s for s in listed() if not s["metadata"].get("deletionTimestamp")]) <= 2, 20,
               "pruning to keep")
    header, rows = parse_table(orlop.kubectl("get", "snapshotschedules", "-n", ns).stdout)
    assert header == ["NAME", "INTERVAL", "KEEP", "LAST RUN", "NEXT RUN", "AGE"]
    assert rows[0]["NAME"] == "often" and rows[0]["INTERVAL"] == "2s" and rows[0]["KEEP"] == "2"
    assert re.fullmatch(r"\d+s", rows[0]["LAST RUN"]) and rows[0]["NEXT RUN"].endswith("Z")
    orlop.kubectl("delete", "snapshotschedule", "often", "-n", ns)
    # The schedule's snapshots are its dependents: the garbage collector removes them.
    wait_until(lambda: not listed(), 60, "the schedule's snapshots to go with it")


@needs_root
def test_restore_and_clone_hold_the_right_data(orlop: Any, ns: str, classes: tuple[str, str]) -> None:
    sc, vsc = classes
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(claim("data", sc)))
    bound(orlop, ns, "data")
    run_pod(orlop, ns, "writer", "data")
    orlop.kubectl("exec", "writer", "-n", ns, "--", "sh", "-c", "echo before > /data/f")
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(snapshot("snap1", "data", vsc)))
    vs = ready(orlop, ns, "snap1")
    orlop.kubectl("exec", "writer", "-n", ns, "--", "sh", "-c", "echo after > /data/f")    # later writes

    header, rows = parse_table(orlop.kubectl("get", "vs", "snap1", "-n", ns).stdout)
    content_name = f"snapcontent-{vs['metadata']['uid']}"
    assert (rows[0]["READYTOUSE"], rows[0]["SOURCEPVC"], rows[0]["RESTORESIZE"], rows[0]["SNAPSHOTCLASS"],
            rows[0]["SNAPSHOTCONTENT"]) == ("true", "data", "1Gi", vsc, content_name)
    _, rows = parse_table(orlop.kubectl("get", "vsc", content_name).stdout)
    assert (rows[0]["READYTOUSE"], rows[0]["RESTORESIZE"], rows[0]["DELETIONPOLICY"], rows[0]["DRIVER"],
            rows[0]["VOLUMESNAPSHOT"], rows[0]["VOLUMESNAPSHOTNAMESPACE"]) == (
        "true", str(1 << 30), "Delete", "orlop.io/image", "snap1", ns)
    described = orlop.kubectl("describe", "vs", "snap1", "-n", ns).stdout
    for reason in ("CreatingSnapshot", "SnapshotCreated", "SnapshotReady"):
        assert reason in described

    snap_source = {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "snap1"}
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(
        claim("restored", sc, source=snap_source), claim("cloned", sc, source={"kind": "PersistentVolumeClaim",
                                                                              "name": "data"}),
        claim("too-small", sc, size="512Mi", source=snap_source)))
    bound(orlop, ns, "restored")
    bound(orlop, ns, "cloned")
    run_pod(orlop, ns, "restore-reader", "restored")
    run_pod(orlop, ns, "clone-reader", "cloned")
    assert orlop.kubectl("exec", "restore-reader", "-n", ns, "--", "cat", "/data/f").stdout == "before\n"
    assert orlop.kubectl("exec", "clone-reader", "-n", ns, "--", "cat", "/data/f").stdout == "after\n"
    wait_until(lambda: "is less than the size" in orlop.kubectl("describe", "pvc", "too-small", "-n", ns).stdout, 30,
               "the too-small restore to be refused")
    assert get_json(orlop, "pvc", "too-small", "-n", ns)["status"]["phase"] == "Pending"

    handle = get_json(orlop, "vsc", content_name)["status"]["snapshotHandle"]
    snap_file = os.path.join(orlop.data_dir, "images", handle + ".img")
    assert os.path.exists(snap_file)
    orlop.kubectl("delete", "pvc", "too-small", "-n", ns)
    orlop.kubectl("delete", "vs", "snap1", "-n", ns, "--timeout=60s", timeout=70)
    wait_until(lambda: orlop.kubectl("get", "vsc", content_name, check=False).returncode != 0, 30,
               "the content to be deleted")
    assert not os.path.exists(snap_file)
    orlop.kubectl("delete", "pod", "--all", "-n", ns, "--timeout=60s", timeout=70)
    orlop.kubectl("delete", "pvc", "--all", "-n", ns, "--timeout=60s", timeout=70)
