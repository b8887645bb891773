"""Real processes for the reliability tests: ``metadock serve`` in a process group of its own (so that a test can
kill -9 the whole of it, granian's workers included), and a private PostgreSQL instance a test may stop and start.

PostgreSQL refuses to run as root, so as root the private instance runs as the ``postgres`` user (``runuser``).
Under CI=true a missing PostgreSQL binary fails the test instead of skipping it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.live import METADOCK, free_port, printed_api_key
from tests.processes import stop_group, wait_until_group_gone

IN_CI = os.environ.get("CI") == "true"


def require(condition: bool, message: str) -> None:
    """Skip a test whose tool is missing, but fail it under CI=true, where every reliability test must run."""
    if condition:
        return
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@dataclass
class ServerGroup:
    """``metadock serve`` and its workers, all in one process group."""

    process: subprocess.Popen[str]
    base_url: str
    api_key: str
    log: Path
    temp: Path  # the server's TMPDIR (its shared metrics directory is made there), removed with the server

    def kill(self) -> None:
        """SIGKILL to every process of the group at once, as a power cut or the OOM killer would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        # Workers are reaped by init; wait until none holds the port any more.
        wait_until_group_gone(self.process.pid)
        shutil.rmtree(self.temp, ignore_errors=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
        self.kill()

    def client(self, timeout: float = 30.0) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, headers={"Authorization": self.api_key}, timeout=timeout)


def serve(
    env: Mapping[str, str], log: Path, *args: str, api_key: str | None = None, timeout: float = 60.0
) -> ServerGroup:
    """Start ``metadock serve`` (fresh port) and wait for /healthz. The API key is the one printed on a first start,
    or ``api_key`` when the database was bootstrapped before (a restart)."""
    port = free_port()
    # A private TMPDIR: what a killed server leaves there goes with it, not into the machine's /tmp.
    temp = Path(tempfile.mkdtemp(prefix="metadock-test-tmp-"))
    with log.open("a") as output:
        process = subprocess.Popen(
            [METADOCK, "serve", "--port", str(port), "--prune-every", "0", *args],
            env={**os.environ, "TMPDIR": str(temp), **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(process, base_url, log, timeout)
        key = api_key or printed_api_key(log.read_text().splitlines())
        assert key, "no API key printed:\n" + log.read_text()
    except BaseException:  # a server that is not handed to the test is stopped here, workers included
        stop_group(process, grace=0)
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return ServerGroup(process, base_url, key, log, temp)


def _wait_until_healthy(process: subprocess.Popen[str], base_url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("metadock serve exited early:\n" + log.read_text())
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("metadock serve did not answer in time:\n" + log.read_text())


@contextlib.contextmanager
def serving(env: Mapping[str, str], log: Path, *args: str) -> Iterator[ServerGroup]:
    server = serve(env, log, *args)
    try:
        yield server
    finally:
        server.stop()


# A private PostgreSQL ------------------------------------------------------------------------------------------------


def postgres_bin_dir() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda path: path.parent.parent.name)
    found = shutil.which("pg_ctl")
    if candidates:
        return candidates[-1].parent
    return Path(found).parent if found else None


@dataclass
class PrivatePostgres:
    """One PostgreSQL cluster in a temporary directory, on its own port, with trust authentication."""

    bin_dir: Path
    data_dir: Path
    port: int
    user: str | None  # run as this OS user (root cannot run PostgreSQL)
    fsync: bool = False  # on where a test relies on what a crash leaves (a kill -9 of the postmaster)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        wrapper = ["runuser", "-u", self.user, "--"] if self.user else []
        done = subprocess.run([*wrapper, *command], capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stdout}{done.stderr}")

    def init(self) -> None:
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "--encoding=UTF8",
            "--locale=C",
        )

    def start(self) -> None:
        # Loopback only, no Unix socket (its default directory may not be writable); fsync off unless a test needs
        # a crash to keep what was committed (data is disposable otherwise).
        fsync = "on" if self.fsync else "off"
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync={fsync}"
        log = str(self.data_dir / "log")
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", log, "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends open sessions and shuts down cleanly; ``immediate`` is a crash, recovered at the next start."""
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def kill(self) -> None:
        """SIGKILL to the postmaster and every process it started, as a power cut would: the next start recovers
        from the WAL (what was committed and flushed is kept, with fsync on)."""
        postmaster = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        children = [postmaster, *_children_of(postmaster)]
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in children) and time.monotonic() < deadline:
            time.sleep(0.02)


def _children_of(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (from /proc: PostgreSQL's backends and auxiliary processes)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after its last ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == parent:
                found.append(int(stat.parent.name))
    return found


@contextlib.contextmanager
def private_postgres(*, fsync: bool = False) -> Iterator[PrivatePostgres]:
    """A started cluster, removed on exit. Its directory is made under /tmp, not pytest's tmp_path: that one is
    private to root (0700), which the ``postgres`` user could not enter."""
    bin_dir = postgres_bin_dir()
    require(bin_dir is not None, "PostgreSQL's server binaries (initdb, pg_ctl) are required")
    assert bin_dir is not None
    user: str | None = None
    if os.geteuid() == 0:
        require(shutil.which("runuser") is not None, "runuser is required to run PostgreSQL as root")
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            require(False, "an OS user `postgres` is required to run PostgreSQL as root")
        user = "postgres"
    directory = Path(tempfile.mkdtemp(prefix="metadock-pg-"))
    if user is not None:
        shutil.chown(directory, user)
    server = PrivatePostgres(bin_dir, directory / "pgdata", free_port(), user, fsync)
    try:
        server.init()
        server.start()
        yield server
    finally:
        with contextlib.suppress(RuntimeError):
            server.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)


def server_env(database_url: str, directory: Path, **extra: str) -> dict[str, str]:
    """The environment of a server on ``database_url`` with a file store and its data in ``directory``."""
    return {
        "METADOCK_DATABASE_URL": database_url,
        "METADOCK_STORE_URL": f"file://{directory / 'payloads'}",
        "METADOCK_DATA_DIR": str(directory),
        **extra,
    }
