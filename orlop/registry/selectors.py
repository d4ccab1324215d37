"""Label and field selectors: parsing, matching and the fields each kind exposes.

Why this exists: ``?labelSelector=`` and ``?fieldSelector=`` decide which objects a list or
watch returns, and clients depend on the details: ``kubectl describe`` finds a PV's events
with ``involvedObject.namespace=`` (an empty value must match events without a namespace),
kr8s repeats ``metadata.name=web`` twice, the Scale subresource reports the StatefulSet's
selector in its canonical string form ("app=web").  A malformed selector or an unsupported
field must fail with the same 400 message Kubernetes 1.32 gives (labels.Parse,
fields.ParseSelector, the per-kind field label conversion functions).

Matching semantics (as Kubernetes):
- An empty label selector string, or a metav1.LabelSelector with no matchLabels and no
  matchExpressions, matches everything.
- A *None* metav1.LabelSelector (``label_selector_from_dict(None)``) matches nothing.
- A field requirement on a field the object does not have compares against "".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import bad_request
from ..gofmt import go_quote
from ..jsonobj import is_int64
from .resources import RESOURCES
from .validation import is_qualified_name, is_valid_label_value

__all__ = [
    "LabelSelector", "Requirement", "check_field_selector", "convert_field_selector", "fields_match",
    "label_selector_from_dict", "parse_field_selector", "parse_label_selector", "selectable_fields",
]

# selection.Operator values
IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "in", "notin", "=", "==", "!="
EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN = "exists", "!", "gt", "lt"
_BINARY_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)
_VALID_OPERATORS = (*_BINARY_OPERATORS, EXISTS, DOES_NOT_EXIST)


class _SelectorError(Exception):
    """A parse or validation failure; its text is Kubernetes' error message."""


# Label key/value checks come from validation (apimachinery/pkg/util/validation).


def _go_string_slice(values: Sequence[str] | None) -> str:
    """Go's %#v of a []string."""
    if values is None:
        return "[]string(nil)"
    return "[]string{" + ", ".join(go_quote(v) for v in values) + "}"


def _invalid(path: str, bad_value: str, detail: str) -> str:
    """field.Invalid(path, value, detail).Error()."""
    return f"{path}: Invalid value: {bad_value}: {detail}"


def _aggregate(errors: list[str]) -> str:
    """utilerrors.Aggregate's message: one error as is, several as "[a, b]" (duplicates dropped)."""
    seen: list[str] = []
    for e in errors:
        if e not in seen:
            seen.append(e)
    return seen[0] if len(seen) == 1 else "[" + ", ".join(seen) + "]"


def _validate_key(key: str, path: str) -> str | None:
    errs = is_qualified_name(key)
    return _invalid(path, go_quote(key), "; ".join(errs)) if errs else None


# ------------------------------------------------------------------ label selectors

