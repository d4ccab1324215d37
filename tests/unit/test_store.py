"""The SQLite store: revisions, optimistic concurrency, watch replay and compaction."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from orlop.store import (
    Compacted,
    KeyExists,
    KeyNotFound,
    RevisionMismatch,
    StoreFailure,
    StoreInUse,
    WatchEvent,
)
from orlop.store import sqlite as sqlite_mod
from orlop.store.sqlite import SQLiteStore


@pytest.fixture
async def store(tmp_path):
    s = SQLiteStore(str(tmp_path / "db.sqlite"))
    yield s
    await s.close()


async def test_revisions_are_global_and_increasing(store):
    r1 = await store.create("/a/x", b"1")
    r2 = await store.create("/b/y", b"2")
    r3 = await store.update("/a/x", b"3", r1)
    assert r1 < r2 < r3
    kv = await store.get("/a/x")
    assert kv is not None and kv.value == b"3" and kv.mod_revision == r3 and kv.create_revision == r1
    items, rev = await store.list("/a/")
    assert [i.key for i in items] == ["/a/x"] and rev == r3


async def test_create_existing_and_missing_keys(store):
    await store.create("/a/x", b"1")
    with pytest.raises(KeyExists):
        await store.create("/a/x", b"2")
    with pytest.raises(KeyNotFound):
        await store.update("/a/nope", b"2", 1)
    with pytest.raises(KeyNotFound):
        await store.delete("/a/nope")


async def test_stale_revision_is_refused_and_value_kept(store):
    r1 = await store.create("/a/x", b"1")
    await store.update("/a/x", b"2", r1)
    with pytest.raises(RevisionMismatch) as e:
        await store.update("/a/x", b"lost", r1)
    assert e.value.current is not None and e.value.current.value == b"2"
    with pytest.raises(RevisionMismatch):
        await store.delete("/a/x", r1)
    assert (await store.get("/a/x")).value == b"2"


async def test_concurrent_writers_get_conflicts_not_lost_updates(store):
    """50 writers each read-modify-write a counter with retries: the total is exact."""
    await store.create("/c/n", b"0")
    conflicts = 0

    async def incr() -> None:
        nonlocal conflicts
        while True:
            kv = await store.get("/c/n")
            try:
                await store.update("/c/n", str(int(kv.value) + 1).encode(), kv.mod_revision)
                return
            except RevisionMismatch:
                conflicts += 1

    await asyncio.gather(*(incr() for _ in range(50)))
    assert (await store.get("/c/n")).value == b"50"
    assert conflicts > 0  # the writers really raced


async def test_prefix_does_not_leak_into_siblings(store):
    await store.create("/core/pods/ns/a", b"1")
    await store.create("/core/pods/ns-2/b", b"1")
    await store.create("/core/podsx/ns/c", b"1")
    assert [kv.key for kv in (await store.list("/core/pods/ns/"))[0]] == ["/core/pods/ns/a"]
    assert await store.count("/core/pods/") == 2


async def test_list_pages_with_start_after(store):
    for i in range(10):
        await store.create(f"/p/{i:02d}", b"x")
    page, _ = await store.list("/p/", limit=4)
    assert [kv.key for kv in page] == ["/p/00", "/p/01", "/p/02", "/p/03"]
    page, _ = await store.list("/p/", start_after="/p/03", limit=4)
    assert [kv.key for kv in page] == ["/p/04", "/p/05", "/p/06", "/p/07"]
    assert await store.count("/p/", start_after="/p/07") == 2


async def test_watch_replays_history_then_follows_live(store):
    r1 = await store.create("/w/a", b"1")
    r2 = await store.update("/w/a", b"2", r1)
    seen = []

    async def consume():
        async for ev in store.watch("/w/", r1 - 1):
            seen.append((ev.type, ev.key, ev.revision, ev.value, ev.prev))
            if len(seen) == 4:
                return

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    r3 = await store.delete("/w/a")
    r4 = await store.create("/w/b", b"3")
    await store.create("/other/x", b"ignored")
    await asyncio.wait_for(task, 5)
    assert seen == [("PUT", "/w/a", r1, b"1", None), ("PUT", "/w/a", r2, b"2", b"1"),
                    ("DELETE", "/w/a", r3, None, b"2"), ("PUT", "/w/b", r4, b"3", None)]


async def test_live_events_reach_exactly_the_watchers_whose_prefix_they_match(store):
    keys = ["/core/pods/ns1/a", "/core/pods/ns2/b", "/core/podsx/ns1/c", "/apps/statefulsets/ns1/d", "/x"]
    prefixes = ["/", "/core/", "/core/pods", "/core/pods/", "/core/pods/ns1/", "/apps/statefulsets/", "/x", "/y/z/"]
    rev = await store.current_revision()
    seen: dict[str, list[str]] = {p: [] for p in prefixes}

    async def consume(prefix: str) -> None:
        async for ev in store.watch(prefix, rev):
            seen[prefix].append(ev.key)

    tasks = [asyncio.create_task(consume(p)) for p in prefixes]
    await asyncio.sleep(0.05)                               # all registered: what follows is live
    for k in keys:
        await store.create(k, b"v")
    await asyncio.sleep(0.1)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert seen == {p: [k for k in keys if k.startswith(p)] for p in prefixes}
    assert not store._by_resource                          # cancelled watchers are gone from the index


async def test_watch_resumes_without_gaps_under_concurrent_writes(store):
    """A watcher that stops and resumes from its last revision sees every revision exactly once."""
    writes = 300
    start = await store.current_revision()
    got: list[int] = []

    async def writer():
        for i in range(writes):
            await store.create(f"/r/{i}", b"x")

    async def watcher(from_rev: int, n: int) -> int:
        async for ev in store.watch("/r/", from_rev):
            got.append(ev.revision)
            if len(got) >= n:
                return ev.revision
        return from_rev

    w = asyncio.create_task(writer())
    last = await watcher(start, 100)           # first session: stop after 100 events
    last = await watcher(last, 200)            # resume from the last revision seen
    last = await watcher(last, writes)
    await w
    assert got == list(range(start + 1, start + writes + 1))


async def test_compaction_bounds_history_and_gives_compacted(store):
    for i in range(20):
        await store.create(f"/k/{i}", b"x")
    compacted = await store.compact(5)
    assert compacted == 15
    with pytest.raises(Compacted):
        async for _ in store.watch("/k/", 3):
            pass
    # Still-held revisions replay fine.
    revs = []
    async for ev in store.watch("/k/", compacted):
        revs.append(ev.revision)
        if len(revs) == 5:
            break
    assert revs == [16, 17, 18, 19, 20]
    # Objects themselves survive compaction.
    assert await store.count("/k/") == 20


async def test_progress_events_when_quiet(store):
    rev = await store.create("/q/a", b"x")
    async for ev in store.watch("/q/", rev, progress_interval=0.05):
        assert ev.progress and ev.revision >= rev
        break


def test_acknowledged_write_survives_kill_9(tmp_path):
    """A child process writes, prints the acknowledged revision, and is SIGKILLed at once."""
    db = str(tmp_path / "db.sqlite")
    code = textwrap.dedent(f"""
        import asyncio, os, sys
        from orlop.store.sqlite import SQLiteStore
        async def main():
            s = SQLiteStore({db!r})
            for i in range(200):
                rev = await s.create(f"/d/{{i}}", b"v%d" % i)
                print(i, rev, flush=True)
            await asyncio.sleep(60)
        asyncio.run(main())
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    acked = []
    for line in proc.stdout:
        acked.append(tuple(map(int, line.split())))
        if len(acked) == 200:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    async def check():
        s = SQLiteStore(db)
        try:
            for i, rev in acked:
                kv = await s.get(f"/d/{i}")
                assert kv is not None and kv.value == b"v%d" % i and kv.mod_revision == rev
            assert await s.current_revision() >= acked[-1][1]
        finally:
            await s.close()

    asyncio.run(check())


