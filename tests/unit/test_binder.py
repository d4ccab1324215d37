"""The PV binder's decisions: initial PVs/PVCs/classes -> written objects and events.

Table-driven in the style of Kubernetes' binder_test.go (TestSync, TestSyncBlockVolume,
TestMultiSync), provision/delete/recycle tests and index_test.go; cases carry the
Kubernetes name they mirror.  A small in-memory API (``Cluster``) applies a Decision's
writes with Kubernetes' rules (resourceVersion preconditions, main resource vs /status),
so the tests check what ends up stored, and that any prefix of a bind -- a crash after
any write, or a lost race -- converges to the bound state on the next syncs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orlop.controllers.pv.decide import (
    ANN_BETA_STORAGE_PROVISIONER,
    ANN_BIND_COMPLETED,
    ANN_BOUND_BY_CONTROLLER,
    ANN_PROVISIONED_BY,
    ANN_SELECTED_NODE,
    ANN_STORAGE_PROVISIONER,
    Decision,
    VolumeIndex,
    claim_ref,
    default_class_for,
    find_best_volume,
    is_delay_binding,
    provisioned_volume,
    sync_claim,
    sync_volume,
    unbind_writes,
)

NS = "default"
NOW = "2025-03-01T12:00:00Z"
RWO, ROX, RWX = "ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany"
BLOCK, FS = "Block", "Filesystem"
BOUND_BY, COMPLETED = ANN_BOUND_BY_CONTROLLER, ANN_BIND_COMPLETED
GOLD, SILVER, WAIT, EMPTY = "gold", "silver", "wait", ""
LABELS = {"foo": "true", "bar": "false"}


# --------------------------------------------------------------------------- builders (framework_test.go)

def new_volume(name: str, capacity: str, claim_uid: str = "", claim_name: str = "", phase: str = "Available",
               policy: str = "Retain", cls: str = EMPTY, *anns: str, modes: tuple[str, ...] = (RWO, ROX),
               mode: str = FS, labels: dict[str, str] | None = None, uid: str | None = None,
               deleting: bool = False, message: str = "") -> dict[str, Any]:
    """newVolume: a PV, bound to default/<claim_name> (uid when given) when claim_name is set."""
    meta: dict[str, Any] = {"name": name, "uid": uid or f"pv-uid-{name}", "resourceVersion": "1"}
    if anns:
        meta["annotations"] = {a: "yes" for a in anns}
    if labels:
        meta["labels"] = dict(labels)
    if deleting:
        meta["deletionTimestamp"] = "2020-02-18T10:30:30Z"
    spec: dict[str, Any] = {"capacity": {"storage": capacity}, "accessModes": list(modes),
                            "persistentVolumeReclaimPolicy": policy, "volumeMode": mode,
                            "hostPath": {"path": f"/tmp/{name}"}}
    if cls:
        spec["storageClassName"] = cls
    if claim_name:
        ref = {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": NS, "name": claim_name}
        if claim_uid:
            ref["uid"] = claim_uid
        spec["claimRef"] = ref
    status: dict[str, Any] = {"phase": phase} if phase else {}
    if message:
        status["message"] = message
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": meta, "spec": spec, "status": status}


def new_claim(name: str, uid: str, capacity: str, volume_name: str = "", phase: str = "Pending",
              cls: str | None = None, *anns: str, modes: tuple[str, ...] = (RWO, ROX), mode: str = FS,
              selector: dict[str, str] | None = None, status_capacity: str | None = None,
              ann_values: dict[str, str] | None = None) -> dict[str, Any]:
    """newClaim: a PVC in default; Bound claims carry status accessModes and capacity."""
    meta: dict[str, Any] = {"name": name, "namespace": NS, "uid": uid, "resourceVersion": "1"}
    annotations = {a: "yes" for a in anns}
    annotations.update(ann_values or {})
    if annotations:
        meta["annotations"] = annotations
    spec: dict[str, Any] = {"accessModes": list(modes), "resources": {"requests": {"storage": capacity}},
                            "volumeMode": mode}
    if volume_name:
        spec["volumeName"] = volume_name
    if cls is not None:
        spec["storageClassName"] = cls
    if selector is not None:
        spec["selector"] = {"matchLabels": dict(selector)}
    status: dict[str, Any] = {"phase": phase}
    if phase == "Bound":
        status["accessModes"] = list(modes)
        status["capacity"] = {"storage": status_capacity or capacity}
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec, "status": status}


def new_class(name: str, provisioner: str = "orlop.io/local-path", mode: str = "Immediate",
              policy: str = "Delete", default: bool = False, created: str = "2025-01-01T00:00:00Z",
              beta_default: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "creationTimestamp": created}
    if default:
        meta["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
    if beta_default:
        meta["annotations"] = {"storageclass.beta.kubernetes.io/is-default-class": "true"}
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": meta,
            "provisioner": provisioner, "reclaimPolicy": policy, "volumeBindingMode": mode}


def node_affinity(key: str, value: str) -> dict[str, Any]:
    """GetVolumeNodeAffinity."""
    return {"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": key, "operator": "In", "values": [value]}]}]}}


def new_node(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


# The classes TestSync runs with: one WaitForFirstConsumer class.
SYNC_CLASSES = {WAIT: new_class(WAIT, provisioner="kubernetes.io/no-provisioner", mode="WaitForFirstConsumer")}


# --------------------------------------------------------------------------- in-memory API

Key = tuple[str, str, str]


def key_of(kind: str, obj: dict[str, Any]) -> Key:
    return (kind, obj["metadata"].get("namespace") or "", obj["metadata"]["name"])


class Cluster:
    """Objects keyed by (kind, namespace, name); writes follow the API server's rules."""

    def __init__(self, volumes: list[dict[str, Any]], claims: list[dict[str, Any]],
                 classes: dict[str, dict[str, Any]] | None = None) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        for v in volumes:
            self.objects[key_of("PersistentVolume", v)] = copy.deepcopy(v)
        for c in claims:
            self.objects[key_of("PersistentVolumeClaim", c)] = copy.deepcopy(c)
        self.classes = classes if classes is not None else SYNC_CLASSES
        self.rv = 100
        self.events: list[str] = []
        self.conflicts = 0

    def volumes(self) -> list[dict[str, Any]]:
        return [o for k, o in sorted(self.objects.items()) if k[0] == "PersistentVolume"]

    def claims(self) -> list[dict[str, Any]]:
        return [o for k, o in sorted(self.objects.items()) if k[0] == "PersistentVolumeClaim"]

    def get(self, kind: str, ns: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((kind, ns, name))

    def bump(self, key: Key, obj: dict[str, Any]) -> str:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.objects[key] = obj
        return str(self.rv)

    def apply(self, decision: Decision, limit: int | None = None) -> int:
        """Apply the writes in order (at most ``limit``); stop at the first failure."""
        written: dict[Key, str] = {}
        done = 0
        for w in decision.writes:
            if limit is not None and done >= limit:
                break
            key = key_of(w.kind, w.obj)
            cur = self.objects.get(key)
            if cur is None:
                break  # 404
            want_rv = written.get(key, w.obj["metadata"].get("resourceVersion"))
            if cur["metadata"]["resourceVersion"] != want_rv:
                self.conflicts += 1
                break  # 409 Conflict
            new = copy.deepcopy(w.obj)
            if w.subresource == "status":
                new = copy.deepcopy(cur)
                new["status"] = copy.deepcopy(w.obj.get("status") or {})
            else:
                new.pop("status", None)
                if "status" in cur:
                    new["status"] = copy.deepcopy(cur["status"])
            written[key] = self.bump(key, new)
            done += 1
        else:
            self.events += [f"{e.type} {e.reason}" for _, _, _, e in decision.events]
            return done
        return done

    def provision(self, claim: dict[str, Any], provisioner: str) -> None:
        """The controller's driver, then provisionClaimOperation: a PV named pvc-<uid> (status reset by the API)."""
        cls = self.classes[claim["spec"]["storageClassName"]]
        assert cls["provisioner"] == provisioner
        pv = provisioned_volume(claim, cls, {"hostPath": {"path": f"/data/pvc-{claim['metadata']['uid']}"}})
        key = ("PersistentVolume", "", pv["metadata"]["name"])
        if key not in self.objects:
            pv["status"] = {"phase": "Pending"}
            self.bump(key, pv)

    def sync_claim(self, claim: dict[str, Any], **kw: Any) -> int:
        d = sync_claim(claim, self.volumes(), self.classes, NOW, **kw)
        n = self.apply(d)
        if d.provision and n == len(d.writes):
            fresh = self.get("PersistentVolumeClaim", claim["metadata"]["namespace"], claim["metadata"]["name"])
            assert fresh is not None
            self.provision(fresh, d.provisioner)
            n += 1
        return n

    def claim_for(self, volume: dict[str, Any]) -> dict[str, Any] | None:
        ref = volume["spec"].get("claimRef")
        if not ref:
            return None
        return self.get("PersistentVolumeClaim", ref.get("namespace") or "", ref.get("name") or "")

    def sync_volume(self, volume: dict[str, Any]) -> int:
        return self.apply(sync_volume(volume, self.claim_for(volume), self.classes, NOW))

    def run_to_stable(self, rounds: int = 30, **kw: Any) -> None:
        """Periodic sync of every claim and volume until a whole round writes nothing."""
        for _ in range(rounds):
            changed = 0
            for k in [k for k in sorted(self.objects) if k[0] == "PersistentVolumeClaim"]:
                changed += self.sync_claim(self.objects[k], **kw)
            for k in [k for k in sorted(self.objects) if k[0] == "PersistentVolume"]:
                if k in self.objects:
                    changed += self.sync_volume(self.objects[k])
            if not changed:
                return
        raise AssertionError("binder did not converge")


# --------------------------------------------------------------------------- summaries

def vsum(v: dict[str, Any]) -> dict[str, Any]:
    spec, status, meta = v["spec"], v.get("status") or {}, v["metadata"]
    ref = spec.get("claimRef")
    return {"name": meta["name"], "capacity": spec["capacity"]["storage"],
            "claimRef": (ref.get("namespace"), ref.get("name"), ref.get("uid", "")) if ref else None,
            "phase": status.get("phase", ""), "message": status.get("message", ""),
            "policy": spec.get("persistentVolumeReclaimPolicy"), "class": spec.get("storageClassName", ""),
            "annotations": meta.get("annotations") or {}, "volumeMode": spec.get("volumeMode")}


def csum(c: dict[str, Any]) -> dict[str, Any]:
    spec, status, meta = c["spec"], c.get("status") or {}, c["metadata"]
    return {"name": meta["name"], "uid": meta["uid"], "request": spec["resources"]["requests"]["storage"],
            "volumeName": spec.get("volumeName", ""), "phase": status.get("phase", ""),
            "class": spec.get("storageClassName"), "annotations": meta.get("annotations") or {},
            "capacity": (status.get("capacity") or {}).get("storage"), "accessModes": status.get("accessModes")}


# --------------------------------------------------------------------------- TestSync table

@dataclass
class Case:
    name: str
    volumes: list[dict[str, Any]]
    exp_volumes: list[dict[str, Any]]
    claims: list[dict[str, Any]]
    exp_claims: list[dict[str, Any]]
    events: list[str]
    test: str  # "claim" | "volume"
    classes: dict[str, dict[str, Any]] = field(default_factory=lambda: SYNC_CLASSES)
    reclaim: str | None = None
    provision: bool = False
    error: bool = False
    kw: dict[str, Any] = field(default_factory=dict)


def V(*a: Any, **k: Any) -> list[dict[str, Any]]:  # noqa: N802 - newVolumeArray
    return [new_volume(*a, **k)]


def C(*a: Any, **k: Any) -> list[dict[str, Any]]:  # noqa: N802 - newClaimArray
    return [new_claim(*a, **k)]


def with_affinity(vols: list[dict[str, Any]], key: str, value: str) -> list[dict[str, Any]]:
    for v in vols:
        v["spec"]["nodeAffinity"] = node_affinity(key, value)
    return vols


OK: list[str] = []
A, B, P, R, F = "Available", "Bound", "Pending", "Released", "Failed"

CASES: list[Case] = [
    # [Unit test set 1] The user did not care which PV they get.
    Case("1-1 - successful bind",
         V("volume1-1", "1Gi", "", "", A), V("volume1-1", "1Gi", "uid1-1", "claim1-1", B, "Retain", EMPTY, BOUND_BY),
         C("claim1-1", "uid1-1", "1Gi"), C("claim1-1", "uid1-1", "1Gi", "volume1-1", B, None, BOUND_BY, COMPLETED),
         OK, "claim"),
    Case("1-2 - noop",
         V("volume1-2", "1Gi"), V("volume1-2", "1Gi"),
         C("claim1-2", "uid1-2", "10Gi"), C("claim1-2", "uid1-2", "10Gi"),
         ["Normal FailedBinding"], "claim"),
    Case("1-3 - reset to Pending",
         V("volume1-3", "1Gi"), V("volume1-3", "1Gi"),
         C("claim1-3", "uid1-3", "10Gi", "", B), C("claim1-3", "uid1-3", "10Gi", "", P),
         ["Normal FailedBinding"], "claim"),
    Case("1-4 - smallest volume",
         [new_volume("volume1-4_1", "10Gi"), new_volume("volume1-4_2", "1Gi")],
         [new_volume("volume1-4_1", "10Gi"),
          new_volume("volume1-4_2", "1Gi", "uid1-4", "claim1-4", B, "Retain", EMPTY, BOUND_BY)],
         C("claim1-4", "uid1-4", "1Gi"), C("claim1-4", "uid1-4", "1Gi", "volume1-4_2", B, None, BOUND_BY, COMPLETED),
         OK, "claim"),
    Case("1-5 - prebound volume by name - success",
         [new_volume("volume1-5_1", "10Gi", "", "claim1-5"), new_volume("volume1-5_2", "1Gi")],
         [new_volume("volume1-5_1", "10Gi", "uid1-5", "claim1-5", B), new_volume("volume1-5_2", "1Gi")],
         C("claim1-5", "uid1-5", "1Gi"),
         C("claim1-5", "uid1-5", "1Gi", "volume1-5_1", B, None, BOUND_BY, COMPLETED, status_capacity="10Gi"),
         OK, "claim"),
    Case("1-6 - prebound volume by UID - success",
         [new_volume("volume1-6_1", "10Gi", "uid1-6", "claim1-6"), new_volume("volume1-6_2", "1Gi")],
         [new_volume("volume1-6_1", "10Gi", "uid1-6", "claim1-6", B), new_volume("volume1-6_2", "1Gi")],
         C("claim1-6", "uid1-6", "1Gi"),
         C("claim1-6", "uid1-6", "1Gi", "volume1-6_1", B, None, BOUND_BY, COMPLETED, status_capacity="10Gi"),
         OK, "claim"),
    Case("1-7 - prebound volume to different claim",
         V("volume1-7", "10Gi", "uid1-777", "claim1-7"), V("volume1-7", "10Gi", "uid1-777", "claim1-7"),
         C("claim1-7", "uid1-7", "1Gi"), C("claim1-7", "uid1-7", "1Gi"),
         ["Normal FailedBinding"], "claim"),
    Case("1-8 - complete bind after crash - PV bound",
         V("volume1-8", "1Gi", "uid1-8", "claim1-8", A, "Retain", EMPTY, BOUND_BY),
         V("volume1-8", "1Gi", "uid1-8", "claim1-8", B, "Retain", EMPTY, BOUND_BY),
         C("claim1-8", "uid1-8", "1Gi"), C("claim1-8", "uid1-8", "1Gi", "volume1-8", B, None, BOUND_BY, COMPLETED),
         OK, "claim"),
    Case("1-9 - complete bind after crash - PV status saved",
         V("volume1-9", "1Gi", "uid1-9", "claim1-9", B, "Retain", EMPTY, BOUND_BY),
         V("volume1-9", "1Gi", "uid1-9", "claim1-9", B, "Retain", EMPTY, BOUND_BY),
         C("claim1-9", "uid1-9", "1Gi"), C("claim1-9", "uid1-9", "1Gi", "volume1-9", B, None, BOUND_BY, COMPLETED),
         OK, "claim"),
    Case("1-10 - complete bind after crash - PVC bound",
         V("volume1-10", "1Gi", "uid1-10", "claim1-10", B, "Retain", EMPTY, BOUND_BY),
         V("volume1-10", "1Gi", "uid1-10", "claim1-10", B, "Retain", EMPTY, BOUND_BY),
         C("claim1-10", "uid1-10", "1Gi", "volume1-10", P, None, BOUND_BY, COMPLETED),
         C("claim1-10", "uid1-10", "1Gi", "volume1-10", B, None, BOUND_BY, COMPLETED),
         OK, "claim"),
    Case("1-11 - bind when selector matches",
         V("volume1-1", "1Gi", labels=LABELS),
         V("volume1-1", "1Gi", "uid1-1", "claim1-1", B, "Retain", EMPTY, BOUND_BY, labels=LABELS),
         C("claim1-1", "uid1-1", "1Gi", selector=LABELS),
         C("claim1-1", "uid1-1", "1Gi", "volume1-1", B, None, BOUND_BY, COMPLETED, selector=LABELS),
         OK, "claim"),
    Case("1-12 - do not bind when selector does not match",
         V("volume1-1", "1Gi"), V("volume1-1", "1Gi"),
         C("claim1-1", "uid1-1", "1Gi", selector=LABELS), C("claim1-1", "uid1-1", "1Gi", selector=LABELS),
         ["Normal FailedBinding"], "claim"),
    Case("1-13 - delayed binding",
         V("volume1-1", "1Gi", cls=WAIT), V("volume1-1", "1Gi", cls=WAIT),
         C("claim1-1", "uid1-1", "1Gi", cls=WAIT), C("claim1-1", "uid1-1", "1Gi", cls=WAIT),
         ["Normal WaitForFirstConsumer"], "claim"),
    Case("1-14 - successful prebound PV",
         V("volume1-1", "1Gi", "", "claim1-1", cls=WAIT), V("volume1-1", "1Gi", "uid1-1", "claim1-1", B, cls=WAIT),
         C("claim1-1", "uid1-1", "1Gi", cls=WAIT),
         C("claim1-1", "uid1-1", "1Gi", "volume1-1", B, WAIT, BOUND_BY, COMPLETED),
         OK, "claim"),
    Case("1-15 - successful prebound PVC",
         [new_volume("volume1-15_1", "10Gi"), new_volume("volume1-15_2", "1Gi")],
         [new_volume("volume1-15_1", "10Gi", "uid1-15", "claim1-15", B, "Retain", EMPTY, BOUND_BY),
          new_volume("volume1-15_2", "1Gi")],
         C("claim1-15", "uid1-15", "1Gi", "volume1-15_1"),
         C("claim1-15", "uid1-15", "1Gi", "volume1-15_1", B, None, COMPLETED, status_capacity="10Gi"),
         OK, "claim"),
    # Kubernetes' test lists no events but its framework cannot see unexpected ones; the
    # code emits VolumeMismatch (checkVolumeSatisfyClaim: incompatible accessMode).
    Case("1-16 - prebound PVC with different AccessMode",
         V("volume1-16", "1Gi"), V("volume1-16", "1Gi"),
         C("claim1-16", "uid1-16", "1Gi", "volume1-16", modes=(RWX,)),
         C("claim1-16", "uid1-16", "1Gi", "volume1-16", modes=(RWX,)),
         ["Warning VolumeMismatch"], "claim"),
    Case("1-17 - skip non-available PV if it's not pre-bind",
         [new_volume("volume1-17-pending", "1Gi", phase=P), new_volume("volume1-17-failed", "1Gi", phase=F),
          new_volume("volume1-17-released", "1Gi", phase=R), new_volume("volume1-17-empty", "1Gi", phase="")],
         [new_volume("volume1-17-pending", "1Gi", phase=P), new_volume("volume1-17-failed", "1Gi", phase=F),
          new_volume("volume1-17-released", "1Gi", phase=R), new_volume("volume1-17-empty", "1Gi", phase="")],
         C("claim1-17", "uid1-17", "1Gi"), C("claim1-17", "uid1-17", "1Gi"),
         ["Normal FailedBinding"], "claim"),
    Case("1-18 - successful pre-bound PV to PVC provisioning",
         V("volume1-18", "1Gi", "uid1-18", "claim1-18", cls=WAIT),
         V("volume1-18", "1Gi", "uid1-18", "claim1-18", B, cls=WAIT),
         C("claim1-18", "uid1-18", "1Gi", "", P, WAIT, ann_values={ANN_SELECTED_NODE: "node1"}),
         C("claim1-18", "uid1-18", "1Gi", "volume1-18", B, WAIT, BOUND_BY, COMPLETED,
           ann_values={ANN_SELECTED_NODE: "node1"}),
         OK, "claim"),

    # [Unit test set 2] The user asked for a specific PV.
    Case("2-1 - claim prebound to non-existing volume - noop",
         [], [], C("claim2-1", "uid2-1", "10Gi", "volume2-1"), C("claim2-1", "uid2-1", "10Gi", "volume2-1"),
         OK, "claim"),
    Case("2-2 - claim prebound to non-existing volume - reset status",
         [], [], C("claim2-2", "uid2-2", "10Gi", "volume2-2", B), C("claim2-2", "uid2-2", "10Gi", "volume2-2", P),
         OK, "claim"),
    Case("2-3 - claim prebound to unbound volume",
         V("volume2-3", "1Gi"), V("volume2-3", "1Gi", "uid2-3", "claim2-3", B, "Retain", EMPTY, BOUND_BY),
         C("claim2-3", "uid2-3", "1Gi", "volume2-3"), C("claim2-3", "uid2-3", "1Gi", "volume2-3", B, None, COMPLETED),
         OK, "claim"),
    Case("2-4 - claim prebound to prebound volume by name",
         V("volume2-4", "1Gi", "", "claim2-4"), V("volume2-4", "1Gi", "uid2-4", "claim2-4", B),
         C("claim2-4", "uid2-4", "1Gi", "volume2-4"), C("claim2-4", "uid2-4", "1Gi", "volume2-4", B, None, COMPLETED),
         OK, "claim"),
    Case("2-5 - claim prebound to prebound volume by UID",
         V("volume2-5", "1Gi", "uid2-5", "claim2-5"), V("volume2-5", "1Gi", "uid2-5", "claim2-5", B),
         C("claim2-5", "uid2-5", "1Gi", "volume2-5"), C("claim2-5", "uid2-5", "1Gi", "volume2-5", B, None, COMPLETED),
         OK, "claim"),
    Case("2-6 - claim prebound to already bound volume",
         V("volume2-6", "1Gi", "uid2-6_1", "claim2-6_1", B), V("volume2-6", "1Gi", "uid2-6_1", "claim2-6_1", B),
         C("claim2-6", "uid2-6", "1Gi", "volume2-6", B), C("claim2-6", "uid2-6", "1Gi", "volume2-6", P),
         ["Warning FailedBinding"], "claim"),
    Case("2-7 - claim bound by controller to already bound volume",
         V("volume2-7", "1Gi", "uid2-7_1", "claim2-7_1", B), V("volume2-7", "1Gi", "uid2-7_1", "claim2-7_1", B),
         C("claim2-7", "uid2-7", "1Gi", "volume2-7", B, None, BOUND_BY),
         C("claim2-7", "uid2-7", "1Gi", "volume2-7", B, None, BOUND_BY),
         ["Warning FailedBinding"], "claim", error=True),
    Case("2-8 - claim prebound to unbound volume that does not match the selector",
         V("volume2-8", "1Gi"), V("volume2-8", "1Gi", "uid2-8", "claim2-8", B, "Retain", EMPTY, BOUND_BY),
         C("claim2-8", "uid2-8", "1Gi", "volume2-8", selector=LABELS),
         C("claim2-8", "uid2-8", "1Gi", "volume2-8", B, None, COMPLETED, selector=LABELS),
         OK, "claim"),
    Case("2-9 - claim prebound to unbound volume that size is smaller than requested",
         V("volume2-9", "1Gi"), V("volume2-9", "1Gi"),
         C("claim2-9", "uid2-9", "2Gi", "volume2-9", B), C("claim2-9", "uid2-9", "2Gi", "volume2-9", P),
         ["Warning VolumeMismatch"], "claim"),
    Case("2-10 - claim prebound to unbound volume that class is different",
         V("volume2-10", "1Gi", cls=GOLD), V("volume2-10", "1Gi", cls=GOLD),
         C("claim2-10", "uid2-10", "1Gi", "volume2-10", B), C("claim2-10", "uid2-10", "1Gi", "volume2-10", P),
         ["Warning VolumeMismatch"], "claim"),

    # [Unit test set 3] Syncing a bound claim.
    Case("3-1 - bound claim with missing VolumeName",
         [], [], C("claim3-1", "uid3-1", "10Gi", "", B, None, BOUND_BY, COMPLETED),
         C("claim3-1", "uid3-1", "10Gi", "", "Lost", None, BOUND_BY, COMPLETED),
         ["Warning ClaimLost"], "claim"),
    Case("3-2 - bound claim with missing volume",
         [], [], C("claim3-2", "uid3-2", "10Gi", "volume3-2", B, None, BOUND_BY, COMPLETED),
         C("claim3-2", "uid3-2", "10Gi", "volume3-2", "Lost", None, BOUND_BY, COMPLETED),
         ["Warning ClaimLost"], "claim"),
    Case("3-3 - bound claim with unbound volume",
         V("volume3-3", "10Gi"), V("volume3-3", "10Gi", "uid3-3", "claim3-3", B, "Retain", EMPTY, BOUND_BY),
         C("claim3-3", "uid3-3", "10Gi", "volume3-3", P, None, BOUND_BY, COMPLETED),
         C("claim3-3", "uid3-3", "10Gi", "volume3-3", B, None, BOUND_BY, COMPLETED),
         OK, "claim"),
    Case("3-4 - bound claim with prebound volume",
         V("volume3-4", "10Gi", "claim3-4-x", "claim3-4"), V("volume3-4", "10Gi", "claim3-4-x", "claim3-4"),
         C("claim3-4", "uid3-4", "10Gi", "volume3-4", P, None, BOUND_BY, COMPLETED),
         C("claim3-4", "uid3-4", "10Gi", "volume3-4", "Lost", None, BOUND_BY, COMPLETED),
         ["Warning ClaimMisbound"], "claim"),
    Case("3-5 - bound claim with bound volume",
         V("volume3-5", "10Gi", "uid3-5", "claim3-5"), V("volume3-5", "10Gi", "uid3-5", "claim3-5", B),
         C("claim3-5", "uid3-5", "10Gi", "volume3-5", P, None, COMPLETED),
         C("claim3-5", "uid3-5", "10Gi", "volume3-5", B, None, COMPLETED),
         OK, "claim"),
    Case("3-6 - bound claim with bound volume",
         V("volume3-6", "10Gi", "uid3-6-x", "claim3-6-x"), V("volume3-6", "10Gi", "uid3-6-x", "claim3-6-x"),
         C("claim3-6", "uid3-6", "10Gi", "volume3-6", P, None, COMPLETED),
         C("claim3-6", "uid3-6", "10Gi", "volume3-6", "Lost", None, COMPLETED),
         ["Warning ClaimMisbound"], "claim"),
    Case("3-7 - bound claim with unbound volume where selector doesn't match",
         V("volume3-3", "10Gi"), V("volume3-3", "10Gi", "uid3-3", "claim3-3", B, "Retain", EMPTY, BOUND_BY),
         C("claim3-3", "uid3-3", "10Gi", "volume3-3", P, None, BOUND_BY, COMPLETED, selector=LABELS),
         C("claim3-3", "uid3-3", "10Gi", "volume3-3", B, None, BOUND_BY, COMPLETED, selector=LABELS),
         OK, "claim"),

    # [Unit test set 4] syncVolume.
    Case("4-1 - pending volume",
         V("volume4-1", "10Gi", phase=P), V("volume4-1", "10Gi"), [], [], OK, "volume"),
    Case("4-2 - pending prebound volume",
         V("volume4-2", "10Gi", "", "claim4-2", P), V("volume4-2", "10Gi", "", "claim4-2"), [], [], OK, "volume"),
    Case("4-3 - bound volume with missing claim",
         V("volume4-3", "10Gi", "uid4-3", "claim4-3", B), V("volume4-3", "10Gi", "uid4-3", "claim4-3", R),
         [], [], OK, "volume"),
    Case("4-4 - volume bound to claim with different UID",
         V("volume4-4", "10Gi", "uid4-4", "claim4-4", B), V("volume4-4", "10Gi", "uid4-4", "claim4-4", R),
         C("claim4-4", "uid4-4-x", "10Gi", "volume4-4", B, None, COMPLETED),
         C("claim4-4", "uid4-4-x", "10Gi", "volume4-4", B, None, COMPLETED),
         OK, "volume"),
    Case("4-5 - volume bound by controller to unbound claim",
         V("volume4-5", "10Gi", "uid4-5", "claim4-5", B, "Retain", EMPTY, BOUND_BY),
         V("volume4-5", "10Gi", "uid4-5", "claim4-5", B, "Retain", EMPTY, BOUND_BY),
         C("claim4-5", "uid4-5", "10Gi"), C("claim4-5", "uid4-5", "10Gi"), OK, "volume"),
    Case("4-5 - volume bound by user to bound claim",
         V("volume4-5", "10Gi", "uid4-5", "claim4-5", B), V("volume4-5", "10Gi", "uid4-5", "claim4-5", B),
         C("claim4-5", "uid4-5", "10Gi"), C("claim4-5", "uid4-5", "10Gi"), OK, "volume"),
    Case("4-6 - volume bound by to bound claim",
         V("volume4-6", "10Gi", "uid4-6", "claim4-6"), V("volume4-6", "10Gi", "uid4-6", "claim4-6", B),
         C("claim4-6", "uid4-6", "10Gi", "volume4-6", B), C("claim4-6", "uid4-6", "10Gi", "volume4-6", B),
         OK, "volume"),
    Case("4-7 - volume bound by controller to claim bound somewhere else",
         V("volume4-7", "10Gi", "uid4-7", "claim4-7", B, "Retain", EMPTY, BOUND_BY), V("volume4-7", "10Gi"),
         C("claim4-7", "uid4-7", "10Gi", "volume4-7-x", B), C("claim4-7", "uid4-7", "10Gi", "volume4-7-x", B),
         OK, "volume"),
    Case("4-8 - volume bound by user to claim bound somewhere else",
         V("volume4-8", "10Gi", "uid4-8", "claim4-8", B), V("volume4-8", "10Gi", "", "claim4-8"),
         C("claim4-8", "uid4-8", "10Gi", "volume4-8-x", B), C("claim4-8", "uid4-8", "10Gi", "volume4-8-x", B),
         OK, "volume"),
    Case("4-9 - volume bound to bound claim, with PersistentVolumeReclaimDelete",
         V("volume4-9", "10Gi", "uid4-9", "claim4-9", A, "Delete"),
         V("volume4-9", "10Gi", "uid4-9", "claim4-9", B, "Delete"),
         C("claim4-9", "uid4-9", "10Gi", "volume4-9", B), C("claim4-9", "uid4-9", "10Gi", "volume4-9", B),
         OK, "volume"),
    # Kubernetes' 4-10 fails for want of a deleter plugin; here deleting is the controller's
    # job: the decision is Released + reclaim="Delete".
    Case("4-10 - volume bound to missing claim",
         V("volume4-10", "10Gi", "uid4-10", "claim4-10", A, "Delete"),
         V("volume4-10", "10Gi", "uid4-10", "claim4-10", R, "Delete"),
         [], [], OK, "volume", reclaim="Delete"),
    Case("4-12 - volume bound to newest claim",
         V("volume4-12", "10Gi", "uid4-12-new", "claim4-12", A, "Delete"),
         V("volume4-12", "10Gi", "uid4-12-new", "claim4-12", B, "Delete"),
         C("claim4-12", "uid4-12-new", "10Gi", "volume4-12", B),
         C("claim4-12", "uid4-12-new", "10Gi", "volume4-12", B),
         OK, "volume"),

    # PVC with class.
    Case("13-1 - binding to class",
         [new_volume("volume13-1-1", "1Gi"), new_volume("volume13-1-2", "10Gi", cls=GOLD)],
         [new_volume("volume13-1-1", "1Gi"),
          new_volume("volume13-1-2", "10Gi", "uid13-1", "claim13-1", B, "Retain", GOLD, BOUND_BY)],
         C("claim13-1", "uid13-1", "1Gi", cls=GOLD),
         C("claim13-1", "uid13-1", "1Gi", "volume13-1-2", B, GOLD, BOUND_BY, COMPLETED, status_capacity="10Gi"),
         OK, "claim"),
    Case("13-2 - binding without a class",
         [new_volume("volume13-2-1", "1Gi", cls=GOLD), new_volume("volume13-2-2", "10Gi")],
         [new_volume("volume13-2-1", "1Gi", cls=GOLD),
          new_volume("volume13-2-2", "10Gi", "uid13-2", "claim13-2", B, "Retain", EMPTY, BOUND_BY)],
         C("claim13-2", "uid13-2", "1Gi"),
         C("claim13-2", "uid13-2", "1Gi", "volume13-2-2", B, None, BOUND_BY, COMPLETED, status_capacity="10Gi"),
         OK, "claim"),
    Case("13-3 - binding to specific a class",
         [new_volume("volume13-3-1", "1Gi", cls=SILVER), new_volume("volume13-3-2", "10Gi", cls=GOLD)],
         [new_volume("volume13-3-1", "1Gi", cls=SILVER),
          new_volume("volume13-3-2", "10Gi", "uid13-3", "claim13-3", B, "Retain", GOLD, BOUND_BY)],
         C("claim13-3", "uid13-3", "1Gi", cls=GOLD),
         C("claim13-3", "uid13-3", "1Gi", "volume13-3-2", B, GOLD, BOUND_BY, COMPLETED, status_capacity="10Gi"),
         OK, "claim"),
    Case("13-4 - empty class",
         V("volume13-4", "1Gi"), V("volume13-4", "1Gi", "uid13-4", "claim13-4", B, "Retain", EMPTY, BOUND_BY),
         C("claim13-4", "uid13-4", "1Gi", cls=EMPTY),
         C("claim13-4", "uid13-4", "1Gi", "volume13-4", B, EMPTY, BOUND_BY, COMPLETED),
         OK, "claim"),
    Case("13-5 - nil class",
         V("volume13-5", "1Gi"), V("volume13-5", "1Gi", "uid13-5", "claim13-5", B, "Retain", EMPTY, BOUND_BY),
         C("claim13-5", "uid13-5", "1Gi"), C("claim13-5", "uid13-5", "1Gi", "volume13-5", B, None, BOUND_BY, COMPLETED),
         OK, "claim"),
]

# TestSyncBlockVolume (run with no StorageClasses).
BLOCK_CASES: list[Case] = [
    Case("14-1 - binding to volumeMode block",
         V("volume14-1", "10Gi", mode=BLOCK),
         V("volume14-1", "10Gi", "uid14-1", "claim14-1", B, "Retain", EMPTY, BOUND_BY, mode=BLOCK),
         C("claim14-1", "uid14-1", "10Gi", mode=BLOCK),
         C("claim14-1", "uid14-1", "10Gi", "volume14-1", B, None, BOUND_BY, COMPLETED, mode=BLOCK),
         OK, "claim"),
    Case("14-2 - binding to volumeMode filesystem",
         V("volume14-2", "10Gi"), V("volume14-2", "10Gi", "uid14-2", "claim14-2", B, "Retain", EMPTY, BOUND_BY),
         C("claim14-2", "uid14-2", "10Gi"),
         C("claim14-2", "uid14-2", "10Gi", "volume14-2", B, None, BOUND_BY, COMPLETED),
         OK, "claim"),
    Case("14-3 - do not bind pv volumeMode filesystem and pvc volumeMode block",
         V("volume14-3", "10Gi"), V("volume14-3", "10Gi"),
         C("claim14-3", "uid14-3", "10Gi", mode=BLOCK), C("claim14-3", "uid14-3", "10Gi", mode=BLOCK),
         ["Normal FailedBinding"], "claim"),
    Case("14-4 - do not bind pv volumeMode block and pvc volumeMode filesystem",
         V("volume14-4", "10Gi", mode=BLOCK), V("volume14-4", "10Gi", mode=BLOCK),
         C("claim14-4", "uid14-4", "10Gi"), C("claim14-4", "uid14-4", "10Gi"),
         ["Normal FailedBinding"], "claim"),
    Case("14-5 - do not bind when matching class but not volumeMode",
         V("volume14-5", "10Gi", cls=GOLD), V("volume14-5", "10Gi", cls=GOLD),
         C("claim14-5", "uid14-5", "10Gi", cls=GOLD, mode=BLOCK), C("claim14-5", "uid14-5", "10Gi", cls=GOLD, mode=BLOCK),
         ["Warning ProvisioningFailed"], "claim"),
    Case("14-5-1 - do not bind when matching volumeModes but class does not match",
         V("volume14-5-1", "10Gi", cls=GOLD), V("volume14-5-1", "10Gi", cls=GOLD),
         C("claim14-5-1", "uid14-5-1", "10Gi", cls=SILVER), C("claim14-5-1", "uid14-5-1", "10Gi", cls=SILVER),
         ["Warning ProvisioningFailed"], "claim"),
    Case("14-5-2 - do not bind when pvc is prebound to pv with matching volumeModes but class does not match",
         V("volume14-5-2", "10Gi", cls=GOLD), V("volume14-5-2", "10Gi", cls=GOLD),
         C("claim14-5-2", "uid14-5-2", "10Gi", "volume14-5-2", cls=SILVER),
         C("claim14-5-2", "uid14-5-2", "10Gi", "volume14-5-2", cls=SILVER),
         ["Warning VolumeMismatch"], "claim"),
    Case("14-7 - bind when pv volume is prebound and volumeModes match",
         V("volume14-7", "10Gi", "", "claim14-7", mode=BLOCK),
         V("volume14-7", "10Gi", "uid14-7", "claim14-7", B, mode=BLOCK),
         C("claim14-7", "uid14-7", "10Gi", mode=BLOCK),
         C("claim14-7", "uid14-7", "10Gi", "volume14-7", B, None, BOUND_BY, COMPLETED, mode=BLOCK),
         OK, "claim"),
    Case("14-8 - do not bind when pvc is prebound to pv with mismatching volumeModes",
         V("volume14-8", "10Gi", mode=BLOCK), V("volume14-8", "10Gi", mode=BLOCK),
         C("claim14-8", "uid14-8", "10Gi", "volume14-8"), C("claim14-8", "uid14-8", "10Gi", "volume14-8"),
         ["Warning VolumeMismatch"], "claim"),
    Case("14-8-1 - do not bind when pv is prebound to pvc with mismatching volumeModes",
         V("volume14-8-1", "10Gi", "", "claim14-8-1", mode=BLOCK),
         V("volume14-8-1", "10Gi", "", "claim14-8-1", mode=BLOCK),
         C("claim14-8-1", "uid14-8-1", "10Gi"), C("claim14-8-1", "uid14-8-1", "10Gi"),
         ["Normal FailedBinding"], "claim"),
    Case("14-9 - bind when pvc is prebound to pv with matching volumeModes block",
         V("volume14-9", "10Gi", mode=BLOCK),
         V("volume14-9", "10Gi", "uid14-9", "claim14-9", B, "Retain", EMPTY, BOUND_BY, mode=BLOCK),
         C("claim14-9", "uid14-9", "10Gi", "volume14-9", mode=BLOCK),
         C("claim14-9", "uid14-9", "10Gi", "volume14-9", B, None, COMPLETED, mode=BLOCK),
         OK, "claim"),
    Case("14-10 - bind when pv is prebound to pvc with matching volumeModes block",
         V("volume14-10", "10Gi", "", "claim14-10", mode=BLOCK),
         V("volume14-10", "10Gi", "uid14-10", "claim14-10", B, mode=BLOCK),
         C("claim14-10", "uid14-10", "10Gi", mode=BLOCK),
         C("claim14-10", "uid14-10", "10Gi", "volume14-10", B, None, BOUND_BY, COMPLETED, mode=BLOCK),
         OK, "claim"),
    Case("14-11 - bind when pvc is prebound to pv with matching volumeModes filesystem",
         V("volume14-11", "10Gi"), V("volume14-11", "10Gi", "uid14-11", "claim14-11", B, "Retain", EMPTY, BOUND_BY),
         C("claim14-11", "uid14-11", "10Gi", "volume14-11"),
         C("claim14-11", "uid14-11", "10Gi", "volume14-11", B, None, COMPLETED),
         OK, "claim"),
    Case("14-12 - bind when pv is prebound to pvc with matching volumeModes filesystem",
         V("volume14-12", "10Gi", "", "claim14-12"), V("volume14-12", "10Gi", "uid14-12", "claim14-12", B),
         C("claim14-12", "uid14-12", "10Gi"),
         C("claim14-12", "uid14-12", "10Gi", "volume14-12", B, None, BOUND_BY, COMPLETED),
         OK, "claim"),
    Case("14-13 - output warning when pv is prebound to pvc with different volumeModes",
         V("volume14-13", "10Gi", "uid14-13", "claim14-13", A, "Retain", EMPTY, BOUND_BY),
         V("volume14-13", "10Gi", "uid14-13", "claim14-13", A, "Retain", EMPTY, BOUND_BY),
         C("claim14-13", "uid14-13", "10Gi", mode=BLOCK), C("claim14-13", "uid14-13", "10Gi", mode=BLOCK),
         ["Warning VolumeMismatch", "Warning VolumeMismatch"], "volume"),
    Case("14-13-1 - output warning when pv is prebound to pvc with different volumeModes",
         V("volume14-13-1", "10Gi", "uid14-13-1", "claim14-13-1", A, "Retain", EMPTY, BOUND_BY, mode=BLOCK),
         V("volume14-13-1", "10Gi", "uid14-13-1", "claim14-13-1", A, "Retain", EMPTY, BOUND_BY, mode=BLOCK),
         C("claim14-13-1", "uid14-13-1", "10Gi"), C("claim14-13-1", "uid14-13-1", "10Gi"),
         ["Warning VolumeMismatch", "Warning VolumeMismatch"], "volume"),
    Case("14-14 - wait for synClaim without warning when pv is prebound to pvc with matching volumeModes block",
         V("volume14-14", "10Gi", "uid14-14", "claim14-14", A, "Retain", EMPTY, BOUND_BY, mode=BLOCK),
         V("volume14-14", "10Gi", "uid14-14", "claim14-14", A, "Retain", EMPTY, BOUND_BY, mode=BLOCK),
         C("claim14-14", "uid14-14", "10Gi", mode=BLOCK), C("claim14-14", "uid14-14", "10Gi", mode=BLOCK),
         OK, "volume"),
    Case("14-14-1 - wait for synClaim without warning when pv is prebound to pvc with matching volumeModes file",
         V("volume14-14-1", "10Gi", "uid14-14-1", "claim14-14-1", A, "Retain", EMPTY, BOUND_BY),
         V("volume14-14-1", "10Gi", "uid14-14-1", "claim14-14-1", A, "Retain", EMPTY, BOUND_BY),
         C("claim14-14-1", "uid14-14-1", "10Gi"), C("claim14-14-1", "uid14-14-1", "10Gi"),
         OK, "volume"),
]
for _c in BLOCK_CASES:
    _c.classes = {}

LOCAL = new_class(GOLD, provisioner="orlop.io/local-path")
EXTERNAL = new_class("external", provisioner="vendor.com/my-volume")
STATIC = new_class("static", provisioner="kubernetes.io/no-provisioner")
WAIT_LOCAL = new_class("copper", provisioner="orlop.io/local-path", mode="WaitForFirstConsumer")



def provisioned(vols: list[dict[str, Any]], provisioner: str = "orlop.io/local-path") -> list[dict[str, Any]]:
    """The volumes with ``pv.kubernetes.io/provisioned-by: <provisioner>``."""
    for v in vols:
        v["metadata"].setdefault("annotations", {})[ANN_PROVISIONED_BY] = provisioner
    return vols


# Reclaim (delete_test.go / recycle_test.go) and provisioning (provision_test.go) decisions.
RECLAIM_PROVISION_CASES: list[Case] = [
    Case("6-1 - successful recycle",
         V("volume6-1", "1Gi", "uid6-1", "claim6-1", B, "Recycle"),
         V("volume6-1", "1Gi", "uid6-1", "claim6-1", R, "Recycle"), [], [], OK, "volume", reclaim="Recycle"),
    Case("6-x - released volume is recycled again on every sync",
         V("volume6-x", "1Gi", "uid6-x", "claim6-x", R, "Recycle"),
         V("volume6-x", "1Gi", "uid6-x", "claim6-x", R, "Recycle"), [], [], OK, "volume", reclaim="Recycle"),
    Case("8-1 - successful delete",
         V("volume8-1", "1Gi", "uid8-1", "claim8-1", B, "Delete", EMPTY, BOUND_BY),
         V("volume8-1", "1Gi", "uid8-1", "claim8-1", R, "Delete", EMPTY, BOUND_BY), [], [], OK, "volume",
         reclaim="Delete"),
    Case("8-x - failed volume keeps Failed and deletion is retried",
         V("volume8-x", "1Gi", "uid8-x", "claim8-x", F, "Delete", message="Delete failed"),
         V("volume8-x", "1Gi", "uid8-x", "claim8-x", F, "Delete", message="Delete failed"), [], [], OK, "volume",
         reclaim="Delete"),
    Case("8-9 - provisioned volume of a claim bound elsewhere is deleted",
         V("volume8-9", "1Gi", "uid8-9", "claim8-9", B, "Delete", EMPTY, BOUND_BY, ANN_PROVISIONED_BY),
         V("volume8-9", "1Gi", "uid8-9", "claim8-9", R, "Delete", EMPTY, BOUND_BY, ANN_PROVISIONED_BY),
         C("claim8-9", "uid8-9", "1Gi", "another-volume", B),
         C("claim8-9", "uid8-9", "1Gi", "another-volume", B), OK, "volume", reclaim="Delete"),
    Case("4-x - retained volume stays Released",
         V("volume4-r", "1Gi", "uid4-r", "claim4-r", B, "Retain"),
         V("volume4-r", "1Gi", "uid4-r", "claim4-r", R, "Retain"), [], [], OK, "volume"),
    Case("4-x - unknown reclaim policy fails the volume",
         V("volume4-u", "1Gi", "uid4-u", "claim4-u", B, "Scrub"),
         V("volume4-u", "1Gi", "uid4-u", "claim4-u", F, "Scrub"), [], [],
         ["Warning VolumeUnknownReclaimPolicy"], "volume"),
    Case("11-1 - successful provision with storage class 1",
         [], [], C("claim11-1", "uid11-1", "1Gi", cls=GOLD),
         C("claim11-1", "uid11-1", "1Gi", cls=GOLD,
           ann_values={ANN_STORAGE_PROVISIONER: "orlop.io/local-path",
                       ANN_BETA_STORAGE_PROVISIONER: "orlop.io/local-path"}),
         OK, "claim", classes={GOLD: LOCAL}, provision=True),
    Case("11-2 - provision with annotations already set writes nothing",
         [], [],
         C("claim11-2", "uid11-2", "1Gi", cls=GOLD, ann_values={ANN_STORAGE_PROVISIONER: "orlop.io/local-path",
                                                               ANN_BETA_STORAGE_PROVISIONER: "orlop.io/local-path"}),
         C("claim11-2", "uid11-2", "1Gi", cls=GOLD, ann_values={ANN_STORAGE_PROVISIONER: "orlop.io/local-path",
                                                               ANN_BETA_STORAGE_PROVISIONER: "orlop.io/local-path"}),
         OK, "claim", classes={GOLD: LOCAL}, provision=True),
    Case("11-13 - provisioned volume binds its claim; the bind write sets the provisioner annotations",
         provisioned(V("pvc-uid11-13", "1Gi", "uid11-13", "claim11-13", P, "Delete", GOLD, BOUND_BY)),
         provisioned(V("pvc-uid11-13", "1Gi", "uid11-13", "claim11-13", B, "Delete", GOLD, BOUND_BY)),
         C("claim11-13", "uid11-13", "1Gi", cls=GOLD),
         C("claim11-13", "uid11-13", "1Gi", "pvc-uid11-13", B, GOLD, BOUND_BY, COMPLETED,
           ann_values={ANN_STORAGE_PROVISIONER: "orlop.io/local-path",
                       ANN_BETA_STORAGE_PROVISIONER: "orlop.io/local-path"}),
         OK, "claim", classes={GOLD: LOCAL}),
    Case("11-14 - a provisioned volume made for another claim gives no provisioner annotations",
         provisioned(V("pvc-old-uid", "1Gi", "", "", A, "Retain", GOLD)),
         provisioned(V("pvc-old-uid", "1Gi", "uid11-14", "claim11-14", B, "Retain", GOLD, BOUND_BY)),
         C("claim11-14", "uid11-14", "1Gi", cls=GOLD),
         C("claim11-14", "uid11-14", "1Gi", "pvc-old-uid", B, GOLD, BOUND_BY, COMPLETED),
         OK, "claim", classes={GOLD: LOCAL}),
    Case("11-15 - a bound claim whose provisioner annotations were removed keeps them removed",
         provisioned(V("pvc-uid11-15", "1Gi", "uid11-15", "claim11-15", B, "Delete", GOLD, BOUND_BY)),
         provisioned(V("pvc-uid11-15", "1Gi", "uid11-15", "claim11-15", B, "Delete", GOLD, BOUND_BY)),
         C("claim11-15", "uid11-15", "1Gi", "pvc-uid11-15", B, GOLD, BOUND_BY, COMPLETED),
         C("claim11-15", "uid11-15", "1Gi", "pvc-uid11-15", B, GOLD, BOUND_BY, COMPLETED),
         OK, "claim", classes={GOLD: LOCAL}),
    Case("11-8 - no provisioner for the class (kubernetes.io/no-provisioner)",
         [], [], C("claim11-8", "uid11-8", "1Gi", cls="static"), C("claim11-8", "uid11-8", "1Gi", cls="static"),
         ["Warning ProvisioningFailed"], "claim", classes={"static": STATIC}),
    Case("11-9 - class does not exist",
         [], [], C("claim11-9", "uid11-9", "1Gi", cls="manual"), C("claim11-9", "uid11-9", "1Gi", cls="manual"),
         ["Warning ProvisioningFailed"], "claim", classes={}),
    Case("12-1 - external provisioner",
         [], [], C("claim12-1", "uid12-1", "1Gi", cls="external"),
         C("claim12-1", "uid12-1", "1Gi", cls="external",
           ann_values={ANN_STORAGE_PROVISIONER: "vendor.com/my-volume",
                       ANN_BETA_STORAGE_PROVISIONER: "vendor.com/my-volume"}),
         ["Normal ExternalProvisioning"], "claim", classes={"external": EXTERNAL},
         kw={"drivers": {"orlop.io/local-path"}}),
    Case("11-x - unknown in-tree plugin name",
         [], [], C("claim11-x", "uid11-x", "1Gi", cls="intree"), C("claim11-x", "uid11-x", "1Gi", cls="intree"),
         ["Warning ProvisioningFailed"], "claim",
         classes={"intree": new_class("intree", provisioner="kubernetes.io/gce-pd")},
         kw={"drivers": {"orlop.io/local-path"}}),
    Case("11-x - WaitForFirstConsumer waits without selected node",
         [], [], C("claim11-w", "uid11-w", "1Gi", cls="copper"), C("claim11-w", "uid11-w", "1Gi", cls="copper"),
         ["Normal WaitForFirstConsumer"], "claim", classes={"copper": WAIT_LOCAL}),
    Case("11-x - WaitForFirstConsumer provisions once a node is selected",
         [], [],
         C("claim11-s", "uid11-s", "1Gi", cls="copper", ann_values={ANN_SELECTED_NODE: "node1"}),
         C("claim11-s", "uid11-s", "1Gi", cls="copper", ann_values={
             ANN_SELECTED_NODE: "node1", ANN_STORAGE_PROVISIONER: "orlop.io/local-path",
             ANN_BETA_STORAGE_PROVISIONER: "orlop.io/local-path"}),
         OK, "claim", classes={"copper": WAIT_LOCAL}, provision=True),
    Case("11-x - static volume on the selected node binds before provisioning",
         with_affinity(V("local-pv", "5Gi", cls="copper"), "kubernetes.io/hostname", "node1"),
         with_affinity(V("local-pv", "5Gi", "uid11-n", "claim11-n", B, "Retain", "copper", BOUND_BY),
                       "kubernetes.io/hostname", "node1"),
         C("claim11-n", "uid11-n", "1Gi", cls="copper", ann_values={ANN_SELECTED_NODE: "node1"}),
         C("claim11-n", "uid11-n", "1Gi", "local-pv", B, "copper", BOUND_BY, COMPLETED, status_capacity="5Gi",
           ann_values={ANN_SELECTED_NODE: "node1"}),
         OK, "claim", classes={"copper": WAIT_LOCAL},
         kw={"node": new_node("node1", **{"kubernetes.io/hostname": "node1"})}),
    Case("retroactive default class for a claim without class",
         [], [], C("claim-r1", "uid-r1", "1Gi"), C("claim-r1", "uid-r1", "1Gi", cls=GOLD),
         OK, "claim", classes={GOLD: new_class(GOLD, default=True)}),
    Case("no retroactive default for class \"\"",
         [], [], C("claim-r2", "uid-r2", "1Gi", cls=EMPTY), C("claim-r2", "uid-r2", "1Gi", cls=EMPTY),
         ["Normal FailedBinding"], "claim", classes={GOLD: new_class(GOLD, default=True)}),
    Case("no retroactive default for a beta-annotated claim",
         [], [],
         C("claim-r3", "uid-r3", "1Gi", ann_values={"volume.beta.kubernetes.io/storage-class": "silver"}),
         C("claim-r3", "uid-r3", "1Gi", ann_values={"volume.beta.kubernetes.io/storage-class": "silver"}),
         ["Warning ProvisioningFailed"], "claim", classes={GOLD: new_class(GOLD, default=True)}),
    Case("retroactive default: newest of several defaults",
         [], [], C("claim-r4", "uid-r4", "1Gi"), C("claim-r4", "uid-r4", "1Gi", cls="newer"),
         OK, "claim", classes={"older": new_class("older", default=True, created="2024-01-01T00:00:00Z"),
                               "newer": new_class("newer", beta_default=True, created="2025-02-01T00:00:00Z")}),
    Case("beta class annotation (seed 001) binds a volume of that class",
         V("pv-beta", "1Gi", cls="slow"),
         V("pv-beta", "1Gi", "uid-b", "claim-b", B, "Retain", "slow", BOUND_BY),
         C("claim-b", "uid-b", "1Gi", ann_values={"volume.beta.kubernetes.io/storage-class": "slow"}),
         C("claim-b", "uid-b", "1Gi", "pv-beta", B, None, BOUND_BY, COMPLETED,
           ann_values={"volume.beta.kubernetes.io/storage-class": "slow"}),
         OK, "claim", classes={}),
    # Seed 000: an administrator grows a bound PV; the claim's capacity follows.
    Case("seed-000 - bound claim capacity follows a grown PV",
         V("task-pv-volume", "20Gi", "uid-t", "task-pv-claim", B, "Retain", "manual", BOUND_BY),
         V("task-pv-volume", "20Gi", "uid-t", "task-pv-claim", B, "Retain", "manual", BOUND_BY),
         C("task-pv-claim", "uid-t", "3Gi", "task-pv-volume", B, "manual", BOUND_BY, COMPLETED, status_capacity="10Gi"),
         C("task-pv-claim", "uid-t", "3Gi", "task-pv-volume", B, "manual", BOUND_BY, COMPLETED, status_capacity="20Gi"),
         OK, "claim", classes={}),
    Case("seed-000 - capacity does not follow a shrunk PV",
         V("task-pv-volume", "5Gi", "uid-t", "task-pv-claim", B, "Retain", "manual", BOUND_BY),
         V("task-pv-volume", "5Gi", "uid-t", "task-pv-claim", B, "Retain", "manual", BOUND_BY),
         C("task-pv-claim", "uid-t", "3Gi", "task-pv-volume", B, "manual", BOUND_BY, COMPLETED, status_capacity="10Gi"),
         C("task-pv-claim", "uid-t", "3Gi", "task-pv-volume", B, "manual", BOUND_BY, COMPLETED, status_capacity="10Gi"),
         OK, "claim", classes={}),
    Case("seed-000 - capacity is left to the resizer while the claim grows",
         V("task-pv-volume", "20Gi", "uid-t", "task-pv-claim", B, "Retain", "manual", BOUND_BY),
         V("task-pv-volume", "20Gi", "uid-t", "task-pv-claim", B, "Retain", "manual", BOUND_BY),
         C("task-pv-claim", "uid-t", "20Gi", "task-pv-volume", B, "manual", BOUND_BY, COMPLETED,
           status_capacity="10Gi"),
         C("task-pv-claim", "uid-t", "20Gi", "task-pv-volume", B, "manual", BOUND_BY, COMPLETED,
           status_capacity="10Gi"),
         OK, "claim", classes={}),
    Case("seed-000 - task-pv-claim binds task-pv-volume without a StorageClass object",
         V("task-pv-volume", "10Gi", cls="manual", modes=(RWO,)),
         V("task-pv-volume", "10Gi", "uid-t", "task-pv-claim", B, "Retain", "manual", BOUND_BY, modes=(RWO,)),
         C("task-pv-claim", "uid-t", "3Gi", cls="manual", modes=(RWO,)),
         C("task-pv-claim", "uid-t", "3Gi", "task-pv-volume", B, "manual", BOUND_BY, COMPLETED, modes=(RWO,),
           status_capacity="10Gi"),
         OK, "claim", classes={}),
]

ALL_CASES = CASES + BLOCK_CASES + RECLAIM_PROVISION_CASES


def _by_name(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(objs, key=lambda o: o["metadata"]["name"])


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.name for c in ALL_CASES])
def test_sync(case: Case) -> None:
    cluster = Cluster(case.volumes, case.claims, case.classes)
    if case.test == "claim":
        obj = case.claims[0]
        decision = sync_claim(obj, cluster.volumes(), case.classes, NOW, **case.kw)
    else:
        obj = case.volumes[0]
        decision = sync_volume(obj, cluster.claim_for(obj), case.classes, NOW)
    applied = cluster.apply(decision)
    assert applied == len(decision.writes), "a write of a fresh decision failed"
    assert [vsum(v) for v in cluster.volumes()] == [vsum(v) for v in _by_name(case.exp_volumes)]
    assert [csum(c) for c in cluster.claims()] == [csum(c) for c in _by_name(case.exp_claims)]
    assert [f"{e.type} {e.reason}" for _, _, _, e in decision.events] == case.events
    assert decision.reclaim == case.reclaim
    assert decision.provision == case.provision
    assert (decision.error is not None) == case.error
    assert decision.requeue == case.error


