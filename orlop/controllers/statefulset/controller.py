"""The StatefulSet controller: runs ``decide``'s plans against the API.

Why this exists: ``decide`` says what a StatefulSet needs next; this module watches what
could change that (StatefulSets, Pods, PersistentVolumeClaims, ControllerRevisions),
queues the set concerned, and carries a plan out through the client, recording
Kubernetes' events (component ``statefulset-controller``).

- Keys are (namespace, set name).  A pod or revision maps to its set through its
  controller ownerReference; an orphan pod to every set in its namespace whose selector
  matches (the set may adopt it); a claim to every set whose volumeClaimTemplates would
  name it ``<template>-<set>-<ordinal>``, and to an owning set.
- Each sync reads the set, and the pods, claims and revisions of its namespace, fresh
  from the API (not from the informer caches): a pod created by the previous sync is
  always seen, so nothing is created twice, and a sync that failed halfway is simply
  repeated.  The informers only trigger syncs.
- Writes run in the plan's order and stop at the first failure; the status (through the
  ``status`` subresource, retried on conflict) and the revision-history cleanup are still
  written, then the error requeues the set with backoff.  ``minReadySeconds`` requeues it
  when pods will become available; a slow periodic resync catches anything missed.
- Pods are deleted with the default grace period: with graceful deletion the pod stays,
  terminating, until its node agent removes it, and ``decide`` waits for that.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from typing import Any

from ...client import LocalClient
from ...errors import StatusError
from ...jsonobj import clone
from ...registry.selectors import label_selector_from_dict
from ..base import Informers, WorkQueue, key_of
from . import identity as ident
from .decide import (
    CreateClaims,
    CreatePod,
    CreateRevision,
    DeletePod,
    Plan,
    RenumberRevision,
    SetOwners,
    UpdatePod,
    aggregate,
    claim_event,
    decide,
    pod_event,
)

log = logging.getLogger(__name__)

COMPONENT = "statefulset-controller"
RESYNC = 30.0                  # seconds between full resyncs
STATUS_RETRIES = 5

JSON = dict[str, Any]
Key = tuple[str, str]


class SyncError(Exception):
    """A sync that must be retried (the plan could not be carried out in full)."""


class StatefulSetController:
    def __init__(self, client: LocalClient, informers: Informers):
        self.client = client
        self.sets = informers.get("apps/v1", "StatefulSet")
        self.pods = informers.get("v1", "Pod")
        self.claims = informers.get("v1", "PersistentVolumeClaim")
        self.revisions = informers.get("apps/v1", "ControllerRevision")
        self.queue = WorkQueue()
        self.sets.on_change(self._on_set)
        self.pods.on_change(self._on_pod)
        self.claims.on_change(self._on_claim)
        self.revisions.on_change(self._on_revision)

    # ------------------------------------------------------------ triggers
    def _on_set(self, typ: str, obj: JSON, old: JSON | None) -> None:
        self.queue.add(key_of(obj))

    def _owner_set(self, obj: JSON) -> Key | None:
        for r in obj["metadata"].get("ownerReferences") or []:
            if isinstance(r, dict) and r.get("controller") and r.get("kind") == "StatefulSet" \
                    and str(r.get("apiVersion", "")).startswith("apps/"):
                return (obj["metadata"].get("namespace") or "", str(r.get("name", "")))
        return None

    def _selecting_sets(self, pod: JSON) -> list[Key]:
        ns = pod["metadata"].get("namespace") or ""
        labels = pod["metadata"].get("labels") or {}
        out = []
        for k, sts in list(self.sets.cache.items()):
            if k[0] != ns:
                continue
            try:
                if label_selector_from_dict((sts.get("spec") or {}).get("selector")).matches(labels):
                    out.append(k)
            except StatusError:
                continue
        return out

    def _on_pod(self, typ: str, obj: JSON, old: JSON | None) -> None:
        for o in (obj, old):
            if o is None:
                continue
            owner = self._owner_set(o)
            if owner is not None:
                self.queue.add(owner)
            elif typ != "DELETED":
                for k in self._selecting_sets(o):
                    self.queue.add(k)

    def _on_claim(self, typ: str, obj: JSON, old: JSON | None) -> None:
        ns = obj["metadata"].get("namespace") or ""
        owner = self._owner_set(obj)
        if owner is not None:
            self.queue.add(owner)
        if not self.sets.cache:
            return      # (no set to recreate a claim for: every claim event of a cluster without sets)
        prefix, ordinal = ident.parent_and_ordinal(obj["metadata"]["name"])
        if ordinal < 0:
            return
        for k, sts in list(self.sets.cache.items()):
            if k[0] == ns and any(prefix == f"{(t.get('metadata') or {}).get('name', '')}-{k[1]}"
                                  for t in ident.claim_templates(sts)):
                self.queue.add(k)

    def _on_revision(self, typ: str, obj: JSON, old: JSON | None) -> None:
        owner = self._owner_set(obj)
        if owner is not None:
            self.queue.add(owner)

    # ------------------------------------------------------------ loop
    async def run(self) -> None:
        for inf in (self.sets, self.pods, self.claims, self.revisions):
            await inf.synced.wait()
        await asyncio.gather(self.queue.process(self.sync, "statefulset-controller"), self._resync())

    async def _resync(self) -> None:
        while True:
            for k in list(self.sets.cache):
                self.queue.add(k)
            await asyncio.sleep(RESYNC)

    async def sync(self, key: Key) -> None:
        ns, name = key
        sts = await self.client.get("apps/v1", "StatefulSet", ns, name)
        if sts is None:
            return
        pods, _ = await self.client.list("v1", "Pod", ns)
        claims, _ = await self.client.list("v1", "PersistentVolumeClaim", ns)
        revisions, _ = await self.client.list("apps/v1", "ControllerRevision", ns)
        plan = decide(sts, pods, claims, revisions, datetime.datetime.now(datetime.UTC))
        if plan.waiting:
            log.debug("statefulset %s/%s: %s", ns, name, plan.waiting)
        await self.execute(sts, plan)
        if plan.requeue_after:
            self.queue.add_after(key, plan.requeue_after)

    # ------------------------------------------------------------ execution
    async def execute(self, sts: JSON, plan: Plan) -> None:
        """Carry out ``plan``: actions until one fails, then status and history cleanup regardless."""
        failure: Exception | None = None
        for action in plan.actions:
            try:
                await self._do(sts, action)
            except (StatusError, SyncError) as e:
                failure = e
                break
        try:
            if plan.status is not None:
                await self._write_status(sts, plan.status)
            for d in plan.cleanup:
                rev = d.revision["metadata"]
                await self.client.delete("apps/v1", "ControllerRevision", rev.get("namespace"), rev["name"],
                                         uid=rev.get("uid"))
        except StatusError as e:
            failure = failure or e
        if failure is not None:
            raise failure
        if plan.error:
            raise SyncError(plan.error)

    async def _event(self, sts: JSON, ev: tuple[str, str, str]) -> None:
        try:
            await self.client.event(sts, ev[0], ev[1], ev[2], COMPONENT)
        except Exception:  # noqa: BLE001 - an event that cannot be recorded must not stop the sync
            log.exception("recording event for statefulset %s failed", sts["metadata"]["name"])

    async def _do(self, sts: JSON, a: Any) -> None:
        name = sts["metadata"]["name"]
        if isinstance(a, SetOwners):
            await self._set_owners(sts, a)
        elif isinstance(a, CreateRevision):
            await self.client.create(clone(a.revision))
        elif isinstance(a, RenumberRevision):
            await self.client.update(clone(a.revision))
        elif isinstance(a, CreatePod):
            await self._create_pod(sts, a)
        elif isinstance(a, CreateClaims):
            errors = await self._create_claims(sts, a.pod_name, a.claims) + a.errors
            if errors:
                raise SyncError(aggregate(errors))
        elif isinstance(a, UpdatePod):
            pod_name = a.pod["metadata"]["name"]
            try:
                if a.write:
                    await self.client.update(clone(a.pod))
            except StatusError as e:
                await self._event(sts, pod_event("update", name, pod_name, e.message))
                raise
            await self._event(sts, pod_event("update", name, pod_name))
        elif isinstance(a, DeletePod):
            m = a.pod["metadata"]
            try:
                gone = not await self.client.delete("v1", "Pod", m.get("namespace"), m["name"], uid=m.get("uid"))
            except StatusError as e:
                await self._event(sts, pod_event("delete", name, m["name"], e.message))
                raise
            if not gone:
                await self._event(sts, pod_event("delete", name, m["name"]))

    async def _set_owners(self, sts: JSON, a: SetOwners) -> None:
        obj = clone(a.obj)
        if a.owner_refs:
            obj["metadata"]["ownerReferences"] = a.owner_refs
        else:
            obj["metadata"].pop("ownerReferences", None)
        try:
            await self.client.update(obj)
        except StatusError as e:
            if e.code == 404:
                return
            if a.why == "retention":
                msg = (f"could not update claim {obj['metadata']['name']} for delete policy ownerRefs: "
                       f"{e.message}")
                await self._event(sts, pod_event("update", sts["metadata"]["name"], a.pod_name, msg))
            raise

    async def _create_claims(self, sts: JSON, pod_name: str, claims: list[JSON]) -> list[str]:
        """``createPersistentVolumeClaims``: each missing claim, with its event; the errors."""
        errors = []
        for c in claims:
            cname = c["metadata"]["name"]
            try:
                await self.client.create(clone(c))
            except StatusError as e:
                errors.append(f"failed to create PVC {cname}: {e.message}")
                if e.code != 409 or e.reason != "AlreadyExists":
                    await self._event(sts, claim_event("create", sts["metadata"]["name"], pod_name, cname,
                                                       e.message))
                continue
            await self._event(sts, claim_event("create", sts["metadata"]["name"], pod_name, cname))
        return errors

    async def _create_pod(self, sts: JSON, a: CreatePod) -> None:
        name = sts["metadata"]["name"]
        pod_name = a.pod["metadata"]["name"]
        errors = await self._create_claims(sts, pod_name, a.claims) + a.errors
        if errors:
            await self._event(sts, pod_event("create", name, pod_name, aggregate(errors)))
            raise SyncError(aggregate(errors))
        try:
            await self.client.create(clone(a.pod))
        except StatusError as e:
            if e.code == 409 and e.reason == "AlreadyExists":
                raise                       # a sync raced with another: retried, no event (as Kubernetes)
            await self._event(sts, pod_event("create", name, pod_name, e.message))
            raise
        await self._event(sts, pod_event("create", name, pod_name))

    async def _write_status(self, sts: JSON, status: JSON) -> None:
        """``UpdateStatefulSetStatus``: PUT status, re-reading the set on conflict."""
        obj = clone(sts)
        for _ in range(STATUS_RETRIES):
            obj["status"] = status
            try:
                await self.client.update(obj, subresource="status")
                return
            except StatusError as e:
                if e.code != 409:
                    raise
                fresh = await self.client.get("apps/v1", "StatefulSet", obj["metadata"].get("namespace"),
                                              obj["metadata"]["name"])
                if fresh is None or fresh["metadata"].get("uid") != obj["metadata"].get("uid"):
                    return
                obj = fresh
        raise SyncError(f"status of statefulset {sts['metadata']['name']} could not be written")
