"""Kubernetes resource quantities (``10Gi``, ``500m``, ``1e3``).

Why this exists: capacities and requests travel as apimachinery ``resource.Quantity``
strings.  The API server parses them exactly (no floats), rejects malformed ones with a
fixed message, and writes them back in a canonical form ("1024Mi" becomes "1Gi",
"0.5Gi" becomes "512Mi", "1.5" becomes "1500m") -- except that a string which already
is canonical is kept byte for byte.  Clients compare what they sent with what they get
back, and the binder compares sizes, so both the parser and the printer must behave as
apimachinery's do.  Values are ``decimal.Decimal``.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

__all__ = [
    "QUANTITY_FORMAT_ERROR",
    "ParsedQuantity",
    "canonical_quantity",
    "format_quantity",
    "parse_quantity",
    "parse_quantity_full",
]

_SPLIT_RE = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
QUANTITY_FORMAT_ERROR = f"quantities must match the regular expression '{_SPLIT_RE}'"
_NUMERIC_ERROR = "unable to parse numeric part of quantity"
_SUFFIX_ERROR = "unable to parse quantity's suffix"

DECIMAL_SI = "DecimalSI"
BINARY_SI = "BinarySI"
DECIMAL_EXPONENT = "DecimalExponent"

# Exact arithmetic: no rounding, exponents as large as an int32 exponent can make them.
_CTX = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN,
                       rounding=decimal.ROUND_UP, traps=[decimal.InvalidOperation])

_DEC_SUFFIX = {"": 0, "n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BIN_SUFFIX = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DEC_BY_EXP = {v: k for k, v in _DEC_SUFFIX.items()}
_BIN_BY_EXP = {v // 10: k for k, v in _BIN_SUFFIX.items()}
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_MAX_INT64 = (1 << 63) - 1
_MAX_INT32 = (1 << 31) - 1
_NANO = Decimal("1e-9")
# Go's strings.TrimSpace: Unicode White_Space.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
            "\u2028\u2029\u202f\u205f\u3000"


@dataclass(frozen=True)
class ParsedQuantity:
    """What ``resource.ParseQuantity`` keeps: the exact value, its format and, when the
    input was already canonical, the input string itself (apimachinery re-emits it)."""

    value: Decimal
    format: str
    cached: str | None = None
    # (mantissa, base-10 scale) when apimachinery holds it as an int64Amount.
    int_form: tuple[int, int] | None = None

    def canonical(self) -> str:
        if self.cached is not None:
            return self.cached
        return format_quantity(self.value, self.format)

    def round_up_milli(self) -> ParsedQuantity:
        """``Quantity.RoundUp(Milli)``, which SetDefaults_ResourceList applies to every
        ResourceList value (a value finer than 1m is rounded up, away from zero)."""
        if self.int_form is not None and self.int_form[1] >= -3:
            return self
        value = self.value
        exp = value.as_tuple().exponent
        if isinstance(exp, int) and exp < -3:
            value = value.quantize(Decimal("0.001"), rounding=decimal.ROUND_UP, context=_CTX)
        return ParsedQuantity(value, self.format, None, None)


def _split(s: str) -> tuple[bool, str, str, str, str]:
    """apimachinery's parseQuantityString: (positive, value, num, denom, suffix)."""
    positive = True
    pos = 0
    end = len(s)
    if pos < end and s[0] in "+-":
        positive = s[0] == "+"
        pos += 1
    while True:  # strip leading zeros
        if pos >= end:
            return positive, "0", "0", "", ""
        if s[pos] == "0":
            pos += 1
        else:
            break
    start = pos
    while pos < end and "0" <= s[pos] <= "9":
        pos += 1
    num = s[start:pos] or "0"
    if pos >= end:
        return positive, s, num, "", ""
    denom = ""
    if s[pos] == ".":
        pos += 1
        dstart = pos
        while pos < end and "0" <= s[pos] <= "9":
            pos += 1
        denom = s[dstart:pos]
        if pos >= end:
            return positive, s, num, denom, ""
    value = s[:pos]
    suffix_start = pos
    while pos < end and s[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and s[pos] in "+-":
        pos += 1
    while pos < end and "0" <= s[pos] <= "9":
        pos += 1
    if pos < end:
        raise ValueError(QUANTITY_FORMAT_ERROR)
    return positive, value, num, denom, s[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, str]:
    """(base, exponent, format) of a suffix, as quantitySuffixer.interpret."""
    if suffix in _DEC_SUFFIX:
        return 10, _DEC_SUFFIX[suffix], DECIMAL_SI
    if suffix in _BIN_SUFFIX:
        return 2, _BIN_SUFFIX[suffix], BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        digits = suffix[1:]
        body = digits[1:] if digits[:1] in "+-" else digits
        if body and body.isdigit() and body.isascii():
            exp = int(digits)
            if -_MAX_INT32 <= exp <= _MAX_INT32:
                return 10, exp, DECIMAL_EXPONENT
    raise ValueError(_SUFFIX_ERROR)


def _to_text(s: object) -> str:
    if isinstance(s, bool):
        raise ValueError(QUANTITY_FORMAT_ERROR)
    if isinstance(s, int):
        return str(s)
    if isinstance(s, float):
        if s != s or s in (float("inf"), float("-inf")):
            raise ValueError(QUANTITY_FORMAT_ERROR)
        return repr(s)
    if isinstance(s, str):
        return s.strip(_GO_SPACE)
    raise ValueError(QUANTITY_FORMAT_ERROR)


def parse_quantity_full(s: object) -> ParsedQuantity:
    """Parse like ``resource.Quantity.UnmarshalJSON`` (JSON numbers are read from their
    text; surrounding white space is trimmed).  Raises ValueError with apimachinery's
    message.  Texts are remembered (the same few sizes come with every object; a
    ParsedQuantity is immutable, and errors are raised anew each time)."""
    if type(s) is str:
        return _parse_text(s)
    return _parse(s)


@lru_cache(maxsize=4096)
def _parse_text(s: str) -> ParsedQuantity:
    return _parse(s)


def _parse(s: object) -> ParsedQuantity:
    text = _to_text(s)
    if not text:
        raise ValueError(QUANTITY_FORMAT_ERROR)
    if text == "0":
        return ParsedQuantity(Decimal(0), DECIMAL_SI, "0", (0, 0))
    positive, value_str, num, denom, suffix = _split(text)
    base, exponent, fmt = _interpret(suffix)

    # apimachinery's int64 fast path; it alone may keep the input string as the canonical form.
    if fmt in (DECIMAL_SI, DECIMAL_EXPONENT):
        precision = 18 - (len(num) + len(denom))
        scale = exponent
        mantissa = 1
    elif exponent >= 0 and not denom:
        precision = 15 - len(num) - int(exponent * 3 / 10) - 1
        scale = 0
        mantissa = 1 << exponent
    else:
        precision = -1
        scale = 0
        mantissa = 1
    if precision >= 0:
        scale -= len(denom)
        if scale >= -9:
            shifted = num + denom
            result = int(shifted) * mantissa
            if result <= _MAX_INT64:
                if not positive:
                    result = -result
                int_form = (result, scale)
                cached: str | None = None
                if fmt == BINARY_SI:
                    if exponent % 10 == 0 and int(shifted) & 7:
                        cached = text
                elif scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0":
                    cached = text
                value = Decimal(result).scaleb(scale, context=_CTX) if result else Decimal(0)
                return ParsedQuantity(value, fmt, cached, int_form)

    try:
        amount = Decimal(value_str)
    except decimal.InvalidOperation:
        raise ValueError(_NUMERIC_ERROR) from None
    if not amount.is_finite():
        raise ValueError(_NUMERIC_ERROR)
    amount = abs(amount)
    if base == 10:
        amount = amount.scaleb(exponent, context=_CTX)
    else:
        amount = _CTX.multiply(amount, Decimal(1 << exponent))
    if amount != 0:
        exp = amount.as_tuple().exponent
        if isinstance(exp, int) and exp < -9:
            amount = amount.quantize(_NANO, rounding=decimal.ROUND_UP, context=_CTX)
    if fmt == BINARY_SI and amount > _MAX_INT64:
        amount = Decimal(_MAX_INT64)
    if fmt == BINARY_SI and 0 < amount < 1:
        fmt = DECIMAL_SI
    if not positive:
        amount = -amount
    if amount == 0:
        amount = Decimal(0)
    return ParsedQuantity(amount, fmt)


def parse_quantity(s: object) -> Decimal:
    """The exact value of a quantity; ValueError (apimachinery's message) if malformed."""
    return parse_quantity_full(s).value


def _base10_parts(value: Decimal) -> tuple[int, int]:
    """(mantissa, exponent) with the exponent lowered to a multiple of 3, as AsCanonicalBytes."""
    sign, digits, exp = value.as_tuple()
    assert isinstance(exp, int)
    coeff = int("".join(map(str, digits)) or "0")
    while coeff and coeff % 10 == 0:
        coeff //= 10
        exp += 1
    while exp % 3:
        coeff *= 10
        exp -= 1
    return (-coeff if sign else coeff), exp


def _decimal_string(value: Decimal, fmt: str) -> str:
    mantissa, exp = _base10_parts(value)
    if fmt == DECIMAL_EXPONENT:
        return f"{mantissa}e{exp}" if exp else str(mantissa)
    if exp in _DEC_BY_EXP:
        return f"{mantissa}{_DEC_BY_EXP[exp]}"
    # No SI suffix below n or above E: fall back to exponent notation (newer apimachinery;
    # older releases dropped the suffix, corrupting the value).
    return f"{mantissa}e{exp}"


def format_quantity(value: Decimal | int, fmt: str = BINARY_SI) -> str:
    """Canonical text of ``value`` in ``fmt`` (``Quantity.String()`` without a cached form)."""
    value = Decimal(value)
    if value == 0:
        return "0"
    if fmt not in (DECIMAL_SI, BINARY_SI, DECIMAL_EXPONENT):
        fmt = DECIMAL_EXPONENT
    if fmt == BINARY_SI:
        if -1024 < value < 1024:
            fmt = DECIMAL_SI
        else:
            rounded = value.to_integral_value(rounding=decimal.ROUND_UP, context=_CTX)
            if rounded != value:
                fmt = DECIMAL_SI
            else:
                n = int(rounded)
                neg = n < 0
                n = abs(n)
                exp = 0
                while n and n % 1024 == 0:
                    n //= 1024
                    exp += 1
                if exp in _BIN_BY_EXP:
                    return f"{'-' if neg else ''}{n}{_BIN_BY_EXP[exp]}"
                fmt = DECIMAL_SI
    return _decimal_string(value, fmt)


def canonical_quantity(s: object, *, round_milli: bool = False) -> str:
    """The text the API server writes back for ``s`` (ValueError if malformed).
    ``round_milli`` applies ResourceList defaulting (round up to 1m) first."""
    q = parse_quantity_full(s)
    if round_milli:
        q = q.round_up_milli()
    return q.canonical()
