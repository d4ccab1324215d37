"""Per-kind write strategy: what the server sets, resets and keeps on create and update.

Why this exists: Kubernetes' registry strategies (PrepareForCreate / PrepareForUpdate)
decide which parts of an object a write may touch.  A user's ``kubectl apply`` of a PVC
must not be able to set ``status.phase: Bound``; a controller's ``/status`` write must
not change the spec; a spec change of a StatefulSet bumps ``metadata.generation``.
These rules are small, per kind, and kept here in one table so the generic registry
code stays kind-agnostic.
"""

from __future__ import annotations

from typing import Any

from ..jsonobj import clone

# Kinds whose main resource ignores status on write (status comes only through /status).
STATUS_SPLIT = {"Namespace", "Node", "PersistentVolume", "PersistentVolumeClaim", "Pod", "Service", "StatefulSet"}
# Subresource name of an in-process spec + status write (never reachable over HTTP).
BOTH = "*"
# Kinds that track metadata.generation (bumped when spec changes).
GENERATION = {"StatefulSet", "PersistentVolumeClaim", "PersistentVolume", "Pod", "Service", "Namespace", "Node"}
# Custom resources with a status subresource (crds/*.yaml): status only through /status, and a
# create never sets it; every custom resource tracks metadata.generation.
CR_STATUS = {"VolumeSnapshot", "VolumeSnapshotContent", "SnapshotSchedule"}
STATUS_SPLIT |= CR_STATUS
GENERATION |= CR_STATUS | {"VolumeSnapshotClass"}

_INITIAL_STATUS: dict[str, dict[str, Any]] = {
    "PersistentVolume": {"phase": "Pending"},
    "PersistentVolumeClaim": {"phase": "Pending"},
    "Namespace": {"phase": "Active"},
    "Pod": {"phase": "Pending", "qosClass": "BestEffort"},
    "Service": {"loadBalancer": {}},
    "StatefulSet": {"replicas": 0, "availableReplicas": 0},
}


def prepare_for_create(kind: str, obj: dict[str, Any]) -> None:
    """Reset what a client may not set on create (status, server-owned fields)."""
    if kind in _INITIAL_STATUS:
        obj["status"] = clone(_INITIAL_STATUS[kind])
    elif kind in CR_STATUS:
        obj.pop("status", None)
    if kind == "Namespace":
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            spec["finalizers"] = ["kubernetes"]
    if kind in GENERATION:
        obj["metadata"]["generation"] = 1
    if kind == "Pod":
        _pod_qos(obj)


def _pod_qos(obj: dict[str, Any]) -> None:
    """Pod QoS class from container resources (Guaranteed / Burstable / BestEffort).

    Runs before validation: parts of the wrong JSON type count as absent here (validation
    then answers the 400 that Kubernetes' decoding would)."""
    spec = obj.get("spec")
    containers = spec.get("containers") if isinstance(spec, dict) else None
    any_set = False
    guaranteed = True
    for c in containers if isinstance(containers, list) else ():
        res = c.get("resources") if isinstance(c, dict) else None
        if not isinstance(res, dict):
            res = {}
        req, lim = res.get("requests"), res.get("limits")
        req = req if isinstance(req, dict) else {}
        lim = lim if isinstance(lim, dict) else {}
        if req or lim:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim or (r in req and req[r] != lim[r]):
                guaranteed = False
    obj["status"]["qosClass"] = "BestEffort" if not any_set else ("Guaranteed" if guaranteed else "Burstable")


# What a /status write of a built-in kind keeps from the stored metadata besides what every write
# keeps (name, uid, creationTimestamp, deletionTimestamp ...; the registry restores those) and
# generation: Kubernetes' status strategies reset spec only, and the Pod's also ownerReferences
# (old kubelets corrupted them).  Custom resources keep all of the stored metadata but
# managedFields (apiextensions' status strategy copies the old object).
_STATUS_KEPT_META: dict[str, tuple[str, ...]] = {"Pod": ("ownerReferences",)}


