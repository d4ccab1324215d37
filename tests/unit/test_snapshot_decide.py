"""Snapshot controller decisions as tables: objects in, writes / events / driver actions out."""

from __future__ import annotations

from typing import Any

import pytest

from orlop.controllers.snapshot import decide as d

NOW = "2024-05-01T10:00:00Z"
DRV = "fake.orlop.io"
UID = "1111-2222"
CUID = "cccc-0000"


def pvc(name: str = "data", phase: str = "Bound", volume: str = "pv-data", uid: str = CUID,
        fins: list[str] | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": "default", "uid": uid, "resourceVersion": "5",
                         "finalizers": list(fins or ["kubernetes.io/pvc-protection"])},
            "spec": {"volumeName": volume if phase == "Bound" else "", "storageClassName": "fast", **spec},
            "status": {"phase": phase}}


def pv(name: str = "pv-data", driver: str | None = DRV, claim: str = "data", uid: str = CUID,
       mode: str = "Filesystem") -> dict[str, Any]:
    spec: dict[str, Any] = {"claimRef": {"namespace": "default", "name": claim, "uid": uid}, "volumeMode": mode}
    if driver:
        spec["csi"] = {"driver": driver, "volumeHandle": f"pool/{name}"}
    else:
        spec["hostPath"] = {"path": "/tmp/x"}
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name, "resourceVersion": "3"},
            "spec": spec, "status": {"phase": "Bound"}}


def vsclass(name: str = "snap", driver: str = DRV, policy: str = "Delete", default: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "resourceVersion": "2"}
    if default:
        meta["annotations"] = {d.ANN_DEFAULT_CLASS: "true"}
    return {"apiVersion": d.API_VERSION, "kind": "VolumeSnapshotClass", "metadata": meta, "driver": driver,
            "deletionPolicy": policy}


ALL_FINS = [d.FIN_AS_SOURCE]


def vs(name: str = "snap1", pvc_name: str | None = "data", content: str | None = None, cls: str | None = "snap",
       fins: list[str] | None = None, status: dict[str, Any] | None = None, deleting: bool = False,
       uid: str = UID) -> dict[str, Any]:
    source = {"persistentVolumeClaimName": pvc_name} if pvc_name else {}
    if content:
        source["volumeSnapshotContentName"] = content
    spec: dict[str, Any] = {"source": source}
    if cls:
        spec["volumeSnapshotClassName"] = cls
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": uid, "resourceVersion": "7",
                            "finalizers": list(ALL_FINS if fins is None else fins)}
    if deleting:
        meta["deletionTimestamp"] = NOW
    out = {"apiVersion": d.API_VERSION, "kind": "VolumeSnapshot", "metadata": meta, "spec": spec}
    if status is not None:
        out["status"] = status
    return out


def content(name: str = f"snapcontent-{UID}", vs_name: str = "snap1", vs_uid: str = UID, policy: str = "Delete",
            handle: str | None = None, volume: str | None = "pool/pv-data", status: dict[str, Any] | None = None,
            fins: list[str] | None = None, anns: dict[str, str] | None = None, deleting: bool = False,
            driver: str = DRV) -> dict[str, Any]:
    src = {"snapshotHandle": handle} if handle else {"volumeHandle": volume}
    meta: dict[str, Any] = {"name": name, "resourceVersion": "9", "uid": "content-uid",
                            "finalizers": list([d.FIN_CONTENT] if fins is None else fins),
                            "annotations": dict(anns or {})}
    if deleting:
        meta["deletionTimestamp"] = NOW
    ref = {"kind": "VolumeSnapshot", "namespace": "default", "name": vs_name}
    if vs_uid:
        ref["uid"] = vs_uid
    out = {"apiVersion": d.API_VERSION, "kind": "VolumeSnapshotContent", "metadata": meta,
           "spec": {"volumeSnapshotRef": ref, "source": src, "deletionPolicy": policy, "driver": driver}}
    if status is not None:
        out["status"] = status
    return out


READY_CONTENT = {"snapshotHandle": "pool/snapshots/snapshot-x", "readyToUse": True, "restoreSize": 1073741824,
                 "creationTime": 1714557600_000000000}
BOUND = {"boundVolumeSnapshotContentName": f"snapcontent-{UID}", "readyToUse": False}
READY = {"boundVolumeSnapshotContentName": f"snapcontent-{UID}", "readyToUse": True, "restoreSize": "1Gi",
         "creationTime": "2024-05-01T10:00:00Z"}


