"""The expand controller's decisions, as tables: claim and PV in -> size asked of the
backend (Kubernetes 1.32's expandAndRecoverFunction) and the claim each step leaves."""

from __future__ import annotations

from typing import Any

import pytest

from orlop.controllers.expand import (
    ANN_PRE_RESIZE_CAPACITY,
    ANN_RESIZER,
    FS_PENDING_MESSAGE,
    infeasible_unchanged,
    mark_finished,
    mark_in_progress,
    mark_infeasible,
    mark_node_pending,
    node_expand_complete,
    resize_target,
    with_pre_resize_capacity,
)

NOW, EARLIER = "2026-12-07T10:00:00Z", "2026-12-07T09:00:00Z"


def claim(request: str, capacity: str, status: str = "", allocated: str = "",
          conditions: tuple[str, ...] = ()) -> dict[str, Any]:
    st: dict[str, Any] = {"phase": "Bound", "capacity": {"storage": capacity}}
    if status:
        st["allocatedResourceStatuses"] = {"storage": status}
    if allocated:
        st["allocatedResources"] = {"storage": allocated}
    if conditions:
        st["conditions"] = [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": EARLIER}
                            for t in conditions]
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "c", "namespace": "default", "uid": "u"},
            "spec": {"volumeName": "pv", "resources": {"requests": {"storage": request}}}, "status": st}


def volume(capacity: str, pre: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "pv"}
    if pre:
        meta["annotations"] = {ANN_PRE_RESIZE_CAPACITY: pre}
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": meta,
            "spec": {"capacity": {"storage": capacity}}}


# name: (claim, PV, size asked of the backend or None = nothing to do)
TARGETS: dict[str, tuple[dict[str, Any], dict[str, Any], str | None]] = {
    "fresh request: the request": (claim("2Gi", "1Gi"), volume("1Gi"), "2Gi"),
    "controller resize under way: its allocated size": (
        claim("3Gi", "1Gi", "ControllerResizeInProgress", "2Gi"), volume("1Gi"), "2Gi"),
    "node infeasible before the PV grew: the allocated size": (
        claim("3Gi", "1Gi", "NodeResizeInfeasible", "2Gi"), volume("1Gi"), "2Gi"),
    "node pending, request raised again, PV has the allocated size: wait for the node": (
        claim("3Gi", "1Gi", "NodeResizePending", "2Gi"), volume("2Gi"), None),
    "node pending, request raised again, PV short of the allocated size: the allocated size": (
        claim("3Gi", "1Gi", "NodeResizePending", "2Gi"), volume("1Gi"), "2Gi"),
    "infeasible, request changed: the new request": (
        claim("1500Mi", "1Gi", "ControllerResizeInfeasible", "100Pi"), volume("1Gi"), "1500Mi"),
    "PV grown, node pending: nothing (a spurious update)": (
        claim("2Gi", "1Gi", "NodeResizePending", "2Gi"), volume("2Gi"), None),
    "PV grown, node in progress: nothing": (
        claim("2Gi", "1Gi", "NodeResizeInProgress", "2Gi"), volume("2Gi"), None),
    "PV grown, end not recorded: resumed at the allocated size": (
        claim("2Gi", "1Gi", "ControllerResizeInProgress", "2Gi"), volume("2Gi"), "2Gi"),
    "PV grown, request lowered since: the allocated size": (
        claim("1500Mi", "1Gi", "ControllerResizeInProgress", "2Gi"), volume("2Gi"), "2Gi"),
    "PV grown, node infeasible: the allocated size again": (
        claim("2Gi", "1Gi", "NodeResizeInfeasible", "2Gi"), volume("2Gi"), "2Gi"),
    "no status but an allocated size: the allocated size": (claim("2Gi", "1Gi", "", "2Gi"), volume("2Gi"), "2Gi"),
    "FileSystemResizePending from before resize statuses: node pending": (
        claim("2Gi", "1Gi", "", "2Gi", ("FileSystemResizePending",)), volume("2Gi"), None),
    "admin grew the PV past the request: the request": (claim("2Gi", "1Gi"), volume("5Gi"), "2Gi"),
}


@pytest.mark.parametrize("name", TARGETS)
def test_resize_target(name: str) -> None:
    c, pv, want = TARGETS[name]
    assert resize_target(c, pv) == want


