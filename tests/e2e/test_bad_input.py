"""Bad input against a real ``orlop up`` over HTTPS: always a Status, never a 500, never a write.

Why this exists: kubectl and the Python clients show users whatever ``metav1.Status`` the
server sends; a traceback, a 500 or a half-applied write on malformed input is a bug a
user will hit.  Every case here sends one bad request and checks three things: the HTTP
code, a Status body with the reason (and, where Kubernetes' wording is fixed, the message
or the field of the cause) that a real kube-apiserver 1.32 would send, and that nothing
stored changed (the list resourceVersion, which is the store's global revision, and the
sentinel objects read before and after).  A hypothesis fuzz test then throws random
JSON-shaped bodies and random bytes at the write endpoints of every storage kind.

The module runs a server of its own so that the global revision moves only when this
module writes.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import yaml
from conftest import Orlop, free_port
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.e2e

NS = "bad"
PVCS = f"/api/v1/namespaces/{NS}/persistentvolumeclaims"
PODS = f"/api/v1/namespaces/{NS}/pods"
SECRETS = f"/api/v1/namespaces/{NS}/secrets"
STSS = f"/apis/apps/v1/namespaces/{NS}/statefulsets"
PVS = "/api/v1/persistentvolumes"
SCS = "/apis/storage.k8s.io/v1/storageclasses"
SVCS = f"/api/v1/namespaces/{NS}/services"
NAMESPACES = "/api/v1/namespaces"
CLUSTER_SENTINEL = "bad-sentinel"

JSON = "application/json"
YAML = "application/yaml"
PATCH_JSON = "application/json-patch+json"
PATCH_MERGE = "application/merge-patch+json"
PATCH_SMP = "application/strategic-merge-patch+json"
PATCH_APPLY = "application/apply-patch+yaml"


# --------------------------------------------------------------------------- client
class Api:
    """Plain HTTPS requests with the bearer token (no Kubernetes client in between)."""

    def __init__(self, o: Orlop):
        self.orlop = o
        self.base = o.url
        self.s = requests.Session()
        self.s.trust_env = False    # REQUESTS_CA_BUNDLE in the environment would override verify=
        self.s.verify = os.path.join(o.data_dir, "pki", "ca.crt")
        self.s.headers["Authorization"] = f"Bearer {o.token()}"

    def request(self, method: str, path: str, body: Any = None, ctype: str | None = JSON,
                params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
                timeout: float = 30, **kw: Any) -> requests.Response:
        data = encode(body)
        h = dict(headers or {})
        if data is not None and ctype is not None:
            h["Content-Type"] = ctype
        return self.s.request(method, self.base + path, data=data, params=params, headers=h, timeout=timeout,
                              **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def ok(self, method: str, path: str, body: Any = None, ctype: str | None = JSON, **kw: Any) -> dict[str, Any]:
        r = self.request(method, path, body, ctype, **kw)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        out: dict[str, Any] = r.json()
        return out

    def revision(self) -> str:
        """The store's global revision: the resourceVersion of any list."""
        return str(self.ok("GET", NAMESPACES, params={"limit": "1"})["metadata"]["resourceVersion"])


def encode(body: Any) -> bytes | None:
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def assert_status(r: requests.Response, code: int, reason: str) -> dict[str, Any]:
    """A metav1.Status failure with this code and reason, as JSON, with no traceback in it."""
    assert r.status_code == code, f"expected {code} {reason}, got {r.status_code}: {r.text[:2000]}"
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    assert "Traceback" not in r.text
    body = r.json()
    assert isinstance(body, dict), body
    assert body.get("kind") == "Status" and body.get("apiVersion") == "v1", body
    assert body.get("status") == "Failure", body
    assert body.get("reason") == reason and body.get("code") == code, body
    assert isinstance(body.get("message"), str) and body["message"], body
    return body


def causes(status: dict[str, Any]) -> list[dict[str, Any]]:
    return list((status.get("details") or {}).get("causes") or [])


def settle(api: Api, quiet: float = 0.1, limit: float = 10.0) -> None:
    """Wait until no write happened for ``quiet`` seconds (controllers reacting to earlier tests)."""
    deadline = time.time() + limit
    last = api.revision()
    while time.time() < deadline:
        time.sleep(quiet)
        now = api.revision()
        if now == last:
            return
        last = now


SENTINELS = [f"{PVCS}/sentinel", f"{PODS}/sentinel", f"{SECRETS}/sentinel", f"{STSS}/sentinel",
             f"{PVS}/{CLUSTER_SENTINEL}", f"{SCS}/{CLUSTER_SENTINEL}"]


def snapshot(api: Api) -> dict[str, Any]:
    return {"revision": api.revision(), **{p: api.ok("GET", p) for p in SENTINELS}}


# Every collection a write could touch, for naming what moved the store's revision.
COLLECTIONS = ["/api/v1/persistentvolumeclaims", "/api/v1/pods", "/api/v1/secrets", "/api/v1/configmaps",
               "/api/v1/services", "/api/v1/endpoints", PVS, NAMESPACES, "/api/v1/nodes", SCS,
               "/apis/apps/v1/statefulsets", "/apis/apps/v1/controllerrevisions",
               "/apis/coordination.k8s.io/v1/leases"]


EVENTS = "/api/v1/events"


def changed_since(api: Api, revision: str) -> list[tuple[str, str, str]]:
    """(collection, namespace, name) of every stored object written after ``revision``."""
    return [(path, o["metadata"].get("namespace", ""), o["metadata"]["name"])
            for path in COLLECTIONS + [EVENTS] for o in api.ok("GET", path)["items"]
            if int(o["metadata"]["resourceVersion"]) > int(revision)]


@contextmanager
def unchanged(api: Api) -> Iterator[None]:
    """Nothing stored changes inside the block: same sentinel objects, and the store's global
    revision moved only by the controllers' Events (a Pending sentinel claim gets its
    ProvisioningFailed event again at every 15 s resync, as in Kubernetes, whenever that falls)."""
    settle(api)
    before = snapshot(api)
    yield
    after = snapshot(api)
    if after["revision"] != before["revision"]:
        moved = changed_since(api, before["revision"])
        assert moved and all(path == EVENTS for path, _, _ in moved), f"a rejected request changed the store: {moved}"
        after["revision"] = before["revision"]
    assert after == before


# --------------------------------------------------------------------------- objects
def pvc(name: str = "claim", **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "storageClassName": "bad-other",
                            "resources": {"requests": {"storage": "5Gi"}}}
    base.update(spec)
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": base}


def pv(name: str, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"capacity": {"storage": "1Mi"}, "accessModes": ["ReadWriteOnce"],
                            "storageClassName": "bad-none", "hostPath": {"path": f"/tmp/orlop-{name}"}}
    base.update(spec)
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name}, "spec": base}


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def secret(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": data or {"k": "dmFsdWU="}}


def statefulset(name: str) -> dict[str, Any]:
    # replicas 0: no controller has anything to do for it, so the store stays quiet.
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": 0, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


def service(name: str) -> dict[str, Any]:
    # NodePort: its allocated ports are kept by every update (the strategy runs before validation).
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": "NodePort", "selector": {"app": name}, "ports": [{"port": 80}]}}


def storageclass(name: str) -> dict[str, Any]:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
            "provisioner": "example.com/none", "parameters": {"tier": "gold"}}


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


