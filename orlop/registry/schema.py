"""The OpenAPI v3 documents orlop serves, and the schema facts read from them.

Why this exists: kubectl downloads ``/openapi/v3`` to decide on server-side field validation and
for ``kubectl explain``; strict field validation must reject exactly the fields Kubernetes' strict
decoder rejects; strategic merge patch and server-side apply need each list's merge key, patch
strategy and list type.  All of these are facts of one set of schemas (built by
``tools/build_openapi.py`` into ``openapi/*.json``), so they are read here, lazily and once.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

# (Not __file__: in a module compiled by mypyc (setup.py) it names a path that does not exist.)
_DIR = Path(str(importlib.resources.files("orlop.registry"))) / "openapi"
_REF_PREFIX = "#/components/schemas/"

Schema = dict[str, Any]
GVK = tuple[str, str, str]


@dataclass(frozen=True)
class ListMeta:
    """Strategic-merge / apply metadata of one list field."""

    patch_strategy: str | None = None       # "merge", "retainKeys", "merge,retainKeys" or None
    merge_key: str | None = None
    list_type: str | None = None            # "atomic" | "set" | "map" | None
    map_keys: tuple[str, ...] = ()


# --- documents -----------------------------------------------------------------------------------------

def _file_for(gv_path: str) -> Path:
    return _DIR / (gv_path.strip("/").replace("/", "__") + ".json")


@cache
def _served_paths() -> tuple[str, ...]:
    return tuple(sorted(p.name[: -len(".json")].replace("__", "/") for p in _DIR.glob("*.json")))


@cache
def _doc_bytes(gv_path: str) -> bytes | None:
    if gv_path not in _served_paths():
        return None
    return _file_for(gv_path).read_bytes()


@cache
def _doc(gv_path: str) -> dict[str, Any] | None:
    data = _doc_bytes(gv_path)
    return json.loads(data) if data is not None else None


def openapi_document(gv_path: str) -> bytes | None:
    """The served bytes of ``/openapi/v3/<gv_path>`` (e.g. ``api/v1``, ``apis/apps/v1``), or None."""
    return _doc_bytes(gv_path.strip("/"))


@cache
def _index() -> dict[str, Any]:
    paths = {}
    for gv in _served_paths():
        data = _doc_bytes(gv)
        assert data is not None
        digest = hashlib.sha512(data).hexdigest().upper()
        paths[gv] = {"serverRelativeURL": f"/openapi/v3/{gv}?hash={digest}"}
    return {"paths": paths}


def openapi_index() -> dict[str, Any]:
    """The body of ``GET /openapi/v3``."""
    idx = _index()
    return {"paths": {k: dict(v) for k, v in idx["paths"].items()}}


# --- schema resolution -----------------------------------------------------------------------------------

def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


@cache
def _gvk_index() -> dict[GVK, tuple[str, str]]:
    """GVK -> (document, schema name), from the schemas' x-kubernetes-group-version-kind."""
    out: dict[GVK, tuple[str, str]] = {}
    for gv in _served_paths():
        doc = _doc(gv)
        assert doc is not None
        for name, schema in doc["components"]["schemas"].items():
            for g in schema.get("x-kubernetes-group-version-kind", []):
                gvk = (g.get("group", ""), g.get("version", ""), g.get("kind", ""))
                # Prefer the document of the kind's own group-version.
                if gvk not in out or gv == _gv_path(gvk[0], gvk[1]):
                    out[gvk] = (gv, name)
    return out


class _Resolver:
    """Resolves ``$ref``/``allOf`` nodes of one document into effective schema nodes."""

    def __init__(self, schemas: dict[str, Schema]) -> None:
        self.schemas = schemas
        self._cache: dict[int, Schema] = {}

    def resolve(self, node: Schema) -> Schema:
        key = id(node)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        out: Schema = {}
        self._merge_into(out, node, depth=0)
        self._cache[key] = out
        return out

    def _merge_into(self, out: Schema, node: Schema, depth: int) -> None:
        if depth > 20:
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
            target = self.schemas.get(ref[len(_REF_PREFIX):])
            if target is not None:
                self._merge_into(out, target, depth + 1)
        for sub in node.get("allOf", []):
            self._merge_into(out, sub, depth + 1)
        for k, v in node.items():
            if k in ("$ref", "allOf"):
                continue
            if k == "properties" and "properties" in out:
                out["properties"] = {**out["properties"], **v}
            else:
                out[k] = v


@cache
def _resolver(gv: str) -> _Resolver:
    doc = _doc(gv)
    assert doc is not None
    return _Resolver(doc["components"]["schemas"])


def _root(gvk: GVK) -> tuple[_Resolver, Schema] | None:
    hit = _gvk_index().get(tuple(gvk))  # type: ignore[arg-type]
    if hit is None:
        return None
    gv, name = hit
    res = _resolver(gv)
    return res, res.resolve(res.schemas[name])


