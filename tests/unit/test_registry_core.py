"""The generic registry's watch events and server-set uids.

A watch turns store changes into ADDED / MODIFIED / DELETED as Kubernetes does: with a
selector, an object entering the selection is ADDED and one leaving it DELETED.  The
previous value of a change is only decoded when the answer depends on it.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import uuid
from typing import Any

import orjson
import pytest
from inproc import until

from orlop.client import LocalClient, resource_of
from orlop.errors import StatusError
from orlop.registry import core
from orlop.registry.core import ListOptions, Registry
from orlop.store.sqlite import SQLiteStore
from orlop.up import bootstrap


@pytest.fixture
async def client(tmp_path: Any) -> Any:
    store = SQLiteStore(os.path.join(str(tmp_path), "store.db"))
    registry = Registry(store)
    await bootstrap(registry)
    yield LocalClient(registry, "test")
    await store.close()


def cm(name: str, labels: dict[str, str] | None = None, data: str = "1") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": data}}


async def _changes(client: LocalClient) -> None:
    """a: created, changed, labelled out of app=x, deleted; b: created outside, labelled into app=x."""
    a = await client.create(cm("a", {"app": "x"}))
    a["data"] = {"k": "2"}
    a = await client.update(a)
    a["metadata"]["labels"] = {"app": "y"}
    await client.update(a)
    b = await client.create(cm("b", {"app": "y"}))
    b["metadata"]["labels"] = {"app": "x"}
    await client.update(b)
    await client.delete("v1", "ConfigMap", "default", "a")


@pytest.mark.parametrize(("selector", "expected"), [
    ("", [("ADDED", "a"), ("MODIFIED", "a"), ("MODIFIED", "a"), ("ADDED", "b"), ("MODIFIED", "b"), ("DELETED", "a")]),
    # Leaving the selection is a DELETED (of the object as it was), entering it an ADDED.
    ("app=x", [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a"), ("ADDED", "b")]),
    ("app=y", [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "b"), ("DELETED", "a")]),
])
async def test_watch_event_types(client: LocalClient, selector: str, expected: list[tuple[str, str]]) -> None:
    _, rv = await client.list("v1", "ConfigMap", "default")
    await _changes(client)
    got: list[tuple[str, str, dict[str, Any]]] = []

    async def collect() -> None:
        async for ev in client.watch("v1", "ConfigMap", "default", resource_version=rv, label_selector=selector):
            got.append((ev.type, ev.object["metadata"]["name"], ev.object))
            if len(got) == len(expected):
                return
    await asyncio.wait_for(collect(), 5)
    assert [(t, n) for t, n, _ in got] == expected
    revisions = [int(o["metadata"]["resourceVersion"]) for _, _, o in got]
    assert revisions == sorted(revisions) and all(r > int(rv) for r in revisions)
    if selector == "app=x":
        # The object that left the selection, as it was before, at the revision it left.
        assert got[2][2]["metadata"]["labels"] == {"app": "x"} and got[2][2]["data"] == {"k": "2"}


async def test_unfiltered_watch_never_decodes_the_previous_value(client: LocalClient) -> None:
    """An unfiltered watch tells MODIFIED from ADDED by whether a previous value exists, without
    decoding it: a previous value no JSON decoder takes (written beneath the registry) passes
    unseen.  A filtered watch must know whether the previous object matched, so it decodes it."""
    store = client.registry.store
    await client.create(cm("plain", {"app": "x"}))
    res = resource_of("v1", "ConfigMap")
    kv = await store.get(res.key("default", "plain"))
    assert kv is not None
    garbled = await store.update(kv.key, b"{not json", kv.mod_revision)
    await store.update(kv.key, kv.value, garbled)

    async def first(selector: str) -> core.WatchEvent:
        stream = client.registry.watch(res, "default", ListOptions(resource_version=str(garbled),
                                                                   label_selector=selector), raw=False)
        try:
            return await asyncio.wait_for(stream.__anext__(), 5)
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
    ev = await first("")
    assert (ev.type, ev.object["metadata"]["name"]) == ("MODIFIED", "plain")
    assert ev.object["metadata"]["resourceVersion"] == str(garbled + 1)
    with pytest.raises(orjson.JSONDecodeError):
        await first("app=x")


async def test_a_watch_closed_or_cancelled_leaves_no_watcher_in_the_store(client: LocalClient) -> None:
    """Registry.watch's stream closes the store's stream beneath it, as closing a generator
    would: on ``aclose()``, and when the task reading it is cancelled (an API watch ending)."""
    store: Any = client.registry.store
    before = len(store._watchers)

    async def watchers(n: int) -> bool:
        return len(store._watchers) == n
    await client.create(cm("seen", {"app": "x"}))
    stream: Any = client.watch("v1", "ConfigMap", "default")
    assert (await stream.__anext__()).type == "ADDED"       # (the list part: no watcher yet)
    reading = asyncio.ensure_future(stream.__anext__())
    await until(lambda: watchers(before + 1), timeout=5, what="the store's watcher")
    await client.create(cm("next", {}))
    assert (await asyncio.wait_for(reading, 5)).object["metadata"]["name"] == "next"
    await stream.aclose()
    assert len(store._watchers) == before
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()

    async def read_forever() -> None:
        async for _ in client.watch("v1", "ConfigMap", "default", resource_version="1"):
            pass
    task = asyncio.ensure_future(read_forever())
    await until(lambda: watchers(before + 1), timeout=5, what="the store's watcher")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(store._watchers) == before


def test_new_uid_is_a_random_version_4_uuid() -> None:
    uids = [core.new_uid() for _ in range(1000)]        # more than one batch of random bytes
    assert len(set(uids)) == len(uids)
    for u in uids:
        parsed = uuid.UUID(u)
        assert str(parsed) == u and parsed.version == 4 and parsed.variant == uuid.RFC_4122


@pytest.mark.parametrize("raw", [bytes(16), b"\xff" * 16, bytes(range(16)), os.urandom(16)])
def test_uid_text_is_what_the_uuid_module_prints(raw: bytes) -> None:
    assert core._uid_text(raw) == str(uuid.UUID(bytes=raw, version=4))


def test_forked_child_does_not_repeat_the_parents_uids() -> None:
    core.new_uid()              # the pool now holds random bytes the child must not reuse
    parent_next = list(core._UID_POOL)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                # the child: report its next uid and leave at once
        os.close(r)
        os.write(w, core.new_uid().encode())
        os._exit(0)
    os.close(w)
    child_uid = os.read(r, 100).decode()
    os.close(r)
    os.waitpid(pid, 0)
    assert uuid.UUID(child_uid).version == 4
    assert child_uid not in parent_next


def test_now_rfc3339_is_the_current_utc_second(monkeypatch: pytest.MonkeyPatch) -> None:
    import time as time_mod
    for t in (1_700_000_000.2, 1_700_000_000.9, 1_700_000_001.0, 1_700_000_059.5):
        monkeypatch.setattr(time_mod, "time", lambda t=t: t)
        want = datetime.datetime.fromtimestamp(int(t), datetime.UTC)
        assert core.now_rfc3339() == want.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert core.now_rfc3339(30) == (want + datetime.timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(("obj", "spliced"), [
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "{"}}, True),
    ({"metadata": {}}, True),                                         # empty metadata
    ({"kind": "X", "metadata": {"name": "a", "labels": {"x": "1"}}}, True),
    # Not certain which "metadata" is the top-level one: decoded instead.
    ({"kind": "X", "spec": {"metadata": {"n": 1}}, "metadata": {"name": "a"}}, False),
    ({"items": [{"metadata": {}}], "metadata": {"name": "a"}}, False),
    ({"kind": "{", "metadata": {"name": "a"}}, False),
    ({"kind": '"metadata":{', "metadata": {"name": "a"}}, False),     # only as a (quoted) string
    ({"kind": "X"}, False),                                           # no metadata at all
])
def test_with_resource_version_splices_only_when_sure(obj: dict[str, Any], spliced: bool) -> None:
    value = core.encode(obj)
    out = core.with_resource_version(value, 42)
    assert (out is not None) == spliced
    if out is not None:
        assert orjson.loads(out) == core.decode(value, 42)


async def test_raw_watch_serves_the_objects_a_decoding_watch_serves(client: LocalClient) -> None:
    _, rv = await client.list("v1", "ConfigMap", "default")
    await _changes(client)
    res = resource_of("v1", "ConfigMap")

    async def events(raw: bool, selector: str = "") -> list[tuple[str, dict[str, Any], bool]]:
        got = []
        stream = client.registry.watch(res, "default", ListOptions(resource_version=rv, label_selector=selector),
                                       raw=raw)
        async for ev in stream:
            got.append((ev.type, orjson.loads(ev.raw) if ev.raw is not None else ev.object, ev.raw is not None))
            if len(got) == (6 if not selector else 4):
                break
        await stream.aclose()
        return got

    raw, decoded = await events(True), await events(False)
    assert [(t, o) for t, o, _ in raw] == [(t, o) for t, o, _ in decoded]
    assert [r for _, _, r in raw] == [True] * 5 + [False]    # a DELETE carries the object it removed
    assert not any(r for _, _, r in decoded)
    assert not any(r for _, _, r in await events(True, "app=x"))   # selectors need the objects


LONG_MANAGER = [{"manager": "m" * 129, "operation": "Update", "apiVersion": "v1", "time": "2026-01-01T00:00:00Z",
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}}]


async def test_managed_fields_a_client_sends_are_still_validated(client: LocalClient) -> None:
    # A create records its own entry whatever the client sent (what is stored is valid).
    obj = cm("sent")
    obj["metadata"]["managedFields"] = LONG_MANAGER
    made = await client.create(obj)
    assert [e["manager"] for e in made["metadata"]["managedFields"]] == ["test"]
    # An update keeps decodable entries the client sends: they are checked (422), the stored ones are not.
    made["metadata"]["managedFields"] = LONG_MANAGER
    with pytest.raises(core.StatusError) as e:
        await client.update(made)
    assert e.value.code == 422 and "managedFields[0].manager" in e.value.message


async def test_admission_reads_are_decoded_once_per_revision_and_follow_changes(client: LocalClient) -> None:
    """The view admission reads shares one decoded object per (key, revision): the same object
    while the stored one is unchanged, the new content as soon as it changes."""
    registry = client.registry
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "viewed"}})
    first = await registry.view_get("", "namespaces", None, "viewed")
    assert first is not None and first["metadata"]["name"] == "viewed"
    assert await registry.view_get("", "namespaces", None, "viewed") is first
    ns = await client.get("v1", "Namespace", None, "viewed")
    ns["metadata"]["labels"] = {"seen": "twice"}
    await client.update(ns)
    second = await registry.view_get("", "namespaces", None, "viewed")
    assert second is not first and second is not None and second["metadata"]["labels"]["seen"] == "twice"
    assert [o["metadata"]["name"] for o in await registry.view_list("", "namespaces")
            if o["metadata"]["name"] == "viewed"] == ["viewed"]
    await client.delete("v1", "Namespace", None, "viewed")
    # (A namespace goes away through its controller; the view follows what the store holds.)
    kv = await registry.store.get("/core/namespaces/viewed")
    got = await registry.view_get("", "namespaces", None, "viewed")
    assert (got is None) == (kv is None)
    if kv is not None:
        assert got is not None and got["metadata"]["resourceVersion"] == str(kv.mod_revision)


async def test_the_view_memo_stays_within_its_bound(client: LocalClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core, "VIEW_OBJECTS_MAX", 3)
    registry = client.registry
    for i in range(5):
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"bound-{i}"}})
        assert (await registry.view_get("", "namespaces", None, f"bound-{i}"))["metadata"]["name"] == f"bound-{i}"
        assert len(registry._view_objects) <= 3


@pytest.mark.parametrize(("ports", "code"), [(5, 400), ("80", 400), ([3], 400), (None, 422)])
async def test_a_service_update_with_ports_of_the_wrong_type_is_refused_not_a_500(
        client: LocalClient, ports: Any, code: int) -> None:
    """The strategy keeping a NodePort Service's allocated ports runs before validation: ports
    that are not a list of objects are left to validation's 400 (a TypeError, 500, before)."""
    from orlop.errors import StatusError
    from orlop.registry.core import WriteOptions
    svc = resource_of("v1", "Service")
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                            "spec": {"type": "NodePort", "ports": [{"port": 80}]}}
    await client.registry.create(svc, "default", body, WriteOptions())
    bad = {**body, "spec": {"type": "NodePort", "ports": ports}}
    with pytest.raises(StatusError) as e:
        await client.registry.update(svc, "default", "s", bad, WriteOptions())
    assert e.value.code == code


