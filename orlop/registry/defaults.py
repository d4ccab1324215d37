"""Server-side defaulting, as Kubernetes 1.32's ``SetDefaults_*`` functions do it.

Why this exists: a real API server fills in fields the client left out (reclaim policy
Retain, volumeMode Filesystem, a pod's restartPolicy, a StatefulSet's updateStrategy ...)
and writes quantities back in canonical form before anything is validated or stored.
kubectl and the Python client show those values, and the controllers rely on them, so
orlop must produce the same objects from the same manifests.

``apply_defaults(kind, obj)`` works in place on the JSON dict of an object in its storage
version (apps/v1 for StatefulSets: convert legacy versions first, see conversion.py).
It never raises: a malformed part is left alone for validation to report.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from orlop.quantity import canonical_quantity

__all__ = ["apply_defaults", "default_pod_spec", "canonicalize_quantities", "image_pull_policy"]

JSON = dict[str, Any]


def _d(parent: Any, key: str) -> JSON | None:
    """parent[key] if both are dicts."""
    if isinstance(parent, dict):
        v = parent.get(key)
        if isinstance(v, dict):
            return v
    return None


def _ensure(parent: JSON, key: str) -> JSON | None:
    """parent[key] as a dict, created when absent or null; None if it has another type."""
    v = parent.get(key)
    if v is None:
        v = {}
        parent[key] = v
    return v if isinstance(v, dict) else None


def _l(parent: Any, key: str) -> list[Any]:
    if isinstance(parent, dict):
        v = parent.get(key)
        if isinstance(v, list):
            return v
    return []


def _dicts(parent: Any, key: str) -> list[JSON]:
    return [x for x in _l(parent, key) if isinstance(x, dict)]


def _unset(d: JSON, key: str) -> bool:
    """Go's zero-value test for a string field: absent, null or ""."""
    return d.get(key) in (None, "")


def _setdefault(d: JSON, key: str, value: Any) -> None:
    if _unset(d, key):
        d[key] = value


# --------------------------------------------------------------------------- quantities

@lru_cache(maxsize=4096)
def _canonical_text(text: str, round_milli: bool) -> str:
    return canonical_quantity(text, round_milli=round_milli)


def _canonical(v: str | int | float, round_milli: bool = False) -> str:
    """canonical_quantity, remembered for texts (the same few sizes come with every write)."""
    if type(v) is str:
        return _canonical_text(v, round_milli)
    return canonical_quantity(v, round_milli=round_milli)


def _canon_map(m: Any, round_milli: bool) -> None:
    if not isinstance(m, dict):
        return
    for k, v in list(m.items()):
        if isinstance(v, (str, int, float)) and not isinstance(v, bool):
            try:
                m[k] = _canonical(v, round_milli)
            except ValueError:
                pass  # left for validation to report


def _canon_one(parent: Any, key: str) -> None:
    if isinstance(parent, dict) and key in parent:
        v = parent[key]
        if isinstance(v, (str, int, float)) and not isinstance(v, bool):
            try:
                parent[key] = _canonical(v)
            except ValueError:
                pass


def _canon_resources(res: Any) -> None:
    """ResourceRequirements / VolumeResourceRequirements: both ResourceLists."""
    if isinstance(res, dict):
        _canon_map(res.get("limits"), True)
        _canon_map(res.get("requests"), True)


def _canon_container(c: JSON) -> None:
    _canon_resources(c.get("resources"))
    for env in _dicts(c, "env"):
        _canon_one(_d(_d(env, "valueFrom"), "resourceFieldRef"), "divisor")


def _canon_downward_items(items: list[JSON]) -> None:
    for item in items:
        _canon_one(_d(item, "resourceFieldRef"), "divisor")