@dataclass(frozen=True)
class Requirement:
    """One label requirement: ``key op values`` (labels.Requirement)."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    @classmethod
    def new(cls, key: str, operator: str, values: Sequence[str] | None, path: str = "") -> Requirement:
        """labels.NewRequirement: validate and build; raises _SelectorError with Kubernetes' text."""
        errors: list[str] = []
        key_path = f"{path}.key" if path else "key"
        values_path = f"{path}.values" if path else "values"
        err = _validate_key(key, key_path)
        if err:
            errors.append(err)
        vals = list(values) if values is not None else []
        if operator in (IN, NOT_IN):
            if not vals:
                errors.append(_invalid(values_path, _go_string_slice(values),
                                       "for 'in', 'notin' operators, values set can't be empty"))
        elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
            if len(vals) != 1:
                errors.append(_invalid(values_path, _go_string_slice(values),
                                       "exact-match compatibility requires one single value"))
        elif operator in (EXISTS, DOES_NOT_EXIST):
            if vals:
                errors.append(_invalid(values_path, _go_string_slice(values),
                                       "values set must be empty for exists and does not exist"))
        elif operator in (GREATER_THAN, LESS_THAN):
            if len(vals) != 1:
                errors.append(_invalid(values_path, _go_string_slice(values),
                                       "for 'Gt', 'Lt' operators, exactly one value is required"))
            for i, v in enumerate(vals):
                if not re.fullmatch(r"[+-]?[0-9]+", v) or not is_int64(int(v)):
                    errors.append(_invalid(f"{values_path}[{i}]", go_quote(v),
                                           "for 'Gt', 'Lt' operators, the value must be an integer"))
        else:
            supported = ", ".join(go_quote(o) for o in _VALID_OPERATORS)
            op_path = f"{path}.operator" if path else "operator"
            errors.append(f"{op_path}: Unsupported value: {go_quote(operator)}: supported values: {supported}")
        for i, v in enumerate(vals):
            verrs = is_valid_label_value(v)
            if verrs:
                errors.append(_invalid(f"{values_path}[{i}][{key}]", go_quote(v), "; ".join(verrs)))
        if errors:
            raise _SelectorError(_aggregate(errors))
        return cls(key, operator, tuple(vals))

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op in (IN, EQUALS, DOUBLE_EQUALS):
            return self.key in labels and labels[self.key] in self.values
        if op in (NOT_IN, NOT_EQUALS):
            return self.key not in labels or labels[self.key] not in self.values
        if op == EXISTS:
            return self.key in labels
        if op == DOES_NOT_EXIST:
            return self.key not in labels
        if op in (GREATER_THAN, LESS_THAN):
            if self.key not in labels or len(self.values) != 1:
                return False
            try:
                have, want = int(labels[self.key]), int(self.values[0])
            except ValueError:
                return False
            return have > want if op == GREATER_THAN else have < want
        return False

    def __str__(self) -> str:
        op = self.operator
        prefix = "!" if op == DOES_NOT_EXIST else ""
        if op in (EXISTS, DOES_NOT_EXIST):
            return prefix + self.key
        sep = {EQUALS: "=", DOUBLE_EQUALS: "==", NOT_EQUALS: "!=", IN: " in ", NOT_IN: " notin ",
               GREATER_THAN: ">", LESS_THAN: "<"}.get(op, "")
        vals = self.values[0] if len(self.values) == 1 else ",".join(sorted(self.values))
        if op in (IN, NOT_IN):
            vals = f"({vals})"
        return f"{self.key}{sep}{vals}"


class LabelSelector:
    """A parsed label selector: the AND of its requirements, sorted by key (labels.Selector)."""

    def __init__(self, requirements: Iterable[Requirement] = (), *, nothing: bool = False) -> None:
        self.requirements: tuple[Requirement, ...] = tuple(sorted(requirements, key=lambda r: r.key))
        self.nothing = nothing

    @classmethod
    def everything(cls) -> LabelSelector:
        return cls()

    @classmethod
    def match_nothing(cls) -> LabelSelector:
        return cls(nothing=True)

    def empty(self) -> bool:
        """True when the selector does not restrict anything (labels.Selector.Empty)."""
        return not self.nothing and not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        have = labels or {}
        return all(r.matches(have) for r in self.requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """The one value ``key`` must have, if the selector pins it (``=``, ``==`` or a one-value ``in``)."""
        for r in self.requirements:
            if r.key == key:
                if r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1:
                    return r.values[0]
                return None
        return None

    def __str__(self) -> str:
        return "" if self.nothing else ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        return f"LabelSelector({str(self)!r}{', nothing=True' if self.nothing else ''})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, LabelSelector) and self.nothing == other.nothing
                and self.requirements == other.requirements)

    def __hash__(self) -> int:
        return hash((self.requirements, self.nothing))


# Lexer tokens (labels/selector.go)
_ERROR, _EOS, _CLOSE, _COMMA, _NOT, _DEQ, _EQ, _GT, _ID, _IN, _LT, _NEQ, _NOTIN, _OPEN = range(14)
_STRING_TO_TOKEN = {")": _CLOSE, ",": _COMMA, "!": _NOT, "==": _DEQ, "=": _EQ, ">": _GT, "in": _IN,
                    "<": _LT, "!=": _NEQ, "notin": _NOTIN, "(": _OPEN}
_SPECIAL = set("=!(),><")
_WHITESPACE = set(" \t\r\n")


def _lex(s: str) -> list[tuple[int, str]]:
    items: list[tuple[int, str]] = []
    pos, n = 0, len(s)

    def at(i: int) -> str:
        return s[i] if i < n else "\0"

    while True:
        while at(pos) in _WHITESPACE:
            pos += 1
        ch = at(pos)
        if ch == "\0":
            items.append((_EOS, ""))
            return items
        if ch in _SPECIAL:
            buf, last = "", (_ERROR, "")
            while at(pos) in _SPECIAL:
                buf += at(pos)
                pos += 1
                tok = _STRING_TO_TOKEN.get(buf)
                if tok is not None:
                    last = (tok, buf)
                elif last[0] != _ERROR:
                    pos -= 1
                    break
            if last[0] == _ERROR:
                items.append((_ERROR, f"error expected: keyword found '{buf}'"))
            else:
                items.append(last)
            continue
        start = pos
        while at(pos) not in _SPECIAL and at(pos) not in _WHITESPACE and at(pos) != "\0":
            pos += 1
        word = s[start:pos]
        items.append((_STRING_TO_TOKEN.get(word, _ID), word))


