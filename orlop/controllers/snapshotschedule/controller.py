"""The SnapshotSchedule controller: takes and prunes scheduled VolumeSnapshots.

Why this exists: decide.py says what a schedule needs at a given moment; this module
watches schedules, claims and snapshots, runs the plan for a schedule whenever one of them
changes or its next run comes due (a timer per schedule, re-armed from each plan), and
writes the result: new snapshots, deleted old ones, the status, and CronJob-style events
(SuccessfulCreate / SuccessfulDelete / FailedCreate).  Nothing is kept in memory that the
API does not also hold, so a restarted controller continues where the last one stopped.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from typing import Any

from ...client import LocalClient
from ...errors import StatusError
from ...registry.selectors import label_selector_from_dict
from ..base import Informers, Key, WorkQueue, key_of, without_managed_fields
from . import decide

log = logging.getLogger(__name__)

RESYNC = 30.0
PRUNED_MEMORY = 60.0    # seconds a pruned snapshot is ignored while its deletion completes


class SnapshotScheduleController:
    def __init__(self, client: LocalClient, informers: Informers):
        self.client = client
        self.schedules = informers.get(decide.API_VERSION, "SnapshotSchedule")
        self.claims = informers.get("v1", "PersistentVolumeClaim")
        self.snapshots = informers.get(decide.SNAPSHOT_API, "VolumeSnapshot")
        self.queue = WorkQueue()
        self.timers: dict[Key, asyncio.TimerHandle] = {}
        self.pruned: dict[str, float] = {}      # uid -> when this controller deleted it
        self.schedules.on_change(self._on_schedule)
        self.claims.on_change(self._on_claim)
        self.snapshots.on_change(self._on_snapshot)

    def _on_schedule(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        k = key_of(obj)
        if typ == "DELETED":
            timer = self.timers.pop(k, None)
            if timer is not None:
                timer.cancel()
            return
        self.queue.add(k)

    def _on_claim(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        ns = obj["metadata"].get("namespace", "")
        for k in self.schedules.cache:
            if k[0] == ns:
                self.queue.add(k)

    def _on_snapshot(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        for ref in obj["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "SnapshotSchedule":
                self.queue.add((obj["metadata"].get("namespace", ""), ref.get("name", "")))

    async def run(self) -> None:
        for inf in (self.schedules, self.claims, self.snapshots):
            await inf.synced.wait()
        await asyncio.gather(self._worker(), self._resync())

    async def _resync(self) -> None:
        while True:
            for k in list(self.schedules.cache):
                self.queue.add(k)
            await asyncio.sleep(RESYNC)

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                again = await self.sync(key)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one bad schedule must not stop the others
                log.exception("snapshot schedule %s/%s: sync failed", *key)
                again = True
            if again:
                self.queue.retry(key)
            else:
                self.queue.forget(key)

    def _arm(self, key: Key, delay: float) -> None:
        timer = self.timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        self.timers[key] = asyncio.get_running_loop().call_later(max(0.05, delay), self.queue.add, key)

    async def sync(self, key: Key) -> bool:
        """Run one schedule's plan; True when it should be looked at again soon (a write failed)."""
        schedule = self.schedules.cache.get(key)
        if schedule is None:
            return False
        ns = key[0]
        try:
            selector = (label_selector_from_dict(schedule["spec"]["claimSelector"])
                        if (schedule.get("spec") or {}).get("claimSelector") is not None else None)
        except StatusError as e:
            await self.client.event(schedule, "Warning", "InvalidSelector", e.message, decide.COMPONENT)
            return False
        claims = [c for (cns, _), c in self.claims.cache.items() if cns == ns]
        horizon = time.monotonic() - PRUNED_MEMORY
        self.pruned = {uid: t for uid, t in self.pruned.items() if t > horizon}
        snapshots = [s for (sns, _), s in self.snapshots.cache.items()
                     if sns == ns and s["metadata"].get("uid") not in self.pruned]
        now = datetime.datetime.now(datetime.UTC)
        p = decide.plan(schedule, claims, snapshots, now, selector)
        failed = False
        for snap in p.create:
            name = snap["metadata"]["name"]
            try:
                created = await self.client.create(snap)
            except StatusError as e:
                if e.code == 409:
                    continue            # taken already (a repeat within the same second)
                failed = True
                await self.client.event(schedule, "Warning", "FailedCreate",
                                        f"Error creating VolumeSnapshot: {e.message}", decide.COMPONENT)
                continue
            self.snapshots.cache[key_of(created)] = without_managed_fields(created)
            await self.client.event(schedule, "Normal", "SuccessfulCreate", f"Created VolumeSnapshot {name}",
                                    decide.COMPONENT)
        for snap in p.delete:
            meta = snap["metadata"]
            try:
                await self.client.delete(decide.SNAPSHOT_API, "VolumeSnapshot", ns, meta["name"], uid=meta.get("uid"))
            except StatusError as e:
                if e.code != 409:
                    failed = True
                continue
            self.pruned[meta.get("uid", "")] = time.monotonic()   # until the watch says so: not pruned twice
            await self.client.event(schedule, "Normal", "SuccessfulDelete", f"Deleted VolumeSnapshot {meta['name']}",
                                    decide.COMPONENT)
        if p.status is not None and not failed:
            try:
                updated = await self.client.update(p.status, subresource="status")
                self.schedules.cache[key] = without_managed_fields(updated)
            except StatusError as e:
                if e.code not in (404, 409):
                    raise
                failed = True
        if p.next_in is not None:
            self._arm(key, p.next_in)
        return failed
