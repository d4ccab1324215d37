"""The process runtime: each container a real process in its own namespaces.

Why this exists: the seeds' data flows (``kubectl exec`` writing into a claim, a
recreated pod reading it back) need containers that really run and really see their
volumes.  Without images to pull, a container here is its command run under the
host's own filesystem: a private overlay root (lower layer: the host's ``/``) with
``/proc``, ``/dev`` and the pod's volumes mounted, in new mount, UTS and PID
namespaces, hostname = the pod's.  The image is recorded, not pulled; a container with
neither command nor args runs ``sleep infinity`` so that exec works.

A shim (``orlop.node.shim``) is PID 1 of every container; this module starts shims,
watches them with pidfds, and reads what they wrote.  Everything lives on disk under
``<root>/pods/<uid>/``::

    sandbox.json                           the pod's namespace, name, hostname
    containers/<name>/<attempt>/spec.json  what was started (argv, env, mounts, image, id)
                               state.json  written by the shim once running (host pids)
                               exit.json   written by the shim when the command ended
    logs/<name>/<attempt>.log              CRI-format output; the previous attempt is kept

so a restarted agent adopts running containers (pid and start time checked in /proc)
and knows how the others ended, even if they ended while it was down.  The agent
process makes itself a child subreaper so that shims (whose launcher exits at once) are
its children and are reaped.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import fcntl
import json
import logging
import os
import shutil
import signal
import struct
import sys
import termios
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from . import child, crilog, mounts
from .runtime import (
    EXITED,
    RUNNING,
    ContainerConfig,
    ContainerNotFound,
    ContainerStatus,
    LogOptions,
    PodSandbox,
    RuntimeFailure,
    new_container_id,
    now_rfc3339,
)

log = logging.getLogger(__name__)

SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shim.py")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
IDLE_ARGV = ["sleep", "infinity"]
PR_SET_CHILD_SUBREAPER = 36
KEEP_ATTEMPTS = 2       # the current instance of a container and the previous one (kubectl logs -p)


def _become_subreaper() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _start_ticks(pid: int) -> tuple[int, str] | None:
    """(start time in clock ticks, state letter) of a live process, None if there is none."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(fields[19]), fields[0]


def _load(path: str) -> dict[str, Any] | None:
    try:
        with open(path) as f:
            data = json.load(f)
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: str, data: Any) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


@dataclass
class _Instance:
    status: ContainerStatus
    dir: str
    log_path: str
    env: list[tuple[str, str]]
    shim_pid: int | None = None
    pidfd: int | None = None
    exited: asyncio.Event = field(default_factory=asyncio.Event)


class _PipeExec:
    """An exec'd command with pipes for its streams."""

    def __init__(self, proc: child.Child):
        self.proc = proc
        self.stdin = proc.stdin
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def resize(self, width: int, height: int) -> None:
        return None

    async def close_stdin(self) -> None:
        if self.stdin is not None and not self.stdin.is_closing():
            self.stdin.close()
            with contextlib.suppress(ConnectionError, BrokenPipeError):
                await self.stdin.wait_closed()

    async def wait(self) -> int:
        return _exit_code(await self.proc.wait())

    def kill(self) -> None:
        self.proc.kill()


class _TtyExec:
    """An exec'd command on a pseudo-terminal: one output stream, resizable."""

    def __init__(self, proc: child.Child, master: int, reader: asyncio.StreamReader, writer: child.InputWriter):
        self.proc, self.master = proc, master
        self.stdin: child.InputWriter | None = writer
        self.stdout: asyncio.StreamReader | None = reader
        self.stderr: asyncio.StreamReader | None = None

    @classmethod
    async def start(cls, argv: list[str], env: dict[str, str]) -> _TtyExec:
        master, slave = os.openpty()
        try:
            proc = await child.Child.start(*argv, stdin=slave, stdout=slave, stderr=slave, env=env)
        finally:
            os.close(slave)
        reader = child.output_reader(os.dup(master), eio_is_eof=True)
        return cls(proc, master, reader, child.InputWriter(os.dup(master)))

    def resize(self, width: int, height: int) -> None:
        with contextlib.suppress(OSError):
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    async def close_stdin(self) -> None:
        if self.stdin is not None and not self.stdin.is_closing():
            self.stdin.write(b"\x04")        # end of input on a terminal

    async def wait(self) -> int:
        code = _exit_code(await self.proc.wait())
        if self.stdin is not None:
            self.stdin.close()
        with contextlib.suppress(OSError):
            os.close(self.master)
        self.master = -1
        return code

    def kill(self) -> None:
        self.proc.kill()


