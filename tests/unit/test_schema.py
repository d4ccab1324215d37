"""Tests for orlop.registry.schema: served OpenAPI documents and schema look-ups."""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml

from orlop.registry import schema
from orlop.registry.resources import RESOURCES
from orlop.registry.schema import (
    ListMeta,
    field_kind,
    list_meta,
    openapi_document,
    openapi_index,
    unknown_fields,
)

STS = ("apps", "v1", "StatefulSet")
POD = ("", "v1", "Pod")
PVC = ("", "v1", "PersistentVolumeClaim")
PV = ("", "v1", "PersistentVolume")

SERVED = ["api/v1", "apis/apps/v1", "apis/apps/v1beta1", "apis/apps/v1beta2", "apis/coordination.k8s.io/v1",
          "apis/orlop.io/v1alpha1", "apis/snapshot.storage.k8s.io/v1", "apis/storage.k8s.io/v1"]


# --- documents --------------------------------------------------------------------------------------------

def test_index_lists_every_served_group_version_with_its_hash() -> None:
    idx = openapi_index()
    assert sorted(idx["paths"]) == SERVED
    for gv, entry in idx["paths"].items():
        body = openapi_document(gv)
        assert body is not None
        digest = hashlib.sha512(body).hexdigest().upper()
        assert entry["serverRelativeURL"] == f"/openapi/v3/{gv}?hash={digest}"


def test_unknown_document_is_none() -> None:
    assert openapi_document("apis/batch/v1") is None
    assert openapi_document("../../etc/passwd") is None


@pytest.mark.parametrize("res", RESOURCES, ids=lambda r: f"{r.group_version}/{r.kind}")
def test_every_kind_has_a_patch_operation_kubectl_accepts(res) -> None:  # type: ignore[no-untyped-def]
    """kubectl sends fieldValidation=Strict only if a patch op has the GVK and the parameter."""
    gv = f"apis/{res.group}/{res.version}" if res.group else f"api/{res.version}"
    body = openapi_document(gv)
    assert body is not None
    doc = json.loads(body)
    want = {"group": res.group, "version": res.version, "kind": res.kind}
    found = False
    for item in doc["paths"].values():
        op = item.get("patch")
        if op and op.get("x-kubernetes-group-version-kind") == want:
            names = {(p["name"], p["in"]) for p in op.get("parameters", []) + item.get("parameters", [])}
            assert ("fieldValidation", "query") in names
            found = True
    assert found


def test_legacy_apps_versions_are_served_as_their_own_gvk() -> None:
    doc = json.loads(openapi_document("apis/apps/v1beta1") or b"{}")
    assert "/apis/apps/v1beta1/namespaces/{namespace}/statefulsets/{name}" in doc["paths"]
    assert not any(p.startswith("/apis/apps/v1/") for p in doc["paths"])
    sts = doc["components"]["schemas"]["io.k8s.api.apps.v1beta1.StatefulSet"]
    assert sts["x-kubernetes-group-version-kind"] == [{"group": "apps", "kind": "StatefulSet", "version": "v1beta1"}]


def test_documents_are_trimmed_to_served_kinds() -> None:
    doc = json.loads(openapi_document("apis/apps/v1") or b"{}")
    assert not any("deployments" in p for p in doc["paths"])
    core = json.loads(openapi_document("api/v1") or b"{}")
    assert "/api/v1/namespaces/{namespace}/pods/{name}/exec" in core["paths"]
    assert "/api/v1/namespaces/{namespace}/pods/{name}/log" in core["paths"]
    assert not any("replicationcontrollers" in p for p in core["paths"])


def test_documents_carry_fields_added_after_1_26() -> None:
    core = json.loads(openapi_document("api/v1") or b"{}")["components"]["schemas"]
    prefix = "io.k8s.api.core.v1."
    assert "volumeAttributesClassName" in core[prefix + "PersistentVolumeClaimSpec"]["properties"]
    status = core[prefix + "PersistentVolumeClaimStatus"]["properties"]
    assert {"currentVolumeAttributesClassName", "modifyVolumeStatus", "allocatedResourceStatuses"} <= set(status)
    assert "resizeStatus" not in status
    assert "lastPhaseTransitionTime" in core[prefix + "PersistentVolumeStatus"]["properties"]
    assert "volumeAttributesClassName" in core[prefix + "PersistentVolumeSpec"]["properties"]
    apps = json.loads(openapi_document("apis/apps/v1") or b"{}")["components"]["schemas"]
    spec = apps["io.k8s.api.apps.v1.StatefulSetSpec"]["properties"]
    assert {"ordinals", "persistentVolumeClaimRetentionPolicy"} <= set(spec)


