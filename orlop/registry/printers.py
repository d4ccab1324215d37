"""Server-side Table printing: the columns and cells ``kubectl get`` shows.

Why this exists: for human output kubectl asks for ``as=Table`` and prints exactly the
columns and cells the server returns, so every column definition and every cell rule of
Kubernetes 1.32 (``pkg/printers/internalversion/printers.go``) has to be reproduced here
for the kinds orlop serves: the wrong STATUS, AGE or ACCESS MODES is a visible bug.
Kinds without a printer get the apiserver's default table (``NAME``, ``CREATED AT``).

Cells are typed as Kubernetes types them (AGE is a string, DATA / COUNT are integers,
ALLOWVOLUMEEXPANSION is a boolean).  The server always prints "wide", so
``table_cells`` returns every column's cell, priority-1 columns included.
Objects are the v1 JSON dicts as stored; where Kubernetes' own decoding would have
defaulted a field before printing (StatefulSet replicas, Service type and port
protocol, Secret type), the printer applies that default too; capacities print in
Quantity's canonical form ("1024Mi" shows as "1Gi").
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from ..quantity import canonical_quantity

__all__ = ["human_duration", "parse_timestamp", "row_conditions", "table_cells", "table_columns",
           "translate_timestamp_since"]

Obj = dict[str, Any]

_DESC: dict[str, str] = {
    'meta.name': (
        'Name must be unique within a namespace. Is required when creating resources, although some '
        'resources may allow a client to request the generation of an appropriate name automatically. '
        'Name is primarily intended for creation idempotence and configuration definition. Cannot be '
        'updated. More info: '
        'https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names'
    ),
    'meta.creationTimestamp': (
        'CreationTimestamp is a timestamp representing the server time when this object was created. '
        'It is not guaranteed to be set in happens-before order across separate operations. Clients '
        'may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the '
        'system. Read-only. Null for lists. More info: '
        'https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata'
    ),
    'pod.podIP': (
        'podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet '
        'allocated.'
    ),
    'pod.nominatedNodeName': (
        'nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be '
        'scheduled right away as preemption victims receive their graceful termination periods. This '
        'field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to '
        'place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to '
        'give the resources on this node to a higher priority pod that is created after preemption. As '
        'a result, this field may be different than PodSpec.nodeName when the pod is scheduled.'
    ),
    'pod.nodeName': (
        'NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for '
        'scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for '
        'this node becomes responsible for the lifecycle of this pod. This field should not be used to '
        'express a desire for the pod to be scheduled on a specific node. '
        'https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename'
    ),
    'pod.readinessGates': (
        'If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when '
        'all its containers are ready AND all conditions specified in the readiness gates have status '
        'equal to "True" More info: '
        'https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates'
    ),
    'svc.type': (
        'type determines how the Service is exposed. Defaults to ClusterIP. Valid options are '
        'ExternalName, ClusterIP, NodePort, and LoadBalancer. "ClusterIP" allocates a cluster-internal '
        'IP address for load-balancing to endpoints. Endpoints are determined by the selector or if '
        'that is not specified, by manual construction of an Endpoints object or EndpointSlice '
        'objects. If clusterIP is "None", no virtual IP is allocated and the endpoints are published '
        'as a set of endpoints rather than a virtual IP. "NodePort" builds on ClusterIP and allocates '
        'a port on every node which routes to the same endpoints as the clusterIP. "LoadBalancer" '
        'builds on NodePort and creates an external load-balancer (if supported in the current cloud) '
        'which routes to the same endpoints as the clusterIP. "ExternalName" aliases this service to '
        'the specified externalName. Several other fields do not apply to ExternalName services. More '
        'info: '
        'https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types'
    ),
    'svc.clusterIP': (
        'clusterIP is the IP address of the service and is usually assigned randomly. If an address is '
        'specified manually, is in-range (as per system configuration), and is not in use, it will be '
        'allocated to the service; otherwise creation of the service will fail. This field may not be '
        'changed through updates unless the type field is also being changed to ExternalName (which '
        'requires this field to be blank) or the type field is being changed from ExternalName (in '
        'which case this field may optionally be specified, as describe above).  Valid values are '
        '"None", empty string (""), or a valid IP address. Setting this to "None" makes a "headless '
        'service" (no virtual IP), which is useful when direct endpoint connections are preferred and '
        'proxying is not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If '
        'this field is specified when creating a Service of type ExternalName, creation will fail. '
        'This field will be wiped when updating a Service to type ExternalName. More info: '
        'https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies'
    ),
    'svc.externalIPs': (
        'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic '
        'for this service.  These IPs are not managed by Kubernetes.  The user is responsible for '
        'ensuring that traffic arrives at a node with this IP.  A common example is external '
        'load-balancers that are not part of the Kubernetes system.'
    ),
    'svc.ports': (
        'The list of ports that are exposed by this service. More info: '
        'https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies'
    ),
    'svc.selector': (
        'Route service traffic to pods with label keys and values matching this selector. If empty or '
        'not present, the service is assumed to have an external process managing its endpoints, which '
        'Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. '
        'Ignored if type is ExternalName. More info: '
        'https://kubernetes.io/docs/concepts/services-networking/service/'
    ),
    'ep.subsets': (
        'The set of all endpoints is the union of all subsets. Addresses are placed into subsets '
        'according to the IPs they share. A single address with multiple ports, some of which are '
        'ready and some of which are not (because they come from different containers) will result in '
        'the address being displayed in different subsets for the different ports. No address will '
        'appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses and '
        'ports that comprise a service.'
    ),
    'node.kubeletVersion': (
        'Kubelet Version reported by the node.'
    ),
    'node.osImage': (
        'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).'
    ),
    'node.kernelVersion': (
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."
    ),
    'node.containerRuntimeVersion': (
        'ContainerRuntime Version reported by the node through runtime remote API (e.g. '
        'containerd://1.4.2).'
    ),
    'node.addresses': (
        'List of addresses reachable to the node. Queried from cloud provider, if available. More '
        'info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is '
        'declared as mergeable, but the merge key is not sufficiently unique, which can cause data '
        'corruption when it is merged. Callers should instead use a full-replacement patch. See '
        'https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change '
        'during the lifetime of a Node. However, there are some exceptions where this may not be '
        "possible, such as Pods that inherit a Node's address in its own status or consumers of the "
        'downward API (status.hostIP).'
    ),
    'event.lastTimestamp': (
        'The time at which the most recent occurrence of this event was recorded.'
    ),
    'event.type': (
        'Type of this event (Normal, Warning), new types could be added in the future'
    ),
    'event.reason': (
        'This should be a short, machine understandable string that gives the reason for the '
        "transition into the object's current status."
    ),
    'event.involvedObject': (
        'The object that this event is about.'
    ),
    'event.source': (
        'The component reporting this event. Should be a short machine understandable string.'
    ),
    'event.message': (
        'A human-readable description of the status of this operation.'
    ),
    'event.firstTimestamp': (
        'The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)'
    ),
    'event.count': (
        'The number of times this event has occurred.'
    ),
    'objref.fieldPath': (
        'If referring to a piece of an object instead of an entire object, this string should contain '
        'a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For '
        'example, if the object reference is to a container within a pod, this would take on a value '
        'like: "spec.containers{name}" (where "name" refers to the name of the container that '
        'triggered the event) or if no container name is specified "spec.containers[2]" (container '
        'with index 2 in this pod). This syntax is chosen only to have some well-defined way of '
        'referencing a part of an object.'
    ),
    'secret.type': (
        'Used to facilitate programmatic handling of secret data. More info: '
        'https://kubernetes.io/docs/concepts/configuration/secret/#secret-types'
    ),
    'secret.data': (
        "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or "
        "'.'. The serialized form of the secret data is a base64 encoded string, representing the "
        'arbitrary (possibly non-string) data value here. Described in '
        'https://tools.ietf.org/html/rfc4648#section-4'
    ),
    'cm.data': (
        "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', "
        "'_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys "
        'stored in Data must not overlap with the keys in the BinaryData field, this is enforced '
        'during validation process.'
    ),
    'pv.capacity': (
        "capacity is the description of the persistent volume's resources and capacity. More info: "
        'https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity'
    ),
    'pv.accessModes': (
        'accessModes contains all ways the volume can be mounted. More info: '
        'https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes'
    ),
    'pv.persistentVolumeReclaimPolicy': (
        'persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from '
        'its claim. Valid options are Retain (default for manually created PersistentVolumes), Delete '
        '(default for dynamically provisioned PersistentVolumes), and Recycle (deprecated). Recycle '
        'must be supported by the volume plugin underlying this PersistentVolume. More info: '
        'https://kubernetes.io/docs/concepts/storage/persistent-volumes#reclaiming'
    ),
    'pv.claimRef': (
        'claimRef is part of a bi-directional binding between PersistentVolume and '
        'PersistentVolumeClaim. Expected to be non-nil when bound. claim.VolumeName is the '
        'authoritative bind between PV and PVC. More info: '
        'https://kubernetes.io/docs/concepts/storage/persistent-volumes#binding'
    ),
    'pv.volumeMode': (
        'volumeMode defines if a volume is intended to be used with a formatted filesystem or to '
        'remain in raw block state. Value of Filesystem is implied when not included in spec.'
    ),
    'pv.phase': (
        'phase indicates if a volume is available, bound to a claim, or released by a claim. More '
        'info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase'
    ),
    'pv.reason': (
        'reason is a brief CamelCase string that describes any failure and is meant for machine '
        'parsing and tidy display in the CLI.'
    ),
    'pvc.phase': (
        'phase represents the current phase of PersistentVolumeClaim.'
    ),
    'pvc.capacity': (
        'capacity represents the actual resources of the underlying volume.'
    ),
    'pvc.accessModes': (
        'accessModes contains the actual access modes the volume backing the PVC has. More info: '
        'https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1'
    ),
    'pvc.volumeName': (
        'volumeName is the binding reference to the PersistentVolume backing this claim.'
    ),
    'pvc.volumeMode': (
        'volumeMode defines what type of volume is required by the claim. Value of Filesystem is '
        'implied when not included in claim spec.'
    ),
    'lease.holderIdentity': (
        'holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader '
        'Election is used, the holder identity must be equal to the elected '
        'LeaseCandidate.metadata.name field.'
    ),
    'sc.provisioner': (
        'provisioner indicates the type of the provisioner.'
    ),
    'sc.reclaimPolicy': (
        'reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of '
        'this storage class. Defaults to Delete.'
    ),
    'sc.volumeBindingMode': (
        'volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.  When '
        'unset, VolumeBindingImmediate is used. This field is only honored by servers that enable the '
        'VolumeScheduling feature.'
    ),
    'sc.allowVolumeExpansion': (
        'allowVolumeExpansion shows whether the storage class allow volume expand.'
    ),
}


def _col(name: str, type_: str, desc: str, priority: int = 0, fmt: str = "") -> dict[str, Any]:
    return {"name": name, "type": type_, "format": fmt, "description": _DESC.get(desc, desc),
            "priority": priority}


_NAME = _col("Name", "string", "meta.name", fmt="name")
_AGE = _col("Age", "string", "meta.creationTimestamp")
_CONTAINERS = "Names of each container in the template."
_IMAGES = "Images referenced by each container in the template."

_COLUMNS: dict[str, list[dict[str, Any]]] = {
    "Pod": [
        _NAME,
        _col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
        _col("Status", "string", "The aggregate status of the containers in this pod."),
        _col("Restarts", "string", "The number of times the containers in this pod have been restarted "
             "and when the last container in this pod has restarted."),
        _AGE,
        _col("IP", "string", "pod.podIP", 1),
        _col("Node", "string", "pod.nodeName", 1),
        _col("Nominated Node", "string", "pod.nominatedNodeName", 1),
        _col("Readiness Gates", "string", "pod.readinessGates", 1),
    ],
    "Service": [
        _NAME,
        _col("Type", "string", "svc.type"),
        _col("Cluster-IP", "string", "svc.clusterIP"),
        _col("External-IP", "string", "svc.externalIPs"),
        _col("Port(s)", "string", "svc.ports"),
        _AGE,
        _col("Selector", "string", "svc.selector", 1),
    ],
    "StatefulSet": [
        _NAME,
        _col("Ready", "string", "Number of the pod with ready state"),
        _AGE,
        _col("Containers", "string", _CONTAINERS, 1),
        _col("Images", "string", _IMAGES, 1),
    ],
    "Endpoints": [
        _NAME,
        _col("Endpoints", "string", "ep.subsets"),
        _AGE,
    ],
    "Node": [
        _NAME,
        _col("Status", "string", "The status of the node"),
        _col("Roles", "string", "The roles of the node"),
        _AGE,
        _col("Version", "string", "node.kubeletVersion"),
        _col("Internal-IP", "string", "node.addresses", 1),
        _col("External-IP", "string", "node.addresses", 1),
        _col("OS-Image", "string", "node.osImage", 1),
        _col("Kernel-Version", "string", "node.kernelVersion", 1),
        _col("Container-Runtime", "string", "node.containerRuntimeVersion", 1),
    ],
    "Event": [
        _col("Last Seen", "string", "event.lastTimestamp"),
        _col("Type", "string", "event.type"),
        _col("Reason", "string", "event.reason"),
        _col("Object", "string", "event.involvedObject"),
        _col("Subobject", "string", "objref.fieldPath", 1),
        _col("Source", "string", "event.source", 1),
        _col("Message", "string", "event.message"),
        _col("First Seen", "string", "event.firstTimestamp", 1),
        _col("Count", "string", "event.count", 1),
        _col("Name", "string", "meta.name", 1, fmt="name"),
    ],
    "Namespace": [
        _NAME,
        _col("Status", "string", "The status of the namespace"),
        _AGE,
    ],
    "Secret": [
        _NAME,
        _col("Type", "string", "secret.type"),
        _col("Data", "string", "secret.data"),
        _AGE,
    ],
    "PersistentVolume": [
        _NAME,
        _col("Capacity", "string", "pv.capacity"),
        _col("Access Modes", "string", "pv.accessModes"),
        _col("Reclaim Policy", "string", "pv.persistentVolumeReclaimPolicy"),
        _col("Status", "string", "pv.phase"),
        _col("Claim", "string", "pv.claimRef"),
        _col("StorageClass", "string", "StorageClass of the pv"),
        _col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
        _col("Reason", "string", "pv.reason"),
        _AGE,
        _col("VolumeMode", "string", "pv.volumeMode", 1),
    ],
    "PersistentVolumeClaim": [
        _NAME,
        _col("Status", "string", "pvc.phase"),
        _col("Volume", "string", "pvc.volumeName"),
        _col("Capacity", "string", "pvc.capacity"),
        _col("Access Modes", "string", "pvc.accessModes"),
        _col("StorageClass", "string", "StorageClass of the pvc"),
        _col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
        _AGE,
        _col("VolumeMode", "string", "pvc.volumeMode", 1),
    ],
    "ConfigMap": [
        _NAME,
        _col("Data", "string", "cm.data"),
        _AGE,
    ],
    "ControllerRevision": [
        _NAME,
        _col("Controller", "string", "Controller of the object"),
        _col("Revision", "integer", "Revision of the ControllerRevision"),
        _AGE,
    ],
    "Lease": [
        _NAME,
        _col("Holder", "string", "lease.holderIdentity"),
        _AGE,
    ],
    "StorageClass": [
        _NAME,
        _col("Provisioner", "string", "sc.provisioner"),
        _col("ReclaimPolicy", "string", "sc.reclaimPolicy"),
        _col("VolumeBindingMode", "string", "sc.volumeBindingMode"),
        _col("AllowVolumeExpansion", "string", "sc.allowVolumeExpansion"),
        _AGE,
    ],
}

# The apiserver's default table (rest.DefaultTableConvertor) for kinds without a printer.
_DEFAULT_COLUMNS = [
    _NAME,
    _col("Created At", "date", "meta.creationTimestamp"),
]


def table_columns(kind: str) -> list[dict[str, Any]]:
    """The ``columnDefinitions`` Kubernetes sends for ``kind`` (fresh copies)."""
    return [dict(c) for c in _COLUMNS.get(kind, _DEFAULT_COLUMNS)]


def table_cells(kind: str, obj: Obj, now: datetime.datetime) -> list[Any]:
    """One row's cells for ``obj``, every column included (the server always prints wide)."""
    printer = _PRINTERS.get(kind)
    if printer is None:
        return _default_cells(obj)
    return printer(obj, _aware(now))