def test_case_count() -> None:
    assert len(ALL_CASES) >= 60


# --------------------------------------------------------------------------- write shape

def test_bind_is_four_ordered_writes_with_k8s_fields() -> None:
    vol = new_volume("pv1", "10Gi")
    claim = new_claim("c1", "uid-c1", "3Gi")
    claim["metadata"]["resourceVersion"] = "7"
    d = sync_claim(claim, [vol], {}, NOW)
    assert [(w.kind, w.subresource) for w in d.writes] == [
        ("PersistentVolume", ""), ("PersistentVolume", "status"),
        ("PersistentVolumeClaim", ""), ("PersistentVolumeClaim", "status")]
    pv_spec, pv_status, pvc_spec, pvc_status = (w.obj for w in d.writes)
    assert pv_spec["spec"]["claimRef"] == {"kind": "PersistentVolumeClaim", "namespace": NS, "name": "c1",
                                           "uid": "uid-c1", "apiVersion": "v1", "resourceVersion": "7"}
    assert pv_spec["metadata"]["annotations"] == {ANN_BOUND_BY_CONTROLLER: "yes"}
    # Every write carries the resourceVersion its object was read with.
    assert pv_spec["metadata"]["resourceVersion"] == pv_status["metadata"]["resourceVersion"] == "1"
    assert pv_status["status"] == {"phase": "Bound", "lastPhaseTransitionTime": NOW}
    assert pvc_spec["spec"]["volumeName"] == "pv1"
    assert pvc_spec["metadata"]["annotations"] == {ANN_BOUND_BY_CONTROLLER: "yes", ANN_BIND_COMPLETED: "yes"}
    assert pvc_status["status"] == {"phase": "Bound", "accessModes": [RWO, ROX], "capacity": {"storage": "10Gi"}}
    # The inputs are not modified.
    assert "claimRef" not in vol["spec"] and "volumeName" not in claim["spec"]


