"""The container runtime interface of the node agent, and a simulated runtime.

Why this exists: the agent decides *what* runs (kubelet's job); a runtime knows *how*
(containerd's job).  Keeping the seam as a small Protocol lets the same agent drive real
processes in their own namespaces (``orlop.node.process``) or, where that is not possible
or not wanted (no root, a laptop, a scale test), a kwok-style runtime that runs nothing
and reports every container Running at once.  The shapes here are the CRI's, reduced to
what the agent uses: a container is started from a resolved config, reports a state,
is stopped with a grace period, and (real runtimes only) can exec and has logs.
"""

from __future__ import annotations

import asyncio
import datetime
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

RUNNING = "running"
EXITED = "exited"


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_container_id() -> str:
    """A 64-hex-digit id, as containerd's."""
    return secrets.token_hex(32)


class RuntimeFailure(Exception):
    """A runtime operation that cannot be done; ``str()`` is the message a client sees."""


class NotSupported(RuntimeFailure):
    pass


class ContainerNotFound(RuntimeFailure):
    pass


@dataclass
class Mount:
    """One bind mount into a container: a host path (subPath already applied) at a container path."""

    host_path: str
    container_path: str
    read_only: bool = False


@dataclass
class PodSandbox:
    """What a runtime needs to know about a pod (the CRI's PodSandboxConfig, reduced)."""

    uid: str
    namespace: str
    name: str
    hostname: str


@dataclass
class ContainerConfig:
    """One container instance to start: everything resolved by the agent."""

    name: str
    image: str
    argv: list[str]                       # command + args; empty: the image's default (see runtimes)
    env: list[tuple[str, str]] = field(default_factory=list)
    working_dir: str = ""
    mounts: list[Mount] = field(default_factory=list)
    tty: bool = False
    init: bool = False


@dataclass
class ContainerStatus:
    """The state of one container instance (attempt) as the runtime sees it."""

    name: str
    id: str
    attempt: int
    image: str
    state: str                            # RUNNING | EXITED
    started_at: str
    finished_at: str = ""
    exit_code: int | None = None
    reason: str = ""                      # Completed | Error | StartError (exited only)
    message: str = ""
    finished_epoch: float = 0.0           # finished_at with sub-second precision (back-off timing)
    pid: int | None = None
    init: bool = False


@dataclass
class LogOptions:
    follow: bool = False
    tail_lines: int | None = None
    timestamps: bool = False
    previous: bool = False
    since_seconds: int | None = None
    limit_bytes: int | None = None


class ExecInput(Protocol):
    """A command's input (``child.InputWriter``): the part of asyncio's StreamWriter exec uses."""

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...

    def is_closing(self) -> bool: ...

    async def wait_closed(self) -> None: ...


class ExecSession(Protocol):
    """A command running in a container; streams are None when not requested."""

    stdin: ExecInput | None
    stdout: asyncio.StreamReader | None
    stderr: asyncio.StreamReader | None

    def resize(self, width: int, height: int) -> None: ...

    async def close_stdin(self) -> None: ...

    async def wait(self) -> int:
        """The exit code (128+n when killed by signal n)."""
        ...

    def kill(self) -> None: ...


class Runtime(Protocol):
    """What the node agent needs from a container runtime."""

    name: str                             # containerRuntimeVersion is f"{name}://{version}"
    version: str
    mounts_volumes: bool                  # volumes must really be mounted on the host for it

    def subscribe(self, callback: Callable[[str], None]) -> None:
        """``callback(pod_uid)`` whenever a container of that pod changes state by itself (exits)."""
        ...

    async def adopt(self) -> dict[str, PodSandbox]:
        """After an agent restart: take over what is still running or recorded; pods known."""
        ...

    def pods(self) -> dict[str, PodSandbox]:
        """Pods the runtime has containers (running or exited) for."""
        ...

    def statuses(self, pod_uid: str) -> list[ContainerStatus]:
        """Every instance of the pod's containers the runtime still knows, oldest attempt first."""
        ...

    async def start_container(self, sandbox: PodSandbox, config: ContainerConfig, attempt: int) -> ContainerStatus:
        ...

    async def stop_container(self, pod_uid: str, name: str, grace: float) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; returns once it is gone."""
        ...

    async def remove_pod(self, pod_uid: str) -> None:
        """Forget a pod whose containers are stopped: its state, logs and scratch space."""
        ...

    async def exec(self, pod_uid: str, container: str, argv: list[str], *, stdin: bool, stdout: bool,
                   stderr: bool, tty: bool) -> ExecSession:
        ...

    def logs(self, pod_uid: str, container: str, opts: LogOptions) -> AsyncIterator[bytes]:
        ...

    async def close(self) -> None:
        """Stop watching (containers keep running)."""
        ...


NO_PROCESSES = ("the simulated runtime has no processes: {what} is not available for container {name!r} "
                "(start the node agent with the process runtime, as root, to run real containers)")


class SimulatedRuntime:
    """kwok-style: nothing runs; every container is Running as soon as it is started.

    A container stays Running until stopped; it then reports exit code 0, Completed.
    The state lives in memory: a restarted agent that is handed the same instance adopts
    it; a new instance starts empty.
    """

    name = "orlop-simulated"
    version = "0.1.0"
    mounts_volumes = False

    def __init__(self) -> None:
        self._pods: dict[str, PodSandbox] = {}
        self._containers: dict[str, dict[str, list[ContainerStatus]]] = {}
        self._callbacks: list[Callable[[str], None]] = []

    def subscribe(self, callback: Callable[[str], None]) -> None:
        self._callbacks = [callback]

    async def adopt(self) -> dict[str, PodSandbox]:
        return dict(self._pods)

    def pods(self) -> dict[str, PodSandbox]:
        return dict(self._pods)

    def statuses(self, pod_uid: str) -> list[ContainerStatus]:
        out: list[ContainerStatus] = []
        for instances in self._containers.get(pod_uid, {}).values():
            out += instances
        return sorted(out, key=lambda s: s.attempt)

    async def start_container(self, sandbox: PodSandbox, config: ContainerConfig, attempt: int) -> ContainerStatus:
        self._pods[sandbox.uid] = sandbox
        st = ContainerStatus(config.name, new_container_id(), attempt, config.image, RUNNING, now_rfc3339(),
                             init=config.init)
        if config.init:
            # An init container "runs to completion" at once.
            st.state, st.exit_code, st.reason, st.finished_at = EXITED, 0, "Completed", st.started_at
            st.finished_epoch = time.time()
        instances = self._containers.setdefault(sandbox.uid, {}).setdefault(config.name, [])
        instances.append(st)
        del instances[:-2]
        return st

    async def stop_container(self, pod_uid: str, name: str, grace: float) -> None:
        for st in self._containers.get(pod_uid, {}).get(name, []):
            if st.state == RUNNING:
                st.state, st.finished_at, st.exit_code, st.reason = EXITED, now_rfc3339(), 0, "Completed"
                st.finished_epoch = time.time()

    async def remove_pod(self, pod_uid: str) -> None:
        self._pods.pop(pod_uid, None)
        self._containers.pop(pod_uid, None)

    async def exec(self, pod_uid: str, container: str, argv: list[str], *, stdin: bool, stdout: bool,
                   stderr: bool, tty: bool) -> ExecSession:
        raise NotSupported(NO_PROCESSES.format(what="exec", name=container))

    def logs(self, pod_uid: str, container: str, opts: LogOptions) -> AsyncIterator[bytes]:
        raise NotSupported(NO_PROCESSES.format(what="logs", name=container))

    async def close(self) -> None:
        return None
