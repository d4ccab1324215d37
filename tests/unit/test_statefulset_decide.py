"""StatefulSet decisions, table by table: a set and what exists in, the plan out.

Multi-step cases run a small in-memory world that applies each plan as the API would
(created pods are Pending with a uid, deletes remove or mark terminating) and lets the
test make pods Running and Ready, as a node would.
"""

from __future__ import annotations

import copy
import datetime
import itertools
from typing import Any

import pytest

from orlop.controllers.statefulset import history as hist
from orlop.controllers.statefulset import identity as ident
from orlop.controllers.statefulset.decide import (
    CreateClaims,
    CreatePod,
    CreateRevision,
    DeletePod,
    Plan,
    RenumberRevision,
    SetOwners,
    UpdatePod,
    claim_event,
    decide,
    pod_event,
)
from orlop.registry.defaults import apply_defaults

NOW = datetime.datetime(2025, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
_uids = itertools.count(1)


def sts(replicas: int = 2, policy: str = "OrderedReady", strategy: dict | None = None,
        retention: dict | None = None, image: str = "nginx:1.25", start: int | None = None,
        min_ready: int = 0, history_limit: int | None = None, claims: tuple[str, ...] = ("www",)) -> dict:
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "default", "uid": "set-uid", "generation": 1,
                     "labels": {"app": "nginx"}},
        "spec": {"serviceName": "nginx", "replicas": replicas, "podManagementPolicy": policy,
                 "selector": {"matchLabels": {"app": "nginx"}},
                 "template": {"metadata": {"labels": {"app": "nginx"}},
                              "spec": {"containers": [{"name": "nginx", "image": image,
                                                       "volumeMounts": [{"name": c, "mountPath": f"/{c}"}
                                                                        for c in claims]}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": c, "labels": {"tier": "data"}},
                                           "spec": {"accessModes": ["ReadWriteOnce"],
                                                    "resources": {"requests": {"storage": "1Gi"}}}}
                                          for c in claims]},
        "status": {"replicas": 0, "availableReplicas": 0},
    }
    if strategy is not None:
        obj["spec"]["updateStrategy"] = strategy
    if retention is not None:
        obj["spec"]["persistentVolumeClaimRetentionPolicy"] = retention
    if start is not None:
        obj["spec"]["ordinals"] = {"start": start}
    if min_ready:
        obj["spec"]["minReadySeconds"] = min_ready
    if history_limit is not None:
        obj["spec"]["revisionHistoryLimit"] = history_limit
    apply_defaults("StatefulSet", obj)
    return obj


