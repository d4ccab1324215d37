"""Server-side apply and ``metadata.managedFields``, with structured-merge-diff semantics.

Why this exists: Kubernetes records on every object which field manager set which fields
(``metadata.managedFields``, FieldsV1 trie per manager), and server-side apply
(``kubectl apply --server-side``, ``application/apply-patch+yaml``) is defined on top of that
record: an applied configuration is merged into the live object per the schema's list and map
types, fields another manager owns with a different value are conflicts (409), and fields the
applier owned before but dropped from its configuration are removed.  kubectl reads the record
back (``kubectl apply --server-side`` after client-side apply edits it and sends it back), so the
shape must be Kubernetes' exactly.

This is a port of the semantics of ``sigs.k8s.io/structured-merge-diff`` (sets of field paths,
compare, merge, prune) and of the apiserver's field-manager chain (manager identity, strip of
identity metadata, time stamps, ``before-first-apply``, the 10-update-manager cap, the
client-side-apply upgrade for manager ``kubectl``).  Field sets are plain Python frozensets of
paths; a path is a tuple of path elements:

* ``("f", name)``   a struct field or map key            -> ``f:name``
* ``("k", ((key, json), ...))``  a list-map item         -> ``k:{"name":"nginx"}``
* ``("v", json)``   a set item                           -> ``v:"value"``
* ``("i", n)``      an index (only read, never produced) -> ``i:0``

Values inside ``k``/``v`` are kept as their canonical (Go-compatible) JSON text so that paths
are hashable and serialise byte-for-byte like Kubernetes.

Invariants kept here:
* a path is in a set when that field (or item) itself is owned; a trie node that is both owned
  and has owned children serialises as ``".": {}`` (first) followed by its children;
* ``apiVersion``, ``kind``, ``metadata``, ``metadata.{name,namespace,uid,resourceVersion,
  generation,creationTimestamp,selfLink,clusterName,managedFields}`` are never owned, so they
  never conflict;
* a write that changes nothing leaves ``metadata.managedFields`` byte-identical (no time bump),
  because kubectl prints ``patched (no change)`` only when the object did not change.
"""

from __future__ import annotations

import copy
import json
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

import orjson

from orlop.errors import Cause, StatusError

from ..gofmt import go_float, go_quote

GVK = tuple[str, str, str]
PE = tuple[str, Any]
Path = tuple[PE, ...]
FieldSet = frozenset[Path]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MAX_UPDATE_MANAGERS = 10
FIELD_MANAGER_MAX_LENGTH = 128
MAX_SUBRESOURCE_NAME_LENGTH = 256
_ANNOTATIONS_MAX_BYTES = 256 * 1024

_ABSENT: Any = object()     # a field that is not there
_NULL: Any = object()       # only in zero objects: present, but null (a nil non-omitempty Go slice)
_GONE: Any = object()       # a value emptied by removal


# --- schema access ---------------------------------------------------------------------------------------

class ListMetaLike(Protocol):
    patch_strategy: str | None
    merge_key: str | None
    list_type: str | None
    map_keys: tuple[str, ...]


class SchemaSource(Protocol):
    """What this module needs from a schema (``orlop.registry.schema`` by default).

    Optional extra methods, used when present:
    ``map_type(gvk, path) -> "atomic" | "granular" | None`` (for a list path: of its items) and
    ``field_default(gvk, path) -> value`` (raise ``KeyError`` or return ``MISSING`` for none).
    """

    def list_meta(self, gvk: GVK, path: tuple[str, ...]) -> ListMetaLike | None: ...

    def field_kind(self, gvk: GVK, path: tuple[str, ...]) -> str | None: ...


MISSING: Any = object()     # "no default" answer of an optional ``field_default``


def _default_schema() -> Any:
    from orlop.registry import schema

    return schema


def _schema_extra(schema: Any, name: str) -> Callable[[GVK, tuple[str, ...]], Any] | None:
    """``map_type``/``field_default`` of a schema source, or read from its resolved OpenAPI nodes."""
    fn = getattr(schema, name, None)
    if callable(fn):
        return fn
    node_fn = getattr(schema, "_field_node", None)
    if not callable(node_fn):
        return None

    def resolved(gvk: GVK, path: tuple[str, ...], items: bool) -> dict[str, Any] | None:
        found = node_fn(gvk, tuple(path))
        if found is None:
            return None
        res, _raw, cur = found
        if items and cur.get("type") == "array" and isinstance(cur.get("items"), dict):
            cur = res.resolve(cur["items"])
        return cur if isinstance(cur, dict) else None

    if name == "map_type":
        def map_type(gvk: GVK, path: tuple[str, ...]) -> Any:
            node = resolved(gvk, path, items=True)
            return None if node is None else node.get("x-kubernetes-map-type")
        return map_type

    def field_default(gvk: GVK, path: tuple[str, ...]) -> Any:
        node = resolved(gvk, path, items=False)
        return MISSING if node is None else node.get("default", MISSING)
    return field_default


_META_GVK: GVK = ("", "v1", "ConfigMap")    # whose ObjectMeta types ``metadata`` of unknown kinds


@dataclass(frozen=True)
class _ListInfo:
    kind: str                   # "atomic" | "set" | "map"
    keys: tuple[str, ...] = ()
    item_atomic: bool = False


_TYPES_CACHE_MAX = 20_000     # field paths remembered per kind (see _Types.kind)


class _Types:
    """Schema facts by field path (list items implicit), as smd types: cached per operation.

    Kinds: "struct" (named fields), "map" (string keys), "list", "scalar", "atomic" (an atomic
    struct or map), "deduced" (no schema: maps granular, lists atomic, like smd's deduced type).
    """

    def __init__(self, schema: Any, gvk: GVK) -> None:
        self.schema = schema
        self.gvk: GVK = (gvk[0], gvk[1], gvk[2])
        self.known = schema.field_kind(self.gvk, ()) is not None
        self._map_type = _schema_extra(schema, "map_type")
        self._field_default = _schema_extra(schema, "field_default")
        self._kinds: dict[tuple[str, ...], str] = {(): "struct"}
        self._lists: dict[tuple[str, ...], _ListInfo] = {}

    def _gvk_for(self, fpath: tuple[str, ...]) -> GVK | None:
        if self.known:
            return self.gvk
        if fpath and fpath[0] == "metadata":
            return _META_GVK
        return None

    def kind(self, fpath: tuple[str, ...]) -> str:
        hit = self._kinds.get(fpath)
        if hit is not None:
            return hit
        parent = self.kind(fpath[:-1])
        if parent in ("deduced", "scalar", "atomic"):
            kind = "deduced"
        else:
            gvk = self._gvk_for(fpath)
            if gvk is None:
                kind = "scalar" if fpath in (("apiVersion",), ("kind",)) else "deduced"
            else:
                fk = self.schema.field_kind(gvk, fpath)
                kind = {"object": "struct", "map": "map", "list": "list", "scalar": "scalar"}.get(fk, "deduced")
                if kind in ("struct", "map") and self._atomic(gvk, fpath):
                    kind = "atomic"
        if len(self._kinds) >= _TYPES_CACHE_MAX:
            # Paths under maps (labels, annotations, data keys) are as many as their keys:
            # a long-running server must not keep them all.  The facts are pure: recomputed.
            self._kinds = {(): "struct"}
        self._kinds[fpath] = kind
        return kind

    def _atomic(self, gvk: GVK, fpath: tuple[str, ...]) -> bool:
        if self._map_type is None:
            return False
        try:
            return self._map_type(gvk, fpath) == "atomic"
        except Exception:  # a schema source without that node
            return False

    def list_info(self, fpath: tuple[str, ...]) -> _ListInfo:
        hit = self._lists.get(fpath)
        if hit is not None:
            return hit
        info = _ListInfo("atomic")
        gvk = self._gvk_for(fpath)
        meta = self.schema.list_meta(gvk, fpath) if gvk is not None and self.kind(fpath) == "list" else None
        if meta is not None:
            item_atomic = self._atomic(gvk, fpath) if gvk is not None else False
            strategies = (meta.patch_strategy or "").split(",")
            if meta.list_type == "map":
                keys = tuple(meta.map_keys) or ((meta.merge_key,) if meta.merge_key else ())
                info = _ListInfo("map", keys, item_atomic) if keys else info
            elif meta.list_type == "set":
                info = _ListInfo("set")
            elif meta.list_type == "atomic":
                pass
            elif meta.merge_key:
                info = _ListInfo("map", (meta.merge_key,), item_atomic)
            elif "merge" in strategies:
                info = _ListInfo("set")
        if len(self._lists) >= _TYPES_CACHE_MAX:
            self._lists = {}
        self._lists[fpath] = info
        return info

    def key_default(self, fpath: tuple[str, ...]) -> Any:
        gvk = self._gvk_for(fpath)
        if self._field_default is None or gvk is None:
            return MISSING
        try:
            value = self._field_default(gvk, fpath)
        except KeyError:
            return MISSING
        return MISSING if value is None else value

    def child_kinds(self, kind: str) -> Callable[[tuple[str, ...]], str]:
        """``_child_kind(self, kind, ·)`` as one function: the kind of each field of a ``kind`` value."""
        return _deduced_kind if kind == "deduced" else self.kind

    def item_kind(self, info: _ListInfo) -> str:
        if info.kind == "map":
            return "atomic" if info.item_atomic else "struct"
        return "scalar"


_TYPES_CACHE: dict[GVK, _Types] = {}


def _types_for(schema: Any, gvk: GVK) -> _Types:
    """Schema facts are fixed for the default schema: keep one _Types per kind across operations."""
    if schema is not None:
        return _Types(schema, gvk)
    key = (gvk[0], gvk[1], gvk[2])
    hit = _TYPES_CACHE.get(key)
    if hit is None:
        hit = _TYPES_CACHE[key] = _Types(_default_schema(), key)
    return hit


def _shape(types: _Types, kind: str, fpath: tuple[str, ...], value: Any) -> str:
    """How smd treats ``value`` here: "leaf", "struct", "map" (keys owned) or "assoc" (list)."""
    if kind in ("scalar", "atomic"):
        return "leaf"
    if kind == "list":
        if value is _NULL:
            return "assoc" if types.list_info(fpath).kind != "atomic" else "leaf"
        if not isinstance(value, list) or types.list_info(fpath).kind == "atomic":
            return "leaf"
        return "assoc"
    if value is _NULL:
        return "map" if kind == "deduced" else kind
    if not isinstance(value, dict):
        return "leaf"
    return "map" if kind == "deduced" else kind