_POD_SUCCEEDED = [{"type": "Completed", "status": "True", "reason": "Succeeded",
                   "message": "The pod has completed successfully."}]
_POD_FAILED = [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]


def row_conditions(kind: str, obj: Obj) -> list[dict[str, str]]:
    """A row's ``conditions``: only Pods have them (Completed when Succeeded or Failed)."""
    if kind != "Pod":
        return []
    phase = _get(obj, "status", "phase")
    if phase == "Succeeded":
        return [dict(c) for c in _POD_SUCCEEDED]
    if phase == "Failed":
        return [dict(c) for c in _POD_FAILED]
    return []


# ------------------------------------------------------------------ time

_NS = 1_000_000_000
_MINUTE = 60 * _NS
_HOUR = 60 * _MINUTE


def _tdiv(a: int, b: int) -> int:
    """Integer division truncating toward zero (Go's ``/`` on integers)."""
    q = abs(a) // b
    return q if a >= 0 else -q


def _human_ns(d: int) -> str:
    seconds = _tdiv(d, _NS)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = d // _MINUTE
    if minutes < 10:
        s = (d // _NS) % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = d // _HOUR
    if hours < 8:
        m = (d // _MINUTE) % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def human_duration(seconds: float) -> str:
    """apimachinery ``duration.HumanDuration``: "45s", "3m20s", "5h10m", "3d4h", "2y10d"."""
    return _human_ns(int(round(seconds * _NS)))


def _aware(t: datetime.datetime) -> datetime.datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=datetime.UTC)


def parse_timestamp(value: Any) -> datetime.datetime | None:
    """An RFC 3339 timestamp ("2024-01-01T00:00:00Z", fractions allowed); None when absent or bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return _aware(datetime.datetime.fromisoformat(value))
    except ValueError:
        return None


def _since(t: datetime.datetime, now: datetime.datetime) -> str:
    delta = now - t
    return _human_ns((delta.days * 86400 + delta.seconds) * _NS + delta.microseconds * 1000)


def translate_timestamp_since(value: Any, now: datetime.datetime) -> str:
    """How long ago ``value`` was, as AGE shows it; "<unknown>" when the timestamp is missing."""
    t = parse_timestamp(value)
    if t is None:
        return "<unknown>"
    return _since(t, _aware(now))


# ------------------------------------------------------------------ helpers

def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _meta(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _name(obj: Obj) -> str:
    return _str(_meta(obj).get("name"))


def _age(obj: Obj, now: datetime.datetime) -> str:
    return translate_timestamp_since(_meta(obj).get("creationTimestamp"), now)


def _deleting(obj: Obj) -> bool:
    return _meta(obj).get("deletionTimestamp") is not None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _format_labels(labels: Any) -> str:
    """labels.FormatLabels: "k=v,k2=v2" sorted by key, "<none>" when empty."""
    items = sorted(_dict(labels).items())
    return ",".join(f"{k}={v}" for k, v in items) or "<none>"


def _access_modes(modes: Any) -> str:
    """helper.GetAccessModesAsString: always in the order RWO,ROX,RWX,RWOP."""
    present = set(m for m in _list(modes) if isinstance(m, str))
    order = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
             ("ReadWriteOncePod", "RWOP"))
    return ",".join(short for mode, short in order if mode in present)


def _storage(resources: Any) -> str:
    """A ResourceList's storage quantity as Quantity.String(); "0" when absent."""
    q = _dict(resources).get("storage")
    if q is None or q == "":
        return "0"
    try:
        return canonical_quantity(q)
    except ValueError:
        return str(q)


_BETA_STORAGE_CLASS = "volume.beta.kubernetes.io/storage-class"


def _layout_containers(containers: Any) -> tuple[str, str]:
    cs = [_dict(c) for c in _list(containers)]
    return ",".join(_str(c.get("name")) for c in cs), ",".join(_str(c.get("image")) for c in cs)


def _join_host_port(host: str, port: Any) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# ------------------------------------------------------------------ printers

def _default_cells(obj: Obj) -> list[Any]:
    t = parse_timestamp(_meta(obj).get("creationTimestamp"))
    created = (t.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t is not None
               else "0001-01-01T00:00:00Z")
    return [_name(obj), created]


def _is_restartable_init(container: Any) -> bool:
    return isinstance(container, dict) and container.get("restartPolicy") == "Always"


def _later(current: datetime.datetime | None, candidate: Any) -> datetime.datetime | None:
    t = parse_timestamp(candidate)
    if t is None:
        return current
    if current is None or current < t:
        return t
    return current


def _condition_true(conditions: Any, type_: str) -> bool:
    for c in _list(conditions):
        if _dict(c).get("type") == type_:
            return _dict(c).get("status") == "True"
    return False


def _pod(obj: Obj, now: datetime.datetime) -> list[Any]:
    spec = _dict(obj.get("spec"))
    status = _dict(obj.get("status"))
    init_specs = [_dict(c) for c in _list(spec.get("initContainers"))]
    restarts = 0
    restartable_restarts = 0
    total = len(_list(spec.get("containers")))
    ready = 0
    last_restart: datetime.datetime | None = None
    last_restartable: datetime.datetime | None = None

    phase = _str(status.get("phase"))
    reason = phase
    if status.get("reason"):
        reason = _str(status.get("reason"))
    for cond in _list(status.get("conditions")):
        if _dict(cond).get("type") == "PodScheduled" and _dict(cond).get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    init_by_name = {_str(c.get("name")): c for c in init_specs}
    total += sum(1 for c in init_specs if _is_restartable_init(c))

    initializing = False
    for i, cs in enumerate(_dict(c) for c in _list(status.get("initContainerStatuses"))):
        restarts += _int(cs.get("restartCount"))
        last_terminated = _get(cs, "lastState", "terminated")
        if isinstance(last_terminated, dict):
            last_restart = _later(last_restart, last_terminated.get("finishedAt"))
        restartable = _is_restartable_init(init_by_name.get(_str(cs.get("name"))))
        if restartable:
            restartable_restarts += _int(cs.get("restartCount"))
            if isinstance(last_terminated, dict):
                last_restartable = _later(last_restartable, last_terminated.get("finishedAt"))
        state = _dict(cs.get("state"))
        terminated = state.get("terminated")
        waiting = state.get("waiting")
        if isinstance(terminated, dict) and _int(terminated.get("exitCode")) == 0:
            continue
        if restartable and cs.get("started") is True:
            if cs.get("ready"):
                ready += 1
            continue
        if isinstance(terminated, dict):
            if not terminated.get("reason"):
                if _int(terminated.get("signal")) != 0:
                    reason = f"Init:Signal:{_int(terminated.get('signal'))}"
                else:
                    reason = f"Init:ExitCode:{_int(terminated.get('exitCode'))}"
            else:
                reason = "Init:" + _str(terminated.get("reason"))
        elif isinstance(waiting, dict) and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = "Init:" + _str(waiting.get("reason"))
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(status.get("conditions"), "Initialized"):
        restarts = restartable_restarts
        last_restart = last_restartable
        has_running = False
        for cs in reversed([_dict(c) for c in _list(status.get("containerStatuses"))]):
            restarts += _int(cs.get("restartCount"))
            last_terminated = _get(cs, "lastState", "terminated")
            if isinstance(last_terminated, dict):
                last_restart = _later(last_restart, last_terminated.get("finishedAt"))
            state = _dict(cs.get("state"))
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if isinstance(waiting, dict) and waiting.get("reason"):
                reason = _str(waiting.get("reason"))
            elif isinstance(terminated, dict) and terminated.get("reason"):
                reason = _str(terminated.get("reason"))
            elif isinstance(terminated, dict):
                if _int(terminated.get("signal")) != 0:
                    reason = f"Signal:{_int(terminated.get('signal'))}"
                else:
                    reason = f"ExitCode:{_int(terminated.get('exitCode'))}"
            elif cs.get("ready") and isinstance(state.get("running"), dict):
                has_running = True
                ready += 1
        # A pod with one container still running is "Running", not "Completed".
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status.get("conditions"), "Ready") else "NotReady"

    if _deleting(obj) and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif _deleting(obj) and phase not in ("Failed", "Succeeded"):
        reason = "Terminating"

    restarts_cell = str(restarts)
    if restarts != 0 and last_restart is not None:
        restarts_cell = f"{restarts} ({_since(last_restart, now)} ago)"

    pod_ips = _list(status.get("podIPs"))
    pod_ip = _str(_dict(pod_ips[0]).get("ip")) if pod_ips else _str(status.get("podIP"))
    readiness_gates = "<none>"
    gates = _list(spec.get("readinessGates"))
    if gates:
        true_count = 0
        for gate in gates:
            for cond in _list(status.get("conditions")):
                if _dict(cond).get("type") == _dict(gate).get("conditionType"):
                    if _dict(cond).get("status") == "True":
                        true_count += 1
                    break
        readiness_gates = f"{true_count}/{len(gates)}"
    return [
        _name(obj), f"{ready}/{total}", reason, restarts_cell, _age(obj, now),
        pod_ip or "<none>",
        _str(spec.get("nodeName")) or "<none>",
        _str(status.get("nominatedNodeName")) or "<none>",
        readiness_gates,
    ]


