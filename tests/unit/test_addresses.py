"""The webhook address policy (kernel.addresses), property-tested: every non-public address is
refused however it is spelled or wrapped, only the allow-list lets one through, and nothing
the policy calls public is a non-global address by Python's registry either."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.addresses import (
    _V4_REFUSED,
    _V6_REFUSED,
    _V6_WRAPPERS,
    AddressPolicy,
    literal_address,
    non_public_reason,
)

POLICY = AddressPolicy()
ipv4 = st.integers(0, 2**32 - 1).map(IPv4Address)
ipv6 = st.integers(0, 2**128 - 1).map(IPv6Address)


def _inside(network: object) -> st.SearchStrategy[IPv4Address | IPv6Address]:
    net = ip_network(str(network))
    first, last = int(net.network_address), int(net.broadcast_address)
    cls = IPv4Address if net.version == 4 else IPv6Address
    return st.integers(first, last).map(cls)


refused_v4 = st.sampled_from([n for n, _ in _V4_REFUSED]).flatmap(_inside)
refused_v6 = st.sampled_from([n for n, _ in _V6_REFUSED + _V6_WRAPPERS]).flatmap(_inside)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",  # AWS, GCP, Azure metadata
        "100.100.100.200",  # Alibaba Cloud metadata (CGNAT range)
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.251",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "198.18.0.1",
        "::",
        "::1",
        "fe80::1",
        "fd12:3456::1",
        "ff02::1",
        "::ffff:169.254.169.254",
        "::ffff:8.8.8.8",
        "::127.0.0.1",
        "2002:7f00:1::1",
        "2002:0808:0808::1",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b:1::1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "2001:db8::1",
    ],
)
def test_known_non_public_addresses_are_refused(address: str) -> None:
    assert POLICY.refusal(address) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert POLICY.refusal(address) is None


@given(refused_v4)
def test_every_address_of_a_refused_ipv4_range_is_refused(ip: IPv4Address) -> None:
    assert non_public_reason(ip) is not None


@given(refused_v6)
def test_every_address_of_a_refused_ipv6_range_is_refused(ip: IPv6Address) -> None:
    assert non_public_reason(ip) is not None


@given(ipv4)
def test_every_ipv6_form_wrapping_an_ipv4_address_is_refused(v4: IPv4Address) -> None:
    n = int(v4)
    wrapped = [
        IPv6Address((0xFFFF << 32) | n),  # IPv4-mapped
        IPv6Address(n),  # IPv4-compatible
        IPv6Address((0x2002 << 112) | (n << 80) | 1),  # 6to4
        IPv6Address((0x64FF9B << 96) | n),  # NAT64
        IPv6Address((0x20010000 << 96) | (n << 64) | (~n & 0xFFFFFFFF)),  # Teredo
    ]
    for ip in wrapped:
        assert non_public_reason(ip) is not None, ip


@given(st.one_of(ipv4, ipv6))
def test_what_the_policy_calls_public_is_global(ip: IPv4Address | IPv6Address) -> None:
    if non_public_reason(ip) is None:
        assert ip.is_global
        assert not ip.is_multicast
        assert not ip.is_private
        assert not ip.is_reserved
        assert not ip.is_loopback
        assert not ip.is_link_local


@given(ipv4)
def test_legacy_spellings_are_judged_as_the_address_they_spell(ip: IPv4Address) -> None:
    n = int(ip)
    a, b, c, d = ip.packed
    spellings = [str(n), hex(n), f"{a}.{(b << 16) | (c << 8) | d}", f"0{a:o}.0{b:o}.0{c:o}.0{d:o}"]
    for spelling in spellings:
        assert literal_address(spelling) == ip, spelling
        assert POLICY.host_refusal(spelling) == POLICY.refusal(ip), spelling


@given(st.one_of(refused_v4, refused_v6), st.one_of(ipv4, ipv6))
def test_only_the_allow_list_lets_a_refused_address_through(
    ip: IPv4Address | IPv6Address, other: IPv4Address | IPv6Address
) -> None:
    prefix = 32 if ip.version == 4 else 128
    policy = AddressPolicy((ip_network(f"{ip}/{prefix}"),))
    assert policy.refusal(ip) is None
    if other != ip:
        assert policy.refusal(other) == POLICY.refusal(other)


@pytest.mark.parametrize(
    ("host", "refused"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("api.localhost", True),
        ("metadata.google.internal", True),
        ("printer.local", True),
        ("router.home.arpa", True),
        ("db", True),
        ("hooks.example.com", False),
        ("erp.brand.cn", False),
    ],
)
def test_local_names_are_refused_before_any_lookup(host: str, refused: bool) -> None:
    assert (POLICY.host_refusal(host) is not None) is refused


def test_a_scope_id_does_not_hide_a_link_local_address() -> None:
    assert POLICY.refusal(ip_address("fe80::1%eth0")) is not None
