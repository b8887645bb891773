"""What the fused statement of reading ahead (kit/read_ahead.py) costs PostgreSQL against the two it replaces.

On an existing PostgreSQL database with API keys and payload records (e.g. ``metadock_bench_10m``), under
``plan_cache_mode = force_generic_plan`` as Metadock's connections run: the credential's lookup and the record's read
(``lookup+read``, two statements), the fused statement as built (``fused``: the credential a materialised CTE, as it
is referenced twice), the same with ``NOT MATERIALIZED`` (``not-materialized``: inlined twice) and with the tenant's
subquery probing ``api_keys`` again by the same hash (``probe-again``). Rounds alternate, in turn reversed:

- the backend's CPU time per execution (utime + stime from /proc, so PostgreSQL must run on this machine) and the
  client's wall time per execution, from prepared statements run back to back;
- ``EXPLAIN (ANALYZE, BUFFERS) EXECUTE`` of each prepared statement: execution time (median) and shared buffers.

Run: `.venv/bin/python -m bench.read_ahead_cost --database-url postgresql://postgres@127.0.0.1:5432/<db>
[--executions 4000] [--rounds 10] [--explains 600]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
from typing import Any

import asyncpg
from sqlalchemy.dialects import postgresql

from metadock.api_keys.repository import credential_query
from metadock.kit import postgres
from metadock.kit.read_ahead import TENANT_PARAMETER, fused, fused_parameters
from metadock.payloads.repository import PayloadRepository

_DIALECT = postgresql.asyncpg.dialect()  # type: ignore[attr-defined]
_TICK = os.sysconf("SC_CLK_TCK")
_CREDENTIAL_TENANT = "(SELECT credential.tenant_id \nFROM credential \nWHERE credential.revoked_at IS NULL)"
_PROBE_AGAIN = (
    "(SELECT api_keys.tenant_id FROM api_keys WHERE api_keys.key_hash = $1::VARCHAR AND api_keys.revoked_at IS NULL)"
)

Statements = dict[str, list[tuple[str, list[Any]]]]


def _compiled(statement: Any, parameters: dict[str, Any]) -> tuple[str, list[Any]]:
    compiled = statement.compile(dialect=_DIALECT)
    return str(compiled), [parameters[name] for name in compiled.positiontup]


def _backend_cpu(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
    return (int(fields[11]) + int(fields[12])) / _TICK


async def _statements(connection: asyncpg.Connection) -> Statements:
    key_hash, tenant = await connection.fetchrow(
        "SELECT key_hash, tenant_id FROM api_keys WHERE revoked_at IS NULL ORDER BY id LIMIT 1"
    )
    record_id = await connection.fetchval("SELECT max(id) FROM payload_metadata WHERE tenant_id = $1", tenant)
    lookup, read = credential_query(key_hash), PayloadRepository.read_of_get(record_id)
    sql, parameters = _compiled(fused(lookup, read).statement, fused_parameters(lookup, read))
    assert sql.startswith("WITH credential AS \n"), sql
    assert _CREDENTIAL_TENANT in sql, sql
    assert parameters[0] == key_hash, "the probe below names the hash $1"
    return {
        "lookup+read": [
            _compiled(lookup.statement, dict(lookup.parameters)),
            _compiled(read.statement, {**read.parameters, TENANT_PARAMETER: tenant}),
        ],
        "fused": [(sql, parameters)],
        "not-materialized": [
            (sql.replace("WITH credential AS \n", "WITH credential AS NOT MATERIALIZED \n"), parameters)
        ],
        "probe-again": [(sql.replace(_CREDENTIAL_TENANT, _PROBE_AGAIN), parameters)],
    }


def _literal(value: Any) -> str:
    return str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"


async def main(url: str, executions: int, rounds: int, explains: int) -> None:
    connection = await asyncpg.connect(url, server_settings=postgres.SERVER_SETTINGS)  # as the server's
    pid = connection.get_server_pid()
    statements = await _statements(connection)
    prepared = {
        name: [(await connection.prepare(sql), args) for sql, args in parts] for name, parts in statements.items()
    }
    answers = {name: [await statement.fetchrow(*args) for statement, args in parts] for name, parts in prepared.items()}
    assert answers["fused"] == answers["not-materialized"] == answers["probe-again"], answers
    assert all(row is not None for rows in answers.values() for row in rows), answers
    cpu: dict[str, list[float]] = {name: [] for name in prepared}
    wall: dict[str, list[float]] = {name: [] for name in prepared}
    loop = asyncio.get_running_loop()
    for turn in range(rounds):
        for name, parts in prepared.items() if turn % 2 else reversed(list(prepared.items())):
            cpu0, wall0 = _backend_cpu(pid), loop.time()
            for _ in range(executions):
                for statement, args in parts:
                    await statement.fetchrow(*args)
            wall[name].append((loop.time() - wall0) / executions * 1e6)
            cpu[name].append((_backend_cpu(pid) - cpu0) / executions * 1e6)
    explained: dict[str, list[tuple[float, int]]] = {name: [] for name in prepared}
    plans = {}
    for index, (name, parts) in enumerate(statements.items()):
        for part, (sql, args) in enumerate(parts):
            await connection.execute(f"PREPARE cost_{index}_{part} AS {sql}")
            marks = ", ".join(_literal(arg) for arg in args)
            plans[(name, part)] = f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE cost_{index}_{part}({marks})"
    for turn in range(explains):
        for name in statements if turn % 2 else reversed(list(statements)):
            took, hit = 0.0, 0
            for part in range(len(statements[name])):
                plan = json.loads(await connection.fetchval(plans[(name, part)]))[0]
                took += plan["Execution Time"]
                hit += plan["Plan"].get("Shared Hit Blocks", 0)
            explained[name].append((took * 1000, hit))
    await connection.close()
    print(f"{executions} executions x {rounds} rounds; {explains} EXPLAINs each; generic plans")
    print(
        "| statement(s) | backend CPU µs/read (median; min-max of rounds) | client wall µs/read "
        "| EXPLAIN execution µs (median) | shared hits |"
    )
    print("|---|---|---|---|---|")
    for name in prepared:
        print(
            f"| {name} | {statistics.median(cpu[name]):.0f} ({min(cpu[name]):.0f}-{max(cpu[name]):.0f}) "
            f"| {statistics.median(wall[name]):.0f} | {statistics.median(t for t, _ in explained[name]):.0f} "
            f"| {explained[name][-1][1]} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="postgresql://… with api_keys and payload records")
    parser.add_argument("--executions", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--explains", type=int, default=600)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.database_url, arguments.executions, arguments.rounds, arguments.explains))
