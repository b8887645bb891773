"""PostgreSQL's partitioned payload table (migration 0011, ``metadock/payloads/partitions.py``): partitions made ahead
of need, captures that outrun them landing in the DEFAULT partition (and moved out later), record retention that
drops whole partitions and deletes only within one partition per statement, exact totals afterwards, and the
conversion of a populated unpartitioned table. On SQLite all of it is a no-op, which one test checks.

Partitions here are 10 ids wide so that a few dozen captures span several; the module's ``database_url`` is the
session's PostgreSQL database with its range partitions removed before each test and the migration's layout put
back after it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from metadock import migrate
from metadock.app import create_app
from metadock.kit.db import Database
from metadock.payloads import maintenance, partitions
from metadock.payloads.partition_repository import Partition, PartitionRepository
from metadock.payloads.repository import PayloadMaintenanceRepository
from metadock.settings import Settings
from tests.conftest import POSTGRES_URL, _admin_dsn, _empty_postgres
from tests.factories import PAYLOADS, TenantKeys, capture_payload, payload_store, run_in_transaction, stored_keys

WIDTH = 10
DAY = dt.timedelta(days=1)


def _database(url: str, job: Any) -> Any:
    async def run() -> Any:
        database = Database(url, pool_size=2)
        try:
            return await job(database)
        finally:
            await database.dispose()

    return asyncio.run(run())


def _sql(url: str, sql: str, parameters: dict[str, Any] | None = None) -> list[Any]:
    async def work(connection: Any) -> list[Any]:
        return [dict(row) for row in await connection.fetch_all(text(sql), parameters)]

    return run_in_transaction(url, work)


def _layout(url: str) -> list[tuple[int, int]]:
    found = _database(url, partitions.partition_layout)
    assert found is not None
    return [(partition.first_id, partition.end_id) for partition in found]


def _ensure(url: str, *, width: int = WIDTH, ahead: int) -> int:
    return int(_database(url, lambda database: partitions.ensure_partitions(database, width=width, ahead=ahead)))


def _drop_range_partitions(url: str) -> None:
    for first_id, _end in _layout(url):
        _sql(url, f"DROP TABLE payload_metadata_ids_{int(first_id)}")


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    url: str = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    _drop_range_partitions(url)
    yield url
    _empty_postgres(url)
    _drop_range_partitions(url)
    _ensure(url, width=1_000_000, ahead=4)  # the layout migration 0011 gives an empty table


def _where(url: str) -> dict[int, str]:
    """Each record's id and the partition holding it."""
    rows = _sql(url, "SELECT id, tableoid::regclass::text AS home FROM payload_metadata")
    return {row["id"]: row["home"] for row in rows}


def _totals_exact(url: str) -> dict[int, int]:
    totals = _sql(url, "SELECT tenant_id, total FROM payload_counts WHERE total > 0")
    counted = _sql(url, "SELECT tenant_id, count(*) AS n FROM payload_metadata GROUP BY tenant_id")
    kept = {row["tenant_id"]: row["total"] for row in totals}
    assert kept == {row["tenant_id"]: row["n"] for row in counted}
    return kept


def _backdate(url: str, ids: list[int], moment: dt.datetime) -> None:
    _sql(url, "UPDATE payload_metadata SET created_at = :moment WHERE id = ANY(:ids)", {"moment": moment, "ids": ids})


def test_partitions_are_made_ahead_of_the_ids_handed_out(
    client: TestClient[object], settings: Settings, tenant: TenantKeys
) -> None:
    url = settings.database_url
    assert _ensure(url, ahead=3) == 4
    assert _layout(url) == [(0, 10), (10, 20), (20, 30), (30, 40)]
    assert _ensure(url, ahead=3) == 0  # nothing to do the second time
    records = [capture_payload(client, tenant.headers(), f"{n}".encode()) for n in range(25)]
    # The 25th id is in [20, 30): three more ranges are made above it.
    assert _ensure(url, ahead=3) == 2
    assert _layout(url) == [(0, 10), (10, 20), (20, 30), (30, 40), (40, 50), (50, 60)]
    homes = _where(url)
    assert all(homes[record["id"]] == f"payload_metadata_ids_{record['id'] // 10 * 10}" for record in records)
    # A bulk load says how far its ids go: every range up to there is made first, and ``ahead`` more.
    made = _database(url, lambda database: partitions.ensure_partitions(database, width=WIDTH, ahead=1, through_id=75))
    assert made == 3
    assert _layout(url)[-3:] == [(60, 70), (70, 80), (80, 90)]


