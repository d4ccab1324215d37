"""The three PATCH formats Kubernetes accepts: JSON merge, JSON patch and strategic merge.

Why this exists: kubectl's default ``patch`` and client-side ``apply`` send strategic merge
patches whose result depends on each list's merge key and patch strategy (and on directives such
as ``$setElementOrder``); scripts and controllers send RFC 7386 merge patches and RFC 6902 JSON
patches.  The results (including element order) and the errors must match kube-apiserver's,
which runs ``k8s.io/apimachinery/pkg/util/strategicpatch`` and ``evanphx/json-patch``.  The
strategic merge here follows the apply half of strategicpatch step by step, reading the list
metadata from :mod:`orlop.registry.schema`.

None of the functions mutate their inputs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import jsonpatch

from orlop import errors
from orlop.errors import StatusError
from orlop.registry import schema

GVK = tuple[str, str, str]
# field path (list items implicit) -> patch metadata of that field, None when unknown
MetaLookup = Callable[[tuple[str, ...]], "schema.ListMeta | None"]

MAX_JSON_PATCH_OPERATIONS = 10000

_DIRECTIVE = "$patch"
_DELETE = "delete"
_REPLACE = "replace"
_MERGE = "merge"
_RETAIN_KEYS = "retainKeys"
_RETAIN_KEYS_DIRECTIVE = "$retainKeys"
_DELETE_PRIMITIVE_PREFIX = "$deleteFromPrimitiveList"
_SET_ORDER_PREFIX = "$setElementOrder"

# strategicpatch/mergepatch error texts; the patch handler answers the first group with 400 and
# the second with 422 (interpretStrategicMergePatchError).
_ERR_PRIMITIVE_LIST = "invalid patch format of primitive list"
_ERR_RETAIN_KEYS = "invalid patch format of retainKeys"
_ERR_SET_ORDER = "invalid patch format of setElementOrder list"
_ERR_LIST_OF_LISTS = "lists of lists are not supported"

_JSON_PATCH_REJECTED = "the server rejected our request due to an error in our request"


# --- JSON merge patch (RFC 7386) -----------------------------------------------------------------------

def json_merge_patch(original: dict[str, Any], patch: object) -> dict[str, Any]:
    """Apply an RFC 7386 merge patch to an object.

    A patch that is not a JSON object cannot patch an object: 400 ``Invalid JSON Patch``, as the
    apiserver answers (evanphx/json-patch ``ErrBadJSONPatch``).
    """
    if not isinstance(patch, dict):
        raise errors.bad_request("Invalid JSON Patch")
    return _merge_object(copy.deepcopy(original) if isinstance(original, dict) else {}, patch)


def _merge_object(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            target[key] = _merge_object(current if isinstance(current, dict) else {}, value)
        else:
            target[key] = _prune_nulls(copy.deepcopy(value))
    return target


def _prune_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune_nulls(v) for v in value]
    return value


# --- JSON patch (RFC 6902) -----------------------------------------------------------------------------

_GO_JSON_KIND = {dict: "object", list: "array", str: "string", bool: "bool", int: "number", float: "number"}


def json_patch(original: dict[str, Any], ops: object) -> dict[str, Any]:
    """Apply an RFC 6902 JSON patch.

    As kube-apiserver: a body that is not a list of objects is 400 BadRequest; more than 10000
    operations is 413; any operation that does not apply (failed ``test``, missing path, unknown
    op) is 422 Invalid with the generic message kubectl prints as
    ``The request is invalid: the server rejected our request due to an error in our request``.
    """
    if ops is None:
        ops = []
    if not isinstance(ops, list):
        kind = _GO_JSON_KIND.get(type(ops), "value")
        raise errors.bad_request(f"json: cannot unmarshal {kind} into Go value of type jsonpatch.Patch")
    for op in ops:
        if not isinstance(op, dict):
            kind = "null" if op is None else _GO_JSON_KIND.get(type(op), "value")
            if op is None:
                continue  # Go decodes null into an empty operation, which then fails to apply
            raise errors.bad_request(f"json: cannot unmarshal {kind} into Go value of type jsonpatch.Operation")
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise errors.too_large(
            f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}")
    if any(op is None for op in ops):
        raise _json_patch_rejected()
    try:
        result = jsonpatch.JsonPatch(copy.deepcopy(ops)).apply(copy.deepcopy(original), in_place=True)
    except Exception as exc:  # noqa: BLE001 - every failure to apply is the client's patch's fault
        raise _json_patch_rejected() from exc
    if not isinstance(result, dict):
        raise errors.bad_request("json: cannot unmarshal non-object into Go value of type map[string]interface {}")
    return result


def _json_patch_rejected() -> StatusError:
    return StatusError(422, "Invalid", _JSON_PATCH_REJECTED)


# --- strategic merge patch -----------------------------------------------------------------------------

class _SMPError(Exception):
    """A strategicpatch failure; ``code`` is the HTTP status the apiserver answers."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.code = code


