"""The node agent over a real registry, with real processes, mounts and namespaces (as root).

Each test starts the registry and the storage controllers in process (SQLite in a temp
dir), one or two NodeAgents, creates pods bound to them (``spec.nodeName`` set: no
scheduler here) and waits, bounded, for what a kubelet would show.  Exec goes through a
real WebSocket client; processes and mounts are checked in /proc.  Everything the
agents start or mount is removed by the fixture, even when a test fails.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import aiohttp
import pytest
from inproc import until

from orlop.client import LocalClient
from orlop.controllers.base import Informers
from orlop.node import mounts
from orlop.node.agent import NodeAgent
from orlop.node.plan import Backoff
from orlop.node.process import ProcessRuntime, purge
from orlop.node.runtime import SimulatedRuntime
from orlop.node.volumes import ATTACHED_NODE
from orlop.registry.core import Registry
from orlop.store.sqlite import SQLiteStore
from orlop.up import bootstrap, start_controllers

TOKEN = "node-test-token"
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the process runtime needs root")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class Cluster:
    """``shared``: agents subscribe to the controllers' informers, as the embedded node of ``orlop up``."""

    def __init__(self, tmp: str, shared: bool = False):
        self.tmp = tmp
        self.shared = shared
        self.store = SQLiteStore(os.path.join(tmp, "store.db"))
        self.registry = Registry(self.store)
        self.client = LocalClient(self.registry, "test")
        self.tasks: list[asyncio.Task[Any]] = []
        self.agents: list[NodeAgent] = []
        self.roots: set[str] = set()
        self.informers = Informers(LocalClient(self.registry, "informers"))

    async def start(self) -> None:
        await bootstrap(self.registry)
        self.tasks = start_controllers(self.registry, self.informers)

    async def agent(self, node: str, runtime: str = "process", **kw: Any) -> NodeAgent:
        root = os.path.join(self.tmp, node)
        self.roots.add(root)
        rt = ProcessRuntime(root) if runtime == "process" else SimulatedRuntime()
        a = NodeAgent(LocalClient(self.registry, f"kubelet-{node}"), node, root, rt, token=TOKEN,
                      informers=self.informers if self.shared else None,
                      **{"backoff": Backoff(base=0.2, cap=1.0), **kw})
        await a.start()
        self.agents.append(a)
        return a

    async def stop(self) -> None:
        for a in self.agents:
            await a.stop()
        for root in self.roots:          # whatever the agents left running or mounted goes
            await purge(root)
            assert mounts.mount_points(root) == []
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.store.close()

    async def pod(self, name: str) -> dict[str, Any] | None:
        return await self.client.get("v1", "Pod", "default", name)

    async def phase(self, name: str) -> str | None:
        p = await self.pod(name)
        return (p.get("status") or {}).get("phase") if p else None

    async def running(self, name: str) -> dict[str, Any] | None:
        p = await self.pod(name)
        if not p or p["status"].get("phase") != "Running":
            return None
        return p if all(c.get("ready") for c in p["status"].get("containerStatuses") or []) else None

    async def events(self, name: str) -> list[tuple[str, str, str]]:
        evs, _ = await self.client.list("v1", "Event", "default")
        return [(e["type"], e["reason"], e["message"]) for e in evs if e["involvedObject"]["name"] == name]


@pytest.fixture
async def cluster(request, tmp_path):
    c = Cluster(str(tmp_path), shared=getattr(request, "param", "own") == "shared")
    await c.start()
    try:
        yield c
    finally:
        await c.stop()


def pv(name: str, path: str, mode: str = "ReadWriteOnce") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"storageClassName": "manual", "capacity": {"storage": "1Gi"}, "accessModes": [mode],
                     "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": path, "type": "DirectoryOrCreate"}}}


def pvc(name: str, mode: str = "ReadWriteOnce") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": "default"},
            "spec": {"storageClassName": "manual", "accessModes": [mode], "resources": {"requests": {"storage": "1Gi"}}}}


def pod(name: str, node: str, containers: list[dict[str, Any]], volumes: list[dict[str, Any]] | None = None,
        **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default",
                                                           "labels": {"app": "nginx"}},
            "spec": {"nodeName": node, "containers": containers, "volumes": volumes or [],
                     "terminationGracePeriodSeconds": 2, **spec}}