def _pvc() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c", "namespace": "default"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                     "storageClassName": "x"}}


def _pod() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def _snapshot() -> dict[str, Any]:
    return {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
            "metadata": {"name": "s", "namespace": "default"},
            "spec": {"source": {"persistentVolumeClaimName": "c"}}}


OWNER = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "6d9a1cbe-4b0e-4d5e-9d8e-1f2a3b4c5d6e"}


@pytest.mark.parametrize(("make", "status", "labels_kept", "owners_kept"), [
    # Kubernetes' PVC / PV / Node / Namespace / StatefulSet status strategies reset spec only.
    (_pvc, {"phase": "Lost"}, True, True),
    # The Pod's also keeps the stored ownerReferences (pkg/registry/core/pod/strategy.go).
    (_pod, {"phase": "Running"}, True, False),
    # A custom resource's /status write changes status only (apiextensions' status strategy).
    (_snapshot, {"readyToUse": False}, False, False),
], ids=["PersistentVolumeClaim", "Pod", "VolumeSnapshot"])
async def test_status_writes_keep_spec_and_what_each_kind_keeps_of_metadata(
        client: LocalClient, make: Any, status: dict[str, Any], labels_kept: bool, owners_kept: bool) -> None:
    created = await client.create(make())
    body = orjson.loads(orjson.dumps(created))
    body["metadata"].update(labels={"via": "status"}, annotations={"note": "status"}, ownerReferences=[OWNER],
                            generation=7)
    body["spec"]["extra-from-status"] = True
    body["status"] = status
    written = await client.update(body, subresource="status")
    stored = await client.get(created["apiVersion"], created["kind"], "default", created["metadata"]["name"])
    assert stored == written
    meta = stored["metadata"]
    assert stored["spec"] == created["spec"]
    assert {k: v for k, v in stored["status"].items() if k in status} == status
    assert meta["generation"] == created["metadata"]["generation"]
    assert (meta.get("labels"), meta.get("annotations")) == (
        ({"via": "status"}, {"note": "status"}) if labels_kept else (None, None))
    assert meta.get("ownerReferences") == ([OWNER] if owners_kept else None)


async def test_metadata_a_status_write_sends_is_validated(client: LocalClient) -> None:
    """Now that a built-in kind's /status write keeps the metadata it sends, that metadata meets the
    same validation as any write's: 422 with the field, and nothing stored."""
    created = await client.create(_pvc())
    body = orjson.loads(orjson.dumps(created))
    body["metadata"]["labels"] = {"bad label!": "x"}
    with pytest.raises(StatusError) as e:
        await client.update(body, subresource="status")
    assert (e.value.code, e.value.reason) == (422, "Invalid")
    assert [c.field for c in e.value.causes] == ["metadata.labels"]
    stored = await client.get("v1", "PersistentVolumeClaim", "default", "c")
    assert stored is not None and stored["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
