"""The image, built from the Dockerfile and run: migrations as their own step, then the default command serves as the
unprivileged user, its HEALTHCHECK passes, and a capture comes back byte for byte (README "Running a cluster").

No image registry is reachable here, so the base image is made, not pulled: `debootstrap` (Debian bookworm, minbase,
Debian's python3 and pip) into a root filesystem that `podman import` turns into an image, passed to the Dockerfile
as `--build-arg PYTHON_IMAGE=...` (the default, python:3.11-slim-bookworm, stays for builds with a registry). The root
filesystem is cached as a tarball in var/image-cache/ (METADOCK_TEST_IMAGE_CACHE): debootstrap runs once per
checkout. Podman runs as root with its own storage on a tmpfs, unmounted afterwards; the containers share
no network with the machine (`--network none`, the client runs inside the container), the build uses the host's
(`--network host`, for PyPI) and the host's CA bundle (mounted for the build's RUN steps only, not in the image).
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI") == "true"
SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-pip")
# The cache key: change the number when the recipe in _base_rootfs changes.
BASE_RECIPE = f"{SUITE}-minbase-{'-'.join(BASE_PACKAGES)}-1"
CACHE = Path(os.environ.get("METADOCK_TEST_IMAGE_CACHE", str(REPOSITORY / "var" / "image-cache")))
BASE = "localhost/metadock-base:test"
IMAGE = "localhost/metadock:test"
HOST_CA_BUNDLE = Path(os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"))
# Dev tools the image must not carry (the lock's dev and bench extras).
DEV_TOOLS = {"pytest", "mypy", "ruff", "hypothesis", "playwright", "datasette"}

# Run inside the container by the image's python.
DISTRIBUTIONS = (
    "import json, importlib.metadata as m; print(json.dumps({d.name: d.version for d in m.distributions()}))"
)
# One capture, then its download, through the server on :8000.
CLIENT = """
import json, sys, urllib.request
key, body = sys.argv[1], bytes(range(256)) * 64
base = "http://127.0.0.1:8000/api/v1/payload-metadata"
def call(url, data=None):
    headers = {"Authorization": key, "Content-Type": "application/octet-stream"}
    with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=10) as answer:
        return answer.status, answer.read()
