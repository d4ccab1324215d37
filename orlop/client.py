"""The client controllers use to read and write objects.

Why this exists: controllers must see exactly what kubectl sees (the same defaulting,
validation, admission, finalizer and resourceVersion rules), so they never touch the
store directly.  ``LocalClient`` calls the registry in process (``orlop up``: no HTTP,
no serialisation round-trip); a remote implementation of the same methods can sit on
HTTPS for controllers that run in their own process.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from mypy_extensions import mypyc_attr

from .errors import StatusError
from .registry.core import (
    PATCH_MERGE,
    DeleteOptions,
    ListOptions,
    Registry,
    WatchEvent,
    WriteOptions,
)
from .registry.resources import Resource, by_api_version
from .store import KeyExists, KeyNotFound


def resource_of(api_version: str, kind: str) -> Resource:
    res = by_api_version(api_version, kind)
    if res is None:
        raise ValueError(f"orlop does not serve {api_version} {kind}")
    return res


def binding(namespace: str, name: str, node_name: str, uid: str | None = None) -> dict[str, Any]:
    """The Binding object a scheduler POSTs to pods/<name>/binding (with a uid precondition when given)."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if uid:
        meta["uid"] = uid
    return {"apiVersion": "v1", "kind": "Binding", "metadata": meta,
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name}}


