"""All SQL about the console's single-use form tokens: one row per token that has created something.

The row is the token's consumption, so two requests carrying the same token cannot both create: the insert is the
last statement of the creating transaction, and the second insert of one token finds the first's row (PostgreSQL
waits for the first transaction, then does nothing; SQLite's writers take turns and the second sees the committed
row), matches no row, and its transaction is rolled back with what it created.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from sqlalchemy import Column, ForeignKey, Integer, String, Table
from sqlalchemy.dialects import postgresql, sqlite

from metadock.kit.db import UTCDateTime, metadata
from metadock.kit.repository import TenantScopedRepository
from metadock.tenants.table import tenants  # noqa: F401 - the foreign key needs it in the metadata

form_tokens = Table(
    "console_form_tokens",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("used_at", UTCDateTime(), nullable=False),
)


class FormTokenRepository(TenantScopedRepository):
    table: ClassVar = form_tokens
    columns: ClassVar = {"token": form_tokens.c.token, "used_at": form_tokens.c.used_at}

    async def used(self, token: str) -> bool:
        return await self._one_by("token", token, (form_tokens.c.token,)) is not None

    async def consume(self, token: str, now: dt.datetime) -> bool:
        """Record the token as used; False if it already was (by a request that committed first)."""
        insert = (sqlite.insert if self.connection.dialect_name == "sqlite" else postgresql.insert)(form_tokens)
        statement = (
            insert.values(token=token, tenant_id=self.tenant_id, used_at=now)
            .on_conflict_do_nothing(index_elements=[form_tokens.c.token])
            .returning(form_tokens.c.token)  # a row only if this insert made it: clearer than each driver's rowcount
        )
        return await self.connection.fetch_one(statement) is not None

    async def forget_before(self, moment: dt.datetime) -> None:
        """Tokens older than any form still accepted can never be sent again: they need no row."""
        await self.connection.write(self._delete().where(form_tokens.c.used_at < moment))
