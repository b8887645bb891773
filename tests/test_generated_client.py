"""A client generated from the live ``/openapi.json`` works: the document is good enough to program against.

The README's commands (``openapi-python-client generate --url …/openapi.json``) make a package in a temporary
directory; the tests import it and use only its functions and models against ``metadock serve``, on SQLite and
PostgreSQL: a metadata created, found by a filter, read, updated (and refused, with the 409 parsed into the
document's problem model, when the version is stale) and deleted; a payload captured, listed by its flow run, its
``/meta`` read and its bytes downloaded; a user logging in for a token the client then uses.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import _empty_postgres
from tests.live import LiveServer, first_start

PACKAGE = "metadock_generated_client"
GENERATOR = str(Path(sys.executable).with_name("openapi-python-client"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    root = tmp_path_factory.mktemp("generated-client-server")
    if request.param == "sqlite":
        database_url = f"sqlite:///{root / 'metadock.db'}"
    else:
        database_url = request.getfixturevalue("postgres_url")
        _empty_postgres(database_url)  # the first start on an empty database prints the admin key
    with first_start(root, database_url) as started:
        yield started


@pytest.fixture(scope="module")
def generated(live: tuple[LiveServer, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The package generated from this server's /openapi.json, importable as PACKAGE for this module's tests."""
    server, _key = live
    target = tmp_path_factory.mktemp("generated-client")
    document = f"{server.base_url}/openapi.json"
    result = subprocess.run(
        [GENERATOR, "generate", "--url", document, "--output-path", str(target / PACKAGE), "--meta", "none"],
        capture_output=True,
        text=True,
        # The generator formats its output with ruff when ruff is on PATH (the venv's, next to the generator).
        env={**os.environ, "PATH": f"{Path(GENERATOR).parent}{os.pathsep}{os.environ.get('PATH', '')}"},
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Every operation is generated: the only part it skips is the capture's `*/*` body, taken as octet-stream.
    skipped = [line for line in result.stdout.splitlines() if "will not be generated" in line or "omitted" in line]
    assert not skipped, result.stdout
    sys.path.insert(0, str(target))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(target))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def _api_key_client(generated: ModuleType, live: tuple[LiveServer, str]) -> Any:
    server, key = live
    # ApiKeyAuth: the key alone in Authorization, no scheme before it.
    return generated.AuthenticatedClient(
        base_url=server.base_url, token=key, prefix="", raise_on_unexpected_status=True
    )


def test_a_metadata_lives_and_dies_through_the_generated_client(
    generated: ModuleType, live: tuple[LiveServer, str]
) -> None:
    client = _api_key_client(generated, live)
    api = "api.metadata_digital_state"
    models = _module("models")
    create = models.MetadataCreate(
        owner="BusinessUnit",
        title=models.MetadataCreateTitle.from_dict({"en": "OAuth Providers"}),
        slug="oauth-providers",
        type_="authentication",
        version=1,
        data=["Github", "Google"],
    )

    created = _module(f"{api}.create_metadata").sync(client=client, body=create)
    assert isinstance(created, models.MetadataOut), created
    assert (created.slug, created.version, created.data) == ("oauth-providers", 1, ["Github", "Google"])

    other = _module(f"{api}.create_metadata").sync(
        client=client,
        body=models.MetadataCreate(
            owner="BusinessUnit",
            title=models.MetadataCreateTitle.from_dict({"en": "x"}),
            slug="other",
            type_="t",
            version=1,
        ),
    )
    assert isinstance(other, models.MetadataOut), other
    listed = _module(f"{api}.list_metadatas").sync(client=client, slug="oauth-providers")
    assert [item.uuid for item in listed] == [created.uuid]
    both = _module(f"{api}.list_metadatas").sync(client=client, slug=["oauth-providers", "other"])
    assert {item.uuid for item in both} == {created.uuid, other.uuid}

    read = _module(f"{api}.get_metadata").sync(created.uuid, client=client)
    assert isinstance(read, models.MetadataOut)
    assert read.title.to_dict() == {"en": "OAuth Providers"}

    update = _module(f"{api}.update_metadata")
    updated = update.sync(created.uuid, client=client, body=models.MetadataUpdate(version=1, data=["Github"]))
    assert isinstance(updated, models.MetadataOut), updated
    assert (updated.version, updated.data) == (2, ["Github"])
    stale = update.sync(created.uuid, client=client, body=models.MetadataUpdate(version=1, data=["Yahoo"]))
    assert isinstance(stale, models.Problem), stale
    assert stale.status == 409
    assert stale.detail

    deleted = _module(f"{api}.delete_metadata").sync_detailed(created.uuid, client=client)
    assert deleted.status_code == 204
    gone = _module(f"{api}.get_metadata").sync(created.uuid, client=client)
    assert isinstance(gone, models.Problem)
    assert gone.status == 404


