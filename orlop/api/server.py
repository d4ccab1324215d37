"""The HTTPS API server: Kubernetes' REST protocol over the registry.

Why this exists: this is the surface kubectl and the Python clients see.  It owns only
protocol concerns: authentication, routing of Kubernetes paths to (resource,
namespace, name, subresource), query parameters, content negotiation (JSON, YAML,
Table), watch streaming, discovery and OpenAPI, and turning every failure into a
``metav1.Status`` body.  Behaviour of the objects themselves lives in the registry.
"""

from __future__ import annotations

import asyncio
import datetime
import hmac
import logging
import random
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import orjson
from aiohttp import web

from .. import errors
from ..errors import Cause, StatusError, bad_request, invalid, not_found
from ..jsonobj import is_int64
from ..registry import resources as resmod
from ..registry.core import (
    DeleteOptions,
    ListOptions,
    Registry,
    WriteOptions,
)
from ..registry.resources import Resource
from ..store import StoreFailure
from . import discovery, protobuf
from .decoding import decode_body, unrecognized
from .proxy import NodeProxy

log = logging.getLogger(__name__)

MAX_BODY = 3 * 1024 * 1024          # Kubernetes' apiserver request body limit (3 MiB)
WATCH_DEFAULT_TIMEOUT = 1800         # like --min-request-timeout: 30-60 min, randomised
PROGRESS_INTERVAL = 5.0              # seconds between watch progress checks / bookmarks
WATCH_BATCH = 256                    # watch events at most sent in one write
VERSION = {
    "major": "1", "minor": "32", "gitVersion": "v1.32.0-orlop", "gitCommit": "orlop", "gitTreeState": "clean",
    "buildDate": "2026-11-22T00:00:00Z", "goVersion": "python3.11", "compiler": "cpython", "platform": "linux/amd64",
}
AGG_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGG_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
PUBLIC_PATHS = {"/version", "/healthz", "/livez", "/readyz"}
POD_SUBRESOURCES = ("binding", "exec", "log")


@dataclass
class Target:
    res: Resource
    namespace: str | None
    name: str | None
    subresource: str


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None,
                  content_type: str = "application/json") -> web.Response:
    try:
        data = orjson.dumps(body)
    except TypeError:
        # A string holding bytes that were not UTF-8 (a header or path decoded with surrogate escapes,
        # quoted back in a message): as Go's encoder, each such byte becomes U+FFFD.
        data = orjson.dumps(_valid_utf8(body))
    return web.Response(body=data, status=status, headers={**(headers or {}), "Content-Type": content_type})


