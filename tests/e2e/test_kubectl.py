"""kubectl 1.32 against a running ``orlop up``: every command's output as Kubernetes prints it.

Why this exists: orlop's promise is that the real kubectl behaves exactly as against a
Kubernetes API server.  These tests run the real binary and check what it prints
(created/unchanged/configured lines, error texts, table columns, describe sections), not
just exit codes.  Each test uses its own namespace or uniquely named cluster-scoped
objects, and every wait is bounded.
"""

from __future__ import annotations

import datetime
import json
import os
import queue
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from helpers import create_namespace, field_value, get_json, parse_table, unique, wait_until

pytestmark = pytest.mark.e2e

MANIFESTS = os.path.join(os.path.dirname(__file__), "manifests")
AGE = re.compile(r"^\d+(s|m|m\d+s|h|h\d+m)$")


# ----------------------------------------------------------------------------------------
# helpers


def dump(*docs: dict[str, Any]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


def write(tmp_path: Any, name: str, *docs: dict[str, Any]) -> str:
    path = os.path.join(str(tmp_path), name)
    with open(path, "w") as f:
        f.write(dump(*docs))
    return path


def pvc(name: str, labels: dict[str, str] | None = None, storage: str = "1Gi", sc: str | None = "manual",
        **extra_meta: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, **extra_meta}
    if labels:
        meta["labels"] = labels
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}}
    if sc is not None:
        spec["storageClassName"] = sc
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec}


def pv(name: str, reclaim: str | None = None, storage: str = "10Gi", sc: str = "manual",
       labels: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"storageClassName": sc, "capacity": {"storage": storage},
                            "accessModes": ["ReadWriteOnce"],
                            # A path of its own: a Delete reclaim of this PV may really remove it.
                            "hostPath": {"path": f"/tmp/orlop-e2e-pv/{name}"}}
    if reclaim:
        spec["persistentVolumeReclaimPolicy"] = reclaim
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name, "labels": labels or {"type": "local"}}, "spec": spec}


def event_for(obj: dict[str, Any], event_ns: str, reason: str, message: str) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta = obj["metadata"]
    involved = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": meta["name"], "uid": meta["uid"],
                "resourceVersion": meta["resourceVersion"]}
    if meta.get("namespace"):
        involved["namespace"] = meta["namespace"]
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:12]}", "namespace": event_ns},
            "involvedObject": involved, "reason": reason, "message": message, "type": "Normal",
            "source": {"component": "e2e-suite"}, "firstTimestamp": now, "lastTimestamp": now, "count": 1}


