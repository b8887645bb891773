"""Every table, imported in one place so the migrations' autogenerate sees the whole schema."""

from metadock.auth.tables import api_keys, tenants
from metadock.kit.db import metadata
from metadock.metadatas.table import metadatas
from metadock.payloads.table import payload_metadata

__all__ = ["api_keys", "metadata", "metadatas", "payload_metadata", "tenants"]
