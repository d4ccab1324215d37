"""Go's formatting of values, for messages that must read exactly as Kubernetes' do.

Why this exists: Kubernetes' error and conflict messages quote values with Go's
``strconv.Quote``; validation, selectors and server-side apply all repeat those
messages, so the quoting lives here once.
"""

from __future__ import annotations

import math
from decimal import Decimal


class GoRaw(str):
    """A value already rendered the way Go's ``%#v`` / ``String()`` would print it.

    (Here, not in validation.py: a compiled module cannot subclass ``str``.)"""


def go_quote(s: str) -> str:
    """Go's strconv.Quote (``%q``): how Kubernetes quotes values in its messages."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\a\b\f\n\r\t\v":
            out.append({"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                        "\v": "\\v"}[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif ch == " " or (o < 0x7F) or ch.isprintable():
            out.append(ch)
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\\ufffd")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def go_float(f: float) -> str:
    """Go's ``%v`` of a float64 (strconv 'g', shortest): exponent form below 1e-4 or from 1e6."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, f) < 0 else ""
    if f == 0:
        return sign + "0"
    t = Decimal(repr(abs(f))).as_tuple()
    point = len(t.digits) + int(t.exponent)
    digits = "".join(map(str, t.digits)).rstrip("0") or "0"
    exp = point - 1
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return sign + "0." + "0" * -point + digits
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return sign + digits[:point] + "." + digits[point:]
