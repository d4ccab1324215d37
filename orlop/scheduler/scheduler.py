"""The scheduler: assigns pending pods to nodes, as kube-scheduler's default profile does.

Why this exists: a pod runs nowhere until something writes its node, and for storage
that choice is final -- a local volume provisioned for a WaitForFirstConsumer claim
lives on the chosen node's disk.  This controller runs ``orlop.scheduler.decide`` (the
rules and messages) against informer caches and carries out what it decides, with the
API writes Kubernetes makes:

- a pod is this scheduler's when it has no ``spec.nodeName``, ``schedulerName``
  ``default-scheduler`` (or unset), is not being deleted, not terminated and not gated;
- success: static PVs chosen for WaitForFirstConsumer claims are pre-bound
  (``claimRef`` + ``pv.kubernetes.io/bound-by-controller``, a compare-and-swap update),
  claims to provision get ``volume.kubernetes.io/selected-node`` (a merge patch, skipped
  when already set); then, once every such claim is Bound (re-checked on claim and PV
  changes; kube-scheduler's PreBind wait, ``bind_timeout``, 600 s as Kubernetes), the pod
  is bound with ``client.bind_pod`` (POST pods/<name>/binding) and a Normal ``Scheduled``
  event ``Successfully assigned <ns>/<pod> to <node>`` is recorded (component
  ``default-scheduler``).  If a claim loses its selected-node annotation (the
  provisioner gave up), a pre-bound PV loses its claim, or the wait times out, the pod
  goes back to the queue with a FailedScheduling ``running PreBind plugin
  "VolumeBinding": binding volumes: ...`` (condition reason ``SchedulerError``);
- failure: a Warning ``FailedScheduling`` event with the decision's message (repeats are
  counted on one Event) and the pod's ``PodScheduled`` condition set to False, reason
  ``Unschedulable``, the same message (a status write, only when it changes).

Retries (kube-scheduler's scheduling queue, simplified): an unschedulable pod waits until
something that can change the answer happens -- a node added or changed (labels, taints,
unschedulable, conditions; heartbeats are ignored), one of its claims added or changed, a
PV or StorageClass added or changed (pods with claims), a pod that used one of its claims
deleted or terminated, or the pod itself changed -- and then runs again once its backoff
has passed (``initial_backoff`` doubling per attempt up to ``max_backoff``: 1 s and 10 s
as Kubernetes).  As a safety net every pod unschedulable for ``retry_interval`` (60 s) is
tried again.

Speed: decisions run one at a time (like kube-scheduler's single scheduling cycle) and
never wait for I/O; everything they read is kept incrementally -- pods per node, pods per
claim (for ReadWriteOncePod), the PV candidates index.  A decision *assumes* its outcome
at once (the pod counts on its node, pre-bound PVs and annotated claims are overlaid on
the caches) so the next decision sees it before any write lands; the writes then run
concurrently (at most ``max_inflight``).  An assumption is dropped when the informer
delivers the written version, or undone when a write fails.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import ChainMap, Counter
from dataclasses import dataclass, field
from typing import Any

from ..client import LocalClient
from ..controllers.base import Informers, WorkQueue, key_of
from ..controllers.pv.decide import ANN_BOUND_BY_CONTROLLER, ANN_SELECTED_NODE, claim_ref
from ..errors import StatusError
from ..jsonobj import clone
from . import decide
from .decide import ClaimKey, Result

log = logging.getLogger(__name__)

COMPONENT = "default-scheduler"
PodKey = tuple[str, str]


def _rv(obj: dict[str, Any] | None) -> int:
    try:
        return int(((obj or {}).get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


def _newer(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if _rv(a) >= _rv(b) else b


def _node_signature(node: dict[str, Any]) -> Any:
    """What in a Node can change a scheduling decision (not heartbeats)."""
    spec = node.get("spec") or {}
    conds = tuple(sorted((str(c.get("type")), str(c.get("status")))
                         for c in (node.get("status") or {}).get("conditions") or [] if isinstance(c, dict)))
    return (repr(sorted((node["metadata"].get("labels") or {}).items())), repr(spec.get("taints")),
            bool(spec.get("unschedulable")), conds)


@dataclass
class _Waiting:
    """A pod assumed on ``node`` whose WaitForFirstConsumer claims must be Bound first."""

    node: str
    uid: str
    result: Result
    deadline: float
    written: bool = False        # the pre-binding / annotation writes have landed


@dataclass
class _Backoff:
    attempts: int = 0
    last: float = 0.0
    claims: set[ClaimKey] = field(default_factory=set)


class Scheduler:
    def __init__(self, client: LocalClient, informers: Informers, *, initial_backoff: float = 1.0,
                 max_backoff: float = 10.0, bind_timeout: float = 600.0, retry_interval: float = 60.0,
                 max_inflight: int = 64):
        self.client = client
        self.pods = informers.get("v1", "Pod")
        self.node_informer = informers.get("v1", "Node")
        self.claims = informers.get("v1", "PersistentVolumeClaim")
        self.volume_informer = informers.get("v1", "PersistentVolume")
        self.class_informer = informers.get("storage.k8s.io/v1", "StorageClass")
        self.initial_backoff, self.max_backoff = initial_backoff, max_backoff
        self.bind_timeout, self.retry_interval = bind_timeout, retry_interval
        self.queue = WorkQueue()
        # Caches by name, and what decisions assumed before the informers caught up.
        self.nodes: dict[str, dict[str, Any]] = {}
        self._node_sigs: dict[str, Any] = {}
        self.volumes: dict[str, dict[str, Any]] = {}
        self.classes: dict[str, dict[str, Any]] = {}
        self.claim_overlay: dict[ClaimKey, dict[str, Any]] = {}
        self.volume_overlay: dict[str, dict[str, Any]] = {}
        self._overlay_owner: dict[tuple[str, Any], PodKey] = {}
        self.candidates = decide.VolumeCandidates()
        # Assigned (bound or assumed) non-terminated pods: node, claims; and the counts.
        self.assigned: dict[PodKey, tuple[str, frozenset[ClaimKey]]] = {}
        self.node_counts: Counter[str] = Counter()
        self.claim_users: Counter[ClaimKey] = Counter()
        self.assumed: set[PodKey] = set()
        self.waiting: dict[PodKey, _Waiting] = {}
        self.unschedulable: dict[PodKey, _Backoff] = {}
        self.backoff: dict[PodKey, _Backoff] = {}
        self._armed: set[PodKey] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(max_inflight)
        self.snapshot = decide.Snapshot(nodes=self.nodes, claims=ChainMap(self.claim_overlay, self.claims.cache),
                                        volumes=ChainMap(self.volume_overlay, self.volumes), classes=self.classes,
                                        pod_counts=self.node_counts, claim_users=self.claim_users,
                                        candidates=self.candidates)
        self.pods.on_change(self._on_pod)
        self.node_informer.on_change(self._on_node)
        self.claims.on_change(self._on_claim)
        self.volume_informer.on_change(self._on_volume)
        self.class_informer.on_change(self._on_class)

    # ------------------------------------------------------------------ bookkeeping
    def _assign(self, key: PodKey, node: str, claims: frozenset[ClaimKey]) -> None:
        if self.assigned.get(key) == (node, claims):
            return
        self._unassign(key)
        self.assigned[key] = (node, claims)
        self.node_counts[node] += 1
        for c in claims:
            self.claim_users[c] += 1

    def _unassign(self, key: PodKey) -> frozenset[ClaimKey]:
        prev = self.assigned.pop(key, None)
        if prev is None:
            return frozenset()
        node, claims = prev
        self.node_counts[node] -= 1
        if self.node_counts[node] <= 0:
            del self.node_counts[node]
        for c in claims:
            self.claim_users[c] -= 1
            if self.claim_users[c] <= 0:
                del self.claim_users[c]
        return claims

    def _claim(self, key: ClaimKey) -> dict[str, Any] | None:
        return _newer(self.claim_overlay.get(key), self.claims.cache.get(key))

    def _volume(self, name: str) -> dict[str, Any] | None:
        return _newer(self.volume_overlay.get(name), self.volumes.get(name))

    def _overlay_claim(self, pod: PodKey, claim: dict[str, Any]) -> None:
        k = key_of(claim)
        self.claim_overlay[k] = claim
        self._overlay_owner[("claim", k)] = pod

    def _overlay_volume(self, pod: PodKey, pv: dict[str, Any]) -> None:
        name = pv["metadata"]["name"]
        self.volume_overlay[name] = pv
        self._overlay_owner[("pv", name)] = pod
        self.candidates.upsert(pv)

    def _drop_overlays(self, pod: PodKey) -> None:
        for (kind, k), owner in list(self._overlay_owner.items()):
            if owner != pod:
                continue
            del self._overlay_owner[(kind, k)]
            if kind == "claim":
                self.claim_overlay.pop(k, None)
            else:
                self.volume_overlay.pop(k, None)
                cached = self.volumes.get(k)
                if cached is not None:
                    self.candidates.upsert(cached)
                else:
                    self.candidates.remove(k)

    def _forget(self, key: PodKey) -> frozenset[ClaimKey]:
        """The pod is gone or no longer ours: drop every trace of it."""
        self.assumed.discard(key)
        self.waiting.pop(key, None)
        self.unschedulable.pop(key, None)
        self.backoff.pop(key, None)
        self._drop_overlays(key)
        return self._unassign(key)

    # ------------------------------------------------------------------ informer events
    def _on_pod(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        key = key_of(obj)
        if typ == "DELETED":
            self._wake_claim_users(self._forget(key))
            return
        spec = obj.get("spec") or {}
        node = spec.get("nodeName")
        if node:
            self.assumed.discard(key)
            self.waiting.pop(key, None)
            self.unschedulable.pop(key, None)
            self.backoff.pop(key, None)
            self._drop_overlays(key)
            if decide.is_terminal(obj):
                self._wake_claim_users(self._unassign(key))
            else:
                self._assign(key, node, frozenset(decide.claim_keys(obj)))
            return
        if key in self.assumed:
            return       # our own decision, its bind not yet seen
        if not decide.needs_scheduling(obj):
            self._forget(key)
            return
        if key in self.unschedulable:
            if old is not None and old.get("spec") == obj.get("spec") and \
                    (old["metadata"].get("labels") == obj["metadata"].get("labels")):
                return   # a status change (our own condition write): nothing new to try
            self._wake([key])
            return
        self.queue.add(key)

    def _on_node(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        name = obj["metadata"]["name"]
        if typ == "DELETED":
            self.nodes.pop(name, None)
            self._node_sigs.pop(name, None)
            return
        self.nodes[name] = obj
        sig = _node_signature(obj)
        if self._node_sigs.get(name) != sig:
            self._node_sigs[name] = sig
            self._wake(list(self.unschedulable))

    def _on_claim(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        k = key_of(obj)
        over = self.claim_overlay.get(k)
        if over is not None and (typ == "DELETED" or _rv(obj) >= _rv(over)):
            self.claim_overlay.pop(k, None)
            self._overlay_owner.pop(("claim", k), None)
        for p, w in list(self.waiting.items()):
            if k in w.result.wait_for:
                self._check_waiting(p)
        if typ != "DELETED":
            self._wake([p for p, b in self.unschedulable.items() if k in b.claims])

    def _on_volume(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        name = obj["metadata"]["name"]
        over = self.volume_overlay.get(name)
        if over is not None and (typ == "DELETED" or _rv(obj) >= _rv(over)):
            self.volume_overlay.pop(name, None)
            self._overlay_owner.pop(("pv", name), None)
            over = None
        if typ == "DELETED":
            self.volumes.pop(name, None)
            if over is None:
                self.candidates.remove(name)
            return
        self.volumes[name] = obj
        if over is None:
            self.candidates.upsert(obj)
        self._wake([p for p, b in self.unschedulable.items() if b.claims])
        for p in list(self.waiting):
            self._check_waiting(p)

    def _on_class(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        name = obj["metadata"]["name"]
        if typ == "DELETED":
            self.classes.pop(name, None)
            return
        self.classes[name] = obj
        self._wake([p for p, b in self.unschedulable.items() if b.claims])

    def _wake_claim_users(self, claims: frozenset[ClaimKey]) -> None:
        """A pod holding ``claims`` went away: pods refused for those claims may fit now."""
        if claims:
            self._wake([p for p, b in self.unschedulable.items() if b.claims & claims])

    # ------------------------------------------------------------------ queueing
    def _delay(self, attempts: int) -> float:
        return min(self.max_backoff, self.initial_backoff * (2 ** max(0, attempts - 1)))

    def _wake(self, keys: list[PodKey]) -> None:
        """Move unschedulable pods back to the queue once their backoff has passed."""
        now = time.monotonic()
        for key in keys:
            b = self.unschedulable.pop(key, None)
            if b is None:
                continue
            wait = b.last + self._delay(b.attempts) - now
            if wait <= 0:
                self.queue.add(key)
            elif key not in self._armed:
                self._armed.add(key)
                asyncio.get_running_loop().call_later(wait, self._fire, key)

    def _fire(self, key: PodKey) -> None:
        self._armed.discard(key)
        self.queue.add(key)

    def _spawn(self, coro: Any) -> None:
        async def guarded() -> None:
            async with self._slots:
                try:
                    await coro
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - one pod's failure must not stop the scheduler
                    log.exception("scheduler: write failed")
        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ run
    async def run(self) -> None:
        for inf in (self.pods, self.node_informer, self.claims, self.volume_informer, self.class_informer):
            await inf.synced.wait()
        ticker = asyncio.get_running_loop().create_task(self._ticker())
        try:
            while True:
                key = await self.queue.get()
                try:
                    self.schedule_one(key)
                except Exception:  # noqa: BLE001 - retried with backoff
                    log.exception("scheduler: scheduling %s failed", key)
                    self.queue.retry(key)
        finally:
            ticker.cancel()
            for t in list(self._tasks):
                t.cancel()

    async def _ticker(self) -> None:
        """Bind timeouts and the periodic retry of long-unschedulable pods."""
        period = max(0.05, min(1.0, self.bind_timeout / 4, self.retry_interval / 4))
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for key, w in list(self.waiting.items()):
                if now >= w.deadline:
                    self._prebind_failed(key, "context deadline exceeded")
            stale = [k for k, b in self.unschedulable.items() if now - b.last >= self.retry_interval]
            if stale:
                self._wake(stale)

    # ------------------------------------------------------------------ one pod
    def schedule_one(self, key: PodKey) -> None:
        """One scheduling cycle: decide, assume, and start the writes (no waiting here)."""
        pod = self.pods.cache.get(key)
        if pod is None or key in self.assumed or not decide.needs_scheduling(pod):
            return
        result = decide.schedule(pod, self.snapshot)
        if result.node is None:
            self._failed(key, pod, result.message, result.reason or "Unschedulable")
            return
        node = result.node
        self.backoff.pop(key, None)
        self.assumed.add(key)
        self._assign(key, node, frozenset(decide.claim_keys(pod)))
        # AssumePodVolumes: pre-bound PVs and annotated claims, seen by the next decisions now.
        writes: list[tuple[str, dict[str, Any]]] = []
        for ck, pv_name in result.prebind:
            claim, pv = self._claim(ck), self._volume(pv_name)
            if claim is None or pv is None:
                continue
            new = clone(pv)
            new["spec"]["claimRef"] = claim_ref(claim)
            new["metadata"].setdefault("annotations", {})[ANN_BOUND_BY_CONTROLLER] = "yes"
            self._overlay_volume(key, new)
            writes.append(("pv", new))
        for ck in result.provision:
            claim = self._claim(ck)
            if claim is None or (claim["metadata"].get("annotations") or {}).get(ANN_SELECTED_NODE) == node:
                continue
            new = clone(claim)
            new["metadata"].setdefault("annotations", {})[ANN_SELECTED_NODE] = node
            self._overlay_claim(key, new)
            writes.append(("claim", new))
        uid = pod["metadata"].get("uid", "")
        if result.wait_for:
            self.waiting[key] = _Waiting(node, uid, result, time.monotonic() + self.bind_timeout)
        self._spawn(self._volume_writes(key, pod, node, writes))

    async def _volume_writes(self, key: PodKey, pod: dict[str, Any], node: str,
                             writes: list[tuple[str, dict[str, Any]]]) -> None:
        """BindPodVolumes' API updates, then the pod binding if nothing needs to wait."""
        for kind, obj in writes:
            try:
                if kind == "pv":
                    out = await self.client.update(obj)
                else:
                    meta = obj["metadata"]
                    out = await self.client.merge_patch(
                        "v1", "PersistentVolumeClaim", meta["namespace"], meta["name"],
                        {"metadata": {"annotations": {ANN_SELECTED_NODE: node}}})
            except StatusError as e:
                if key in self.assumed:
                    self._prebind_failed(key, e.message)
                return
            if key not in self.assumed:
                return          # the pod went away meanwhile
            if kind == "pv":
                if ("pv", out["metadata"]["name"]) in self._overlay_owner:
                    self._overlay_volume(key, out)
            elif ("claim", key_of(out)) in self._overlay_owner:
                self._overlay_claim(key, out)
        w = self.waiting.get(key)
        if w is not None:
            w.written = True
            self._check_waiting(key)
        elif key in self.assumed:
            await self._bind(key, pod, node)

    def _check_waiting(self, key: PodKey) -> None:
        """checkBindings: all of the pod's WaitForFirstConsumer claims Bound -> bind the pod."""
        w = self.waiting.get(key)
        if w is None or not w.written:
            return
        pod = self.pods.cache.get(key)
        if pod is None or pod["metadata"].get("uid") != w.uid:
            self._forget(key)
            return
        pending = False
        prebound = dict(w.result.prebind)
        for ck in w.result.wait_for:
            claim = self._claim(ck)
            if claim is None:
                self._prebind_failed(key, f'failed to check binding: persistentvolumeclaim "{ck[1]}" not found')
                return
            if ck in prebound:
                pv = self._volume(prebound[ck])
                ref = ((pv or {}).get("spec") or {}).get("claimRef") or {}
                if not ref.get("uid"):
                    self._prebind_failed(key, f'ClaimRef got reset for pv "{prebound[ck]}"')
                    return
            elif (claim["metadata"].get("annotations") or {}).get(ANN_SELECTED_NODE) != w.node:
                self._prebind_failed(key, f'provisioning failed for PVC "{ck[1]}"')
                return
            volume_name = (claim.get("spec") or {}).get("volumeName")
            if volume_name:
                pv = self._volume(volume_name)
                node = self.nodes.get(w.node)
                if pv is None or node is None:
                    pending = True
                    continue
                if not decide.pv_matches_node(pv, node):
                    self._prebind_failed(key, f'pv "{volume_name}" node affinity doesn\'t match node "{w.node}"')
                    return
            if not decide.is_fully_bound(claim):
                pending = True
        if pending:
            return
        del self.waiting[key]
        self._spawn(self._bind(key, pod, w.node))

    def _prebind_failed(self, key: PodKey, err: str) -> None:
        """The volume steps failed: undo the assumption, report, retry after backoff."""
        pod = self.pods.cache.get(key)
        self.waiting.pop(key, None)
        self.assumed.discard(key)
        self._drop_overlays(key)
        self._wake_claim_users(self._unassign(key))
        if pod is None or not decide.needs_scheduling(pod):
            return
        self._failed(key, pod, f'running PreBind plugin "VolumeBinding": binding volumes: {err}', "SchedulerError")
        self._wake([key])

    async def _bind(self, key: PodKey, pod: dict[str, Any], node: str) -> None:
        meta = pod["metadata"]
        try:
            await self.client.bind_pod(meta["namespace"], meta["name"], node, meta.get("uid") or None)
        except StatusError as e:
            if e.code == 409 and "already assigned" in e.message:
                return          # someone else bound it; the informer brings the truth
            self.assumed.discard(key)
            self._drop_overlays(key)
            self._wake_claim_users(self._unassign(key))
            if e.code in (404, 409):
                return          # gone, replaced or being deleted
            current = self.pods.cache.get(key)
            if current is not None and decide.needs_scheduling(current):
                self._failed(key, current, f"binding rejected: {e.message}", "SchedulerError")
                self._wake([key])
            return
        await self._event(pod, "Normal", "Scheduled",
                          f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}")

    # ------------------------------------------------------------------ failures
    def _failed(self, key: PodKey, pod: dict[str, Any], message: str, reason: str) -> None:
        b = self.backoff.setdefault(key, _Backoff())
        b.attempts += 1
        b.last = time.monotonic()
        b.claims = set(decide.claim_keys(pod))
        self.unschedulable[key] = b
        self._spawn(self._record_failure(key, message, reason))

    async def _record_failure(self, key: PodKey, message: str, reason: str) -> None:
        pod = self.pods.cache.get(key)
        if pod is None:
            return
        await self._event(pod, "Warning", "FailedScheduling", message)
        status = pod.get("status") or {}
        conds = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
        cur = next((c for c in conds if c.get("type") == "PodScheduled"), None)
        if cur is not None and (cur.get("status"), cur.get("reason"), cur.get("message")) == \
                ("False", reason, message):
            return
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        new = {"type": "PodScheduled", "status": "False", "lastProbeTime": None,
               "lastTransitionTime": cur.get("lastTransitionTime") if cur is not None and
               cur.get("status") == "False" and cur.get("lastTransitionTime") else now,
               "reason": reason, "message": message}
        conds = [new if c is cur else c for c in conds] if cur is not None else [*conds, new]
        meta = pod["metadata"]
        try:
            await self.client.merge_patch("v1", "Pod", meta["namespace"], meta["name"],
                                          {"status": {"conditions": conds}},
                                          subresource="status")
        except StatusError as e:
            if e.code not in (404, 409):
                raise

    async def _event(self, pod: dict[str, Any], type_: str, reason: str, message: str) -> None:
        try:
            await self.client.event(pod, type_, reason, message, COMPONENT)
        except StatusError as e:
            log.info("event %s for %s/%s not recorded: %s", reason, pod["metadata"].get("namespace"),
                     pod["metadata"].get("name"), e)
