"""The fast path answers exactly as SQLAlchemy's path does, for the statements every request runs: the credential
lookup, an item by its key, list pages and their totals, and a capture's insert with its total. Each is run as the
repositories run it, then again on both paths, and the rows must match in keys, values and Python types (JSON
decoded, timestamps aware or as Laravel's text, booleans, ids). On both databases: SQLite's plans run on its driver,
PostgreSQL's as asyncpg's prepared statements."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.sql.base import Executable

from metadock.api_keys.keys import hash_key
from metadock.api_keys.repository import find_credential_in_any_tenant
from metadock.kit.connection import Connection, Params
from metadock.kit.db import Database
from metadock.kit.query import Filter, FilterOp, ListQuery
from metadock.metadatas.repository import MetadataRepository
from metadock.metadatas.table import metadatas as metadatas_table
from metadock.payloads.repository import PayloadRepository
from metadock.tenants.service import TenantService
from tests.factories import add_metadatas, add_payload_records, create_tenant, metadata_body, payload_record_values

Row = dict[str, Any]


class Recording(Connection):
    """The request's connection, noting each statement a repository runs through it."""

    __slots__ = ("inner", "seen")

    def __init__(self, inner: Connection) -> None:
        self.inner = inner
        self.seen: list[tuple[Executable, Params]] = []

    @property
    def dialect_name(self) -> str:
        return self.inner.dialect_name

    async def execute(self, statement: Executable, parameters: Params = None) -> Any:
        return await self.inner.execute(statement, parameters)

    async def fetch_one(self, statement: Executable, parameters: Params = None) -> Mapping[str, Any] | None:
        self.seen.append((statement, parameters))
        return await self.inner.fetch_one(statement, parameters)

    async def fetch_all(self, statement: Executable, parameters: Params = None) -> list[Mapping[str, Any]]:
        self.seen.append((statement, parameters))
        return await self.inner.fetch_all(statement, parameters)

    async def scalar(self, statement: Executable, parameters: Params = None) -> Any:
        self.seen.append((statement, parameters))
        return await self.inner.scalar(statement, parameters)


def typed(rows: list[Row]) -> list[dict[str, tuple[type, Any]]]:
    return [{key: (type(value), value) for key, value in row.items()} for row in rows]


async def both_paths(database: Database, connection: Connection, statement: Executable, parameters: Params) -> Any:
    """The rows of SQLAlchemy's path and of the plan (the statement was seen once already, so this run is planned)."""
    general = [dict(row) for row in (await connection.execute(statement, parameters)).mappings()]
    fast = [dict(row) for row in await connection.fetch_all(statement, parameters)]
    assert database.plans.plan(statement, parameters) is not None, "the second run did not take a plan"
    return general, fast


def capture_values(run: int) -> dict[str, Any]:
    now = dt.datetime(2026, 11, 29, 20, 0, 0, 123456, tzinfo=dt.UTC)
    return payload_record_values(
        now,
        flow_run_id=run,
        flow_step_id=2,
        flow_log_id=9,
        size=1024,
        sha256="ab" * 32,
        expires_at=now + dt.timedelta(days=30),
    )


