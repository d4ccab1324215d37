"""The users' own manifests (the seeds), driven through the real kubectl against ``orlop up``.

Why this exists: the seeds are the documents orlop was made for; their manifests must be
accepted as written and read back as Kubernetes would return them: the fields as written,
plus Kubernetes' defaults (PV reclaim policy Retain, StorageClass reclaimPolicy Delete,
Pod and container defaults, apps/v1beta1 StatefulSet defaults ...).  Where Kubernetes
itself refuses a seed manifest as written (seed 003 uses fields RBD volumes do not have),
the test asserts Kubernetes' refusal, not leniency.

`orlop up` runs the storage controllers, so the objects are read back once they have
settled, in the state Kubernetes 1.32 with a default StorageClass would give them: a PV
without a claim becomes Available; a claim that names no class gets the default class
``local-path`` (DefaultStorageClass admission) and is Bound to a volume provisioned for
it; a claim of a class that does not exist stays Pending.  Each wait is bounded.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from helpers import create_namespace, parse_table, unique, wait_until

pytestmark = pytest.mark.e2e

MANIFESTS = os.path.join(os.path.dirname(__file__), "manifests")

# The default StorageClass `orlop up` creates at first start, and its provisioner.
DEFAULT_CLASS = "local-path"
DEFAULT_PROVISIONER = "orlop.io/local-path"
SETTLE_TIMEOUT = 30.0

# kind -> (plural, group, namespaced)
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "PersistentVolume": ("persistentvolumes", "", False),
    "PersistentVolumeClaim": ("persistentvolumeclaims", "", True),
    "Pod": ("pods", "", True),
    "Secret": ("secrets", "", True),
    "Service": ("services", "", True),
    "StorageClass": ("storageclasses", "storage.k8s.io", False),
    "StatefulSet": ("statefulsets", "apps", True),
}

# Storage (preferred) version each kind is read back in.
READ_VERSION = {"StatefulSet": "v1", "StorageClass": "v1"}

ABSENT = object()   # expectation: the field must not be there


class OneOf:
    """Expectation: the value is one of several (e.g. a phase the controllers only pass through)."""

    def __init__(self, *values: Any):
        self.values = values

    def __eq__(self, other: object) -> bool:
        return other in self.values

    def __repr__(self) -> str:
        return f"one of {self.values!r}"


def load(path: str) -> list[dict[str, Any]]:
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def resource_arg(kind: str, version: str | None = None) -> str:
    """The ``kubectl get`` argument naming exactly one resource/version (e.g. statefulsets.v1.apps)."""
    plural, group, _ = RESOURCES[kind]
    if not group:
        return plural
    return f"{plural}.{version or READ_VERSION.get(kind, 'v1')}.{group}"


def printed_name(kind: str, name: str) -> str:
    """How kubectl names an object in 'created'/'unchanged' lines: kind[.group]/name."""
    _, group, _ = RESOURCES[kind]
    return f"{kind.lower()}{'.' + group if group else ''}/{name}"


# ----------------------------------------------------------------------------------------
# comparison helpers


def differences(want: Any, got: Any, path: str = "", ignore: frozenset[str] = frozenset()) -> list[str]:
    """Every place where ``got`` does not contain ``want`` as written (mappings are subsets)."""
    if path in ignore:
        return []
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [f"{path or '.'}: want a mapping, got {got!r}"]
        out: list[str] = []
        for k, v in want.items():
            p = f"{path}.{k}" if path else str(k)
            if p in ignore:
                continue
            if k not in got:
                out.append(f"{p}: missing (want {v!r})")
            else:
                out += differences(v, got[k], p, ignore)
        return out
    if isinstance(want, list):
        if isinstance(got, list):
            got = [g for g in got if not is_service_account_token(g)]
        if not isinstance(got, list) or len(got) != len(want):
            return [f"{path}: want {want!r}, got {got!r}"]
        out = []
        for i, (w, g) in enumerate(zip(want, got, strict=True)):
            out += differences(w, g, f"{path}.{i}", ignore)
        return out
    if want != got:
        return [f"{path}: want {want!r}, got {got!r}"]
    return []


def is_service_account_token(item: Any) -> bool:
    """The kube-api-access-* volume (and its mounts) Kubernetes' ServiceAccount admission adds to Pods."""
    return isinstance(item, dict) and str(item.get("name", "")).startswith("kube-api-access-")


def lookup(obj: Any, path: str) -> Any:
    """Value at a dotted path (list indexes as numbers), or ABSENT."""
    cur = obj
    for part in path.split("."):
        if isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        elif isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return ABSENT
    return cur


def expectation_failures(obj: dict[str, Any], expect: dict[str, Any]) -> list[str]:
    out = []
    for path, want in expect.items():
        got = lookup(obj, path)
        if want is ABSENT:
            if got is not ABSENT:
                out.append(f"{path}: want absent, got {got!r}")
        elif got is ABSENT or not (want == got):
            out.append(f"{path}: want {want!r}, got {'<absent>' if got is ABSENT else repr(got)}")
    return out


# ----------------------------------------------------------------------------------------
# what the storage controllers make of a PV or claim


def gets_default_class(doc: dict[str, Any]) -> bool:
    """A claim that names no class (neither spec.storageClassName nor the beta annotation): the
    DefaultStorageClass admission plugin gives it the default class on create."""
    annotations = (doc.get("metadata") or {}).get("annotations") or {}
    return (doc["kind"] == "PersistentVolumeClaim" and "storageClassName" not in (doc.get("spec") or {})
            and "volume.beta.kubernetes.io/storage-class" not in annotations)