# --- unknown fields ---------------------------------------------------------------------------------------

SEED_PV = """
kind: PersistentVolume
apiVersion: v1
metadata:
  name: task-pv-volume
  labels:
    type: local
spec:
  storageClassName: manual
  capacity:
    storage: 10Gi
  accessModes:
    - ReadWriteOnce
  hostPath:
    path: "/tmp/data"
"""

SEED_PVC = """
kind: PersistentVolumeClaim
apiVersion: v1
metadata:
  name: task-pv-claim
spec:
  storageClassName: manual
  accessModes:
    - ReadWriteOnce
  resources:
    requests:
      storage: 3Gi
"""

SEED_POD = """
kind: Pod
apiVersion: v1
metadata:
  name: task-pv-pod
spec:
  volumes:
    - name: task-pv-storage
      persistentVolumeClaim:
       claimName: task-pv-claim
  containers:
    - name: task-pv-container
      image: nginx
      ports:
        - containerPort: 80
          name: "http-server"
      volumeMounts:
      - mountPath: "/usr/share/nginx/html"
        name: task-pv-storage
"""

SEED_STS_V1BETA1 = """
apiVersion: apps/v1beta1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: "nginx"
  replicas: 2
  template:
    metadata:
      labels:
        app: nginx
      annotations:
        pod.alpha.kubernetes.io/initialized: "true"
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: nginx
        image: nginx
        ports:
        - containerPort: 80
          name: web
        env:
        - name: POD_NAMESPACE
          valueFrom:
            fieldRef:
              apiVersion: v1
              fieldPath: metadata.namespace
        resources:
          limits: {memory: 512Mi}
          requests: {cpu: 50m}
        volumeMounts:
        - name: www
          mountPath: /usr/share/nginx/html
  volumeClaimTemplates:
  - metadata:
      name: www
      annotations:
        volume.beta.kubernetes.io/storage-class: tenx-rbd
    spec:
      accessModes: [ "ReadWriteOnce" ]
      resources:
        requests:
          storage: 1Gi
"""

SEED_SECRET = """
apiVersion: v1
kind: Secret
metadata:
  name: ceph-secret
type: kubernetes.io/rbd
data:
  key: QVFBOW1VTlpGUjVlQ2hBQXFGbEgyS0M3c2Zqakx4QjNmUFJUd0E9PQ==
"""

SEED_SC = """
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: tenx-rbd
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/rbd
parameters:
  monitors: 192.168.1.1:6789
  adminSecretName: ceph-secret
reclaimPolicy: Retain
allowVolumeExpansion: true
mountOptions: [discard]
volumeBindingMode: Immediate
"""


@pytest.mark.parametrize("gvk,manifest", [
    (PV, SEED_PV), (PVC, SEED_PVC), (POD, SEED_POD), (("apps", "v1beta1", "StatefulSet"), SEED_STS_V1BETA1),
    (("", "v1", "Secret"), SEED_SECRET), (("storage.k8s.io", "v1", "StorageClass"), SEED_SC),
])
def test_seed_manifests_have_no_unknown_fields(gvk, manifest) -> None:  # type: ignore[no-untyped-def]
    assert unknown_fields(gvk, yaml.safe_load(manifest)) == []


def _with(manifest: str, path: list[str | int], key: str, value: object = 1) -> dict:  # type: ignore[type-arg]
    obj = yaml.safe_load(manifest)
    node = obj
    for p in path:
        node = node[p]
    node[key] = value
    return obj  # type: ignore[no-any-return]