class Background:
    """A kubectl started with Popen whose output lines are collected by a thread (always killed)."""

    def __init__(self, o: Any, *args: str):
        env = {**os.environ, "KUBECONFIG": o.kubeconfig, **o.env}
        self.proc = subprocess.Popen(["kubectl", f"--cache-dir={o.cache_dir}", *args], env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: list[str] = []
        self._q: queue.Queue[str] = queue.Queue()
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))

    def _drain(self) -> None:
        while True:
            try:
                self.lines.append(self._q.get_nowait())
            except queue.Empty:
                return

    def wait_for_line(self, pred: Callable[[str], bool], timeout: float, start: int = 0) -> int:
        deadline = time.monotonic() + timeout
        while True:
            self._drain()
            for i in range(start, len(self.lines)):
                if pred(self.lines[i]):
                    return i
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching line within {timeout}s; got {self.lines!r}; "
                                     f"running={self.proc.poll() is None}")
            time.sleep(0.1)

    def finish(self, timeout: float) -> tuple[int, str, str]:
        """Wait for the process to exit by itself (killing it if it overstays)."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"kubectl did not finish within {timeout}s; output {self.lines!r}") from None
        self._t.join(timeout=5)
        self._drain()
        assert self.proc.stderr is not None
        return self.proc.returncode, "\n".join(self.lines) + ("\n" if self.lines else ""), self.proc.stderr.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def ns(orlop: Any) -> Iterator[str]:
    name = unique("e2e")
    create_namespace(orlop, name)
    yield name
    orlop.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def cleanup(orlop: Any) -> Iterator[list[tuple[str, str]]]:
    """Cluster-scoped objects a test creates: deleted at the end, whatever happened."""
    made: list[tuple[str, str]] = []
    yield made
    for kind, name in made:
        orlop.kubectl("delete", kind, name, "--ignore-not-found", "--wait=false", check=False)


# ----------------------------------------------------------------------------------------
# apply (client-side)


def test_apply_created_unchanged_configured(orlop: Any, ns: str, tmp_path: Any) -> None:
    doc = pvc("data", labels={"tier": "db", "extra": "x"})
    path = write(tmp_path, "pvc.yaml", doc)
    assert orlop.kubectl("apply", "-f", path, "-n", ns).stdout == "persistentvolumeclaim/data created\n"
    live = get_json(orlop, "pvc", "data", "-n", ns)
    applied = json.loads(live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert applied["metadata"]["labels"] == {"tier": "db", "extra": "x"}
    assert applied["spec"] == doc["spec"]
    rv = live["metadata"]["resourceVersion"]

    again = orlop.kubectl("apply", "-f", path, "-n", ns)
    assert again.stdout == "persistentvolumeclaim/data unchanged\n"
    assert get_json(orlop, "pvc", "data", "-n", ns)["metadata"]["resourceVersion"] == rv

    doc["metadata"]["labels"]["tier"] = "cache"
    write(tmp_path, "pvc.yaml", doc)
    assert orlop.kubectl("apply", "-f", path, "-n", ns).stdout == "persistentvolumeclaim/data configured\n"
    assert get_json(orlop, "pvc", "data", "-n", ns)["metadata"]["labels"] == {"tier": "cache", "extra": "x"}

    # A label dropped from the manifest is removed (three-way merge with last-applied).
    del doc["metadata"]["labels"]["extra"]
    write(tmp_path, "pvc.yaml", doc)
    assert orlop.kubectl("apply", "-f", path, "-n", ns).stdout == "persistentvolumeclaim/data configured\n"
    live = get_json(orlop, "pvc", "data", "-n", ns)
    assert live["metadata"]["labels"] == {"tier": "cache"}
    assert json.loads(live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])[
        "metadata"]["labels"] == {"tier": "cache"}


def test_apply_to_pending_claim_spec_is_forbidden(orlop: Any, ns: str, tmp_path: Any) -> None:
    """Only bound claims may change resources.requests; Kubernetes refuses the rest of spec as immutable."""
    path = write(tmp_path, "pvc.yaml", pvc("data"))
    orlop.kubectl("apply", "-f", path, "-n", ns)
    write(tmp_path, "pvc.yaml", pvc("data", storage="2Gi"))
    out = orlop.kubectl("apply", "-f", path, "-n", ns, check=False)
    assert out.returncode == 1
    assert out.stderr.startswith('The PersistentVolumeClaim "data" is invalid: spec: Forbidden: spec is immutable '
                                 "after creation except resources.requests and volumeAttributesClassName for "
                                 "bound claims"), out.stderr
    assert orlop.kubectl("get", "pvc", "data", "-n", ns, "-o",
                         "jsonpath={.spec.resources.requests.storage}").stdout == "1Gi"


# ----------------------------------------------------------------------------------------
# apply --server-side


def managers(o: Any, *args: str) -> dict[tuple[str, str], dict[str, Any]]:
    live = json.loads(o.kubectl("get", *args, "-o", "json", "--show-managed-fields").stdout)
    return {(m["manager"], m["operation"]): m.get("fieldsV1", {}) for m in live["metadata"]["managedFields"]}


def test_apply_server_side_conflict_and_force(orlop: Any, tmp_path: Any, cleanup: list[tuple[str, str]]) -> None:
    name = unique("ssa-pv")
    cleanup.append(("pv", name))
    path = write(tmp_path, "pv.yaml", pv(name, reclaim="Retain"))
    assert orlop.kubectl("apply", "--server-side", "-f", path).stdout == f"persistentvolume/{name} serverside-applied\n"
    owned = managers(orlop, "pv", name)
    assert "f:persistentVolumeReclaimPolicy" in owned[("kubectl", "Apply")]["f:spec"]
    assert owned[("kubectl", "Apply")]["f:metadata"]["f:labels"] == {"f:type": {}}

    # The same apply again changes nothing, so nothing is written.
    rv = get_json(orlop, "pv", name)["metadata"]["resourceVersion"]
    assert orlop.kubectl("apply", "--server-side", "-f", path).stdout == f"persistentvolume/{name} serverside-applied\n"
    assert get_json(orlop, "pv", name)["metadata"]["resourceVersion"] == rv

    # As in seed 000: kubectl patch pv <name> -p '{"spec":{"persistentVolumeReclaimPolicy":...}}'
    assert orlop.kubectl("patch", "pv", name, "-p", '{"spec":{"persistentVolumeReclaimPolicy":"Delete"}}'
                         ).stdout == f"persistentvolume/{name} patched\n"
    owned = managers(orlop, "pv", name)
    assert "f:persistentVolumeReclaimPolicy" in owned[("kubectl-patch", "Update")]["f:spec"]
    assert "f:persistentVolumeReclaimPolicy" not in owned[("kubectl", "Apply")].get("f:spec", {})

    conflict = orlop.kubectl("apply", "--server-side", "-f", path, check=False)
    assert conflict.returncode == 1
    assert conflict.stderr.splitlines()[0] == ('error: Apply failed with 1 conflict: conflict with "kubectl-patch" '
                                               'using v1: .spec.persistentVolumeReclaimPolicy')
    assert "--force-conflicts" in conflict.stderr
    assert orlop.kubectl("get", "pv", name, "-o", "jsonpath={.spec.persistentVolumeReclaimPolicy}").stdout == "Delete"

    forced = orlop.kubectl("apply", "--server-side", "--force-conflicts", "-f", path)
    assert forced.stdout == f"persistentvolume/{name} serverside-applied\n"
    assert orlop.kubectl("get", "pv", name, "-o", "jsonpath={.spec.persistentVolumeReclaimPolicy}").stdout == "Retain"
    owned = managers(orlop, "pv", name)
    assert "f:persistentVolumeReclaimPolicy" in owned[("kubectl", "Apply")]["f:spec"]
    assert "f:persistentVolumeReclaimPolicy" not in owned.get(("kubectl-patch", "Update"), {}).get("f:spec", {})


# ----------------------------------------------------------------------------------------
# create / replace


def test_imperative_create_commands(orlop: Any) -> None:
    """`kubectl create namespace|secret|configmap` build the object in kubectl and POST it with a
    protobuf body (Content-Type application/vnd.kubernetes.protobuf), as kube-apiserver accepts."""
    name = unique("imp")
    out = orlop.kubectl("create", "namespace", name, check=False)
    try:
        assert (out.returncode, out.stdout, out.stderr) == (0, f"namespace/{name} created\n", "")
        out = orlop.kubectl("create", "secret", "generic", "ceph-secret", "-n", name, "--type=kubernetes.io/rbd",
                            "--from-literal=key=AQBiKBxYuPXiJRAAsupnTBsURoWzb0k00oM3iQ==", check=False)
        assert (out.returncode, out.stdout, out.stderr) == (0, "secret/ceph-secret created\n", "")
        secret = get_json(orlop, "secret", "ceph-secret", "-n", name)
        assert secret["type"] == "kubernetes.io/rbd"
        assert secret["data"] == {"key": "QVFCaUtCeFl1UFhpSlJBQXN1cG5UQnNVUm9XemIwazAwb00zaVE9PQ=="}
        out = orlop.kubectl("create", "configmap", "cfg", "-n", name, "--from-literal=a=b", check=False)
        assert (out.returncode, out.stdout, out.stderr) == (0, "configmap/cfg created\n", "")
        assert get_json(orlop, "configmap", "cfg", "-n", name)["data"] == {"a": "b"}
    finally:
        orlop.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def test_create_and_already_exists(orlop: Any, ns: str, tmp_path: Any) -> None:
    path = write(tmp_path, "pvc.yaml", pvc("data"))
    assert orlop.kubectl("create", "-f", path, "-n", ns).stdout == "persistentvolumeclaim/data created\n"
    again = orlop.kubectl("create", "-f", path, "-n", ns, check=False)
    assert again.returncode == 1
    assert again.stdout == ""
    assert again.stderr == (f'Error from server (AlreadyExists): error when creating "{path}": '
                            'persistentvolumeclaims "data" already exists\n')
    # From stdin the source is named STDIN.
    stdin = orlop.kubectl("create", "-f", "-", "-n", ns, input=dump(pvc("data")), check=False)
    assert stdin.stderr == ('Error from server (AlreadyExists): error when creating "STDIN": '
                            'persistentvolumeclaims "data" already exists\n')


def test_replace_and_stale_resource_version_conflict(orlop: Any, ns: str, tmp_path: Any) -> None:
    orlop.kubectl("create", "-f", write(tmp_path, "pvc.yaml", pvc("data")), "-n", ns)
    old = get_json(orlop, "pvc", "data", "-n", ns)
    stale = write(tmp_path, "stale.yaml", old)

    new = json.loads(json.dumps(old))
    new["metadata"].setdefault("labels", {})["replaced"] = "yes"
    fresh = write(tmp_path, "fresh.yaml", new)
    assert orlop.kubectl("replace", "-f", fresh).stdout == "persistentvolumeclaim/data replaced\n"
    live = get_json(orlop, "pvc", "data", "-n", ns)
    assert live["metadata"]["labels"] == {"replaced": "yes"}
    assert int(live["metadata"]["resourceVersion"]) > int(old["metadata"]["resourceVersion"])
    assert {m["manager"] for m in json.loads(orlop.kubectl(
        "get", "pvc", "data", "-n", ns, "-o", "json", "--show-managed-fields").stdout)["metadata"]["managedFields"]
            } >= {"kubectl-create", "kubectl-replace"}

    conflict = orlop.kubectl("replace", "-f", stale, check=False)
    assert conflict.returncode == 1
    assert conflict.stderr == (
        f'Error from server (Conflict): error when replacing "{stale}": Operation cannot be fulfilled on '
        'persistentvolumeclaims "data": the object has been modified; please apply your changes to the latest '
        "version and try again\n")


# ----------------------------------------------------------------------------------------
# get


def test_get_output_formats(orlop: Any, ns: str) -> None:
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(pvc("data", labels={"app": "db"})))
    header, rows = parse_table(orlop.kubectl("get", "pvc", "data", "-n", ns).stdout)
    assert header == ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS",
                      "VOLUMEATTRIBUTESCLASS", "AGE"]
    row = rows[0]
    assert (row["NAME"], row["STATUS"], row["VOLUME"], row["CAPACITY"], row["ACCESS MODES"]) == (
        "data", "Pending", "", "", "")
    assert (row["STORAGECLASS"], row["VOLUMEATTRIBUTESCLASS"]) == ("manual", "<unset>")
    assert AGE.match(row["AGE"]), row

    header, rows = parse_table(orlop.kubectl("get", "pvc", "data", "-n", ns, "-o", "wide").stdout)
    assert header[-1] == "VOLUMEMODE" and header[:-1] == ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES",
                                                          "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE"]
    assert rows[0]["VOLUMEMODE"] == "Filesystem"

    as_yaml = yaml.safe_load(orlop.kubectl("get", "pvc", "data", "-n", ns, "-o", "yaml").stdout)
    assert (as_yaml["apiVersion"], as_yaml["kind"]) == ("v1", "PersistentVolumeClaim")
    assert as_yaml["metadata"]["namespace"] == ns
    assert as_yaml["spec"]["resources"] == {"requests": {"storage": "1Gi"}}
    assert "managedFields" not in as_yaml["metadata"]
    as_json = get_json(orlop, "pvc", "data", "-n", ns)
    assert as_json["metadata"]["uid"] == as_yaml["metadata"]["uid"]
    assert as_json["status"] == {"phase": "Pending"}

    assert orlop.kubectl("get", "pvc", "data", "-n", ns, "-o",
                         "jsonpath={.spec.resources.requests.storage}").stdout == "1Gi"
    assert orlop.kubectl("get", "pvc", "data", "-n", ns, "-o", "name").stdout == "persistentvolumeclaim/data\n"
    custom = orlop.kubectl("get", "pvc", "-n", ns, "-o",
                           "custom-columns=NAME:.metadata.name,SIZE:.spec.resources.requests.storage,APP:.metadata.labels.app")
    assert custom.stdout.split("\n")[1].split() == ["data", "1Gi", "db"]

    # A list as yaml is a v1 List of the objects.
    listed = yaml.safe_load(orlop.kubectl("get", "pvc", "-n", ns, "-o", "yaml").stdout)
    assert listed["kind"] == "List" and [i["metadata"]["name"] for i in listed["items"]] == ["data"]


def test_get_sort_by(orlop: Any, ns: str) -> None:
    orlop.kubectl("create", "-n", ns, "-f", "-",
                  input=dump(pvc("bbb", storage="1Gi"), pvc("aaa", storage="3Gi"), pvc("ccc", storage="2Gi")))
    names = orlop.kubectl("get", "pvc", "-n", ns, "--sort-by=.metadata.name", "-o", "name").stdout.split()
    assert names == ["persistentvolumeclaim/aaa", "persistentvolumeclaim/bbb", "persistentvolumeclaim/ccc"]
    _, rows = parse_table(orlop.kubectl("get", "pvc", "-n", ns, "--sort-by=.spec.resources.requests.storage").stdout)
    assert [r["NAME"] for r in rows] == ["bbb", "ccc", "aaa"]


def test_get_all_namespaces_has_namespace_column(orlop: Any, ns: str) -> None:
    other = unique("e2e")
    create_namespace(orlop, other)
    try:
        for n in (ns, other):
            orlop.kubectl("create", "-n", n, "-f", "-", input=dump(pvc("data")))
        header, rows = parse_table(orlop.kubectl("get", "pvc", "-A").stdout)
        assert header == ["NAMESPACE", "NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS",
                          "VOLUMEATTRIBUTESCLASS", "AGE"]
        mine = sorted((r["NAMESPACE"], r["NAME"]) for r in rows if r["NAMESPACE"] in (ns, other))
        assert mine == sorted([(ns, "data"), (other, "data")])
        # -A with a field selector on the namespace
        _, rows = parse_table(orlop.kubectl("get", "pvc", "-A", f"--field-selector=metadata.namespace={other}").stdout)
        assert [(r["NAMESPACE"], r["NAME"]) for r in rows] == [(other, "data")]
    finally:
        orlop.kubectl("delete", "namespace", other, "--wait=false", check=False)


def test_get_show_labels_and_label_selectors(orlop: Any, ns: str) -> None:
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(
        pvc("a", labels={"app": "nginx", "tier": "web"}), pvc("b", labels={"app": "nginx"}),
        pvc("c", labels={"app": "mysql"}), pvc("d")))
    header, rows = parse_table(orlop.kubectl("get", "pvc", "-n", ns, "--show-labels").stdout)
    assert header[-1] == "LABELS"
    assert {r["NAME"]: r["LABELS"] for r in rows} == {"a": "app=nginx,tier=web", "b": "app=nginx",
                                                      "c": "app=mysql", "d": "<none>"}
    header, rows = parse_table(orlop.kubectl("get", "pvc", "-n", ns, "-L", "app").stdout)
    assert header[-1] == "APP"
    assert {r["NAME"]: r["APP"] for r in rows} == {"a": "nginx", "b": "nginx", "c": "mysql", "d": ""}

    def names(selector: str) -> list[str]:
        out = orlop.kubectl("get", "pvc", "-n", ns, "-l", selector, "-o", "name").stdout.split()
        return sorted(n.split("/", 1)[1] for n in out)

    assert names("app=nginx") == ["a", "b"]
    assert names("app==nginx,tier=web") == ["a"]
    assert names("app!=nginx") == ["c", "d"]
    assert names("app in (mysql,redis)") == ["c"]
    assert names("app notin (nginx)") == ["c", "d"]
    assert names("tier") == ["a"]
    assert names("!tier") == ["b", "c", "d"]
    empty = orlop.kubectl("get", "pvc", "-n", ns, "-l", "app=none")
    assert empty.stdout == ""
    assert empty.stderr == f"No resources found in {ns} namespace.\n"
    bad = orlop.kubectl("get", "pvc", "-n", ns, "-l", "app=in=valid", check=False)
    assert bad.returncode == 1


def test_get_field_selectors(orlop: Any, ns: str) -> None:
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(pvc("a"), pvc("b")))
    orlop.kubectl("create", "-n", ns, "-f", os.path.join(MANIFESTS, "seed000-ceph-secret.yaml"))
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "plain"}, "data": {"k": "dg=="}}))

    out = orlop.kubectl("get", "pvc", "-n", ns, "--field-selector", "metadata.name=a", "-o", "name")
    assert out.stdout == "persistentvolumeclaim/a\n"
    out = orlop.kubectl("get", "pvc", "-n", ns, "--field-selector", "metadata.name!=a", "-o", "name")
    assert out.stdout == "persistentvolumeclaim/b\n"
    out = orlop.kubectl("get", "secret", "-n", ns, "--field-selector", "type=kubernetes.io/rbd", "-o", "name")
    assert out.stdout == "secret/ceph-secret\n"
    out = orlop.kubectl("get", "secret", "-n", ns, "--field-selector", "type=Opaque", "-o", "name")
    assert out.stdout == "secret/plain\n"

    bad = orlop.kubectl("get", "pvc", "-n", ns, "--field-selector", "spec.foo=bar", check=False)
    assert bad.returncode == 1
    assert "Error from server (BadRequest)" in bad.stderr
    assert ('"spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace"'
            in bad.stderr), bad.stderr


def test_get_chunk_size_paginates(orlop: Any, ns: str) -> None:
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(pvc("p1"), pvc("p2"), pvc("p3")))
    out = orlop.kubectl("get", "pvc", "-n", ns, "--chunk-size=1", "-v=6")
    _, rows = parse_table(out.stdout)
    assert [r["NAME"] for r in rows] == ["p1", "p2", "p3"]
    requests = [line for line in out.stderr.splitlines() if "persistentvolumeclaims?" in line and "GET" in line]
    assert sum("limit=1" in r for r in requests) >= 3, out.stderr
    assert sum("continue=" in r for r in requests) >= 2, out.stderr
    # The continue tokens lead through every item exactly once, also as names.
    names = orlop.kubectl("get", "pvc", "-n", ns, "--chunk-size=2", "-o", "name").stdout.split()
    assert names == ["persistentvolumeclaim/p1", "persistentvolumeclaim/p2", "persistentvolumeclaim/p3"]


def test_get_missing_objects(orlop: Any, ns: str) -> None:
    cases = [
        (["pvc", "nope", "-n", ns], 'persistentvolumeclaims "nope" not found'),
        (["pv", "nope-e2e"], 'persistentvolumes "nope-e2e" not found'),
        (["sts", "nope", "-n", ns], 'statefulsets.apps "nope" not found'),
        (["sc", "nope-e2e"], 'storageclasses.storage.k8s.io "nope-e2e" not found'),
        (["secret", "nope", "-n", ns], 'secrets "nope" not found'),
    ]
    for args, message in cases:
        out = orlop.kubectl("get", *args, check=False)
        assert (out.returncode, out.stdout, out.stderr) == (1, "", f"Error from server (NotFound): {message}\n"), args
    ok = orlop.kubectl("get", "pvc", "nope", "-n", ns, "--ignore-not-found")
    assert (ok.stdout, ok.stderr) == ("", "")


def test_get_watch_prints_new_rows(orlop: Any, ns: str) -> None:
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(pvc("first")))
    w = Background(orlop, "get", "pvc", "-n", ns, "-w", "--request-timeout=0")
    try:
        w.wait_for_line(lambda line: line.startswith("first "), timeout=20)
        assert w.lines[0].split()[:2] == ["NAME", "STATUS"]
        orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(pvc("second")))
        i = w.wait_for_line(lambda line: line.startswith("second "), timeout=20)
        assert "Pending" in w.lines[i].split() and "manual" in w.lines[i].split()
        orlop.kubectl("label", "pvc", "first", "-n", ns, "changed=yes")
        w.wait_for_line(lambda line: line.startswith("first "), timeout=20, start=i + 1)
        assert sum(line.startswith("NAME") for line in w.lines) == 1
        assert w.proc.poll() is None   # still watching
    finally:
        w.kill()


def test_get_watch_output_watch_events(orlop: Any, ns: str) -> None:
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(pvc("gone")))
    w = Background(orlop, "get", "pvc", "-n", ns, "-w", "--output-watch-events", "--request-timeout=0")
    try:
        w.wait_for_line(lambda line: line.split()[:2] == ["ADDED", "gone"], timeout=20)
        assert w.lines[0].split()[:3] == ["EVENT", "NAME", "STATUS"]
        orlop.kubectl("delete", "pvc", "gone", "-n", ns, "--wait=false")
        w.wait_for_line(lambda line: line.split()[:2] == ["DELETED", "gone"], timeout=30)
    finally:
        w.kill()


# ----------------------------------------------------------------------------------------
# describe


def test_describe_pv_and_its_events(orlop: Any, cleanup: list[tuple[str, str]]) -> None:
    name = unique("desc-pv")
    cleanup.append(("pv", name))
    orlop.kubectl("create", "-f", "-", input=dump(pv(name)))
    out = orlop.kubectl("describe", "pv", name).stdout
    assert field_value(out, "Name") == name
    assert field_value(out, "Labels") == "type=local"
    assert field_value(out, "StorageClass") == "manual"
    assert field_value(out, "Status") in ("Pending", "Available")
    assert field_value(out, "Claim") == ""
    assert field_value(out, "Reclaim Policy") == "Retain"
    assert field_value(out, "Access Modes") == "RWO"
    assert field_value(out, "VolumeMode") == "Filesystem"
    assert field_value(out, "Capacity") == "10Gi"
    assert field_value(out, "Type") == "HostPath (bare host directory volume)"
    assert field_value(out, "Path") == f"/tmp/orlop-e2e-pv/{name}"
    assert field_value(out, "Events") == "<none>"

    live = get_json(orlop, "pv", name)
    ev = event_for(live, "default", "SeedCheck", "volume checked by the e2e suite")
    try:
        orlop.kubectl("create", "-f", "-", input=dump(ev))
        out = orlop.kubectl("describe", "pv", name).stdout
        events = out[out.index("Events:"):].splitlines()
        assert events[1].split() == ["Type", "Reason", "Age", "From", "Message"]
        row = re.split(r"\s{2,}", events[3].strip())
        assert row[0:2] == ["Normal", "SeedCheck"]
        assert AGE.match(row[2]), row
        assert row[3:] == ["e2e-suite", "volume checked by the e2e suite"]
    finally:
        orlop.kubectl("delete", "event", ev["metadata"]["name"], "-n", "default", "--ignore-not-found", check=False)


def test_describe_rbd_pv_from_seed002(fresh_orlop: Any) -> None:
    o = fresh_orlop
    o.kubectl("create", "-f", os.path.join(MANIFESTS, "seed002-pv-volume.yaml"))
    out = o.kubectl("describe", "pv", "pv-volume").stdout
    assert field_value(out, "Type") == "RBD (a Rados Block Device mount on the host that shares a pod's lifetime)"
    assert field_value(out, "CephMonitors") == "[10.10.113.15:6789 10.10.113.16:6789 10.10.113.17:6789]"
    assert field_value(out, "RBDImage") == "foo"
    assert field_value(out, "FSType") == "xfs"
    assert field_value(out, "RBDPool") == "kube"
    assert field_value(out, "RadosUser") == "admin"
    assert field_value(out, "Keyring") == "/etc/ceph/keyring"
    assert field_value(out, "SecretRef") == "&SecretReference{Name:ceph-secret,Namespace:,}"
    assert field_value(out, "ReadOnly") == "false"


def describe_event_rows(out: str) -> list[list[str]]:
    """The rows of a describe output's Events table, cut into Type, Reason, Age, From, Message."""
    events = out[out.index("Events:"):].splitlines()
    if events[0].strip() == "Events:  <none>" or len(events) < 3:
        return []
    assert events[1].split() == ["Type", "Reason", "Age", "From", "Message"], events
    return [re.split(r"\s{2,}", line.strip(), maxsplit=4) for line in events[3:] if line.strip()]


