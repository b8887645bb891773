"""What a capture costs, counted rather than timed: captures of 1 KiB straight through the ASGI app, in-process.

On a shared machine S7's captures/s swing by 30-50% between runs of the same code; counts do not. This prints the
SQL statements a capture runs (SQLite's trace callback: every statement the driver runs, ``BEGIN`` and ``COMMIT``
included), CPU per capture, Python calls per capture (cProfile) and the WAL's size at the end. Run it under
``strace -f -c -o FILE`` for the system calls (``pread64``, ``fdatasync``: SQLite's page reads and syncs), once per
code to compare, each from its own worktree (the code imported is the working directory's).

Run: `.venv/bin/python -m bench.capture_counts [--database-url URL] [--captures 800] [--concurrency 16]
[--writer-key KEY]`. The default URL is a new SQLite file; a PostgreSQL URL must name an empty database. With
``--writer-key`` the database is taken as set up already (so that two processes, like two workers, can capture
into one database): give ``--setup-only`` to a first run to migrate it and print a writer key.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import logging
import os
import pstats
import re
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STATEMENTS: collections.Counter[str] = collections.Counter()
_tracing = [False]
_connect = sqlite3.connect
BODY = b'{"bench":true,"pad":"' + b"x" * (1024 - 24) + b'"}'


def _note(statement: str) -> None:
    if _tracing[0]:  # values are bound into the traced text: blank them so that one statement counts once
        STATEMENTS[re.sub(r"\b\d+\b|'[^']*'", "?", " ".join(statement.split()))[:170]] += 1


def _traced_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
    connection: sqlite3.Connection = _connect(*args, **kwargs)
    connection.set_trace_callback(_note)
    return connection


def _scope(query: str, headers: dict[str, str]) -> dict[str, Any]:
    path = "/api/v1/payload-metadata"
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()] + [(b"host", b"x")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


async def _capture(app: Any, n: int, key: str) -> None:
    sent: list[dict[str, Any]] = []
    given = [False]

    async def receive() -> dict[str, Any]:
        if given[0]:  # the body is whole: what follows would be a disconnect
            await asyncio.sleep(3600)
        given[0] = True
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    # S7's runs: far above any seeded one, so a bench database can be cleaned as bench.scenarios does
    query = f"flow_run_id={9_000_000_000 + n % 1000}&flow_step_id={n % 10 + 1}"
    headers = {"Authorization": key, "Content-Type": "application/json", "Content-Length": str(len(BODY))}
    await app(_scope(query, headers), receive, send)
    assert sent[0]["status"] == 201, sent


def _wal_bytes(url: str) -> int | None:
    wal = url.removeprefix("sqlite:///") + "-wal"
    return os.path.getsize(wal) if url.startswith("sqlite") and os.path.exists(wal) else None


def _print_statements(title: str, captures: int) -> None:
    print(f"statements per capture ({title}):")
    for statement, count in STATEMENTS.most_common():
        print(f"  {count / captures:5.2f} {statement}")
    STATEMENTS.clear()


async def _measure(url: str, key: str, captures: int, concurrency: int) -> None:
    from metadock.app import create_app
    from metadock.settings import Settings

    data_dir = tempfile.mkdtemp()
    app = create_app(Settings(database_url=url, store_url=f"file://{data_dir}/payloads", data_dir=Path(data_dir)))
    with open(os.devnull, "w") as devnull:  # noqa: ASYNC230 - once, before anything is measured
        for handler in logging.getLogger("metadock").handlers:
            handler._stream = devnull  # type: ignore[attr-defined]
        async with app.lifespan():

            async def batch(start: int, count: int) -> None:
                await asyncio.gather(*(_capture(app, start + n, key) for n in range(count)))

            for n in range(200):
                await _capture(app, n, key)
            _tracing[0] = True
            for n in range(100):
                await _capture(app, 500 + n, key)
            _tracing[0] = False
            _print_statements("one at a time", 100)
            _tracing[0] = True
            await batch(700, 10 * concurrency)
            _tracing[0] = False
            _print_statements(f"{concurrency} at a time", 10 * concurrency)
            profiler = cProfile.Profile()
            done, started = 0, time.process_time()
            profiler.enable()
            while done < captures:
                await batch(1000 + done, concurrency)
                done += concurrency
            profiler.disable()
            cpu = time.process_time() - started
            stats = pstats.Stats(profiler)
            print(f"Python calls per capture {stats.total_calls / done:.0f} (cProfile)")  # type: ignore[attr-defined]
            print(f"CPU {cpu / done * 1e6:.0f} µs per capture (profiled), {done} captures")
            print(f"WAL {_wal_bytes(url)} bytes (before the app's last connection checkpoints it away)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--captures", type=int, default=800)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--writer-key", default=None)
    parser.add_argument("--setup-only", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, os.getcwd())
    sqlite3.connect = _traced_connect  # type: ignore[assignment]  # before SQLAlchemy's driver connects
    sqlite3.dbapi2.connect = _traced_connect  # type: ignore[assignment]
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/metadock.db"
    import metadock

    print("code:", os.path.dirname(metadock.__file__))
    key = args.writer_key
    if key is None:
        from metadock import migrate
        from metadock.kit.db import Database
        from tests.factories import create_tenant

        async def upgrade() -> None:
            database = Database(url, pool_size=1)
            await migrate.upgrade(database)
            await database.dispose()

        asyncio.run(upgrade())
        key = create_tenant(url, "bench").writer
        if args.setup_only:
            print("writer key:", key)
            return
    asyncio.run(_measure(url, key, args.captures, args.concurrency))


if __name__ == "__main__":
    main()
