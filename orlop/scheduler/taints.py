"""Node taints, pod tolerations and the taints a node's health implies.

Why this exists: two controllers must agree on what makes a node unfit for new pods.
Kubernetes expresses node health to the scheduler only through taints: the node
lifecycle controller turns conditions into ``NoSchedule`` taints (TaintNodesByCondition:
Ready False -> ``node.kubernetes.io/not-ready``, Ready Unknown ->
``node.kubernetes.io/unreachable``, pressure conditions -> ``...-pressure``,
``spec.unschedulable`` -> ``node.kubernetes.io/unschedulable``), and the scheduler's
TaintToleration filter refuses a node with a ``NoSchedule`` / ``NoExecute`` taint the pod
does not tolerate.  The node lifecycle controller (``orlop.controllers.nodelifecycle``)
writes :func:`condition_taints`; the scheduler (``orlop.scheduler.decide``) checks
:func:`effective_taints` -- the written taints plus any the conditions imply that the
lifecycle controller has not written yet, so a node that just turned NotReady is never
chosen in that short window.  Tolerations follow ``Toleration.ToleratesTaint``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "TAINT_DISK_PRESSURE",
    "TAINT_MEMORY_PRESSURE",
    "TAINT_NETWORK_UNAVAILABLE",
    "TAINT_NOT_READY",
    "TAINT_OUT_OF_SERVICE",
    "TAINT_PID_PRESSURE",
    "TAINT_UNREACHABLE",
    "TAINT_UNSCHEDULABLE",
    "CONDITION_TAINT_KEYS",
    "condition",
    "condition_taints",
    "effective_taints",
    "find_untolerated",
    "is_ready",
    "ready_status",
    "tolerates",
]

TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
TAINT_MEMORY_PRESSURE = "node.kubernetes.io/memory-pressure"
TAINT_DISK_PRESSURE = "node.kubernetes.io/disk-pressure"
TAINT_PID_PRESSURE = "node.kubernetes.io/pid-pressure"
TAINT_NETWORK_UNAVAILABLE = "node.kubernetes.io/network-unavailable"
TAINT_OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"

# (condition type, status) -> taint key, as Kubernetes' nodeConditionToTaintKeyStatusMap.
_CONDITION_TAINTS: tuple[tuple[str, str, str], ...] = (
    ("Ready", "False", TAINT_NOT_READY),
    ("Ready", "Unknown", TAINT_UNREACHABLE),
    ("MemoryPressure", "True", TAINT_MEMORY_PRESSURE),
    ("DiskPressure", "True", TAINT_DISK_PRESSURE),
    ("NetworkUnavailable", "True", TAINT_NETWORK_UNAVAILABLE),
    ("PIDPressure", "True", TAINT_PID_PRESSURE),
)

# The NoSchedule taint keys the node lifecycle controller owns (it adds and removes them).
CONDITION_TAINT_KEYS = frozenset({key for _, _, key in _CONDITION_TAINTS} | {TAINT_UNSCHEDULABLE})


def _d(obj: Any, key: str) -> dict[str, Any]:
    v = obj.get(key) if isinstance(obj, dict) else None
    return v if isinstance(v, dict) else {}


def condition(node: Mapping[str, Any], type_: str) -> dict[str, Any] | None:
    """The node's status condition of ``type_``, or None."""
    for c in _d(node, "status").get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == type_:
            return c
    return None


def ready_status(node: Mapping[str, Any]) -> str:
    """"True" / "False" / "Unknown", or "" when the node never reported Ready."""
    c = condition(node, "Ready")
    return str(c.get("status") or "") if c is not None else ""


def is_ready(node: Mapping[str, Any]) -> bool:
    return ready_status(node) == "True"


def condition_taints(node: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The NoSchedule taints the node's conditions and ``spec.unschedulable`` call for.

    Without ``timeAdded`` (the writer stamps it), in Kubernetes' order: conditions first,
    then unschedulable.
    """
    out: list[dict[str, Any]] = []
    for type_, status, key in _CONDITION_TAINTS:
        c = condition(node, type_)
        if c is not None and c.get("status") == status:
            out.append({"key": key, "effect": "NoSchedule"})
    if _d(node, "spec").get("unschedulable"):
        out.append({"key": TAINT_UNSCHEDULABLE, "effect": "NoSchedule"})
    return out


def effective_taints(node: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``spec.taints`` plus the condition taints not yet written (same key and effect)."""
    taints = [t for t in _d(node, "spec").get("taints") or [] if isinstance(t, dict)]
    have = {(t.get("key") or "", t.get("effect") or "") for t in taints}
    return taints + [t for t in condition_taints(node) if (t["key"], t["effect"]) not in have]


def _tolerates_one(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """Toleration.ToleratesTaint."""
    effect = toleration.get("effect") or ""
    if effect and effect != (taint.get("effect") or ""):
        return False
    key = toleration.get("key") or ""
    if key and key != (taint.get("key") or ""):
        return False
    op = toleration.get("operator") or ""
    if op in ("", "Equal"):
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return op == "Exists"


def tolerates(tolerations: Iterable[Any], taint: Mapping[str, Any]) -> bool:
    return any(isinstance(t, dict) and _tolerates_one(t, taint) for t in tolerations)


def find_untolerated(taints: Iterable[Mapping[str, Any]], tolerations: Iterable[Any],
                     effects: frozenset[str] = frozenset({"NoSchedule", "NoExecute"})) -> Mapping[str, Any] | None:
    """FindMatchingUntoleratedTaint: the first taint (of ``effects``) no toleration covers."""
    tols = [t for t in tolerations if isinstance(t, dict)]
    for taint in taints:
        if (taint.get("effect") or "") in effects and not tolerates(tols, taint):
            return taint
    return None
