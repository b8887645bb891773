"""First start of an empty database: the tenant ``default``, one admin API key and the user ``admin@localhost``."""

from __future__ import annotations

from dataclasses import dataclass

from metadock.api_keys.service import ApiKeyService
from metadock.kit.db import Connection
from metadock.kit.principal import Role
from metadock.tenants.service import DEFAULT_TENANT, TenantService
from metadock.users import passwords
from metadock.users.service import UserService

ADMIN_EMAIL = "admin@localhost"


@dataclass(frozen=True, slots=True)
class FirstStart:
    tenant_uuid: str
    api_key: str
    admin_email: str
    admin_password: str


async def bootstrap(connection: Connection) -> FirstStart | None:
    """On an empty database only; otherwise nothing."""
    tenants = TenantService(connection)
    if not await tenants.is_empty():
        return None
    tenant = await tenants.create_tenant(DEFAULT_TENANT)
    issued = await ApiKeyService(connection, tenant.id).create(Role.ADMIN, "bootstrap admin key")
    password = passwords.generate_password()
    await UserService(connection, tenant.id).create(ADMIN_EMAIL, password, Role.ADMIN)
    return FirstStart(tenant.uuid, issued.key, ADMIN_EMAIL, password)
