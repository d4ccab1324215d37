"""The generic registry: Kubernetes' REST semantics for every kind, over the store.

Why this exists: create / get / list / watch / update / patch / delete behave the same
for every kind (resourceVersion preconditions, generateName, finalizers and
deletionTimestamp, status subresources, field validation, managedFields, watch event
types).  This module holds that behaviour once; per-kind differences come from
``strategy`` (what a write may touch), ``defaults`` / ``validation`` (Kubernetes'
defaulting and validation), ``admission`` (cluster-wide policy) and ``conversion``
(legacy versions).  The HTTP layer and the in-process controller client both call it,
so controllers see exactly what kubectl sees.

Objects are stored as JSON without ``metadata.resourceVersion``; the store's mod
revision of the key is the resourceVersion, filled in on every read.
"""

from __future__ import annotations

import base64
import builtins
import os
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from .. import admission, gofmt
from ..errors import (
    Cause,
    StatusError,
    already_exists,
    bad_request,
    conflict,
    expired,
    invalid,
    not_found,
    unsupported_media_type,
)
from ..jsonobj import clone
from ..store import Compacted, KeyExists, KeyNotFound, KeyValue, RevisionMismatch, Store
from . import defaults, managedfields, schema, selectors, strategy, validation, warnings
from .resources import RESOURCES, Resource, by_kind, storage_resource

GENERATE_CHARS = "bcdfghjklmnpqrstvwxz2456789"
MAX_UPDATE_RETRIES = 16
# Objects admission read, decoded, remembered by (key, revision) at most (then forgotten at once).
VIEW_OBJECTS_MAX = 4096

PATCH_JSON = "application/json-patch+json"
PATCH_MERGE = "application/merge-patch+json"
PATCH_STRATEGIC = "application/strategic-merge-patch+json"
PATCH_APPLY = "application/apply-patch+yaml"
PATCH_APPLY_CBOR = "application/apply-patch+cbor"
PATCH_TYPES = (PATCH_JSON, PATCH_MERGE, PATCH_STRATEGIC, PATCH_APPLY)


_UID_POOL: list[str] = []
os.register_at_fork(after_in_child=_UID_POOL.clear)     # a forked child never repeats the parent's uids


def _uid_text(b: bytes) -> str:
    """``str(uuid.UUID(bytes=b, version=4))``: the version and variant bits set, in 8-4-4-4-12 form."""
    h = bytes((*b[:6], (b[6] & 0x0F) | 0x40, b[7], (b[8] & 0x3F) | 0x80, *b[9:])).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_uid() -> str:
    """A random (version 4) UUID as ``uuid.uuid4()`` makes it, its random bytes read 4 KiB at a time
    (one system call per 256 objects created instead of one each) and formatted in one go."""
    if not _UID_POOL:
        raw = os.urandom(16 * 256)
        _UID_POOL.extend(_uid_text(raw[i:i + 16]) for i in range(0, len(raw), 16))
    return _UID_POOL.pop()


_now_text: tuple[int, str] = (-1, "")     # (unix second, its RFC 3339 text): one formatting per second


def now_rfc3339(offset_seconds: int = 0) -> str:
    """The current UTC time to the second (``2006-01-02T15:04:05Z``), plus ``offset_seconds``."""
    global _now_text
    second = int(time.time()) + offset_seconds
    cached = _now_text
    if cached[0] == second:
        return cached[1]
    text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
    _now_text = (second, text)
    return text


@dataclass
class WriteOptions:
    """Options a write request carries (query parameters, mostly)."""

    field_manager: str = ""
    field_validation: str = "Ignore"      # Ignore | Warn | Strict
    dry_run: bool = False
    force: bool = False                   # server-side apply force
    # In-process controllers build their objects from the schema's own fields: skip the
    # unknown-field walk for them (everything else — validation, admission — still runs).
    trusted: bool = False
    warnings: list[str] = field(default_factory=list)


@dataclass
class DeleteOptions:
    propagation_policy: str = ""          # "" | Background | Foreground | Orphan
    uid: str | None = None                # precondition
    resource_version: str | None = None   # precondition
    grace_period_seconds: int | None = None
    dry_run: bool = False


@dataclass
class ListOptions:
    label_selector: str = ""
    field_selector: str = ""
    limit: int = 0
    continue_token: str = ""
    resource_version: str = ""


@dataclass
class WatchEvent:
    type: str              # ADDED | MODIFIED | DELETED | BOOKMARK
    object: dict[str, Any]
    # Watches asked for raw events (``Registry.watch(raw=True)``): the object's JSON, its
    # resourceVersion included, when it could be had without decoding (``object`` is then {}).
    raw: bytes | None = None


_META_OPEN = b'"metadata":{'


def with_resource_version(value: bytes, revision: int) -> bytes | None:
    """The stored JSON ``value`` with ``metadata.resourceVersion`` set, without decoding it; None
    when the top-level metadata cannot be found for sure (the caller decodes instead).

    The first ``"metadata":{`` is the top-level one when its brace is the first ``{`` after the
    object's own: a key of a nested object would have that object's ``{`` before it, and the
    sequence cannot occur inside a JSON string (its quotes would be escaped).  Stored objects
    carry no resourceVersion (``encode``), so it is put first in metadata.
    """
    i = value.find(_META_OPEN)
    if i < 0 or value[:1] != b"{" or value.find(b"{", 1) != i + len(_META_OPEN) - 1:
        return None
    j = i + len(_META_OPEN)
    rv = b'"resourceVersion":"%d"' % revision
    return value[:j] + rv + (b"" if value[j:j + 1] == b"}" else b",") + value[j:]


