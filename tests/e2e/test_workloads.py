"""The seeds' data flows end to end: pods scheduled, volumes mounted, data written with kubectl exec.

Why this exists: seeds 002/003 (实践四), 004 and 000 prove storage with data — write through
one pod, delete it, read the same bytes through its successor.  These tests run those flows
with the real kubectl against ``orlop up`` (scheduler, node agent and process runtime in the
same process; we are root), plus a second ``orlop agent`` for the cross-node rules.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from conftest import reap_containers
from helpers import create_namespace, get_json, unique, wait_pod_ready, wait_until

MANIFESTS = os.path.join(os.path.dirname(__file__), "manifests")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the process runtime needs root (mounts, namespaces)")


def manifest(name: str) -> str:
    with open(os.path.join(MANIFESTS, name)) as f:
        return f.read()


def dump(*objs: dict[str, Any]) -> str:
    return yaml.safe_dump_all(objs)


def pod_ready(o: Any, ns: str, name: str) -> bool:
    cp = o.kubectl("get", "pod", name, "-n", ns, "-o", "json", check=False)
    if cp.returncode != 0:
        return False
    pod = json.loads(cp.stdout)
    if pod["metadata"].get("deletionTimestamp"):
        return False
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def events(o: Any, ns: str, name: str) -> list[dict[str, Any]]:
    out = get_json(o, "events", "-n", ns, "--field-selector", f"involvedObject.name={name}")
    return list(out["items"])


def test_seed002_statefulset_web_data_survives_pod_deletion(orlop: Any) -> None:
    """Seed 002 实践四 / seed 003: hello web-0 / hello web-1 written by exec survive `kubectl delete pod`."""
    ns = unique("web")
    create_namespace(orlop, ns)
    orlop.kubectl("apply", "-n", ns, "-f", "-", input=manifest("seed002-statefulset-web.yaml"))
    orlop.kubectl("rollout", "status", "statefulset/web", "-n", ns, "--timeout=120s", timeout=130)
    claims = {}
    for i in (0, 1):
        claim = get_json(orlop, "pvc", f"www-web-{i}", "-n", ns)
        assert claim["status"]["phase"] == "Bound"
        assert claim["metadata"]["labels"] == {"app": "nginx"}
        claims[i] = (claim["metadata"]["uid"], claim["spec"]["volumeName"])
        out = orlop.kubectl("exec", f"web-{i}", "-n", ns, "--", "sh", "-c",
                            "echo hello $(hostname) > /usr/share/nginx/html/index.html")
        assert out.stdout == ""
        pv = get_json(orlop, "pv", claims[i][1])
        host_dir = (pv["spec"].get("hostPath") or pv["spec"].get("local"))["path"]
        with open(os.path.join(host_dir, "index.html")) as f:
            assert f.read() == f"hello web-{i}\n"
    old_uids = {i: get_json(orlop, "pod", f"web-{i}", "-n", ns)["metadata"]["uid"] for i in (0, 1)}

    out = orlop.kubectl("delete", "pod", "-l", "app=nginx", "-n", ns, "--timeout=60s", timeout=90)
    assert sorted(out.stdout.splitlines()) == ['pod "web-0" deleted', 'pod "web-1" deleted']
    for i in (0, 1):
        wait_until(lambda i=i: pod_ready(orlop, ns, f"web-{i}")
                   and get_json(orlop, "pod", f"web-{i}", "-n", ns)["metadata"]["uid"] != old_uids[i],
                   120, f"web-{i} to be recreated and Ready")
        out = orlop.kubectl("exec", f"web-{i}", "-n", ns, "--", "cat", "/usr/share/nginx/html/index.html")
        assert out.stdout == f"hello web-{i}\n"
        claim = get_json(orlop, "pvc", f"www-web-{i}", "-n", ns)
        assert (claim["metadata"]["uid"], claim["spec"]["volumeName"]) == claims[i]
        assert claim["status"]["phase"] == "Bound"
    pod = get_json(orlop, "pod", "web-1", "-n", ns)
    assert pod["spec"]["hostname"] == "web-1" and pod["spec"]["subdomain"] == "nginx"
    sts = get_json(orlop, "statefulset", "web", "-n", ns)
    assert sts["status"]["readyReplicas"] == 2 and sts["status"]["currentRevision"] == sts["status"]["updateRevision"]
    orlop.kubectl("delete", "namespace", ns, "--wait=false")


def test_seed004_one_pod_writes_another_reads(orlop: Any) -> None:
    """Seed 004: ceph-pod1 writes into ceph-claim, is deleted; ceph-pod2 reads the file (local-path here)."""
    ns = unique("seed4")
    create_namespace(orlop, ns)
    orlop.kubectl("create", "-n", ns, "-f", "-", input=manifest("seed004-ceph-claim.yaml"))
    orlop.kubectl("create", "-n", ns, "-f", "-", input=manifest("seed004-ceph-pod1.yaml"))
    wait_pod_ready(orlop, ns, "ceph-pod1", 90)
    orlop.kubectl("exec", "ceph-pod1", "-n", ns, "--", "sh", "-c",
                  "echo 'Hello World' > /usr/share/busybox/hello-ceph.txt")
    kinds = [e["reason"] for e in events(orlop, ns, "ceph-pod1")]
    for reason in ("Scheduled", "Pulled", "Created", "Started"):
        assert reason in kinds
    orlop.kubectl("delete", "pod", "ceph-pod1", "-n", ns, "--timeout=60s", timeout=90)
    assert orlop.kubectl("get", "pod", "ceph-pod1", "-n", ns, check=False).returncode == 1
    orlop.kubectl("create", "-n", ns, "-f", "-", input=manifest("seed004-ceph-pod2.yaml"))
    wait_pod_ready(orlop, ns, "ceph-pod2", 90)
    out = orlop.kubectl("exec", "ceph-pod2", "-n", ns, "--", "cat", "/usr/share/busybox/hello-ceph.txt")
    assert out.stdout == "Hello World\n"
    # Nothing of ceph-pod1 stays mounted on the machine.
    uid_dirs = [line for line in open("/proc/self/mountinfo") if "ceph-vol1" in line]
    assert uid_dirs == []
    orlop.kubectl("delete", "namespace", ns, "--wait=false")


def test_exec_exit_code_stdin_and_logs(orlop: Any) -> None:
    ns = unique("exec")
    create_namespace(orlop, ns)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "shell"},
           "spec": {"containers": [{"name": "main", "image": "busybox",
                                    "command": ["sh", "-c", "echo started $(hostname); echo to-stderr >&2; "
                                                            "exec sleep 100000"],
                                    "env": [{"name": "GREETING", "value": "hi there"}]}]}}
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(pod))
    wait_pod_ready(orlop, ns, "shell", 90)
    cp = orlop.kubectl("exec", "shell", "-n", ns, "--", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (cp.returncode, cp.stdout) == (3, "out\n")
    assert "err\n" in cp.stderr and "command terminated with exit code 3" in cp.stderr
    cp = orlop.kubectl("exec", "-i", "shell", "-n", ns, "--", "sh", "-c", 'cat; echo "$GREETING"',
                       input="from stdin\n")
    assert cp.stdout == "from stdin\nhi there\n"
    cp = orlop.kubectl("exec", "shell", "-n", ns, "--", "hostname")
    assert cp.stdout == "shell\n"
    wait_until(lambda: "started shell" in orlop.kubectl("logs", "shell", "-n", ns).stdout, 20, "the log line")
    logs = orlop.kubectl("logs", "shell", "-n", ns).stdout
    assert logs == "started shell\nto-stderr\n"
    assert orlop.kubectl("logs", "shell", "-n", ns, "--tail=1").stdout == "to-stderr\n"
    cp = orlop.kubectl("exec", "shell", "-n", ns, "-c", "nope", "--", "true", check=False)
    assert cp.returncode != 0 and "container nope is not valid for pod shell" in cp.stderr
    orlop.kubectl("delete", "namespace", ns, "--wait=false")


def test_readonly_claim_mount_rejects_writes(orlop: Any, tmp_path: Any) -> None:
    """Seed 000's task-pv-pod-readonly: persistentVolumeClaim.readOnly: true → writes fail."""
    ns = unique("ro")
    create_namespace(orlop, ns)
    pv_name = unique("ro-pv")
    data = tmp_path / "data"
    data.mkdir()
    (data / "index.html").write_text("from the host\n")
    pv = yaml.safe_load(manifest("seed000-task-pv-volume.yaml"))
    pv["metadata"]["name"] = pv_name
    pv["spec"]["hostPath"]["path"] = str(data)
    pv["spec"]["claimRef"] = {"namespace": ns, "name": "task-pv-claim"}
    orlop.kubectl("create", "-f", "-", input=dump(pv))
    orlop.kubectl("create", "-n", ns, "-f", "-", input=manifest("seed000-task-pv-claim.yaml"))
    orlop.kubectl("create", "-n", ns, "-f", "-", input=manifest("seed000-task-pv-pod-readonly.yaml"))
    wait_pod_ready(orlop, ns, "task-pv-pod-readonly", 90)
    out = orlop.kubectl("exec", "task-pv-pod-readonly", "-n", ns, "--", "cat", "/usr/share/nginx/html/index.html")
    assert out.stdout == "from the host\n"
    cp = orlop.kubectl("exec", "task-pv-pod-readonly", "-n", ns, "--", "sh", "-c",
                       "echo x > /usr/share/nginx/html/new.txt", check=False)
    assert cp.returncode != 0 and "Read-only file system" in cp.stderr
    assert not (data / "new.txt").exists()
    orlop.kubectl("delete", "namespace", ns, "--timeout=90s", timeout=100)
    orlop.kubectl("delete", "pv", pv_name)


