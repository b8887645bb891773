"""Where a webhook may be sent: http(s) URLs whose host resolves only to public addresses (no loopback, private,
link-local, multicast, reserved or unspecified ones), checked when a subscription is created and again at every
delivery, which then connects to the very address it checked (a DNS answer that changes in between cannot redirect
it inside the network). ``METADOCK_WEBHOOKS_ALLOW_PRIVATE=1`` lifts the address rule (tests, trusted networks)."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

MAX_URL_LENGTH = 2048
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The URL cannot be a webhook's target; the message says why (shown to the client, or in delivery history)."""


@dataclass(frozen=True, slots=True)
class Target:
    url: SplitResult
    host: str
    port: int
    address: IpAddress  # the checked address the delivery connects to


# The whole rule, which the OpenAPI document publishes as is: http or https, a host name or IPv4 address (no
# credentials, no IPv6 literal), a port from 1 to 65535, then a path or query of printable ASCII.
_PORT = "([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
URL_PATTERN = f"^https?://[A-Za-z0-9.-]+(:{_PORT})?([/?#][!-~]*)?$"
_URL = re.compile(URL_PATTERN)


def parse_target(url: str) -> SplitResult:
    """The URL's own rules, without resolving it."""
    if len(url) > MAX_URL_LENGTH or not _URL.match(url):
        raise TargetRefused(
            f"The url must be an http or https URL with a host, without credentials, at most {MAX_URL_LENGTH} "
            "characters."
        )
    return urlsplit(url)


def is_public(address: IpAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


async def resolve(url: str, *, allow_private: bool) -> Target:
    """The URL checked and its host resolved; every address it resolves to must be allowed, so that no answer of a
    round-robin (or a later lookup) can reach an address the check refused."""
    parts = parse_target(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise TargetRefused("The url's host could not be resolved.") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]
    if not addresses:
        raise TargetRefused("The url's host could not be resolved.")
    if not allow_private and not all(is_public(address) for address in addresses):
        raise TargetRefused("The url must not resolve to a loopback, private, link-local or reserved address.")
    return Target(parts, host, port, addresses[0])