@pytest.mark.parametrize("gvk,obj,expected", [
    (PVC, _with(SEED_PVC, ["spec"], "bogusField"), ["spec.bogusField"]),
    (PVC, _with(SEED_PVC, ["spec", "resources"], "claims", []), ["spec.resources.claims"]),   # 1.32 type
    (PVC, _with(SEED_PVC, ["metadata"], "bogus"), ["metadata.bogus"]),
    (PVC, _with(SEED_PVC, [], "extra"), ["extra"]),
    (PVC, _with(SEED_PVC, ["spec"], "volumeAttributesClassName", "gold"), []),
    (POD, _with(SEED_POD, ["spec", "containers", 0], "foo"), ["spec.containers[0].foo"]),
    (POD, _with(SEED_POD, ["spec", "containers", 0, "ports", 0], "hostPortz"), ["spec.containers[0].ports[0].hostPortz"]),
    (POD, _with(SEED_POD, ["spec", "volumes", 0, "persistentVolumeClaim"], "readonly", True),
     ["spec.volumes[0].persistentVolumeClaim.readonly"]),
    (POD, _with(SEED_POD, ["spec", "containers", 0], "restartPolicy", "Always"), []),   # 1.28+ sidecars
    (("apps", "v1", "StatefulSet"), _with(SEED_STS_V1BETA1, ["spec", "template", "spec", "containers", 0], "foo"),
     ["spec.template.spec.containers[0].foo"]),
    (("apps", "v1beta1", "StatefulSet"),
     _with(SEED_STS_V1BETA1, ["spec", "volumeClaimTemplates", 0, "spec"], "storage", "1Gi"),
     ["spec.volumeClaimTemplates[0].spec.storage"]),
    (("apps", "v1", "StatefulSet"), _with(SEED_STS_V1BETA1, ["spec"], "ordinals", {"start": 1}), []),
])
def test_unknown_fields_are_named_like_the_strict_decoder(gvk, obj, expected) -> None:  # type: ignore[no-untyped-def]
    assert unknown_fields(gvk, obj) == expected


def test_maps_and_free_form_fields_accept_any_key() -> None:
    obj = yaml.safe_load(SEED_PVC)
    obj["metadata"]["labels"] = {"any/key": "v"}
    obj["metadata"]["annotations"] = {"x": "y"}
    obj["metadata"]["managedFields"] = [{"manager": "m", "operation": "Apply", "fieldsType": "FieldsV1",
                                         "fieldsV1": {"f:spec": {"f:anything": {}}}}]
    obj["status"] = {"capacity": {"storage": "3Gi"}, "phase": "Bound"}
    assert unknown_fields(PVC, obj) == []


def test_unknown_kind_accepts_everything() -> None:
    assert unknown_fields(("example.com", "v1", "Widget"), {"spec": {"x": 1}}) == []


# --- list metadata and field kinds -------------------------------------------------------------------------

@pytest.mark.parametrize("gvk,path,expected", [
    (PVC, ("metadata", "finalizers"), ListMeta("merge", None, None, ())),
    (PVC, ("metadata", "ownerReferences"), ListMeta("merge", "uid", None, ())),
    (PVC, ("status", "conditions"), ListMeta("merge", "type", None, ())),
    (PVC, ("spec", "accessModes"), ListMeta(None, None, None, ())),        # replaced whole by SMP
    (POD, ("spec", "containers"), ListMeta("merge", "name", None, ())),
    (POD, ("spec", "containers", "env"), ListMeta("merge", "name", None, ())),
    (POD, ("spec", "containers", "volumeMounts"), ListMeta("merge", "mountPath", None, ())),
    (POD, ("spec", "containers", "ports"), ListMeta("merge", "containerPort", "map", ("containerPort", "protocol"))),
    (POD, ("spec", "volumes"), ListMeta("merge,retainKeys", "name", None, ())),
    (POD, ("status", "conditions"), ListMeta("merge", "type", None, ())),
    (POD, ("status", "hostIPs"), ListMeta("merge", "ip", "atomic", ())),
    (("", "v1", "Service"), ("spec", "ports"), ListMeta("merge", "port", "map", ("port", "protocol"))),
    (STS, ("spec", "template", "spec", "containers", "ports"),
     ListMeta("merge", "containerPort", "map", ("containerPort", "protocol"))),
    (STS, ("spec", "volumeClaimTemplates", "metadata", "finalizers"), ListMeta("merge", None, None, ())),
    (STS, ("spec", "template", "spec", "containers", "resizePolicy"), ListMeta(None, None, "atomic", ())),
])
def test_list_meta(gvk, path, expected) -> None:  # type: ignore[no-untyped-def]
    assert list_meta(gvk, path) == expected