def test_describe_pvc_used_by_and_events(orlop: Any, ns: str) -> None:
    orlop.kubectl("create", "-n", ns, "-f", os.path.join(MANIFESTS, "seed000-task-pv-claim.yaml"))
    # The claim's class "manual" names no StorageClass and no PV of that class is offered: Kubernetes'
    # PV controller leaves it Pending and says why (Warning ProvisioningFailed, measured on 1.26).  orlop
    # appends, in parentheses, why each PV it considered did not fit (the session server holds other
    # tests' PVs, so only the start of the message is fixed here; test_storage_flows.py checks it whole).
    out = ""

    def failed_event_shown() -> bool:
        nonlocal out
        out = orlop.kubectl("describe", "pvc", "task-pv-claim", "-n", ns).stdout
        return any(r[1] == "ProvisioningFailed" for r in describe_event_rows(out))

    wait_until(failed_event_shown, 30, "a ProvisioningFailed event on the pending claim")
    assert field_value(out, "Name") == "task-pv-claim"
    assert field_value(out, "Namespace") == ns
    assert field_value(out, "StorageClass") == "manual"
    assert field_value(out, "Status") == "Pending"
    assert field_value(out, "Volume") == ""
    assert field_value(out, "Capacity") == ""
    assert field_value(out, "Access Modes") == ""
    assert field_value(out, "VolumeMode") == "Filesystem"
    assert field_value(out, "Used By") == "<none>"
    # (one row per distinct message: the reasons change when other tests' PVs come and go)
    for row in (r for r in describe_event_rows(out) if r[1] == "ProvisioningFailed"):
        assert [row[0], row[3]] == ["Warning", "persistentvolume-controller"], out
        assert re.fullmatch(r'storageclass\.storage\.k8s\.io "manual" not found( \(.+\))?', row[4]), out

    orlop.kubectl("create", "-n", ns, "-f", os.path.join(MANIFESTS, "seed000-task-pv-pod.yaml"))
    live = get_json(orlop, "pvc", "task-pv-claim", "-n", ns)
    orlop.kubectl("create", "-f", "-", input=dump(event_for(live, ns, "WaitForFirstConsumer", "waiting for pod")))
    out = orlop.kubectl("describe", "pvc", "task-pv-claim", "-n", ns).stdout
    assert field_value(out, "Used By") == "task-pv-pod"
    rows = describe_event_rows(out)
    ours = [r for r in rows if r[1] == "WaitForFirstConsumer"]
    assert len(ours) == 1, out
    assert [ours[0][0], ours[0][3], ours[0][4]] == ["Normal", "e2e-suite", "waiting for pod"]
    assert {r[1] for r in rows} == {"ProvisioningFailed", "WaitForFirstConsumer"}, out


