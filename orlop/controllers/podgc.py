"""Pod garbage collection: removes pods nobody else will ever remove.

Why this exists: with graceful deletion a pod on a node is only removed by that node's
agent, once it stopped the containers and unmounted the volumes.  When the node is gone,
or dead, nobody does it: the pod stays Terminating forever, its StatefulSet never
recreates it, and its claims stay "in use".  Kubernetes' PodGC controller closes those
holes; orlop keeps its essentials, every ``period`` (20 s, as Kubernetes' gcCheckPeriod):

- orphaned pods: a pod bound (``spec.nodeName``) to a node that does not exist -- seen
  missing in the Node cache for ``quarantine`` (40 s, Kubernetes' quarantineTime) and then
  confirmed missing by a live read -- is marked Failed with the condition
  ``DisruptionTarget`` True, reason ``DeletionByPodGC``, message ``PodGC: node no longer
  exists`` (unless it already finished) and deleted with grace period 0;
- unscheduled terminating pods: being deleted and never bound to a node -> deleted with
  grace 0 (the registry normally removes those at once; this covers finalizer races);
- terminating pods on a dead node: Kubernetes force-deletes them only when an
  administrator put the ``node.kubernetes.io/out-of-service`` taint on the (not Ready)
  node -- orlop honours that immediately, and also, without the taint, once the node has
  not been Ready for ``terminating_timeout`` (300 s, counted from the Ready condition's
  ``lastTransitionTime``, which the node lifecycle controller sets when the node stops
  reporting) and the pod's own grace period (``deletionTimestamp``) has passed.  This is
  orlop's choice for a single-operator cluster: a node agent silent for five minutes is
  treated as out of service.  The risk is Kubernetes' reason for requiring the taint: a
  node that is only partitioned may still run the pod; for ReadWriteOnce volumes the
  attach annotation (``orlop.io/attached-node``) still guards another node's mount;
- terminated pods beyond ``terminated_threshold`` (12500, Kubernetes' default): the
  oldest are deleted.

Deletes carry the pod's uid as a precondition, so a pod recreated under the same name is
never touched.  The decisions are pure functions (tested with tables); ``PodGC`` runs
them against informer caches.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from ..client import LocalClient
from ..errors import StatusError
from ..jsonobj import clone
from ..scheduler.taints import TAINT_OUT_OF_SERVICE, condition, is_ready
from .base import Informers

log = logging.getLogger(__name__)

PERIOD = 20.0
QUARANTINE = 40.0
TERMINATING_TIMEOUT = 300.0
TERMINATED_THRESHOLD = 12500

ORPHAN_CONDITION = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
                    "message": "PodGC: node no longer exists"}


def _ts(text: Any) -> float | None:
    if not text:
        return None
    try:
        return datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _terminal(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


# --------------------------------------------------------------------------- pure decisions

def orphaned_nodes(pods: Iterable[Mapping[str, Any]], nodes: Mapping[str, Any]) -> set[str]:
    """Names of nodes that pods are bound to but that are not in ``nodes``."""
    return {str(p["spec"]["nodeName"]) for p in pods
            if (p.get("spec") or {}).get("nodeName") and p["spec"]["nodeName"] not in nodes}


def terminating_to_delete(pods: Iterable[Mapping[str, Any]], nodes: Mapping[str, Mapping[str, Any]], now: float,
                          terminating_timeout: float) -> list[Mapping[str, Any]]:
    """Terminating pods nobody will finish: unscheduled ones, and those on a node that is
    not Ready and either out of service or not Ready for ``terminating_timeout`` with the
    pod's grace period over.  ``now``: wall-clock seconds."""
    out = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if not meta.get("deletionTimestamp"):
            continue
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            out.append(pod)
            continue
        node = nodes.get(node_name)
        if node is None or is_ready(node):
            continue            # orphans are handled with their quarantine; a Ready node's agent acts
        if any(isinstance(t, dict) and t.get("key") == TAINT_OUT_OF_SERVICE
               for t in (node.get("spec") or {}).get("taints") or []):
            out.append(pod)
            continue
        ready = condition(node, "Ready")
        since = _ts((ready or {}).get("lastTransitionTime")) or _ts((node.get("metadata") or {}).get(
            "creationTimestamp"))
        deadline = _ts(meta.get("deletionTimestamp")) or 0.0
        if since is not None and now >= since + terminating_timeout and now >= deadline:
            out.append(pod)
    return out


