"""The registry's watch stream: Registry.watch's events, apart from core.py because they are an
async generator and core.py is compiled by mypyc (setup.py), which cannot compile async
generators.  This module stays Python; it reads everything it uses from core at run time
(core imports it lazily, so there is no import cycle at start)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from ..errors import expired
from ..store import Compacted
from . import selectors
from .resources import storage_resource

if TYPE_CHECKING:
    from .core import ListOptions, Registry, WatchEvent
    from .resources import Resource


async def watch(reg: Registry, res: Resource, namespace: str | None, opts: ListOptions,
                bookmarks: bool, progress_interval: float, raw: bool) -> AsyncIterator[WatchEvent]:
    from .core import WatchEvent, decode, parse_rv, with_resource_version

    label_sel = selectors.parse_label_selector(opts.label_selector) if opts.label_selector else None
    field_reqs = selectors.parse_field_selector(opts.field_selector) if opts.field_selector else []
    if field_reqs:
        selectors.check_field_selector(res.kind, field_reqs, res.group_version)
    rv = parse_rv(opts.resource_version)
    sres = storage_resource(res)
    prefix = sres.key_prefix(namespace)
    filtered = label_sel is not None or bool(field_reqs)
    raw = raw and not filtered and reg.is_storage_version(res)
    if rv == 0:
        kvs, rv = await reg.store.list(prefix)
        for kv in kvs:
            obj = decode(kv.value, kv.mod_revision)
            if reg._matches(res, obj, label_sel, field_reqs):
                yield WatchEvent("ADDED", reg.to_version(res, obj))
    try:
        async for ev in reg.store.watch(prefix, rv, progress_interval=progress_interval):
            if ev.progress:
                if bookmarks:
                    yield WatchEvent("BOOKMARK", {"kind": res.kind, "apiVersion": res.group_version,
                                                  "metadata": {"resourceVersion": str(ev.revision)}})
                continue
            if ev.type == "DELETE":
                # The object as it was, at the revision of its deletion.
                prev = decode(ev.prev, ev.revision) if ev.prev is not None else None
                if prev is not None and reg._matches(res, prev, label_sel, field_reqs):
                    yield WatchEvent("DELETED", reg.to_version(res, prev))
                continue
            if raw and ev.value is not None:
                data = with_resource_version(ev.value, ev.revision)
                if data is not None:
                    yield WatchEvent("MODIFIED" if ev.prev is not None else "ADDED", {}, data)
                    continue
            cur = decode(ev.value, ev.revision) if ev.value is not None else None
            if not filtered:
                # Every object matches: the previous value is only needed to say whether it
                # existed (MODIFIED) or not (ADDED), so it is never decoded.
                if cur is not None:
                    yield WatchEvent("MODIFIED" if ev.prev is not None else "ADDED", reg.to_version(res, cur))
                continue
            prev = decode(ev.prev, ev.revision) if ev.prev is not None else None
            cur_ok = cur is not None and reg._matches(res, cur, label_sel, field_reqs)
            prev_ok = prev is not None and reg._matches(res, prev, label_sel, field_reqs)
            if cur_ok and cur is not None:
                yield WatchEvent("MODIFIED" if prev_ok else "ADDED", reg.to_version(res, cur))
            elif prev_ok and prev is not None:
                # The object left the selection: to this watcher it is gone.
                yield WatchEvent("DELETED", reg.to_version(res, prev))
    except Compacted as e:
        raise expired(f"too old resource version: {e.requested} ({e.compacted})") from None