def test_describe_statefulset(orlop: Any, ns: str) -> None:
    orlop.kubectl("create", "-n", ns, "-f", os.path.join(MANIFESTS, "seed002-statefulset-web.yaml"))
    out = orlop.kubectl("describe", "sts", "web", "-n", ns).stdout
    assert field_value(out, "Name") == "web"
    assert field_value(out, "Namespace") == ns
    assert field_value(out, "Selector") == "app=nginx"
    assert re.search(r"^Replicas:\s+2 desired \| \d+ total$", out, re.M), out
    assert field_value(out, "Update Strategy") == "RollingUpdate"
    assert field_value(out, "Partition") == "0"
    assert re.search(r"^Pods Status:\s+\d+ Running / \d+ Waiting / \d+ Succeeded / \d+ Failed$", out, re.M), out
    assert field_value(out, "Image") == "nginx:1.9.1"
    assert field_value(out, "Port") == "80/TCP"
    assert field_value(out, "Host Port") == "0/TCP"
    assert re.search(r"^\s+/usr/share/nginx/html from www \(rw\)$", out, re.M), out
    claims = out[out.index("Volume Claims:"):]
    assert field_value(claims, "Name") == "www"
    assert field_value(claims, "Capacity") == "1Gi"
    assert field_value(claims, "Access Modes") == "[ReadWriteOnce]"

    # The StatefulSet controller's own events, as `kubectl describe` prints them.
    wait_until(lambda: "create Pod web-0 in StatefulSet web successful"
               in orlop.kubectl("describe", "sts", "web", "-n", ns).stdout, 30, "the controller's events")
    out = orlop.kubectl("describe", "sts", "web", "-n", ns).stdout
    rows = [re.split(r"\s{2,}", line.strip()) for line in out[out.index("Events:"):].splitlines()[3:]]
    assert ["Normal", "SuccessfulCreate", "statefulset-controller",
            "create Claim www-web-0 Pod web-0 in StatefulSet web success"] in [[r[0], r[1], r[3], r[4]] for r in rows]


