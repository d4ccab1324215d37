"""SQLite backend of the store: the embedded default of ``orlop up``.

Why this exists: one machine needs a durable, transactional store with no server to
run.  SQLite in WAL mode with ``synchronous=FULL`` makes each commit durable (fsync of
the WAL) before we answer, so a ``kill -9`` right after an acknowledged write loses
nothing.

Shape:
- ``kv``   the current value of every key with its mod/create revision;
- ``log``  one row per revision (the change and the previous value), the watch
  history; compaction deletes its oldest rows;
- ``meta`` the current revision and the compacted revision.

Writes are group-committed: every write queued while the previous transaction was being
made durable goes into the next transaction together.  A write whose precondition fails (key
exists, key missing, revision moved) finds out before it changes anything, so it fails alone
and its neighbours commit; any other error (I/O, disk full) fails the whole transaction.  Many
concurrent writers therefore share one fsync instead of paying one each, and revisions stay
strictly ordered.  The statements of a transaction run on the event loop's own thread, and
only its COMMIT (the fsync) on the committer thread: a SQLite statement takes microseconds,
but each one releases and retakes the GIL, and a thread that wants the GIL back while the
event loop runs Python waits for it -- measured, a writer thread running the statements
itself spent three quarters of its time waiting for the GIL and became the bottleneck of
the whole server, while a COMMIT is one wait per transaction.  (Compaction, a long DELETE,
runs whole on the committer thread, so it never stalls the event loop.)  The results of a
transaction reach the event loop in one wake-up, with the start of the next transaction.
Reads use a second connection in a second thread (WAL readers see
a consistent snapshot and never block the writer), except point reads of one key: those
run at once on a connection of their own in the caller's thread (a primary-key lookup
takes microseconds and WAL readers never wait for the writer, so a hop to the reader
thread -- a Future, a wake-up, the GIL handed back and forth -- costs far more than the
read).  Watchers are fed in-process right
after each commit, and replay older changes from ``log``; events are de-duplicated by
revision so a watcher registered during a commit sees each change exactly once.

Point reads are served from memory when they can be: the committer thread, right after each
commit, puts every key it wrote into a cache (and takes deleted ones out), so the cache holds
exactly what SQLite would answer (a key read and found absent is remembered as absent too)
-- a controller reading the object it just wrote, or admission reading a namespace, never
runs a statement.  A read that misses fills the cache only if no commit reached the cache
while it read (a generation counter, checked under the same lock the committer holds), so a
stale value can never be put back over a newer one.  A list of a prefix that held only a
handful of rows last time (storage classes, say) is read on the caller's thread too.
"""

from __future__ import annotations