# --------------------------------------------------------------------------- server
def start_server(tmp: str, *flags: str) -> Orlop:
    """``orlop up`` of this module's own; with flags, started like conftest's Orlop.start plus those flags."""
    o = Orlop(data_dir=os.path.join(tmp, "data"), port=free_port(), cache_dir=os.path.join(tmp, "kubecache"),
              log_path=os.path.join(tmp, "orlop.log"))
    if not flags:
        o.start()
        return o
    log = open(o.log_path, "ab")  # noqa: SIM115 - kept open for the child
    o.proc = subprocess.Popen(
        [sys.executable, "-m", "orlop.cli", "up", "--data-dir", o.data_dir, "--port", str(o.port), *flags],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        assert o.proc.poll() is None, open(o.log_path).read()
        if os.path.exists(o.kubeconfig):
            try:
                if Api(o).get("/readyz", timeout=2).status_code == 200:
                    return o
            except (requests.RequestException, KeyError, TypeError):
                pass
        time.sleep(0.1)
    o.stop()
    raise RuntimeError(f"orlop up did not become ready: {open(o.log_path).read()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orlop]:
    # No node in this server: a node agent renews its Lease every 10 s, and the "nothing changed" checks
    # compare the store's global revision.
    o = start_server(str(tmp_path_factory.mktemp("bad-input")), "--runtime", "none")
    yield o
    o.stop()


@pytest.fixture(scope="module")
def api(server: Orlop) -> Api:
    a = Api(server)
    a.ok("POST", NAMESPACES, namespace(NS))
    a.ok("POST", PVCS, pvc("sentinel"))
    a.ok("POST", PODS, pod("sentinel"))
    a.ok("POST", SECRETS, secret("sentinel"))
    a.ok("POST", STSS, statefulset("sentinel"))
    a.ok("POST", PVS, pv(CLUSTER_SENTINEL))
    a.ok("POST", SCS, storageclass(CLUSTER_SENTINEL))
    return a


# --------------------------------------------------------------------------- the table
@dataclass
class Case:
    id: str
    method: str
    path: str
    body: Any = None                                 # or a function of the Api giving it
    code: int = 400
    reason: str = "BadRequest"
    ctype: str | None = JSON
    params: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    message: str | None = None                       # the exact message Kubernetes sends
    contains: tuple[str, ...] = ()                   # parts of it, where the rest is decoder wording
    prefix: str | None = None
    cause_field: str | None = None                   # a details.causes entry for this field
    cause_reason: str | None = None
    codes: tuple[int, ...] = ()                      # any of these (404 NotFound / 405 MethodNotAllowed)


def _stale_put(api: Api) -> dict[str, Any]:
    obj = api.ok("GET", f"{PVCS}/sentinel")
    obj["metadata"]["resourceVersion"] = "1"        # older than the object's own
    obj["metadata"].setdefault("labels", {})["stale"] = "yes"
    return obj


def _precondition(uid: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": uid}}


def _forged_continue() -> str:
    return base64.urlsafe_b64encode(b'{"v":"meta.k8s.io/v1","rv":1,"start":"x"}').decode().rstrip("=")


UNRECOGNIZED_PVC = "the object provided is unrecognized (must be of type PersistentVolumeClaim)"
# What kube-apiserver answers when a JSON patch cannot be applied (no causes: the detail is not sent).
PATCH_REJECTED = "the server rejected our request due to an error in our request"
DNS1123 = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
           "and must start and end with an alphanumeric character")

CASES: list[Case] = [
    # ---- bodies that are not a decodable object
    Case("malformed-json", "POST", PVCS, b'{"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {',
         prefix=UNRECOGNIZED_PVC),
    Case("malformed-yaml", "POST", PVCS, b"apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: [name: x\n",
         ctype=YAML, prefix=UNRECOGNIZED_PVC),
    Case("yaml-tab-indent", "POST", PVCS, b"apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n\tname: x\n",
         ctype=YAML, prefix=UNRECOGNIZED_PVC),
    Case("json-array", "POST", PVCS, b'[{"apiVersion": "v1"}]', prefix=UNRECOGNIZED_PVC),
    Case("json-number", "POST", PVCS, b"42", prefix=UNRECOGNIZED_PVC),
    Case("json-string", "POST", PVCS, b'"PersistentVolumeClaim"', prefix=UNRECOGNIZED_PVC),
    Case("yaml-scalar", "POST", PVCS, b"just a string\n", ctype=YAML, prefix=UNRECOGNIZED_PVC),
    Case("put-json-array", "PUT", f"{PVCS}/sentinel", b"[]", prefix=UNRECOGNIZED_PVC),
    Case("empty-body", "POST", PVCS, b""),
    Case("metadata-not-object", "POST", PVCS, {**pvc(), "metadata": ["name", "x"]}),
    # Found by the fuzz: dropping the unknown field "" of metadata ("metadata.") dropped metadata itself (500).
    Case("metadata-empty-field-name", "POST", PVCS, {"metadata": {"": None}}, 422, "Invalid",
         cause_field="metadata.name"),
    Case("spec-not-object", "POST", PVCS, {**pvc(), "spec": "big"},
         contains=('PersistentVolumeClaim in version "v1" cannot be handled as a PersistentVolumeClaim',)),
    Case("name-not-string", "POST", PVCS, {**pvc(), "metadata": {"name": 42}},
         contains=('PersistentVolumeClaim in version "v1" cannot be handled as a PersistentVolumeClaim',)),
    Case("labels-not-strings", "POST", PVCS, {**pvc(), "metadata": {"name": "x", "labels": {"a": 1}}},
         contains=('PersistentVolumeClaim in version "v1" cannot be handled as a PersistentVolumeClaim',)),
    # ---- type meta and namespace that do not fit the URL
    Case("wrong-apiversion", "POST", PVCS, {**pvc(), "apiVersion": "apps/v1"}),
    Case("wrong-kind", "POST", PVCS, {**pvc(), "kind": "Pod"}),
    Case("sts-as-core", "POST", STSS, {**statefulset("x"), "apiVersion": "v1"}),
    Case("namespace-mismatch", "POST", PVCS, {**pvc(), "metadata": {"name": "x", "namespace": "default"}},
         message="the namespace of the provided object does not match the namespace sent on the request"),
    Case("name-mismatch-put", "PUT", f"{PVCS}/sentinel", {**pvc("other")},
         message="the name of the object (other) does not match the name on the URL (sentinel)"),
    # ---- names
    Case("name-underscore", "POST", PVCS, pvc("Foo_bar"), 422, "Invalid", cause_field="metadata.name",
         contains=('PersistentVolumeClaim "Foo_bar" is invalid: metadata.name: Invalid value: "Foo_bar": ',
                   DNS1123)),
    Case("name-300-chars", "POST", PVCS, pvc("a" * 300), 422, "Invalid", cause_field="metadata.name",
         contains=("must be no more than 253 characters",)),
    Case("name-empty", "POST", PVCS, pvc(""), 422, "Invalid", cause_field="metadata.name",
         cause_reason="FieldValueRequired",
         message='PersistentVolumeClaim "" is invalid: metadata.name: Required value: name or generateName is '
                 "required"),
    Case("namespace-name-invalid", "POST", NAMESPACES, namespace("Bad.NS"), 422, "Invalid",
         cause_field="metadata.name"),
    # ---- quantities: a string that is not a quantity fails decoding (400), a negative one validation (422)
    Case("quantity-1GG", "POST", PVCS, pvc(resources={"requests": {"storage": "1GG"}}),
         message='PersistentVolumeClaim in version "v1" cannot be handled as a PersistentVolumeClaim: '
                 "unable to parse quantity's suffix"),
    Case("quantity-array", "POST", PVCS, pvc(resources={"requests": {"storage": []}}),
         message='PersistentVolumeClaim in version "v1" cannot be handled as a PersistentVolumeClaim: '
                 "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
    Case("quantity-negative", "POST", PVCS, pvc(resources={"requests": {"storage": "-1Gi"}}), 422, "Invalid",
         cause_field="spec.resources[storage]", contains=('Invalid value: "-1Gi"',)),
    Case("quantity-zero", "POST", PVCS, pvc(resources={"requests": {"storage": "0"}}), 422, "Invalid",
         cause_field="spec.resources[storage]"),
    Case("pv-capacity-garbage", "POST", PVS, pv("bad-cap", capacity={"storage": "lots"}),
         contains=('PersistentVolume in version "v1" cannot be handled as a PersistentVolume',)),
    # ---- validation
    Case("pvc-no-accessmodes", "POST", PVCS, {**pvc(), "spec": {"resources": {"requests": {"storage": "1Gi"}}}},
         422, "Invalid", cause_field="spec.accessModes", cause_reason="FieldValueRequired",
         contains=("spec.accessModes: Required value",)),
    Case("pvc-bad-accessmode", "POST", PVCS, pvc(accessModes=["ReadWriteSometimes"]), 422, "Invalid",
         cause_field="spec.accessModes", cause_reason="FieldValueNotSupported"),
    Case("pv-two-sources", "POST", PVS, pv("bad-two", nfs={"server": "nfs.example.com", "path": "/x"}),
         422, "Invalid", cause_field="spec.nfs", cause_reason="FieldValueForbidden",
         contains=("may not specify more than 1 volume type",)),
    Case("secret-not-base64", "POST", SECRETS, secret("s1", k="not base64!"),
         contains=('Secret in version "v1" cannot be handled as a Secret: ', "illegal base64 data at input byte")),
    Case("secret-not-base64-yaml", "POST", SECRETS,
         b"apiVersion: v1\nkind: Secret\nmetadata: {name: s2}\ndata: {k: 'not base64!'}\n", ctype=YAML,
         contains=('Secret in version "v1" cannot be handled as a Secret: ', "illegal base64 data at input byte")),
    Case("sts-negative-replicas", "POST", STSS,
         {**statefulset("x"), "spec": {**statefulset("x")["spec"], "replicas": -1}}, 422, "Invalid",
         cause_field="spec.replicas"),
    Case("sc-no-provisioner", "POST", SCS, {**storageclass("bad-noprov"), "provisioner": ""}, 422, "Invalid",
         cause_field="provisioner"),
    Case("pod-no-containers", "POST", PODS, {**pod("x"), "spec": {"containers": []}}, 422, "Invalid",
         cause_field="spec.containers"),
    # Found by the read fuzz: an Accept header that is not UTF-8, quoted in the 406 message, failed its encoding (500).
    Case("accept-not-utf8", "GET", f"{PVCS}/sentinel", None, 406, "NotAcceptable", headers={"Accept": "\u00e9"},
         message="only the following media types are accepted: application/json, application/yaml "
                 "(asked for \ufffd)"),
    # Found by the fuzz: the pod's QoS class (set before validation) read a spec that is not an object (500).
    Case("pod-spec-not-object", "POST", PODS, {**pod("x"), "spec": True},
         contains=('Pod in version "v1" cannot be handled as a Pod', "cannot unmarshal bool")),
    Case("pod-container-resources-not-object", "POST", PODS,
         {**pod("x"), "spec": {"containers": [{"name": "c", "image": "i", "resources": 3}]}},
         contains=('Pod in version "v1" cannot be handled as a Pod', "cannot unmarshal number")),
    # ---- unknown fields
    Case("strict-unknown-field", "POST", PVCS, pvc("strict", bogus=1), params={"fieldValidation": "Strict"},
         message='PersistentVolumeClaim in version "v1" cannot be handled as a PersistentVolumeClaim: '
                 'strict decoding error: unknown field "spec.bogus"'),
    Case("strict-duplicate-field", "POST", PVCS,
         b'{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"dup","name":"dup2"},'
         b'"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}}}',
         params={"fieldValidation": "Strict"}, contains=('duplicate field "metadata.name"',)),
    # ---- options (kube-apiserver validates CreateOptions / PatchOptions / DeleteOptions / ListOptions: 422)
    Case("fieldvalidation-bogus", "POST", PVCS, pvc("fv"), 422, "Invalid", params={"fieldValidation": "Sometimes"},
         cause_field="fieldValidation", prefix='CreateOptions.meta.k8s.io "" is invalid: fieldValidation: '),
    Case("dryrun-bogus", "POST", PVCS, pvc("dry"), 422, "Invalid", params={"dryRun": "Maybe"},
         cause_field="dryRun", prefix='CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: '),
    Case("fieldmanager-too-long", "POST", PVCS, pvc("fm"), 422, "Invalid", params={"fieldManager": "m" * 129},
         cause_field="fieldManager"),
    Case("put-dryrun-bogus", "PUT", f"{PVCS}/sentinel", pvc("sentinel"), 422, "Invalid", params={"dryRun": "Maybe"},
         cause_field="dryRun", prefix='UpdateOptions.meta.k8s.io "" is invalid: dryRun: '),
    Case("patch-force-not-apply", "PATCH", f"{PVCS}/sentinel", {"metadata": {"labels": {"a": "b"}}}, 422,
         "Invalid", ctype=PATCH_MERGE, params={"force": "true"}, cause_field="force",
         message='PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply '
                 "patch"),
    # ---- transport
    Case("too-large", "POST", PVCS,
         b'{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"big","annotations":{"a":"'
         + b"x" * (3 * 1024 * 1024) + b'"}}}', 413, "RequestEntityTooLarge", headers={"Connection": "close"}),
    Case("content-type-xml", "POST", PVCS, b"<pvc/>", 415, "UnsupportedMediaType", ctype="application/xml"),
    Case("content-type-text", "POST", PVCS, json.dumps(pvc("txt")), 415, "UnsupportedMediaType",
         ctype="text/plain"),
    # kube-apiserver reads protobuf for built-in kinds: a truncated one is a bad request, not a bad media type
    Case("protobuf-truncated", "POST", PVCS, b"k8s\x00\x0a", ctype="application/vnd.kubernetes.protobuf"),
    Case("put-content-type-xml", "PUT", f"{PVCS}/sentinel", b"<pvc/>", 415, "UnsupportedMediaType",
         ctype="application/xml"),
    # ---- patches
    Case("patch-type-json", "PATCH", f"{PVCS}/sentinel", {"metadata": {"labels": {"a": "b"}}}, 415,
         "UnsupportedMediaType"),
    Case("patch-type-xml", "PATCH", f"{PVCS}/sentinel", b"<patch/>", 415, "UnsupportedMediaType",
         ctype="application/xml"),
    Case("patch-type-none", "PATCH", f"{PVCS}/sentinel", b"{}", 415, "UnsupportedMediaType", ctype=None),
    Case("jsonpatch-unknown-op", "PATCH", f"{PVCS}/sentinel", [{"op": "bogus", "path": "/spec"}], 422, "Invalid",
         ctype=PATCH_JSON, message=PATCH_REJECTED),
    Case("jsonpatch-remove-missing", "PATCH", f"{PVCS}/sentinel", [{"op": "remove", "path": "/spec/nope"}],
         422, "Invalid", ctype=PATCH_JSON, message=PATCH_REJECTED),
    Case("jsonpatch-test-fails", "PATCH", f"{PVCS}/sentinel",
         [{"op": "test", "path": "/metadata/name", "value": "other"},
          {"op": "add", "path": "/metadata/labels", "value": {"patched": "yes"}}],
         422, "Invalid", ctype=PATCH_JSON, message=PATCH_REJECTED),
    Case("jsonpatch-no-path", "PATCH", f"{PVCS}/sentinel", [{"op": "add", "value": 1}], 422, "Invalid",
         ctype=PATCH_JSON),
    Case("jsonpatch-not-a-list", "PATCH", f"{PVCS}/sentinel", {"op": "add", "path": "/a", "value": 1},
         ctype=PATCH_JSON),
    Case("jsonpatch-malformed", "PATCH", f"{PVCS}/sentinel", b'[{"op": "add", ', ctype=PATCH_JSON),
    Case("jsonpatch-bad-quantity", "PATCH", f"{PVCS}/sentinel",
         [{"op": "replace", "path": "/spec/resources/requests/storage", "value": "1GG"}], 422, "Invalid",
         ctype=PATCH_JSON, cause_field="patch", prefix='"" is invalid: patch: Invalid value: '),
    Case("mergepatch-malformed", "PATCH", f"{PVCS}/sentinel", b"{nope", ctype=PATCH_MERGE),
    Case("smp-malformed", "PATCH", f"{PVCS}/sentinel", b"{nope", ctype=PATCH_SMP),
    Case("smp-bad-directive", "PATCH", f"{PVCS}/sentinel", {"spec": {"$patch": "explode"}}, ctype=PATCH_SMP),
    Case("apply-no-fieldmanager", "PATCH", f"{PVCS}/sentinel", pvc("sentinel"), 422, "Invalid",
         ctype=PATCH_APPLY, cause_field="fieldManager",
         message='PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'),
    Case("apply-malformed-yaml", "PATCH", f"{PVCS}/sentinel", b"metadata: [\n", ctype=PATCH_APPLY,
         params={"fieldManager": "bad"}),
    Case("apply-name-mismatch", "PATCH", f"{PVCS}/sentinel", pvc("other"), ctype=PATCH_APPLY,
         params={"fieldManager": "bad"}),
    # Kubernetes' message; Kubernetes answers 500 here (kubernetes#118476), orlop 400 (as kubernetes#139255).
    Case("apply-duplicate-finalizers", "PATCH", f"{PVCS}/sentinel",
         {**pvc("sentinel"), "metadata": {"name": "sentinel", "namespace": NS,
                                          "finalizers": ["example.com/f", "example.com/f"]}},
         ctype=PATCH_APPLY, params={"fieldManager": "bad", "force": "true"},
         message="failed to create typed patch object (bad/sentinel; /v1, Kind=PersistentVolumeClaim): "
                 '.metadata.finalizers: duplicate entries for key [="example.com/f"]'),
    Case("apply-metadata-not-an-object", "PATCH", f"{PVCS}/sentinel", {"metadata": True}, ctype=PATCH_APPLY,
         params={"fieldManager": "bad", "force": "true"},
         message='PersistentVolumeClaim in version "v1" cannot be handled as a PersistentVolumeClaim: '
                 "metadata must be an object"),
    Case("patch-missing", "PATCH", f"{PVCS}/nope", {"metadata": {"labels": {"a": "b"}}}, 404, "NotFound",
         ctype=PATCH_MERGE, message='persistentvolumeclaims "nope" not found'),
    # ---- conflicts and existence
    Case("put-stale-resourceversion", "PUT", f"{PVCS}/sentinel", _stale_put, 409, "Conflict",
         message='Operation cannot be fulfilled on persistentvolumeclaims "sentinel": the object has been '
                 "modified; please apply your changes to the latest version and try again"),
    Case("create-existing", "POST", PVCS, pvc("sentinel"), 409, "AlreadyExists",
         message='persistentvolumeclaims "sentinel" already exists'),
    Case("create-existing-sc", "POST", SCS, storageclass(CLUSTER_SENTINEL), 409, "AlreadyExists",
         message=f'storageclasses.storage.k8s.io "{CLUSTER_SENTINEL}" already exists'),
    Case("get-missing", "GET", f"{PVCS}/nope", code=404, reason="NotFound",
         message='persistentvolumeclaims "nope" not found'),
    Case("delete-missing", "DELETE", f"{PVCS}/nope", code=404, reason="NotFound",
         message='persistentvolumeclaims "nope" not found'),
    Case("put-missing", "PUT", f"{PVCS}/nope", pvc("nope"), 404, "NotFound",
         message='persistentvolumeclaims "nope" not found'),
    Case("get-missing-sts", "GET", f"{STSS}/nope", code=404, reason="NotFound",
         message='statefulsets.apps "nope" not found'),
    Case("get-missing-scale", "GET", f"{STSS}/nope/scale", code=404, reason="NotFound",
         message='statefulsets.apps "nope" not found'),
    Case("get-missing-pv", "GET", f"{PVS}/nope", code=404, reason="NotFound",
         message='persistentvolumes "nope" not found'),
    # ---- authentication
    Case("no-token", "GET", PVCS, code=401, reason="Unauthorized", headers={"Authorization": ""},
         message="Unauthorized"),
    Case("wrong-token", "GET", PVCS, code=401, reason="Unauthorized", headers={"Authorization": "Bearer nope"},
         message="Unauthorized"),
    Case("wrong-token-write", "POST", PVCS, pvc("sneaky"), 401, "Unauthorized",
         headers={"Authorization": "Bearer nope"}),
    Case("basic-auth", "GET", PVCS, code=401, reason="Unauthorized", headers={"Authorization": "Basic YTpi"}),
    # ---- paths and methods
    Case("delete-version", "DELETE", "/version", codes=(404, 405)),
    Case("post-version", "POST", "/version", b"{}", codes=(404, 405)),
    Case("delete-api", "DELETE", "/api", codes=(404, 405)),
    Case("post-apis", "POST", "/apis", b"{}", codes=(404, 405)),
    Case("delete-api-v1", "DELETE", "/api/v1", codes=(404, 405)),
    Case("unknown-resource", "GET", "/api/v1/namespaces/bad/widgets", code=404, reason="NotFound"),
    Case("unknown-group", "GET", "/apis/nope.example.com/v1", code=404, reason="NotFound"),
    Case("unknown-subresource", "GET", f"{PVCS}/sentinel/exec", code=404, reason="NotFound"),
    Case("post-to-named", "POST", f"{PVCS}/sentinel", pvc("sentinel"), codes=(404, 405)),
    Case("put-collection", "PUT", PVCS, pvc("x"), codes=(404, 405)),
    Case("delete-status", "DELETE", f"{PVCS}/sentinel/status", codes=(404, 405)),
    # ---- list / watch options
    Case("label-selector-bad", "GET", PVCS, params={"labelSelector": "a in (b"}),
    Case("label-selector-bad-key", "GET", PVCS, params={"labelSelector": "-a=b"}),
    Case("label-selector-bad-value", "GET", PVCS, params={"labelSelector": "a=b c"}),
    Case("field-selector-bad", "GET", PVCS, params={"fieldSelector": "metadata.name"}),
    Case("field-selector-unsupported", "GET", PVCS, params={"fieldSelector": "spec.bogus=x"},
         contains=('"spec.bogus" is not a known field selector',)),
    Case("field-selector-unsupported-watch", "GET", PVCS,
         params={"fieldSelector": "spec.bogus=x", "watch": "true"}, contains=("spec.bogus",)),
    Case("label-selector-bad-watch", "GET", PVCS, params={"labelSelector": "a in (b", "watch": "true"}),
    Case("limit-not-number", "GET", PVCS, params={"limit": "ten"}),
    Case("continue-garbage", "GET", PVCS, params={"limit": "1", "continue": "not-a-token!"}),
    Case("continue-with-resourceversion", "GET", PVCS,
         params={"limit": "1", "continue": _forged_continue(), "resourceVersion": "5"}),
    Case("resourceversion-garbage", "GET", PVCS, params={"resourceVersion": "abc"}),
    Case("resourceversion-negative", "GET", PVCS, params={"resourceVersion": "-5"}),
    Case("resourceversion-garbage-watch", "GET", PVCS, params={"resourceVersion": "abc", "watch": "true"}),
    Case("resourceversionmatch-bogus", "GET", PVCS, params={"resourceVersion": "1", "resourceVersionMatch": "Soon"},
         code=422, reason="Invalid", cause_field="resourceVersionMatch"),
    Case("resourceversionmatch-without-rv", "GET", PVCS, params={"resourceVersionMatch": "Exact"},
         code=422, reason="Invalid", cause_field="resourceVersionMatch"),
    Case("timeoutseconds-garbage", "GET", PVCS, params={"watch": "true", "timeoutSeconds": "soon"}),
    # ---- immutability and policy
    Case("pvc-spec-immutable", "PATCH", f"{PVCS}/sentinel", {"spec": {"accessModes": ["ReadWriteMany"]}}, 422,
         "Invalid", ctype=PATCH_MERGE, cause_field="spec", cause_reason="FieldValueForbidden",
         contains=('PersistentVolumeClaim "sentinel" is invalid: spec: Forbidden: spec is immutable after creation',)),
    Case("sc-parameters-immutable", "PATCH", f"{SCS}/{CLUSTER_SENTINEL}", {"parameters": {"tier": "lead"}}, 422,
         "Invalid", ctype=PATCH_MERGE, cause_field="parameters", cause_reason="FieldValueForbidden",
         message=f'StorageClass.storage.k8s.io "{CLUSTER_SENTINEL}" is invalid: parameters: Forbidden: updates to '
                 "parameters are forbidden."),
    Case("sc-provisioner-immutable", "PATCH", f"{SCS}/{CLUSTER_SENTINEL}", {"provisioner": "example.com/other"},
         422, "Invalid", ctype=PATCH_MERGE, cause_field="provisioner"),
    Case("sts-selector-immutable", "PATCH", f"{STSS}/sentinel",
         {"spec": {"selector": {"matchLabels": {"app": "other"}},
                   "template": {"metadata": {"labels": {"app": "other"}}}}},
         422, "Invalid", ctype=PATCH_MERGE, cause_field="spec"),
    Case("secret-type-immutable", "PATCH", f"{SECRETS}/sentinel", {"type": "kubernetes.io/tls"}, 422, "Invalid",
         ctype=PATCH_MERGE, cause_field="type"),
    Case("delete-default-namespace", "DELETE", f"{NAMESPACES}/default", code=403, reason="Forbidden",
         message='namespaces "default" is forbidden: this namespace may not be deleted'),
    Case("delete-kube-system", "DELETE", f"{NAMESPACES}/kube-system", code=403, reason="Forbidden",
         message='namespaces "kube-system" is forbidden: this namespace may not be deleted'),
    Case("create-in-missing-namespace", "POST", "/api/v1/namespaces/nowhere/persistentvolumeclaims", pvc("x"),
         404, "NotFound", message='namespaces "nowhere" not found'),
    # ---- delete options
    Case("delete-uid-precondition", "DELETE", f"{PVCS}/sentinel", _precondition("not-the-uid"), 409,
         "Conflict", prefix='Operation cannot be fulfilled on persistentvolumeclaims "sentinel": Precondition '
                            "failed: UID in precondition: not-the-uid, UID in object meta: "),
    Case("delete-rv-precondition", "DELETE", f"{PVCS}/sentinel",
         {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"resourceVersion": "1"}}, 409, "Conflict",
         prefix='Operation cannot be fulfilled on persistentvolumeclaims "sentinel": Precondition failed: '
                "ResourceVersion in precondition: 1, ResourceVersion in object meta: "),
    Case("delete-sc-uid-precondition", "DELETE", f"{SCS}/{CLUSTER_SENTINEL}",
         _precondition("not-the-uid"), 409, "Conflict"),
    Case("delete-bad-policy", "DELETE", f"{PVCS}/sentinel",
         {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Eventually"}, 422, "Invalid",
         cause_field="propagationPolicy",
         message='DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Eventually": '
                 'supported values: "Foreground", "Background", "Orphan", "nil"'),
    Case("delete-options-malformed", "DELETE", f"{PVCS}/sentinel", b"{nope"),
    Case("delete-options-array", "DELETE", f"{PVCS}/sentinel", b"[1, 2]"),
    Case("delete-dryrun-bogus", "DELETE", f"{PVCS}/sentinel", params={"dryRun": "Maybe"}, code=422,
         reason="Invalid", cause_field="dryRun"),
    Case("deletecollection-bad-selector", "DELETE", PVCS, params={"labelSelector": "a in (b"}),
    # ---- scale and status subresources
    Case("scale-negative", "PUT", f"{STSS}/sentinel/scale",
         {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "sentinel", "namespace": NS},
          "spec": {"replicas": -3}}, 422, "Invalid", cause_field="spec.replicas"),
    Case("scale-wrong-kind", "PUT", f"{STSS}/sentinel/scale", statefulset("sentinel"), 400, "BadRequest"),
    Case("scale-malformed", "PATCH", f"{STSS}/sentinel/scale", b"{nope", ctype=PATCH_MERGE),
    Case("status-malformed", "PUT", f"{PVCS}/sentinel/status", b"{nope", prefix=UNRECOGNIZED_PVC),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_request_answers_status_and_changes_nothing(api: Api, case: Case) -> None:
    body = case.body(api) if callable(case.body) else case.body
    with unchanged(api):
        r = api.request(case.method, case.path, body, case.ctype, params=case.params, headers=case.headers)
        if case.codes:
            assert r.status_code in case.codes, f"expected one of {case.codes}, got {r.status_code}: {r.text[:500]}"
            assert_status(r, r.status_code, {404: "NotFound", 405: "MethodNotAllowed"}[r.status_code])
            return
        status = assert_status(r, case.code, case.reason)
    msg = status["message"]
    if case.message is not None:
        assert msg == case.message
    if case.prefix is not None:
        assert msg.startswith(case.prefix), msg
    for part in case.contains:
        assert part in msg, msg
    if case.cause_field is not None or case.cause_reason is not None:
        found = causes(status)
        assert found, f"no details.causes in {status}"
        assert all(c.get("message") for c in found), found
        if case.cause_field is not None:
            assert case.cause_field in [c.get("field") for c in found], found
        if case.cause_reason is not None:
            assert case.cause_reason in [c.get("reason") for c in found], found


# --------------------------------------------------------------------------- field validation that succeeds
def test_field_validation_warn_answers_201_with_warning_and_drops_field(api: Api) -> None:
    r = api.request("POST", PVCS, pvc("fv-warn", bogus=1), params={"fieldValidation": "Warn"})
    assert r.status_code == 201, r.text
    assert r.headers.get("Warning") == '299 - "unknown field \\"spec.bogus\\""'
    assert "bogus" not in r.json()["spec"]
    assert "bogus" not in api.ok("GET", f"{PVCS}/fv-warn")["spec"]


def test_field_validation_ignore_answers_201_without_warning_and_drops_field(api: Api) -> None:
    r = api.request("POST", PVCS, pvc("fv-ignore", bogus=1), params={"fieldValidation": "Ignore"})
    assert r.status_code == 201, r.text
    assert "Warning" not in r.headers
    assert "bogus" not in api.ok("GET", f"{PVCS}/fv-ignore")["spec"]


def test_an_unknown_field_named_empty_is_dropped_alone(api: Api) -> None:
    body = pvc("fv-empty-name")
    body["metadata"][""] = "x"
    body["spec"][""] = 1
    r = api.request("POST", PVCS, body, params={"fieldValidation": "Warn"})
    assert r.status_code == 201, r.text
    assert "unknown field \\\"metadata.\\\"" in r.headers.get("Warning", ""), r.headers.get("Warning")
    got = api.ok("GET", f"{PVCS}/fv-empty-name")
    assert got["metadata"]["name"] == "fv-empty-name" and "" not in got["metadata"] and "" not in got["spec"]
    assert got["spec"]["accessModes"] == body["spec"]["accessModes"]


def test_field_validation_defaults_to_warn(api: Api) -> None:
    # kube-apiserver: an empty fieldValidation means Warn (what the Python client gets, since it sends none).
    r = api.request("POST", PVCS, pvc("fv-default", bogus=1))
    assert r.status_code == 201, r.text
    assert r.headers.get("Warning") == '299 - "unknown field \\"spec.bogus\\""'
    assert "bogus" not in api.ok("GET", f"{PVCS}/fv-default")["spec"]


def test_strict_patch_with_unknown_field_is_rejected_and_changes_nothing(api: Api) -> None:
    with unchanged(api):
        r = api.request("PATCH", f"{PVCS}/sentinel", {"spec": {"bogus": 1}}, PATCH_MERGE,
                        params={"fieldValidation": "Strict"})
        assert_status(r, 400, "BadRequest")
    assert 'unknown field "spec.bogus"' in r.json()["message"]


# --------------------------------------------------------------------------- terminating namespace
def test_create_in_terminating_namespace_is_forbidden(api: Api) -> None:
    ns = "bad-terminating"
    api.ok("POST", NAMESPACES, namespace(ns))
    held = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "held", "finalizers": ["example.com/hold"]}, "data": {"a": "b"}}
    api.ok("POST", f"/api/v1/namespaces/{ns}/configmaps", held)
    api.ok("DELETE", f"{NAMESPACES}/{ns}")
    try:
        deadline = time.time() + 15
        while not api.ok("GET", f"/api/v1/namespaces/{ns}/configmaps/held")["metadata"].get("deletionTimestamp"):
            assert time.time() < deadline, "the namespace controller never deleted the namespace's content"
            time.sleep(0.1)
        assert api.ok("GET", f"{NAMESPACES}/{ns}")["status"]["phase"] == "Terminating"
        with unchanged(api):
            r = api.request("POST", f"/api/v1/namespaces/{ns}/persistentvolumeclaims", pvc("late"))
            status = assert_status(r, 403, "Forbidden")
        assert status["message"] == (f'persistentvolumeclaims "late" is forbidden: unable to create new content in '
                                     f"namespace {ns} because it is being terminated")
    finally:
        api.request("PATCH", f"/api/v1/namespaces/{ns}/configmaps/held", {"metadata": {"finalizers": None}},
                    PATCH_MERGE)
    deadline = time.time() + 20
    while api.get(f"{NAMESPACES}/{ns}").status_code != 404:
        assert time.time() < deadline, "the namespace never went away once its content was gone"
        time.sleep(0.2)


# --------------------------------------------------------------------------- fuzz
@dataclass(frozen=True)
class Target:
    id: str
    collection: str
    kind: str
    api_version: str
    status: bool
    scale: bool = False


TARGETS = [
    Target("pvc", PVCS, "PersistentVolumeClaim", "v1", True),
    Target("pv", PVS, "PersistentVolume", "v1", True),
    Target("pod", PODS, "Pod", "v1", True),
    Target("secret", SECRETS, "Secret", "v1", False),
    Target("statefulset", STSS, "StatefulSet", "apps/v1", True, scale=True),
    Target("storageclass", SCS, "StorageClass", "storage.k8s.io/v1", False),
    Target("service", SVCS, "Service", "v1", True),
]
# Examples per kind and run: a deeper search on demand (e.g. ORLOP_FUZZ_EXAMPLES=3000).
FUZZ_EXAMPLES = int(os.environ.get("ORLOP_FUZZ_EXAMPLES", "150"))

FIELD_NAMES = [
    "apiVersion", "kind", "metadata", "name", "namespace", "generateName", "labels", "annotations", "finalizers",
    "ownerReferences", "resourceVersion", "uid", "managedFields", "deletionTimestamp", "creationTimestamp",
    "spec", "status", "accessModes", "resources", "requests", "limits", "storage", "storageClassName",
    "volumeName", "volumeMode", "selector", "matchLabels", "matchExpressions", "key", "operator", "values",
    "capacity", "hostPath", "path", "type", "nfs", "server", "local", "csi", "driver", "volumeHandle", "claimRef",
    "persistentVolumeReclaimPolicy", "nodeAffinity", "required", "nodeSelectorTerms", "containers", "image",
    "initContainers", "volumes", "volumeMounts", "mountPath", "persistentVolumeClaim", "claimName", "env",
    "value", "ports", "containerPort", "nodeName", "restartPolicy", "data", "stringData", "immutable",
    "replicas", "serviceName", "template", "volumeClaimTemplates", "podManagementPolicy", "updateStrategy",
    "rollingUpdate", "partition", "persistentVolumeClaimRetentionPolicy", "whenDeleted", "whenScaled",
    "ordinals", "start", "minReadySeconds", "revisionHistoryLimit", "provisioner", "parameters", "reclaimPolicy",
    "volumeBindingMode", "allowVolumeExpansion", "allowedTopologies", "mountOptions", "phase", "conditions",
    "fieldsV1", "fieldsType", "manager", "operation", "bogus", "$patch", "$retainKeys",
    "clusterIP", "clusterIPs", "nodePort", "port", "targetPort", "protocol", "externalName",
    "$setElementOrder/containers", "$deleteFromPrimitiveList/finalizers", "f:spec", "", "0",
    # names that end up in messages and Warning headers: quotes, backslashes, control characters, non-ASCII
    'say "hi"', "back\\slash", "line\nbreak", "\u001f", "\r", "caf\u00e9",
]
TEXT_VALUES = [
    "", "1Gi", "-1Gi", "1GG", "0", "1e3", "500m", "ReadWriteOnce", "ReadWriteMany", "Filesystem", "Block",
    "Retain", "Delete", "Recycle", "WaitForFirstConsumer", "Immediate", "v1", "apps/v1", "storage.k8s.io/v1",
    "PersistentVolumeClaim", "Pod", "StatefulSet", "busybox", "/tmp/x", "dmFsdWU=", "not base64!", "fuzz",
    "sentinel", NS, "default", "Foo_bar", "a" * 300, "In", "Exists", "2024-01-01T00:00:00Z", "null", "\u00e9\u2603",
    "NodePort", "ClusterIP", "LoadBalancer", "ExternalName", "None", "TCP",
]
NAMES = ["fuzz", "fuzz-new", "sentinel", CLUSTER_SENTINEL, "", "Foo_bar", "x" * 300, "a.b", "-x"]

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(TEXT_VALUES) | st.text(max_size=20))
keys = st.sampled_from(FIELD_NAMES) | st.text(max_size=12)
json_values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(keys, kids, max_size=5),
                           max_leaves=25)