def strategic_merge_patch(original: dict[str, Any], patch: dict[str, Any], gvk: GVK) -> dict[str, Any]:
    """Apply a Kubernetes strategic merge patch to an object of kind ``gvk``.

    Kinds without a schema are patched as RFC 7386 merge patches.  Malformed patches and
    directives raise StatusError 400 BadRequest (422 Invalid for lists of lists), with
    strategicpatch's messages.
    """
    if not isinstance(patch, dict):
        kind = "null" if patch is None else _GO_JSON_KIND.get(type(patch), "value")
        raise errors.bad_request(f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}")
    gvk = (gvk[0], gvk[1], gvk[2])
    if not schema.has_schema(gvk):
        return json_merge_patch(original, patch)
    return apply_strategic_merge(original, patch, lambda path: schema.patch_meta(gvk, path))


def apply_strategic_merge(original: dict[str, Any], patch: dict[str, Any], lookup: MetaLookup) -> dict[str, Any]:
    """Strategic merge with the field metadata supplied by ``lookup`` (used by tests and by
    :func:`strategic_merge_patch`)."""
    work = copy.deepcopy(original) if isinstance(original, dict) else {}
    try:
        return _StrategicMerge(lookup).merge_map(work, copy.deepcopy(patch), ())
    except _SMPError as exc:
        if exc.code == 422:
            raise StatusError(422, "Invalid", str(exc)) from None
        raise errors.bad_request(str(exc)) from None


def _go_type(v: Any) -> str:
    if v is None:
        return "<nil>"
    return {dict: "map[string]interface {}", list: "[]interface {}", str: "string", bool: "bool",
            int: "int64", float: "float64"}.get(type(v), type(v).__name__)