@pytest.mark.parametrize("gvk,path", [
    (STS, ("spec", "replicas")), (STS, ("spec", "template")), (PVC, ("spec", "bogus")),
    (PVC, ("metadata", "labels")), (("x", "v1", "Nope"), ("spec",)),
])
def test_list_meta_is_none_for_non_lists(gvk, path) -> None:  # type: ignore[no-untyped-def]
    assert list_meta(gvk, path) is None


@pytest.mark.parametrize("gvk,path,kind", [
    (STS, (), "object"),
    (STS, ("spec",), "object"),
    (STS, ("spec", "replicas"), "scalar"),
    (STS, ("spec", "template", "metadata", "labels"), "map"),
    (STS, ("spec", "template", "metadata", "labels", "app"), "scalar"),
    (STS, ("spec", "template", "spec", "containers"), "list"),
    (STS, ("spec", "template", "spec", "containers", "name"), "scalar"),
    (STS, ("spec", "template", "spec", "containers", "resources", "limits"), "map"),
    (STS, ("spec", "template", "spec", "containers", "resources", "limits", "cpu"), "scalar"),
    (PV, ("spec", "capacity"), "map"),
    (PVC, ("metadata", "managedFields", "fieldsV1"), None),
    (PVC, ("spec", "nope"), None),
    (("x", "v1", "Nope"), (), None),
])
def test_field_kind(gvk, path, kind) -> None:  # type: ignore[no-untyped-def]
    assert field_kind(gvk, path) == kind


def test_has_schema() -> None:
    assert schema.has_schema(PVC)
    assert schema.has_schema(("apps", "v1beta2", "StatefulSet"))
    assert schema.has_schema(("snapshot.storage.k8s.io", "v1", "VolumeSnapshot"))     # from its CRD
    assert not schema.has_schema(("example.com", "v1", "Widget"))


def _reference_unknown_fields(gvk, obj):  # type: ignore[no-untyped-def]
    """The plain walk (every field visited, path built for each): what unknown_fields must equal."""
    root = schema._root(gvk)
    if root is None:
        return []
    res, top = root
    out: list[str] = []

    def field(parent, key, value, path):  # type: ignore[no-untyped-def]
        props = parent.get("properties")
        if props is not None:
            node = props.get(key)
            if node is None:
                out.append(path)
                return
        else:
            node = parent.get("additionalProperties")
            if not isinstance(node, dict):
                return
        walk(res.resolve(node), value, path)

    def walk(s, value, path):  # type: ignore[no-untyped-def]
        if value is None or schema._accepts_anything(s):
            return
        if isinstance(value, dict):
            if "properties" not in s and not isinstance(s.get("additionalProperties"), dict):
                return
            for k, v in value.items():
                field(s, k, v, f"{path}.{k}")
        elif isinstance(value, list) and isinstance(s.get("items"), dict):
            for i, v in enumerate(value):
                walk(res.resolve(s["items"]), v, f"{path}[{i}]")

    for key, value in obj.items():
        if key not in ("apiVersion", "kind"):
            field(top, key, value, key)
    return out


def _dict_paths(node, path=()):  # type: ignore[no-untyped-def]
    if isinstance(node, dict):
        yield path
        for k, v in node.items():
            yield from _dict_paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _dict_paths(v, path + (i,))


@pytest.mark.parametrize("gvk,manifest", [
    (PV, SEED_PV), (PVC, SEED_PVC), (POD, SEED_POD), (("apps", "v1", "StatefulSet"), SEED_STS_V1BETA1),
    (("storage.k8s.io", "v1", "StorageClass"), SEED_SC),
])
@pytest.mark.parametrize("value", ["x", 3, None, True, {"a": 1}, [1, {"b": 2}]], ids=repr)
def test_unknown_fields_skipping_scalars_finds_what_the_full_walk_finds(gvk, manifest, value) -> None:  # type: ignore[no-untyped-def]
    base = yaml.safe_load(manifest)
    for path in list(_dict_paths(base)):
        for key in ("bogusField", next(iter(_node(base, path)), "bogusField")):   # a new field, an existing one
            obj = yaml.safe_load(manifest)
            _node(obj, path)[key] = value
            assert unknown_fields(gvk, obj) == _reference_unknown_fields(gvk, obj)


def _node(obj, path):  # type: ignore[no-untyped-def]
    for p in path:
        obj = obj[p]
    return obj
