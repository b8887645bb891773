"""schemathesis over the app's own OpenAPI document, both dialects, on SQLite and PostgreSQL, against a live server,
with every check schemathesis has: the document is the truth about each answer, not only "no 5xx".

- Every operation on its own, with schema-valid and schema-violating data (positive and negative modes): no 5xx;
  every status, content type, header and body as documented; valid data accepted, invalid data refused.
- Stateful: the document's links (create -> get / update / delete of ``/metadatas/{uuid}``, capture -> get / meta /
  download / delete of ``/api/v1/payload-metadata/{id}``) chain calls on the ids the server returned, every check on.

A few (operation, check) pairs are excluded, each in BY_DESIGN with the reason; nothing else is.
Bounded: a dozen examples per operation and a few short scenarios.
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
from schemathesis import Case, GenerationMode
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
)

from metadock.app import create_app
from metadock.settings import Settings
from tests.conftest import _empty_postgres
from tests.live import LiveServer, first_start

# The document is generated from the code, so it can be loaded without a server; links as /openapi.json has them.
_app = create_app(Settings(database_url="sqlite:///:memory:"))
schema = schemathesis.openapi.from_dict(_app.openapi_schema.to_schema())
schema.config.generation.update(modes=list(GenerationMode))
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


# (operationId, check) -> why the check cannot hold there. Everything else is checked everywhere.
BY_DESIGN: dict[tuple[str, Any], str] = {
    # A valid body may repeat a slug (or an email) that an earlier example created: refused as the dialect does
    # (API Platform's UniqueEntity: 400 with a violation; Laravel's unique rule: 422), which the document says.
    ("createMetadata", positive_data_acceptance): "a slug already used is a 400",
    ("createUser", positive_data_acceptance): "an email already taken is a 422",
    ("createTagRule", positive_data_acceptance): "a (name, content type) already taken, or a 17th rule, is a 422",
    # The fuzzer's credential is an API key; logout ends login tokens only and answers an API key 400 (documented).
    ("logout", positive_data_acceptance): "an API key cannot be logged out",
    # A well-formed range may lie past the payload's end: 416, documented; the payload's size is data, not schema.
    ("downloadPayloadMetadata", positive_data_acceptance): "a range past the end is a 416",
    # A webhook's host must resolve, to public addresses only (README, "Webhooks"), and a tenant has at most 20:
    # both are facts of the network and the data, a 422 the document lists, not something a schema can say.
    ("createWebhook", positive_data_acceptance): "a host that resolves to no public address is a 422",
    # Laravel reads page and per_page leniently (README: anything that is not a positive integer reads as 1, or as
    # 15), so schema-violating values there are answered 200 by design; the item route accepts and ignores the
    # list's parameters, as the Patchworks contract lists them there.
    ("listPayloadMetadata", negative_data_rejection): "page and per_page are read, never refused",
    ("getPayloadMetadata", negative_data_rejection): "the list's parameters are accepted and ignored",
}


def excluded_for(case: Case) -> list[Any]:
    operation_id = case.operation.definition.raw.get("operationId")
    checks = [check for (operation, check) in BY_DESIGN if operation == operation_id]
    if operation_id == "downloadPayloadMetadata" and any(name.lower() == "range" for name in case.headers or {}):
        # A range of a payload is sent in the payload's own media type (RFC 9110), so part of a JSON payload is
        # labelled application/json without being JSON: its body cannot be parsed to check it (the document says
        # any bytes, ``*/*``). Its status and headers are still checked.
        checks.append(response_schema_conformance)
    return checks


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case: Case, live: tuple[LiveServer, str]) -> None:
    server, key = live
    case.call_and_validate(base_url=server.base_url, headers={"Authorization": key}, excluded_checks=excluded_for(case))


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


class OwnApiStateMachine(schema.as_state_machine()):  # type: ignore[misc]
    def get_call_kwargs(self, case: Case) -> dict[str, Any]:
        server, key = LIVE["current"]
        return {"base_url": server.base_url, "headers": {"Authorization": key}}

    def validate_response(self, response: Any, case: Case, additional_checks: Any = None, **kwargs: Any) -> None:
        # As schemathesis' own state machine validates (its recorder lets the stateful checks see earlier steps).
        case.validate_response(
            response,
            additional_checks=additional_checks,
            excluded_checks=excluded_for(case),
            transport_kwargs=kwargs or None,
            recorder=getattr(self, "recorder", None),
        )

    def teardown(self) -> None:
        """Each scenario starts from the same data: Hypothesis replays a scenario's choices and requires the same
        answers to them, and a slug or an email that an earlier scenario created would turn a 201 into a 400."""
        forget_what_scenarios_created(DATABASES["current"])


def forget_what_scenarios_created(database_url: str) -> None:
    statements = [
        "DELETE FROM metadatas",
        "DELETE FROM users WHERE email <> 'admin@localhost'",
        "DELETE FROM webhook_deliveries",
        "DELETE FROM webhook_subscription_events",
        "DELETE FROM webhook_subscriptions",
    ]
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


def test_stateful_scenarios_follow_the_links_and_answer_as_documented(live: tuple[LiveServer, str]) -> None:
    OwnApiStateMachine.run(
        settings=settings(
            max_examples=15, stateful_step_count=6, deadline=None, suppress_health_check=list(HealthCheck)
        )
    )
