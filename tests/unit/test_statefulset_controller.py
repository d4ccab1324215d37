"""The StatefulSet controller in process over a real SQLite-backed registry.

The storage controllers (binder, protection, garbage collector) run beside it on shared
informers.  No scheduler or node agent runs here: a small fake node binds pods to
``node-1`` (so deletes are graceful and pods stay terminating, as with a real node),
marks them Running and Ready, and removes terminating pods with grace 0, as the node
agent does once their containers stopped.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
import yaml
from inproc import until

from orlop import drivers
from orlop.client import LocalClient
from orlop.controllers.base import Informers
from orlop.controllers.gc import GarbageCollector
from orlop.controllers.protection import ProtectionController
from orlop.controllers.pv.controller import PVController
from orlop.controllers.statefulset import StatefulSetController
from orlop.drivers.localpath import LocalPathDriver
from orlop.errors import StatusError
from orlop.registry.core import Registry
from orlop.store.sqlite import SQLiteStore
from orlop.up import bootstrap

# Seed 000's mysql StatefulSet as its author meant it (the seed's YAML is mis-indented after
# "- name: mysqltest"; see test_conversion.py): apps/v1beta1, two replicas, ReadWriteMany claims.
SEED_000_MYSQL = r"""
apiVersion: apps/v1beta1
kind: StatefulSet
metadata:
  name: mysqltest
  namespace: kube-system
spec:
  serviceName: mysqltest
  replicas: 2
  template:
    metadata:
      labels:
        app: mysqltest
      annotations:
        pod.alpha.kubernetes.io/initialized: "true"
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: mysqltest
        image: 192.168.1.52/tenx_containers/mysql-galera:e2e
        ports:
        - containerPort: 3306
          name: mysqltest
        env:
        - name: MYSQL_ROOT_PASSWORD
          value: "123123"
        resources:
          limits:
            memory: '512Mi'
          requests:
            cpu: 50m
            memory: '512Mi'
        volumeMounts:
        - name: datadir
          mountPath: /var/lib/
        - name: config
          mountPath: /etc/mysql
      volumes:
      - name: config
        emptyDir: {}
      - name: workdir
        emptyDir: {}
  volumeClaimTemplates:
  - metadata:
      name: datadir
    spec:
      accessModes: [ "ReadWriteMany" ]
      storageClassName: tenx-rbd
      resources:
        requests:
          storage: 512Mi