def test_bind_copies_each_object_once_and_the_executor_folds_the_pairs() -> None:
    from orlop.controllers.pv.controller import _folded
    vol = new_volume("pv1", "10Gi")
    claim = new_claim("c1", "uid-c1", "3Gi")
    d = sync_claim(claim, [vol], {}, NOW)
    # The status write changes the spec write's own copy (a main-resource update ignores status).
    assert d.writes[0].obj is d.writes[1].obj and d.writes[2].obj is d.writes[3].obj
    folded = _folded(d.writes)
    assert [(w.kind, w.subresource) for w in folded] == [("PersistentVolume", "*"), ("PersistentVolumeClaim", "*")]
    assert folded[0].obj["spec"]["claimRef"]["uid"] == "uid-c1" and folded[0].obj["status"]["phase"] == "Bound"
    assert folded[1].obj["spec"]["volumeName"] == "pv1" and folded[1].obj["status"]["phase"] == "Bound"
    assert "claimRef" not in vol["spec"] and (claim.get("status") or {}).get("phase") != "Bound"    # inputs kept


def test_bound_pair_needs_no_writes() -> None:
    cluster = Cluster(V("pv1", "1Gi"), C("c1", "uid1", "1Gi"))
    cluster.run_to_stable()
    claim = cluster.claims()[0]
    vol = cluster.volumes()[0]
    assert sync_claim(claim, [vol], {}, NOW).writes == []
    assert sync_volume(vol, claim, {}, NOW).writes == []