def _canon_pod_spec(spec: Any) -> None:
    if not isinstance(spec, dict):
        return
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for c in _dicts(spec, key):
            _canon_container(c)
    _canon_map(spec.get("overhead"), True)
    _canon_resources(spec.get("resources"))
    for vol in _dicts(spec, "volumes"):
        _canon_one(_d(vol, "emptyDir"), "sizeLimit")
        _canon_downward_items(_dicts(_d(vol, "downwardAPI"), "items"))
        for src in _dicts(_d(vol, "projected"), "sources"):
            _canon_downward_items(_dicts(_d(src, "downwardAPI"), "items"))
        tmpl = _d(_d(vol, "ephemeral"), "volumeClaimTemplate")
        _canon_resources(_d(_d(tmpl, "spec"), "resources"))


def canonicalize_quantities(kind: str, obj: JSON) -> None:
    """Rewrite every valid quantity of ``obj`` in canonical form, as the apiserver's
    decode (and ResourceList defaulting, which rounds up to 1m) does."""
    spec = _d(obj, "spec")
    status = _d(obj, "status")
    if kind == "PersistentVolume":
        if spec is not None:
            _canon_map(spec.get("capacity"), True)
    elif kind == "PersistentVolumeClaim":
        _canon_resources(_d(spec, "resources"))
        if status is not None:
            _canon_map(status.get("capacity"), True)
            _canon_map(status.get("allocatedResources"), True)
    elif kind == "Pod":
        _canon_pod_spec(spec)
        if status is not None:
            for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
                for cs in _dicts(status, key):
                    _canon_map(cs.get("allocatedResources"), True)
                    _canon_resources(cs.get("resources"))
    elif kind == "StatefulSet":
        _canon_pod_spec(_d(_d(spec, "template"), "spec"))
        for claim in _dicts(spec, "volumeClaimTemplates"):
            _canon_resources(_d(_d(claim, "spec"), "resources"))
            _canon_map(_d(_d(claim, "status"), "capacity"), True)
    elif kind == "Node":
        if status is not None:
            _canon_map(status.get("capacity"), True)
            _canon_map(status.get("allocatable"), True)


# --------------------------------------------------------------------------- pods

# distribution/reference grammar, enough to find an image's tag as kubelet's parser does.
_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = f"{_ALNUM}(?:{_SEP}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_NAME = f"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_REFERENCE_RE = re.compile(
    rf"^({_NAME})(?::([\w][\w.-]{{0,127}}))?(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{{32,}}))?$")


def image_pull_policy(image: Any) -> str:
    """SetDefaults_Container's choice: Always for ":latest" or no tag, else IfNotPresent
    (an unparseable reference, e.g. with upper case letters, also gets IfNotPresent)."""
    if not isinstance(image, str):
        return "IfNotPresent"
    m = _REFERENCE_RE.match(image)
    if not m or len(m.group(1)) > 255:
        return "IfNotPresent"
    tag, digest = m.group(2), m.group(3)
    if tag is None and digest is None:
        tag = "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                       ("failureThreshold", 3)):
        if probe.get(key) in (None, 0):
            probe[key] = value
    _default_handler(probe)


def _default_handler(handler: Any) -> None:
    http = _d(handler, "httpGet")
    if http is not None:
        _setdefault(http, "path", "/")
        _setdefault(http, "scheme", "HTTP")
    grpc = _d(handler, "grpc")
    if grpc is not None and grpc.get("service") is None:
        grpc["service"] = ""


def _default_field_ref(ref: Any) -> None:
    if isinstance(ref, dict):
        _setdefault(ref, "apiVersion", "v1")


def _default_container(c: JSON, host_network: bool) -> None:
    if _unset(c, "imagePullPolicy"):
        c["imagePullPolicy"] = image_pull_policy(c.get("image"))
    _setdefault(c, "terminationMessagePath", "/dev/termination-log")
    _setdefault(c, "terminationMessagePolicy", "File")
    for port in _dicts(c, "ports"):
        _setdefault(port, "protocol", "TCP")
        if host_network and port.get("hostPort") in (None, 0):
            port["hostPort"] = port.get("containerPort")
    for env in _dicts(c, "env"):
        _default_field_ref(_d(_d(env, "valueFrom"), "fieldRef"))
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(c.get(key))
    lifecycle = _d(c, "lifecycle")
    for key in ("postStart", "preStop"):
        _default_handler(_d(lifecycle, key))


