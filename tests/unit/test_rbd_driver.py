"""The RBD provisioners against a real Ceph cluster (the session's ``ceph`` fixture).

The Ceph side is real (images made, read, written, snapshotted, cloned and removed through
librbd, checked with the ``rbd`` CLI); only the API server is stood in for, by an in-memory
object that answers ``get`` for the Secrets, StorageClasses and ConfigMaps the drivers read.
Parameter parsing and handle formats are also checked as plain tables without Ceph.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from orlop import drivers
from orlop.drivers import DriverError, ProvisionRequest, ProvisionResult, Retryable
from orlop.drivers import ceph as cephclient
from orlop.drivers.rbd import (
    CSI_DRIVER,
    IMAGE_PREFIX,
    RbdCsiDriver,
    RbdDriver,
    SecretRef,
    SnapshotHandle,
    compose_volume_id,
    parse_csi_parameters,
    parse_intree_parameters,
)

MiB = 1 << 20
GiB = 1 << 30
WRONG_KEY = "AQD3tQJr4mB8DhAA0AQi6I4LJYy2G5KMNMERnA=="


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


class FakeApi:
    """Stands in for the API server: ``get`` only, objects as the wire would give them."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        self.gets: list[tuple[str, str | None, str]] = []

    def put(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.objects[(obj["kind"], meta.get("namespace"), meta["name"])] = obj

    def drop(self, kind: str, namespace: str | None, name: str) -> None:
        self.objects.pop((kind, namespace, name), None)

    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        self.gets.append((kind, namespace, name))
        obj = self.objects.get((kind, namespace or None, name))
        return copy.deepcopy(obj) if obj is not None else None


def secret(namespace: str, name: str, data: dict[str, str], type_: str = "kubernetes.io/rbd") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"namespace": namespace, "name": name},
            "type": type_, "data": {k: b64(v) for k, v in data.items()}}


def storage_class(name: str, provisioner: str, params: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
            "provisioner": provisioner, "parameters": params}


def tenx_params(monitors: str, **over: str) -> dict[str, str]:
    """Seed 000's tenx-rbd class (monitors and pool adapted to the test cluster)."""
    params = {"monitors": monitors, "adminId": "admin", "adminSecretName": "ceph-secret",
              "adminSecretNamespace": "kube-system", "pool": "rbd", "userId": "kube",
              "userSecretName": "ceph-user"}
    params.update(over)
    return {k: v for k, v in params.items() if v != "-"}


def request(cls: dict[str, Any], uid: str | None = None, size: int = 3 * GiB, namespace: str = "default",
            modes: tuple[str, ...] = ("ReadWriteOnce",), mode: str = "Filesystem", **kw: Any) -> ProvisionRequest:
    uid = uid or str(uuid.uuid4())
    claim = {"metadata": {"name": "task-pv-claim", "namespace": namespace, "uid": uid},
             "spec": {"accessModes": list(modes), "storageClassName": cls["metadata"]["name"],
                      "resources": {"requests": {"storage": str(size)}}}}
    return ProvisionRequest(claim=claim, storage_class=cls, volume_name=f"pvc-{uid}", size_bytes=size,
                            access_modes=list(modes), volume_mode=mode, **kw)


def volume(req: ProvisionRequest, res: ProvisionResult, provisioner: str) -> dict[str, Any]:
    """The PV the PV controller would make of a provisioning result."""
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": req.volume_name,
                         "annotations": {"pv.kubernetes.io/provisioned-by": provisioner, **res.annotations}},
            "spec": {"capacity": {"storage": str(res.capacity_bytes)}, "accessModes": req.access_modes,
                     "storageClassName": req.storage_class["metadata"]["name"],
                     "persistentVolumeReclaimPolicy": "Delete", **res.source}}


# --------------------------------------------------------------------------- tables, no Ceph