def encode(obj: dict[str, Any]) -> bytes:
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "resourceVersion" in meta:
        meta = dict(meta)
        del meta["resourceVersion"]
        obj = dict(obj)
        obj["metadata"] = meta
    return orjson.dumps(obj)


def decode(value: bytes, revision: int) -> dict[str, Any]:
    obj: dict[str, Any] = orjson.loads(value)
    obj["metadata"]["resourceVersion"] = str(revision)
    return obj


def _continue_token(rv: int, key: str) -> str:
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": key})
    return base64.urlsafe_b64encode(raw).decode()


def _parse_continue(token: str) -> tuple[int, str]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
        return int(data["rv"]), str(data["start"])
    except Exception as e:  # noqa: BLE001 - any malformed token is the client's error
        raise bad_request(f"invalid continue token: {e}") from None


def parse_rv(rv: str | None, what: str = "resourceVersion") -> int:
    if rv in (None, ""):
        return 0
    try:
        n = int(rv)  # type: ignore[arg-type]
        if n < 0:
            raise ValueError
        return n
    except (TypeError, ValueError):
        raise bad_request(f"invalid {what}: {rv!r}") from None


class Registry:
    def __init__(self, store: Store, plugins: list[admission.Plugin] | None = None):
        self.store = store
        self.plugins = admission.default_chain() if plugins is None else plugins
        self._admitters: dict[tuple[str, str, str], list[admission.Plugin]] = {}
        self._view = _View(self)
        self._view_objects: dict[tuple[str, int], dict[str, Any]] = {}

    # ----------------------------------------------------------- conversion
    @staticmethod
    def to_storage(res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        if res.kind == "StatefulSet" and res.version != "v1":
            from .conversion import convert_statefulset
            return convert_statefulset(obj, "v1")
        return obj

    @staticmethod
    def is_storage_version(res: Resource) -> bool:
        """Whether ``to_version`` leaves objects of ``res`` as stored."""
        return not (res.kind == "StatefulSet" and res.version != "v1")

    @staticmethod
    def to_version(res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        if res.kind == "StatefulSet" and res.version != "v1":
            from .conversion import convert_statefulset
            return convert_statefulset(obj, res.version)
        return obj

    # ---------------------------------------------------------------- reads
    async def view_get(self, group: str, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """Admission's read of one object (storage version)."""
        res = resource_for_plural(group, plural)
        kv = await self.store.get(res.key(namespace, name))
        return self._view_decode(kv) if kv else None

    async def view_list(self, group: str, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Admission's read of a whole list (storage version)."""
        res = resource_for_plural(group, plural)
        kvs, _ = await self.store.list(res.key_prefix(namespace))
        return [self._view_decode(kv) for kv in kvs]

    def _view_decode(self, kv: KeyValue) -> dict[str, Any]:
        """A stored object for admission, decoded once per revision (a key at a revision never
        changes): every create reads its namespace, and admission only reads (``View``)."""
        k = (kv.key, kv.mod_revision)
        obj = self._view_objects.get(k)
        if obj is None:
            if len(self._view_objects) >= VIEW_OBJECTS_MAX:
                self._view_objects.clear()
            obj = self._view_objects[k] = decode(kv.value, kv.mod_revision)
        return obj

    async def get(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any]:
        sres = storage_resource(res)
        kv = await self.store.get(sres.key(namespace, name))
        if kv is None:
            raise not_found(res.plural, name, res.group)
        return self.to_version(res, decode(kv.value, kv.mod_revision))

    async def list(self, res: Resource, namespace: str | None, opts: ListOptions) -> dict[str, Any]:
        self.check_list_options(res, opts)
        label_sel = selectors.parse_label_selector(opts.label_selector) if opts.label_selector else None
        field_reqs = selectors.parse_field_selector(opts.field_selector) if opts.field_selector else []
        if field_reqs:
            selectors.check_field_selector(res.kind, field_reqs, res.group_version)
        sres = storage_resource(res)
        prefix = sres.key_prefix(namespace)
        start, list_rv = "", 0
        if opts.continue_token:
            list_rv, start = _parse_continue(opts.continue_token)
        items: list[dict[str, Any]] = []
        last_key = ""
        more = False
        rev = 0
        batch = max(opts.limit, 500) if opts.limit else 0
        while True:
            try:
                kvs, rev = await self.store.list(prefix, start_after=start, limit=batch, at_revision=list_rv)
            except Compacted:
                raise expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start "
                    "a new list without the continue parameter, or use the continue token in this response to "
                    "retrieve the remainder of the results. Continuing with the provided token results in an "
                    "inconsistent list - objects that were created, modified, or deleted between the time the first "
                    "chunk was returned and now may show up in the list.") from None
            for i, kv in enumerate(kvs):
                obj = decode(kv.value, kv.mod_revision)
                if self._matches(res, obj, label_sel, field_reqs):
                    if opts.limit and len(items) >= opts.limit:
                        more = True
                        break
                    items.append(self.to_version(res, obj))
                last_key = kv.key
                if opts.limit and len(items) >= opts.limit and i + 1 < len(kvs):
                    more = True
                    break
            if more or not batch or len(kvs) < batch:
                break
            if opts.limit and len(items) >= opts.limit:
                # Page full exactly at a batch boundary: is there anything after it?
                more = bool((await self.store.list(prefix, start_after=last_key, limit=1, at_revision=list_rv))[0])
                break
            start = last_key
        meta: dict[str, Any] = {"resourceVersion": str(list_rv or rev)}
        if more:
            meta["continue"] = _continue_token(list_rv or rev, last_key)
            # remainingItemCount is only given when no selector filters the list (as Kubernetes).
            if label_sel is None and not field_reqs:
                meta["remainingItemCount"] = await self.store.count(prefix, start_after=last_key)
        return {"kind": f"{res.kind}List", "apiVersion": res.group_version, "metadata": meta, "items": items}

    @staticmethod
    def _matches(res: Resource, obj: dict[str, Any], label_sel: Any, field_reqs: builtins.list[Any]) -> bool:
        if label_sel is not None and not label_sel.matches(obj["metadata"].get("labels")):
            return False
        if field_reqs:
            return bool(selectors.fields_match(field_reqs, selectors.selectable_fields(res.kind, obj)))
        return True

    def check_list_options(self, res: Resource, opts: ListOptions) -> None:
        """Raise the 400 a bad selector or resourceVersion deserves, before any response is started."""
        if opts.continue_token and opts.resource_version not in ("", None):
            raise bad_request("specifying resource version is not allowed when using continue")
        if opts.label_selector:
            selectors.parse_label_selector(opts.label_selector)
        if opts.field_selector:
            selectors.check_field_selector(res.kind, selectors.parse_field_selector(opts.field_selector), res.group_version)
        parse_rv(opts.resource_version)

    def watch(self, res: Resource, namespace: str | None, opts: ListOptions,
              bookmarks: bool = False, progress_interval: float = 0,
              raw: bool = False) -> AsyncIterator[WatchEvent]:
        """Events after opts.resource_version; absent or "0": synthetic ADDED for current objects first.

        ``raw``: ADDED and MODIFIED events of a watch without selectors, served in the storage
        version, carry the object's JSON instead of the object (``WatchEvent.raw``) -- what the API
        server writes to the client anyway, so it is never decoded and encoded again.

        The stream: registry/watchstream.py.
        """
        from .watchstream import WatchStream

        return WatchStream(self, res, namespace, opts, bookmarks, progress_interval, raw)

    # --------------------------------------------------------------- writes
    def _manager(self, opts: WriteOptions, default: str) -> str:
        return opts.field_manager or default

    def _check_field_validation(self, res: Resource, body: dict[str, Any], opts: WriteOptions) -> None:
        if opts.field_validation not in ("Ignore", "Warn", "Strict", ""):
            raise bad_request(f'fieldValidation must be one of "Ignore", "Warn", "Strict": {opts.field_validation}')
        if opts.trusted:
            return
        unknown = schema.unknown_fields(storage_resource(res).gvk, body)
        if not unknown:
            return
        if opts.field_validation == "Strict":
            msg = ", ".join(f'unknown field "{u}"' for u in unknown)
            raise bad_request(f'{res.kind} in version "{res.version}" cannot be handled as a {res.kind}: '
                              f"strict decoding error: {msg}")
        if opts.field_validation == "Warn":
            opts.warnings.extend(f'unknown field "{u}"' for u in unknown)
        for path in unknown:
            _drop_path(body, path)

    @staticmethod
    def _check_type_meta(res: Resource, body: Any) -> None:
        if not isinstance(body, dict):
            raise bad_request(f"{res.kind} in version \"{res.version}\" cannot be handled as a {res.kind}: "
                              "the body must be a JSON object")
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if kind not in (None, "", res.kind) or api_version not in (None, "", res.group_version):
            raise bad_request(f"the API version in the data ({api_version}) does not match the expected API "
                              f"version ({res.group_version})" if api_version not in (None, "", res.group_version)
                              else f"the kind in the data ({kind}) does not match the expected kind ({res.kind})")
        meta = body.get("metadata")
        if meta is None:
            body["metadata"] = {}
        elif not isinstance(meta, dict):
            raise bad_request(f"{res.kind} in version \"{res.version}\" cannot be handled as a {res.kind}: "
                              "metadata must be an object")
        body["apiVersion"], body["kind"] = res.group_version, res.kind

    @staticmethod
    def _check_namespace(res: Resource, body: dict[str, Any], namespace: str | None) -> None:
        meta = body["metadata"]
        if res.namespaced:
            ns = meta.get("namespace")
            if ns not in (None, "") and ns != namespace:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the "
                                  "request")
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)

    def _validate(self, res: Resource, obj: dict[str, Any], old: dict[str, Any] | None,
                  subresource: str = "", check_managed: bool = True) -> None:
        """Validation (422 with causes; wrong JSON types 400).  ``check_managed``: the request
        carried managedFields of its own (not the stored ones), so those are validated too --
        what the field manager builds from nothing but the stored entries needs no check."""
        causes, decode_msg = validation.check(res.kind, obj, old, status=subresource == "status")
        if decode_msg is not None:
            # Wrong JSON types, bad quantities, bad base64: Kubernetes fails these while decoding (400).
            raise bad_request(f'{res.kind} in version "{res.version}" cannot be handled as a {res.kind}: '
                              f"{decode_msg}")
        mf = obj["metadata"].get("managedFields")
        if check_managed and mf is not None and (old is None or mf is not (old.get("metadata") or {}).get("managedFields")):
            causes = causes + managedfields.validate_managed_fields(mf)
        if causes:
            name = obj["metadata"].get("name") or obj["metadata"].get("generateName", "")
            raise invalid(res.kind, name, causes, res.group)

    @staticmethod
    def _warn(res: Resource, obj: dict[str, Any], opts: WriteOptions) -> None:
        """WarningsOnCreate / WarningsOnUpdate (status writes too, as Kubernetes' PV and PVC
        status strategies inherit them); in-process controllers get none (nobody reads them)."""
        if not opts.trusted:
            opts.warnings.extend(warnings.for_object(res.kind, obj))

    async def _admit(self, op: str, res: Resource, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        key = (op, res.group, res.kind)
        plugins = self._admitters.get(key)
        if plugins is None:
            # (Most writes concern one plugin or none: a PersistentVolume's update, none.)
            plugins = self._admitters[key] = [p for p in self.plugins if admission.concerns(p, op, res)]
        for p in plugins:
            await p.admit(op, res, obj, old, self._view)

    async def create(self, res: Resource, namespace: str | None, body: Any, opts: WriteOptions,
                     manager_default: str = "unknown", record: bool = True) -> dict[str, Any]:
        self._check_type_meta(res, body)
        self._check_field_validation(res, body, opts)
        obj = self.to_storage(res, body)
        sres = storage_resource(res)
        self._check_namespace(sres, obj, namespace)
        meta = obj["metadata"]
        if meta.get("resourceVersion"):
            raise bad_request("resourceVersion should not be set on objects to be created")
        if not meta.get("name") and not meta.get("generateName"):
            raise invalid(res.kind, "", [Cause("FieldValueRequired", "Required value: name or generateName is required",
                                               "metadata.name")], res.group)
        for server_field in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                             "selfLink"):
            meta.pop(server_field, None)
        meta["uid"] = new_uid()
        meta["creationTimestamp"] = now_rfc3339()
        sent_managed = not record or meta.get("managedFields") is not None
        defaults.apply_defaults(sres.kind, obj)
        if record:
            # Ownership is recorded from the request as defaulted, before the server adds its own fields.
            managedfields.record_update(None, obj, manager=self._manager(opts, manager_default), gvk=sres.gvk,
                                        api_version=res.group_version, now=meta["creationTimestamp"])
        strategy.prepare_for_create(sres.kind, obj)
        generated = not meta.get("name")
        if generated:
            meta["name"] = str(meta["generateName"]) + "".join(secrets.choice(GENERATE_CHARS) for _ in range(5))
        self._validate(sres, obj, None, check_managed=sent_managed)
        self._warn(sres, obj, opts)
        await self._admit("CREATE", sres, obj, None)
        if opts.dry_run:
            meta["resourceVersion"] = ""
            return self.to_version(res, obj)
        key = sres.key(namespace, meta["name"])
        for attempt in range(3):
            try:
                rev = await self.store.create(key, encode(obj))
                break
            except KeyExists:
                if not generated or attempt == 2:
                    raise already_exists(res.plural, meta["name"], res.group) from None
                meta["name"] = str(meta["generateName"]) + "".join(secrets.choice(GENERATE_CHARS) for _ in range(5))
                key = sres.key(namespace, meta["name"])
        meta["resourceVersion"] = str(rev)
        return self.to_version(res, obj)

    async def update(self, res: Resource, namespace: str | None, name: str, body: Any, opts: WriteOptions,
                     subresource: str = "", manager_default: str = "unknown") -> tuple[dict[str, Any], bool]:
        """PUT semantics. Returns (object, created)."""
        self._check_type_meta(res, body)
        self._check_field_validation(res, body, opts)
        sres = storage_resource(res)
        meta = body["metadata"]
        if meta.get("name") not in (None, "", name):
            raise bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})")
        meta["name"] = name
        obj = self.to_storage(res, body)
        self._check_namespace(sres, obj, namespace)
        key = sres.key(namespace, name)
        kv = await self.store.get(key)
        if kv is None:
            if subresource or res.kind not in ("Lease", "Node", "Endpoints", "Event"):
                raise not_found(res.plural, name, res.group)
            obj["metadata"].pop("resourceVersion", None)
            return await self.create(res, namespace, obj, opts, manager_default), True
        old = decode(kv.value, kv.mod_revision)
        want_rv = parse_rv(obj["metadata"].get("resourceVersion"))
        if want_rv and want_rv != kv.mod_revision:
            raise conflict(res.plural, name, res.group)
        return await self._write_update(res, sres, key, old, kv.mod_revision, obj, opts, subresource,
                                        manager_default), False

    async def _write_update(self, res: Resource, sres: Resource, key: str, old: dict[str, Any], old_rev: int,
                            obj: dict[str, Any], opts: WriteOptions, subresource: str,
                            manager_default: str, record: bool = True) -> dict[str, Any]:
        """Apply strategy, defaults, validation, admission and write ``obj`` over ``old`` at ``old_rev``."""
        meta, old_meta = obj["metadata"], old["metadata"]
        sent = meta.get("managedFields")
        sent_managed = not record or (sent is not None and sent != old_meta.get("managedFields"))
        for kept in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "namespace",
                     "name"):
            if kept in old_meta:
                meta[kept] = old_meta[kept]
            else:
                meta.pop(kept, None)
        if "generateName" in old_meta and "generateName" not in meta:
            meta["generateName"] = old_meta["generateName"]
        defaults.apply_defaults(sres.kind, obj)
        old_cmp = dict(old)
        old_cmp["metadata"] = {k: v for k, v in old_meta.items() if k != "resourceVersion"}
        if subresource == strategy.BOTH and not opts.trusted:
            raise not_found(res.plural, meta["name"], res.group)
        if record:
            # Ownership is recorded from the request as defaulted, before the strategy resets fields.
            manager, now = self._manager(opts, manager_default), now_rfc3339()
            if subresource == strategy.BOTH:
                # As the two writes it stands for: the main resource (old status), then /status.
                main = dict(obj)
                if "status" in old:
                    main["status"] = old["status"]
                else:
                    main.pop("status", None)
                main["metadata"] = dict(meta)
                managedfields.record_update_and_status(old_cmp, main, obj, manager=manager, gvk=sres.gvk,
                                                       api_version=res.group_version, now=now)
            else:
                managedfields.record_update(old_cmp, obj, manager=manager, gvk=sres.gvk,
                                            api_version=res.group_version, now=now, subresource=subresource)
        recorded = obj["metadata"].get("managedFields")
        strategy.prepare_for_update(sres.kind, obj, old, subresource, sres.custom)
        meta = obj["metadata"]
        meta.pop("resourceVersion", None)
        if recorded is None:
            meta.pop("managedFields", None)
        else:
            meta["managedFields"] = recorded
        if obj == old_cmp:
            # A no-op write: nothing is stored and resourceVersion does not move.
            self._warn(sres, obj, opts)
            return self.to_version(res, old)
        self._validate(sres, obj, old, subresource, check_managed=sent_managed)
        self._warn(sres, obj, opts)
        await self._admit("UPDATE", sres, obj, old)
        if opts.dry_run:
            meta["resourceVersion"] = str(old_rev)
            return self.to_version(res, obj)
        # The last finalizer of an object being deleted is gone: the object goes away now.
        # (A pod in its grace period stays until the node agent deletes it with grace 0.)
        gone = bool(meta.get("deletionTimestamp") and not meta.get("finalizers") and not self._namespace_pending(obj)
                    and not meta.get("deletionGracePeriodSeconds"))
        try:
            if gone:
                rev = await self.store.delete(key, old_rev)
            else:
                rev = await self.store.update(key, encode(obj), old_rev)
        except RevisionMismatch:
            raise conflict(res.plural, meta["name"], res.group) from None
        except KeyNotFound:
            raise not_found(res.plural, meta["name"], res.group) from None
        meta["resourceVersion"] = str(rev)
        return self.to_version(res, obj)

    @staticmethod
    def _namespace_pending(obj: dict[str, Any]) -> bool:
        return obj.get("kind") == "Namespace" and bool((obj.get("spec") or {}).get("finalizers"))

    async def patch(self, res: Resource, namespace: str | None, name: str, patch_type: str, body: bytes,
                    opts: WriteOptions, subresource: str = "",
                    manager_default: str = "unknown") -> tuple[dict[str, Any], bool]:
        """PATCH semantics, retried on conflicts (the patch is re-applied to the fresh object)."""
        from . import patch as patches
        sres = storage_resource(res)
        key = sres.key(namespace, name)
        if patch_type not in PATCH_TYPES or (res.custom and patch_type == PATCH_STRATEGIC):
            # Custom resources take no strategic merge patch (as Kubernetes' CR handler).
            raise unsupported_media_type(
                "the body of the request was in an unknown format - accepted media types include: "
                + ", ".join(t for t in PATCH_TYPES if not (res.custom and t == PATCH_STRATEGIC)))
        parsed = _parse_patch_body(patch_type, body)
        for _ in range(MAX_UPDATE_RETRIES):
            kv = await self.store.get(key)
            if kv is None:
                if patch_type == PATCH_APPLY and not subresource:
                    return await self._apply_create(res, namespace, name, parsed, opts), True
                raise not_found(res.plural, name, res.group)
            old = decode(kv.value, kv.mod_revision)
            current = self.to_version(res, clone(old))
            if patch_type == PATCH_APPLY:
                new = self._apply(res, current, parsed, opts)
            elif patch_type == PATCH_JSON:
                new = patches.json_patch(current, parsed)
            elif patch_type == PATCH_MERGE:
                new = patches.json_merge_patch(current, parsed)
            else:
                new = patches.strategic_merge_patch(current, parsed, res.gvk)
            if not isinstance(new, dict):
                raise bad_request("the patched object must be a JSON object")
            self._check_type_meta(res, new)
            self._check_field_validation(res, new, opts)
            # The patched object carries the resourceVersion it was applied to; only one the patch itself
            # set is a precondition (then a conflict is the client's); a lost race is retried.
            new_rv = (new.get("metadata") or {}).get("resourceVersion")
            want_rv = parse_rv(new_rv) if new_rv != current["metadata"].get("resourceVersion") else 0
            if want_rv and want_rv != kv.mod_revision:
                raise conflict(res.plural, name, res.group)
            new_meta = new["metadata"]
            if new_meta.get("name") != name:
                raise bad_request(f"the name of the object ({new_meta.get('name')}) does not match the name on the "
                                  f"URL ({name})")
            obj = self.to_storage(res, new)
            self._check_namespace(sres, obj, namespace)
            try:
                return await self._write_update(res, sres, key, old, kv.mod_revision, obj, opts, subresource,
                                                manager_default, record=patch_type != PATCH_APPLY), False
            except StatusError as e:
                if e.reason == "Conflict" and not want_rv and e.code == 409 and "modified" in e.message:
                    continue
                if e.code == 400 and "cannot be handled as" in e.message:
                    # The patch produced an object that does not decode: Kubernetes blames the patch (422).
                    detail = e.message.split(": ", 1)[-1]
                    patched = orjson.dumps(new).decode()
                    raise invalid("", "", [Cause("FieldValueInvalid", f"Invalid value: {orjson.dumps(patched[:4096]).decode()}: {detail}",
                                                 "patch")]) from None
                raise
        raise conflict(res.plural, name, res.group)

    def _apply(self, res: Resource, live: dict[str, Any] | None, applied: Any, opts: WriteOptions) -> dict[str, Any]:
        if not opts.field_manager:
            raise invalid("PatchOptions", "", [Cause("FieldValueRequired", "Required value: is required for apply patch",
                                                     "fieldManager")], "meta.k8s.io")
        if not isinstance(applied, dict):
            raise bad_request("the body of an apply patch must be an object")
        if not isinstance(applied.get("metadata") or {}, dict):
            raise bad_request(f"{res.kind} in version \"{res.version}\" cannot be handled as a {res.kind}: "
                              "metadata must be an object")
        if (applied.get("metadata") or {}).get("managedFields") is not None:
            raise bad_request("metadata.managedFields must be nil")
        return managedfields.apply(live, applied, manager=opts.field_manager, force=opts.force,
                                   gvk=storage_resource(res).gvk, api_version=res.group_version,
                                   now=now_rfc3339())

    async def _apply_create(self, res: Resource, namespace: str | None, name: str, applied: Any,
                            opts: WriteOptions) -> dict[str, Any]:
        self._check_type_meta(res, applied)
        meta = applied["metadata"]
        if meta.get("name") not in (None, name):
            raise bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})")
        meta["name"] = name
        if res.namespaced:
            meta.setdefault("namespace", namespace)
        obj = self._apply(res, None, applied, opts)
        return await self.create(res, namespace, obj, opts, record=False)

    async def delete(self, res: Resource, namespace: str | None, name: str,
                     opts: DeleteOptions) -> tuple[dict[str, Any], bool]:
        """DELETE semantics. Returns (object, gone): gone is False while finalizers hold it."""
        sres = storage_resource(res)
        key = sres.key(namespace, name)
        for _ in range(MAX_UPDATE_RETRIES):
            kv = await self.store.get(key)
            if kv is None:
                raise not_found(res.plural, name, res.group)
            obj = decode(kv.value, kv.mod_revision)
            meta = obj["metadata"]
            if opts.uid is not None and opts.uid != meta.get("uid"):
                raise conflict(res.plural, name, res.group,
                               f"Precondition failed: UID in precondition: {opts.uid}, UID in object meta: "
                               f"{meta.get('uid')}")
            if opts.resource_version is not None and opts.resource_version != meta.get("resourceVersion"):
                raise conflict(res.plural, name, res.group,
                               "Precondition failed: ResourceVersion in precondition: "
                               f"{opts.resource_version}, ResourceVersion in object meta: {meta.get('resourceVersion')}")
            await self._admit("DELETE", sres, obj, obj)
            finalizers = list(meta.get("finalizers") or [])
            policy = opts.propagation_policy
            if policy not in ("", "Background", "Foreground", "Orphan"):
                raise invalid("DeleteOptions", "", [Cause(
                    "FieldValueNotSupported",
                    f'Unsupported value: "{policy}": supported values: "Foreground", "Background", "Orphan", "nil"',
                    "propagationPolicy")], "meta.k8s.io")
            if policy == "Orphan" and "orphan" not in finalizers:
                finalizers.append("orphan")
            if policy == "Foreground" and "foregroundDeletion" not in finalizers:
                finalizers.append("foregroundDeletion")
            grace = self._pod_grace(obj, opts) if res.kind == "Pod" else 0
            if grace and meta.get("deletionTimestamp"):
                # Already terminating: a delete may only shorten the grace period.
                current = int(meta.get("deletionGracePeriodSeconds") or 0)
                if grace >= current:
                    return self.to_version(res, obj), False
            pending = bool(finalizers) or self._namespace_pending(obj) or grace > 0
            if not pending:
                if opts.dry_run:
                    return self.to_version(res, obj), True
                try:
                    rev = await self.store.delete(key, kv.mod_revision)
                except RevisionMismatch:
                    continue
                except KeyNotFound:
                    raise not_found(res.plural, name, res.group) from None
                meta["resourceVersion"] = str(rev)
                return self.to_version(res, obj), True
            changed = False
            if finalizers != (meta.get("finalizers") or []):
                meta["finalizers"] = finalizers
                changed = True
            if grace > 0:
                meta["deletionTimestamp"] = now_rfc3339(grace)
                meta["deletionGracePeriodSeconds"] = grace
                changed = True
            elif not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = now_rfc3339()
                meta["deletionGracePeriodSeconds"] = 0
                changed = True
            if res.kind == "Namespace" and (obj.get("status") or {}).get("phase") != "Terminating":
                obj.setdefault("status", {})["phase"] = "Terminating"
                changed = True
            if not changed or opts.dry_run:
                return self.to_version(res, obj), False
            meta.pop("resourceVersion", None)
            try:
                rev = await self.store.update(key, encode(obj), kv.mod_revision)
            except (RevisionMismatch, KeyNotFound):
                continue
            meta["resourceVersion"] = str(rev)
            return self.to_version(res, obj), False
        raise conflict(res.plural, name, res.group)

    @staticmethod
    def _pod_grace(pod: dict[str, Any], opts: DeleteOptions) -> int:
        """Kubernetes' pod CheckGracefulDelete: seconds the node agent gets to stop the pod.

        0 (removed at once) for a pod no node runs (no ``spec.nodeName``) or one that has
        finished; otherwise the request's gracePeriodSeconds, else the pod's
        ``terminationGracePeriodSeconds`` (default 30); negative values become 1.
        """
        spec = pod.get("spec") or {}
        if not spec.get("nodeName") or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        grace = opts.grace_period_seconds
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds")
            grace = 30 if grace is None else int(grace)
        return 1 if grace < 0 else int(grace)

    async def delete_collection(self, res: Resource, namespace: str | None, list_opts: ListOptions,
                                opts: DeleteOptions) -> dict[str, Any]:
        listed = await self.list(res, namespace, list_opts)
        for item in listed["items"]:
            m = item["metadata"]
            try:
                await self.delete(res, m.get("namespace"), m["name"], DeleteOptions(
                    propagation_policy=opts.propagation_policy, dry_run=opts.dry_run))
            except StatusError as e:
                if e.code != 404:
                    raise
        return listed

    # ---------------------------------------------------------------- scale
    async def bind_pod(self, namespace: str, name: str, binding: Any) -> dict[str, Any]:
        """POST pods/<name>/binding: assign a pending pod to a node (what the scheduler does).

        As Kubernetes' assignPod: spec.nodeName and the PodScheduled=True condition in one
        write; a pod already assigned, or being deleted, is a 409 Conflict.
        """
        if not isinstance(binding, dict) or binding.get("kind") not in (None, "Binding"):
            raise bad_request("the body of a binding must be a Binding object")
        target = binding.get("target")
        if not isinstance(target, dict):
            target = {}
        node = target.get("name")
        causes = []
        if not node or not isinstance(node, str):
            causes.append(Cause("FieldValueRequired", "Required value", "target.name"))
        if target.get("kind") not in (None, "", "Node"):
            causes.append(Cause("FieldValueNotSupported",
                                f'Unsupported value: "{target.get("kind")}": supported values: "Node"', "target.kind"))
        if causes:
            raise invalid("Binding", name, causes)
        bmeta = binding.get("metadata")
        if not isinstance(bmeta, dict):
            bmeta = {}
        pods = by_kind("", "Pod")
        assert pods is not None
        key = pods.key(namespace, name)
        for _ in range(MAX_UPDATE_RETRIES):
            kv = await self.store.get(key)
            if kv is None:
                raise not_found("pods", name)
            pod = decode(kv.value, kv.mod_revision)
            meta, spec = pod["metadata"], pod.setdefault("spec", {})
            if bmeta.get("uid") and bmeta["uid"] != meta.get("uid"):
                raise conflict("pods/binding", name, "", f"Precondition failed: UID in precondition: "
                                                        f"{bmeta['uid']}, UID in object meta: {meta.get('uid')}")
            if meta.get("deletionTimestamp"):
                raise conflict("pods/binding", name, "", f"pod {name} is being deleted, cannot be assigned to a host")
            if spec.get("nodeName"):
                raise conflict("pods/binding", name, "",
                               f"pod {name} is already assigned to node {gofmt.go_quote(spec['nodeName'])}")
            spec["nodeName"] = node
            for k, v in (bmeta.get("annotations") or {}).items():
                meta.setdefault("annotations", {})[k] = v
            conds = [c for c in (pod.setdefault("status", {}).get("conditions") or []) if c.get("type") != "PodScheduled"]
            conds.insert(0, {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                             "lastTransitionTime": now_rfc3339()})
            pod["status"]["conditions"] = conds
            meta.pop("resourceVersion", None)
            try:
                await self.store.update(key, encode(pod), kv.mod_revision)
            except RevisionMismatch:
                continue
            except KeyNotFound:
                raise not_found("pods", name) from None
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
        raise conflict("pods/binding", name)

    async def get_scale(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any]:
        obj = await self.get(res, namespace, name)
        return self.scale_of(obj)

    @staticmethod
    def scale_of(obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        sel = (obj.get("spec") or {}).get("selector")
        selector = str(selectors.label_selector_from_dict(sel)) if sel else ""
        return {
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0), "selector": selector},
        }

    async def update_scale(self, res: Resource, namespace: str | None, name: str, scale: Any,
                           opts: WriteOptions, patch_type: str = "", manager_default: str = "unknown",
                           patch_body: bytes = b"") -> dict[str, Any]:
        from . import patch as patches
        for _ in range(MAX_UPDATE_RETRIES):
            obj = await self.get(res, namespace, name)
            current = self.scale_of(obj)
            if patch_type:
                parsed = _parse_patch_body(patch_type, patch_body)
                if patch_type == PATCH_JSON:
                    scale = patches.json_patch(current, parsed)
                elif patch_type == PATCH_MERGE:
                    scale = patches.json_merge_patch(current, parsed)
                elif patch_type == PATCH_STRATEGIC:
                    scale = patches.strategic_merge_patch(current, parsed, ("autoscaling", "v1", "Scale"))
                else:
                    raise unsupported_media_type(f"{patch_type} is not supported on the scale subresource")
            if not isinstance(scale, dict):
                raise bad_request("Scale must be a JSON object")
            if scale.get("kind") not in (None, "", "Scale") or \
                    scale.get("apiVersion") not in (None, "", "autoscaling/v1"):
                raise bad_request(f"the object provided is unrecognized (must be of type Scale): "
                                  f"{scale.get('apiVersion')}, Kind={scale.get('kind')}")
            spec = scale.get("spec")
            replicas = spec.get("replicas", 0) if isinstance(spec, dict) else None
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise invalid("Scale", name, [Cause("FieldValueInvalid",
                                                    f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                                                    "spec.replicas")], "autoscaling")
            got_rv = (scale.get("metadata") or {}).get("resourceVersion")
            # A patch carries the resourceVersion it was applied to; only one the patch itself set is a
            # precondition (then a conflict is the client's), otherwise a lost race is retried.
            want_rv = parse_rv(got_rv) if not patch_type or got_rv != current["metadata"].get("resourceVersion") else 0
            if want_rv and str(want_rv) != obj["metadata"]["resourceVersion"]:
                raise conflict(res.plural, name, res.group)
            new = clone(obj)
            new["spec"]["replicas"] = replicas
            new["metadata"]["resourceVersion"] = obj["metadata"]["resourceVersion"]
            try:
                updated, _ = await self.update(res, namespace, name, new, opts, subresource="scale",
                                               manager_default=manager_default)
            except StatusError as e:
                if e.reason == "Conflict" and not want_rv:
                    continue
                raise
            return self.scale_of(updated)
        raise conflict(res.plural, name, res.group)