def test_phase_change_sets_transition_time_and_clears_message() -> None:
    vol = new_volume("pv", "1Gi", phase=F, message="old failure")
    d = sync_volume(vol, None, {}, NOW)
    assert len(d.writes) == 1 and d.writes[0].subresource == "status"
    assert d.writes[0].obj["status"] == {"phase": "Available", "lastPhaseTransitionTime": NOW}


def test_unknown_policy_writes_released_then_failed_and_one_event() -> None:
    d = sync_volume(new_volume("pv", "1Gi", "u", "gone", B, "Scrub"), None, {}, NOW)
    assert [w.obj["status"]["phase"] for w in d.writes] == ["Released", "Failed"]
    kind, ns, name, ev = d.events[0]
    assert (kind, ns, name, ev.type, ev.reason, ev.message) == (
        "PersistentVolume", "", "pv", "Warning", "VolumeUnknownReclaimPolicy",
        "Volume has unrecognized PersistentVolumeReclaimPolicy")


def test_sync_volume_enqueues_claim_to_finish_binding() -> None:
    vol = new_volume("pv", "1Gi", "u1", "c1", B, "Retain", EMPTY, BOUND_BY)
    d = sync_volume(vol, new_claim("c1", "u1", "1Gi"), {}, NOW)
    assert d.writes == [] and d.events == []
    assert d.enqueue == [("PersistentVolumeClaim", NS, "c1")]