metadata = st.fixed_dictionaries(
    {}, optional={"name": st.sampled_from(NAMES) | scalars, "namespace": st.sampled_from([NS, "default", "", "x"]),
                  "generateName": st.sampled_from(["fuzz-", "", "Bad_"]),
                  "labels": st.dictionaries(st.sampled_from(["app", "a/b", "", "-x", "x" * 70]),
                                            st.sampled_from(["v", "", "-x", "x" * 70]) | scalars, max_size=3),
                  "annotations": st.dictionaries(keys, scalars, max_size=3),
                  "finalizers": st.lists(st.sampled_from(["example.com/f", "kubernetes", "", "Bad Finalizer"]),
                                         max_size=2),
                  "resourceVersion": st.sampled_from(["", "1", "abc", "999999999"]),
                  "uid": st.sampled_from(["", "x"]),
                  "ownerReferences": json_values, "managedFields": json_values,
                  "deletionTimestamp": st.sampled_from(["2024-01-01T00:00:00Z", "soon"])})


def shaped(t: Target) -> st.SearchStrategy[Any]:
    """Bodies that look like the kind (so they get past decoding into defaulting and validation)."""
    top = st.fixed_dictionaries(
        {"apiVersion": st.sampled_from([t.api_version, t.api_version, "v1", "apps/v1", "bogus/v9"]),
         "kind": st.sampled_from([t.kind, t.kind, "Pod", "Scale", ""]),
         "metadata": metadata},
        optional={"spec": st.dictionaries(keys, json_values, max_size=6) | json_values,
                  "status": st.dictionaries(keys, json_values, max_size=3),
                  "data": st.dictionaries(st.sampled_from(["k", "", "a/b"]), st.sampled_from(TEXT_VALUES), max_size=2),
                  "stringData": st.dictionaries(st.text(max_size=5), scalars, max_size=2),
                  "provisioner": st.sampled_from(TEXT_VALUES), "parameters": json_values,
                  "reclaimPolicy": st.sampled_from(TEXT_VALUES), "type": st.sampled_from(TEXT_VALUES),
                  "bogus": json_values})
    return top


