"""The node agent's HTTPS server: exec and logs, as a kubelet serves them.

Why this exists: ``kubectl exec`` and ``kubectl logs`` go to the API server, which
proxies them to the node that runs the pod (``status.addresses[InternalIP]`` and
``daemonEndpoints.kubeletEndpoint.Port`` of its Node).  This server answers those
proxied requests:

- ``GET /exec/{namespace}/{pod}/{container}?command=..&stdin=&stdout=&stderr=&tty=``
  upgrades to a WebSocket speaking ``v5.channel.k8s.io`` or ``v4.channel.k8s.io`` (the
  first one the client offers): binary frames whose first byte is the channel (0 stdin,
  1 stdout, 2 stderr, 3 the final metav1.Status, 4 terminal resize, 255 close in v5).
- ``GET /containerLogs/{namespace}/{pod}/{container}?follow=&tailLines=&timestamps=&previous=
  &sinceSeconds=&sinceTime=&limitBytes=`` streams ``text/plain``.

Every request but ``/healthz`` needs ``Authorization: Bearer <token>``.  The serving
certificate is self-signed and kept under the agent's root directory (the API server
does not verify it, as kube-apiserver without --kubelet-certificate-authority).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hmac
import ipaddress
import json
import logging
import os
import ssl
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .runtime import ContainerNotFound, LogOptions, NotSupported, Runtime, RuntimeFailure

log = logging.getLogger(__name__)

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
DRAIN_AFTER_EXIT = 1.0     # seconds to collect output of a command that has exited
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}

PodFinder = Callable[[str, str], "dict[str, Any] | None"]


# ------------------------------------------------------------------ certificate
def ensure_serving_cert(cert_dir: str, names: list[str]) -> tuple[str, str]:
    """A self-signed serving certificate for ``names`` (host names or IPs), made once and reused."""
    os.makedirs(cert_dir, mode=0o700, exist_ok=True)
    crt, key_path = os.path.join(cert_dir, "kubelet.crt"), os.path.join(cert_dir, "kubelet.key")
    wanted = sorted(set(names) | {"localhost", "127.0.0.1"})
    if os.path.exists(crt) and os.path.exists(key_path):
        with open(crt, "rb") as f:
            cur = x509.load_pem_x509_certificate(f.read())
        try:
            san = cur.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            have = {str(v) for v in san.get_values_for_type(x509.DNSName)} | {
                str(v) for v in san.get_values_for_type(x509.IPAddress)}
        except x509.ExtensionNotFound:
            have = set()
        if set(wanted) <= have and cur.not_valid_after_utc > datetime.datetime.now(datetime.UTC) + \
                datetime.timedelta(days=30):
            return crt, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    sans: list[x509.GeneralName] = []
    for n in wanted:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{names[0] if names else 'orlop'}@orlop-node")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(crt, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return crt, key_path


# ------------------------------------------------------------------ statuses
def status_json(status: str, message: str = "", reason: str = "", code: int = 0,
                details: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"metadata": {}, "status": status}
    if message:
        out["message"] = message
    if reason:
        out["reason"] = reason
    if details:
        out["details"] = details
    if code:
        out["code"] = code
    return out


def exit_status(command: list[str], code: int) -> dict[str, Any]:
    """The channel-3 Status the kubelet (via containerd) writes when a command exits."""
    if code == 0:
        return status_json("Success")
    return status_json("Failure", f"command terminated with non-zero exit code: error executing command "
                                  f"[{' '.join(command)}], exit code {code}", "NonZeroExitCode",
                       details={"causes": [{"reason": "ExitCode", "message": str(code)}]})


def _error_response(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", **status_json("Failure", message, reason, code)}
    return web.json_response(body, status=code)


def _flag(q: Any, name: str) -> bool:
    return q.get(name, "") in _TRUE


def _int_param(q: Any, name: str) -> int | None:
    raw = q.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"invalid {name}: {raw!r}") from None


class AgentServer:
    def __init__(self, token: str, find_pod: PodFinder, runtime: Runtime, cert_dir: str, address: str, port: int,
                 names: list[str]):
        self.token, self.find_pod, self.runtime = token, find_pod, runtime
        self.cert_dir, self.address, self.port, self.names = cert_dir, address, port, names
        self.app = web.Application(middlewares=[self._auth])
        for method in ("GET", "POST"):
            self.app.router.add_route(method, "/exec/{namespace}/{pod}/{container}", self.exec)
            self.app.router.add_route(method, "/exec/{namespace}/{pod}/{uid}/{container}", self.exec)
        self.app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self.logs)
        self.app.router.add_get("/healthz", self.healthz)
        self._runner: web.AppRunner | None = None
        self._sessions: set[asyncio.Task[Any]] = set()

    async def start(self) -> int:
        crt, key = ensure_serving_cert(self.cert_dir, self.names)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(crt, key)
        ctx.set_alpn_protocols(["http/1.1"])
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False, handler_cancellation=True,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.address, self.port, ssl_context=ctx, reuse_address=True)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/healthz":
            return await handler(request)
        got = request.headers.get("Authorization", "")
        if not (got.startswith("Bearer ") and hmac.compare_digest(got[7:].strip().encode(), self.token.encode())):
            return _error_response(401, "Unauthorized", "Unauthorized")
        return await handler(request)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    # ----------------------------------------------------------------- exec
    async def exec(self, request: web.Request) -> web.StreamResponse:
        ns, pod_name, container = (request.match_info[k] for k in ("namespace", "pod", "container"))
        q = request.query
        command = q.getall("command", [])
        tty = _flag(q, "tty")
        stdin, stdout, stderr = _flag(q, "stdin"), _flag(q, "stdout"), _flag(q, "stderr") and not tty
        if not (stdin or stdout or stderr):
            return _error_response(400, "BadRequest", "you must specify at least 1 of stdin, stdout, stderr")
        ws = web.WebSocketResponse(protocols=PROTOCOLS, autoping=True, max_msg_size=0)
        ready = ws.can_prepare(request)
        if not ready.ok:
            return _error_response(400, "BadRequest", "exec requires a WebSocket upgrade "
                                                       "(Sec-WebSocket-Protocol: v5.channel.k8s.io)")
        if ready.protocol is None:
            offered = request.headers.get("Sec-WebSocket-Protocol", "")
            return _error_response(400, "BadRequest", f"unable to upgrade connection: none of the requested "
                                                       f"subprotocols [{offered}] is supported: "
                                                       f"{' '.join(PROTOCOLS)}")
        await ws.prepare(request)
        v5 = ws.ws_protocol == PROTOCOLS[0]
        try:
            await self._exec_session(ws, ns, pod_name, container, command, stdin, stdout, stderr, tty, v5)
        finally:
            await ws.close()
        return ws

    async def _send_status(self, ws: web.WebSocketResponse, status: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_bytes(bytes([ERROR]) + json.dumps(status).encode())

    async def _exec_session(self, ws: web.WebSocketResponse, ns: str, pod_name: str, container: str,
                            command: list[str], stdin: bool, stdout: bool, stderr: bool, tty: bool, v5: bool) -> None:
        pod = self.find_pod(ns, pod_name)
        if pod is None:
            await self._send_status(ws, status_json("Failure", f'pods "{pod_name}" not found', "NotFound", 404))
            return
        if not command:
            await self._send_status(ws, status_json("Failure", "you must specify at least one command for the "
                                                               "container", "BadRequest", 400))
            return
        try:
            session = await self.runtime.exec(pod["metadata"]["uid"], container, command, stdin=stdin,
                                              stdout=stdout, stderr=stderr, tty=tty)
        except ContainerNotFound as e:
            await self._send_status(ws, status_json("Failure", str(e), "NotFound", 404))
            return
        except (NotSupported, RuntimeFailure, OSError) as e:
            msg = f"error executing command in container: {e}"
            await self._send_status(ws, status_json("Failure", f"Internal error occurred: {msg}", "InternalError",
                                                    500, {"causes": [{"message": msg}]}))
            return

        async def pump(stream: asyncio.StreamReader, channel: int) -> None:
            while True:
                try:
                    data = await stream.read(32 * 1024)
                except OSError:
                    data = b""
                if not data:
                    return
                await ws.send_bytes(bytes([channel]) + data)

        async def from_client() -> None:
            async for msg in ws:
                if msg.type != WSMsgType.BINARY or not msg.data:
                    continue
                channel, payload = msg.data[0], msg.data[1:]
                if channel == STDIN and session.stdin is not None and payload:
                    with contextlib.suppress(ConnectionError, BrokenPipeError, RuntimeError):
                        session.stdin.write(payload)
                        await session.stdin.drain()
                elif channel == RESIZE:
                    with contextlib.suppress(ValueError, TypeError, KeyError):
                        size = json.loads(payload)
                        session.resize(int(size.get("Width") or 0), int(size.get("Height") or 0))
                elif channel == CLOSE and v5 and payload[:1] == bytes([STDIN]):
                    with contextlib.suppress(ConnectionError, BrokenPipeError, RuntimeError):
                        await session.close_stdin()

        pumps = [asyncio.create_task(pump(s, ch)) for s, ch in ((session.stdout, STDOUT), (session.stderr, STDERR))
                 if s is not None]
        client = asyncio.create_task(from_client())
        waiter = asyncio.create_task(session.wait())
        try:
            await asyncio.wait({waiter, client}, return_when=asyncio.FIRST_COMPLETED)
            if not waiter.done():            # the client went away: so does the command
                session.kill()
                await waiter
                return
            code = waiter.result()
            if pumps:
                _, pending = await asyncio.wait(pumps, timeout=DRAIN_AFTER_EXIT)
                for t in pending:
                    t.cancel()
            await self._send_status(ws, exit_status(command, code))
        finally:
            for t in (*pumps, client, waiter):
                t.cancel()
            await asyncio.gather(*pumps, client, waiter, return_exceptions=True)

    # ----------------------------------------------------------------- logs
    async def logs(self, request: web.Request) -> web.StreamResponse:
        ns, pod_name, container = (request.match_info[k] for k in ("namespace", "pod", "container"))
        q = request.query
        pod = self.find_pod(ns, pod_name)
        if pod is None:
            return _error_response(404, "NotFound", f'pods "{pod_name}" not found')
        names = [c["name"] for key in ("containers", "initContainers") for c in (pod.get("spec") or {}).get(key) or []]
        if container not in names:
            return _error_response(400, "BadRequest", f"container {container} is not valid for pod {pod_name}")
        try:
            tail, since, limit = (_int_param(q, n) for n in ("tailLines", "sinceSeconds", "limitBytes"))
        except web.HTTPBadRequest as e:
            return _error_response(400, "BadRequest", e.text or "bad request")
        if q.get("sinceTime"):
            try:
                t = datetime.datetime.fromisoformat(q["sinceTime"].replace("Z", "+00:00"))
                since = max(1, int((datetime.datetime.now(datetime.UTC) - t).total_seconds()) + 1)
            except ValueError:
                return _error_response(400, "BadRequest", f"invalid sinceTime: {q['sinceTime']!r}")
        opts = LogOptions(follow=_flag(q, "follow"), tail_lines=tail, timestamps=_flag(q, "timestamps"),
                          previous=_flag(q, "previous"), since_seconds=since, limit_bytes=limit)
        try:
            chunks = self.runtime.logs(pod["metadata"]["uid"], container, opts)
        except ContainerNotFound as e:
            return _error_response(400, "BadRequest", str(e))
        except (NotSupported, RuntimeFailure) as e:
            return _error_response(400, "BadRequest", str(e))
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            async for chunk in chunks:
                await resp.write(chunk)
            await resp.write_eof()
        except (ConnectionError, RuntimeError):
            pass
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        return resp