@pytest.fixture
def second_agent(orlop: Any, tmp_path: Any) -> Iterator[str]:
    """A second node on this machine: ``orlop agent`` with its own node name and directory."""
    node = unique("node-b")
    log = open(tmp_path / "agent.log", "wb")  # noqa: SIM115 - kept open for the child
    proc = subprocess.Popen([sys.executable, "-m", "orlop.cli", "agent", "--kubeconfig", orlop.kubeconfig,
                             "--node-name", node, "--root-dir", str(tmp_path / "agent"), "--port", "0"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: orlop.kubectl("get", "node", node, check=False).returncode == 0
                   and "True" in orlop.kubectl("get", "node", node, "-o",
                                               "jsonpath={.status.conditions[?(@.type=='Ready')].status}").stdout,
                   30, "the second node to be Ready")
        yield node
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reap_containers(str(tmp_path / "agent"))
        orlop.kubectl("delete", "node", node, "--wait=false", check=False)


def test_rwo_volume_on_two_nodes_is_a_multi_attach_error(orlop: Any, second_agent: str, tmp_path: Any) -> None:
    ns = unique("rwo")
    create_namespace(orlop, ns)
    first = next(n["metadata"]["name"] for n in get_json(orlop, "nodes")["items"]
                 if n["metadata"]["name"] != second_agent and "node-b" not in n["metadata"]["name"])
    pv_name = unique("rwo-pv")
    pv = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": pv_name},
          "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "",
                   "hostPath": {"path": str(tmp_path / "shared")}, "claimRef": {"namespace": ns, "name": "data"}}}
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
           "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "",
                    "resources": {"requests": {"storage": "1Gi"}}}}

    def user(name: str, node: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {"nodeSelector": {"kubernetes.io/hostname": node},
                         "containers": [{"name": "c", "image": "busybox",
                                         "volumeMounts": [{"name": "d", "mountPath": "/data"}]}],
                         "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}}

    orlop.kubectl("create", "-f", "-", input=dump(pv))
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(pvc, user("a", first)))
    wait_pod_ready(orlop, ns, "a", 90)
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(user("b", second_agent)))
    wait_until(lambda: any(e["reason"] == "FailedAttachVolume" for e in events(orlop, ns, "b")), 60,
               "the Multi-Attach event")
    ev = next(e for e in events(orlop, ns, "b") if e["reason"] == "FailedAttachVolume")
    assert ev["type"] == "Warning"
    assert ev["message"] == f'Multi-Attach error for volume "{pv_name}" Volume is already used by pod(s) a'
    b = get_json(orlop, "pod", "b", "-n", ns)
    assert b["spec"]["nodeName"] == second_agent and b["status"]["phase"] == "Pending"
    # Once a is gone, b attaches on the second node and runs.
    orlop.kubectl("delete", "pod", "a", "-n", ns, "--timeout=60s", timeout=90)
    wait_pod_ready(orlop, ns, "b", 90)
    orlop.kubectl("delete", "namespace", ns, "--timeout=90s", timeout=100)
    orlop.kubectl("delete", "pv", pv_name)