def ops(dec: d.Decision) -> list[tuple[str, str, str]]:
    return [(w.verb, w.obj["kind"], w.obj["metadata"]["name"]) for w in dec.writes]


def reasons(dec: d.Decision) -> list[str]:
    return [e.reason for e in dec.events]


CN = f"snapcontent-{UID}"

# (case, the snapshot, the rest of the world, expected writes, expected event reasons, retry)
SNAPSHOT_CASES: list[tuple[str, dict[str, Any], list[dict[str, Any]], list[tuple[str, str, str]], list[str], bool]] = [
    ("new snapshot gets the as-source finalizer first", vs(fins=[]), [pvc(), pv(), vsclass()],
     [("update", "VolumeSnapshot", "snap1")], [], False),
    ("dynamic: claim protected, content created, status bound", vs(), [pvc(), pv(), vsclass()],
     [("update", "PersistentVolumeClaim", "data"), ("create", "VolumeSnapshotContent", CN),
      ("status", "VolumeSnapshot", "snap1")], ["CreatingSnapshot"], False),
    ("dynamic: claim already protected is not written again", vs(),
     [pvc(fins=["kubernetes.io/pvc-protection", d.FIN_PVC]), pv(), vsclass()],
     [("create", "VolumeSnapshotContent", CN), ("status", "VolumeSnapshot", "snap1")], ["CreatingSnapshot"], False),
    ("source claim missing", vs(), [vsclass()],
     [("status", "VolumeSnapshot", "snap1")], ["SnapshotContentCreationFailed"], True),
    ("source claim not bound yet", vs(), [pvc(phase="Pending"), vsclass()],
     [("status", "VolumeSnapshot", "snap1")], ["SnapshotContentCreationFailed"], True),
    ("source claim being deleted", vs(), [{**pvc(), "metadata": {**pvc()["metadata"], "deletionTimestamp": NOW}},
                                          pv(), vsclass()],
     [("status", "VolumeSnapshot", "snap1")], ["SnapshotContentCreationFailed"], True),
    ("class missing", vs(cls="nope"), [pvc(), pv()],
     [("status", "VolumeSnapshot", "snap1")], ["SnapshotContentCreationFailed"], True),
    ("same error again: event only, no status rewrite",
     vs(status={"readyToUse": False, "error": {"message": "Failed to create snapshot content with error failed to "
                                                          "retrieve PVC data from the lister: \"persistentvolumeclaim "
                                                          "\\\"data\\\" not found\"", "time": NOW}}),
     [vsclass()], [], ["SnapshotContentCreationFailed"], True),
    ("no class: the driver's default class is set", vs(cls=None), [pvc(), pv(), vsclass(default=True)],
     [("update", "VolumeSnapshot", "snap1")], [], False),
    ("no class and no default", vs(cls=None), [pvc(), pv(), vsclass()],
     [("status", "VolumeSnapshot", "snap1")], ["SetDefaultSnapshotClassFailed"], True),
    ("no class and two defaults", vs(cls=None),
     [pvc(), pv(), vsclass(default=True), vsclass("snap2", default=True)],
     [("status", "VolumeSnapshot", "snap1")], ["SetDefaultSnapshotClassFailed"], True),
    ("no class, volume of no known driver", vs(cls=None), [pvc(), pv(driver=None), vsclass(default=True)],
     [("status", "VolumeSnapshot", "snap1")], ["SetDefaultSnapshotClassFailed"], True),
    ("content made, not ready: nothing to change", vs(status=BOUND, fins=[d.FIN_AS_SOURCE, d.FIN_BOUND]), [pvc(), pv(), vsclass(), content()],
     [], [], False),
    ("content made but status lost in a crash: bound again", vs(), [pvc(), pv(), vsclass(), content()],
     [("status", "VolumeSnapshot", "snap1")], [], False),
    ("content ready: snapshot ready, created and ready events", vs(status=BOUND, fins=[d.FIN_AS_SOURCE, d.FIN_BOUND]),
     [pvc(), pv(), vsclass(), content(status=READY_CONTENT)],
     [("status", "VolumeSnapshot", "snap1")], ["SnapshotCreated", "SnapshotReady"], False),
    ("ready and bound with Delete policy: bound finalizer added", vs(status=READY),
     [pvc(), pv(), vsclass(), content(status=READY_CONTENT)],
     [("update", "VolumeSnapshot", "snap1")], [], False),
    ("ready: the claim's protection is released", vs(status=READY, fins=[d.FIN_AS_SOURCE, d.FIN_BOUND]),
     [pvc(fins=[d.FIN_PVC]), pv(), vsclass(), content(status=READY_CONTENT)],
     [("update", "PersistentVolumeClaim", "data")], [], False),
    ("ready: claim kept while another snapshot of it is in progress",
     vs(status=READY, fins=[d.FIN_AS_SOURCE, d.FIN_BOUND]),
     [pvc(fins=[d.FIN_PVC]), pv(), vsclass(), content(status=READY_CONTENT), vs("snap2", uid="other")],
     [], [], False),
    ("content error is the snapshot's error", vs(status=BOUND, fins=[d.FIN_AS_SOURCE, d.FIN_BOUND]),
     [pvc(), pv(), vsclass(), content(status={"readyToUse": False, "error": {"message": "boom", "time": NOW}})],
     [("status", "VolumeSnapshot", "snap1")], [], False),
    ("dynamic content with a snapshot handle is refused", vs(status=BOUND, fins=[d.FIN_AS_SOURCE, d.FIN_BOUND]),
     [pvc(), pv(), vsclass(), content(handle="h")], [("status", "VolumeSnapshot", "snap1")], ["SnapshotHandleSet"],
     True),
    ("bound content vanished", vs(status=READY, fins=[d.FIN_AS_SOURCE, d.FIN_BOUND]), [pvc(), pv()],
     [("status", "VolumeSnapshot", "snap1")], ["SnapshotContentMissing"], True),
    ("pre-provisioned: content missing", vs(pvc_name=None, content="pre"), [],
     [("status", "VolumeSnapshot", "snap1")], ["SnapshotContentMissing"], True),
    ("pre-provisioned: content names another snapshot", vs(pvc_name=None, content="pre"),
     [content("pre", vs_name="other", vs_uid="", handle="h")],
     [("status", "VolumeSnapshot", "snap1")], ["SnapshotBindFailed"], True),
    ("pre-provisioned: content learns the snapshot's uid", vs(pvc_name=None, content="pre"),
     [content("pre", vs_uid="", handle="h")], [("update", "VolumeSnapshotContent", "pre")], [], False),
    ("pre-provisioned: bound, status from the content", vs(pvc_name=None, content="pre", cls=None),
     [content("pre", handle="h", status={"snapshotHandle": "h", "readyToUse": True})],
     [("status", "VolumeSnapshot", "snap1")], ["SnapshotReady"], False),
    ("both sources (validation bypassed)", vs(content="pre"), [],
     [("status", "VolumeSnapshot", "snap1")], ["SnapshotValidationError"], True),
    ("deleting: the content is marked being-deleted first",
     vs(status=READY, fins=[d.FIN_AS_SOURCE, d.FIN_BOUND], deleting=True),
     [pvc(), pv(), content(status=READY_CONTENT)], [("update", "VolumeSnapshotContent", CN)], [], False),
    ("deleting while a claim restores from it: waits",
     vs(status=READY, fins=[d.FIN_AS_SOURCE, d.FIN_BOUND], deleting=True),
     [pvc(), pv(), content(status=READY_CONTENT, anns={d.ANN_BEING_DELETED: "yes"}),
      pvc("restore", phase="Pending", uid="r", dataSource={"apiGroup": d.GROUP, "kind": "VolumeSnapshot",
                                                            "name": "snap1"})],
     [], ["SnapshotDeletePending"], True),
    ("deleting, policy Delete: content deleted, bound finalizer kept",
     vs(status=READY, fins=[d.FIN_AS_SOURCE, d.FIN_BOUND], deleting=True),
     [pvc(), pv(), content(status=READY_CONTENT, anns={d.ANN_BEING_DELETED: "yes"})],
     [("delete", "VolumeSnapshotContent", CN), ("update", "VolumeSnapshot", "snap1")], [], False),
    ("deleting, policy Retain: content kept, finalizers gone",
     vs(status=READY, fins=[d.FIN_AS_SOURCE], deleting=True),
     [pvc(), pv(), content(policy="Retain", status=READY_CONTENT, anns={d.ANN_BEING_DELETED: "yes"})],
     [("update", "VolumeSnapshot", "snap1")], [], False),
    ("deleting, content gone: last finalizer removed", vs(status=READY, fins=[d.FIN_BOUND], deleting=True),
     [pvc(), pv()], [("update", "VolumeSnapshot", "snap1")], [], False),
    ("deleting an unfinished snapshot releases its claim", vs(status=BOUND, deleting=True),
     [pvc(fins=[d.FIN_PVC]), pv(), content(anns={d.ANN_BEING_DELETED: "yes"}, deleting=True)],
     [("update", "PersistentVolumeClaim", "data"), ("update", "VolumeSnapshot", "snap1")], [], False),
]


