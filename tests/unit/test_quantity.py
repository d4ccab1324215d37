"""Quantities parse and print as apimachinery's resource.Quantity does.

The tables are taken from apimachinery's quantity_test.go (TestQuantityParse,
TestQuantityString, TestQuantityParseEmit and the invalid list)."""

from decimal import Decimal

import pytest

from orlop.quantity import (
    QUANTITY_FORMAT_ERROR,
    canonical_quantity,
    format_quantity,
    parse_quantity,
    parse_quantity_full,
)

# TestQuantityParse: input -> (value, format)
PARSE_TABLE = [
    ("0", Decimal(0), "DecimalSI"),
    ("0n", Decimal(0), "DecimalSI"),
    ("0Ki", Decimal(0), "BinarySI"),
    ("0Ti", Decimal(0), "BinarySI"),
    ("1", Decimal(1), "DecimalSI"),
    ("1Ki", Decimal(1024), "BinarySI"),
    ("8Ki", Decimal(8 * 1024), "BinarySI"),
    ("7Mi", Decimal(7 * 1024 ** 2), "BinarySI"),
    ("6Gi", Decimal(6 * 1024 ** 3), "BinarySI"),
    ("5Ti", Decimal(5 * 1024 ** 4), "BinarySI"),
    ("4Pi", Decimal(4 * 1024 ** 5), "BinarySI"),
    ("3Ei", Decimal(3 * 1024 ** 6), "BinarySI"),
    ("100Ti", Decimal(100 * 1024 ** 4), "BinarySI"),
    ("5n", Decimal("5e-9"), "DecimalSI"),
    ("4u", Decimal("4e-6"), "DecimalSI"),
    ("3m", Decimal("3e-3"), "DecimalSI"),
    ("50k", Decimal(50000), "DecimalSI"),
    ("7M", Decimal(7 * 10 ** 6), "DecimalSI"),
    ("300T", Decimal(3 * 10 ** 14), "DecimalSI"),
    ("1E", Decimal(10 ** 18), "DecimalSI"),
    ("1E-3", Decimal("0.001"), "DecimalExponent"),
    ("1e3", Decimal(1000), "DecimalExponent"),
    ("1E18", Decimal(10 ** 18), "DecimalExponent"),
    ("1e14", Decimal(10 ** 14), "DecimalExponent"),
    ("100.035k", Decimal(100035), "DecimalSI"),
    ("0.001", Decimal("0.001"), "DecimalSI"),
    ("0.0005k", Decimal("0.5"), "DecimalSI"),
    ("0.5e-1", Decimal("0.05"), "DecimalExponent"),
    ("10.035M", Decimal(10035000), "DecimalSI"),
    ("1.2e3", Decimal(1200), "DecimalExponent"),
    ("1.3E+6", Decimal(1300000), "DecimalExponent"),
    ("6.987654321G", Decimal(6987654321), "DecimalSI"),
    ("1.01E", Decimal(101 * 10 ** 16), "DecimalSI"),
    # things that saturate or round
    ("3.001n", Decimal("4e-9"), "DecimalSI"),
    ("1.1E-9", Decimal("2e-9"), "DecimalExponent"),
    ("0.0000000001", Decimal("1e-9"), "DecimalSI"),
    ("0.00000012345", Decimal("124e-9"), "DecimalSI"),
    ("9Ei", Decimal(2 ** 63 - 1), "BinarySI"),
    ("9223372036854775807Ki", Decimal(2 ** 63 - 1), "BinarySI"),
    ("12E", Decimal(12 * 10 ** 18), "DecimalSI"),
    # fractional binary
    ("100.035Ki", Decimal("102435.84"), "BinarySI"),
    ("0.5Mi", Decimal(512 * 1024), "BinarySI"),
    ("0.05Gi", Decimal("53687091.2"), "BinarySI"),
    # written by trolls
    ("0.000000000001Ki", Decimal("2e-9"), "DecimalSI"),
    (".001", Decimal("0.001"), "DecimalSI"),
    ("1.", Decimal(1), "DecimalSI"),
    ("1.G", Decimal(10 ** 9), "DecimalSI"),
]


@pytest.mark.parametrize("text,value,fmt", PARSE_TABLE)
def test_parse_table(text, value, fmt):
    q = parse_quantity_full(text)
    assert q.value == value
    assert q.format == fmt
    assert parse_quantity(text) == value
    assert parse_quantity("-" + text) == -value
    assert parse_quantity("+" + text) == value


INVALID = ["1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i", "-3.01i", "-3.01e-", "1e4294967297", "",
           "10GB", "10Gib", "1 Gi"]


@pytest.mark.parametrize("text", INVALID)
def test_invalid_quantities_raise(text):
    with pytest.raises(ValueError):
        parse_quantity(text)


def test_format_error_message_is_apimachinerys():
    with pytest.raises(ValueError) as exc:
        parse_quantity("10GB")
    assert str(exc.value) == "quantities must match the regular expression " \
                             "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    assert str(exc.value) == QUANTITY_FORMAT_ERROR
    with pytest.raises(ValueError, match="unable to parse quantity's suffix"):
        parse_quantity("5kk")