def test_seed000_mysqltest_scales_in_order_and_keeps_claims(fresh_orlop: Any, tmp_path: Any) -> None:
    """Seed 000: apps/v1beta1 mysqltest with ReadWriteMany claims on tenx-rbd; kubectl scale and patch."""
    o = fresh_orlop
    for i in range(3):
        (tmp_path / f"d{i}").mkdir()
        o.kubectl("create", "-f", "-", input=dump(
            {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"tenx-{i}"},
             "spec": {"capacity": {"storage": "512Mi"}, "accessModes": ["ReadWriteMany"],
                      "storageClassName": "tenx-rbd", "hostPath": {"path": str(tmp_path / f"d{i}")}}}))
    o.kubectl("apply", "-f", "-", input=manifest("seed000-mysqltest.yaml"))
    # apps/v1beta1 defaults to the OnDelete strategy, for which `kubectl rollout status` refuses (as Kubernetes).
    wait_until(lambda: pod_ready(o, "kube-system", "mysqltest-1"), 120, "mysqltest-0 then mysqltest-1 Ready")
    created = [e["message"] for e in sorted(get_json(o, "events", "-n", "kube-system")["items"],
                                            key=lambda e: (e["firstTimestamp"], e["metadata"]["name"]))
               if e["reason"] == "SuccessfulCreate" and "create Pod" in e["message"]]
    assert created == [f"create Pod mysqltest-{i} in StatefulSet mysqltest successful" for i in (0, 1)]
    o.kubectl("scale", "statefulsets/mysqltest", "-n", "kube-system", "--replicas=3")
    wait_until(lambda: pod_ready(o, "kube-system", "mysqltest-2"), 120, "mysqltest-2 Ready")
    o.kubectl("patch", "statefulsets", "mysqltest", "-n", "kube-system", "-p", '{"spec":{"replicas":1}}')
    wait_until(lambda: o.kubectl("get", "pod", "mysqltest-1", "-n", "kube-system", check=False).returncode == 1,
               120, "scale-down to 1")
    deletes = [e["message"] for e in sorted(get_json(o, "events", "-n", "kube-system")["items"],
                                            key=lambda e: (e["lastTimestamp"], e["metadata"]["name"]))
               if e["reason"] == "SuccessfulDelete"]
    assert deletes == ["delete Pod mysqltest-2 in StatefulSet mysqltest successful",
                       "delete Pod mysqltest-1 in StatefulSet mysqltest successful"]
    claims = {c["metadata"]["name"]: c["status"]["phase"]
              for c in get_json(o, "pvc", "-n", "kube-system")["items"]}
    assert claims == {f"datadir-mysqltest-{i}": "Bound" for i in range(3)}
    o.kubectl("delete", "statefulset", "mysqltest", "-n", "kube-system", "--timeout=60s", timeout=90)
    wait_until(lambda: not get_json(o, "pods", "-n", "kube-system", "-l", "app=mysqltest")["items"], 90,
               "the set's pods to go")
    claims = {c["metadata"]["name"] for c in get_json(o, "pvc", "-n", "kube-system")["items"]}
    assert claims == {f"datadir-mysqltest-{i}" for i in range(3)}


