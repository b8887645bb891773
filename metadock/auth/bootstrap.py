"""First start of an empty database: the tenant ``default``, one admin API key and the user ``admin@localhost``."""

from __future__ import annotations

from dataclasses import dataclass

from metadock.auth import passwords
from metadock.auth.service import TenantService
from metadock.auth.users import UserService
from metadock.kit.db import Connection
from metadock.kit.principal import Role

ADMIN_EMAIL = "admin@localhost"


@dataclass(frozen=True, slots=True)
class FirstStart:
    tenant_uuid: str
    api_key: str
    admin_email: str
    admin_password: str


async def bootstrap(connection: Connection) -> FirstStart | None:
    tenants = TenantService(connection)
    issued = await tenants.bootstrap()
    if issued is None:
        return None
    tenant = await tenants.get_tenant(issued.tenant_uuid)
    password = passwords.generate_password()
    await UserService(connection, tenant.id).create(ADMIN_EMAIL, password, Role.ADMIN)
    return FirstStart(issued.tenant_uuid, issued.key, ADMIN_EMAIL, password)