def _default_downward_items(items: list[JSON]) -> None:
    for item in items:
        _default_field_ref(item.get("fieldRef"))


_VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs",
    "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker",
    "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk",
    "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral",
    "image",
)


def _default_rbd(rbd: Any) -> None:
    if isinstance(rbd, dict):
        _setdefault(rbd, "pool", "rbd")
        _setdefault(rbd, "user", "admin")
        _setdefault(rbd, "keyring", "/etc/ceph/keyring")


def _default_common_sources(src: JSON) -> None:
    """Defaults shared by pod volumes and PersistentVolume sources."""
    host_path = _d(src, "hostPath")
    if host_path is not None and host_path.get("type") is None:
        host_path["type"] = ""
    _default_rbd(src.get("rbd"))
    iscsi = _d(src, "iscsi")
    if iscsi is not None:
        _setdefault(iscsi, "iscsiInterface", "default")
    azure = _d(src, "azureDisk")
    if azure is not None:
        _setdefault(azure, "cachingMode", "ReadWrite")
        _setdefault(azure, "fsType", "ext4")
        if azure.get("readOnly") is None:
            azure["readOnly"] = False
        _setdefault(azure, "kind", "Shared")
    scale_io = _d(src, "scaleIO")
    if scale_io is not None:
        _setdefault(scale_io, "storageMode", "ThinProvisioned")
        _setdefault(scale_io, "fsType", "xfs")


def _default_volume(vol: JSON) -> None:
    if not any(vol.get(k) is not None for k in _VOLUME_SOURCES):
        vol["emptyDir"] = {}  # SetDefaults_Volume
    _default_common_sources(vol)
    for key in ("secret", "configMap", "downwardAPI", "projected"):
        src = _d(vol, key)
        if src is not None and src.get("defaultMode") is None:
            src["defaultMode"] = 420
    _default_downward_items(_dicts(_d(vol, "downwardAPI"), "items"))
    for src in _dicts(_d(vol, "projected"), "sources"):
        _default_downward_items(_dicts(_d(src, "downwardAPI"), "items"))
        token = _d(src, "serviceAccountToken")
        if token is not None and token.get("expirationSeconds") is None:
            token["expirationSeconds"] = 3600
    tmpl = _d(_d(vol, "ephemeral"), "volumeClaimTemplate")
    claim_spec = _d(tmpl, "spec")
    if claim_spec is not None:
        _setdefault(claim_spec, "volumeMode", "Filesystem")


def default_pod_spec(spec: Any, *, is_pod: bool = False) -> None:
    """SetDefaults_PodSpec and everything below it (containers, volumes, probes).
    ``is_pod``: a Pod's own spec (host-network ports are defaulted only there in 1.32)."""
    if not isinstance(spec, dict):
        return
    _setdefault(spec, "dnsPolicy", "ClusterFirst")
    _setdefault(spec, "restartPolicy", "Always")
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    _setdefault(spec, "schedulerName", "default-scheduler")
    host_network = is_pod and spec.get("hostNetwork") is True
    for key in ("containers", "initContainers"):
        for c in _dicts(spec, key):
            _default_container(c, host_network)
    for c in _dicts(spec, "ephemeralContainers"):
        _default_container(c, False)
    for vol in _dicts(spec, "volumes"):
        _default_volume(vol)


def _default_pod(obj: JSON) -> None:
    spec = _d(obj, "spec")
    if spec is None:
        return
    # SetDefaults_Pod (only for Pods, not templates): requests default to limits.
    for key in ("containers", "initContainers"):
        for c in _dicts(spec, key):
            res = _d(c, "resources")
            limits = _d(res, "limits")
            if res is not None and limits:
                requests = _ensure(res, "requests")
                if requests is not None:
                    for name, value in limits.items():
                        requests.setdefault(name, value)
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    default_pod_spec(spec, is_pod=True)