def _deduced_kind(fpath: tuple[str, ...]) -> str:
    return "deduced"


def _child_kind(types: _Types, kind: str, fpath: tuple[str, ...]) -> str:
    return "deduced" if kind == "deduced" else types.kind(fpath)


def _is_empty(value: Any) -> bool:
    return value is _ABSENT or value is _NULL or (isinstance(value, (dict, list)) and not value)


def _is_empty_stripped(value: Any) -> bool:
    """``_is_empty`` of a present ``value`` once null map values are dropped."""
    if isinstance(value, dict):
        for v in value.values():
            if v is not None:
                return False
        return True
    return isinstance(value, list) and not value


# --- values: Go-compatible JSON, canonical forms, ordering, display ---------------------------------------

def _normalize_numbers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {k: _normalize_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize_numbers(v) for v in value]
    return value


def go_json(value: Any) -> str:
    """Compact JSON as Go's encoding/json writes it: sorted keys, HTML-safe escapes."""
    text = json.dumps(_normalize_numbers(value), ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _canon(value: Any) -> str:
    return go_json(value)


def _value_key(value: Any) -> tuple[Any, ...]:
    """smd's total order of values: numbers < strings < bools < lists < maps < null."""
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, (int, float)):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, list):
        return (3, tuple(_value_key(v) for v in value))
    if isinstance(value, dict):
        return (4, tuple((k, _value_key(value[k])) for k in sorted(value)))
    return (5,)


def _pe_key(pe: PE) -> tuple[Any, ...]:
    tag, val = pe
    if tag == "f":
        return (0, val)
    if tag == "k":
        return (1, tuple((name, _value_key(json.loads(c))) for name, c in val))
    if tag == "v":
        return (2, _value_key(json.loads(val)))
    return (3, val)


def _pe_field(pe: PE) -> str:
    """The FieldsV1 key of a path element."""
    tag, val = pe
    if tag == "f":
        return "f:" + val
    if tag == "k":
        return "k:{" + ",".join(go_json(name) + ":" + c for name, c in val) + "}"
    if tag == "v":
        return "v:" + val
    return f"i:{val}"


def _printable(ch: str) -> bool:
    """Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and ASCII space."""
    return ch == " " or unicodedata.category(ch)[0] in "LMNPS"