@pytest.mark.parametrize(("case", "snap", "world", "want_ops", "want_events", "want_retry"), SNAPSHOT_CASES,
                         ids=[c[0] for c in SNAPSHOT_CASES])
def test_sync_snapshot(case: str, snap: dict[str, Any], world: list[dict[str, Any]], want_ops: list[Any],
                       want_events: list[str], want_retry: bool) -> None:
    w = d.World.of(snap, *world)
    dec = d.sync_snapshot(snap, w, NOW)
    assert ops(dec) == want_ops
    assert reasons(dec) == want_events
    assert dec.retry == want_retry


def test_dynamic_content_is_named_and_bound_from_the_snapshot_uid() -> None:
    snap = vs()
    dec = d.sync_snapshot(snap, d.World.of(snap, pvc(), pv(), vsclass(policy="Retain")), NOW)
    created = dec.writes[1].obj
    assert created["metadata"]["name"] == f"snapcontent-{UID}"
    assert created["spec"] == {
        "volumeSnapshotRef": {"kind": "VolumeSnapshot", "namespace": "default", "name": "snap1", "uid": UID,
                              "apiVersion": d.API_VERSION, "resourceVersion": "7"},
        "source": {"volumeHandle": "pool/pv-data"}, "volumeSnapshotClassName": "snap", "deletionPolicy": "Retain",
        "driver": DRV, "sourceVolumeMode": "Filesystem"}
    assert dec.writes[0].obj["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection", d.FIN_PVC]
    assert dec.writes[2].obj["status"] == {"boundVolumeSnapshotContentName": f"snapcontent-{UID}",
                                           "readyToUse": False}
    assert dec.events[0].message == "Waiting for a snapshot default/snap1 to be created by the CSI driver."
    assert d.snapshot_name_for(created) == f"snapshot-{UID}"