import asyncio
import builtins
import fcntl
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import (
    Compacted,
    KeyExists,
    KeyNotFound,
    KeyValue,
    RevisionMismatch,
    Store,
    StoreError,
    StoreFailure,
    StoreInUse,
    WatchEvent,
)

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    mod_rev INTEGER NOT NULL,
    create_rev INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log (
    rev INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    type INTEGER NOT NULL,
    value BLOB,
    prev BLOB
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('revision', 0);
INSERT OR IGNORE INTO meta VALUES ('compacted', 0);
"""

PUT, DELETE = 0, 1
_TYPES = {PUT: "PUT", DELETE: "DELETE"}
# A watcher that falls this many events behind is dropped (its stream ends; the client
# re-watches from its last resourceVersion), as Kubernetes does with slow watchers.
WATCH_QUEUE_LIMIT = 100_000
# Writes committed together in one transaction at most.
MAX_GROUP = 512
# A whole-prefix list that returned at most this many rows last time is read on the caller's thread.
SMALL_LIST = 32
# Values held by the point-read cache at most (bytes of stored JSON), and keys (absent ones
# included); past either the cache starts over.
CACHE_BYTES = 64 * 1024 * 1024
CACHE_KEYS = 500_000
_MISS = object()


def prefix_end(prefix: str) -> str:
    """The smallest key greater than every key starting with prefix (etcd's range end)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _resource_part(key: str) -> str:
    """``/<group>/<plural>/`` of a key or watch prefix; "" when it has no such part."""
    i = key.find("/", 1)
    j = key.find("/", i + 1) if i > 0 else -1
    return key[:j + 1] if key.startswith("/") and j > 0 else ""


class _Watcher:
    def __init__(self, prefix: str):
        self.prefix = prefix
        self.queue: asyncio.Queue[WatchEvent | None] = asyncio.Queue()
        self.dropped = False

    def offer(self, ev: WatchEvent) -> None:
        if self.dropped:
            return
        if self.queue.qsize() >= WATCH_QUEUE_LIMIT:
            self.dropped = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(ev)


class _Op:
    __slots__ = ("fn", "future", "loop", "inline", "result", "error", "events")

    def __init__(self, fn: Callable[[sqlite3.Connection, int], tuple[Any, list[WatchEvent]]],
                 future: asyncio.Future[Any], loop: asyncio.AbstractEventLoop, inline: bool = True):
        self.fn = fn
        self.future = future
        self.loop = loop
        # False: too long to run on the event loop (compaction); run whole on the committer thread.
        self.inline = inline
        self.result: Any = None
        self.error: BaseException | None = None
        self.events: list[WatchEvent] = []


class SQLiteStore(Store):
    def __init__(self, path: str):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._lock_file = self._lock(path)
        conn = self._connect()
        conn.executescript(_SCHEMA)
        start_rev = conn.execute("SELECT value FROM meta WHERE name='revision'").fetchone()[0]
        conn.close()
        self._reader = self._connect()
        self._point_reader = self._connect()
        self._read_exec = ThreadPoolExecutor(max_workers=1, thread_name_prefix="orlop-store-read")
        # Writes waiting for the next transaction; ``_busy`` while one is being written or committed
        # (one at a time: they share the writer connection); ``_kicked`` while a call of ``_flush``
        # is scheduled.  All three under ``_write_lock`` (writes may come from several event loops).
        self._write_lock = threading.Lock()
        self._queued: list[_Op] = []
        self._busy = False
        self._kicked = False
        self._writer_conn = self._connect()
        # Transactions to commit (statements run: True) or to run whole (False), for the committer.
        self._commits: queue.Queue[tuple[list[_Op], bool] | None] = queue.Queue()
        self._writer = threading.Thread(target=self._commit_loop, name="orlop-store-commit", daemon=True)
        self._watchers: set[_Watcher] = set()
        # The same watchers by the resource part of their prefix ("/core/pods/"), so that an event
        # is offered only to those of its resource; "" holds the ones with shorter prefixes.
        self._by_resource: dict[str, set[_Watcher]] = {}
        self._closed = False
        # Point-read cache: key -> current KeyValue, or None: known absent (see the module docstring).
        self._cache: dict[str, KeyValue | None] = {}
        self._cache_bytes = 0
        self._cache_gen = 0
        self._cache_lock = threading.Lock()
        # Rows the last whole list of each prefix returned (see list()).
        self._list_sizes: dict[str, int] = {}
        # Highest revision handed to watchers (in the event loop); progress events never pass it.
        self._delivered = start_rev
        self._writer.start()

    @staticmethod
    def _lock(path: str) -> Any:
        """One process at a time (``path``.lock, flock'd for the store's life, holds its pid): the
        watches of a second one would miss the first one's writes, and its statements, which run on
        the event loop, would wait for the other's transactions."""
        f = open(path + ".lock", "a+")  # noqa: SIM115 - held open as long as the store
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            pid = f.read().strip()
            f.close()
            raise StoreInUse(path, pid) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        return f

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    # ------------------------------------------------------------------ reads
    async def _read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._read_exec, fn, self._reader)

    async def get(self, key: str) -> KeyValue | None:
        kv = self._cache.get(key, _MISS)
        if kv is not _MISS:
            return kv       # type: ignore[return-value]
        gen = self._cache_gen
        row = self._point_reader.execute("SELECT key, value, mod_rev, create_rev FROM kv WHERE key=?",
                                         (key,)).fetchone()
        kv = KeyValue(*row) if row is not None else None
        with self._cache_lock:
            # Only if no commit reached the cache meanwhile: then nothing newer can be there.
            if gen == self._cache_gen and key not in self._cache:
                self._cache_put(key, kv)
        return kv

    def _cache_put(self, key: str, kv: KeyValue | None) -> None:
        """(With the cache lock held.)"""
        old = self._cache.get(key)
        self._cache_bytes += (len(kv.value) if kv is not None else 0) - (len(old.value) if old is not None else 0)
        self._cache[key] = kv
        if self._cache_bytes > CACHE_BYTES or len(self._cache) > CACHE_KEYS:
            self._cache.clear()
            self._cache_bytes = 0
            self._cache_gen += 1

    def _cache_commit(self, batch: list[_Op]) -> None:
        """The writer thread, after a commit: the cache takes every change of the batch."""
        with self._cache_lock:
            self._cache_gen += 1
            for op in batch:
                for ev in op.events:
                    if ev.value is not None:
                        self._cache_put(ev.key, KeyValue(ev.key, ev.value, ev.revision, ev.create_revision))
                    else:
                        old = self._cache.pop(ev.key, None)
                        if old is not None:
                            self._cache_bytes -= len(old.value)

    async def list(self, prefix: str, start_after: str = "", limit: int = 0,
                   at_revision: int = 0) -> tuple[list[KeyValue], int]:
        def q(c: sqlite3.Connection) -> tuple[list[KeyValue], int]:
            c.execute("BEGIN")
            try:
                rev = c.execute("SELECT value FROM meta WHERE name='revision'").fetchone()[0]
                lo = max(prefix, start_after + "\x00") if start_after else prefix
                if at_revision and at_revision < rev:
                    return self._snapshot(c, prefix, lo, limit, at_revision), at_revision
                sql = "SELECT key, value, mod_rev, create_rev FROM kv WHERE key>=? AND key<? ORDER BY key"
                args: tuple[Any, ...] = (lo, prefix_end(prefix))
                if limit:
                    sql += " LIMIT ?"
                    args += (limit,)
                rows = [KeyValue(*r) for r in c.execute(sql, args)]
            finally:
                c.execute("COMMIT")
            return rows, rev
        if not start_after and not at_revision and self._list_sizes.get(prefix, SMALL_LIST + 1) <= SMALL_LIST:
            # Known to be a handful of rows (storage classes, say): read at once on this thread, as
            # point reads are, instead of a hop to the reader thread that costs more than the read.
            rows, rev = q(self._point_reader)
        else:
            rows, rev = await self._read(q)
        if not start_after and not at_revision and not limit:
            self._list_sizes[prefix] = len(rows)
        return rows, rev

    @staticmethod
    def _snapshot(c: sqlite3.Connection, prefix: str, lo: str, limit: int, at: int) -> builtins.list[KeyValue]:
        """Keys in [lo, end of prefix) as they were at revision ``at``: current rows, with every key
        changed since rolled back to the value before its first later change."""
        compacted = c.execute("SELECT value FROM meta WHERE name='compacted'").fetchone()[0]
        if at < compacted:
            raise Compacted(at, compacted)
        hi = prefix_end(prefix)
        state: dict[str, KeyValue | None] = {
            k: KeyValue(k, v, m, cr) for k, v, m, cr in c.execute(
                "SELECT key, value, mod_rev, create_rev FROM kv WHERE key>=? AND key<? AND mod_rev<=?", (lo, hi, at))}
        first: dict[str, tuple[int, bytes | None]] = {}
        for key, rev, prev in c.execute(
                "SELECT key, rev, prev FROM log WHERE rev>? AND key>=? AND key<? ORDER BY rev", (at, lo, hi)):
            first.setdefault(key, (rev, prev))
        for key, (_rev, prev) in first.items():
            if prev is None:
                state[key] = None          # created after the snapshot
                continue
            row = c.execute("SELECT max(rev) FROM log WHERE key=? AND rev<=?", (key, at)).fetchone()
            mod = row[0] if row and row[0] else compacted
            state[key] = KeyValue(key, prev, mod, mod)
        out = sorted((kv for kv in state.values() if kv is not None), key=lambda kv: kv.key)
        return out[:limit] if limit else out

    async def count(self, prefix: str, start_after: str = "") -> int:
        lo = max(prefix, start_after + "\x00") if start_after else prefix

        def q(c: sqlite3.Connection) -> int:
            return c.execute("SELECT count(*) FROM kv WHERE key>=? AND key<?",
                             (lo, prefix_end(prefix))).fetchone()[0]
        return await self._read(q)

    async def current_revision(self) -> int:
        rev: int = self._point_reader.execute("SELECT value FROM meta WHERE name='revision'").fetchone()[0]
        return rev

    async def _compacted(self) -> int:
        return await self._read(lambda c: c.execute("SELECT value FROM meta WHERE name='compacted'").fetchone()[0])

    # ----------------------------------------------------------------- writes
    async def _write(self, fn: Callable[[sqlite3.Connection, int], tuple[Any, builtins.list[WatchEvent]]],
                     inline: bool = True) -> Any:
        if self._closed:
            raise RuntimeError("store is closed")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        with self._write_lock:
            self._queued.append(_Op(fn, fut, loop, inline))
            kick = not self._busy and not self._kicked
            if kick:
                self._kicked = True
        if kick:
            # At the end of this loop turn: the writes made in the turn go in one transaction.
            loop.call_soon(self._flush)
        return await fut

    def _flush(self) -> None:
        """Start the next transaction with the queued writes, unless one is under way (its end calls
        this again).  Runs on an event loop's thread."""
        with self._write_lock:
            self._kicked = False
            if self._busy or not self._queued:
                return
            # The queued writes up to MAX_GROUP, or one that must not run on the loop, alone.
            n = 1
            if self._queued[0].inline:
                while n < len(self._queued) and n < MAX_GROUP and self._queued[n].inline:
                    n += 1
            batch = self._queued[:n]
            del self._queued[:n]
            self._busy = True
        if not batch[0].inline:
            self._commits.put((batch, False))
            return
        try:
            self._run_statements(self._writer_conn, batch)
        except Exception as e:  # noqa: BLE001 - disk full, I/O error: every op fails
            self._fail(self._writer_conn, batch, e)
            self._finish(batch)
            return
        self._commits.put((batch, True))

    @staticmethod
    def _run_statements(conn: sqlite3.Connection, batch: builtins.list[_Op]) -> None:
        """One transaction's statements, up to (not including) its COMMIT."""
        conn.execute("BEGIN IMMEDIATE")
        rev = conn.execute("SELECT value FROM meta WHERE name='revision'").fetchone()[0]
        for op in batch:
            try:
                op.result, op.events = op.fn(conn, rev)
                rev += len(op.events)
            except StoreError as e:
                # A precondition: checked before the write changed anything (no savepoint needed).
                op.error = e
        conn.execute("UPDATE meta SET value=? WHERE name='revision'", (rev,))

    @staticmethod
    def _fail(conn: sqlite3.Connection, batch: builtins.list[_Op], e: BaseException) -> None:
        log.error("store commit failed: %s", e, exc_info=e)
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        failure = StoreFailure(f"the store could not commit the write: {e}")
        for op in batch:
            op.error, op.events = failure, []

    def _commit_loop(self) -> None:
        """The committer thread: makes each transaction durable (the fsync, without the GIL)."""
        conn = self._writer_conn
        while True:
            item = self._commits.get()
            if item is None:
                break
            batch, statements_run = item
            try:
                if not statements_run:
                    self._run_statements(conn, batch)
                conn.execute("COMMIT")
                self._cache_commit(batch)
            except Exception as e:  # noqa: BLE001 - disk full, I/O error: every op fails
                self._fail(conn, batch, e)
            self._finish(batch)
        conn.close()

    def _finish(self, batch: builtins.list[_Op]) -> None:
        """A transaction is over: its results to their event loops, and the next one started there.

        Any thread.  The next transaction starts in the same call (one wake-up of the loop) on the
        loop of the oldest queued write; callbacks run in order, so events stay in revision order."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Op]] = {}
        for op in batch:
            by_loop.setdefault(op.loop, []).append(op)
        with self._write_lock:
            self._busy = False
            nxt = self._queued[0].loop if self._queued and not self._kicked else None
            if nxt is not None:
                self._kicked = True
        if nxt is not None:
            by_loop.setdefault(nxt, [])
        for loop, ops in by_loop.items():
            try:
                loop.call_soon_threadsafe(self._after, ops, loop is nxt)
            except RuntimeError:
                # That loop is closed (its writers are gone with it): the next transaction waits
                # for the next write instead, from whichever loop makes it.
                if loop is nxt:
                    with self._write_lock:
                        self._kicked = False

    def _after(self, ops: builtins.list[_Op], flush: bool) -> None:
        self._deliver_all(ops)
        if flush:
            self._flush()

    def _deliver_all(self, ops: builtins.list[_Op]) -> None:
        for op in ops:
            self._deliver(op)

    def _deliver(self, op: _Op) -> None:
        for ev in op.events:
            self._delivered = max(self._delivered, ev.revision)
            for group in (self._by_resource.get(_resource_part(ev.key)), self._by_resource.get("")):
                if group:
                    for w in list(group):
                        if ev.key.startswith(w.prefix):
                            w.offer(ev)
        if op.future.cancelled():
            return
        if op.error is not None:
            op.future.set_exception(op.error)
        else:
            op.future.set_result(op.result)

    @staticmethod
    def _log(conn: sqlite3.Connection, rev: int, key: str, typ: int, value: bytes | None,
             prev: bytes | None, create_rev: int = 0) -> WatchEvent:
        conn.execute("INSERT INTO log(rev, key, type, value, prev) VALUES (?,?,?,?,?)", (rev, key, typ, value, prev))
        return WatchEvent(_TYPES[typ], key, rev, value, prev, create_revision=create_rev)

    async def create(self, key: str, value: bytes) -> int:
        def fn(c: sqlite3.Connection, rev: int) -> tuple[int, list[WatchEvent]]:
            new = rev + 1
            try:
                c.execute("INSERT INTO kv(key, value, mod_rev, create_rev) VALUES (?,?,?,?)", (key, value, new, new))
            except sqlite3.IntegrityError:
                # The key exists: the failed statement changed nothing (SQLite backs it out alone).
                raise KeyExists(key) from None
            return new, [self._log(c, new, key, PUT, value, None, new)]
        return await self._write(fn)

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        def fn(c: sqlite3.Connection, rev: int) -> tuple[int, list[WatchEvent]]:
            row = c.execute("SELECT key, value, mod_rev, create_rev FROM kv WHERE key=?", (key,)).fetchone()
            if row is None:
                raise KeyNotFound(key)
            if expected_revision and row[2] != expected_revision:
                raise RevisionMismatch(KeyValue(*row))
            new = rev + 1
            c.execute("UPDATE kv SET value=?, mod_rev=? WHERE key=?", (value, new, key))
            return new, [self._log(c, new, key, PUT, value, row[1], row[3])]
        return await self._write(fn)

    async def delete(self, key: str, expected_revision: int = 0) -> int:
        def fn(c: sqlite3.Connection, rev: int) -> tuple[int, list[WatchEvent]]:
            row = c.execute("SELECT key, value, mod_rev, create_rev FROM kv WHERE key=?", (key,)).fetchone()
            if row is None:
                raise KeyNotFound(key)
            if expected_revision and row[2] != expected_revision:
                raise RevisionMismatch(KeyValue(*row))
            new = rev + 1
            c.execute("DELETE FROM kv WHERE key=?", (key,))
            return new, [self._log(c, new, key, DELETE, None, row[1])]
        return await self._write(fn)

    async def compact(self, keep: int) -> int:
        def fn(c: sqlite3.Connection, rev: int) -> tuple[int, list[WatchEvent]]:
            compacted = c.execute("SELECT value FROM meta WHERE name='compacted'").fetchone()[0]
            target = max(compacted, rev - keep)
            if target > compacted:
                c.execute("DELETE FROM log WHERE rev<=?", (target,))
                c.execute("UPDATE meta SET value=? WHERE name='compacted'", (target,))
            return target, []
        return await self._write(fn, inline=False)

    # ------------------------------------------------------------------ watch
    def watch(self, prefix: str, revision: int,  # type: ignore[override]
              progress_interval: float = 0) -> AsyncIterator[WatchEvent]:
        """Changes under prefix after revision, then as they come.  The stream is an async
        generator, which mypyc (setup.py) cannot compile: sqlite_watch.py."""
        from .sqlite_watch import watch

        return watch(self, prefix, revision, progress_interval)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Writes made just before close still happen.
        while True:
            with self._write_lock:
                idle = not self._busy and not self._queued
            if idle:
                break
            self._flush()       # (returns at once while a transaction is under way)
            await asyncio.sleep(0.001)
        self._commits.put(None)
        await asyncio.get_running_loop().run_in_executor(None, self._writer.join)
        for w in list(self._watchers):
            w.queue.put_nowait(None)
        self._read_exec.shutdown(wait=True)
        self._reader.close()
        self._point_reader.close()
        self._lock_file.close()     # (the lock goes with it)
