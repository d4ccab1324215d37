"""Go's ``time.ParseDuration`` and ``Duration.String``.

Why this exists: durations users write in manifests ("24h", "1h30m", "500ms") are Go
duration strings wherever Kubernetes takes them (CEL's ``duration()``, controller flags),
so SnapshotSchedule's ``spec.interval`` is one too.  Validation, the schedule controller
and its status all read them the same way, from here.
"""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration"]

_UNITS_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
             "m": 60_000_000_000, "h": 3_600_000_000_000}
_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_MAX = (1 << 63) - 1


def parse_duration(text: str) -> int:
    """Nanoseconds of a Go duration string; ValueError with Go's message when it is not one."""
    if not isinstance(text, str):
        raise ValueError(f"time: invalid duration {text!r}")
    quoted = '"' + text + '"'
    s = text
    neg = False
    if s[:1] in ("-", "+"):
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f"time: invalid duration {quoted}")
    total = 0
    pos = 0
    while pos < len(s):
        m = _PART.match(s, pos)
        if m is None or m.group(1) in ("", "."):
            if m is None and re.match(r"[0-9.]+$", s[pos:]):
                raise ValueError(f"time: missing unit in duration {quoted}")
            if m is None and re.match(r"[0-9.]+", s[pos:]):
                unit = re.sub(r"^[0-9.]+", "", s[pos:])
                unit = re.match(r"[^0-9.]*", unit).group(0)  # type: ignore[union-attr]
                raise ValueError(f'time: unknown unit "{unit}" in duration {quoted}')
            raise ValueError(f"time: invalid duration {quoted}")
        number, unit = m.group(1), m.group(2)
        whole, _, frac = number.partition(".")
        scale = _UNITS_NS[unit]
        value = int(whole or "0") * scale
        if frac:
            value += int(frac) * scale // (10 ** len(frac))
        total += value
        if total > _MAX:
            raise ValueError(f"time: invalid duration {quoted}")
        pos = m.end()
    return -total if neg else total


def format_duration(ns: int) -> str:
    """Go's ``Duration.String``: "24h0m0s", "1m30s", "500ms", "0s"."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, scale in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= scale:
                return sign + _frac(ns, scale) + unit
    h, rem = divmod(ns, 3_600_000_000_000)
    m, rem = divmod(rem, 60_000_000_000)
    out = f"{_frac(rem, 1_000_000_000)}s"
    if h or m:
        out = f"{m}m" + out
    if h:
        out = f"{h}h" + out
    return sign + out


def _frac(value: int, scale: int) -> str:
    whole, frac = divmod(value, scale)
    if not frac:
        return str(whole)
    digits = str(frac).rjust(len(str(scale)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"