def test_ready_status_and_messages() -> None:
    snap = vs(status=BOUND, fins=[d.FIN_AS_SOURCE, d.FIN_BOUND])
    dec = d.sync_snapshot(snap, d.World.of(snap, pvc(), pv(), vsclass(), content(status=READY_CONTENT)), NOW)
    assert dec.writes[0].obj["status"] == READY
    assert [e.message for e in dec.events] == ["Snapshot default/snap1 was successfully created by the CSI driver.",
                                               "Snapshot default/snap1 is ready to use."]


def test_error_messages_read_as_upstream() -> None:
    snap = vs()
    dec = d.sync_snapshot(snap, d.World.of(snap, vsclass()), NOW)
    assert dec.events[0].message == ('Failed to create snapshot content with error failed to retrieve PVC data from '
                                     'the lister: "persistentvolumeclaim \\"data\\" not found"')
    assert dec.writes[0].obj["status"]["error"] == {"message": dec.events[0].message, "time": NOW}
    assert dec.writes[0].obj["status"]["readyToUse"] is False
    snap = vs(cls="nope")
    dec = d.sync_snapshot(snap, d.World.of(snap, pvc(), pv()), NOW)
    assert dec.events[0].message == (
        'Failed to create snapshot content with error failed to get input parameters to create snapshot snap1: '
        '"failed to retrieve snapshot class nope from the informer: '
        '\\"volumesnapshotclass.snapshot.storage.k8s.io \\\\\\"nope\\\\\\" not found\\""')
    snap = vs(cls=None)
    dec = d.sync_snapshot(snap, d.World.of(snap, pvc(), pv(), vsclass()), NOW)
    assert dec.events[0].message == "Failed to set default snapshot class with error cannot find default snapshot class"