json_patch_ops = st.lists(
    st.fixed_dictionaries(
        {"op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "bogus"]),
         "path": st.lists(st.sampled_from(FIELD_NAMES + ["-", "1"]), max_size=4).map(lambda p: "/" + "/".join(p))
         | st.text(max_size=10)},
        optional={"value": json_values, "from": st.sampled_from(["/metadata/labels", "/spec", "/x", ""])}),
    max_size=4)

OPERATIONS = ["POST", "POST-yaml", "PUT", "PATCH-json", "PATCH-merge", "PATCH-strategic", "PATCH-apply",
              "PUT-status", "PATCH-status", "PUT-scale", "PATCH-scale"]


@st.composite
def fuzz_requests(draw: st.DrawFn, t: Target) -> tuple[str, str, bytes, str, dict[str, str]]:
    ops = [o for o in OPERATIONS if ("status" not in o or t.status) and ("scale" not in o or t.scale)]
    op = draw(st.sampled_from(ops))
    named = f"{t.collection}/fuzz"
    if op == "PATCH-json":
        value: Any = draw(json_patch_ops | json_values)
    else:
        value = draw(shaped(t) | st.dictionaries(keys, json_values, max_size=6) | json_values)
    raw = draw(st.binary(max_size=64)) if draw(st.integers(0, 7)) == 0 else None
    params: dict[str, str] = {}
    fv = draw(st.sampled_from([None, "Strict", "Warn", "Ignore", "bogus"]))
    if fv:
        params["fieldValidation"] = fv
    if draw(st.integers(0, 9)) == 0:
        params["dryRun"] = draw(st.sampled_from(["All", "bogus"]))
    method, path, ctype = {
        "POST": ("POST", t.collection, JSON),
        "POST-yaml": ("POST", t.collection, YAML),
        "PUT": ("PUT", named, JSON),
        "PATCH-json": ("PATCH", named, PATCH_JSON),
        "PATCH-merge": ("PATCH", named, PATCH_MERGE),
        "PATCH-strategic": ("PATCH", named, PATCH_SMP),
        "PATCH-apply": ("PATCH", named, PATCH_APPLY),
        "PUT-status": ("PUT", f"{named}/status", JSON),
        "PATCH-status": ("PATCH", f"{named}/status", draw(st.sampled_from([PATCH_MERGE, PATCH_JSON, PATCH_SMP]))),
        "PUT-scale": ("PUT", f"{named}/scale", JSON),
        "PATCH-scale": ("PATCH", f"{named}/scale", draw(st.sampled_from([PATCH_MERGE, PATCH_JSON, PATCH_SMP]))),
    }[op]
    if op == "PATCH-apply" and draw(st.booleans()):
        params["fieldManager"] = "fuzz"
        params["force"] = draw(st.sampled_from(["true", "false"]))
    if isinstance(raw, bytes):
        body = raw
    elif ctype in (YAML, PATCH_APPLY) and draw(st.booleans()):
        body = yaml.safe_dump(value).encode()
    else:
        body = json.dumps(value).encode()
    return method, path, body, ctype, params