# --------------------------------------------------------------------------- storage kinds

def _default_pv(obj: JSON) -> None:
    spec = _d(obj, "spec")
    if spec is None:
        return
    _setdefault(spec, "persistentVolumeReclaimPolicy", "Retain")
    if spec.get("volumeMode") is None:
        spec["volumeMode"] = "Filesystem"
    _default_common_sources(spec)


def _default_claim_spec(spec: Any) -> None:
    if isinstance(spec, dict) and spec.get("volumeMode") is None:
        spec["volumeMode"] = "Filesystem"


def _default_pvc(obj: JSON) -> None:
    _default_claim_spec(_d(obj, "spec"))


def _default_storage_class(obj: JSON) -> None:
    if obj.get("reclaimPolicy") is None:
        obj["reclaimPolicy"] = "Delete"
    if obj.get("volumeBindingMode") is None:
        obj["volumeBindingMode"] = "Immediate"


# --------------------------------------------------------------------------- apps

def _default_statefulset(obj: JSON) -> None:
    spec = _d(obj, "spec")
    if spec is None:
        return
    _setdefault(spec, "podManagementPolicy", "OrderedReady")
    strategy = _ensure(spec, "updateStrategy")
    if strategy is not None:
        if _unset(strategy, "type"):
            strategy["type"] = "RollingUpdate"
            if strategy.get("rollingUpdate") is None:
                strategy["rollingUpdate"] = {}
        rolling = _d(strategy, "rollingUpdate")
        if strategy.get("type") == "RollingUpdate" and rolling is not None:
            if rolling.get("partition") is None:
                rolling["partition"] = 0
    retention = _ensure(spec, "persistentVolumeClaimRetentionPolicy")
    if retention is not None:
        _setdefault(retention, "whenDeleted", "Retain")
        _setdefault(retention, "whenScaled", "Retain")
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    template = _d(spec, "template")
    if template is not None:
        meta = _ensure(template, "metadata")
        if meta is not None and "creationTimestamp" not in meta:
            meta["creationTimestamp"] = None  # how Go serializes the embedded zero time
        default_pod_spec(template.get("spec"))
    for claim in _dicts(spec, "volumeClaimTemplates"):
        # The apps/v1 conversion stamps TypeMeta on the embedded claims and the claim
        # defaulters give them a spec.volumeMode and a Pending phase.
        claim.setdefault("apiVersion", "v1")
        claim.setdefault("kind", "PersistentVolumeClaim")
        meta = _ensure(claim, "metadata")
        if meta is not None and "creationTimestamp" not in meta:
            meta["creationTimestamp"] = None
        _default_claim_spec(claim.get("spec"))
        status = _ensure(claim, "status")
        if status is not None:
            _setdefault(status, "phase", "Pending")


# --------------------------------------------------------------------------- core kinds

