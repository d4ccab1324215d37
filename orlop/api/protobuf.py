"""Decoding of ``application/vnd.kubernetes.protobuf`` request bodies.

Why this exists: client-go's typed clients (kubectl's ``create namespace``, ``create configmap``,
``create secret ...``, ``create service ...`` generators, client-go event recorders) POST their
objects as Kubernetes protobuf, not JSON.  The rest of orlop works on the JSON form of objects, so
this module turns such a body into exactly the dict the same object's JSON would have decoded to:
same keys, Go's ``omitempty`` rules, Secret data as base64 strings, RFC 3339 timestamps,
IntOrString as int or str.

The wire format is the 4-byte magic ``k8s\\x00`` followed by a ``runtime.Unknown`` message
(typeMeta=1 {apiVersion=1, kind=2}, raw=2, contentEncoding=3, contentType=4) whose ``raw`` is the
object encoded per the Kubernetes ``generated.proto`` files.  The field tables live in
:mod:`orlop.api.proto_fields`; this module holds only a small generic wire decoder (varint,
64-bit, length-delimited, 32-bit) and the mapping of protobuf values to JSON values.

Every malformed input ends as ``errors.bad_request`` (HTTP 400), never another exception.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from orlop import errors
from orlop.api import proto_fields

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

# Wire types (3 and 4, the deprecated groups, are never used by Kubernetes and are rejected).
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5

_VARINT_TYPES = frozenset({"bool", "int32", "int64"})
_SCALARS = _VARINT_TYPES | {"string", "bytes", "double"}
_SPECIAL = frozenset({"Time", "MicroTime", "Quantity", "IntOrString", "FieldsV1"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Go's zero time.Time (0001-01-01T00:00:00Z) in Unix seconds: JSON ``null``.
_GO_ZERO_TIME_SECONDS = -62135596800


class _DecodeError(Exception):
    """A malformed body; turned into a 400 by :func:`decode_k8s_protobuf`."""


@dataclass(frozen=True)
class _Field:
    number: int
    json: str
    base: str              # scalar name, special type name or message name
    repeated: bool = False
    is_map: bool = False
    pointer: bool = False  # Go pointer: zero values are kept
    required: bool = False  # no omitempty: zero values are kept
    inline: bool = False   # embedded struct: JSON inlines its fields

    @property
    def is_message(self) -> bool:
        return self.base not in _SCALARS


def _parse_type(number: int, name: str, spec: str) -> _Field:
    inline = spec.startswith("...")
    if inline:
        spec = spec[3:]
    required = spec.endswith("!")
    spec = spec.rstrip("!")
    pointer = spec.startswith("*")
    spec = spec.lstrip("*")
    repeated = spec.startswith("[]")
    if repeated:
        spec = spec[2:]
    is_map = spec.startswith("map<string,")
    if is_map:
        spec = spec[len("map<string,"):-1]
    return _Field(number, name, spec, repeated, is_map, pointer, required, inline)


@cache
def _schema(message: str) -> tuple[dict[int, _Field], tuple[_Field, ...]]:
    """The fields of ``message`` by number, and in Go struct (JSON output) order."""
    ordered = tuple(_parse_type(n, j, t) for n, j, t in proto_fields.MESSAGES[message])
    return {f.number: f for f in ordered}, ordered


# ----------------------------------------------------------------------------- wire level
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise _DecodeError("unexpected end of data in varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7
        if shift >= 70:
            raise _DecodeError("varint overflows 64 bits")


def _scan(buf: bytes) -> list[tuple[int, int, int | bytes]]:
    """Split one message into ``(field number, wire type, value)`` triples."""
    out: list[tuple[int, int, int | bytes]] = []
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number <= 0 or number > 0x1FFFFFFF:
            raise _DecodeError(f"illegal field number {number}")
        value: int | bytes
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
        elif wire == _I64:
            if pos + 8 > end:
                raise _DecodeError("unexpected end of data in fixed64")
            value = int.from_bytes(buf[pos:pos + 8], "little")
            pos += 8
        elif wire == _I32:
            if pos + 4 > end:
                raise _DecodeError("unexpected end of data in fixed32")
            value = int.from_bytes(buf[pos:pos + 4], "little")
            pos += 4
        elif wire == _LEN:
            length, pos = _varint(buf, pos)
            if length > end - pos:
                raise _DecodeError("length-delimited field runs past the end of data")
            value = bytes(buf[pos:pos + length])
            pos += length
        else:
            raise _DecodeError(f"illegal wireType {wire} for field {number}")
        out.append((number, wire, value))
    return out


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _packed_varints(data: bytes) -> list[int]:
    values = []
    pos = 0
    while pos < len(data):
        v, pos = _varint(data, pos)
        values.append(v)
    return values


# ----------------------------------------------------------------------------- values
def _text(data: int | bytes) -> str:
    assert isinstance(data, bytes)
    # Go keeps invalid UTF-8 in a string; its JSON encoder writes U+FFFD for it.
    return data.decode("utf-8", errors="replace")


def _scalar(base: str, raw: int | bytes) -> Any:
    if base == "string":
        return _text(raw)
    if base == "bytes":
        assert isinstance(raw, bytes)
        return base64.b64encode(raw).decode("ascii")
    assert isinstance(raw, int)
    if base == "bool":
        return raw != 0
    if base == "int32":
        return _signed(raw, 32)
    if base == "int64":
        return _signed(raw, 64)
    if base == "double":
        value = struct.unpack("<d", raw.to_bytes(8, "little"))[0]
        if value != value or value in (float("inf"), float("-inf")):
            raise _DecodeError("non-finite double cannot be represented in JSON")
        return value
    raise _DecodeError(f"unknown scalar type {base}")


def _is_zero(value: Any) -> bool:
    return value == "" or value is False or (isinstance(value, int) and not isinstance(value, bool) and value == 0)


def _fields_of(data: bytes, expected: dict[int, str]) -> dict[int, int | bytes]:
    """Last value of each field of a small fixed message (Time, Quantity, ...)."""
    out: dict[int, int | bytes] = {}
    for number, wire, value in _scan(data):
        kind = expected.get(number)
        if kind is None:
            continue
        want = _LEN if kind == "len" else _VARINT
        if wire != want:
            raise _DecodeError(f"wrong wireType = {wire} for field {number}")
        out[number] = value
    return out


def _time(data: bytes, micro: bool) -> str | None:
    """metav1.Time / MicroTime ({seconds=1, nanos=2}) as Go's JSON writes them, or None for null."""
    if not data:
        return None  # Go's zero time marshals to JSON null
    f = _fields_of(data, {1: "varint", 2: "varint"})
    seconds = _signed(int(f.get(1, 0)), 64)
    # metav1.Time keeps whole seconds only; MicroTime keeps nanos (time.Unix normalises them).
    nanos = _signed(int(f.get(2, 0)), 32) if micro else 0
    if seconds == _GO_ZERO_TIME_SECONDS and nanos == 0:
        return None
    try:
        when = _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError:
        raise _DecodeError(f"timestamp {seconds}s out of range") from None
    text = (f"{when.year:04d}-{when.month:02d}-{when.day:02d}"
            f"T{when.hour:02d}:{when.minute:02d}:{when.second:02d}")
    return f"{text}.{when.microsecond:06d}Z" if micro else f"{text}Z"


