"""Fixtures for the payload store tests: a ``store`` parametrized over both backends, and the S3 test server."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from metadock.payloads.store import PayloadStore, open_store
from tests.s3server import (  # the session's server is the `s3_server` fixture of tests/conftest.py
    FOREIGN_AWS_VARIABLES,
    S3Server,
)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def s3_store_for(monkeypatch: pytest.MonkeyPatch) -> Callable[[S3Server], PayloadStore]:
    """Opens a store on a server, under a prefix of its own so that tests sharing a bucket never meet."""

    def open_on(server: S3Server) -> PayloadStore:
        for name in FOREIGN_AWS_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        for name, value in server.aws_env().items():
            monkeypatch.setenv(name, value)
        return open_store(server.store_url(f"test-{uuid.uuid4().hex}"), endpoint_url=server.endpoint)

    return open_on


@pytest.fixture(params=["file", "s3"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, s3_store_for: Callable[[S3Server], PayloadStore]
) -> PayloadStore:
    if request.param == "file":
        return open_store(f"file://{tmp_path / 'payloads'}")
    return s3_store_for(request.getfixturevalue("s3_server"))