def _lb_ingress(status: Obj) -> str:
    result: set[str] = set()
    for ing in _list(_get(status, "loadBalancer", "ingress")):
        ing = _dict(ing)
        if ing.get("ip"):
            result.add(_str(ing.get("ip")))
        elif ing.get("hostname"):
            result.add(_str(ing.get("hostname")))
    return ",".join(sorted(result))


def _service_external_ip(svc_type: str, spec: Obj, status: Obj) -> str:
    external = [_str(ip) for ip in _list(spec.get("externalIPs"))]
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if svc_type == "LoadBalancer":
        lb = _lb_ingress(status)  # the server prints wide: never clipped
        if external:
            return ",".join(([*lb.split(",")] if lb else []) + external)
        return lb or "<pending>"
    if svc_type == "ExternalName":
        return _str(spec.get("externalName"))
    return "<unknown>"


def _service(obj: Obj, now: datetime.datetime) -> list[Any]:
    spec = _dict(obj.get("spec"))
    svc_type = _str(spec.get("type")) or "ClusterIP"
    cluster_ips = _list(spec.get("clusterIPs"))
    internal_ip = "<none>"
    if cluster_ips:
        internal_ip = _str(cluster_ips[0])
    elif spec.get("clusterIP"):
        internal_ip = _str(spec.get("clusterIP"))
    pieces = []
    for p in (_dict(p) for p in _list(spec.get("ports"))):
        protocol = _str(p.get("protocol")) or "TCP"
        if _int(p.get("nodePort")) > 0:
            pieces.append(f"{_int(p.get('port'))}:{_int(p.get('nodePort'))}/{protocol}")
        else:
            pieces.append(f"{_int(p.get('port'))}/{protocol}")
    return [
        _name(obj), svc_type, internal_ip,
        _service_external_ip(svc_type, spec, _dict(obj.get("status"))),
        ",".join(pieces) or "<none>", _age(obj, now),
        _format_labels(spec.get("selector")),
    ]