INTREE_CASES: list[tuple[str, dict[str, str], Any]] = [
    ("seed 000 tenx-rbd", tenx_params("10.0.0.1:6789,10.0.0.2:6789"),
     {"monitors": ("10.0.0.1:6789", "10.0.0.2:6789"), "admin_id": "admin",
      "admin_secret": SecretRef("kube-system", "ceph-secret"), "pool": "rbd", "user_id": "kube",
      "user_secret_name": "ceph-user", "user_secret_namespace": "",
      "image_features": ("layering",), "fs_type": ""}),
    ("defaults: adminId admin, namespace default, pool rbd, userId = adminId",
     {"monitors": "m:6789", "adminSecretName": "a", "userSecretName": "u"},
     {"admin_id": "admin", "admin_secret": SecretRef("default", "a"), "pool": "rbd", "user_id": "admin"}),
    ("userId defaults to a non-default adminId", {"monitors": "m", "adminId": "kubeadm", "adminSecretName": "a",
                                                  "userSecretName": "u"}, {"user_id": "kubeadm"}),
    ("keys are case-insensitive", {"MONITORS": "m", "AdminSecretName": "a", "usersecretname": "u",
                                   "FSTYPE": "xfs", "ImageFormat": "2"},
     {"monitors": ("m",), "fs_type": "xfs"}),
    ("userSecretNamespace", {"monitors": "m", "adminSecretName": "a", "userSecretName": "u",
                             "userSecretNamespace": "shared"}, {"user_secret_namespace": "shared"}),
    ("keyring instead of a user secret", {"monitors": "m", "adminSecretName": "a", "keyring": "/etc/ceph/keyring"},
     {"keyring": "/etc/ceph/keyring", "user_secret_name": ""}),
    ("unknown parameter", {"monitors": "m", "adminSecretName": "a", "userSecretName": "u", "foo": "bar"},
     'invalid option "foo" for volume plugin kubernetes.io/rbd'),
    ("imageFormat 3", {"monitors": "m", "adminSecretName": "a", "userSecretName": "u", "imageFormat": "3"},
     "invalid ceph imageformat 3, expecting 1 or 2"),
    ("imageFormat 1 (librbd no longer creates it)", {"monitors": "m", "adminSecretName": "a", "userSecretName": "u",
                                                     "imageFormat": "1"},
     'imageFormat 1 is not supported: Ceph (librbd 15 and later) no longer creates format 1 images; use '
     'imageFormat "2"'),
    ("feature upstream does not allow", {"monitors": "m", "adminSecretName": "a", "userSecretName": "u",
                                         "imageFeatures": "layering,exclusive-lock"},
     'invalid feature "exclusive-lock" for volume plugin kubernetes.io/rbd, supported features are: '
     "map[layering:{}]"),
    ("no admin secret name", {"monitors": "m", "userSecretName": "u"}, "missing Ceph admin secret name"),
    ("no monitors", {"adminSecretName": "a", "userSecretName": "u"}, "missing Ceph monitors"),
    ("empty monitors", {"monitors": " , ", "adminSecretName": "a", "userSecretName": "u"}, "missing Ceph monitors"),
    ("neither user secret nor keyring", {"monitors": "m", "adminSecretName": "a"},
     "must specify either keyring or user secret name"),
    ("keyring that is no path", {"monitors": "m", "adminSecretName": "a", "keyring": "keyring; rm -rf"},
     "keyring field must contain a path to a file"),
    ("fsType the node cannot make", {"monitors": "m", "adminSecretName": "a", "userSecretName": "u",
                                     "fsType": "btrfs"},
     'fsType "btrfs" is not supported by kubernetes.io/rbd: use ext4, ext3, xfs'),
]


@pytest.mark.parametrize("name,params,want", INTREE_CASES, ids=[c[0] for c in INTREE_CASES])
def test_intree_parameters(name: str, params: dict[str, str], want: Any) -> None:
    if isinstance(want, str):
        with pytest.raises(DriverError) as e:
            parse_intree_parameters(params)
        assert not isinstance(e.value, Retryable)
        assert e.value.message == want
        return
    got = parse_intree_parameters(params)
    for attr, value in want.items():
        assert getattr(got, attr) == value, attr


CSI_BASE = {"clusterID": "c1", "pool": "rbd", "csi.storage.k8s.io/provisioner-secret-name": "csi-rbd-secret",
            "csi.storage.k8s.io/provisioner-secret-namespace": "ceph-csi-rbd"}

