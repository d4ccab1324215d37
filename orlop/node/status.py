"""A pod's status as the kubelet reports it, as a pure function.

Why this exists: ``kubectl get pods`` (STATUS, READY, RESTARTS columns), ``kubectl wait
--for=condition=Ready`` and controllers (StatefulSet readiness) read exactly the fields a
kubelet writes: phase by kubelet's getPhase rules, the conditions
PodReadyToStartContainers / Initialized / Ready / ContainersReady / PodScheduled with
kubelet's reasons and messages and stable lastTransitionTimes, and per container the
state (waiting / running / terminated), lastState, ready, started, restartCount, image,
imageID and containerID.  Inputs: the pod, the runtime's container instances and the
agent's plan; output: the new ``status``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .plan import CONTAINER_CREATING, Plan, latest
from .runtime import EXITED, RUNNING, ContainerStatus

CONDITION_ORDER = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")


def image_name(image: str) -> str:
    """The fully qualified reference containerd reports: nginx -> docker.io/library/nginx:latest."""
    if not image:
        return image
    name, digest = image, ""
    if "@" in name:
        name, digest = name.split("@", 1)
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        name = "docker.io/" + (name if rest else "library/" + name)
    if digest:
        return f"{name}@{digest}"
    if ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name


def image_id(image: str) -> str:
    """A stable digest-form id for an image that is recorded, not pulled: a hash of its name."""
    full = image_name(image)
    if "@" in full:
        return full
    repo = full.rsplit(":", 1)[0] if ":" in full.rsplit("/", 1)[-1] else full
    return f"{repo}@sha256:{hashlib.sha256(full.encode()).hexdigest()}"


def _terminated(st: ContainerStatus) -> dict[str, Any]:
    out: dict[str, Any] = {"exitCode": st.exit_code if st.exit_code is not None else 0,
                           "reason": st.reason or ("Completed" if not st.exit_code else "Error")}
    if st.message:
        out["message"] = st.message
    out.update({"startedAt": st.started_at, "finishedAt": st.finished_at, "containerID": f"orlop://{st.id}"})
    return out


def container_status(c: dict[str, Any], instances: list[ContainerStatus], waiting: tuple[str, str] | None) -> dict[str, Any]:
    """One entry of containerStatuses / initContainerStatuses."""
    cur = instances[-1] if instances else None
    prev = instances[-2] if len(instances) > 1 else None
    out: dict[str, Any] = {"name": c["name"], "state": {}, "lastState": {}, "ready": False,
                           "restartCount": cur.attempt if cur else 0, "image": image_name(c.get("image", "")),
                           "imageID": "", "started": False}
    if cur is not None:
        out["imageID"] = image_id(c.get("image", ""))
        out["containerID"] = f"orlop://{cur.id}"
    if waiting is not None or cur is None:
        reason, message = waiting or (CONTAINER_CREATING, "")
        out["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        if cur is not None and cur.state == EXITED:
            out["lastState"] = {"terminated": _terminated(cur)}
        elif prev is not None:
            out["lastState"] = {"terminated": _terminated(prev)}
        return out
    if cur.state == RUNNING:
        out["state"] = {"running": {"startedAt": cur.started_at}}
        out["ready"] = out["started"] = True
    else:
        out["state"] = {"terminated": _terminated(cur)}
    if prev is not None and prev.state == EXITED:
        out["lastState"] = {"terminated": _terminated(prev)}
    return out


def pod_phase(pod: dict[str, Any], statuses: list[ContainerStatus], p: Plan) -> str:
    """kubelet's getPhase."""
    spec = pod.get("spec") or {}
    policy = spec.get("restartPolicy") or "Always"
    if p.init_failed:
        return "Failed"
    if not p.initialized:
        return "Pending"
    cur = latest(statuses)
    running = waiting = stopped = succeeded = 0
    for c in spec.get("containers") or []:
        st = cur.get(c["name"])
        if st is None:
            waiting += 1
        elif st.state == RUNNING:
            running += 1
        else:
            stopped += 1
            if st.exit_code == 0:
                succeeded += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _cond(ctype: str, status: bool, reason: str = "", message: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"type": ctype, "status": "True" if status else "False", "lastProbeTime": None}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def pod_status(pod: dict[str, Any], statuses: list[ContainerStatus], p: Plan, *, host_ip: str, start_time: str,
               sandbox_ready: bool, now: str) -> dict[str, Any]:
    """The whole new ``status`` of the pod (fields the kubelet does not own are kept)."""
    spec = pod.get("spec") or {}
    old = pod.get("status") or {}
    by_name: dict[str, list[ContainerStatus]] = {}
    for s in sorted(statuses, key=lambda s: s.attempt):
        by_name.setdefault(s.name, []).append(s)
    phase = pod_phase(pod, statuses, p)
    terminal = phase in ("Succeeded", "Failed")
    inits = spec.get("initContainers") or []
    init_statuses = [container_status(c, by_name.get(c["name"], []), p.waiting.get(c["name"])) for c in inits]
    cstatuses = [container_status(c, by_name.get(c["name"], []), p.waiting.get(c["name"]))
                 for c in spec.get("containers") or []]
    if terminal:
        for cs in cstatuses + init_statuses:
            cs["ready"] = False

    conds: list[dict[str, Any]] = [_cond("PodReadyToStartContainers", sandbox_ready and not terminal)]
    if not inits:
        conds.append(_cond("Initialized", True))
    elif phase == "Succeeded":
        conds.append(_cond("Initialized", True, "PodCompleted"))
    elif p.initialized:
        conds.append(_cond("Initialized", True))
    else:
        pending = [cs["name"] for cs in init_statuses if (cs["state"].get("terminated") or {}).get("exitCode") != 0]
        conds.append(_cond("Initialized", False, "ContainersNotInitialized",
                           f"containers with incomplete status: [{' '.join(pending)}]"))
    unready = [cs["name"] for cs in cstatuses if not cs["ready"]]
    if phase == "Succeeded":
        ready = [_cond("Ready", False, "PodCompleted"), _cond("ContainersReady", False, "PodCompleted")]
    elif unready:
        msg = f"containers with unready status: [{' '.join(unready)}]"
        ready = [_cond("Ready", False, "ContainersNotReady", msg), _cond("ContainersReady", False, "ContainersNotReady",
                                                                         msg)]
    else:
        ready = [_cond("Ready", True), _cond("ContainersReady", True)]
    conds += ready
    old_conds = {c.get("type"): c for c in old.get("conditions") or [] if isinstance(c, dict)}
    conds.append(old_conds.get("PodScheduled") or _cond("PodScheduled", True))
    for c in conds:
        prior = old_conds.get(c["type"])
        if prior is not None and prior.get("status") == c["status"] and prior.get("lastTransitionTime"):
            c["lastTransitionTime"] = prior["lastTransitionTime"]
        else:
            c.setdefault("lastTransitionTime", now)
    conds += [c for t, c in old_conds.items() if t not in CONDITION_ORDER]

    out = dict(old)
    out.update({
        "phase": phase,
        "conditions": conds,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": host_ip,
        "podIPs": [{"ip": host_ip}],
        "startTime": old.get("startTime") or start_time,
        "containerStatuses": cstatuses,
    })
    if inits:
        out["initContainerStatuses"] = init_statuses
    else:
        out.pop("initContainerStatuses", None)
    return out
