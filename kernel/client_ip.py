"""The client's IP address: the single audited function that decides who the client is."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

__all__ = ["client_ip"]


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_ip(peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]) -> str:
    """Return the client's IP address.

    ``X-Forwarded-For`` is believed only when the direct peer is a configured proxy; then the
    chain is walked from the right (the hop our proxy appended) and the first address that is
    not itself a trusted proxy is the client. Garbage in the header never wins over the peer.
    """
    if peer is None:
        return "0.0.0.0"  # noqa: S104 - ASGI servers without a peer (tests); never trusted
    # The peer is one of a handful of proxies (or a client connecting directly): its parse and
    # trust check are cached; forwarded hops are mostly distinct clients and are not.
    # (Only an immutable tuple of networks, as in Settings, is cached.)
    cached = _PEERS.get((peer, id(trusted)))
    if cached is not None and cached[0] is trusted:
        peer_info = cached[1]
    else:
        peer_info = _peer_info(peer, trusted)
        if isinstance(trusted, tuple):
            if len(_PEERS) >= _PEERS_MAX:
                _PEERS.clear()
            _PEERS[(peer, id(trusted))] = (trusted, peer_info)
    if peer_info is None:
        return peer
    peer_text, peer_trusted = peer_info
    if not forwarded_for or not peer_trusted:
        return peer_text
    client = peer_text
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        try:
            hop_addr = ipaddress.ip_address(hop)
        except ValueError:
            break  # a malformed hop: stop believing the header here
        # A valid IPv4 text is already canonical (no leading zeros, four decimal octets).
        client = hop if hop_addr.version == 4 else str(hop_addr)
        if not _is_trusted(hop_addr, trusted):
            break
    return client


# (peer text, id of the trusted networks) -> (those networks, _peer_info); the networks are
# kept so that a recycled id() cannot match.
_PEERS: dict[tuple[str, int], tuple[Sequence[IPNetwork], tuple[str, bool] | None]] = {}


_PEERS_MAX = 1024


def _peer_info(peer: str, trusted: Sequence[IPNetwork]) -> tuple[str, bool] | None:
    """(canonical text, is a trusted proxy) of a peer address; None when it is not an IP."""
    try:
        addr = ipaddress.ip_address(peer)
    except ValueError:
        return None
    return str(addr), _is_trusted(addr, trusted)


def _is_trusted(
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address, nets: Iterable[IPNetwork]
) -> bool:
    return any(addr in net for net in nets)
