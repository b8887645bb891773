"""All SQL about users, revoked tokens and login failures.

A tenant's users are reached from the tenant-scoped base statement (:class:`UserRepository`). Login and token checks
cannot be scoped: an email or a token is what tells which tenant is calling, so they live apart, in
:class:`CredentialRepository`, named for what they cross.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, ClassVar

from sqlalchemy import case, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from metadock.kit.db import Connection
from metadock.kit.repository import TenantScopedRepository
from metadock.tenants.table import tenants
from metadock.users.tables import login_failures, revoked_tokens, users

_u = users.c
_USER_COLUMNS = (_u.id, _u.email, _u.role, _u.disabled_at, _u.created_at, _u.updated_at)


class EmailTaken(Exception):
    pass


class UserRepository(TenantScopedRepository):
    """The users of one tenant, for its admins."""

    table: ClassVar = users
    columns: ClassVar = {"id": _u.id, "created_at": _u.created_at}

    async def insert(self, values: dict[str, Any]) -> Any:
        statement = insert(users).values(tenant_id=self.tenant_id, **values).returning(*_USER_COLUMNS)
        try:
            return await self.connection.fetch_one(statement)
        except IntegrityError:
            raise EmailTaken from None

    async def list_all(self) -> list[Any]:
        statement = self._select(*_USER_COLUMNS).order_by(_u.created_at, _u.id)
        return await self.connection.fetch_all(statement)

    async def update(self, user_id: str, values: dict[str, Any]) -> Any | None:
        statement = self._update().where(_u.id == user_id).values(**values).returning(*_USER_COLUMNS)
        return await self.connection.fetch_one(statement)

    async def update_by_email(self, email: str, values: dict[str, Any]) -> Any | None:
        statement = self._update().where(_u.email == email).values(**values).returning(*_USER_COLUMNS)
        return await self.connection.fetch_one(statement)


class CredentialRepository:
    """Lookups across tenants by what a caller presents (an email, a token), and the login throttle's records."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    async def find_for_login(self, email: str) -> Any | None:
        statement = (
            select(
                _u.id,
                _u.role,
                _u.password_hash,
                _u.disabled_at,
                _u.token_generation,
                tenants.c.uuid.label("tenant_uuid"),
            )
            .join(tenants, tenants.c.id == _u.tenant_id)
            .where(_u.email == email)
        )
        return await self.connection.fetch_one(statement)

    async def find_for_token(self, user_id: str, token_id: str) -> Any | None:
        """The user behind a token, with whether that token was revoked: one round trip per request."""
        revoked = select(revoked_tokens.c.jti).where(revoked_tokens.c.jti == token_id).exists()
        statement = (
            select(
                _u.id,
                _u.role,
                _u.disabled_at,
                _u.token_generation,
                _u.tenant_id,
                tenants.c.uuid.label("tenant_uuid"),
                tenants.c.content_search,
                revoked.label("revoked"),
            )
            .join(tenants, tenants.c.id == _u.tenant_id)
            .where(_u.id == user_id)
        )
        return await self.connection.fetch_one(statement)

    async def revoke_token(self, token_id: str, expires_at: dt.datetime, now: dt.datetime) -> None:
        await self.connection.write(delete(revoked_tokens).where(revoked_tokens.c.expires_at < now))
        statement = _upsert(self.connection, revoked_tokens).values(jti=token_id, expires_at=expires_at)
        await self.connection.write(statement.on_conflict_do_nothing(index_elements=[revoked_tokens.c.jti]))

    async def blocked_until(self, subjects: Sequence[str], now: dt.datetime) -> dt.datetime | None:
        statement = select(login_failures.c.blocked_until).where(
            login_failures.c.subject.in_(subjects), login_failures.c.blocked_until > now
        )
        blocks = [moment for moment in await self.connection.scalars(statement) if moment is not None]
        return max(blocks) if blocks else None

    async def record_failure(
        self, subject: str, now: dt.datetime, *, window: dt.timedelta, max_failures: int, block: dt.timedelta
    ) -> None:
        """One statement per subject (an upsert), so concurrent failures from several workers all count."""
        t = login_failures.c
        statement = _upsert(self.connection, login_failures).values(
            subject=subject, failures=1, window_started_at=now, blocked_until=now + block if max_failures <= 1 else None
        )
        stale = t.window_started_at < now - window
        failures = case((stale, 1), else_=t.failures + 1)  # a stale window starts afresh with this failure
        statement = statement.on_conflict_do_update(
            index_elements=[t.subject],
            set_={
                "failures": failures,
                "window_started_at": case((stale, now), else_=t.window_started_at),
                "blocked_until": case((failures >= max_failures, now + block), else_=t.blocked_until),
            },
        )
        await self.connection.write(statement)

    async def clear_failures(self, subjects: Sequence[str]) -> None:
        await self.connection.write(delete(login_failures).where(login_failures.c.subject.in_(subjects)))


def _upsert(connection: Connection, table: Any) -> Any:
    return (sqlite.insert if connection.dialect_name == "sqlite" else postgresql.insert)(table)