class _Parser:
    """labels.Parser: a recursive-descent parser over the lexed items."""

    def __init__(self, selector: str) -> None:
        self.items = _lex(selector)
        self.pos = 0

    def _token(self, index: int, values_context: bool) -> tuple[int, str]:
        tok, lit = self.items[index]
        if values_context and tok in (_IN, _NOTIN):
            tok = _ID
        return tok, lit

    def lookahead(self, values_context: bool = True) -> tuple[int, str]:
        return self._token(self.pos, values_context)

    def consume(self, values_context: bool = True) -> tuple[int, str]:
        self.pos += 1
        return self._token(self.pos - 1, values_context)

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self.lookahead()
            if tok in (_ID, _NOT):
                try:
                    reqs.append(self.parse_requirement())
                except _SelectorError as e:
                    raise _SelectorError(f"unable to parse requirement: {e}") from None
                t, lit2 = self.consume()
                if t == _EOS:
                    return reqs
                if t == _COMMA:
                    t2, lit3 = self.lookahead()
                    if t2 not in (_ID, _NOT):
                        raise _SelectorError(f"found '{lit3}', expected: identifier after ','")
                else:
                    raise _SelectorError(f"found '{lit2}', expected: ',' or 'end of string'")
            elif tok == _EOS:
                return reqs
            else:
                raise _SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def parse_requirement(self) -> Requirement:
        key, operator = self.parse_key_and_infer_operator()
        if operator in (EXISTS, DOES_NOT_EXIST):
            return Requirement.new(key, operator, [])
        operator = self.parse_operator()
        values = self.parse_values() if operator in (IN, NOT_IN) else self.parse_exact_value()
        return Requirement.new(key, operator, sorted(values))

    def parse_key_and_infer_operator(self) -> tuple[str, str]:
        operator = ""
        tok, lit = self.consume()
        if tok == _NOT:
            operator = DOES_NOT_EXIST
            tok, lit = self.consume()
        if tok != _ID:
            raise _SelectorError(f"found '{lit}', expected: identifier")
        err = _validate_key(lit, "<nil>")
        if err:
            raise _SelectorError(err)
        t, _ = self.lookahead()
        if t in (_EOS, _COMMA) and operator != DOES_NOT_EXIST:
            operator = EXISTS
        return lit, operator

    def parse_operator(self) -> str:
        tok, lit = self.consume(values_context=False)
        op = {_IN: IN, _EQ: EQUALS, _DEQ: DOUBLE_EQUALS, _GT: GREATER_THAN, _LT: LESS_THAN, _NOTIN: NOT_IN,
              _NEQ: NOT_EQUALS}.get(tok)
        if op is None:
            raise _SelectorError(f"found '{lit}', expected: {', '.join(_BINARY_OPERATORS)}")
        return op

    def parse_values(self) -> set[str]:
        tok, lit = self.consume()
        if tok != _OPEN:
            raise _SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead()
        if tok in (_ID, _COMMA):
            values = self.parse_identifiers_list()
            if self.consume()[0] != _CLOSE:
                raise _SelectorError(f"found '{lit}', expected: ')'")
            return values
        if tok == _CLOSE:
            self.consume()
            return {""}
        raise _SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

    def parse_identifiers_list(self) -> set[str]:
        values: set[str] = set()
        while True:
            tok, lit = self.consume()
            if tok == _ID:
                values.add(lit)
                tok2, lit2 = self.lookahead()
                if tok2 == _COMMA:
                    continue
                if tok2 == _CLOSE:
                    return values
                raise _SelectorError(f"found '{lit2}', expected: ',' or ')'")
            if tok == _COMMA:
                if not values:
                    values.add("")  # "(,"
                tok2, _ = self.lookahead()
                if tok2 == _CLOSE:
                    values.add("")  # ",)"
                    return values
                if tok2 == _COMMA:
                    values.add("")  # ",,"
                continue
            raise _SelectorError(f"found '{lit}', expected: ',', or identifier")

    def parse_exact_value(self) -> set[str]:
        tok, _ = self.lookahead()
        if tok in (_EOS, _COMMA):
            return {""}
        tok, lit = self.consume()
        if tok == _ID:
            return {lit}
        raise _SelectorError(f"found '{lit}', expected: identifier")


