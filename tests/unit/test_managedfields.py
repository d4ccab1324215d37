"""Server-side apply and managedFields, against Kubernetes' own outputs and scenarios.

Expected FieldsV1 documents marked "real" are copied from objects a real kube-apiserver returned
(public dumps) or from Kubernetes' integration tests (test/integration/apiserver/apply); the
scenarios follow those tests.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import pytest

from orlop.errors import StatusError
from orlop.registry import managedfields as mf

PVC = ("", "v1", "PersistentVolumeClaim")
PV = ("", "v1", "PersistentVolume")
SVC = ("", "v1", "Service")
CM = ("", "v1", "ConfigMap")
STS = ("apps", "v1", "StatefulSet")

T0, T1, T2, T3, T4 = (f"2024-05-01T10:0{i}:00Z" for i in range(5))


def ordered(doc: Any) -> str:
    """JSON text keeping key order: equal only when content and order match."""
    return json.dumps(doc)


def entries(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return obj["metadata"].get("managedFields", [])


def entry(obj: dict[str, Any], manager: str) -> dict[str, Any]:
    found = [e for e in entries(obj) if e.get("manager") == manager]
    assert len(found) == 1, entries(obj)
    return found[0]


def pvc(storage: str = "1Gi", **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "data-pvc", "namespace": "default"}
    if labels:
        meta["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}}}


def do_apply(live: dict[str, Any] | None, applied: dict[str, Any], manager: str, now: str, gvk=PVC,
             api_version: str = "v1", force: bool = False, **kw: Any) -> dict[str, Any]:
    return mf.apply(live, applied, manager=manager, force=force, gvk=gvk, api_version=api_version, now=now, **kw)


def do_update(old: dict[str, Any] | None, new: dict[str, Any], manager: str, now: str, gvk=PVC,
              api_version: str = "v1", **kw: Any) -> dict[str, Any]:
    mf.record_update(old, new, manager=manager, gvk=gvk, api_version=api_version, now=now, **kw)
    return new


# --- FieldsV1 encoding against real Kubernetes output ---------------------------------------------------

# kube-apiserver output: a Deployment's pod template created by `kubectl apply` (client-side,
# manager kubectl-client-side-apply, operation Update).  StatefulSets share the PodTemplateSpec type.
REAL_TEMPLATE_OBJECT = json.loads(r"""
{"metadata": {"creationTimestamp": null, "labels": {"app.kubernetes.io/component": "controller",
  "app.kubernetes.io/instance": "ingress-nginx", "app.kubernetes.io/name": "ingress-nginx"}},
 "spec": {
  "volumes": [{"name": "webhook-cert", "secret": {"secretName": "ingress-nginx-admission", "defaultMode": 420}}],
  "containers": [{
   "name": "controller",
   "image": "registry.k8s.io/ingress-nginx/controller:v1.1.3",
   "args": ["/nginx-ingress-controller", "--enable-ssl-passthrough"],
   "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"},
             {"name": "https", "containerPort": 443, "protocol": "TCP"},
             {"name": "webhook", "containerPort": 8443, "protocol": "TCP"}],
   "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
           {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}},
           {"name": "LD_PRELOAD", "value": "/usr/local/lib/libmimalloc.so"}],
   "resources": {"requests": {"cpu": "100m", "memory": "90Mi"}},
   "volumeMounts": [{"name": "webhook-cert", "readOnly": true, "mountPath": "/usr/local/certificates/"}],
   "livenessProbe": {"httpGet": {"path": "/healthz", "port": 10254, "scheme": "HTTP"}, "initialDelaySeconds": 10,
                     "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 5},
   "readinessProbe": {"httpGet": {"path": "/healthz", "port": 10254, "scheme": "HTTP"}, "initialDelaySeconds": 10,
                      "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
   "lifecycle": {"preStop": {"exec": {"command": ["/wait-shutdown"]}}},
   "terminationMessagePath": "/dev/termination-log",
   "terminationMessagePolicy": "File",
   "imagePullPolicy": "IfNotPresent",
   "securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}, "runAsUser": 101,
                       "allowPrivilegeEscalation": true}}],
  "restartPolicy": "Always",
  "terminationGracePeriodSeconds": 300,
  "dnsPolicy": "ClusterFirst",
  "nodeSelector": {"kubernetes.io/os": "linux", "node-role.kubernetes.io/master": ""},
  "serviceAccountName": "ingress-nginx",
  "serviceAccount": "ingress-nginx",
  "securityContext": {},
  "schedulerName": "default-scheduler",
  "tolerations": [{"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"},
                  {"key": "CriticalAddonsOnly", "operator": "Exists"}]}}