@mypyc_attr(allow_interpreted_subclasses=True)    # (RemoteClient, interpreted, is one)
class EventRecorder:
    """``event()`` for any client with get/create/update: Kubernetes' event recorder.

    Repeats of the same (object, type, reason, message) are counted on the existing
    Event ("x7 over 9m" in ``kubectl describe``) instead of creating new ones.
    """

    manager: str

    def __init__(self) -> None:
        # (involved uid, type, reason, message) -> (namespace, event name)
        self._recorded: dict[tuple[str, str, str, str], tuple[str, str]] = {}

    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        raise NotImplementedError

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    async def update(self, obj: dict[str, Any], subresource: str = "") -> dict[str, Any]:
        raise NotImplementedError

    async def event(self, involved: dict[str, Any], type_: str, reason: str, message: str,
                    component: str) -> dict[str, Any]:
        """Record a core/v1 Event about ``involved`` (what ``kubectl describe`` shows)."""
        meta = involved["metadata"]
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        ns = meta.get("namespace") or "default"
        seen_key = (meta.get("uid", ""), type_, reason, message)
        seen = self._recorded.get(seen_key)
        if seen is not None:
            existing = await self.get("v1", "Event", seen[0], seen[1])
            if existing is not None:
                existing["count"] = int(existing.get("count") or 1) + 1
                existing["lastTimestamp"] = now
                try:
                    return await self.update(existing)
                except StatusError as e:
                    if e.code not in (404, 409):
                        raise
        ev: dict[str, Any] = {
            "apiVersion": "v1", "kind": "Event",
            # Kubernetes names events <object>.<unix nanoseconds in hex>: they sort in time order.
            "metadata": {"name": f"{meta['name']}.{time.time_ns():x}", "namespace": ns},
            "involvedObject": {"kind": involved["kind"], "apiVersion": involved["apiVersion"],
                               "name": meta["name"], "uid": meta.get("uid", ""),
                               "resourceVersion": meta.get("resourceVersion", "")},
            "reason": reason, "message": message, "type": type_,
            "source": {"component": component}, "reportingComponent": component, "reportingInstance": "",
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        if meta.get("namespace"):
            ev["involvedObject"]["namespace"] = meta["namespace"]
        for _ in range(3):
            try:
                created = await self.create(ev)
                break
            except StatusError as e:
                if e.code != 409:
                    raise
                ev["metadata"]["name"] = f"{meta['name']}.{time.time_ns():x}"
        else:
            raise StatusError(409, "AlreadyExists", f"events {ev['metadata']['name']!r} kept colliding")
        if len(self._recorded) > 10_000:
            self._recorded.clear()
        self._recorded[seen_key] = (ns, created["metadata"]["name"])
        return created


class LocalClient(EventRecorder):
    def __init__(self, registry: Registry, manager: str):
        super().__init__()
        self.registry = registry
        self.manager = manager

    def _opts(self) -> WriteOptions:
        return WriteOptions(field_manager=self.manager, trusted=True)

    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            return await self.registry.get(resource_of(api_version, kind), namespace, name)
        except StatusError as e:
            if e.code == 404:
                return None
            raise

    async def list(self, api_version: str, kind: str, namespace: str | None = None, label_selector: str = "",
                   field_selector: str = "") -> tuple[list[dict[str, Any]], str]:
        out = await self.registry.list(resource_of(api_version, kind), namespace,
                                       ListOptions(label_selector=label_selector, field_selector=field_selector))
        return out["items"], out["metadata"]["resourceVersion"]

    def watch(self, api_version: str, kind: str, namespace: str | None = None,
              resource_version: str = "", label_selector: str = "",
              field_selector: str = "") -> AsyncIterator[WatchEvent]:
        return self.registry.watch(resource_of(api_version, kind), namespace,
                                   ListOptions(resource_version=resource_version, label_selector=label_selector,
                                               field_selector=field_selector))

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        res = resource_of(obj["apiVersion"], obj["kind"])
        return await self.registry.create(res, obj["metadata"].get("namespace"), obj, self._opts())

    async def update(self, obj: dict[str, Any], subresource: str = "") -> dict[str, Any]:
        res = resource_of(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        updated, _ = await self.registry.update(res, meta.get("namespace"), meta["name"], obj, self._opts(),
                                                subresource=subresource)
        return updated

    async def merge_patch(self, api_version: str, kind: str, namespace: str | None, name: str,
                          patch: dict[str, Any], subresource: str = "") -> dict[str, Any]:
        obj, _ = await self.registry.patch(resource_of(api_version, kind), namespace, name, PATCH_MERGE,
                                           orjson.dumps(patch), self._opts(), subresource=subresource)
        return obj

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str,
                     propagation_policy: str = "Background", uid: str | None = None,
                     grace_period_seconds: int | None = None) -> bool:
        """Delete; False if it was already gone. Returns True once the delete was accepted."""
        try:
            await self.registry.delete(resource_of(api_version, kind), namespace, name,
                                       DeleteOptions(propagation_policy=propagation_policy, uid=uid,
                                                     grace_period_seconds=grace_period_seconds))
            return True
        except StatusError as e:
            if e.code == 404:
                return False
            raise

    async def bind_pod(self, namespace: str, name: str, node_name: str, uid: str | None = None) -> None:
        """POST pods/<name>/binding: assign the pod to ``node_name`` (409 if already assigned)."""
        await self.registry.bind_pod(namespace, name, binding(namespace, name, node_name, uid))

    # ------------------------------------------------------------- intents
    # A backend operation about to run is written down first (under /orlop/intents/, not an
    # API object) so that a crash at any point can be finished or undone at the next start.

    async def put_intent(self, name: str, data: dict[str, Any]) -> None:
        key = f"/orlop/intents/{name}"
        try:
            await self.registry.store.create(key, orjson.dumps(data))
        except KeyExists:
            cur = await self.registry.store.get(key)
            if cur is not None:
                await self.registry.store.update(key, orjson.dumps(data), cur.mod_revision)

    async def drop_intent(self, name: str) -> None:
        try:
            await self.registry.store.delete(f"/orlop/intents/{name}")
        except KeyNotFound:
            pass

    async def intents(self) -> dict[str, dict[str, Any]]:
        kvs, _ = await self.registry.store.list("/orlop/intents/")
        return {kv.key.rsplit("/", 1)[1]: orjson.loads(kv.value) for kv in kvs}