CSI_CASES: list[tuple[str, dict[str, str], Any]] = [
    ("ceph-csi example class", {**CSI_BASE, "imageFeatures": "layering",
                                "csi.storage.k8s.io/node-stage-secret-name": "csi-rbd-secret",
                                "csi.storage.k8s.io/node-stage-secret-namespace": "ceph-csi-rbd",
                                "csi.storage.k8s.io/fstype": "xfs", "mounter": "rbd-nbd"},
     {"cluster_id": "c1", "monitors": (), "pool": "rbd", "image_features": ("layering",), "fs_type": "xfs",
      "provisioner_secret": SecretRef("ceph-csi-rbd", "csi-rbd-secret"),
      "node_stage_secret": SecretRef("ceph-csi-rbd", "csi-rbd-secret"), "controller_expand_secret": None,
      "attributes": {"mounter": "rbd-nbd"}, "name_prefix": "csi-vol-"}),
    ("defaults: ext4, layering", CSI_BASE, {"fs_type": "ext4", "image_features": ("layering",)}),
    ("secret templates", {**CSI_BASE, "csi.storage.k8s.io/node-stage-secret-name": "${pvc.name}-key",
                          "csi.storage.k8s.io/node-stage-secret-namespace": "${pvc.namespace}"},
     {"node_stage_secret": SecretRef("apps", "data-key")}),
    ("generic secret-name/-namespace", {"clusterID": "c1", "pool": "rbd", "csi.storage.k8s.io/secret-name": "s",
                                        "csi.storage.k8s.io/secret-namespace": "n"},
     {"provisioner_secret": SecretRef("n", "s"), "node_stage_secret": SecretRef("n", "s"),
      "controller_expand_secret": SecretRef("n", "s")}),
    ("monitors without clusterID", {**CSI_BASE, "clusterID": "", "monitors": "a:1,b:2"},
     {"cluster_id": "", "monitors": ("a:1", "b:2")}),
    ("no pool", {**CSI_BASE, "pool": ""}, "missing required parameter pool"),
    ("no clusterID nor monitors", {**CSI_BASE, "clusterID": ""}, "clusterID must be set"),
    ("no provisioner secret", {"clusterID": "c1", "pool": "rbd"},
     "provided secret is empty: set csi.storage.k8s.io/provisioner-secret-name and "
     "csi.storage.k8s.io/provisioner-secret-namespace"),
    ("half a secret reference", {**CSI_BASE, "csi.storage.k8s.io/node-stage-secret-name": "x"},
     "either name and namespace for node-stage secret must be specified, or neither"),
    ("unknown reserved key", {**CSI_BASE, "csi.storage.k8s.io/fsType": "ext4"},
     'found unknown parameter key "csi.storage.k8s.io/fsType" with reserved namespace csi.storage.k8s.io/'),
    ("unknown key", {**CSI_BASE, "adminId": "admin"}, 'invalid option "adminId" for volume plugin rbd.csi.ceph.com'),
    ("unknown feature", {**CSI_BASE, "imageFeatures": "layering,striping"},
     'invalid image feature "striping": supported features are layering, exclusive-lock, object-map, fast-diff, '
     "deep-flatten"),
    ("feature dependency", {**CSI_BASE, "imageFeatures": "layering,object-map"},
     "image feature object-map requires exclusive-lock"),
    ("thick provisioning", {**CSI_BASE, "thickProvision": "true"},
     "thickProvision=true is not supported by orlop's rbd.csi.ceph.com"),
]


@pytest.mark.parametrize("name,params,want", CSI_CASES, ids=[c[0] for c in CSI_CASES])
def test_csi_parameters(name: str, params: dict[str, str], want: Any) -> None:
    claim = {"metadata": {"namespace": "apps", "name": "data"}}
    if isinstance(want, str):
        with pytest.raises(DriverError) as e:
            parse_csi_parameters(params, claim, "pvc-1")
        assert e.value.message == want
        return
    got = parse_csi_parameters(params, claim, "pvc-1")
    for attr, value in want.items():
        assert getattr(got, attr) == value, attr


HANDLES = [
    SnapshotHandle("admin", ("127.0.0.1:6789",), "rbd", "kubernetes-dynamic-pvc-u1", "snapshot-s1",
                   SecretRef("kube-system", "ceph-secret")),
    SnapshotHandle("kube", ("10.0.0.1:6789", "[::1]:6789"), "tenx pool", "img@odd/name", "snap", None),
]


@pytest.mark.parametrize("h", HANDLES)
def test_snapshot_handle_round_trip(h: SnapshotHandle) -> None:
    text = h.encode()
    assert text.startswith("rbd://")
    assert SnapshotHandle.parse(text) == h


def test_snapshot_handle_text() -> None:
    assert HANDLES[0].encode() == ("rbd://admin@127.0.0.1:6789/rbd/kubernetes-dynamic-pvc-u1@snapshot-s1"
                                   "?secret=kube-system/ceph-secret")


@pytest.mark.parametrize("bad", ["", "rbd://admin@m/rbd/img", "default/snapshots/x", "rbd://@m/rbd/i@s",
                                 "rbd://a@m/rbd/i@s?secret=only-namespace"])
def test_snapshot_handle_invalid(bad: str) -> None:
    with pytest.raises(DriverError) as e:
        SnapshotHandle.parse(bad)
    assert e.value.reason == "InvalidSnapshotHandle"


def test_volume_id_is_ceph_csis() -> None:
    uid = "0c6ecbd1-5e3c-4c13-b6d5-000000000001"
    assert compose_volume_id("rook-ceph", 2, uid) == f"0001-0009-rook-ceph-0000000000000002-{uid}"


