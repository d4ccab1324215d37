"""Namespace controller: deleting a namespace deletes everything in it.

Why this exists: ``kubectl delete namespace x`` sets the namespace Terminating (its
``spec.finalizers`` holds ``kubernetes``).  This controller deletes every namespaced
object in it, waits until they are really gone (their own finalizers, e.g. PVC
protection, may hold them a while), then removes the ``kubernetes`` finalizer through
``namespaces/<name>/finalize`` so the namespace itself goes away — as Kubernetes'
namespace lifecycle controller does.
"""

from __future__ import annotations

import logging
from typing import Any

from ..client import LocalClient
from ..errors import StatusError
from ..registry.resources import RESOURCES
from .base import Informers, WorkQueue

log = logging.getLogger(__name__)

RECHECK = 1.0   # seconds between checks while content is still going away
NAMESPACE_FINALIZER = "kubernetes"


class NamespaceController:
    def __init__(self, client: LocalClient, informers: Informers):
        self.client = client
        self.informer = informers.get("v1", "Namespace")
        self.queue = WorkQueue()
        self.informer.on_change(self._on_change)

    def _on_change(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if typ != "DELETED" and obj["metadata"].get("deletionTimestamp"):
            self.queue.add(obj["metadata"]["name"])

    async def run(self) -> None:
        await self.queue.process(self.sync, "namespace-controller")

    async def sync(self, name: str) -> None:
        ns = await self.client.get("v1", "Namespace", None, name)
        # OBSERVATION: namespace gone, or not being deleted: nothing to do.
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        remaining = 0
        for res in RESOURCES:
            if not res.namespaced or res.storage_version:
                continue
            items, _ = await self.client.list(res.group_version, res.kind, name)
            for item in items:
                remaining += 1
                if item["metadata"].get("deletionTimestamp"):
                    continue
                try:
                    await self.client.delete(res.group_version, res.kind, name, item["metadata"]["name"],
                                             uid=item["metadata"].get("uid"))
                except StatusError as e:
                    if e.code not in (404, 409):
                        raise
        if remaining:
            # OBSERVATION: content still present (possibly held by finalizers): look again soon.
            self.queue.add_after(name, RECHECK)
            return
        # OBSERVATION: namespace empty: release our finalizer; the registry deletes the namespace.
        finalizers = [f for f in (ns.get("spec") or {}).get("finalizers") or [] if f != NAMESPACE_FINALIZER]
        ns["spec"]["finalizers"] = finalizers
        await self.client.update(ns, subresource="finalize")
