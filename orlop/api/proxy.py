"""pods/exec and pods/log: the API server relays them to the node agent that runs the pod.

Why this exists: clients talk only to the API server (one address, one token, one CA),
but a container's processes and log files live on a node.  As kube-apiserver does with
the kubelet, the API server finds the pod's node, checks what it can answer itself (no
node yet, unknown container, container still waiting) with Kubernetes' messages, and
then relays: exec as a WebSocket (the client's channel protocol, v5 or v4, passed through
frame by frame), logs as a streamed text body.  The node agent is reached at the Node's
InternalIP and ``status.daemonEndpoints.kubeletEndpoint.Port`` over TLS without
verifying its self-made certificate (kube-apiserver's default without
``--kubelet-certificate-authority``), authenticated with the cluster token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from aiohttp import web

from ..errors import StatusError, bad_request
from ..registry.core import Registry
from ..registry.resources import by_kind

log = logging.getLogger(__name__)

EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
CONNECT_TIMEOUT = 10.0


def _unavailable(message: str) -> StatusError:
    return StatusError(503, "ServiceUnavailable", message)


def pick_container(pod: dict[str, Any], asked: str) -> str:
    """The container a request means: the one named, else the only (or default) one."""
    name = pod["metadata"]["name"]
    spec = pod.get("spec") or {}
    names = [c["name"] for c in spec.get("containers") or []]
    every = names + [c["name"] for c in spec.get("initContainers") or []] + \
        [c["name"] for c in spec.get("ephemeralContainers") or []]
    if asked:
        if asked not in every:
            raise bad_request(f"container {asked} is not valid for pod {name}")
        return asked
    default = ((pod["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/default-container"))
    if default in names:
        return str(default)
    if len(names) == 1:
        return names[0]
    raise bad_request(f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]")


class NodeProxy:
    """Finds the agent of a pod's node and relays exec / log requests to it."""

    def __init__(self, registry: Registry, token: str):
        self.registry = registry
        self.token = token
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=False),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _locate(self, namespace: str, pod_name: str, container: str) -> tuple[dict[str, Any], str, str]:
        """(pod, container, agent base URL) or the Status error Kubernetes would give."""
        pods = by_kind("", "Pod")
        nodes = by_kind("", "Node")
        assert pods is not None and nodes is not None
        pod = await self.registry.get(pods, namespace, pod_name)
        container = pick_container(pod, container)
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            raise bad_request(f"pod {pod_name} does not have a host assigned")
        try:
            node = await self.registry.get(nodes, None, node_name)
        except StatusError as e:
            if e.code == 404:
                raise _unavailable(f'node "{node_name}" of pod {pod_name} is not registered') from None
            raise
        status = node.get("status") or {}
        addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
        host = addresses.get("InternalIP") or addresses.get("Hostname")
        port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
        if not host or not port:
            raise _unavailable(f'node "{node_name}" does not publish an agent address')
        if ":" in host:
            host = f"[{host}]"
        return pod, container, f"https://{host}:{port}"

    @staticmethod
    def _query(request: web.BaseRequest, container: str) -> list[tuple[str, str]]:
        q = [(k, v) for k, v in request.query.items() if k != "container"]
        return [*q, ("container", container)]

    async def exec(self, request: web.BaseRequest, namespace: str, pod_name: str) -> web.StreamResponse:
        pod, container, base = await self._locate(namespace, pod_name, request.query.get("container", ""))
        if request.headers.get("Upgrade", "").lower() != "websocket":
            raise bad_request("Upgrade request required: orlop serves exec over WebSocket "
                              "(v5.channel.k8s.io, v4.channel.k8s.io); SPDY/3.1 is not supported")
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        chosen = next((p for p in offered if p in EXEC_PROTOCOLS), None)
        if chosen is None:
            raise bad_request(f"none of the offered subprotocols {offered} is supported; "
                              f"orlop speaks {', '.join(EXEC_PROTOCOLS)}")
        url = f"{base}/exec/{quote(namespace)}/{quote(pod_name)}/{quote(container)}"
        try:
            upstream = await self.session().ws_connect(
                url, params=self._query(request, container), protocols=(chosen,), autoping=True,
                headers={"Authorization": f"Bearer {self.token}"}, max_msg_size=0)
        except aiohttp.WSServerHandshakeError as e:
            raise _unavailable(f"node agent refused exec for pod {pod_name}: {e.status} {e.message}") from None
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise _unavailable(f"error dialing the node agent of pod {pod_name} at {base}: {e}") from None
        downstream = web.WebSocketResponse(protocols=(chosen,), autoping=True, max_msg_size=0)
        try:
            await downstream.prepare(request)
            await _relay(downstream, upstream)
        finally:
            await upstream.close()
            if not downstream.closed:
                await downstream.close()
        return downstream

    async def log(self, request: web.BaseRequest, namespace: str, pod_name: str) -> web.StreamResponse:
        pod, container, base = await self._locate(namespace, pod_name, request.query.get("container", ""))
        for st in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (st.get("state") or {}).get("waiting")
            if st.get("name") == container and waiting is not None and not st.get("lastState", {}).get("terminated"):
                raise bad_request(f'container "{container}" in pod "{pod_name}" is waiting to start: '
                                  f'{waiting.get("reason") or "ContainerCreating"}')
        url = f"{base}/containerLogs/{quote(namespace)}/{quote(pod_name)}/{quote(container)}"
        try:
            upstream = await self.session().get(url, params=self._query(request, container),
                                                headers={"Authorization": f"Bearer {self.token}"})
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise _unavailable(f"error dialing the node agent of pod {pod_name} at {base}: {e}") from None
        async with upstream:
            if upstream.status != 200:
                raw = await upstream.read()
                try:
                    st = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    st = {}
                message = st.get("message") if isinstance(st, dict) else None
                code = upstream.status if upstream.status in (400, 404) else 503
                raise StatusError(code, {400: "BadRequest", 404: "NotFound"}.get(code, "ServiceUnavailable"),
                                  str(message or raw[:2000].decode(errors="replace").strip()
                                      or f"node agent answered {upstream.status}"))
            resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
            await resp.prepare(request)
            with contextlib.suppress(ConnectionResetError, aiohttp.ClientError):
                async for chunk in upstream.content.iter_any():
                    await resp.write(chunk)
            with contextlib.suppress(ConnectionResetError):
                await resp.write_eof()
            return resp


async def _relay(client: web.WebSocketResponse, agent: aiohttp.ClientWebSocketResponse) -> None:
    """Copy frames both ways until either side closes; the other side is then closed too."""

    async def pump(src: Any, dst: Any) -> None:
        async for msg in src:
            if msg.type == aiohttp.WSMsgType.BINARY:
                await dst.send_bytes(msg.data)
            elif msg.type == aiohttp.WSMsgType.TEXT:
                await dst.send_str(msg.data)
            else:
                break

    up = asyncio.create_task(pump(client, agent))
    down = asyncio.create_task(pump(agent, client))
    try:
        # The agent's side ending (command finished, status sent) ends the exec.
        done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        if up in done and not down.done():
            # Client went away (or closed stdin with a close frame): let the agent finish briefly.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(down), timeout=1.0)
    finally:
        for t in (up, down):
            t.cancel()
        await asyncio.gather(up, down, return_exceptions=True)
