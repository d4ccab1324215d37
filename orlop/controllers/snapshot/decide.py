"""What the snapshot controller does about a VolumeSnapshot or a VolumeSnapshotContent: pure decisions.

Why this exists: Kubernetes splits volume snapshots between the common snapshot-controller
(VolumeSnapshot <-> VolumeSnapshotContent binding, finalizers, status, default classes) and
the CSI snapshotter sidecar (calling the driver for a content).  orlop's drivers live in
process, so one controller plays both parts; the rules are upstream's, written here as pure
functions of the objects (no I/O), so they can be tested as tables:

- a dynamic snapshot (``spec.source.persistentVolumeClaimName``) gets the content
  ``snapcontent-<snapshot uid>`` (its ``volumeSnapshotRef`` naming the snapshot and its uid,
  ``source.volumeHandle`` the claim's volume), the snapshot's class defaulting to the
  driver's default class (annotation ``snapshot.storage.kubernetes.io/is-default-class``);
  the source claim carries ``snapshot.storage.kubernetes.io/pvc-as-source-protection``
  until no snapshot of it is in progress;
- a pre-provisioned snapshot (``spec.source.volumeSnapshotContentName``) binds to the named
  content, which must name it back (the content's ``volumeSnapshotRef.uid`` is filled in);
- the snapshot's status follows its content's: ``boundVolumeSnapshotContentName``,
  ``readyToUse``, ``creationTime``, ``restoreSize``, ``error``; events CreatingSnapshot,
  SnapshotCreated, SnapshotReady, SnapshotContentCreationFailed, ... (upstream's reasons);
- finalizers: the snapshot carries ``volumesnapshot-as-source-protection`` and, while bound
  to a content with deletionPolicy Delete, ``volumesnapshot-bound-protection``; the content
  carries ``volumesnapshotcontent-bound-protection``;
- deleting a snapshot waits while a claim is being restored from it, marks its content
  ``volumesnapshot-being-deleted``, deletes the content when the policy is Delete (the
  physical snapshot goes first, then the content's finalizer), and lets go of the snapshot;
- the sidecar's part of a content: take the physical snapshot (the driver's
  ``snapshot(pv, "snapshot-<snapshot uid>")``, marked ``volumesnapshot-being-created`` while
  it runs so a crash or a delete never loses it), or record a pre-provisioned handle.

Every name derives from the snapshot's uid, so a decision repeated after a crash finds what
the first attempt made instead of making it twice.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ...gofmt import go_quote
from ...jsonobj import clone
from ...quantity import format_quantity

GROUP = "snapshot.storage.k8s.io"
API_VERSION = f"{GROUP}/v1"

FIN_AS_SOURCE = "snapshot.storage.kubernetes.io/volumesnapshot-as-source-protection"
FIN_BOUND = "snapshot.storage.kubernetes.io/volumesnapshot-bound-protection"
FIN_CONTENT = "snapshot.storage.kubernetes.io/volumesnapshotcontent-bound-protection"
FIN_PVC = "snapshot.storage.kubernetes.io/pvc-as-source-protection"
ANN_BEING_DELETED = "snapshot.storage.kubernetes.io/volumesnapshot-being-deleted"
ANN_BEING_CREATED = "snapshot.storage.kubernetes.io/volumesnapshot-being-created"
ANN_DEFAULT_CLASS = "snapshot.storage.kubernetes.io/is-default-class"
ANN_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"

COMMON = "snapshot-controller"        # the common controller's event source

CREATE, UPDATE, STATUS, DELETE = "create", "update", "status", "delete"
SNAPSHOT, DELETE_SNAPSHOT = "snapshot", "delete-snapshot"

Key = tuple[str, str]
Obj = dict[str, Any]


def sidecar(driver: str) -> str:
    """The CSI snapshotter sidecar's event source for ``driver``."""
    return f"csi-snapshotter {driver}"


@dataclass
class Write:
    verb: str        # CREATE | UPDATE (spec/metadata) | STATUS | DELETE
    obj: Obj


@dataclass
class Event:
    obj: Obj
    type: str
    reason: str
    message: str
    component: str = COMMON


@dataclass
class Decision:
    writes: list[Write] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    action: str = ""          # for a content: SNAPSHOT or DELETE_SNAPSHOT (driver work, done by the controller)
    retry: bool = False       # look again later (with backoff): waiting for something not watched, or failed

    def __bool__(self) -> bool:
        return bool(self.writes or self.events or self.action or self.retry)


