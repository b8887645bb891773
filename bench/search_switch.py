"""What re-checking the tenant's content search switch costs an index entry's insert (``payloads/search_repository``):
the entry is written by ``INSERT … SELECT … FROM tenants WHERE id = ? AND content_search`` (so a tenant switched off
while a capture streamed gets no entry after its purge) instead of a plain ``INSERT … VALUES``. SQLite, process time
per statement, both forms alternating in batches of 1,000 in one run (the machine is shared: only the ratio within a
run means anything); the median of 3 batches each.

Run: `.venv/bin/python -m bench.search_switch`
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam

from metadock import migrate
from metadock.kit.db import Database
from metadock.payloads import search_repository
from metadock.tenants.service import TenantService

BATCH = 1000
ROUNDS = 6
BODY = "order 1234 customer acme widget " * 20  # ~650 characters of words

# The statement before the switch existed: the entry, unconditionally.
# The index's own private shapes, measured here.
_PLAIN = search_repository._fts.insert().values(
    rowid=bindparam("payload_id"), tenant_id=bindparam("tenant_id"), body=bindparam("body")
)
_CHECKED = search_repository._INSERT["sqlite"]


async def measure(url: str) -> dict[str, float]:
    database = Database(url, pool_size=1)
    try:
        await migrate.upgrade(database)
        async with database.transaction() as connection:
            tenant = await TenantService(connection).create_tenant("bench")
        timings: dict[str, list[float]] = {"plain": [], "checked": []}
        statements: dict[str, Any] = {"plain": _PLAIN, "checked": _CHECKED}
        payload_id = 0
        for round_number in range(ROUNDS):
            order = ("plain", "checked") if round_number % 2 == 0 else ("checked", "plain")
            for kind in order:
                start = time.process_time()
                async with database.transaction() as connection:
                    for _ in range(BATCH):
                        payload_id += 1
                        parameters = {"payload_id": payload_id, "tenant_id": tenant.id, "body": BODY}
                        await connection.write(statements[kind], parameters)
                timings[kind].append((time.process_time() - start) / BATCH)
        return {kind: sorted(values)[len(values) // 2] for kind, values in timings.items()}
    finally:
        await database.dispose()


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        result = asyncio.run(measure(f"sqlite:///{Path(directory) / 'bench.db'}"))
    plain, checked = result["plain"] * 1e6, result["checked"] * 1e6
    print(f"entry insert, plain:   {plain:7.1f} µs")
    print(f"entry insert, checked: {checked:7.1f} µs  (+{checked - plain:.1f} µs, {checked / plain:.2f}x)")


if __name__ == "__main__":
    main()