def test_unbind_writes_for_recycle() -> None:
    by_controller = new_volume("pv", "1Gi", "u", "c", R, "Recycle", EMPTY, BOUND_BY)
    spec_w, status_w = unbind_writes(by_controller, NOW)
    assert "claimRef" not in spec_w.obj["spec"] and "annotations" not in spec_w.obj["metadata"]
    assert status_w.obj["status"]["phase"] == "Available"
    by_user = new_volume("pv", "1Gi", "u", "c", R, "Recycle")
    (spec_w, _) = unbind_writes(by_user, NOW)
    assert spec_w.obj["spec"]["claimRef"]["name"] == "c" and "uid" not in spec_w.obj["spec"]["claimRef"]


# --------------------------------------------------------------------------- event messages

def _messages(d: Decision) -> list[str]:
    return [e.message for _, _, _, e in d.events]


def test_messages_match_kubernetes() -> None:
    d = sync_claim(new_claim("c", "u", "1Gi", cls=WAIT), [], SYNC_CLASSES, NOW)
    assert _messages(d) == ["waiting for first consumer to be created before binding"]
    d = sync_claim(new_claim("c", "u", "1Gi"), [], {}, NOW)
    assert _messages(d) == ["no persistent volumes available for this claim and no storage class is set"]
    d = sync_claim(new_claim("c", "u", "20Gi", cls="manual"), [], {}, NOW)
    assert _messages(d) == ['storageclass.storage.k8s.io "manual" not found']
    d = sync_claim(new_claim("c", "u", "1Gi", cls="static"), [], {"static": STATIC}, NOW)
    assert _messages(d) == ["no volume plugin matched name: kubernetes.io/no-provisioner"]
    d = sync_claim(new_claim("c", "u", "1Gi", cls="external"), [], {"external": EXTERNAL}, NOW,
                   drivers={"orlop.io/local-path"})
    assert _messages(d) == [
        "Waiting for a volume to be created either by the external provisioner 'vendor.com/my-volume' or "
        "manually by the system administrator. If volume creation is delayed, please verify that the "
        "provisioner is running and correctly registered."]
    d = sync_claim(new_claim("c", "u", "2Gi", "pv"), V("pv", "1Gi"), {}, NOW)
    assert _messages(d) == ['Cannot bind to requested volume "pv": requested PV is too small']
    d = sync_claim(new_claim("c", "u", "1Gi", "pv"), V("pv", "1Gi", "o", "other", B), {}, NOW)
    assert _messages(d) == ['volume "pv" already bound to a different claim.']
    d = sync_claim(new_claim("c", "u", "1Gi", "", B, None, COMPLETED), [], {}, NOW)
    assert _messages(d) == ["Bound claim has lost reference to PersistentVolume. Data on the volume is lost!"]
    d = sync_claim(new_claim("c", "u", "1Gi", "pv", B, None, COMPLETED), [], {}, NOW)
    assert _messages(d) == ["Bound claim has lost its PersistentVolume. Data on the volume is lost!"]
    d = sync_claim(new_claim("c", "u", "1Gi", "pv", B, None, COMPLETED), V("pv", "1Gi", "x", "c", B), {}, NOW)
    assert _messages(d) == ["Two claims are bound to the same volume, this one is bound incorrectly"]
    # A claim already Lost is not written again, and the event is not repeated.
    lost = new_claim("c", "u", "1Gi", "pv", "Lost", None, COMPLETED)
    assert sync_claim(lost, [], {}, NOW).events == [] and sync_claim(lost, [], {}, NOW).writes == []


