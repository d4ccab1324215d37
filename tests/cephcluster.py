"""A real single-node Ceph cluster (one mon, one OSD) for the RBD tests and bench/rbd.py.

Why this exists: orlop's RBD support must be shown against real Ceph daemons, not a mock.
This boots the smallest real cluster there is — one ``ceph-mon`` and one ``ceph-osd``
(BlueStore on a sparse file, or MemStore), cephx on, pool size 1 — bound to 127.0.0.1,
and tears it down by PID.  No ceph-mgr: pools, users and every ``rbd`` image operation
orlop uses are served by the mon and OSD alone.

Network: the cluster and all its clients must stay on the machine.  ``enter_private_network``
moves the calling process (before it starts threads) into a new network namespace with
only a loopback interface, so the daemons, orlop and kubectl started from it share a
loopback nobody else sees, and a Ceph client that lost its config (and would fall back
to DNS SRV lookups) has nowhere to go.  The tests' conftest does this for the whole test
process when it runs as root.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import uuid
from dataclasses import dataclass, field

PACKAGES = ("ceph-mon", "ceph-osd", "ceph-common", "python3-rados", "python3-rbd", "rbd-fuse")
TOOLS = ("ceph-mon", "ceph-osd", "ceph-authtool", "monmaptool", "ceph", "rbd", "rbd-fuse")
CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


def install_packages() -> str | None:
    """apt-get install the Ceph packages when a tool is missing; None on success, else why not."""
    if not missing_tools():
        return None
    if os.geteuid() != 0:
        return "the Ceph packages are not installed and installing them needs root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cp = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
                        capture_output=True, text=True, env=env)
    if cp.returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env)
        cp = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
                            capture_output=True, text=True, env=env)
    if missing_tools():
        return f"installing {' '.join(PACKAGES)} failed: {cp.stderr.strip()[-400:]}"
    return None


def in_private_network() -> bool:
    """True when this process's network namespace is not the machine's (pid 1's)."""
    try:
        return os.stat("/proc/self/ns/net").st_ino != os.stat("/proc/1/ns/net").st_ino
    except OSError:
        return False


def enter_private_network() -> str | None:
    """unshare(CLONE_NEWNET) for this process and bring its loopback up; None, or why not.

    Only the calling thread moves, so call it before any thread starts; every thread and
    child process made afterwards is inside.
    """
    if in_private_network():
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        return f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), _SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s.fileno(), _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))
    return None


