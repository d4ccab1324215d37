"""The container shim: PID 1 of one container's namespaces.

Why this exists: a container must outlive the agent that started it (an agent restart
adopts running containers), so something other than the agent has to own the process,
collect its output and record how it ended -- containerd's shim does this for a kubelet.
``python shim.py <spec.json>`` (stdlib only, so it starts fast with ``-I -S`` and needs no
import path):

1. unshares mount, UTS and PID namespaces and forks; the child is PID 1 of the new PID
   namespace, the parent exits at once (the agent, a child subreaper, inherits the child);
2. PID 1 makes every mount private, sets the hostname, builds the container root (an
   overlayfs whose lower layer is the host's ``/`` and whose upper layer is private to
   this instance), mounts ``/proc``, binds ``/dev`` and each volume at its path
   (read-only ones remounted read-only);
3. forks the command (chrooted, in its working directory, with its environment), writes
   its host pids to ``state.json`` and answers the agent on stdout ("ok <pid>" or
   "error <message>");
4. copies the command's stdout/stderr into a CRI-format log file
   (``<RFC3339Nano> stdout|stderr F|P <text>``), reaps every orphan of the namespace,
   forwards SIGTERM to the command, and when the command exits writes ``exit.json``
   (exit code, reason, finish time) and exits -- which ends the namespace and kills
   whatever is left in it.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os
import selectors
import signal
import sys
import time

if __package__:
    from . import mounts
else:       # run by path (python -I -S shim.py): the package is not importable, its sibling is
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import mounts  # type: ignore[no-redef]

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWPID = 0x20000000
MAX_LINE = 16 * 1024     # longer lines are split into partial (P) records, as containerd does


def rfc3339nano(ns: int | None = None) -> str:
    ns = time.time_ns() if ns is None else ns
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def rfc3339(ns: int | None = None) -> str:
    return datetime.datetime.fromtimestamp((time.time_ns() if ns is None else ns) / 1e9,
                                           datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def start_ticks(pid: int) -> int:
    """Field 22 of /proc/<pid>/stat: when the process started (tells a reused pid apart)."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def write_json(path: str, data: object) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class LogWriter:
    """CRI log records from a stream of bytes (one writer per stream: stdout or stderr)."""

    def __init__(self, out: int, stream: str):
        self.out, self.stream, self.buf = out, stream.encode(), b""

    def _record(self, tag: bytes, data: bytes) -> None:
        os.write(self.out, rfc3339nano().encode() + b" " + self.stream + b" " + tag + b" " + data + b"\n")

    def feed(self, data: bytes) -> None:
        self.buf += data
        while True:
            nl = self.buf.find(b"\n")
            if nl < 0:
                break
            line, self.buf = self.buf[:nl], self.buf[nl + 1:]
            while len(line) > MAX_LINE:
                self._record(b"P", line[:MAX_LINE])
                line = line[MAX_LINE:]
            self._record(b"F", line)
        while len(self.buf) > MAX_LINE:
            self._record(b"P", self.buf[:MAX_LINE])
            self.buf = self.buf[MAX_LINE:]

    def close(self) -> None:
        if self.buf:
            self._record(b"F", self.buf)
            self.buf = b""


def _prepare_target(host_path: str, target: str) -> None:
    if os.path.isdir(host_path):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            with open(target, "a"):
                pass


def setup_root(spec: dict) -> str:
    """Namespaced mounts of the container: its root, /proc, /dev and volumes. Returns the root."""
    m = mounts
    m.mount(None, "/", None, m.MS_REC | m.MS_PRIVATE)
    # Other pods' volumes were copied into this namespace with the host's mount table: drop them.
    own = spec["pod_dir"].rstrip("/") + "/"
    for mp in m.mount_points(spec["pods_dir"]):
        if not (mp + "/").startswith(own):
            with contextlib.suppress(OSError):
                m.umount(mp, m.MNT_DETACH)
    m.sethostname(spec["hostname"])
    inst = spec["instance_dir"]
    root, upper, work = (os.path.join(inst, d) for d in ("rootfs", "upper", "work"))
    for d in (root, upper, work):
        os.makedirs(d, exist_ok=True)
    try:
        m.mount("overlay", root, "overlay", 0, f"lowerdir=/,upperdir={upper},workdir={work}")
    except OSError:
        # The agent's directory cannot hold an overlay upper layer (it is on an overlayfs itself,
        # as in a container): keep this instance's writes in memory instead.
        layer = os.path.join(inst, "layer")
        os.makedirs(layer, exist_ok=True)
        m.mount("tmpfs", layer, "tmpfs", 0, "mode=0755")
        upper, work = layer + "/upper", layer + "/work"
        os.makedirs(upper)
        os.makedirs(work)
        m.mount("overlay", root, "overlay", 0, f"lowerdir=/,upperdir={upper},workdir={work}")
    os.makedirs(root + "/proc", exist_ok=True)
    m.mount("proc", root + "/proc", "proc", m.MS_NOSUID | m.MS_NODEV | m.MS_NOEXEC)
    os.makedirs(root + "/dev", exist_ok=True)
    m.mount("/dev", root + "/dev", None, m.MS_BIND | m.MS_REC)
    with contextlib.suppress(OSError):
        m.mount("sysfs", root + "/sys", "sysfs", m.MS_RDONLY | m.MS_NOSUID | m.MS_NODEV | m.MS_NOEXEC)
    with contextlib.suppress(OSError), open(root + "/etc/hostname", "w") as f:
        f.write(spec["hostname"] + "\n")
    for vm in sorted(spec["mounts"], key=lambda v: v["container_path"].rstrip("/").count("/")):
        target = root + "/" + vm["container_path"].strip("/")
        _prepare_target(vm["host_path"], target)
        m.bind(vm["host_path"], target, vm.get("read_only", False))
    return root