def settled_phase(doc: dict[str, Any]) -> str | None:
    """The phase the PV controller leaves a seed's PV or claim in, or None when it only passes through.

    - a PV not bound to a claim (no claimRef, or one without uid) is Available;
    - a PV whose claimRef carries a uid names a claim that does not exist here (seed 000 re-creates a PV
      read back from another cluster): Released at once, then reclaimed by its policy -- no fixed end
      state to wait for in these tests (test_seed000_pv_expand_flow follows it);
    - a claim on the default class is provisioned and Bound; a claim of a class no StorageClass has
      (manual, tenx-rbd, slow in these targets) and no PV to match stays Pending.
    """
    if doc["kind"] == "PersistentVolume":
        return None if ((doc.get("spec") or {}).get("claimRef") or {}).get("uid") else "Available"
    if doc["kind"] == "PersistentVolumeClaim":
        return "Bound" if gets_default_class(doc) else "Pending"
    return None


def provisioned_claim_problems(doc: dict[str, Any], live: dict[str, Any]) -> list[str]:
    """A claim on the default class: bound to the volume provisioned for it (pvc-<claim uid>), with the
    annotations Kubernetes' PV controller writes."""
    if not gets_default_class(doc):
        return []
    out = []
    want_volume = f"pvc-{live['metadata']['uid']}"
    if (live.get("spec") or {}).get("volumeName") != want_volume:
        out.append(f"spec.volumeName: want {want_volume!r}, got {(live.get('spec') or {}).get('volumeName')!r}")
    annotations = live["metadata"].get("annotations") or {}
    for key, value in (("pv.kubernetes.io/bind-completed", "yes"), ("pv.kubernetes.io/bound-by-controller", "yes"),
                       ("volume.kubernetes.io/storage-provisioner", DEFAULT_PROVISIONER),
                       ("volume.beta.kubernetes.io/storage-provisioner", DEFAULT_PROVISIONER)):
        if annotations.get(key) != value:
            out.append(f"metadata.annotations[{key}]: want {value!r}, got {annotations.get(key)!r}")
    return out


def settle(t: Any, doc: dict[str, Any]) -> None:
    """Wait (bounded) until a PV or claim reaches the phase the controllers leave it in; on timeout the
    read-back check reports the phase found."""
    want = settled_phase(doc)
    if want is None:
        return
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        if read_back(t, doc).get("status", {}).get("phase") == want:
            return
        time.sleep(0.2)


# ----------------------------------------------------------------------------------------
# Kubernetes defaults every object of a kind must show (as written fields win)


def image_pull_policy(image: str) -> str:
    """Kubernetes' default: Always for :latest or no tag, IfNotPresent otherwise."""
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def pod_spec_defaults(written: dict[str, Any], prefix: str, pod: bool) -> dict[str, Any]:
    """Defaults of a PodSpec (a Pod's or a template's); enableServiceLinks is defaulted for Pods only."""
    exp: dict[str, Any] = {
        f"{prefix}.restartPolicy": written.get("restartPolicy", "Always"),
        f"{prefix}.dnsPolicy": written.get("dnsPolicy", "ClusterFirst"),
        f"{prefix}.terminationGracePeriodSeconds": written.get("terminationGracePeriodSeconds", 30),
        f"{prefix}.schedulerName": written.get("schedulerName", "default-scheduler"),
        f"{prefix}.securityContext": written.get("securityContext", {}),
    }
    if pod:
        exp[f"{prefix}.enableServiceLinks"] = written.get("enableServiceLinks", True)
    for i, c in enumerate(written.get("containers") or []):
        cp = f"{prefix}.containers.{i}"
        exp[f"{cp}.terminationMessagePath"] = c.get("terminationMessagePath", "/dev/termination-log")
        exp[f"{cp}.terminationMessagePolicy"] = c.get("terminationMessagePolicy", "File")
        exp[f"{cp}.imagePullPolicy"] = c.get("imagePullPolicy", image_pull_policy(c["image"]))
        for j, p in enumerate(c.get("ports") or []):
            exp[f"{cp}.ports.{j}.protocol"] = p.get("protocol", "TCP")
    for i, v in enumerate(written.get("volumes") or []):
        if "rbd" in v:
            exp.update(rbd_defaults(v["rbd"], f"{prefix}.volumes.{i}.rbd"))
        if "hostPath" in v:
            exp[f"{prefix}.volumes.{i}.hostPath.type"] = v["hostPath"].get("type", "")
    return exp