class World:
    """Objects of one namespace; ``step`` decides and applies the plan as the API would."""

    def __init__(self, s: dict, graceful: bool = False):
        self.sts = s
        self.pods: dict[str, dict] = {}
        self.claims: dict[str, dict] = {}
        self.revisions: dict[str, dict] = {}
        self.events: list[tuple[str, str, str]] = []
        self.graceful = graceful
        self.now = NOW

    def plan(self) -> Plan:
        return decide(self.sts, copy.deepcopy(list(self.pods.values())), copy.deepcopy(list(self.claims.values())),
                      copy.deepcopy(list(self.revisions.values())), self.now)

    def step(self) -> Plan:
        plan = self.plan()
        name = self.sts["metadata"]["name"]
        for a in plan.actions:
            if isinstance(a, CreatePod):
                for c in a.claims:
                    self._create(self.claims, c, {"phase": "Pending"})
                    self.events.append(claim_event("create", name, a.pod["metadata"]["name"], c["metadata"]["name"]))
                if a.errors:
                    self.events.append(pod_event("create", name, a.pod["metadata"]["name"], a.errors[0]))
                    break
                self._create(self.pods, a.pod, {"phase": "Pending"})
                self.events.append(pod_event("create", name, a.pod["metadata"]["name"]))
            elif isinstance(a, CreateClaims):
                for c in a.claims:
                    self._create(self.claims, c, {"phase": "Pending"})
            elif isinstance(a, CreateRevision):
                self._create(self.revisions, a.revision, None)
            elif isinstance(a, RenumberRevision):
                self.revisions[a.revision["metadata"]["name"]] = copy.deepcopy(a.revision)
            elif isinstance(a, SetOwners):
                store = {"Pod": self.pods, "PersistentVolumeClaim": self.claims,
                         "ControllerRevision": self.revisions}[a.obj["kind"]]
                store[a.obj["metadata"]["name"]]["metadata"]["ownerReferences"] = copy.deepcopy(a.owner_refs)
            elif isinstance(a, UpdatePod):
                if a.write:
                    self.pods[a.pod["metadata"]["name"]] = copy.deepcopy(a.pod)
            elif isinstance(a, DeletePod):
                self.delete_pod(a.pod["metadata"]["name"])
                self.events.append(pod_event("delete", name, a.pod["metadata"]["name"]))
        if plan.status is not None:
            self.sts["status"] = plan.status
        for d in plan.cleanup:
            del self.revisions[d.revision["metadata"]["name"]]
        return plan

    def _create(self, store: dict, obj: dict, status: dict | None) -> None:
        obj = copy.deepcopy(obj)
        assert obj["metadata"]["name"] not in store, f"{obj['metadata']['name']} created twice"
        obj["metadata"]["uid"] = f"uid-{next(_uids)}"
        obj["metadata"]["creationTimestamp"] = "2025-01-01T00:00:00Z"
        if status is not None:
            obj["status"] = status
        store[obj["metadata"]["name"]] = obj

    def delete_pod(self, name: str) -> None:
        if self.graceful:
            self.pods[name]["metadata"]["deletionTimestamp"] = "2025-01-01T12:00:30Z"
        else:
            del self.pods[name]

    def ready(self, *names: str, since: str = "2025-01-01T11:00:00Z") -> None:
        for n in names or list(self.pods):
            self.pods[n]["status"] = {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": since}]}

    def settle(self, limit: int = 20) -> None:
        """Step, making every pod ready, until nothing more happens."""
        for _ in range(limit):
            self.ready()
            for n, p in list(self.pods.items()):
                if p["metadata"].get("deletionTimestamp"):
                    del self.pods[n]
            plan = self.step()
            if not plan.actions and not plan.cleanup and plan.status is None \
                    and not any(p["metadata"].get("deletionTimestamp") for p in self.pods.values()):
                return
        raise AssertionError("did not settle")


def kinds(plan: Plan) -> list[tuple[str, str]]:
    out = []
    for a in plan.actions:
        obj = a.pod if hasattr(a, "pod") else a.revision if hasattr(a, "revision") else getattr(a, "obj", {})
        out.append((type(a).__name__, obj.get("metadata", {}).get("name", getattr(a, "pod_name", ""))))
    return out


def pod_actions(plan: Plan) -> list[tuple[str, str]]:
    return [k for k in kinds(plan) if k[0] in ("CreatePod", "DeletePod")]


def set_template(w: World, image: str) -> None:
    w.sts["spec"]["template"]["spec"]["containers"][0]["image"] = image
    w.sts["metadata"]["generation"] += 1


# --------------------------------------------------------------------------- revisions

def test_revision_hash_matches_kubernetes_fixture():
    # kubernetes/kubernetes pkg/controller/statefulset/testdata/compatibility_revision_1.33.0.json
    data = {"spec": {"template": {"$patch": "replace", "metadata": {"annotations": {"test": "value"},
                                                                    "creationTimestamp": None,
                                                                    "labels": {"app": "foo"}},
                                  "spec": {"containers": [{"image": "test", "imagePullPolicy": "Always",
                                                           "name": "test", "resources": {},
                                                           "terminationMessagePath": "/dev/termination-log",
                                                           "terminationMessagePolicy": "File"}],
                                           "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                                           "schedulerName": "default-scheduler", "securityContext": {},
                                           "terminationGracePeriodSeconds": 30}}}}
    assert hist.hash_revision(data, 0) == "c77f6d978"
    assert hist.revision_name("test", hist.hash_revision(data, 0)) == "test-c77f6d978"
    assert hist.hash_revision(data, 1) != "c77f6d978"


def test_revision_names_are_stable_and_follow_the_template():
    a, b = sts(), sts()
    b["metadata"]["annotations"] = {"note": "x"}     # set metadata is not part of the revision
    r1, r2 = hist.new_revision(a, 1, 0), hist.new_revision(b, 7, 0)
    assert r1["metadata"]["name"] == r2["metadata"]["name"]
    assert r1["metadata"]["name"].startswith("web-")
    assert set(r1["metadata"]["name"][4:]) <= set(hist.SAFE_ALPHANUMS)
    assert r1["metadata"]["labels"] == {"app": "nginx", hist.HASH_LABEL: r1["metadata"]["name"][4:]}
    assert r1["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web",
                                                  "uid": "set-uid", "controller": True,
                                                  "blockOwnerDeletion": True}]
    assert r1["data"]["spec"]["template"]["$patch"] == "replace" and r1["revision"] == 1
    assert r2["metadata"]["annotations"] == {"note": "x"}
    c = sts(image="nginx:1.26")
    assert hist.new_revision(c, 1, 0)["metadata"]["name"] != r1["metadata"]["name"]
    assert hist.new_revision(a, 1, 1)["metadata"]["name"] != r1["metadata"]["name"]
    assert hist.go_json({"b": "<&>", "a": 1}) == b'{"a":1,"b":"\\u003c\\u0026\\u003e"}'


