"""Kubernetes 1.32 validation for orlop's kinds, with Kubernetes' field paths and messages.

Why this exists: kubectl prints the ``details.causes`` of a 422 verbatim ("* spec.
accessModes: Required value"), scripts grep for them, and the controllers rely on stored
objects having been checked the way a real API server checks them.  This module answers
"is this object acceptable, and if not, why" exactly as pkg/apis/*/validation does,
including the update rules (immutable PV sources, PVC specs, StatefulSet specs ...).

It is also the guard between the wire and the store: objects arrive as arbitrary JSON,
so every field is read through type-checking accessors and ``validate`` never raises.
Wrong JSON types, malformed quantities and bad base64 are what the real server rejects
while decoding (400); they are reported by ``decode_errors`` / ``decode_error_message``
and, when present, are the only causes ``validate`` returns.

Objects are expected after ``defaults.apply_defaults`` (and, for updates, after the
caller has carried over what the strategy copies: status, uid, creationTimestamp).
Namespace presence rules are the caller's.

This module is compiled (setup.py), and compiled code enforces annotations at run time: a
``dict`` parameter handed ``null`` raises TypeError.  So every parameter that can receive
client JSON is annotated ``Any`` and read through ``Ctx``; tests/unit/test_validation.py
gives every field the kind's OpenAPI schema knows a value of each wrong JSON type to hold
that.
"""

from __future__ import annotations

import builtins
import ipaddress
import json
import logging
import posixpath
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from functools import lru_cache, wraps
from typing import Any

import orjson

from orlop.errors import Cause
from orlop.quantity import ParsedQuantity, parse_quantity_full

from ..gofmt import GoRaw, go_float, go_quote
from ..jsonobj import is_int64

__all__ = [
    "decode_error_message",
    "decode_errors",
    "validate",
    "validate_status_update",
]

JSON = dict[str, Any]
log = logging.getLogger(__name__)

# ============================================================================ messages

REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
DUPLICATE = "FieldValueDuplicate"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
NOT_FOUND = "FieldValueNotFound"
TYPE_INVALID = "FieldValueTypeInvalid"


def gov(value: Any) -> str:
    """How field.Error.ErrorBody prints a bad value."""
    if isinstance(value, GoRaw):
        return str(value)
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
    if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        inner = ", ".join(f"{go_quote(k)}:{go_quote(v)}" for k, v in sorted(value.items()))
        return f"map[string]string{{{inner}}}"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(go_quote(v) for v in value) + "}"
    try:
        return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _c(reason: str, path: str, message: str) -> Cause:
    return Cause(reason=reason, message=message, field=path)


def required(path: str, detail: str = "") -> Cause:
    return _c(REQUIRED, path, "Required value" + (f": {detail}" if detail else ""))


def invalid(path: str, value: Any, detail: str = "") -> Cause:
    return _c(INVALID, path, f"Invalid value: {gov(value)}" + (f": {detail}" if detail else ""))


def not_supported(path: str, value: Any, valid: Iterable[str]) -> Cause:
    vals = ", ".join(go_quote(v) for v in valid)
    return _c(NOT_SUPPORTED, path, f"Unsupported value: {gov(value)}" + (f": supported values: {vals}" if vals else ""))


def duplicate(path: str, value: Any) -> Cause:
    return _c(DUPLICATE, path, f"Duplicate value: {gov(value)}")


def forbidden(path: str, detail: str = "") -> Cause:
    return _c(FORBIDDEN, path, "Forbidden" + (f": {detail}" if detail else ""))


def too_long(path: str, max_len: int) -> Cause:
    unit = "byte" if max_len == 1 else "bytes"
    return _c(TOO_LONG, path, f"Too long: may not be more than {max_len} {unit}")


def not_found(path: str, value: Any, detail: str = "") -> Cause:
    return _c(NOT_FOUND, path, f"Not found: {gov(value)}" + (f": {detail}" if detail else ""))


def _type_invalid(path: str, got: str, want: str) -> Cause:
    return _c(TYPE_INVALID, path, f'Invalid value: "{got}": {path} in body must be of type {want}: "{got}"')


# ============================================================================ paths

def child(path: str, *names: str) -> str:
    for n in names:
        path = f"{path}.{n}" if path else n
    return path


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def key(path: str, k: str) -> str:
    return f"{path}[{k}]"


# ============================================================================ name rules

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_RE = re.compile(f"^{DNS1123_LABEL_FMT}$")
_DNS1123_SUBDOMAIN_RE = re.compile(f"^{DNS1123_SUBDOMAIN_FMT}$")
_DNS1035_LABEL_RE = re.compile(f"^{DNS1035_LABEL_FMT}$")
_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_RE = re.compile(f"^{_QNAME_FMT}$")
_LABEL_VALUE_FMT = f"({_QNAME_FMT})?"
_LABEL_VALUE_RE = re.compile(f"^{_LABEL_VALUE_FMT}$")
_CONFIGMAP_KEY_FMT = "[-._a-zA-Z0-9]+"
_CONFIGMAP_KEY_RE = re.compile(f"^{_CONFIGMAP_KEY_FMT}$")
_PORT_NAME_CHARSET_RE = re.compile("^[-a-z0-9]+$")
_HTTP_HEADER_FMT = "[-A-Za-z0-9]+"
_HTTP_HEADER_RE = re.compile(f"^{_HTTP_HEADER_FMT}$")


def _blen(s: str) -> int:
    if s.isascii():
        return len(s)
    return len(s.encode("utf-8", "surrogatepass"))


def _memo(fn: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
    """Remember a pure string check's messages (names, keys and finalizers repeat on every write).

    Only plain ``str`` arguments are remembered; every call gets a list of its own.
    """
    cached = lru_cache(maxsize=8192)(lambda value: tuple(fn(value)))

    @wraps(fn)
    def remembered(value: str) -> list[str]:     # (not named "check": compiled, that name would
        if type(value) is str:                    # replace the module's check() as seen from Python)
            return list(cached(value))
        return fn(value)
    return remembered


def _json_copy(v: Any) -> Any:
    """A deep copy of JSON data (orjson; the json module for what orjson refuses, e.g. huge integers)."""
    try:
        return orjson.loads(orjson.dumps(v))
    except (TypeError, orjson.JSONDecodeError):
        return json.loads(json.dumps(v))


def _match(rx: re.Pattern[str], s: str) -> bool:
    # Go's regexp "$" does not accept a trailing newline the way Python's does.
    return rx.fullmatch(s) is not None


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    ex = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {ex}regex used for validation is '{fmt}')"


def max_len_error(n: int) -> str:
    return f"must be no more than {n} characters"


@_memo
def is_dns1123_label(value: str) -> list[str]:
    errs = []
    if _blen(value) > 63:
        errs.append(max_len_error(63))
    if not _match(_DNS1123_LABEL_RE, value):
        if _match(_DNS1123_SUBDOMAIN_RE, value):
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                "and must start and end with an alphanumeric character", DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