def prepare_for_update(kind: str, obj: dict[str, Any], old: dict[str, Any], subresource: str,
                       custom: bool = False) -> None:
    """Keep the parts of ``old`` a write through this endpoint may not change (``custom``: a
    custom resource, whose /status writes change status only)."""
    if subresource == "finalize":
        # namespaces/<name>/finalize: only spec.finalizers changes.
        finalizers = (obj.get("spec") or {}).get("finalizers") if isinstance(obj.get("spec"), dict) else None
        kept = clone(old)
        kept["spec"]["finalizers"] = finalizers or []
        kept["metadata"]["resourceVersion"] = (obj.get("metadata") or {}).get("resourceVersion")
        obj.clear()
        obj.update(kept)
        return
    if subresource == "status":
        # A status write changes status (and, for built-in kinds, metadata); spec comes from old.
        new_status = obj.get("status")
        meta = obj.get("metadata") or {}
        if custom or not isinstance(obj.get("metadata"), dict):
            kept = clone(old)
        else:
            kept = clone({k: v for k, v in old.items() if k != "metadata"})
            kept["metadata"] = dict(meta)
            for name in ("generation", *_STATUS_KEPT_META.get(kind, ())):
                if name in old["metadata"]:
                    kept["metadata"][name] = clone(old["metadata"][name])
                else:
                    kept["metadata"].pop(name, None)
        if new_status is None:
            kept.pop("status", None)
        else:
            kept["status"] = new_status
            if kind == "Pod" and isinstance(new_status, dict) and not new_status.get("qosClass"):
                # As Kubernetes: QoS is fixed at creation; a status writer that drops it gets it back.
                qos = (old.get("status") or {}).get("qosClass")
                if qos:
                    new_status["qosClass"] = qos
        # Kubernetes lets status writers keep resourceVersion as a precondition only.
        kept["metadata"]["resourceVersion"] = meta.get("resourceVersion", old["metadata"].get("resourceVersion"))
        obj.clear()
        obj.update(kept)
        return
    if subresource == BOTH:
        # In-process controllers only: spec and status written together (one write for what the
        # API would take as a main-resource write followed by a /status write).
        pass
    elif kind in STATUS_SPLIT:
        if "status" in old:
            obj["status"] = clone(old["status"])
        else:
            obj.pop("status", None)
    if kind == "Namespace":
        obj["spec"] = clone(old.get("spec", {}))
    if kind == "Service":
        _keep_allocated(obj, old)
    if kind in GENERATION:
        gen = old["metadata"].get("generation", 1)
        if obj.get("spec") != old.get("spec"):
            gen += 1
        obj["metadata"]["generation"] = gen



def _keep_allocated(obj: dict[str, Any], old: dict[str, Any]) -> None:
    """A Service update that omits its allocated clusterIP / nodePorts keeps them (patchAllocatedValues)."""
    spec, old_spec = obj.get("spec"), old.get("spec") or {}
    if not isinstance(spec, dict) or spec.get("type", "ClusterIP") == "ExternalName":
        return
    if spec.get("clusterIP") in (None, "") and old_spec.get("clusterIP"):
        spec["clusterIP"] = old_spec["clusterIP"]
        if spec.get("clusterIPs") in (None, []):
            spec["clusterIPs"] = clone(old_spec.get("clusterIPs") or [old_spec["clusterIP"]])
    if spec.get("type") in ("NodePort", "LoadBalancer"):
        old_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                     for p in old_spec.get("ports") or [] if isinstance(p, dict)}
        ports = spec.get("ports")
        for p in ports if isinstance(ports, list) else ():       # (a wrong type: validation's 400)
            if isinstance(p, dict) and not p.get("nodePort"):
                prev = old_ports.get((p.get("port"), p.get("protocol", "TCP")))
                if prev:
                    p["nodePort"] = prev