WARNING = re.compile(r'^299 - "(?:[^"\\]|\\.)*"(?:, 299 - "(?:[^"\\]|\\.)*")*$')


def check_fuzz_answer(t: Target, r: requests.Response, what: str) -> None:
    assert r.status_code < 500, f"{what} -> {r.status_code}: {r.text[:2000]}"
    assert "Traceback" not in r.text, what
    assert r.headers.get("Content-Type", "").startswith("application/json"), (what, r.headers)
    body = r.json()
    assert isinstance(body, dict), (what, body)
    if r.status_code >= 400:
        assert body.get("kind") == "Status" and body.get("status") == "Failure", (what, body)
        assert body.get("code") == r.status_code and body.get("reason"), (what, body)
        assert isinstance(body.get("message"), str), (what, body)
    else:
        assert body.get("kind") in (t.kind, "Scale"), (what, body)
        assert body.get("metadata", {}).get("name"), (what, body)
    if "Warning" in r.headers:
        assert WARNING.match(r.headers["Warning"]), (what, r.headers["Warning"])


FUZZ_SETTINGS = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=False,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                HealthCheck.filter_too_much])


@contextmanager
def sentinels_kept_and_no_traceback(api: Api) -> Iterator[None]:
    """Around a fuzz run: the objects it did not create are as they were, the server is ready and
    logged no traceback."""
    before = {p: api.ok("GET", p) for p in SENTINELS}
    log_start = os.path.getsize(api.orlop.log_path)
    yield
    after = {p: api.ok("GET", p) for p in SENTINELS}
    assert after == before, "the fuzz changed an object it did not create"
    assert api.get("/readyz").status_code == 200
    with open(api.orlop.log_path, errors="replace") as f:
        f.seek(log_start)
        log = f.read()
    assert "Traceback" not in log, log[:5000]


