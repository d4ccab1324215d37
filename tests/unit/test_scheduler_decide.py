"""kube-scheduler's filters and messages as pure decisions: objects in, a node or a message out.

Each row builds nodes, claims, volumes, classes and other pods, schedules one pod, and
states the node chosen (with the volume steps) or the exact FailedScheduling message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from orlop.scheduler.decide import Snapshot, claim_keys, fit_error, needs_scheduling, schedule

NOT_HELPFUL = "Preemption is not helpful for scheduling"
WFFC = "WaitForFirstConsumer"


def node(name: str, ready: str | None = "True", unschedulable: bool = False, labels: dict | None = None,
         taints: list | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Node",
                           "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
                           "spec": {}, "status": {}}
    if unschedulable:
        obj["spec"]["unschedulable"] = True
    if taints:
        obj["spec"]["taints"] = taints
    if ready is not None:
        obj["status"]["conditions"] = [{"type": "Ready", "status": ready}]
    return obj


def sc(name: str, mode: str = "Immediate", provisioner: str = "orlop.io/local-path",
       topologies: list | None = None) -> dict[str, Any]:
    obj = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
           "provisioner": provisioner, "volumeBindingMode": mode}
    if topologies is not None:
        obj["allowedTopologies"] = topologies
    return obj


def pvc(name: str, cls: str = "local-path", size: str = "1Gi", volume: str = "", bound: bool = False,
        modes: tuple[str, ...] = ("ReadWriteOnce",), selected: str | None = None, deleting: bool = False,
        phase: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": f"uid-{name}", "annotations": {}}
    if bound:
        meta["annotations"]["pv.kubernetes.io/bind-completed"] = "yes"
    if selected is not None:
        meta["annotations"]["volume.kubernetes.io/selected-node"] = selected
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    spec: dict[str, Any] = {"accessModes": list(modes), "resources": {"requests": {"storage": size}},
                            "storageClassName": cls}
    if volume:
        spec["volumeName"] = volume
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec,
            "status": {"phase": phase or ("Bound" if bound else "Pending")}}


def pv(name: str, on: str | None = None, cls: str = "local-path", size: str = "1Gi", claim: str = "",
       phase: str = "Available") -> dict[str, Any]:
    spec: dict[str, Any] = {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                            "storageClassName": cls, "hostPath": {"path": f"/data/{name}"}}
    if on is not None:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [on]}]}]}}
    if claim:
        spec["claimRef"] = {"kind": "PersistentVolumeClaim", "namespace": "default", "name": claim,
                            "uid": f"uid-{claim}"}
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name}, "spec": spec,
            "status": {"phase": phase}}


def pod(name: str = "web-0", claims: tuple[str, ...] = (), on: str = "", **spec: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"containers": [{"name": "c", "image": "nginx"}], "schedulerName": "default-scheduler",
                         "volumes": [{"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}}
                                     for i, c in enumerate(claims)], **spec}
    if on:
        s["nodeName"] = on
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
            "spec": s, "status": {"phase": "Pending"}}


def fail(n: int, body: str, preemption: str | None = None) -> str:
    return f"0/{n} nodes are available: {body}. preemption: 0/{n} nodes are available: " + \
        (preemption if preemption is not None else f"{n} {NOT_HELPFUL}") + "."


@dataclass
class Case:
    id: str
    pod: dict[str, Any]
    nodes: list[dict[str, Any]]
    claims: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    classes: list[dict[str, Any]] = field(default_factory=lambda: [sc("local-path"), sc("wffc", WFFC)])
    others: list[dict[str, Any]] = field(default_factory=list)
    node: str | None = None
    message: str = ""
    prebind: list[tuple[tuple[str, str], str]] = field(default_factory=list)
    provision: list[tuple[str, str]] = field(default_factory=list)
    wait_for: list[tuple[str, str]] = field(default_factory=list)


A, B = node("node-a"), node("node-b")
UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}
ZONE = [{"matchLabelExpressions": [{"key": "zone", "values": ["z1"]}]}]

CASES = [
    Case("no nodes", pod(), [], message="no nodes available to schedule pods"),
    Case("fewest pods first", pod(), [A, B], others=[pod("x", on="node-a")], node="node-b"),
    Case("tie broken by name", pod(), [B, A], node="node-a"),
    Case("terminated pods do not count", pod(), [A, B],
         others=[{**pod("x", on="node-a"), "status": {"phase": "Succeeded"}}, pod("y", on="node-b")], node="node-a"),
    Case("unschedulable node skipped", pod(), [node("node-a", unschedulable=True), B], node="node-b"),
    Case("all unschedulable", pod(), [node("node-a", unschedulable=True), node("node-b", unschedulable=True)],
         message=fail(2, "2 node(s) were unschedulable")),
    Case("unschedulable tolerated", pod(tolerations=[{"key": "node.kubernetes.io/unschedulable",
                                                      "operator": "Exists", "effect": "NoSchedule"}]),
         [node("node-a", unschedulable=True)], node="node-a"),
    Case("not ready implies not-ready taint", pod(), [node("node-a", ready="False"), node("node-b", ready="False")],
         message=fail(2, "2 node(s) had untolerated taint {node.kubernetes.io/not-ready: }")),
    Case("unknown implies unreachable, written taint not doubled", pod(),
         [node("node-a", ready="Unknown", taints=[UNREACHABLE])],
         message=fail(1, "1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }")),
    Case("unreachable tolerated", pod(tolerations=[{"operator": "Exists"}]),
         [node("node-a", ready="Unknown", taints=[UNREACHABLE])], node="node-a"),
    Case("never reported Ready is not tainted yet", pod(), [node("node-a", ready=None)], node="node-a"),
    Case("taint value in message", pod(),
         [node("node-a", taints=[{"key": "dedicated", "value": "db", "effect": "NoExecute"}])],
         message=fail(1, "1 node(s) had untolerated taint {dedicated: db}")),
    Case("Equal toleration with value", pod(tolerations=[{"key": "dedicated", "value": "db",
                                                           "effect": "NoSchedule"}]),
         [node("node-a", taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])], node="node-a"),
    Case("PreferNoSchedule ignored", pod(), [node("node-a", taints=[{"key": "k", "effect": "PreferNoSchedule"}])],
         node="node-a"),
    Case("nodeSelector", pod(nodeSelector={"disk": "ssd"}), [A, node("node-b", labels={"disk": "ssd"})],
         others=[pod("x", on="node-b")], node="node-b"),
    Case("nodeSelector nowhere", pod(nodeSelector={"disk": "ssd"}), [A, B],
         message=fail(2, "2 node(s) didn't match Pod's node affinity/selector")),
    Case("required affinity In", pod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "NotIn",
                                                     "values": ["node-a"]}]}]}}}), [A, B], node="node-b"),
    Case("matchFields narrows nodes", pod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-b"]}]}]}}}),
         [A, node("node-b", unschedulable=True)],
         message=fail(2, "1 node(s) didn't satisfy plugin(s) [NodeAffinity], 1 node(s) were unschedulable")),
    Case("matchFields terms exclude each other", pod(affinity={"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": ["node-a"]},
            {"key": "metadata.name", "operator": "In", "values": ["node-b"]}]}]}}}), [A, B],
         message=fail(2, "pod affinity terms conflict")),
    Case("missing claim", pod(claims=("www-web-0",)), [A, B],
         message=fail(2, 'persistentvolumeclaim "www-web-0" not found')),
    Case("claim being deleted", pod(claims=("data",)), [A], claims=[pvc("data", deleting=True)],
         message=fail(1, 'persistentvolumeclaim "data" is being deleted')),
    Case("claim lost", pod(claims=("data",)), [A], claims=[pvc("data", volume="pv-gone", phase="Lost")],
         message=fail(1, 'persistentvolumeclaim "data" bound to non-existent persistentvolume "pv-gone"')),
    Case("ephemeral claim not created yet",
         pod(volumes=[{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}]), [A],
         message=fail(1, 'waiting for ephemeral volume controller to create the persistentvolumeclaim '
                         '"web-0-scratch"')),
    Case("unbound immediate claim", pod(claims=("data",)), [A, B], claims=[pvc("data")],
         message=fail(2, "pod has unbound immediate PersistentVolumeClaims")),
    Case("WFFC claim with volumeName but not bound counts as immediate", pod(claims=("data",)), [A],
         claims=[pvc("data", cls="wffc", volume="pv-1")],
         message=fail(1, "pod has unbound immediate PersistentVolumeClaims")),
    Case("bound PV pins the pod", pod(claims=("data",)), [A, B], claims=[pvc("data", volume="pv-1", bound=True)],
         volumes=[pv("pv-1", on="node-a", claim="data", phase="Bound")], others=[pod("x", on="node-a")],
         node="node-a"),
    Case("volume node affinity conflict", pod(claims=("data",)), [node("node-a", unschedulable=True), B],
         claims=[pvc("data", volume="pv-1", bound=True)],
         volumes=[pv("pv-1", on="node-a", claim="data", phase="Bound")],
         message=fail(2, "1 node(s) had volume node affinity conflict, 1 node(s) were unschedulable")),
    Case("bound PV missing", pod(claims=("data",)), [A, B], claims=[pvc("data", volume="pv-x", bound=True)],
         message=fail(2, "2 node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)")),
    Case("WFFC provisioned on the chosen node", pod(claims=("data",)), [A, B], claims=[pvc("data", cls="wffc")],
         others=[pod("x", on="node-a")], node="node-b",
         provision=[("default", "data")], wait_for=[("default", "data")]),
    Case("WFFC static PV preferred to provisioning", pod(claims=("data",)), [A, B], claims=[pvc("data", cls="wffc")],
         volumes=[pv("local-b", on="node-b", cls="wffc")], others=[pod("x", on="node-a")], node="node-b",
         prebind=[(("default", "data"), "local-b")], wait_for=[("default", "data")]),
    Case("WFFC no-provisioner static PV on one node", pod(claims=("data",)), [A, B],
         claims=[pvc("data", cls="local")], classes=[sc("local", WFFC, "kubernetes.io/no-provisioner")],
         volumes=[pv("local-b", on="node-b", cls="local", size="5Gi"), pv("small-a", on="node-a", cls="local",
                                                                         size="100Mi")],
         node="node-b", prebind=[(("default", "data"), "local-b")], wait_for=[("default", "data")]),
    Case("WFFC no-provisioner nothing fits", pod(claims=("data",)), [A, B], claims=[pvc("data", cls="local")],
         classes=[sc("local", WFFC, "kubernetes.io/no-provisioner")],
         message=fail(2, "2 node(s) didn't find available persistent volumes to bind")),
    Case("two claims cannot share one static PV", pod(claims=("big", "small")), [A],
         claims=[pvc("big", cls="local", size="2Gi"), pvc("small", cls="local", size="1Gi")],
         classes=[sc("local", WFFC, "kubernetes.io/no-provisioner")], volumes=[pv("p", on="node-a", cls="local",
                                                                               size="5Gi")],
         message=fail(1, "1 node(s) didn't find available persistent volumes to bind")),
    Case("smallest claim first, each its own PV", pod(claims=("big", "small")), [A],
         claims=[pvc("big", cls="local", size="2Gi"), pvc("small", cls="local", size="1Gi")],
         classes=[sc("local", WFFC, "kubernetes.io/no-provisioner")],
         volumes=[pv("p1", on="node-a", cls="local", size="1Gi"), pv("p5", on="node-a", cls="local", size="5Gi")],
         node="node-a", prebind=[(("default", "small"), "p1"), (("default", "big"), "p5")],
         wait_for=[("default", "small"), ("default", "big")]),
    Case("selected-node already set wins", pod(claims=("data",)), [A, B],
         claims=[pvc("data", cls="wffc", selected="node-b")], others=[pod("x", on="node-b")], node="node-b",
         provision=[("default", "data")], wait_for=[("default", "data")]),
    Case("selected-node names a node that is gone", pod(claims=("data",)), [A, B],
         claims=[pvc("data", cls="wffc", selected="node-z")],
         message=fail(2, "2 node(s) didn't find available persistent volumes to bind")),
    Case("allowedTopologies", pod(claims=("data",)), [node("node-a", labels={"zone": "z1"}), B],
         claims=[pvc("data", cls="zonal")], classes=[sc("zonal", WFFC, topologies=ZONE)],
         others=[pod("x", on="node-a")], node="node-a", provision=[("default", "data")],
         wait_for=[("default", "data")]),
    Case("allowedTopologies nowhere", pod(claims=("data",)), [A, B], claims=[pvc("data", cls="zonal")],
         classes=[sc("zonal", WFFC, topologies=ZONE)],
         message=fail(2, "2 node(s) didn't find available persistent volumes to bind")),
    Case("bound conflict and bind conflict on one node", pod(claims=("a", "b")), [B],
         claims=[pvc("a", volume="pv-1", bound=True), pvc("b", cls="wffc", selected="node-a")],
         volumes=[pv("pv-1", on="node-a", claim="a", phase="Bound")],
         message=fail(1, "1 node(s) didn't find available persistent volumes to bind, "
                         "1 node(s) had volume node affinity conflict")),
    Case("ReadWriteOncePod in use", pod(claims=("solo",)), [A, B],
         claims=[pvc("solo", volume="pv-1", bound=True, modes=("ReadWriteOncePod",))],
         volumes=[pv("pv-1", claim="solo", phase="Bound")], others=[pod("owner", claims=("solo",), on="node-a")],
         message=fail(2, "2 node(s) unavailable due to PersistentVolumeClaim with ReadWriteOncePod access mode "
                         "already in-use by another pod", "2 No preemption victims found for incoming pod")),
    Case("ReadWriteOncePod mixed with unschedulable", pod(claims=("solo",)), [node("node-a", unschedulable=True), B],
         claims=[pvc("solo", volume="pv-1", bound=True, modes=("ReadWriteOncePod",))],
         volumes=[pv("pv-1", claim="solo", phase="Bound")], others=[pod("owner", claims=("solo",), on="node-b")],
         message=fail(2, "1 node(s) unavailable due to PersistentVolumeClaim with ReadWriteOncePod access mode "
                         "already in-use by another pod, 1 node(s) were unschedulable",
                      f"1 No preemption victims found for incoming pod, 1 {NOT_HELPFUL}")),
    Case("ReadWriteOncePod free once its user finished", pod(claims=("solo",)), [A],
         claims=[pvc("solo", volume="pv-1", bound=True, modes=("ReadWriteOncePod",))],
         volumes=[pv("pv-1", claim="solo", phase="Bound")],
         others=[{**pod("owner", claims=("solo",), on="node-a"), "status": {"phase": "Failed"}}], node="node-a"),
    Case("preemptionPolicy Never", pod(preemptionPolicy="Never"), [node("node-a", unschedulable=True)],
         message="0/1 nodes are available: 1 node(s) were unschedulable. "
                 "preemption: not eligible due to preemptionPolicy=Never."),
    Case("histogram sorted as strings (10 before 2)", pod(),
         [node(f"u{i}", unschedulable=True) for i in range(10)] + [node("r1", ready="False"), node("r2", ready="False")],
         message=fail(12, "10 node(s) were unschedulable, 2 node(s) had untolerated taint "
                          "{node.kubernetes.io/not-ready: }")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_schedule(case: Case) -> None:
    snap = Snapshot.of(nodes=case.nodes, claims=case.claims, volumes=case.volumes, classes=case.classes,
                       pods=case.others)
    got = schedule(case.pod, snap)
    if case.node is None:
        assert got.node is None
        assert got.message == case.message
        assert got.reason == "Unschedulable"
    else:
        assert (got.node, got.message) == (case.node, "")
        assert got.prebind == case.prebind
        assert got.provision == case.provision
        assert got.wait_for == case.wait_for


@pytest.mark.parametrize("spec,meta,status,want", [
    ({}, {}, {"phase": "Pending"}, True),
    ({"schedulerName": "default-scheduler"}, {}, {}, True),
    ({"nodeName": "node-a"}, {}, {}, False),
    ({"schedulerName": "my-scheduler"}, {}, {}, False),
    ({}, {"deletionTimestamp": "2024-01-01T00:00:00Z"}, {}, False),
    ({}, {}, {"phase": "Succeeded"}, False),
    ({"schedulingGates": [{"name": "wait"}]}, {}, {}, False),
])
def test_needs_scheduling(spec: dict, meta: dict, status: dict, want: bool) -> None:
    obj = {"metadata": {"name": "p", "namespace": "default", **meta}, "spec": spec, "status": status}
    assert needs_scheduling(obj) is want


def test_claim_keys_cover_ephemeral_volumes() -> None:
    p = pod(claims=("a",), volumes=[{"name": "v0", "persistentVolumeClaim": {"claimName": "a"}},
                                   {"name": "tmp", "ephemeral": {}}, {"name": "cfg", "configMap": {"name": "x"}}])
    assert claim_keys(p) == {("default", "a"), ("default", "web-0-tmp")}


def test_fit_error_without_reasons_or_postfilter() -> None:
    assert fit_error(3, "", []) == "0/3 nodes are available:"
    assert fit_error(1, "x", [["ignored"]]) == "0/1 nodes are available: x."