def test_describe_secret(orlop: Any, ns: str) -> None:
    orlop.kubectl("create", "-n", ns, "-f", os.path.join(MANIFESTS, "seed002-ceph-secret.yaml"))
    out = orlop.kubectl("describe", "secret", "ceph-secret", "-n", ns).stdout
    assert field_value(out, "Name") == "ceph-secret"
    assert field_value(out, "Type") == "kubernetes.io/rbd"
    assert re.search(r"^Data\n====\nkey:\s+40 bytes$", out, re.M), out
    assert "QVFCWXFp" not in out   # describe never prints secret values


# ----------------------------------------------------------------------------------------
# delete


def test_delete_reports_and_removes(orlop: Any, ns: str) -> None:
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(pvc("data")))
    out = orlop.kubectl("delete", "pvc", "data", "-n", ns, "--timeout=60s", timeout=90)
    assert out.stdout == 'persistentvolumeclaim "data" deleted\n'
    gone = orlop.kubectl("get", "pvc", "data", "-n", ns, check=False)
    assert gone.stderr == 'Error from server (NotFound): persistentvolumeclaims "data" not found\n'
    again = orlop.kubectl("delete", "pvc", "data", "-n", ns, check=False)
    assert again.stderr == 'Error from server (NotFound): persistentvolumeclaims "data" not found\n'


def test_delete_by_label_selector(orlop: Any, ns: str) -> None:
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(
        pvc("www-web-0", labels={"app": "nginx"}), pvc("www-web-1", labels={"app": "nginx"}),
        pvc("keep", labels={"app": "mysql"})))
    out = orlop.kubectl("delete", "pvc", "-l", "app=nginx", "-n", ns, "--timeout=60s", timeout=90)
    assert sorted(out.stdout.splitlines()) == ['persistentvolumeclaim "www-web-0" deleted',
                                               'persistentvolumeclaim "www-web-1" deleted']
    left = orlop.kubectl("get", "pvc", "-n", ns, "-o", "name").stdout.split()
    assert left == ["persistentvolumeclaim/keep"]


def test_delete_by_file(orlop: Any, ns: str, tmp_path: Any) -> None:
    docs = []
    for f in ("seed004-ceph-secret.yaml", "seed004-ceph-claim.yaml", "seed004-ceph-pod1.yaml"):
        with open(os.path.join(MANIFESTS, f)) as fh:
            docs.append(yaml.safe_load(fh))
    path = write(tmp_path, "all.yaml", *docs)
    assert orlop.kubectl("apply", "-f", path, "-n", ns).stdout.splitlines() == [
        "secret/ceph-secret created", "persistentvolumeclaim/ceph-claim created", "pod/ceph-pod1 created"]
    out = orlop.kubectl("delete", "-f", path, "-n", ns, "--timeout=60s", timeout=90)
    assert out.stdout.splitlines() == ['secret "ceph-secret" deleted', 'persistentvolumeclaim "ceph-claim" deleted',
                                       'pod "ceph-pod1" deleted']
    for kind, name in (("secret", "ceph-secret"), ("pvc", "ceph-claim"), ("pod", "ceph-pod1")):
        assert orlop.kubectl("get", kind, name, "-n", ns, check=False).returncode == 1


def test_delete_waits_for_finalizer(orlop: Any, ns: str) -> None:
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(pvc("held", finalizers=["e2e.orlop.dev/hold"])))
    d = Background(orlop, "delete", "pvc", "held", "-n", ns, "--timeout=60s")
    try:
        wait_until(lambda: bool(get_json(orlop, "pvc", "held", "-n", ns)["metadata"].get("deletionTimestamp")),
                   20, "deletionTimestamp on the claim")
        time.sleep(1)
        assert d.proc.poll() is None, "kubectl delete returned while a finalizer holds the object"
        _, rows = parse_table(orlop.kubectl("get", "pvc", "held", "-n", ns).stdout)
        assert rows[0]["STATUS"] == "Terminating"
        live = get_json(orlop, "pvc", "held", "-n", ns)
        rest = [f for f in live["metadata"]["finalizers"] if f != "e2e.orlop.dev/hold"]
        orlop.kubectl("patch", "pvc", "held", "-n", ns, "--type=merge",
                      "-p", json.dumps({"metadata": {"finalizers": rest or None}}))
        code, out, err = d.finish(timeout=45)
        assert (code, out) == (0, 'persistentvolumeclaim "held" deleted\n'), err
        assert orlop.kubectl("get", "pvc", "held", "-n", ns, check=False).returncode == 1
    finally:
        d.kill()


def test_delete_wait_false_returns_at_once(orlop: Any, ns: str) -> None:
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(pvc("held", finalizers=["e2e.orlop.dev/hold"])))
    out = orlop.kubectl("delete", "pvc", "held", "-n", ns, "--wait=false", timeout=20)
    assert out.stdout == 'persistentvolumeclaim "held" deleted\n'
    live = get_json(orlop, "pvc", "held", "-n", ns)
    assert live["metadata"]["deletionTimestamp"]
    assert "e2e.orlop.dev/hold" in live["metadata"]["finalizers"]
    orlop.kubectl("patch", "pvc", "held", "-n", ns, "--type=json",
                  "-p", json.dumps([{"op": "remove", "path": "/metadata/finalizers/"
                                     f"{live['metadata']['finalizers'].index('e2e.orlop.dev/hold')}"}]))
    wait_until(lambda: orlop.kubectl("get", "pvc", "held", "-n", ns, check=False).returncode == 1, 30,
               "the claim to go once its finalizer is removed")


def test_storage_object_in_use_protection(orlop: Any, ns: str, cleanup: list[tuple[str, str]]) -> None:
    """Kubernetes' StorageObjectInUseProtection: PVs and PVCs carry protection finalizers from creation;
    a claim used by a scheduled Pod stays Terminating until the Pod is gone, unused ones go at once
    (and so do claims only Pods not yet scheduled name: podUsesPVC counts scheduled Pods)."""
    name = unique("prot-pv")
    cleanup.append(("pv", name))
    orlop.kubectl("create", "-f", "-", input=dump(pv(name)))
    assert get_json(orlop, "pv", name)["metadata"].get("finalizers") == ["kubernetes.io/pv-protection"]
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(pvc("unused"), pvc("used")))
    for claim in ("unused", "used"):
        assert get_json(orlop, "pvc", claim, "-n", ns)["metadata"].get("finalizers") == [
            "kubernetes.io/pvc-protection"]
    node = orlop.kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}").stdout
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "user"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}], "nodeName": node,
                    "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "used"}}]}}
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(pod))

    out = orlop.kubectl("delete", "pvc", "unused", "-n", ns, "--timeout=30s", timeout=60)
    assert out.stdout == 'persistentvolumeclaim "unused" deleted\n'
    assert orlop.kubectl("get", "pvc", "unused", "-n", ns, check=False).returncode == 1

    orlop.kubectl("delete", "pvc", "used", "-n", ns, "--wait=false")
    time.sleep(2)
    _, rows = parse_table(orlop.kubectl("get", "pvc", "used", "-n", ns).stdout)
    assert rows[0]["STATUS"] == "Terminating"
    orlop.kubectl("delete", "pod", "user", "-n", ns, "--timeout=30s", timeout=60)
    wait_until(lambda: orlop.kubectl("get", "pvc", "used", "-n", ns, check=False).returncode == 1, 30,
               "the claim to go once no Pod uses it")
    out = orlop.kubectl("delete", "pv", name, "--timeout=30s", timeout=60)
    assert out.stdout == f'persistentvolume "{name}" deleted\n'


