"""The warnings Kubernetes returns with a successful write (what kubectl prints as ``Warning:``).

Why this exists: a write Kubernetes accepts can still carry advice in ``Warning`` response
headers -- a deprecated annotation, a value that is valid but almost certainly a mistake.
Users of the seeds' manifests (seed 001's claim with the beta storage-class annotation,
seed 004's Recycle PV) see these lines from a real API server, so they see them here.
Kubernetes 1.32's WarningsOnCreate / WarningsOnUpdate of PersistentVolume
(pkg/api/persistentvolume) and PersistentVolumeClaim (pkg/api/persistentvolumeclaim),
texts as there -- but for ``spec.rbd``: Kubernetes says the in-tree rbd plugin is
"deprecated in v1.28, non-functional in v1.31+", which is not so here (orlop serves rbd
volumes, seeds 000, 002 and 004), so that warning is left out.  Pure: object in, warnings out.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..admission import BETA_CLASS_ANNOTATION
from ..quantity import parse_quantity_full

_DEPRECATED_CLASS = 'deprecated since v1.8; use "storageClassName" attribute instead'
_RECYCLE = "The Recycle reclaim policy is deprecated. Instead, the recommended approach is to use dynamic provisioning."
# pkg/api/node: node labels with a newer name.
DEPRECATED_NODE_LABELS = {
    "beta.kubernetes.io/arch": 'deprecated since v1.14; use "kubernetes.io/arch" instead',
    "beta.kubernetes.io/os": 'deprecated since v1.14; use "kubernetes.io/os" instead',
    "failure-domain.beta.kubernetes.io/region": 'deprecated since v1.17; use "topology.kubernetes.io/region" instead',
    "failure-domain.beta.kubernetes.io/zone": 'deprecated since v1.17; use "topology.kubernetes.io/zone" instead',
    "beta.kubernetes.io/instance-type": 'deprecated since v1.17; use "node.kubernetes.io/instance-type" instead',
}
# Volume sources Kubernetes no longer serves (and orlop does not either).
_GONE_PLUGINS = (("cephfs", "deprecated in v1.28, non-functional in v1.31+"),
                 ("photonPersistentDisk", "deprecated in v1.11, non-functional in v1.16+"),
                 ("scaleIO", "deprecated in v1.16, non-functional in v1.22+"),
                 ("storageOS", "deprecated in v1.22, non-functional in v1.25+"),
                 ("glusterfs", "deprecated in v1.25, non-functional in v1.26+"))


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _class_annotation(obj: dict[str, Any]) -> list[str]:
    if BETA_CLASS_ANNOTATION in _d(_d(obj.get("metadata")).get("annotations")):
        return [f"metadata.annotations[{BETA_CLASS_ANNOTATION}]: {_DEPRECATED_CLASS}"]
    return []


def _fractional(path: str, value: Any) -> list[str]:
    """A storage size that is not a whole number of bytes (MilliValue() % 1000 != 0)."""
    if value is None:
        return []
    try:
        q = parse_quantity_full(value)
    except (ValueError, TypeError):
        return []           # (validation's business)
    if (q.round_up_milli().value * 1000) % 1000 == Decimal(0):
        return []
    return [f'{path}: fractional byte value "{q.canonical()}" is invalid, must be an integer']


def _node_affinity(spec: dict[str, Any]) -> list[str]:
    """GetWarningsForNodeSelectorTerm over spec.nodeAffinity.required."""
    out = []
    terms = _d(_d(spec.get("nodeAffinity")).get("required")).get("nodeSelectorTerms")
    for i, term in enumerate(terms if isinstance(terms, list) else []):
        exprs = _d(term).get("matchExpressions")
        for j, expr in enumerate(exprs if isinstance(exprs, list) else []):
            key = _d(expr).get("key")
            if isinstance(key, str) and key in DEPRECATED_NODE_LABELS:
                out.append(f"spec.nodeAffinity.required.nodeSelectorTerms[{i}].matchExpressions[{j}].key: "
                           f"{key} is {DEPRECATED_NODE_LABELS[key]}")
    return out


def _claim_spec(path: str, spec: Any) -> list[str]:
    """GetWarningsForPersistentVolumeClaimSpec."""
    resources = _d(_d(spec).get("resources"))
    return (_fractional(f"{path}.resources.requests[storage]", _d(resources.get("requests")).get("storage"))
            + _fractional(f"{path}.resources.limits[storage]", _d(resources.get("limits")).get("storage")))


def for_object(kind: str, obj: dict[str, Any]) -> list[str]:
    """The warnings a write of this object gets (none for kinds without any)."""
    if kind == "PersistentVolumeClaim":
        return _class_annotation(obj) + _claim_spec("spec", obj.get("spec"))
    if kind == "PersistentVolume":
        spec = _d(obj.get("spec"))
        out = _class_annotation(obj)
        if spec.get("persistentVolumeReclaimPolicy") == "Recycle":
            out.append(f"spec.persistentVolumeReclaimPolicy: {_RECYCLE}")
        out += _node_affinity(spec)
        out += [f"spec.{source}: {why}" for source, why in _GONE_PLUGINS if spec.get(source) is not None]
        return out
    return []
