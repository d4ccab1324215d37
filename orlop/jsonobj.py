"""Helpers for objects as JSON data (plain dicts and lists).

Why this exists: every layer copies API objects (a decision builds the next version of
an object, a strategy keeps parts of the old one).  ``copy.deepcopy`` is general and
slow; a round trip through orjson copies JSON data several times faster, and it is the
one place to say so.  Also the one place for the range Kubernetes decodes JSON integers
into (Go's int64).
"""

from __future__ import annotations

from typing import Any

import orjson


def is_int64(n: int) -> bool:
    """Whether ``n`` fits Go's int64, as every integer field and parameter Kubernetes decodes."""
    return -(1 << 63) <= n < 1 << 63


def clone(obj: Any) -> Any:
    """A deep copy of JSON data."""
    return orjson.loads(orjson.dumps(obj))