"""


def web(replicas: int = 2, retention: dict | None = None, image: str = "nginx:1.25") -> dict:
    spec: dict[str, Any] = {
        "serviceName": "nginx", "replicas": replicas, "selector": {"matchLabels": {"app": "nginx"}},
        "template": {"metadata": {"labels": {"app": "nginx"}},
                     "spec": {"containers": [{"name": "nginx", "image": image,
                                              "volumeMounts": [{"name": "www",
                                                                "mountPath": "/usr/share/nginx/html"}]}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "www"},
                                  "spec": {"accessModes": ["ReadWriteOnce"],
                                           "resources": {"requests": {"storage": "1Gi"}}}}]}
    if retention:
        spec["persistentVolumeClaimRetentionPolicy"] = retention
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web", "namespace": "default"},
            "spec": spec}


class Cluster:
    def __init__(self, tmp: str):
        self.store = SQLiteStore(os.path.join(tmp, "store.db"))
        self.registry = Registry(self.store)
        self.client = LocalClient(self.registry, "test")
        self.volumes_dir = os.path.join(tmp, "volumes")
        self.tasks: list[asyncio.Task[Any]] = []
        self.node_ready = True       # the fake node makes pods Running and Ready

    async def start(self) -> None:
        drivers.register(LocalPathDriver(self.volumes_dir, node_name="node-1"))
        await bootstrap(self.registry, default_class=True)
        informers = Informers(LocalClient(self.registry, "informers"))
        controllers = [
            PVController(LocalClient(self.registry, "persistentvolume-controller"), informers),
            ProtectionController(LocalClient(self.registry, "pvc-protection-controller"), informers),
            GarbageCollector(LocalClient(self.registry, "garbage-collector"), informers),
            StatefulSetController(LocalClient(self.registry, "statefulset-controller"), informers),
        ]
        self.tasks = [asyncio.create_task(informers.run())]
        self.tasks += [asyncio.create_task(c.run()) for c in controllers]
        self.tasks.append(asyncio.create_task(self._node()))

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.store.close()

    async def _node(self) -> None:
        """The fake node agent: bind, run, and finish the deletion of terminating pods."""
        node = LocalClient(self.registry, "kubelet")
        while True:
            pods, _ = await node.list("v1", "Pod")
            for p in pods:
                m = p["metadata"]
                try:
                    if m.get("deletionTimestamp"):
                        await node.delete("v1", "Pod", m["namespace"], m["name"], uid=m["uid"],
                                          grace_period_seconds=0)
                    elif not p["spec"].get("nodeName"):
                        await node.bind_pod(m["namespace"], m["name"], "node-1", uid=m["uid"])
                    elif self.node_ready and (p.get("status") or {}).get("phase") != "Running":
                        p["status"]["phase"] = "Running"
                        p["status"]["conditions"] = [
                            {"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"}]
                        await node.update(p, subresource="status")
                except StatusError as e:
                    if e.code not in (404, 409):
                        raise
            await asyncio.sleep(0.03)

    async def pods(self, ns: str = "default") -> dict[str, dict]:
        items, _ = await self.client.list("v1", "Pod", ns)
        return {p["metadata"]["name"]: p for p in items}

    async def claims(self, ns: str = "default") -> dict[str, dict]:
        items, _ = await self.client.list("v1", "PersistentVolumeClaim", ns)
        return {c["metadata"]["name"]: c for c in items}

    async def running(self, names: list[str], ns: str = "default") -> bool:
        pods = await self.pods(ns)
        return sorted(pods) == sorted(names) and all(
            p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
            for p in pods.values())

    async def events(self, set_name: str, ns: str = "default") -> list[tuple[str, str, str]]:
        items, _ = await self.client.list("v1", "Event", ns)
        items = [e for e in items if e["involvedObject"]["name"] == set_name
                 and e["source"]["component"] == "statefulset-controller"]
        items.sort(key=lambda e: int(e["metadata"]["resourceVersion"]))
        return [(e["type"], e["reason"], e["message"]) for e in items]

    async def sts(self, name: str = "web", ns: str = "default") -> dict:
        return await self.client.get("apps/v1", "StatefulSet", ns, name)

    async def scale(self, replicas: int, name: str = "web", ns: str = "default") -> None:
        await self.client.merge_patch("apps/v1", "StatefulSet", ns, name, {"spec": {"replicas": replicas}})


@pytest.fixture
async def cluster(tmp_path):
    c = Cluster(str(tmp_path))
    await c.start()
    yield c
    await c.stop()


def messages(events: list[tuple[str, str, str]], reason: str) -> list[str]:
    return [m for _, r, m in events if r == reason]


def rollout_done(sts: dict) -> bool:
    """kubectl's StatefulSetStatusViewer (RollingUpdate with a partition) says the rollout is done."""
    spec, st = sts["spec"], sts.get("status") or {}
    if not st.get("observedGeneration") or sts["metadata"]["generation"] > st["observedGeneration"]:
        return False
    if st.get("readyReplicas", 0) < spec["replicas"]:
        return False
    partition = spec["updateStrategy"]["rollingUpdate"]["partition"]
    return st.get("updatedReplicas", 0) >= spec["replicas"] - partition


