"""Pod-specific REST semantics of the registry: graceful deletion and pods/binding.

Kubernetes' pod strategy: a pod a node runs is not removed by DELETE; it gets a
deletionTimestamp and grace period, and the node agent removes it (grace 0) once its
containers are stopped.  Binding assigns a node exactly once.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from orlop.client import LocalClient
from orlop.errors import StatusError
from orlop.registry.core import Registry
from orlop.store.sqlite import SQLiteStore
from orlop.up import bootstrap


def pod(name: str, node: str = "", grace: int | None = None, phase: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


@pytest.fixture
async def client(tmp_path: Any) -> Any:
    store = SQLiteStore(os.path.join(str(tmp_path), "store.db"))
    registry = Registry(store)
    await bootstrap(registry)
    yield LocalClient(registry, "test")
    await store.close()


@pytest.mark.parametrize("case", [
    # (name, pod node, pod grace, phase, request grace, stays, expected grace)
    ("unscheduled pod goes at once", "", None, "", None, False, None),
    ("scheduled pod gets the default 30 s", "n1", None, "", None, True, 30),
    ("pod's terminationGracePeriodSeconds", "n1", 5, "", None, True, 5),
    ("request grace wins", "n1", 5, "", 2, True, 2),
    ("grace 0 removes at once (force)", "n1", None, "", 0, False, None),
    ("negative grace becomes 1", "n1", None, "", -3, True, 1),
    ("succeeded pod goes at once", "n1", None, "Succeeded", None, False, None),
    ("failed pod goes at once", "n1", None, "Failed", None, False, None),
])
async def test_graceful_delete(client: LocalClient, case: tuple[Any, ...]) -> None:
    _, node, grace, phase, req, stays, want = case
    created = await client.create(pod("p", node, grace))
    if phase:
        created["status"] = {"phase": phase}
        await client.update(created, subresource="status")
    await client.delete("v1", "Pod", "default", "p", grace_period_seconds=req)
    got = await client.get("v1", "Pod", "default", "p")
    if not stays:
        assert got is None
        return
    assert got is not None
    assert got["metadata"]["deletionGracePeriodSeconds"] == want
    assert got["metadata"]["deletionTimestamp"]


async def test_terminating_pod_survives_status_writes_and_goes_with_grace_zero(client: LocalClient) -> None:
    await client.create(pod("p", "n1"))
    await client.delete("v1", "Pod", "default", "p")
    got = await client.get("v1", "Pod", "default", "p")
    assert got is not None
    uid = got["metadata"]["uid"]
    # A longer grace does not extend it; a shorter one shortens it.
    await client.delete("v1", "Pod", "default", "p", grace_period_seconds=60)
    got = await client.get("v1", "Pod", "default", "p")
    assert got is not None and got["metadata"]["deletionGracePeriodSeconds"] == 30
    await client.delete("v1", "Pod", "default", "p", grace_period_seconds=10)
    got = await client.get("v1", "Pod", "default", "p")
    assert got is not None and got["metadata"]["deletionGracePeriodSeconds"] == 10
    # The node agent reports the stopped containers: the object must stay.
    got["status"] = {"phase": "Running"}
    await client.update(got, subresource="status")
    assert await client.get("v1", "Pod", "default", "p") is not None
    with pytest.raises(StatusError) as e:
        await client.delete("v1", "Pod", "default", "p", uid="wrong", grace_period_seconds=0)
    assert e.value.code == 409
    assert await client.delete("v1", "Pod", "default", "p", uid=uid, grace_period_seconds=0)
    assert await client.get("v1", "Pod", "default", "p") is None


async def test_binding(client: LocalClient) -> None:
    await client.create(pod("p"))
    await client.bind_pod("default", "p", "node-1")
    got = await client.get("v1", "Pod", "default", "p")
    assert got is not None
    assert got["spec"]["nodeName"] == "node-1"
    scheduled = [c for c in got["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert scheduled and scheduled[0]["status"] == "True"
    with pytest.raises(StatusError) as e:
        await client.bind_pod("default", "p", "node-2")
    assert e.value.code == 409
    assert e.value.message == ('Operation cannot be fulfilled on pods/binding "p": '
                               'pod p is already assigned to node "node-1"')
    with pytest.raises(StatusError) as e:
        await client.bind_pod("default", "missing", "node-1")
    assert e.value.code == 404
    await client.create(pod("q"))
    with pytest.raises(StatusError) as e:
        await client.bind_pod("default", "q", "node-1", uid="not-its-uid")
    assert e.value.code == 409
    with pytest.raises(StatusError) as e:
        await client.registry.bind_pod("default", "q", {"kind": "Binding", "target": {"kind": "Pod"}})
    assert e.value.code == 422
    assert "target.name: Required value" in e.value.message


async def test_controller_revision(client: LocalClient) -> None:
    rev = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
           "metadata": {"name": "web-5d8f", "namespace": "default"}, "data": {"spec": {}}, "revision": 1}
    created = await client.create(rev)
    assert created["revision"] == 1
    created["data"] = {"spec": {"x": 1}}
    with pytest.raises(StatusError) as e:
        await client.update(created)
    assert e.value.code == 422 and "field is immutable" in e.value.message
    with pytest.raises(StatusError) as e:
        await client.create({**rev, "metadata": {"name": "bad", "namespace": "default"}, "revision": -1})
    assert e.value.code == 422