_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _drop_path(obj: Any, path: str) -> None:
    """Remove the field at a strict-decoder path such as ``spec.containers[0].bogus`` (Ignore/Warn)."""
    tokens: list[str | int] = [int(i) if i else f for f, i in _PATH_TOKEN.findall(path)]
    if path.endswith(".") or not path:
        tokens.append("")       # a field named "" ("metadata." is metadata's "" key, not metadata)
    cur = obj
    for tok in tokens[:-1]:
        try:
            cur = cur[tok]
        except (KeyError, IndexError, TypeError):
            return
    last = tokens[-1] if tokens else None
    if isinstance(cur, dict) and isinstance(last, str):
        cur.pop(last, None)


def yaml_to_json(data: Any) -> Any:
    """YAML data as the JSON Kubernetes would see (sigs.k8s.io/yaml): map keys become strings,
    timestamps RFC 3339 strings; what JSON cannot carry (integers beyond 64 bits) is a 400."""
    try:
        return orjson.loads(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z))
    except (TypeError, orjson.JSONEncodeError) as e:
        raise bad_request(f"the YAML body cannot be represented as JSON: {e}") from None


def _parse_patch_body(patch_type: str, body: bytes) -> Any:
    try:
        if patch_type == PATCH_APPLY:
            import yaml
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            return yaml_to_json(yaml.load(body, Loader=loader))  # noqa: S506 - safe loader
        return orjson.loads(body)
    except Exception as e:  # noqa: BLE001 - any decode failure is the client's
        raise bad_request(f"error decoding patch: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


class _View:
    """The read-only view of the registry handed to admission plugins."""

    def __init__(self, registry: Registry):
        self.get = registry.view_get
        self.list = registry.view_list


def resource_for_plural(group: str, plural: str) -> Resource:
    for r in RESOURCES:
        if r.group == group and r.plural == plural and not r.storage_version:
            return r
    raise bad_request(f"no resource {plural} in group {group!r}")