async def test_refused_before_anything_is_read() -> None:
    """Access modes and selectors are refused as upstream words it, before any Secret or Ceph call."""
    api = FakeApi()
    cls = storage_class("tenx-rbd", "kubernetes.io/rbd", tenx_params("127.0.0.1:1"))
    with pytest.raises(DriverError) as e:
        await RbdDriver(api).provision(request(cls, modes=("ReadWriteMany",)))
    assert e.value.message == ("invalid AccessModes [ReadWriteMany]: only AccessModes [ReadWriteOnce ReadOnlyMany] "
                               "are supported")
    req = request(cls)
    req.claim["spec"]["selector"] = {"matchLabels": {"a": "b"}}
    with pytest.raises(DriverError, match="claim Selector is not supported"):
        await RbdDriver(api).provision(req)
    csi = storage_class("csi", CSI_DRIVER, CSI_BASE)
    with pytest.raises(DriverError, match="multi node access modes are only supported on rbd `block` type"):
        await RbdCsiDriver(api).provision(request(csi, modes=("ReadWriteMany",)))
    assert api.gets == []


def test_rbd_volumes_have_no_recycler() -> None:
    """Kubernetes' rbd plugin has no recycler: a Recycle rbd PV (seed 004) gets "No recycler plugin found"."""
    driver = RbdDriver(FakeApi())
    drivers.register(driver)
    try:
        provisioned = {"metadata": {"name": "pvc-1", "annotations": {"pv.kubernetes.io/provisioned-by": driver.name}},
                       "spec": {"rbd": {"monitors": ["m"], "image": "i"}}}
        static = {"metadata": {"name": "ceph-pv"}, "spec": {"rbd": {"monitors": ["m"], "image": "foo"},
                                                              "persistentVolumeReclaimPolicy": "Recycle"}}
        assert drivers.driver_for_volume(provisioned) is driver
        assert drivers.driver_for_volume(static) is driver      # deletes/expands static rbd PVs as upstream
        assert drivers.recycler_for(provisioned) is None
        assert drivers.recycler_for(static) is None
    finally:
        drivers.unregister(driver.name)
    assert drivers.driver_for_volume(static) is None


# --------------------------------------------------------------------------- real Ceph

def rbd_info(ceph: Any, image: str, pool: str = "rbd") -> dict[str, Any]:
    return json.loads(ceph.cluster.rbd("info", "--format", "json", f"{pool}/{image}"))


def rbd_ls(ceph: Any, pool: str = "rbd") -> list[str]:
    return json.loads(ceph.cluster.rbd("ls", "--format", "json", pool))


def snaps(ceph: Any, image: str, pool: str = "rbd") -> list[str]:
    return [s["name"] for s in json.loads(ceph.cluster.rbd("snap", "ls", "--format", "json", f"{pool}/{image}"))]


class Admin:
    """A librbd session as client.admin, for what the test itself writes, reads and holds open."""

    def __init__(self, ceph: Any):
        self.session = cephclient.Session(cephclient.Credentials.of(ceph.monitors, "admin", ceph.admin_key))
        self.rbd = self.session.rbd

    def image(self, name: str, pool: str = "rbd", read_only: bool = False) -> Any:
        ioctx = self.session.cluster.open_ioctx(pool)
        return self.rbd.Image(ioctx, name, read_only=read_only)

    def write(self, name: str, data: bytes, offset: int = 0) -> None:
        with self.image(name) as img:
            img.write(data, offset)
            img.flush()

    def read(self, name: str, length: int, offset: int = 0) -> bytes:
        with self.image(name, read_only=True) as img:
            return bytes(img.read(offset, length))

    def purge(self, name: str, pool: str = "rbd") -> None:
        """Remove an image the test made, snapshots first (whatever state a failed test left)."""
        try:
            with self.image(name, pool) as img:
                for s in list(img.list_snaps()):
                    if img.is_protected_snap(s["name"]):
                        img.unprotect_snap(s["name"])
                    img.remove_snap(s["name"])
        except self.rbd.ImageNotFound:
            return
        with self.session.ioctx(pool) as io:
            self.rbd.RBD().remove(io, name)

    def close(self) -> None:
        self.session.close()


@pytest.fixture
def admin(ceph: Any) -> Iterator[Admin]:
    a = Admin(ceph)
    before = set(rbd_ls(ceph))
    yield a
    # Whatever the test made, however it ended (a clone not yet flattened goes before its parent).
    for _ in range(3):
        for name in set(rbd_ls(ceph)) - before:
            try:
                a.purge(name)
            except Exception:  # noqa: BLE001 - a parent whose clone is still there: the next pass
                pass
    a.close()
    assert set(rbd_ls(ceph)) == before


@pytest.fixture
def api(ceph: Any) -> FakeApi:
    api = FakeApi()
    api.put(secret("kube-system", "ceph-secret", {"key": ceph.admin_key}))
    api.put(secret("default", "ceph-user", {"key": ceph.user_key}))
    api.put(storage_class("tenx-rbd", "kubernetes.io/rbd", tenx_params(ceph.monitors)))
    return api