def test_retention_when_scaled_delete_removes_condemned_claim(orlop: Any) -> None:
    ns = unique("retain")
    create_namespace(orlop, ns)
    sts = yaml.safe_load(manifest("seed002-statefulset-web.yaml"))
    sts["spec"]["podManagementPolicy"] = "Parallel"
    sts["spec"]["persistentVolumeClaimRetentionPolicy"] = {"whenScaled": "Delete", "whenDeleted": "Retain"}
    orlop.kubectl("apply", "-n", ns, "-f", "-", input=dump(sts))
    orlop.kubectl("rollout", "status", "statefulset/web", "-n", ns, "--timeout=120s", timeout=130)
    volume = get_json(orlop, "pvc", "www-web-1", "-n", ns)["spec"]["volumeName"]
    orlop.kubectl("scale", "statefulset/web", "-n", ns, "--replicas=1")
    wait_until(lambda: orlop.kubectl("get", "pvc", "www-web-1", "-n", ns, check=False).returncode == 1, 90,
               "the condemned claim to be deleted")
    assert orlop.kubectl("get", "pod", "web-1", "-n", ns, check=False).returncode == 1
    assert get_json(orlop, "pvc", "www-web-0", "-n", ns)["status"]["phase"] == "Bound"
    # The provisioned volume of the deleted claim is reclaimed (Delete policy of local-path).
    wait_until(lambda: orlop.kubectl("get", "pv", volume, check=False).returncode == 1, 60, "its volume to go")
    orlop.kubectl("delete", "namespace", ns, "--wait=false")


