"""One cluster for every test of this package (starting it costs seconds): three nodes, HAProxy, a PostgreSQL server
of its own (initdb into a temporary directory, fsync on, so that a test may stop or kill it: the machine's shared
server is never restarted), and a prefix of its own on the run's S3 server. A test that kills or stops a node, or the
database, leaves it for the next test's ``cluster`` to restart.

PostgreSQL only: SQLite cannot be shared by nodes. Under CI=true a missing haproxy or PostgreSQL binary fails the
tests.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import uuid
from collections.abc import Iterator

import pytest

from metadock import migrate
from metadock.kit.db import Database
from tests.cluster.harness import Balancer, Cluster, new_nodes
from tests.factories import create_tenant
from tests.live import free_port
from tests.reliability.servers import PrivatePostgres, private_postgres
from tests.s3server import FOREIGN_AWS_VARIABLES, S3Server

IN_CI = os.environ.get("CI") == "true"
# Failed logins per user before a block: small, so that a test spreads them over the three nodes.
MAX_LOGIN_FAILURES = 3


def _require(found: object, message: str) -> None:
    if found:
        return
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


async def _migrate(url: str) -> None:
    database = Database(url, pool_size=1)
    try:
        await migrate.upgrade(database)
    finally:
        await database.dispose()


@pytest.fixture(scope="package")
def cluster_postgres() -> Iterator[PrivatePostgres]:
    with private_postgres(fsync=True) as server:
        yield server


@pytest.fixture(scope="package")
def cluster_database(cluster_postgres: PrivatePostgres) -> str:
    url = cluster_postgres.url
    asyncio.run(_migrate(url))  # once, before any node: `metadock db upgrade` as a deployment runs it
    return url


@pytest.fixture(scope="package")
def running_cluster(
    cluster_postgres: PrivatePostgres,
    cluster_database: str,
    s3_server: S3Server,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    haproxy = shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if os.path.exists(p)), None)
    _require(haproxy, "HAProxy is required for the cluster tests (Debian: apt-get install haproxy)")
    assert haproxy is not None
    tenant = create_tenant(cluster_database, "cluster")
    directory = tmp_path_factory.mktemp("cluster")
    store_url = s3_server.store_url(f"cluster-{uuid.uuid4().hex}")
    inherited = {name: value for name, value in os.environ.items() if name not in FOREIGN_AWS_VARIABLES}
    env = {
        **inherited,
        **s3_server.aws_env(),
        "METADOCK_DATABASE_URL": cluster_database,
        "METADOCK_STORE_URL": store_url,
        "METADOCK_S3_ENDPOINT_URL": s3_server.endpoint,
        # One signing key for every node, as a deployment sets it: a token any node issued is valid on all.
        "METADOCK_SECRET_KEY": secrets.token_urlsafe(48),
        # 3 nodes x 2 workers x 3 connections: 18 of the private server's 100.
        "METADOCK_DATABASE_POOL_SIZE": "3",
        "METADOCK_LOGIN_MAX_FAILURES": str(MAX_LOGIN_FAILURES),
        # Behind HAProxy every client has HAProxy's address: the per-address throttle is out of the way here.
        "METADOCK_LOGIN_MAX_FAILURES_PER_ADDRESS": "100000",
    }
    nodes = new_nodes(directory, env)
    balancer = Balancer(free_port(), free_port(), nodes, directory / "haproxy.log")
    cluster = Cluster(nodes, balancer, tenant.admin, tenant.uuid, cluster_database, cluster_postgres, store_url)
    try:
        for node in nodes:
            node.spawn()  # all three start at once: the database is migrated and bootstrapped already
        for node in nodes:
            node.wait_ready()
        balancer.start(haproxy)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster(running_cluster: Cluster) -> Cluster:
    running_cluster.ensure_all_up()
    return running_cluster
