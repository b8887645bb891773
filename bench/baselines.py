"""Baselines measured in the same run: datasette on the same SQLite file, nginx (sendfile) on the same payload files,
and the database limit (the list endpoint's page + count SQL, timed in-process with the driver)."""

from __future__ import annotations

import asyncio
import getpass
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Result, make_url
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement

from bench.install_tools import nginx_binary
from bench.server import free_port, stop_process
from metadock.kit import postgres
from metadock.kit.db import Connection, Database
from metadock.payloads.query import parse_list_query
from metadock.payloads.repository import PayloadRepository

DATASETTE = str(Path(sys.executable).with_name("datasette"))


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    base_url: str

    def stop(self) -> None:
        stop_process(self.process)


def _wait(service: Service, path: str, log: Path) -> Service:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            break
        try:
            if httpx.get(service.base_url + path, timeout=2).status_code < 500:
                return service
        except httpx.TransportError:
            time.sleep(0.2)
    service.stop()
    raise RuntimeError(f"{service.name} did not start:\n{log.read_text() if log.exists() else ''}")


def start_datasette(db_file: Path, work_dir: Path) -> Service:
    """datasette serving the SQLite file read-only and immutable (it may then skip locking and cache what it can)."""
    port = free_port()
    log = work_dir / "datasette.log"
    command = [
        DATASETTE, "serve", "-i", str(db_file), "-h", "127.0.0.1", "-p", str(port),
        "--setting", "sql_time_limit_ms", "10000", "--setting", "suggest_facets", "off",
        "--setting", "default_page_size", "100", "--setting", "max_returned_rows", "1000",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    return _wait(Service("datasette", process, f"http://127.0.0.1:{port}"), "/-/versions.json", log)


def datasette_path(db_name: str, tenant_id: int, run_id: int) -> str:
    """Metadock's S3 query as datasette's JSON API spells it: same filter, order and page size, with the total."""
    return f"/{db_name}/payload_metadata.json?tenant_id={tenant_id}&flow_run_id={run_id}&_sort=id&_size=100"


def start_nginx(root: Path, work_dir: Path) -> Service:
    """nginx with sendfile serving ``root`` (the file store's directory) on a free port, in the foreground."""
    port = free_port()
    prefix = work_dir / "nginx"
    prefix.mkdir(parents=True, exist_ok=True)
    user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {name}_temp_path {prefix / name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (prefix / "nginx.conf").write_text(
        f"""{user}daemon off;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
{temp}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ }}
    }}
}}
"""
    )
    log = prefix / "error.log"
    command = [nginx_binary() or "nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(log)]
    process = subprocess.Popen(command, stdout=(prefix / "stdout.log").open("wb"), stderr=subprocess.STDOUT)
    return _wait(Service("nginx", process, f"http://127.0.0.1:{port}"), "/", log)


# --- the database limit ------------------------------------------------------------------------------------------


class _Recorder(Connection):
    """Runs a repository's statements on a real connection and keeps them compiled, to replay with the bare driver."""

    def __init__(self, inner: Connection, dialect: Any) -> None:
        self.inner = inner
        self.dialect = dialect
        self.statements: list[tuple[str, list[Any]]] = []

    @property
    def dialect_name(self) -> str:
        return self.inner.dialect_name

    async def execute(self, statement: Executable, parameters: dict[str, Any] | None = None) -> Result[Any]:
        assert isinstance(statement, ClauseElement)
        compiled: Any = statement.compile(dialect=self.dialect)
        names = compiled.positiontup or []
        values = compiled.construct_params(parameters or {})  # the statements bind their values at execution
        self.statements.append((str(compiled), [values[name] for name in names]))
        return await self.inner.execute(statement, parameters)


async def record_list_statements(
    url: str, tenant_id: int, queries: list[list[tuple[str, str]]]
) -> list[list[tuple[str, list[Any]]]]:
    """The SQL that ``GET /api/v1/payload-metadata?<query>`` runs, per query, taken from the repository itself."""
    database = Database(url, pool_size=1)
    dialect = sqlite.dialect(paramstyle="qmark") if database.dialect_name == "sqlite" else postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]
    recorded = []
    try:
        for params in queries:
            # Once unrecorded first: a deep page's first request walks to its offset anchors (kit/keyset.py), which a
            # running server does once per query shape; the statements recorded are those every later request runs.
            async with database.transaction() as connection:
                await PayloadRepository(connection, tenant_id).list_page(parse_list_query(params))
            async with database.transaction() as connection:
                recorder = _Recorder(connection, dialect)
                await PayloadRepository(recorder, tenant_id).list_page(parse_list_query(params))
                recorded.append(recorder.statements)
    finally:
        await database.dispose()
    return recorded


@dataclass
class DbTiming:
    scenario: str
    iterations: int
    p50_ms: float
    p99_ms: float
    statement_p50_ms: list[float]  # each statement of the request, in order (e.g. the page, then the count)
    plan: str


def _summary(scenario: str, samples: list[list[float]], plan: str) -> DbTiming:
    totals = sorted(sum(sample) for sample in samples)
    p99 = totals[min(len(totals) - 1, round(0.99 * (len(totals) - 1)))]
    width = min(len(sample) for sample in samples)
    per_statement = [statistics.median(sample[i] for sample in samples) * 1e3 for i in range(width)]
    return DbTiming(scenario, len(totals), statistics.median(totals) * 1e3, p99 * 1e3, per_statement, plan)


Cases = dict[str, list[list[tuple[str, list[Any]]]]]


def _time_sqlite(db_file: Path, cases: Cases, budget_s: float) -> list[DbTiming]:
    connection = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    results = []
    try:
        for scenario, requests in cases.items():
            plan = "; ".join(
                " / ".join(row[3] for row in connection.execute("EXPLAIN QUERY PLAN " + sql, params))
                for sql, params in requests[0]
            )
            for sql, params in requests[0] * 2:  # warm the page cache
                connection.execute(sql, params).fetchall()
            samples: list[list[float]] = []
            deadline = time.perf_counter() + budget_s
            while time.perf_counter() < deadline and len(samples) < 2000:
                sample = []
                for sql, params in random.choice(requests):
                    started = time.perf_counter()
                    connection.execute(sql, params).fetchall()
                    sample.append(time.perf_counter() - started)
                samples.append(sample)
            results.append(_summary(scenario, samples, plan))
    finally:
        connection.close()
    return results


async def _time_postgres(url: str, cases: Cases, budget_s: float) -> list[DbTiming]:
    import asyncpg  # type: ignore[import-untyped]

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    # The server's plans: its connections' settings (generic plans, metadock/kit/postgres.py), a replay's too.
    connection = await asyncpg.connect(dsn, server_settings=postgres.SERVER_SETTINGS)
    results = []
    try:
        for scenario, requests in cases.items():
            plans = []
            for sql, params in requests[0]:
                rows = await connection.fetch("EXPLAIN " + sql, *params)
                plans.append(" / ".join(row[0].strip() for row in rows[:3]))
                await connection.fetch(sql, *params)
            samples: list[list[float]] = []
            deadline = time.perf_counter() + budget_s
            while time.perf_counter() < deadline and len(samples) < 2000:
                sample = []
                for sql, params in random.choice(requests):
                    started = time.perf_counter()
                    await connection.fetch(sql, *params)
                    sample.append(time.perf_counter() - started)
                samples.append(sample)
            results.append(_summary(scenario, samples, "; ".join(plans)))
    finally:
        await connection.close()
    return results


def time_database(
    url: str, tenant_id: int, queries: dict[str, list[list[tuple[str, str]]]], budget_s: float
) -> list[DbTiming]:
    """Median and p99 of the SQL each list request runs (recorded from the repository), replayed with the driver."""
    cases = {scenario: asyncio.run(record_list_statements(url, tenant_id, q)) for scenario, q in queries.items()}
    if url.startswith("sqlite"):
        database = make_url(url).database
        assert database
        return _time_sqlite(Path(database), cases, budget_s)
    return asyncio.run(_time_postgres(url, cases, budget_s))
