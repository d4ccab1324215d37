"""Storage flows end to end: the real kubectl against ``orlop up``, outcomes seen in the API and on disk.

Why this exists: issue 3's controllers (binding, dynamic provisioning on the default class
``local-path``, reclaim, protection, expansion) are what the seeds' notes walk through.
These tests follow those walks as a user would -- seed 000's task-pv-volume / task-pv-claim,
seed 002's class-less PV, a claim on the default class, Retain / Recycle / Delete, seed 000's
``kubectl patch pv ... Retain``, deleting a bound PV, growing volumes -- and check what
Kubernetes 1.32 (with a default StorageClass and the PV controller) would show, plus the
directory each volume really is under the server's data dir.

Each test has a server of its own (``fresh_orlop``): which PV a claim gets depends on every
PV in the cluster and on the default class, both cluster-wide.  Every wait is bounded.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
import yaml
from helpers import create_namespace, field_value, get_json, parse_table, unique

pytestmark = pytest.mark.e2e

MANIFESTS = os.path.join(os.path.dirname(__file__), "manifests")
DEFAULT_CLASS = "local-path"
PROVISIONER = "orlop.io/local-path"
WAIT = 30.0   # seconds any controller outcome may take (Kubernetes' own resync is 15 s)

T = TypeVar("T")


# ----------------------------------------------------------------------------------------
# helpers


def dump(*docs: dict[str, Any]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


def row(o: Any, *args: str) -> dict[str, str]:
    """The single row `kubectl get <args>` prints."""
    _, rows = parse_table(o.kubectl("get", *args).stdout)
    assert len(rows) == 1, rows
    return rows[0]


def describe_event_rows(out: str) -> list[list[str]]:
    """The rows of a describe output's Events table: Type, Reason, Age, From, Message."""
    events = out[out.index("Events:"):].splitlines()
    if events[0].strip() == "Events:  <none>" or len(events) < 3:
        return []
    assert events[1].split() == ["Type", "Reason", "Age", "From", "Message"], events
    return [re.split(r"\s{2,}", line.strip(), maxsplit=4) for line in events[3:] if line.strip()]


def events_of(o: Any, name: str, ns: str = "default") -> set[tuple[str, str, str]]:
    """(type, reason, message) of the events about an object (a PV's events live in "default")."""
    items = get_json(o, "events", "-n", ns, "--field-selector", f"involvedObject.name={name}")["items"]
    return {(e["type"], e["reason"], e["message"]) for e in items}


def wait_for(probe: Callable[[], T], what: str, timeout: float = WAIT, interval: float = 0.2) -> T:
    """Poll until ``probe()`` returns something truthy (returned); bounded."""
    deadline = time.monotonic() + timeout
    last: T = probe()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)
        last = probe()
    return last


def phase(o: Any, kind: str, name: str, ns: str | None = None) -> str:
    args = ["get", kind, name, "-o", "jsonpath={.status.phase}"] + (["-n", ns] if ns else [])
    cp = o.kubectl(*args, check=False)
    return cp.stdout if cp.returncode == 0 else f"<error: {cp.stderr.strip()}>"


def wait_phase(o: Any, kind: str, name: str, want: str, ns: str | None = None, timeout: float = WAIT) -> None:
    wait_for(lambda: phase(o, kind, name, ns) == want, f"{kind}/{name} to be {want} (is {phase(o, kind, name, ns)})",
             timeout)


def absent(o: Any, kind: str, name: str, ns: str | None = None) -> bool:
    cp = o.kubectl("get", kind, name, *(["-n", ns] if ns else []), check=False)
    return cp.returncode == 1 and "(NotFound)" in cp.stderr


def stays(observe: Callable[[], Any], want: Any, seconds: float, what: str) -> None:
    """``observe()`` equals ``want`` on every look for ``seconds`` (something must *not* happen)."""
    deadline = time.monotonic() + seconds
    while True:
        got = observe()
        assert got == want, f"{what}: want {want!r}, got {got!r}"
        if time.monotonic() > deadline:
            return
        time.sleep(0.25)


def hostpath_pv(name: str, path: str, *, storage: str = "10Gi", sc: str | None = "manual",
                policy: str | None = None, modes: tuple[str, ...] = ("ReadWriteOnce",),
                claim_ref: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"capacity": {"storage": storage}, "accessModes": list(modes), "hostPath": {"path": path}}
    if sc is not None:
        spec["storageClassName"] = sc
    if policy:
        spec["persistentVolumeReclaimPolicy"] = policy
    if claim_ref:
        spec["claimRef"] = claim_ref
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name}, "spec": spec}