def _special(base: str, data: bytes) -> Any:
    if base == "Time":
        return _time(data, micro=False)
    if base == "MicroTime":
        return _time(data, micro=True)
    if base == "Quantity":
        f = _fields_of(data, {1: "len"})
        return _text(f[1]) if 1 in f else "0"  # Go's zero Quantity is "0"
    if base == "IntOrString":
        f = _fields_of(data, {1: "varint", 2: "varint", 3: "len"})
        kind = _signed(int(f.get(1, 0)), 64)
        if kind == 0:
            return _signed(int(f.get(2, 0)), 32)
        if kind == 1:
            return _text(f.get(3, b""))
        raise _DecodeError(f"impossible IntOrString.Type {kind}")
    if base == "FieldsV1":
        raw = _fields_of(data, {1: "len"}).get(1)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise _DecodeError("fieldsV1 is not valid JSON") from None
    raise _DecodeError(f"unknown type {base}")


def _value(base: str, raw: int | bytes) -> Any:
    if base in _SCALARS:
        return _scalar(base, raw)
    assert isinstance(raw, bytes)
    if base in _SPECIAL:
        return _special(base, raw)
    return _message(base, raw)


def _check_wire(field: _Field, wire: int) -> None:
    if field.is_map or field.is_message or field.base in ("string", "bytes"):
        ok = wire == _LEN
    elif field.base == "double":
        ok = wire == _I64 or (field.repeated and wire == _LEN)
    else:
        ok = wire == _VARINT or (field.repeated and wire == _LEN)
    if not ok:
        raise _DecodeError(f"wrong wireType = {wire} for field {field.json}")


def _map_entry(field: _Field, data: bytes) -> tuple[str, Any]:
    key = ""
    raw: int | bytes | None = None
    for number, wire, value in _scan(data):
        if number == 1:
            if wire != _LEN:
                raise _DecodeError(f"wrong wireType = {wire} for key of {field.json}")
            key = _text(value)
        elif number == 2:
            _check_wire(_Field(2, field.json, field.base), wire)
            raw = value
    if raw is None:  # absent value: Go keeps the zero value
        raw = 0 if field.base in _VARINT_TYPES or field.base == "double" else b""
    return key, _value(field.base, raw)