def _statefulset(obj: Obj, now: datetime.datetime) -> list[Any]:
    spec = _dict(obj.get("spec"))
    replicas = spec.get("replicas")
    desired = _int(replicas) if replicas is not None else 1  # apps/v1 defaults replicas to 1
    ready = _int(_get(obj, "status", "readyReplicas"))
    names, images = _layout_containers(_get(spec, "template", "spec", "containers"))
    return [_name(obj), f"{ready}/{desired}", _age(obj, now), names, images]


def _format_endpoints(subsets: Any) -> str:
    subsets = _list(subsets)
    if not subsets:
        return "<none>"
    out: list[str] = []
    limit, more, count = 3, False, 0
    for ss in (_dict(s) for s in subsets):
        addresses = [_dict(a) for a in _list(ss.get("addresses"))]
        ports = [_dict(p) for p in _list(ss.get("ports"))]
        if not ports:
            # Headless services may have no ports.
            count += len(addresses)
            for a in addresses:
                if len(out) == limit:
                    more = True
                    break
                out.append(_str(a.get("ip")))
            continue
        for port in ports:
            count += len(addresses)
            for a in addresses:
                if len(out) == limit:
                    more = True
                    break
                out.append(_join_host_port(_str(a.get("ip")), _int(port.get("port"))))
    ret = ",".join(out)
    if more:
        return f"{ret} + {count - limit} more..."
    return ret


