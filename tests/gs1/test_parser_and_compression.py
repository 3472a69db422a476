"""GS1 Digital Link parsing per URI syntax 1.4 (right-most key, query AIs) and compressed links
per GS1's compression standard: GS1's own compressor's output, and compress → decompress."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anticounterfeit.gs1.ai import ai_table, check_ai_value
from anticounterfeit.gs1.compression import compress_ais, decompress_segment
from anticounterfeit.gs1.digital_link import CSET82, DigitalLink, parse_digital_link
from anticounterfeit.gs1.gtin import gtin_check_digit
from kernel.errors import InvalidInput

GTIN = "09520123456788"
VECTORS = json.loads(
    (Path(__file__).parents[1] / "data" / "gs1_compression_vectors.json").read_text()
)["vectors"]


def test_prefix_ending_in_01_is_split_at_the_right_most_key() -> None:
    link = parse_digital_link(f"https://brand.example/dl/01/01/{GTIN}/21/S1")
    assert link == DigitalLink(gtin=GTIN, serial="S1")
    # a prefix that is itself a complete-looking key: the right-most one wins
    link = parse_digital_link(f"/01/09506000134352/x/01/{GTIN}/10/L1")
    assert link == DigitalLink(gtin=GTIN, lot="L1")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"/01/{GTIN}", DigitalLink(gtin=GTIN)),
        (f"/01/{GTIN}/10/L1", DigitalLink(gtin=GTIN, lot="L1")),
        (f"/01/{GTIN}/22/V2", DigitalLink(gtin=GTIN, cpv="V2")),
        (f"/01/{GTIN}/22/V2/10/L1/21/S", DigitalLink(gtin=GTIN, cpv="V2", lot="L1", serial="S")),
        (f"/a/b/c/01/{GTIN}/21/S", DigitalLink(gtin=GTIN, serial="S")),
    ],
)
def test_every_gtin_key_qualifier_path(path: str, expected: DigitalLink) -> None:
    assert parse_digital_link(path) == expected


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("9999=1", "not a known GS1 Application Identifier"),
        ("17=260230", "real date"),
        ("17=261331", "real date"),
        ("7003=2601011261", "real date-time"),
        ("17=26123", "N6"),
        ("3103=12a456", "digits"),
        ("02=09520123456787", "check digit"),
        ("21=S1", "belongs in the path"),
        ("17=261231&x=a%00b", "control character"),
        ("91=a%00b", "control character"),
        ("10=LOT", "belongs in the path"),
    ],
)
def test_query_string_ais_are_validated(query: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_digital_link(f"/01/{GTIN}/21/S1?{query}", field="url")
    assert info.value.code == "invalid_digital_link"
    assert fragment in info.value.detail


def test_valid_query_ais_pass() -> None:
    link = parse_digital_link(f"/01/{GTIN}/21/S?17=260200&15=240229&3103=000189&linkType=all")
    assert link.attributes == {"17": "260200", "15": "240229", "3103": "000189", "linkType": "all"}


def test_nul_in_the_path_is_refused() -> None:
    with pytest.raises(InvalidInput, match="CSET 82"):
        parse_digital_link(f"/01/{GTIN}/21/A%00B")


GTIN_VECTORS = [v for v in VECTORS if "/01/" in v["uncompressed"]]


@pytest.mark.parametrize("vector", GTIN_VECTORS, ids=lambda v: v["compressed"])
def test_gs1_toolkit_vectors_decompress(vector: dict[str, object]) -> None:
    compressed, uncompressed = str(vector["compressed"]), str(vector["uncompressed"])
    assert parse_digital_link(compressed) == parse_digital_link(uncompressed)


@pytest.mark.parametrize(
    "vector", [v for v in VECTORS if v not in GTIN_VECTORS], ids=lambda v: v["compressed"]
)
def test_gs1_toolkit_vectors_of_other_keys(vector: dict[str, object]) -> None:
    """SSCC and GLN keys decompress to their pairs; the scan path needs a GTIN and says so."""
    segments = str(vector["uncompressed"]).split("/")[3:]
    expected = dict(zip(segments[::2], segments[1::2], strict=True))
    compressed = str(vector["compressed"])
    assert dict(decompress_segment(compressed.rsplit("/", 1)[1])) == expected
    with pytest.raises(InvalidInput, match="no GTIN"):
        parse_digital_link(compressed)


def test_gs1_example_in_toolkit_comments() -> None:
    link = parse_digital_link("http://example.org/AQnYUc1gmiERBhQ0ytiyZuAGOLc1TQ")
    assert link == DigitalLink(
        gtin="05412345000013", lot="ABC&+123", attributes={"7003": "1903061658"}
    )


@pytest.mark.parametrize(
    "vector", [v for v in VECTORS if not v["optimised"]], ids=lambda v: v["compressed"]
)
def test_our_compressor_matches_gs1_unoptimised_output(vector: dict[str, object]) -> None:
    compressed = str(vector["compressed"])
    pairs = dict(decompress_segment(compressed.rsplit("/", 1)[1]))
    assert "https://example.org/" + compress_ais(pairs) == compressed


def test_partially_compressed_link() -> None:
    tail = compress_ais({"21": "S1", "17": "261231"})
    link = parse_digital_link(f"https://x.example/01/{GTIN}/{tail}")
    assert link == DigitalLink(gtin=GTIN, serial="S1", attributes={"17": "261231"})


@pytest.mark.parametrize("segment", ["AAAA", "____", "ZZZZZZZZZZZZ", "DBFRJydaKAo"])
def test_garbage_compressed_segment_is_a_problem(segment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_digital_link(f"https://x.example/{segment}", field="url")
    assert info.value.field == "url"


gtins = st.text(alphabet="0123456789", min_size=13, max_size=13).map(
    lambda body: body + str(gtin_check_digit(body))
)
cset82_values = st.text(alphabet=sorted(CSET82), min_size=1, max_size=20)
dates = st.dates().filter(lambda d: 2000 <= d.year <= 2099).map(lambda d: d.strftime("%y%m%d"))


@settings(max_examples=300)
@given(gtins, st.none() | cset82_values, st.none() | cset82_values, st.none() | dates)
def test_compress_then_decompress_is_identity(
    gtin: str, serial: str | None, lot: str | None, expiry: str | None
) -> None:
    pairs = {"01": gtin}
    if serial is not None:
        pairs["21"] = serial
    if lot is not None:
        pairs["10"] = lot
    if expiry is not None:
        pairs["17"] = expiry
    segment = compress_ais(pairs)
    assert dict(decompress_segment(segment)) == pairs
    link = parse_digital_link(f"https://brand.example/{segment}")
    assert link == DigitalLink(
        gtin=gtin,
        serial=serial,
        lot=lot,
        attributes={"17": expiry} if expiry else {},
    )


@settings(max_examples=300)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
def test_decompress_of_any_segment_raises_only_invalid_input(segment: str) -> None:
    with contextlib.suppress(InvalidInput):
        parse_digital_link(f"https://brand.example/{segment}")


@settings(max_examples=200)
@given(st.sampled_from(sorted(ai_table())), st.text(max_size=40))
def test_check_ai_value_raises_only_invalid_input(ai: str, value: str) -> None:
    with contextlib.suppress(InvalidInput):
        check_ai_value(ai, value)