def tenx(api: FakeApi) -> dict[str, Any]:
    return api.objects[("StorageClass", None, "tenx-rbd")]


async def test_provision_makes_the_image_and_the_pv_source_upstream_makes(ceph: Any, api: FakeApi,
                                                                        admin: Admin) -> None:
    driver = RbdDriver(api)
    req = request(tenx(api), size=3 * GiB)
    uid = req.claim["metadata"]["uid"]
    res = await driver.provision(req)
    image = f"kubernetes-dynamic-pvc-{uid}"
    info = rbd_info(ceph, image)
    assert info["size"] == 3 * GiB and info["format"] == 2 and info["features"] == ["layering"]
    assert res.capacity_bytes == 3 * GiB and res.node_affinity is None
    assert res.source == {"rbd": {"monitors": [ceph.monitors], "image": image, "pool": "rbd", "user": "kube",
                                  "secretRef": {"name": "ceph-user"}}}
    assert res.annotations == {"kubernetes.io/createdby": "rbd-dynamic-provisioner"}

    again = await driver.provision(req)                  # a retry: same image, same answer
    assert again == res
    assert rbd_ls(ceph).count(image) == 1


async def test_provision_variants(ceph: Any, api: FakeApi, admin: Admin) -> None:
    """fsType, userSecretNamespace, Block mode, a request rounded up to MiB."""
    driver = RbdDriver(api)
    api.put(secret("shared", "ceph-user", {"key": ceph.user_key}))
    cls = storage_class("x", "kubernetes.io/rbd",
                        tenx_params(ceph.monitors, fsType="xfs", userSecretNamespace="shared"))
    res = await driver.provision(request(cls, size=10 * MiB + 1))
    assert res.capacity_bytes == 11 * MiB
    assert res.source["rbd"]["fsType"] == "xfs"
    assert res.source["rbd"]["secretRef"] == {"name": "ceph-user", "namespace": "shared"}
    block = await driver.provision(request(cls, size=4 * MiB, mode="Block"))
    assert "fsType" not in block.source["rbd"]


async def test_retry_after_crash_grows_an_image_left_smaller(ceph: Any, api: FakeApi, admin: Admin) -> None:
    driver = RbdDriver(api)
    req = request(tenx(api), size=64 * MiB)
    image = IMAGE_PREFIX + req.claim["metadata"]["uid"]
    with admin.session.ioctx("rbd") as io:
        admin.rbd.RBD().create(io, image, 16 * MiB, old_format=False, features=1)
    res = await driver.provision(req)
    assert res.capacity_bytes == 64 * MiB and rbd_info(ceph, image)["size"] == 64 * MiB


async def test_retry_after_a_crash_mid_create_replaces_the_remains(ceph: Any, api: FakeApi, admin: Admin) -> None:
    """kill -9 inside ``rbd create`` can leave the name in the pool directory without a usable image
    (its header object not yet written): the retry removes the remains and makes the image again."""
    driver = RbdDriver(api)
    req = request(tenx(api), size=32 * MiB)
    image = IMAGE_PREFIX + req.claim["metadata"]["uid"]
    with admin.session.ioctx("rbd") as io:
        admin.rbd.RBD().create(io, image, 32 * MiB, old_format=False, features=1)
        io.remove_object(f"rbd_header.{rbd_info(ceph, image)['id']}")   # what the crash left
        with pytest.raises(admin.rbd.ImageNotFound):
            admin.rbd.Image(io, image)
    res = await driver.provision(req)
    assert res.capacity_bytes == 32 * MiB and rbd_info(ceph, image)["size"] == 32 * MiB
    assert rbd_ls(ceph).count(image) == 1


SECRET_PROBLEMS = [
    ("admin secret missing", lambda api, ceph: api.drop("Secret", "kube-system", "ceph-secret"),
     Retryable, 'failed to get admin secret from ["kube-system"/"ceph-secret"]: secrets "ceph-secret" not found'),
    ("admin secret of the wrong type",
     lambda api, ceph: api.put(secret("kube-system", "ceph-secret", {"key": ceph.admin_key}, type_="Opaque")),
     Retryable, 'failed to get admin secret from ["kube-system"/"ceph-secret"]: Cannot get secret of type '
                "kubernetes.io/rbd"),
    ("admin secret without a key", lambda api, ceph: api.put(secret("kube-system", "ceph-secret", {})),
     Retryable, 'failed to get admin secret from ["kube-system"/"ceph-secret"]: secret kube-system/ceph-secret '
                "holds no cephx key"),
    ("user secret missing in the claim's namespace", lambda api, ceph: api.drop("Secret", "default", "ceph-user"),
     Retryable, 'failed to get user secret from ["default"/"ceph-user"]: secrets "ceph-user" not found (the Secret '
                "named by userSecretName must exist in the claim's namespace \"default\")"),
    ("wrong admin key", lambda api, ceph: api.put(secret("kube-system", "ceph-secret", {"key": WRONG_KEY})),
     DriverError, f"connecting to Ceph monitors {'127.0.0.1:6789'} as client.admin: authentication failed"),
]