@_memo
def is_dns1123_subdomain(value: str) -> list[str]:
    errs = []
    if _blen(value) > 253:
        errs.append(max_len_error(253))
    if not _match(_DNS1123_SUBDOMAIN_RE, value):
        errs.append(regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
            "and must start and end with an alphanumeric character", DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


@_memo
def is_dns1035_label(value: str) -> list[str]:
    errs = []
    if _blen(value) > 63:
        errs.append(max_len_error(63))
    if not _match(_DNS1035_LABEL_RE, value):
        errs.append(regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
            "alphabetic character, and end with an alphanumeric character", DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


_QNAME_ERR = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"


@_memo
def is_qualified_name(value: str) -> list[str]:
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name " + regex_error(_QNAME_ERR, _QNAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif _blen(name) > 63:
        errs.append("name part " + max_len_error(63))
    if not _match(_QNAME_RE, name):
        errs.append("name part " + regex_error(_QNAME_ERR, _QNAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


@_memo
def is_valid_label_value(value: str) -> list[str]:
    errs = []
    if _blen(value) > 63:
        errs.append(max_len_error(63))
    if not _match(_LABEL_VALUE_RE, value):
        errs.append(regex_error(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character", _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def _chdir_prefix(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


def is_config_map_key(value: str) -> list[str]:
    errs = []
    if _blen(value) > 253:
        errs.append(max_len_error(253))
    if not _match(_CONFIGMAP_KEY_RE, value):
        errs.append(regex_error("a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                                _CONFIGMAP_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    errs.extend(_chdir_prefix(value))
    return errs


def is_valid_port_num(port: int) -> list[str]:
    return [] if 1 <= port <= 65535 else ["must be between 1 and 65535, inclusive"]


def is_valid_port_name(port: str) -> list[str]:
    errs = []
    if _blen(port) > 15:
        errs.append(max_len_error(15))
    if not _match(_PORT_NAME_CHARSET_RE, port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def is_relaxed_env_var_name(value: str) -> list[str]:
    errs = []
    if not value:
        errs.append("environment variable name must be non-empty")
    for ch in value:
        if ord(ch) > 127 or not (32 <= ord(ch) < 127) or ch == "=":
            errs.append("a valid environment variable name must consist only of printable ASCII characters other than '='")
            break
    return errs


def _mask_trailing_dash(name: str) -> str:
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


NameFn = Callable[[str, bool], list[str]]


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    return is_dns1035_label(_mask_trailing_dash(name) if prefix else name)


def path_segment_name(name: str, prefix: bool) -> list[str]:
    if not prefix and name in (".", ".."):
        return [f"may not be '{name}'"]
    if "/" not in name and "%" not in name:
        return []
    return [f"may not contain '{bad}'" for bad in ("/", "%") if bad in name]


def _parse_ip_sloppy(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """netutils.ParseIPSloppy: like net.ParseIP, but IPv4 octets may have leading zeros."""
    if not isinstance(value, str) or not value or not value.isascii():
        return None
    if ":" not in value:
        parts = value.split(".")
        if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts):
            return None
        return ipaddress.IPv4Address(".".join(str(int(p)) for p in parts))
    if "%" in value:
        return None
    try:
        ip = ipaddress.IPv6Address(value)
    except ValueError:
        return None
    return ip.ipv4_mapped or ip


def is_valid_ip(path: str, value: str) -> list[Cause]:
    if _parse_ip_sloppy(value) is None:
        return [invalid(path, value, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")]
    return []


def is_valid_cidr(path: str, value: str) -> list[Cause]:
    ok = False
    if isinstance(value, str) and "/" in value:
        ip_part, _, bits = value.partition("/")
        if _parse_ip_sloppy(ip_part) is not None and bits.isdigit():
            try:
                ipaddress.ip_network(ip_part + "/" + bits, strict=False)
                ok = True
            except ValueError:
                ok = False
    if not ok:
        return [invalid(path, value, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")]
    return []


def validate_non_special_ip(ip_text: str, path: str) -> list[Cause]:
    ip = _parse_ip_sloppy(ip_text)
    if ip is None:
        return [invalid(path, ip_text, "must be a valid IP address")]
    errs = []
    if ip.is_unspecified:
        errs.append(invalid(path, ip_text, f"may not be unspecified ({ip_text})"))
    if ip.is_loopback:
        errs.append(invalid(path, ip_text, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
    if ip.is_link_local and not ip.is_multicast:
        errs.append(invalid(path, ip_text, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
    is_ll_mc = (isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("224.0.0.0/24")) or (
        isinstance(ip, ipaddress.IPv6Address) and (int(ip) >> 112) & 0xFF0F == 0xFF02)
    if is_ll_mc:
        errs.append(invalid(path, ip_text, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
    return errs


# ============================================================================ typed access

def _jtype(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


_GO_JSON_TYPE = {"object": "object", "array": "array", "string": "string", "integer": "number",
                 "number": "number", "boolean": "bool"}


class Ctx:
    """Reads JSON through type checks.  A value of the wrong JSON type is recorded as a
    decode error and then treated as absent, so validation can carry on safely."""

    # What validate_object_meta and _meta_body remember for one metadata object (class defaults
    # until then: a Ctx is made per object read, most never need them).
    head_seen: JSON | None = None
    head: tuple[str, str, int | None] = ("", "", None)
    meta_seen: JSON | None = None
    meta_body: _MetaBody

    def __init__(self) -> None:
        self.decode: list[Cause] = []
        self.decode_msgs: list[str] = []

    def _bad(self, path: str, v: Any, want: str) -> None:
        got = _jtype(v)
        self.decode.append(_type_invalid(path, got, want))
        self.decode_msgs.append(f"json: cannot unmarshal {_GO_JSON_TYPE.get(got, got)} into Go struct field "
                                f".{path} of type {want}")

    @staticmethod
    def _get(parent: Any, name: str) -> Any:
        return parent.get(name) if isinstance(parent, dict) else None

    def obj(self, parent: Any, name: str, ppath: str) -> JSON | None:
        v = parent.get(name) if isinstance(parent, dict) else None  # _get, inlined (hot)
        if v is None or isinstance(v, dict):
            return v
        self._bad(child(ppath, name), v, "object")
        return None

    def value_obj(self, v: Any, path: str) -> JSON | None:
        if v is None or isinstance(v, dict):
            return v
        self._bad(path, v, "object")
        return None

    def arr(self, parent: Any, name: str, ppath: str) -> list[Any]:
        v = parent.get(name) if isinstance(parent, dict) else None  # _get, inlined (hot)
        if v is None:
            return []
        if isinstance(v, list):
            return v
        self._bad(child(ppath, name), v, "array")
        return []

    def strs(self, parent: Any, names: tuple[str, ...], ppath: str) -> None:
        """``self.str(parent, name, ppath)`` for each name, for the type checks alone."""
        if isinstance(parent, dict):
            for name in names:
                v = parent.get(name)
                if v is not None and not isinstance(v, str):
                    self._bad(child(ppath, name), v, "string")

    def has(self, parent: Any, name: str) -> bool:
        return (parent.get(name) if isinstance(parent, dict) else None) is not None

    # (From here on the class's own ``str``/``int``/``bool`` shadow the builtins for mypy, which
    # compiles this module: annotations name them as ``builtins.*``.)
    def str(self, parent: Any, name: builtins.str, ppath: builtins.str) -> builtins.str:
        v = parent.get(name) if isinstance(parent, dict) else None  # _get, inlined (hot)
        if v is None:
            return ""
        if isinstance(v, str):
            return v
        self._bad(child(ppath, name), v, "string")
        return ""

    def ostr(self, parent: Any, name: builtins.str, ppath: builtins.str) -> builtins.str | None:
        v = parent.get(name) if isinstance(parent, dict) else None  # _get, inlined (hot)
        if v is None or isinstance(v, str):
            return v
        self._bad(child(ppath, name), v, "string")
        return None

    def int(self, parent: Any, name: builtins.str, ppath: builtins.str) -> builtins.int | None:
        v = parent.get(name) if isinstance(parent, dict) else None  # _get, inlined (hot)
        if v is None:
            return None
        if isinstance(v, int) and not isinstance(v, bool):
            if is_int64(v):
                return v
        self._bad(child(ppath, name), v, "integer")
        return None

    def bool(self, parent: Any, name: builtins.str, ppath: builtins.str) -> builtins.bool | None:
        v = parent.get(name) if isinstance(parent, dict) else None  # _get, inlined (hot)
        if v is None or isinstance(v, bool):
            return v
        self._bad(child(ppath, name), v, "boolean")
        return None

    def smap(self, parent: Any, name: builtins.str, ppath: builtins.str) -> dict[builtins.str, builtins.str]:
        m = self.obj(parent, name, ppath)
        if not m:
            return {}
        out: dict[builtins.str, builtins.str] = {}
        path = child(ppath, name)
        for k, v in m.items():
            if isinstance(v, str):
                out[k] = v
            elif v is not None:
                self._bad(key(path, k), v, "string")
        return out

    def slist(self, parent: Any, name: builtins.str, ppath: builtins.str) -> list[builtins.str]:
        out = []
        for i, v in enumerate(self.arr(parent, name, ppath)):
            if isinstance(v, str):
                out.append(v)
            else:
                self._bad(index(child(ppath, name), i), v, "string")
        return out

    def dlist(self, parent: Any, name: builtins.str,
              ppath: builtins.str) -> list[tuple[builtins.int, JSON, builtins.str]]:
        """(index, item, item path) for the object items of a list."""
        path = child(ppath, name)
        out = []
        for i, v in enumerate(self.arr(parent, name, ppath)):
            p = index(path, i)
            if isinstance(v, dict):
                out.append((i, v, p))
            else:
                self._bad(p, v, "object")
                out.append((i, {}, p))
        return out

    def qty(self, v: Any, path: builtins.str) -> ParsedQuantity | None:
        if v is None:
            return None
        try:
            return parse_quantity_full(v)
        except ValueError as e:
            self.decode.append(invalid(path, v if isinstance(v, (str, int, float)) else _jtype(v), str(e)))
            self.decode_msgs.append(str(e))
            return None

    def qmap(self, parent: Any, name: builtins.str, ppath: builtins.str) -> dict[builtins.str, ParsedQuantity] | None:
        """A ResourceList; None when absent (Go nil)."""
        m = self.obj(parent, name, ppath)
        if m is None:
            return None
        out: dict[builtins.str, ParsedQuantity] = {}
        for k, v in m.items():
            if v is None:
                continue
            try:
                out[k] = parse_quantity_full(v)
            except ValueError:  # self.qty parses again (the same error) and records it under its path
                self.qty(v, key(child(ppath, name), k))
        return out

    def intstr(self, parent: Any, name: builtins.str, ppath: builtins.str) -> builtins.int | builtins.str | None:
        v = parent.get(name) if isinstance(parent, dict) else None  # _get, inlined (hot)
        if v is None or isinstance(v, str):
            return v
        if isinstance(v, int) and not isinstance(v, bool) and -(1 << 31) <= v < (1 << 31):
            return v
        self._bad(child(ppath, name), v, "integer or string")
        return None

    def b64(self, v: Any, path: builtins.str) -> bytes | None:
        if not isinstance(v, str):
            if v is not None:
                self._bad(path, v, "string")
            return None
        data, err = go_base64_decode(v)
        if err is not None:
            self.decode.append(invalid(path, GoRaw('"<secret contents redacted>"'), err))
            self.decode_msgs.append(err)
            return None
        return data


_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_INDEX = {ch: i for i, ch in enumerate(_B64_ALPHABET)}


def go_base64_decode(s: str) -> tuple[bytes, str | None]:
    """encoding/base64.StdEncoding.Decode as encoding/json uses it for []byte fields:
    padding required, CR/LF ignored; errors say where the input went wrong."""
    src = s.encode("utf-8", "surrogatepass")
    out = bytearray()
    si = 0
    n = len(src)
    while True:
        dbuf = [0, 0, 0, 0]
        dlen = 4
        j = 0
        done = False
        while j < 4:
            if si == n:
                if j == 0:
                    return bytes(out), None
                return bytes(out), f"illegal base64 data at input byte {si - j}"
            ch = src[si]
            si += 1
            c = chr(ch)
            if c in _B64_INDEX:
                dbuf[j] = _B64_INDEX[c]
                j += 1
                continue
            if c in "\r\n":
                continue
            if c != "=":
                return bytes(out), f"illegal base64 data at input byte {si - 1}"
            if j in (0, 1):
                return bytes(out), f"illegal base64 data at input byte {si - 1}"
            if j == 2:
                while si < n and chr(src[si]) in "\r\n":
                    si += 1
                if si == n:
                    return bytes(out), f"illegal base64 data at input byte {n}"
                if chr(src[si]) != "=":
                    return bytes(out), f"illegal base64 data at input byte {si - 1}"
                si += 1
            while si < n and chr(src[si]) in "\r\n":
                si += 1
            if si < n:
                return bytes(out), f"illegal base64 data at input byte {si}"
            dlen = j
            done = True
            break
        val = (dbuf[0] << 18) | (dbuf[1] << 12) | (dbuf[2] << 6) | dbuf[3]
        chunk = bytes([(val >> 16) & 0xFF, (val >> 8) & 0xFF, val & 0xFF])
        out += chunk[: dlen - 1]
        if done:
            return bytes(out), None


# ============================================================================ metadata

STANDARD_FINALIZERS = {"kubernetes", "orphan", "foregroundDeletion"}
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024


def validate_labels(labels: dict[str, str], path: str) -> list[Cause]:
    errs = []
    for k, v in labels.items():
        errs += [invalid(path, k, m) for m in is_qualified_name(k)]
        errs += [invalid(path, v, m) for m in is_valid_label_value(v)]
    return errs


@lru_cache(maxsize=8192)
def _annotation_key_errors(k: str) -> tuple[str, ...]:
    """``is_qualified_name(k.lower())``, remembered by the key as written (keys repeat on every write)."""
    return tuple(is_qualified_name(k.lower()))


def validate_annotations(annotations: dict[str, str], path: str) -> list[Cause]:
    errs = []
    total = 0
    for k, v in annotations.items():
        msgs = _annotation_key_errors(k)
        if msgs:
            errs += [invalid(path, k, m) for m in msgs]
        # _blen inlined: bytes of UTF-8, which for ASCII is the length.
        total += (len(k) if k.isascii() else _blen(k)) + (len(v) if v.isascii() else _blen(v))
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


def _owner_refs(c: Ctx, meta: Any) -> list[Cause]:
    path = "metadata.ownerReferences"
    errs = []
    first_controller = ""
    for _, ref, rp in c.dlist(meta, "ownerReferences", "metadata"):
        api_version = c.str(ref, "apiVersion", rp)
        kind = c.str(ref, "kind", rp)
        name = c.str(ref, "name", rp)
        uid = c.str(ref, "uid", rp)
        group, version = "", ""
        if api_version.count("/") == 0:
            version = api_version
        elif api_version.count("/") == 1:
            group, version = api_version.split("/")
        if not version:
            errs.append(invalid(child(path, "apiVersion"), api_version, "version must not be empty"))
        if not kind:
            errs.append(invalid(child(path, "kind"), kind, "kind must not be empty"))
        if not name:
            errs.append(invalid(child(path, "name"), name, "name must not be empty"))
        if not uid:
            errs.append(invalid(child(path, "uid"), uid, "uid must not be empty"))
        if group == "" and version == "v1" and kind == "Event":
            errs.append(invalid(path, GoRaw(f"v1.OwnerReference{{APIVersion:{go_quote(api_version)}, "
                                            f"Kind:{go_quote(kind)}, Name:{go_quote(name)}, UID:{go_quote(uid)}}}"),
                                "/v1, Kind=Event is disallowed from being an owner"))
        if c.bool(ref, "controller", rp):
            cur = f"{kind}/{name}"
            if first_controller:
                errs.append(invalid(path, GoRaw("[]v1.OwnerReference{...}"),
                                    f'Only one reference can have Controller set to true. Found "true" in '
                                    f"references for {first_controller} and {cur}"))
            else:
                first_controller = cur
    return errs


@lru_cache(maxsize=4096)
def _finalizer_name_errors(f: str) -> tuple[str, ...]:
    """``is_qualified_name(f)`` as a tuple, remembered (finalizer names repeat on every write)."""
    return tuple(is_qualified_name(f))


def _finalizer_names(finalizers: list[str]) -> list[Cause]:
    path = "metadata.finalizers"
    errs = []
    for f in finalizers:
        msgs = _finalizer_name_errors(f)
        if msgs:
            errs += [invalid(path, f, m) for m in msgs]
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        errs.append(invalid(path, finalizers, "finalizer orphan and foregroundDeletion cannot be both set"))
    return errs


def _standard_finalizers(finalizers: list[str]) -> list[Cause]:
    return [invalid(index("metadata.finalizers", i), f, "name is neither a standard finalizer name nor is it fully qualified")
            for i, f in enumerate(finalizers) if "/" not in f and f not in STANDARD_FINALIZERS]


def _finalizers(c: Ctx, meta: Any, kube: bool) -> list[Cause]:
    finalizers = c.slist(meta, "finalizers", "metadata")
    errs = _finalizer_names(finalizers)
    if kube:
        errs += _standard_finalizers(finalizers)
    return errs


_MetaBody = tuple[list[Cause], list[Cause], list[Cause]]
_NO_CAUSES: list[Cause] = []   # shared, never modified: callers only read (``errs += part``)


def _meta_body(c: Ctx, meta: Any) -> _MetaBody:
    """What ValidateObjectMeta and ValidateObjectMetaUpdate both check, read in their order
    (labels, annotations, owner references, finalizers): (label/annotation/owner-reference
    errors, finalizer-name errors, non-standard-finalizer errors).

    One write runs both functions, some twice (the registry's generic check, the kind's own,
    the update's), on the same metadata through the same Ctx: the result is remembered on the
    Ctx for that metadata object.  A repeat skips only the reads, whose decode errors (same
    paths, same messages) the first run already recorded earlier in ``c.decode``; every
    caller dedupes those and reports the first message, so the outcome is the same.
    A field that is absent or null is skipped: reading it records nothing and checks nothing.
    """
    if meta is None:
        return _NO_CAUSES, _NO_CAUSES, _NO_CAUSES
    if c.meta_seen is meta:
        return c.meta_body
    errs: list[Cause] = []
    if meta.get("labels") is not None:
        errs += validate_labels(c.smap(meta, "labels", "metadata"), "metadata.labels")
    if meta.get("annotations") is not None:
        errs += validate_annotations(c.smap(meta, "annotations", "metadata"), "metadata.annotations")
    if meta.get("ownerReferences") is not None:
        errs += _owner_refs(c, meta)
    if meta.get("finalizers") is not None:
        finalizers = c.slist(meta, "finalizers", "metadata")
        body = (errs, _finalizer_names(finalizers), _standard_finalizers(finalizers))
    else:
        body = (errs, _NO_CAUSES, _NO_CAUSES)
    c.meta_seen, c.meta_body = meta, body
    return body


def validate_object_meta(c: Ctx, obj: Any, name_fn: NameFn, *, kube: bool = True) -> list[Cause]:
    """ValidateObjectMeta (namespace rules excepted: they are the caller's)."""
    meta = c.obj(obj, "metadata", "")
    errs: list[Cause] = []
    if meta is not None and c.head_seen is meta:
        # A second run on the same metadata (the registry's generic check, then the kind's):
        # the reads are remembered as _meta_body explains.
        gen, name, generation = c.head
    else:
        gen = c.str(meta, "generateName", "metadata")
        name = c.str(meta, "name", "metadata")
        generation = c.int(meta, "generation", "metadata")
        if meta is not None:
            c.head_seen, c.head = meta, (gen, name, generation)
    if gen:
        errs += [invalid("metadata.generateName", gen, m) for m in name_fn(gen, True)]
    if not name:
        errs.append(required("metadata.name", "name or generateName is required"))
    else:
        errs += [invalid("metadata.name", name, m) for m in name_fn(name, False)]
    if generation is not None and generation < 0:
        errs.append(invalid("metadata.generation", generation, "must be greater than or equal to 0"))
    body_errs, name_errs, std_errs = _meta_body(c, meta)
    errs += body_errs
    errs += name_errs
    if kube:
        errs += std_errs
    return errs


def validate_object_meta_update(c: Ctx, obj: Any, old: Any) -> list[Cause]:
    """ValidateObjectMetaUpdate, for what the caller does not already guarantee."""
    oc = Ctx()
    meta = c.obj(obj, "metadata", "")
    old_meta = oc.obj(old, "metadata", "")
    errs: list[Cause] = []
    for field_name in ("name", "namespace"):
        new_v = c.str(meta, field_name, "metadata")
        old_v = oc.str(old_meta, field_name, "metadata")
        if new_v != old_v:
            errs.append(invalid(child("metadata", field_name), new_v, "field is immutable"))
    new_uid = c.str(meta, "uid", "metadata")
    old_uid = oc.str(old_meta, "uid", "metadata")
    if new_uid and old_uid and new_uid != old_uid:
        errs.append(invalid("metadata.uid", new_uid, "field is immutable"))
    if oc.has(old_meta, "deletionTimestamp"):
        old_f = set(oc.slist(old_meta, "finalizers", "metadata"))
        for f in c.slist(meta, "finalizers", "metadata"):
            if f not in old_f:
                errs.append(forbidden("metadata.finalizers", f"no new finalizers can be added if the object is being deleted, found new finalizers []string{{{go_quote(f)}}}"))
                break
    body_errs, _, std_errs = _meta_body(c, meta)
    errs += body_errs
    errs += std_errs
    return errs


def validate_label_selector(c: Ctx, sel: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    if sel is None:
        return errs
    errs += validate_labels(c.smap(sel, "matchLabels", path), child(path, "matchLabels"))
    for _, expr, ep in c.dlist(sel, "matchExpressions", path):
        op = c.str(expr, "operator", ep)
        values = c.slist(expr, "values", ep)
        if op in ("In", "NotIn"):
            if not values:
                errs.append(required(child(ep, "values"), "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errs.append(forbidden(child(ep, "values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        else:
            errs.append(invalid(child(ep, "operator"), op, "not a valid selector operator"))
        k = c.str(expr, "key", ep)
        errs += [invalid(child(ep, "key"), k, m) for m in is_qualified_name(k)]
        for vi, v in enumerate(values):
            errs += [invalid(index(child(ep, "values"), vi), v, m) for m in is_valid_label_value(v)]
    return errs


def label_selector_string(c: Ctx, sel: Any) -> GoRaw:
    """gogo-protobuf String() of a *metav1.LabelSelector."""
    if sel is None:
        return GoRaw("nil")
    labels = c.smap(sel, "matchLabels", "")
    ml = "".join(f"{k}: {v}," for k, v in sorted(labels.items()))
    exprs = ""
    for _, e, _p in c.dlist(sel, "matchExpressions", ""):
        vals = " ".join(c.slist(e, "values", ""))
        exprs += (f"LabelSelectorRequirement{{Key:{c.str(e, 'key', '')},Operator:{c.str(e, 'operator', '')},"
                  f"Values:[{vals}],}},")
    return GoRaw(f"&LabelSelector{{MatchLabels:map[string]string{{{ml}}},"
                 f"MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}")


def selector_matches(c: Ctx, sel: Any, labels: dict[str, str]) -> bool | None:
    """None when the selector cannot be converted (LabelSelectorAsSelector fails)."""
    if sel is None:
        return False
    for k, v in c.smap(sel, "matchLabels", "").items():
        if labels.get(k) != v:
            return False
    for _, expr, ep in c.dlist(sel, "matchExpressions", ""):
        op = c.str(expr, "operator", ep)
        k = c.str(expr, "key", ep)
        values = c.slist(expr, "values", ep)
        if op == "In":
            if not values or labels.get(k) not in values:
                return False if values else None
        elif op == "NotIn":
            if not values:
                return None
            if k in labels and labels[k] in values:
                return False
        elif op == "Exists":
            if values:
                return None
            if k not in labels:
                return False
        elif op == "DoesNotExist":
            if values:
                return None
            if k in labels:
                return False
        else:
            return None
    return True


def selector_valid(c: Ctx, sel: Any) -> bool:
    """Would metav1.LabelSelectorAsSelector succeed?"""
    if sel is None:
        return True
    for k, v in c.smap(sel, "matchLabels", "").items():
        if is_qualified_name(k) or is_valid_label_value(v):
            return False
    for _, expr, ep in c.dlist(sel, "matchExpressions", ""):
        op = c.str(expr, "operator", ep)
        values = c.slist(expr, "values", ep)
        if op in ("In", "NotIn") and not values:
            return False
        if op in ("Exists", "DoesNotExist") and values:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
        if is_qualified_name(c.str(expr, "key", ep)):
            return False
        if any(is_valid_label_value(v) for v in values):
            return False
    return True


# ============================================================================ resources

_STANDARD_RESOURCES = {
    "cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory", "requests.ephemeral-storage",
    "limits.cpu", "limits.memory", "limits.ephemeral-storage", "pods", "resourcequotas", "services",
    "replicationcontrollers", "secrets", "persistentvolumeclaims", "configmaps", "services.nodeports",
    "services.loadbalancers",
}
_INTEGER_RESOURCES = {"pods", "resourcequotas", "services", "replicationcontrollers", "secrets", "configmaps",
                      "persistentvolumeclaims", "services.nodeports", "services.loadbalancers"}


def is_native_resource(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def is_hugepage_resource(name: str) -> bool:
    return name.startswith("hugepages-")


def is_extended_resource(name: str) -> bool:
    if is_native_resource(name) or name.startswith("requests."):
        return False
    return not is_qualified_name("requests." + name)


def is_integer_resource(name: str) -> bool:
    return name in _INTEGER_RESOURCES or is_extended_resource(name)


def is_overcommit_allowed(name: str) -> bool:
    return is_native_resource(name) and not is_hugepage_resource(name)


def qstr(q: ParsedQuantity) -> str:
    return q.canonical()


def quantity_value(q: ParsedQuantity) -> int:
    """Quantity.Value(): rounded up, away from zero."""
    v = q.value
    i = int(v)
    if Decimal(i) != v:
        i += 1 if v > 0 else -1
    return i


def validate_nonnegative_quantity(q: ParsedQuantity, path: str) -> list[Cause]:
    if q.value < 0:
        return [invalid(path, qstr(q), "must be greater than or equal to 0")]
    return []


def validate_positive_quantity(q: ParsedQuantity, path: str) -> list[Cause]:
    if q.value <= 0:
        return [invalid(path, qstr(q), "must be greater than zero")]
    return []


def validate_resource_quantity_value(name: str, q: ParsedQuantity, path: str) -> list[Cause]:
    errs = validate_nonnegative_quantity(q, path)
    if is_integer_resource(name) and (q.value * 1000) % 1000 != 0:
        errs.append(invalid(path, GoRaw(qstr(q)), "must be an integer"))
    return errs


def validate_basic_resource(q: ParsedQuantity, path: str) -> list[Cause]:
    v = quantity_value(q)
    if v < 0:
        return [invalid(path, v, "must be a valid resource quantity")]
    return []


def _validate_resource_name(name: str, path: str) -> list[Cause]:
    errs = [invalid(path, name, m) for m in is_qualified_name(name)]
    if errs:
        return errs
    if "/" not in name and not (name in _STANDARD_RESOURCES or is_hugepage_resource(name)
                                or name.startswith("requests.hugepages-")):
        return [invalid(path, name, "must be a standard resource type or fully qualified")]
    return []


def _validate_container_resource_name(name: str, path: str) -> list[Cause]:
    errs = _validate_resource_name(name, path)
    if "/" not in name:
        if name not in ("cpu", "memory", "ephemeral-storage") and not is_hugepage_resource(name):
            errs.append(invalid(path, name, "must be a standard resource for containers"))
    elif not is_native_resource(name) and not is_extended_resource(name):
        errs.append(invalid(path, name, "doesn't follow extended resource name standard"))
    return errs


def validate_resource_requirements(c: Ctx, res: Any, path: str, claim_names: set[str] | None = None) -> list[Cause]:
    errs: list[Cause] = []
    if res is None:
        return errs
    lim_path = child(path, "limits")
    req_path = child(path, "requests")
    limits = c.qmap(res, "limits", path) or {}
    requests = c.qmap(res, "requests", path) or {}
    lim_cm = req_cm = lim_hp = req_hp = False
    for name, q in limits.items():
        fp = key(lim_path, name)
        errs += _validate_container_resource_name(name, fp)
        errs += validate_resource_quantity_value(name, q, fp)
        if is_hugepage_resource(name):
            lim_hp = True
        if name in ("cpu", "memory"):
            lim_cm = True
    for name, q in requests.items():
        fp = key(req_path, name)
        errs += _validate_container_resource_name(name, fp)
        errs += validate_resource_quantity_value(name, q, fp)
        if name in limits:
            lq = limits[name]
            if q.value != lq.value and not is_overcommit_allowed(name):
                errs.append(invalid(req_path, qstr(q), f"must be equal to {name} limit of {qstr(lq)}"))
            elif q.value > lq.value:
                errs.append(invalid(req_path, qstr(q), f"must be less than or equal to {name} limit of {qstr(lq)}"))
        elif not is_overcommit_allowed(name):
            errs.append(required(lim_path, "Limit must be set for non overcommitable resources"))
        if is_hugepage_resource(name):
            req_hp = True
        if name in ("cpu", "memory"):
            req_cm = True
    if not lim_cm and not req_cm and (req_hp or lim_hp):
        errs.append(forbidden(path, "HugePages require cpu or memory"))
    names: set[str] = set()
    for _, claim, cp in c.dlist(res, "claims", path):
        n = c.str(claim, "name", cp)
        if not n:
            errs.append(required(cp))
            continue
        if n in names:
            errs.append(duplicate(cp, n))
        names.add(n)
        if claim_names is not None and n not in claim_names:
            detail = "must be one of the names in pod.spec.resourceClaims"
            detail += (": " + ", ".join(sorted(claim_names))) if claim_names else " which is empty"
            errs.append(not_found(cp, n, detail))
    return errs


# ============================================================================ node selectors

def validate_node_selector_requirement(c: Ctx, rq: Any, path: str, allow_invalid_value: bool = False) -> list[Cause]:
    errs: list[Cause] = []
    op = c.str(rq, "operator", path)
    values = c.slist(rq, "values", path)
    if op in ("In", "NotIn"):
        if not values:
            errs.append(required(child(path, "values"), "must be specified when `operator` is 'In' or 'NotIn'"))
    elif op in ("Exists", "DoesNotExist"):
        if values:
            errs.append(forbidden(child(path, "values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
    elif op in ("Gt", "Lt"):
        if len(values) != 1:
            errs.append(required(child(path, "values"), "must be specified single value when `operator` is 'Lt' or 'Gt'"))
    else:
        errs.append(invalid(child(path, "operator"), op, "not a valid selector operator"))
    k = c.str(rq, "key", path)
    errs += [invalid(child(path, "key"), k, m) for m in is_qualified_name(k)]
    if not allow_invalid_value:
        for i, v in enumerate(values):
            errs += [invalid(index(child(path, "values"), i), v, m) for m in is_valid_label_value(v)]
    return errs


def validate_node_selector_term(c: Ctx, term: Any, path: str, allow_invalid_value: bool = False) -> list[Cause]:
    errs: list[Cause] = []
    for _, rq, rp in c.dlist(term, "matchExpressions", path):
        errs += validate_node_selector_requirement(c, rq, rp, allow_invalid_value)
    for _, rq, rp in c.dlist(term, "matchFields", path):
        op = c.str(rq, "operator", rp)
        values = c.slist(rq, "values", rp)
        if op in ("In", "NotIn"):
            if len(values) != 1:
                errs.append(required(child(rp, "values"),
                                     "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"))
        else:
            errs.append(invalid(child(rp, "operator"), op, "not a valid selector operator"))
        k = c.str(rq, "key", rp)
        if k != "metadata.name":
            errs.append(invalid(child(rp, "key"), k, "not a valid field selector key"))
        else:
            for i, v in enumerate(values):
                errs += [invalid(index(child(rp, "values"), i), v, m) for m in name_is_dns_subdomain(v, False)]
    return errs


def validate_node_selector(c: Ctx, ns: Any, path: str, allow_invalid_value: bool = False) -> list[Cause]:
    terms_path = child(path, "nodeSelectorTerms")
    terms = c.dlist(ns, "nodeSelectorTerms", path)
    if not terms:
        return [required(terms_path, "must have at least one node selector term")]
    errs: list[Cause] = []
    for _, term, tp in terms:
        errs += validate_node_selector_term(c, term, tp, allow_invalid_value)
    return errs


# ============================================================================ volume sources

SUPPORTED_ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
_SUPPORTED_ACCESS_MODE_SET = frozenset(SUPPORTED_ACCESS_MODES)
SUPPORTED_RECLAIM_POLICIES = ["Delete", "Recycle", "Retain"]
SUPPORTED_VOLUME_MODES = ["Block", "Filesystem"]
_HOST_PATH_TYPES = ["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"]
_FILE_MODE_ERR = "must be a number between 0 and 0777 (octal), both inclusive"
_IQN_RE = re.compile(r"iqn\.\d{4}-\d{2}\.([A-Za-z0-9\-.]+)(:[^,;*&$|\s]+)$")
_EUI_RE = re.compile(r"^eui.[A-Za-z0-9]{16}$")
_NAA_RE = re.compile(r"^naa.[A-Za-z0-9]{32}$")


def _path_no_backsteps(target: str, path: str) -> list[Cause]:
    if ".." in target and ".." in target.replace("\\", "/").split("/"):
        return [invalid(path, target, "must not contain '..'")]
    return []


def _local_descending_path(target: str, path: str) -> list[Cause]:
    errs = []
    if target.startswith("/"):
        errs.append(invalid(path, target, "must be a relative path"))
    return errs + _path_no_backsteps(target, path)


def _local_non_reserved_path(target: str, path: str) -> list[Cause]:
    errs = _local_descending_path(target, path)
    if target.startswith("..") and not target.startswith("../"):
        errs.append(invalid(path, target, "must not start with '..'"))
    return errs


def _host_path(c: Ctx, hp: Any, path: str) -> list[Cause]:
    p = c.str(hp, "path", path)
    if not p:
        return [required(child(path, "path"))]
    errs = _path_no_backsteps(p, child(path, "path")) if ".." in p else []
    t = c.ostr(hp, "type", path)
    if t is not None and t not in _HOST_PATH_TYPES:
        errs.append(not_supported(child(path, "type"), t, _HOST_PATH_TYPES))
    return errs


def _req_str(c: Ctx, src: Any, path: str, *names: str) -> list[Cause]:
    return [required(child(path, n)) for n in names if not c.str(src, n, path)]


def _partition(c: Ctx, src: Any, path: str) -> list[Cause]:
    part = c.int(src, "partition", path)
    if part is not None and not 0 <= part <= 255:
        return [invalid(child(path, "partition"), part, "must be between 1 and 255, inclusive")]
    return []


def _iscsi(c: Ctx, src: Any, path: str, pv_name: str | None) -> list[Cause]:
    errs = _req_str(c, src, path, "targetPortal")
    portal = c.str(src, "targetPortal", path)
    initiator = c.ostr(src, "initiatorName", path)
    if pv_name is not None and initiator is not None and len(pv_name + ":" + portal) > 64:
        errs.append(invalid(child(path, "targetportal"), portal,
                            "Total length of <volume name>:<iscsi.targetPortal> must be under 64 characters if "
                            "iscsi.initiatorName is specified."))
    iqn = c.str(src, "iqn", path)
    fmt_msg = "must be valid format" if pv_name is not None else "must be valid format starting with iqn, eui, or naa"
    if not iqn:
        errs.append(required(child(path, "iqn")))
    elif not iqn.startswith(("iqn", "eui", "naa")):
        errs.append(invalid(child(path, "iqn"), iqn, fmt_msg))
    elif (iqn.startswith("iqn") and not _IQN_RE.search(iqn)) or (iqn.startswith("eui") and not _EUI_RE.search(iqn)) \
            or (iqn.startswith("naa") and not _NAA_RE.search(iqn)):
        errs.append(invalid(child(path, "iqn"), iqn, "must be valid format"))
    lun = c.int(src, "lun", path) or 0
    if not 0 <= lun <= 255:
        errs.append(invalid(child(path, "lun"), lun, "must be between 0 and 255, inclusive"))
    if (c.bool(src, "chapAuthDiscovery", path) or c.bool(src, "chapAuthSession", path)) and not c.has(src, "secretRef"):
        errs.append(required(child(path, "secretRef")))
    if pv_name is not None:
        sref = c.obj(src, "secretRef", path)
        if sref is not None and not c.str(sref, "name", child(path, "secretRef")):
            errs.append(required(child(path, "secretRef", "name")))
    if initiator is not None:
        ip = child(path, "initiatorname")
        if not initiator.startswith(("iqn", "eui", "naa")):
            errs.append(invalid(ip, initiator, fmt_msg))
        if (initiator.startswith("iqn") and not _IQN_RE.search(initiator)) or (
                initiator.startswith("eui") and not _EUI_RE.search(initiator)) or (
                initiator.startswith("naa") and not _NAA_RE.search(initiator)):
            errs.append(invalid(ip, initiator, "must be valid format"))
    return errs


def _fc(c: Ctx, src: Any, path: str) -> list[Cause]:
    errs = []
    wwns = c.slist(src, "targetWWNs", path)
    wwids = c.slist(src, "wwids", path)
    if not wwns and not wwids:
        errs.append(required(child(path, "targetWWNs"), "must specify either targetWWNs or wwids, but not both"))
    if wwns and wwids:
        errs.append(invalid(child(path, "targetWWNs"), wwns, "targetWWNs and wwids can not be specified simultaneously"))
    if wwns:
        lun = c.int(src, "lun", path)
        if lun is None:
            errs.append(required(child(path, "lun"), "lun is required if targetWWNs is specified"))
        elif not 0 <= lun <= 255:
            errs.append(invalid(child(path, "lun"), lun, "must be between 0 and 255, inclusive"))
    return errs


def _nfs(c: Ctx, src: Any, path: str) -> list[Cause]:
    errs = _req_str(c, src, path, "server", "path")
    p = c.str(src, "path", path)
    if not p.startswith("/"):
        errs.append(invalid(child(path, "path"), p, "must be an absolute path"))
    return errs


def _glusterfs(c: Ctx, src: Any, path: str, pv: bool) -> list[Cause]:
    errs = _req_str(c, src, path, "endpoints", "path")
    if pv:
        ns = c.ostr(src, "endpointsNamespace", path)
        if ns is not None:
            np = child(path, "endpointsNamespace")
            if ns == "":
                errs.append(invalid(np, ns, "if the endpointnamespace is set, it must be a valid namespace name"))
            else:
                errs += [invalid(np, ns, m) for m in name_is_dns_label(ns, False)]
    return errs


def _flocker(c: Ctx, src: Any, path: str) -> list[Cause]:
    errs = []
    name = c.str(src, "datasetName", path)
    uuid = c.str(src, "datasetUUID", path)
    if not name and not uuid:
        errs.append(required(path, "one of datasetName and datasetUUID is required"))
    if name and uuid:
        errs.append(invalid(path, "resource", "datasetName and datasetUUID can not be specified simultaneously"))
    if "/" in name:
        errs.append(invalid(child(path, "datasetName"), name, "must not contain '/'"))
    return errs


def _rbd(c: Ctx, src: Any, path: str) -> list[Cause]:
    errs = []
    if not c.slist(src, "monitors", path):
        errs.append(required(child(path, "monitors")))
    if not c.str(src, "image", path):
        errs.append(required(child(path, "image")))
    return errs


def _cinder(c: Ctx, src: Any, path: str, pv: bool) -> list[Cause]:
    errs = _req_str(c, src, path, "volumeID")
    sref = c.obj(src, "secretRef", path)
    if sref is not None:
        sp = child(path, "secretRef")
        if not c.str(sref, "name", sp):
            errs.append(required(child(sp, "name")))
        if pv and not c.str(sref, "namespace", sp):
            errs.append(required(child(sp, "namespace")))
    return errs


def _cephfs(c: Ctx, src: Any, path: str) -> list[Cause]:
    return [] if c.slist(src, "monitors", path) else [required(child(path, "monitors"))]


def _flex(c: Ctx, src: Any, path: str) -> list[Cause]:
    errs = _req_str(c, src, path, "driver")
    for k in c.smap(src, "options", path):
        ns = k.split("/", 1)[0] if "/" in k else k
        normalized = "." + ns.lower()
        if normalized.endswith(".kubernetes.io") or normalized.endswith(".k8s.io"):
            errs.append(invalid(key(child(path, "options"), k), k, "kubernetes.io and k8s.io namespaces are reserved"))
    return errs


def _azure_file(c: Ctx, src: Any, path: str, pv: bool) -> list[Cause]:
    errs = _req_str(c, src, path, "secretName", "shareName")
    if pv:
        ns = c.ostr(src, "secretNamespace", path)
        if ns is not None and not ns:
            errs.append(required(child(path, "secretNamespace")))
    return errs


def _azure_disk(c: Ctx, src: Any, path: str) -> list[Cause]:
    errs = []
    if not c.str(src, "diskName", path):
        errs.append(required(child(path, "diskName")))
    uri = c.str(src, "diskURI", path)
    if not uri:
        errs.append(required(child(path, "diskURI")))
    caching = c.ostr(src, "cachingMode", path)
    if caching is not None and caching not in ("None", "ReadOnly", "ReadWrite"):
        errs.append(not_supported(child(path, "cachingMode"), caching, ["None", "ReadOnly", "ReadWrite"]))
    kind = c.ostr(src, "kind", path)
    if kind is not None and kind not in ("Dedicated", "Managed", "Shared"):
        errs.append(not_supported(child(path, "kind"), kind, ["Dedicated", "Managed", "Shared"]))
    if kind == "Managed" and not uri.startswith("/subscriptions/"):
        errs.append(not_supported(child(path, "diskURI"), uri, [
            "/subscriptions/{sub-id}/resourcegroups/{group-name}/providers/microsoft.compute/disks/{disk-id}"]))
    if kind is not None and kind != "Managed" and not uri.startswith("https://"):
        errs.append(not_supported(child(path, "diskURI"), uri, [
            "https://{account-name}.blob.core.windows.net/{container-name}/{disk-name}.vhd"]))
    return errs


def _quobyte(c: Ctx, src: Any, path: str) -> list[Cause]:
    errs = []
    registry = c.str(src, "registry", path)
    if not registry:
        errs.append(required(child(path, "registry"), "must be a host:port pair or multiple pairs separated by commas"))
    elif len(c.str(src, "tenant", path)) >= 65:
        errs.append(required(child(path, "tenant"), "must be a UUID and may not exceed a length of 64 characters"))
    else:
        for pair in registry.split(","):
            host, sep, _port = pair.rpartition(":")
            if not sep or ":" in host.strip("[]"):
                errs.append(invalid(child(path, "registry"), registry,
                                    "must be a host:port pair or multiple pairs separated by commas"))
    if not c.str(src, "volume", path):
        errs.append(required(child(path, "volume")))
    return errs


def _storageos(c: Ctx, src: Any, path: str, pv: bool) -> list[Cause]:
    errs = []
    vn = c.str(src, "volumeName", path)
    if not vn:
        errs.append(required(child(path, "volumeName")))
    else:
        errs += [invalid(child(path, "volumeName"), vn, m) for m in is_dns1123_label(vn)]
    vns = c.str(src, "volumeNamespace", path)
    if vns:
        errs += [invalid(child(path, "volumeNamespace"), vns, m) for m in is_dns1123_label(vns)]
    sref = c.obj(src, "secretRef", path)
    if sref is not None:
        sp = child(path, "secretRef")
        if not c.str(sref, "name", sp):
            errs.append(required(child(sp, "name")))
        if pv and not c.str(sref, "namespace", sp):
            errs.append(required(child(sp, "namespace")))
    return errs


def validate_csi_driver_name(name: str, path: str) -> list[Cause]:
    errs = []
    if not name:
        errs.append(required(path))
    if _blen(name) > 63:
        errs.append(too_long(path, 63))
    errs += [invalid(path, name, m) for m in is_dns1123_subdomain(name.lower())]
    return errs


def _pv_secret_ref(c: Ctx, ref: Any, path: str) -> list[Cause]:
    errs = []
    name = c.str(ref, "name", path)
    if not name:
        errs.append(required(child(path, "name")))
    else:
        errs += [invalid(child(path, "name"), name, m) for m in is_dns1123_subdomain(name)]
    ns = c.str(ref, "namespace", path)
    if not ns:
        errs.append(required(child(path, "namespace")))
    else:
        errs += [invalid(child(path, "namespace"), ns, m) for m in is_dns1123_label(ns)]
    return errs


def _csi_pv(c: Ctx, src: Any, path: str) -> list[Cause]:
    errs = validate_csi_driver_name(c.str(src, "driver", path), child(path, "driver"))
    if not c.str(src, "volumeHandle", path):
        errs.append(required(child(path, "volumeHandle")))
    for ref_name in ("controllerPublishSecretRef", "controllerExpandSecretRef", "nodePublishSecretRef",
                     "nodeExpandSecretRef"):
        ref = c.obj(src, ref_name, path)
        if ref is not None:
            errs += _pv_secret_ref(c, ref, child(path, ref_name))
    return errs


def _csi_inline(c: Ctx, src: Any, path: str) -> list[Cause]:
    errs = validate_csi_driver_name(c.str(src, "driver", path), child(path, "driver"))
    ref = c.obj(src, "nodePublishSecretRef", path)
    if ref is not None:
        name = c.str(ref, "name", child(path, "nodePublishSecretRef"))
        if not name:
            errs.append(required(child(path, "nodePublishSecretRef", "name")))
        else:
            errs += [invalid(child(path, "name"), name, m) for m in name_is_dns_subdomain(name, False)]
    return errs


def _simple_required(*names: str) -> Callable[[Ctx, JSON, str], list[Cause]]:
    def required_fields(c: Ctx, src: Any, path: str) -> list[Cause]:
        return _req_str(c, src, path, *names)
    return required_fields


def _gce_pd(c: Ctx, src: Any, path: str) -> list[Cause]:
    path = path.rsplit(".", 1)[0] + ".persistentDisk"  # Kubernetes reports these under "persistentDisk"
    return _req_str(c, src, path, "pdName") + _partition(c, src, path)


def _aws_ebs(c: Ctx, src: Any, path: str) -> list[Cause]:
    return _req_str(c, src, path, "volumeID") + _partition(c, src, path)


def _local(c: Ctx, src: Any, path: str) -> list[Cause]:
    p = c.str(src, "path", path)
    if not p:
        return [required(child(path, "path"))]
    return _path_no_backsteps(p, child(path, "path"))


# (json key, Forbidden path name, validator path name, validator)
_PV_SOURCES: list[tuple[str, str, str, Callable[[Ctx, JSON, str], list[Cause]]]] = [
    ("hostPath", "hostPath", "hostPath", _host_path),
    ("gcePersistentDisk", "gcePersistentDisk", "gcePersistentDisk", _gce_pd),
    ("awsElasticBlockStore", "awsElasticBlockStore", "awsElasticBlockStore", _aws_ebs),
    ("glusterfs", "glusterfs", "glusterfs", lambda c, s, p: _glusterfs(c, s, p, True)),
    ("flocker", "flocker", "flocker", _flocker),
    ("nfs", "nfs", "nfs", _nfs),
    ("rbd", "rbd", "rbd", _rbd),
    ("quobyte", "quobyte", "quobyte", _quobyte),
    ("cephfs", "cephFS", "cephfs", _cephfs),
    ("iscsi", "iscsi", "iscsi", lambda c, s, p: _iscsi(c, s, p, "")),
    ("cinder", "cinder", "cinder", lambda c, s, p: _cinder(c, s, p, True)),
    ("fc", "fc", "fc", _fc),
    ("flexVolume", "", "flexVolume", _flex),
    ("azureFile", "azureFile", "azureFile", lambda c, s, p: _azure_file(c, s, p, True)),
    ("vsphereVolume", "vsphereVolume", "vsphereVolume", _simple_required("volumePath")),
    ("photonPersistentDisk", "photonPersistentDisk", "photonPersistentDisk", _simple_required("pdID")),
    ("portworxVolume", "portworxVolume", "portworxVolume", _simple_required("volumeID")),
    ("azureDisk", "azureDisk", "azureDisk", _azure_disk),
    ("scaleIO", "scaleIO", "scaleIO", _simple_required("gateway", "system", "volumeName")),
    ("local", "local", "local", _local),
    ("storageos", "storageos", "storageos", lambda c, s, p: _storageos(c, s, p, True)),
    ("csi", "csi", "csi", _csi_pv),
]
PV_SOURCE_KEYS = [s[0] for s in _PV_SOURCES]


def _access_modes(c: Ctx, spec: Any, path: str, required_detail: str) -> list[Cause]:
    errs: list[Cause] = []
    modes = c.slist(spec, "accessModes", path)
    if not modes:
        errs.append(required(child(path, "accessModes"), required_detail))
    rwop = other = False
    for m in modes:
        if m == "ReadWriteOncePod":
            rwop = True
        elif m in _SUPPORTED_ACCESS_MODE_SET:
            other = True
        else:
            errs.append(not_supported(child(path, "accessModes"), m, SUPPORTED_ACCESS_MODES))
    if rwop and other:
        errs.append(forbidden(child(path, "accessModes"), "may not use ReadWriteOncePod with other access modes"))
    return errs


def _go_resource_list(qs: dict[str, ParsedQuantity] | None) -> GoRaw:
    if qs is None:
        return GoRaw("core.ResourceList(nil)")
    parts = []
    for name, q in qs.items():
        if q.int_form is not None:
            inner = (f"i:resource.int64Amount{{value:{q.int_form[0]}, scale:{q.int_form[1]}}}, "
                     f"d:resource.infDecAmount{{Dec:(*inf.Dec)(nil)}}")
        else:
            inner = "i:resource.int64Amount{value:0, scale:0}, d:resource.infDecAmount{Dec:(*inf.Dec)(...)}"
        parts.append(f"{go_quote(name)}:resource.Quantity{{{inner}, s:{go_quote(q.cached or '')}, "
                     f"Format:{go_quote(q.format)}}}")
    return GoRaw("core.ResourceList{" + ", ".join(parts) + "}")


# Position of each source in _PV_SOURCES: a spec names one or two of the 22, so the loop below
# visits only the keys the spec has, in _PV_SOURCES order.
_PV_SOURCE_INDEX = {entry[0]: i for i, entry in enumerate(_PV_SOURCES)}
_CLAIM_REF_FIELDS = ("apiVersion", "kind", "namespace", "name", "uid", "resourceVersion", "fieldPath")


def validate_pv_spec(c: Ctx, spec: Any, pv_name: str, path: str = "spec") -> list[Cause]:
    errs = _access_modes(c, spec, path, "")
    capacity = c.qmap(spec, "capacity", path)
    if not capacity:
        errs.append(required(child(path, "capacity")))
    if capacity is None or "storage" not in capacity or len(capacity) > 1:
        errs.append(not_supported(child(path, "capacity"), _go_resource_list(capacity), ["storage"]))
    if capacity:
        for r, q in capacity.items():
            if q.value <= 0:  # both checks below pass for a positive quantity
                qp = key(child(path, "capacity"), r)
                errs += validate_basic_resource(q, qp)
                errs += validate_positive_quantity(q, qp)
    policy = c.str(spec, "persistentVolumeReclaimPolicy", path)
    if policy and policy not in SUPPORTED_RECLAIM_POLICIES:
        errs.append(not_supported(child(path, "persistentVolumeReclaimPolicy"), policy, SUPPORTED_RECLAIM_POLICIES))
    affinity_set = False
    na = c.obj(spec, "nodeAffinity", path)
    if na is not None:
        affinity_set = True
        na_path = child(path, "nodeAffinity")
        req = c.obj(na, "required", na_path)
        if req is not None:
            errs += validate_node_selector(c, req, child(na_path, "required"))
        else:
            errs.append(required(child(na_path, "required"), "must specify required node constraints"))
    num = 0
    # Only the source keys present can be non-None (c.obj of an absent key is None and records nothing).
    present = [i for k in spec if (i := _PV_SOURCE_INDEX.get(k)) is not None] if isinstance(spec, dict) else []
    if len(present) > 1:
        present.sort()
    for i in present:
        json_key, forbid_name, val_name, fn = _PV_SOURCES[i]
        src = c.obj(spec, json_key, path)
        if src is None:
            continue
        if num > 0 and forbid_name:
            errs.append(forbidden(child(path, forbid_name), "may not specify more than 1 volume type"))
            continue
        num += 1
        vp = child(path, val_name)
        if json_key == "iscsi":
            errs += _iscsi(c, src, vp, pv_name)
        else:
            errs += fn(c, src, vp)
        if json_key == "local" and not affinity_set:
            errs.append(required(child(path, "nodeAffinity"), "Local volume requires node affinity"))
    if num == 0:
        errs.append(required(path, "must specify a volume type"))
    if policy == "Recycle":  # (reading hostPath again otherwise only repeats a recorded decode error)
        host_path = c.obj(spec, "hostPath", path)
        if host_path is not None:
            hp = c.str(host_path, "path", child(path, "hostPath"))
            if hp and posixpath.normpath(hp) in ("/", "//"):
                errs.append(forbidden(child(path, "persistentVolumeReclaimPolicy"), "may not be 'recycle' for a hostPath mount of '/'"))
    sc = c.str(spec, "storageClassName", path)
    if sc:
        errs += [invalid(child(path, "storageClassName"), sc, m) for m in name_is_dns_subdomain(sc, False)]
    mode = c.ostr(spec, "volumeMode", path)
    if mode is not None and mode not in SUPPORTED_VOLUME_MODES:
        errs.append(not_supported(child(path, "volumeMode"), mode, SUPPORTED_VOLUME_MODES))
    claim_ref = c.obj(spec, "claimRef", path)
    if claim_ref is not None:  # type checks only: Kubernetes does not validate the contents
        c.strs(claim_ref, _CLAIM_REF_FIELDS, child(path, "claimRef"))
    if isinstance(spec, dict) and spec.get("mountOptions") is not None:
        c.slist(spec, "mountOptions", path)
    return errs


def _data_source(c: Ctx, ds: Any, path: str, with_namespace: bool) -> list[Cause]:
    errs = []
    if not c.str(ds, "name", path):
        errs.append(required(child(path, "name")))
    kind = c.str(ds, "kind", path)
    if not kind:
        errs.append(required(child(path, "kind")))
    group = c.ostr(ds, "apiGroup", path) or ""
    if not group and kind != "PersistentVolumeClaim":
        errs.append(invalid(path, kind, "must be 'PersistentVolumeClaim' when referencing the default apiGroup"))
    if group:
        errs += [invalid(child(path, "apiGroup"), group, m) for m in is_dns1123_subdomain(group)]
    if with_namespace:
        ns = c.ostr(ds, "namespace", path)
        if ns:
            errs += [invalid(child(path, "namespace"), ns, m) for m in name_is_dns_label(ns, False)]
    return errs


def validate_pvc_spec(c: Ctx, spec: Any, path: str = "spec") -> list[Cause]:
    errs = _access_modes(c, spec, path, "at least 1 access mode is required")
    # Optional fields that are absent or null are skipped: reading them records and checks nothing.
    sd: JSON = spec if isinstance(spec, dict) else {}
    if sd.get("selector") is not None:
        sel = c.obj(spec, "selector", path)
        if sel is not None:
            errs_sel = validate_label_selector(c, sel, child(path, "selector"))
            errs = errs[:1] + errs_sel + errs[1:] if errs and errs[0].reason == REQUIRED else errs_sel + errs
    res = c.obj(spec, "resources", path)
    requests = c.qmap(res, "requests", child(path, "resources")) or {}
    if res is not None and res.get("limits") is not None:
        c.qmap(res, "limits", child(path, "resources"))
    storage = requests.get("storage")
    if storage is None:
        errs.append(required(key(child(path, "resources"), "storage")))
    elif storage.value <= 0:
        errs += validate_positive_quantity(storage, key(child(path, "resources"), "storage"))
    # (a positive request also passes validate_resource_quantity_value: "storage" is not an integer resource)
    sc = c.ostr(spec, "storageClassName", path)
    if sc:
        msgs = name_is_dns_subdomain(sc, False)
        if msgs:
            errs += [invalid(child(path, "storageClassName"), sc, m) for m in msgs]
    mode = c.ostr(spec, "volumeMode", path)
    if mode is not None and mode not in SUPPORTED_VOLUME_MODES:
        errs.append(not_supported(child(path, "volumeMode"), mode, SUPPORTED_VOLUME_MODES))
    ds = c.obj(spec, "dataSource", path) if sd.get("dataSource") is not None else None
    if ds is not None:
        errs += _data_source(c, ds, child(path, "dataSource"), False)
    dsr = c.obj(spec, "dataSourceRef", path) if sd.get("dataSourceRef") is not None else None
    if dsr is not None:
        errs += _data_source(c, dsr, child(path, "dataSourceRef"), True)
    if dsr is not None and c.ostr(dsr, "namespace", ""):
        if ds is not None:
            errs.append(invalid(path, GoRaw(child(path, "dataSource")), "may not be specified when dataSourceRef.namespace is specified"))
    elif ds is not None and dsr is not None:
        same = (c.ostr(ds, "apiGroup", "") == c.ostr(dsr, "apiGroup", "") and c.str(ds, "kind", "") == c.str(dsr, "kind", "")
                and c.str(ds, "name", "") == c.str(dsr, "name", ""))
        if not same:
            errs.append(invalid(path, GoRaw(child(path, "dataSource")), "must match dataSourceRef"))
    c.str(spec, "volumeName", path)
    return errs


def validate_pvc_template(c: Ctx, tmpl: Any, path: str) -> list[Cause]:
    mp = child(path, "metadata")
    meta = c.obj(tmpl, "metadata", path)
    errs = validate_annotations(c.smap(meta, "annotations", mp), child(mp, "annotations"))
    errs += validate_labels(c.smap(meta, "labels", mp), child(mp, "labels"))
    if isinstance(meta, dict):
        for k, v in meta.items():
            if k not in ("labels", "annotations", "creationTimestamp") and v not in (None, "", [], {}, 0):
                errs.append(forbidden(child(mp, k), "cannot be set"))
    errs += validate_pvc_spec(c, c.obj(tmpl, "spec", path), child(path, "spec"))
    return errs


# ============================================================================ pods

def _key_to_path(c: Ctx, kp: Any, path: str) -> list[Cause]:
    errs = []
    if not c.str(kp, "key", path):
        errs.append(required(child(path, "key")))
    p = c.str(kp, "path", path)
    if not p:
        errs.append(required(child(path, "path")))
    errs += _local_non_reserved_path(p, child(path, "path"))
    mode = c.int(kp, "mode", path)
    if mode is not None and not 0 <= mode <= 0o777:
        errs.append(invalid(child(path, "mode"), mode, _FILE_MODE_ERR))
    return errs


def _default_mode(c: Ctx, src: Any, path: str) -> list[Cause]:
    mode = c.int(src, "defaultMode", path)
    if mode is not None and not 0 <= mode <= 0o777:
        return [invalid(child(path, "defaultMode"), mode, _FILE_MODE_ERR)]
    return []


def _secret_vol(c: Ctx, src: Any, path: str) -> list[Cause]:
    errs = _req_str(c, src, path, "secretName") + _default_mode(c, src, path)
    for _, kp, ip in c.dlist(src, "items", path):
        errs += _key_to_path(c, kp, ip)
    return errs


def _configmap_vol(c: Ctx, src: Any, path: str) -> list[Cause]:
    errs = _req_str(c, src, path, "name") + _default_mode(c, src, path)
    for _, kp, ip in c.dlist(src, "items", path):
        errs += _key_to_path(c, kp, ip)
    return errs


_VOLUME_FIELD_PATHS = ["metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"]
_ENV_FIELD_PATHS = ["metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
                    "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"]
_CONVERTIBLE_FIELD_PATHS = {"metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
                            "metadata.uid", "spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName",
                            "spec.schedulerName", "status.phase", "status.hostIP", "status.hostIPs", "status.podIP",
                            "status.podIPs"}
_SUBSCRIPT_RE = re.compile(r"^(metadata\.(?:annotations|labels))\['(.*)'\]$", re.S)
_RESOURCE_FIELD_PATHS = ["limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu",
                         "requests.ephemeral-storage", "requests.memory"]


def _object_field_selector(c: Ctx, fs: Any, allowed: list[str], path: str) -> list[Cause]:
    if not c.str(fs, "apiVersion", path):
        return [required(child(path, "apiVersion"))]
    fp = c.str(fs, "fieldPath", path)
    if not fp:
        return [required(child(path, "fieldPath"))]
    version = c.str(fs, "apiVersion", path)
    m = _SUBSCRIPT_RE.match(fp)
    if version != "v1":
        return [invalid(child(path, "fieldPath"), fp, f"error converting fieldPath: unsupported pod version: {version}")]
    if m is None and fp not in _CONVERTIBLE_FIELD_PATHS:
        return [invalid(child(path, "fieldPath"), fp, f"error converting fieldPath: field label not supported: {fp}")]
    if m is not None:
        base, sub = m.group(1), m.group(2)
        check = sub.lower() if base == "metadata.annotations" else sub
        return [invalid(path, check, msg) for msg in is_qualified_name(check)]
    if fp not in allowed:
        return [not_supported(child(path, "fieldPath"), fp, allowed)]
    return []


_DIVISOR_CPU = {"1m", "1"}
_DIVISOR_BYTES = {"1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"}


def _resource_field_selector(c: Ctx, fs: Any, path: str, volume: bool) -> list[Cause]:
    errs = []
    resource = c.str(fs, "resource", path)
    if volume and not c.str(fs, "containerName", path):
        errs.append(required(child(path, "containerName")))
    elif not resource:
        errs.append(required(child(path, "resource")))
    elif resource not in _RESOURCE_FIELD_PATHS and not resource.startswith(("requests.hugepages-", "limits.hugepages-")):
        errs.append(not_supported(child(path, "resource"), resource, _RESOURCE_FIELD_PATHS))
    divisor = c.qty(c._get(fs, "divisor"), child(path, "divisor"))
    if divisor is not None and divisor.value != 0:
        d = divisor.canonical()
        dp = child(path, "divisor")
        if resource in ("limits.cpu", "requests.cpu") and d not in _DIVISOR_CPU:
            errs.append(invalid(dp, resource, "only divisor's values 1m and 1 are supported with the cpu resource"))
        elif resource in ("limits.memory", "requests.memory") and d not in _DIVISOR_BYTES:
            errs.append(invalid(dp, resource, "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the memory resource"))
        elif resource in ("limits.ephemeral-storage", "requests.ephemeral-storage") and d not in _DIVISOR_BYTES:
            errs.append(invalid(dp, resource, "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the local ephemeral storage resource"))
        if resource.startswith(("requests.hugepages-", "limits.hugepages-")) and d not in _DIVISOR_BYTES:
            errs.append(invalid(dp, resource, "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the hugepages resource"))
    return errs


def _downward_file(c: Ctx, f: Any, path: str, item_path: str) -> list[Cause]:
    errs = []
    p = c.str(f, "path", item_path)
    if not p:
        errs.append(required(child(path, "path")))
    errs += _local_non_reserved_path(p, child(path, "path"))
    fr = c.obj(f, "fieldRef", item_path)
    rfr = c.obj(f, "resourceFieldRef", item_path)
    if fr is not None:
        errs += _object_field_selector(c, fr, _VOLUME_FIELD_PATHS, child(path, "fieldRef"))
        if rfr is not None:
            errs.append(invalid(path, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
    elif rfr is not None:
        errs += _resource_field_selector(c, rfr, child(path, "resourceFieldRef"), True)
    else:
        errs.append(required(path, "one of fieldRef and resourceFieldRef is required"))
    mode = c.int(f, "mode", item_path)
    if mode is not None and not 0 <= mode <= 0o777:
        errs.append(invalid(child(path, "mode"), mode, _FILE_MODE_ERR))
    return errs


def _downward_vol(c: Ctx, src: Any, path: str) -> list[Cause]:
    errs = _default_mode(c, src, path)
    for _, f, ip in c.dlist(src, "items", path):
        errs += _downward_file(c, f, path, ip)
    return errs


def _projected_vol(c: Ctx, src: Any, path: str) -> list[Cause]:
    errs = _default_mode(c, src, path)
    seen: set[str] = set()
    for _, s, sp in c.dlist(src, "sources", path):
        n = 0
        for kind_name, name_key in (("secret", "name"), ("configMap", "name")):
            sub = c.obj(s, kind_name, sp)
            if sub is None:
                continue
            n += 1
            pp = child(sp, kind_name)
            name = c.str(sub, name_key, pp)
            if not name:
                errs.append(required(child(pp, "name")))
            for _, kp, ip in c.dlist(sub, "items", pp):
                errs += _key_to_path(c, kp, ip)
                p = c.str(kp, "path", ip)
                if p:
                    if p in seen:
                        errs.append(invalid(path, name, "conflicting duplicate paths"))
                    seen.add(p)
        dapi = c.obj(s, "downwardAPI", sp)
        if dapi is not None:
            n += 1
            pp = child(sp, "downwardAPI")
            for _, f, ip in c.dlist(dapi, "items", pp):
                errs += _downward_file(c, f, pp, ip)
                p = c.str(f, "path", ip)
                if p:
                    if p in seen:
                        errs.append(invalid(path, p, "conflicting duplicate paths"))
                    seen.add(p)
        tok = c.obj(s, "serviceAccountToken", sp)
        if tok is not None:
            n += 1
            pp = child(sp, "serviceAccountToken")
            exp = c.int(tok, "expirationSeconds", pp)
            exp = 0 if exp is None else exp
            if exp < 600:
                errs.append(invalid(child(pp, "expirationSeconds"), exp, "may not specify a duration less than 10 minutes"))
            if exp > 1 << 32:
                errs.append(invalid(child(pp, "expirationSeconds"), exp, "may not specify a duration larger than 2^32 seconds"))
            p = c.str(tok, "path", pp)
            if not p:
                errs.append(required(child(path, "path")))
            else:
                errs += _local_non_reserved_path(p, child(path, "path"))
        ctb = c.obj(s, "clusterTrustBundle", sp)
        if ctb is not None:
            n += 1
            pp = child(sp, "clusterTrustBundle")
            if not c.str(ctb, "path", pp):
                errs.append(required(child(pp, "path")))
        if n > 1:
            errs.append(forbidden(sp, "may not specify more than 1 volume type per source"))
    return errs


def _ephemeral_vol(c: Ctx, src: Any, path: str) -> list[Cause]:
    tmpl = c.obj(src, "volumeClaimTemplate", path)
    if tmpl is None:
        return [required(child(path, "volumeClaimTemplate"))]
    return validate_pvc_template(c, tmpl, child(path, "volumeClaimTemplate"))


def _pull_policy(c: Ctx, value: str, path: str) -> list[Cause]:
    if value in ("Always", "IfNotPresent", "Never"):
        return []
    if value == "":
        return [required(path)]
    return [not_supported(path, value, ["Always", "IfNotPresent", "Never"])]


def _image_vol(c: Ctx, src: Any, path: str) -> list[Cause]:
    errs = []
    if not c.str(src, "reference", path):
        errs.append(required(child(path, "reference")))
    return errs + _pull_policy(c, c.str(src, "pullPolicy", path), child(path, "pullPolicy"))


def _empty_dir(c: Ctx, src: Any, path: str) -> list[Cause]:
    q = c.qty(c._get(src, "sizeLimit"), child(path, "sizeLimit"))
    c.str(src, "medium", path)
    if q is not None and q.value < 0:
        return [forbidden(child(path, "sizeLimit"), "SizeLimit field must be a valid resource quantity")]
    return []


def _git_repo(c: Ctx, src: Any, path: str) -> list[Cause]:
    errs = _req_str(c, src, path, "repository")
    return errs + _local_descending_path(c.str(src, "directory", path), child(path, "directory"))


# (json key, Forbidden path name, validator path name, validator)
_POD_VOLUME_SOURCES: list[tuple[str, str, str, Callable[[Ctx, JSON, str], list[Cause]]]] = [
    ("emptyDir", "", "emptyDir", _empty_dir),
    ("hostPath", "hostPath", "hostPath", _host_path),
    ("gitRepo", "gitRepo", "gitRepo", _git_repo),
    ("gcePersistentDisk", "gcePersistentDisk", "gcePersistentDisk", _gce_pd),
    ("awsElasticBlockStore", "awsElasticBlockStore", "awsElasticBlockStore", _aws_ebs),
    ("secret", "secret", "secret", _secret_vol),
    ("nfs", "nfs", "nfs", _nfs),
    ("iscsi", "iscsi", "iscsi", lambda c, s, p: _iscsi(c, s, p, None)),
    ("glusterfs", "glusterfs", "glusterfs", lambda c, s, p: _glusterfs(c, s, p, False)),
    ("flocker", "flocker", "flocker", _flocker),
    ("persistentVolumeClaim", "persistentVolumeClaim", "persistentVolumeClaim", _simple_required("claimName")),
    ("rbd", "rbd", "rbd", _rbd),
    ("cinder", "cinder", "cinder", lambda c, s, p: _cinder(c, s, p, False)),
    ("cephfs", "cephFS", "cephfs", _cephfs),
    ("quobyte", "quobyte", "quobyte", _quobyte),
    ("downwardAPI", "downwarAPI", "downwardAPI", _downward_vol),
    ("fc", "fc", "fc", _fc),
    ("flexVolume", "flexVolume", "flexVolume", _flex),
    ("configMap", "configMap", "configMap", _configmap_vol),
    ("azureFile", "azureFile", "azureFile", lambda c, s, p: _azure_file(c, s, p, False)),
    ("vsphereVolume", "vsphereVolume", "vsphereVolume", _simple_required("volumePath")),
    ("photonPersistentDisk", "photonPersistentDisk", "photonPersistentDisk", _simple_required("pdID")),
    ("portworxVolume", "portworxVolume", "portworxVolume", _simple_required("volumeID")),
    ("azureDisk", "azureDisk", "azureDisk", _azure_disk),
    ("storageos", "storageos", "storageos", lambda c, s, p: _storageos(c, s, p, False)),
    ("projected", "projected", "projected", _projected_vol),
    ("scaleIO", "scaleIO", "scaleIO", _simple_required("gateway", "system", "volumeName")),
    ("csi", "csi", "csi", _csi_inline),
    ("ephemeral", "ephemeral", "ephemeral", _ephemeral_vol),
    ("image", "image", "image", _image_vol),
]


def validate_volumes(c: Ctx, spec: Any, spec_path: str, pod_name: str | None) -> tuple[dict[str, JSON], list[Cause]]:
    errs: list[Cause] = []
    names: set[str] = set()
    vols: dict[str, JSON] = {}
    volumes = c.dlist(spec, "volumes", spec_path)
    created_pvcs = set()
    if pod_name:
        for _, vol, vp in volumes:
            if c.has(vol, "ephemeral"):
                created_pvcs.add(f"{pod_name}-{c.str(vol, 'name', vp)}")
    for _, vol, vp in volumes:
        name = c.str(vol, "name", vp)
        el: list[Cause] = []
        num = 0
        for json_key, forbid_name, val_name, fn in _POD_VOLUME_SOURCES:
            src = c.obj(vol, json_key, vp)
            if src is None:
                continue
            if num > 0 and forbid_name:
                el.append(forbidden(child(vp, forbid_name), "may not specify more than 1 volume type"))
                continue
            num += 1
            el += fn(c, src, child(vp, val_name))
            if json_key == "iscsi" and c.ostr(src, "initiatorName", vp) is not None and \
                    len(name + ":" + c.str(src, "targetPortal", vp)) > 64:
                el.append(invalid(child(vp, "name"), name, "Total length of <volume name>:<iscsi.targetPortal> must be "
                                                          "under 64 characters if iscsi.initiatorName is specified."))
            if json_key == "ephemeral" and pod_name and name:
                pvc_name = f"{pod_name}-{name}"
                el += [invalid(child(vp, "name"), name, f"PVC name {go_quote(pvc_name)}: {m}")
                       for m in name_is_dns_subdomain(pvc_name, False)]
        if num == 0:
            el.append(required(vp, "must specify a volume type"))
        if not name:
            el.append(required(child(vp, "name")))
        else:
            el += [invalid(child(vp, "name"), name, m) for m in is_dns1123_label(name)]
        if name in names:
            el.append(duplicate(child(vp, "name"), name))
        if not el:
            names.add(name)
            vols[name] = vol
        else:
            errs += el
        pvc = c.obj(vol, "persistentVolumeClaim", vp)
        if pvc is not None and c.str(pvc, "claimName", "") in created_pvcs:
            errs.append(invalid(child(vp, "persistentVolumeClaim", "claimName"), c.str(pvc, "claimName", ""),
                                "must not reference a PVC that gets created for an ephemeral volume"))
    return vols, errs


def _container_ports(c: Ctx, ctr: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    names: set[str] = set()
    for _, port, pp in c.dlist(ctr, "ports", path):
        name = c.str(port, "name", pp)
        if name:
            msgs = is_valid_port_name(name)
            if msgs:
                errs += [invalid(child(pp, "name"), name, m) for m in msgs]
            elif name in names:
                errs.append(duplicate(child(pp, "name"), name))
            else:
                names.add(name)
        cp = c.int(port, "containerPort", pp) or 0
        if cp == 0:
            errs.append(required(child(pp, "containerPort")))
        else:
            errs += [invalid(child(pp, "containerPort"), cp, m) for m in is_valid_port_num(cp)]
        hp = c.int(port, "hostPort", pp) or 0
        if hp != 0:
            errs += [invalid(child(pp, "hostPort"), hp, m) for m in is_valid_port_num(hp)]
        proto = c.str(port, "protocol", pp)
        if not proto:
            errs.append(required(child(pp, "protocol")))
        elif proto not in ("SCTP", "TCP", "UDP"):
            errs.append(not_supported(child(pp, "protocol"), proto, ["SCTP", "TCP", "UDP"]))
        c.str(port, "hostIP", pp)
    return errs


def _env(c: Ctx, ctr: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    for _, ev, ep in c.dlist(ctr, "env", path):
        name = c.str(ev, "name", ep)
        if not name:
            errs.append(required(child(ep, "name")))
        else:
            errs += [invalid(child(ep, "name"), name, m) for m in is_relaxed_env_var_name(name)]
        value = c.str(ev, "value", ep)
        vf = c.obj(ev, "valueFrom", ep)
        if vf is None:
            continue
        vp = child(ep, "valueFrom")
        n = 0
        fr = c.obj(vf, "fieldRef", vp)
        if fr is not None:
            n += 1
            errs += _object_field_selector(c, fr, _ENV_FIELD_PATHS, child(vp, "fieldRef"))
        rfr = c.obj(vf, "resourceFieldRef", vp)
        if rfr is not None:
            n += 1
            errs += _resource_field_selector(c, rfr, child(vp, "resourceFieldRef"), False)
        for sel_name in ("configMapKeyRef", "secretKeyRef"):
            sel = c.obj(vf, sel_name, vp)
            if sel is None:
                continue
            n += 1
            sp = child(vp, sel_name)
            sname = c.str(sel, "name", sp)
            errs += [invalid(child(sp, "name"), sname, m) for m in name_is_dns_subdomain(sname, False)]
            k = c.str(sel, "key", sp)
            if not k:
                errs.append(required(child(sp, "key")))
            else:
                errs += [invalid(child(sp, "key"), k, m) for m in is_config_map_key(k)]
        if n == 0:
            errs.append(invalid(vp, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
        elif value:
            errs.append(invalid(vp, "", "may not be specified when `value` is not empty"))
        elif n > 1:
            errs.append(invalid(vp, "", "may not have more than one field specified at a time"))
    return errs


def _env_from(c: Ctx, ctr: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    fp = child(path, "envFrom")
    for _, ev, ep in c.dlist(ctr, "envFrom", path):
        prefix = c.str(ev, "prefix", ep)
        if prefix:
            errs += [invalid(child(ep, "prefix"), prefix, m) for m in is_relaxed_env_var_name(prefix)]
        n = 0
        for ref_name in ("configMapRef", "secretRef"):
            ref = c.obj(ev, ref_name, ep)
            if ref is None:
                continue
            n += 1
            rp = child(ep, ref_name)
            name = c.str(ref, "name", rp)
            if not name:
                errs.append(required(child(rp, "name")))
            else:
                errs += [invalid(child(rp, "name"), name, m) for m in name_is_dns_subdomain(name, True)]
        if n == 0:
            errs.append(invalid(fp, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif n > 1:
            errs.append(invalid(fp, "", "may not have more than one field specified at a time"))
    return errs


def _volume_mounts(c: Ctx, ctr: Any, vols: dict[str, JSON], path: str) -> list[Cause]:
    errs: list[Cause] = []
    mp_path = child(path, "volumeMounts")
    devices = {c.str(d, "name", dp): c.str(d, "devicePath", dp) for _, d, dp in c.dlist(ctr, "volumeDevices", path)}
    mountpoints: set[str] = set()
    privileged = c.bool(c.obj(ctr, "securityContext", path), "privileged", "") is True
    for _, m, ip in c.dlist(ctr, "volumeMounts", path):
        name = c.str(m, "name", ip)
        mount_path = c.str(m, "mountPath", ip)
        if not name:
            errs.append(required(child(ip, "name")))
        if name not in vols:
            errs.append(not_found(child(ip, "name"), name))
        if not mount_path:
            errs.append(required(child(ip, "mountPath")))
        if mount_path in mountpoints:
            errs.append(invalid(child(ip, "mountPath"), mount_path, "must be unique"))
        mountpoints.add(mount_path)
        if name in devices:
            errs.append(invalid(child(ip, "name"), name, "must not already exist in volumeDevices"))
        if mount_path in devices.values():
            errs.append(invalid(child(ip, "mountPath"), mount_path, "must not already exist as a path in volumeDevices"))
        sub = c.str(m, "subPath", ip)
        sub_expr = c.str(m, "subPathExpr", ip)
        if name in vols and c.has(vols[name], "image"):
            if sub:
                errs.append(invalid(child(ip, "subPath"), sub, "not allowed in image volume sources"))
            if sub_expr:
                errs.append(invalid(child(ip, "subPathExpr"), sub_expr, "not allowed in image volume sources"))
        if sub:
            errs += _local_descending_path(sub, child(mp_path, "subPath"))
        if sub_expr:
            if sub:
                errs.append(invalid(child(ip, "subPathExpr"), sub_expr, "subPathExpr and subPath are mutually exclusive"))
            errs += _local_descending_path(sub_expr, child(mp_path, "subPathExpr"))
        prop = c.ostr(m, "mountPropagation", ip)
        if prop is not None:
            pp = child(mp_path, "mountPropagation")
            if prop not in ("Bidirectional", "HostToContainer", "None"):
                errs.append(not_supported(pp, prop, ["Bidirectional", "HostToContainer", "None"]))
            if prop == "Bidirectional" and not privileged:
                errs.append(forbidden(pp, "Bidirectional mount propagation is available only to privileged containers"))
        rro = c.ostr(m, "recursiveReadOnly", ip)
        if rro is not None:
            rp = child(mp_path, "recursiveReadOnly")
            if rro in ("Enabled", "IfPossible"):
                if not c.bool(m, "readOnly", ip):
                    errs.append(forbidden(rp, "may only be specified when readOnly is true"))
                if prop not in (None, "None"):
                    errs.append(forbidden(rp, "may only be specified when mountPropagation is None or not specified"))
            elif rro != "Disabled":
                errs.append(not_supported(rp, rro, ["Disabled", "Enabled", "IfPossible"]))
    return errs


def _volume_devices(c: Ctx, ctr: Any, vols: dict[str, JSON], path: str) -> list[Cause]:
    errs: list[Cause] = []
    mounts = {c.str(m, "name", mp): c.str(m, "mountPath", mp) for _, m, mp in c.dlist(ctr, "volumeMounts", path)}
    paths: set[str] = set()
    names: set[str] = set()
    for _, d, ip in c.dlist(ctr, "volumeDevices", path):
        name = c.str(d, "name", ip)
        dev_path = c.str(d, "devicePath", ip)
        matched = name in vols
        is_pvc = matched and (c.has(vols[name], "persistentVolumeClaim") or c.has(vols[name], "ephemeral"))
        if not name:
            errs.append(required(child(ip, "name")))
        if name in names:
            errs.append(invalid(child(ip, "name"), name, "must be unique"))
        if matched and not is_pvc:
            errs.append(invalid(child(ip, "name"), name,
                                "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode"))
        if not matched:
            errs.append(not_found(child(ip, "name"), name))
        if not dev_path:
            errs.append(required(child(ip, "devicePath")))
        if dev_path in paths:
            errs.append(invalid(child(ip, "devicePath"), dev_path, "must be unique"))
        if dev_path and ".." in dev_path.split("/"):
            errs.append(invalid(child(ip, "devicePath"), dev_path, "can not contain backsteps ('..')"))
        else:
            paths.add(dev_path)
        if name in mounts:
            errs.append(invalid(child(ip, "name"), name, "must not already exist in volumeMounts"))
        if dev_path in mounts.values():
            errs.append(invalid(child(ip, "devicePath"), dev_path, "must not already exist as a path in volumeMounts"))
        if name:
            names.add(name)
    return errs


def _port_num_or_name(v: int | str | None, path: str) -> list[Cause]:
    if isinstance(v, int):
        return [invalid(path, v, m) for m in is_valid_port_num(v)]
    if isinstance(v, str):
        return [invalid(path, v, m) for m in is_valid_port_name(v)]
    return [invalid(path, 0, "must be between 1 and 65535, inclusive")]


def _handler(c: Ctx, h: Any, path: str, grace: int | None, allow_sleep: bool, allow_grpc: bool) -> list[Cause]:
    errs: list[Cause] = []
    n = 0
    kinds = ["exec", "httpGet", "tcpSocket"] + (["grpc"] if allow_grpc else []) + (["sleep"] if allow_sleep else [])
    for kind in kinds:
        sub = c.obj(h, kind, path)
        if sub is None:
            continue
        kp = child(path, kind)
        if n > 0:
            errs.append(forbidden(kp, "may not specify more than 1 handler type"))
            continue
        n += 1
        if kind == "exec":
            if not c.slist(sub, "command", kp):
                errs.append(required(child(kp, "command")))
        elif kind == "httpGet":
            if not c.str(sub, "path", kp):
                errs.append(required(child(kp, "path")))
            errs += _port_num_or_name(c.intstr(sub, "port", kp), child(kp, "port"))
            scheme = c.str(sub, "scheme", kp)
            if scheme not in ("HTTP", "HTTPS"):
                errs.append(not_supported(child(kp, "scheme"), scheme, ["HTTP", "HTTPS"]))
            for _, hdr, hp in c.dlist(sub, "httpHeaders", kp):
                hn = c.str(hdr, "name", hp)
                if not _match(_HTTP_HEADER_RE, hn):
                    errs.append(invalid(child(kp, "httpHeaders"), hn, regex_error(
                        "a valid HTTP header must consist of alphanumeric characters or '-'", _HTTP_HEADER_FMT,
                        "X-Header-Name")))
        elif kind == "tcpSocket":
            errs += _port_num_or_name(c.intstr(sub, "port", kp), child(kp, "port"))
        elif kind == "grpc":
            port = c.int(sub, "port", kp) or 0
            errs += [invalid(child(kp, "port"), port, m) for m in is_valid_port_num(port)]
        elif kind == "sleep":
            secs = c.int(sub, "seconds", kp) or 0
            if grace is not None and (secs <= 0 or secs > grace):
                errs.append(invalid(kp, secs, f"must be greater than 0 and less than terminationGracePeriodSeconds ({grace}). "
                                              "Enable AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep."))
    if n == 0:
        errs.append(required(path, "must specify a handler type"))
    return errs


def _probe(c: Ctx, ctr: Any, name: str, path: str, grace: int | None) -> list[Cause]:
    probe = c.obj(ctr, name, path)
    if probe is None:
        return []
    pp = child(path, name)
    errs = _handler(c, probe, pp, grace, False, True)
    for f in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        v = c.int(probe, f, pp)
        if v is not None and v < 0:
            errs.append(invalid(child(pp, f), v, "must be greater than or equal to 0"))
    tgp = c.int(probe, "terminationGracePeriodSeconds", pp)
    if tgp is not None and tgp <= 0:
        errs.append(invalid(child(pp, "terminationGracePeriodSeconds"), tgp, "must be greater than 0"))
    if name in ("livenessProbe", "startupProbe"):
        st = c.int(probe, "successThreshold", pp)
        if st is not None and st != 1:
            errs.append(invalid(child(pp, "successThreshold"), st, "must be 1"))
    if name == "readinessProbe" and tgp is not None:
        errs.append(invalid(child(pp, "terminationGracePeriodSeconds"), tgp, "must not be set for readinessProbes"))
    return errs


def _lifecycle(c: Ctx, ctr: Any, path: str, grace: int | None) -> list[Cause]:
    lc = c.obj(ctr, "lifecycle", path)
    errs: list[Cause] = []
    if lc is None:
        return errs
    lp = child(path, "lifecycle")
    for hook in ("postStart", "preStop"):
        h = c.obj(lc, hook, lp)
        if h is not None:
            errs += _handler(c, h, child(lp, hook), grace, True, False)
    return errs


_UID_MAX = 0xFFFFFFFF


def _id_range(v: int | None, path: str) -> list[Cause]:
    if v is not None and not 0 <= v <= _UID_MAX:
        return [invalid(path, v, f"must be between 0 and {_UID_MAX}, inclusive")]
    return []


def _seccomp(c: Ctx, sp: Any, path: str) -> list[Cause]:
    if sp is None:
        return []
    errs = []
    t = c.str(sp, "type", path)
    if t == "":
        errs.append(required(child(path, "type"), "type is required when seccompProfile is set"))
    elif t not in ("Localhost", "RuntimeDefault", "Unconfined"):
        errs.append(not_supported(child(path, "type"), t, ["Localhost", "RuntimeDefault", "Unconfined"]))
    lp = c.ostr(sp, "localhostProfile", path)
    if t == "Localhost":
        if lp is None:
            errs.append(required(child(path, "localhostProfile"), "must be set when seccomp type is Localhost"))
        else:
            errs += _local_descending_path(lp, child(path, "localhostProfile"))
    elif lp is not None:
        errs.append(invalid(child(path, "localhostProfile"), GoRaw("&core.SeccompProfile{...}"),
                            "can only be set when seccomp type is Localhost"))
    return errs


def _container_security_context(c: Ctx, ctr: Any, path: str) -> list[Cause]:
    sc = c.obj(ctr, "securityContext", path)
    if sc is None:
        return []
    sp = child(path, "securityContext")
    errs = _id_range(c.int(sc, "runAsUser", sp), child(sp, "runAsUser"))
    errs += _id_range(c.int(sc, "runAsGroup", sp), child(sp, "runAsGroup"))
    pm = c.ostr(sc, "procMount", sp)
    if pm is not None and pm not in ("Default", "Unmasked"):
        errs.append(not_supported(child(sp, "procMount"), pm, ["Default", "Unmasked"]))
    errs += _seccomp(c, c.obj(sc, "seccompProfile", sp), child(sp, "seccompProfile"))
    if c.bool(sc, "allowPrivilegeEscalation", sp) is False and c.bool(sc, "privileged", sp):
        errs.append(invalid(sp, GoRaw("&core.SecurityContext{...}"),
                            "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
    return errs


def _container_common(c: Ctx, ctr: Any, vols: dict[str, JSON], path: str, claim_names: set[str],
                      restart_policy: str) -> list[Cause]:
    errs: list[Cause] = []
    name = c.str(ctr, "name", path)
    if not name:
        errs.append(required(child(path, "name")))
    else:
        errs += [invalid(child(path, "name"), name, m) for m in is_dns1123_label(name)]
    if not c.str(ctr, "image", path):
        errs.append(required(child(path, "image")))
    tmp = c.str(ctr, "terminationMessagePolicy", path)
    if tmp == "":
        errs.append(required(child(path, "terminationMessagePolicy")))
    elif tmp not in ("File", "FallbackToLogsOnError"):
        errs.append(not_supported(child(path, "terminationMessagePolicy"), tmp, ["File", "FallbackToLogsOnError"]))
    for f in ("terminationMessagePath", "workingDir"):
        c.str(ctr, f, path)
    c.slist(ctr, "command", path)
    c.slist(ctr, "args", path)
    errs += _container_ports(c, ctr, path)
    errs += _env(c, ctr, path)
    errs += _env_from(c, ctr, path)
    errs += _volume_mounts(c, ctr, vols, path)
    errs += _volume_devices(c, ctr, vols, path)
    errs += _pull_policy(c, c.str(ctr, "imagePullPolicy", path), child(path, "imagePullPolicy"))
    errs += validate_resource_requirements(c, c.obj(ctr, "resources", path), child(path, "resources"), claim_names)
    rp_path = child(path, "resizePolicy")
    seen: set[str] = set()
    for i, pol, pp in c.dlist(ctr, "resizePolicy", path):
        rn = c.str(pol, "resourceName", pp)
        if rn in seen:
            errs.append(duplicate(index(rp_path, i), rn))
        seen.add(rn)
        if rn == "":
            errs.append(required(rp_path))
        elif rn not in ("cpu", "memory"):
            errs.append(not_supported(rp_path, rn, ["cpu", "memory"]))
        rpol = c.str(pol, "restartPolicy", pp)
        if rpol == "":
            errs.append(required(rp_path))
        elif rpol not in ("NotRequired", "RestartContainer"):
            errs.append(not_supported(rp_path, rpol, ["NotRequired", "RestartContainer"]))
        if restart_policy == "Never" and rpol != "NotRequired":
            errs.append(invalid(rp_path, rpol, "must be 'NotRequired' when `restartPolicy` is 'Never'"))
    errs += _container_security_context(c, ctr, path)
    return errs


def _host_port_conflicts(c: Ctx, containers: list[tuple[int, JSON, str]]) -> list[Cause]:
    seen: set[str] = set()
    errs = []
    for _, ctr, cp in containers:
        for _, port, pp in c.dlist(ctr, "ports", cp):
            hp = c.int(port, "hostPort", pp) or 0
            if hp == 0:
                continue
            s = f"{c.str(port, 'protocol', pp)}/{c.str(port, 'hostIP', pp)}/{hp}"
            if s in seen:
                errs.append(duplicate(child(pp, "hostPort"), s))
            seen.add(s)
    return errs


def _pod_affinity_term(c: Ctx, term: Any, path: str) -> list[Cause]:
    errs = validate_label_selector(c, c.obj(term, "labelSelector", path), child(path, "labelSelector"))
    errs += validate_label_selector(c, c.obj(term, "namespaceSelector", path), child(path, "namespaceSelector"))
    for ns in c.slist(term, "namespaces", path):
        errs += [invalid(child(path, "namespace"), ns, m) for m in name_is_dns_label(ns, False)]
    for field_name in ("matchLabelKeys", "mismatchLabelKeys"):
        for i, k in enumerate(c.slist(term, field_name, path)):
            errs += [invalid(index(child(path, field_name), i), k, m) for m in is_qualified_name(k)]
    tk = c.str(term, "topologyKey", path)
    if not tk:
        errs.append(required(child(path, "topologyKey"), "can not be empty"))
    errs += [invalid(child(path, "topologyKey"), tk, m) for m in is_qualified_name(tk)]
    return errs


def _affinity(c: Ctx, aff: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    if aff is None:
        return errs
    na = c.obj(aff, "nodeAffinity", path)
    if na is not None:
        np = child(path, "nodeAffinity")
        req = c.obj(na, "requiredDuringSchedulingIgnoredDuringExecution", np)
        if req is not None:
            errs += validate_node_selector(c, req, child(np, "requiredDuringSchedulingIgnoredDuringExecution"))
        for _, term, tp in c.dlist(na, "preferredDuringSchedulingIgnoredDuringExecution", np):
            w = c.int(term, "weight", tp) or 0
            if not 0 < w <= 100:
                errs.append(invalid(child(tp, "weight"), w, "must be in the range 1-100"))
            errs += validate_node_selector_term(c, c.obj(term, "preference", tp) or {}, child(tp, "preference"), True)
    for kind in ("podAffinity", "podAntiAffinity"):
        pa = c.obj(aff, kind, path)
        if pa is None:
            continue
        pp = child(path, kind)
        for _, term, tp in c.dlist(pa, "requiredDuringSchedulingIgnoredDuringExecution", pp):
            errs += _pod_affinity_term(c, term, tp)
        for _, wt, tp in c.dlist(pa, "preferredDuringSchedulingIgnoredDuringExecution", pp):
            w = c.int(wt, "weight", tp) or 0
            if not 0 < w <= 100:
                errs.append(invalid(child(tp, "weight"), w, "must be in the range 1-100"))
            errs += _pod_affinity_term(c, c.obj(wt, "podAffinityTerm", tp) or {}, child(tp, "podAffinityTerm"))
    return errs


def validate_tolerations(c: Ctx, parent: Any, ppath: str) -> list[Cause]:
    errs: list[Cause] = []
    for _, t, tp in c.dlist(parent, "tolerations", ppath):
        k = c.str(t, "key", tp)
        op = c.str(t, "operator", tp)
        value = c.str(t, "value", tp)
        effect = c.str(t, "effect", tp)
        if k:
            errs += [invalid(child(tp, "key"), k, m) for m in is_qualified_name(k)]
        if not k and op != "Exists":
            errs.append(invalid(child(tp, "operator"), op,
                                'operator must be Exists when `key` is empty, which means "match all values and all keys"'))
        if c.int(t, "tolerationSeconds", tp) is not None and effect != "NoExecute":
            errs.append(invalid(child(tp, "effect"), effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        if op in ("Equal", ""):
            msgs = is_valid_label_value(value)
            if msgs:
                errs.append(invalid(child(tp, "operator"), value, ";".join(msgs)))
        elif op == "Exists":
            if value:
                errs.append(invalid(child(tp, "operator"), value, "value must be empty when `operator` is 'Exists'"))
        else:
            errs.append(not_supported(child(tp, "operator"), op, ["Equal", "Exists"]))
        if effect and effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            errs.append(not_supported(child(tp, "effect"), effect, ["NoSchedule", "PreferNoSchedule", "NoExecute"]))
    return errs


def _pod_security_context(c: Ctx, spec: Any, path: str) -> list[Cause]:
    sc = c.obj(spec, "securityContext", path)
    if sc is None:
        return []
    sp = child(path, "securityContext")
    errs = _id_range(c.int(sc, "fsGroup", sp), child(sp, "fsGroup"))
    errs += _id_range(c.int(sc, "runAsUser", sp), child(sp, "runAsUser"))
    errs += _id_range(c.int(sc, "runAsGroup", sp), child(sp, "runAsGroup"))
    for i, g in enumerate(c.arr(sc, "supplementalGroups", sp)):
        if isinstance(g, int) and not isinstance(g, bool):
            errs += _id_range(g, index(child(sp, "supplementalGroups"), i))
        else:
            c._bad(index(child(sp, "supplementalGroups"), i), g, "integer")
    share = c.bool(spec, "shareProcessNamespace", path)
    if share and c.bool(spec, "hostPID", path):
        errs.append(invalid(child(sp, "shareProcessNamespace"), True, "ShareProcessNamespace and HostPID cannot both be enabled"))
    names: set[str] = set()
    for _, sysctl, syp in c.dlist(sc, "sysctls", sp):
        n = c.str(sysctl, "name", syp)
        if not n:
            errs.append(required(child(syp, "name")))
        elif not re.fullmatch(r"([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?", n) or len(n) > 253:
            errs.append(invalid(child(syp, "name"), n, "must have at most 253 characters and match regex "
                                                       "^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$"))
        elif n in names:
            errs.append(duplicate(child(syp, "name"), n))
        names.add(n)
    pol = c.ostr(sc, "fsGroupChangePolicy", sp)
    if pol is not None and pol not in ("Always", "OnRootMismatch"):
        errs.append(not_supported(child(sp, "fsGroupChangePolicy"), pol, ["Always", "OnRootMismatch"]))
    errs += _seccomp(c, c.obj(sc, "seccompProfile", sp), child(sp, "seccompProfile"))
    sgp = c.ostr(sc, "supplementalGroupsPolicy", sp)
    if sgp is not None and sgp not in ("Merge", "Strict"):
        errs.append(not_supported(child(sp, "supplementalGroupsPolicy"), sgp, ["Merge", "Strict"]))
    return errs


def _dns_config(c: Ctx, spec: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    policy = c.str(spec, "dnsPolicy", path)
    cfg = c.obj(spec, "dnsConfig", path)
    dp = child(path, "dnsConfig")
    if policy == "None":
        if cfg is None:
            return [required(dp, "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not c.slist(cfg, "nameservers", dp):
            return [required(child(dp, "nameservers"), "must provide at least one DNS nameserver when `dnsPolicy` is None")]
    if cfg is None:
        return errs
    ns = c.slist(cfg, "nameservers", dp)
    if len(ns) > 3:
        errs.append(invalid(child(dp, "nameservers"), ns, "must not have more than 3 nameservers"))
    for i, n in enumerate(ns):
        errs += is_valid_ip(index(child(dp, "nameservers"), i), n)
    searches = c.slist(cfg, "searches", dp)
    if len(searches) > 32:
        errs.append(invalid(child(dp, "searches"), searches, "must not have more than 32 search paths"))
    if len(" ".join(searches)) > 2048:
        errs.append(invalid(child(dp, "searches"), searches,
                            "must not have more than 2048 characters (including spaces) in the search list"))
    for i, s in enumerate(searches):
        s = s[:-1] if s.endswith(".") else s
        errs += [invalid(index(child(dp, "searches"), i), s, m) for m in is_dns1123_subdomain(s)]
    for _, opt, op in c.dlist(cfg, "options", dp):
        if not c.str(opt, "name", op):
            errs.append(required(op, "must not be empty"))
    return errs


def _topology_spread(c: Ctx, spec: Any, path: str) -> list[Cause]:
    errs: list[Cause] = []
    items = c.dlist(spec, "topologySpreadConstraints", path)
    for i, tsc, tp in items:
        skew = c.int(tsc, "maxSkew", tp) or 0
        if skew <= 0:
            errs.append(invalid(child(tp, "maxSkew"), skew, "must be greater than zero"))
        tk = c.str(tsc, "topologyKey", tp)
        if not tk:
            errs.append(required(child(tp, "topologyKey"), "can not be empty"))
        wu = c.str(tsc, "whenUnsatisfiable", tp)
        if wu not in ("DoNotSchedule", "ScheduleAnyway"):
            errs.append(not_supported(child(tp, "whenUnsatisfiable"), wu, ["DoNotSchedule", "ScheduleAnyway"]))
        for _, other, op in items[i + 1:]:
            if c.str(other, "topologyKey", op) == tk and c.str(other, "whenUnsatisfiable", op) == wu:
                errs.append(duplicate(child(tp, "{topologyKey, whenUnsatisfiable}"), f"{{{tk}, {wu}}}"))
                break
        md = c.int(tsc, "minDomains", tp)
        if md is not None:
            if md <= 0:
                errs.append(invalid(child(tp, "minDomains"), md, "must be greater than zero"))
            if wu != "DoNotSchedule":
                errs.append(invalid(child(tp, "minDomains"), md,
                                    f"can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {wu}"))
        for pol_name in ("nodeAffinityPolicy", "nodeTaintsPolicy"):
            pol = c.ostr(tsc, pol_name, tp)
            if pol is not None and pol not in ("Honor", "Ignore"):
                errs.append(not_supported(child(tp, pol_name), pol, ["Honor", "Ignore"]))
        errs += validate_label_selector(c, c.obj(tsc, "labelSelector", tp), child(tp, "labelSelector"))
    return errs


def validate_pod_spec(c: Ctx, spec: Any, path: str, pod_name: str | None, is_pod: bool) -> list[Cause]:
    errs: list[Cause] = []
    grace = c.int(spec, "terminationGracePeriodSeconds", path)
    if grace is None:
        errs.append(required(child(path, "terminationGracePeriodSeconds")))
    restart = c.str(spec, "restartPolicy", path)
    vols, verrs = validate_volumes(c, spec, path, pod_name)
    errs += verrs
    claim_names: set[str] = set()
    for _, rc, rp in c.dlist(spec, "resourceClaims", path):
        n = c.str(rc, "name", rp)
        if not n:
            errs.append(required(child(rp, "name")))
        elif n in claim_names:
            errs.append(duplicate(child(rp, "name"), n))
        else:
            errs += [invalid(child(rp, "name"), n, m) for m in is_dns1123_label(n)]
            claim_names.add(n)
        has_claim = c.ostr(rc, "resourceClaimName", rp) is not None
        has_tmpl = c.ostr(rc, "resourceClaimTemplateName", rp) is not None
        if has_claim and has_tmpl:
            errs.append(invalid(rp, GoRaw("core.PodResourceClaim{...}"),
                                "at most one of `resourceClaimName` or `resourceClaimTemplateName` may be specified"))
        if not has_claim and not has_tmpl:
            errs.append(invalid(rp, GoRaw("core.PodResourceClaim{...}"),
                                "must specify one of: `resourceClaimName`, `resourceClaimTemplateName`"))
    # regular containers
    cpath = child(path, "containers")
    containers = c.dlist(spec, "containers", path)
    if not containers:
        errs.append(required(cpath))
    else:
        names: set[str] = set()
        for _, ctr, ip in containers:
            errs += _container_common(c, ctr, vols, ip, claim_names, restart)
            n = c.str(ctr, "name", ip)
            if n in names:
                errs.append(duplicate(child(ip, "name"), n))
            else:
                names.add(n)
            errs += _lifecycle(c, ctr, ip, grace)
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                errs += _probe(c, ctr, probe, ip, grace)
            if c.ostr(ctr, "restartPolicy", ip) is not None:
                errs.append(forbidden(child(ip, "restartPolicy"), "may not be set for non-init containers"))
        errs += _host_port_conflicts(c, containers)
    # init containers
    all_names = {c.str(ctr, "name", "") for _, ctr, _ in containers}
    for _, ctr, ip in c.dlist(spec, "initContainers", path):
        errs += _container_common(c, ctr, vols, ip, claim_names, restart)
        crp = c.ostr(ctr, "restartPolicy", ip)
        always = False
        if crp is not None:
            if crp != "Always":
                errs.append(not_supported(child(ip, "restartPolicy"), crp, ["Always"]))
            always = crp == "Always"
        n = c.str(ctr, "name", ip)
        if n in all_names:
            errs.append(duplicate(child(ip, "name"), n))
        elif n:
            all_names.add(n)
        errs += _host_port_conflicts(c, [(0, ctr, ip)])
        if always:
            errs += _lifecycle(c, ctr, ip, grace)
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                errs += _probe(c, ctr, probe, ip, grace)
        else:
            for f in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
                if c.has(ctr, f):
                    errs.append(forbidden(child(ip, f), "may not be set for init containers without restartPolicy=Always"))
    for _, ctr, ip in c.dlist(spec, "ephemeralContainers", path):
        errs += _container_common(c, ctr, vols, ip, claim_names, restart)
    # host network
    if is_pod and c.bool(spec, "hostNetwork", path):
        for _, ctr, ip in containers:
            for _, port, pp in c.dlist(ctr, "ports", ip):
                hp = c.int(port, "hostPort", pp) or 0
                if hp != (c.int(port, "containerPort", pp) or 0):
                    errs.append(invalid(child(pp, "hostPort"), hp, "must match `containerPort` when `hostNetwork` is true"))
    if restart == "":
        errs.append(required(child(path, "restartPolicy")))
    elif restart not in ("Always", "OnFailure", "Never"):
        errs.append(not_supported(child(path, "restartPolicy"), restart, ["Always", "OnFailure", "Never"]))
    dns = c.str(spec, "dnsPolicy", path)
    if dns == "":
        errs.append(required(child(path, "dnsPolicy")))
    elif dns not in ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"):
        errs.append(not_supported(child(path, "dnsPolicy"), dns, ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]))
    errs += validate_labels(c.smap(spec, "nodeSelector", path), child(path, "nodeSelector"))
    errs += _pod_security_context(c, spec, path)
    for _, ref, rp in c.dlist(spec, "imagePullSecrets", path):
        if set(k for k, v in ref.items() if v is not None) - {"name"}:
            errs.append(invalid(rp, GoRaw(f"core.LocalObjectReference{{Name:{go_quote(c.str(ref, 'name', rp))}}}"),
                                "only name may be set"))
    errs += _affinity(c, c.obj(spec, "affinity", path), child(path, "affinity"))
    errs += _dns_config(c, spec, path)
    for _, gate, gp in c.dlist(spec, "readinessGates", path):
        ct = c.str(gate, "conditionType", gp)
        errs += [invalid(child(gp, "conditionType"), ct, m) for m in is_qualified_name(ct)]
    seen_gates: set[str] = set()
    for _i, gate, gp in c.dlist(spec, "schedulingGates", path):
        gn = c.str(gate, "name", gp)
        errs += [invalid(gp, gn, m) for m in is_qualified_name(gn)]
        if gn in seen_gates:
            errs.append(duplicate(gp, gn))
        seen_gates.add(gn)
    errs += _topology_spread(c, spec, path)
    sc = c.obj(spec, "securityContext", path)
    if c.bool(sc, "hostUsers", "") is False:
        for f in ("hostNetwork", "hostPID", "hostIPC"):
            if c.bool(spec, f, path):
                errs.append(forbidden(child(path, f if f == "hostNetwork" else f.replace("host", "Host", 1)),
                                      "when `pod.Spec.HostUsers` is false"))
    for f in ("serviceAccountName", "nodeName"):
        v = c.str(spec, f, path)
        if v:
            errs += [invalid(child(path, f), v, m) for m in name_is_dns_subdomain(v, False)]
    ads = c.int(spec, "activeDeadlineSeconds", path)
    if ads is not None and not 1 <= ads <= (1 << 31) - 1:
        errs.append(invalid(child(path, "activeDeadlineSeconds"), ads, "must be between 1 and 2147483647, inclusive"))
    for f in ("hostname", "subdomain"):
        v = c.str(spec, f, path)
        if v:
            errs += [invalid(child(path, f), v, m) for m in is_dns1123_label(v)]
    errs += validate_tolerations(c, spec, path)
    for _, alias, ap in c.dlist(spec, "hostAliases", path):
        errs += is_valid_ip(child(ap, "ip"), c.str(alias, "ip", ap))
        for j, hn in enumerate(c.slist(alias, "hostnames", ap)):
            errs += [invalid(index(child(ap, "hostnames"), j), hn, m) for m in is_dns1123_subdomain(hn)]
    pcn = c.str(spec, "priorityClassName", path)
    if pcn:
        errs += [invalid(child(path, "priorityClassName"), pcn, m) for m in name_is_dns_subdomain(pcn, False)]
    rcn = c.ostr(spec, "runtimeClassName", path)
    if rcn is not None:
        errs += [invalid(child(path, "runtimeClassName"), rcn, m) for m in name_is_dns_subdomain(rcn, False)]
    preempt = c.ostr(spec, "preemptionPolicy", path)
    if preempt is not None:
        if preempt == "":
            errs.append(required(child(path, "preemptionPolicy")))
        elif preempt not in ("PreemptLowerPriority", "Never"):
            errs.append(not_supported(child(path, "preemptionPolicy"), preempt, ["PreemptLowerPriority", "Never"]))
    overhead = c.obj(spec, "overhead", path)
    if overhead is not None:
        errs += validate_resource_requirements(c, {"limits": overhead}, child(path, "overhead"), claim_names)
    os_ = c.obj(spec, "os", path)
    if os_ is not None:
        on = c.str(os_, "name", child(path, "os"))
        if not on:
            errs.append(required(child(path, "os", "name"), "cannot be empty"))
        elif on not in ("linux", "windows"):
            errs.append(not_supported(child(path, "os"), on, ["linux", "windows"]))
    for f in ("hostNetwork", "hostPID", "hostIPC", "enableServiceLinks", "automountServiceAccountToken",
              "setHostnameAsFQDN"):
        c.bool(spec, f, path)
    c.str(spec, "schedulerName", path)
    c.int(spec, "priority", path)
    return errs


def _pod_template_meta(c: Ctx, tmpl: Any, path: str) -> list[Cause]:
    mp = child(path, "metadata")
    meta = c.obj(tmpl, "metadata", path)
    errs = validate_labels(c.smap(meta, "labels", mp), child(path, "labels"))
    errs += validate_annotations(c.smap(meta, "annotations", mp), child(path, "annotations"))
    return errs


def _validate_pod(c: Ctx, obj: Any) -> list[Cause]:
    errs = validate_object_meta(c, obj, name_is_dns_subdomain)
    meta = c.obj(obj, "metadata", "")
    spec = c.obj(obj, "spec", "")
    pod_name = c.str(meta, "name", "metadata") or None
    errs += validate_pod_spec(c, spec, "spec", pod_name, True)
    for key_name in ("containers", "initContainers"):
        for _, ctr, ip in c.dlist(spec, key_name, "spec"):
            img = c.str(ctr, "image", ip)
            if img != img.strip(" \t\n\r\v\f"):
                errs.append(invalid(child(ip, "image"), img, "must not have leading or trailing whitespace"))
    return errs


def validate_pod_create(c: Ctx, obj: Any) -> list[Cause]:
    errs = _validate_pod(c, obj)
    spec = c.obj(obj, "spec", "")
    if c.arr(spec, "ephemeralContainers", "spec"):
        errs.append(forbidden("spec.ephemeralContainers", "cannot be set on create"))
    if c.str(spec, "nodeName", "spec") and c.arr(spec, "schedulingGates", "spec"):
        errs.append(forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared"))
    return errs


_UPDATABLE_POD_FIELDS = ("`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
                         "`spec.tolerations` (only additions to existing tolerations),"
                         "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)")


def validate_pod_update(c: Ctx, obj: Any, old: Any) -> list[Cause]:
    oc = Ctx()
    errs = validate_object_meta_update(c, obj, old)
    errs += _validate_pod(c, obj)
    spec = c.obj(obj, "spec", "") or {}
    old_spec = oc.obj(old, "spec", "") or {}
    for key_name in ("containers", "initContainers"):
        new_ctrs = c.dlist(spec, key_name, "spec")
        old_ctrs = oc.dlist(old_spec, key_name, "spec")
        if len(new_ctrs) != len(old_ctrs):
            errs.append(forbidden(child("spec", key_name), "pod updates may not add or remove containers"))
            return errs
        for _, ctr, ip in new_ctrs:
            img = c.str(ctr, "image", ip)
            if not img:
                errs.append(required(child(ip, "image")))
            if img != img.strip(" \t\n\r\v\f"):
                errs.append(invalid(child(ip, "image"), img, "must not have leading or trailing whitespace"))
    ads = c.int(spec, "activeDeadlineSeconds", "spec")
    old_ads = oc.int(old_spec, "activeDeadlineSeconds", "spec")
    if ads is not None:
        if not 0 <= ads <= (1 << 31) - 1:
            errs.append(invalid("spec.activeDeadlineSeconds", ads, "must be between 0 and 2147483647, inclusive"))
            return errs
        if old_ads is not None and old_ads < ads:
            errs.append(invalid("spec.activeDeadlineSeconds", ads, "must be less than or equal to previous value"))
            return errs
    elif old_ads is not None:
        errs.append(invalid("spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"))
    new_tols = [_sem(t) for t in c.arr(spec, "tolerations", "spec")]
    for old_t in oc.arr(old_spec, "tolerations", "spec"):
        o = _sem(old_t)
        o_wo = {k: v for k, v in (o or {}).items() if k != "tolerationSeconds"} if isinstance(o, dict) else o
        found = any((({k: v for k, v in n.items() if k != "tolerationSeconds"} if isinstance(n, dict) else n) == o_wo)
                    for n in new_tols)
        if not found:
            errs.append(forbidden("spec.tolerations", "existing toleration can not be modified except its tolerationSeconds"))
            break
    else:
        errs += validate_tolerations(c, spec, "spec")
    old_gates = {c.str(g, "name", "") for _, g, _ in oc.dlist(old_spec, "schedulingGates", "spec")}
    for _i, g, gp in c.dlist(spec, "schedulingGates", "spec"):
        gn = c.str(g, "name", gp)
        if gn not in old_gates:
            errs.append(forbidden(child(gp, "name"), f"only deletion is allowed, but found new scheduling gate '{gn}'"))
    munged = json.loads(json.dumps(spec))
    for key_name in ("containers", "initContainers"):
        old_list = old_spec.get(key_name)
        if not isinstance(old_list, list):
            old_list = []
        new_list = munged.get(key_name)
        if not isinstance(new_list, list):
            new_list = []
        for i, item in enumerate(new_list):
            if isinstance(item, dict) and i < len(old_list) and isinstance(old_list[i], dict):
                item["image"] = old_list[i].get("image")
    for f in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        munged.pop(f, None)
        if f in old_spec:
            munged[f] = old_spec[f]
    old_grace = oc.int(old_spec, "terminationGracePeriodSeconds", "spec")
    if old_grace is not None and old_grace < 0 and munged.get("terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    if not _sem_equal(munged, old_spec):
        diff = go_diff("core.PodSpec", old_spec, munged)
        errs.append(forbidden("spec", f"pod updates may not change fields other than {_UPDATABLE_POD_FIELDS}\n{diff}"))
    return errs


def validate_pod_status_update(c: Ctx, obj: Any, old: Any) -> list[Cause]:
    oc = Ctx()
    errs = validate_object_meta_update(c, obj, old)
    status = c.obj(obj, "status", "")
    for i, cond, cp in c.dlist(status, "conditions", "status"):
        t = c.str(cond, "type", cp)
        if t not in ("PodScheduled", "Ready", "Initialized"):
            errs += [invalid(child(index("metadata.conditions", i), "Type"), t, m) for m in is_qualified_name(t)]
    spec = c.obj(obj, "spec", "")
    old_spec = oc.obj(old, "spec", "")
    if c.str(spec, "nodeName", "spec") != oc.str(old_spec, "nodeName", "spec"):
        errs.append(forbidden("status.nodeName", "may not be changed directly"))
    nominated = c.str(status, "nominatedNodeName", "status")
    if nominated and nominated != oc.str(oc.obj(old, "status", ""), "nominatedNodeName", "status"):
        errs += [invalid("status.nominatedNodeName", nominated, m) for m in name_is_dns_subdomain(nominated, False)]
    qos = c.str(status, "qosClass", "status")
    old_qos = oc.str(oc.obj(old, "status", ""), "qosClass", "status")
    if qos != old_qos:
        errs.append(invalid("status.qosClass", qos, "field is immutable"))
    ips = [c.str(p, "ip", pp) for _, p, pp in c.dlist(status, "podIPs", "status")]
    for i, ip in enumerate(ips):
        errs += is_valid_ip(index("status.podIPs", i), ip)
    host_ips = [c.str(p, "ip", pp) for _, p, pp in c.dlist(status, "hostIPs", "status")]
    if host_ips and c.str(status, "hostIP", "status") != host_ips[0]:
        errs.append(invalid("status.hostIPs[0].ip", host_ips[0], "must be equal to `hostIP`"))
    for i, ip in enumerate(host_ips):
        errs += is_valid_ip(index("status.hostIPs", i), ip)
    return errs


# ============================================================================ semantic equality & diffs

_POINTER_STRING_KEYS = frozenset({"storageClassName", "volumeAttributesClassName"})
_RESOURCE_LIST_KEYS = frozenset({"requests", "limits", "capacity", "allocatable", "overhead"})
_ABSENT = object()


def _sem(v: Any, k: str = "") -> Any:
    """A normal form under which apiequality.Semantic.DeepEqual becomes ``==``: Go zero
    values equal absent fields (except pointer strings), empty and nil lists/maps are
    equal, and quantities compare by value."""
    if isinstance(v, dict):
        out = {}
        for kk, vv in v.items():
            if k in _RESOURCE_LIST_KEYS and isinstance(vv, (str, int, float)) and not isinstance(vv, bool):
                try:
                    out[kk] = parse_quantity_full(vv).value
                    continue
                except ValueError:
                    pass
            n = _sem(vv, kk)
            if n is not _ABSENT:
                out[kk] = n
        return out if out or not k else _ABSENT
    if isinstance(v, list):
        items = [_sem(x) for x in v]
        items = [{} if x is _ABSENT else x for x in items]
        return items if items else _ABSENT
    if v is None or v is False or (v == "" and k not in _POINTER_STRING_KEYS) or (
            isinstance(v, int) and not isinstance(v, bool) and v == 0):
        return _ABSENT
    return v


def _sem_equal(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        if orjson.dumps(a) == orjson.dumps(b):
            return True     # the same JSON, types and order included: the same normal form (C speed)
    except TypeError:
        pass
    return _sem(a, "x") == _sem(b, "x")


_GO_NAMES = {"rbd": "RBD", "nfs": "NFS", "iscsi": "ISCSI", "csi": "CSI", "fc": "FC", "cephfs": "CephFS",
             "awsElasticBlockStore": "AWSElasticBlockStore", "gcePersistentDisk": "GCEPersistentDisk",
             "scaleIO": "ScaleIO", "storageos": "StorageOS", "hostIPC": "HostIPC", "hostPID": "HostPID",
             "dnsPolicy": "DNSPolicy", "dnsConfig": "DNSConfig", "os": "OS", "uid": "UID"}


def _go_name(k: str) -> str:
    return _GO_NAMES.get(k, k[:1].upper() + k[1:])


def _cmp_value(v: Any, k: str = "") -> str:
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return gov(v)
    if isinstance(v, str):
        return ("&" if k in _POINTER_STRING_KEYS else "") + go_quote(v)
    if isinstance(v, list):
        return "{" + ", ".join(_cmp_value(x) for x in v) + "}"
    if isinstance(v, dict):
        if k in _RESOURCE_LIST_KEYS:
            return "{" + ", ".join(f"s{go_quote(kk)}: {{s: {go_quote(str(vv))}}}" for kk, vv in v.items()) + "}"
        return "&{" + ", ".join(f"{_go_name(kk)}: {_cmp_value(vv, kk)}" for kk, vv in v.items()) + "}"
    return str(v)


def go_diff(type_name: str, old: Any, new: Any) -> str:
    """A go-cmp style report of the fields that differ (go-cmp's exact layout is not
    stable either: it deliberately varies its white space)."""
    old_d = old if isinstance(old, dict) else {}
    new_d = new if isinstance(new, dict) else {}
    lines = [f"  {type_name}{{"]
    same = 0
    for k in list(dict.fromkeys(list(old_d) + list(new_d))):
        ov, nv = old_d.get(k), new_d.get(k)
        if _sem(ov, k) == _sem(nv, k):
            same += 1
            continue
        name = _go_name(k)
        lines.append(f"- \t{name}: {_cmp_value(ov, k)},")
        lines.append(f"+ \t{name}: {_cmp_value(nv, k)},")
    if same:
        lines.append(f"  \t... // {same} identical fields")
    lines.append("  }")
    return "\n".join(lines) + "\n"


# ============================================================================ PV / PVC

def validate_pv(c: Ctx, obj: Any) -> list[Cause]:
    errs = validate_object_meta(c, obj, name_is_dns_subdomain)
    name = c.str(c.obj(obj, "metadata", ""), "name", "metadata")
    return errs + validate_pv_spec(c, c.obj(obj, "spec", ""), name)


def _pv_sources(spec: Any) -> JSON:
    """The spec's non-null volume sources, in PV_SOURCE_KEYS order (go_diff lists them so)."""
    keys = [k for k, v in spec.items() if v is not None and k in _PV_SOURCE_INDEX]
    if len(keys) > 1:
        keys.sort(key=_PV_SOURCE_INDEX.__getitem__)
    return {k: spec[k] for k in keys}


def validate_pv_update(c: Ctx, obj: Any, old: Any) -> list[Cause]:
    oc = Ctx()
    errs = validate_pv(c, obj)
    spec = c.obj(obj, "spec", "") or {}
    old_spec = oc.obj(old, "spec", "") or {}
    new_src = _pv_sources(spec)
    old_src = _pv_sources(old_spec)
    old_csi, new_csi = old_src.get("csi"), new_src.get("csi")
    if isinstance(old_csi, dict) and isinstance(new_csi, dict) and old_csi.get("controllerExpandSecretRef") is None \
            and new_csi.get("controllerExpandSecretRef") is not None:
        new_src["csi"] = {k: v for k, v in new_csi.items() if k != "controllerExpandSecretRef"}
    if not _sem_equal(new_src, old_src):
        diff = go_diff("core.PersistentVolumeSource", old_src, new_src)
        errs.append(forbidden("spec.persistentvolumesource", f"spec.persistentvolumesource is immutable after creation\n{diff}"))
    new_mode = c.ostr(spec, "volumeMode", "spec")
    old_mode = oc.ostr(old_spec, "volumeMode", "spec")
    if new_mode != old_mode:
        errs.append(invalid("volumeMode", new_mode, "field is immutable"))
    old_na = old_spec.get("nodeAffinity")
    if old_na is not None and not _sem_equal(_ga_node_affinity(spec.get("nodeAffinity"), old_na), old_na):
        errs.append(invalid("nodeAffinity", GoRaw("&core.VolumeNodeAffinity{...}"),
                            "field is immutable, except for updating from beta label to GA"))
    return _dedupe(validate_object_meta_update(c, obj, old) + errs)


_BETA_TO_GA = {"failure-domain.beta.kubernetes.io/zone": "topology.kubernetes.io/zone",
               "failure-domain.beta.kubernetes.io/region": "topology.kubernetes.io/region",
               "beta.kubernetes.io/os": "kubernetes.io/os", "beta.kubernetes.io/arch": "kubernetes.io/arch",
               "beta.kubernetes.io/instance-type": "node.kubernetes.io/instance-type"}


def _ga_node_affinity(new: Any, old: Any) -> Any:
    """``new`` with requirement keys moved from beta to GA labels reverted to the old keys."""
    try:
        new = json.loads(json.dumps(new))
        old_terms = old["required"]["nodeSelectorTerms"]
        new_terms = new["required"]["nodeSelectorTerms"]
        for ot, nt in zip(old_terms, new_terms, strict=False):
            for orq, nrq in zip(ot.get("matchExpressions") or [], nt.get("matchExpressions") or [], strict=False):
                if orq.get("key") != nrq.get("key") and _BETA_TO_GA.get(orq.get("key")) == nrq.get("key"):
                    nrq["key"] = orq.get("key")
    except (KeyError, TypeError, AttributeError):
        pass
    return new


def validate_pv_status_update(c: Ctx, obj: Any, old: Any) -> list[Cause]:
    errs = validate_object_meta_update(c, obj, old)
    status = c.obj(obj, "status", "")
    for f in ("phase", "message", "reason"):  # Kubernetes does not check their values
        c.str(status, f, "status")
    return errs


def validate_pvc(c: Ctx, obj: Any) -> list[Cause]:
    errs = validate_object_meta(c, obj, name_is_dns_subdomain)
    return errs + validate_pvc_spec(c, c.obj(obj, "spec", ""))


_BETA_SC_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


def _string_annotation(meta: Any, name: str) -> str | None:
    """``Ctx.smap(meta, "annotations", ...).get(name)``: the value if it is a string, else None."""
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    v = annotations.get(name) if isinstance(annotations, dict) else None
    return v if isinstance(v, str) else None


def _pvc_specs_to_compare(spec: Any, old_spec: Any, copy: Callable[[JSON], JSON], clear_volume_name: bool,
                          drop_sc: bool, bound: bool) -> tuple[JSON, JSON]:
    """``copy`` of the new and old specs with what an update may change made equal.  Nested maps
    are replaced, never changed in place, so ``copy`` may be shallow."""
    new_clone = copy(spec)
    old_clone = copy(old_spec)
    if clear_volume_name:
        if "volumeName" in new_clone:
            old_clone["volumeName"] = new_clone["volumeName"]
        else:
            old_clone.pop("volumeName", None)
    if drop_sc:
        new_clone.pop("storageClassName", None)
    res = new_clone.get("resources")
    if bound and isinstance(res, dict) and isinstance(res.get("requests"), dict):
        old_res = old_spec.get("resources")
        old_requests = old_res.get("requests") if isinstance(old_res, dict) else None
        if isinstance(old_requests, dict) and "storage" in old_requests:
            requests = {**res["requests"], "storage": old_requests["storage"]}
        else:
            requests = {k: v for k, v in res["requests"].items() if k != "storage"}
        new_clone["resources"] = {**res, "requests": requests}
    if bound and new_clone.get("volumeAttributesClassName") is not None:
        if "volumeAttributesClassName" in old_clone:
            new_clone["volumeAttributesClassName"] = old_clone["volumeAttributesClassName"]
        else:
            new_clone.pop("volumeAttributesClassName")
    return new_clone, old_clone


def validate_pvc_update(c: Ctx, obj: Any, old: Any) -> list[Cause]:
    oc = Ctx()
    errs = validate_object_meta_update(c, obj, old)
    errs += validate_pvc(c, obj)
    spec = c.obj(obj, "spec", "") or {}
    old_spec = oc.obj(old, "spec", "") or {}
    clear_volume_name = not oc.str(old_spec, "volumeName", "spec")
    # The beta storage-class annotation as c.smap would give it (validate_object_meta_update above
    # already read the annotations through c; what oc records is never reported).
    new_beta = _string_annotation(obj.get("metadata"), _BETA_SC_ANNOTATION)
    old_beta = _string_annotation(old.get("metadata"), _BETA_SC_ANNOTATION)
    old_sc = oc.ostr(old_spec, "storageClassName", "spec")
    new_sc = c.ostr(spec, "storageClassName", "spec")
    if (old_beta is not None and old_sc is None and new_sc is not None and new_sc == old_beta
            and (new_beta is None or new_beta == old_beta)):
        drop_sc = True
    else:
        if (new_beta or "") != (old_beta or ""):
            errs.append(invalid(child("metadata", "annotations", _BETA_SC_ANNOTATION), new_beta or "", "field is immutable"))
        drop_sc = new_sc is not None and old_sc is None and (old_beta is None or new_sc == old_beta)
    # The strategy keeps the old status, so the old phase and capacity are what count.
    old_status = oc.obj(old, "status", "")
    bound = oc.str(old_status, "phase", "status") == "Bound"
    # Fast path: compare shallow copies by their JSON first.  The deep copies (_json_copy) that
    # _sem_equal and go_diff get serialise to the same bytes (orjson of orjson's own output
    # round-trips), so equal bytes here mean _sem_equal would say equal there too.
    new_view, old_view = _pvc_specs_to_compare(spec, old_spec, dict, clear_volume_name, drop_sc, bound)
    try:
        same = orjson.dumps(new_view) == orjson.dumps(old_view)
    except TypeError:
        same = False
    if not same:
        new_clone, old_clone = _pvc_specs_to_compare(spec, old_spec, _json_copy, clear_volume_name, drop_sc, bound)
        if not _sem_equal(new_clone, old_clone):
            diff = go_diff("core.PersistentVolumeClaimSpec", old_clone, new_clone)
            errs.append(forbidden("spec", "spec is immutable after creation except resources.requests and "
                                          f"volumeAttributesClassName for bound claims\n{diff}"))
    new_size = _storage_request(spec)
    old_size = _storage_request(old_spec)
    if new_size < old_size:
        status_cap = oc.qmap(old_status, "capacity", "status") or {}
        status_size = status_cap["storage"].value if "storage" in status_cap else Decimal(0)
        if new_size <= status_size:
            errs.append(forbidden("spec.resources.requests.storage", "field can not be less than status.capacity"))
    if c.ostr(spec, "volumeMode", "spec") != oc.ostr(old_spec, "volumeMode", "spec"):
        errs.append(invalid("volumeMode", c.ostr(spec, "volumeMode", "spec"), "field is immutable"))
    return errs


def _storage_request(spec: Any) -> Decimal:
    """resources.requests.storage as Ctx.qmap would read it (0 when absent or not a quantity).
    Nothing is recorded: validate_pvc already read the new spec's through the same paths, and
    what is read from the old object is never reported."""
    res = spec.get("resources")
    requests = res.get("requests") if isinstance(res, dict) else None
    v = requests.get("storage") if isinstance(requests, dict) else None
    if v is None:
        return Decimal(0)
    try:
        return parse_quantity_full(v).value
    except ValueError:
        return Decimal(0)


_RESIZE_STATUSES = ["ControllerResizeInProgress", "ControllerResizeInfeasible", "NodeResizeInProgress",
                    "NodeResizeInfeasible", "NodeResizePending"]
_LEGACY_RESIZE_STATUSES = {"ControllerResizeFailed", "NodeResizeFailed"}


def _pvc_resource_key(value: str, path: str) -> list[Cause]:
    errs = [invalid(path, value, m) for m in is_qualified_name(value)]
    if errs:
        return errs
    if is_native_resource(value) and value != "storage":
        return [not_supported(path, value, ["storage"])]
    return []


def validate_pvc_status_update(c: Ctx, obj: Any, old: Any) -> list[Cause]:
    errs = validate_object_meta_update(c, obj, old)
    if not c.slist(c.obj(obj, "spec", ""), "accessModes", "spec"):
        errs.append(required("Spec.accessModes"))
    status = c.obj(obj, "status", "")
    for r, q in (c.qmap(status, "capacity", "status") or {}).items():
        errs += validate_basic_resource(q, key("status.capacity", r))
    rs_path = "status.allocatedResourceStatus"
    for k, v in c.smap(status, "allocatedResourceStatuses", "status").items():
        errs += _pvc_resource_key(k, rs_path)
        if v not in _RESIZE_STATUSES and v not in _LEGACY_RESIZE_STATUSES:
            errs.append(not_supported(rs_path, k, _RESIZE_STATUSES))
    alloc_path = "status.allocatedResources"
    for r, q in (c.qmap(status, "allocatedResources", "status") or {}).items():
        kerrs = _pvc_resource_key(r, alloc_path)
        if kerrs:
            errs += kerrs
            continue
        berrs = validate_basic_resource(q, key(alloc_path, r))
        errs += berrs if berrs else validate_resource_quantity_value("storage", q, key(alloc_path, r))
    c.str(status, "phase", "status")
    c.slist(status, "accessModes", "status")
    return errs


# ============================================================================ StorageClass

def validate_storage_class(c: Ctx, obj: Any) -> list[Cause]:
    errs = validate_object_meta(c, obj, name_is_dns_subdomain)
    provisioner = c.str(obj, "provisioner", "")
    if not provisioner:
        errs.append(required("provisioner"))
    else:
        errs += [invalid("provisioner", provisioner, m) for m in is_qualified_name(provisioner.lower())]
    params = c.smap(obj, "parameters", "")
    if len(params) > 512:
        errs.append(too_long("parameters", 512))
    else:
        total = 0
        for k, v in params.items():
            if not k:
                errs.append(invalid("parameters", k, "field can not be empty."))
            total += _blen(k) + _blen(v)
        if total > 256 * 1024:
            errs.append(too_long("parameters", 256 * 1024))
    policy = c.ostr(obj, "reclaimPolicy", "")
    if policy and policy not in ("Delete", "Retain"):
        errs.append(not_supported("reclaimPolicy", policy, ["Delete", "Retain"]))
    mode = c.ostr(obj, "volumeBindingMode", "")
    if mode is None:
        errs.append(required("volumeBindingMode"))
    elif mode not in ("Immediate", "WaitForFirstConsumer"):
        errs.append(not_supported("volumeBindingMode", mode, ["Immediate", "WaitForFirstConsumer"]))
    seen: list[Any] = []
    for _i, term, tp in c.dlist(obj, "allowedTopologies", ""):
        expr_map: dict[str, frozenset[str]] = {}
        for _, rq, rp in c.dlist(term, "matchLabelExpressions", tp):
            values = c.slist(rq, "values", rp)
            if not values:
                errs.append(required(child(rp, "values")))
            vs: set[str] = set()
            for j, v in enumerate(values):
                if v in vs:
                    errs.append(duplicate(index(child(rp, "values"), j), v))
                vs.add(v)
            k = c.str(rq, "key", rp)
            errs += [invalid(child(rp, "key"), k, m) for m in is_qualified_name(k)]
            if k in expr_map:
                errs.append(duplicate(child(rp, "key"), k))
            expr_map[k] = frozenset(vs)
        if expr_map in seen:
            errs.append(duplicate(child(tp, "matchLabelExpressions"), ""))
        seen.append(expr_map)
    c.slist(obj, "mountOptions", "")
    c.bool(obj, "allowVolumeExpansion", "")
    return errs


def validate_storage_class_update(c: Ctx, obj: Any, old: Any) -> list[Cause]:
    oc = Ctx()
    errs = validate_object_meta_update(c, obj, old)
    new_params = obj.get("parameters") if isinstance(obj, dict) else None
    old_params = old.get("parameters") if isinstance(old, dict) else None
    if (new_params is None) != (old_params is None) or (new_params or {}) != (old_params or {}):
        errs.append(forbidden("parameters", "updates to parameters are forbidden."))
    if c.str(obj, "provisioner", "") != oc.str(old, "provisioner", ""):
        errs.append(forbidden("provisioner", "updates to provisioner are forbidden."))
    if c.ostr(obj, "reclaimPolicy", "") != oc.ostr(old, "reclaimPolicy", ""):
        errs.append(forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."))
    mode = c.ostr(obj, "volumeBindingMode", "")
    if mode != oc.ostr(old, "volumeBindingMode", ""):
        errs.append(invalid("volumeBindingMode", mode, "field is immutable"))
    return errs + validate_storage_class(c, obj)


# ============================================================================ Secret / ConfigMap

MAX_SECRET_SIZE = 1024 * 1024


def _go_json_error(data: bytes) -> str | None:
    text = data.decode("utf-8", "replace")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        if e.pos >= len(text.rstrip()):
            return "unexpected end of JSON input"
        return f"invalid character '{text[e.pos]}' looking for beginning of value"
    if not isinstance(value, dict):
        return f"json: cannot unmarshal {_GO_JSON_TYPE.get(_jtype(value), _jtype(value))} into Go value of type map[string]interface {{}}"
    return None


def validate_secret(c: Ctx, obj: Any) -> list[Cause]:
    errs = validate_object_meta(c, obj, name_is_dns_subdomain)
    data_obj = c.obj(obj, "data", "")
    data: dict[str, bytes] = {}
    for k, v in (data_obj or {}).items():
        b = c.b64(v, key("data", k))
        data[k] = b if b is not None else b""
    total = 0
    for k, b in data.items():
        errs += [invalid(key("data", k), k, m) for m in is_config_map_key(k)]
        total += len(b)
    if total > MAX_SECRET_SIZE:
        errs.append(too_long("data", MAX_SECRET_SIZE))
    stype = c.str(obj, "type", "")
    ann = c.smap(c.obj(obj, "metadata", ""), "annotations", "metadata")
    if stype == "kubernetes.io/service-account-token":
        if not ann.get("kubernetes.io/service-account.name"):
            errs.append(required(key("metadata.annotations", "kubernetes.io/service-account.name")))
    elif stype in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        k = ".dockercfg" if stype == "kubernetes.io/dockercfg" else ".dockerconfigjson"
        if k not in data:
            errs.append(required(key("data", k)))
        else:
            err = _go_json_error(data[k])
            if err:
                errs.append(invalid(key("data", k), "<secret contents redacted>", err))
    elif stype == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            errs.append(required(key("data", "username")))
            errs.append(required(key("data", "password")))
    elif stype == "kubernetes.io/ssh-auth":
        if not data.get("ssh-privatekey"):
            errs.append(required(key("data", "ssh-privatekey")))
    elif stype == "kubernetes.io/tls":
        if "tls.crt" not in data:
            errs.append(required(key("data", "tls.crt")))
        if "tls.key" not in data:
            errs.append(required(key("data", "tls.key")))
    string_data = c.obj(obj, "stringData", "")
    for k, v in (string_data or {}).items():
        if not isinstance(v, str) and v is not None:
            c._bad(key("stringData", k), v, "string")
    c.bool(obj, "immutable", "")
    return errs


def _immutable_object(c: Ctx, obj: Any, old: Any, fields: tuple[str, ...]) -> list[Cause]:
    oc = Ctx()
    errs: list[Cause] = []
    if oc.bool(old, "immutable", ""):
        if not c.bool(obj, "immutable", ""):
            errs.append(forbidden("immutable", "field is immutable when `immutable` is set"))
        for f in fields:
            nv, ov = obj.get(f), old.get(f)
            if (nv is None) != (ov is None) or (nv or {}) != (ov or {}):
                errs.append(forbidden(f, "field is immutable when `immutable` is set"))
    return errs


def validate_secret_update(c: Ctx, obj: Any, old: Any) -> list[Cause]:
    oc = Ctx()
    errs = validate_object_meta_update(c, obj, old)
    stype = c.str(obj, "type", "")
    if stype != oc.str(old, "type", ""):
        errs.append(invalid("type", stype, "field is immutable"))
    errs += _immutable_object(c, obj, old, ("data",))
    return errs + validate_secret(c, obj)


def validate_config_map(c: Ctx, obj: Any) -> list[Cause]:
    errs = validate_object_meta(c, obj, name_is_dns_subdomain)
    data = c.smap(obj, "data", "")
    binary_obj = c.obj(obj, "binaryData", "") or {}
    binary: dict[str, bytes] = {}
    for k, v in binary_obj.items():
        b = c.b64(v, key("binaryData", k))
        binary[k] = b if b is not None else b""
    total = 0
    for k, v in data.items():
        errs += [invalid(key("data", k), k, m) for m in is_config_map_key(k)]
        if k in binary:
            errs.append(invalid(key("data", k), k, "duplicate of key present in binaryData"))
        total += _blen(v)
    for k, b in binary.items():
        errs += [invalid(key("binaryData", k), k, m) for m in is_config_map_key(k)]
        total += len(b)
    if total > MAX_SECRET_SIZE:
        errs.append(too_long("", MAX_SECRET_SIZE))
    c.bool(obj, "immutable", "")
    return errs


def validate_config_map_update(c: Ctx, obj: Any, old: Any) -> list[Cause]:
    errs = validate_object_meta_update(c, obj, old)
    errs += _immutable_object(c, obj, old, ("data", "binaryData"))
    return errs + validate_config_map(c, obj)


# ============================================================================ Namespace / Node

def validate_namespace(c: Ctx, obj: Any) -> list[Cause]:
    errs = validate_object_meta(c, obj, name_is_dns_label)
    for f in c.slist(c.obj(obj, "spec", ""), "finalizers", "spec"):
        errs += [invalid("spec.finalizers", f, m) for m in is_qualified_name(f)]
        if "/" not in f and f not in STANDARD_FINALIZERS:
            errs.append(invalid("spec.finalizers", f, "name is neither a standard finalizer name nor is it fully qualified"))
    return errs


def validate_namespace_status_update(c: Ctx, obj: Any, old: Any) -> list[Cause]:
    errs = validate_object_meta_update(c, obj, old)
    phase = c.str(c.obj(obj, "status", ""), "phase", "status")
    if not c.has(c.obj(obj, "metadata", ""), "deletionTimestamp"):
        if phase != "Active":
            errs.append(invalid("status.Phase", phase, "may only be 'Active' if `deletionTimestamp` is empty"))
    elif phase != "Terminating":
        errs.append(invalid("status.Phase", phase, "may only be 'Terminating' if `deletionTimestamp` is not empty"))
    return errs


def _node_taints(c: Ctx, spec: Any) -> list[Cause]:
    errs: list[Cause] = []
    unique: dict[str, set[str]] = {}
    for i, taint, tp in c.dlist(spec, "taints", "spec"):
        ip = index("metadata.taints", i)
        k = c.str(taint, "key", tp)
        errs += [invalid(child(ip, "key"), k, m) for m in is_qualified_name(k)]
        v = c.str(taint, "value", tp)
        msgs = is_valid_label_value(v)
        if msgs:
            errs.append(invalid(child(ip, "value"), v, ";".join(msgs)))
        effect = c.str(taint, "effect", tp)
        if not effect:
            errs.append(required(child(ip, "effect")))
        elif effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            errs.append(not_supported(child(ip, "effect"), effect, ["NoSchedule", "PreferNoSchedule", "NoExecute"]))
        if k in unique.get(effect, set()):
            cause = duplicate(ip, GoRaw(f"core.Taint{{Key:{go_quote(k)}, Value:{go_quote(v)}, Effect:{go_quote(effect)}, "
                                        "TimeAdded:<nil>}"))
            cause.message += ": taints must be unique by key and effect pair"
            errs.append(cause)
            continue
        unique.setdefault(effect, set()).add(k)
    return errs


def _node_resources(c: Ctx, obj: Any) -> list[Cause]:
    errs: list[Cause] = []
    status = c.obj(obj, "status", "")
    for field_name in ("capacity", "allocatable"):
        for k, q in (c.qmap(status, field_name, "status") or {}).items():
            errs += validate_resource_quantity_value(k, q, child("status", field_name, k))
    return errs


def _pod_cidrs(c: Ctx, spec: Any) -> list[Cause]:
    errs: list[Cause] = []
    cidrs = c.slist(spec, "podCIDRs", "spec")
    for i, v in enumerate(cidrs):
        errs += is_valid_cidr(index("spec.podCIDRs", i), v)
    if len(cidrs) > 1 and not errs:
        families = {":" in x for x in cidrs}
        if len(families) != 2 or len(cidrs) > 2:
            errs.append(invalid("spec.podCIDRs", cidrs, "may specify no more than one CIDR for each IP family"))
        seen: set[str] = set()
        for i, v in enumerate(cidrs):
            if v in seen:
                errs.append(duplicate(index("spec.podCIDRs", i), v))
            seen.add(v)
    return errs


def validate_node(c: Ctx, obj: Any) -> list[Cause]:
    errs = validate_object_meta(c, obj, name_is_dns_subdomain)
    spec = c.obj(obj, "spec", "")
    errs += _node_taints(c, spec)
    errs += _node_resources(c, obj)
    errs += _pod_cidrs(c, spec)
    c.bool(spec, "unschedulable", "spec")
    c.str(spec, "providerID", "spec")
    return errs


def validate_node_update(c: Ctx, obj: Any, old: Any) -> list[Cause]:
    oc = Ctx()
    errs = validate_object_meta_update(c, obj, old)
    errs += _node_resources(c, obj)
    seen: list[Any] = []
    for i, addr, _ap in c.dlist(c.obj(obj, "status", ""), "addresses", "status"):
        norm = (addr.get("type"), addr.get("address"))
        if norm in seen:
            errs.append(duplicate(index("status.addresses", i),
                                  GoRaw(f"core.NodeAddress{{Type:{go_quote(str(norm[0] or ''))}, "
                                        f"Address:{go_quote(str(norm[1] or ''))}}}")))
        seen.append(norm)
    spec = c.obj(obj, "spec", "")
    old_spec = oc.obj(old, "spec", "")
    old_cidrs = oc.slist(old_spec, "podCIDRs", "spec")
    new_cidrs = c.slist(spec, "podCIDRs", "spec")
    if old_cidrs:
        if len(old_cidrs) != len(new_cidrs):
            errs.append(forbidden("spec.podCIDRs", 'node updates may not change podCIDR except from "" to valid'))
        else:
            for o, n in zip(old_cidrs, new_cidrs, strict=True):
                if o != n:
                    errs.append(forbidden("spec.podCIDRs", 'node updates may not change podCIDR except from "" to valid'))
    old_pid = oc.str(old_spec, "providerID", "spec")
    if old_pid and old_pid != c.str(spec, "providerID", "spec"):
        errs.append(forbidden("spec.providerID", 'node updates may not change providerID except from "" to valid'))
    errs += _node_taints(c, spec)
    if c.str(spec, "externalID", "spec") != oc.str(old_spec, "externalID", "spec"):
        errs.append(forbidden("spec.externalID", "may not be updated"))
    return errs


# ============================================================================ Service / Endpoints

_SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]


def _externally_accessible(svc_type: str, external_ips: list[str]) -> bool:
    return svc_type in ("LoadBalancer", "NodePort") or (svc_type == "ClusterIP" and bool(external_ips))


def validate_service(c: Ctx, obj: Any) -> list[Cause]:
    errs = validate_object_meta(c, obj, name_is_dns1035_label)
    meta = c.obj(obj, "metadata", "")
    ann = c.smap(meta, "annotations", "metadata")
    hints = ann.get("service.kubernetes.io/topology-aware-hints")
    mode = ann.get("service.kubernetes.io/topology-mode")
    if hints is not None and mode is not None and hints != mode:
        errs.append(invalid(key("metadata.annotations", "service.kubernetes.io/topology-mode"), mode,
                            "must match annotations[service.kubernetes.io/topology-aware-hints] when both are specified"))
    spec = c.obj(obj, "spec", "") or {}
    svc_type = c.str(spec, "type", "spec")
    cluster_ips = c.slist(spec, "clusterIPs", "spec")
    headless = len(cluster_ips) == 1 and cluster_ips[0] == "None"
    ports = c.dlist(spec, "ports", "spec")
    if not ports and not headless and svc_type != "ExternalName":
        errs.append(required("spec.ports"))
    if svc_type in ("LoadBalancer", "NodePort") and headless:
        errs.append(invalid("spec.clusterIPs[0]", cluster_ips[0], f"may not be set to 'None' for {svc_type} services"))
    elif svc_type == "ExternalName":
        if cluster_ips:
            errs.append(forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
        if c.slist(spec, "ipFamilies", "spec"):
            errs.append(forbidden("spec.ipFamilies", "may not be set for ExternalName services"))
        if c.ostr(spec, "ipFamilyPolicy", "spec") is not None:
            errs.append(forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"))
        cname = c.str(spec, "externalName", "spec")
        cname = cname[:-1] if cname.endswith(".") else cname
        if cname:
            errs += [invalid("spec.externalName", cname, m) for m in is_dns1123_subdomain(cname)]
        else:
            errs.append(required("spec.externalName"))
    port_names: set[str] = set()
    for _, port, pp in ports:
        name = c.str(port, "name", pp)
        if len(ports) > 1 and not name:
            errs.append(required(child(pp, "name")))
        elif name:
            errs += [invalid(child(pp, "name"), name, m) for m in is_dns1123_label(name)]
            if name in port_names:
                errs.append(duplicate(child(pp, "name"), name))
            else:
                port_names.add(name)
        pnum = c.int(port, "port", pp) or 0
        errs += [invalid(child(pp, "port"), pnum, m) for m in is_valid_port_num(pnum)]
        proto = c.str(port, "protocol", pp)
        if not proto:
            errs.append(required(child(pp, "protocol")))
        elif proto not in ("SCTP", "TCP", "UDP"):
            errs.append(not_supported(child(pp, "protocol"), proto, ["SCTP", "TCP", "UDP"]))
        errs += _port_num_or_name(c.intstr(port, "targetPort", pp), child(pp, "targetPort"))
        app = c.ostr(port, "appProtocol", pp)
        if app is not None:
            errs += [invalid(child(pp, "appProtocol"), app, m) for m in is_qualified_name(app)]
        c.int(port, "nodePort", pp)
    selector = c.obj(spec, "selector", "spec")
    if selector is not None:
        errs += validate_labels(c.smap(spec, "selector", "spec"), "spec.selector")
    affinity = c.str(spec, "sessionAffinity", "spec")
    if not affinity:
        errs.append(required("spec.sessionAffinity"))
    elif affinity not in ("ClientIP", "None"):
        errs.append(not_supported("spec.sessionAffinity", affinity, ["ClientIP", "None"]))
    cfg = c.obj(spec, "sessionAffinityConfig", "spec")
    if affinity == "ClientIP":
        cp = "spec.sessionAffinityConfig"
        client_ip = c.obj(cfg, "clientIP", cp)
        if cfg is None:
            errs.append(required(cp, "when session affinity type is ClientIP"))
        elif client_ip is None:
            errs.append(required(child(cp, "clientIP"), "when session affinity type is ClientIP"))
        else:
            timeout = c.int(client_ip, "timeoutSeconds", child(cp, "clientIP"))
            tp = child(cp, "clientIP", "timeoutSeconds")
            if timeout is None:
                errs.append(required(tp, "when session affinity type is ClientIP"))
            elif not 0 < timeout <= 86400:
                errs.append(invalid(tp, timeout, "must be greater than 0 and less than 86400"))
    elif affinity == "None" and cfg is not None:
        errs.append(forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None"))
    errs += _cluster_ips_related(c, spec, svc_type, headless)
    external_ips = c.slist(spec, "externalIPs", "spec")
    for i, ip in enumerate(external_ips):
        ip_path = index("spec.externalIPs", i)
        e = is_valid_ip(ip_path, ip)
        errs += e if e else validate_non_special_ip(ip, ip_path)
    if not svc_type:
        errs.append(required("spec.type"))
    elif svc_type not in _SERVICE_TYPES:
        errs.append(not_supported("spec.type", svc_type, _SERVICE_TYPES))
    if svc_type == "ClusterIP":
        for _, port, pp in ports:
            if c.int(port, "nodePort", pp):
                errs.append(forbidden(child(pp, "nodePort"), "may not be used when `type` is 'ClusterIP'"))
    node_ports: set[tuple[str, int]] = set()
    for _, port, pp in ports:
        np = c.int(port, "nodePort", pp) or 0
        if np == 0:
            continue
        k = (c.str(port, "protocol", pp), np)
        if k in node_ports:
            errs.append(duplicate(child(pp, "nodePort"), np))
        node_ports.add(k)
    port_keys: set[tuple[str, int]] = set()
    for _, port, pp in ports:
        k = (c.str(port, "protocol", pp), c.int(port, "port", pp) or 0)
        if k in port_keys:
            errs.append(duplicate(pp, GoRaw(f'core.ServicePort{{Name:"", Protocol:{go_quote(k[0])}, AppProtocol:(*string)(nil), '
                                            f'Port:{k[1]}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:""}}, NodePort:0}}')))
        port_keys.add(k)
    ranges = c.slist(spec, "loadBalancerSourceRanges", "spec")
    if ranges:
        if svc_type != "LoadBalancer":
            errs.append(forbidden("spec.LoadBalancerSourceRanges", "may only be used when `type` is 'LoadBalancer'"))
        for i, r in enumerate(ranges):
            errs += is_valid_cidr(index("spec.LoadBalancerSourceRanges", i), r.strip())
    alloc = c.bool(spec, "allocateLoadBalancerNodePorts", "spec")
    if alloc is not None and svc_type != "LoadBalancer":
        errs.append(forbidden("spec.allocateLoadBalancerNodePorts", "may only be used when `type` is 'LoadBalancer'"))
    if svc_type == "LoadBalancer" and alloc is None:
        errs.append(required("allocateLoadBalancerNodePorts"))
    lbc = c.ostr(spec, "loadBalancerClass", "spec")
    if svc_type == "LoadBalancer":
        if lbc is not None:
            errs += [invalid("spec.loadBalancerClass", lbc, m) for m in is_qualified_name(lbc)]
    elif lbc is not None:
        errs.append(forbidden("spec.loadBalancerClass", "may only be used when `type` is 'LoadBalancer'"))
    etp = c.str(spec, "externalTrafficPolicy", "spec")
    if not _externally_accessible(svc_type, external_ips):
        if etp:
            errs.append(invalid("spec.externalTrafficPolicy", etp, "may only be set for externally-accessible services"))
    elif not etp:
        errs.append(required("spec.externalTrafficPolicy"))
    elif etp not in ("Cluster", "Local"):
        errs.append(not_supported("spec.externalTrafficPolicy", etp, ["Cluster", "Local"]))
    hc = c.int(spec, "healthCheckNodePort", "spec") or 0
    if not (svc_type == "LoadBalancer" and etp == "Local"):
        if hc:
            errs.append(invalid("spec.healthCheckNodePort", hc,
                                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
    elif hc == 0:
        errs.append(required("spec.healthCheckNodePort"))
    else:
        errs += [invalid("spec.healthCheckNodePort", hc, m) for m in is_valid_port_num(hc)]
    itp = c.ostr(spec, "internalTrafficPolicy", "spec")
    if itp is None and svc_type in ("NodePort", "LoadBalancer", "ClusterIP"):
        errs.append(required("spec.internalTrafficPolicy"))
    if itp is not None and itp not in ("Cluster", "Local"):
        errs.append(not_supported("spec.internalTrafficPolicy", itp, ["Cluster", "Local"]))
    td = c.ostr(spec, "trafficDistribution", "spec")
    if td is not None and td != "PreferClose":
        errs.append(not_supported("spec.trafficDistribution", td, ["PreferClose"]))
    c.bool(spec, "publishNotReadyAddresses", "spec")
    return errs


def _cluster_ips_related(c: Ctx, spec: Any, svc_type: str, headless: bool) -> list[Cause]:
    if svc_type == "ExternalName":
        return []
    errs: list[Cause] = []
    cluster_ip = c.str(spec, "clusterIP", "spec")
    cluster_ips = c.slist(spec, "clusterIPs", "spec")
    families = c.slist(spec, "ipFamilies", "spec")
    if cluster_ip:
        if not cluster_ips:
            errs.append(required("spec.clusterIPs"))
        elif cluster_ips[0] != cluster_ip:
            errs.append(invalid("spec.clusterIPs", cluster_ips, "first value must match `clusterIP`"))
    elif cluster_ips:
        errs.append(invalid("spec.clusterIPs", cluster_ips, "must be empty when `clusterIP` is not specified"))
    seen: set[str] = set()
    for i, fam in enumerate(families):
        if fam not in ("IPv4", "IPv6"):
            errs.append(not_supported(index("spec.ipFamilies", i), fam, ["IPv4", "IPv6"]))
        if fam in seen:
            errs.append(duplicate(index("spec.ipFamilies", i), fam))
        seen.add(fam)
    policy = c.ostr(spec, "ipFamilyPolicy", "spec")
    if policy is not None and policy not in ("PreferDualStack", "RequireDualStack", "SingleStack"):
        errs.append(not_supported("spec.ipFamilyPolicy", policy, ["PreferDualStack", "RequireDualStack", "SingleStack"]))
    bad_ips = False
    for i, ip in enumerate(cluster_ips):
        if i == 0 and ip == "None":
            if len(cluster_ips) > 1:
                bad_ips = True
                errs.append(invalid("spec.clusterIPs", cluster_ips, "'None' must be the first and only value"))
            continue
        e = is_valid_ip(index("spec.clusterIPs", i), ip)
        bad_ips = bad_ips or bool(e)
        errs += e
    if len(cluster_ips) > 2:
        errs.append(invalid("spec.clusterIPs", cluster_ips, "may only hold up to 2 values"))
    if bad_ips:
        return errs
    if len(cluster_ips) > 1 and len({":" in ip for ip in cluster_ips}) != 2:
        errs.append(invalid("spec.clusterIPs", cluster_ips, "may specify no more than one IP for each IP family"))
    if not headless and cluster_ips and families:
        for i, ip in enumerate(cluster_ips[: len(families)]):
            v6 = ":" in ip
            if families[i] == "IPv4" and v6:
                errs.append(invalid(index("spec.clusterIPs", i), ip, f"expected an IPv4 value as indicated by `ipFamilies[{i}]`"))
            if families[i] == "IPv6" and not v6:
                errs.append(invalid(index("spec.clusterIPs", i), ip, f"expected an IPv6 value as indicated by `ipFamilies[{i}]`"))
    return errs


def validate_service_update(c: Ctx, obj: Any, old: Any) -> list[Cause]:
    oc = Ctx()
    errs = validate_object_meta_update(c, obj, old)
    spec = c.obj(obj, "spec", "") or {}
    old_spec = oc.obj(old, "spec", "") or {}
    new_type = c.str(spec, "type", "spec")
    old_type = oc.str(old_spec, "type", "spec")
    new_ips = c.slist(spec, "clusterIPs", "spec")
    old_ips = oc.slist(old_spec, "clusterIPs", "spec")
    new_headless = new_ips == ["None"]
    old_headless = old_ips == ["None"]
    policy = c.ostr(spec, "ipFamilyPolicy", "spec")
    if "ExternalName" not in (new_type, old_type) and not (old_headless and new_headless):
        if len(old_ips) == len(new_ips):
            for i, ip in enumerate(old_ips):
                if ip != new_ips[i]:
                    errs.append(invalid(index("spec.clusterIPs", i), new_ips, "may not change once set"))
        elif len(old_ips) > len(new_ips):
            if not new_ips:
                errs.append(invalid("spec.clusterIPs[0]", new_ips, "primary clusterIP can not be unset"))
            if old_ips and new_ips and new_ips[0] != old_ips[0]:
                errs.append(invalid("spec.clusterIPs[0]", new_ips, "may not change once set"))
            if len(new_ips) == 1 and policy != "SingleStack":
                errs.append(invalid("spec.ipFamilyPolicy", policy,
                                    "must be set to 'SingleStack' when releasing the secondary clusterIP"))
        elif old_ips and new_ips[0] != old_ips[0]:
            errs.append(invalid("spec.clusterIPs[0]", new_ips, "may not change once set"))
    if "ExternalName" not in (new_type, old_type) and new_headless == old_headless and not new_headless:
        new_f = c.slist(spec, "ipFamilies", "spec")
        old_f = oc.slist(old_spec, "ipFamilies", "spec")
        if len(old_f) == len(new_f):
            if any(o != n for o, n in zip(old_f, new_f, strict=True)):
                errs.append(invalid("spec.ipFamilies[0]", new_f, "may not change once set"))
        elif len(old_f) > len(new_f):
            if not new_ips:
                errs.append(invalid("spec.ipFamilies[0]", new_f, "primary ipFamily can not be unset"))
            if new_f and new_f[0] != old_f[0]:
                errs.append(invalid("spec.ipFamilies[0]", new_ips, "may not change once set"))
            if len(new_f) == 1 and policy != "SingleStack":
                errs.append(invalid("spec.ipFamilyPolicy", policy,
                                    "must be set to 'SingleStack' when releasing the secondary ipFamily"))
        elif old_f and new_f and new_f[0] != old_f[0]:
            errs.append(invalid("spec.ipFamilies[0]", new_ips, "may not change once set"))
    if new_type == "LoadBalancer" and old_type == "LoadBalancer" and \
            c.ostr(spec, "loadBalancerClass", "spec") != oc.ostr(old_spec, "loadBalancerClass", "spec"):
        errs.append(invalid("spec.loadBalancerClass", c.ostr(spec, "loadBalancerClass", "spec"), "may not change once set"))
    both_hc = all(t == "LoadBalancer" and c.str(s, "externalTrafficPolicy", "") == "Local"
                  for t, s in ((new_type, spec), (old_type, old_spec)))
    if both_hc and c.int(spec, "healthCheckNodePort", "spec") != oc.int(old_spec, "healthCheckNodePort", "spec"):
        errs.append(forbidden("spec.healthCheckNodePort", "field is immutable"))
    return errs + validate_service(c, obj)


def validate_service_status_update(c: Ctx, obj: Any, old: Any) -> list[Cause]:
    errs = validate_object_meta_update(c, obj, old)
    spec = c.obj(obj, "spec", "")
    lb = c.obj(c.obj(obj, "status", ""), "loadBalancer", "status")
    ingress = c.dlist(lb, "ingress", "status.loadBalancer")
    if c.str(spec, "type", "spec") != "LoadBalancer" and ingress:
        errs.append(forbidden("status.loadBalancer.ingress", "may only be used when `spec.type` is 'LoadBalancer'"))
        return errs
    for _, ing, ip in ingress:
        addr = c.str(ing, "ip", ip)
        if addr:
            errs += is_valid_ip(child(ip, "ip"), addr)
        mode = c.ostr(ing, "ipMode", ip)
        if mode is None and addr:
            errs.append(required(child(ip, "ipMode"), "must be specified when `ip` is set"))
        elif mode is not None and not addr:
            errs.append(forbidden(child(ip, "ipMode"), "may not be specified when `ip` is not set"))
        elif mode is not None and mode not in ("Proxy", "VIP"):
            errs.append(not_supported(child(ip, "ipMode"), mode, ["Proxy", "VIP"]))
        host = c.str(ing, "hostname", ip)
        if host:
            errs += [invalid(child(ip, "hostname"), host, m) for m in is_dns1123_subdomain(host)]
            if _parse_ip_sloppy(host) is not None:
                errs.append(invalid(child(ip, "hostname"), host, "must be a DNS name, not an IP address"))
    return errs


def validate_endpoints(c: Ctx, obj: Any) -> list[Cause]:
    errs = validate_object_meta(c, obj, name_is_dns_subdomain)
    for _, ss, sp in c.dlist(obj, "subsets", ""):
        addresses = c.dlist(ss, "addresses", sp)
        not_ready = c.dlist(ss, "notReadyAddresses", sp)
        if not addresses and not not_ready:
            errs.append(required(sp, "must specify `addresses` or `notReadyAddresses`"))
        for _, addr, ap in addresses + not_ready:
            ip = c.str(addr, "ip", ap)
            errs += is_valid_ip(child(ap, "ip"), ip)
            hn = c.str(addr, "hostname", ap)
            if hn:
                errs += [invalid(child(ap, "hostname"), hn, m) for m in is_dns1123_label(hn)]
            nn = c.ostr(addr, "nodeName", ap)
            if nn is not None:
                errs += [invalid(child(ap, "nodeName"), nn, m) for m in name_is_dns_subdomain(nn, False)]
            errs += validate_non_special_ip(ip, child(ap, "ip"))
        ports = c.dlist(ss, "ports", sp)
        for _, port, pp in ports:
            name = c.str(port, "name", pp)
            if len(ports) > 1 and not name:
                errs.append(required(child(pp, "name")))
            elif name:
                errs += [invalid(child(pp, "name"), name, m) for m in is_dns1123_label(name)]
            pnum = c.int(port, "port", pp) or 0
            errs += [invalid(child(pp, "port"), pnum, m) for m in is_valid_port_num(pnum)]
            proto = c.str(port, "protocol", pp)
            if not proto:
                errs.append(required(child(pp, "protocol")))
            elif proto not in ("SCTP", "TCP", "UDP"):
                errs.append(not_supported(child(pp, "protocol"), proto, ["SCTP", "TCP", "UDP"]))
            app = c.ostr(port, "appProtocol", pp)
            if app is not None:
                errs += [invalid(child(pp, "appProtocol"), app, m) for m in is_qualified_name(app)]
    return errs


# ============================================================================ Event / Lease

def validate_event(c: Ctx, obj: Any) -> list[Cause]:
    """legacyValidateEvent for requests in core/v1 (the caller's request version)."""
    errs: list[Cause] = []
    ns = c.str(c.obj(obj, "metadata", ""), "namespace", "metadata")
    involved = c.obj(obj, "involvedObject", "")
    inv_ns = c.str(involved, "namespace", "involvedObject")
    c.strs(involved, ("kind", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"), "involvedObject")
    if not c.has(obj, "eventTime"):
        if not inv_ns:
            if ns not in ("", "default"):
                errs.append(invalid("involvedObject.namespace", inv_ns, "does not match event.namespace"))
        elif ns != inv_ns:
            errs.append(invalid("involvedObject.namespace", inv_ns, "does not match event.namespace"))
    else:
        if not inv_ns and ns not in ("default", "kube-system"):
            errs.append(invalid("involvedObject.namespace", inv_ns, "does not match event.namespace"))
        rc = c.str(obj, "reportingComponent", "")
        if not rc:
            errs.append(required("source"))
        errs += [invalid("source", rc, m) for m in is_qualified_name(rc)]
        ri = c.str(obj, "reportingInstance", "")
        if not ri:
            errs.append(required("reportingInstance"))
        if len(ri) > 128:
            errs.append(invalid("reportingInstance", "", "can have at most 128 characters"))
        action = c.str(obj, "action", "")
        if not action:
            errs.append(required("action"))
        if len(action) > 128:
            errs.append(invalid("action", "", "can have at most 128 characters"))
        reason = c.str(obj, "reason", "")
        if not reason:
            errs.append(required("reason"))
        if len(reason) > 128:
            errs.append(invalid("reason", "", "can have at most 128 characters"))
        if len(c.str(obj, "message", "")) > 1024:
            errs.append(invalid("message", "", "can have at most 1024 characters"))
    ns_msgs = is_dns1123_subdomain(ns)
    if ns_msgs:
        errs += [invalid("namespace", ns, m) for m in ns_msgs]
    c.strs(obj, ("reason", "message", "type", "action", "reportingComponent", "reportingInstance"), "")
    c.int(obj, "count", "")
    return errs


def validate_lease(c: Ctx, obj: Any) -> list[Cause]:
    errs = validate_object_meta(c, obj, name_is_dns_subdomain)
    spec = c.obj(obj, "spec", "")
    dur = c.int(spec, "leaseDurationSeconds", "spec")
    if dur is not None and dur <= 0:
        errs.append(invalid("spec.leaseDurationSeconds", dur, "must be greater than 0"))
    trans = c.int(spec, "leaseTransitions", "spec")
    if trans is not None and trans < 0:
        errs.append(invalid("spec.leaseTransitions", trans, "must be greater than or equal to 0"))
    strategy = c.ostr(spec, "strategy", "spec")
    if strategy is not None:
        if "/" not in strategy:
            if strategy != "OldestEmulationVersion":
                errs.append(not_supported("spec.strategy", strategy, ["OldestEmulationVersion"]))
        else:
            errs += [invalid("spec.strategy", strategy, m) for m in is_qualified_name(strategy)]
    preferred = c.ostr(spec, "preferredHolder", "spec")
    if preferred and not strategy:
        errs.append(forbidden("spec.preferredHolder", "may only be specified if `strategy` is defined"))
    c.str(spec, "holderIdentity", "spec")
    return errs


def validate_controller_revision(c: Ctx, obj: Any) -> list[Cause]:
    """ValidateControllerRevision: data is required, revision is not negative."""
    errs = validate_object_meta(c, obj, name_is_dns_subdomain)
    if obj.get("data") is None:
        errs.append(required("data"))
    rev = c.int(obj, "revision", "")
    if rev is not None and rev < 0:
        errs.append(invalid("revision", rev, "must be greater than or equal to 0"))
    return errs


def validate_controller_revision_update(c: Ctx, obj: Any, old: Any) -> list[Cause]:
    errs = validate_object_meta_update(c, obj, old) + validate_controller_revision(c, obj)
    if obj.get("data") != old.get("data"):
        errs.append(invalid("data", "", "field is immutable"))
    return errs


# ============================================================================ StatefulSet

def _int_or_percent_value(v: int | str) -> int | None:
    if isinstance(v, int):
        return v
    if v.endswith("%") and v[:-1].isdigit():
        return int(v[:-1])
    return None


def _go_update_strategy(c: Ctx, strategy: Any) -> GoRaw:
    t = c.str(strategy, "type", "")
    ru = c.obj(strategy, "rollingUpdate", "")
    ru_s = "(*apps.RollingUpdateStatefulSetStrategy)(nil)" if ru is None else "&apps.RollingUpdateStatefulSetStrategy{...}"
    return GoRaw(f"apps.StatefulSetUpdateStrategy{{Type:{go_quote(t)}, RollingUpdate:{ru_s}}}")


def validate_statefulset_spec(c: Ctx, spec: Any) -> list[Cause]:
    errs: list[Cause] = []
    sp = "spec"
    pmp = c.str(spec, "podManagementPolicy", sp)
    if pmp == "":
        errs.append(required("spec.podManagementPolicy"))
    elif pmp not in ("OrderedReady", "Parallel"):
        errs.append(invalid("spec.podManagementPolicy", pmp, "must be 'OrderedReady' or 'Parallel'"))
    strategy = c.obj(spec, "updateStrategy", sp)
    stype = c.str(strategy, "type", "spec.updateStrategy")
    rolling = c.obj(strategy, "rollingUpdate", "spec.updateStrategy")
    rp = "spec.updateStrategy.rollingUpdate"
    if stype == "":
        errs.append(required("spec.updateStrategy"))
    elif stype == "OnDelete":
        if rolling is not None:
            errs.append(invalid(rp, GoRaw("&apps.RollingUpdateStatefulSetStrategy{...}"),
                                "only allowed for updateStrategy 'RollingUpdate'"))
    elif stype == "RollingUpdate":
        if rolling is not None:
            partition = c.int(rolling, "partition", rp) or 0
            if partition < 0:
                errs.append(invalid(child(rp, "partition"), partition, "must be greater than or equal to 0"))
            mu = c.intstr(rolling, "maxUnavailable", rp)
            if mu is not None:
                mp = child(rp, "maxUnavailable")
                val = _int_or_percent_value(mu)
                if isinstance(mu, str) and val is None:
                    errs.append(invalid(mp, mu, "a valid percent string must be a numeric string followed by an "
                                                "ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"))
                elif val is not None and val < 0:
                    errs.append(invalid(mp, mu, "must be greater than or equal to 0"))
                if val == 0:
                    errs.append(invalid(mp, mu, "cannot be 0"))
                if isinstance(mu, str) and val is not None and val > 100:
                    errs.append(invalid(mp, mu, "must not be greater than 100%"))
    else:
        errs.append(invalid("spec.updateStrategy", _go_update_strategy(c, strategy), "must be 'RollingUpdate' or 'OnDelete'"))
    retention = c.obj(spec, "persistentVolumeClaimRetentionPolicy", sp)
    if retention is not None:
        for f in ("whenDeleted", "whenScaled"):
            v = c.str(retention, f, "spec.persistentVolumeClaimRetentionPolicy")
            if v not in ("Retain", "Delete"):
                errs.append(not_supported(child("spec.persistentVolumeClaimRetentionPolicy", f), v, ["Retain", "Delete"]))
    replicas = c.int(spec, "replicas", sp)
    if replicas is not None and replicas < 0:
        errs.append(invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    mrs = c.int(spec, "minReadySeconds", sp)
    if mrs is not None and mrs < 0:
        errs.append(invalid("spec.minReadySeconds", mrs, "must be greater than or equal to 0"))
    ordinals = c.obj(spec, "ordinals", sp)
    if ordinals is not None:
        start = c.int(ordinals, "start", "spec.ordinals")
        if start is not None and start < 0:
            errs.append(invalid("spec.ordinals.start", start, "must be greater than or equal to 0"))
    selector = c.obj(spec, "selector", sp)
    if selector is None:
        errs.append(required("spec.selector"))
    else:
        errs += validate_label_selector(c, selector, "spec.selector")
        if not c.smap(selector, "matchLabels", "") and not c.arr(selector, "matchExpressions", ""):
            errs.append(invalid("spec.selector", label_selector_string(c, selector), "empty selector is invalid for statefulset"))
    template = c.obj(spec, "template", sp)
    tmeta = c.obj(template, "metadata", "spec.template")
    tlabels = c.smap(tmeta, "labels", "spec.template.metadata")
    if not selector_valid(c, selector):
        errs.append(invalid("spec.selector", label_selector_string(c, selector), ""))
    else:
        if selector is not None and (c.smap(selector, "matchLabels", "") or c.arr(selector, "matchExpressions", "")):
            if not selector_matches(c, selector, tlabels):
                shown: Any = tlabels if isinstance(c._get(tmeta, "labels"), dict) else GoRaw("map[string]string(nil)")
                errs.append(invalid("spec.template.metadata.labels", shown, "`selector` does not match template `labels`"))
        errs += validate_labels(tlabels, "spec.template.labels")
        errs += validate_annotations(c.smap(tmeta, "annotations", "spec.template.metadata"), "spec.template.annotations")
    tspec = c.obj(template, "spec", "spec.template")
    restart = c.str(tspec, "restartPolicy", "spec.template.spec")
    if restart != "Always":
        errs.append(not_supported("spec.template.spec.restartPolicy", restart, ["Always"]))
    if c.int(tspec, "activeDeadlineSeconds", "spec.template.spec") is not None:
        errs.append(forbidden("spec.template.spec.activeDeadlineSeconds", "activeDeadlineSeconds in StatefulSet is not Supported"))
    c.str(spec, "serviceName", sp)
    c.int(spec, "revisionHistoryLimit", sp)
    # Kubernetes 1.32 validates neither the pod template's spec nor the claim templates of a
    # StatefulSet; only their shape is checked here, so malformed input cannot crash later code.
    for _i, claim, cp in c.dlist(spec, "volumeClaimTemplates", sp):
        cspec = c.obj(claim, "spec", cp)
        c.slist(cspec, "accessModes", child(cp, "spec"))
        cres = c.obj(cspec, "resources", child(cp, "spec"))
        c.qmap(cres, "requests", child(cp, "spec", "resources"))
        c.qmap(cres, "limits", child(cp, "spec", "resources"))
        c.ostr(cspec, "storageClassName", child(cp, "spec"))
        c.obj(claim, "metadata", cp)
    for _i, ctr, ip in c.dlist(tspec, "containers", "spec.template.spec"):
        c.str(ctr, "name", ip)
        c.str(ctr, "image", ip)
        c.qmap(c.obj(ctr, "resources", ip), "limits", child(ip, "resources"))
        c.qmap(c.obj(ctr, "resources", ip), "requests", child(ip, "resources"))
    c.dlist(tspec, "volumes", "spec.template.spec")
    return errs


def validate_statefulset(c: Ctx, obj: Any) -> list[Cause]:
    errs = validate_object_meta(c, obj, name_is_dns_label)
    return errs + validate_statefulset_spec(c, c.obj(obj, "spec", ""))


def validate_statefulset_update(c: Ctx, obj: Any, old: Any) -> list[Cause]:
    oc = Ctx()
    errs = validate_object_meta_update(c, obj, old)
    spec = c.obj(obj, "spec", "") or {}
    errs += validate_statefulset_spec(c, spec)
    old_spec = oc.obj(old, "spec", "") or {}
    clone = dict(spec)
    for f in ("replicas", "template", "updateStrategy", "minReadySeconds", "ordinals",
              "persistentVolumeClaimRetentionPolicy"):
        clone.pop(f, None)
        if f in old_spec:
            clone[f] = old_spec[f]
    if not _sem_equal(clone, old_spec):
        errs.append(forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                                      "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
                                      "'minReadySeconds' are forbidden"))
    return errs


def validate_statefulset_status_update(c: Ctx, obj: Any, old: Any) -> list[Cause]:
    oc = Ctx()
    errs: list[Cause] = []
    status = c.obj(obj, "status", "")
    vals = {}
    for f in ("replicas", "readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas"):
        v = c.int(status, f, "status") or 0
        vals[f] = v
        if v < 0:
            errs.append(invalid(child("status", f), v, "must be greater than or equal to 0"))
    for f in ("observedGeneration", "collisionCount"):
        n = c.int(status, f, "status")
        if n is not None and n < 0:
            errs.append(invalid(child("status", f), n, "must be greater than or equal to 0"))
    for f in ("readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas"):
        if vals[f] > vals["replicas"]:
            errs.append(invalid(child("status", f), vals[f], "cannot be greater than status.replicas"))
    if vals["availableReplicas"] > vals["readyReplicas"]:
        errs.append(invalid("status.availableReplicas", vals["availableReplicas"], "cannot be greater than status.readyReplicas"))
    errs += validate_object_meta_update(c, obj, old)
    new_cc = c.int(status, "collisionCount", "status")
    old_cc = oc.int(oc.obj(old, "status", ""), "collisionCount", "status")
    if old_cc is not None and (new_cc is None or new_cc < old_cc):
        errs.append(invalid("status.collisionCount", new_cc or 0, "cannot be decremented"))
    return errs


# ============================================================================ entry points

_Create = Callable[[Ctx, JSON], list[Cause]]
_Update = Callable[[Ctx, JSON, JSON], list[Cause]]


def _meta_update_then(create: _Create) -> _Update:
    def update(c: Ctx, obj: Any, old: Any) -> list[Cause]:
        return validate_object_meta_update(c, obj, old) + create(c, obj)
    return update


_CREATE: dict[str, _Create] = {
    "PersistentVolume": validate_pv,
    "PersistentVolumeClaim": validate_pvc,
    "StorageClass": validate_storage_class,
    "Secret": validate_secret,
    "ConfigMap": validate_config_map,
    "Pod": validate_pod_create,
    "Service": validate_service,
    "StatefulSet": validate_statefulset,
    "Namespace": validate_namespace,
    "Node": validate_node,
    "Event": validate_event,
    "Lease": validate_lease,
    "Endpoints": validate_endpoints,
    "ControllerRevision": validate_controller_revision,
}

_UPDATE: dict[str, _Update] = {
    "PersistentVolume": validate_pv_update,
    "PersistentVolumeClaim": validate_pvc_update,
    "StorageClass": validate_storage_class_update,
    "Secret": validate_secret_update,
    "ConfigMap": validate_config_map_update,
    "Pod": validate_pod_update,
    "Service": validate_service_update,
    "StatefulSet": validate_statefulset_update,
    "Namespace": lambda c, obj, old: validate_object_meta_update(c, obj, old),
    "Node": validate_node_update,
    "Event": lambda c, obj, old: validate_event(c, obj),
    "Lease": _meta_update_then(validate_lease),
    "Endpoints": _meta_update_then(validate_endpoints),
    "ControllerRevision": validate_controller_revision_update,
}

_STATUS_UPDATE: dict[str, _Update] = {
    "PersistentVolume": validate_pv_status_update,
    "PersistentVolumeClaim": validate_pvc_status_update,
    "Pod": validate_pod_status_update,
    "Service": validate_service_status_update,
    "StatefulSet": validate_statefulset_status_update,
    "Namespace": validate_namespace_status_update,
    "Node": validate_node_update,
}


def _generic_meta(c: Ctx, obj: Any) -> list[Cause]:
    """The registry's own ValidateObjectMetaAccessor with path-segment names."""
    return validate_object_meta(c, obj, path_segment_name, kube=False)


def _dedupe(causes: list[Cause]) -> list[Cause]:
    if not causes:
        return []
    seen: set[tuple[str, str, str]] = set()
    out = []
    for cause in causes:
        k = (cause.reason, cause.field, cause.message)
        if k not in seen:
            seen.add(k)
            out.append(cause)
    return out


def _top(c: Ctx, obj: Any) -> JSON:
    if isinstance(obj, dict):
        return obj
    c._bad("", obj, "object")
    return {}


def _run(kind: str, obj: Any, old: Any, status: bool) -> tuple[list[Cause], Ctx]:
    c = Ctx()
    body = _top(c, obj)
    if old is None:
        fn = _CREATE.get(kind)
        errs = fn(c, body) if fn else validate_object_meta(c, body, name_is_dns_subdomain)
        if not errs:
            errs = _generic_meta(c, body)
    else:
        old_body = old if isinstance(old, dict) else {}
        if status:
            sfn = _STATUS_UPDATE.get(kind)
            errs = sfn(c, body, old_body) if sfn else validate_object_meta_update(c, body, old_body)
        else:
            ufn = _UPDATE.get(kind)
            errs = _generic_meta(c, body)
            if kind not in _UPDATE_STARTS_WITH_META:
                errs += validate_object_meta_update(c, body, old_body)
            errs += ufn(c, body, old_body) if ufn else []
    return errs, c


# Update validators that begin with validate_object_meta_update themselves: running it before them
# too only made duplicates that _dedupe removed (same causes, same order without it).
_UPDATE_STARTS_WITH_META = frozenset({"PersistentVolume", "PersistentVolumeClaim", "Namespace", "Lease", "Endpoints"})


def _guarded(kind: str, obj: Any, old: Any, status: bool) -> tuple[list[Cause], list[Cause], list[str]]:
    try:
        errs, c = _run(kind, obj, old, status)
    except RecursionError:
        cause = invalid("", "<object>", "object is too deeply nested")
        return [cause], [cause], [cause.message]
    except Exception as e:  # the guard must hold even against a bug here
        log.exception("validating a %s failed (answered as a 422 cause)", kind)
        cause = _c("InternalError", "", f"Internal error: validation failed: {type(e).__name__}")
        return [cause], [], []
    return errs, c.decode, c.decode_msgs


def validate(kind: str, obj: Any, old: Any = None) -> list[Cause]:
    """The causes Kubernetes 1.32 would report for creating (``old`` None) or updating
    ``obj``; [] when it is acceptable.  Never raises.  When the body could not even be
    decoded by Kubernetes (wrong JSON types, bad quantities, bad base64) only those
    problems are returned."""
    errs, decode, _ = _guarded(kind, obj, old, False)
    if decode:
        return _dedupe(decode)
    return _dedupe(errs)


def validate_status_update(kind: str, obj: Any, old: Any) -> list[Cause]:
    """Validation of a write to the /status subresource (``obj`` already carries the old
    spec, as the status strategy keeps it).  Never raises."""
    errs, decode, _ = _guarded(kind, obj, old, True)
    if decode:
        return _dedupe(decode)
    return _dedupe(errs)


def check(kind: str, obj: Any, old: Any = None,
          status: bool = False) -> tuple[list[Cause], str | None]:
    """One validation pass: (causes, decode message).  A decode message (wrong JSON types,
    bad quantities, bad base64) means Kubernetes would have answered 400 before validating;
    otherwise the causes are the 422's.  Never raises."""
    errs, decode, msgs = _guarded(kind, obj, old, status and old is not None)
    if decode:
        return _dedupe(decode), (msgs[0] if msgs else decode[0].message)
    return _dedupe(errs), None


def decode_errors(kind: str, obj: Any) -> list[Cause]:
    """The problems Kubernetes finds while decoding the body (before validation)."""
    _, decode, _ = _guarded(kind, obj, None, False)
    return _dedupe(decode)


def decode_error_message(kind: str, obj: Any) -> str | None:
    """The first decoding problem as Kubernetes words it, for a 400 of the form
    ``<Kind> in version "<v>" cannot be handled as a <Kind>: <message>``; None if none."""
    _, _, msgs = _guarded(kind, obj, None, False)
    return msgs[0] if msgs else None


# Custom resources (snapshot.storage.k8s.io, orlop.io): checked against their CRDs (crdvalidation.py).
from .crdvalidation import CREATE as _CR_CREATE  # noqa: E402
from .crdvalidation import STATUS_UPDATE as _CR_STATUS_UPDATE  # noqa: E402
from .crdvalidation import UPDATE as _CR_UPDATE  # noqa: E402

_CREATE.update(_CR_CREATE)
_UPDATE.update(_CR_UPDATE)
_STATUS_UPDATE.update(_CR_STATUS_UPDATE)