def test_default_class_is_the_drivers() -> None:
    snap = vs(cls=None)
    w = d.World.of(snap, pvc(), pv(), vsclass("other", driver="x", default=True), vsclass("mine", default=True))
    dec = d.sync_snapshot(snap, w, NOW)
    assert dec.writes[0].obj["spec"]["volumeSnapshotClassName"] == "mine"


# (case, the content, the rest of the world, driver ready, expected writes, expected action)
CONTENT_CASES: list[tuple[str, dict[str, Any], list[dict[str, Any]], bool, list[tuple[str, str, str]], str]] = [
    ("content gets its finalizer", content(fins=[]), [vs(status=BOUND)], True,
     [("update", "VolumeSnapshotContent", CN)], ""),
    ("dynamic, no handle: take the snapshot", content(), [vs(status=BOUND)], True, [], d.SNAPSHOT),
    ("dynamic, driver not here: wait", content(), [vs(status=BOUND)], False, [], ""),
    ("dynamic, taken: nothing", content(status=READY_CONTENT), [vs(status=READY)], True, [], ""),
    ("dynamic, snapshot gone before it was taken: not taken", content(), [], True, [], ""),
    ("pre-provisioned: handle recorded, ready", content("pre", handle="h"), [vs(pvc_name=None, content="pre")], True,
     [("status", "VolumeSnapshotContent", "pre")], ""),
    ("snapshot being deleted: content marked", content(status=READY_CONTENT),
     [vs(status=READY, fins=[d.FIN_BOUND], deleting=True)], True, [("update", "VolumeSnapshotContent", CN)], ""),
    ("deleted, marked, policy Delete: delete the physical snapshot",
     content(status=READY_CONTENT, anns={d.ANN_BEING_DELETED: "yes"}, deleting=True),
     [vs(status=READY, fins=[d.FIN_BOUND], deleting=True)], True, [], d.DELETE_SNAPSHOT),
    ("deleted, physical snapshot gone: finalizer removed",
     content(status={"readyToUse": True}, anns={d.ANN_BEING_DELETED: "yes"}, deleting=True), [], True,
     [("update", "VolumeSnapshotContent", CN)], ""),
    ("deleted, policy Retain: finalizer removed, snapshot kept",
     content(policy="Retain", status=READY_CONTENT, anns={d.ANN_BEING_DELETED: "yes"}, deleting=True), [], True,
     [("update", "VolumeSnapshotContent", CN)], ""),
    ("deleted while still bound to a live snapshot: waits", content(status=READY_CONTENT, deleting=True),
     [vs(status=READY)], True, [], ""),
    ("deleted while being created: the snapshot is finished first",
     content(anns={d.ANN_BEING_CREATED: "yes", d.ANN_BEING_DELETED: "yes"}, deleting=True), [], True, [], d.SNAPSHOT),
    ("deleted, unbound pre-provisioned: finalizer removed", content("pre", vs_uid="", handle="h", deleting=True,
                                                                     policy="Retain"),
     [vs(pvc_name=None, content="pre")], True, [("update", "VolumeSnapshotContent", "pre")], ""),
]


@pytest.mark.parametrize(("case", "obj", "world", "driver_ready", "want_ops", "want_action"), CONTENT_CASES,
                         ids=[c[0] for c in CONTENT_CASES])
def test_sync_content(case: str, obj: dict[str, Any], world: list[dict[str, Any]], driver_ready: bool,
                      want_ops: list[Any], want_action: str) -> None:
    dec = d.sync_content(obj, d.World.of(obj, *world), driver_ready)
    assert ops(dec) == want_ops
    assert dec.action == want_action


def test_content_status_after_snapshot_and_creation_times() -> None:
    c = d.content_after_snapshot(content(status={"error": {"message": "x"}}), "h", 5 * 2 ** 20, 1714557600_000000000)
    assert c["status"] == {"snapshotHandle": "h", "readyToUse": True, "restoreSize": 5242880,
                           "creationTime": 1714557600_000000000}
    assert d.creation_ns(1714557600_000000000) == 1714557600_000000000
    assert d.creation_ns(1714557600.5) == 1714557600_500000000
    assert d.creation_ns("2024-05-01T10:00:00Z") == 1714557600_000000000
    assert d.ns_to_rfc3339(1714557600_999999999) == "2024-05-01T10:00:00Z"
    assert d.restore_size(5242880) == "5Mi" and d.restore_size(1000) == "1k"