@pytest.mark.parametrize("target", TARGETS, ids=[t.id for t in TARGETS])
def test_fuzz_writes_never_fail_the_server(api: Api, target: Target) -> None:
    """Random bodies at every write endpoint of a kind: < 500, a Status on failure, sentinels untouched."""
    seed = {"pvc": pvc("fuzz"), "pv": pv("fuzz"), "pod": pod("fuzz"), "secret": secret("fuzz"),
            "statefulset": statefulset("fuzz"), "storageclass": storageclass("fuzz"),
            "service": service("fuzz")}[target.id]
    if api.get(f"{target.collection}/fuzz").status_code == 404:
        api.ok("POST", target.collection, seed)
    settle(api)

    @FUZZ_SETTINGS
    @given(req=fuzz_requests(target))
    def run(req: tuple[str, str, bytes, str, dict[str, str]]) -> None:
        method, path, body, ctype, params = req
        r = api.request(method, path, body, ctype, params=params)
        check_fuzz_answer(target, r, f"{method} {path}?{params} [{ctype}] {body[:300]!r}")

    with sentinels_kept_and_no_traceback(api):
        run()


SELECTOR_PARTS = ["app", "a/b", "x" * 70, "=", "==", "!=", ",", " in ", " notin ", "(", ")", "!", "v", "", " ",
                  "metadata.name", "metadata.namespace", "spec.nodeName", "status.phase", "spec.volumeName",
                  "spec.storageClassName", "metadata.labels", "\u00e9", "\\", "%", "*"]