def test_makers_racing_each_other_make_each_partition_once(settings: Settings) -> None:
    url = settings.database_url

    async def race() -> list[int]:
        databases = [Database(url, pool_size=1) for _ in range(3)]
        try:
            return list(
                await asyncio.gather(
                    *(partitions.ensure_partitions(database, width=WIDTH, ahead=5) for database in databases)
                )
            )
        finally:
            for database in databases:
                await database.dispose()

    assert sum(asyncio.run(race())) == 6
    assert _layout(url) == [(start, start + WIDTH) for start in range(0, 60, WIDTH)]


def test_a_capture_with_only_the_default_partition_left_succeeds_and_is_moved_out_later(
    client: TestClient[object], settings: Settings, tenant: TenantKeys
) -> None:
    url = settings.database_url
    assert _layout(url) == []  # every range partition is gone: only the DEFAULT one is left
    capture_payload(client, tenant.headers(), b"beyond every partition")
    assert _where(url) == {1: "payload_metadata_default"}
    before = client.get(f"{PAYLOADS}/1", headers=tenant.headers())
    assert before.status_code == 200
    assert _totals_exact(url) == {_sql(url, "SELECT id FROM tenants")[0]["id"]: 1}

    assert _ensure(url, ahead=1) == 2  # [0, 10) for the stray row (the range in use too), and [10, 20)
    assert _where(url) == {1: "payload_metadata_ids_0"}
    assert _sql(url, "SELECT count(*) AS n FROM payload_metadata_default") == [{"n": 0}]
    response = client.get(f"{PAYLOADS}/1", headers=tenant.headers())
    assert response.status_code == 200
    assert response.json() == before.json()
    assert client.get(PAYLOADS, headers=tenant.headers()).json()["meta"]["total"] == 1
    _totals_exact(url)
    assert capture_payload(client, tenant.headers(), b"next")["id"] == 2
    assert _where(url)[2] == "payload_metadata_ids_0"


