"""The Ceph RBD provisioners: ``kubernetes.io/rbd`` (the in-tree plugin) and ``rbd.csi.ceph.com`` (ceph-csi).

Why this exists: users' StorageClasses say ``provisioner: kubernetes.io/rbd`` with
``monitors``/``adminId``/``adminSecretName``/``pool``/``userId``/``userSecretName`` (seed 000's
``tenx-rbd``), or name ceph-csi's driver with its parameters.  This module is the controller
side of both: it creates, clones, grows, snapshots and removes RBD images in a real Ceph
cluster through librbd (``orlop.drivers.ceph``; never the ``rbd`` CLI) and says what the PV
must carry so the node can find the image again.  The node side (rbd-fuse, mkfs, mount) is
elsewhere.

Naming (deterministic, so every operation is safe to repeat)::

    kubernetes.io/rbd   image  kubernetes-dynamic-pvc-<claim uid>
    rbd.csi.ceph.com    image  <volumeNamePrefix, default csi-vol-><claim uid>
    snapshots           <image>@snapshot-<VolumeSnapshot uid>     (the name the snapshot controller gives)
    clone of a claim    <source image>@orlop-clone-<new claim uid> (temporary; removed once the clone is whole)

Upstream's in-tree provisioner named images ``kubernetes-dynamic-pvc-<random uuid>``: a
controller that crashed after ``rbd create`` and before saving the PV left an image nobody
would ever delete.  Naming the image from the claim's UID makes a retry find and reuse the
image it made (grown to the request if it is smaller, never shrunk) instead of leaking it.

Credentials, per operation (as Kubernetes does it):

- in-tree provision: the *admin* (``adminId`` + Secret ``adminSecretNamespace``/``adminSecretName``,
  which must be of type ``kubernetes.io/rbd``, key in ``data.key``) creates the image.  The
  *user* Secret is only referenced by the PV (``secretRef``) for the node to map the image;
  it is checked to exist (in ``userSecretNamespace``, else the claim's namespace, as seed 000
  notes) so a missing one is reported at provisioning rather than at mount time.
- in-tree delete / expand / snapshot: the admin named by the PV's StorageClass *now*
  (upstream's ``getAdminAndSecret``).  If that class is gone the operation fails with
  ``storageclasses.storage.k8s.io "<name>" not found`` (a DriverError: the PV goes Failed with
  that message, as Kubernetes leaves it, and the PV controller tries again at each resync):
  the image is kept until the class is back, never removed with guessed credentials.
- CSI: the ``csi.storage.k8s.io/provisioner-secret-*`` Secret (ceph-csi's ``userID``/``userKey``,
  or ``data.key`` with user ``admin``) for provision, delete and snapshots; it is recorded on the
  PV as the external-provisioner does (``volume.kubernetes.io/provisioner-deletion-secret-name``
  / ``-namespace``), so deleting works after the class is gone.  Expansion uses the PV's
  ``controllerExpandSecretRef`` when the class set one, else that same Secret.
- delete_snapshot: the Secret, user and monitors recorded in the snapshot handle.

Snapshots, restores and clones: a snapshot is an RBD snapshot of the volume's image, protected
(instant, crash-consistent at the block level).  Restoring one, or cloning a claim, is
``rbd clone`` of a (protected) snapshot followed by ``flatten``: the new image then owns all of
its data, so the new volume, the snapshot and the source volume can each be deleted in any
order.  Flattening copies the data once (bounded by ``flatten_timeout``); until it is done the
image keeps its parent and a retry resumes it.  A volume image that still has snapshots cannot
be removed by Ceph: deleting such a PV fails (retryable, ``VolumeHasSnapshots``) until its
VolumeSnapshots are deleted — snapshots are never removed behind the user's back.  Only
leftover ``orlop-clone-*`` snapshots (a clone interrupted by a crash) are removed with it.

Snapshot handle (``VolumeSnapshotContent.status.snapshotHandle``)::

    rbd://<user>@<mon1,mon2>/<pool>/<image>@<snap>?secret=<namespace>/<name>

(components percent-encoded): enough to reach the cluster and find the credentials again
without the StorageClass or the PV, which may both be gone when the snapshot is deleted.

A watched image is in use (the node's rbd-fuse, a kernel map, any open librbd client): delete
refuses it with ``VolumeInUse`` as upstream does after ``rbd status`` ("rbd image
<pool>/<image> is still being used").  Every Ceph call runs through ``ceph.run`` with
deadlines, so unreachable monitors or a wrong key end in an error that names the cause, never
a hang.  Kubernetes' rbd plugin has no recycler (``recyclable = False``).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..gofmt import go_quote
from ..node.block import FS_TYPES
from . import RBD_PLUGIN, DriverError, ProvisionRequest, ProvisionResult, Retryable
from . import ceph as cephclient
from .ceph import CephError, Credentials, Session

__all__ = [
    "CSI_CONFIG_KEY",
    "CSI_CONFIG_MAP",
    "CSI_DRIVER",
    "IMAGE_PREFIX",
    "RBD_PLUGIN",
    "CsiParams",
    "InTreeParams",
    "RbdCsiDriver",
    "RbdDriver",
    "SecretRef",
    "SnapshotHandle",
    "compose_volume_id",
    "parse_csi_parameters",
    "parse_intree_parameters",
]

T = TypeVar("T")

CSI_DRIVER = "rbd.csi.ceph.com"
SECRET_TYPE = "kubernetes.io/rbd"
IMAGE_PREFIX = "kubernetes-dynamic-pvc-"
CSI_IMAGE_PREFIX = "csi-vol-"
CLONE_SNAP_PREFIX = "orlop-clone-"
CSI_CONFIG_MAP = "ceph-csi-config"
CSI_CONFIG_KEY = "config.json"
ANN_CREATED_BY = "kubernetes.io/createdby"
ANN_DELETION_SECRET_NAME = "volume.kubernetes.io/provisioner-deletion-secret-name"
ANN_DELETION_SECRET_NAMESPACE = "volume.kubernetes.io/provisioner-deletion-secret-namespace"
ANN_BETA_CLASS = "volume.beta.kubernetes.io/storage-class"
MiB = 1 << 20

# kubernetes.io/rbd: what Provision accepts (keys compared lower-cased, as upstream does).
INTREE_ACCESS_MODES = ("ReadWriteOnce", "ReadOnlyMany")
INTREE_FEATURES = ("layering",)
_KEYRING_PATH = re.compile(r"^(?:/[^/!;` ]+)+$")

# rbd.csi.ceph.com: the StorageClass parameters understood (others are refused, naming the key).
CSI_FEATURES = ("layering", "exclusive-lock", "object-map", "fast-diff", "deep-flatten")
_FEATURE_NEEDS = {"object-map": "exclusive-lock", "fast-diff": "object-map"}
_CSI_PREFIX = "csi.storage.k8s.io/"
_CSI_SECRETS = ("provisioner", "controller-expand", "node-stage")
_CSI_KNOWN = frozenset({"clusterID", "pool", "dataPool", "imageFeatures", "imageFormat", "monitors", "mounter",
                        "mapOptions", "unmapOptions", "mkfsOptions", "volumeNamePrefix", "thickProvision",
                        "encrypted"})
_CSI_RESERVED = frozenset({f"{_CSI_PREFIX}fstype", f"{_CSI_PREFIX}secret-name", f"{_CSI_PREFIX}secret-namespace",
                           *(f"{_CSI_PREFIX}{kind}-secret-{part}" for kind in (*_CSI_SECRETS, "node-publish")
                             for part in ("name", "namespace"))})
_CSI_PASSED_ON = ("mounter", "mapOptions", "unmapOptions", "mkfsOptions")
_CSI_ID_VERSION = 1


# --------------------------------------------------------------------------- parameters (pure)

@dataclass(frozen=True)
class SecretRef:
    namespace: str
    name: str

    def quoted(self) -> str:
        """Upstream's ``[%q/%q]``."""
        return f"[{go_quote(self.namespace)}/{go_quote(self.name)}]"