def parse_label_selector(selector: str) -> LabelSelector:
    """labels.Parse: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``, ``a>1``.

    An empty string selects everything.  Bad syntax raises a 400 BadRequest whose message is
    Kubernetes' (e.g. ``unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt``).
    """
    try:
        return LabelSelector(_Parser(selector).parse())
    except _SelectorError as e:
        raise bad_request(str(e)) from None


_LABEL_SELECTOR_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def label_selector_from_dict(selector: Mapping[str, Any] | None) -> LabelSelector:
    """metav1.LabelSelectorAsSelector for a ``{matchLabels, matchExpressions}`` dict.

    None matches nothing; a selector with no matchLabels and no matchExpressions matches
    everything.  An invalid selector raises a 400 BadRequest with Kubernetes' message.
    """
    if selector is None:
        return LabelSelector.match_nothing()
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return LabelSelector.everything()
    reqs: list[Requirement] = []
    try:
        for k, v in match_labels.items():
            reqs.append(Requirement.new(str(k), EQUALS, [str(v)]))
        for expr in expressions:
            op = _LABEL_SELECTOR_OPERATORS.get(expr.get("operator"))
            if op is None:
                raise _SelectorError(f"{go_quote(str(expr.get('operator') or ''))} is not a valid label "
                                     "selector operator")
            raw = expr.get("values")
            values = [str(v) for v in raw] if raw else None
            reqs.append(Requirement.new(str(expr.get("key") or ""), op, values))
    except _SelectorError as e:
        raise bad_request(str(e)) from None
    return LabelSelector(reqs)


# ------------------------------------------------------------------ field selectors

FieldRequirement = tuple[str, str, str]  # (field, "=" | "!=", value)


def _split_terms(selector: str) -> list[str]:
    if not selector:
        return []
    terms: list[str] = []
    start, in_slash = 0, False
    for i, c in enumerate(selector):
        if in_slash:
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c == ",":
            terms.append(selector[start:i])
            start = i + 1
    terms.append(selector[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op):]
    return None


def _unescape_value(s: str) -> str:
    if not any(c in s for c in "\\,="):
        return s
    out: list[str] = []
    in_slash = False
    for c in s:
        if in_slash:
            if c not in "\\,=":
                raise _SelectorError(f"invalid field selector: invalid escape sequence: \\{c}")
            out.append(c)
            in_slash = False
            continue
        if c == "\\":
            in_slash = True
        elif c in ",=":
            raise _SelectorError(f"invalid field selector: unescaped character in value: {ord(c)}")
        else:
            out.append(c)
    if in_slash:
        raise _SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def parse_field_selector(selector: str) -> list[FieldRequirement]:
    """fields.ParseSelector: comma-separated ``field=value`` / ``field==value`` / ``field!=value``.

    Values may escape ``\\``, ``,`` and ``=`` with a backslash.  Terms come back sorted as
    Kubernetes sorts them, with "==" normalized to "=".  Bad syntax raises a 400 BadRequest.
    """
    try:
        reqs: list[FieldRequirement] = []
        for part in sorted(_split_terms(selector)):
            if part == "":
                continue
            split = _split_term(part)
            if split is None:
                raise _SelectorError(f"invalid selector: '{selector}'; can't understand '{part}'")
            lhs, op, rhs = split
            reqs.append((lhs, "!=" if op == "!=" else "=", _unescape_value(rhs)))
        return reqs
    except _SelectorError as e:
        raise bad_request(str(e)) from None


_META_FIELDS = ("metadata.name", "metadata.namespace")

# Field label conversion functions of Kubernetes 1.32 (pkg/apis/core/v1/conversion.go): the
# fields each kind accepts in a field selector.  Kinds not listed use the default conversion.
_SUPPORTED_FIELDS: dict[str, tuple[str, ...]] = {
    "Pod": ("metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
            "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs",
            "status.nominatedNodeName", "spec.host"),
    "Node": ("metadata.name", "spec.unschedulable"),
    "Event": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
              "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
              "reason", "reportingComponent", "source", "type", "metadata.namespace", "metadata.name"),
    "Namespace": ("status.phase", "metadata.name"),
    "Secret": ("type", "metadata.namespace", "metadata.name"),
    "Service": ("metadata.namespace", "metadata.name", "spec.clusterIP", "spec.type"),
}
# apps/v1beta1 and apps/v1beta2 register their own StatefulSet conversion (apps/v1 does not).
_LEGACY_STATEFULSET = {"apps/v1beta1": "appsv1beta1", "apps/v1beta2": "appsv1beta2"}


