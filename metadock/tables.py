"""Every table, imported in one place so the migrations' autogenerate sees the whole schema."""

from metadock.auth.tables import api_keys, login_failures, revoked_tokens, tenants, users
from metadock.kit.db import metadata
from metadock.metadatas.table import metadatas
from metadock.payloads.table import payload_counts, payload_metadata

__all__ = [
    "api_keys",
    "login_failures",
    "metadata",
    "metadatas",
    "payload_counts",
    "payload_metadata",
    "revoked_tokens",
    "tenants",
    "users",
]
