"""schemathesis over the app's own OpenAPI document, both dialects: no input a client can send yields a 5xx, and
documented responses conform. Bounded: a few dozen examples per operation, against a live server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error

from metadock.app import create_app
from metadock.settings import Settings
from tests.live import LiveServer, printed_api_key, start_server

# The document is generated from the code, so it can be loaded without a server.
_app = create_app(Settings(database_url="sqlite:///:memory:"))
schema = schemathesis.openapi.from_dict(_app.openapi_schema.to_schema())


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    root = tmp_path_factory.mktemp("own-openapi")
    server = start_server(
        {
            "METADOCK_DATABASE_URL": f"sqlite:///{root / 'metadock.db'}",
            "METADOCK_STORE_URL": f"file://{root / 'payloads'}",
            "METADOCK_DATA_DIR": str(root),
        }
    )
    key = printed_api_key(server.output)
    assert key is not None
    for index in range(1, 6):
        httpx.post(
            f"{server.base_url}/api/v1/payload-metadata",
            params={"flow_run_id": index, "flow_step_id": 1},
            content=b"{}",
            headers={"Authorization": key, "Content-Type": "application/json"},
        ).raise_for_status()
    yield server, key
    server.stop()


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_yields_a_server_error(case: Case, live: tuple[LiveServer, str]) -> None:
    server, key = live
    case.call_and_validate(base_url=server.base_url, headers={"Authorization": key}, checks=[not_a_server_error])