async def test_list_at_revision_is_a_consistent_snapshot(store):
    for i in range(6):
        await store.create(f"/s/{i}", b"v0")
    snap = await store.current_revision()
    kv3 = await store.get("/s/3")
    await store.update("/s/3", b"v1", kv3.mod_revision)     # modified after the snapshot
    await store.delete("/s/4")                               # deleted after
    await store.create("/s/35", b"new")                      # created after
    page, rev = await store.list("/s/", start_after="/s/2", limit=3, at_revision=snap)
    assert rev == snap
    assert [(kv.key, kv.value) for kv in page] == [("/s/3", b"v0"), ("/s/4", b"v0"), ("/s/5", b"v0")]
    assert page[0].mod_revision == kv3.mod_revision
    await store.compact(1)
    with pytest.raises(Compacted):
        await store.list("/s/", at_revision=snap)


async def test_point_reads_see_every_acknowledged_write_at_once(store):
    """get() reads on the caller's thread: each acknowledged write is visible to the very next get,
    also while many writes are in flight (group commit) and a list runs on the reader thread."""
    await asyncio.gather(*(store.create(f"/p/{i:03d}", b"0") for i in range(200)))

    async def bump(i: int) -> None:
        key = f"/p/{i:03d}"
        for n in range(1, 4):
            kv = await store.get(key)
            rev = await store.update(key, str(n).encode(), kv.mod_revision)
            kv = await store.get(key)
            assert kv.value == str(n).encode() and kv.mod_revision == rev

    listed, _ = (await asyncio.gather(store.list("/p/"), *(bump(i) for i in range(200))))[0]
    assert len(listed) == 200
    assert await store.current_revision() == 200 + 600
    assert await store.get("/p/none") is None


