"""What to start next in a pod: kubelet's computePodActions, as a pure function.

Why this exists: the order of init containers, the restart policy (Always, OnFailure,
Never) and the crash-loop back-off decide which container instance to start when, and
what a container that is not running is waiting for.  Given the pod, the instances the
runtime reports and the time, ``plan`` answers that without side effects; the agent
carries it out and the status module reports it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from .runtime import EXITED, RUNNING, ContainerStatus

CONTAINER_CREATING = "ContainerCreating"
POD_INITIALIZING = "PodInitializing"
CRASH_LOOP = "CrashLoopBackOff"


def go_duration(seconds: float) -> str:
    """Go's time.Duration String() for whole seconds: 10s, 1m20s, 5m0s."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s}s"
    h, m = divmod(m, 60)
    return f"{h}h{m}m{s}s"


def epoch(rfc3339: str) -> float:
    try:
        return datetime.datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC).timestamp()
    except ValueError:
        return 0.0


@dataclass
class Backoff:
    """Kubelet's container restart back-off: the first restart at once, then base, 2*base, ... up to cap.

    A container that ran for ``reset_after`` seconds before it ended starts over.
    """

    base: float = 10.0
    cap: float = 300.0
    reset_after: float = 600.0

    def delay(self, ended: ContainerStatus) -> float:
        ran = epoch(ended.finished_at) - epoch(ended.started_at)
        if ended.attempt == 0 or ran >= self.reset_after:
            return 0.0
        return min(self.cap, self.base * 2 ** (ended.attempt - 1))


@dataclass
class Plan:
    start: list[tuple[dict[str, Any], bool, int]] = field(default_factory=list)   # (container, init, attempt)
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)            # name -> (reason, message)
    retry_after: float | None = None        # seconds until the earliest back-off ends
    backing_off: list[str] = field(default_factory=list)
    initialized: bool = True
    init_failed: bool = False


def latest(statuses: list[ContainerStatus]) -> dict[str, ContainerStatus]:
    out: dict[str, ContainerStatus] = {}
    for s in sorted(statuses, key=lambda s: s.attempt):
        out[s.name] = s
    return out


def pod_ref(pod: dict[str, Any]) -> str:
    """kubelet's format.Pod: name_namespace(uid)."""
    m = pod["metadata"]
    return f"{m['name']}_{m.get('namespace', '')}({m.get('uid', '')})"


def plan(pod: dict[str, Any], statuses: list[ContainerStatus], now: float, backoff: Backoff) -> Plan:
    spec = pod.get("spec") or {}
    policy = spec.get("restartPolicy") or "Always"
    cur = latest(statuses)
    p = Plan()

    def restart(c: dict[str, Any], ended: ContainerStatus, init: bool) -> None:
        delay = backoff.delay(ended)
        remaining = (ended.finished_epoch or epoch(ended.finished_at)) + delay - now
        if remaining <= 0:
            p.start.append((c, init, ended.attempt + 1))
            return
        p.waiting[c["name"]] = (CRASH_LOOP, f"back-off {go_duration(delay)} restarting failed container="
                                            f"{c['name']} pod={pod_ref(pod)}")
        p.backing_off.append(c["name"])
        p.retry_after = remaining if p.retry_after is None else min(p.retry_after, remaining)

    inits = spec.get("initContainers") or []
    for i, c in enumerate(inits):
        st = cur.get(c["name"])
        if st is not None and st.state == EXITED and st.exit_code == 0:
            continue
        p.initialized = False
        if st is None:
            p.start.append((c, True, 0))
        elif st.state == EXITED:
            if policy == "Never":
                p.init_failed = True
            else:
                restart(c, st, True)
        for later in inits[i + 1:]:
            if later["name"] not in cur:
                p.waiting[later["name"]] = (POD_INITIALIZING, "")
        break
    for c in spec.get("containers") or []:
        st = cur.get(c["name"])
        if not p.initialized:
            if st is None or st.state != RUNNING:
                p.waiting[c["name"]] = (POD_INITIALIZING, "")
            continue
        if st is None:
            p.start.append((c, False, 0))
        elif st.state == EXITED and (policy == "Always" or (policy == "OnFailure" and st.exit_code != 0)):
            restart(c, st, False)
    return p