def rbd_defaults(rbd: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {f"{prefix}.pool": rbd.get("pool", "rbd"), f"{prefix}.user": rbd.get("user", "admin"),
            f"{prefix}.keyring": rbd.get("keyring", "/etc/ceph/keyring")}


def kubernetes_defaults(doc: dict[str, Any]) -> dict[str, Any]:
    """Fields Kubernetes fills in on create for this manifest (dotted path -> value)."""
    kind = doc["kind"]
    spec = doc.get("spec") or {}
    exp: dict[str, Any] = {}
    if kind == "PersistentVolume":
        exp["spec.persistentVolumeReclaimPolicy"] = spec.get("persistentVolumeReclaimPolicy", "Retain")
        exp["spec.volumeMode"] = spec.get("volumeMode", "Filesystem")
        exp["status.phase"] = settled_phase(doc) or OneOf("Pending", "Released", "Failed")
        if "hostPath" in spec:
            exp["spec.hostPath.type"] = spec["hostPath"].get("type", "")
        if "rbd" in spec:
            exp.update(rbd_defaults(spec["rbd"], "spec.rbd"))
    elif kind == "PersistentVolumeClaim":
        exp["spec.volumeMode"] = spec.get("volumeMode", "Filesystem")
        exp["status.phase"] = settled_phase(doc)
        if gets_default_class(doc):
            exp["spec.storageClassName"] = DEFAULT_CLASS
            exp["status.capacity"] = spec["resources"]["requests"]
            exp["status.accessModes"] = spec["accessModes"]
            exp["metadata.finalizers"] = ["kubernetes.io/pvc-protection"]
    elif kind == "StorageClass":
        exp["reclaimPolicy"] = doc.get("reclaimPolicy", "Delete")
        exp["volumeBindingMode"] = doc.get("volumeBindingMode", "Immediate")
    elif kind == "Secret":
        exp["type"] = doc.get("type", "Opaque")
    elif kind == "Service":
        exp["spec.type"] = spec.get("type", "ClusterIP")
        exp["spec.sessionAffinity"] = spec.get("sessionAffinity", "None")
        exp["spec.internalTrafficPolicy"] = spec.get("internalTrafficPolicy", "Cluster")
        for i, p in enumerate(spec.get("ports") or []):
            exp[f"spec.ports.{i}.protocol"] = p.get("protocol", "TCP")
            exp[f"spec.ports.{i}.targetPort"] = p.get("targetPort", p["port"])
        if spec.get("clusterIP") == "None":
            exp["spec.clusterIPs"] = ["None"]
    elif kind == "Pod":
        exp.update(pod_spec_defaults(spec, "spec", pod=True))
        exp["status.phase"] = "Pending"
    elif kind == "StatefulSet":
        legacy = doc["apiVersion"] in ("apps/v1beta1", "apps/v1beta2")
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
        exp["spec.replicas"] = spec.get("replicas", 1)
        exp["spec.podManagementPolicy"] = spec.get("podManagementPolicy", "OrderedReady")
        exp["spec.revisionHistoryLimit"] = spec.get("revisionHistoryLimit", 10)
        if doc["apiVersion"] == "apps/v1beta1":
            # apps/v1beta1 defaults (SetDefaults_StatefulSet in pkg/apis/apps/v1beta1).
            exp["spec.updateStrategy"] = spec.get("updateStrategy", {"type": "OnDelete"})
            if "selector" not in spec:
                exp["spec.selector"] = {"matchLabels": labels}
            if not (doc.get("metadata") or {}).get("labels"):
                exp["metadata.labels"] = labels
        elif not legacy and "updateStrategy" not in spec:
            exp["spec.updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
        if not legacy:
            exp["spec.persistentVolumeClaimRetentionPolicy"] = spec.get(
                "persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
        tspec = (spec.get("template") or {}).get("spec") or {}
        exp.update(pod_spec_defaults(tspec, "spec.template.spec", pod=False))
        for i, t in enumerate(spec.get("volumeClaimTemplates") or []):
            exp[f"spec.volumeClaimTemplates.{i}.spec.volumeMode"] = (t.get("spec") or {}).get(
                "volumeMode", "Filesystem")
            # claim templates get the PersistentVolumeClaim defaults, status included
            exp[f"spec.volumeClaimTemplates.{i}.status.phase"] = "Pending"
    return exp


# ----------------------------------------------------------------------------------------
# the table of seed manifests


@dataclass(frozen=True)
class Seed:
    file: str
    # (kind, name) -> extra expectations on the object read back (dotted path -> value)
    expect: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # dotted paths of the manifest not expected back as written (server-owned fields)
    ignore: frozenset[str] = frozenset()
    # a second identical `kubectl apply` is a no-op ("unchanged")
    reapply_unchanged: bool = True

    @property
    def path(self) -> str:
        return os.path.join(MANIFESTS, self.file)

    @property
    def docs(self) -> list[dict[str, Any]]:
        return load(self.path)

    @property
    def cluster_scoped(self) -> bool:
        return any(not RESOURCES[d["kind"]][2] for d in self.docs)

    @property
    def fixed_namespace(self) -> bool:
        return any((d.get("metadata") or {}).get("namespace") for d in self.docs)

    @property
    def namespaced(self) -> bool:
        return any(RESOURCES[d["kind"]][2] for d in self.docs)


PV_EXPAND_SERVER_FIELDS = frozenset({"metadata.resourceVersion", "metadata.uid", "metadata.selfLink",
                                     "metadata.creationTimestamp", "status"})

SEEDS = [
    Seed("seed000-mypod.yaml"),
    Seed("seed000-task-pv-volume.yaml"),
    Seed("seed000-task-pv-claim.yaml"),
    Seed("seed000-task-pv-pod.yaml"),
    Seed("seed000-ceph-secret.yaml",
         {("Secret", "ceph-secret"): {"type": "kubernetes.io/rbd"}}),
    Seed("seed000-tenx-rbd-storageclass.yaml",
         {("StorageClass", "tenx-rbd"): {"reclaimPolicy": "Delete", "volumeBindingMode": "Immediate",
                                         "provisioner": "kubernetes.io/rbd"}}),
    Seed("seed000-mysqltest.yaml",
         {("StatefulSet", "mysqltest"): {
             "apiVersion": "apps/v1",
             "metadata.namespace": "kube-system",
             "spec.selector": {"matchLabels": {"app": "mysqltest"}},
             "metadata.labels": {"app": "mysqltest"},
             "spec.updateStrategy": {"type": "OnDelete"},
             "spec.replicas": 2},
          ("Service", "mysqltest"): {"spec.clusterIP": "None", "metadata.namespace": "default"},
          ("Service", "mysqltest-pgytt"): {"spec.externalIPs": ["11.11.1.1"], "metadata.namespace": "default"}},
         ignore=frozenset({"apiVersion"})),
    Seed("seed000-task-pv-claim-tenx-rbd.yaml",
         {("PersistentVolumeClaim", "task-pv-claim"): {"spec.storageClassName": "tenx-rbd"}}),
    Seed("seed000-task-pv-claim-rwo-rox.yaml",
         {("PersistentVolumeClaim", "task-pv-claim"): {"spec.accessModes": ["ReadWriteOnce", "ReadOnlyMany"]}}),
    Seed("seed000-task-pv-pod-rw.yaml"),
    Seed("seed000-task-pv-pod-readonly.yaml"),
    Seed("seed000-pv-expand.yaml",
         {("PersistentVolume", "pvc-47aeb1b2-80c3-11e7-bd70-005056850b72"): {
             # status is not taken from a create request; uid, selfLink, creationTimestamp are the server's.
             # Its claimRef names a claim (with uid) that does not exist here: the PV controller releases it
             # and reclaims it by its policy (followed in test_seed000_pv_expand_flow).
             "status.phase": OneOf("Pending", "Released", "Failed"),
             "metadata.selfLink": ABSENT,
             "spec.claimRef.name": "datadir-rediscluster-0"}},
         ignore=PV_EXPAND_SERVER_FIELDS,
         # the manifest pins metadata.resourceVersion, so kubectl's second apply patch carries a stale
         # resourceVersion: Kubernetes answers Conflict (tested in test_seed000_pv_expand_flow)
         reapply_unchanged=False),
    Seed("seed001-slow-storageclass.yaml",
         {("StorageClass", "slow"): {"parameters": {"resturl": "http://10.170.13.153:8080", "gidMin": "40000",
                                                    "gidMax": "50000", "volumetype": "none"}}}),
    Seed("seed001-gluster-test-claim.yaml",
         # the beta annotation names the class; Kubernetes does not copy it into spec
         {("PersistentVolumeClaim", "gluster-test"): {"spec.storageClassName": ABSENT}}),
    Seed("seed002-rbd-pod-keyring.yaml"),
    Seed("seed002-ceph-secret.yaml",
         {("Secret", "ceph-secret"): {"type": "kubernetes.io/rbd"}}),
    Seed("seed002-rbd-pod-secret.yaml",
         {("Pod", "rbd"): {"spec.volumes.0.rbd.keyring": "/etc/ceph/keyring"}}),
    Seed("seed002-pv-volume.yaml",
         {("PersistentVolume", "pv-volume"): {"spec.rbd.keyring": "/etc/ceph/keyring",
                                              "spec.persistentVolumeReclaimPolicy": "Retain"}}),
    Seed("seed002-pv-claim.yaml"),
    Seed("seed002-pv-pod.yaml"),
    Seed("seed002-pv-www-1.yaml"),
    Seed("seed002-pv-www-2.yaml"),
    Seed("seed002-statefulset-web.yaml",
         {("StatefulSet", "web"): {"spec.updateStrategy": {"type": "RollingUpdate",
                                                          "rollingUpdate": {"partition": 0}},
                                   "spec.template.spec.containers.0.imagePullPolicy": "IfNotPresent"}}),
    Seed("seed003-pv-claim.yaml"),
    Seed("seed003-pv-pod.yaml"),
    Seed("seed004-ceph-secret.yaml", {("Secret", "ceph-secret"): {"type": "Opaque"}}),
    Seed("seed004-ceph-pv.yaml", {("PersistentVolume", "ceph-pv"): {"spec.persistentVolumeReclaimPolicy": "Recycle"}}),
    Seed("seed004-ceph-claim.yaml"),
    Seed("seed004-ceph-pod1.yaml",
         {("Pod", "ceph-pod1"): {"spec.containers.0.imagePullPolicy": "Always"}}),
    Seed("seed004-ceph-pod2.yaml"),
]

# Seed manifests Kubernetes refuses as written (asserted in their own tests below).
REFUSED_AS_WRITTEN = {"seed003-rbd-pod.yaml", "seed003-pv-volume.yaml"}


def test_every_extracted_manifest_is_covered() -> None:
    on_disk = {f for f in os.listdir(MANIFESTS) if f.endswith(".yaml")}
    covered = {s.file for s in SEEDS} | REFUSED_AS_WRITTEN
    assert on_disk == covered
    for f in sorted(on_disk):
        with open(os.path.join(MANIFESTS, f)) as fh:
            first = fh.readline()
        assert re.match(r"# From /work/shared/seeds/\d{3}_[0-9a-f]+\.txt lines \d+-\d+ \(seed \d{3}\)\.", first), f


# ----------------------------------------------------------------------------------------
# fixtures


@dataclass
class Target:
    """Where a seed is applied: a server, and the namespace (or none) passed with -n."""

    server: Any
    namespace: str | None


def _target(seed: Seed, request: pytest.FixtureRequest) -> Iterator[Target]:
    # Manifests with fixed names of cluster-scoped objects or fixed namespaces get a server of their
    # own, so no test sees another's PVs, StorageClasses or default/kube-system content.
    isolated = seed.cluster_scoped or seed.fixed_namespace
    server = request.getfixturevalue("fresh_orlop" if isolated else "orlop")
    ns = None
    if seed.namespaced and not seed.fixed_namespace:
        ns = unique("seed")
        create_namespace(server, ns)
    try:
        yield Target(server, ns)
    finally:
        if ns and not isolated:
            server.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@pytest.fixture
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    yield from _target(request.param, request)


def ns_args(t: Target) -> list[str]:
    return ["-n", t.namespace] if t.namespace else []


def read_back(t: Target, doc: dict[str, Any], version: str | None = None,
              extra: tuple[str, ...] = ()) -> dict[str, Any]:
    meta = doc["metadata"]
    args = ["get", resource_arg(doc["kind"], version), meta["name"], "-o", "json", *extra]
    if RESOURCES[doc["kind"]][2]:
        args += ["-n", meta.get("namespace") or t.namespace or "default"]
    return json.loads(t.server.kubectl(*args).stdout)


def check_object(seed: Seed, doc: dict[str, Any], live: dict[str, Any]) -> list[str]:
    problems = differences(doc, live, ignore=seed.ignore)
    problems += expectation_failures(live, kubernetes_defaults(doc))
    problems += expectation_failures(live, seed.expect.get((doc["kind"], doc["metadata"]["name"]), {}))
    problems += provisioned_claim_problems(doc, live)
    return problems


def params(seeds: list[Seed]) -> list[Any]:
    return [pytest.param(s, id=s.file.removesuffix(".yaml")) for s in seeds]


# ----------------------------------------------------------------------------------------
# every seed manifest: kubectl apply, read back, apply again


# The warnings a Kubernetes 1.32 API server sends with these seeds (kubectl prints them).
SEED_WARNINGS = {
    "seed001-gluster-test-claim.yaml": [
        'Warning: metadata.annotations[volume.beta.kubernetes.io/storage-class]: deprecated since v1.8; '
        'use "storageClassName" attribute instead'],
    "seed004-ceph-pv.yaml": [
        "Warning: spec.persistentVolumeReclaimPolicy: The Recycle reclaim policy is deprecated. Instead, the "
        "recommended approach is to use dynamic provisioning."],
}


@pytest.mark.parametrize("target", params(SEEDS), indirect=True)
def test_seed_apply(target: Target, request: pytest.FixtureRequest) -> None:
    seed: Seed = request.node.callspec.params["target"]
    t = target
    out = t.server.kubectl("apply", "-f", seed.path, *ns_args(t))
    assert out.stdout.splitlines() == [f"{printed_name(d['kind'], d['metadata']['name'])} created"
                                       for d in seed.docs], out.stderr
    assert [line for line in out.stderr.splitlines() if line.startswith("Warning: ")] == \
        SEED_WARNINGS.get(seed.file, [])
    for doc in seed.docs:
        settle(t, doc)

    problems: list[str] = []
    for doc in seed.docs:
        live = read_back(t, doc)
        problems += [f"{doc['kind']}/{doc['metadata']['name']}: {p}" for p in check_object(seed, doc, live)]
        applied = json.loads(live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
        problems += [f"last-applied {p}" for p in differences(json.loads(json.dumps(doc, default=str)), applied,
                                                               ignore=frozenset({"metadata.creationTimestamp"}))]
    assert problems == []

    if seed.reapply_unchanged:
        before = {d["metadata"]["name"]: read_back(t, d)["metadata"]["resourceVersion"] for d in seed.docs}
        again = t.server.kubectl("apply", "-f", seed.path, *ns_args(t))
        assert again.stdout.splitlines() == [f"{printed_name(d['kind'], d['metadata']['name'])} {reapply_word(d)}"
                                             for d in seed.docs]
        after = {d["metadata"]["name"]: read_back(t, d)["metadata"]["resourceVersion"] for d in seed.docs}
        assert after == before


def reapply_word(doc: dict[str, Any]) -> str:
    """What a second identical `kubectl apply` prints.  Kubernetes returns volumeClaimTemplates with
    apiVersion/kind/status filled in; the list is atomic for strategic merge, so kubectl always sends it
    back and prints "configured" (kubernetes/kubernetes#66450) though nothing changes."""
    if doc["kind"] == "StatefulSet" and (doc.get("spec") or {}).get("volumeClaimTemplates"):
        return "configured"
    return "unchanged"


# kubectl create -f in a fresh namespace (manifests that pin a namespace do not fit).
CREATE_SEEDS = [s for s in SEEDS if not s.fixed_namespace]


@pytest.mark.parametrize("target", params(CREATE_SEEDS), indirect=True)
def test_seed_create(target: Target, request: pytest.FixtureRequest) -> None:
    seed: Seed = request.node.callspec.params["target"]
    t = target
    out = t.server.kubectl("create", "-f", seed.path, *ns_args(t))
    assert out.stdout.splitlines() == [f"{printed_name(d['kind'], d['metadata']['name'])} created"
                                       for d in seed.docs], out.stderr
    for doc in seed.docs:
        settle(t, doc)

    problems: list[str] = []
    for doc in seed.docs:
        live = read_back(t, doc, extra=("--show-managed-fields",))
        problems += [f"{doc['kind']}/{doc['metadata']['name']}: {p}" for p in check_object(seed, doc, live)]
        annotations = live["metadata"].get("annotations") or {}
        if "kubectl.kubernetes.io/last-applied-configuration" in annotations:
            problems.append(f"{doc['metadata']['name']}: kubectl create must not leave a last-applied annotation")
        managers = {(m["manager"], m["operation"]) for m in live["metadata"].get("managedFields") or []}
        if ("kubectl-create", "Update") not in managers:
            problems.append(f"{doc['metadata']['name']}: managedFields {managers} lack kubectl-create/Update")
    assert problems == []

    # Creating the same objects again: AlreadyExists for each, as Kubernetes words it.
    again = t.server.kubectl("create", "-f", seed.path, *ns_args(t), check=False)
    assert again.returncode == 1
    for doc in seed.docs:
        plural, group, _ = RESOURCES[doc["kind"]]
        qualified = f"{plural}.{group}" if group else plural
        line = (f'Error from server (AlreadyExists): error when creating "{seed.path}": '
                f'{qualified} "{doc["metadata"]["name"]}" already exists')
        assert line in again.stderr.splitlines(), again.stderr


# ----------------------------------------------------------------------------------------
# seed-specific flows


def test_seed000_mysqltest_apps_v1beta1_statefulset_reads_as_both_versions(fresh_orlop: Any) -> None:
    """Seed 000's apps/v1beta1 StatefulSet: selector, labels and OnDelete strategy defaulted by v1beta1
    rules; readable as apps/v1 (the storage version) and as apps/v1beta1."""
    o = fresh_orlop
    path = os.path.join(MANIFESTS, "seed000-mysqltest.yaml")
    o.kubectl("apply", "-f", path)

    def read(version: str) -> dict[str, Any]:
        return json.loads(o.kubectl("get", f"statefulsets.{version}.apps", "mysqltest", "-n", "kube-system",
                                    "-o", "json").stdout)
    # The two reads compare one revision: the StatefulSet controller writes status meanwhile, so read
    # until no write came between them.
    for _ in range(50):
        v1, beta = read("v1"), read("v1beta1")
        if read("v1")["metadata"]["resourceVersion"] == v1["metadata"]["resourceVersion"]:
            break
        time.sleep(0.2)
    assert v1["apiVersion"] == "apps/v1"
    assert beta["apiVersion"] == "apps/v1beta1"
    for obj in (v1, beta):
        assert obj["kind"] == "StatefulSet"
        assert obj["spec"]["selector"] == {"matchLabels": {"app": "mysqltest"}}
        assert obj["metadata"]["labels"] == {"app": "mysqltest"}
        assert obj["spec"]["updateStrategy"] == {"type": "OnDelete"}
        assert obj["spec"]["serviceName"] == "mysqltest"
        assert obj["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"] == ["ReadWriteMany"]
        assert obj["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "tenx-rbd"
    assert v1["metadata"]["uid"] == beta["metadata"]["uid"]
    assert v1["metadata"]["resourceVersion"] == beta["metadata"]["resourceVersion"]
    # `kubectl get sts` (preferred version) finds it too, and the Services went to "default".
    names = o.kubectl("get", "sts", "-n", "kube-system", "-o", "name").stdout.split()
    assert "statefulset.apps/mysqltest" in names
    svcs = o.kubectl("get", "svc", "-n", "default", "-o", "name").stdout.split()
    assert {"service/mysqltest", "service/mysqltest-pgytt"} <= set(svcs)


def test_seed000_pv_expand_flow(fresh_orlop: Any) -> None:
    """Seed 000 grows an RBD-backed PV by editing spec.capacity.storage and sending it back.

    The PV was read back from another cluster: its claimRef names a claim (with uid) that does not exist
    here, so the PV controller releases it and reclaims it by its policy, Delete.  orlop serves the
    kubernetes.io/rbd plugin (Kubernetes did until 1.31), whose deleter takes the admin credentials from
    the PV's StorageClass; tenx-rbd does not exist on this server, so the deletion fails as Kubernetes'
    did: phase Failed, status.message and a Warning VolumeFailedDelete event say
    'storageclasses.storage.k8s.io "tenx-rbd" not found' (getAdminAndSecret -> GetClassForVolume), and it
    is tried again at each resync.  With HonorPVReclaimPolicy (on by default since 1.31) syncVolume also
    adds the in-tree deletion-protection finalizer kubernetes.io/pv-controller to this dynamically
    provisioned Delete volume.
    """
    o = fresh_orlop
    path = os.path.join(MANIFESTS, "seed000-pv-expand.yaml")
    name = "pvc-47aeb1b2-80c3-11e7-bd70-005056850b72"
    # kubectl create/apply clear metadata.resourceVersion before POSTing; the server assigns uid and
    # creationTimestamp and ignores the status of a create request.
    assert o.kubectl("apply", "-f", path).stdout == f"persistentvolume/{name} created\n"
    live = json.loads(o.kubectl("get", "pv", name, "-o", "json").stdout)
    assert live["metadata"]["uid"] != "47c03480-80c3-11e7-bd70-005056850b72"
    assert not live["metadata"]["creationTimestamp"].startswith("2017-")
    assert live["status"]["phase"] in ("Pending", "Released", "Failed")
    assert live["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == "kubernetes.io/rbd"
    assert live["spec"]["capacity"] == {"storage": "1Gi"}

    # Let the controller settle (Kubernetes: Failed) before editing, so the edit is not raced by its
    # writes; the outcome is asserted at the end, after the seed's own flow.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        live = json.loads(o.kubectl("get", "pv", name, "-o", "json").stdout)
        if live["status"].get("phase") == "Failed":
            break
        time.sleep(0.3)
    settled = live

    # Applying the file again sends its stale resourceVersion in the patch: Conflict.
    again = o.kubectl("apply", "-f", path, check=False)
    assert again.returncode == 1
    assert "Error from server (Conflict)" in again.stderr
    assert (f'Operation cannot be fulfilled on persistentvolumes "{name}": the object has been modified; '
            "please apply your changes to the latest version and try again") in again.stderr

    # The edit as the notes make it: the live object with a bigger capacity, sent back with PUT.
    live = json.loads(o.kubectl("get", "pv", name, "-o", "json").stdout)
    live["spec"]["capacity"]["storage"] = "2Gi"
    out = o.kubectl("replace", "-f", "-", input=json.dumps(live))
    assert out.stdout == f"persistentvolume/{name} replaced\n"
    assert o.kubectl("get", "pv", name, "-o", "jsonpath={.spec.capacity.storage}").stdout == "2Gi"
    _, rows = parse_table(o.kubectl("get", "pv", name).stdout)
    assert rows[0]["CAPACITY"] == "2Gi"

    # The reclaim outcome, as Kubernetes 1.32 leaves it.
    message = 'storageclasses.storage.k8s.io "tenx-rbd" not found'
    assert (settled["status"].get("phase"), settled["status"].get("message")) == ("Failed", message), \
        settled["status"]
    assert sorted(settled["metadata"].get("finalizers") or []) == ["kubernetes.io/pv-controller",
                                                                   "kubernetes.io/pv-protection"]
    events = json.loads(o.kubectl("get", "events", "-n", "default", "--field-selector",
                                  f"involvedObject.name={name}", "-o", "json").stdout)["items"]
    assert {(e["type"], e["reason"], e["message"]) for e in events} == {("Warning", "VolumeFailedDelete", message)}
    assert rows[0]["STATUS"] == "Failed"


def test_seed003_rbd_pod_with_unknown_rbd_fields(orlop: Any) -> None:
    """Seed 003's inline RBD Pod has 'imageformat'/'imagefeatures', which RBDVolumeSource lacks:
    Kubernetes refuses it under kubectl's default strict validation, warns under
    --validate=warn, and drops the fields silently under --validate=false."""
    path = os.path.join(MANIFESTS, "seed003-rbd-pod.yaml")
    ns = unique("seed")
    create_namespace(orlop, ns)
    try:
        strict = orlop.kubectl("apply", "-f", path, "-n", ns, check=False)
        assert strict.returncode == 1
        assert strict.stdout == ""
        assert (f'Error from server (BadRequest): error when creating "{path}": Pod in version "v1" cannot be '
                'handled as a Pod: strict decoding error: ') in strict.stderr
        assert 'unknown field "spec.volumes[0].rbd.imageformat"' in strict.stderr
        assert 'unknown field "spec.volumes[0].rbd.imagefeatures"' in strict.stderr
        assert orlop.kubectl("get", "pod", "rbd", "-n", ns, check=False).returncode == 1

        warn = orlop.kubectl("apply", "-f", path, "-n", ns, "--validate=warn")
        assert warn.stdout == "pod/rbd created\n"
        warnings = [line for line in warn.stderr.splitlines() if line.startswith("Warning: ")]
        assert sorted(warnings) == ['Warning: unknown field "spec.volumes[0].rbd.imagefeatures"',
                                    'Warning: unknown field "spec.volumes[0].rbd.imageformat"']
        live = json.loads(orlop.kubectl("get", "pod", "rbd", "-n", ns, "-o", "json").stdout)
        rbd = live["spec"]["volumes"][0]["rbd"]
        assert "imageformat" not in rbd and "imagefeatures" not in rbd
        assert rbd["monitors"] == ["10.16.154.78:6789", "10.16.154.82:6789", "10.16.154.83:6789"]
        assert rbd["readOnly"] is True and rbd["fsType"] == "ext4" and rbd["keyring"] == "/etc/ceph/keyring"

        orlop.kubectl("delete", "pod", "rbd", "-n", ns)
        ignore = orlop.kubectl("create", "-f", path, "-n", ns, "--validate=false")
        assert ignore.stdout == "pod/rbd created\n"
        assert "Warning" not in ignore.stderr
    finally:
        orlop.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_seed003_pv_without_access_modes_is_invalid(fresh_orlop: Any) -> None:
    """Seed 003's PV has unknown RBD fields (strict: BadRequest) and no accessModes, which
    Kubernetes requires of every PV (422 even when unknown fields are ignored)."""
    o = fresh_orlop
    path = os.path.join(MANIFESTS, "seed003-pv-volume.yaml")
    strict = o.kubectl("apply", "-f", path, check=False)
    assert strict.returncode == 1
    assert (f'Error from server (BadRequest): error when creating "{path}": PersistentVolume in version "v1" '
            'cannot be handled as a PersistentVolume: strict decoding error: ') in strict.stderr
    assert 'unknown field "spec.rbd.imageformat"' in strict.stderr
    assert 'unknown field "spec.rbd.imagefeatures"' in strict.stderr

    lax = o.kubectl("apply", "-f", path, "--validate=false", check=False)
    assert lax.returncode == 1
    assert lax.stderr == 'The PersistentVolume "pv-volume" is invalid: spec.accessModes: Required value\n'
    assert o.kubectl("get", "pv", "pv-volume", check=False).stderr == \
        'Error from server (NotFound): persistentvolumes "pv-volume" not found\n'


def test_seed002_statefulset_web_with_pre_made_rbd_pvs(fresh_orlop: Any) -> None:
    """Seed 002 exercise four: the Secret, the two RBD PVs and StatefulSet web, as the notes create them.

    The notes' cluster has no default StorageClass, so the set's claims bind the pre-made PVs;
    on orlop the administrator first makes local-path not the default (as Kubernetes' docs
    say).  web-0's claim binds pv-www-1; RBD volumes are mounted by the Ceph backend (not on
    this node), so web-0 stays ContainerCreating with a FailedMount event and, OrderedReady,
    web-1 is not created yet."""
    o = fresh_orlop
    o.kubectl("patch", "storageclass", "local-path", "-p",
              '{"metadata":{"annotations":{"storageclass.kubernetes.io/is-default-class":"false"}}}')
    for f in ("seed002-ceph-secret.yaml", "seed002-pv-www-1.yaml", "seed002-pv-www-2.yaml",
              "seed002-statefulset-web.yaml"):
        o.kubectl("create", "-f", os.path.join(MANIFESTS, f))
    wait_until(lambda: json.loads(o.kubectl("get", "pvc", "www-web-0", "-o", "json", check=False).stdout or "{}")
               .get("status", {}).get("phase") == "Bound", 30, "www-web-0 to bind")
    header, rows = parse_table(o.kubectl("get", "pv").stdout)
    assert header == ["NAME", "CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS",
                      "VOLUMEATTRIBUTESCLASS", "REASON", "AGE"]
    by_name = {r["NAME"]: r for r in rows}
    assert sorted(by_name) == ["pv-www-1", "pv-www-2"]
    assert (by_name["pv-www-1"]["STATUS"], by_name["pv-www-1"]["CLAIM"]) == ("Bound", "default/www-web-0")
    assert (by_name["pv-www-2"]["STATUS"], by_name["pv-www-2"]["CLAIM"]) == ("Available", "")
    for r in rows:
        assert (r["CAPACITY"], r["ACCESS MODES"], r["RECLAIM POLICY"]) == ("10Gi", "RWO", "Retain")
    sts = json.loads(o.kubectl("get", "sts", "web", "-o", "json").stdout)
    assert sts["spec"]["serviceName"] == "nginx"
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "www"

    def mount_failed() -> bool:
        evs = json.loads(o.kubectl("get", "events", "--field-selector", "involvedObject.name=web-0",
                                   "-o", "json").stdout)["items"]
        return any(e["reason"] == "FailedMount" for e in evs)
    wait_until(mount_failed, 60, "web-0's FailedMount event")
    _, rows = parse_table(o.kubectl("get", "pod", "web-0").stdout)
    assert (rows[0]["READY"], rows[0]["STATUS"]) == ("0/1", "ContainerCreating")
    assert o.kubectl("get", "pod", "web-1", check=False).returncode == 1


def test_seed000_secret_data_round_trips(orlop: Any) -> None:
    """The Ceph key in seed 000's Secret comes back byte for byte (base64 in data)."""
    path = os.path.join(MANIFESTS, "seed000-ceph-secret.yaml")
    ns = unique("seed")
    create_namespace(orlop, ns)
    try:
        orlop.kubectl("apply", "-f", path, "-n", ns)
        key = orlop.kubectl("get", "secret", "ceph-secret", "-n", ns, "-o", "jsonpath={.data.key}").stdout
        assert key == load(path)[0]["data"]["key"]
        assert base64.b64decode(key) == b"AQA9mUNZFR5eChAAqFlH2KC7sfjjLxB3fPRTwA=="
        desc = orlop.kubectl("describe", "secret", "ceph-secret", "-n", ns).stdout
        assert re.search(r"^Type:\s+kubernetes\.io/rbd$", desc, re.M)
        assert re.search(r"^key:\s+40 bytes$", desc, re.M)
    finally:
        orlop.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_manifests_are_kept_as_written() -> None:
    """The extracted files parse to the objects of the notes (spot checks of fixes and splits)."""
    web = load(os.path.join(MANIFESTS, "seed002-statefulset-web.yaml"))[0]
    assert web["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] == [
        {"name": "www", "mountPath": "/usr/share/nginx/html"}]
    mysql = load(os.path.join(MANIFESTS, "seed000-mysqltest.yaml"))
    assert [d["kind"] for d in mysql] == ["Service", "Service", "StatefulSet"]
    c = mysql[2]["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "192.168.1.52/tenx_containers/mysql-galera:e2e"
    assert [p["containerPort"] for p in c["ports"]] == [3306, 4444, 4567, 4568]
    assert [v["name"] for v in mysql[2]["spec"]["template"]["spec"]["volumes"]] == ["config", "workdir"]
    assert mysql[2]["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "512Mi"
    pv1 = load(os.path.join(MANIFESTS, "seed002-pv-www-1.yaml"))
    pv2 = load(os.path.join(MANIFESTS, "seed002-pv-www-2.yaml"))
    assert [d["metadata"]["name"] for d in pv1 + pv2] == ["pv-www-1", "pv-www-2"]
    assert copy.deepcopy(pv1[0])["spec"]["rbd"]["image"] == "www-1"
