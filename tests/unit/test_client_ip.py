"""The one function that decides a client's IP address."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from kernel.client_ip import client_ip

PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32")]


def test_untrusted_peer_header_ignored() -> None:
    assert client_ip("198.51.100.1", "1.2.3.4", PROXIES) == "198.51.100.1"


def test_trusted_peer_rightmost_untrusted_hop_wins() -> None:
    assert client_ip("10.1.1.1", "6.6.6.6, 203.0.113.9, 10.2.2.2", PROXIES) == "203.0.113.9"


def test_all_hops_trusted_gives_leftmost() -> None:
    assert client_ip("10.1.1.1", "10.3.3.3, 10.2.2.2", PROXIES) == "10.3.3.3"


def test_garbage_hop_stops_the_walk() -> None:
    assert client_ip("10.1.1.1", "203.0.113.9, nonsense", PROXIES) == "10.1.1.1"


def test_ipv6_peer() -> None:
    assert client_ip("2001:db8::1", None, PROXIES) == "2001:db8::1"


@given(st.text(max_size=200))
def test_spoofed_header_never_beats_untrusted_peer(header: str) -> None:
    assert client_ip("198.51.100.77", header, PROXIES) == "198.51.100.77"


@given(st.text(max_size=200))
def test_never_raises_for_trusted_peer(header: str) -> None:
    result = client_ip("10.0.0.5", header, PROXIES)
    ipaddress.ip_address(result)