@pytest.mark.parametrize("value", [None, True, [1], {"a": 1}, float("nan"), float("inf")])
def test_non_quantities_raise(value):
    with pytest.raises(ValueError):
        parse_quantity(value)


# TestQuantityParseEmit plus the canonical forms the brief and kubectl users rely on.
CANONICAL = [
    ("1Ki", "1Ki"), ("1Mi", "1Mi"), ("1Gi", "1Gi"), ("1024Mi", "1Gi"), ("1000M", "1G"),
    (".001Ki", "1024m"), (".000001Ki", "1024u"), (".000000001Ki", "1024n"), (".000000000001Ki", "2n"),
    ("1000Mi", "1000Mi"), ("0.5Gi", "512Mi"), ("1.5", "1500m"), ("1.5Gi", "1536Mi"), ("300Mi", "300Mi"),
    ("307200Ki", "300Mi"), ("1025024Mi", "1001Gi"), ("1024Gi", "1Ti"), ("5000m", "5"), ("0.5", "500m"),
    ("1000u", "1m"), ("1.08", "1080m"), ("1080000000n", "1080m"), ("0.001T", "1G"), ("1000", "1k"),
    ("1e3", "1e3"), ("3e3", "3e3"), ("0.001e12", "1e9"), ("1000e-12", "1e-9"), ("0.5e-9", "1e-9"),
    ("10Gi", "10Gi"), ("512Mi", "512Mi"), ("50m", "50m"), ("3Gi", "3Gi"), ("100M", "100M"), ("20Gi", "20Gi"),
    ("1.1Ki", "1126400m"), ("1000E", "1e21"), ("9Ei", "9223372036854775807"),
    # a string that already is canonical is kept byte for byte, as apimachinery caches it
    ("+1Gi", "+1Gi"), ("01", "01"), ("12Mi", "12Mi"),
    ("0Gi", "0"), ("-0", "0"), (".", "0"),
    ("-1Gi", "-1Gi"), ("-1024Mi", "-1Gi"), ("-9.01", "-9010m"),
    # JSON numbers arrive as numbers
    (1000, "1k"), (10, "10"), (1.5, "1500m"), (0, "0"), (1073741824, "1073741824"),
    # white space around a JSON value is trimmed by UnmarshalJSON
    (" 1Gi ", "1Gi"),
]


@pytest.mark.parametrize("text,canonical", CANONICAL)
def test_canonical(text, canonical):
    assert canonical_quantity(text) == canonical


@pytest.mark.parametrize("text,canonical", CANONICAL)
def test_canonical_is_a_fixed_point(text, canonical):
    assert canonical_quantity(canonical) == canonical
    assert parse_quantity(canonical) == parse_quantity(text)


ROUND_MILLI = [("0.0001", "1m"), ("1500u", "2m"), ("1000u", "1m"), ("5m", "5m"), ("1Gi", "1Gi"),
               ("0.5", "500m"), ("1n", "1m"), ("-1500u", "-2m")]


@pytest.mark.parametrize("text,canonical", ROUND_MILLI)
def test_resource_list_rounding(text, canonical):
    """SetDefaults_ResourceList rounds every value up to milli precision."""
    assert canonical_quantity(text, round_milli=True) == canonical


@pytest.mark.parametrize("value,fmt,text", [
    (Decimal(1024 ** 3), "BinarySI", "1Gi"), (Decimal(300 * 1024 ** 2), "BinarySI", "300Mi"),
    (Decimal(5), "BinarySI", "5"), (Decimal("0.5"), "BinarySI", "500m"), (Decimal(10 ** 9), "DecimalSI", "1G"),
    (Decimal("0.001"), "DecimalSI", "1m"), (Decimal(3000), "DecimalExponent", "3e3"),
    (Decimal("8e-2"), "DecimalExponent", "80e-3"), (Decimal(1025), "BinarySI", "1025"),
    (Decimal(2 ** 70), "BinarySI", "1180591620717411303424"), (Decimal(0), "DecimalSI", "0"),
    (Decimal(-(1024 ** 3)), "BinarySI", "-1Gi"),
])
def test_format_quantity(value, fmt, text):
    assert format_quantity(value, fmt) == text


def test_ordering_is_exact():
    assert parse_quantity("1Gi") > parse_quantity("1G")
    assert parse_quantity("10000T") > parse_quantity("100Gi")
    assert parse_quantity("1024Mi") == parse_quantity("1Gi")
    assert parse_quantity("3Gi") < parse_quantity("5Gi") < parse_quantity("10Gi")


def test_texts_are_parsed_once_and_errors_every_time() -> None:
    from orlop.quantity import parse_quantity_full
    assert parse_quantity_full("1Gi") is parse_quantity_full("1Gi")          # remembered (immutable)
    assert parse_quantity_full(5).value == parse_quantity_full("5").value    # numbers are not remembered, same value
    for _ in range(2):
        with pytest.raises(ValueError):
            parse_quantity_full("1Gq")
