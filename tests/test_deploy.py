"""The deployment files: compose.yaml is valid for Debian's docker-compose and runs HAProxy on the very file the
cluster tests run (deploy/haproxy.cfg); the Dockerfile installs from the lock and runs as a non-root user.

The image itself is built and run by tests/test_image.py (podman on a debootstrapped base)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.harness import DRAIN_DELAY, HAPROXY_CONFIG

REPOSITORY = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI") == "true"
NODES = ("node1", "node2", "node3")


def _tool(name: str) -> str:
    found = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}",) if os.path.exists(p)), None)
    if found is None:
        message = f"{name} is required (Debian: apt-get install {name})"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def _compose(*args: str, secret: str | None = "x" * 48) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("METADOCK_", "POSTGRES_"))}
    if secret is not None:
        env["METADOCK_SECRET_KEY"] = secret
    return subprocess.run(
        [_tool("docker-compose"), "-f", str(REPOSITORY / "compose.yaml"), *args],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    checked = _compose("config", "-q")
    assert checked.returncode == 0, checked.stderr
    resolved = _compose("config")
    assert resolved.returncode == 0, resolved.stderr
    config: dict[str, Any] = yaml.safe_load(resolved.stdout)
    return config


def test_compose_file_is_valid_and_runs_the_whole_cluster(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"postgres", "s3", "bucket", "migrate", *NODES, "haproxy"}
    assert compose["services"]["migrate"]["command"] == ["db", "upgrade"]


def test_compose_refuses_to_start_nodes_without_a_shared_secret_key() -> None:
    refused = _compose("config", "-q", secret=None)
    assert refused.returncode != 0
    assert "METADOCK_SECRET_KEY" in refused.stderr


def test_compose_nodes_wait_for_migrations_and_drain_before_docker_kills_them(compose: dict[str, Any]) -> None:
    services = compose["services"]
    secrets = {services[name]["environment"]["METADOCK_SECRET_KEY"] for name in NODES}
    assert len(secrets) == 1  # one signing key: a token from any node is valid on every node
    for name in NODES:
        node = services[name]
        command = node["command"]
        assert command[0] == "serve"
        assert "--no-migrate" in command  # migrations are the migrate service's, run once before
        assert node["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        drain = float(command[command.index("--drain-delay") + 1])
        timeout = float(command[command.index("--shutdown-timeout") + 1])
        assert drain >= DRAIN_DELAY  # HAProxy's checks see the 503 before the node stops listening
        grace = node["stop_grace_period"]
        assert _seconds(grace) > drain + timeout, grace
    pruning = [name for name in NODES if services[name]["command"][-1] != "0"]
    assert pruning == ["node1"]  # retention runs once per cluster


def test_compose_haproxy_runs_the_configuration_the_cluster_tests_run(compose: dict[str, Any]) -> None:
    # docker-compose 1.x resolves a bind mount to "source:target:mode", the Compose v2 plugin to a mapping.
    mounts = [
        (volume["source"], volume["target"]) if isinstance(volume, dict) else tuple(volume.split(":")[:2])
        for volume in compose["services"]["haproxy"]["volumes"]
    ]
    sources = [Path(source).resolve() for source, target in mounts if target == "/usr/local/etc/haproxy/haproxy.cfg"]
    assert sources == [HAPROXY_CONFIG.resolve()]


def test_haproxy_configuration_is_valid_with_compose_defaults() -> None:
    checked = subprocess.run(
        [_tool("haproxy"), "-c", "-f", str(HAPROXY_CONFIG)], capture_output=True, text=True, timeout=30, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Every server is health-checked on /readyz, the endpoint that turns 503 when a node drains.
    config = HAPROXY_CONFIG.read_text()
    assert "option httpchk GET /readyz" in config
    assert re.search(r"default-server check .*\bfall 2\b", config)


def test_dockerfile_installs_the_lock_and_runs_as_a_non_root_user() -> None:
    dockerfile = (REPOSITORY / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, flags=re.MULTILINE)) == 2  # build, then runtime
    assert "uv sync --locked" in dockerfile
    pinned = re.search(r'"uv==([\d.]+)"', (REPOSITORY / "pyproject.toml").read_text())
    assert pinned is not None
    assert f"uv=={pinned.group(1)}" in dockerfile  # the uv the lock was made with
    user = re.findall(r"^USER (\S+)", dockerfile, flags=re.MULTILINE)
    assert user
    assert not user[-1].startswith(("root", "0"))
    assert re.search(r"^HEALTHCHECK .*\n.*/healthz", dockerfile, flags=re.MULTILINE)
    assert 'ENTRYPOINT ["metadock"]' in dockerfile
    assert re.search(r'^CMD \["serve",.*"--no-migrate"', dockerfile, flags=re.MULTILINE)


def _seconds(duration: str | int | float) -> float:
    if isinstance(duration, int | float):
        return float(duration)
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(value) * units[unit] for value, unit in re.findall(r"([\d.]+)(ms|s|m|h)", duration))
