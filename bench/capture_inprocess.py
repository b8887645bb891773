"""Cost of a small capture straight through the ASGI app: no HTTP client, no sockets, one process.

An HTTP run on this shared machine moves by ±20% between runs of the same code; a capture's process time (and, on
PostgreSQL, its wall time at concurrency 1, which includes the database's own work) in-process moves far less. Made
for the webhooks outbox (a tenant without subscriptions must pay almost nothing): run it on this code and on the
previous one (``--code DIR``, a ``git archive <commit> metadock tests`` of it), alternating.

Run: `.venv/bin/python -m bench.capture_inprocess [--database-url URL] [--seconds 3] [--code DIR]`. The default URL
is a new SQLite file; a PostgreSQL URL names a server: a database of its own is created there and dropped after.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
import uuid
from typing import Any

BODY = b'{"order": {"id": 1234, "lines": [' + b'{"sku": "ABC-123", "qty": 1},' * 30 + b"{}]}}"  # ~1 KiB


async def _capture(app: Any, key: str, run_id: int) -> int:
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/payload-metadata",
        "raw_path": b"/api/v1/payload-metadata",
        "query_string": f"flow_run_id={run_id}&flow_step_id=1".encode(),
        "root_path": "",
        "headers": [
            (b"authorization", key.encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
            (b"host", b"x"),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


async def _measure(url: str, seconds: float) -> None:
    from metadock import migrate
    from metadock.app import create_app
    from metadock.kit.db import Database
    from metadock.settings import Settings
    from tests.factories import create_tenant

    database = Database(url, pool_size=1)
    await migrate.upgrade(database)
    await database.dispose()
    keys = await asyncio.to_thread(create_tenant, url, "bench")
    data_dir = tempfile.mkdtemp()
    app = create_app(Settings(database_url=url, store_url=f"file://{data_dir}/payloads", data_dir=data_dir))
    with open(os.devnull, "w") as devnull:  # noqa: ASYNC230 - once, before anything is measured
        for handler in logging.getLogger("metadock").handlers:
            handler._stream = devnull  # type: ignore[attr-defined]
        async with app.lifespan():
            for n in range(200):
                assert await _capture(app, keys.writer, n + 1) == 201
            calls, started, wall = 0, time.process_time(), time.perf_counter()
            while time.process_time() - started < seconds:
                for n in range(20):
                    await _capture(app, keys.writer, n + 1)
                calls += 20
            cpu, elapsed = time.process_time() - started, time.perf_counter() - wall
    print(f"capture 1 KiB  {cpu / calls * 1e6:8.1f} µs CPU  {elapsed / calls * 1e6:8.1f} µs wall  ({calls} captures)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--code", default=None)
    args = parser.parse_args()
    if args.code:
        sys.path.insert(0, args.code)
    url = args.database_url
    if url is None:
        url = f"sqlite:///{tempfile.mkdtemp()}/capture.db"
        asyncio.run(_measure(url, args.seconds))
        return
    import asyncpg
    from sqlalchemy import make_url

    name = f"capture_inprocess_{uuid.uuid4().hex[:8]}"
    admin = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(_measure(make_url(url).set(database=name).render_as_string(hide_password=False), args.seconds))
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