@dataclass(frozen=True)
class InTreeParams:
    """A ``kubernetes.io/rbd`` StorageClass's parameters, defaults applied."""

    monitors: tuple[str, ...]
    admin_id: str
    admin_secret: SecretRef
    pool: str
    user_id: str
    user_secret_name: str
    user_secret_namespace: str          # "" = the claim's (pod's) namespace, as upstream leaves it
    keyring: str
    image_features: tuple[str, ...]
    fs_type: str                        # "" = not set (the node formats ext4, as the kubelet does)


def parse_intree_parameters(params: dict[str, str]) -> InTreeParams:
    """Upstream's rbdVolumeProvisioner.Provision parameter loop and sanity checks.

    Differences, on purpose: ``imageFeatures`` defaults to ``layering`` (upstream creates
    format-2 images with no features at all, which cannot be snapshotted and cloned);
    ``fsType`` must be one the node can make (ext4, ext3, xfs) instead of failing at mount;
    ``imageFormat: "1"`` is refused up front, since librbd refuses to create such images
    (EINVAL) since Octopus, which upstream's ``rbd create --image-format 1`` also meets.
    """
    plugin = RBD_PLUGIN
    mons: list[str] = []
    admin_id = admin_name = user_id = pool = user_name = user_ns = keyring = fs_type = ""
    admin_ns = "default"
    image_format = "2"
    features: list[str] | None = None
    for k, v in params.items():
        key = k.lower()
        if key == "monitors":
            mons.extend(cephclient.parse_monitors(v))
        elif key == "adminid":
            admin_id = v
        elif key == "adminsecretname":
            admin_name = v
        elif key == "adminsecretnamespace":
            admin_ns = v
        elif key == "userid":
            user_id = v
        elif key == "pool":
            pool = v
        elif key == "usersecretname":
            user_name = v
        elif key == "usersecretnamespace":
            user_ns = v
        elif key == "keyring":
            keyring = v
        elif key == "imageformat":
            image_format = v
        elif key == "imagefeatures":
            features = []
            for f in v.split(","):
                if f not in INTREE_FEATURES:
                    raise DriverError("InvalidParameter", f"invalid feature {go_quote(f)} for volume plugin {plugin}, "
                                                          f"supported features are: map[layering:{{}}]")
                features.append(f)
        elif key == "fstype":
            fs_type = v
        else:
            raise DriverError("InvalidParameter", f"invalid option {go_quote(k)} for volume plugin {plugin}")
    if image_format not in ("1", "2"):
        raise DriverError("InvalidParameter", f"invalid ceph imageformat {image_format}, expecting 1 or 2")
    if image_format == "1":
        raise DriverError("InvalidParameter", "imageFormat 1 is not supported: Ceph (librbd 15 and later) no longer "
                                              'creates format 1 images; use imageFormat "2"')
    if not admin_name:
        raise DriverError("InvalidParameter", "missing Ceph admin secret name")
    if not mons:
        raise DriverError("InvalidParameter", "missing Ceph monitors")
    if not user_name and not keyring:
        raise DriverError("InvalidParameter", "must specify either keyring or user secret name")
    if not user_name and not _KEYRING_PATH.match(keyring):
        raise DriverError("InvalidParameter", "keyring field must contain a path to a file")
    if fs_type and fs_type not in FS_TYPES:
        raise DriverError("InvalidParameter", f"fsType {go_quote(fs_type)} is not supported by {plugin}: use "
                                              f"{', '.join(FS_TYPES)}")
    admin_id = admin_id or "admin"
    return InTreeParams(
        monitors=tuple(mons), admin_id=admin_id, admin_secret=SecretRef(admin_ns, admin_name), pool=pool or "rbd",
        user_id=user_id or admin_id, user_secret_name=user_name, user_secret_namespace=user_ns, keyring=keyring,
        image_features=tuple(features if features is not None else INTREE_FEATURES),
        fs_type=fs_type)


@dataclass(frozen=True)
class CsiParams:
    """A ``rbd.csi.ceph.com`` StorageClass's parameters (secret templates resolved)."""

    cluster_id: str                     # "" = the cluster's fsid (only with ``monitors``)
    monitors: tuple[str, ...]           # () = from ConfigMap ceph-csi-config
    pool: str
    data_pool: str
    image_features: tuple[str, ...]
    fs_type: str
    name_prefix: str
    provisioner_secret: SecretRef
    node_stage_secret: SecretRef | None
    controller_expand_secret: SecretRef | None
    attributes: dict[str, str] = field(default_factory=dict)   # passed on to the node unchanged