def claim(name: str, storage: str = "1Gi", sc: str | None = None, ns: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}}
    if sc is not None:
        spec["storageClassName"] = sc
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec}


def create(o: Any, *docs: dict[str, Any]) -> None:
    o.kubectl("create", "-f", "-", input=dump(*docs))


def provisioned_dir(o: Any, pv: dict[str, Any], ns: str, claim_name: str) -> str:
    """The local-path directory of a provisioned PV: <data dir>/volumes/<pv>_<namespace>_<claim>."""
    want = os.path.join(o.data_dir, "volumes", f"{pv['metadata']['name']}_{ns}_{claim_name}")
    path = pv["spec"]["hostPath"]["path"]
    assert os.path.realpath(path) == os.path.realpath(want), (path, want)
    return str(path)


def bound_claim(o: Any, name: str, ns: str = "default", **kw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Create a claim, wait until Bound; (claim, its PV)."""
    create(o, claim(name, ns=ns, **kw))
    wait_phase(o, "pvc", name, "Bound", ns)
    c = get_json(o, "pvc", name, "-n", ns)
    return c, get_json(o, "pv", c["spec"]["volumeName"])


@pytest.fixture
def tmp_dir() -> Iterator[str]:
    """A directory directly under /tmp (the hostPath deleter only deletes /tmp/.+ paths)."""
    path = tempfile.mkdtemp(prefix="orlop-e2e-", dir="/tmp")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ----------------------------------------------------------------------------------------
# binding: seed 000 and seed 002


def test_seed000_task_pv_volume_binds_task_pv_claim(fresh_orlop: Any) -> None:
    """Seed 000: a 10Gi hostPath PV of class manual, then a 3Gi claim of class manual -> Bound to it;
    the claim's capacity is the PV's (10Gi), not the request."""
    o = fresh_orlop
    out = o.kubectl("create", "-f", os.path.join(MANIFESTS, "seed000-task-pv-volume.yaml"))
    assert out.stdout == "persistentvolume/task-pv-volume created\n"
    wait_phase(o, "pv", "task-pv-volume", "Available")
    r = row(o, "pv", "task-pv-volume")
    assert {k: r[k] for k in ("CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS")} == {
        "CAPACITY": "10Gi", "ACCESS MODES": "RWO", "RECLAIM POLICY": "Retain", "STATUS": "Available", "CLAIM": "",
        "STORAGECLASS": "manual"}

    out = o.kubectl("create", "-f", os.path.join(MANIFESTS, "seed000-task-pv-claim.yaml"))
    assert out.stdout == "persistentvolumeclaim/task-pv-claim created\n"
    wait_phase(o, "pvc", "task-pv-claim", "Bound")

    r = row(o, "pvc", "task-pv-claim")
    assert {k: r[k] for k in ("STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS")} == {
        "STATUS": "Bound", "VOLUME": "task-pv-volume", "CAPACITY": "10Gi", "ACCESS MODES": "RWO",
        "STORAGECLASS": "manual"}
    r = row(o, "pv", "task-pv-volume")
    assert (r["STATUS"], r["CLAIM"], r["CAPACITY"]) == ("Bound", "default/task-pv-claim", "10Gi")

    c = get_json(o, "pvc", "task-pv-claim")
    pv = get_json(o, "pv", "task-pv-volume")
    # The controller chose the volume: both annotations; no provisioner annotation (nothing provisioned).
    assert c["metadata"]["annotations"] == {"pv.kubernetes.io/bind-completed": "yes",
                                            "pv.kubernetes.io/bound-by-controller": "yes"}
    assert c["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    assert c["spec"]["volumeName"] == "task-pv-volume"
    assert c["status"] == {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"}}
    ref = pv["spec"]["claimRef"]
    assert {k: ref[k] for k in ("kind", "apiVersion", "namespace", "name", "uid")} == {
        "kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": "default", "name": "task-pv-claim",
        "uid": c["metadata"]["uid"]}
    assert ref["resourceVersion"]
    assert pv["metadata"]["annotations"] == {"pv.kubernetes.io/bound-by-controller": "yes"}
    assert pv["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]
    assert pv["status"]["phase"] == "Bound"

    # Binding an existing volume emits no event (measured on Kubernetes: `describe pvc` Events: <none>).
    out = o.kubectl("describe", "pvc", "task-pv-claim").stdout
    assert (field_value(out, "Status"), field_value(out, "Volume"), field_value(out, "Capacity")) == (
        "Bound", "task-pv-volume", "10Gi")
    assert field_value(out, "Events") == "<none>", out
    # The seed's Pod names the claim: describe says who uses it.
    o.kubectl("create", "-f", os.path.join(MANIFESTS, "seed000-task-pv-pod.yaml"))
    assert field_value(o.kubectl("describe", "pvc", "task-pv-claim").stdout, "Used By") == "task-pv-pod"


def test_seed002_pv_volume_and_pv_claim(fresh_orlop: Any) -> None:
    """Seed 002's pv-volume has no class.  Its pv-claim as written names no class either, so the
    DefaultStorageClass admission gives it local-path and it is provisioned, leaving pv-volume alone;
    the same claim with storageClassName "" (no class, explicitly) binds pv-volume."""
    o = fresh_orlop
    o.kubectl("create", "-f", os.path.join(MANIFESTS, "seed002-pv-volume.yaml"))
    wait_phase(o, "pv", "pv-volume", "Available")
    for ns in ("as-written", "no-class"):
        create(o, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

    out = o.kubectl("create", "-n", "as-written", "-f", os.path.join(MANIFESTS, "seed002-pv-claim.yaml"))
    assert out.stdout == "persistentvolumeclaim/pv-claim created\n"
    wait_phase(o, "pvc", "pv-claim", "Bound", "as-written")
    c = get_json(o, "pvc", "pv-claim", "-n", "as-written")
    assert c["spec"]["storageClassName"] == DEFAULT_CLASS
    assert c["spec"]["volumeName"] == f"pvc-{c['metadata']['uid']}"
    assert phase(o, "pv", "pv-volume") == "Available"

    with open(os.path.join(MANIFESTS, "seed002-pv-claim.yaml")) as f:
        doc = yaml.safe_load(f)
    doc["spec"]["storageClassName"] = ""
    o.kubectl("create", "-n", "no-class", "-f", "-", input=dump(doc))
    wait_phase(o, "pvc", "pv-claim", "Bound", "no-class")
    r = row(o, "pvc", "pv-claim", "-n", "no-class")
    assert {k: r[k] for k in ("STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS")} == {
        "STATUS": "Bound", "VOLUME": "pv-volume", "CAPACITY": "10Gi", "ACCESS MODES": "RWO", "STORAGECLASS": ""}
    r = row(o, "pv", "pv-volume")
    assert (r["STATUS"], r["CLAIM"], r["STORAGECLASS"]) == ("Bound", "no-class/pv-claim", "")
    c = get_json(o, "pvc", "pv-claim", "-n", "no-class")
    assert c["spec"]["storageClassName"] == ""
    assert c["status"]["capacity"] == {"storage": "10Gi"}


@pytest.mark.parametrize("args", [(), ("--event-loop", "asyncio"), ("--event-loop", "uvloop")],
                         ids=["default", "asyncio", "uvloop"])
def test_up_binds_provisions_and_deletes_on_either_event_loop(tmp_path: Any, args: tuple[str, ...]) -> None:
    """`orlop up` runs on uvloop unless told otherwise (libuv's loop is in the process), and on
    either loop binds a static pair, provisions a directory and deletes it with its claim."""
    from conftest import _new_orlop, reap_containers
    o = _new_orlop(str(tmp_path), *args)
    try:
        assert o.proc is not None
        with open(f"/proc/{o.proc.pid}/maps") as f:
            uvloop_mapped = "/uvloop/" in f.read()
        assert uvloop_mapped == (args != ("--event-loop", "asyncio"))
        o.kubectl("create", "-f", os.path.join(MANIFESTS, "seed000-task-pv-volume.yaml"))
        o.kubectl("create", "-f", os.path.join(MANIFESTS, "seed000-task-pv-claim.yaml"))
        wait_phase(o, "pvc", "task-pv-claim", "Bound")
        assert row(o, "pvc", "task-pv-claim")["VOLUME"] == "task-pv-volume"
        c, pv = bound_claim(o, "data")
        path = provisioned_dir(o, pv, "default", "data")
        assert os.path.isdir(path)
        o.kubectl("delete", "pvc", "data", "--timeout=30s", timeout=60)
        wait_for(lambda: absent(o, "pv", pv["metadata"]["name"]), "the provisioned PV to be deleted")
        assert not os.path.exists(path)
    finally:
        o.stop()
        reap_containers(o.data_dir)


# ----------------------------------------------------------------------------------------
# dynamic provisioning and reclaim, observed on disk


def test_default_class_provisions_a_directory_deleted_with_the_claim(fresh_orlop: Any) -> None:
    """A claim with no class gets local-path; the volume is a real directory under <data dir>/volumes,
    and reclaim policy Delete removes the directory, then the PV, once the claim is deleted."""
    o = fresh_orlop
    c, pv = bound_claim(o, "data")
    uid = c["metadata"]["uid"]
    name = f"pvc-{uid}"
    assert c["spec"]["storageClassName"] == DEFAULT_CLASS
    assert c["spec"]["volumeName"] == name
    annotations = c["metadata"]["annotations"]
    assert {k: annotations.get(k) for k in ("pv.kubernetes.io/bind-completed", "pv.kubernetes.io/bound-by-controller",
                                            "volume.kubernetes.io/storage-provisioner",
                                            "volume.beta.kubernetes.io/storage-provisioner")} == {
        "pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
        "volume.kubernetes.io/storage-provisioner": PROVISIONER,
        "volume.beta.kubernetes.io/storage-provisioner": PROVISIONER}
    assert c["status"] == {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}

    assert pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == PROVISIONER
    assert "kubernetes.io/pv-protection" in pv["metadata"]["finalizers"]
    assert pv["spec"]["storageClassName"] == DEFAULT_CLASS
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    assert pv["spec"]["capacity"] == {"storage": "1Gi"}
    assert pv["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert (pv["spec"]["claimRef"]["name"], pv["spec"]["claimRef"]["uid"]) == ("data", uid)
    r = row(o, "pv", name)
    assert {k: r[k] for k in ("CAPACITY", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS")} == {
        "CAPACITY": "1Gi", "RECLAIM POLICY": "Delete", "STATUS": "Bound", "CLAIM": "default/data",
        "STORAGECLASS": DEFAULT_CLASS}
    assert any(t == "Normal" and reason == "ProvisioningSucceeded" and msg.startswith(f"Successfully provisioned "
                                                                                      f"volume {name}")
               for t, reason, msg in events_of(o, "data")), events_of(o, "data")

    path = provisioned_dir(o, pv, "default", "data")
    assert pv["spec"]["hostPath"].get("type") == "DirectoryOrCreate"
    assert os.path.isdir(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o777   # writable by a pod of any user, as local-path
    with open(os.path.join(path, "written-by-a-pod"), "w") as f:
        f.write("data")

    assert o.kubectl("delete", "pvc", "data", "--timeout=30s", timeout=60).stdout == \
        'persistentvolumeclaim "data" deleted\n'
    wait_for(lambda: absent(o, "pv", name), f"PV {name} to be deleted")
    assert not os.path.exists(path)


def test_retain_keeps_the_data_until_the_admin_frees_the_volume(fresh_orlop: Any, tmp_dir: str) -> None:
    """Retain: the claim goes, the PV is Released and keeps its claimRef and its data; removing the
    claimRef (as Kubernetes documents) makes it Available, and a new claim binds it, data intact."""
    o = fresh_orlop
    data = os.path.join(tmp_dir, "retained")
    os.mkdir(data)
    with open(os.path.join(data, "keep.txt"), "w") as f:
        f.write("precious")
    create(o, hostpath_pv("retain-pv", data, storage="5Gi", policy="Retain"))
    wait_phase(o, "pv", "retain-pv", "Available")
    bound_claim(o, "first", sc="manual")
    assert o.kubectl("delete", "pvc", "first", "--timeout=30s", timeout=60).returncode == 0

    wait_phase(o, "pv", "retain-pv", "Released")
    r = row(o, "pv", "retain-pv")
    assert (r["STATUS"], r["CLAIM"], r["RECLAIM POLICY"]) == ("Released", "default/first", "Retain")
    stays(lambda: (phase(o, "pv", "retain-pv"), os.path.isfile(os.path.join(data, "keep.txt"))), ("Released", True),
          2, "a Retain volume stays Released with its data (phase, file kept)")
    # A Released volume is not offered to new claims.
    create(o, claim("second", sc="manual"))
    stays(lambda: phase(o, "pvc", "second", "default"), "Pending", 2, "no claim binds a Released volume")

    out = o.kubectl("patch", "pv", "retain-pv", "--type", "json", "-p", '[{"op":"remove","path":"/spec/claimRef"}]')
    assert out.stdout == "persistentvolume/retain-pv patched\n"
    # Available again, and the waiting claim gets it.
    wait_phase(o, "pvc", "second", "Bound", "default")
    assert get_json(o, "pvc", "second")["spec"]["volumeName"] == "retain-pv"
    assert row(o, "pv", "retain-pv")["CLAIM"] == "default/second"
    with open(os.path.join(data, "keep.txt")) as f:
        assert f.read() == "precious"


def test_retain_volume_freed_by_the_admin_is_available(fresh_orlop: Any, tmp_dir: str) -> None:
    """The documented admin step alone: a Released Retain volume whose claimRef is removed is Available."""
    o = fresh_orlop
    create(o, hostpath_pv("retain-pv", tmp_dir, storage="5Gi", policy="Retain"))
    wait_phase(o, "pv", "retain-pv", "Available")
    bound_claim(o, "first", sc="manual")
    o.kubectl("delete", "pvc", "first", "--timeout=30s", timeout=60)
    wait_phase(o, "pv", "retain-pv", "Released")
    o.kubectl("patch", "pv", "retain-pv", "--type", "json", "-p", '[{"op":"remove","path":"/spec/claimRef"}]')
    wait_phase(o, "pv", "retain-pv", "Available")
    r = row(o, "pv", "retain-pv")
    assert (r["STATUS"], r["CLAIM"]) == ("Available", "")
    assert "claimRef" not in get_json(o, "pv", "retain-pv")["spec"]
    assert os.path.isdir(tmp_dir)


def test_recycle_scrubs_a_hostpath_volume_and_makes_it_available(fresh_orlop: Any, tmp_dir: str) -> None:
    """Recycle (hostPath): every entry of the directory goes, hidden ones too, symbolic links are removed
    and never followed; the directory stays; the PV is unbound and Available again."""
    o = fresh_orlop
    vol = os.path.join(tmp_dir, "vol")
    outside = os.path.join(tmp_dir, "outside.txt")
    os.makedirs(os.path.join(vol, "sub", "deeper"))
    for rel in ("a.txt", ".hidden", "sub/deeper/b.txt"):
        with open(os.path.join(vol, rel), "w") as f:
            f.write(rel)
    with open(outside, "w") as f:
        f.write("not part of the volume")
    os.symlink(outside, os.path.join(vol, "link"))

    create(o, hostpath_pv("recycle-pv", vol, storage="2Gi", policy="Recycle"))
    wait_phase(o, "pv", "recycle-pv", "Available")
    bound_claim(o, "user", sc="manual")
    assert get_json(o, "pv", "recycle-pv")["metadata"]["annotations"] == {"pv.kubernetes.io/bound-by-controller": "yes"}
    o.kubectl("delete", "pvc", "user", "--timeout=30s", timeout=60)

    wait_for(lambda: phase(o, "pv", "recycle-pv") == "Available" and not os.listdir(vol),
             "the recycled volume to be scrubbed and Available")
    assert os.path.isdir(vol) and os.listdir(vol) == []
    with open(outside) as f:
        assert f.read() == "not part of the volume"
    pv = get_json(o, "pv", "recycle-pv")
    assert "claimRef" not in pv["spec"]
    assert "pv.kubernetes.io/bound-by-controller" not in (pv["metadata"].get("annotations") or {})
    r = row(o, "pv", "recycle-pv")
    assert (r["STATUS"], r["CLAIM"], r["RECLAIM POLICY"]) == ("Available", "", "Recycle")
    assert ("Normal", "VolumeRecycled", "Volume recycled") in events_of(o, "recycle-pv")


def test_delete_removes_a_static_hostpath_volume_under_tmp(fresh_orlop: Any, tmp_dir: str) -> None:
    """Delete on a static hostPath PV under /tmp: the directory is removed, then the PV."""
    o = fresh_orlop
    vol = os.path.join(tmp_dir, "vol")
    os.makedirs(os.path.join(vol, "sub"))
    with open(os.path.join(vol, "sub", "f"), "w") as f:
        f.write("x")
    create(o, hostpath_pv("delete-pv", vol, storage="2Gi", policy="Delete"))
    wait_phase(o, "pv", "delete-pv", "Available")
    bound_claim(o, "user", sc="manual")
    o.kubectl("delete", "pvc", "user", "--timeout=30s", timeout=60)
    wait_for(lambda: absent(o, "pv", "delete-pv"), "PV delete-pv to be deleted")
    assert not os.path.exists(vol)
    assert os.path.isdir(tmp_dir)


def test_seed000_patch_reclaim_policy_retain_on_a_provisioned_volume(fresh_orlop: Any) -> None:
    """Seed 000: `kubectl patch pv <pv> -p '{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}'` keeps a
    provisioned volume when its claim goes: the PV stays Released, the directory stays, and even deleting
    the PV leaves the data for the administrator."""
    o = fresh_orlop
    _, pv = bound_claim(o, "keep")
    name = pv["metadata"]["name"]
    path = provisioned_dir(o, pv, "default", "keep")
    with open(os.path.join(path, "f"), "w") as f:
        f.write("data")
    out = o.kubectl("patch", "pv", name, "-p", '{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}')
    assert out.stdout == f"persistentvolume/{name} patched\n"
    assert row(o, "pv", name)["RECLAIM POLICY"] == "Retain"

    o.kubectl("delete", "pvc", "keep", "--timeout=30s", timeout=60)
    wait_phase(o, "pv", name, "Released")
    stays(lambda: (phase(o, "pv", name), os.path.isfile(os.path.join(path, "f"))), ("Released", True), 3,
          "a Retain volume stays Released and keeps its directory (phase, file kept)")
    r = row(o, "pv", name)
    assert (r["STATUS"], r["CLAIM"], r["RECLAIM POLICY"]) == ("Released", "default/keep", "Retain")

    assert o.kubectl("delete", "pv", name, "--timeout=30s", timeout=60).stdout == f'persistentvolume "{name}" deleted\n'
    assert absent(o, "pv", name)
    with open(os.path.join(path, "f")) as f:
        assert f.read() == "data"


def test_deleting_a_bound_pv_waits_for_its_claim(fresh_orlop: Any) -> None:
    """`kubectl delete pv` of a Bound provisioned volume: the PV stays (Terminating, still Bound, data
    intact) while the claim exists (pv-protection); once the claim is deleted, the Delete policy is
    honoured (HonorPVReclaimPolicy): the directory is removed and the PV goes."""
    o = fresh_orlop
    _, pv = bound_claim(o, "data")
    name = pv["metadata"]["name"]
    path = provisioned_dir(o, pv, "default", "data")
    with open(os.path.join(path, "f"), "w") as f:
        f.write("data")

    out = o.kubectl("delete", "pv", name, "--wait=false")
    assert out.stdout == f'persistentvolume "{name}" deleted\n'

    def state() -> dict[str, Any]:
        r = row(o, "pv", name)
        return {"pv STATUS": r["STATUS"], "pv CLAIM": r["CLAIM"], "pv phase": phase(o, "pv", name),
                "pvc phase": phase(o, "pvc", "data", "default"), "file kept": os.path.isfile(os.path.join(path, "f"))}

    # Both halves are checked and reported together: they fail independently.
    problems = []
    try:
        stays(state, {"pv STATUS": "Terminating", "pv CLAIM": "default/data", "pv phase": "Bound",
                      "pvc phase": "Bound", "file kept": True}, 3,
              "a PV deleted while Bound stays Terminating, Bound, with its data")
    except AssertionError as e:
        problems.append(str(e).splitlines()[0])
    assert get_json(o, "pv", name)["metadata"]["deletionTimestamp"]

    o.kubectl("delete", "pvc", "data", "--timeout=30s", timeout=60)
    try:
        wait_for(lambda: absent(o, "pv", name), f"PV {name} to go once its claim is deleted")
    except AssertionError as e:
        problems.append(f"{str(e).splitlines()[0]}; PV now: {get_json(o, 'pv', name).get('status')}, "
                        f"finalizers {get_json(o, 'pv', name)['metadata'].get('finalizers')}")
    if os.path.exists(path):
        problems.append(f"directory {path} still exists after the claim was deleted")
    assert not problems, "\n".join(problems)


# ----------------------------------------------------------------------------------------
# a pending claim says why


def test_pending_claim_events_say_why_each_pv_does_not_fit(fresh_orlop: Any) -> None:
    """Kubernetes only says what failed (class "manual" not found / no volumes available); orlop appends,
    in parentheses, why each PV considered did not fit -- ones of the claim's class first (by name),
    then those taken by other claims, then those of another class."""
    o = fresh_orlop
    never = "/tmp/orlop-e2e-never-written"
    create(o,
           hostpath_pv("why-small", never, storage="1Gi"),
           hostpath_pv("why-slow", never, sc="slow"),
           hostpath_pv("why-rox", never, modes=("ReadOnlyMany",)),
           hostpath_pv("why-taken", never, claim_ref={"namespace": "default", "name": "other"}))
    for name in ("why-small", "why-slow", "why-rox", "why-taken"):
        wait_phase(o, "pv", name, "Available")

    # seed 000's claim: manual, 3Gi, RWO; no StorageClass "manual" exists.
    o.kubectl("create", "-f", os.path.join(MANIFESTS, "seed000-task-pv-claim.yaml"))
    want = ('storageclass.storage.k8s.io "manual" not found ('
            'why-rox: access modes [ReadOnlyMany] do not include [ReadWriteOnce]; '
            'why-small: capacity 1Gi < requested 3Gi; '
            'why-taken: pre-bound to default/other; '
            'why-slow: storageClassName "slow" != "manual")')
    wait_for(lambda: events_of(o, "task-pv-claim"), "an event on the pending claim")
    assert events_of(o, "task-pv-claim") == {("Warning", "ProvisioningFailed", want)}
    out = o.kubectl("describe", "pvc", "task-pv-claim").stdout
    assert field_value(out, "Status") == "Pending"
    rows = describe_event_rows(out)
    assert [[r[0], r[1], r[3], r[4]] for r in rows] == [["Warning", "ProvisioningFailed",
                                                         "persistentvolume-controller", want]], out

    # A claim with no class at all (storageClassName ""): Kubernetes' Normal FailedBinding; every PV
    # here has a class, and that is the one reason given for each (not its size or access modes).
    create(o, claim("classless", storage="3Gi", sc=""))
    want = ("no persistent volumes available for this claim and no storage class is set ("
            'why-rox: storageClassName "manual" != ""; '
            'why-slow: storageClassName "slow" != ""; '
            'why-small: storageClassName "manual" != ""; '
            'why-taken: storageClassName "manual" != "")')
    wait_for(lambda: events_of(o, "classless"), "an event on the class-less claim")
    assert events_of(o, "classless") == {("Normal", "FailedBinding", want)}
    assert phase(o, "pvc", "classless", "default") == "Pending"

    # A volume that fits appears: the pending claim binds it.
    create(o, hostpath_pv("why-fit", never, storage="5Gi"))
    wait_phase(o, "pvc", "task-pv-claim", "Bound", "default")
    r = row(o, "pvc", "task-pv-claim")
    assert (r["VOLUME"], r["CAPACITY"]) == ("why-fit", "5Gi")


# ----------------------------------------------------------------------------------------
# expansion


def test_seed000_admin_grows_a_bound_pv_and_the_claim_follows(fresh_orlop: Any) -> None:
    """Seed 000's path (issue 3; a documented orlop addition -- Kubernetes copies the capacity only on
    binding): the administrator raises a bound PV's capacity and the claim's capacity follows.  A user
    growing a claim whose class cannot expand (here: no StorageClass "manual") is refused with the
    PersistentVolumeClaimResize admission's message."""
    o = fresh_orlop
    o.kubectl("create", "-f", os.path.join(MANIFESTS, "seed000-task-pv-volume.yaml"))
    wait_phase(o, "pv", "task-pv-volume", "Available")
    o.kubectl("create", "-f", os.path.join(MANIFESTS, "seed000-task-pv-claim.yaml"))
    wait_phase(o, "pvc", "task-pv-claim", "Bound")

    o.kubectl("patch", "pv", "task-pv-volume", "-p", '{"spec":{"capacity":{"storage":"20Gi"}}}')
    wait_for(lambda: row(o, "pvc", "task-pv-claim")["CAPACITY"] == "20Gi", "the claim's capacity to follow the PV")
    assert get_json(o, "pvc", "task-pv-claim")["spec"]["resources"]["requests"] == {"storage": "3Gi"}

    refused = o.kubectl("patch", "pvc", "task-pv-claim", "-p",
                        '{"spec":{"resources":{"requests":{"storage":"30Gi"}}}}', check=False)
    assert (refused.returncode, refused.stderr) == (
        1, 'Error from server (Forbidden): persistentvolumeclaims "task-pv-claim" is forbidden: only dynamically '
           "provisioned pvc can be resized and the storageclass that provisions the pvc must support resize\n")


def test_user_grows_a_claim_on_the_default_class(fresh_orlop: Any) -> None:
    """local-path allows expansion: raising the claim's request grows the PV, then the claim's capacity;
    shrinking below the capacity is refused (Kubernetes 1.32, RecoverVolumeExpansionFailure on)."""
    o = fresh_orlop
    _, pv = bound_claim(o, "grow")
    name = pv["metadata"]["name"]
    out = o.kubectl("patch", "pvc", "grow", "-p", '{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}')
    assert out.stdout == "persistentvolumeclaim/grow patched\n"
    wait_for(lambda: get_json(o, "pvc", "grow")["status"].get("capacity") == {"storage": "2Gi"},
             "the claim's capacity to reach 2Gi")
    assert get_json(o, "pv", name)["spec"]["capacity"] == {"storage": "2Gi"}
    c = get_json(o, "pvc", "grow")
    assert not [x for x in c["status"].get("conditions") or []
                if x["type"] in ("Resizing", "FileSystemResizePending")], c["status"]
    assert (row(o, "pvc", "grow")["CAPACITY"], row(o, "pv", name)["CAPACITY"]) == ("2Gi", "2Gi")
    assert os.path.isdir(provisioned_dir(o, pv, "default", "grow"))

    shrink = o.kubectl("patch", "pvc", "grow", "-p", '{"spec":{"resources":{"requests":{"storage":"1Gi"}}}}',
                       check=False)
    assert (shrink.returncode, shrink.stderr) == (
        1, 'The PersistentVolumeClaim "grow" is invalid: spec.resources.requests.storage: Forbidden: field can not '
           "be less than status.capacity\n")


# ----------------------------------------------------------------------------------------
# local-path pathPattern: a claim never gets a directory that is not its own


def test_path_pattern_keeps_each_claim_in_its_own_directory(orlop: Any) -> None:
    """A class whose pathPattern lets a claim's annotation choose its directory: refused unless
    the class says allowUnsafePathPattern (local-path-provisioner after CVE-2025-62878); with
    it, a second claim aimed at the first one's directory is refused, and the first keeps its data."""
    ns = unique("pattern")
    create_namespace(orlop, ns)
    safe, unsafe = unique("pp-safe"), unique("pp-unsafe")
    base = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "provisioner": "orlop.io/local-path"}
    create(orlop,
           {**base, "metadata": {"name": safe}, "parameters": {"pathPattern": "{{ .PVC.Annotations.dir }}"}},
           {**base, "metadata": {"name": unsafe}, "parameters": {
               "pathPattern": "{{ .PVC.Namespace }}-{{ .PVC.Annotations.dir }}", "allowUnsafePathPattern": "true"}})
    try:
        def aimed(name: str, cls: str) -> dict[str, Any]:
            c = claim(name, sc=cls, ns=ns)
            c["metadata"]["annotations"] = {"dir": "shared"}
            return c

        create(orlop, aimed("first", safe))
        refused = wait_for(lambda: [m for t, r, m in events_of(orlop, "first", ns) if r == "ProvisioningFailed"],
                           "ProvisioningFailed for a path outside the claim's prefix")
        assert refused[0].startswith('failed to provision volume with StorageClass "' + safe + '": pathPattern must '
                                     "start with {{ .PVC.Namespace }}/{{ .PVC.Name }}/: shared")
        assert phase(orlop, "pvc", "first", ns) == "Pending"

        create(orlop, aimed("owner", unsafe))
        wait_phase(orlop, "pvc", "owner", "Bound", ns)
        path = get_json(orlop, "pv", get_json(orlop, "pvc", "owner", "-n", ns)["spec"]["volumeName"])[
            "spec"]["hostPath"]["path"]
        assert path == os.path.join(orlop.data_dir, "volumes", f"{ns}-shared")
        with open(os.path.join(path, "data"), "w") as f:
            f.write("owner's")
        create(orlop, aimed("intruder", unsafe))
        taken = wait_for(lambda: [m for t, r, m in events_of(orlop, "intruder", ns) if r == "ProvisioningFailed"],
                         "ProvisioningFailed for another volume's directory")
        assert f'directory "{path}" is already the volume of pvc-' in taken[0]
        assert phase(orlop, "pvc", "intruder", ns) == "Pending"
        with open(os.path.join(path, "data")) as f:
            assert f.read() == "owner's"
    finally:
        orlop.kubectl("delete", "namespace", ns, "--timeout=90s", timeout=100, check=False)
        orlop.kubectl("delete", "storageclass", safe, unsafe, check=False)