selector_text = st.lists(st.sampled_from(SELECTOR_PARTS), max_size=8).map("".join) | st.text(max_size=16)
query_value = (selector_text | st.sampled_from(["", "0", "1", "-1", "true", "false", "All", "bogus", "999999999999",
                                               "NotOlderThan", "Exact", "Background", "Orphan", "Foreground",
                                               "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MSwic3RhcnQiOiJ4In0"])
               | st.integers(min_value=-(2**65), max_value=2**65).map(str))
READ_PARAMS = ["labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "resourceVersionMatch",
               "timeoutSeconds", "allowWatchBookmarks", "sendInitialEvents", "pretty", "propagationPolicy",
               "gracePeriodSeconds", "orphanDependents", "dryRun", "bogus"]
ACCEPTS = [None, "application/json", "application/yaml", "*/*", "text/html", "application/vnd.kubernetes.protobuf",
           "application/json;as=Table;v=v1;g=meta.k8s.io", "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
           "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", "application/json;as=Table;g=x",
           "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", ";;;", "\u00e9"]


@st.composite
def read_requests(draw: st.DrawFn, t: Target) -> tuple[str, str, bytes | None, dict[str, str], dict[str, str]]:
    """GET an item, a list (the kind's or across namespaces), a short watch, or a dry-run DELETE."""
    params = draw(st.dictionaries(st.sampled_from(READ_PARAMS), query_value, max_size=4))
    name = draw(st.sampled_from(["fuzz", "sentinel", "missing", "", "a%2Fb", "..", "x" * 300]))
    # (a watch lasts up to its timeoutSeconds, 1 s: fewer of them keeps the run short)
    where = draw(st.sampled_from(["item", "item", "list", "list", "all-namespaces", "delete", "delete", "watch"]))
    body: bytes | None = None
    if where == "item":
        method, path = "GET", f"{t.collection}/{name}"
    elif where == "list":
        method, path = "GET", t.collection
    elif where == "all-namespaces":
        method, path = "GET", t.collection.replace(f"/namespaces/{NS}", "")
    elif where == "watch":
        method, path = "GET", t.collection
        params["watch"] = draw(st.sampled_from(["true", "1", "false"]))
        params["timeoutSeconds"] = "1"      # (a watch that ends on its own)
    else:
        method, path = "DELETE", f"{t.collection}/{draw(st.sampled_from(['fuzz', 'missing']))}"
        params["dryRun"] = "All"            # (never deletes: the other tests' objects stay)
        opts = st.fixed_dictionaries({}, optional={
            "kind": st.sampled_from(["DeleteOptions", "Pod", ""]), "apiVersion": st.sampled_from(["v1", "bogus"]),
            "propagationPolicy": query_value, "gracePeriodSeconds": scalars, "orphanDependents": scalars,
            "preconditions": json_values, "dryRun": json_values})
        value = draw(opts | json_values)
        body = draw(st.binary(max_size=32)) if draw(st.integers(0, 7)) == 0 else json.dumps(value).encode()
    headers = {}
    accept = draw(st.sampled_from(ACCEPTS))
    if accept is not None:
        headers["Accept"] = accept
    return method, path, body, params, headers


