"""RemoteClient (what ``orlop agent`` uses) against a real ``orlop up`` over HTTPS."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from orlop.errors import StatusError
from orlop.remote import RemoteClient


def _pod(name: str, ns: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": {"schedulerName": "nobody", "containers": [{"name": "c", "image": "busybox"}]}}


async def test_remote_client_round_trip(orlop: Any) -> None:
    ns = f"rc-{uuid.uuid4().hex[:8]}"
    c = RemoteClient(orlop.kubeconfig, "remote-test")
    try:
        await c.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        created = await c.create(_pod("p", ns))
        assert created["metadata"]["uid"]
        assert (await c.get("v1", "Pod", ns, "p"))["metadata"]["uid"] == created["metadata"]["uid"]  # type: ignore[index]
        assert await c.get("v1", "Pod", ns, "nope") is None
        items, rv = await c.list("v1", "Pod", ns, field_selector="metadata.name=p")
        assert [i["metadata"]["name"] for i in items] == ["p"] and items[0]["kind"] == "Pod" and rv

        seen: list[tuple[str, str]] = []

        async def watch() -> None:
            async for ev in c.watch("v1", "Pod", ns, resource_version=rv, field_selector="metadata.name=p"):
                seen.append((ev.type, ev.object["spec"].get("nodeName", "")))
                if ev.type == "DELETED":
                    return

        task = asyncio.create_task(watch())
        await asyncio.sleep(0.2)
        await c.bind_pod(ns, "p", "node-x", uid=created["metadata"]["uid"])
        with pytest.raises(StatusError) as e:
            await c.bind_pod(ns, "p", "node-y")
        assert e.value.code == 409 and 'already assigned to node "node-x"' in e.value.message
        patched = await c.merge_patch("v1", "Pod", ns, "p", {"metadata": {"labels": {"a": "b"}}})
        assert patched["metadata"]["labels"] == {"a": "b"}
        await c.event(patched, "Normal", "Tested", "remote event", "remote-test")
        await c.event(patched, "Normal", "Tested", "remote event", "remote-test")
        events, _ = await c.list("v1", "Event", ns)
        assert [(ev["reason"], ev["count"]) for ev in events] == [("Tested", 2)]
        # Graceful: a pod on a node stays until deleted with grace 0.
        assert await c.delete("v1", "Pod", ns, "p")
        assert (await c.get("v1", "Pod", ns, "p"))["metadata"]["deletionGracePeriodSeconds"] == 30  # type: ignore[index]
        assert await c.delete("v1", "Pod", ns, "p", uid=created["metadata"]["uid"], grace_period_seconds=0)
        await asyncio.wait_for(task, 10)
        assert seen[0] == ("MODIFIED", "node-x") and seen[-1][0] == "DELETED"
        assert not await c.delete("v1", "Pod", ns, "p")
        await c.delete("v1", "Namespace", None, ns)
    finally:
        await c.close()
