"""SQLite's snapshot rule lives in its connection (kit/db.py): a transaction that read before another connection
committed can still write, as it could at PostgreSQL's read committed; no service has to know the rule."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from metadock.kit.db import Database
from metadock.tenants.service import TenantService


def test_a_transaction_that_read_before_another_commit_still_writes(sqlite_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "metadock.db"
    shutil.copyfile(sqlite_template, path)

    async def interleave() -> set[str]:
        database = Database(f"sqlite:///{path}")
        try:
            async with database.transaction() as first:
                assert await TenantService(first).list_tenants() == []  # the read takes a snapshot
                async with database.transaction() as second:
                    await TenantService(second).create_tenant("committed meanwhile")
                await TenantService(first).create_tenant("written after")  # SQLITE_BUSY_SNAPSHOT without the rule
            async with database.transaction() as check:
                return {tenant.name for tenant in await TenantService(check).list_tenants()}
        finally:
            await database.dispose()

    assert asyncio.run(interleave()) == {"committed meanwhile", "written after"}