def _accepts_anything(s: Schema) -> bool:
    if s.get("x-kubernetes-preserve-unknown-fields"):
        return True
    # RawExtension, FieldsV1 and similar: an object with no declared shape.
    return s.get("type") == "object" and "properties" not in s and "additionalProperties" not in s


# --- unknown fields -------------------------------------------------------------------------------------

def unknown_fields(gvk: GVK, obj: dict[str, Any]) -> list[str]:
    """Paths of the fields of ``obj`` its schema lacks, as Kubernetes' strict decoder names them.

    ``apiVersion`` and ``kind`` are always accepted; a kind without a schema accepts everything.
    """
    root = _root(gvk)
    if root is None or not isinstance(obj, dict):
        return []
    res, schema = root
    out: list[str] = []
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        _walk_field(res, schema, key, value, key, out)
    return out


_LEAVES = (str, int, float, bool, type(None))


def _walk_field(res: _Resolver, parent: Schema, key: str, value: Any, path: str, out: list[str]) -> None:
    props = parent.get("properties")
    if props is not None:
        node = props.get(key)
        if node is None:
            out.append(path)
            return
    else:
        addl = parent.get("additionalProperties")
        if not isinstance(addl, dict):
            return
        node = addl
    _walk_value(res, res.resolve(node), value, path, out)


def _walk_value(res: _Resolver, s: Schema, value: Any, path: str, out: list[str]) -> None:
    if value is None or _accepts_anything(s):
        return
    if isinstance(value, dict):
        props = s.get("properties")
        if props is None and not isinstance(s.get("additionalProperties"), dict):
            return
        for k, v in value.items():
            if type(v) in _LEAVES:
                # A scalar has nothing inside to check: only whether the schema has the field.
                if props is not None and k not in props:
                    out.append(f"{path}.{k}")
                continue
            _walk_field(res, s, k, v, f"{path}.{k}", out)
    elif isinstance(value, list):
        items = s.get("items")
        if isinstance(items, dict):
            item_schema = res.resolve(items)
            for i, v in enumerate(value):
                _walk_value(res, item_schema, v, f"{path}[{i}]", out)


# --- field look-ups --------------------------------------------------------------------------------------

@lru_cache(maxsize=16384)
def _field_node(gvk: GVK, path: tuple[str, ...]) -> tuple[_Resolver, Schema, Schema] | None:
    """(resolver, raw property node, resolved node) of the field at ``path``; list items implicit."""
    root = _root(gvk)
    if root is None:
        return None
    res, cur = root
    raw: Schema = cur
    for name in path:
        # Step through list items implicitly.
        while cur.get("type") == "array" and isinstance(cur.get("items"), dict):
            cur = res.resolve(cur["items"])
        props = cur.get("properties")
        if props is not None:
            node = props.get(name)
        else:
            addl = cur.get("additionalProperties")
            node = addl if isinstance(addl, dict) else None
        if node is None:
            return None
        raw = node
        cur = res.resolve(node)
    return res, raw, cur


def patch_meta(gvk: GVK, path: tuple[str, ...]) -> ListMeta | None:
    """Patch metadata of the field at ``path`` (any kind of field); None when the field is unknown.

    Non-list fields only ever carry ``patch_strategy`` (e.g. ``retainKeys``).
    """
    found = _field_node(tuple(gvk), tuple(path))  # type: ignore[arg-type]
    if found is None:
        return None
    _, raw, cur = found

    def ext(name: str) -> Any:
        return raw.get(name, cur.get(name))

    return ListMeta(
        patch_strategy=ext("x-kubernetes-patch-strategy"),
        merge_key=ext("x-kubernetes-patch-merge-key"),
        list_type=ext("x-kubernetes-list-type"),
        map_keys=tuple(ext("x-kubernetes-list-map-keys") or ()),
    )


def list_meta(gvk: GVK, path: tuple[str, ...]) -> ListMeta | None:
    """Patch metadata of the list field at ``path``, or None if that field is not a list."""
    if field_kind(gvk, tuple(path)) != "list":
        return None
    return patch_meta(gvk, path)


def field_kind(gvk: GVK, path: tuple[str, ...]) -> str | None:
    """"object" | "map" | "list" | "scalar" for the field at ``path``; None when unknown."""
    if not path:
        return "object" if _root(gvk) is not None else None
    found = _field_node(tuple(gvk), tuple(path))  # type: ignore[arg-type]
    if found is None:
        return None
    _, _, cur = found
    if _accepts_anything(cur):
        return None
    t = cur.get("type")
    if t == "array":
        return "list"
    if "properties" in cur:
        return "object"
    if isinstance(cur.get("additionalProperties"), dict):
        return "map"
    if t == "object":
        return None
    return "scalar"


def has_schema(gvk: GVK) -> bool:
    """Whether orlop knows the schema of ``gvk``."""
    return _root(gvk) is not None
