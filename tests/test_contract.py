"""The Patchworks contract file is the judge of shapes: schemathesis drives a live server from it.

Checks: no server error, and every documented response (status, content type, body schema) conforms. The
contract documents only 200/401/403, so the statuses it leaves out (404 for an unknown id, 400/422 for bad
input, 410 for a dropped payload) are not held against it: `status_code_conformance` is excluded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
)

from tests.live import LiveServer, printed_api_key, start_server

# Vendored (contracts/ at the repository root), so a clone with nothing beside it can run this module.
CONTRACT = Path(__file__).resolve().parents[1] / "contracts" / "patchworks-payload-metadata.openapi.json"

schema = schemathesis.openapi.from_path(CONTRACT)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    root = tmp_path_factory.mktemp("contract")
    with start_server(
        {
            "METADOCK_DATABASE_URL": f"sqlite:///{root / 'metadock.db'}",
            "METADOCK_STORE_URL": f"file://{root / 'payloads'}",
            "METADOCK_MAX_PAYLOAD_BYTES": "64",
        }
    ) as server:
        key = printed_api_key(server.output)
        assert key is not None
        # Records for the generated ids to find: stored, dropped (too large) and of several runs and steps.
        for index in range(1, 30):
            # Valid JSON, as the contract types the download: every seventh is over the limit and recorded as dropped.
            body = json.dumps({"index": index, "padding": "x" * (100 if index % 7 == 0 else index)}).encode()
            response = httpx.post(
                f"{server.base_url}/api/v1/payload-metadata",
                params={
                    "flow_run_id": index % 4 + 1,
                    "flow_step_id": index % 3 + 1,
                    "flow_version_id": 1,
                    "flow_log_id": 9,
                },
                content=body,
                headers={"Authorization": key, "Content-Type": "application/json"},
            )
            assert response.status_code == 201, response.text
        yield server, key


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_contract_conformance(case: Case, live: tuple[LiveServer, str]) -> None:
    server, key = live
    case.call_and_validate(
        base_url=server.base_url,
        headers={"Authorization": key},
        checks=[
            not_a_server_error,
            content_type_conformance,
            response_schema_conformance,
            response_headers_conformance,
        ],
    )
