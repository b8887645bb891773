"""Seed a benchmark dataset in bulk through Metadock's own persistence layer (not HTTP), and keep it between runs.

The dataset lives under ``var/bench/<parameters>/`` (the SQLite file, the file store, ``manifest.json`` with the
plaintext admin keys and the ids the load scripts draw from). A rerun with the same parameters reuses it.

Shape: ``tenants`` tenants; the first one (the tenant the benchmark loads) holds 90% of the rows so that its
unfiltered list and deep pages run over ~N rows; the others share the rest. Payload ids are interleaved over
tenants, ~100 records per run (run ids unique across tenants), 10 steps per run, one log id per record, creation
times spread over 30 days. A sample of tenant 0's records (1 KiB each) and one large record have their bytes in
the store; the other records point at keys that hold no bytes (nothing reads them).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection as SyncConnection

from bench import seed_postgres
from bench.dataset import (
    BASE_TIME,
    MIB,
    PAYLOAD_COLUMNS,
    RECORDS_PER_RUN,
    SPAN,
    TYPES,
    UPDATE_POOL,
    UUID_SAMPLE,
    WORDS,
    SeedParams,
    payload_bytes,
    payload_rows,
    run_of,
    spread,
    tenant_of,
    tenant_rows,
)
from metadock import migrate
from metadock.api_keys.service import ApiKeyService
from metadock.kit.db import Database
from metadock.kit.principal import Role
from metadock.metadatas.table import metadatas
from metadock.payloads import maintenance
from metadock.payloads.store import PayloadStore, open_store
from metadock.payloads.table import payload_metadata
from metadock.tenants.service import TenantService

__all__ = ["MIB", "SeedParams", "ensure"]
BATCH = 10_000


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _big_chunks(size: int) -> AsyncIterator[bytes]:
    block = bytes(range(256)) * (MIB // 256)
    sent = 0
    while sent < size:
        piece = block[: min(MIB, size - sent)]
        sent += len(piece)
        yield piece


def _payload_batch(start: int, end: int, params: SeedParams, stored: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    return [dict(zip(PAYLOAD_COLUMNS, row, strict=True)) for row in payload_rows(start, end, params, stored)]


def _metadata_batch(start: int, end: int, params: SeedParams, uuids: dict[int, str]) -> list[dict[str, Any]]:
    step = SPAN / max(1, params.metadatas)
    rows = []
    for n in range(start, end):
        t, k = tenant_of(n, params.tenants)
        word, kind = WORDS[k % len(WORDS)], TYPES[(k // len(WORDS)) % len(TYPES)]
        title = {"en": f"{word.capitalize()} report {k}", "fr": f"Rapport {word} {k}"}
        created = BASE_TIME + step * n
        rows.append(
            {
                "id": n + 1,
                "tenant_id": t + 1,
                "uuid": uuids.get(n) or str(uuid.uuid4()),
                "owner": "BusinessUnit",
                "owner_uuid": None,
                "title": title,
                "title_search": "\n".join(title.values()).casefold(),
                "slug": f"{word}-{k}",
                "type": kind,
                "data": {"providers": ["Github", "Google"], "n": k},
                "version": 1,
                "created_at": created,
                "updated_at": created,
            }
        )
    return rows


def _set_pragmas(connection: SyncConnection) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA cache_size=-262144")


async def _insert_all(database: Database, table: Any, total: int, make: Any) -> None:
    for start in range(0, total, BATCH):
        rows = make(start, min(total, start + BATCH))

        def work(connection: SyncConnection, rows: list[dict[str, Any]] = rows) -> None:
            _set_pragmas(connection)
            connection.execute(insert(table), rows)

        await database.run_sync(work)


async def _empty(database: Database) -> None:
    def work(connection: SyncConnection) -> None:
        connection.exec_driver_sql(
            "TRUNCATE payload_metadata, payload_counts, metadatas, api_keys, users, revoked_tokens, login_failures, "
            "tenants "
            "RESTART IDENTITY CASCADE"
        )

    await database.run_sync(work)


async def _seed(params: SeedParams, log: Any) -> dict[str, Any]:
    started = time.perf_counter()
    if params.db_url.startswith("postgres"):
        await seed_postgres.ensure_database(params.db_url, log)
    database = Database(params.db_url, pool_size=1)
    try:
        await migrate.upgrade(database)
        if database.dialect_name == "postgresql":
            await _empty(database)
        store: PayloadStore = open_store(params.resolved_store_url)
        tenants = []
        async with database.transaction() as connection:
            service = TenantService(connection)
            for t in range(params.tenants):
                tenant = await service.create_tenant(f"bench-{t}")
                issued = await ApiKeyService(connection, tenant.id).create(Role.ADMIN, "bench admin key")
                tenants.append({"id": tenant.id, "uuid": tenant.uuid, "name": tenant.name, "key": issued.key})
        assert [t["id"] for t in tenants] == list(range(1, params.tenants + 1)), "seeding needs an empty database"

        counts = tenant_rows(params.payloads, params.tenants)
        rows0 = counts[0]
        # Bytes first (as a capture does), then the records that point at them. Tenant-0 index 0 holds the big one.
        stored: dict[int, dict[str, Any]] = {}
        log(f"  writing {params.sample} x {params.sample_bytes} B and 1 x {params.big_bytes // MIB} MiB to the store")
        result = await store.put_stream(store.new_key(), _big_chunks(params.big_bytes), max_bytes=None)
        stored[0] = {"store_key": result.key, "size": result.size, "sha256": result.sha256,
                     "content_type": "application/octet-stream"}  # fmt: skip
        for j, k in enumerate(spread(params.sample, rows0 - 1)):
            data = payload_bytes(j, params.sample_bytes)
            result = await store.put_stream(store.new_key(), _chunks(data), max_bytes=None)
            stored[k + 1] = {"store_key": result.key, "size": result.size, "sha256": result.sha256}
        bytes_seconds = time.perf_counter() - started

        if database.dialect_name == "postgresql":
            log(f"  copying {params.payloads:,} payload records (COPY, indexes rebuilt after the load)")
            await seed_postgres.copy_payloads(params, stored, log)
        else:
            log(f"  inserting {params.payloads:,} payload records in batches of {BATCH:,}")
            await _insert_all(
                database, payload_metadata, params.payloads, lambda a, b: _payload_batch(a, b, params, stored)
            )
        # The ids of tenant-0 records whose bytes are in the store.
        ids_by_k = {}
        wanted = set(stored)
        for i in range(params.payloads):
            t, k = tenant_of(i, params.tenants)
            if t == 0 and k in wanted:
                ids_by_k[k] = i + 1
                if len(ids_by_k) == len(wanted):
                    break

        log(f"  inserting {params.metadatas:,} metadatas")
        meta_rows0 = tenant_rows(params.metadatas, params.tenants)[0]
        chosen = set(spread(UUID_SAMPLE + UPDATE_POOL, meta_rows0))
        uuids: dict[int, str] = {}
        for n in range(params.metadatas):
            t, k = tenant_of(n, params.tenants)
            if t == 0 and k in chosen:
                uuids[n] = str(uuid.uuid4())
        await _insert_all(database, metadatas, params.metadatas, lambda a, b: _metadata_batch(a, b, params, uuids))

        def finish(connection: SyncConnection) -> None:
            if connection.dialect.name == "postgresql":
                for table in ("payload_metadata", "metadatas"):
                    connection.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                    )
                connection.exec_driver_sql("ANALYZE")

        await database.run_sync(finish)
        # The per-tenant totals are kept by the repository on each insert; a bulk load bypasses it, so recount.
        await maintenance.recount_totals(database)
        if database.dialect_name == "sqlite":
            await database.run_sync(lambda c: c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)"))
    finally:
        await database.dispose()
    await asyncio.sleep(0.05)  # let obstore's threads finish before the loop closes

    uuid_list = [uuids[n] for n in sorted(uuids)]
    runs0 = (rows0 + RECORDS_PER_RUN - 1) // RECORDS_PER_RUN
    return {
        "params": asdict(params),
        "database_url": params.db_url,
        "store_url": params.resolved_store_url,
        "tenants": tenants,
        "rows_per_tenant": counts,
        "runs0": [run_of(0, r * RECORDS_PER_RUN, params.tenants) for r in range(runs0)],
        "payload_ids0_count": rows0,
        "sample_ids": [ids_by_k[k] for k in sorted(stored) if k != 0],
        "sample_keys": [stored[k]["store_key"] for k in sorted(stored) if k != 0],
        "big_id": ids_by_k[0],
        "big_key": stored[0]["store_key"],
        "big_bytes": stored[0]["size"],
        "metadata_uuids": uuid_list[UPDATE_POOL:] or uuid_list,
        "update_pool": uuid_list[:UPDATE_POOL],
        "types": TYPES,
        "words": WORDS,
        "bytes_seconds": round(bytes_seconds, 1),
        "seed_seconds": round(time.perf_counter() - started, 1),
        "seeded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


async def _upgrade(url: str) -> None:
    database = Database(url, pool_size=1)
    try:
        await migrate.upgrade(database)
    finally:
        await database.dispose()


def _still_there(params: SeedParams) -> bool:
    """A PostgreSQL dataset lives outside var/bench/: its manifest alone does not prove the rows are still there."""
    if not params.db_url.startswith("postgres"):
        return True
    return asyncio.run(seed_postgres.payload_total(params.db_url)) == params.payloads


def ensure(params: SeedParams, *, reseed: bool, log: Any = print) -> dict[str, Any]:
    """The manifest of a seeded dataset with ``params``: reused when present, seeded otherwise."""
    manifest_file = params.directory / "manifest.json"
    if manifest_file.exists() and not reseed:
        manifest: dict[str, Any] = json.loads(manifest_file.read_text())
        if manifest.get("complete") and _still_there(params):
            asyncio.run(_upgrade(params.db_url))  # the schema may have moved on since it was seeded, as serve would
            manifest["reused"] = True
            log(f"Reusing the dataset in {params.directory} (seeded in {manifest['seed_seconds']} s); --reseed to redo")
            return manifest
    if params.directory.exists():
        shutil.rmtree(params.directory)
    params.directory.mkdir(parents=True)
    log(f"Seeding {params.payloads:,} payloads, {params.metadatas:,} metadatas, {params.tenants} tenants "
        f"into {params.directory}")  # fmt: skip
    manifest = asyncio.run(_seed(params, log))
    manifest["complete"] = True
    manifest_file.write_text(json.dumps(manifest, indent=1) + "\n")
    manifest_file.chmod(0o600)  # it holds plaintext admin keys
    log(f"Seeded in {manifest['seed_seconds']} s (store bytes {manifest['bytes_seconds']} s)")
    manifest["reused"] = False
    return manifest
