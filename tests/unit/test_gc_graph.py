"""The garbage collector's graph: which changes it must look at, and which it may pass over.

Most writes (status, spec, annotations of objects nobody owns) leave the owner graph as it
is; the collector passes over them without rebuilding the node.  Every change that could
matter -- owners, deletion, finalizers, an object it has not seen -- is still handled.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import pytest

from orlop.client import LocalClient
from orlop.controllers.base import Informers
from orlop.controllers.gc import GarbageCollector, Node, _node, _unchanged_bystander
from orlop.registry.core import Registry
from orlop.store.sqlite import SQLiteStore

OWNER = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "owner-uid", "controller": True}


def cm(**meta: Any) -> dict[str, Any]:
    m = {"name": "c", "namespace": "default", "uid": "cm-uid", **meta}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": m, "data": {"k": "1"}}


def known(obj: dict[str, Any]) -> dict[str, Node]:
    return {obj["metadata"]["uid"]: _node(obj)}


# (case, old metadata extras, new metadata extras, uid known to the graph) -> may be passed over
BYSTANDER_CASES = [
    ("data or status change of a known object", {}, {}, True, True),
    ("same finalizers", {"finalizers": ["x"]}, {"finalizers": ["x"]}, True, True),
    ("unknown uid", {}, {}, False, False),
    ("owner added", {}, {"ownerReferences": [OWNER]}, True, False),
    ("owner removed", {"ownerReferences": [OWNER]}, {}, True, False),
    ("owned, nothing else changed", {"ownerReferences": [OWNER]}, {"ownerReferences": [OWNER]}, True, False),
    ("deletion started", {}, {"deletionTimestamp": "2026-11-22T00:00:00Z"}, True, False),
    ("being deleted", {"deletionTimestamp": "2026-11-22T00:00:00Z"},
     {"deletionTimestamp": "2026-11-22T00:00:00Z"}, True, False),
    ("finalizer added", {}, {"finalizers": ["orphan"]}, True, False),
    ("finalizer removed", {"finalizers": ["foregroundDeletion"]}, {}, True, False),
    ("uid changed", {}, {"uid": "other-uid"}, True, False),
]


@pytest.mark.parametrize(("old_meta", "new_meta", "is_known", "passed_over"),
                         [c[1:] for c in BYSTANDER_CASES], ids=[c[0] for c in BYSTANDER_CASES])
def test_which_changes_may_be_passed_over(old_meta: dict[str, Any], new_meta: dict[str, Any], is_known: bool,
                                          passed_over: bool) -> None:
    old, new = cm(**old_meta), cm(**new_meta)
    new["data"] = {"k": "2"}
    nodes = known(old) if is_known else {}
    assert _unchanged_bystander(new["metadata"], old["metadata"], nodes) is passed_over


@pytest.fixture
async def gc(tmp_path: Any) -> Any:
    store = SQLiteStore(os.path.join(str(tmp_path), "store.db"))
    yield GarbageCollector(LocalClient(Registry(store), "gc"), Informers(LocalClient(Registry(store), "test")))
    await store.close()


async def test_passing_over_leaves_the_graph_as_handling_would(gc: GarbageCollector) -> None:
    """Handled in full or passed over, a run of changes leaves the same nodes, dependents and queue."""
    plain = cm()
    changed = copy.deepcopy(plain)
    changed["data"] = {"k": "2"}
    owned = copy.deepcopy(changed)
    owned["metadata"]["ownerReferences"] = [OWNER]
    gc._on_change("ADDED", plain, None)
    gc._on_change("MODIFIED", changed, plain)            # passed over
    assert gc.nodes["cm-uid"] == _node(changed) and gc.queue._pending == set()
    gc._on_change("MODIFIED", owned, changed)            # handled: it has an owner now
    assert gc.dependents == {"owner-uid": {"cm-uid"}} and gc.queue._pending == {"cm-uid"}
    assert gc.nodes["cm-uid"].owners == [OWNER]