def test_wait_for_first_consumer_claim_is_provisioned_on_the_pods_node(orlop: Any) -> None:
    """A WaitForFirstConsumer claim waits (event WaitForFirstConsumer) until a pod uses it; the scheduler
    picks the node, sets volume.kubernetes.io/selected-node, the volume is provisioned there, the pod runs."""
    ns = unique("wffc")
    create_namespace(orlop, ns)
    cls = unique("wffc")
    orlop.kubectl("create", "-f", "-", input=dump(
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": cls},
         "provisioner": "orlop.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"}))
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "late"},
             "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": cls,
                      "resources": {"requests": {"storage": "1Gi"}}}}
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(claim))
    wait_until(lambda: any(e["reason"] == "WaitForFirstConsumer" for e in events(orlop, ns, "late")), 30,
               "the WaitForFirstConsumer event")
    assert get_json(orlop, "pvc", "late", "-n", ns)["status"]["phase"] == "Pending"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "consumer"},
           "spec": {"containers": [{"name": "c", "image": "busybox",
                                    "volumeMounts": [{"name": "d", "mountPath": "/data"}]}],
                    "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "late"}}]}}
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(pod))
    wait_pod_ready(orlop, ns, "consumer", 90)
    node = get_json(orlop, "pod", "consumer", "-n", ns)["spec"]["nodeName"]
    got = get_json(orlop, "pvc", "late", "-n", ns)
    assert got["status"]["phase"] == "Bound"
    assert got["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == node
    pv = get_json(orlop, "pv", got["spec"]["volumeName"])
    terms = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0]["values"] == [node]
    orlop.kubectl("delete", "namespace", ns, "--timeout=90s", timeout=100)
    orlop.kubectl("delete", "storageclass", cls)