@pytest.mark.parametrize("name,spoil,cls,message", SECRET_PROBLEMS, ids=[c[0] for c in SECRET_PROBLEMS])
async def test_provision_secret_problems_are_named(ceph: Any, api: FakeApi, admin: Admin, name: str, spoil: Any,
                                                   cls: type, message: str) -> None:
    spoil(api, ceph)
    req = request(tenx(api), size=8 * MiB)
    t = time.monotonic()
    with pytest.raises(DriverError) as e:
        await RbdDriver(api, timeout=5).provision(req)
    assert type(e.value) is cls
    assert e.value.message.startswith(message.replace("127.0.0.1:6789", ceph.monitors)), e.value.message
    assert time.monotonic() - t < 20
    assert IMAGE_PREFIX + req.claim["metadata"]["uid"] not in rbd_ls(ceph)


async def test_user_secret_is_not_needed_again_once_the_image_exists(ceph: Any, api: FakeApi, admin: Admin) -> None:
    """A retry after the image was made (e.g. the claim and its namespace are gone) does not wait for the Secret."""
    driver = RbdDriver(api)
    req = request(tenx(api), size=8 * MiB)
    res = await driver.provision(req)
    api.drop("Secret", "default", "ceph-user")
    assert await driver.provision(req) == res


async def test_unreachable_monitors_fail_within_the_deadline(ceph: Any, api: FakeApi) -> None:
    api.put(storage_class("far", "kubernetes.io/rbd", tenx_params("127.0.0.1:6799")))   # nothing listens there
    t = time.monotonic()
    with pytest.raises(Retryable) as e:
        await RbdDriver(api, timeout=2).provision(request(api.objects[("StorageClass", None, "far")]))
    took = time.monotonic() - t
    assert e.value.reason == "CephUnreachable"
    assert e.value.message.startswith("connecting to Ceph monitors 127.0.0.1:6799 as client.admin: no answer "
                                      "within 2s")
    assert took < 15, took


async def test_delete_removes_the_image_and_repeats(ceph: Any, api: FakeApi, admin: Admin) -> None:
    driver = RbdDriver(api)
    req = request(tenx(api), size=8 * MiB)
    pv = volume(req, await driver.provision(req), driver.name)
    image = pv["spec"]["rbd"]["image"]
    assert image in rbd_ls(ceph)
    await driver.delete(pv)
    assert image not in rbd_ls(ceph)
    await driver.delete(pv)                              # gone already: success


async def test_delete_refuses_while_watched(ceph: Any, api: FakeApi, admin: Admin) -> None:
    driver = RbdDriver(api)
    req = request(tenx(api), size=8 * MiB)
    pv = volume(req, await driver.provision(req), driver.name)
    image = pv["spec"]["rbd"]["image"]
    held = admin.image(image)                            # a read-write open keeps a watch, as rbd-fuse does
    try:
        with pytest.raises(Retryable) as e:
            await driver.delete(pv)
        assert e.value.reason == "VolumeInUse"
        assert e.value.message.startswith(f"rbd image rbd/{image} is still being used (watchers: ")
        assert image in rbd_ls(ceph)
    finally:
        held.close()
    await driver.delete(pv)
    assert image not in rbd_ls(ceph)


async def test_delete_when_the_class_is_gone_keeps_the_image(ceph: Any, api: FakeApi, admin: Admin) -> None:
    driver = RbdDriver(api)
    req = request(tenx(api), size=8 * MiB)
    pv = volume(req, await driver.provision(req), driver.name)
    api.drop("StorageClass", None, "tenx-rbd")
    with pytest.raises(DriverError) as e:      # not Retryable: the PV is Failed, retried at resync
        await driver.delete(pv)
    assert not isinstance(e.value, Retryable)
    assert e.value.message == 'storageclasses.storage.k8s.io "tenx-rbd" not found'
    assert pv["spec"]["rbd"]["image"] in rbd_ls(ceph)
    classless = copy.deepcopy(pv)
    del classless["spec"]["storageClassName"]
    with pytest.raises(DriverError, match="Volume has no storage class"):
        await driver.delete(classless)


