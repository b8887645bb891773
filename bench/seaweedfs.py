"""An S3 payload store for the benchmark: SeaweedFS on loopback, started the way the tests start it.

Only the server's captures go to it (S7): the seeded dataset keeps its bytes in its own file store, so the scenarios
that read them (S8, S9) need no S3 and the dataset needs no reseeding per run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.s3server import start_s3_server

BUCKET = "metadock-bench"


@dataclass(frozen=True)
class S3Store:
    url: str  # s3://bucket/prefix, as METADOCK_STORE_URL takes it
    endpoint: str
    env: dict[str, str]  # what a process needs to reach it: credentials, region and the endpoint


@contextlib.contextmanager
def running(directory: Path) -> Iterator[S3Store]:
    """A fresh SeaweedFS in ``directory`` (emptied first), stopped and removed on exit. This process's environment
    gets the credentials too, so that the bench's own clean-up reaches the store."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    server = start_s3_server(directory, bucket=BUCKET)
    try:
        credentials = server.aws_env()
        os.environ.update(credentials)
        yield S3Store(
            server.store_url("captures"),
            server.endpoint,
            {**credentials, "METADOCK_S3_ENDPOINT_URL": server.endpoint},
        )
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