@pytest.mark.parametrize("name,parent,ordinal", [
    ("web-0", "web", 0), ("my-db-12", "my-db", 12), ("web-abc", "", -1), ("web", "", -1),
    ("web-99999999999", "web", -1), ("web-0-1", "web-0", 1),
])
def test_parent_and_ordinal(name, parent, ordinal):
    assert ident.parent_and_ordinal(name) == (parent, ordinal)


def test_pod_identity_and_storage():
    s = sts()
    s["spec"]["template"]["spec"]["volumes"] = [{"name": "www", "emptyDir": {}}, {"name": "cfg", "emptyDir": {}}]
    s["spec"]["template"]["metadata"]["annotations"] = {"a": "b"}
    pod = ident.new_pod(s, 3, "web-rev")
    m = pod["metadata"]
    assert (m["name"], m["generateName"], m["namespace"]) == ("web-3", "web-", "default")
    assert m["labels"] == {"app": "nginx", "statefulset.kubernetes.io/pod-name": "web-3",
                           "apps.kubernetes.io/pod-index": "3", "controller-revision-hash": "web-rev"}
    assert m["annotations"] == {"a": "b"}
    assert m["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "set-uid",
                                     "controller": True, "blockOwnerDeletion": True}]
    assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("web-3", "nginx")
    assert pod["spec"]["volumes"] == [{"name": "www", "persistentVolumeClaim": {"claimName": "www-web-3"}},
                                      {"name": "cfg", "emptyDir": {}}]
    claim = ident.new_claims(s, 3)["www"]
    assert claim["metadata"]["name"] == "www-web-3" and claim["metadata"]["namespace"] == "default"
    assert claim["metadata"]["labels"] == {"tier": "data", "app": "nginx"}
    assert "status" not in claim and "creationTimestamp" not in claim["metadata"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_event_strings():
    assert pod_event("create", "web", "web-0") == ("Normal", "SuccessfulCreate",
                                                   "create Pod web-0 in StatefulSet web successful")
    assert pod_event("delete", "web", "web-1") == ("Normal", "SuccessfulDelete",
                                                   "delete Pod web-1 in StatefulSet web successful")
    assert claim_event("create", "web", "web-0", "www-web-0") == (
        "Normal", "SuccessfulCreate", "create Claim www-web-0 Pod web-0 in StatefulSet web success")
    assert pod_event("create", "web", "web-0", "boom") == (
        "Warning", "FailedCreate", "create Pod web-0 in StatefulSet web failed error: boom")
    assert claim_event("create", "web", "web-0", "www-web-0", "boom") == (
        "Warning", "FailedCreate", "create Claim www-web-0 for Pod web-0 in StatefulSet web failed error: boom")


# --------------------------------------------------------------------------- OrderedReady / Parallel

def test_ordered_ready_first_sync_creates_revision_claim_and_pod_0_only():
    w = World(sts(replicas=3))
    plan = w.step()
    rev = hist.new_revision(w.sts, 1, 0)["metadata"]["name"]
    assert kinds(plan) == [("CreateRevision", rev), ("CreatePod", "web-0")]
    create = plan.actions[1]
    assert isinstance(create, CreatePod) and [c["metadata"]["name"] for c in create.claims] == ["www-web-0"]
    assert "ownerReferences" not in create.claims[0]["metadata"]        # Retain/Retain
    assert plan.events("web") == [claim_event("create", "web", "web-0", "www-web-0"),
                                  pod_event("create", "web", "web-0")]
    assert plan.status == {"observedGeneration": 1, "replicas": 0, "currentRevision": rev, "updateRevision": rev,
                           "collisionCount": 0, "availableReplicas": 0}
    assert w.pods["web-0"]["metadata"]["labels"]["controller-revision-hash"] == rev


def test_ordered_ready_waits_for_running_and_ready_then_creates_next():
    w = World(sts(replicas=3))
    w.step()
    plan = w.step()                               # web-0 Pending
    assert pod_actions(plan) == [] and "web-0" in plan.waiting
    assert plan.status is not None and plan.status["replicas"] == 1
    w.pods["web-0"]["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}
    assert pod_actions(w.step()) == []
    w.ready("web-0")
    assert pod_actions(w.step()) == [("CreatePod", "web-1")]
    w.ready("web-1")
    assert pod_actions(w.step()) == [("CreatePod", "web-2")]
    w.ready("web-2")
    plan = w.step()
    assert plan.actions == [] and w.sts["status"]["readyReplicas"] == 3
    assert sorted(w.claims) == ["www-web-0", "www-web-1", "www-web-2"]


def test_ordered_ready_stops_while_a_lower_pod_is_unhealthy():
    w = World(sts(replicas=3))
    w.settle()
    del w.pods["web-2"]
    w.pods["web-0"]["status"]["phase"] = "Pending"
    plan = w.step()
    assert pod_actions(plan) == [] and "web-0" in plan.waiting


def test_parallel_creates_all_pods_at_once():
    w = World(sts(replicas=3, policy="Parallel"))
    plan = w.step()
    assert pod_actions(plan) == [("CreatePod", "web-0"), ("CreatePod", "web-1"), ("CreatePod", "web-2")]
    assert sorted(w.claims) == ["www-web-0", "www-web-1", "www-web-2"]


def test_start_ordinal_is_honoured():
    w = World(sts(replicas=2, start=5))
    assert pod_actions(w.step()) == [("CreatePod", "web-5")]
    w.settle()
    assert sorted(w.pods) == ["web-5", "web-6"] and "www-web-6" in w.claims


# --------------------------------------------------------------------------- scale down

def test_ordered_scale_down_from_highest_one_at_a_time_keeping_claims():
    w = World(sts(replicas=3), graceful=True)
    w.settle()
    w.sts["spec"]["replicas"] = 1
    w.sts["metadata"]["generation"] += 1
    assert pod_actions(w.step()) == [("DeletePod", "web-2")]
    plan = w.step()                                # web-2 terminating: wait
    assert pod_actions(plan) == [] and "web-2" in plan.waiting
    del w.pods["web-2"]
    assert pod_actions(w.step()) == [("DeletePod", "web-1")]
    del w.pods["web-1"]
    assert w.step().actions == []
    assert sorted(w.claims) == ["www-web-0", "www-web-1", "www-web-2"]
    assert all("ownerReferences" not in c["metadata"] for c in w.claims.values())


def test_ordered_scale_down_waits_while_a_replica_is_unhealthy():
    w = World(sts(replicas=3))
    w.settle()
    w.sts["spec"]["replicas"] = 2
    w.pods["web-0"]["status"]["phase"] = "Pending"
    assert pod_actions(w.step()) == []


def test_parallel_scale_down_deletes_all_condemned_at_once():
    w = World(sts(replicas=4, policy="Parallel"))
    w.settle()
    w.sts["spec"]["replicas"] = 1
    assert pod_actions(w.step()) == [("DeletePod", "web-3"), ("DeletePod", "web-2"), ("DeletePod", "web-1")]


# --------------------------------------------------------------------------- retention

POD_REF = {"apiVersion": "v1", "kind": "Pod", "controller": True, "blockOwnerDeletion": True}
SET_REF = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "set-uid", "controller": True,
           "blockOwnerDeletion": True}


@pytest.mark.parametrize("when_deleted,when_scaled,in_range_refs,condemned_refs", [
    ("Retain", "Retain", [], []),
    ("Delete", "Retain", ["set"], ["set"]),
    ("Retain", "Delete", [], ["pod"]),
    ("Delete", "Delete", ["set"], ["pod"]),
])
def test_claim_owner_refs_per_retention_policy(when_deleted, when_scaled, in_range_refs, condemned_refs):
    w = World(sts(replicas=2, retention={"whenDeleted": when_deleted, "whenScaled": when_scaled}), graceful=True)
    w.settle()

    def refs(claim: str) -> list[str]:
        out = []
        for r in w.claims[claim]["metadata"].get("ownerReferences") or []:
            if r["kind"] == "StatefulSet":
                assert r == SET_REF
                out.append("set")
            else:
                pod = w.pods[r["name"]]
                assert r == {**POD_REF, "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}
                out.append("pod")
        return out

    assert refs("www-web-0") == in_range_refs and refs("www-web-1") == in_range_refs
    w.sts["spec"]["replicas"] = 1
    plan = w.step()
    # the claim of the condemned pod is fixed before the pod is deleted
    assert [k for k in kinds(plan)][-1] == ("DeletePod", "web-1")
    assert refs("www-web-1") == condemned_refs and refs("www-web-0") == in_range_refs


def test_recreated_set_reuses_claims_and_adopts_them_for_when_deleted_delete():
    w = World(sts(replicas=1))
    w.settle()
    claim_uid = w.claims["www-web-0"]["metadata"]["uid"]
    # the set is deleted (its pods go, the claim stays) and created again with whenDeleted=Delete
    w.pods.clear()
    w.revisions.clear()
    w.sts = sts(replicas=1, retention={"whenDeleted": "Delete", "whenScaled": "Retain"})
    w.sts["metadata"]["uid"] = "set-uid-2"
    plan = w.step()
    create = next(a for a in plan.actions if isinstance(a, CreatePod))
    assert create.claims == []                                    # the old claim is reused, not recreated
    fix = [a for a in plan.actions if isinstance(a, SetOwners) and a.why == "retention"]
    assert [a.obj["metadata"]["name"] for a in fix] == ["www-web-0"]
    assert fix[0].owner_refs == [{**SET_REF, "uid": "set-uid-2"}]
    assert w.claims["www-web-0"]["metadata"]["uid"] == claim_uid
    assert w.pods["web-0"]["spec"]["volumes"][0] == {"name": "www", "persistentVolumeClaim": {"claimName": "www-web-0"}}


def test_claim_with_stale_owner_is_not_touched():
    w = World(sts(replicas=1, retention={"whenDeleted": "Delete", "whenScaled": "Retain"}))
    w.settle()
    w.claims["www-web-0"]["metadata"]["ownerReferences"] = [{**SET_REF, "uid": "old-set"}]
    w.pods["web-0"]["metadata"]["labels"].pop("statefulset.kubernetes.io/pod-name")   # force a repair pass
    plan = w.step()
    assert not [a for a in plan.actions if isinstance(a, SetOwners) and a.why == "retention"]
    assert [type(a).__name__ for a in plan.actions] == ["UpdatePod"]
    assert plan.events("web") == [pod_event("update", "web", "web-0")]


def test_claim_being_deleted_blocks_its_pod():
    w = World(sts(replicas=1))
    w.settle()
    del w.pods["web-0"]
    w.claims["www-web-0"]["metadata"]["deletionTimestamp"] = "2025-01-01T11:59:00Z"
    plan = w.step()
    assert kinds(plan) == [("CreatePod", "web-0")]
    assert plan.actions[0].errors == ["pvc www-web-0 is being deleted"]
    assert plan.error == "pvc www-web-0 is being deleted"
    assert plan.events("web") == [("Warning", "FailedCreate",
                                   "create Pod web-0 in StatefulSet web failed error: pvc www-web-0 is being deleted")]
    assert "web-0" not in w.pods
    del w.claims["www-web-0"]                      # the claim is gone: the pod comes back with a new claim
    plan = w.step()
    assert [c["metadata"]["name"] for c in plan.actions[0].claims] == ["www-web-0"] and "web-0" in w.pods


def test_when_scaled_delete_stale_claim_blocks_pod_until_collected():
    w = World(sts(replicas=2, retention={"whenDeleted": "Retain", "whenScaled": "Delete"}))
    w.settle()
    w.sts["spec"]["replicas"] = 1
    w.step()                                       # claim of web-1 now owned by the pod; pod deleted
    assert "web-1" not in w.pods and w.claims["www-web-1"]["metadata"]["ownerReferences"][0]["kind"] == "Pod"
    w.sts["spec"]["replicas"] = 2                  # scaled up before the garbage collector ran
    plan = w.step()
    assert pod_actions(plan) == [] and "earlier pod" in plan.waiting
    del w.claims["www-web-1"]                      # collected
    plan = w.step()
    assert pod_actions(plan) == [("CreatePod", "web-1")]


# --------------------------------------------------------------------------- failures and repairs

def test_failed_pod_is_deleted_and_recreated_with_same_name_and_claims():
    w = World(sts(replicas=2))
    w.settle()
    w.pods["web-1"]["status"]["phase"] = "Failed"
    assert pod_actions(w.step()) == [("DeletePod", "web-1")]
    plan = w.step()
    assert pod_actions(plan) == [("CreatePod", "web-1")] and plan.actions[-1].claims == []
    assert w.pods["web-1"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "www-web-1"


def test_orphans_are_adopted_and_foreign_pods_released():
    w = World(sts(replicas=1))
    w.settle()
    w.pods["web-0"]["metadata"].pop("ownerReferences")
    w.pods["web-9"] = copy.deepcopy(w.pods["web-0"])
    w.pods["web-9"]["metadata"].update(name="web-9", uid="u9", ownerReferences=[SET_REF],
                                       labels={"app": "other"})
    plan = w.step()
    adopt = {a.obj["metadata"]["name"]: a for a in plan.actions if isinstance(a, SetOwners)}
    assert {n: a.why for n, a in adopt.items()} == {"web-0": "adopt", "web-9": "release"}
    assert adopt["web-0"].owner_refs == [SET_REF] and adopt["web-9"].owner_refs == []
    assert "web-9" not in [n for k, n in pod_actions(plan)]


def test_set_being_deleted_only_updates_status():
    w = World(sts(replicas=3))
    w.settle()
    w.sts["metadata"]["deletionTimestamp"] = "2025-01-01T12:00:00Z"
    w.sts["spec"]["replicas"] = 1
    w.pods["web-0"]["status"]["phase"] = "Pending"
    plan = w.step()
    assert plan.actions == [] and plan.status is not None and plan.status["readyReplicas"] == 2


# --------------------------------------------------------------------------- updates

def test_rolling_update_replaces_from_highest_ordinal_waiting_for_readiness():
    w = World(sts(replicas=3))
    w.settle()
    old = w.sts["status"]["currentRevision"]
    set_template(w, "nginx:1.26")
    plan = w.step()
    new = plan.update_revision
    assert new != old and plan.current_revision == old
    assert kinds(plan) == [("CreateRevision", new), ("DeletePod", "web-2")]
    assert w.revisions[new]["revision"] == 2
    assert w.sts["status"]["currentReplicas"] == 2 and w.sts["status"]["updateRevision"] == new
    plan = w.step()                                # web-2 recreated at the new revision
    assert pod_actions(plan) == [("CreatePod", "web-2")]
    assert w.pods["web-2"]["metadata"]["labels"]["controller-revision-hash"] == new
    assert w.pods["web-2"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert pod_actions(w.step()) == []             # web-2 not ready yet: wait
    w.ready("web-2")
    assert pod_actions(w.step()) == [("DeletePod", "web-1")]
    w.settle()
    st = w.sts["status"]
    assert st["currentRevision"] == st["updateRevision"] == new
    assert st["currentReplicas"] == st["updatedReplicas"] == st["readyReplicas"] == 3
    assert st["observedGeneration"] == 2


def test_rolling_update_with_partition_updates_only_ordinals_at_or_above_it():
    w = World(sts(replicas=3, strategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}))
    w.settle()
    old = w.sts["status"]["currentRevision"]
    set_template(w, "nginx:1.26")
    assert pod_actions(w.step()) == [("DeletePod", "web-2")]
    w.settle()
    labels = {n: p["metadata"]["labels"]["controller-revision-hash"] for n, p in w.pods.items()}
    assert labels["web-0"] == labels["web-1"] == old and labels["web-2"] != old
    st = w.sts["status"]
    assert st["updatedReplicas"] == 1 and st["currentReplicas"] == 2 and st["currentRevision"] == old
    del w.pods["web-0"]                            # below the partition: recreated at the current revision
    w.step()
    assert w.pods["web-0"]["metadata"]["labels"]["controller-revision-hash"] == old


def test_on_delete_never_deletes_but_recreates_at_update_revision():
    w = World(sts(replicas=2, strategy={"type": "OnDelete"}))
    w.settle()
    old = w.sts["status"]["currentRevision"]
    set_template(w, "nginx:1.26")
    plan = w.step()
    assert pod_actions(plan) == [] and plan.update_revision != old
    del w.pods["web-1"]
    w.step()
    assert w.pods["web-1"]["metadata"]["labels"]["controller-revision-hash"] == plan.update_revision
    assert w.pods["web-0"]["metadata"]["labels"]["controller-revision-hash"] == old


def test_rollback_renumbers_the_earlier_revision_instead_of_creating_one():
    w = World(sts(replicas=1))
    w.settle()
    first = w.sts["status"]["currentRevision"]
    set_template(w, "nginx:1.26")
    w.settle()
    set_template(w, "nginx:1.25")
    plan = w.step()
    assert kinds(plan)[0] == ("RenumberRevision", first)
    assert w.revisions[first]["revision"] == 3 and plan.update_revision == first
    assert not any(isinstance(a, CreateRevision) for a in plan.actions)


def test_revision_history_limit_deletes_oldest_non_live_revisions():
    w = World(sts(replicas=1, history_limit=1))
    w.settle()
    names = [w.sts["status"]["currentRevision"]]
    for image in ("nginx:2", "nginx:3", "nginx:4"):
        set_template(w, image)
        w.settle()
        names.append(w.sts["status"]["currentRevision"])
    # live: the current revision; kept: one more (the newest of the others)
    assert sorted(w.revisions) == sorted(names[-2:])
    assert [w.revisions[n]["revision"] for n in names[-2:]] == [3, 4]


def test_collision_with_foreign_revision_of_same_name_bumps_collision_count():
    w = World(sts(replicas=1))
    clash = hist.new_revision(w.sts, 1, 0)
    clash["metadata"]["ownerReferences"] = [{**SET_REF, "uid": "someone-else"}]
    clash["data"] = {"spec": {"template": {"$patch": "replace", "metadata": {}, "spec": {}}}}
    w.revisions[clash["metadata"]["name"]] = clash
    plan = w.step()
    created = next(a for a in plan.actions if isinstance(a, CreateRevision)).revision
    assert created["metadata"]["name"] == hist.rename(hist.new_revision(w.sts, 1, 0), "web", 1)["metadata"]["name"]
    assert plan.status["collisionCount"] == 1


# --------------------------------------------------------------------------- status and availability

def test_min_ready_seconds_gates_availability_and_requeues():
    w = World(sts(replicas=2, min_ready=10))
    w.step()
    w.ready("web-0", since="2025-01-01T11:59:55Z")       # ready 5 s ago
    plan = w.step()
    assert pod_actions(plan) == [] and "available" in plan.waiting and plan.requeue_after == 10.0
    assert w.sts["status"]["readyReplicas"] == 1 and w.sts["status"]["availableReplicas"] == 0
    w.now = NOW + datetime.timedelta(seconds=6)
    assert pod_actions(w.step()) == [("CreatePod", "web-1")]
    assert w.sts["status"]["availableReplicas"] == 1


def test_status_is_written_only_when_it_changes():
    w = World(sts(replicas=1))
    w.settle()
    assert w.plan().status is None
    w.sts["metadata"]["generation"] = 5
    assert w.plan().status["observedGeneration"] == 5


def test_pending_pod_gets_missing_claim_recreated():
    w = World(sts(replicas=1))
    w.step()
    del w.claims["www-web-0"]
    plan = w.step()
    assert kinds(plan) == [("CreateClaims", "web-0")]
    assert isinstance(plan.actions[0], CreateClaims) and plan.events("web") == [
        claim_event("create", "web", "web-0", "www-web-0")]


def test_seed_000_v1beta1_set_is_on_delete_and_creates_datadir_claims():
    from orlop.registry.conversion import convert_statefulset
    src = {"apiVersion": "apps/v1beta1", "kind": "StatefulSet",
           "metadata": {"name": "mysqltest", "namespace": "kube-system"},
           "spec": {"serviceName": "mysqltest", "replicas": 2,
                    "template": {"metadata": {"labels": {"app": "mysqltest"}},
                                 "spec": {"containers": [{"name": "mysqltest", "image": "mysql-galera:e2e"}],
                                          "volumes": [{"name": "config", "emptyDir": {}}]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "datadir"},
                                              "spec": {"accessModes": ["ReadWriteMany"],
                                                       "resources": {"requests": {"storage": "512Mi"}}}}]}}
    s = convert_statefulset(src, "apps/v1")
    apply_defaults("StatefulSet", s)
    s["metadata"].update(uid="u-mysql", generation=1)
    w = World(s)
    w.settle()
    assert sorted(w.pods) == ["mysqltest-0", "mysqltest-1"]
    assert sorted(w.claims) == ["datadir-mysqltest-0", "datadir-mysqltest-1"]
    assert w.claims["datadir-mysqltest-0"]["metadata"]["labels"] == {"app": "mysqltest"}
    assert w.pods["mysqltest-1"]["spec"]["subdomain"] == "mysqltest"


def test_claim_fixed_once_per_decision_for_a_pending_pod_in_parallel():
    w = World(sts(replicas=1, policy="Parallel", retention={"whenDeleted": "Delete", "whenScaled": "Retain"}))
    w.step()
    w.claims["www-web-0"]["metadata"].pop("ownerReferences")     # e.g. the policy was just changed
    plan = w.step()                                              # web-0 is still Pending
    fixes = [a for a in plan.actions if isinstance(a, SetOwners)]
    assert [(a.why, a.obj["metadata"]["name"]) for a in fixes] == [("retention", "www-web-0")]
    assert fixes[0].owner_refs == [SET_REF]
    assert w.claims["www-web-0"]["metadata"]["ownerReferences"] == [SET_REF]