def _to_string(value: Any) -> str:
    """smd's value.ToString, used in path display."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, list):
        return "[" + ",".join(_to_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return "".join(f"{k}={_to_string(value[k])}" for k in sorted(value))
    return "{{undefined}}"


def _pe_display(pe: PE) -> str:
    tag, val = pe
    if tag == "f":
        return "." + val
    if tag == "k":
        return "[" + ",".join(f"{name}={_to_string(json.loads(c))}" for name, c in val) + "]"
    if tag == "v":
        return f"[={_to_string(json.loads(val))}]"
    return f"[{val}]"


def path_string(path: Path) -> str:
    """A path as Kubernetes prints it: ``.spec.containers[name="nginx"].image``."""
    return "".join(_pe_display(pe) for pe in path)


def _equal(a: Any, b: Any) -> bool:
    """smd value equality: ints and floats compare numerically, bools only with bools."""
    if a is _NULL or b is _NULL:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _strip_nulls(value: Any) -> Any:
    """A copy without null map values (Go decoding drops them)."""
    if isinstance(value, (dict, list)):
        # Fast path (the common case): no null anywhere, so the copy is a plain JSON round trip.
        try:
            data = orjson.dumps(value)
        except TypeError:
            data = b"null"
        if b"null" not in data:
            return orjson.loads(data)
    return _strip_nulls_slow(value)


def _strip_nulls_slow(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nulls_slow(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls_slow(v) for v in value]
    return value


# --- list items ------------------------------------------------------------------------------------------

class _ItemError(Exception):
    pass


def _item_pe(types: _Types, fpath: tuple[str, ...], info: _ListInfo, item: Any) -> PE:
    if info.kind == "map":
        if item is None:
            raise _ItemError("associative list with keys may not have a null element")
        if not isinstance(item, dict):
            raise _ItemError("associative list with keys may not have non-map elements")
        fields = []
        for key in info.keys:
            if key in item and item[key] is not None:
                value = item[key]
            else:
                value = types.key_default(fpath + (key,))
                if value is MISSING:
                    raise _ItemError(f"associative list with keys has an element that omits key field "
                                     f"{go_quote(key)} (and doesn't have default value)")
            if type(value) in _CONTAINERS:
                value = _strip_nulls_slow(value)    # (the compare may read objects as they came)
            fields.append((key, _canon(value)))
        return ("k", tuple(sorted(fields)))
    if isinstance(item, dict):
        raise _ItemError("associative list without keys has an element that's a map type")
    if isinstance(item, list):
        raise _ItemError("not supported: associative list with lists as elements")
    if item is None:
        raise _ItemError("associative list without keys has an element that's an explicit null")
    return ("v", _canon(item))


def _index_items(types: _Types, fpath: tuple[str, ...], info: _ListInfo, items: Any, path: Path,
                 errors: list[str] | None = None) -> tuple[list[PE], dict[PE, Any], list[Any]]:
    """(order of unique item keys, key -> item, items without a usable key or repeated)."""
    order: list[PE] = []
    by_pe: dict[PE, Any] = {}
    rest: list[Any] = []
    if not isinstance(items, list):
        return order, by_pe, rest
    for i, item in enumerate(items):
        try:
            pe = _item_pe(types, fpath, info, item)
        except _ItemError as e:
            if errors is not None:
                errors.append(f"{path_string(path)}: element {i}: {e}")
            rest.append(item)
            continue
        if pe in by_pe:
            if errors is not None:
                errors.append(f"{path_string(path)}: duplicate entries for key {_pe_display(pe)}")
            rest.append(item)
            continue
        order.append(pe)
        by_pe[pe] = item
    return order, by_pe, rest


# --- field sets ------------------------------------------------------------------------------------------

def _to_set(types: _Types, value: Any, fpath: tuple[str, ...], kind: str, path: Path, out: set[Path],
            errors: list[str] | None = None) -> None:
    """smd ToFieldSet: the fields ``value`` sets (struct fields only through their leaves)."""
    shape = _shape(types, kind, fpath, value)
    if shape == "leaf":
        if path:
            out.add(path)
        return
    if shape == "assoc":
        info = types.list_info(fpath)
        order, by_pe, _ = _index_items(types, fpath, info, value, path, errors)
        item_kind = types.item_kind(info)
        for pe in order:
            child = path + (pe,)
            _to_set(types, by_pe[pe], fpath, item_kind, child, out, errors)
            out.add(child)
        return
    if not isinstance(value, dict):
        return
    for key, child_value in value.items():
        cfpath = fpath + (key,)
        ckind = _child_kind(types, kind, cfpath)
        child = path + (("f", key),)
        _to_set(types, child_value, cfpath, ckind, child, out, errors)
        if shape == "map" or ckind == "deduced":
            out.add(child)


def _field_set(types: _Types, value: Any, errors: list[str] | None = None) -> set[Path]:
    out: set[Path] = set()
    _to_set(types, value, (), "struct", (), out, errors)
    return out


@dataclass
class _Comparison:
    added: set[Path]
    modified: set[Path]
    removed: set[Path]

    def exclude(self, ignored: FieldSet) -> _Comparison:
        return _Comparison(_recursive_difference(self.added, ignored),
                           _recursive_difference(self.modified, ignored),
                           _recursive_difference(self.removed, ignored))


def _compare(types: _Types, lhs: Any, rhs: Any) -> _Comparison:
    """smd Compare of two whole objects."""
    cmp = _Comparison(set(), set(), set())
    _cmp(types, lhs, rhs, (), "struct", (), cmp)
    return cmp


def _cmp(types: _Types, lhs: Any, rhs: Any, fpath: tuple[str, ...], kind: str, path: Path,
         cmp: _Comparison) -> None:
    if lhs is rhs:
        return
    if lhs is _ABSENT:
        _add_all(types, rhs, fpath, kind, path, cmp.added)
        return
    if rhs is _ABSENT:
        _add_all(types, lhs, fpath, kind, path, cmp.removed)
        return
    if type(lhs) is type(rhs) and lhs == rhs:
        if type(lhs) in _SCALARS or _same_json(lhs, rhs):
            return      # identical subtrees: nothing added, removed or modified below here
    _diff(types, lhs, rhs, fpath, kind, path, cmp)


def _diff(types: _Types, lhs: Any, rhs: Any, fpath: tuple[str, ...], kind: str, path: Path,
          cmp: _Comparison) -> None:
    """``_cmp`` of two present values that its first tests (same object, same JSON) did not settle.

    Null map values count as absent, as in null-stripped copies (``_compare_view``), so that
    callers can compare objects as they are: the fields loop skips them, and emptiness and leaf
    equality are those of the stripped values.  (Equal values strip to equal values: the first
    tests hold for the stripped values whenever they hold for these.)
    """
    if kind == "scalar" or kind == "atomic":
        if not _equal_stripped(lhs, rhs):   # (two leaves)
            cmp.modified.add(path)
        return
    if type(lhs) is dict and type(rhs) is dict and kind != "list":
        # Two structs or maps (the usual case, what _shape would say): a leaf only when both are
        # empty, and then equal.  (Maps of nulls only are empty once stripped: the fields loop
        # finds nothing in them either.)
        if not lhs and not rhs:
            return
        _diff_fields(types, lhs, rhs, fpath, kind, path, cmp)
        return
    lshape = _shape(types, kind, fpath, lhs)
    rshape = _shape(types, kind, fpath, rhs)
    if lshape != rshape or rshape == "leaf" or (_is_empty_or_null(lhs) and _is_empty_or_null(rhs)):
        if not _equal_stripped(lhs, rhs):
            cmp.modified.add(path)
        return
    if rshape == "assoc":
        info = types.list_info(fpath)
        item_kind = types.item_kind(info)
        lorder, litems, _ = _index_items(types, fpath, info, lhs, path)
        rorder, ritems, _ = _index_items(types, fpath, info, rhs, path)
        for pe in rorder:
            _cmp(types, litems.get(pe, _ABSENT), ritems[pe], fpath, item_kind, path + (pe,), cmp)
        for pe in lorder:
            if pe not in ritems:
                _add_all(types, litems[pe], fpath, item_kind, path + (pe,), cmp.removed)
        return
    _diff_fields(types, lhs if isinstance(lhs, dict) else {}, rhs if isinstance(rhs, dict) else {}, fpath, kind,
                 path, cmp)


def _diff_fields(types: _Types, lmap: dict[str, Any], rmap: dict[str, Any], fpath: tuple[str, ...], kind: str,
                 path: Path, cmp: _Comparison) -> None:
    """The fields of two structs or maps, each compared as ``_cmp`` would (its first tests inlined);
    a null value is an absent one.

    A value that is neither a map nor a list is a leaf whatever the schema says of its field
    (``_shape``), so such fields are settled here without looking up their kind: present on
    one side only, the path is added or removed; on both, it is modified unless equal.
    """
    child_kind = types.child_kinds(kind)
    for key, lval in lmap.items():
        rval = rmap.get(key, _ABSENT)
        if lval is rval:
            continue    # (the same value, or both null)
        if lval is None:
            if rval is _ABSENT:
                continue
            lval = _ABSENT
        elif rval is None:
            rval = _ABSENT
        ltype, rtype = type(lval), type(rval)
        if ltype is rtype and lval == rval and (ltype in _SCALARS or _same_json(lval, rval)):
            continue    # an equal subtree: nothing to record
        if ltype not in _CONTAINERS and rtype not in _CONTAINERS:
            # Two leaves (or a leaf and nothing).
            if lval is _ABSENT:
                cmp.added.add(path + (("f", key),))
            elif rval is _ABSENT:
                cmp.removed.add(path + (("f", key),))
            elif not _equal(lval, rval):
                cmp.modified.add(path + (("f", key),))
            continue
        cfpath = fpath + (key,)
        if rval is _ABSENT:
            _add_all(types, lval, cfpath, child_kind(cfpath), path + (("f", key),), cmp.removed)
        elif lval is _ABSENT:
            _add_all(types, rval, cfpath, child_kind(cfpath), path + (("f", key),), cmp.added)
        else:
            _diff(types, lval, rval, cfpath, child_kind(cfpath), path + (("f", key),), cmp)
    for key, rval in rmap.items():
        if key not in lmap and rval is not None:
            if type(rval) not in _CONTAINERS:
                cmp.added.add(path + (("f", key),))
                continue
            cfpath = fpath + (key,)
            _add_all(types, rval, cfpath, child_kind(cfpath), path + (("f", key),), cmp.added)


def _equal_stripped(a: Any, b: Any) -> bool:
    """``_equal`` of null-stripped copies of ``a`` and ``b``."""
    if type(a) in _CONTAINERS or type(b) in _CONTAINERS:
        return _equal(_strip_nulls_slow(a), _strip_nulls_slow(b))
    return _equal(a, b)


_CONTAINERS = (dict, list)


def _is_empty_or_null(value: Any) -> bool:
    """``_is_empty`` of a null-stripped copy of ``value``."""
    return value is _ABSENT or value is _NULL or _is_empty_stripped(value)


def _add_all(types: _Types, value: Any, fpath: tuple[str, ...], kind: str, path: Path, out: set[Path]) -> None:
    """``_cmp`` with one side absent: ``value``'s whole subtree is added (or removed), into ``out``.

    The same recursion as ``_cmp`` when ``lhs`` (or ``rhs``) is ``_ABSENT``, without its two-sided
    tests: a leaf or an empty value is one path; an associative list adds its items (by key) and
    itself; a struct or map adds its fields and itself.  Null map values are skipped, as if they
    had been stripped (``_compare_view``): creates walk the request object as it came.
    """
    if kind == "scalar" or kind == "atomic":
        out.add(path)
        return
    if kind == "list":
        if type(value) is not list or not value:
            out.add(path)       # (a null list from a zero object, an empty list or not a list)
            return
        info = types.list_info(fpath)
        if info.kind == "atomic":
            out.add(path)
            return
        item_kind = types.item_kind(info)
        order, by_pe, _ = _index_items(types, fpath, info, value, path)
        for pe in order:
            _add_all(types, by_pe[pe], fpath, item_kind, path + (pe,), out)
        if path:
            out.add(path)
        return
    if type(value) is not dict:
        out.add(path)           # a leaf (or a null from a zero object, empty)
        return
    # (A child that is neither a map nor a list is a leaf whatever its kind: one path.)
    if kind == "deduced":
        for key, child in value.items():
            if child is not None:
                if type(child) in _CONTAINERS:
                    _add_all(types, child, fpath, "deduced", path + (("f", key),), out)
                else:
                    out.add(path + (("f", key),))
    else:
        child_kind = types.child_kinds(kind)
        for key, child in value.items():
            if child is not None:
                if type(child) in _CONTAINERS:
                    cfpath = fpath + (key,)
                    _add_all(types, child, cfpath, child_kind(cfpath), path + (("f", key),), out)
                else:
                    out.add(path + (("f", key),))
    if path:
        out.add(path)


_SCALARS = (str, int, float, bool, type(None))


def _same_json(a: Any, b: Any) -> bool:
    """Byte-equal as JSON (types and order included): C-speed proof that two subtrees are the same."""
    try:
        return orjson.dumps(a) == orjson.dumps(b)
    except TypeError:
        return False


def _recursive_difference(paths: Iterable[Path], remove: FieldSet) -> set[Path]:
    """Drop every path that is in ``remove`` or lies under a path of ``remove``."""
    if not remove:
        return set(paths)
    lengths = {len(r) for r in remove if r}
    if len(lengths) == 1:
        # One length n (the usual case: top-level reset fields): only p[:n] can be in ``remove``.
        n = lengths.pop()
        return {p for p in paths if p[:n] not in remove}
    return {p for p in paths if not any(p[:n] in remove for n in lengths)}


def _node_kinds(types: _Types, path: Path) -> list[str]:
    """The smd kind of every prefix of ``path`` (index 0: the root)."""
    kinds = ["struct"]
    fpath: tuple[str, ...] = ()
    kind = "struct"
    for tag, val in path:
        if tag == "f":
            fpath = fpath + (val,)
            kind = _child_kind(types, kind, fpath)
        elif tag == "k":
            kind = types.item_kind(types.list_info(fpath)) if kind == "list" else "deduced"
        else:
            kind = "scalar"
        kinds.append(kind)
    return kinds


def _ensure_named_fields(types: _Types, paths: Iterable[Path]) -> set[Path]:
    """smd EnsureNamedFieldsAreMembers: struct fields with owned children become owned."""
    out = set(paths)
    for path in list(out):
        if len(path) < 2:
            continue
        kinds = _node_kinds(types, path)
        for n in range(1, len(path)):
            if path[n - 1][0] == "f" and kinds[n - 1] == "struct" and kinds[n] != "deduced":
                out.add(path[:n])
    return out


class _Trie:
    __slots__ = ("member", "children")

    def __init__(self) -> None:
        self.member = False
        self.children: dict[PE, _Trie] = {}


def _trie(paths: Iterable[Path]) -> _Trie:
    root = _Trie()
    for path in paths:
        node = root
        for pe in path:
            node = node.children.setdefault(pe, _Trie())
        node.member = True
    return root


def _iterate(node: _Trie, prefix: Path = ()) -> Iterator[Path]:
    """smd Set.Iterate order: this level's members, then each child's subtree, both sorted."""
    ordered = sorted(node.children, key=_pe_key)
    for pe in ordered:
        if node.children[pe].member:
            yield prefix + (pe,)
    for pe in ordered:
        child = node.children[pe]
        if child.children:
            yield from _iterate(child, prefix + (pe,))


# --- FieldsV1 encoding -----------------------------------------------------------------------------------

def _encode_trie(node: _Trie) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pe in sorted(node.children, key=_pe_key):
        child = node.children[pe]
        if child.children:
            sub: dict[str, Any] = {".": {}} if child.member else {}
            sub.update(_encode_trie(child))
            out[_pe_field(pe)] = sub
        else:
            out[_pe_field(pe)] = {}
    return out


def encode_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    """A field set in the FieldsV1 form (``{"f:spec":{"f:replicas":{}}}``), ordered as Kubernetes."""
    return _encode_trie(_trie(paths))


class FieldsV1Error(ValueError):
    """A FieldsV1 document that does not parse."""


def _parse_pe(key: str) -> PE | None:
    if len(key) < 2:
        raise FieldsV1Error("key must be 2 characters long:")
    if key[1] != ":":
        raise FieldsV1Error(f"missing colon: {key}")
    tag, body = key[0], key[2:]
    try:
        if tag == "f":
            return ("f", body)
        if tag == "v":
            return ("v", _canon(json.loads(body)))
        if tag == "k":
            fields = json.loads(body)
            if not isinstance(fields, dict):
                raise FieldsV1Error(f"parsing key as path element: expected an object in {key}")
            return ("k", tuple(sorted((name, _canon(v)) for name, v in fields.items())))
        if tag == "i":
            return ("i", int(body))
    except (ValueError, TypeError) as e:
        if isinstance(e, FieldsV1Error):
            raise
        raise FieldsV1Error(f"parsing key as path element: {e}") from None
    return None     # unknown element types are dropped, as Kubernetes does


def decode_fields_v1(fields: Any) -> FieldSet:
    """The field set of a FieldsV1 document; raises FieldsV1Error when it does not parse."""
    out: set[Path] = set()

    def walk(obj: Mapping[str, Any], prefix: Path) -> bool:
        has_children = False
        for key, sub in obj.items():
            if key == ".":
                continue
            pe = _parse_pe(key)
            if pe is None:
                continue
            if not isinstance(sub, dict):
                raise FieldsV1Error(f"expected an object for {key!r}")
            child = prefix + (pe,)
            if not walk(sub, child) or "." in sub:
                out.add(child)
            has_children = True
        return has_children

    if fields is None:
        return frozenset()
    if not isinstance(fields, dict):
        raise FieldsV1Error("fieldsV1 must be an object")
    walk(fields, ())
    return frozenset(out)


# Every write decodes the stored managedFields and encodes the new ones, and most entries are
# the same from one write to the next (and from one object of a kind to the next): both
# directions are cached.  A FieldsV1 document is keyed by its exact JSON bytes (same bytes,
# same set); an encoding is kept as JSON bytes and handed out as a fresh copy, so no caller
# can alter the cache through the object it gets.
_FIELDS_CACHE_MAX = 4096
_DECODED: dict[bytes, FieldSet] = {}
_ENCODED: dict[FieldSet, bytes] = {}


def _remember(cache: dict[Any, Any], key: Any, value: Any, limit: int = _FIELDS_CACHE_MAX) -> None:
    if len(cache) >= limit:
        try:
            del cache[next(iter(cache))]    # the oldest entry
        except (KeyError, RuntimeError, StopIteration):
            pass                            # (another thread got there first)
    cache[key] = value


def _decode_fields_cached(fields: Any) -> FieldSet:
    """``decode_fields_v1``, remembered by the document's JSON bytes (errors are not cached)."""
    try:
        key = orjson.dumps(fields)
    except TypeError:
        return decode_fields_v1(fields)
    hit = _DECODED.get(key)
    if hit is None:
        hit = decode_fields_v1(fields)
        _remember(_DECODED, key, hit)
    return hit