def test_volume_mode_mismatch_events_name_both_objects() -> None:
    vol = new_volume("pv", "1Gi", "u", "c", A, "Retain", EMPTY, BOUND_BY)
    d = sync_volume(vol, new_claim("c", "u", "1Gi", mode=BLOCK), {}, NOW)
    assert [(k, n, e.message) for k, _, n, e in d.events] == [
        ("PersistentVolume", "pv",
         'Cannot bind PersistentVolume to requested PersistentVolumeClaim "c" due to incompatible volumeMode.'),
        ("PersistentVolumeClaim", "c",
         'Cannot bind PersistentVolume "pv" to requested PersistentVolumeClaim due to incompatible volumeMode.')]


def test_wait_for_pod_scheduled() -> None:
    claim = new_claim("c", "u", "1Gi", cls=WAIT)

    def pod(name: str, node: str = "", phase: str = "Pending", claim_name: str = "c") -> dict[str, Any]:
        return {"metadata": {"name": name, "namespace": NS},
                "spec": {"nodeName": node, "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim_name}}]},
                "status": {"phase": phase}}

    d = sync_claim(claim, [], SYNC_CLASSES, NOW, pods=[pod("web-0"), pod("done", phase="Succeeded"),
                                                       pod("placed", node="n1"), pod("other", claim_name="x")])
    assert [(e.reason, e.message) for _, _, _, e in d.events] == [
        ("WaitForPodScheduled", "waiting for pod web-0 to be scheduled")]
    d = sync_claim(claim, [], SYNC_CLASSES, NOW, pods=[pod("b"), pod("a")])
    assert _messages(d) == ["waiting for pods a,b to be scheduled"]


def test_failed_binding_lists_why_each_volume_did_not_fit() -> None:
    claim = new_claim("c", "u", "3Gi", cls="manual", modes=(RWX,), selector={"app": "db"})
    vols = [
        new_volume("pv-small", "1Gi", cls="manual", modes=(RWX,), labels={"app": "db"}),
        new_volume("pv-slow", "10Gi", cls="slow", modes=(RWX,), labels={"app": "db"}),
        new_volume("pv-x", "10Gi", cls="manual", modes=(RWO,), labels={"app": "db"}),
        new_volume("pv-y", "10Gi", cls="manual", modes=(RWX,), labels={"app": "web"}),
        new_volume("pv-z", "10Gi", "uid-o", "other", B, cls="manual", modes=(RWX,)),
        new_volume("pv-p", "10Gi", "", "mine", A, cls="manual", modes=(RWX,)),
        new_volume("pv-b", "10Gi", cls="manual", modes=(RWX,), mode=BLOCK),
        new_volume("pv-t", "10Gi", cls="manual", modes=(RWX,), labels={"app": "db"}, deleting=True),
        new_volume("pv-r", "10Gi", "", "", R, cls="manual", modes=(RWX,), labels={"app": "db"}),
    ]
    best, reasons = find_best_volume(claim, vols)
    assert best is None
    assert reasons == [
        "pv-b: volumeMode Block != Filesystem",
        "pv-small: capacity 1Gi < requested 3Gi",
        "pv-x: access modes [ReadWriteOnce] do not include [ReadWriteMany]",
        "pv-y: labels do not match selector app=db",
        "pv-r: phase Released, not Available",
        "pv-t: being deleted",
        "pv-p: pre-bound to default/mine",
        "pv-z: already bound to default/other",
        "pv-slow: storageClassName \"slow\" != \"manual\"",     # another class: last, whatever else differs
    ]
    d = sync_claim(claim, vols, {}, NOW)
    (msg,) = _messages(d)
    assert msg == ('storageclass.storage.k8s.io "manual" not found (' + "; ".join(reasons) + ")")


def test_why_not_names_a_class_mismatch_before_anything_else() -> None:
    """A claim of class "" next to a too small PV of class manual: the class is why, not the size."""
    claim = new_claim("big", "u", "5Gi", cls="")
    _, reasons = find_best_volume(claim, [new_volume("a-1g", "1Gi", cls="manual"),
                                          new_volume("b-1g", "1Gi", cls="")])
    assert reasons == ["b-1g: capacity 1Gi < requested 5Gi", 'a-1g: storageClassName "manual" != ""']


def test_why_not_points_at_the_volume_still_reserved_for_an_earlier_claim_of_that_name() -> None:
    """kubernetes/kubernetes#20753: a claim deleted and made again does not get its Released
    volume back; that volume comes first among the reasons, saying what to do."""
    claim = new_claim("data", "uid-new", "1Gi", cls="reuse")
    vols = [new_volume("a-other", "1Gi", "uid-x", "x", B, cls="reuse"),
            new_volume("reuse-pv", "1Gi", "uid-old", "data", R, cls="reuse"),
            new_volume("a-small", "100Mi", cls="reuse")]
    best, reasons = find_best_volume(claim, vols)
    assert best is None
    assert reasons == [
        "reuse-pv: Released: its claimRef names an earlier claim default/data (uid uid-old), not this one; "
        "remove the volume's spec.claimRef to reuse it",
        "a-small: capacity 100Mi < requested 1Gi",
        "a-other: already bound to default/x",
    ]


def test_failed_binding_message_caps_reasons() -> None:
    vols = [new_volume(f"pv-{i:02d}", "1Gi") for i in range(14)]
    d = sync_claim(new_claim("c", "u", "5Gi"), vols, {}, NOW)
    (msg,) = _messages(d)
    assert msg.startswith("no persistent volumes available for this claim and no storage class is set (pv-00: "
                          "capacity 1Gi < requested 5Gi; ")
    assert msg.endswith("pv-09: capacity 1Gi < requested 5Gi; and 4 more)")


def test_reference_measurement_3gi_claim_binds_5gi() -> None:
    """Measured on Kubernetes 1.26: PVs 1Gi/5Gi/10Gi class manual, claim 3Gi -> pv-5gi, no events."""
    vols = [new_volume(n, s, cls="manual") for n, s in (("pv-1gi", "1Gi"), ("pv-5gi", "5Gi"), ("pv-10gi", "10Gi"))]
    cluster = Cluster(vols, C("claim", "uid", "3Gi", cls="manual"), {})
    cluster.run_to_stable()
    (claim,) = cluster.claims()
    assert claim["spec"]["volumeName"] == "pv-5gi" and claim["status"]["capacity"] == {"storage": "5Gi"}
    assert cluster.events == []


# --------------------------------------------------------------------------- find_best_volume (index_test.go)

def _index_volumes() -> list[dict[str, Any]]:
    """createTestVolumes: deliberately out of order."""
    rox3 = (RWO, ROX, RWX)
    vols = [
        new_volume("gce003", "10G", uid="gce-pd-10"),
        new_volume("gce004", "20G", phase=B, uid="gce-pd-20"),
        new_volume("nfs002", "5G", modes=rox3, uid="nfs-5"),
        new_volume("gce001", "1G", phase=B, uid="gce-pd-1"),
        new_volume("nfs003", "10G", modes=rox3, uid="nfs-10"),
        new_volume("gce002", "5G", uid="gce-pd-5"),
        new_volume("nfs001", "1G", modes=rox3, uid="nfs-1"),
        new_volume("gce0022", "20000G", modes=(RWO,), labels={"should-exist": "true"}, uid="gce-pd-2"),
        new_volume("gce0023", "10000G", modes=(RWO,), cls=SILVER, labels={"should-exist": "true"},
                   uid="gce-pd-silver1"),
        new_volume("gce0024", "100G", modes=(RWO,), cls=SILVER, uid="gce-pd-silver2"),
        new_volume("gce0025", "50G", modes=(RWO,), cls=GOLD, uid="gce-pd-gold"),
        new_volume("local001", "200E", modes=rox3, cls="large", uid="local-pd-very-large"),
        new_volume("local002", "800E", modes=rox3, cls="large", uid="local-pd-extremely-large"),
        with_affinity(V("affinity001", "100G", cls=WAIT, uid="affinity-pv"), "key1", "value1")[0],
        with_affinity(V("affinity002", "150G", cls=WAIT, uid="affinity-pv2"), "key1", "value1")[0],
        with_affinity(V("affinity003", "100G", "", "claim02", cls=WAIT, uid="affinity-prebound"),
                      "key1", "value1")[0],
        with_affinity(V("affinity003", "200G", cls=WAIT, uid="affinity-pv3"), "key1", "value3")[0],
        with_affinity(V("affinity004-pending", "200G", phase=P, cls=WAIT, uid="affinity-pv4-pending"),
                      "key1", "value4")[0],
        with_affinity(V("affinity004-failed", "200G", phase=F, cls=WAIT, uid="affinity-pv4-failed"),
                      "key1", "value4")[0],
        with_affinity(V("affinity004-released", "200G", phase=R, cls=WAIT, uid="affinity-pv4-released"),
                      "key1", "value4")[0],
        with_affinity(V("affinity004-empty", "200G", phase="", cls=WAIT, uid="affinity-pv4-empty"),
                      "key1", "value4")[0],
    ]
    # gce004 and gce001 are "already bound" to claims without names (ObjectReference{UID}).
    vols[1]["spec"]["claimRef"] = {"uid": "def456"}
    vols[3]["spec"]["claimRef"] = {"uid": "abc123"}
    vols[15]["spec"]["claimRef"] = {"name": "claim02", "namespace": "myns"}
    return vols


def make_pvc(size: str, modes: tuple[str, ...] = (ROX, RWO), cls: str | None = None, name: str = "claim01",
             selector: dict[str, str] | None = None, mode: str = FS) -> dict[str, Any]:
    claim = new_claim(name, f"uid-{name}", size, cls=cls, modes=modes, selector=selector, mode=mode)
    claim["metadata"]["namespace"] = "myns"
    return claim


INDEX_CASES = [
    ("successful-match-gce-10", make_pvc("8G"), "gce-pd-10"),
    ("successful-match-nfs-5", make_pvc("5G", (ROX, RWO, RWX)), "nfs-5"),
    ("successful-skip-1g-bound-volume", make_pvc("1G"), "gce-pd-5"),
    ("successful-no-match", make_pvc("999G"), None),
    ("successful-no-match-due-to-label", make_pvc("999G", selector={"should-not-exist": "true"}), None),
    ("successful-no-match-due-to-size-constraint-with-label-selector",
     make_pvc("20000G", selector={"should-exist": "true"}), None),
    ("successful-match-due-with-constraint-and-label-selector",
     make_pvc("20000G", (RWO,), selector={"should-exist": "true"}), "gce-pd-2"),
    ("successful-match-with-class", make_pvc("1G", (RWO,), SILVER, selector={"should-exist": "true"}),
     "gce-pd-silver1"),
    ("successful-match-with-class-and-labels", make_pvc("1G", (RWO,), SILVER), "gce-pd-silver2"),
    ("successful-match-very-large", make_pvc("1E", (RWO,), "large"), "local-pd-very-large"),
    ("successful-match-exact-extremely-large", make_pvc("800E", (RWO,), "large"), "local-pd-extremely-large"),
    ("successful-no-match-way-too-large", make_pvc("950E", (RWO,), "large"), None),
]


@pytest.mark.parametrize(("claim", "expected"), [c[1:] for c in INDEX_CASES], ids=[c[0] for c in INDEX_CASES])
def test_match_volume(claim: dict[str, Any], expected: str | None) -> None:
    best, reasons = find_best_volume(claim, _index_volumes())
    assert (best["metadata"]["uid"] if best else None) == expected
    assert (reasons == []) == (expected is not None)


NODE_CASES = [
    ("success-match", make_pvc("100G", (RWO,), WAIT), new_node("n1", key1="value1"), "affinity-pv"),
    ("success-prebound", make_pvc("100G", (RWO,), WAIT, "claim02"), new_node("n1", key1="value1"),
     "affinity-prebound"),
    ("fail-accessmode", make_pvc("100G", (RWX,), WAIT), new_node("n1", key1="value1"), None),
    ("fail-nodeaffinity", make_pvc("100G", (RWO,), WAIT), new_node("n2", key1="value2"), None),
    ("fail-prebound-node-affinity", make_pvc("100G", (RWO,), WAIT, "claim02"), new_node("n3", key1="value3"), None),
    ("fail-nonavaiable", make_pvc("100G", (RWO,), WAIT, "claim04"), new_node("n4", key1="value4"), None),
    ("success-bad-and-good-node-affinity", make_pvc("100G", (RWO,), WAIT, "claim03"), new_node("n3", key1="value3"),
     "affinity-pv3"),
]


@pytest.mark.parametrize(("claim", "node", "expected"), [c[1:] for c in NODE_CASES], ids=[c[0] for c in NODE_CASES])
def test_find_match_volume_with_node(claim: dict[str, Any], node: dict[str, Any], expected: str | None) -> None:
    best, _ = find_best_volume(claim, _index_volumes(), True, node=node)
    assert (best["metadata"]["uid"] if best else None) == expected


def test_node_affinity_reason() -> None:
    claim = make_pvc("100G", (RWO,), WAIT)
    vols = with_affinity(V("pv-n", "100G", cls=WAIT), "key1", "value1")
    assert find_best_volume(claim, vols, True, node=new_node("node-2", key1="value2")) == (
        None, ["pv-n: node affinity does not match node-2"])


def test_best_match_delayed() -> None:
    best, reasons = find_best_volume(make_pvc("8G"), _index_volumes(), delay_binding=True)
    assert best is None
    assert "gce003: binding waits for a consumer (WaitForFirstConsumer)" in reasons


def test_matching_with_bound_volumes() -> None:
    pv1 = new_volume("gce001", "1G", phase=B, uid="gce-pd-1")
    pv1["spec"]["claimRef"] = {"uid": "abc123"}
    pv2 = new_volume("gce002", "1G", uid="gce-pd-2")
    assert find_best_volume(make_pvc("1G"), [pv1, pv2])[0] is pv2


def test_finding_volume_with_different_access_modes() -> None:
    gce = new_volume("gce", "10G", modes=(RWO, ROX))
    ebs = new_volume("ebs", "10G", modes=(RWO,))
    nfs = new_volume("nfs", "10G", modes=(RWO, ROX, RWX))
    vols = [gce, ebs, nfs]

    def best(*modes: str) -> str:
        found = find_best_volume(make_pvc("1G", modes), vols)[0]
        return found["metadata"]["name"] if found else ""

    assert best(RWO) == "ebs"
    assert best(RWO, ROX) == "gce"
    assert best(RWX, RWO, ROX) == "nfs"  # order of the requested modes does not matter
    assert best(RWX) == "nfs"            # fewer modes requested still match
    ebs["spec"]["claimRef"] = {}         # the exact match is bound: next level up
    assert best(RWO) == "gce"
    gce["spec"]["claimRef"] = {}
    assert best(RWO) == "nfs"
    gce["spec"].pop("claimRef")
    assert best(ROX) == "gce"            # partial mode request


def test_fewest_modes_beat_smaller_capacity_and_name_breaks_ties() -> None:
    # Kubernetes searches its access-mode index from the smallest mode set up.
    small_multi = new_volume("a-small", "1Gi", modes=(RWO, ROX, RWX))
    big_exact = new_volume("z-big", "10Gi", modes=(RWO,))
    assert find_best_volume(make_pvc("1Gi", (RWO,)), [small_multi, big_exact])[0] is big_exact
    twins = [new_volume(n, "1Gi") for n in ("pv-c", "pv-a", "pv-b")]
    assert find_best_volume(make_pvc("1Gi"), twins)[0]["metadata"]["name"] == "pv-a"
    # Capacities compare by value, not by spelling.
    mixed = [new_volume("pv-mi", "1024Mi"), new_volume("pv-g", "1G")]
    assert find_best_volume(make_pvc("1G"), mixed)[0]["metadata"]["name"] == "pv-g"


def test_finding_prebound_volumes() -> None:
    claim = make_pvc("1Gi", (RWO,))
    ref = claim_ref(claim)
    pv1, pv5, pv8 = (new_volume(n, s, modes=(RWO,)) for n, s in (("pv1", "1Gi"), ("pv5", "5Gi"), ("pv8", "8Gi")))
    bad_size = new_volume("pvBadSize", "1Mi", modes=(RWO,))
    bad_mode = new_volume("pvBadMode", "1Gi", modes=(ROX,))
    vols = [pv1, pv5, pv8, bad_size, bad_mode]

    def best() -> str:
        found = find_best_volume(claim, vols)[0]
        return found["metadata"]["name"] if found else ""

    assert best() == "pv1"
    pv1["spec"]["claimRef"] = {"name": "foo", "namespace": "bar"}
    assert best() == "pv5"
    pv1["spec"].pop("claimRef")
    pv8["spec"]["claimRef"] = ref
    assert best() == "pv8"
    pv8["spec"].pop("claimRef")
    bad_size["spec"]["claimRef"] = ref
    assert best() == "pv1"
    bad_size["spec"].pop("claimRef")
    bad_mode["spec"]["claimRef"] = ref
    assert best() == "pv1"


@pytest.mark.parametrize(("pvc_mode", "pv_mode", "match"), [
    ("Block", "Filesystem", False), ("Filesystem", "Block", False), ("Block", None, False),
    ("Block", "Block", True), ("Filesystem", "Filesystem", True), ("Filesystem", None, True), (None, None, True),
])
def test_volume_mode_check(pvc_mode: str | None, pv_mode: str | None, match: bool) -> None:
    claim = make_pvc("8G", (RWO,))
    vol = new_volume("block", "10G", modes=(RWO,))
    for obj, mode in ((claim, pvc_mode), (vol, pv_mode)):
        if mode is None:
            obj["spec"].pop("volumeMode")
        else:
            obj["spec"]["volumeMode"] = mode
    assert (find_best_volume(claim, [vol])[0] is not None) == match


def test_storage_object_in_use_protection_filtering() -> None:
    claim = make_pvc("1G", (RWO,))
    assert find_best_volume(claim, [new_volume("pv1", "1G", modes=(RWO,))])[0] is not None
    assert find_best_volume(claim, [new_volume("pv1", "1G", modes=(RWO,), deleting=True)]) == (
        None, ["pv1: being deleted"])
    claim["spec"]["volumeName"] = "pv1"  # checkVolumeSatisfyClaim, for a claim that names the volume
    d = sync_claim(claim, [new_volume("pv1", "1G", modes=(RWO,), deleting=True)], {}, NOW)
    assert _messages(d) == ['Cannot bind to requested volume "pv1": the volume is marked for deletion "pv1"']


def test_volumes_as_mapping() -> None:
    vols = {"pv1": new_volume("pv1", "1Gi"), "pv2": new_volume("pv2", "2Gi")}
    d = sync_claim(new_claim("c", "u", "2Gi", "pv2"), vols, {}, NOW)
    assert d.writes[0].obj["metadata"]["name"] == "pv2"
    assert find_best_volume(new_claim("c", "u", "1Gi"), vols)[0] is vols["pv1"]


# --------------------------------------------------------------------------- classes

def test_default_class_and_delay_binding() -> None:
    classes = {"a": new_class("a", default=True, created="2025-01-02T00:00:00Z"),
               "b": new_class("b", default=True, created="2025-01-02T00:00:00Z"),
               "c": new_class("c", created="2025-03-01T00:00:00Z")}
    assert default_class_for(classes) == "a"  # same age: by name
    assert default_class_for({"c": classes["c"]}) is None
    assert is_delay_binding(new_claim("x", "u", "1Gi", cls=WAIT), SYNC_CLASSES)
    assert not is_delay_binding(new_claim("x", "u", "1Gi", cls="missing"), SYNC_CLASSES)
    assert not is_delay_binding(new_claim("x", "u", "1Gi"), SYNC_CLASSES)


# --------------------------------------------------------------------------- convergence (TestMultiSync)

def test_multisync_10_1_successful_bind() -> None:
    cluster = Cluster(V("volume10-1", "1Gi", phase=P), C("claim10-1", "uid10-1", "1Gi"))
    cluster.run_to_stable()
    assert [vsum(v) for v in cluster.volumes()] == [
        vsum(new_volume("volume10-1", "1Gi", "uid10-1", "claim10-1", B, "Retain", EMPTY, BOUND_BY))]
    assert [csum(c) for c in cluster.claims()] == [
        csum(new_claim("claim10-1", "uid10-1", "1Gi", "volume10-1", B, None, BOUND_BY, COMPLETED))]


def test_multisync_10_2_bind_pv_race() -> None:
    cluster = Cluster(
        [new_volume("volume10-2-1", "1Gi", "uid10-2", "claim10-2", B, "Retain", EMPTY, BOUND_BY),
         new_volume("volume10-2-2", "1Gi", "uid10-2", "claim10-2", B, "Retain", EMPTY, BOUND_BY)],
        C("claim10-2", "uid10-2", "1Gi", "volume10-2-1", B, None, BOUND_BY, COMPLETED))
    cluster.run_to_stable()
    assert [vsum(v) for v in cluster.volumes()] == [
        vsum(new_volume("volume10-2-1", "1Gi", "uid10-2", "claim10-2", B, "Retain", EMPTY, BOUND_BY)),
        vsum(new_volume("volume10-2-2", "1Gi"))]


def _assert_bound(cluster: Cluster, claim_name: str, volume_name: str) -> None:
    claim = cluster.get("PersistentVolumeClaim", NS, claim_name)
    vol = cluster.get("PersistentVolume", "", volume_name)
    assert claim is not None and vol is not None
    assert claim["spec"]["volumeName"] == volume_name
    assert claim["status"]["phase"] == "Bound"
    assert claim["metadata"]["annotations"][ANN_BIND_COMPLETED] == "yes"
    assert claim["status"]["capacity"] == vol["spec"]["capacity"]
    assert claim["status"]["accessModes"] == vol["spec"]["accessModes"]
    assert vol["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"]
    assert vol["status"]["phase"] == "Bound"


SCENARIOS = {
    "1-1 unbound claim, available volume": (V("pv", "1Gi"), C("c", "u", "1Gi")),
    "2-3 claim pre-bound to a volume": (V("pv", "5Gi"), C("c", "u", "1Gi", "pv")),
    "1-5 volume pre-bound to the claim by name": (V("pv", "5Gi", "", "c"), C("c", "u", "1Gi")),
    "11-1 dynamic provisioning": ([], C("c", "u", "1Gi", cls=GOLD)),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS), ids=list(SCENARIOS))