def test_record_retention_drops_whole_partitions_and_deletes_within_one_partition_per_statement(
    client: TestClient[object],
    settings: Settings,
    tenant: TenantKeys,
    other_tenant: TenantKeys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = settings.database_url
    _ensure(url, ahead=4)
    records = [
        capture_payload(client, (tenant if n % 3 else other_tenant).headers(), f"payload {n}".encode())
        for n in range(35)
    ]
    assert [record["id"] for record in records] == list(range(1, 36))
    keys = {row["id"]: row["store_key"] for row in _sql(url, "SELECT id, store_key FROM payload_metadata")}
    started = dt.datetime.now(dt.UTC)
    cutoff = started - 30 * DAY
    _backdate(url, list(range(1, 19)), cutoff - 10 * DAY)  # [0, 10) wholly old, and most of [10, 20)
    _backdate(url, [19], cutoff)  # exactly at the cutoff: kept, and so is its partition
    _backdate(url, list(range(20, 25)), cutoff - dt.timedelta(microseconds=1))  # just past it: deleted
    deletes: list[list[int]] = []
    delete_dropped = PayloadMaintenanceRepository.delete_dropped

    async def spy(self: PayloadMaintenanceRepository, record_ids: Any) -> int:
        ids = list(record_ids)
        deletes.append(ids)
        return await delete_dropped(self, ids)

    monkeypatch.setattr(PayloadMaintenanceRepository, "delete_dropped", spy)

    store = payload_store(settings)
    deleted = _database(
        url, lambda database: maintenance.prune_records(database, store, older_than_days=30, started=started)
    )

    assert deleted == 23
    assert sorted(_where(url)) == [19, *range(25, 36)]
    layout = _layout(url)
    assert (0, 10) not in layout  # dropped whole, no DELETE ran over it
    assert (10, 20) in layout
    assert (20, 30) in layout
    assert sorted(id_ for ids in deletes for id_ in ids) == [*range(10, 19), *range(20, 25)]
    for ids in deletes:  # each DELETE stayed inside one partition
        assert len({id_ // WIDTH for id_ in ids}) == 1, deletes
    kept = _totals_exact(url)
    assert sum(kept.values()) == 12
    assert client.get(PAYLOADS, headers=tenant.headers()).json()["meta"]["total"] == sum(
        1 for record in records if record["id"] in _where(url) and record["id"] % 3 != 1
    )
    left = stored_keys(settings)
    assert not left & {keys[id_] for id_ in [*range(1, 19), *range(20, 25)]}
    assert {keys[id_] for id_ in [19, *range(25, 36)]} <= left
    report = _database(url, lambda database: maintenance.fsck(database, store, repair=False, grace=dt.timedelta(0)))
    assert not report.orphaned_keys
    assert not report.missing_records

    # A rerun finds nothing more; captures go on into the partitions kept ahead.
    rerun = _database(
        url, lambda database: maintenance.prune_records(database, store, older_than_days=30, started=started)
    )
    assert rerun == 0
    assert capture_payload(client, tenant.headers(), b"after")["id"] == 36


def test_lookups_by_id_run_a_generic_plan_that_reads_one_partition(settings: Settings) -> None:
    """Metadock's connections run generic plans: under PostgreSQL's default a partitioned table's statements are
    planned afresh on every run (~6x the server time of a lookup), yet a generic plan still prunes as it runs. They
    price an index probe for SSD or memory (``random_page_cost`` 1.1, tests/test_tag_plans.py shows why)."""
    url = settings.database_url
    _ensure(url, ahead=4)

    async def plan(database: Database) -> tuple[str, str]:
        async with database.transaction() as connection:
            mode = next(iter(await connection.scalars(text("SHOW plan_cache_mode"))))
            assert next(iter(await connection.scalars(text("SHOW random_page_cost")))) == "1.1"
            explain = (
                "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM payload_metadata WHERE id = :id"
            )
            lines = await connection.scalars(text(explain), {"id": 25})
            return str(mode), "\n".join(str(line) for line in lines)

    mode, shown = _database(url, plan)
    assert mode == "force_generic_plan"
    assert "payload_metadata_ids_20" in shown or "Subplans Removed" in shown, shown


def test_a_dropped_partition_takes_its_records_tags_with_it(
    client: TestClient[object], settings: Settings, tenant: TenantKeys
) -> None:
    """Tags live in their own table, which dropping a partition does not touch: retention removes them first, so no
    tag outlives its record (and a later record can never inherit one)."""
    url = settings.database_url
    _ensure(url, ahead=3)
    for n in range(15):
        response = client.post(
            PAYLOADS,
            params={"flow_run_id": 1, "flow_step_id": 1, "tag[order_id]": f"order-{n}"},
            content=b"{}",
            headers={**tenant.headers(), "Content-Type": "application/json"},
        )
        assert response.status_code == 201, response.text
    started = dt.datetime.now(dt.UTC)
    _backdate(url, list(range(1, 10)), started - 40 * DAY)  # partition [0, 10) wholly past the 30-day cutoff

    store = payload_store(settings)
    deleted = _database(
        url, lambda database: maintenance.prune_records(database, store, older_than_days=30, started=started)
    )

    assert deleted == 9
    assert (0, 10) not in _layout(url)
    tagged = sorted(row["payload_id"] for row in _sql(url, "SELECT payload_id FROM payload_tags"))
    assert tagged == list(range(10, 16))
    found = client.get(PAYLOADS, params={"filter[tag.order_id]": "order-3,order-12"}, headers=tenant.headers())
    assert [record["id"] for record in found.json()["data"]] == [13]


def test_a_partition_whose_ids_may_still_be_handed_out_is_never_dropped(
    client: TestClient[object], settings: Settings, tenant: TenantKeys
) -> None:
    url = settings.database_url
    _ensure(url, ahead=1)
    [_capture_old] = [capture_payload(client, tenant.headers(), b"old")]
    _backdate(url, [1], dt.datetime.now(dt.UTC) - 90 * DAY)
    store = payload_store(settings)
    deleted = _database(url, lambda database: maintenance.prune_records(database, store, older_than_days=30))
    assert deleted == 1  # by the batched delete: [0, 10) stays, its ids 2..9 are still to come
    assert (0, 10) in _layout(url)
    assert capture_payload(client, tenant.headers(), b"next")["id"] == 2
    _totals_exact(url)


def test_a_partition_drop_waits_out_a_long_reader_by_retrying_and_keeps_totals_exact(
    settings: Settings, tenant: TenantKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = settings.database_url
    _ensure(url, ahead=1)
    _sql(
        url,
        "INSERT INTO payload_metadata (tenant_id, flow_run_id, flow_step_id, store_key, size, content_type, dropped, "
        "dropped_reason, created_at, updated_at) SELECT t.id, 1, 1, 'k/' || g, 1, 'x', true, 'too_large', "
        "now() - interval '90 days', now() FROM generate_series(1, 9) g CROSS JOIN tenants t",
    )
    _sql(url, "INSERT INTO payload_counts (tenant_id, total, generation) SELECT id, 9, 7 FROM tenants")
    _sql(url, "SELECT setval(pg_get_serial_sequence('payload_metadata', 'id'), 12)")  # [0, 10) is all handed out
    attempts: list[float] = []
    drop_if_expired = PartitionRepository.drop_if_expired

    async def counted(self: PartitionRepository, partition: Partition, cutoff: dt.datetime) -> int | None:
        attempts.append(time.monotonic())
        return await drop_if_expired(self, partition, cutoff)

    monkeypatch.setattr(PartitionRepository, "drop_if_expired", counted)
    store = payload_store(settings)

    async def run() -> int:
        reader = await asyncpg.connect(url)
        database = Database(url, pool_size=2)
        try:
            transaction = reader.transaction()
            await transaction.start()
            await reader.fetch("SELECT count(*) FROM payload_metadata")  # holds its lock to the end of the transaction
            cutoff = dt.datetime.now(dt.UTC) - 30 * DAY
            dropping = asyncio.create_task(partitions.drop_expired_partitions(database, store, cutoff))
            await asyncio.sleep(3)  # past one lock timeout (2 s): the first attempt gave up
            assert not dropping.done()
            await transaction.commit()
            return await dropping
        finally:
            await database.dispose()
            await reader.close()

    assert asyncio.run(run()) == 9
    assert len(attempts) >= 2
    assert (0, 10) not in _layout(url)
    assert _sql(url, "SELECT total, generation FROM payload_counts") == [{"total": 0, "generation": 8}]


def _migrate_to(url: str, action: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    async def run(database: Database) -> None:
        config = Config()
        config.set_main_option("script_location", str(migrate.MIGRATIONS))

        def step(connection: Any) -> None:
            config.attributes["connection"] = connection
            getattr(command, action)(config, revision)

        await database.run_sync(step)

    _database(url, run)


@pytest.fixture
def fresh_postgres(postgres_url: str) -> Iterator[str]:
    """A database of this test's own (the migration runs from an empty one). Asking for ``postgres_url`` first makes a
    missing PostgreSQL fail the run under CI=true, as everywhere else in the suite."""
    name = f"metadock_conversion_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(_admin_dsn(POSTGRES_URL, "postgres"), timeout=5)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    yield _admin_dsn(postgres_url, name)
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


SEED = """
INSERT INTO payload_metadata (tenant_id, flow_run_id, flow_step_id, flow_log_id, store_key, size, content_type,
    dropped, dropped_reason, created_at, updated_at)
SELECT t.id, g / 10, g % 7, CASE WHEN g % 2 = 0 THEN g END, 'k/' || g, g, 'application/json', g % 5 = 0,
    CASE WHEN g % 5 = 0 THEN 'expired' END, timestamptz '2026-01-01' + g * interval '1 minute', now()
FROM generate_series(1, 2500) g JOIN tenants t ON t.name = 't' || (g % 3)
"""
FINGERPRINT = "SELECT md5(string_agg(p::text, '|' ORDER BY id)) AS digest, count(*) AS n FROM payload_metadata p"


def _relkind(url: str) -> str:
    return str(
        _sql(url, "SELECT relkind::text AS kind FROM pg_class WHERE oid = 'payload_metadata'::regclass")[0]["kind"]
    )


def test_the_migration_converts_a_populated_table_and_back(fresh_postgres: str) -> None:
    url = fresh_postgres
    _migrate_to(url, "upgrade", "0008")
    assert _relkind(url) == "r"
    _sql(
        url,
        "INSERT INTO tenants (uuid, name, created_at) SELECT gen_random_uuid()::text, 't' || g, now() "
        "FROM generate_series(0, 2) g",
    )
    _sql(url, SEED)
    _sql(url, "DELETE FROM payload_metadata WHERE id % 7 = 3")  # gaps, as deletes leave them
    _sql(
        url,
        "INSERT INTO payload_counts (tenant_id, total, generation) "
        "SELECT tenant_id, count(*), 5 FROM payload_metadata GROUP BY tenant_id",
    )
    before = _sql(url, FINGERPRINT)[0]
    counts = _sql(url, "SELECT * FROM payload_counts ORDER BY tenant_id")

    _migrate_to(url, "upgrade", "head")

    assert _relkind(url) == "p"
    assert _sql(url, FINGERPRINT)[0] == before
    assert _sql(url, "SELECT * FROM payload_counts ORDER BY tenant_id") == counts
    homes = {row["home"] for row in _sql(url, "SELECT DISTINCT tableoid::regclass::text AS home FROM payload_metadata")}
    assert homes == {"payload_metadata_ids_0"}
    assert _layout(url)[:2] == [(0, 1_000_000), (1_000_000, 2_000_000)]
    assert len(_layout(url)) == 5  # the one in use and four ahead
    [new] = _sql(
        url,
        "INSERT INTO payload_metadata (tenant_id, flow_run_id, flow_step_id, store_key, size, "
        "content_type, dropped, created_at, updated_at) SELECT id, 1, 1, 'k', 1, 'x', false, now(), now() "
        "FROM tenants LIMIT 1 RETURNING id",
    )
    assert new["id"] == 2501  # the sequence goes on where it was
    indexes = {
        row["indexname"] for row in _sql(url, "SELECT indexname FROM pg_indexes WHERE tablename = 'payload_metadata'")
    }
    assert {"pk_payload_metadata", "ix_payload_metadata_tenant_id_id", "ix_payload_metadata_prune"} <= indexes

    _migrate_to(url, "downgrade", "0008")
    assert _relkind(url) == "r"
    assert _sql(url, "SELECT count(*) AS n FROM payload_metadata")[0]["n"] == before["n"] + 1


def test_on_sqlite_there_are_no_partitions_and_nothing_to_do(sqlite_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "metadock.db"
    path.write_bytes(sqlite_template.read_bytes())
    url = f"sqlite:///{path}"
    assert _database(url, partitions.partition_layout) is None
    assert _database(url, lambda database: partitions.ensure_partitions(database, width=WIDTH, ahead=2)) == 0
    store_dir = tmp_path / "store"
    store = payload_store(Settings(database_url=url, store_url=f"file://{store_dir}"))
    cutoff = dt.datetime.now(dt.UTC)
    assert _database(url, lambda database: partitions.drop_expired_partitions(database, store, cutoff)) == 0


def test_ids_are_split_by_the_partition_holding_them() -> None:
    layout = [Partition("a", 0, 10), Partition("b", 10, 20)]
    assert partitions.split_by_partition([3, 12, 25, 9, 10, 40], layout) == [[25, 40], [3, 9], [12, 10]]


def test_a_dropped_partition_takes_its_records_content_search_entries_with_it(
    settings: Settings, tenant: TenantKeys
) -> None:
    """Content search entries (their own table) go before their partition is dropped: none outlives its record."""
    url = settings.database_url
    _ensure(url, ahead=3)
    searching = settings.model_copy(update={"content_search": True})
    with TestClient(create_app(searching)) as client:  # type: ignore[arg-type]
        for n in range(15):
            response = client.post(
                PAYLOADS,
                params={"flow_run_id": 1, "flow_step_id": 1},
                content=f'{{"order": "order{n}", "common": "word"}}'.encode(),
                headers={**tenant.headers(), "Content-Type": "application/json"},
            )
            assert response.status_code == 201, response.text
        assert len(_sql(url, "SELECT payload_id FROM payload_search")) == 15
        started = dt.datetime.now(dt.UTC)
        _backdate(url, list(range(1, 10)), started - 40 * DAY)
        store = payload_store(settings)
        deleted = _database(
            url, lambda database: maintenance.prune_records(database, store, older_than_days=30, started=started)
        )
        assert deleted == 9
        assert (0, 10) not in _layout(url)
        indexed = sorted(row["payload_id"] for row in _sql(url, "SELECT payload_id FROM payload_search"))
        assert indexed == list(range(10, 16))
        found = client.get(PAYLOADS, params={"filter[search]": "word", "per_page": "100"}, headers=tenant.headers())
        assert [record["id"] for record in found.json()["data"]] == list(range(10, 16))
