"""The PersistentVolume controller: runs the binder's decisions and the backend operations.

Why this exists: ``decide`` says what should happen; this module makes it happen —
fast and safely.  It keeps informer caches of claims, volumes, classes and pods, syncs
claims and volumes from two de-duplicating queues, applies each Decision's writes in
order through the API client (stopping at the first failure: the next sync resumes),
records events, and runs the slow backend operations (provision, delete, recycle)
as asynchronous tasks with exponential backoff, each named from the claim's uid so a
repeat or a crash leaves nothing duplicated or orphaned.

Speed, where Kubernetes is slow (one worker, four sequential writes per bind):
- decisions are computed one at a time (the binder is not re-entrant, as in
  Kubernetes), but their writes run concurrently; a volume chosen for a claim is taken
  out of the match index at decision time, so no other claim can pick it while the
  writes are in flight;
- matching walks ``decide.VolumeIndex`` (unclaimed volumes per class in tie-break
  order, claimed ones by the claim they name) and stops at the first fit, instead of
  scanning every volume (the full scan only runs to explain why a claim stays Pending);
- every write's result goes straight into the cache, so the next decision sees it;
- a new volume (Pending, no claimRef) is matched as what this controller's own
  ``syncVolume`` makes of it (Available): a claim can take it at once, and its bind write
  takes it from Pending to Bound -- the final objects are exactly those of "syncVolume,
  then syncClaim", one write fewer.  While unbound claims of its class exist, the volume's
  own Available write waits up to ``FRESH_GRACE`` for one of them to take it;
- provisioning by this controller's own drivers folds setClaimProvisioner's write (the
  ``volume[.beta].kubernetes.io/storage-provisioner`` annotations) into the claim's bind
  write (``decide`` adds them when a claim binds to the volume made for it), one write
  fewer per claim; the annotations are written on their own only when provisioning fails
  or takes longer than ``ANNOTATE_AFTER``, so a claim that waits looks as in Kubernetes.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ...client import LocalClient
from ...drivers import (
    SERVED,
    DriverError,
    ProvisionRequest,
    Retryable,
    driver_for_volume,
    get_driver,
    recycler_for,
)
from ...errors import StatusError
from ...jsonobj import clone
from ...quantity import format_quantity, parse_quantity
from ...registry import strategy
from ...registry.core import now_rfc3339 as registry_now
from ..base import Informers, Operations, WorkQueue, key_of, without_managed_fields
from ..protection import pod_uses_claim
from . import datasource, decide

log = logging.getLogger(__name__)

RESYNC = 15.0            # seconds, as Kubernetes' PV controller
MAX_INFLIGHT = 256       # claims whose writes may be in flight at once
OP_BACKOFF_MAX = 122.0   # seconds, as Kubernetes' goroutinemap exponential backoff (2m2s)
WAKE_PER_VOLUME = 4      # waiting claims re-synced when a volume becomes Available
FRESH_GRACE = 2.0        # a new volume waits for a claim to take it while claims of its class are tried
FRESH_MAX = 30.0         # at most this long, however busy its class (see _hold)
ANNOTATE_AFTER = 5.0     # provisioning still running this long: the claim gets its provisioner annotations


def now_rfc3339() -> str:
    return registry_now()


def _no_deleter(pv: dict[str, Any], provisioner: str) -> str:
    """findDeletablePlugin's error: by the provisioner that made the volume, else by its source
    (Kubernetes' controller knows the nfs plugin, which cannot delete; other sources match none)."""
    if provisioner:
        return f"no volume plugin matched name: {provisioner}"
    why = "no deletable volume plugin matched" if "nfs" in (pv.get("spec") or {}) else "no volume plugin matched"
    return f'error getting deleter volume plugin for volume "{pv["metadata"]["name"]}": {why}'


def _available(pv: dict[str, Any]) -> bool:
    return (not (pv.get("spec") or {}).get("claimRef") and not pv["metadata"].get("deletionTimestamp")
            and (pv.get("status") or {}).get("phase") == "Available")


def _unsynced(pv: dict[str, Any]) -> bool:
    """A volume no syncVolume has made Available yet: no claimRef, Pending (or no phase), not being deleted."""
    return (not (pv.get("spec") or {}).get("claimRef") and not pv["metadata"].get("deletionTimestamp")
            and (pv.get("status") or {}).get("phase") in (None, "", "Pending"))


def _takeable(pv: dict[str, Any]) -> bool:
    return _available(pv) or _unsynced(pv)


def _unbound_claim(claim: dict[str, Any]) -> bool:
    return (decide.ANN_BIND_COMPLETED not in (claim["metadata"].get("annotations") or {})
            and not (claim.get("spec") or {}).get("volumeName") and not claim["metadata"].get("deletionTimestamp"))


def _folded(writes: list[decide.Write]) -> list[decide.Write]:
    """A spec write followed by a status write of the same object becomes one write of both.

    Kubernetes' bind() is four PUTs because its API splits spec and status; in process the
    registry takes both at once (subresource ``*``), so a bind costs two durable writes.
    The second write already carries the first one's changes (see ``decide.Write``).
    """
    out: list[decide.Write] = []
    for w in writes:
        prev = out[-1] if out else None
        if (prev is not None and prev.kind == w.kind and prev.subresource == "" and w.subresource == "status"
                and prev.obj["metadata"]["name"] == w.obj["metadata"]["name"]
                and prev.obj["metadata"].get("namespace") == w.obj["metadata"].get("namespace")):
            out[-1] = decide.Write(w.kind, w.obj, strategy.BOTH)
        else:
            out.append(w)
    return out


def _failed_to(provisioner: str) -> str:
    """Kubernetes' in-tree provisioning failure says "Failed to", the external provisioner
    library (which a non-kubernetes.io provisioner such as orlop.io/local-path would be) "failed to"."""
    return "Failed to" if provisioner.startswith("kubernetes.io/") else "failed to"


class PVController:
    def __init__(self, client: LocalClient, informers: Informers):
        self.client = client
        self.claims = informers.get("v1", "PersistentVolumeClaim")
        self.volumes = informers.get("v1", "PersistentVolume")
        self.classes = informers.get("storage.k8s.io/v1", "StorageClass")
        self.pods = informers.get("v1", "Pod")
        self.claim_queue = WorkQueue()
        self.volume_queue = WorkQueue()
        self.index = decide.VolumeIndex()
        # Claims that found no volume, per class, oldest first: a volume that becomes
        # Available wakes a few of them (one volume binds one claim), not all of them.
        self.waiting: dict[str, dict[tuple[str, str], None]] = {}
        self.inflight: set[Any] = set()
        self.dirty: set[Any] = set()
        # Volumes a claim's decision is binding right now (its writes in flight).
        self.reserved: set[str] = set()
        # Unbound claims per class, and when each new (unsynced) volume was first held for them.
        self.unbound: dict[str, set[tuple[str, str]]] = {}
        self.held_since: dict[str, float] = {}
        # When an unbound claim of each class was last tried (bound, or found nothing).
        self.tried: dict[str, float] = {}
        # When each held volume is looked at again (a heap, with the time each is due): one timer for all.
        self._grace: list[tuple[float, str]] = []
        self._grace_due: dict[str, float] = {}
        self._grace_timer: asyncio.TimerHandle | None = None
        # New volumes held (see _hold) per class: looked at again when that class's claims change.
        self.held: dict[str, set[str]] = {}
        # The inputs (resourceVersions) of each bound claim's and bound volume's last sync that
        # found nothing to do: a sync of the very same inputs decides the same, so it is skipped
        # (what the resync every 15 s mostly meets).
        self.quiet_claims: dict[tuple[str, str], tuple[str, str | None]] = {}
        self.quiet_volumes: dict[str, tuple[str, str]] = {}
        # Syncs that reached a decision (not skipped as quiet): what the quiet memo saves shows here.
        self.claims_decided = 0
        self.volumes_decided = 0
        self.ops = Operations(self._after_op, OP_BACKOFF_MAX)
        self._slots = asyncio.Semaphore(MAX_INFLIGHT)
        self.claims.on_change(self._on_claim)
        self.volumes.on_change(self._on_volume)
        self.classes.on_change(self._on_class)
        self.pods.on_change(self._on_pod)

    # ------------------------------------------------------------------ caches
    def _class_map(self) -> dict[str, dict[str, Any]]:
        return {k[1]: v for k, v in self.classes.cache.items()}

    def _remember(self, obj: dict[str, Any]) -> None:
        """Write-through: a write's result replaces the cached object unless the cache is newer."""
        inf = self.volumes if obj["kind"] == "PersistentVolume" else self.claims
        k = key_of(obj)
        cur = inf.cache.get(k)
        if cur is None or int(cur["metadata"]["resourceVersion"]) < int(obj["metadata"]["resourceVersion"]):
            inf.cache[k] = without_managed_fields(obj)
            if obj["kind"] == "PersistentVolume":
                self._index_volume(obj)
        # (Otherwise the watch event of that version, or of a newer one, came first -- the store
        # hands a write's events to watchers before it answers the writer -- and its handler
        # indexed the volume; a volume a decision reserved goes back when it ends, ``_release``.)

    def _index_volume(self, pv: dict[str, Any], gone: bool = False) -> None:
        if gone:
            self.index.remove(pv["metadata"]["name"])
        elif pv["metadata"]["name"] in self.reserved and _takeable(pv):
            return      # a claim is binding it: out of reach of other claims until that is done
        elif _unsynced(pv):
            # Matched as syncVolume would make it: Available (a write that need not happen first).
            d = decide.sync_volume(pv, None, {}, now_rfc3339())
            self.index.upsert(d.writes[-1].obj if d.writes else pv)
        else:
            self.index.upsert(pv)

    # ----------------------------------------------------------------- events
    def _on_claim(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        k = key_of(obj)
        cls = decide.claim_class(obj)
        if old is not None and decide.claim_class(old) != cls:
            self.unbound.get(decide.claim_class(old), set()).discard(k)
            self._recheck_held(decide.claim_class(old))
        if typ != "DELETED" and _unbound_claim(obj):
            self.unbound.setdefault(cls, set()).add(k)
        elif cls in self.unbound:
            self.unbound[cls].discard(k)
            if not self.unbound[cls]:
                del self.unbound[cls]
            self._recheck_held(cls)
        if typ == "DELETED":
            self.quiet_claims.pop(k, None)
            self.waiting.get(decide.claim_class(obj), {}).pop(k, None)
            # Its volume may now be released.
            vol = (obj.get("spec") or {}).get("volumeName")
            if vol:
                self.volume_queue.add(vol)
            for pv in self.index.values():
                ref = (pv.get("spec") or {}).get("claimRef") or {}
                if (ref.get("namespace") or "", ref.get("name")) == k:
                    self.volume_queue.add(pv["metadata"]["name"])
            return
        self.claim_queue.add(k)

    def _on_volume(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        name = obj["metadata"]["name"]
        self._index_volume(obj, gone=typ == "DELETED")
        if typ != "DELETED":
            self.volume_queue.add(name)
        else:
            self.quiet_volumes.pop(name, None)
        ref = (obj.get("spec") or {}).get("claimRef")
        if isinstance(ref, dict) and ref.get("name"):
            self.claim_queue.add((ref.get("namespace") or "", ref["name"]))
        if typ == "DELETED" or not _unsynced(obj):
            self.held_since.pop(name, None)
            self.held.get(decide.volume_class(obj), set()).discard(name)
        if typ != "DELETED" and ((_available(obj) and (old is None or not _available(old)))
                                 or (_unsynced(obj) and (old is None or not _takeable(old)))):
            # A new or newly available volume may satisfy a waiting claim.
            waiting = self.waiting.get(decide.volume_class(obj), {})
            for k in list(waiting)[:WAKE_PER_VOLUME]:
                del waiting[k]
                self.claim_queue.add(k)

    def _on_class(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        # A new or changed class (a default appearing, say) concerns every pending claim.
        for k, claim in self.claims.cache.items():
            if (claim.get("status") or {}).get("phase") in (None, "Pending"):
                self.claim_queue.add(k)

    def _on_pod(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if typ == "DELETED" or (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            # A Released volume waiting to be recycled may be free now.
            for k, pv in self.volumes.cache.items():
                if (pv.get("status") or {}).get("phase") == "Released":
                    self.volume_queue.add(k[1])

    # ------------------------------------------------------------------- run
    async def run(self) -> None:
        await asyncio.gather(                             self._worker(self.claim_queue, self._sync_claim),
                             self._worker(self.volume_queue, self._sync_volume), self._resync())

    async def _resync(self) -> None:
        for inf in (self.claims, self.volumes, self.classes, self.pods):
            await inf.synced.wait()
        recovering: asyncio.Task[None] | None = None
        while True:
            # Recovery talks to backends (which may take their full timeout): it runs beside
            # the resync, one pass at a time, never holding it up.
            if recovering is None or recovering.done():
                recovering = asyncio.create_task(self._recover_logged())
            for k in list(self.claims.cache):
                self.claim_queue.add(k)
            for k in list(self.volumes.cache):
                self.volume_queue.add(k[1])
            await asyncio.sleep(RESYNC)

    async def _recover_logged(self) -> None:
        try:
            await self._recover()
        except Exception:  # noqa: BLE001 - retried at the next resync
            log.exception("pv controller: recovering interrupted provisioning failed")

    async def _worker(self, queue: WorkQueue, sync: Any) -> None:
        for inf in (self.claims, self.volumes, self.classes, self.pods):
            await inf.synced.wait()
        while True:
            key = await queue.get()
            tag = (id(queue), key)
            if tag in self.inflight:
                self.dirty.add(tag)
                continue
            try:
                await sync(key, queue, tag)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one bad object must not stop the controller
                log.exception("pv controller: sync %s failed", key)
                queue.retry(key)

    async def _execute(self, d: decide.Decision, queue: WorkQueue, key: Any, tag: Any) -> None:
        """Apply a Decision's writes in order (concurrently with other decisions), then its events."""
        # Volumes the decision binds were reserved when it was made (see _sync_claim).
        reserved = [w.obj["metadata"]["name"] for w in d.writes if w.kind == "PersistentVolume" and not w.subresource
                    and queue is self.claim_queue]
        try:
            await self._slots.acquire()
        except BaseException:
            self._release(reserved)
            raise
        self.inflight.add(tag)

        async def go() -> None:
            ok = True
            try:
                versions: dict[tuple[str, str, str], str] = {}
                for w in _folded(d.writes):
                    meta = w.obj["metadata"]
                    wk = (w.kind, meta.get("namespace") or "", meta["name"])
                    if wk in versions:
                        meta["resourceVersion"] = versions[wk]
                    try:
                        out = await self.client.update(w.obj, subresource=w.subresource)
                    except StatusError as e:
                        ok = False
                        if e.code not in (404, 409):
                            log.warning("pv controller: write %s/%s: %s", w.kind, meta["name"], e)
                        # The cache may be behind: refresh this object before the retry.
                        fresh = await self.client.get("v1", w.kind, meta.get("namespace"), meta["name"])
                        if fresh is not None:
                            self._remember(fresh)
                        elif w.kind == "PersistentVolume":
                            self._index_volume(w.obj, gone=True)
                        break
                    versions[wk] = out["metadata"]["resourceVersion"]
                    self._remember(out)
                for kind, ns, name, ev in d.events:
                    await self._event(kind, ns, name, ev)
                if not ok or d.requeue:
                    queue.retry(key)
                else:
                    queue.forget(key)
                for kind, ns, name in d.enqueue:
                    if kind == "PersistentVolumeClaim":
                        self.claim_queue.add((ns, name))
                    else:
                        self.volume_queue.add(name)
            finally:
                self._release(reserved)
                self.inflight.discard(tag)
                self._slots.release()
                if tag in self.dirty:
                    self.dirty.discard(tag)
                    queue.add(key)

        asyncio.get_running_loop().create_task(go())

    def _release(self, reserved: list[str]) -> None:
        """A decision's volumes go back into the index as the cache has them (bound now, or free on failure)."""
        self.reserved.difference_update(reserved)
        for name in reserved:
            pv = self.volumes.cache.get(("", name))
            if pv is not None:
                self._index_volume(pv)

    async def _event(self, kind: str, ns: str, name: str, ev: decide.Event) -> None:
        inf = self.claims if kind == "PersistentVolumeClaim" else self.volumes
        obj = inf.cache.get((ns, name))
        if obj is None:
            return
        try:
            await self.client.event(obj, ev.type, ev.reason, ev.message, "persistentvolume-controller")
        except StatusError as e:
            log.info("event for %s/%s not recorded: %s", ns, name, e)

    # ----------------------------------------------------------------- claims
    async def _sync_claim(self, key: tuple[str, str], queue: WorkQueue, tag: Any) -> None:
        claim = self.claims.cache.get(key)
        if claim is None:
            return
        if claim["metadata"].get("deletionTimestamp") and not (claim.get("spec") or {}).get("volumeName"):
            # OBSERVATION: pvc is "Pending" and being deleted: nothing to bind or provision.
            return
        stamp = self._bound_claim_stamp(claim)
        if stamp is not None and self.quiet_claims.get(key) == stamp:
            return
        classes = self._class_map()
        now = now_rfc3339()
        pods = [p for (ns, _), p in self.pods.cache.items() if ns == key[0]]
        d = decide.sync_claim(claim, self.index, classes, now, pods=pods, drivers=SERVED)
        self.claims_decided += 1
        if stamp is not None and d.idle():
            self.quiet_claims[key] = stamp
        else:
            self.quiet_claims.pop(key, None)
        cls = decide.claim_class(claim)
        binding = any(w.kind == "PersistentVolume" for w in d.writes) or d.provision
        unbound = not (claim.get("spec") or {}).get("volumeName")
        if unbound:
            self.tried[cls] = asyncio.get_running_loop().time()     # (volumes held for the class wait on)
        if not binding and unbound:
            self.waiting.setdefault(cls, {})[key] = None
            self._recheck_held(cls)
        else:
            self.waiting.get(cls, {}).pop(key, None)
        for w in d.writes:
            if w.kind == "PersistentVolume" and not w.subresource:
                self.index.remove(w.obj["metadata"]["name"])     # reserved for this claim
                self.reserved.add(w.obj["metadata"]["name"])
        if d.provision:
            if len(d.writes) == 1 and d.writes[0].kind == "PersistentVolumeClaim" and not d.writes[0].subresource:
                # setClaimProvisioner's write: left to the bind write, or to _provision when it is slow or fails.
                d.writes.clear()
            self._start_op(f"provision/{claim['metadata']['uid']}", self._provision(key, d.provisioner))
        if d.writes or d.events or d.enqueue or d.requeue:
            await self._execute(d, queue, key, tag)

    def _bound_claim_stamp(self, claim: dict[str, Any]) -> tuple[str, str | None] | None:
        """What a bound claim's syncClaim decides from: the claim's and its volume's (as the index
        has it) resourceVersions; None for an unbound claim, whose decision depends on much more."""
        if decide.ANN_BIND_COMPLETED not in (claim["metadata"].get("annotations") or {}):
            return None
        name = (claim.get("spec") or {}).get("volumeName")
        volume = self.index.get(name) if name else None
        return claim["metadata"]["resourceVersion"], volume["metadata"]["resourceVersion"] if volume else None

    # ---------------------------------------------------------------- volumes
    async def _sync_volume(self, name: str, queue: WorkQueue, tag: Any) -> None:
        pv = self.volumes.cache.get(("", name))
        if pv is None:
            return
        if pv["metadata"].get("deletionTimestamp") and (pv.get("status") or {}).get("phase") != "Bound":
            # OBSERVATION: pv deleted and not Bound: its backend volume goes first (HonorPVReclaimPolicy).
            # A Bound one stays until its claim lets go, then is Released and reclaimed as usual.
            if decide.PV_CONTROLLER_FINALIZER in (pv["metadata"].get("finalizers") or []):
                self._start_op(f"delete/{name}", self._delete_volume(name, finalize_only=True))
            return
        if await self._sync_finalizer(pv):
            return      # the write re-triggers this sync with the new version
        ref = (pv.get("spec") or {}).get("claimRef")
        claim = None
        if isinstance(ref, dict) and ref.get("name") and \
                (id(self.claim_queue), (ref.get("namespace") or "", ref["name"])) in self.inflight:
            # The claim's own decision is writing this volume right now: look again after it.
            self.volume_queue.add_after(name, 0.2)
            return
        stamp = None
        if isinstance(ref, dict) and ref.get("name"):
            claim = self.claims.cache.get((ref.get("namespace") or "", ref["name"]))
            if claim is not None and claim["metadata"].get("uid") == ref.get("uid") and \
                    (claim.get("spec") or {}).get("volumeName") == name:
                # Bound both ways: syncVolume decides from the two objects alone.
                stamp = (pv["metadata"]["resourceVersion"], claim["metadata"]["resourceVersion"])
                if self.quiet_volumes.get(name) == stamp:
                    return
            if (claim is None or claim["metadata"].get("uid") != ref.get("uid")) and \
                    (pv.get("status") or {}).get("phase") not in ("Released", "Failed"):
                # Never release a volume on a cache miss: ask the API.
                claim = await self.client.get("v1", "PersistentVolumeClaim", ref.get("namespace"), ref["name"])
        if _unsynced(pv) and self._hold(pv):
            return
        d = decide.sync_volume(pv, claim, self._class_map(), now_rfc3339())
        self.volumes_decided += 1
        if stamp is not None and d.idle():
            self.quiet_volumes[name] = stamp
        else:
            self.quiet_volumes.pop(name, None)
        if d.writes and _unsynced(pv):
            self.index.remove(name)     # its own write in flight: no claim takes it meanwhile
        if d.reclaim == "Delete":
            self._start_op(f"delete/{name}", self._delete_volume(name))
        elif d.reclaim == "Recycle":
            self._start_op(f"recycle/{name}", self._recycle_volume(name))
        if d.writes or d.events or d.enqueue or d.requeue:
            await self._execute(d, queue, name, tag)

    def _hold(self, pv: dict[str, Any]) -> bool:
        """Whether a new volume's Available write waits: a claim may take it first (one write fewer).

        It waits while a claim's bind of it is in flight, and while some unbound claim of its
        class has yet to try it -- more unbound claims than claims that found nothing and wait
        for a volume -- as long as those claims are being worked through: until FRESH_GRACE
        passes with no claim of the class tried (a backlog of thousands of claims keeps its
        volumes held until their turn), and FRESH_MAX at most.  Otherwise (no claim in sight:
        the usual case of a volume created on its own) it is written Available at once, as
        Kubernetes does.  Looked at again when that stops being so (a claim of its class is
        bound, or finds nothing: ``_recheck_held``), and when its time is up.
        """
        name = pv["metadata"]["name"]
        if name in self.reserved:
            self.volume_queue.add_after(name, 0.2)
            return True
        cls = decide.volume_class(pv)
        if len(self.unbound.get(cls, ())) <= len(self.waiting.get(cls, ())):
            self.held.get(cls, set()).discard(name)
            return False
        now = asyncio.get_running_loop().time()
        since = self.held_since.setdefault(name, now)
        due = min(max(since, self.tried.get(cls, since)) + FRESH_GRACE, since + FRESH_MAX)
        if now >= due - 0.01:       # (a timer may fire within the clock's resolution of its time)
            self.held.get(cls, set()).discard(name)
            return False
        self.held.setdefault(cls, set()).add(name)
        self._look_again_at(name, due)
        return True

    def _look_again_at(self, name: str, when: float) -> None:
        """Sync a held volume again at ``when`` (loop time); one timer for all of them.

        Thousands of timers in the event loop's heap would cost every timer operation of the
        loop: a volume is held for every new volume while claims are being created."""
        if self._grace_due.get(name) == when:
            return
        self._grace_due[name] = when
        heapq.heappush(self._grace, (when, name))
        if self._grace[0][0] == when:
            if self._grace_timer is not None:
                self._grace_timer.cancel()
            self._grace_timer = asyncio.get_running_loop().call_at(when, self._grace_over)

    def _grace_over(self) -> None:
        """``_hold_over`` for every held volume that is due, earliest first."""
        loop = asyncio.get_running_loop()
        now = loop.time() + 0.001       # (a timer may fire within the clock's resolution of its time)
        while self._grace and self._grace[0][0] <= now:
            when, name = heapq.heappop(self._grace)
            if self._grace_due.get(name) == when:       # (not an earlier time since replaced)
                del self._grace_due[name]
                self._hold_over(name)
        self._grace_timer = loop.call_at(self._grace[0][0], self._grace_over) if self._grace else None

    def _hold_over(self, name: str) -> None:
        """A held volume is due: its next sync writes it Available unless claims of its class are still being tried."""
        if name in self.held_since:
            self.volume_queue.add(name)

    def _recheck_held(self, cls: str) -> None:
        """Claims of ``cls`` changed: volumes held for them are synced again once no claim may take them."""
        names = self.held.get(cls)
        if names and len(self.unbound.get(cls, ())) <= len(self.waiting.get(cls, ())):
            for name in names:
                self.volume_queue.add(name)
            names.clear()

    async def _sync_finalizer(self, pv: dict[str, Any]) -> bool:
        """HonorPVReclaimPolicy: a PV provisioned by an in-tree (kubernetes.io/*) or orlop provisioner with
        reclaim policy Delete carries ``kubernetes.io/pv-controller``; other policies drop it."""
        meta = pv["metadata"]
        provisioner = (meta.get("annotations") or {}).get(decide.ANN_PROVISIONED_BY, "")
        if not provisioner or meta.get("deletionTimestamp"):
            return False
        fins = list(meta.get("finalizers") or [])
        want = (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy") == "Delete" and (
            provisioner.startswith("kubernetes.io/") or get_driver(provisioner) is not None)
        has = decide.PV_CONTROLLER_FINALIZER in fins
        if want == has:
            return False
        new = clone(pv)
        new["metadata"]["finalizers"] = (fins + [decide.PV_CONTROLLER_FINALIZER] if want
                                         else [f for f in fins if f != decide.PV_CONTROLLER_FINALIZER])
        try:
            self._remember(await self.client.update(new))
        except StatusError as e:
            if e.code not in (404, 409):
                raise
            self.volume_queue.retry(meta["name"])
        return True

    # ------------------------------------------------------------- operations
    def _start_op(self, name: str, coro: Any) -> None:
        """Run a backend operation once at a time per name; failures retry with backoff."""
        self.ops.start(name, coro)

    def _after_op(self, name: str, failed: bool) -> None:
        """A failed operation's object is synced again (the decision is made afresh)."""
        if not failed:
            return
        kind, _, obj = name.partition("/")
        if kind == "provision":
            for k, c in self.claims.cache.items():
                if c["metadata"].get("uid") == obj:
                    self.claim_queue.add(k)
        else:
            self.volume_queue.add(obj)

    @staticmethod
    def _request(claim: dict[str, Any], cls: dict[str, Any], pv_name: str) -> ProvisionRequest:
        spec = claim.get("spec") or {}
        return ProvisionRequest(
            claim=claim, storage_class=cls, volume_name=pv_name,
            size_bytes=int(parse_quantity(spec.get("resources", {}).get("requests", {}).get("storage", "0"))),
            selected_node=(claim["metadata"].get("annotations") or {}).get(decide.ANN_SELECTED_NODE),
            access_modes=list(spec.get("accessModes") or []), volume_mode=spec.get("volumeMode") or "Filesystem")

    @staticmethod
    def _volume_for(claim: dict[str, Any], cls: dict[str, Any], result: Any) -> dict[str, Any]:
        pv = decide.provisioned_volume(claim, cls, result.source,
                                       capacity=format_quantity(Decimal(result.capacity_bytes)),
                                       node_affinity=result.node_affinity)
        pv["metadata"]["annotations"].update(result.annotations)
        return pv

    async def _provision(self, key: tuple[str, str], provisioner: str) -> None:
        """provisionClaimOperation (``_provision_claim``), and the claim's provisioner annotations
        when it takes longer than ``ANNOTATE_AFTER`` (otherwise the bind write sets them)."""
        work = asyncio.ensure_future(self._provision_claim(key, provisioner))
        try:
            done, _ = await asyncio.wait({work}, timeout=ANNOTATE_AFTER)
            if not done or (not work.cancelled() and work.exception() is not None):
                await self._set_claim_provisioner(key, provisioner)
            await work
        except asyncio.CancelledError:
            work.cancel()
            raise

    async def _edit_claim(self, key: tuple[str, str], edit: Callable[[dict[str, Any]], bool]) -> None:
        """Read the claim, let ``edit`` change its copy (False: nothing to do), write it; again on a
        conflict, at most three times; a claim that is gone needs nothing."""
        for _ in range(3):
            claim = await self.client.get("v1", "PersistentVolumeClaim", key[0], key[1])
            if claim is None:
                return
            new = clone(claim)
            if not edit(new):
                return
            try:
                self._remember(await self.client.update(new))
                return
            except StatusError as e:
                if e.code == 404:
                    return
                if e.code != 409:
                    raise

    async def _set_claim_provisioner(self, key: tuple[str, str], provisioner: str) -> None:
        """setClaimProvisioner: both annotation forms name the provisioner (a claim not yet bound)."""
        def edit(claim: dict[str, Any]) -> bool:
            anns = claim["metadata"].setdefault("annotations", {})
            if (claim.get("spec") or {}).get("volumeName") or anns.get(decide.ANN_STORAGE_PROVISIONER) == provisioner:
                return False
            anns[decide.ANN_BETA_STORAGE_PROVISIONER] = provisioner
            anns[decide.ANN_STORAGE_PROVISIONER] = provisioner
            return True
        await self._edit_claim(key, edit)

    async def _reschedule(self, key: tuple[str, str]) -> None:
        """rescheduleProvisioning: a claim the scheduler sent here (selected-node) and that could
        not be provisioned loses the annotation, so the scheduler may pick a node again."""
        def edit(claim: dict[str, Any]) -> bool:
            return claim["metadata"].get("annotations", {}).pop(decide.ANN_SELECTED_NODE, None) is not None
        await self._edit_claim(key, edit)

    async def _provision_claim(self, key: tuple[str, str], provisioner: str) -> None:
        """provisionClaimOperation: intent → backend volume → PV object → intent dropped.

        The intent (claim, class, provisioner) is written before the backend is touched, so
        a crash anywhere leaves a record that ``_recover`` finishes (the claim still exists:
        provisioning simply runs again, idempotent by the claim's uid) or undoes (the claim
        is gone: the backend volume is deleted) — nothing is orphaned.
        """
        claim = await self.client.get("v1", "PersistentVolumeClaim", key[0], key[1])
        if claim is None or (claim.get("spec") or {}).get("volumeName") or claim["metadata"].get("deletionTimestamp"):
            return
        pv_name = f"pvc-{claim['metadata']['uid']}"
        if await self.client.get("v1", "PersistentVolume", None, pv_name) is not None:
            # OBSERVATION: provisioned before (a retry or a restart): the binder binds it.
            self.claim_queue.add(key)
            return
        cls_name = decide.claim_class(claim)
        cls = await self.client.get("storage.k8s.io/v1", "StorageClass", None, cls_name)
        driver = get_driver(provisioner)
        if cls is None or driver is None:
            await self._set_claim_provisioner(key, provisioner)
            await self.client.event(claim, "Warning", "ProvisioningFailed",
                                    f'storageclass.storage.k8s.io "{cls_name}" not found' if cls is None
                                    else f"no volume plugin matched name: {provisioner}",
                                    "persistentvolume-controller")
            raise RuntimeError("cannot provision")
        await self.client.put_intent(pv_name, {"claim": claim, "class": cls, "provisioner": provisioner})
        try:
            req = self._request(claim, cls, pv_name)
            await datasource.fill(self.client, req)     # dataSource(Ref): a snapshot, or a claim to clone
            result = await driver.provision(req)
        except DriverError as e:
            await self._set_claim_provisioner(key, provisioner)
            await self._reschedule(key)
            await self.client.event(claim, "Warning", "ProvisioningFailed",
                                    f"{_failed_to(provisioner)} provision volume with StorageClass \"{cls_name}\": {e}",
                                    "persistentvolume-controller")
            raise
        try:
            created = await self.client.create(self._volume_for(claim, cls, result))
        except StatusError as e:
            if e.code != 409:
                await self._set_claim_provisioner(key, provisioner)
                await self.client.event(claim, "Warning", "ProvisioningFailed",
                                        f"failed to create PersistentVolume {pv_name}: {e.message}",
                                        "persistentvolume-controller")
                raise
        else:
            self._remember(created)
        await self.client.drop_intent(pv_name)
        await self.client.event(claim, "Normal", "ProvisioningSucceeded",
                                f"Successfully provisioned volume {pv_name} using {provisioner}",
                                "persistentvolume-controller")
        self.claim_queue.add(key)

    async def _recover(self) -> None:
        """Finish or undo provisioning that a crash interrupted (see ``_provision``)."""
        for pv_name, intent in (await self.client.intents()).items():
            claim = intent.get("claim") or {}
            meta = claim.get("metadata") or {}
            if self.ops.running(f"provision/{meta.get('uid')}"):
                continue
            if await self.client.get("v1", "PersistentVolume", None, pv_name) is not None:
                await self.client.drop_intent(pv_name)
                continue
            live = await self.client.get("v1", "PersistentVolumeClaim", meta.get("namespace"), meta.get("name", ""))
            if live is not None and live["metadata"].get("uid") == meta.get("uid"):
                # OBSERVATION: the claim still wants its volume: provisioning runs again.
                self.claim_queue.add((meta.get("namespace") or "", meta.get("name", "")))
                continue
            # OBSERVATION: the claim is gone: the backend volume made for it must go too.
            driver = get_driver(intent.get("provisioner", ""))
            what = f"volume {pv_name} of deleted claim {meta.get('namespace')}/{meta.get('name')}"
            if driver is not None:
                try:
                    result = await driver.provision(self._request(claim, intent["class"], pv_name))
                except Retryable as e:
                    log.warning("%s: not removed yet (%s); retried at the next resync", what, e)
                    continue
                except DriverError as e:
                    # Provisioning with this claim and class fails for good (parameters, credentials):
                    # nothing was ever made with them, so there is nothing to remove.
                    log.info("%s: never made (%s); nothing to remove", what, e)
                    await self.client.drop_intent(pv_name)
                    continue
                try:
                    await driver.delete(self._volume_for(claim, intent["class"], result))
                except DriverError as e:
                    log.warning("%s: removing it failed (%s); retried at the next resync", what, e)
                    continue
            log.info("removed backend %s: its claim was deleted while it was provisioned", what)
            await self.client.drop_intent(pv_name)

    async def _delete_volume(self, name: str, finalize_only: bool = False) -> None:
        """Reclaim Delete: backend volume first, then the PV object (never the other way round)."""
        pv = await self.client.get("v1", "PersistentVolume", None, name)
        if pv is None:
            return
        if not finalize_only and (pv.get("status") or {}).get("phase") not in ("Released", "Failed"):
            return      # a Failed one is tried again at each resync, as Kubernetes' reclaimVolume does
        policy = (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy")
        if policy == "Delete":
            provisioner = (pv["metadata"].get("annotations") or {}).get(decide.ANN_PROVISIONED_BY, "")
            if provisioner and get_driver(provisioner) is None and not provisioner.startswith("kubernetes.io/"):
                # OBSERVATION: an external provisioner's volume: its deleter's business (8-10).
                log.debug("volume %s: provisioned by %s, which this orlop does not run; left to it", name, provisioner)
                return
            driver = driver_for_volume(pv)
            try:
                if driver is None:
                    raise DriverError("NoDeleter", _no_deleter(pv, provisioner))
                await driver.delete(pv)
            except Retryable as e:
                await self.client.event(pv, "Warning", "VolumeFailedDelete", str(e), "persistentvolume-controller")
                raise
            except DriverError as e:
                # OBSERVATION: pv is "Released" and cannot be deleted: "Failed", as Kubernetes leaves it.
                await self._fail(pv, "VolumeFailedDelete", str(e))
                return
        fins = pv["metadata"].get("finalizers") or []
        if decide.PV_CONTROLLER_FINALIZER in fins:
            pv["metadata"]["finalizers"] = [f for f in fins if f != decide.PV_CONTROLLER_FINALIZER]
            pv = await self.client.update(pv)
        if not finalize_only:
            await self.client.delete("v1", "PersistentVolume", None, name, uid=pv["metadata"]["uid"])

    async def _fail(self, pv: dict[str, Any], reason: str, message: str) -> None:
        """updateVolumePhaseWithEvent(Failed): the phase, its message, and a Warning event -- nothing
        when the volume already says exactly that (a retry at resync that failed the same way)."""
        if (pv.get("status") or {}).get("phase") != "Failed" or pv["status"].get("message") != message:
            pv["status"] = {**(pv.get("status") or {}), "phase": "Failed", "message": message,
                            "lastPhaseTransitionTime": now_rfc3339()}
            self._remember(await self.client.update(pv, subresource="status"))
            await self.client.event(pv, "Warning", reason, message, "persistentvolume-controller")

    async def _recycle_volume(self, name: str) -> None:
        pv = await self.client.get("v1", "PersistentVolume", None, name)
        if pv is None or (pv.get("status") or {}).get("phase") not in ("Released", "Failed"):
            return
        ref = (pv.get("spec") or {}).get("claimRef") or {}
        ns = ref.get("namespace") or "default"
        pods, _ = await self.client.list("v1", "Pod", ns)
        users = sorted(f"{ns}/{p['metadata']['name']}" for p in pods if pod_uses_claim(p, ref.get("name", "")))
        if users and (ns, ref.get("name", "")) not in self.claims.cache:
            # 6-11, 6-12: a pod that has not terminated still uses the claim: refuse, look again
            # later.  (6-14: a claim of that name exists, so it is a new claim and its pods use
            # another volume: this one is recycled.)
            await self.client.event(pv, "Normal", "VolumeFailedRecycle", f"Volume is used by pods: {','.join(users)}",
                                    "persistentvolume-controller")
            raise RuntimeError("volume in use")
        recycle = recycler_for(pv)
        if recycle is None:
            # 6-5: no plugin can recycle it: "Failed", as Kubernetes leaves it.
            await self._fail(pv, "VolumeFailedRecycle", "No recycler plugin found for the volume!")
            return
        try:
            await recycle(pv)
        except DriverError as e:
            # 6-5: the recycler failed: "Failed" with its message; tried again later all the same.
            await self._fail(pv, "VolumeFailedRecycle", f"Recycle failed: {e}")
            raise
        await self.client.event(pv, "Normal", "VolumeRecycled", "Volume recycled", "persistentvolume-controller")
        now = now_rfc3339()
        for w in decide.unbind_writes(pv, now):
            w.obj["metadata"]["resourceVersion"] = pv["metadata"]["resourceVersion"]
            pv = await self.client.update(w.obj, subresource=w.subresource)
            self._remember(pv)
