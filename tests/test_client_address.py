"""The client's address behind a load balancer: X-Forwarded-For is read only when the direct peer is a trusted
proxy (METADOCK_TRUSTED_PROXIES, empty by default), and then the client is the rightmost address that is not a
trusted proxy, so that what a client writes into the header itself is never believed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from metadock.kit.client_address import parse_trusted_proxies, resolve_client_address
from metadock.settings import Settings

PROXIES = parse_trusted_proxies("10.0.0.5, 172.18.0.0/16, ::1")


def test_by_default_the_header_is_never_read() -> None:
    assert Settings().trusted_proxies == ""
    assert resolve_client_address("10.0.0.5", ["198.51.100.7"], parse_trusted_proxies("")) == "10.0.0.5"


def test_a_spoofed_header_from_an_untrusted_peer_is_ignored() -> None:
    # A client talking to the node directly, claiming to be someone else (or a trusted proxy).
    for spoof in (["198.51.100.7"], ["10.0.0.5"], ["198.51.100.7, 10.0.0.5"], ["garbage"]):
        assert resolve_client_address("203.0.113.9", spoof, PROXIES) == "203.0.113.9"


def test_from_a_trusted_proxy_the_rightmost_untrusted_address_is_the_client() -> None:
    # HAProxy appended the address it got the connection from: the client's.
    assert resolve_client_address("10.0.0.5", ["203.0.113.9"], PROXIES) == "203.0.113.9"
    # The client wrote addresses of its own to the left: never read.
    assert resolve_client_address("10.0.0.5", ["198.51.100.1, 198.51.100.2, 203.0.113.9"], PROXIES) == "203.0.113.9"
    # The same, as separate header lines (HAProxy adds its own line after the client's).
    assert resolve_client_address("10.0.0.5", ["198.51.100.1", "203.0.113.9"], PROXIES) == "203.0.113.9"
    # Through two trusted proxies (an outer one in the trusted network): past both, to the client.
    assert resolve_client_address("10.0.0.5", ["198.51.100.1, 203.0.113.9, 172.18.3.4"], PROXIES) == "203.0.113.9"
    # IPv6, spaces, written in another form: one address, one spelling.
    assert resolve_client_address("::1", [" 2001:DB8::0:1 "], PROXIES) == "2001:db8::1"


def test_without_an_untrusted_hop_the_farthest_trusted_one_is_taken() -> None:
    assert resolve_client_address("10.0.0.5", [], PROXIES) == "10.0.0.5"
    assert resolve_client_address("10.0.0.5", ["172.18.0.9"], PROXIES) == "172.18.0.9"
    # A garbled entry stops the walk: nothing to its left can be told apart from what the client wrote.
    assert resolve_client_address("10.0.0.5", ["198.51.100.1, nonsense, 172.18.0.9"], PROXIES) == "172.18.0.9"
    assert resolve_client_address("10.0.0.5", ["nonsense"], PROXIES) == "10.0.0.5"


def test_an_unknown_peer_is_unknown() -> None:
    assert resolve_client_address(None, ["203.0.113.9"], PROXIES) == "unknown"
    assert resolve_client_address("testclient", ["203.0.113.9"], PROXIES) == "testclient"


def test_a_malformed_trusted_proxy_setting_fails_at_start() -> None:
    assert Settings(trusted_proxies="127.0.0.1, 10.0.0.0/8").trusted_proxies
    with pytest.raises(ValidationError, match="METADOCK_TRUSTED_PROXIES: not an IP address or network: 'haproxy'"):
        Settings(trusted_proxies="127.0.0.1, haproxy")
