"""Table printing: objects in, Kubernetes 1.32 cells out (cases follow printers_test.go)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from orlop.registry.printers import (
    human_duration,
    row_conditions,
    table_cells,
    table_columns,
    translate_timestamp_since,
)

NOW = datetime.datetime(2024, 1, 10, 12, 0, 0, tzinfo=datetime.UTC)


def ago(**kw: float) -> str:
    return (NOW - datetime.timedelta(**kw)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "creationTimestamp": ago(hours=5), **extra}


# ------------------------------------------------------------------ durations

@pytest.mark.parametrize(("seconds", "want"), [
    (0, "0s"),
    (1, "1s"),
    (1.9, "1s"),
    (-1, "0s"),
    (-1.5, "0s"),
    (-2, "<invalid>"),
    (70, "70s"),
    (119, "119s"),
    (120, "2m"),
    (190, "3m10s"),
    (599, "9m59s"),
    (600, "10m"),
    (70 * 60, "70m"),
    (3 * 3600 - 1, "179m"),
    (3 * 3600, "3h"),
    (3 * 3600 + 30 * 60, "3h30m"),
    (8 * 3600 + 59 * 60, "8h"),
    (47 * 3600, "47h"),
    (48 * 3600, "2d"),
    (49 * 3600, "2d1h"),
    ((8 * 24 + 2) * 3600, "8d"),
    (367 * 24 * 3600, "367d"),
    ((365 * 2 * 24 + 25) * 3600, "2y1d"),
    (365 * 2 * 24 * 3600, "2y"),
    ((365 * 8 * 24 + 2) * 3600, "8y"),
])
def test_human_duration(seconds: float, want: str) -> None:
    assert human_duration(seconds) == want


@pytest.mark.parametrize(("value", "want"), [
    (None, "<unknown>"),
    ("", "<unknown>"),
    ("not a time", "<unknown>"),
    (ago(seconds=30), "30s"),
    ("2024-01-10T11:59:30.123456Z", "29s"),
    ("2024-01-10T13:00:00+01:00", "0s"),
    (ago(days=3, hours=4), "3d4h"),
])
def test_translate_timestamp_since(value: Any, want: str) -> None:
    assert translate_timestamp_since(value, NOW) == want


def test_naive_now_is_utc() -> None:
    assert translate_timestamp_since(ago(minutes=5), NOW.replace(tzinfo=None)) == "5m"


# ------------------------------------------------------------------ columns

@pytest.mark.parametrize(("kind", "names", "wide"), [
    ("PersistentVolume", ["Name", "Capacity", "Access Modes", "Reclaim Policy", "Status", "Claim", "StorageClass",
                          "VolumeAttributesClass", "Reason", "Age", "VolumeMode"], ["VolumeMode"]),
    ("PersistentVolumeClaim", ["Name", "Status", "Volume", "Capacity", "Access Modes", "StorageClass",
                               "VolumeAttributesClass", "Age", "VolumeMode"], ["VolumeMode"]),
    ("StorageClass", ["Name", "Provisioner", "ReclaimPolicy", "VolumeBindingMode", "AllowVolumeExpansion", "Age"],
     []),
    ("Pod", ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"],
     ["IP", "Node", "Nominated Node", "Readiness Gates"]),
    ("StatefulSet", ["Name", "Ready", "Age", "Containers", "Images"], ["Containers", "Images"]),
    ("Secret", ["Name", "Type", "Data", "Age"], []),
    ("ConfigMap", ["Name", "Data", "Age"], []),
    ("Service", ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"], ["Selector"]),
    ("Endpoints", ["Name", "Endpoints", "Age"], []),
    ("Namespace", ["Name", "Status", "Age"], []),
    ("Node", ["Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP", "OS-Image",
              "Kernel-Version", "Container-Runtime"],
     ["Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"]),
    ("Event", ["Last Seen", "Type", "Reason", "Object", "Subobject", "Source", "Message", "First Seen", "Count",
               "Name"], ["Subobject", "Source", "First Seen", "Count", "Name"]),
    ("Lease", ["Name", "Holder", "Age"], []),
    ("Widget", ["Name", "Created At"], []),   # a kind without a printer
])
def test_columns(kind: str, names: list[str], wide: list[str]) -> None:
    cols = table_columns(kind)
    assert [c["name"] for c in cols] == names
    assert [c["name"] for c in cols if c["priority"] == 1] == wide
    for c in cols:
        assert set(c) == {"name", "type", "format", "description", "priority"}
        assert c["description"]


def test_column_details() -> None:
    pod = {c["name"]: c for c in table_columns("Pod")}
    assert pod["Name"]["format"] == "name" and pod["Name"]["type"] == "string"
    assert pod["Name"]["description"].endswith(
        "More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
    assert pod["Restarts"]["type"] == "string"  # a string since 1.23: "3 (5m ago)"
    assert pod["Ready"]["format"] == ""
    assert pod["Age"]["description"].startswith("CreationTimestamp is a timestamp")
    assert "\n\nPopulated by the system." in pod["Age"]["description"]
    default = table_columns("Anything")
    assert default[1] == {"name": "Created At", "type": "date", "format": "",
                          "description": pod["Age"]["description"], "priority": 0}
    event = {c["name"]: c for c in table_columns("Event")}
    assert event["Name"]["format"] == "name" and event["Name"]["priority"] == 1
    pv = {c["name"]: c for c in table_columns("PersistentVolume")}
    assert pv["StorageClass"]["description"] == "StorageClass of the pv"
    assert "Possible enum values" not in pv["Reclaim Policy"]["description"]


def test_columns_are_copies() -> None:
    table_columns("Pod")[0]["name"] = "changed"
    assert table_columns("Pod")[0]["name"] == "Name"


# ------------------------------------------------------------------ storage kinds

PV_CASES: list[tuple[str, dict[str, Any], list[Any]]] = [
    ("bound", {
        "metadata": meta("pv-1"),
        "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "fast",
                 "claimRef": {"namespace": "default", "name": "data"}, "volumeMode": "Filesystem"},
        "status": {"phase": "Bound"},
    }, ["pv-1", "10Gi", "RWO,RWX", "Retain", "Bound", "default/data", "fast", "<unset>", "", "5h", "Filesystem"]),
    ("terminating, failed with reason", {
        "metadata": meta("pv-2", deletionTimestamp=ago(seconds=10)),
        "spec": {"capacity": {"storage": "1024Mi"}, "accessModes": ["ReadWriteOncePod", "ReadOnlyMany"],
                 "persistentVolumeReclaimPolicy": "Delete", "volumeAttributesClassName": "gold",
                 "volumeMode": "Block"},
        "status": {"phase": "Failed", "reason": "VolumeFailedDelete"},
    }, ["pv-2", "1Gi", "ROX,RWOP", "Delete", "Terminating", "", "", "gold", "VolumeFailedDelete", "5h", "Block"]),
    ("empty: no capacity, no mode, no claim", {
        "metadata": {"name": "pv-3"},
        "spec": {},
        "status": {"phase": "Available"},
    }, ["pv-3", "0", "", "", "Available", "", "", "<unset>", "", "<unknown>", "<unset>"]),
    ("beta class annotation wins over storageClassName", {
        "metadata": meta("pv-4", annotations={"volume.beta.kubernetes.io/storage-class": "beta"}),
        "spec": {"storageClassName": "ga", "claimRef": {"name": "c"}},
        "status": {"phase": "Released"},
    }, ["pv-4", "0", "", "", "Released", "/c", "beta", "<unset>", "", "5h", "<unset>"]),
]


@pytest.mark.parametrize(("obj", "want"), [c[1:] for c in PV_CASES], ids=[c[0] for c in PV_CASES])
def test_persistent_volume(obj: dict[str, Any], want: list[Any]) -> None:
    assert table_cells("PersistentVolume", obj, NOW) == want


PVC_CASES: list[tuple[str, dict[str, Any], list[Any]]] = [
    ("pending: capacity and modes only once bound", {
        "metadata": meta("data"),
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                 "storageClassName": "standard"},
        "status": {"phase": "Pending"},
    }, ["data", "Pending", "", "", "", "standard", "<unset>", "5h", "<unset>"]),
    ("bound: from status", {
        "metadata": meta("data"),
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                 "storageClassName": "standard", "volumeName": "pvc-123", "volumeMode": "Filesystem",
                 "volumeAttributesClassName": "silver"},
        "status": {"phase": "Bound", "capacity": {"storage": "0.5Gi"},
                   "accessModes": ["ReadWriteMany", "ReadWriteOnce"]},
    }, ["data", "Bound", "pvc-123", "512Mi", "RWO,RWX", "standard", "silver", "5h", "Filesystem"]),
    ("volumeName set, status empty", {
        "metadata": meta("data"),
        "spec": {"volumeName": "pv-x"},
        "status": {"phase": "Pending"},
    }, ["data", "Pending", "pv-x", "0", "", "", "<unset>", "5h", "<unset>"]),
    ("terminating with beta class annotation", {
        "metadata": meta("old", deletionTimestamp=ago(seconds=1),
                         annotations={"volume.beta.kubernetes.io/storage-class": "legacy"}),
        "spec": {"storageClassName": "standard", "volumeName": "pv-1"},
        "status": {"phase": "Bound", "capacity": {"storage": "5Gi"}, "accessModes": ["ReadOnlyMany"]},
    }, ["old", "Terminating", "pv-1", "5Gi", "ROX", "legacy", "<unset>", "5h", "<unset>"]),
]


@pytest.mark.parametrize(("obj", "want"), [c[1:] for c in PVC_CASES], ids=[c[0] for c in PVC_CASES])
def test_persistent_volume_claim(obj: dict[str, Any], want: list[Any]) -> None:
    assert table_cells("PersistentVolumeClaim", obj, NOW) == want


SC_CASES: list[tuple[str, dict[str, Any], list[Any]]] = [
    ("defaults", {"metadata": meta("std"), "provisioner": "orlop.io/local"},
     ["std", "orlop.io/local", "Delete", "Immediate", False, "5h"]),
    ("default class, explicit fields", {
        "metadata": meta("fast", annotations={"storageclass.kubernetes.io/is-default-class": "true"}),
        "provisioner": "p", "reclaimPolicy": "Retain", "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }, ["fast (default)", "p", "Retain", "WaitForFirstConsumer", True, "5h"]),
    ("beta default annotation", {
        "metadata": meta("beta", annotations={"storageclass.beta.kubernetes.io/is-default-class": "true"}),
        "provisioner": "p", "allowVolumeExpansion": False,
    }, ["beta (default)", "p", "Delete", "Immediate", False, "5h"]),
    ("annotation not exactly true", {
        "metadata": meta("no", annotations={"storageclass.kubernetes.io/is-default-class": "True"}),
        "provisioner": "p",
    }, ["no", "p", "Delete", "Immediate", False, "5h"]),
]


@pytest.mark.parametrize(("obj", "want"), [c[1:] for c in SC_CASES], ids=[c[0] for c in SC_CASES])
def test_storage_class(obj: dict[str, Any], want: list[Any]) -> None:
    assert table_cells("StorageClass", obj, NOW) == want


# ------------------------------------------------------------------ pods

def pod(status: dict[str, Any], *, containers: int = 1, init: list[dict[str, Any]] | None = None,
        deleting: bool = False, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    m: dict[str, Any] = {"name": "p"}
    if deleting:
        m["deletionTimestamp"] = ago(seconds=10)
    s = {"containers": [{"name": f"c{i}", "image": "busybox"} for i in range(containers)], **(spec or {})}
    if init is not None:
        s["initContainers"] = init
    return {"metadata": m, "spec": s, "status": status}


RUNNING = {"running": {"startedAt": ago(hours=1)}}
POD_CASES: list[tuple[str, dict[str, Any], list[Any]]] = [
    ("restarts summed, one ready", pod({"phase": "podPhase", "containerStatuses": [
        {"ready": True, "restartCount": 3, "state": RUNNING},
        {"restartCount": 3, "state": {}},
    ]}, containers=2), ["p", "1/2", "podPhase", "6", "<unknown>"]),
    ("waiting reason overwrites phase", pod({"phase": "podPhase", "containerStatuses": [
        {"ready": True, "restartCount": 3, "state": RUNNING},
        {"restartCount": 3, "state": {"waiting": {"reason": "ContainerWaitingReason"}}},
    ]}, containers=2), ["p", "1/2", "ContainerWaitingReason", "6", "<unknown>"]),
    ("first container's reason wins", pod({"phase": "podPhase", "containerStatuses": [
        {"restartCount": 3, "state": {"waiting": {"reason": "ContainerWaitingReason"}}},
        {"restartCount": 3, "state": {"terminated": {"reason": "ContainerTerminatedReason"}}},
    ]}, containers=2), ["p", "0/2", "ContainerWaitingReason", "6", "<unknown>"]),
    ("ready without running is not ready", pod({"phase": "podPhase", "containerStatuses": [
        {"ready": True, "restartCount": 3, "state": RUNNING},
        {"ready": True, "restartCount": 3},
    ]}, containers=2), ["p", "1/2", "podPhase", "6", "<unknown>"]),
    ("pod reason overrides phase", pod({"phase": "podPhase", "reason": "podReason", "containerStatuses": [
        {"ready": True, "restartCount": 3, "state": RUNNING},
    ]}), ["p", "1/1", "podReason", "3", "<unknown>"]),
    ("completed + running without Ready condition", pod({"phase": "Running", "containerStatuses": [
        {"ready": True, "restartCount": 3, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
        {"ready": True, "restartCount": 3, "state": RUNNING},
    ]}, containers=2), ["p", "1/2", "NotReady", "6", "<unknown>"]),
    ("completed + running with Ready condition", pod({
        "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [
            {"ready": True, "restartCount": 3, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
            {"ready": True, "restartCount": 3, "state": RUNNING},
        ]}, containers=2), ["p", "1/2", "Running", "6", "<unknown>"]),
    ("init container restarting", pod({"phase": "podPhase", "initContainerStatuses": [
        {"name": "i0", "ready": False, "restartCount": 3, "state": RUNNING,
         "lastState": {"terminated": {"finishedAt": ago(seconds=10)}}},
    ], "containerStatuses": [{"ready": False, "restartCount": 0, "state": {"waiting": {}}}]},
        init=[{"name": "i0"}]), ["p", "0/1", "Init:0/1", "3 (10s ago)", "<unknown>"]),
    ("second init container running after a completed one", pod({"phase": "podPhase", "initContainerStatuses": [
        {"name": "i0", "restartCount": 2, "state": {"terminated": {}},
         "lastState": {"terminated": {"finishedAt": ago(minutes=2)}}},
        {"name": "i1", "restartCount": 3, "state": RUNNING,
         "lastState": {"terminated": {"finishedAt": ago(seconds=10)}}},
    ], "containerStatuses": [{"state": {"waiting": {}}}]},
        init=[{"name": "i0"}, {"name": "i1"}]), ["p", "0/1", "Init:1/2", "5 (10s ago)", "<unknown>"]),
    ("init done: only container restarts count", pod({"phase": "Running", "initContainerStatuses": [
        {"name": "i0", "restartCount": 2, "state": {"terminated": {}},
         "lastState": {"terminated": {"finishedAt": ago(minutes=2)}}},
    ], "containerStatuses": [
        {"restartCount": 4, "state": RUNNING, "lastState": {"terminated": {"finishedAt": ago(seconds=20)}}},
    ]}, init=[{"name": "i0"}]), ["p", "0/1", "Running", "4 (20s ago)", "<unknown>"]),
    ("init container failed with reason", pod({"phase": "Pending", "initContainerStatuses": [
        {"name": "i0", "state": {"terminated": {"reason": "Error", "exitCode": 1}}},
    ]}, init=[{"name": "i0"}]), ["p", "0/1", "Init:Error", "0", "<unknown>"]),
    ("init container exit code without reason", pod({"phase": "Pending", "initContainerStatuses": [
        {"name": "i0", "state": {"terminated": {"exitCode": 2}}},
    ]}, init=[{"name": "i0"}]), ["p", "0/1", "Init:ExitCode:2", "0", "<unknown>"]),
    ("init container killed by signal", pod({"phase": "Pending", "initContainerStatuses": [
        {"name": "i0", "state": {"terminated": {"exitCode": 137, "signal": 9}}},
    ]}, init=[{"name": "i0"}]), ["p", "0/1", "Init:Signal:9", "0", "<unknown>"]),
    ("init container crash looping", pod({"phase": "Pending", "initContainerStatuses": [
        {"name": "i0", "restartCount": 5, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
         "lastState": {"terminated": {"finishedAt": ago(minutes=3)}}},
    ]}, init=[{"name": "i0"}]), ["p", "0/1", "Init:CrashLoopBackOff", "5 (3m ago)", "<unknown>"]),
    ("PodInitializing is not an init reason", pod({"phase": "Pending", "initContainerStatuses": [
        {"name": "i0", "state": {"waiting": {"reason": "PodInitializing"}}},
    ]}, init=[{"name": "i0"}]), ["p", "0/1", "Init:0/1", "0", "<unknown>"]),
    ("restart 5d ago", pod({"phase": "Running", "containerStatuses": [
        {"ready": True, "restartCount": 3, "state": RUNNING,
         "lastState": {"terminated": {"finishedAt": ago(days=5)}}},
    ]}), ["p", "1/1", "Running", "3 (5d ago)", "<unknown>"]),
    ("latest of two restarts", pod({"phase": "Running", "containerStatuses": [
        {"ready": True, "restartCount": 6, "state": RUNNING,
         "lastState": {"terminated": {"finishedAt": ago(days=5)}}},
        {"ready": True, "restartCount": 3, "state": RUNNING,
         "lastState": {"terminated": {"finishedAt": ago(days=20)}}},
    ]}, containers=2), ["p", "2/2", "Running", "9 (5d ago)", "<unknown>"]),
    ("scheduling gated", pod({"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}, containers=2),
     ["p", "0/2", "SchedulingGated", "0", "<unknown>"]),
    ("succeeded", pod({"phase": "Succeeded", "containerStatuses": [
        {"state": {"terminated": {"reason": "Completed", "exitCode": 0}}}]}),
     ["p", "0/1", "Completed", "0", "<unknown>"]),
    ("failed", pod({"phase": "Failed", "containerStatuses": [
        {"state": {"terminated": {"reason": "Error", "exitCode": 1}}}]}),
     ["p", "0/1", "Error", "0", "<unknown>"]),
    ("container exit code without reason", pod({"phase": "Failed", "containerStatuses": [
        {"state": {"terminated": {"exitCode": 3}}}]}), ["p", "0/1", "ExitCode:3", "0", "<unknown>"]),
    ("container killed by signal", pod({"phase": "Failed", "containerStatuses": [
        {"state": {"terminated": {"exitCode": 0, "signal": 15}}}]}), ["p", "0/1", "Signal:15", "0", "<unknown>"]),
    ("succeeded while deleting stays Completed", pod({"phase": "Succeeded", "containerStatuses": [
        {"state": {"terminated": {"reason": "Completed", "exitCode": 0}}}]}, deleting=True),
     ["p", "0/1", "Completed", "0", "<unknown>"]),
    ("running while deleting", pod({"phase": "Running", "containerStatuses": [
        {"state": RUNNING}]}, deleting=True), ["p", "0/1", "Terminating", "0", "<unknown>"]),
    ("pending while deleting", pod({"phase": "Pending"}, deleting=True),
     ["p", "0/1", "Terminating", "0", "<unknown>"]),
    ("node lost while deleting", pod({"phase": "Running", "reason": "NodeLost"}, deleting=True),
     ["p", "0/1", "Unknown", "0", "<unknown>"]),
    ("container creating", pod({"phase": "Pending", "containerStatuses": [
        {"state": {"waiting": {"reason": "ContainerCreating"}}}]}),
     ["p", "0/1", "ContainerCreating", "0", "<unknown>"]),
    ("crash loop", pod({"phase": "Running", "containerStatuses": [
        {"restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
         "lastState": {"terminated": {"finishedAt": ago(seconds=45), "exitCode": 1}}}]}),
     ["p", "0/1", "CrashLoopBackOff", "4 (45s ago)", "<unknown>"]),
]


@pytest.mark.parametrize(("obj", "want"), [c[1:] for c in POD_CASES], ids=[c[0] for c in POD_CASES])
def test_pod_status_ready_restarts(obj: dict[str, Any], want: list[Any]) -> None:
    assert table_cells("Pod", obj, NOW)[:5] == want


RESTARTABLE_CASES: list[tuple[str, dict[str, Any], list[Any]]] = [
    ("sidecar running, not started", pod({"phase": "Pending", "initContainerStatuses": [
        {"name": "s1", "restartCount": 3, "state": RUNNING, "started": False,
         "lastState": {"terminated": {"finishedAt": ago(seconds=10)}}},
        {"name": "s2", "state": {"waiting": {}}, "started": False},
    ], "containerStatuses": [{"state": {"waiting": {}}}]},
        init=[{"name": "s1", "restartPolicy": "Always"}, {"name": "s2", "restartPolicy": "Always"}]),
     ["p", "0/3", "Init:0/2", "3 (10s ago)", "<unknown>"]),
    ("sidecars started and ready, app running", pod({
        "phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
        "initContainerStatuses": [
            {"name": "s1", "restartCount": 3, "state": RUNNING, "started": True, "ready": True,
             "lastState": {"terminated": {"finishedAt": ago(seconds=10)}}},
        ],
        "containerStatuses": [{"ready": True, "restartCount": 4, "state": RUNNING,
                               "lastState": {"terminated": {"finishedAt": ago(seconds=20)}}}]},
        init=[{"name": "s1", "restartPolicy": "Always"}]),
     ["p", "2/2", "Running", "7 (10s ago)", "<unknown>"]),
]


@pytest.mark.parametrize(("obj", "want"), [c[1:] for c in RESTARTABLE_CASES],
                         ids=[c[0] for c in RESTARTABLE_CASES])
def test_pod_restartable_init_containers(obj: dict[str, Any], want: list[Any]) -> None:
    assert table_cells("Pod", obj, NOW)[:5] == want


@pytest.mark.parametrize(("obj", "want"), [
    (pod({"phase": "Pending"}), ["<none>", "<none>", "<none>", "<none>"]),
    (pod({"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}],
          "nominatedNodeName": "node-b",
          "conditions": [{"type": "gate-a", "status": "True"}, {"type": "gate-b", "status": "False"}]},
         spec={"nodeName": "node-a", "readinessGates": [{"conditionType": "gate-a"}, {"conditionType": "gate-b"},
                                                        {"conditionType": "gate-c"}]}),
     ["10.0.0.5", "node-a", "node-b", "1/3"]),
    (pod({"phase": "Running", "podIP": "10.0.0.9"}), ["10.0.0.9", "<none>", "<none>", "<none>"]),
])
def test_pod_wide_cells(obj: dict[str, Any], want: list[Any]) -> None:
    assert table_cells("Pod", obj, NOW)[5:] == want


def test_pod_age() -> None:
    obj = pod({"phase": "Running"})
    obj["metadata"]["creationTimestamp"] = ago(minutes=3, seconds=20)
    assert table_cells("Pod", obj, NOW)[4] == "3m20s"


@pytest.mark.parametrize(("phase", "want"), [
    ("Succeeded", [{"type": "Completed", "status": "True", "reason": "Succeeded",
                    "message": "The pod has completed successfully."}]),
    ("Failed", [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]),
    ("Running", []),
])
def test_pod_row_conditions(phase: str, want: list[dict[str, str]]) -> None:
    assert row_conditions("Pod", pod({"phase": phase})) == want
    assert row_conditions("PersistentVolumeClaim", {"status": {"phase": phase}}) == []


# ------------------------------------------------------------------ workloads and config

STS_TEMPLATE = {"spec": {"containers": [{"name": "web", "image": "nginx:1.25"},
                                        {"name": "sidecar", "image": "busybox"}]}}


@pytest.mark.parametrize(("obj", "want"), [
    ({"metadata": meta("web"), "spec": {"replicas": 3, "template": STS_TEMPLATE}, "status": {"readyReplicas": 2}},
     ["web", "2/3", "5h", "web,sidecar", "nginx:1.25,busybox"]),
    ({"metadata": meta("web"), "spec": {"template": STS_TEMPLATE}, "status": {}},
     ["web", "0/1", "5h", "web,sidecar", "nginx:1.25,busybox"]),
    ({"metadata": meta("zero"), "spec": {"replicas": 0}}, ["zero", "0/0", "5h", "", ""]),
])
def test_statefulset(obj: dict[str, Any], want: list[Any]) -> None:
    assert table_cells("StatefulSet", obj, NOW) == want


@pytest.mark.parametrize(("kind", "obj", "want"), [
    ("Secret", {"metadata": meta("s"), "type": "kubernetes.io/tls", "data": {"tls.crt": "eA==", "tls.key": "eQ=="}},
     ["s", "kubernetes.io/tls", 2, "5h"]),
    ("Secret", {"metadata": meta("s")}, ["s", "Opaque", 0, "5h"]),
    ("ConfigMap", {"metadata": meta("cm"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}},
     ["cm", 3, "5h"]),
    ("ConfigMap", {"metadata": meta("cm")}, ["cm", 0, "5h"]),
    ("Namespace", {"metadata": meta("default"), "status": {"phase": "Active"}}, ["default", "Active", "5h"]),
    ("Namespace", {"metadata": meta("gone", deletionTimestamp=ago(seconds=3)), "status": {"phase": "Terminating"}},
     ["gone", "Terminating", "5h"]),
    ("Lease", {"metadata": meta("leader"), "spec": {"holderIdentity": "orlop-1"}}, ["leader", "orlop-1", "5h"]),
    ("Lease", {"metadata": meta("free"), "spec": {}}, ["free", "", "5h"]),
    ("Widget", {"metadata": {"name": "snap", "creationTimestamp": "2024-01-01T01:02:03Z"}},
     ["snap", "2024-01-01T01:02:03Z"]),
    ("Widget", {"metadata": {"name": "snap", "creationTimestamp": "2024-01-01T03:02:03+02:00"}},
     ["snap", "2024-01-01T01:02:03Z"]),
    ("CSIDriver", {"metadata": {"name": "x"}}, ["x", "0001-01-01T00:00:00Z"]),
])
def test_simple_kinds(kind: str, obj: dict[str, Any], want: list[Any]) -> None:
    assert table_cells(kind, obj, NOW) == want


# ------------------------------------------------------------------ services and endpoints

def svc(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "svc"}, "spec": spec, "status": status or {}}


@pytest.mark.parametrize(("obj", "want"), [
    (svc({"type": "ClusterIP", "clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"],
          "ports": [{"port": 80, "protocol": "TCP"}], "selector": {"app": "web", "tier": "fe"}}),
     ["svc", "ClusterIP", "10.0.0.1", "<none>", "80/TCP", "<unknown>", "app=web,tier=fe"]),
    (svc({"type": "NodePort", "clusterIPs": ["10.0.0.2"], "externalIPs": ["1.2.3.4"],
          "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}),
     ["svc", "NodePort", "10.0.0.2", "1.2.3.4", "80:30080/TCP,53/UDP", "<unknown>", "<none>"]),
    (svc({"type": "LoadBalancer", "clusterIPs": ["1.5.6.7"], "externalIPs": ["5.6.7.8"],
          "ports": [{"port": 80, "protocol": "TCP"}, {"port": 8090, "protocol": "UDP"},
                    {"port": 8000, "protocol": "TCP"}], "selector": {"foo": "bar"}},
         {"loadBalancer": {"ingress": [{"ip": "3.4.5.6"}, {"ip": "2.3.4.5"}]}}),
     ["svc", "LoadBalancer", "1.5.6.7", "2.3.4.5,3.4.5.6,5.6.7.8", "80/TCP,8090/UDP,8000/TCP", "<unknown>",
      "foo=bar"]),
    (svc({"type": "LoadBalancer", "clusterIPs": ["10.0.0.3"], "ports": [{"port": 443, "protocol": "TCP"}]}),
     ["svc", "LoadBalancer", "10.0.0.3", "<pending>", "443/TCP", "<unknown>", "<none>"]),
    (svc({"type": "LoadBalancer", "clusterIPs": ["10.0.0.3"]},
         {"loadBalancer": {"ingress": [{"hostname": "a-very-long-hostname.example.com"}]}}),
     ["svc", "LoadBalancer", "10.0.0.3", "a-very-long-hostname.example.com", "<none>", "<unknown>", "<none>"]),
    (svc({"type": "ExternalName", "externalName": "db.example.com"}),
     ["svc", "ExternalName", "<none>", "db.example.com", "<none>", "<unknown>", "<none>"]),
    (svc({"clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 80}]}),
     ["svc", "ClusterIP", "None", "<none>", "80/TCP", "<unknown>", "<none>"]),
])
def test_service(obj: dict[str, Any], want: list[Any]) -> None:
    assert table_cells("Service", obj, NOW) == want


@pytest.mark.parametrize(("subsets", "want"), [
    (None, "<none>"),
    ([], "<none>"),
    ([{"addresses": [{"ip": "10.1.1.1"}, {"ip": "10.1.1.2"}], "ports": [{"port": 8080, "name": "http"}]}],
     "10.1.1.1:8080,10.1.1.2:8080"),
    ([{"addresses": [{"ip": "10.1.1.1"}]}], "10.1.1.1"),
    ([{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}], "[fd00::1]:80"),
    ([{"addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 6)], "ports": [{"port": 80}]}],
     "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more..."),
    ([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}, {"port": 443}]}],
     "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more..."),
    ([{"notReadyAddresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}], ""),
])
def test_endpoints(subsets: Any, want: str) -> None:
    obj: dict[str, Any] = {"metadata": meta("ep")}
    if subsets is not None:
        obj["subsets"] = subsets
    assert table_cells("Endpoints", obj, NOW) == ["ep", want, "5h"]


# ------------------------------------------------------------------ nodes

def node(conditions: list[dict[str, Any]], *, labels: dict[str, str] | None = None,
         unschedulable: bool = False, addresses: list[dict[str, str]] | None = None,
         info: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": meta("n1", labels=labels or {}),
            "spec": {"unschedulable": True} if unschedulable else {},
            "status": {"conditions": conditions, "addresses": addresses or [], "nodeInfo": info or {}}}


@pytest.mark.parametrize(("obj", "want"), [
    (node([{"type": "Ready", "status": "True"}], info={"kubeletVersion": "v1.32.0"}),
     ["n1", "Ready", "<none>", "5h", "v1.32.0", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"]),
    (node([{"type": "Ready", "status": "False"}, {"type": "MemoryPressure", "status": "True"}]),
     ["n1", "NotReady", "<none>", "5h", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"]),
    (node([{"type": "Ready", "status": "Unknown"}], unschedulable=True),
     ["n1", "NotReady,SchedulingDisabled", "<none>", "5h", "", "<none>", "<none>", "<unknown>", "<unknown>",
      "<unknown>"]),
    (node([], unschedulable=True),
     ["n1", "Unknown,SchedulingDisabled", "<none>", "5h", "", "<none>", "<none>", "<unknown>", "<unknown>",
      "<unknown>"]),
    (node([{"type": "Ready", "status": "True"}],
          labels={"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": "",
                  "node-role.kubernetes.io/": "x", "kubernetes.io/role": "infra", "other": "y"},
          addresses=[{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "192.168.1.10"},
                     {"type": "ExternalIP", "address": "203.0.113.7"}],
          info={"kubeletVersion": "v1.32.1", "osImage": "Debian GNU/Linux 12 (bookworm)",
                "kernelVersion": "6.1.0", "containerRuntimeVersion": "containerd://1.7.0"}),
     ["n1", "Ready", "control-plane,infra,worker", "5h", "v1.32.1", "192.168.1.10", "203.0.113.7",
      "Debian GNU/Linux 12 (bookworm)", "6.1.0", "containerd://1.7.0"]),
])
def test_node(obj: dict[str, Any], want: list[Any]) -> None:
    assert table_cells("Node", obj, NOW) == want


# ------------------------------------------------------------------ events

def event(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "metadata": {"name": "data.17a", "namespace": "default"},
        "involvedObject": {"kind": "PersistentVolumeClaim", "name": "data", "namespace": "default"},
        "reason": "ProvisioningSucceeded", "type": "Normal",
        "message": "  Successfully provisioned volume pvc-1\n",
        "source": {"component": "orlop-provisioner"},
    }
    base.update(fields)
    return base


@pytest.mark.parametrize(("obj", "want"), [
    (event(firstTimestamp=ago(minutes=5), lastTimestamp=ago(minutes=1), count=3),
     ["60s", "Normal", "ProvisioningSucceeded", "persistentvolumeclaim/data", "", "orlop-provisioner",
      "Successfully provisioned volume pvc-1", "5m", 3, "data.17a"]),
    (event(firstTimestamp=ago(seconds=30)),
     ["30s", "Normal", "ProvisioningSucceeded", "persistentvolumeclaim/data", "", "orlop-provisioner",
      "Successfully provisioned volume pvc-1", "30s", 1, "data.17a"]),
    (event(eventTime="2024-01-10T11:58:00.000000Z", source={}, reportingComponent="ctrl",
           reportingInstance="ctrl-0", series={"count": 7, "lastObservedTime": "2024-01-10T11:59:50.000000Z"}),
     ["10s", "Normal", "ProvisioningSucceeded", "persistentvolumeclaim/data", "", "ctrl, ctrl-0",
      "Successfully provisioned volume pvc-1", "2m", 7, "data.17a"]),
    (event(involvedObject={"kind": "Pod", "name": "web-0", "fieldPath": "spec.containers{web}"},
           type="Warning", reason="BackOff", source={"component": "kubelet", "host": "node-1"},
           firstTimestamp=ago(hours=2), lastTimestamp=ago(minutes=4), count=12),
     ["4m", "Warning", "BackOff", "pod/web-0", "spec.containers{web}", "kubelet, node-1",
      "Successfully provisioned volume pvc-1", "120m", 12, "data.17a"]),
    (event(involvedObject={"kind": "Node"}, source={}),
     ["<unknown>", "Normal", "ProvisioningSucceeded", "node", "", "", "Successfully provisioned volume pvc-1",
      "<unknown>", 1, "data.17a"]),
])
def test_event(obj: dict[str, Any], want: list[Any]) -> None:
    assert table_cells("Event", obj, NOW) == want


def test_every_printer_fills_every_column() -> None:
    samples = {
        "PersistentVolume": PV_CASES[0][1], "PersistentVolumeClaim": PVC_CASES[1][1],
        "StorageClass": SC_CASES[1][1], "Pod": POD_CASES[0][1],
        "StatefulSet": {"metadata": meta("w"), "spec": {"replicas": 1}},
        "Secret": {"metadata": meta("s")}, "ConfigMap": {"metadata": meta("c")},
        "Service": svc({"type": "ClusterIP"}), "Endpoints": {"metadata": meta("e")},
        "Namespace": {"metadata": meta("n")}, "Node": node([]), "Event": event(), "Lease": {"metadata": meta("l")},
        "Other": {"metadata": meta("o")},
    }
    for kind, obj in samples.items():
        assert len(table_cells(kind, obj, NOW)) == len(table_columns(kind)), kind


@pytest.mark.parametrize(("storage", "want"), [("1Gi", "1Gi"), ("1024Mi", "1Gi"), ("1000M", "1G"),
                                               ("bogus", "bogus"), (None, "0")])
def test_capacity_is_printed_canonical(storage: Any, want: str) -> None:
    spec: dict[str, Any] = {"capacity": {"storage": storage}} if storage is not None else {}
    assert table_cells("PersistentVolume", {"metadata": meta("pv"), "spec": spec}, NOW)[1] == want