def _template(value: str, claim: dict[str, Any], pv_name: str) -> str:
    """The external-provisioner's secret templates: ``${pvc.namespace}``, ``${pvc.name}``, ``${pv.name}``."""
    meta = claim.get("metadata") or {}
    for var, sub in (("${pvc.namespace}", meta.get("namespace") or ""), ("${pvc.name}", meta.get("name") or ""),
                     ("${pv.name}", pv_name)):
        value = value.replace(var, str(sub))
    if "${" in value:
        raise DriverError("InvalidParameter", f"invalid secret template {go_quote(value)}: only ${{pv.name}}, "
                                              "${pvc.namespace} and ${pvc.name} can be used")
    return value


def _csi_secret(params: dict[str, str], kind: str, claim: dict[str, Any], pv_name: str) -> SecretRef | None:
    name = params.get(f"{_CSI_PREFIX}{kind}-secret-name", params.get(f"{_CSI_PREFIX}secret-name", ""))
    namespace = params.get(f"{_CSI_PREFIX}{kind}-secret-namespace",
                           params.get(f"{_CSI_PREFIX}secret-namespace", ""))
    if not name and not namespace:
        return None
    if not name or not namespace:
        raise DriverError("InvalidParameter", f"either name and namespace for {kind} secret must be specified, or "
                                              "neither")
    return SecretRef(_template(namespace, claim, pv_name), _template(name, claim, pv_name))


def parse_csi_parameters(params: dict[str, str], claim: dict[str, Any] | None = None,
                         pv_name: str = "") -> CsiParams:
    """ceph-csi's RBD StorageClass parameters, plus ``monitors`` (orlop: a cluster without a ConfigMap)."""
    claim = claim or {}
    for k in params:
        if k.startswith(_CSI_PREFIX):
            if k not in _CSI_RESERVED:
                raise DriverError("InvalidParameter", f"found unknown parameter key {go_quote(k)} with reserved "
                                                      f"namespace {_CSI_PREFIX}")
        elif k not in _CSI_KNOWN:
            raise DriverError("InvalidParameter", f"invalid option {go_quote(k)} for volume plugin {CSI_DRIVER}")
    pool = params.get("pool", "")
    if not pool:
        raise DriverError("InvalidParameter", "missing required parameter pool")
    monitors = tuple(cephclient.parse_monitors(params.get("monitors", "")))
    cluster_id = params.get("clusterID", "")
    if not cluster_id and not monitors:
        raise DriverError("InvalidParameter", "clusterID must be set")
    if len(cluster_id) > 36:
        raise DriverError("InvalidParameter", f"clusterID {go_quote(cluster_id)} is longer than 36 characters")
    if params.get("imageFormat", "2") != "2":
        raise DriverError("InvalidParameter", f"invalid imageFormat {go_quote(params['imageFormat'])}: "
                                              f"{CSI_DRIVER} creates format 2 images only")
    for flag in ("thickProvision", "encrypted"):
        if params.get(flag, "false").lower() not in ("false", ""):
            raise DriverError("InvalidParameter", f"{flag}={params[flag]} is not supported by orlop's {CSI_DRIVER}")
    features = tuple(f.strip() for f in params.get("imageFeatures", "layering").split(",") if f.strip())
    for f in features:
        if f not in CSI_FEATURES:
            raise DriverError("InvalidParameter", f"invalid image feature {go_quote(f)}: supported features are "
                                                  f"{', '.join(CSI_FEATURES)}")
        need = _FEATURE_NEEDS.get(f)
        if need and need not in features:
            raise DriverError("InvalidParameter", f"image feature {f} requires {need}")
    provisioner = _csi_secret(params, "provisioner", claim, pv_name)
    if provisioner is None:
        raise DriverError("InvalidParameter", f"provided secret is empty: set {_CSI_PREFIX}provisioner-secret-name "
                                              f"and {_CSI_PREFIX}provisioner-secret-namespace")
    return CsiParams(
        cluster_id=cluster_id, monitors=monitors, pool=pool, data_pool=params.get("dataPool", ""),
        image_features=features, fs_type=params.get(f"{_CSI_PREFIX}fstype", "") or "ext4",
        name_prefix=params.get("volumeNamePrefix", "") or CSI_IMAGE_PREFIX, provisioner_secret=provisioner,
        node_stage_secret=_csi_secret(params, "node-stage", claim, pv_name),
        controller_expand_secret=_csi_secret(params, "controller-expand", claim, pv_name),
        attributes={k: params[k] for k in _CSI_PASSED_ON if params.get(k)})


def compose_volume_id(cluster_id: str, pool_id: int, object_uuid: str) -> str:
    """ceph-csi's CSI volume ID (version 1): ``0001-<len(clusterID) as 4 hex>-<clusterID>-<pool id as 16 hex>-<uuid>``."""
    return f"{_CSI_ID_VERSION:04x}-{len(cluster_id):04x}-{cluster_id}-{pool_id:016x}-{object_uuid}"