def terminated_to_delete(pods: Iterable[Mapping[str, Any]], threshold: int) -> list[Mapping[str, Any]]:
    """gcTerminated: the oldest terminated pods beyond ``threshold`` (0 disables)."""
    done = [p for p in pods if _terminal(p) and not (p.get("metadata") or {}).get("deletionTimestamp")]
    if threshold <= 0 or len(done) <= threshold:
        return []
    done.sort(key=lambda p: ((p.get("metadata") or {}).get("creationTimestamp") or "",
                             (p.get("metadata") or {}).get("name") or ""))
    return done[:len(done) - threshold]


def failed_status(pod: Mapping[str, Any], condition_: Mapping[str, Any] | None, now: str) -> dict[str, Any] | None:
    """The status patch marking a pod Failed before a forced delete (None: already finished)."""
    if _terminal(pod):
        return None
    status: dict[str, Any] = {"phase": "Failed"}
    if condition_ is not None:
        conds = [c for c in (pod.get("status") or {}).get("conditions") or []
                 if isinstance(c, dict) and c.get("type") != condition_["type"]]
        status["conditions"] = [*conds, {**condition_, "lastProbeTime": None, "lastTransitionTime": now}]
    return {"status": status}


# --------------------------------------------------------------------------- the controller

class PodGC:
    def __init__(self, client: LocalClient, informers: Informers, *, period: float = PERIOD,
                 quarantine: float = QUARANTINE, terminating_timeout: float = TERMINATING_TIMEOUT,
                 terminated_threshold: int = TERMINATED_THRESHOLD):
        self.client = client
        self.pods = informers.get("v1", "Pod")
        self.nodes = informers.get("v1", "Node")
        self.period, self.quarantine = period, quarantine
        self.terminating_timeout, self.terminated_threshold = terminating_timeout, terminated_threshold
        self.missing_since: dict[str, float] = {}

    async def run(self) -> None:
        await self.pods.synced.wait()
        await self.nodes.synced.wait()
        while True:
            try:
                await self.gc_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - retried next period
                log.exception("pod gc failed")
            await asyncio.sleep(self.period)

    async def gc_once(self) -> None:
        pods = list(self.pods.cache.values())
        nodes = {k[1]: n for k, n in self.nodes.cache.items()}
        await self._gc_terminated(pods)
        await self._gc_orphaned(pods, nodes)
        for pod in terminating_to_delete(pods, nodes, time.time(), self.terminating_timeout):
            await self._force_delete(pod, None)

    async def _gc_terminated(self, pods: list[dict[str, Any]]) -> None:
        for pod in terminated_to_delete(pods, self.terminated_threshold):
            await self._force_delete(pod, None)

    async def _gc_orphaned(self, pods: list[dict[str, Any]], nodes: Mapping[str, Any]) -> None:
        now = time.monotonic()
        missing = orphaned_nodes(pods, nodes)
        for name in list(self.missing_since):
            if name not in missing:
                del self.missing_since[name]
        gone: set[str] = set()
        for name in missing:
            first = self.missing_since.setdefault(name, now)
            if now - first < self.quarantine:
                continue
            if await self.client.get("v1", "Node", None, name) is None:     # not just a stale cache
                gone.add(name)
            else:
                del self.missing_since[name]
        for pod in pods:
            if (pod.get("spec") or {}).get("nodeName") in gone:
                log.info("pod %s/%s: node %s no longer exists; deleting it", pod["metadata"].get("namespace"),
                         pod["metadata"]["name"], pod["spec"]["nodeName"])
                await self._force_delete(pod, ORPHAN_CONDITION)

    async def _force_delete(self, pod: Mapping[str, Any], condition_: Mapping[str, Any] | None) -> None:
        """markFailedAndDeletePod: phase Failed (+ condition), then delete with grace 0."""
        meta = pod["metadata"]
        ns, name, uid = meta.get("namespace"), meta["name"], meta.get("uid")
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = failed_status(pod, condition_, now)
        try:
            if patch is not None:
                # Compare-and-swap on the cached version: never a pod recreated under the same name.
                new = clone(dict(pod))
                new["status"] = {**(new.get("status") or {}), **patch["status"]}
                await self.client.update(new, subresource="status")
            await self.client.delete("v1", "Pod", ns, name, uid=uid, grace_period_seconds=0)
        except StatusError as e:
            if e.code not in (404, 409):
                raise
