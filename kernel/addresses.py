"""The one address policy for outbound calls a tenant chooses the target of (webhooks).

A brand names a URL; our worker connects to it from inside our network. Unless the address is
public, that is server-side request forgery: cloud metadata (``169.254.169.254``,
``100.100.100.200``), the database, Redis, the admin API on loopback. So every non-public
address is refused, in every mode (development too):

- IPv4: unspecified, "this network", private (RFC 1918), shared/CGNAT ``100.64.0.0/10``,
  loopback, link-local, IETF protocol and documentation ranges, benchmarking, the 6to4 relay
  anycast, multicast, reserved ``240.0.0.0/4`` and broadcast;
- IPv6: unspecified, loopback, unique-local, link-local, site-local, multicast, documentation,
  discard, ORCHID, and every form that wraps an IPv4 address — IPv4-mapped ``::ffff:0:0/96``,
  IPv4-compatible ``::/96``, 6to4 ``2002::/16``, NAT64 ``64:ff9b::/96`` and
  ``64:ff9b:1::/48``, Teredo ``2001::/32``. Those are refused whatever IPv4 they carry: a
  webhook has no reason to use them, and judging the embedded address instead would make the
  policy depend on how a relay or gateway on the way treats it;
- anything else Python's ``ipaddress`` does not call global or flags as reserved, private,
  loopback, link-local or multicast (a backstop for registries newer than this table).

The only way past is ``SCANGUARD_WEBHOOK_ALLOWED_NETWORKS`` (CIDRs), which tests use for their
receivers on ``127.0.0.1``. The same policy runs when a subscription is created (literal
addresses, the legacy IPv4 spellings ``getaddrinfo`` accepts such as ``127.1`` or
``0x7f000001``, and names that are local by definition) and when the worker connects (every
address a name resolves to, so the address checked is the address used).
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from kernel.settings import Settings

__all__ = [
    "AddressPolicy",
    "IPAddress",
    "literal_address",
    "local_name_reason",
    "non_public_reason",
]

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


def _table(*rows: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ip_network(net), why) for net, why in rows)


_V4_REFUSED = _table(
    ("0.0.0.0/8", "unspecified / this network"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared address space (CGNAT, cloud metadata)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (cloud metadata)"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
)
# Forms that carry an IPv4 address inside an IPv6 one (checked before the plain ranges).
_V6_WRAPPERS = _table(
    ("::ffff:0:0/96", "IPv4-mapped"),
    ("::/96", "IPv4-compatible"),
    ("64:ff9b::/96", "NAT64"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("2001::/32", "Teredo"),
    ("2002::/16", "6to4"),
)
_V6_REFUSED = _table(
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("100::/64", "discard"),
    ("2001:10::/28", "ORCHID"),
    ("2001:20::/28", "ORCHIDv2"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("fc00::/7", "unique-local (private)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
)
# Names that are local by definition (RFC 6761, 6762, 8375 and common private suffixes).
_LOCAL_SUFFIXES = (
    ".localhost",
    ".local",
    ".localdomain",
    ".internal",
    ".intranet",
    ".lan",
    ".home.arpa",
    ".arpa",
)
_NUMERIC_HOST = re.compile(r"^[0-9a-fx.]+$", re.IGNORECASE)


def _embedded_v4(ip: IPv6Address) -> IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's address (obfuscated in the packet, plain here)
    return IPv4Address(int(ip) & 0xFFFFFFFF)


def non_public_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address a webhook may reach, or ``None`` when it is."""
    if isinstance(ip, IPv6Address):
        plain = ip_address(str(ip).split("%", 1)[0])  # a scope id changes nothing here
        assert isinstance(plain, IPv6Address)
        for network, why in _V6_WRAPPERS:
            if plain in network:
                return f"{why} address (wraps {_embedded_v4(plain)})"
        table = _V6_REFUSED
    else:
        plain, table = ip, _V4_REFUSED
    for network, why in table:
        if plain in network:
            return why
    # Backstop: whatever Python's registry flags (``is_global`` alone misses ``::/8``).
    if not plain.is_global or plain.is_reserved or plain.is_multicast or plain.is_private:
        return "not globally routable"
    if plain.is_loopback or plain.is_link_local or plain.is_unspecified:
        return "not globally routable"
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` spells literally, as the resolver would read it, else ``None``.

    Besides the standard forms this accepts what ``inet_aton`` (and so ``getaddrinfo``) does:
    ``127.1``, ``2130706433``, ``0x7f.0.0.1``, ``0177.0.0.1``.
    """
    text = host.strip().strip("[]").rstrip(".")
    try:
        return ip_address(text)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(text) and any(c.isdigit() for c in text):
        try:
            return IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def local_name_reason(host: str) -> str | None:
    """Why the name ``host`` is local by definition (``localhost``, ``x.internal``, one label)."""
    name = host.strip().rstrip(".").lower()
    if "." not in name:
        return "a single-label name (resolved through local search domains)"
    if name == "localhost" or name.endswith(_LOCAL_SUFFIXES):
        return "a local name"
    return None


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Public addresses only, plus the explicitly allowed networks."""

    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> AddressPolicy:
        return cls(settings.notifications.webhook_allowed_networks)

    def is_allow_listed(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.allowed)

    def refusal(self, ip: IPAddress | str) -> str | None:
        """Why the worker must not connect to ``ip``, or ``None`` when it may."""
        if isinstance(ip, str):
            parsed = literal_address(ip)
            if parsed is None:
                return f"{ip[:64]!r} is not an IP address"
            ip = parsed
        if self.is_allow_listed(ip):
            return None
        why = non_public_reason(ip)
        return None if why is None else f"{ip} is {why}"

    def host_refusal(self, host: str) -> str | None:
        """Why a URL host is refused before any lookup: a non-public literal or a local name.

        A name that passes is checked again, address by address, when the worker resolves it.
        """
        ip = literal_address(host)
        if ip is not None:
            return self.refusal(ip)
        why = local_name_reason(host)
        return None if why is None else f"{host[:64]} is {why}"
