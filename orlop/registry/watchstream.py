"""The registry's watch stream: Registry.watch's events, one class with ``__anext__``.

Why a class: every watch event of every informer and API watch passes through here, and the
module is compiled with mypyc (setup.py), which cannot compile async generators.  The
stream does what ``async def watch(...): ... yield`` would, step by step: nothing happens
until the first ``__anext__`` (so a bad request still fails on first read, as before),
then the current objects as ADDED when the watch starts from resourceVersion "0" or none,
then the store's changes.  ``aclose()`` closes the store's stream beneath it, as closing a
generator would.  (core imports this module lazily, in ``Registry.watch``: no import cycle.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import expired
from ..store import Compacted, KeyValue
from ..store import WatchEvent as StoreEvent
from . import selectors
from .core import WatchEvent, decode, parse_rv, with_resource_version
from .resources import storage_resource

if TYPE_CHECKING:
    from .core import ListOptions, Registry
    from .resources import Resource


class WatchStream:
    def __init__(self, reg: Registry, res: Resource, namespace: str | None, opts: ListOptions,
                 bookmarks: bool, progress_interval: float, raw: bool) -> None:
        self.reg = reg
        self.res = res
        self.namespace = namespace
        self.opts = opts
        self.bookmarks = bookmarks
        self.progress_interval = progress_interval
        self.raw = raw
        self.started = False
        self.closed = False
        self.label_sel: Any = None
        self.field_reqs: list[Any] = []
        self.filtered = False
        self.prefix = ""
        self.rv = 0
        self.initial: Iterator[KeyValue] | None = None      # the current objects, when starting from "0"
        self.changes: AsyncIterator[StoreEvent] | None = None

    def __aiter__(self) -> WatchStream:
        return self

    def _start(self) -> None:
        self.started = True
        opts, res = self.opts, self.res
        self.label_sel = selectors.parse_label_selector(opts.label_selector) if opts.label_selector else None
        self.field_reqs = selectors.parse_field_selector(opts.field_selector) if opts.field_selector else []
        if self.field_reqs:
            selectors.check_field_selector(res.kind, self.field_reqs, res.group_version)
        self.rv = parse_rv(opts.resource_version)
        self.prefix = storage_resource(res).key_prefix(self.namespace)
        self.filtered = self.label_sel is not None or bool(self.field_reqs)
        self.raw = self.raw and not self.filtered and self.reg.is_storage_version(res)

    async def __anext__(self) -> WatchEvent:
        if self.closed:
            raise StopAsyncIteration
        if not self.started:
            self._start()
            if self.rv == 0:
                kvs, self.rv = await self.reg.store.list(self.prefix)
                self.initial = iter(kvs)
        reg, res = self.reg, self.res
        if self.initial is not None:
            for kv in self.initial:
                obj = decode(kv.value, kv.mod_revision)
                if reg._matches(res, obj, self.label_sel, self.field_reqs):
                    return WatchEvent("ADDED", reg.to_version(res, obj))
            self.initial = None
        if self.changes is None:
            self.changes = reg.store.watch(self.prefix, self.rv, progress_interval=self.progress_interval)
        while True:
            try:
                ev = await self.changes.__anext__()
            except Compacted as e:
                raise expired(f"too old resource version: {e.requested} ({e.compacted})") from None
            out = self._event(ev)
            if out is not None:
                return out

    def _event(self, ev: StoreEvent) -> WatchEvent | None:
        """What the watcher sees of one change of the store: an event, or nothing."""
        reg, res, label_sel, field_reqs = self.reg, self.res, self.label_sel, self.field_reqs
        if ev.progress:
            if self.bookmarks:
                return WatchEvent("BOOKMARK", {"kind": res.kind, "apiVersion": res.group_version,
                                               "metadata": {"resourceVersion": str(ev.revision)}})
            return None
        if ev.type == "DELETE":
            # The object as it was, at the revision of its deletion.
            gone = decode(ev.prev, ev.revision) if ev.prev is not None else None
            if gone is not None and reg._matches(res, gone, label_sel, field_reqs):
                return WatchEvent("DELETED", reg.to_version(res, gone))
            return None
        if self.raw and ev.value is not None:
            data = with_resource_version(ev.value, ev.revision)
            if data is not None:
                return WatchEvent("MODIFIED" if ev.prev is not None else "ADDED", {}, data)
        cur = decode(ev.value, ev.revision) if ev.value is not None else None
        if not self.filtered:
            # Every object matches: the previous value is only needed to say whether it
            # existed (MODIFIED) or not (ADDED), so it is never decoded.
            if cur is not None:
                return WatchEvent("MODIFIED" if ev.prev is not None else "ADDED", reg.to_version(res, cur))
            return None
        prev = decode(ev.prev, ev.revision) if ev.prev is not None else None
        cur_ok = cur is not None and reg._matches(res, cur, label_sel, field_reqs)
        prev_ok = prev is not None and reg._matches(res, prev, label_sel, field_reqs)
        if cur_ok and cur is not None:
            return WatchEvent("MODIFIED" if prev_ok else "ADDED", reg.to_version(res, cur))
        if prev_ok and prev is not None:
            # The object left the selection: to this watcher it is gone.
            return WatchEvent("DELETED", reg.to_version(res, prev))
        return None

    async def aclose(self) -> None:
        """Stop: the store's stream beneath is closed (its watcher unregistered) at once."""
        self.closed = True
        self.initial = None
        changes, self.changes = self.changes, None
        close = getattr(changes, "aclose", None)
        if close is not None:
            await close()
