"""Storage drivers against real directories and real filesystems (we run as root; every
mount and loop device a test makes is its own and is removed by it)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orlop import drivers
from orlop.drivers import (
    ANN_PROVISIONED_BY,
    DriverError,
    ProvisionRequest,
    ProvisionResult,
    Retryable,
    driver_for_volume,
    get_driver,
    recycler_for,
    register,
    unregister,
)
from orlop.drivers.hostpath import HOST_PATH_PLUGIN, HostPathDriver, mounts_under, read_mountinfo
from orlop.drivers.localpath import (
    ANN_CAPACITY_ENFORCED,
    ANN_CAPACITY_ENFORCEMENT,
    ANN_ON_DELETE,
    ANN_QUOTA_PROJECT,
    LOCAL_PATH_PROVISIONER,
    OWNERS_FILE,
    LocalPathDriver,
    _set_project_tree,
    detect_quota_support,
    get_project_id,
    render_path_pattern,
    safe_relative_path,
)

UID = "0f4a2f3c-1111-4222-8333-444455556666"
VOL = f"pvc-{UID}"
GI = 1 << 30
MI = 1 << 20
IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="mounting filesystems needs root")


def claim(name: str = "data", namespace: str = "default", uid: str = UID, labels: dict[str, str] | None = None,
          annotations: dict[str, str] | None = None, storage: str = "3Gi", **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": uid}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}, **spec}}


def sclass(parameters: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    sc: dict[str, Any] = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                          "metadata": {"name": "local-path"}, "provisioner": LOCAL_PATH_PROVISIONER}
    if parameters is not None:
        sc["parameters"] = parameters
    if annotations:
        sc["metadata"]["annotations"] = annotations
    return sc


def request(c: dict[str, Any] | None = None, sc: dict[str, Any] | None = None, size: int = 3 * GI,
            volume_name: str | None = None, **kw: Any) -> ProvisionRequest:
    c = c or claim()
    return ProvisionRequest(claim=c, storage_class=sc or sclass(),
                            volume_name=volume_name or f"pvc-{c['metadata']['uid']}", size_bytes=size,
                            access_modes=list(c["spec"]["accessModes"]), **kw)


def pv_for(result: ProvisionResult, name: str = VOL, provisioner: str = LOCAL_PATH_PROVISIONER) -> dict[str, Any]:
    """The PV a provisioning controller would create from a result."""
    annotations = {ANN_PROVISIONED_BY: provisioner, **result.annotations}
    spec: dict[str, Any] = {"capacity": {"storage": str(result.capacity_bytes)}, **result.source,
                            "persistentVolumeReclaimPolicy": "Delete"}
    if result.node_affinity:
        spec["nodeAffinity"] = result.node_affinity
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": annotations}, "spec": spec}


def host_pv(path: str, policy: str = "Recycle", name: str = "task-pv-volume") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": policy, "storageClassName": "manual",
                     "hostPath": {"path": path}}}


def fill(directory: str) -> None:
    """Everything the recycler's globs must catch: plain, hidden, '..x' names, nesting,
    a read-only subtree, a fifo and a symlink."""
    os.makedirs(os.path.join(directory, "sub", "deeper"), exist_ok=True)
    for name in ("file", ".hidden", "..dotdot", "sub/x", "sub/deeper/.y"):
        with open(os.path.join(directory, name), "w") as f:
            f.write(name)
    os.mkfifo(os.path.join(directory, "fifo"))
    os.chmod(os.path.join(directory, "sub", "deeper"), 0o500)


@pytest.fixture
def base(tmp_path: Any) -> str:
    return str(tmp_path / "volumes")


@pytest.fixture
def driver(base: str) -> LocalPathDriver:
    return LocalPathDriver(base, node_name="node-1")


@pytest.fixture
def tmp_under_tmp() -> Iterator[str]:
    """A directory truly under /tmp (the hostPath deleter's rule needs one)."""
    d = tempfile.mkdtemp(prefix="orlop-hostpath-", dir="/tmp")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def outside_tmp() -> Iterator[str]:
    """A directory that is not under /tmp."""
    parent = "/var/tmp" if os.path.isdir("/var/tmp") else os.getcwd()
    d = tempfile.mkdtemp(prefix="orlop-outside-", dir=parent)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


# --- loop-mounted filesystems ---------------------------------------------------------

def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def _kernel_says(since: int) -> str:
    out = _run("dmesg")
    lines = [ln for ln in out.stdout.splitlines()[since:] if "quota" in ln.lower() or "loop" in ln.lower()]
    return lines[-1].split("] ", 1)[-1] if lines else ""


@contextlib.contextmanager
def loop_fs(workdir: str, fstype: str, mkfs: list[str], options: str) -> Iterator[str]:
    """A sparse image, made into ``fstype``, attached to a loop device of our own and
    mounted with ``options``; always detached at the end.  Skips when the machine
    cannot (no tool, no loop devices, or the kernel refuses the options)."""
    if not IS_ROOT:
        pytest.skip("loop mounts need root")
    if shutil.which(mkfs[0]) is None or shutil.which("losetup") is None:
        pytest.skip(f"{mkfs[0]} or losetup is not installed (apt-get install xfsprogs)")
    image = os.path.join(workdir, f"{fstype}.img")
    mnt = os.path.join(workdir, f"{fstype}-mnt")
    os.makedirs(mnt)
    with open(image, "wb") as f:  # sparse; mkfs.xfs wants at least 300 MB
        f.truncate((320 if fstype == "xfs" else 64) * MI)
    made = _run(*mkfs, image)
    assert made.returncode == 0, made.stderr
    attach = _run("losetup", "--find", "--show", image)
    if attach.returncode != 0:
        pytest.skip(f"no loop device available: {attach.stderr.strip()}")
    device = attach.stdout.strip()
    try:
        dmesg_before = len(_run("dmesg").stdout.splitlines())
        mounted = _run("mount", "-t", fstype, "-o", options, device, mnt)
        if mounted.returncode != 0:
            why = _kernel_says(dmesg_before) or mounted.stderr.strip()
            pytest.skip(f"cannot mount {fstype} with -o {options} here: {why}")
        try:
            yield mnt
        finally:
            _run("umount", mnt)
    finally:
        _run("losetup", "-d", device)


@contextlib.contextmanager
def tmpfs(where: str, options: str) -> Iterator[str]:
    if not IS_ROOT:
        pytest.skip("mounting tmpfs needs root")
    os.makedirs(where, exist_ok=True)
    done = _run("mount", "-t", "tmpfs", "-o", options, "tmpfs", where)
    if done.returncode != 0:
        pytest.skip(f"cannot mount tmpfs: {done.stderr.strip()}")
    try:
        yield where
    finally:
        _run("umount", where)


# --- pathPattern rendering and sanitizing (pure) -------------------------------------------

PATTERN_CASES = [
    # (case, pattern, claim kwargs, expected relative path)
    ("nfs-subdir namespace-name", "${.PVC.namespace}-${.PVC.name}", {}, "default-data"),
    ("nfs-subdir leading slash joins onto base", "/${.PVC.namespace}-${.PVC.name}", {}, "default-data"),
    ("nfs-subdir nested", "${.PVC.namespace}/${.PVC.name}", {}, "default/data"),
    ("nfs-subdir label", "${.PVC.labels.app}/${.PVC.name}", {"labels": {"app": "web"}}, "web/data"),
    ("nfs-subdir annotation with slash in key", "${.PVC.annotations.nfs.io/storage-path}",
     {"annotations": {"nfs.io/storage-path": "shared/db"}}, "shared/db"),
    ("nfs-subdir missing label renders empty", "${.PVC.labels.nope}x-${.PVC.name}", {}, "x-data"),
    ("nfs-subdir unknown field renders empty", "${.PVC.storage}${.PVC.name}", {}, "data"),
    ("local-path template", "{{ .PVC.Namespace }}/{{ .PVC.Name }}", {}, "default/data"),
    ("local-path template PVName", "{{ .PVC.Namespace }}/{{ .PVName }}", {}, f"default/{VOL}"),
    ("local-path template UID and trim markers", "{{- .PVC.UID -}}", {}, UID),
    ("local-path template label field", "{{ .PVC.Labels.tier }}/x", {"labels": {"tier": "gold"}}, "gold/x"),
    ("local-path template index", '{{ index .PVC.Annotations "example.com/dir" }}',
     {"annotations": {"example.com/dir": "d1"}}, "d1"),
    ("both syntaxes at once", "${.PVC.namespace}/{{ .PVName }}", {}, f"default/{VOL}"),
    ("dot and empty parts dropped", "./${.PVC.namespace}//./${.PVC.name}/", {}, "default/data"),
    ("empty result falls back (caller)", "${.PVC.labels.nope}", {}, ""),
    ("literal text", "fixed-dir", {}, "fixed-dir"),
]


@pytest.mark.parametrize("case,pattern,kw,expected", PATTERN_CASES, ids=[c[0] for c in PATTERN_CASES])
def test_path_pattern(case: str, pattern: str, kw: dict[str, Any], expected: str) -> None:
    assert safe_relative_path(render_path_pattern(pattern, claim(**kw), VOL), pattern) == expected


REFUSED_PATTERNS = [
    # (case, pattern, claim kwargs, reason, message fragment)
    ("dotdot in pattern", "../${.PVC.name}", {}, "PathEscapesBase", "escapes the base directory"),
    ("dotdot from annotation value", "${.PVC.annotations.dir}", {"annotations": {"dir": "../../etc"}},
     "PathEscapesBase", 'path "../../etc" made from pathPattern'),
    ("dotdot inside from label", "a/${.PVC.labels.x}/b", {"labels": {"x": ".."}}, "PathEscapesBase",
     "escapes the base directory"),
    ("absolute then dotdot", "/${.PVC.annotations.d}", {"annotations": {"d": "x/../../y"}}, "PathEscapesBase",
     "escapes"),
    ("NUL byte", "${.PVC.annotations.d}", {"annotations": {"d": "a\x00b"}}, "InvalidParameter", "NUL byte"),
    ("unsupported template", "{{ .PVC.Spec.VolumeName }}", {}, "InvalidParameter",
     'unsupported template expression "{{ .PVC.Spec.VolumeName }}"'),
]


@pytest.mark.parametrize("case,pattern,kw,reason,fragment", REFUSED_PATTERNS, ids=[c[0] for c in REFUSED_PATTERNS])
def test_path_pattern_refused(case: str, pattern: str, kw: dict[str, Any], reason: str, fragment: str) -> None:
    with pytest.raises(DriverError) as err:
        safe_relative_path(render_path_pattern(pattern, claim(**kw), VOL), pattern)
    assert err.value.reason == reason
    assert fragment in str(err.value)
    assert not isinstance(err.value, Retryable)


# --- local-path: provision ---------------------------------------------------------------

async def test_provision_default_layout(driver: LocalPathDriver, base: str) -> None:
    result = await driver.provision(request())
    path = os.path.join(base, f"{VOL}_default_data")
    assert result.source == {"hostPath": {"path": path, "type": "DirectoryOrCreate"}}
    assert result.node_affinity == {"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-1"]}]}]}}
    assert result.capacity_bytes == 3 * GI
    assert os.path.isdir(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o777
    assert result.annotations[ANN_ON_DELETE] == "delete"
    support = detect_quota_support(base)
    if not support.enforced:  # the usual case (here: ext4 without prjquota): said plainly
        assert result.annotations[ANN_CAPACITY_ENFORCED] == "false"
        assert result.annotations[ANN_CAPACITY_ENFORCEMENT] == support.detail
        assert support.detail.endswith("capacity is recorded, not enforced")
        assert ANN_QUOTA_PROJECT not in result.annotations


async def test_provision_is_idempotent(driver: LocalPathDriver, base: str) -> None:
    first = await driver.provision(request())
    marker = os.path.join(first.source["hostPath"]["path"], "data.txt")
    with open(marker, "w") as f:
        f.write("kept")
    second = await driver.provision(request())
    assert second == first
    assert os.listdir(base) == [f"{VOL}_default_data"]
    with open(marker) as f:  # a retry reuses, never wipes
        assert f.read() == "kept"


async def test_provision_after_crash_between_mkdir_and_pv(driver: LocalPathDriver, base: str) -> None:
    # A crash after mkdir leaves the directory; the retry (same claim uid) must reuse it.
    os.makedirs(os.path.join(base, f"{VOL}_default_data"))
    result = await driver.provision(request())
    assert result.source["hostPath"]["path"] == os.path.join(base, f"{VOL}_default_data")
    assert os.listdir(base) == [f"{VOL}_default_data"]


async def test_provision_distinct_claims_get_distinct_dirs(driver: LocalPathDriver, base: str) -> None:
    a = await driver.provision(request(claim(uid="aaaa")))
    b = await driver.provision(request(claim(uid="bbbb")))
    assert a.source["hostPath"]["path"] != b.source["hostPath"]["path"]
    assert sorted(os.listdir(base)) == ["pvc-aaaa_default_data", "pvc-bbbb_default_data"]


async def test_provision_with_path_pattern(driver: LocalPathDriver, base: str) -> None:
    sc = sclass({"pathPattern": "${.PVC.namespace}/${.PVC.annotations.app}", "allowUnsafePathPattern": "true"})
    result = await driver.provision(request(claim(annotations={"app": "mysql"}), sc))
    assert result.source["hostPath"]["path"] == os.path.join(base, "default", "mysql")
    assert os.path.isdir(os.path.join(base, "default", "mysql"))
    empty = await driver.provision(request(claim(uid="cccc"), sclass({"pathPattern": "${.PVC.labels.none}"})))
    assert empty.source["hostPath"]["path"] == os.path.join(base, "pvc-cccc_default_data")
    safe = await driver.provision(request(claim(uid="dddd", name="db"), sclass(
        {"pathPattern": "{{ .PVC.Namespace }}/{{ .PVC.Name }}/{{ .PVC.Labels.tier }}"})))
    assert safe.source["hostPath"]["path"] == os.path.join(base, "default", "db")     # (no label: no part)


@pytest.mark.parametrize("pattern,kw", [
    ("${.PVC.namespace}/${.PVC.annotations.app}", {"annotations": {"app": "mysql"}}),
    ("{{ .PVC.Annotations.dir }}", {"annotations": {"dir": "pvc-x_victim_db"}}),     # another claim's directory
    ("{{ .PVC.Namespace }}/{{ .PVC.Labels.app }}", {}),                               # renders "default/"
    ("/etc/{{ .PVC.Name }}", {}),
    ("shared", {}),
])
async def test_provision_refuses_a_pattern_outside_the_claims_own_prefix(base: str, pattern: str,
                                                                         kw: dict[str, Any]) -> None:
    """local-path-provisioner since v0.0.34 (CVE-2025-62878): <namespace>/<claim name>/..., unless
    the class says allowUnsafePathPattern."""
    d = LocalPathDriver(base)
    with pytest.raises(DriverError) as err:
        await d.provision(request(claim(**kw), sclass({"pathPattern": pattern})))
    assert err.value.reason == "InvalidParameter"
    assert str(err.value).startswith("pathPattern must start with {{ .PVC.Namespace }}/{{ .PVC.Name }}/: ")
    assert not os.path.exists(base) or os.listdir(base) == []


async def test_no_volume_gets_another_volumes_directory(base: str) -> None:
    """Even with allowUnsafePathPattern: a second claim mapped to the first one's directory, to a
    directory inside it or holding it, or to a default-named volume's, is refused; deleting the
    first (or a retried delete of an old volume) never removes what another volume holds."""
    d = LocalPathDriver(base)
    unsafe = {"allowUnsafePathPattern": "true"}
    first = await d.provision(request(claim(uid="one"), sclass({**unsafe, "pathPattern": "shared"})))
    with open(os.path.join(base, "shared", "mine"), "w") as f:
        f.write("one's data")
    assert await d.provision(request(claim(uid="one"), sclass({**unsafe, "pathPattern": "shared"}))) == first
    other = await d.provision(request(claim(uid="plain")))                 # default name pvc-plain_default_data
    refusals = {
        "shared": "is already the volume of pvc-one",
        "shared/inner": "would lie inside the directory of volume pvc-one",
        "pvc-plain_default_data/x": "has the form of a volume's own directory name",
        "pvc-plain_default_data": "has the form of a volume's own directory name",
        "pvc-future_victim_db": "has the form of a volume's own directory name",      # one not made yet
    }
    for pattern, why in refusals.items():
        with pytest.raises(DriverError) as err:
            await d.provision(request(claim(uid="two"), sclass({**unsafe, "pathPattern": pattern})))
        assert err.value.reason == "PathInUse" and why in str(err.value), (pattern, str(err.value))
    nested = await d.provision(request(claim(uid="three"), sclass({**unsafe, "pathPattern": "top/a"})))
    with pytest.raises(DriverError) as err:
        await d.provision(request(claim(uid="four"), sclass({**unsafe, "pathPattern": "top"})))
    assert "would hold the directory of volume pvc-three" in str(err.value)
    # A delete of a volume whose directory the record gives to another volume leaves it alone.
    await d.delete(pv_for(first, "pvc-stale"))
    assert os.path.isfile(os.path.join(base, "shared", "mine"))
    await d.delete(pv_for(first, "pvc-one"))
    assert not os.path.exists(os.path.join(base, "shared"))
    again = await d.provision(request(claim(uid="five"), sclass({**unsafe, "pathPattern": "shared"})))
    assert os.listdir(again.source["hostPath"]["path"]) == []              # a fresh, empty directory
    assert os.path.isdir(other.source["hostPath"]["path"]) and os.path.isdir(nested.source["hostPath"]["path"])


async def test_pattern_volumes_survive_retries_failures_and_old_unrecorded_volumes(base: str) -> None:
    """A retry keeps the path first recorded (the claim's labels may have changed since); a
    failed mkdir leaves no record behind; a directory others may write to (an older volume,
    made before records) is never walked through; an archive never takes a recorded name."""
    d = LocalPathDriver(base)
    unsafe = {"allowUnsafePathPattern": "true"}
    first = await d.provision(request(claim(uid="lbl", labels={"v": "a"}), sclass({**unsafe, "pathPattern": "x/${.PVC.labels.v}"})))
    retry = await d.provision(request(claim(uid="lbl", labels={"v": "b"}), sclass({**unsafe, "pathPattern": "x/${.PVC.labels.v}"})))
    assert retry.source == first.source and not os.path.exists(os.path.join(base, "x", "b"))
    with pytest.raises(DriverError):
        await d.provision(request(claim(uid="long", annotations={"d": "n" * 300}),
                                  sclass({**unsafe, "pathPattern": "${.PVC.annotations.d}"})))
    assert "pvc-long" not in json.loads(open(os.path.join(base, OWNERS_FILE)).read()).values()
    os.makedirs(os.path.join(base, "old"), mode=0o777)
    os.chmod(os.path.join(base, "old"), 0o777)                          # a volume made before records
    with pytest.raises(DriverError) as err:
        await d.provision(request(claim(uid="in"), sclass({**unsafe, "pathPattern": "old/mine"})))
    assert err.value.reason == "PathInUse" and "writable by others" in str(err.value)
    taken = await d.provision(request(claim(uid="arc"), sclass({**unsafe, "pathPattern": "archived-keep"})))
    os.rmdir(taken.source["hostPath"]["path"])                          # (as if a crash came before mkdir)
    kept = await d.provision(request(claim(uid="keep"), sclass({**unsafe, "pathPattern": "keep",
                                                                 "archiveOnDelete": "true"})))
    await d.delete(pv_for(kept, "pvc-keep"))
    assert os.path.isdir(os.path.join(base, "archived-keep-1"))         # not the recorded archived-keep
    again = await d.provision(request(claim(uid="arc"), sclass({**unsafe, "pathPattern": "archived-keep"})))
    assert os.listdir(again.source["hostPath"]["path"]) == []


@pytest.mark.parametrize("content", ["[]", "null", '"x"', '{"a": 1}', "{not json"])
async def test_an_owners_file_that_is_not_a_map_stops_pattern_volumes(base: str, content: str) -> None:
    d = LocalPathDriver(base)
    os.makedirs(base)
    with open(os.path.join(base, OWNERS_FILE), "w") as f:
        f.write(content)
    with pytest.raises(DriverError) as err:
        await d.provision(request(sc=sclass({"pathPattern": "{{ .PVC.Namespace }}/{{ .PVC.Name }}"})))
    assert err.value.reason == "Unreadable" and "repair or remove it" in str(err.value)


async def test_recycle_and_expand_refuse_a_volume_path_that_became_a_symbolic_link(base: str, tmp_path: Any) -> None:
    d = LocalPathDriver(base)
    made = await d.provision(request())
    path = made.source["hostPath"]["path"]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("x")
    os.rmdir(path)
    os.symlink(outside, path)
    for op in (d.recycle(pv_for(made)), d.expand(pv_for(made), 5 * GI)):
        with pytest.raises(DriverError) as err:
            await op
        assert "it is a symbolic link" in str(err.value)
    assert (outside / "precious").read_text() == "x"
    await d.delete(pv_for(made))                        # delete unlinks the link only
    assert not os.path.lexists(path) and (outside / "precious").exists()


async def test_provision_refuses_symlink_escape(driver: LocalPathDriver, base: str, tmp_path: Any) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.makedirs(base)
    os.symlink(outside, os.path.join(base, "default"))
    sc = sclass({"pathPattern": "${.PVC.namespace}/${.PVC.name}"})
    with pytest.raises(DriverError) as err:
        await driver.provision(request(sc=sc))
    assert err.value.reason == "PathEscapesBase"
    assert "is a symbolic link" in str(err.value)
    assert list(outside.iterdir()) == []


PROVISION_REFUSALS = [
    # (case, request kwargs, driver node, reason, message)
    ("unknown parameter", {"sc": sclass({"fsType": "ext4"})}, None, "InvalidParameter",
     'invalid option "fsType" for volume plugin orlop.io/local-path'),
    ("block mode", {"volume_mode": "Block"}, None, "UnsupportedVolumeMode",
     "orlop.io/local-path does not support block volume provisioning"),
    ("selector", {"c": claim(selector={"matchLabels": {"a": "b"}})}, None, "SelectorNotSupported",
     "claim.Spec.Selector is not supported"),
    ("volume name with slash", {"volume_name": "pvc-x/../../etc"}, None, "InvalidParameter",
     "must be a single path component"),
    ("volume name dotdot", {"volume_name": ".."}, None, "InvalidParameter", "single path component"),
    ("other node", {"selected_node": "node-2"}, "node-1", "WrongNode",
     'the claim selected node "node-2" but this orlop.io/local-path driver serves node "node-1"'),
    ("bad archiveOnDelete", {"sc": sclass({"archiveOnDelete": "yes"})}, None, "InvalidParameter",
     'invalid archiveOnDelete "yes": strconv.ParseBool: parsing "yes": invalid syntax'),
    ("unknown nodePath", {"sc": sclass({"nodePath": "/srv/elsewhere"})}, "node-1", "InvalidParameter",
     "config doesn't contain path /srv/elsewhere on node node-1"),
    ("below minSize", {"sc": sclass({"minSize": "5Gi"})}, None, "InvalidSize",
     "PVC requests 3Gi which is below minimum size 5Gi"),
    ("above maxSize", {"sc": sclass({"maxSize": "1Gi"})}, None, "InvalidSize",
     "PVC requests 3Gi which is exceeds maximum size 1Gi"),
    ("bad volumeType", {"c": claim(annotations={"volumeType": "nfs"})}, None, "InvalidParameter",
     'failed to create persistent volume source: "nfs" is not a recognised volume type'),
    ("local without node", {"c": claim(annotations={"volumeType": "local"})}, None, "InvalidParameter",
     "a local volume needs a node"),
    ("pattern escape", {"sc": sclass({"pathPattern": "../x"})}, None, "PathEscapesBase",
     'path "../x" made from pathPattern "../x" escapes the base directory'),
]


@pytest.mark.parametrize("case,kw,node,reason,message", PROVISION_REFUSALS, ids=[c[0] for c in PROVISION_REFUSALS])
async def test_provision_refusals(base: str, case: str, kw: dict[str, Any], node: str | None, reason: str,
                                  message: str) -> None:
    d = LocalPathDriver(base, node_name=node)
    with pytest.raises(DriverError) as err:
        await d.provision(request(**kw))
    assert err.value.reason == reason
    assert message in str(err.value)
    assert not os.path.exists(base) or os.listdir(base) == []  # nothing made


async def test_provision_options(base: str, tmp_path: Any) -> None:
    other = str(tmp_path / "ssd")
    d = LocalPathDriver(base, extra_base_dirs=[other])
    # no node: no affinity (a shared filesystem, as local-path's sharedFileSystemPath)
    r = await d.provision(request(sc=sclass({"nodePath": other, "archiveOnDelete": "true", "minSize": "1Gi",
                                             "allowUnsafePathPattern": "true"})))
    assert r.node_affinity is None
    assert r.source["hostPath"]["path"] == os.path.join(other, f"{VOL}_default_data")
    assert r.annotations[ANN_ON_DELETE] == "archive"
    # onDelete wins over archiveOnDelete (nfs-subdir)
    r2 = await d.provision(request(claim(uid="r2"), sclass({"onDelete": "retain", "archiveOnDelete": "true"})))
    assert r2.annotations[ANN_ON_DELETE] == "retain"
    # selected node is used when the driver names none; a local source on request
    r3 = await d.provision(request(claim(uid="r3", annotations={"volumeType": "Local"}), selected_node="n9"))
    assert r3.source == {"local": {"path": os.path.join(base, "pvc-r3_default_data")}}
    assert r3.node_affinity["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["n9"]
    r4 = await d.provision(request(claim(uid="r4"), sclass(annotations={"defaultVolumeType": "local"}),
                                   selected_node="n9"))
    assert "local" in r4.source


def test_root_base_refused() -> None:
    with pytest.raises(ValueError, match="cannot use root"):
        LocalPathDriver("/")


@needs_root
async def test_provision_no_space_is_retryable(tmp_path: Any) -> None:
    with tmpfs(str(tmp_path / "tiny"), "size=1m,nr_inodes=3") as mnt:
        d = LocalPathDriver(mnt)
        made = 0
        with pytest.raises(Retryable) as err:
            for i in range(10):
                await d.provision(request(claim(uid=f"u{i}")))
                made += 1
        assert made >= 1
        assert err.value.reason == "NoSpace"
        assert str(err.value).startswith(f"mkdir {mnt}/pvc-u{made}_default_data: no space left on device")
        assert "tmpfs filesystem at" in detect_quota_support(mnt).detail


# --- local-path: delete, archive, recycle, expand -------------------------------------------

async def test_delete_removes_and_is_idempotent(driver: LocalPathDriver) -> None:
    result = await driver.provision(request())
    path = result.source["hostPath"]["path"]
    fill(path)
    pv = pv_for(result)
    await driver.delete(pv)
    assert not os.path.lexists(path)
    await driver.delete(pv)  # already gone: success
    assert not os.path.lexists(path)


async def test_delete_archive_and_retain(base: str) -> None:
    d = LocalPathDriver(base)
    r = await d.provision(request(sc=sclass({"archiveOnDelete": "true"})))
    path = r.source["hostPath"]["path"]
    with open(os.path.join(path, "keep"), "w") as f:
        f.write("1")
    await d.delete(pv_for(r))
    archived = os.path.join(base, f"archived-{VOL}_default_data")
    assert not os.path.exists(path)
    assert os.path.isfile(os.path.join(archived, "keep"))
    await d.delete(pv_for(r))  # twice: nothing more happens
    assert sorted(os.listdir(base)) == [f"archived-{VOL}_default_data"]
    # a second volume archived to a taken name gets a suffix
    shared = sclass({"archiveOnDelete": "true", "pathPattern": "shared", "allowUnsafePathPattern": "true"})
    r1 = await d.provision(request(claim(uid="one"), shared))
    await d.delete(pv_for(r1, "pvc-one"))
    r2 = await d.provision(request(claim(uid="two"), shared))
    await d.delete(pv_for(r2, "pvc-two"))
    assert {"archived-shared", "archived-shared-1"} <= set(os.listdir(base))
    kept = await d.provision(request(claim(uid="kept"), sclass({"onDelete": "retain"})))
    await d.delete(pv_for(kept, "pvc-kept"))
    assert os.path.isdir(kept.source["hostPath"]["path"])


DELETE_REFUSALS = [
    ("outside the base", lambda base, tmp: str(tmp / "elsewhere")),
    ("the base itself", lambda base, tmp: base),
    ("dotdot escape", lambda base, tmp: base + "/../elsewhere"),
    ("relative", lambda base, tmp: "volumes/x"),
    ("root", lambda base, tmp: "/"),
]


@pytest.mark.parametrize("case,make", DELETE_REFUSALS, ids=[c[0] for c in DELETE_REFUSALS])
async def test_local_path_refuses_paths_it_does_not_own(driver: LocalPathDriver, base: str, tmp_path: Any,
                                                        case: str, make: Any) -> None:
    os.makedirs(base)
    victim = tmp_path / "elsewhere"
    victim.mkdir()
    (victim / "precious").write_text("x")
    pv = host_pv(make(base, tmp_path))
    pv["metadata"]["annotations"] = {ANN_PROVISIONED_BY: LOCAL_PATH_PROVISIONER}
    for op in (driver.delete(pv), driver.recycle(pv), driver.expand(pv, GI)):
        with pytest.raises(DriverError) as err:
            await op
        assert err.value.reason == "PathEscapesBase"
        assert "escapes the base directory of orlop.io/local-path" in str(err.value)
    assert (victim / "precious").read_text() == "x"
    assert os.path.isdir(base)


async def test_local_path_delete_through_symlinked_parent_refused(driver: LocalPathDriver, base: str,
                                                                  tmp_path: Any) -> None:
    victim = tmp_path / "victim"
    (victim / "vol").mkdir(parents=True)
    os.makedirs(base)
    os.symlink(victim, os.path.join(base, "link"))
    with pytest.raises(DriverError, match="escapes the base directory"):
        await driver.delete(host_pv(os.path.join(base, "link", "vol")))
    assert (victim / "vol").is_dir()


async def test_recycle_scrubs_but_keeps_directory(driver: LocalPathDriver, tmp_path: Any) -> None:
    result = await driver.provision(request())
    path = result.source["hostPath"]["path"]
    outside = tmp_path / "outside-target"
    outside.mkdir()
    (outside / "untouched").write_text("x")
    fill(path)
    os.symlink(outside, os.path.join(path, "link-out"))
    pv = pv_for(result)
    await driver.recycle(pv)
    assert os.path.isdir(path) and os.listdir(path) == []
    assert (outside / "untouched").read_text() == "x"  # symlinks are removed, never followed
    await driver.recycle(pv)  # twice: still fine
    assert os.listdir(path) == []


async def test_expand_without_enforcement_records(driver: LocalPathDriver) -> None:
    result = await driver.provision(request())
    assert await driver.expand(pv_for(result), 5 * GI) == 5 * GI
    os.rmdir(result.source["hostPath"]["path"])
    with pytest.raises(DriverError) as err:
        await driver.expand(pv_for(result), 6 * GI)
    assert err.value.reason == "NotFound"
    assert "does not exist" in str(err.value)
    with pytest.raises(DriverError, match="recycler: .* does not exist"):
        await driver.recycle(pv_for(result))


@needs_root
async def test_nested_mount_is_never_crossed(driver: LocalPathDriver) -> None:
    result = await driver.provision(request())
    path = result.source["hostPath"]["path"]
    inner = os.path.join(path, "mounted")
    with tmpfs(inner, "size=1m"):
        with open(os.path.join(inner, "on-other-fs"), "w") as f:
            f.write("x")
        assert mounts_under(path) == [inner]
        for op in (driver.recycle(pv_for(result)), driver.delete(pv_for(result))):
            with pytest.raises(DriverError) as err:
                await op
            assert err.value.reason == "MountedInside"
            assert f"a filesystem is mounted at {inner} inside it" in str(err.value)
        assert os.path.isfile(os.path.join(inner, "on-other-fs"))
    await driver.delete(pv_for(result))
    assert not os.path.exists(path)


# --- capacity enforcement on real filesystems ------------------------------------------------

@needs_root
async def test_xfs_without_prjquota_says_not_enforced_and_project_ids_work(tmp_path: Any) -> None:
    with loop_fs(str(tmp_path), "xfs", ["mkfs.xfs", "-q", "-f"], "rw") as mnt:
        support = detect_quota_support(mnt)
        assert not support.enforced
        assert support.detail == f"xfs filesystem at {mnt} is not mounted with prjquota; " \
                                 "capacity is recorded, not enforced"
        d = LocalPathDriver(os.path.join(mnt, "volumes"))
        r = await d.provision(request())
        assert r.annotations[ANN_CAPACITY_ENFORCED] == "false"
        # The project-ID half of enforcement works on any XFS: tag a tree, read it back.
        path = r.source["hostPath"]["path"]
        fill(path)
        _set_project_tree(path, 4242)
        assert get_project_id(path) == 4242
        assert get_project_id(os.path.join(path, "sub", "deeper", ".y")) == 4242
        with open(os.path.join(path, "new-after-tagging"), "w"):
            pass  # PROJINHERIT: new files get the directory's project
        assert get_project_id(os.path.join(path, "new-after-tagging")) == 4242
        os.chmod(os.path.join(path, "sub", "deeper"), 0o700)


QUOTA_FILESYSTEMS = [
    ("xfs", ["mkfs.xfs", "-q", "-f"], "prjquota"),
    ("ext4", ["mkfs.ext4", "-q", "-F", "-O", "quota,project"], "prjquota"),
]


@needs_root
@pytest.mark.parametrize("fstype,mkfs,options", QUOTA_FILESYSTEMS, ids=[c[0] for c in QUOTA_FILESYSTEMS])
async def test_project_quota_enforces_and_expands(tmp_path: Any, fstype: str, mkfs: list[str], options: str) -> None:
    with loop_fs(str(tmp_path), fstype, mkfs, options) as mnt:
        support = detect_quota_support(mnt)
        assert support.enforced, support.detail
        d = LocalPathDriver(os.path.join(mnt, "volumes"), node_name="node-1")
        r = await d.provision(request(size=2 * MI))
        assert r.annotations[ANN_CAPACITY_ENFORCED] == "true"
        assert r.annotations[ANN_CAPACITY_ENFORCEMENT] == f"{fstype} project quota"
        path = r.source["hostPath"]["path"]
        project = int(r.annotations[ANN_QUOTA_PROJECT])
        assert get_project_id(path) == project
        assert await d.provision(request(size=2 * MI)) == r  # idempotent, same project

        def write(name: str, n: int) -> None:
            with open(os.path.join(path, name), "wb") as f:
                for _ in range(n):
                    f.write(b"\0" * (256 * 1024))
                f.flush()
                os.fsync(f.fileno())

        with pytest.raises(OSError) as err:
            write("big", 16)  # 4 MiB into 2 MiB
        assert err.value.errno == errno.EDQUOT
        os.unlink(os.path.join(path, "big"))
        assert await d.expand(pv_for(r), 8 * MI) == 8 * MI
        write("big", 16)  # fits now
        await d.delete(pv_for(r))
        assert not os.path.exists(path)


# --- hostPath ---------------------------------------------------------------------------------

async def test_hostpath_provision_disabled() -> None:
    with pytest.raises(DriverError) as err:
        await HostPathDriver().provision(request())
    assert str(err.value) == 'provisioning in volume plugin "kubernetes.io/host-path" is disabled'


HOSTPATH_DELETE_REFUSED = ["/mnt/data", "/tmp", "/tmp/", "/var/tmp/x", "/tmp/../etc", "tmp/x", "/"]


@pytest.mark.parametrize("path", HOSTPATH_DELETE_REFUSED)
async def test_hostpath_delete_only_under_tmp(path: str) -> None:
    with pytest.raises(DriverError) as err:
        await HostPathDriver().delete(host_pv(path, "Delete"))
    assert err.value.reason == "DeleteForbidden"
    assert str(err.value) == f"host_path deleter only supports /tmp/.+ but received provided {path}"


async def test_hostpath_delete_under_tmp(tmp_under_tmp: str, outside_tmp: str) -> None:
    vol = os.path.join(tmp_under_tmp, "data")
    os.makedirs(vol)
    fill(vol)
    d = HostPathDriver()
    await d.delete(host_pv(vol, "Delete"))
    assert not os.path.lexists(vol)
    await d.delete(host_pv(vol, "Delete"))  # missing: success
    # a symlink under /tmp is removed itself; its target (outside /tmp) survives
    target = Path(outside_tmp)
    (target / "f").write_text("x")
    link = os.path.join(tmp_under_tmp, "link")
    os.symlink(target, link)
    await d.delete(host_pv(link, "Delete"))
    assert not os.path.lexists(link) and (target / "f").exists()
    # a parent that is a symlink out of /tmp is refused
    os.symlink(target, os.path.join(tmp_under_tmp, "out"))
    with pytest.raises(DriverError, match="only supports /tmp/"):
        await d.delete(host_pv(os.path.join(tmp_under_tmp, "out", "f"), "Delete"))
    assert (target / "f").exists()


async def test_hostpath_recycle(tmp_path: Any) -> None:
    vol = tmp_path / "task-pv"
    vol.mkdir()
    fill(str(vol))
    d = HostPathDriver()
    await d.recycle(host_pv(str(vol)))
    assert vol.is_dir() and list(vol.iterdir()) == []
    await d.recycle(host_pv(str(vol)))


RECYCLE_REFUSED = [
    # (case, path maker, driver kwargs, reason, message fragment)
    ("root", lambda t: "/", {}, "RecycleForbidden", 'refusing to scrub /: it is the root directory "/"'),
    ("root spelled oddly", lambda t: "//./", {}, "RecycleForbidden", "root directory"),
    ("symlink to root", lambda t: str(t / "rootlink"), {}, "RecycleForbidden", "root directory"),
    ("dotdot", lambda t: str(t) + "/../x", {}, "InvalidPath", "must not contain '..'"),
    ("relative", lambda t: "data", {}, "InvalidPath", "is not absolute"),
    ("missing", lambda t: str(t / "missing"), {}, "NotFound", "does not exist"),
    ("a file", lambda t: str(t / "file"), {}, "NotADirectory", "is not a directory"),
    ("outside prefixes", lambda t: str(t / "vol"), {"recycle_prefixes": ["/srv/volumes"]}, "RecycleForbidden",
     "hostPath recycling is limited to directories under /srv/volumes"),
    ("the prefix itself", lambda t: str(t), "self", "RecycleForbidden", "is limited to directories under"),
]


@pytest.mark.parametrize("case,make,kw,reason,fragment", RECYCLE_REFUSED, ids=[c[0] for c in RECYCLE_REFUSED])
async def test_hostpath_recycle_refusals(tmp_path: Any, case: str, make: Any, kw: Any, reason: str,
                                         fragment: str) -> None:
    os.symlink("/", tmp_path / "rootlink")
    (tmp_path / "file").write_text("x")
    (tmp_path / "vol").mkdir()
    (tmp_path / "vol" / "keep").write_text("x")
    d = HostPathDriver(recycle_prefixes=[str(tmp_path)] if kw == "self" else kw.get("recycle_prefixes"))
    with pytest.raises(DriverError) as err:
        await d.recycle(host_pv(make(tmp_path)))
    assert err.value.reason == reason
    assert fragment in str(err.value)
    assert (tmp_path / "vol" / "keep").exists()


async def test_hostpath_recycle_within_prefix(tmp_path: Any) -> None:
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "x").write_text("x")
    await HostPathDriver(recycle_prefixes=[str(tmp_path)]).recycle(host_pv(str(vol)))
    assert list(vol.iterdir()) == []


async def test_hostpath_expand_unsupported() -> None:
    with pytest.raises(DriverError, match='volume plugin "kubernetes.io/host-path" does not support expansion'):
        await HostPathDriver().expand(host_pv("/tmp/x"), GI)


# --- registry -------------------------------------------------------------------------------------

async def test_registry(base: str, tmp_path: Any) -> None:
    d = LocalPathDriver(base)
    register(d)
    try:
        assert get_driver(LOCAL_PATH_PROVISIONER) is d
        assert get_driver("kubernetes.io/no-provisioner") is None
        assert isinstance(get_driver(HOST_PATH_PLUGIN), HostPathDriver)
        assert isinstance(d, drivers.Driver)

        result = await d.provision(request())
        provisioned = pv_for(result)
        assert driver_for_volume(provisioned) is d
        fill(result.source["hostPath"]["path"])
        recycle = recycler_for(provisioned)
        assert recycle is not None
        await recycle(provisioned)
        assert os.listdir(result.source["hostPath"]["path"]) == []

        static = host_pv(str(tmp_path))
        assert isinstance(driver_for_volume(static), HostPathDriver)
        assert recycler_for(static) is not None
        # Kubernetes' local plugin is not recyclable, nor is a source nobody serves.
        local = {"metadata": {"name": "l"}, "spec": {"local": {"path": str(tmp_path)}}}
        assert recycler_for(local) is None
        nfs = {"metadata": {"name": "n", "annotations": {ANN_PROVISIONED_BY: "example.com/nfs"}},
               "spec": {"nfs": {"server": "x", "path": "/"}}}
        assert driver_for_volume(nfs) is None and recycler_for(nfs) is None
    finally:
        unregister(LOCAL_PATH_PROVISIONER)
    assert get_driver(LOCAL_PATH_PROVISIONER) is None


def test_mountinfo_parses_escapes(tmp_path: Any) -> None:
    sample = tmp_path / "mountinfo"
    sample.write_text(
        "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n"
        "90 27 7:3 / /mnt/my\\040vol rw,noatime shared:5 - xfs /dev/loop3 rw,prjquota\n")
    entries = read_mountinfo(str(sample))
    assert entries[1].mount_point == "/mnt/my vol"
    assert entries[1].device == (7, 3)
    assert entries[1].fstype == "xfs" and entries[1].source == "/dev/loop3"
    assert {"prjquota", "noatime"} <= entries[1].options