@dataclass(frozen=True)
class SnapshotHandle:
    """Where a snapshot is and how to reach it: ``rbd://user@mons/pool/image@snap?secret=ns/name``."""

    user: str
    monitors: tuple[str, ...]
    pool: str
    image: str
    snap: str
    secret: SecretRef | None

    def encode(self) -> str:
        q = urllib.parse.quote
        text = (f"rbd://{q(self.user, safe='')}@{q(','.join(self.monitors), safe=':,[]')}/{q(self.pool, safe='')}/"
                f"{q(self.image, safe='')}@{q(self.snap, safe='')}")
        if self.secret is not None:
            text += f"?secret={q(self.secret.namespace, safe='')}/{q(self.secret.name, safe='')}"
        return text

    @classmethod
    def parse(cls, handle: str) -> SnapshotHandle:
        bad = DriverError("InvalidSnapshotHandle", f"invalid snapshot handle {go_quote(handle)}: expected "
                                                   "rbd://<user>@<monitors>/<pool>/<image>@<snap>[?secret=<ns>/<name>]")
        u = urllib.parse.unquote
        if not handle.startswith("rbd://"):
            raise bad
        body, _, query = handle[len("rbd://"):].partition("?")
        user, at, rest = body.partition("@")
        mons, slash, rest = rest.partition("/")
        pool, slash2, rest = rest.partition("/")
        image, at2, snap = rest.partition("@")
        if not (at and slash and slash2 and at2 and user and mons and pool and image and snap):
            raise bad
        secret = None
        if query:
            fields = dict(part.partition("=")[::2] for part in query.split("&"))
            ns, slash3, name = fields.get("secret", "").partition("/")
            if not (slash3 and ns and name):
                raise bad
            secret = SecretRef(u(ns), u(name))
        return cls(u(user), tuple(cephclient.parse_monitors(u(mons))), u(pool), u(image), u(snap), secret)


# --------------------------------------------------------------------------- Ceph work (blocking)

@dataclass(frozen=True)
class _Source:
    """What a new image is cloned from: ``pool/image@snap`` (``temporary``: made for this clone)."""

    pool: str
    image: str
    snap: str
    temporary: bool
    what: str


@dataclass(frozen=True)
class _Make:
    pool: str
    image: str
    size: int
    features: tuple[str, ...]
    data_pool: str
    source: _Source | None


def _feature_bits(rbd: Any, names: tuple[str, ...]) -> int:
    table = {"layering": rbd.RBD_FEATURE_LAYERING, "exclusive-lock": rbd.RBD_FEATURE_EXCLUSIVE_LOCK,
             "object-map": rbd.RBD_FEATURE_OBJECT_MAP, "fast-diff": rbd.RBD_FEATURE_FAST_DIFF,
             "deep-flatten": rbd.RBD_FEATURE_DEEP_FLATTEN}
    bits = 0
    for n in names:
        bits |= table[n]
    return bits


