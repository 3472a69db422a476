"""GS1 Digital Link parsing and formatting."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anticounterfeit.gs1.digital_link import (
    CSET82,
    DigitalLink,
    format_digital_link,
    parse_digital_link,
)
from anticounterfeit.gs1.gtin import gtin_check_digit
from kernel.errors import InvalidInput

GTIN = "09506000134352"


def test_parse_full_url_with_prefix_qualifiers_and_attributes() -> None:
    link = parse_digital_link(
        "https://brand.example/dl/01/09506000134352/22/V1/10/AB%2F12/21/XYZ%25?17=261231&x=1"
    )
    assert link == DigitalLink(
        gtin=GTIN, serial="XYZ%", lot="AB/12", cpv="V1", attributes={"17": "261231", "x": "1"}
    )


@pytest.mark.parametrize(
    "text",
    [
        "/01/9506000134352/21/ABC",
        "https://id.gs1.org/01/9506000134352/21/ABC",
        "HTTP://ID.GS1.ORG/01/09506000134352/21/ABC/",
        "  https://a.example:8443/x/y/01/09506000134352/21/ABC#frag  ",
        "(01)09506000134352(21)ABC",
    ],
)
def test_accepted_forms(text: str) -> None:
    link = parse_digital_link(text)
    assert link.gtin == GTIN
    assert link.serial == "ABC"
    assert link.lot is None


def test_short_gtins_are_normalised() -> None:
    assert parse_digital_link("/01/96385074").gtin == "00000096385074"
    assert parse_digital_link("/01/036000291452/10/L1").gtin == "00036000291452"


def test_element_string_with_lot_and_expiry() -> None:
    link = parse_digital_link("(01)09506000134352(17)261231(10)LOT7(21)S1")
    assert link == DigitalLink(gtin=GTIN, serial="S1", lot="LOT7", attributes={"17": "261231"})


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("/01/09506000134352/21/A/10/B", "order 22, 10, 21"),
        ("/01/09506000134352/21/A/21/B", "order 22, 10, 21"),
        ("/01/09506000134352/99/A", "not a key qualifier"),
        ("/01/09506000134352/21", "has no value"),
        ("/01/09506000134352/21/" + "A" * 21, "at most 20"),
        ("/01/09506000134352/10/" + "A" * 21, "at most 20"),
        ("/01/09506000134352/22/" + "A" * 21, "at most 20"),
        ("/01/09506000134352/21/A%20B", "CSET 82"),
        ("/01/09506000134352/21/%C3%A9", "CSET 82"),
        ("/01/09506000134352/21/", "has no value"),
        ("/01/09506000134352/21/A?17=2612", "YYMMDD"),
        ("/01/09506000134352/21/A?17=261231&17=261231", "twice"),
        ("https://brand.example/21/ABC", "primary key"),
        ("ftp://brand.example/01/09506000134352", "http(s)"),
        ("brand.example/01/09506000134352", "http(s)"),
        ("http://[::1/01/09506000134352", "not a valid URL"),
        ("", "empty"),
        ("(01)09506000134352(21)", "empty"),
        ("(01)09506000134352(21)A(", "element string"),
        ("(21)ABC", "element string"),
    ],
)
def test_rejected_with_helpful_detail(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_digital_link(text, field="scan.url")
    assert info.value.code == "invalid_digital_link"
    assert info.value.field == "scan.url"
    assert fragment in info.value.detail


def test_bad_gtin_reports_invalid_gtin() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_digital_link("https://x.example/01/09506000134353/21/A", field="u")
    assert info.value.code == "invalid_gtin"
    assert info.value.field == "u"
    assert "expected 2" in info.value.detail


def test_format() -> None:
    assert (
        format_digital_link("https://r.example/", GTIN, "AB/C%", lot="L 1")
        == "https://r.example/01/09506000134352/10/L%201/21/AB%2FC%25"
    )
    assert format_digital_link("https://r.example", GTIN, "X") == (
        "https://r.example/01/09506000134352/21/X"
    )


gtins = st.text(alphabet="0123456789", min_size=13, max_size=13).map(
    lambda body: body + str(gtin_check_digit(body))
)
cset82_values = st.text(alphabet=sorted(CSET82), min_size=1, max_size=20)


@settings(max_examples=300)
@given(gtins, cset82_values, st.none() | cset82_values)
def test_format_parse_round_trip(gtin: str, serial: str, lot: str | None) -> None:
    url = format_digital_link("https://brand.example/dl", gtin, serial, lot)
    link = parse_digital_link(url)
    assert link == DigitalLink(gtin=gtin, serial=serial, lot=lot)
    # the same path without a host parses the same
    assert parse_digital_link(url.removeprefix("https://brand.example/dl")) == link


@settings(max_examples=500)
@given(st.text(max_size=200))
def test_parse_raises_only_invalid_input(text: str) -> None:
    code: str | None = None
    try:
        parse_digital_link(text)
    except InvalidInput as exc:
        code = exc.code
    assert code in (None, "invalid_digital_link", "invalid_gtin")


@settings(max_examples=300)
@given(
    st.lists(
        st.sampled_from(["/", "01", "21", "10", "22", "09506000134352", "A", "%", "%2F", "?", "="])
        | st.text(max_size=5),
        max_size=12,
    ).map("".join)
)
def test_parse_raises_only_invalid_input_on_near_miss_paths(text: str) -> None:
    try:
        link = parse_digital_link("/" + text)
    except InvalidInput:
        return
    assert len(link.gtin) == 14