def _go_fmt(v: Any) -> str:
    """Roughly Go's %v, for error messages."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_go_fmt(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, list):
        return "[" + " ".join(_go_fmt(x) for x in v) + "]"
    return str(v)


def _bad_arg_type(expected: str, actual: Any) -> _SMPError:
    return _SMPError(f"expected a {expected}, but received a {_go_type(actual)}")


def _no_merge_key(m: dict[str, Any], key: str) -> _SMPError:
    return _SMPError(f"map: {_go_fmt(m)} does not contain declared merge key: {key}")


def _bad_patch_type(t: Any, m: dict[str, Any]) -> _SMPError:
    return _SMPError(f"unknown patch type: {_go_fmt(t)} in map: {_go_fmt(m)}")


def _same(a: Any, b: Any) -> bool:
    """Go interface equality of decoded JSON scalars (type and value)."""
    return type(a) is type(b) and a == b


def _extract_key(key: str, prefix: str) -> str:
    parts = key.split("/", 1)
    if len(parts) <= 1 or parts[0] != prefix:
        if prefix == _DELETE_PRIMITIVE_PREFIX:
            raise _SMPError(_ERR_PRIMITIVE_LIST)
        raise _SMPError(_ERR_SET_ORDER)
    return parts[1]


def _retain_keys_strategy(strategy: str | None) -> str:
    """The list/map strategy once ``retainKeys`` is taken out (extractRetainKeysPatchStrategy)."""
    parts = strategy.split(",") if strategy else []
    if not parts:
        return ""
    if len(parts) == 1:
        return "" if parts[0] == _RETAIN_KEYS else parts[0]
    if len(parts) == 2:
        if parts[0] == _RETAIN_KEYS:
            return parts[1]
        if parts[1] == _RETAIN_KEYS:
            return parts[0]
    raise _SMPError(f"unexpected patch strategy: {parts}")


def _remove_directives(obj: Any) -> tuple[Any, bool]:
    """Drop maps carrying ``$patch`` (and the directive keys) from a value taken from the patch."""
    if isinstance(obj, dict):
        if _DIRECTIVE in obj:
            return None, False
        out = {}
        for k, v in obj.items():
            if k == _RETAIN_KEYS_DIRECTIVE or k.startswith((_SET_ORDER_PREFIX, _DELETE_PRIMITIVE_PREFIX)):
                continue
            nv, keep = _remove_directives(v)
            if keep:
                out[k] = nv
        return out, True
    if isinstance(obj, list):
        res = []
        for v in obj:
            nv, keep = _remove_directives(v)
            if keep:
                res.append(nv)
        return res, True
    return obj, True


def _discard_nulls(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _discard_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_discard_nulls(x) for x in v]
    return v


def _verbatim(v: Any) -> tuple[Any, bool]:
    """A patch value stored as is: nulls discarded (IgnoreUnmatchedNulls) and directives removed."""
    return _remove_directives(_discard_nulls(v))


def _category(v: Any) -> str:
    if isinstance(v, dict):
        return "map"
    if isinstance(v, list):
        return "slice"
    return "scalar"


def _element_type(*lists: list[Any] | None) -> type | None:
    """sliceElementType: the one Python type of all items; errors like strategicpatch."""
    prev: type | None = None
    seen = False
    for lst in lists:
        for v in lst or []:
            cur = type(v)
            if not seen:
                seen = True
                prev = cur
                if cur is list:
                    raise _SMPError(_ERR_LIST_OF_LISTS, 422)
            elif cur is not prev:
                raise _SMPError(f"list element types are not identical: {_go_fmt([x for x in lists])}")
    if not seen:
        raise _SMPError("no elements in any of the given slices")
    return prev


def _index(items: list[Any], value: Any, merge_key: str, is_map: bool) -> int:
    def key_of(item: Any) -> Any:
        if is_map:
            return item.get(merge_key) if isinstance(item, dict) else None
        return item

    want = key_of(value)
    for i, v in enumerate(items):
        if _same(key_of(v), want):
            return i
    return -1


def _stable_sort(items: list[Any], order: list[Any], merge_key: str, is_map: bool) -> list[Any]:
    """Go's sort.SliceStable (insertion sort) with normalizeSliceOrder's comparator."""
    data = list(items)

    def less(a: Any, b: Any) -> bool:
        ia = _index(order, a, merge_key, is_map)
        if ia >= 0:
            ib = _index(order, b, merge_key, is_map)
            if ib >= 0:
                return ia < ib
        return True

    for i in range(1, len(data)):
        j = i
        while j > 0 and less(data[j], data[j - 1]):
            data[j], data[j - 1] = data[j - 1], data[j]
            j -= 1
    return data


def _validate_merge_keys(merge_key: str, *lists: list[Any]) -> None:
    for lst in lists:
        for item in lst:
            if not isinstance(item, dict):
                raise _bad_arg_type("map[string]interface {}", item)
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)


def _normalize_slice_order(to_sort: list[Any], order: list[Any], merge_key: str, is_map: bool) -> list[Any]:
    to_delete: list[Any] = []
    if is_map:
        _validate_merge_keys(merge_key, to_sort, order)
        keep = [v for v in to_sort if not (v.get(_DIRECTIVE) == _DELETE)]
        to_delete = [v for v in to_sort if v.get(_DIRECTIVE) == _DELETE]
        to_sort = keep
    return _stable_sort(to_sort, order, merge_key, is_map) + to_delete


def _merge_sorted(left: list[Any], right: list[Any], server_order: list[Any], merge_key: str,
                  is_map: bool) -> list[Any]:
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = _index(server_order, left[i], merge_key, is_map)
            ri = _index(server_order, right[j], merge_key, is_map)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _normalize_element_order(patch: list[Any], server_only: list[Any], patch_order: list[Any],
                             server_order: list[Any], merge_key: str, is_map: bool) -> list[Any]:
    patch = _normalize_slice_order(patch, patch_order, merge_key, is_map)
    server_only = _normalize_slice_order(server_only, server_order, merge_key, is_map)
    return _merge_sorted(server_only, patch, server_order, merge_key, is_map)


def _partition_primitives(items: list[Any], by: list[Any]) -> tuple[list[Any], list[Any]]:
    in_patch, server_only = [], []
    for v in items:
        (in_patch if any(_same(v, b) for b in by) else server_only).append(v)
    return in_patch, server_only


def _find_by_key(items: list[Any], key: str, value: Any) -> int:
    for i, v in enumerate(items):
        if not isinstance(v, dict):
            raise _SMPError(f"value for key {i} is not a map.")
        if key in v and _same(v[key], value):
            return i
    return -1


def _partition_maps(items: list[Any], by: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    in_patch, server_only = [], []
    for v in items:
        if not isinstance(v, dict):
            raise _bad_arg_type("map[string]interface {}", v)
        if merge_key not in v:
            raise _no_merge_key(v, merge_key)
        (in_patch if _find_by_key(by, merge_key, v[merge_key]) >= 0 else server_only).append(v)
    return in_patch, server_only


def _dedupe_scalars(s: list[Any]) -> list[Any]:
    """deduplicateScalars, including the order it leaves."""
    s = list(s)
    length = len(s) - 1
    i = 0
    while i < length:
        j = i + 1
        while j <= length:
            if _same(s[i], s[j]):
                s[j] = s[length]
                s = s[:length]
                length -= 1
                j -= 1
            j += 1
        i += 1
    return s


class _StrategicMerge:
    """mergeMap / mergeSlice of strategicpatch, with the schema looked up by field path."""

    def __init__(self, lookup: MetaLookup) -> None:
        self.lookup = lookup

    def _meta(self, path: tuple[str, ...]) -> tuple[str, str]:
        """(strategy without retainKeys, merge key) of the field at ``path``."""
        meta = self.lookup(path)
        if meta is None:
            return "", ""
        return _retain_keys_strategy(meta.patch_strategy), meta.merge_key or ""

    # -- maps --

    def merge_map(self, original: dict[str, Any], patch: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
        if _DIRECTIVE in patch:
            directive = patch[_DIRECTIVE]
            if directive == _REPLACE:
                del patch[_DIRECTIVE]
                value, _ = _verbatim(patch)
                return value  # type: ignore[no-any-return]
            if directive == _DELETE:
                return {}
            raise _bad_patch_type(directive, patch)

        self._apply_retain_keys(original, patch)
        self._merge_set_element_order(original, patch, path)

        for key in list(patch.keys()):
            if key not in patch:
                continue
            value = patch[key]
            is_delete_list = False
            if key.startswith(_DELETE_PRIMITIVE_PREFIX):
                key = _extract_key(key, _DELETE_PRIMITIVE_PREFIX)
                is_delete_list = True

            if value is None:
                original.pop(key, None)
                continue

            if key not in original:
                if not is_delete_list:
                    v, keep = _verbatim(value)
                    if keep:
                        original[key] = v
                continue

            if _category(original[key]) != _category(value):
                if not is_delete_list:
                    v, keep = _verbatim(value)
                    if keep:
                        original[key] = v
                    else:
                        del original[key]
                continue

            sub = path + (key,)
            cat = _category(value)
            if cat == "map":
                strategy, _ = self._meta(sub)
                if strategy == _REPLACE:
                    original[key] = _verbatim(value)[0]
                else:
                    original[key] = self.merge_map(original[key], value, sub)
            elif cat == "slice":
                strategy, merge_key = self._meta(sub)
                original[key] = self.merge_slice_handler(original[key], value, sub, strategy, merge_key,
                                                         is_delete_list)
            else:
                original[key] = value
        return original

    def _apply_retain_keys(self, original: dict[str, Any], patch: dict[str, Any]) -> None:
        if _RETAIN_KEYS_DIRECTIVE not in patch:
            return
        retain = patch.pop(_RETAIN_KEYS_DIRECTIVE)
        if not isinstance(retain, list):
            raise _SMPError(_ERR_RETAIN_KEYS)
        keep = set(k for k in retain if isinstance(k, str))
        for k, v in patch.items():
            if v is None or k.startswith((_DELETE_PRIMITIVE_PREFIX, _SET_ORDER_PREFIX)):
                continue
            if k not in keep:
                raise _SMPError(_ERR_RETAIN_KEYS)
        for k in list(original):
            if k not in keep:
                del original[k]

    def _merge_set_element_order(self, original: dict[str, Any], patch: dict[str, Any],
                                 path: tuple[str, ...]) -> None:
        for key in list(patch.keys()):
            if not key.startswith(_SET_ORDER_PREFIX) or key not in patch:
                continue
            order = patch.pop(key)
            if not isinstance(order, list):
                raise _bad_arg_type("[]interface {}", order)
            field = _extract_key(key, _SET_ORDER_PREFIX)
            found_original, found_patch = field in original, field in patch
            original_list = original.get(field)
            patch_list = patch.get(field)
            if found_original and not isinstance(original_list, list):
                raise _bad_arg_type("[]interface {}", original_list)
            if found_patch and not isinstance(patch_list, list):
                raise _bad_arg_type("[]interface {}", patch_list)
            sub = path + (field,)
            strategy, merge_key = self._meta(sub)
            self._validate_set_order(patch_list if found_patch else None, order, merge_key)

            if found_original and not found_patch:
                merged = original_list
            elif found_patch and not found_original:
                merged = _verbatim(patch_list)[0]
            elif found_original and found_patch:
                merged = self.merge_slice_handler(original_list, patch_list, sub, strategy, merge_key, False)
            else:
                continue

            assert isinstance(merged, list)
            if merge_key:
                patch_items, server_only = _partition_maps(merged, order, merge_key)
            else:
                patch_items, server_only = _partition_primitives(merged, order)
            if not (original_list or patch_list):
                original[field] = merged
                patch.pop(field, None)
                continue
            is_map = _element_type(original_list, patch_list) is dict
            original[field] = _normalize_element_order(patch_items, server_only, order, original_list or [],
                                                       merge_key, is_map)
            patch.pop(field, None)

    @staticmethod
    def _validate_set_order(patch_list: list[Any] | None, order: list[Any], merge_key: str) -> None:
        if not order or not patch_list:
            return
        if merge_key:
            non_delete = [v for v in patch_list if not (isinstance(v, dict) and v.get(_DIRECTIVE) == _DELETE)]
            for v in patch_list:
                if not isinstance(v, dict):
                    raise _bad_arg_type("map[string]interface {}", v)
        else:
            non_delete = patch_list
        pi = oi = 0
        while pi < len(non_delete) and oi < len(order):
            item = non_delete[pi]
            if isinstance(item, dict) and _DIRECTIVE in item:
                pi += 1
                continue
            if _merge_key_equal(item, order[oi], merge_key):
                pi += 1
            oi += 1
        if pi < len(non_delete) and oi >= len(order):
            raise _SMPError(f"The order in patch list:\n{_go_fmt(patch_list)}\n doesn't match "
                            f"{_SET_ORDER_PREFIX} list:\n{_go_fmt(order)}\n")

    # -- lists --

    def merge_slice_handler(self, original: Any, patch: Any, path: tuple[str, ...], strategy: str,
                            merge_key: str, is_delete_list: bool) -> list[Any]:
        if not isinstance(original, list):
            raise _bad_arg_type("[]interface {}", original)
        if not isinstance(patch, list):
            raise _bad_arg_type("[]interface {}", patch)
        if strategy == _MERGE or is_delete_list:
            return self.merge_slice(original, patch, path, merge_key, is_delete_list)
        return _verbatim(patch)[0]  # type: ignore[no-any-return]

    def merge_slice(self, original: list[Any], patch: list[Any], path: tuple[str, ...], merge_key: str,
                    is_delete_list: bool) -> list[Any]:
        if not original and not patch:
            return original
        is_map = _element_type(original, patch) is dict
        if not is_map:
            if is_delete_list:
                return [v for v in original if not any(_same(v, d) for d in patch)]
            merged = _dedupe_scalars(original + patch)
        else:
            if not merge_key:
                raise _SMPError(f"cannot merge lists without merge key for {'.'.join(path)}")
            original, patch = self._special_elements(original, patch, merge_key)
            merged = self._merge_without_special(original, patch, path, merge_key)

        if not merge_key:
            patch_items, server_only = _partition_primitives(merged, patch)
        else:
            patch_items, server_only = _partition_maps(merged, patch, merge_key)
        return _normalize_element_order(patch_items, server_only, patch, original, merge_key, is_map)

    @staticmethod
    def _special_elements(original: list[Any], patch: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
        plain: list[Any] = []
        replace = False
        for v in patch:
            if _DIRECTIVE not in v:
                plain.append(v)
                continue
            directive = v[_DIRECTIVE]
            if directive == _DELETE:
                if merge_key not in v:
                    raise _no_merge_key(v, merge_key)
                while True:
                    idx = _find_by_key(original, merge_key, v[merge_key])
                    if idx < 0:
                        break
                    original = original[:idx] + original[idx + 1:]
            elif directive == _REPLACE:
                replace = True
            elif directive == _MERGE:
                raise _SMPError("merging lists cannot yet be specified in the patch")
            else:
                raise _bad_patch_type(directive, v)
        if replace:
            return [_verbatim(v)[0] for v in plain], []
        return original, plain

    def _merge_without_special(self, original: list[Any], patch: list[Any], path: tuple[str, ...],
                               merge_key: str) -> list[Any]:
        original = list(original)
        for v in patch:
            if merge_key not in v:
                raise _no_merge_key(v, merge_key)
            idx = _find_by_key(original, merge_key, v[merge_key])
            if idx >= 0:
                original[idx] = self.merge_map(original[idx], v, path)
            else:
                nv, keep = _verbatim(v)
                if keep:
                    original.append(nv)
        return original


def _merge_key_equal(left: Any, right: Any, merge_key: str) -> bool:
    if not merge_key:
        return _same(left, right)
    if not isinstance(left, dict):
        raise _bad_arg_type("map[string]interface {}", left)
    if not isinstance(right, dict):
        raise _bad_arg_type("map[string]interface {}", right)
    if merge_key not in left:
        raise _no_merge_key(left, merge_key)
    if merge_key not in right:
        raise _no_merge_key(right, merge_key)
    return _same(left[merge_key], right[merge_key])