async def test_seed000_mysqltest_scales_2_3_1_in_order_and_keeps_claims(cluster):
    await cluster.client.create(yaml.safe_load(SEED_000_MYSQL))
    await until(lambda: cluster.running(["mysqltest-0", "mysqltest-1"], "kube-system"), what="two pods")
    await cluster.scale(3, "mysqltest", "kube-system")
    await until(lambda: cluster.running(["mysqltest-0", "mysqltest-1", "mysqltest-2"], "kube-system"),
                what="three pods")
    await cluster.scale(1, "mysqltest", "kube-system")
    await until(lambda: cluster.running(["mysqltest-0"], "kube-system"), what="one pod")

    async def both_deletes_recorded() -> list | None:
        # (an event is recorded after the write it reports: the pod can be gone before it is)
        events = await cluster.events("mysqltest", "kube-system")
        return events if len(messages(events, "SuccessfulDelete")) >= 2 else None
    events = await until(both_deletes_recorded, what="the deletes' events")
    assert messages(events, "SuccessfulCreate") == [
        "create Claim datadir-mysqltest-0 Pod mysqltest-0 in StatefulSet mysqltest success",
        "create Pod mysqltest-0 in StatefulSet mysqltest successful",
        "create Claim datadir-mysqltest-1 Pod mysqltest-1 in StatefulSet mysqltest success",
        "create Pod mysqltest-1 in StatefulSet mysqltest successful",
        "create Claim datadir-mysqltest-2 Pod mysqltest-2 in StatefulSet mysqltest success",
        "create Pod mysqltest-2 in StatefulSet mysqltest successful"]
    assert messages(events, "SuccessfulDelete") == ["delete Pod mysqltest-2 in StatefulSet mysqltest successful",
                                                    "delete Pod mysqltest-1 in StatefulSet mysqltest successful"]
    assert [t for t, _, _ in events] == ["Normal"] * len(events)
    claims = await cluster.claims("kube-system")
    assert sorted(claims) == ["datadir-mysqltest-0", "datadir-mysqltest-1", "datadir-mysqltest-2"]
    assert claims["datadir-mysqltest-2"]["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claims["datadir-mysqltest-0"]["metadata"]["labels"] == {"app": "mysqltest"}
    pod = (await cluster.pods("kube-system"))["mysqltest-0"]
    assert pod["spec"]["hostname"] == "mysqltest-0" and pod["spec"]["subdomain"] == "mysqltest"
    assert {"name": "datadir", "persistentVolumeClaim": {"claimName": "datadir-mysqltest-0"}} in pod["spec"]["volumes"]
    sts = await until(lambda: _status(cluster, "mysqltest", "kube-system", replicas=1), what="status")
    assert sts["status"]["observedGeneration"] == sts["metadata"]["generation"]
    revs, _ = await cluster.client.list("apps/v1", "ControllerRevision", "kube-system")
    assert [r["metadata"]["name"] for r in revs] == [sts["status"]["currentRevision"]]


async def _status(cluster: Cluster, name: str, ns: str, replicas: int) -> dict | None:
    sts = await cluster.sts(name, ns)
    st = sts.get("status") or {}
    ok = st.get("replicas") == replicas and st.get("readyReplicas") == replicas \
        and st.get("observedGeneration") == sts["metadata"]["generation"]
    return sts if ok else None


async def test_ordered_ready_waits_for_each_pod(cluster):
    cluster.node_ready = False
    await cluster.client.create(web(replicas=3))
    await until(lambda: _has_pods(cluster, ["web-0"]), what="web-0")
    await asyncio.sleep(0.5)
    assert sorted(await cluster.pods()) == ["web-0"]        # web-0 never became ready: no web-1
    cluster.node_ready = True
    await until(lambda: cluster.running(["web-0", "web-1", "web-2"]), what="all pods")
    sts = await until(lambda: _status(cluster, "web", "default", replicas=3), what="status")
    assert rollout_done(sts)
    st = sts["status"]
    assert st["currentRevision"] == st["updateRevision"] and st["availableReplicas"] == 3
    assert st["collisionCount"] == 0 and st["currentReplicas"] == st["updatedReplicas"] == 3


async def _has_pods(cluster: Cluster, names: list[str]) -> bool:
    return sorted(await cluster.pods()) == sorted(names)


async def test_when_scaled_delete_removes_condemned_claim_after_pod(cluster):
    await cluster.client.create(web(replicas=2, retention={"whenDeleted": "Retain", "whenScaled": "Delete"}))
    await until(lambda: cluster.running(["web-0", "web-1"]), what="two pods")
    await until(lambda: _claims_bound(cluster, ["www-web-0", "www-web-1"]), what="claims bound")
    await cluster.scale(1)
    await until(lambda: _gone(cluster, "www-web-1"), what="condemned claim deleted")
    assert sorted(await cluster.pods()) == ["web-0"]
    claims = await cluster.claims()
    assert sorted(claims) == ["www-web-0"] and "ownerReferences" not in claims["www-web-0"]["metadata"]


async def _claims_bound(cluster: Cluster, names: list[str]) -> bool:
    claims = await cluster.claims()
    return sorted(claims) == sorted(names) and all(c["status"].get("phase") == "Bound" for c in claims.values())


async def _gone(cluster: Cluster, claim: str) -> bool:
    return claim not in await cluster.claims()


async def test_set_deleted_pods_go_claims_stay_and_recreated_set_reuses_them(cluster):
    await cluster.client.create(web(replicas=2))
    await until(lambda: cluster.running(["web-0", "web-1"]), what="two pods")
    await until(lambda: _claims_bound(cluster, ["www-web-0", "www-web-1"]), what="claims bound")
    before = await cluster.claims()
    await cluster.client.delete("apps/v1", "StatefulSet", "default", "web")
    await until(lambda: _has_pods(cluster, []), what="pods deleted by the garbage collector")
    await asyncio.sleep(0.3)
    claims = await cluster.claims()
    assert {n: c["metadata"]["uid"] for n, c in claims.items()} == \
        {n: c["metadata"]["uid"] for n, c in before.items()}
    await cluster.client.create(web(replicas=2))
    await until(lambda: cluster.running(["web-0", "web-1"]), what="pods again")
    after = await cluster.claims()
    assert {n: (c["metadata"]["uid"], c["spec"]["volumeName"]) for n, c in after.items()} == \
        {n: (c["metadata"]["uid"], c["spec"]["volumeName"]) for n, c in before.items()}
    events = await cluster.events("web")
    assert len(messages(events, "SuccessfulCreate")) == 2 + 2 + 2    # claims were created once only
    assert sum("Claim" in m for m in messages(events, "SuccessfulCreate")) == 2


async def test_when_deleted_delete_claims_go_with_the_set(cluster):
    await cluster.client.create(web(replicas=1, retention={"whenDeleted": "Delete", "whenScaled": "Retain"}))
    await until(lambda: cluster.running(["web-0"]), what="pod")
    sts = await cluster.sts()
    claim = (await cluster.claims())["www-web-0"]
    assert claim["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web",
                                                     "uid": sts["metadata"]["uid"], "controller": True,
                                                     "blockOwnerDeletion": True}]
    await cluster.client.delete("apps/v1", "StatefulSet", "default", "web")
    await until(lambda: _gone(cluster, "www-web-0"), what="claim deleted with the set")


