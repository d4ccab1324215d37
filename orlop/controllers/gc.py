"""Garbage collector: ownerReferences, and the three deletion propagation policies.

Why this exists: StatefulSets own their pods (and, with a retention policy, their
claims) through ``metadata.ownerReferences``; deleting the owner must do what the
delete's ``propagationPolicy`` says, as Kubernetes' garbage collector does:
- Background: the owner goes at once; dependents whose owners are all gone are
  deleted afterwards by this controller;
- Foreground: the owner stays (finalizer ``foregroundDeletion``, deletionTimestamp set)
  until every dependent is gone; dependents are deleted in foreground too;
- Orphan: finalizer ``orphan``: the owner's reference is removed from every dependent,
  then the finalizer, and the owner goes while its dependents stay.

The controller keeps a graph uid → object (and owner uid → dependents) fed by an
informer per kind.  Before deleting anything it re-reads the owners from the API: an
owner only counts as absent when a live read says so (same uid not found), so a lagging
cache can never delete data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..client import LocalClient
from ..errors import StatusError
from ..registry.resources import RESOURCES, by_api_version
from .base import Informers, WorkQueue

log = logging.getLogger(__name__)

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"


@dataclass
class Node:
    api_version: str
    kind: str
    namespace: str | None
    name: str
    uid: str
    owners: list[dict[str, Any]]
    finalizers: list[str]
    deleting: bool


def _node(obj: dict[str, Any]) -> Node:
    m = obj["metadata"]
    return Node(obj["apiVersion"], obj["kind"], m.get("namespace"), m["name"], m.get("uid", ""),
                [o for o in m.get("ownerReferences") or [] if isinstance(o, dict)],
                list(m.get("finalizers") or []), bool(m.get("deletionTimestamp")))


def _unchanged_bystander(meta: dict[str, Any], old: dict[str, Any], nodes: dict[str, Node]) -> bool:
    """A change that leaves the graph as it is and concerns no one: an object known by its uid,
    with no owners, not being deleted, whose finalizers did not change (most writes: status,
    spec, annotations) -- handling it would rebuild the same node and queue nothing."""
    return (not meta.get("ownerReferences") and not old.get("ownerReferences")
            and not meta.get("deletionTimestamp") and not old.get("deletionTimestamp")
            and meta.get("finalizers") == old.get("finalizers")
            and meta.get("uid", "") == old.get("uid", "") and meta.get("uid", "") in nodes)


class GarbageCollector:
    def __init__(self, client: LocalClient, informers: Informers):
        self.client = client
        self.nodes: dict[str, Node] = {}
        self.dependents: dict[str, set[str]] = {}
        self.queue = WorkQueue()
        self.informers = [informers.get(r.group_version, r.kind) for r in RESOURCES if not r.storage_version]
        for inf in self.informers:
            inf.on_change(self._on_change)

    # ----------------------------------------------------------- graph
    def _on_change(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if typ == "MODIFIED" and old is not None and _unchanged_bystander(obj["metadata"], old["metadata"], self.nodes):
            return
        n = _node(obj)
        prev = self.nodes.get(n.uid)
        if prev is not None:
            for o in prev.owners:
                self.dependents.get(o.get("uid", ""), set()).discard(n.uid)
        if typ == "DELETED":
            self.nodes.pop(n.uid, None)
            # Owner gone: its dependents may now be garbage.
            for d in list(self.dependents.get(n.uid, ())):
                self.queue.add(d)
            # Dependent gone: an owner deleting in foreground may be waiting for exactly this.
            for o in n.owners:
                owner = self.nodes.get(o.get("uid", ""))
                if owner is not None and owner.deleting:
                    self.queue.add(owner.uid)
            return
        self.nodes[n.uid] = n
        for o in n.owners:
            self.dependents.setdefault(o.get("uid", ""), set()).add(n.uid)
        if n.owners or (n.deleting and (ORPHAN in n.finalizers or FOREGROUND in n.finalizers)):
            self.queue.add(n.uid)
        # A dependent changed: a foreground-deleting owner may be waiting for it.
        for o in n.owners:
            owner = self.nodes.get(o.get("uid", ""))
            if owner is not None and owner.deleting:
                self.queue.add(owner.uid)

    async def run(self) -> None:
        await self.queue.process(self.sync, "garbage-collector")

    # ------------------------------------------------------------ sync
    async def _live(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        res = by_api_version(api_version, kind)
        if res is None:
            return None
        return await self.client.get(api_version, kind, namespace if res.namespaced else None, name)

    async def sync(self, uid: str) -> None:
        n = self.nodes.get(uid)
        if n is None:
            return
        if n.deleting and ORPHAN in n.finalizers:
            await self._orphan(n)
            return
        if n.deleting and FOREGROUND in n.finalizers:
            await self._foreground(n)
            return
        if n.owners and not n.deleting:
            await self._check_owners(n)

    async def _orphan(self, owner: Node) -> None:
        # OBSERVATION: owner deleted with propagationPolicy Orphan: release every dependent first.
        for d_uid in list(self.dependents.get(owner.uid, ())):
            d = self.nodes.get(d_uid)
            if d is None:
                continue
            refs = [o for o in d.owners if o.get("uid") != owner.uid]
            await self._set_owner_refs(d, refs)
        await self._drop_finalizer(owner, ORPHAN)

    async def _foreground(self, owner: Node) -> None:
        # OBSERVATION: owner deleted with propagationPolicy Foreground: dependents go first.
        waiting = 0
        for d_uid in list(self.dependents.get(owner.uid, ())):
            d = self.nodes.get(d_uid)
            if d is None:
                continue
            waiting += 1
            if not d.deleting:
                try:
                    await self.client.delete(d.api_version, d.kind, d.namespace, d.name, "Foreground", uid=d.uid)
                except StatusError as e:
                    if e.code not in (404, 409):
                        raise
        if waiting == 0:
            await self._drop_finalizer(owner, FOREGROUND)

    async def _check_owners(self, n: Node) -> None:
        absent, alive, deleting = [], [], []
        for ref in n.owners:
            if by_api_version(ref.get("apiVersion", ""), ref.get("kind", "")) is None:
                alive.append(ref)            # a kind we do not serve: never treated as absent
                continue
            live = await self._live(ref.get("apiVersion", ""), ref.get("kind", ""), n.namespace, ref.get("name", ""))
            if live is None or live["metadata"].get("uid") != ref.get("uid"):
                absent.append(ref)
            elif live["metadata"].get("deletionTimestamp") and FOREGROUND in (live["metadata"].get("finalizers") or []):
                deleting.append(ref)
            else:
                alive.append(ref)
        if alive:
            # OBSERVATION: an owner is alive: the dependent stays; dangling references are dropped.
            if absent:
                await self._set_owner_refs(n, alive + deleting)
            return
        if not absent and not deleting:
            return
        # OBSERVATION: every owner is gone or deleting in foreground: the dependent is garbage.
        try:
            await self.client.delete(n.api_version, n.kind, n.namespace, n.name,
                                     "Foreground" if deleting else "Background", uid=n.uid)
        except StatusError as e:
            if e.code not in (404, 409):
                raise

    async def _set_owner_refs(self, n: Node, refs: list[dict[str, Any]]) -> None:
        obj = await self.client.get(n.api_version, n.kind, n.namespace, n.name)
        if obj is None or obj["metadata"].get("uid") != n.uid:
            return
        if refs:
            obj["metadata"]["ownerReferences"] = refs
        else:
            obj["metadata"].pop("ownerReferences", None)
        await self.client.update(obj)

    async def _drop_finalizer(self, n: Node, finalizer: str) -> None:
        obj = await self.client.get(n.api_version, n.kind, n.namespace, n.name)
        if obj is None or obj["metadata"].get("uid") != n.uid:
            return
        fins = [f for f in obj["metadata"].get("finalizers") or [] if f != finalizer]
        obj["metadata"]["finalizers"] = fins
        await self.client.update(obj)