def claim_volume(name: str, claim: str) -> dict[str, Any]:
    return {"name": name, "persistentVolumeClaim": {"claimName": claim}}


async def exec_ws(agent: NodeAgent, pod_name: str, container: str, command: list[str], *, stdin: bytes | None = None,
                  tty: bool = False, protocols: tuple[str, ...] = ("v5.channel.k8s.io",)
                  ) -> tuple[dict[int, bytes], dict[str, Any] | None, str | None]:
    """Run a command through the agent's exec endpoint: (bytes per channel, final Status, protocol)."""
    return await asyncio.wait_for(_exec_ws(agent, pod_name, container, command, stdin, tty, protocols), 15)


async def _exec_ws(agent: NodeAgent, pod_name: str, container: str, command: list[str], stdin: bytes | None,
                   tty: bool, protocols: tuple[str, ...]) -> tuple[dict[int, bytes], dict[str, Any] | None, str | None]:
    params: list[tuple[str, str]] = [("command", c) for c in command] + [("stdout", "true")]
    params.append(("tty", "true") if tty else ("stderr", "true"))
    if stdin is not None:
        params.append(("stdin", "true"))
    url = f"https://127.0.0.1:{agent.port}/exec/default/{pod_name}/{container}"
    out: dict[int, bytes] = {}
    status = None
    async with aiohttp.ClientSession() as s, s.ws_connect(
            url, params=params, protocols=protocols, ssl=False, headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=aiohttp.ClientWSTimeout(ws_close=10)) as ws:
        if stdin is not None:
            await ws.send_bytes(b"\x00" + stdin)
            await ws.send_bytes(bytes([255, 0]))
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.BINARY:
                break
            ch, data = msg.data[0], msg.data[1:]
            if ch == 3:
                status = json.loads(data)
            else:
                out[ch] = out.get(ch, b"") + data
        return out, status, ws.protocol


async def get_logs(agent: NodeAgent, pod_name: str, container: str, **params: str) -> tuple[int, str]:
    return await asyncio.wait_for(_get_logs(agent, pod_name, container, **params), 15)


async def _get_logs(agent: NodeAgent, pod_name: str, container: str, **params: str) -> tuple[int, str]:
    url = f"https://127.0.0.1:{agent.port}/containerLogs/default/{pod_name}/{container}"
    async with aiohttp.ClientSession() as s, s.get(url, params=params, ssl=False,
                                                   headers={"Authorization": f"Bearer {TOKEN}"}) as r:
        return r.status, await r.text()


# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cluster", ["own", "shared"], indirect=True)
async def test_pod_with_claim_runs_serves_exec_and_is_deleted(cluster, tmp_path):
    data = str(tmp_path / "data")
    await cluster.client.create(pv("pv-www", data))
    await cluster.client.create(pvc("www-web-0"))
    agent = await cluster.agent("node-a")
    await cluster.client.create(pod("web-0", "node-a", [{
        "name": "nginx", "image": "nginx",
        "env": [{"name": "GREETING", "value": "hi"}, {"name": "MY_POD", "valueFrom": {"fieldRef": {
            "fieldPath": "metadata.name"}}}, {"name": "MSG", "value": "$(GREETING) from $(MY_POD)"}],
        "volumeMounts": [{"name": "www", "mountPath": "/usr/share/nginx/html"},
                         {"name": "www", "mountPath": "/ro", "readOnly": True},
                         {"name": "www", "mountPath": "/sub", "subPath": "nested/dir"}]}],
        [claim_volume("www", "www-web-0")]))
    p = await until(lambda: cluster.running("web-0"), timeout=15, what="web-0 Running")

    st = p["status"]
    assert st["hostIP"] == st["podIP"] == "127.0.0.1" and st["podIPs"] == [{"ip": "127.0.0.1"}]
    assert st["startTime"]
    conds = {c["type"]: c["status"] for c in st["conditions"]}
    assert conds == {"PodReadyToStartContainers": "True", "Initialized": "True", "Ready": "True",
                     "ContainersReady": "True", "PodScheduled": "True"}
    assert all(c["lastTransitionTime"] for c in st["conditions"])
    (cs,) = st["containerStatuses"]
    assert cs["name"] == "nginx" and cs["ready"] and cs["started"] and cs["restartCount"] == 0
    assert cs["image"] == "docker.io/library/nginx:latest" and cs["imageID"].startswith("docker.io/library/nginx@sha256:")
    assert cs["containerID"].startswith("orlop://") and "startedAt" in cs["state"]["running"]

    node = await cluster.client.get("v1", "Node", None, "node-a")
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "node-a"
    assert node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == agent.port
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"][0]
    assert (ready["status"], ready["reason"], ready["message"]) == ("True", "KubeletReady",
                                                                    "kubelet is posting ready status")
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("orlop-process://")
    lease = await cluster.client.get("coordination.k8s.io/v1", "Lease", "kube-node-lease", "node-a")
    assert lease["spec"]["holderIdentity"] == "node-a" and lease["spec"]["leaseDurationSeconds"] == 40
    vol = await cluster.client.get("v1", "PersistentVolume", None, "pv-www")
    assert vol["metadata"]["annotations"][ATTACHED_NODE] == "node-a"

    # exec: writes into the claim's directory; the hostname is the pod's
    out, status, proto = await exec_ws(agent, "web-0", "nginx", [
        "sh", "-c", "echo hello $(hostname) > /usr/share/nginx/html/index.html; echo $MSG; echo oops >&2"])
    assert proto == "v5.channel.k8s.io" and status == {"metadata": {}, "status": "Success"}
    assert out == {1: b"hi from web-0\n", 2: b"oops\n"}
    with open(os.path.join(data, "index.html")) as f:
        assert f.read() == "hello web-0\n"
    assert os.path.isdir(os.path.join(data, "nested", "dir"))
    out, status, _ = await exec_ws(agent, "web-0", "nginx", ["sh", "-c", "cat /sub/../../index.html; ls /sub"])
    assert status["status"] == "Success"

    out, status, _ = await exec_ws(agent, "web-0", "nginx", ["sh", "-c", "exit 3"])
    assert status == {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                      "message": "command terminated with non-zero exit code: error executing command "
                                 "[sh -c exit 3], exit code 3",
                      "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}

    out, status, _ = await exec_ws(agent, "web-0", "nginx", ["sh", "-c", "touch /ro/x"])
    assert status["reason"] == "NonZeroExitCode" and b"Read-only file system" in out[2]
    assert not os.path.exists(os.path.join(data, "x"))

    out, status, proto = await exec_ws(agent, "web-0", "nginx", ["echo", "v4"],
                                       protocols=("v4.channel.k8s.io", "v5.channel.k8s.io"))
    assert proto == "v4.channel.k8s.io" and out == {1: b"v4\n"} and status["status"] == "Success"
    out, status, proto = await exec_ws(agent, "web-0", "nginx", ["cat"], stdin=b"through stdin\n")
    assert out[1] == b"through stdin\n" and status["status"] == "Success"

    out, status, _ = await exec_ws(agent, "web-0", "nginx", ["tty"], tty=True)
    assert out[1].startswith(b"/dev/pts/") and status["status"] == "Success"

    out, status, _ = await exec_ws(agent, "web-0", "nope", ["true"])
    assert status["status"] == "Failure" and status["message"] == 'container not found ("nope")'

    async with aiohttp.ClientSession() as s, s.get(f"https://127.0.0.1:{agent.port}/containerLogs/default/web-0/"
                                                   "nginx", ssl=False) as r:
        assert r.status == 401

    events = await cluster.events("web-0")
    for expected in [("Normal", "Pulled", 'Container image "nginx" already present on machine'),
                     ("Normal", "Created", "Created container nginx"),
                     ("Normal", "Started", "Started container nginx")]:
        assert expected in events

    # graceful delete: processes stop, mounts go, the object is removed, the volume is released
    pid = agent.runtime.statuses(p["metadata"]["uid"])[0].pid
    assert pid and alive(pid)
    pod_dir = os.path.join(agent.pods_dir, p["metadata"]["uid"])
    assert mounts.mount_points(pod_dir)
    await cluster.client.delete("v1", "Pod", "default", "web-0")
    await until(lambda: _gone(cluster, "web-0"), timeout=10, what="web-0 removed")
    assert not alive(pid)
    assert mounts.mount_points(agent.pods_dir) == [] and not os.path.exists(pod_dir)
    assert ("Normal", "Killing", "Stopping container nginx") in await cluster.events("web-0")
    vol = await until(lambda: _released(cluster, "pv-www"), what="attachment released")
    assert ATTACHED_NODE not in (vol["metadata"].get("annotations") or {})
    with open(os.path.join(data, "index.html")) as f:      # the data stays
        assert f.read() == "hello web-0\n"


async def _gone(cluster: Cluster, name: str) -> bool:
    return await cluster.pod(name) is None


async def _released(cluster: Cluster, pv_name: str) -> dict[str, Any] | None:
    vol = await cluster.client.get("v1", "PersistentVolume", None, pv_name)
    return vol if ATTACHED_NODE not in (vol["metadata"].get("annotations") or {}) else None


async def test_logs_and_restart_policy_never(cluster):
    agent = await cluster.agent("node-a")
    await cluster.client.create(pod("printer", "node-a", [{
        "name": "main", "image": "busybox",
        "command": ["sh", "-c", "echo one; echo two; echo three >&2; sleep 1; echo four; exit 1"]}],
        restartPolicy="Never"))
    await until(lambda: _container_running(cluster, "printer"), what="printer started")
    follow = asyncio.create_task(get_logs(agent, "printer", "main", follow="true"))
    await until(lambda: _is(cluster, "printer", "Failed"), timeout=10, what="printer Failed")
    code, text = await asyncio.wait_for(follow, 5)
    assert code == 200 and text == "one\ntwo\nthree\nfour\n"
    code, text = await get_logs(agent, "printer", "main", tailLines="2")
    assert (code, text) == (200, "three\nfour\n")
    code, text = await get_logs(agent, "printer", "main", tailLines="1", timestamps="true")
    stamp, line = text.split(" ", 1)
    assert line == "four\n" and stamp.endswith("Z") and len(stamp) == len("2024-01-01T00:00:00.000000000Z")
    code, text = await get_logs(agent, "printer", "main", previous="true")
    assert code == 400 and 'previous terminated container \\"main\\" in pod \\"printer\\" not found' in text

    p = await cluster.pod("printer")
    (cs,) = p["status"]["containerStatuses"]
    term = cs["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (1, "Error") and not cs["ready"] and cs["restartCount"] == 0
    conds = {c["type"]: (c["status"], c.get("reason")) for c in p["status"]["conditions"]}
    assert conds["Ready"] == ("False", "ContainersNotReady")
    assert conds["PodReadyToStartContainers"] == ("False", None)


async def _container_running(cluster: Cluster, name: str) -> bool:
    p = await cluster.pod(name)
    return bool(p) and any("running" in c["state"] for c in p["status"].get("containerStatuses") or [])


async def _is(cluster: Cluster, name: str, phase: str) -> bool:
    return await cluster.phase(name) == phase


async def test_restart_always_counts_restarts_and_keeps_previous_log(cluster):
    agent = await cluster.agent("node-a")
    await cluster.client.create(pod("crasher", "node-a", [{
        "name": "c", "image": "busybox", "command": ["sh", "-c", "echo run; exit 2"]}]))
    p = await until(lambda: _restarted(cluster, "crasher", 2), timeout=15, what="two restarts")
    cs = p["status"]["containerStatuses"][0]
    assert cs["lastState"]["terminated"]["exitCode"] == 2 and p["status"]["phase"] == "Running"
    code, text = await get_logs(agent, "crasher", "c", previous="true")
    assert (code, text) == (200, "run\n")
    reasons = [r for _, r, _ in await cluster.events("crasher")]
    assert "BackOff" in reasons


async def _restarted(cluster: Cluster, name: str, n: int) -> dict[str, Any] | None:
    p = await cluster.pod(name)
    css = (p or {}).get("status", {}).get("containerStatuses") or []
    return p if css and css[0]["restartCount"] >= n else None


@pytest.mark.parametrize("cluster", ["own", "shared"], indirect=True)
async def test_agent_restart_adopts_running_and_cleans_up_deleted(cluster):
    agent = await cluster.agent("node-a")
    keep = pod("keep", "node-a", [{"name": "c", "image": "nginx"}], [{"name": "scratch", "emptyDir": {}}])
    keep["spec"]["containers"][0]["volumeMounts"] = [{"name": "scratch", "mountPath": "/scratch"}]
    host_dir = os.path.join(cluster.tmp, "host")
    gone = pod("gone", "node-a", [{"name": "c", "image": "nginx", "volumeMounts": [
        {"name": "h", "mountPath": "/h"}]}], [{"name": "h", "hostPath": {"path": host_dir, "type": "DirectoryOrCreate"}}])
    await cluster.client.create(keep)
    await cluster.client.create(gone)
    k = await until(lambda: cluster.running("keep"), timeout=15, what="keep Running")
    g = await until(lambda: cluster.running("gone"), timeout=15, what="gone Running")
    keep_pid = agent.runtime.statuses(k["metadata"]["uid"])[0].pid
    gone_pid = agent.runtime.statuses(g["metadata"]["uid"])[0].pid
    gone_dir = os.path.join(agent.pods_dir, g["metadata"]["uid"])
    assert mounts.mount_points(gone_dir)

    await agent.stop()
    cluster.agents.remove(agent)
    assert alive(keep_pid) and alive(gone_pid)          # stopping the agent leaves containers running
    await cluster.client.delete("v1", "Pod", "default", "gone", grace_period_seconds=0)
    assert await cluster.pod("gone") is None

    agent2 = await cluster.agent("node-a")
    assert agent2.runtime.statuses(k["metadata"]["uid"])[0].pid == keep_pid and alive(keep_pid)
    await until(lambda: _not_alive(gone_pid), what="the deleted pod's container killed")
    assert mounts.mount_points(gone_dir) == [] and not os.path.exists(gone_dir)
    k2 = await cluster.running("keep")
    assert k2["status"]["containerStatuses"][0]["containerID"] == k["status"]["containerStatuses"][0]["containerID"]
    out, status, _ = await exec_ws(agent2, "keep", "c", ["sh", "-c", "echo $HOSTNAME"])
    assert out[1] == b"keep\n" and status["status"] == "Success"


async def _not_alive(pid: int) -> bool:
    return not alive(pid)


@pytest.mark.parametrize("cluster", ["own", "shared"], indirect=True)
async def test_multi_attach_keeps_second_pod_pending_until_first_is_gone(cluster, tmp_path):
    await cluster.client.create(pv("pv-rwo", str(tmp_path / "rwo")))
    await cluster.client.create(pvc("shared"))
    await cluster.agent("node-a", runtime="simulated")
    await cluster.agent("node-b", runtime="simulated")
    await cluster.client.create(pod("first", "node-a", [{"name": "c", "image": "nginx"}],
                                    [claim_volume("data", "shared")]))
    await until(lambda: cluster.running("first"), timeout=10, what="first Running")
    await cluster.client.create(pod("second", "node-b", [{"name": "c", "image": "nginx"}],
                                    [claim_volume("data", "shared")]))
    msg = 'Multi-Attach error for volume "pv-rwo" Volume is already used by pod(s) first'
    await until(lambda: _has_event(cluster, "second", "FailedAttachVolume", msg), what="Multi-Attach event")
    p = await cluster.pod("second")
    assert p["status"]["phase"] == "Pending"
    assert p["status"]["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    evs, _ = await cluster.client.list("v1", "Event", "default")
    (ev,) = [e for e in evs if e["reason"] == "FailedAttachVolume"]
    assert ev["type"] == "Warning" and ev["source"]["component"] == "attachdetach-controller"

    await cluster.client.delete("v1", "Pod", "default", "first")
    await until(lambda: cluster.running("second"), timeout=10, what="second Running after first is gone")
    vol = await cluster.client.get("v1", "PersistentVolume", None, "pv-rwo")
    assert vol["metadata"]["annotations"][ATTACHED_NODE] == "node-b"


async def _has_event(cluster: Cluster, name: str, reason: str, message: str) -> bool:
    return any(r == reason and m == message for _, r, m in await cluster.events(name))


@pytest.mark.parametrize("cluster", ["own", "shared"], indirect=True)
async def test_unbound_claim_waits_with_failed_mount(cluster):
    await cluster.client.create(pvc("lonely"))
    await cluster.agent("node-a", runtime="simulated", mount_warn_after=0.2)
    await cluster.client.create(pod("waiter", "node-a", [{"name": "c", "image": "nginx"}],
                                    [claim_volume("data", "lonely")]))
    msg = ('Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[], failed to process '
           'volumes=[data]: error processing PVC default/lonely: PVC default/lonely has non-bound phase ("Pending") '
           'or empty pvc.Spec.VolumeName ("")')
    await until(lambda: _has_event(cluster, "waiter", "FailedMount", msg), what="FailedMount event")
    p = await cluster.pod("waiter")
    assert p["status"]["phase"] == "Pending" and p["status"]["hostIP"] == "127.0.0.1"
    conds = {c["type"]: c["status"] for c in p["status"]["conditions"]}
    assert conds["PodReadyToStartContainers"] == "False" and conds["Ready"] == "False"
    await cluster.client.create(pv("pv-late", os.path.join(cluster.tmp, "late")))
    await until(lambda: cluster.running("waiter"), timeout=10, what="waiter Running once the claim is Bound")


async def test_simulated_runtime_runs_200_pods_quickly(cluster):
    agent = await cluster.agent("sim", runtime="simulated")
    await asyncio.gather(*(cluster.client.create(pod(f"p{i}", "sim", [{"name": "c", "image": "nginx"}]))
                           for i in range(200)))
    await until(lambda: _all_running(cluster, 200), timeout=30, what="200 pods Running")
    out, status, _ = await exec_ws(agent, "p0", "c", ["true"])
    assert status["status"] == "Failure" and "simulated runtime has no processes" in status["message"]


async def _all_running(cluster: Cluster, n: int) -> bool:
    pods, _ = await cluster.client.list("v1", "Pod", "default")
    return sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Running") == n


async def test_init_container_and_projected_files(cluster):
    agent = await cluster.agent("node-a")
    await cluster.client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg",
                                 "namespace": "default"}, "data": {"app.conf": "x=1\n", "other": "y"}})
    await cluster.client.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec",
                                 "namespace": "default"}, "data": {"password": "czNjcjN0"}})
    p = pod("init", "node-a", [{
        "name": "main", "image": "busybox", "command": ["sh", "-c", "cat /work/ready; sleep infinity"],
        "volumeMounts": [{"name": "work", "mountPath": "/work"}, {"name": "cfg", "mountPath": "/etc/app"},
                         {"name": "sec", "mountPath": "/etc/sec"}, {"name": "info", "mountPath": "/etc/info"}]}],
        [{"name": "work", "emptyDir": {}},
         {"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "app.conf", "path": "conf/app.conf"}]}},
         {"name": "sec", "secret": {"secretName": "sec", "defaultMode": 0o400}},
         {"name": "info", "downwardAPI": {"items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                                                    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}],
        initContainers=[{"name": "prepare", "image": "busybox", "command": ["sh", "-c", "echo prepared > /work/ready"],
                         "volumeMounts": [{"name": "work", "mountPath": "/work"}]}])
    await cluster.client.create(p)
    running_pod = await until(lambda: cluster.running("init"), timeout=15, what="init pod Running")
    (ics,) = running_pod["status"]["initContainerStatuses"]
    assert ics["state"]["terminated"]["reason"] == "Completed" and ics["state"]["terminated"]["exitCode"] == 0
    await until(lambda: _logs_are(agent, "init", "main", "prepared\n"), what="main read the init container's file")
    out, status, _ = await exec_ws(agent, "init", "main", [
        "sh", "-c", "cat /etc/app/conf/app.conf /etc/sec/password; echo; cat /etc/info/name; echo; "
                    "cat /etc/info/labels; echo; stat -c %a /etc/sec/password; ls /etc/app"])
    assert status["status"] == "Success"
    assert out[1] == b'x=1\ns3cr3t\ninit\napp="nginx"\n400\nconf\n'


async def _logs_are(agent: NodeAgent, pod_name: str, container: str, text: str) -> bool:
    return await get_logs(agent, pod_name, container) == (200, text)
