"""Shared test fixtures: a real ``orlop up`` process and a real kubectl pointed at it."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cephcluster import CephCluster, enter_private_network, install_packages  # noqa: E402

_network_note = ""


def pytest_configure(config: pytest.Config) -> None:
    """Run the whole test process in a network namespace of its own with only loopback (as root):
    every server, Ceph daemon, orlop and kubectl the tests start can reach 127.0.0.1 and nothing
    else.  ORLOP_TESTS_HOST_NETWORK=1 keeps the machine's network (then Ceph tests skip)."""
    global _network_note
    if os.geteuid() != 0:
        _network_note = "not root: no private network namespace"
    elif os.environ.get("ORLOP_TESTS_HOST_NETWORK") == "1":
        _network_note = "ORLOP_TESTS_HOST_NETWORK=1: tests use the machine's network"
    else:
        _network_note = enter_private_network() or ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Orlop:
    """A running ``orlop up`` started by the tests (stopped by PID at the end)."""

    data_dir: str
    port: int
    proc: subprocess.Popen[bytes] | None = None
    cache_dir: str = ""
    log_path: str = ""
    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()      # more `orlop up` options

    @property
    def kubeconfig(self) -> str:
        return os.path.join(self.data_dir, "kubeconfig")

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def token(self) -> str:
        with open(self.kubeconfig) as f:
            return str(yaml.safe_load(f)["users"][0]["user"]["token"])

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=os.path.join(self.data_dir, "pki", "ca.crt"))

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orlop.cli", "up", "--data-dir", self.data_dir, "--port", str(self.port),
             *self.args],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"orlop up exited with {self.proc.returncode}: {open(self.log_path).read()}")
            try:
                if os.path.exists(self.kubeconfig):
                    with urllib.request.urlopen(f"{self.url}/readyz", context=self.ssl_context(), timeout=2) as r:
                        if r.status == 200:
                            return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"orlop up did not become ready: {open(self.log_path).read()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": self.kubeconfig, **self.env}
        cp = subprocess.run(["kubectl", f"--cache-dir={self.cache_dir}", *args], input=input, env=env,
                            capture_output=True, text=True, timeout=timeout)
        if check and cp.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({cp.returncode}):\n{cp.stdout}\n{cp.stderr}")
        return cp


def reap_containers(root: str) -> None:
    """Stop the containers of the node agent(s) under ``root``, unmount what they mounted and end
    the rbd-fuse processes they started.

    Node agents leave containers running when they stop (a restarted agent adopts them, as
    the kubelet does); the tests started them, so the tests end them.
    """
    import asyncio

    from orlop.node import rbd
    from orlop.node.process import purge
    for agent_root in (os.path.join(root, "node"), root):
        if os.path.isdir(os.path.join(agent_root, "pods")):
            asyncio.run(purge(agent_root))
        if os.path.isdir(os.path.join(agent_root, "plugins")):
            rbd.purge(agent_root)        # rbd-fuse processes outlive their agent, as kernel maps would


def _new_orlop(tmp: str, *args: str) -> Orlop:
    o = Orlop(data_dir=os.path.join(tmp, "data"), port=free_port(), cache_dir=os.path.join(tmp, "kubecache"),
              log_path=os.path.join(tmp, "orlop.log"), args=args)
    o.start()
    return o


@pytest.fixture(scope="session")
def orlop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orlop]:
    """One server for the whole session (tests use their own namespaces or names)."""
    o = _new_orlop(str(tmp_path_factory.mktemp("orlop")))
    yield o
    o.stop()
    reap_containers(o.data_dir)


@pytest.fixture
def fresh_orlop(tmp_path: os.PathLike[str]) -> Iterator[Orlop]:
    """A server of the test's own (for restarts and kill -9)."""
    o = _new_orlop(str(tmp_path))
    yield o
    o.stop()
    reap_containers(o.data_dir)


@dataclass
class Ceph:
    """The session's Ceph cluster as the RBD tests use it."""

    cluster: CephCluster
    pool: str
    admin_key: str
    user: str
    user_key: str

    @property
    def monitors(self) -> str:
        return self.cluster.monitors


@pytest.fixture(scope="session")
def ceph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ceph]:
    """A real one-mon, one-OSD Ceph cluster on this test process's private loopback (installed from
    Debian's packages if missing); skipped, saying why, where that cannot be."""
    if os.geteuid() != 0:
        pytest.skip("Ceph RBD tests need root (Ceph daemons, loop devices, mounts)")
    if _network_note:
        pytest.skip(f"Ceph RBD tests run only in a private network namespace ({_network_note})")
    why = install_packages()
    if why:
        pytest.skip(why)
    from orlop.drivers import ceph as cephclient
    why = cephclient.available()
    if why:
        pytest.skip(why)
    cluster = CephCluster(str(tmp_path_factory.mktemp("ceph")))
    try:
        cluster.start()
        cluster.create_pool("rbd")
        yield Ceph(cluster, "rbd", cluster.admin_key(), "kube", cluster.create_user("kube", "rbd"))
    finally:
        cephclient.close_sessions()
        cluster.stop()
