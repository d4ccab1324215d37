"""Admission: policy checks that run on every write after validation, before the store.

Why this exists: some rules are not about the object alone but about the rest of the
cluster (does the namespace exist? is it being deleted? which StorageClass is the
default?).  Kubernetes runs them as admission plugins; so do we, in a fixed order.
A plugin may mutate the object (create/update) or refuse the write with a Status error.

Plugins receive a read-only :class:`View` so they can consult other objects without
depending on the registry's internals.
"""

from __future__ import annotations

import ipaddress
import zlib
from typing import Any, Protocol

from ..errors import Cause, StatusError, forbidden, invalid, not_found
from ..quantity import parse_quantity
from ..registry.resources import Resource


class View(Protocol):
    """What admission may read: single objects and whole lists, at the store's current state.

    The objects are shared between requests (decoded once per revision): read them, never change them.
    """

    async def get(self, group: str, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None: ...

    async def list(self, group: str, plural: str, namespace: str | None = None) -> list[dict[str, Any]]: ...


class Plugin(Protocol):
    async def admit(self, op: str, res: Resource, obj: dict[str, Any], old: dict[str, Any] | None,
                    view: View) -> None: ...


def concerns(plugin: Plugin, op: str, res: Resource) -> bool:
    """Whether ``plugin`` may act on ``op`` of ``res``: by its ``ops`` and ``kinds`` ((group, kind)
    pairs) when it declares them; a plugin that declares neither is asked about everything."""
    ops: Any = getattr(plugin, "ops", None)
    kinds: Any = getattr(plugin, "kinds", None)
    return (ops is None or op in ops) and (kinds is None or (res.group, res.kind) in kinds)


# Namespaces that can never be deleted (Kubernetes' NamespaceLifecycle immortal set).
IMMORTAL_NAMESPACES = {"default", "kube-system", "kube-public"}


class NamespaceLifecycle:
    """No new objects in a namespace that does not exist or is terminating; immortal namespaces."""

    ops = frozenset({"CREATE", "DELETE"})

    async def admit(self, op: str, res: Resource, obj: dict[str, Any], old: dict[str, Any] | None,
                    view: View) -> None:
        if op == "DELETE" and res.kind == "Namespace" and obj["metadata"]["name"] in IMMORTAL_NAMESPACES:
            name = obj["metadata"]["name"]
            raise forbidden(f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                            name=name, resource="namespaces", group="")
        if op != "CREATE" or not res.namespaced:
            return
        ns_name = obj["metadata"].get("namespace", "")
        ns = await view.get("", "namespaces", None, ns_name)
        if ns is None:
            raise not_found("namespaces", ns_name)
        # Events may still be written into a terminating namespace (as Kubernetes allows).
        if ns["metadata"].get("deletionTimestamp") and res.kind != "Event":
            raise StatusError(403, "Forbidden",
                              f"{res.plural} \"{obj['metadata'].get('name') or obj['metadata'].get('generateName', '')}\" "
                              f"is forbidden: unable to create new content in namespace {ns_name} because it is being "
                              "terminated", name=obj["metadata"].get("name", ""), kind=res.plural, group=res.group)


PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"


class StorageObjectInUseProtection:
    """PVCs and PVs carry protection finalizers from creation (removed by the protection controller)."""

    ops = frozenset({"CREATE"})
    kinds = frozenset({("", "PersistentVolumeClaim"), ("", "PersistentVolume")})

    async def admit(self, op: str, res: Resource, obj: dict[str, Any], old: dict[str, Any] | None,
                    view: View) -> None:
        if op != "CREATE" or res.group or res.kind not in ("PersistentVolumeClaim", "PersistentVolume"):
            return
        finalizer = PVC_PROTECTION if res.kind == "PersistentVolumeClaim" else PV_PROTECTION
        fins = obj["metadata"].setdefault("finalizers", [])
        if finalizer not in fins:
            fins.append(finalizer)


IS_DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
IS_DEFAULT_CLASS_BETA = "storageclass.beta.kubernetes.io/is-default-class"
BETA_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


def default_class(classes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The default StorageClass: annotated default; several → newest creationTimestamp, then name."""
    defaults = [c for c in classes
                if (c.get("metadata", {}).get("annotations") or {}).get(IS_DEFAULT_CLASS) == "true"
                or (c.get("metadata", {}).get("annotations") or {}).get(IS_DEFAULT_CLASS_BETA) == "true"]
    if not defaults:
        return None
    # Newest first; among equally new ones the name decides (Kubernetes sorts the same way).
    defaults.sort(key=lambda c: c["metadata"]["name"])
    defaults.sort(key=lambda c: c["metadata"].get("creationTimestamp", ""), reverse=True)
    return defaults[0]


class DefaultStorageClass:
    """A claim created with no class (field absent and no beta annotation) gets the default class."""

    ops = frozenset({"CREATE"})
    kinds = frozenset({("", "PersistentVolumeClaim")})

    async def admit(self, op: str, res: Resource, obj: dict[str, Any], old: dict[str, Any] | None,
                    view: View) -> None:
        if op != "CREATE" or res.group or res.kind != "PersistentVolumeClaim":
            return
        spec = obj.get("spec")
        if not isinstance(spec, dict) or spec.get("storageClassName") is not None:
            return
        if BETA_CLASS_ANNOTATION in (obj["metadata"].get("annotations") or {}):
            return
        default = default_class(await view.list("storage.k8s.io", "storageclasses"))
        if default is not None:
            spec["storageClassName"] = default["metadata"]["name"]


def _storage_request(claim: dict[str, Any]) -> Any:
    try:
        return claim["spec"]["resources"]["requests"]["storage"]
    except (KeyError, TypeError):
        return None


def _size(v: Any) -> Any:
    try:
        return parse_quantity(v)
    except (TypeError, ValueError):
        return None


class PersistentVolumeClaimResize:
    """Growing a claim needs a class that allows it (Kubernetes' PersistentVolumeClaimResize)."""

    ops = frozenset({"UPDATE"})
    kinds = frozenset({("", "PersistentVolumeClaim")})

    async def admit(self, op: str, res: Resource, obj: dict[str, Any], old: dict[str, Any] | None,
                    view: View) -> None:
        if op != "UPDATE" or res.group or res.kind != "PersistentVolumeClaim" or old is None:
            return
        new_req, old_req = _storage_request(obj), _storage_request(old)
        if new_req is None or old_req is None or new_req == old_req:
            return      # (the same text: the same size, nothing grows; every bind and status write)
        new_size, old_size = _size(new_req), _size(old_req)
        if new_size is None or old_size is None or new_size <= old_size:
            return
        name = obj["metadata"].get("name", "")
        cls_name = (obj["metadata"].get("annotations") or {}).get(BETA_CLASS_ANNOTATION) or \
            (obj.get("spec") or {}).get("storageClassName") or ""
        cls = await view.get("storage.k8s.io", "storageclasses", None, cls_name) if cls_name else None
        if cls is None or cls.get("allowVolumeExpansion") is not True:
            raise forbidden(f'persistentvolumeclaims "{name}" is forbidden: only dynamically provisioned pvc can be '
                            "resized and the storageclass that provisions the pvc must support resize",
                            name=name, resource="persistentvolumeclaims")


SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
NODE_PORTS = range(30000, 32768)


class ServiceAllocation:
    """Cluster IPs (from 10.96.0.0/12, as kube-apiserver's default range) and node ports for Services.

    The first choice is derived from the Service's uid, then the next free one is probed; the
    allocations in use are read from the Services that exist.
    """

    ops = frozenset({"CREATE"})
    kinds = frozenset({("", "Service")})

    async def admit(self, op: str, res: Resource, obj: dict[str, Any], old: dict[str, Any] | None,
                    view: View) -> None:
        if op != "CREATE" or res.group or res.kind != "Service":
            return
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        typ = spec.get("type") or "ClusterIP"
        if typ == "ExternalName":
            return
        services = await view.list("", "services")
        if spec.get("clusterIP") in (None, ""):
            used = {s.get("spec", {}).get("clusterIP") for s in services}
            ip = self._pick(obj["metadata"].get("uid", ""), used)
            spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        elif spec.get("clusterIP") != "None":
            ip = spec["clusterIP"]
            if any(s.get("spec", {}).get("clusterIP") == ip for s in services):
                raise invalid("Service", obj["metadata"].get("name", ""), [Cause(
                    "FieldValueInvalid", f'Invalid value: "{ip}": provided IP is already allocated',
                    "spec.clusterIPs")])
        if typ in ("NodePort", "LoadBalancer"):
            used_ports = {p.get("nodePort") for s in services for p in s.get("spec", {}).get("ports") or []
                          if isinstance(p, dict)}
            start = zlib.crc32(obj["metadata"].get("uid", "").encode()) % len(NODE_PORTS)
            for port in spec.get("ports") or []:
                if isinstance(port, dict) and not port.get("nodePort"):
                    for i in range(len(NODE_PORTS)):
                        cand = NODE_PORTS[(start + i) % len(NODE_PORTS)]
                        if cand not in used_ports:
                            port["nodePort"] = cand
                            used_ports.add(cand)
                            break

    @staticmethod
    def _pick(uid: str, used: set[Any]) -> str:
        size = SERVICE_CIDR.num_addresses
        start = zlib.crc32(uid.encode()) % (size - 2) + 1
        for i in range(size - 2):
            cand = str(SERVICE_CIDR.network_address + 1 + (start + i) % (size - 2))
            if cand not in used and cand != "10.96.0.1":
                return cand
        raise StatusError(500, "InternalError", "Internal error occurred: failed to allocate a serviceIP: range is full")


def default_chain() -> list[Plugin]:
    return [NamespaceLifecycle(), DefaultStorageClass(), StorageObjectInUseProtection(),
            PersistentVolumeClaimResize(), ServiceAllocation()]