def _endpoints(obj: Obj, now: datetime.datetime) -> list[Any]:
    return [_name(obj), _format_endpoints(obj.get("subsets")), _age(obj, now)]


def _node_roles(labels: Any) -> list[str]:
    roles: set[str] = set()
    for k, v in _dict(labels).items():
        if k.startswith("node-role.kubernetes.io/"):
            role = k[len("node-role.kubernetes.io/"):]
            if role:
                roles.add(role)
        elif k == "kubernetes.io/role" and v:
            roles.add(_str(v))
    return sorted(roles)


def _node_address(status: Obj, type_: str) -> str:
    for a in (_dict(a) for a in _list(status.get("addresses"))):
        if a.get("type") == type_:
            return _str(a.get("address"))
    return "<none>"


def _node(obj: Obj, now: datetime.datetime) -> list[Any]:
    status = _dict(obj.get("status"))
    by_type: dict[str, Obj] = {}
    for cond in (_dict(c) for c in _list(status.get("conditions"))):
        by_type[_str(cond.get("type"))] = cond
    states: list[str] = []
    ready = by_type.get("Ready")
    if ready is not None:
        states.append("Ready" if ready.get("status") == "True" else "NotReady")
    if not states:
        states.append("Unknown")
    if _get(obj, "spec", "unschedulable") is True:
        states.append("SchedulingDisabled")
    info = _dict(status.get("nodeInfo"))
    return [
        _name(obj), ",".join(states), ",".join(_node_roles(_meta(obj).get("labels"))) or "<none>",
        _age(obj, now), _str(info.get("kubeletVersion")),
        _node_address(status, "InternalIP"), _node_address(status, "ExternalIP"),
        _str(info.get("osImage")) or "<unknown>",
        _str(info.get("kernelVersion")) or "<unknown>",
        _str(info.get("containerRuntimeVersion")) or "<unknown>",
    ]