async def test_expand_grows_only(ceph: Any, api: FakeApi, admin: Admin) -> None:
    driver = RbdDriver(api)
    req = request(tenx(api), size=3 * GiB)
    pv = volume(req, await driver.provision(req), driver.name)
    image = pv["spec"]["rbd"]["image"]
    assert driver.node_expansion is True
    assert await driver.expand(pv, 4 * GiB) == 4 * GiB
    assert rbd_info(ceph, image)["size"] == 4 * GiB
    assert await driver.expand(pv, 4 * GiB) == 4 * GiB              # repeated
    assert await driver.expand(pv, 1 * GiB) == 4 * GiB              # never shrinks
    assert rbd_info(ceph, image)["size"] == 4 * GiB
    assert await driver.expand(pv, 4 * GiB + 1) == 4 * GiB + MiB    # rounded up to MiB


async def test_snapshot_restore_clone_and_delete_snapshot(ceph: Any, api: FakeApi, admin: Admin) -> None:
    driver = RbdDriver(api)
    cls = tenx(api)
    src_req = request(cls, size=8 * MiB)
    src = volume(src_req, await driver.provision(src_req), driver.name)
    src_image = src["spec"]["rbd"]["image"]
    admin.write(src_image, b"first", 0)
    admin.write(src_image, b"across objects", 5 * MiB)              # a second 4 MiB object

    snap_name = f"snapshot-{uuid.uuid4()}"
    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    handle, size, taken = await driver.snapshot(src, snap_name)
    assert size == 8 * MiB and before <= taken <= datetime.datetime.now(datetime.UTC)
    assert SnapshotHandle.parse(handle) == SnapshotHandle("admin", (ceph.monitors,), "rbd", src_image, snap_name,
                                                          SecretRef("kube-system", "ceph-secret"))
    assert await driver.snapshot(src, snap_name) == (handle, size, taken)   # repeated: the same snapshot
    assert snaps(ceph, src_image) == [snap_name]
    admin.write(src_image, b"later", 0)                                 # after the snapshot

    restore_req = request(cls, size=16 * MiB, source_snapshot_handle=handle)
    restored = await driver.provision(restore_req)
    new_image = restored.source["rbd"]["image"]
    assert restored.capacity_bytes == 16 * MiB
    assert admin.read(new_image, 5) == b"first"
    assert admin.read(new_image, 14, 5 * MiB) == b"across objects"
    info = rbd_info(ceph, new_image)
    assert "parent" not in info and info["size"] == 16 * MiB           # flattened: independent of the snapshot

    clone_req = request(cls, size=8 * MiB, source_volume=src)
    cloned = await driver.provision(clone_req)
    clone_image = cloned.source["rbd"]["image"]
    assert admin.read(clone_image, 5) == b"later"
    assert "parent" not in rbd_info(ceph, clone_image)
    assert snaps(ceph, src_image) == [snap_name]                        # the clone's temporary snapshot is gone

    with pytest.raises(Retryable) as e:                                 # Ceph cannot remove an image with snapshots
        await driver.delete(src)
    assert e.value.reason == "VolumeHasSnapshots" and snap_name in e.value.message

    await driver.delete_snapshot(handle)
    assert snaps(ceph, src_image) == []
    await driver.delete_snapshot(handle)                                # repeated
    await driver.delete(src)
    await driver.delete_snapshot(handle)                                # the image is gone too
    assert admin.read(new_image, 5) == b"first"                         # the restored volume is unaffected


async def test_interrupted_restore_is_finished_by_the_retry(ceph: Any, api: FakeApi, admin: Admin) -> None:
    """A crash between clone and flatten leaves a clone; provisioning again flattens it; until then the
    snapshot cannot be deleted."""
    driver = RbdDriver(api)
    cls = tenx(api)
    src_req = request(cls, size=8 * MiB)
    src = volume(src_req, await driver.provision(src_req), driver.name)
    admin.write(src["spec"]["rbd"]["image"], b"data", 0)
    handle, _, _ = await driver.snapshot(src, f"snapshot-{uuid.uuid4()}")
    h = SnapshotHandle.parse(handle)
    req = request(cls, size=8 * MiB, source_snapshot_handle=handle)
    target = IMAGE_PREFIX + req.claim["metadata"]["uid"]
    with admin.session.ioctx("rbd") as io:
        admin.rbd.RBD().clone(io, h.image, h.snap, io, target, features=1)
    assert "parent" in rbd_info(ceph, target)
    with pytest.raises(Retryable) as e:
        await driver.delete_snapshot(handle)
    assert e.value.reason == "SnapshotHasClones"
    res = await driver.provision(req)
    assert res.source["rbd"]["image"] == target and "parent" not in rbd_info(ceph, target)
    assert admin.read(target, 4) == b"data"
    await driver.delete_snapshot(handle)
    await driver.delete(src)


