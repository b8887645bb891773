"""schemathesis over the app's own OpenAPI document, both dialects, on SQLite and PostgreSQL, against a live server.

- Every operation on its own: no input a client can send yields a 5xx.
- Stateful: the document's links (create -> get / update / delete of ``/metadatas/{uuid}``, capture -> get / meta /
  download / delete of ``/api/v1/payload-metadata/{id}``) chain calls on the ids the server returned; no 5xx, and
  every successful response matches its documented schema.

Bounded: a dozen examples per operation and a few short scenarios, so the whole file stays within ~30 s.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from metadock.app import create_app
from metadock.settings import Settings
from tests.conftest import _empty_postgres
from tests.live import LiveServer, first_start

# The document is generated from the code, so it can be loaded without a server; links as /openapi.json has them.
_app = create_app(Settings(database_url="sqlite:///:memory:"))
schema = schemathesis.openapi.from_dict(_app.openapi_schema.to_schema())
LIVE: dict[str, tuple[LiveServer, str]] = {}
DATABASES: dict[str, str] = {}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    root: Path = tmp_path_factory.mktemp("own-openapi")
    if request.param == "sqlite":
        database_url = f"sqlite:///{root / 'metadock.db'}"
    else:
        database_url = request.getfixturevalue("postgres_url")
        _empty_postgres(database_url)  # the first start on an empty database prints the admin key
    with first_start(root, database_url) as (server, key):
        for index in range(1, 6):
            httpx.post(
                f"{server.base_url}/api/v1/payload-metadata",
                params={"flow_run_id": index, "flow_step_id": 1},
                content=b"{}",
                headers={"Authorization": key, "Content-Type": "application/json"},
            ).raise_for_status()
        LIVE["current"] = (server, key)
        DATABASES["current"] = database_url
        yield server, key
        LIVE.pop("current", None)
        DATABASES.pop("current", None)


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_yields_a_server_error(case: Case, live: tuple[LiveServer, str]) -> None:
    server, key = live
    case.call_and_validate(base_url=server.base_url, headers={"Authorization": key}, checks=[not_a_server_error])


def test_the_published_document_links_creations_to_their_item_routes(live: tuple[LiveServer, str]) -> None:
    server, _key = live
    published = httpx.get(f"{server.base_url}/openapi.json").json()
    links = published["paths"]["/metadatas"]["post"]["responses"]["201"]["links"]
    assert links["UpdateMetadata"] == {
        "operationId": "updateMetadata",
        "parameters": {"uuid": "$response.body#/uuid"},
    }
    capture = published["paths"]["/api/v1/payload-metadata"]["post"]["responses"]["201"]["links"]
    assert set(capture) == {"GetPayloadMetadata", "GetPayloadMetadataMeta", "DownloadPayloadMetadata", "DeletePayload"}


def successful_response_conforms(ctx: Any, response: Any, case: Case) -> bool | None:
    """The documented schema is the contract for successes; Litestar documents its own 400 shape, not the dialects'
    error bodies (those are asserted in tests/test_errors.py and tests/test_hostile_input.py)."""
    if response.status_code >= 300:
        return None
    return response_schema_conformance(ctx, response, case)


class OwnApiStateMachine(schema.as_state_machine()):  # type: ignore[misc]
    def get_call_kwargs(self, case: Case) -> dict[str, Any]:
        server, key = LIVE["current"]
        return {"base_url": server.base_url, "headers": {"Authorization": key}}

    def validate_response(self, response: Any, case: Case, additional_checks: Any = None, **kwargs: Any) -> None:
        case.validate_response(response, checks=[not_a_server_error, successful_response_conforms])

    def teardown(self) -> None:
        """Each scenario starts from the same data: Hypothesis replays a scenario's choices and requires the same
        answers to them, and a slug or an email that an earlier scenario created would turn a 201 into a 400."""
        forget_what_scenarios_created(DATABASES["current"])


def forget_what_scenarios_created(database_url: str) -> None:
    statements = ["DELETE FROM metadatas", "DELETE FROM users WHERE email <> 'admin@localhost'"]
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            for statement in statements:
                connection.execute(statement)
        return

    async def run() -> None:
        connection = await asyncpg.connect(database_url)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run())


def test_stateful_scenarios_follow_the_links_without_a_server_error(live: tuple[LiveServer, str]) -> None:
    OwnApiStateMachine.run(
        settings=settings(
            max_examples=15, stateful_step_count=6, deadline=None, suppress_health_check=list(HealthCheck)
        )
    )
