"""Go's formatting of values, for messages that must read exactly as Kubernetes' do.

Why this exists: Kubernetes' error and conflict messages quote values with Go's
``strconv.Quote``; validation, selectors and server-side apply all repeat those
messages, so the quoting lives here once.
"""

from __future__ import annotations


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