def _event(obj: Obj, now: datetime.datetime) -> list[Any]:
    if parse_timestamp(obj.get("firstTimestamp")) is not None:
        first = translate_timestamp_since(obj.get("firstTimestamp"), now)
    else:
        first = translate_timestamp_since(obj.get("eventTime"), now)
    if parse_timestamp(obj.get("lastTimestamp")) is not None:
        last = translate_timestamp_since(obj.get("lastTimestamp"), now)
    else:
        last = first
    count = _int(obj.get("count"))
    series = obj.get("series")
    if isinstance(series, dict):
        last = translate_timestamp_since(series.get("lastObservedTime"), now)
        count = _int(series.get("count"))
    elif count == 0:
        count = 1  # singleton events of the new API have no count
    involved = _dict(obj.get("involvedObject"))
    kind = _str(involved.get("kind")).lower()
    target = f"{kind}/{_str(involved.get('name'))}" if involved.get("name") else kind
    source = _dict(obj.get("source"))
    component = _str(source.get("component")) or _str(obj.get("reportingComponent"))
    instance = _str(source.get("host")) or _str(obj.get("reportingInstance"))
    return [
        last, _str(obj.get("type")), _str(obj.get("reason")), target,
        _str(involved.get("fieldPath")),
        f"{component}, {instance}" if instance else component,
        _str(obj.get("message")).strip(),
        first, count, _name(obj),
    ]


