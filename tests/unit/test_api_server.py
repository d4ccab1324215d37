"""Pieces of the HTTP layer: the field manager named after the User-Agent; a store that cannot commit."""

from __future__ import annotations

import os
import subprocess
from types import SimpleNamespace

import pytest
from aiohttp.test_utils import TestClient, TestServer

from orlop.api.server import ApiServer
from orlop.registry.core import Registry
from orlop.store.sqlite import SQLiteStore
from orlop.up import bootstrap


@pytest.mark.parametrize(("ua", "manager"), [
    ("kubectl/v1.32.0 (linux/amd64) kubernetes/70d3cc9", "kubectl"),
    ("OpenAPI-Generator/29.0.0/python", "OpenAPI-Generator"),
    ("", "unknown"),
    ("a\x00b\tc/1.0", "abc"),                    # non-printable characters are dropped
    ("x" * 200 + "/1", "x" * 128),               # at most 128 bytes (the limit of a manager name)
    ("é" * 100, "é" * 64),                       # bytes, not characters: é is two
])
def test_manager_from_user_agent_is_kubernetes_prefix_from_user_agent(ua: str, manager: str) -> None:
    request = SimpleNamespace(headers={"User-Agent": ua} if ua else {})
    assert ApiServer._manager_default(request) == manager  # type: ignore[arg-type]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs (root only)")
async def test_a_write_the_store_cannot_commit_is_a_500_status_that_says_why(tmp_path) -> None:
    """A full disk (a real 1 MiB tmpfs under the store): the create is answered with a Kubernetes
    Status, 500 InternalError naming the cause, never a traceback; what was acknowledged stays."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=True)
    try:
        store = SQLiteStore(str(mnt / "store.db"))
        registry = Registry(store)
        await bootstrap(registry, default_class=False)
        client = TestClient(TestServer(ApiServer(registry, "t").app))
        await client.start_server()
        try:
            headers = {"Authorization": "Bearer t"}
            created, answer = 0, None
            for i in range(200):
                cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}"},
                      "data": {"blob": os.urandom(12 * 1024).hex()}}
                r = await client.post("/api/v1/namespaces/default/configmaps", json=cm, headers=headers)
                if r.status != 201:
                    answer = (r.status, await r.json())
                    break
                created += 1
            assert created and answer is not None, "the tmpfs never filled up"
            status, body = answer
            assert status == 500 and body["kind"] == "Status" and body["reason"] == "InternalError"
            assert body["message"] == ("Internal error occurred: the store could not commit the write: "
                                       "database or disk is full")
            r = await client.get("/api/v1/namespaces/default/configmaps", headers=headers)
            assert len((await r.json())["items"]) == created
        finally:
            await client.close()
            await store.close()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