captured, record = call(base + "?flow_run_id=7&flow_step_id=3", body)
identifier = json.loads(record)["data"]["id"]
downloaded, content = call(f"{base}/{identifier}/download")
print(json.dumps({"capture": captured, "download": downloaded, "same_bytes": content == body}))
"""


def _required(tool: str, package: str) -> str:
    found = shutil.which(tool) or next((p for p in (f"/usr/sbin/{tool}",) if os.path.exists(p)), None)
    if found is None:
        _unavailable(f"{tool} is required to build the image (Debian: apt-get install {package})")
    assert found is not None
    return found


def _unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _run(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{command}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


class Podman:
    """Podman as root with storage of its own under `state`: nothing of the machine's containers is touched.

    runc, not crun: crun 1.8 refuses a machine whose cgroup v2 hierarchy holds a controller beside v1's ("cgroups in
    hybrid mode not supported"). Limits no higher than this process's: podman's defaults (nofile 1048576) need
    CAP_SYS_RESOURCE to raise."""

    def __init__(self, executable: str, state: Path) -> None:
        self.state = state
        self.tmp = state / "tmp"
        self.tmp.mkdir(exist_ok=True)
        hard = (resource.getrlimit(kind)[1] for kind in (resource.RLIMIT_NOFILE, resource.RLIMIT_NPROC))
        limit = min(16384, *(value for value in hard if value != resource.RLIM_INFINITY))
        (state / "containers.conf").write_text(
            f'[containers]\ndefault_ulimits = ["nofile={limit}:{limit}", "nproc={limit}:{limit}"]\n'
            '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
        )
        self.command = [
            executable,
            "--root", str(state / "storage"),
            "--runroot", str(state / "run"),
            "--tmpdir", str(self.tmp),
        ]  # fmt: skip

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        # TMPDIR: the import's and the build's scratch copies in the tmpfs too, not on the disk.
        environment = {**os.environ, "CONTAINERS_CONF": str(self.state / "containers.conf"), "TMPDIR": str(self.tmp)}
        done = subprocess.run(
            [*self.command, *args], capture_output=True, text=True, timeout=timeout, env=environment, check=False
        )
        if check:
            assert done.returncode == 0, f"podman {' '.join(args)}: exit {done.returncode}\n{done.stderr[-4000:]}"
        return done


def _base_rootfs(debootstrap: str, scratch: Path) -> Path:
    """A Debian root filesystem with Python 3.11 and pip, as a tarball: made once, then taken from the cache."""
    tarball = CACHE / f"{BASE_RECIPE}.tar"
    if tarball.exists():
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch, prefix="debootstrap-") as work:
        rootfs = Path(work) / "rootfs"
        include = ",".join(BASE_PACKAGES)
        _run([debootstrap, "--variant=minbase", f"--include={include}", SUITE, str(rootfs)], timeout=1200)
        # As in the official python image: pip installs into the system interpreter (the Dockerfile's uv), and
        # `python` is python3.
        for marker in rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
            marker.unlink()
        (rootfs / "usr/bin/python").symlink_to("python3")
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (rootfs / cache).glob("*"):
                if entry.is_file():
                    entry.unlink()
        partial = CACHE / f"{BASE_RECIPE}.{os.getpid()}.partial"
        _run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."], timeout=300)
        partial.replace(tarball)
    return tarball


@pytest.fixture(scope="module")
def podman() -> Iterator[Podman]:
    if os.geteuid() != 0:
        _unavailable("building the image needs root (debootstrap, podman's storage)")
    executable = _required("podman", "podman")
    _required("runc", "runc")
    state = Path(tempfile.mkdtemp(prefix="metadock-podman-"))
    # Storage in memory: the build writes ~1.5 GB of layers, which this machine's disk takes minutes to delete.
    in_memory = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8g", "metadock-podman", str(state)], check=False)
    try:
        yield Podman(executable, state)
    finally:
        Podman(executable, state).run("rm", "--all", "--force", "--time", "0", check=False)
        if in_memory.returncode == 0:
            subprocess.run(["umount", "--lazy", str(state)], check=False)
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="module")
def image(podman: Podman) -> str:
    if not HOST_CA_BUNDLE.exists():
        _unavailable(f"no CA bundle at {HOST_CA_BUNDLE} (SSL_CERT_FILE) for the build's downloads")
    tarball = _base_rootfs(_required("debootstrap", "debootstrap"), podman.state)
    # The build's uv verifies PyPI's certificate against this file (uv's own roots otherwise).
    podman.run("import", "--change", "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", str(tarball), BASE)
    podman.run(
        "build",
        "--format", "docker",  # HEALTHCHECK is a Docker image field: the OCI format drops it
        "--network", "host",
        "--volume", f"{HOST_CA_BUNDLE}:/etc/ssl/certs/ca-certificates.crt:ro",
        "--build-arg", f"PYTHON_IMAGE={BASE}",
        "--tag", IMAGE,
        str(REPOSITORY),
        timeout=1800,
    )  # fmt: skip
    return IMAGE


def test_image_runs_as_an_unprivileged_user_and_holds_the_locked_dependencies_only(podman: Podman, image: str) -> None:
    config: dict[str, Any] = json.loads(podman.run("image", "inspect", image).stdout)[0]
    assert config["User"] == "metadock:metadock"
    assert config["Config"]["Entrypoint"] == ["metadock"]
    assert "/healthz" in " ".join(config["Healthcheck"]["Test"])
    assert config["Config"]["StopSignal"] == "SIGTERM"
    listed = podman.run("run", "--rm", "--network", "none", "--entrypoint", "python", image, "-c", DISTRIBUTIONS)
    installed = {_normalized(name): version for name, version in json.loads(listed.stdout).items()}
    lock = tomllib.loads((REPOSITORY / "uv.lock").read_text())
    locked = {_normalized(package["name"]): package["version"] for package in lock["package"] if "version" in package}
    assert "metadock" in installed
    assert {name: version for name, version in installed.items() if locked.get(name) != version} == {}
    assert not DEV_TOOLS & set(installed)


def test_migrate_then_serve_is_healthy_and_keeps_a_capture(podman: Podman, image: str) -> None:
    volume = podman.run("volume", "create").stdout.strip()
    container = f"metadock-test-{os.getpid()}"
    try:
        mount = f"{volume}:/var/lib/metadock"
        migrated = podman.run("run", "--rm", "--network", "none", "--volume", mount, image, "db", "upgrade")
        assert "Database is up to date." in migrated.stdout
        # The image's own command (serve --no-migrate on :8000), in a network of its own.
        podman.run("run", "--detach", "--name", container, "--network", "none", "--volume", mount, image)
        deadline = time.monotonic() + 90
        while podman.run("healthcheck", "run", container, check=False).returncode != 0:
            state = podman.run("inspect", "--format", "{{.State.Status}}", container).stdout.strip()
            assert state == "running", podman.run("logs", container).stderr[-3000:]
            assert time.monotonic() < deadline, "the HEALTHCHECK never passed"
            time.sleep(1)
        assert podman.run("inspect", "--format", "{{.State.Health.Status}}", container).stdout.strip() == "healthy"

        users = podman.run("top", container, "user").stdout.split()[1:]
        assert len(users) >= 3  # the supervisor and its two workers
        assert set(users) == {"metadock"}, users
        logs = podman.run("logs", container)
        key = re.search(r"^API key: (\S+)$", logs.stdout + logs.stderr, flags=re.MULTILINE)
        assert key, "the first start prints the admin API key"
        answered = podman.run("exec", container, "python", "-c", CLIENT, key.group(1))
        assert json.loads(answered.stdout) == {"capture": 201, "download": 200, "same_bytes": True}

        started = time.monotonic()
        podman.run("stop", "--time", "40", container, timeout=60)
        assert time.monotonic() - started < 30  # drained (2 s) and exited on SIGTERM, not killed at the timeout
        assert podman.run("inspect", "--format", "{{.State.ExitCode}}", container).stdout.strip() == "0"
    finally:
        podman.run("rm", "--force", container, check=False)
        podman.run("volume", "rm", "--force", volume, check=False)


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