""")

REAL_TEMPLATE_FIELDS = r"""
{"f:metadata": {"f:labels": {".": {}, "f:app.kubernetes.io/component": {}, "f:app.kubernetes.io/instance": {},
   "f:app.kubernetes.io/name": {}}},
 "f:spec": {
  "f:containers": {
   "k:{\"name\":\"controller\"}": {
    ".": {},
    "f:args": {},
    "f:env": {".": {},
     "k:{\"name\":\"LD_PRELOAD\"}": {".": {}, "f:name": {}, "f:value": {}},
     "k:{\"name\":\"POD_NAME\"}": {".": {}, "f:name": {}, "f:valueFrom": {".": {}, "f:fieldRef": {}}},
     "k:{\"name\":\"POD_NAMESPACE\"}": {".": {}, "f:name": {}, "f:valueFrom": {".": {}, "f:fieldRef": {}}}},
    "f:image": {},
    "f:imagePullPolicy": {},
    "f:lifecycle": {".": {}, "f:preStop": {".": {}, "f:exec": {".": {}, "f:command": {}}}},
    "f:livenessProbe": {".": {}, "f:failureThreshold": {}, "f:httpGet": {".": {}, "f:path": {}, "f:port": {},
     "f:scheme": {}}, "f:initialDelaySeconds": {}, "f:periodSeconds": {}, "f:successThreshold": {},
     "f:timeoutSeconds": {}},
    "f:name": {},
    "f:ports": {".": {},
     "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}, "f:name": {}, "f:protocol": {}},
     "k:{\"containerPort\":443,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}, "f:name": {}, "f:protocol": {}},
     "k:{\"containerPort\":8443,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}, "f:name": {}, "f:protocol": {}}},
    "f:readinessProbe": {".": {}, "f:failureThreshold": {}, "f:httpGet": {".": {}, "f:path": {}, "f:port": {},
     "f:scheme": {}}, "f:initialDelaySeconds": {}, "f:periodSeconds": {}, "f:successThreshold": {},
     "f:timeoutSeconds": {}},
    "f:resources": {".": {}, "f:requests": {".": {}, "f:cpu": {}, "f:memory": {}}},
    "f:securityContext": {".": {}, "f:allowPrivilegeEscalation": {}, "f:capabilities": {".": {}, "f:add": {},
     "f:drop": {}}, "f:runAsUser": {}},
    "f:terminationMessagePath": {},
    "f:terminationMessagePolicy": {},
    "f:volumeMounts": {".": {},
     "k:{\"mountPath\":\"/usr/local/certificates/\"}": {".": {}, "f:mountPath": {}, "f:name": {}, "f:readOnly": {}}}}},
  "f:dnsPolicy": {},
  "f:nodeSelector": {},
  "f:restartPolicy": {},
  "f:schedulerName": {},
  "f:securityContext": {},
  "f:serviceAccount": {},
  "f:serviceAccountName": {},
  "f:terminationGracePeriodSeconds": {},
  "f:tolerations": {},
  "f:volumes": {".": {},
   "k:{\"name\":\"webhook-cert\"}": {".": {}, "f:name": {}, "f:secret": {".": {}, "f:defaultMode": {},
    "f:secretName": {}}}}}}
"""

# kube-apiserver output: a headless Service created by an operator (manager "main", Update).  The
# server-set clusterIPs / ipFamilies / ipFamilyPolicy are not in the request, so nobody owns them.
REAL_SERVICE = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {
        "name": "sleevecdc-sample-dc-service", "namespace": "tracey",
        "annotations": {"cassandra.datastax.com/resource-hash": "ExdytUM/fR9qZGfbBrU6EgaCzUE7KWMSF8rVBoO8EFs="},
        "labels": {"app.kubernetes.io/created-by": "cass-operator", "app.kubernetes.io/name": "cassandra",
                   "cassandra.datastax.com/cluster": "sleevecdc"},
        "ownerReferences": [{"apiVersion": "cassandra.datastax.com/v1beta1", "blockOwnerDeletion": True,
                             "controller": True, "kind": "CassandraDatacenter", "name": "sample-dc",
                             "uid": "f41bd5db-5b03-483a-8eb6-ab7aba48b540"}]},
    "spec": {
        "clusterIP": "None", "internalTrafficPolicy": "Cluster",
        "ports": [{"name": "native", "port": 9042, "protocol": "TCP", "targetPort": 9042},
                  {"name": "tls-native", "port": 9142, "protocol": "TCP", "targetPort": 9142},
                  {"name": "mgmt-api", "port": 8080, "protocol": "TCP", "targetPort": 8080}],
        "selector": {"cassandra.datastax.com/cluster": "sleevecdc"},
        "sessionAffinity": "None", "type": "ClusterIP"},
}
REAL_SERVICE_FIELDS = r"""
{"f:metadata": {"f:annotations": {".": {}, "f:cassandra.datastax.com/resource-hash": {}},
  "f:labels": {".": {}, "f:app.kubernetes.io/created-by": {}, "f:app.kubernetes.io/name": {},
   "f:cassandra.datastax.com/cluster": {}},
  "f:ownerReferences": {".": {}, "k:{\"uid\":\"f41bd5db-5b03-483a-8eb6-ab7aba48b540\"}": {}}},
 "f:spec": {"f:clusterIP": {}, "f:internalTrafficPolicy": {},
  "f:ports": {".": {},
   "k:{\"port\":8080,\"protocol\":\"TCP\"}": {".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}},
   "k:{\"port\":9042,\"protocol\":\"TCP\"}": {".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}},
   "k:{\"port\":9142,\"protocol\":\"TCP\"}": {".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}}},
  "f:selector": {}, "f:sessionAffinity": {}, "f:type": {}}}
"""

# kube-apiserver output: a hostPath PV created by an operator (manager "main", Update).
REAL_PV = {
    "apiVersion": "v1", "kind": "PersistentVolume",
    "metadata": {"name": "pv-1", "labels": {"discrete.events/change-id": "c", "discrete.events/creator-id": "d"}},
    "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"},
             "hostPath": {"path": "/data/pv-1", "type": ""}, "persistentVolumeReclaimPolicy": "Retain",
             "storageClassName": "standard", "volumeMode": "Filesystem"},
}
REAL_PV_FIELDS = r"""
{"f:metadata": {"f:labels": {".": {}, "f:discrete.events/change-id": {}, "f:discrete.events/creator-id": {}}},
 "f:spec": {"f:accessModes": {}, "f:capacity": {".": {}, "f:storage": {}},
  "f:hostPath": {".": {}, "f:path": {}, "f:type": {}}, "f:persistentVolumeReclaimPolicy": {},
  "f:storageClassName": {}, "f:volumeMode": {}}}
"""

# kube-apiserver output: a PVC created with the Python client (manager "OpenAPI-Generator"), with
# finalizers in the request.
REAL_PVC = {
    "apiVersion": "v1", "kind": "PersistentVolumeClaim",
    "metadata": {"name": "image-registry-storage", "namespace": "openshift-image-registry",
                 "annotations": {"imageregistry.openshift.io": "true", mf.LAST_APPLIED: "{}\n",
                                 "volume.beta.kubernetes.io/storage-provisioner": "ibm.io/ibmc-file"},
                 "finalizers": ["kubernetes.io/pvc-protection"], "labels": {"billingType": "hourly"}},
    "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "100Gi"}},
             "storageClassName": "ibmc-file-gold", "volumeMode": "Filesystem"},
}
REAL_PVC_FIELDS = {
    "f:metadata": {"f:annotations": {".": {}, "f:imageregistry.openshift.io": {},
                                     "f:kubectl.kubernetes.io/last-applied-configuration": {},
                                     "f:volume.beta.kubernetes.io/storage-provisioner": {}},
                   "f:finalizers": {".": {}, "v:\"kubernetes.io/pvc-protection\"": {}},
                   "f:labels": {".": {}, "f:billingType": {}}},
    "f:spec": {"f:accessModes": {}, "f:resources": {"f:requests": {".": {}, "f:storage": {}}},
               "f:storageClassName": {}, "f:volumeMode": {}},
}


def test_create_records_real_pod_template_fields_in_order() -> None:
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web", "namespace": "default"},
           "spec": {"replicas": 1, "serviceName": "web",
                    "selector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
                    "template": copy.deepcopy(REAL_TEMPLATE_OBJECT)}}
    out = do_update(None, sts, "kubectl-client-side-apply", T0, gvk=STS, api_version="apps/v1")
    [e] = entries(out)
    assert (e["manager"], e["operation"], e["apiVersion"], e["time"]) == \
        ("kubectl-client-side-apply", "Update", "apps/v1", T0)
    assert ordered(e["fieldsV1"]["f:spec"]["f:template"]) == ordered(json.loads(REAL_TEMPLATE_FIELDS))
    # spec is a Go struct that exists in the empty object: no "." for it; selector is atomic.
    assert ordered(e["fieldsV1"]["f:spec"]) .startswith('{"f:replicas": {}, "f:selector": {}, "f:serviceName": {}')


@pytest.mark.parametrize(("obj", "gvk", "real", "manager"), [
    (REAL_SERVICE, SVC, REAL_SERVICE_FIELDS, "main"),
    (REAL_PV, PV, REAL_PV_FIELDS, "main"),
], ids=["service", "pv"])
def test_create_matches_real_fieldsv1_in_order(obj: dict[str, Any], gvk: tuple[str, str, str], real: str,
                                               manager: str) -> None:
    out = do_update(None, copy.deepcopy(obj), manager, T0, gvk=gvk)
    assert ordered(entry(out, manager)["fieldsV1"]) == ordered(json.loads(real))


def test_create_matches_real_pvc_fields_with_finalizer_set() -> None:
    out = do_update(None, copy.deepcopy(REAL_PVC), "OpenAPI-Generator", T0)
    assert entry(out, "OpenAPI-Generator")["fieldsV1"] == REAL_PVC_FIELDS


def test_apply_encoding_matches_kubernetes_integration_test_bytes() -> None:
    # TestApplyConvertsManagedFieldsVersion expects these exact bytes for an apply of this shape.
    applied = {"apiVersion": "apps/v1", "kind": "StatefulSet",
               "metadata": {"name": "deployment", "labels": {"sidecar_version": "release"}},
               "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "sidecar:latest"}]}}}}
    expected = (r'{"f:metadata":{"f:labels":{"f:sidecar_version":{}}},"f:spec":{"f:template":{"f:spec":'
                r'{"f:containers":{"k:{\"name\":\"sidecar\"}":{".":{},"f:image":{},"f:name":{}}}}}}}')
    assert json.dumps(mf.fields_v1(applied, STS), separators=(",", ":")) == expected
    out = do_apply(None, applied, "sidecar_controller", T0, gvk=STS, api_version="apps/v1")
    assert json.dumps(entry(out, "sidecar_controller")["fieldsV1"], separators=(",", ":")) == expected


@pytest.mark.parametrize(("obj", "expected"), [
    # ports are a list-map keyed by containerPort+protocol; protocol defaults to TCP in the key
    ({"spec": {"template": {"spec": {"containers": [{"name": "web", "ports": [{"containerPort": 80}]}]}}}},
     {"f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"web"}': {
         ".": {}, "f:name": {},
         "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}}}}}}}}),
    # finalizers are a set of strings
    ({"metadata": {"finalizers": ["b.io/x", "a.io/y"]}},
     {"f:metadata": {"f:finalizers": {'v:"a.io/y"': {}, 'v:"b.io/x"': {}}}}),
    # an atomic list is one leaf
    ({"spec": {"template": {"spec": {"containers": [{"name": "c", "command": ["sh", "-c"]}]}}}},
     {"f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"c"}': {
         ".": {}, "f:command": {}, "f:name": {}}}}}}}),
    # label keys with dots and slashes stay single elements; HTML characters escaped as Go does
    ({"metadata": {"labels": {"app.kubernetes.io/name": "x"}, "annotations": {"a<b>&c": "y"}}},
     {"f:metadata": {"f:annotations": {"f:a<b>&c": {}}, "f:labels": {"f:app.kubernetes.io/name": {}}}}),
], ids=["ports-keys", "finalizers-set", "atomic-list", "map-keys"])
def test_fields_v1_list_types_on_statefulset(obj: dict[str, Any], expected: dict[str, Any]) -> None:
    full = {"apiVersion": "apps/v1", "kind": "StatefulSet", **obj}
    assert ordered(mf.fields_v1(full, STS)) == ordered(expected)


def test_set_and_key_values_are_go_json() -> None:
    paths = [(("f", "spec"), ("f", "x"), ("v", mf.go_json("<a&b>"))),
             (("f", "spec"), ("f", "y"), ("k", (("name", mf.go_json("é")), ("port", mf.go_json(8.0)))))]
    assert mf.encode_fields_v1(paths) == {"f:spec": {
        "f:x": {'v:"\\u003ca\\u0026b\\u003e"': {}}, "f:y": {'k:{"name":"é","port":8}': {}}}}


def test_decode_then_encode_is_stable_on_real_document() -> None:
    real = json.loads(REAL_TEMPLATE_FIELDS)
    assert ordered(mf.encode_fields_v1(mf.decode_fields_v1(real))) == ordered(real)


@pytest.mark.parametrize(("doc", "paths"), [
    ({"f:a": {}}, {(("f", "a"),)}),
    ({"f:a": {".": {}, "f:b": {}}}, {(("f", "a"),), (("f", "a"), ("f", "b"))}),
    ({"f:a": {"f:b": {}}}, {(("f", "a"), ("f", "b"))}),
    ({"f:a": {"x:unknown": {}}}, {(("f", "a"),)}),            # unknown element kinds are dropped
    ({"i:3": {}}, {(("i", 3),)}),
    ({'k:{"b":1,"a":"x"}': {}}, {(("k", (("a", '"x"'), ("b", "1"))),)}),
])
def test_decode_fields_v1(doc: dict[str, Any], paths: set[Any]) -> None:
    assert mf.decode_fields_v1(doc) == paths


@pytest.mark.parametrize("doc", [{"x": {}}, {"fa": {}}, {"f:a": 1}, {"k:[1]": {}}, {"v:{": {}}, "no"])
def test_decode_fields_v1_rejects(doc: Any) -> None:
    with pytest.raises(mf.FieldsV1Error):
        mf.decode_fields_v1(doc)


# --- apply ----------------------------------------------------------------------------------------------

def test_apply_creates_and_second_manager_shares_without_conflict() -> None:
    created = do_apply(None, pvc(app="db"), "kubectl", T0)
    assert created["spec"] == pvc()["spec"]
    [e] = entries(created)
    assert e == {"manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "time": T0, "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}},
                              "f:spec": {"f:accessModes": {}, "f:resources": {"f:requests": {"f:storage": {}}}}}}
    again = do_apply(created, pvc(app="db"), "other", T1)
    assert entry(again, "other")["fieldsV1"] == e["fieldsV1"]
    assert "time" not in entry(again, "other")      # the object did not change: no time stamp
    assert [x["manager"] for x in entries(again)] == ["other", "kubectl"]     # so it sorts first
    assert entry(again, "kubectl") == e


def test_conflict_with_update_manager_message_and_force() -> None:
    created = do_apply(None, pvc(), "kubectl", T0)
    patched = copy.deepcopy(created)
    patched["spec"]["resources"]["requests"]["storage"] = "2Gi"
    do_update(created, patched, "kubectl-patch", T1)
    assert entry(patched, "kubectl-patch")["fieldsV1"] == {"f:spec": {"f:resources": {"f:requests": {"f:storage": {}}}}}
    assert entry(patched, "kubectl")["fieldsV1"] == {"f:spec": {"f:accessModes": {}}}

    with pytest.raises(StatusError) as err:
        do_apply(patched, pvc("3Gi"), "kubectl", T2)
    e = err.value
    assert (e.code, e.reason) == (409, "Conflict")
    assert e.message == ('Apply failed with 1 conflict: conflict with "kubectl-patch" using v1: '
                         '.spec.resources.requests.storage')
    assert [c.to_dict() for c in e.causes] == [{"reason": "FieldManagerConflict",
                                                "message": 'conflict with "kubectl-patch" using v1',
                                                "field": ".spec.resources.requests.storage"}]
    assert e.to_status()["details"] == {"causes": [c.to_dict() for c in e.causes]}

    # Applying the value the other manager set is no conflict: both own it then.
    same = do_apply(patched, pvc("2Gi"), "kubectl", T2)
    assert "f:resources" in entry(same, "kubectl")["fieldsV1"]["f:spec"]
    assert entry(same, "kubectl-patch")["fieldsV1"] == {"f:spec": {"f:resources": {"f:requests": {"f:storage": {}}}}}

    forced = do_apply(patched, pvc("3Gi"), "kubectl", T2, force=True)
    assert forced["spec"]["resources"]["requests"]["storage"] == "3Gi"
    assert [x["manager"] for x in entries(forced)] == ["kubectl"]      # kubectl-patch lost its only field
    assert entry(forced, "kubectl")["time"] == T2


def test_conflict_message_for_several_managers_and_subresources() -> None:
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web", "namespace": "default"},
           "spec": {"replicas": 1, "serviceName": "web", "selector": {"matchLabels": {"app": "web"}}}}
    live = do_apply(None, sts, "bar", T0, gvk=STS, api_version="apps/v1")
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 3
    do_update(live, scaled, "foo", T1, gvk=STS, api_version="apps/v1", subresource="scale")
    labelled = copy.deepcopy(scaled)
    labelled["metadata"]["labels"] = {"app": "web"}
    do_update(scaled, labelled, "foo", T2, gvk=STS, api_version="apps/v1")

    mine = copy.deepcopy(sts)
    mine["metadata"]["labels"] = {"app": "other"}
    mine["spec"]["replicas"] = 5
    mine["spec"]["serviceName"] = "other"
    with pytest.raises(StatusError) as err:
        do_apply(labelled, mine, "baz", T3, gvk=STS, api_version="apps/v1")
    # Grouped by manager identifier ({"manager":..,"operation":..,"apiVersion":..[,"subresource":..]}),
    # sorted as strings, as Kubernetes does.
    assert err.value.message == (
        'Apply failed with 3 conflicts: conflicts with "bar":\n'
        "- .spec.serviceName\n"
        'conflicts with "foo" with subresource "scale" using apps/v1:\n'
        "- .spec.replicas\n"
        'conflicts with "foo" using apps/v1:\n'
        "- .metadata.labels.app")
    assert [(c.message, c.field) for c in err.value.causes] == [
        ('conflict with "bar"', ".spec.serviceName"),
        ('conflict with "foo" with subresource "scale" using apps/v1', ".spec.replicas"),
        ('conflict with "foo" using apps/v1', ".metadata.labels.app")]


def test_identity_fields_never_conflict() -> None:
    live = do_apply(None, pvc(), "a", T0)
    other = pvc()
    other["metadata"]["resourceVersion"] = "7"
    out = do_apply(live, other, "b", T1)
    assert "f:metadata" not in entry(out, "b")["fieldsV1"]


@pytest.mark.parametrize(("second_manager", "kept"), [
    (None, False),          # only this applier owned them: removed
    ("shared", True),       # another applier also applies them: kept
])
def test_fields_dropped_from_applied_config(second_manager: str | None, kept: bool) -> None:
    # TestApplyUnsetExclusivelyOwnedFields / TestApplyUnsetSharedFields, on a StatefulSet.
    full = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web", "labels": {"app": "nginx"}},
            "spec": {"replicas": 3, "serviceName": "web", "selector": {"matchLabels": {"app": "nginx"}},
                     "template": {"metadata": {"labels": {"app": "nginx"}},
                                  "spec": {"hostname": "test-hostname",
                                           "containers": [{"name": "nginx", "image": "nginx:latest"}]}}}}
    live = do_apply(None, full, "apply_test", T0, gvk=STS, api_version="apps/v1")
    if second_manager:
        live = do_apply(live, full, second_manager, T1, gvk=STS, api_version="apps/v1")
    smaller = copy.deepcopy(full)
    del smaller["spec"]["replicas"]
    del smaller["spec"]["template"]["spec"]["hostname"]
    out = do_apply(live, smaller, "apply_test", T2, gvk=STS, api_version="apps/v1")
    assert ("replicas" in out["spec"]) is kept
    assert ("hostname" in out["spec"]["template"]["spec"]) is kept
    assert out["spec"]["template"]["spec"]["containers"] == [{"name": "nginx", "image": "nginx:latest"}]


def test_dropped_field_set_by_an_updater_is_kept() -> None:
    live = do_apply(None, pvc(app="db"), "kubectl", T0)
    edited = copy.deepcopy(live)
    edited["metadata"]["labels"]["app"] = "db2"
    do_update(live, edited, "kubectl-edit", T1)
    out = do_apply(edited, pvc(), "kubectl", T2)       # app label no longer applied; kubectl-edit owns it
    assert out["metadata"]["labels"] == {"app": "db2"}


def test_remove_container_port_dropped_from_config() -> None:
    # TestApplyRemoveContainerPort
    def sts(ports: bool) -> dict[str, Any]:
        c: dict[str, Any] = {"name": "nginx", "image": "nginx:latest"}
        if ports:
            c["ports"] = [{"containerPort": 80, "protocol": "TCP"}]
        return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
                "spec": {"serviceName": "web", "template": {"spec": {"containers": [c]}}}}
    live = do_apply(None, sts(True), "apply_test", T0, gvk=STS, api_version="apps/v1")
    out = do_apply(live, sts(False), "apply_test", T1, gvk=STS, api_version="apps/v1")
    assert out["spec"]["template"]["spec"]["containers"] == [{"name": "nginx", "image": "nginx:latest"}]


def test_list_map_merge_of_containers_by_two_appliers() -> None:
    def sts(*containers: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
                "spec": {"serviceName": "web", "template": {"spec": {"containers": list(containers)}}}}
    live = do_apply(None, sts({"name": "nginx", "image": "nginx:1",
                               "ports": [{"containerPort": 80}], "env": [{"name": "A", "value": "1"}]}),
                    "team-a", T0, gvk=STS, api_version="apps/v1")
    out = do_apply(live, sts({"name": "sidecar", "image": "envoy"},
                             {"name": "nginx", "env": [{"name": "B", "value": "2"}]}),
                   "team-b", T1, gvk=STS, api_version="apps/v1")
    containers = out["spec"]["template"]["spec"]["containers"]
    # The applied order first (sidecar before the shared nginx), fields and env items merged by key.
    assert [c["name"] for c in containers] == ["sidecar", "nginx"]
    assert containers[1] == {"name": "nginx", "image": "nginx:1", "ports": [{"containerPort": 80}],
                             "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
    b = entry(out, "team-b")["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert ordered(b) == ordered({
        'k:{"name":"nginx"}': {".": {}, "f:env": {'k:{"name":"B"}': {".": {}, "f:name": {}, "f:value": {}}},
                               "f:name": {}},
        'k:{"name":"sidecar"}': {".": {}, "f:image": {}, "f:name": {}}})
    # team-a drops nginx entirely: only what team-a alone owned goes; team-b's env B keeps the item.
    out2 = do_apply(out, sts({"name": "sidecar", "image": "envoy"}), "team-a", T2, gvk=STS, api_version="apps/v1",
                    force=True)
    assert [c["name"] for c in out2["spec"]["template"]["spec"]["containers"]] == ["sidecar", "nginx"]
    assert out2["spec"]["template"]["spec"]["containers"][1]["env"] == [{"name": "B", "value": "2"}]


def test_apply_managed_fields_like_kubernetes_integration_test() -> None:
    # TestApplyManagedFields: apply, then two merge patches by "updater".
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "test-cm", "namespace": "default", "labels": {"test-label": "test"}},
          "data": {"key": "value"}}
    live = do_apply(None, cm, "apply_test", T0, gvk=CM)
    p1 = copy.deepcopy(live)
    p1["data"]["new-key"] = "value"
    do_update(live, p1, "updater", T1, gvk=CM)
    p2 = copy.deepcopy(p1)
    p2["data"]["key"] = "new value"
    do_update(p1, p2, "updater", T2, gvk=CM)
    assert entries(p2) == [
        {"manager": "apply_test", "operation": "Apply", "apiVersion": "v1", "time": T0, "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:labels": {"f:test-label": {}}}}},
        {"manager": "updater", "operation": "Update", "apiVersion": "v1", "time": T2, "fieldsType": "FieldsV1",
         "fieldsV1": {"f:data": {"f:key": {}, "f:new-key": {}}}},
    ]


def test_apply_of_identity_only_leaves_no_managed_fields() -> None:
    # TestApplyRemovesEmptyManagedFields
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "test-cm", "namespace": "default"}}
    live = do_apply(None, cm, "apply_test", T0, gvk=CM)
    out = do_apply(live, cm, "apply_test", T1, gvk=CM)
    assert "managedFields" not in live["metadata"] and "managedFields" not in out["metadata"]


def test_noop_apply_keeps_managed_fields_identical() -> None:
    live = do_apply(None, pvc(app="db"), "kubectl", T0)
    out = do_apply(live, pvc(app="db"), "kubectl", T3)
    assert json.dumps(out["metadata"]["managedFields"]) == json.dumps(live["metadata"]["managedFields"])
    assert out == live


@pytest.mark.parametrize(("applied", "message"), [
    ({**pvc(), "metadata": {"name": "data-pvc", "managedFields": [{"manager": "x"}]}},
     "metadata.managedFields must be nil"),
    ({**pvc(), "apiVersion": "v2"}, "invalid object type: /v2, Kind=PersistentVolumeClaim"),
    ({**pvc(), "kind": "Pod"}, "invalid object type: /v1, Kind=Pod"),
    ({k: v for k, v in pvc().items() if k != "apiVersion"}, "invalid object type: /, Kind=PersistentVolumeClaim"),
])
def test_apply_rejects_bad_configurations(applied: dict[str, Any], message: str) -> None:
    with pytest.raises(StatusError) as err:
        do_apply(None, applied, "kubectl", T0)
    assert (err.value.code, err.value.reason, err.value.message) == (400, "BadRequest", message)


def test_apply_accepts_null_managed_fields_and_resource_version() -> None:
    applied = pvc()
    applied["metadata"]["managedFields"] = None
    applied["metadata"]["resourceVersion"] = "12"
    out = do_apply(None, applied, "kubectl", T0)
    assert out["metadata"]["resourceVersion"] == "12"
    assert "f:metadata" not in entry(out, "kubectl")["fieldsV1"]


def test_apply_duplicate_list_keys_fails_with_kubernetes_message_as_a_bad_request() -> None:
    """Kubernetes' message; Kubernetes' code is 500 (kubernetes#118476), orlop's 400 (as kubernetes#139255)."""
    applied = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "rag", "namespace": "ns"},
               "spec": {"template": {"spec": {"containers": [
                   {"name": "c", "env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}]}}}}
    with pytest.raises(StatusError) as err:
        do_apply(None, applied, "helm", T0, gvk=STS, api_version="apps/v1")
    assert err.value.code == 400 and err.value.reason == "BadRequest"
    assert err.value.message == ('failed to create typed patch object (ns/rag; apps/v1, Kind=StatefulSet): '
                                 '.spec.template.spec.containers[name="c"].env: duplicate entries for key '
                                 '[name="A"]')


def test_status_in_applied_config_is_not_owned_nor_written() -> None:
    live = do_apply(None, pvc(), "kubectl", T0)
    live["status"] = {"phase": "Bound"}
    applied = pvc()
    applied["status"] = {"phase": "Lost"}
    out = do_apply(live, applied, "kubectl", T1)
    assert out["status"] == {"phase": "Bound"}
    assert "f:status" not in entry(out, "kubectl")["fieldsV1"]


def test_apply_to_untracked_object_records_before_first_apply() -> None:
    live = copy.deepcopy(pvc(app="db"))     # an object with no managedFields at all
    live["metadata"]["uid"] = "u1"
    out = do_apply(live, pvc("2Gi"), "kubectl", T1, force=True)
    before = entry(out, "before-first-apply")
    assert (before["operation"], before["time"]) == ("Update", T1)
    # The forced storage moved to kubectl; the requests map itself (owned through ".") stays.
    assert before["fieldsV1"] == {"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                                  "f:spec": {"f:accessModes": {}, "f:resources": {"f:requests": {}}}}
    with pytest.raises(StatusError) as err:
        do_apply(live, pvc("2Gi"), "kubectl", T1)
    assert err.value.causes[0].message == 'conflict with "before-first-apply" using v1'


def _created_by_client_side_apply() -> dict[str, Any]:
    manifest = pvc(tier="db")
    obj = copy.deepcopy(manifest)
    obj["metadata"]["annotations"] = {mf.LAST_APPLIED: mf.go_json(manifest) + "\n"}
    return do_update(None, obj, "kubectl-client-side-apply", T0)


def test_kubectl_server_side_apply_takes_over_client_side_apply_fields() -> None:
    live = _created_by_client_side_apply()
    out = do_apply(live, pvc("2Gi", tier="db"), "kubectl", T1)      # no conflict: values were last-applied
    assert out["spec"]["resources"]["requests"]["storage"] == "2Gi"
    csa = entry(out, "kubectl-client-side-apply")["fieldsV1"]
    assert csa["f:spec"]["f:resources"] == {"f:requests": {}}          # storage moved to kubectl
    assert "f:storage" in entry(out, "kubectl")["fieldsV1"]["f:spec"]["f:resources"]["f:requests"]
    assert json.loads(out["metadata"]["annotations"][mf.LAST_APPLIED]) == pvc("2Gi", tier="db")
    assert out["metadata"]["annotations"][mf.LAST_APPLIED].endswith("}\n")


def test_other_managers_get_no_client_side_apply_exemption() -> None:
    live = _created_by_client_side_apply()
    with pytest.raises(StatusError) as err:
        do_apply(live, pvc("2Gi", tier="db"), "helm", T1)
    assert err.value.message == ('Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using v1: '
                                 '.spec.resources.requests.storage')


def test_kubectl_still_conflicts_on_fields_changed_since_last_apply() -> None:
    live = _created_by_client_side_apply()
    edited = copy.deepcopy(live)
    edited["metadata"]["labels"]["tier"] = "cache"           # changed by the same CSA manager, not re-applied
    do_update(live, edited, "kubectl-client-side-apply", T1)
    with pytest.raises(StatusError) as err:
        do_apply(edited, pvc("2Gi", tier="web"), "kubectl", T2)
    assert [c.field for c in err.value.causes] == [".metadata.labels.tier"]


# --- updates --------------------------------------------------------------------------------------------

def test_noop_update_keeps_managed_fields_byte_identical() -> None:
    live = do_apply(None, pvc(app="db"), "kubectl", T0)
    patched = copy.deepcopy(live)
    do_update(live, patched, "kubectl-patch", T3)
    assert json.dumps(patched) == json.dumps(live)


def test_update_by_same_manager_merges_and_bumps_time() -> None:
    created = do_update(None, pvc(), "kubectl-create", T0)
    assert entry(created, "kubectl-create")["time"] == T0
    edited = copy.deepcopy(created)
    edited["metadata"]["labels"] = {"a": "b"}
    do_update(created, edited, "kubectl-create", T1)
    e = entry(edited, "kubectl-create")
    assert e["time"] == T1
    assert e["fieldsV1"]["f:metadata"] == {"f:labels": {".": {}, "f:a": {}}}
    assert "f:spec" in e["fieldsV1"]


def test_removed_field_is_taken_from_its_owner() -> None:
    live = do_apply(None, pvc(app="db", tier="x"), "kubectl", T0)
    edited = copy.deepcopy(live)
    del edited["metadata"]["labels"]["tier"]
    do_update(live, edited, "kubectl-edit", T1)
    assert entry(edited, "kubectl")["fieldsV1"]["f:metadata"] == {"f:labels": {"f:app": {}}}
    assert [e["manager"] for e in entries(edited)] == ["kubectl"]      # a pure removal owns nothing


def test_status_write_on_main_resource_is_not_owned() -> None:
    live = do_update(None, pvc(), "kubectl-create", T0)
    edited = copy.deepcopy(live)
    edited["status"] = {"phase": "Bound"}
    do_update(live, edited, "someone", T1)
    assert [e["manager"] for e in entries(edited)] == ["kubectl-create"]


def test_status_subresource_ignores_client_managed_fields() -> None:
    # TestApplyDoesNotChangeManagedFieldsViaSubresources
    live = do_apply(None, pvc(), "apply_test", T0)
    live["status"] = {"phase": "Pending"}
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = [{"manager": "testing", "operation": "Update", "apiVersion": "v1",
                                         "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]
    new["status"] = {"phase": "Bound", "conditions": [{"type": "Resizing", "status": "True"}]}
    do_update(live, new, "pv-controller", T1, subresource="status")
    assert entries(new)[0] == entries(live)[0]
    st = entry(new, "pv-controller")
    assert st["subresource"] == "status" and list(st)[-1] == "subresource"
    assert st["fieldsV1"] == {"f:status": {"f:conditions": {".": {}, 'k:{"type":"Resizing"}': {
        ".": {}, "f:status": {}, "f:type": {}}}, "f:phase": {}}}


def test_client_managed_fields_are_taken_as_given() -> None:
    # kubectl's csaupgrade: a JSON patch replaces the CSA Update entry with an Apply entry for "kubectl".
    live = _created_by_client_side_apply()
    upgraded = copy.deepcopy(entries(live)[0])
    upgraded.update(manager="kubectl", operation="Apply")
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = [upgraded]
    new["metadata"]["resourceVersion"] = "1025"
    do_update(live, new, "kubectl", T1)
    assert entries(new) == [upgraded]
    # ... and the next apply by kubectl prunes what it no longer applies.
    out = do_apply(new, pvc(), "kubectl", T2)
    assert "labels" not in out["metadata"]


@pytest.mark.parametrize("reset", [[], [{}], [{"manager": "", "time": None}]])
def test_empty_managed_fields_reset_tracking(reset: list[Any]) -> None:
    # TestClearManagedFieldsWithUpdate / ...WithUpdateEmptyList
    live = do_apply(None, pvc(tier="x"), "apply_test", T0)
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = reset
    do_update(live, new, "kubectl-replace", T1)
    assert "managedFields" not in new["metadata"]
    later = copy.deepcopy(new)
    later["metadata"]["labels"]["tier"] = "v1"
    do_update(new, later, "kubectl-patch", T2)
    assert "managedFields" not in later["metadata"]     # not tracked again until an apply


@pytest.mark.parametrize("bad", [
    [{"manager": "apply_test", "operation": "Apply", "apiVersion": "v1", "time": T0, "fieldsType": "",
      "fieldsV1": {}}],                                  # TestErrorsDontFailUpdate
    "garbage", [7], [{"operation": "Patch", "apiVersion": "v1", "fieldsType": "FieldsV1"}],
    [{"operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"bad": {}}}],
])
def test_undecodable_client_managed_fields_fall_back_to_stored(bad: Any) -> None:
    live = do_apply(None, pvc(), "apply_test", T0)
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = bad
    do_update(live, new, "apply_test", T1)
    assert entries(new) == entries(live)


def test_create_with_client_managed_fields_keeps_unrelated_entries() -> None:
    new = pvc()
    new["metadata"]["managedFields"] = [{"manager": "sidecar", "operation": "Apply", "apiVersion": "v1",
                                         "fieldsType": "FieldsV1",
                                         "fieldsV1": {"f:metadata": {"f:labels": {"f:sidecar": {}}}}}]
    do_update(None, new, "kubectl-create", T0)
    assert [e["manager"] for e in entries(new)] == ["sidecar", "kubectl-create"]


def test_update_managers_are_capped_at_ten() -> None:
    obj = do_update(None, pvc(), "creator", "2024-05-01T09:00:00Z")
    for i in range(11):
        new = copy.deepcopy(obj)
        new["metadata"].setdefault("labels", {})[f"l{i}"] = "x"
        do_update(obj, new, f"m{i:02d}", f"2024-05-01T10:{i:02d}:00Z")
        obj = new
    managers = [e["manager"] for e in entries(obj)]
    assert len(managers) == 10 and "ancient-changes" in managers and "creator" not in managers
    ancient = entry(obj, "ancient-changes")
    assert "f:spec" in ancient["fieldsV1"] and ancient["fieldsV1"]["f:metadata"]["f:labels"].keys() >= {"f:l0", "f:l1"}


def test_scale_subresource_entry() -> None:
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
           "spec": {"replicas": 1, "serviceName": "web"}}
    live = do_update(None, sts, "kubectl-create", T0, gvk=STS, api_version="apps/v1")
    new = copy.deepcopy(live)
    new["spec"]["replicas"] = 3
    do_update(live, new, "kubectl", T1, gvk=STS, api_version="apps/v1", subresource="scale")
    assert entry(new, "kubectl") == {"manager": "kubectl", "operation": "Update", "apiVersion": "apps/v1", "time": T1,
                                     "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}},
                                     "subresource": "scale"}
    assert entry(new, "kubectl-create")["fieldsV1"] == {"f:spec": {"f:serviceName": {}}}


# --- a hand-written schema table ------------------------------------------------------------------------

@dataclass(frozen=True)
class LM:
    patch_strategy: str | None = None
    merge_key: str | None = None
    list_type: str | None = None
    map_keys: tuple[str, ...] = ()


class TableSchema:
    """A schema source from tables, with no list-type information (only patch strategies)."""

    kinds = {(): "object", ("apiVersion",): "scalar", ("kind",): "scalar", ("metadata",): "object",
             ("metadata", "name"): "scalar", ("metadata", "labels"): "map", ("spec",): "object",
             ("spec", "items"): "list", ("spec", "items", "name"): "scalar", ("spec", "items", "size"): "scalar",
             ("spec", "tags"): "list", ("spec", "args"): "list", ("spec", "ref"): "object",
             ("spec", "ref", "name"): "scalar"}
    lists = {("spec", "items"): LM("merge", "name"), ("spec", "tags"): LM("merge"), ("spec", "args"): LM()}

    def field_kind(self, gvk: Any, path: tuple[str, ...]) -> str | None:
        if path[:2] == ("metadata", "labels") and len(path) == 3:
            return "scalar"
        return self.kinds.get(tuple(path))

    def list_meta(self, gvk: Any, path: tuple[str, ...]) -> LM | None:
        return self.lists.get(tuple(path))

    def map_type(self, gvk: Any, path: tuple[str, ...]) -> str | None:
        return "atomic" if tuple(path) == ("spec", "ref") else None


WIDGET = ("example.com", "v1", "Widget")


def widget(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec}


def test_table_schema_list_types_without_list_type_info() -> None:
    obj = widget(items=[{"name": "a", "size": 1}], tags=["x"], args=["--v"], ref={"name": "r"}, extra={"k": 1})
    assert ordered(mf.fields_v1(obj, WIDGET, schema=TableSchema())) == ordered({"f:spec": {
        "f:args": {}, "f:extra": {".": {}, "f:k": {}},
        "f:items": {'k:{"name":"a"}': {".": {}, "f:name": {}, "f:size": {}}},
        "f:ref": {}, "f:tags": {'v:"x"': {}}}})


def test_table_schema_apply_merges_sets_and_replaces_atomic_lists() -> None:
    schema = TableSchema()
    live = mf.apply(None, widget(items=[{"name": "a", "size": 1}], tags=["x"], args=["--a"]), manager="one",
                    force=False, gvk=WIDGET, api_version="example.com/v1", now=T0, schema=schema)
    out = mf.apply(live, widget(items=[{"name": "b"}], tags=["y"]), manager="two", force=False, gvk=WIDGET,
                   api_version="example.com/v1", now=T1, schema=schema)
    assert out["spec"]["items"] == [{"name": "a", "size": 1}, {"name": "b"}]
    assert out["spec"]["tags"] == ["x", "y"]
    with pytest.raises(StatusError) as err:
        mf.apply(out, widget(args=["--b"]), manager="two", force=False, gvk=WIDGET, api_version="example.com/v1",
                 now=T2, schema=schema)
    assert err.value.causes[0].field == ".spec.args"
    # "one" stops applying tag x: the set item goes, y (owned by two) stays.
    out2 = mf.apply(out, widget(items=[{"name": "a", "size": 1}], args=["--a"]), manager="one", force=False,
                    gvk=WIDGET, api_version="example.com/v1", now=T2, schema=schema)
    assert out2["spec"]["tags"] == ["y"]


@pytest.mark.parametrize(("live", "applied", "merged"), [
    (["a", "b"], ["b", "a"], ["b", "a"]),
    (["a", "b", "c"], ["c", "a"], ["b", "c", "a"]),     # live-only items keep their place
    (["a"], ["b", "a"], ["b", "a"]),
    (["a", "b"], ["c"], ["a", "b", "c"]),
])
def test_list_map_merge_order(live: list[str], applied: list[str], merged: list[str]) -> None:
    schema = TableSchema()
    current = mf.apply(None, widget(items=[{"name": n} for n in live]), manager="one", force=False, gvk=WIDGET,
                       api_version="example.com/v1", now=T0, schema=schema)
    out = mf.apply(current, widget(items=[{"name": n} for n in applied]), manager="two", force=False, gvk=WIDGET,
                   api_version="example.com/v1", now=T1, schema=schema)
    assert [i["name"] for i in out["spec"]["items"]] == merged


def test_inputs_are_not_mutated() -> None:
    live = do_apply(None, pvc(app="db"), "kubectl", T0)
    applied = pvc("2Gi", app="web")
    snapshot = (json.dumps(live), json.dumps(applied))
    out = do_apply(live, applied, "kubectl", T1)
    out["metadata"]["labels"]["app"] = "changed"
    new = copy.deepcopy(out)
    do_update(live, new, "kubectl-edit", T2)
    assert (json.dumps(live), json.dumps(applied)) == snapshot


def test_unknown_kind_is_deduced() -> None:
    crd = ("snapshot.storage.k8s.io", "v1", "VolumeSnapshot")
    obj = {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
           "metadata": {"name": "s", "labels": {"a": "b"}}, "spec": {"source": {"pvc": "data"}, "list": [1, 2]}}
    created = do_update(None, obj, "kubectl-create", T0, gvk=crd, api_version="snapshot.storage.k8s.io/v1",
                        reset_fields=())
    assert ordered(entry(created, "kubectl-create")["fieldsV1"]) == ordered({
        "f:metadata": {"f:labels": {".": {}, "f:a": {}}},
        "f:spec": {".": {}, "f:list": {}, "f:source": {".": {}, "f:pvc": {}}}})


# --- validation -----------------------------------------------------------------------------------------

GOOD_ENTRY = {"manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "time": T0, "fieldsType": "FieldsV1",
              "fieldsV1": {"f:spec": {"f:replicas": {}}}}


@pytest.mark.parametrize(("value", "expected"), [
    (None, []),
    ([GOOD_ENTRY], []),
    ("x", [("FieldValueTypeInvalid", "metadata.managedFields", 'Invalid value: "x": must be a list')]),
    ([3], [("FieldValueTypeInvalid", "metadata.managedFields[0]", "Invalid value: 3: must be an object")]),
    ([{**GOOD_ENTRY, "operation": "Patch"}],
     [("FieldValueInvalid", "metadata.managedFields[0].operation",
       'Invalid value: "Patch": must be `Apply` or `Update`')]),
    ([{**GOOD_ENTRY, "fieldsType": "FieldsV2"}],
     [("FieldValueInvalid", "metadata.managedFields[0].fieldsType", 'Invalid value: "FieldsV2": must be `FieldsV1`')]),
    ([GOOD_ENTRY, {**GOOD_ENTRY, "manager": "m" * 129}],
     [("FieldValueTooLong", "metadata.managedFields[1].manager", "Too long: may not be more than 128 bytes")]),
    ([{**GOOD_ENTRY, "manager": "a\x07"}],
     [("FieldValueInvalid", "metadata.managedFields[0].manager",
       'Invalid value: "a\\a": invalid character U+0007 (at position 1)')]),
    ([{**GOOD_ENTRY, "manager": 5}],
     [("FieldValueTypeInvalid", "metadata.managedFields[0].manager", "Invalid value: 5: must be a string")]),
    ([{**GOOD_ENTRY, "fieldsV1": {"f:spec": 1}}],
     [("FieldValueInvalid", "metadata.managedFields[0].fieldsV1",
       "Invalid value: {\"f:spec\":1}: expected an object for 'f:spec'")]),
])
def test_validate_managed_fields(value: Any, expected: list[tuple[str, str, str]]) -> None:
    assert [(c.reason, c.field, c.message) for c in mf.validate_managed_fields(value)] == expected


def test_path_string_forms() -> None:
    path = (("f", "spec"), ("f", "ports"), ("k", (("port", "80"), ("protocol", '"TCP"'))), ("f", "name"))
    assert mf.path_string(path) == '.spec.ports[port=80,protocol="TCP"].name'
    assert mf.path_string((("f", "metadata"), ("f", "finalizers"), ("v", '"a/b"'))) == \
        '.metadata.finalizers[="a/b"]'
    assert mf.path_string((("f", "x"), ("i", 2))) == ".x[2]"


# --- the write path's shortcuts give exactly what the plain computation gives ------------------------------

def _reference_record_update(old: dict[str, Any] | None, new: dict[str, Any], *, manager: str, gvk: Any,
                             api_version: str, now: str, subresource: str = "") -> None:
    """record_update computed the plain way: whole null-free copies of old and new compared (resourceVersion
    included), every FieldsV1 decoded and encoded afresh, the no-op test on full copies."""
    types = mf._Types(mf._default_schema(), gvk)
    ignored = mf._paths({"": (("status",),), "status": (("spec",),)}.get(subresource, ()))
    old_entries = (old or {}).get("metadata", {}).get("managedFields")
    new_entries = new["metadata"].get("managedFields")

    def decode(entries: Any) -> mf.Managers:
        out: mf.Managers = {}
        for e in entries or []:
            fields = mf.decode_fields_v1(e.get("fieldsV1") or {})
            out[mf._key(e.get("manager", ""), e["operation"], e["apiVersion"], e.get("subresource", ""))] = \
                mf._Entry(fields, e["apiVersion"], e["operation"] == "Apply", e.get("time"))
        return out

    managers = decode(old_entries) if subresource else (decode(new_entries) or decode(old_entries))
    live = mf._without_managed_fields(old) if old is not None else mf._zero_object(types.gvk)
    result = mf._record_update(types, live, mf._without_managed_fields(new), managers, manager, api_version,
                               subresource, now, ignored)
    entries_out = []
    for key, e in result.items():
        doc: dict[str, Any] = {"manager": key.manager, "operation": "Apply" if e.applied else "Update",
                               "apiVersion": e.api_version}
        if e.time:
            doc["time"] = e.time
        doc.update(fieldsType="FieldsV1", fieldsV1=mf.encode_fields_v1(e.fields))
        if key.subresource:
            doc["subresource"] = key.subresource
        entries_out.append(doc)
    entries_out.sort(key=lambda e: (e["operation"], mf._seconds(e.get("time")), e["manager"], e["apiVersion"],
                                    e.get("subresource", "")))
    if entries_out:
        new["metadata"]["managedFields"] = entries_out
    else:
        new["metadata"].pop("managedFields", None)
    mf._keep_if_only_timestamps(old, new)


def _bound_pv_pair() -> tuple[dict[str, Any], dict[str, Any]]:
    pv: dict[str, Any] = {"apiVersion": "v1", "kind": "PersistentVolume",
                          "metadata": {"name": "pv-1", "uid": "u-1", "creationTimestamp": T0},
                          "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                                   "hostPath": {"path": "/tmp/x", "type": ""}, "storageClassName": "manual"},
                          "status": {"phase": "Available"}}
    do_update(None, pv, "kubectl-create", T0, gvk=PV)
    bound = copy.deepcopy(pv)
    bound["metadata"]["resourceVersion"] = "41"
    bound["metadata"]["annotations"] = {"pv.kubernetes.io/bound-by-controller": "yes"}
    bound["spec"]["claimRef"] = {"kind": "PersistentVolumeClaim", "namespace": "default", "name": "c",
                                 "uid": "u-2", "apiVersion": "v1", "resourceVersion": "40"}
    bound["status"] = {"phase": "Bound", "lastPhaseTransitionTime": T1}
    return pv, bound


def _owning_resource_version(pv: dict[str, Any], bound: dict[str, Any]) -> None:
    # A client-sent entry that claims metadata.resourceVersion (nothing stops it): the change of the
    # resourceVersion is a change of a field that entry owns.
    bound["metadata"]["managedFields"] = copy.deepcopy(pv["metadata"]["managedFields"]) + [
        {"manager": "odd", "operation": "Update", "apiVersion": "v1", "time": T0, "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:resourceVersion": {}, "f:labels": {"f:x": {}}}}}]


def _with_nulls(pv: dict[str, Any], bound: dict[str, Any]) -> None:
    bound["metadata"]["labels"] = {"x": None, "y": "null"}
    bound["spec"]["mountOptions"] = None


def _stored_resource_versions(pv: dict[str, Any], bound: dict[str, Any]) -> None:
    pv["metadata"]["resourceVersion"] = "40"


def _only_time_changes(pv: dict[str, Any], bound: dict[str, Any]) -> None:
    bound.clear()
    bound.update(copy.deepcopy(pv))


def _client_retimes_entries(pv: dict[str, Any], bound: dict[str, Any]) -> None:
    # Nothing changes but the resourceVersion the client sends and the times of the entries it sends back.
    _only_time_changes(pv, bound)
    bound["metadata"]["resourceVersion"] = "41"
    for e in bound["metadata"]["managedFields"]:
        e["time"] = T3


@pytest.mark.parametrize("subresource", ["", "status"])
@pytest.mark.parametrize("tweak", [None, _owning_resource_version, _with_nulls, _stored_resource_versions,
                                   _only_time_changes, _client_retimes_entries])
def test_record_update_is_the_plain_computation(subresource: str, tweak: Any) -> None:
    pv, bound = _bound_pv_pair()
    if tweak is not None:
        tweak(pv, bound)
    fast, slow = copy.deepcopy(bound), copy.deepcopy(bound)
    mf.record_update(copy.deepcopy(pv), fast, manager="persistentvolume-controller", gvk=PV, api_version="v1",
                     now=T2, subresource=subresource)
    _reference_record_update(copy.deepcopy(pv), slow, manager="persistentvolume-controller", gvk=PV,
                             api_version="v1", now=T2, subresource=subresource)
    assert ordered(fast) == ordered(slow)


POD_OBJ = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default", "labels": {"a": None}},
           "spec": {"containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 80}]}]}}


@pytest.mark.parametrize(("obj", "gvk"), [(pvc(app="db"), PVC), (POD_OBJ, ("", "v1", "Pod"))])
def test_record_update_of_a_create_is_the_plain_computation(obj: dict[str, Any], gvk: Any) -> None:
    fast, slow = copy.deepcopy(obj), copy.deepcopy(obj)
    mf.record_update(None, fast, manager="kubectl-create", gvk=gvk, api_version="v1", now=T0)
    _reference_record_update(None, slow, manager="kubectl-create", gvk=gvk, api_version="v1", now=T0)
    assert ordered(fast) == ordered(slow) and entries(fast)


def test_fields_v1_caches_round_trip_and_hand_out_copies() -> None:
    pv, bound = _bound_pv_pair()
    mf.record_update(pv, bound, manager="persistentvolume-controller", gvk=PV, api_version="v1", now=T2)
    for e in entries(bound):
        doc = e["fieldsV1"]
        paths = mf.decode_fields_v1(doc)
        assert mf._decode_fields_cached(doc) == paths
        assert mf.decode_fields_v1(mf.encode_fields_v1(paths)) == paths
        first = mf._encode_fields_cached(paths)
        assert ordered(first) == ordered(doc) == ordered(mf.encode_fields_v1(paths))
        first.clear()                                    # a caller's edit does not reach the cache
        assert ordered(mf._encode_fields_cached(paths)) == ordered(doc)
    with pytest.raises(mf.FieldsV1Error):               # errors are raised every time, never remembered
        mf._decode_fields_cached({"bad": {}})
    with pytest.raises(mf.FieldsV1Error):
        mf._decode_fields_cached({"bad": {}})


def test_manager_name_checks_are_remembered_per_name() -> None:
    bad = [{"manager": "a\u0007b", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1"}]
    for _ in range(2):
        causes = mf.validate_managed_fields(bad)
        assert [(c.field, c.message) for c in causes] == [
            ("metadata.managedFields[0].manager", 'Invalid value: "a\\ab": invalid character U+0007 (at position 1)')]
    assert mf.validate_managed_fields([{"manager": "ok é", "operation": "Update"}]) == []


# --- one write standing for a main-resource write and a /status write ---------------------------------

_T0, _T1 = "2025-01-01T00:00:00Z", "2025-01-01T00:01:00Z"
_PV_GVK, _PVC_GVK = ("", "v1", "PersistentVolume"), ("", "v1", "PersistentVolumeClaim")


def _created(obj: dict[str, Any], gvk: tuple[str, str, str], manager: str = "kubectl") -> dict[str, Any]:
    out = copy.deepcopy(obj)
    mf.record_update(None, out, manager=manager, gvk=gvk, api_version="v1", now=_T0)
    out["status"] = {"phase": "Pending"}
    return out


_PV0 = _created({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv1", "uid": "u"},
                 "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                          "hostPath": {"path": "/tmp/x"}, "persistentVolumeReclaimPolicy": "Retain"}}, _PV_GVK)
_PVC0 = _created({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                  "metadata": {"name": "c1", "namespace": "d", "uid": "u2", "annotations": {"note": "x"}},
                  "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}},
                 _PVC_GVK)


def _edit(base: dict[str, Any], fn: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    new = copy.deepcopy(base)
    new["metadata"]["resourceVersion"] = "7"
    fn(new)
    return base, new


def _bind_pv(o: dict[str, Any]) -> None:
    o["spec"]["claimRef"] = {"kind": "PersistentVolumeClaim", "namespace": "d", "name": "c1", "uid": "u2"}
    o["metadata"].setdefault("annotations", {})["pv.kubernetes.io/bound-by-controller"] = "yes"
    o["status"] = {"phase": "Bound", "lastPhaseTransitionTime": _T1}


def _bind_pvc(o: dict[str, Any]) -> None:
    o["spec"]["volumeName"] = "pv1"
    o["metadata"]["annotations"].update({"pv.kubernetes.io/bind-completed": "yes"})
    o["status"] = {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}


def _applied_pvc() -> dict[str, Any]:
    live = copy.deepcopy(_PVC0)
    live = mf.apply(live, {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                           "metadata": {"name": "c1", "namespace": "d", "labels": {"app": "db"}}},
                    manager="kubectl-client-side-apply", force=False, gvk=_PVC_GVK, api_version="v1", now=_T0)
    return live


def _set_status_only(o: dict[str, Any]) -> None:
    o["status"] = {"phase": "Lost"}


def _spec_only(o: dict[str, Any]) -> None:
    o["spec"]["persistentVolumeReclaimPolicy"] = "Delete"


def _nothing(o: dict[str, Any]) -> None:
    return None


def _drop_status(o: dict[str, Any]) -> None:
    o.pop("status", None)


def _with_nulls(o: dict[str, Any]) -> None:
    o["spec"]["volumeMode"] = None
    o["status"] = {"phase": "Bound", "message": None}


def _reset_tracking(o: dict[str, Any]) -> None:
    o["metadata"]["managedFields"] = []
    o["status"] = {"phase": "Bound"}


def _client_times_only(o: dict[str, Any]) -> None:
    for e in o["metadata"]["managedFields"]:
        e["time"] = "2030-01-01T00:00:00Z"


def _untracked(base: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    out["metadata"].pop("managedFields", None)
    return out


BOTH_CASES = [
    ("pv bind", _PV_GVK, *_edit(_PV0, _bind_pv)),
    ("pvc bind", _PVC_GVK, *_edit(_PVC0, _bind_pvc)),
    ("pvc bind over an applied claim", _PVC_GVK, *_edit(_applied_pvc(), _bind_pvc)),
    ("status only", _PV_GVK, *_edit(_PV0, _set_status_only)),
    ("spec only", _PV_GVK, *_edit(_PV0, _spec_only)),
    ("no change", _PV_GVK, *_edit(_PV0, _nothing)),
    ("status dropped", _PV_GVK, *_edit(_PV0, _drop_status)),
    ("nulls", _PV_GVK, *_edit(_PV0, _with_nulls)),
    ("managedFields reset", _PV_GVK, *_edit(_PV0, _reset_tracking)),
    ("client-side timestamps only", _PV_GVK, *_edit(_PV0, _client_times_only)),
    ("not tracked", _PV_GVK, *_edit(_untracked(_PV0), _bind_pv)),
]


@pytest.mark.parametrize(("name", "gvk", "old", "new"), BOTH_CASES, ids=[c[0] for c in BOTH_CASES])
def test_record_update_and_status_is_the_two_writes_it_stands_for(name: str, gvk: Any, old: dict[str, Any],
                                                                   new: dict[str, Any]) -> None:
    def split(new: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        obj = copy.deepcopy(new)
        main = dict(obj)
        if "status" in old:
            main["status"] = copy.deepcopy(old["status"])
        else:
            main.pop("status", None)
        main["metadata"] = dict(obj["metadata"])
        return main, obj

    # The two writes, one after the other (what the registry did before).
    main2, obj2 = split(new)
    mf.record_update(old, main2, manager="pv-controller", gvk=gvk, api_version="v1", now=_T1)
    obj2["metadata"]["managedFields"] = main2["metadata"].get("managedFields")
    mf.record_update(main2, obj2, manager="pv-controller", gvk=gvk, api_version="v1", now=_T1, subresource="status")
    # The same in one pass.
    main1, obj1 = split(new)
    mf.record_update_and_status(old, main1, obj1, manager="pv-controller", gvk=gvk, api_version="v1", now=_T1)
    assert main1["metadata"].get("managedFields") == main2["metadata"].get("managedFields")
    assert obj1["metadata"].get("managedFields", "absent") == obj2["metadata"].get("managedFields", "absent")
    assert obj1 == obj2


# --- fast paths against the general computation -----------------------------------------------------------

def _ref_cmp(types: Any, lhs: Any, rhs: Any, fpath: tuple[str, ...], kind: str, path: tuple[Any, ...],
             cmp: Any) -> None:
    """smd Compare as this module first wrote it (two-sided at every node, on null-stripped values): the
    oracle for the one-sided, null-aware walks (_add_all, _diff, _created_fields)."""
    if lhs is rhs:
        return
    lshape = mf._shape(types, kind, fpath, lhs) if lhs is not mf._ABSENT else None
    rshape = mf._shape(types, kind, fpath, rhs) if rhs is not mf._ABSENT else None
    shape = rshape or lshape
    if (lshape and rshape and lshape != rshape) or shape == "leaf" or (mf._is_empty(lhs) and mf._is_empty(rhs)):
        if lhs is mf._ABSENT:
            cmp.added.add(path)
        elif rhs is mf._ABSENT:
            cmp.removed.add(path)
        elif not mf._equal(lhs, rhs):
            cmp.modified.add(path)
        return
    if shape == "assoc":
        info = types.list_info(fpath)
        item_kind = types.item_kind(info)
        lorder, litems, _ = mf._index_items(types, fpath, info, lhs, path)
        rorder, ritems, _ = mf._index_items(types, fpath, info, rhs, path)
        for pe in rorder:
            _ref_cmp(types, litems.get(pe, mf._ABSENT), ritems[pe], fpath, item_kind, path + (pe,), cmp)
        for pe in lorder:
            if pe not in ritems:
                _ref_cmp(types, litems[pe], mf._ABSENT, fpath, item_kind, path + (pe,), cmp)
    else:
        lmap = lhs if isinstance(lhs, dict) else {}
        rmap = rhs if isinstance(rhs, dict) else {}
        for key in list(lmap) + [k for k in rmap if k not in lmap]:
            cfpath = fpath + (key,)
            _ref_cmp(types, lmap.get(key, mf._ABSENT), rmap.get(key, mf._ABSENT), cfpath,
                     mf._child_kind(types, kind, cfpath), path + (("f", key),), cmp)
    if path:
        if lhs is mf._ABSENT:
            cmp.added.add(path)
        elif rhs is mf._ABSENT:
            cmp.removed.add(path)


def _ref_compare(gvk: Any, lhs: Any, rhs: Any) -> tuple[set[Any], set[Any], set[Any]]:
    cmp = mf._Comparison(set(), set(), set())
    _ref_cmp(mf._Types(mf._default_schema(), gvk), lhs, rhs, (), "struct", (), cmp)
    return cmp.added, cmp.modified, cmp.removed


POD = ("", "v1", "Pod")
WIDGET = ("example.com", "v1", "Widget")
_POD_FULL = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
             "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                      "env": [{"name": "X", "value": "1"}]}],
                      "tolerations": [{"key": "k", "operator": "Exists"}], "volumes": [{"name": "v", "emptyDir": {}}]},
             "status": {"phase": "Running"}}


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of ``base`` with top-level fields replaced (None values kept: they are the point)."""
    out = copy.deepcopy(base)
    out.update(copy.deepcopy(changes))
    return out


_PV_BASE = {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": "pv", "uid": "u", "finalizers": ["kubernetes.io/pv-protection"]},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/x"}},
            "status": {"phase": "Pending"}}

# (name, gvk, object): created as they are (nulls, odd types and all).
CREATE_CASES: list[tuple[str, Any, dict[str, Any]]] = [
    ("pv", PV, _PV_BASE),
    ("pvc with finalizers and annotations", PVC,
     {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
      "metadata": {"name": "c", "namespace": "d", "uid": "u", "creationTimestamp": T0,
                   "finalizers": ["kubernetes.io/pvc-protection"], "annotations": {"a": "b"}},
      "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
               "storageClassName": "bench", "volumeMode": "Filesystem", "volumeName": "pv-1"}}),
    ("pod: list maps and sets over a null containers list", POD, _POD_FULL),
    ("pod without containers", POD, _with(_POD_FULL, spec={"containers": []})),
    ("pod with containers not a list", POD, _with(_POD_FULL, spec={"containers": {"a": 1}})),
    ("statefulset", STS, {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"},
                          "spec": {"replicas": 1, "template": {"metadata": {"labels": {"a": "b"}},
                                                               "spec": {"containers": [{"name": "c"}]}},
                                   "volumeClaimTemplates": [{"metadata": {"name": "d"}, "spec": {}}]}}),
    ("service ports by port and protocol", SVC, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                                                 "spec": {"ports": [{"port": 80}, {"port": 80, "protocol": "UDP"}]}}),
    ("custom kind: everything deduced", WIDGET, {"apiVersion": "example.com/v1", "kind": "Widget",
                                                  "metadata": {"name": "w", "labels": {"a": None}},
                                                  "spec": {"x": {"y": [1, None]}, "z": None, "e": {}}}),
    ("custom kind with managedFields left in", WIDGET,
     {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "managedFields": [{}]},
      "spec": {"a": 1}}),
    ("nulls everywhere", PV, _with(_PV_BASE, metadata={"name": "pv", "labels": None, "annotations": {"a": None}},
                                   spec={"capacity": None, "hostPath": {"path": None}, "accessModes": [None]},
                                   status=None)),
    ("list-map key values with nulls inside", SVC,
     {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
      "spec": {"ports": [{"port": {"a": None}, "protocol": "TCP"}, {"port": {}, "protocol": "TCP"}]}}),
    ("duplicates and keyless items", POD,
     _with(_POD_FULL, spec={"containers": [{"name": "c"}, {"name": "c", "image": "x"}, {"image": "y"}, None, 3],
                            "tolerations": [{"key": "k"}, {"key": "k"}]})),
    ("wrong types", PV, _with(_PV_BASE, metadata="x", spec=["a"], status="Bound")),
    ("status equal to the zero status", PV, _with(_PV_BASE, status={})),
    ("empty object", PV, {}),
    ("spec only nulls", PVC, {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"},
                              "spec": {"resources": {"requests": None}, "volumeName": None}}),
    ("bools, ints and floats", PV, _with(_PV_BASE, spec={"capacity": {"storage": 1.0}, "x": True, "y": [1, 1.5]})),
]


@pytest.mark.parametrize("subresource", ["", "status"])
@pytest.mark.parametrize(("name", "gvk", "obj"), CREATE_CASES, ids=[c[0] for c in CREATE_CASES])
def test_create_fast_path_is_the_general_path(name: str, gvk: Any, obj: dict[str, Any], subresource: str) -> None:
    fast, slow = copy.deepcopy(obj), copy.deepcopy(obj)
    mf.record_update(None, fast, manager="m", gvk=gvk, api_version="v1", now=T0, subresource=subresource)
    types = mf._types_for(None, gvk)
    mf._record_update_general(types, None, slow, {}, "m", "v1", subresource, T0,
                              mf._reset_set(None, subresource))
    assert ordered(fast) == ordered(slow)
    # And the fields are the oracle's: added and modified against the zero object, nulls stripped.
    added, modified, _ = _ref_compare(gvk, mf._compare_view(mf._zero_object(gvk)), mf._without_managed_fields(obj))
    want = mf._recursive_difference(added | modified, mf._reset_set(None, subresource)) - mf._STRIP_META
    meta = fast.get("metadata")
    got = meta.get("managedFields", []) if isinstance(meta, dict) else []
    assert (mf.decode_fields_v1(got[0]["fieldsV1"]) if got else set()) == want


@pytest.mark.parametrize("reset_fields", [[], [("spec",)], [("metadata", "labels")], [("spec", "x"), ("status",)]])
def test_create_fast_path_with_reset_fields(reset_fields: list[tuple[str, ...]]) -> None:
    for _name, gvk, obj in CREATE_CASES:
        fast, slow = copy.deepcopy(obj), copy.deepcopy(obj)
        mf.record_update(None, fast, manager="m", gvk=gvk, api_version="v1", now=T0, reset_fields=reset_fields)
        mf._record_update_general(mf._types_for(None, gvk), None, slow, {}, "m", "v1", "", T0,
                                  mf._reset_set(reset_fields, ""))
        assert ordered(fast) == ordered(slow), _name


def _nulls_stripped(obj: dict[str, Any]) -> dict[str, Any]:
    return mf._without_managed_fields(obj)


# (name, gvk, old, new): raw objects, compared as they are.
COMPARE_CASES: list[tuple[str, Any, dict[str, Any], dict[str, Any]]] = [
    ("pv bind", PV, _PV_BASE,
     _with(_PV_BASE, spec={**_PV_BASE["spec"], "claimRef": {"name": "c", "uid": "u"}}, status={"phase": "Bound"})),
    ("null added and removed", PV, _with(_PV_BASE, status={"phase": None, "message": "m"}),
     _with(_PV_BASE, status={"phase": "Bound", "message": None})),
    ("null next to absent", PV, _with(_PV_BASE, metadata={"name": "pv", "labels": None}),
     _with(_PV_BASE, metadata={"name": "pv"})),
    ("empty map vs map of nulls", PV, _with(_PV_BASE, spec={"capacity": {}}),
     _with(_PV_BASE, spec={"capacity": {"a": None}})),
    ("atomic leaves with nulls inside", PV, _with(_PV_BASE, spec={"accessModes": [None, "a"], "x": {"a": None}}),
     _with(_PV_BASE, spec={"accessModes": [None, "a"], "x": {}})),
    ("list maps: items changed, dropped, added, duplicated", POD, _POD_FULL,
     _with(_POD_FULL, spec={"containers": [{"name": "c", "image": "j", "ports": [{"containerPort": 81}]},
                                           {"name": "d"}, {"name": "d"}, {"image": None}],
                            "tolerations": [{"key": "k", "operator": None}]})),
    ("sets", PV, _with(_PV_BASE, metadata={"name": "pv", "finalizers": ["a", "b"]}),
     _with(_PV_BASE, metadata={"name": "pv", "finalizers": ["b", "c", "c", None]})),
    ("atomic list of maps with nulls", PV, _with(_PV_BASE, spec={"accessModes": [{"a": None}], "hostPath": [None]}),
     _with(_PV_BASE, spec={"accessModes": [{}], "hostPath": [None]})),
    ("atomic list of maps, changed", PV, _with(_PV_BASE, spec={"accessModes": [{"a": None, "b": 1}]}),
     _with(_PV_BASE, spec={"accessModes": [{"b": 2}]})),
    ("types change", PV, _PV_BASE, _with(_PV_BASE, spec=["x"], status="s", metadata={"name": 1})),
    ("dict to empty dict and back", PV, _with(_PV_BASE, spec={}), _PV_BASE),
    ("bool vs int", PV, _with(_PV_BASE, spec={"x": 1, "y": [1], "z": {"a": 1.0}}),
     _with(_PV_BASE, spec={"x": True, "y": [True], "z": {"a": 1}})),
    ("custom kind", WIDGET, {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"a": {"b": [1]}, "c": None}},
     {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"a": {"b": [2], "d": None}, "c": {"x": 1}}}),
    ("everything removed", PVC, {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                 "spec": {"resources": {"requests": {"storage": "1Gi"}}, "accessModes": ["a"]}}, {}),
    ("top-level nulls", PV, _with(_PV_BASE, status=None, spec=None), _with(_PV_BASE, metadata=None)),
]


@pytest.mark.parametrize(("name", "gvk", "old", "new"), COMPARE_CASES, ids=[c[0] for c in COMPARE_CASES])
def test_compare_of_raw_objects_is_the_compare_of_stripped_ones(name: str, gvk: Any, old: dict[str, Any],
                                                                new: dict[str, Any]) -> None:
    types = mf._types_for(None, gvk)
    for lhs, rhs in ((old, new), (new, old)):
        want = _ref_compare(gvk, _nulls_stripped(lhs), _nulls_stripped(rhs))
        got = mf._compare(types, mf._raw_view(lhs), mf._raw_view(rhs))
        assert (got.added, got.modified, got.removed) == want
        outside, inside = mf._compare_split(types, mf._raw_view(lhs), mf._raw_view(rhs), None, "status")
        in_status = [{p for p in paths if p[:1] == (("f", "status"),)} for paths in want]
        assert (inside.added, inside.modified, inside.removed) == tuple(in_status)
        assert (outside.added, outside.modified, outside.removed) == tuple(
            paths - status for paths, status in zip(want, in_status, strict=True))


@pytest.mark.parametrize(("name", "gvk", "old", "new"), COMPARE_CASES, ids=[c[0] for c in COMPARE_CASES])
def test_update_of_raw_objects_records_what_stripped_ones_would(name: str, gvk: Any, old: dict[str, Any],
                                                                 new: dict[str, Any]) -> None:
    """The general update path reads objects as they came: nulls change nothing in managedFields."""
    tracked = copy.deepcopy(old)
    if not isinstance(tracked.get("metadata"), dict):
        tracked["metadata"] = {}
    tracked["metadata"]["managedFields"] = [
        {"manager": "other", "operation": "Update", "apiVersion": "v1", "time": T0, "fieldsType": "FieldsV1",
         "fieldsV1": mf.fields_v1(_nulls_stripped(old), gvk)}]
    for rv in (None, "7"):
        raw, stripped = copy.deepcopy(new), _nulls_stripped(new)
        if rv is not None and isinstance(raw.get("metadata"), dict):
            raw["metadata"]["resourceVersion"] = stripped["metadata"]["resourceVersion"] = rv
        stripped_old = _nulls_stripped(tracked)
        stripped_old["metadata"]["managedFields"] = copy.deepcopy(tracked["metadata"]["managedFields"])
        mf.record_update(copy.deepcopy(tracked), raw, manager="m", gvk=gvk, api_version="v1", now=T1)
        mf.record_update(stripped_old, stripped, manager="m", gvk=gvk, api_version="v1", now=T1)
        assert ordered(entries(raw) if isinstance(raw.get("metadata"), dict) else None) == \
            ordered(entries(stripped) if isinstance(stripped.get("metadata"), dict) else None)


def _managers_table() -> list[mf.Managers]:
    fs1 = frozenset({(("f", "spec"), ("f", "a")), (("f", "spec"),)})
    fs2 = frozenset({(("f", "status"), ("f", "phase"))})
    k = mf._key
    return [
        {k("m", "Update", "v1", ""): mf._Entry(fs1, "v1", False, T1)},
        {k("b", "Update", "v1", ""): mf._Entry(fs1, "v1", False, T1),
         k("a", "Update", "v1", "status"): mf._Entry(fs2, "v1", False, T1),
         k("a", "Apply", "v1", ""): mf._Entry(fs2, "v1", True, T2),
         k("a", "Update", "v2", ""): mf._Entry(fs1, "v2", False, T0),
         k("", "Update", "v1", ""): mf._Entry(fs2, "v1", False, None),
         k("c", "Update", "v1", ""): mf._Entry(fs2, "v1", False, ""),
         k("a", "Update", "v1", ""): mf._Entry(fs2, "v1", False, "2024-05-01T10:01:00+00:00")},
    ]


@pytest.mark.parametrize("managers", _managers_table())
def test_encoded_managers_are_the_entries_sorted_as_kubernetes_sorts_them(managers: mf.Managers) -> None:
    want = [mf._encode_entry(key, e) for key, e in managers.items()]
    want.sort(key=lambda e: (e["operation"], mf._seconds(e.get("time")), e.get("manager", ""),
                             e.get("apiVersion", ""), e.get("subresource", "")))
    for order in (list(managers.items()), list(reversed(managers.items()))):
        made: dict[Any, Any] = {}
        first = mf._encode_managers(dict(order), made=made)
        again = mf._encode_managers(dict(order))
        assert ordered(first) == ordered(again) == ordered(want)
        assert all(a is not b for a, b in zip(first, again, strict=True))    # new dicts every time
        # Reused dicts stand for their entries, others are made afresh; the result is the same.
        one = next(iter(managers.items()))
        reused = mf._encode_managers(dict(order), reuse={one: made[one]})
        assert ordered(reused) == ordered(want)
        assert [e is made[one] for e in reused].count(True) == 1


def _bad_api_version(o: dict[str, Any]) -> None:
    o["metadata"]["managedFields"][0]["apiVersion"] = ""
    o["status"] = {"phase": "Bound"}


def _client_sent_entries(o: dict[str, Any]) -> None:
    o["metadata"]["managedFields"] = [
        {"manager": f"m{i}", "operation": "Update", "apiVersion": "v1", "time": f"2024-01-01T00:0{i}:00Z",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {f"f:l{i}": {}}}}} for i in range(10)]
    o["metadata"]["labels"] = {f"l{i}": "x" for i in range(10)}
    o["status"] = {"phase": "Bound"}


def _untimed_client_entry(o: dict[str, Any]) -> None:
    o["metadata"]["managedFields"][0]["time"] = ""
    o["spec"]["persistentVolumeReclaimPolicy"] = "Delete"
    o["status"] = {"phase": "Bound"}


def _null_noise(o: dict[str, Any]) -> None:
    o["metadata"]["labels"] = None
    o["spec"]["x"] = {"a": None}
    o["status"] = {"phase": "Pending", "reason": None}


def _rv_null(o: dict[str, Any]) -> None:
    o["metadata"]["resourceVersion"] = None


def _status_only_nulls(o: dict[str, Any]) -> None:
    o["status"] = {"phase": "Pending", "message": None}


MORE_BOTH_CASES = [
    ("client entry with an empty apiVersion", _PV_GVK, *_edit(_PV0, _bad_api_version)),
    ("client-sent entries, past the cap", _PV_GVK, *_edit(_PV0, _client_sent_entries)),
    ("client entry with an empty time", _PV_GVK, *_edit(_PV0, _untimed_client_entry)),
    ("only nulls added", _PV_GVK, *_edit(_PV0, _null_noise)),
    ("null resourceVersion", _PV_GVK, *_edit(_PV0, _rv_null)),
    ("status: only a null added", _PV_GVK, *_edit(_PV0, _status_only_nulls)),
    ("pvc bind, not tracked", _PVC_GVK, *_edit(_untracked(_PVC0), _bind_pvc)),
]


@pytest.mark.parametrize(("name", "gvk", "old", "new"), MORE_BOTH_CASES, ids=[c[0] for c in MORE_BOTH_CASES])
def test_record_update_and_status_is_the_two_writes_for_odd_inputs(name: str, gvk: Any, old: dict[str, Any],
                                                                   new: dict[str, Any]) -> None:
    test_record_update_and_status_is_the_two_writes_it_stands_for(name, gvk, old, new)


def test_record_update_and_status_keeps_no_op_writes_byte_identical() -> None:
    old, new = _edit(_PV0, _status_only_nulls)
    main = dict(new)
    main["status"] = copy.deepcopy(old["status"])
    main["metadata"] = dict(new["metadata"])
    mf.record_update_and_status(old, main, new, manager="kubectl", gvk=_PV_GVK, api_version="v1", now=_T1)
    assert ordered(new["metadata"]["managedFields"]) == ordered(old["metadata"]["managedFields"])
    assert new["metadata"]["managedFields"] is not old["metadata"]["managedFields"]


def test_record_update_and_status_without_api_version_is_the_two_writes() -> None:
    """An entry without apiVersion does not decode: the status write of the two finds no managers."""
    old, new = _edit(_PV0, _bind_pv)
    results = []
    for both in (False, True):
        obj = copy.deepcopy(new)
        main = dict(obj)
        main["status"] = copy.deepcopy(old["status"])
        main["metadata"] = dict(obj["metadata"])
        if both:
            mf.record_update_and_status(old, main, obj, manager="m", gvk=_PV_GVK, api_version="", now=_T1)
        else:
            mf.record_update(old, main, manager="m", gvk=_PV_GVK, api_version="", now=_T1)
            obj["metadata"]["managedFields"] = main["metadata"].get("managedFields")
            mf.record_update(main, obj, manager="m", gvk=_PV_GVK, api_version="", now=_T1, subresource="status")
        results.append((ordered(main), ordered(obj)))
    assert results[0] == results[1]
    assert "managedFields" not in json.loads(results[1][1])["metadata"]


def test_resource_versions_compare_null_stripped() -> None:
    """resourceVersion is compared on its own, as a null-stripped value like any other."""
    owner = {"manager": "rv-owner", "operation": "Update", "apiVersion": "v1", "time": T0, "fieldsType": "FieldsV1",
             "fieldsV1": {"f:metadata": {"f:resourceVersion": {}}, "f:spec": {"f:a": {}}}}
    for old_rv, new_rv, kept in (({"a": None}, {}, True), ({"a": None}, {"a": 1}, False), ("1", "1", True),
                                 (None, "1", False), ("1", None, False)):
        old = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "resourceVersion": old_rv,
                                                                      "managedFields": [owner]}, "spec": {"a": 1}}
        new = copy.deepcopy(old)
        new["metadata"]["resourceVersion"] = new_rv
        new["spec"]["a"] = 2
        mf.record_update(old, new, manager="m", gvk=CM, api_version="v1", now=T1)
        owned = [e for e in entries(new) if e["manager"] == "rv-owner"]
        fields = mf.decode_fields_v1(owned[0]["fieldsV1"]) if owned else frozenset()
        assert ((("f", "metadata"), ("f", "resourceVersion")) in fields) is kept, (old_rv, new_rv)


def test_record_update_and_status_shares_unchanged_entries_between_main_and_new() -> None:
    old, new = _edit(_PV0, _bind_pv)
    main = dict(new)
    main["status"] = copy.deepcopy(old["status"])
    main["metadata"] = dict(new["metadata"])
    mf.record_update_and_status(old, main, new, manager="pv-controller", gvk=_PV_GVK, api_version="v1", now=_T1)
    (main_entry,) = [e for e in entries(main) if e["manager"] == "pv-controller"]
    assert [e is main_entry for e in entries(new)].count(True) == 1
    assert ordered(entries(new)) == ordered(copy.deepcopy(entries(new)))


def test_decoded_managers_are_remembered_by_their_json_and_handed_out_as_copies() -> None:
    import datetime

    wire = copy.deepcopy(entries(_PV0))
    first = mf._decode_managers(wire)
    first.clear()                                        # a caller's edit does not reach the cache
    again = mf._decode_managers(copy.deepcopy(wire))
    assert again == mf._decode_entries(wire) and again
    bad = copy.deepcopy(wire) + [{"operation": "Nope"}]
    for _ in range(2):                                   # errors are raised every time
        with pytest.raises(mf._DecodeError):
            mf._decode_managers(bad)
    timed = copy.deepcopy(wire)
    timed[0]["time"] = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    mf._decode_managers([dict(timed[0], time="2025-01-01T00:00:00+00:00")])
    with pytest.raises(mf._DecodeError):                 # not taken for the string it would be written as
        mf._decode_managers(timed)


def test_schema_facts_per_field_path_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every label or annotation key is a field path of its own: the per-kind memo must not
    grow with them for the life of the server (and what it forgets is recomputed the same)."""
    monkeypatch.setattr(mf, "_TYPES_CACHE_MAX", 50)
    types = mf._types_for(None, ("", "v1", "ConfigMap"))
    for i in range(500):
        assert types.kind(("metadata", "labels", f"key-{i}")) == "scalar"
    assert len(types._kinds) <= 50
    assert types.kind(("metadata", "labels")) == "map" and types.kind(("data",)) == "map"