def _message(name: str, data: bytes) -> dict[str, Any]:
    by_number, ordered = _schema(name)
    seen: dict[int, list[tuple[int, int | bytes]]] = {}
    for number, wire, value in _scan(data):
        field = by_number.get(number)
        if field is None:
            continue  # unknown fields are dropped, as Go's generated decoders do
        _check_wire(field, wire)
        seen.setdefault(number, []).append((wire, value))

    out: dict[str, Any] = {}
    for field in ordered:
        values = seen.get(field.number)
        if not values:
            continue
        if field.is_map:
            entries: dict[str, Any] = {}
            for _, raw in values:
                assert isinstance(raw, bytes)
                key, val = _map_entry(field, raw)
                entries[key] = val
            out[field.json] = dict(sorted(entries.items()))  # Go's JSON sorts map keys
        elif field.repeated:
            items: list[Any] = []
            for wire, raw in values:
                if wire == _LEN and not field.is_message and field.base not in ("string", "bytes"):
                    assert isinstance(raw, bytes)
                    if field.base == "double":
                        if len(raw) % 8:
                            raise _DecodeError(f"bad packed length for field {field.json}")
                        items.extend(_scalar("double", int.from_bytes(raw[i:i + 8], "little"))
                                     for i in range(0, len(raw), 8))
                    else:
                        items.extend(_scalar(field.base, v) for v in _packed_varints(raw))
                else:
                    items.append(_value(field.base, raw))
            out[field.json] = items
        elif field.is_message:
            # Repeated occurrences of a singular message merge, i.e. their bytes concatenate.
            joined = b"".join(raw for _, raw in values if isinstance(raw, bytes))
            sub = _value(field.base, joined)
            if field.inline:
                if not isinstance(sub, dict):
                    raise _DecodeError(f"inline field {field.json} is not a message")
                out.update(sub)
            else:
                out[field.json] = sub
        else:
            value = _scalar(field.base, values[-1][1])
            if _is_zero(value) and not (field.pointer or field.required):
                continue
            out[field.json] = value
    return out


# ----------------------------------------------------------------------------- entry point
def _envelope(body: bytes) -> tuple[str, str, bytes]:
    """(apiVersion, kind, raw) of the ``runtime.Unknown`` after the magic."""
    api_version = kind = ""
    raw = b""
    encoding = ""
    for number, wire, value in _scan(body[len(MAGIC):]):
        if number not in (1, 2, 3, 4):
            continue
        if wire != _LEN or not isinstance(value, bytes):
            raise _DecodeError(f"wrong wireType = {wire} for field {number} of runtime.Unknown")
        if number == 1:
            meta = _fields_of(value, {1: "len", 2: "len"})
            api_version = _text(meta.get(1, b""))
            kind = _text(meta.get(2, b""))
        elif number == 2:
            raw = value
        elif number == 3:
            encoding = _text(value)
    if encoding:
        raise _DecodeError(f"unsupported content encoding {encoding!r}")
    return api_version, kind, raw


def message_for(api_version: str, kind: str) -> str | None:
    """The message name decoding ``apiVersion``/``kind``, or None if we have no table for it."""
    return proto_fields.KINDS.get((api_version, kind)) or proto_fields.ANY_VERSION_KINDS.get(kind)


def decode_k8s_protobuf(body: bytes) -> dict[str, Any]:
    """Decode a Kubernetes protobuf body into the dict its JSON form would decode to.

    Raises ``errors.bad_request`` (400) for anything malformed or of a kind without a table.
    """
    if not body.startswith(MAGIC):
        raise errors.bad_request(
            f"provided data does not appear to be a protobuf message, expected prefix {list(MAGIC)}")
    try:
        api_version, kind, raw = _envelope(body)
    except _DecodeError as e:
        raise errors.bad_request(f"the protobuf body could not be decoded: {e}") from None
    if not kind:
        raise errors.bad_request("Object 'Kind' is missing in the protobuf body")
    if not api_version:
        raise errors.bad_request("Object 'apiVersion' is missing in the protobuf body")
    version = api_version.rpartition("/")[2]
    message = message_for(api_version, kind)
    if message is None:
        raise errors.bad_request(
            f'no kind "{kind}" is registered for protobuf decoding in version "{api_version}"')
    try:
        obj = _message(message, raw)
    except _DecodeError as e:
        raise errors.bad_request(f'{kind} in version "{version}" cannot be handled as a {kind}: '
                                 f"proto: {e}") from None
    except RecursionError:
        raise errors.bad_request(f'{kind} in version "{version}" cannot be handled as a {kind}: '
                                 f"proto: nested too deeply") from None
    return {"kind": kind, "apiVersion": api_version, **obj}