# ----------------------------------------------------------------------------------------
# patch


def test_patch_strategic_merge_json_and_no_change(orlop: Any, cleanup: list[tuple[str, str]]) -> None:
    name = unique("patch-pv")
    cleanup.append(("pv", name))
    orlop.kubectl("create", "-f", "-", input=dump(pv(name, reclaim="Delete")))

    def jp(path: str) -> str:
        return str(orlop.kubectl("get", "pv", name, "-o", f"jsonpath={path}").stdout)

    seed_patch = '{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}'
    assert orlop.kubectl("patch", "pv", name, "-p", seed_patch).stdout == f"persistentvolume/{name} patched\n"
    assert jp("{.spec.persistentVolumeReclaimPolicy}") == "Retain"
    rv = jp("{.metadata.resourceVersion}")
    assert orlop.kubectl("patch", "pv", name, "-p", seed_patch).stdout == f"persistentvolume/{name} patched (no change)\n"
    assert jp("{.metadata.resourceVersion}") == rv

    out = orlop.kubectl("patch", "pv", name, "--type", "merge", "-p", '{"metadata":{"labels":{"tier":"gold"}}}')
    assert out.stdout == f"persistentvolume/{name} patched\n"
    assert get_json(orlop, "pv", name)["metadata"]["labels"] == {"type": "local", "tier": "gold"}

    out = orlop.kubectl("patch", "pv", name, "--type", "json",
                        "-p", '[{"op":"replace","path":"/spec/capacity/storage","value":"20Gi"},'
                              '{"op":"remove","path":"/metadata/labels/tier"}]')
    assert out.stdout == f"persistentvolume/{name} patched\n"
    live = get_json(orlop, "pv", name)
    assert live["spec"]["capacity"] == {"storage": "20Gi"}
    assert live["metadata"]["labels"] == {"type": "local"}

    # Merge patch with null deletes a key.
    orlop.kubectl("patch", "pv", name, "--type", "merge", "-p", '{"metadata":{"labels":{"type":null}}}')
    assert "labels" not in get_json(orlop, "pv", name)["metadata"] or \
        get_json(orlop, "pv", name)["metadata"]["labels"] == {}


def test_patch_strategic_merges_lists_by_key(orlop: Any, ns: str) -> None:
    orlop.kubectl("create", "-n", ns, "-f", os.path.join(MANIFESTS, "seed000-task-pv-pod.yaml"))
    out = orlop.kubectl("patch", "pod", "task-pv-pod", "-n", ns,
                        "-p", '{"spec":{"containers":[{"name":"task-pv-container","image":"nginx:1.25"}]}}')
    assert out.stdout == "pod/task-pv-pod patched\n"
    c = get_json(orlop, "pod", "task-pv-pod", "-n", ns)["spec"]["containers"]
    assert len(c) == 1
    assert c[0]["image"] == "nginx:1.25"
    assert c[0]["ports"] == [{"containerPort": 80, "name": "http-server", "protocol": "TCP"}]
    mounts = [m for m in c[0]["volumeMounts"] if not m["name"].startswith("kube-api-access-")]
    assert mounts == [{"mountPath": "/usr/share/nginx/html", "name": "task-pv-storage"}]


# ----------------------------------------------------------------------------------------
# scale


def test_scale_statefulset_as_in_seed000(fresh_orlop: Any) -> None:
    o = fresh_orlop
    o.kubectl("apply", "-f", os.path.join(MANIFESTS, "seed000-mysqltest.yaml"))

    def replicas() -> int:
        return int(o.kubectl("get", "sts", "mysqltest", "-n", "kube-system", "-o", "jsonpath={.spec.replicas}").stdout)

    out = o.kubectl("scale", "statefulsets/mysqltest", "-n", "kube-system", "--replicas=2")
    assert out.stdout == "statefulset.apps/mysqltest scaled\n"
    assert replicas() == 2
    assert o.kubectl("scale", "statefulsets/mysqltest", "-n", "kube-system", "--replicas=4").stdout == \
        "statefulset.apps/mysqltest scaled\n"
    assert replicas() == 4
    # seed 000 also scales with: kubectl patch statefulsets/mysqltest -n kube-system -p '{"spec":{"replicas":3}}'
    out = o.kubectl("patch", "statefulsets/mysqltest", "-n", "kube-system", "-p", '{"spec":{"replicas":3}}')
    assert out.stdout == "statefulset.apps/mysqltest patched\n"
    assert replicas() == 3

    bad = o.kubectl("scale", "statefulsets/mysqltest", "-n", "kube-system", "--current-replicas=5",
                    "--replicas=2", check=False)
    assert (bad.returncode, bad.stderr) == (1, "error: Expected replicas to be 5, was 3\n")
    assert replicas() == 3
    ok = o.kubectl("scale", "statefulsets/mysqltest", "-n", "kube-system", "--current-replicas=3", "--replicas=1")
    assert ok.stdout == "statefulset.apps/mysqltest scaled\n"
    assert replicas() == 1

    scale = json.loads(o.kubectl("get", "--raw", "/apis/apps/v1/namespaces/kube-system/statefulsets/mysqltest/scale"
                                 ).stdout)
    assert (scale["kind"], scale["apiVersion"]) == ("Scale", "autoscaling/v1")
    assert scale["spec"] == {"replicas": 1}
    assert scale["status"]["selector"] == "app=mysqltest"
    assert scale["metadata"]["name"] == "mysqltest" and scale["metadata"]["namespace"] == "kube-system"


# ----------------------------------------------------------------------------------------
# wait


def test_wait_for_jsonpath(orlop: Any, ns: str, cleanup: list[tuple[str, str]]) -> None:
    name = unique("wait-pv")
    sc = unique("wait")   # a class of its own: no other test's claim can bind this PV, nor this claim another PV
    cleanup.append(("pv", name))
    orlop.kubectl("create", "-f", "-", input=dump(pv(name, reclaim="Delete", sc=sc)))
    w = Background(orlop, "wait", "--for=jsonpath={.spec.persistentVolumeReclaimPolicy}=Retain", f"pv/{name}",
                   "--timeout=40s")
    try:
        time.sleep(1.5)
        assert w.proc.poll() is None
        orlop.kubectl("patch", "pv", name, "-p", '{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}')
        code, out, err = w.finish(timeout=45)
        assert (code, out) == (0, f"persistentvolume/{name} condition met\n"), err
    finally:
        w.kill()

    # The PV controller binds the claim to the PV (same class, 1Gi <= 10Gi): waiting for Bound is met.
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(pvc("data", sc=sc)))
    met = orlop.kubectl("wait", "--for=jsonpath={.status.phase}=Bound", "pvc/data", "-n", ns, "--timeout=20s",
                        timeout=40)
    assert met.stdout == "persistentvolumeclaim/data condition met\n"
    # Already true: met at once.  Never true (a Bound claim stays Bound): times out with Kubernetes' text.
    met = orlop.kubectl("wait", f"--for=jsonpath={{.spec.volumeName}}={name}", "pvc/data", "-n", ns,
                        "--timeout=2s", timeout=40)
    assert met.stdout == "persistentvolumeclaim/data condition met\n"
    never = orlop.kubectl("wait", "--for=jsonpath={.status.phase}=Pending", "pvc/data", "-n", ns, "--timeout=2s",
                          check=False, timeout=40)
    assert never.returncode == 1
    assert never.stderr == "error: timed out waiting for the condition on persistentvolumeclaims/data\n"


