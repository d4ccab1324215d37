"""StatefulSet conversion between apps/v1, apps/v1beta2 and apps/v1beta1.

Why this exists: users' manifests (seed 000) still say ``apiVersion: apps/v1beta1``.
Kubernetes decodes such an object with the *old* version's defaults -- a v1beta1 set
without ``spec.selector`` gets one from its template labels, its own labels from the
template when it has none, and updateStrategy OnDelete instead of RollingUpdate -- and
then stores it as apps/v1.  The field layout of the three versions is the same, so
conversion is a deep copy plus those defaults plus the new ``apiVersion``.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["STATEFULSET_VERSIONS", "convert_statefulset", "default_legacy_statefulset"]

STATEFULSET_VERSIONS = ("apps/v1", "apps/v1beta2", "apps/v1beta1")


def _norm(version: str) -> str:
    if not isinstance(version, str):
        raise ValueError(f"unsupported StatefulSet version {version!r}")
    v = version if "/" in version else f"apps/{version}"
    if v not in STATEFULSET_VERSIONS:
        raise ValueError(f"unsupported StatefulSet version {version!r}")
    return v


def _unset(d: dict[str, Any], key: str) -> bool:
    return d.get(key) in (None, "")


def default_legacy_statefulset(obj: dict[str, Any], version: str) -> None:
    """The SetDefaults_StatefulSet of apps/v1beta1 or apps/v1beta2, in place."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if _unset(spec, "podManagementPolicy"):
        spec["podManagementPolicy"] = "OrderedReady"
    strategy = spec.get("updateStrategy")
    if strategy is None:
        strategy = spec["updateStrategy"] = {}
    if isinstance(strategy, dict):
        if _unset(strategy, "type"):
            if version == "apps/v1beta1":
                strategy["type"] = "OnDelete"
            else:
                strategy["type"] = "RollingUpdate"
                if strategy.get("rollingUpdate") is None:
                    strategy["rollingUpdate"] = {}
        rolling = strategy.get("rollingUpdate")
        if strategy.get("type") == "RollingUpdate" and isinstance(rolling, dict) and rolling.get("partition") is None:
            rolling["partition"] = 0
    if version == "apps/v1beta1":
        template = spec.get("template")
        meta = template.get("metadata") if isinstance(template, dict) else None
        labels = meta.get("labels") if isinstance(meta, dict) else None
        if isinstance(labels, dict) and labels:
            if spec.get("selector") is None:
                spec["selector"] = {"matchLabels": dict(labels)}
            obj_meta = obj.get("metadata")
            if obj_meta is None:
                obj_meta = obj["metadata"] = {}
            if isinstance(obj_meta, dict) and not obj_meta.get("labels"):
                obj_meta["labels"] = dict(labels)
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    retention = spec.get("persistentVolumeClaimRetentionPolicy")
    if retention is None:
        retention = spec["persistentVolumeClaimRetentionPolicy"] = {}
    if isinstance(retention, dict):
        for key in ("whenDeleted", "whenScaled"):
            if _unset(retention, key):
                retention[key] = "Retain"


def convert_statefulset(obj: dict[str, Any], to_version: str) -> dict[str, Any]:
    """A copy of ``obj`` in ``to_version`` ("apps/v1", "apps/v1beta2", "apps/v1beta1"; the
    group may be omitted).  An object coming from a legacy version gets that version's
    defaults first, as decoding it would.  Never mutates ``obj``."""
    target = _norm(to_version)
    out = copy.deepcopy(obj) if isinstance(obj, dict) else {}
    source = out.get("apiVersion")
    if isinstance(source, str) and source in ("apps/v1beta1", "apps/v1beta2"):
        default_legacy_statefulset(out, source)
    out["apiVersion"] = target
    out["kind"] = "StatefulSet"
    return out