def test_crash_after_every_write_converges(scenario: str) -> None:
    """Kubernetes' 1-8/1-9/1-10 generalised: stop the first decision after k writes, resync."""
    volumes, claims = SCENARIOS[scenario]
    classes = {GOLD: LOCAL}
    first = sync_claim(claims[0], volumes, classes, NOW)
    for k in range(len(first.writes) + 1):
        cluster = Cluster(volumes, claims, classes)
        assert cluster.apply(first, limit=k) == k
        cluster.run_to_stable()
        bound_to = cluster.claims()[0]["spec"]["volumeName"]
        _assert_bound(cluster, "c", bound_to)
        assert bound_to == ("pvc-u" if not volumes else "pv")


def test_stale_decision_conflicts_and_changes_nothing() -> None:
    cluster = Cluster(V("pv", "1Gi"), C("c", "u", "1Gi"))
    stale = sync_claim(cluster.claims()[0], cluster.volumes(), {}, NOW)
    # Someone (an administrator) edits the PV before the decision is executed.
    pv = copy.deepcopy(cluster.volumes()[0])
    pv["metadata"]["labels"] = {"edited": "yes"}
    cluster.bump(("PersistentVolume", "", "pv"), pv)
    assert cluster.apply(stale) == 0 and cluster.conflicts == 1
    assert "claimRef" not in cluster.volumes()[0]["spec"]
    cluster.run_to_stable()
    _assert_bound(cluster, "c", "pv")


