"""Validation of custom resources against their CRDs, as apiextensions-apiserver does it.

Why this exists: a custom resource is checked against its CRD's structural schema
(types, required fields, enums, patterns, minimums, list sets) and then against the
schema's ``x-kubernetes-validations`` CEL rules, with Kubernetes' messages
(``spec.source: Required value``, ``deletionPolicy: Unsupported value: "Foo": supported
values: "Delete", "Retain"``, ``spec.source: Invalid value: "object": exactly one of ...``).
Wrong JSON types of a custom resource are 422 errors (the body is decoded unstructured),
unlike the 400 of a built-in kind.  The snapshot CRDs express the old validation
webhook's rules (exactly one source, immutable source, non-empty class name) as CEL;
the small CEL subset they and orlop's own CRD use is evaluated here.

The entry points are the ``CREATE`` / ``UPDATE`` / ``STATUS_UPDATE`` tables that
validation.py merges into its per-kind tables.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import Any

from ..errors import Cause
from . import crd

__all__ = ["CREATE", "STATUS_UPDATE", "UPDATE", "RuleError", "compile_rule", "validate_custom_resource"]

# A validation rule whose evaluation is blocked by these errors is not run (hasBlockingErr).
_BLOCKING = {"FieldValueNotSupported", "FieldValueRequired", "FieldValueTooLong", "FieldValueTooMany",
             "FieldValueTypeInvalid"}
_NOT_CHECKED = Cause("FieldValueInvalid", 'Invalid value: "null": some validation rules were not checked because '
                     "the object was invalid; correct the existing errors to complete validation", "<nil>")


def _v() -> Any:
    from . import validation
    return validation


# --------------------------------------------------------------------------- structural schema

def _type_ok(t: str, value: Any) -> bool:
    if t == "string":
        return isinstance(value, str)
    if t == "boolean":
        return isinstance(value, bool)
    if t == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if t == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if t == "object":
        return isinstance(value, dict)
    if t == "array":
        return isinstance(value, list)
    return True


def _date_time_ok(s: str) -> bool:
    try:
        datetime.datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return "T" in s or "t" in s or " " in s


def _schema_errors(schema: dict[str, Any], value: Any, path: str, out: list[Cause], root: bool = False) -> None:
    v = _v()
    if value is None:
        if not schema.get("nullable") and schema.get("type"):
            out.append(v._type_invalid(path, "null", schema["type"]))
        return
    t = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        if not (_type_ok("integer", value) or isinstance(value, str)):
            out.append(v._type_invalid(path, v._jtype(value), "integer,string"))
            return
    elif t and not _type_ok(t, value):
        out.append(v._type_invalid(path, v._jtype(value), t))
        return
    if "enum" in schema and value not in schema["enum"]:
        out.append(v.not_supported(path, value, [str(e) for e in schema["enum"]]))
    if isinstance(value, str):
        pattern = schema.get("pattern")
        if pattern and re.search(pattern, value) is None:
            out.append(v.invalid(path, value, f"{path} in body should match '{pattern}'"))
        if schema.get("format") == "date-time" and not _date_time_ok(value):
            out.append(v._c(v.TYPE_INVALID, path, f"Invalid value: {v.gov(value)}: {path} in body must be of "
                                                  f"type date-time: {v.gov(value)}"))
        max_len = schema.get("maxLength")
        if isinstance(max_len, int) and len(value) > max_len:
            out.append(v.too_long(path, max_len))
    if isinstance(value, int | float) and not isinstance(value, bool):
        minimum = schema.get("minimum")
        if minimum is not None and value < minimum:
            out.append(v.invalid(path, value, f"{path} in body should be greater than or equal to {minimum}"))
        maximum = schema.get("maximum")
        if maximum is not None and value > maximum:
            out.append(v.invalid(path, value, f"{path} in body should be less than or equal to {maximum}"))
    if isinstance(value, dict):
        for name in schema.get("required") or ():
            if name not in value:
                out.append(v.required(v.child(path, name)))
        props = schema.get("properties") or {}
        addl = schema.get("additionalProperties")
        for name, sub in value.items():
            if root and name == "metadata":
                continue
            if name in props:
                _schema_errors(props[name], sub, v.child(path, name), out)
            elif isinstance(addl, dict):
                _schema_errors(addl, sub, v.child(path, name), out)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                _schema_errors(items, item, v.index(path, i), out)
        list_type = schema.get("x-kubernetes-list-type")
        if list_type == "set":
            seen: list[Any] = []
            for i, item in enumerate(value):
                if item in seen:
                    out.append(v.duplicate(v.index(path, i), item))
                seen.append(item)
        elif list_type == "map":
            keys = schema.get("x-kubernetes-list-map-keys") or []
            seen_keys: list[tuple[Any, ...]] = []
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    k = tuple(item.get(key) for key in keys)
                    if k in seen_keys:
                        out.append(v.duplicate(v.index(path, i), {key: item.get(key) for key in keys}))
                    seen_keys.append(k)


# --------------------------------------------------------------------------- the CEL subset

class RuleError(Exception):
    """A rule outside the CEL subset orlop evaluates, or a failed evaluation."""


_TOKEN = re.compile(r"\s*(\|\||&&|==|!=|>=|<=|[()!<>.,]|'[^']*'|\"[^\"]*\"|[A-Za-z_][A-Za-z0-9_]*|[0-9]+)")
_MISSING = object()


def _tokens(rule: str) -> list[str]:
    out, pos = [], 0
    rule = rule.strip()
    while pos < len(rule):
        m = _TOKEN.match(rule, pos)
        if m is None:
            raise RuleError(f"cannot parse rule {rule!r} at {pos}")
        out.append(m.group(1))
        pos = m.end()
    return out


Node = Callable[[Any, Any], Any]


class _Parser:
    """Recursive descent over: || && ! == != >= > <= < ( ) has() size() duration(), self/oldSelf field paths."""

    def __init__(self, rule: str):
        self.toks = _tokens(rule)
        self.i = 0
        self.uses_old = False

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, want: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (want is not None and tok != want):
            raise RuleError(f"expected {want!r}, got {tok!r}")
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.or_()
        if self.peek() is not None:
            raise RuleError(f"unexpected {self.peek()!r}")
        return node

    def or_(self) -> Node:
        left = self.and_()
        while self.peek() == "||":
            self.take()
            right = self.and_()
            left = (lambda a, b: lambda s, o: bool(a(s, o)) or bool(b(s, o)))(left, right)
        return left

    def and_(self) -> Node:
        left = self.unary()
        while self.peek() == "&&":
            self.take()
            right = self.unary()
            left = (lambda a, b: lambda s, o: bool(a(s, o)) and bool(b(s, o)))(left, right)
        return left

    def unary(self) -> Node:
        if self.peek() == "!":
            self.take()
            inner = self.unary()
            return lambda s, o: not inner(s, o)
        return self.compare()

    def compare(self) -> Node:
        left = self.primary()
        op = self.peek()
        if op in ("==", "!=", ">=", ">", "<=", "<"):
            self.take()
            right = self.primary()
            ops: dict[str, Callable[[Any, Any], bool]] = {
                "==": lambda a, b: a == b, "!=": lambda a, b: a != b, ">=": lambda a, b: a >= b,
                ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b}
            fn = ops[op]
            return lambda s, o: fn(left(s, o), right(s, o))
        return left

    def path(self) -> tuple[str, list[str]]:
        root = self.take()
        if root not in ("self", "oldSelf"):
            raise RuleError(f"unknown identifier {root!r}")
        if root == "oldSelf":
            self.uses_old = True
        fields = []
        while self.peek() == ".":
            self.take()
            name = self.take()
            m = re.fullmatch(r"__([A-Za-z0-9_]+)__", name)   # CEL escapes reserved words: __namespace__
            fields.append(m.group(1) if m else name)
        return root, fields

    @staticmethod
    def _resolve(root: str, fields: list[str], s: Any, o: Any) -> Any:
        cur = s if root == "self" else o
        for f in fields:
            if not isinstance(cur, dict) or f not in cur:
                return _MISSING
            cur = cur[f]
        return cur

    def primary(self) -> Node:
        tok = self.peek()
        if tok == "(":
            self.take()
            node = self.or_()
            self.take(")")
            return node
        if tok is not None and tok[:1] in ("'", '"'):
            self.take()
            lit = tok[1:-1]
            return lambda s, o: lit
        if tok is not None and tok.isdigit():
            self.take()
            num = int(tok)
            return lambda s, o: num
        if tok in ("has", "size", "duration"):
            self.take()
            self.take("(")
            if tok == "has":
                root, fields = self.path()
                self.take(")")
                if not fields:
                    raise RuleError("has() needs a field")
                return lambda s, o: self._resolve(root, fields, s, o) is not _MISSING
            arg = self.primary()
            self.take(")")
            if tok == "size":
                return lambda s, o: len(_present(arg(s, o)))
            return lambda s, o: _duration(arg(s, o))
        root, fields = self.path()
        return lambda s, o: _present(self._resolve(root, fields, s, o))


def _present(v: Any) -> Any:
    if v is _MISSING:
        raise RuleError("no such key")
    return v


def _duration(v: Any) -> int:
    from ..goduration import parse_duration
    try:
        return parse_duration(_present(v))
    except ValueError as e:
        raise RuleError(str(e)) from None


_compiled: dict[str, tuple[Node, bool]] = {}


def compile_rule(rule: str) -> tuple[Node, bool]:
    """(evaluate(self, oldSelf) -> bool, is a transition rule); RuleError when outside the subset."""
    hit = _compiled.get(rule)
    if hit is None:
        p = _Parser(" ".join(rule.split()))
        hit = (p.parse(), p.uses_old)
        _compiled[rule] = hit
    return hit


def _type_name(schema: dict[str, Any], value: Any) -> str:
    return str(schema.get("type") or _v()._jtype(value))


def _rule_errors(schema: dict[str, Any], value: Any, old: Any, path: str, out: list[Cause],
                 root: bool = False) -> None:
    """x-kubernetes-validations of this node, then of its children (old values correlated by key)."""
    v = _v()
    for rule in schema.get("x-kubernetes-validations") or ():
        fn, transition = compile_rule(rule["rule"])
        if transition and old is _MISSING:
            continue
        try:
            ok = bool(fn(value, None if old is _MISSING else old))
        except (RuleError, TypeError):
            ok = False
        if not ok:
            out.append(v.invalid(path, v.GoRaw(f'"{_type_name(schema, value)}"'),
                                 rule.get("message") or f"failed rule: {rule['rule']}"))
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for name, sub in value.items():
            if (root and name == "metadata") or name not in props:
                continue
            old_sub = old.get(name, _MISSING) if isinstance(old, dict) else _MISSING
            _rule_errors(props[name], sub, old_sub, v.child(path, name), out)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                _rule_errors(items, item, _MISSING, v.index(path, i), out)


def validate_custom_resource(kind: str, obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    """Schema errors, then (unless one of them blocks) the CEL rules' errors."""
    definition = crd.by_kind(kind)
    if definition is None:
        return []
    out: list[Cause] = []
    _schema_errors(definition.schema, obj, "", out, root=True)
    if any(c.reason in _BLOCKING for c in out):
        if _has_rules(definition.schema):
            out.append(_NOT_CHECKED)
        return out
    _rule_errors(definition.schema, obj, old if old is not None else _MISSING, "", out, root=True)
    return out


