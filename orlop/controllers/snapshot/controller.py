"""The snapshot controller: runs decide.py's decisions and the drivers' snapshot operations.

Why this exists: ``decide`` says what should happen to a VolumeSnapshot or a
VolumeSnapshotContent; this module makes it happen.  It keeps informer caches of
snapshots, contents, classes, claims and volumes, syncs snapshots and contents from two
de-duplicating queues, applies each decision's writes in order (stopping at the first
conflict: the next sync resumes from what the API then says), records the events, and
runs the driver calls (take a snapshot, delete one) as tasks, one at a time per content,
retried with backoff.

Taking a snapshot, crash-safely (the sidecar's createSnapshotWrapper): the content is
marked ``volumesnapshot-being-created`` first, then the driver is called with the name
``snapshot-<VolumeSnapshot uid>`` (a repeat returns the same snapshot), then the handle,
size and time go into the content's status and the mark is removed.  A content deleted
while marked waits for the snapshot to finish, so its handle is known and the physical
snapshot is deleted with it: nothing is left behind whatever the point of a crash.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from typing import Any

from ...client import LocalClient
from ...drivers import DriverError, Retryable, driver_named
from ...errors import StatusError
from ...gofmt import go_quote
from ..base import Informer, Informers, Key, Operations, WorkQueue, key_of, without_managed_fields
from . import decide

log = logging.getLogger(__name__)

RESYNC = 30.0
OP_BACKOFF_MAX = 60.0
V1 = decide.API_VERSION


def now_rfc3339() -> str:
    return decide.rfc3339(datetime.datetime.now(datetime.UTC))


class SnapshotController:
    def __init__(self, client: LocalClient, informers: Informers):
        self.client = client
        self.snapshots = informers.get(V1, "VolumeSnapshot")
        self.contents = informers.get(V1, "VolumeSnapshotContent")
        self.classes = informers.get(V1, "VolumeSnapshotClass")
        self.claims = informers.get("v1", "PersistentVolumeClaim")
        self.volumes = informers.get("v1", "PersistentVolume")
        self.snapshot_queue = WorkQueue(max_delay=OP_BACKOFF_MAX)
        self.content_queue = WorkQueue(max_delay=OP_BACKOFF_MAX)
        self.ops = Operations(lambda name, _failed: self.content_queue.add(name), OP_BACKOFF_MAX,
                              "snapshot operation on")
        self.snapshots.on_change(self._on_snapshot)
        self.contents.on_change(self._on_content)
        self.classes.on_change(self._on_class)
        self.claims.on_change(self._on_claim)

    def world(self) -> decide.World:
        return decide.World(self.snapshots.cache, self.contents.cache, self.classes.cache, self.claims.cache,
                            self.volumes.cache)

    # ----------------------------------------------------------------- events
    def _on_snapshot(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if typ != "DELETED":
            self.snapshot_queue.add(key_of(obj))
        content = decide._content_of(obj, self.world())
        if content is not None:
            self.content_queue.add(content["metadata"]["name"])
        # Another snapshot of the same claim finishing (or going) may release the claim.
        claim = (obj.get("spec") or {}).get("source", {}).get("persistentVolumeClaimName")
        if claim and (typ == "DELETED" or decide.is_ready(obj)):
            for k in decide.snapshots_using_claim(self.world(), obj["metadata"].get("namespace", ""), claim):
                if k != key_of(obj):
                    self.snapshot_queue.add(k)

    def _on_content(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if typ != "DELETED":
            self.content_queue.add(obj["metadata"]["name"])
        ref = (obj.get("spec") or {}).get("volumeSnapshotRef") or {}
        if ref.get("name"):
            self.snapshot_queue.add((ref.get("namespace") or "", ref["name"]))
        for k, vs in self.snapshots.cache.items():
            if (vs.get("spec") or {}).get("source", {}).get("volumeSnapshotContentName") == obj["metadata"]["name"]:
                self.snapshot_queue.add(k)

    def _on_class(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        for k, vs in self.snapshots.cache.items():
            if not decide.is_ready(vs):
                self.snapshot_queue.add(k)

    def _on_claim(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        ns = obj["metadata"].get("namespace", "")
        w = self.world()
        for k in decide.snapshots_using_claim(w, ns, obj["metadata"]["name"]):
            self.snapshot_queue.add(k)
        for k in decide.snapshots_restored_by(w, obj):
            self.snapshot_queue.add(k)

    # -------------------------------------------------------------------- run
    async def run(self) -> None:
        for inf in (self.snapshots, self.contents, self.classes, self.claims, self.volumes):
            await inf.synced.wait()
        await asyncio.gather(self._worker(self.snapshot_queue, self._sync_snapshot),
                             self._worker(self.content_queue, self._sync_content), self._resync())

    async def _resync(self) -> None:
        while True:
            for k in list(self.snapshots.cache):
                self.snapshot_queue.add(k)
            for k in list(self.contents.cache):
                self.content_queue.add(k[1])
            await asyncio.sleep(RESYNC)

    async def _worker(self, queue: WorkQueue, sync: Any) -> None:
        while True:
            key = await queue.get()
            try:
                again = await sync(key)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one bad object must not stop the controller
                log.exception("snapshot controller: sync %s failed", key)
                again = True
            if again:
                queue.retry(key)
            else:
                queue.forget(key)

    # ------------------------------------------------------------------ syncs
    async def _sync_snapshot(self, key: Key) -> bool:
        vs = self.snapshots.cache.get(key)
        if vs is None:
            return False
        d = decide.sync_snapshot(vs, self.world(), now_rfc3339())
        return await self._apply(d)

    @staticmethod
    def _driver(content: dict[str, Any]) -> Any:
        """The registered driver a content names, if it takes snapshots."""
        driver = driver_named(str((content.get("spec") or {}).get("driver") or ""))
        return driver if driver is not None and hasattr(driver, "snapshot") else None

    async def _sync_content(self, name: str) -> bool:
        content = self.contents.cache.get(("", name))
        if content is None:
            return False
        d = decide.sync_content(content, self.world(), self._driver(content) is not None)
        if d.action == decide.SNAPSHOT:
            self._start_op(name, self._take_snapshot(name))
        elif d.action == decide.DELETE_SNAPSHOT:
            self._start_op(name, self._delete_snapshot(name))
        return await self._apply(d)

    async def _apply(self, d: decide.Decision) -> bool:
        """Writes in order, then events; True when the key should be looked at again."""
        for w in d.writes:
            try:
                out = await self._write(w)
            except StatusError as e:
                if e.code == 409 and w.verb == decide.CREATE:
                    return True         # made before (a repeat): the next sync binds it
                if e.code not in (404, 409):
                    log.warning("snapshot controller: %s %s %s: %s", w.verb, w.obj["kind"],
                                w.obj["metadata"]["name"], e)
                return True             # the cache was behind: look again with the fresh object
            if out is not None:
                self._remember(out)
        for ev in d.events:
            try:
                await self.client.event(ev.obj, ev.type, ev.reason, ev.message, ev.component)
            except StatusError as e:
                log.info("event %s not recorded: %s", ev.reason, e)
        return d.retry

    async def _write(self, w: decide.Write) -> dict[str, Any] | None:
        obj = w.obj
        if w.verb == decide.CREATE:
            return await self.client.create(obj)
        if w.verb == decide.UPDATE:
            return await self.client.update(obj)
        if w.verb == decide.STATUS:
            return await self.client.update(obj, subresource="status")
        meta = obj["metadata"]
        await self.client.delete(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"],
                                 uid=meta.get("uid"))
        return None

    def _informer(self, kind: str) -> Informer | None:
        return {"VolumeSnapshot": self.snapshots, "VolumeSnapshotContent": self.contents,
                "PersistentVolumeClaim": self.claims}.get(kind)

    def _remember(self, obj: dict[str, Any]) -> None:
        """Write-through: a write's result replaces the cached object unless the cache is newer."""
        inf = self._informer(obj.get("kind", ""))
        if inf is None:
            return
        k = key_of(obj)
        if obj["metadata"].get("deletionTimestamp") and not obj["metadata"].get("finalizers"):
            inf.cache.pop(k, None)      # that write removed it: never cache what is gone
            return
        cur = inf.cache.get(k)
        if cur is None or int(cur["metadata"]["resourceVersion"]) < int(obj["metadata"]["resourceVersion"]):
            inf.cache[k] = without_managed_fields(obj)

    # ------------------------------------------------------------ operations
    def _start_op(self, name: str, coro: Any) -> None:
        """One driver operation at a time per content; failures retry with backoff, then the content is synced."""
        self.ops.start(name, coro)

    async def _fresh_content(self, name: str) -> dict[str, Any] | None:
        content = await self.client.get(V1, "VolumeSnapshotContent", None, name)
        if content is not None:
            self._remember(content)
        return content

    async def _take_snapshot(self, name: str) -> None:
        """createSnapshotWrapper: mark, call the driver, record the result, unmark."""
        content = await self._fresh_content(name)
        if content is None or (content.get("status") or {}).get("snapshotHandle"):
            return
        driver = self._driver(content)
        if driver is None:
            return
        component = decide.sidecar(driver.name)
        if decide.ANN_BEING_CREATED not in (content["metadata"].get("annotations") or {}):
            content = await self.client.update(decide.with_being_created(content))
            self._remember(content)
        handle = str((content.get("spec") or {}).get("source", {}).get("volumeHandle", ""))
        names = {driver.name, str(getattr(driver, "csi_driver", "") or ""), str(content["spec"].get("driver", ""))}
        pv = decide.find_volume(self.world(), handle, names)
        try:
            if pv is None:
                # Final: the driver was never asked, so there is nothing to find later.
                raise DriverError("VolumeNotFound", f"no PersistentVolume has the volume handle {handle}")
            snap_handle, size, created = await driver.snapshot(pv, decide.snapshot_name_for(content))
        except DriverError as e:
            message = (f"Failed to create snapshot: failed to take snapshot of the volume {handle}: "
                       f"{go_quote(str(e))}")
            await self.client.event(content, "Warning", "SnapshotCreationFailed", message, component)
            fresh = await self._fresh_content(name)
            if fresh is not None:
                fresh = await self.client.update(decide.content_after_error(fresh, message, now_rfc3339()),
                                                 subresource="status")
                if not isinstance(e, Retryable):
                    # A final error: nothing was made, so nothing is left to find on a delete.
                    fresh = await self.client.update(decide.without_being_created(fresh))
                self._remember(fresh)
            raise
        fresh = await self._fresh_content(name)
        if fresh is None:
            return
        done = await self.client.update(decide.content_after_snapshot(fresh, snap_handle, size,
                                                                      decide.creation_ns(created)),
                                        subresource="status")
        done = await self.client.update(decide.without_being_created(done))
        self._remember(done)

    async def _delete_snapshot(self, name: str) -> None:
        """deleteCSISnapshot: the physical snapshot, then the content's finalizer."""
        content = await self._fresh_content(name)
        if content is None or not content["metadata"].get("deletionTimestamp"):
            return
        handle = (content.get("status") or {}).get("snapshotHandle")
        driver = self._driver(content)
        if handle and driver is not None:
            try:
                await driver.delete_snapshot(handle)
            except DriverError:
                await self.client.event(content, "Warning", "SnapshotDeleteError", "Failed to delete snapshot",
                                        decide.sidecar(driver.name))
                raise
        content = await self._fresh_content(name)
        if content is not None and decide.FIN_CONTENT in (content["metadata"].get("finalizers") or []):
            self._remember(await self.client.update(decide.without_content_finalizer(content)))
