"""The table of kinds orlop serves.

Why this exists: discovery, routing, OpenAPI, storage keys, printers and validation
all need the same facts about each kind (group, version, plural, scope, short names,
subresources).  They are written once, here, as data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status: bool = False          # has a /status subresource
    scale: bool = False           # has a /scale subresource (autoscaling/v1 Scale)
    # Storage version: objects of older versions are converted to this one before storing.
    storage_version: str = ""
    # OpenAPI types the DELETE response as the object itself (not a Status).
    delete_returns_object: bool = False
    verbs: tuple[str, ...] = tuple(ALL_VERBS)
    # Served as a custom resource (crds/*.yaml): no strategic merge patch, CRD schema and printing.
    custom: bool = False
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def gvk(self) -> tuple[str, str, str]:
        return (self.group, self.version, self.kind)

    @property
    def qualified(self) -> str:
        """``plural`` or ``plural.group``, as Kubernetes names the resource in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def key_prefix(self, namespace: str | None = None) -> str:
        """Storage key prefix; every version of a kind shares one (the storage version's)."""
        base = f"/{self.group or 'core'}/{self.plural}/"
        if self.namespaced and namespace:
            return f"{base}{namespace}/"
        return base

    def key(self, namespace: str | None, name: str) -> str:
        if self.namespaced:
            return f"/{self.group or 'core'}/{self.plural}/{namespace}/{name}"
        return f"/{self.group or 'core'}/{self.plural}/{name}"


def _r(group: str, version: str, kind: str, plural: str, namespaced: bool, short: tuple[str, ...] = (),
       cats: tuple[str, ...] = (), **kw: object) -> Resource:
    return Resource(group, version, kind, plural, kind.lower(), namespaced, short, cats, **kw)  # type: ignore[arg-type]


RESOURCES: list[Resource] = [
    _r("", "v1", "Namespace", "namespaces", False, ("ns",), status=True),
    _r("", "v1", "Node", "nodes", False, ("no",), status=True),
    _r("", "v1", "PersistentVolume", "persistentvolumes", False, ("pv",), status=True,
       delete_returns_object=True),
    _r("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ("pvc",), status=True,
       delete_returns_object=True),
    _r("", "v1", "Pod", "pods", True, ("po",), ("all",), status=True, delete_returns_object=True),
    _r("", "v1", "Secret", "secrets", True),
    _r("", "v1", "ConfigMap", "configmaps", True, ("cm",)),
    _r("", "v1", "Service", "services", True, ("svc",), ("all",), status=True, delete_returns_object=True),
    _r("", "v1", "Endpoints", "endpoints", True, ("ep",)),
    _r("", "v1", "Event", "events", True, ("ev",)),
    _r("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, ("sc",), delete_returns_object=True),
    _r("apps", "v1", "StatefulSet", "statefulsets", True, ("sts",), ("all",), status=True, scale=True),
    _r("apps", "v1", "ControllerRevision", "controllerrevisions", True),
    # Legacy versions: accepted and converted to apps/v1 (seed 000 uses apps/v1beta1).
    _r("apps", "v1beta2", "StatefulSet", "statefulsets", True, ("sts",), ("all",), status=True, scale=True,
       storage_version="v1"),
    _r("apps", "v1beta1", "StatefulSet", "statefulsets", True, ("sts",), ("all",), status=True, scale=True,
       storage_version="v1"),
    _r("coordination.k8s.io", "v1", "Lease", "leases", True),
    # Custom resources, defined by the CRDs in crds/ (the upstream external-snapshotter ones, and orlop's).
    _r("snapshot.storage.k8s.io", "v1", "VolumeSnapshot", "volumesnapshots", True, ("vs",), status=True,
       custom=True),
    _r("snapshot.storage.k8s.io", "v1", "VolumeSnapshotContent", "volumesnapshotcontents", False, ("vsc", "vscs"),
       status=True, custom=True),
    _r("snapshot.storage.k8s.io", "v1", "VolumeSnapshotClass", "volumesnapshotclasses", False,
       ("vsclass", "vsclasses"), custom=True),
    _r("orlop.io", "v1alpha1", "SnapshotSchedule", "snapshotschedules", True, status=True, custom=True),
]

# group -> versions, preferred first
GROUP_VERSIONS: dict[str, list[str]] = {}
for _res in RESOURCES:
    GROUP_VERSIONS.setdefault(_res.group, [])
    if _res.version not in GROUP_VERSIONS[_res.group]:
        GROUP_VERSIONS[_res.group].append(_res.version)

_BY_PATH: dict[tuple[str, str, str], Resource] = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BY_KIND: dict[tuple[str, str], Resource] = {}
_BY_GVK: dict[tuple[str, str, str], Resource] = {}
for _res in RESOURCES:
    _BY_KIND.setdefault((_res.group, _res.kind), _res)   # first listed = preferred version
    _BY_GVK.setdefault((_res.group, _res.version, _res.kind), _res)


def lookup(group: str, version: str, plural: str) -> Resource | None:
    return _BY_PATH.get((group, version, plural))


def by_kind(group: str, kind: str) -> Resource | None:
    """The preferred (storage) version of a kind."""
    return _BY_KIND.get((group, kind))


def by_api_version(api_version: str, kind: str) -> Resource | None:
    group, _, version = api_version.rpartition("/")
    return _BY_GVK.get((group, version, kind))


def storage_resource(res: Resource) -> Resource:
    """The resource whose version objects of ``res`` are stored in."""
    if res.storage_version and res.storage_version != res.version:
        return _BY_PATH[(res.group, res.storage_version, res.plural)]
    return res


def versions_of(group: str) -> list[str]:
    return GROUP_VERSIONS.get(group, [])