def _default_service(obj: JSON) -> None:
    spec = _d(obj, "spec")
    if spec is None:
        return
    _setdefault(spec, "sessionAffinity", "None")
    _setdefault(spec, "type", "ClusterIP")
    svc_type = spec.get("type")
    for port in _dicts(spec, "ports"):
        _setdefault(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    if spec.get("sessionAffinity") == "ClientIP":
        cfg = _ensure(spec, "sessionAffinityConfig")
        client_ip = _ensure(cfg, "clientIP") if cfg is not None else None
        if client_ip is not None and client_ip.get("timeoutSeconds") is None:
            client_ip["timeoutSeconds"] = 10800
    if svc_type in ("NodePort", "LoadBalancer") or (svc_type == "ClusterIP" and _l(spec, "externalIPs")):
        _setdefault(spec, "externalTrafficPolicy", "Cluster")  # externally accessible
    if svc_type == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True
    if spec.get("internalTrafficPolicy") is None and svc_type in ("NodePort", "LoadBalancer", "ClusterIP"):
        spec["internalTrafficPolicy"] = "Cluster"
    if svc_type == "ExternalName":
        return
    # The service REST storage keeps clusterIP and clusterIPs in step and picks the IP
    # families (single-stack IPv4 cluster) before validation.
    cluster_ip = spec.get("clusterIP")
    cluster_ips = spec.get("clusterIPs")
    if isinstance(cluster_ip, str) and cluster_ip and not cluster_ips:
        spec["clusterIPs"] = [cluster_ip]
    elif (cluster_ip in (None, "") and isinstance(cluster_ips, list) and cluster_ips
          and isinstance(cluster_ips[0], str)):
        spec["clusterIP"] = cluster_ips[0]
    headless = spec.get("clusterIPs") == ["None"]
    if spec.get("ipFamilyPolicy") is None:
        if headless and not spec.get("selector"):
            spec["ipFamilyPolicy"] = "RequireDualStack"
        else:
            spec["ipFamilyPolicy"] = "SingleStack"
    if not spec.get("ipFamilies"):
        if spec.get("ipFamilyPolicy") == "RequireDualStack" or (
                headless and spec.get("ipFamilyPolicy") == "PreferDualStack"):
            spec["ipFamilies"] = ["IPv4", "IPv6"]
        else:
            ip = spec.get("clusterIP")
            spec["ipFamilies"] = ["IPv6" if isinstance(ip, str) and ":" in ip else "IPv4"]


def _default_endpoints(obj: JSON) -> None:
    for subset in _dicts(obj, "subsets"):
        for port in _dicts(subset, "ports"):
            _setdefault(port, "protocol", "TCP")


def _default_secret(obj: JSON) -> None:
    _setdefault(obj, "type", "Opaque")
    # Convert_v1_Secret_To_core_Secret: stringData overwrites data and is never stored.
    string_data = obj.get("stringData")
    if isinstance(string_data, dict) and all(isinstance(v, str) for v in string_data.values()):
        if string_data:
            data = obj.get("data")
            if data is None:
                data = {}
                obj["data"] = data
            if isinstance(data, dict):
                for k, v in string_data.items():
                    data[k] = base64.b64encode(v.encode()).decode()
                del obj["stringData"]
        else:
            del obj["stringData"]
    elif string_data is None and "stringData" in obj:
        del obj["stringData"]


def _default_namespace(obj: JSON) -> None:
    meta = _d(obj, "metadata")
    if meta is not None:
        name = meta.get("name")
        if isinstance(name, str) and name:
            labels = _ensure(meta, "labels")
            if labels is not None:
                labels["kubernetes.io/metadata.name"] = name
    status = _ensure(obj, "status")
    if status is not None:
        _setdefault(status, "phase", "Active")


def _default_node(obj: JSON) -> None:
    status = _d(obj, "status")
    if status is not None and status.get("allocatable") is None and isinstance(status.get("capacity"), dict):
        status["allocatable"] = dict(status["capacity"])


_DEFAULTERS: dict[str, Callable[[JSON], None]] = {
    "PersistentVolume": _default_pv,
    "PersistentVolumeClaim": _default_pvc,
    "Pod": _default_pod,
    "Service": _default_service,
    "StatefulSet": _default_statefulset,
    "StorageClass": _default_storage_class,
    "Secret": _default_secret,
    "Namespace": _default_namespace,
    "Node": _default_node,
    "Endpoints": _default_endpoints,
}


def _register_custom_resources() -> None:
    """Custom resources take their CRD schemas' defaults (crd.py)."""
    from . import crd
    _DEFAULTERS.update(crd.defaulters())


_register_custom_resources()


def apply_defaults(kind: str, obj: Any) -> None:
    """Apply Kubernetes' defaults for ``kind`` to ``obj`` in place (never raises).
    Event, ConfigMap and Lease have no defaults; quantities are canonicalized for all."""
    if not isinstance(obj, dict):
        return
    fn = _DEFAULTERS.get(kind)
    if fn is not None:
        fn(obj)
    canonicalize_quantities(kind, obj)