@dataclass
class CephCluster:
    """One mon + one OSD under ``directory``; ``start()`` boots it, ``stop()`` ends it by PID."""

    directory: str
    objectstore: str = "bluestore"
    block_size: int = 20 << 30            # BlueStore's sparse block file
    mon_port: int = 6789
    fsid: str = field(default_factory=lambda: str(uuid.uuid4()))
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def conf(self) -> str:
        return os.path.join(self.directory, "ceph.conf")

    @property
    def admin_keyring(self) -> str:
        return os.path.join(self.directory, "ceph.client.admin.keyring")

    @property
    def monitors(self) -> str:
        return f"127.0.0.1:{self.mon_port}"

    def _path(self, *parts: str) -> str:
        return os.path.join(self.directory, *parts)

    def _write_conf(self) -> None:
        d = self.directory
        text = f"""[global]
fsid = {self.fsid}
mon host = {self.monitors}
public addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = {self.admin_keyring}
run dir = {d}/run
admin socket = {d}/run/$name.asok
log file = {d}/log/$name.log
pid file = {d}/run/$name.pid
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool delete = true
mon allow pool size one = true
mon warn on pool no redundancy = false
paxos propose interval = 0.05
rados mon op timeout = 15
rados osd op timeout = 30
client mount timeout = 15
mon data = {d}/mon/$cluster-$id
osd data = {d}/osd/$cluster-$id
osd objectstore = {self.objectstore}
memstore device bytes = 8589934592
bluestore block path = {d}/osd/$cluster-$id.block
bluestore block create = true
bluestore block size = {self.block_size}
bluestore fsck on mount = false
bluestore cache size = 268435456
osd memory target = 1073741824
osd op num shards = 2
osd op num threads per shard = 1

[osd]
keyring = {d}/osd/$cluster-$id/keyring
"""
        with open(self.conf, "w") as f:
            f.write(text)

    def ceph(self, *args: str, timeout: float = 30) -> str:
        """Run the ``ceph`` CLI as client.admin (only for bootstrap and test checks)."""
        return self._run(["ceph", "-c", self.conf, "--connect-timeout", "15", *args], timeout=timeout)

    def rbd(self, *args: str, timeout: float = 60) -> str:
        return self._run(["rbd", "-c", self.conf, *args], timeout=timeout)

    def _run(self, argv: list[str], timeout: float = 60) -> str:
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if cp.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({cp.returncode}): {cp.stderr.strip()}")
        return cp.stdout

    def _daemon(self, name: str, argv: list[str]) -> None:
        log = open(self._path("log", f"{name}.out"), "ab")  # noqa: SIM115 - kept open for the child
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)

    def start(self, timeout: float = 60) -> None:
        for sub in ("run", "log", "mon", "osd"):
            os.makedirs(self._path(sub), exist_ok=True)
        self._write_conf()
        mon_keyring = self._path("mon.keyring")
        self._run(["ceph-authtool", "--create-keyring", mon_keyring, "--gen-key", "-n", "mon.", "--cap", "mon",
                   "allow *"])
        self._run(["ceph-authtool", "--create-keyring", self.admin_keyring, "--gen-key", "-n", "client.admin",
                   "--cap", "mon", "allow *", "--cap", "osd", "allow *", "--cap", "mgr", "allow *"])
        self._run(["ceph-authtool", mon_keyring, "--import-keyring", self.admin_keyring])
        monmap = self._path("monmap")
        self._run(["monmaptool", "--create", "--fsid", self.fsid, "--add", "a", self.monitors, monmap])
        self._run(["ceph-mon", "-c", self.conf, "--mkfs", "-i", "a", "--monmap", monmap, "--keyring", mon_keyring])
        self._daemon("mon.a", ["ceph-mon", "-c", self.conf, "-i", "a", "-f"])
        osd_uuid = str(uuid.uuid4())
        osd_dir = self._path("osd", "ceph-0")
        os.makedirs(osd_dir, exist_ok=True)
        key = self._run(["ceph-authtool", "--gen-print-key"]).strip()
        secrets = self._path("osd-secrets.json")
        with open(secrets, "w") as f:
            json.dump({"cephx_secret": key}, f)
        osd_id = self.ceph("osd", "new", osd_uuid, "-i", secrets, timeout=timeout).strip()
        if osd_id != "0":
            raise RuntimeError(f"expected osd id 0, got {osd_id!r}")
        self._run(["ceph-authtool", "--create-keyring", os.path.join(osd_dir, "keyring"), "--name", "osd.0",
                   "--add-key", key])
        self._run(["ceph-osd", "-c", self.conf, "-i", "0", "--mkfs", "--osd-uuid", osd_uuid, "--no-mon-config"],
                  timeout=120)
        self._daemon("osd.0", ["ceph-osd", "-c", self.conf, "-i", "0", "-f"])
        deadline = time.time() + timeout
        while time.time() < deadline:
            stat = json.loads(self.ceph("osd", "stat", "--format", "json"))
            if stat.get("num_up_osds", stat.get("osdmap", {}).get("num_up_osds")) == 1:
                break
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited with {p.returncode}: {self.log_tail(name)}")
            time.sleep(0.2)
        else:
            raise RuntimeError(f"osd.0 did not come up: {self.log_tail('osd.0')}")

    def create_pool(self, name: str, pgs: int = 8) -> None:
        self.ceph("osd", "pool", "create", name, str(pgs), str(pgs))
        self.ceph("osd", "pool", "application", "enable", name, "rbd")

    def admin_key(self) -> str:
        return self.ceph("auth", "get-key", "client.admin").strip()

    def create_user(self, name: str, pool: str) -> str:
        """A cephx user limited to RBD on ``pool`` (as ceph-csi's docs create one); returns its key."""
        self.ceph("auth", "get-or-create", f"client.{name}", "mon", "profile rbd", "osd", f"profile rbd pool={pool}")
        return self.ceph("auth", "get-key", f"client.{name}").strip()

    def log_tail(self, name: str, lines: int = 30) -> str:
        out = []
        for path in (self._path("log", f"{name}.out"), self._path("log", f"{name}.log")):
            with contextlib.suppress(OSError), open(path, errors="replace") as f:
                out.extend(f.read().splitlines()[-lines:])
        return "\n".join(out)

    def stop(self) -> None:
        """End the daemons this object started (by PID), OSD first."""
        for name in sorted(self.procs, key=lambda n: not n.startswith("osd")):
            p = self.procs[name]
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait()
        self.procs.clear()