class ProcessRuntime:
    name = "orlop-process"
    version = "0.1.0"
    mounts_volumes = True

    def __init__(self, root_dir: str):
        self.root_dir = os.path.abspath(root_dir)
        self.pods_dir = os.path.join(self.root_dir, "pods")
        self._pods: dict[str, PodSandbox] = {}
        self._containers: dict[str, dict[str, list[_Instance]]] = {}
        self._callbacks: list[Callable[[str], None]] = []
        self._nsenter = shutil.which("nsenter") or "/usr/bin/nsenter"
        self._setsid = shutil.which("setsid") or "/usr/bin/setsid"
        _become_subreaper()

    # ------------------------------------------------------------- paths
    def pod_dir(self, uid: str) -> str:
        return os.path.join(self.pods_dir, uid)

    def _instance_dir(self, uid: str, name: str, attempt: int) -> str:
        return os.path.join(self.pods_dir, uid, "containers", name, str(attempt))

    def _log_path(self, uid: str, name: str, attempt: int) -> str:
        return os.path.join(self.pods_dir, uid, "logs", name, f"{attempt}.log")

    # ------------------------------------------------------------ queries
    def subscribe(self, callback: Callable[[str], None]) -> None:
        self._callbacks = [callback]

    def pods(self) -> dict[str, PodSandbox]:
        return dict(self._pods)

    def statuses(self, pod_uid: str) -> list[ContainerStatus]:
        out = [i.status for instances in self._containers.get(pod_uid, {}).values() for i in instances]
        return sorted(out, key=lambda s: s.attempt)

    def _current(self, uid: str, name: str) -> _Instance | None:
        instances = self._containers.get(uid, {}).get(name)
        return instances[-1] if instances else None

    # -------------------------------------------------------------- start
    def _env(self, sandbox: PodSandbox, config: ContainerConfig) -> list[tuple[str, str]]:
        env = list(config.env)
        names = {k for k, _ in env}
        if "PATH" not in names:
            env.insert(0, ("PATH", DEFAULT_PATH))
        if "HOSTNAME" not in names:
            env.insert(1, ("HOSTNAME", sandbox.hostname))
        if config.tty and "TERM" not in names:
            env.append(("TERM", "xterm"))
        return env

    async def start_container(self, sandbox: PodSandbox, config: ContainerConfig, attempt: int) -> ContainerStatus:
        pod_dir = self.pod_dir(sandbox.uid)
        os.makedirs(pod_dir, exist_ok=True)
        if sandbox.uid not in self._pods:
            _write_json(os.path.join(pod_dir, "sandbox.json"), sandbox.__dict__)
            self._pods[sandbox.uid] = sandbox
        inst_dir = self._instance_dir(sandbox.uid, config.name, attempt)
        mounts.safe_rmtree(inst_dir)
        os.makedirs(inst_dir)
        log_path = self._log_path(sandbox.uid, config.name, attempt)
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(log_path)
        env = self._env(sandbox, config)
        cid = new_container_id()
        spec = {
            "id": cid, "name": config.name, "image": config.image, "init": config.init, "attempt": attempt,
            "instance_dir": inst_dir, "pods_dir": self.pods_dir, "pod_dir": pod_dir, "hostname": sandbox.hostname,
            "argv": config.argv or IDLE_ARGV, "env": env, "working_dir": config.working_dir,
            "mounts": [m.__dict__ for m in config.mounts], "log_path": log_path, "tty": config.tty,
            "createdAt": now_rfc3339(),
        }
        spec_path = os.path.join(inst_dir, "spec.json")
        _write_json(spec_path, spec)
        proc = await child.Child.start(sys.executable, "-I", "-S", SHIM, spec_path, stdin=child.DEVNULL,
                                       stdout=child.PIPE, stderr=child.DEVNULL, start_new_session=True, cwd="/")
        out = await proc.communicate()
        inst = self._instance(sandbox.uid, spec, answer=out.decode(errors="replace").strip())
        instances = self._containers.setdefault(sandbox.uid, {}).setdefault(config.name, [])
        instances.append(inst)
        self._prune(sandbox.uid, config.name)
        return inst.status

    def _instance(self, uid: str, spec: dict[str, Any], answer: str | None = None) -> _Instance:
        """An instance from its files; watched if its shim still runs."""
        inst_dir = spec["instance_dir"]
        status = ContainerStatus(spec["name"], spec["id"], int(spec["attempt"]), spec["image"], EXITED,
                                 spec.get("createdAt", ""), init=bool(spec.get("init")))
        inst = _Instance(status, inst_dir, spec["log_path"], [tuple(kv) for kv in spec["env"]])  # type: ignore[misc]
        state = _load(os.path.join(inst_dir, "state.json"))
        ended = _load(os.path.join(inst_dir, "exit.json"))
        if state:
            status.started_at, status.pid = state.get("startedAt", status.started_at), state.get("pid")
            inst.shim_pid = state.get("shimPid")
        if ended is None and state and inst.shim_pid:
            live = _start_ticks(inst.shim_pid)
            if live is not None and live[0] == state.get("shimStart") and live[1] != "Z":
                status.state = RUNNING
                self._watch(inst)
                return inst
            if live is not None and live[0] == state.get("shimStart"):      # a zombie: ours to reap
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(inst.shim_pid, os.WNOHANG)
            ended = _load(os.path.join(inst_dir, "exit.json"))
        self._set_exit(inst, ended, answer)
        return inst

    @staticmethod
    def _set_exit(inst: _Instance, ended: dict[str, Any] | None, answer: str | None = None) -> None:
        st = inst.status
        st.state, st.pid = EXITED, None
        if ended is None:
            # The shim is gone without a word: killed (SIGKILL) or never started.
            msg = answer[len("error "):] if answer and answer.startswith("error ") else ""
            ended = ({"exitCode": 128, "reason": "StartError", "message": msg} if msg
                     else {"exitCode": 137, "reason": "Error"})
        st.exit_code = int(ended.get("exitCode", 0))
        st.reason = str(ended.get("reason") or ("Completed" if st.exit_code == 0 else "Error"))
        st.finished_at = str(ended.get("finishedAt") or now_rfc3339())
        st.finished_epoch = float(ended.get("finishedAtUnix") or time.time())
        st.message = str(ended.get("message") or "")
        inst.exited.set()

    def _watch(self, inst: _Instance) -> None:
        assert inst.shim_pid
        try:
            inst.pidfd = os.pidfd_open(inst.shim_pid)
        except ProcessLookupError:
            self._set_exit(inst, _load(os.path.join(inst.dir, "exit.json")))
            return
        asyncio.get_running_loop().add_reader(inst.pidfd, self._on_exit, inst)

    def _unwatch(self, inst: _Instance) -> None:
        if inst.pidfd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(inst.pidfd)
            with contextlib.suppress(OSError):
                os.close(inst.pidfd)
            inst.pidfd = None

    def _on_exit(self, inst: _Instance) -> None:
        self._unwatch(inst)
        if inst.shim_pid:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(inst.shim_pid, os.WNOHANG)
        self._set_exit(inst, _load(os.path.join(inst.dir, "exit.json")))
        uid = os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(inst.dir))))
        for cb in self._callbacks:
            cb(uid)

    def _prune(self, uid: str, name: str) -> None:
        instances = self._containers[uid][name]
        while len(instances) > KEEP_ATTEMPTS and instances[0].status.state != RUNNING:
            old = instances.pop(0)
            with contextlib.suppress(mounts.StillMounted, OSError):
                mounts.safe_rmtree(old.dir)
                os.unlink(old.log_path)

    # --------------------------------------------------------------- stop
    async def stop_container(self, pod_uid: str, name: str, grace: float) -> None:
        inst = self._current(pod_uid, name)
        if inst is None or inst.status.state != RUNNING or inst.pidfd is None:
            return
        with contextlib.suppress(ProcessLookupError, OSError):
            signal.pidfd_send_signal(inst.pidfd, signal.SIGTERM if grace > 0 else signal.SIGKILL)
        try:
            await asyncio.wait_for(inst.exited.wait(), max(grace, 0.0) or 10.0)
            return
        except TimeoutError:
            pass
        if inst.pidfd is not None:
            with contextlib.suppress(ProcessLookupError, OSError):
                signal.pidfd_send_signal(inst.pidfd, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(inst.exited.wait(), 10.0)

    async def remove_pod(self, pod_uid: str) -> None:
        for name, instances in self._containers.get(pod_uid, {}).items():
            if instances and instances[-1].status.state == RUNNING:
                await self.stop_container(pod_uid, name, 0)
            for inst in instances:
                self._unwatch(inst)
        pod_dir = self.pod_dir(pod_uid)
        mounts.safe_rmtree(os.path.join(pod_dir, "containers"))
        mounts.safe_rmtree(os.path.join(pod_dir, "logs"))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(pod_dir, "sandbox.json"))
        self._pods.pop(pod_uid, None)
        self._containers.pop(pod_uid, None)

    # -------------------------------------------------------------- adopt
    async def adopt(self) -> dict[str, PodSandbox]:
        await self.close()
        self._pods, self._containers = {}, {}
        if not os.path.isdir(self.pods_dir):
            return {}
        for uid in sorted(os.listdir(self.pods_dir)):
            sandbox = _load(os.path.join(self.pods_dir, uid, "sandbox.json"))
            if sandbox is None:
                continue
            self._pods[uid] = PodSandbox(**sandbox)
            cdir = os.path.join(self.pods_dir, uid, "containers")
            for name in sorted(os.listdir(cdir)) if os.path.isdir(cdir) else []:
                attempts = sorted(int(a) for a in os.listdir(os.path.join(cdir, name)) if a.isdigit())
                for attempt in attempts:
                    spec = _load(os.path.join(cdir, name, str(attempt), "spec.json"))
                    if spec is None:
                        continue
                    self._containers.setdefault(uid, {}).setdefault(name, []).append(self._instance(uid, spec))
                if name in self._containers.get(uid, {}):
                    self._prune(uid, name)
        return dict(self._pods)

    async def close(self) -> None:
        for by_name in self._containers.values():
            for instances in by_name.values():
                for inst in instances:
                    self._unwatch(inst)

    # --------------------------------------------------------- exec, logs
    async def exec(self, pod_uid: str, container: str, argv: list[str], *, stdin: bool, stdout: bool,
                   stderr: bool, tty: bool) -> _PipeExec | _TtyExec:
        inst = self._current(pod_uid, container)
        if inst is None or inst.status.state != RUNNING or not inst.status.pid:
            raise ContainerNotFound(f'container not found ("{container}")')
        if not argv:
            raise RuntimeFailure("you must specify at least one command for the container")
        env = dict(inst.env)
        if tty:
            env.setdefault("TERM", "xterm")
        cmd = [self._nsenter, "-t", str(inst.status.pid), "-m", "-u", "-p", "-r", "-w", "--", *argv]
        if tty:
            return await _TtyExec.start([self._setsid, "-c", *cmd], env)
        pipe, null = child.PIPE, child.DEVNULL
        proc = await child.Child.start(*cmd, stdin=pipe if stdin else null, stdout=pipe if stdout else null,
                                       stderr=pipe if stderr else null, env=env)
        return _PipeExec(proc)

    def logs(self, pod_uid: str, container: str, opts: LogOptions) -> AsyncIterator[bytes]:
        instances = self._containers.get(pod_uid, {}).get(container) or []
        pod = self._pods.get(pod_uid)
        pod_name = pod.name if pod else pod_uid
        if opts.previous:
            if len(instances) < 2:
                raise ContainerNotFound(f'previous terminated container "{container}" in pod "{pod_name}" not found')
            inst = instances[-2]
        elif instances:
            inst = instances[-1]
        else:
            raise ContainerNotFound(f'container "{container}" in pod "{pod_name}" is waiting to start: '
                                    "ContainerCreating")
        if not os.path.exists(inst.log_path):
            with open(inst.log_path, "ab"):
                pass
        return crilog.read_log(inst.log_path, opts, lambda: inst.status.state == RUNNING)


async def purge(root_dir: str) -> None:
    """Stop every container recorded under an agent's root directory and unmount everything below it.

    Containers outlive their agent by design; this is how a test, or an administrator
    retiring a node directory, makes sure nothing keeps running or stays mounted.
    """
    rt = ProcessRuntime(root_dir)
    for uid in await rt.adopt():
        await rt.remove_pod(uid)
    await rt.close()
    left = mounts.unmount_all(rt.root_dir)
    if left:
        raise mounts.StillMounted(f"still mounted: {', '.join(left)}")
