"""The request owns its transaction (kit/unit_of_work.py): what a handler writes is committed when it returns and
gone when it raises; a block of ``unit.transaction()`` stands whatever follows; reads continue authentication's
transaction and other methods hold no connection while their body arrives. On both databases."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.testing import TestClient

from metadock.app import create_app
from metadock.kit.context import STATE_KEY, runtime_of
from metadock.kit.errors import conflict
from metadock.kit.unit_of_work import TRANSACTION, Begins, RequestUnitOfWork
from metadock.settings import Settings
from metadock.tenants.service import TenantService
from tests.factories import TenantKeys, run_in_transaction

Client = TestClient[Litestar]


@post("/test/tenants/{name:str}", status_code=201)
async def create_then_maybe_fail(name: FromPath[str], fail: FromQuery[bool], unit: RequestUnitOfWork) -> None:
    await TenantService(await unit.connection()).create_tenant(name)
    if fail:
        raise conflict("the handler failed after writing")


@post("/test/blocks/{name:str}", status_code=201)
async def block_then_fail(name: FromPath[str], unit: RequestUnitOfWork) -> None:
    async with unit.transaction() as connection:
        await TenantService(connection).create_tenant(name)
    raise conflict("the handler failed after its block committed")


@get("/test/connections")
async def connections_held_by_a_read(request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> dict[str, int]:
    before = runtime_of(request).database.in_use
    await unit.connection()
    return {"before_first_use": before, "after_first_use": runtime_of(request).database.in_use}


@get("/test/fresh", opt={TRANSACTION: Begins.AT_FIRST_USE})
async def a_read_declared_fresh(request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> dict[str, int]:
    before = runtime_of(request).database.in_use
    await unit.connection()
    return {"before_first_use": before, "after_first_use": runtime_of(request).database.in_use}


@post("/test/stream")
async def connections_while_the_body_streams(
    request: Request[Any, Any, Any], unit: RequestUnitOfWork
) -> dict[str, int]:
    held = []
    async for _chunk in request.stream():
        held.append(runtime_of(request).database.in_use)
    await unit.connection()
    return {"max_while_streaming": max(held), "after_first_use": runtime_of(request).database.in_use}


@pytest.fixture
def app_client(settings: Settings) -> Iterator[Client]:
    app = create_app(settings)
    for handler in (create_then_maybe_fail, block_then_fail, connections_held_by_a_read, a_read_declared_fresh):
        app.register(handler)
    app.register(connections_while_the_body_streams)
    with TestClient(app) as client:
        yield client


def _tenant_names(database_url: str) -> set[str]:
    async def work(connection: Any) -> set[str]:
        return {tenant.name for tenant in await TenantService(connection).list_tenants()}

    return run_in_transaction(database_url, work)


def test_a_handler_that_returns_commits_and_one_that_raises_leaves_nothing(
    app_client: Client, tenant: TenantKeys, database_url: str
) -> None:
    ok = app_client.post("/test/tenants/kept", params={"fail": "false"}, headers=tenant.headers("writer"))
    failed = app_client.post("/test/tenants/dropped", params={"fail": "true"}, headers=tenant.headers("writer"))

    assert ok.status_code == 201
    assert failed.status_code == 409
    names = _tenant_names(database_url)
    assert "kept" in names
    assert "dropped" not in names


def test_a_transaction_block_stands_when_the_handler_fails_after_it(
    app_client: Client, tenant: TenantKeys, database_url: str
) -> None:
    response = app_client.post("/test/blocks/counted", headers=tenant.headers("writer"))

    assert response.status_code == 409
    assert "counted" in _tenant_names(database_url)


def test_a_read_continues_the_transaction_its_authentication_began(app_client: Client, tenant: TenantKeys) -> None:
    body = app_client.get("/test/connections", headers=tenant.headers("reader")).json()

    assert body == {"before_first_use": 1, "after_first_use": 1}


def test_a_route_may_declare_that_its_transaction_begins_afresh(app_client: Client, tenant: TenantKeys) -> None:
    body = app_client.get("/test/fresh", headers=tenant.headers("reader")).json()

    assert body == {"before_first_use": 0, "after_first_use": 1}


def test_no_connection_is_held_while_a_body_streams_in(app_client: Client, tenant: TenantKeys) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield b"x" * 1024

    response = app_client.post("/test/stream", content=chunks(), headers=tenant.headers("writer"))

    assert response.status_code == 201
    assert response.json() == {"max_while_streaming": 0, "after_first_use": 1}


def test_a_small_capture_holds_no_connection_while_its_body_arrives(settings: Settings, tenant: TenantKeys) -> None:
    # Straight through the ASGI app: the test client hands a body over whole, and this one must arrive in two parts,
    # the second asked for while the connections held are counted. A capture that continued authentication's
    # transaction would hold one here (and across its store write), which cost SQLite ~15% of its captures/s.
    app = create_app(settings)
    body = b'{"pad":"' + b"x" * 1014 + b'"}'
    headers = [
        (b"authorization", tenant.headers("writer")["Authorization"].encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"host", b"test"),
    ]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/api/v1/payload-metadata", "raw_path": b"/api/v1/payload-metadata", "root_path": "",
        "query_string": b"flow_run_id=7&flow_step_id=1", "headers": headers,
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    parts = [body[:512], body[512:]]
    held_while_arriving: list[int] = []
    sent: list[dict[str, Any]] = []

    async def capture() -> None:
        async def receive() -> dict[str, Any]:
            if len(parts) == 1:
                held_while_arriving.append(app.state[STATE_KEY].database.in_use)
            return {"type": "http.request", "body": parts.pop(0), "more_body": bool(parts)}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        async with app.lifespan():
            await app(scope, receive, send)  # type: ignore[arg-type]

    asyncio.run(capture())

    assert sent[0]["status"] == 201
    assert held_while_arriving == [0]


def test_a_failed_authentication_leaves_no_connection_behind(app_client: Client, settings: Settings) -> None:
    for _ in range(3):
        assert app_client.get("/test/connections", headers={"Authorization": "mdk_wrong"}).status_code == 401
    assert app_client.get("/metrics").status_code == 200
    assert 'metadock_database_connections{state="in_use"} 0.0' in app_client.get("/metrics").text