@dataclass
class World:
    """The objects a decision reads, keyed as informer caches key them ((namespace or "", name))."""

    snapshots: Mapping[Key, Obj] = field(default_factory=dict)
    contents: Mapping[Key, Obj] = field(default_factory=dict)
    classes: Mapping[Key, Obj] = field(default_factory=dict)
    claims: Mapping[Key, Obj] = field(default_factory=dict)
    volumes: Mapping[Key, Obj] = field(default_factory=dict)

    @staticmethod
    def of(*objs: Obj) -> World:
        w = World({}, {}, {}, {}, {})
        table = {"VolumeSnapshot": w.snapshots, "VolumeSnapshotContent": w.contents,
                 "VolumeSnapshotClass": w.classes, "PersistentVolumeClaim": w.claims,
                 "PersistentVolume": w.volumes}
        for o in objs:
            table[o["kind"]][(o["metadata"].get("namespace") or "", o["metadata"]["name"])] = o  # type: ignore[index]
        return w


# ------------------------------------------------------------------ small readers

def _meta(o: Obj) -> Obj:
    return o.get("metadata") or {}


def _spec(o: Obj) -> Obj:
    return o.get("spec") or {}


def _status(o: Obj) -> Obj:
    return o.get("status") or {}


def _fins(o: Obj) -> list[str]:
    return list(_meta(o).get("finalizers") or [])


def _ann(o: Obj) -> dict[str, str]:
    return dict(_meta(o).get("annotations") or {})


def _deleting(o: Obj) -> bool:
    return bool(_meta(o).get("deletionTimestamp"))


def snapshot_key(vs: Obj) -> str:
    return f"{_meta(vs).get('namespace', '')}/{_meta(vs)['name']}"


def content_name_for(vs: Obj) -> str:
    """GetDynamicSnapshotContentNameForSnapshot."""
    return f"snapcontent-{_meta(vs)['uid']}"


def snapshot_name_for(content: Obj) -> str:
    """The name the driver's snapshot gets: ``snapshot-<VolumeSnapshot uid>`` (the sidecar's default prefix)."""
    return f"snapshot-{(_spec(content).get('volumeSnapshotRef') or {}).get('uid', '')}"


def is_ready(vs: Obj) -> bool:
    return _status(vs).get("readyToUse") is True


def volume_drivers(pv: Obj) -> set[str]:
    """The names a volume's driver goes by: its CSI driver name and the provisioner that made it
    (one name in Kubernetes; orlop's image driver writes ``image.orlop.io`` on PVs it provisions as
    ``orlop.io/image``, so a snapshot class may name either)."""
    names = set()
    csi = _spec(pv).get("csi")
    if isinstance(csi, dict) and csi.get("driver"):
        names.add(str(csi["driver"]))
    if _ann(pv).get(ANN_PROVISIONED_BY):
        names.add(_ann(pv)[ANN_PROVISIONED_BY])
    return names


def volume_handle(pv: Obj) -> str:
    csi = _spec(pv).get("csi")
    if isinstance(csi, dict) and csi.get("volumeHandle"):
        return str(csi["volumeHandle"])
    return str(_meta(pv)["name"])


def find_volume(w: World, handle: str, drivers: set[str]) -> Obj | None:
    """The PV a content's ``source.volumeHandle`` names (of a driver going by one of ``drivers``)."""
    for pv in w.volumes.values():
        names = volume_drivers(pv)
        if volume_handle(pv) == handle and (not names or names & drivers):
            return pv
    return None


