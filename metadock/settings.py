"""Runtime configuration: one typed class, every field settable as a ``METADOCK_`` environment variable."""

from __future__ import annotations

import ipaddress
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# A production secret must be long enough that guessing it is hopeless (HS256 wants >= 256 bits).
MIN_SECRET_KEY_LENGTH = 32
SECRET_FILE = "secret_key"  # noqa: S105 - a file name, not a secret


def parse_trusted_proxies(value: str) -> tuple[Network, ...]:
    """``"10.0.0.5, 172.18.0.0/16, ::1"`` as networks; raises ``ValueError`` naming an entry that is neither."""
    networks = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {entry!r}") from None
    return tuple(networks)


class Settings(BaseSettings):
    # hide_input_in_errors: a rejected configuration is reported without its values (a short secret key, a database
    # URL with its password), since the error ends up on a terminal or in a log.
    model_config = SettingsConfigDict(env_prefix="METADOCK_", extra="ignore", hide_input_in_errors=True)

    env: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///./var/metadock.db"
    store_url: str = "file://./var/payloads"
    s3_endpoint_url: str | None = None
    secret_key: SecretStr | None = None

    max_body_bytes: int = Field(default=1 * MIB, ge=1024)
    metadatas_default_limit: int = Field(default=10, ge=1)
    metadatas_max_limit: int = Field(default=100, ge=1)
    # Records per batch of an export (one short read each); memory holds about one batch per export in flight.
    export_batch_size: int = Field(default=1000, ge=1, le=10_000)
    max_payload_bytes: int = Field(default=100 * MIB, ge=0)
    payload_retention_days: int = Field(default=30, ge=0)
    # Records (not only their bytes) older than this are deleted; 0 keeps them forever.
    record_retention_days: int = Field(default=0, ge=0)
    # Tag rules (payloads/tags.py) parse payloads of at most this many bytes, kept in memory while they stream; 0: off.
    tag_extract_max_bytes: int = Field(default=64 * 1024, ge=0, le=16 * MIB)
    # Content search (payloads/search.py): text payloads of at most this many bytes are indexed at capture, and the
    # list takes filter[search]; off by default (its index costs storage, measured in the README).
    content_search: bool = False
    content_search_max_bytes: int = Field(default=1 * MIB, ge=1, le=16 * MIB)
    # PostgreSQL: ids per partition of payload_metadata, and how many empty partitions are kept made ahead.
    payload_partition_ids: int = Field(default=1_000_000, ge=1000)
    payload_partitions_ahead: int = Field(default=4, ge=1)

    database_pool_size: int = Field(default=10, ge=1)

    # Where the embedded default keeps its generated secret key (and, by default, its database and payloads).
    data_dir: Path = Path("./var")
    token_ttl_seconds: int = Field(default=86400, ge=60)
    login_max_failures: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=20, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)
    login_block_seconds: int = Field(default=900, ge=1)
    # Proxies (load balancers) whose X-Forwarded-For is believed: addresses and CIDR networks, comma-separated. Empty
    # (the default): the header is never read, the client's address is the connection's peer (kit/client_address.py).
    trusted_proxies: str = ""

    # Browser origins allowed to call the API, comma-separated; empty (the default) sends no CORS header at all.
    cors_origins: str = ""
    # When set, GET /metrics requires "Authorization: Bearer <token>"; unset, the metrics are public.
    metrics_token: SecretStr | None = None
    # An OTLP/HTTP collector's base URL (``/v1/traces`` is appended): tracing on. The standard OTEL_EXPORTER_OTLP_*
    # variables turn it on as well (kit/tracing.py); with none of them, tracing is off and costs nothing.
    otel_exporter_otlp_endpoint: str | None = None

    # Webhooks (webhooks/): private, loopback and link-local targets are refused unless this is set (a test's
    # receiver, an internal network that is trusted); the delivery timeout bounds one attempt end to end; retries
    # back off exponentially (with jitter) from the first delay, capped, until the event is this old, then fail.
    webhooks_allow_private: bool = False
    webhooks_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhooks_retry_first_seconds: float = Field(default=5.0, gt=0)
    webhooks_retry_max_seconds: float = Field(default=3600.0, gt=0)
    webhooks_retry_for_seconds: float = Field(default=86400.0, gt=0)
    webhooks_poll_seconds: float = Field(default=1.0, gt=0)
    webhooks_dispatch: bool = True  # whether `metadock serve` runs a dispatcher (one per node)

    def signing_key(self) -> str:
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return load_or_create_secret(self.data_dir.resolve())

    @model_validator(mode="after")
    def _refuse_weak_production_secrets(self) -> Settings:
        if self.env == "production":
            secret = self.secret_key.get_secret_value() if self.secret_key else ""
            if len(secret) < MIN_SECRET_KEY_LENGTH:
                raise ValueError(
                    f"METADOCK_SECRET_KEY must be set to at least {MIN_SECRET_KEY_LENGTH} characters in production"
                )
        try:
            parse_trusted_proxies(self.trusted_proxies)
        except ValueError as error:
            raise ValueError(f"METADOCK_TRUSTED_PROXIES: {error}") from None
        if self.metadatas_default_limit > self.metadatas_max_limit:
            raise ValueError("METADOCK_METADATAS_DEFAULT_LIMIT must not exceed METADOCK_METADATAS_MAX_LIMIT")
        return self

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def resolved_store_url(self) -> str:
        """``file://`` URLs made absolute (a relative directory is taken from the working directory)."""
        if not self.store_url.startswith("file://"):
            return self.store_url
        return "file://" + str(Path(self.store_url.removeprefix("file://")).resolve())


def load_or_create_secret(data_dir: Path) -> str:
    """The embedded default's signing key: generated on first start, kept (mode 0600) in the data directory."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_FILE
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