async def test_rolling_update_replaces_pods_from_highest_ordinal(cluster):
    await cluster.client.create(web(replicas=3))
    first = await until(lambda: _status(cluster, "web", "default", replicas=3), what="running")
    old = first["status"]["currentRevision"]
    await cluster.client.merge_patch("apps/v1", "StatefulSet", "default", "web", {"spec": {"template": {"spec": {
        "containers": [{"name": "nginx", "image": "nginx:1.26",
                        "volumeMounts": [{"name": "www", "mountPath": "/usr/share/nginx/html"}]}]}}}})

    async def updated() -> dict | None:
        sts = await _status(cluster, "web", "default", replicas=3)
        st = (sts or {}).get("status") or {}
        return sts if st.get("updatedReplicas") == 3 and st.get("currentRevision") != old else None

    sts = await until(updated, what="rolling update done")
    assert rollout_done(sts) and sts["status"]["currentRevision"] == sts["status"]["updateRevision"]
    pods = await cluster.pods()
    assert {p["spec"]["containers"][0]["image"] for p in pods.values()} == {"nginx:1.26"}
    events = await cluster.events("web")
    assert messages(events, "SuccessfulDelete") == [f"delete Pod web-{i} in StatefulSet web successful"
                                                    for i in (2, 1, 0)]
    revs, _ = await cluster.client.list("apps/v1", "ControllerRevision", "default")
    assert sorted((r["revision"], r["metadata"]["name"]) for r in revs) == \
        [(1, old), (2, sts["status"]["currentRevision"])]


async def test_claim_being_deleted_blocks_pod_with_kubernetes_event(cluster):
    held = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "www-web-0", "namespace": "default", "finalizers": ["test.orlop.io/hold"]},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    await cluster.client.create(held)
    await cluster.client.delete("v1", "PersistentVolumeClaim", "default", "www-web-0")
    await cluster.client.create(web(replicas=1))
    msg = "create Pod web-0 in StatefulSet web failed error: pvc www-web-0 is being deleted"
    await until(lambda: _has_event(cluster, ("Warning", "FailedCreate", msg)), what="FailedCreate")
    assert await cluster.pods() == {}
    claim = (await cluster.claims())["www-web-0"]
    claim["metadata"]["finalizers"] = [f for f in claim["metadata"]["finalizers"] if f != "test.orlop.io/hold"]
    await cluster.client.update(claim)
    await until(lambda: cluster.running(["web-0"]), what="pod created once the claim is gone")
    assert (await cluster.claims())["www-web-0"]["metadata"]["uid"] != claim["metadata"]["uid"]


async def _has_event(cluster: Cluster, ev: tuple[str, str, str]) -> bool:
    return ev in await cluster.events("web")


async def test_deleted_pod_comes_back_with_same_name_and_claim(cluster):
    await cluster.client.create(web(replicas=2))
    await until(lambda: cluster.running(["web-0", "web-1"]), what="two pods")
    old = (await cluster.pods())["web-0"]["metadata"]["uid"]
    claim_uid = (await cluster.claims())["www-web-0"]["metadata"]["uid"]
    await cluster.client.delete("v1", "Pod", "default", "web-0")

    async def replaced() -> bool:
        pods = await cluster.pods()
        return "web-0" in pods and pods["web-0"]["metadata"]["uid"] != old and await cluster.running(["web-0", "web-1"])

    await until(replaced, what="web-0 recreated")
    assert (await cluster.claims())["www-web-0"]["metadata"]["uid"] == claim_uid