def rfc3339(t: datetime.datetime) -> str:
    return t.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ns_to_rfc3339(ns: int) -> str:
    return rfc3339(datetime.datetime.fromtimestamp(ns // 1_000_000_000, datetime.UTC))


def creation_ns(value: Any) -> int:
    """A driver's creation time (datetime, RFC 3339 text, epoch seconds or nanoseconds) as Unix nanoseconds."""
    if isinstance(value, datetime.datetime):
        t = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        return int(t.timestamp() * 1_000_000_000)
    if isinstance(value, str):
        t = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return creation_ns(t)
    if isinstance(value, int | float):
        return int(value) if value > 1e14 else int(value * 1_000_000_000)
    raise ValueError(f"creation time {value!r}")


def restore_size(size_bytes: int) -> str:
    """resource.NewQuantity(size, BinarySI).String()."""
    return format_quantity(Decimal(size_bytes))


def _with_finalizers(o: Obj, fins: list[str]) -> Obj:
    new = clone(o)
    new["metadata"]["finalizers"] = fins
    return new


def _with_annotation(o: Obj, key: str, value: str | None) -> Obj:
    new = clone(o)
    anns = dict(new["metadata"].get("annotations") or {})
    if value is None:
        anns.pop(key, None)
    else:
        anns[key] = value
    new["metadata"]["annotations"] = anns
    return new


def _lister_not_found(resource: str, name: str) -> str:
    """A lister's NotFound error text (singular resource, as listers word it)."""
    return f"{resource} {go_quote(name)} not found"


def data_source(claim: Obj) -> tuple[str, str, str, str | None] | None:
    """(apiGroup, kind, name, namespace) of a claim's dataSourceRef, else dataSource."""
    spec = _spec(claim)
    ref = spec.get("dataSourceRef") or spec.get("dataSource")
    if not isinstance(ref, dict) or not ref.get("name"):
        return None
    return (str(ref.get("apiGroup") or ""), str(ref.get("kind") or ""), str(ref["name"]), ref.get("namespace"))


# ------------------------------------------------------------------ snapshot status

def _error(vs: Obj, reason: str, message: str, now: str, ready_false: bool = True) -> Decision:
    """updateSnapshotErrorStatusWithEvent: status.error (and readyToUse false), a Warning event, retry."""
    d = Decision(retry=True)
    d.events.append(Event(vs, "Warning", reason, message))
    st = _status(vs)
    if (st.get("error") or {}).get("message") != message or (ready_false and st.get("readyToUse") is not False):
        new = clone(vs)
        status = dict(st)
        status["error"] = {"message": message, "time": now}
        if ready_false:
            status["readyToUse"] = False
        new["status"] = status
        d.writes.append(Write(STATUS, new))
    return d


def status_from_content(vs: Obj, content: Obj) -> Obj:
    """updateSnapshotStatus: the snapshot's status as its bound content says."""
    st = dict(_status(vs))
    cst = _status(content)
    st["boundVolumeSnapshotContentName"] = _meta(content)["name"]
    ready = cst.get("readyToUse") is True
    st["readyToUse"] = ready
    if isinstance(cst.get("creationTime"), int):
        st["creationTime"] = ns_to_rfc3339(cst["creationTime"])
    if isinstance(cst.get("restoreSize"), int):
        st["restoreSize"] = restore_size(cst["restoreSize"])
    if cst.get("error"):
        st["error"] = clone(cst["error"])
    elif ready:
        st.pop("error", None)
    return st


def _bind_status(vs: Obj, content: Obj) -> Decision:
    """Write the status the content implies, with SnapshotCreated / SnapshotReady events when they first hold."""
    d = Decision()
    new_status = status_from_content(vs, content)
    old = _status(vs)
    if new_status == old:
        return d
    new = clone(vs)
    new["status"] = new_status
    d.writes.append(Write(STATUS, new))
    key = snapshot_key(vs)
    if not old.get("creationTime") and new_status.get("creationTime"):
        d.events.append(Event(vs, "Normal", "SnapshotCreated",
                              f"Snapshot {key} was successfully created by the CSI driver."))
    if old.get("readyToUse") is not True and new_status.get("readyToUse") is True:
        d.events.append(Event(vs, "Normal", "SnapshotReady", f"Snapshot {key} is ready to use."))
    return d


def is_bound(vs: Obj, content: Obj) -> bool:
    """IsSnapshotBound: the snapshot names the content and the content names the snapshot's uid."""
    return (_status(vs).get("boundVolumeSnapshotContentName") == _meta(content)["name"]
            and (_spec(content).get("volumeSnapshotRef") or {}).get("uid") == _meta(vs).get("uid"))


# ------------------------------------------------------------------ claims

def _claim_of(vs: Obj, w: World) -> tuple[Obj | None, str]:
    """getClaimFromVolumeSnapshot: the source claim, or the error text."""
    name = _spec(vs).get("source", {}).get("persistentVolumeClaimName") or ""
    claim = w.claims.get((_meta(vs).get("namespace", ""), name))
    if claim is None:
        return None, (f"failed to retrieve PVC {name} from the lister: "
                      f"{go_quote(_lister_not_found('persistentvolumeclaim', name))}")
    if _status(claim).get("phase") != "Bound":
        return None, f"the PVC {name} is not yet bound to a PV, will not attempt to take a snapshot"
    return claim, ""


def _volume_of(vs: Obj, w: World) -> tuple[Obj | None, str]:
    """getVolumeFromVolumeSnapshot: the source claim's bound volume, or the error text."""
    claim, err = _claim_of(vs, w)
    if claim is None:
        return None, err
    pv_name = _spec(claim).get("volumeName") or ""
    pv = w.volumes.get(("", pv_name))
    if pv is None:
        return None, (f"failed to retrieve PV {pv_name} from the API server: "
                      f"{go_quote(f'persistentvolumes {go_quote(pv_name)} not found')}")
    ref = _spec(pv).get("claimRef") or {}
    if ref.get("uid") != _meta(claim).get("uid") or ref.get("name") != _meta(claim)["name"]:
        return None, "claim in dataSource not bound or invalid"
    return pv, ""


def _snapshot_in_progress(w: World, namespace: str, claim_name: str, but: Obj | None) -> bool:
    """isPVCBeingUsed: another snapshot of this claim is not ready yet."""
    for (ns, name), snap in w.snapshots.items():
        if ns != namespace or (but is not None and name == _meta(but)["name"]):
            continue
        if _deleting(snap):
            continue
        if _spec(snap).get("source", {}).get("persistentVolumeClaimName") == claim_name and not is_ready(snap):
            return True
    return False


def _release_claim(vs: Obj, w: World) -> list[Write]:
    """checkandRemovePVCFinalizer: drop pvc-as-source-protection when no snapshot of the claim is in progress."""
    name = _spec(vs).get("source", {}).get("persistentVolumeClaimName")
    if not name:
        return []
    ns = _meta(vs).get("namespace", "")
    claim = w.claims.get((ns, name))
    if claim is None or FIN_PVC not in _fins(claim) or _snapshot_in_progress(w, ns, name, vs):
        return []
    return [Write(UPDATE, _with_finalizers(claim, [f for f in _fins(claim) if f != FIN_PVC]))]


def restoring_claims(vs: Obj, w: World) -> list[str]:
    """isVolumeBeingCreatedFromSnapshot: Pending claims whose data source is this snapshot."""
    ns, name = _meta(vs).get("namespace", ""), _meta(vs)["name"]
    out = []
    for (cns, cname), claim in w.claims.items():
        src = data_source(claim)
        if cns != ns or src is None or src[:3] != (GROUP, "VolumeSnapshot", name):
            continue
        if _status(claim).get("phase", "Pending") == "Pending":
            out.append(cname)
    return sorted(out)


# ------------------------------------------------------------------ VolumeSnapshot

def _content_of(vs: Obj, w: World) -> Obj | None:
    src = _spec(vs).get("source") or {}
    if src.get("volumeSnapshotContentName"):
        return w.contents.get(("", src["volumeSnapshotContentName"]))
    bound = _status(vs).get("boundVolumeSnapshotContentName")
    if bound:
        return w.contents.get(("", bound))
    return w.contents.get(("", content_name_for(vs)))


def default_class(w: World, drivers: set[str]) -> tuple[Obj | None, str]:
    """SetDefaultSnapshotClass's choice among the classes of the volume's driver marked default."""
    found = [c for c in w.classes.values()
             if _ann(c).get(ANN_DEFAULT_CLASS) == "true" and c.get("driver") in drivers]
    if not found:
        return None, "cannot find default snapshot class"
    if len(found) > 1:
        return None, f"{len(found)} default snapshot classes were found"
    return found[0], ""


def sync_snapshot(vs: Obj, w: World, now: str) -> Decision:
    """One step of the common controller's syncSnapshot for ``vs``."""
    if _deleting(vs):
        return _sync_deleting(vs, w, now)
    src = _spec(vs).get("source") or {}
    if bool(src.get("persistentVolumeClaimName")) == bool(src.get("volumeSnapshotContentName")):
        return _error(vs, "SnapshotValidationError",
                      "Exactly one of PersistentVolumeClaimName and VolumeSnapshotContentName should be specified", now)
    content = _content_of(vs, w)
    # checkandAddSnapshotFinalizers
    fins = _fins(vs)
    want = list(fins)
    if FIN_AS_SOURCE not in want:
        want.append(FIN_AS_SOURCE)
    if content is not None and is_bound(vs, content) and _spec(content).get("deletionPolicy") == "Delete" \
            and FIN_BOUND not in want:
        want.append(FIN_BOUND)
    if want != fins:
        return Decision(writes=[Write(UPDATE, _with_finalizers(vs, want))])
    if src.get("volumeSnapshotContentName"):
        d = _sync_preprovisioned(vs, content, w, now)
    else:
        d = _sync_dynamic(vs, content, w, now)
    if not d.writes and is_ready(vs):
        d.writes += _release_claim(vs, w)
    return d


def _sync_preprovisioned(vs: Obj, content: Obj | None, w: World, now: str) -> Decision:
    if content is None:
        return _error(vs, "SnapshotContentMissing", "VolumeSnapshotContent is missing", now)
    ref = _spec(content).get("volumeSnapshotRef") or {}
    name, uid = _meta(vs)["name"], _meta(vs).get("uid")
    if ref.get("name") != name or ref.get("namespace") != _meta(vs).get("namespace") or \
            (ref.get("uid") and ref.get("uid") != uid) or not (_spec(content).get("source") or {}).get(
                "snapshotHandle"):
        return _error(vs, "SnapshotBindFailed",
                      f"Snapshot failed to bind VolumeSnapshotContent, Could not bind snapshot {name} and content "
                      f"{_meta(content)['name']}, the VolumeSnapshotRef does not match", now)
    class_name = _spec(vs).get("volumeSnapshotClassName")
    if not ref.get("uid") or (class_name and not _spec(content).get("volumeSnapshotClassName")):
        # checkandBindSnapshotContent: the content learns the snapshot's uid (and class).
        new = clone(content)
        new["spec"]["volumeSnapshotRef"] = {**ref, "uid": uid}
        if class_name and not _spec(content).get("volumeSnapshotClassName"):
            new["spec"]["volumeSnapshotClassName"] = class_name
        return Decision(writes=[Write(UPDATE, new)])
    return _bind_status(vs, content)


def _sync_dynamic(vs: Obj, content: Obj | None, w: World, now: str) -> Decision:
    if content is not None:
        if (_spec(content).get("volumeSnapshotRef") or {}).get("uid") != _meta(vs).get("uid"):
            return _error(vs, "SnapshotMisbound", "VolumeSnapshotContent is not bound to the VolumeSnapshot correctly",
                          now)
        if (_spec(content).get("source") or {}).get("snapshotHandle"):
            return _error(vs, "SnapshotHandleSet", f"Snapshot handle should not be set in content "
                                                   f"{snapshot_key(vs)} for dynamic provisioning", now)
        return _bind_status(vs, content)
    if _status(vs).get("boundVolumeSnapshotContentName"):
        return _error(vs, "SnapshotContentMissing", "VolumeSnapshotContent is missing", now)
    class_name = _spec(vs).get("volumeSnapshotClassName")
    if not class_name:
        # checkAndSetDefaultSnapshotClass
        pv, err = _volume_of(vs, w)
        drivers = volume_drivers(pv) if pv is not None else set()
        if pv is not None and not drivers:
            err = f"snapshotting non-CSI volumes is not supported, snapshot:{snapshot_key(vs)}"
        cls = None
        if not err:
            cls, err = default_class(w, drivers)
        if cls is None:
            return _error(vs, "SetDefaultSnapshotClassFailed", f"Failed to set default snapshot class with error {err}",
                          now)
        new = clone(vs)
        new["spec"]["volumeSnapshotClassName"] = _meta(cls)["name"]
        return Decision(writes=[Write(UPDATE, new)])
    return _create_content(vs, class_name, w, now)


def _create_content(vs: Obj, class_name: str, w: World, now: str) -> Decision:
    """createSnapshotContent: protect the claim, create ``snapcontent-<uid>``, bind the snapshot's status."""
    name = _meta(vs)["name"]

    def failed(err: str) -> Decision:
        return _error(vs, "SnapshotContentCreationFailed", f"Failed to create snapshot content with error {err}", now)

    claim, err = _claim_of(vs, w)
    if claim is None:
        return failed(err)
    if _deleting(claim):
        return failed(f"cannot add finalizer on claim [{snapshot_key(claim)}] for snapshot [{snapshot_key(vs)}]: "
                      "claim is being deleted")
    cls = w.classes.get(("", class_name))
    if cls is None:
        inner = (f"failed to retrieve snapshot class {class_name} from the informer: "
                 f"{go_quote(_lister_not_found('volumesnapshotclass.snapshot.storage.k8s.io', class_name))}")
        return failed(f"failed to get input parameters to create snapshot {name}: {go_quote(inner)}")
    pv, err = _volume_of(vs, w)
    if pv is None:
        return failed(f"failed to get input parameters to create snapshot {name}: {go_quote(err)}")
    if not volume_drivers(pv):
        return failed(f"cannot find CSI PersistentVolumeSource for volume {_meta(pv)['name']}")
    d = Decision()
    if FIN_PVC not in _fins(claim):
        d.writes.append(Write(UPDATE, _with_finalizers(claim, _fins(claim) + [FIN_PVC])))
    content = {
        "apiVersion": API_VERSION, "kind": "VolumeSnapshotContent",
        "metadata": {"name": content_name_for(vs)},
        "spec": {
            "volumeSnapshotRef": {"kind": "VolumeSnapshot", "namespace": _meta(vs).get("namespace", ""),
                                  "name": name, "uid": _meta(vs)["uid"], "apiVersion": API_VERSION,
                                  "resourceVersion": _meta(vs).get("resourceVersion", "")},
            "source": {"volumeHandle": volume_handle(pv)},
            "volumeSnapshotClassName": class_name,
            "deletionPolicy": cls.get("deletionPolicy", "Delete"),
            "driver": cls.get("driver", ""),
            "sourceVolumeMode": _spec(pv).get("volumeMode") or "Filesystem",
        },
    }
    d.writes.append(Write(CREATE, content))
    new = clone(vs)
    new["status"] = {**_status(vs), "boundVolumeSnapshotContentName": content["metadata"]["name"],
                     "readyToUse": False}
    new["status"].pop("error", None)
    d.writes.append(Write(STATUS, new))
    d.events.append(Event(vs, "Normal", "CreatingSnapshot",
                          f"Waiting for a snapshot {snapshot_key(vs)} to be created by the CSI driver."))
    return d


def _sync_deleting(vs: Obj, w: World, now: str) -> Decision:
    """processSnapshotWithDeletionTimestamp."""
    content = _content_of(vs, w)
    if content is not None and (_spec(content).get("volumeSnapshotRef") or {}).get("uid") != _meta(vs).get("uid"):
        content = None          # not ours: a pre-provisioned content bound elsewhere, never touched
    delete_content = content is not None and _spec(content).get("deletionPolicy") == "Delete"
    if content is not None and not _deleting(content) and ANN_BEING_DELETED not in _ann(content):
        return Decision(writes=[Write(UPDATE, _with_annotation(content, ANN_BEING_DELETED, "yes"))])
    if FIN_AS_SOURCE not in _fins(vs) and FIN_BOUND not in _fins(vs):
        return Decision(writes=_release_claim(vs, w))
    users = restoring_claims(vs, w)
    if users:
        return Decision(events=[Event(vs, "Warning", "SnapshotDeletePending",
                                      "Snapshot is being used to restore a PVC")], retry=True)
    d = Decision()
    if delete_content and content is not None and not _deleting(content):
        d.writes.append(Write(DELETE, content))
    d.writes += _release_claim(vs, w)
    keep_bound = delete_content and content is not None
    want = [f for f in _fins(vs) if f != FIN_AS_SOURCE and (keep_bound or f != FIN_BOUND)]
    if want != _fins(vs):
        d.writes.append(Write(UPDATE, _with_finalizers(vs, want)))
    return d


# ------------------------------------------------------------------ VolumeSnapshotContent

def _snapshot_of(content: Obj, w: World) -> Obj | None:
    ref = _spec(content).get("volumeSnapshotRef") or {}
    vs = w.snapshots.get((ref.get("namespace") or "", ref.get("name") or ""))
    if vs is not None and ref.get("uid") and _meta(vs).get("uid") != ref.get("uid"):
        return None             # a new snapshot of the same name: the old one is gone
    return vs


def sync_content(content: Obj, w: World, driver_ready: bool) -> Decision:
    """One step of syncContent (common controller, then the sidecar's part when ``driver_ready``:
    the content's driver is registered here and takes snapshots)."""
    spec, st, anns = _spec(content), _status(content), _ann(content)
    vs = _snapshot_of(content, w)
    src = spec.get("source") or {}
    ref = spec.get("volumeSnapshotRef") or {}
    if _deleting(content):
        if FIN_CONTENT not in _fins(content):
            return Decision()
        if ANN_BEING_CREATED in anns:
            # A CreateSnapshot was under way: finish it (idempotent) so its handle is known, then delete.
            return Decision(action=SNAPSHOT) if driver_ready and not st.get("snapshotHandle") else Decision()
        unbound_preprovisioned = bool(src.get("snapshotHandle")) and not ref.get("uid")
        vs_gone = vs is None or not is_bound(vs, content)
        if not (ANN_BEING_DELETED in anns or unbound_preprovisioned or vs_gone):
            return Decision()   # still bound to a live snapshot: deleting that snapshot lets it go
        if spec.get("deletionPolicy") == "Delete" and st.get("snapshotHandle"):
            return Decision(action=DELETE_SNAPSHOT) if driver_ready else Decision()
        return Decision(writes=[Write(UPDATE, _with_finalizers(content, [f for f in _fins(content)
                                                                          if f != FIN_CONTENT]))])
    if FIN_CONTENT not in _fins(content):
        return Decision(writes=[Write(UPDATE, _with_finalizers(content, _fins(content) + [FIN_CONTENT]))])
    if vs is not None and _deleting(vs) and FIN_BOUND in _fins(vs) and ANN_BEING_DELETED not in anns:
        return Decision(writes=[Write(UPDATE, _with_annotation(content, ANN_BEING_DELETED, "yes"))])
    if not driver_ready:
        return Decision()
    if src.get("volumeHandle") and not st.get("snapshotHandle"):
        if (vs is None or _deleting(vs)) and ANN_BEING_CREATED not in anns:
            return Decision()   # nobody wants it any more
        return Decision(action=SNAPSHOT)
    if src.get("snapshotHandle") and (st.get("snapshotHandle") != src["snapshotHandle"] or "readyToUse" not in st):
        # A pre-provisioned snapshot: the driver keeps no list, so it is taken as it is (ready).
        new = clone(content)
        new["status"] = {**st, "snapshotHandle": src["snapshotHandle"], "readyToUse": True}
        return Decision(writes=[Write(STATUS, new)])
    return Decision()


def content_after_snapshot(content: Obj, handle: str, size_bytes: int, created_ns: int) -> Obj:
    """The content's status once the driver took the snapshot."""
    new = clone(content)
    status = {k: v for k, v in _status(content).items() if k != "error"}
    status.update({"snapshotHandle": handle, "readyToUse": True, "restoreSize": int(size_bytes),
                   "creationTime": int(created_ns)})
    new["status"] = status
    return new


def content_after_error(content: Obj, message: str, now: str) -> Obj:
    new = clone(content)
    new["status"] = {**_status(content), "error": {"message": message, "time": now}, "readyToUse": False}
    return new


def without_being_created(content: Obj) -> Obj:
    return _with_annotation(content, ANN_BEING_CREATED, None)


def with_being_created(content: Obj) -> Obj:
    return _with_annotation(content, ANN_BEING_CREATED, "yes")


def without_content_finalizer(content: Obj) -> Obj:
    return _with_finalizers(content, [f for f in _fins(content) if f != FIN_CONTENT])


def snapshots_using_claim(w: World, namespace: str, claim_name: str) -> list[Key]:
    return [k for k, s in w.snapshots.items()
            if k[0] == namespace and _spec(s).get("source", {}).get("persistentVolumeClaimName") == claim_name]


def snapshots_restored_by(w: World, claim: Obj) -> list[Key]:
    src = data_source(claim)
    if src is None or src[:2] != (GROUP, "VolumeSnapshot"):
        return []
    key = (_meta(claim).get("namespace", ""), src[2])
    return [key] if key in w.snapshots else []