def test_hot_statements_answer_the_same_on_the_fast_path_and_sqlalchemys(database_url: str) -> None:
    keys = create_tenant(database_url, "fast-path")
    bodies = [
        metadata_body(slug=f"s-{n}", title={"en": f"Ünïcode {n}"}, data={"n": n, "nested": [1.5, None, True]})
        for n in range(3)
    ]
    created = add_metadatas(database_url, keys.uuid, bodies)
    records = add_payload_records(database_url, keys.uuid, [{"flow_run_id": 7, "flow_log_id": n} for n in range(5)])

    async def main() -> tuple[list[tuple[list[Row], list[Row]]], list[Row], int]:
        database = Database(database_url, pool_size=1)
        try:
            async with database.transaction() as connection:
                tenant = await TenantService(connection).get_tenant(keys.uuid)
                recording = Recording(connection)
                payloads = PayloadRepository(recording, tenant.id)
                metadatas = MetadataRepository(recording, tenant.id)
                assert await find_credential_in_any_tenant(recording, hash_key(keys.reader)) is not None
                assert await metadatas.get(created[1]["uuid"]) is not None
                assert await payloads.get(records[2]["id"]) is not None
                by_run = Filter("flow_run_id", FilterOp.ANY_OF, (7,))
                await payloads.list_page(ListQuery(filters=(by_run,), page=2, per_page=2))  # page, filtered count
                await payloads.list_page(ListQuery(page=2, per_page=2))  # page, the kept total
                await metadatas.list_page(ListQuery(page=2, per_page=2))
                answers = [await both_paths(database, connection, *seen) for seen in recording.seen]

                # A capture's insert and its total: the first on SQLAlchemy's path, the next ones planned.
                inserted = [dict(await payloads.insert(capture_values(run)) or {}) for run in (11, 12, 13)]
                _, total = await PayloadRepository(connection, tenant.id).list_page(ListQuery(page=2, per_page=1))
            return answers, inserted, total
        finally:
            await database.dispose()

    answers, inserted, total = asyncio.run(main())

    # The credential, two items, three pages and their totals: on PostgreSQL a page brings its total (kit/repository.py)
    assert len(answers) == (9 if database_url.startswith("sqlite") else 6)
    for general, fast in answers:
        assert general, "every statement here finds rows"
        assert typed(fast) == typed(general)
    credential, metadata_item, payload_item = (general[0] for general, _ in answers[:3])
    assert credential["tenant_uuid"] == keys.uuid
    assert metadata_item["data"] == {"n": 1, "nested": [1.5, None, True]}  # JSON decoded on both paths
    # DigitalState's text (ISO 8601, seconds, UTC offset), on every path.
    assert dt.datetime.fromisoformat(metadata_item["created_at"]).tzinfo == dt.UTC
    assert metadata_item["created_at"].endswith("+00:00")
    assert payload_item["dropped"] is False
    assert payload_item["created_at"].endswith("Z")  # Laravel's text, on every path

    assert [row["flow_run_id"] for row in inserted] == [11, 12, 13]
    unique = ("id", "store_key", "flow_run_id")
    general, *planned = ({key: value for key, value in row.items() if key not in unique} for row in inserted)
    assert typed(planned) == typed([general, general])
    assert inserted[0]["created_at"] == "2026-11-29T20:00:00.123456Z"
    assert total == 5 + 3  # the planned total upserts counted too


class _Failed(Exception):
    pass


def test_writes_on_both_paths_commit_or_roll_back_together(database_url: str) -> None:
    """A planned write (PostgreSQL begins its transaction there, on the driver) and a write on SQLAlchemy's path after
    it are one transaction: a failure after both leaves neither, a commit keeps both; reads before them see the
    data committed before."""
    keys = create_tenant(database_url, "fast-path-writes")
    created = add_metadatas(database_url, keys.uuid, [metadata_body(slug="a"), metadata_body(slug="b")])
    by_uuid = update(metadatas_table).where(metadatas_table.c.uuid == bindparam("u")).values(owner=bindparam("owner"))
    owner_of = select(metadatas_table.c.owner).where(metadatas_table.c.uuid == bindparam("u"))

    async def main() -> list[list[str]]:
        database = Database(database_url, pool_size=1)
        owners = []
        try:
            for fail in (True, False):
                try:
                    async with database.transaction() as connection:
                        before = [await connection.scalar(owner_of, {"u": item["uuid"]}) for item in created * 2]
                        assert before == ["BusinessUnit"] * 4  # the second pair of reads was planned
                        for owner in ("first", "planned"):  # the second run is planned
                            assert await connection.write(by_uuid, {"u": created[0]["uuid"], "owner": owner}) == 1
                        inline = (
                            update(metadatas_table)
                            .where(metadatas_table.c.uuid == created[1]["uuid"])
                            .values(owner="inline")
                        )
                        await connection.execute(inline)  # built for this request: SQLAlchemy's path
                        assert await connection.scalar(owner_of, {"u": created[1]["uuid"]}) == "inline"
                        if fail:
                            raise _Failed
                except _Failed:
                    pass
                async with database.transaction() as connection:
                    owners.append([await connection.scalar(owner_of, {"u": item["uuid"]}) for item in created])
        finally:
            await database.dispose()
        return owners

    assert asyncio.run(main()) == [["BusinessUnit", "BusinessUnit"], ["planned", "inline"]]
