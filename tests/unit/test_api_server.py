"""Pieces of the HTTP layer: the field manager named after the User-Agent; a store that cannot commit."""

from __future__ import annotations

import os
import subprocess
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import BaseTestServer, TestClient

from orlop.api.server import ApiServer
from orlop.registry.core import Registry
from orlop.store.sqlite import SQLiteStore
from orlop.up import bootstrap


class ApiTestServer(BaseTestServer):
    """The API server as ``orlop up`` runs it (its own aiohttp server), on a free port."""

    def __init__(self, api: ApiServer) -> None:
        self.api = api
        super().__init__()

    async def _make_runner(self, **kwargs: Any) -> web.ServerRunner:
        return web.ServerRunner(self.api.make_server())


async def serve(db: str) -> tuple[TestClient, SQLiteStore]:
    """An API server on a store at ``db`` (token "t"), started; close the client, then the store."""
    store = SQLiteStore(db)
    registry = Registry(store)
    await bootstrap(registry, default_class=False)
    client = TestClient(ApiTestServer(ApiServer(registry, "t")))
    await client.start_server()
    return client, store


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
        client, store = await serve(str(mnt / "store.db"))
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


async def test_bodies_up_to_3_mib_are_taken_and_a_client_that_expects_100_continue_gets_it(tmp_path) -> None:
    """The API runs on aiohttp's low-level server: its request limit is Kubernetes' 3 MiB
    (aiohttp's own default is 1 MiB), a larger body is a 413 Status, and a client that sends
    ``Expect: 100-continue`` is told to go on before it sends its body (as curl does)."""
    import asyncio

    import orjson
    client, store = await serve(str(tmp_path / "store.db"))
    try:
        headers = {"Authorization": "Bearer t"}
        path = "/api/v1/namespaces/default/configmaps"
        big = {"metadata": {"name": "two-mib"}, "data": {"blob": "x" * (2 * 1024 * 1024)}}
        r = await client.post(path, json=big, headers=headers)
        body = await r.json()       # read whole and judged by validation (as Kubernetes: 422, not 413)
        assert (r.status, body["reason"]) == (422, "Invalid"), body
        assert body["details"]["causes"][0]["message"] == "Too long: may not be more than 1048576 bytes"
        huge = {"metadata": {"name": "four-mib"}, "data": {"blob": "x" * (4 * 1024 * 1024)}}
        r = await client.post(path, json=huge, headers={**headers, "Connection": "close"})
        body = await r.json()
        assert (r.status, body["kind"], body["reason"]) == (413, "Status", "RequestEntityTooLarge")

        data = orjson.dumps({"metadata": {"name": "patient"}, "data": {"k": "v"}})
        reader, writer = await asyncio.open_connection(client.host, client.port)
        writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                     "Expect: 100-continue\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        writer.write(data)
        await writer.drain()
        final = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert final.startswith(b"HTTP/1.1 201 Created"), final[:200]
        assert b'"name":"patient"' in final
    finally:
        await client.close()
        await store.close()


async def test_integer_query_parameters_beyond_int64_are_400_not_500(tmp_path) -> None:
    """Kubernetes reads limit, timeoutSeconds and gracePeriodSeconds as int64: a value beyond it is a
    400 Status (a fuzz run found `limit=9223372036854775808` answered 500: SQLite's LIMIT overflowed)."""
    client, store = await serve(str(tmp_path / "store.db"))
    try:
        headers = {"Authorization": "Bearer t"}
        for value in ("9223372036854775808", "-9223372036854775809"):
            r = await client.get("/api/v1/namespaces/default/pods", params={"limit": value}, headers=headers)
            body = await r.json()
            assert (r.status, body["kind"], body["reason"]) == (400, "Status", "BadRequest"), body
            assert body["message"] == f"invalid limit: {value!r}: value out of range"
        r = await client.get("/api/v1/namespaces/default/pods", params={"limit": str((1 << 63) - 1)}, headers=headers)
        assert r.status == 200 and (await r.json())["items"] == []
    finally:
        await client.close()
        await store.close()


@pytest.mark.parametrize(("options", "message"), [
    ({"gracePeriodSeconds": 0.0}, "gracePeriodSeconds must be an int64: 0.0"),
    ({"gracePeriodSeconds": True}, "gracePeriodSeconds must be an int64: True"),
    ({"gracePeriodSeconds": 1 << 63}, f"gracePeriodSeconds must be an int64: {1 << 63}"),
    ({"preconditions": {"uid": 5}}, "preconditions.uid must be a string"),
    ({"preconditions": {"resourceVersion": ["1"]}}, "preconditions.resourceVersion must be a string"),
    ({"orphanDependents": "yes"}, "orphanDependents must be a boolean"),
])
async def test_delete_options_of_the_wrong_json_type_are_400(tmp_path, options, message) -> None:
    """Kubernetes decodes DeleteOptions into typed fields: another JSON type is a 400 (a fuzz run found
    `gracePeriodSeconds: 0.0` answered 500 once the registry was compiled and checked its types)."""
    client, store = await serve(str(tmp_path / "store.db"))
    try:
        headers = {"Authorization": "Bearer t"}
        path = "/api/v1/namespaces/default/configmaps/c"
        r = await client.post("/api/v1/namespaces/default/configmaps", json={"metadata": {"name": "c"}},
                              headers=headers)
        assert r.status == 201
        r = await client.delete(path, json=options, headers=headers)
        body = await r.json()
        assert (r.status, body["reason"], body["message"]) == (400, "BadRequest", message)
        r = await client.get(path, headers=headers)
        assert r.status == 200                                  # nothing was deleted
        r = await client.delete(path, json={"gracePeriodSeconds": 0, "preconditions": {"uid": None}},
                                headers=headers)
        assert r.status == 200
    finally:
        await client.close()
        await store.close()