def _encode_fields_cached(fields: FieldSet) -> dict[str, Any]:
    """``encode_fields_v1`` of a set, as a new dict each time."""
    if not isinstance(fields, frozenset):
        return encode_fields_v1(fields)
    data = _ENCODED.get(fields)
    if data is None:
        data = orjson.dumps(encode_fields_v1(fields))
        _remember(_ENCODED, fields, data)
        # What we encode decodes to the same set: the next write's decode is a hit.
        if data not in _DECODED:
            _remember(_DECODED, data, fields)
    result: dict[str, Any] = orjson.loads(data)
    return result


def fields_v1(obj: Mapping[str, Any], gvk: GVK, *, schema: Any = None) -> dict[str, Any]:
    """The FieldsV1 of the fields ``obj`` sets, as an Apply of ``obj`` would record them."""
    types = _types_for(schema, gvk)
    paths = _field_set(types, _strip_nulls(dict(obj))) - _STRIP_META
    return encode_fields_v1(paths)


# --- merge and removal -----------------------------------------------------------------------------------

def _merge(types: _Types, lhs: Any, rhs: Any, fpath: tuple[str, ...], kind: str) -> Any:
    """smd Merge: ``rhs`` (the applied configuration) merged into ``lhs`` (the live object)."""
    if rhs is _ABSENT:
        return lhs
    if lhs is _ABSENT:
        return copy.deepcopy(rhs)
    lshape, rshape = _shape(types, kind, fpath, lhs), _shape(types, kind, fpath, rhs)
    if rshape == "leaf" or lshape != rshape or (_is_empty(lhs) and _is_empty(rhs)):
        return copy.deepcopy(rhs)
    if rshape == "assoc":
        return _merge_list(types, lhs, rhs, fpath)
    out: dict[str, Any] = {}
    for key, lval in lhs.items():
        cfpath = fpath + (key,)
        out[key] = _merge(types, lval, rhs.get(key, _ABSENT), cfpath, _child_kind(types, kind, cfpath))
    for key, rval in rhs.items():
        if key not in lhs:
            out[key] = copy.deepcopy(rval)
    return out


def _merge_list(types: _Types, lhs: list[Any], rhs: list[Any], fpath: tuple[str, ...]) -> list[Any]:
    """Merge of an associative list, in smd's order: the applied order, live-only items kept in place."""
    info = types.list_info(fpath)
    item_kind = types.item_kind(info)
    lorder, litems, lrest = _index_items(types, fpath, info, lhs, ())
    rorder, ritems, _ = _index_items(types, fpath, info, rhs, ())
    shared = [pe for pe in rorder if pe in litems]
    next_shared = shared.pop(0) if shared else None
    out: list[Any] = []
    li = ri = 0
    while li < len(lorder) or ri < len(rorder):
        progressed = False
        if li < len(lorder) and ri < len(rorder):
            pe = lorder[li]
            if pe == rorder[ri]:
                out.append(_merge(types, litems[pe], ritems[pe], fpath, item_kind))
                li += 1
                ri += 1
                next_shared = shared.pop(0) if shared else None
                continue
            if pe in ritems and next_shared is not None and next_shared != pe:
                li += 1
                continue
        if li < len(lorder) and lorder[li] not in ritems:
            out.append(litems[lorder[li]])
            li += 1
            continue
        if ri < len(rorder):
            pe = rorder[ri]
            out.append(_merge(types, litems.get(pe, _ABSENT), ritems[pe], fpath, item_kind))
            ri += 1
            if next_shared is not None and next_shared == pe:
                next_shared = shared.pop(0) if shared else None
            progressed = True
        if not progressed:
            li += 1     # a shared live item already merged: nothing left to do with it
    return out + lrest


def _remove_items(types: _Types, value: Any, fpath: tuple[str, ...], kind: str, node: _Trie) -> Any:
    """smd RemoveItems: drop the fields and items that are members of ``node``'s subtree."""
    shape = _shape(types, kind, fpath, value)
    if shape == "leaf":
        return value
    if shape == "assoc":
        info = types.list_info(fpath)
        item_kind = types.item_kind(info)
        items: list[Any] = []
        for item in value:
            try:
                pe = _item_pe(types, fpath, info, item)
            except _ItemError:
                items.append(item)
                continue
            child = node.children.get(pe)
            if child is None:
                items.append(item)
                continue
            if child.member:
                continue
            if child.children:
                item = _remove_items(types, item, fpath, item_kind, child)
                if item is _GONE:
                    continue
            items.append(item)
        return items if items else _GONE
    out: dict[str, Any] = {}
    for key, val in value.items():
        child = node.children.get(("f", key))
        if child is None:
            out[key] = val
            continue
        if child.member:
            continue
        if child.children:
            cfpath = fpath + (key,)
            val = _remove_items(types, val, cfpath, _child_kind(types, kind, cfpath), child)
            if val is _GONE:
                continue
        out[key] = val
    return out if out else _GONE


def _remove(types: _Types, obj: dict[str, Any], paths: Iterable[Path]) -> dict[str, Any]:
    node = _trie(paths)
    if not node.children:
        return obj
    result = _remove_items(types, obj, (), "struct", node)
    return {} if result is _GONE else result


# --- managers --------------------------------------------------------------------------------------------

class _Key(NamedTuple):
    """A manager's identity: Kubernetes keys Update entries by API version too, Apply entries not.

    (Named tuples, not frozen dataclasses: built, hashed and compared on every write.)
    """

    manager: str
    operation: str
    api_version: str
    subresource: str

    def identifier(self) -> str:
        """BuildManagerIdentifier's JSON (the sort key of conflict messages)."""
        parts = []
        if self.manager:
            parts.append('"manager":' + go_json(self.manager))
        if self.operation:
            parts.append('"operation":' + go_json(self.operation))
        if self.api_version:
            parts.append('"apiVersion":' + go_json(self.api_version))
        if self.subresource:
            parts.append('"subresource":' + go_json(self.subresource))
        return "{" + ",".join(parts) + "}"

    def printed(self) -> str:
        """How conflict messages name the manager."""
        text = go_quote(self.manager)
        if self.subresource:
            text += f" with subresource {go_quote(self.subresource)}"
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text


def _key(manager: str, operation: str, api_version: str, subresource: str) -> _Key:
    return _Key(manager, operation, api_version if operation == "Update" else "", subresource)


class _Entry(NamedTuple):
    fields: FieldSet
    api_version: str
    applied: bool
    time: str | None


Managers = dict[_Key, _Entry]


class _DecodeError(ValueError):
    pass


# Decoded managedFields lists by their JSON bytes: an object's list is decoded on every write to it,
# and objects written in the same second by the same managers have the same list.
_MANAGERS_CACHE_MAX = 1024
_MANAGERS: dict[bytes, Managers] = {}
# Bytes stand for the list only when it holds nothing but JSON types (no datetimes, dataclasses or
# subclasses that orjson would write as strings or objects).
_JSON_ONLY = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


def _decode_managers(entries: Any) -> Managers:
    """Kubernetes' DecodeManagedFields: the wire list as manager -> entry (later entries win).

    Remembered by the list's JSON bytes (the same bytes, the same managers; errors are not
    remembered); each caller gets a dict of its own.
    """
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise _DecodeError("managedFields must be a list")
    try:
        data: bytes | None = orjson.dumps(entries, option=_JSON_ONLY)
    except TypeError:
        data = None     # (not plain JSON: decoded every time)
    if data is not None:
        hit = _MANAGERS.get(data)
        if hit is not None:
            return dict(hit)
    out = _decode_entries(entries)
    if data is not None:
        _remember(_MANAGERS, data, dict(out), _MANAGERS_CACHE_MAX)
    return out


def _decode_entries(entries: list[Any]) -> Managers:
    out: Managers = {}
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise _DecodeError(f"managed fields entry {i} must be an object")
        op = e.get("operation")
        if op not in ("Apply", "Update"):
            raise _DecodeError("operation must be `Apply` or `Update`")
        api_version = e.get("apiVersion")
        if not isinstance(api_version, str) or not api_version:
            raise _DecodeError("apiVersion must not be empty")
        fields_type = e.get("fieldsType") or ""
        if fields_type != "FieldsV1":
            if fields_type == "":
                raise _DecodeError(f"missing fieldsType in managed fields entry {i}")
            raise _DecodeError(f"invalid fieldsType {fields_type!r} in managed fields entry {i}")
        manager, subresource, time = e.get("manager", ""), e.get("subresource", ""), e.get("time")
        if not isinstance(manager, str) or not isinstance(subresource, str) or \
                (time is not None and not isinstance(time, str)):
            raise _DecodeError(f"managed fields entry {i} has a field of the wrong type")
        try:
            fields = _decode_fields_cached(e.get("fieldsV1") or {})
        except FieldsV1Error as err:
            raise _DecodeError(f"error decoding set: {err}") from None
        out[_key(manager, op, api_version, subresource)] = _Entry(fields, api_version, op == "Apply", time)
    return out