async def test_restore_from_a_missing_snapshot(ceph: Any, api: FakeApi, admin: Admin) -> None:
    driver = RbdDriver(api)
    handle = SnapshotHandle("admin", (ceph.monitors,), "rbd", "no-such-image", "snapshot-x",
                            SecretRef("kube-system", "ceph-secret")).encode()
    with pytest.raises(DriverError) as e:
        await driver.provision(request(tenx(api), size=8 * MiB, source_snapshot_handle=handle))
    assert e.value.reason == "SnapshotNotFound" and not isinstance(e.value, Retryable)
    assert "rbd image rbd/no-such-image does not exist" in e.value.message


# --------------------------------------------------------------------------- rbd.csi.ceph.com

def csi_api(ceph: Any, api: FakeApi, monitors_param: bool = False) -> dict[str, Any]:
    api.put(secret("ceph-csi-rbd", "csi-rbd-secret", {"userID": "kube", "userKey": ceph.user_key}, type_="Opaque"))
    api.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "ceph-csi-rbd",
                                                                  "name": "ceph-csi-config"},
             "data": {"config.json": json.dumps([{"clusterID": "c1", "monitors": [ceph.monitors]}])}})
    params = {**CSI_BASE, "csi.storage.k8s.io/node-stage-secret-name": "csi-rbd-secret",
              "csi.storage.k8s.io/node-stage-secret-namespace": "ceph-csi-rbd"}
    if monitors_param:
        params.update({"clusterID": "", "monitors": ceph.monitors})
    cls = storage_class("csi-rbd-sc", CSI_DRIVER, params)
    api.put(cls)
    return cls


async def test_csi_provision_delete_and_expand(ceph: Any, api: FakeApi, admin: Admin) -> None:
    cls = csi_api(ceph, api)
    driver = RbdCsiDriver(api)
    req = request(cls, size=3 * GiB)
    uid = req.claim["metadata"]["uid"]
    res = await driver.provision(req)
    pool_id = admin.session.cluster.pool_lookup("rbd")
    assert res.source == {"csi": {
        "driver": "rbd.csi.ceph.com", "volumeHandle": compose_volume_id("c1", pool_id, uid), "fsType": "ext4",
        "volumeAttributes": {"clusterID": "c1", "pool": "rbd", "imageName": f"csi-vol-{uid}",
                             "imageFeatures": "layering", "monitors": ceph.monitors},
        "nodeStageSecretRef": {"name": "csi-rbd-secret", "namespace": "ceph-csi-rbd"}}}
    assert res.annotations == {"volume.kubernetes.io/provisioner-deletion-secret-name": "csi-rbd-secret",
                               "volume.kubernetes.io/provisioner-deletion-secret-namespace": "ceph-csi-rbd"}
    assert rbd_info(ceph, f"csi-vol-{uid}")["size"] == 3 * GiB
    assert await driver.provision(req) == res
    pv = volume(req, res, driver.name)
    api.drop("StorageClass", None, "csi-rbd-sc")            # the PV carries what delete and expand need
    assert await driver.expand(pv, 4 * GiB) == 4 * GiB
    await driver.delete(pv)
    assert f"csi-vol-{uid}" not in rbd_ls(ceph)


async def test_csi_monitors_parameter_and_snapshots(ceph: Any, api: FakeApi, admin: Admin) -> None:
    cls = csi_api(ceph, api, monitors_param=True)
    driver = RbdCsiDriver(api)
    req = request(cls, size=8 * MiB)
    res = await driver.provision(req)
    fsid = admin.session.cluster.get_fsid()
    assert res.source["csi"]["volumeAttributes"]["clusterID"] == fsid       # no clusterID: the cluster's fsid
    pv = volume(req, res, driver.name)
    image = res.source["csi"]["volumeAttributes"]["imageName"]
    admin.write(image, b"csi data", 0)
    handle, size, _ = await driver.snapshot(pv, f"snapshot-{uuid.uuid4()}")
    assert SnapshotHandle.parse(handle).user == "kube"                      # the Secret's userID
    restored = await driver.provision(request(cls, size=8 * MiB, source_snapshot_handle=handle))
    assert admin.read(restored.source["csi"]["volumeAttributes"]["imageName"], 8) == b"csi data"
    await driver.delete_snapshot(handle)
    await driver.delete(pv)
    assert image not in rbd_ls(ceph)


async def test_csi_cluster_without_configuration(ceph: Any, api: FakeApi) -> None:
    cls = csi_api(ceph, api)
    cls["parameters"]["clusterID"] = "elsewhere"
    with pytest.raises(Retryable) as e:
        await RbdCsiDriver(api).provision(request(cls))
    assert e.value.message.startswith('missing configuration for cluster ID "elsewhere": no ConfigMap '
                                      "ceph-csi-config (key config.json) in namespace(s) ceph-csi-rbd, ceph-csi, "
                                      "default, kube-system lists it")
