"""The request owns its transaction (kit/unit_of_work.py): what a handler writes is committed when it returns and
gone when it raises; a block of ``unit.transaction()`` stands whatever follows; reads continue authentication's
transaction and other methods hold no connection while their body arrives. On both databases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.testing import TestClient

from metadock.app import create_app
from metadock.kit.context import runtime_of
from metadock.kit.errors import conflict
from metadock.kit.unit_of_work import SMALL_BODY_BYTES, TRANSACTION, Begins, RequestUnitOfWork
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


@post("/test/small", opt={TRANSACTION: Begins.WITH_AUTHENTICATION_IF_SMALL})
async def connections_held_by_a_small_body(request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> dict[str, int]:
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
    app.register(connections_held_by_a_small_body)
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


def test_a_small_announced_body_continues_authentications_transaction(app_client: Client, tenant: TenantKeys) -> None:
    response = app_client.post("/test/small", content=b"x" * SMALL_BODY_BYTES, headers=tenant.headers("writer"))

    assert response.status_code == 201
    assert response.json() == {"max_while_streaming": 1, "after_first_use": 1}


def test_a_larger_or_unannounced_body_on_the_same_route_holds_no_connection_while_it_streams(
    app_client: Client, tenant: TenantKeys
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(2):
            yield b"x" * 1024

    larger = app_client.post("/test/small", content=b"x" * (SMALL_BODY_BYTES + 1), headers=tenant.headers("writer"))
    chunked = app_client.post("/test/small", content=chunks(), headers=tenant.headers("writer"))

    for response in (larger, chunked):
        assert response.status_code == 201
        assert response.json() == {"max_while_streaming": 0, "after_first_use": 1}


def test_a_failed_authentication_leaves_no_connection_behind(app_client: Client, settings: Settings) -> None:
    for _ in range(3):
        assert app_client.get("/test/connections", headers={"Authorization": "mdk_wrong"}).status_code == 401
    assert app_client.get("/metrics").status_code == 200
    assert 'metadock_database_connections{state="in_use"} 0.0' in app_client.get("/metrics").text