def _valid_utf8(value: Any) -> Any:
    if isinstance(value, str):
        try:
            raw = value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:      # (a surrogate no byte stands for, e.g. from a YAML "\ud800")
            raw = value.encode("utf-8", "surrogatepass")
        return raw.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {_valid_utf8(k): _valid_utf8(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_valid_utf8(v) for v in value]
    return value


def status_response(err: StatusError) -> web.Response:
    headers = {}
    if err.retry_after is not None:
        headers["Retry-After"] = str(err.retry_after)
    return json_response(err.to_status(), status=err.code, headers=headers)


def _warning_header(msg: str) -> str:
    """RFC 7234 warn-text: quotes and backslashes escaped, anything unprintable as \\uXXXX."""
    escaped = msg.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(ch if 0x20 <= ord(ch) < 0x7F else f"\\u{ord(ch):04x}" for ch in escaped)
    return f'299 - "{escaped}"'


def _wants_table(request: web.BaseRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return "as=Table" in accept and "g=meta.k8s.io" in accept


def _table_version(request: web.BaseRequest) -> str:
    accept = request.headers.get("Accept", "")
    for part in accept.split(","):
        if "as=Table" in part and "g=meta.k8s.io" in part:
            return "v1beta1" if "v=v1beta1" in part else "v1"
    return "v1"


def _check_acceptable(request: web.BaseRequest) -> None:
    accept = request.headers.get("Accept", "")
    if not accept:
        return
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in ("application/json", "*/*", "application/*", "application/yaml", ""):
            return
    raise errors.not_acceptable(f"only the following media types are accepted: application/json, "
                                f"application/yaml (asked for {accept})")


def _bool(v: str | None) -> bool:
    return v is not None and v.lower() in ("1", "true", "yes")


def _int(q: Any, name: str) -> int | None:
    v = q.get(name)
    if v in (None, ""):
        return None
    try:
        n = int(v)
    except ValueError:
        raise bad_request(f"invalid {name}: {v!r}") from None
    if not is_int64(n):        # Kubernetes parses them as int64: out of range, 400
        raise bad_request(f"invalid {name}: {v!r}: value out of range")
    return n


class ApiServer:
    def __init__(self, registry: Registry, token: str, server_address: str = "127.0.0.1:6443"):
        self.registry = registry
        self.token = token
        self.server_address = server_address
        self.ready = False
        # Set at shutdown: open watch streams end so the server can stop promptly.
        self.closing = asyncio.Event()
        self.proxy = NodeProxy(registry, token)

    # ------------------------------------------------------------ plumbing
    # aiohttp's low-level server: every path goes to ``handle`` (Kubernetes' paths are routed by
    # ``_dispatch``), without web.Application's router, middleware chain and per-request app
    # bookkeeping -- a few per cent of the server's CPU per request, measured (bench/bind.py).
    def make_server(self, **kwargs: Any) -> web.Server:
        """The aiohttp server for a ServerRunner (``kwargs`` go to aiohttp's RequestHandler)."""
        return web.Server(self.handle, request_factory=self.make_request, **kwargs)

    @staticmethod
    def make_request(message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> web.BaseRequest:
        """Requests whose body may be up to MAX_BODY (aiohttp's default limit is 1 MiB)."""
        return web.BaseRequest(message, payload, protocol, writer, task, asyncio.get_running_loop(),
                               client_max_size=MAX_BODY)

    async def close(self) -> None:
        await self.proxy.close()

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Every request: authentication, then ``_dispatch``; every failure becomes a Status."""
        try:
            path = request.path.rstrip("/") or "/"
            if path not in PUBLIC_PATHS and not self._authorized(request):
                return status_response(errors.unauthorized())
            if request.headers.get("Expect", "").lower() == "100-continue" and request.version >= (1, 1):
                # (what web.Application's routes do for a client that waits before sending its body)
                await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            return await self._dispatch(request)
        except StatusError as e:
            return status_response(e)
        except StoreFailure as e:
            return status_response(errors.internal(str(e)))
        except web.HTTPRequestEntityTooLarge:
            return status_response(errors.too_large(
                f"the request body is larger than the limit of {MAX_BODY} bytes"))
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except RecursionError:
            return status_response(bad_request("the object is nested too deeply"))
        except web.HTTPException as e:
            return status_response(StatusError(e.status, e.reason.replace(" ", ""), e.text or e.reason))
        except Exception as e:  # noqa: BLE001 - a bug must still answer a Status, never a traceback
            log.exception("internal error on %s %s", request.method, request.path)
            return status_response(errors.internal(type(e).__name__))

    def _authorized(self, request: web.BaseRequest) -> bool:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return False
        return hmac.compare_digest(auth[7:].strip().encode(), self.token.encode())

    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        raw = request.path
        parts = [unquote(p) for p in raw.split("/") if p]
        path = "/" + "/".join(parts)
        non_resource = path in ("/version", "/api", "/apis") or parts[:1] in (["healthz"], ["livez"], ["readyz"],
                                                                              ["openapi"])
        if non_resource and request.method not in ("GET", "HEAD"):
            raise errors.method_not_allowed(f"the server does not allow this method on {path}")
        if path in ("/healthz", "/livez", "/readyz") or (len(parts) == 2 and parts[0] in ("healthz", "livez", "readyz")):
            if parts[0] == "readyz" and not self.ready:
                return web.Response(text="[-]ready failed: not ready\nreadyz check failed", status=500)
            return web.Response(text="ok", content_type="text/plain")
        if path == "/version":
            return json_response(VERSION)
        if parts and parts[0] == "openapi":
            return self._openapi(request, parts)
        if path in ("/api", "/apis") and request.method == "GET":
            return self._discovery_root(request, path)
        if request.method == "GET" and parts[:1] == ["api"] and len(parts) == 2:
            doc = discovery.api_resource_list("", parts[1])
            if doc is None:
                raise not_found("", path)
            return json_response(doc)
        if request.method == "GET" and parts[:1] == ["apis"] and len(parts) in (2, 3):
            doc = discovery.api_group(parts[1]) if len(parts) == 2 else discovery.api_resource_list(parts[1], parts[2])
            if doc is None:
                return self._path_not_found()
            return json_response(doc)
        target = self._resolve(parts)
        if target is None:
            return self._path_not_found()
        return await self._resource(request, target)

    @staticmethod
    def _path_not_found() -> web.Response:
        return status_response(StatusError(404, "NotFound", "the server could not find the requested resource"))

    def _discovery_root(self, request: web.BaseRequest, path: str) -> web.Response:
        accept = request.headers.get("Accept", "")
        legacy_core = path == "/api"
        for part in accept.split(","):
            if "as=APIGroupDiscoveryList" in part and "g=apidiscovery.k8s.io" in part:
                version = "v2beta1" if "v=v2beta1" in part else "v2"
                ctype = AGG_V2 if version == "v2" else AGG_V2BETA1
                return json_response(discovery.aggregated(legacy_core, version), content_type=ctype)
        if legacy_core:
            return json_response(discovery.api_versions(self.server_address))
        return json_response(discovery.api_group_list())

    def _openapi(self, request: web.BaseRequest, parts: list[str]) -> web.Response:
        from ..registry import schema
        if parts == ["openapi", "v3"]:
            return json_response(schema.openapi_index())
        if len(parts) > 2 and parts[1] == "v3":
            doc = schema.openapi_document("/".join(parts[2:]))
            if doc is not None:
                return web.Response(body=doc, headers={"Content-Type": "application/json",
                                                       "Cache-Control": "public, immutable"})
        # /openapi/v2 is not served: kubectl falls back to its compiled-in patch metadata (measured).
        return self._path_not_found()

    @staticmethod
    def _resolve(parts: list[str]) -> Target | None:
        if parts[:1] == ["api"] and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        res = resmod.lookup(group, version, rest[0])
        if res is None:
            return None
        if res.namespaced != (namespace is not None) and not (res.namespaced and len(rest) == 1):
            # Cluster-scoped kinds have no namespaced path; namespaced kinds may be listed across namespaces.
            return None
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else ""
        if len(rest) > 3:
            return None
        if sub and not ((sub == "status" and res.status) or (sub == "scale" and res.scale)
                        or (sub == "finalize" and res.kind == "Namespace")
                        or (sub in POD_SUBRESOURCES and res.kind == "Pod" and not res.group)):
            return None
        return Target(res, namespace, name, sub)

    # ------------------------------------------------------------- bodies
    async def _body(self, request: web.BaseRequest, target: Target, opts: WriteOptions | None = None) -> Any:
        raw = await request.read()
        ctype = (request.content_type or "application/json").lower()
        kind = target.res.kind if target.subresource != "scale" else "Scale"
        if not raw:
            raise unrecognized(kind, "the request body is empty")
        if ctype == protobuf.CONTENT_TYPE or raw.startswith(protobuf.MAGIC):
            # kubectl's typed clients (create namespace/secret/configmap/service) send protobuf.
            return protobuf.decode_k8s_protobuf(raw)
        # application/octet-stream: what the kubernetes Python client (37.x) labels its JSON bodies.
        if ctype not in ("application/json", "application/yaml", "application/x-yaml", "text/yaml", "*/*", "",
                         "application/octet-stream"):
            raise errors.unsupported_media_type(
                f'the body of the request was in an unknown format - accepted media types include: application/json, '
                f'application/yaml, application/vnd.kubernetes.protobuf (got "{ctype}")')
        strict = opts is not None and opts.field_validation == "Strict"
        body, duplicates = decode_body(raw, kind, strict)
        if duplicates:
            msg = ", ".join(f'duplicate field "{d}"' for d in duplicates)
            raise bad_request(f'{kind} in version "{target.res.version}" cannot be handled as a {kind}: '
                              f"strict decoding error: {msg}")
        if not isinstance(body, dict):
            raise unrecognized(kind, f"couldn't get version/kind; json parse error: expected an object, got "
                                     f"{type(body).__name__}")
        return body

    @staticmethod
    def _write_options(request: web.BaseRequest) -> WriteOptions:
        q = request.query
        kind = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions"}.get(request.method,
                                                                                             "CreateOptions")
        causes = []
        dry = q.getall("dryRun", [])
        for d in dry:
            if d != "All":
                causes.append(Cause("FieldValueNotSupported", f'Unsupported value: "{d}": supported values: "All"',
                                    "dryRun"))
        fm = q.get("fieldManager", "")
        if len(fm) > 128:
            causes.append(Cause("FieldValueTooLong", "Too long: may not be more than 128 bytes", "fieldManager"))
        # Kubernetes' default is Warn: unknown fields are dropped and reported in a Warning header.
        fv = q.get("fieldValidation", "") or "Warn"
        if fv not in ("Ignore", "Warn", "Strict"):
            causes.append(Cause("FieldValueNotSupported",
                                f'Unsupported value: "{fv}": supported values: "Ignore", "Strict", "Warn"',
                                "fieldValidation"))
        force = q.get("force")
        if force is not None and request.method == "PATCH" and \
                (request.content_type or "").lower() != "application/apply-patch+yaml":
            causes.append(Cause("FieldValueForbidden", "Forbidden: may not be specified for non-apply patch",
                                "force"))
        if causes:
            raise invalid(kind, "", causes, "meta.k8s.io")
        return WriteOptions(field_manager=fm, field_validation=fv, dry_run=bool(dry), force=_bool(force))

    @staticmethod
    def _manager_default(request: web.BaseRequest) -> str:
        """prefixFromUserAgent: the User-Agent up to its first "/", printable characters only,
        at most 128 bytes (a field manager's limit)."""
        ua = request.headers.get("User-Agent", "")
        if not ua:
            return "unknown"
        out, size = [], 0
        for ch in ua.split("/")[0]:
            if not ch.isprintable():
                continue
            n = len(ch.encode("utf-8", "surrogatepass"))
            if size + n > 128:
                break
            out.append(ch)
            size += n
        return "".join(out)

    # ------------------------------------------------------------- output
    def _respond(self, request: web.BaseRequest, target: Target, obj: dict[str, Any], status: int = 200,
                 warnings: list[str] | None = None) -> web.Response:
        headers = {}
        if warnings:
            headers["Warning"] = ", ".join(_warning_header(w) for w in dict.fromkeys(warnings))
        if _wants_table(request) and obj.get("kind") not in ("Status", "Scale"):
            body = self._table(request, target.res, [obj], obj["metadata"].get("resourceVersion", ""))
            return json_response(body, status, headers)
        return json_response(obj, status, headers)

    def _table(self, request: web.BaseRequest, res: Resource, items: list[dict[str, Any]], rv: str,
               cont: str = "", remaining: int | None = None, with_columns: bool = True) -> dict[str, Any]:
        from ..registry import printers
        include = request.query.get("includeObject", "Metadata")
        now = datetime.datetime.now(datetime.UTC)
        rows = []
        for obj in items:
            row: dict[str, Any] = {"cells": printers.table_cells(res.kind, obj, now)}
            conditions = printers.row_conditions(res.kind, obj)
            if conditions:
                row["conditions"] = conditions
            if include == "Object":
                row["object"] = obj
            elif include != "None":
                row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                 "metadata": obj.get("metadata", {})}
            rows.append(row)
        meta: dict[str, Any] = {"resourceVersion": rv}
        if cont:
            meta["continue"] = cont
        if remaining is not None:
            meta["remainingItemCount"] = remaining
        table: dict[str, Any] = {"kind": "Table", "apiVersion": f"meta.k8s.io/{_table_version(request)}",
                                 "metadata": meta}
        table["columnDefinitions"] = printers.table_columns(res.kind) if with_columns else []
        table["rows"] = rows
        return table

    # ----------------------------------------------------------- resources
    async def _resource(self, request: web.BaseRequest, t: Target) -> web.StreamResponse:
        m = request.method
        reg = self.registry
        if m in ("GET", "HEAD"):
            _check_acceptable(request)
        if t.name is None:
            if m == "GET":
                if _bool(request.query.get("watch")):
                    return await self._watch(request, t)
                listed = await reg.list(t.res, t.namespace, self._list_options(request))
                if _wants_table(request):
                    meta = listed["metadata"]
                    return json_response(self._table(request, t.res, listed["items"], meta["resourceVersion"],
                                                     meta.get("continue", ""), meta.get("remainingItemCount")))
                return json_response(listed)
            if m == "POST":
                if t.namespace is None and t.res.namespaced:
                    raise StatusError(405, "MethodNotAllowed",
                                      "the server does not allow this method on the requested resource")
                opts = self._write_options(request)
                body = await self._body(request, t, opts)
                obj = await reg.create(t.res, t.namespace, body, opts, self._manager_default(request))
                return self._respond(request, t, obj, 201, opts.warnings)
            if m == "DELETE":
                dopts = await self._delete_options(request, t)
                listed = await reg.delete_collection(t.res, t.namespace, self._list_options(request), dopts)
                return json_response(listed)
            raise errors.method_not_allowed("the server does not allow this method on the requested resource")
        name = t.name
        if t.subresource == "scale":
            return await self._scale(request, t)
        if t.subresource in POD_SUBRESOURCES:
            return await self._pod_subresource(request, t)
        if m == "GET":
            if _bool(request.query.get("watch")):
                raise bad_request("watch of a single object: use a fieldSelector on metadata.name")
            obj = await reg.get(t.res, t.namespace, name)
            return self._respond(request, t, obj)
        if m == "PUT":
            opts = self._write_options(request)
            body = await self._body(request, t, opts)
            obj, created = await reg.update(t.res, t.namespace, name, body, opts, subresource=t.subresource,
                                            manager_default=self._manager_default(request))
            return self._respond(request, t, obj, 201 if created else 200, opts.warnings)
        if m == "PATCH":
            opts = self._write_options(request)
            raw = await request.read()
            ctype = (request.content_type or "").lower()
            obj, created = await reg.patch(t.res, t.namespace, name, ctype, raw, opts,
                                           subresource=t.subresource,
                                           manager_default=self._manager_default(request))
            return self._respond(request, t, obj, 201 if created else 200, opts.warnings)
        if m == "DELETE":
            if t.subresource:
                raise errors.method_not_allowed("the server does not allow this method on the requested resource")
            dopts = await self._delete_options(request, t)
            obj, gone = await reg.delete(t.res, t.namespace, name, dopts)
            if gone and not t.res.delete_returns_object:
                return json_response(errors.success_status(name, t.res.plural, t.res.group,
                                                           obj["metadata"].get("uid", "")))
            return self._respond(request, t, obj, 200)
        raise errors.method_not_allowed("the server does not allow this method on the requested resource")

    async def _pod_subresource(self, request: web.BaseRequest, t: Target) -> web.StreamResponse:
        """pods/binding (the scheduler's POST), pods/exec and pods/log (relayed to the node agent)."""
        m, ns, name = request.method, t.namespace or "", t.name or ""
        if t.subresource == "binding":
            if m != "POST":
                raise errors.method_not_allowed("the server does not allow this method on the requested resource")
            body = await self._body(request, Target(t.res, ns, name, "binding"))
            return json_response(await self.registry.bind_pod(ns, name, body), 201)
        if t.subresource == "exec" and m in ("GET", "POST"):
            return await self.proxy.exec(request, ns, name)
        if t.subresource == "log" and m == "GET":
            return await self.proxy.log(request, ns, name)
        raise errors.method_not_allowed("the server does not allow this method on the requested resource")

    async def _scale(self, request: web.BaseRequest, t: Target) -> web.Response:
        reg, m = self.registry, request.method
        if m == "GET":
            return json_response(await reg.get_scale(t.res, t.namespace, t.name or ""))
        opts = self._write_options(request)
        if m == "PUT":
            body = await self._body(request, t, opts)
            return json_response(await reg.update_scale(t.res, t.namespace, t.name or "", body, opts,
                                                        manager_default=self._manager_default(request)))
        if m == "PATCH":
            raw = await request.read()
            return json_response(await reg.update_scale(t.res, t.namespace, t.name or "", None, opts,
                                                        patch_type=(request.content_type or "").lower(),
                                                        patch_body=raw,
                                                        manager_default=self._manager_default(request)))
        raise errors.method_not_allowed("the server does not allow this method on the requested resource")

    @staticmethod
    def _list_options(request: web.BaseRequest) -> ListOptions:
        q = request.query
        limit = _int(q, "limit") or 0
        if limit < 0:
            raise bad_request("limit must be non-negative")
        match = q.get("resourceVersionMatch", "")
        if match:
            if match not in ("Exact", "NotOlderThan"):
                cause = Cause("FieldValueNotSupported",
                              f'Unsupported value: "{match}": supported values: "Exact", "NotOlderThan"',
                              "resourceVersionMatch")
            elif not q.get("resourceVersion"):
                cause = Cause("FieldValueForbidden", "Forbidden: resourceVersionMatch is forbidden unless "
                              "resourceVersion is provided", "resourceVersionMatch")
            else:
                cause = None
            if cause is not None:
                raise invalid("ListOptions", "", [cause], "meta.k8s.io")
        return ListOptions(label_selector=q.get("labelSelector", ""), field_selector=q.get("fieldSelector", ""),
                           limit=limit, continue_token=q.get("continue", ""),
                           resource_version=q.get("resourceVersion", ""))

    async def _delete_options(self, request: web.BaseRequest, t: Target) -> DeleteOptions:
        q = request.query
        body: Any = {}
        raw = await request.read()
        if raw.startswith(protobuf.MAGIC):
            body = protobuf.decode_k8s_protobuf(raw)
        elif raw.strip():
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError as e:
                raise bad_request(f"error decoding DeleteOptions: {e}") from None
            if not isinstance(body, dict):
                raise bad_request("DeleteOptions must be a JSON object")
        pre = body.get("preconditions") or {}
        if not isinstance(pre, dict):
            raise bad_request("preconditions must be an object")
        policy = body.get("propagationPolicy") or q.get("propagationPolicy") or ""
        orphan = body.get("orphanDependents")
        if orphan is None and "orphanDependents" in q:
            orphan = _bool(q.get("orphanDependents"))
        if not policy and orphan is not None:
            policy = "Orphan" if orphan else "Background"
        grace = body.get("gracePeriodSeconds")
        if grace is None:
            grace = _int(q, "gracePeriodSeconds")
        # Kubernetes decodes the body into typed fields (int64, types.UID, string, bool): another
        # JSON type is a 400 there, before anything is done.
        elif type(grace) is not int or not is_int64(grace):
            raise bad_request(f"gracePeriodSeconds must be an int64: {grace!r}")
        for name in ("uid", "resourceVersion"):
            if not isinstance(pre.get(name), (str, type(None))):
                raise bad_request(f"preconditions.{name} must be a string")
        if not isinstance(orphan, (bool, type(None))):
            raise bad_request("orphanDependents must be a boolean")
        dry = body.get("dryRun") or q.getall("dryRun", [])
        if not isinstance(dry, list) or any(d != "All" for d in dry):
            raise invalid("DeleteOptions", "", [Cause("FieldValueNotSupported",
                                                      f'Unsupported value: {dry!r}: supported values: "All"',
                                                      "dryRun")], "meta.k8s.io")
        if not isinstance(policy, str):
            raise bad_request("propagationPolicy must be a string")
        return DeleteOptions(propagation_policy=policy, uid=pre.get("uid"),
                             resource_version=pre.get("resourceVersion"), grace_period_seconds=grace,
                             dry_run=bool(dry))

    async def _watch(self, request: web.BaseRequest, t: Target) -> web.StreamResponse:
        q = request.query
        timeout = _int(q, "timeoutSeconds")
        if timeout is None:
            timeout = int(WATCH_DEFAULT_TIMEOUT * (1 + random.random()))
        bookmarks = _bool(q.get("allowWatchBookmarks"))
        opts = self._list_options(request)
        table = _wants_table(request)
        # Fail before the 200 if the request itself is bad (selector syntax, resourceVersion format).
        self.registry.check_list_options(t.res, opts)
        stream = self.registry.watch(t.res, t.namespace, opts, bookmarks=bookmarks,
                                     progress_interval=PROGRESS_INTERVAL, raw=not table)
        events: asyncio.Queue[Any] = asyncio.Queue(maxsize=1024)

        async def produce() -> None:
            try:
                async for ev in stream:
                    await events.put(ev)
            except StatusError as e:
                await events.put(e)
            except Exception as e:  # noqa: BLE001 - reported to the client as an ERROR event
                log.exception("watch failed")
                await events.put(errors.internal(type(e).__name__))
            await events.put(None)

        producer = asyncio.create_task(produce())
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                       "Cache-Control": "no-cache, private"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        sent_columns = False

        def line(kind: str, obj: dict[str, Any]) -> bytes:
            nonlocal sent_columns
            if table and kind != "BOOKMARK" and kind != "ERROR":
                obj = self._table(request, t.res, [obj], obj["metadata"].get("resourceVersion", ""),
                                  with_columns=not sent_columns)
                sent_columns = True
            return orjson.dumps({"type": kind, "object": obj}) + b"\n"

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        closing = asyncio.ensure_future(self.closing.wait())
        try:
            done = False
            while not done:
                left = deadline - loop.time()
                if left <= 0 or closing.done():
                    break
                batch: list[Any] = []
                if events.empty():
                    # Nothing queued: wait for the next event, the deadline or the server closing.
                    getter = asyncio.ensure_future(events.get())
                    await asyncio.wait({getter, closing}, timeout=left, return_when=asyncio.FIRST_COMPLETED)
                    if not getter.done():
                        getter.cancel()
                        break
                    batch.append(getter.result())
                # Everything queued meanwhile goes out in the same write (one TLS record, one send).
                while len(batch) < WATCH_BATCH and not events.empty():
                    batch.append(events.get_nowait())
                out: list[bytes] = []
                for ev in batch:
                    if ev is None:
                        done = True
                        break
                    if isinstance(ev, StatusError):
                        out.append(line("ERROR", ev.to_status()))
                        done = True
                        break
                    if ev.type == "BOOKMARK" and not bookmarks:
                        continue
                    if ev.raw is not None:
                        # The stored JSON as it is (with its resourceVersion): no decode, no encode.
                        out.append(b'{"type":"' + ev.type.encode() + b'","object":' + ev.raw + b"}\n")
                    else:
                        out.append(line(ev.type, ev.object))
                if request.transport is None or request.transport.is_closing():
                    break
                if out:
                    await resp.write(b"".join(out))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            closing.cancel()
            producer.cancel()
            await asyncio.gather(producer, return_exceptions=True)
        try:
            await resp.write_eof()
        except (ConnectionResetError, RuntimeError):
            pass
        return resp