def _has_rules(schema: Any) -> bool:
    if isinstance(schema, dict):
        if schema.get("x-kubernetes-validations"):
            return True
        return any(_has_rules(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_has_rules(v) for v in schema)
    return False


# --------------------------------------------------------------------------- validation.py's tables

def _create(kind: str) -> Callable[[Any, dict[str, Any]], list[Cause]]:
    def check(c: Any, obj: dict[str, Any]) -> list[Cause]:
        v = _v()
        return v.validate_object_meta(c, obj, v.name_is_dns_subdomain) + validate_custom_resource(kind, obj, None)
    return check


def _update(kind: str) -> Callable[[Any, dict[str, Any], dict[str, Any]], list[Cause]]:
    def check(c: Any, obj: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        return validate_custom_resource(kind, obj, old)
    return check


def _status_update(kind: str) -> Callable[[Any, dict[str, Any], dict[str, Any]], list[Cause]]:
    def check(c: Any, obj: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        return _v().validate_object_meta_update(c, obj, old) + validate_custom_resource(kind, obj, old)
    return check


CREATE = {kind: _create(kind) for kind in crd.crds()}
UPDATE = {kind: _update(kind) for kind in crd.crds()}
STATUS_UPDATE = {kind: _status_update(kind) for kind in crd.crds() if crd.crds()[kind].status}
