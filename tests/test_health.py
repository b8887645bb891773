"""Liveness, readiness and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import make_url

from metadock.app import create_app
from metadock.kit.drain import DRAIN_FLAG_ENV, raise_flag
from metadock.settings import Settings
from tests.factories import METADATA_FIELDS, problem

Client = TestClient[Litestar]

# Every query parameter of the seed's "Get List" table, plus the strict date bounds issue 2 adds.
SEED_PARAMETERS = {
    "id",
    "id[]",
    "uuid",
    "uuid[]",
    "createdAt[before]",
    "createdAt[after]",
    "updatedAt[before]",
    "updatedAt[after]",
    "owner",
    "owner[]",
    "ownerUuid",
    "ownerUuid[]",
    "title",
    "title[]",
    "slug",
    "slug[]",
    "type",
    "type[]",
    "page",
    "limit",
    "order[id]",
    "order[createdAt]",
    "order[updatedAt]",
    "order[owner]",
    "order[title]",
    "order[type]",
    "order[slug]",
}
STRICT_DATES = {
    "createdAt[strictly_before]",
    "createdAt[strictly_after]",
    "updatedAt[strictly_before]",
    "updatedAt[strictly_after]",
}


def test_healthz_answers_without_credentials(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_answers_when_the_database_is_reachable(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


@pytest.fixture
def unreachable(database_url: str, settings: Settings, tmp_path: Path) -> Iterator[Client]:
    """The app on a database it cannot use: a file that is no SQLite database, or a port nothing listens on."""
    if database_url.startswith("sqlite"):
        garbage = tmp_path / "garbage.db"
        garbage.write_bytes(b"this is not a database" * 100)
        url = f"sqlite:///{garbage}"
    else:
        url = make_url(database_url).set(port=1).render_as_string(hide_password=False)
    with TestClient(create_app(settings.model_copy(update={"database_url": url}))) as client:
        yield client


def test_readyz_is_a_503_problem_when_the_database_is_unreachable(unreachable: Client) -> None:
    response = unreachable.get("/readyz")

    problem(response, 503)
    assert response.headers["retry-after"].isdigit()
    assert unreachable.get("/healthz").status_code == 200  # the process itself is fine


def test_readyz_is_a_503_problem_while_the_node_drains_and_everything_else_still_answers(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`metadock serve`'s supervisor raises the node's drain flag (a file) on SIGTERM; every worker's /readyz then
    answers 503 so that a load balancer stops routing to it, while requests already routed there are still served."""
    flag = tmp_path / "draining"
    monkeypatch.setenv(DRAIN_FLAG_ENV, str(flag))
    assert client.get("/readyz").status_code == 200  # the flag's path is known, the flag is not raised

    raise_flag(flag)
    response = client.get("/readyz")

    assert problem(response, 503)["detail"] == "The node is shutting down."
    assert response.headers["retry-after"].isdigit()
    assert client.get("/healthz").status_code == 200  # alive, only not taking new work
    assert client.get("/metadatas").status_code == 401  # and still answering what reaches it


@pytest.fixture
def document(client: Client) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def test_openapi_documents_every_metadatas_operation(document: dict[str, Any]) -> None:
    assert {"get", "post"} <= set(document["paths"]["/metadatas"])
    assert {"get", "put", "delete"} <= set(document["paths"]["/metadatas/{uuid}"])
    assert {"/healthz", "/readyz"} <= set(document["paths"])


def test_openapi_lists_every_documented_query_parameter_of_the_list(document: dict[str, Any]) -> None:
    parameters = {p["name"]: p for p in document["paths"]["/metadatas"]["get"]["parameters"] if p["in"] == "query"}

    # The seed's `x[]` spellings are the same filters repeated: documented as the filter taking one value or several
    # (a parameter `x[]` beside `x` makes openapi-python-client drop the operation), and named in its description.
    assert set(parameters) >= {name.removesuffix("[]") for name in SEED_PARAMETERS} | STRICT_DATES
    assert all(not parameter.get("required", False) for parameter in parameters.values())
    for name in ("page", "limit"):
        assert parameters[name]["schema"]["type"] == "integer", name
    for name, kind in (("id", "integer"), ("uuid", "string"), ("title", "string"), ("type", "string")):
        one, several = parameters[name]["schema"]["oneOf"]
        assert (one["type"], several["type"], several["items"]) == (kind, "array", one), name
    assert "id[]=1&id[]=2" in parameters["id"]["description"]


def test_openapi_describes_the_bodies_in_digitalstate_names(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]

    create = schemas["MetadataCreate"]
    assert set(create["required"]) == {"owner", "title", "slug", "type", "version"}
    assert {"uuid", "ownerUuid", "data"} <= set(create["properties"])
    assert set(schemas["MetadataUpdate"]["required"]) == {"version"}
    assert set(schemas["MetadataOut"]["properties"]) == METADATA_FIELDS


def test_interactive_docs_are_served(client: Client) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