def test_wait_for_delete(orlop: Any, ns: str) -> None:
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(pvc("data", finalizers=["e2e.orlop.dev/hold"])))
    orlop.kubectl("delete", "pvc", "data", "-n", ns, "--wait=false")
    w = Background(orlop, "wait", "--for=delete", "pvc/data", "-n", ns, "--timeout=40s")
    try:
        time.sleep(1)
        assert w.proc.poll() is None
        orlop.kubectl("patch", "pvc", "data", "-n", ns, "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
        code, out, err = w.finish(timeout=45)
        assert (code, out) == (0, "persistentvolumeclaim/data condition met\n"), err
    finally:
        w.kill()


# ----------------------------------------------------------------------------------------
# label / annotate


def test_label(orlop: Any, ns: str) -> None:
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(pvc("data")))
    assert orlop.kubectl("label", "pvc", "data", "-n", ns, "app=web").stdout == "persistentvolumeclaim/data labeled\n"
    clash = orlop.kubectl("label", "pvc", "data", "-n", ns, "app=db", check=False)
    assert (clash.returncode, clash.stderr) == (1, "error: 'app' already has a value (web), and --overwrite is false\n")
    assert orlop.kubectl("label", "pvc", "data", "-n", ns, "app=db", "--overwrite").stdout == \
        "persistentvolumeclaim/data labeled\n"
    assert get_json(orlop, "pvc", "data", "-n", ns)["metadata"]["labels"] == {"app": "db"}
    assert orlop.kubectl("label", "pvc", "data", "-n", ns, "app-").stdout == "persistentvolumeclaim/data unlabeled\n"
    assert not get_json(orlop, "pvc", "data", "-n", ns)["metadata"].get("labels")
    bad = orlop.kubectl("label", "pvc", "data", "-n", ns, "bad key=x", check=False)
    assert bad.returncode == 1


def test_annotate(orlop: Any, ns: str) -> None:
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(pvc("data")))
    out = orlop.kubectl("annotate", "pvc", "data", "-n", ns, "description=seed claim")
    assert out.stdout == "persistentvolumeclaim/data annotated\n"
    clash = orlop.kubectl("annotate", "pvc", "data", "-n", ns, "description=other", check=False)
    assert clash.returncode == 1
    assert "--overwrite is false" in clash.stderr and "'description' already has a value (seed claim)" in clash.stderr
    assert orlop.kubectl("annotate", "--overwrite", "pvc", "data", "-n", ns, "description=other").stdout == \
        "persistentvolumeclaim/data annotated\n"
    annotations = get_json(orlop, "pvc", "data", "-n", ns)["metadata"]["annotations"]
    assert annotations["description"] == "other"
    orlop.kubectl("annotate", "pvc", "data", "-n", ns, "description-")
    assert "description" not in (get_json(orlop, "pvc", "data", "-n", ns)["metadata"].get("annotations") or {})


# ----------------------------------------------------------------------------------------
# columns as Kubernetes 1.32 prints them


def test_storageclass_columns_and_default_marker(fresh_orlop: Any) -> None:
    o = fresh_orlop
    o.kubectl("apply", "-f", os.path.join(MANIFESTS, "seed000-tenx-rbd-storageclass.yaml"))
    o.kubectl("create", "-f", "-", input=dump({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "fast", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "kubernetes.io/rbd", "reclaimPolicy": "Retain", "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True}))
    header, rows = parse_table(o.kubectl("get", "sc").stdout)
    assert header == ["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"]
    by_name = {r["NAME"]: r for r in rows}
    # `orlop up` creates the default class local-path at first start; kubectl marks every class that
    # carries the is-default-class annotation, so both defaults say so.
    assert set(by_name) == {"fast (default)", "local-path (default)", "tenx-rbd"}
    assert [by_name["local-path (default)"][c] for c in header[1:5]] == ["orlop.io/local-path", "Delete",
                                                                         "Immediate", "true"]
    assert [by_name["tenx-rbd"][c] for c in header[1:5]] == ["kubernetes.io/rbd", "Delete", "Immediate", "false"]
    assert [by_name["fast (default)"][c] for c in header[1:5]] == ["kubernetes.io/rbd", "Retain",
                                                                   "WaitForFirstConsumer", "true"]
    # Seed 000's commented-out annotation, switched on with kubectl annotate, makes tenx-rbd a default too.
    o.kubectl("annotate", "sc", "tenx-rbd", "storageclass.kubernetes.io/is-default-class=true")
    _, rows = parse_table(o.kubectl("get", "sc", "tenx-rbd").stdout)
    assert rows[0]["NAME"] == "tenx-rbd (default)"


def test_column_headers_match_kubernetes(orlop: Any, ns: str, cleanup: list[tuple[str, str]]) -> None:
    pv_name = unique("cols-pv")
    cleanup.append(("pv", pv_name))
    orlop.kubectl("create", "-f", "-", input=dump(pv(pv_name)))
    # The PV controller binds seed 000's claim (manual, 3Gi) to this PV (manual, 10Gi) once the PV is
    # Available; binding a pre-existing static PV emits no event (Kubernetes: `describe pvc` Events: <none>).
    orlop.kubectl("wait", "--for=jsonpath={.status.phase}=Available", f"pv/{pv_name}", "--timeout=20s", timeout=40)
    orlop.kubectl("create", "-n", ns, "-f", os.path.join(MANIFESTS, "seed000-task-pv-claim.yaml"))
    orlop.kubectl("wait", "--for=jsonpath={.status.phase}=Bound", "pvc/task-pv-claim", "-n", ns, "--timeout=20s",
                  timeout=40)
    # The pods must stay Pending for the printed columns to be fixed: no node matches their selector.
    with open(os.path.join(MANIFESTS, "seed002-statefulset-web.yaml")) as f:
        sts = yaml.safe_load(f)
    sts["spec"]["template"]["spec"]["nodeSelector"] = {"orlop.test/no-such-node": "x"}
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(sts))
    orlop.kubectl("create", "-n", ns, "-f", os.path.join(MANIFESTS, "seed000-ceph-secret.yaml"))
    with open(os.path.join(MANIFESTS, "seed000-task-pv-pod.yaml")) as f:
        pod = yaml.safe_load(f)
    pod["spec"]["nodeSelector"] = {"orlop.test/no-such-node": "x"}
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(pod))
    with open(os.path.join(MANIFESTS, "seed000-mysqltest.yaml")) as f:
        services = [d for d in yaml.safe_load_all(f) if d and d["kind"] == "Service"]
    orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(*services))
    claim = get_json(orlop, "pvc", "task-pv-claim", "-n", ns)
    orlop.kubectl("create", "-f", "-", input=dump(event_for(claim, ns, "ExternalProvisioning", "waiting for a volume")))

    cases: list[tuple[list[str], list[str], dict[str, str]]] = [
        (["pv", pv_name],
         ["NAME", "CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS",
          "VOLUMEATTRIBUTESCLASS", "REASON", "AGE"],
         {"NAME": pv_name, "CAPACITY": "10Gi", "ACCESS MODES": "RWO", "RECLAIM POLICY": "Retain", "STATUS": "Bound",
          "CLAIM": f"{ns}/task-pv-claim", "STORAGECLASS": "manual", "VOLUMEATTRIBUTESCLASS": "<unset>",
          "REASON": ""}),
        (["pv", pv_name, "-o", "wide"],
         ["NAME", "CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS",
          "VOLUMEATTRIBUTESCLASS", "REASON", "AGE", "VOLUMEMODE"],
         {"VOLUMEMODE": "Filesystem"}),
        (["pvc", "task-pv-claim", "-n", ns],
         ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE"],
         {"NAME": "task-pv-claim", "STATUS": "Bound", "VOLUME": pv_name, "CAPACITY": "10Gi", "ACCESS MODES": "RWO",
          "STORAGECLASS": "manual", "VOLUMEATTRIBUTESCLASS": "<unset>"}),
        (["sts", "-n", ns], ["NAME", "READY", "AGE"], {"NAME": "web", "READY": "0/2"}),
        (["sts", "-n", ns, "-o", "wide"], ["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"],
         {"CONTAINERS": "nginx", "IMAGES": "nginx:1.9.1"}),
        (["secret", "ceph-secret", "-n", ns], ["NAME", "TYPE", "DATA", "AGE"],
         {"NAME": "ceph-secret", "TYPE": "kubernetes.io/rbd", "DATA": "1"}),
        (["svc", "mysqltest", "-n", ns], ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
         {"NAME": "mysqltest", "TYPE": "ClusterIP", "CLUSTER-IP": "None", "EXTERNAL-IP": "<none>",
          "PORT(S)": "3306/TCP"}),
        (["svc", "mysqltest-pgytt", "-n", ns, "-o", "wide"],
         ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"],
         {"TYPE": "ClusterIP", "EXTERNAL-IP": "11.11.1.1", "PORT(S)": "3306/TCP", "SELECTOR": "app=mysqltest"}),
        (["ns", ns], ["NAME", "STATUS", "AGE"], {"NAME": ns, "STATUS": "Active"}),
        (["ev", "-n", ns, "--field-selector", "reason=ExternalProvisioning"], ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
         {"TYPE": "Normal", "REASON": "ExternalProvisioning", "OBJECT": "persistentvolumeclaim/task-pv-claim",
          "MESSAGE": "waiting for a volume"}),
        (["pod", "task-pv-pod", "-n", ns], ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
         {"NAME": "task-pv-pod", "READY": "0/1", "STATUS": "Pending", "RESTARTS": "0"}),
    ]
    for args, header, cells in cases:
        got_header, rows = parse_table(orlop.kubectl("get", *args).stdout)
        assert got_header == header, args
        assert len(rows) == 1, (args, rows)
        assert {k: rows[0][k] for k in cells} == cells, args
        age_col = "LAST SEEN" if "LAST SEEN" in header else "AGE"
        assert AGE.match(rows[0][age_col]), (args, rows[0])
    _, rows = parse_table(orlop.kubectl("get", "svc", "mysqltest-pgytt", "-n", ns).stdout)
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", rows[0]["CLUSTER-IP"]), rows   # an allocated ClusterIP