def test_recreated_statefulset_reuses_claims_and_data(orlop: Any) -> None:
    """Seed 000 "数据块复用": delete the set (claims stay), create it again: same claims, same data."""
    ns = unique("reuse")
    create_namespace(orlop, ns)
    sts = yaml.safe_load(manifest("seed002-statefulset-web.yaml"))
    sts["spec"]["replicas"] = 1
    orlop.kubectl("apply", "-n", ns, "-f", "-", input=dump(sts))
    orlop.kubectl("rollout", "status", "statefulset/web", "-n", ns, "--timeout=120s", timeout=130)
    orlop.kubectl("exec", "web-0", "-n", ns, "--", "sh", "-c", "echo kept > /usr/share/nginx/html/data.txt")
    uid = get_json(orlop, "pvc", "www-web-0", "-n", ns)["metadata"]["uid"]
    orlop.kubectl("delete", "statefulset", "web", "-n", ns, "--timeout=60s", timeout=90)
    wait_until(lambda: orlop.kubectl("get", "pod", "web-0", "-n", ns, check=False).returncode == 1, 90,
               "web-0 to go with its set")
    assert get_json(orlop, "pvc", "www-web-0", "-n", ns)["metadata"]["uid"] == uid
    orlop.kubectl("apply", "-n", ns, "-f", "-", input=dump(sts))
    orlop.kubectl("rollout", "status", "statefulset/web", "-n", ns, "--timeout=120s", timeout=130)
    out = orlop.kubectl("exec", "web-0", "-n", ns, "--", "cat", "/usr/share/nginx/html/data.txt")
    assert out.stdout == "kept\n"
    assert get_json(orlop, "pvc", "www-web-0", "-n", ns)["metadata"]["uid"] == uid
    orlop.kubectl("delete", "namespace", ns, "--wait=false")


def test_orlop_restart_adopts_running_pods(fresh_orlop: Any) -> None:
    """kill -9 of orlop up with a pod running: after the restart the same container goes on (not restarted),
    and exec and logs work again."""
    o = fresh_orlop
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "survivor"},
           "spec": {"containers": [{"name": "c", "image": "busybox",
                                    "command": ["sh", "-c", "echo started; exec sleep 100000"]}]}}
    o.kubectl("create", "-f", "-", input=dump(pod))
    wait_pod_ready(o, None, "survivor", 90)
    o.kubectl("exec", "survivor", "--", "sh", "-c", "echo before > /tmp/marker")
    before = get_json(o, "pod", "survivor")
    o.stop(signal.SIGKILL)
    o.start()
    wait_until(lambda: pod_ready(o, "default", "survivor"), 60, "the pod to be Ready after the restart")
    after = get_json(o, "pod", "survivor")
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    st = after["status"]["containerStatuses"][0]
    assert st["restartCount"] == 0
    assert st["containerID"] == before["status"]["containerStatuses"][0]["containerID"]
    assert o.kubectl("exec", "survivor", "--", "cat", "/tmp/marker").stdout == "before\n"
    assert o.kubectl("logs", "survivor").stdout == "started\n"


def test_python_client_stream_exec(orlop: Any) -> None:
    """The official client's kubernetes.stream (WebSocket, offers v5 and v4) runs commands in a pod."""
    from kubernetes import client, config
    from kubernetes.stream import stream
    ns = unique("pyexec")
    create_namespace(orlop, ns)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "shell"},
           "spec": {"containers": [{"name": "main", "image": "busybox"}]}}
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(pod))
    wait_pod_ready(orlop, ns, "shell", 90)
    api = config.new_client_from_config(config_file=orlop.kubeconfig)
    core = client.CoreV1Api(api)
    out = stream(core.connect_get_namespaced_pod_exec, "shell", ns, command=["sh", "-c", "echo hi from $(hostname)"],
                 stderr=True, stdin=False, stdout=True, tty=False)
    assert out == "hi from shell\n"
    resp = stream(core.connect_get_namespaced_pod_exec, "shell", ns, command=["sh", "-c", "exit 4"],
                  stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
    resp.run_forever(timeout=10)
    assert resp.returncode == 4
    orlop.kubectl("delete", "namespace", ns, "--wait=false")