def test_a_payload_is_captured_listed_described_and_downloaded_through_the_generated_client(
    generated: ModuleType, live: tuple[LiveServer, str]
) -> None:
    client = _api_key_client(generated, live)
    api = "api.payload_metadata"
    models = _module("models")
    types = _module("types")
    body = b'{"order": 42, "lines": ["a", "b"]}'

    captured = _module(f"{api}.capture_payload").sync(
        client=client, body=types.File(payload=body), flow_run_id=777, flow_step_id=3
    )
    assert isinstance(captured, models.PayloadRecordEnvelope), captured
    record = captured.data
    assert (record.flow_run_id, record.flow_step_id, record.payload_size) == (777, 3, str(len(body)))

    listed = _module(f"{api}.list_payload_metadata").sync(client=client, filterflow_run_id="777")
    assert isinstance(listed, models.PayloadRecordList), listed
    assert [item.id for item in listed.data] == [record.id]

    meta = _module(f"{api}.get_payload_metadata_meta").sync(str(record.id), client=client)
    assert isinstance(meta, models.PayloadMetaEnvelope), meta
    assert (meta.data.id, meta.data.size, meta.data.dropped) == (record.id, len(body), False)

    downloaded = _module(f"{api}.download_payload_metadata").sync(str(record.id), client=client)
    assert isinstance(downloaded, types.File), downloaded
    assert downloaded.payload.read() == body

    # The streamed answers: an export (text) and a run's ZIP (bytes).
    exported = _module(f"{api}.export_payload_metadata").sync(
        client=client, filterflow_run_id="777", format_=models.ExportPayloadMetadataFormat.CSV
    )
    assert isinstance(exported, str), exported
    assert exported.splitlines()[1].startswith(f"{record.id},{record.created_at}"), exported
    archive = _module(f"{api}.download_run_payloads").sync("777", client=client)
    assert isinstance(archive, types.File), archive
    assert archive.payload.read().startswith(b"PK")

    missing = _module(f"{api}.get_payload_metadata").sync(str(record.id + 1000), client=client)
    assert isinstance(missing, models.LaravelMessage), missing


def test_a_user_logs_in_through_the_generated_client_and_reads_with_the_token(
    generated: ModuleType, live: tuple[LiveServer, str]
) -> None:
    admin = _api_key_client(generated, live)
    models = _module("models")
    password = "correct horse battery staple"
    created = _module("api.management.create_user").sync(
        client=admin, body=models.UserCreate(email="reader@example.com", password=password, role=models.Role.READER)
    )
    assert isinstance(created, models.UserEnvelope), created

    anonymous = generated.Client(base_url=live[0].base_url, raise_on_unexpected_status=True)
    login = _module("api.authentication.login")
    refused = login.sync(client=anonymous, body=models.LoginRequest(username="reader@example.com", password="wrong!"))
    assert isinstance(refused, models.LaravelMessage), refused
    token = login.sync(client=anonymous, body=models.LoginRequest(username="reader@example.com", password=password))
    assert isinstance(token, models.LoginResponse), token
    assert token.expires_in > 0

    bearer = generated.AuthenticatedClient(
        base_url=live[0].base_url, token=token.token, raise_on_unexpected_status=True
    )
    listed = _module("api.payload_metadata.list_payload_metadata").sync(client=bearer)
    assert isinstance(listed, models.PayloadRecordList), listed