def _child(spec: dict, root: str, fds: tuple[int, int, int], sync_w: int) -> None:
    """In the forked command process: never returns."""
    try:
        os.setsid()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        if spec.get("tty"):
            import fcntl
            import termios
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        os.write(sync_w, f"{os.readlink('/proc/self')}\n".encode())
        for sig in (signal.SIGPIPE, signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        os.chroot(root)
        wd = spec.get("working_dir") or "/"
        os.makedirs(wd, exist_ok=True)
        os.chdir(wd)
        env = dict(spec["env"])
        os.closerange(3, sync_w)
        os.closerange(sync_w + 1, 65536)
        os.execvpe(spec["argv"][0], spec["argv"], env)
    except BaseException as e:  # noqa: BLE001 - report any failure to start to the shim
        msg = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        if isinstance(e, FileNotFoundError) and spec["argv"]:
            msg = f'exec: "{spec["argv"][0]}": executable file not found in $PATH'
        with contextlib.suppress(OSError):
            os.write(sync_w, ("E" + msg).encode())
    os._exit(127)


def run_pid1(spec: dict, answer: int) -> int:
    """PID 1 of the container: set up, start the command, babysit it. Returns the exit status."""
    state_path = os.path.join(spec["instance_dir"], "state.json")
    exit_path = os.path.join(spec["instance_dir"], "exit.json")
    try:
        root = setup_root(spec)
        log_fd = os.open(spec["log_path"], os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        if spec.get("tty"):
            master, slave = os.openpty()
            child_fds = (slave, slave, slave)
            readers = {master: LogWriter(log_fd, "stdout")}
        else:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            null = os.open("/dev/null", os.O_RDONLY)
            child_fds = (null, out_w, err_w)
            readers = {out_r: LogWriter(log_fd, "stdout"), err_r: LogWriter(log_fd, "stderr")}
        sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
        started = time.time_ns()
        pid = os.fork()
        if pid == 0:
            os.close(sync_r)
            _child(spec, root, child_fds, sync_w)
        os.close(sync_w)
        for fd in set(child_fds):
            os.close(fd)
        got = b""
        while chunk := os.read(sync_r, 4096):
            got += chunk
        os.close(sync_r)
        head, _, rest = got.partition(b"\n")
        host_pid = int(head) if head.isdigit() else 0
        if rest.startswith(b"E"):
            os.waitpid(pid, 0)
            message = rest[1:].decode(errors="replace")
            write_json(exit_path, {"exitCode": 128, "reason": "StartError", "message": message,
                                   "finishedAt": rfc3339()})
            os.write(answer, f"error {message}\n".encode())
            return 128
        my_pid = int(os.readlink("/proc/self"))
        write_json(state_path, {"shimPid": my_pid, "shimStart": start_ticks(my_pid), "pid": host_pid,
                                "startedAt": rfc3339(started)})
        os.write(answer, f"ok {host_pid}\n".encode())
    except Exception as e:  # noqa: BLE001 - any setup failure is reported to the agent
        with contextlib.suppress(OSError):
            write_json(exit_path, {"exitCode": 128, "reason": "StartError", "message": str(e),
                                   "finishedAt": rfc3339()})
            os.write(answer, f"error {e}\n".encode())
        return 128
    finally:
        with contextlib.suppress(OSError):
            null_w = os.open("/dev/null", os.O_WRONLY)
            os.dup2(null_w, answer)
            os.close(null_w)
    return babysit(pid, readers, exit_path)


def babysit(pid: int, readers: dict[int, LogWriter], exit_path: str) -> int:
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    term = {"pending": False}

    def on_term(signum: int, frame: object) -> None:
        term["pending"] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGCHLD, lambda s, f: None)
    sel = selectors.DefaultSelector()
    sel.register(wake_r, selectors.EVENT_READ)
    for fd in readers:
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    status: int | None = None
    drain_deadline: float | None = None
    while True:
        if term["pending"]:
            term["pending"] = False
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        while True:     # reap every child: ours and orphans of the namespace
            try:
                wpid, wstatus = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if wpid == 0:
                break
            if wpid == pid:
                status = wstatus
                drain_deadline = time.monotonic() + 0.2
        if status is not None and (not readers or (drain_deadline is not None and time.monotonic() > drain_deadline)):
            break
        timeout = None if drain_deadline is None else max(0.0, drain_deadline - time.monotonic())
        for key, _ in sel.select(timeout):
            fd = key.fd
            if fd == wake_r:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 512)
                continue
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                continue
            except OSError as e:       # EIO: the pty's other side is gone
                if e.errno != errno.EIO:
                    raise
                data = b""
            if data:
                readers[fd].feed(data)
            else:
                readers.pop(fd).close()
                sel.unregister(fd)
                os.close(fd)
    for w in readers.values():
        w.close()
    assert status is not None
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        code = 128 - code
    write_json(exit_path, {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                           "finishedAt": rfc3339(), "finishedAtUnix": time.time()})
    return code


def main(argv: list[str]) -> int:
    with open(argv[1]) as f:
        spec = json.load(f)
    answer = 1      # the agent reads our verdict on stdout
    err = os.open(os.path.join(spec["instance_dir"], "shim.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    os.dup2(err, 2)
    os.close(err)
    try:
        mounts.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWPID)
    except OSError as e:
        os.write(answer, f"error {e}\n".encode())
        return 1
    pid = os.fork()
    if pid:
        return 0            # the launcher's work is done: PID 1 lives on, adopted by the agent
    os.setsid()
    return run_pid1(spec, answer)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
