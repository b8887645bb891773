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
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping

import pytest

from metadock import migrate
from metadock.kit.db import Database
from tests.cluster.harness import Balancer, Cluster, new_nodes
from tests.factories import create_tenant
from tests.live import free_port
from tests.reliability.servers import PrivatePostgres, private_postgres
from tests.s3server import FOREIGN_AWS_VARIABLES, S3Server

IN_CI = os.environ.get("CI") == "true"
# Failed logins per user, and per client address, before a block: small, so that a test spreads them over the three
# nodes. Failed logins the tests send from 127.0.0.1 (HAProxy's own address) stay below the per-address one.
MAX_LOGIN_FAILURES = 3
MAX_LOGIN_FAILURES_PER_ADDRESS = 6
# HAProxy reaches the nodes from 127.0.0.1; a test's clients that must count as clients of their own connect from
# other loopback addresses (127.0.0.2, ...), as clients on other machines would.
PROXY_ADDRESS = "127.0.0.1"


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
def warm_bytecode() -> Iterator[subprocess.Popen[bytes]]:
    """Compile the modules a node imports, once, while the database and S3 start. Where PYTHONDONTWRITEBYTECODE is
    set (as on the CI machine) every process would compile them from source again: ~8 s of CPU for each supervisor
    and worker, 9 processes at the cluster's start and 3 more per node restart. The nodes run without the variable
    too, so anything imported later is compiled once; the files go to __pycache__ directories, which git ignores."""
    warming = subprocess.Popen(
        [sys.executable, "-c", "import metadock.cli, metadock.node, metadock.app, granian"],
        env=_writing_bytecode(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield warming
    if warming.poll() is None:
        warming.kill()
        warming.wait()


def _writing_bytecode(env: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in env.items() if name != "PYTHONDONTWRITEBYTECODE"}


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
    warm_bytecode: subprocess.Popen[bytes],
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
    inherited = {
        name: value for name, value in _writing_bytecode(os.environ).items() if name not in FOREIGN_AWS_VARIABLES
    }
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
        "METADOCK_LOGIN_MAX_FAILURES_PER_ADDRESS": str(MAX_LOGIN_FAILURES_PER_ADDRESS),
        # X-Forwarded-For believed from HAProxy only: the per-address throttle counts each real client.
        "METADOCK_TRUSTED_PROXIES": PROXY_ADDRESS,
    }
    nodes = new_nodes(directory, env)
    balancer = Balancer(free_port(), free_port(), nodes, directory / "haproxy.log")
    cluster = Cluster(nodes, balancer, tenant.admin, tenant.uuid, cluster_database, cluster_postgres, store_url)
    try:
        warm_bytecode.wait(timeout=120)
        for node in nodes:
            node.spawn()  # all three start at once: the database is migrated and bootstrapped already
        for node in nodes:
            node.wait_ready()
        balancer.start(haproxy)
        yield cluster
    finally:
        cluster.kill()  # nothing left to prove: the graceful stop is the rolling restart's


@pytest.fixture
def cluster(running_cluster: Cluster) -> Cluster:
    running_cluster.ensure_all_up()
    return running_cluster