def _namespace(obj: Obj, now: datetime.datetime) -> list[Any]:
    return [_name(obj), _str(_get(obj, "status", "phase")), _age(obj, now)]


def _secret(obj: Obj, now: datetime.datetime) -> list[Any]:
    return [_name(obj), _str(obj.get("type")) or "Opaque", len(_dict(obj.get("data"))), _age(obj, now)]


def _configmap(obj: Obj, now: datetime.datetime) -> list[Any]:
    return [_name(obj), len(_dict(obj.get("data"))) + len(_dict(obj.get("binaryData"))), _age(obj, now)]


def _persistent_volume(obj: Obj, now: datetime.datetime) -> list[Any]:
    spec = _dict(obj.get("spec"))
    claim = ""
    claim_ref = spec.get("claimRef")
    if isinstance(claim_ref, dict):
        claim = f"{_str(claim_ref.get('namespace'))}/{_str(claim_ref.get('name'))}"
    phase = "Terminating" if _deleting(obj) else _str(_get(obj, "status", "phase"))
    annotations = _dict(_meta(obj).get("annotations"))
    storage_class = (_str(annotations[_BETA_STORAGE_CLASS]) if _BETA_STORAGE_CLASS in annotations
                     else _str(spec.get("storageClassName")))
    vac = spec.get("volumeAttributesClassName")
    mode = spec.get("volumeMode")
    return [
        _name(obj), _storage(spec.get("capacity")), _access_modes(spec.get("accessModes")),
        _str(spec.get("persistentVolumeReclaimPolicy")), phase, claim, storage_class,
        _str(vac) if vac is not None else "<unset>",
        _str(_get(obj, "status", "reason")), _age(obj, now),
        _str(mode) if mode is not None else "<unset>",
    ]


