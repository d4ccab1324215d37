"""RemoteClient: the controllers' client, over HTTPS, for parts that run on other machines.

Why this exists: ``orlop agent`` runs on each node, away from the API server.  It must
see the API exactly as kubectl does (it *is* a client), with the same methods the
in-process :class:`orlop.client.LocalClient` offers, so the node agent (and any
controller) runs unchanged in either place.  Credentials come from a kubeconfig
(server URL, CA data or file, bearer token), as every Kubernetes client reads them.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
import yaml

from .client import EventRecorder, binding
from .client import resource_of as _res
from .errors import StatusError
from .registry.core import WatchEvent
from .registry.resources import Resource


def load_kubeconfig(path: str) -> tuple[str, ssl.SSLContext, str]:
    """(server URL, TLS context trusting the cluster CA, bearer token) of the current context."""
    with open(path) as f:
        cfg = yaml.safe_load(f) or {}
    ctx_name = cfg.get("current-context")
    ctx = next((c["context"] for c in cfg.get("contexts") or [] if c.get("name") == ctx_name), None)
    if ctx is None:
        raise ValueError(f"{path}: no current context")
    cluster = next(c["cluster"] for c in cfg.get("clusters") or [] if c.get("name") == ctx.get("cluster"))
    user = next((u["user"] for u in cfg.get("users") or [] if u.get("name") == ctx.get("user")), {})
    tls = ssl.create_default_context()
    if cluster.get("certificate-authority-data"):
        tls.load_verify_locations(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    elif cluster.get("certificate-authority"):
        tls.load_verify_locations(cafile=cluster["certificate-authority"])
    token = user.get("token") or ""
    if not token and user.get("tokenFile"):
        with open(user["tokenFile"]) as f:
            token = f.read().strip()
    return str(cluster["server"]).rstrip("/"), tls, token


def _raise_status(code: int, body: bytes) -> None:
    try:
        st = orjson.loads(body)
    except orjson.JSONDecodeError:
        st = {}
    if not isinstance(st, dict):
        st = {}
    raise StatusError(code, str(st.get("reason") or "Unknown"), str(st.get("message") or body[:500].decode(errors="replace")))


class RemoteClient(EventRecorder):
    """The LocalClient methods, as HTTPS requests to an orlop (or Kubernetes) API server."""

    def __init__(self, kubeconfig: str, manager: str):
        super().__init__()
        self.manager = manager
        self.server, self._tls, self._token = load_kubeconfig(kubeconfig)
        self._session: aiohttp.ClientSession | None = None

    @property
    def token(self) -> str:
        return self._token

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._tls, limit=64),
                headers={"Authorization": f"Bearer {self._token}", "User-Agent": f"{self.manager}/orlop",
                         "Accept": "application/json"},
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=None),
                json_serialize=lambda o: orjson.dumps(o).decode())
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _path(self, res: Resource, namespace: str | None, name: str = "", sub: str = "") -> str:
        base = f"/apis/{res.group}/{res.version}" if res.group else f"/api/{res.version}"
        if res.namespaced and namespace:
            base += f"/namespaces/{quote(namespace)}"
        base += f"/{res.plural}"
        if name:
            base += f"/{quote(name)}"
        if sub:
            base += f"/{sub}"
        return self.server + base

    async def _call(self, method: str, url: str, body: Any = None, params: dict[str, str] | None = None,
                    content_type: str = "application/json") -> dict[str, Any]:
        data = orjson.dumps(body) if body is not None else None
        headers = {"Content-Type": content_type} if data is not None else {}
        q = {"fieldManager": self.manager} if method in ("POST", "PUT", "PATCH") else {}
        q.update(params or {})
        async with self._http().request(method, url, data=data, params=q, headers=headers,
                                        timeout=aiohttp.ClientTimeout(total=60)) as r:
            raw = await r.read()
            if r.status >= 300:
                _raise_status(r.status, raw)
            out = orjson.loads(raw) if raw else {}
            return out if isinstance(out, dict) else {}

    # ------------------------------------------------------------------ reads
    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            return await self._call("GET", self._path(_res(api_version, kind), namespace, name))
        except StatusError as e:
            if e.code == 404:
                return None
            raise

    async def list(self, api_version: str, kind: str, namespace: str | None = None, label_selector: str = "",
                   field_selector: str = "") -> tuple[list[dict[str, Any]], str]:
        res = _res(api_version, kind)
        params = {k: v for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v}
        out = await self._call("GET", self._path(res, namespace), params=params)
        items = out.get("items") or []
        for it in items:   # list items carry no apiVersion/kind on the wire
            it.setdefault("apiVersion", res.group_version)
            it.setdefault("kind", res.kind)
        return items, str((out.get("metadata") or {}).get("resourceVersion", ""))

    async def watch(self, api_version: str, kind: str, namespace: str | None = None,
                    resource_version: str = "", label_selector: str = "",
                    field_selector: str = "") -> AsyncIterator[WatchEvent]:
        res = _res(api_version, kind)
        params = {"watch": "true", "allowWatchBookmarks": "true"}
        for k, v in (("resourceVersion", resource_version), ("labelSelector", label_selector),
                     ("fieldSelector", field_selector)):
            if v:
                params[k] = v
        async with self._http().get(self._path(res, namespace), params=params) as r:
            if r.status >= 300:
                _raise_status(r.status, await r.read())
            async for line in r.content:
                if not line.strip():
                    continue
                ev = orjson.loads(line)
                if ev.get("type") == "ERROR":
                    st = ev.get("object") or {}
                    raise StatusError(int(st.get("code") or 500), str(st.get("reason") or ""),
                                      str(st.get("message") or ""))
                yield WatchEvent(ev["type"], ev["object"])

    # ----------------------------------------------------------------- writes
    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        res = _res(obj["apiVersion"], obj["kind"])
        return await self._call("POST", self._path(res, obj["metadata"].get("namespace")), obj)

    async def update(self, obj: dict[str, Any], subresource: str = "") -> dict[str, Any]:
        res = _res(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        return await self._call("PUT", self._path(res, meta.get("namespace"), meta["name"], subresource), obj)

    async def merge_patch(self, api_version: str, kind: str, namespace: str | None, name: str,
                          patch: dict[str, Any], subresource: str = "") -> dict[str, Any]:
        return await self._call("PATCH", self._path(_res(api_version, kind), namespace, name, subresource), patch,
                                content_type="application/merge-patch+json")

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str,
                     propagation_policy: str = "Background", uid: str | None = None,
                     grace_period_seconds: int | None = None) -> bool:
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation_policy}
        if uid:
            body["preconditions"] = {"uid": uid}
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        try:
            await self._call("DELETE", self._path(_res(api_version, kind), namespace, name), body)
            return True
        except StatusError as e:
            if e.code == 404:
                return False
            raise

    async def bind_pod(self, namespace: str, name: str, node_name: str, uid: str | None = None) -> None:
        await self._call("POST", self._path(_res("v1", "Pod"), namespace, name, "binding"),
                         binding(namespace, name, node_name, uid))