def _round_mib(size: int) -> int:
    """Upstream's RoundUpSize(bytes, 1Mi), at least 1 MiB."""
    return max(1, -(-size // MiB)) * MiB


def _gone(e: CephError) -> bool:
    return e.reason == "NotFound"


class _Ops:
    """The librbd steps, each safe to repeat; run inside ``ceph.run`` (a worker thread)."""

    def __init__(self, s: Session):
        self.s = s
        self.R = s.rbd.RBD()

    @contextlib.contextmanager
    def open(self, io: Any, pool: str, image: str, read_only: bool = True) -> Iterator[Any]:
        img = self.s.call(f"opening rbd image {pool}/{image}", self.s.rbd.Image, io, image, read_only=read_only)
        try:
            yield img
        finally:
            with contextlib.suppress(Exception):
                img.close()

    def exists(self, pool: str, image: str) -> bool:
        try:
            with self.s.ioctx(pool) as io:
                return self.size_of(io, pool, image) is not None
        except CephError as e:
            if _gone(e):
                return False
            raise

    def size_of(self, io: Any, pool: str, image: str) -> tuple[int, bool] | None:
        """(size, still a clone of its parent) of an image, or None when there is none."""
        try:
            with self.open(io, pool, image) as img:
                size = int(self.s.call(f"reading rbd image {pool}/{image}", img.size))
                try:
                    img.parent_info()
                    child = True
                except self.s.rbd.ImageNotFound:        # no parent: the usual case
                    child = False
                return size, child
        except CephError as e:
            if _gone(e):
                return None
            raise

    def make(self, m: _Make) -> tuple[int, int, str]:
        """Create (or find) ``m.pool/m.image``; (size, pool id, cluster fsid)."""
        s, where = self.s, f"{m.pool}/{m.image}"
        with s.ioctx(m.pool) as io:
            have = self.size_of(io, m.pool, m.image)
            for attempt in range(2):
                if have is not None:
                    break
                if attempt:
                    # A create or clone cut short (kill -9 mid-way) leaves the name without a usable
                    # image ("already exists" but cannot be opened): remove the remains, make it again.
                    with contextlib.suppress(CephError):
                        s.call(f"removing the remains of rbd image {where}", self.R.remove, io, m.image)
                if m.source is None:
                    kwargs: dict[str, Any] = {"old_format": False, "features": _feature_bits(s.rbd, m.features)}
                    if m.data_pool:
                        kwargs["data_pool"] = m.data_pool
                    try:
                        s.call(f"failed to create rbd image {where}", self.R.create, io, m.image, m.size, **kwargs)
                    except CephError as e:
                        if e.reason != "AlreadyExists":
                            raise
                else:
                    self.clone(io, m)
                have = self.size_of(io, m.pool, m.image)
            if have is None:
                raise CephError("CephError", f"rbd image {where} was created but cannot be opened")
            size, child = have
            if child:
                with self.open(io, m.pool, m.image, read_only=False) as img:
                    s.call(f"flattening rbd image {where}", img.flatten)
            if m.source is not None and m.source.temporary:
                self.drop_snap(m.source.pool, m.source.image, m.source.snap)
            if size < m.size:
                with self.open(io, m.pool, m.image, read_only=False) as img:
                    s.call(f"resizing rbd image {where}", img.resize, m.size)
                size = m.size
            pool_id = int(s.call("looking up the pool id", s.cluster.pool_lookup, m.pool) or 0)
            fsid = str(s.call("reading the cluster fsid", s.cluster.get_fsid))
            return size, pool_id, fsid

    def clone(self, io: Any, m: _Make) -> None:
        s, src = self.s, m.source
        assert src is not None
        with s.ioctx(src.pool) as sio:
            try:
                with self.open(sio, src.pool, src.image, read_only=not src.temporary) as img:
                    if src.temporary and not img.snap_exists(src.snap):
                        s.call(f"snapshotting rbd image {src.pool}/{src.image}", img.create_snap, src.snap)
                    if not img.snap_exists(src.snap):
                        raise CephError("SnapshotNotFound", f"{src.what} not found: rbd image {src.pool}/{src.image} "
                                                            f"has no snapshot {src.snap}", retryable=False)
                    if not s.call("reading the snapshot", img.is_protected_snap, src.snap):
                        self._protect(sio, src)
            except CephError as e:
                if _gone(e):
                    raise CephError("SnapshotNotFound" if not src.temporary else "VolumeNotFound",
                                    f"{src.what} not found: rbd image {src.pool}/{src.image} does not exist",
                                    retryable=False) from None
                raise
            features = _feature_bits(s.rbd, tuple({"layering", *m.features}))
            kwargs: dict[str, Any] = {"features": features}
            if m.data_pool:
                kwargs["data_pool"] = m.data_pool
            try:
                s.call(f"failed to clone {src.what} into rbd image {m.pool}/{m.image}", self.R.clone, sio, src.image,
                       src.snap, io, m.image, **kwargs)
            except CephError as e:
                if e.reason != "AlreadyExists":
                    raise

    def _protect(self, io: Any, src: _Source) -> None:
        with self.open(io, src.pool, src.image, read_only=False) as img:
            if not img.is_protected_snap(src.snap):
                self.s.call(f"protecting snapshot {src.pool}/{src.image}@{src.snap}", img.protect_snap, src.snap)

    def drop_snap(self, pool: str, image: str, snap: str) -> bool:
        """Unprotect and remove ``pool/image@snap``; False when a clone of it is not yet flattened."""
        s = self.s
        try:
            with s.ioctx(pool) as io, self.open(io, pool, image, read_only=False) as img:
                if not img.snap_exists(snap):
                    return True
                if s.call("reading the snapshot", img.is_protected_snap, snap):
                    img.set_snap(snap)
                    children = list(s.call("listing clones", img.list_children2))
                    img.set_snap(None)
                    if children:
                        return False
                    s.call(f"unprotecting snapshot {pool}/{image}@{snap}", img.unprotect_snap, snap)
                s.call(f"removing snapshot {pool}/{image}@{snap}", img.remove_snap, snap)
                return True
        except CephError as e:
            if _gone(e):
                return True
            raise

    def remove(self, pool: str, image: str) -> None:
        s, where = self.s, f"{pool}/{image}"
        try:
            with s.ioctx(pool) as io:
                with self.open(io, pool, image) as img:
                    watchers = list(s.call(f"listing watchers of rbd image {where}", img.watchers_list))
                    snaps = [sn["name"] for sn in s.call(f"listing snapshots of rbd image {where}", img.list_snaps)]
                if watchers:
                    who = ", ".join(f"{w.get('addr')} client.{w.get('id')}" for w in watchers)
                    raise CephError("VolumeInUse", f"rbd image {where} is still being used (watchers: {who})")
                kept = [n for n in snaps if not n.startswith(CLONE_SNAP_PREFIX)]
                if kept:
                    raise CephError("VolumeHasSnapshots", f"rbd image {where} has snapshots ({', '.join(kept)}): "
                                                          "delete the VolumeSnapshots taken of it first")
                for n in snaps:
                    if not self.drop_snap(pool, image, n):
                        raise CephError("VolumeInUse", f"rbd image {where} is being cloned (snapshot {n} has a clone "
                                                       "that is not yet flattened)")
                s.call(f"failed to remove rbd image {where}", self.R.remove, io, image)
        except CephError as e:
            if not _gone(e):
                raise

    def grow(self, pool: str, image: str, size: int) -> int:
        s, where = self.s, f"{pool}/{image}"
        with s.ioctx(pool) as io, self.open(io, pool, image, read_only=False) as img:
            have = int(s.call(f"reading rbd image {where}", img.size))
            if have < size:
                s.call(f"resizing rbd image {where}", img.resize, size)
                have = size
            return have

    def snapshot(self, pool: str, image: str, snap: str) -> tuple[int, datetime.datetime]:
        s, where = self.s, f"{pool}/{image}"
        with s.ioctx(pool) as io, self.open(io, pool, image, read_only=False) as img:
            if img.old_format():
                raise CephError("SnapshotNotSupported", f"rbd image {where} is of image format 1: its snapshots "
                                                        "cannot be restored (use imageFormat 2)", retryable=False)
            if not img.features() & s.rbd.RBD_FEATURE_LAYERING:
                raise CephError("SnapshotNotSupported", f"rbd image {where} lacks the layering feature: its "
                                                        "snapshots cannot be restored", retryable=False)
            if not img.snap_exists(snap):
                s.call(f"snapshotting rbd image {where}", img.create_snap, snap)
            if not img.is_protected_snap(snap):
                s.call(f"protecting snapshot {where}@{snap}", img.protect_snap, snap)
            info = next(sn for sn in img.list_snaps() if sn["name"] == snap)
            taken = s.call("reading the snapshot time", img.get_snap_timestamp, info["id"])
            return int(info["size"]), taken.replace(tzinfo=datetime.UTC)


# --------------------------------------------------------------------------- the drivers

def _meta(o: dict[str, Any]) -> dict[str, Any]:
    return o.get("metadata") or {}


def _claim_uid(req: ProvisionRequest) -> str:
    uid = str(_meta(req.claim).get("uid") or "")
    return uid or req.volume_name.removeprefix("pvc-")


def _volume_class(pv: dict[str, Any]) -> str:
    return str((pv.get("spec") or {}).get("storageClassName") or (_meta(pv).get("annotations") or {})
               .get(ANN_BETA_CLASS) or "")


def _from_ceph(e: CephError) -> DriverError:
    cls = Retryable if e.retryable else DriverError
    return cls(e.reason, e.message)


class RbdDriver:
    """``kubernetes.io/rbd``: see the module docstring."""

    name = RBD_PLUGIN
    node_expansion = True
    recyclable = False              # Kubernetes' rbd plugin has no recycler

    def __init__(self, client: Any, *, timeout: float = cephclient.DEFAULT_TIMEOUT,
                 flatten_timeout: float = 600.0):
        self.client = client
        self.timeout = timeout
        self.flatten_timeout = flatten_timeout
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    # -- plumbing ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        """One operation at a time per image (a timed-out worker may still be flattening it)."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        if not lock.acquire(timeout=self.timeout):
            raise CephError("Busy", f"another operation on rbd image {key} is still running")
        try:
            yield
        finally:
            lock.release()

    async def _run(self, creds: Credentials, key: str, work: Callable[[_Ops], T], *, long: bool = False) -> T:
        def job(s: Session) -> T:
            with self._locked(key):
                return work(_Ops(s))
        total = max(self.timeout * 6, self.flatten_timeout) if long else None
        try:
            return await cephclient.run(creds, job, timeout=self.timeout, total=total)
        except CephError as e:
            raise _from_ceph(e) from None

    async def _secret(self, ref: SecretRef) -> dict[str, Any] | None:
        return await self.client.get("v1", "Secret", ref.namespace, ref.name)

    async def _admin_credentials(self, monitors: tuple[str, ...] | list[str], admin_id: str,
                                 ref: SecretRef) -> Credentials:
        """parsePVSecret: the Secret must exist and be of type kubernetes.io/rbd."""
        prefix = f"failed to get admin secret from {ref.quoted()}: "
        secret = await self._secret(ref)
        if secret is None:
            raise Retryable("SecretNotFound", f"{prefix}secrets {go_quote(ref.name)} not found")
        if secret.get("type") != SECRET_TYPE:
            raise Retryable("InvalidSecret", f"{prefix}Cannot get secret of type {SECRET_TYPE}")
        try:
            return cephclient.credentials_from_secret(secret, list(monitors), admin_id,
                                                      f"secret {ref.namespace}/{ref.name}")
        except CephError as e:
            raise Retryable(e.reason, f"{prefix}{e.message}") from None

    async def _class_admin(self, pv: dict[str, Any]) -> tuple[str, SecretRef]:
        """getAdminAndSecret: the admin id and Secret the PV's StorageClass names now."""
        cls_name = _volume_class(pv)
        if not cls_name:
            raise DriverError("NoStorageClass", "Volume has no storage class")
        cls = await self.client.get("storage.k8s.io/v1", "StorageClass", None, cls_name)
        if cls is None:
            raise DriverError("StorageClassNotFound", f"storageclasses.storage.k8s.io {go_quote(cls_name)} not found")
        admin, ns, name = "", "default", ""
        for k, v in (cls.get("parameters") or {}).items():
            key = k.lower()
            if key == "adminid":
                admin = v
            elif key == "adminsecretname":
                name = v
            elif key == "adminsecretnamespace":
                ns = v
        return admin or "admin", SecretRef(ns, name)

    # -- volume location and credentials (in-tree) ---------------------------------------

    def _location(self, pv: dict[str, Any]) -> tuple[tuple[str, ...], str, str]:
        """(monitors, pool, image) of an in-tree rbd PV."""
        rbd = (pv.get("spec") or {}).get("rbd")
        if not isinstance(rbd, dict):
            raise DriverError("NotAnRbdVolume", "spec.PersistentVolume.Spec.RBD is nil")
        image = str(rbd.get("image") or "")
        if not image:
            raise DriverError("NotAnRbdVolume", f"volume {_meta(pv).get('name')} names no rbd image")
        return tuple(cephclient.parse_monitors(rbd.get("monitors") or [])), str(rbd.get("pool") or "rbd"), image

    async def _volume_access(self, pv: dict[str, Any], purpose: str
                             ) -> tuple[Credentials, str, str, SecretRef | None]:
        """(credentials, pool, image, Secret used) to operate on a PV's image."""
        monitors, pool, image = self._location(pv)
        admin, ref = await self._class_admin(pv)
        return await self._admin_credentials(monitors, admin, ref), pool, image, ref

    # -- provision -----------------------------------------------------------------------

    async def provision(self, req: ProvisionRequest) -> ProvisionResult:
        modes = list(req.access_modes)
        if any(m not in INTREE_ACCESS_MODES for m in modes):
            raise DriverError("InvalidAccessMode", f"invalid AccessModes [{' '.join(modes)}]: only AccessModes "
                                                   f"[{' '.join(INTREE_ACCESS_MODES)}] are supported")
        if (req.claim.get("spec") or {}).get("selector") is not None:
            raise DriverError("SelectorNotSupported", "claim Selector is not supported")
        p = parse_intree_parameters(req.parameters)
        creds = await self._admin_credentials(p.monitors, p.admin_id, p.admin_secret)
        pool, image = p.pool, IMAGE_PREFIX + _claim_uid(req)
        if p.user_secret_name:
            await self._check_user_secret(req, p, creds, pool, image)
        make = _Make(pool=pool, image=image, size=_round_mib(req.size_bytes), features=p.image_features, data_pool="", source=await self._source(req))
        size, _, _ = await self._run(creds, f"{pool}/{image}", lambda ops: ops.make(make), long=make.source is not None)
        rbd: dict[str, Any] = {"monitors": list(p.monitors), "image": image}
        if p.fs_type and req.volume_mode != "Block":
            rbd["fsType"] = p.fs_type
        rbd.update({"pool": pool, "user": p.user_id})
        if p.user_secret_name:
            ref = {"name": p.user_secret_name}
            if p.user_secret_namespace:
                ref["namespace"] = p.user_secret_namespace
            rbd["secretRef"] = ref
        else:
            rbd["keyring"] = p.keyring
        return ProvisionResult(source={"rbd": rbd}, node_affinity=None, capacity_bytes=size,
                               annotations={ANN_CREATED_BY: "rbd-dynamic-provisioner"})

    async def _check_user_secret(self, req: ProvisionRequest, p: InTreeParams, creds: Credentials, pool: str,
                                 image: str) -> None:
        """The user Secret the node will need must exist (seed 000: in the claim's namespace)."""
        ns = p.user_secret_namespace or str(_meta(req.claim).get("namespace") or "default")
        ref = SecretRef(ns, p.user_secret_name)
        secret = await self._secret(ref)
        problem = None
        if secret is None:
            where = (f"userSecretNamespace {go_quote(ns)}" if p.user_secret_namespace
                     else f"the claim's namespace {go_quote(ns)}")
            problem = (f"failed to get user secret from {ref.quoted()}: secrets {go_quote(ref.name)} not found (the "
                       f"Secret named by userSecretName must exist in {where})")
        elif cephclient.decode_key(secret.get("data"), secret.get("stringData")) is None:
            problem = (f"failed to get user secret from {ref.quoted()}: it holds no cephx key (expected data.key: "
                       f"the base64 of `ceph auth get-key client.{p.user_id}`)")
        if problem is None:
            return
        # A retry after the image was made (its claim may even be gone): nothing new depends on the Secret.
        if await self._run(creds, f"{pool}/{image}", lambda ops: ops.exists(pool, image)):
            return
        raise Retryable("SecretNotFound" if secret is None else "InvalidSecret", problem)

    async def _source(self, req: ProvisionRequest) -> _Source | None:
        """What the new image starts as: a snapshot (restore) or another volume (clone)."""
        if req.source_snapshot_handle:
            h = SnapshotHandle.parse(req.source_snapshot_handle)
            return _Source(h.pool, h.image, h.snap, temporary=False, what=f"snapshot {req.source_snapshot_handle}")
        if req.source_volume:
            _, pool, image = self._location(req.source_volume)
            return _Source(pool, image, CLONE_SNAP_PREFIX + _claim_uid(req), temporary=True,
                           what=f"volume {_meta(req.source_volume).get('name')}")
        return None

    # -- delete, expand, recycle ---------------------------------------------------------

    async def delete(self, pv: dict[str, Any]) -> None:
        creds, pool, image, _ = await self._volume_access(pv, "delete")
        await self._run(creds, f"{pool}/{image}", lambda ops: ops.remove(pool, image))

    async def expand(self, pv: dict[str, Any], new_size_bytes: int) -> int:
        creds, pool, image, _ = await self._volume_access(pv, "expand")
        want = _round_mib(new_size_bytes)
        try:
            return await self._run(creds, f"{pool}/{image}", lambda ops: ops.grow(pool, image, want))
        except DriverError as e:
            if e.reason == "NotFound":
                raise DriverError("NotFound", f"rbd info failed, error: rbd image {pool}/{image} does not exist") \
                    from None
            raise

    async def recycle(self, pv: dict[str, Any]) -> None:
        raise DriverError("NoRecycler", "No recycler plugin found for the volume!")

    # -- snapshots -----------------------------------------------------------------------

    async def snapshot(self, pv: dict[str, Any], snapshot_name: str) -> tuple[str, int, datetime.datetime]:
        """(snapshot handle, size in bytes, creation time) of ``<image>@<snapshot_name>``, made if missing."""
        creds, pool, image, ref = await self._volume_access(pv, "snapshot")
        try:
            size, taken = await self._run(creds, f"{pool}/{image}", lambda ops: ops.snapshot(pool, image,
                                                                                              snapshot_name))
        except DriverError as e:
            if e.reason == "NotFound":
                raise DriverError("VolumeNotFound", f"cannot snapshot volume {_meta(pv).get('name')}: rbd image "
                                                    f"{pool}/{image} does not exist") from None
            raise
        handle = SnapshotHandle(creds.user, creds.monitors, pool, image, snapshot_name, ref)
        return handle.encode(), size, taken

    async def delete_snapshot(self, snapshot_handle: str) -> None:
        h = SnapshotHandle.parse(snapshot_handle)
        creds = await self._handle_credentials(h)
        done = await self._run(creds, f"{h.pool}/{h.image}", lambda ops: ops.drop_snap(h.pool, h.image, h.snap))
        if not done:
            raise Retryable("SnapshotHasClones", f"snapshot {h.pool}/{h.image}@{h.snap} has a clone that is not yet "
                                                 "flattened (a volume is being restored from it)")

    async def _handle_credentials(self, h: SnapshotHandle) -> Credentials:
        if h.secret is None:
            raise DriverError("InvalidSnapshotHandle", f"snapshot handle for {h.pool}/{h.image}@{h.snap} names no "
                                                       "Secret: cannot reach the cluster")
        return await self._admin_credentials(h.monitors, h.user, h.secret)


class RbdCsiDriver(RbdDriver):
    """``rbd.csi.ceph.com``: ceph-csi's parameters and PV shape; see the module docstring.

    ``monitors`` come from the class parameter ``monitors`` if given, else from ceph-csi's
    ConfigMap ``ceph-csi-config`` (key ``config.json``: ``[{"clusterID": ..., "monitors": [...]}]``),
    looked up in the provisioner Secret's namespace first, then in ``config_namespaces``
    (``ceph-csi-rbd``: the Helm chart's namespace, ``ceph-csi``, ``default``, ``kube-system``).
    """

    name = CSI_DRIVER
    csi_driver = CSI_DRIVER

    def __init__(self, client: Any, *, timeout: float = cephclient.DEFAULT_TIMEOUT, flatten_timeout: float = 600.0,
                 config_namespaces: tuple[str, ...] = ("ceph-csi-rbd", "ceph-csi", "default", "kube-system")):
        super().__init__(client, timeout=timeout, flatten_timeout=flatten_timeout)
        self.config_namespaces = config_namespaces

    async def _cluster_monitors(self, cluster_id: str, first: str | None) -> tuple[str, ...]:
        namespaces = list(dict.fromkeys([*([first] if first else []), *self.config_namespaces]))
        for ns in namespaces:
            cm = await self.client.get("v1", "ConfigMap", ns, CSI_CONFIG_MAP)
            if cm is None:
                continue
            raw = (cm.get("data") or {}).get(CSI_CONFIG_KEY) or "[]"
            try:
                entries = json.loads(raw)
            except ValueError as e:
                raise Retryable("InvalidClusterConfig", f"ConfigMap {ns}/{CSI_CONFIG_MAP}: {CSI_CONFIG_KEY} is not "
                                                        f"valid JSON ({e})") from None
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict) and entry.get("clusterID") == cluster_id:
                    mons = tuple(cephclient.parse_monitors(entry.get("monitors") or []))
                    if mons:
                        return mons
        raise Retryable("ClusterNotFound", f"missing configuration for cluster ID {go_quote(cluster_id)}: no "
                                           f"ConfigMap {CSI_CONFIG_MAP} (key {CSI_CONFIG_KEY}) in namespace(s) "
                                           f"{', '.join(namespaces)} lists it with monitors (or set the StorageClass "
                                           "parameter monitors)")

    async def _csi_credentials(self, monitors: tuple[str, ...], ref: SecretRef, what: str) -> Credentials:
        secret = await self._secret(ref)
        prefix = f"failed to get {what} secret from {ref.quoted()}: "
        if secret is None:
            raise Retryable("SecretNotFound", f"{prefix}secrets {go_quote(ref.name)} not found")
        try:
            return cephclient.credentials_from_secret(secret, list(monitors), "admin",
                                                      f"secret {ref.namespace}/{ref.name}")
        except CephError as e:
            raise Retryable(e.reason, f"{prefix}{e.message}") from None

    # -- provision -----------------------------------------------------------------------

    async def provision(self, req: ProvisionRequest) -> ProvisionResult:
        if "ReadWriteMany" in req.access_modes and req.volume_mode != "Block":
            raise DriverError("InvalidAccessMode", "multi node access modes are only supported on rbd `block` type "
                                                   "volumes")
        if (req.claim.get("spec") or {}).get("selector") is not None:
            raise DriverError("SelectorNotSupported", "claim Selector is not supported")
        p = parse_csi_parameters(req.parameters, req.claim, req.volume_name)
        monitors = p.monitors or await self._cluster_monitors(p.cluster_id, p.provisioner_secret.namespace)
        creds = await self._csi_credentials(monitors, p.provisioner_secret, "provisioner")
        uid = _claim_uid(req)
        pool, image = p.pool, p.name_prefix + uid
        make = _Make(pool=pool, image=image, size=_round_mib(req.size_bytes),
                     features=p.image_features, data_pool=p.data_pool, source=await self._source(req))
        size, pool_id, fsid = await self._run(creds, f"{pool}/{image}", lambda ops: ops.make(make),
                                              long=make.source is not None)
        cluster_id = p.cluster_id or fsid
        attrs = {"clusterID": cluster_id, "pool": pool, "imageName": image, "imageFeatures": ",".join(p.image_features),
                 "monitors": ",".join(monitors)}
        if p.data_pool:
            attrs["dataPool"] = p.data_pool
        attrs.update(p.attributes)
        csi: dict[str, Any] = {"driver": CSI_DRIVER, "volumeHandle": compose_volume_id(cluster_id, pool_id, uid)}
        if req.volume_mode != "Block":
            csi["fsType"] = p.fs_type
        csi["volumeAttributes"] = attrs
        if p.node_stage_secret is not None:
            csi["nodeStageSecretRef"] = {"name": p.node_stage_secret.name, "namespace": p.node_stage_secret.namespace}
        if p.controller_expand_secret is not None:
            csi["controllerExpandSecretRef"] = {"name": p.controller_expand_secret.name,
                                                "namespace": p.controller_expand_secret.namespace}
        return ProvisionResult(source={"csi": csi}, node_affinity=None, capacity_bytes=size,
                               annotations={ANN_DELETION_SECRET_NAME: p.provisioner_secret.name,
                                            ANN_DELETION_SECRET_NAMESPACE: p.provisioner_secret.namespace})

    # -- volume location and credentials (CSI) -------------------------------------------

    def _csi_of(self, pv: dict[str, Any]) -> dict[str, Any]:
        csi = (pv.get("spec") or {}).get("csi")
        if not isinstance(csi, dict) or csi.get("driver") != CSI_DRIVER:
            raise DriverError("NotAnRbdVolume", f"volume {_meta(pv).get('name')} is not a {CSI_DRIVER} volume")
        return csi

    def _location(self, pv: dict[str, Any]) -> tuple[tuple[str, ...], str, str]:
        csi = self._csi_of(pv)
        attrs = csi.get("volumeAttributes") or {}
        pool, image = str(attrs.get("pool") or ""), str(attrs.get("imageName") or "")
        if not pool or not image:
            raise DriverError("InvalidVolumeHandle", f"volume {_meta(pv).get('name')}: volumeAttributes name no "
                                                     "pool and imageName")
        return tuple(cephclient.parse_monitors(str(attrs.get("monitors") or ""))), pool, image

    async def _volume_access(self, pv: dict[str, Any], purpose: str
                             ) -> tuple[Credentials, str, str, SecretRef | None]:
        csi = self._csi_of(pv)
        attrs = csi.get("volumeAttributes") or {}
        monitors, pool, image = self._location(pv)
        ref = None
        if purpose == "expand" and isinstance(csi.get("controllerExpandSecretRef"), dict):
            r = csi["controllerExpandSecretRef"]
            ref = SecretRef(str(r.get("namespace") or ""), str(r.get("name") or ""))
        anns = _meta(pv).get("annotations") or {}
        if ref is None and anns.get(ANN_DELETION_SECRET_NAME):
            ref = SecretRef(str(anns.get(ANN_DELETION_SECRET_NAMESPACE) or ""), str(anns[ANN_DELETION_SECRET_NAME]))
        if ref is None:
            cls_name = _volume_class(pv)
            cls = await self.client.get("storage.k8s.io/v1", "StorageClass", None, cls_name) if cls_name else None
            if cls is None:
                raise Retryable("SecretNotFound", f"volume {_meta(pv).get('name')} records no provisioner secret and "
                                                  f"its StorageClass {go_quote(cls_name)} is gone")
            ref = _csi_secret(cls.get("parameters") or {}, "provisioner", {}, str(_meta(pv).get("name") or ""))
            if ref is None:
                raise DriverError("InvalidParameter", f"StorageClass {cls_name} names no provisioner secret")
        if not monitors:
            monitors = await self._cluster_monitors(str(attrs.get("clusterID") or ""), ref.namespace)
        what = "controller-expand" if purpose == "expand" else "provisioner"
        return await self._csi_credentials(monitors, ref, what), pool, image, ref

    async def _handle_credentials(self, h: SnapshotHandle) -> Credentials:
        if h.secret is None:
            raise DriverError("InvalidSnapshotHandle", f"snapshot handle for {h.pool}/{h.image}@{h.snap} names no "
                                                       "Secret: cannot reach the cluster")
        return await self._csi_credentials(h.monitors, h.secret, "snapshotter")