def test_two_claims_race_for_one_volume() -> None:
    cluster = Cluster(V("pv", "1Gi"), [new_claim("a", "ua", "1Gi"), new_claim("b", "ub", "1Gi")])
    snapshot = cluster.volumes()
    d_a = sync_claim(cluster.get("PersistentVolumeClaim", NS, "a") or {}, snapshot, {}, NOW)
    d_b = sync_claim(cluster.get("PersistentVolumeClaim", NS, "b") or {}, snapshot, {}, NOW)
    assert cluster.apply(d_a) == 4
    assert cluster.apply(d_b) == 0  # the PV write conflicts: b never touches the volume
    cluster.run_to_stable()
    _assert_bound(cluster, "a", "pv")
    b = cluster.get("PersistentVolumeClaim", NS, "b")
    assert b is not None and b["status"]["phase"] == "Pending" and not b["spec"].get("volumeName")


def test_release_and_rebind_after_claim_recreated() -> None:
    """Delete a bound claim, create one with the same name: the Retain volume is Released, not reused."""
    cluster = Cluster(V("pv", "1Gi"), C("c", "u1", "1Gi"))
    cluster.run_to_stable()
    del cluster.objects[("PersistentVolumeClaim", NS, "c")]
    cluster.objects[("PersistentVolumeClaim", NS, "c")] = new_claim("c", "u2", "1Gi")
    cluster.run_to_stable()
    (vol,) = cluster.volumes()
    assert vol["status"]["phase"] == "Released" and vol["spec"]["claimRef"]["uid"] == "u1"
    assert cluster.claims()[0]["status"]["phase"] == "Pending"
    # The documented admin step: clear claimRef -> Available -> bound to the new claim.
    vol = copy.deepcopy(vol)
    vol["spec"].pop("claimRef")
    cluster.bump(("PersistentVolume", "", "pv"), vol)
    cluster.run_to_stable()
    _assert_bound(cluster, "c", "pv")


# --------------------------------------------------------------------------- VolumeIndex

_names = st.sampled_from(["pv-a", "pv-b", "pv-c", "pv-d", "pv-e", "pv-f"])


@st.composite
def _volume(draw: st.DrawFn, name: str) -> dict[str, Any]:
    claim_name = draw(st.sampled_from(["", "", "c", "other"]))
    claim_uid = draw(st.sampled_from(["", "u", "x"])) if claim_name else ""
    vol = new_volume(name, draw(st.sampled_from(["1Gi", "1024Mi", "2Gi", "5G", "10Gi"])), claim_uid, claim_name,
                     draw(st.sampled_from([A, A, A, P, R, B])), "Retain", draw(st.sampled_from(["", "", "gold"])),
                     modes=tuple(draw(st.lists(st.sampled_from([RWO, ROX, RWX]), min_size=1, max_size=3,
                                               unique=True))),
                     mode=draw(st.sampled_from([FS, FS, BLOCK])),
                     labels=draw(st.sampled_from([None, {"app": "db"}, {"app": "web"}])),
                     deleting=draw(st.booleans()) and draw(st.booleans()))
    if draw(st.booleans()):
        vol["spec"]["nodeAffinity"] = node_affinity("zone", draw(st.sampled_from(["a", "b"])))
    return vol


@st.composite
def _world(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any], bool, dict[str, Any] | None]:
    names = draw(st.lists(_names, max_size=6, unique=True))
    vols = [draw(_volume(n)) for n in names]
    claim = new_claim("c", "u", draw(st.sampled_from(["1Gi", "1G", "2Gi", "6Gi"])),
                      cls=draw(st.sampled_from([None, "", "gold"])),
                      modes=tuple(draw(st.lists(st.sampled_from([RWO, ROX, RWX]), min_size=1, max_size=2,
                                                unique=True))),
                      mode=draw(st.sampled_from([FS, BLOCK])),
                      selector=draw(st.sampled_from([None, {"app": "db"}])))
    node = draw(st.sampled_from([None, new_node("n", zone="a")]))
    return vols, claim, draw(st.booleans()), node


@settings(max_examples=400, deadline=None)
@given(_world())
def test_volume_index_agrees_with_find_best_volume(world: tuple[Any, ...]) -> None:
    vols, claim, delay, node = world
    expected, _ = find_best_volume(claim, vols, delay, node=node)
    index = VolumeIndex(vols)
    assert index.find_best(claim, delay, node=node) is expected
    # Updates keep it right: bind the winner elsewhere, then remove a volume.
    if expected is not None:
        taken = copy.deepcopy(expected)
        taken["spec"]["claimRef"] = {"namespace": NS, "name": "someone", "uid": "s"}
        index.upsert(taken)
        rest = [taken if v is expected else v for v in vols]
        assert index.find_best(claim, delay, node=node) is find_best_volume(claim, rest, delay, node=node)[0]
        index.remove(taken["metadata"]["name"])
        rest = [v for v in rest if v is not taken]
        assert index.find_best(claim, delay, node=node) is find_best_volume(claim, rest, delay, node=node)[0]
        assert len(index) == len(rest)


def test_sync_claim_with_index_binds_many_pairs() -> None:
    """The bench shape: N static pairs, one class; each claim finds its volume without a full scan."""
    n = 2000
    index = VolumeIndex(new_volume(f"pv-{i:05d}", "1Gi", cls="manual") for i in range(n))
    for i in range(n):
        claim = new_claim(f"c-{i:05d}", f"u{i}", "1Gi", cls="manual")
        d = sync_claim(claim, index, {}, NOW)
        assert [w.subresource for w in d.writes] == ["", "status", "", "status"]
        assert d.writes[0].obj["metadata"]["name"] == f"pv-{i:05d}"
        index.upsert(d.writes[1].obj)  # the executor feeds written PVs back into the index
    assert index.find_best(new_claim("late", "ul", "1Gi", cls="manual")) is None
    assert len(index) == n


def test_provisioned_volume_then_binds() -> None:
    cls = new_class(GOLD, policy="Delete") | {"mountOptions": ["noatime"]}
    claim = new_claim("c", "u-123", "3Gi", cls=GOLD, modes=(RWO,))
    pv = provisioned_volume(claim, cls, {"hostPath": {"path": "/data/pvc-u-123"}})
    assert pv["metadata"] == {"name": "pvc-u-123", "finalizers": ["kubernetes.io/pv-controller"],
                              "annotations": {ANN_BOUND_BY_CONTROLLER: "yes", ANN_PROVISIONED_BY: "orlop.io/local-path"}}
    assert pv["spec"] | {"claimRef": None} == {
        "capacity": {"storage": "3Gi"}, "accessModes": [RWO], "persistentVolumeReclaimPolicy": "Delete",
        "storageClassName": GOLD, "volumeMode": FS, "claimRef": None, "hostPath": {"path": "/data/pvc-u-123"},
        "mountOptions": ["noatime"]}
    assert pv["spec"]["claimRef"]["uid"] == "u-123"
    retain = provisioned_volume(claim, new_class(GOLD, policy="Retain"), {"local": {"path": "/x"}}, capacity="4Gi")
    assert "finalizers" not in retain["metadata"] and retain["spec"]["capacity"] == {"storage": "4Gi"}
    # Created (the API resets status to Pending), it binds on the next syncs.
    pv["metadata"]["resourceVersion"] = "1"
    pv["status"] = {"phase": "Pending"}
    cluster = Cluster([pv], [claim], {GOLD: cls})
    cluster.run_to_stable()
    _assert_bound(cluster, "c", "pvc-u-123")