async def test_point_read_cache_follows_writes_and_deletes(store):
    """Reads served from memory give what SQLite holds: new values, create revisions, deletions."""
    rev1 = await store.create("/c/a", b"1")
    first = await store.get("/c/a")
    assert (first.value, first.mod_revision, first.create_revision) == (b"1", rev1, rev1)
    rev2 = await store.update("/c/a", b"2", rev1)
    got = await store.get("/c/a")
    assert (got.value, got.mod_revision, got.create_revision) == (b"2", rev2, rev1)
    await store.delete("/c/a", rev2)
    assert await store.get("/c/a") is None
    rev4 = await store.create("/c/a", b"3")
    again = await store.get("/c/a")
    assert (again.value, again.mod_revision, again.create_revision) == (b"3", rev4, rev4)


def _committed(*events: WatchEvent) -> sqlite_mod._Op:
    """A write as the writer thread hands it to the point-read cache once committed (a real _Op:
    the store may be compiled by mypyc, which checks the types of what it is given)."""
    loop = asyncio.get_running_loop()
    op = sqlite_mod._Op(lambda c, rev: (None, []), loop.create_future(), loop)
    op.events = list(events)
    return op


def _during_next_statement(conn, action) -> None:
    """Run action once while conn runs its next SQL statement (SQLite's trace callback): another
    thread's commit landing between a read and its return."""
    def trace(_sql: str) -> None:
        conn.set_trace_callback(None)
        action()
    conn.set_trace_callback(trace)


@pytest.mark.parametrize("landing", ["update", "delete"])
async def test_a_read_racing_a_commit_never_caches_the_older_value(store, landing):
    """A read that missed the cache and read the old row while a commit landed (an update, or a
    delete) must not put that row back over what the commit left."""
    rev1 = await store.create("/r/k", b"old")
    store._cache.clear()
    if landing == "update":
        ev = WatchEvent("PUT", "/r/k", rev1 + 1, b"new", b"old", create_revision=rev1)
    else:
        ev = WatchEvent("DELETE", "/r/k", rev1 + 1, None, b"old")
    # The old row is read, and a commit lands (as the writer thread makes it land) before the read returns.
    _during_next_statement(store._point_reader, lambda: store._cache_commit([_committed(ev)]))
    got = await store.get("/r/k")
    assert got.value == b"old"                       # what was current when it was read
    cached = store._cache.get("/r/k")
    assert (cached.value if cached else None) == (b"new" if landing == "update" else None)


async def test_point_read_cache_stays_within_its_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_mod, "CACHE_BYTES", 1000)
    s = SQLiteStore(str(tmp_path / "db.sqlite"))
    try:
        for i in range(50):
            await s.create(f"/b/{i:02d}", b"x" * 100)
            assert s._cache_bytes <= 1000
            assert sum(len(kv.value) for kv in s._cache.values() if kv is not None) == s._cache_bytes
        for i in range(50):
            kv = await s.get(f"/b/{i:02d}")
            assert kv is not None and kv.value == b"x" * 100
    finally:
        await s.close()