def convert_field_selector(kind: str, reqs: Sequence[FieldRequirement],
                           group_version: str = "") -> list[FieldRequirement]:
    """Run each requirement through the kind's field label conversion (e.g. Pod ``spec.host`` ->
    ``spec.nodeName``); raise the 400 Kubernetes gives for a field the kind does not support."""
    out: list[FieldRequirement] = []
    for field, op, value in reqs:
        if kind == "StatefulSet" and group_version in _LEGACY_STATEFULSET:
            if field not in _META_FIELDS and field != "status.successful":
                raise bad_request(f"field label not supported for {_LEGACY_STATEFULSET[group_version]}."
                                  f"StatefulSet: {field}")
        elif kind in _SUPPORTED_FIELDS:
            if field not in _SUPPORTED_FIELDS[kind]:
                raise bad_request(f"field label not supported: {field}")
            if kind == "Pod" and field == "spec.host":
                field = "spec.nodeName"
        elif field not in _META_FIELDS:
            raise bad_request(f'{go_quote(field)} is not a known field selector: only "metadata.name", '
                              '"metadata.namespace"')
        out.append((field, op, value))
    return out


def check_field_selector(kind: str, reqs: Sequence[FieldRequirement], group_version: str = "") -> None:
    """Raise a 400 BadRequest for any field ``kind`` does not support, with Kubernetes' message."""
    convert_field_selector(kind, reqs, group_version)


def fields_match(reqs: Sequence[FieldRequirement], fields: Mapping[str, str]) -> bool:
    """True when every requirement holds; a field the object lacks compares as ""."""
    for field, op, value in reqs:
        if field == "spec.host":
            field = "spec.nodeName"
        have = fields.get(field, "")
        if (have == value) != (op != "!="):
            return False
    return True


_NAMESPACED = {r.kind: r.namespaced for r in RESOURCES}


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _bool(value: Any) -> str:
    return "true" if value is True else "false"


def selectable_fields(kind: str, obj: Mapping[str, Any]) -> dict[str, str]:
    """The field set Kubernetes matches field selectors against (each kind's GetAttrs).

    Every kind has ``metadata.name``; namespaced kinds also ``metadata.namespace``.
    """
    meta = _d(obj.get("metadata"))
    fields = {"metadata.name": _s(meta.get("name"))}
    if _NAMESPACED.get(kind, "namespace" in meta):
        fields["metadata.namespace"] = _s(meta.get("namespace"))
    spec, status = _d(obj.get("spec")), _d(obj.get("status"))
    if kind == "Pod":
        pod_ips = status.get("podIPs") if isinstance(status.get("podIPs"), list) else []
        pod_ip = _s(_d(pod_ips[0]).get("ip")) if pod_ips else _s(status.get("podIP"))
        fields.update({
            "spec.nodeName": _s(spec.get("nodeName")),
            "spec.restartPolicy": _s(spec.get("restartPolicy")),
            "spec.schedulerName": _s(spec.get("schedulerName")),
            "spec.serviceAccountName": _s(spec.get("serviceAccountName")) or _s(spec.get("serviceAccount")),
            "spec.hostNetwork": _bool(spec.get("hostNetwork")),
            "status.phase": _s(status.get("phase")),
            "status.podIP": pod_ip,
            "status.nominatedNodeName": _s(status.get("nominatedNodeName")),
        })
    elif kind == "Event":
        involved = _d(obj.get("involvedObject"))
        source = _s(_d(obj.get("source")).get("component")) or _s(obj.get("reportingComponent"))
        fields.update({
            "involvedObject.kind": _s(involved.get("kind")),
            "involvedObject.namespace": _s(involved.get("namespace")),
            "involvedObject.name": _s(involved.get("name")),
            "involvedObject.uid": _s(involved.get("uid")),
            "involvedObject.apiVersion": _s(involved.get("apiVersion")),
            "involvedObject.resourceVersion": _s(involved.get("resourceVersion")),
            "involvedObject.fieldPath": _s(involved.get("fieldPath")),
            "reason": _s(obj.get("reason")),
            "reportingComponent": _s(obj.get("reportingComponent")),
            "source": source,
            "type": _s(obj.get("type")),
        })
    elif kind == "Secret":
        fields["type"] = _s(obj.get("type"))
    elif kind == "Namespace":
        fields["status.phase"] = _s(status.get("phase"))
    elif kind == "Node":
        fields["spec.unschedulable"] = _bool(spec.get("unschedulable"))
    elif kind == "Service":
        fields["spec.clusterIP"] = _s(spec.get("clusterIP"))
        fields["spec.type"] = _s(spec.get("type"))
    return fields
