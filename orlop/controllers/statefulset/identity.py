"""The identity a StatefulSet gives each pod and claim, and the health checks it gates on.

Why this exists: a StatefulSet's promise is a stable identity per ordinal: pod
``<set>-<ordinal>`` with hostname = pod name and subdomain = ``spec.serviceName``, and one
claim ``<template>-<set>-<ordinal>`` per volumeClaimTemplate that every incarnation of the
pod mounts.  These rules (Kubernetes' stateful_set_utils.go) are small and used by every
branch of the decision, so they live together here, as plain functions of JSON objects:

- names and ordinals (``(.*)-([0-9]+)$``, ``spec.ordinals.start``);
- the pod built from a template (``GetPodFromTemplate`` + identity + storage + revision);
- the claims built from the templates (labels: template's, then the selector's matchLabels);
- health: created (has a phase), Running and Ready, available after minReadySeconds,
  terminating (deletionTimestamp);
- the ownerReferences ``persistentVolumeClaimRetentionPolicy`` asks for on a claim
  (Kubernetes 1.32's ``isClaimOwnerUpToDate`` / ``updateClaimOwnerRefForSetAndPod``):
  Retain/Retain no reference; whenDeleted=Delete a controller reference to the set while
  the ordinal is in range; whenScaled=Delete a controller reference to the pod once the
  ordinal is condemned.  The garbage collector then deletes the claim with its owner.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from ...jsonobj import clone
from .history import controller_ref

JSON = dict[str, Any]

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = "controller-revision-hash"
RETAIN, DELETE = "Retain", "Delete"

_STATEFUL_POD = re.compile(r"^(.*)-([0-9]+)$", re.S)
_INT32_MAX = 2**31 - 1


# --------------------------------------------------------------------------- names

def parent_and_ordinal(name: str) -> tuple[str, int]:
    """``getParentNameAndOrdinal``: ("", -1) for a name without ``-<digits>``; -1 past int32."""
    m = _STATEFUL_POD.match(name)
    if not m:
        return "", -1
    ordinal = int(m.group(2))
    return m.group(1), ordinal if ordinal <= _INT32_MAX else -1


def ordinal_of(pod: JSON) -> int:
    return parent_and_ordinal(pod["metadata"]["name"])[1]


def is_member(sts: JSON, pod: JSON) -> bool:
    return parent_and_ordinal(pod["metadata"]["name"])[0] == sts["metadata"]["name"]


def start_ordinal(sts: JSON) -> int:
    ordinals = (sts.get("spec") or {}).get("ordinals") or {}
    return int(ordinals.get("start") or 0)


def replica_count(sts: JSON) -> int:
    r = (sts.get("spec") or {}).get("replicas")
    return 1 if r is None else int(r)


def end_ordinal(sts: JSON) -> int:
    return start_ordinal(sts) + replica_count(sts) - 1


def in_range(sts: JSON, ordinal: int) -> bool:
    return start_ordinal(sts) <= ordinal <= end_ordinal(sts)


def pod_name(sts: JSON, ordinal: int) -> str:
    return f"{sts['metadata']['name']}-{ordinal}"


def claim_name(sts: JSON, template: JSON, ordinal: int) -> str:
    return f"{(template.get('metadata') or {}).get('name', '')}-{sts['metadata']['name']}-{ordinal}"


def claim_templates(sts: JSON) -> list[JSON]:
    return [t for t in (sts.get("spec") or {}).get("volumeClaimTemplates") or [] if isinstance(t, dict)]


def revision_of(pod: JSON) -> str:
    return str(((pod.get("metadata") or {}).get("labels") or {}).get(REVISION_LABEL, ""))


# --------------------------------------------------------------------------- health

def phase(pod: JSON) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def is_created(pod: JSON) -> bool:
    """A pod the API server holds (a to-be-created pod has no phase)."""
    return phase(pod) != ""


def is_terminating(pod: JSON) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def _ready_condition(pod: JSON) -> JSON | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == "Ready":
            return c
    return None


def is_running_and_ready(pod: JSON) -> bool:
    c = _ready_condition(pod)
    return phase(pod) == "Running" and c is not None and c.get("status") == "True"


def _parse_time(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def is_available(pod: JSON, min_ready_seconds: int, now: datetime.datetime) -> bool:
    """``podutil.IsPodAvailable``: ready, and ready for ``minReadySeconds`` (by the condition's time)."""
    if not is_running_and_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = _parse_time((_ready_condition(pod) or {}).get("lastTransitionTime"))
    return since is not None and since + datetime.timedelta(seconds=min_ready_seconds) < now


def is_healthy(pod: JSON) -> bool:
    return is_running_and_ready(pod) and not is_terminating(pod)


# --------------------------------------------------------------------------- pods and claims

def new_claims(sts: JSON, ordinal: int) -> dict[str, JSON]:
    """``getPersistentVolumeClaims``: template name -> the claim for ``ordinal``."""
    meta = sts["metadata"]
    match_labels = ((sts.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    out: dict[str, JSON] = {}
    for t in claim_templates(sts):
        tmeta = dict(t.get("metadata") or {})
        for server_field in ("creationTimestamp", "uid", "resourceVersion", "generation", "managedFields",
                             "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            tmeta.pop(server_field, None)
        cmeta = clone(tmeta)
        cmeta["name"] = claim_name(sts, t, ordinal)
        cmeta["namespace"] = meta.get("namespace")
        cmeta["labels"] = {**(tmeta.get("labels") or {}), **match_labels}
        if not cmeta["labels"]:
            del cmeta["labels"]
        out[str(tmeta.get("name", ""))] = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                           "metadata": cmeta, "spec": clone(t.get("spec") or {})}
    return out


def update_storage(sts: JSON, pod: JSON) -> None:
    """``updateStorage``: a persistentVolumeClaim volume per template, replacing same-named volumes."""
    spec = pod.setdefault("spec", {})
    claims = new_claims(sts, ordinal_of(pod))
    volumes = [{"name": tname, "persistentVolumeClaim": {"claimName": c["metadata"]["name"]}}
               for tname, c in claims.items()]
    volumes += [v for v in spec.get("volumes") or [] if not (isinstance(v, dict) and v.get("name") in claims)]
    if volumes:
        spec["volumes"] = volumes


def update_identity(sts: JSON, pod: JSON) -> None:
    """``updateIdentity``: name, namespace and the pod-name / pod-index labels."""
    ordinal = ordinal_of(pod)
    meta = pod.setdefault("metadata", {})
    meta["name"] = pod_name(sts, ordinal)
    meta["namespace"] = sts["metadata"].get("namespace")
    labels = meta.get("labels") or {}
    labels[POD_NAME_LABEL] = meta["name"]
    labels[POD_INDEX_LABEL] = str(ordinal)
    meta["labels"] = labels


def identity_matches(sts: JSON, pod: JSON) -> bool:
    parent, ordinal = parent_and_ordinal(pod["metadata"]["name"])
    meta = pod["metadata"]
    return (ordinal >= 0 and parent == sts["metadata"]["name"] and meta["name"] == pod_name(sts, ordinal)
            and meta.get("namespace") == sts["metadata"].get("namespace")
            and (meta.get("labels") or {}).get(POD_NAME_LABEL) == meta["name"])


def storage_matches(sts: JSON, pod: JSON) -> bool:
    ordinal = ordinal_of(pod)
    if ordinal < 0:
        return False
    volumes = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or [] if isinstance(v, dict)}
    for t in claim_templates(sts):
        v = volumes.get((t.get("metadata") or {}).get("name"))
        pvc = (v or {}).get("persistentVolumeClaim")
        if not isinstance(pvc, dict) or pvc.get("claimName") != claim_name(sts, t, ordinal):
            return False
    return True


def new_pod(sts: JSON, ordinal: int, revision: str) -> JSON:
    """``newStatefulSetPod`` + ``setPodRevision``: the pod for ``ordinal`` from ``sts``'s template."""
    meta = sts["metadata"]
    template = (sts.get("spec") or {}).get("template") or {}
    tmeta = template.get("metadata") or {}
    pmeta: JSON = {"name": pod_name(sts, ordinal), "generateName": f"{meta['name']}-",
                   "namespace": meta.get("namespace"), "labels": dict(tmeta.get("labels") or {})}
    if tmeta.get("annotations"):
        pmeta["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        pmeta["finalizers"] = list(tmeta["finalizers"])
    pmeta["ownerReferences"] = [controller_ref(sts, "apps/v1", "StatefulSet")]
    pod: JSON = {"apiVersion": "v1", "kind": "Pod", "metadata": pmeta, "spec": clone(template.get("spec") or {})}
    update_identity(sts, pod)
    # initIdentity: hostname and subdomain are set on creation only (they are immutable).
    pod["spec"]["hostname"] = pmeta["name"]
    service = (sts.get("spec") or {}).get("serviceName")
    if service:
        pod["spec"]["subdomain"] = service
    update_storage(sts, pod)
    pmeta["labels"][REVISION_LABEL] = revision
    return pod


# --------------------------------------------------------------------------- retention

def retention(sts: JSON) -> tuple[str, str]:
    """(whenDeleted, whenScaled); unset or unknown values mean Retain."""
    p = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
    wd, ws = p.get("whenDeleted") or RETAIN, p.get("whenScaled") or RETAIN
    return (wd if wd in (RETAIN, DELETE) else RETAIN), (ws if ws in (RETAIN, DELETE) else RETAIN)


_SET_KIND = ("apps/v1", "StatefulSet")
_POD_KIND = ("v1", "Pod")


def _refs(obj: JSON) -> list[JSON]:
    return [r for r in (obj.get("metadata") or {}).get("ownerReferences") or [] if isinstance(r, dict)]


def _uid(obj: JSON) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


def _matches_ref(ref: JSON, obj: JSON, kind: tuple[str, str]) -> bool:
    return (ref.get("apiVersion"), ref.get("kind")) == kind and ref.get("name") == obj["metadata"]["name"]


def has_owner_ref(target: JSON, owner: JSON) -> bool:
    uid = _uid(owner)
    return any(r.get("uid") == uid for r in _refs(target))


def has_stale_owner_ref(target: JSON, obj: JSON, kind: tuple[str, str]) -> bool:
    """A reference to ``obj`` by kind and name whose uid is another's (an earlier incarnation)."""
    for r in _refs(target):
        if _matches_ref(r, obj, kind):
            return bool(r.get("uid") != _uid(obj))
    return False


def has_unexpected_controller(claim: JSON, sts: JSON, pod: JSON) -> bool:
    if retention(sts) == (RETAIN, RETAIN):
        return False
    for r in _refs(claim):
        if _matches_ref(r, sts, _SET_KIND):
            if r.get("uid") != _uid(sts):
                return True
            continue
        if _matches_ref(r, pod, _POD_KIND):
            if r.get("uid") != _uid(pod):
                return True
            continue
        if r.get("controller"):
            return True
    return False


def _has_non_controller_owner(claim: JSON, sts: JSON, pod: JSON) -> bool:
    return any(r.get("uid") in (_uid(sts), _uid(pod)) and not r.get("controller") for r in _refs(claim))


def claim_owner_up_to_date(claim: JSON, sts: JSON, pod: JSON) -> bool:
    """``isClaimOwnerUpToDate``: the claim's references already say what the retention policy wants.

    Stale references (an earlier set or pod of the same name) mean "do not touch": the
    garbage collector owns that claim's fate.
    """
    if has_stale_owner_ref(claim, sts, _SET_KIND) or has_stale_owner_ref(claim, pod, _POD_KIND):
        return True
    if has_unexpected_controller(claim, sts, pod):
        return not (has_owner_ref(claim, sts) or has_owner_ref(claim, pod))
    if _has_non_controller_owner(claim, sts, pod):
        return False
    when_deleted, when_scaled = retention(sts)
    has_set, has_pod = has_owner_ref(claim, sts), has_owner_ref(claim, pod)
    scaled_down = not in_range(sts, ordinal_of(pod))
    if when_scaled == RETAIN and when_deleted == RETAIN:
        return not has_set and not has_pod
    if when_scaled == RETAIN:                       # whenDeleted Delete
        return has_set and not has_pod
    if when_deleted == RETAIN:                      # whenScaled Delete
        return not has_set and scaled_down == has_pod
    return scaled_down != has_set and scaled_down == has_pod


def claim_owner_refs(claim: JSON, sts: JSON, pod: JSON) -> list[JSON]:
    """``updateClaimOwnerRefForSetAndPod``: the claim's ownerReferences as the policy wants them."""
    unexpected = has_unexpected_controller(claim, sts, pod)
    refs = [r for r in _refs(claim) if not (_matches_ref(r, sts, _SET_KIND) or _matches_ref(r, pod, _POD_KIND))]
    if unexpected:
        return refs
    when_deleted, when_scaled = retention(sts)
    scaled_down = not in_range(sts, ordinal_of(pod))

    def add(owner: JSON, api_version: str, kind: str) -> None:
        if not any(r.get("uid") == _uid(owner) for r in refs):
            refs.append(controller_ref(owner, api_version, kind))

    if when_scaled == DELETE and scaled_down:
        add(pod, "v1", "Pod")
    elif when_deleted == DELETE and (when_scaled == RETAIN or not scaled_down):
        add(sts, "apps/v1", "StatefulSet")
    return refs


def claim_is_stale(sts: JSON, pod: JSON, claims: dict[str, JSON]) -> bool:
    """``PodClaimIsStale``: under whenScaled=Delete a claim still owned by an earlier pod of this
    name blocks the new pod until the garbage collector has removed it."""
    if retention(sts)[1] == RETAIN:
        return False
    for c in new_claims(sts, ordinal_of(pod)).values():
        existing = claims.get(c["metadata"]["name"])
        if existing is not None and has_stale_owner_ref(existing, pod, _POD_KIND):
            return True
    return False