async def test_absent_keys_are_remembered_until_created(store):
    assert await store.get("/n/k") is None
    assert "/n/k" in store._cache and store._cache["/n/k"] is None      # known absent: no SQLite read next time
    assert await store.get("/n/k") is None
    rev = await store.create("/n/k", b"v")
    got = await store.get("/n/k")
    assert got is not None and (got.value, got.mod_revision) == (b"v", rev)


async def test_an_absent_read_racing_a_create_never_hides_it(store):
    rev0 = await store.current_revision()
    # Nothing there yet when it is read, and a create's commit lands before the read returns.
    ev = WatchEvent("PUT", "/n/r", rev0 + 1, b"new", None, create_revision=rev0 + 1)
    _during_next_statement(store._point_reader, lambda: store._cache_commit([_committed(ev)]))
    assert await store.get("/n/r") is None     # absent when it was read
    assert store._cache["/n/r"].value == b"new"    # but not remembered as absent


async def test_small_lists_are_read_on_the_callers_thread_with_the_same_answer(store, monkeypatch):
    for i in range(3):
        await store.create(f"/few/{i}", b"v%d" % i)
    for i in range(sqlite_mod.SMALL_LIST + 5):
        await store.create(f"/many/{i:03d}", b"x")
    hops: list[str] = []

    class Counting(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            hops.append("reader thread")
            return super().submit(fn, *args, **kwargs)
    counting = Counting(max_workers=1)
    monkeypatch.setattr(store, "_read_exec", counting)
    first = await store.list("/few/")           # size not known yet: the reader thread
    second = await store.list("/few/")          # known small: at once
    assert hops == ["reader thread"]
    assert second == first and [kv.value for kv in second[0]] == [b"v0", b"v1", b"v2"]
    assert second[1] == await store.current_revision()
    await store.list("/many/")
    await store.list("/many/")                  # known big: always the reader thread
    assert hops == ["reader thread"] * 3
    await store.create("/few/3", b"v3")
    rows, rev = await store.list("/few/")
    assert [kv.key for kv in rows] == ["/few/0", "/few/1", "/few/2", "/few/3"] and rev == await store.current_revision()
    counting.shutdown()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs (root only)")
async def test_a_full_disk_fails_the_whole_transaction_and_writes_resume_once_there_is_room(tmp_path):
    """A real disk-full (a 1 MiB tmpfs): every write of the transaction that hit it fails with the
    error, none of them is half-applied or seen by watchers, and once the filesystem has room again
    the same store writes on, its revisions continuing without a gap."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=True)
    try:
        s = SQLiteStore(str(mnt / "db.sqlite"))
        try:
            first = await s.create("/f/first", b"x")
            seen: list[int] = []

            async def watch() -> None:
                async for ev in s.watch("/f/", first):
                    seen.append(ev.revision)
            watcher = asyncio.create_task(watch())
            big = os.urandom(16 * 1024)
            results: list[object] = []
            for round_ in range(100):       # rounds of 8 writes of 16 KiB (stored twice: kv and log)
                results += await asyncio.gather(*(s.create(f"/f/{round_}-{i}", big) for i in range(8)),
                                                return_exceptions=True)
                if any(isinstance(r, BaseException) for r in results):
                    break
            failed = [r for r in results if isinstance(r, BaseException)]
            assert failed, "the tmpfs never filled up"
            assert all(isinstance(e, StoreFailure) and "full" in str(e).lower() for e in failed), failed
            ok = [r for r in results if isinstance(r, int)]
            assert ok, "the first transaction already failed"
            # Every acknowledged write is there; no failed one is.
            assert await s.count("/f/") == 1 + len(ok)
            assert await s.current_revision() == max(ok)
            subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
            after = await s.create("/f/after", b"y")
            assert after == max(ok) + 1
            assert (await s.get("/f/after")).value == b"y"
            for _ in range(100):
                if seen and seen[-1] == after:
                    break
                await asyncio.sleep(0.01)
            assert seen == sorted(ok) + [after]     # watchers saw exactly the committed writes, in order
            watcher.cancel()
        finally:
            await s.close()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


async def test_statements_run_on_the_loop_thread_commits_and_compaction_on_the_committer(store):
    """Where each statement runs (the module docstring's reason): a write's statements on the event
    loop's thread (no GIL hand-off per statement), its COMMIT (the fsync) on the committer thread,
    and compaction's long DELETE whole on the committer, never stalling the loop."""
    ran: list[tuple[str, str]] = []
    store._writer_conn.set_trace_callback(lambda sql: ran.append((threading.current_thread().name, sql.split()[0])))
    loop_thread = threading.current_thread().name
    revs = await asyncio.gather(*(store.create(f"/t/{i}", b"v") for i in range(20)))
    assert revs == list(range(revs[0], revs[0] + 20))
    await store.compact(5)
    store._writer_conn.set_trace_callback(None)
    where: dict[str, set[str]] = {}
    for thread, verb in ran:
        where.setdefault(verb, set()).add(thread)
    assert where["INSERT"] == {loop_thread}
    assert where["COMMIT"] == {"orlop-store-commit"}
    assert "orlop-store-commit" in where["DELETE"] and loop_thread not in where["DELETE"]
    # The 20 creates of one loop turn went in one transaction: one COMMIT for them, one for compaction.
    assert [verb for _, verb in ran].count("COMMIT") == 2


async def test_a_second_process_cannot_open_a_store_in_use(tmp_path):
    """One process at a time: a second one is refused, naming the first one's pid, until it closes."""
    db = str(tmp_path / "db.sqlite")
    s = SQLiteStore(db)
    await s.create("/k/a", b"1")
    code = textwrap.dedent(f"""
        import sys
        from orlop.store import StoreInUse
        from orlop.store.sqlite import SQLiteStore
        try:
            SQLiteStore({db!r})
        except StoreInUse as e:
            print(e.pid, e)
            sys.exit(3)
    """)
    cp = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 3, cp.stderr
    assert cp.stdout.split()[0] == str(os.getpid()) and "in use by another process" in cp.stdout
    with pytest.raises(StoreInUse):
        SQLiteStore(db)         # (another open of it in this process is refused too)
    await s.close()
    cp = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    again = SQLiteStore(db)
    assert (await again.get("/k/a")).value == b"1"
    await again.close()


async def test_orlop_up_on_a_data_directory_in_use_says_so(tmp_path):
    data = tmp_path / "data"
    s = SQLiteStore(str(data / "store.db"))
    try:
        cp = subprocess.run([sys.executable, "-m", "orlop.cli", "up", "--data-dir", str(data), "--port", "0",
                             "--runtime", "none"], capture_output=True, text=True, timeout=120)
    finally:
        await s.close()
    assert cp.returncode == 1
    assert f"the data directory {data} is in use by another orlop (pid {os.getpid()})" in cp.stderr
    assert "Traceback" not in cp.stderr


async def test_a_refused_write_in_a_transaction_changes_nothing_and_its_neighbours_commit(store):
    """One transaction (the writes of one loop turn) with a create of a key that exists and an
    update at a stale revision between good writes: those two fail alone, leave no trace in the
    key or the history, and the others get consecutive revisions."""
    r0 = await store.create("/n/x", b"x0")
    results = await asyncio.gather(store.create("/n/a", b"a"), store.create("/n/x", b"dup"),
                                   store.update("/n/x", b"stale", r0 - 1 if r0 > 1 else 99),
                                   store.create("/n/b", b"b"), return_exceptions=True)
    assert isinstance(results[1], KeyExists) and isinstance(results[2], RevisionMismatch)
    assert results[0] == r0 + 1 and results[3] == r0 + 2
    kv = await store.get("/n/x")
    assert kv.value == b"x0" and kv.mod_revision == r0
    events = []
    async for ev in store.watch("/n/", r0 - 1):
        events.append((ev.key, ev.revision, ev.value))
        if len(events) == 3:
            break
    assert events == [("/n/x", r0, b"x0"), ("/n/a", r0 + 1, b"a"), ("/n/b", r0 + 2, b"b")]