@lru_cache(maxsize=1024)
def _seconds(time: str | None) -> int:
    if not time:
        return 0
    try:
        return int(datetime.fromisoformat(time.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def _encode_entry(key: _Key, entry: _Entry) -> dict[str, Any]:
    """One wire entry (a new dict)."""
    e: dict[str, Any] = {}
    if key.manager:
        e["manager"] = key.manager
    e["operation"] = "Apply" if entry.applied else "Update"
    if entry.api_version:
        e["apiVersion"] = entry.api_version
    if entry.time:
        e["time"] = entry.time
    e["fieldsType"] = "FieldsV1"
    e["fieldsV1"] = _encode_fields_cached(entry.fields)
    if key.subresource:
        e["subresource"] = key.subresource
    return e


# The JSON of whole wire entries, by (manager, entry): the same entry is encoded for many objects
# (same fields, same second) and again in the other half of a spec+status write.
_ENTRIES: dict[tuple[_Key, _Entry], bytes] = {}


def _encode_managers(managers: Managers, reuse: Mapping[tuple[_Key, _Entry], dict[str, Any]] | None = None,
                     made: dict[tuple[_Key, _Entry], dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The wire list, sorted as Kubernetes sorts it (Apply first, then by time, manager, version).

    Each entry's JSON is remembered by (key, entry) and the list is read back from their bytes
    in one go: new dicts every time, as ``_encode_entry`` would build them, except the ones
    ``reuse`` has for an entry (dicts this module made for another object of the same write).
    ``made``, when given, gets each (key, entry) -> its dict.  The sort key is the wire entry's
    (operation, time, manager, apiVersion, subresource), read from key and entry.  No two
    entries share it (one entry per manager key, which holds the manager, the subresource and,
    for Update entries, the entry's apiVersion), so the order of ``managers`` never matters.
    """
    ordered: list[tuple[tuple[str, int, str, str, str], tuple[_Key, _Entry], Any]] = []
    for key, entry in managers.items():
        pair = (key, entry)
        hit = reuse.get(pair) if reuse is not None else None
        if hit is not None:
            ordered.append((_sort_key(key, entry), pair, hit))
            continue
        if not isinstance(entry.fields, frozenset):
            ordered.append((_sort_key(key, entry), pair, orjson.dumps(_encode_entry(key, entry))))
            continue
        data = _ENTRIES.get(pair)
        if data is None:
            data = orjson.dumps(_encode_entry(key, entry))
            _remember(_ENTRIES, pair, data)
        ordered.append((_sort_key(key, entry), pair, data))
    if len(ordered) > 1:
        ordered.sort(key=_first)
    fresh = [data for _, _, data in ordered if type(data) is bytes]
    entries: list[dict[str, Any]] = orjson.loads(b"[" + b",".join(fresh) + b"]") if fresh else []
    if len(fresh) < len(ordered):
        decoded = iter(entries)
        entries = [next(decoded) if type(data) is bytes else data for _, _, data in ordered]
    if made is not None:
        for (_, pair, _), e in zip(ordered, entries, strict=True):
            made[pair] = e
    return entries


def _sort_key(key: _Key, entry: _Entry) -> tuple[str, int, str, str, str]:
    return ("Apply" if entry.applied else "Update", _seconds(entry.time or None), key.manager,
            entry.api_version or "", key.subresource)


def _first(item: tuple[Any, ...]) -> Any:
    return item[0]


_STRIP_META: FieldSet = frozenset(
    tuple(("f", name) for name in path) for path in (
        ("apiVersion",), ("kind",), ("metadata",),
        ("metadata", "name"), ("metadata", "namespace"), ("metadata", "creationTimestamp"),
        ("metadata", "selfLink"), ("metadata", "uid"), ("metadata", "clusterName"),
        ("metadata", "generation"), ("metadata", "managedFields"), ("metadata", "resourceVersion"),
    ))


def _paths(field_paths: Iterable[tuple[str, ...]]) -> FieldSet:
    return frozenset(tuple(("f", name) for name in p) for p in field_paths)


_DEFAULT_RESET: dict[str, tuple[tuple[str, ...], ...]] = {"": (("status",),), "status": (("spec",),)}


_DEFAULT_RESET_SETS: dict[str, FieldSet] = {sub: _paths(fields) for sub, fields in _DEFAULT_RESET.items()}


def _reset_set(reset_fields: Iterable[tuple[str, ...]] | None, subresource: str) -> FieldSet:
    if reset_fields is None:
        return _DEFAULT_RESET_SETS.get(subresource, frozenset())
    return _paths(reset_fields)


# Go zero values of built-in kinds as the apiserver's "empty live object" on create: non-pointer
# structs are present (so creating fields under them records no "." for them), nil non-omitempty
# slices are present as null.  Other kinds (custom resources) start from nothing.
_ZERO_OBJECTS: dict[tuple[str, str], dict[str, Any]] = {
    ("", "Namespace"): {"metadata": {}, "spec": {}, "status": {}},
    ("", "Node"): {"metadata": {}, "spec": {}, "status": {}},
    ("", "PersistentVolume"): {"metadata": {}, "spec": {}, "status": {}},
    ("", "PersistentVolumeClaim"): {"metadata": {}, "spec": {"resources": {}}, "status": {}},
    ("", "Pod"): {"metadata": {}, "spec": {"containers": _NULL}, "status": {}},
    ("", "Secret"): {"metadata": {}},
    ("", "ConfigMap"): {"metadata": {}},
    ("", "Service"): {"metadata": {}, "spec": {}, "status": {"loadBalancer": {}}},
    ("", "Endpoints"): {"metadata": {}},
    ("", "Event"): {"metadata": {}, "involvedObject": {}, "source": {}},
    ("storage.k8s.io", "StorageClass"): {"metadata": {}},
    ("apps", "StatefulSet"): {"metadata": {}, "spec": {"template": {"metadata": {}, "spec": {"containers": _NULL}},
                                                      "updateStrategy": {}}, "status": {}},
    ("apps", "Deployment"): {"metadata": {}, "spec": {"template": {"metadata": {}, "spec": {"containers": _NULL}},
                                                     "strategy": {}}, "status": {}},
    ("coordination.k8s.io", "Lease"): {"metadata": {}, "spec": {}},
}


def _zero_object(gvk: GVK) -> dict[str, Any]:
    return _ZERO_OBJECTS.get((gvk[0], gvk[2]), {})


def _without_managed_fields(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    """A null-free copy of ``obj`` without ``metadata.managedFields``."""
    if obj is None:
        return {}
    out = _strip_nulls(dict(obj))
    meta = out.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        meta = dict(meta)
        del meta["managedFields"]
        out["metadata"] = meta
    return out


_RV_PATH: Path = (("f", "metadata"), ("f", "resourceVersion"))


def _compare_view(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``_without_managed_fields(obj)`` for reading only: a copy of the top level and of ``metadata``
    (without managedFields) that shares the other subtrees when they had no nulls."""
    try:
        data = orjson.dumps(obj)
    except TypeError:
        data = b"null"
    out = dict(obj) if b"null" not in data else _strip_nulls_slow(dict(obj))
    meta = out.get("metadata")
    if isinstance(meta, dict):
        out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return out


def _raw_view(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the top level and of ``metadata`` of ``obj``, without ``metadata.managedFields``.

    For comparing only: the compare (``_cmp``) counts null map values as absent, so that it
    finds what it finds in ``_compare_view(obj)`` without a null-stripped copy; whatever else
    reads it strips it (``_strip_nulls``) first.
    """
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return out


def _take_rv(live: dict[str, Any], changed: dict[str, Any]) -> tuple[Any, Any] | None:
    """Take ``metadata.resourceVersion`` out of both views (their own metadata dicts): (old, new),
    ``_ABSENT`` for a missing or null one; None when neither has one, or one metadata is no object."""
    live_meta, changed_meta = live.get("metadata"), changed.get("metadata")
    if not isinstance(live_meta, dict) or not isinstance(changed_meta, dict):
        return None
    old, new = live_meta.pop("resourceVersion", None), changed_meta.pop("resourceVersion", None)
    if old is None and new is None:
        return None
    return (_ABSENT if old is None else old, _ABSENT if new is None else new)


def _same_stripped(live: Any, changed: Any, rv: tuple[Any, Any] | None) -> bool:
    """Whether views (with ``rv`` taken out of them) are equal once null-stripped, ``rv`` too."""
    return (_strip_nulls(live) == _strip_nulls(changed)
            and (rv is None or _strip_nulls(rv[0]) == _strip_nulls(rv[1])))


def _compare_with_rv(types: _Types, old: Any, new: Any, rv: tuple[Any, Any] | None) -> _Comparison:
    """``_compare``, with ``metadata.resourceVersion`` (taken out of both objects) compared on its own."""
    cmp = _compare(types, old, new)
    if rv is not None:
        _compare_rv(rv, cmp)
    return cmp


def _compare_rv(rv: tuple[Any, Any], cmp: _Comparison) -> None:
    # What the leaf _cmp would have found inside metadata (present on both sides).
    if rv[0] is _ABSENT:
        if rv[1] is not _ABSENT:
            cmp.added.add(_RV_PATH)
    elif rv[1] is _ABSENT:
        cmp.removed.add(_RV_PATH)
    elif not _equal_stripped(rv[0], rv[1]):
        cmp.modified.add(_RV_PATH)


def _compare_split(types: _Types, live: dict[str, Any], changed: dict[str, Any], rv: tuple[Any, Any] | None,
                   name: str) -> tuple[_Comparison, _Comparison]:
    """``_compare_with_rv(live, changed, rv)`` as two: the changes outside top-level field ``name``, and
    those inside it (the paths that do or do not start with ``("f", name)``).

    The root loop is ``_diff_fields``' loop over the fields of two structs (what ``_cmp`` does
    with two objects: their equality test and empty-struct case find nothing that the loop would
    not), sending each top-level field's changes to its side.
    """
    outside, inside = _Comparison(set(), set(), set()), _Comparison(set(), set(), set())
    kind = types.kind
    for key, lval in live.items():
        rval = changed.get(key)
        _cmp(types, _ABSENT if lval is None else lval, _ABSENT if rval is None else rval, (key,), kind((key,)),
             (("f", key),), inside if key == name else outside)
    for key, rval in changed.items():
        if key not in live and rval is not None:
            _add_all(types, rval, (key,), kind((key,)), (("f", key),), (inside if key == name else outside).added)
    if rv is not None:
        _compare_rv(rv, outside)    # (metadata.resourceVersion is outside any other top-level field)
    return outside, inside


def _update_managers(types: _Types, old: Any, new: Any, managers: Managers, workflow: _Key | None,
                     force: bool, ignored: FieldSet,
                     rv: tuple[Any, Any] | None = None,
                     compared: _Comparison | None = None, excluded: bool = False) -> tuple[Managers, _Comparison]:
    """smd Updater.update: take changed fields away from the other managers, or report conflicts.

    ``compared``: the comparison of ``old`` and ``new`` when the caller has made it already;
    ``excluded``: it holds no path of ``ignored`` already (excluding them again would change nothing).
    """
    cmp = compared if compared is not None else _compare_with_rv(types, old, new, rv)
    if not excluded:
        cmp = cmp.exclude(ignored)
    changed = cmp.modified | cmp.added
    conflicts: dict[_Key, set[Path]] = {}
    for key, entry in managers.items():
        if key == workflow:
            continue
        clash = entry.fields & changed
        if clash:
            conflicts[key] = set(clash)
    if conflicts and not force:
        raise _Conflicts(conflicts)
    out: Managers = {}
    removed = cmp.removed
    for key, entry in managers.items():
        fields = entry.fields
        if key != workflow and (key in conflicts or not fields.isdisjoint(removed)):
            fields = fields - conflicts.get(key, set()) - removed
        if fields:
            out[key] = entry if fields is entry.fields else entry._replace(fields=frozenset(fields))
    return out, cmp


class _Conflicts(Exception):
    """Fields of other managers an apply would change: manager -> paths."""

    def __init__(self, conflicts: dict[_Key, set[Path]]) -> None:
        super().__init__("apply conflicts")
        self.conflicts = conflicts


def _conflict_error(conflicts: Mapping[_Key, Iterable[Path]]) -> StatusError:
    """Kubernetes' NewConflictError: 409 Conflict with one FieldManagerConflict cause per field."""
    items: list[tuple[_Key, Path]] = []
    for key in sorted(conflicts, key=_Key.identifier):
        items.extend((key, path) for path in _iterate(_trie(conflicts[key])))
    causes = [Cause("FieldManagerConflict", f"conflict with {key.printed()}", path_string(path))
              for key, path in items]
    if len(items) == 1:
        key, path = items[0]
        message = f"Apply failed with 1 conflict: conflict with {key.printed()}: {path_string(path)}"
    else:
        lines: list[str] = []
        current: _Key | None = None
        for key, path in items:
            if key != current:
                lines.append(f"conflicts with {key.printed()}:")
                current = key
            lines.append(f"- {path_string(path)}")
        message = f"Apply failed with {len(items)} conflicts: " + "\n".join(lines)
    return StatusError(409, "Conflict", message, causes=causes)


def _cap_update_managers(managers: Managers) -> Managers:
    """Merge the oldest Update entries into per-version "ancient-changes" ones past 10 of them."""
    updaters = [k for k, e in managers.items() if not e.applied]
    if len(updaters) <= MAX_UPDATE_MANAGERS:
        return managers
    out = dict(managers)
    updaters.sort(key=lambda k: (_seconds(out[k].time), k.identifier()))
    first_of_version: dict[str, _Key] = {}
    length = len(updaters)
    for key in updaters:
        if length <= MAX_UPDATE_MANAGERS:
            break
        entry = out[key]
        bucket = _key("ancient-changes", "Update", entry.api_version, "")
        first = first_of_version.get(entry.api_version)
        if first is None:
            first_of_version[entry.api_version] = key
            continue
        if bucket not in out:
            out[bucket] = out.pop(first)
        merged = out[bucket].fields | entry.fields
        del out[key]
        out[bucket] = _Entry(frozenset(merged), entry.api_version, False, entry.time)
        length -= 1
    return out


def _record_update(types: _Types, old: Any, new: Any, managers: Managers, manager: str, api_version: str,
                   subresource: str, now: str, ignored: FieldSet, rv: tuple[Any, Any] | None = None,
                   compared: _Comparison | None = None, excluded: bool = False) -> Managers:
    """The apiserver's Update chain below decoding: ownership of what changed from old to new.

    ``rv``: (old, new) ``metadata.resourceVersion`` when the caller took it out of both objects;
    ``compared``: their comparison, when the caller has made it (``excluded``: without ``ignored``).
    """
    managers, cmp = _update_managers(types, old, new, managers, None, True, ignored, rv, compared, excluded)
    # (cmp comes back without the ignored paths already: no need to take them out again.)
    current = (cmp.modified | cmp.added) - cmp.removed - _STRIP_META
    if current:
        key = _key(manager or "unknown", "Update", api_version, subresource)
        previous = managers.get(key)
        fields = frozenset(current | (previous.fields if previous else frozenset()))
        managers[key] = _Entry(fields, api_version, False, now)
    return _cap_update_managers(managers)


def _set_managed_fields(obj: dict[str, Any], managers: Managers,
                        reuse: Mapping[tuple[_Key, _Entry], dict[str, Any]] | None = None,
                        made: dict[tuple[_Key, _Entry], dict[str, Any]] | None = None) -> None:
    """``obj``'s managedFields: the encoding of ``managers`` (see ``_encode_managers``), none for none."""
    meta = obj.get("metadata")
    if managers:
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        meta["managedFields"] = _encode_managers(managers, reuse, made)
    elif isinstance(meta, dict):
        meta.pop("managedFields", None)


def _keep_if_only_timestamps(old: Mapping[str, Any] | None, new: dict[str, Any],
                             same: Callable[[], bool] | None = None) -> None:
    """IgnoreManagedFieldsTimestampsTransformer: a no-op write keeps the old managedFields as they were.

    ``same()``, when given, says whether old and new are equal apart from managedFields (the
    caller's cheaper way to tell); it is asked last, only when the entries are the same but for
    their times (both tests must hold, so their order changes nothing).
    """
    old_meta = old.get("metadata") if old is not None else None
    new_meta = new.get("metadata")
    if not isinstance(old_meta, dict) or not isinstance(new_meta, dict):
        return
    old_mf, new_mf = old_meta.get("managedFields"), new_meta.get("managedFields")
    if not isinstance(old_mf, list) or not isinstance(new_mf, list) or len(old_mf) != len(new_mf):
        return

    def untimed(entries: list[Any]) -> list[Any]:
        return [{k: v for k, v in e.items() if k != "time"} if isinstance(e, dict) else e for e in entries]

    if untimed(old_mf) != untimed(new_mf):
        return      # (the usual case: a write that changed something changed its entry)
    if same is not None:
        if not same():
            return
    elif _without_managed_fields(old) != _without_managed_fields(new):
        return
    new_meta["managedFields"] = copy.deepcopy(old_mf)


# --- public: updates -------------------------------------------------------------------------------------

def _is_reset(entries: Any) -> bool:
    """An explicit ``[]`` or ``[{}]`` (one all-empty entry) clears tracking: isResetManagedFields."""
    if not isinstance(entries, list) or len(entries) > 1:
        return False
    return not entries or (isinstance(entries[0], dict) and all(v in (None, "") for v in entries[0].values()))


def _decode_or_empty(entries: Any) -> Managers:
    try:
        return _decode_managers(entries)
    except _DecodeError:
        return {}


def record_update(old: Mapping[str, Any] | None, new: dict[str, Any], *, manager: str, gvk: GVK,
                  api_version: str, now: str, subresource: str = "", schema: Any = None,
                  reset_fields: Iterable[tuple[str, ...]] | None = None) -> None:
    """Record a non-apply write (create, update, patch) in ``new``'s ``metadata.managedFields``.

    ``old`` is the stored object (None on create), ``new`` the object about to be stored, before
    the strategy adds server-set fields (Kubernetes runs its field manager on the decoded and
    defaulted request object, before admission).  The fields that changed go to ``manager`` in an
    ``Update`` entry (with ``subresource`` when set); they are taken away from other managers.

    managedFields sent by the client are taken as given when they decode and are not empty (how
    kubectl's client-side-to-server-side apply upgrade rewrites them); ``[]`` or ``[{}]`` clears
    them and stops tracking until the next apply; anything undecodable is ignored in favour of the
    stored ones.  Subresource writes always keep the stored ones.  ``reset_fields`` (top-level
    paths the strategy resets; default ``status`` for the main resource, ``spec`` for ``/status``)
    are never owned.  A write that changes nothing leaves managedFields byte-identical.
    """
    types = _types_for(schema, gvk)
    ignored = _reset_set(reset_fields, subresource)
    old_meta = old.get("metadata") if old is not None else None
    old_entries = old_meta.get("managedFields") if isinstance(old_meta, dict) else None
    new_meta = new.get("metadata")
    new_entries = new_meta.get("managedFields") if isinstance(new_meta, dict) else None
    if old is None and new_entries is None:
        # A create without managedFields (the usual one): no managers, whichever way they are read.
        _record_create(types, new, manager, api_version, subresource, now, ignored)
        return

    if subresource:
        managers = _decode_or_empty(old_entries)
    elif _is_reset(new_entries):
        managers = {}
    else:
        try:
            managers = _decode_managers(new_entries)
        except _DecodeError:
            managers = {}
        if not managers:
            managers = _decode_or_empty(old_entries)

    if not managers and old is not None:
        # Tracking stopped (or never started): only an apply starts it again.
        _set_managed_fields(new, {})
        return
    if old is None and not managers:
        _record_create(types, new, manager, api_version, subresource, now, ignored)
        return
    _record_update_general(types, old, new, managers, manager, api_version, subresource, now, ignored)


def _record_update_general(types: _Types, old: Mapping[str, Any] | None, new: dict[str, Any], managers: Managers,
                           manager: str, api_version: str, subresource: str, now: str, ignored: FieldSet) -> None:
    """record_update once the managers are known: compare views of ``old`` (or the zero object) and ``new``."""
    live = _raw_view(old) if old is not None else _compare_view(_zero_object(types.gvk))
    changed = _raw_view(new)
    # resourceVersion (never owned) is compared on its own, so that equal metadata is equal
    # as a whole (a client's update carries it, the stored object does not).  Both views have
    # metadata of their own: popping from them touches neither object.
    rv = _take_rv(live, changed)
    result = _record_update(types, live, changed, managers, manager, api_version, subresource, now, ignored, rv)
    _set_managed_fields(new, result)
    if old is not None:
        _keep_if_only_timestamps(old, new, lambda: _same_stripped(live, changed, rv))


def _record_create(types: _Types, new: dict[str, Any], manager: str, api_version: str, subresource: str,
                   now: str, ignored: FieldSet) -> None:
    """``_record_update_general(None, new, {})`` (a create that carries no managedFields to keep), directly.

    The general path compares null-stripped copies of the zero object and of ``new`` and keeps
    the added and modified paths.  Here ``_created_fields`` walks ``new`` as it is instead (null
    map values skipped as the copy would have dropped them, without ``metadata.managedFields`` as
    the copy) and collects the same paths; what the general path adds on top cannot change the
    result: removed paths (zero-object fields ``new`` lacks) are never in the added or modified
    set, there are no other managers to take fields from, and ``metadata.resourceVersion`` is in
    ``_STRIP_META``.  Reset fields at the top level are not walked at all (the same as taking
    their paths out afterwards).
    """
    obj: Mapping[str, Any] = new
    meta = new.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        obj = {**new, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    fields: set[Path] = set()
    top = _top_level_names(ignored)
    _created_fields(types, _zero_object(types.gvk), obj, (), "struct", (), fields, top or ())
    fields -= _STRIP_META
    if ignored and top is None:
        fields = _recursive_difference(fields, ignored)
    if not fields:
        _set_managed_fields(new, {})
        return
    key = _key(manager or "unknown", "Update", api_version, subresource)
    _set_managed_fields(new, {key: _Entry(frozenset(fields), api_version, False, now)})


def _top_level_names(ignored: FieldSet) -> frozenset[str] | None:
    """The field names of ``ignored`` when it holds only top-level fields (as the default reset
    fields do): leaving those fields' subtrees out of a walk is its ``_recursive_difference``."""
    if ignored in _TOP_LEVEL_NAMES:
        return _TOP_LEVEL_NAMES[ignored]
    names = frozenset(path[0][1] for path in ignored if len(path) == 1 and path[0][0] == "f")
    hit = names if len(names) == len(ignored) else None
    if len(_TOP_LEVEL_NAMES) >= 64:
        _TOP_LEVEL_NAMES.clear()        # (a pure memo: a few reset-field sets in practice)
    _TOP_LEVEL_NAMES[ignored] = hit
    return hit


_TOP_LEVEL_NAMES: dict[FieldSet, frozenset[str] | None] = {}


def _created_fields(types: _Types, zero: Any, value: Any, fpath: tuple[str, ...], kind: str, path: Path,
                    out: set[Path], skip: Iterable[str] = ()) -> None:
    """``_cmp(zero, value)``'s added and modified paths, into ``out``, where ``zero`` is (part of) a zero
    object (dicts of dicts, or ``_NULL``) and ``value`` the request object as it came (with nulls).
    Fields named in ``skip`` (at this level) are left out."""
    lshape = _shape(types, kind, fpath, zero)
    rshape = _shape(types, kind, fpath, value)
    if lshape != rshape or rshape == "leaf" or (_is_empty(zero) and _is_empty_stripped(value)):
        if not _equal(zero, _strip_nulls_slow(value)):
            out.add(path)
        return
    if rshape == "assoc":
        # The zero side is a null list (a dict would have been a "leaf"): every item is added.
        info = types.list_info(fpath)
        item_kind = types.item_kind(info)
        order, by_pe, _ = _index_items(types, fpath, info, value, path)
        for pe in order:
            _add_all(types, by_pe[pe], fpath, item_kind, path + (pe,), out)
        return
    lmap = zero if isinstance(zero, dict) else {}
    child_kind = types.child_kinds(kind)
    for key, child in value.items():
        if child is None or key in skip:
            continue        # (dropped by the null-stripped copy; or left out)
        if type(child) not in _CONTAINERS:
            # A leaf whatever its kind, added (or, over a zero map, modified): one path.
            out.add(path + (("f", key),))
            continue
        cfpath = fpath + (key,)
        if key in lmap:
            _created_fields(types, lmap[key], child, cfpath, child_kind(cfpath), path + (("f", key),), out)
        else:
            _add_all(types, child, cfpath, child_kind(cfpath), path + (("f", key),), out)
    # (zero fields that ``value`` lacks are removed, never owned: nothing to collect for them.)


def record_update_and_status(old: Mapping[str, Any], main: dict[str, Any], new: dict[str, Any], *, manager: str,
                             gvk: GVK, api_version: str, now: str) -> None:
    """``record_update(old, main)`` then ``record_update(main, new, subresource="status")``, comparing
    ``old`` and ``new`` once instead of twice.

    For one write that stands for two (the main resource, then ``/status``): ``main`` is ``new``
    with ``old``'s status.  ``main`` gets the managedFields of the first write, ``new`` those of
    both (entries of both lists that are the same may be the same dicts).  ``main`` and ``new``
    differ only in ``status``, so the main write's changes are the changes from ``old`` to
    ``new`` outside ``status``, and the status write's those inside it.  The status write starts
    from the managers the main write left (not decoded again from ``main``'s list when that is
    their encoding).
    """
    types = _types_for(None, gvk)
    old_meta = old.get("metadata")
    old_entries = old_meta.get("managedFields") if isinstance(old_meta, dict) else None
    main_meta = main.get("metadata")
    main_entries = main_meta.get("managedFields") if isinstance(main_meta, dict) else None
    # --- the main resource's write (record_update with subresource "")
    if _is_reset(main_entries):
        managers: Managers = {}
    else:
        try:
            managers = _decode_managers(main_entries)
        except _DecodeError:
            managers = {}
        if not managers:
            managers = _decode_or_empty(old_entries)
    if not managers:
        # Tracking stopped (or never started): neither write starts it again.
        _set_managed_fields(main, {})
        _set_managed_fields(new, {})
        return
    live, changed = _raw_view(old), _raw_view(new)
    rv = _take_rv(live, changed)
    # One comparison, split at the top level: the changes outside status are the main write's
    # (which resets status: they hold nothing it ignores), those inside it the status write's
    # (which resets spec: likewise).
    main_cmp, status_cmp = _compare_split(types, live, changed, rv, "status")
    result = _record_update(types, live, changed, managers, manager, api_version, "", now,
                            _reset_set(None, ""), rv, main_cmp, excluded=True)
    made: dict[tuple[_Key, _Entry], dict[str, Any]] = {}
    _set_managed_fields(main, result, made=made)
    encoded = main["metadata"]["managedFields"] if result else None

    def main_same() -> bool:
        return _same_stripped({k: v for k, v in live.items() if k != "status" and v is not None},
                              {k: v for k, v in changed.items() if k != "status" and v is not None}, rv)
    _keep_if_only_timestamps(old, main, main_same)
    # --- the status write (record_update of main -> new with subresource "status")
    main_meta = main.get("metadata")
    stored = main_meta.get("managedFields") if isinstance(main_meta, dict) else None
    if stored is encoded and all(entry.api_version for entry in result.values()):
        # main's managedFields are still the encoding of ``result`` (not the old ones kept for a
        # no-op write): decoding them would give ``result`` back.  (An entry's empty time would
        # come back as None: both mean "no time" everywhere.  An empty apiVersion would not
        # decode: those go the long way.)  Entries the status write leaves as they are get the
        # same dicts in ``new`` as in ``main`` (which stands for a write of its own only here).
        managers, reuse = result, made
    else:
        managers, reuse = _decode_or_empty(stored), None
    if not managers:
        _set_managed_fields(new, {})
        return
    result = _record_update(types, live, changed, managers, manager, api_version, "status", now,
                            _reset_set(None, "status"), None, status_cmp, excluded=True)
    _set_managed_fields(new, result, reuse)
    _keep_if_only_timestamps(main, new, lambda: _same_stripped(live.get("status"), changed.get("status"), None))


# --- public: apply ---------------------------------------------------------------------------------------

def _gvk_string(api_version: Any, kind: Any) -> str:
    api_version = api_version if isinstance(api_version, str) else ""
    kind = kind if isinstance(kind, str) else ""
    parts = api_version.split("/")
    if len(parts) == 1:
        group, version = "", parts[0]
    elif len(parts) == 2:
        group, version = parts
    else:
        group, version = "", ""
    return f"{group}/{version}, Kind={kind}"


def _object_gvknn(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    namespace = meta.get("namespace", "") if isinstance(meta, dict) else ""
    name = meta.get("name", "") if isinstance(meta, dict) else ""
    return f"{namespace}/{name}; {_gvk_string(obj.get('apiVersion'), obj.get('kind'))}"


def _build_last_applied(applied: Mapping[str, Any]) -> str:
    """The client-side-apply annotation kubectl would write for ``applied`` (Go JSON + newline)."""
    obj = copy.deepcopy(dict(applied))
    meta = obj.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("annotations"), dict):
        meta["annotations"].pop(LAST_APPLIED, None)
    return go_json(obj) + "\n"


def _last_applied_allowed(types: _Types, live: Mapping[str, Any], api_version: str) -> set[Path] | None:
    """Fields of the last-applied annotation whose values the live object still has."""
    meta = live.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    text = annotations.get(LAST_APPLIED) if isinstance(annotations, dict) else None
    if not isinstance(text, str) or not text:
        return None
    try:
        last = json.loads(text)
    except ValueError:
        return None
    if not isinstance(last, dict) or last.get("apiVersion") != api_version:
        return None
    last = _strip_nulls(last)
    fields = _field_set(types, last)
    cmp = _compare(types, last, _without_managed_fields(live))
    return fields - cmp.modified - cmp.added - cmp.removed


def _prune(types: _Types, merged: dict[str, Any], managers: Managers, last: _Entry | None) -> dict[str, Any]:
    """smd prune: drop what the applier applied last time, left out now, and nobody else owns."""
    if last is None or not last.fields:
        return merged
    last_fields = _ensure_named_fields(types, last.fields)
    pruned = _remove(types, merged, last_fields)
    managed: set[Path] = set()
    for entry in managers.values():
        managed |= entry.fields
    merged_set = _ensure_named_fields(types, _field_set(types, merged))
    pruned_set = _ensure_named_fields(types, _field_set(types, pruned))
    pruned = _remove(types, merged, merged_set - (pruned_set | _ensure_named_fields(types, managed)))
    pruned_set = _ensure_named_fields(types, _field_set(types, pruned))
    return _remove(types, merged, (merged_set - pruned_set) & last_fields)


def _restore_reset(result: dict[str, Any], live: Mapping[str, Any], reset: FieldSet) -> None:
    """What the strategy does after an apply: reset fields keep their live values (or stay unset)."""
    for path in reset:
        names = [name for _tag, name in path]
        source: Any = live
        for name in names:
            source = source.get(name, _ABSENT) if isinstance(source, dict) else _ABSENT
        parent: Any = result
        for name in names[:-1]:
            parent = parent.get(name) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        if source is _ABSENT:
            parent.pop(names[-1], None)
        else:
            parent[names[-1]] = copy.deepcopy(source)


def _apply_once(types: _Types, live: dict[str, Any], config: dict[str, Any], managers: Managers, me: _Key,
                api_version: str, force: bool, now: str, ignored: FieldSet) -> tuple[dict[str, Any], Managers]:
    merged = _merge(types, live, config, (), "struct")
    last = managers.get(me)
    previous_time = last.time if last is not None else None
    config_set = _recursive_difference(_field_set(types, config), ignored)
    managers = dict(managers)
    managers[me] = _Entry(frozenset(config_set), api_version, True, previous_time)
    merged = _prune(types, merged, managers, last)
    managers, _ = _update_managers(types, live, merged, managers, me, force, ignored)
    entry = managers.get(me)
    if entry is not None:
        fields = entry.fields - _STRIP_META
        if fields:
            changed = not _equal(merged, live)
            managers[me] = entry._replace(fields=fields, time=now if changed else previous_time)
        else:
            del managers[me]
    return merged, managers


def apply(live: Mapping[str, Any] | None, applied: Mapping[str, Any], *, manager: str, force: bool, gvk: GVK,
          api_version: str, now: str, subresource: str = "", schema: Any = None,
          reset_fields: Iterable[tuple[str, ...]] | None = None) -> dict[str, Any]:
    """Server-side apply of ``applied`` by ``manager`` onto ``live`` (None: the apply creates it).

    Returns the new object (a fresh copy) with ``metadata.managedFields`` updated; raises
    StatusError 409 Conflict (FieldManagerConflict causes) unless ``force``, 400 for a wrong
    kind/version, a configuration that carries managedFields, or one whose list items lack
    their keys or repeat them (with Kubernetes' message; Kubernetes answers that one with a
    500, kubernetes#118476, and a 400 is the fix proposed there, kubernetes#139255).  ``metadata.resourceVersion``
    in the configuration is merged like any field; checking it as a precondition is the caller's.
    Manager ``kubectl`` upgrades client-side apply: conflicts on fields whose live values still
    match the last-applied annotation are forced, and that annotation is kept in sync.
    """
    types = _types_for(schema, gvk)
    ignored = _reset_set(reset_fields, subresource)
    live_meta = live.get("metadata") if live is not None else None
    try:
        managers = _decode_managers(live_meta.get("managedFields") if isinstance(live_meta, dict) else None)
    except _DecodeError as err:
        raise StatusError(500, "", f"failed to decode managed fields: {err}") from None

    if not isinstance(applied, Mapping):
        raise StatusError(400, "BadRequest", "error decoding YAML: the applied configuration must be an object")
    applied_gvk = _gvk_string(applied.get("apiVersion"), applied.get("kind"))
    if applied_gvk != f"{gvk[0]}/{gvk[1]}, Kind={gvk[2]}":
        raise StatusError(400, "BadRequest", f"invalid object type: {applied_gvk}")
    applied_meta = applied.get("metadata")
    if isinstance(applied_meta, dict) and applied_meta.get("managedFields") is not None:
        raise StatusError(400, "BadRequest", "metadata.managedFields must be nil")

    config = _strip_nulls(dict(applied))
    errors: list[str] = []
    _field_set(types, config, errors)
    if errors:
        detail = errors[0] if len(errors) == 1 else "errors:\n" + "\n".join("  " + e for e in errors)
        raise StatusError(400, "BadRequest",
                          f"failed to create typed patch object ({_object_gvknn(applied)}): {detail}")

    base = _without_managed_fields(live) if live is not None else {}
    me = _key(manager or "unknown", "Apply", api_version, subresource)
    if not managers and live is not None:
        # Objects nobody tracked yet: their current fields belong to "before-first-apply".
        managers = _record_update(types, _zero_object(types.gvk), base, {}, "before-first-apply", api_version,
                                  subresource, now, ignored)
    try:
        merged, result = _apply_once(types, base, config, managers, me, api_version, force, now, ignored)
    except _Conflicts as e:
        # Manager "kubectl" upgrading from client-side apply: conflicts on fields whose live values
        # still are the last-applied ones are not conflicts (Kubernetes' lastAppliedManager).
        allowed = _last_applied_allowed(types, live, api_version) if manager == "kubectl" and live else None
        if allowed is None:
            raise _conflict_error(e.conflicts) from None
        remaining = {k: {p for p in paths if p not in allowed} for k, paths in e.conflicts.items()}
        remaining = {k: paths for k, paths in remaining.items() if paths}
        if remaining:
            raise _conflict_error(remaining) from None
        merged, result = _apply_once(types, base, config, managers, me, api_version, True, now, ignored)

    _restore_reset(merged, base, ignored)
    if manager == "kubectl":
        meta = merged.get("metadata")
        annotations = meta.get("annotations") if isinstance(meta, dict) else None
        if isinstance(annotations, dict) and annotations.get(LAST_APPLIED):
            annotations = dict(annotations)
            annotations[LAST_APPLIED] = _build_last_applied(applied)
            if sum(len(k.encode()) + len(str(v).encode()) for k, v in annotations.items()) > _ANNOTATIONS_MAX_BYTES:
                del annotations[LAST_APPLIED]
            merged["metadata"] = {**(meta or {}), "annotations": annotations}
    _set_managed_fields(merged, result)
    if live is not None:
        _keep_if_only_timestamps(live, merged)
    return merged


# --- public: validation ----------------------------------------------------------------------------------

def _invalid(field: str, value: Any, detail: str) -> Cause:
    shown = go_quote(value) if isinstance(value, str) else go_json(value)
    return Cause("FieldValueInvalid", f"Invalid value: {shown}: {detail}", field)


@lru_cache(maxsize=1024)
def _unprintable(manager: str) -> tuple[tuple[int, str], ...]:
    """(position, character) of each character of a manager name Go's unicode.IsPrint rejects."""
    if manager.isascii() and manager.isprintable():
        return ()       # ASCII: Python's printable set is Go's (space through tilde)
    return tuple((pos, ch) for pos, ch in enumerate(manager) if not _printable(ch))


def validate_managed_fields(mf: object) -> list[Cause]:
    """Causes (for a 422 Invalid) of a ``metadata.managedFields`` value that Kubernetes rejects.

    Checks the JSON shape (a list of objects with string fields and an object ``fieldsV1``) and
    Kubernetes' ValidateManagedFields rules: operation ``Apply``/``Update``, fieldsType
    ``FieldsV1`` when set, manager at most 128 printable characters, subresource at most 256.
    """
    base = "metadata.managedFields"
    if mf is None:
        return []
    if not isinstance(mf, list):
        return [Cause("FieldValueTypeInvalid", f"Invalid value: {go_json(mf)}: must be a list", base)]
    causes: list[Cause] = []
    for i, entry in enumerate(mf):
        at = f"{base}[{i}]"
        if not isinstance(entry, dict):
            causes.append(Cause("FieldValueTypeInvalid", f"Invalid value: {go_json(entry)}: must be an object", at))
            continue
        for name in ("manager", "operation", "apiVersion", "time", "fieldsType", "subresource"):
            value = entry.get(name)
            if value is not None and not isinstance(value, str):
                causes.append(Cause("FieldValueTypeInvalid", f"Invalid value: {go_json(value)}: must be a string",
                                    f"{at}.{name}"))
        operation = entry.get("operation")
        if isinstance(operation, str) or operation is None:
            if operation not in ("Apply", "Update"):
                causes.append(_invalid(f"{at}.operation", operation or "", "must be `Apply` or `Update`"))
        fields_type = entry.get("fieldsType")
        if isinstance(fields_type, str) and fields_type and fields_type != "FieldsV1":
            causes.append(_invalid(f"{at}.fieldsType", fields_type, "must be `FieldsV1`"))
        manager = entry.get("manager")
        if isinstance(manager, str):
            if len(manager.encode()) > FIELD_MANAGER_MAX_LENGTH:
                causes.append(Cause("FieldValueTooLong",
                                    f"Too long: may not be more than {FIELD_MANAGER_MAX_LENGTH} bytes", f"{at}.manager"))
            for pos, ch in _unprintable(manager):
                causes.append(_invalid(f"{at}.manager", manager,
                                       f"invalid character U+{ord(ch):04X} (at position {pos})"))
        subresource = entry.get("subresource")
        if isinstance(subresource, str) and len(subresource.encode()) > MAX_SUBRESOURCE_NAME_LENGTH:
            causes.append(Cause("FieldValueTooLong",
                                f"Too long: may not be more than {MAX_SUBRESOURCE_NAME_LENGTH} bytes",
                                f"{at}.subresource"))
        fields = entry.get("fieldsV1")
        if fields is not None:
            try:
                _decode_fields_cached(fields)
            except FieldsV1Error as e:
                causes.append(Cause("FieldValueInvalid", f"Invalid value: {go_json(fields)}: {e}", f"{at}.fieldsV1"))
    return causes
