"""Shared informers: selection of a subscriber's objects, late subscribers and late kinds."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from orlop.client import LocalClient
from orlop.controllers.base import Informer, Informers, selected
from orlop.registry.core import Registry
from orlop.store.sqlite import SQLiteStore


def pod(name: str, node: str = "", rv: str = "1") -> dict[str, Any]:
    spec = {"nodeName": node} if node else {}
    return {"metadata": {"name": name, "namespace": "default", "resourceVersion": rv}, "spec": spec}


def on_a(p: dict[str, Any]) -> bool:
    return p["spec"].get("nodeName") == "a"


# (event type, object, old) -> what a subscriber selecting pods of node "a" sees: (type, name, node of old) or None
SELECTION_CASES = [
    ("added on a", ("ADDED", pod("p", "a"), None), ("ADDED", "a", None)),
    ("added elsewhere", ("ADDED", pod("p", "b"), None), None),
    ("added unscheduled", ("ADDED", pod("p"), None), None),
    ("scheduled onto a", ("MODIFIED", pod("p", "a", "2"), pod("p")), ("ADDED", "a", None)),
    ("scheduled elsewhere", ("MODIFIED", pod("p", "b", "2"), pod("p")), None),
    ("modified on a", ("MODIFIED", pod("p", "a", "3"), pod("p", "a", "2")), ("MODIFIED", "a", "a")),
    ("left a", ("MODIFIED", pod("p", "b", "3"), pod("p", "a", "2")), ("DELETED", "a", "a")),
    ("deleted on a", ("DELETED", pod("p", "a", "4"), pod("p", "a", "3")), ("DELETED", "a", "a")),
    ("deleted elsewhere", ("DELETED", pod("p", "b", "4"), pod("p", "b", "3")), None),
    ("relist drops one of a", ("DELETED", pod("p", "a"), pod("p", "a")), ("DELETED", "a", "a")),
]


@pytest.mark.parametrize("event,want", [c[1:] for c in SELECTION_CASES], ids=[c[0] for c in SELECTION_CASES])
def test_selected_shows_what_a_selector_watch_shows(event, want):
    seen: list[tuple[str, str, str | None]] = []
    handler = selected(on_a, lambda t, o, old: seen.append(
        (t, o["spec"].get("nodeName"), None if old is None else old["spec"].get("nodeName"))))
    handler(*event)
    assert seen == ([] if want is None else [want])


def test_late_handler_is_replayed_the_cache():
    inf = Informer(None, "v1", "Pod")  # type: ignore[arg-type]
    inf.cache = {("default", "x"): pod("x", "a"), ("default", "y"): pod("y", "b")}
    seen: list[tuple[str, str]] = []
    inf.on_change(lambda t, o, old: seen.append((t, o["metadata"]["name"])), replay=True)
    assert sorted(seen) == [("ADDED", "x"), ("ADDED", "y")]
    seen.clear()
    inf.on_change(lambda t, o, old: seen.append((t, o["metadata"]["name"])))
    assert seen == []


def test_remove_handler():
    inf = Informer(None, "v1", "Pod")  # type: ignore[arg-type]
    seen: list[str] = []

    def h(t: str, o: dict[str, Any], old: dict[str, Any] | None) -> None:
        seen.append(t)
    inf.on_change(h)
    inf.remove_handler(h)
    inf.remove_handler(h)            # twice: no error
    inf._emit("ADDED", pod("x"), None)
    assert seen == []


async def test_kind_asked_for_after_run_started_is_run(tmp_path):
    store = SQLiteStore(os.path.join(str(tmp_path), "store.db"))
    client = LocalClient(Registry(store), "test")
    informers = Informers(client)
    informers.get("v1", "Namespace")
    task = asyncio.create_task(informers.run())
    try:
        await asyncio.wait_for(informers.get("v1", "Namespace").synced.wait(), 5)
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
        late = informers.get("v1", "ConfigMap")
        await asyncio.wait_for(late.synced.wait(), 5)
        await client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}})
        for _ in range(100):
            if ("default", "c") in late.cache:
                break
            await asyncio.sleep(0.02)
        assert ("default", "c") in late.cache
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.close()


async def test_cached_objects_carry_no_managed_fields_and_writes_of_them_keep_the_stored_ones(tmp_path):
    """As kube-controller-manager's informers (kubernetes#118455): the cache drops managedFields,
    and a controller writing a cached object back keeps the stored managers (empty means live)."""
    store = SQLiteStore(os.path.join(str(tmp_path), "store.db"))
    client = LocalClient(Registry(store), "test")
    other = LocalClient(Registry(store), "someone-else")
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    listed = await other.create({"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "listed", "namespace": "default"}, "data": {"a": "1"}})
    assert listed["metadata"]["managedFields"]
    informers = Informers(client)
    inf = informers.get("v1", "ConfigMap")
    task = asyncio.create_task(informers.run())
    try:
        await asyncio.wait_for(inf.synced.wait(), 5)
        await other.create({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "watched", "namespace": "default"}, "data": {"a": "1"}})
        for _ in range(100):
            if ("default", "watched") in inf.cache:
                break
            await asyncio.sleep(0.02)
        for name in ("listed", "watched"):
            cached = inf.cache[("default", name)]
            assert "managedFields" not in cached["metadata"] and cached["data"] == {"a": "1"}
            stored = await client.get("v1", "ConfigMap", "default", name)
            assert stored is not None and stored["metadata"]["managedFields"]
            # A change written from the cached object: the stored managers stay, the writer's is added.
            from_cache = dict(cached, data={"a": "1", "b": "2"})
            wrote = await client.update(from_cache)
            back = await client.get("v1", "ConfigMap", "default", name)
            assert back is not None and back["metadata"]["managedFields"] == wrote["metadata"]["managedFields"]
            managers = {e["manager"]: e["fieldsV1"] for e in back["metadata"]["managedFields"]}
            assert managers == {"someone-else": {"f:data": {".": {}, "f:a": {}}},
                                "test": {"f:data": {"f:b": {}}}}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.close()
