"""What a SnapshotSchedule needs now: pure decisions (objects and the time in, writes out).

Why this exists: scheduled backups (seed 000's 定时备份) must be level-triggered and
restart-safe: nothing is remembered between runs but what the API holds.  Each decision
looks at the schedule, the claims it selects and the VolumeSnapshots it owns, and derives
everything from them: a claim is due when its newest snapshot (or the newest the status
recorded, should snapshots have been deleted by hand) is at least ``interval`` old; a due
claim gets ``<schedule>-<claim>-<UTC YYYYMMDDhhmmss>`` (labelled
``orlop.io/snapshot-schedule=<schedule>``, owned by the schedule); the oldest snapshots of
a claim beyond ``keep`` are deleted; the status says when it last ran, when it runs next and
the newest snapshot of each claim.  Run it twice, or after a crash, and it makes nothing
twice: a name repeats within one second at most, and the API refuses the duplicate.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass, field
from typing import Any

from ...goduration import parse_duration
from ...jsonobj import clone

LABEL = "orlop.io/snapshot-schedule"
API_VERSION = "orlop.io/v1alpha1"
SNAPSHOT_API = "snapshot.storage.k8s.io/v1"
DEFAULT_INTERVAL = "24h"
DEFAULT_KEEP = 7
COMPONENT = "snapshot-schedule-controller"
NAME_MAX = 253

Obj = dict[str, Any]


@dataclass
class Plan:
    create: list[Obj] = field(default_factory=list)     # VolumeSnapshots to create
    delete: list[Obj] = field(default_factory=list)     # VolumeSnapshots to delete (oldest beyond keep)
    status: Obj | None = None                           # the schedule with its new status, when it changed
    next_in: float | None = None                        # seconds until the next claim is due
    skipped: list[str] = field(default_factory=list)    # selected claims not snapshotted now (not bound)


def _meta(o: Obj) -> Obj:
    return o.get("metadata") or {}


def _spec(o: Obj) -> Obj:
    return o.get("spec") or {}


def rfc3339(t: datetime.datetime) -> str:
    return t.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=datetime.UTC)


def interval_of(schedule: Obj) -> datetime.timedelta:
    try:
        ns = parse_duration(str(_spec(schedule).get("interval") or DEFAULT_INTERVAL))
    except ValueError:
        ns = parse_duration(DEFAULT_INTERVAL)
    return datetime.timedelta(microseconds=max(ns, 1_000_000_000) // 1000)


def keep_of(schedule: Obj) -> int:
    keep = _spec(schedule).get("keep")
    return keep if isinstance(keep, int) and not isinstance(keep, bool) and keep >= 1 else DEFAULT_KEEP


def label_value(schedule_name: str) -> str:
    """The label value naming the schedule (label values hold 63 characters at most)."""
    if len(schedule_name) <= 63:
        return schedule_name
    digest = hashlib.sha256(schedule_name.encode()).hexdigest()[:8]
    return f"{schedule_name[:54].rstrip('-.')}-{digest}"


def snapshot_name(schedule_name: str, claim: str, t: datetime.datetime) -> str:
    stamp = t.astimezone(datetime.UTC).strftime("%Y%m%d%H%M%S")
    prefix = f"{schedule_name}-{claim}"
    if len(prefix) + 1 + len(stamp) > NAME_MAX:
        digest = hashlib.sha256(prefix.encode()).hexdigest()[:8]
        prefix = f"{prefix[:NAME_MAX - len(stamp) - 10].rstrip('-.')}-{digest}"
    return f"{prefix}-{stamp}"


def owned(schedule: Obj, snapshots: list[Obj]) -> list[Obj]:
    """The schedule's snapshots: those it owns (by uid, so a same-named predecessor's are not)."""
    uid = _meta(schedule).get("uid")
    out = []
    for s in snapshots:
        refs = _meta(s).get("ownerReferences") or []
        if any(r.get("uid") == uid and r.get("kind") == "SnapshotSchedule" for r in refs):
            out.append(s)
    return out


def selected_claims(schedule: Obj, claims: list[Obj], selector: Any | None) -> list[Obj]:
    """Claims named in claimNames or matched by claimSelector (``selector``: a parsed LabelSelector)."""
    names = set(_spec(schedule).get("claimNames") or [])
    out = []
    for c in claims:
        m = _meta(c)
        if m.get("deletionTimestamp"):
            continue
        if m["name"] in names or (selector is not None and selector.matches(m.get("labels") or {})):
            out.append(c)
    return sorted(out, key=lambda c: _meta(c)["name"])


def _created(s: Obj) -> datetime.datetime:
    return parse_time(_meta(s).get("creationTimestamp")) or datetime.datetime.min.replace(tzinfo=datetime.UTC)


def new_snapshot(schedule: Obj, claim_name: str, now: datetime.datetime) -> Obj:
    meta = _meta(schedule)
    spec: Obj = {"source": {"persistentVolumeClaimName": claim_name}}
    if _spec(schedule).get("snapshotClassName"):
        spec["volumeSnapshotClassName"] = _spec(schedule)["snapshotClassName"]
    return {
        "apiVersion": SNAPSHOT_API, "kind": "VolumeSnapshot",
        "metadata": {
            "name": snapshot_name(meta["name"], claim_name, now),
            "namespace": meta.get("namespace", ""),
            "labels": {LABEL: label_value(meta["name"])},
            "ownerReferences": [{"apiVersion": API_VERSION, "kind": "SnapshotSchedule", "name": meta["name"],
                                 "uid": meta.get("uid", ""), "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": spec,
    }


def plan(schedule: Obj, claims: list[Obj], snapshots: list[Obj], now: datetime.datetime,
         selector: Any | None = None) -> Plan:
    """What is due at ``now``: snapshots to take, snapshots to prune, the status to record."""
    p = Plan()
    if _meta(schedule).get("deletionTimestamp"):
        return p
    interval, keep = interval_of(schedule), keep_of(schedule)
    mine = [s for s in owned(schedule, snapshots) if not _meta(s).get("deletionTimestamp")]
    recorded = {c.get("name"): c for c in (schedule.get("status") or {}).get("claims") or []
                if isinstance(c, dict)}
    claim_status = []
    next_due: datetime.datetime | None = None
    last_run = parse_time((schedule.get("status") or {}).get("lastRun"))
    for claim in selected_claims(schedule, claims, selector):
        name = _meta(claim)["name"]
        taken = sorted((s for s in mine if _spec(s).get("source", {}).get("persistentVolumeClaimName") == name),
                       key=lambda s: (_created(s), _meta(s)["name"]))
        latest = taken[-1] if taken else None
        latest_at = _created(latest) if latest is not None else None
        rec = recorded.get(name) or {}
        rec_at = parse_time(rec.get("lastSnapshotTime"))
        if rec_at is not None and (latest_at is None or rec_at > latest_at):
            latest_at = rec_at
        bound = (claim.get("status") or {}).get("phase") == "Bound"
        if bound and (latest_at is None or now >= latest_at + interval):
            snap = new_snapshot(schedule, name, now)
            if all(_meta(s)["name"] != snap["metadata"]["name"] for s in taken):
                p.create.append(snap)
                taken.append(snap)
            latest, latest_at = snap, now
        elif not bound:
            p.skipped.append(name)
        excess = len(taken) - keep
        if excess > 0:
            p.delete.extend(taken[:excess])
        entry: Obj = {"name": name, "snapshots": min(len(taken), keep)}
        if latest is not None:
            entry["lastSnapshot"] = _meta(latest)["name"]
        elif rec.get("lastSnapshot"):
            entry["lastSnapshot"] = rec["lastSnapshot"]
        if latest_at is not None:
            entry["lastSnapshotTime"] = rfc3339(latest_at)
            if last_run is None or latest_at > last_run:
                last_run = latest_at
            due = latest_at + interval
        else:
            due = now + interval if not bound else now
        if bound and (next_due is None or due < next_due):
            next_due = due
        claim_status.append(entry)
    status: Obj = {"claims": claim_status}
    if last_run is not None:
        status["lastRun"] = rfc3339(last_run)
    if next_due is not None:
        status["nextRun"] = rfc3339(next_due)
        p.next_in = max(0.0, (next_due - now).total_seconds())
    if status != (schedule.get("status") or {}):
        new = clone(schedule)
        new["status"] = status
        p.status = new
    return p
