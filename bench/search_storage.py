"""What content search's index costs in storage: bytes of index per MiB of indexed payload text, on SQLite (FTS5) and
PostgreSQL (tsvector + GIN), for JSON documents of order-like data (ids, names, a vocabulary of 5,000 words).

The index is written as captures write it (``payloads/search_repository.add_search_entry``, in transactions of 100)
into a new database made by the real migrations; only the index is measured (the records, tags and bytes are not).
SQLite: the database file's pages before and after (WAL checkpointed); PostgreSQL: ``pg_total_relation_size``
of ``payload_search`` (table, TOAST, GIN index), after a VACUUM ANALYZE (the GIN pending list merged).

Run: `.venv/bin/python -m bench.search_storage [--mib 8] [--postgres-url postgresql://postgres@127.0.0.1:5432/test]`
(the PostgreSQL run makes and drops a database of its own next to the one named).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import uuid

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from metadock import migrate
from metadock.kit.db import Database
from metadock.payloads.search import text_of
from metadock.payloads.search_repository import add_search_entry
from metadock.tenants.service import TenantService

MIB = 1024 * 1024


def _documents(total_bytes: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocabulary = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 10))) for _ in range(5000)]
    documents: list[bytes] = []
    size, order = 0, 100_000
    while size < total_bytes:
        order += 1
        lines = [
            {
                "sku": f"SKU-{rng.randint(1, 99_999)}",
                "qty": rng.randint(1, 50),
                "title": " ".join(rng.sample(vocabulary, 4)),
            }
            for _ in range(rng.randint(5, 40))
        ]
        document = {
            "order": {
                "id": order,
                "customer": {"name": " ".join(rng.sample(vocabulary, 2)).title(), "id": rng.randint(1, 10**6)},
            },
            "notes": " ".join(rng.choices(vocabulary, k=rng.randint(5, 60))),
            "lines": lines,
        }
        body = json.dumps(document).encode()
        documents.append(body)
        size += len(body)
    return documents


async def _size(database: Database) -> int:
    async with database.transaction() as connection:
        if connection.dialect_name == "sqlite":
            await connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            pages = await connection.scalar(text("PRAGMA page_count"))
            free = await connection.scalar(text("PRAGMA freelist_count"))
            page_size = await connection.scalar(text("PRAGMA page_size"))
            return int((pages - free) * page_size)
        return int(await connection.scalar(text("SELECT pg_total_relation_size('payload_search')")))


async def measure(url: str, documents: list[bytes]) -> tuple[int, int]:
    """(bytes of payload text indexed, bytes the index grew by)."""
    database = Database(url, pool_size=1)
    try:
        await migrate.upgrade(database)
        async with database.transaction() as connection:
            tenant = await TenantService(connection).create_tenant("bench")
        before = await _size(database)
        for start in range(0, len(documents), 100):
            async with database.transaction() as connection:
                for offset, body in enumerate(documents[start : start + 100]):
                    await add_search_entry(connection, tenant.id, start + offset + 1, text_of([body]))
        if database.dialect_name == "postgresql":
            await _admin(url, "VACUUM ANALYZE payload_search")  # outside a transaction block
        return sum(map(len, documents)), await _size(database) - before
    finally:
        await database.dispose()


async def _admin(url: str, sql: str) -> None:
    connection = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mib", type=float, default=8.0, help="MiB of payload text to index")
    parser.add_argument("--postgres-url", default=None, help="also measure PostgreSQL (a database is made beside it)")
    args = parser.parse_args()
    documents = _documents(int(args.mib * MIB))
    average = sum(map(len, documents)) // len(documents)
    print(f"{len(documents)} JSON documents, {average} bytes on average")
    results: dict[str, tuple[int, int]] = {}
    results["sqlite (FTS5, detail=none)"] = asyncio.run(measure(f"sqlite:///{tempfile.mkdtemp()}/search.db", documents))
    if args.postgres_url:
        name = f"metadock_search_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        asyncio.run(_admin(args.postgres_url, f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(args.postgres_url).set(database=name).render_as_string(hide_password=False)
            results["postgresql (tsvector, GIN)"] = asyncio.run(measure(url, documents))
        finally:
            asyncio.run(_admin(args.postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    for label, (text_bytes, index_bytes) in results.items():
        per_mib = index_bytes / (text_bytes / MIB)
        print(
            f"{label:28s} {index_bytes / MIB:7.2f} MiB of index for {text_bytes / MIB:.2f} MiB of text: "
            f"{per_mib / MIB:.2f} MiB per MiB ({per_mib / 1024:.0f} KiB)"
        )


if __name__ == "__main__":
    main()
