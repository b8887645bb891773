"""Shared by the console tests: people of each role in a tenant, and reading a form's CSRF token from a page."""

from __future__ import annotations

import re
from dataclasses import dataclass

from metadock.kit.db import Connection
from metadock.kit.principal import Role
from metadock.tenants.service import TenantService
from metadock.users.service import UserService
from tests.factories import run_in_transaction

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


@dataclass(frozen=True)
class People:
    tenant_uuid: str
    admin: str
    writer: str
    reader: str


def create_people(database_url: str, tenant_uuid: str, domain: str = "acme.test") -> People:
    async def work(connection: Connection) -> People:
        tenant = await TenantService(connection).get_tenant(tenant_uuid)
        service = UserService(connection, tenant.id)
        emails = {role: f"{role.value}@{domain}" for role in Role}
        for role, email in emails.items():
            await service.create(email, PASSWORD, role)
        return People(tenant_uuid, emails[Role.ADMIN], emails[Role.WRITER], emails[Role.READER])

    return run_in_transaction(database_url, work)


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)
