"""The resolver's pure pieces: anchors encode like ``quote``, language choice."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from anticounterfeit.gs1.digital_link import DigitalLink
from gateway.resolver.linkset import Link, anchor_of, choose, parse_accept_language

GTIN = "09520123456788"


@settings(max_examples=500)
@given(st.text(min_size=1, max_size=20))
def test_anchor_encodes_serials_as_quote_does(serial: str) -> None:
    anchor = anchor_of("https://r.example/", DigitalLink(gtin=GTIN, serial=serial))
    assert anchor == f"https://r.example/01/{GTIN}/21/" + quote(serial, safe="")


def test_accept_language_order_and_choice() -> None:
    assert parse_accept_language("fr;q=0.5, zh-CN, en;q=0.8, de;q=0") == ["zh-cn", "en", "fr"]
    links = [
        Link("pip", "https://b.example/en", "P", languages=("en",)),
        Link("pip", "https://b.example/zh", "P", languages=("zh-CN",)),
        Link("pip", "https://b.example/any", "P"),
    ]
    assert choose(links, "pip", "zh-TW, en;q=0.5").href == "https://b.example/zh"  # type: ignore[union-attr]
    assert choose(links, "pip", "en-GB").href == "https://b.example/en"  # type: ignore[union-attr]
    assert choose(links, "pip", "ja").href == "https://b.example/any"  # type: ignore[union-attr]
    assert choose(links, "epcis", "en") is None
