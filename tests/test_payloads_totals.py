"""The exact total of an unfiltered list is maintained with the rows (not counted per request): it must stay exact."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import update

from metadock.kit.db import Connection
from metadock.payloads.repository import PayloadMaintenanceRepository
from metadock.payloads.table import payload_counts
from metadock.settings import Settings
from tests.factories import TenantKeys, capture_payload, run_in_transaction
from tests.reliability.audit import assert_totals_match_rows
from tests.reliability.servers import serve, server_env

PAYLOADS = "/api/v1/payload-metadata"


def _unfiltered_total(client: TestClient[Litestar], tenant: TenantKeys) -> int:
    # per_page=1 makes the first page full, so the total comes from the maintained count, not from the page length.
    body = client.get(PAYLOADS, params={"per_page": 1}, headers=tenant.headers()).json()
    total: int = body["meta"]["total"]
    return total


def test_total_follows_captures_and_deletes_per_tenant(
    client: TestClient[Litestar], tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    records = [capture_payload(client, tenant.headers("writer"), flow_run_id=run) for run in (1, 1, 2)]
    capture_payload(client, other_tenant.headers("writer"))
    assert _unfiltered_total(client, tenant) == 3
    assert client.delete(f"{PAYLOADS}/{records[0]['id']}", headers=tenant.headers()).status_code == 204
    assert client.delete(f"{PAYLOADS}/{records[0]['id']}", headers=tenant.headers()).status_code == 404
    assert _unfiltered_total(client, tenant) == 2
    assert _unfiltered_total(client, other_tenant) == 1
    filtered = client.get(PAYLOADS, params={"filter[flow_run_id]": 1, "per_page": 1}, headers=tenant.headers())
    assert filtered.json()["meta"]["total"] == 1


def test_recount_rebuilds_totals_from_the_rows(
    client: TestClient[Litestar], tenant: TenantKeys, settings: Settings
) -> None:
    for _ in range(3):
        capture_payload(client, tenant.headers("writer"))

    async def corrupt(connection: Connection) -> None:
        await connection.execute(update(payload_counts).values(total=99))

    async def recount(connection: Connection) -> None:
        await PayloadMaintenanceRepository(connection).recount_totals()

    run_in_transaction(settings.database_url, corrupt)
    assert _unfiltered_total(client, tenant) == 99  # the list reads the maintained total...
    run_in_transaction(settings.database_url, recount)
    assert _unfiltered_total(client, tenant) == 3  # ...which a recount rebuilds from the rows


def test_totals_stay_exact_under_concurrent_captures_on_two_workers(
    database_url: str, tmp_path: Path, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    """Each capture adds its record and its tenant's total together (one statement on PostgreSQL): captures racing
    on both workers and both tenants lose no increment."""
    captures = {tenant.writer: 45, other_tenant.writer: 15}
    # The tenants exist already, so the server prints no key of its own: it is handed one.
    server = serve(server_env(database_url, tmp_path), tmp_path / "server.log", "--workers", "2", api_key=tenant.admin)
    try:

        async def race() -> dict[str, int]:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:

                async def capture(key: str, n: int) -> None:
                    params = {"flow_run_id": n % 3 + 1, "flow_step_id": 1}
                    response = await client.post(
                        PAYLOADS, params=params, content=b"x" * n, headers={"Authorization": key}
                    )
                    assert response.status_code == 201, response.text

                await asyncio.gather(*(capture(key, n) for key, count in captures.items() for n in range(count)))
                totals = {}
                for key in captures:
                    client.headers["Authorization"] = key
                    totals[key] = await assert_totals_match_rows(client)
                return totals

        assert asyncio.run(race()) == captures
    finally:
        server.stop()
