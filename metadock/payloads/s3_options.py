"""Client options of the S3 backend: timeouts that fit large payloads, fast-failing retries, http on loopback only."""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def client_options(endpoint_url: str | None) -> ClientConfig:
    options: ClientConfig = {
        "connect_timeout": dt.timedelta(seconds=5),
        # Covers a whole request including its body: a large download to a slow client must not be cut at 30 s.
        "timeout": dt.timedelta(hours=1),
    }
    if endpoint_url is not None:
        parts = urlsplit(endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the S3 endpoint must be an http(s) URL")
        if parts.scheme == "http":
            # Plain HTTP only where nothing crosses a network: a server on this host.
            if not is_loopback(parts.hostname):
                raise ValueError("a plain-http S3 endpoint is allowed on a loopback address only")
            options["allow_http"] = True
    return options


# Fail fast: a handful of retries within seconds, so a dead backend becomes a 503 instead of a hung request.
RETRY: RetryConfig = {
    "max_retries": 3,
    "retry_timeout": dt.timedelta(seconds=20),
    "backoff": {"init_backoff": dt.timedelta(milliseconds=100), "max_backoff": dt.timedelta(seconds=2), "base": 2},
}
