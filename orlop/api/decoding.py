"""Decoding request bodies the way Kubernetes does, and refusing the ones it refuses.

Why this exists: a body is untrusted input.  Besides plain syntax errors, three shapes
would otherwise hurt the server or differ from Kubernetes: absurd nesting (the YAML C
loader recurses until the process dies), alias bombs (a 1 KB YAML document that expands
to gigabytes), and duplicate fields, which Kubernetes' strict decoder reports under
``fieldValidation=Strict``.  This module turns all of them into 400s with Kubernetes'
wording, before anything else sees the body.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import yaml

from ..errors import StatusError, bad_request
from ..registry.core import yaml_to_json

MAX_DEPTH = 100                  # Kubernetes objects nest ~15 deep; this is far beyond any real one
MAX_EXPANDED_NODES = 1_000_000   # YAML after alias expansion
_OPEN, _CLOSE = frozenset(b"[{"), frozenset(b"]}")


def unrecognized(kind: str, detail: str) -> StatusError:
    return bad_request(f"the object provided is unrecognized (must be of type {kind}): {detail}")


def _check_depth(raw: bytes, kind: str) -> None:
    """Bracket nesting of the raw text (strings included: an over-estimate, never an under-one)."""
    if raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH:
        return      # fewer opening brackets than the limit: no nesting can pass it (counted in C)
    depth = deepest = 0
    for b in raw:
        if b in _OPEN:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    raise unrecognized(kind, f"the object is nested more than {MAX_DEPTH} levels deep")
        elif b in _CLOSE:
            depth -= 1


def _check_yaml_shape(data: Any, kind: str) -> None:
    """Count nodes as if aliases were expanded, without expanding them (memoised by identity)."""
    sizes: dict[int, int] = {}

    def size(node: Any, level: int) -> int:
        if level > MAX_DEPTH:
            raise unrecognized(kind, f"the object is nested more than {MAX_DEPTH} levels deep")
        if not isinstance(node, (dict, list)):
            return 1
        hit = sizes.get(id(node))
        if hit is not None:
            return hit
        children = node.values() if isinstance(node, dict) else node
        total = 1
        for child in children:
            total += size(child, level + 1)
            if total > MAX_EXPANDED_NODES:
                raise unrecognized(kind, "yaml: document contains excessive aliasing")
        sizes[id(node)] = total
        return total

    size(data, 0)


def decode_body(raw: bytes, kind: str, strict: bool) -> tuple[Any, list[str]]:
    """JSON or YAML body → (object, duplicate-field paths found when ``strict``)."""
    _check_depth(raw, kind)
    stripped = raw.lstrip()
    is_json = stripped[:1] in (b"{", b"[")
    try:
        if is_json:
            if strict:
                return _json_with_duplicates(raw)
            return orjson.loads(raw), []
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(raw, Loader=loader)  # noqa: S506 - safe loader
    except (orjson.JSONDecodeError, json.JSONDecodeError, yaml.YAMLError, ValueError, RecursionError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise unrecognized(kind, f"couldn't get version/kind; json parse error: {first}") from None
    _check_yaml_shape(data, kind)
    return yaml_to_json(data), []


def _json_with_duplicates(raw: bytes) -> tuple[Any, list[str]]:
    dups: list[tuple[int, str]] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                dups.append((id(out), k))
            out[k] = v
        return out

    data = json.loads(raw, object_pairs_hook=hook)
    if not dups:
        return data, []
    where = {i for i, _ in dups}
    paths: dict[int, str] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if id(node) in where:
                paths[id(node)] = path
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else k)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(data, "")
    return data, [f"{paths[i]}.{k}" if paths.get(i) else k for i, k in dups]