def _persistent_volume_claim(obj: Obj, now: datetime.datetime) -> list[Any]:
    spec = _dict(obj.get("spec"))
    status = _dict(obj.get("status"))
    phase = "Terminating" if _deleting(obj) else _str(status.get("phase"))
    capacity = access_modes = ""
    volume_name = _str(spec.get("volumeName"))
    if volume_name:
        access_modes = _access_modes(status.get("accessModes"))
        capacity = _storage(status.get("capacity"))
    annotations = _dict(_meta(obj).get("annotations"))
    if _BETA_STORAGE_CLASS in annotations:
        storage_class = _str(annotations[_BETA_STORAGE_CLASS])
    else:
        storage_class = _str(spec.get("storageClassName"))
    vac = spec.get("volumeAttributesClassName")
    mode = spec.get("volumeMode")
    return [
        _name(obj), phase, volume_name, capacity, access_modes, storage_class,
        _str(vac) if vac is not None else "<unset>", _age(obj, now),
        _str(mode) if mode is not None else "<unset>",
    ]


_DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                              "storageclass.beta.kubernetes.io/is-default-class")


def _storage_class(obj: Obj, now: datetime.datetime) -> list[Any]:
    name = _name(obj)
    annotations = _dict(_meta(obj).get("annotations"))
    if any(annotations.get(a) == "true" for a in _DEFAULT_CLASS_ANNOTATIONS):
        name += " (default)"
    reclaim = obj.get("reclaimPolicy")
    binding = obj.get("volumeBindingMode")
    expansion = obj.get("allowVolumeExpansion")
    return [
        name, _str(obj.get("provisioner")),
        _str(reclaim) if reclaim is not None else "Delete",
        _str(binding) if binding is not None else "Immediate",
        expansion is True,
        _age(obj, now),
    ]


def _lease(obj: Obj, now: datetime.datetime) -> list[Any]:
    return [_name(obj), _str(_get(obj, "spec", "holderIdentity")), _age(obj, now)]


def _controller_revision(obj: Obj, now: datetime.datetime) -> list[Any]:
    controller = "<none>"
    for ref in _list(_meta(obj).get("ownerReferences")):
        if isinstance(ref, dict) and ref.get("controller") is True:
            group = _str(ref.get("apiVersion")).rpartition("/")[0]
            kind = _str(ref.get("kind")) + (f".{group}" if group else "")
            controller = f"{kind.lower()}/{_str(ref.get('name'))}"
            break
    return [_name(obj), controller, _int(obj.get("revision")), _age(obj, now)]


_PRINTERS: dict[str, Callable[[Obj, datetime.datetime], list[Any]]] = {
    "ControllerRevision": _controller_revision,
    "Pod": _pod,
    "Service": _service,
    "StatefulSet": _statefulset,
    "Endpoints": _endpoints,
    "Node": _node,
    "Event": _event,
    "Namespace": _namespace,
    "Secret": _secret,
    "ConfigMap": _configmap,
    "PersistentVolume": _persistent_volume,
    "PersistentVolumeClaim": _persistent_volume_claim,
    "StorageClass": _storage_class,
    "Lease": _lease,
}


# Custom resources print their CRDs' additionalPrinterColumns (crd.py).
from . import crd as _crd  # noqa: E402

_CR_COLUMNS, _CR_PRINTERS = _crd.printers()
_COLUMNS.update(_CR_COLUMNS)
_PRINTERS.update(_CR_PRINTERS)
