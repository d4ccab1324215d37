"""Informer and work queue: the machinery every controller shares.

Why this exists: Kubernetes controllers are level-triggered.  They keep a cache of the
objects they care about (list, then watch from the list's resourceVersion, relist on
410 Gone), turn every change into a *key* on a de-duplicating work queue, and a worker
calls ``sync(key)``, which reads the cache, compares with the world and makes the next
write.  Errors requeue the key with exponential backoff; a periodic resync requeues
everything so nothing depends on an event being seen.

Cached objects carry no ``metadata.managedFields`` (``without_managed_fields``), as
kube-controller-manager's informers have not since Kubernetes 1.28 (kubernetes#118455): no
controller reads them, a write that leaves them out keeps the stored ones (the field
manager's "empty means live" rule), and they are over half of a decoded PersistentVolume --
memory every cached object would hold and every copy a decision makes would repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import StatusError

if TYPE_CHECKING:
    from ..registry.core import WatchEvent

log = logging.getLogger(__name__)

Key = tuple[str, str]          # (namespace or "", name)


class ListWatcher(Protocol):
    """What an informer needs of a client: ``LocalClient`` in process, ``RemoteClient`` over HTTPS
    (``orlop agent``).  A protocol, not a class: compiled (setup.py), an annotation naming a
    class is checked at run time, and RemoteClient is not a LocalClient."""

    async def list(self, api_version: str, kind: str, namespace: str | None = None, label_selector: str = "",
                   field_selector: str = "") -> tuple[list[dict[str, Any]], str]: ...

    def watch(self, api_version: str, kind: str, namespace: str | None = None, resource_version: str = "",
              label_selector: str = "", field_selector: str = "") -> AsyncIterator[WatchEvent]: ...


Handler = Callable[[str, dict[str, Any], dict[str, Any] | None], None]


def without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` itself, its ``metadata.managedFields`` dropped: what controllers cache."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


def key_of(obj: dict[str, Any]) -> Key:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


def selected(matches: Callable[[dict[str, Any]], bool], handler: Handler) -> Handler:
    """``handler`` seeing only the objects ``matches`` accepts, as a selector watch shows them.

    For a subscriber of an unfiltered (shared) informer that wants what a field or label
    selector would give it: an object entering the selection is ADDED (old None), one
    leaving it is DELETED (the object as it was last seen in the selection), the others
    are not shown at all.
    """
    def on_change(typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        was = old if old is not None and matches(old) else None
        if typ == "DELETED":
            if was is not None or matches(obj):
                handler("DELETED", obj, was)
        elif matches(obj):
            handler("ADDED" if was is None else typ, obj, was)
        elif was is not None:
            handler("DELETED", was, was)
    return on_change


class Informer:
    """A cache of one kind, kept current by list + watch; calls handlers on each change."""

    def __init__(self, client: ListWatcher, api_version: str, kind: str, field_selector: str = "",
                 label_selector: str = ""):
        self.client = client
        self.api_version = api_version
        self.kind = kind
        self.field_selector = field_selector
        self.label_selector = label_selector
        self.cache: dict[Key, dict[str, Any]] = {}
        self.handlers: list[Handler] = []
        self.synced = asyncio.Event()

    def on_change(self, handler: Handler, replay: bool = False) -> None:
        """handler(event_type, obj, old) for ADDED / MODIFIED / DELETED.

        ``replay``: a handler added to an informer that has already listed is first called
        with ADDED for every cached object (as client-go's AddEventHandler on a started
        informer), so a late subscriber misses nothing.
        """
        self.handlers.append(handler)
        if replay:
            for obj in list(self.cache.values()):
                handler("ADDED", obj, None)

    def remove_handler(self, handler: Handler) -> None:
        with contextlib.suppress(ValueError):
            self.handlers.remove(handler)

    def _emit(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        for h in self.handlers:
            try:
                h(typ, obj, old)
            except Exception:  # noqa: BLE001 - one handler's bug must not stop the informer
                log.exception("%s handler failed", self.kind)

    async def run(self) -> None:
        while True:
            try:
                items, rv = await self.client.list(self.api_version, self.kind, label_selector=self.label_selector,
                                                   field_selector=self.field_selector)
                fresh = {key_of(o): without_managed_fields(o) for o in items}
                for k, gone in list(self.cache.items()):
                    if k not in fresh:
                        del self.cache[k]
                        self._emit("DELETED", gone, gone)
                for k, o in fresh.items():
                    was = self.cache.get(k)
                    self.cache[k] = o
                    if was is None or was["metadata"]["resourceVersion"] != o["metadata"]["resourceVersion"]:
                        self._emit("ADDED" if was is None else "MODIFIED", o, was)
                self.synced.set()
                del items, fresh        # (held until the watch ends otherwise: a second copy of the cache)
                async for ev in self.client.watch(self.api_version, self.kind, resource_version=rv,
                                                  label_selector=self.label_selector,
                                                  field_selector=self.field_selector):
                    if ev.type == "BOOKMARK":
                        continue
                    k = key_of(without_managed_fields(ev.object))
                    old = self.cache.get(k)
                    if ev.type == "DELETED":
                        self.cache.pop(k, None)
                    else:
                        self.cache[k] = ev.object
                    self._emit(ev.type, ev.object, old)
            except asyncio.CancelledError:
                raise
            except StatusError as e:
                if e.code != 410:
                    log.warning("%s watch failed: %s; relisting", self.kind, e)
                    await asyncio.sleep(1)
            except Exception:  # noqa: BLE001 - relist after any failure
                log.exception("%s informer failed; relisting", self.kind)
                await asyncio.sleep(1)


class Informers:
    """Shared informers: one list + watch, one cache and one decode per kind, for every controller.

    Controllers ask for the kinds they need (``get``) before ``run`` starts them; their
    handlers all hang off the same informer, as client-go's SharedInformerFactory does.
    """

    def __init__(self, client: ListWatcher):
        self.client = client
        self._by_kind: dict[tuple[str, str], Informer] = {}
        self._late: asyncio.Queue[Informer] | None = None

    def get(self, api_version: str, kind: str) -> Informer:
        key = (api_version, kind)
        if key not in self._by_kind:
            inf = self._by_kind[key] = Informer(self.client, api_version, kind)
            if self._late is not None:          # asked for after run started: started by run too
                self._late.put_nowait(inf)
        return self._by_kind[key]

    async def run(self) -> None:
        self._late = asyncio.Queue()
        tasks = [asyncio.ensure_future(i.run()) for i in self._by_kind.values()]
        try:
            while True:
                inf = await self._late.get()
                tasks.append(asyncio.ensure_future(inf.run()))
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


class WorkQueue:
    """De-duplicating queue of keys with per-key exponential backoff on failure."""

    def __init__(self, base_delay: float = 0.05, max_delay: float = 30.0):
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._pending: set[Any] = set()
        self._failures: dict[Any, int] = {}
        self.base_delay, self.max_delay = base_delay, max_delay

    def add(self, key: Any) -> None:
        if key not in self._pending:
            self._pending.add(key)
            self._queue.put_nowait(key)

    def add_after(self, key: Any, delay: float) -> None:
        asyncio.get_running_loop().call_later(delay, self.add, key)

    def retry(self, key: Any) -> None:
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        self.add_after(key, min(self.max_delay, self.base_delay * (2 ** n)))

    def forget(self, key: Any) -> None:
        self._failures.pop(key, None)

    async def get(self) -> Any:
        key = await self._queue.get()
        self._pending.discard(key)
        return key

    async def process(self, sync: Callable[[Any], Awaitable[None]], name: str) -> None:
        """Worker loop: sync each key; requeue with backoff when sync raises."""
        while True:
            key = await self.get()
            try:
                await sync(key)
                self.forget(key)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - retried with backoff
                log.info("%s: sync %s failed: %s", name, key, e)
                self.retry(key)


class Operations:
    """Backend operations by name: at most one in flight per name, failures retried with backoff.

    A controller starts ``start(name, coro)`` from a sync; while it runs, later syncs asking for
    the same operation do nothing.  When it fails, the runner waits (0.5 s doubling, at most
    ``max_delay``) and then calls ``requeue(name, failed=True)`` so the next sync decides again;
    on success ``requeue(name, failed=False)`` is called.
    """

    def __init__(self, requeue: Callable[[str, bool], None], max_delay: float, what: str = "operation"):
        self.requeue = requeue
        self.max_delay = max_delay
        self.what = what
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.failures: dict[str, int] = {}

    def running(self, name: str) -> bool:
        task = self.tasks.get(name)
        return task is not None and not task.done()

    def start(self, name: str, coro: Awaitable[None]) -> None:
        if self.running(name):
            coro.close()  # type: ignore[attr-defined]
            return

        async def runner() -> None:
            try:
                await coro
                self.failures.pop(name, None)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - retried with backoff
                n = self.failures.get(name, 0)
                self.failures[name] = n + 1
                delay = min(self.max_delay, 0.5 * 2 ** n)
                log.info("%s %s failed (%s); retry in %.1fs", self.what, name, e, delay)
                await asyncio.sleep(delay)
                self.requeue(name, True)
                return
            self.requeue(name, False)

        self.tasks[name] = asyncio.get_running_loop().create_task(runner())
