"""The client's address, for what counts per client (the per-address login throttle).

Behind a load balancer every request comes from the balancer's address; the balancer tells the client's in
X-Forwarded-For. That header is believed only when the direct peer is a trusted proxy (``METADOCK_TRUSTED_PROXIES``:
addresses and CIDR networks, comma-separated; empty by default, so the header is never believed). Each proxy appends
the address it received the request from, so the entries to the right were written by trusted proxies and the
leftmost ones by whoever sent the request: the client's address is the rightmost entry that is not a trusted proxy.
Whatever a client writes into the header itself sits to the left of that entry and is never read.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from metadock.settings import Network
from metadock.settings import parse_trusted_proxies as _parse

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection

__all__ = ["UNKNOWN", "Network", "client_address", "parse_trusted_proxies", "resolve_client_address"]


@functools.lru_cache(maxsize=8)
def parse_trusted_proxies(value: str) -> tuple[Network, ...]:
    """The setting's networks, parsed once per value (settings.py validated it at start)."""
    return _parse(value)


UNKNOWN = "unknown"


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: tuple[Network, ...]) -> bool:
    return any(address in network for network in trusted)


def resolve_client_address(peer: str | None, forwarded_for: Iterable[str], trusted: tuple[Network, ...]) -> str:
    """The client's address from the direct ``peer`` and the X-Forwarded-For header values (in the order received)."""
    if not peer:
        return UNKNOWN
    nearest = _address(peer)
    if nearest is None or not _trusted(nearest, trusted):
        return peer  # a client talking to us directly: whatever it says about itself is not read
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # garbled: nothing to its left can be told apart from what the client wrote
        nearest = address
        if not _trusted(address, trusted):
            return str(address)
    # Every hop a trusted proxy (or the header absent or garbled): the farthest one we can vouch for.
    return str(nearest)


def client_address(connection: ASGIConnection[Any, Any, Any, Any], trusted_proxies: str) -> str:
    """The client's address for ``connection``: its peer, or what trusted proxies say the client's address is."""
    peer = connection.client.host if connection.client else None
    if not trusted_proxies:
        return peer or UNKNOWN
    forwarded = [value.decode("latin-1") for name, value in connection.scope["headers"] if name == b"x-forwarded-for"]
    return resolve_client_address(peer, forwarded, parse_trusted_proxies(trusted_proxies))
