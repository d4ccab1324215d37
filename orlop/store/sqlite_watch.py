"""The SQLite store's watch stream, apart from sqlite.py because it is an async generator and
sqlite.py is compiled by mypyc (setup.py), which cannot compile async generators.  It stays
Python and reads the store's watchers and queues directly (sqlite.py imports it lazily)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from . import Compacted, WatchEvent

if TYPE_CHECKING:
    from .sqlite import SQLiteStore


async def watch(store: SQLiteStore, prefix: str, revision: int, progress_interval: float) -> AsyncIterator[WatchEvent]:
    from .sqlite import _TYPES, _resource_part, _Watcher, prefix_end

    w = _Watcher(prefix)
    store._watchers.add(w)
    store._by_resource.setdefault(_resource_part(prefix), set()).add(w)
    try:
        def replay(c: sqlite3.Connection) -> tuple[int, int, list[tuple[Any, ...]]]:
            c.execute("BEGIN")
            try:
                compacted = c.execute("SELECT value FROM meta WHERE name='compacted'").fetchone()[0]
                current = c.execute("SELECT value FROM meta WHERE name='revision'").fetchone()[0]
                rows = [] if revision < compacted else c.execute(
                    "SELECT rev, key, type, value, prev FROM log WHERE rev>? AND key>=? AND key<? ORDER BY rev",
                    (revision, prefix, prefix_end(prefix))).fetchall()
            finally:
                c.execute("COMMIT")
            return compacted, current, rows
        compacted, _current, rows = await store._read(replay)
        if revision < compacted:
            raise Compacted(revision, compacted)
        last = revision
        for rev, key, typ, value, prev in rows:
            last = rev
            yield WatchEvent(_TYPES[typ], key, rev, value, prev)
        while True:
            if not w.queue.empty():
                ev = w.queue.get_nowait()       # (no timer needed for what is already queued)
            elif progress_interval > 0:
                try:
                    ev = await asyncio.wait_for(w.queue.get(), progress_interval)
                except TimeoutError:
                    # Queue empty: every change up to the last delivered revision has reached us.
                    yield WatchEvent("PROGRESS", "", max(last, store._delivered), None, None, progress=True)
                    continue
            else:
                ev = await w.queue.get()
            if ev is None:
                return
            if ev.revision <= last:
                continue
            last = ev.revision
            yield ev
    finally:
        store._watchers.discard(w)
        group = store._by_resource.get(_resource_part(prefix))
        if group is not None:
            group.discard(w)
            if not group:
                del store._by_resource[_resource_part(prefix)]