# ----------------------------------------------------------------------------------------
# explain (real schemas)


def test_explain_pvc_spec(orlop: Any) -> None:
    out = orlop.kubectl("explain", "pvc.spec").stdout
    assert re.search(r"^KIND:\s+PersistentVolumeClaim$", out, re.M), out
    assert re.search(r"^VERSION:\s+v1$", out, re.M), out
    assert re.search(r"^FIELD: spec <PersistentVolumeClaimSpec>$", out, re.M), out
    assert re.search(r"^DESCRIPTION:$", out, re.M) and re.search(r"^FIELDS:$", out, re.M)
    for line in ("accessModes\t<[]string>", "storageClassName\t<string>", "volumeName\t<string>",
                 "volumeMode\t<string>", "selector\t<LabelSelector>"):
        assert re.search(rf"^\s+{re.escape(line)}$", out, re.M), (line, out)

    sts = orlop.kubectl("explain", "statefulset.spec.volumeClaimTemplates").stdout
    assert re.search(r"^GROUP:\s+apps$", sts, re.M), sts
    assert re.search(r"^FIELD: volumeClaimTemplates <\[\]PersistentVolumeClaim>$", sts, re.M), sts

    missing = orlop.kubectl("explain", "pvc.spec.bogus", check=False)
    assert (missing.returncode, missing.stderr) == (1, 'error: field "bogus" does not exist\n')


# ----------------------------------------------------------------------------------------
# validation: unknown fields, invalid objects


def test_apply_unknown_field_strict_warn_ignore(orlop: Any, ns: str, tmp_path: Any) -> None:
    doc = pvc("data")
    doc["spec"]["bogusField"] = "x"
    path = write(tmp_path, "pvc-unknown.yaml", doc)
    strict = orlop.kubectl("apply", "-f", path, "-n", ns, check=False)
    assert strict.returncode == 1
    assert strict.stderr == (f'Error from server (BadRequest): error when creating "{path}": PersistentVolumeClaim '
                             'in version "v1" cannot be handled as a PersistentVolumeClaim: strict decoding error: '
                             'unknown field "spec.bogusField"\n')

    warn = orlop.kubectl("apply", "-f", path, "-n", ns, "--validate=warn")
    assert warn.stdout == "persistentvolumeclaim/data created\n"
    assert 'Warning: unknown field "spec.bogusField"' in warn.stderr.splitlines()
    assert "bogusField" not in get_json(orlop, "pvc", "data", "-n", ns)["spec"]

    doc["metadata"]["name"] = "data2"
    ignore = orlop.kubectl("create", "-n", ns, "-f", "-", "--validate=false", input=dump(doc))
    assert (ignore.stdout, ignore.stderr) == ("persistentvolumeclaim/data2 created\n", "")
    assert "bogusField" not in get_json(orlop, "pvc", "data2", "-n", ns)["spec"]


def test_invalid_objects_list_causes(orlop: Any, ns: str, cleanup: list[tuple[str, str]]) -> None:
    bare = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "x"}, "spec": {}}
    out = orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(bare), check=False)
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        'The PersistentVolumeClaim "x" is invalid: ',
        "* spec.accessModes: Required value: at least 1 access mode is required",
        "* spec.resources[storage]: Required value",
    ]

    name = unique("bad-pv")
    cleanup.append(("pv", name))
    bad_pv = pv(name, reclaim="Sometimes")
    del bad_pv["spec"]["accessModes"]
    out = orlop.kubectl("apply", "-f", "-", input=dump(bad_pv), check=False)
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        f'The PersistentVolume "{name}" is invalid: ',
        "* spec.accessModes: Required value",
        '* spec.persistentVolumeReclaimPolicy: Unsupported value: "Sometimes": supported values: "Delete", '
        '"Recycle", "Retain"',
    ]

    one = pvc("Bad_Name")
    out = orlop.kubectl("create", "-n", ns, "-f", "-", input=dump(one), check=False)
    assert out.stderr == (
        'The PersistentVolumeClaim "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase '
        "RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end "
        "with an alphanumeric character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')\n")


# ----------------------------------------------------------------------------------------
# namespaces


def test_delete_namespace_deletes_its_content(orlop: Any) -> None:
    name = unique("doomed")
    create_namespace(orlop, name)
    try:
        orlop.kubectl("create", "-n", name, "-f", os.path.join(MANIFESTS, "seed002-statefulset-web.yaml"))
        orlop.kubectl("create", "-n", name, "-f", os.path.join(MANIFESTS, "seed004-ceph-secret.yaml"))
        orlop.kubectl("create", "-n", name, "-f", os.path.join(MANIFESTS, "seed004-ceph-pod1.yaml"))
        orlop.kubectl("create", "-n", name, "-f", "-", input=dump(pvc("ceph-claim"),
                                                                   pvc("held", finalizers=["e2e.orlop.dev/hold"])))
        out = orlop.kubectl("delete", "namespace", name, "--wait=false")
        assert out.stdout == f'namespace "{name}" deleted\n'

        # The held claim keeps the namespace Terminating; nothing new may be created in it.
        def terminating() -> bool:
            _, rows = parse_table(orlop.kubectl("get", "ns", name).stdout)
            return rows[0]["STATUS"] == "Terminating"

        wait_until(terminating, 20, "the namespace to show Terminating")
        late = orlop.kubectl("create", "-n", name, "-f", "-", input=dump(pvc("late")), check=False)
        assert late.returncode == 1
        assert late.stderr == (f'Error from server (Forbidden): error when creating "STDIN": persistentvolumeclaims '
                               f'"late" is forbidden: unable to create new content in namespace {name} because it is '
                               "being terminated\n")
        wait_until(lambda: orlop.kubectl("get", "sts,secret,pod", "-n", name, "-o", "name").stdout == "", 30,
                   "the namespace's StatefulSet, Secret and Pod to be deleted")
        left = orlop.kubectl("get", "pvc", "-n", name, "-o", "name").stdout.split()
        assert left == ["persistentvolumeclaim/held"]

        orlop.kubectl("patch", "pvc", "held", "-n", name, "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
        wait_until(lambda: orlop.kubectl("get", "ns", name, check=False).returncode == 1, 60,
                   "the namespace to be gone")
        gone = orlop.kubectl("get", "ns", name, check=False)
        assert gone.stderr == f'Error from server (NotFound): namespaces "{name}" not found\n'
    finally:
        orlop.kubectl("patch", "pvc", "held", "-n", name, "--type=merge", "-p", '{"metadata":{"finalizers":null}}',
                      check=False)
        orlop.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def test_immortal_namespaces(fresh_orlop: Any) -> None:
    orlop = fresh_orlop
    for name in ("default", "kube-system"):
        out = orlop.kubectl("delete", "namespace", name, check=False)
        assert out.returncode == 1
        assert out.stderr == (f'Error from server (Forbidden): namespaces "{name}" is forbidden: '
                              "this namespace may not be deleted\n")
    _, rows = parse_table(orlop.kubectl("get", "ns").stdout)
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= {r["NAME"] for r in rows}
