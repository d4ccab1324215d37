"""The node agent's pure decisions, table-driven: what to start, what status to report, how a
container's environment and mounts resolve, how CRI logs read, which messages it writes."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from orlop.node import crilog, nodeinfo
from orlop.node.plan import Backoff, go_duration, plan
from orlop.node.podspec import ConfigError, container_config, expand, field_value, hostname_of
from orlop.node.runtime import EXITED, RUNNING, ContainerStatus, LogOptions, SimulatedRuntime
from orlop.node.server import exit_status
from orlop.node.status import image_name, pod_phase, pod_status
from orlop.node.volumes import check_host_path, multi_attach_message, needs_attach, project_keys

UID = "1234"


def mkpod(containers: list[str], inits: list[str] = (), policy: str = "Always", **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-0", "namespace": "default", "uid": UID, **meta},
            "spec": {"restartPolicy": policy, "nodeName": "n1",
                     "containers": [{"name": n, "image": "nginx"} for n in containers],
                     "initContainers": [{"name": n, "image": "busybox"} for n in inits]},
            "status": {"phase": "Pending", "qosClass": "BestEffort"}}


def running(name: str, attempt: int = 0, init: bool = False) -> ContainerStatus:
    return ContainerStatus(name, f"id-{name}-{attempt}", attempt, "nginx", RUNNING, "2024-01-01T00:00:00Z", init=init)


def exited(name: str, code: int, attempt: int = 0, finished: float = 1000.0, init: bool = False) -> ContainerStatus:
    return ContainerStatus(name, f"id-{name}-{attempt}", attempt, "nginx", EXITED, "2024-01-01T00:00:00Z",
                           "2024-01-01T00:00:01Z", code, "Completed" if code == 0 else "Error",
                           finished_epoch=finished, init=init)


BACKOFF = Backoff(base=10, cap=300)


@pytest.mark.parametrize("pod,statuses,now,starts,waiting,phase", [
    # fresh pod: every container starts
    (mkpod(["a", "b"]), [], 1000, [("a", 0), ("b", 0)], {}, "Pending"),
    (mkpod(["a"]), [running("a")], 1000, [], {}, "Running"),
    # first restart at once, the next ones after 10s, 20s ...
    (mkpod(["a"]), [exited("a", 1)], 1000, [("a", 1)], {}, "Running"),
    (mkpod(["a"]), [exited("a", 1, attempt=1)], 1005, [], {"a": "CrashLoopBackOff"}, "Running"),
    (mkpod(["a"]), [exited("a", 1, attempt=1)], 1010, [("a", 2)], {}, "Running"),
    (mkpod(["a"]), [exited("a", 1, attempt=2)], 1015, [], {"a": "CrashLoopBackOff"}, "Running"),
    # Always restarts even a success; OnFailure only a failure; Never nothing
    (mkpod(["a"]), [exited("a", 0)], 1000, [("a", 1)], {}, "Running"),
    (mkpod(["a"], policy="OnFailure"), [exited("a", 0)], 1000, [], {}, "Succeeded"),
    (mkpod(["a"], policy="OnFailure"), [exited("a", 3)], 1000, [("a", 1)], {}, "Running"),
    (mkpod(["a"], policy="Never"), [exited("a", 1)], 1000, [], {}, "Failed"),
    (mkpod(["a", "b"], policy="Never"), [exited("a", 0), exited("b", 0)], 1000, [], {}, "Succeeded"),
    (mkpod(["a", "b"], policy="Never"), [exited("a", 0), running("b")], 1000, [], {}, "Running"),
    # init containers: one at a time, in order, before the others
    (mkpod(["a"], ["i1", "i2"]), [], 1000, [("i1", 0)], {"i2": "PodInitializing", "a": "PodInitializing"}, "Pending"),
    (mkpod(["a"], ["i1", "i2"]), [running("i1", init=True)], 1000, [], {"i2": "PodInitializing",
                                                                        "a": "PodInitializing"}, "Pending"),
    (mkpod(["a"], ["i1", "i2"]), [exited("i1", 0, init=True)], 1000, [("i2", 0)], {"a": "PodInitializing"}, "Pending"),
    (mkpod(["a"], ["i1"]), [exited("i1", 0, init=True)], 1000, [("a", 0)], {}, "Pending"),
    (mkpod(["a"], ["i1"], policy="Never"), [exited("i1", 1, init=True)], 1000, [], {"a": "PodInitializing"}, "Failed"),
    (mkpod(["a"], ["i1"]), [exited("i1", 1, init=True)], 1000, [("i1", 1)], {"a": "PodInitializing"}, "Pending"),
])
def test_plan_and_phase(pod, statuses, now, starts, waiting, phase):
    p = plan(pod, statuses, now, BACKOFF)
    assert [(c["name"], attempt) for c, _, attempt in p.start] == starts
    assert {k: v[0] for k, v in p.waiting.items()} == waiting
    assert pod_phase(pod, statuses, p) == phase


def test_crash_loop_message_and_retry():
    p = plan(mkpod(["nginx"]), [exited("nginx", 1, attempt=2, finished=1000)], 1005, BACKOFF)
    assert p.waiting["nginx"] == ("CrashLoopBackOff",
                                  f"back-off 20s restarting failed container=nginx pod=web-0_default({UID})")
    assert p.retry_after == 15 and p.backing_off == ["nginx"]
    assert [go_duration(s) for s in (10, 80, 300, 3700)] == ["10s", "1m20s", "5m0s", "1h1m40s"]


def test_status_running_pod():
    pod = mkpod(["nginx"])
    pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                    "lastTransitionTime": "2024-01-01T00:00:00Z"}]
    statuses = [exited("nginx", 1, attempt=0), running("nginx", attempt=1)]
    p = plan(pod, statuses, 2000, BACKOFF)
    st = pod_status(pod, statuses, p, host_ip="10.0.0.5", start_time="2024-01-01T00:00:00Z", sandbox_ready=True,
                    now="2024-01-02T00:00:00Z")
    assert st["phase"] == "Running" and st["qosClass"] == "BestEffort"
    assert [(c["type"], c["status"]) for c in st["conditions"]] == [
        ("PodReadyToStartContainers", "True"), ("Initialized", "True"), ("Ready", "True"), ("ContainersReady", "True"),
        ("PodScheduled", "True")]
    assert st["conditions"][-1]["lastTransitionTime"] == "2024-01-01T00:00:00Z"
    assert st["hostIPs"] == st["podIPs"] == [{"ip": "10.0.0.5"}] and st["podIP"] == "10.0.0.5"
    (cs,) = st["containerStatuses"]
    assert cs["state"] == {"running": {"startedAt": "2024-01-01T00:00:00Z"}} and cs["restartCount"] == 1
    assert cs["lastState"]["terminated"]["exitCode"] == 1 and cs["containerID"] == "orlop://id-nginx-1"
    assert cs["ready"] and cs["started"] and cs["image"] == "docker.io/library/nginx:latest"
    # the same inputs later: the same status (transition times kept)
    again = pod_status(dict(pod, status=st), statuses, p, host_ip="10.0.0.5", start_time="x", sandbox_ready=True,
                       now="2024-01-03T00:00:00Z")
    assert again == st


def test_status_waiting_and_completed():
    pod = mkpod(["nginx", "side"])
    p = plan(pod, [], 0, BACKOFF)
    p.waiting = {"nginx": ("ContainerCreating", ""), "side": ("ContainerCreating", "")}
    st = pod_status(pod, [], p, host_ip="1.2.3.4", start_time="t0", sandbox_ready=False, now="t1")
    conds = {c["type"]: c for c in st["conditions"]}
    assert conds["Ready"]["reason"] == "ContainersNotReady"
    assert conds["Ready"]["message"] == "containers with unready status: [nginx side]"
    assert conds["PodReadyToStartContainers"]["status"] == "False" and st["phase"] == "Pending"
    assert st["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}

    pod = mkpod(["a"], ["init"], policy="OnFailure")
    statuses = [exited("init", 0, init=True), exited("a", 0)]
    st = pod_status(pod, statuses, plan(pod, statuses, 0, BACKOFF), host_ip="1.2.3.4", start_time="t0",
                    sandbox_ready=True, now="t1")
    conds = {c["type"]: (c["status"], c.get("reason")) for c in st["conditions"]}
    assert st["phase"] == "Succeeded"
    assert conds["Ready"] == ("False", "PodCompleted") and conds["Initialized"] == ("True", "PodCompleted")
    assert st["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"


@pytest.mark.parametrize("image,full", [
    ("nginx", "docker.io/library/nginx:latest"),
    ("nginx:1.25", "docker.io/library/nginx:1.25"),
    ("bitnami/redis", "docker.io/bitnami/redis:latest"),
    ("quay.io/coreos/etcd:v3", "quay.io/coreos/etcd:v3"),
    ("localhost:5000/app", "localhost:5000/app:latest"),
    ("busybox@sha256:abc", "docker.io/library/busybox@sha256:abc"),
])
def test_image_name(image, full):
    assert image_name(image) == full


def test_environment_and_mounts():
    pod = mkpod(["c"], labels={"app": "web", "tier": "a"})
    c = {"name": "c", "image": "busybox", "command": ["sh", "-c"], "args": ["echo $(GREETING) $$(NOT) $(MISSING)"],
         "workingDir": "/w",
         "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
         "env": [{"name": "GREETING", "value": "hello $(CM_K)"},
                 {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                 {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                 {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                 {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "s", "key": "p"}}},
                 {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}}],
         "resources": {"limits": {"memory": "64Mi"}},
         "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True},
                          {"name": "data", "mountPath": "/sub", "subPathExpr": "$(POD)/x"}]}
    objects = {("ConfigMap", "cm"): {"kind": "ConfigMap", "data": {"K": "v"}},
               ("Secret", "s"): {"kind": "Secret", "data": {"p": "czNjcjN0"}}}
    cfg = container_config(pod, c, init=False, host_ip="10.1.1.1", volume_paths={"data": "/host/data"},
                           objects=objects)
    assert cfg.argv == ["sh", "-c", "echo hello v $(NOT) $(MISSING)"]
    assert cfg.env == [("CM_K", "v"), ("GREETING", "hello v"), ("POD", "web-0"), ("IP", "10.1.1.1"), ("APP", "web"),
                       ("PASS", "s3cr3t"), ("MEM", "64")]
    assert [(m.host_path, m.container_path, m.read_only) for m in cfg.mounts] == [
        ("/host/data", "/data", True), ("/host/data/web-0/x", "/sub", False)]
    assert cfg.working_dir == "/w"
    with pytest.raises(ConfigError, match='configmap "cm" not found'):
        container_config(pod, c, init=False, host_ip="", volume_paths={"data": "/d"}, objects={})
    assert field_value(pod, "metadata.labels", "") == 'app="web"\ntier="a"'
    assert expand("$(A)-$$(A)-$(B)", {"A": "1"}) == "1-$(A)-$(B)"


def test_hostname():
    assert hostname_of(mkpod(["c"])) == "web-0"
    long = mkpod(["c"])
    long["metadata"]["name"] = "a" * 62 + "-b"
    assert hostname_of(long) == "a" * 62
    long["spec"]["hostname"] = "custom"
    assert hostname_of(long) == "custom"


def test_crilog_reading(tmp_path):
    path = tmp_path / "0.log"
    path.write_bytes(b"2024-01-01T00:00:00.000000001Z stdout F one\n"
                     b"2024-01-01T00:00:01.000000000Z stderr F two\n"
                     b"2024-01-01T00:00:02.000000000Z stdout P thr\n"
                     b"2024-01-01T00:00:02.000000001Z stdout F ee\n"
                     b"2024-01-01T00:00:03.000000000Z stdout F four\n")

    async def read(**kw: Any) -> bytes:
        return b"".join([c async for c in crilog.read_log(str(path), LogOptions(**kw), lambda: False)])

    assert asyncio.run(read()) == b"one\ntwo\nthree\nfour\n"
    assert asyncio.run(read(tail_lines=1)) == b"four\n"
    assert asyncio.run(read(tail_lines=3)) == b"three\nfour\n"
    assert asyncio.run(read(tail_lines=0)) == b""
    assert asyncio.run(read(limit_bytes=6)) == b"one\ntw"
    assert asyncio.run(read(tail_lines=1, timestamps=True)) == b"2024-01-01T00:00:03.000000000Z four\n"
    assert asyncio.run(read(since_seconds=60)) == b""       # all older than a minute
    assert asyncio.run(read(follow=True)) == b"one\ntwo\nthree\nfour\n"    # not running: follow ends


def test_messages():
    assert exit_status(["sh", "-c", "exit 3"], 3)["message"] == (
        "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3")
    assert exit_status(["true"], 0) == {"metadata": {}, "status": "Success"}
    assert multi_attach_message("pv-1", ["web-0"]) == \
        'Multi-Attach error for volume "pv-1" Volume is already used by pod(s) web-0'


@pytest.mark.parametrize("modes,read_only,attach", [
    (["ReadWriteOnce"], False, True), (["ReadWriteOncePod"], False, True), (["ReadWriteMany"], False, False),
    (["ReadOnlyMany"], True, False), (["ReadOnlyMany"], False, True), (["ReadWriteOnce", "ReadWriteMany"], False, False),
])
def test_needs_attach(modes, read_only, attach):
    assert needs_attach({"spec": {"accessModes": modes}}, read_only) is attach


def test_host_path_types_and_projection(tmp_path):
    d = str(tmp_path / "new" / "dir")
    check_host_path(d, "DirectoryOrCreate", create=True)
    assert os.path.isdir(d)
    with pytest.raises(ValueError, match="is not a directory"):
        check_host_path(str(tmp_path / "missing"), "Directory", create=True)
    f = str(tmp_path / "f.txt")
    check_host_path(f, "FileOrCreate", create=True)
    assert os.path.isfile(f)
    with pytest.raises(ValueError, match="is not a socket file"):
        check_host_path(f, "Socket", create=True)
    files = {"a": b"1", "b": b"2"}
    assert project_keys("ConfigMap", "cm", files, {}, 0o644) == [("a", b"1", 0o644), ("b", b"2", 0o644)]
    assert project_keys("ConfigMap", "cm", files, {"items": [{"key": "b", "path": "x/y", "mode": 0o600}]}, 0o644) == \
        [("x/y", b"2", 0o600)]
    assert project_keys("Secret", "s", None, {"optional": True}, 0o644) == []
    with pytest.raises(ValueError, match='secret "s" not found'):
        project_keys("Secret", "s", None, {}, 0o644)


def test_node_object_and_simulated_runtime(tmp_path):
    facts = nodeinfo.machine_facts(str(tmp_path))
    node = nodeinfo.node_object("node-1", "10.0.0.9", 10250, facts, "orlop-simulated://0.1.0", "t0")
    st = node["status"]
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "node-1"
    assert [c["type"] for c in st["conditions"]] == ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
    assert st["addresses"] == [{"type": "InternalIP", "address": "10.0.0.9"}, {"type": "Hostname", "address": "node-1"}]
    assert st["capacity"]["pods"] == "110" and st["capacity"]["cpu"] == str(os.cpu_count())
    assert int(st["allocatable"]["ephemeral-storage"]) < int(st["capacity"]["ephemeral-storage"][:-2]) * 1024
    assert st["nodeInfo"]["kubeletVersion"] == "v1.32.0-orlop" and st["nodeInfo"]["operatingSystem"] == "linux"

    async def sim() -> None:
        from orlop.node.runtime import ContainerConfig, NotSupported, PodSandbox
        rt = SimulatedRuntime()
        sb = PodSandbox("u", "default", "p", "p")
        st1 = await rt.start_container(sb, ContainerConfig("c", "nginx", []), 0)
        assert st1.state == RUNNING
        with pytest.raises(NotSupported, match="simulated runtime has no processes"):
            await rt.exec("u", "c", ["true"], stdin=False, stdout=True, stderr=False, tty=False)
        await rt.stop_container("u", "c", 5)
        assert rt.statuses("u")[0].state == EXITED
    asyncio.run(sim())
