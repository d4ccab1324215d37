"""SnapshotSchedule plans as tables: schedule, claims, owned snapshots and the time in; what to do out."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from orlop.controllers.snapshotschedule import decide as d
from orlop.goduration import format_duration, parse_duration
from orlop.registry.selectors import label_selector_from_dict

T0 = datetime.datetime(2024, 5, 1, 10, 0, 0, tzinfo=datetime.UTC)
SUID = "sched-uid"


def at(**kw: float) -> datetime.datetime:
    return T0 + datetime.timedelta(**kw)


def ts(t: datetime.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def schedule(interval: str | None = "1h", keep: int | None = 2, names: list[str] | None = None,
             selector: dict[str, Any] | None = None, status: dict[str, Any] | None = None,
             cls: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if names is not None:
        spec["claimNames"] = names
    if selector is not None:
        spec["claimSelector"] = selector
    if interval is not None:
        spec["interval"] = interval
    if keep is not None:
        spec["keep"] = keep
    if cls:
        spec["snapshotClassName"] = cls
    out = {"apiVersion": d.API_VERSION, "kind": "SnapshotSchedule",
           "metadata": {"name": "nightly", "namespace": "default", "uid": SUID}, "spec": spec}
    if status is not None:
        out["status"] = status
    return out


def claim(name: str, phase: str = "Bound", labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": "default", "labels": labels or {}}, "status": {"phase": phase}}


def snap(claim_name: str, t: datetime.datetime, owner: str = SUID, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": d.snapshot_name("nightly", claim_name, t), "namespace": "default",
                            "creationTimestamp": ts(t), "uid": f"u-{claim_name}-{t.timestamp()}",
                            "ownerReferences": [{"kind": "SnapshotSchedule", "name": "nightly", "uid": owner}]}
    if deleting:
        meta["deletionTimestamp"] = ts(t)
    return {"apiVersion": d.SNAPSHOT_API, "kind": "VolumeSnapshot", "metadata": meta,
            "spec": {"source": {"persistentVolumeClaimName": claim_name}}}


def names(objs: list[dict[str, Any]]) -> list[str]:
    return [o["metadata"]["name"] for o in objs]


# (case, schedule, claims, snapshots, now, created names, deleted names, next_in seconds)
CASES: list[tuple[str, dict[str, Any], list[Any], list[Any], datetime.datetime, list[str], list[str], float | None]] = [
    ("first run snapshots every named claim", schedule(names=["a", "b"]), [claim("a"), claim("b")], [], T0,
     ["nightly-a-20240501100000", "nightly-b-20240501100000"], [], 3600.0),
    ("not due yet", schedule(names=["a"]), [claim("a")], [snap("a", at(minutes=-30))], T0, [], [], 1800.0),
    ("due exactly at the interval", schedule(names=["a"]), [claim("a")], [snap("a", at(hours=-1))], T0,
     ["nightly-a-20240501100000"], [], 3600.0),
    ("prunes the oldest beyond keep", schedule(names=["a"], keep=2), [claim("a")],
     [snap("a", at(hours=-3)), snap("a", at(hours=-2)), snap("a", at(hours=-1))], T0,
     ["nightly-a-20240501100000"], ["nightly-a-20240501070000", "nightly-a-20240501080000"], 3600.0),
    ("prunes without taking when not due", schedule(names=["a"], keep=1), [claim("a")],
     [snap("a", at(minutes=-50)), snap("a", at(minutes=-20))], T0, [], ["nightly-a-20240501091000"], 2400.0),
    ("snapshots being deleted do not count", schedule(names=["a"], keep=1), [claim("a")],
     [snap("a", at(hours=-5), deleting=True), snap("a", at(minutes=-10))], T0, [], [], 3000.0),
    ("another schedule's snapshots are not ours", schedule(names=["a"]), [claim("a")],
     [snap("a", at(minutes=-10), owner="old-uid")], T0, ["nightly-a-20240501100000"], [], 3600.0),
    ("a claim that does not exist is skipped", schedule(names=["a", "ghost"]), [claim("a")], [], T0,
     ["nightly-a-20240501100000"], [], 3600.0),
    ("an unbound claim waits", schedule(names=["a"]), [claim("a", phase="Pending")], [], T0, [], [], None),
    ("selector picks labelled claims", schedule(selector={"matchLabels": {"backup": "yes"}}),
     [claim("a", labels={"backup": "yes"}), claim("b")], [], T0, ["nightly-a-20240501100000"], [], 3600.0),
    ("names and selector together", schedule(names=["b"], selector={"matchLabels": {"backup": "yes"}}),
     [claim("a", labels={"backup": "yes"}), claim("b"), claim("c")], [], T0,
     ["nightly-a-20240501100000", "nightly-b-20240501100000"], [], 3600.0),
    ("default interval is a day", schedule(names=["a"], interval=None), [claim("a")],
     [snap("a", at(hours=-23))], T0, [], [], 3600.0),
    ("default keep is 7", schedule(names=["a"], keep=None, interval="1m"), [claim("a")],
     [snap("a", at(minutes=-m)) for m in range(8, 0, -1)], T0, ["nightly-a-20240501100000"],
     ["nightly-a-20240501095200", "nightly-a-20240501095300"], 60.0),
    ("snapshots deleted by hand: the status still says when", schedule(
        names=["a"], status={"claims": [{"name": "a", "lastSnapshot": "x", "lastSnapshotTime": ts(at(minutes=-5))}]}),
     [claim("a")], [], T0, [], [], 3300.0),
    ("restart-safe: a repeat in the same second creates nothing new", schedule(names=["a"]), [claim("a")],
     [snap("a", T0)], T0 + datetime.timedelta(milliseconds=400), [], [], 3599.6),
    ("two-second interval", schedule(names=["a"], interval="2s", keep=2), [claim("a")],
     [snap("a", at(seconds=-4)), snap("a", at(seconds=-2))], T0, ["nightly-a-20240501100000"],
     ["nightly-a-20240501095956"], 2.0),
]


@pytest.mark.parametrize(("case", "sched", "claims", "snaps", "now", "created", "deleted", "next_in"), CASES,
                         ids=[c[0] for c in CASES])
def test_plan(case: str, sched: dict[str, Any], claims: list[Any], snaps: list[Any], now: datetime.datetime,
              created: list[str], deleted: list[str], next_in: float | None) -> None:
    sel = sched["spec"].get("claimSelector")
    p = d.plan(sched, claims, snaps, now, label_selector_from_dict(sel) if sel is not None else None)
    assert names(p.create) == created
    assert names(p.delete) == deleted
    if next_in is None:
        assert p.next_in is None
    else:
        assert p.next_in == pytest.approx(next_in)


def test_snapshot_object_and_status() -> None:
    sched = schedule(names=["a"], cls="fast-snaps")
    p = d.plan(sched, [claim("a")], [snap("a", at(hours=-2)), snap("a", at(hours=-1.5))], T0)
    assert p.create == [{
        "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
        "metadata": {"name": "nightly-a-20240501100000", "namespace": "default",
                     "labels": {"orlop.io/snapshot-schedule": "nightly"},
                     "ownerReferences": [{"apiVersion": "orlop.io/v1alpha1", "kind": "SnapshotSchedule",
                                          "name": "nightly", "uid": SUID, "controller": True,
                                          "blockOwnerDeletion": True}]},
        "spec": {"source": {"persistentVolumeClaimName": "a"}, "volumeSnapshotClassName": "fast-snaps"}}]
    assert names(p.delete) == ["nightly-a-20240501080000"]
    assert p.status is not None
    assert p.status["status"] == {"lastRun": "2024-05-01T10:00:00Z", "nextRun": "2024-05-01T11:00:00Z",
                                  "claims": [{"name": "a", "snapshots": 2, "lastSnapshot": "nightly-a-20240501100000",
                                              "lastSnapshotTime": "2024-05-01T10:00:00Z"}]}
    # Applying the plan's status: the next plan at the same moment has nothing to do.
    again = d.plan(p.status, [claim("a")], [snap("a", at(hours=-1.5)), snap("a", T0)], T0)
    assert (again.create, again.delete, again.status) == ([], [], None)


def test_long_names_stay_valid() -> None:
    long = "x" * 200
    name = d.snapshot_name(long, "y" * 100, T0)
    assert len(name) <= 253 and name.endswith("-20240501100000")
    assert len(d.label_value("s" * 80)) <= 63


@pytest.mark.parametrize(("text", "ns"), [("24h", 86_400 * 10 ** 9), ("1h30m", 5_400 * 10 ** 9), ("2s", 2 * 10 ** 9),
                                          ("1.5h", 5_400 * 10 ** 9), ("500ms", 5 * 10 ** 8), ("0", 0)])
def test_go_durations(text: str, ns: int) -> None:
    assert parse_duration(text) == ns


@pytest.mark.parametrize(("text", "msg"), [("5", 'time: missing unit in duration "5"'),
                                           ("3x", 'time: unknown unit "x" in duration "3x"'),
                                           ("", 'time: invalid duration ""')])
def test_go_duration_errors(text: str, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        parse_duration(text)


def test_go_duration_string() -> None:
    assert [format_duration(parse_duration(s)) for s in ("24h", "90m", "2s", "1500ms")] == \
        ["24h0m0s", "1h30m0s", "2s", "1.5s"]