@pytest.mark.parametrize("target", TARGETS, ids=[t.id for t in TARGETS])
def test_fuzz_reads_and_deletes_never_fail_the_server(api: Api, target: Target) -> None:
    """Random query parameters, selectors, Accept headers and DeleteOptions on the read endpoints and a
    dry-run DELETE: always < 500 and a Status when JSON is refused; nothing changes."""
    @FUZZ_SETTINGS
    @given(req=read_requests(target))
    def run(req: tuple[str, str, bytes | None, dict[str, str], dict[str, str]]) -> None:
        method, path, body, params, headers = req
        r = api.request(method, path, body, JSON if body is not None else None, params=params, headers=headers,
                        timeout=20)
        what = f"{method} {path}?{params} {headers} {(body or b'')[:200]!r}"
        assert r.status_code < 500, f"{what} -> {r.status_code}: {r.text[:2000]}"
        assert "Traceback" not in r.text, what
        if r.status_code >= 400 and r.headers.get("Content-Type", "").startswith("application/json"):
            status = r.json()
            assert status.get("kind") == "Status" and status.get("code") == r.status_code, (what, status)

    with sentinels_kept_and_no_traceback(api):
        run()


# --------------------------------------------------------------------------- expensive shapes
# (last of the shared server's tests: they have crashed it)
def _alias_bomb(levels: int, width: int = 9) -> bytes:
    """A YAML "billion laughs": under 1 KB that expands to width**levels nodes (in a Pod's status)."""
    anchors = ["  l0: &l0 [lol]"]
    for i in range(1, levels + 1):
        anchors.append(f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return ("apiVersion: v1\nkind: Pod\nx-anchors:\n" + "\n".join(anchors)
            + "\nmetadata:\n  name: bomb\nspec:\n  containers: [{name: c, image: busybox}]\n"
            + f"status:\n  conditions: *l{levels}\n").encode()


def test_yaml_alias_bomb_is_rejected_quickly(api: Api) -> None:
    # kube-apiserver's YAML decoder refuses excessive aliasing ("document contains excessive aliasing").
    with unchanged(api):
        started = time.time()
        r = api.request("POST", PODS, _alias_bomb(7), YAML, timeout=60)
        elapsed = time.time() - started
        assert elapsed < 3, f"a 1 KB request took {elapsed:.1f}s (answered {r.status_code})"
        assert len(r.content) < 64 * 1024, f"a 1 KB request produced a {len(r.content)} byte answer"
        assert_status(r, 400, "BadRequest")


@pytest.mark.parametrize("depth", [2000, 20000, 100000])
@pytest.mark.parametrize("ctype", [JSON, YAML])
def test_deeply_nested_body_is_a_bad_request(api: Api, depth: int, ctype: str) -> None:
    # kube-apiserver: below 10000 levels the array cannot become a PodSpec, above it the decoder stops (400 both).
    nested = "[" * depth + "]" * depth
    if ctype == JSON:
        body = '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"deep"},"spec":' + nested + "}"
    else:
        body = "apiVersion: v1\nkind: Pod\nmetadata: {name: deep}\nspec: " + nested + "\n"
    with unchanged(api):
        r = api.request("POST", PODS, body, ctype)
        assert_status(r, 400, "BadRequest")


# --------------------------------------------------------------------------- compacted history
@pytest.fixture
def compacting(tmp_path: os.PathLike[str]) -> Iterator[Api]:
    """A server that keeps one revision of history and compacts five times a second."""
    o = start_server(str(tmp_path), "--compact-interval", "0.2", "--compact-keep", "1")
    try:
        yield Api(o)
    finally:
        o.stop()


def test_watch_from_compacted_revision_is_410_expired(compacting: Api) -> None:
    api = compacting
    path = "/api/v1/namespaces/default/configmaps"
    first = api.ok("POST", path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c0"}})
    old_rv = first["metadata"]["resourceVersion"]
    for i in range(1, 6):
        api.ok("POST", path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}"}})
    deadline = time.time() + 15
    while True:
        with api.get(path, params={"watch": "true", "resourceVersion": old_rv, "timeoutSeconds": "2"},
                     stream=True) as r:
            assert r.status_code == 200, r.text
            line = next(r.iter_lines(), b"")
        event = json.loads(line) if line else {}
        if event.get("type") == "ERROR":
            break
        assert time.time() < deadline, f"watch from compacted {old_rv} still answered {event}"
        time.sleep(0.3)
    status = event["object"]
    assert status["kind"] == "Status" and status["status"] == "Failure", status
    assert status["code"] == 410 and status["reason"] == "Expired", status
    assert status["message"].startswith(f"too old resource version: {old_rv} ("), status


def test_list_continue_from_compacted_revision_is_410_expired(compacting: Api) -> None:
    api = compacting
    path = "/api/v1/namespaces/default/configmaps"
    for i in range(3):
        api.ok("POST", path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"p{i}"}})
    page = api.ok("GET", path, params={"limit": "1"})
    token = page["metadata"]["continue"]
    for i in range(3, 8):
        api.ok("POST", path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"p{i}"}})
    time.sleep(1.0)                      # several compactions: the page's revision is gone
    r = api.get(path, params={"limit": "1", "continue": token})
    status = assert_status(r, 410, "Expired")
    assert status["message"].startswith("The provided continue parameter is too old to display a consistent list "
                                        "result."), status
