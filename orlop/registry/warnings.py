"""The warnings Kubernetes returns with a successful write (what kubectl prints as ``Warning:``).

Why this exists: a write Kubernetes accepts can still carry advice in ``Warning`` response
headers -- a deprecated annotation, a value that is valid but almost certainly a mistake.
Users of the seeds' manifests (seed 001's claim with the beta storage-class annotation,
seed 004's Recycle PV) see these lines from a real API server, so they see them here.
Kubernetes 1.32's WarningsOnCreate / WarningsOnUpdate of PersistentVolume
(pkg/api/persistentvolume) and PersistentVolumeClaim (pkg/api/persistentvolumeclaim),
texts as there.  Pure: object in, warnings out.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..admission import BETA_CLASS_ANNOTATION
from ..quantity import parse_quantity_full

_DEPRECATED_CLASS = 'deprecated since v1.8; use "storageClassName" attribute instead'
_RECYCLE = "The Recycle reclaim policy is deprecated. Instead, the recommended approach is to use dynamic provisioning."


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
        q = parse_quantity_full(value).round_up_milli()
    except (ValueError, TypeError):
        return []           # (validation's business)
    if (q.value * 1000) % 1000 == Decimal(0):
        return []
    return [f'{path}: fractional byte value "{q.canonical()}" is invalid, must be an integer']


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
        out = _class_annotation(obj)
        if _d(obj.get("spec")).get("persistentVolumeReclaimPolicy") == "Recycle":
            out.append(f"spec.persistentVolumeReclaimPolicy: {_RECYCLE}")
        return out
    return []