def test_in_progress_sets_resizing_status_allocated_size_and_resizer() -> None:
    c = claim("2Gi", "1Gi", conditions=("FileSystemResizePending",))
    c["status"]["conditions"].append({"type": "Other", "status": "True"})
    got = mark_in_progress(c, "2Gi", "orlop.io/local-path", NOW)
    assert got["status"]["allocatedResourceStatuses"] == {"storage": "ControllerResizeInProgress"}
    assert got["status"]["allocatedResources"] == {"storage": "2Gi"}
    assert got["metadata"]["annotations"] == {ANN_RESIZER: "orlop.io/local-path"}
    # keepOldResizeConditions=false: FileSystemResizePending goes, other conditions stay.
    assert got["status"]["conditions"] == [
        {"type": "Other", "status": "True"},
        {"type": "Resizing", "status": "True", "lastProbeTime": None, "lastTransitionTime": NOW}]
    assert c["status"].get("allocatedResourceStatuses") is None       # the input is not changed


def test_in_progress_twice_is_the_same_claim() -> None:
    once = mark_in_progress(claim("2Gi", "1Gi"), "2Gi", "d", NOW)
    assert mark_in_progress(once, "2Gi", "d", "2026-12-07T11:00:00Z") == once


def test_node_pending_keeps_resizing_beside_file_system_resize_pending() -> None:
    got = mark_node_pending(claim("2Gi", "1Gi", "ControllerResizeInProgress", "2Gi", ("Resizing",)), NOW)
    assert got["status"]["allocatedResourceStatuses"] == {"storage": "NodeResizePending"}
    assert got["status"]["conditions"] == [
        {"type": "Resizing", "status": "True", "lastProbeTime": None, "lastTransitionTime": EARLIER},
        {"type": "FileSystemResizePending", "status": "True", "lastProbeTime": None, "lastTransitionTime": NOW,
         "message": FS_PENDING_MESSAGE}]
    assert got["status"]["capacity"] == {"storage": "1Gi"}


def test_finished_has_the_capacity_and_keeps_only_the_allocated_size() -> None:
    c = claim("2Gi", "1Gi", "ControllerResizeInProgress", "2Gi", ("Resizing",))
    got = mark_finished(c, "2Gi", NOW)
    assert got["status"] == {"phase": "Bound", "capacity": {"storage": "2Gi"}, "allocatedResources": {"storage": "2Gi"}}


def test_infeasible_waits_for_a_new_request() -> None:
    c = mark_infeasible(claim("100Pi", "1Gi", "ControllerResizeInProgress", "100Pi", ("Resizing",)), "too big", NOW)
    assert c["status"]["allocatedResourceStatuses"] == {"storage": "ControllerResizeInfeasible"}
    # markControllerExpansionInfeasible: ControllerResizeError in place of Resizing, saying why.
    assert c["status"]["conditions"] == [{"type": "ControllerResizeError", "status": "True", "lastProbeTime": None,
                                          "lastTransitionTime": NOW, "message": "failed to expand pvc with too big"}]
    assert mark_in_progress(c, "2Gi", "d", NOW)["status"]["conditions"] == [
        {"type": "Resizing", "status": "True", "lastProbeTime": None, "lastTransitionTime": NOW}]
    assert infeasible_unchanged(c)
    c["spec"]["resources"]["requests"]["storage"] = "1Gi"       # the user takes it back
    assert not infeasible_unchanged(c)


@pytest.mark.parametrize("request_, capacity, pv_capacity, complete", [
    ("2Gi", "2Gi", "2Gi", True), ("2Gi", "1Gi", "2Gi", False), ("1Gi", "1Gi", "2Gi", False),
    ("1500Mi", "2Gi", "2Gi", True)])
def test_node_expand_complete(request_: str, capacity: str, pv_capacity: str, complete: bool) -> None:
    assert node_expand_complete(claim(request_, capacity), volume(pv_capacity)) is complete


def test_pre_resize_capacity_set_once_and_removed() -> None:
    pv = volume("2Gi")
    marked = with_pre_resize_capacity(pv, "1Gi")
    assert marked is not None and marked["metadata"]["annotations"] == {ANN_PRE_RESIZE_CAPACITY: "1Gi"}
    assert with_pre_resize_capacity(marked, "1500Mi") is None       # the first one stays
    cleared = with_pre_resize_capacity(marked, None)
    assert cleared is not None and "annotations" not in cleared["metadata"]
    assert with_pre_resize_capacity(pv, None) is None
